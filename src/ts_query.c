
/*
 * Tunesheap: the glue between a request and the Postgres pool: a
 * request's query goes to its lane's pool, is cancelled if the request
 * goes away, and its failure is answered the same way by every handler.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ts_module.h"
#include "ts_http.h"
#include "ts_query.h"


static void
ts_query_cleanup(void *data)
{
    ts_pg_query_cancel(data);
}


ngx_int_t
ts_query_send(ngx_http_request_t *r, ts_pg_query_t *q, ngx_uint_t first)
{
    ts_main_conf_t  *tmcf;

    tmcf = ngx_http_get_module_main_conf(r, ngx_tunesheap_module);

    q->log = r->connection->log;

    if (tmcf->pools[q->lane] == NULL) {
        q->rc = TS_PG_UNAVAILABLE;
        return NGX_ERROR;
    }

    if (first && ts_http_cleanup(r, ts_query_cleanup, q) != NGX_OK) {
        q->rc = TS_PG_ERROR;
        return NGX_ERROR;
    }

    return ts_pg_query(tmcf->pools[q->lane], q);
}


ngx_uint_t
ts_query_warming(ngx_http_request_t *r)
{
    ngx_uint_t       i, warming;
    ts_main_conf_t  *tmcf;

    tmcf = ngx_http_get_module_main_conf(r, ngx_tunesheap_module);

    warming = 0;

    for (i = 0; i < TS_PG_LANES; i++) {
        if (tmcf->pools[i] && ts_pg_pool_warming(tmcf->pools[i])) {
            warming = 1;
        }
    }

    return warming;
}


ngx_int_t
ts_query_error(ngx_http_request_t *r, ts_pg_query_t *q)
{
    switch (q->rc) {

    case TS_PG_BUSY:
        return ts_http_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                  "too many requests are waiting "
                                  "for the database");

    case TS_PG_UNAVAILABLE:
        return ts_http_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                  "the database is unavailable");

    case TS_PG_UNKNOWN:
        return ts_http_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                  "the database connection was lost: "
                                  "the write may or may not have been done");

    case TS_PG_TIMEOUT:
        return ts_http_send_error(r, NGX_HTTP_GATEWAY_TIME_OUT,
                                  "the database did not answer in time");

    default:
        return ts_http_send_error(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                  "internal error");
    }
}


/*
 * If-Match as a text[] parameter of the strong tags it lists, or NULL when
 * there is none or it is "*" (the item must exist, as it must anyway).
 * Weak tags never match strongly, so they are left out.
 */
const char *
ts_query_if_match(ngx_http_request_t *r)
{
    u_char           *p, *end, *arr, *a;
    ngx_uint_t        i;
    ngx_table_elt_t  *h;

    h = r->headers_in.if_match;

    if (h == NULL || (h->value.len == 1 && h->value.data[0] == '*')) {
        return NULL;
    }

    arr = ngx_pnalloc(r->pool, h->value.len + 3);
    if (arr == NULL) {
        return NULL;
    }

    a = arr;
    *a++ = '{';

    p = h->value.data;
    end = p + h->value.len;

    while (p < end) {
        if (*p == 'W' && p + 1 < end && p[1] == '/') {
            /* skip the weak tag's quoted part */
            for (p += 3; p < end && *p != '"'; p++) { /* void */ }
            p++;
            continue;
        }

        if (*p != '"') {
            p++;
            continue;
        }

        for (i = 1; p + i < end && p[i] != '"'; i++) {
            /* void */
        }

        if (i == 33 && p + i < end) {
            /* only a tag of 32 hex digits can be ours */
            for (i = 1; i < 33; i++) {
                if (!((p[i] >= '0' && p[i] <= '9')
                      || (p[i] >= 'a' && p[i] <= 'f')))
                {
                    break;
                }
            }

            if (i == 33) {
                if (a > arr + 1) {
                    *a++ = ',';
                }

                a = ngx_cpymem(a, p + 1, 32);
            }
        }

        for (p++; p < end && *p != '"'; p++) { /* void */ }
        p++;
    }

    *a++ = '}';
    *a = '\0';

    return (char *) arr;
}
