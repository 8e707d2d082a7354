
/*
 * Tunesheap: the response cache.
 *
 * One Redis round trip looks a GET up: a Lua script reads the versions of
 * the resources the answer is made from, builds the versioned key and
 * reads it.  A miss stores the answer under that same key, read before
 * Postgres was asked: if a write came in between, the key it is stored
 * under is already out of reach.  A write answers its client only once the
 * versions went up, so whoever reads after it misses the old answers.
 *
 * Misses of one key in a worker wait for the first of them (the leader)
 * and share its answer: one Postgres query, not one per request.
 *
 * Invalidations that may not have reached Redis.  A ledger counts, per
 * resource, the writes through this node (in the shared-memory zone when
 * there is one: its versions; else this worker's), and the newest of them
 * whose bump Redis acknowledged, or failed to take (not sent, timed out,
 * connection lost before the reply, error).  A bump acknowledged after
 * write N covers every write up to N, as each committed before it counted.
 * A resource whose failed count is past its acknowledged one is pending:
 * it is bumped again as soon as Redis takes commands (first thing on a new
 * connection, then every second), and until then this node's lookups of
 * it bypass Redis, so it never reads back an answer older than a write it
 * acknowledged.  Nothing else is bumped on a reconnect: a reconnect, or a
 * fresh worker, that lost no bump has nothing to make up for, and the
 * fleet's cache stays warm.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ts_module.h"
#include "ts_http.h"
#include "ts_resource.h"
#include "ts_redis.h"
#include "ts_shm.h"
#include "ts_sync.h"
#include "ts_cache.h"
#include "ts_replica.h"


#define TS_CACHE_RETRY     1000       /* ms between bumps of what is pending */


typedef struct ts_cache_ctx_s  ts_cache_ctx_t;


/* a bump sent to Redis; it outlives the write that asked for it */
typedef struct {
    ts_redis_cmd_t       cmd;
    ngx_queue_t          queue;       /* in ts_cache_bumps */
    ngx_uint_t           deps;
    ngx_atomic_uint_t    written[TS_RESOURCES_MAX];   /* when it was sent */
    ts_cache_ctx_t      *ctx;         /* the write waiting for it, or NULL */
    unsigned             retry:1;
} ts_cache_bump_t;


/* a key being filled in this worker, and who waits for it */
typedef struct {
    ngx_str_node_t       sn;          /* by hash, then key */
    ngx_queue_t          waiters;
    ts_cache_ctx_t      *leader;
} ts_cache_fill_t;


struct ts_cache_ctx_s {
    ngx_http_request_t  *request;
    ngx_uint_t           deps;
    ts_cache_fill_pt     fill;
    void                *data;
    ts_redis_cmd_t       cmd;
    ngx_str_t            path;        /* path and sorted arguments */
    ngx_str_t            key;         /* versioned, from Redis */
    ngx_uint_t           versions[TS_RESOURCES_MAX];   /* this node's */
    ts_cache_fill_t     *filling;     /* when this request leads */
    ngx_queue_t          queue;       /* when it waits */
    const char          *state;       /* for X-Cache */
    void               (*invalidated)(ngx_http_request_t *r);
    ts_cache_bump_t     *bump;        /* the write's, until answered */
    unsigned             waiting:1;
    unsigned             local:1;     /* key from this node, not Redis */
    unsigned             shm:1;       /* keep the answer in shared memory */
};


static int ts_cache_script(const char *script, size_t len, ngx_uint_t deps,
    u_char *numkeys, const char **argv, size_t *lens);
static ngx_int_t ts_cache_request_key(ngx_http_request_t *r,
    ngx_str_t *args, ngx_str_t *key);
static ngx_int_t ts_cache_coalesce(ts_cache_ctx_t *ctx);
static void ts_cache_on_connect(ts_redis_t *rd, void *data);
static void ts_cache_looked_up(ts_redis_cmd_t *cmd, redisReply *reply);
static ngx_int_t ts_cache_hit(ts_cache_ctx_t *ctx, redisReply *value);
static ngx_int_t ts_cache_miss(ts_cache_ctx_t *ctx);
static ngx_int_t ts_cache_run_fill(ts_cache_ctx_t *ctx);
static void ts_cache_store(ts_cache_ctx_t *ctx, ngx_str_t *body,
    ngx_str_t *etag);
static void ts_cache_keep(ts_cache_ctx_t *ctx, ngx_str_t *body,
    ngx_str_t *etag);
static void ts_cache_share(ts_cache_fill_t *fl, ngx_str_t *body,
    ngx_str_t *etag);
static void ts_cache_release(ts_cache_fill_t *fl);
static ts_cache_fill_t *ts_cache_find(ngx_rbtree_t *tree, ngx_str_t *key);
static void ts_cache_cleanup(void *data);
static void ts_cache_wrote(ngx_uint_t deps);
static ngx_uint_t ts_cache_pending(void);
static ngx_int_t ts_cache_bump(ts_redis_t *rd, ngx_uint_t deps,
    ts_cache_ctx_t *ctx, ts_cache_bump_t **bump);
static void ts_cache_bumped(ts_redis_cmd_t *cmd, redisReply *reply);
static void ts_cache_retry(ts_redis_t *rd);
static void ts_cache_retry_handler(ngx_event_t *ev);
static void ts_cache_raise(ngx_atomic_t *a, ngx_atomic_uint_t v);
static ngx_int_t ts_cache_answer(ngx_http_request_t *r, ts_cache_ctx_t *ctx,
    ngx_uint_t status, ngx_str_t *body, ngx_str_t *etag);


/*
 * KEYS: version keys; ARGV[1]: the request; returns {key, answer or nil,
 * fence}: the fence, the WAL position of the newest write to those
 * resources, goes up with their versions (ts_replica.c)
 */
static const char  ts_cache_lookup_script[] =
    "local key, fence = 'ts:c', 0"
    " for _, k in ipairs(KEYS) do"
    " key = key .. ':' .. (redis.call('GET', k) or '0')"
    " fence = math.max(fence, tonumber(redis.call('GET', k .. ':lsn')) or 0)"
    " end"
    " key = key .. ':' .. ARGV[1]"
    " return {key, redis.call('GET', key), fence}";

/* ARGV[1]: the WAL position after this node's newest write */
static const char  ts_cache_bump_script[] =
    "for _, k in ipairs(KEYS) do redis.call('INCR', k)"
    " if tonumber(ARGV[1]) > (tonumber(redis.call('GET', k .. ':lsn')) or 0)"
    " then redis.call('SET', k .. ':lsn', ARGV[1]) end end return 1";


/* the node's ledger (in its zone), or this worker's without a zone */
static ts_shm_ledger_t   ts_cache_own_ledger;
static ts_shm_ledger_t  *ts_cache_ledger = &ts_cache_own_ledger;

static ngx_queue_t       ts_cache_bumps;     /* sent, not answered yet */
static ngx_uint_t        ts_cache_retrying;  /* a retry is in flight */
static ngx_event_t       ts_cache_retry_event;


ngx_int_t
ts_cache_get(ngx_http_request_t *r, ngx_uint_t deps, ngx_str_t *args,
    ts_cache_fill_pt fill, void *data)
{
    int                 argc;
    u_char              numkeys[NGX_INT_T_LEN];
    size_t              lens[4 + TS_RESOURCES_MAX];
    ngx_int_t           rc;
    ngx_str_t           body, etag;
    ngx_uint_t          fresh;
    const char         *argv[4 + TS_RESOURCES_MAX];
    ts_loc_conf_t      *tlcf;
    ts_main_conf_t     *tmcf;
    ts_cache_ctx_t     *ctx;
    ts_request_ctx_t   *rctx;

    tmcf = ngx_http_get_module_main_conf(r, ngx_tunesheap_module);
    tlcf = ngx_http_get_module_loc_conf(r, ngx_tunesheap_module);
    rctx = ts_request_ctx(r);

    ctx = ngx_pcalloc(r->pool, sizeof(ts_cache_ctx_t));
    if (rctx == NULL || ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->request = r;
    ctx->deps = deps;
    ctx->fill = fill;
    ctx->data = data;
    ctx->state = "BYPASS";
    rctx->cache = ctx;

    if (r == r->main && r->read_event_handler == ngx_http_block_reading) {
        /*
         * a client that goes away while its answer is made ends the
         * request: its cleanups release its Redis command, its place
         * among the waiters, its Postgres query (queued or in flight)
         */
        r->read_event_handler = ngx_http_test_reading;
    }

    if (!tlcf->cache || ts_cache_request_key(r, args, &ctx->path) != NGX_OK)
    {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "tunesheap cache: bypass, cache:%ui",
                       (ngx_uint_t) tlcf->cache);
        return ts_cache_run_fill(ctx);
    }

    if (tmcf->shm) {
        /* the versions it is made at are those before it is made */
        ts_shm_versions(tmcf->shm, deps, ctx->versions);

        /* in step with the fleet's writes, or Redis answers */
        fresh = ts_sync_fresh(tmcf);

        rc = fresh
             ? ts_shm_get(tmcf->shm, &ctx->path, deps, r->pool, &body,
                          &etag)
             : NGX_DECLINED;

        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "tunesheap cache: shm %s \"%V\", synced:%ui",
                       rc == NGX_OK ? "hit" : "miss", &ctx->path, fresh);

        if (rc == NGX_OK) {
            ctx->state = "HIT shm";
            return ts_cache_answer(r, ctx, NGX_HTTP_OK, &body, &etag);
        }

        ctx->shm = 1;
        ctx->state = "MISS";
    }

    if (ts_http_cleanup(r, ts_cache_cleanup, ctx) != NGX_OK) {
        return ts_cache_run_fill(ctx);
    }

    if (tmcf->redis == NULL || !ts_redis_up(tmcf->redis)
        || (deps & ts_cache_pending()))
    {
        /* down, or may still hold answers older than a write of ours */
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "tunesheap cache: redis bypassed, up:%ui, "
                       "pending:%ui",
                       (ngx_uint_t) (tmcf->redis && ts_redis_up(tmcf->redis)),
                       deps & ts_cache_pending());
        rc = ts_cache_coalesce(ctx);

        if (rc == NGX_DONE && ctx->waiting) {
            /* a waiter is held here; a leader by ts_cache_run_fill() */
            r->main->count++;
        }

        return rc;
    }

    argc = ts_cache_script(ts_cache_lookup_script,
                           sizeof(ts_cache_lookup_script) - 1, deps,
                           numkeys, argv, lens);

    argv[argc] = (char *) ctx->path.data;
    lens[argc++] = ctx->path.len;

    ctx->cmd.done = ts_cache_looked_up;
    ctx->cmd.data = ctx;
    ctx->cmd.log = r->connection->log;

    if (ts_redis_command(tmcf->redis, &ctx->cmd, argc, argv, lens)
        != NGX_OK)
    {
        ctx->cmd.done = NULL;
        rc = ts_cache_coalesce(ctx);

        if (rc == NGX_DONE && ctx->waiting) {
            r->main->count++;
        }

        return rc;
    }

    r->main->count++;

    return NGX_DONE;
}


ngx_int_t
ts_cache_send(ngx_http_request_t *r, ngx_uint_t status, ngx_str_t *body,
    ngx_str_t *etag)
{
    ngx_str_t          tag;
    ts_cache_fill_t   *fl;
    ts_cache_ctx_t    *ctx;
    ts_request_ctx_t  *rctx;

    rctx = ts_request_ctx(r);
    ctx = rctx ? rctx->cache : NULL;

    if (ctx == NULL) {
        return ts_http_send_json(r, status, body, etag);
    }

    fl = ctx->filling;

    if ((fl || ctx->shm) && status == NGX_HTTP_OK) {
        if (etag == NULL) {
            if (ts_http_body_etag(r, body, &tag) != NGX_OK) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            etag = &tag;
        }

        ts_cache_keep(ctx, body, etag);

        if (fl) {
            if (!ctx->local) {
                ts_cache_store(ctx, body, etag);
            }

            ts_cache_share(fl, body, etag);
        }
    }

    if (fl) {
        /* waiters left make their own answer */
        ts_cache_release(fl);
    }

    return ts_cache_answer(r, ctx, status, body, etag);
}


void
ts_cache_invalidate(ngx_http_request_t *r, ngx_uint_t deps,
    void (*done)(ngx_http_request_t *r))
{
    ngx_int_t          rc;
    ts_main_conf_t    *tmcf;
    ts_cache_ctx_t    *ctx;
    ts_request_ctx_t  *rctx;

    tmcf = ngx_http_get_module_main_conf(r, ngx_tunesheap_module);
    rctx = ts_request_ctx(r);

    /* this node's zone forgets the old answers at once */
    ts_cache_wrote(deps);

    if (tmcf->redis == NULL) {
        /* with no Redis, nothing is cached there: nothing to reach */
        done(r);
        return;
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ts_cache_ctx_t));

    if (rctx == NULL || ctx == NULL
        || ts_http_cleanup(r, ts_cache_cleanup, ctx) != NGX_OK)
    {
        ctx = NULL;

    } else {
        ctx->request = r;
        ctx->invalidated = done;
    }

    rc = ts_cache_bump(tmcf->redis, deps, ctx, NULL);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "tunesheap cache: invalidation of deps:%ui %s", deps,
                   rc == NGX_OK ? "sent" : "not sent");

    if (rc == NGX_OK && ctx) {
        /* answered once Redis took it, or gave up on it (then pending) */
        return;
    }

    if (rc != NGX_OK) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "tunesheap: could not invalidate the cache: redis is "
                      "down; bumped again once it is back");
    }

    done(r);
}


ngx_int_t
ts_cache_init_process(ngx_cycle_t *cycle, ts_main_conf_t *tmcf)
{
    ngx_rbtree_init(&tmcf->fills, &tmcf->fills_sentinel,
                    ngx_str_rbtree_insert_value);

    if (tmcf->redis_conf.host.len == 0) {
        return NGX_OK;
    }

    if (tmcf->shm) {
        /* a reload keeps the zone: what an old worker left pending too */
        ts_cache_ledger = ts_shm_ledger(tmcf->shm);
    }

    ngx_queue_init(&ts_cache_bumps);

    tmcf->redis_conf.on_connect = ts_cache_on_connect;
    tmcf->redis_conf.data = tmcf;

    tmcf->redis = ts_redis_create(cycle, &tmcf->redis_conf);
    if (tmcf->redis == NULL) {
        return NGX_ERROR;
    }

    ts_cache_retry_event.handler = ts_cache_retry_handler;
    ts_cache_retry_event.data = tmcf->redis;
    ts_cache_retry_event.log = cycle->log;
    ts_cache_retry_event.cancelable = 1;
    ngx_add_timer(&ts_cache_retry_event, TS_CACHE_RETRY);

    return NGX_OK;
}


void
ts_cache_exit_process(ngx_cycle_t *cycle, ts_main_conf_t *tmcf)
{
    ngx_uint_t        i;
    ngx_queue_t      *q;
    ts_cache_bump_t  *b;

    if (tmcf->redis == NULL) {
        return;
    }

    if (ts_cache_retry_event.timer_set) {
        ngx_del_timer(&ts_cache_retry_event);
    }

    /* bumps without a reply yet: the next worker to connect sends them */
    while (!ngx_queue_empty(&ts_cache_bumps)) {
        q = ngx_queue_head(&ts_cache_bumps);
        b = ngx_queue_data(q, ts_cache_bump_t, queue);
        ngx_queue_remove(q);

        for (i = 0; i < ts_nresources; i++) {
            if (b->deps & ts_resource_bit(&ts_resources[i])) {
                ts_cache_raise(&ts_cache_ledger->failed[i], b->written[i]);
            }
        }

        ts_redis_cancel(&b->cmd);

        if (b->ctx) {
            b->ctx->bump = NULL;
        }

        ngx_free(b);
    }

    ts_redis_destroy(tmcf->redis);
    tmcf->redis = NULL;
}


/*
 * A new connection: only what a bump that failed (or whose reply the old
 * connection lost) may have missed is bumped, before anything is read on
 * it; the rest of the cache stays valid
 */
static void
ts_cache_on_connect(ts_redis_t *rd, void *data)
{
    ts_cache_retry(rd);
}


/* a write to deps: counted before its bump, after its commit */
static void
ts_cache_wrote(ngx_uint_t deps)
{
    ngx_uint_t  i;

    for (i = 0; i < ts_nresources; i++) {
        if (deps & ts_resource_bit(&ts_resources[i])) {
            (void) ngx_atomic_fetch_add(&ts_cache_ledger->written[i], 1);
        }
    }
}


/* the resources whose newest failed bump no acknowledged one covers */
static ngx_uint_t
ts_cache_pending(void)
{
    ngx_uint_t        i, deps;
    ts_shm_ledger_t  *l;

    l = ts_cache_ledger;
    deps = 0;

    for (i = 0; i < ts_nresources; i++) {
        if ((ngx_atomic_int_t) (l->failed[i] - l->acked[i]) > 0) {
            deps |= ts_resource_bit(&ts_resources[i]);
        }
    }

    return deps;
}


/*
 * Sends a bump of deps; it covers every write counted so far.  NGX_OK:
 * ts_cache_bumped() comes (and tells ctx, if any); else nothing was sent.
 */
static ngx_int_t
ts_cache_bump(ts_redis_t *rd, ngx_uint_t deps, ts_cache_ctx_t *ctx,
    ts_cache_bump_t **bump)
{
    int               argc;
    u_char            numkeys[NGX_INT_T_LEN], lsn[NGX_INT64_LEN];
    size_t            lens[4 + TS_RESOURCES_MAX];
    ngx_uint_t        i;
    const char       *argv[4 + TS_RESOURCES_MAX];
    ts_cache_bump_t  *b;

    b = ngx_alloc(sizeof(ts_cache_bump_t), ngx_cycle->log);
    if (b == NULL) {
        goto failed;
    }

    ngx_memzero(b, sizeof(ts_cache_bump_t));
    b->deps = deps;

    for (i = 0; i < TS_RESOURCES_MAX; i++) {
        b->written[i] = ts_cache_ledger->written[i];
    }

    argc = ts_cache_script(ts_cache_bump_script,
                           sizeof(ts_cache_bump_script) - 1, deps, numkeys,
                           argv, lens);

    argv[argc] = (char *) lsn;
    lens[argc++] = ngx_sprintf(lsn, "%uL", ts_replica_written()) - lsn;

    /* the write's request may go before the reply: the cycle's log */
    b->cmd.done = ts_cache_bumped;
    b->cmd.data = b;
    b->cmd.log = ngx_cycle->log;

    if (!ts_redis_up(rd)
        || ts_redis_command(rd, &b->cmd, argc, argv, lens) != NGX_OK)
    {
        /* on a connection not proven yet, it is sent once it is */
        ngx_free(b);
        goto failed;
    }

    ngx_queue_insert_tail(&ts_cache_bumps, &b->queue);

    if (ctx) {
        b->ctx = ctx;
        ctx->bump = b;
    }

    if (bump) {
        *bump = b;
    }

    return NGX_OK;

failed:

    /* not sent: pending until a bump sent later is acknowledged */
    for (i = 0; i < ts_nresources; i++) {
        if (deps & ts_resource_bit(&ts_resources[i])) {
            ts_cache_raise(&ts_cache_ledger->failed[i],
                           ts_cache_ledger->written[i]);
        }
    }

    return NGX_DECLINED;
}


/* Redis took the bump (acknowledged), or it may not have (failed) */
static void
ts_cache_bumped(ts_redis_cmd_t *cmd, redisReply *reply)
{
    ngx_uint_t        i, ok;
    ts_cache_ctx_t   *ctx;
    ts_cache_bump_t  *b;

    b = cmd->data;
    ok = (reply && reply->type != REDIS_REPLY_ERROR);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "tunesheap cache: invalidation of deps:%ui %s, retry:%ui",
                   b->deps, ok ? "acknowledged" : "failed",
                   (ngx_uint_t) b->retry);

    for (i = 0; i < ts_nresources; i++) {
        if (b->deps & ts_resource_bit(&ts_resources[i])) {
            ts_cache_raise(ok ? &ts_cache_ledger->acked[i]
                              : &ts_cache_ledger->failed[i],
                           b->written[i]);
        }
    }

    if (!ok) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "tunesheap: could not invalidate the cache: %s; "
                      "bumped again once redis answers",
                      reply ? reply->str : "no answer from redis");
    }

    if (b->retry) {
        ts_cache_retrying = 0;
    }

    ngx_queue_remove(&b->queue);
    ctx = b->ctx;
    ngx_free(b);

    if (ctx) {
        ctx->bump = NULL;

        if (ok && ts_sync_wait(ctx->request, ctx->invalidated) == NGX_OK) {
            /* answered once every node's zone has seen the new versions */
            return;
        }

        ctx->invalidated(ctx->request);
    }
}


/* bumps again what is pending, one retry in flight at a time */
static void
ts_cache_retry(ts_redis_t *rd)
{
    ngx_uint_t        deps;
    ts_cache_bump_t  *b;

    deps = ts_cache_pending();

    if (deps == 0 || ts_cache_retrying || !ts_redis_up(rd)) {
        return;
    }

    if (ts_cache_bump(rd, deps, NULL, &b) == NGX_OK) {
        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "tunesheap: bumping again cache versions a failed "
                      "invalidation may have missed");
        b->retry = 1;
        ts_cache_retrying = 1;
    }
}


static void
ts_cache_retry_handler(ngx_event_t *ev)
{
    ts_cache_retry(ev->data);

    if (!ngx_exiting && !ngx_terminate && !ngx_quit) {
        ngx_add_timer(ev, TS_CACHE_RETRY);
    }
}


/* *a = max(*a, v), for counters that only grow */
static void
ts_cache_raise(ngx_atomic_t *a, ngx_atomic_uint_t v)
{
    ngx_atomic_uint_t  old;

    for ( ;; ) {
        old = *a;

        if ((ngx_atomic_int_t) (v - old) <= 0
            || ngx_atomic_cmp_set(a, old, v))
        {
            return;
        }
    }
}


/* EVAL script numkeys key...: the version keys of the resources in deps */
static int
ts_cache_script(const char *script, size_t len, ngx_uint_t deps,
    u_char *numkeys, const char **argv, size_t *lens)
{
    int         argc;
    ngx_uint_t  i, n;

    argc = 0;
    argv[argc] = "EVAL";
    lens[argc++] = 4;
    argv[argc] = script;
    lens[argc++] = len;
    argc++;

    for (i = 0, n = 0; i < ts_nresources; i++) {
        if (deps & ts_resource_bit(&ts_resources[i])) {
            argv[argc] = (char *) ts_resources[i].version_key.data;
            lens[argc++] = ts_resources[i].version_key.len;
            n++;
        }
    }

    argv[2] = (char *) numkeys;
    lens[2] = ngx_sprintf(numkeys, "%ui", n) - numkeys;

    return argc;
}


/* $tunesheap_cache: HIT shm, HIT redis, HIT coalesced, MISS, BYPASS */
ngx_int_t
ts_cache_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    uintptr_t data)
{
    ts_cache_ctx_t    *ctx;
    ts_request_ctx_t  *rctx;

    rctx = ngx_http_get_module_ctx(r, ngx_tunesheap_module);
    ctx = rctx ? rctx->cache : NULL;

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->data = (u_char *) ctx->state;
    v->len = ngx_strlen(ctx->state);
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}


ngx_int_t
ts_cache_redis_ping(ngx_http_request_t *r, ts_redis_cmd_t *cmd)
{
    size_t           len;
    const char      *argv;
    ts_main_conf_t  *tmcf;

    tmcf = ngx_http_get_module_main_conf(r, ngx_tunesheap_module);

    if (tmcf->redis == NULL) {
        return NGX_ABORT;
    }

    argv = "PING";
    len = 4;

    return ts_redis_command(tmcf->redis, cmd, 1, &argv, &len);
}


/*
 * The path, then "&name=value" for each argument the handler reads, in the
 * caller's order, with the raw value of its first occurrence (as
 * ngx_http_arg() finds it): arguments the handler ignores make no new key,
 * and ?a=1&a=2 is another key than ?a=2&a=1, as it is another answer.
 */
static ngx_int_t
ts_cache_request_key(ngx_http_request_t *r, ngx_str_t *args, ngx_str_t *key)
{
    u_char      *p;
    size_t       len;
    ngx_str_t   *a, value;

    len = r->uri.len;

    for (a = args; a && a->len; a++) {
        len += 2 + a->len + r->args.len;
    }

    key->data = ngx_pnalloc(r->pool, len);
    if (key->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(key->data, r->uri.data, r->uri.len);

    for (a = args; a && a->len; a++) {
        if (ngx_http_arg(r, a->data, a->len, &value) != NGX_OK) {
            continue;
        }

        *p++ = '&';
        p = ngx_cpymem(p, a->data, a->len);
        *p++ = '=';
        p = ngx_cpymem(p, value.data, value.len);
    }

    key->len = p - key->data;

    return NGX_OK;
}


/*
 * Redis is down, timed out or answered nonsense: the key is this node's
 * versions and the path, so misses of it in this worker still share one
 * Postgres query, and nothing is stored in Redis under it.  A write through
 * this node bumps those versions, so nobody waits for an answer older than
 * a write it saw answered.
 */
static ngx_int_t
ts_cache_coalesce(ts_cache_ctx_t *ctx)
{
    u_char              *p;
    ngx_uint_t           i;
    ngx_http_request_t  *r;

    r = ctx->request;

    ctx->key.data = ngx_pnalloc(r->pool, sizeof("ts:l") - 1
                                + TS_RESOURCES_MAX * (1 + NGX_INT_T_LEN)
                                + 1 + ctx->path.len);
    if (ctx->key.data == NULL) {
        return ts_cache_run_fill(ctx);
    }

    p = ngx_cpymem(ctx->key.data, "ts:l", sizeof("ts:l") - 1);

    for (i = 0; i < TS_RESOURCES_MAX; i++) {
        p = ngx_sprintf(p, ":%ui", ctx->versions[i]);
    }

    *p++ = ':';
    p = ngx_cpymem(p, ctx->path.data, ctx->path.len);
    ctx->key.len = p - ctx->key.data;
    ctx->local = 1;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "tunesheap cache: local key \"%V\"", &ctx->key);

    return ts_cache_miss(ctx);
}


static void
ts_cache_looked_up(ts_redis_cmd_t *cmd, redisReply *reply)
{
    ngx_int_t            rc;
    ts_cache_ctx_t      *ctx;
    ngx_http_request_t  *r;

    ctx = cmd->data;
    r = ctx->request;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != 3
        || reply->element[0]->type != REDIS_REPLY_STRING)
    {
        /* timed out or failed: still one Postgres query per key */
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "tunesheap cache: redis lookup failed, reply:%d",
                       reply ? reply->type : 0);
        rc = ts_cache_coalesce(ctx);

    } else if (reply->element[1]->type == REDIS_REPLY_STRING) {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "tunesheap cache: redis hit \"%*s\"",
                       reply->element[0]->len, reply->element[0]->str);
        rc = ts_cache_hit(ctx, reply->element[1]);

    } else {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "tunesheap cache: redis miss \"%*s\"",
                       reply->element[0]->len, reply->element[0]->str);
        ts_replica_fenced(r, reply->element[2]);

        ctx->key.len = reply->element[0]->len;
        ctx->key.data = ngx_pnalloc(r->pool, ctx->key.len);

        if (ctx->key.data == NULL) {
            rc = NGX_HTTP_INTERNAL_SERVER_ERROR;

        } else {
            ngx_memcpy(ctx->key.data, reply->element[0]->str, ctx->key.len);
            rc = ts_cache_miss(ctx);
        }
    }

    if (rc != NGX_DONE) {
        ts_http_finish(r, rc);
    }
}


/* "ETag\nbody", as ts_cache_store() wrote it */
static ngx_int_t
ts_cache_hit(ts_cache_ctx_t *ctx, redisReply *value)
{
    u_char              *nl;
    ngx_str_t            body, etag;
    ngx_http_request_t  *r;

    r = ctx->request;
    nl = memchr(value->str, '\n', value->len);

    if (nl == NULL) {
        return ts_cache_coalesce(ctx);
    }

    /* the reply goes away with this callback: the answer needs a copy */
    etag.len = nl - (u_char *) value->str;
    body.len = value->len - etag.len - 1;
    etag.data = ngx_pnalloc(r->pool, value->len);

    if (etag.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(etag.data, value->str, value->len);
    body.data = etag.data + etag.len + 1;

    ctx->state = "HIT redis";
    ts_cache_keep(ctx, &body, &etag);

    return ts_cache_answer(r, ctx, NGX_HTTP_OK, &body, &etag);
}


/* the first miss of a key fills it; the next ones wait for it */
static ngx_int_t
ts_cache_miss(ts_cache_ctx_t *ctx)
{
    ts_main_conf_t   *tmcf;
    ts_cache_fill_t  *fl;

    tmcf = ngx_http_get_module_main_conf(ctx->request, ngx_tunesheap_module);

    fl = ts_cache_find(&tmcf->fills, &ctx->key);

    if (fl) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                       "tunesheap cache: joins the fill of \"%V\"",
                       &ctx->key);
        ctx->state = "HIT coalesced";
        ctx->waiting = 1;
        ngx_queue_insert_tail(&fl->waiters, &ctx->queue);
        return NGX_DONE;
    }

    if (!ctx->local) {
        /* without Redis it stays BYPASS: the cache was not asked */
        ctx->state = "MISS";
    }

    fl = ngx_alloc(sizeof(ts_cache_fill_t) + ctx->key.len,
                   ctx->request->connection->log);
    if (fl == NULL) {
        return ts_cache_run_fill(ctx);
    }

    fl->sn.node.key = ngx_crc32_short(ctx->key.data, ctx->key.len);
    fl->sn.str.data = (u_char *) fl + sizeof(ts_cache_fill_t);
    fl->sn.str.len = ctx->key.len;
    ngx_memcpy(fl->sn.str.data, ctx->key.data, ctx->key.len);
    ngx_queue_init(&fl->waiters);
    fl->leader = ctx;

    ngx_rbtree_insert(&tmcf->fills, &fl->sn.node);
    ctx->filling = fl;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                   "tunesheap cache: leads the fill of \"%V\", local:%ui",
                   &ctx->key, (ngx_uint_t) ctx->local);

    return ts_cache_run_fill(ctx);
}


/* NGX_DONE when the filler works on, else what was answered */
static ngx_int_t
ts_cache_run_fill(ts_cache_ctx_t *ctx)
{
    ngx_int_t            rc;
    ngx_http_request_t  *r;

    r = ctx->request;

    rc = ctx->fill(r, ctx->data);

    if (rc == NGX_DONE && ctx->cmd.done == NULL) {
        /* no lookup held the request: hold it for the filler */
        r->main->count++;
    }

    if (rc != NGX_DONE && ctx->filling) {
        ts_cache_release(ctx->filling);
    }

    return rc;
}


static void
ts_cache_store(ts_cache_ctx_t *ctx, ngx_str_t *body, ngx_str_t *etag)
{
    u_char              *p, ttl[NGX_INT_T_LEN];
    size_t               lens[5];
    const char          *argv[5];
    ts_loc_conf_t       *tlcf;
    ts_main_conf_t      *tmcf;
    ngx_http_request_t  *r;

    r = ctx->request;
    tmcf = ngx_http_get_module_main_conf(r, ngx_tunesheap_module);
    tlcf = ngx_http_get_module_loc_conf(r, ngx_tunesheap_module);

    p = ngx_pnalloc(r->pool, etag->len + 1 + body->len);
    if (p == NULL) {
        return;
    }

    argv[0] = "SET";
    lens[0] = 3;
    argv[1] = (char *) ctx->key.data;
    lens[1] = ctx->key.len;
    argv[2] = (char *) p;
    lens[2] = etag->len + 1 + body->len;
    argv[3] = "PX";
    lens[3] = 2;
    argv[4] = (char *) ttl;
    lens[4] = ngx_sprintf(ttl, "%M", tlcf->cache_ttl) - ttl;

    p = ngx_cpymem(p, etag->data, etag->len);
    *p++ = '\n';
    ngx_memcpy(p, body->data, body->len);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "tunesheap cache: stored in redis \"%V\", ttl:%M",
                   &ctx->key, tlcf->cache_ttl);

    /* nobody waits for it: a failed store is only a later miss */
    (void) ts_redis_command(tmcf->redis, NULL, 5, argv, lens);
}


/* the answer in this node's shared memory, when it has a zone */
static void
ts_cache_keep(ts_cache_ctx_t *ctx, ngx_str_t *body, ngx_str_t *etag)
{
    ts_loc_conf_t       *tlcf;
    ts_main_conf_t      *tmcf;
    ngx_http_request_t  *r;

    if (!ctx->shm) {
        return;
    }

    r = ctx->request;
    tmcf = ngx_http_get_module_main_conf(r, ngx_tunesheap_module);
    tlcf = ngx_http_get_module_loc_conf(r, ngx_tunesheap_module);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "tunesheap cache: kept in shm \"%V\", ttl:%M",
                   &ctx->path, tlcf->shm_ttl);

    ts_shm_put(tmcf->shm, &ctx->path, ctx->deps, ctx->versions, body,
               etag, tlcf->shm_ttl);
}


/* the waiters get the leader's answer, each a copy in its own pool */
static void
ts_cache_share(ts_cache_fill_t *fl, ngx_str_t *body, ngx_str_t *etag)
{
    ngx_int_t            rc;
    ngx_str_t            b, e;
    ngx_queue_t         *q;
    ts_cache_ctx_t      *w;
    ngx_http_request_t  *r;

    while (!ngx_queue_empty(&fl->waiters)) {
        q = ngx_queue_head(&fl->waiters);
        w = ngx_queue_data(q, ts_cache_ctx_t, queue);
        ngx_queue_remove(q);
        w->waiting = 0;

        r = w->request;

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "tunesheap cache: answered by the fill of \"%V\"",
                       &fl->sn.str);

        e.len = etag->len;
        b.len = body->len;
        e.data = ngx_pnalloc(r->pool, e.len + b.len);

        if (e.data == NULL) {
            ts_http_finish(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            continue;
        }

        b.data = ngx_cpymem(e.data, etag->data, e.len);
        ngx_memcpy(b.data, body->data, b.len);

        rc = ts_cache_answer(r, w, NGX_HTTP_OK, &b, &e);
        ts_http_finish(r, rc);
    }
}


/* the key is no longer being filled; whoever still waits fills it */
static void
ts_cache_release(ts_cache_fill_t *fl)
{
    ngx_int_t            rc;
    ngx_queue_t         *q;
    ts_cache_ctx_t      *w;
    ts_main_conf_t      *tmcf;
    ngx_http_request_t  *r;

    tmcf = ngx_http_get_module_main_conf(fl->leader->request,
                                         ngx_tunesheap_module);

    ngx_rbtree_delete(&tmcf->fills, &fl->sn.node);
    fl->leader->filling = NULL;

    while (!ngx_queue_empty(&fl->waiters)) {
        q = ngx_queue_head(&fl->waiters);
        w = ngx_queue_data(q, ts_cache_ctx_t, queue);
        ngx_queue_remove(q);
        w->waiting = 0;
        w->state = "MISS";

        r = w->request;

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "tunesheap cache: the fill of \"%V\" ended unshared, "
                       "filling on its own", &fl->sn.str);
        rc = w->fill(r, w->data);

        if (rc != NGX_DONE) {
            ts_http_finish(r, rc);
        }
    }

    ngx_free(fl);
}


static ts_cache_fill_t *
ts_cache_find(ngx_rbtree_t *tree, ngx_str_t *key)
{
    return (ts_cache_fill_t *) ngx_str_rbtree_lookup(tree, key,
                                 ngx_crc32_short(key->data, key->len));
}


/* the request goes away: stop its lookup, its wait or its lead */
static void
ts_cache_cleanup(void *data)
{
    ts_cache_ctx_t  *ctx = data;

    ts_redis_cancel(&ctx->cmd);

    if (ctx->bump) {
        /* the bump goes on: only nobody is told */
        ctx->bump->ctx = NULL;
        ctx->bump = NULL;
    }

    if (ctx->waiting) {
        ngx_queue_remove(&ctx->queue);
        ctx->waiting = 0;
    }

    if (ctx->filling) {
        ts_cache_release(ctx->filling);
    }
}


static ngx_int_t
ts_cache_answer(ngx_http_request_t *r, ts_cache_ctx_t *ctx,
    ngx_uint_t status, ngx_str_t *body, ngx_str_t *etag)
{
    ngx_str_t  value;

    value.data = (u_char *) ctx->state;
    value.len = ngx_strlen(ctx->state);

    if (ts_http_header(r, "X-Cache", &value, NULL) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ts_http_send_json(r, status, body, etag);
}
