
/*
 * Tunesheap: the first cache level, in shared memory.
 *
 * Entries sit in a hash table by the CRC32 of their key, a bucket for
 * about every kilobyte of the zone (a red-black tree of as many entries
 * cost a lookup about twenty cache misses, 3% of a busy node's CPU), and
 * in a queue from most to least recently used; when the slab allocator
 * runs out of room, the least recently used go.  Each entry
 * remembers the versions of the resources it was made from, as this node
 * counted them when it started making it; a write through this node (or
 * one that a reading of Redis's versions found) counts up, so an entry
 * made before it no longer matches.  Those counts are the written[] of the
 * node's ledger (ts_shm_ledger_t), which the cache also uses to know which
 * invalidations Redis may not have.
 *
 * No worker ever waits for the zone's lock: when another holds it, a
 * lookup is a miss (Redis answers) and a store is skipped.  With workers,
 * Postgres, Redis and clients sharing few cores, a lock holder that loses
 * its core would otherwise stall every other worker.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ts_shm.h"


#define TS_SHM_EVICT_MAX  64
#define TS_SHM_BUCKET     1024      /* bytes of the zone per bucket */


typedef struct {
    ngx_queue_t          chain;         /* its bucket's entries */
    ngx_queue_t          lru;
    uint32_t             hash;
    ngx_msec_t           expires;
    ngx_uint_t           versions[TS_RESOURCES_MAX];
    uint32_t             key_len;
    uint32_t             etag_len;
    uint32_t             body_len;
    u_char               data[1];       /* key, ETag, body */
} ts_shm_entry_t;


typedef struct {
    ngx_queue_t         *buckets;
    ngx_uint_t           mask;          /* buckets - 1, a power of two */
    ngx_queue_t          lru;
    ts_shm_ledger_t      ledger;        /* written[]: the versions */
    ngx_atomic_t         remote[TS_RESOURCES_MAX];     /* Redis's, last read */
    ngx_atomic_t         synced;        /* when that reading was sent */
} ts_shm_sh_t;


struct ts_shm_s {
    ts_shm_sh_t         *sh;
    ngx_slab_pool_t     *shpool;
};


static ngx_int_t ts_shm_init(ngx_shm_zone_t *zone, void *data);
static ts_shm_entry_t *ts_shm_find(ts_shm_t *shm, ngx_str_t *key,
    uint32_t hash);
static void ts_shm_delete(ts_shm_t *shm, ts_shm_entry_t *e);
static ngx_uint_t ts_shm_fresh(ts_shm_t *shm, ts_shm_entry_t *e,
    ngx_uint_t deps);


extern ngx_module_t  ngx_tunesheap_module;


ts_shm_t *
ts_shm_add(ngx_conf_t *cf, ngx_str_t *name, size_t size)
{
    ts_shm_t        *shm;
    ngx_shm_zone_t  *zone;

    shm = ngx_pcalloc(cf->pool, sizeof(ts_shm_t));
    if (shm == NULL) {
        return NULL;
    }

    zone = ngx_shared_memory_add(cf, name, size, &ngx_tunesheap_module);
    if (zone == NULL) {
        return NULL;
    }

    zone->init = ts_shm_init;
    zone->data = shm;

    return shm;
}


void
ts_shm_versions(ts_shm_t *shm, ngx_uint_t deps, ngx_uint_t *versions)
{
    ngx_uint_t  i;

    for (i = 0; i < TS_RESOURCES_MAX; i++) {
        versions[i] = (deps & ((ngx_uint_t) 1 << i))
                      ? shm->sh->ledger.written[i] : 0;
    }
}


ts_shm_ledger_t *
ts_shm_ledger(ts_shm_t *shm)
{
    return &shm->sh->ledger;
}


void
ts_shm_sync(ts_shm_t *shm, ngx_msec_t sent, ngx_uint_t n, ngx_uint_t *remote)
{
    ngx_uint_t    i;
    ngx_atomic_t  synced;

    /*
     * what changed in Redis is dropped here before the reading counts;
     * readings that cross only drop more
     */
    for (i = 0; i < n && i < TS_RESOURCES_MAX; i++) {
        if (shm->sh->remote[i] != remote[i]) {
            ngx_log_debug3(NGX_LOG_DEBUG_CORE, ngx_cycle->log, 0,
                           "tunesheap shm: version %ui moved in redis, "
                           "%ui -> %ui", i, shm->sh->remote[i], remote[i]);
            shm->sh->remote[i] = remote[i];
            (void) ngx_atomic_fetch_add(&shm->sh->ledger.written[i], 1);
        }
    }

    for ( ;; ) {
        synced = shm->sh->synced;

        if ((ngx_msec_int_t) (sent - synced) <= 0
            || ngx_atomic_cmp_set(&shm->sh->synced, synced, sent))
        {
            return;
        }
    }
}


ngx_msec_t
ts_shm_synced(ts_shm_t *shm)
{
    return shm->sh->synced;
}


ngx_int_t
ts_shm_get(ts_shm_t *shm, ngx_str_t *key, ngx_uint_t deps, ngx_pool_t *pool,
    ngx_str_t *body, ngx_str_t *etag)
{
    u_char          *p;
    uint32_t         hash;
    ts_shm_entry_t  *e;

    hash = ngx_crc32_short(key->data, key->len);

    /* never wait for another worker: a busy zone is only a miss */
    if (!ngx_shmtx_trylock(&shm->shpool->mutex)) {
        ngx_log_debug0(NGX_LOG_DEBUG_CORE, pool->log, 0,
                       "tunesheap shm: zone busy, a miss");
        return NGX_DECLINED;
    }

    e = ts_shm_find(shm, key, hash);

    if (e == NULL) {
        ngx_shmtx_unlock(&shm->shpool->mutex);
        return NGX_DECLINED;
    }

    if (!ts_shm_fresh(shm, e, deps)) {
        ngx_log_debug1(NGX_LOG_DEBUG_CORE, pool->log, 0,
                       "tunesheap shm: \"%V\" expired or outdated, dropped",
                       key);
        ts_shm_delete(shm, e);
        ngx_shmtx_unlock(&shm->shpool->mutex);
        return NGX_DECLINED;
    }

    p = ngx_pnalloc(pool, e->etag_len + e->body_len);
    if (p == NULL) {
        ngx_shmtx_unlock(&shm->shpool->mutex);
        return NGX_ERROR;
    }

    etag->data = p;
    etag->len = e->etag_len;
    body->data = p + e->etag_len;
    body->len = e->body_len;
    ngx_memcpy(p, e->data + e->key_len, e->etag_len + e->body_len);

    ngx_queue_remove(&e->lru);
    ngx_queue_insert_head(&shm->sh->lru, &e->lru);

    ngx_shmtx_unlock(&shm->shpool->mutex);

    return NGX_OK;
}


void
ts_shm_put(ts_shm_t *shm, ngx_str_t *key, ngx_uint_t deps,
    ngx_uint_t *versions, ngx_str_t *body, ngx_str_t *etag, ngx_msec_t ttl)
{
    size_t           size;
    uint32_t         hash;
    ngx_uint_t       i;
    ngx_queue_t     *q;
    ts_shm_entry_t  *e;

    hash = ngx_crc32_short(key->data, key->len);
    size = offsetof(ts_shm_entry_t, data) + key->len + etag->len + body->len;

    if (!ngx_shmtx_trylock(&shm->shpool->mutex)) {
        ngx_log_debug0(NGX_LOG_DEBUG_CORE, ngx_cycle->log, 0,
                       "tunesheap shm: zone busy, not kept");
        return;
    }

    e = ts_shm_find(shm, key, hash);
    if (e) {
        ts_shm_delete(shm, e);
    }

    /* no room: the least recently used answers go, a bounded number */
    for (i = 0; i < TS_SHM_EVICT_MAX; i++) {
        e = ngx_slab_alloc_locked(shm->shpool, size);
        if (e || ngx_queue_empty(&shm->sh->lru)) {
            break;
        }

        q = ngx_queue_last(&shm->sh->lru);
        ts_shm_delete(shm, ngx_queue_data(q, ts_shm_entry_t, lru));
    }

    ngx_log_debug3(NGX_LOG_DEBUG_CORE, ngx_cycle->log, 0,
                   "tunesheap shm: %s \"%V\", evicted:%ui",
                   e ? "kept" : "no room for", key, i);

    if (e == NULL) {
        ngx_shmtx_unlock(&shm->shpool->mutex);
        return;
    }

    e->hash = hash;
    e->expires = ngx_current_msec + ttl;
    e->key_len = key->len;
    e->etag_len = etag->len;
    e->body_len = body->len;

    for (i = 0; i < TS_RESOURCES_MAX; i++) {
        e->versions[i] = (deps & ((ngx_uint_t) 1 << i)) ? versions[i] : 0;
    }

    ngx_memcpy(ngx_cpymem(ngx_cpymem(e->data, key->data, key->len),
                          etag->data, etag->len),
               body->data, body->len);

    ngx_queue_insert_head(&shm->sh->buckets[hash & shm->sh->mask], &e->chain);
    ngx_queue_insert_head(&shm->sh->lru, &e->lru);

    ngx_shmtx_unlock(&shm->shpool->mutex);
}


static ngx_int_t
ts_shm_init(ngx_shm_zone_t *zone, void *data)
{
    ts_shm_t    *old = data;
    ts_shm_t    *shm;
    ngx_uint_t   i, n;

    shm = zone->data;

    if (old) {
        /* a reload keeps the zone and what it holds */
        shm->sh = old->sh;
        shm->shpool = old->shpool;
        return NGX_OK;
    }

    shm->shpool = (ngx_slab_pool_t *) zone->shm.addr;

    if (zone->shm.exists) {
        shm->sh = shm->shpool->data;
        return NGX_OK;
    }

    shm->sh = ngx_slab_calloc(shm->shpool, sizeof(ts_shm_sh_t));
    if (shm->sh == NULL) {
        return NGX_ERROR;
    }

    shm->shpool->data = shm->sh;

    for (n = 1; n < zone->shm.size / TS_SHM_BUCKET; n <<= 1) {
        /* void */
    }

    shm->sh->buckets = ngx_slab_alloc(shm->shpool, n * sizeof(ngx_queue_t));
    if (shm->sh->buckets == NULL) {
        return NGX_ERROR;
    }

    shm->sh->mask = n - 1;

    for (i = 0; i < n; i++) {
        ngx_queue_init(&shm->sh->buckets[i]);
    }

    ngx_queue_init(&shm->sh->lru);

    shm->shpool->log_nomem = 0;

    return NGX_OK;
}


static ts_shm_entry_t *
ts_shm_find(ts_shm_t *shm, ngx_str_t *key, uint32_t hash)
{
    ngx_queue_t     *bucket, *q;
    ts_shm_entry_t  *e;

    bucket = &shm->sh->buckets[hash & shm->sh->mask];

    for (q = ngx_queue_head(bucket);
         q != ngx_queue_sentinel(bucket);
         q = ngx_queue_next(q))
    {
        e = ngx_queue_data(q, ts_shm_entry_t, chain);

        if (e->hash == hash && e->key_len == key->len
            && ngx_memcmp(e->data, key->data, key->len) == 0)
        {
            return e;
        }
    }

    return NULL;
}


static void
ts_shm_delete(ts_shm_t *shm, ts_shm_entry_t *e)
{
    ngx_queue_remove(&e->chain);
    ngx_queue_remove(&e->lru);
    ngx_slab_free_locked(shm->shpool, e);
}


static ngx_uint_t
ts_shm_fresh(ts_shm_t *shm, ts_shm_entry_t *e, ngx_uint_t deps)
{
    ngx_uint_t  i;

    if ((ngx_msec_int_t) (e->expires - ngx_current_msec) <= 0) {
        return 0;
    }

    for (i = 0; i < TS_RESOURCES_MAX; i++) {
        if ((deps & ((ngx_uint_t) 1 << i))
            && e->versions[i] != shm->sh->ledger.written[i])
        {
            return 0;
        }
    }

    return 1;
}
