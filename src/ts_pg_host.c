
/*
 * Tunesheap: the Postgres server's addresses, found without blocking
 * (see ts_pg_host.h).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <libpq-fe.h>

#include "ts_pg_host.h"


struct ts_pg_lookup_s {
    ts_pg_host_t          *host;
    ngx_log_t             *log;
    ngx_resolver_ctx_t    *ctx;       /* the name being resolved, or NULL */
    ngx_uint_t             next;      /* its entry in host->names */
    u_char                *buf;       /* the hostaddr list, being built */
    u_char                *pos;
    ts_pg_lookup_done_pt   done;
    void                  *data;
};


static ngx_int_t ts_pg_host_split(ngx_conf_t *cf, const char *hosts,
    ts_pg_host_t *host);
static ngx_uint_t ts_pg_host_is_name(ngx_str_t *entry);
static char *ts_pg_host_resolve_now(ngx_conf_t *cf, ts_pg_host_t *host);
static ngx_int_t ts_pg_lookup_next(ts_pg_lookup_t *lk);
static void ts_pg_lookup_handler(ngx_resolver_ctx_t *ctx);


char *
ts_pg_host_conf(ngx_conf_t *cf, ngx_str_t *conninfo,
    ngx_resolver_t *resolver, ngx_msec_t timeout, ts_pg_host_t *host)
{
    char              *err, *text;
    ngx_int_t          rc;
    const char        *hosts, *hostaddr;
    PQconninfoOption  *opts, *o;

    text = ngx_pnalloc(cf->pool, conninfo->len + 1);
    if (text == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_cpystrn((u_char *) text, conninfo->data, conninfo->len + 1);

    err = NULL;
    opts = PQconninfoParse(text, &err);

    if (opts == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid postgres connection string: %s",
                           err ? err : "out of memory");
        if (err) {
            PQfreemem(err);
        }

        return NGX_CONF_ERROR;
    }

    hosts = NULL;
    hostaddr = NULL;

    /* GSSAPI is tried first by default: a wasted round trip, or a hang */
    host->gssencmode = "disable";

    for (o = opts; o->keyword; o++) {
        if (o->val == NULL || o->val[0] == '\0') {
            continue;
        }

        if (ngx_strcmp(o->keyword, "host") == 0) {
            hosts = o->val;

        } else if (ngx_strcmp(o->keyword, "hostaddr") == 0) {
            hostaddr = o->val;

        } else if (ngx_strcmp(o->keyword, "gssencmode") == 0) {
            host->gssencmode = NULL;
        }
    }

    host->resolver = resolver;
    host->timeout = timeout;
    host->hostaddr = NULL;
    host->lookups = 0;

    /* with hostaddr given, libpq looks nothing up */
    rc = (hosts && hostaddr == NULL) ? ts_pg_host_split(cf, hosts, host)
                                     : NGX_OK;

    PQconninfoFree(opts);

    if (rc != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (host->lookups
        && (resolver == NULL || resolver->connections.nelts == 0))
    {
        return ts_pg_host_resolve_now(cf, host);
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ts_pg_host_split(ngx_conf_t *cf, const char *hosts, ts_pg_host_t *host)
{
    u_char     *p, *last, *comma;
    ngx_str_t  *entry;

    if (ngx_array_init(&host->names, cf->pool, 2, sizeof(ngx_str_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    p = (u_char *) hosts;
    last = p + ngx_strlen(hosts);

    for ( ;; ) {
        comma = ngx_strlchr(p, last, ',');
        if (comma == NULL) {
            comma = last;
        }

        entry = ngx_array_push(&host->names);
        if (entry == NULL) {
            return NGX_ERROR;
        }

        entry->len = comma - p;
        entry->data = p;
        entry->data = ngx_pstrdup(cf->pool, entry);
        if (entry->data == NULL && entry->len) {
            return NGX_ERROR;
        }

        if (ts_pg_host_is_name(entry)) {
            host->lookups++;

        } else {
            entry->len = 0;
        }

        if (comma == last) {
            return NGX_OK;
        }

        p = comma + 1;
    }
}


/* not an address, nor a socket's directory: libpq would resolve it */
static ngx_uint_t
ts_pg_host_is_name(ngx_str_t *entry)
{
#if (NGX_HAVE_INET6)
    u_char  addr6[16];
#endif

    if (entry->len == 0 || entry->data[0] == '/' || entry->data[0] == '@') {
        return 0;
    }

    if (ngx_inet_addr(entry->data, entry->len) != INADDR_NONE) {
        return 0;
    }

#if (NGX_HAVE_INET6)
    if (ngx_inet6_addr(entry->data, entry->len, addr6) == NGX_OK) {
        return 0;
    }
#endif

    return 1;
}


/* no resolver to ask in workers: the master resolves, once */
static char *
ts_pg_host_resolve_now(ngx_conf_t *cf, ts_pg_host_t *host)
{
    u_char      *buf, *p;
    ngx_url_t    u;
    ngx_str_t   *names;
    ngx_uint_t   i;

    names = host->names.elts;

    buf = ngx_pnalloc(cf->pool,
                      host->names.nelts * (NGX_SOCKADDR_STRLEN + 1) + 1);
    if (buf == NULL) {
        return NGX_CONF_ERROR;
    }

    p = buf;

    for (i = 0; i < host->names.nelts; i++) {
        if (i) {
            *p++ = ',';
        }

        if (names[i].len == 0) {
            continue;
        }

        ngx_memzero(&u, sizeof(ngx_url_t));
        u.host = names[i];

        if (ngx_inet_resolve_host(cf->pool, &u) != NGX_OK || u.naddrs == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "host \"%V\" of the postgres connection "
                               "string not found", &names[i]);
            return NGX_CONF_ERROR;
        }

        p += ngx_sock_ntop(u.addrs[0].sockaddr, u.addrs[0].socklen, p,
                           NGX_SOCKADDR_STRLEN, 0);
    }

    *p = '\0';

    ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                       "the postgres host names are resolved once, now: "
                       "a \"resolver\" in the http block lets workers "
                       "follow a failover that moves them");

    host->hostaddr = (const char *) buf;
    host->lookups = 0;

    return NGX_CONF_OK;
}


ts_pg_lookup_t *
ts_pg_lookup_create(ngx_pool_t *pool, ts_pg_host_t *host, ngx_log_t *log)
{
    ts_pg_lookup_t  *lk;

    lk = ngx_pcalloc(pool, sizeof(ts_pg_lookup_t));
    if (lk == NULL) {
        return NULL;
    }

    lk->buf = ngx_pnalloc(pool,
                          host->names.nelts * (NGX_SOCKADDR_STRLEN + 1) + 1);
    if (lk->buf == NULL) {
        return NULL;
    }

    lk->host = host;
    lk->log = log;

    return lk;
}


ngx_int_t
ts_pg_lookup_start(ts_pg_lookup_t *lk, ts_pg_lookup_done_pt done,
    void *data)
{
    lk->done = done;
    lk->data = data;
    lk->next = 0;
    lk->pos = lk->buf;

    return ts_pg_lookup_next(lk);
}


void
ts_pg_lookup_cancel(ts_pg_lookup_t *lk)
{
    if (lk->ctx) {
        ngx_resolve_name_done(lk->ctx);
        lk->ctx = NULL;
    }
}


/* resolves the next name of the list, or hands the list over when done */
static ngx_int_t
ts_pg_lookup_next(ts_pg_lookup_t *lk)
{
    ngx_str_t           *names;
    ngx_resolver_ctx_t  *ctx;

    names = lk->host->names.elts;

    while (lk->next < lk->host->names.nelts && names[lk->next].len == 0) {
        /* libpq takes this one as it is: an empty hostaddr entry */
        if (lk->next++) {
            *lk->pos++ = ',';
        }
    }

    if (lk->next == lk->host->names.nelts) {
        *lk->pos = '\0';
        lk->done(lk->data, (const char *) lk->buf);
        return NGX_OK;
    }

    ctx = ngx_resolve_start(lk->host->resolver, NULL);

    if (ctx == NULL || ctx == NGX_NO_RESOLVER) {
        ngx_log_error(NGX_LOG_ERR, lk->log, 0,
                      "tunesheap: cannot resolve postgres host \"%V\"",
                      &names[lk->next]);
        return NGX_ERROR;
    }

    ctx->name = names[lk->next];
    ctx->handler = ts_pg_lookup_handler;
    ctx->data = lk;
    ctx->timeout = lk->host->timeout;

    lk->ctx = ctx;

    ngx_log_debug1(NGX_LOG_DEBUG_EVENT, lk->log, 0,
                   "tunesheap: resolving postgres host \"%V\"", &ctx->name);

    if (ngx_resolve_name(ctx) != NGX_OK) {
        /* the resolver has freed ctx */
        lk->ctx = NULL;
        ngx_log_error(NGX_LOG_ERR, lk->log, 0,
                      "tunesheap: cannot resolve postgres host \"%V\"",
                      &names[lk->next]);
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ts_pg_lookup_handler(ngx_resolver_ctx_t *ctx)
{
    ts_pg_lookup_t  *lk;

    lk = ctx->data;

    if (ctx->state) {
        ngx_log_error(NGX_LOG_ERR, lk->log, 0,
                      "tunesheap: cannot resolve postgres host \"%V\": %s",
                      &ctx->name, ngx_resolver_strerror(ctx->state));

        ngx_resolve_name_done(ctx);
        lk->ctx = NULL;
        lk->done(lk->data, NULL);
        return;
    }

    if (lk->next) {
        *lk->pos++ = ',';
    }

    /* the resolver rotates the addresses: connects spread over them */
    lk->pos += ngx_sock_ntop(ctx->addrs[0].sockaddr, ctx->addrs[0].socklen,
                             lk->pos, NGX_SOCKADDR_STRLEN, 0);

    ngx_resolve_name_done(ctx);
    lk->ctx = NULL;
    lk->next++;

    if (ts_pg_lookup_next(lk) != NGX_OK) {
        lk->done(lk->data, NULL);
    }
}
