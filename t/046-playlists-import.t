# make import carries playlists, from their description alone (import-gen
# prints their fields, what every write sets and their ordered list): the
# API's rules for their fields, and their songs in order (song_ids, as the
# API's PUT of them), written again only when they differ.  Plain
# Test::More: no nginx here, a database of its own in the suite's Postgres.

use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);

my ($ctl, $data) = @ENV{qw(TEST_NGINX_PG_CTL TEST_NGINX_PG_DATA)};
plan skip_all => 'needs the Postgres of t/run.sh' unless $ctl && $data;

my $db = 'import_playlists';
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

# a playlist's songs in order, as "song@position ..."
sub entries {
    return sql("SELECT string_agg(song_id || '\@' || position, ' '"
               . " ORDER BY position) FROM playlist_songs"
               . " WHERE playlist_id = $_[0]");
}

my ($rc, $out) = import_file('db/sample-catalog.json');
is($rc, 0, 'the sample catalog loads') or diag $out;
like($out, qr/playlists 6 \(6 new, 0 updated\)/, 'its playlists');
is(sql("SELECT count(*) FROM playlist_songs"), 100, 'every entry');
is(sql("SELECT count(*) = max(position) + 1 FROM playlist_songs"
       . " WHERE playlist_id = 1"), 't', 'positions from 0, dense');
is(sql("SELECT count(*) FROM playlist_songs WHERE playlist_id = 1"
       . " AND song_id = (SELECT song_id FROM playlist_songs"
       . " WHERE playlist_id = 1 AND position = 0)"), 2,
   'a song twice in a playlist');
my $rev = sql("SELECT revision FROM playlists WHERE id = 1");
my $ids = sql("SELECT string_agg(id::text, ',' ORDER BY id) FROM playlist_songs");

($rc, $out) = import_file('db/sample-catalog.json');
is($rc, 0, 'a re-import loads') or diag $out;
like($out, qr/playlists 6 \(0 new, 0 updated\)/, '... and writes nothing');
is(sql("SELECT string_agg(id::text, ',' ORDER BY id) FROM playlist_songs"),
   $ids, '... no entry (their ids stay)');
is(sql("SELECT revision FROM playlists WHERE id = 1"), $rev,
   '... nor a revision');

my $moved = write_file('moved.json', <<'JSON');
{"playlists":[{"id":2,"name":"RapCaviar","category":"Hip-Hop","song_ids":[3,1,3]},
 {"id":3,"name":"Rock Classics","category":"Rock","song_ids":[]},
 {"id":4,"name":"Metal Essentials","category":"Metal"}]}
JSON
($rc, $out) = import_file($moved);
is($rc, 0, 'a file of playlists alone loads') or diag $out;
like($out, qr/playlists 3 \(0 new, 3 updated\)/, 'three changed');
is(entries(2), '3@0 1@1 3@2', 'in the order given, twice where given');
is(sql("SELECT count(*) FROM playlist_songs WHERE playlist_id = 3"), 0,
   'an empty list empties the playlist');
is(entries(4), '', 'an item is whole, as a PUT: no song_ids, no songs');
is(sql("SELECT revision > 1 FROM playlists WHERE id = 2"), 't',
   'a list written moves the revision on (the ETag follows)');

for my $case (
    ['{"playlists":[{"id":7,"name":"x","song_ids":[1,9999,9998,9999]}]}',
     qr/^.*playlists\[0\] \(id 7\): song_ids: songs 9998, 9999: no such song$/m],
    ['{"playlists":[{"id":7,"name":"x","song_ids":"1,2"}]}',
     qr/playlists\[0\] \(id 7\): song_ids: must be an array of song ids$/m],
    ['{"playlists":[{"id":7,"name":"x","song_ids":[1,2.5]}]}',
     qr/playlists\[0\] \(id 7\): song_ids: must be an array of song ids$/m],
    ['{"playlists":[{"id":7,"name":"x","revision":3}]}',
     qr/playlists\[0\] \(id 7\): revision: cannot be set$/m],
    ['{"playlists":[{"id":7,"name":"","song_ids":[0]}]}',
     qr/playlists\[0\] \(id 7\): name: must not be empty; song_ids: must be an array of song ids$/m],
) {
    my $file = write_file('bad.json', $case->[0]);
    ($rc, $out) = import_file($file);
    isnt($rc, 0, "refused: $case->[0]");
    like($out, $case->[1], '... in the API\'s words') or diag $out;
}
is(sql("SELECT count(*) FROM playlists WHERE id = 7"), 0, 'nothing loaded');

done_testing();
