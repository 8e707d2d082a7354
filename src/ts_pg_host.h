
/*
 * Tunesheap: the Postgres server's addresses, found without blocking.
 *
 * Given a host name, libpq calls getaddrinfo() inside PQconnectStart: a
 * blocking DNS lookup in a worker at every (re)connect.  So the names of
 * the connection string's host list are resolved here instead, with
 * nginx's own resolver (the "resolver" of the http block), and libpq gets
 * the addresses as hostaddr=, host= kept for TLS and for its messages.
 * Every connect resolves afresh (the resolver caches for the record's TTL),
 * so a failover that moves a name is followed.  Without a resolver, names
 * are resolved once, when the configuration is read, in the master.
 */


#ifndef _TS_PG_HOST_H_INCLUDED_
#define _TS_PG_HOST_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>


typedef struct ts_pg_lookup_s   ts_pg_lookup_t;

/* hostaddr: the value for libpq, NUL-terminated; NULL if it failed */
typedef void (*ts_pg_lookup_done_pt)(void *data, const char *hostaddr);


typedef struct {
    ngx_array_t          names;      /* ngx_str_t per host entry: the name
                                        to resolve, or "" for an address
                                        or a socket that libpq takes as is */
    ngx_uint_t           lookups;    /* entries to resolve in workers */
    ngx_resolver_t      *resolver;
    ngx_msec_t           timeout;
    const char          *hostaddr;   /* resolved once, at start, or NULL */
    const char          *gssencmode; /* "disable", or NULL: the string
                                        chooses */
} ts_pg_host_t;


/* reads the host list of a connection string */
char *ts_pg_host_conf(ngx_conf_t *cf, ngx_str_t *conninfo,
    ngx_resolver_t *resolver, ngx_msec_t timeout, ts_pg_host_t *host);

/* a lookup's state, one per connection */
ts_pg_lookup_t *ts_pg_lookup_create(ngx_pool_t *pool, ts_pg_host_t *host,
    ngx_log_t *log);

/*
 * Finds the addresses: done() is called once, maybe before this returns.
 * NGX_ERROR if nothing could be started (done() is not called then).
 */
ngx_int_t ts_pg_lookup_start(ts_pg_lookup_t *lk, ts_pg_lookup_done_pt done,
    void *data);

/* forgets a lookup in progress: done() will not be called */
void ts_pg_lookup_cancel(ts_pg_lookup_t *lk);


#endif /* _TS_PG_HOST_H_INCLUDED_ */
