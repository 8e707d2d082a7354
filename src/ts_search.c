
/*
 * Tunesheap: search across artists, albums and songs.  Each type asked for
 * is one prepared query (the ranking, in ts_resource.c, of the candidates
 * ts_search_ids_TABLE() in db/schema.sql reads from the search tables),
 * run one after the other on the request's behalf, on the search lane.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ts_json.h"
#include "ts_http.h"
#include "ts_resource.h"
#include "ts_read.h"
#include "ts_search.h"
#include "ts_cache.h"


typedef struct {
    ngx_http_request_t  *request;
    ts_pg_query_t        query;
    const char          *params[2];
    yajl_gen             gen;
    ngx_uint_t           types;       /* a bit per resource */
    ngx_uint_t           current;     /* the resource being searched */
} ts_search_ctx_t;


static ngx_int_t ts_search_types(ngx_http_request_t *r, ngx_uint_t *types);
static ngx_int_t ts_search_fill(ngx_http_request_t *r, void *data);
static ngx_int_t ts_search_next(ts_search_ctx_t *ctx, ngx_uint_t first);
static void ts_search_done(ts_pg_query_t *q);


/* the query arguments a search reads: its cache key is made of these */
static ngx_str_t  ts_search_cache_args[] = {
    ngx_string("q"),
    ngx_string("type"),
    ngx_string("limit"),
    ngx_null_string
};


ngx_int_t
ts_search_handler(ngx_http_request_t *r)
{
    u_char           *p;
    int64_t           limit;
    ngx_int_t         rc;
    ngx_str_t         text;
    ngx_uint_t        i;
    ts_search_ctx_t  *ctx;

    rc = ts_http_arg(r, "q", &text);

    if (rc == NGX_DECLINED) {
        return ts_http_send_error(r, NGX_HTTP_BAD_REQUEST,
                                  "q is required");
    }

    if (rc != NGX_OK) {
        return ts_http_send_error(r, NGX_HTTP_BAD_REQUEST,
                                  "q must be at most %d bytes of UTF-8 text",
                                  TS_HTTP_ARG_MAX);
    }

    for (i = 0; i < text.len && text.data[i] == ' '; i++) {
        /* void */
    }

    if (i == text.len) {
        return ts_http_send_error(r, NGX_HTTP_BAD_REQUEST,
                                  "q must not be empty");
    }

    if (ts_read_limit(r, &limit) != NGX_OK) {
        return ts_http_send_error(r, NGX_HTTP_BAD_REQUEST, TS_LIMIT_ERROR);
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ts_search_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ts_search_types(r, &ctx->types) != NGX_OK) {
        return ts_http_send_error(r, NGX_HTTP_BAD_REQUEST,
                                  "type must be a comma-separated list of "
                                  "artist, album and song");
    }

    ctx->request = r;
    ctx->params[0] = ts_http_cstr(r->pool, &text);
    ctx->params[1] = (char *) ngx_pnalloc(r->pool, NGX_INT64_LEN + 1);
    ctx->gen = ts_json_gen(r->pool);

    if (ctx->params[0] == NULL || ctx->params[1] == NULL || ctx->gen == NULL
        || yajl_gen_map_open(ctx->gen) != yajl_gen_status_ok)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf((u_char *) ctx->params[1], "%L", limit);
    *p = '\0';

    ctx->query.params = ctx->params;
    ctx->query.nparams = 2;
    ctx->query.done = ts_search_done;
    ctx->query.lane = TS_PG_LANE_SLOW;
    ctx->query.data = ctx;

    return ts_cache_get(r, ctx->types, ts_search_cache_args, ts_search_fill,
                        ctx);
}


static ngx_int_t
ts_search_fill(ngx_http_request_t *r, void *data)
{
    ts_search_ctx_t  *ctx = data;

    if (ts_search_next(ctx, 1) != NGX_OK) {
        return ts_read_query_error(r, &ctx->query);
    }

    return NGX_DONE;
}


/* type=artist,album: a bit per resource; all of them when absent */
static ngx_int_t
ts_search_types(ngx_http_request_t *r, ngx_uint_t *types)
{
    u_char      *p, *end, *start;
    ngx_str_t    value;
    ngx_uint_t   i;

    *types = 0;

    switch (ts_http_arg(r, "type", &value)) {

    case NGX_DECLINED:
        *types = ((ngx_uint_t) 1 << ts_nresources) - 1;
        return NGX_OK;

    case NGX_OK:
        break;

    default:
        return NGX_ERROR;
    }

    p = value.data;
    end = p + value.len;

    while (p <= end) {
        start = p;

        while (p < end && *p != ',') {
            p++;
        }

        for (i = 0; i < ts_nresources; i++) {
            if ((size_t) (p - start) == ts_resources[i].singular.len
                && ngx_strncmp(start, ts_resources[i].singular.data,
                               p - start)
                   == 0)
            {
                break;
            }
        }

        if (i == ts_nresources) {
            return NGX_ERROR;
        }

        *types |= (ngx_uint_t) 1 << i;
        p++;
    }

    return NGX_OK;
}


/*
 * Queries the next type asked for: NGX_OK, NGX_DONE when none is left, or
 * NGX_ERROR with the query's rc saying why.
 */
static ngx_int_t
ts_search_next(ts_search_ctx_t *ctx, ngx_uint_t first)
{
    ngx_uint_t  i;

    for (i = first ? 0 : ctx->current + 1; i < ts_nresources; i++) {
        if (ctx->types & ((ngx_uint_t) 1 << i)) {
            ctx->current = i;
            ctx->query.statement = ts_resources[i].search_statement;

            return ts_read_query(ctx->request, &ctx->query, first);
        }
    }

    return NGX_DONE;
}


static void
ts_search_done(ts_pg_query_t *q)
{
    int                  row;
    yajl_gen             g;
    ngx_int_t            rc;
    ngx_str_t            body;
    yajl_gen_status      st;
    ts_resource_t       *rs;
    ts_search_ctx_t     *ctx;
    ngx_http_request_t  *r;

    ctx = q->data;
    r = ctx->request;
    g = ctx->gen;
    rs = &ts_resources[ctx->current];

    if (q->rc != TS_PG_OK) {
        ts_http_finish(r, ts_read_query_error(r, q));
        return;
    }

    st = ts_json_str(g, &rs->name);

    if (st == yajl_gen_status_ok) {
        st = yajl_gen_array_open(g);
    }

    for (row = 0; st == yajl_gen_status_ok && row < PQntuples(q->result);
         row++)
    {
        st = ts_resource_item(ctx->request, g, rs, q->result, row, 0);
    }

    if (st == yajl_gen_status_ok) {
        st = yajl_gen_array_close(g);
    }

    if (st != yajl_gen_status_ok) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "tunesheap: generating search results failed: %d",
                      (int) st);
        ts_http_finish(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    rc = ts_search_next(ctx, 0);

    if (rc == NGX_OK) {
        return;
    }

    if (rc == NGX_ERROR) {
        rc = ts_read_query_error(r, q);

    } else if (yajl_gen_map_close(g) != yajl_gen_status_ok) {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;

    } else {
        ts_json_output(g, &body);
        rc = ts_cache_send(r, NGX_HTTP_OK, &body, NULL);
    }

    ts_http_finish(r, rc);
}
