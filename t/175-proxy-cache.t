# A real shared cache in front of the API, standing in for CloudFront:
# nginx's proxy_cache on a second port, keyed by the URI only (stricter
# than CloudFront, whose key holds the forwarded Authorization), keeping
# what the API's Cache-Control allows and revalidating with If-None-Match
# (proxy_cache_revalidate).  Public reads are hits, revalidated after
# s-maxage, a write is visible within s-maxage + stale-while-revalidate
# (+ tunesheap_cache_shm_ttl), keyed and write answers and errors are
# never kept or served to anyone else, and gzip goes through.

use Test::Nginx::Socket 'no_plan';
use Tunesheap::Test;
use Time::HiRes ();
use Cwd ();

our $Proxy = Tunesheap::Test::server_port() + 2;
our $Origin = Tunesheap::Test::server_port();
our $Cache = Cwd::abs_path($ENV{TEST_NGINX_SERVROOT} // 't/servroot')
    . '-proxy-cache';
our $Reader = "tsk_test_reader";
our $Writer = "tsk_test_writer";

# the API with a 1 s shared lifetime, no stale-while-revalidate: the
# suite waits for it; and the proxy
our $Http = Tunesheap::Test::cached_config()
    . Tunesheap::Test::shipped_conf('tunesheap-http.conf') . <<"END";
proxy_cache_path $Cache levels=1 keys_zone=edge:1m inactive=1m;

server {
    listen 127.0.0.1:$Proxy;
    location / {
        proxy_pass http://127.0.0.1:$Origin;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_cache edge;
        proxy_cache_revalidate on;
        add_header X-Cache-Status \$upstream_cache_status always;
    }
}
END

our $Config = Tunesheap::Test::shipped_conf('tunesheap-server.conf')
    =~ s/^tunesheap_cache_control .*$/tunesheap_cache_control max-age=1s s-maxage=1s stale-while-revalidate=0;/mr
    . "location /api/v1/ { tunesheap_api; }\n";

# one request through the proxy: (status, headers, body)
sub edge {
    my ($method, $path, %opt) = @_;
    return Tunesheap::Test::http($method, $path, port => $::Proxy, %opt);
}

sub key { return { Authorization => "Bearer $_[0]", %{ $_[1] // {} } } }

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('http_config', $Http);
    $block->set_value('config', $Config);
    system('rm', '-rf', $Cache);
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a public read: a miss, then hits, the API's headers passed on
--- init
my ($s1, $h1, $b1) = main::edge(GET => "/api/v1/artists/1");
my ($s2, $h2, $b2) = main::edge(GET => "/api/v1/artists/1");
my ($s3, $h3, $b3) = main::edge(HEAD => "/api/v1/artists/1");
Test::More::is("$s1 $h1->{'x-cache-status'}", "200 MISS", "first: a miss");
Test::More::is("$s2 $h2->{'x-cache-status'}", "200 HIT", "then a hit");
Test::More::is("$s3 $h3->{'x-cache-status'}", "200 HIT", "HEAD too");
Test::More::is($b2, $b1, "the same body");
Test::More::is($h2->{etag}, $h1->{etag}, "the same ETag");
Test::More::is($h2->{'cache-control'},
               "public, max-age=1, s-maxage=1", "the lifetime passed on");
Test::More::is($h2->{'x-content-type-options'}, "nosniff", "nosniff too");
my ($s4, $h4) = main::edge(GET => "/api/v1/artists/1",
                           headers => { 'If-None-Match' => $h1->{etag} });
Test::More::is("$s4 $h4->{'x-cache-status'}", "304 HIT",
               "the proxy answers If-None-Match itself");
--- request
GET /api/v1/artists/1
--- error_code: 200



=== TEST 2: after s-maxage the proxy revalidates with the ETag: a 304 from the API
--- init
my ($s1, $h1) = main::edge(GET => "/api/v1/albums/1");
# nginx counts whole seconds: a 1 s lifetime may last up to 2
Time::HiRes::sleep(2.2);
my ($s2, $h2) = main::edge(GET => "/api/v1/albums/1");
my ($s3, $h3) = main::edge(GET => "/api/v1/albums/1");
Test::More::is("$s1 $h1->{'x-cache-status'}", "200 MISS", "a miss");
Test::More::is("$s2 $h2->{'x-cache-status'}", "200 REVALIDATED",
               "expired: revalidated, not fetched again");
Test::More::is("$s3 $h3->{'x-cache-status'}", "200 HIT",
               "and kept for another s-maxage");
my $log = Tunesheap::Test::slurp(
    ($ENV{TEST_NGINX_SERVROOT} // 't/servroot') . "/logs/access.log");
Test::More::like($log, qr{"GET /api/v1/albums/1 HTTP/1\.1" 304 },
                 "the API answered the proxy's If-None-Match with a 304");
--- request
GET /api/v1/albums/1
--- error_code: 200



=== TEST 3: a write is visible through the proxy within s-maxage (+ the node's shm window)
--- init
my ($s1, $h1, $b1) = main::edge(GET => "/api/v1/artists/2");
my ($s2, $h2, $b2) = main::edge(PATCH => "/api/v1/artists/2",
    headers => main::key($::Writer, { 'Content-Type' => 'application/json' }),
    body => '{"artist":{"name":"Seen Through The Edge"}}');
Test::More::is($s2, 200, "the write went through the proxy");
Test::More::is($h2->{'cache-control'}, "private, no-store",
               "its answer is not to be kept");
my $t0 = Time::HiRes::time();
my ($seen, $body);
while (Time::HiRes::time() - $t0 < 5) {
    (undef, undef, $body) = main::edge(GET => "/api/v1/artists/2");
    if ($body =~ /Seen Through The Edge/) { $seen = Time::HiRes::time() - $t0; last }
    Time::HiRes::sleep(0.1);
}
# s-maxage 1 s (nginx counts whole seconds: up to 2) + the shm level's 1 s
Test::More::ok(defined $seen && $seen <= 3.2,
               "seen through the proxy within 1 s (+1) + 1 s")
    or Test::More::diag("seen after " . ($seen // 'never') . ": $body");
my ($s3) = Tunesheap::Test::http(PATCH => "/api/v1/artists/2",
    headers => main::key($::Writer, { 'Content-Type' => 'application/json' }),
    body => qq({"artist":{"name":"Bj\x{c3}\x{b6}rk"}}));
Test::More::is($s3, 200, "the name restored (bumping our cache)");
--- request
GET /api/v1/artists/2
--- error_code: 200



=== TEST 4: a keyed answer is never kept, nor served to a client without the key
--- init
my ($s1, $h1) = main::edge(GET => "/api/v1/songs/3", headers => main::key($::Reader));
my ($s2, $h2) = main::edge(GET => "/api/v1/songs/3", headers => main::key($::Reader));
my ($s3, $h3) = main::edge(GET => "/api/v1/songs/3");
my ($s4, $h4) = main::edge(GET => "/api/v1/songs/3");
Test::More::is("$s1 $h1->{'x-cache-status'} $h1->{'cache-control'}",
               "200 MISS private, no-store", "keyed: a miss, private");
Test::More::is("$s2 $h2->{'x-cache-status'}", "200 MISS",
               "keyed again: still a miss (never stored)");
Test::More::is("$s3 $h3->{'x-cache-status'} $h3->{'cache-control'}",
               "200 MISS public, max-age=1, s-maxage=1",
               "without the key: from the API, not the keyed answer");
Test::More::is("$s4 $h4->{'x-cache-status'}", "200 HIT",
               "and only the public answer is kept");
--- request
GET /api/v1/songs/3
--- error_code: 200



=== TEST 5: write answers and errors are never kept
--- init
for my $i (1, 2) {
    my ($s, $h) = main::edge(GET => "/api/v1/songs/999999");
    Test::More::is("$s $h->{'x-cache-status'}", "404 MISS", "a 404, again a miss ($i)");
    ($s, $h) = main::edge(GET => "/api/v1/songs?limit=x");
    Test::More::is("$s $h->{'x-cache-status'}", "400 MISS", "a 400, again a miss ($i)");
    ($s, $h) = main::edge(DELETE => "/api/v1/songs/999999",
                          headers => main::key($::Writer));
    Test::More::is("$s $h->{'cache-control'}", "404 private, no-store",
                   "a write's 404: private ($i)");
    ($s, $h) = main::edge(GET => "/api/v1/health");
    Test::More::is("$s $h->{'x-cache-status'}", "200 MISS", "health: never kept ($i)");
}
--- request
GET /api/v1/songs/1
--- error_code: 200



=== TEST 6: gzip through the proxy: each encoding kept apart (Vary: Accept-Encoding)
--- init
my %gz = (headers => { 'Accept-Encoding' => 'gzip' });
my ($s1, $h1, $b1) = main::edge(GET => "/api/v1/songs?limit=20", %gz);
my ($s2, $h2, $b2) = main::edge(GET => "/api/v1/songs?limit=20", %gz);
my ($s3, $h3, $b3) = main::edge(GET => "/api/v1/songs?limit=20");
my ($s4, $h4, $b4) = main::edge(GET => "/api/v1/songs?limit=20");
Test::More::is("$s1 $h1->{'x-cache-status'} $h1->{'content-encoding'}",
               "200 MISS gzip", "gzip: a miss");
Test::More::is("$s2 $h2->{'x-cache-status'} $h2->{'content-encoding'}",
               "200 HIT gzip", "gzip: a hit");
Test::More::is($h2->{vary}, "Accept-Encoding", "Vary passed on");
Test::More::is("$s3 $h3->{'x-cache-status'}", "200 MISS",
               "plain: not the gzipped copy");
Test::More::ok(!defined $h3->{'content-encoding'} && $b3 =~ /^\{"songs":/,
               "plain: plain JSON");
Test::More::is("$s4 $h4->{'x-cache-status'}", "200 HIT", "plain: a hit");
--- request
GET /api/v1/songs?limit=20
--- error_code: 200
