# Playlists: an ordered many-to-many relation described in ts_resource.c.
# Reads (items, lists, filters, pages of entries in position order),
# every write (the playlist, all its entries, one entry inserted, moved,
# removed), If-Match (412), unknown songs (422), stale positions and
# entries (409), deleting a song a playlist holds (409 naming it), dense
# positions under concurrent writes, and the cache forgetting a playlist's
# pages when one of its songs changes.  Playlists made here are deleted
# here: later suites see the fixture as it was.

use Test::Nginx::Socket 'no_plan';
use Tunesheap::Test;
use JSON::PP ();

our $Key = "Authorization: Bearer tsk_test_writer";
our $Json = "Content-Type: application/json";
our %Writer = (authorization => 'Bearer tsk_test_writer',
               'content-type' => 'application/json');

# the API's time format
our $T = '"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"';

# a playlist's songs, as "song id@position" in position order, from Postgres
sub entries {
    my ($playlist) = @_;
    return Tunesheap::Test::sql("SELECT coalesce(string_agg(song_id || '\@'"
        . " || position, ' ' ORDER BY position), '') FROM playlist_songs"
        . " WHERE playlist_id = $playlist");
}

# the entry id at a position
sub entry_at {
    my ($playlist, $position) = @_;
    return Tunesheap::Test::sql("SELECT id FROM playlist_songs"
        . " WHERE playlist_id = $playlist AND position = $position");
}

sub etag {
    my ($path) = @_;
    my ($st, $h) = Tunesheap::Test::http(GET => $path);
    return $h->{etag};
}

no_shuffle();
run_tests();

__DATA__

=== TEST 1: create a playlist: 201, Location, ETag, times and revision 1
--- request
POST /api/v1/playlists
{"playlist":{"name":"Today's Top Hits","description":"The hottest tracks right now.","category":"Pop"}}
--- more_headers eval
"$::Key\n$::Json"
--- error_code: 201
--- response_headers
Location: /api/v1/playlists/1
--- raw_response_headers_like chomp
ETag: "[0-9a-f]{32}"
--- response_body_like eval
qr/^\{"playlist":\{"id":1,"name":"Today's Top Hits","description":"The hottest tracks right now\.","category":"Pop","cover_url":null,"created_at":$::T,"updated_at":$::T,"revision":1\}\}$/
--- no_error_log
[error]



=== TEST 2: a second one; the list, filtered by category, paged by id
--- init
my ($st) = Tunesheap::Test::http(POST => "/api/v1/playlists",
    headers => \%::Writer,
    body => '{"playlist":{"name":"RapCaviar","category":"Hip-Hop","cover_url":"https://tunesheap-content.s3.amazonaws.com/rapcaviar"}}');
Test::More::is($st, 201, "created");
--- request eval
["GET /api/v1/playlists", "GET /api/v1/playlists?category=Hip-Hop",
 "GET /api/v1/playlists?limit=1", "GET /api/v1/playlists?limit=1&after=1",
 "GET /api/v1/playlists?category=Jazz", "HEAD /api/v1/playlists/2",
 "HEAD /api/v1/playlists", "HEAD /api/v1/playlists/2/songs"]
--- error_code eval
[200, 200, 200, 200, 200, 200, 200, 200]
--- response_body_like eval
[qr/^\{"playlists":\[\{"id":1,"name":"Today's Top Hits",.*\},\{"id":2,"name":"RapCaviar","description":null,"category":"Hip-Hop","cover_url":"https:\/\/tunesheap-content.s3.amazonaws.com\/rapcaviar",.*"revision":1\}\],"meta":\{"total":2,"limit":20,"offset":0,"next":null,"previous":null\}\}$/,
 qr/^\{"playlists":\[\{"id":2,[^{}]*\}\],"meta":\{"total":1,/,
 qr/^\{"playlists":\[\{"id":1,[^{}]*\}\],"meta":\{"total":2,"limit":1,"offset":0,"next":"\/api\/v1\/playlists\?limit=1&after=1","previous":null\}\}$/,
 qr/^\{"playlists":\[\{"id":2,[^{}]*\}\],"meta":\{"total":2,"limit":1,"offset":null,"next":null,"previous":"\/api\/v1\/playlists\?limit=1&before=2"\}\}$/,
 qr/^\{"playlists":\[\],"meta":\{"total":0,/,
 qr/^$/, qr/^$/, qr/^$/]



=== TEST 3: search finds playlists by name, as it finds the rest
--- request eval
["GET /api/v1/search?q=todays%20top&type=playlist",
 "GET /api/v1/search?q=rapcav&type=playlist,song"]
--- error_code eval
[200, 200]
--- response_body_like eval
[qr/^\{"playlists":\[\{"id":1,"name":"Today's Top Hits",[^{}]*\}\]\}$/,
 qr/^\{"songs":\[\],"playlists":\[\{"id":2,"name":"RapCaviar",[^{}]*\}\]\}$/]



=== TEST 4: a new playlist has no entries; the parent must exist
--- request eval
["GET /api/v1/playlists/1/songs", "GET /api/v1/playlists/99/songs",
 "GET /api/v1/playlists/x/songs"]
--- error_code eval
[200, 404, 400]
--- response_body eval
[qq{{"songs":[],"meta":{"total":0,"limit":20,"offset":0,"next":null,"previous":null}}\n},
 qq{{"error":{"status":404,"message":"playlist 99 not found"}}\n},
 qq{{"error":{"status":400,"message":"playlist id must be a non-negative integer"}}\n}]



=== TEST 5: PUT the whole ordered list: a song may be there twice
--- request
PUT /api/v1/playlists/1/songs
{"song_ids":[3,1,3,2]}
--- more_headers eval
"$::Key\n$::Json"
--- error_code: 200
--- response_headers_like
ETag: "[0-9a-f]{32}"
--- response_body_like eval
qr/^\{"playlist":\{"id":1,"name":"Today's Top Hits",.*"revision":2\}\}$/
--- no_error_log
[error]



=== TEST 6: the entries, in order, each with its id, position and song
--- init
Test::More::is(main::entries(1), '3@0 1@1 3@2 2@3', "rows in Postgres");
--- request
GET /api/v1/playlists/1/songs
--- error_code: 200
--- response_body_like eval
qr/^\{"songs":\[\{"entry_id":\d+,"position":0,"song":\{"id":3,"album_id":1,"artist_id":4,"title":"Izzo \(H\.O\.V\.A\.\)","track_number":3,"duration_ms":240000,"audio":null,"stream_url":null\}\},\{"entry_id":\d+,"position":1,"song":\{"id":1,[^{}]*\}\},\{"entry_id":\d+,"position":2,"song":\{"id":3,[^{}]*\}\},\{"entry_id":\d+,"position":3,"song":\{"id":2,[^{}]*\}\}\],"meta":\{"total":4,"limit":20,"offset":0,"next":null,"previous":null\}\}$/



=== TEST 7: pages of entries: by offset, after and before an entry
Entries 1 to 4 are those of the PUT, in order.
--- init
Test::More::is(join(' ', map { main::entry_at(1, $_) } 0 .. 3), '1 2 3 4',
               "the entries' ids");
--- request eval
["GET /api/v1/playlists/1/songs?limit=2",
 "GET /api/v1/playlists/1/songs?limit=2&offset=2",
 "GET /api/v1/playlists/1/songs?limit=2&after=2",
 "GET /api/v1/playlists/1/songs?limit=2&before=4",
 "GET /api/v1/playlists/1/songs?limit=2&before=1",
 "GET /api/v1/playlists/2/songs?after=1"]
--- error_code eval
[200, 200, 200, 200, 200, 400]
--- response_body_like eval
[qr/^\{"songs":\[\{"entry_id":1,"position":0,"song":\{"id":3,[^{}]*\}\},\{"entry_id":2,"position":1,[^{}]*\{[^{}]*\}\}\],"meta":\{"total":4,"limit":2,"offset":0,"next":"\/api\/v1\/playlists\/1\/songs\?limit=2&after=2","previous":null\}\}$/,
 qr/^\{"songs":\[\{"entry_id":3,"position":2,[^{}]*\{[^{}]*\}\},\{"entry_id":4,"position":3,[^{}]*\{[^{}]*\}\}\],"meta":\{"total":4,"limit":2,"offset":2,"next":null,"previous":"\/api\/v1\/playlists\/1\/songs\?limit=2&offset=0"\}\}$/,
 qr/^\{"songs":\[\{"entry_id":3,"position":2,[^{}]*\{[^{}]*\}\},\{"entry_id":4,"position":3,[^{}]*\{[^{}]*\}\}\],"meta":\{"total":4,"limit":2,"offset":null,"next":null,"previous":"\/api\/v1\/playlists\/1\/songs\?limit=2&before=3"\}\}$/,
 qr/^\{"songs":\[\{"entry_id":2,"position":1,[^{}]*\{[^{}]*\}\},\{"entry_id":3,"position":2,[^{}]*\{[^{}]*\}\}\],"meta":\{"total":4,"limit":2,"offset":null,"next":"\/api\/v1\/playlists\/1\/songs\?limit=2&after=3","previous":"\/api\/v1\/playlists\/1\/songs\?limit=2&before=2"\}\}$/,
 qr/^\{"songs":\[\],"meta":\{"total":4,"limit":2,"offset":null,"next":"\/api\/v1\/playlists\/1\/songs\?limit=2&offset=0","previous":null\}\}$/,
 qr/^\{"error":\{"status":400,"message":"after: entry 1 is not in this list"\}\}$/]



=== TEST 8: pages of entries missed in one turn share a statement
Redis is frozen while the pages send their lookups; thawed, it answers
them together, so their misses come in one turn, as in t/025.
--- http_config eval
Tunesheap::Test::cached_config() . "tunesheap_redis_timeout 5s;\n"
--- init
Tunesheap::Test::redis_ctl('cli', 'FLUSHALL');
my %want = (
    "offset=0&limit=2" => "3 1", "offset=2&limit=2" => "3 2",
    "after=2&limit=2" => "3 2", "after=99&limit=1" => "400",
    "before=4&limit=2" => "1 3",
);
my ($seen, $ran) = Tunesheap::Test::one_turn(sub {
    my ($path, $st, $h, $body) = @_;
    (my $args = $path) =~ s/^[^?]*\?//;
    my $got = $st == 200
        ? join(' ', map { $_->{song}{id} } @{ JSON::PP::decode_json($body)->{songs} })
        : $st;
    return "$args => $got";
}, map { "/api/v1/playlists/1/songs?$_" } sort keys %want);
Test::More::is_deeply($seen, [ map { "$_ => $want{$_}" } sort keys %want ],
                      'each page its own entries');
my @run = sort grep { /^ts_playlists_songs/ } @$ran;
Test::More::is("@run", "ts_playlists_songs_0_after_n ts_playlists_songs_0_before"
                       . " ts_playlists_songs_0_n", 'one statement a kind of page');
--- request
GET /api/v1/playlists/1/songs?offset=2&limit=2
--- error_code: 200



=== TEST 9: insert one entry at a position, and one at the end
--- init
my ($st) = Tunesheap::Test::http(POST => "/api/v1/playlists/1/songs",
    headers => \%::Writer, body => '{"song_id":5,"position":1}');
Test::More::is($st, 201, "inserted at 1");
Test::More::is(main::entries(1), '3@0 5@1 1@2 3@3 2@4', "shifted, not rewritten");
--- request
POST /api/v1/playlists/1/songs
{"song_id":6}
--- more_headers eval
"$::Key\n$::Json"
--- error_code: 201
--- response_body_like eval
qr/^\{"playlist":\{"id":1,.*"revision":4\}\}$/
--- no_error_log
[error]



=== TEST 10: move one entry, up and down; the others keep their ids
Entry 6 is last, entry 1 first.
--- init
my $last = main::entry_at(1, 5);
my $first = main::entry_at(1, 0);
Test::More::is("$last $first", "6 1", "the entries to move");
my $before = Tunesheap::Test::sql("SELECT string_agg(id::text, ',' ORDER BY id) FROM playlist_songs WHERE playlist_id = 1");
my ($st) = Tunesheap::Test::http(PATCH => "/api/v1/playlists/1/songs/$last",
    headers => \%::Writer, body => '{"position":0}');
Test::More::is($st, 200, "moved to the top");
Test::More::is(main::entries(1), '6@0 3@1 5@2 1@3 3@4 2@5', "the last went first");
($st) = Tunesheap::Test::http(PATCH => "/api/v1/playlists/1/songs/$first",
    headers => \%::Writer, body => '{"position":4}');
Test::More::is($st, 200, "moved down");
Test::More::is(main::entries(1), '6@0 5@1 1@2 3@3 3@4 2@5', "the old first is fifth");
Test::More::is(main::entry_at(1, 4), $first, "the moved entry keeps its id");
Test::More::is(Tunesheap::Test::sql("SELECT string_agg(id::text, ',' ORDER BY id) FROM playlist_songs WHERE playlist_id = 1"),
               $before, "no entry was rewritten");
--- request eval
"GET /api/v1/playlists/1/songs?limit=1"
--- response_body_like eval
qr/^\{"songs":\[\{"entry_id":6,"position":0,"song":\{"id":6,/



=== TEST 11: remove one entry: those after it move up
--- init
Test::More::is(main::entry_at(1, 1), 5, "entry 5 is second");
--- request eval
["DELETE /api/v1/playlists/1/songs/5", "DELETE /api/v1/playlists/1/songs/5"]
--- more_headers eval
[$::Key, $::Key]
--- error_code eval
[200, 409]
--- response_body_like eval
[qr/^\{"playlist":\{"id":1,.*"revision":7\}\}$/,
 qr/^\{"error":\{"status":409,"message":"playlist 1: entry 5 is not in this list"\}\}$/]
--- no_error_log
[error]



=== TEST 12: entries left dense, in Postgres and in the list's total
--- init
Test::More::is(main::entries(1), '6@0 1@1 3@2 3@3 2@4', "dense positions");
--- request
GET /api/v1/playlists/1/songs?limit=1&offset=4
--- response_body_like eval
qr/^\{"songs":\[\{"entry_id":\d+,"position":4,"song":\{"id":2,[^{}]*\}\}\],"meta":\{"total":5,"limit":1,"offset":4,"next":null,/



=== TEST 13: every entry write changes the playlist's ETag; If-Match: 412
--- init
my $path = "/api/v1/playlists/1";
my $old = main::etag($path);
my ($st, $h) = Tunesheap::Test::http(POST => "$path/songs",
    headers => { %::Writer, 'if-match' => $old }, body => '{"song_id":7}');
Test::More::is($st, 201, "a write with the current ETag");
Test::More::isnt($h->{etag}, $old, "a new ETag");
Test::More::is(main::etag($path), $h->{etag}, "the one GET gives");
for my $w (["PUT", "$path/songs", '{"song_ids":[1]}'],
           ["POST", "$path/songs", '{"song_id":1}'],
           ["PATCH", "$path/songs/6", '{"position":1}'],
           ["DELETE", "$path/songs/6", undef]) {
    ($st) = Tunesheap::Test::http($w->[0] => $w->[1],
        headers => { %::Writer, 'if-match' => $old }, body => $w->[2]);
    Test::More::is($st, 412, "$w->[0] with the ETag before the write: 412");
}
Test::More::is(main::entries(1), '6@0 1@1 3@2 3@3 2@4 7@5', "nothing written");
--- request eval
["PUT /api/v1/playlists/1/songs\n{\"song_ids\":[1]}",
 "POST /api/v1/playlists/1/songs\n{\"song_id\":1}",
 "PATCH /api/v1/playlists/1/songs/6\n{\"position\":1}",
 "DELETE /api/v1/playlists/1/songs/6",
 "PATCH /api/v1/playlists/1\n{\"playlist\":{\"name\":\"x\"}}",
 "DELETE /api/v1/playlists/1"]
--- more_headers eval
[map { "$::Key\n$::Json\nIf-Match: \"0123456789abcdef0123456789abcdef\"" } 1 .. 6]
--- error_code eval
[412, 412, 412, 412, 412, 412]
--- response_body_like eval
[map { qr/"message":"playlist 1 has changed: If-Match does not match its ETag"/ } 1 .. 6]
--- no_error_log
[error]



=== TEST 14: unknown songs: 422 naming them; nothing written
--- request eval
["PUT /api/v1/playlists/1/songs\n{\"song_ids\":[3,98,1,99,98]}",
 "POST /api/v1/playlists/1/songs\n{\"song_id\":97,\"position\":0}",
 "PUT /api/v1/playlists/99/songs\n{\"song_ids\":[1]}"]
--- more_headers eval
["$::Key\n$::Json", "$::Key\n$::Json", "$::Key\n$::Json"]
--- error_code eval
[422, 422, 404]
--- response_body eval
[qq{{"error":{"status":422,"message":"validation failed","fields":{"song_ids":"songs 98, 99: no such song"}}}\n},
 qq{{"error":{"status":422,"message":"validation failed","fields":{"song_id":"songs 97: no such song"}}}\n},
 qq{{"error":{"status":404,"message":"playlist 99 not found"}}\n}]
--- no_error_log
[error]



=== TEST 15: bodies that are not entries: 422 naming the field
--- request eval
["PUT /api/v1/playlists/1/songs\n{\"song_ids\":3}",
 "PUT /api/v1/playlists/1/songs\n{\"song_ids\":[1,\"2\"]}",
 "PUT /api/v1/playlists/1/songs\n{\"song_id\":1}",
 "POST /api/v1/playlists/1/songs\n{\"song_id\":1,\"position\":-1}",
 "POST /api/v1/playlists/1/songs\n{\"position\":0}",
 "PATCH /api/v1/playlists/1/songs/6\n{}",
 "PATCH /api/v1/playlists/1/songs/6\n{\"position\":1.5,\"song_id\":2}",
 "POST /api/v1/playlists/1/songs\n[1]",
 "PATCH /api/v1/playlists/1/songs/6\n{\"position\":null}"]
--- more_headers eval
[map { "$::Key\n$::Json" } 1 .. 9]
--- error_code eval
[422, 422, 422, 422, 422, 422, 422, 422, 422]
--- response_body_like eval
[qr/"fields":\{"song_ids":"must be an array of song ids"\}/,
 qr/"fields":\{"song_ids":"must be an array of song ids"\}/,
 qr/"fields":\{"song_id":"is not allowed here","song_ids":"is required"\}/,
 qr/"fields":\{"position":"must be an integer from 0 to 2147483647"\}/,
 qr/"fields":\{"song_id":"is required"\}/,
 qr/"fields":\{"position":"is required"\}/,
 qr/"fields":\{"song_id":"is not allowed here","position":"must be an integer from 0 to 2147483647"\}/,
 qr/"fields":\{"body":"must be an object"\}/,
 qr/"fields":\{"position":"is required"\}/]



=== TEST 16: 409: a position past the end, an entry of another list
Playlist 1 has 6 entries, entry 6 first.
--- init
Test::More::is(main::entries(1), '6@0 1@1 3@2 3@3 2@4 7@5', "nothing written");
Test::More::is(main::entry_at(1, 0), 6, "entry 6 first");
--- request eval
["POST /api/v1/playlists/1/songs\n{\"song_id\":1,\"position\":" . 7 . "}",
 "PATCH /api/v1/playlists/1/songs/6\n{\"position\":6}",
 "PATCH /api/v1/playlists/2/songs/6\n{\"position\":0}",
 "DELETE /api/v1/playlists/2/songs/6"]
--- more_headers eval
[map { "$::Key\n$::Json" } 1 .. 4]
--- error_code eval
[409, 409, 409, 409]
--- response_body eval
[qq{{"error":{"status":409,"message":"playlist 1: position 7 is past the end: the list has 6 entries"}}\n},
 qq{{"error":{"status":409,"message":"playlist 1: position 6 is past the end: the list has 6 entries"}}\n},
 qq{{"error":{"status":409,"message":"playlist 2: entry 6 is not in this list"}}\n},
 qq{{"error":{"status":409,"message":"playlist 2: entry 6 is not in this list"}}\n}]



=== TEST 17: routes of entries: ids, methods, the key
--- request eval
["DELETE /api/v1/playlists/1/songs/x", "GET /api/v1/playlists/1/songs/1",
 "DELETE /api/v1/playlists/1/songs/1", "PATCH /api/v1/playlists/1/songs",
 "GET /api/v1/playlists/1/albums"]
--- more_headers eval
[$::Key, $::Key, "", $::Key, ""]
--- error_code eval
[400, 405, 401, 405, 404]
--- response_headers eval
["", "Allow: PATCH, DELETE", "", "Allow: GET, HEAD, PUT, POST", ""]
--- response_body_like eval
[qr/"entry id must be a non-negative integer"/, qr/"method not allowed here, use PATCH, DELETE"/,
 qr/"status":401/, qr/"method not allowed here, use GET, HEAD, PUT, POST"/,
 qr/"no resource at this path"/]



=== TEST 18: a song a playlist holds cannot be deleted: 409 naming it
--- init
my ($st) = Tunesheap::Test::http(PUT => "/api/v1/playlists/2/songs",
    headers => \%::Writer, body => '{"song_ids":[2,4]}');
Test::More::is($st, 200, "playlist 2 holds song 2");
--- request eval
["DELETE /api/v1/songs/2", "DELETE /api/v1/songs/4", "GET /api/v1/songs/2"]
--- more_headers eval
[$::Key, $::Key, ""]
--- error_code eval
[409, 409, 200]
--- response_body_like eval
[qr/^\{"error":\{"status":409,"message":"song 2 is in playlists 1, 2: remove it from them first"\}\}$/,
 qr/^\{"error":\{"status":409,"message":"song 4 is in playlists 2: remove it from them first"\}\}$/,
 qr/"id":2,/]
--- no_error_log
[error]



=== TEST 19: concurrent inserts, moves and removals keep positions dense
Four clients write playlist 2 at once, without If-Match: each inserts
at the top, moves the last entry first and removes the second, ten
times; positions end dense, from 0, and no insert is lost.
--- init
my ($st) = Tunesheap::Test::http(PUT => "/api/v1/playlists/2/songs",
    headers => \%::Writer, body => '{"song_ids":[1,2,3,4,5,6,7,8]}');
my @pids;
for my $k (1 .. 4) {
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        my $bad = 0;
        for my $i (1 .. 10) {
            my ($s1) = Tunesheap::Test::http(POST => "/api/v1/playlists/2/songs",
                headers => \%::Writer, body => qq{{"song_id":$k,"position":0}});
            $bad++ if $s1 != 201;
            my $n = Tunesheap::Test::sql("SELECT count(*) FROM playlist_songs WHERE playlist_id = 2");
            my $e = main::entry_at(2, $n - 1);
            if ($e ne '') {
                my ($s2) = Tunesheap::Test::http(PATCH => "/api/v1/playlists/2/songs/$e",
                    headers => \%::Writer, body => '{"position":0}');
                $bad++ if $s2 != 200 && $s2 != 409;
            }
            $e = main::entry_at(2, 1);
            if ($e ne '') {
                my ($s3) = Tunesheap::Test::http(DELETE => "/api/v1/playlists/2/songs/$e",
                    headers => \%::Writer);
                $bad++ if $s3 != 200 && $s3 != 409;
            }
        }
        POSIX::_exit($bad ? 1 : 0);
    }
    push @pids, $pid;
}
my $ok = 0;
for my $pid (@pids) {
    waitpid $pid, 0;
    $ok++ if $? == 0;
}
Test::More::is($ok, 4, "every write answered 200, 201 or a 409 for a stale entry");
my $n = Tunesheap::Test::sql("SELECT count(*) FROM playlist_songs WHERE playlist_id = 2");
Test::More::is(Tunesheap::Test::sql("SELECT count(*) = max(position) + 1 AND min(position) = 0 FROM playlist_songs WHERE playlist_id = 2"),
               't', "positions dense from 0 ($n entries)");
Test::More::cmp_ok($n, '>=', 8, "at least the inserts that no removal took");
my ($st2, $h2, $body) = Tunesheap::Test::http(GET => "/api/v1/playlists/2/songs?limit=1");
Test::More::like($body, qr/"meta":\{"total":$n,/, "the list's total");
--- request
GET /api/v1/playlists/2/songs?limit=100
--- response_body_like chomp
^\{"songs":\[\{"entry_id":\d+,"position":0,
--- timeout: 30
--- no_error_log
[error]



=== TEST 20: cache: a song's change reaches the playlist's cached pages
--- http_config eval: Tunesheap::Test::cached_config()
--- init
Tunesheap::Test::redis_ctl('cli', 'FLUSHALL');
my ($st, $h) = Tunesheap::Test::http(GET => "/api/v1/playlists/1/songs");
Test::More::is($h->{'x-cache'}, 'MISS', "first a miss");
($st, $h) = Tunesheap::Test::http(GET => "/api/v1/playlists/1/songs");
Test::More::is($h->{'x-cache'}, 'HIT redis', "then a hit");
($st) = Tunesheap::Test::http(PATCH => "/api/v1/songs/3",
    headers => \%::Writer, body => '{"song":{"title":"Izzo (remix)"}}');
Test::More::is($st, 200, "the song changed");
--- request eval
["GET /api/v1/playlists/1/songs", "GET /api/v1/playlists/1/songs",
 "PATCH /api/v1/songs/3\n{\"song\":{\"title\":\"Izzo (H.O.V.A.)\"}}",
 "GET /api/v1/playlists/1/songs"]
--- more_headers eval
["", "", "$::Key\n$::Json", ""]
--- response_headers eval
["X-Cache: MISS", "X-Cache: HIT redis", "", "X-Cache: MISS"]
--- response_body_like eval
[qr/"title":"Izzo \(remix\)"/, qr/"title":"Izzo \(remix\)"/, qr/"title":"Izzo \(H\.O\.V\.A\.\)"/,
 qr/"title":"Izzo \(H\.O\.V\.A\.\)"/]



=== TEST 21: cache: an entry write reaches the playlist and its pages
--- http_config eval: Tunesheap::Test::cached_config()
--- init
Tunesheap::Test::redis_ctl('cli', 'FLUSHALL');
Tunesheap::Test::http(GET => "/api/v1/playlists/1/songs?limit=1");
Tunesheap::Test::http(GET => "/api/v1/playlists/1");
my ($st, $h) = Tunesheap::Test::http(GET => "/api/v1/playlists/1");
Test::More::is($h->{'x-cache'}, 'HIT redis', "the playlist is cached");
--- request eval
["POST /api/v1/playlists/1/songs\n{\"song_id\":8,\"position\":0}",
 "GET /api/v1/playlists/1/songs?limit=1", "GET /api/v1/playlists/1"]
--- more_headers eval
["$::Key\n$::Json", "", ""]
--- error_code eval
[201, 200, 200]
--- response_headers eval
["", "X-Cache: MISS", "X-Cache: MISS"]
--- response_body_like eval
[qr/"revision":\d+/, qr/"position":0,"song":\{"id":8,/, qr/"playlist":\{"id":1,/]



=== TEST 22: update a playlist: its revision and updated_at move on
--- request eval
["PATCH /api/v1/playlists/2\n" . '{"playlist":{"description":"Hip-hop\'s heaviest.","cover_url":null}}',
 "PUT /api/v1/playlists/2\n" . '{"playlist":{"name":"RapCaviar","category":"Hip-Hop"}}']
--- more_headers eval
["$::Key\n$::Json", "$::Key\n$::Json"]
--- error_code eval
[200, 200]
--- response_body_like eval
[qr/^\{"playlist":\{"id":2,"name":"RapCaviar","description":"Hip-hop's heaviest\.","category":"Hip-Hop","cover_url":null,"created_at":$::T,"updated_at":$::T,"revision":(\d+)\}\}$/,
 qr/^\{"playlist":\{"id":2,"name":"RapCaviar","description":null,"category":"Hip-Hop","cover_url":null,"created_at":$::T,"updated_at":$::T,"revision":\d+\}\}$/]



=== TEST 23: an entry write retried with its Idempotency-Key is done once
--- init
my ($st) = Tunesheap::Test::http(POST => "/api/v1/playlists",
    headers => \%::Writer, body => '{"playlist":{"name":"Retried"}}');
Test::More::is($st, 201, "playlist 3");
--- request eval
["POST /api/v1/playlists/3/songs\n{\"song_id\":9}",
 "POST /api/v1/playlists/3/songs\n{\"song_id\":9}",
 "POST /api/v1/playlists/3/songs\n{\"song_id\":10}",
 "GET /api/v1/playlists/3/songs", "DELETE /api/v1/playlists/3"]
--- more_headers eval
["$::Key\n$::Json\nIdempotency-Key: entry-1", "$::Key\n$::Json\nIdempotency-Key: entry-1",
 "$::Key\n$::Json\nIdempotency-Key: entry-1", "", $::Key]
--- error_code eval
[201, 201, 422, 200, 204]
--- response_headers eval
["!Idempotent-Replayed", "Idempotent-Replayed: true", "", "", ""]
--- response_body_like eval
[qr/"revision":2\}/, qr/"revision":2\}/, qr/"status":422/,
 qr/^\{"songs":\[\{"entry_id":\d+,"position":0,"song":\{"id":9,[^{}]*\}\}\],"meta":\{"total":1,/, qr/^$/]



=== TEST 24: delete the playlists: 204, then 404; their songs stay
--- request eval
["DELETE /api/v1/playlists/1", "DELETE /api/v1/playlists/2",
 "GET /api/v1/playlists/1/songs", "GET /api/v1/songs/4",
 "GET /api/v1/playlists"]
--- more_headers eval
[$::Key, $::Key, "", "", ""]
--- error_code eval
[204, 204, 404, 200, 200]
--- response_body_like eval
["", "", qr/"playlist 1 not found"/, qr/"id":4,/,
 qr/^\{"playlists":\[\],"meta":\{"total":0,/]
--- no_error_log
[error]
