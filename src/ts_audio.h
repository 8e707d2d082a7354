
/*
 * Tunesheap: what an uploaded file is, told from its bytes alone (never its
 * name or Content-Type): MP3, Ogg Vorbis, Ogg Opus, FLAC or AAC in MP4, and
 * what its headers say of its length and sound.
 */


#ifndef _TS_AUDIO_H_INCLUDED_
#define _TS_AUDIO_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


typedef struct {
    ngx_str_t    content_type;   /* "audio/mpeg", "audio/ogg", "audio/flac",
                                    "audio/mp4" */
    ngx_str_t    extension;      /* "mp3", "ogg", "opus", "flac", "m4a" */
    ngx_str_t    format;         /* "mp3", "vorbis", "opus", "flac", "aac" */
    off_t        size;           /* bytes */
    ngx_uint_t   duration_ms;    /* 0: unknown */
    ngx_uint_t   bitrate_kbps;   /* average; 0: unknown */
    ngx_uint_t   sample_rate;    /* Hz; Opus always 48000 */
    ngx_uint_t   channels;
    off_t        stream_size;    /* bytes of audio the file holds */
    off_t        claimed_size;   /* bytes its header counts, when it counts
                                    them and the file holds fewer: a cut
                                    file, whose duration would be a lie;
                                    0: whole, or not told */
} ts_audio_info_t;


/*
 * The file open on fd, size bytes long: NGX_OK and info filled if it is
 * audio we accept, NGX_DECLINED if not, NGX_ERROR if it cannot be read
 * (logged).  Reads a few bounded pieces of the file into a static buffer:
 * not for use from threads.
 */
ngx_int_t ts_audio_probe(ngx_fd_t fd, off_t size, ts_audio_info_t *info,
    ngx_log_t *log);


/* bytes of a file from offset on, as a ranged GET of it gave them */
typedef struct {
    off_t        offset;
    size_t       len;
    u_char      *data;
} ts_audio_piece_t;

/*
 * The same probe over the pieces of a file known so far (an S3 object's
 * ranges): NGX_AGAIN when it needs bytes no piece holds, *want and
 * *want_len then say which (the call is repeated with them added).
 */
ngx_int_t ts_audio_probe_pieces(ts_audio_piece_t *pieces, ngx_uint_t n,
    off_t size, ts_audio_info_t *info, off_t *want, size_t *want_len,
    ngx_log_t *log);


#endif /* _TS_AUDIO_H_INCLUDED_ */
