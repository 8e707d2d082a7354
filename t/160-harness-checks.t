# The harness's block checks (t/lib/Test/Nginx/Socket.pm): blocks whose
# assertions would never run are refused, and unexpected [alert], [crit]
# or [emerg] lines fail a block.  Each case is a small suite run by a
# child prove with its own server root and port; what it prints is
# checked here.

use Test::Nginx::Socket 'no_plan';
use Tunesheap::Test;

# runs the blocks given (text after __DATA__) as a suite of their own;
# returns prove's exit status and output
sub child_suite {
    my ($blocks) = @_;
    my $dir = "$ENV{TEST_NGINX_SERVROOT}-child";
    system('rm', '-rf', $dir);
    mkdir $dir or die "$dir: $!";
    open my $fh, '>', "$dir/child.t" or die $!;
    print $fh "use Test::Nginx::Socket 'no_plan';\nno_shuffle();\nrun_tests();\n"
        . "__DATA__\n\n$blocks";
    close $fh;
    local $ENV{TEST_NGINX_SERVROOT} = "$dir/servroot";
    local $ENV{TEST_NGINX_SERVER_PORT} = Tunesheap::Test::server_port() + 7;
    my $out = `prove -It/lib $dir/child.t 2>&1`;
    my $status = $?;
    system('rm', '-rf', $dir);
    return ($status, $out);
}

our $Ok = "--- config\nlocation = /t { return 200 \"x\"; }\n--- request\nGET /t\n";

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a block that checks what it says passes
--- init
my ($st, $out) = main::child_suite("=== TEST 1: fine\n$::Ok--- response_body: x\n"
    . "--- response_headers\nContent-Type: text/plain\n"
    . "--- raw_response_headers_like: \\r\\nContent-Length: 1\\r\\n\n");
Test::More::is($st, 0, "passes") or Test::More::diag($out);
--- request
GET /api/v1/health
--- error_code: 200



=== TEST 2: response_headers with response_headers_like is refused
--- init
my ($st, $out) = main::child_suite("=== TEST 1: both\n$::Ok"
    . "--- response_headers\nContent-Type: text/plain\n"
    . "--- response_headers_like\nX-Never: .*\n");
Test::More::isnt($st, 0, "fails");
Test::More::like($out, qr/has both --- response_headers and --- response_headers_like/,
                 "saying why");
--- request
GET /api/v1/health
--- error_code: 200



=== TEST 3: a section given twice is refused
--- init
my ($st, $out) = main::child_suite("=== TEST 1: twice\n$::Ok"
    . "--- response_body_like: x\n--- response_body_like: y\n");
Test::More::isnt($st, 0, "fails");
Test::More::like($out, qr/section --- response_body_like is given twice/, "saying why");
--- request
GET /api/v1/health
--- error_code: 200



=== TEST 4: more expected values than requests are refused
--- init
my ($st, $out) = main::child_suite("=== TEST 1: extra\n$::Ok"
    . "--- response_headers eval\n[\"Content-Type: text/plain\", \"Content-Length: 9\"]\n");
Test::More::isnt($st, 0, "fails");
Test::More::like($out, qr/--- response_headers has 2 entries for 1 request/, "saying why");
--- request
GET /api/v1/health
--- error_code: 200



=== TEST 5: an unexpected [crit] fails the block; an expected one does not
--- init
my $crit = "--- config\nlocation = /t { access_log /nonexistent-dir/\$host.log; return 200 \"x\"; }\n"
    . "--- request\nGET /t\n--- response_body: x\n";
my ($st, $out) = main::child_suite("=== TEST 1: crit\n$crit");
Test::More::isnt($st, 0, "fails");
Test::More::like($out, qr/unexpected \[crit\] in error\.log: .*open\(\)/, "naming the line");
($st, $out) = main::child_suite("=== TEST 1: crit expected\n$crit"
    . "--- error_log\n[crit]\n");
Test::More::is($st, 0, "named in --- error_log: passes") or Test::More::diag($out);
--- request
GET /api/v1/health
--- error_code: 200
