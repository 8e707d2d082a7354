
/*
 * Tunesheap: the glue between a request and the Postgres pool.
 */


#ifndef _TS_QUERY_H_INCLUDED_
#define _TS_QUERY_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ts_pg.h"


/*
 * Sends q for r: NGX_OK, and q->done() answers later; NGX_ERROR, it failed
 * at once, q->rc says why.  The query is cancelled if the request goes
 * away first (first: the first query of q for r).  The caller holds the
 * request (r->main->count) while it waits.
 */
ngx_int_t ts_query_send(ngx_http_request_t *r, ts_pg_query_t *q,
    ngx_uint_t first);

/* the worker's pools are still opening the connections it warms */
ngx_uint_t ts_query_warming(ngx_http_request_t *r);

/* answers r with a failed query's error; returns the status to finish */
ngx_int_t ts_query_error(ngx_http_request_t *r, ts_pg_query_t *q);

/*
 * If-Match as a text[] parameter of the strong tags it lists, or NULL
 * (none, or "*")
 */
const char *ts_query_if_match(ngx_http_request_t *r);


#endif /* _TS_QUERY_H_INCLUDED_ */
