
/*
 * Tunesheap: HTTP helpers shared by every resource: JSON responses with
 * strong ETags and conditional requests, JSON errors, query arguments.
 */


#ifndef _TS_HTTP_H_INCLUDED_
#define _TS_HTTP_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


#define TS_HTTP_ARG_MAX  200    /* bytes in a decoded text argument */

/* nginx 1.22 has no name for it */
#define TS_HTTP_UNPROCESSABLE  422


/*
 * Sends body as JSON with status.  A 200 gets etag, or else a hash of the
 * body, and becomes a 304 when If-None-Match matches it.  Returns what the
 * content handler returns.
 */
ngx_int_t ts_http_send_json(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *body, ngx_str_t *etag);

/* the ETag of a body: a 64-bit hash of it, 16 hex digits */
ngx_int_t ts_http_body_etag(ngx_http_request_t *r, ngx_str_t *body,
    ngx_str_t *etag);

/* an ETag from the len hex digits of a hash */
ngx_int_t ts_http_etag(ngx_http_request_t *r, u_char *hex, size_t len,
    ngx_str_t *etag);

/* adds a response header; key and value must outlive the request */
ngx_int_t ts_http_header(ngx_http_request_t *r, const char *key,
    ngx_str_t *value, ngx_table_elt_t **ref);

/* 204, with the ETag if any: what a content handler returns */
ngx_int_t ts_http_send_no_content(ngx_http_request_t *r, ngx_str_t *etag);

/* {"error":{"status":N,"message":"..."}} with status */
ngx_int_t ts_http_send_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *fmt, ...);

/* a response to a content handler that returned NGX_DONE */
void ts_http_finish(ngx_http_request_t *r, ngx_int_t rc);

/*
 * r waits for events of ours: held (r->main->count) until ts_http_finish(),
 * and ended, its cleanups run, if its client goes away meanwhile
 */
void ts_http_hold(ngx_http_request_t *r);

/*
 * The decoded value of query argument name ('+' is a space).  NGX_OK,
 * NGX_DECLINED when it is absent, NGX_ERROR when it is not valid UTF-8,
 * holds a NUL or a control character, or is longer than TS_HTTP_ARG_MAX.
 */
ngx_int_t ts_http_arg(ngx_http_request_t *r, const char *name,
    ngx_str_t *value);

/* whether a directive's parameter arg is name=value; value set if it is */
ngx_uint_t ts_http_conf_param(ngx_str_t *arg, const char *name,
    ngx_str_t *value);

/* a non-negative decimal integer that fits in int64_t, else NGX_ERROR */
ngx_int_t ts_http_parse_int(ngx_str_t *s, int64_t *n);

/* a NUL-terminated copy, as libpq takes parameters; NULL if no memory */
char *ts_http_cstr(ngx_pool_t *pool, ngx_str_t *s);

/* registers a handler run when the request is freed */
ngx_int_t ts_http_cleanup(ngx_http_request_t *r, ngx_pool_cleanup_pt handler,
    void *data);

/*
 * tunesheap_error: the location of the server's error_page, answering
 * nginx's own errors as the JSON error (with Retry-After on a 429)
 */
char *ts_http_error_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/*
 * Warns when a file holding a secret (a private key) may be read or
 * written by every user of the machine: nginx's master reads it as root,
 * nobody else needs to (0600, or 0640 with a group of its own).
 */
void ts_http_check_secret_file(ngx_conf_t *cf, u_char *name);

/* that location's handler (the header filter knows its answers by it) */
ngx_int_t ts_http_error_handler(ngx_http_request_t *r);


#endif /* _TS_HTTP_H_INCLUDED_ */
