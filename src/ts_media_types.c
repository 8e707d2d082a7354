
/*
 * Tunesheap: what audio may be, the names of its files, its JSON.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <openssl/rand.h>

#include "ts_json.h"
#include "ts_http.h"
#include "ts_audio.h"
#include "ts_media_ctx.h"
#include "ts_media_types.h"


#define TS_MEDIA_RANDOM     8         /* bytes of randomness in a name */


/* what uploads may be, by Content-Type and by the name's extension */
static ts_media_type_t  ts_media_types[] = {
    { ngx_string("audio/mpeg"), ngx_string("mp3") },
    { ngx_string("audio/ogg"), ngx_string("ogg") },
    { ngx_string("audio/ogg"), ngx_string("opus") },
    { ngx_string("audio/flac"), ngx_string("flac") },
    { ngx_string("audio/mp4"), ngx_string("m4a") },
};


/* a name no client chose: prefix, the item's id, randomness, extension */
ngx_int_t
ts_media_name(ts_media_ctx_t *ctx, const char *prefix, ngx_str_t *extension)
{
    u_char               rnd[TS_MEDIA_RANDOM], *p;
    ngx_http_request_t  *r;

    r = ctx->request;

    if (RAND_bytes(rnd, TS_MEDIA_RANDOM) != 1) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "tunesheap: RAND_bytes() failed");
        return NGX_ERROR;
    }

    ctx->key.data = ngx_pnalloc(r->pool, ngx_strlen(prefix)
                                         + ctx->route.id.len
                                         + 2 * TS_MEDIA_RANDOM
                                         + extension->len + 2);
    if (ctx->key.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(ctx->key.data, "%s%V-", prefix, &ctx->route.id);
    p = ngx_hex_dump(p, rnd, TS_MEDIA_RANDOM);
    p = ngx_sprintf(p, ".%V", extension);

    ctx->key.len = p - ctx->key.data;

    return NGX_OK;
}


/* the type of a name ts_media_name() gives this item, or NULL */
ts_media_type_t *
ts_media_key_type(ts_media_ctx_t *ctx, const char *prefix, ngx_str_t *key)
{
    u_char     *p, *hex, *dot;
    size_t      len;
    ngx_str_t   ext;

    /* prefix, id, "-", the random digits, ".", an extension */
    len = ngx_strlen(prefix);

    if (key->len <= len + ctx->route.id.len + 2 * TS_MEDIA_RANDOM + 2) {
        return NULL;
    }

    hex = key->data + len + ctx->route.id.len + 1;
    dot = hex + 2 * TS_MEDIA_RANDOM;

    if (ngx_strncmp(key->data, prefix, len) != 0
        || ngx_strncmp(key->data + len, ctx->route.id.data,
                       ctx->route.id.len) != 0
        || hex[-1] != '-'
        || *dot != '.')
    {
        return NULL;
    }

    for (p = hex; p < dot; p++) {
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) {
            return NULL;
        }
    }

    ext.data = dot + 1;
    ext.len = key->data + key->len - ext.data;

    return ts_media_type_of(&ext, 0);
}


ts_media_type_t *
ts_media_type_of(ngx_str_t *s, ngx_uint_t by_type)
{
    ngx_str_t   *name;
    ngx_uint_t   i;

    for (i = 0; i < sizeof(ts_media_types) / sizeof(ts_media_type_t); i++) {
        name = by_type ? &ts_media_types[i].type
                       : &ts_media_types[i].extension;

        if (s->len == name->len
            && ngx_strncmp(s->data, name->data, name->len) == 0)
        {
            return &ts_media_types[i];
        }
    }

    return NULL;
}


/* a number of the audio's, null when it is "0" (not known) */
static yajl_gen_status
ts_media_known(yajl_gen g, ngx_str_t *n)
{
    if (n->len == 1 && n->data[0] == '0') {
        return yajl_gen_null(g);
    }

    return yajl_gen_number(g, (char *) n->data, n->len);
}


/* {"content_type":...,"size":N,"bitrate_kbps":N,"duration_ms":N}; 0: null */
yajl_gen_status
ts_media_audio_object(yajl_gen g, ngx_str_t *type, ngx_str_t *size,
    ngx_str_t *bitrate, ngx_str_t *duration)
{
    if (yajl_gen_map_open(g) != yajl_gen_status_ok
        || ts_json_literal(g, "content_type") != yajl_gen_status_ok
        || ts_json_str(g, type) != yajl_gen_status_ok
        || ts_json_literal(g, "size") != yajl_gen_status_ok
        || yajl_gen_number(g, (char *) size->data, size->len)
           != yajl_gen_status_ok
        || ts_json_literal(g, "bitrate_kbps") != yajl_gen_status_ok
        || ts_media_known(g, bitrate) != yajl_gen_status_ok
        || ts_json_literal(g, "duration_ms") != yajl_gen_status_ok
        || ts_media_known(g, duration) != yajl_gen_status_ok)
    {
        return yajl_gen_in_error_state;
    }

    return yajl_gen_map_close(g);
}


/* values: TS_MEDIA_AUDIO_FIELDS */
yajl_gen_status
ts_media_audio_json(ngx_http_request_t *r, yajl_gen g, ts_resource_t *rs,
    ngx_str_t *values)
{
    return ts_media_audio_object(g, &values[0], &values[1], &values[2],
                                 &values[3]);
}


ngx_uint_t
ts_media_refused(ngx_http_request_t *r, ngx_int_t probe, ts_audio_info_t *info,
    ngx_uint_t status, const char *what, const char *holder, ngx_int_t *rc)
{
    if (probe == NGX_ERROR) {
        *rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return 1;
    }

    if (probe == NGX_DECLINED) {
        *rc = ts_http_send_error(r, status, "the %s is not audio in a format "
                                 "taken here: MP3, Ogg Vorbis or Opus, FLAC, "
                                 "M4A (AAC)", what);
        return 1;
    }

    if (info->claimed_size) {
        *rc = ts_http_send_error(r, TS_HTTP_UNPROCESSABLE,
                                 "the audio is cut short: its header counts "
                                 "%O bytes of %V, the %s holds %O",
                                 info->claimed_size, &info->format, holder,
                                 info->stream_size);
        return 1;
    }

    return 0;
}
