
/*
 * Tunesheap: a request's JSON body.
 */


#ifndef _TS_BODY_H_INCLUDED_
#define _TS_BODY_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <yajl/yajl_tree.h>


/*
 * Reads a JSON body (415 unless it says it is JSON, 413 past
 * tunesheap_max_body_size), then calls handler: what a content handler
 * returns.
 */
ngx_int_t ts_body_read_json(ngx_http_request_t *r,
    ngx_http_client_body_handler_pt handler);

/* the body read, parsed; NULL when *rc was answered (400, 413, 500) */
yajl_val ts_body_json(ngx_http_request_t *r, ngx_int_t *rc);

/* installs the request body filter that counts chunked JSON bodies */
ngx_int_t ts_body_init(ngx_conf_t *cf);

/* the whole body in one piece, NUL-terminated */
ngx_int_t ts_body_text(ngx_http_request_t *r, ngx_str_t *text);


#endif /* _TS_BODY_H_INCLUDED_ */
