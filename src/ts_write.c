
/*
 * Tunesheap: the write side of the catalog.  One generic handler serves
 * every resource from its description: the body is read by nginx's
 * nonblocking reader, parsed with yajl, checked field by field (every
 * problem is named in one 422), normalized, and written by one statement,
 * so nothing is ever half-written.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ts_module.h"
#include "ts_json.h"
#include "ts_http.h"
#include "ts_resource.h"
#include "ts_query.h"
#include "ts_body.h"
#include "ts_write.h"
#include "ts_cache.h"
#include "ts_idempotency.h"


#define TS_REFERENCES_MAX  4
#define TS_INTEGER_MAX     2147483647


typedef struct {
    ngx_str_t            field;
    ngx_str_t            problem;
} ts_write_problem_t;


/*
 * Where a write is once its statement answered: a success is answered
 * only once the cache has forgotten what it changed.  A return code
 * cannot say it: an answer's send may return NGX_OK or NGX_AGAIN.
 */
typedef enum {
    ts_write_pending = 0,
    ts_write_changed
} ts_write_state_e;


struct ts_write_ctx_s {
    ngx_http_request_t  *request;
    ts_route_t           route;
    ts_pg_query_t        query;
    const char          *params[6 + TS_IDEMPOTENCY_PARAMS];
    ts_idempotency_t    *idem;            /* its Idempotency-Key, or NULL */
    ngx_array_t          problems;        /* ts_write_problem_t */
    ngx_str_t            references[TS_REFERENCES_MAX];   /* ids given */
    ngx_str_t            ids_field;       /* entries: the ids' field */

    /* a success, answered once the cache forgot what it changed */
    ts_write_state_e     state;
    ngx_uint_t           status;
    ngx_str_t            body;
    ngx_str_t            etag;
};


static ngx_int_t ts_write_start(ts_write_ctx_t *ctx);
static void ts_write_body_handler(ngx_http_request_t *r);
static ngx_int_t ts_write_body(ts_write_ctx_t *ctx);
static ngx_int_t ts_write_fields(ts_write_ctx_t *ctx, yajl_val tree,
    ngx_str_t *fields);
static ngx_int_t ts_write_field(ts_write_ctx_t *ctx, yajl_gen g,
    ts_column_t *col, ngx_uint_t ref, yajl_val v);
static ngx_int_t ts_write_problem(ts_write_ctx_t *ctx, ngx_str_t *field,
    const char *fmt, ...);
static ngx_int_t ts_write_send_problems(ts_write_ctx_t *ctx);
static void ts_write_keyed(ts_idempotency_t *idem);
static void ts_write_done(ts_pg_query_t *q);
static ngx_int_t ts_write_result(ts_write_ctx_t *ctx, PGresult *res);
static void ts_write_fate_unknown(ngx_http_request_t *r);
static void ts_write_answer(ts_write_ctx_t *ctx, ngx_int_t rc);
static void ts_write_respond(ngx_http_request_t *r);
static ngx_int_t ts_write_written(ts_write_ctx_t *ctx, PGresult *res);
static ngx_int_t ts_write_deleted(ts_write_ctx_t *ctx, PGresult *res);
static ngx_int_t ts_write_conflict(ts_write_ctx_t *ctx, PGresult *res);
static ngx_int_t ts_write_location(ts_write_ctx_t *ctx, PGresult *res,
    int col);
static ngx_int_t ts_write_integer(yajl_val v, int64_t *n);
static ngx_int_t ts_write_date(u_char *p, size_t len);
static ngx_int_t ts_write_entries_fields(ts_write_ctx_t *ctx,
    yajl_val tree);
static ngx_int_t ts_write_entries_ids(ts_write_ctx_t *ctx, yajl_val v,
    ngx_str_t *field);
static ngx_int_t ts_write_item(ts_write_ctx_t *ctx, PGresult *res,
    int first);
static ngx_int_t ts_write_entries_written(ts_write_ctx_t *ctx,
    PGresult *res);


/* on every connection: the API's writes check a song's album's artist */
const char  ts_write_setup[] = "SET tunesheap.album_artist = 'check';";

ngx_int_t
ts_write_handler(ngx_http_request_t *r, ts_route_t *route)
{
    ngx_int_t          rc;
    ts_write_ctx_t    *ctx;
    ts_request_ctx_t  *rctx;

    rctx = ts_request_ctx(r);

    ctx = ngx_pcalloc(r->pool, sizeof(ts_write_ctx_t));
    if (rctx == NULL || ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_array_init(&ctx->problems, r->pool, 4, sizeof(ts_write_problem_t))
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->request = r;
    ctx->route = *route;
    ctx->query.params = ctx->params;
    ctx->query.done = ts_write_done;
    ctx->query.data = ctx;
    rctx->write = ctx;

    rc = ts_idempotency_init(r, &ctx->idem);

    if (rc != NGX_OK) {
        if (ngx_http_discard_request_body(r) != NGX_OK || rc == NGX_ERROR) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ts_http_send_error(r, NGX_HTTP_BAD_REQUEST, "%s",
                                  ts_idempotency_invalid);
    }

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "tunesheap write: %V %V/%V%s", &r->method_name,
                   &route->resource->name, &route->id,
                   ctx->idem ? ", with an Idempotency-Key" : "");

    if (r->method == NGX_HTTP_DELETE) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        rc = ts_write_start(ctx);

        if (rc == NGX_DONE) {
            r->main->count++;
        }

        return rc;
    }

    return ts_body_read_json(r, ts_write_body_handler);
}


/*
 * Sends the write's statement, or with an Idempotency-Key the key's lookup
 * first.  NGX_DONE when it is under way, else the status of the error it
 * answered.
 */
static ngx_int_t
ts_write_start(ts_write_ctx_t *ctx)
{
    char                *id;
    ngx_int_t            rc;
    ngx_str_t            body;
    ts_resource_t       *rs;
    ts_pg_query_t       *q;
    ngx_http_request_t  *r;

    r = ctx->request;
    rs = ctx->route.resource;
    q = &ctx->query;

    id = ts_http_cstr(r->pool, &ctx->route.id);
    if (id == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    switch (ctx->route.relation ? 0 : r->method) {

    case 0:
        /* entries: the operation and its values are in params 1 to 4 */
        q->statement = ctx->route.relation->write_statement;
        q->nparams = 6;
        ctx->params[0] = id;
        ctx->params[5] = ts_query_if_match(r);

        if (r->method == NGX_HTTP_DELETE) {
            ctx->params[1] = TS_ENTRIES_REMOVE;
            ctx->params[3] = ts_http_cstr(r->pool, &ctx->route.entry);

            if (ctx->params[3] == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }
        }

        break;

    case NGX_HTTP_POST:
        q->statement = rs->create_statement;
        q->nparams = 1;
        break;

    case NGX_HTTP_DELETE:
        q->statement = rs->delete_statement;
        q->nparams = 2;
        ctx->params[0] = id;
        ctx->params[1] = ts_query_if_match(r);
        break;

    default: /* PUT, PATCH */
        q->statement = rs->update_statement;
        q->nparams = 3;
        ctx->params[1] = ctx->params[0];
        ctx->params[0] = id;
        ctx->params[2] = ts_query_if_match(r);
        break;
    }

    /* then an Idempotency-Key's: NULL without one (ts_write_keyed) */
    q->nparams += TS_IDEMPOTENCY_PARAMS;

    /* a write that may have run is never sent again */
    q->once = 1;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "tunesheap write: %s%s", q->statement,
                   ctx->idem ? ", after its key's lookup" : "");

    if (ctx->idem) {
        /* the key is looked up first: ts_write_keyed() goes on */
        if (ts_body_text(r, &body) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ctx->idem->done = ts_write_keyed;
        ctx->idem->data = ctx;

        rc = ts_idempotency_find(ctx->idem, &body);

        return (rc == NGX_OK) ? NGX_DONE : rc;
    }

    if (ts_query_send(r, q, 1) != NGX_OK) {
        return ts_query_error(r, q);
    }

    return NGX_DONE;
}


static void
ts_write_body_handler(ngx_http_request_t *r)
{
    ngx_int_t          rc;
    ts_request_ctx_t  *rctx;

    rctx = ts_request_ctx(r);

    rc = ts_write_body(rctx->write);

    /* the body reader's hold on the request lasts until the answer */
    if (rc != NGX_DONE) {
        ngx_http_finalize_request(r, rc);
    }
}


/* NGX_DONE when the statement is under way, else what was answered */
static ngx_int_t
ts_write_body(ts_write_ctx_t *ctx)
{
    ngx_int_t            rc;
    yajl_val             tree;
    ngx_str_t            fields;
    ngx_http_request_t  *r;

    r = ctx->request;

    tree = ts_body_json(r, &rc);
    if (tree == NULL) {
        return rc;
    }

    if (ctx->route.relation) {
        /* an ordered list's entries: ts_write_start() has the rest */
        rc = ts_write_entries_fields(ctx, tree);

        if (rc == NGX_DECLINED) {
            return ts_write_send_problems(ctx);
        }

        return (rc == NGX_OK) ? ts_write_start(ctx)
                              : NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_null(&fields);

    rc = ts_write_fields(ctx, tree, &fields);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "tunesheap write: fields checked: %i, %ui problems",
                   rc, ctx->problems.nelts);

    if (rc == NGX_DECLINED) {
        return ts_write_send_problems(ctx);
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->params[0] = (char *) fields.data;

    return ts_write_start(ctx);
}


/*
 * Checks {"artist":{...}} field by field and writes the fields as the JSON
 * object the statements take: a key for every column to set (all of them
 * for POST and PUT, absent ones as null), values normalized.  NGX_DECLINED
 * when there are problems.
 */
static ngx_int_t
ts_write_fields(ts_write_ctx_t *ctx, yajl_val tree, ngx_str_t *fields)
{
    yajl_gen             g;
    yajl_val             item, v;
    ngx_str_t            name;
    ngx_uint_t           i, j, ref, seen, whole;
    ts_column_t         *col;
    ts_resource_t       *rs;
    ngx_http_request_t  *r;

    r = ctx->request;
    rs = ctx->route.resource;
    item = NULL;

    if (YAJL_IS_OBJECT(tree)) {
        for (i = 0; i < tree->u.object.len; i++) {
            name.data = (u_char *) tree->u.object.keys[i];
            name.len = ngx_strlen(name.data);

            if (name.len == rs->singular.len
                && ngx_strncmp(name.data, rs->singular.data, name.len) == 0)
            {
                item = tree->u.object.values[i];
                continue;
            }

            if (ts_write_problem(ctx, &name, "is not allowed here")
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }
    }

    if (!YAJL_IS_OBJECT(item)) {
        if (ts_write_problem(ctx, &rs->singular,
                             item ? "must be an object" : "is required")
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        return NGX_DECLINED;
    }

    g = ts_json_gen(r->pool);
    if (g == NULL || yajl_gen_map_open(g) != yajl_gen_status_ok) {
        return NGX_ERROR;
    }

    seen = 0;

    for (i = 0; i < item->u.object.len; i++) {
        name.data = (u_char *) item->u.object.keys[i];
        name.len = ngx_strlen(name.data);
        v = item->u.object.values[i];

        for (j = 0, ref = 0; j < rs->ncolumns; j++) {
            col = &rs->columns[j];

            if (col->name.len == name.len
                && ngx_strncmp(col->name.data, name.data, name.len) == 0)
            {
                break;
            }

            if (col->references) {
                ref++;
            }
        }

        if (j == rs->ncolumns) {
            if (ts_write_problem(ctx, &name, "is not a field of %V",
                                 &rs->singular)
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            continue;
        }

        if (seen & ((ngx_uint_t) 1 << j)) {
            if (ts_write_problem(ctx, &col->name, "is given more than once")
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            continue;
        }

        seen |= (ngx_uint_t) 1 << j;

        if (ts_write_field(ctx, g, col, ref, v) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    /* POST and PUT give the whole item: the rest is missing or null */
    whole = (r->method != NGX_HTTP_PATCH);

    for (j = 0; whole && j < rs->ncolumns; j++) {
        col = &rs->columns[j];

        if (col->input == TS_IN_NONE || (seen & ((ngx_uint_t) 1 << j))) {
            continue;
        }

        if (col->required) {
            if (ts_write_problem(ctx, &col->name, "is required") != NGX_OK) {
                return NGX_ERROR;
            }

            continue;
        }

        if (ts_json_str(g, &col->name) != yajl_gen_status_ok
            || yajl_gen_null(g) != yajl_gen_status_ok)
        {
            return NGX_ERROR;
        }
    }

    if (ctx->problems.nelts) {
        return NGX_DECLINED;
    }

    if (yajl_gen_map_close(g) != yajl_gen_status_ok) {
        return NGX_ERROR;
    }

    /* a parameter is a C string */
    ts_json_output(g, &name);

    fields->len = name.len;
    fields->data = (u_char *) ts_http_cstr(r->pool, &name);

    return fields->data ? NGX_OK : NGX_ERROR;
}


/* one field: a problem, or its normalized value in g */
static ngx_int_t
ts_write_field(ts_write_ctx_t *ctx, yajl_gen g, ts_column_t *col,
    ngx_uint_t ref, yajl_val v)
{
    size_t            len;
    u_char           *s;
    int64_t           n;
    yajl_gen_status   st;

    if (col->input == TS_IN_NONE) {
        return ts_write_problem(ctx, &col->name, "cannot be set");
    }

    if (YAJL_IS_NULL(v)) {
        if (col->required) {
            return ts_write_problem(ctx, &col->name, "is required");
        }

        st = ts_json_str(g, &col->name);
        return (st == yajl_gen_status_ok
                && yajl_gen_null(g) == yajl_gen_status_ok)
               ? NGX_OK : NGX_ERROR;
    }

    switch (col->input) {

    case TS_IN_INTEGER:
        if (ts_write_integer(v, &n) != NGX_OK || n < 0 || n > TS_INTEGER_MAX) {
            return ts_write_problem(ctx, &col->name,
                                    "must be an integer from 0 to %d",
                                    TS_INTEGER_MAX);
        }

        break;

    case TS_IN_ID:
        if (ts_write_integer(v, &n) != NGX_OK || n < 1) {
            return ts_write_problem(ctx, &col->name,
                                    "must be the id of %s %V",
                                    col->references->singular.data[0] == 'a'
                                    ? "an" : "a",
                                    &col->references->singular);
        }

        if (ref < TS_REFERENCES_MAX) {
            ctx->references[ref].data = (u_char *) v->u.number.r;
            ctx->references[ref].len = ngx_strlen(v->u.number.r);
        }

        break;

    default: /* texts */

        if (!YAJL_IS_STRING(v)) {
            return ts_write_problem(ctx, &col->name, "must be a string");
        }

        s = (u_char *) v->u.string;
        len = ngx_strlen(s);

        if (col->input == TS_IN_TEXT) {
            if (col->required && len == 0) {
                return ts_write_problem(ctx, &col->name,
                                        "must not be empty");
            }

            /* characters, not bytes: yajl checked the UTF-8 */
            if (ngx_utf8_length(s, len) > col->max) {
                return ts_write_problem(ctx, &col->name,
                                        "is longer than %uz characters",
                                        col->max);
            }

        } else if (ts_write_date(s, len) != NGX_OK
                   || (col->input == TS_IN_DATE && len != 10))
        {
            return ts_write_problem(ctx, &col->name, "is not a date");
        }

        st = ts_json_str(g, &col->name);
        if (st == yajl_gen_status_ok) {
            st = yajl_gen_string(g, s, len);
        }

        return (st == yajl_gen_status_ok) ? NGX_OK : NGX_ERROR;
    }

    /* numbers: as the client wrote them, they are plain integers */
    st = ts_json_str(g, &col->name);
    if (st == yajl_gen_status_ok) {
        st = ts_json_integer(g, n);
    }

    return (st == yajl_gen_status_ok) ? NGX_OK : NGX_ERROR;
}


static ngx_int_t
ts_write_problem(ts_write_ctx_t *ctx, ngx_str_t *field, const char *fmt, ...)
{
    u_char              *p, buf[128];
    va_list              args;
    ts_write_problem_t  *pr;

    pr = ngx_array_push(&ctx->problems);
    if (pr == NULL) {
        return NGX_ERROR;
    }

    va_start(args, fmt);
    p = ngx_vslprintf(buf, buf + sizeof(buf), fmt, args);
    va_end(args);

    pr->field = *field;
    pr->problem.len = p - buf;
    pr->problem.data = ngx_pnalloc(ctx->request->pool, pr->problem.len);

    if (pr->problem.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(pr->problem.data, buf, pr->problem.len);

    return NGX_OK;
}


/* {"error":{"status":422,"message":"validation failed","fields":{...}}} */
static ngx_int_t
ts_write_send_problems(ts_write_ctx_t *ctx)
{
    yajl_gen             g;
    ngx_str_t            body;
    ngx_uint_t           i;
    yajl_gen_status      st;
    ts_write_problem_t  *pr;
    ngx_http_request_t  *r;

    r = ctx->request;
    pr = ctx->problems.elts;

    g = ts_json_gen(r->pool);
    if (g == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    st = yajl_gen_map_open(g);

    if (st == yajl_gen_status_ok
        && (st = ts_json_literal(g, "error")) == yajl_gen_status_ok
        && (st = yajl_gen_map_open(g)) == yajl_gen_status_ok
        && (st = ts_json_literal(g, "status")) == yajl_gen_status_ok
        && (st = ts_json_integer(g, TS_HTTP_UNPROCESSABLE))
           == yajl_gen_status_ok
        && (st = ts_json_literal(g, "message")) == yajl_gen_status_ok
        && (st = ts_json_literal(g, "validation failed"))
           == yajl_gen_status_ok
        && (st = ts_json_literal(g, "fields")) == yajl_gen_status_ok)
    {
        st = yajl_gen_map_open(g);
    }

    for (i = 0; st == yajl_gen_status_ok && i < ctx->problems.nelts; i++) {
        st = ts_json_str(g, &pr[i].field);

        if (st == yajl_gen_status_ok) {
            st = ts_json_str(g, &pr[i].problem);
        }
    }

    if (st == yajl_gen_status_ok
        && (st = yajl_gen_map_close(g)) == yajl_gen_status_ok
        && (st = yajl_gen_map_close(g)) == yajl_gen_status_ok)
    {
        st = yajl_gen_map_close(g);
    }

    if (st != yajl_gen_status_ok) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ts_json_output(g, &body);

    return ts_http_send_json(r, TS_HTTP_UNPROCESSABLE, &body, NULL);
}


/*
 * The key looked up: the first answer again, or the write, whose
 * statement records the key
 */
static void
ts_write_keyed(ts_idempotency_t *idem)
{
    const char          **params;
    ts_pg_query_t        *q;
    ts_write_ctx_t       *ctx;
    ngx_http_request_t   *r;

    ctx = idem->data;
    r = ctx->request;
    q = &ctx->query;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "tunesheap write: the key's lookup found %d",
                   (int) idem->found);

    switch (idem->found) {

    case TS_IDEM_REPLAY:
        ts_write_answer(ctx, ts_write_result(ctx, idem->result));
        return;

    case TS_IDEM_FAILED:
        ts_http_finish(r, ts_query_error(r, &idem->query));
        return;

    default: /* TS_IDEM_NONE */
        break;
    }

    params = ts_idempotency_params(idem);

    ngx_memcpy(&ctx->params[q->nparams - TS_IDEMPOTENCY_PARAMS], params,
               TS_IDEMPOTENCY_PARAMS * sizeof(const char *));

    if (ts_query_send(r, q, 1) != NGX_OK) {
        ts_http_finish(r, ts_query_error(r, q));
    }
}


static void
ts_write_done(ts_pg_query_t *q)
{
    ngx_int_t            rc;
    ts_write_ctx_t      *ctx;
    ngx_http_request_t  *r;

    ctx = q->data;
    r = ctx->request;
    rc = NGX_DECLINED;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "tunesheap write: %s done: %d", q->statement,
                   (int) q->rc);

    if (ctx->idem) {
        rc = ts_idempotency_conflict(ctx->idem, q);
    }

    if (rc != NGX_DECLINED) {
        /* 409: answered */

    } else if (q->rc == TS_PG_ERROR
               && ngx_strcmp(ts_pg_sqlstate(q), "23503") == 0)
    {
        rc = ts_write_conflict(ctx, q->result);

    } else if (q->rc == TS_PG_TIMEOUT || q->rc == TS_PG_UNKNOWN) {
        /*
         * it may have been done: what it touches is made unreachable in
         * the cache before the client hears of its fate (and retries)
         */
        ts_cache_invalidate(r, ts_resource_bit(ctx->route.resource),
                            ts_write_fate_unknown);
        return;

    } else if (q->rc != TS_PG_OK) {
        rc = ts_query_error(r, q);

    } else {
        rc = ts_write_result(ctx, q->result);
    }

    ts_write_answer(ctx, rc);
}


/* a write that timed out or lost its connection: its 504 or 503 */
static void
ts_write_fate_unknown(ngx_http_request_t *r)
{
    ts_write_ctx_t    *ctx;
    ts_request_ctx_t  *rctx;

    rctx = ts_request_ctx(r);
    ctx = rctx->write;

    ts_http_finish(r, ts_query_error(r, &ctx->query));
}


/*
 * the answer a write statement's row gives; a success is not answered
 * yet: its state is ts_write_changed
 */
static ngx_int_t
ts_write_result(ts_write_ctx_t *ctx, PGresult *res)
{
    if (ctx->route.relation) {
        return ts_write_entries_written(ctx, res);
    }

    if (ctx->request->method == NGX_HTTP_DELETE) {
        return ts_write_deleted(ctx, res);
    }

    return ts_write_written(ctx, res);
}


static void
ts_write_answer(ts_write_ctx_t *ctx, ngx_int_t rc)
{
    ngx_http_request_t  *r;

    r = ctx->request;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "tunesheap write: %s, status %ui",
                   (ctx->state == ts_write_changed)
                   ? "written, the cache forgets it first" : "answered",
                   ctx->status);

    if (ctx->state == ts_write_changed) {
        ts_cache_invalidate(r, ts_resource_bit(ctx->route.resource),
                            ts_write_respond);
        return;
    }

    ts_http_finish(r, rc);
}


/* a write that succeeded: its answer, now that the cache is up to date */
static void
ts_write_respond(ngx_http_request_t *r)
{
    ngx_int_t          rc;
    ts_write_ctx_t    *ctx;
    ts_request_ctx_t  *rctx;

    rctx = ts_request_ctx(r);
    ctx = rctx->write;

    if (ctx->status == NGX_HTTP_NO_CONTENT) {
        rc = ts_http_send_no_content(r, NULL);

    } else {
        rc = ts_http_send_json(r, ctx->status, &ctx->body, &ctx->etag);
    }

    ts_http_finish(r, rc);
}


static ngx_int_t
ts_write_written(ts_write_ctx_t *ctx, PGresult *res)
{
    int                  first;
    ngx_uint_t           i, k;
    ts_column_t         *col;
    ts_resource_t       *rs;
    ngx_http_request_t  *r;

    r = ctx->request;
    rs = ctx->route.resource;
    first = TS_WRITE_REFS + (int) rs->nreferences;

    if (PQntuples(res) != 1 || PQnfields(res) <= first) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (PQgetvalue(res, 0, TS_WRITE_FOUND)[0] != 't') {
        return ts_http_send_error(r, NGX_HTTP_NOT_FOUND, "%V %V not found",
                                  &rs->singular, &ctx->route.id);
    }

    for (i = 0, k = 0; i < rs->ncolumns; i++) {
        col = &rs->columns[i];

        if (col->references == NULL) {
            continue;
        }

        if (PQgetvalue(res, 0, TS_WRITE_REFS + k)[0] == 'f'
            && ts_write_problem(ctx, &col->name, "%V %V does not exist",
                                &col->references->singular,
                                &ctx->references[k])
               != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        k++;
    }

    if (ctx->problems.nelts) {
        return ts_write_send_problems(ctx);
    }

    ctx->status = NGX_HTTP_OK;

    if (r->method == NGX_HTTP_POST && !PQgetisnull(res, 0, first)) {
        if (ts_write_location(ctx, res, first) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ctx->status = NGX_HTTP_CREATED;
    }

    return ts_write_item(ctx, res, first);
}


/*
 * The item a write answers with, from column first of res, with its new
 * ETag; NULL there: found, and the references fine, but If-Match did not
 * match
 */
static ngx_int_t
ts_write_item(ts_write_ctx_t *ctx, PGresult *res, int first)
{
    u_char              *hash;
    ts_resource_t       *rs;
    ngx_http_request_t  *r;

    r = ctx->request;
    rs = ctx->route.resource;

    if (PQgetisnull(res, 0, first)) {
        return ts_http_send_error(r, NGX_HTTP_PRECONDITION_FAILED,
                                  "%V %V has changed: If-Match does not "
                                  "match its ETag", &rs->singular,
                                  &ctx->route.id);
    }

    if (ts_resource_item_body(r, rs, res, first, &ctx->body, &hash)
        != NGX_OK
        || ts_http_etag(r, hash, TS_ITEM_HASH_LEN, &ctx->etag) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the ETag is the new one: If-Match was for the old */
    r->disable_not_modified = 1;
    ctx->state = ts_write_changed;

    return NGX_OK;
}


static ngx_int_t
ts_write_deleted(ts_write_ctx_t *ctx, PGresult *res)
{
    ngx_http_request_t  *r;

    r = ctx->request;

    if (PQntuples(res) != 1 || PQnfields(res) <= TS_DELETE_COUNT) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (PQgetvalue(res, 0, TS_WRITE_FOUND)[0] != 't') {
        return ts_http_send_error(r, NGX_HTTP_NOT_FOUND, "%V %V not found",
                                  &ctx->route.resource->singular,
                                  &ctx->route.id);
    }

    if (PQgetvalue(res, 0, TS_DELETE_COUNT)[0] == '0'
        && PQnfields(res) > TS_DELETE_HELD
        && !PQgetisnull(res, 0, TS_DELETE_HELD))
    {
        return ts_http_send_error(r, NGX_HTTP_CONFLICT,
                                  "%V %V is in %V %s: remove it from them "
                                  "first",
                                  &ctx->route.resource->singular,
                                  &ctx->route.id,
                                  &ctx->route.resource->holder->parent->name,
                                  PQgetvalue(res, 0, TS_DELETE_HELD));
    }

    if (PQgetvalue(res, 0, TS_DELETE_COUNT)[0] == '0') {
        return ts_http_send_error(r, NGX_HTTP_PRECONDITION_FAILED,
                                  "%V %V has changed: If-Match does not "
                                  "match its ETag",
                                  &ctx->route.resource->singular,
                                  &ctx->route.id);
    }

    r->disable_not_modified = 1;
    ctx->status = NGX_HTTP_NO_CONTENT;
    ctx->state = ts_write_changed;

    return NGX_OK;
}


/* a foreign key said no: a delete of a parent, or a reference just gone */
static ngx_int_t
ts_write_conflict(ts_write_ctx_t *ctx, PGresult *res)
{
    char                *table, *constraint, *detail;
    int64_t              album, artist;
    ngx_str_t            field;
    ts_resource_t       *rs;
    ngx_http_request_t  *r;

    r = ctx->request;
    rs = ctx->route.resource;
    table = PQresultErrorField(res, PG_DIAG_TABLE_NAME);
    constraint = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME);
    detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);

    /*
     * A song's album is by the song's artist (db/schema.sql): "Key
     * (album_id, artist_id)=(3, 5) is not present in table "albums"."
     */
    if (r->method != NGX_HTTP_DELETE && constraint && detail
        && ngx_strcmp(constraint, "songs_album_artist") == 0
        && sscanf(detail, "Key (album_id, artist_id)=(%" SCNd64 ", %"
                  SCNd64 ")", &album, &artist) == 2)
    {
        ngx_str_set(&field, "album_id");

        if (ts_write_problem(ctx, &field, "album %L is not by artist %L: "
                             "a song's album_id and artist_id must agree",
                             album, artist)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ts_write_send_problems(ctx);
    }

    if (r->method == NGX_HTTP_DELETE) {
        return ts_http_send_error(r, NGX_HTTP_CONFLICT,
                                  "%V %V still has %s: delete them first",
                                  &rs->singular, &ctx->route.id,
                                  table ? table : "dependents");
    }

    ngx_str_set(&field, "fields");

    if (ts_write_problem(ctx, &field, "refer to an item that was just "
                         "deleted")
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ts_write_send_problems(ctx);
}


/* Location: /api/v1/artists/12 */
static ngx_int_t
ts_write_location(ts_write_ctx_t *ctx, PGresult *res, int col)
{
    u_char              *p;
    ngx_str_t            value;
    ts_loc_conf_t       *tlcf;
    ts_resource_t       *rs;
    ngx_http_request_t  *r;

    r = ctx->request;
    rs = ctx->route.resource;
    tlcf = ngx_http_get_module_loc_conf(r, ngx_tunesheap_module);

    value.len = tlcf->base.len + rs->name.len + 1 + PQgetlength(res, 0, col);
    value.data = ngx_pnalloc(r->pool, value.len);
    if (value.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(value.data, tlcf->base.data, tlcf->base.len);
    p = ngx_cpymem(p, rs->name.data, rs->name.len);
    *p++ = '/';
    ngx_memcpy(p, PQgetvalue(res, 0, col), PQgetlength(res, 0, col));

    /* kept relative: behind CloudFront and the load balancer, nginx does
     * not know the scheme and host clients use */
    return ts_http_header(r, "Location", &value, NULL);
}


/* a JSON number written as an integer that fits int64_t */
static ngx_int_t
ts_write_integer(yajl_val v, int64_t *n)
{
    ngx_str_t   s;
    ngx_uint_t  negative;

    if (!YAJL_IS_NUMBER(v)) {
        return NGX_ERROR;
    }

    s.data = (u_char *) v->u.number.r;
    s.len = ngx_strlen(s.data);
    negative = (s.len && s.data[0] == '-');

    if (negative) {
        s.data++;
        s.len--;
    }

    if (ts_http_parse_int(&s, n) != NGX_OK) {
        return NGX_ERROR;
    }

    if (negative) {
        *n = -*n;
    }

    return NGX_OK;
}


/*
 * YYYY-MM-DD that exists, optionally followed by " HH:MM:SS" or
 * "THH:MM:SS", then optionally " UTC" or "Z"
 */
static ngx_int_t
ts_write_date(u_char *p, size_t len)
{
    ngx_uint_t  i, year, month, day, leap;

    static ngx_uint_t  days[] = {
        31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
    };

    static const char  shape[] = "dddd-dd-dd?dd:dd:dd";

    if (len != 10 && len != 19 && len != 20 && len != 23) {
        return NGX_ERROR;
    }

    for (i = 0; i < ngx_min(len, 19); i++) {
        if (shape[i] == 'd') {
            if (p[i] < '0' || p[i] > '9') {
                return NGX_ERROR;
            }

        } else if (shape[i] == '?') {
            if (p[i] != ' ' && p[i] != 'T') {
                return NGX_ERROR;
            }

        } else if (p[i] != (u_char) shape[i]) {
            return NGX_ERROR;
        }
    }

    if ((len == 20 && p[19] != 'Z')
        || (len == 23 && ngx_strncmp(p + 19, " UTC", 4) != 0))
    {
        return NGX_ERROR;
    }

    year = ngx_atoi(p, 4);
    month = ngx_atoi(p + 5, 2);
    day = ngx_atoi(p + 8, 2);
    leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

    if (year < 1 || month < 1 || month > 12 || day < 1
        || day > days[month - 1] || (month == 2 && day == 29 && !leap))
    {
        return NGX_ERROR;
    }

    if (len > 10
        && (ngx_atoi(p + 11, 2) > 23 || ngx_atoi(p + 14, 2) > 59
            || ngx_atoi(p + 17, 2) > 59))
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The entries of an ordered list (ts_relation_t with a join table) are
 * written through their parent, with bodies as flat as Spotify's:
 *
 *   PUT    /playlists/3/songs      {"song_ids":[7,2,7]}  all, in order
 *   POST   /playlists/3/songs      {"song_id":7,"position":0}  one more,
 *                                  at the end without a position
 *   PATCH  /playlists/3/songs/12   {"position":4}  entry 12 moved
 *   DELETE /playlists/3/songs/12   entry 12 removed
 *
 * Positions count from 0.  Each answers the parent as written, with its
 * new ETag (If-Match is the parent's).  Sets params 1 to 4 (operation,
 * ids, entry, position); NGX_DECLINED: problems to answer.
 */
static ngx_int_t
ts_write_entries_fields(ts_write_ctx_t *ctx, yajl_val tree)
{
    size_t               len;
    u_char              *p;
    int64_t              n;
    yajl_val             v, ids, pos;
    ngx_str_t            name, field, position;
    ngx_uint_t           i;
    ts_resource_t       *child;
    ngx_http_request_t  *r;

    r = ctx->request;
    child = ctx->route.relation->child;
    ids = NULL;
    pos = NULL;

    ngx_str_set(&position, "position");

    /* song_ids for a PUT, song_id for a POST */
    len = child->singular.len + sizeof("_ids") - 1;
    field.data = ngx_pnalloc(r->pool, len);
    if (field.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(field.data, "%V_id%s", &child->singular,
                    r->method == NGX_HTTP_PUT ? "s" : "");
    field.len = p - field.data;
    ctx->ids_field = field;

    if (!YAJL_IS_OBJECT(tree)) {
        ngx_str_set(&name, "body");
        return (ts_write_problem(ctx, &name, "must be an object") == NGX_OK)
               ? NGX_DECLINED : NGX_ERROR;
    }

    for (i = 0; i < tree->u.object.len; i++) {
        name.data = (u_char *) tree->u.object.keys[i];
        name.len = ngx_strlen(name.data);
        v = tree->u.object.values[i];

        if (r->method != NGX_HTTP_PATCH && name.len == field.len
            && ngx_strncmp(name.data, field.data, field.len) == 0)
        {
            ids = v;

        } else if (r->method != NGX_HTTP_PUT && name.len == position.len
                   && ngx_strncmp(name.data, position.data, name.len) == 0)
        {
            pos = v;

        } else if (ts_write_problem(ctx, &name, "is not allowed here")
                   != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    ctx->params[2] = "{}";

    if (r->method != NGX_HTTP_PATCH) {
        ctx->params[1] = (r->method == NGX_HTTP_PUT) ? TS_ENTRIES_REPLACE
                                                     : TS_ENTRIES_INSERT;

        if (ts_write_entries_ids(ctx, ids, &field) != NGX_OK) {
            return NGX_ERROR;
        }

    } else {
        ctx->params[1] = TS_ENTRIES_MOVE;
        ctx->params[3] = ts_http_cstr(r->pool, &ctx->route.entry);

        if (ctx->params[3] == NULL) {
            return NGX_ERROR;
        }

        /* a move says where to (a POST without one appends) */
        if ((pos == NULL || YAJL_IS_NULL(pos))
            && ts_write_problem(ctx, &position, "is required") != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (pos && !YAJL_IS_NULL(pos)) {
        if (ts_write_integer(pos, &n) != NGX_OK || n < 0
            || n > TS_INTEGER_MAX)
        {
            if (ts_write_problem(ctx, &position,
                                 "must be an integer from 0 to %d",
                                 TS_INTEGER_MAX)
                != NGX_OK)
            {
                return NGX_ERROR;
            }

        } else {
            ctx->params[4] = pos->u.number.r;
        }
    }

    return ctx->problems.nelts ? NGX_DECLINED : NGX_OK;
}


/* the child ids of a PUT (an array) or a POST (one), as a bigint[] */
static ngx_int_t
ts_write_entries_ids(ts_write_ctx_t *ctx, yajl_val v, ngx_str_t *field)
{
    u_char              *p;
    int64_t              n;
    ngx_uint_t           i, count;
    yajl_val            *values;
    ts_resource_t       *child;
    ngx_http_request_t  *r;

    r = ctx->request;
    child = ctx->route.relation->child;

    if (v == NULL) {
        return ts_write_problem(ctx, field, "is required");
    }

    if (r->method == NGX_HTTP_PUT) {
        if (!YAJL_IS_ARRAY(v)) {
            return ts_write_problem(ctx, field, "must be an array of %V ids",
                                    &child->singular);
        }

        if (v->u.array.len > TS_ENTRIES_MAX) {
            return ts_write_problem(ctx, field, "must have at most %d ids",
                                    TS_ENTRIES_MAX);
        }

        values = v->u.array.values;
        count = v->u.array.len;

    } else {
        values = &v;
        count = 1;
    }

    p = ngx_pnalloc(r->pool, 3 + count * (NGX_INT64_LEN + 1));
    if (p == NULL) {
        return NGX_ERROR;
    }

    ctx->params[2] = (char *) p;
    *p++ = '{';

    for (i = 0; i < count; i++) {
        if (ts_write_integer(values[i], &n) != NGX_OK || n < 1) {
            return ts_write_problem(ctx, field,
                                    v->type == yajl_t_array
                                    ? "must be an array of %V ids"
                                    : "must be the id of a %V",
                                    &child->singular);
        }

        p = ngx_sprintf(p, "%s%L", i ? "," : "", n);
    }

    *p++ = '}';
    *p = '\0';

    return NGX_OK;
}


static ngx_int_t
ts_write_entries_written(ts_write_ctx_t *ctx, PGresult *res)
{
    ts_resource_t       *rs;
    ngx_http_request_t  *r;

    r = ctx->request;
    rs = ctx->route.resource;

    if (PQntuples(res) != 1 || PQnfields(res) <= TS_ENTRIES_ITEM) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (PQgetvalue(res, 0, TS_WRITE_FOUND)[0] != 't') {
        return ts_http_send_error(r, NGX_HTTP_NOT_FOUND, "%V %V not found",
                                  &rs->singular, &ctx->route.id);
    }

    if (!PQgetisnull(res, 0, TS_ENTRIES_MISSING)) {
        if (ts_write_problem(ctx, &ctx->ids_field, "%V %s: no such %V",
                             &ctx->route.relation->child->name,
                             PQgetvalue(res, 0, TS_ENTRIES_MISSING),
                             &ctx->route.relation->child->singular)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ts_write_send_problems(ctx);
    }

    if (!PQgetisnull(res, 0, TS_ENTRIES_PROBLEM)) {
        return ts_http_send_error(r, NGX_HTTP_CONFLICT, "%V %V: %s",
                                  &rs->singular, &ctx->route.id,
                                  PQgetvalue(res, 0, TS_ENTRIES_PROBLEM));
    }

    ctx->status = (r->method == NGX_HTTP_POST) ? NGX_HTTP_CREATED
                                               : NGX_HTTP_OK;

    return ts_write_item(ctx, res, TS_ENTRIES_ITEM);
}
