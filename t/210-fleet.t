# The local fleet (t/tools/fleet.sh): three nodes behind HAProxy, one
# Postgres, one Redis.  A write through one node is read back through every
# other at once; a node stopped, a node added and a rolling reload, each
# under load, fail no request.  (A plain Test::More script: the fleet is
# many nginx processes, not the one a Test::Nginx block starts.)

use strict;
use warnings;

use Test::More;
use HTTP::Tiny ();
use File::Temp ();
use Cwd ();

my $root = Cwd::getcwd();
my $dir = File::Temp::tempdir('tunesheap-fleet-XXXXXX', TMPDIR => 1,
                              CLEANUP => 1);
chmod 0755, $dir;    # whoever nginx's workers run as

$ENV{FLEET_DIR} = $dir;
$ENV{FLEET_PORT} //= 18088;
$ENV{FLEET_NODE_PORT} //= 18100;
$ENV{FLEET_PG_PORT} //= 15435;
$ENV{FLEET_REDIS_PORT} //= 16391;
my $lb = "http://127.0.0.1:$ENV{FLEET_PORT}";
sub node { "http://127.0.0.1:" . ($ENV{FLEET_NODE_PORT} + $_[0]) }

sub fleet { system("$root/t/tools/fleet.sh", @_) == 0 }

fleet('start', 3) or BAIL_OUT("the fleet does not start");
END { fleet('stop') if $dir }

my $key = (split /\n/, `db/apikey.sh $dir/pg create fleet read,write`)[-1];
like($key, qr/^tsk_[0-9a-f]{64}$/, 'a write key');

my $http = HTTP::Tiny->new(timeout => 10);

sub call {
    my ($method, $url, $body) = @_;
    my $res = $http->request($method, $url, {
        headers => { Authorization => "Bearer $key",
                     'Content-Type' => 'application/json' },
        defined $body ? (content => $body) : (),
    });
    return ($res->{status}, $res->{content});
}

# ------------------------------------------------ read-after-write, fleet

# every node caches the list and the item first: a write through node 1
# must reach them through the cache's versions, not through a TTL
for my $k (2, 3) {
    my ($st) = call(GET => node($k) . '/api/v1/artists?country=Iceland');
    is($st, 200, "node $k: the list, cached");
}

my ($st, $body) = call(POST => node(1) . '/api/v1/artists',
                       '{"artist":{"name":"Fleet Fox","country":"Iceland"}}');
is($st, 201, 'created through node 1');
my ($id) = $body =~ /"id":(\d+)/;

for my $k (2, 3) {
    ($st, $body) = call(GET => node($k) . "/api/v1/artists/$id");
    like($body, qr/"name":"Fleet Fox"/, "node $k reads it at once");
    ($st, $body) = call(GET => node($k) . '/api/v1/artists?country=Iceland');
    like($body, qr/"name":"Fleet Fox"/, "node $k lists it at once");
}

($st) = call(PATCH => node(2) . "/api/v1/artists/$id",
             '{"artist":{"name":"Fleet Foxes"}}');
is($st, 200, 'renamed through node 2');

for my $k (1, 3) {
    ($st, $body) = call(GET => node($k) . "/api/v1/artists/$id");
    like($body, qr/"name":"Fleet Foxes"/, "node $k reads the new name");
}

# ------------------------------------------------------- under load

# every read route of the sample catalog, at random
my $paths = "$dir/paths";
open my $fh, '>', $paths or die "$paths: $!";
print $fh "/api/v1/artists/$_\n", "/api/v1/artists/$_/albums\n" for 1 .. 36;
print $fh "/api/v1/albums/$_\n", "/api/v1/albums/$_/songs\n" for 1 .. 86;
print $fh "/api/v1/songs/$_\n" for 1 .. 904;
print $fh "/api/v1/artists?limit=5&offset=$_\n" for 0 .. 30;
print $fh "/api/v1/search?q=love\n", "/api/v1/health\n";
close $fh;

# load SECONDS: wrk through HAProxy in the background; returns a sub that
# waits for it and gives its figures
sub load {
    my ($seconds) = @_;
    my $pid = open my $out, '-|';
    defined $pid or die "fork: $!";
    if ($pid == 0) {
        $ENV{BENCH_PATHS} = $paths;
        exec('timeout', $seconds + 30, 'wrk', '-t1', '-c64', "-d${seconds}s",
             '--timeout', '5s', '-s', "$root/bench/wrk.lua", $lb)
            or die "wrk: $!";
    }
    return sub {
        my %v;
        while (<$out>) {
            next unless s/^BENCH //;
            %v = map { split /=/ } split;
        }
        close $out;
        return \%v;
    };
}

sub no_failure {
    my ($v, $name) = @_;
    ok($v->{requests} > 100, "$name: $v->{requests} requests");
    is($v->{status} + $v->{connect} + $v->{read} + $v->{write}
       + $v->{timeout}, 0,
       "$name: no error status, no socket error (status=$v->{status}"
       . " connect=$v->{connect} read=$v->{read} timeout=$v->{timeout})");
}

my $wait = load(5);
select(undef, undef, undef, 1.5);
ok(fleet('node-stop', 2), 'node 2 stopped under load');
ok(fleet('wait-status', 2, 'DOWN'), 'the health check takes it out');
no_failure($wait->(), 'node 2 stopped');

$wait = load(5);
select(undef, undef, undef, 1);
ok(fleet('node-start', 4), 'node 4 started under load');
ok(fleet('wait-status', 4, 'UP'), 'the health check takes it in');
no_failure($wait->(), 'node 4 added');

my $log4 = "$dir/node4/logs/access.log";
select(undef, undef, undef, 1.5);    # the access log's buffer: flush=1s
ok(-s $log4, 'node 4 answered requests');

$wait = load(7);
for my $k (1, 3, 4) {
    select(undef, undef, undef, 1);
    ok(fleet('node-reload', $k), "node $k reloaded under load");
}
no_failure($wait->(), 'rolling reload');

for my $k (1, 3, 4) {
    ok(fleet('wait-status', $k, 'UP'), "node $k is in after its reload");
}

done_testing();
