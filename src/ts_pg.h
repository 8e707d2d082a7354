
/*
 * Tunesheap: a per-worker pool of nonblocking Postgres connections.
 *
 * Connections are opened with PQconnectStart/PQconnectPoll and driven by
 * nginx events on PQsocket(); every connection prepares the pool's
 * statements once, right after it connects.  Queries run as prepared
 * statements (PQsendQueryPrepared) in pipeline mode: several may be in
 * flight on one connection.  Callers wait in a bounded queue when every
 * connection is full.  This layer knows nothing of HTTP.
 *
 * A primary's pool may have replicas' pools (streaming replicas, the same
 * lane): a query marked replica goes to one whose replay has reached the
 * query's fence, and to the primary when none has, or when it fails there.
 */


#ifndef _TS_PG_H_INCLUDED_
#define _TS_PG_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <libpq-fe.h>

#include "ts_pg_host.h"


/* how a query ended, in ts_pg_query_t.rc */
#define TS_PG_OK           0
#define TS_PG_ERROR        1    /* the server rejected the query */
#define TS_PG_UNAVAILABLE  2    /* no connection to the server */
#define TS_PG_TIMEOUT      3    /* no answer within the query timeout */
#define TS_PG_BUSY         4    /* no connection before the deadline */
#define TS_PG_UNKNOWN      5    /* may have run: the connection died */

/* lanes: separate connections, so no query waits behind another kind */
#define TS_PG_LANE_FAST    0    /* items, lists, writes */
#define TS_PG_LANE_SLOW    1    /* search: bounded, but dearer */
#define TS_PG_LANE_HEALTH  2    /* the load balancer's check */
#define TS_PG_LANES        3


typedef struct ts_pg_pool_s   ts_pg_pool_t;
typedef struct ts_pg_conn_s   ts_pg_conn_t;
typedef struct ts_pg_query_s  ts_pg_query_t;

typedef void (*ts_pg_done_pt)(ts_pg_query_t *q);

/* a WAL position: pg_lsn - '0/0', in bytes */
typedef uint64_t  ts_pg_lsn_t;

/* statements the pool's setup prepares when it has replicas (ts_replica) */
#define TS_PG_WAL_LSN      "ts_wal_lsn"       /* the primary's WAL end */
#define TS_PG_REPLAYED     "ts_replayed"      /* a replica's replay */


typedef struct {
    ngx_str_t            conninfo;       /* libpq connection string */
    ngx_str_t            setup;          /* SQL run once per connection */
    ts_pg_host_t        *host;           /* the server's addresses */
    ngx_uint_t           size;           /* connections per worker */
    ngx_uint_t           depth;          /* queries in flight on each */
    ngx_uint_t           warm;           /* opened when the worker starts */
    ngx_uint_t           queue;          /* callers waiting, at most: a
                                            memory bound; the deadline
                                            bounds the wait */
    ngx_msec_t           connect_timeout;
    ngx_msec_t           query_timeout;
    ngx_atomic_t        *written;        /* NULL, or raised to the WAL end
                                            after each write (once) */
} ts_pg_pool_conf_t;


struct ts_pg_query_s {
    /* set by the caller */
    const char          *statement;      /* name of a prepared statement */
    int                  nparams;
    const char         **params;         /* text, NUL-terminated */
    ts_pg_done_pt        done;
    void                *data;
    ngx_log_t           *log;
    ngx_uint_t           lane;           /* TS_PG_LANE_* */
    unsigned             once:1;         /* writes: never sent twice */
    unsigned             replica:1;      /* a replica may answer it ... */
    ts_pg_lsn_t          fence;          /* ... once it replayed this */

    /* set before done() is called; result is freed when done() returns */
    ngx_uint_t           rc;
    PGresult            *result;

    /* private */
    ts_pg_pool_t        *pool;
    ts_pg_conn_t        *conn;
    ngx_queue_t          queue;
    ngx_event_t          timer;
    ngx_uint_t           slot;           /* in its connection's ring */
    ngx_msec_t           start;          /* when it was asked for */
    ts_pg_pool_t        *primary;        /* on a replica: the fallback */
    ts_pg_done_pt        caller_done;    /* on a replica: the caller's */
    unsigned             waiting:1;
    unsigned             retried:1;
};


ts_pg_pool_t *ts_pg_pool_create(ngx_cycle_t *cycle, ts_pg_pool_conf_t *conf);

/*
 * Opens conf.warm connections now (the rest open on demand): a worker's
 * first requests then find them connected and set up, instead of paying
 * for it in their latency.  Failures back off as on demand.
 */
void ts_pg_pool_warm(ts_pg_pool_t *pool);

/* connections ts_pg_pool_warm() opened are still connecting or set up */
ngx_uint_t ts_pg_pool_warming(ts_pg_pool_t *pool);
void ts_pg_pool_destroy(ts_pg_pool_t *pool);

/*
 * Runs q.  Returns NGX_OK when q->done() will be called later, or NGX_ERROR
 * with q->rc set (TS_PG_BUSY, TS_PG_UNAVAILABLE) when it failed at once;
 * done() is then not called.
 */
ngx_int_t ts_pg_query(ts_pg_pool_t *pool, ts_pg_query_t *q);

/* forgets q: done() will not be called (its owner is going away) */
void ts_pg_query_cancel(ts_pg_query_t *q);

/* the SQLSTATE of a failed query's result, or "" */
const char *ts_pg_sqlstate(ts_pg_query_t *q);

/* the pool's configuration */
ts_pg_pool_conf_t *ts_pg_pool_conf(ts_pg_pool_t *pool);

/* replica serves primary's queries marked replica (the same lane) */
ngx_int_t ts_pg_pool_add_replica(ts_pg_pool_t *primary,
    ts_pg_pool_t *replica, ngx_pool_t *pool);

/* the replica of this pool replayed lsn (polled just now); 0: unusable */
void ts_pg_pool_replayed(ts_pg_pool_t *replica, ts_pg_lsn_t lsn);

/* ev is posted when a query finds this replica behind its fence */
void ts_pg_pool_on_behind(ts_pg_pool_t *replica, ngx_event_t *ev);

/* the number a TS_PG_WAL_LSN or TS_PG_REPLAYED row holds; 0: NULL, bad */
ts_pg_lsn_t ts_pg_result_lsn(PGresult *res);


#endif /* _TS_PG_H_INCLUDED_ */
