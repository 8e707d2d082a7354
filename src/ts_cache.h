
/*
 * Tunesheap: the response cache.  Whole GET bodies are kept in Redis under
 * keys that carry a version per resource; a write bumps its resource's
 * version, so every response it affects becomes unreachable at once, on
 * every node sharing the Redis.  Concurrent misses of one key in a worker
 * share one Postgres query.
 */


#ifndef _TS_CACHE_H_INCLUDED_
#define _TS_CACHE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ts_module.h"


/*
 * Starts the work that makes the answer: NGX_DONE when it will end with
 * ts_cache_send(), else the status it already answered with.
 */
typedef ngx_int_t (*ts_cache_fill_pt)(ngx_http_request_t *r, void *data);

/*
 * deps: a bit per resource (ts_resources[]) the answer is made from;
 * args: the names of the query arguments the handler reads (as it reads
 * them: the first occurrence), NULL-terminated.  The key is the path and
 * those arguments in that order: other arguments do not make another key.
 */
ngx_int_t ts_cache_get(ngx_http_request_t *r, ngx_uint_t deps,
    ngx_str_t *args, ts_cache_fill_pt fill, void *data);

/* answers; a 200 is stored and given to the requests that waited for it */
ngx_int_t ts_cache_send(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *body, ngx_str_t *etag);

/*
 * After a write to the resources in deps: their versions go up, then
 * done(r) runs (at once when there is no Redis or it is down).  A bump
 * Redis did not take is sent again until it does (see ts_cache.c).
 */
void ts_cache_invalidate(ngx_http_request_t *r, ngx_uint_t deps,
    void (*done)(ngx_http_request_t *r));

/* this worker's Redis connection, and its table of keys being filled */
ngx_int_t ts_cache_init_process(ngx_cycle_t *cycle, ts_main_conf_t *tmcf);

/*
 * Closes this worker's Redis connection: no pending command's callback
 * runs; its bumps not yet acknowledged stay pending in the node's zone
 */
void ts_cache_exit_process(ngx_cycle_t *cycle, ts_main_conf_t *tmcf);

/* $tunesheap_cache, what X-Cache says */
ngx_int_t ts_cache_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);

/*
 * A PING to this worker's Redis: NGX_OK, cmd->done() comes within
 * tunesheap_redis_timeout (with NULL if Redis did not answer in time);
 * NGX_DECLINED: not connected; NGX_ABORT: no Redis configured.
 */
ngx_int_t ts_cache_redis_ping(ngx_http_request_t *r, ts_redis_cmd_t *cmd);


#endif /* _TS_CACHE_H_INCLUDED_ */
