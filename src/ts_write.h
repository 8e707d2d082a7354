
/*
 * Tunesheap: the write side of the catalog (create, replace, update,
 * delete) for any resource, from its description.
 */


#ifndef _TS_WRITE_H_INCLUDED_
#define _TS_WRITE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <yajl/yajl_tree.h>

#include "ts_router.h"


/* POST to a list, PUT, PATCH and DELETE of an item; the key is checked */
ngx_int_t ts_write_handler(ngx_http_request_t *r, ts_route_t *route);

/*
 * Reads a JSON body (415 unless it says it is JSON, 413 past
 * tunesheap_max_body_size), then calls handler: what a content handler
 * returns.
 */
ngx_int_t ts_write_read_json(ngx_http_request_t *r,
    ngx_http_client_body_handler_pt handler);

/* the body read, parsed; NULL when *rc was answered (400, 413, 500) */
yajl_val ts_write_json(ngx_http_request_t *r, ngx_int_t *rc);

/* run on every Postgres connection (db/schema.sql's songs_album_artist) */
extern const char  ts_write_setup[];

/* installs the request body filter that counts chunked JSON bodies */
ngx_int_t ts_write_init(ngx_conf_t *cf);

/*
 * If-Match as a text[] parameter of the strong tags it lists, or NULL
 * (none, or "*")
 */
const char *ts_write_if_match(ngx_http_request_t *r);


#endif /* _TS_WRITE_H_INCLUDED_ */
