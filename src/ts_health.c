
/*
 * Tunesheap: health for load balancers.  A round trip to Postgres through
 * the same pool the API uses, so a full queue or a dead server shows.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ts_json.h"
#include "ts_http.h"
#include "ts_resource.h"
#include "ts_read.h"
#include "ts_health.h"
#include "ts_cache.h"


typedef struct {
    ngx_http_request_t  *request;
    ts_pg_query_t        query;
} ts_health_ctx_t;


static ngx_int_t ts_health_send(ngx_http_request_t *r, ngx_uint_t ok);
static void ts_health_done(ts_pg_query_t *q);


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

    if (ts_read_query(r, &ctx->query, 1) != NGX_OK) {
        return ts_health_send(r, 0);
    }

    r->main->count++;

    return NGX_DONE;
}


static void
ts_health_done(ts_pg_query_t *q)
{
    ts_health_ctx_t  *ctx;

    ctx = q->data;

    ts_http_finish(ctx->request,
                   ts_health_send(ctx->request, q->rc == TS_PG_OK));
}


/*
 * {"status":"ok","postgres":"ok","redis":"ok"}: 503 without Postgres;
 * without Redis still 200, the API answers from Postgres
 */
static ngx_int_t
ts_health_send(ngx_http_request_t *r, ngx_uint_t ok)
{
    yajl_gen          g;
    ngx_str_t         body;
    const char       *redis;
    yajl_gen_status   st;

    g = ts_json_gen(r->pool);
    if (g == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    redis = ts_cache_redis_state(r);

    st = yajl_gen_map_open(g);

    if (st == yajl_gen_status_ok
        && (st = ts_json_literal(g, "status")) == yajl_gen_status_ok
        && (st = (ok ? ts_json_literal(g, "ok")
                     : ts_json_literal(g, "unavailable")))
           == yajl_gen_status_ok
        && (st = ts_json_literal(g, "postgres")) == yajl_gen_status_ok)
    {
        st = ok ? ts_json_literal(g, "ok") : ts_json_literal(g, "down");
    }

    if (st == yajl_gen_status_ok && redis
        && (st = ts_json_literal(g, "redis")) == yajl_gen_status_ok)
    {
        st = yajl_gen_string(g, (const unsigned char *) redis,
                             ngx_strlen(redis));
    }

    if (st != yajl_gen_status_ok
        || yajl_gen_map_close(g) != yajl_gen_status_ok)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ts_json_output(g, &body);

    return ts_http_send_json(r, ok ? NGX_HTTP_OK
                                   : NGX_HTTP_SERVICE_UNAVAILABLE,
                             &body, NULL);
}
