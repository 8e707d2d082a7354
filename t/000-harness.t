# Self-test of the test harness (t/lib/Test/Nginx/Socket.pm) using plain
# nginx only (no module of ours).  Must pass both with our harness
#     prove -It/lib t/000-harness.t
# and with the real openresty/test-nginx in front
#     prove -I/path/to/test-nginx/lib t/000-harness.t
# (run either inside a private network namespace, see t/README.md).
#
# The plan is fixed on purpose: both harnesses must emit exactly the same
# number of tests for the same blocks.  Update it when adding blocks.

use Test::Nginx::Socket;
use IO::Select ();
use IO::Socket::INET ();
use POSIX ();

repeat_each(2);

# 74 tests per repetition (2 of them skipped), plus 3 from the
# background-request check (first repetition only).
plan tests => repeat_each() * 74 + 3;

# Blocks without a request section get a default one.
add_block_preprocessor(sub {
    my $block = shift;
    if (!defined $block->request && !defined $block->raw_request
        && !defined $block->pipelined_requests)
    {
        $block->set_value("request", "GET /t");
    }
});

# ---------------------------------------------------------------------------
# Two requests in flight at once (portable to both harnesses):
# --- init (run after nginx has started) calls bg_start() to send request A
# from a forked child; the block's own request B is then sent by the
# harness; an add_response_body_check hook, which runs after B's checks,
# verifies that A was still pending and then collects A's response.
# ---------------------------------------------------------------------------

my %Bg;

# Fork a client that connects to nginx and sends $head.  If $tail is
# given it is sent only once bg_finish() is called (so the request is
# provably still in flight until then).  Returns once $head has been
# written, after sleeping $settle seconds (optional) to let nginx start
# working on it.
sub bg_start {
    my ($head, $tail, $settle) = @_;
    pipe(my $go_r, my $go_w) or die "pipe: $!";
    pipe(my $res_r, my $res_w) or die "pipe: $!";
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        # child: never return into the harness and never run END blocks
        # (the harness's END would stop nginx), hence POSIX::_exit
        close $go_w;
        close $res_r;
        my $resp = '';
        eval {
            local $SIG{ALRM} = sub { die "timeout\n" };
            alarm 10;
            my $sock = IO::Socket::INET->new(
                PeerAddr => '127.0.0.1',
                PeerPort => $ENV{TEST_NGINX_SERVER_PORT},
                Proto    => 'tcp',
            ) or die "connect: $!\n";
            syswrite $sock, $head;
            syswrite $res_w, "sent\n";
            if (defined $tail) {
                my $go = <$go_r>;    # wait for bg_finish()
                syswrite $sock, $tail;
            }
            while (sysread $sock, my $buf, 4096) {
                $resp .= $buf;
            }
            alarm 0;
        };
        $resp = "ERROR: $@" if $@;
        syswrite $res_w, $resp;
        POSIX::_exit(0);
    }
    close $go_r;
    close $res_w;
    # unbuffered read, so that bg_pending() can select() on the pipe
    my $line = '';
    while (length $line < 5) {
        sysread($res_r, $line, 5 - length $line, length $line) or last;
    }
    die "background client failed to send its request\n"
        unless $line eq "sent\n";
    %Bg = (pid => $pid, go => $go_w, res => $res_r, tail => defined $tail);
    select(undef, undef, undef, $settle) if $settle;
}

# Is the background request still waiting for its response?  (The child
# writes nothing more to the pipe until nginx has closed the connection.)
sub bg_pending {
    return $Bg{res} && !IO::Select->new($Bg{res})->can_read(0);
}

# Let the background client finish and return its raw response.
sub bg_finish {
    local $SIG{PIPE} = 'IGNORE';
    syswrite $Bg{go}, "go\n" if $Bg{tail};
    close $Bg{go};
    my $fh = $Bg{res};
    my $resp = do { local $/; <$fh> };
    close $fh;
    waitpid $Bg{pid}, 0;
    %Bg = ();
    return $resp;
}

add_response_body_check(sub {
    my ($block, $body, $req_idx, $repeated_req_idx, $dry_run) = @_;
    my $expected = $block->bg_response_body;
    return unless defined $expected && $repeated_req_idx == 0;
    my $name = $block->name;
    ok(bg_pending(), "$name - request A still in flight after B was answered");
    my $resp = bg_finish();
    like($resp, qr{^HTTP/1\.1 200 OK\r\n}, "$name - request A status");
    like($resp, qr/\r\n\r\n\Q$expected\E\z/, "$name - request A body");
});

run_tests();

__DATA__

=== TEST 1: plain GET, exact body, default status 200, exact headers
--- config
    location = /hello {
        return 200 "hello, world\n";
    }
--- request
GET /hello
--- response_headers
Content-Type: text/plain
Content-Length: 13
--- response_body
hello, world
--- no_error_log
[error]
[warn]



=== TEST 2: 404 from the static module, body regex, error_log patterns
--- config
--- request
GET /does-not-exist
--- error_code: 404
--- response_body_like: 404 Not Found
--- error_log eval
[qr/open\(\) ".*?does-not-exist" failed/, "No such file or directory"]



=== TEST 3: response_headers with absent headers (!Name) and joined values
--- config
    location = /hdr {
        add_header X-Foo "bar";
        add_header X-Multi a;
        add_header X-Multi b;
        return 200 "ok\n";
    }
--- request
GET /hdr
--- response_headers
X-Foo: bar
X-Multi: a, b
!X-Absent
!Last-Modified
--- response_body
ok



=== TEST 4: response_headers_like and raw_response_headers_like
--- config
    location = /like {
        return 200 "like\n";
    }
--- request
GET /like
--- response_headers_like
Server: nginx/[\d.]+
Date: \w+, \d+ \w+ \d+ [\d:]+ GMT
--- raw_response_headers_like: ^HTTP/1\.1 200 OK\r\n



=== TEST 5: several requests on the same nginx (request eval array)
--- config
    location = /a { return 200 "A\n"; }
    location = /b { return 201 "B\n"; }
    location = /c { return 404 "nope\n"; }
--- request eval
["GET /a", "GET /b", "GET /c"]
--- error_code eval
[200, 201, 404]
--- response_body eval
["A\n", "B\n", "nope\n"]
--- no_error_log
[error]



=== TEST 6: more_headers, including an overridden Host header
--- config
    location = /echo-headers {
        return 200 "foo=$http_x_foo host=$host conn=$http_connection\n";
    }
--- request
GET /echo-headers
--- more_headers
X-Foo: some value
Host: example.com
--- response_body
foo=some value host=example.com conn=close



=== TEST 7: request body gets a Content-Length (and is trimmed)
--- config
    location = /len {
        return 200 "len=$content_length method=$request_method\n";
    }
--- request
POST /len
hello body
--- response_body
len=10 method=POST



=== TEST 8: raw_request is sent as-is
--- config
    location = /raw {
        return 200 "raw=$http_x_raw proto=$server_protocol\n";
    }
--- raw_request eval
"GET /raw HTTP/1.0\r\nX-Raw: yes\r\n\r\n"
--- response_body
raw=yes proto=HTTP/1.0



=== TEST 9: pipelined requests on one connection
--- config
    location = /p1 { return 200 "one\n"; }
    location = /p2 { return 200 "two\n"; }
--- pipelined_requests eval
["GET /p1", "GET /p2"]
--- response_body eval
["one\n", "two\n"]



=== TEST 10: HEAD responses have headers but no body
--- config
    location = /head {
        return 200 "body that must not be sent\n";
    }
--- request
HEAD /head
--- response_headers
Content-Length: 27
--- response_body



=== TEST 11: chunked response body is decoded
--- config
    location = /chunked {
        sub_filter_types text/plain;
        sub_filter 'world' 'chunks';
        return 200 "hello world\n";
    }
--- request
GET /chunked
--- response_headers
Transfer-Encoding: chunked
!Content-Length
--- response_body
hello chunks



=== TEST 12: error_page to an internal location
--- config
    location = /missing {
        error_page 404 = /handler;
        return 404;
    }
    location = /handler {
        internal;
        return 200 "handled $request_uri\n";
    }
--- request eval
["GET /missing", "GET /handler"]
--- error_code eval
[200, 404]
--- response_body_like eval
["^handled /missing\$", "404 Not Found"]



=== TEST 13: main_config, http_config, $TEST_NGINX_* in config, $ServerPort in body
--- main_config
worker_rlimit_nofile 1024;
--- http_config
    map $arg_x $mapped {
        default  "other";
        yes      "mapped-yes";
    }
--- config
    location = /front {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/back?x=yes;
    }
    location = /back {
        return 200 "$mapped via $server_port\n";
    }
--- request
GET /front
--- response_body
mapped-yes via $ServerPort



=== TEST 14: client timeout with --- abort is not a failure
--- config
    location = /ka {
        return 200 "kept alive\n";
    }
--- raw_request eval
"GET /ka HTTP/1.1\r\nHost: localhost\r\n\r\n"
--- timeout: 300ms
--- abort
--- response_body
kept alive



=== TEST 15: --- init runs after nginx has started
--- init
my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                 PeerPort => $ENV{TEST_NGINX_SERVER_PORT});
open my $fh, '>', Test::Nginx::Util::server_root() . "/html/init.txt"
    or die "cannot write init.txt: $!";
print $fh "nginx up during init: ", ($sock ? "yes" : "no"), "\n";
close $fh;
--- config
--- request
GET /init.txt
--- response_body
nginx up during init: yes



=== TEST 16: two requests in flight at once in one worker
--- config
    location = /a { return 200 "A done\n"; }
    location = /b { return 200 "B done\n"; }
--- init
main::bg_start("GET /a HTTP/1.1\r\nHost: localhost\r\n",
               "Connection: close\r\n\r\n");
--- request
GET /b
--- response_body
B done
--- bg_response_body
A done



=== TEST 17: invalid request line, error_log of an [info] message
--- config
--- raw_request eval
"FOO\r\n\r\n"
--- error_code: 400
--- response_body_like: 400 Bad Request
--- error_log
client sent invalid method



=== TEST 18: request eval string and the chomp filter
--- config
    location = /args {
        return 200 "args=$args";
    }
--- request eval
"GET /args?" . CORE::join("&", map { "a$_=$_" } 1 .. 3)
--- response_body chomp
args=a1=1&a2=2&a3=3



=== TEST 19: per-block log_level, wait
--- config
    location = /quiet {
        return 200 "quiet\n";
    }
--- log_level: warn
--- request
GET /quiet
--- wait: 0.05
--- response_body
quiet
--- no_error_log
[debug]



=== TEST 20: user_files are written below html/
--- config
--- user_files
>>> static/hello.txt
static hello
--- request
GET /static/hello.txt
--- response_body
static hello



=== TEST 21: skip_eval skips the block without starting nginx
--- skip_eval: 2: 1
--- config
    this_directive_does_not_exist;
--- request
GET /
--- response_body
never



=== TEST 22: skip_nginx with a condition that does not hold runs the block
--- skip_nginx: 2: < 0.8.0
--- config
    location = /ver {
        return 200 "$nginx_version\n";
    }
--- request
GET /ver
--- response_body_like: ^\d+\.\d+\.\d+$



=== TEST 23: add_block_preprocessor supplies a default request
--- config
    location = /t {
        return 200 "default request\n";
    }
--- response_body
default request
