
/*
 * Tunesheap: the read side of the catalog (items, lists, nested lists),
 * and the plumbing every handler uses to query Postgres for a request.
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

/*
 * Sends q for r: NGX_OK, and q->done() answers later; NGX_ERROR, it failed
 * at once, q->rc says why.  The query is cancelled if the request goes
 * away first (first: the first query of q for r).  The caller holds the
 * request (r->main->count) while it waits.
 */
ngx_int_t ts_read_query(ngx_http_request_t *r, ts_pg_query_t *q,
    ngx_uint_t first);

/* answers r with a failed query's error; returns the status to finish */
ngx_int_t ts_read_query_error(ngx_http_request_t *r, ts_pg_query_t *q);

/* the limit argument, TS_LIMIT_DEFAULT when absent; NGX_ERROR if invalid */
ngx_int_t ts_read_limit(ngx_http_request_t *r, int64_t *limit);

#define TS_LIMIT_ERROR  "limit must be an integer from 1 to 100"


#endif /* _TS_READ_H_INCLUDED_ */
