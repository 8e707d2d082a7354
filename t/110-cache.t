# The Redis response cache: hits and misses, normalized keys, writes that
# make stale answers unreachable (also from another nginx sharing the
# Redis), request coalescing, and Redis down, slow or restarted.

use Test::Nginx::Socket 'no_plan';
use Tunesheap::Test;

our $Key = "Authorization: Bearer tsk_test_writer";
our $Json = "Content-Type: application/json";

add_block_preprocessor(sub {
    my $block = shift;
    # a cache left by another block is no longer emptied when nginx
    # connects to Redis: each block starts from an empty one
    $block->set_value('init', "Tunesheap::Test::redis_ctl('cli', 'FLUSHALL');\n"
                              . ($block->init // ''));
    $block->set_value('http_config', Tunesheap::Test::cached_config())
        unless defined $block->http_config;
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a miss, then a hit with the same body and ETag
--- request eval
["GET /api/v1/artists/4", "GET /api/v1/artists/4", "HEAD /api/v1/artists/4"]
--- error_code eval
[200, 200, 200]
--- response_headers eval
["X-Cache: MISS", "X-Cache: HIT redis", "X-Cache: HIT redis"]
--- response_body eval
[qq{{"artist":{"id":4,"name":"Jay-Z","country":"USA","description":"New York native. ","dob":"1969-12-04 00:00:00 UTC","website":"www.rocafella.com","picture_url":"https://tunesheap-content.s3.amazonaws.com/4-artist-picture"}}\n},
 qq{{"artist":{"id":4,"name":"Jay-Z","country":"USA","description":"New York native. ","dob":"1969-12-04 00:00:00 UTC","website":"www.rocafella.com","picture_url":"https://tunesheap-content.s3.amazonaws.com/4-artist-picture"}}\n},
 ""]
--- no_error_log
[error]



=== TEST 2: a hit keeps the ETag, and 304s work from the cache
--- init
my ($st, $h) = Tunesheap::Test::http(GET => "/api/v1/songs/3");
my ($st2, $h2) = Tunesheap::Test::http(GET => "/api/v1/songs/3");
Test::More::is($h->{'x-cache'}, 'MISS', 'first a miss');
Test::More::is($h2->{'x-cache'}, 'HIT redis', 'then a hit');
Test::More::is($h2->{etag}, $h->{etag}, 'with the same ETag');
my ($st3) = Tunesheap::Test::http(GET => "/api/v1/songs/3",
                                  headers => { 'if-none-match' => $h->{etag} });
Test::More::is($st3, 304, 'If-None-Match of a cached answer: 304');
--- request
GET /api/v1/songs/3
--- response_headers
X-Cache: HIT redis



=== TEST 3: the order of arguments does not matter; their values do
--- request eval
["GET /api/v1/songs?limit=2&album_id=1", "GET /api/v1/songs?album_id=1&limit=2",
 "GET /api/v1/songs?album_id=1&limit=3"]
--- response_headers eval
["X-Cache: MISS", "X-Cache: HIT redis", "X-Cache: MISS"]
--- response_body_like eval
[qr/"total":4,"limit":2,/, qr/"total":4,"limit":2,/, qr/"total":4,"limit":3,/]



=== TEST 4: lists, nested lists and searches are cached too; errors are not
--- request eval
["GET /api/v1/artists/4/albums", "GET /api/v1/artists/4/albums",
 "GET /api/v1/search?q=jay", "GET /api/v1/search?q=jay",
 "GET /api/v1/artists/99", "GET /api/v1/artists/99"]
--- error_code eval
[200, 200, 200, 200, 404, 404]
--- response_headers eval
["X-Cache: MISS", "X-Cache: HIT redis", "X-Cache: MISS", "X-Cache: HIT redis",
 "!X-Cache", "!X-Cache"]



=== TEST 5: a write makes the answers it affects unreachable at once
--- request eval
["GET /api/v1/songs/2", "GET /api/v1/albums/1/songs", "GET /api/v1/artists/4",
 "PATCH /api/v1/songs/2\n{\"song\":{\"title\":\"Takeover (remix)\"}}",
 "GET /api/v1/songs/2", "GET /api/v1/albums/1/songs", "GET /api/v1/artists/4",
 "PATCH /api/v1/songs/2\n{\"song\":{\"title\":\"Takeover\"}}", "GET /api/v1/songs/2"]
--- more_headers eval
["", "", "", "$::Key\n$::Json", "", "", "", "$::Key\n$::Json", ""]
--- response_headers eval
["X-Cache: MISS", "X-Cache: MISS", "X-Cache: MISS", "",
 "X-Cache: MISS", "X-Cache: MISS", "X-Cache: HIT redis", "", "X-Cache: MISS"]
--- response_body_like eval
[qr/"title":"Takeover"/, qr/"title":"Takeover"/, qr/"name":"Jay-Z"/,
 qr/"title":"Takeover \(remix\)"/, qr/"title":"Takeover \(remix\)"/,
 qr/"title":"Takeover \(remix\)"/, qr/"name":"Jay-Z"/,
 qr/"title":"Takeover"/, qr/"title":"Takeover"/]



=== TEST 6: a write through one nginx is seen at once through another
--- init
my $b = Tunesheap::Test::start_second_nginx();
my ($st, $h, $body) = Tunesheap::Test::http(GET => "/api/v1/albums/2", port => $b);
($st, $h, $body) = Tunesheap::Test::http(GET => "/api/v1/albums/2", port => $b);
Test::More::is($h->{'x-cache'}, 'HIT redis', 'the second node caches');
Test::More::like($body, qr/"genre":"Hip-Hop"/, 'the old genre');

($st) = Tunesheap::Test::http(PATCH => "/api/v1/albums/2",
    headers => { authorization => "Bearer tsk_test_writer",
                 "content-type" => "application/json" },
    body => '{"album":{"genre":"East Coast Hip-Hop"}}');
Test::More::is($st, 200, 'written through the first node');

($st, $h, $body) = Tunesheap::Test::http(GET => "/api/v1/albums/2", port => $b);
Test::More::like($body, qr/"genre":"East Coast Hip-Hop"/,
                 'the second node answers the new genre at once');
Test::More::is($h->{'x-cache'}, 'MISS', '... from Postgres');
Tunesheap::Test::stop_second_nginx();
--- request
GET /api/v1/albums/2
--- response_body_like chomp
"genre":"East Coast Hip-Hop"



=== TEST 7: concurrent misses of one key cost one Postgres query
Six requests for a slow artist (1 s in Postgres) arrive together: one of
them asks Postgres, the five others wait for its answer.
--- http_config eval
Tunesheap::Test::cached_config(dsn => Tunesheap::Test::slow_dsn(1))
--- init
Tunesheap::Test::sql("SELECT setval('slow.reads', 1, false)");
pipe(my $r, my $w) or die;
my @pids;
for (1 .. 6) {
    my $pid = fork // die;
    if ($pid == 0) {
        close $r;
        my ($st, $h) = Tunesheap::Test::http(GET => "/api/v1/artists/3");
        syswrite $w, "$st $h->{'x-cache'}\n";
        POSIX::_exit(0);
    }
    push @pids, $pid;
}
close $w;
waitpid $_, 0 for @pids;
my @seen = sort map { chomp; $_ } <$r>;
Test::More::is_deeply(\@seen, ["200 HIT coalesced", "200 HIT coalesced",
    "200 HIT coalesced", "200 HIT coalesced", "200 HIT coalesced", "200 MISS"],
    'one miss, five shared answers');
Test::More::is(Tunesheap::Test::sql("SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM slow.reads"),
               1, 'one query reached Postgres');
--- request
GET /api/v1/artists/3
--- response_headers
X-Cache: HIT redis
--- timeout: 10



=== TEST 8: tunesheap_cache off bypasses the cache
--- config
    location /api/v1/ {
        tunesheap_cache off;
        tunesheap_api;
    }
--- request eval
["GET /api/v1/artists/5", "GET /api/v1/artists/5"]
--- response_headers eval
["X-Cache: BYPASS", "X-Cache: BYPASS"]



=== TEST 9: health says how Redis is
--- request
GET /api/v1/health
--- error_code: 200
--- response_body
{"status":"ok","postgres":"ok","redis":"ok"}



=== TEST 10: Redis unreachable: the API answers from Postgres, health says so
--- http_config eval
Tunesheap::Test::http_config(redis => "127.0.0.1:1")
--- request eval
["GET /api/v1/artists/4", "GET /api/v1/health",
 "PATCH /api/v1/artists/5\n{\"artist\":{\"name\":\"Metallica\"}}"]
--- more_headers eval
["", "", "$::Key\n$::Json"]
--- error_code eval
[200, 200, 200]
--- response_headers eval
["X-Cache: BYPASS", "", ""]
--- response_body_like eval
[qr/"name":"Jay-Z"/, qr/^\{"status":"ok","postgres":"ok","redis":"down"\}$/,
 qr/"name":"Metallica"/]



=== TEST 11: Redis stopped and started again: answers stay right, the cache comes back
While Redis is away the answers come from Postgres; once it is back (past
the reconnect backoff, at most 2 s) the worker uses it again: a miss
stores, the next request hits.
--- request eval
["GET /api/v1/songs/4", "GET /api/v1/songs/4", "GET /api/v1/songs/4",
 "GET /api/v1/health", "GET /api/v1/songs/4", "GET /api/v1/songs/4"]
--- pg_after eval
[undef, "redis:stop", "redis:start", "sleep:2.5", undef, undef]
--- error_code eval
[200, 200, 200, 200, 200, 200]
--- response_headers eval
["X-Cache: MISS", "X-Cache: HIT redis", "X-Cache: BYPASS", "",
 "X-Cache: MISS", "X-Cache: HIT redis"]
--- response_body_like eval
[(qr/"title":"Can't Knock the Hustle"/) x 3, qr/"postgres":"ok"/,
 (qr/"title":"Can't Knock the Hustle"/) x 2]
--- timeout: 10



=== TEST 12: a slow Redis: answers come from Postgres in time, correct
Redis is kept busy for 2 s: the lookup gives up after 300 ms, the answer
comes from Postgres, and the connection is dropped until Redis is back.
--- http_config eval
Tunesheap::Test::cached_config() . "tunesheap_redis_timeout 300ms;\n"
--- request eval
["GET /api/v1/songs/5", "GET /api/v1/songs/5", "GET /api/v1/songs/6"]
--- pg_after eval
["redis-busy:2", undef, "sleep:2"]
--- error_code eval
[200, 200, 200]
--- response_headers eval
["X-Cache: MISS", "X-Cache: BYPASS", "X-Cache: BYPASS"]
--- response_body_like eval
[qr/"title":"Formation"/, qr/"title":"Formation"/, qr/"title":"Hold Up"/]
--- timeout: 10



=== TEST 13: $tunesheap_cache tells the access log which level answered
--- http_config eval
Tunesheap::Test::cached_config()
. 'log_format cache "$request_uri cache=$tunesheap_cache";' . "\n"
--- config
    location /api/v1/ {
        access_log logs/access.log cache;
        tunesheap_api;
    }
--- request
GET /api/v1/albums/6
--- error_code: 200
--- access_log
/api/v1/albums/6 cache=MISS



=== TEST 14: the key is the arguments the handler reads, as it reads them
The first of a repeated argument is the one a list reads, so the two
orders are two answers; an argument no handler reads makes no new key.
--- request eval
["GET /api/v1/artists?country=USA&country=Nowhere",
 "GET /api/v1/artists?country=Nowhere&country=USA",
 "GET /api/v1/artists?country=USA&country=Nowhere",
 "GET /api/v1/artists?country=USA&utm_source=app",
 "GET /api/v1/songs?album_id=1&limit=2",
 "GET /api/v1/songs?limit=2&album_id=1&utm_source=app&_=123",
 "GET /api/v1/search?q=jay&type=artist&limit=1",
 "GET /api/v1/search?limit=1&utm=x&type=artist&q=jay",
 "GET /api/v1/search?q=jay&type=artist&limit=1&q=beyonce",
 "GET /api/v1/artists/4?utm_source=app", "GET /api/v1/artists/4?x=1"]
--- response_headers eval
["X-Cache: MISS", "X-Cache: MISS", "X-Cache: HIT redis", "X-Cache: HIT redis",
 "X-Cache: MISS", "X-Cache: HIT redis", "X-Cache: MISS", "X-Cache: HIT redis",
 "X-Cache: HIT redis", "X-Cache: MISS", "X-Cache: HIT redis"]
--- response_body_like eval
[qr/"country":"USA"/, qr/"total":0,/, qr/"country":"USA"/,
 qr/"country":"USA"/, qr/"total":4,"limit":2,/, qr/"total":4,"limit":2,/, qr/"name":"Jay-Z"/,
 qr/"name":"Jay-Z"/, qr/"name":"Jay-Z"/, qr/"name":"Jay-Z"/,
 qr/"name":"Jay-Z"/]



=== TEST 15: Redis lookups that time out still cost one Postgres query
Redis is frozen (SIGSTOP): six requests for a slow artist (1 s in
Postgres) give up on Redis after 200 ms each, then share one query.
--- http_config eval
Tunesheap::Test::cached_config(dsn => Tunesheap::Test::slow_dsn(1))
. "tunesheap_redis_timeout 200ms;\n"
--- init
Tunesheap::Test::sql("SELECT setval('slow.reads', 1, false)");
my ($st0) = Tunesheap::Test::http(GET => "/api/v1/health");
my $pid = Tunesheap::Test::slurp("$ENV{TEST_NGINX_REDIS_DIR}/redis.pid");
chomp $pid;
kill 'STOP', $pid or die "cannot stop redis $pid";
pipe(my $r, my $w) or die;
my @pids;
for (1 .. 6) {
    my $p = fork // die;
    if ($p == 0) {
        close $r;
        my ($st, $h) = Tunesheap::Test::http(GET => "/api/v1/artists/6");
        syswrite $w, "$st $h->{'x-cache'}\n";
        POSIX::_exit(0);
    }
    push @pids, $p;
}
close $w;
waitpid $_, 0 for @pids;
kill 'CONT', $pid;
my @seen = sort map { chomp; $_ } <$r>;
Test::More::is_deeply(\@seen, ["200 BYPASS", "200 HIT coalesced",
    "200 HIT coalesced", "200 HIT coalesced", "200 HIT coalesced",
    "200 HIT coalesced"], 'one query, five shared answers');
Test::More::is(Tunesheap::Test::sql("SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM slow.reads"),
               1, 'one query reached Postgres');
--- request
GET /api/v1/health
--- error_code: 200
--- timeout: 10



=== TEST 16: items missed in one turn are fetched with one statement
Redis is frozen while three requests for artists (one that does not
exist) send their lookups; thawed, it answers them together, so their
misses come in one turn of nginx's loop: one statement (logged by
Postgres) fetches the three, and each request gets its own answer.
--- http_config eval
Tunesheap::Test::cached_config() . "tunesheap_redis_timeout 5s;\n"
--- init
my ($seen, $ran) = Tunesheap::Test::one_turn(sub {
    my ($path, $st, $h, $body) = @_;
    my ($id) = $path =~ /(\d+)$/;
    my ($name) = $body =~ /"(?:name|message)":"([^"]*)"/;
    return "$id $st " . ($h->{'x-cache'} // '-') . " $name";
}, map { "/api/v1/artists/$_" } 4, 6, 999999);
Test::More::is_deeply($seen, ["4 200 MISS Jay-Z", "6 200 MISS Radiohead",
    "999999 404 - artist 999999 not found"], 'each its own answer');
my @run = grep { /^ts_artists_items?$/ } @$ran;
Test::More::is("@run", "ts_artists_items", 'one statement for the three');
--- request
GET /api/v1/artists/4
--- error_code: 200
--- response_headers
X-Cache: HIT redis
--- timeout: 10



=== TEST 17: a request that goes away leaves its batch answering the others
Three artists (0.3 s each in Postgres) missed in one turn, as above; one
client closes its connection while their statement runs: the two others
get their artists, and nginx logs no error.
--- http_config eval
Tunesheap::Test::cached_config(dsn => Tunesheap::Test::slow_dsn(0.3))
. "tunesheap_redis_timeout 5s;\n"
--- init
Tunesheap::Test::wait_for_no_sleeping_query();
my ($st0) = Tunesheap::Test::http(GET => "/api/v1/health");
my $pid = Tunesheap::Test::slurp("$ENV{TEST_NGINX_REDIS_DIR}/redis.pid");
chomp $pid;
kill 'STOP', $pid or die "cannot stop redis $pid";
my $gone = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                 PeerPort => Tunesheap::Test::server_port())
    or die "connect: $!";
print $gone "GET /api/v1/artists/3 HTTP/1.1\r\nHost: localhost\r\n\r\n";
pipe(my $r, my $w) or die;
my @pids;
for my $id (4, 6) {
    my $p = fork // die;
    if ($p == 0) {
        close $r;
        my ($st, $h, $body) = Tunesheap::Test::http(GET => "/api/v1/artists/$id");
        my ($name) = $body =~ /"name":"([^"]*)"/;
        syswrite $w, "$id $st $name\n";
        POSIX::_exit(0);
    }
    push @pids, $p;
}
close $w;
select(undef, undef, undef, 0.5);
kill 'CONT', $pid;
Tunesheap::Test::wait_for_sleeping_query();
close $gone;
waitpid $_, 0 for @pids;
my @seen = sort map { chomp; $_ } <$r>;
Test::More::is_deeply(\@seen, ["4 200 Jay-Z", "6 200 Radiohead"],
    'the others answered');
--- request
GET /api/v1/health
--- error_code: 200
--- no_error_log
[error]
[alert]
--- timeout: 10
