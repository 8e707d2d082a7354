
/*
 * Tunesheap: the module's configuration, shared by the handlers.
 */


#ifndef _TS_MODULE_H_INCLUDED_
#define _TS_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ts_pg.h"
#include "ts_redis.h"
#include "ts_shm.h"
#include "ts_media_conf.h"


typedef struct ts_sync_s        ts_sync_t;
typedef struct ts_write_ctx_s   ts_write_ctx_t;
typedef struct ts_media_ctx_s   ts_media_ctx_t;


typedef struct {
    ts_pg_pool_conf_t    pg;        /* pg.conninfo.len == 0: none */
    ts_pg_host_t         pg_host;   /* pg.host: its addresses */
    ts_pg_pool_t        *pools[TS_PG_LANES];  /* this worker's, a lane
                                                 each (TS_PG_LANE_*) */
    ngx_uint_t           search;    /* the search lane's connections */
    ngx_array_t         *replicas;  /* ts_replica_conf_t, or NULL */

    ts_redis_conf_t      redis_conf;  /* host.len == 0: no Redis */
    ts_redis_t          *redis;     /* this worker's */
    ts_shm_t            *shm;       /* the node's shared-memory level */
    ngx_msec_t           shm_sync;  /* its window (ts_sync.h) */
    ts_sync_t           *sync;      /* this worker's, keeping shm in step
                                       with the fleet */
    ngx_rbtree_t         fills;     /* keys being filled in this worker */
    ngx_rbtree_node_t    fills_sentinel;

    ngx_flag_t           auth_cache_set;  /* tunesheap_auth_cache seen */
    ngx_msec_t           auth_cache_ttl;  /* 0: API keys are not kept */
    size_t               auth_cache_size;
    ts_shm_t            *auth_shm;  /* the API keys' zone, or NULL */
} ts_main_conf_t;


typedef struct {
    ngx_flag_t           api;
    ngx_str_t            base;      /* the path the API's routes are below */
    size_t               max_body;  /* of a write's JSON */
    ngx_flag_t           auth_read; /* reads need a key with "read" too */
    ngx_flag_t           cache;
    ngx_msec_t           cache_ttl;
    ngx_msec_t           shm_ttl;
    ts_media_conf_t      media;
} ts_loc_conf_t;


typedef struct ts_auth_ctx_s  ts_auth_ctx_t;

/* what a request carries from one phase, or one event, to the next */
typedef struct {
    ts_auth_ctx_t       *auth;      /* its API key, once looked up */
    ts_write_ctx_t      *write;     /* a write's (ts_write.c), from its
                                       body to its answer */
    ts_media_ctx_t      *media;     /* a media route's (ts_media.c) */
    void                *cache;     /* its cache lookup, for the answer */
    ts_pg_lsn_t          fence;     /* the WAL position its answer needs */
    unsigned             fenced:1;  /* fence is known (ts_replica.c) */
    size_t               json_max;  /* a chunked JSON body's limit, counted
                                       as it arrives (ts_write.c); 0: none */
    unsigned             json_over:1;
    ts_media_ctx_t      *s3;        /* an S3 check's subrequest: its
                                       parent's media request */
} ts_request_ctx_t;


extern ngx_module_t  ngx_tunesheap_module;


/* the request's context, made on first use; NULL if out of memory */
ts_request_ctx_t *ts_request_ctx(ngx_http_request_t *r);


#endif /* _TS_MODULE_H_INCLUDED_ */
