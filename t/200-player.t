# The web player (www/, served by conf/tunesheap-www.conf) and the API's
# description at /api/v1/openapi.json; then the player end to end in
# headless Chromium (t/tools/player-test.js: browse, page, search, play,
# seek, next, errors, a phone's screen), with screenshots in
# $TS_SCREENSHOTS (var/screenshots by default).  The audio put here is
# removed here: later suites see songs without audio.

use Test::Nginx::Socket 'no_plan';
use Tunesheap::Test;
use Cwd qw(getcwd);

our $Root = getcwd();
our $Key = 'Bearer tsk_test_writer';
our $Audio = $ENV{TEST_NGINX_AUDIO};
our $Shots = $ENV{TS_SCREENSHOTS} // "$Root/var/screenshots";

# the shipped configuration's locations: `www` is relative to nginx's
# prefix, the server root here, as var/nginx/www is for `make run`
sub link_www {
    my $www = Test::Nginx::Util::server_root() . '/www';
    symlink "$Root/www", $www or die "$www: $!" unless -e $www;
}

# the API with audio, the player, the description
sub www_config {
    return Tunesheap::Test::media_config()
        . "include $Root/conf/tunesheap-www.conf;\n";
}

# songs 1 and 2 (131 s) and 3 (3 s) of album 1 get audio
sub put_audio {
    my %files = (1 => 'big.mp3', 2 => 'big.mp3', 3 => 'tone.mp3');
    for my $id (sort keys %files) {
        my ($status, undef, $body) = Tunesheap::Test::http('PUT',
            "/api/v1/songs/$id/audio",
            headers => { Authorization => $Key },
            body => Tunesheap::Test::slurp("$Audio/$files{$id}"));
        die "PUT audio of song $id: $status $body" unless $status == 200;
    }
}

sub delete_audio {
    for my $id (1, 2, 3) {
        Tunesheap::Test::http('DELETE', "/api/v1/songs/$id/audio",
                              headers => { Authorization => $Key });
    }
}

# runs the browser; each of its lines is a test here
sub run_browser {
    my $log = Test::Nginx::Util::server_root() . '/logs/access.log';
    my $port = Tunesheap::Test::server_port();
    my $node = $ENV{TS_NODE_DIR} // "$Root/var/node";
    my $out = `NODE_PATH=$node/node_modules node $Root/t/tools/player-test.js http://127.0.0.1:$port $log $Shots 2>&1`;
    my $n = 0;
    for my $line (split /\n/, $out) {
        if ($line =~ /^(not )?ok - (.*?)(?: # (.*))?$/) {
            $n++;
            Test::More::ok(!$1, "Chromium: $2")
                or Test::More::diag($3 // '');
        } else {
            Test::More::diag($line);
        }
    }
    Test::More::ok($n >= 15, "Chromium: the browser ran every check ($n)");
}

add_block_preprocessor(sub {
    my $block = shift;
    # the harness wants the server root empty but for its own directories
    my $www = Test::Nginx::Util::server_root() . '/www';
    unlink $www if -l $www;
    $block->set_value('config', www_config()) unless defined $block->config;
});

# the next suite starts by removing the server root: nothing of ours there
END {
    my $www = Test::Nginx::Util::server_root() . '/www';
    unlink $www if -l $www;
}

no_root_location();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: the player is the page at /
--- init
main::link_www();
--- request
GET /
--- error_code: 200
--- response_headers_like
Content-Type: text/html; charset=utf-8
--- response_body_like: <title>Tunesheap</title>.*<script src="player\.js" defer>.*<audio id="audio"



=== TEST 2: its script and style, with their types
--- init
main::link_www();
--- request eval
["GET /player.js", "GET /player.css"]
--- error_code eval
[200, 200]
--- response_headers_like eval
["Content-Type: application/javascript; charset=utf-8",
 "Content-Type: text/css; charset=utf-8"]
--- response_body_like eval
["^// Tunesheap's web player", "^:root \\{"]



=== TEST 3: the API's OpenAPI description is served beside the API
--- init
main::link_www();
--- request
GET /api/v1/openapi.json
--- error_code: 200
--- response_headers_like eval
"Content-Type: application/json; charset=utf-8\n"
. "Content-Length: " . (-s "$::Root/www/openapi.json") . "\n"
. "ETag: \"[0-9a-f]+-[0-9a-f]+\""



=== TEST 4: the API still answers below it, and nothing else is a file
--- init
main::link_www();
--- request eval
["GET /api/v1/artists/4", "GET /api/v1/openapi.yaml", "GET /nothing.html"]
--- error_code eval
[200, 404, 404]
--- response_body_like eval
['^\{"artist":\{"id":4,"name":"Jay-Z"', '"no resource at this path"',
 '404 Not Found']



=== TEST 5: the player in headless Chromium
--- init
main::link_www();
main::put_audio();
eval { main::run_browser() };
my $err = $@;
main::delete_audio();
die $err if $err;
--- request
GET /api/v1/songs/1
--- error_code: 200
--- response_body_like: "audio":null,"stream_url":null\}\}$
--- timeout: 180
