# Search: what a write makes is found at once, and the ranking tiers:
# the exact name, then names starting with the text, then names holding
# its words, then typos, and how many candidates a tier brings.  The
# artists made here are deleted here, and the id sequence is put back:
# later suites see the fixture as it was.

use Test::Nginx::Socket 'no_plan';
use Tunesheap::Test;

our $Key = "Authorization: Bearer tsk_test_writer";
our $Json = "Content-Type: application/json";

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a new artist is found by the very next search, as typed
--- request eval
["POST /api/v1/artists\n{\"artist\":{\"name\":\"Heavy Metal Thunder\"}}",
 "GET /api/v1/search?q=heavy%20met&type=artist",
 "GET /api/v1/search?q=thunder&type=artist"]
--- more_headers eval
["$::Key\n$::Json", "", ""]
--- error_code eval
[201, 200, 200]
--- response_body_like eval
[qr/"name":"Heavy Metal Thunder"/,
 qr/^\{"artists":\[\{"id":\d+,"name":"Heavy Metal Thunder",[^{]*\}\]\}$/,
 qr/^\{"artists":\[\{"id":\d+,"name":"Heavy Metal Thunder",[^{]*\}\]\}$/]
--- no_error_log
[error]



=== TEST 2: exact name, then name prefix, then a word; typos only for a text not typed right
A text whose words are all words of the table and that finds a name
is taken as typed: "metal" does not bring "Mettal" (a typo of it), as
"metl", a word no name holds, brings the names one edit away.
--- request eval
["POST /api/v1/artists\n{\"artist\":{\"name\":\"Mettal\"}}",
 "POST /api/v1/artists\n{\"artist\":{\"name\":\"METAL\"}}",
 "GET /api/v1/search?q=metal&type=artist",
 "GET /api/v1/search?q=metl&type=artist",
 "GET /api/v1/search?q=mettal&type=artist"]
--- more_headers eval
["$::Key\n$::Json", "$::Key\n$::Json", "", "", ""]
--- error_code eval
[201, 201, 200, 200, 200]
--- response_body_like eval
[qr/"name":"Mettal"/, qr/"name":"METAL"/,
 qr/^\{"artists":\[\{"id":\d+,"name":"METAL",[^{]*\},\{"id":5,"name":"Metallica",[^{]*\},\{"id":\d+,"name":"Heavy Metal Thunder",[^{]*\}\]\}$/,
 qr/^\{"artists":\[\{"id":\d+,"name":"METAL",[^{]*\},\{"id":\d+,"name":"Heavy Metal Thunder",[^{]*\}\]\}$/,
 qr/^\{"artists":\[\{"id":\d+,"name":"Mettal",[^{]*\}\]\}$/]
--- no_error_log
[error]



=== TEST 3: a renamed artist is found by its new name only
--- init
my $id = Tunesheap::Test::sql("SELECT id FROM artists WHERE name = 'Mettal'");
my ($st) = Tunesheap::Test::http(PATCH => "/api/v1/artists/$id",
    headers => { Authorization => "Bearer tsk_test_writer",
                 "Content-Type" => "application/json" },
    body => '{"artist":{"name":"Zyxwv Quartet"}}');
Test::More::is($st, 200, "renamed");
--- request eval
["GET /api/v1/search?q=zyxwv%20qua&type=artist", "GET /api/v1/search?q=mettal&type=artist"]
--- error_code eval
[200, 200]
--- response_body_like eval
[qr/^\{"artists":\[\{"id":\d+,"name":"Zyxwv Quartet",[^{]*\}\]\}$/,
 qr/^\{"artists":\[(?!.*Zyxwv).*\]\}$/]



=== TEST 4: gone once deleted
--- init
for my $name ('Heavy Metal Thunder', 'METAL', 'Zyxwv Quartet') {
    my $id = Tunesheap::Test::sql("SELECT id FROM artists WHERE name = '$name'");
    my ($st) = Tunesheap::Test::http(DELETE => "/api/v1/artists/$id",
        headers => { Authorization => "Bearer tsk_test_writer" });
    Test::More::is($st, 204, "deleted $name");
}
# later suites count on the fixture's next ids
Tunesheap::Test::sql("SELECT setval('artists_id_seq', (SELECT max(id) FROM artists))");
--- request eval
["GET /api/v1/search?q=thunder&type=artist", "GET /api/v1/search?q=metal&type=artist"]
--- error_code eval
[200, 200]
--- response_body_like eval
[qr/^\{"artists":\[\]\}$/,
 qr/^\{"artists":\[\{"id":5,"name":"Metallica",[^{]*\}\]\}$/]



=== TEST 5: a tier below the first brings the page and 5 more candidates
Names holding the word (none starts with it), then typos of it: each
tier gives the ranking limit + 5 of its names to choose from, however
many hold the word.
--- init
Tunesheap::Test::sql("INSERT INTO artists (name) SELECT 'Orchestra Zqxband ' || i FROM generate_series(1, 12) i");
Test::More::is(Tunesheap::Test::sql("SELECT count(*) FROM ts_search_ids_artists(ts_fold('zqxband'), 2)"),
    7, "names holding the word: 2 + 5");
Test::More::is(Tunesheap::Test::sql("SELECT count(*) FROM ts_search_ids_artists(ts_fold('zqxbnad'), 2)"),
    7, "typos: 2 + 5");
Test::More::is(Tunesheap::Test::sql("SELECT count(*) FROM ts_search_ids_artists(ts_fold('zqxband'), 20)"),
    12, "all of them when fewer");
--- request eval
["GET /api/v1/search?q=zqxband&type=artist&limit=2",
 "GET /api/v1/search?q=zqxbnad&type=artist&limit=2"]
--- error_code eval
[200, 200]
--- response_body_like eval
[qr/^\{"artists":\[\{"id":\d+,"name":"Orchestra Zqxband \d+",[^{]*\},\{"id":\d+,"name":"Orchestra Zqxband \d+",[^{]*\}\]\}$/,
 qr/^\{"artists":\[\{"id":\d+,"name":"Orchestra Zqxband \d+",[^{]*\},\{"id":\d+,"name":"Orchestra Zqxband \d+",[^{]*\}\]\}$/]
--- no_error_log
[error]



=== TEST 6: (clean-up) the fixture as it was
--- init
Tunesheap::Test::sql("DELETE FROM artists WHERE name LIKE 'Orchestra Zqxband %'");
Tunesheap::Test::sql("SELECT setval('artists_id_seq', (SELECT max(id) FROM artists))");
--- request
GET /api/v1/search?q=zqxband&type=artist
--- error_code: 200
--- response_body
{"artists":[]}
