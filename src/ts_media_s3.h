
/*
 * Tunesheap: audio kept in S3: presigned uploads, and the check of an
 * object uploaded before it is recorded.
 */


#ifndef _TS_MEDIA_S3_H_INCLUDED_
#define _TS_MEDIA_S3_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <yajl/yajl_tree.h>

#include "ts_media_ctx.h"


/*
 * POST upload {"content_type":"audio/mpeg","size":N}, checked: the state
 * is ts_media_valid when the item is to be looked up; else the status
 * answered
 */
ngx_int_t ts_media_upload(ts_media_ctx_t *ctx, yajl_val tree);

/* the item is there: its presigned PUT, answered */
ngx_int_t ts_media_upload_url(ts_media_ctx_t *ctx);

/*
 * POST upload/complete {"key":K,"size":N}, checked as upload is: then
 * the item's object is checked (ts_media_s3_check)
 */
ngx_int_t ts_media_complete(ts_media_ctx_t *ctx, yajl_val tree);

/*
 * Asks S3 for the object's first bytes: the state is ts_media_fetching,
 * and the parent's write event handler runs ts_media_s3_checked() with
 * ctx->sr once the answer came; else the status answered
 */
ngx_int_t ts_media_s3_check(ts_media_ctx_t *ctx);

/*
 * S3's answer: the state is ts_media_fetching (more is asked for),
 * ts_media_checked (the object is audio as its upload said: record it),
 * or the status was answered
 */
ngx_int_t ts_media_s3_checked(ts_media_ctx_t *ctx, ngx_http_request_t *sr);

/* $tunesheap_s3_url, for the internal location of S3 checks */
ngx_int_t ts_media_add_variables(ngx_conf_t *cf);


#endif /* _TS_MEDIA_S3_H_INCLUDED_ */
