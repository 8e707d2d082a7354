# Search: full text and trigram similarity over folded names and titles.

use Test::Nginx::Socket 'no_plan';
use Tunesheap::Test;

no_shuffle();
run_tests();

__DATA__

=== TEST 1: accents and case do not matter
--- request eval
["GET /api/v1/search?q=beyonce&type=artist", "GET /api/v1/search?q=BJORK&type=artist",
 "GET /api/v1/search?q=motley%20crue&type=artist"]
--- error_code eval
[200, 200, 200]
--- response_body_like eval
[qr/^\{"artists":\[\{"id":1,"name":"Beyoncé",[^{]*\}\]\}$/,
 qr/^\{"artists":\[\{"id":2,"name":"Björk",[^{]*\}\]\}$/,
 qr/^\{"artists":\[\{"id":7,"name":"Mötley Crüe",[^{]*\}\]\}$/]
--- no_error_log
[error]



=== TEST 2: small typos still find the name
--- request eval
["GET /api/v1/search?q=metalica&type=artist", "GET /api/v1/search?q=raidohead&type=artist",
 "GET /api/v1/search?q=beyonse&type=artist"]
--- error_code eval
[200, 200, 200]
--- response_body_like eval
[qr/^\{"artists":\[\{"id":5,"name":"Metallica",/,
 qr/^\{"artists":\[\{"id":6,"name":"Radiohead",/,
 qr/^\{"artists":\[\{"id":1,"name":"Beyoncé",/]



=== TEST 3: a word of a longer name or title
--- request eval
["GET /api/v1/search?q=jay&type=artist", "GET /api/v1/search?q=puppets&type=album"]
--- error_code eval
[200, 200]
--- response_body_like eval
[qr/^\{"artists":\[\{"id":4,"name":"Jay-Z",[^{]*\}\]\}$/,
 qr/^\{"albums":\[\{"id":4,"artist_id":5,"title":"Master of Puppets",[^{]*\}\]\}$/]



=== TEST 4: every type by default, in a fixed order, exact matches first
--- request
GET /api/v1/search?q=master+of+puppets
--- error_code: 200
--- response_body
{"artists":[],"albums":[{"id":4,"artist_id":5,"title":"Master of Puppets","release_date":"1986-03-03","genre":"Metal","cover_url":null}],"songs":[{"id":7,"album_id":4,"artist_id":5,"title":"Master of Puppets","track_number":2,"duration_ms":515000,"audio":null,"stream_url":null}]}



=== TEST 5: types can be combined; the order of the answer stays fixed
--- request
GET /api/v1/search?q=ok%20computer&type=song,album
--- error_code: 200
--- response_body
{"albums":[{"id":5,"artist_id":6,"title":"OK Computer","release_date":"1997-05-21","genre":"Rock","cover_url":null}],"songs":[]}



=== TEST 6: ranking: the closer title comes first, limit cuts the rest
--- request eval
["GET /api/v1/search?q=girls&type=song", "GET /api/v1/search?q=the&type=song&limit=1"]
--- error_code eval
[200, 200]
--- response_body_like eval
[qr/^\{"songs":\[\{"id":12,"album_id":1,"artist_id":4,"title":"Girls, Girls, Girls",[^{]*\}\]\}$/,
 qr/^\{"songs":\[\{"id":\d+,[^{]*\}\]\}$/]



=== TEST 7: nothing found is empty lists
--- request
GET /api/v1/search?q=zzzzqqqq
--- error_code: 200
--- response_body
{"artists":[],"albums":[],"songs":[]}



=== TEST 8: SQL in q is only text, and the catalog survives it
--- request eval
["GET /api/v1/search?q=%27%3B%20DROP%20TABLE%20songs%3B%20--",
 "GET /api/v1/search?q=%25%5C_%27%22",
 "GET /api/v1/songs/1"]
--- error_code eval
[200, 200, 200]
--- response_body_like eval
[qr/^\{"artists":\[.*\],"albums":\[.*\],"songs":\[.*\]\}$/,
 qr/^\{"artists":\[.*\],"albums":\[.*\],"songs":\[.*\]\}$/,
 qr/^\{"song":\{"id":1,/]
--- no_error_log
[error]



=== TEST 9: bad searches
--- request eval
["GET /api/v1/search", "GET /api/v1/search?q=", "GET /api/v1/search?q=+++",
 "GET /api/v1/search?q=" . ("a" x 201), "GET /api/v1/search?q=%C3%28",
 "GET /api/v1/search?q=a%00b", "GET /api/v1/search?q=jay&type=artists",
 "GET /api/v1/search?q=jay&type=artist,", "GET /api/v1/search?q=jay&limit=0"]
--- error_code eval
[400, 400, 400, 400, 400, 400, 400, 400, 400]
--- response_body eval
[qq{{"error":{"status":400,"message":"q is required"}}\n},
 qq{{"error":{"status":400,"message":"q must not be empty"}}\n},
 qq{{"error":{"status":400,"message":"q must not be empty"}}\n},
 qq{{"error":{"status":400,"message":"q must be at most 200 bytes of UTF-8 text"}}\n},
 qq{{"error":{"status":400,"message":"q must be at most 200 bytes of UTF-8 text"}}\n},
 qq{{"error":{"status":400,"message":"q must be at most 200 bytes of UTF-8 text"}}\n},
 qq{{"error":{"status":400,"message":"type must be a comma-separated list of artist, album and song"}}\n},
 qq{{"error":{"status":400,"message":"type must be a comma-separated list of artist, album and song"}}\n},
 qq{{"error":{"status":400,"message":"limit must be an integer from 1 to 100"}}\n}]
--- no_error_log
[error]



=== TEST 10: the last word is a prefix: search as the user types
--- request eval
["GET /api/v1/search?q=metal&type=artist", "GET /api/v1/search?q=beyo&type=artist",
 "GET /api/v1/search?q=master%20of%20pup&type=album", "GET /api/v1/search?q=karma%20pol&type=song",
 "GET /api/v1/search?q=RADIOH&type=artist", "GET /api/v1/search?q=%C3%81g%C3%A6t&type=album"]
--- error_code eval
[200, 200, 200, 200, 200, 200]
--- response_body_like eval
[qr/^\{"artists":\[\{"id":5,"name":"Metallica",[^{]*\}\]\}$/,
 qr/^\{"artists":\[\{"id":1,"name":"Beyoncé",[^{]*\}\]\}$/,
 qr/^\{"albums":\[\{"id":4,"artist_id":5,"title":"Master of Puppets",[^{]*\}\]\}$/,
 qr/^\{"songs":\[\{"id":10,"album_id":5,"artist_id":6,"title":"Karma Police",[^{]*\}\]\}$/,
 qr/^\{"artists":\[\{"id":6,"name":"Radiohead",[^{]*\}\]\}$/,
 qr/^\{"albums":\[\{"id":6,"artist_id":3,"title":"Ágætis byrjun",[^{]*\}\]\}$/]
--- no_error_log
[error]



=== TEST 11: one or two letters are only the start of a whole name
--- request eval
["GET /api/v1/search?q=ka&type=song", "GET /api/v1/search?q=po&type=song"]
--- error_code eval
[200, 200]
--- response_body_like eval
[qr/^\{"songs":\[\{"id":10,"album_id":5,"artist_id":6,"title":"Karma Police",[^{]*\}\]\}$/,
 qr/^\{"songs":\[\]\}$/]



=== TEST 12: hostile texts answer, with what they really match
--- request eval
["GET /api/v1/search?q=%25", "GET /api/v1/search?q=_",
 "GET /api/v1/search?q=%25%25%25%25%25%25%25%25", "GET /api/v1/search?q=a%25a%25a%25a%25a%25a%25a%25a",
 "GET /api/v1/search?q=" . ("the+" x 50), "GET /api/v1/search?q=" . ("the+" x 48) . "blueprin",
 "GET /api/v1/search?q=k&type=song", "GET /api/v1/search?q=!!!%3F%3F%3F%2C%2C",
 "GET /api/v1/search?q=%E6%97%A5%E6%9C%AC", "GET /api/v1/search?q=" . ("x" x 200)]
--- error_code eval
[200, 200, 200, 200, 200, 200, 200, 200, 200, 200]
--- response_body_like eval
[qr/^\{"artists":\[\],"albums":\[\],"songs":\[\]\}$/,
 qr/^\{"artists":\[\],"albums":\[\],"songs":\[\]\}$/,
 qr/^\{"artists":\[\],"albums":\[\],"songs":\[\]\}$/,
 qr/^\{"artists":\[\],"albums":\[\],"songs":\[\]\}$/,
 qr/^\{"artists":\[\],"albums":\[\{"id":1,"artist_id":4,"title":"The Blueprint",[^{]*\}\],"songs":\[\{"id":1,[^{]*\},\{"id":4,[^{]*\}\]\}$/,
 qr/^\{"artists":\[\],"albums":\[\{"id":1,"artist_id":4,"title":"The Blueprint",[^{]*\}\],"songs":\[\]\}$/,
 qr/^\{"songs":\[\{"id":10,[^{]*"title":"Karma Police",[^{]*\}\]\}$/,
 qr/^\{"artists":\[\],"albums":\[\],"songs":\[\]\}$/,
 qr/^\{"artists":\[\],"albums":\[\],"songs":\[\]\}$/,
 qr/^\{"artists":\[\],"albums":\[\],"songs":\[\]\}$/]
--- no_error_log
[error]
