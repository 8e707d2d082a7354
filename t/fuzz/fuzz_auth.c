
/*
 * Tunesheap fuzzing: the Authorization header (ts_auth.c): the rewrite
 * phase's handler reads the key, then the content handler checks it, on
 * a location with tunesheap_auth_read on.  The first byte picks a read or
 * a write, the rest is the header's value.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <dlfcn.h>

#include "ts_fuzz.h"


static ngx_http_handler_pt  ts_fuzz_auth_handler;


int
ts_fuzz_target_auth(const uint8_t *data, size_t size)
{
    Dl_info                     ours, info;
    ngx_int_t                   rc;
    ngx_uint_t                  i;
    ts_fuzz_req_t               req;
    ngx_http_handler_pt        *h;
    ngx_http_request_t         *r;
    ngx_http_core_main_conf_t  *cmcf;

    if (size == 0) {
        return 0;
    }

    ngx_memzero(&req, sizeof(ts_fuzz_req_t));

    if (data[0] & 1) {
        ngx_str_set(&req.method, "DELETE");
        ngx_str_set(&req.uri, "/api/v1/songs/3");

    } else {
        ngx_str_set(&req.method, "GET");
        ngx_str_set(&req.uri, "/api/v1/artists/1");
    }

    req.authorization.data = (u_char *) data + 1;
    req.authorization.len = size - 1;

    r = ts_fuzz_request("auth", &req);

    if (ts_fuzz_auth_handler == NULL) {
        /* ours among the rewrite phase's handlers: the one in this object */
        cmcf = ngx_http_get_module_main_conf(r, ngx_http_core_module);
        h = cmcf->phases[NGX_HTTP_REWRITE_PHASE].handlers.elts;

        if (dladdr((void *) ts_fuzz_target_auth, &ours) == 0) {
            abort();
        }

        for (i = 0; i < cmcf->phases[NGX_HTTP_REWRITE_PHASE].handlers.nelts;
             i++)
        {
            if (dladdr((void *) h[i], &info)
                && ngx_strcmp(info.dli_fname, ours.dli_fname) == 0)
            {
                ts_fuzz_auth_handler = h[i];
            }
        }

        if (ts_fuzz_auth_handler == NULL) {
            fprintf(stderr, "tunesheap fuzz: no rewrite handler of ours\n");
            abort();
        }
    }

    ts_fuzz_real_auth = 1;

    rc = ts_fuzz_auth_handler(r);

    if (rc == NGX_DECLINED) {
        ts_fuzz_run(r);

    } else {
        ts_fuzz_finish(r, rc);
    }

    ts_fuzz_real_auth = 0;

    return 0;
}
