
/*
 * Tunesheap fuzzing: query arguments of every read route (limit, offset,
 * after, before, the filters, q and type of search, a stream link's).
 * The first byte picks the route (its high bit: through the cache's key
 * and coalescing, with no Redis), the rest is the query string.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ts_fuzz.h"


static const char  *ts_fuzz_read_paths[] = {
    "/api/v1/artists",
    "/api/v1/albums",
    "/api/v1/songs",
    "/api/v1/artists/1/albums",
    "/api/v1/artists/1/songs",
    "/api/v1/albums/2/songs",
    "/api/v1/search",
    "/api/v1/songs/3/stream",
    "/api/v1/artists/1",
    "/api/v1/health",
    NULL
};


int
ts_fuzz_target_args(const uint8_t *data, size_t size)
{
    u_char              *p;
    size_t               i, n, len;
    ts_fuzz_req_t        req;
    ngx_http_request_t  *r;

    if (size == 0) {
        return 0;
    }

    for (n = 0; ts_fuzz_read_paths[n]; n++) { /* void */ }

    ngx_memzero(&req, sizeof(ts_fuzz_req_t));
    ngx_str_set(&req.method, "GET");

    i = (data[0] & 0x7f) % n;
    len = ngx_strlen(ts_fuzz_read_paths[i]);

    p = malloc(len + size);
    if (p == NULL) {
        abort();
    }

    ngx_memcpy(p, ts_fuzz_read_paths[i], len);
    p[len] = '?';
    ngx_memcpy(p + len + 1, data + 1, size - 1);

    req.uri.data = p;
    req.uri.len = len + size;

    r = ts_fuzz_request((data[0] & 0x80) ? "cached" : "local", &req);
    free(p);

    ts_fuzz_run(r);

    return 0;
}
