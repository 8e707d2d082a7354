
/*
 * Tunesheap: audio kept in S3.  Clients upload with a presigned PUT,
 * then say the object is there: it is checked from its bytes (ranges
 * read by in-memory subrequests to an internal proxy location) before
 * it is recorded.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ts_module.h"
#include "ts_json.h"
#include "ts_http.h"
#include "ts_audio.h"
#include "ts_media_ctx.h"
#include "ts_media_types.h"
#include "ts_media_s3.h"


#define TS_MEDIA_INT32_MAX  2147483647

/* S3 checks: a subrequest to this internal location, ranges of this size */
#define TS_MEDIA_S3_LOCATION  "/_tunesheap_s3"
#define TS_MEDIA_S3_PIECE     65536
#define TS_MEDIA_S3_FETCHES   12


static const char *ts_media_s3_prefix(ts_media_ctx_t *ctx);
static ngx_int_t ts_media_s3_fetch(ts_media_ctx_t *ctx, off_t offset,
    size_t len);
static ngx_int_t ts_media_s3_header(ngx_http_request_t *sr, char *name,
    ngx_str_t *value);
static ngx_int_t ts_media_s3_done(ngx_http_request_t *sr, void *data,
    ngx_int_t rc);
static ngx_int_t ts_media_s3_probe(ts_media_ctx_t *ctx);
static ngx_int_t ts_media_content_range(ngx_str_t *value, off_t *from,
    off_t *to, off_t *total);
static ngx_int_t ts_media_s3_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


/*
 * POST upload {"content_type":"audio/mpeg","size":N}: a name, once the
 * song is, and a PUT whose signature covers the type and the length
 */
ngx_int_t
ts_media_upload(ts_media_ctx_t *ctx, yajl_val tree)
{
    yajl_val          v;
    const char       *prefix;
    ngx_str_t         type;
    ts_loc_conf_t    *tlcf;
    ts_media_type_t  *t;

    static const char  *path[] = { "content_type", NULL };
    static const char  *size_path[] = { "size", NULL };

    tlcf = ngx_http_get_module_loc_conf(ctx->request, ngx_tunesheap_module);

    v = yajl_tree_get(tree, path, yajl_t_string);

    if (v == NULL) {
        return ts_http_send_error(ctx->request, TS_HTTP_UNPROCESSABLE,
                                  "content_type must be " TS_MEDIA_TYPES);
    }

    type.data = (u_char *) YAJL_GET_STRING(v);
    type.len = ngx_strlen(type.data);

    t = ts_media_type_of(&type, 1);

    if (t == NULL) {
        return ts_http_send_error(ctx->request, TS_HTTP_UNPROCESSABLE,
                                  "content_type must be " TS_MEDIA_TYPES);
    }

    ctx->type = t->type;

    v = yajl_tree_get(tree, size_path, yajl_t_any);

    if (v == NULL || !YAJL_IS_INTEGER(v) || YAJL_GET_INTEGER(v) < 1
        || YAJL_GET_INTEGER(v) > tlcf->media.max_size)
    {
        return ts_http_send_error(ctx->request, TS_HTTP_UNPROCESSABLE,
                                  "size must be the file's size in bytes, "
                                  "at most %O: the upload must be that long",
                                  tlcf->media.max_size);
    }

    ctx->size = YAJL_GET_INTEGER(v);
    prefix = ts_media_s3_prefix(ctx);

    if (prefix == NULL
        || ts_media_name(ctx, prefix, &t->extension) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->state = ts_media_valid;

    return NGX_OK;
}


/*
 * POST upload/complete {"key":K,"size":N[,"duration_ms":N,"bitrate_kbps":N]}
 * records an object uploaded under a name upload gave for this song
 */
ngx_int_t
ts_media_complete(ts_media_ctx_t *ctx, yajl_val tree)
{
    int64_t              n[3];
    yajl_val             v;
    ngx_str_t            key;
    ngx_uint_t           i;
    const char          *prefix;
    ts_loc_conf_t       *tlcf;
    ts_media_type_t     *t;
    ngx_http_request_t  *r;

    static const char  *key_path[] = { "key", NULL };
    static const char  *paths[3][2] = {
        { "size", NULL }, { "duration_ms", NULL }, { "bitrate_kbps", NULL }
    };

    r = ctx->request;
    tlcf = ngx_http_get_module_loc_conf(r, ngx_tunesheap_module);

    v = yajl_tree_get(tree, key_path, yajl_t_string);
    if (v == NULL) {
        return ts_http_send_error(r, TS_HTTP_UNPROCESSABLE,
                                  "key must be the key upload gave");
    }

    key.data = (u_char *) YAJL_GET_STRING(v);
    key.len = ngx_strlen(key.data);

    prefix = ts_media_s3_prefix(ctx);
    if (prefix == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    t = ts_media_key_type(ctx, prefix, &key);

    if (t == NULL) {
        return ts_http_send_error(r, TS_HTTP_UNPROCESSABLE,
                                  "key must be the key upload gave");
    }

    for (i = 0; i < 3; i++) {
        v = yajl_tree_get(tree, paths[i], yajl_t_any);

        if (v == NULL && i > 0) {
            n[i] = 0;
            continue;
        }

        if (i == 0
            && (v == NULL || !YAJL_IS_INTEGER(v) || YAJL_GET_INTEGER(v) < 1
                || YAJL_GET_INTEGER(v) > tlcf->media.max_size))
        {
            return ts_http_send_error(r, TS_HTTP_UNPROCESSABLE,
                                      "size must be the object's size in "
                                      "bytes, at most %O",
                                      tlcf->media.max_size);
        }

        if (!YAJL_IS_INTEGER(v) || YAJL_GET_INTEGER(v) < 0
            || YAJL_GET_INTEGER(v) > TS_MEDIA_INT32_MAX)
        {
            return ts_http_send_error(r, TS_HTTP_UNPROCESSABLE,
                                      "%s must be a non-negative integer",
                                      paths[i][0]);
        }

        n[i] = YAJL_GET_INTEGER(v);
    }

    /*
     * What is recorded comes from the object itself: its size, and what
     * its bytes are (duration_ms and bitrate_kbps sent are checked for
     * their form only, as before, and otherwise ignored)
     */
    ctx->key = key;
    ctx->type = t->type;
    ctx->size = n[0];
    ctx->object = -1;

    if (ngx_array_init(&ctx->pieces, r->pool, 4, sizeof(ts_audio_piece_t))
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->state = ts_media_valid;

    return NGX_OK;
}


/* the presigned PUT for a name upload made */
ngx_int_t
ts_media_upload_url(ts_media_ctx_t *ctx)
{
    time_t               now;
    u_char              *p;
    yajl_gen             g;
    ngx_tm_t             tm;
    ngx_str_t            url, body, expires, length, put = ngx_string("PUT");
    ts_loc_conf_t       *tlcf;
    ngx_http_request_t  *r;

    r = ctx->request;
    tlcf = ngx_http_get_module_loc_conf(r, ngx_tunesheap_module);
    now = ngx_time();

    if (ts_s3_presign(r->pool, tlcf->media.s3, &put, &ctx->key, &ctx->type,
                      ctx->size, now, tlcf->media.link_ttl, &url)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    length.data = ngx_pnalloc(r->pool, NGX_OFF_T_LEN);
    if (length.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    length.len = ngx_sprintf(length.data, "%O", ctx->size) - length.data;

    expires.data = ngx_pnalloc(r->pool, sizeof("1970-01-01T00:00:00Z"));
    if (expires.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_gmtime(now + tlcf->media.link_ttl, &tm);

    p = ngx_sprintf(expires.data, "%4d-%02d-%02dT%02d:%02d:%02dZ",
                    tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                    tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec);
    expires.len = p - expires.data;

    g = ts_json_gen(r->pool);

    if (g == NULL
        || yajl_gen_map_open(g) != yajl_gen_status_ok
        || ts_json_literal(g, "upload_url") != yajl_gen_status_ok
        || ts_json_str(g, &url) != yajl_gen_status_ok
        || ts_json_literal(g, "method") != yajl_gen_status_ok
        || ts_json_literal(g, "PUT") != yajl_gen_status_ok
        || ts_json_literal(g, "headers") != yajl_gen_status_ok
        || yajl_gen_map_open(g) != yajl_gen_status_ok
        || ts_json_literal(g, "Content-Type") != yajl_gen_status_ok
        || ts_json_str(g, &ctx->type) != yajl_gen_status_ok
        || ts_json_literal(g, "Content-Length") != yajl_gen_status_ok
        || ts_json_str(g, &length) != yajl_gen_status_ok
        || yajl_gen_map_close(g) != yajl_gen_status_ok
        || ts_json_literal(g, "key") != yajl_gen_status_ok
        || ts_json_str(g, &ctx->key) != yajl_gen_status_ok
        || ts_json_literal(g, "expires_at") != yajl_gen_status_ok
        || ts_json_str(g, &expires) != yajl_gen_status_ok
        || yajl_gen_map_close(g) != yajl_gen_status_ok)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ts_json_output(g, &body);

    r->disable_not_modified = 1;

    return ts_http_send_json(r, NGX_HTTP_OK, &body, NULL);
}


/* the objects of a resource's items are under "NAME/" in the bucket */
static const char *
ts_media_s3_prefix(ts_media_ctx_t *ctx)
{
    u_char     *p;
    ngx_str_t  *name;

    name = &ctx->route.resource->name;

    p = ngx_pnalloc(ctx->request->pool, name->len + 2);
    if (p == NULL) {
        return NULL;
    }

    *ngx_sprintf(p, "%V/", name) = '\0';

    return (const char *) p;
}


ngx_int_t
ts_media_s3_check(ts_media_ctx_t *ctx)
{
    return ts_media_s3_fetch(ctx, 0, TS_MEDIA_S3_PIECE);
}


ngx_int_t
ts_media_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var;

    static ngx_str_t  name = ngx_string("tunesheap_s3_url");

    var = ngx_http_add_variable(cf, &name, NGX_HTTP_VAR_NOCACHEABLE);
    if (var == NULL) {
        return NGX_ERROR;
    }

    var->get_handler = ts_media_s3_variable;

    return NGX_OK;
}


/* the object's URL, in the subrequest of an S3 check only; no signature */
static ngx_int_t
ts_media_s3_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    uintptr_t data)
{
    ts_media_ctx_t    *ctx;
    ts_request_ctx_t  *rctx;

    rctx = ngx_http_get_module_ctx(r, ngx_tunesheap_module);

    if (rctx == NULL || rctx->s3 == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    ctx = rctx->s3;

    v->data = ctx->s3.url.data;
    v->len = ctx->s3.url.len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


/*
 * Asks S3 for [offset, offset + len) of the object: a subrequest, in
 * memory, to the internal location of S3 checks, which proxies it to
 * $tunesheap_s3_url on nginx's event loop (resolver, TLS, timeouts are
 * the proxy's).  The subrequest carries only the headers of the signed
 * GET: none of the client's (its API key) reaches S3.
 */
static ngx_int_t
ts_media_s3_fetch(ts_media_ctx_t *ctx, off_t offset, size_t len)
{
    ngx_str_t                    uri, sha = ngx_string("UNSIGNED-PAYLOAD");
    ts_loc_conf_t               *tlcf;
    ts_request_ctx_t            *srctx;
    ngx_http_request_t          *r, *sr;
    ngx_http_post_subrequest_t  *ps;

    r = ctx->request;
    tlcf = ngx_http_get_module_loc_conf(r, ngx_tunesheap_module);

    if (ctx->fetches++ == TS_MEDIA_S3_FETCHES) {
        return ts_http_send_error(r, TS_HTTP_UNPROCESSABLE,
                                  "the object is not audio in a format "
                                  "taken here: its headers are too "
                                  "scattered to be read");
    }

    if (ts_s3_sign_get(r->pool, tlcf->media.s3, &ctx->key, offset, len,
                       ngx_time(), &ctx->s3)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ps = ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t));
    srctx = ngx_pcalloc(r->pool, sizeof(ts_request_ctx_t));
    if (ps == NULL || srctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ps->handler = ts_media_s3_done;
    ps->data = ctx;

    ngx_str_set(&uri, TS_MEDIA_S3_LOCATION);

    if (ngx_http_subrequest(r, &uri, NULL, &sr, ps,
                            NGX_HTTP_SUBREQUEST_IN_MEMORY
                            |NGX_HTTP_SUBREQUEST_WAITED)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    srctx->s3 = ctx;
    ngx_http_set_ctx(sr, srctx, ngx_tunesheap_module);

    /* its own headers: a GET with no body, signed */
    ngx_memzero(&sr->headers_in, sizeof(ngx_http_headers_in_t));
    sr->headers_in.content_length_n = -1;
    sr->headers_in.keep_alive_n = -1;
    sr->request_body = NULL;

    if (ngx_list_init(&sr->headers_in.headers, r->pool, 6,
                      sizeof(ngx_table_elt_t))
           != NGX_OK
        || ts_media_s3_header(sr, "Range", &ctx->s3.range) != NGX_OK
        || ts_media_s3_header(sr, "X-Amz-Date", &ctx->s3.date) != NGX_OK
        || ts_media_s3_header(sr, "X-Amz-Content-Sha256", &sha) != NGX_OK
        || ts_media_s3_header(sr, "Authorization", &ctx->s3.authorization)
           != NGX_OK
        || (ctx->s3.token.len
            && ts_media_s3_header(sr, "X-Amz-Security-Token",
                                  &ctx->s3.token)
               != NGX_OK))
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->sr = NULL;
    ctx->state = ts_media_fetching;

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "tunesheap media: S3 range %O+%uz of \"%V\", fetch %ui",
                   offset, len, &ctx->key, ctx->fetches);

    return NGX_DONE;
}


static ngx_int_t
ts_media_s3_header(ngx_http_request_t *sr, char *name, ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&sr->headers_in.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) name;
    h->key.len = ngx_strlen(name);
    h->value = *value;

    h->lowcase_key = ngx_pnalloc(sr->pool, h->key.len);
    if (h->lowcase_key == NULL) {
        return NGX_ERROR;
    }

    ngx_strlow(h->lowcase_key, h->key.data, h->key.len);

    return NGX_OK;
}


/*
 * The subrequest ends: its answer is looked at once the parent runs.  Its
 * first end is the proxy's; an error_page of the server may end it again.
 */
static ngx_int_t
ts_media_s3_done(ngx_http_request_t *sr, void *data, ngx_int_t rc)
{
    ts_media_ctx_t  *ctx = data;

    if (ctx->sr == NULL) {
        ctx->sr = sr;
        ctx->sr_rc = rc;
        ctx->sr_status = sr->headers_out.status;

        if (ctx->sr_status == 0 && sr->upstream) {
            ctx->sr_status = sr->upstream->headers_in.status_n;
        }

        ctx->sr_proxied = (sr->upstream != NULL);

        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, sr->connection->log, 0,
                       "tunesheap media: S3 answered %ui (%i), proxied %ui",
                       ctx->sr_status, rc, ctx->sr_proxied);
    }

    return rc;
}


/* S3's answer to a ranged GET: the object's size, and some of its bytes */
ngx_int_t
ts_media_s3_checked(ts_media_ctx_t *ctx, ngx_http_request_t *sr)
{
    off_t                from, to, total;
    ngx_buf_t           *b;
    ngx_uint_t           status;
    ts_loc_conf_t       *tlcf;
    ts_audio_piece_t    *pc;
    ngx_http_request_t  *r;

    r = ctx->request;
    tlcf = ngx_http_get_module_loc_conf(r, ngx_tunesheap_module);

    status = ctx->sr_status;

    if (ctx->sr_rc == NGX_ERROR
        || ctx->sr_rc >= NGX_HTTP_INTERNAL_SERVER_ERROR
        || (ctx->sr_proxied
            && (status == 0 || status >= NGX_HTTP_INTERNAL_SERVER_ERROR)))
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "tunesheap: S3 did not answer a check of \"%V\" "
                      "(%i, status %ui)", &ctx->key, ctx->sr_rc, status);
        return ts_http_send_error(r, NGX_HTTP_BAD_GATEWAY,
                                  "S3 did not answer: try again");
    }

    if (!ctx->sr_proxied) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "tunesheap: S3 checks need \"location = "
                      TS_MEDIA_S3_LOCATION " { internal; proxy_pass "
                      "$tunesheap_s3_url; }\" in this server");
        return ts_http_send_error(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                  "the upload cannot be checked here");
    }

    if (status == NGX_HTTP_NOT_FOUND) {
        return ts_http_send_error(r, TS_HTTP_UNPROCESSABLE,
                                  "there is no object %V: PUT the file to "
                                  "upload_url first", &ctx->key);
    }

    if (status == NGX_HTTP_RANGE_NOT_SATISFIABLE && ctx->object < 0) {
        return ts_http_send_error(r, TS_HTTP_UNPROCESSABLE,
                                  "the object %V is empty", &ctx->key);
    }

    b = sr->out ? sr->out->buf : NULL;

    if (b == NULL
        || (status != NGX_HTTP_PARTIAL_CONTENT && status != NGX_HTTP_OK))
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "tunesheap: S3 answered %ui to a check of \"%V\"",
                      status, &ctx->key);
        return ts_http_send_error(r, NGX_HTTP_BAD_GATEWAY,
                                  "S3 refused to show the object");
    }

    /* 206 and "Content-Range: bytes A-B/TOTAL"; 200: the whole object */
    from = 0;
    total = b->last - b->pos;
    to = total - 1;

    if (status == NGX_HTTP_PARTIAL_CONTENT) {
        if (sr->headers_out.content_range == NULL
            || ts_media_content_range(&sr->headers_out.content_range->value,
                                      &from, &to, &total)
               != NGX_OK
            || to - from + 1 != b->last - b->pos)
        {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "tunesheap: S3 answered a check of \"%V\" with "
                          "a range that does not hold together", &ctx->key);
            return ts_http_send_error(r, NGX_HTTP_BAD_GATEWAY,
                                      "S3 did not answer: try again");
        }
    }

    if (ctx->object < 0) {
        ctx->object = total;

        if (total > tlcf->media.max_size) {
            return ts_http_send_error(r, TS_HTTP_UNPROCESSABLE,
                                      "the object is larger than %O bytes",
                                      tlcf->media.max_size);
        }

        if (total != ctx->size) {
            return ts_http_send_error(r, TS_HTTP_UNPROCESSABLE,
                                      "the object holds %O bytes, not the "
                                      "%O that size says", total, ctx->size);
        }

    } else if (total != ctx->object) {
        /* replaced while it was read: whatever it is now, not this */
        return ts_http_send_error(r, NGX_HTTP_CONFLICT,
                                  "the object changed while it was "
                                  "checked: complete again");
    }

    pc = ngx_array_push(&ctx->pieces);
    if (pc == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    pc->offset = from;
    pc->len = b->last - b->pos;
    pc->data = b->pos;

    return ts_media_s3_probe(ctx);
}


/* "bytes A-B/TOTAL", A <= B < TOTAL */
static ngx_int_t
ts_media_content_range(ngx_str_t *value, off_t *from, off_t *to,
    off_t *total)
{
    u_char  *p, *dash, *slash, *last;

    p = value->data;
    last = p + value->len;

    if (value->len < 6 || ngx_strncmp(p, "bytes ", 6) != 0) {
        return NGX_ERROR;
    }

    p += 6;
    dash = ngx_strlchr(p, last, '-');
    slash = dash ? ngx_strlchr(dash, last, '/') : NULL;

    if (slash == NULL) {
        return NGX_ERROR;
    }

    *from = ngx_atoof(p, dash - p);
    *to = ngx_atoof(dash + 1, slash - dash - 1);
    *total = ngx_atoof(slash + 1, last - slash - 1);

    if (*from == NGX_ERROR || *to == NGX_ERROR || *total == NGX_ERROR
        || *to < *from || *to >= *total)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* what the object is, from the pieces that came; more are asked for */
static ngx_int_t
ts_media_s3_probe(ts_media_ctx_t *ctx)
{
    off_t                want, from;
    size_t               want_len;
    ngx_int_t            rc;
    ts_audio_info_t      info;
    ngx_http_request_t  *r;

    r = ctx->request;

    rc = ts_audio_probe_pieces(ctx->pieces.elts, ctx->pieces.nelts,
                               ctx->object, &info, &want, &want_len,
                               r->connection->log);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "tunesheap media: probe of %ui pieces of %O bytes: %i",
                   ctx->pieces.nelts, ctx->object, rc);

    if (rc == NGX_AGAIN) {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "tunesheap media: the probe wants %uz bytes at %O",
                       want_len, want);

        /* a whole piece, the file's last one if it holds what is wanted */
        from = ngx_min(want, ngx_max(ctx->object - TS_MEDIA_S3_PIECE, 0));

        return ts_media_s3_fetch(ctx, from,
                                 (size_t) ngx_min((off_t) TS_MEDIA_S3_PIECE,
                                                  ctx->object - from));
    }

    if (ts_media_refused(r, rc, &info, TS_HTTP_UNPROCESSABLE, "object",
                         "object", &rc))
    {
        return rc;
    }

    if (info.content_type.len != ctx->type.len
        || ngx_strncmp(info.content_type.data, ctx->type.data,
                       ctx->type.len) != 0)
    {
        return ts_http_send_error(r, TS_HTTP_UNPROCESSABLE,
                                  "the object is %V, not %V as its upload "
                                  "said", &info.content_type, &ctx->type);
    }

    ctx->size = ctx->object;
    ctx->bitrate = info.bitrate_kbps;
    ctx->duration = info.duration_ms;
    ctx->state = ts_media_checked;

    return NGX_OK;
}
