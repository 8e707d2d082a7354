
/*
 * Tunesheap: reads on Postgres streaming replicas.
 *
 * Read-after-write.  A write on the primary is followed, on the same
 * connection, by the primary's WAL end (ts_pg.c): the node keeps the
 * newest in its zone, and the write's bump of the cache versions raises
 * the resources' fences in Redis to it, in the same script as the
 * versions (ts_cache.c).  A lookup that misses reads the fences of the
 * answer's resources with their versions, atomically: whoever sees a
 * version sees a fence at or past the write that made it.  The read then
 * goes to a replica whose replay, as last polled, is at or past that
 * fence, else to the primary.  Replay only goes forward, so an old poll
 * is a safe lower bound: a lagging replica answers nothing it has not
 * replayed, and nothing older than a write is stored under the versions
 * that write made.  A read without a fence (no Redis, Redis down, a
 * resource with a bump pending, the cache off) goes to the primary.
 *
 * Each worker polls every replica's replay (TS_PG_REPLAYED) every
 * TS_REPLICA_POLL ms on the replica's health lane, so a busy replica's
 * reads do not delay its poll, and again as soon as a read finds it
 * behind its fence (at most every TS_REPLICA_SOON ms): a replica that
 * catches up with a write takes its resource's reads back within a round
 * trip.  A replica whose poll has not answered for a second gets no reads
 * (stopped, frozen, unreachable) until one does.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ts_module.h"
#include "ts_replica.h"


#define TS_REPLICA_SOON  10     /* ms between polls asked for by reads */


typedef struct {
    ts_pg_pool_t        *pools[TS_PG_LANES];
    ts_pg_query_t        poll;
    ngx_msec_t           sent;        /* when the last poll was */
    ngx_str_t            name;        /* for the log: its conninfo */
    unsigned             polling:1;
    unsigned             primary:1;   /* it said it is not in recovery */
} ts_replica_t;


static ngx_int_t ts_replica_zone_init(ngx_shm_zone_t *zone, void *data);
static void ts_replica_poll_handler(ngx_event_t *ev);
static void ts_replica_soon_handler(ngx_event_t *ev);
static void ts_replica_poll(ts_replica_t *rp);
static void ts_replica_polled(ts_pg_query_t *q);


/*
 * A commit not flushed is not sent to the replicas: with the server's
 * synchronous_commit off, a write would reach them only at the WAL
 * writer's next flush (wal_writer_delay later), and its resource's reads
 * would stay on the primary that long; "local" flushes it at commit, and
 * waits for no standby.  A setting other than off is left as it is.
 */
const char  ts_replica_setup[] =
    "SELECT set_config('synchronous_commit', 'local', false)"
    " WHERE current_setting('synchronous_commit') = 'off';"
    "PREPARE " TS_PG_WAL_LSN " AS"
    " SELECT pg_current_wal_insert_lsn() - '0/0'::pg_lsn;"
    "PREPARE " TS_PG_REPLAYED " AS"
    " SELECT pg_last_wal_replay_lsn() - '0/0'::pg_lsn;";


static ngx_atomic_t   *ts_replica_lsn;       /* the node's, in its zone */
static ts_replica_t   *ts_replicas;          /* this worker's */
static ngx_uint_t      ts_nreplicas;
static ngx_event_t     ts_replica_poll_event;
static ngx_event_t     ts_replica_soon_event;


char *
ts_replica_init_main_conf(ngx_conf_t *cf, ts_main_conf_t *tmcf)
{
    ngx_str_t           name = ngx_string("tunesheap_replica");
    ngx_uint_t          i;
    ngx_shm_zone_t     *zone;
    ts_replica_conf_t  *rc;

    ts_replica_lsn = NULL;

    if (tmcf->replicas == NULL) {
        return NGX_CONF_OK;
    }

    if (tmcf->pg.conninfo.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"tunesheap_postgres_replica\" needs "
                           "\"tunesheap_postgres\" (the primary)");
        return NGX_CONF_ERROR;
    }

    zone = ngx_shared_memory_add(cf, &name, 8 * ngx_pagesize,
                                 &ngx_tunesheap_module);
    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }

    zone->init = ts_replica_zone_init;

    rc = tmcf->replicas->elts;

    for (i = 0; i < tmcf->replicas->nelts; i++) {
        /* pooled like the primary, unless told otherwise */
        if (rc[i].pg.size == NGX_CONF_UNSET_UINT) {
            rc[i].pg.size = tmcf->pg.size;
        }

        if (rc[i].pg.depth == NGX_CONF_UNSET_UINT) {
            rc[i].pg.depth = tmcf->pg.depth;
        }

        rc[i].pg.queue = tmcf->pg.queue;
        rc[i].pg.connect_timeout = tmcf->pg.connect_timeout;
        rc[i].pg.query_timeout = tmcf->pg.query_timeout;
        rc[i].pg.setup = tmcf->pg.setup;
        rc[i].pg.written = NULL;

        if (ts_pg_host_conf(cf, &rc[i].pg.conninfo, tmcf->pg_host.resolver,
                            tmcf->pg_host.timeout, &rc[i].host)
            != NGX_CONF_OK)
        {
            return NGX_CONF_ERROR;
        }

        rc[i].pg.host = &rc[i].host;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ts_replica_zone_init(ngx_shm_zone_t *zone, void *data)
{
    ngx_slab_pool_t  *shpool;

    shpool = (ngx_slab_pool_t *) zone->shm.addr;

    if (zone->shm.exists || shpool->data) {
        /* a reload keeps the zone, and the WAL position in it */
        ts_replica_lsn = shpool->data;
        return NGX_OK;
    }

    ts_replica_lsn = ngx_slab_calloc(shpool, sizeof(ngx_atomic_t));
    if (ts_replica_lsn == NULL) {
        return NGX_ERROR;
    }

    shpool->data = (void *) ts_replica_lsn;

    return NGX_OK;
}


ngx_int_t
ts_replica_init_process(ngx_cycle_t *cycle, ts_main_conf_t *tmcf)
{
    ngx_uint_t          i, lane;
    ts_replica_t       *rp;
    ts_replica_conf_t  *rc;
    ts_pg_pool_conf_t   conf, *primary;

    ts_nreplicas = 0;

    if (tmcf->replicas == NULL || ts_replica_lsn == NULL) {
        return NGX_OK;
    }

    ts_replicas = ngx_pcalloc(cycle->pool,
                              tmcf->replicas->nelts * sizeof(ts_replica_t));
    if (ts_replicas == NULL) {
        return NGX_ERROR;
    }

    rc = tmcf->replicas->elts;

    for (i = 0; i < tmcf->replicas->nelts; i++) {
        rp = &ts_replicas[i];
        rp->name = rc[i].pg.conninfo;

        /* lanes as the primary's (ngx_http_tunesheap_init_process) */
        for (lane = 0; lane < TS_PG_LANES; lane++) {
            conf = rc[i].pg;

            if (lane != TS_PG_LANE_FAST) {
                primary = ts_pg_pool_conf(tmcf->pools[lane]);
                conf.size = primary->size;
                conf.depth = primary->depth;
            }

            rp->pools[lane] = ts_pg_pool_create(cycle, &conf);
            if (rp->pools[lane] == NULL) {
                return NGX_ERROR;
            }

            if (lane != TS_PG_LANE_HEALTH
                && ts_pg_pool_add_replica(tmcf->pools[lane], rp->pools[lane],
                                          cycle->pool)
                   != NGX_OK)
            {
                return NGX_ERROR;
            }

            ts_pg_pool_on_behind(rp->pools[lane], &ts_replica_soon_event);
        }

        rp->poll.statement = TS_PG_REPLAYED;
        rp->poll.lane = TS_PG_LANE_HEALTH;
        rp->poll.done = ts_replica_polled;
        rp->poll.data = rp;
        rp->poll.log = cycle->log;
    }

    ts_nreplicas = tmcf->replicas->nelts;

    ts_replica_poll_event.handler = ts_replica_poll_handler;
    ts_replica_poll_event.data = ts_replicas;   /* debug logs read it */
    ts_replica_poll_event.log = cycle->log;
    ts_replica_poll_event.cancelable = 1;
    ngx_add_timer(&ts_replica_poll_event, 1);

    ts_replica_soon_event.handler = ts_replica_soon_handler;
    ts_replica_soon_event.data = ts_replicas;
    ts_replica_soon_event.log = cycle->log;

    return NGX_OK;
}


void
ts_replica_exit_process(ngx_cycle_t *cycle, ts_main_conf_t *tmcf)
{
    ngx_uint_t  i, lane;

    if (ts_replica_poll_event.timer_set) {
        ngx_del_timer(&ts_replica_poll_event);
    }

    if (ts_replica_soon_event.posted) {
        ngx_delete_posted_event(&ts_replica_soon_event);
    }

    for (i = 0; i < ts_nreplicas; i++) {
        if (ts_replicas[i].polling) {
            ts_pg_query_cancel(&ts_replicas[i].poll);
            ts_replicas[i].polling = 0;
        }

        for (lane = 0; lane < TS_PG_LANES; lane++) {
            ts_pg_pool_destroy(ts_replicas[i].pools[lane]);
        }
    }

    ts_nreplicas = 0;
}


ngx_atomic_t *
ts_replica_counter(void)
{
    return ts_replica_lsn;
}


ts_pg_lsn_t
ts_replica_written(void)
{
    return ts_replica_lsn ? (ts_pg_lsn_t) *ts_replica_lsn : 0;
}


void
ts_replica_fenced(ngx_http_request_t *r, redisReply *lsn)
{
    ts_request_ctx_t  *rctx;

    rctx = ts_request_ctx(r);

    if (rctx == NULL || lsn->type != REDIS_REPLY_INTEGER
        || lsn->integer < 0)
    {
        return;
    }

    rctx->fence = (ts_pg_lsn_t) lsn->integer;
    rctx->fenced = 1;
}


void
ts_replica_read(ngx_http_request_t *r, ts_pg_query_t *q)
{
    ts_request_ctx_t  *rctx;

    rctx = ngx_http_get_module_ctx(r, ngx_tunesheap_module);

    if (rctx && rctx->fenced) {
        q->replica = 1;
        q->fence = rctx->fence;
    }
}


static void
ts_replica_poll_handler(ngx_event_t *ev)
{
    ngx_uint_t  i;

    for (i = 0; i < ts_nreplicas; i++) {
        ts_replica_poll(&ts_replicas[i]);
    }

    if (!ngx_exiting && !ngx_terminate && !ngx_quit) {
        ngx_add_timer(ev, TS_REPLICA_POLL);
    }
}


/* a read found a replica behind its fence: it may have caught up since */
static void
ts_replica_soon_handler(ngx_event_t *ev)
{
    ngx_uint_t     i;
    ts_replica_t  *rp;

    for (i = 0; i < ts_nreplicas; i++) {
        rp = &ts_replicas[i];

        if (ngx_current_msec - rp->sent >= TS_REPLICA_SOON) {
            ts_replica_poll(rp);
        }
    }
}


static void
ts_replica_poll(ts_replica_t *rp)
{
    if (rp->polling) {
        /* the last one is still out: its deadline ends it */
        return;
    }

    rp->polling = 1;
    rp->sent = ngx_current_msec;

    if (ts_pg_query(rp->pools[TS_PG_LANE_HEALTH], &rp->poll) != NGX_OK) {
        rp->polling = 0;
    }
}


static void
ts_replica_polled(ts_pg_query_t *q)
{
    ngx_uint_t     lane;
    ts_pg_lsn_t    lsn;
    ts_replica_t  *rp;

    rp = q->data;
    rp->polling = 0;

    if (q->rc != TS_PG_OK) {
        /* not answered: it goes stale and its reads go to the primary */
        ngx_log_debug2(NGX_LOG_DEBUG_EVENT, ngx_cycle->log, 0,
                       "tunesheap replica: \"%V\" poll failed, rc:%ui",
                       &rp->name, q->rc);
        return;
    }

    lsn = ts_pg_result_lsn(q->result);

    ngx_log_debug3(NGX_LOG_DEBUG_EVENT, ngx_cycle->log, 0,
                   "tunesheap replica: \"%V\" replayed:%uL, %M ms",
                   &rp->name, lsn, ngx_current_msec - rp->sent);

    if (lsn == 0 && !rp->primary) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "tunesheap: postgres replica \"%V\" is not in "
                      "recovery: no reads go to it", &rp->name);
    }

    rp->primary = (lsn == 0);

    for (lane = 0; lane < TS_PG_LANES; lane++) {
        ts_pg_pool_replayed(rp->pools[lane], lsn);
    }
}
