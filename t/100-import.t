# make import (db/import.sh): one transaction, ids kept, sequences
# advanced, idempotent, and a bad file loads nothing.  Plain Test::More:
# no nginx here, a database of its own in the suite's Postgres.

use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);

my ($ctl, $data) = @ENV{qw(TEST_NGINX_PG_CTL TEST_NGINX_PG_DATA)};
plan skip_all => 'needs the Postgres of t/run.sh' unless $ctl && $data;

my $db = 'import_test';
system("$ctl start $data '' $db >/dev/null 2>&1") == 0
    or BAIL_OUT("cannot create the database $db");

my $dsn = `$ctl dsn $data $db`;
chomp $dsn;
my $tmp = tempdir(CLEANUP => 1);

sub sql {
    my $out = `$ctl psql $data $db -Atc "$_[0]"`;
    chomp $out;
    return $out;
}

sub import_file {
    my ($file) = @_;
    my $out = `db/import.sh "$dsn" $file 2>&1`;
    return ($? >> 8, $out);
}

sub write_file {
    my ($name, $text) = @_;
    open my $fh, '>', "$tmp/$name" or die $!;
    print $fh $text;
    close $fh;
    return "$tmp/$name";
}

my $counts = "SELECT (SELECT count(*) FROM artists) || '/' || (SELECT count(*) FROM albums) || '/' || (SELECT count(*) FROM songs)";

sql("TRUNCATE playlist_songs, playlists, songs, albums, artists RESTART IDENTITY");

my ($rc, $out) = import_file('t/data/catalog.json');
is($rc, 0, 'a good file loads') or diag $out;
like($out, qr/artists 7 \(7 new, 0 updated\)/, 'it says what it loaded');
is(sql($counts), '7/6/12', 'every item is there');
is(sql("SELECT name || '|' || to_char(dob AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') FROM artists WHERE id = 4"),
   'Jay-Z|1969-12-04 00:00:00', 'ids and values are kept');
is(sql("SELECT nextval('artists_id_seq') > 7 AND nextval('songs_id_seq') > 12"),
   't', 'sequences moved past the ids');

($rc, $out) = import_file('t/data/catalog.json');
is($rc, 0, 'loading it again works');
is(sql($counts), '7/6/12', '... and changes nothing');

my $malformed = write_file('malformed.json',
    '{"artists":[{"id":50,"name":"New"}],"albums":[');
($rc, $out) = import_file($malformed);
isnt($rc, 0, 'a malformed file fails');
like($out, qr/not valid JSON/, '... saying so');
is(sql($counts), '7/6/12', '... and loads nothing');

my $dangling = write_file('dangling.json', <<'JSON');
{"artists":[{"id":50,"name":"Before the bad one"}],
 "albums":[{"id":50,"artist_id":50,"title":"Fine"}],
 "songs":[{"id":50,"album_id":50,"artist_id":50,"title":"Fine"},
          {"id":51,"album_id":999,"artist_id":50,"title":"Dangling"}]}
JSON
($rc, $out) = import_file($dangling);
isnt($rc, 0, 'a dangling reference fails');
like($out, qr/songs\[1\] \(id 51\): album_id: album 999 does not exist$/m, '... naming it');
is(sql($counts), '7/6/12', '... and loads nothing, not even the good items');

my $wrong = write_file('wrong.json', '{"songs":[{"id":60,"album_id":1,"artist_id":4}]}');
($rc, $out) = import_file($wrong);
isnt($rc, 0, 'a missing required field fails');
like($out, qr/songs\[0\] \(id 60\): title: is required$/m, '... naming it');

# A resource the import has never heard of, described as db/import-gen
# prints a description of ts_resource.c, is imported with no SQL of its
# own: its staging, checks, references, upsert and sequence.
sql("CREATE TABLE labels (id bigserial PRIMARY KEY, name text NOT NULL, founded date, artist_id bigint REFERENCES artists (id))");
my $desc = write_file('desc.sql', `cat build/import-resources.sql` . <<'SQL');
INSERT INTO _resources SELECT count(*) + 1, 'labels', 'label', 'labels' FROM _resources;
INSERT INTO _columns VALUES ('labels', 1, 'id', 'id', 'bigint', true, 0, 'labels', 'label', NULL);
INSERT INTO _columns VALUES ('labels', 2, 'name', 'text', 'text', true, 50, NULL, NULL, NULL);
INSERT INTO _columns VALUES ('labels', 3, 'founded', 'date', 'date', false, 0, NULL, NULL, NULL);
INSERT INTO _columns VALUES ('labels', 4, 'artist_id', 'ref', 'bigint', false, 0, 'artists', 'artist', NULL);
SQL
sub import_described {
    my ($file) = @_;
    my $out = `TS_IMPORT_DESCRIPTIONS=$desc db/import.sh "$dsn" $file 2>&1`;
    return ($? >> 8, $out);
}
my $labels = write_file('labels.json',
    '{"labels":[{"id":3,"name":"Roc-A-Fella","founded":"1995-01-01","artist_id":4},{"id":5,"name":"Indie"}]}');
($rc, $out) = import_described($labels);
is($rc, 0, 'a newly described resource loads') or diag $out;
like($out, qr/labels 2 \(2 new, 0 updated\)/, '... and is counted');
is(sql("SELECT string_agg(id || ':' || name || ':' || coalesce(founded::text, '-') || ':' || coalesce(artist_id::text, '-'), ',' ORDER BY id) FROM labels"),
   '3:Roc-A-Fella:1995-01-01:4,5:Indie:-:-', '... with its ids and values');
is(sql("SELECT nextval('labels_id_seq')"), '6', '... and its sequence moved');
($rc, $out) = import_described(write_file('labels-long.json',
    '{"labels":[{"id":6,"name":"' . ('x' x 51) . '"}]}'));
like($out, qr/labels\[0\] \(id 6\): name: is longer than 50 characters$/m,
     '... its longest text is its description\'s');
($rc, $out) = import_described(write_file('labels-ref.json',
    '{"labels":[{"id":6,"name":"x","artist_id":999}]}'));
like($out, qr/labels\[0\] \(id 6\): artist_id: artist 999 does not exist$/m,
     '... and so are its references');
sql("DROP TABLE labels");

# An ordered list (as a playlist's songs): the item's song_ids, in order,
# a song possibly twice, become the join table's rows with positions from
# 0; a list that did not change keeps its rows, one that did is replaced
# and its item written (its columns set by every write).
sql("CREATE TABLE crates (id bigserial PRIMARY KEY, name text NOT NULL, updated_at timestamptz NOT NULL DEFAULT clock_timestamp(), revision bigint NOT NULL DEFAULT 1)");
sql("CREATE TABLE crate_songs (id bigserial PRIMARY KEY, crate_id bigint NOT NULL REFERENCES crates (id) ON DELETE CASCADE, song_id bigint NOT NULL REFERENCES songs (id), position integer NOT NULL CHECK (position >= 0), CONSTRAINT crate_songs_position UNIQUE (crate_id, position) DEFERRABLE INITIALLY IMMEDIATE)");
my $cdesc = write_file('cdesc.sql', `cat build/import-resources.sql` . <<'SQL');
INSERT INTO _resources SELECT count(*) + 1, 'crates', 'crate', 'crates' FROM _resources;
INSERT INTO _columns VALUES ('crates', 1, 'id', 'id', 'bigint', true, 0, 'crates', 'crate', NULL);
INSERT INTO _columns VALUES ('crates', 2, 'name', 'text', 'text', true, 200, NULL, NULL, NULL);
INSERT INTO _columns VALUES ('crates', 3, 'updated_at', 'none', '', false, 0, NULL, NULL, 'clock_timestamp()');
INSERT INTO _columns VALUES ('crates', 4, 'revision', 'none', '', false, 0, NULL, NULL, 'revision + 1');
INSERT INTO _lists VALUES ('crates', 'song_ids', 'crate_songs', 'crate_id', 'song_id', 'songs', 'songs', 'song', 4);
SQL
sub import_crates {
    my ($json) = @_;
    my $file = write_file('crates.json', $json);
    my $out = `TS_IMPORT_DESCRIPTIONS=$cdesc db/import.sh "$dsn" $file 2>&1`;
    return ($? >> 8, $out);
}
my $entries = "SELECT coalesce(string_agg(crate_id || ':' || position || ':' || song_id, ',' ORDER BY crate_id, position), '') FROM crate_songs";
my $crates = "SELECT string_agg(id || ':' || name || ':' || revision, ',' ORDER BY id) FROM crates";
my $two = '{"crates":[{"id":1,"name":"A","song_ids":[3,1,3]},{"id":2,"name":"B"}]}';
($rc, $out) = import_crates($two);
is($rc, 0, 'items with ordered lists load') or diag $out;
is(sql($entries), '1:0:3,1:1:1,1:2:3', '... their entries in order, a song twice');
is(sql($crates), '1:A:1,2:B:1', '... the items as given');
my $rows = sql("SELECT string_agg(id::text, ',' ORDER BY id) FROM crate_songs");
($rc, $out) = import_crates($two);
like($out, qr/crates 2 \(0 new, 0 updated\)/, 'loading them again writes nothing');
is(sql("SELECT string_agg(id::text, ',' ORDER BY id) FROM crate_songs"), $rows,
   '... the entries keep their rows');
($rc, $out) = import_crates('{"crates":[{"id":1,"name":"A","song_ids":[1]}]}');
like($out, qr/crates 1 \(0 new, 1 updated\)/, 'a changed list updates its item');
is(sql($entries), '1:0:1', '... replaces its entries, the others\' untouched');
is(sql($crates), '1:A:2,2:B:1', '... and sets what every write sets');
for my $case (
    ['[1,999,998,999]', 'song_ids: songs 998, 999: no such song', 'ids of nothing'],
    ['"3"', 'song_ids: must be an array of song ids', 'not an array'],
    ['[1,"2"]', 'song_ids: must be an array of song ids', 'an id as a string'],
    ['[1,0]', 'song_ids: must be an array of song ids', 'id 0'],
    ['[1,2,3,4,5]', 'song_ids: must have at most 4 ids', 'too many'],
) {
    my ($list, $problem, $name) = @$case;
    ($rc, $out) = import_crates(qq({"crates":[{"id":2,"name":"B","song_ids":$list}]}));
    like($out, qr/crates\[0\] \(id 2\): \Q$problem\E$/m, "a list refused: $name");
}
($rc, $out) = import_crates('{"crates":[{"id":2,"name":"B","revision":7}]}');
like($out, qr/crates\[0\] \(id 2\): revision: cannot be set$/m, 'a column set by writes cannot be imported');
is(sql($entries), '1:0:1', '... and the refused files loaded nothing');
sql("DROP TABLE crate_songs, crates");

done_testing();
