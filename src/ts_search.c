
/*
 * Tunesheap: search across artists, albums and songs.  One prepared query
 * on the search lane for every type asked for (ts_search_statement, in
 * ts_resource.c: the ranking of the candidates ts_search_ids_TABLE() in
 * db/schema.sql reads from the search tables); its rows come by type in
 * ts_resources order, ranked, and the answer lists the types in that
 * order.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ts_json.h"
#include "ts_http.h"
#include "ts_resource.h"
#include "ts_query.h"
#include "ts_read.h"
#include "ts_search.h"
#include "ts_cache.h"
#include "ts_replica.h"


typedef struct {
    ngx_http_request_t  *request;
    ts_pg_query_t        query;
    const char          *params[3];
    ngx_uint_t           types;       /* a bit per resource */
} ts_search_ctx_t;


static ngx_int_t ts_search_types(ngx_http_request_t *r, ngx_uint_t *types);
static ngx_int_t ts_search_fill(ngx_http_request_t *r, void *data);
static void ts_search_done(ts_pg_query_t *q);
static ngx_int_t ts_search_body(ngx_http_request_t *r, ngx_uint_t types,
    PGresult *res, ngx_str_t *body);


/*
 * a new backend's first searches would each pay for loading its caches
 * and planning the search functions: ts_search_warm() (db/schema.sql)
 * does it before the connection takes its first search.  The functions'
 * statements have one good plan for any text: generic plans, made once,
 * not custom ones planned a call (no parallel workers either, as on
 * every connection: ts_resource_init()).
 */
const char  ts_search_setup[] =
    "SET plan_cache_mode = force_generic_plan;"
    "SELECT ts_search_warm();";


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
                                  "artist, album, song and playlist");
    }

    ctx->request = r;
    ctx->params[0] = ts_http_cstr(r->pool, &text);
    ctx->params[1] = (char *) ngx_pnalloc(r->pool, NGX_INT64_LEN + 1);
    ctx->params[2] = (char *) ngx_pnalloc(r->pool, NGX_INT_T_LEN + 1);

    if (ctx->params[0] == NULL || ctx->params[1] == NULL
        || ctx->params[2] == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf((u_char *) ctx->params[1], "%L", limit);
    *p = '\0';

    p = ngx_sprintf((u_char *) ctx->params[2], "%ui", ctx->types);
    *p = '\0';

    ctx->query.statement = ts_search_statement;
    ctx->query.params = ctx->params;
    ctx->query.nparams = 3;
    ctx->query.done = ts_search_done;
    ctx->query.lane = TS_PG_LANE_SLOW;
    ctx->query.data = ctx;

    return ts_cache_get(r, ctx->types, ts_search_cache_args, ts_search_fill,
                        ctx);
}


/* the search, on the search lane: one query for every type */
static ngx_int_t
ts_search_fill(ngx_http_request_t *r, void *data)
{
    ts_search_ctx_t  *ctx = data;

    /* a replica past the searched types' newest write may answer */
    ts_replica_read(r, &ctx->query);

    if (ts_query_send(r, &ctx->query, 1) != NGX_OK) {
        return ts_query_error(r, &ctx->query);
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


/* the answer: every type's list, in ts_resources order */
static void
ts_search_done(ts_pg_query_t *q)
{
    ngx_int_t            rc;
    ngx_str_t            body;
    ts_search_ctx_t     *ctx;
    ngx_http_request_t  *r;

    ctx = q->data;
    r = ctx->request;

    if (q->rc != TS_PG_OK) {
        ts_http_finish(r, ts_query_error(r, q));
        return;
    }

    if (ts_search_body(r, ctx->types, q->result, &body) != NGX_OK) {
        ts_http_finish(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    rc = ts_cache_send(r, NGX_HTTP_OK, &body, NULL);

    ts_http_finish(r, rc);
}


/*
 * {"artists":[...],"albums":[...],"songs":[...]}: res's rows are the
 * resource's index, the rank, then the resource's columns from
 * TS_SEARCH_FIRST on, by resource and rank
 */
static ngx_int_t
ts_search_body(ngx_http_request_t *r, ngx_uint_t types, PGresult *res,
    ngx_str_t *body)
{
    int               row, rows;
    yajl_gen          g;
    ngx_int_t         k;
    ngx_uint_t        i;
    ts_resource_t    *rs;
    yajl_gen_status   st;

    /* strings come from Postgres: valid UTF-8 */
    g = ts_json_gen_db(r->pool);
    if (g == NULL) {
        return NGX_ERROR;
    }

    rows = PQntuples(res);
    row = 0;

    st = yajl_gen_map_open(g);

    for (i = 0; st == yajl_gen_status_ok && i < ts_nresources; i++) {
        if (!(types & ((ngx_uint_t) 1 << i))) {
            continue;
        }

        rs = &ts_resources[i];

        if (PQnfields(res) < (int) (TS_SEARCH_FIRST + rs->width)) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "tunesheap: a search answered %d columns",
                          PQnfields(res));
            return NGX_ERROR;
        }

        st = ts_json_str(g, &rs->name);

        if (st == yajl_gen_status_ok) {
            st = yajl_gen_array_open(g);
        }

        for ( /* void */ ; st == yajl_gen_status_ok && row < rows; row++) {
            k = ngx_atoi((u_char *) PQgetvalue(res, row, 0),
                         PQgetlength(res, row, 0));

            if (k != (ngx_int_t) i) {
                break;
            }

            st = ts_resource_item(r, g, rs, res, row, TS_SEARCH_FIRST);
        }

        if (st == yajl_gen_status_ok) {
            st = yajl_gen_array_close(g);
        }
    }

    if (st == yajl_gen_status_ok) {
        st = yajl_gen_map_close(g);
    }

    if (st != yajl_gen_status_ok || row != rows) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "tunesheap: generating search results failed: %d, "
                      "row %d of %d", (int) st, row, rows);
        return NGX_ERROR;
    }

    ts_json_output(g, body);

    return NGX_OK;
}
