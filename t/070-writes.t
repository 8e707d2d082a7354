# Writes: create, replace, update, delete; ETags and If-Match; 409 for a
# parent that still has children; parallel read-modify-write loses nothing.
# Items made here are deleted here: later suites see the fixture as it was.

use Test::Nginx::Socket 'no_plan';
use Tunesheap::Test;

our $Key = "Authorization: Bearer tsk_test_writer";
our $Json = "Content-Type: application/json";

no_shuffle();
run_tests();

__DATA__

=== TEST 1: create an artist: 201, Location, ETag, the new item
--- request
POST /api/v1/artists
{"artist":{"name":"Ólafur Arnalds","country":"Iceland","dob":"1986-11-03","website":"olafurarnalds.com"}}
--- more_headers eval
"$::Key\n$::Json"
--- error_code: 201
--- response_headers
Location: /api/v1/artists/8
Content-Type: application/json; charset=utf-8
ETag: "ecb7081704f104766fbd303894b3cc44"
--- response_body
{"artist":{"id":8,"name":"Ólafur Arnalds","country":"Iceland","description":null,"dob":"1986-11-03 00:00:00 UTC","website":"olafurarnalds.com","picture_url":null}}
--- no_error_log
[error]



=== TEST 2: it reads back from Postgres as written, with the same ETag
--- init
my ($st, $h, $body) = Tunesheap::Test::http(GET => "/api/v1/artists/8");
Test::More::is($st, 200, "read back");
Test::More::is(Tunesheap::Test::sql("SELECT name || '|' || country || '|' || to_char(dob AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') FROM artists WHERE id = 8"),
               "Ólafur Arnalds|Iceland|1986-11-03 00:00", "the row in Postgres");
--- request
GET /api/v1/artists/8
--- error_code: 200
--- response_headers
ETag: "ecb7081704f104766fbd303894b3cc44"
--- response_body
{"artist":{"id":8,"name":"Ólafur Arnalds","country":"Iceland","description":null,"dob":"1986-11-03 00:00:00 UTC","website":"olafurarnalds.com","picture_url":null}}



=== TEST 3: PATCH changes only the fields given
--- request
PATCH /api/v1/artists/8
{"artist":{"description":"Composer.","picture_url":"https://tunesheap-content.s3.amazonaws.com/8-artist-picture"}}
--- more_headers eval
"$::Key\n$::Json"
--- error_code: 200
--- response_headers_like
ETag: "[0-9a-f]{32}"
--- response_body
{"artist":{"id":8,"name":"Ólafur Arnalds","country":"Iceland","description":"Composer.","dob":"1986-11-03 00:00:00 UTC","website":"olafurarnalds.com","picture_url":"https://tunesheap-content.s3.amazonaws.com/8-artist-picture"}}



=== TEST 4: PUT replaces the whole item: what is left out becomes null
--- request
PUT /api/v1/artists/8
{"artist":{"name":"Olafur Arnalds","country":"IS"}}
--- more_headers eval
"$::Key\n$::Json"
--- error_code: 200
--- response_body
{"artist":{"id":8,"name":"Olafur Arnalds","country":"IS","description":null,"dob":null,"website":null,"picture_url":null}}



=== TEST 5: an album and a song for the new artist
--- request eval
["POST /api/v1/albums\n" . '{"album":{"artist_id":8,"title":"re:member","release_date":"2018-08-24","genre":"Neo-classical"}}',
 "POST /api/v1/songs\n" . '{"song":{"album_id":7,"artist_id":8,"title":"saman","track_number":2,"duration_ms":182000}}']
--- more_headers eval
["$::Key\n$::Json", "$::Key\n$::Json"]
--- error_code eval
[201, 201]
--- response_headers eval
["Location: /api/v1/albums/7", "Location: /api/v1/songs/13"]
--- response_body eval
[qq{{"album":{"id":7,"artist_id":8,"title":"re:member","release_date":"2018-08-24","genre":"Neo-classical","cover_url":null}}\n},
 qq{{"song":{"id":13,"album_id":7,"artist_id":8,"title":"saman","track_number":2,"duration_ms":182000,"audio":null,"stream_url":null}}\n}]



=== TEST 6: no silent cascade: an artist or album with children is a 409
--- request eval
["DELETE /api/v1/artists/8", "DELETE /api/v1/albums/7", "GET /api/v1/artists/8/albums"]
--- more_headers eval
[$::Key, $::Key, ""]
--- error_code eval
[409, 409, 200]
--- response_body eval
[qq{{"error":{"status":409,"message":"artist 8 still has albums: delete them first"}}\n},
 qq{{"error":{"status":409,"message":"album 7 still has songs: delete them first"}}\n},
 qq{{"albums":[{"id":7,"artist_id":8,"title":"re:member","release_date":"2018-08-24","genre":"Neo-classical","cover_url":null}],"meta":{"total":1,"limit":20,"offset":0,"next":null,"previous":null}}\n}]
--- no_error_log
[error]



=== TEST 7: If-Match: the current ETag writes, an old one is a 412 and writes nothing
--- init
my ($st, $h) = Tunesheap::Test::http(GET => "/api/v1/songs/13");
my $tag = $h->{etag};
my %w = (authorization => "Bearer tsk_test_writer",
         "content-type" => "application/json");

($st, my $h2, my $body) = Tunesheap::Test::http(PATCH => "/api/v1/songs/13",
    headers => { %w, "if-match" => $tag },
    body => '{"song":{"title":"saman (live)"}}');
Test::More::is($st, 200, "PATCH with the current ETag");
Test::More::isnt($h2->{etag}, $tag, "the ETag changed");

($st, undef, $body) = Tunesheap::Test::http(PATCH => "/api/v1/songs/13",
    headers => { %w, "if-match" => $tag },
    body => '{"song":{"title":"lost update"}}');
Test::More::is($st, 412, "PATCH with the old ETag");
Test::More::like($body, qr/"status":412,"message":"song 13 has changed: If-Match does not match its ETag"/, "412 body");

($st) = Tunesheap::Test::http(DELETE => "/api/v1/songs/13",
    headers => { %w, "if-match" => $tag });
Test::More::is($st, 412, "DELETE with the old ETag");

($st) = Tunesheap::Test::http(PUT => "/api/v1/songs/13",
    headers => { %w, "if-match" => "W/$h2->{etag}" },
    body => '{"song":{"album_id":7,"artist_id":8,"title":"weak"}}');
Test::More::is($st, 412, "a weak ETag never matches If-Match");
--- request
GET /api/v1/songs/13
--- error_code: 200
--- response_body
{"song":{"id":13,"album_id":7,"artist_id":8,"title":"saman (live)","track_number":2,"duration_ms":182000,"audio":null,"stream_url":null}}



=== TEST 8: If-Match: * needs the item to exist
--- request eval
["PATCH /api/v1/songs/13\n{\"song\":{\"track_number\":0}}",
 "PATCH /api/v1/songs/999\n{\"song\":{\"track_number\":0}}"]
--- more_headers eval
["$::Key\n$::Json\nIf-Match: *", "$::Key\n$::Json\nIf-Match: *"]
--- error_code eval
[200, 404]
--- response_body_like eval
[qr/"track_number":0,/, qr/"message":"song 999 not found"/]



=== TEST 9: parallel read-modify-write with If-Match loses no update
Six clients each add 1 to a song's track number five times, reading it,
then writing it back with If-Match and retrying on 412: all 30 count.
--- init
my $kids = 6;
my $times = 5;
my @pids;
for my $k (1 .. $kids) {
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        my $done = 0;
        my $deadline = time + 20;
        while ($done < $times && time < $deadline) {
            my ($st, $h, $body) = Tunesheap::Test::http(GET => "/api/v1/songs/13");
            my ($n) = $body =~ /"track_number":(\d+)/;
            ($st) = Tunesheap::Test::http(PATCH => "/api/v1/songs/13",
                headers => { authorization => "Bearer tsk_test_writer",
                             "content-type" => "application/json",
                             "if-match" => $h->{etag} },
                body => '{"song":{"track_number":' . ($n + 1) . '}}');
            $done++ if $st == 200;
        }
        POSIX::_exit($done == $times ? 0 : 1);
    }
    push @pids, $pid;
}
my $ok = 0;
for my $pid (@pids) {
    waitpid $pid, 0;
    $ok++ if $? == 0;
}
Test::More::is($ok, $kids, "every client made its five increments");
--- request
GET /api/v1/songs/13
--- error_code: 200
--- response_body_like chomp
"track_number":30,
--- timeout: 30



=== TEST 10: blind PATCHes of different fields in parallel both stay
--- init
my @pids;
for my $field (qw(title duration_ms)) {
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        for my $i (1 .. 20) {
            my $v = $field eq 'title' ? "\"take $i\"" : 1000 * $i;
            Tunesheap::Test::http(PATCH => "/api/v1/songs/13",
                headers => { authorization => "Bearer tsk_test_writer",
                             "content-type" => "application/json" },
                body => "{\"song\":{\"$field\":$v}}");
        }
        POSIX::_exit(0);
    }
    push @pids, $pid;
}
waitpid $_, 0 for @pids;
--- request
GET /api/v1/songs/13
--- error_code: 200
--- response_body
{"song":{"id":13,"album_id":7,"artist_id":8,"title":"take 20","track_number":30,"duration_ms":20000,"audio":null,"stream_url":null}}



=== TEST 11: delete children first, then the parent: 204s, then 404s
--- request eval
["DELETE /api/v1/songs/13", "DELETE /api/v1/albums/7", "DELETE /api/v1/artists/8",
 "GET /api/v1/artists/8", "DELETE /api/v1/artists/8"]
--- more_headers eval
[$::Key, $::Key, $::Key, "", $::Key]
--- error_code eval
[204, 204, 204, 404, 404]
--- response_body eval
["", "", "", qq{{"error":{"status":404,"message":"artist 8 not found"}}\n},
 qq{{"error":{"status":404,"message":"artist 8 not found"}}\n}]



=== TEST 12: writes to items that do not exist, or with bad ids
--- request eval
["PUT /api/v1/albums/999\n" . '{"album":{"artist_id":4,"title":"x"}}',
 "PATCH /api/v1/artists/999\n" . '{"artist":{"name":"x"}}',
 "DELETE /api/v1/songs/999", "DELETE /api/v1/songs/abc"]
--- more_headers eval
["$::Key\n$::Json", "$::Key\n$::Json", $::Key, $::Key]
--- error_code eval
[404, 404, 404, 400]
--- response_body eval
[qq{{"error":{"status":404,"message":"album 999 not found"}}\n},
 qq{{"error":{"status":404,"message":"artist 999 not found"}}\n},
 qq{{"error":{"status":404,"message":"song 999 not found"}}\n},
 qq{{"error":{"status":400,"message":"song id must be a non-negative integer"}}\n}]



=== TEST 13: If-Match lists that cannot match: a 412, never an error
--- request eval
[("PATCH /api/v1/songs/1\n{\"song\":{\"title\":\"x\"}}") x 4, "GET /api/v1/songs/1"]
--- more_headers eval
["$::Key\n$::Json\nIf-Match: \"zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz\", \"short\"",
 "$::Key\n$::Json\nIf-Match: W/\"0123456789abcdef0123456789abcdef\"",
 "$::Key\n$::Json\nIf-Match: \"{,}\", \"',\\\"\", ,,",
 "$::Key\n$::Json\nIf-Match: \"0123456789ABCDEF0123456789ABCDEF\"", ""]
--- error_code eval
[412, 412, 412, 412, 200]
--- response_body_like eval
[(qr/"status":412,"message":"song 1 has changed/) x 4,
 qr/"title":"The Ruler's Back"/]
--- no_error_log
[error]
