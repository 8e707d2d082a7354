
/*
 * Tunesheap: what media keeps of a request from one event to the next,
 * shared by its files (ts_media*.c).
 */


#ifndef _TS_MEDIA_CTX_H_INCLUDED_
#define _TS_MEDIA_CTX_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ts_module.h"
#include "ts_pg.h"
#include "ts_router.h"
#include "ts_sign.h"


/*
 * Where a media request is.  Its events go on from here, never from a
 * return code: a step returns what a content handler returns (a status,
 * NGX_DONE, or what sending an answer gave, NGX_OK or NGX_AGAIN among
 * them) and names what comes next here.
 */
typedef enum {
    ts_media_routed = 0,        /* its body, if any, is being read; or
                                   an S3 answer is being looked at */
    ts_media_valid,             /* the body is good: look the item up */
    ts_media_looking,           /* ts_RESOURCE_audio_get sent */
    ts_media_fetching,          /* S3: a range of the object asked for */
    ts_media_checked,           /* the audio is what it says: record it */
    ts_media_recording,         /* ts_RESOURCE_audio_set or _clear sent */
    ts_media_recorded           /* written: the cache forgets the item,
                                   then the answer */
} ts_media_state_e;


struct ts_media_ctx_s {
    ts_media_state_e     state;
    ngx_http_request_t  *request;
    ts_route_t           route;
    ts_pg_query_t        query;
    char                 statement[TS_STATEMENT_LEN];
    char                *params[7];
    ngx_str_t            etag;        /* the item's, once written */
    time_t               expires;     /* of the signed link being followed */
    ngx_str_t            key;         /* the audio being recorded */
    ngx_str_t            path;        /* its file, until it is recorded */
    ngx_str_t            type;
    off_t                size;
    int64_t              bitrate;
    int64_t              duration;
    ts_s3_request_t      s3;          /* the range of the object asked for */
    ngx_http_request_t  *sr;          /* its subrequest, once it is done */
    ngx_int_t            sr_rc;
    ngx_uint_t           sr_status;
    ngx_uint_t           sr_proxied;
    ngx_uint_t           fetches;
    off_t                object;      /* the object's size; -1: unknown */
    ngx_array_t          pieces;      /* ts_audio_piece_t: what came */
};


#endif /* _TS_MEDIA_CTX_H_INCLUDED_ */
