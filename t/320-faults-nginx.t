# Faults as suites: nginx reloaded (SIGHUP) and told to quit (SIGQUIT)
# while writes and reads run (t/lib/Tunesheap/Faults.pm), with a master
# and two workers.  Old workers finish what they hold and exit (their
# Postgres connections must not keep them alive), every acknowledged write
# is in Postgres exactly once, no request is a 5xx, and the module holds
# no more backends than the live workers' pools.  A POST that found its
# kept-alive connection closed by the old worker is a client-side 599
# (never sent, never acknowledged).

use Test::Nginx::Socket 'no_plan';
use Tunesheap::Test;
use Tunesheap::Faults;

master_on();
workers(2);
no_shuffle();
run_tests();

__DATA__

=== TEST 1: two reloads under writes and reads
--- http_config eval
Tunesheap::Test::http_config(args => "pool=4")
--- init
my $master = Tunesheap::Faults::nginx_pid();
my $l = Tunesheap::Faults::load(seconds => 4, tag => 'reload',
    faults => [[1, sub { kill 'HUP', $master }],
               [2, sub { kill 'HUP', $master }]]);
Tunesheap::Faults::statuses_ok($l, [200, 201, 599], $block->name);
Tunesheap::Faults::writes_ok($l, $block->name);
my @kids;
for (1 .. 50) {
    @kids = Tunesheap::Faults::children($master);
    last if @kids <= 2;
    select(undef, undef, undef, 0.1);
}
Test::More::is(scalar @kids, 2, $block->name . " - the old workers exited");
Tunesheap::Faults::backends_ok(pool => 4, workers => 2, name => $block->name);
--- request eval
["GET /api/v1/health", "GET /api/v1/artists/4"]
--- error_code eval
[200, 200]
--- timeout: 10



=== TEST 2: SIGQUIT under writes and reads: in-flight work ends, nginx exits
Another nginx (the same configuration on the next port) takes the load
and is told to quit after 1 s; it must be gone within 5 s, every write it
acknowledged kept, its connections closed: the module's backends are as
many as before it started.
--- http_config eval
Tunesheap::Test::http_config(args => "pool=4")
--- init
my $before = Tunesheap::Faults::backends();
my $port = Tunesheap::Test::start_second_nginx();
my $root = ($ENV{TEST_NGINX_SERVROOT} // 't/servroot') . '-second';
my $master = Tunesheap::Faults::nginx_pid($root);
my @pids = ($master, Tunesheap::Faults::children($master));
my $l = Tunesheap::Faults::load(seconds => 3, tag => 'quit', port => $port,
    faults => [[1, sub { kill 'QUIT', $master }]]);
my $alive;
for (1 .. 50) {
    $alive = grep { kill 0, $_ } @pids;
    last unless $alive;
    select(undef, undef, undef, 0.1);
}
Test::More::is($alive, 0, $block->name . " - master and workers exited");
Tunesheap::Faults::statuses_ok($l, [200, 201, 599], $block->name);
Tunesheap::Faults::writes_ok($l, $block->name);
Tunesheap::Test::stop_second_nginx();
Tunesheap::Faults::backends_ok(max => $before, name => $block->name
                               . " (as many as before it started)");
--- request eval
["GET /api/v1/health", "GET /api/v1/artists/4"]
--- error_code eval
[200, 200]
--- timeout: 10
