
/*
 * Tunesheap: the module's configuration, shared by the handlers.
 */


#ifndef _TS_MODULE_H_INCLUDED_
#define _TS_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ts_pg.h"


typedef struct {
    ts_pg_pool_conf_t    pg;        /* pg.conninfo.len == 0: none */
    ts_pg_pool_t        *pool;      /* this worker's, from init_process */
} ts_main_conf_t;


typedef struct {
    ngx_flag_t           api;
    ngx_str_t            base;      /* the path the API's routes are below */
} ts_loc_conf_t;


extern ngx_module_t  ngx_tunesheap_module;


#endif /* _TS_MODULE_H_INCLUDED_ */
