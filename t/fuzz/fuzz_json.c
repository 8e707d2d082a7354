
/*
 * Tunesheap fuzzing: JSON bodies of writes, parsed and checked field by
 * field (ts_json.c, ts_write.c).  The first byte picks the method and the
 * resource, the rest is the body.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ts_fuzz.h"


static struct {
    ngx_str_t   method;
    ngx_str_t   uri;
} ts_fuzz_writes[] = {
    { ngx_string("POST"), ngx_string("/api/v1/artists") },
    { ngx_string("POST"), ngx_string("/api/v1/albums") },
    { ngx_string("POST"), ngx_string("/api/v1/songs") },
    { ngx_string("PUT"), ngx_string("/api/v1/artists/1") },
    { ngx_string("PUT"), ngx_string("/api/v1/albums/2") },
    { ngx_string("PUT"), ngx_string("/api/v1/songs/3") },
    { ngx_string("PATCH"), ngx_string("/api/v1/artists/1") },
    { ngx_string("PATCH"), ngx_string("/api/v1/albums/2") },
    { ngx_string("PATCH"), ngx_string("/api/v1/songs/3") },
};


int
ts_fuzz_target_json(const uint8_t *data, size_t size)
{
    ngx_uint_t           i;
    ts_fuzz_req_t        req;
    ngx_http_request_t  *r;

    if (size == 0) {
        return 0;
    }

    i = data[0] % (sizeof(ts_fuzz_writes) / sizeof(ts_fuzz_writes[0]));

    ngx_memzero(&req, sizeof(ts_fuzz_req_t));
    req.method = ts_fuzz_writes[i].method;
    req.uri = ts_fuzz_writes[i].uri;
    ngx_str_set(&req.content_type, "application/json");
    req.body.data = (u_char *) data + 1;
    req.body.len = size - 1;

    r = ts_fuzz_request("local", &req);
    ts_fuzz_run(r);

    return 0;
}
