# Faults around Redis and clients: reconnects that lost nothing keep the
# fleet's cache; a Redis frozen by SIGSTOP shows in health (still 200);
# an invalidation Redis did not take is sent again until it lands, so no
# node serves the old answer once Redis is back; clients that go away
# release their place in the Postgres queue; a worker that exits with
# Redis commands pending opens no Postgres connection on its way out.

use Test::Nginx::Socket 'no_plan';
use Tunesheap::Test;
use Time::HiRes ();
use IO::Select;
use Socket qw(PF_INET SOCK_STREAM SOL_SOCKET SO_RCVBUF inet_aton
              pack_sockaddr_in unpack_sockaddr_in);

add_block_preprocessor(sub {
    my $block = shift;
    # each block starts from an empty cache: nginx no longer empties it
    $block->set_value('init', "Tunesheap::Test::redis_ctl('cli', 'FLUSHALL');\n"
                              . ($block->init // ''));
    $block->set_value('http_config', Tunesheap::Test::cached_config())
        unless defined $block->http_config;
    # before its nginx starts, so that its sockets are made small
    main::small_tcp_buffers() if $block->name =~ /full socket/;
});

# how many times a worker (re)connected to Redis, from an error log
sub connects {
    my ($log) = @_;
    my $text = Tunesheap::Test::slurp($log);
    my @lines = $text =~ /tunesheap: connected to redis/g;
    return scalar @lines;
}

sub redis_pid {
    my $pid = Tunesheap::Test::slurp("$ENV{TEST_NGINX_REDIS_DIR}/redis.pid");
    chomp $pid;
    return $pid;
}

# A "Redis" that takes connections and never reads them: a listening
# socket with a 4 KB receive buffer that nobody accepts from (the kernel
# completes the handshakes); its port.  It goes with the test process.
our $Deaf;

sub deaf_redis {
    unless ($Deaf) {
        # the buffer before listen(): connections get it from the listener
        socket($Deaf, PF_INET, SOCK_STREAM, 0) or die "deaf redis: $!\n";
        setsockopt($Deaf, SOL_SOCKET, SO_RCVBUF, 4096)
            or die "deaf redis: SO_RCVBUF: $!\n";
        bind($Deaf, pack_sockaddr_in(0, inet_aton('127.0.0.1')))
            && listen($Deaf, 64) or die "deaf redis: $!\n";
    }
    return (unpack_sockaddr_in(getsockname($Deaf)))[0];
}

# Loopback sockets queue megabytes before a writer sees EAGAIN, more than
# a block can make a worker send.  In the harness's own network namespace
# (t/run.sh) they are made small for the block about a full socket, then
# restored; under another harness they stay as they are (the block then
# passes without filling one).
our %TcpMem;

sub small_tcp_buffers {
    return '' unless $ENV{TS_TEST_NAMESPACE};
    for my $k ('tcp_wmem', 'tcp_rmem') {
        my $f = "/proc/sys/net/ipv4/$k";
        open my $in, '<', $f or return '';
        chomp($TcpMem{$k} = <$in>);
        open my $out, '>', $f or return '';
        print $out "4096 4096 4096\n";
    }
    return '';
}

sub restore_tcp_buffers {
    for my $k (keys %TcpMem) {
        open my $out, '>', "/proc/sys/net/ipv4/$k" or next;
        print $out "$TcpMem{$k}\n";
    }
    %TcpMem = ();
}

END { restore_tcp_buffers() }

# sends every path at once, each on its own connection; their statuses
# (0: no answer within $seconds)
sub burst {
    my ($seconds, @paths) = @_;
    my $port = Tunesheap::Test::server_port();
    my (%status, %buf);
    my $sel = IO::Select->new;
    for my $i (0 .. $#paths) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $port) or die "burst: $!\n";
        print $s "GET $paths[$i] HTTP/1.0\r\nHost: localhost\r\n\r\n";
        ${*$s}{burst} = $i;
        $status{$i} = 0;
        $sel->add($s);
    }
    my $end = Time::HiRes::time() + $seconds;
    while ($sel->count && Time::HiRes::time() < $end) {
        for my $s ($sel->can_read(0.2)) {
            my $i = ${*$s}{burst};
            my $n = sysread($s, my $chunk, 65536);
            if ($n) {
                $buf{$i} .= $chunk;
                next;
            }
            ($status{$i}) = ($buf{$i} // '') =~ m{^HTTP/1\.\d (\d+)};
            $status{$i} //= 0;
            $sel->remove($s);
            close $s;
        }
    }
    return map { $status{$_} } 0 .. $#paths;
}

# sends a request and closes the connection after $linger seconds,
# without reading the answer (a client that gave up)
sub abandon {
    my ($path, $linger, $port) = @_;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $port
                                                  // Tunesheap::Test::server_port())
            or POSIX::_exit(1);
        print $s "GET $path HTTP/1.1\r\nHost: localhost\r\n\r\n";
        select(undef, undef, undef, $linger);
        close $s;
        POSIX::_exit(0);
    }
    return $pid;
}

# TEST 10 holds 300 clients at once
worker_connections(1024);
no_shuffle();
run_tests();

__DATA__

=== TEST 1: a reconnect that lost no invalidation keeps the cache
Redis drops the worker's connection (CLIENT KILL); the worker connects
again, and the answer cached before is still served from Redis.
--- init
my ($st, $h) = Tunesheap::Test::http(GET => "/api/v1/songs/7");
Test::More::is($h->{'x-cache'}, 'MISS', 'first a miss');
($st, $h) = Tunesheap::Test::http(GET => "/api/v1/songs/7");
Test::More::is($h->{'x-cache'}, 'HIT redis', 'then a hit');
Tunesheap::Test::redis_ctl('cli', 'CLIENT', 'KILL', 'TYPE', 'normal');
my $n;
for (1 .. 30) {
    select(undef, undef, undef, 0.1);
    $n = main::connects($Test::Nginx::Util::ErrLogFile);
    last if $n >= 2;
}
Test::More::is($n, 2, 'the worker connected again');
--- request
GET /api/v1/songs/7
--- error_code: 200
--- response_headers
X-Cache: HIT redis
--- response_body_like chomp
"title":"Master of Puppets"



=== TEST 2: a fresh nginx (another node, a reload) keeps the fleet's cache
--- init
my ($st, $h) = Tunesheap::Test::http(GET => "/api/v1/albums/3");
($st, $h) = Tunesheap::Test::http(GET => "/api/v1/albums/3");
Test::More::is($h->{'x-cache'}, 'HIT redis', 'cached through the first node');
my $b = Tunesheap::Test::start_second_nginx();
my $root = ($ENV{TEST_NGINX_SERVROOT} // 't/servroot') . '-second';
for (1 .. 30) {
    last if main::connects("$root/logs/error.log") >= 1;
    select(undef, undef, undef, 0.1);
}
($st, $h) = Tunesheap::Test::http(GET => "/api/v1/albums/3", port => $b);
Test::More::is($h->{'x-cache'}, 'HIT redis', 'the new node hits it too');
Tunesheap::Test::stop_second_nginx();
--- request
GET /api/v1/albums/3
--- response_headers
X-Cache: HIT redis



=== TEST 3: a frozen Redis: health says so with a 200; the cache survives it
Redis is stopped (SIGSTOP) for about 2 s while requests come: they are
answered from Postgres, health tells "slow" or "down" (never "ok") and
stays 200, the worker reconnects again and again, but once a lookup found
Redis frozen, requests stop waiting for it (a new connection is used only
once Redis answers a PING on it); once Redis runs again, what it held is
served from it.
--- init
my ($st, $h, $body) = Tunesheap::Test::http(GET => "/api/v1/artists/5");
($st, $h) = Tunesheap::Test::http(GET => "/api/v1/artists/5");
Test::More::is($h->{'x-cache'}, 'HIT redis', 'cached');
($st, $h, $body) = Tunesheap::Test::http(GET => "/api/v1/health");
Test::More::is($body, qq{{"status":"ok","postgres":"ok","redis":"ok"}\n},
               'health before');
my $pid = main::redis_pid();
kill 'STOP', $pid or die "cannot stop redis $pid";
my (@health, @codes, @slow);
my $t0 = Time::HiRes::time();
while (Time::HiRes::time() - $t0 < 2) {
    ($st, $h, $body) = Tunesheap::Test::http(GET => "/api/v1/health");
    chomp $body;
    push @health, "$st $body";
    my $t1 = Time::HiRes::time();
    ($st, $h, $body) = Tunesheap::Test::http(GET => "/api/v1/artists/5");
    my $took = Time::HiRes::time() - $t1;
    push @slow, sprintf("%.3f", $took) if $took >= 0.19;
    push @codes, "$st " . ($body =~ /"name":"Metallica"/ ? 'right' : 'wrong');
}
kill 'CONT', $pid;
Test::More::is_deeply([grep { !/^200 \{"status":"ok","postgres":"ok","redis":"(slow|down)"\}$/ } @health],
                      [], 'health: 200, redis slow or down, while frozen');
Test::More::ok(scalar(grep { /"slow"/ } @health), 'a frozen Redis is "slow"');
Test::More::is_deeply([grep { $_ ne '200 right' } @codes], [],
                      'answers from Postgres meanwhile');
Test::More::cmp_ok(scalar(@slow), '<=', 1,
                   "once found frozen, requests do not wait for it (@slow)");
Test::More::cmp_ok(main::connects($Test::Nginx::Util::ErrLogFile), '>=', 3,
                   'the worker reconnected while Redis was frozen');
select(undef, undef, undef, 0.5);
--- request eval
["GET /api/v1/artists/5", "GET /api/v1/health"]
--- response_headers eval
["X-Cache: HIT redis", ""]
--- response_body_like eval
[qr/"name":"Metallica"/, qr/^\{"status":"ok","postgres":"ok","redis":"ok"\}$/]
--- timeout: 10



=== TEST 4: a write while Redis is frozen: acknowledged, and never served stale
Node B caches an album in Redis. Redis freezes; a write through node A
cannot bump the version (the bump times out) and is acknowledged anyway
(it is committed). Node A does not serve the old album meanwhile; once
Redis runs again, A bumps the version again, and B answers the new album.
--- init
my $b = Tunesheap::Test::start_second_nginx();
my ($st, $h, $body);
for (1 .. 2) {
    ($st, $h, $body) = Tunesheap::Test::http(GET => "/api/v1/albums/4", port => $b);
}
Test::More::is($h->{'x-cache'}, 'HIT redis', 'node B caches the album');
Test::More::like($body, qr/"genre":"Metal"/, 'the old genre');
($st, $h, $body) = Tunesheap::Test::http(GET => "/api/v1/albums/4");
Test::More::is($h->{'x-cache'}, 'HIT redis', 'so does node A');

my $pid = main::redis_pid();
kill 'STOP', $pid or die "cannot stop redis $pid";
($st, $h, $body) = Tunesheap::Test::http(PATCH => "/api/v1/albums/4",
    headers => { authorization => "Bearer tsk_test_writer",
                 "content-type" => "application/json" },
    body => '{"album":{"genre":"Thrash Metal"}}');
Test::More::is($st, 200, 'the write is acknowledged');
Test::More::like($body, qr/"genre":"Thrash Metal"/, '... with its new state');
($st, $h, $body) = Tunesheap::Test::http(GET => "/api/v1/albums/4");
Test::More::like($body, qr/"genre":"Thrash Metal"/,
                 'node A answers the new genre while Redis is frozen');
select(undef, undef, undef, 0.5);
($st, $h, $body) = Tunesheap::Test::http(GET => "/api/v1/albums/4");
Test::More::like($body, qr/"genre":"Thrash Metal"/, '... and again');
kill 'CONT', $pid;

($st, $h, $body) = Tunesheap::Test::http(GET => "/api/v1/albums/4");
Test::More::like($body, qr/"genre":"Thrash Metal"/,
                 'node A, as soon as Redis runs again');
select(undef, undef, undef, 1.5);
($st, $h, $body) = Tunesheap::Test::http(GET => "/api/v1/albums/4", port => $b);
Test::More::like($body, qr/"genre":"Thrash Metal"/,
                 'node B answers the new genre once Redis is back');
($st, $h, $body) = Tunesheap::Test::http(GET => "/api/v1/albums/4", port => $b);
Test::More::is($h->{'x-cache'}, 'HIT redis', '... and caches it again');
my $log = Tunesheap::Test::slurp($Test::Nginx::Util::ErrLogFile);
Test::More::like($log, qr/could not invalidate the cache/, 'the failure is logged');
Test::More::like($log, qr/bumping again cache versions/, 'so is the retry');

($st) = Tunesheap::Test::http(PATCH => "/api/v1/albums/4",
    headers => { authorization => "Bearer tsk_test_writer",
                 "content-type" => "application/json" },
    body => '{"album":{"genre":"Metal"}}');
Test::More::is($st, 200, 'the genre is put back');
Tunesheap::Test::stop_second_nginx();
--- request
GET /api/v1/albums/4
--- response_body_like chomp
"genre":"Metal"
--- timeout: 10



=== TEST 5: Redis refuses a bump: this node bypasses it until a bump lands
Redis answers the bump with an error (the version key is not a number)
and the connection stays. Node A, which acknowledged the write, answers
from Postgres for that resource, never the old album from Redis; once
Redis takes bumps again, A's timer sends the bump again and A uses Redis
again.
--- init
Tunesheap::Test::redis_ctl('cli', 'SET', 'ts:v:albums', 'x');
my ($st, $h, $body);
for (1 .. 2) {
    ($st, $h, $body) = Tunesheap::Test::http(GET => "/api/v1/albums/5");
}
Test::More::is($h->{'x-cache'}, 'HIT redis', 'cached');
($st, $h, $body) = Tunesheap::Test::http(PATCH => "/api/v1/albums/5",
    headers => { authorization => "Bearer tsk_test_writer",
                 "content-type" => "application/json" },
    body => '{"album":{"genre":"Art Rock"}}');
Test::More::is($st, 200, 'the write is acknowledged');
for (1 .. 3) {
    ($st, $h, $body) = Tunesheap::Test::http(GET => "/api/v1/albums/5");
    Test::More::like($body, qr/"genre":"Art Rock"/, 'never the old album');
    Test::More::is($h->{'x-cache'}, 'BYPASS', '... Redis is not asked');
    select(undef, undef, undef, 0.4);
}
Tunesheap::Test::redis_ctl('cli', 'SET', 'ts:v:albums', '1');
select(undef, undef, undef, 1.5);
for my $want ('MISS', 'HIT redis') {
    ($st, $h, $body) = Tunesheap::Test::http(GET => "/api/v1/albums/5");
    Test::More::is($h->{'x-cache'}, $want, "Redis is used again: $want");
    Test::More::like($body, qr/"genre":"Art Rock"/, '... with the new album');
}
($st) = Tunesheap::Test::http(PATCH => "/api/v1/albums/5",
    headers => { authorization => "Bearer tsk_test_writer",
                 "content-type" => "application/json" },
    body => '{"album":{"genre":"Rock"}}');
Test::More::is($st, 200, 'the genre is put back');
--- request
GET /api/v1/albums/5
--- response_body_like chomp
"genre":"Rock"
--- timeout: 10



=== TEST 6: Redis stopped between a write and its bump: no node serves the old answer once it is back
Redis shuts down keeping its data (SHUTDOWN SAVE, a restart from a
snapshot); a write through node A cannot send its bump and is answered
at once. When Redis is back with the old version and the old answer, A
sends the bump it owes on connecting, and node B, which had the old
answer cached, answers the new one.
--- init
my $b = Tunesheap::Test::start_second_nginx();
my ($st, $h, $body);
for (1 .. 2) {
    ($st, $h, $body) = Tunesheap::Test::http(GET => "/api/v1/songs/8", port => $b);
}
Test::More::is($h->{'x-cache'}, 'HIT redis', 'node B caches the song');
my $pid = main::redis_pid();
system("$ENV{TEST_NGINX_REDIS_CTL} cli $ENV{TEST_NGINX_REDIS_DIR} SHUTDOWN SAVE >/dev/null 2>&1");
for (1 .. 50) {
    last unless kill 0, $pid;
    select(undef, undef, undef, 0.1);
}
my $t0 = Time::HiRes::time();
($st, $h, $body) = Tunesheap::Test::http(PATCH => "/api/v1/songs/8",
    headers => { authorization => "Bearer tsk_test_writer",
                 "content-type" => "application/json" },
    body => '{"song":{"track_number":7}}');
my $took = Time::HiRes::time() - $t0;
Test::More::is($st, 200, 'the write is acknowledged');
Test::More::cmp_ok($took, '<', 1, "at once ($took s)");
($st, $h, $body) = Tunesheap::Test::http(GET => "/api/v1/songs/8");
Test::More::like($body, qr/"track_number":7/, 'node A answers the new state');
Tunesheap::Test::redis_ctl('start');
unlink "$ENV{TEST_NGINX_REDIS_DIR}/dump.rdb";
Test::More::cmp_ok(Tunesheap::Test::redis_ctl('cli', 'DBSIZE'), '>', 0,
                   'Redis is back with its old data');
# both nodes connected again (A's owed bump goes on connecting), before
# B reads: a fixed wait let B fill Redis before A's bump under load
for my $port (Tunesheap::Test::server_port(), $b) {
    for (1 .. 100) {
        my (undef, undef, $health) =
            Tunesheap::Test::http(GET => "/api/v1/health", port => $port);
        last if $health =~ /"redis":"ok"/;
        select(undef, undef, undef, 0.1);
    }
}
select(undef, undef, undef, 0.2);
($st, $h, $body) = Tunesheap::Test::http(GET => "/api/v1/songs/8", port => $b);
Test::More::like($body, qr/"track_number":7/, 'node B answers the new state');
Test::More::is($h->{'x-cache'}, 'MISS', '... from Postgres');
# B's answer reaches Redis after B answered: A may come first and miss
for (1 .. 20) {
    ($st, $h, $body) = Tunesheap::Test::http(GET => "/api/v1/songs/8");
    last if $h->{'x-cache'} eq 'HIT redis';
    select(undef, undef, undef, 0.05);
}
Test::More::is($h->{'x-cache'}, 'HIT redis', 'node A uses Redis again');
Test::More::like($body, qr/"track_number":7/, '... with the new state');
($st) = Tunesheap::Test::http(PATCH => "/api/v1/songs/8",
    headers => { authorization => "Bearer tsk_test_writer",
                 "content-type" => "application/json" },
    body => '{"song":{"track_number":1}}');
Test::More::is($st, 200, 'the song is put back');
Tunesheap::Test::stop_second_nginx();
--- request
GET /api/v1/songs/8
--- response_body_like chomp
"track_number":1
--- timeout: 15



=== TEST 7: clients that give up leave the Postgres queue
One connection, one query at a time, artists that take 1 s each. Six
clients ask for six artists and close their connection after 0.3 s: the
first query is in flight, the five others wait for the connection. They
leave the queue when their clients go: a new request is answered after
the one in flight, not after all of them, and only two queries ever
reach Postgres.  (The clients come 50 ms apart: items missed in one turn
of nginx's loop would share one statement, in flight at once.)
--- http_config eval
Tunesheap::Test::http_config(dsn => Tunesheap::Test::slow_dsn(1),
                             args => 'pool=1 pipeline=1')
--- config
    location /api/v1/ {
        tunesheap_cache off;
        tunesheap_api;
    }
--- init
Tunesheap::Test::sql("SELECT setval('slow.reads', 1, false)");
my @pids = map { my $p = main::abandon("/api/v1/artists/$_", 0.3);
                 select(undef, undef, undef, 0.05); $p } 1 .. 6;
waitpid $_, 0 for @pids;
my $t0 = Time::HiRes::time();
my ($st, $h, $body) = Tunesheap::Test::http(GET => "/api/v1/artists/7");
my $took = Time::HiRes::time() - $t0;
Test::More::is($st, 200, 'a new request is answered');
Test::More::cmp_ok($took, '<', 2.5, "after the query in flight only ($took s)");
Test::More::is(Tunesheap::Test::sql("SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM slow.reads"),
               2, 'the abandoned requests never reached Postgres');
Test::More::is(Tunesheap::Test::sql("SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%artists%' AND state = 'active' AND backend_type = 'client backend' AND pid <> pg_backend_pid()"),
               0, 'no query left running');
--- request
GET /api/v1/health
--- error_code: 200
--- error_log
client prematurely closed connection
--- timeout: 10



=== TEST 8: a leader that gives up hands its key to a waiter
Three requests for one slow artist share one query; the first client
goes away: one of the two others asks Postgres, both get the answer.
--- http_config eval
Tunesheap::Test::http_config(dsn => Tunesheap::Test::slow_dsn(1))
--- init
Tunesheap::Test::sql("SELECT setval('slow.reads', 1, false)");
my $leader = main::abandon("/api/v1/artists/3", 0.3);
select(undef, undef, undef, 0.1);
Tunesheap::Test::bg_get("/api/v1/artists/3");
Tunesheap::Test::bg_get("/api/v1/artists/3");
waitpid $leader, 0;
--- request
GET /api/v1/health
--- bg_response_like eval
[qr/^HTTP\/1\.1 200 .*"name":"Sigur/s, qr/^HTTP\/1\.1 200 .*"name":"Sigur/s]
--- timeout: 10



=== TEST 9: a worker exiting with Redis lookups pending opens no Postgres connection
Redis is frozen, a request waits for its lookup (5 s timeout); the
second nginx is told to stop at once (SIGTERM): its Redis goes first, and
the lookup's callback does not run a query on the way out.
--- http_config eval
Tunesheap::Test::cached_config() . "tunesheap_redis_timeout 5s;\n"
--- init
my $b = Tunesheap::Test::start_second_nginx();
my $root = ($ENV{TEST_NGINX_SERVROOT} // 't/servroot') . '-second';
for (1 .. 30) {
    last if main::connects("$root/logs/error.log") >= 1;
    select(undef, undef, undef, 0.1);
}
my $pid = main::redis_pid();
kill 'STOP', $pid or die "cannot stop redis $pid";
my $client = main::abandon("/api/v1/artists/2", 1.5, $b);
select(undef, undef, undef, 0.3);
open my $fh, '<', "$root/logs/nginx.pid" or die;
my $npid = <$fh>;
chomp $npid;
my $before = length Tunesheap::Test::slurp("$root/logs/error.log");
kill 'TERM', $npid;
for (1 .. 50) {
    last unless kill 0, $npid;
    select(undef, undef, undef, 0.1);
}
kill 'CONT', $pid;
waitpid $client, 0;
my $exit = substr(Tunesheap::Test::slurp("$root/logs/error.log"), $before);
Test::More::like($exit, qr/exit/, 'the second nginx exited');
Test::More::unlike($exit, qr/tunesheap: postgres/,
                   'no Postgres work while exiting');
Test::More::unlike($exit, qr/HTTP\/1\.1 \d{3}/, 'no answer while exiting');
Tunesheap::Test::stop_second_nginx();
--- request
GET /api/v1/health
--- error_code: 200
--- timeout: 10



=== TEST 10: a Redis that stops reading: its full socket does not stop the worker
Commands are written by an event posted at the end of the turn that made
them.  When the socket is full, hiredis asks to write again from within
its own write: posted again then, the flush would run again in the same
turn, forever, and the worker would answer nothing more.  Here "Redis"
takes the connection and never reads it; 300 searches with long texts
send more lookups than its socket holds (with the small buffers of the
harness's namespace: see small_tcp_buffers()).  Each is answered from
Postgres once the lookups time out (2 s) and the silent Redis is dropped.
--- http_config eval
Tunesheap::Test::http_config(redis => "127.0.0.1:" . main::deaf_redis())
    . "tunesheap_redis_timeout 2s;\n"
--- init
my @paths = map { "/api/v1/search?q=" . ("deaf$_" x 20) } 1 .. 300;
my @st = main::burst(15, @paths);
main::restore_tcp_buffers();
my $ok = grep { $_ == 200 } @st;
Test::More::is($ok, 300, "every search answered 200 ($ok of 300)");
--- request
GET /api/v1/health
--- error_code: 200
--- timeout: 20
