
/*
 * Tunesheap: the music catalog's REST API, served inside nginx.
 *
 * This file holds the directives, the configuration, the per-worker setup
 * and the entry handler; the rest lives in src/, a file per concern.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ts_module.h"
#include "ts_http.h"
#include "ts_router.h"
#include "ts_resource.h"
#include "ts_read.h"
#include "ts_search.h"
#include "ts_health.h"
#include "ts_body.h"
#include "ts_write.h"
#include "ts_idempotency.h"
#include "ts_auth.h"
#include "ts_cache.h"
#include "ts_sync.h"
#include "ts_media_conf.h"
#include "ts_media.h"
#include "ts_media_link.h"
#include "ts_media_s3.h"
#include "ts_replica.h"


#define TS_POOL_DEFAULT      16
#define TS_QUEUE_DEFAULT     65536   /* a memory bound, not the limit */
/*
 * search connections per worker (search=N), each with up to
 * TS_SEARCH_DEPTH searches in flight.  Searches cost Postgres CPU, not
 * waits: more of them side by side than it has cores only make each
 * dearer (on 2 cores, the bench's searches at 100 clients: 1,130 to
 * 1,370/s with 1 per worker, 950 to 1,050 with 2, 530 to 570 with 8).  A
 * search waits in the connection's pipeline, not in the worker: one at a
 * time, the connection sat idle while the worker was busy with other
 * events, and a 10,000-connection mix's searches passed their deadline.
 */
#define TS_SEARCH_DEFAULT    1
#define TS_SEARCH_DEPTH      4
#define TS_HEALTH_DEPTH      8
#define TS_PIPELINE_DEFAULT  32
#define TS_BASE_DEFAULT      "/api/v1/"
#define TS_MAX_BODY          65536


static ngx_int_t ngx_http_tunesheap_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_tunesheap_path(ngx_http_request_t *r,
    ngx_str_t *path);
static ngx_int_t ngx_http_tunesheap_preconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_tunesheap_postconfiguration(ngx_conf_t *cf);
static void *ngx_http_tunesheap_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_tunesheap_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_tunesheap_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_tunesheap_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_tunesheap_postgres(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_tunesheap_postgres_replica(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_tunesheap_redis(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_tunesheap_cache_shm(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_tunesheap_api(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_tunesheap_init_process(ngx_cycle_t *cycle);
static void ngx_http_tunesheap_exit_process(ngx_cycle_t *cycle);


static ngx_command_t  ngx_http_tunesheap_commands[] = {

    { ngx_string("tunesheap_postgres"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_tunesheap_postgres,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("tunesheap_postgres_replica"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_tunesheap_postgres_replica,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("tunesheap_postgres_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ts_main_conf_t, pg.query_timeout),
      NULL },

    { ngx_string("tunesheap_postgres_connect_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ts_main_conf_t, pg.connect_timeout),
      NULL },

    { ngx_string("tunesheap_redis"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_tunesheap_redis,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("tunesheap_redis_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ts_main_conf_t, redis_conf.timeout),
      NULL },

    { ngx_string("tunesheap_redis_connect_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ts_main_conf_t, redis_conf.connect_timeout),
      NULL },

    { ngx_string("tunesheap_cache"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ts_loc_conf_t, cache),
      NULL },

    { ngx_string("tunesheap_cache_ttl"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ts_loc_conf_t, cache_ttl),
      NULL },

    { ngx_string("tunesheap_cache_shm"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
      ngx_http_tunesheap_cache_shm,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("tunesheap_cache_shm_ttl"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ts_loc_conf_t, shm_ttl),
      NULL },

    { ngx_string("tunesheap_max_body_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ts_loc_conf_t, max_body),
      NULL },

    { ngx_string("tunesheap_auth_read"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ts_loc_conf_t, auth_read),
      NULL },

    { ngx_string("tunesheap_media_root"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ts_loc_conf_t, media.root),
      NULL },

    { ngx_string("tunesheap_media_location"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ts_loc_conf_t, media.location),
      NULL },

    { ngx_string("tunesheap_media_secret"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ts_loc_conf_t, media.secret),
      NULL },

    { ngx_string("tunesheap_media_link_ttl"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ts_loc_conf_t, media.link_ttl),
      NULL },

    { ngx_string("tunesheap_media_max_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_off_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ts_loc_conf_t, media.max_size),
      NULL },

    { ngx_string("tunesheap_media_s3"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_2MORE,
      ts_media_s3_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("tunesheap_media_cloudfront"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE3,
      ts_media_cloudfront_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    /* API keys kept in shared memory: ts_auth.c */
    { ngx_string("tunesheap_auth_cache"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
      ts_auth_cache_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("tunesheap_api"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS|NGX_CONF_TAKE1,
      ngx_http_tunesheap_api,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("tunesheap_error"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ts_http_error_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_tunesheap_module_ctx = {
    ngx_http_tunesheap_preconfiguration,   /* preconfiguration */
    ngx_http_tunesheap_postconfiguration,  /* postconfiguration */

    ngx_http_tunesheap_create_main_conf,   /* create main configuration */
    ngx_http_tunesheap_init_main_conf,     /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_tunesheap_create_loc_conf,    /* create location configuration */
    ngx_http_tunesheap_merge_loc_conf      /* merge location configuration */
};


ngx_module_t  ngx_tunesheap_module = {
    NGX_MODULE_V1,
    &ngx_http_tunesheap_module_ctx,        /* module context */
    ngx_http_tunesheap_commands,           /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_tunesheap_init_process,       /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_tunesheap_exit_process,       /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_int_t
ngx_http_tunesheap_handler(ngx_http_request_t *r)
{
    ngx_int_t          rc;
    ngx_str_t          path, allow;
    ngx_uint_t         write;
    ts_route_t         route;
    const char        *message;
    ts_loc_conf_t     *tlcf;
    ts_route_result_e  found;

    if (ngx_http_tunesheap_path(r, &path) != NGX_OK) {
        found = ts_route_none;

    } else {
        found = ts_route(&path, &route);
    }

    if (found == ts_route_none) {
        return ts_http_send_error(r, NGX_HTTP_NOT_FOUND,
                                  "no resource at this path");
    }

    if (found == ts_route_bad_id) {
        return ts_http_send_error(r, NGX_HTTP_BAD_REQUEST,
                                  "%V id must be a non-negative integer",
                                  &route.bad);
    }

    if (!(r->method & route.methods)) {
        allow.data = (u_char *) route.allow;
        allow.len = ngx_strlen(route.allow);

        if (ts_http_header(r, "Allow", &allow, NULL) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ts_http_send_error(r, NGX_HTTP_NOT_ALLOWED,
                                  "method not allowed here, use %s",
                                  route.allow);
    }

    tlcf = ngx_http_get_module_loc_conf(r, ngx_tunesheap_module);
    write = !(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD));

    /*
     * health answers load balancers, who carry no key; nor do players
     * following a signed stream link (with arguments: they are checked).
     * With S3 the stream endpoint makes no links of its own (clients get
     * CloudFront's or S3's): arguments are no link there, and a read key
     * is needed as for any other read.
     */
    if (write
        || (tlcf->auth_read && route.kind != ts_route_health
            && !(route.kind == ts_route_stream && r->args.len
                 && tlcf->media.s3 == NULL)))
    {
        rc = ts_auth_check(r, write ? "write" : "read", &message);

        if (rc != NGX_OK) {
            if (ngx_http_discard_request_body(r) != NGX_OK) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            return ts_http_send_error(r, rc, "%s", message);
        }
    }

    switch (route.kind) {

    case ts_route_stream:
    case ts_route_audio:
    case ts_route_upload:
    case ts_route_upload_done:
        /* media reads (or discards) its own bodies */
        return ts_media_handler(r, &route);

    case ts_route_list:
    case ts_route_item:
    case ts_route_nested:
    case ts_route_entry:
        if (write) {
            return ts_write_handler(r, &route);
        }

        break;

    case ts_route_search:
    case ts_route_health:
        break;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    switch (route.kind) {

    case ts_route_search:
        return ts_search_handler(r);

    case ts_route_health:
        return ts_health_handler(r);

    default:
        return ts_read_handler(r, &route);
    }
}


ts_request_ctx_t *
ts_request_ctx(ngx_http_request_t *r)
{
    ts_request_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_tunesheap_module);

    if (ctx == NULL) {
        ctx = ngx_pcalloc(r->pool, sizeof(ts_request_ctx_t));
        if (ctx == NULL) {
            return NULL;
        }

        ngx_http_set_ctx(r, ctx, ngx_tunesheap_module);
    }

    return ctx;
}


/* the part of the URI below the API's base, "/api/v1/" by default */
static ngx_int_t
ngx_http_tunesheap_path(ngx_http_request_t *r, ngx_str_t *path)
{
    ts_loc_conf_t  *tlcf;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_tunesheap_module);

    if (r->uri.len < tlcf->base.len
        || ngx_strncmp(r->uri.data, tlcf->base.data, tlcf->base.len) != 0)
    {
        return NGX_DECLINED;
    }

    path->data = r->uri.data + tlcf->base.len;
    path->len = r->uri.len - tlcf->base.len;

    return NGX_OK;
}


static ngx_int_t
ngx_http_tunesheap_preconfiguration(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var;

    static ngx_str_t  cache = ngx_string("tunesheap_cache");

    var = ngx_http_add_variable(cf, &cache, NGX_HTTP_VAR_NOCACHEABLE);
    if (var == NULL) {
        return NGX_ERROR;
    }

    var->get_handler = ts_cache_variable;

    if (ts_media_add_variables(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    return ts_auth_add_variables(cf);
}


static ngx_int_t
ngx_http_tunesheap_postconfiguration(ngx_conf_t *cf)
{
    if (ts_body_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    return ts_auth_init(cf);
}


static void *
ngx_http_tunesheap_create_main_conf(ngx_conf_t *cf)
{
    ts_main_conf_t  *tmcf;

    tmcf = ngx_pcalloc(cf->pool, sizeof(ts_main_conf_t));
    if (tmcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     tmcf->pg.conninfo = { 0, NULL };
     *     tmcf->pg.setup = { 0, NULL };
     *     tmcf->pools[] = NULL;
     *     tmcf->replicas = NULL;
     */

    tmcf->pg.size = NGX_CONF_UNSET_UINT;
    tmcf->pg.queue = NGX_CONF_UNSET_UINT;
    tmcf->pg.depth = NGX_CONF_UNSET_UINT;
    tmcf->search = NGX_CONF_UNSET_UINT;
    tmcf->pg.connect_timeout = NGX_CONF_UNSET_MSEC;
    tmcf->pg.query_timeout = NGX_CONF_UNSET_MSEC;
    tmcf->redis_conf.timeout = NGX_CONF_UNSET_MSEC;
    tmcf->redis_conf.connect_timeout = NGX_CONF_UNSET_MSEC;
    tmcf->shm_sync = NGX_CONF_UNSET_MSEC;

    return tmcf;
}


static char *
ngx_http_tunesheap_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ts_main_conf_t  *tmcf = conf;

    ngx_str_t                  setup, media;
    ngx_msec_t                 timeout;
    const char                *replica;
    ngx_http_core_loc_conf_t  *clcf;

    ngx_conf_init_uint_value(tmcf->pg.size, TS_POOL_DEFAULT);
    ngx_conf_init_uint_value(tmcf->pg.queue, TS_QUEUE_DEFAULT);
    ngx_conf_init_uint_value(tmcf->pg.depth, TS_PIPELINE_DEFAULT);
    ngx_conf_init_uint_value(tmcf->search, TS_SEARCH_DEFAULT);
    ngx_conf_init_msec_value(tmcf->pg.connect_timeout, 3000);
    ngx_conf_init_msec_value(tmcf->pg.query_timeout, 5000);
    ngx_conf_init_msec_value(tmcf->redis_conf.timeout, 200);
    ngx_conf_init_msec_value(tmcf->redis_conf.connect_timeout, 1000);
    ngx_conf_init_msec_value(tmcf->shm_sync, TS_SYNC_WINDOW);

    /* the audio's statements, and its columns' JSON for the items */
    if (ts_media_init(cf->pool, &media) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (tmcf->pg.conninfo.len == 0) {
        return ts_replica_init_main_conf(cf, tmcf);
    }

    /* workers resolve with the http block's resolver, if it has one */
    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    timeout = clcf->resolver_timeout == NGX_CONF_UNSET_MSEC
              ? tmcf->pg.connect_timeout : clcf->resolver_timeout;

    if (ts_pg_host_conf(cf, &tmcf->pg.conninfo, clcf->resolver, timeout,
                        &tmcf->pg_host)
        != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    tmcf->pg.host = &tmcf->pg_host;

    /* the statements are the same for every connection: build them once */
    if (ts_resource_init(cf->pool, &setup) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    /* with replicas, the primary's and the replicas' WAL positions too */
    replica = tmcf->replicas ? ts_replica_setup : "";

    tmcf->pg.setup.len = setup.len + ngx_strlen(ts_auth_setup)
                         + media.len
                         + ngx_strlen(ts_idempotency_setup)
                         + ngx_strlen(ts_write_setup)
                         + ngx_strlen(replica);
    tmcf->pg.setup.data = ngx_pnalloc(cf->pool, tmcf->pg.setup.len);
    if (tmcf->pg.setup.data == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_sprintf(tmcf->pg.setup.data, "%V%s%V%s%s%s", &setup, ts_auth_setup,
                &media, ts_idempotency_setup, ts_write_setup, replica);

    return ts_replica_init_main_conf(cf, tmcf);
}


static void *
ngx_http_tunesheap_create_loc_conf(ngx_conf_t *cf)
{
    ts_loc_conf_t  *tlcf;

    tlcf = ngx_pcalloc(cf->pool, sizeof(ts_loc_conf_t));
    if (tlcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     tlcf->base = { 0, NULL };
     */

    tlcf->api = NGX_CONF_UNSET;
    tlcf->max_body = NGX_CONF_UNSET_SIZE;
    tlcf->auth_read = NGX_CONF_UNSET;
    tlcf->cache = NGX_CONF_UNSET;
    tlcf->cache_ttl = NGX_CONF_UNSET_MSEC;
    tlcf->shm_ttl = NGX_CONF_UNSET_MSEC;

    ts_media_create_conf(&tlcf->media);

    return tlcf;
}


static char *
ngx_http_tunesheap_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ts_loc_conf_t  *prev = parent;
    ts_loc_conf_t  *conf = child;

    char  *rv;

    ngx_conf_merge_value(conf->api, prev->api, 0);
    ngx_conf_merge_str_value(conf->base, prev->base, TS_BASE_DEFAULT);
    ngx_conf_merge_size_value(conf->max_body, prev->max_body, TS_MAX_BODY);
    ngx_conf_merge_value(conf->auth_read, prev->auth_read, 0);
    ngx_conf_merge_value(conf->cache, prev->cache, 1);
    ngx_conf_merge_msec_value(conf->cache_ttl, prev->cache_ttl, 60000);
    ngx_conf_merge_msec_value(conf->shm_ttl, prev->shm_ttl, 1000);

    rv = ts_media_merge_conf(cf, &prev->media, &conf->media);

    if (rv != NGX_CONF_OK && rv != NGX_CONF_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%s", rv);
        return NGX_CONF_ERROR;
    }

    if (rv != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * "NAME=N" with N >= min into *out: NGX_OK, NGX_DECLINED for another
 * parameter, NGX_ERROR for a bad number
 */
static ngx_int_t
ngx_http_tunesheap_number(ngx_str_t *value, const char *name, ngx_int_t min,
    ngx_uint_t *out)
{
    ngx_int_t  n;
    ngx_str_t  v;

    if (!ts_http_conf_param(value, name, &v)) {
        return NGX_DECLINED;
    }

    n = ngx_atoi(v.data, v.len);
    if (n == NGX_ERROR || n < min) {
        return NGX_ERROR;
    }

    *out = n;

    return NGX_OK;
}


/* the pool's parameters a primary and its replicas share */
static ngx_int_t
ngx_http_tunesheap_pool_param(ngx_str_t *value, ts_pg_pool_conf_t *pg)
{
    ngx_int_t  rc;

    rc = ngx_http_tunesheap_number(value, "pool", 1, &pg->size);

    if (rc == NGX_DECLINED) {
        rc = ngx_http_tunesheap_number(value, "pipeline", 1, &pg->depth);
    }

    return rc;
}


/*
 * tunesheap_postgres "conninfo" [pool=N] [queue=N] [pipeline=N]
 *     [search=N]
 */
static char *
ngx_http_tunesheap_postgres(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ts_main_conf_t  *tmcf = conf;

    ngx_int_t    rc;
    ngx_str_t   *value;
    ngx_uint_t   i;

    if (tmcf->pg.conninfo.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 0) {
        return "needs a connection string";
    }

    tmcf->pg.conninfo = value[1];

    for (i = 2; i < cf->args->nelts; i++) {

        rc = ngx_http_tunesheap_pool_param(&value[i], &tmcf->pg);

        if (rc == NGX_DECLINED) {
            rc = ngx_http_tunesheap_number(&value[i], "queue", 0,
                                           &tmcf->pg.queue);
        }

        if (rc == NGX_DECLINED) {
            rc = ngx_http_tunesheap_number(&value[i], "search", 1,
                                           &tmcf->search);
        }

        if (rc != NGX_OK) {
            goto invalid;
        }
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", &value[i]);

    return NGX_CONF_ERROR;
}


/*
 * tunesheap_postgres_replica "conninfo" [pool=N] [pipeline=N]: a streaming
 * replica of the primary for reads; repeatable, one per replica
 */
static char *
ngx_http_tunesheap_postgres_replica(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ts_main_conf_t  *tmcf = conf;

    ngx_str_t          *value;
    ngx_uint_t          i;
    ts_replica_conf_t  *rc;

    value = cf->args->elts;

    if (value[1].len == 0) {
        return "needs a connection string";
    }

    if (tmcf->replicas == NULL) {
        tmcf->replicas = ngx_array_create(cf->pool, 2,
                                          sizeof(ts_replica_conf_t));
        if (tmcf->replicas == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    rc = ngx_array_push(tmcf->replicas);
    if (rc == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(rc, sizeof(ts_replica_conf_t));
    rc->pg.conninfo = value[1];
    rc->pg.size = NGX_CONF_UNSET_UINT;
    rc->pg.depth = NGX_CONF_UNSET_UINT;

    for (i = 2; i < cf->args->nelts; i++) {
        if (ngx_http_tunesheap_pool_param(&value[i], &rc->pg) != NGX_OK) {
            goto invalid;
        }
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", &value[i]);

    return NGX_CONF_ERROR;
}


/*
 * tunesheap_redis host[:port]: a name is resolved here, at configuration
 * time, as nginx does for its upstreams: hiredis would resolve it in the
 * worker, blocking it, at every reconnect
 */
static char *
ngx_http_tunesheap_redis(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ts_main_conf_t  *tmcf = conf;

    u_char     *p;
    ngx_url_t   u;
    ngx_str_t  *value;

    if (tmcf->redis_conf.host.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    ngx_memzero(&u, sizeof(ngx_url_t));
    u.url = value[1];
    u.default_port = 6379;

    if (ngx_parse_url(cf->pool, &u) != NGX_OK || u.naddrs == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%s in redis \"%V\"",
                           u.err ? u.err : "no address", &value[1]);
        return NGX_CONF_ERROR;
    }

    p = ngx_pnalloc(cf->pool, NGX_SOCKADDR_STRLEN);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    /* the address alone: its port goes apart */
    tmcf->redis_conf.host.data = p;
    tmcf->redis_conf.host.len = ngx_sock_ntop(u.addrs[0].sockaddr,
                                              u.addrs[0].socklen, p,
                                              NGX_SOCKADDR_STRLEN, 0);
    tmcf->redis_conf.port = u.port;

    return NGX_CONF_OK;
}


/* tunesheap_cache_shm size */
static char *
ngx_http_tunesheap_cache_shm(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ts_main_conf_t  *tmcf = conf;

    ssize_t     size;
    ngx_str_t  *value, arg, name = ngx_string("tunesheap_cache");

    if (tmcf->shm) {
        return "is duplicate";
    }

    value = cf->args->elts;
    size = ngx_parse_size(&value[1]);

    if (size == NGX_ERROR || size < (ssize_t) (8 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid cache size \"%V\": at least %uzk",
                           &value[1], 8 * ngx_pagesize / 1024);
        return NGX_CONF_ERROR;
    }

    if (cf->args->nelts == 3) {
        if (ngx_strncmp(value[2].data, "sync=", 5) != 0) {
            goto invalid;
        }

        arg.data = value[2].data + 5;
        arg.len = value[2].len - 5;

        tmcf->shm_sync = ngx_parse_time(&arg, 0);
        if (tmcf->shm_sync == (ngx_msec_t) NGX_ERROR
            || tmcf->shm_sync < 5)
        {
            goto invalid;
        }
    }

    tmcf->shm = ts_shm_add(cf, &name, size);

    return tmcf->shm ? NGX_CONF_OK : NGX_CONF_ERROR;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\": sync=time, at least 5ms",
                       &value[2]);

    return NGX_CONF_ERROR;
}


/* tunesheap_api [base] */
static char *
ngx_http_tunesheap_api(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ts_loc_conf_t  *tlcf = conf;

    ngx_str_t                 *value;
    ngx_http_core_loc_conf_t  *clcf;

    if (tlcf->api != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    tlcf->api = 1;

    if (cf->args->nelts == 2) {
        value = cf->args->elts;

        if (value[1].len == 0 || value[1].data[0] != '/') {
            return "needs a base path that starts with \"/\"";
        }

        tlcf->base = value[1];
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_tunesheap_handler;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_tunesheap_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t          i;
    ts_main_conf_t     *tmcf;
    ts_pg_pool_conf_t   lane;

    tmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_tunesheap_module);

    if (tmcf == NULL) {
        return NGX_OK;
    }

    if (ts_cache_init_process(cycle, tmcf) != NGX_OK
        || ts_sync_init_process(cycle, tmcf) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (tmcf->pg.conninfo.len == 0) {
        return NGX_OK;
    }

    /* with replicas, writes learn the WAL position they end at */
    tmcf->pg.written = ts_replica_counter();

    /*
     * connections open on demand, so an absent Postgres delays nothing;
     * searches and health checks get connections of their own, so that
     * neither waits behind the other kind of query.  Those two lanes open
     * theirs when the worker starts (a search connection's warm-up costs
     * tens of ms, more than a search), and the health check answers once
     * they are set up: a node joins its balancer warm.
     */
    tmcf->pools[TS_PG_LANE_FAST] = ts_pg_pool_create(cycle, &tmcf->pg);

    lane = tmcf->pg;
    lane.size = tmcf->search;
    lane.depth = TS_SEARCH_DEPTH;
    lane.warm = tmcf->search;

    /* search connections warm up before their first search */
    lane.setup.len = tmcf->pg.setup.len + ngx_strlen(ts_search_setup);
    lane.setup.data = ngx_pnalloc(cycle->pool, lane.setup.len);
    if (lane.setup.data == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(lane.setup.data, "%V%s", &tmcf->pg.setup, ts_search_setup);

    tmcf->pools[TS_PG_LANE_SLOW] = ts_pg_pool_create(cycle, &lane);

    lane.setup = tmcf->pg.setup;
    lane.size = 1;
    lane.depth = TS_HEALTH_DEPTH;
    lane.warm = 1;
    tmcf->pools[TS_PG_LANE_HEALTH] = ts_pg_pool_create(cycle, &lane);

    for (i = 0; i < TS_PG_LANES; i++) {
        if (tmcf->pools[i] == NULL) {
            return NGX_ERROR;
        }

        ts_pg_pool_warm(tmcf->pools[i]);
    }

    return ts_replica_init_process(cycle, tmcf);
}


static void
ngx_http_tunesheap_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t       i;
    ts_main_conf_t  *tmcf;

    tmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_tunesheap_module);

    if (tmcf == NULL) {
        return;
    }

    /*
     * Redis first: what still waits on it must not go on to Postgres (a
     * lookup's miss would open a connection of a pool being torn down)
     */
    ts_cache_exit_process(cycle, tmcf);
    ts_replica_exit_process(cycle, tmcf);

    for (i = 0; i < TS_PG_LANES; i++) {
        if (tmcf->pools[i]) {
            ts_pg_pool_destroy(tmcf->pools[i]);
            tmcf->pools[i] = NULL;
        }
    }

    ts_media_exit_process();
}
