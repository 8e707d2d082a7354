# Search: words, prefixes and typos over folded names and titles, and the
# search tables the triggers keep: the song made here is deleted here, and
# the id sequence is put back (later suites see the fixture as it was).

use Test::Nginx::Socket 'no_plan';
use Tunesheap::Test;

our $Key = "Authorization: Bearer tsk_test_writer";
our $Json = "Content-Type: application/json";

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
{"artists":[],"albums":[{"id":4,"artist_id":5,"title":"Master of Puppets","release_date":"1986-03-03","genre":"Metal","cover_url":null}],"songs":[{"id":7,"album_id":4,"artist_id":5,"title":"Master of Puppets","track_number":2,"duration_ms":515000,"audio":null,"stream_url":null}],"playlists":[]}



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
{"artists":[],"albums":[],"songs":[],"playlists":[]}



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
 qq{{"error":{"status":400,"message":"type must be a comma-separated list of artist, album, song and playlist"}}\n},
 qq{{"error":{"status":400,"message":"type must be a comma-separated list of artist, album, song and playlist"}}\n},
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
Postgres's notice for a text without words (one a type) is not sent: the
pool's sessions ask for warnings and worse only.
--- request eval
["GET /api/v1/search?q=%25", "GET /api/v1/search?q=_",
 "GET /api/v1/search?q=%25%25%25%25%25%25%25%25", "GET /api/v1/search?q=a%25a%25a%25a%25a%25a%25a%25a",
 "GET /api/v1/search?q=" . ("the+" x 50), "GET /api/v1/search?q=" . ("the+" x 48) . "blueprin",
 "GET /api/v1/search?q=k&type=song", "GET /api/v1/search?q=!!!%3F%3F%3F%2C%2C",
 "GET /api/v1/search?q=%E6%97%A5%E6%9C%AC", "GET /api/v1/search?q=" . ("x" x 200)]
--- error_code eval
[200, 200, 200, 200, 200, 200, 200, 200, 200, 200]
--- response_body_like eval
[qr/^\{"artists":\[\],"albums":\[\],"songs":\[\],"playlists":\[\]\}$/,
 qr/^\{"artists":\[\],"albums":\[\],"songs":\[\],"playlists":\[\]\}$/,
 qr/^\{"artists":\[\],"albums":\[\],"songs":\[\],"playlists":\[\]\}$/,
 qr/^\{"artists":\[\],"albums":\[\],"songs":\[\],"playlists":\[\]\}$/,
 qr/^\{"artists":\[\],"albums":\[\{"id":1,"artist_id":4,"title":"The Blueprint",[^{]*\}\],"songs":\[\{"id":1,[^{]*\},\{"id":4,[^{]*\}\],"playlists":\[\]\}$/,
 qr/^\{"artists":\[\],"albums":\[\{"id":1,"artist_id":4,"title":"The Blueprint",[^{]*\}\],"songs":\[\],"playlists":\[\]\}$/,
 qr/^\{"songs":\[\{"id":10,[^{]*"title":"Karma Police",[^{]*\}\]\}$/,
 qr/^\{"artists":\[\],"albums":\[\],"songs":\[\],"playlists":\[\]\}$/,
 qr/^\{"artists":\[\],"albums":\[\],"songs":\[\],"playlists":\[\]\}$/,
 qr/^\{"artists":\[\],"albums":\[\],"songs":\[\],"playlists":\[\]\}$/]
--- log_level: info
--- no_error_log
[error]
contains only stop words



=== TEST 13: a typo in a song's word: its words one edit away
--- request eval
["GET /api/v1/search?q=paranoud%20android&type=song",
 "GET /api/v1/search?q=android%20paarnoid&type=song",
 "GET /api/v1/search?q=paxanoud&type=song"]
--- error_code eval
[200, 200, 200]
--- response_body_like eval
[qr/^\{"songs":\[\{"id":9,"album_id":5,"artist_id":6,"title":"Paranoid Android",[^{]*\}\]\}$/,
 qr/^\{"songs":\[\{"id":9,"album_id":5,"artist_id":6,"title":"Paranoid Android",[^{]*\}\]\}$/,
 qr/^\{"songs":\[\]\}$/]
--- no_error_log
[error]



=== TEST 14: a new song is found at once: whole title, a word, as typed, a typo
--- request eval
["POST /api/v1/songs\n{\"song\":{\"album_id\":5,\"artist_id\":6,\"title\":\"Quixotic Lullaby\"}}",
 "GET /api/v1/search?q=quixotic%20lullaby&type=song",
 "GET /api/v1/search?q=lullaby&type=song",
 "GET /api/v1/search?q=qui&type=song",
 "GET /api/v1/search?q=lulaby&type=song"]
--- more_headers eval
["$::Key\n$::Json", "", "", "", ""]
--- error_code eval
[201, 200, 200, 200, 200]
--- response_body_like eval
[qr/"title":"Quixotic Lullaby"/,
 qr/^\{"songs":\[\{"id":13,[^{]*"title":"Quixotic Lullaby",[^{]*\}\]\}$/,
 qr/^\{"songs":\[\{"id":13,[^{]*"title":"Quixotic Lullaby",[^{]*\}\]\}$/,
 qr/^\{"songs":\[\{"id":13,[^{]*"title":"Quixotic Lullaby",[^{]*\}\]\}$/,
 qr/^\{"songs":\[\{"id":13,[^{]*"title":"Quixotic Lullaby",[^{]*\}\]\}$/]
--- no_error_log
[error]



=== TEST 15: a renamed song is found by its new title, never by its old one
--- init
my ($st) = Tunesheap::Test::http(PATCH => "/api/v1/songs/13",
    headers => { Authorization => "Bearer tsk_test_writer",
                 "Content-Type" => "application/json" },
    body => '{"song":{"title":"Zephyr Waltz"}}');
Test::More::is($st, 200, "renamed");
Test::More::is(Tunesheap::Test::sql("SELECT count(*) FROM ts_search_words"
        . " WHERE kind = 's' AND word IN ('quixotic', 'lullaby')"), 0,
    "the old title's words are gone from the word list");
--- request eval
["GET /api/v1/search?q=zephyr%20wal&type=song",
 "GET /api/v1/search?q=quixotic&type=song",
 "GET /api/v1/search?q=lullaby&type=song",
 "GET /api/v1/search?q=qui&type=song",
 "GET /api/v1/search?q=quixotic%20lullaby&type=song"]
--- error_code eval
[200, 200, 200, 200, 200]
--- response_body_like eval
[qr/^\{"songs":\[\{"id":13,[^{]*"title":"Zephyr Waltz",[^{]*\}\]\}$/,
 qr/^\{"songs":\[\]\}$/,
 qr/^\{"songs":\[\]\}$/,
 qr/^\{"songs":\[\]\}$/,
 qr/^\{"songs":\[\]\}$/]
--- no_error_log
[error]



=== TEST 16: a deleted song is found no more, and its words are gone
--- init
my ($st) = Tunesheap::Test::http(DELETE => "/api/v1/songs/13",
    headers => { Authorization => "Bearer tsk_test_writer" });
Test::More::is($st, 204, "deleted");
Test::More::is(Tunesheap::Test::sql("SELECT count(*) FROM ts_search_words"
        . " WHERE kind = 's' AND word IN ('zephyr', 'waltz')"
        . " UNION ALL SELECT count(*) FROM ts_search_terms"
        . " WHERE kind = 's' AND id = 13"
        . " UNION ALL SELECT count(*) FROM ts_search_names"
        . " WHERE kind = 's' AND id = 13"), "0\n0\n0",
    "nothing of it is left in the search tables");
# later suites count on the fixture's next ids
Tunesheap::Test::sql("SELECT setval('songs_id_seq', (SELECT max(id) FROM songs))");
--- request eval
["GET /api/v1/search?q=zephyr%20waltz&type=song", "GET /api/v1/search?q=zep&type=song"]
--- error_code eval
[200, 200]
--- response_body_like eval
[qr/^\{"songs":\[\]\}$/, qr/^\{"songs":\[\]\}$/]



=== TEST 17: the search tables hold exactly what the catalog's names say
--- init
Test::More::is(Tunesheap::Test::sql(q{SELECT count(*) FROM (
    (SELECT 's'::\"char\", id, ts_fold(title) FROM songs
     UNION ALL SELECT 'l', id, ts_fold(title) FROM albums
     UNION ALL SELECT 'a', id, ts_fold(name) FROM artists)
    EXCEPT ALL SELECT kind, id, folded FROM ts_search_names) d}), 0,
    "every name, folded");
Test::More::is(Tunesheap::Test::sql(q{SELECT count(*) FROM (
    (SELECT kind, w, id FROM ts_search_names, unnest(tsvector_to_array(doc)) w)
    EXCEPT ALL SELECT kind, word, id FROM ts_search_terms) d}), 0,
    "every word of every name");
Test::More::is(Tunesheap::Test::sql(q{SELECT count(*) FROM (
    (SELECT kind, word, count(*)::int FROM ts_search_terms GROUP BY 1, 2)
    EXCEPT ALL SELECT kind, word, n FROM ts_search_words) d}), 0,
    "every word, counted");
Test::More::is(Tunesheap::Test::sql(q{SELECT (SELECT count(*) FROM ts_search_names)
    - (SELECT (SELECT count(*) FROM songs) + (SELECT count(*) FROM albums)
              + (SELECT count(*) FROM artists))
    + (SELECT count(*) FROM ts_search_words) - (SELECT count(DISTINCT (kind, word)) FROM ts_search_terms)}), 0,
    "and nothing else");
--- request
GET /api/v1/search?q=karma&type=song
--- error_code: 200
--- response_body_like: ^\{"songs":\[\{"id":10,



=== TEST 18: the types are asked at once; one that fails fails the search once
Artists are slow here: the search's statement times out on them; the answer
is one 504, never a partial body without the artists, and the next search
is answered.  (Health first: it answers once the worker's search
connections, opened when it starts, are set up; a search sent before
would spend these 300 ms waiting for one.)
--- http_config eval
Tunesheap::Test::http_config(dsn => Tunesheap::Test::slow_dsn(2))
. "tunesheap_postgres_timeout 300ms;\n"
--- init
Tunesheap::Test::http(GET => "/api/v1/health");
--- request eval
["GET /api/v1/search?q=metallica", "GET /api/v1/search?q=karma&type=song,album"]
--- error_code eval
[504, 200]
--- response_body_like eval
[qr/^\{"error":\{"status":504,"message":"the database did not answer in time"\}\}$/,
 qr/^\{"albums":\[[^\]]*\],"songs":\[\{"id":10,/]
--- no_error_log
[alert]
[crit]



=== TEST 19: a type not asked for is not searched
All types are one statement; a type left out of type= is skipped in it, not
searched and dropped.  Here the songs' candidates fail for "jay"
(ts_search_ids_songs() of a schema ahead of public): a search for artists
does not see it, a search for songs does.
--- http_config eval
Tunesheap::Test::sql("CREATE SCHEMA IF NOT EXISTS nosongs;"
    . " GRANT USAGE ON SCHEMA nosongs TO PUBLIC;"
    . " CREATE OR REPLACE FUNCTION nosongs.ts_search_ids_songs(t text,"
    . " lim integer, q tsquery, words text[], pre text)"
    . " RETURNS TABLE (ts_id bigint, ts_folded text, ts_doc tsvector)"
    . " LANGUAGE plpgsql AS 'BEGIN"
    . " IF t LIKE ''jay%'' THEN RAISE EXCEPTION ''songs searched''; END IF;"
    . " RETURN QUERY SELECT * FROM"
    . " public.ts_search_ids_songs(t, lim, q, words, pre);"
    . " END'");
Tunesheap::Test::http_config(dsn => "$ENV{TEST_NGINX_PG_DSN}"
                                    . " options='-c search_path=nosongs,public'")
--- init
Tunesheap::Test::http(GET => "/api/v1/health");
--- request eval
["GET /api/v1/search?q=jay&type=artist,album", "GET /api/v1/search?q=jay&type=song"]
--- error_code eval
[200, 500]
--- response_body_like eval
[qr/^\{"artists":\[\{"id":4,"name":"Jay-Z",[^{]*\}\],"albums":\[\]\}$/,
 qr/^\{"error":\{"status":500,/]



=== TEST 20: the search lane plans the search functions once, generic
Their statements are the same index scans for any text: the search lane's
sessions set plan_cache_mode = force_generic_plan and no parallel workers
(where SET clauses on the functions cost every call a save and restore), and
the outer statement is planned once too.  The songs' function is shadowed
(a schema ahead of public) by one that fails a search in a session without
those settings, or when the function keeps SET clauses.
--- http_config eval
Tunesheap::Test::sql("CREATE SCHEMA IF NOT EXISTS plans;"
    . " GRANT USAGE ON SCHEMA plans TO PUBLIC;"
    . " CREATE OR REPLACE FUNCTION plans.ts_search_ids_songs(t text,"
    . " lim integer, q tsquery, words text[], pre text)"
    . " RETURNS TABLE (ts_id bigint, ts_folded text, ts_doc tsvector)"
    . " LANGUAGE plpgsql AS 'BEGIN"
    . " IF current_setting(''plan_cache_mode'') <> ''force_generic_plan''"
    . " OR current_setting(''max_parallel_workers_per_gather'') <> ''0''"
    . " THEN RAISE EXCEPTION ''searched with % plans'',"
    . " current_setting(''plan_cache_mode''); END IF;"
    . " IF (SELECT proconfig FROM pg_proc WHERE oid ="
    . " ''public.ts_search_ids_songs(text, integer, tsquery, text[], text)''"
    . "::regprocedure) IS NOT NULL"
    . " THEN RAISE EXCEPTION ''SET clauses on the function''; END IF;"
    . " RETURN QUERY SELECT * FROM"
    . " public.ts_search_ids_songs(t, lim, q, words, pre);"
    . " END'");
Tunesheap::Test::http_config(dsn => "$ENV{TEST_NGINX_PG_DSN}"
                                    . " options='-c search_path=plans,public'")
--- init
Tunesheap::Test::http(GET => "/api/v1/search?q=warm");
--- request eval
["GET /api/v1/search?q=girls&type=song", "GET /api/v1/search?q=paranoud%20android&type=song"]
--- error_code eval
[200, 200]
--- response_body_like eval
[qr/^\{"songs":\[\{"id":\d+,[^]]*"Girls/, qr/^\{"songs":\[\{"id":\d+,"album_id":\d+,"artist_id":\d+,"title":"Paranoid Android"/]



=== TEST 21: a text's words, and its last word as a prefix as the user types
ts_search_parse() splits the words out of the text's tsquery: every word
required, the last one a prefix too unless it is shorter than 3 letters
or the text ends in something else than a letter or digit; the full
words once each.
--- init
for my $c (["heavy met", "'heavy' & 'met':*|{heavy}|met"],
           ["love lo", "'love' & 'lo'|{lo,love}|"],
           ["winter winter", "'winter' & 'winter':*|{winter}|winter"],
           ["Paper Moon.", "'paper' & 'moon'|{moon,paper}|"],
           ["%%", "||"],
           ["b a c a", "'b' & 'a' & 'c' & 'a'|{a,b,c}|"],
           ["rock roll rock", "'rock' & 'roll' & 'rock':*|{rock,roll}|rock"],
           ["it's alive", "'it' & 's' & 'alive':*|{it,s}|alive"],
           ["\x{d1}and\x{fa} Caf\x{e9}", "'nandu' & 'cafe':*|{nandu}|cafe"]) {
    my $t = $c->[0];
    utf8::encode($t);
    $t =~ s/'/''/g;
    Test::More::is(Tunesheap::Test::sql(
        "SELECT format('%s|%s|%s', q, (SELECT array_agg(w ORDER BY w)"
        . " FROM unnest(words) AS w), pre) FROM ts_search_parse(ts_fold('$t'))"),
        $c->[1], "parsed: $c->[0]");
}
--- request
GET /api/v1/search?q=heavy%20met&type=artist
--- error_code: 200
