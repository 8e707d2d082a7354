# make import refuses what the API refuses, in the API's words: for each
# rule of ts_write.c, an item is written through nginx (its 422 names the
# field and the problem) and imported by db/import.sh (which must fail on
# it with "resource[0] (id N): field: problem").  Both run on a database
# of this suite's own, loaded with t/data/catalog.json, so that items the
# rules accept can be written by both too.  Not here: that a song's album
# is by its artist, which the API checks and imports deliberately do not
# (db/schema.sql, songs_album_artist).

use Test::Nginx::Socket 'no_plan';
use Tunesheap::Test;
use File::Temp qw(tempdir);
use JSON::PP ();

our $Db = 'import_rules';
our ($Ctl, $Data) = @ENV{qw(TEST_NGINX_PG_CTL TEST_NGINX_PG_DATA)};
system("$Ctl start $Data '' $Db >/dev/null 2>&1") == 0
    or BAIL_OUT("cannot create the database $Db");
our $Dsn = `$Ctl dsn $Data $Db`;
chomp $Dsn;
system("$Ctl psql $Data $Db -qc 'TRUNCATE playlist_songs, playlists, songs, albums, artists RESTART IDENTITY' >/dev/null") == 0
    && system("$Ctl psql $Data $Db -q -v ON_ERROR_STOP=1 -f t/data/keys.sql >/dev/null 2>&1; true") == 0
    && system("db/import.sh '$Dsn' t/data/catalog.json >/dev/null") == 0
    or BAIL_OUT("cannot load $Db");

our $Tmp = tempdir(CLEANUP => 1);
our %Writer = (Authorization => 'Bearer tsk_test_writer',
               'Content-Type' => 'application/json');
our %Singular = (artists => 'artist', albums => 'album', songs => 'song');

# imports {"RESOURCE":[ITEM]}: (exit status, the one line it printed)
sub import_item {
    my ($resource, $item) = @_;
    open my $fh, '>:raw', "$Tmp/catalog.json" or die $!;
    print $fh qq({"$resource":[$item]});
    close $fh;
    my $out = `db/import.sh '$Dsn' $Tmp/catalog.json 2>&1`;
    chomp $out;
    return ($? >> 8, $out);
}

# POSTs {"SINGULAR":FIELDS} : (status, "field: problem; ..." of a 422, in
# the order the API gives them)
sub api_item {
    my ($resource, $fields) = @_;
    my ($st, undef, $body) = Tunesheap::Test::http(POST => "/api/v1/$resource",
        headers => \%Writer, body => qq({"$Singular{$resource}":$fields}));
    my $problems = '';
    if ($st == 422) {
        my $json = JSON::PP->new->decode($body);
        # the fields in the order the API wrote them
        my $f = $json->{error}{fields};
        my @order = ($body =~ /"([a-z_]+)":"[^"]*"/g);
        my %seen;
        $problems = join '; ', map { "$_: $f->{$_}" }
                               grep { exists $f->{$_} && !$seen{$_}++ } @order;
    }
    return ($st, $problems);
}

# The item FIELDS (a JSON object's inside, no id) of RESOURCE is refused
# by the API with a 422, and by the import with the same problems.
our $Id = 900;

sub same_refusal {
    my ($resource, $fields, $name) = @_;
    my ($st, $problems) = api_item($resource, "{$fields}");
    Test::More::is($st, 422, "$name: the API refuses it");
    Test::More::isnt($problems, '', "$name: ... naming the problem");
    my $id = $Id++;
    my ($rc, $out) = import_item($resource, qq({"id":$id,$fields}));
    Test::More::isnt($rc, 0, "$name: the import refuses it");
    Test::More::is($out =~ s/^import\.sh: error: \S+: //r,
                   "${resource}[0] (id $id): $problems",
                   "$name: ... with the API's words");
}

# ... accepted by both
sub same_acceptance {
    my ($resource, $fields, $name) = @_;
    my ($st, $problems) = api_item($resource, "{$fields}");
    Test::More::is($st, 201, "$name: the API takes it") or Test::More::diag($problems);
    my $id = $Id++;
    my ($rc, $out) = import_item($resource, qq({"id":$id,$fields}));
    Test::More::is($rc, 0, "$name: the import takes it") or Test::More::diag($out);
}

no_shuffle();
run_tests();

__DATA__

=== TEST 1: every rule of a write, refused by the import in the API's words
--- http_config eval
Tunesheap::Test::http_config(dsn => $::Dsn)
--- init
my $long = "\x{e9}" x 201;    # 201 characters, 402 bytes
utf8::encode($long);
my @refused = (
    [artists => '"country":"Iceland"', 'a required text missing'],
    [artists => '"name":null', 'a required text null'],
    [artists => '"name":""', 'a required text empty'],
    [artists => qq("name":"$long"), 'a text longer than its max, in characters'],
    [artists => '"name":"x","country":5', 'a text that is a number'],
    [artists => '"name":"x","dob":"1969-12-04T00:00:00+01:00"', 'a time with a zone offset'],
    [artists => '"name":"x","dob":"1969-12-04 00:00:00.5 UTC"', 'a time with a fraction'],
    [artists => '"name":"x","dob":"1969-12-04 24:00:00"', 'hour 24'],
    [artists => '"name":"x","dob":"1969-02-29"', 'a day that does not exist'],
    [artists => '"name":"x","dob":"yesterday"', 'a word Postgres takes'],
    [artists => '"name":"x","dob":19691204', 'a time that is a number'],
    [albums => '"artist_id":1,"title":"x","release_date":"2001-02-03 00:00:00"', 'a date with a time'],
    [albums => '"artist_id":1,"title":"x","release_date":"0000-01-01"', 'year 0'],
    [albums => '"artist_id":"1","title":"x"', 'an id as a string'],
    [albums => '"artist_id":0,"title":"x"', 'id 0'],
    [albums => '"artist_id":999,"title":"x"', 'a reference to nothing'],
    [songs => '"album_id":1,"artist_id":4,"title":"x","track_number":-1', 'a negative integer'],
    [songs => '"album_id":1,"artist_id":4,"title":"x","track_number":1.5', 'a fraction'],
    [songs => '"album_id":1,"artist_id":4,"title":"x","track_number":2147483648', 'an integer too large'],
    [songs => '"album_id":1,"artist_id":4,"title":"x","duration_ms":"3"', 'an integer as a string'],
    [songs => '"album_id":1.5,"artist_id":1,"title":"x"', 'an id with a fraction'],
    [songs => '"album_id":999,"artist_id":998,"title":"x"', 'two references to nothing'],
    [songs => '"album_id":1,"artist_id":4,"title":"x","bogus":1', 'a field not described'],
    [songs => '"album_id":1,"artist_id":4,"title":"x","audio":null', 'a field the API computes'],
    [songs => '"album_id":1,"artist_id":4,"title":"x","title":"y"', 'a field twice'],
    [songs => '"album_id":1,"artist_id":4,"title":"","track_number":"1"', 'two problems'],
);
main::same_refusal(@$_) for @refused;

my $max = "\x{e9}" x 200;
utf8::encode($max);
my @accepted = (
    [artists => qq("name":"$max"), 'a text of its max in characters'],
    [artists => '"name":"x","dob":"1969-12-04"', 'a time as a date'],
    [artists => '"name":"x","dob":"1969-12-04T01:02:03Z"', 'a time with Z'],
    [artists => '"name":"x","dob":"1969-12-04 01:02:03 UTC"', 'a time with UTC'],
    [artists => '"name":"x","dob":"1969-12-04 01:02:03"', 'a time without a zone'],
    [albums => '"artist_id":1,"title":"x","release_date":"2000-02-29","genre":""', 'a leap day, an empty optional text'],
    [songs => '"album_id":1,"artist_id":4,"title":"x","track_number":2147483647,"duration_ms":0', 'the integer range'],
);
main::same_acceptance(@$_) for @accepted;

# not an object: the API names the item, the import its place
my ($st, $problems) = main::api_item(songs => '5');
Test::More::is($problems, 'song: must be an object', 'an item not an object: the API');
my ($rc, $out) = main::import_item(songs => '5');
Test::More::like($out, qr/: songs\[0\]: must be an object$/, '... the import');
--- request
GET /api/v1/artists/1
--- error_code: 200
