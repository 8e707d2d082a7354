# One item of each resource: exact bodies, headers, and every way an id can
# be wrong.

use Test::Nginx::Socket 'no_plan';
use Tunesheap::Test;

no_shuffle();
run_tests();

__DATA__

=== TEST 1: an artist, with the seed's fields in the seed's order
--- request
GET /api/v1/artists/4
--- error_code: 200
--- response_headers
Content-Type: application/json; charset=utf-8
--- raw_response_headers_like: \r\nETag: "[0-9a-f]{32}"\r\n
--- response_body
{"artist":{"id":4,"name":"Jay-Z","country":"USA","description":"New York native. ","dob":"1969-12-04 00:00:00 UTC","website":"www.rocafella.com","picture_url":"https://tunesheap-content.s3.amazonaws.com/4-artist-picture"}}
--- no_error_log
[error]



=== TEST 2: an artist with nulls, accents and characters JSON must escape
--- request
GET /api/v1/artists/6
--- error_code: 200
--- response_body
{"artist":{"id":6,"name":"Radiohead","country":"UK","description":"Oxford band; \"OK\" computers & more.","dob":null,"website":"radiohead.com","picture_url":null}}



=== TEST 3: UTF-8 passes through untouched
--- request
GET /api/v1/artists/3
--- error_code: 200
--- response_body
{"artist":{"id":3,"name":"Sigur Rós","country":"Iceland","description":"Post-rock from Reykjavík.","dob":null,"website":null,"picture_url":null}}



=== TEST 4: an album
--- request
GET /api/v1/albums/1
--- error_code: 200
--- response_body
{"album":{"id":1,"artist_id":4,"title":"The Blueprint","release_date":"2001-09-11","genre":"Hip-Hop","cover_url":"https://tunesheap-content.s3.amazonaws.com/1-album-cover"}}



=== TEST 5: a song
--- request
GET /api/v1/songs/2
--- error_code: 200
--- response_body
{"song":{"id":2,"album_id":1,"artist_id":4,"title":"Takeover","track_number":2,"duration_ms":313000,"audio":null,"stream_url":null}}



=== TEST 6: a song with null numbers
--- request
GET /api/v1/songs/12
--- error_code: 200
--- response_body
{"song":{"id":12,"album_id":1,"artist_id":4,"title":"Girls, Girls, Girls","track_number":null,"duration_ms":null,"audio":null,"stream_url":null}}



=== TEST 7: a trailing slash names the same item
--- request
GET /api/v1/songs/2/
--- error_code: 200
--- response_body
{"song":{"id":2,"album_id":1,"artist_id":4,"title":"Takeover","track_number":2,"duration_ms":313000,"audio":null,"stream_url":null}}



=== TEST 8: unknown artist
--- request
GET /api/v1/artists/99
--- error_code: 404
--- response_headers
Content-Type: application/json; charset=utf-8
!ETag
--- response_body
{"error":{"status":404,"message":"artist 99 not found"}}



=== TEST 9: unknown album and song
--- request eval
["GET /api/v1/albums/0", "GET /api/v1/songs/9223372036854775807"]
--- error_code eval
[404, 404]
--- response_body eval
[qq{{"error":{"status":404,"message":"album 0 not found"}}\n},
 qq{{"error":{"status":404,"message":"song 9223372036854775807 not found"}}\n}]



=== TEST 10: ids that are not numbers
--- request eval
["GET /api/v1/artists/abc", "GET /api/v1/albums/1.5", "GET /api/v1/songs/0x10",
 "GET /api/v1/artists/%201", "GET /api/v1/artists/1%27%20OR%201=1"]
--- error_code eval
[400, 400, 400, 400, 400]
--- response_body eval
[qq{{"error":{"status":400,"message":"artist id must be a non-negative integer"}}\n},
 qq{{"error":{"status":400,"message":"album id must be a non-negative integer"}}\n},
 qq{{"error":{"status":400,"message":"song id must be a non-negative integer"}}\n},
 qq{{"error":{"status":400,"message":"artist id must be a non-negative integer"}}\n},
 qq{{"error":{"status":400,"message":"artist id must be a non-negative integer"}}\n}]
--- no_error_log
[error]



=== TEST 11: negative and overflowing ids
--- request eval
["GET /api/v1/artists/-1", "GET /api/v1/artists/9223372036854775808",
 "GET /api/v1/songs/99999999999999999999999999999999"]
--- error_code eval
[400, 400, 400]
--- response_body_like eval
[qr/"status":400,"message":"artist id must be a non-negative integer"/,
 qr/"status":400,"message":"artist id must be a non-negative integer"/,
 qr/"status":400,"message":"song id must be a non-negative integer"/]



=== TEST 12: unknown routes are JSON 404s
--- request eval
["GET /api/v1/", "GET /api/v1/podcasts", "GET /api/v1/artists/4/friends",
 "GET /api/v1/songs/1/albums", "GET /api/v1/artists/4/albums/1/songs",
 "GET /api/v1/ARTISTS"]
--- error_code eval
[404, 404, 404, 404, 404, 404]
--- response_body eval
[(qq{{"error":{"status":404,"message":"no resource at this path"}}\n}) x 6]
--- response_headers eval
[("Content-Type: application/json; charset=utf-8") x 6]
