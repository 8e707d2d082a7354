# The Postgres pool: health, failures, timeouts, the wait queue, restarts,
# and proof that a worker never blocks on a query.

use Test::Nginx::Socket 'no_plan';
use Tunesheap::Test;
use Tunesheap::Faults;

our $Write = "Authorization: Bearer tsk_test_writer\n"
             . "Content-Type: application/json";

# The DSN through cutting_proxy(): its socket listens from now on, on a
# port the system picks.
our $ProxySocket;

sub proxy_dsn {
    $ProxySocket //= IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                           LocalPort => 0, Listen => 16)
        or die "proxy: $!\n";
    my $port = $ProxySocket->sockport;
    (my $dsn = $ENV{TEST_NGINX_PG_DSN}) =~ s/port=\d+/port=$port/;
    return $dsn;
}

# A TCP proxy in front of the suite's Postgres, for 20 s at most; its pid.
# SIGUSR1 makes it cut every connection it carries (the server only
# notices when it next reads or writes).
sub cutting_proxy {
    my ($pg_port) = $ENV{TEST_NGINX_PG_DSN} =~ /port=(\d+)/;
    my $srv = $ProxySocket // die "proxy: proxy_dsn() first\n";
    my $pid = fork // die "fork: $!";

    if ($pid) {
        close $srv;
        return $pid;
    }

    require IO::Select;
    my ($cut, %peer) = (0);
    my $sel = IO::Select->new($srv);
    local $SIG{USR1} = sub { $cut = 1 };
    my $end = time + 20;

    while (time < $end) {
        if ($cut) {
            close $_ for values %peer;
            %peer = ();
            $sel = IO::Select->new($srv);
            $cut = 0;
        }

        for my $s ($sel->can_read(0.05)) {
            if ($s == $srv) {
                my $c = $srv->accept or next;
                my $u = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                              PeerPort => $pg_port) or next;
                @peer{"$c", "$u"} = ($u, $c);
                $sel->add($c, $u);
                next;
            }

            my $other = $peer{"$s"} or next;
            my $n = sysread($s, my $buf, 65536);

            if (!$n) {
                $sel->remove($s, $other);
                delete @peer{"$s", "$other"};
                close $s;
                close $other;
                next;
            }

            syswrite($other, $buf);
        }
    }

    POSIX::_exit(0);
}

# In the background: once a statement of ours waits for a lock, the
# proxy $proxy cuts its connections.
sub cut_when_waiting {
    my ($proxy) = @_;
    my $pid = fork // die "fork: $!";
    return if $pid;

    for (1 .. 100) {
        if (Tunesheap::Test::sql("SELECT count(*) FROM pg_stat_activity"
                                 . " WHERE wait_event_type = 'Lock'"))
        {
            kill 'USR1', $proxy;
            POSIX::_exit(0);
        }
        select(undef, undef, undef, 0.05);
    }

    POSIX::_exit(1);
}

no_shuffle();
run_tests();

__DATA__

=== TEST 1: health when Postgres answers
--- request
GET /api/v1/health
--- error_code: 200
--- response_headers
Content-Type: application/json; charset=utf-8
--- response_body
{"status":"ok","postgres":"ok"}



=== TEST 2: Postgres unreachable: health says so, with the reason logged
--- http_config
    tunesheap_postgres "host=127.0.0.1 port=1 dbname=tunesheap";
--- request
GET /api/v1/health
--- error_code: 503
--- response_headers
Retry-After: 1
--- response_body
{"status":"unavailable","postgres":"down"}
--- error_log
cannot connect to postgres



=== TEST 3: Postgres unreachable: the API answers 503 at once
--- http_config
    tunesheap_postgres "host=127.0.0.1 port=1 dbname=tunesheap";
--- request eval
["GET /api/v1/artists/4", "GET /api/v1/search?q=jay", "GET /api/v1/artists"]
--- error_code eval
[503, 503, 503]
--- response_headers eval
["Retry-After: 1", "Retry-After: 1", "Retry-After: 1"]
--- response_body eval
[(qq{{"error":{"status":503,"message":"the database is unavailable"}}\n}) x 3]



=== TEST 4: a database without our schema fails at setup, clearly
--- http_config eval
Tunesheap::Test::http_config(dsn => $ENV{TEST_NGINX_PG_DSN} . " dbname=postgres")
--- request
GET /api/v1/artists/4
--- error_code: 503
--- response_body
{"error":{"status":503,"message":"the database is unavailable"}}
--- error_log eval
qr/postgres setup failed: ERROR:  relation "artists" does not exist/



=== TEST 5: a query slower than the timeout is a 504, and the pool recovers
(Health first: it answers once the search and health connections a worker
opens when it starts are set up, which would otherwise compete with the
API connection's setup for these 300 ms.)
--- http_config eval
Tunesheap::Test::http_config(dsn => Tunesheap::Test::slow_dsn(2))
. "tunesheap_postgres_timeout 300ms;\n"
--- init
Tunesheap::Test::http(GET => "/api/v1/health");
--- request eval
["GET /api/v1/artists/4", "GET /api/v1/albums/1"]
--- error_code eval
[504, 200]
--- response_body_like eval
[qr/^\{"error":\{"status":504,"message":"the database did not answer in time"\}\}$/,
 qr/^\{"album":\{"id":1,/]



=== TEST 6: past the wait queue, a fast 503
--- http_config eval
Tunesheap::Test::http_config(args => "pool=1 queue=0")
--- request
GET /api/v1/artists/4
--- error_code: 503
--- response_headers
Retry-After: 1
--- response_body
{"error":{"status":503,"message":"too many requests are waiting for the database"}}
--- error_log
postgres wait queue is full



=== TEST 7: while a slow query is in flight, the worker answers others
A request for an artist sleeps 3 s in Postgres; health, then an album, are
answered while it is still pending: the one worker (the harness runs a
single process) never waits on it.
--- http_config eval
Tunesheap::Test::http_config(dsn => Tunesheap::Test::slow_dsn(3), args => "pool=2")
--- init
Tunesheap::Test::bg_get("/api/v1/artists/4");
Tunesheap::Test::wait_for_sleeping_query();
--- request eval
["GET /api/v1/health", "GET /api/v1/albums/1"]
--- error_code eval
[200, 200]
--- response_body_like eval
[qr/^\{"status":"ok","postgres":"ok"\}$/, qr/^\{"album":\{"id":1,/]
--- bg_response_like: ^HTTP/1.1 200 OK\r\n.*\r\n\r\n\{"artist":\{"id":4,"name":"Jay-Z"
--- timeout: 10



=== TEST 8: a Postgres restart is survived without touching nginx
--- http_config eval
Tunesheap::Test::http_config(args => "pool=2")
--- request eval
["GET /api/v1/artists/4", "GET /api/v1/artists/4", "GET /api/v1/albums/2"]
--- pg_after eval
["restart", undef, undef]
--- error_code eval
[200, 200, 200]
--- response_body_like eval
[qr/"name":"Jay-Z"/, qr/"name":"Jay-Z"/, qr/"title":"Reasonable Doubt"/]
--- timeout: 30



=== TEST 9: Postgres stopped: health is 503; started again: all is well
--- request eval
["GET /api/v1/artists/4", "GET /api/v1/health", "GET /api/v1/songs/1",
 "GET /api/v1/health", "GET /api/v1/songs/1"]
--- pg_after eval
["stop", undef, "start", undef, undef]
--- error_code eval
[200, 503, 503, 200, 200]
--- response_body_like eval
[qr/"name":"Jay-Z"/, qr/^\{"status":"unavailable","postgres":"down"\}$/,
 qr/"status":503/, qr/^\{"status":"ok","postgres":"ok"\}$/,
 qr/^\{"song":\{"id":1,/]
--- timeout: 30



=== TEST 10: pipelined behind a slow query on the only connection
With one connection and room for one waiting query, the second album can
only be answered if the first was sent behind the artist on the same
connection (pipeline mode) instead of waiting.
--- http_config eval
Tunesheap::Test::http_config(dsn => Tunesheap::Test::slow_dsn(1), args => "pool=1 queue=1")
--- init
Tunesheap::Test::bg_get("/api/v1/artists/4");
Tunesheap::Test::wait_for_sleeping_query();
Tunesheap::Test::bg_get("/api/v1/albums/1");
select(undef, undef, undef, 0.3);
--- request
GET /api/v1/albums/2
--- error_code: 200
--- response_body_like: ^\{"album":\{"id":2,
--- bg_response_like eval
['^HTTP/1.1 200 OK\r\n.*\r\n\r\n\{"artist":\{"id":4,"name":"Jay-Z"',
 '^HTTP/1.1 200 OK\r\n.*\r\n\r\n\{"album":\{"id":1,']
--- bg_first
--- no_error_log
wait queue is full
--- timeout: 10



=== TEST 11: pipeline=1: one query per connection, the others wait
--- http_config eval
Tunesheap::Test::http_config(dsn => Tunesheap::Test::slow_dsn(1), args => "pool=1 queue=1 pipeline=1")
--- init
Tunesheap::Test::bg_get("/api/v1/artists/4");
Tunesheap::Test::wait_for_sleeping_query();
Tunesheap::Test::bg_get("/api/v1/albums/1");
select(undef, undef, undef, 0.3);
--- request
GET /api/v1/albums/2
--- error_code: 503
--- response_body
{"error":{"status":503,"message":"too many requests are waiting for the database"}}
--- bg_response_like eval
['^HTTP/1.1 200 OK\r\n.*\r\n\r\n\{"artist":\{"id":4,"name":"Jay-Z"',
 '^HTTP/1.1 200 OK\r\n.*\r\n\r\n\{"album":\{"id":1,']
--- error_log
postgres wait queue is full
--- timeout: 10



=== TEST 12: a query that times out takes none of those behind it along
The artist's query outlives the timeout; the album's, sent behind it on
the same connection, is answered all the same.
--- http_config eval
Tunesheap::Test::http_config(dsn => Tunesheap::Test::slow_dsn(3), args => "pool=1 queue=1")
. "tunesheap_postgres_timeout 1s;\n"
--- init
Tunesheap::Test::bg_get("/api/v1/artists/4");
Tunesheap::Test::wait_for_sleeping_query();
--- request
GET /api/v1/albums/1
--- error_code: 200
--- response_body_like: ^\{"album":\{"id":1,
--- bg_response_like: ^HTTP/1.1 504 
--- bg_first
--- timeout: 10



=== TEST 13: waiting past a small count is answered, not refused
One connection, one query at a time, no room in the count of old: the
album waits behind the slow artist and is answered within its deadline.
--- http_config eval
Tunesheap::Test::http_config(dsn => Tunesheap::Test::slow_dsn(1), args => "pool=1 pipeline=1")
--- init
Tunesheap::Test::bg_get("/api/v1/artists/4");
Tunesheap::Test::wait_for_sleeping_query();
Tunesheap::Test::bg_get("/api/v1/albums/1");
select(undef, undef, undef, 0.3);
--- request
GET /api/v1/albums/2
--- error_code: 200
--- response_body_like: ^\{"album":\{"id":2,
--- bg_response_like eval
['^HTTP/1.1 200 OK\r\n.*\r\n\r\n\{"artist":\{"id":4,"name":"Jay-Z"',
 '^HTTP/1.1 200 OK\r\n.*\r\n\r\n\{"album":\{"id":1,']
--- bg_first
--- no_error_log
wait queue is full
--- timeout: 10



=== TEST 14: a request that cannot make its deadline: 503 with Retry-After
The only connection runs one slow artist after another, each until the
server cancels it (0.9 s); the album's deadline (1 s) passes while it
waits: it is refused, and the log says how long it waited.
--- http_config eval
Tunesheap::Test::http_config(dsn => Tunesheap::Test::slow_dsn(3), args => "pool=1 pipeline=1")
. "tunesheap_postgres_timeout 1s;\n"
--- init
Tunesheap::Test::bg_get("/api/v1/artists/4");
Tunesheap::Test::wait_for_sleeping_query();
Tunesheap::Test::bg_get("/api/v1/artists/5");
select(undef, undef, undef, 0.3);
--- request
GET /api/v1/albums/1
--- error_code: 503
--- response_headers
Retry-After: 1
--- response_body
{"error":{"status":503,"message":"too many requests are waiting for the database"}}
--- bg_response_like eval
['^HTTP/1.1 504 ', '^HTTP/1.1 504 ']
--- bg_first
--- error_log eval
qr/refused: no connection within its deadline, waited \d+ ms/
--- timeout: 10



=== TEST 15: Postgres cancels a slow statement; its connection stays
statement_timeout is a margin below the deadline (a tenth: 400 ms here,
so that a loaded machine still sees the server's cancel first): the server
ends the slow artist (504), and the connection, with the album pipelined
behind it, stays open.
--- http_config eval
Tunesheap::Test::http_config(dsn => Tunesheap::Test::slow_dsn(6), args => "pool=1")
. "tunesheap_postgres_timeout 4s;\n"
--- init
Tunesheap::Test::wait_for_no_sleeping_query();
Tunesheap::Test::bg_get("/api/v1/artists/4");
Tunesheap::Test::wait_for_sleeping_query();
--- request
GET /api/v1/albums/1
--- error_code: 200
--- response_body_like: ^\{"album":\{"id":1,
--- bg_response_like: ^HTTP/1.1 504 
--- bg_first
--- error_log
postgres cancelled a statement at statement_timeout
--- no_error_log
reading from postgres failed
timed out
--- timeout: 10



=== TEST 16: a write is never sent twice: its connection breaks after sending
Postgres is reached through a proxy.  The only connection has answered
before (an album), so a read on it would be sent again on a new one.  The
new album waits for artist 5's row; meanwhile its connection is cut.  The
server goes on and writes it once the lock is gone; the pool does not
send it again (that would write it twice): the client is told its fate
is unknown, and the album exists once.  The artist's albums were cached
first: a write whose fate is unknown bumps their version before its 503,
so the list is read again, with the album.  Ids are given back after:
later suites expect the next ones.
--- http_config eval
Tunesheap::Test::http_config(dsn => main::proxy_dsn(), args => "pool=1",
                             redis => $ENV{TEST_NGINX_REDIS})
--- init
Tunesheap::Test::redis_ctl('cli', 'FLUSHALL');
my $proxy = main::cutting_proxy();
Tunesheap::Test::hold_artist(5, 2);
main::cut_when_waiting($proxy);
--- request eval
["GET /api/v1/albums?artist_id=5&limit=100",
 "POST /api/v1/albums\n" . '{"album":{"artist_id":5,"title":"Never Twice"}}',
 "GET /api/v1/albums?artist_id=5&limit=100"]
--- more_headers eval
["", $::Write, ""]
--- pg_after eval
[undef, "sleep:2.5", "sql:DELETE FROM albums WHERE title = 'Never Twice';"
 . " SELECT setval('albums_id_seq', max(id)) FROM albums"]
--- error_code eval
[200, 503, 200]
--- response_headers eval
["", "Retry-After: 1", ""]
--- response_body_like eval
['^\{"albums":\[(?!.*Never Twice)',
 '^\{"error":\{"status":503,"message":"the database connection was lost: the write may or may not have been done"\}\}$',
 '^(?!.*Never Twice.*Never Twice)\{"albums":\[.*"title":"Never Twice"']
--- timeout: 15



=== TEST 17: a write that times out is not sent again
Postgres cancels the album's statement at its deadline (504); nothing is
written, then or once the lock is gone.
--- http_config eval
Tunesheap::Test::http_config() . "tunesheap_postgres_timeout 1s;\n"
--- init
Tunesheap::Test::hold_artist(5, 2);
--- request eval
["POST /api/v1/albums\n" . '{"album":{"artist_id":5,"title":"Never Twice"}}',
 "GET /api/v1/albums?artist_id=5&limit=100"]
--- more_headers eval
[$::Write, ""]
--- pg_after eval
["sleep:1.5", "sql:SELECT setval('albums_id_seq', max(id)) FROM albums"]
--- error_code eval
[504, 200]
--- response_body_like eval
['^\{"error":\{"status":504,"message":"the database did not answer in time"\}\}$',
 '^(?!.*Never Twice)\{"albums":\[']
--- timeout: 10



=== TEST 18: health answers while the queue is full
One connection, one query at a time, a queue of two, all taken by slow
reads (2 s each) of three resources (misses of one resource in one turn
share a statement, so each takes its own place): a list is refused,
health is answered at once, from its own connection, while every read is
still pending.
--- http_config eval
Tunesheap::Test::http_config(dsn => Tunesheap::Test::slow_dsn(2), args => "pool=1 pipeline=1 queue=2")
. "tunesheap_postgres_timeout 10s;\n"
--- init
Tunesheap::Test::bg_get("/api/v1/artists/4");
Tunesheap::Test::wait_for_sleeping_query();
Tunesheap::Test::bg_get("/api/v1/albums/2");
Tunesheap::Test::bg_get("/api/v1/songs/1");
select(undef, undef, undef, 0.3);
my ($st, undef, $body) = Tunesheap::Test::http(GET => "/api/v1/artists?limit=1");
Test::More::is($st, 503, "the queue is full: a list is refused");
Test::More::like($body, qr/too many requests are waiting/, "says why");
--- request
GET /api/v1/health
--- error_code: 200
--- response_body
{"status":"ok","postgres":"ok"}
--- bg_response_like eval
['^HTTP/1.1 200 OK\r\n.*\r\n\r\n\{"artist":\{"id":4,',
 '^HTTP/1.1 200 OK\r\n.*\r\n\r\n\{"album":\{"id":2,',
 '^HTTP/1.1 200 OK\r\n.*\r\n\r\n\{"song":\{"id":1,']
--- error_log
postgres wait queue is full
--- timeout: 15



=== TEST 19: a worker opens its search and health connections when it starts
The search lane's connections (search=3 here, each warmed by
ts_search_warm()) and the
health lane's one open when the worker starts, not on the first search;
health answers once they are set up, so the balancer's first check finds
every one of them idle, warm.  Here each warm-up takes 1 s more (a
ts_search_warm() of its own schema first on the search path), so a check
that did not wait would find them busy.  (application_name tells this
block's backends from earlier blocks'.)
--- http_config eval
Tunesheap::Test::sql("CREATE SCHEMA IF NOT EXISTS warmslow;"
    . " GRANT USAGE ON SCHEMA warmslow TO PUBLIC;"
    . " CREATE OR REPLACE FUNCTION warmslow.ts_search_warm() RETURNS void"
    . " LANGUAGE plpgsql AS 'BEGIN PERFORM pg_sleep(1);"
    . " PERFORM public.ts_search_warm(); END'");
Tunesheap::Test::http_config(dsn => "$ENV{TEST_NGINX_PG_DSN} application_name=warmtest"
                                    . " options='-c search_path=warmslow,public'",
                             args => "search=3")
--- init
my ($st) = Tunesheap::Test::http(GET => "/api/v1/health");
Test::More::is($st, 200, "health answers");
Test::More::is(Tunesheap::Test::sql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'warmtest'"),
               4, "the search lane's 3 and health's 1 are open, none of the API's yet");
Test::More::is(Tunesheap::Test::sql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'warmtest' AND state = 'idle'"),
               4, "and done with their setup (a search connection's ends with its warm-up)");
--- request
GET /api/v1/search?q=jay&type=artist
--- error_code: 200
--- response_body_like chomp
^\{"artists":\[\{"id":4,"name":"Jay-Z"



=== TEST 20: an idle worker stops polling Postgres and Redis
A Postgres or Redis socket with answers due is also read once a turn of
the event loop (ts_event_poll(), a 1 ms timer), not only when epoll gets
to it.  Once nothing is due the timer stops: over a second of quiet the
worker wakes for its few timers, not a thousand times.
--- http_config eval
Tunesheap::Test::cached_config()
--- init
for my $path ('/api/v1/artists/4', '/api/v1/songs/1', '/api/v1/albums/1/songs',
              '/api/v1/search?q=jay', '/api/v1/artists?limit=3') {
    my ($st) = Tunesheap::Test::http(GET => $path);
    Test::More::is($st, 200, "GET $path, through Redis and Postgres");
}
my $nginx = Tunesheap::Faults::nginx_pid();
my @workers = Tunesheap::Faults::children($nginx);
my $pid = $workers[0] // $nginx;
my $wakes = sub {
    open my $fh, '<', "/proc/$pid/status" or return -1;
    my $n = 0;
    while (<$fh>) { $n += $1 if /^(?:non)?voluntary_ctxt_switches:\s+(\d+)/ }
    return $n;
};
select(undef, undef, undef, 0.5);
my $before = $wakes->();
select(undef, undef, undef, 1);
my $n = $wakes->() - $before;
Test::More::cmp_ok($n, '<', 100, "an idle second woke the worker $n times");
--- request
GET /api/v1/health
--- error_code: 200



=== TEST 21: a database that checks no encoding (SQL_ASCII) is refused
Answers are made of Postgres's text without checking it again as UTF-8
(ts_json_gen_db()): that holds only when the server converts and checks
it, which SQL_ASCII does not.
--- init
Tunesheap::Test::sql("CREATE DATABASE ts_sql_ascii ENCODING 'SQL_ASCII'"
                     . " TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C'")
    unless Tunesheap::Test::sql("SELECT count(*) FROM pg_database"
                                . " WHERE datname = 'ts_sql_ascii'");
--- http_config eval
Tunesheap::Test::http_config(dsn => $ENV{TEST_NGINX_PG_DSN}
                                    . " dbname=ts_sql_ascii")
--- request
GET /api/v1/artists/4
--- error_code: 503
--- response_body
{"error":{"status":503,"message":"the database is unavailable"}}
--- error_log
the postgres database's encoding is SQL_ASCII



=== TEST 22: a prepared statement keeps its own text, not the whole setup
The setup's statements go one by one: Postgres keeps a prepared
statement's query string and copies it twice on every run, and a PREPARE
sent in one string with the others kept all of them (200 KB).  A
backend's last query is the text of the statement it last ran: one
statement, no semicolon.  (application_name tells this block's backends
from earlier blocks'.)
--- http_config eval
Tunesheap::Test::http_config(dsn => "$ENV{TEST_NGINX_PG_DSN} application_name=setuptext")
--- init
my ($st) = Tunesheap::Test::http(GET => "/api/v1/artists/4");
Test::More::is($st, 200, "the artist answers");
Test::More::is(Tunesheap::Test::sql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'setuptext' AND query LIKE 'PREPARE ts\\_artists\\_item% AS SELECT %'"),
               1, "its backend last ran the artist's statement");
Test::More::is(Tunesheap::Test::sql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'setuptext' AND query LIKE '%;%'"),
               0, "and no backend's statement is more than itself");
--- request
GET /api/v1/songs/1
--- error_code: 200
--- response_body_like chomp
^\{"song":\{"id":1,



=== TEST 23: by default a worker has one search connection
Searches cost Postgres CPU: more of them side by side than it has cores
make each dearer, so a worker keeps one search connection unless
search=N says more (up to 4 searches in flight on each), beside the
health check's one; the API's open on demand.
--- http_config eval
Tunesheap::Test::http_config(dsn => "$ENV{TEST_NGINX_PG_DSN} application_name=searchone")
--- init
my ($st) = Tunesheap::Test::http(GET => "/api/v1/health");
Test::More::is($st, 200, "health answers");
Test::More::is(Tunesheap::Test::sql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'searchone'"),
               2, "one search connection and the health check's are open");
for my $q ('jay', 'love', 'night') {
    my ($s) = Tunesheap::Test::http(GET => "/api/v1/search?q=$q");
    Test::More::is($s, 200, "search $q answers");
}
Test::More::is(Tunesheap::Test::sql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'searchone'"),
               2, "and searches opened no other");
my $dsn = $ENV{TEST_NGINX_PG_DSN};
for my $bad ('search=0', 'search=x', 'search=') {
    Tunesheap::Test::refused_config(http => qq{tunesheap_postgres "$dsn" $bad;},
                                    error => qq{invalid parameter "$bad"});
}
--- request
GET /api/v1/search?q=jay&type=artist
--- error_code: 200
--- response_body_like chomp
^\{"artists":\[\{"id":4,"name":"Jay-Z"



=== TEST 24: a search waits on its connection behind another, not in the worker
One search connection and no queue in the worker (queue=0: a request
that finds no room is refused): a search sent while another is still in
Postgres (reading the slow artists: 1 s each, and earlier suites may
have added more of them, so the deadline is long) goes behind it on the same
connection, up to 4 in flight, and both are answered.  One search at a
time on it, the second would be refused.  (Health first: until the
search connection is set up, a search finds no room either.)
--- http_config eval
Tunesheap::Test::http_config(dsn => Tunesheap::Test::slow_dsn(1), args => "search=1 queue=0")
. "tunesheap_postgres_timeout 30s;\n"
--- init
my ($st) = Tunesheap::Test::http(GET => "/api/v1/health");
Test::More::is($st, 200, "health answers once the search connection is set up");
Tunesheap::Test::bg_get("/api/v1/search?q=jay&type=artist&limit=1");
Tunesheap::Test::wait_for_sleeping_query();
--- request
GET /api/v1/search?q=lemonade&type=album
--- error_code: 200
--- response_body_like chomp
^\{"albums":\[\{"id":3,"artist_id":\d+,"title":"Lemonade"
--- bg_response_like eval
['^HTTP/1.1 200 OK\r\n.*\r\n\r\n\{"artists":\[\{"id":4,"name":"Jay-Z"']
--- bg_first
--- timeout: 40
