# The headers every answer of the API's server carries (src/ts_headers.c):
# X-Content-Type-Options: nosniff on JSON, errors (the module's and
# nginx's own) and audio; Cache-Control: public reads shared briefly
# (tunesheap_cache_control, capped by the stream links' lifetime),
# keyed and write answers "private, no-store", errors "no-store"; CORS
# off by default, tunesheap_cors for a player on another origin (its
# preflight answered 204); JSON gzipped by the shipped
# conf/tunesheap-http.conf for clients that ask.

use Test::Nginx::Socket 'no_plan';
use Tunesheap::Test;
use IO::Uncompress::Gunzip qw(gunzip $GunzipError);

our $Public = "public, max-age=5, s-maxage=10, stale-while-revalidate=10";
our $Private = "private, no-store";
our $Reader = "Authorization: Bearer tsk_test_reader";
our $Writer = "Authorization: Bearer tsk_test_writer";
our $Json = "Content-Type: application/json";
our $Http = Tunesheap::Test::http_config()
    . Tunesheap::Test::shipped_conf('tunesheap-http.conf');
our $Server = Tunesheap::Test::shipped_conf('tunesheap-server.conf')
    . Tunesheap::Test::media_config();
our $Cors = "location /api/v1/ { tunesheap_api; "
    . "tunesheap_cors https://player.example.com http://localhost:5173; }";

# a file in the media root and a signed link naming it (no Postgres)
our $Key = "971-0123456789abcdef.mp3";
our $Link = Tunesheap::Test::stream_link(971, time + 3600, undef, $Key);
{
    my $tone = Tunesheap::Test::slurp("$ENV{TEST_NGINX_AUDIO}/tone.mp3");
    open my $fh, '>:raw', "$ENV{TEST_NGINX_MEDIA}/$Key" or die "$Key: $!";
    print $fh $tone;
    close $fh;
    chmod 0644, "$ENV{TEST_NGINX_MEDIA}/$Key";
}
END { unlink "$ENV{TEST_NGINX_MEDIA}/$Key" if $ENV{TEST_NGINX_MEDIA} }

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a public read: nosniff, and a short shared lifetime
--- request
GET /api/v1/songs/2
--- error_code: 200
--- response_headers eval
"X-Content-Type-Options: nosniff\nCache-Control: $::Public"



=== TEST 2: its 304 keeps both (revalidation renews the lifetime)
--- request
GET /api/v1/songs?album_id=3
--- more_headers
If-None-Match: *
--- error_code: 304
--- response_headers eval
"X-Content-Type-Options: nosniff\nCache-Control: $::Public"



=== TEST 3: a read with a key is never shared, a 304 of it neither
--- request eval
["GET /api/v1/songs/2", "GET /api/v1/songs/2", "HEAD /api/v1/artists"]
--- more_headers eval
[$::Reader, "$::Reader\nIf-None-Match: *", $::Reader]
--- error_code eval
[200, 304, 200]
--- response_headers eval
[("X-Content-Type-Options: nosniff\nCache-Control: $::Private") x 3]



=== TEST 4: write answers are never kept: created, refused, invalid
--- request eval
["POST /api/v1/artists\n{\"artist\":{\"name\":\"Headers 170\"}}",
 "POST /api/v1/artists\n{\"artist\":{\"name\":\"x\"}}",
 "PATCH /api/v1/artists/1\n{\"artist\":{\"name\":\"\"}}",
 "DELETE /api/v1/artists/999999"]
--- more_headers eval
["$::Writer\n$::Json", $::Json, "$::Writer\n$::Json", $::Writer]
--- error_code eval
[201, 401, 422, 404]
--- response_headers eval
[("X-Content-Type-Options: nosniff\nCache-Control: $::Private") x 4]



=== TEST 5: errors of public reads are not kept either
--- request eval
["GET /api/v1/songs/999999", "GET /api/v1/songs/x", "GET /api/v1/nothing",
 "GET /api/v1/songs?limit=x"]
--- error_code eval
[404, 400, 404, 400]
--- response_headers eval
[("X-Content-Type-Options: nosniff\nCache-Control: no-store") x 4]



=== TEST 6: health answers the load balancer, never a cache
--- request
GET /api/v1/health
--- error_code: 200
--- response_headers
X-Content-Type-Options: nosniff
Cache-Control: no-store



=== TEST 7: nginx's own errors, through the shipped server's error_page
--- http_config eval: $::Http
--- config eval: $::Server
--- request eval
["TRACE /api/v1/songs/2", "GET /elsewhere", "GET /api/v1/songs/2"]
--- more_headers eval
["", "", "X-Big: " . ("a" x 20000)]
--- error_code eval
[405, 404, 400]
--- response_headers eval
[("X-Content-Type-Options: nosniff\nCache-Control: no-store\nContent-Type: application/json; charset=utf-8") x 3]
--- raw_response_headers_unlike eval
[(qr/nosniff.*nosniff|Cache-Control.*Cache-Control/s) x 3]



=== TEST 8: audio through the signed link: nosniff, the stream's own Cache-Control alone
--- http_config eval: $::Http
--- config eval: $::Server
--- request eval
"GET $::Link"
--- error_code: 200
--- raw_response_headers_like: ^(?=.*\r\nX-Content-Type-Options: nosniff\r\n)(?=.*\r\nContent-Type: audio/mpeg\r\n)(?=.*\r\nCache-Control: private, max-age=\d+\r\n)
--- raw_response_headers_unlike: nosniff.*nosniff|Cache-Control.*Cache-Control



=== TEST 9: its 304 too
--- http_config eval: $::Http
--- config eval: $::Server
--- request eval
"GET $::Link"
--- more_headers
If-None-Match: *
--- error_code: 304
--- response_headers
X-Content-Type-Options: nosniff



=== TEST 10: tunesheap_cache_control sets the three; missing ones default
--- config
location /api/v1/ {
    tunesheap_api;
    tunesheap_cache_control max-age=1s s-maxage=1m stale-while-revalidate=0;
    location /api/v1/albums {
        tunesheap_api;
        tunesheap_cache_control s-maxage=30;
    }
}
--- request eval
["GET /api/v1/songs/2", "GET /api/v1/albums/1", "GET /api/v1/songs/2"]
--- more_headers eval
["", "", $::Reader]
--- error_code eval
[200, 200, 200]
--- response_headers eval
["Cache-Control: public, max-age=1, s-maxage=60",
 "Cache-Control: public, max-age=5, s-maxage=30, stale-while-revalidate=10",
 "Cache-Control: $::Private"]



=== TEST 11: tunesheap_cache_control off: public reads say nothing, keyed ones stay private
--- config
location /api/v1/ {
    tunesheap_api;
    tunesheap_cache_control off;
}
--- request eval
["GET /api/v1/songs/2", "GET /api/v1/songs/2", "GET /api/v1/songs/999999"]
--- more_headers eval
["", $::Reader, ""]
--- error_code eval
[200, 200, 404]
--- response_headers eval
["!Cache-Control\nX-Content-Type-Options: nosniff",
 "Cache-Control: $::Private", "Cache-Control: no-store"]



=== TEST 12: songs carry signed links: no cache keeps an answer past them
A link lives at least tunesheap_media_link_ttl minus tunesheap_cache_ttl
(its answer's age in our cache): 70 - 60 = 10 s, 64 - 60 = 4 s, 30 - 60 <
0.  s-maxage + stale-while-revalidate and max-age + stale-while-revalidate
stay within it.
--- config
location /api/v1/ {
    tunesheap_api;
    tunesheap_media_root /nonexistent;
    tunesheap_media_secret test-media-secret-0123456789;
    tunesheap_media_link_ttl 70s;
    tunesheap_cache_ttl 60s;
    location /api/v1/albums {
        tunesheap_api;
        tunesheap_media_link_ttl 64s;
    }
    location /api/v1/artists {
        tunesheap_api;
        tunesheap_media_link_ttl 30s;
    }
}
location /api/v1/search {
    tunesheap_api;
    tunesheap_cache_control s-maxage=1h stale-while-revalidate=1h;
}
--- request eval
["GET /api/v1/songs/2", "GET /api/v1/albums/1", "GET /api/v1/artists/1",
 "GET /api/v1/search?q=takeover"]
--- error_code eval
[200, 200, 200, 200]
--- response_headers eval
["Cache-Control: public, max-age=5, s-maxage=10",
 "Cache-Control: public, max-age=4, s-maxage=4",
 "Cache-Control: public, max-age=0, s-maxage=0",
 "Cache-Control: public, max-age=5, s-maxage=3600, stale-while-revalidate=3600"]



=== TEST 13: tunesheap_headers off turns the filter off; on turns it on elsewhere
--- config
location /api/v1/ {
    tunesheap_api;
    tunesheap_headers off;
}
location = /plain {
    tunesheap_headers on;
    return 200 "plain\n";
}
location = /other {
    return 200 "other\n";
}
--- request eval
["GET /api/v1/songs/2", "GET /plain", "GET /other"]
--- error_code eval
[200, 200, 200]
--- response_headers eval
["!X-Content-Type-Options\n!Cache-Control",
 "X-Content-Type-Options: nosniff\n!Cache-Control",
 "!X-Content-Type-Options\n!Cache-Control"]



=== TEST 14: CORS is off by default: no Access-Control-*, a preflight is a 405
--- request eval
["GET /api/v1/songs/2", "OPTIONS /api/v1/songs/2"]
--- more_headers eval
["Origin: https://player.example.com",
 "Origin: https://player.example.com\nAccess-Control-Request-Method: GET"]
--- error_code eval
[200, 405]
--- response_headers eval
[("!Access-Control-Allow-Origin\n!Vary") x 2]



=== TEST 15: tunesheap_cors: a listed origin is allowed, and every answer varies on Origin
--- config eval: $::Cors
--- request eval
["GET /api/v1/songs/2", "GET /api/v1/songs/2", "GET /api/v1/songs/2",
 "GET /api/v1/songs/999999", "POST /api/v1/artists\n{}"]
--- more_headers eval
["Origin: https://player.example.com", "Origin: https://evil.example.com",
 "", "Origin: http://localhost:5173", "Origin: http://localhost:5173"]
--- error_code eval
[200, 200, 200, 404, 401]
--- response_headers eval
["Access-Control-Allow-Origin: https://player.example.com\nVary: Origin\nAccess-Control-Expose-Headers: ETag, Location, Retry-After, X-Cache, Idempotent-Replayed, WWW-Authenticate",
 "!Access-Control-Allow-Origin\nVary: Origin",
 "!Access-Control-Allow-Origin\nVary: Origin",
 "Access-Control-Allow-Origin: http://localhost:5173\nVary: Origin",
 "Access-Control-Allow-Origin: http://localhost:5173\nVary: Origin\nCache-Control: $::Private"]



=== TEST 16: the preflight of a listed origin: 204, before any key is asked for
--- config eval: $::Cors
--- request eval
["OPTIONS /api/v1/artists", "OPTIONS /api/v1/songs/2"]
--- more_headers eval
["Origin: https://player.example.com\nAccess-Control-Request-Method: POST\nAccess-Control-Request-Headers: authorization, content-type",
 "Origin: http://localhost:5173\nAccess-Control-Request-Method: PUT"]
--- error_code eval
[204, 204]
--- response_headers eval
["Access-Control-Allow-Origin: https://player.example.com\nAccess-Control-Allow-Methods: GET, HEAD, POST, PUT, PATCH, DELETE\nAccess-Control-Allow-Headers: Authorization, Content-Type, If-Match, If-None-Match, Idempotency-Key\nAccess-Control-Max-Age: 600\nVary: Origin\nX-Content-Type-Options: nosniff",
 "Access-Control-Allow-Origin: http://localhost:5173\nAccess-Control-Allow-Methods: GET, HEAD, POST, PUT, PATCH, DELETE\nVary: Origin"]
--- response_body eval
["", ""]



=== TEST 17: another origin's preflight, or an OPTIONS that is none, stays a 405
The last is an ordinary request of a listed origin: its 405 may be read.
--- config eval: $::Cors
--- request eval
["OPTIONS /api/v1/artists", "OPTIONS /api/v1/artists",
 "OPTIONS /api/v1/artists"]
--- more_headers eval
["Origin: https://evil.example.com\nAccess-Control-Request-Method: POST",
 "Origin: https://player.example.com.evil.example\nAccess-Control-Request-Method: POST",
 "Origin: https://player.example.com"]
--- error_code eval
[405, 405, 405]
--- response_headers eval
[("!Access-Control-Allow-Origin\n!Access-Control-Allow-Methods\nVary: Origin") x 2,
 "Access-Control-Allow-Origin: https://player.example.com\n!Access-Control-Allow-Methods\nVary: Origin"]



=== TEST 18: tunesheap_cors *: any origin, the same answer for all (no Vary)
--- config
location /api/v1/ {
    tunesheap_api;
    tunesheap_cors *;
}
--- request eval
["GET /api/v1/songs/2", "OPTIONS /api/v1/songs/2", "GET /api/v1/songs/2"]
--- more_headers eval
["Origin: https://anyone.example",
 "Origin: https://anyone.example\nAccess-Control-Request-Method: GET", ""]
--- error_code eval
[200, 204, 200]
--- response_headers eval
["Access-Control-Allow-Origin: *\n!Vary", "Access-Control-Allow-Origin: *\n!Vary",
 "!Access-Control-Allow-Origin\n!Vary"]



=== TEST 19: JSON is gzipped for clients that ask, with Vary and a weak ETag
--- http_config eval: $::Http
--- config eval: $::Server
--- init
my ($st, $h, $plain) = Tunesheap::Test::http(GET => "/api/v1/songs?limit=20");
my ($st2, $h2, $gz) = Tunesheap::Test::http(GET => "/api/v1/songs?limit=20",
    headers => { 'Accept-Encoding' => 'gzip' });
Test::More::is($h2->{'content-encoding'}, 'gzip', "the list is gzipped");
Test::More::ok(length($gz) < length($plain) / 2, "and smaller by half");
my $out;
IO::Uncompress::Gunzip::gunzip(\$gz => \$out) or die $IO::Uncompress::Gunzip::GunzipError;
Test::More::is($out, $plain, "it gunzips to the plain answer");
Test::More::is($h2->{etag}, "W/$h->{etag}", "its ETag is the plain one, weak");
my ($st3) = Tunesheap::Test::http(GET => "/api/v1/songs?limit=20",
    headers => { 'Accept-Encoding' => 'gzip', 'If-None-Match' => $h2->{etag} });
Test::More::is($st3, 304, "and revalidates");
--- request
GET /api/v1/songs?limit=20
--- more_headers
Accept-Encoding: gzip, deflate
--- error_code: 200
--- response_headers eval
"Content-Encoding: gzip\nVary: Accept-Encoding\nContent-Type: application/json; charset=utf-8\nCache-Control: $::Public\nX-Content-Type-Options: nosniff\n!Content-Length"



=== TEST 20: small answers, and clients that do not ask, are not compressed
--- http_config eval: $::Http
--- config eval: $::Server
--- request eval
["GET /api/v1/songs/2", "GET /api/v1/songs?limit=20", "GET /api/v1/songs/999999"]
--- more_headers eval
["Accept-Encoding: gzip", "", "Accept-Encoding: gzip"]
--- error_code eval
[200, 200, 404]
--- response_headers eval
[("!Content-Encoding") x 3]



=== TEST 21: a private key every user may read: nginx warns; at 0600 it says nothing
--- init
my $dir = "$ENV{TEST_NGINX_SERVROOT}-keys";
system('rm', '-rf', $dir);
mkdir $dir;
mkdir "$dir/logs";
my $pem = Tunesheap::Test::slurp($ENV{TEST_NGINX_CLOUDFRONT_KEY});
for my $mode (0644, 0600) {
    open my $k, '>', "$dir/cloudfront.pem" or die $!;
    print $k $pem;
    close $k;
    chmod $mode, "$dir/cloudfront.pem";
    open my $fh, '>', "$dir/nginx.conf" or die $!;
    print $fh "load_module $ENV{TEST_NGINX_LOAD_MODULES};\n"
        . "events {}\nhttp { server { listen 127.0.0.1:1; location / {"
        . " tunesheap_api; tunesheap_media_s3 bucket=tunes region=us-east-1"
        . " access_key=a secret_key=b; tunesheap_media_cloudfront domain=x"
        . " key_pair_id=K private_key=$dir/cloudfront.pem; } } }\n";
    close $fh;
    my $out = `nginx -t -p $dir/ -c $dir/nginx.conf -e $dir/logs/error.log 2>&1`;
    Test::More::is($?, 0, sprintf("the configuration holds at %04o", $mode));
    if ($mode == 0644) {
        Test::More::like($out, qr/\[warn\].*cloudfront\.pem" holds a secret and every user may read it \(mode 644\): chmod 0600/,
                         "warned at 0644");
    } else {
        Test::More::unlike($out, qr/holds a secret/, "nothing at 0600");
    }
}
system('rm', '-rf', $dir);
--- request
GET /api/v1/health
--- error_code: 200
