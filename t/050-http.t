# HTTP behaviour shared by every endpoint: HEAD, ETag and conditional
# requests, methods, content types.

use Test::Nginx::Socket 'no_plan';
use Tunesheap::Test;

our $Song2 = qq{{"song":{"id":2,"album_id":1,"artist_id":4,"title":"Takeover","track_number":2,"duration_ms":313000,"audio":null,"stream_url":null}}\n};
our $Album3 = qq{{"songs":[{"id":5,"album_id":3,"artist_id":1,"title":"Formation","track_number":12,"duration_ms":206000,"audio":null,"stream_url":null},{"id":6,"album_id":3,"artist_id":1,"title":"Hold Up","track_number":2,"duration_ms":221000,"audio":null,"stream_url":null}],"meta":{"total":2,"limit":20,"offset":0,"next":null,"previous":null}}\n};
our $Album3Tag = Tunesheap::Test::body_etag($Album3);

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a list's ETag is strong: a 64-bit hash of the exact body
--- request
GET /api/v1/songs?album_id=3
--- error_code: 200
--- response_headers eval
"ETag: $::Album3Tag"
--- response_body eval
$::Album3



=== TEST 2: a matching If-None-Match is a 304 without a body
--- request
GET /api/v1/songs?album_id=3
--- more_headers eval
"If-None-Match: $::Album3Tag"
--- error_code: 304
--- response_headers eval
"ETag: $::Album3Tag"
--- response_body:



=== TEST 3: any of several tags, a weak one, or * match too
--- request eval
["GET /api/v1/songs?album_id=3", "GET /api/v1/songs?album_id=3", "GET /api/v1/songs/2"]
--- more_headers eval
["If-None-Match: \"x\", $::Album3Tag", "If-None-Match: W/$::Album3Tag",
 "If-None-Match: *"]
--- error_code eval
[304, 304, 304]



=== TEST 4: another tag gets the full answer; an item has its own strong tag
--- request eval
["GET /api/v1/songs?album_id=3", "GET /api/v1/songs/2"]
--- more_headers eval
['If-None-Match: "0123456789abcdef0123456789abcdef"',
 'If-None-Match: "0123456789abcdef0123456789abcdef"']
--- error_code eval
[200, 200]
--- response_headers_like eval
['ETag: "[0-9a-f]{16}"', 'ETag: "[0-9a-f]{32}"']
--- response_body eval
[$::Album3, $::Song2]



=== TEST 5: lists carry ETags that change with the page
--- request eval
["GET /api/v1/songs?limit=1", "GET /api/v1/songs?limit=1&offset=1"]
--- error_code eval
[200, 200]
--- response_headers_like eval
['ETag: "[0-9a-f]{16}"', 'ETag: "[0-9a-f]{16}"']



=== TEST 6: HEAD answers the same headers without a body
--- request
HEAD /api/v1/songs/2
--- error_code: 200
--- response_headers eval
"Content-Type: application/json; charset=utf-8\n"
. "Content-Length: " . length($::Song2)
--- raw_response_headers_like: \r\nETag: "[0-9a-f]{32}"\r\n
--- response_body:



=== TEST 7: HEAD of a list, a search, a missing item
--- request eval
["HEAD /api/v1/artists", "HEAD /api/v1/search?q=jay", "HEAD /api/v1/artists/99"]
--- error_code eval
[200, 200, 404]
--- response_body eval
["", "", ""]



=== TEST 8: other methods: 405 with what is allowed, JSON body
--- request eval
["POST /api/v1/artists/4\n{}", "PUT /api/v1/artists\n{}", "DELETE /api/v1/search",
 "PATCH /api/v1/artists/4/albums\n{}", "OPTIONS /api/v1/songs/1",
 "POST /api/v1/health\n{}"]
--- error_code eval
[405, 405, 405, 405, 405, 405]
--- response_headers eval
["Allow: GET, HEAD, PUT, PATCH, DELETE", "Allow: GET, HEAD, POST",
 "Allow: GET, HEAD", "Allow: GET, HEAD", "Allow: GET, HEAD, PUT, PATCH, DELETE",
 "Allow: GET, HEAD"]
--- response_body eval
[qq{{"error":{"status":405,"message":"method not allowed here, use GET, HEAD, PUT, PATCH, DELETE"}}\n},
 qq{{"error":{"status":405,"message":"method not allowed here, use GET, HEAD, POST"}}\n},
 qq{{"error":{"status":405,"message":"method not allowed here, use GET, HEAD"}}\n},
 qq{{"error":{"status":405,"message":"method not allowed here, use GET, HEAD"}}\n},
 qq{{"error":{"status":405,"message":"method not allowed here, use GET, HEAD, PUT, PATCH, DELETE"}}\n},
 qq{{"error":{"status":405,"message":"method not allowed here, use GET, HEAD"}}\n}]



=== TEST 9: an unknown path is a 404 whatever the method
--- request
DELETE /api/v1/nothing
--- error_code: 404
--- response_body
{"error":{"status":404,"message":"no resource at this path"}}



=== TEST 10: a body sent with GET is read and ignored
--- raw_request eval
"GET /api/v1/songs/2 HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"
--- error_code: 200
--- response_body eval
$::Song2



=== TEST 11: GET, HEAD and a 304 say alike who may keep them, with nosniff
--- request eval
["GET /api/v1/songs/2", "HEAD /api/v1/songs/2", "GET /api/v1/songs/2"]
--- more_headers eval
["", "", "If-None-Match: *"]
--- error_code eval
[200, 200, 304]
--- response_headers eval
[("Cache-Control: public, max-age=5, s-maxage=10, stale-while-revalidate=10\nX-Content-Type-Options: nosniff") x 3]
