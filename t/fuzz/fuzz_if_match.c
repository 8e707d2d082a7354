
/*
 * Tunesheap fuzzing: If-Match of writes (ts_write.c turns it into the
 * statement's array of ETags).  The first byte picks the write, the rest
 * is the header's value.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ts_fuzz.h"


int
ts_fuzz_target_if_match(const uint8_t *data, size_t size)
{
    ts_fuzz_req_t        req;
    ngx_http_request_t  *r;

    if (size == 0) {
        return 0;
    }

    ngx_memzero(&req, sizeof(ts_fuzz_req_t));
    ngx_str_set(&req.uri, "/api/v1/songs/3");

    switch (data[0] % 3) {

    case 0:
        ngx_str_set(&req.method, "PATCH");
        ngx_str_set(&req.content_type, "application/json");
        ngx_str_set(&req.body, "{\"song\":{\"title\":\"x\"}}");
        break;

    case 1:
        ngx_str_set(&req.method, "PUT");
        ngx_str_set(&req.content_type, "application/json");
        ngx_str_set(&req.body, "{\"song\":{\"title\":\"x\",\"album_id\":1,"
                               "\"artist_id\":1}}");
        break;

    default:
        ngx_str_set(&req.method, "DELETE");
        break;
    }

    req.if_match.data = (u_char *) data + 1;
    req.if_match.len = size - 1;

    r = ts_fuzz_request("local", &req);
    ts_fuzz_run(r);

    return 0;
}
