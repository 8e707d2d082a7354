# Lists: order, pagination and its links, filters, and bad arguments.

use Test::Nginx::Socket 'no_plan';
use Tunesheap::Test;

no_shuffle();
run_tests();

__DATA__

=== TEST 1: every artist, ordered by id, with meta
--- request
GET /api/v1/artists
--- error_code: 200
--- response_headers
Content-Type: application/json; charset=utf-8
--- response_body
{"artists":[{"id":1,"name":"Beyoncé","country":"USA","description":"Houston singer.","dob":"1981-09-04 00:00:00 UTC","website":"www.beyonce.com","picture_url":"https://tunesheap-content.s3.amazonaws.com/1-artist-picture"},{"id":2,"name":"Björk","country":"Iceland","description":null,"dob":"1965-11-21 00:00:00 UTC","website":"bjork.com","picture_url":"https://tunesheap-content.s3.amazonaws.com/2-artist-picture"},{"id":3,"name":"Sigur Rós","country":"Iceland","description":"Post-rock from Reykjavík.","dob":null,"website":null,"picture_url":null},{"id":4,"name":"Jay-Z","country":"USA","description":"New York native. ","dob":"1969-12-04 00:00:00 UTC","website":"www.rocafella.com","picture_url":"https://tunesheap-content.s3.amazonaws.com/4-artist-picture"},{"id":5,"name":"Metallica","country":"USA","description":"Thrash metal.","dob":null,"website":"metallica.com","picture_url":null},{"id":6,"name":"Radiohead","country":"UK","description":"Oxford band; \"OK\" computers & more.","dob":null,"website":"radiohead.com","picture_url":null},{"id":7,"name":"Mötley Crüe","country":"USA","description":null,"dob":null,"website":null,"picture_url":null}],"meta":{"total":7,"limit":20,"offset":0,"next":null,"previous":null}}
--- no_error_log
[error]



=== TEST 2: the first page links to the next one only, after its last item
--- request
GET /api/v1/songs?limit=2
--- error_code: 200
--- response_body
{"songs":[{"id":1,"album_id":1,"artist_id":4,"title":"The Ruler's Back","track_number":1,"duration_ms":229000,"audio":null,"stream_url":null},{"id":2,"album_id":1,"artist_id":4,"title":"Takeover","track_number":2,"duration_ms":313000,"audio":null,"stream_url":null}],"meta":{"total":12,"limit":2,"offset":0,"next":"/api/v1/songs?limit=2&after=2","previous":null}}



=== TEST 3: a middle page: next after its last item, previous by offset
--- request
GET /api/v1/songs?offset=4&limit=3
--- error_code: 200
--- response_body
{"songs":[{"id":5,"album_id":3,"artist_id":1,"title":"Formation","track_number":12,"duration_ms":206000,"audio":null,"stream_url":null},{"id":6,"album_id":3,"artist_id":1,"title":"Hold Up","track_number":2,"duration_ms":221000,"audio":null,"stream_url":null},{"id":7,"album_id":4,"artist_id":5,"title":"Master of Puppets","track_number":2,"duration_ms":515000,"audio":null,"stream_url":null}],"meta":{"total":12,"limit":3,"offset":4,"next":"/api/v1/songs?limit=3&after=7","previous":"/api/v1/songs?limit=3&offset=1"}}



=== TEST 4: the last page links back only; previous never goes below 0
--- request
GET /api/v1/songs?offset=10&limit=3
--- error_code: 200
--- response_body_like
^\{"songs":\[\{"id":11,.*\{"id":12,[^\]]*\],"meta":\{"total":12,"limit":3,"offset":10,"next":null,"previous":"/api/v1/songs\?limit=3&offset=7"\}\}$



=== TEST 5: past the end: an empty page that still knows the total
--- request
GET /api/v1/albums?offset=100
--- error_code: 200
--- response_body
{"albums":[],"meta":{"total":6,"limit":20,"offset":100,"next":null,"previous":"/api/v1/albums?limit=20&offset=80"}}



=== TEST 6: limit 100 is the most
--- request
GET /api/v1/artists?limit=100&offset=6
--- error_code: 200
--- response_body
{"artists":[{"id":7,"name":"Mötley Crüe","country":"USA","description":null,"dob":null,"website":null,"picture_url":null}],"meta":{"total":7,"limit":100,"offset":6,"next":null,"previous":"/api/v1/artists?limit=100&offset=0"}}



=== TEST 7: artists by country, links keep the filter
--- request
GET /api/v1/artists?country=Iceland&limit=1
--- error_code: 200
--- response_body
{"artists":[{"id":2,"name":"Björk","country":"Iceland","description":null,"dob":"1965-11-21 00:00:00 UTC","website":"bjork.com","picture_url":"https://tunesheap-content.s3.amazonaws.com/2-artist-picture"}],"meta":{"total":2,"limit":1,"offset":0,"next":"/api/v1/artists?country=Iceland&limit=1&after=2","previous":null}}



=== TEST 8: albums by artist and by genre, alone and together
--- request eval
["GET /api/v1/albums?artist_id=4", "GET /api/v1/albums?genre=Rock",
 "GET /api/v1/albums?genre=Hip-Hop&artist_id=1"]
--- error_code eval
[200, 200, 200]
--- response_body_like eval
[qr/^\{"albums":\[\{"id":1,"artist_id":4,[^{]*\},\{"id":2,"artist_id":4,[^{]*\}\],"meta":\{"total":2,/,
 qr/^\{"albums":\[\{"id":5,[^{]*"genre":"Rock"[^{]*\},\{"id":6,[^{]*"genre":"Rock"[^{]*\}\],"meta":\{"total":2,/,
 qr/^\{"albums":\[\],"meta":\{"total":0,/]



=== TEST 9: songs by album and by artist
--- request eval
["GET /api/v1/songs?album_id=3", "GET /api/v1/songs?artist_id=4&album_id=2"]
--- error_code eval
[200, 200]
--- response_body_like eval
[qr/^\{"songs":\[\{"id":5,[^{]*\},\{"id":6,[^{]*\}\],"meta":\{"total":2,"limit":20,"offset":0,"next":null,"previous":null\}\}$/,
 qr/^\{"songs":\[\{"id":4,"album_id":2,"artist_id":4,"title":"Can't Knock the Hustle"[^{]*\}\],"meta":\{"total":1,/]



=== TEST 10: a filter value is escaped in the links
--- request
GET /api/v1/artists?country=New+Zealand%20%26%20more&limit=1&offset=1
--- error_code: 200
--- response_body
{"artists":[],"meta":{"total":0,"limit":1,"offset":1,"next":null,"previous":"/api/v1/artists?country=New%20Zealand%20%26%20more&limit=1&offset=0"}}



=== TEST 11: SQL in a filter is only a value
--- request eval
["GET /api/v1/artists?country=%27%3B%20DROP%20TABLE%20artists%3B%20--",
 "GET /api/v1/artists?country=USA%27%20OR%20%271%27=%271",
 "GET /api/v1/artists/4"]
--- error_code eval
[200, 200, 200]
--- response_body_like eval
[qr/^\{"artists":\[\],"meta":\{"total":0,/,
 qr/^\{"artists":\[\],"meta":\{"total":0,/,
 qr/^\{"artist":\{"id":4,"name":"Jay-Z"/]
--- no_error_log
[error]



=== TEST 12: bad limits
--- request eval
["GET /api/v1/artists?limit=0", "GET /api/v1/artists?limit=101",
 "GET /api/v1/artists?limit=abc", "GET /api/v1/artists?limit=-1",
 "GET /api/v1/artists?limit=1e3", "GET /api/v1/artists?limit=",
 "GET /api/v1/artists?limit=99999999999999999999999"]
--- error_code eval
[400, 400, 400, 400, 400, 400, 400]
--- response_body eval
[(qq{{"error":{"status":400,"message":"limit must be an integer from 1 to 100"}}\n}) x 7]



=== TEST 13: bad offsets
--- request eval
["GET /api/v1/songs?offset=-5", "GET /api/v1/songs?offset=abc",
 "GET /api/v1/songs?offset=9223372036854775808", "GET /api/v1/songs?offset=%00"]
--- error_code eval
[400, 400, 400, 400]
--- response_body eval
[(qq{{"error":{"status":400,"message":"offset must be a non-negative integer"}}\n}) x 4]



=== TEST 14: the largest offset is an empty page, not an overflow
--- request
GET /api/v1/songs?offset=9223372036854775807&limit=100
--- error_code: 200
--- response_body
{"songs":[],"meta":{"total":12,"limit":100,"offset":9223372036854775807,"next":null,"previous":"/api/v1/songs?limit=100&offset=9223372036854775707"}}



=== TEST 15: bad filters
--- request eval
["GET /api/v1/albums?artist_id=abc", "GET /api/v1/songs?album_id=-1",
 "GET /api/v1/artists?country=", "GET /api/v1/artists?country=%FF%FE",
 "GET /api/v1/artists?country=a%00b", "GET /api/v1/albums?genre=%ED%A0%80",
 "GET /api/v1/artists?country=" . ("x" x 201)]
--- error_code eval
[400, 400, 400, 400, 400, 400, 400]
--- response_body eval
[qq{{"error":{"status":400,"message":"artist_id must be a non-negative integer"}}\n},
 qq{{"error":{"status":400,"message":"album_id must be a non-negative integer"}}\n},
 qq{{"error":{"status":400,"message":"country must be a non-empty string of at most 200 bytes of UTF-8"}}\n},
 qq{{"error":{"status":400,"message":"country must be a non-empty string of at most 200 bytes of UTF-8"}}\n},
 qq{{"error":{"status":400,"message":"country must be a non-empty string of at most 200 bytes of UTF-8"}}\n},
 qq{{"error":{"status":400,"message":"genre must be a non-empty string of at most 200 bytes of UTF-8"}}\n},
 qq{{"error":{"status":400,"message":"country must be a non-empty string of at most 200 bytes of UTF-8"}}\n}]
--- no_error_log
[error]



=== TEST 16: unknown arguments are ignored
--- request
GET /api/v1/albums?artist_id=5&sort=name&fields=title
--- error_code: 200
--- response_body_like chomp
^\{"albums":\[\{"id":4,"artist_id":5,"title":"Master of Puppets",[^{]*\}\],"meta":\{"total":1,



=== TEST 17: a page after an item: offset null, next after its last item, previous before its first
--- request
GET /api/v1/songs?limit=2&after=2
--- error_code: 200
--- response_body
{"songs":[{"id":3,"album_id":1,"artist_id":4,"title":"Izzo (H.O.V.A.)","track_number":3,"duration_ms":240000,"audio":null,"stream_url":null},{"id":4,"album_id":2,"artist_id":4,"title":"Can't Knock the Hustle","track_number":1,"duration_ms":317000,"audio":null,"stream_url":null}],"meta":{"total":12,"limit":2,"offset":null,"next":"/api/v1/songs?limit=2&after=4","previous":"/api/v1/songs?limit=2&before=3"}}
--- no_error_log
[error]



=== TEST 18: a page before an item, and before the items at the start
--- request eval
["GET /api/v1/songs?limit=2&before=7", "GET /api/v1/songs?limit=2&before=3",
 "GET /api/v1/songs?limit=5&before=3"]
--- error_code eval
[200, 200, 200]
--- response_body_like eval
[qr/^\{"songs":\[\{"id":5,[^{]*\},\{"id":6,[^{]*\}\],"meta":\{"total":12,"limit":2,"offset":null,"next":"\/api\/v1\/songs\?limit=2&after=6","previous":"\/api\/v1\/songs\?limit=2&before=5"\}\}$/,
 qr/^\{"songs":\[\{"id":1,[^{]*\},\{"id":2,[^{]*\}\],"meta":\{"total":12,"limit":2,"offset":null,"next":"\/api\/v1\/songs\?limit=2&after=2","previous":null\}\}$/,
 qr/^\{"songs":\[\{"id":1,[^{]*\},\{"id":2,[^{]*\}\],"meta":\{"total":12,"limit":5,"offset":null,"next":"\/api\/v1\/songs\?limit=5&after=2","previous":null\}\}$/]



=== TEST 19: the last page, by offset and after an item: no next, and no empty page after it
--- request eval
["GET /api/v1/songs?limit=3&offset=9", "GET /api/v1/songs?limit=3&after=9",
 "GET /api/v1/songs?limit=4&after=8"]
--- error_code eval
[200, 200, 200]
--- response_body_like eval
[qr/^\{"songs":\[\{"id":10,[^{]*\},\{"id":11,[^{]*\},\{"id":12,[^{]*\}\],"meta":\{"total":12,"limit":3,"offset":9,"next":null,"previous":"\/api\/v1\/songs\?limit=3&offset=6"\}\}$/,
 qr/^\{"songs":\[\{"id":10,[^{]*\},\{"id":11,[^{]*\},\{"id":12,[^{]*\}\],"meta":\{"total":12,"limit":3,"offset":null,"next":null,"previous":"\/api\/v1\/songs\?limit=3&before=10"\}\}$/,
 qr/^\{"songs":\[\{"id":9,[^{]*\},\{"id":10,[^{]*\},\{"id":11,[^{]*\},\{"id":12,[^{]*\}\],"meta":\{"total":12,"limit":4,"offset":null,"next":null,/]



=== TEST 20: empty pages: after the last item, before the first (next goes to the start)
--- request eval
["GET /api/v1/songs?after=12", "GET /api/v1/songs?limit=3&before=1",
 "GET /api/v1/artists?country=UK&after=6", "GET /api/v1/albums?genre=Jazz&offset=0"]
--- error_code eval
[200, 200, 200, 200]
--- response_body eval
[qq{{"songs":[],"meta":{"total":12,"limit":20,"offset":null,"next":null,"previous":null}}\n},
 qq{{"songs":[],"meta":{"total":12,"limit":3,"offset":null,"next":"/api/v1/songs?limit=3&offset=0","previous":null}}\n},
 qq{{"artists":[],"meta":{"total":1,"limit":20,"offset":null,"next":null,"previous":null}}\n},
 qq{{"albums":[],"meta":{"total":0,"limit":20,"offset":0,"next":null,"previous":null}}\n}]



=== TEST 21: filters apply to the anchor and the page, and stay in the links
--- request eval
["GET /api/v1/artists?country=USA&limit=2&after=4",
 "GET /api/v1/albums?genre=Rock&before=6"]
--- error_code eval
[200, 200]
--- response_body eval
[qq{{"artists":[{"id":5,"name":"Metallica","country":"USA","description":"Thrash metal.","dob":null,"website":"metallica.com","picture_url":null},{"id":7,"name":"Mötley Crüe","country":"USA","description":null,"dob":null,"website":null,"picture_url":null}],"meta":{"total":4,"limit":2,"offset":null,"next":null,"previous":"/api/v1/artists?country=USA&limit=2&before=5"}}\n},
 qq{{"albums":[{"id":5,"artist_id":6,"title":"OK Computer","release_date":"1997-05-21","genre":"Rock","cover_url":null}],"meta":{"total":2,"limit":20,"offset":null,"next":"/api/v1/albums?genre=Rock&limit=20&after=5","previous":null}}\n}]



=== TEST 22: bad after and before: like any id
--- request eval
["GET /api/v1/songs?after=abc", "GET /api/v1/songs?after=-1",
 "GET /api/v1/songs?after=", "GET /api/v1/songs?after=9223372036854775808",
 "GET /api/v1/songs?after=1%00", "GET /api/v1/songs?before=x1",
 "GET /api/v1/songs?before=1.5"]
--- error_code eval
[400, 400, 400, 400, 400, 400, 400]
--- response_body eval
[(qq{{"error":{"status":400,"message":"after must be a non-negative integer"}}\n}) x 5,
 (qq{{"error":{"status":400,"message":"before must be a non-negative integer"}}\n}) x 2]
--- no_error_log
[error]



=== TEST 23: offset, after and before: one at most
--- request eval
["GET /api/v1/songs?after=2&offset=0", "GET /api/v1/songs?offset=4&after=2",
 "GET /api/v1/songs?after=2&before=5", "GET /api/v1/songs?before=5&offset=1",
 "GET /api/v1/artists?country=USA&after=4&offset=2&limit=1"]
--- error_code eval
[400, 400, 400, 400, 400]
--- response_body eval
[(qq{{"error":{"status":400,"message":"offset, after and before cannot be combined: give one of them"}}\n}) x 5]



=== TEST 24: an anchor that is not in the list: a 400 that says so
--- request eval
["GET /api/v1/songs?after=99", "GET /api/v1/songs?before=0",
 "GET /api/v1/artists?country=UK&after=4", "GET /api/v1/songs?album_id=3&artist_id=4&after=5",
 "GET /api/v1/albums?genre=Rock&before=1"]
--- error_code eval
[400, 400, 400, 400, 400]
--- response_body eval
[qq{{"error":{"status":400,"message":"after: song 99 is not in this list"}}\n},
 qq{{"error":{"status":400,"message":"before: song 0 is not in this list"}}\n},
 qq{{"error":{"status":400,"message":"after: artist 4 is not in this list"}}\n},
 qq{{"error":{"status":400,"message":"after: song 5 is not in this list"}}\n},
 qq{{"error":{"status":400,"message":"before: album 1 is not in this list"}}\n}]
--- no_error_log
[error]



=== TEST 25: a bad limit is reported first; a page beyond an offset keeps working
--- request eval
["GET /api/v1/songs?after=2&limit=0", "GET /api/v1/songs?limit=100&after=1"]
--- error_code eval
[400, 200]
--- response_body_like eval
[qr/^\{"error":\{"status":400,"message":"limit must be an integer from 1 to 100"\}\}$/,
 qr/^\{"songs":\[\{"id":2,.*\{"id":12,[^\]]*\],"meta":\{"total":12,"limit":100,"offset":null,"next":null,"previous":"\/api\/v1\/songs\?limit=100&before=2"\}\}$/]



=== TEST 26: with the cache, pages after different items are different answers
--- http_config eval: Tunesheap::Test::cached_config()
--- request eval
["GET /api/v1/songs?limit=1&after=3", "GET /api/v1/songs?limit=1&after=4",
 "GET /api/v1/songs?limit=1&before=4", "GET /api/v1/songs?limit=1&after=3"]
--- error_code eval
[200, 200, 200, 200]
--- response_headers eval
["X-Cache: MISS", "X-Cache: MISS", "X-Cache: MISS", "X-Cache: HIT redis"]
--- response_body_like eval
[qr/^\{"songs":\[\{"id":4,/, qr/^\{"songs":\[\{"id":5,/, qr/^\{"songs":\[\{"id":3,/,
 qr/^\{"songs":\[\{"id":4,/]



=== TEST 27: an id filter written with leading zeros has the same total
--- request
GET /api/v1/songs?album_id=0001&limit=1
--- error_code: 200
--- response_body_like
^\{"songs":\[\{"id":1,[^\]]*\],"meta":\{"total":4,"limit":1,"offset":0,"next":"/api/v1/songs\?album_id=0001&limit=1&after=1","previous":null\}\}$



=== TEST 28: strings in a list are written as yajl writes them: escapes, control characters, UTF-8
Every escape JSON has, control characters as \u00XX, DEL and '/' as they
are, and 2, 3 and 4 byte UTF-8; the item says the same.
--- init
Tunesheap::Test::sql("INSERT INTO artists (id, name, country) VALUES (900,"
    . " 'q' || chr(34) || 'b' || chr(92) || 's/c' || chr(1) || chr(31)"
    . " || chr(9)"
    . " || chr(10) || chr(13) || chr(8) || chr(12) || chr(127)"
    . " || chr(233) || chr(8364) || chr(119070), 'Escape' || chr(34))");
--- request eval
["GET /api/v1/artists?country=Escape%22", "GET /api/v1/artists/900"]
--- error_code eval
[200, 200]
--- response_body eval
my $a = qq|{"id":900,"name":"q\\"b\\\\s/c\\u0001\\u001F\\t\\n\\r\\b\\f|
    . "\x7f\xc3\xa9\xe2\x82\xac\xf0\x9d\x84\x9e"
    . qq|","country":"Escape\\"","description":null,"dob":null,|
    . qq|"website":null,"picture_url":null}|;
[qq|{"artists":[$a],"meta":{"total":1,"limit":20,"offset":0,"next":null,|
 . qq|"previous":null}}\n|, qq|{"artist":$a}\n|]



=== TEST 29: clean up: the escaped artist goes
--- init
Tunesheap::Test::sql("DELETE FROM artists WHERE id = 900");
--- request
GET /api/v1/artists?country=Escape%22
--- error_code: 200
--- response_body
{"artists":[],"meta":{"total":0,"limit":20,"offset":0,"next":null,"previous":null}}
