# The local fleet with its caching proxy in front (t/tools/fleet.sh
# edge-start: nginx proxy_cache standing in for CloudFront, keyed as the
# playbook's distribution), the nodes running the shipped
# conf/tunesheap.dev.conf and so its Cache-Control: public reads are kept
# and served as hits, keyed ones never, gzip kept apart, a node's health
# never.  (t/175-proxy-cache.t measures revalidation and the write bound
# with 1 s lifetimes; here the shipped 10 s would only slow the suite.)

use strict;
use warnings;

use Test::More;
use HTTP::Tiny ();
use File::Temp ();
use Cwd ();

my $root = Cwd::getcwd();
my $dir = File::Temp::tempdir('tunesheap-edge-XXXXXX', TMPDIR => 1,
                              CLEANUP => 1);
chmod 0755, $dir;    # whoever nginx's workers run as

$ENV{FLEET_DIR} = $dir;
$ENV{FLEET_PORT} = 19088;
$ENV{FLEET_EDGE_PORT} = 19089;
$ENV{FLEET_NODE_PORT} = 19100;
$ENV{FLEET_PG_PORT} = 15436;
$ENV{FLEET_REDIS_PORT} = 16392;
my $edge = "http://127.0.0.1:$ENV{FLEET_EDGE_PORT}/api/v1";

sub fleet { system("$root/t/tools/fleet.sh", @_) == 0 }

fleet('start', 2) or BAIL_OUT("the fleet does not start");
END { fleet('stop') if $dir }
fleet('edge-start') or BAIL_OUT("the caching proxy does not start");

my $key = (split /\n/, `db/apikey.sh $dir/pg create edge read,write`)[-1];
like($key, qr/^tsk_[0-9a-f]{64}$/, 'a key');

my $http = HTTP::Tiny->new(timeout => 10);

sub get {
    my ($path, %h) = @_;
    my $res = $http->get("$edge$path", { headers => \%h });
    return ($res->{status}, $res->{headers}, $res->{content});
}

my ($st, $h, $b) = get('/artists/1');
is("$st $h->{'x-cache-status'}", '200 MISS', 'a public read: a miss');
is($h->{'cache-control'},
   'public, max-age=5, s-maxage=10, stale-while-revalidate=10',
   'with the shipped lifetimes');
is($h->{'x-content-type-options'}, 'nosniff', 'and nosniff');
my ($st2, $h2, $b2) = get('/artists/1');
is("$st2 $h2->{'x-cache-status'}", '200 HIT', 'then a hit');
is($b2, $b, 'the same body');

for my $i (1, 2) {
    ($st, $h) = get('/artists/3', Authorization => "Bearer $key");
    is("$st $h->{'x-cache-status'} $h->{'cache-control'}",
       '200 MISS private, no-store', "keyed, never kept ($i)");
}
($st, $h) = get('/artists/3');
is("$st $h->{'x-cache-status'}", '200 MISS', 'the keyed answer kept for no one');

for my $i (1, 2) {
    ($st, $h) = get('/songs?limit=20', 'Accept-Encoding' => 'gzip, br');
    is("$st $h->{'x-cache-status'} $h->{'content-encoding'}",
       ($i == 1 ? '200 MISS' : '200 HIT') . ' gzip', "gzip ($i)");
}
($st, $h, $b) = get('/songs?limit=20');
ok(!defined $h->{'content-encoding'} && $b =~ /^\{"songs":/,
   'plain for a client that does not ask');

for my $i (1, 2) {
    ($st, $h) = get('/health');
    is("$st $h->{'x-cache-status'}", '200 MISS', "health, never kept ($i)");
}

done_testing();
