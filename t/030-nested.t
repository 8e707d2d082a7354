# Lists under an item: an artist's albums and songs, an album's songs.

use Test::Nginx::Socket 'no_plan';
use Tunesheap::Test;
use JSON::PP ();

no_shuffle();
run_tests();

__DATA__

=== TEST 1: an artist's albums
--- request
GET /api/v1/artists/4/albums
--- error_code: 200
--- response_body
{"albums":[{"id":1,"artist_id":4,"title":"The Blueprint","release_date":"2001-09-11","genre":"Hip-Hop","cover_url":"https://tunesheap-content.s3.amazonaws.com/1-album-cover"},{"id":2,"artist_id":4,"title":"Reasonable Doubt","release_date":"1996-06-25","genre":"Hip-Hop","cover_url":null}],"meta":{"total":2,"limit":20,"offset":0,"next":null,"previous":null}}
--- no_error_log
[error]



=== TEST 2: an artist's songs, by id
--- request
GET /api/v1/artists/1/songs
--- error_code: 200
--- response_body
{"songs":[{"id":5,"album_id":3,"artist_id":1,"title":"Formation","track_number":12,"duration_ms":206000,"audio":null,"stream_url":null},{"id":6,"album_id":3,"artist_id":1,"title":"Hold Up","track_number":2,"duration_ms":221000,"audio":null,"stream_url":null}],"meta":{"total":2,"limit":20,"offset":0,"next":null,"previous":null}}



=== TEST 3: an album's songs, by track number, unnumbered last
--- request
GET /api/v1/albums/1/songs
--- error_code: 200
--- response_body
{"songs":[{"id":1,"album_id":1,"artist_id":4,"title":"The Ruler's Back","track_number":1,"duration_ms":229000,"audio":null,"stream_url":null},{"id":2,"album_id":1,"artist_id":4,"title":"Takeover","track_number":2,"duration_ms":313000,"audio":null,"stream_url":null},{"id":3,"album_id":1,"artist_id":4,"title":"Izzo (H.O.V.A.)","track_number":3,"duration_ms":240000,"audio":null,"stream_url":null},{"id":12,"album_id":1,"artist_id":4,"title":"Girls, Girls, Girls","track_number":null,"duration_ms":null,"audio":null,"stream_url":null}],"meta":{"total":4,"limit":20,"offset":0,"next":null,"previous":null}}



=== TEST 4: nested pages link within the nested list
--- request
GET /api/v1/albums/1/songs?limit=2&offset=1
--- error_code: 200
--- response_body
{"songs":[{"id":2,"album_id":1,"artist_id":4,"title":"Takeover","track_number":2,"duration_ms":313000,"audio":null,"stream_url":null},{"id":3,"album_id":1,"artist_id":4,"title":"Izzo (H.O.V.A.)","track_number":3,"duration_ms":240000,"audio":null,"stream_url":null}],"meta":{"total":4,"limit":2,"offset":1,"next":"/api/v1/albums/1/songs?limit=2&after=3","previous":"/api/v1/albums/1/songs?limit=2&offset=0"}}



=== TEST 5: the path's id wins over the same filter in the query
--- request
GET /api/v1/artists/5/albums?artist_id=4
--- error_code: 200
--- response_body_like chomp
^\{"albums":\[\{"id":4,"artist_id":5,[^{]*\}\],"meta":\{"total":1,



=== TEST 6: other filters combine with the path
--- request
GET /api/v1/artists/4/songs?album_id=2
--- error_code: 200
--- response_body
{"songs":[{"id":4,"album_id":2,"artist_id":4,"title":"Can't Knock the Hustle","track_number":1,"duration_ms":317000,"audio":null,"stream_url":null}],"meta":{"total":1,"limit":20,"offset":0,"next":null,"previous":null}}



=== TEST 7: an artist without albums has an empty list, not a 404
--- request
GET /api/v1/artists/2/albums
--- error_code: 200
--- response_body
{"albums":[],"meta":{"total":0,"limit":20,"offset":0,"next":null,"previous":null}}



=== TEST 8: the parent must exist
--- request eval
["GET /api/v1/artists/99/albums", "GET /api/v1/artists/99/songs",
 "GET /api/v1/albums/99/songs"]
--- error_code eval
[404, 404, 404]
--- response_body eval
[qq{{"error":{"status":404,"message":"artist 99 not found"}}\n},
 qq{{"error":{"status":404,"message":"artist 99 not found"}}\n},
 qq{{"error":{"status":404,"message":"album 99 not found"}}\n}]



=== TEST 9: bad parent ids and arguments
--- request eval
["GET /api/v1/artists/x/albums", "GET /api/v1/albums/-2/songs",
 "GET /api/v1/artists/4/albums?limit=500"]
--- error_code eval
[400, 400, 400]
--- response_body eval
[qq{{"error":{"status":400,"message":"artist id must be a non-negative integer"}}\n},
 qq{{"error":{"status":400,"message":"album id must be a non-negative integer"}}\n},
 qq{{"error":{"status":400,"message":"limit must be an integer from 1 to 100"}}\n}]



=== TEST 10: an album's songs after an item: in track order, unnumbered last
--- request eval
["GET /api/v1/albums/1/songs?limit=2&after=2",
 "GET /api/v1/albums/1/songs?limit=2&after=3",
 "GET /api/v1/albums/1/songs?limit=2&after=12"]
--- error_code eval
[200, 200, 200]
--- response_body eval
[qq{{"songs":[{"id":3,"album_id":1,"artist_id":4,"title":"Izzo (H.O.V.A.)","track_number":3,"duration_ms":240000,"audio":null,"stream_url":null},{"id":12,"album_id":1,"artist_id":4,"title":"Girls, Girls, Girls","track_number":null,"duration_ms":null,"audio":null,"stream_url":null}],"meta":{"total":4,"limit":2,"offset":null,"next":null,"previous":"/api/v1/albums/1/songs?limit=2&before=3"}}\n},
 qq{{"songs":[{"id":12,"album_id":1,"artist_id":4,"title":"Girls, Girls, Girls","track_number":null,"duration_ms":null,"audio":null,"stream_url":null}],"meta":{"total":4,"limit":2,"offset":null,"next":null,"previous":"/api/v1/albums/1/songs?limit=2&before=12"}}\n},
 qq{{"songs":[],"meta":{"total":4,"limit":2,"offset":null,"next":null,"previous":null}}\n}]
--- no_error_log
[error]



=== TEST 11: an album's songs before an item, from the unnumbered one back
--- request eval
["GET /api/v1/albums/1/songs?limit=2&before=12",
 "GET /api/v1/albums/1/songs?limit=2&before=2",
 "GET /api/v1/albums/1/songs?limit=2&before=1"]
--- error_code eval
[200, 200, 200]
--- response_body_like eval
[qr/^\{"songs":\[\{"id":2,[^{]*\},\{"id":3,[^{]*\}\],"meta":\{"total":4,"limit":2,"offset":null,"next":"\/api\/v1\/albums\/1\/songs\?limit=2&after=3","previous":"\/api\/v1\/albums\/1\/songs\?limit=2&before=2"\}\}$/,
 qr/^\{"songs":\[\{"id":1,[^{]*\}\],"meta":\{"total":4,"limit":2,"offset":null,"next":"\/api\/v1\/albums\/1\/songs\?limit=2&after=1","previous":null\}\}$/,
 qr/^\{"songs":\[\],"meta":\{"total":4,"limit":2,"offset":null,"next":"\/api\/v1\/albums\/1\/songs\?limit=2&offset=0","previous":null\}\}$/]



=== TEST 12: the anchor must be in the nested list; the parent must exist first
--- request eval
["GET /api/v1/albums/2/songs?after=1", "GET /api/v1/artists/4/songs?before=5",
 "GET /api/v1/artists/4/albums?genre=Hip-Hop&after=3",
 "GET /api/v1/albums/99/songs?after=1", "GET /api/v1/artists/4/songs?after=x"]
--- error_code eval
[400, 400, 400, 404, 400]
--- response_body eval
[qq{{"error":{"status":400,"message":"after: song 1 is not in this list"}}\n},
 qq{{"error":{"status":400,"message":"before: song 5 is not in this list"}}\n},
 qq{{"error":{"status":400,"message":"after: album 3 is not in this list"}}\n},
 qq{{"error":{"status":404,"message":"album 99 not found"}}\n},
 qq{{"error":{"status":400,"message":"after must be a non-negative integer"}}\n}]



=== TEST 13: an artist's songs after an item, by id, with another filter
--- request
GET /api/v1/artists/4/songs?album_id=1&limit=2&after=1
--- error_code: 200
--- response_body_like
^\{"songs":\[\{"id":2,[^{]*\},\{"id":3,[^{]*\}\],"meta":\{"total":4,"limit":2,"offset":null,"next":"/api/v1/artists/4/songs\?album_id=1&limit=2&after=3","previous":"/api/v1/artists/4/songs\?album_id=1&limit=2&before=2"\}\}$



=== TEST 14: pages of other parents and filters missed in one turn share a statement
Redis is frozen while the pages send their lookups, so their misses come
in one turn: the songs of three albums, a later page of one of them and
those of an album that does not exist go as one statement, each page with
its own album; albums by genre as another, a genre that holds a quote, a
comma and a backslash among them.  Each page is its own.
--- http_config eval
Tunesheap::Test::cached_config() . "tunesheap_redis_timeout 5s;\n"
--- init
sub ids_of {
    my ($table, $where, $order) = @_;
    return split /,/, Tunesheap::Test::sql(
        "SELECT string_agg(id::text, ',' ORDER BY $order) FROM $table"
        . " WHERE $where");
}
my @a1 = ids_of("songs", "album_id = 1", "track_number, id");
my %want = (
    "albums/1/songs" => "@a1",
    "albums/2/songs" => join(' ', ids_of("songs", "album_id = 2",
                                         "track_number, id")),
    "albums/3/songs" => join(' ', ids_of("songs", "album_id = 3",
                                         "track_number, id")),
    "albums/1/songs?limit=2&offset=2" => "@a1[2 .. 3]",
    "albums/99/songs" => "404",
    "albums?genre=Hip-Hop" => join(' ', ids_of("albums",
                                               "genre = 'Hip-Hop'", "id")),
    "albums?genre=Pop" => join(' ', ids_of("albums", "genre = 'Pop'", "id")),
    "albums?genre=a%22b%2Cc%5Cd%7B" => "",
);
my ($seen, $ran) = Tunesheap::Test::one_turn(sub {
    my ($path, $st, $h, $body) = @_;
    (my $args = $path) =~ s{^/api/v1/}{};
    return "$args => $st" if $st != 200;
    my $list = JSON::PP::decode_json($body);
    my ($name) = grep { $_ ne 'meta' } keys %$list;
    return "$args => " . join(' ', map { $_->{id} } @{ $list->{$name} });
}, map { "/api/v1/$_" } sort keys %want);
Test::More::is_deeply($seen, [ map { "$_ => $want{$_}" } sort keys %want ],
                      'each page its own rows');
Test::More::ok(@a1 >= 4 && $want{"albums/2/songs"} && $want{"albums?genre=Pop"},
               'the pages are not empty');
my @songs = grep { /^ts_albums_songs/ } @$ran;
Test::More::is("@songs", "ts_albums_songs_1_n", 'one statement the albums');
my @genres = grep { /^ts_albums_list/ } @$ran;
Test::More::is(scalar(@genres), 1, 'one statement the genres');
Test::More::like($genres[0] // '', qr/_n$/, 'the genres together');
--- request
GET /api/v1/albums/2/songs
--- error_code: 200
--- response_headers
X-Cache: HIT redis
--- timeout: 10
