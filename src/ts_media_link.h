
/*
 * Tunesheap: links to an item's audio, made and checked.
 */


#ifndef _TS_MEDIA_LINK_H_INCLUDED_
#define _TS_MEDIA_LINK_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <yajl/yajl_gen.h>

#include "ts_media_ctx.h"


/* the link to an item's audio made in the window starting at window */
ngx_int_t ts_media_link(ngx_http_request_t *r, ts_resource_t *rs,
    ngx_str_t *id, time_t window, ngx_str_t *key, ngx_str_t *url);

/* an item's "stream_url" (TS_MEDIA_STREAM_FIELDS), for ts_column_json */
yajl_gen_status ts_media_stream_json(ngx_http_request_t *r, yajl_gen g,
    ts_resource_t *rs, ngx_str_t *value);

/*
 * A signed link followed: NULL if it is good (ctx->expires and ctx->key
 * are the link's), else why it is not
 */
const char *ts_media_verify(ts_media_ctx_t *ctx);

/* frees the signed links a worker keeps */
void ts_media_exit_process(void);


#endif /* _TS_MEDIA_LINK_H_INCLUDED_ */
