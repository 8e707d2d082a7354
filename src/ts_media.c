
/*
 * Tunesheap: the songs' audio.
 *
 * Local storage: an upload is streamed by nginx into its temporary file,
 * recognised from its bytes, renamed into the media root under a new name
 * (a listener of the old file keeps reading it) and only then recorded;
 * the old file goes once the song points at the new one.  A stream is an
 * internal redirect to an internal location serving the root, so nginx's
 * static module does sendfile, ranges and conditional requests.  No path
 * from a request reaches the file system: names are made here.
 *
 * S3: links are CloudFront (or S3) signed URLs, and clients upload with a
 * presigned PUT, then tell us the object is there.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <openssl/rand.h>

#include "ts_module.h"
#include "ts_json.h"
#include "ts_http.h"
#include "ts_resource.h"
#include "ts_query.h"
#include "ts_body.h"
#include "ts_cache.h"
#include "ts_audio.h"
#include "ts_auth.h"
#include "ts_media_ctx.h"
#include "ts_media_types.h"
#include "ts_media_link.h"
#include "ts_media_local.h"
#include "ts_media.h"


#define TS_MEDIA_S3_PREFIX  "songs/"  /* of object keys in the bucket */
#define TS_MEDIA_INT32_MAX  2147483647

/* S3 checks: a subrequest to this internal location, ranges of this size */
#define TS_MEDIA_S3_LOCATION  "/_tunesheap_s3"
#define TS_MEDIA_S3_PIECE     65536
#define TS_MEDIA_S3_FETCHES   12


static ngx_int_t ts_media_query(ts_media_ctx_t *ctx, const char *statement,
    int nparams, ngx_uint_t held);
static void ts_media_file_body(ngx_http_request_t *r);
static void ts_media_json_body(ngx_http_request_t *r);
static ngx_int_t ts_media_upload(ts_media_ctx_t *ctx, yajl_val tree);
static ngx_int_t ts_media_complete(ts_media_ctx_t *ctx, yajl_val tree);
static ngx_int_t ts_media_s3_fetch(ts_media_ctx_t *ctx, off_t offset,
    size_t len);
static ngx_int_t ts_media_s3_header(ngx_http_request_t *sr, char *name,
    ngx_str_t *value);
static ngx_int_t ts_media_s3_done(ngx_http_request_t *sr, void *data,
    ngx_int_t rc);
static void ts_media_s3_resume(ngx_http_request_t *r);
static ngx_int_t ts_media_s3_checked(ts_media_ctx_t *ctx,
    ngx_http_request_t *sr);
static ngx_int_t ts_media_s3_probe(ts_media_ctx_t *ctx);
static ngx_int_t ts_media_content_range(ngx_str_t *value, off_t *from,
    off_t *to, off_t *total);
static ngx_int_t ts_media_s3_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ts_media_record(ts_media_ctx_t *ctx);
static void ts_media_done(ts_pg_query_t *q);
static ngx_int_t ts_media_found(ts_media_ctx_t *ctx, PGresult *res);
static ngx_int_t ts_media_redirect(ts_media_ctx_t *ctx, ngx_str_t *key);
static ngx_int_t ts_media_upload_url(ts_media_ctx_t *ctx);
static ngx_int_t ts_media_changed(ts_media_ctx_t *ctx, PGresult *res);
static void ts_media_respond(ngx_http_request_t *r);


/*
 * The old key comes back, so that its file can go once nothing needs it,
 * with the song's new ETag; a song found but whose ETag is not one
 * If-Match lists ($7, $2; NULL: none) comes back with neither, unchanged.
 */
const char  ts_media_setup[] =
    "PREPARE ts_media_get (bigint) AS"
    " SELECT audio_key, audio_type FROM songs WHERE id = $1;"
    "PREPARE ts_media_set (bigint, text, text, bigint, integer, integer,"
    " text[]) AS"
    " WITH old AS (SELECT id AS old_id, audio_key AS old_key,"
    " " TS_MEDIA_SONG_ETAG_SQL " AS old_etag FROM songs WHERE id = $1"
    " FOR UPDATE),"
    " w AS (UPDATE songs s SET audio_key = $2, audio_type = $3,"
    " audio_size = $4, audio_bitrate_kbps = nullif($5, 0),"
    " audio_duration_ms = nullif($6, 0)"
    " FROM old WHERE s.id = old.old_id"
    " AND ($7::text[] IS NULL OR old.old_etag = ANY ($7::text[]))"
    " RETURNING old.old_key, " TS_MEDIA_SONG_ETAG_SQL " AS etag)"
    " SELECT w.old_key, w.etag FROM old LEFT JOIN w ON true;"
    "PREPARE ts_media_clear (bigint, text[]) AS"
    " WITH old AS (SELECT id AS old_id, audio_key AS old_key,"
    " " TS_MEDIA_SONG_ETAG_SQL " AS old_etag FROM songs WHERE id = $1"
    " FOR UPDATE),"
    " w AS (UPDATE songs s SET audio_key = NULL, audio_type = NULL,"
    " audio_size = NULL, audio_bitrate_kbps = NULL,"
    " audio_duration_ms = NULL"
    " FROM old WHERE s.id = old.old_id"
    " AND ($2::text[] IS NULL OR old.old_etag = ANY ($2::text[]))"
    " RETURNING old.old_key, " TS_MEDIA_SONG_ETAG_SQL " AS etag)"
    " SELECT w.old_key, w.etag FROM old LEFT JOIN w ON true;";


ngx_int_t
ts_media_handler(ngx_http_request_t *r, ts_route_t *route)
{
    ngx_int_t          rc;
    const char        *refused;
    ts_loc_conf_t     *tlcf;
    ts_media_ctx_t    *ctx;
    ts_media_conf_t   *mc;
    ts_request_ctx_t  *rctx;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_tunesheap_module);
    mc = &tlcf->media;

    rctx = ts_request_ctx(r);

    ctx = ngx_pcalloc(r->pool, sizeof(ts_media_ctx_t));
    if (rctx == NULL || ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->request = r;
    ctx->route = *route;
    ctx->query.params = (const char **) ctx->params;
    ctx->query.done = ts_media_done;
    ctx->query.data = ctx;
    rctx->media = ctx;

    ctx->params[0] = ts_http_cstr(r->pool, &route->id);
    if (ctx->params[0] == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* bodies are read by PUT audio (a file) and the S3 routes (JSON) */
    if ((mc->root.len == 0 && mc->s3 == NULL)
        || route->kind == ts_route_stream
        || (route->kind == ts_route_audio && r->method == NGX_HTTP_DELETE))
    {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    if (mc->root.len == 0 && mc->s3 == NULL) {
        return ts_http_send_error(r, NGX_HTTP_NOT_FOUND,
                                  "audio is not kept here");
    }

    switch (route->kind) {

    case ts_route_stream:
        /*
         * The entry handler lets arguments past tunesheap_auth_read as a
         * signed link; only a link that verifies may skip the key.  With
         * S3 the stream endpoint makes no links of its own (clients get
         * CloudFront's or S3's): arguments are no link there, and a read
         * key is needed as for any other read.
         */
        if (mc->s3 && r->args.len && tlcf->auth_read) {
            rc = ts_auth_check(r, "read", &refused);
            if (rc != NGX_OK) {
                return ts_http_send_error(r, rc, "%s", refused);
            }
        }

        /* with S3, every request is sent on to a fresh signed link */
        if (mc->s3 == NULL && r->args.len) {
            refused = ts_media_verify(ctx);
            if (refused) {
                return ts_http_send_error(r, NGX_HTTP_FORBIDDEN, "%s",
                                          refused);
            }

            /* a link naming a file that is still there needs no query */
            if (ctx->key.len) {
                rc = ts_media_send_named(ctx);
                if (rc != NGX_DECLINED) {
                    return rc;
                }
            }
        }

        ctx->state = ts_media_looking;
        return ts_media_query(ctx, "ts_media_get", 1, 0);

    case ts_route_audio:
        if (r->method == NGX_HTTP_DELETE) {
            ctx->params[1] = (char *) ts_query_if_match(r);
            ctx->state = ts_media_recording;
            return ts_media_query(ctx, "ts_media_clear", 2, 0);
        }

        if (mc->s3) {
            if (ngx_http_discard_request_body(r) != NGX_OK) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            return ts_http_send_error(r, NGX_HTTP_CONFLICT,
                                      "audio is stored in S3 here: POST to "
                                      "upload for a URL to upload it to");
        }

        return ts_media_receive(ctx, ts_media_file_body);

    default: /* ts_route_upload, ts_route_upload_done */
        if (mc->s3 == NULL) {
            if (ngx_http_discard_request_body(r) != NGX_OK) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            return ts_http_send_error(r, NGX_HTTP_CONFLICT,
                                      "audio is stored here: PUT it to "
                                      "audio instead");
        }

        return ts_body_read_json(r, ts_media_json_body);
    }
}


/*
 * Sends a statement on the song in params[0].  NGX_DONE when under way,
 * else the status answered.  held: the body reader holds r already.
 */
static ngx_int_t
ts_media_query(ts_media_ctx_t *ctx, const char *statement, int nparams,
    ngx_uint_t held)
{
    ngx_http_request_t  *r;

    r = ctx->request;

    ctx->query.statement = statement;
    ctx->query.once = 1;    /* may write: never sent twice */
    ctx->query.nparams = nparams;

    if (ts_query_send(r, &ctx->query, 1) != NGX_OK) {
        ts_media_forget(ctx);
        return ts_query_error(r, &ctx->query);
    }

    if (!held) {
        r->main->count++;
    }

    return NGX_DONE;
}


static void
ts_media_file_body(ngx_http_request_t *r)
{
    ngx_int_t          rc;
    ts_media_ctx_t    *ctx;
    ts_request_ctx_t  *rctx;

    rctx = ts_request_ctx(r);
    ctx = rctx->media;

    rc = ts_media_store(ctx);

    if (ctx->state == ts_media_checked) {
        rc = ts_media_record(ctx);
    }

    /* the body reader's hold on the request lasts until the answer */
    if (rc != NGX_DONE) {
        ngx_http_finalize_request(r, rc);
    }
}


static void
ts_media_json_body(ngx_http_request_t *r)
{
    yajl_val           tree;
    ngx_int_t          rc;
    ts_media_ctx_t    *ctx;
    ts_request_ctx_t  *rctx;

    rctx = ts_request_ctx(r);
    ctx = rctx->media;

    tree = ts_body_json(r, &rc);

    if (tree && !YAJL_IS_OBJECT(tree)) {
        rc = ts_http_send_error(r, NGX_HTTP_BAD_REQUEST,
                                "the body must be a JSON object");

    } else if (tree && ctx->route.kind == ts_route_upload) {
        rc = ts_media_upload(ctx, tree);

    } else if (tree) {
        rc = ts_media_complete(ctx, tree);
    }

    if (ctx->state == ts_media_valid) {
        /* the item first: its upload is signed, or its object looked at,
           only if it exists */
        ctx->state = ts_media_looking;
        rc = ts_media_query(ctx, "ts_media_get", 1, 1);
    }

    if (rc != NGX_DONE) {
        ngx_http_finalize_request(r, rc);
    }
}


/*
 * POST upload {"content_type":"audio/mpeg","size":N}: a name, once the
 * song is, and a PUT whose signature covers the type and the length
 */
static ngx_int_t
ts_media_upload(ts_media_ctx_t *ctx, yajl_val tree)
{
    yajl_val          v;
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

    if (ts_media_name(ctx, TS_MEDIA_S3_PREFIX, &t->extension) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->state = ts_media_valid;

    return NGX_OK;
}


/*
 * POST upload/complete {"key":K,"size":N[,"duration_ms":N,"bitrate_kbps":N]}
 * records an object uploaded under a name upload gave for this song
 */
static ngx_int_t
ts_media_complete(ts_media_ctx_t *ctx, yajl_val tree)
{
    int64_t              n[3];
    yajl_val             v;
    ngx_str_t            key;
    ngx_uint_t           i;
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

    t = ts_media_key_type(ctx, TS_MEDIA_S3_PREFIX, &key);

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
    }

    return rc;
}


static void
ts_media_s3_resume(ngx_http_request_t *r)
{
    ngx_int_t            rc;
    ts_media_ctx_t      *ctx;
    ts_request_ctx_t    *rctx;
    ngx_http_request_t  *sr;

    rctx = ts_request_ctx(r);
    ctx = rctx ? rctx->media : NULL;

    if (ctx == NULL || ctx->state != ts_media_fetching || ctx->sr == NULL) {
        return;
    }

    sr = ctx->sr;
    ctx->sr = NULL;
    ctx->state = ts_media_routed;
    r->write_event_handler = ngx_http_request_empty_handler;

    rc = ts_media_s3_checked(ctx, sr);

    switch (ctx->state) {

    case ts_media_fetching:
        /* more of the object is needed */
        r->write_event_handler = ts_media_s3_resume;
        return;

    case ts_media_checked:
        rc = ts_media_record(ctx);
        break;

    default: /* answered */
        break;
    }

    /* the body reader's hold on the request lasts until the answer */
    if (rc != NGX_DONE) {
        ts_http_finish(r, rc);
    }
}


/* S3's answer to a ranged GET: the object's size, and some of its bytes */
static ngx_int_t
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

    if (rc == NGX_AGAIN) {
        /* a whole piece, the file's last one if it holds what is wanted */
        from = ngx_min(want, ngx_max(ctx->object - TS_MEDIA_S3_PIECE, 0));

        return ts_media_s3_fetch(ctx, from,
                                 (size_t) ngx_min((off_t) TS_MEDIA_S3_PIECE,
                                                  ctx->object - from));
    }

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        return ts_http_send_error(r, TS_HTTP_UNPROCESSABLE,
                                  "the object is not audio in a format "
                                  "taken here: MP3, Ogg Vorbis or Opus, "
                                  "FLAC, M4A (AAC)");
    }

    if (info.claimed_size) {
        return ts_http_send_error(r, TS_HTTP_UNPROCESSABLE,
                                  "the audio is cut short: its header counts "
                                  "%O bytes of %V, the object holds %O",
                                  info.claimed_size, &info.format,
                                  info.stream_size);
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


/* points the song at ctx->key */
static ngx_int_t
ts_media_record(ts_media_ctx_t *ctx)
{
    u_char              *p;
    ngx_http_request_t  *r;

    r = ctx->request;

    ctx->params[1] = ts_http_cstr(r->pool, &ctx->key);
    ctx->params[2] = ts_http_cstr(r->pool, &ctx->type);

    p = ngx_pnalloc(r->pool, 3 * (NGX_OFF_T_LEN + 1));
    if (p == NULL || ctx->params[1] == NULL || ctx->params[2] == NULL) {
        ts_media_forget(ctx);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->params[3] = (char *) p;
    p = ngx_sprintf(p, "%O", ctx->size);
    *p++ = '\0';

    ctx->params[4] = (char *) p;
    p = ngx_sprintf(p, "%L", ctx->bitrate);
    *p++ = '\0';

    ctx->params[5] = (char *) p;
    p = ngx_sprintf(p, "%L", ctx->duration);
    *p = '\0';

    ctx->params[6] = (char *) ts_query_if_match(r);
    ctx->state = ts_media_recording;

    return ts_media_query(ctx, "ts_media_set", 7, 1);
}


static void
ts_media_done(ts_pg_query_t *q)
{
    ngx_int_t            rc;
    PGresult            *res;
    ts_media_ctx_t      *ctx;
    ngx_http_request_t  *r;

    ctx = q->data;
    r = ctx->request;
    res = q->result;

    if (q->rc != TS_PG_OK) {
        ts_media_forget(ctx);
        ts_http_finish(r, ts_query_error(r, q));
        return;
    }

    if (PQntuples(res) != 1) {
        ts_media_forget(ctx);
        ts_http_finish(r, ts_http_send_error(r, NGX_HTTP_NOT_FOUND,
                                             "no song with id %V",
                                             &ctx->route.id));
        return;
    }

    if (ctx->state == ts_media_recording) {
        rc = ts_media_changed(ctx, res);

        if (ctx->state == ts_media_recorded) {
            ts_cache_invalidate(r, (ngx_uint_t) 1
                                   << (ctx->route.resource - ts_resources),
                                ts_media_respond);
            return;
        }

        ts_http_finish(r, rc);
        return;
    }

    /* ts_media_looking: the item is there */

    switch (ctx->route.kind) {

    case ts_route_stream:
        rc = ts_media_found(ctx, res);
        break;

    case ts_route_upload:
        rc = ts_media_upload_url(ctx);
        break;

    default: /* ts_route_upload_done: now its object */
        rc = ts_media_s3_fetch(ctx, 0, TS_MEDIA_S3_PIECE);

        if (ctx->state == ts_media_fetching) {
            r->write_event_handler = ts_media_s3_resume;

            /* from Postgres' event: nobody else runs the subrequest */
            ngx_http_run_posted_requests(r->connection);
            return;
        }
    }

    ts_http_finish(r, rc);
}


/* the stream of a song found: its file, or a signed link to it */
static ngx_int_t
ts_media_found(ts_media_ctx_t *ctx, PGresult *res)
{
    ngx_str_t  key, type;

    if (PQgetisnull(ctx->query.result, 0, 0)) {
        return ts_http_send_error(ctx->request, NGX_HTTP_NOT_FOUND,
                                  "song %V has no audio", &ctx->route.id);
    }

    key.data = (u_char *) PQgetvalue(res, 0, 0);
    key.len = PQgetlength(res, 0, 0);
    type.data = (u_char *) PQgetvalue(res, 0, 1);
    type.len = PQgetlength(res, 0, 1);

    if (ctx->expires) {
        return ts_media_send_file(ctx, &key, &type);
    }

    return ts_media_redirect(ctx, &key);
}


/* 302 to a link made now: the stream endpoint without a signature */
static ngx_int_t
ts_media_redirect(ts_media_ctx_t *ctx, ngx_str_t *key)
{
    time_t               now;
    yajl_gen             g;
    ngx_str_t            url, body, none = ngx_string("no-store");
    ngx_http_request_t  *r;

    r = ctx->request;
    now = ngx_time();

    if (ts_media_link(r, &ctx->route.id, now - now % TS_MEDIA_WINDOW, key,
                      &url)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    g = ts_json_gen(r->pool);

    if (g == NULL
        || yajl_gen_map_open(g) != yajl_gen_status_ok
        || ts_json_literal(g, "stream_url") != yajl_gen_status_ok
        || ts_json_str(g, &url) != yajl_gen_status_ok
        || yajl_gen_map_close(g) != yajl_gen_status_ok)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ts_json_output(g, &body);

    if (ts_http_header(r, "Location", &url, &r->headers_out.location)
           != NGX_OK
        || ts_http_header(r, "Cache-Control", &none, NULL) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ts_http_send_json(r, NGX_HTTP_MOVED_TEMPORARILY, &body, NULL);
}


/* the presigned PUT for a name upload made */
static ngx_int_t
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


/*
 * The song points at its new audio, or at none: the old file goes, and
 * the state is ts_media_recorded: answered once the cache has forgotten
 * the song.  Else the status answered.
 */
static ngx_int_t
ts_media_changed(ts_media_ctx_t *ctx, PGresult *res)
{
    ngx_str_t            old;
    ngx_http_request_t  *r;

    r = ctx->request;

    if (PQnfields(res) != 2) {
        ts_media_forget(ctx);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (PQgetisnull(res, 0, 1)) {
        /* found, not written: If-Match did not match; the file goes */
        ts_media_forget(ctx);
        return ts_http_send_error(r, NGX_HTTP_PRECONDITION_FAILED,
                                  "song %V has changed: If-Match does not "
                                  "match its ETag", &ctx->route.id);
    }

    if (ts_http_etag(r, (u_char *) PQgetvalue(res, 0, 1), &ctx->etag)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* recorded: the new file is the song's now */
    ngx_str_null(&ctx->path);

    if (PQgetisnull(res, 0, 0)) {
        if (r->method == NGX_HTTP_DELETE) {
            return ts_http_send_error(r, NGX_HTTP_NOT_FOUND,
                                      "song %V has no audio",
                                      &ctx->route.id);
        }

    } else {
        old.data = (u_char *) PQgetvalue(res, 0, 0);
        old.len = PQgetlength(res, 0, 0);
        ts_media_unlink(r, &old);
    }

    r->disable_not_modified = 1;
    ctx->state = ts_media_recorded;

    return NGX_OK;
}


static void
ts_media_respond(ngx_http_request_t *r)
{
    u_char            *p;
    yajl_gen           g;
    ngx_int_t          rc;
    ngx_str_t          body, size, bitrate, duration;
    ts_media_ctx_t    *ctx;
    ts_request_ctx_t  *rctx;

    rctx = ts_request_ctx(r);
    ctx = rctx->media;

    if (r->method == NGX_HTTP_DELETE) {
        r->headers_out.status = NGX_HTTP_NO_CONTENT;
        r->headers_out.content_length_n = -1;
        r->header_only = 1;

        if (ts_http_header(r, "ETag", &ctx->etag, &r->headers_out.etag)
            != NGX_OK)
        {
            ts_http_finish(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        ts_http_finish(r, ngx_http_send_header(r));
        return;
    }

    p = ngx_pnalloc(r->pool, 3 * NGX_OFF_T_LEN);
    g = ts_json_gen(r->pool);

    if (p == NULL || g == NULL) {
        ts_http_finish(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    size.data = p;
    size.len = ngx_sprintf(p, "%O", ctx->size) - p;
    bitrate.data = p + NGX_OFF_T_LEN;
    bitrate.len = ngx_sprintf(bitrate.data, "%L", ctx->bitrate)
                  - bitrate.data;
    duration.data = p + 2 * NGX_OFF_T_LEN;
    duration.len = ngx_sprintf(duration.data, "%L", ctx->duration)
                   - duration.data;

    if (yajl_gen_map_open(g) != yajl_gen_status_ok
        || ts_json_literal(g, "audio") != yajl_gen_status_ok
        || ts_media_audio_object(g, &ctx->type, &size, &bitrate, &duration)
           != yajl_gen_status_ok
        || yajl_gen_map_close(g) != yajl_gen_status_ok)
    {
        ts_http_finish(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ts_json_output(g, &body);

    /* the song's new ETag, for the next If-Match */
    rc = ts_http_send_json(r, NGX_HTTP_OK, &body, &ctx->etag);

    ts_http_finish(r, rc);
}
