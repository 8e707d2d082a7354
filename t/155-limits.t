# Per-client limits of the shipped conf/tunesheap-http.conf: limit_req on
# searches and on writes, limit_conn on requests in progress, header and
# body timeouts.  Clients come from 127.0.0.2 and 127.0.0.3 (the suite's
# private network namespace has all of 127/8); 127.0.0.1, the address of
# `make bench`, is exempt.  Past a limit: 429, JSON, Retry-After.

use Test::Nginx::Socket 'no_plan';
use Tunesheap::Test;
use IO::Socket::INET ();
use Time::HiRes ();

our $Http = Tunesheap::Test::http_config()
    . Tunesheap::Test::shipped_conf('tunesheap-http.conf');
our $Server = Tunesheap::Test::shipped_conf('tunesheap-server.conf')
    . Tunesheap::Test::media_config();
our $TooMany = qq({"error":{"status":429,"message":"too many requests: retry later"}}\n);
our $Writer = { Authorization => 'Bearer tsk_test_writer',
                'Content-Type' => 'application/json' };

# n requests from one address, from 4 processes at once (fast enough to
# outrun the rate on a loaded machine); returns { status => count }, and
# checks every 429 is the JSON error with Retry-After: 1
sub burst {
    my ($from, $n, $method, $path, %opt) = @_;
    my (%count, @bad, @kids);
    for my $k (0 .. 3) {
        pipe(my $r, my $w) or die "pipe: $!";
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            close $r;
            for (my $i = $k; $i < $n; $i += 4) {
                (my $p = $path) =~ s/\{i\}/$i/g;
                my ($st, $h, $body) = Tunesheap::Test::http($method, $p,
                                                            from => $from, %opt);
                my $bad = ($st == 429
                           && ($body ne $::TooMany
                               || ($h->{'retry-after'} // '') ne '1'
                               || $h->{'content-type'} !~ m{^application/json}))
                          ? 1 : 0;
                print $w "$st $bad\n";
            }
            close $w;
            POSIX::_exit(0);
        }
        close $w;
        push @kids, [$pid, $r];
    }
    for (@kids) {
        my ($pid, $r) = @$_;
        while (my $line = <$r>) {
            my ($st, $bad) = split ' ', $line;
            $count{$st}++;
            push @bad, $st if $bad;
        }
        waitpid $pid, 0;
    }
    Test::More::is("@bad", '', "$from: every 429 is JSON with Retry-After: 1");
    return \%count;
}

# a file in the media root too big for the socket buffers, and its link
our $Big = "902-0123456789abcdef.mp3";
our $BigLink = Tunesheap::Test::stream_link(902, time + 3600, undef, $Big);

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('http_config', $Http) unless defined $block->http_config;
    $block->set_value('config', $Server) unless defined $block->config;
});

worker_connections(1024);
no_shuffle();
run_tests();

__DATA__

=== TEST 1: rapid searches from one address: 429 past the burst; another address still reads and searches
--- init
my $c = main::burst('127.0.0.2', 60, GET => '/api/v1/search?q=beatles');
Test::More::cmp_ok($c->{200} // 0, '>=', 20, "the burst is served: @{[%$c]}");
Test::More::cmp_ok($c->{429} // 0, '>=', 20, "then 429");
my ($st) = Tunesheap::Test::http(GET => '/api/v1/artists/1', from => '127.0.0.3');
Test::More::is($st, 200, "another address reads");
$c = main::burst('127.0.0.3', 10, GET => '/api/v1/search?q=x{i}');
Test::More::is_deeply($c, { 200 => 10 }, "and searches");
($st) = Tunesheap::Test::http(GET => '/api/v1/artists/1', from => '127.0.0.2');
Test::More::is($st, 200, "the flooding address still reads what is not search");
$c = main::burst('127.0.0.1', 60, GET => '/api/v1/search?q=b{i}');
Test::More::is_deeply($c, { 200 => 60 }, "127.0.0.1 (make bench) is not limited");
--- request
GET /api/v1/search?q=beatles
--- error_code: 200



=== TEST 2: concurrent expensive searches from one address do not starve another's reads
--- init
my @pids;
for my $k (1 .. 4) {
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        my %c;
        for my $i (1 .. 25) {
            my ($st) = Tunesheap::Test::http(GET => "/api/v1/search?q="
                . ("the+" x 46) . "u$k$i", from => '127.0.0.2');
            $c{$st}++;
        }
        POSIX::_exit(($c{429} // 0) > 0 ? 0 : 1);
    }
    push @pids, $pid;
}
my ($slow, $ok) = (0, 0);
for (1 .. 20) {
    my $t = Time::HiRes::time();
    my ($st) = Tunesheap::Test::http(GET => '/api/v1/artists/2', from => '127.0.0.3');
    $ok++ if $st == 200;
    $slow++ if Time::HiRes::time() - $t > 1;
}
my $limited = 0;
for (@pids) { waitpid $_, 0; $limited++ if $? == 0 }
Test::More::is($ok, 20, "every read of 127.0.0.3 answered");
Test::More::is($slow, 0, "none waited a second");
Test::More::cmp_ok($limited, '>=', 3, "the searching clients got 429s");
--- request
GET /api/v1/artists/1
--- error_code: 200



=== TEST 3: rapid writes from one address: 429 past the burst; another address still writes
--- init
my $c = main::burst('127.0.0.2', 80, POST => '/api/v1/artists',
                    headers => $::Writer, body => '{}');
Test::More::cmp_ok($c->{422} // 0, '>=', 40, "the burst reaches the handler: @{[%$c]}");
Test::More::cmp_ok($c->{429} // 0, '>=', 20, "then 429");
$c = main::burst('127.0.0.3', 5, POST => '/api/v1/artists',
                 headers => $::Writer, body => '{}');
Test::More::is_deeply($c, { 422 => 5 }, "another address's writes reach the handler");
my ($st) = Tunesheap::Test::http(GET => '/api/v1/artists/1', from => '127.0.0.2');
Test::More::is($st, 200, "reads of the writing address are not limited");
--- request
GET /api/v1/artists/1
--- error_code: 200



=== TEST 4: at most 100 requests in progress per address
--- init
open my $fh, '>', "$ENV{TEST_NGINX_MEDIA}/$main::Big" or die $!;
print $fh "ID3", "\0" x (32 * 1024 * 1024 - 3);
close $fh;
my @held;
for (1 .. 100) {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
        PeerPort => Tunesheap::Test::server_port(), LocalAddr => '127.0.0.2')
        or die "connect: $!";
    setsockopt($s, Socket::SOL_SOCKET(), Socket::SO_RCVBUF(), 4096);
    print $s "GET $main::BigLink HTTP/1.1\r\nHost: localhost\r\n\r\n";
    push @held, $s;
}
select(undef, undef, undef, 0.5);
my ($st, $h, $body) = Tunesheap::Test::http(GET => '/api/v1/artists/1', from => '127.0.0.2');
Test::More::is("$st $body", "429 $main::TooMany", "the 101st request of 127.0.0.2: 429");
Test::More::is($h->{'retry-after'}, 1, "with Retry-After");
($st) = Tunesheap::Test::http(GET => '/api/v1/artists/1', from => '127.0.0.3');
Test::More::is($st, 200, "127.0.0.3 is served");
close $_ for @held;
select(undef, undef, undef, 0.5);
($st) = Tunesheap::Test::http(GET => '/api/v1/artists/1', from => '127.0.0.2');
Test::More::is($st, 200, "127.0.0.2 again once its downloads are gone");
unlink "$ENV{TEST_NGINX_MEDIA}/$main::Big";
--- request
GET /api/v1/artists/1
--- error_code: 200



=== TEST 5: a header or a body that stops arriving is cut off after 10 s
--- init
my @socks;
for my $req ("GET /api/v1/artists/1 HTTP/1.1\r\nHost: loc",
             "POST /api/v1/artists HTTP/1.1\r\nHost: localhost\r\n"
             . "Authorization: Bearer tsk_test_writer\r\n"
             . "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"ar")
{
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
        PeerPort => Tunesheap::Test::server_port(), LocalAddr => '127.0.0.2')
        or die "connect: $!";
    print $s $req;
    push @socks, $s;
}
my $t0 = Time::HiRes::time();
my @took;
for my $s (@socks) {
    my $rin = '';
    vec($rin, fileno($s), 1) = 1;
    select(my $rout = $rin, undef, undef, 15);
    $s->blocking(0);
    my $n = sysread $s, my $buf, 4096;
    push @took, sprintf "%.0f", Time::HiRes::time() - $t0;
    Test::More::ok((defined $n && $n == 0) || $!{ECONNRESET},
                   "closed without an answer");
}
Test::More::ok($took[0] >= 9 && $took[0] <= 12, "the header: after $took[0] s");
Test::More::ok($took[1] >= 9 && $took[1] <= 12, "the body: after $took[1] s");
--- request
GET /api/v1/artists/1
--- error_code: 200
--- timeout: 20



=== TEST 6: the shipped access log format masks signed links' signatures
--- config eval
$::Server . "access_log $ENV{TEST_NGINX_SERVROOT}/logs/api.log api;\n"
--- init
my ($st) = Tunesheap::Test::http(GET => "/api/v1/songs/903/stream?expires=9999999999&signature=abcdefghijklmnop");
Test::More::is($st, 403, "a bad link");
select(undef, undef, undef, 0.3);
my $log = Tunesheap::Test::slurp("$ENV{TEST_NGINX_SERVROOT}/logs/api.log");
Test::More::like($log, qr{"GET /api/v1/songs/903/stream\?expires=9999999999&signature=\*{16} HTTP/1\.1" 403 },
                 "logged with the signature masked");
--- request
GET /api/v1/artists/1
--- error_code: 200
