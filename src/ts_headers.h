
/*
 * Tunesheap: the headers every answer of the API's server carries, set in
 * one header filter: X-Content-Type-Options, Cache-Control (public reads
 * shared briefly, keyed and write answers never), and CORS (off unless
 * configured, with the preflight answered here).  A module of its own in
 * the same shared object (`config`), so that it has a filter and a phase
 * handler of its own.
 */


#ifndef _TS_HEADERS_H_INCLUDED_
#define _TS_HEADERS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/* a request's header by name (case-insensitive), or NULL */
ngx_table_elt_t *ts_headers_in(ngx_http_request_t *r, const char *name,
    size_t len);

/* a response header already set, or NULL */
ngx_table_elt_t *ts_headers_out(ngx_http_request_t *r, const char *name,
    size_t len);


extern ngx_module_t  ngx_tunesheap_headers_module;


#endif /* _TS_HEADERS_H_INCLUDED_ */
