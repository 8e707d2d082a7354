# The shared-memory level in front of Redis: hits without a round trip,
# a short TTL, writes through any node forgotten at once, a bounded size.
# The zone answers while its workers read the fleet's versions in Redis
# (ts_sync.h), which the first lookup after a pause starts, and the first
# reading drops what the zone kept before it: each block starts with such
# a lookup, and a pause.  A wide window (sync=), so that a slow machine
# (or valgrind) still answers from the zone.

use Test::Nginx::Socket 'no_plan';
use Tunesheap::Test;

our $Key = "Authorization: Bearer tsk_test_writer";
our $Json = "Content-Type: application/json";

add_block_preprocessor(sub {
    my $block = shift;
    # a cache left by another block is no longer emptied when nginx
    # connects to Redis: each block starts from an empty one
    $block->set_value('init', "Tunesheap::Test::redis_ctl('cli', 'FLUSHALL');\n"
                              . ($block->init // <<'INIT'));
Tunesheap::Test::http(GET => "/api/v1/artists/1");
select(undef, undef, undef, 0.2);
INIT
    $block->set_value('http_config', Tunesheap::Test::cached_config()
                                     . "tunesheap_cache_shm 1m sync=1s;\n")
        unless defined $block->http_config;
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: the second answer comes from shared memory
--- request eval
["GET /api/v1/artists/6", "GET /api/v1/artists/6", "GET /api/v1/artists/6"]
--- response_headers eval
["X-Cache: MISS", "X-Cache: HIT shm", "X-Cache: HIT shm"]
--- response_body eval
[(qq{{"artist":{"id":6,"name":"Radiohead","country":"UK","description":"Oxford band; \\"OK\\" computers & more.","dob":null,"website":"radiohead.com","picture_url":null}}\n}) x 3]
--- no_error_log
[error]



=== TEST 2: a write through this node is seen at once
--- request eval
["GET /api/v1/albums/5", "GET /api/v1/albums/5",
 "PATCH /api/v1/albums/5\n{\"album\":{\"genre\":\"Alternative\"}}",
 "GET /api/v1/albums/5", "GET /api/v1/albums/5",
 "PATCH /api/v1/albums/5\n{\"album\":{\"genre\":\"Rock\"}}", "GET /api/v1/albums/5"]
--- more_headers eval
["", "", "$::Key\n$::Json", "", "", "$::Key\n$::Json", ""]

--- response_headers eval
["X-Cache: MISS", "X-Cache: HIT shm", "", "X-Cache: MISS", "X-Cache: HIT shm", "",
 "X-Cache: MISS"]
--- response_body_like eval
[qr/"genre":"Rock"/, qr/"genre":"Rock"/, qr/"genre":"Alternative"/,
 qr/"genre":"Alternative"/, qr/"genre":"Alternative"/, qr/"genre":"Rock"/,
 qr/"genre":"Rock"/]



=== TEST 3: past its TTL an answer leaves shared memory; Redis still has it
--- http_config eval
Tunesheap::Test::cached_config() . "tunesheap_cache_shm 1m sync=1s;\n"
. "tunesheap_cache_shm_ttl 300ms;\n"
--- request eval
["GET /api/v1/songs/9", "GET /api/v1/songs/9", "GET /api/v1/songs/9"]
--- pg_after eval
[undef, "sleep:0.5", undef]
--- response_headers eval
["X-Cache: MISS", "X-Cache: HIT shm", "X-Cache: HIT redis"]



=== TEST 4: a write through another node is seen here at once
This node's zone holds the song (and would for its TTL, 1 s); the write
through the other node answers once every zone has read the new versions.
--- init
my $b = Tunesheap::Test::start_second_nginx();
my ($st, $h, $body) = Tunesheap::Test::http(GET => "/api/v1/songs/10");
Test::More::like($body, qr/"title":"Karma Police"/, 'the old title here');
select(undef, undef, undef, 0.2);
Tunesheap::Test::http(GET => "/api/v1/songs/10");
($st, $h, $body) = Tunesheap::Test::http(GET => "/api/v1/songs/10");
Test::More::is($h->{'x-cache'}, 'HIT shm', 'kept in shared memory here');
($st) = Tunesheap::Test::http(PATCH => "/api/v1/songs/10", port => $b,
    headers => { authorization => "Bearer tsk_test_writer",
                 "content-type" => "application/json" },
    body => '{"song":{"title":"Karma Police (live)"}}');
Test::More::is($st, 200, 'written through the other node');
Tunesheap::Test::stop_second_nginx();
--- request
GET /api/v1/songs/10
--- response_headers
X-Cache: MISS
--- response_body_like chomp
"title":"Karma Police \(live\)"



=== TEST 5: a small zone keeps the latest answers and forgets the oldest
--- http_config eval
Tunesheap::Test::cached_config() . "tunesheap_cache_shm 32k sync=1s;\n"
--- request eval
[(map { "GET /api/v1/artists?limit=" . (7 + $_) } 1 .. 40),
 "GET /api/v1/artists?limit=47",
 "GET /api/v1/artists?limit=8"]
--- response_headers eval
[("X-Cache: MISS") x 40, "X-Cache: HIT shm", "X-Cache: HIT redis"]
--- no_error_log
[error]
[alert]



=== TEST 6: more answers than buckets: every one is found
A zone has a bucket for every 1,024 bytes: the 1m one here has 1,024, so
1,500 answers (small ones: empty pages) share buckets, and each is found
along its bucket's chain.  (A TTL that outlasts the block.)
--- http_config eval
Tunesheap::Test::cached_config() . "tunesheap_cache_shm 1m sync=1s;\n"
. "tunesheap_cache_shm_ttl 60s;\n"
--- init
Tunesheap::Test::http(GET => "/api/v1/artists/1");
select(undef, undef, undef, 0.2);
my @paths = map { "/api/v1/artists?limit=1&offset=" . (1000 + $_) } 1 .. 1500;
my ($miss, $hit) = (0, 0);
for my $path (@paths) {
    my (undef, $h) = Tunesheap::Test::http(GET => $path);
    $miss++ if ($h->{'x-cache'} // '') eq 'MISS';
}
for my $path (@paths) {
    my (undef, $h) = Tunesheap::Test::http(GET => $path);
    $hit++ if ($h->{'x-cache'} // '') eq 'HIT shm';
}
Test::More::is($miss, 1500, "1,500 answers made");
Test::More::is($hit, 1500, "and every one of them found in shared memory");
--- request
GET /api/v1/artists?limit=1&offset=1001
--- response_headers
X-Cache: HIT shm
--- no_error_log
[error]
[alert]
