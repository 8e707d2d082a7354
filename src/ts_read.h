
/*
 * Tunesheap: the read side of the catalog (items, lists, nested lists).
 */


#ifndef _TS_READ_H_INCLUDED_
#define _TS_READ_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ts_pg.h"
#include "ts_router.h"


#define TS_LIMIT_DEFAULT  20
#define TS_LIMIT_MAX      100


/* GET and HEAD of lists, items and nested lists */
ngx_int_t ts_read_handler(ngx_http_request_t *r, ts_route_t *route);

/* the limit argument, TS_LIMIT_DEFAULT when absent; NGX_ERROR if invalid */
ngx_int_t ts_read_limit(ngx_http_request_t *r, int64_t *limit);

#define TS_LIMIT_ERROR  "limit must be an integer from 1 to 100"


#endif /* _TS_READ_H_INCLUDED_ */
