# The Postgres host by name: resolved by nginx's resolver, never by libpq
# in a worker (a blocking getaddrinfo), followed when a failover moves it;
# and libpq moving on to the next host of a list on a new socket.
# A block's zone is written before its nginx starts: a worker's search
# and health connections open, and look the name up, when it starts.

use Test::Nginx::Socket 'no_plan';
use Tunesheap::Test;
use Tunesheap::DNS;
use IO::Socket::INET ();
use POSIX ();

$ENV{TEST_NGINX_DNS_PORT} = Tunesheap::DNS::start();

# a Postgres that says it is a standby (the old primary, after a
# failover): with target_session_attrs=read-write, libpq leaves it in the
# middle of PQconnectPoll and opens a socket to the next host of the list
sub pg_message {
    my ($type, $payload) = @_;
    return $type . pack('N', 4 + length $payload) . $payload;
}

my $standby = IO::Socket::INET->new(
    LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 16, ReuseAddr => 1,
) or die "standby: $!";
$ENV{TEST_NGINX_STANDBY_PORT} = $standby->sockport;
my $standby_pid = fork // die "fork: $!";
if ($standby_pid == 0) {
    while (my $c = $standby->accept) {
        for (;;) {
            # SSLRequest, GSSENCRequest, then the startup message
            sysread($c, my $len, 4) == 4 or last;
            $len = unpack 'N', $len;
            sysread($c, my $body, $len - 4);
            my $code = unpack 'N', $body;
            if ($code == 80877103 || $code == 80877104) {
                syswrite $c, 'N';
                next;
            }
            my %param = (server_version => '15.0', client_encoding => 'UTF8',
                         standard_conforming_strings => 'on',
                         default_transaction_read_only => 'off',
                         in_hot_standby => 'on');
            syswrite $c, pg_message('R', pack 'N', 0)
                . join('', map { pg_message('S', "$_\0$param{$_}\0") }
                           sort keys %param)
                . pg_message('K', pack 'NN', 1, 1)
                . pg_message('Z', 'I');
            1 while sysread $c, my $rest, 4096;
            last;
        }
        close $c;
    }
    POSIX::_exit(0);
}
close $standby;
END { kill 'TERM', $standby_pid if $standby_pid; waitpid $standby_pid, 0 }

# the suite's DSN with another host part
sub dsn_host {
    my ($host, $port) = @_;
    my $dsn = $ENV{TEST_NGINX_PG_DSN};
    $dsn =~ s/host=\S+/host=$host/;
    $dsn =~ s/port=(\S+)/port=$port/ if defined $port;
    return $dsn;
}

sub pg_port {
    return $ENV{TEST_NGINX_PG_DSN} =~ /port=(\d+)/ ? $1 : 5432;
}

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a host name is resolved by nginx's resolver
db.tunesheap.test exists only in the suite's DNS server: libpq could not
have found it by itself.
--- post_setup_server_root
Tunesheap::DNS::zone("db.tunesheap.test" => ["127.0.0.1", 1]);
--- http_config eval
"resolver 127.0.0.1:$ENV{TEST_NGINX_DNS_PORT} ipv6=off;\n"
. Tunesheap::Test::http_config(dsn => main::dsn_host("db.tunesheap.test"))
--- request
GET /api/v1/artists/4
--- error_code: 200
--- response_body_like: ^\{"artist":\{"id":4,"name":"Jay-Z"
--- no_error_log
[warn]



=== TEST 2: a failover that moves the name is followed
The name first points where no Postgres listens: the connect fails. Then
it moves to the server: once its TTL (1 s, counted by nginx's resolver in
whole seconds) has passed, the next connect asks again and gets there.
--- post_setup_server_root
Tunesheap::DNS::zone("db.tunesheap.test" => ["127.0.0.2", 1]);
--- http_config eval
"resolver 127.0.0.1:$ENV{TEST_NGINX_DNS_PORT} ipv6=off;\n"
. Tunesheap::Test::http_config(dsn => main::dsn_host("db.tunesheap.test"))
--- init
my ($status) = Tunesheap::Test::http(GET => "/api/v1/artists/4");
Test::More::like($status, qr/^50[34]$/, "no Postgres at the old address");
my @q = Tunesheap::DNS::queries();
Test::More::ok(scalar(grep { $_ eq 'db.tunesheap.test' } @q),
               "nginx's resolver asked the suite's DNS server (@q)");
Tunesheap::DNS::zone("db.tunesheap.test" => ["127.0.0.1", 1]);
select(undef, undef, undef, 2.5);
--- request
GET /api/v1/artists/4
--- error_code: 200
--- response_body_like: ^\{"artist":\{"id":4,"name":"Jay-Z"
--- error_log
cannot connect to postgres



=== TEST 3: a DNS server that never answers blocks nothing
The API's request waits for its lookup (bounded by the connect timeout);
meanwhile the worker answers everything else.
--- post_setup_server_root
Tunesheap::DNS::zone("db.tunesheap.test" => "drop");
--- http_config eval
"resolver 127.0.0.1:$ENV{TEST_NGINX_DNS_PORT} ipv6=off;\n"
. "resolver_timeout 5s;\n"
. Tunesheap::Test::http_config(dsn => main::dsn_host("db.tunesheap.test"))
. "tunesheap_postgres_connect_timeout 2s;\n"
--- config
    location /api/v1/ {
        tunesheap_api;
    }
    location = /ping {
        return 200 "pong\n";
    }
--- init
Tunesheap::Test::bg_get("/api/v1/artists/4");
select(undef, undef, undef, 0.3);
--- request
GET /ping
--- error_code: 200
--- response_body
pong
--- bg_response_like: ^HTTP/1.1 50[34] 
--- bg_first
--- error_log
connecting to postgres timed out
--- timeout: 10



=== TEST 4: a name the DNS server does not know: the reason is logged
--- http_config eval
"resolver 127.0.0.1:$ENV{TEST_NGINX_DNS_PORT} ipv6=off;\n"
. Tunesheap::Test::http_config(dsn => main::dsn_host("nowhere.tunesheap.test"))
--- init
Tunesheap::DNS::zone("db.tunesheap.test" => ["127.0.0.1", 1]);
--- request
GET /api/v1/health
--- error_code: 503
--- response_body
{"status":"unavailable","postgres":"down"}
--- error_log
cannot resolve postgres host "nowhere.tunesheap.test": Host not found



=== TEST 5: no resolver: the name is resolved once, when nginx starts
--- http_config eval
Tunesheap::Test::http_config(dsn => main::dsn_host("localhost"))
--- request
GET /api/v1/artists/4
--- error_code: 200
--- response_body_like: ^\{"artist":\{"id":4,"name":"Jay-Z"
--- error_log
the postgres host names are resolved once



=== TEST 6: libpq moves to the next host on a socket with the same number
The first host of the list is a standby now: libpq closes that socket and
opens one to the primary, which gets the same descriptor.  epoll forgot
the old socket when it was closed: unless the new one is registered
again, the connect waits for its timeout.
--- http_config eval
Tunesheap::Test::http_config(
    dsn => main::dsn_host("127.0.0.1,127.0.0.1",
                          "$ENV{TEST_NGINX_STANDBY_PORT}," . main::pg_port())
           . " target_session_attrs=read-write",
    args => "pool=1")
. "tunesheap_postgres_connect_timeout 3s;\n"
--- request
GET /api/v1/artists/4
--- error_code: 200
--- response_body_like: ^\{"artist":\{"id":4,"name":"Jay-Z"
--- no_error_log
timed out
--- timeout: 5



=== TEST 7: the string's own gssencmode wins over the pool's default
The pool asks for gssencmode=disable (GSSAPI would cost a round trip at
every connect) unless the string says otherwise: a bad value is libpq's.
--- http_config eval
Tunesheap::Test::http_config(dsn => "$ENV{TEST_NGINX_PG_DSN} gssencmode=bogus")
--- request
GET /api/v1/health
--- error_code: 503
--- error_log
invalid gssencmode value: "bogus"
