# Faults as suites: clients that go away mid-query (reads and writes held
# in Postgres), mid-body (a write's or an upload's body cut off) and
# mid-download (audio).  Afterwards nothing is written twice or half,
# what was acknowledged is there, the worker holds no descriptor more than
# before (other than Postgres connections, which stay within the pools),
# and it answers as before.

use Test::Nginx::Socket 'no_plan';
use Tunesheap::Test;
use Tunesheap::Faults;

our $Key = "Authorization: Bearer tsk_test_writer";
our $Audio = $ENV{TEST_NGINX_AUDIO};
our $Media = $ENV{TEST_NGINX_MEDIA};
our $Link = Tunesheap::Test::stream_link(2, time + 600);

sub main::post {
    my ($name, $len_extra, $cut) = @_;
    my $body = '{"artist":{"name":"' . $name . '","description":"'
               . ('x' x 400) . '"}}';
    my $len = length($body) + ($len_extra // 0);
    $body = substr $body, 0, $cut if defined $cut;
    return "POST /api/v1/artists HTTP/1.1\r\nHost: localhost\r\n"
         . "Authorization: Bearer tsk_test_writer\r\n"
         . "Content-Type: application/json\r\n"
         . "Content-Length: $len\r\n\r\n$body";
}

# the checks every block makes once its clients are gone
sub main::after_ok {
    my ($name, $fds, $pool) = @_;
    Tunesheap::Faults::backends_ok(pool => $pool, name => $name, wait => 8);
    my $now;
    for (1 .. 30) {
        $now = Tunesheap::Faults::other_fds();
        last if $now <= $fds;
        select(undef, undef, undef, 0.2);
    }
    Test::More::cmp_ok($now, '<=', $fds, "$name - no descriptor left open"
                       . " ($now, $fds before)");
}

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('config', Tunesheap::Test::media_config())
        unless defined $block->config;
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: clients gone mid-query (reads held 1 s each in Postgres)
Eight clients ask for slow artists and close after 0.3 s; the queries
already sent finish or are dropped, the connections come back to the pool.
--- http_config eval
Tunesheap::Test::http_config(dsn => Tunesheap::Test::slow_dsn(1),
                             args => "pool=2")
--- init
Tunesheap::Test::http(GET => '/api/v1/albums/1');
my $fds = Tunesheap::Faults::other_fds();
my @pids = map { Tunesheap::Faults::abandon(
    "GET /api/v1/artists/$_ HTTP/1.1\r\nHost: localhost\r\n\r\n",
    after => 0.3) } 1 .. 8;
waitpid $_, 0 for @pids;
main::after_ok($block->name, $fds, 2);
--- request eval
["GET /api/v1/albums/1", "GET /api/v1/artists/4"]
--- error_code eval
[200, 200]
--- no_error_log
[alert]
[crit]
--- timeout: 10



=== TEST 2: clients gone mid-query (writes waiting on a lock)
Artists are locked for 1.5 s; six clients post an artist each and close
after 0.3 s.  A write may land or not (nobody was told), but never twice;
a write after them is acknowledged and there.
--- http_config eval
Tunesheap::Test::http_config(args => "pool=2")
--- init
Tunesheap::Test::http(GET => '/api/v1/albums/1');
my $fds = Tunesheap::Faults::other_fds();
my $lock = Tunesheap::Faults::in_background(sub {
    Tunesheap::Test::sql("BEGIN; LOCK TABLE artists IN ACCESS EXCLUSIVE"
                         . " MODE; SELECT pg_sleep(1.5); COMMIT");
});
select(undef, undef, undef, 0.3);
my @pids = map { Tunesheap::Faults::abandon(main::post("fault-abortq-$_-1"),
                                            after => 0.3) } 1 .. 6;
waitpid $_, 0 for @pids, $lock;
my ($st, $h) = Tunesheap::Test::http(POST => '/api/v1/artists',
    headers => { authorization => $Tunesheap::Faults::Writer,
                 'content-type' => 'application/json' },
    body => '{"artist":{"name":"fault-abortq-9-1"}}');
my ($id) = ($h->{location} // '') =~ m{/(\d+)$};
Tunesheap::Faults::writes_ok({ tag => 'abortq', written => 7,
    acked => { 'fault-abortq-9-1' => $id }, wstatus => { $st => 1 },
    rstatus => {} }, $block->name);
main::after_ok($block->name, $fds, 2);
--- request
GET /api/v1/artists/4
--- error_code: 200
--- no_error_log
[alert]
[crit]
--- timeout: 10



=== TEST 3: bodies cut off: a write's JSON, an upload's audio
Ten writes send 200 of their bytes and go, ten send headers only; five
uploads of big.mp3 send 1 MB of 5.  Nothing is written, no file is left
in the media root or its temporary directory.
--- http_config eval
Tunesheap::Test::http_config(args => "pool=2")
--- init
Tunesheap::Test::http(GET => '/api/v1/albums/1');
my $fds = Tunesheap::Faults::other_fds();
# files other suites left there (t/150's song 901) are not this one's
opendir my $d0, $::Media or die;
my %before = map { $_ => 1 } readdir $d0;
my $big = Tunesheap::Test::slurp("$::Audio/big.mp3");
my $upload = "PUT /api/v1/songs/3/audio HTTP/1.1\r\nHost: localhost\r\n"
    . "Authorization: Bearer tsk_test_writer\r\n"
    . "Content-Type: audio/mpeg\r\nContent-Length: " . length($big)
    . "\r\n\r\n" . substr($big, 0, 1 << 20);
my @pids = ((map { Tunesheap::Faults::abandon(
                 main::post("fault-abortb-$_-1", 0, 200), after => 0.3) }
             1 .. 10),
            (map { Tunesheap::Faults::abandon(
                 main::post("fault-abortb-$_-2", 0, 0), after => 0.3) }
             1 .. 10),
            (map { Tunesheap::Faults::abandon($upload, after => 0.5) }
             1 .. 5));
waitpid $_, 0 for @pids;
Test::More::is(Tunesheap::Test::sql("SELECT count(*) FROM artists WHERE"
                                    . " name LIKE 'fault-abortb-%'"),
               0, $block->name . " - no write from a cut body");
Test::More::is(Tunesheap::Test::sql("SELECT count(*) FROM songs WHERE id = 3"
                                    . " AND audio_key IS NOT NULL"),
               0, $block->name . " - no audio from a cut upload");
select(undef, undef, undef, 0.5);
opendir my $d, $::Media or die;
my @left = grep { !/^\.\.?$/ && $_ ne '.tmp' && !$before{$_} } readdir $d;
opendir $d, "$::Media/.tmp" or die;
push @left, map { ".tmp/$_" } grep { !/^\.\.?$/ } readdir $d;
Test::More::is("@left", '', $block->name . " - no file left in the media root");
main::after_ok($block->name, $fds, 2);
--- request
GET /api/v1/songs/3
--- error_code: 200
--- response_body_like: "audio":null
--- no_error_log
[alert]
[crit]
--- timeout: 10



=== TEST 4: downloads abandoned after 64 KB of 5 MB of audio
Ten clients start the stream of a 5 MB file and close after 64 KB; then
the whole file is served as before, and the worker holds no file or
socket more than before.
--- http_config eval
Tunesheap::Test::http_config(args => "pool=2")
--- init
my $big = Tunesheap::Test::slurp("$::Audio/big.mp3");
my ($st) = Tunesheap::Test::http(PUT => '/api/v1/songs/2/audio',
    headers => { authorization => $Tunesheap::Faults::Writer,
                 'content-type' => 'audio/mpeg' },
    body => $big);
Test::More::is($st, 200, $block->name . " - the audio is uploaded");
Tunesheap::Test::http(GET => $::Link);
my $fds = Tunesheap::Faults::other_fds();
my @pids = map { Tunesheap::Faults::abandon(
    "GET $::Link HTTP/1.1\r\nHost: localhost\r\n\r\n", read => 65536) }
    1 .. 10;
waitpid $_, 0 for @pids;
main::after_ok($block->name, $fds, 2);
--- request eval
["GET $::Link", "DELETE /api/v1/songs/2/audio"]
--- more_headers eval
["", $::Key]
--- error_code eval
[200, 204]
--- response_headers eval
["Content-Length: " . length(Tunesheap::Test::slurp("$::Audio/big.mp3")), ""]
--- no_error_log
[alert]
[crit]
--- timeout: 20
