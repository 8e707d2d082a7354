
/*
 * Tunesheap: what audio may be (types and extensions), the names media
 * gives files, and an item's "audio" as JSON.
 */


#ifndef _TS_MEDIA_TYPES_H_INCLUDED_
#define _TS_MEDIA_TYPES_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <yajl/yajl_gen.h>

#include "ts_audio.h"
#include "ts_media_ctx.h"


#define TS_MEDIA_TYPES  "audio/mpeg, audio/ogg, audio/flac or audio/mp4"


typedef struct {
    ngx_str_t            type;
    ngx_str_t            extension;
} ts_media_type_t;


/* the type of s, an extension (by_type: a Content-Type), or NULL */
ts_media_type_t *ts_media_type_of(ngx_str_t *s, ngx_uint_t by_type);

/* the type of a name ts_media_name() gives this item, or NULL */
ts_media_type_t *ts_media_key_type(ts_media_ctx_t *ctx, const char *prefix,
    ngx_str_t *key);

/* ctx->key: a name no client chose: prefix, the id, randomness, extension */
ngx_int_t ts_media_name(ts_media_ctx_t *ctx, const char *prefix,
    ngx_str_t *extension);

/* {"content_type":...,"size":N,"bitrate_kbps":N,"duration_ms":N}; 0: null */
yajl_gen_status ts_media_audio_object(yajl_gen g, ngx_str_t *type,
    ngx_str_t *size, ngx_str_t *bitrate, ngx_str_t *duration);

/* an item's "audio" (TS_MEDIA_AUDIO_FIELDS), for ts_column_json */
yajl_gen_status ts_media_audio_json(ngx_http_request_t *r, yajl_gen g,
    ts_resource_t *rs, ngx_str_t *value);

/*
 * What a probe of an upload said (ts_audio.h): 0 when it is audio taken
 * here, whole; else 1, and *rc is the status answered: status (415 for a
 * body, 422 for an S3 object) when it is not audio, 422 when it is cut
 * short.  what and holder name the upload in the messages.
 */
ngx_uint_t ts_media_refused(ngx_http_request_t *r, ngx_int_t probe,
    ts_audio_info_t *info, ngx_uint_t status, const char *what,
    const char *holder, ngx_int_t *rc);


#endif /* _TS_MEDIA_TYPES_H_INCLUDED_ */
