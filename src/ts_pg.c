
/*
 * Tunesheap: a per-worker pool of nonblocking Postgres connections.
 *
 * Events on a libpq socket are level-triggered (ts_event.c): "wait until
 * the socket is readable (writable)" is exactly the contract PQconnectPoll
 * and PQflush describe.  Write interest exists only while libpq has
 * something left to send.
 *
 * Connections run in libpq's pipeline mode: once every connection is open
 * and none is idle, a query is sent behind those in flight on the least
 * loaded one instead of waiting, so a backend never sits out a round trip.
 * Each query is followed by its own sync: it is its own transaction, and
 * an error aborts nothing else.
 *
 * Replicas.  A primary's pool may have the pools of streaming replicas:
 * a query marked replica goes to the first of them (round robin) whose
 * replay, as last polled (ts_replica.c), has reached the query's fence,
 * and to the primary when none has, when none answered a poll lately, or
 * when it fails on the replica (unavailable, timed out, cancelled by a
 * recovery conflict): a read is sent again, never lost.  A write (once)
 * on a pool that records the WAL end is followed, behind its sync, by
 * TS_PG_WAL_LSN on the same connection; the write's answer waits for it,
 * and conf.written is raised to it first: whatever the write's caller
 * does next (bump the cache) knows a WAL position that includes it.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ts_event.h"
#include "ts_pg.h"


#define TS_PG_BACKOFF_MIN  100
#define TS_PG_BACKOFF_MAX  1000
#define TS_PG_REPLICA_STALE  1000    /* ms without a poll: not used */


typedef enum {
    ts_pg_connecting = 0,        /* resolving the host, or PQconnectPoll */
    ts_pg_setup,                 /* running the pool's setup SQL */
    ts_pg_ready                  /* in pipeline mode: idle or busy */
} ts_pg_state_e;


struct ts_pg_conn_s {
    ngx_queue_t          queue;      /* in free, idle or active */
    ts_pg_pool_t        *pool;
    PGconn              *pg;
    ngx_connection_t    *c;
    ino_t                socket;     /* c->fd's inode: fd numbers repeat */
    ts_pg_lookup_t      *lookup;     /* of the host's addresses, or NULL */
    ts_pg_query_t      **sent;       /* in flight, a ring; NULL: cancelled */
    ngx_uint_t           first;      /* the oldest's slot in sent */
    ngx_uint_t           nsent;
    ngx_uint_t           generation; /* changes when the connection does */
    PGresult            *result;     /* of the oldest, while it arrives */
    u_char              *lsn;        /* per slot: TS_PG_WAL_LSN follows */
    PGresult            *held;       /* the oldest's, while its LSN comes */
    ngx_msec_t           progress;   /* last result, or first send */
    ngx_event_t          connect_timer;
    ngx_uint_t           setup_left; /* setup statements not answered */
    ts_pg_state_e        state;
    unsigned             reused:1;   /* has answered a query before */
};


struct ts_pg_pool_s {
    ts_pg_pool_conf_t    conf;
    char                *conninfo;   /* NUL-terminated */
    char               **setup;      /* its statements, NUL-terminated */
    ngx_uint_t           nsetup;
    ngx_log_t           *log;

    ts_pg_conn_t        *conns;
    ngx_queue_t          free;
    ngx_queue_t          idle;
    ngx_queue_t          active;     /* connecting, in setup or busy */
    ngx_queue_t          waiting;    /* queries waiting for a connection */

    ngx_uint_t           nconns;     /* connecting, in setup, idle or busy */
    ngx_uint_t           nopening;   /* connecting or in setup */
    ngx_uint_t           nwaiting;

    ngx_uint_t           failures;   /* failed connects in a row */
    unsigned             warming:1;  /* ts_pg_pool_warm() not done yet */
    ngx_msec_t           retry_at;   /* no new connect before, on failures */

    ts_pg_pool_t       **replicas;   /* of a primary */
    ngx_uint_t           nreplicas;
    ngx_uint_t           next;       /* the replica tried first */
    ts_pg_lsn_t          replayed;   /* of a replica, as last polled */
    ngx_msec_t           polled;     /* when; 0: unusable */
    ngx_event_t         *behind;     /* posted when found behind: poll */
};


static ngx_int_t ts_pg_query_send(ts_pg_pool_t *pool, ts_pg_query_t *q);
static ngx_int_t ts_pg_replica_query(ts_pg_pool_t *primary, ts_pg_query_t *q);
static void ts_pg_replica_done(ts_pg_query_t *q);
static void ts_pg_pool_dispatch(ts_pg_pool_t *pool);
static ts_pg_conn_t *ts_pg_pool_pick(ts_pg_pool_t *pool);
static ngx_uint_t ts_pg_pool_may_open(ts_pg_pool_t *pool);
static ngx_int_t ts_pg_conn_open(ts_pg_pool_t *pool);
static void ts_pg_conn_resolved(void *data, const char *hostaddr);
static ngx_int_t ts_pg_conn_start(ts_pg_conn_t *conn, const char *hostaddr);
static ngx_uint_t ts_pg_conn_moved(ts_pg_conn_t *conn);
static ngx_int_t ts_pg_conn_bind(ts_pg_conn_t *conn);
static void ts_pg_conn_unbind(ts_pg_conn_t *conn);
static void ts_pg_conn_poll(ts_pg_conn_t *conn);
static ngx_int_t ts_pg_conn_send(ts_pg_conn_t *conn, ts_pg_query_t *q);
static ngx_int_t ts_pg_conn_flush(ts_pg_conn_t *conn);
static ngx_int_t ts_pg_conn_want_write(ts_pg_conn_t *conn, ngx_uint_t on);
static void ts_pg_conn_collect(ts_pg_conn_t *conn);
static void ts_pg_conn_complete(ts_pg_conn_t *conn);
static void ts_pg_conn_file(ts_pg_conn_t *conn);
static void ts_pg_conn_written(ts_pg_conn_t *conn, PGresult *res);
static void ts_pg_conn_broken(ts_pg_conn_t *conn);
static void ts_pg_conn_connect_failed(ts_pg_conn_t *conn);
static void ts_pg_conn_close(ts_pg_conn_t *conn);
static void ts_pg_conn_read_handler(ngx_event_t *ev);
static void ts_pg_conn_write_handler(ngx_event_t *ev);
static void ts_pg_conn_connect_timeout(ngx_event_t *ev);
static void ts_pg_query_event(ngx_event_t *ev);
static void ts_pg_query_wait(ts_pg_pool_t *pool, ts_pg_query_t *q,
    ngx_uint_t head);
static void ts_pg_query_unwait(ts_pg_query_t *q);
static void ts_pg_query_post(ts_pg_query_t *q, ngx_uint_t rc);
static void ts_pg_query_finish(ts_pg_query_t *q, ngx_uint_t rc,
    PGresult *res);
static ngx_int_t ts_pg_setup_split(ts_pg_pool_t *pool, ngx_pool_t *mem,
    u_char *sql);
static void ts_pg_notice(void *arg, const char *message);
static size_t ts_pg_msglen(const char *msg);


ts_pg_pool_t *
ts_pg_pool_create(ngx_cycle_t *cycle, ts_pg_pool_conf_t *conf)
{
    u_char        *p, *setup;
    size_t         len;
    ngx_uint_t     i;
    ts_pg_pool_t  *pool;

    pool = ngx_pcalloc(cycle->pool, sizeof(ts_pg_pool_t));
    if (pool == NULL) {
        return NULL;
    }

    pool->conf = *conf;
    pool->log = cycle->log;

    pool->conninfo = ngx_pnalloc(cycle->pool, conf->conninfo.len + 1);
    if (pool->conninfo == NULL) {
        return NULL;
    }

    ngx_cpystrn((u_char *) pool->conninfo, conf->conninfo.data,
                conf->conninfo.len + 1);

    /*
     * the server cancels a statement a margin before the caller's deadline,
     * so a slow statement ends without taking its connection (and the
     * queries pipelined behind it) down
     */
    len = sizeof("SET statement_timeout = ;") - 1 + NGX_INT_T_LEN
          + conf->setup.len + 1;

    setup = ngx_pnalloc(cycle->pool, len);
    if (setup == NULL) {
        return NULL;
    }

    p = ngx_sprintf(setup, "SET statement_timeout = %M;%V",
                    conf->query_timeout - conf->query_timeout / 10,
                    &conf->setup);
    *p = '\0';

    if (ts_pg_setup_split(pool, cycle->pool, setup) != NGX_OK) {
        return NULL;
    }

    pool->conns = ngx_pcalloc(cycle->pool, conf->size * sizeof(ts_pg_conn_t));
    if (pool->conns == NULL) {
        return NULL;
    }

    ngx_queue_init(&pool->free);
    ngx_queue_init(&pool->idle);
    ngx_queue_init(&pool->active);
    ngx_queue_init(&pool->waiting);

    for (i = 0; i < conf->size; i++) {
        pool->conns[i].pool = pool;
        pool->conns[i].sent = ngx_pcalloc(cycle->pool,
                                          conf->depth * sizeof(void *));
        if (pool->conns[i].sent == NULL) {
            return NULL;
        }

        if (conf->written) {
            pool->conns[i].lsn = ngx_pcalloc(cycle->pool, conf->depth);
            if (pool->conns[i].lsn == NULL) {
                return NULL;
            }
        }

        if (conf->host && conf->host->lookups) {
            pool->conns[i].lookup = ts_pg_lookup_create(cycle->pool,
                                                        conf->host,
                                                        cycle->log);
            if (pool->conns[i].lookup == NULL) {
                return NULL;
            }
        }

        ngx_queue_insert_tail(&pool->free, &pool->conns[i].queue);
    }

    return pool;
}


void
ts_pg_pool_warm(ts_pg_pool_t *pool)
{
    while (pool->nconns < pool->conf.warm && ts_pg_pool_may_open(pool)) {
        if (ts_pg_conn_open(pool) != NGX_OK) {
            break;
        }
    }

    pool->warming = (pool->nopening > 0);
}


ngx_uint_t
ts_pg_pool_warming(ts_pg_pool_t *pool)
{
    if (pool->nopening == 0) {
        pool->warming = 0;
    }

    return pool->warming;
}


void
ts_pg_pool_destroy(ts_pg_pool_t *pool)
{
    ngx_uint_t  i;

    for (i = 0; i < pool->conf.size; i++) {
        if (pool->conns[i].pg) {
            ts_pg_conn_close(&pool->conns[i]);
        }
    }
}


ngx_int_t
ts_pg_query(ts_pg_pool_t *pool, ts_pg_query_t *q)
{
    q->primary = NULL;

    if (q->replica && !q->once && pool->nreplicas
        && ts_pg_replica_query(pool, q) == NGX_OK)
    {
        return NGX_OK;
    }

    return ts_pg_query_send(pool, q);
}


ts_pg_pool_conf_t *
ts_pg_pool_conf(ts_pg_pool_t *pool)
{
    return &pool->conf;
}


ngx_int_t
ts_pg_pool_add_replica(ts_pg_pool_t *primary, ts_pg_pool_t *replica,
    ngx_pool_t *pool)
{
    ts_pg_pool_t  **r;

    r = ngx_palloc(pool, (primary->nreplicas + 1) * sizeof(ts_pg_pool_t *));
    if (r == NULL) {
        return NGX_ERROR;
    }

    if (primary->nreplicas) {
        ngx_memcpy(r, primary->replicas,
                   primary->nreplicas * sizeof(ts_pg_pool_t *));
    }

    r[primary->nreplicas++] = replica;
    primary->replicas = r;

    return NGX_OK;
}


void
ts_pg_pool_replayed(ts_pg_pool_t *replica, ts_pg_lsn_t lsn)
{
    if (lsn == 0) {
        replica->polled = 0;
        return;
    }

    /* replay only goes forward: an older answer says nothing new */
    if (lsn > replica->replayed) {
        replica->replayed = lsn;
    }

    replica->polled = ngx_current_msec;
}


void
ts_pg_pool_on_behind(ts_pg_pool_t *replica, ngx_event_t *ev)
{
    replica->behind = ev;
}


ts_pg_lsn_t
ts_pg_result_lsn(PGresult *res)
{
    u_char       *p;
    ts_pg_lsn_t   lsn;

    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK
        || PQntuples(res) != 1 || PQnfields(res) != 1
        || PQgetisnull(res, 0, 0))
    {
        return 0;
    }

    lsn = 0;

    /* numeric, whole: digits, maybe ".0..." */
    for (p = (u_char *) PQgetvalue(res, 0, 0); *p >= '0' && *p <= '9'; p++)
    {
        lsn = lsn * 10 + (*p - '0');
    }

    return lsn;
}


/*
 * A replica whose replay reached q's fence and answered a poll lately:
 * q goes there, and comes back to the primary if it fails.  NGX_DECLINED:
 * none would take it.
 */
static ngx_int_t
ts_pg_replica_query(ts_pg_pool_t *primary, ts_pg_query_t *q)
{
    ngx_uint_t     i, n;
    ts_pg_done_pt  done;
    ts_pg_pool_t  *rp;

    done = q->done;

    for (i = 0; i < primary->nreplicas; i++) {
        n = (primary->next + i) % primary->nreplicas;
        rp = primary->replicas[n];

        if (rp->polled == 0
            || ngx_current_msec - rp->polled > TS_PG_REPLICA_STALE)
        {
            continue;
        }

        if (rp->replayed < q->fence) {
            /* a write not replayed as last seen: look again soon */
            if (rp->behind && !rp->behind->posted) {
                ngx_post_event(rp->behind, &ngx_posted_events);
            }

            continue;
        }

        ngx_log_debug3(NGX_LOG_DEBUG_EVENT, q->log, 0,
                       "tunesheap: postgres query \"%s\" to replica %ui, "
                       "replayed:%uL", q->statement, n, rp->replayed);

        q->primary = primary;
        q->caller_done = done;
        q->done = ts_pg_replica_done;

        if (ts_pg_query_send(rp, q) == NGX_OK) {
            primary->next = (n + 1) % primary->nreplicas;
            return NGX_OK;
        }

        /* refused at once (backoff, queue full): the next, or the primary */
        q->primary = NULL;
        q->done = done;
    }

    return NGX_DECLINED;
}


/* a query a replica answered; one it failed goes to the primary */
static void
ts_pg_replica_done(ts_pg_query_t *q)
{
    ts_pg_pool_t  *primary;

    primary = q->primary;
    q->primary = NULL;
    q->done = q->caller_done;

    if (q->rc == TS_PG_OK) {
        q->done(q);
        return;
    }

    ngx_log_error(NGX_LOG_WARN, q->log, 0,
                  "tunesheap: postgres replica failed \"%s\" (%ui), "
                  "the primary answers it", q->statement, q->rc);

    /* the replica's result is freed once this returns */
    if (ts_pg_query_send(primary, q) != NGX_OK) {
        q->result = NULL;
        q->done(q);
    }
}


static ngx_int_t
ts_pg_query_send(ts_pg_pool_t *pool, ts_pg_query_t *q)
{
    ts_pg_conn_t  *conn;

    q->pool = pool;
    q->conn = NULL;
    q->rc = TS_PG_OK;
    q->result = NULL;
    q->waiting = 0;
    q->retried = 0;
    q->start = ngx_current_msec;

    ngx_memzero(&q->timer, sizeof(ngx_event_t));
    q->timer.handler = ts_pg_query_event;
    q->timer.data = q;
    q->timer.log = q->log;

    while (pool->nwaiting == 0) {
        conn = ts_pg_pool_pick(pool);
        if (conn == NULL) {
            break;
        }

        if (ts_pg_conn_send(conn, q) == NGX_OK) {
            ngx_add_timer(&q->timer, pool->conf.query_timeout);
            return NGX_OK;
        }
    }

    if (pool->nwaiting >= pool->conf.queue) {
        /* a memory bound: the deadline bounds the wait long before it */
        ngx_log_error(NGX_LOG_WARN, q->log, 0,
                      "tunesheap: postgres wait queue is full (%ui)",
                      pool->nwaiting);
        q->rc = TS_PG_BUSY;
        return NGX_ERROR;
    }

    if (pool->nconns == 0
        && (ngx_msec_int_t) (pool->retry_at - ngx_current_msec) > 0)
    {
        /* the last connect failed moments ago: fail fast, do not storm */
        ngx_log_debug2(NGX_LOG_DEBUG_EVENT, q->log, 0,
                       "tunesheap: postgres query \"%s\" refused, "
                       "backing off another %M ms", q->statement,
                       pool->retry_at - ngx_current_msec);
        q->rc = TS_PG_UNAVAILABLE;
        return NGX_ERROR;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_EVENT, q->log, 0,
                   "tunesheap: postgres query \"%s\" waits, queue:%ui, "
                   "conns:%ui", q->statement, pool->nwaiting + 1,
                   pool->nconns);

    ngx_add_timer(&q->timer, pool->conf.query_timeout);
    ts_pg_query_wait(pool, q, 0);
    ts_pg_pool_dispatch(pool);

    return NGX_OK;
}


void
ts_pg_query_cancel(ts_pg_query_t *q)
{
    ngx_log_debug3(NGX_LOG_DEBUG_EVENT, q->log, 0,
                   "tunesheap: postgres query \"%s\" cancelled, "
                   "waiting:%ui, sent:%ui", q->statement,
                   (ngx_uint_t) q->waiting, (ngx_uint_t) (q->conn != NULL));

    if (q->timer.timer_set) {
        ngx_del_timer(&q->timer);
    }

    if (q->timer.posted) {
        ngx_delete_posted_event(&q->timer);
    }

    if (q->waiting) {
        ts_pg_query_unwait(q);
    }

    if (q->conn) {
        /* the connection finishes the query and discards its result */
        q->conn->sent[q->slot] = NULL;
        q->conn = NULL;
    }

    q->done = NULL;
}


const char *
ts_pg_sqlstate(ts_pg_query_t *q)
{
    char  *state;

    if (q->result == NULL) {
        return "";
    }

    state = PQresultErrorField(q->result, PG_DIAG_SQLSTATE);

    return state ? state : "";
}


static void
ts_pg_pool_dispatch(ts_pg_pool_t *pool)
{
    ngx_queue_t    *qu;
    ts_pg_conn_t   *conn;
    ts_pg_query_t  *q;

    while (pool->nwaiting) {
        conn = ts_pg_pool_pick(pool);
        if (conn == NULL) {
            break;
        }

        qu = ngx_queue_head(&pool->waiting);
        q = ngx_queue_data(qu, ts_pg_query_t, queue);

        ts_pg_query_unwait(q);

        if (ts_pg_conn_send(conn, q) != NGX_OK) {
            /* that connection is gone; q keeps its place */
            ts_pg_query_wait(pool, q, 1);
        }
    }

    while (pool->nwaiting > pool->nopening && ts_pg_pool_may_open(pool)) {
        if (ts_pg_conn_open(pool) != NGX_OK) {
            break;
        }
    }
}


/*
 * An idle connection; else, once no more can be opened, the busy one with
 * the fewest queries in flight, if it has room; else none: wait.
 */
static ts_pg_conn_t *
ts_pg_pool_pick(ts_pg_pool_t *pool)
{
    ngx_queue_t   *qu;
    ts_pg_conn_t  *conn, *best;

    if (!ngx_queue_empty(&pool->idle)) {
        qu = ngx_queue_head(&pool->idle);
        return ngx_queue_data(qu, ts_pg_conn_t, queue);
    }

    if (ts_pg_pool_may_open(pool)) {
        return NULL;
    }

    best = NULL;

    for (qu = ngx_queue_head(&pool->active);
         qu != ngx_queue_sentinel(&pool->active);
         qu = ngx_queue_next(qu))
    {
        conn = ngx_queue_data(qu, ts_pg_conn_t, queue);

        if (conn->state == ts_pg_ready
            && conn->nsent < pool->conf.depth
            && (best == NULL || conn->nsent < best->nsent))
        {
            best = conn;
        }
    }

    return best;
}


static ngx_uint_t
ts_pg_pool_may_open(ts_pg_pool_t *pool)
{
    return pool->nconns < pool->conf.size
           && (pool->failures == 0
               || (ngx_msec_int_t) (pool->retry_at - ngx_current_msec) <= 0);
}


static ngx_int_t
ts_pg_conn_open(ts_pg_pool_t *pool)
{
    ngx_queue_t   *qu;
    ts_pg_conn_t  *conn;

    qu = ngx_queue_head(&pool->free);
    conn = ngx_queue_data(qu, ts_pg_conn_t, queue);

    ngx_queue_remove(&conn->queue);
    ngx_queue_insert_tail(&pool->active, &conn->queue);

    conn->state = ts_pg_connecting;
    conn->reused = 0;
    conn->first = 0;
    conn->nsent = 0;
    conn->generation++;
    conn->result = NULL;
    conn->c = NULL;
    conn->pg = NULL;

    pool->nconns++;
    pool->nopening++;

    /* the lookup counts against the connect timeout too */
    ngx_memzero(&conn->connect_timer, sizeof(ngx_event_t));
    conn->connect_timer.handler = ts_pg_conn_connect_timeout;
    conn->connect_timer.data = conn;
    conn->connect_timer.log = pool->log;
    ngx_add_timer(&conn->connect_timer, pool->conf.connect_timeout);

    if (conn->lookup == NULL) {
        return ts_pg_conn_start(conn, pool->conf.host
                                      ? pool->conf.host->hostaddr : NULL);
    }

    if (ts_pg_lookup_start(conn->lookup, ts_pg_conn_resolved, conn)
        != NGX_OK)
    {
        ts_pg_conn_connect_failed(conn);
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ts_pg_conn_resolved(void *data, const char *hostaddr)
{
    ts_pg_conn_t  *conn = data;

    if (hostaddr == NULL) {
        ts_pg_conn_connect_failed(conn);
        return;
    }

    (void) ts_pg_conn_start(conn, hostaddr);
}


static ngx_int_t
ts_pg_conn_start(ts_pg_conn_t *conn, const char *hostaddr)
{
    ngx_uint_t     n;
    ts_pg_pool_t  *pool;
    const char    *keys[6], *values[6];

    pool = conn->pool;
    n = 0;

    /* before the string, so that the string may say otherwise */
    if (pool->conf.host && pool->conf.host->gssencmode) {
        keys[n] = "gssencmode";
        values[n++] = pool->conf.host->gssencmode;
    }

    /* the connection string is expanded as a whole: settings after it win */
    keys[n] = "dbname";
    values[n++] = pool->conninfo;
    keys[n] = "client_encoding";
    values[n++] = "UTF8";
    keys[n] = "fallback_application_name";
    values[n++] = "tunesheap";

    if (hostaddr) {
        /* libpq connects there and keeps host= for TLS and messages */
        keys[n] = "hostaddr";
        values[n++] = hostaddr;
    }

    keys[n] = NULL;
    values[n] = NULL;

    ngx_log_debug1(NGX_LOG_DEBUG_EVENT, pool->log, 0,
                   "tunesheap: postgres connect, hostaddr:\"%s\"",
                   hostaddr ? hostaddr : "");

    conn->pg = PQconnectStartParams(keys, values, 1);

    if (conn->pg == NULL) {
        ngx_log_error(NGX_LOG_ALERT, pool->log, 0,
                      "tunesheap: PQconnectStartParams() failed");
        ts_pg_conn_connect_failed(conn);
        return NGX_ERROR;
    }

    if (PQstatus(conn->pg) == CONNECTION_BAD) {
        ngx_log_error(NGX_LOG_ERR, pool->log, 0,
                      "tunesheap: cannot connect to postgres: %*s",
                      ts_pg_msglen(PQerrorMessage(conn->pg)),
                      PQerrorMessage(conn->pg));
        ts_pg_conn_connect_failed(conn);
        return NGX_ERROR;
    }

    PQsetNoticeProcessor(conn->pg, ts_pg_notice, pool);

    if (ts_pg_conn_bind(conn) != NGX_OK) {
        ts_pg_conn_connect_failed(conn);
        return NGX_ERROR;
    }

    /* PQconnectPoll is first called once the socket is writable */
    if (ts_pg_conn_want_write(conn, 1) != NGX_OK) {
        ts_pg_conn_connect_failed(conn);
        return NGX_ERROR;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_EVENT, pool->log, 0,
                   "tunesheap: postgres connect started, fd:%d",
                   conn->c->fd);

    return NGX_OK;
}


static ngx_int_t
ts_pg_conn_bind(ts_pg_conn_t *conn)
{
    ngx_socket_t     fd;
    ngx_file_info_t  fi;

    fd = PQsocket(conn->pg);

    if (fd == (ngx_socket_t) -1) {
        ngx_log_error(NGX_LOG_ERR, conn->pool->log, 0,
                      "tunesheap: postgres connection has no socket");
        return NGX_ERROR;
    }

    conn->socket = ngx_fd_info(fd, &fi) == NGX_FILE_ERROR
                   ? 0 : ngx_file_uniq(&fi);

    conn->c = ts_event_attach(fd, conn->pool->log, conn,
                              ts_pg_conn_read_handler,
                              ts_pg_conn_write_handler);

    return conn->c ? NGX_OK : NGX_ERROR;
}


/*
 * libpq moved on to another address, or retried without SSL: it closed
 * the socket and opened another, which may well have the same number;
 * epoll forgot the old one with its close, so the new one is registered
 */
static ngx_uint_t
ts_pg_conn_moved(ts_pg_conn_t *conn)
{
    ngx_file_info_t  fi;

    if (conn->c->fd != PQsocket(conn->pg)) {
        return 1;
    }

    if (ngx_fd_info(conn->c->fd, &fi) == NGX_FILE_ERROR) {
        return 1;
    }

    return ngx_file_uniq(&fi) != conn->socket;
}


/* forgets the nginx side of a socket that libpq owns and closes itself */
static void
ts_pg_conn_unbind(ts_pg_conn_t *conn)
{
    if (conn->c) {
        ts_event_detach(conn->c);
        conn->c = NULL;
    }
}


static void
ts_pg_conn_poll(ts_pg_conn_t *conn)
{
    ngx_uint_t                 i;
    const char                *enc;
    PostgresPollingStatusType  st;

    st = PQconnectPoll(conn->pg);

    if (st == PGRES_POLLING_FAILED) {
        ngx_log_error(NGX_LOG_ERR, conn->pool->log, 0,
                      "tunesheap: cannot connect to postgres: %*s",
                      ts_pg_msglen(PQerrorMessage(conn->pg)),
                      PQerrorMessage(conn->pg));
        ts_pg_conn_connect_failed(conn);
        return;
    }

    if (ts_pg_conn_moved(conn)) {
        ts_pg_conn_unbind(conn);

        if (ts_pg_conn_bind(conn) != NGX_OK) {
            ts_pg_conn_connect_failed(conn);
            return;
        }
    }

    switch (st) {

    case PGRES_POLLING_READING:
        if (ts_pg_conn_want_write(conn, 0) != NGX_OK) {
            ts_pg_conn_connect_failed(conn);
        }
        return;

    case PGRES_POLLING_WRITING:
        if (ts_pg_conn_want_write(conn, 1) != NGX_OK) {
            ts_pg_conn_connect_failed(conn);
        }
        return;

    default: /* PGRES_POLLING_OK */
        break;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_EVENT, conn->pool->log, 0,
                   "tunesheap: postgres connected, fd:%d", conn->c->fd);

    /* SQL_ASCII passes any bytes as text: answers must be UTF-8 */
    enc = PQparameterStatus(conn->pg, "server_encoding");

    if (enc == NULL || ngx_strcmp(enc, "SQL_ASCII") == 0) {
        ngx_log_error(NGX_LOG_ERR, conn->pool->log, 0,
                      "tunesheap: the postgres database's encoding is %s:"
                      " it must be one Postgres checks (UTF8)",
                      enc ? enc : "unknown");
        ts_pg_conn_connect_failed(conn);
        return;
    }

    /*
     * The setup's statements go one by one, in one pipeline: Postgres
     * keeps a prepared statement's whole query string, copied twice on
     * every run, and a PREPARE in one string of all of them kept all of
     * them (200 KB, every statement, every run)
     */
    if (PQsetnonblocking(conn->pg, 1) != 0
        || !PQenterPipelineMode(conn->pg))
    {
        goto failed;
    }

    for (i = 0; i < conn->pool->nsetup; i++) {
        if (!PQsendQueryParams(conn->pg, conn->pool->setup[i], 0, NULL, NULL,
                               NULL, NULL, 0))
        {
            goto failed;
        }
    }

    if (!PQpipelineSync(conn->pg)) {
        goto failed;
    }

    conn->state = ts_pg_setup;
    conn->setup_left = conn->pool->nsetup;

    if (ts_pg_conn_flush(conn) != NGX_OK) {
        ts_pg_conn_connect_failed(conn);
    }

    return;

failed:

    ngx_log_error(NGX_LOG_ERR, conn->pool->log, 0,
                  "tunesheap: postgres setup failed: %*s",
                  ts_pg_msglen(PQerrorMessage(conn->pg)),
                  PQerrorMessage(conn->pg));
    ts_pg_conn_connect_failed(conn);
}


static ngx_int_t
ts_pg_conn_send(ts_pg_conn_t *conn, ts_pg_query_t *q)
{
    ngx_uint_t  slot;

    if (!PQsendQueryPrepared(conn->pg, q->statement, q->nparams, q->params,
                             NULL, NULL, 0)
        || !PQpipelineSync(conn->pg)
        || (q->once && conn->lsn
            && (!PQsendQueryPrepared(conn->pg, TS_PG_WAL_LSN, 0, NULL,
                                     NULL, NULL, 0)
                || !PQpipelineSync(conn->pg))))
    {
        ngx_log_error(NGX_LOG_ERR, q->log, 0,
                      "tunesheap: sending a postgres query failed: %*s",
                      ts_pg_msglen(PQerrorMessage(conn->pg)),
                      PQerrorMessage(conn->pg));
        ts_pg_conn_close(conn);
        return NGX_ERROR;
    }

    if (ts_pg_conn_flush(conn) != NGX_OK) {
        ts_pg_conn_close(conn);
        return NGX_ERROR;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_EVENT, q->log, 0,
                   "tunesheap: postgres query \"%s\" sent, fd:%d, "
                   "in flight:%ui", q->statement, conn->c->fd, conn->nsent);

    slot = (conn->first + conn->nsent) % conn->pool->conf.depth;

    if (conn->nsent == 0) {
        conn->progress = ngx_current_msec;
    }

    conn->sent[slot] = q;
    conn->nsent++;

    if (conn->lsn) {
        /* committed at its sync: the WAL end after it includes it */
        conn->lsn[slot] = q->once;
    }

    q->slot = slot;
    q->conn = conn;

    ts_pg_conn_file(conn);

    return NGX_OK;
}


static ngx_int_t
ts_pg_conn_flush(ts_pg_conn_t *conn)
{
    switch (PQflush(conn->pg)) {

    case 0:
        return ts_pg_conn_want_write(conn, 0);

    case 1:
        return ts_pg_conn_want_write(conn, 1);

    default:
        ngx_log_error(NGX_LOG_ERR, conn->pool->log, 0,
                      "tunesheap: writing to postgres failed: %*s",
                      ts_pg_msglen(PQerrorMessage(conn->pg)),
                      PQerrorMessage(conn->pg));
        return NGX_ERROR;
    }
}


static ngx_int_t
ts_pg_conn_want_write(ts_pg_conn_t *conn, ngx_uint_t on)
{
    return ts_event_want(conn->c->write, on);
}


/*
 * libpq reads at most what its buffer has room for (16 KB at first) a
 * call, and the results of a batch of pages are more: the socket is
 * drained (TS_EVENT_READS_MAX).
 */
static void
ts_pg_conn_read_handler(ngx_event_t *ev)
{
    ngx_uint_t         i, generation;
    ngx_connection_t  *c;
    ts_pg_conn_t      *conn;
    PGnotify          *notify;

    c = ev->data;
    conn = c->data;

    if (conn->state == ts_pg_connecting) {
        ts_pg_conn_poll(conn);
        return;
    }

    generation = conn->generation;

    for (i = 0; i < TS_EVENT_READS_MAX; i++) {

        if (!PQconsumeInput(conn->pg)) {
            if (conn->state == ts_pg_ready && conn->nsent == 0) {
                /* e.g. the server restarted or closed an idle session */
                ngx_log_error(NGX_LOG_INFO, conn->pool->log, 0,
                              "tunesheap: idle postgres connection "
                              "closed: %*s",
                              ts_pg_msglen(PQerrorMessage(conn->pg)),
                              PQerrorMessage(conn->pg));
                ts_pg_conn_close(conn);
                return;
            }

            ngx_log_error(NGX_LOG_ERR, conn->pool->log, 0,
                          "tunesheap: reading from postgres failed: %*s",
                          ts_pg_msglen(PQerrorMessage(conn->pg)),
                          PQerrorMessage(conn->pg));
            ts_pg_conn_broken(conn);
            return;
        }

        while ((notify = PQnotifies(conn->pg)) != NULL) {
            PQfreemem(notify);
        }

        if (PQstatus(conn->pg) == CONNECTION_BAD && conn->nsent == 0
            && conn->state == ts_pg_ready)
        {
            ts_pg_conn_close(conn);
            return;
        }

        ts_pg_conn_collect(conn);

        /* done() may have closed conn, and the pool opened it again */
        if (conn->generation != generation || conn->c != c
            || conn->pg == NULL)
        {
            return;
        }

        if (!ts_event_unread(c)) {
            return;
        }
    }
}


static void
ts_pg_conn_write_handler(ngx_event_t *ev)
{
    ngx_connection_t  *c;
    ts_pg_conn_t      *conn;

    c = ev->data;
    conn = c->data;

    if (conn->state == ts_pg_connecting) {
        ts_pg_conn_poll(conn);
        return;
    }

    if (ts_pg_conn_flush(conn) != NGX_OK) {
        ts_pg_conn_broken(conn);
    }
}


static void
ts_pg_conn_collect(ts_pg_conn_t *conn)
{
    PGresult        *res;
    ngx_uint_t       generation;
    ExecStatusType   st;

    /* done() may close conn, and the pool may open it again */
    generation = conn->generation;

    while (conn->generation == generation
           && conn->pg
           && !PQisBusy(conn->pg))
    {
        res = PQgetResult(conn->pg);

        if (res == NULL) {
            /* the end of a query's results, or nothing is in flight */
            if (conn->state == ts_pg_ready && conn->result && conn->lsn
                && conn->lsn[conn->first] && conn->held == NULL)
            {
                /* a write's: its WAL end comes next, then its answer */
                conn->held = conn->result;
                conn->result = NULL;
                continue;
            }

            /* the end of a setup statement's: the last ends the setup */
            if (conn->state == ts_pg_setup && --conn->setup_left) {
                continue;
            }

            if (conn->state == ts_pg_setup || conn->result) {
                ts_pg_conn_complete(conn);
                continue;
            }

            return;
        }

        st = PQresultStatus(res);

        if (st == PGRES_PIPELINE_SYNC) {
            PQclear(res);
            continue;
        }

        /* keep the first result, or the first error among several */
        if (conn->result == NULL
            || ((st == PGRES_FATAL_ERROR || st == PGRES_BAD_RESPONSE)
                && PQresultStatus(conn->result) != PGRES_FATAL_ERROR
                && PQresultStatus(conn->result) != PGRES_BAD_RESPONSE))
        {
            if (conn->result) {
                PQclear(conn->result);
            }

            conn->result = res;

        } else {
            PQclear(res);
        }
    }
}


static void
ts_pg_conn_complete(ts_pg_conn_t *conn)
{
    char            *state;
    PGresult        *res;
    ngx_uint_t       rc, level;
    ts_pg_pool_t    *pool;
    ts_pg_query_t   *q;
    ExecStatusType   st;

    pool = conn->pool;
    res = conn->result;
    conn->result = NULL;

    st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;

    if (conn->state == ts_pg_setup) {
        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
            ngx_log_error(NGX_LOG_ERR, pool->log, 0,
                          "tunesheap: postgres setup failed: %*s",
                          ts_pg_msglen(res ? PQresultErrorMessage(res) : ""),
                          res ? PQresultErrorMessage(res) : "");
            if (res) {
                PQclear(res);
            }

            ts_pg_conn_connect_failed(conn);
            return;
        }

        PQclear(res);

        if (conn->connect_timer.timer_set) {
            ngx_del_timer(&conn->connect_timer);
        }

        ngx_log_debug3(NGX_LOG_DEBUG_EVENT, pool->log, 0,
                       "tunesheap: postgres connection ready, fd:%d, "
                       "conns:%ui, waiting:%ui",
                       conn->c->fd, pool->nconns, pool->nwaiting);

        pool->failures = 0;
        pool->nopening--;

        conn->state = ts_pg_ready;
        ts_pg_conn_file(conn);

        ts_pg_pool_dispatch(pool);
        return;
    }

    if (conn->held) {
        /* res is the write's WAL end: its callers learn it first */
        ts_pg_conn_written(conn, res);

        if (res) {
            PQclear(res);
        }

        res = conn->held;
        conn->held = NULL;
        conn->lsn[conn->first] = 0;
        st = PQresultStatus(res);
    }

    /* results arrive in the order the queries were sent */
    conn->progress = ngx_current_msec;
    q = conn->sent[conn->first];
    conn->first = (conn->first + 1) % pool->conf.depth;
    conn->nsent--;

    if (q) {
        q->conn = NULL;
    }

    rc = TS_PG_OK;

    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
        rc = TS_PG_ERROR;

        if (state && ngx_strcmp(state, "57014") == 0) {
            /* canceled by statement_timeout: the connection stays */
            ngx_log_error(NGX_LOG_WARN, q ? q->log : pool->log, 0,
                          "tunesheap: postgres cancelled a statement at "
                          "statement_timeout");
            rc = TS_PG_TIMEOUT;

        } else if (state
                   && (ngx_strncmp(state, "57P0", 4) == 0
                       || ngx_strncmp(state, "08", 2) == 0))
        {
            /*
             * the server is shutting down or restarting: the statement
             * was rolled back, the client may retry (503, not 500)
             */
            ngx_log_error(NGX_LOG_WARN, q ? q->log : pool->log, 0,
                          "tunesheap: postgres is going away: %*s",
                          ts_pg_msglen(PQresultErrorMessage(res)),
                          PQresultErrorMessage(res));
            rc = TS_PG_UNAVAILABLE;

        } else if (state
                   && (ngx_strcmp(state, "26000") == 0
                       || ngx_strcmp(state, "0A000") == 0)
                   && q && !q->retried)
        {
            /*
             * a prepared statement is missing or its plan went stale after
             * a schema change: prepare again on a new connection and retry
             */
            ngx_log_error(NGX_LOG_WARN, q->log, 0,
                          "tunesheap: postgres statements are stale, "
                          "reconnecting: %*s",
                          ts_pg_msglen(PQresultErrorMessage(res)),
                          PQresultErrorMessage(res));
            PQclear(res);
            q->retried = 1;
            ts_pg_conn_close(conn);
            ts_pg_query_wait(pool, q, 1);
            ts_pg_pool_dispatch(pool);
            return;

        } else {
            /* bad data or a constraint (classes 22, 23): the client's */
            level = (state && (ngx_strncmp(state, "22", 2) == 0
                               || ngx_strncmp(state, "23", 2) == 0))
                    ? NGX_LOG_INFO : NGX_LOG_ERR;

            ngx_log_error(level, q ? q->log : pool->log, 0,
                          "tunesheap: postgres query failed: %*s",
                          ts_pg_msglen(res ? PQresultErrorMessage(res) : ""),
                          res ? PQresultErrorMessage(res) : "");
        }
    }

    if (q) {
        ngx_log_debug4(NGX_LOG_DEBUG_EVENT, q->log, 0,
                       "tunesheap: postgres query \"%s\" answered, rc:%ui, "
                       "%M ms, in flight:%ui", q->statement, rc,
                       ngx_current_msec - q->start, conn->nsent);

    } else {
        ngx_log_debug1(NGX_LOG_DEBUG_EVENT, pool->log, 0,
                       "tunesheap: postgres result of a cancelled query "
                       "dropped, in flight:%ui", conn->nsent);
    }

    if (PQstatus(conn->pg) == CONNECTION_BAD) {
        ts_pg_conn_close(conn);

    } else {
        conn->reused = 1;
        ts_pg_conn_file(conn);
    }

    if (q) {
        ts_pg_query_finish(q, rc, res);

    } else if (res) {
        PQclear(res);
    }

    ts_pg_pool_dispatch(pool);
}


/* conf.written goes up to a write's WAL end (the node's, in shared memory) */
static void
ts_pg_conn_written(ts_pg_conn_t *conn, PGresult *res)
{
    ngx_atomic_t       *a;
    ts_pg_lsn_t         lsn;
    ngx_atomic_uint_t   old;

    lsn = ts_pg_result_lsn(res);

    if (lsn == 0) {
        ngx_log_error(NGX_LOG_WARN, conn->pool->log, 0,
                      "tunesheap: postgres gave no WAL position after a "
                      "write: %*s",
                      ts_pg_msglen(res ? PQresultErrorMessage(res) : ""),
                      res ? PQresultErrorMessage(res) : "");
        return;
    }

    a = conn->pool->conf.written;

    for ( ;; ) {
        old = *a;

        if (lsn <= (ts_pg_lsn_t) old
            || ngx_atomic_cmp_set(a, old, (ngx_atomic_uint_t) lsn))
        {
            return;
        }
    }
}


/* the connection failed while it was open */
static void
ts_pg_conn_broken(ts_pg_conn_t *conn)
{
    ts_pg_pool_t  *pool;

    if (conn->state != ts_pg_ready) {
        ts_pg_conn_connect_failed(conn);
        return;
    }

    pool = conn->pool;

    ts_pg_conn_close(conn);
    ts_pg_pool_dispatch(pool);
}


/* files a ready connection by whether it has queries in flight */
static void
ts_pg_conn_file(ts_pg_conn_t *conn)
{
    ngx_queue_remove(&conn->queue);

    if (conn->nsent == 0) {
        ngx_queue_insert_head(&conn->pool->idle, &conn->queue);

    } else {
        ngx_queue_insert_tail(&conn->pool->active, &conn->queue);
    }

    /* results are due: read them once a turn, see ts_event_poll() */
    ts_event_poll(conn->c, conn->nsent > 0);
}


static void
ts_pg_conn_connect_failed(ts_pg_conn_t *conn)
{
    ngx_msec_t      backoff;
    ngx_queue_t    *qu;
    ts_pg_pool_t   *pool;
    ts_pg_query_t  *q;

    pool = conn->pool;

    ts_pg_conn_close(conn);

    pool->failures++;

    backoff = ts_event_backoff(pool->failures, TS_PG_BACKOFF_MIN,
                               TS_PG_BACKOFF_MAX);
    pool->retry_at = ngx_current_msec + backoff;

    ngx_log_debug4(NGX_LOG_DEBUG_EVENT, pool->log, 0,
                   "tunesheap: postgres connect failed, failures:%ui, "
                   "backoff:%M ms, conns:%ui, waiting:%ui",
                   pool->failures, backoff, pool->nconns, pool->nwaiting);

    if (pool->nconns) {
        /* another connection may still serve the waiting queries */
        return;
    }

    /* failed from outside the callers' stack: answer them from events */
    while (!ngx_queue_empty(&pool->waiting)) {
        qu = ngx_queue_head(&pool->waiting);
        q = ngx_queue_data(qu, ts_pg_query_t, queue);
        ts_pg_query_post(q, TS_PG_UNAVAILABLE);
    }
}


static void
ts_pg_conn_close(ts_pg_conn_t *conn)
{
    ngx_uint_t      slot;
    ts_pg_pool_t   *pool;
    ts_pg_query_t  *q;

    pool = conn->pool;

    if (conn->connect_timer.timer_set) {
        ngx_del_timer(&conn->connect_timer);
    }

    if (conn->lookup) {
        ts_pg_lookup_cancel(conn->lookup);
    }

    ts_pg_conn_unbind(conn);

    if (conn->result) {
        PQclear(conn->result);
        conn->result = NULL;
    }

    if (conn->held) {
        /* the write's WAL end is lost with it: it ends as unknown */
        PQclear(conn->held);
        conn->held = NULL;
    }

    if (conn->pg) {
        PQfinish(conn->pg);
        conn->pg = NULL;
    }

    /*
     * queries in flight, newest first so the oldest ends up first: once
     * more if the connection had answered before (it may have died while
     * idle, in a server restart), else they fail from an event
     */
    while (conn->nsent) {
        conn->nsent--;
        slot = (conn->first + conn->nsent) % pool->conf.depth;

        q = conn->sent[slot];
        if (q == NULL) {
            continue;
        }

        q->conn = NULL;

        ngx_log_debug4(NGX_LOG_DEBUG_EVENT, q->log, 0,
                       "tunesheap: postgres connection lost under query "
                       "\"%s\", reused:%ui, retried:%ui, once:%ui",
                       q->statement, (ngx_uint_t) conn->reused,
                       (ngx_uint_t) q->retried, (ngx_uint_t) q->once);

        if (conn->reused && !q->retried && !q->once) {
            q->retried = 1;
            ts_pg_query_wait(pool, q, 1);

        } else if (q->once) {
            /* it may have run: sending it again could run it twice */
            ts_pg_query_post(q, TS_PG_UNKNOWN);

        } else {
            ts_pg_query_post(q, TS_PG_UNAVAILABLE);
        }
    }

    if (conn->state == ts_pg_connecting || conn->state == ts_pg_setup) {
        pool->nopening--;
    }

    pool->nconns--;

    conn->state = ts_pg_connecting;
    ngx_queue_remove(&conn->queue);
    ngx_queue_insert_tail(&pool->free, &conn->queue);
}


static void
ts_pg_conn_connect_timeout(ngx_event_t *ev)
{
    ts_pg_conn_t  *conn;

    conn = ev->data;

    ngx_log_error(NGX_LOG_ERR, conn->pool->log, NGX_ETIMEDOUT,
                  "tunesheap: connecting to postgres timed out");

    ts_pg_conn_connect_failed(conn);
}


/* the query timed out, or it failed and was posted to be answered */
static void
ts_pg_query_event(ngx_event_t *ev)
{
    ts_pg_conn_t   *conn;
    ts_pg_pool_t   *pool;
    ts_pg_query_t  *q;

    q = ev->data;
    pool = q->pool;

    if (!ev->timedout) {
        ts_pg_query_finish(q, q->rc, NULL);
        return;
    }

    ev->timedout = 0;

    if (q->waiting) {
        /* it never reached Postgres: the node is saturated, not broken */
        ngx_log_error(NGX_LOG_WARN, q->log, 0,
                      "tunesheap: postgres query \"%s\" refused: no "
                      "connection within its deadline, waited %M ms",
                      q->statement, ngx_current_msec - q->start);
        ts_pg_query_unwait(q);
        ts_pg_query_finish(q, TS_PG_BUSY, NULL);
        return;
    }

    ngx_log_error(NGX_LOG_ERR, q->log, NGX_ETIMEDOUT,
                  "tunesheap: postgres query \"%s\" timed out", q->statement);

    conn = q->conn;

    if (conn) {
        /* its result, when statement_timeout ends it, reaches nobody */
        conn->sent[q->slot] = NULL;
        q->conn = NULL;

        if (ngx_current_msec - conn->progress >= 2 * pool->conf.query_timeout)
        {
            /*
             * nothing came back for twice the deadline: the server or the
             * network is gone; the queries behind did nothing wrong
             */
            ngx_log_debug1(NGX_LOG_DEBUG_EVENT, q->log, 0,
                           "tunesheap: postgres connection silent for %M ms, "
                           "closing it", ngx_current_msec - conn->progress);
            conn->reused = 1;
            ts_pg_conn_close(conn);
        }
    }

    ts_pg_query_finish(q, TS_PG_TIMEOUT, NULL);

    ts_pg_pool_dispatch(pool);
}


static void
ts_pg_query_wait(ts_pg_pool_t *pool, ts_pg_query_t *q, ngx_uint_t head)
{
    if (head) {
        ngx_queue_insert_head(&pool->waiting, &q->queue);

    } else {
        ngx_queue_insert_tail(&pool->waiting, &q->queue);
    }

    q->waiting = 1;
    pool->nwaiting++;
}


static void
ts_pg_query_unwait(ts_pg_query_t *q)
{
    ngx_queue_remove(&q->queue);
    q->waiting = 0;
    q->pool->nwaiting--;
}


static void
ts_pg_query_post(ts_pg_query_t *q, ngx_uint_t rc)
{
    if (q->waiting) {
        ts_pg_query_unwait(q);
    }

    if (q->timer.timer_set) {
        ngx_del_timer(&q->timer);
    }

    q->rc = rc;
    ngx_post_event(&q->timer, &ngx_posted_events);
}


static void
ts_pg_query_finish(ts_pg_query_t *q, ngx_uint_t rc, PGresult *res)
{
    ts_pg_done_pt  done;

    if (q->timer.timer_set) {
        ngx_del_timer(&q->timer);
    }

    if (q->timer.posted) {
        ngx_delete_posted_event(&q->timer);
    }

    q->rc = rc;
    q->result = res;
    q->conn = NULL;

    done = q->done;

    if (done) {
        done(q);
    }

    /* q may be gone now: only res is ours */
    if (res) {
        PQclear(res);
    }
}


/*
 * The setup's statements, split at the semicolons outside quotes in place.
 * The setup is ours (ts_resource.c and the setups of the other files):
 * a comment or a dollar quote, which the split would not read, is refused.
 */
static ngx_int_t
ts_pg_setup_split(ts_pg_pool_t *pool, ngx_pool_t *mem, u_char *sql)
{
    u_char      *p, *start, quote;
    ngx_uint_t   n;

    n = 0;

    for (p = sql; *p; p++) {
        if (*p == ';') {
            n++;
        }
    }

    pool->setup = ngx_palloc(mem, (n + 1) * sizeof(char *));
    if (pool->setup == NULL) {
        return NGX_ERROR;
    }

    quote = 0;
    start = sql;

    for (p = sql; /* void */; p++) {

        if (quote) {
            if (*p == quote) {
                quote = 0;

            } else if (*p == '\0') {
                ngx_log_error(NGX_LOG_EMERG, pool->log, 0,
                              "tunesheap: the setup has an open quote");
                return NGX_ERROR;
            }

            continue;
        }

        if (*p == '\'' || *p == '"') {
            quote = *p;
            continue;
        }

        if ((p[0] == '-' && p[1] == '-') || (p[0] == '/' && p[1] == '*')
            || (p[0] == '$' && p[1] == '$'))
        {
            ngx_log_error(NGX_LOG_EMERG, pool->log, 0,
                          "tunesheap: the setup has a comment or a dollar"
                          " quote, which its split does not read: \"%*s\"",
                          ngx_min(ngx_strlen(p), 40), p);
            return NGX_ERROR;
        }

        if (*p != ';' && *p != '\0') {
            continue;
        }

        if (p > start) {
            pool->setup[pool->nsetup++] = (char *) start;
        }

        if (*p == '\0') {
            break;
        }

        *p = '\0';
        start = p + 1;
    }

    return NGX_OK;
}


static void
ts_pg_notice(void *arg, const char *message)
{
    ts_pg_pool_t  *pool = arg;

    ngx_log_error(NGX_LOG_INFO, pool->log, 0, "tunesheap: postgres: %*s",
                  ts_pg_msglen(message), message);
}


/* libpq's messages end with a newline that nginx's log adds itself */
static size_t
ts_pg_msglen(const char *msg)
{
    size_t  len;

    len = ngx_strlen(msg);

    while (len && (msg[len - 1] == '\n' || msg[len - 1] == ' ')) {
        len--;
    }

    return len;
}
