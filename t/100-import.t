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

sql("TRUNCATE songs, albums, artists RESTART IDENTITY");

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
INSERT INTO _resources VALUES (4, 'labels', 'label', 'labels');
INSERT INTO _columns VALUES ('labels', 1, 'id', 'id', 'bigint', true, 0, 'labels', 'label');
INSERT INTO _columns VALUES ('labels', 2, 'name', 'text', 'text', true, 50, NULL, NULL);
INSERT INTO _columns VALUES ('labels', 3, 'founded', 'date', 'date', false, 0, NULL, NULL);
INSERT INTO _columns VALUES ('labels', 4, 'artist_id', 'ref', 'bigint', false, 0, 'artists', 'artist');
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

done_testing();
