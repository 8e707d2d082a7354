# At error_log debug (Debian's nginx is built --with-debug), the state
# machines say what they decided: the Postgres pool, Redis, the cache
# levels and coalescing, the shared-memory zone and the API keys.  Each
# block greps the decisions it caused, in the order they were taken.

use Test::Nginx::Socket 'no_plan';
use Tunesheap::Test;

our $Writer = "Authorization: Bearer tsk_test_writer";
our $Reader = "Authorization: Bearer tsk_test_reader";
our $Json = "Content-Type: application/json";

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('log_level', 'debug');
    $block->set_value('init', "Tunesheap::Test::redis_ctl('cli', 'FLUSHALL');\n"
                              . ($block->init // ''));
    $block->set_value('http_config', Tunesheap::Test::cached_config())
        unless defined $block->http_config;
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a miss then a hit: the cache's path and the pool's
--- init
Tunesheap::Test::http(GET => "/api/v1/artists/4");
--- request
GET /api/v1/artists/4
--- response_headers
X-Cache: HIT redis
--- grep_error_log eval
qr/tunesheap cache: (?:redis (?:miss|hit)|leads the fill|stored in redis)/
--- grep_error_log_out
tunesheap cache: redis miss
tunesheap cache: leads the fill
tunesheap cache: stored in redis
tunesheap cache: redis hit
--- error_log eval
[qr/tunesheap: postgres connection ready, fd:\d+, conns:\d+/,
 qr/tunesheap: postgres query "ts_\w+" sent, fd:\d+, in flight:0/,
 qr/tunesheap: postgres query "ts_\w+" answered, rc:0, \d+ ms/,
 qr/tunesheap: redis up, stuck:0, failures:0/,
 qr/tunesheap: redis command EVAL, args:\d+/,
 qr/tunesheap: redis reply, type:\d+/]



=== TEST 2: concurrent misses: one leads the fill, the others join it
Three requests for a slow artist (1 s in Postgres) arrive together.
--- http_config eval
Tunesheap::Test::cached_config(dsn => Tunesheap::Test::slow_dsn(1))
--- init
my @pids;
for (1 .. 3) {
    my $pid = fork // die;
    if ($pid == 0) {
        Tunesheap::Test::http(GET => "/api/v1/artists/3");
        POSIX::_exit(0);
    }
    push @pids, $pid;
}
waitpid $_, 0 for @pids;
--- request
GET /api/v1/artists/3
--- response_headers
X-Cache: HIT redis
--- grep_error_log eval
qr/tunesheap cache: (?:leads|joins|answered by) the fill/
--- grep_error_log_out
tunesheap cache: leads the fill
tunesheap cache: joins the fill
tunesheap cache: joins the fill
tunesheap cache: answered by the fill
tunesheap cache: answered by the fill
--- timeout: 10



=== TEST 3: Redis away: reconnects back off 100, 200, 400 ms; lookups bypass it
--- http_config eval
Tunesheap::Test::http_config(redis => "127.0.0.1:1")
--- init
select(undef, undef, undef, 0.8);
--- request
GET /api/v1/artists/4
--- error_code: 200
--- response_headers
X-Cache: BYPASS
--- grep_error_log eval
qr/tunesheap: redis reconnect in \d+ ms, failures:\d+/
--- grep_error_log_out eval
qr/\Atunesheap: redis reconnect in 100 ms, failures:1
tunesheap: redis reconnect in 200 ms, failures:2
tunesheap: redis reconnect in 400 ms, failures:3
/
--- error_log eval
[qr/tunesheap: redis connect to 127\.0\.0\.1:1, fd:\d+, stuck:0, failures:0/,
 qr/tunesheap cache: redis bypassed, up:0, pending:0/,
 qr/tunesheap cache: local key "ts:l:/]



=== TEST 4: Postgres away: a failed connect backs off, the read is a 503
--- http_config
tunesheap_postgres "host=127.0.0.1 port=1 dbname=tunesheap connect_timeout=1" pool=1;
--- request
GET /api/v1/artists/4
--- error_code: 503
--- error_log eval
qr/tunesheap: postgres connect failed, failures:1, backoff:100 ms, conns:0/



=== TEST 5: API keys: looked up once, then cached; a scope refused
--- http_config eval
Tunesheap::Test::cached_config() . "tunesheap_auth_cache ttl=3s;\n"
--- init
for (1 .. 2) {
    Tunesheap::Test::http(GET => "/api/v1/songs/1",
                          headers => { authorization => 'Bearer tsk_test_reader' });
}
--- request
DELETE /api/v1/songs/999999
--- more_headers eval
$::Reader
--- error_code: 403
--- grep_error_log eval
qr/tunesheap auth: key (?:not cached, looked up|looked up, \w+ "[\w-]+"|cached, \w+ "[\w-]+"|"[\w-]+" lacks scope "\w+")/
--- grep_error_log_out
tunesheap auth: key not cached, looked up
tunesheap auth: key looked up, valid "test-reader"
tunesheap auth: key cached, valid "test-reader"
tunesheap auth: key cached, valid "test-reader"
tunesheap auth: key "test-reader" lacks scope "write"



=== TEST 6: the shared-memory level: misses kept, then a hit
--- http_config eval
Tunesheap::Test::cached_config() . "tunesheap_cache_shm 1m sync=1s;\n"
--- init
Tunesheap::Test::http(GET => "/api/v1/artists/1");
select(undef, undef, undef, 0.2);
Tunesheap::Test::http(GET => "/api/v1/artists/6");
--- request
GET /api/v1/artists/6
--- response_headers
X-Cache: HIT shm
--- grep_error_log eval
qr/tunesheap (?:cache: shm (?:hit|miss)|shm: kept) "[^"]*"/
--- grep_error_log_out
tunesheap cache: shm miss "/api/v1/artists/1"
tunesheap shm: kept "/api/v1/artists/1"
tunesheap cache: shm miss "/api/v1/artists/6"
tunesheap shm: kept "/api/v1/artists/6"
tunesheap cache: shm hit "/api/v1/artists/6"



=== TEST 7: a write's invalidation: sent, then acknowledged
--- request
PATCH /api/v1/artists/4
{"artist":{"country":"USA"}}
--- more_headers eval
"$::Writer\n$::Json"
--- error_code: 200
--- error_log eval
[qr/tunesheap cache: invalidation of deps:1 sent/,
 qr/tunesheap cache: invalidation of deps:1 acknowledged, retry:0/]
