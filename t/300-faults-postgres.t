# Faults as suites: Postgres stopped, restarted and slow while writes and
# reads run (a few seconds, a handful of clients: t/lib/Tunesheap/Faults.pm).
# After each: every acknowledged write is in Postgres exactly once, nothing
# was written twice, the statuses were only those the fault explains, and
# once the load is over the module holds no more backends than its pools
# (pg_stat_activity, application_name tunesheap).

use Test::Nginx::Socket 'no_plan';
use Tunesheap::Test;
use Tunesheap::Faults;

no_shuffle();
run_tests();

__DATA__

=== TEST 1: Postgres stopped under writes and reads, then started
Requests during the outage are 503s; none is a 500 (a query in flight
when the server shuts down gets SQLSTATE 57P01: a 503 too), none hangs.
--- http_config eval
Tunesheap::Test::http_config(args => "pool=4")
--- init
my $l = Tunesheap::Faults::load(seconds => 5, tag => 'pgstop',
    faults => [[1, sub { Tunesheap::Faults::pg('stop') }],
               [2, sub { Tunesheap::Faults::pg('start') }]]);
Tunesheap::Faults::statuses_ok($l, [200, 201, 503], $block->name);
Tunesheap::Faults::writes_ok($l, $block->name);
Tunesheap::Faults::backends_ok(pool => 4, name => $block->name);
--- request eval
["GET /api/v1/health", "GET /api/v1/artists/4"]
--- error_code eval
[200, 200]
--- timeout: 10



=== TEST 2: Postgres restarted under writes and reads
A write in flight on a connection that dies may be answered 503 (or 504),
never acknowledged without being there, never written twice by the
module's retry on a new connection.
--- http_config eval
Tunesheap::Test::http_config(args => "pool=4")
--- init
my $l = Tunesheap::Faults::load(seconds => 4, tag => 'pgrestart',
    faults => [[1, sub { Tunesheap::Faults::pg('restart') }]]);
Tunesheap::Faults::statuses_ok($l, [200, 201, 503, 504], $block->name);
Tunesheap::Faults::writes_ok($l, $block->name);
Tunesheap::Faults::backends_ok(pool => 4, name => $block->name);
--- request eval
["GET /api/v1/health", "GET /api/v1/artists/4"]
--- error_code eval
[200, 200]
--- timeout: 10



=== TEST 3: Postgres slow: artists locked for 2 s, past the 1 s deadline
Writes and reads of artists wait on the lock; those past the deadline are
504 (or 503 while waiting for a connection); the rest go through.
--- http_config eval
Tunesheap::Test::http_config(args => "pool=4")
. "tunesheap_postgres_timeout 1s;\n"
--- init
my $lock;
my $l = Tunesheap::Faults::load(seconds => 4, tag => 'pglock',
    faults => [[1, sub { $lock = Tunesheap::Faults::in_background(sub {
        Tunesheap::Test::sql("BEGIN; LOCK TABLE artists IN ACCESS EXCLUSIVE"
                             . " MODE; SELECT pg_sleep(2); COMMIT");
    }) }]]);
waitpid $lock, 0;
Tunesheap::Faults::statuses_ok($l, [200, 201, 503, 504], $block->name);
Tunesheap::Faults::writes_ok($l, $block->name);
Tunesheap::Faults::backends_ok(pool => 4, name => $block->name);
--- request eval
["GET /api/v1/health", "GET /api/v1/artists/4"]
--- error_code eval
[200, 200]
--- timeout: 10



=== TEST 4: slow reads (the slow schema) with writes pipelined behind them
Every read of an artist sleeps 2 s and is cut at the deadline (504); the
writes share the two connections with them.
--- http_config eval
Tunesheap::Test::http_config(dsn => Tunesheap::Test::slow_dsn(2),
                             args => "pool=2")
. "tunesheap_postgres_timeout 1s;\n"
--- init
my $l = Tunesheap::Faults::load(seconds => 4, tag => 'pgslow',
    read_paths => ['/api/v1/artists/4', '/api/v1/albums/1']);
Tunesheap::Faults::statuses_ok($l, [200, 201, 503, 504], $block->name);
Tunesheap::Faults::writes_ok($l, $block->name);
Tunesheap::Faults::backends_ok(pool => 2, name => $block->name);
--- request eval
["GET /api/v1/health", "GET /api/v1/albums/1"]
--- error_code eval
[200, 200]
--- timeout: 10
