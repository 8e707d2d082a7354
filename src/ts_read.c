
/*
 * Tunesheap: the read side of the catalog.  One generic handler serves
 * every resource's item, list and nested lists from its description.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ts_module.h"
#include "ts_json.h"
#include "ts_http.h"
#include "ts_resource.h"
#include "ts_query.h"
#include "ts_read.h"
#include "ts_cache.h"
#include "ts_replica.h"


#if (TS_LIMIT_MAX + 1 > TS_PAGE_ROWS)
#error "a list statement returns at most TS_PAGE_ROWS rows"
#endif


#define TS_READ_BATCH_MAX        100   /* items in one statement */
#define TS_READ_RESOURCES_MAX    8     /* resources that batch their items */
#define TS_READ_PAGES_MAX        32    /* list pages in one statement */
#define TS_READ_LISTS_MAX        8     /* lists that batch pages at once */


typedef struct ts_read_batch_s  ts_read_batch_t;
typedef struct ts_read_pages_s  ts_read_pages_t;


typedef struct {
    ngx_http_request_t  *request;
    ts_route_t           route;
    ts_pg_query_t        query;
    const char          *params[2 + TS_FILTERS_MAX];
    int64_t              limit;
    int64_t              offset;
    int64_t              anchor;     /* the after= or before= item */
    ngx_uint_t           page;       /* TS_PAGE_ */
    ts_resource_t       *listed;     /* the resource a list is of */
    ngx_uint_t           fixed;      /* the filter its path sets, or none */
    ngx_str_t            filters[TS_FILTERS_MAX];
    ngx_uint_t           mask;
    ngx_uint_t           ordered;    /* a list of entries (ts_relation_t) */
    int64_t              item;       /* an item's id */
    ts_read_batch_t     *batch;      /* the item's batch, until answered */
    ts_read_pages_t     *pages;      /* the page's batch, until answered */
    ngx_uint_t           member;     /* its place in the batch */
    u_char               error[128];    /* why the arguments are invalid */
} ts_read_ctx_t;


/*
 * Items of one resource that missed the cache in one turn of the event
 * loop, fetched with one statement at the end of the turn.  A statement
 * costs Postgres about as much as its round trip, the protocol, a
 * transaction and the executor's start; a primary key lookup's rows are
 * little beside that.  Under load, one turn handles many requests (the
 * Redis replies of a turn arrive together): one statement serves them
 * all, with no wait that a request would not have had anyway; a quiet
 * node's items go one a statement, as before.  The batch outlives its
 * requests: one that goes away leaves its place empty.
 */
struct ts_read_batch_s {
    ts_pg_query_t        query;
    ngx_event_t          send;       /* posted: at the end of the turn */
    ts_resource_t       *resource;
    const char          *params[1];
    ngx_uint_t           n;          /* places taken */
    ngx_uint_t           live;       /* requests still waiting */
    ngx_uint_t           sent;       /* handed to the pool */
    ts_read_ctx_t       *members[TS_READ_BATCH_MAX];
    u_char               ids[2 + TS_READ_BATCH_MAX * (NGX_INT64_LEN + 1)];
};


/*
 * Pages of one statement that missed in one turn, as items do: one
 * statement for them all (NAME_n, ts_resource.c), each page with its own
 * limit, offset or anchor and filters (an album's songs and another's go
 * together).  A list page costs Postgres more than an item, but most of
 * an uncached page's cost is still the statement's own: its round trip,
 * transaction and executor.
 */
struct ts_read_pages_s {
    ts_pg_query_t        query;
    ngx_event_t          send;       /* posted: at the end of the turn */
    const char          *statement;  /* the pages' own */
    ngx_uint_t           slot;       /* in ts_read_lists */
    int                  nparams;
    const char          *params[2 + TS_FILTERS_MAX];
    ngx_uint_t           n;          /* places taken */
    ngx_uint_t           live;       /* requests still waiting */
    ngx_uint_t           sent;       /* handed to the pool */
    ngx_uint_t           pages;      /* sent as NAME_n: how many */
    u_char              *filters;    /* their arrays, when sent together */
    ts_read_ctx_t       *members[TS_READ_PAGES_MAX];
    u_char               order[TS_READ_PAGES_MAX];  /* page -> place */
    u_char               name[TS_STATEMENT_LEN + sizeof(TS_PAGES_SUFFIX)];
    u_char               limits[2 + TS_READ_PAGES_MAX * (NGX_INT64_LEN + 1)];
    u_char               values[2 + TS_READ_PAGES_MAX * (NGX_INT64_LEN + 1)];
};


static ngx_uint_t ts_read_deps(ts_route_t *route);
static ngx_str_t *ts_read_cache_args(ngx_http_request_t *r,
    ts_read_ctx_t *ctx);
static ngx_int_t ts_read_fill(ngx_http_request_t *r, void *data);
static ngx_int_t ts_read_list_args(ngx_http_request_t *r, ts_read_ctx_t *ctx);
static ngx_int_t ts_read_invalid(ts_read_ctx_t *ctx, const char *fmt,
    ngx_str_t *name);
static void ts_read_done(ts_pg_query_t *q);
static ngx_int_t ts_read_item(ts_read_ctx_t *ctx, PGresult *res, int row);
static ngx_int_t ts_read_list(ts_read_ctx_t *ctx, PGresult *res, int base,
    int rows);
static yajl_gen_status ts_read_previous(ts_read_ctx_t *ctx, yajl_gen g,
    PGresult *res, int n, int head, int id, ngx_uint_t more);
static yajl_gen_status ts_read_page_url(ts_read_ctx_t *ctx, yajl_gen g,
    const char *arg, u_char *value, size_t len);
static ngx_int_t ts_read_batch_add(ngx_http_request_t *r,
    ts_read_ctx_t *ctx);
static ngx_int_t ts_read_shared_send(ts_pg_query_t *q,
    ts_read_ctx_t **members, ngx_uint_t n);
static void ts_read_batch_send(ngx_event_t *ev);
static void ts_read_batch_done(ts_pg_query_t *q);
static void ts_read_batch_cleanup(void *data);
static ngx_int_t ts_read_pages_add(ngx_http_request_t *r,
    ts_read_ctx_t *ctx);
static void ts_read_pages_send(ngx_event_t *ev);
static void ts_read_pages_done(ts_pg_query_t *q);
static ngx_uint_t ts_read_page_of(PGresult *res, int row, int col);
static void ts_read_pages_cleanup(void *data);
static ngx_int_t ts_read_pages_filters(ts_read_pages_t *b);
static void ts_read_pages_free(ts_read_pages_t *b);


static ngx_str_t  ts_read_entry = ngx_string("entry");


/* this worker's batches still taking items, by resource */
static ts_read_batch_t  *ts_read_batches[TS_READ_RESOURCES_MAX];

/* this worker's batches still taking list pages */
static ts_read_pages_t  *ts_read_lists[TS_READ_LISTS_MAX];


ngx_int_t
ts_read_handler(ngx_http_request_t *r, ts_route_t *route)
{
    ngx_int_t        rc;
    ngx_str_t       *args;
    ts_resource_t   *rs;
    ts_read_ctx_t   *ctx;
    ts_pg_query_t   *q;

    ctx = ngx_pcalloc(r->pool, sizeof(ts_read_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->request = r;
    ctx->route = *route;
    rs = route->resource;

    q = &ctx->query;
    q->params = ctx->params;
    q->done = ts_read_done;
    q->data = ctx;

    if (route->kind == ts_route_item) {
        q->statement = rs->item_statement;
        q->nparams = 1;
        ctx->params[0] = ts_http_cstr(r->pool, &route->id);
        ctx->item = -1;

        if (ctx->params[0] == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (ts_http_parse_int(&route->id, &ctx->item) != NGX_OK) {
            ctx->item = -1;
        }

    } else {
        rc = ts_read_list_args(r, ctx);

        if (rc == NGX_HTTP_BAD_REQUEST) {
            return ts_http_send_error(r, rc, "%s", ctx->error);
        }

        if (rc != NGX_OK) {
            return rc;
        }
    }

    args = ts_read_cache_args(r, ctx);

    if (ctx->listed && args == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ts_cache_get(r, ts_read_deps(route), args, ts_read_fill, ctx);
}


/*
 * The query arguments a list reads, beside its resource's filters: the
 * cache key is made of these (an argument a list reads goes here).
 */
static ngx_str_t  ts_read_list_args_read[] = {
    ngx_string("limit"),
    ngx_string("offset"),
    ngx_string("after"),
    ngx_string("before"),
    ngx_null_string
};


/* the arguments the answer depends on, for ts_cache_get(); NULL: none */
static ngx_str_t *
ts_read_cache_args(ngx_http_request_t *r, ts_read_ctx_t *ctx)
{
    ngx_str_t   *args;
    ngx_uint_t   i, n, nread;

    if (ctx->listed == NULL) {
        return NULL;
    }

    nread = sizeof(ts_read_list_args_read) / sizeof(ngx_str_t) - 1;

    args = ngx_pcalloc(r->pool,
                       (nread + ctx->listed->nfilters + 1) * sizeof(ngx_str_t));
    if (args == NULL) {
        return NULL;
    }

    n = 0;

    for (i = 0; i < nread; i++) {
        args[n++] = ts_read_list_args_read[i];
    }

    for (i = 0; !ctx->ordered && i < ctx->listed->nfilters; i++) {
        if (i != ctx->fixed) {
            args[n++] = ctx->listed->filters[i].name;
        }
    }

    return args;
}


/* the resources an answer is made from: their writes make it stale */
static ngx_uint_t
ts_read_deps(ts_route_t *route)
{
    ngx_uint_t  deps;

    deps = ts_resource_bit(route->resource);

    if (route->relation) {
        deps |= ts_resource_bit(route->relation->child);
    }

    return deps;
}


static ngx_int_t
ts_read_fill(ngx_http_request_t *r, void *data)
{
    ts_read_ctx_t  *ctx = data;

    ts_replica_read(r, &ctx->query);

    if (ctx->route.kind == ts_route_item && ctx->item >= 0
        && ctx->route.resource - ts_resources < TS_READ_RESOURCES_MAX)
    {
        return ts_read_batch_add(r, ctx);
    }

    if (ctx->listed) {
        return ts_read_pages_add(r, ctx);
    }

    if (ts_query_send(r, &ctx->query, 1) != NGX_OK) {
        return ts_query_error(r, &ctx->query);
    }

    return NGX_DONE;
}


ngx_int_t
ts_read_limit(ngx_http_request_t *r, int64_t *limit)
{
    ngx_int_t  rc;
    ngx_str_t  value;

    rc = ts_http_arg(r, "limit", &value);

    if (rc == NGX_DECLINED) {
        *limit = TS_LIMIT_DEFAULT;
        return NGX_OK;
    }

    if (rc != NGX_OK
        || ts_http_parse_int(&value, limit) != NGX_OK
        || *limit < 1 || *limit > TS_LIMIT_MAX)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * limit, the page (offset=, after= or before=, one at most) and the
 * filters: the parameters of the list's statement
 */
static ngx_int_t
ts_read_list_args(ngx_http_request_t *r, ts_read_ctx_t *ctx)
{
    int64_t          id, *page;
    ngx_int_t        rc;
    ngx_str_t        value;
    ngx_uint_t       i, n, fixed, pages;
    ts_filter_t     *filter;
    ts_resource_t   *rs;
    ts_relation_t   *rel;

    static ngx_str_t  names[] = {
        ngx_string("offset"), ngx_string("after"), ngx_string("before")
    };

    rel = ctx->route.relation;
    rs = rel ? rel->child : ctx->route.resource;
    fixed = rel ? rel->filter : TS_FILTERS_MAX;

    ctx->listed = rs;
    ctx->fixed = fixed;
    ctx->ordered = (rel && rel->join);

    if (ts_read_limit(r, &ctx->limit) != NGX_OK) {
        return ts_read_invalid(ctx, TS_LIMIT_ERROR, NULL);
    }

    ctx->page = TS_PAGE_OFFSET;
    ctx->offset = 0;
    pages = 0;

    for (i = 0; i < TS_PAGE_KINDS; i++) {
        rc = ts_http_arg(r, (char *) names[i].data, &value);

        if (rc == NGX_DECLINED) {
            continue;
        }

        page = (i == TS_PAGE_OFFSET) ? &ctx->offset : &ctx->anchor;

        if (rc != NGX_OK || ts_http_parse_int(&value, page) != NGX_OK) {
            return ts_read_invalid(ctx, "%V must be a non-negative integer",
                                   &names[i]);
        }

        ctx->page = i;
        pages++;
    }

    if (pages > 1) {
        return ts_read_invalid(ctx, "offset, after and before cannot be "
                               "combined: give one of them", NULL);
    }

    n = 2;

    if (ctx->ordered) {
        /* entries: by the parent's id alone, the child's filters unused */
        ctx->params[n] = ts_http_cstr(r->pool, &ctx->route.id);
        if (ctx->params[n++] == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    for (i = 0; !ctx->ordered && i < rs->nfilters; i++) {
        filter = &rs->filters[i];

        if (i == fixed) {
            /* the path names it: /artists/4/albums */
            value = ctx->route.id;

        } else {
            rc = ts_http_arg(r, (char *) filter->name.data, &value);

            if (rc == NGX_DECLINED) {
                continue;
            }

            if (rc != NGX_OK || value.len == 0) {
                return ts_read_invalid(ctx, "%V must be a non-empty string of "
                                       "at most 200 bytes of UTF-8",
                                       &filter->name);
            }

            if (filter->type == TS_ARG_ID
                && ts_http_parse_int(&value, &id) != NGX_OK)
            {
                return ts_read_invalid(ctx,
                                       "%V must be a non-negative integer",
                                       &filter->name);
            }
        }

        ctx->mask |= (ngx_uint_t) 1 << i;
        ctx->filters[i] = value;

        ctx->params[n] = ts_http_cstr(r->pool, &value);
        if (ctx->params[n] == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        n++;
    }

    ctx->params[0] = (char *) ngx_pnalloc(r->pool, 2 * (NGX_INT64_LEN + 1));
    if (ctx->params[0] == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* one row more than the page: whether there is a page after it */
    ctx->params[1] = ctx->params[0] + NGX_INT64_LEN + 1;
    *ngx_sprintf((u_char *) ctx->params[0], "%L", ctx->limit + 1) = '\0';
    *ngx_sprintf((u_char *) ctx->params[1], "%L",
                 ctx->page == TS_PAGE_OFFSET ? ctx->offset : ctx->anchor)
        = '\0';

    ctx->query.nparams = n;
    ctx->query.statement = rel ? rel->statements[ctx->page][ctx->mask]
                               : rs->list_statements[ctx->page][ctx->mask];

    return NGX_OK;
}


/* says why an argument is invalid; the handler answers with a 400 */
static ngx_int_t
ts_read_invalid(ts_read_ctx_t *ctx, const char *fmt, ngx_str_t *name)
{
    u_char  *p;

    p = ngx_snprintf(ctx->error, sizeof(ctx->error) - 1, fmt, name);
    *p = '\0';

    return NGX_HTTP_BAD_REQUEST;
}


static void
ts_read_done(ts_pg_query_t *q)
{
    ngx_int_t            rc;
    ts_read_ctx_t       *ctx;
    ngx_http_request_t  *r;

    ctx = q->data;
    r = ctx->request;

    if (q->rc != TS_PG_OK) {
        rc = ts_query_error(r, q);

    } else if (ctx->route.kind == ts_route_item) {
        rc = ts_read_item(ctx, q->result, PQntuples(q->result) ? 0 : -1);

    } else {
        rc = ts_read_list(ctx, q->result, 0, PQntuples(q->result));
    }

    ts_http_finish(r, rc);
}


/* the item in row of res; -1: there is none */
static ngx_int_t
ts_read_item(ts_read_ctx_t *ctx, PGresult *res, int row)
{
    u_char              *hash;
    ngx_str_t            body, etag;
    ts_resource_t       *rs;
    ngx_http_request_t  *r;

    r = ctx->request;
    rs = ctx->route.resource;

    if (row < 0) {
        return ts_http_send_error(r, NGX_HTTP_NOT_FOUND, "%V %V not found",
                                  &rs->singular, &ctx->route.id);
    }

    if (ts_resource_item_body_row(r, rs, res, row, 0, &body, &hash) != NGX_OK
        || ts_http_etag(r, hash, TS_ITEM_HASH_LEN, &etag) != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "tunesheap: generating %V %V failed",
                      &rs->singular, &ctx->route.id);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ts_cache_send(r, NGX_HTTP_OK, &body, &etag);
}


/*
 * The page and its meta.  The statement fetched one row more than the
 * page in the direction it walks: whether there is more that way; a page
 * before an item comes backwards.  next continues after the page's last
 * item, whatever kind the page is; previous goes back by offset from an
 * offset page, and before the page's first item from the others.  The
 * page is rows rows of res from row base (a batch's pages share one):
 * its meta row and its items' rows.
 */
static ngx_int_t
ts_read_list(ts_read_ctx_t *ctx, PGresult *res, int base, int rows)
{
    int                  i, n, first, head, tail, id, entry, row, meta;
    int64_t              total;
    yajl_gen             g;
    ngx_str_t            body, value;
    ngx_uint_t           more, back, c;
    yajl_gen_status      st;
    ts_resource_t       *rs;
    ngx_http_request_t  *r;

    static ngx_str_t  names[] = {
        ngx_string("offset"), ngx_string("after"), ngx_string("before")
    };

    r = ctx->request;
    rs = ctx->listed;
    first = TS_LIST_ANCHOR + 1;

    /* entries: their id and position come before the child's columns */
    entry = first;

    if (ctx->ordered) {
        first += TS_ENTRY_COLUMNS;
    }

    /* the meta row first (its found is never NULL), then the page's */
    meta = base;

    if (rows == 0 || PQnfields(res) < first + (int) rs->width
        || PQgetisnull(res, meta, TS_LIST_FOUND))
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "tunesheap: unexpected result of \"%s\"",
                      ctx->query.statement);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    n = rows - 1;
    base++;

    if (PQgetvalue(res, meta, TS_LIST_FOUND)[0] != 't') {
        return ts_http_send_error(r, NGX_HTTP_NOT_FOUND, "%V %V not found",
                                  &ctx->route.resource->singular,
                                  &ctx->route.id);
    }

    if (PQgetvalue(res, meta, TS_LIST_ANCHOR)[0] != 't') {
        return ts_http_send_error(r, NGX_HTTP_BAD_REQUEST,
                                  "%V: %V %L is not in this list",
                                  &names[ctx->page],
                                  ctx->ordered ? &ts_read_entry
                                               : &rs->singular,
                                  ctx->anchor);
    }

    value.data = (u_char *) PQgetvalue(res, meta, TS_LIST_TOTAL);
    value.len = PQgetlength(res, meta, TS_LIST_TOTAL);

    if (ts_http_parse_int(&value, &total) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    id = first;

    for (c = 0; c < rs->ncolumns; c++) {
        if (rs->columns[c].name.len == 2
            && ngx_strncmp(rs->columns[c].name.data, "id", 2) == 0)
        {
            id = first + (int) rs->columns[c].field;
            break;
        }
    }

    if (ctx->ordered) {
        /* pages of entries go after and before entries */
        id = entry;
    }

    more = (n > ctx->limit);

    if (more) {
        n = (int) ctx->limit;
    }

    /* the rows of the page's first and last items */
    back = (ctx->page == TS_PAGE_BEFORE);
    head = base + (back ? n - 1 : 0);
    tail = base + (back ? 0 : n - 1);

    g = ts_json_gen_db(r->pool);
    if (g == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    st = yajl_gen_map_open(g);

    if (st == yajl_gen_status_ok) {
        st = ts_json_str(g, &rs->name);
    }

    if (st == yajl_gen_status_ok) {
        st = yajl_gen_array_open(g);
    }

    for (i = 0; st == yajl_gen_status_ok && i < n; i++) {
        row = base + (back ? n - 1 - i : i);

        if (!ctx->ordered) {
            st = ts_resource_item(ctx->request, g, rs, res, row, first);
            continue;
        }

        /* {"entry_id":12,"position":0,"song":{...}} */
        if ((st = yajl_gen_map_open(g)) == yajl_gen_status_ok
            && (st = ts_json_literal(g, "entry_id")) == yajl_gen_status_ok
            && (st = yajl_gen_number(g, PQgetvalue(res, row, entry),
                                     PQgetlength(res, row, entry)))
               == yajl_gen_status_ok
            && (st = ts_json_literal(g, "position")) == yajl_gen_status_ok
            && (st = yajl_gen_number(g, PQgetvalue(res, row, entry + 1),
                                     PQgetlength(res, row, entry + 1)))
               == yajl_gen_status_ok
            && (st = ts_json_str(g, &rs->singular)) == yajl_gen_status_ok
            && (st = ts_resource_item(ctx->request, g, rs, res, row, first))
               == yajl_gen_status_ok)
        {
            st = yajl_gen_map_close(g);
        }
    }

    if (st == yajl_gen_status_ok
        && (st = yajl_gen_array_close(g)) == yajl_gen_status_ok
        && (st = ts_json_literal(g, "meta")) == yajl_gen_status_ok
        && (st = yajl_gen_map_open(g)) == yajl_gen_status_ok
        && (st = ts_json_literal(g, "total")) == yajl_gen_status_ok
        && (st = ts_json_integer(g, total)) == yajl_gen_status_ok
        && (st = ts_json_literal(g, "limit")) == yajl_gen_status_ok
        && (st = ts_json_integer(g, ctx->limit)) == yajl_gen_status_ok
        && (st = ts_json_literal(g, "offset")) == yajl_gen_status_ok)
    {
        st = (ctx->page == TS_PAGE_OFFSET) ? ts_json_integer(g, ctx->offset)
                                           : yajl_gen_null(g);
    }

    if (st == yajl_gen_status_ok
        && (st = ts_json_literal(g, "next")) == yajl_gen_status_ok)
    {
        if (n > 0 && (more || back)) {
            st = ts_read_page_url(ctx, g, "after",
                                  (u_char *) PQgetvalue(res, tail, id),
                                  PQgetlength(res, tail, id));

        } else if (back) {
            /* nothing before the anchor: it is the first item */
            st = ts_read_page_url(ctx, g, "offset", (u_char *) "0", 1);

        } else {
            st = yajl_gen_null(g);
        }
    }

    if (st == yajl_gen_status_ok
        && (st = ts_json_literal(g, "previous")) == yajl_gen_status_ok)
    {
        st = ts_read_previous(ctx, g, res, n, head, id, more);
    }

    if (st == yajl_gen_status_ok
        && (st = yajl_gen_map_close(g)) == yajl_gen_status_ok)
    {
        st = yajl_gen_map_close(g);
    }

    if (st != yajl_gen_status_ok) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "tunesheap: generating a list of %V failed: %d",
                      &rs->name, (int) st);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ts_json_output(g, &body);

    return ts_cache_send(r, NGX_HTTP_OK, &body, NULL);
}


/*
 * previous: by offset from an offset page (never below 0), before the
 * first item (in row head) from a page after an item, and from a page
 * before an item when it did not reach the list's start; an empty page
 * after an item has none
 */
static yajl_gen_status
ts_read_previous(ts_read_ctx_t *ctx, yajl_gen g, PGresult *res, int n,
    int head, int id, ngx_uint_t more)
{
    u_char   buf[NGX_INT64_LEN];
    int64_t  offset;

    switch (ctx->page) {

    case TS_PAGE_OFFSET:
        if (ctx->offset == 0) {
            return yajl_gen_null(g);
        }

        offset = (ctx->offset > ctx->limit) ? ctx->offset - ctx->limit : 0;

        return ts_read_page_url(ctx, g, "offset", buf,
                                ngx_sprintf(buf, "%L", offset) - buf);

    case TS_PAGE_AFTER:
        if (n == 0) {
            return yajl_gen_null(g);
        }

        break;

    default: /* TS_PAGE_BEFORE */
        if (!more) {
            return yajl_gen_null(g);
        }
    }

    return ts_read_page_url(ctx, g, "before",
                            (u_char *) PQgetvalue(res, head, id),
                            PQgetlength(res, head, id));
}


/* the same list, another page: path?filters&limit=&arg=value */
static yajl_gen_status
ts_read_page_url(ts_read_ctx_t *ctx, yajl_gen g, const char *arg,
    u_char *value, size_t len)
{
    u_char              *url, *p;
    size_t               size;
    ngx_uint_t           i, fixed;
    ts_resource_t       *rs;
    ngx_http_request_t  *r;

    r = ctx->request;
    rs = ctx->listed;
    fixed = ctx->fixed;

    size = r->uri.len + sizeof("?limit=&=") + NGX_INT64_LEN
           + ngx_strlen(arg) + len;

    for (i = 0; i < rs->nfilters; i++) {
        if ((ctx->mask & ((ngx_uint_t) 1 << i)) && i != fixed) {
            size += rs->filters[i].name.len + 2
                    + ctx->filters[i].len
                    + 2 * ngx_escape_uri(NULL, ctx->filters[i].data,
                                         ctx->filters[i].len,
                                         NGX_ESCAPE_ARGS);
        }
    }

    url = ngx_pnalloc(r->pool, size);
    if (url == NULL) {
        return yajl_gen_invalid_string;
    }

    p = ngx_cpymem(url, r->uri.data, r->uri.len);
    *p++ = '?';

    for (i = 0; i < rs->nfilters; i++) {
        if ((ctx->mask & ((ngx_uint_t) 1 << i)) && i != fixed) {
            p = ngx_cpymem(p, rs->filters[i].name.data,
                           rs->filters[i].name.len);
            *p++ = '=';
            p = (u_char *) ngx_escape_uri(p, ctx->filters[i].data,
                                          ctx->filters[i].len,
                                          NGX_ESCAPE_ARGS);
            *p++ = '&';
        }
    }

    p = ngx_sprintf(p, "limit=%L&%s=", ctx->limit, arg);
    p = ngx_cpymem(p, value, len);

    return yajl_gen_string(g, url, p - url);
}


/*
 * The item's place in its resource's batch; the first item of a batch
 * posts its sending, so the batch goes out once the turn has handled
 * every event it had
 */
static ngx_int_t
ts_read_batch_add(ngx_http_request_t *r, ts_read_ctx_t *ctx)
{
    ngx_uint_t        i;
    ts_read_batch_t  *b;

    i = ctx->route.resource - ts_resources;
    b = ts_read_batches[i];

    if (b == NULL) {
        b = ngx_alloc(sizeof(ts_read_batch_t), ngx_cycle->log);
        if (b == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_memzero(b, offsetof(ts_read_batch_t, members));

        b->resource = ctx->route.resource;
        b->send.handler = ts_read_batch_send;
        b->send.data = b;
        b->send.log = ngx_cycle->log;

        ts_read_batches[i] = b;
        ngx_post_event(&b->send, &ngx_posted_events);
    }

    if (ts_http_cleanup(r, ts_read_batch_cleanup, ctx) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->batch = b;
    ctx->member = b->n;
    b->members[b->n++] = ctx;
    b->live++;

    if (b->n == TS_READ_BATCH_MAX) {
        /* full: it goes as posted; the next item starts another */
        ts_read_batches[i] = NULL;
    }

    return NGX_DONE;
}


/*
 * Sends a statement that answers several requests (items or pages that
 * missed in one turn): a replica may answer if it may for every one of
 * them, past all their fences.  NGX_ERROR: not sent, q's done handler
 * has already answered them all.
 */
static ngx_int_t
ts_read_shared_send(ts_pg_query_t *q, ts_read_ctx_t **members, ngx_uint_t n)
{
    ngx_uint_t        i;
    ts_read_ctx_t    *ctx;
    ts_main_conf_t   *tmcf;

    q->replica = 1;
    q->fence = 0;

    for (i = 0; i < n; i++) {
        ctx = members[i];

        if (ctx == NULL) {
            continue;
        }

        if (!ctx->query.replica) {
            q->replica = 0;
            q->fence = 0;
            break;
        }

        if (ctx->query.fence > q->fence) {
            q->fence = ctx->query.fence;
        }
    }

    tmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_tunesheap_module);

    if (tmcf->pools[q->lane] == NULL) {
        q->rc = TS_PG_UNAVAILABLE;
        q->done(q);
        return NGX_ERROR;
    }

    if (ts_pg_query(tmcf->pools[q->lane], q) != NGX_OK) {
        /* failed at once: q->rc says why */
        q->done(q);
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ts_read_batch_send(ngx_event_t *ev)
{
    u_char               *p;
    ngx_uint_t            i, n;
    ts_pg_query_t        *q;
    ts_read_ctx_t        *ctx;
    ts_read_batch_t      *b;

    b = ev->data;

    i = b->resource - ts_resources;

    if (ts_read_batches[i] == b) {
        ts_read_batches[i] = NULL;
    }

    if (b->live == 0) {
        /* every request went away before it was sent */
        ngx_free(b);
        return;
    }

    q = &b->query;
    q->params = b->params;
    q->nparams = 1;
    q->done = ts_read_batch_done;
    q->data = b;
    q->log = ngx_cycle->log;
    q->lane = TS_PG_LANE_FAST;

    if (b->live == 1) {
        /* alone: the item's own statement */
        for (i = 0; b->members[i] == NULL; i++) { /* void */ }

        q->statement = b->resource->item_statement;
        b->params[0] = b->members[i]->params[0];

    } else {
        q->statement = b->resource->items_statement;
        b->params[0] = (char *) b->ids;

        p = b->ids;
        *p++ = '{';

        for (i = 0, n = 0; i < b->n; i++) {
            ctx = b->members[i];

            if (ctx) {
                p = ngx_sprintf(p, n++ ? ",%L" : "%L", ctx->item);
            }
        }

        *p++ = '}';
        *p = '\0';
    }

    if (ts_read_shared_send(q, b->members, b->n) == NGX_OK) {
        b->sent = 1;
    }
}


/* every request of the batch still there gets its item, or its error */
static void
ts_read_batch_done(ts_pg_query_t *q)
{
    int                  row, rows, col;
    int64_t              id;
    ngx_int_t            rc;
    ngx_str_t            value;
    ngx_uint_t           i;
    ts_read_ctx_t       *ctx;
    ts_read_batch_t     *b;
    ngx_http_request_t  *r;

    b = q->data;
    col = (int) b->resource->id_column;
    rows = (q->rc == TS_PG_OK) ? PQntuples(q->result) : 0;

    for (i = 0; i < b->n; i++) {
        ctx = b->members[i];

        if (ctx == NULL) {
            continue;
        }

        b->members[i] = NULL;
        ctx->batch = NULL;
        r = ctx->request;

        if (q->rc != TS_PG_OK) {
            rc = ts_query_error(r, q);

        } else {
            for (row = 0; row < rows; row++) {
                value.data = (u_char *) PQgetvalue(q->result, row, col);
                value.len = PQgetlength(q->result, row, col);

                if (ts_http_parse_int(&value, &id) == NGX_OK
                    && id == ctx->item)
                {
                    break;
                }
            }

            rc = ts_read_item(ctx, q->result, row < rows ? row : -1);
        }

        ts_http_finish(r, rc);
    }

    ngx_free(b);
}


/*
 * The request goes away: its place in the batch stays empty.  The last
 * to go takes the batch's query with it: out of the pool's queue if it
 * waits there (it never reaches Postgres), its result dropped if it is in
 * flight, as a lone request's query would be; a batch not handed to the
 * pool yet is freed when its sending comes.
 */
static void
ts_read_batch_cleanup(void *data)
{
    ts_read_ctx_t    *ctx = data;
    ts_read_batch_t  *b;

    b = ctx->batch;

    if (b == NULL) {
        return;
    }

    b->members[ctx->member] = NULL;
    b->live--;
    ctx->batch = NULL;

    if (b->live == 0 && b->sent) {
        ts_pg_query_cancel(&b->query);
        ngx_free(b);
    }
}


/*
 * The page's place in the batch of its statement (whatever its filters'
 * values); the first page of a batch posts its sending, as items do.
 * With every batch slot taken by other statements, the page goes alone.
 */
static ngx_int_t
ts_read_pages_add(ngx_http_request_t *r, ts_read_ctx_t *ctx)
{
    ngx_uint_t        i, free;
    ts_read_pages_t  *b;

    free = TS_READ_LISTS_MAX;

    for (i = 0; i < TS_READ_LISTS_MAX; i++) {
        b = ts_read_lists[i];

        if (b == NULL) {
            if (free == TS_READ_LISTS_MAX) {
                free = i;
            }

            continue;
        }

        if (b->statement == ctx->query.statement
            && b->nparams == ctx->query.nparams)
        {
            break;
        }
    }

    if (i == TS_READ_LISTS_MAX) {
        if (free == TS_READ_LISTS_MAX) {
            if (ts_query_send(r, &ctx->query, 1) != NGX_OK) {
                return ts_query_error(r, &ctx->query);
            }

            return NGX_DONE;
        }

        b = ngx_alloc(sizeof(ts_read_pages_t), ngx_cycle->log);
        if (b == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_memzero(b, offsetof(ts_read_pages_t, members));

        b->statement = ctx->query.statement;
        b->slot = free;
        b->nparams = ctx->query.nparams;
        b->send.handler = ts_read_pages_send;
        b->send.data = b;
        b->send.log = ngx_cycle->log;

        ts_read_lists[free] = b;
        ngx_post_event(&b->send, &ngx_posted_events);
    }

    if (ts_http_cleanup(r, ts_read_pages_cleanup, ctx) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->pages = b;
    ctx->member = b->n;
    b->members[b->n++] = ctx;
    b->live++;

    if (b->n == TS_READ_PAGES_MAX) {
        /* full: it goes as posted; the next page starts another */
        ts_read_lists[b->slot] = NULL;
    }

    return NGX_DONE;
}


static void
ts_read_pages_send(ngx_event_t *ev)
{
    int               k;
    u_char           *l, *v;
    ngx_uint_t        i;
    ts_pg_query_t    *q;
    ts_read_ctx_t    *ctx;
    ts_read_pages_t  *b;

    b = ev->data;

    if (ts_read_lists[b->slot] == b) {
        ts_read_lists[b->slot] = NULL;
    }

    if (b->live == 0) {
        /* every request went away before it was sent */
        ts_read_pages_free(b);
        return;
    }

    q = &b->query;
    q->params = b->params;
    q->nparams = b->nparams;
    q->done = ts_read_pages_done;
    q->data = b;
    q->log = ngx_cycle->log;
    q->lane = TS_PG_LANE_FAST;

    if (b->live == 1) {
        /* alone: the page's own statement */
        for (i = 0; b->members[i] == NULL; i++) { /* void */ }

        q->statement = b->statement;
        b->order[0] = (u_char) i;

        for (k = 0; k < b->nparams; k++) {
            b->params[k] = b->members[i]->params[k];
        }

    } else {
        *ngx_sprintf(b->name, "%s" TS_PAGES_SUFFIX, b->statement) = '\0';
        q->statement = (char *) b->name;

        l = b->limits;
        v = b->values;
        *l++ = '{';
        *v++ = '{';

        for (i = 0; i < b->n; i++) {
            ctx = b->members[i];

            if (ctx == NULL) {
                continue;
            }

            if (b->pages) {
                *l++ = ',';
                *v++ = ',';
            }

            l = ngx_sprintf(l, "%s", ctx->params[0]);
            v = ngx_sprintf(v, "%s", ctx->params[1]);
            b->order[b->pages++] = (u_char) i;
        }

        *l++ = '}';
        *v++ = '}';
        *l = '\0';
        *v = '\0';

        b->params[0] = (char *) b->limits;
        b->params[1] = (char *) b->values;

        if (ts_read_pages_filters(b) != NGX_OK) {
            q->rc = TS_PG_ERROR;
            ts_read_pages_done(q);
            return;
        }
    }

    if (ts_read_shared_send(q, b->members, b->n) == NGX_OK) {
        b->sent = 1;
    }
}


/*
 * every request of the batch still there gets its page, or its error; a
 * page's rows are together, numbered in the last column
 */
static void
ts_read_pages_done(ts_pg_query_t *q)
{
    int                  rows, start, next, col;
    ngx_int_t            rc;
    ngx_uint_t           k, npages;
    ts_read_ctx_t       *ctx;
    ts_read_pages_t     *b;
    ngx_http_request_t  *r;

    b = q->data;
    rows = (q->rc == TS_PG_OK) ? PQntuples(q->result) : 0;
    col = (q->rc == TS_PG_OK) ? PQnfields(q->result) - 1 : 0;
    npages = b->pages ? b->pages : 1;
    start = 0;
    next = 0;

    for (k = 0; k < npages; k++) {

        if (b->pages) {
            /*
             * the pages come in their order: a page's rows start where
             * the last page's ended (looked for from the first row if
             * not, as a page may have none)
             */
            start = next;

            if (start >= rows
                || ts_read_page_of(q->result, start, col) != k + 1)
            {
                for (start = 0; start < rows; start++) {
                    if (ts_read_page_of(q->result, start, col) == k + 1) {
                        break;
                    }
                }
            }

            for (next = start; next < rows; next++) {
                if (ts_read_page_of(q->result, next, col) != k + 1) {
                    break;
                }
            }
        }

        ctx = b->members[b->order[k]];

        if (ctx == NULL) {
            continue;
        }

        b->members[ctx->member] = NULL;
        ctx->pages = NULL;
        r = ctx->request;

        if (q->rc != TS_PG_OK) {
            rc = ts_query_error(r, q);

        } else if (b->pages == 0) {
            rc = ts_read_list(ctx, q->result, 0, rows);

        } else {
            rc = ts_read_list(ctx, q->result, start, next - start);
        }

        ts_http_finish(r, rc);
    }

    ts_read_pages_free(b);
}


/* the number of the page (from 1) a row of NAME_n's result is of */
static ngx_uint_t
ts_read_page_of(PGresult *res, int row, int col)
{
    ngx_int_t  n;

    n = ngx_atoi((u_char *) PQgetvalue(res, row, col),
                 PQgetlength(res, row, col));

    return (n == NGX_ERROR) ? 0 : (ngx_uint_t) n;
}


/* as an item's (ts_read_batch_cleanup) */
static void
ts_read_pages_cleanup(void *data)
{
    ts_read_ctx_t    *ctx = data;
    ts_read_pages_t  *b;

    b = ctx->pages;

    if (b == NULL) {
        return;
    }

    b->members[ctx->member] = NULL;
    b->live--;
    ctx->pages = NULL;

    if (b->live == 0 && b->sent) {
        ts_pg_query_cancel(&b->query);
        ts_read_pages_free(b);
    }
}


/*
 * The filters of the pages sent together, as text arrays ($3...), in the
 * order of their limits and values: every element quoted, as a title may
 * hold a comma, a quote or a brace.
 */
static ngx_int_t
ts_read_pages_filters(ts_read_pages_t *b)
{
    u_char         *p, *s;
    size_t          size;
    ngx_uint_t      i, k;
    ts_read_ctx_t  *ctx;

    size = 0;

    for (k = 2; k < (ngx_uint_t) b->nparams; k++) {
        size += 3;

        for (i = 0; i < b->pages; i++) {
            ctx = b->members[b->order[i]];
            size += 2 * ngx_strlen(ctx->params[k]) + 3;
        }
    }

    if (size == 0) {
        return NGX_OK;
    }

    b->filters = ngx_alloc(size, ngx_cycle->log);
    if (b->filters == NULL) {
        return NGX_ERROR;
    }

    p = b->filters;

    for (k = 2; k < (ngx_uint_t) b->nparams; k++) {
        b->params[k] = (char *) p;
        *p++ = '{';

        for (i = 0; i < b->pages; i++) {
            ctx = b->members[b->order[i]];

            if (i) {
                *p++ = ',';
            }

            *p++ = '"';

            for (s = (u_char *) ctx->params[k]; *s; s++) {
                if (*s == '"' || *s == '\\') {
                    *p++ = '\\';
                }

                *p++ = *s;
            }

            *p++ = '"';
        }

        *p++ = '}';
        *p++ = '\0';
    }

    return NGX_OK;
}


static void
ts_read_pages_free(ts_read_pages_t *b)
{
    if (b->filters) {
        ngx_free(b->filters);
    }

    ngx_free(b);
}
