
/*
 * Tunesheap: search across artists, albums and songs.  Each type asked for
 * is one prepared query (the ranking, in ts_resource.c, of the candidates
 * ts_search_ids_TABLE() in db/schema.sql reads from the search tables),
 * all of them sent at once on the search lane: they run side by side on
 * its connections, and the answer lists the types in a fixed order
 * whichever comes back first.
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


typedef struct ts_search_ctx_s  ts_search_ctx_t;

/* one type's query, and its list once answered */
typedef struct {
    ts_pg_query_t        query;
    ts_search_ctx_t     *ctx;
    ngx_uint_t           resource;    /* index in ts_resources */
    ngx_str_t            list;        /* the JSON array of its items */
    unsigned             sent:1;
} ts_search_part_t;

struct ts_search_ctx_s {
    ngx_http_request_t  *request;
    const char          *params[2];
    ngx_uint_t           types;       /* a bit per resource */
    ts_search_part_t    *parts;       /* a part per type asked for */
    ngx_uint_t           nparts;
    ngx_uint_t           pending;     /* parts not answered yet */
    unsigned             failed:1;
};


static ngx_int_t ts_search_types(ngx_http_request_t *r, ngx_uint_t *types);
static ngx_int_t ts_search_fill(ngx_http_request_t *r, void *data);
static void ts_search_cancel(ts_search_ctx_t *ctx);
static void ts_search_done(ts_pg_query_t *q);
static ngx_int_t ts_search_send(ts_search_ctx_t *ctx);


/*
 * a new backend's first searches would each pay for loading its caches
 * and planning the search functions: ts_search_warm() (db/schema.sql)
 * does it before the connection takes its first search
 */
const char  ts_search_setup[] = "SELECT ts_search_warm();";


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
    u_char            *p;
    int64_t            limit;
    ngx_int_t          rc;
    ngx_str_t          text;
    ngx_uint_t         i, n;
    ts_search_ctx_t   *ctx;
    ts_search_part_t  *part;

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
    ctx->parts = ngx_pcalloc(r->pool,
                             ts_nresources * sizeof(ts_search_part_t));

    if (ctx->params[0] == NULL || ctx->params[1] == NULL
        || ctx->parts == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf((u_char *) ctx->params[1], "%L", limit);
    *p = '\0';

    n = 0;

    for (i = 0; i < ts_nresources; i++) {
        if (!(ctx->types & ((ngx_uint_t) 1 << i))) {
            continue;
        }

        part = &ctx->parts[n++];
        part->ctx = ctx;
        part->resource = i;
        part->query.statement = ts_resources[i].search_statement;
        part->query.params = ctx->params;
        part->query.nparams = 2;
        part->query.done = ts_search_done;
        part->query.lane = TS_PG_LANE_SLOW;
        part->query.data = part;
    }

    ctx->nparts = n;

    return ts_cache_get(r, ctx->types, ts_search_cache_args, ts_search_fill,
                        ctx);
}


/* sends every type's query at once */
static ngx_int_t
ts_search_fill(ngx_http_request_t *r, void *data)
{
    ts_search_ctx_t  *ctx = data;

    ngx_uint_t         i;
    ts_search_part_t  *part;

    for (i = 0; i < ctx->nparts; i++) {
        part = &ctx->parts[i];

        /* a replica past the searched types' newest write may answer */
        ts_replica_read(r, &part->query);

        if (ts_query_send(r, &part->query, 1) != NGX_OK) {
            ctx->failed = 1;
            ts_search_cancel(ctx);
            return ts_query_error(r, &part->query);
        }

        part->sent = 1;
        ctx->pending++;
    }

    return NGX_DONE;
}


/* drops the queries still in flight: their answers are not needed */
static void
ts_search_cancel(ts_search_ctx_t *ctx)
{
    ngx_uint_t  i;

    for (i = 0; i < ctx->nparts; i++) {
        if (ctx->parts[i].sent) {
            ts_pg_query_cancel(&ctx->parts[i].query);
        }
    }
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


/* one type's answer: its list; the response once every type answered */
static void
ts_search_done(ts_pg_query_t *q)
{
    int                  row;
    yajl_gen             g;
    ngx_int_t            rc;
    yajl_gen_status      st;
    ts_resource_t       *rs;
    ts_search_ctx_t     *ctx;
    ts_search_part_t    *part;
    ngx_http_request_t  *r;

    part = q->data;
    ctx = part->ctx;
    r = ctx->request;
    rs = &ts_resources[part->resource];

    part->sent = 0;
    ctx->pending--;

    if (ctx->failed) {
        return;
    }

    if (q->rc != TS_PG_OK) {
        ctx->failed = 1;
        ts_search_cancel(ctx);
        ts_http_finish(r, ts_query_error(r, q));
        return;
    }

    g = ts_json_gen(r->pool);

    if (g == NULL) {
        ctx->failed = 1;
        ts_search_cancel(ctx);
        ts_http_finish(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    st = yajl_gen_array_open(g);

    for (row = 0; st == yajl_gen_status_ok && row < PQntuples(q->result);
         row++)
    {
        st = ts_resource_item(r, g, rs, q->result, row, 0);
    }

    if (st == yajl_gen_status_ok) {
        st = yajl_gen_array_close(g);
    }

    if (st != yajl_gen_status_ok) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "tunesheap: generating search results failed: %d",
                      (int) st);
        ctx->failed = 1;
        ts_search_cancel(ctx);
        ts_http_finish(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ts_json_output(g, &part->list);

    if (ctx->pending) {
        return;
    }

    rc = ts_search_send(ctx);

    ts_http_finish(r, rc);
}


/* {"artists":[...],"albums":[...],"songs":[...]}: the types in order */
static ngx_int_t
ts_search_send(ts_search_ctx_t *ctx)
{
    u_char              *p;
    size_t               len;
    ngx_str_t            body;
    ngx_uint_t           i;
    ts_resource_t       *rs;
    ngx_http_request_t  *r;

    r = ctx->request;

    len = sizeof("{}") - 1;

    for (i = 0; i < ctx->nparts; i++) {
        rs = &ts_resources[ctx->parts[i].resource];
        len += sizeof(",\"\":") - 1 + rs->name.len + ctx->parts[i].list.len;
    }

    body.data = ngx_pnalloc(r->pool, len);
    if (body.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = body.data;
    *p++ = '{';

    for (i = 0; i < ctx->nparts; i++) {
        rs = &ts_resources[ctx->parts[i].resource];

        if (i) {
            *p++ = ',';
        }

        *p++ = '"';
        p = ngx_cpymem(p, rs->name.data, rs->name.len);
        *p++ = '"';
        *p++ = ':';
        p = ngx_cpymem(p, ctx->parts[i].list.data, ctx->parts[i].list.len);
    }

    *p++ = '}';

    body.len = p - body.data;

    return ts_cache_send(r, NGX_HTTP_OK, &body, NULL);
}
