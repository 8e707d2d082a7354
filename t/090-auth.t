# API keys: who may write, who may read, revocation, the key's name for
# limit_req and logs, and keys never logged.

use Test::Nginx::Socket 'no_plan';
use Tunesheap::Test;

our $Json = "Content-Type: application/json";
our $Body = '{"artist":{"name":"x"}}';

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a write without a key: 401 with a Bearer challenge
--- request eval
"POST /api/v1/artists\n$::Body"
--- more_headers eval
$::Json
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="tunesheap"
Content-Type: application/json; charset=utf-8
--- response_body
{"error":{"status":401,"message":"an API key is required: Authorization: Bearer <key>"}}



=== TEST 2: every write route needs a key
--- request eval
["POST /api/v1/artists\n$::Body", "POST /api/v1/albums\n$::Body",
 "POST /api/v1/songs\n$::Body", "PUT /api/v1/artists/4\n$::Body",
 "PATCH /api/v1/albums/1\n$::Body", "DELETE /api/v1/songs/1",
 "DELETE /api/v1/artists/4", "PUT /api/v1/songs/1\n$::Body",
 "PATCH /api/v1/artists/1\n$::Body"]
--- more_headers eval
[($::Json) x 9]
--- error_code eval
[(401) x 9]
--- response_headers eval
[('WWW-Authenticate: Bearer realm="tunesheap"') x 9]



=== TEST 3: unknown, revoked and malformed keys
--- request eval
[("POST /api/v1/artists\n$::Body") x 5]
--- more_headers eval
["$::Json\nAuthorization: Bearer tsk_nobody",
 "$::Json\nAuthorization: Bearer tsk_test_revoked",
 "$::Json\nAuthorization: Basic dXNlcjpwYXNz",
 "$::Json\nAuthorization: Bearer ",
 "$::Json\nAuthorization: Bearer " . ("k" x 300)]
--- error_code eval
[401, 401, 401, 401, 401]
--- response_headers eval
['WWW-Authenticate: Bearer realm="tunesheap", error="invalid_token"',
 'WWW-Authenticate: Bearer realm="tunesheap", error="invalid_token"',
 'WWW-Authenticate: Bearer realm="tunesheap", error="invalid_request"',
 'WWW-Authenticate: Bearer realm="tunesheap", error="invalid_request"',
 'WWW-Authenticate: Bearer realm="tunesheap", error="invalid_request"']
--- response_body eval
[qq{{"error":{"status":401,"message":"unknown or revoked API key"}}\n},
 qq{{"error":{"status":401,"message":"unknown or revoked API key"}}\n},
 qq{{"error":{"status":401,"message":"the Authorization header must be \\"Bearer <key>\\""}}\n},
 qq{{"error":{"status":401,"message":"the Authorization header must be \\"Bearer <key>\\""}}\n},
 qq{{"error":{"status":401,"message":"the Authorization header must be \\"Bearer <key>\\""}}\n}]



=== TEST 4: a key without the write scope: 403, and nothing written
--- request eval
["DELETE /api/v1/songs/1", "GET /api/v1/songs/1"]
--- more_headers eval
["Authorization: Bearer tsk_test_reader", ""]
--- error_code eval
[403, 200]
--- response_headers eval
['WWW-Authenticate: Bearer realm="tunesheap", error="insufficient_scope"', ""]
--- response_body_like eval
[qr/^\{"error":\{"status":403,"message":"this API key may not write"\}\}$/,
 qr/^\{"song":\{"id":1,/]



=== TEST 5: the scheme's name is not case-sensitive
--- request
PATCH /api/v1/artists/5
{"artist":{"name":"Metallica"}}
--- more_headers eval
"$::Json\nAuthorization: bearer tsk_test_writer"
--- error_code: 200



=== TEST 6: reads are public by default, with or without a key
--- request eval
["GET /api/v1/artists/4", "GET /api/v1/artists/4", "GET /api/v1/search?q=jay"]
--- more_headers eval
["", "Authorization: Bearer tsk_nobody", ""]
--- error_code eval
[200, 200, 200]



=== TEST 7: tunesheap_auth_read on: reads need a key with "read"; health does not
--- config
    location /api/v1/ {
        tunesheap_auth_read on;
        tunesheap_api;
    }
--- request eval
["GET /api/v1/artists/4", "GET /api/v1/search?q=jay", "GET /api/v1/artists/4",
 "GET /api/v1/artists", "HEAD /api/v1/songs/1", "GET /api/v1/health"]
--- more_headers eval
["", "Authorization: Bearer tsk_nobody", "Authorization: Bearer tsk_test_reader",
 "Authorization: Bearer tsk_test_writer", "Authorization: Bearer tsk_test_reader", ""]
--- error_code eval
[401, 401, 200, 200, 200, 200]
--- response_body_like eval
[qr/"status":401,"message":"an API key is required/,
 qr/"status":401,"message":"unknown or revoked API key"/,
 qr/^\{"artist":\{"id":4,/, qr/^\{"artists":\[/, qr/^$/,
 qr/^\{"status":"ok"/]



=== TEST 8: a key is kept for the cache's TTL: revoked, it still works until then
--- http_config eval
Tunesheap::Test::http_config() . "tunesheap_auth_cache ttl=3s;\n"
--- config
    location /api/v1/ {
        tunesheap_auth_read on;
        tunesheap_api;
    }
--- request eval
["GET /api/v1/songs/1", "GET /api/v1/songs/1", "GET /api/v1/songs/1"]
--- more_headers eval
["Authorization: Bearer tsk_test_torevoke",
 "Authorization: Bearer tsk_test_torevoke",
 "Authorization: Bearer tsk_test_torevoke"]
--- pg_after eval
["sql:UPDATE api_keys SET revoked_at = now() WHERE name = 'test-torevoke'",
 "sleep:3.5", undef]
--- error_code eval
[200, 200, 401]
--- response_body_like eval
[qr/^\{"song":\{"id":1,/, qr/^\{"song":\{"id":1,/,
 qr/"message":"unknown or revoked API key"/]



=== TEST 9: an unknown key is kept as unknown: Postgres is not asked again
--- http_config eval
Tunesheap::Test::http_config() . "tunesheap_auth_cache ttl=3s size=64k;\n"
--- config
    location /api/v1/ {
        tunesheap_auth_read on;
        tunesheap_api;
    }
--- request eval
["GET /api/v1/songs/1", "GET /api/v1/songs/1", "GET /api/v1/songs/1"]
--- more_headers eval
["Authorization: Bearer tsk_test_later", "Authorization: Bearer tsk_test_later",
 "Authorization: Bearer tsk_test_later"]
--- pg_after eval
["sql:INSERT INTO api_keys (name, key_hash, scopes) VALUES ('test-later',"
 . " encode(sha256('tsk_test_later'), 'hex'), '{}')", "sleep:3.5", undef]
--- error_code eval
[401, 401, 403]
--- response_body_like eval
[qr/"message":"unknown or revoked API key"/,
 qr/"message":"unknown or revoked API key"/,
 qr/"message":"this API key may not read"/]



=== TEST 10: a key's new scopes count after the TTL, not before
--- http_config eval
Tunesheap::Test::http_config() . "tunesheap_auth_cache ttl=3s;\n"
--- config
    location /api/v1/ {
        tunesheap_auth_read on;
        tunesheap_api;
    }
--- request eval
["GET /api/v1/songs/1", "GET /api/v1/songs/1", "GET /api/v1/songs/1"]
--- more_headers eval
["Authorization: Bearer tsk_test_later", "Authorization: Bearer tsk_test_later",
 "Authorization: Bearer tsk_test_later"]
--- pg_after eval
["sql:UPDATE api_keys SET scopes = '{read}' WHERE name = 'test-later'",
 "sleep:3.5", undef]
--- error_code eval
[403, 403, 200]



=== TEST 11: tunesheap_auth_cache off: a revocation works at once
--- http_config eval
Tunesheap::Test::http_config() . "tunesheap_auth_cache off;\n"
--- config
    location /api/v1/ {
        tunesheap_auth_read on;
        tunesheap_api;
    }
--- request eval
["GET /api/v1/songs/1", "GET /api/v1/songs/1"]
--- more_headers eval
["Authorization: Bearer tsk_test_later", "Authorization: Bearer tsk_test_later"]
--- pg_after eval
["sql:UPDATE api_keys SET revoked_at = now() WHERE name = 'test-later'", undef]
--- error_code eval
[200, 401]



=== TEST 12: $tunesheap_api_key names the key's owner
--- config
    location /api/v1/ {
        add_header X-Api-Key $tunesheap_api_key always;
        tunesheap_api;
    }
--- request eval
["GET /api/v1/songs/2", "GET /api/v1/songs/2", "GET /api/v1/songs/2"]
--- more_headers eval
["Authorization: Bearer tsk_test_writer", "Authorization: Bearer tsk_test_reader", ""]
--- error_code eval
[200, 200, 200]
--- response_headers eval
["X-Api-Key: test-writer", "X-Api-Key: test-reader", "!X-Api-Key"]



=== TEST 13: ... and the access log can carry it
--- http_config eval
Tunesheap::Test::http_config()
. 'log_format keys "$request_uri key=$tunesheap_api_key";' . "\n"
--- config
    location /api/v1/ {
        access_log logs/access.log keys;
        tunesheap_api;
    }
--- request
GET /api/v1/songs/2
--- more_headers
Authorization: Bearer tsk_test_reader
--- error_code: 200
--- access_log
/api/v1/songs/2 key=test-reader



=== TEST 14: limit_req per key: each key has its own budget, 429 past it
--- http_config eval
Tunesheap::Test::http_config()
. "limit_req_zone \$tunesheap_api_key zone=perkey:1m rate=1r/m;\n"
--- config eval
Tunesheap::Test::shipped_conf('tunesheap-server.conf') . <<'END'
    location /api/v1/ {
        limit_req zone=perkey;
        limit_req_status 429;
        tunesheap_api;
    }
END
--- request eval
["GET /api/v1/songs/2", "GET /api/v1/songs/2", "GET /api/v1/songs/2",
 "GET /api/v1/songs/2", "GET /api/v1/songs/2"]
--- more_headers eval
["Authorization: Bearer tsk_test_reader", "Authorization: Bearer tsk_test_reader",
 "Authorization: Bearer tsk_test_writer", "", ""]
--- error_code eval
[200, 429, 200, 200, 200]
--- response_headers eval
["Content-Type: application/json; charset=utf-8",
 "Content-Type: application/json; charset=utf-8\nRetry-After: 1",
 ("Content-Type: application/json; charset=utf-8") x 3]



=== TEST 15: keys never reach the logs
--- log_level: info
--- request eval
["PATCH /api/v1/artists/5\n{\"artist\":{\"name\":\"Metallica\"}}",
 "GET /api/v1/songs/1", "POST /api/v1/artists\n{}"]
--- more_headers eval
["$::Json\nAuthorization: Bearer tsk_test_writer",
 "Authorization: Bearer tsk_test_reader",
 "$::Json\nAuthorization: Bearer tsk_secret_unknown"]
--- error_code eval
[200, 200, 401]
--- no_error_log
tsk_
--- no_access_log
tsk_



=== TEST 16: two Authorization headers: 400, and nginx's info line quotes no key
nginx logs "client sent duplicate header line" with both values at info.
With the shipped error pages, as the API answers it: JSON.
--- log_level: info
--- config eval
Tunesheap::Test::shipped_conf('tunesheap-server.conf')
    . "location /api/v1/ { tunesheap_api; }\n"
--- raw_request eval
"GET /api/v1/songs/1 HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer tsk_test_writer\r\nAuthorization: Bearer tsk_test_reader\r\nConnection: close\r\n\r\n"
--- error_code: 400
--- response_headers
Content-Type: application/json; charset=utf-8
--- error_log eval
qr/client sent duplicate header line: "Authorization: \*{22}", previous value: "Authorization: \*{22}"/
--- no_error_log
tsk_test
Bearer tsk



=== TEST 17: a NUL inside the Authorization header: 400, and no piece of the key in the log
--- log_level: info
--- config eval
Tunesheap::Test::shipped_conf('tunesheap-server.conf')
    . "location /api/v1/ { tunesheap_api; }\n"
--- raw_request eval
"GET /api/v1/songs/1 HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer tsk_test_wri\0ter\r\nConnection: close\r\n\r\n"
--- error_code: 400
--- response_headers
Content-Type: application/json; charset=utf-8
--- error_log eval
qr/client sent invalid header line/
--- no_error_log
tsk_test
test_wri



=== TEST 18: at debug level too, every header logged is masked
--- log_level: debug
--- request
GET /api/v1/songs/1
--- more_headers
Authorization: Bearer tsk_test_reader
--- error_code: 200
--- error_log eval
qr/http header: "Authorization: \*{22}"/
--- no_error_log
tsk_test



=== TEST 19: under tunesheap_auth_read on no answer is ever shared
Every read carries a key: its answer, its 304 and a refusal are never
kept by a shared cache (Cache-Control); health stays no-store.
--- config
    location /api/v1/ {
        tunesheap_auth_read on;
        tunesheap_api;
    }
--- request eval
["GET /api/v1/artists/4", "GET /api/v1/artists/4", "GET /api/v1/artists/4",
 "GET /api/v1/artists/4", "GET /api/v1/health"]
--- more_headers eval
["Authorization: Bearer tsk_test_reader",
 "Authorization: Bearer tsk_test_reader\nIf-None-Match: *",
 "", "Authorization: Bearer tsk_nobody", ""]
--- error_code eval
[200, 304, 401, 401, 200]
--- response_headers eval
["Cache-Control: private, no-store", "Cache-Control: private, no-store",
 "Cache-Control: no-store", "Cache-Control: private, no-store",
 "Cache-Control: no-store"]



=== TEST 20: a public read with a key (even an unknown one) is not shared either
--- request eval
["GET /api/v1/artists/4", "GET /api/v1/artists/4"]
--- more_headers eval
["Authorization: Bearer tsk_nobody", ""]
--- error_code eval
[200, 200]
--- response_headers eval
["Cache-Control: private, no-store",
 "Cache-Control: public, max-age=5, s-maxage=10, stale-while-revalidate=10"]
