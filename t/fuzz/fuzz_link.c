
/*
 * Tunesheap fuzzing: signed stream links (ts_media_link.c, ts_sign.c).  A link
 * is made as an item's stream_url is, for a key taken from the input,
 * then followed, with the rest of the input added to its arguments; or
 * the input alone is the query of a stream request; or the link is an S3
 * presigned one (ts_s3_presign), checked for unescaped characters.  The
 * first byte says which; the key ends at the first \n.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <yajl/yajl_tree.h>

#include "ts_json.h"
#include "ts_resource.h"
#include "ts_media_link.h"
#include "ts_fuzz.h"


int
ts_fuzz_target_link(const uint8_t *data, size_t size)
{
    u_char              *p, *nl;
    size_t               len;
    yajl_gen             g;
    yajl_val             tree;
    ngx_str_t            out, key, rest, url, values[3];
    ngx_uint_t           flags;
    ts_fuzz_req_t        req;
    ngx_http_request_t  *r, *maker;
    char                 err[128];

    static ngx_str_t  songs = ngx_string("songs");

    if (size == 0) {
        return 0;
    }

    flags = data[0];
    data++;
    size--;

    nl = ngx_strlchr((u_char *) data, (u_char *) data + size, '\n');

    key.data = (u_char *) data;
    key.len = nl ? (size_t) (nl - data) : size;
    rest.data = nl ? nl + 1 : (u_char *) data + size;
    rest.len = (u_char *) data + size - rest.data;

    ngx_memzero(&req, sizeof(ts_fuzz_req_t));
    if (flags & 4) {
        ngx_str_set(&req.method, "HEAD");

    } else {
        ngx_str_set(&req.method, "GET");
    }

    if (flags & 1) {
        /* the input alone: no link of ours */
        req.uri.len = sizeof("/api/v1/songs/3/stream?") - 1 + size;
        req.uri.data = malloc(req.uri.len);
        if (req.uri.data == NULL) {
            abort();
        }

        p = ngx_cpymem(req.uri.data, "/api/v1/songs/3/stream?",
                       sizeof("/api/v1/songs/3/stream?") - 1);
        ngx_memcpy(p, data, size);

        r = ts_fuzz_request("local", &req);
        free(req.uri.data);
        ts_fuzz_run(r);

        return 0;
    }

    /* id, window, key, as TS_MEDIA_STREAM_FIELDS give them, this window's */
    ngx_str_set(&req.uri, "/api/v1/songs/3");
    maker = ts_fuzz_request((flags & 8) ? "s3" : "local", &req);

    p = ngx_pnalloc(maker->pool, NGX_TIME_T_LEN);
    g = ts_json_gen(maker->pool);
    if (p == NULL || g == NULL || yajl_gen_array_open(g) != yajl_gen_status_ok)
    {
        abort();
    }

    len = ngx_sprintf(p, "%T",
                      ngx_time() / TS_MEDIA_WINDOW * TS_MEDIA_WINDOW
                      - ((flags & 2) ? 86400 : 0))
          - p;

    ngx_str_set(&values[0], "3");
    values[1].data = p;
    values[1].len = len;
    values[2] = key;

    if (ts_media_stream_json(maker, g, ts_resource_find(&songs), values)
        != yajl_gen_status_ok)
    {
        /* a key that is not UTF-8 gives no JSON string */
        ts_fuzz_finish(maker, NGX_OK);
        return 0;
    }

    if (yajl_gen_array_close(g) != yajl_gen_status_ok) {
        abort();
    }

    ts_json_output(g, &out);

    p = ts_fuzz_copy(maker->pool, out.data, out.len + 1);
    p[out.len] = '\0';

    tree = yajl_tree_parse((char *) p, err, sizeof(err));
    if (tree == NULL || !YAJL_IS_ARRAY(tree) || tree->u.array.len != 1) {
        fprintf(stderr, "tunesheap fuzz: a stream_url is not JSON: %s\n", p);
        abort();
    }

    if (YAJL_IS_STRING(tree->u.array.values[0]) && (flags & 8)) {
        /* an S3 presigned URL, for S3 to check: only its characters here */
        url.data = (u_char *) YAJL_GET_STRING(tree->u.array.values[0]);

        for (p = url.data; *p; p++) {
            if (*p <= ' ' || *p >= 0x7f || *p == '"' || *p == '\\') {
                fprintf(stderr, "tunesheap fuzz: a presigned URL has an "
                        "unescaped character: %s\n", url.data);
                abort();
            }
        }

    } else if (YAJL_IS_STRING(tree->u.array.values[0])) {
        url.data = (u_char *) YAJL_GET_STRING(tree->u.array.values[0]);
        url.len = ngx_strlen(url.data);

        req.uri.len = url.len + rest.len;
        req.uri.data = malloc(req.uri.len + 1);
        if (req.uri.data == NULL) {
            abort();
        }

        p = ngx_cpymem(req.uri.data, url.data, url.len);
        ngx_memcpy(p, rest.data, rest.len);

        r = ts_fuzz_request("local", &req);
        free(req.uri.data);
        ts_fuzz_run(r);
    }

    yajl_tree_free(tree);
    ts_fuzz_finish(maker, NGX_OK);

    return 0;
}
