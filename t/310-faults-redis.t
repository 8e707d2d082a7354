# Faults as suites: the cache's Redis stopped, frozen (SIGSTOP) and
# restarted while writes and reads run (t/lib/Tunesheap/Faults.pm).  Redis
# is a cache: no request may fail for it, every acknowledged write is in
# Postgres exactly once, and an item written while Redis was away is read
# back as written once it is back.

use Test::Nginx::Socket 'no_plan';
use Tunesheap::Test;
use Tunesheap::Faults;

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('http_config', Tunesheap::Test::cached_config())
        unless defined $block->http_config;
});

# an artist's description set through the API while the load runs, read
# back after it: the answer must not come from a cache filled before
sub main::fresh_ok {
    my ($name, $text) = @_;
    my ($st, undef, $body) = Tunesheap::Test::http(GET => '/api/v1/artists/5');
    Test::More::like($body, qr/"description":"\Q$text\E"/,
                     "$name - the write made while Redis was away is read"
                     . " back ($st)");
}

sub main::describe {
    my ($text) = @_;
    my ($st) = Tunesheap::Test::http(PATCH => '/api/v1/artists/5',
        headers => { authorization => $Tunesheap::Faults::Writer,
                     'content-type' => 'application/json' },
        body => qq({"artist":{"description":"$text"}}));
    return $st;
}

our $Old = Tunesheap::Test::sql(
    "SELECT coalesce(description, '') FROM artists WHERE id = 5");

add_cleanup_handler(sub {
    Tunesheap::Test::sql("UPDATE artists SET description = "
                         . ($Old eq '' ? 'NULL' : "'$Old'") . " WHERE id = 5");
    Tunesheap::Test::redis_ctl('start');
    Tunesheap::Test::redis_ctl('cli', 'FLUSHALL');
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: Redis stopped under writes and reads, then started
--- init
Tunesheap::Test::http(GET => '/api/v1/artists/5') for 1 .. 2;
my $patched;
my $l = Tunesheap::Faults::load(seconds => 4, tag => 'redisstop',
    read_paths => ['/api/v1/artists/4', '/api/v1/artists/5',
                   '/api/v1/songs/1', '/api/v1/albums/1/songs'],
    faults => [[1, sub { Tunesheap::Test::redis_ctl('stop') }],
               [1.5, sub { $patched = main::describe('while stopped') }],
               [2.5, sub { Tunesheap::Test::redis_ctl('start') }]]);
Test::More::is($patched, 200, $block->name . " - a write with Redis down");
Tunesheap::Faults::statuses_ok($l, [200, 201], $block->name);
Tunesheap::Faults::writes_ok($l, $block->name);
Tunesheap::Faults::backends_ok(pool => 4, name => $block->name);
select(undef, undef, undef, 1.2);    # past the shared memory's 1 s
main::fresh_ok($block->name, 'while stopped');
--- request eval
["GET /api/v1/health", "GET /api/v1/artists/4"]
--- error_code eval
[200, 200]
--- timeout: 10



=== TEST 2: Redis frozen (SIGSTOP) for 2 s under writes and reads
Commands time out (tunesheap_redis_timeout, 200 ms): requests go to
Postgres, none waits for Redis to come back (1.5 s: the timeout with room
for two shared cores); a write made meanwhile is never served stale
afterwards.
--- init
Tunesheap::Test::http(GET => '/api/v1/artists/5') for 1 .. 2;
my $patched;
my $pid = Tunesheap::Faults::redis_pid();
my $l = Tunesheap::Faults::load(seconds => 4, tag => 'redisfreeze',
    read_paths => ['/api/v1/artists/4', '/api/v1/artists/5',
                   '/api/v1/songs/1', '/api/v1/albums/1/songs'],
    faults => [[1, sub { kill 'STOP', $pid }],
               [1.5, sub { $patched = main::describe('while frozen') }],
               [3, sub { kill 'CONT', $pid }]]);
kill 'CONT', $pid;
Test::More::is($patched, 200, $block->name . " - a write with Redis frozen");
Tunesheap::Faults::statuses_ok($l, [200, 201], $block->name);
Tunesheap::Faults::slowest_ok($l, 1.5, $block->name);
Tunesheap::Faults::writes_ok($l, $block->name);
Tunesheap::Faults::backends_ok(pool => 4, name => $block->name);
select(undef, undef, undef, 1.2);
main::fresh_ok($block->name, 'while frozen');
--- request eval
["GET /api/v1/health", "GET /api/v1/artists/4"]
--- error_code eval
[200, 200]
--- timeout: 10



=== TEST 3: Redis restarted under writes and reads
--- init
Tunesheap::Test::http(GET => '/api/v1/artists/5') for 1 .. 2;
my $patched;
my $l = Tunesheap::Faults::load(seconds => 4, tag => 'redisrestart',
    read_paths => ['/api/v1/artists/4', '/api/v1/artists/5',
                   '/api/v1/songs/1', '/api/v1/albums/1/songs'],
    faults => [[1, sub { Tunesheap::Test::redis_ctl('restart') }],
               [1.1, sub { $patched = main::describe('after a restart') }]]);
Test::More::is($patched, 200, $block->name . " - a write around the restart");
Tunesheap::Faults::statuses_ok($l, [200, 201], $block->name);
Tunesheap::Faults::writes_ok($l, $block->name);
Tunesheap::Faults::backends_ok(pool => 4, name => $block->name);
select(undef, undef, undef, 1.2);
main::fresh_ok($block->name, 'after a restart');
--- request eval
["GET /api/v1/health", "GET /api/v1/artists/4"]
--- error_code eval
[200, 200]
--- timeout: 10



=== TEST 4: Redis frozen for 2 s with a 5 s command timeout: answered once it resumes
With tunesheap_redis_timeout 5s, the commands sent while Redis is
stopped are answered when it continues (after 2 s), and the requests
waiting on them go on then, not at the timeout.
--- http_config eval
Tunesheap::Test::cached_config() . "tunesheap_redis_timeout 5s;\n"
--- init
Tunesheap::Test::http(GET => '/api/v1/artists/5') for 1 .. 2;
my $pid = Tunesheap::Faults::redis_pid();
my $l = Tunesheap::Faults::load(seconds => 4, tag => 'redisfreeze5',
    read_paths => ['/api/v1/artists/4', '/api/v1/artists/5',
                   '/api/v1/songs/1', '/api/v1/albums/1/songs'],
    faults => [[1, sub { kill 'STOP', $pid }],
               [3, sub { kill 'CONT', $pid }]]);
kill 'CONT', $pid;
Tunesheap::Faults::statuses_ok($l, [200, 201], $block->name);
Tunesheap::Faults::slowest_ok($l, 4, $block->name);
Tunesheap::Faults::writes_ok($l, $block->name);
Tunesheap::Faults::backends_ok(pool => 4, name => $block->name);
--- request eval
["GET /api/v1/health", "GET /api/v1/artists/4"]
--- error_code eval
[200, 200]
--- timeout: 15
