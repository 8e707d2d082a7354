
/*
 * Tunesheap: the songs' audio.  Files under a media root, handed to
 * nginx's static file path by an internal redirect, with links signed by
 * an HMAC of our own; or objects in S3 behind CloudFront, with CloudFront
 * (or S3) signed links and presigned uploads.
 */


#ifndef _TS_MEDIA_H_INCLUDED_
#define _TS_MEDIA_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <yajl/yajl_gen.h>

#include "ts_router.h"
#include "ts_media_conf.h"


/* a song's audio for ts_media_audio_json(): "type size bitrate duration" */
#define TS_MEDIA_AUDIO_SQL                                                   \
    "CASE WHEN audio_key IS NOT NULL THEN concat_ws(' ', audio_type, "       \
    "audio_size, coalesce(audio_bitrate_kbps, 0), "                          \
    "coalesce(audio_duration_ms, 0)) END"

/* for ts_media_stream_json(): "id window key", the window in SQL's clock */
#define TS_MEDIA_STREAM_SQL                                                  \
    "CASE WHEN audio_key IS NOT NULL THEN concat_ws(' ', id, "               \
    "floor(extract(epoch FROM now()) / " ngx_value(TS_MEDIA_WINDOW)          \
    ")::bigint * " ngx_value(TS_MEDIA_WINDOW) ", audio_key) END"

/*
 * A song's ETag as ts_resource.c computes it (ts_sql_etag(): the names,
 * then the row of what the API shows), for If-Match on its audio; a
 * column added to songs is added here too (t/130-media.t checks it).
 */
#define TS_MEDIA_SONG_ETAG_SQL                                               \
    "md5('songs(id,album_id,artist_id,title,track_number,duration_ms,"       \
    "audio,stream_url)' || ROW(id, album_id, artist_id, title, "             \
    "track_number, duration_ms, " TS_MEDIA_AUDIO_SQL ", "                    \
    TS_MEDIA_STREAM_SQL ")::text)"


/* the statements media uses, prepared on every Postgres connection */
extern const char  ts_media_setup[];


/* the stream, audio, upload and upload/complete routes */
ngx_int_t ts_media_handler(ngx_http_request_t *r, ts_route_t *route);

/* the "audio" and "stream_url" values of an item, from their columns */
yajl_gen_status ts_media_audio_json(yajl_gen g, const char *value,
    size_t len);
yajl_gen_status ts_media_stream_json(ngx_http_request_t *r, yajl_gen g,
    const char *value, size_t len);


#endif /* _TS_MEDIA_H_INCLUDED_ */
