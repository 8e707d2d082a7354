# Read replicas: a real streaming replica of the suite's Postgres
# (t/lib/Tunesheap/Replica.pm: pg_basebackup -R, every statement it runs
# logged).  Reads of the catalog reach it, writes never do; a write read
# back through the cache is seen even while the replica's replay is
# paused (the read goes to the primary; other resources' reads still go
# to the replica); the replica stopped, reads are answered by the primary
# without an error; started again, it is used again.

use Test::Nginx::Socket 'no_plan';
use Tunesheap::Test;
use Tunesheap::Replica;
use Time::HiRes qw(sleep time);

our %W = (authorization => "Bearer tsk_test_writer",
          "content-type" => "application/json");

Tunesheap::Replica::start();
# answers cached by earlier suites would hide where a read goes
Tunesheap::Test::redis_ctl('cli', 'FLUSHALL');

sub replica_config {
    return Tunesheap::Test::cached_config()
        . qq{tunesheap_postgres_replica "} . Tunesheap::Replica::dsn()
        . qq{";\n};
}

# the statements run on the replica while $code runs
sub on_replica {
    my ($code) = @_;
    my $mark = Tunesheap::Replica::log_mark();
    $code->();
    sleep 0.1;    # its log is written by the backend, at once; be fair
    return join ' ', Tunesheap::Replica::executed($mark);
}

# a GET: (status, body, X-Cache)
sub get {
    my ($st, $h, $body) = Tunesheap::Test::http(GET => $_[0]);
    return ($st, $body, $h->{'x-cache'} // '');
}

# waits (3 s at most) until a read of $path reaches the replica: each
# worker polls its replay every 100 ms; returns whether one did
sub reaches_replica {
    my ($path) = @_;
    my $deadline = time + 3;
    my $n = 0;

    while (time < $deadline) {
        my $ran = on_replica(sub { get($path . ($path =~ /\?/ ? '&' : '?')
                                       . "limit=" . (1 + $n++ % 99)) });
        return 1 if $ran =~ /ts_\w+/;
        sleep 0.1;
    }

    return 0;
}

# the descriptions this suite writes are put back afterwards
our %Saved = map { $_ => Tunesheap::Test::sql(
    "SELECT coalesce(description, 'NULL') FROM artists WHERE id = $_") } 6, 7;

no_shuffle();
run_tests();

for my $id (keys %Saved) {
    my $d = $Saved{$id} eq 'NULL' ? 'NULL' : "'" . $Saved{$id} =~ s/'/''/gr . "'";
    Tunesheap::Test::sql("UPDATE artists SET description = $d WHERE id = $id");
}
Tunesheap::Test::redis_ctl('cli', 'FLUSHALL');

__DATA__

=== TEST 1: reads reach the replica; writes (and their WAL positions) never do
--- http_config eval
main::replica_config()
--- init
Test::More::ok(main::reaches_replica("/api/v1/albums"),
               "a list reaches the replica once it is polled");

my $ran = main::on_replica(sub {
    my ($st, $body, $xc) = main::get("/api/v1/albums/5");
    Test::More::is($st, 200, "an item");
    Test::More::is($xc, "MISS", "not from the cache");
    Test::More::like($body, qr/"album":\{"id":5,/, "the album");
});
Test::More::like($ran, qr/\bts_albums_item\(5\)/, "the item was read on the replica");

$ran = main::on_replica(sub {
    my ($st, $body, $xc) = main::get("/api/v1/search?q=replica" . int(time));
    Test::More::is($st, 200, "a search");
    Test::More::is($xc, "MISS", "a search not from the cache");
});
Test::More::like($ran, qr/\bts_search\b/,
                 "the search was run on the replica");

my $desc = "replica test " . int(time);
$ran = main::on_replica(sub {
    my ($st, undef, $body) = Tunesheap::Test::http(PATCH => "/api/v1/artists/6",
        headers => \%main::W,
        body => qq{{"artist":{"description":"$desc"}}});
    Test::More::is($st, 200, "a write");
    Test::More::like($body, qr/"description":"\Q$desc\E"/, "written");
});
Test::More::unlike($ran, qr/ts_\w+_(?:create|update|delete)|ts_wal_lsn|ts_auth|ts_idempotency/,
                   "no write, no WAL position, no key check on the replica");
Test::More::is(Tunesheap::Test::redis_ctl('cli', 'GET', 'ts:v:artists:lsn')
               > 0 ? 1 : 0, 1, "the bump raised the artists' fence")
    or Test::More::diag(Tunesheap::Test::redis_ctl('cli', 'KEYS', '*lsn*'));
--- request
GET /api/v1/artists/6
--- error_code: 200
--- response_body_like
"description":"replica test \d+".*
--- no_error_log
[error]



=== TEST 2: replay paused: a write is read back at once, from the primary
The replica lags (it still has the old row); the write's bump raised the
artists' fence past its replay, so artists' misses go to the primary and
nothing older than the write is cached under the new versions; albums,
not written, are still read on the replica.
--- http_config eval
main::replica_config()
--- init
Test::More::ok(main::reaches_replica("/api/v1/artists"), "artists reach the replica");
my ($st, $before) = main::get("/api/v1/artists/7");
Test::More::is($st, 200, "artist 7, cached");

Tunesheap::Replica::pause();
my $desc = "lagging " . int(time * 1000);
my $ran = main::on_replica(sub {
    my ($st) = Tunesheap::Test::http(PATCH => "/api/v1/artists/7",
        headers => \%main::W,
        body => qq{{"artist":{"description":"$desc"}}});
    Test::More::is($st, 200, "the write");

    my ($st2, $body, $xc) = main::get("/api/v1/artists/7");
    Test::More::is($xc, "MISS", "the write made the cached answer stale");
    Test::More::like($body, qr/"description":"\Q$desc\E"/,
                     "read back at once: the write is there");
    (undef, $body) = main::get("/api/v1/artists?limit=50");
    Test::More::like($body, qr/"description":"\Q$desc\E"/, "in a list too");
    (undef, $body, $xc) = main::get("/api/v1/artists/7");
    Test::More::is($xc, "HIT redis", "then from the cache");
    Test::More::like($body, qr/"description":"\Q$desc\E"/,
                     "the cache holds the write, not the replica's row");
    main::get("/api/v1/albums/6");

    # If-Match is checked by the writing statement, on the primary
    my (undef, $h) = Tunesheap::Test::http(GET => "/api/v1/artists/7");
    my ($st3) = Tunesheap::Test::http(PATCH => "/api/v1/artists/7",
        headers => { %main::W, "if-match" => $h->{etag} },
        body => qq{{"artist":{"description":"$desc"}}});
    Test::More::is($st3, 200, "If-Match with the ETag just read: written");
});
Test::More::unlike($ran, qr/ts_artists_/, "no artist read on the lagging replica");
Test::More::like($ran, qr/\bts_albums_item\(6\)/, "albums still read on it");
Test::More::unlike(Tunesheap::Replica::sql(
                       "SELECT description FROM artists WHERE id = 7"),
                   qr/\Q$desc\E/, "the replica really lags");

Tunesheap::Replica::resume();
Tunesheap::Replica::wait_caught_up();
Test::More::ok(main::reaches_replica("/api/v1/artists"),
               "caught up: artists read on the replica again");
--- request
GET /api/v1/artists/7
--- error_code: 200
--- response_body_like
"description":"lagging \d+".*
--- no_error_log
[error]



=== TEST 3: replica stopped: reads are answered by the primary; started: used again
--- http_config eval
main::replica_config()
--- init
Test::More::ok(main::reaches_replica("/api/v1/songs"), "songs reach the replica");
Tunesheap::Replica::stop();
for my $i (1 .. 20) {
    my ($st, $body) = main::get("/api/v1/songs?limit=$i&offset=3");
    Test::More::is($st, 200, "read $i with the replica stopped")
        or Test::More::diag($body);
}
my ($st, $body) = main::get("/api/v1/songs/10");
Test::More::is($st, 200, "an item too");
Test::More::like($body, qr/"song":\{"id":10,/, "the song");

Tunesheap::Replica::start();
Test::More::ok(main::reaches_replica("/api/v1/songs"), "started: used again");
--- request
GET /api/v1/albums/3
--- error_code: 200



=== TEST 4: a "replica" that is not in recovery gets no reads
--- http_config eval
Tunesheap::Test::cached_config()
. qq{tunesheap_postgres_replica "$ENV{TEST_NGINX_PG_DSN} application_name=not_a_replica";\n}
--- init
sleep 0.3;
--- request
GET /api/v1/albums/4
--- error_code: 200
--- error_log
is not in recovery: no reads go to it



=== TEST 5: the directive: its errors
--- init
my $dsn = $ENV{TEST_NGINX_PG_DSN};
for (["tunesheap_postgres_replica \"$dsn\";", "needs \"tunesheap_postgres\""],
     ["tunesheap_postgres \"$dsn\"; tunesheap_postgres_replica \"\";", "needs a connection string"],
     ["tunesheap_postgres \"$dsn\"; tunesheap_postgres_replica \"$dsn\" pool=0;", "invalid parameter \"pool=0\""],
     ["tunesheap_postgres \"$dsn\"; tunesheap_postgres_replica \"$dsn\" queue=5;", "invalid parameter \"queue=5\""])
{
    Tunesheap::Test::refused_config(http => $_->[0], error => $_->[1]);
}
--- request
GET /api/v1/health
--- error_code: 200
