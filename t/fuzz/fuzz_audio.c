
/*
 * Tunesheap fuzzing: the audio probes (ts_audio.c: MP3 frames and ID3,
 * Ogg pages of Vorbis and Opus, FLAC, MP4 boxes).  The input is the
 * uploaded file.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <sys/mman.h>

#include "ts_audio.h"
#include "ts_fuzz.h"


int
ts_fuzz_target_audio(const uint8_t *data, size_t size)
{
    ts_audio_info_t  info;

    static int  fd = -1;

    if (fd == -1) {
        fd = memfd_create("ts-fuzz-audio", 0);
        if (fd == -1) {
            abort();
        }
    }

    if (ftruncate(fd, 0) != 0
        || (size && pwrite(fd, data, size, 0) != (ssize_t) size))
    {
        abort();
    }

    ngx_memzero(&info, sizeof(ts_audio_info_t));

    if (ts_audio_probe(fd, size, &info, ngx_cycle->log) == NGX_OK) {
        /* what is recorded must be what was told */
        if (info.size != (off_t) size || info.content_type.len == 0
            || info.extension.len == 0 || info.format.len == 0)
        {
            fprintf(stderr, "tunesheap fuzz: accepted audio without a "
                    "type or with another size\n");
            abort();
        }
    }

    return 0;
}


/*
 * The probes read pieces of the file into a static buffer that keeps the
 * bytes of earlier files: past what a read gave, the buffer is poisoned,
 * so that looking at stale bytes is an ASan report (-Wl,--wrap=pread).
 */

void __asan_poison_memory_region(void const volatile *addr, size_t size);
void __asan_unpoison_memory_region(void const volatile *addr, size_t size);

ssize_t __real_pread(int fd, void *buf, size_t len, off_t offset);


ssize_t
__wrap_pread(int fd, void *buf, size_t len, off_t offset)
{
    ssize_t  n;

    __asan_unpoison_memory_region(buf, len);

    n = __real_pread(fd, buf, len, offset);

    if (n >= 0 && (size_t) n < len) {
        __asan_poison_memory_region((u_char *) buf + n, len - n);
    }

    return n;
}
