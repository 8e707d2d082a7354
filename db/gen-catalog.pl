#!/usr/bin/perl
# db/gen-catalog.pl -- write a synthetic Tunesheap catalog (JSON) to stdout,
# for benchmarks and load tests.
#
# Usage:
#   db/gen-catalog.pl ARTISTS ALBUMS SONGS [SEED] > catalog.json
#   e.g. db/gen-catalog.pl 10000 50000 500000 > /tmp/big.json   (~2 s)
#
# Output: {"artists":[...],"albums":[...],"songs":[...]}, one item per line,
# in the format db/import.sh loads:
#   artist {id,name,country,description,dob,website,picture_url}
#   album  {id,artist_id,title,release_date,genre,cover_url}
#   song   {id,album_id,artist_id,title,track_number,duration_ms}
# * ids are 1..N for each kind;
# * each album's artist_id is uniformly random in 1..ARTISTS;
# * each song belongs to a uniformly random album and carries that album's
#   artist_id; track numbers count 1, 2, 3... per album in song-id order;
# * names and titles mix common English words with pronounceable random
#   words, some accented (é, ö, ñ...), a few with apostrophes or double
#   quotes, so that search, unaccent and JSON escaping all get exercised;
# * the same arguments and SEED (default 42) always give the same bytes
#   (Perl's rand() is its own drand48, identical on every platform).
#
# No JSON module: plain printing with explicit escaping, which is what makes
# 500,000 songs take a couple of seconds.  The source is UTF-8 and the
# strings are handled as UTF-8 bytes (no `use utf8`), so output is UTF-8.
use strict;
use warnings;

sub usage {
    print STDERR "usage: $0 ARTISTS ALBUMS SONGS [SEED]\n";
    exit 2;
}
usage() unless @ARGV >= 3 && @ARGV <= 4;
for (@ARGV) { usage() unless /^[0-9]+$/ }
my ($n_artists, $n_albums, $n_songs, $seed) = @ARGV;
$seed //= 42;
if ($n_albums && !$n_artists) { print STDERR "$0: albums need at least one artist\n"; exit 2 }
if ($n_songs && !$n_albums)    { print STDERR "$0: songs need at least one album\n"; exit 2 }
srand($seed);

my $CDN = 'https://tunesheap-content.s3.amazonaws.com';

# --- word material ---------------------------------------------------------
my @onsets = qw(b br c ch cl d dr f fl g gr h j k kr l m n p pr qu r s sh
                sl st t th tr v w z);
my @vowels = qw(a e i o u a e o ai ou ea ie);
my @codas  = ('', '', '', 'n', 'r', 's', 'l', 'm', 'x', 'nd', 'st', 'rk');
# A plain vowel is sometimes swapped for an accented one (UTF-8 bytes).
my %accent = (
    a => ['á', 'à', 'ä', 'å', 'ã'],
    e => ['é', 'è', 'ë', 'ê'],
    i => ['í', 'ï'],
    o => ['ó', 'ö', 'ø', 'ô'],
    u => ['ú', 'ü'],
    n => ['ñ'],
    c => ['ç'],
);
my @dict = qw(love night fire heart dream rain blue gold city road summer
              shadow light river ghost wild black sun moon star electric
              silver dance tears queen king broken sweet echo storm midnight
              paradise thunder angel devil ocean desert velvet neon glass
              paper cherry honey thunderbird highway garden mirror winter
              lonely crazy golden diamond rebel heaven jungle morning);
my @countries = (('USA') x 6, ('UK') x 4, 'Canada', 'Australia', 'Ireland',
                 'France', 'Germany', 'Spain', 'Italy', 'Sweden', 'Norway',
                 'Iceland', 'Brazil', 'Argentina', 'Mexico', 'Colombia',
                 'Japan', 'South Korea', 'Nigeria', 'South Africa', 'Jamaica',
                 'Belgium', 'Netherlands', 'Finland', 'Cuba', 'Portugal');
my @genres = qw(Hip-Hop Rock Pop Electronic Metal R&B Jazz Soul Folk Country
                Latin Reggae Blues Punk Indie Classical);
my @blurbs = ('Singer and songwriter.', 'Producer and DJ.',
              'Formed in a garage, never left it.', 'Multi-platinum act.',
              'Cult favourite of the underground scene.',
              'Started out busking on the street.', 'Touring since forever.',
              'Known for "unplugged" sets and long jams.');

sub pick { $_[int rand @_] }

# One pronounceable word, capitalised, occasionally accented.
sub word {
    my $w = '';
    my $syl = 1 + int rand 3;
    $w .= pick(@onsets) . pick(@vowels) for 1 .. $syl;
    $w .= pick(@codas);
    if (rand() < 0.15) {                  # accent one letter
        my @pos = grep { exists $accent{substr($w, $_, 1)} } 0 .. length($w) - 1;
        if (@pos) {
            my $p = pick(@pos);
            substr($w, $p, 1) = pick(@{ $accent{substr($w, $p, 1)} });
        }
    }
    return ucfirst $w;
}

sub anyword { rand() < 0.4 ? ucfirst pick(@dict) : word() }

sub phrase {
    my ($min, $max) = @_;
    join ' ', map { anyword() } 1 .. $min + int rand($max - $min + 1);
}

sub artist_name {
    my $r = rand;
    return 'The ' . phrase(1, 2) . 's'   if $r < 0.15;
    return 'DJ ' . word()                if $r < 0.20;
    return word() . ' & the ' . anyword() . 's' if $r < 0.25;
    return word() . " O'" . word()       if $r < 0.28;
    return word() . ' ' . word();
}

sub title {
    my $t = phrase(1, 4);
    my $r = rand;
    $t .= ' (Live)'                        if $r < 0.03;
    $t .= ' (feat. ' . word() . ')'        if $r >= 0.03 && $r < 0.06;
    $t = qq{"$t"}                          if $r >= 0.06 && $r < 0.07;
    $t .= "'s Song"                        if $r >= 0.07 && $r < 0.09;
    return $t;
}

sub date {
    my ($y0, $y1) = @_;
    sprintf '%04d-%02d-%02d', $y0 + int rand($y1 - $y0 + 1),
        1 + int rand 12, 1 + int rand 28;
}

# JSON string literal; the generator only makes printable UTF-8 text, but
# quotes, backslashes and control characters are escaped anyway.
sub js {
    my $s = shift;
    return 'null' unless defined $s;
    if ($s =~ /["\\\x00-\x1f]/) {
        $s =~ s/(["\\])/\\$1/g;
        $s =~ s/([\x00-\x1f])/sprintf('\\u%04x', ord $1)/ge;
    }
    return qq{"$s"};
}

# --- output ----------------------------------------------------------------
binmode STDOUT;
my $buf = '';
sub out { $buf .= $_[0]; if (length $buf > 1 << 16) { print $buf or die "$0: write: $!\n"; $buf = '' } }

out("{\"artists\":[\n");
for my $id (1 .. $n_artists) {
    my $name = artist_name();
    my $band = $name =~ /^The |&/;
    (my $site = lc $name) =~ s/[^a-z0-9]+//g;
    out(($id > 1 ? ",\n" : '')
        . '{"id":' . $id
        . ',"name":' . js($name)
        . ',"country":' . js(rand() < 0.05 ? undef : pick(@countries))
        . ',"description":' . js(rand() < 0.3 ? undef : pick(@blurbs))
        . ',"dob":' . js($band || rand() < 0.2 ? undef : date(1930, 2005) . ' 00:00:00 UTC')
        . ',"website":' . js(rand() < 0.3 || $site eq '' ? undef : "www.$site.com")
        . ',"picture_url":' . js("$CDN/$id-artist-picture")
        . '}');
}

out("\n],\n\"albums\":[\n");
my @album_artist;                 # album id -> artist id
for my $id (1 .. $n_albums) {
    my $artist = 1 + int rand $n_artists;
    $album_artist[$id] = $artist;
    out(($id > 1 ? ",\n" : '')
        . '{"id":' . $id
        . ',"artist_id":' . $artist
        . ',"title":' . js(title())
        . ',"release_date":' . js(rand() < 0.03 ? undef : date(1955, 2024))
        . ',"genre":' . js(pick(@genres))
        . ',"cover_url":' . js("$CDN/$id-album-cover")
        . '}');
}

out("\n],\n\"songs\":[\n");
my @tracks;                       # album id -> last track number used
for my $id (1 .. $n_songs) {
    my $album = 1 + int rand $n_albums;
    out(($id > 1 ? ",\n" : '')
        . '{"id":' . $id
        . ',"album_id":' . $album
        . ',"artist_id":' . $album_artist[$album]
        . ',"title":' . js(title())
        . ',"track_number":' . ++$tracks[$album]
        . ',"duration_ms":' . (90_000 + int rand 390_000)
        . '}');
}
out("\n]}\n");
print $buf or die "$0: write: $!\n";
close STDOUT or die "$0: write: $!\n";
