# The OpenAPI description (www/openapi.json) kept true: it is what
# t/tools/openapi-gen.js makes, @redocly/cli lints it clean, and every
# response the suites before this one received (recorded by the harness
# with TS_RECORD, which t/run.sh sets) validates against it.  Run whole
# (t/run.sh without arguments sets TS_RECORD_ALL), every route and method
# it documents must have been exercised.  Runs last: its name sorts last.

use Test::Nginx::Socket 'no_plan';
use Tunesheap::Test;
use Cwd qw(getcwd);

our $Root = getcwd();
our $Node = $ENV{TS_NODE_DIR} // "$Root/var/node";

sub link_www {
    my $www = Test::Nginx::Util::server_root() . '/www';
    symlink "$Root/www", $www or die "$www: $!" unless -e $www;
}

sub unlink_www {
    my $www = Test::Nginx::Util::server_root() . '/www';
    unlink $www if -l $www;
}

add_block_preprocessor(sub { unlink_www() });

# the next suite starts by removing the server root: nothing of ours there
END { unlink_www() }

no_root_location();
no_shuffle();
run_tests();

# a command's output and whether it exited 0
sub sh_out {
    my ($cmd) = @_;
    my $out = `$cmd 2>&1`;
    return ($? == 0, $out);
}

my $env = "NODE_PATH=$Node/node_modules REDOCLY_TELEMETRY=off "
        . "REDOCLY_SUPPRESS_UPDATE_NOTICE=true NO_COLOR=1";

my ($ok, $out) = sh_out("t/tools/webtools.sh check");
ok($ok, "the tools are installed (make node)") or diag($out);

($ok, $out) = sh_out("node t/tools/openapi-gen.js --check");
ok($ok, "www/openapi.json is what t/tools/openapi-gen.js makes") or diag($out);

($ok, $out) = sh_out("$env $Node/node_modules/.bin/redocly lint "
                  . "--extends=recommended-strict www/openapi.json");
ok($ok && $out =~ /Your API description is valid/
   && $out !~ /You have \d+ warning|(?:Warning|Error) was generated/,
   "redocly lint (recommended-strict): valid, no warnings") or diag($out);

# the check fails what it must: each bad response of the fixture, once
($ok, $out) = sh_out("$env node t/tools/openapi-check.js www/openapi.json "
                  . "t/data/openapi-bad");
my @fails = $out =~ /^FAIL .*$/mg;
ok(!$ok && @fails == 13, "the check fails the 13 bad responses of "
   . "t/data/openapi-bad, and only those") or diag($out);
unlike($out, qr/^FAIL .*\(t\/data\/openapi-bad\/[^:]*: ok\)/m,
       "the good response there passes");

SKIP: {
    skip "no responses recorded (TS_RECORD: run through t/run.sh)", 2
        unless $ENV{TS_RECORD} && -d $ENV{TS_RECORD};

    my $cov = $ENV{TS_RECORD_ALL} ? '--coverage ' : '';
    ($ok, $out) = sh_out("$env node t/tools/openapi-check.js $cov"
                      . "www/openapi.json $ENV{TS_RECORD}");
    diag($out);
    ok($ok, "every response the suites received validates against "
       . "www/openapi.json" . ($cov ? ", every route exercised" : ""));
    like($out, qr/API responses checked: [1-9]/, "responses were recorded");
}

__DATA__

=== TEST 1: HEAD where GET is, as the description says
--- request eval
["HEAD /api/v1/albums", "HEAD /api/v1/songs?album_id=1",
 "HEAD /api/v1/health", "HEAD /api/v1/artists/4/albums",
 "HEAD /api/v1/artists/4/songs", "HEAD /api/v1/albums/1",
 "HEAD /api/v1/albums/1/songs", "HEAD /api/v1/albums/99"]
--- error_code eval
[200, 200, 200, 200, 200, 200, 200, 404]
--- response_headers_like eval
[("ETag: \"[0-9a-f]{16}\"") x 5, "ETag: \"[0-9a-f]{32}\"",
 "ETag: \"[0-9a-f]{16}\"", "Content-Type: application/json.*"]



=== TEST 2: the description, served by the shipped configuration
--- init
main::link_www();
--- config eval
Tunesheap::Test::media_config() . "include $::Root/conf/tunesheap-www.conf;\n"
--- request
GET /api/v1/openapi.json
--- error_code: 200
--- response_headers_like
Content-Type: application/json; charset=utf-8
