
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
ts_read_cleanup(void *data)
{
    ts_pg_query_cancel(data);
}


ngx_int_t
ts_read_query(ngx_http_request_t *r, ts_pg_query_t *q, ngx_uint_t first)
{
    ts_main_conf_t  *tmcf;

    tmcf = ngx_http_get_module_main_conf(r, ngx_tunesheap_module);

    q->log = r->connection->log;

    if (tmcf->pools[q->lane] == NULL) {
        q->rc = TS_PG_UNAVAILABLE;
        return NGX_ERROR;
    }

    if (first && ts_http_cleanup(r, ts_read_cleanup, q) != NGX_OK) {
        q->rc = TS_PG_ERROR;
        return NGX_ERROR;
    }

    return ts_pg_query(tmcf->pools[q->lane], q);
}


ngx_int_t
ts_read_query_error(ngx_http_request_t *r, ts_pg_query_t *q)
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
