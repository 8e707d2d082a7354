
/*
 * Tunesheap fuzzing: the S3 routes' JSON bodies (upload, upload/complete)
 * and stream links under S3 (presigned, ts_sign.c).  The first byte picks
 * the route, the rest is the body, or the stream's query.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ts_fuzz.h"


int
ts_fuzz_target_s3(const uint8_t *data, size_t size)
{
    u_char              *p;
    ts_fuzz_req_t        req;
    ngx_http_request_t  *r;

    if (size == 0) {
        return 0;
    }

    ngx_memzero(&req, sizeof(ts_fuzz_req_t));
    p = NULL;

    switch (data[0] % 3) {

    case 0:
        ngx_str_set(&req.method, "POST");
        ngx_str_set(&req.uri, "/s3/api/v1/songs/3/upload");
        break;

    case 1:
        ngx_str_set(&req.method, "POST");
        ngx_str_set(&req.uri, "/s3/api/v1/songs/3/upload/complete");
        break;

    default:
        ngx_str_set(&req.method, "GET");
        req.uri.len = sizeof("/s3/api/v1/songs/3/stream?") - 1 + size - 1;
        p = malloc(req.uri.len);
        if (p == NULL) {
            abort();
        }

        ngx_memcpy(ngx_cpymem(p, "/s3/api/v1/songs/3/stream?",
                              sizeof("/s3/api/v1/songs/3/stream?") - 1),
                   data + 1, size - 1);
        req.uri.data = p;
        break;
    }

    if (p == NULL) {
        ngx_str_set(&req.content_type, "application/json");
        req.body.data = (u_char *) data + 1;
        req.body.len = size - 1;
    }

    r = ts_fuzz_request("s3", &req);
    free(p);

    ts_fuzz_run(r);

    return 0;
}
