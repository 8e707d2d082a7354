# Keyset pages over larger lists: next links walk a whole list exactly
# once (and previous links walk it back), keyset and offset pages agree,
# and totals stay exact through writes.  The items made here (ids above
# 1000) are deleted by the last block: later suites see the fixture.

use Test::Nginx::Socket 'no_plan';
use Tunesheap::Test;
use JSON::PP ();

our $Key = "Authorization: Bearer tsk_test_writer";
our $Json = "Content-Type: application/json";

# 40 songs in album 1001 of artist 3, with repeated and missing track
# numbers in no relation to their ids, some by artist 6; album 1002 of
# artist 6; 9 artists in a country whose name needs escaping
our $Setup = <<'SQL';
INSERT INTO artists (id, name, country)
    SELECT 1000 + i, 'keyset ' || i, 'Keyset Land' FROM generate_series(1, 9) i;
INSERT INTO albums (id, artist_id, title, genre) VALUES
    (1001, 3, 'Keyset One', 'Keyset & Co'), (1002, 6, 'Keyset Two', 'Keyset & Co');
INSERT INTO songs (id, album_id, artist_id, title, track_number)
    SELECT 1100 - i, 1001, CASE WHEN i % 3 = 0 THEN 6 ELSE 3 END, 'k' || i,
           CASE WHEN i % 5 = 0 THEN NULL ELSE (i * 7) % 11 END
      FROM generate_series(1, 40) i;
SQL

our $Cleanup = <<'SQL';
DELETE FROM songs WHERE id > 1000 OR album_id > 1000;
DELETE FROM albums WHERE id > 1000;
DELETE FROM artists WHERE id > 1000;
SELECT setval('songs_id_seq', (SELECT max(id) FROM songs));
SQL

sub get_json {
    my ($path) = @_;
    my ($st, undef, $body) = Tunesheap::Test::http(GET => $path);
    die "GET $path: $st $body\n" unless $st == 200;
    return JSON::PP::decode_json($body);
}

# Follows the $dir links ('next' or 'previous') from $path: the ids of
# every page in list order, and whether every page but the last was full
# and every page gave the same total.
sub walk {
    my ($path, $name, $dir) = @_;
    my (@pages, %totals);
    my $full = 1;
    my $url = $path;

    while (defined $url) {
        die "more than 500 pages from $path\n" if @pages > 500;
        my $j = get_json($url);
        $totals{$j->{meta}{total}} = 1;
        push @pages, [ map { $_->{id} } @{ $j->{$name} } ];
        $url = $j->{meta}{$dir};
        $full = 0 if defined $url && @{ $pages[-1] } != $j->{meta}{limit};
    }

    @pages = reverse @pages if $dir eq 'previous';

    return ([ map { @$_ } @pages ], $full, [ keys %totals ]);
}

# the ids of a list in Postgres, in the API's order
sub ids {
    my ($table, $where, $order) = @_;
    return Tunesheap::Test::sql("SELECT string_agg(id::text, ',' ORDER BY "
                                . ($order // 'id') . ") FROM $table"
                                . ($where ? " WHERE $where" : ''));
}

sub count {
    my ($table, $where) = @_;
    return Tunesheap::Test::sql("SELECT count(*) FROM $table"
                                . ($where ? " WHERE $where" : ''));
}

# walks a list both ways: each id once, in the order Postgres gives
sub check_walk {
    my ($path, $name, $table, $where, $order) = @_;
    my $want = ids($table, $where, $order);
    my $n = count($table, $where);

    my ($ids, $full, $totals) = walk($path, $name, 'next');
    Test::More::is(join(',', @$ids), $want, "$path: next walks every item once");
    Test::More::ok($full, "$path: every page but the last is full");
    Test::More::is("@$totals", $n, "$path: the total is exact on every page");

    # from the last page back to the first
    my @all = split /,/, $want;
    my ($back) = walk(last_page($path, \@all, get_json($path)->{meta}{limit}),
                      $name, 'previous');
    Test::More::is(join(',', @$back), $want,
                   "$path: previous walks them back, each once");
}

# the last page, reached through the after= link of the item before it
sub last_page {
    my ($path, $all, $limit) = @_;
    my $sep = $path =~ /\?/ ? '&' : '?';
    my $k = @$all - $limit;
    return $k > 0 ? "$path${sep}after=$all->[$k - 1]" : $path;
}

# every page of a list at every position, by offset, after and before
sub check_agree {
    my ($path, $name, $limit, @all) = @_;
    my $sep = $path =~ /\?/ ? '&' : '?';
    my $bad = 0;

    for my $k (0 .. $#all) {
        my $end = $k + $limit - 1 < $#all ? $k + $limit - 1 : $#all;
        my $want = join ',', @all[$k .. $end];
        my $o = get_json("$path${sep}limit=$limit&offset=$k");
        my @got = map { $_->{id} } @{ $o->{$name} };
        $bad++, Test::More::diag("offset=$k: @got") if "@got" ne $want =~ tr/,/ /r;

        if ($k > 0) {
            my $a = get_json("$path${sep}limit=$limit&after=$all[$k - 1]");
            @got = map { $_->{id} } @{ $a->{$name} };
            $bad++, Test::More::diag("after=$all[$k - 1]: @got")
                if "@got" ne $want =~ tr/,/ /r;
            $bad++, Test::More::diag("after=$all[$k - 1]: total")
                if $a->{meta}{total} != @all;
            $bad++, Test::More::diag("after: offset")
                if defined $a->{meta}{offset};
        }

        if ($k + $limit <= $#all) {
            my $b = get_json("$path${sep}limit=$limit&before=$all[$k + $limit]");
            @got = map { $_->{id} } @{ $b->{$name} };
            $bad++, Test::More::diag("before=$all[$k + $limit]: @got")
                if "@got" ne $want =~ tr/,/ /r;
        }
    }

    Test::More::is($bad, 0, "$path: offset, after and before pages agree at "
                            . "every position");
}

# meta.total of each list against count(*) in Postgres
our @Totals = (
    ["/api/v1/songs", "songs", ""],
    ["/api/v1/songs?album_id=1001", "songs", "album_id = 1001"],
    ["/api/v1/songs?album_id=1002", "songs", "album_id = 1002"],
    ["/api/v1/songs?artist_id=6", "songs", "artist_id = 6"],
    ["/api/v1/songs?album_id=1001&artist_id=3", "songs",
     "album_id = 1001 AND artist_id = 3"],
    ["/api/v1/songs?album_id=1001&artist_id=6", "songs",
     "album_id = 1001 AND artist_id = 6"],
    ["/api/v1/albums/1001/songs", "songs", "album_id = 1001"],
    ["/api/v1/albums/1002/songs?artist_id=6", "songs",
     "album_id = 1002 AND artist_id = 6"],
    ["/api/v1/artists/3/songs", "songs", "artist_id = 3"],
    ["/api/v1/artists/6/songs?album_id=1001", "songs",
     "artist_id = 6 AND album_id = 1001"],
    ["/api/v1/albums?genre=Keyset+%26+Co", "albums", "genre = 'Keyset & Co'"],
    ["/api/v1/albums?genre=Rock", "albums", "genre = 'Rock'"],
    ["/api/v1/artists/6/albums?genre=Keyset%20%26%20Co", "albums",
     "artist_id = 6 AND genre = 'Keyset & Co'"],
    ["/api/v1/albums", "albums", ""],
    ["/api/v1/artists?country=Keyset%20Land", "artists",
     "country = 'Keyset Land'"],
    ["/api/v1/artists?country=UK", "artists", "country = 'UK'"],
    ["/api/v1/artists", "artists", ""],
);

sub check_totals {
    my ($what, @lists) = @_;
    my $bad = 0;

    @lists = @Totals unless @lists;

    # every count(*) in one query
    my @want = split /,/, Tunesheap::Test::sql("SELECT concat_ws(','"
        . join('', map { ", (SELECT count(*) FROM $_->[1]"
                         . ($_->[2] ? " WHERE $_->[2]" : '') . ")" } @lists)
        . ")");

    for my $t (@lists) {
        my $path = $t->[0];
        my $got = get_json($path)->{meta}{total};
        my $want = shift @want;
        $bad++, Test::More::diag("$path: total $got, count(*) $want")
            if $got != $want;
    }

    Test::More::is($bad, 0, "$what: every total is count(*)");
}

sub write_ok {
    my ($method, $path, $body, $status) = @_;
    my ($st, undef, $answer) = Tunesheap::Test::http($method => $path,
        headers => { authorization => 'Bearer tsk_test_writer',
                     'content-type' => 'application/json' },
        (defined $body ? (body => $body) : ()));
    Test::More::is($st, $status, "$method $path") or Test::More::diag($answer);
    return defined $answer && $answer =~ /"id":(\d+)/ ? $1 : undef;
}

# Offset pages over lists of many spans of ids (ts_list_spans in
# db/schema.sql): every page is the rows LIMIT/OFFSET give in Postgres.
# Pages of 37 every 29 rows cover every row; pages of 2 straddle every
# place where the ids pass into another span; then the last rows, the
# end, and past it.
sub check_offsets {
    my ($path, $name, $table, $where, $order) = @_;
    my @all = split /,/, ids($table, $where, $order);
    my $sep = $path =~ /\?/ ? '&' : '?';
    my (%seen, @pages, $bad, $n);

    for (my $k = 0; $k < @all; $k += 29) {
        push @pages, [$k, 37];
    }

    for my $k (1 .. $#all) {
        push @pages, [$k - 1, 2], [$k, 2]
            if int($all[$k] / 1024) != int($all[$k - 1] / 1024);
    }

    push @pages, [$#all, 1], [scalar @all, 5], [@all + 1000, 3];

    $bad = 0;
    $n = 0;

    for my $p (@pages) {
        my ($k, $limit) = @$p;
        next if $seen{"$k/$limit"}++;
        my $end = $k + $limit - 1 < $#all ? $k + $limit - 1 : $#all;
        my $want = $k <= $#all ? join(' ', @all[$k .. $end]) : '';
        my $j = get_json("$path${sep}limit=$limit&offset=$k");
        my $got = join ' ', map { $_->{id} } @{ $j->{$name} };
        $n++;

        if ($got ne $want || $j->{meta}{total} != @all
            || $j->{meta}{offset} != $k)
        {
            $bad++;
            Test::More::diag("$path offset=$k limit=$limit: got [$got]"
                             . " total $j->{meta}{total}, want [$want]"
                             . " total " . scalar(@all));
        }
    }

    Test::More::is($bad, 0, "$path: $n offset pages of " . scalar(@all)
                            . " items are what OFFSET gives");
}

# ts_list_spans against each table's ids counted again: the rows of each
# span, and of every span up to its end
sub check_spans {
    my ($what) = @_;
    my $bad = 0;

    for my $t (qw(artists albums songs)) {
        $bad += Tunesheap::Test::sql("SELECT count(*) FROM (SELECT span, n,"
            . " sum(n) OVER (ORDER BY span) AS reach FROM (SELECT"
            . " id >> 10 << 10 AS span, count(*) AS n FROM $t GROUP BY 1)"
            . " AS c) AS w FULL JOIN (SELECT * FROM ts_list_spans"
            . " WHERE tbl = '$t' AND n <> 0) AS s USING (span)"
            . " WHERE s.bits IS DISTINCT FROM 10 OR w.n IS DISTINCT FROM s.n"
            . " OR w.reach IS DISTINCT FROM s.reach");
        $bad += Tunesheap::Test::sql("SELECT count(*) FROM ts_list_spans s"
            . " WHERE tbl = '$t' AND reach IS DISTINCT FROM (SELECT"
            . " count(*) FROM $t WHERE id < s.span + 1024)");
    }

    Test::More::is($bad, 0, "$what: every span counts its rows, and the"
                            . " rows up to its end");
}

# the lists check_offsets goes through: whole, filtered, nested
our @Offsets = (
    ["/api/v1/songs", "songs", "songs", ""],
    ["/api/v1/songs?artist_id=6", "songs", "songs", "artist_id = 6"],
    ["/api/v1/songs?album_id=1002", "songs", "songs", "album_id = 1002"],
    ["/api/v1/songs?album_id=1001&artist_id=3", "songs", "songs",
     "album_id = 1001 AND artist_id = 3"],
    ["/api/v1/artists/3/songs", "songs", "songs", "artist_id = 3"],
    ["/api/v1/artists/6/songs?album_id=1002", "songs", "songs",
     "artist_id = 6 AND album_id = 1002"],
    ["/api/v1/albums/1002/songs", "songs", "songs", "album_id = 1002",
     "track_number, id"],
    ["/api/v1/artists", "artists", "artists", ""],
    ["/api/v1/albums?genre=Keyset+%26+Co", "albums", "albums",
     "genre = 'Keyset & Co'"],
);

sub check_all_offsets {
    my ($what) = @_;
    main::check_offsets(@$_) for @Offsets;
    main::check_spans($what);
}

no_shuffle();
run_tests();

__DATA__

=== TEST 1: set up: 40 songs with repeated and missing track numbers
--- init
Tunesheap::Test::sql($::Setup);
--- request
GET /api/v1/albums/1001/songs?limit=40
--- error_code: 200
--- response_body_like
^\{"songs":\[(\{"id":\d+,"album_id":1001,[^{]*\},?){40}\],"meta":\{"total":40,"limit":40,"offset":0,"next":null,"previous":null\}\}$



=== TEST 2: an album's songs: next walks them once, in track order (unnumbered last), and previous walks back
--- init
main::check_walk("/api/v1/albums/1001/songs?limit=3", "songs", "songs",
                 "album_id = 1001", "track_number, id");
main::check_walk("/api/v1/albums/1001/songs?limit=7&artist_id=3", "songs",
                 "songs", "album_id = 1001 AND artist_id = 3",
                 "track_number, id");
main::check_walk("/api/v1/albums/1001/songs?limit=1", "songs", "songs",
                 "album_id = 1001", "track_number, id");
--- request
GET /api/v1/albums/1001/songs?limit=100
--- error_code: 200



=== TEST 3: filtered and whole lists: next walks them once, by id
--- init
main::check_walk("/api/v1/songs?limit=7", "songs", "songs", "");
main::check_walk("/api/v1/songs?artist_id=3&limit=4", "songs", "songs",
                 "artist_id = 3");
main::check_walk("/api/v1/songs?album_id=1001&artist_id=6&limit=2", "songs",
                 "songs", "album_id = 1001 AND artist_id = 6");
main::check_walk("/api/v1/artists/6/songs?limit=3", "songs", "songs",
                 "artist_id = 6");
main::check_walk("/api/v1/artists?country=Keyset%20Land&limit=2", "artists",
                 "artists", "country = 'Keyset Land'");
main::check_walk("/api/v1/albums?genre=Keyset+%26+Co&limit=1", "albums",
                 "albums", "genre = 'Keyset & Co'");
main::check_walk("/api/v1/artists?limit=5", "artists", "artists", "");
--- request
GET /api/v1/songs?limit=100
--- error_code: 200



=== TEST 4: keyset and offset pages agree at every position
--- init
main::check_agree("/api/v1/albums/1001/songs", "songs", 6,
                  split /,/, main::ids("songs", "album_id = 1001",
                                       "track_number, id"));
main::check_agree("/api/v1/songs?artist_id=3", "songs", 4,
                  split /,/, main::ids("songs", "artist_id = 3"));
main::check_agree("/api/v1/artists?country=Keyset+Land", "artists", 2,
                  split /,/, main::ids("artists", "country = 'Keyset Land'"));
--- request
GET /api/v1/songs?limit=100
--- error_code: 200



=== TEST 5: a page's links keep the filters, escaped, and continue after its last item
--- request
GET /api/v1/artists?country=Keyset+Land&limit=2&after=1002
--- error_code: 200
--- response_body
{"artists":[{"id":1003,"name":"keyset 3","country":"Keyset Land","description":null,"dob":null,"website":null,"picture_url":null},{"id":1004,"name":"keyset 4","country":"Keyset Land","description":null,"dob":null,"website":null,"picture_url":null}],"meta":{"total":9,"limit":2,"offset":null,"next":"/api/v1/artists?country=Keyset%20Land&limit=2&after=1004","previous":"/api/v1/artists?country=Keyset%20Land&limit=2&before=1003"}}



=== TEST 6: totals stay exact through creates, deletes and moves between lists
--- init
main::check_totals("at first");
main::write_ok(PATCH => "/api/v1/songs/1099", '{"song":{"album_id":1002,"artist_id":6}}', 200);
main::check_totals("a song moved to another album and artist");
main::write_ok(PATCH => "/api/v1/songs/1098", '{"song":{"title":"renamed","track_number":99}}', 200);
main::check_totals("a song changed, in the same lists");
my $id = main::write_ok(POST => "/api/v1/songs", '{"song":{"album_id":1002,"artist_id":6,"title":"new"}}', 201);
main::check_totals("a song created");
main::write_ok(PUT => "/api/v1/albums/1002", '{"album":{"artist_id":3,"title":"Keyset Two","genre":"Rock"}}', 200);
main::check_totals("an album moved to another artist and genre");
main::write_ok(PATCH => "/api/v1/artists/1005", '{"artist":{"country":null}}', 200);
main::write_ok(PATCH => "/api/v1/artists/1006", '{"artist":{"country":"UK"}}', 200);
main::check_totals("artists left a country, one for another");
main::write_ok(DELETE => "/api/v1/songs/$id", undef, 204);
main::write_ok(DELETE => "/api/v1/songs/1097", undef, 204);
main::check_totals("songs deleted");
Tunesheap::Test::sql("UPDATE songs SET album_id = 1001 WHERE album_id = 1002");
main::check_totals("many songs moved in one statement");
--- request
GET /api/v1/albums/1002/songs
--- error_code: 200
--- response_body
{"songs":[],"meta":{"total":0,"limit":20,"offset":0,"next":null,"previous":null}}



=== TEST 7: a page after or before an item of another list, or deleted, is a 400
--- request eval
["GET /api/v1/albums/1001/songs?after=1",
 "GET /api/v1/songs?album_id=1001&artist_id=3&before=1094",
 "GET /api/v1/songs?album_id=1001&after=1097"]
--- error_code eval
[400, 400, 400]
--- response_body eval
[qq{{"error":{"status":400,"message":"after: song 1 is not in this list"}}\n},
 qq{{"error":{"status":400,"message":"before: song 1094 is not in this list"}}\n},
 qq{{"error":{"status":400,"message":"after: song 1097 is not in this list"}}\n}]



=== TEST 8: deep offsets: exact over many spans, filtered and nested, and after writes before them
--- init
# 2,000 songs from id 2001 on, every 5th id, in albums 1001 (artist 3)
# and 1002 (artist 6): 10 spans of 1,024 ids, then a span left empty,
# then 3 more; 400 across the first spans of 32,768 ids; and 1,041 with
# every id from 40960 on: a span that has all its ids (its N-th row is
# found without a walk), then a few in the next
Tunesheap::Test::sql("INSERT INTO songs (id, album_id, artist_id, title,"
    . " track_number) SELECT 2001 + 5 * i, 1001 + i % 3 / 2,"
    . " CASE WHEN i % 3 = 2 THEN 6 ELSE 3 END, 'deep ' || i, i % 13"
    . " FROM generate_series(0, 1999) AS i");
Tunesheap::Test::sql("INSERT INTO songs (id, album_id, artist_id, title)"
    . " SELECT CASE WHEN i < 300 THEN 32001 + 7 * i ELSE 65000 + 9 * i END,"
    . " 1001, 3, 'far ' || i FROM generate_series(0, 399) AS i");
Tunesheap::Test::sql("INSERT INTO songs (id, album_id, artist_id, title)"
    . " SELECT i, 1002, 6, 'dense ' || i FROM generate_series(40960, 42000)"
    . " AS i");
Tunesheap::Test::sql("DELETE FROM songs WHERE id BETWEEN 6144 AND 7167");
main::check_all_offsets("2,000 songs inserted in one statement");
# writes through the API before the deep offsets: a new song (a low id),
# a deleted one, one moved to the other album and artist (album 1002 is
# artist 3's since TEST 6)
my $id = main::write_ok(POST => "/api/v1/songs", '{"song":{"album_id":1002,"artist_id":3,"title":"new"}}', 201);
main::write_ok(DELETE => "/api/v1/songs/2006", undef, 204);
main::write_ok(PATCH => "/api/v1/songs/2011", '{"song":{"album_id":1001,"artist_id":3}}', 200);
main::check_all_offsets("a song created, one deleted, one moved");
# in the empty span and before it, one by one and in one statement; the
# full span loses one id
Tunesheap::Test::sql("INSERT INTO songs (id, album_id, artist_id, title)"
    . " VALUES (6500, 1002, 6, 'gap'), (2002, 1001, 3, 'early')");
Tunesheap::Test::sql("DELETE FROM songs WHERE id = 41000");
Tunesheap::Test::sql("DELETE FROM songs WHERE id BETWEEN 3000 AND 3500");
Tunesheap::Test::sql("UPDATE songs SET album_id = 1002, artist_id = 6"
    . " WHERE id BETWEEN 4000 AND 4300 AND album_id = 1001");
main::check_all_offsets("rows inserted, deleted and moved by SQL");
# four writers at once, each its own connection: songs created and deleted
# in early and late spans, one statement at a time, so that the reach of
# the later spans is rewritten by writers that overlap
my @kids;
for my $w (0 .. 3) {
    my $sql = join '', map {
        my $low = 2303 + 1025 * (($w + $_) % 9) + 5 * (4 * $_ + $w);
        "INSERT INTO songs (id, album_id, artist_id, title)"
        . " VALUES ($low, 1001, 3, 'w$w'), (" . (43000 + 40 * $w + $_)
        . ", 1002, 6, 'w$w');\n"
        . "DELETE FROM songs WHERE id = " . (2001 + 5 * (400 * $w + $_))
        . " OR id = " . (40970 + 10 * $w + $_) . ";\n"
    } 0 .. 24;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open my $psql, '|-', "$ENV{TEST_NGINX_PG_CTL} psql"
            . " $ENV{TEST_NGINX_PG_DATA} tunesheap -qAt -v ON_ERROR_STOP=1"
            . " >/dev/null" or POSIX::_exit(1);
        print $psql $sql;
        POSIX::_exit(close $psql ? 0 : 1);
    }
    push @kids, $pid;
}
my $failed = 0;
for my $pid (@kids) {
    waitpid $pid, 0;
    $failed++ if $? != 0;
}
Test::More::is($failed, 0, "4 writers at once: none failed");
main::check_all_offsets("4 writers at once, early and late");
main::write_ok(DELETE => "/api/v1/songs/$id", undef, 204);
--- request
GET /api/v1/songs?limit=2&offset=1000000
--- error_code: 200
--- response_body_like
^\{"songs":\[\],"meta":\{"total":3234,"limit":2,"offset":1000000,"next":null,"previous":"/api/v1/songs\?limit=2&offset=999998"\}\}$



=== TEST 9: pages of one list missed in one turn share a statement, each gets its own page
Redis is frozen while the pages send their lookups; thawed, it answers
them together, so their misses come in one turn: the after= pages of the
whole list share one statement, its offset= pages another; a page of a
filtered list has its own.  Each page is what LIMIT/OFFSET give.
--- http_config eval
Tunesheap::Test::cached_config() . "tunesheap_redis_timeout 5s;\n"
--- init
my @all = split /,/, main::ids("songs", "");
my @a3 = split /,/, main::ids("songs", "artist_id = 3");
my %want = (
    "after=$all[1]&limit=3" => "@all[2 .. 4]",
    "after=$all[1500]&limit=2" => "@all[1501 .. 1502]",
    "after=$all[-2]&limit=5" => "$all[-1]",
    "after=999999&limit=2" => "400",
    "offset=1700&limit=4" => "@all[1700 .. 1703]",
    "offset=3&limit=1" => "$all[3]",
    "offset=1000&limit=2&artist_id=3" => "@a3[1000 .. 1001]",
);
my ($seen, $ran) = Tunesheap::Test::one_turn(sub {
    my ($path, $st, $h, $body) = @_;
    (my $args = $path) =~ s/^[^?]*\?//;
    my $got = $st == 200
        ? join(' ', map { $_->{id} } @{ JSON::PP::decode_json($body)->{songs} })
        : $st;
    return "$args => $got";
}, map { "/api/v1/songs?$_" } sort keys %want);
Test::More::is_deeply($seen, [ map { "$_ => $want{$_}" } sort keys %want ],
                      'each page its own rows');
my @run = sort grep { /^ts_songs_list/ } @$ran;
Test::More::is("@run", "ts_songs_list_0_after_n ts_songs_list_0_n"
                       . " ts_songs_list_2", 'one statement a list');
--- request
GET /api/v1/songs?offset=1700&limit=4
--- error_code: 200
--- response_headers
X-Cache: HIT redis
--- timeout: 10



=== TEST 10: clean up: the fixture as it was, totals included
--- init
Tunesheap::Test::sql($::Cleanup);
main::check_totals("after clean-up", grep { $_->[0] !~ /100[12]/ } @::Totals);
--- request
GET /api/v1/songs?limit=1
--- error_code: 200
--- response_body_like
^\{"songs":\[\{"id":1,[^\]]*\],"meta":\{"total":12,"limit":1,"offset":0,"next":"/api/v1/songs\?limit=1&after=1","previous":null\}\}$
