
/*
 * Tunesheap: health for load balancers.  A round trip to Postgres through
 * the same pool the API uses, so a full queue or a dead server shows; and,
 * at the same time, a PING to this worker's Redis, bounded by
 * tunesheap_redis_timeout, so a frozen Redis (connecting still works,
 * commands never answer) shows too.  Only Postgres decides the status: the
 * API answers correctly from Postgres without Redis, and a cache shared by
 * the fleet that froze must not take every node out of the balancer.
 *
 * A worker that has just started answers once the connections it warms
 * are set up (TS_HEALTH_WARM_MAX at most): a node the balancer adds is
 * then ready for its first searches.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ts_json.h"
#include "ts_http.h"
#include "ts_resource.h"
#include "ts_query.h"
#include "ts_health.h"
#include "ts_cache.h"


#define TS_HEALTH_WARM_POLL  10      /* ms between looks at the pools */
#define TS_HEALTH_WARM_MAX   5000    /* ms a check waits for them, at most */


typedef struct {
    ngx_http_request_t  *request;
    ts_pg_query_t        query;
    ts_redis_cmd_t       ping;
    ngx_event_t          warm;       /* polls the pools while they warm */
    ngx_msec_t           warm_until;
    const char          *redis;      /* NULL: no Redis configured */
    ngx_uint_t           pending;    /* checks not answered yet */
    ngx_uint_t           postgres;   /* it answered */
} ts_health_ctx_t;


static ngx_int_t ts_health_check(ngx_http_request_t *r,
    ts_health_ctx_t *ctx);
static void ts_health_warmed(ngx_event_t *ev);
static ngx_int_t ts_health_send(ngx_http_request_t *r,
    ts_health_ctx_t *ctx);
static void ts_health_done(ts_pg_query_t *q);
static void ts_health_pong(ts_redis_cmd_t *cmd, redisReply *reply);
static void ts_health_answer(ts_health_ctx_t *ctx);
static void ts_health_cleanup(void *data);


ngx_int_t
ts_health_handler(ngx_http_request_t *r)
{
    ts_health_ctx_t  *ctx;

    ctx = ngx_pcalloc(r->pool, sizeof(ts_health_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->request = r;
    ctx->query.statement = ts_health_statement;
    ctx->query.done = ts_health_done;
    ctx->query.lane = TS_PG_LANE_HEALTH;
    ctx->query.data = ctx;

    ctx->ping.done = ts_health_pong;
    ctx->ping.data = ctx;
    ctx->ping.log = r->connection->log;

    if (ts_http_cleanup(r, ts_health_cleanup, ctx) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (!ts_query_warming(r)) {
        return ts_health_check(r, ctx);
    }

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "tunesheap health: waiting for warm connections");

    ctx->warm.handler = ts_health_warmed;
    ctx->warm.data = ctx;
    ctx->warm.log = r->connection->log;
    ctx->warm_until = ngx_current_msec + TS_HEALTH_WARM_MAX;

    ngx_add_timer(&ctx->warm, TS_HEALTH_WARM_POLL);

    ts_http_hold(r);

    return NGX_DONE;
}


static void
ts_health_warmed(ngx_event_t *ev)
{
    ngx_int_t            rc;
    ts_health_ctx_t     *ctx;
    ngx_http_request_t  *r;

    ctx = ev->data;
    r = ctx->request;

    if (ts_query_warming(r)
        && (ngx_msec_int_t) (ctx->warm_until - ngx_current_msec) > 0)
    {
        ngx_add_timer(&ctx->warm, TS_HEALTH_WARM_POLL);
        return;
    }

    rc = ts_health_check(r, ctx);

    /* the wait's own reference goes; the checks hold theirs */
    ts_http_finish(r, rc);
}


/* Postgres, and Redis at the same time */
static ngx_int_t
ts_health_check(ngx_http_request_t *r, ts_health_ctx_t *ctx)
{
    switch (ts_cache_redis_ping(r, &ctx->ping)) {

    case NGX_OK:
        ctx->pending++;
        break;

    case NGX_ABORT:
        ctx->redis = NULL;
        break;

    default:
        /* not connected: backing off after a failure, or connecting */
        ctx->redis = "down";
    }

    if (ts_query_send(r, &ctx->query, 1) != NGX_OK) {
        ts_redis_cancel(&ctx->ping);
        return ts_health_send(r, ctx);
    }

    ctx->pending++;

    /* a load balancer that gave up: the request ends, so do the checks */
    ts_http_hold(r);

    return NGX_DONE;
}


static void
ts_health_done(ts_pg_query_t *q)
{
    ts_health_ctx_t  *ctx;

    ctx = q->data;
    ctx->postgres = (q->rc == TS_PG_OK);

    ts_health_answer(ctx);
}


/* PONG: "ok"; no answer within tunesheap_redis_timeout: "slow" */
static void
ts_health_pong(ts_redis_cmd_t *cmd, redisReply *reply)
{
    ts_health_ctx_t  *ctx;

    ctx = cmd->data;

    if (reply == NULL) {
        ctx->redis = "slow";

    } else if (reply->type == REDIS_REPLY_STATUS
               && ngx_strncmp(reply->str, "PONG", 4) == 0)
    {
        ctx->redis = "ok";

    } else {
        ctx->redis = "down";
    }

    ts_health_answer(ctx);
}


/* once both checks are in */
static void
ts_health_answer(ts_health_ctx_t *ctx)
{
    if (--ctx->pending) {
        return;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                   "tunesheap health: postgres:%ui, redis:\"%s\"",
                   ctx->postgres, ctx->redis ? ctx->redis : "none");

    ts_http_finish(ctx->request, ts_health_send(ctx->request, ctx));
}


static void
ts_health_cleanup(void *data)
{
    ts_health_ctx_t  *ctx = data;

    ts_redis_cancel(&ctx->ping);

    if (ctx->warm.timer_set) {
        ngx_del_timer(&ctx->warm);
    }
}


/*
 * {"status":"ok","postgres":"ok","redis":"ok"}: 503 without Postgres;
 * with Redis "down" or "slow" still 200, the API answers from Postgres
 */
static ngx_int_t
ts_health_send(ngx_http_request_t *r, ts_health_ctx_t *ctx)
{
    yajl_gen     g;
    ngx_str_t    body, no_store = ngx_string("no-store");
    ngx_uint_t   ok;
    const char  *redis;

    g = ts_json_gen(r->pool);
    if (g == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ok = ctx->postgres;
    redis = ctx->redis;

    if (yajl_gen_map_open(g) != yajl_gen_status_ok
        || ts_json_literal(g, "status") != yajl_gen_status_ok
        || ts_json_cstr(g, ok ? "ok" : "unavailable") != yajl_gen_status_ok
        || ts_json_literal(g, "postgres") != yajl_gen_status_ok
        || ts_json_cstr(g, ok ? "ok" : "down") != yajl_gen_status_ok
        || (redis
            && (ts_json_literal(g, "redis") != yajl_gen_status_ok
                || ts_json_cstr(g, redis) != yajl_gen_status_ok))
        || yajl_gen_map_close(g) != yajl_gen_status_ok)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ts_json_output(g, &body);

    /* the load balancer's question: never answered from a cache */
    if (ts_http_header(r, "Cache-Control", &no_store, NULL) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ts_http_send_json(r, ok ? NGX_HTTP_OK
                                   : NGX_HTTP_SERVICE_UNAVAILABLE,
                             &body, NULL);
}
