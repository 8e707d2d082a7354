
/*
 * Tunesheap: the headers of every answer of the API's server (README,
 * "Caching headers and concurrency", "CORS" and "Security").
 *
 * One header filter, first in nginx's chain (a dynamic module's filters
 * come before the built-in ones), so nginx's own filters see what it set:
 * not_modified turns a 200 into a 304 keeping Cache-Control, gzip keeps
 * it too.  Where it acts: in a location with tunesheap_api or
 * tunesheap_error, and wherever tunesheap_headers is on (the shipped
 * server turns it on for every location: the audio's internal location,
 * the player's files).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ts_module.h"
#include "ts_http.h"
#include "ts_headers.h"


#define TS_HEADERS_MAX_AGE     5      /* seconds: browsers */
#define TS_HEADERS_S_MAXAGE    10     /* shared caches: CloudFront */
#define TS_HEADERS_STALE       10     /* stale-while-revalidate */
#define TS_HEADERS_CORS_AGE    "600"  /* a preflight's answer, kept */


typedef struct {
    ngx_flag_t    enable;         /* tunesheap_headers; unset: where the
                                     API or its errors answer */
    ngx_flag_t    shared;         /* tunesheap_cache_control is not off */
    time_t        max_age;
    time_t        s_maxage;
    time_t        stale;
    ngx_str_t     cache_control;  /* a public read's, links' cap applied */
    ngx_array_t  *cors;           /* of ngx_str_t; unset: NULL */
    ngx_flag_t    cors_any;       /* tunesheap_cors * */
} ts_headers_loc_conf_t;


static ngx_int_t ts_headers_filter(ngx_http_request_t *r);
static ngx_int_t ts_headers_cache(ngx_http_request_t *r,
    ts_headers_loc_conf_t *hlcf);
static ngx_int_t ts_headers_cors(ngx_http_request_t *r,
    ts_headers_loc_conf_t *hlcf, ngx_str_t *origin);
static ngx_int_t ts_headers_preflight(ngx_http_request_t *r);
static ngx_table_elt_t *ts_headers_find(ngx_list_t *headers,
    const char *name, size_t len);
static ngx_int_t ts_headers_add(ngx_http_request_t *r, const char *key,
    const char *value);
static char *ts_headers_cache_control(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ts_headers_cors_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ts_headers_init(ngx_conf_t *cf);
static void *ts_headers_create_loc_conf(ngx_conf_t *cf);
static char *ts_headers_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);


static ngx_command_t  ts_headers_commands[] = {

    { ngx_string("tunesheap_headers"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ts_headers_loc_conf_t, enable),
      NULL },

    { ngx_string("tunesheap_cache_control"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ts_headers_cache_control,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("tunesheap_cors"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ts_headers_cors_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ts_headers_module_ctx = {
    NULL,                                  /* preconfiguration */
    ts_headers_init,                       /* postconfiguration */
    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */
    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */
    ts_headers_create_loc_conf,            /* create location configuration */
    ts_headers_merge_loc_conf              /* merge location configuration */
};


ngx_module_t  ngx_tunesheap_headers_module = {
    NGX_MODULE_V1,
    &ts_headers_module_ctx,                /* module context */
    ts_headers_commands,                   /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_http_output_header_filter_pt  ts_headers_next;


static ngx_int_t
ts_headers_filter(ngx_http_request_t *r)
{
    ngx_flag_t                 api, enable;
    ngx_table_elt_t           *origin;
    ts_loc_conf_t             *tlcf;
    ngx_http_core_loc_conf_t  *clcf;
    ts_headers_loc_conf_t     *hlcf;

    if (r != r->main) {
        return ts_headers_next(r);
    }

    hlcf = ngx_http_get_module_loc_conf(r, ngx_tunesheap_headers_module);
    tlcf = ngx_http_get_module_loc_conf(r, ngx_tunesheap_module);
    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    api = tlcf->api || clcf->handler == ts_http_error_handler;
    enable = (hlcf->enable == NGX_CONF_UNSET) ? api : hlcf->enable;

    if (!enable) {
        return ts_headers_next(r);
    }

    /* browsers take every answer as what Content-Type says, never a page */
    if (ts_headers_out(r, "X-Content-Type-Options",
                       sizeof("X-Content-Type-Options") - 1)
           == NULL
        && ts_headers_add(r, "X-Content-Type-Options", "nosniff") != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* the stream sets its own (a link's lifetime): kept */
    if (api
        && ts_headers_out(r, "Cache-Control", sizeof("Cache-Control") - 1)
           == NULL
        && ts_headers_cache(r, hlcf) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (hlcf->cors && hlcf->cors->nelts) {
        origin = ts_headers_in(r, "Origin", sizeof("Origin") - 1);

        if (ts_headers_cors(r, hlcf, origin ? &origin->value : NULL)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return ts_headers_next(r);
}


/*
 * Who may keep the answer.  A read without a key answered 200 (or 304:
 * the not_modified filter comes after this one) is public for a short
 * while; a request with a key, a write and every other status are
 * "private, no-store" (a shared cache never keeps them, a browser does
 * not either); errors "no-store".
 */
static ngx_int_t
ts_headers_cache(ngx_http_request_t *r, ts_headers_loc_conf_t *hlcf)
{
    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))
        || r->headers_in.authorization)
    {
        return ts_headers_add(r, "Cache-Control", "private, no-store");
    }

    if (r->headers_out.status != NGX_HTTP_OK) {
        return ts_headers_add(r, "Cache-Control", "no-store");
    }

    if (!hlcf->shared) {
        return NGX_OK;
    }

    return ts_http_header(r, "Cache-Control", &hlcf->cache_control, NULL);
}


/*
 * Access-Control-Allow-Origin for an origin the list has (the origin
 * itself, or * with "tunesheap_cors *"), the headers a script may read;
 * Vary: Origin on every answer when the list names origins, since the
 * answer then depends on who asks.
 */
static ngx_int_t
ts_headers_cors(ngx_http_request_t *r, ts_headers_loc_conf_t *hlcf,
    ngx_str_t *origin)
{
    ngx_str_t         *o, vary = ngx_string("Origin");
    ngx_uint_t         i, allowed;
    ngx_table_elt_t   *h;

    if (!hlcf->cors_any
        && ts_http_header(r, "Vary", &vary, NULL) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (origin == NULL) {
        return NGX_OK;
    }

    allowed = hlcf->cors_any;
    o = hlcf->cors->elts;

    for (i = 0; !allowed && i < hlcf->cors->nelts; i++) {
        if (o[i].len == origin->len
            && ngx_strncmp(o[i].data, origin->data, origin->len) == 0)
        {
            allowed = 1;
        }
    }

    if (!allowed) {
        return NGX_OK;
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Access-Control-Allow-Origin");

    if (hlcf->cors_any) {
        ngx_str_set(&h->value, "*");

    } else {
        h->value = *origin;
    }

    return ts_headers_add(r, "Access-Control-Expose-Headers",
                          "ETag, Location, Retry-After, X-Cache, "
                          "Idempotent-Replayed, WWW-Authenticate");
}


/*
 * The rewrite phase: a CORS preflight (OPTIONS with Origin and
 * Access-Control-Request-Method) from an allowed origin is answered 204
 * here, before keys and limits; any other OPTIONS goes on (the API
 * answers 405).  The filter adds the origin and Vary.
 */
static ngx_int_t
ts_headers_preflight(ngx_http_request_t *r)
{
    ngx_str_t              *o;
    ngx_uint_t              i;
    ngx_table_elt_t        *origin;
    ts_headers_loc_conf_t  *hlcf;

    if (r->method != NGX_HTTP_OPTIONS || r != r->main) {
        return NGX_DECLINED;
    }

    hlcf = ngx_http_get_module_loc_conf(r, ngx_tunesheap_headers_module);

    if (hlcf->cors == NULL || hlcf->cors->nelts == 0) {
        return NGX_DECLINED;
    }

    origin = ts_headers_in(r, "Origin", sizeof("Origin") - 1);

    if (origin == NULL
        || ts_headers_in(r, "Access-Control-Request-Method",
                         sizeof("Access-Control-Request-Method") - 1)
           == NULL)
    {
        return NGX_DECLINED;
    }

    if (!hlcf->cors_any) {
        o = hlcf->cors->elts;

        for (i = 0; i < hlcf->cors->nelts; i++) {
            if (o[i].len == origin->value.len
                && ngx_strncmp(o[i].data, origin->value.data,
                               o[i].len) == 0)
            {
                break;
            }
        }

        if (i == hlcf->cors->nelts) {
            return NGX_DECLINED;
        }
    }

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ts_headers_add(r, "Access-Control-Allow-Methods",
                       "GET, HEAD, POST, PUT, PATCH, DELETE")
           != NGX_OK
        || ts_headers_add(r, "Access-Control-Allow-Headers",
                          "Authorization, Content-Type, If-Match, "
                          "If-None-Match, Idempotency-Key")
           != NGX_OK
        || ts_headers_add(r, "Access-Control-Max-Age", TS_HEADERS_CORS_AGE)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.status = NGX_HTTP_NO_CONTENT;
    r->headers_out.content_length_n = 0;
    r->header_only = 1;

    return ngx_http_send_header(r);
}


ngx_table_elt_t *
ts_headers_in(ngx_http_request_t *r, const char *name, size_t len)
{
    return ts_headers_find(&r->headers_in.headers, name, len);
}


ngx_table_elt_t *
ts_headers_out(ngx_http_request_t *r, const char *name, size_t len)
{
    return ts_headers_find(&r->headers_out.headers, name, len);
}


/* a header by name; one whose hash is 0 was removed and does not count */
static ngx_table_elt_t *
ts_headers_find(ngx_list_t *headers, const char *name, size_t len)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &headers->part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].hash
            && h[i].key.len == len
            && ngx_strncasecmp(h[i].key.data, (u_char *) name, len) == 0)
        {
            return &h[i];
        }
    }
}


static ngx_int_t
ts_headers_add(ngx_http_request_t *r, const char *key, const char *value)
{
    ngx_str_t  v;

    v.data = (u_char *) value;
    v.len = ngx_strlen(value);

    return ts_http_header(r, key, &v, NULL);
}


/*
 * tunesheap_cache_control off | [max-age=T] [s-maxage=T]
 *                               [stale-while-revalidate=T]
 */
static char *
ts_headers_cache_control(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ts_headers_loc_conf_t *hlcf = conf;

    time_t      *t;
    ngx_str_t   *value, v;
    ngx_uint_t   i;

    if (hlcf->shared != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "off") == 0) {
        hlcf->shared = 0;
        return NGX_CONF_OK;
    }

    hlcf->shared = 1;
    hlcf->max_age = TS_HEADERS_MAX_AGE;
    hlcf->s_maxage = TS_HEADERS_S_MAXAGE;
    hlcf->stale = TS_HEADERS_STALE;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "max-age=", 8) == 0) {
            t = &hlcf->max_age;
            v.data = value[i].data + 8;
            v.len = value[i].len - 8;

        } else if (ngx_strncmp(value[i].data, "s-maxage=", 9) == 0) {
            t = &hlcf->s_maxage;
            v.data = value[i].data + 9;
            v.len = value[i].len - 9;

        } else if (ngx_strncmp(value[i].data, "stale-while-revalidate=", 23)
                   == 0)
        {
            t = &hlcf->stale;
            v.data = value[i].data + 23;
            v.len = value[i].len - 23;

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\"", &value[i]);
            return NGX_CONF_ERROR;
        }

        *t = ngx_parse_time(&v, 1);

        if (*t == (time_t) NGX_ERROR) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid time in \"%V\"", &value[i]);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/* tunesheap_cors off | * | ORIGIN ... (scheme://host[:port], exactly) */
static char *
ts_headers_cors_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ts_headers_loc_conf_t *hlcf = conf;

    u_char      *host;
    ngx_str_t   *value, *o;
    ngx_uint_t   i;

    if (hlcf->cors) {
        return "is duplicate";
    }

    value = cf->args->elts;

    hlcf->cors = ngx_array_create(cf->pool, cf->args->nelts,
                                  sizeof(ngx_str_t));
    if (hlcf->cors == NULL) {
        return NGX_CONF_ERROR;
    }

    hlcf->cors_any = 0;

    if (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "off") == 0) {
        return NGX_CONF_OK;
    }

    for (i = 1; i < cf->args->nelts; i++) {

        if (value[i].len == 1 && value[i].data[0] == '*') {
            hlcf->cors_any = 1;

        } else if ((host = (u_char *) ngx_strstr(value[i].data, "://"))
                       == NULL
                   || host[3] == '\0'
                   || ngx_strchr(host + 3, '/') != NULL)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "an origin is scheme://host[:port] with no "
                               "path, not \"%V\"", &value[i]);
            return NGX_CONF_ERROR;
        }

        o = ngx_array_push(hlcf->cors);
        if (o == NULL) {
            return NGX_CONF_ERROR;
        }

        *o = value[i];
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ts_headers_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    ts_headers_next = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ts_headers_filter;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_REWRITE_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ts_headers_preflight;

    return NGX_OK;
}


static void *
ts_headers_create_loc_conf(ngx_conf_t *cf)
{
    ts_headers_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ts_headers_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->cache_control = { 0, NULL };
     *     conf->cors = NULL;
     *     conf->cors_any = 0;
     */

    conf->enable = NGX_CONF_UNSET;
    conf->shared = NGX_CONF_UNSET;
    conf->max_age = NGX_CONF_UNSET;
    conf->s_maxage = NGX_CONF_UNSET;
    conf->stale = NGX_CONF_UNSET;

    return conf;
}


/*
 * The public reads' Cache-Control, made once.  Where songs carry signed
 * stream links (media configured) no cache may keep an answer past its
 * links: an answer's link lives at least tunesheap_media_link_ttl minus
 * the answer's age in our own cache (tunesheap_cache_ttl at most), so
 * s-maxage (and max-age) plus stale-while-revalidate stay within that.
 */
static char *
ts_headers_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ts_headers_loc_conf_t *prev = parent;
    ts_headers_loc_conf_t *conf = child;

    u_char         *p;
    time_t          cap, max_age, s_maxage, stale;
    ts_loc_conf_t  *tlcf;

    ngx_conf_merge_value(conf->enable, prev->enable, NGX_CONF_UNSET);

    if (conf->shared == NGX_CONF_UNSET) {
        conf->shared = prev->shared;
        conf->max_age = prev->max_age;
        conf->s_maxage = prev->s_maxage;
        conf->stale = prev->stale;
    }

    if (conf->shared == NGX_CONF_UNSET) {
        conf->shared = 1;
    }

    ngx_conf_merge_sec_value(conf->max_age, prev->max_age,
                             TS_HEADERS_MAX_AGE);
    ngx_conf_merge_sec_value(conf->s_maxage, prev->s_maxage,
                             TS_HEADERS_S_MAXAGE);
    ngx_conf_merge_sec_value(conf->stale, prev->stale, TS_HEADERS_STALE);

    if (conf->cors == NULL) {
        conf->cors = prev->cors;
        conf->cors_any = prev->cors_any;
    }

    max_age = conf->max_age;
    s_maxage = conf->s_maxage;
    stale = conf->stale;

    tlcf = ngx_http_conf_get_module_loc_conf(cf, ngx_tunesheap_module);

    if (tlcf->media.root.len || tlcf->media.s3) {
        cap = tlcf->media.link_ttl - (time_t) (tlcf->cache_ttl / 1000);

        if (cap < 0) {
            cap = 0;
        }

        s_maxage = ngx_min(s_maxage, cap);
        stale = ngx_min(stale, cap - s_maxage);
        max_age = ngx_min(max_age, cap - stale);
    }

    conf->cache_control.data = ngx_pnalloc(cf->pool,
                                   sizeof("public, max-age=, s-maxage=, "
                                          "stale-while-revalidate=")
                                   + 3 * NGX_TIME_T_LEN);
    if (conf->cache_control.data == NULL) {
        return NGX_CONF_ERROR;
    }

    p = ngx_sprintf(conf->cache_control.data, "public, max-age=%T, "
                    "s-maxage=%T", max_age, s_maxage);

    if (stale) {
        p = ngx_sprintf(p, ", stale-while-revalidate=%T", stale);
    }

    conf->cache_control.len = p - conf->cache_control.data;

    return NGX_CONF_OK;
}
