# Bad writes: every status and rule, and that a rejected write changed
# nothing.

use Test::Nginx::Socket 'no_plan';
use Tunesheap::Test;

our $Key = "Authorization: Bearer tsk_test_writer";
our $Json = "Content-Type: application/json";
our $Artist5 = qq{{"artist":{"id":5,"name":"Metallica","country":"USA","description":"Thrash metal.","dob":null,"website":"metallica.com","picture_url":null}}\n};

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a body that is not JSON by its Content-Type is a 415
--- request eval
["POST /api/v1/artists\n{\"artist\":{\"name\":\"x\"}}",
 "PATCH /api/v1/artists/5\n{\"artist\":{\"name\":\"x\"}}",
 "PUT /api/v1/artists/5\n{\"artist\":{\"name\":\"x\"}}"]
--- more_headers eval
["$::Key\nContent-Type: text/plain", $::Key,
 "$::Key\nContent-Type: application/jsonx"]
--- error_code eval
[415, 415, 415]
--- response_body eval
[(qq{{"error":{"status":415,"message":"Content-Type must be application/json"}}\n}) x 3]



=== TEST 2: JSON with a charset is JSON
--- request
PATCH /api/v1/artists/5
{"artist":{"name":"Metallica"}}
--- more_headers eval
"$::Key\nContent-Type: Application/JSON; charset=utf-8"
--- error_code: 200
--- response_body eval
$::Artist5



=== TEST 3: a body over the limit is a 413, by length or once read
--- config
    location /api/v1/ {
        tunesheap_max_body_size 100;
        tunesheap_api;
    }
--- request eval
["POST /api/v1/artists\n{\"artist\":{\"name\":\"" . ("x" x 200) . "\"}}",
 "PATCH /api/v1/artists/5\n{\"artist\":{\"name\":\"Metallica\"}}"]
--- more_headers eval
["$::Key\n$::Json", "$::Key\n$::Json"]
--- error_code eval
[413, 200]
--- response_body eval
[qq{{"error":{"status":413,"message":"the body is larger than 100 bytes"}}\n},
 $::Artist5]



=== TEST 4: a chunked body over the limit is a 413 too
--- config
    location /api/v1/ {
        tunesheap_max_body_size 100;
        tunesheap_api;
    }
--- raw_request eval
my $chunk = '{"artist":{"name":"' . ("y" x 150) . '"}}';
"POST /api/v1/artists HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
. "Authorization: Bearer tsk_test_writer\r\nContent-Type: application/json\r\n"
. "Transfer-Encoding: chunked\r\n\r\n"
. sprintf("%x\r\n%s\r\n0\r\n\r\n", length($chunk), $chunk)
--- error_code: 413
--- response_body
{"error":{"status":413,"message":"the body is larger than 100 bytes"}}



=== TEST 5: malformed bodies are 400s
--- request eval
["PATCH /api/v1/artists/5\n{\"artist\":",
 "PATCH /api/v1/artists/5\nnot json",
 "PATCH /api/v1/artists/5\n{\"artist\":{\"name\":\"\xff\xfe\"}}",
 "PATCH /api/v1/artists/5\n{\"artist\":{\"name\":\"a\\u0000b\"}}",
 "PATCH /api/v1/artists/5\n" . ("[" x 40) . ("]" x 40),
 "PATCH /api/v1/artists/5\n{\"artist\":{}} trailing"]
--- more_headers eval
[("$::Key\n$::Json") x 6]
--- error_code eval
[400, 400, 400, 400, 400, 400]
--- response_body eval
[qq{{"error":{"status":400,"message":"the body is not valid JSON"}}\n},
 qq{{"error":{"status":400,"message":"the body is not valid JSON"}}\n},
 qq{{"error":{"status":400,"message":"the body is not valid JSON"}}\n},
 qq{{"error":{"status":400,"message":"strings in the body must not contain \\\\u0000"}}\n},
 qq{{"error":{"status":400,"message":"the body nests too deeply"}}\n},
 qq{{"error":{"status":400,"message":"the body is not valid JSON"}}\n}]
--- no_error_log
[error]



=== TEST 6: an empty body is a 400
--- request
POST /api/v1/artists
--- more_headers eval
"$::Key\n$::Json\nContent-Length: 0"
--- error_code: 400
--- response_body
{"error":{"status":400,"message":"a JSON body is required"}}



=== TEST 7: every problem is named at once, and nothing is written
--- request eval
["PATCH /api/v1/artists/5\n" . '{"artist":{"name":"","dob":"1969-02-30","country":5,"website":null,"bogus":true,"id":9}}',
 "GET /api/v1/artists/5"]
--- more_headers eval
["$::Key\n$::Json", ""]
--- error_code eval
[422, 200]
--- response_headers eval
["Content-Type: application/json; charset=utf-8", ""]
--- response_body eval
[qq{{"error":{"status":422,"message":"validation failed","fields":{"name":"must not be empty","dob":"is not a date","country":"must be a string","bogus":"is not a field of artist","id":"cannot be set"}}}\n},
 $::Artist5]
--- raw_response_headers_like eval
["^HTTP/1.1 422 Unprocessable Entity\r\n", "^HTTP/1.1 200 OK\r\n"]



=== TEST 8: the body's shape
--- request eval
["POST /api/v1/artists\n{\"artist\":{}}",
 "POST /api/v1/artists\n{\"band\":{\"name\":\"x\"}}",
 "POST /api/v1/artists\n[]",
 "POST /api/v1/artists\n{\"artist\":\"x\"}",
 "POST /api/v1/artists\n{\"artist\":{\"name\":\"a\",\"name\":\"b\"}}"]
--- more_headers eval
[("$::Key\n$::Json") x 5]
--- error_code eval
[422, 422, 422, 422, 422]
--- response_body eval
[qq{{"error":{"status":422,"message":"validation failed","fields":{"name":"is required"}}}\n},
 qq{{"error":{"status":422,"message":"validation failed","fields":{"band":"is not allowed here","artist":"is required"}}}\n},
 qq{{"error":{"status":422,"message":"validation failed","fields":{"artist":"is required"}}}\n},
 qq{{"error":{"status":422,"message":"validation failed","fields":{"artist":"must be an object"}}}\n},
 qq{{"error":{"status":422,"message":"validation failed","fields":{"name":"is given more than once"}}}\n}]



=== TEST 9: references to items that do not exist, all of them named
--- request eval
["POST /api/v1/albums\n" . '{"album":{"artist_id":999,"title":"Ghost"}}',
 "POST /api/v1/songs\n" . '{"song":{"album_id":999,"artist_id":998,"title":"Ghost"}}',
 "PATCH /api/v1/songs/1\n" . '{"song":{"album_id":997}}',
 "GET /api/v1/albums?artist_id=999", "GET /api/v1/songs/1"]
--- more_headers eval
["$::Key\n$::Json", "$::Key\n$::Json", "$::Key\n$::Json", "", ""]
--- error_code eval
[422, 422, 422, 200, 200]
--- response_body eval
[qq{{"error":{"status":422,"message":"validation failed","fields":{"artist_id":"artist 999 does not exist"}}}\n},
 qq{{"error":{"status":422,"message":"validation failed","fields":{"album_id":"album 999 does not exist","artist_id":"artist 998 does not exist"}}}\n},
 qq{{"error":{"status":422,"message":"validation failed","fields":{"album_id":"album 997 does not exist"}}}\n},
 qq{{"albums":[],"meta":{"total":0,"limit":20,"offset":0,"next":null,"previous":null}}\n},
 qq{{"song":{"id":1,"album_id":1,"artist_id":4,"title":"The Ruler's Back","track_number":1,"duration_ms":229000,"audio":null,"stream_url":null}}\n}]
--- no_error_log
[error]



=== TEST 10: numbers
--- request eval
["PATCH /api/v1/songs/1\n" . '{"song":{"track_number":-1}}',
 "PATCH /api/v1/songs/1\n" . '{"song":{"track_number":2147483648}}',
 "PATCH /api/v1/songs/1\n" . '{"song":{"duration_ms":1.5}}',
 "PATCH /api/v1/songs/1\n" . '{"song":{"duration_ms":"3"}}',
 "PATCH /api/v1/songs/1\n" . '{"song":{"album_id":0,"artist_id":99999999999999999999}}',
 "PATCH /api/v1/songs/1\n" . '{"song":{"track_number":1,"duration_ms":2147483647}}']
--- more_headers eval
[("$::Key\n$::Json") x 6]
--- error_code eval
[422, 422, 422, 422, 422, 200]
--- response_body eval
[qq{{"error":{"status":422,"message":"validation failed","fields":{"track_number":"must be an integer from 0 to 2147483647"}}}\n},
 qq{{"error":{"status":422,"message":"validation failed","fields":{"track_number":"must be an integer from 0 to 2147483647"}}}\n},
 qq{{"error":{"status":422,"message":"validation failed","fields":{"duration_ms":"must be an integer from 0 to 2147483647"}}}\n},
 qq{{"error":{"status":422,"message":"validation failed","fields":{"duration_ms":"must be an integer from 0 to 2147483647"}}}\n},
 qq{{"error":{"status":422,"message":"validation failed","fields":{"album_id":"must be the id of an album","artist_id":"must be the id of an artist"}}}\n},
 qq{{"song":{"id":1,"album_id":1,"artist_id":4,"title":"The Ruler's Back","track_number":1,"duration_ms":2147483647,"audio":null,"stream_url":null}}\n}]



=== TEST 11: text length counts characters, not bytes
--- request eval
["PATCH /api/v1/artists/7\n{\"artist\":{\"name\":\"" . ("ü" x 200) . "\"}}",
 "PATCH /api/v1/artists/7\n{\"artist\":{\"name\":\"" . ("u" x 201) . "\"}}",
 "PATCH /api/v1/artists/7\n{\"artist\":{\"name\":\"Mötley Crüe\"}}"]
--- more_headers eval
[("$::Key\n$::Json") x 3]
--- error_code eval
[200, 422, 200]
--- response_body eval
['{"artist":{"id":7,"name":"' . ("ü" x 200) . '","country":"USA","description":null,"dob":null,"website":null,"picture_url":null}}' . "\n",
 qq{{"error":{"status":422,"message":"validation failed","fields":{"name":"is longer than 200 characters"}}}\n},
 qq{{"artist":{"id":7,"name":"Mötley Crüe","country":"USA","description":null,"dob":null,"website":null,"picture_url":null}}\n}]



=== TEST 12: dates and times
--- request eval
["PATCH /api/v1/albums/2\n" . '{"album":{"release_date":"2001-13-01"}}',
 "PATCH /api/v1/albums/2\n" . '{"album":{"release_date":"1900-02-29"}}',
 "PATCH /api/v1/albums/2\n" . '{"album":{"release_date":"1996-06-25 00:00:00"}}',
 "PATCH /api/v1/artists/7\n" . '{"artist":{"dob":"1986-11-03 25:00:00 UTC"}}',
 "PATCH /api/v1/artists/7\n" . '{"artist":{"dob":"1986-11-03T10:20:30Z"}}',
 "PATCH /api/v1/artists/7\n" . '{"artist":{"dob":"2000-02-29 23:59:59 UTC"}}',
 "PATCH /api/v1/artists/7\n" . '{"artist":{"dob":null}}']
--- more_headers eval
[("$::Key\n$::Json") x 7]
--- error_code eval
[422, 422, 422, 422, 200, 200, 200]
--- response_body_like eval
[qr/"fields":\{"release_date":"is not a date"\}/,
 qr/"fields":\{"release_date":"is not a date"\}/,
 qr/"fields":\{"release_date":"is not a date"\}/,
 qr/"fields":\{"dob":"is not a date"\}/,
 qr/"dob":"1986-11-03 10:20:30 UTC"/,
 qr/"dob":"2000-02-29 23:59:59 UTC"/,
 qr/"dob":null/]



=== TEST 13: a rejected create wrote nothing
--- request eval
["POST /api/v1/artists\n" . '{"artist":{"name":"Nobody","country":"Nowhere","dob":"not a date"}}',
 "GET /api/v1/artists?country=Nowhere"]
--- more_headers eval
["$::Key\n$::Json", ""]
--- error_code eval
[422, 200]
--- response_body eval
[qq{{"error":{"status":422,"message":"validation failed","fields":{"dob":"is not a date"}}}\n},
 qq{{"artists":[],"meta":{"total":0,"limit":20,"offset":0,"next":null,"previous":null}}\n}]



=== TEST 14: lone surrogates, comments and a repeated top-level key are 400s; a surrogate pair is text
Parsed before the item is looked for: artist 999 does not exist, so a
body that passes answers 404 and nothing is written.
--- request eval
["PATCH /api/v1/artists/999\n{\"artist\":{\"name\":\"a\\ud800b\"}}",
 "PATCH /api/v1/artists/999\n{\"artist\":{\"name\":\"a\\udc00\"}}",
 "PATCH /api/v1/artists/999\n{\"artist\":{\"name\":\"a\\ud800\\u0041\"}}",
 "PATCH /api/v1/artists/999\n{\"artist\":{\"name\":\"x\"} /* note */}",
 "PATCH /api/v1/artists/999\n// note\n{\"artist\":{\"name\":\"x\"}}",
 "PATCH /api/v1/artists/999\n{\"artist\":{\"name\":\"x\"},\"artist\":{\"name\":\"y\"}}",
 "PATCH /api/v1/artists/999\n{\"artist\":{\"name\":\"\\ud83c\\udfb5 a/b\"}}"]
--- more_headers eval
[("$::Key\n$::Json") x 7]
--- error_code eval
[400, 400, 400, 400, 400, 400, 404]
--- response_body eval
[(qq{{"error":{"status":400,"message":"a string in the body has a lone surrogate"}}\n}) x 3,
 (qq{{"error":{"status":400,"message":"the body is not valid JSON: comments are not JSON"}}\n}) x 2,
 qq{{"error":{"status":400,"message":"the body's object repeats a key"}}\n},
 qr/^\{"error":\{"status":404,/]
--- no_error_log
[error]


=== TEST 15: a chunked body is counted as it arrives: a 413 before its end
The API's location takes audio too (client_max_body_size 60m): the
64 KB JSON limit used to apply only once the whole body had been read.
Neither body here ends; the answer comes anyway, and the connection
closes.
--- config eval
Tunesheap::Test::media_config()
--- init
use IO::Socket::INET;
my $head = "POST /api/v1/artists HTTP/1.1\r\nHost: localhost\r\n"
    . "Authorization: Bearer tsk_test_writer\r\nContent-Type: application/json\r\n"
    . "Transfer-Encoding: chunked\r\n\r\n";
my $json = qq({"error":{"status":413,"message":"the body is larger than 65536 bytes"}}\n);
for my $case (["17 chunks of 4 KB", join('', map { sprintf("1000\r\n%s\r\n", 'x' x 4096) } 1 .. 17)],
              ["a chunk that announces 50 MB", "3000000\r\n" . ('x' x 100)]) {
    my ($name, $body) = @$case;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => Tunesheap::Test::server_port(),
                                  Timeout => 5) or die "connect: $!";
    print $s $head, $body;
    my $got = '';
    eval {
        local $SIG{ALRM} = sub { die "timeout\n" };
        alarm 5;
        while (1) {
            my $n = sysread($s, my $buf, 65536);
            last unless $n;
            $got .= $buf;
        }
        alarm 0;
    };
    alarm 0;
    Test::More::is($@, '', "$name: answered without the rest, and closed");
    Test::More::like($got, qr{^HTTP/1\.1 413 }, "$name: 413");
    Test::More::like($got, qr{\r\n\r\n\Q$json\E$}, "$name: the JSON error");
    close $s;
}
--- request
GET /api/v1/artists/5
--- error_code: 200


=== TEST 16: a song's album is by its artist: else a 422 naming both
Album 1 is artist 4's, album 4 artist 5's.  Checked in the statement
that writes (db/schema.sql's songs_album_artist, for the API's
connections).
--- request eval
["POST /api/v1/songs\n" . '{"song":{"album_id":1,"artist_id":5,"title":"Ghost"}}',
 "PATCH /api/v1/songs/1\n" . '{"song":{"artist_id":5}}',
 "PATCH /api/v1/songs/1\n" . '{"song":{"album_id":4}}',
 "PUT /api/v1/songs/1\n" . '{"song":{"album_id":4,"artist_id":4,"title":"The Ruler\'s Back","track_number":1,"duration_ms":229000}}',
 "PATCH /api/v1/songs/1\n" . '{"song":{"album_id":4,"artist_id":5}}',
 "PATCH /api/v1/songs/1\n" . '{"song":{"album_id":1,"artist_id":4}}',
 "GET /api/v1/songs?album_id=1&artist_id=5"]
--- more_headers eval
[("$::Key\n$::Json") x 6, ""]
--- error_code eval
[422, 422, 422, 422, 200, 200, 200]
--- response_body_like eval
[qr/^\{"error":\{"status":422,"message":"validation failed","fields":\{"album_id":"album 1 is not by artist 5: a song's album_id and artist_id must agree"\}\}\}$/,
 qr/^\{"error":\{"status":422,"message":"validation failed","fields":\{"album_id":"album 1 is not by artist 5: a song's album_id and artist_id must agree"\}\}\}$/,
 qr/^\{"error":\{"status":422,"message":"validation failed","fields":\{"album_id":"album 4 is not by artist 4: a song's album_id and artist_id must agree"\}\}\}$/,
 qr/^\{"error":\{"status":422,"message":"validation failed","fields":\{"album_id":"album 4 is not by artist 4: a song's album_id and artist_id must agree"\}\}\}$/,
 qr/^\{"song":\{"id":1,"album_id":4,"artist_id":5,/,
 qr/^\{"song":\{"id":1,"album_id":1,"artist_id":4,/,
 qr/^\{"songs":\[\],"meta":\{"total":0,/]
--- no_error_log
[error]
