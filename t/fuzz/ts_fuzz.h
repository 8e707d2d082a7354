
/*
 * Tunesheap fuzzing: a dynamic module that Debian's nginx loads next to
 * an instrumented build of ours (t/fuzz/build.sh).  Once nginx has read
 * t/fuzz/nginx.conf and its worker starts, libFuzzer runs one target
 * (TS_FUZZ_TARGET) on requests made by hand: the module's own handlers
 * answer them, nginx's HTTP edge is replaced by recorders (ts_fuzz.c).
 */


#ifndef _TS_FUZZ_H_INCLUDED_
#define _TS_FUZZ_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


typedef struct {
    ngx_str_t            method;
    ngx_str_t            uri;            /* decoded path, then ?args */
    ngx_str_t            content_type;   /* the headers, when data != NULL */
    ngx_str_t            if_match;
    ngx_str_t            authorization;
    ngx_str_t            body;           /* data != NULL: there is one */
} ts_fuzz_req_t;


typedef int (*ts_fuzz_one_pt)(const uint8_t *data, size_t size);


/*
 * A request to the location marked "tunesheap_fuzz loc": every piece is
 * copied into an allocation of its own, as are all of its pool's, so
 * that ASan sees a read past any of them.
 */
ngx_http_request_t *ts_fuzz_request(const char *loc, ts_fuzz_req_t *req);

/*
 * Runs the location's content handler (the module's entry, as nginx
 * would), checks the answer (ts_fuzz.c says what), frees the request.
 */
void ts_fuzz_run(ngx_http_request_t *r);

/* checks the answer and frees the request, for targets calling inside */
void ts_fuzz_finish(ngx_http_request_t *r, ngx_int_t rc);

/* a copy of data in a malloc() of its own */
u_char *ts_fuzz_copy(ngx_pool_t *pool, const void *data, size_t len);

/* when set, API keys are checked for real; else every request has one */
extern ngx_uint_t  ts_fuzz_real_auth;


int ts_fuzz_target_request(const uint8_t *data, size_t size);
int ts_fuzz_target_args(const uint8_t *data, size_t size);
int ts_fuzz_target_json(const uint8_t *data, size_t size);
int ts_fuzz_target_if_match(const uint8_t *data, size_t size);
int ts_fuzz_target_link(const uint8_t *data, size_t size);
int ts_fuzz_target_audio(const uint8_t *data, size_t size);
int ts_fuzz_target_auth(const uint8_t *data, size_t size);
int ts_fuzz_target_s3(const uint8_t *data, size_t size);


#endif /* _TS_FUZZ_H_INCLUDED_ */
