
/*
 * Tunesheap: an item's audio.  Files under a media root, handed to
 * nginx's static file path by an internal redirect, with links signed by
 * an HMAC of our own; or objects in S3 behind CloudFront, with CloudFront
 * (or S3) signed links and presigned uploads.
 */


#ifndef _TS_MEDIA_H_INCLUDED_
#define _TS_MEDIA_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ts_router.h"


/*
 * The statements on the audio of every resource with a TS_COL_STREAM
 * column, prepared on every Postgres connection; and the JSON of those
 * columns, given to the resource layer (ts_column_json)
 */
ngx_int_t ts_media_init(ngx_pool_t *pool, ngx_str_t *setup);

/* the stream, audio, upload and upload/complete routes */
ngx_int_t ts_media_handler(ngx_http_request_t *r, ts_route_t *route);


#endif /* _TS_MEDIA_H_INCLUDED_ */
