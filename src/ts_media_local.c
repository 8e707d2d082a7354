
/*
 * Tunesheap: audio kept as files under the media root.  An upload is
 * streamed by nginx into its temporary file, recognised from its bytes,
 * renamed into the media root under a new name (a listener of the old
 * file keeps reading it) and only then recorded; the old file goes once
 * the item points at the new one.  A stream is an internal redirect to an
 * internal location serving the root, so nginx's static module does
 * sendfile, ranges and conditional requests.  No path from a request
 * reaches the file system: names are made here.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ts_module.h"
#include "ts_http.h"
#include "ts_audio.h"
#include "ts_media_ctx.h"
#include "ts_media_types.h"
#include "ts_media_local.h"


static ngx_int_t ts_media_path(ngx_http_request_t *r, ngx_str_t *key,
    ngx_str_t *path);


/* PUT audio: nginx streams the body into a file of its own */
ngx_int_t
ts_media_receive(ts_media_ctx_t *ctx,
    ngx_http_client_body_handler_pt handler)
{
    ngx_int_t            rc;
    ts_loc_conf_t       *tlcf;
    ngx_http_request_t  *r;

    r = ctx->request;
    tlcf = ngx_http_get_module_loc_conf(r, ngx_tunesheap_module);

    if (r->headers_in.content_length_n > tlcf->media.max_size) {
        if (ngx_http_discard_request_body(r) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ts_http_send_error(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                  "the audio is larger than %O bytes",
                                  tlcf->media.max_size);
    }

    /* a file with a name, renamed into place; nginx removes it if not */
    r->request_body_in_file_only = 1;
    r->request_body_in_persistent_file = 1;
    r->request_body_in_clean_file = 1;
    r->request_body_file_log_level = 0;

    rc = ngx_http_read_client_request_body(r, handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


/* the body received: NGX_OK, it is audio and in place to be recorded */
ngx_int_t
ts_media_store(ts_media_ctx_t *ctx)
{
    off_t                     size;
    ngx_int_t                 rc;
    ngx_err_t                 err;
    ngx_temp_file_t          *tf;
    ts_loc_conf_t            *tlcf;
    ts_audio_info_t           info;
    ngx_http_request_t       *r;
    ngx_http_request_body_t  *rb;

    r = ctx->request;
    tlcf = ngx_http_get_module_loc_conf(r, ngx_tunesheap_module);

    rb = r->request_body;
    tf = rb ? rb->temp_file : NULL;
    size = tf ? tf->file.offset : 0;

    if (size == 0) {
        return ts_http_send_error(r, NGX_HTTP_BAD_REQUEST,
                                  "the body is empty: send the audio file");
    }

    /* a chunked body has no Content-Length to refuse early */
    if (size > tlcf->media.max_size) {
        return ts_http_send_error(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                  "the audio is larger than %O bytes",
                                  tlcf->media.max_size);
    }

    rc = ts_audio_probe(tf->file.fd, size, &info, r->connection->log);

    if (ts_media_refused(r, rc, &info, NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                         "body", "file", &rc))
    {
        return rc;
    }

    if (ts_media_name(ctx, "", &info.extension) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ts_media_path(r, &ctx->key, &ctx->path) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* a new name: whoever plays the old file goes on reading it */
    if (ngx_rename_file(tf->file.name.data, ctx->path.data)
        == NGX_FILE_ERROR)
    {
        err = ngx_errno;
        ngx_log_error(NGX_LOG_CRIT, r->connection->log, err,
                      "tunesheap: rename \"%V\" to \"%V\" failed "
                      "(client_body_temp_path must be on the file system "
                      "of tunesheap_media_root)",
                      &tf->file.name, &ctx->path);
        ngx_str_null(&ctx->path);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->type = info.content_type;
    ctx->size = size;
    ctx->bitrate = info.bitrate_kbps;
    ctx->duration = info.duration_ms;
    ctx->state = ts_media_checked;

    return NGX_OK;
}


/*
 * The file a verified link names, without asking Postgres; NGX_DECLINED
 * when it is gone (the song's audio was replaced): Postgres knows which
 * one plays now
 */
ngx_int_t
ts_media_send_named(ts_media_ctx_t *ctx)
{
    ngx_str_t         path;
    ngx_file_info_t   fi;
    ts_media_type_t  *t;

    if (ts_media_path(ctx->request, &ctx->key, &path) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_file_info(path.data, &fi) == NGX_FILE_ERROR) {
        return NGX_DECLINED;
    }

    t = ts_media_key_type(ctx, "", &ctx->key);

    return ts_media_send_file(ctx, &ctx->key, &t->type);
}


/* hands the file to nginx's static module, in the internal location */
ngx_int_t
ts_media_send_file(ts_media_ctx_t *ctx, ngx_str_t *key, ngx_str_t *type)
{
    u_char              *p;
    ngx_str_t            uri, cache;
    ts_loc_conf_t       *tlcf;
    ngx_http_request_t  *r;

    r = ctx->request;
    tlcf = ngx_http_get_module_loc_conf(r, ngx_tunesheap_module);

    uri.len = tlcf->media.location.len + key->len;
    uri.data = ngx_pnalloc(r->pool, uri.len);

    cache.data = ngx_pnalloc(r->pool, sizeof("private, max-age=")
                                      + NGX_TIME_T_LEN);
    if (uri.data == NULL || cache.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_sprintf(uri.data, "%V%V", &tlcf->media.location, key);

    /* a player may keep what it got for as long as the link lives */
    p = ngx_sprintf(cache.data, "private, max-age=%T",
                    ngx_max(ctx->expires - ngx_time(), 0));
    cache.len = p - cache.data;

    if (ts_http_header(r, "Cache-Control", &cache, NULL) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the static module keeps a type already set: the one the bytes said */
    r->headers_out.content_type.data = ngx_pstrdup(r->pool, type);
    if (r->headers_out.content_type.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.content_type.len = type->len;
    r->headers_out.content_type_len = type->len;
    r->headers_out.content_type_lowcase = NULL;

    ngx_http_internal_redirect(r, &uri, NULL);

    /* the redirect holds the request now: let go of ours */
    return NGX_DONE;
}


/* a file stored but not recorded: nothing will ever point at it */
void
ts_media_forget(ts_media_ctx_t *ctx)
{
    if (ctx->path.len == 0) {
        return;
    }

    if (ngx_delete_file(ctx->path.data) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_CRIT, ctx->request->connection->log, ngx_errno,
                      ngx_delete_file_n " \"%V\" failed", &ctx->path);
    }

    ngx_str_null(&ctx->path);
}


/* removes a local file nothing points at any more */
void
ts_media_unlink(ngx_http_request_t *r, ngx_str_t *key)
{
    ngx_str_t       path;
    ts_loc_conf_t  *tlcf;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_tunesheap_module);

    /* an S3 object stays: the bucket's lifecycle rules remove it */
    if (tlcf->media.s3 || tlcf->media.root.len == 0
        || ts_media_path(r, key, &path) != NGX_OK)
    {
        return;
    }

    if (ngx_delete_file(path.data) == NGX_FILE_ERROR
        && ngx_errno != NGX_ENOENT)
    {
        ngx_log_error(NGX_LOG_CRIT, r->connection->log, ngx_errno,
                      ngx_delete_file_n " \"%V\" failed", &path);
    }
}


/* the file of key under the media root, NUL-terminated for the system */
static ngx_int_t
ts_media_path(ngx_http_request_t *r, ngx_str_t *key, ngx_str_t *path)
{
    ts_loc_conf_t  *tlcf;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_tunesheap_module);

    path->len = tlcf->media.root.len + 1 + key->len;
    path->data = ngx_pnalloc(r->pool, path->len + 1);
    if (path->data == NULL) {
        return NGX_ERROR;
    }

    *ngx_sprintf(path->data, "%V/%V", &tlcf->media.root, key) = '\0';

    return NGX_OK;
}
