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

done_testing();
