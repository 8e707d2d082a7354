package Test::Nginx::Socket;

# Our own minimal re-implementation of openresty/test-nginx's
# Test::Nginx::Socket, built on Debian's Test::Base.  Test files written
# for the real module run unchanged with it:
#
#     use Test::Nginx::Socket 'no_plan';
#     run_tests();
#     __DATA__
#     === TEST 1: hello
#     --- config
#         location = /t { return 200 "hello\n"; }
#     --- request
#     GET /t
#     --- response_body
#     hello
#
# This file holds the HTTP client side: building requests from the
# request sections, sending them, parsing responses and running the
# checks.  Server management lives in Test::Nginx::Util.  See t/README.md.

use strict;
use warnings;

# "-base" (lower case) makes us a Test::Base subclass without Spiffy's
# source filter; Test::Base's exports (blocks, plan, is, ...) are passed on
# to test files together with ours.
use Test::Base -base;

use Errno qw(EAGAIN EWOULDBLOCK EINTR);
use HTTP::Response ();
use IO::Select ();
use IO::Socket::INET ();
use List::Util qw(min);
use Test::LongString;
use Time::HiRes qw(sleep time);

use Test::Nginx::Util;

our $VERSION = '0.01';

our @EXPORT = qw(
    env_to_nginx is_str plan run_tests
    repeat_each config_preamble worker_connections master_process_enabled
    no_long_string workers master_on master_off log_level no_shuffle
    no_root_location use_hup server_name server_addr server_root html_dir
    server_port server_port_for_client timeout no_nginx_manager
    check_accum_error_log add_block_preprocessor bail_out
    add_test_cleanup_handler add_cleanup_handler add_response_body_check
);

our @ResponseBodyChecks;

$RunTestHelper = \&run_test_helper;
$CheckErrorLog = \&check_error_log;

# add_response_body_check(sub { my ($block, $body, $req_idx,
#     $repeated_req_idx, $dry_run) = @_; ... }) - called after the built-in
# body checks of every response.
sub add_response_body_check ($) {
    push @ResponseBodyChecks, shift;
}

# ---------------------------------------------------------------------------
# Building requests
# ---------------------------------------------------------------------------

# "--- more_headers" text -> ("Key: value\r\n..." , $is_chunked)
sub parse_more_headers ($) {
    my $in = shift;
    my $out = '';
    my $is_chunked;
    for my $header (split /\n+/, $in) {
        next if $header =~ /^\s*\#/;
        my ($key, $val) = split /:\s*/, $header, 2;
        $val = '' unless defined $val;
        $is_chunked = 1 if lc($key) eq 'transfer-encoding' && $val eq 'chunked';
        $out .= "$key: $val\r\n";
    }
    return ($out, $is_chunked);
}

# Turn "METHOD [URI [VERSION]]\n[body]" into a full HTTP request:
#   METHOD URI VERSION\r\n
#   Host: localhost\r\n          (unless given in more_headers)
#   Connection: $conn\r\n        (unless given in more_headers)
#   <more_headers>
#   Content-Length: N\r\n        (if there is a body, it is not chunked
#                                 and more_headers has no Content-Length;
#                                 the body is then trimmed of whitespace)
#   \r\n
#   body
sub build_request ($$$$$) {
    my ($name, $more_headers, $is_chunked, $conn, $request) = @_;

    $request = '' unless defined $request;
    my ($first, $content) = split /\n/, $request, 2;
    if (!defined $first || $first !~ /\S/) {
        bail_out("$name - Request line should be non-empty");
    }
    $first =~ /^\s*(\S+)(?:\s+(\S+))?(?:\s+(\S+))?\s*$/
        or bail_out("$name - Request line is not valid. Should be "
                    . "'meth [url [version]]' but got \"$first\".");
    my ($meth, $url, $ver) = ($1, $2 // '/', $3 // 'HTTP/1.1');
    $content = '' unless defined $content;

    my $len_header = '';
    if (!$is_chunked && $content ne ''
        && $more_headers !~ /(?:^|\n)Content-Length:/)
    {
        $content =~ s/^\s+|\s+$//gs;
        $len_header = "Content-Length: " . length($content) . "\r\n";
    }

    $more_headers =~ s/(?<!\r)\n/\r\n/gs;

    my $headers = '';
    $headers .= "Host: $ServerName\r\n"
        if $more_headers !~ /(?:^|\n)Host:/msi;
    $headers .= "Connection: $conn\r\n"
        if $more_headers !~ /(?:^|\n)Connection/msi;
    $headers .= "$more_headers$len_header\r\n";

    return "$meth $url $ver\r\n$headers$content";
}

# more_headers may be one string for all requests or an array (one entry
# per request).
sub more_headers_for ($$$) {
    my ($block, $more_headers, $i) = @_;
    if (ref $more_headers eq 'ARRAY') {
        my $hdr = $more_headers->[$i];
        defined $hdr
            or bail_out("--- more_headers lacks data for the ${i}th request");
        return parse_more_headers($hdr);
    }
    return parse_more_headers($more_headers);
}

# Returns a list of requests; each request is a hash:
#   { chunks => [ byte strings to send ], head => is HEAD request }
# Every request is sent on its own connection, one after the other.
sub get_req_from_block ($) {
    my $block = shift;
    my $name = $block->name;
    my @reqs;

    if (defined(my $raw = $block->raw_request)) {
        # bytes sent as-is; an array is sent piece by piece with
        # --- raw_request_middle_delay seconds between the pieces
        push @reqs, [ref $raw eq 'ARRAY' ? @$raw : $raw];

    } elsif (defined(my $reqs = $block->pipelined_requests)) {
        # all requests on one connection in one write; all but the last
        # use "Connection: keep-alive"
        ref $reqs eq 'ARRAY'
            or bail_out("$name - invalid entries in --- pipelined_requests");
        my $more = $block->more_headers // '';
        my $data = '';
        for my $i (0 .. $#$reqs) {
            my $req = expand_env_in_text($reqs->[$i], $name);
            my ($hdr, $chunked) = more_headers_for($block, $more, $i);
            $data .= build_request($name, $hdr, $chunked,
                                   $i == $#$reqs ? 'close' : 'keep-alive',
                                   $req);
        }
        push @reqs, [$data];

    } else {
        my $request = $block->request;
        bail_out("$name - request empty") unless defined $request;
        my $more = $block->more_headers // '';

        if (!ref $request) {
            # leading blank lines and "# comment" lines are ignored
            while ($request =~ s/^\s*\#[^\n]+\s+|^\s+//gs) { }
            my ($hdr, $chunked) = more_headers_for($block, $more, 0);
            push @reqs, [build_request($name, $hdr, $chunked, 'close', $request)];

        } elsif (ref $request eq 'ARRAY') {
            for my $i (0 .. $#$request) {
                my $one = $request->[$i];
                if (ref $one) {
                    bail_out("$name - requests given as arrays of packets "
                             . "are not supported by this harness");
                }
                my ($hdr, $chunked) = more_headers_for($block, $more, $i);
                push @reqs, [build_request($name, $hdr, $chunked, 'close', $one)];
            }

        } else {
            bail_out("$name - invalid ---request : MUST be string or array "
                     . "of requests");
        }
    }

    return [ map {
        my $all = join '', @$_;
        { chunks => $_, head => scalar($all =~ /^\s*HEAD\s+/) };
    } @reqs ];
}

# ---------------------------------------------------------------------------
# Sending
# ---------------------------------------------------------------------------

# Connect, retrying for a little while (nginx may still be starting).
sub connect_to_nginx ($$) {
    my ($block, $timeout) = @_;
    my $addr = $block->server_addr_for_client // $ServerAddr;
    my $deadline = time + 5;
    my $err;
    while (1) {
        my $sock = IO::Socket::INET->new(
            PeerAddr => $addr,
            PeerPort => $ServerPortForClient,
            Proto    => 'tcp',
            Timeout  => $timeout,
        );
        return $sock if $sock;
        $err = $! || $@;
        last if time > $deadline;
        sleep 0.05;
    }
    fail($block->name . " - Can't connect to $addr:$ServerPortForClient: $err\n");
    return undef;
}

# Send one request and read the response until the server closes the
# connection.  Like the real module, --- timeout is the maximum time
# between two I/O events; on expiry the socket is closed and the test
# fails unless --- abort is given.  Returns the raw response bytes.
sub send_request ($$$) {
    my ($block, $req, $timeout) = @_;
    my $name = $block->name;

    my $sock = connect_to_nginx($block, $timeout) or return undef;
    $sock->blocking(0);
    local $SIG{PIPE} = 'IGNORE';

    my @chunks = @{ $req->{chunks} };
    my $buf = shift @chunks;
    $buf = '' unless defined $buf;
    my $off = 0;
    my $writing = 1;
    my $resp = '';
    my $middle_delay = parse_time($block->raw_request_middle_delay);
    my $sel = IO::Select->new($sock);

    while (1) {
        my ($r, $w) = IO::Select->select($sel, $writing ? $sel : undef,
                                          undef, $timeout);
        if (!$r && !$w) {
            # timed out
            close $sock;
            if (!defined $block->abort) {
                fail("ERROR: client socket timed out - $name\n");
            } else {
                sleep 0.005;
            }
            return $resp;
        }

        if ($writing && $w && @$w) {
            WRITE: while (1) {
                if ($off < length $buf) {
                    my $n = syswrite $sock, $buf, length($buf) - $off, $off;
                    if (!defined $n) {
                        last WRITE if $! == EAGAIN || $! == EWOULDBLOCK;
                        warn "write failed: $!\n";
                        $resp = "write failed: $!" if $resp eq '';
                        $writing = 0;
                        last WRITE;
                    }
                    $off += $n;
                    next WRITE;
                }
                if (@chunks) {
                    sleep $middle_delay if $middle_delay;
                    $buf = shift @chunks;
                    $off = 0;
                    next WRITE;
                }
                # everything written
                $writing = 0;
                if (defined(my $how = $block->shutdown)) {
                    $how = 1 if $how =~ /^\s*$/s;
                    shutdown $sock, $how;
                }
                last WRITE;
            }
        }

        if ($r && @$r) {
            my $n = sysread $sock, my $data, 16384;
            if (!defined $n) {
                next if $! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR;
                warn "WARNING: $name - HTTP response read failure: $!\n";
                last;
            }
            last if $n == 0;    # server closed the connection
            $resp .= $data;
        }
    }

    close $sock;
    return $resp;
}

# ---------------------------------------------------------------------------
# Parsing responses
# ---------------------------------------------------------------------------

# Returns ($res, $raw_headers, $left): an HTTP::Response with the decoded
# body, the raw header text, and any bytes after the end of this
# response (the next pipelined response).
sub parse_response ($$$) {
    my ($name, $raw, $head_req) = @_;

    my $raw_headers = '';
    $raw_headers = $1 if $raw =~ /(.*?\r\n)\r\n/s;

    my $res = HTTP::Response->parse($raw);
    my $code = $res->code;
    if (defined $code && $code !~ /^\d+$/) {
        undef $code;
        $res->code(undef);
    }

    # no body for these
    return ($res, $raw_headers) if $code && ($code == 304 || $code == 101);

    my $body = $res->content // '';
    my $enc = $res->header('Transfer-Encoding');
    my $len = $res->header('Content-Length');
    my $left;

    if ($head_req) {
        # HEAD responses never have a body
        $res->content('');
        $left = $body if length $body;

    } elsif (defined $enc && $enc eq 'chunked') {
        my $decoded = '';
        while (1) {
            if ($body !~ /\G[ \t]*([0-9A-Fa-f]+)[^\r\n]*\r\n/gc) {
                fail("$name - invalid chunked body received: "
                     . (pos($body) && pos($body) < length $body
                        ? substr($body, pos $body) : $body));
                return;
            }
            my $size = hex $1;
            if ($size == 0) {
                # skip trailers up to the empty line
                while ($body =~ /\G([^\r\n]+)\r\n/gc) { }
                if ($body !~ /\G\r\n/gc) {
                    fail("$name - invalid chunked data received (expected CRLF).");
                    return;
                }
                last;
            }
            my $start = pos $body;
            if (length($body) - $start < $size + 2) {
                fail("$name - invalid chunked data received "
                     . "(not enough octets for the data section)");
                return;
            }
            $decoded .= substr $body, $start, $size;
            pos($body) = $start + $size;
            if ($body !~ /\G\r\n/gc) {
                fail("$name - invalid chunked data received (expected CRLF).");
                return;
            }
        }
        my $rest = substr $body, pos($body) // length $body;
        $left = $rest if length $rest;
        $res->content($decoded);

    } elsif (defined $len && $len =~ /^\d+$/) {
        if (length $body < $len) {
            warn "WARNING: $name - response body truncated: $len expected, "
                 . "but got ", length $body, "\n";
        } elsif (length $body > $len) {
            $left = substr $body, $len;
            $res->content(substr $body, 0, $len);
        }
    }

    return ($res, $raw_headers, $left);
}

# ---------------------------------------------------------------------------
# Recording responses (for t/tools/openapi-check.js)
# ---------------------------------------------------------------------------

# With TS_RECORD=DIR, every response received is appended to
# DIR/<pid>.jsonl as one JSON line: the suite, the block, the request's
# method and target, the status, the headers and the body (its length
# only, when it is not text).  $req is a request of get_req_from_block(),
# $k the index of the response among pipelined ones; or, called from
# elsewhere, a hash { method => ..., target => ... }.
sub record_response ($$$$) {
    my ($block, $req, $k, $res) = @_;
    my $dir = $ENV{TS_RECORD};
    return unless defined $dir && length $dir && defined $res;

    my ($method, $target) = ($req->{method}, $req->{target});
    if (!defined $method) {
        my @lines = join('', @{ $req->{chunks} })
                    =~ /^([A-Z]+) (\S+) HTTP\/1\.[01]\r?$/mg;
        ($method, $target) = @lines[2 * $k, 2 * $k + 1];
    }
    return unless defined $method;

    require JSON::PP;
    my $body = $res->content // '';
    my $type = $res->header('Content-Type') // '';
    my %headers;
    for my $h ($res->headers->header_field_names) {
        $headers{lc $h} = scalar $res->header($h);
    }
    my $text = $type =~ m{^(?:application/json|text/)}i;

    my $line = JSON::PP->new->canonical->encode({
        suite   => $0,
        block   => defined $block ? $block->name : undef,
        method  => $method,
        target  => $target,
        status  => defined $res->code ? 0 + $res->code : undef,
        headers => \%headers,
        length  => length $body,
        body    => $text ? $body : undef,
    });

    open my $fh, '>>', "$dir/$$.jsonl" or die "$dir: $!";
    print $fh $line, "\n";
    close $fh;
}

# ---------------------------------------------------------------------------
# Checks (test names are the same as the real module's)
# ---------------------------------------------------------------------------

# With several requests in a block, expected values must be arrays with
# one entry per request.
sub get_indexed_value ($$$$) {
    my ($name, $value, $req_idx, $need_array) = @_;
    if ($need_array) {
        return $value->[$req_idx] if ref $value eq 'ARRAY';
        bail_out("$name - You asked for many requests, the expected results "
                 . "should be arrays as well.");
    }
    return $value->[0] if ref $value eq 'ARRAY';
    return $value;
}

sub check_error_code ($$$$) {
    my ($block, $res, $req_idx, $need_array) = @_;
    my $name = $block->name;
    my $got = ($res && $res->code) || '';
    if (defined $block->error_code_like) {
        my $val = get_indexed_value($name, $block->error_code_like, $req_idx,
                                    $need_array);
        like($got, qr/$val/sm, "$name - status code ok");
    } elsif (defined $block->error_code) {
        is($got, get_indexed_value($name, $block->error_code, $req_idx,
                                   $need_array),
           "$name - status code ok");
    } else {
        is($got, 200, "$name - status code ok");
    }
}

sub check_raw_response_headers ($$$$) {
    my ($block, $raw_headers, $req_idx, $need_array) = @_;
    my $name = $block->name;
    if (defined $block->raw_response_headers_like) {
        my $re = get_indexed_value($name, $block->raw_response_headers_like,
                                   $req_idx, $need_array);
        like($raw_headers, qr/$re/s, "$name - raw resp headers like");
    }
    if (defined $block->raw_response_headers_unlike) {
        my $re = get_indexed_value($name, $block->raw_response_headers_unlike,
                                   $req_idx, $need_array);
        unlike($raw_headers, qr/$re/s, "$name - raw resp headers unlike");
    }
}

sub check_response_headers ($$$$$) {
    my ($block, $res, $raw_headers, $req_idx, $need_array) = @_;
    my $name = $block->name;

    if (defined $block->response_headers) {
        my $spec = get_indexed_value($name, $block->response_headers,
                                     $req_idx, $need_array);
        my $headers = parse_headers($spec);
        for my $key (sort keys %$headers) {
            my $val = $headers->{$key};
            if (!defined $val) {
                # "!Name": header must be absent
                unlike($raw_headers, qr/^\s*\Q$key\E\s*:/ms,
                       "$name - header $key not present in the raw headers");
                next;
            }
            $val =~ s/\$ServerPort\b/$ServerPort/g;
            $val =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
            my $actual = $res ? $res->header($key) : undef;
            $actual = '' unless defined $actual;
            is($actual, $val, "$name - header $key ok");
        }

    } elsif (defined $block->response_headers_like) {
        my $spec = get_indexed_value($name, $block->response_headers_like,
                                     $req_idx, $need_array);
        my $headers = parse_headers($spec);
        for my $key (sort keys %$headers) {
            my $val = $headers->{$key};
            my $actual = $res ? $res->header($key) : undef;
            $actual = '' unless defined $actual;
            like($actual, qr/^$val$/, "$name - header $key like ok");
        }
    }
}

sub check_response_body ($$$$$) {
    my ($block, $res, $req_idx, $repeated_req_idx, $need_array) = @_;
    my $name = $block->name;
    my $content = $res ? $res->content : undef;

    if (defined $block->response_body) {
        my $expected = get_indexed_value($name, $block->response_body,
                                         $req_idx, $need_array);
        if (defined $expected && !ref $expected) {
            $expected =~ s/\$ServerPort\b/$ServerPort/g;
            $expected =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
            $expected = expand_env_in_text($expected, $name);
        }
        my $desc = "(repeated req $repeated_req_idx, req $req_idx)";
        if (ref $expected) {
            like($content, $expected, "$name - response_body - like $desc");
        } elsif ($NoLongString) {
            is($content, $expected,
               "$name - response_body - response is expected $desc");
        } else {
            is_string($content, $expected,
                      "$name - response_body - response is expected $desc");
        }

    } elsif (defined $block->response_body_like
             || defined $block->response_body_unlike)
    {
        my $type = defined $block->response_body_like ? 'like' : 'unlike';
        my $patterns = $type eq 'like' ? $block->response_body_like
                                       : $block->response_body_unlike;
        my $pat = get_indexed_value($name, $patterns, $req_idx, $need_array);
        $pat =~ s/\$ServerPort\b/$ServerPort/g;
        $pat =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
        my $summary = trim($content) // '';
        my $desc = "$name - response_body_$type - response is expected ($summary)";
        if ($type eq 'like') {
            like($content, qr/$pat/s, $desc);
        } else {
            unlike($content, qr/$pat/s, $desc);
        }
    }

    for my $check (@ResponseBodyChecks) {
        $check->($block, $content, $req_idx, $repeated_req_idx, undef);
    }
}

# Print a log line on one line, with quotes escaped.
sub fmt_str ($) {
    my $str = shift;
    chomp $str;
    $str =~ s/"/\\"/g;
    $str =~ s/\r/\\r/g;
    $str =~ s/\n/\\n/g;
    return $str;
}

# Section value -> list of patterns.  A plain section holds one pattern
# per line (substring match); "eval" may give a string, a qr// or an
# array of strings / qr//s.
sub log_patterns ($) {
    my $pats = shift;
    if (!ref $pats) {
        chomp $pats;
        return [split /\n+/, $pats];
    }
    return [$pats] if ref $pats eq 'Regexp';
    return [@$pats];
}

sub line_matches ($$) {
    my ($line, $pat) = @_;
    return ref $pat ? $line =~ /$pat/ : index($line, $pat) >= 0;
}

# --- error_log / --- access_log: every pattern must match some line.
sub check_must_match ($$$$) {
    my ($name, $pats, $lines, $what) = @_;
    my ($logname, $rep) = @$what;
    my @pats = @{ log_patterns($pats) };
    for my $line (@$lines) {
        for my $pat (@pats) {
            next unless defined $pat;
            if (line_matches($line, $pat)) {
                pass("$name - pattern \"$pat\" matches a line in $logname (req $rep)");
                undef $pat;
            }
        }
    }
    for my $pat (grep { defined } @pats) {
        fail("$name - pattern \"$pat\" should match a line in $logname (req $rep)");
    }
}

# --- no_error_log / --- no_access_log: no pattern may match any line.
sub check_must_not_match ($$$$) {
    my ($name, $pats, $lines, $what) = @_;
    my ($logname, $rep) = @$what;
    my @pats = @{ log_patterns($pats) };
    my %found;
    for my $i (0 .. $#$lines) {
        my $line = $lines->[$i];
        for my $pat (@pats) {
            next unless defined $pat;
            next unless line_matches($line, $pat);
            $found{$pat} = 1;
            my @more = @$lines[$i + 1 .. min($i + 9, $#$lines)];
            fail("$name - pattern \"" . fmt_str($pat) . "\" should not match "
                 . "any line in $logname but matches line \"" . fmt_str($line)
                 . "\" (req $rep)\n" . join('', @more));
        }
    }
    for my $pat (@pats) {
        next if !defined $pat || $found{$pat};
        pass("$name - pattern \"" . fmt_str($pat) . "\" does not match a line "
             . "in $logname (req $rep)");
    }
}

sub check_error_log ($$$$) {
    my ($block, $res, $repeated_req_idx, $need_array) = @_;
    my $name = $block->name;
    my $lines;

    # --- grep_error_log / --- grep_error_log_out
    if (defined(my $grep = $block->grep_error_log)) {
        $grep = $grep->[$repeated_req_idx] if ref $grep eq 'ARRAY';
        my $expected = $block->grep_error_log_out;
        defined $expected
            or bail_out("$name - No --- grep_error_log_out defined but "
                        . "--- grep_error_log is defined");
        $expected = expand_env_in_text($expected, $name) unless ref $expected;
        $expected = $expected->[$repeated_req_idx] if ref $expected eq 'ARRAY';

        $lines ||= error_log_data();
        my $matched = '';
        for my $line (@$lines) {
            if (ref $grep ? $line =~ /$grep/ : $line =~ /\Q$grep\E/) {
                $matched .= "$&\n" if $& !~ /\n/;
            }
        }
        my $desc = "$name - grep_error_log_out (req $repeated_req_idx)";
        if (ref $expected eq 'Regexp') {
            like($matched, $expected, $desc);
        } elsif ($NoLongString) {
            is($matched, $expected, $desc);
        } else {
            is_string($matched, $expected, $desc);
        }
    }

    my %expected_level;    # levels mentioned in the patterns: no warning
    for my $sect ($block->error_log, $block->no_error_log) {
        next unless defined $sect;
        my $text = join ' ', map { "$_" } @{ log_patterns($sect) };
        for my $lvl (qw(alert crit emerg)) {
            $expected_level{$lvl} = 1 if index($text, "[$lvl") >= 0;
        }
    }

    if (defined $block->error_log) {
        $lines ||= error_log_data();
        check_must_match($name, $block->error_log, $lines,
                         ['error.log', $repeated_req_idx]);
    }

    if (defined $block->no_error_log) {
        $lines ||= error_log_data();
        check_must_not_match($name, $block->no_error_log, $lines,
                             ['error.log', $repeated_req_idx]);
    }

    # unexpected serious messages fail the block (the real module only
    # warns): a block that expects one names its level in --- error_log
    # or --- no_error_log
    $lines ||= error_log_data();
    for my $line (@$lines) {
        for my $lvl (qw(alert crit emerg)) {
            if (!$expected_level{$lvl} && $line =~ /\[$lvl\]/) {
                fail("$name - unexpected [$lvl] in error.log: "
                     . fmt_str($line) . "\n");
            }
        }
        if ($line =~ /\bAssertion .*?failed\b/) {
            chomp(my $l = $line);
            fail("$name - $l\n");
        }
    }
}

sub check_access_log ($$) {
    my ($block, $repeated_req_idx) = @_;
    my $name = $block->name;
    my $lines;
    if (defined $block->access_log) {
        $lines ||= access_log_data();
        check_must_match($name, $block->access_log, $lines,
                         ['access.log', $repeated_req_idx]);
    }
    if (defined $block->no_access_log) {
        $lines ||= access_log_data();
        check_must_not_match($name, $block->no_access_log, $lines,
                             ['access.log', $repeated_req_idx]);
    }
}

# ---------------------------------------------------------------------------
# Running one (repetition of a) block
# ---------------------------------------------------------------------------

# Assertions that would never run refuse the block: the real Test::Nginx
# checks only the first of --- response_headers and
# --- response_headers_like, a section given twice keeps only its last
# value, and expected values past the number of requests are never
# compared.
sub check_block_sections ($$) {
    my ($block, $nreqs) = @_;
    my $name = $block->name;

    if (defined $block->response_headers
        && defined $block->response_headers_like)
    {
        bail_out("$name - has both --- response_headers and "
                 . "--- response_headers_like: only the first would be "
                 . "checked (here and in the real Test::Nginx); put the "
                 . "patterns in --- raw_response_headers_like");
    }

    my %seen;
    for my $sect (@{ $block->{_section_order}[0] || [] }) {
        bail_out("$name - section --- $sect is given twice: only one "
                 . "would be checked")
            if $seen{$sect}++;
    }

    for my $sect (qw(error_code error_code_like response_headers
                     response_headers_like raw_response_headers_like
                     raw_response_headers_unlike response_body
                     response_body_like response_body_unlike more_headers))
    {
        my $val = $block->$sect;
        next unless ref $val eq 'ARRAY';
        next if @$val == $nreqs;
        bail_out("$name - --- $sect has " . scalar(@$val) . " entries for "
                 . "$nreqs request(s): each request gets one entry, and "
                 . "extra ones would never be checked");
    }
}

sub run_test_helper ($$$) {
    my ($block, $dry_run, $repeated_req_idx) = @_;
    my $name = $block->name;

    my $reqs = get_req_from_block($block);
    bail_out("$name - request empty") unless @$reqs;

    check_block_sections($block,
                         $block->pipelined_requests
                         ? scalar @{ $block->pipelined_requests }
                         : scalar @$reqs);

    my $timeout = (parse_time($block->timeout) // timeout())
                  * $Test::Nginx::Util::ValgrindSlowdown;

    my $npipelined = $block->pipelined_requests
                     ? scalar @{ $block->pipelined_requests } : 0;
    my $need_array = $npipelined ? 1 : @$reqs > 1;

    my $res;
    my $req_idx = 0;
    for my $r (0 .. $#$reqs) {
        my $raw = send_request($block, $reqs->[$r], $timeout) // '';

        # one response per request, or several for pipelined requests
        my $nresp = $npipelined || 1;
        for my $k (1 .. $nresp) {
            my ($raw_headers, $left);
            if (!defined $block->ignore_response) {
                ($res, $raw_headers, $left) =
                    parse_response($name, $raw, $reqs->[$r]{head});
                $raw_headers //= '';

                if ($k == $nresp && !$npipelined && defined $left) {
                    (my $l = $left) =~ s/([\0-\037\200-\377])/sprintf('\x{%02x}', ord $1)/eg;
                    warn "WARNING: $name - unexpected extra bytes after last "
                         . "chunk in response: \"$l\"\n";
                }

                record_response($block, $reqs->[$r], $k - 1, $res);
                check_error_code($block, $res, $req_idx, $need_array);
                check_raw_response_headers($block, $raw_headers, $req_idx,
                                           $need_array);
                check_response_headers($block, $res, $raw_headers, $req_idx,
                                       $need_array);
                check_response_body($block, $res, $req_idx,
                                    $repeated_req_idx, $need_array);
            }

            # Like the real module: with several requests, the logs are
            # also checked after every request but the last (each check
            # sees only the error.log lines added since the previous one).
            if ($k < $nresp || $r < $#$reqs) {
                sleep $block->wait if $block->wait;
                check_error_log($block, $res, $repeated_req_idx, $need_array);
                check_access_log($block, $repeated_req_idx)
                    unless defined $block->ignore_response;
            }

            $req_idx++;
            $raw = $left // '';
        }
    }

    sleep $block->wait if $block->wait;
    check_error_log($block, $res, $repeated_req_idx, $need_array);
    check_access_log($block, $repeated_req_idx)
        unless defined $block->ignore_response;
}

1;
