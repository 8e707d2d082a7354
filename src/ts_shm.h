
/*
 * Tunesheap: the first cache level, in a shared-memory zone that every
 * worker of one nginx reads: bounded in size (least recently used answers
 * go first), each answer kept a short time.  A write through this nginx
 * makes the answers it affects unreachable at once; a write through
 * another node reaches this zone through the versions Redis keeps
 * (ts_sync.h).
 */


#ifndef _TS_SHM_H_INCLUDED_
#define _TS_SHM_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ts_resource.h"


typedef struct ts_shm_s  ts_shm_t;

/*
 * deps below: a set of resources, bit i (ts_resource_bit()) for the i-th
 * of ts_resources[]; its version is slot i of the arrays here
 */


/*
 * Per resource: the writes through this node (also the versions answers
 * in the zone are made at), and the newest of them whose invalidation
 * Redis acknowledged or failed to take (ts_cache.c); read without lock.
 */
typedef struct {
    ngx_atomic_t         written[TS_RESOURCES_MAX];
    ngx_atomic_t         acked[TS_RESOURCES_MAX];
    ngx_atomic_t         failed[TS_RESOURCES_MAX];
} ts_shm_ledger_t;


/* the zone, made at configuration time; size in bytes */
ts_shm_t *ts_shm_add(ngx_conf_t *cf, ngx_str_t *name, size_t size);

/* the versions of the resources in deps, as this node knows them */
void ts_shm_versions(ts_shm_t *shm, ngx_uint_t deps, ngx_uint_t *versions);

/* the node's ledger of writes and invalidations, in the zone */
ts_shm_ledger_t *ts_shm_ledger(ts_shm_t *shm);

/*
 * The versions Redis keeps for the first n resources, read by a reading
 * sent at sent (ts_sync.h): those that changed are bumped here.
 */
void ts_shm_sync(ts_shm_t *shm, ngx_msec_t sent, ngx_uint_t n,
    ngx_uint_t *remote);

/* when the last reading applied was sent */
ngx_msec_t ts_shm_synced(ts_shm_t *shm);

/*
 * The answer kept for key, copied into pool, if it is younger than its
 * TTL and was made at the versions the resources in deps have now.
 */
ngx_int_t ts_shm_get(ts_shm_t *shm, ngx_str_t *key, ngx_uint_t deps,
    ngx_pool_t *pool, ngx_str_t *body, ngx_str_t *etag);

/* keeps an answer made at versions (read before it was made) for ttl */
void ts_shm_put(ts_shm_t *shm, ngx_str_t *key, ngx_uint_t deps,
    ngx_uint_t *versions, ngx_str_t *body, ngx_str_t *etag, ngx_msec_t ttl);


#endif /* _TS_SHM_H_INCLUDED_ */
