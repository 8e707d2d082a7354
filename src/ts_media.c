
/*
 * Tunesheap: an item's audio, the routes: stream, audio (PUT, DELETE),
 * upload and upload/complete.  Each request goes through the states of
 * ts_media_ctx.h: its item looked up, its audio checked by the storage
 * (ts_media_local.c, ts_media_s3.c), recorded, the cache told, answered.
 * Links are made and checked in ts_media_link.c, the configuration in
 * ts_media_conf.c, types and names of files in ts_media_types.c.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ts_module.h"
#include "ts_json.h"
#include "ts_http.h"
#include "ts_resource.h"
#include "ts_query.h"
#include "ts_body.h"
#include "ts_cache.h"
#include "ts_media_ctx.h"
#include "ts_media_types.h"
#include "ts_media_link.h"
#include "ts_media_local.h"
#include "ts_media_s3.h"
#include "ts_media.h"


static ngx_int_t ts_media_query(ts_media_ctx_t *ctx, const char *statement,
    int nparams, ngx_uint_t held);
static void ts_media_file_body(ngx_http_request_t *r);
static void ts_media_json_body(ngx_http_request_t *r);
static void ts_media_s3_resume(ngx_http_request_t *r);
static ngx_int_t ts_media_record(ts_media_ctx_t *ctx);
static void ts_media_done(ts_pg_query_t *q);
static ngx_int_t ts_media_found(ts_media_ctx_t *ctx, PGresult *res);
static ngx_int_t ts_media_redirect(ts_media_ctx_t *ctx, ngx_str_t *key);
static ngx_int_t ts_media_changed(ts_media_ctx_t *ctx, PGresult *res);
static void ts_media_respond(ngx_http_request_t *r);


#define TS_MEDIA_RESOURCES_MAX  8


/*
 * The statements on the audio of a resource (its name, its table, then
 * its ETag's SQL): the old key comes back, so that its file can go once
 * nothing needs it, with the item's new ETag; an item found but whose
 * ETag is not one If-Match lists ($7, $2; NULL: none) comes back with
 * neither, unchanged.
 */
static const char  ts_media_statements[] =
    "PREPARE ts_%V_audio_get (bigint) AS"
    " SELECT audio_key, audio_type FROM %s WHERE id = $1;"
    "PREPARE ts_%V_audio_set (bigint, text, text, bigint, integer, integer,"
    " text[]) AS"
    " WITH old AS (SELECT id AS old_id, audio_key AS old_key,"
    " %V AS old_etag FROM %s WHERE id = $1"
    " FOR UPDATE),"
    " w AS (UPDATE %s s SET audio_key = $2, audio_type = $3,"
    " audio_size = $4, audio_bitrate_kbps = nullif($5, 0),"
    " audio_duration_ms = nullif($6, 0)"
    " FROM old WHERE s.id = old.old_id"
    " AND ($7::text[] IS NULL OR old.old_etag = ANY ($7::text[]))"
    " RETURNING old.old_key, %V AS etag)"
    " SELECT w.old_key, w.etag FROM old LEFT JOIN w ON true;"
    "PREPARE ts_%V_audio_clear (bigint, text[]) AS"
    " WITH old AS (SELECT id AS old_id, audio_key AS old_key,"
    " %V AS old_etag FROM %s WHERE id = $1"
    " FOR UPDATE),"
    " w AS (UPDATE %s s SET audio_key = NULL, audio_type = NULL,"
    " audio_size = NULL, audio_bitrate_kbps = NULL,"
    " audio_duration_ms = NULL"
    " FROM old WHERE s.id = old.old_id"
    " AND ($2::text[] IS NULL OR old.old_etag = ANY ($2::text[]))"
    " RETURNING old.old_key, %V AS etag)"
    " SELECT w.old_key, w.etag FROM old LEFT JOIN w ON true;";


ngx_int_t
ts_media_init(ngx_pool_t *pool, ngx_str_t *setup)
{
    u_char         *p, *last;
    size_t          len;
    ngx_str_t       etag[TS_MEDIA_RESOURCES_MAX];
    ngx_uint_t      i, j, n, audio[TS_MEDIA_RESOURCES_MAX];
    ts_resource_t  *rs;

    ts_column_json[TS_COL_AUDIO] = ts_media_audio_json;
    ts_column_json[TS_COL_STREAM] = ts_media_stream_json;

    len = 0;
    n = 0;

    for (i = 0; i < ts_nresources; i++) {
        rs = &ts_resources[i];

        for (j = 0; j < rs->ncolumns; j++) {
            if (rs->columns[j].type == TS_COL_STREAM) {
                break;
            }
        }

        if (j == rs->ncolumns) {
            continue;
        }

        if (n == TS_MEDIA_RESOURCES_MAX
            || sizeof("ts__audio_clear") + rs->name.len > TS_STATEMENT_LEN)
        {
            ngx_log_error(NGX_LOG_EMERG, ngx_cycle->log, 0,
                          "tunesheap: too many resources with audio, or "
                          "\"%V\" is too long a name", &rs->name);
            return NGX_ERROR;
        }

        if (ts_resource_etag_sql(pool, rs, &etag[n]) != NGX_OK) {
            return NGX_ERROR;
        }

        len += sizeof(ts_media_statements) + 3 * rs->name.len
               + 5 * ngx_strlen(rs->table) + 4 * etag[n].len;
        audio[n++] = i;
    }

    p = ngx_pnalloc(pool, len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    setup->data = p;
    last = p + len;

    for (j = 0; j < n; j++) {
        rs = &ts_resources[audio[j]];

        p = ngx_slprintf(p, last, ts_media_statements,
                         &rs->name, rs->table,
                         &rs->name, &etag[j], rs->table, rs->table, &etag[j],
                         &rs->name, &etag[j], rs->table, rs->table, &etag[j]);
    }

    setup->len = p - setup->data;

    return NGX_OK;
}


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

    ngx_log_debug5(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "tunesheap media: %V %V/%V, route %d, %s",
                   &r->method_name, &route->resource->name, &route->id,
                   (int) route->kind,
                   mc->s3 ? "s3" : (mc->root.len ? "local" : "none"));

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
         * signed link (local files only): only a link that verifies may
         * skip the key.  With S3, every request is sent on to a fresh
         * signed link.
         */
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

                ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                               "tunesheap media: \"%V\" is gone, asking "
                               "Postgres", &ctx->key);
            }
        }

        ctx->state = ts_media_looking;
        return ts_media_query(ctx, "get", 1, 0);

    case ts_route_audio:
        if (r->method == NGX_HTTP_DELETE) {
            ctx->params[1] = (char *) ts_query_if_match(r);
            ctx->state = ts_media_recording;
            return ts_media_query(ctx, "clear", 2, 0);
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
 * Sends ts_RESOURCE_audio_<statement> on the item in params[0].  NGX_DONE
 * when under way,
 * else the status answered.  held: the body reader holds r already.
 */
static ngx_int_t
ts_media_query(ts_media_ctx_t *ctx, const char *statement, int nparams,
    ngx_uint_t held)
{
    ngx_http_request_t  *r;

    r = ctx->request;

    *ngx_snprintf((u_char *) ctx->statement, TS_STATEMENT_LEN - 1,
                  "ts_%V_audio_%s", &ctx->route.resource->name, statement)
        = '\0';

    ctx->query.statement = ctx->statement;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "tunesheap media: %s sent, state %d", ctx->statement,
                   (int) ctx->state);
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

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "tunesheap media: body stored as \"%V\": state %d",
                   &ctx->key, (int) ctx->state);

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

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "tunesheap media: JSON body checked: state %d",
                   (int) ctx->state);

    if (ctx->state == ts_media_valid) {
        /* the item first: its upload is signed, or its object looked at,
           only if it exists */
        ctx->state = ts_media_looking;
        rc = ts_media_query(ctx, "get", 1, 1);
    }

    if (rc != NGX_DONE) {
        ngx_http_finalize_request(r, rc);
    }
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

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "tunesheap media: S3 check of \"%V\": state %d",
                   &ctx->key, (int) ctx->state);

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


/* points the item at ctx->key */
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

    return ts_media_query(ctx, "set", 7, 1);
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

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "tunesheap media: %s done: %d, %d rows", ctx->statement,
                   (int) q->rc, (q->rc == TS_PG_OK) ? PQntuples(res) : -1);

    if (q->rc != TS_PG_OK) {
        ts_media_forget(ctx);
        ts_http_finish(r, ts_query_error(r, q));
        return;
    }

    if (PQntuples(res) != 1) {
        ts_media_forget(ctx);
        ts_http_finish(r, ts_http_send_error(r, NGX_HTTP_NOT_FOUND,
                                             "no %V with id %V",
                                             &ctx->route.resource->singular,
                                             &ctx->route.id));
        return;
    }

    if (ctx->state == ts_media_recording) {
        rc = ts_media_changed(ctx, res);

        if (ctx->state == ts_media_recorded) {
            ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "tunesheap media: recorded \"%V\", the cache "
                           "forgets the item", &ctx->key);

            ts_cache_invalidate(r, ts_resource_bit(ctx->route.resource),
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
        rc = ts_media_s3_check(ctx);

        if (ctx->state == ts_media_fetching) {
            ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "tunesheap media: checking the object \"%V\"",
                           &ctx->key);

            r->write_event_handler = ts_media_s3_resume;

            /* from Postgres' event: nobody else runs the subrequest */
            ngx_http_run_posted_requests(r->connection);
            return;
        }
    }

    ts_http_finish(r, rc);
}


/* the stream of an item found: its file, or a signed link to it */
static ngx_int_t
ts_media_found(ts_media_ctx_t *ctx, PGresult *res)
{
    ngx_str_t  key, type;

    if (PQgetisnull(ctx->query.result, 0, 0)) {
        return ts_http_send_error(ctx->request, NGX_HTTP_NOT_FOUND,
                                  "%V %V has no audio",
                                  &ctx->route.resource->singular,
                                  &ctx->route.id);
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

    if (ts_media_link(r, ctx->route.resource, &ctx->route.id,
                      now - now % TS_MEDIA_WINDOW, key, &url)
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


/*
 * The item points at its new audio, or at none: the old file goes, and
 * the state is ts_media_recorded: answered once the cache has forgotten
 * the item.  Else the status answered.
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
                                  "%V %V has changed: If-Match does not "
                                  "match its ETag",
                                  &ctx->route.resource->singular,
                                  &ctx->route.id);
    }

    if (ts_http_etag(r, (u_char *) PQgetvalue(res, 0, 1),
                     TS_ITEM_HASH_LEN, &ctx->etag)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* recorded: the new file is the item's now */
    ngx_str_null(&ctx->path);

    if (PQgetisnull(res, 0, 0)) {
        if (r->method == NGX_HTTP_DELETE) {
            return ts_http_send_error(r, NGX_HTTP_NOT_FOUND,
                                      "%V %V has no audio",
                                      &ctx->route.resource->singular,
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
        ts_http_finish(r, ts_http_send_no_content(r, &ctx->etag));
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

    /* the item's new ETag, for the next If-Match */
    rc = ts_http_send_json(r, NGX_HTTP_OK, &body, &ctx->etag);

    ts_http_finish(r, rc);
}
