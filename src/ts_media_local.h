
/*
 * Tunesheap: audio kept as files under the media root.
 */


#ifndef _TS_MEDIA_LOCAL_H_INCLUDED_
#define _TS_MEDIA_LOCAL_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ts_media_ctx.h"


/* PUT audio: the body into a file of nginx's, then handler */
ngx_int_t ts_media_receive(ts_media_ctx_t *ctx,
    ngx_http_client_body_handler_pt handler);

/*
 * The file received, recognised and renamed under the root: NGX_OK, it
 * is to be recorded (ctx->key, type, size...); else the status answered
 */
ngx_int_t ts_media_store(ts_media_ctx_t *ctx);

/*
 * The file a verified link names, without asking Postgres; NGX_DECLINED
 * when it is gone
 */
ngx_int_t ts_media_send_named(ts_media_ctx_t *ctx);

/* hands the file of key to nginx's static module: NGX_DONE */
ngx_int_t ts_media_send_file(ts_media_ctx_t *ctx, ngx_str_t *key,
    ngx_str_t *type);

/* removes a file stored but not recorded: nothing will point at it */
void ts_media_forget(ts_media_ctx_t *ctx);

/* removes a local file nothing points at any more */
void ts_media_unlink(ngx_http_request_t *r, ngx_str_t *key);


#endif /* _TS_MEDIA_LOCAL_H_INCLUDED_ */
