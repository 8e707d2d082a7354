
/*
 * Tunesheap: recognising uploaded audio.
 *
 * The first 64 KB of the file (after any ID3v2 tags) tell the format; the
 * last 64 KB give an Ogg stream's final granule position (a page is at
 * most 65307 bytes, so the last one starts there); MP4 is walked box by
 * box, reading only headers and the few small boxes that matter, since
 * moov may sit after megabytes of mdat.  Every length in the file is
 * checked against what was read and what contains it: uploads are hostile.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ts_audio.h"


#define TS_AUDIO_BUF_SIZE      65536
#define TS_AUDIO_ID3_MAX       4            /* ID3v2 tags in a row */
#define TS_AUDIO_BOX_MAX       1000         /* MP4 boxes walked */
#define TS_AUDIO_BOX_HEAD      192          /* header and a small box */

/* beyond any upload; keeps bytes * 8 and the like far from overflow */
#define TS_AUDIO_SIZE_MAX      ((off_t) 1 << 40)

/* values past these come from broken headers: "unknown" instead */
#define TS_AUDIO_MS_MAX        (24 * 3600 * 1000)
#define TS_AUDIO_KBPS_MAX      100000

/* past these the file is broken, whatever else it says */
#define TS_AUDIO_RATE_MAX      768000
#define TS_AUDIO_CHANNELS_MAX  255

#define ts_audio_be16(p)  ((uint32_t) (p)[0] << 8 | (p)[1])
#define ts_audio_be24(p)  ((uint32_t) (p)[0] << 16 | (uint32_t) (p)[1] << 8 \
                           | (p)[2])
#define ts_audio_be32(p)  ((uint32_t) (p)[0] << 24 | ts_audio_be24((p) + 1))
#define ts_audio_be64(p)  ((uint64_t) ts_audio_be32(p) << 32                \
                           | ts_audio_be32((p) + 4))
#define ts_audio_le16(p)  ((uint32_t) (p)[1] << 8 | (p)[0])
#define ts_audio_le32(p)  ((uint32_t) (p)[3] << 24 | (uint32_t) (p)[2] << 16 \
                           | ts_audio_le16(p))
#define ts_audio_le64(p)  ((uint64_t) ts_audio_le32((p) + 4) << 32          \
                           | ts_audio_le32(p))

#define ts_audio_fourcc(a, b, c, d)                                         \
    ((uint32_t) (a) << 24 | (uint32_t) (b) << 16 | (uint32_t) (c) << 8 | (d))

#define TS_MP4_MOOV  ts_audio_fourcc('m', 'o', 'o', 'v')
#define TS_MP4_MVHD  ts_audio_fourcc('m', 'v', 'h', 'd')
#define TS_MP4_TRAK  ts_audio_fourcc('t', 'r', 'a', 'k')
#define TS_MP4_MDIA  ts_audio_fourcc('m', 'd', 'i', 'a')
#define TS_MP4_MDHD  ts_audio_fourcc('m', 'd', 'h', 'd')
#define TS_MP4_HDLR  ts_audio_fourcc('h', 'd', 'l', 'r')
#define TS_MP4_MINF  ts_audio_fourcc('m', 'i', 'n', 'f')
#define TS_MP4_STBL  ts_audio_fourcc('s', 't', 'b', 'l')
#define TS_MP4_STSD  ts_audio_fourcc('s', 't', 's', 'd')
#define TS_MP4_SOUN  ts_audio_fourcc('s', 'o', 'u', 'n')
#define TS_MP4_VIDE  ts_audio_fourcc('v', 'i', 'd', 'e')
#define TS_MP4_MP4A  ts_audio_fourcc('m', 'p', '4', 'a')


typedef struct {
    ngx_uint_t           kbps;
    ngx_uint_t           rate;
    ngx_uint_t           channels;
    ngx_uint_t           samples;       /* per frame */
    size_t               length;        /* bytes, with padding */
    size_t               xing;          /* where a Xing/Info tag would be */
} ts_audio_mp3_frame_t;


typedef struct {
    uint32_t             handler;       /* hdlr */
    uint32_t             entry;         /* first sample entry of stsd */
    uint32_t             rate;
    uint32_t             channels;
    uint32_t             timescale;     /* mdhd */
    uint64_t             duration;
} ts_audio_mp4_trak_t;


typedef struct {
    ngx_fd_t             fd;
    ngx_log_t           *log;
    ngx_uint_t           boxes;
    ngx_uint_t           video;
    ngx_uint_t           audio;
    uint32_t             timescale;     /* mvhd */
    uint64_t             duration;
    ts_audio_mp4_trak_t  trak;          /* the one being walked */
    ts_audio_mp4_trak_t  sound;         /* the first AAC track */
} ts_audio_mp4_t;


static ngx_int_t ts_audio_mp3(ngx_fd_t fd, u_char *buf, size_t n,
    off_t start, off_t size, ts_audio_info_t *info, ngx_log_t *log);
static ngx_int_t ts_audio_mp3_frame(u_char *p, ts_audio_mp3_frame_t *f);
static ngx_int_t ts_audio_ogg(ngx_fd_t fd, u_char *buf, size_t n,
    off_t size, ts_audio_info_t *info, ngx_log_t *log);
static ngx_int_t ts_audio_ogg_last(ngx_fd_t fd, u_char *buf, off_t size,
    uint32_t serial, uint64_t *granule, ngx_log_t *log);
static ngx_int_t ts_audio_flac(u_char *p, size_t n, off_t size,
    ts_audio_info_t *info);
static ngx_int_t ts_audio_mp4(ngx_fd_t fd, off_t size,
    ts_audio_info_t *info, ngx_log_t *log);
static ngx_int_t ts_audio_mp4_walk(ts_audio_mp4_t *mp4, uint32_t parent,
    off_t start, off_t end);
static ngx_uint_t ts_audio_mp4_container(uint32_t parent, uint32_t type);
static void ts_audio_mp4_time(u_char *p, size_t len, uint32_t *timescale,
    uint64_t *duration);
static void ts_audio_mp4_stsd(ts_audio_mp4_trak_t *trak, u_char *p,
    size_t len);
static ngx_uint_t ts_audio_mp4_esds(u_char *p, size_t len);
static size_t ts_audio_id3_size(u_char *p, size_t n);
static ssize_t ts_audio_read(ngx_fd_t fd, u_char *buf, size_t len,
    off_t offset, ngx_log_t *log);
static ngx_uint_t ts_audio_ms(uint64_t samples, uint64_t rate);
static ngx_uint_t ts_audio_kbps(uint64_t bytes, ngx_uint_t ms);


static u_char  ts_audio_buf[TS_AUDIO_BUF_SIZE];

/* what ts_audio_read() reads from when it has no file (fd is invalid) */
static ts_audio_piece_t  *ts_audio_pieces;
static ngx_uint_t         ts_audio_npieces;
static off_t              ts_audio_size;
static off_t              ts_audio_want;
static size_t             ts_audio_want_len;

/* Layer III, by MPEG-1 or not, then the header's index */
static ngx_uint_t  ts_audio_mp3_kbps[2][16] = {
    { 0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 0 },
    { 0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 0 }
};

/* by the header's version (2.5, reserved, 2, 1), then its index */
static ngx_uint_t  ts_audio_mp3_rates[4][4] = {
    { 11025, 12000, 8000, 0 },
    { 0, 0, 0, 0 },
    { 22050, 24000, 16000, 0 },
    { 44100, 48000, 32000, 0 }
};


ngx_int_t
ts_audio_probe_pieces(ts_audio_piece_t *pieces, ngx_uint_t n, off_t size,
    ts_audio_info_t *info, off_t *want, size_t *want_len, ngx_log_t *log)
{
    ngx_int_t  rc;

    ts_audio_pieces = pieces;
    ts_audio_npieces = n;
    ts_audio_size = size;

    rc = ts_audio_probe(NGX_INVALID_FILE, size, info, log);

    ts_audio_pieces = NULL;
    ts_audio_npieces = 0;

    if (rc == NGX_AGAIN) {
        *want = ts_audio_want;
        *want_len = ts_audio_want_len;
    }

    return rc;
}


ngx_int_t
ts_audio_probe(ngx_fd_t fd, off_t size, ts_audio_info_t *info,
    ngx_log_t *log)
{
    off_t       start;
    size_t      tag;
    ssize_t     n;
    ngx_int_t   rc;
    ngx_uint_t  i;

    ngx_memzero(info, sizeof(ts_audio_info_t));
    info->size = size;

    if (size <= 0 || size > TS_AUDIO_SIZE_MAX) {
        return NGX_DECLINED;
    }

    /* MP3 and FLAC may follow ID3v2 tags, which may hold big pictures */
    start = 0;

    for (i = 0; /* void */; i++) {
        n = ts_audio_read(fd, ts_audio_buf, TS_AUDIO_BUF_SIZE, start, log);
        if (n == NGX_ERROR || n == NGX_AGAIN) {
            return n;
        }

        tag = ts_audio_id3_size(ts_audio_buf, n);
        if (tag == 0) {
            break;
        }

        if (i == TS_AUDIO_ID3_MAX || (off_t) tag >= size - start) {
            return NGX_DECLINED;
        }

        start += tag;
    }

    if (n >= 4 && ngx_memcmp(ts_audio_buf, "fLaC", 4) == 0) {
        rc = ts_audio_flac(ts_audio_buf, n, size, info);

    } else if (start == 0 && n >= 4
               && ngx_memcmp(ts_audio_buf, "OggS", 4) == 0)
    {
        rc = ts_audio_ogg(fd, ts_audio_buf, n, size, info, log);

    } else if (start == 0 && n >= 8
               && ngx_memcmp(ts_audio_buf + 4, "ftyp", 4) == 0)
    {
        rc = ts_audio_mp4(fd, size, info, log);

    } else {
        rc = ts_audio_mp3(fd, ts_audio_buf, n, start, size, info, log);
    }

    if (rc != NGX_OK) {
        return rc;
    }

    if (info->sample_rate > TS_AUDIO_RATE_MAX
        || info->channels > TS_AUDIO_CHANNELS_MAX)
    {
        return NGX_DECLINED;
    }

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, log, 0,
                   "tunesheap: audio %V, %ui ms, %ui kbit/s, %ui Hz",
                   &info->format, info->duration_ms, info->bitrate_kbps,
                   info->sample_rate);

    return NGX_OK;
}


static ngx_int_t
ts_audio_mp3(ngx_fd_t fd, u_char *buf, size_t n, off_t start, off_t size,
    ts_audio_info_t *info, ngx_log_t *log)
{
    u_char                *p, *last, *tag;
    u_char                 v1[3];
    ssize_t                got;
    uint32_t               flags;
    uint64_t               audio, frames, bytes, claimed;
    ngx_uint_t             vbr;
    ts_audio_mp3_frame_t   f, next;

    p = buf;
    last = buf + n;

    /* padding after an ID3v2 tag is not always counted in its size */
    while (p < last && *p == 0) {
        p++;
    }

    /* a frame header where the stream starts, and a matching one after it */
    if (last - p < 4 || ts_audio_mp3_frame(p, &f) != NGX_OK) {
        return NGX_DECLINED;
    }

    if ((size_t) (last - p) < f.length + 4
        || ts_audio_mp3_frame(p + f.length, &next) != NGX_OK
        || (p[1] & 0xfe) != (p[f.length + 1] & 0xfe)
        || next.rate != f.rate
        || next.channels != f.channels)
    {
        return NGX_DECLINED;
    }

    start += p - buf;
    audio = size - start;

    /* an ID3v1 tag at the end is not audio */
    if (audio > 128 + f.length) {
        got = ts_audio_read(fd, v1, 3, size - 128, log);
        if (got == NGX_ERROR || got == NGX_AGAIN) {
            return got;
        }

        if (got == 3 && ngx_memcmp(v1, "TAG", 3) == 0) {
            audio -= 128;
        }
    }

    /* the first frame may count the frames: Xing/Info (LAME) or VBRI */
    frames = 0;
    bytes = 0;
    vbr = 0;
    tag = p + f.xing;

    if (f.length >= f.xing + 16
        && (ngx_memcmp(tag, "Xing", 4) == 0
            || ngx_memcmp(tag, "Info", 4) == 0))
    {
        /* "Info" is LAME's mark of a constant bit rate */
        vbr = (tag[0] == 'X');
        flags = ts_audio_be32(tag + 4);
        tag += 8;

        if (flags & 1) {
            frames = ts_audio_be32(tag);
            tag += 4;
        }

        if (flags & 2) {
            bytes = ts_audio_be32(tag);
        }

    } else if (f.length >= 36 + 18 && ngx_memcmp(p + 36, "VBRI", 4) == 0) {
        vbr = 1;
        bytes = ts_audio_be32(p + 36 + 10);
        frames = ts_audio_be32(p + 36 + 14);
    }

    /*
     * A file cut short still has its first frame's counts: the bytes, or
     * for a constant bit rate the frames (each at least a frame without
     * padding).  Past two frames of slack, the stream is not all there.
     */
    claimed = bytes;

    if (claimed == 0 && frames && !vbr) {
        claimed = frames * (f.length - ((p[2] >> 1) & 1));
    }

    info->stream_size = audio;

    if (claimed > audio + 2 * f.length) {
        info->claimed_size = claimed;
    }

    /* the audio bytes a VBR header counts, if they are believable */
    if (bytes == 0 || bytes > audio) {
        bytes = audio;
    }

    ngx_str_set(&info->format, "mp3");
    ngx_str_set(&info->content_type, "audio/mpeg");
    ngx_str_set(&info->extension, "mp3");
    info->sample_rate = f.rate;
    info->channels = f.channels;

    if (frames) {
        info->duration_ms = ts_audio_ms(frames * f.samples, f.rate);
        info->bitrate_kbps = vbr ? ts_audio_kbps(bytes, info->duration_ms)
                                 : f.kbps;

    } else {
        /* without a count, a constant bit rate */
        info->duration_ms = ts_audio_ms(audio * 8, f.kbps * 1000);
        info->bitrate_kbps = f.kbps;
    }

    return NGX_OK;
}


static ngx_int_t
ts_audio_mp3_frame(u_char *p, ts_audio_mp3_frame_t *f)
{
    ngx_uint_t  version, mpeg1;

    if (p[0] != 0xff || (p[1] & 0xe0) != 0xe0) {
        return NGX_DECLINED;
    }

    version = (p[1] >> 3) & 3;

    /* Layer III only; no free format; emphasis 2 is reserved */
    if (version == 1 || ((p[1] >> 1) & 3) != 1 || (p[3] & 3) == 2) {
        return NGX_DECLINED;
    }

    mpeg1 = (version == 3);

    f->kbps = ts_audio_mp3_kbps[!mpeg1][p[2] >> 4];
    f->rate = ts_audio_mp3_rates[version][(p[2] >> 2) & 3];

    if (f->kbps == 0 || f->rate == 0) {
        return NGX_DECLINED;
    }

    f->channels = ((p[3] >> 6) == 3) ? 1 : 2;
    f->samples = mpeg1 ? 1152 : 576;
    f->length = f->samples / 8 * f->kbps * 1000 / f->rate + ((p[2] >> 1) & 1);

    /* after the header and the side information */
    f->xing = 4 + (mpeg1 ? (f->channels == 2 ? 32 : 17)
                         : (f->channels == 2 ? 17 : 9));

    return NGX_OK;
}


static ngx_int_t
ts_audio_ogg(ngx_fd_t fd, u_char *buf, size_t n, off_t size,
    ts_audio_info_t *info, ngx_log_t *log)
{
    u_char      *p;
    size_t       len, segs, i;
    uint32_t     serial, nominal;
    uint64_t     granule, skip;
    ngx_int_t    rc;
    ngx_uint_t   opus;

    /*
     * The first page begins a stream (version 0, "beginning of stream")
     * and holds its identification header alone.
     */
    if (n < 27 || buf[4] != 0 || !(buf[5] & 0x02)) {
        return NGX_DECLINED;
    }

    segs = buf[26];

    if (27 + segs > n) {
        return NGX_DECLINED;
    }

    len = 0;

    for (i = 0; i < segs; i++) {
        len += buf[27 + i];

        if (buf[27 + i] < 255) {
            break;
        }
    }

    if (i == segs || len > n - 27 - segs) {
        return NGX_DECLINED;
    }

    p = buf + 27 + segs;
    serial = ts_audio_le32(buf + 14);
    nominal = 0;
    skip = 0;

    if (len >= 30 && p[0] == 1 && ngx_memcmp(p + 1, "vorbis", 6) == 0) {
        opus = 0;

        if (ts_audio_le32(p + 7) != 0 || p[11] == 0
            || ts_audio_le32(p + 12) == 0 || !(p[29] & 1))
        {
            return NGX_DECLINED;
        }

        info->channels = p[11];
        info->sample_rate = ts_audio_le32(p + 12);

        /* a signed field; 0 or less: not set */
        nominal = ts_audio_le32(p + 20);
        if (nominal > 0x7fffffff) {
            nominal = 0;
        }

    } else if (len >= 19 && ngx_memcmp(p, "OpusHead", 8) == 0) {
        opus = 1;

        /* major version 0; Opus decodes at 48 kHz whatever the input was */
        if ((p[8] & 0xf0) != 0 || p[9] == 0) {
            return NGX_DECLINED;
        }

        info->channels = p[9];
        info->sample_rate = 48000;
        skip = ts_audio_le16(p + 10);

    } else {
        return NGX_DECLINED;
    }

    ngx_str_set(&info->content_type, "audio/ogg");

    if (opus) {
        ngx_str_set(&info->format, "opus");
        ngx_str_set(&info->extension, "opus");

    } else {
        ngx_str_set(&info->format, "vorbis");
        ngx_str_set(&info->extension, "ogg");
    }

    rc = ts_audio_ogg_last(fd, buf, size, serial, &granule, log);
    if (rc == NGX_ERROR || rc == NGX_AGAIN) {
        return rc;
    }

    /* the last granule position counts samples, Opus' pre-skip included */
    if (rc == NGX_OK && granule > skip) {
        info->duration_ms = ts_audio_ms(granule - skip, info->sample_rate);
    }

    info->bitrate_kbps = info->duration_ms
                         ? ts_audio_kbps(size, info->duration_ms)
                         : (nominal + 500) / 1000;

    return NGX_OK;
}


static ngx_int_t
ts_audio_ogg_last(ngx_fd_t fd, u_char *buf, off_t size, uint32_t serial,
    uint64_t *granule, ngx_log_t *log)
{
    u_char   *p;
    off_t     offset;
    size_t    segs, page, pos, i;
    ssize_t   n;

    offset = (size > TS_AUDIO_BUF_SIZE) ? size - TS_AUDIO_BUF_SIZE : 0;

    n = ts_audio_read(fd, buf, size - offset, offset, log);
    if (n == NGX_ERROR || n == NGX_AGAIN) {
        return n;
    }

    if (n < 27) {
        return NGX_DECLINED;
    }

    /* the last whole page of this stream on which a packet ends */
    for (pos = n - 27 + 1; pos-- > 0; /* void */) {
        p = buf + pos;

        if (p[0] != 'O' || ngx_memcmp(p, "OggS", 4) != 0 || p[4] != 0
            || ts_audio_le32(p + 14) != serial)
        {
            continue;
        }

        segs = p[26];
        page = 27 + segs;

        if (page > (size_t) n - pos) {
            continue;
        }

        for (i = 0; i < segs; i++) {
            page += p[27 + i];
        }

        if (page > (size_t) n - pos) {
            continue;
        }

        *granule = ts_audio_le64(p + 6);

        /* -1: no packet ends on this page */
        if (*granule == (uint64_t) -1) {
            continue;
        }

        return NGX_OK;
    }

    return NGX_DECLINED;
}


static ngx_int_t
ts_audio_flac(u_char *p, size_t n, off_t size, ts_audio_info_t *info)
{
    u_char    *si;
    uint64_t   samples;

    /* "fLaC", then STREAMINFO: a block header and 34 bytes */
    if (n < 4 + 4 + 34 || (p[4] & 0x7f) != 0 || ts_audio_be24(p + 5) != 34) {
        return NGX_DECLINED;
    }

    si = p + 8;

    /* blocks of 16 to 65535 samples, the smallest first */
    if (ts_audio_be16(si) < 16 || ts_audio_be16(si) > ts_audio_be16(si + 2)) {
        return NGX_DECLINED;
    }

    /* 20 bits of rate, 3 of channels - 1, 5 of bits - 1, 36 of samples */
    info->sample_rate = (ngx_uint_t) si[10] << 12 | si[11] << 4 | si[12] >> 4;
    info->channels = ((si[12] >> 1) & 7) + 1;
    samples = (uint64_t) (si[13] & 0x0f) << 32 | ts_audio_be32(si + 14);

    if (info->sample_rate == 0) {
        return NGX_DECLINED;
    }

    ngx_str_set(&info->format, "flac");
    ngx_str_set(&info->content_type, "audio/flac");
    ngx_str_set(&info->extension, "flac");

    /* 0 samples: not known */
    info->duration_ms = ts_audio_ms(samples, info->sample_rate);
    info->bitrate_kbps = ts_audio_kbps(size, info->duration_ms);

    return NGX_OK;
}


static ngx_int_t
ts_audio_mp4(ngx_fd_t fd, off_t size, ts_audio_info_t *info, ngx_log_t *log)
{
    ngx_int_t        rc;
    ts_audio_mp4_t   mp4;

    ngx_memzero(&mp4, sizeof(ts_audio_mp4_t));
    mp4.fd = fd;
    mp4.log = log;

    rc = ts_audio_mp4_walk(&mp4, 0, 0, size);
    if (rc != NGX_OK) {
        return rc;
    }

    /* audio, and only audio: an MP4 with a video track is a video */
    if (!mp4.audio || mp4.video) {
        return NGX_DECLINED;
    }

    /* the 16.16 rate of a sample entry cannot hold 96 kHz; mdhd can */
    info->sample_rate = mp4.sound.rate ? mp4.sound.rate : mp4.sound.timescale;
    info->channels = mp4.sound.channels;

    if (info->sample_rate == 0 || info->channels == 0) {
        return NGX_DECLINED;
    }

    ngx_str_set(&info->format, "aac");
    ngx_str_set(&info->content_type, "audio/mp4");
    ngx_str_set(&info->extension, "m4a");

    /* the movie's duration has the edit lists applied (encoder delay) */
    info->duration_ms = ts_audio_ms(mp4.duration, mp4.timescale);

    if (info->duration_ms == 0) {
        info->duration_ms = ts_audio_ms(mp4.sound.duration,
                                        mp4.sound.timescale);
    }

    info->bitrate_kbps = ts_audio_kbps(size, info->duration_ms);

    return NGX_OK;
}


/*
 * The boxes from start to end, inside parent (0: the file): only the path
 * moov/trak/mdia/minf/stbl is walked into, so the depth is bounded.
 */

static ngx_int_t
ts_audio_mp4_walk(ts_audio_mp4_t *mp4, uint32_t parent, off_t start,
    off_t end)
{
    u_char               *body;
    u_char                buf[TS_AUDIO_BOX_HEAD];
    off_t                 offset;
    size_t                head, len;
    ssize_t               n;
    uint32_t              type;
    uint64_t              box;
    ngx_int_t             rc;
    ts_audio_mp4_trak_t  *trak;

    trak = &mp4->trak;

    for (offset = start; end - offset >= 8; offset += box) {

        if (++mp4->boxes > TS_AUDIO_BOX_MAX) {
            return NGX_DECLINED;
        }

        n = ts_audio_read(mp4->fd, buf,
                          ngx_min((off_t) sizeof(buf), end - offset),
                          offset, mp4->log);
        if (n == NGX_ERROR || n == NGX_AGAIN) {
            return n;
        }

        if (n < 8) {
            return NGX_DECLINED;
        }

        /* 1: a 64-bit size follows the type; 0: up to the end */
        box = ts_audio_be32(buf);
        type = ts_audio_be32(buf + 4);
        head = 8;

        if (box == 1) {
            if (n < 16) {
                return NGX_DECLINED;
            }

            box = ts_audio_be64(buf + 8);
            head = 16;

        } else if (box == 0) {
            box = end - offset;
        }

        if (box < head || box > (uint64_t) (end - offset)) {
            return NGX_DECLINED;
        }

        body = buf + head;
        len = ngx_min((uint64_t) n, box) - head;

        if (ts_audio_mp4_container(parent, type)) {

            if (type == TS_MP4_TRAK) {
                ngx_memzero(trak, sizeof(ts_audio_mp4_trak_t));
            }

            rc = ts_audio_mp4_walk(mp4, type, offset + head, offset + box);
            if (rc != NGX_OK) {
                return rc;
            }

            if (type != TS_MP4_TRAK) {
                continue;
            }

            if (trak->handler == TS_MP4_VIDE) {
                mp4->video = 1;
            }

            if (trak->handler == TS_MP4_SOUN && trak->entry == TS_MP4_MP4A
                && !mp4->audio)
            {
                mp4->sound = *trak;
                mp4->audio = 1;
            }

            continue;
        }

        switch (parent) {

        case TS_MP4_MOOV:
            if (type == TS_MP4_MVHD) {
                ts_audio_mp4_time(body, len, &mp4->timescale,
                                  &mp4->duration);
            }
            break;

        case TS_MP4_MDIA:
            if (type == TS_MP4_MDHD) {
                ts_audio_mp4_time(body, len, &trak->timescale,
                                  &trak->duration);

            } else if (type == TS_MP4_HDLR && len >= 12) {
                /* version, flags, pre_defined, handler_type */
                trak->handler = ts_audio_be32(body + 8);
            }
            break;

        case TS_MP4_STBL:
            if (type == TS_MP4_STSD) {
                ts_audio_mp4_stsd(trak, body, len);
            }
            break;
        }
    }

    return NGX_OK;
}


static ngx_uint_t
ts_audio_mp4_container(uint32_t parent, uint32_t type)
{
    switch (type) {
    case TS_MP4_MOOV:
        return parent == 0;
    case TS_MP4_TRAK:
        return parent == TS_MP4_MOOV;
    case TS_MP4_MDIA:
        return parent == TS_MP4_TRAK;
    case TS_MP4_MINF:
        return parent == TS_MP4_MDIA;
    case TS_MP4_STBL:
        return parent == TS_MP4_MINF;
    }

    return 0;
}


/* the timescale and duration of an mvhd or mdhd body, versions 0 and 1 */

static void
ts_audio_mp4_time(u_char *p, size_t len, uint32_t *timescale,
    uint64_t *duration)
{
    if (len >= 32 && p[0] == 1) {
        *timescale = ts_audio_be32(p + 20);
        *duration = ts_audio_be64(p + 24);

    } else if (len >= 20 && p[0] == 0) {
        *timescale = ts_audio_be32(p + 12);
        *duration = ts_audio_be32(p + 16);

        /* all ones: not known */
        if (*duration == 0xffffffff) {
            *duration = 0;
        }
    }
}


/*
 * An stsd body: version, flags, entry count, then the first sample entry:
 * size, format, 8 bytes, version, revision, vendor, channels, sample size,
 * 4 bytes, 16.16 sample rate; QuickTime's versions 1 and 2 add 16 and 36
 * bytes; then the entry's own boxes, esds for AAC.
 */

static void
ts_audio_mp4_stsd(ts_audio_mp4_trak_t *trak, u_char *p, size_t len)
{
    u_char      *entry;
    size_t       size, esds, esds_size;
    ngx_uint_t   version, channels;

    if (len < 8 + 36 || ts_audio_be32(p + 4) == 0) {
        return;
    }

    entry = p + 8;
    size = ngx_min(ts_audio_be32(entry), len - 8);
    version = ts_audio_be16(entry + 16);

    trak->entry = ts_audio_be32(entry + 4);
    trak->channels = ts_audio_be16(entry + 24);
    trak->rate = (version == 2) ? 0 : ts_audio_be32(entry + 32) >> 16;

    /* AAC's own configuration has the channels: ffmpeg says 2 for mono */
    esds = 36 + ((version == 1) ? 16 : (version == 2) ? 36 : 0);

    if (size < esds + 12 || ngx_memcmp(entry + esds + 4, "esds", 4) != 0) {
        return;
    }

    esds_size = ngx_min(ts_audio_be32(entry + esds), size - esds);

    if (esds_size < 12) {
        return;
    }

    channels = ts_audio_mp4_esds(entry + esds + 12, esds_size - 12);
    if (channels) {
        trak->channels = channels;
    }
}


/*
 * The channels an esds' descriptors give, 0 if they do not say: ES (tag
 * 3) holds DecoderConfig (4), which holds DecoderSpecificInfo (5), AAC's
 * AudioSpecificConfig: 5 bits of object type (31: 6 more), 4 of rate
 * index (15: 24 more), 4 of channel configuration.
 */

static ngx_uint_t
ts_audio_mp4_esds(u_char *p, size_t len)
{
    size_t      i;
    uint64_t    bits;
    ngx_uint_t  tag, flags, n, pos, conf;

    i = 0;

    for (tag = 3; tag <= 5; tag++) {
        if (i >= len || p[i++] != tag) {
            return 0;
        }

        /* a length, 7 bits a byte, in 1 to 4 bytes: bounds are len's */
        for (n = 0; n < 4; n++) {
            if (i >= len) {
                return 0;
            }

            if (!(p[i++] & 0x80)) {
                break;
            }
        }

        if (tag == 3) {
            /* ES_ID, flags, then a dependency, a URL, an OCR ES_ID */
            if (len - i < 3) {
                return 0;
            }

            flags = p[i + 2];
            i += 3 + ((flags & 0x80) ? 2 : 0);

            if (flags & 0x40) {
                if (i >= len) {
                    return 0;
                }

                i += 1 + p[i];
            }

            i += (flags & 0x20) ? 2 : 0;

        } else if (tag == 4) {
            /* object type, stream type, buffer size, bit rates */
            i += 13;
        }
    }

    if (i >= len) {
        return 0;
    }

    for (bits = 0, n = 0; n < 6; n++) {
        bits = bits << 8 | ((i + n < len) ? p[i + n] : 0);
    }

    pos = ((bits >> 43) == 31) ? 11 : 5;

    if (((bits >> (44 - pos)) & 0xf) == 15) {
        pos += 24;
    }

    pos += 4;

    if ((len - i) * 8 < pos + 4) {
        return 0;
    }

    conf = (bits >> (44 - pos)) & 0xf;

    return (conf == 7) ? 8 : (conf <= 6) ? conf : 0;
}


/* the whole size of an ID3v2 tag at p, or 0 if none is there */

static size_t
ts_audio_id3_size(u_char *p, size_t n)
{
    if (n < 10 || ngx_memcmp(p, "ID3", 3) != 0 || p[3] == 0xff
        || p[4] == 0xff || ((p[6] | p[7] | p[8] | p[9]) & 0x80))
    {
        return 0;
    }

    /* a header, 28 bits of size (7 a byte), a footer if flagged */
    return 10 + ((size_t) p[6] << 21 | p[7] << 14 | p[8] << 7 | p[9])
           + ((p[5] & 0x10) ? 10 : 0);
}


static ssize_t
ts_audio_read(ngx_fd_t fd, u_char *buf, size_t len, off_t offset,
    ngx_log_t *log)
{
    off_t              end;
    size_t             done;
    ssize_t            n;
    ngx_uint_t         i;
    ts_audio_piece_t  *pc;

    if (fd == NGX_INVALID_FILE) {
        /* as pread() would: what there is up to the end of the file */
        if (offset >= ts_audio_size) {
            return 0;
        }

        end = ngx_min(offset + (off_t) len, ts_audio_size);

        for (i = 0; i < ts_audio_npieces; i++) {
            pc = &ts_audio_pieces[i];

            if (pc->offset <= offset
                && end <= pc->offset + (off_t) pc->len)
            {
                ngx_memcpy(buf, pc->data + (offset - pc->offset),
                           (size_t) (end - offset));
                return (ssize_t) (end - offset);
            }
        }

        ts_audio_want = offset;
        ts_audio_want_len = (size_t) (end - offset);

        return NGX_AGAIN;
    }

    for (done = 0; done < len; done += n) {
        n = pread(fd, buf + done, len - done, offset + done);

        if (n == -1) {
            if (ngx_errno == NGX_EINTR) {
                n = 0;
                continue;
            }

            ngx_log_error(NGX_LOG_CRIT, log, ngx_errno,
                          "tunesheap: pread() of an upload failed");
            return NGX_ERROR;
        }

        if (n == 0) {
            break;
        }
    }

    return done;
}


static ngx_uint_t
ts_audio_ms(uint64_t samples, uint64_t rate)
{
    if (rate == 0 || samples / rate >= TS_AUDIO_MS_MAX / 1000) {
        return 0;
    }

    return samples / rate * 1000 + samples % rate * 1000 / rate;
}


/* bits per millisecond are kbit/s */

static ngx_uint_t
ts_audio_kbps(uint64_t bytes, ngx_uint_t ms)
{
    uint64_t  kbps;

    if (ms == 0) {
        return 0;
    }

    kbps = (bytes * 8 + ms / 2) / ms;

    return (kbps > TS_AUDIO_KBPS_MAX) ? 0 : kbps;
}
