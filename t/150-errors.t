# Every answer of the API's server is JSON: nginx's own errors (a bad
# request line, a URI or header too large, a body over
# client_max_body_size, a range past the end, an unknown transfer coding,
# TRACE, no Host, a path nothing serves) go through the shipped
# conf/tunesheap-server.conf's error_page to tunesheap_error, which
# answers the documented {"error":{"status":N,"message":"..."}}.  Blocks
# run the shipped conf/tunesheap-http.conf and conf/tunesheap-server.conf.

use Test::Nginx::Socket 'no_plan';
use Tunesheap::Test;

our $Http = Tunesheap::Test::http_config()
    . Tunesheap::Test::shipped_conf('tunesheap-http.conf');
our $Server = Tunesheap::Test::shipped_conf('tunesheap-server.conf')
    . Tunesheap::Test::media_config();

sub error_json {
    my ($status, $message) = @_;
    return qq({"error":{"status":$status,"message":"$message"}}\n);
}

# a file in the media root and a signed link naming it: no Postgres needed
our $Key = "901-0123456789abcdef.mp3";
our $Link = Tunesheap::Test::stream_link(901, time + 3600, undef, $Key);

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('http_config', $Http) unless defined $block->http_config;
    $block->set_value('config', $Server) unless defined $block->config;
    $block->set_value('response_headers', "Content-Type: application/json; charset=utf-8")
        unless defined $block->response_headers
               || defined $block->response_headers_like;
});

no_root_location();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: a bad URI is a JSON 400
--- raw_request eval
"GET /api/v1/%%zz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
--- error_code: 400
--- no_error_log
[error]
--- response_body eval
main::error_json(400, "bad request")



=== TEST 2: a URI past large_client_header_buffers is a JSON 414
--- raw_request eval
"GET /api/v1/artists?q=" . ("a" x 9000) . " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
--- error_code: 414
--- response_body eval
main::error_json(414, "the URI is too long")



=== TEST 3: a header line too large is a JSON 400
--- raw_request eval
"GET /api/v1/artists HTTP/1.1\r\nHost: localhost\r\nX-Big: " . ("b" x 9000) . "\r\nConnection: close\r\n\r\n"
--- error_code: 400
--- response_body eval
main::error_json(400, "the request's header is too large")



=== TEST 4: a body over client_max_body_size is a JSON 413
--- raw_request eval
"PUT /api/v1/songs/1/audio HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer tsk_test_writer\r\nContent-Type: audio/mpeg\r\nContent-Length: 70000000\r\nConnection: close\r\n\r\nabc"
--- error_code: 413
--- response_body eval
main::error_json(413, "the body is too large")
--- timeout: 2
--- abort



=== TEST 5: a range past the end of a song's file is a JSON 416
--- init
open my $fh, '>', "$ENV{TEST_NGINX_MEDIA}/$main::Key" or die $!;
print $fh "ID3" . ("\0" x 997);
close $fh;
--- request eval
["GET $main::Link", "GET $main::Link"]
--- more_headers eval
["Range: bytes=5000-6000", "Range: bytes=10-19"]
--- error_code eval
[416, 206]
--- response_headers eval
["Content-Type: application/json; charset=utf-8\nContent-Range: bytes */1000",
 "Content-Type: audio/mpeg\nContent-Range: bytes 10-19/1000"]
--- response_body eval
[main::error_json(416, "the range is not satisfiable"), "\0" x 10]



=== TEST 6: an unknown transfer coding is a JSON 501
--- raw_request eval
"POST /api/v1/artists HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: gzip\r\nConnection: close\r\n\r\n"
--- error_code: 501
--- response_body eval
main::error_json(501, "not implemented")



=== TEST 7: TRACE is a JSON 405
--- raw_request eval
"TRACE /api/v1/artists HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
--- error_code: 405
--- response_body eval
main::error_json(405, "method not allowed")



=== TEST 8: HTTP/1.1 without Host is a JSON 400
--- raw_request eval
"GET /api/v1/artists HTTP/1.1\r\nConnection: close\r\n\r\n"
--- error_code: 400
--- response_body eval
main::error_json(400, "bad request")



=== TEST 9: paths outside the API, and the files' internal location, are JSON 404s
--- request eval
["GET /nothing.html", "GET /api", "GET /etc/passwd", "GET /_tunesheap_media/$main::Key",
 "HEAD /nothing"]
--- error_code eval
[404, 404, 404, 404, 404]
--- response_headers eval
[("Content-Type: application/json; charset=utf-8") x 5]
--- response_body eval
[(main::error_json(404, "not found")) x 4, ""]



=== TEST 10: the module's own errors are unchanged
--- request eval
["GET /api/v1/nothing", "DELETE /api/v1/health"]
--- error_code eval
[404, 405]
--- response_headers eval
[("Content-Type: application/json; charset=utf-8") x 2]
--- response_body_like eval
[qr/^\{"error":\{"status":404,"message":"[^"]+"\}\}$/,
 qr/^\{"error":\{"status":405,"message":"method not allowed here, use GET, HEAD"\}\}$/]



=== TEST 11: redirects do not echo the client's Host
--- config eval
$::Server . "location = /home { return 302 /api/v1/artists; }\n"
--- request
GET /home
--- more_headers
Host: evil.example
--- error_code: 302
--- response_headers
Location: /api/v1/artists



=== TEST 12: the error location is not reachable from outside
--- request
GET /_tunesheap_error
--- error_code: 404
--- response_body eval
main::error_json(404, "not found")



=== TEST 13: no nginx version in Server
--- request
GET /nothing
--- error_code: 404
--- response_headers
Server: nginx
Content-Type: application/json; charset=utf-8
