
/*
 * Tunesheap: Idempotency-Key on writes (see ts_idempotency.h).  The key is
 * scoped to the API key that writes ($tunesheap_api_key), so one client
 * never gets another's answer; the request is compared by the SHA-256 of
 * its method, path and body.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/evp.h>

#include "ts_module.h"
#include "ts_http.h"
#include "ts_query.h"
#include "ts_idempotency.h"


#define TS_IDEMPOTENCY_TEXT  25     /* Postgres' oid of text */


static ngx_int_t ts_idempotency_scope(ngx_http_request_t *r,
    ts_idempotency_t *idem);
static ngx_int_t ts_idempotency_hash(ngx_http_request_t *r,
    ts_idempotency_t *idem, ngx_str_t *body);
static void ts_idempotency_done(ts_pg_query_t *q);
static PGresult *ts_idempotency_row(ngx_pool_t *pool, PGresult *res);


/* the key's answer, one row per value of the write's row, in order */
const char  ts_idempotency_setup[] =
    "PREPARE ts_idempotency_find AS SELECT k.hash, v.value"
    " FROM ts_idempotency k, unnest(k.result) WITH ORDINALITY AS v(value, n)"
    " WHERE k.scope = $1 AND k.key = $2"
    " AND k.created_at > now() - make_interval(secs => $3::int)"
    " ORDER BY v.n;";

const char  ts_idempotency_invalid[] =
    "Idempotency-Key must be given once, as 1 to 255 printable ASCII "
    "characters";


static ngx_str_t  ts_idempotency_header = ngx_string("Idempotency-Key");
static ngx_str_t  ts_idempotency_scope_var = ngx_string("tunesheap_api_key");
static ngx_str_t  ts_idempotency_true = ngx_string("true");


ngx_int_t
ts_idempotency_init(ngx_http_request_t *r, ts_idempotency_t **idem)
{
    u_char            *p;
    ngx_uint_t         i;
    ngx_list_part_t   *part;
    ngx_table_elt_t   *h, *key;
    ts_idempotency_t  *ctx;

    *idem = NULL;
    key = NULL;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len != ts_idempotency_header.len
            || ngx_strncasecmp(h[i].key.data, ts_idempotency_header.data,
                               ts_idempotency_header.len)
               != 0)
        {
            continue;
        }

        if (key) {
            return NGX_DECLINED;
        }

        key = &h[i];
    }

    if (key == NULL) {
        return NGX_OK;
    }

    if (key->value.len == 0 || key->value.len > TS_IDEMPOTENCY_KEY_MAX) {
        return NGX_DECLINED;
    }

    for (p = key->value.data; p < key->value.data + key->value.len; p++) {
        if (*p < 0x21 || *p > 0x7e) {
            return NGX_DECLINED;
        }
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ts_idempotency_t));
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    ctx->request = r;
    ctx->params[1] = ts_http_cstr(r->pool, &key->value);

    p = ngx_pnalloc(r->pool, NGX_INT_T_LEN + 1);

    if (ctx->params[1] == NULL || p == NULL
        || ts_idempotency_scope(r, ctx) != NGX_OK)
    {
        return NGX_ERROR;
    }

    *ngx_sprintf(p, "%d", TS_IDEMPOTENCY_TTL) = '\0';
    ctx->params[2] = (char *) p;

    *idem = ctx;

    return NGX_OK;
}


/* the key's owner: the name of the API key, "" when writes need none */
static ngx_int_t
ts_idempotency_scope(ngx_http_request_t *r, ts_idempotency_t *idem)
{
    ngx_str_t                   s;
    ngx_http_variable_value_t  *v;

    v = ngx_http_get_variable(r, &ts_idempotency_scope_var,
                              ngx_hash_key(ts_idempotency_scope_var.data,
                                           ts_idempotency_scope_var.len));

    if (v == NULL || v->not_found) {
        idem->params[0] = "";
        return NGX_OK;
    }

    s.data = v->data;
    s.len = v->len;

    idem->params[0] = ts_http_cstr(r->pool, &s);

    return idem->params[0] ? NGX_OK : NGX_ERROR;
}


ngx_int_t
ts_idempotency_find(ts_idempotency_t *idem, ngx_str_t *body)
{
    ts_pg_query_t       *q;
    ngx_http_request_t  *r;

    r = idem->request;
    q = &idem->query;

    if (ts_idempotency_hash(r, idem, body) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    q->statement = "ts_idempotency_find";
    q->nparams = 3;
    q->params = idem->params;
    q->done = ts_idempotency_done;
    q->data = idem;

    if (ts_query_send(r, q, 1) != NGX_OK) {
        return ts_query_error(r, q);
    }

    return NGX_OK;
}


const char **
ts_idempotency_params(ts_idempotency_t *idem)
{
    return idem->params;
}


/* the request's hash: SHA-256 of "METHOD /path\n" and the body, in hex */
static ngx_int_t
ts_idempotency_hash(ngx_http_request_t *r, ts_idempotency_t *idem,
    ngx_str_t *body)
{
    u_char         *hex, md[EVP_MAX_MD_SIZE];
    unsigned int    len;
    EVP_MD_CTX     *md_ctx;
    ngx_int_t       rc;

    hex = ngx_pnalloc(r->pool, 2 * 32 + 1);
    md_ctx = EVP_MD_CTX_new();

    if (hex == NULL || md_ctx == NULL) {
        EVP_MD_CTX_free(md_ctx);
        return NGX_ERROR;
    }

    rc = NGX_ERROR;

    if (EVP_DigestInit_ex(md_ctx, EVP_sha256(), NULL) == 1
        && EVP_DigestUpdate(md_ctx, r->method_name.data,
                            r->method_name.len) == 1
        && EVP_DigestUpdate(md_ctx, " ", 1) == 1
        && EVP_DigestUpdate(md_ctx, r->uri.data, r->uri.len) == 1
        && EVP_DigestUpdate(md_ctx, "\n", 1) == 1
        && EVP_DigestUpdate(md_ctx, body->data, body->len) == 1
        && EVP_DigestFinal_ex(md_ctx, md, &len) == 1
        && len == 32)
    {
        *ngx_hex_dump(hex, md, len) = '\0';
        idem->params[3] = (char *) hex;
        rc = NGX_OK;
    }

    EVP_MD_CTX_free(md_ctx);

    return rc;
}


static void
ts_idempotency_done(ts_pg_query_t *q)
{
    PGresult            *res, *row;
    ts_idempotency_t    *idem;
    ngx_http_request_t  *r;

    idem = q->data;
    r = idem->request;
    res = q->result;

    if (q->rc != TS_PG_OK) {
        idem->found = TS_IDEM_FAILED;
        idem->done(idem);
        return;
    }

    if (PQntuples(res) == 0) {
        idem->found = TS_IDEM_NONE;
        idem->done(idem);
        return;
    }

    if (ngx_strcmp(PQgetvalue(res, 0, 0), idem->params[3]) != 0) {
        idem->found = TS_IDEM_MISMATCH;
        ts_http_finish(r, ts_http_send_error(r, TS_HTTP_UNPROCESSABLE,
                           "this Idempotency-Key was used for another "
                           "request: another method, path or body"));
        return;
    }

    idem->result = ts_idempotency_row(r->pool, res);

    if (idem->result == NULL) {
        q->rc = TS_PG_ERROR;
        idem->found = TS_IDEM_FAILED;
        idem->done(idem);
        return;
    }

    /* as payment APIs say it */
    idem->found = TS_IDEM_REPLAY;

    if (ts_http_header(r, "Idempotent-Replayed", &ts_idempotency_true, NULL)
        != NGX_OK)
    {
        q->rc = TS_PG_ERROR;
        idem->found = TS_IDEM_FAILED;
    }

    row = idem->result;

    /* the replayed answer may finish the request: idem is freed then */
    idem->done(idem);

    PQclear(row);
}


/* the row the write statement returned, from its values kept as text */
static PGresult *
ts_idempotency_row(ngx_pool_t *pool, PGresult *res)
{
    int            i, n;
    PGresult      *row;
    PGresAttDesc  *attrs;

    n = PQntuples(res);

    attrs = ngx_pcalloc(pool, n * sizeof(PGresAttDesc));
    if (attrs == NULL) {
        return NULL;
    }

    for (i = 0; i < n; i++) {
        attrs[i].name = "";
        attrs[i].typid = TS_IDEMPOTENCY_TEXT;
        attrs[i].typlen = -1;
        attrs[i].atttypmod = -1;
    }

    row = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
    if (row == NULL) {
        return NULL;
    }

    if (PQsetResultAttrs(row, n, attrs) == 0) {
        goto failed;
    }

    for (i = 0; i < n; i++) {
        if (PQgetisnull(res, i, 1)) {
            if (PQsetvalue(row, 0, i, NULL, -1) == 0) {
                goto failed;
            }

            continue;
        }

        if (PQsetvalue(row, 0, i, PQgetvalue(res, i, 1),
                       PQgetlength(res, i, 1))
            == 0)
        {
            goto failed;
        }
    }

    return row;

failed:

    PQclear(row);

    return NULL;
}


ngx_int_t
ts_idempotency_conflict(ts_idempotency_t *idem, ts_pg_query_t *q)
{
    char  *table;

    if (q->rc == TS_PG_OK && PQntuples(q->result) > 0) {
        return NGX_DECLINED;
    }

    if (q->rc == TS_PG_ERROR && ngx_strcmp(ts_pg_sqlstate(q), "23505") == 0) {
        table = PQresultErrorField(q->result, PG_DIAG_TABLE_NAME);

        if (table == NULL || ngx_strcmp(table, "ts_idempotency") != 0) {
            return NGX_DECLINED;
        }

        /* the first write committed while this one was running */

    } else if (q->rc != TS_PG_OK) {
        return NGX_DECLINED;
    }

    return ts_http_send_error(idem->request, NGX_HTTP_CONFLICT,
                              "a request with this Idempotency-Key is in "
                              "progress: retry later");
}
