# Idempotency-Key on writes: a retry with the same key gets the first
# answer and writes nothing; another request with the key is a 422; a key
# that is not 1..255 printable ASCII is a 400; a retry after a timeout, or
# while the first is still in flight (409), still writes exactly once.
# Items made here are deleted at the end: later suites see the fixture as
# it was.

use Test::Nginx::Socket 'no_plan';
use Tunesheap::Test;

our $Key = "Authorization: Bearer tsk_test_writer";
our $Json = "Content-Type: application/json";
our $Create = '{"artist":{"name":"Idem Create","country":"Iceland"}}';
our %Writer = (Authorization => 'Bearer tsk_test_writer',
               'Content-Type' => 'application/json');

# the rows of $table named $title (the column is name or title)
sub count_rows {
    my ($table, $column, $title) = @_;
    return Tunesheap::Test::sql("SELECT count(*) FROM $table"
                                . " WHERE $column = '$title'");
}

# A write sent from a child process that gives up after $secs (closes its
# connection unanswered), the way a load balancer's timeout does.
sub give_up_write {
    my ($method, $path, $idem, $body, $secs) = @_;
    my $pid = fork // die "fork: $!";

    if ($pid == 0) {
        my $s = IO::Socket::INET->new(
            PeerAddr => '127.0.0.1',
            PeerPort => Tunesheap::Test::server_port()) or POSIX::_exit(1);
        print $s "$method $path HTTP/1.1\r\nHost: localhost\r\n"
                 . "Authorization: Bearer tsk_test_writer\r\n"
                 . "Content-Type: application/json\r\n"
                 . "Idempotency-Key: $idem\r\n"
                 . "Content-Length: " . length($body) . "\r\n"
                 . "Connection: close\r\n\r\n$body";
        select(undef, undef, undef, $secs);
        close $s;
        POSIX::_exit(0);
    }

    return $pid;
}

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a retried create answers the first answer and writes once
The first POST creates the artist; its retry, with the same key and body,
gets the same status, body, Location and ETag, marked as replayed; one
row in Postgres.
--- init
my %h = (%::Writer, 'Idempotency-Key' => 'create-1');
my ($st1, $h1, $b1) = Tunesheap::Test::http(POST => '/api/v1/artists',
    headers => \%h, body => $::Create);
my ($st2, $h2, $b2) = Tunesheap::Test::http(POST => '/api/v1/artists',
    headers => \%h, body => $::Create);
Test::More::is($st1, 201, "the first create");
Test::More::is($st2, 201, "its retry: the same status");
Test::More::is($b2, $b1, "the same body");
Test::More::like($h1->{location}, qr{^/api/v1/artists/\d+$}, "a Location");
Test::More::is($h2->{location}, $h1->{location}, "the same Location");
Test::More::like($h1->{etag}, qr/^"[0-9a-f]{32}"$/, "an ETag");
Test::More::is($h2->{etag}, $h1->{etag}, "the same ETag");
Test::More::ok(!exists $h1->{'idempotent-replayed'}, "the first is no replay");
Test::More::is($h2->{'idempotent-replayed'}, 'true', "the retry is one");
Test::More::is(main::count_rows('artists', 'name', 'Idem Create'), 1,
               "one row in Postgres");
--- request eval
"POST /api/v1/artists\n$::Create"
--- more_headers eval
"$::Key\n$::Json\nIdempotency-Key: create-1"
--- error_code: 201
--- response_headers
Idempotent-Replayed: true
--- response_body_like: ^\{"artist":\{"id":\d+,"name":"Idem Create","country":"Iceland",
--- no_error_log
[error]



=== TEST 2: a retried PATCH answers the first answer, and does not write again
Between the PATCH and its retry the row is changed behind the API's back:
the retry answers what the PATCH wrote, and the change stays.
--- init
Tunesheap::Test::sql("INSERT INTO artists (id, name) VALUES (9001, 'Idem Patch') ON CONFLICT (id) DO NOTHING");
--- request eval
["PATCH /api/v1/artists/9001\n" . '{"artist":{"description":"one"}}',
 "PATCH /api/v1/artists/9001\n" . '{"artist":{"description":"one"}}',
 "GET /api/v1/artists/9001"]
--- more_headers eval
["$::Key\n$::Json\nIdempotency-Key: patch-1",
 "$::Key\n$::Json\nIdempotency-Key: patch-1", ""]
--- pg_after eval
["sql:UPDATE artists SET description = 'changed' WHERE id = 9001", undef, undef]
--- error_code eval
[200, 200, 200]
--- response_headers eval
["!Idempotent-Replayed", "Idempotent-Replayed: true", ""]
--- response_body eval
['{"artist":{"id":9001,"name":"Idem Patch","country":null,"description":"one","dob":null,"website":null,"picture_url":null}}' . "\n",
 '{"artist":{"id":9001,"name":"Idem Patch","country":null,"description":"one","dob":null,"website":null,"picture_url":null}}' . "\n",
 '{"artist":{"id":9001,"name":"Idem Patch","country":null,"description":"changed","dob":null,"website":null,"picture_url":null}}' . "\n"]



=== TEST 3: a retried DELETE answers 204 again, not 404
--- request eval
["DELETE /api/v1/artists/9001", "DELETE /api/v1/artists/9001",
 "DELETE /api/v1/artists/9001"]
--- more_headers eval
["$::Key\nIdempotency-Key: delete-1", "$::Key\nIdempotency-Key: delete-1",
 "$::Key"]
--- error_code eval
[204, 204, 404]
--- response_headers eval
["!Idempotent-Replayed", "Idempotent-Replayed: true", "!Idempotent-Replayed"]



=== TEST 4: the same key for another body, method or path is a 422
--- request eval
["POST /api/v1/artists\n" . '{"artist":{"name":"Idem Other"}}',
 "PUT /api/v1/artists/1\n$::Create",
 "POST /api/v1/albums\n" . '{"album":{"artist_id":5,"title":"Idem Other"}}']
--- more_headers eval
["$::Key\n$::Json\nIdempotency-Key: create-1",
 "$::Key\n$::Json\nIdempotency-Key: create-1",
 "$::Key\n$::Json\nIdempotency-Key: create-1"]
--- error_code eval
[422, 422, 422]
--- response_body eval
[('{"error":{"status":422,"message":"this Idempotency-Key was used for another request: another method, path or body"}}' . "\n") x 3]



=== TEST 5: nothing was written by the 422s; keys belong to their API key
Another client using the same key, with the same body, gets its own
write, not the first client's answer.
--- init
Test::More::is(main::count_rows('artists', 'name', 'Idem Other')
               + main::count_rows('albums', 'title', 'Idem Other'), 0,
               "nothing from a 422");
Test::More::is(main::count_rows('artists', 'name', 'Idem Create'), 1,
               "artist 1 not replaced by the PUT");
Tunesheap::Test::sql("INSERT INTO api_keys (name, key_hash, scopes) SELECT 'test-idem-other', encode(sha256('tsk_test_idem_other'), 'hex'), '{read,write}' WHERE NOT EXISTS (SELECT FROM api_keys WHERE name = 'test-idem-other')");
--- request eval
"POST /api/v1/artists\n$::Create"
--- more_headers eval
"Authorization: Bearer tsk_test_idem_other\n$::Json\nIdempotency-Key: create-1"
--- error_code: 201
--- response_headers
!Idempotent-Replayed
--- response_body_like: ^\{"artist":\{"id":\d+,"name":"Idem Create"



=== TEST 6: a key that is not 1 to 255 printable ASCII characters is a 400
--- request eval
["POST /api/v1/artists\n" . '{"artist":{"name":"Idem Bad"}}',
 "POST /api/v1/artists\n" . '{"artist":{"name":"Idem Bad"}}',
 "POST /api/v1/artists\n" . '{"artist":{"name":"Idem Bad"}}',
 "DELETE /api/v1/artists/1",
 "POST /api/v1/artists\n" . '{"artist":{"name":"Idem Long"}}']
--- more_headers eval
["$::Key\n$::Json\nIdempotency-Key: " . ("k" x 256),
 "$::Key\n$::Json\nIdempotency-Key: two words",
 "$::Key\n$::Json\nIdempotency-Key: a\nIdempotency-Key: b",
 "$::Key\nIdempotency-Key: caf\x{e9}",
 "$::Key\n$::Json\nIdempotency-Key: " . ("k" x 255)]
--- error_code eval
[400, 400, 400, 400, 201]
--- response_body_like eval
['^\{"error":\{"status":400,"message":"Idempotency-Key must be given once, as 1 to 255 printable ASCII characters"\}\}$',
 '^\{"error":\{"status":400,"message":"Idempotency-Key must be given once, as 1 to 255 printable ASCII characters"\}\}$',
 '^\{"error":\{"status":400,"message":"Idempotency-Key must be given once, as 1 to 255 printable ASCII characters"\}\}$',
 '^\{"error":\{"status":400,"message":"Idempotency-Key must be given once, as 1 to 255 printable ASCII characters"\}\}$',
 '^\{"artist":\{"id":\d+,"name":"Idem Long"']



=== TEST 7: a write retried with its key after a timeout exists once
Artist 5's row is locked for 2 s: the new album's statement waits for it
until Postgres cancels it (504, nothing written).  The retry, once the
lock is gone, writes; the retry of the retry is a replay.
--- http_config eval
Tunesheap::Test::http_config() . "tunesheap_postgres_timeout 1s;\n"
--- init
my $body = '{"album":{"artist_id":5,"title":"Idem Timeout"}}';
my %h = (%::Writer, 'Idempotency-Key' => 'timeout-1');
my $holder = Tunesheap::Test::hold_artist(5, 2);
my ($st1, undef, $b1) = Tunesheap::Test::http(POST => '/api/v1/albums',
    headers => \%h, body => $body);
Test::More::is($st1, 504, "the first attempt timed out");
waitpid $holder, 0;
Test::More::is(main::count_rows('albums', 'title', 'Idem Timeout'), 0,
               "and wrote nothing");
my ($st2, $h2) = Tunesheap::Test::http(POST => '/api/v1/albums',
    headers => \%h, body => $body);
Test::More::is($st2, 201, "the retry writes");
Test::More::ok(!exists $h2->{'idempotent-replayed'}, "not as a replay");
Test::More::is(main::count_rows('albums', 'title', 'Idem Timeout'), 1,
               "one album");
--- request eval
"POST /api/v1/albums\n" . '{"album":{"artist_id":5,"title":"Idem Timeout"}}'
--- more_headers eval
"$::Key\n$::Json\nIdempotency-Key: timeout-1"
--- error_code: 201
--- response_headers
Idempotent-Replayed: true
--- response_body_like: ^\{"album":\{"id":\d+,"artist_id":5,"title":"Idem Timeout"
--- timeout: 10



=== TEST 8: a retry while the first is in flight is a 409; later, a replay
The client gives up on its album (its answer would come once artist 6's
row is unlocked, 2 s on); its retry meanwhile is a 409 at once, and the
retry after the first one's commit gets the first answer.
--- init
my $body = '{"album":{"artist_id":6,"title":"Idem Flight"}}';
my %h = (%::Writer, 'Idempotency-Key' => 'flight-1');
my $holder = Tunesheap::Test::hold_artist(6, 2);
my $client = main::give_up_write(POST => '/api/v1/albums', 'flight-1',
                                 $body, 0.3);
waitpid $client, 0;
my $t0 = time;
my ($st, undef, $b) = Tunesheap::Test::http(POST => '/api/v1/albums',
    headers => \%h, body => $body);
Test::More::is($st, 409, "a retry while the first is in flight");
Test::More::is($b, '{"error":{"status":409,"message":"a request with this Idempotency-Key is in progress: retry later"}}' . "\n", "says so");
Test::More::cmp_ok(time - $t0, '<', 1, "at once");
waitpid $holder, 0;
for (1 .. 50) {
    last if main::count_rows('albums', 'title', 'Idem Flight') > 0;
    select(undef, undef, undef, 0.1);
}
Test::More::is(main::count_rows('albums', 'title', 'Idem Flight'), 1,
               "the first one wrote");
--- request eval
"POST /api/v1/albums\n" . '{"album":{"artist_id":6,"title":"Idem Flight"}}'
--- more_headers eval
"$::Key\n$::Json\nIdempotency-Key: flight-1"
--- error_code: 201
--- response_headers
Idempotent-Replayed: true
--- response_body_like: ^\{"album":\{"id":\d+,"artist_id":6,"title":"Idem Flight"
--- timeout: 10



=== TEST 9: each write above exists exactly once; the fixture is restored
--- init
Test::More::is(main::count_rows('artists', 'name', 'Idem Create'), 2,
               "one artist per client");
Test::More::is(main::count_rows('albums', 'title', 'Idem Timeout'), 1,
               "one album after the timeout");
Test::More::is(main::count_rows('albums', 'title', 'Idem Flight'), 1,
               "one album after the 409");
Test::More::is(main::count_rows('artists', 'name', 'Idem Bad'), 0,
               "none from a 400");
Tunesheap::Test::sql("DELETE FROM albums WHERE title IN ('Idem Timeout', 'Idem Flight')");
Tunesheap::Test::sql("DELETE FROM artists WHERE name IN ('Idem Create', 'Idem Long', 'Idem Patch')");
Tunesheap::Test::sql("DELETE FROM api_keys WHERE name = 'test-idem-other'");
Tunesheap::Test::sql("DELETE FROM ts_idempotency");
Tunesheap::Test::sql("SELECT setval('albums_id_seq', max(id)) FROM albums");
Tunesheap::Test::sql("SELECT setval('artists_id_seq', max(id)) FROM artists");
--- request
GET /api/v1/artists/9001
--- error_code: 404
