
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

/* run on every Postgres connection (db/schema.sql's songs_album_artist) */
extern const char  ts_write_setup[];


#endif /* _TS_WRITE_H_INCLUDED_ */
