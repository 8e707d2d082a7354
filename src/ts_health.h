
/*
 * Tunesheap: health for load balancers.
 */


#ifndef _TS_HEALTH_H_INCLUDED_
#define _TS_HEALTH_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/* GET /health: 200 when Postgres answers, 503 when it does not */
ngx_int_t ts_health_handler(ngx_http_request_t *r);


#endif /* _TS_HEALTH_H_INCLUDED_ */
