
/*
 * Tunesheap: one Redis connection per worker, hiredis' asynchronous API
 * driven by nginx events through an adapter of our own.
 *
 * As for Postgres, events are level-triggered (ts_event.c): hiredis reads
 * at most 16 KB per redisAsyncHandleRead(), and a level-triggered read
 * event simply fires again while more is waiting, where an edge-triggered
 * one would stall.
 *
 * hiredis keeps a command's private data until its reply comes, however
 * late; that data is a small token of ours, so that a request that went
 * away (or gave up on a timeout) leaves nothing dangling behind.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <hiredis/async.h>

#include "ts_event.h"
#include "ts_redis.h"


#define TS_REDIS_BACKOFF_MIN  100
#define TS_REDIS_BACKOFF_MAX  2000


static const char  *ts_redis_ping[] = { "PING" };
static const size_t  ts_redis_ping_len[] = { 4 };


typedef struct {
    ts_redis_cmd_t      *cmd;        /* NULL once nobody waits for it */
} ts_redis_token_t;


struct ts_redis_s {
    ts_redis_conf_t      conf;
    char                *host;       /* NUL-terminated */
    ngx_log_t           *log;
    redisAsyncContext   *ac;
    ngx_connection_t    *c;
    ngx_event_t          reconnect;
    ngx_event_t          connect_timer;
    ngx_event_t          flush;       /* posted: commands go at the turn's
                                         end, not when epoll gets to it */
    ngx_msec_t           last_reply;  /* when Redis last said anything */
    ngx_uint_t           failures;
    ts_redis_cmd_t       hello;       /* the PING a new connection sends */
    unsigned             connected:1;
    unsigned             ready:1;     /* requests may use it */
    unsigned             stuck:1;     /* the last one was dropped for
                                         answering nothing */
    unsigned             exiting:1;
    unsigned             writing:1;   /* in hiredis's write: a write it
                                         could not finish waits for epoll */
};


static void ts_redis_connect(ts_redis_t *rd);
static void ts_redis_retry(ts_redis_t *rd);
static void ts_redis_reconnect_handler(ngx_event_t *ev);
static void ts_redis_connect_timeout(ngx_event_t *ev);
static void ts_redis_on_connect(const redisAsyncContext *ac, int status);
static void ts_redis_on_disconnect(const redisAsyncContext *ac, int status);
static void ts_redis_hello(ts_redis_cmd_t *cmd, redisReply *reply);
static void ts_redis_ready(ts_redis_t *rd);
static void ts_redis_read_handler(ngx_event_t *ev);
static void ts_redis_write_handler(ngx_event_t *ev);
static void ts_redis_flush_handler(ngx_event_t *ev);
static void ts_redis_write(ts_redis_t *rd);
static void ts_redis_add_read(void *data);
static void ts_redis_del_read(void *data);
static void ts_redis_add_write(void *data);
static void ts_redis_del_write(void *data);
static void ts_redis_cleanup(void *data);
static void ts_redis_reply(redisAsyncContext *ac, void *r, void *privdata);
static void ts_redis_cmd_timeout(ngx_event_t *ev);


ts_redis_t *
ts_redis_create(ngx_cycle_t *cycle, ts_redis_conf_t *conf)
{
    ts_redis_t  *rd;

    rd = ngx_pcalloc(cycle->pool, sizeof(ts_redis_t));
    if (rd == NULL) {
        return NULL;
    }

    rd->conf = *conf;
    rd->log = cycle->log;

    rd->host = ngx_pnalloc(cycle->pool, conf->host.len + 1);
    if (rd->host == NULL) {
        return NULL;
    }

    ngx_cpystrn((u_char *) rd->host, conf->host.data, conf->host.len + 1);

    rd->reconnect.handler = ts_redis_reconnect_handler;
    rd->reconnect.data = rd;
    rd->reconnect.log = rd->log;

    /* a worker that is shutting down does not wait for a reconnect */
    rd->reconnect.cancelable = 1;

    rd->connect_timer.handler = ts_redis_connect_timeout;
    rd->connect_timer.data = rd;
    rd->connect_timer.log = rd->log;
    rd->connect_timer.cancelable = 1;

    rd->flush.handler = ts_redis_flush_handler;
    rd->flush.data = rd;
    rd->flush.log = rd->log;

    ts_redis_connect(rd);

    return rd;
}


void
ts_redis_destroy(ts_redis_t *rd)
{
    rd->exiting = 1;

    if (rd->reconnect.timer_set) {
        ngx_del_timer(&rd->reconnect);
    }

    if (rd->connect_timer.timer_set) {
        ngx_del_timer(&rd->connect_timer);
    }

    if (rd->ac) {
        redisAsyncFree(rd->ac);
        rd->ac = NULL;
    }
}


ngx_uint_t
ts_redis_up(ts_redis_t *rd)
{
    return rd->ready;
}


ngx_int_t
ts_redis_command(ts_redis_t *rd, ts_redis_cmd_t *cmd, int argc,
    const char **argv, const size_t *argvlen)
{
    ts_redis_token_t  *token;

    if (!rd->connected) {
        return NGX_DECLINED;
    }

    if (cmd == NULL || cmd->done == NULL) {
        /* nobody waits for this one */
        return redisAsyncCommandArgv(rd->ac, NULL, NULL, argc, argv, argvlen)
               == REDIS_OK ? NGX_OK : NGX_DECLINED;
    }

    token = ngx_alloc(sizeof(ts_redis_token_t), rd->log);
    if (token == NULL) {
        return NGX_DECLINED;
    }

    token->cmd = cmd;

    if (redisAsyncCommandArgv(rd->ac, ts_redis_reply, token, argc, argv,
                              argvlen)
        != REDIS_OK)
    {
        ngx_free(token);
        return NGX_DECLINED;
    }

    /* its reply is due: read it once a turn, see ts_event_poll() */
    ts_event_poll(rd->c, 1);

    ngx_log_debug3(NGX_LOG_DEBUG_EVENT, cmd->log ? cmd->log : rd->log, 0,
                   "tunesheap: redis command %*s, args:%d",
                   argvlen[0], argv[0], argc - 1);

    cmd->redis = rd;
    cmd->token = token;

    ngx_memzero(&cmd->timer, sizeof(ngx_event_t));
    cmd->timer.handler = ts_redis_cmd_timeout;
    cmd->timer.data = cmd;
    cmd->timer.log = cmd->log ? cmd->log : rd->log;
    ngx_add_timer(&cmd->timer, rd->conf.timeout);

    return NGX_OK;
}


void
ts_redis_cancel(ts_redis_cmd_t *cmd)
{
    if (cmd->token && cmd->log) {
        ngx_log_debug0(NGX_LOG_DEBUG_EVENT, cmd->log, 0,
                       "tunesheap: redis command cancelled, its reply "
                       "reaches nobody");
    }

    if (cmd->timer.timer_set) {
        ngx_del_timer(&cmd->timer);
    }

    if (cmd->token) {
        ((ts_redis_token_t *) cmd->token)->cmd = NULL;
        cmd->token = NULL;
    }
}


static void
ts_redis_connect(ts_redis_t *rd)
{
    redisAsyncContext  *ac;
    ngx_connection_t   *c;

    ac = redisAsyncConnect(rd->host, (int) rd->conf.port);

    if (ac == NULL || ac->err) {
        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "tunesheap: cannot connect to redis at %s:%i: %s",
                      rd->host, rd->conf.port,
                      ac ? ac->errstr : "out of memory");
        if (ac) {
            redisAsyncFree(ac);
        }

        ts_redis_retry(rd);
        return;
    }

    c = ts_event_attach(ac->c.fd, rd->log, rd, ts_redis_read_handler,
                        ts_redis_write_handler);
    if (c == NULL) {
        redisAsyncFree(ac);
        ts_redis_retry(rd);
        return;
    }

    ngx_log_debug5(NGX_LOG_DEBUG_EVENT, rd->log, 0,
                   "tunesheap: redis connect to %s:%i, fd:%d, stuck:%ui, "
                   "failures:%ui", rd->host, rd->conf.port, c->fd,
                   (ngx_uint_t) rd->stuck, rd->failures);

    rd->ac = ac;
    rd->c = c;

    ac->data = rd;
    ac->ev.data = rd;
    ac->ev.addRead = ts_redis_add_read;
    ac->ev.delRead = ts_redis_del_read;
    ac->ev.addWrite = ts_redis_add_write;
    ac->ev.delWrite = ts_redis_del_write;
    ac->ev.cleanup = ts_redis_cleanup;

    redisAsyncSetConnectCallback(ac, ts_redis_on_connect);
    redisAsyncSetDisconnectCallback(ac, ts_redis_on_disconnect);

    /* connected once the socket is writable */
    ts_redis_add_write(rd);

    ngx_add_timer(&rd->connect_timer, rd->conf.connect_timeout);
}


/* the next attempt, later and later while Redis stays away */
static void
ts_redis_retry(ts_redis_t *rd)
{
    ngx_msec_t  backoff;

    rd->connected = 0;
    rd->ready = 0;

    if (rd->exiting || rd->reconnect.timer_set) {
        return;
    }

    rd->failures++;
    backoff = ts_event_backoff(rd->failures, TS_REDIS_BACKOFF_MIN,
                               TS_REDIS_BACKOFF_MAX);

    ngx_log_debug2(NGX_LOG_DEBUG_EVENT, rd->log, 0,
                   "tunesheap: redis reconnect in %M ms, failures:%ui",
                   backoff, rd->failures);

    ngx_add_timer(&rd->reconnect, backoff);
}


static void
ts_redis_reconnect_handler(ngx_event_t *ev)
{
    ts_redis_t  *rd;

    rd = ev->data;

    if (rd->ac == NULL && !rd->exiting && !ngx_exiting) {
        ts_redis_connect(rd);
    }
}


static void
ts_redis_connect_timeout(ngx_event_t *ev)
{
    redisAsyncContext  *ac;
    ts_redis_t         *rd;

    rd = ev->data;
    ac = rd->ac;

    ngx_log_error(NGX_LOG_ERR, rd->log, NGX_ETIMEDOUT,
                  "tunesheap: connecting to redis timed out");

    /* not connected yet: no disconnect callback will come */
    rd->ac = NULL;

    if (ac) {
        redisAsyncFree(ac);
    }

    ts_redis_retry(rd);
}


static void
ts_redis_on_connect(const redisAsyncContext *ac, int status)
{
    ts_redis_t  *rd;

    rd = ac->data;

    if (rd->connect_timer.timer_set) {
        ngx_del_timer(&rd->connect_timer);
    }

    if (status != REDIS_OK) {
        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "tunesheap: cannot connect to redis at %s:%i: %s",
                      rd->host, rd->conf.port, ac->errstr);

        /* hiredis frees the context when this returns */
        rd->ac = NULL;
        ts_redis_retry(rd);
        return;
    }

    ngx_log_error(NGX_LOG_INFO, rd->log, 0,
                  "tunesheap: connected to redis at %s:%i",
                  rd->host, rd->conf.port);

    rd->connected = 1;
    rd->ready = 0;
    rd->last_reply = ngx_current_msec;

    if (!rd->stuck) {
        ts_redis_ready(rd);
        return;
    }

    /*
     * The last connection was dropped for answering nothing: a frozen
     * Redis (SIGSTOP) still accepts connections.  This one is up only
     * once it answered a PING; until then requests do not wait on it, and
     * if it does not answer it is dropped when the PING times out, with a
     * longer backoff each time.
     */
    ngx_log_debug0(NGX_LOG_DEBUG_EVENT, rd->log, 0,
                   "tunesheap: redis was stuck: up once it answers a PING");

    rd->hello.done = ts_redis_hello;
    rd->hello.data = rd;
    rd->hello.log = rd->log;

    if (ts_redis_command(rd, &rd->hello, 1, ts_redis_ping, ts_redis_ping_len)
        != NGX_OK)
    {
        /* out of memory: go on without the proof */
        ts_redis_ready(rd);
    }
}


static void
ts_redis_hello(ts_redis_cmd_t *cmd, redisReply *reply)
{
    ts_redis_t  *rd;

    rd = cmd->data;

    if (reply == NULL || !rd->connected) {
        /* a timeout drops the connection: see ts_redis_cmd_timeout() */
        return;
    }

    /* an error (LOADING) answers too: commands fail and are handled */

    ts_redis_ready(rd);
}


static void
ts_redis_ready(ts_redis_t *rd)
{
    ngx_log_debug2(NGX_LOG_DEBUG_EVENT, rd->log, 0,
                   "tunesheap: redis up, stuck:%ui, failures:%ui",
                   (ngx_uint_t) rd->stuck, rd->failures);

    rd->ready = 1;
    rd->stuck = 0;
    rd->failures = 0;

    if (rd->conf.on_connect) {
        rd->conf.on_connect(rd, rd->conf.data);
    }
}


static void
ts_redis_on_disconnect(const redisAsyncContext *ac, int status)
{
    ts_redis_t  *rd;

    rd = ac->data;

    if (status != REDIS_OK && !rd->exiting) {
        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "tunesheap: lost redis at %s:%i: %s",
                      rd->host, rd->conf.port, ac->errstr);
    }

    rd->ac = NULL;
    ts_redis_retry(rd);
}


/*
 * hiredis reads at most 16 KB a call: under load thousands of replies wait
 * in the socket, and one call per turn of the event loop would leave them
 * there past their timeouts.  Read until the socket is drained, bounded so
 * that clients get their turn too.
 */
static void
ts_redis_read_handler(ngx_event_t *ev)
{
    ngx_uint_t          i;
    ngx_connection_t   *c;
    ts_redis_t         *rd;
    redisAsyncContext  *ac;

    c = ev->data;
    rd = c->data;
    ac = rd->ac;

    for (i = 0; i < TS_EVENT_READS_MAX; i++) {
        redisAsyncHandleRead(ac);

        /* it may have freed the context, and c with it */
        if (rd->ac != ac || rd->c != c) {
            return;
        }

        if (!ts_event_unread(c)) {
            break;
        }
    }

    if (ac->replies.head == NULL) {
        ts_event_poll(c, 0);
    }
}


static void
ts_redis_write_handler(ngx_event_t *ev)
{
    ngx_connection_t  *c;
    ts_redis_t        *rd;

    c = ev->data;
    rd = c->data;

    ts_redis_write(rd);
}


static void
ts_redis_add_read(void *data)
{
    ts_redis_t  *rd = data;

    if (rd->c) {
        (void) ts_event_want(rd->c->read, 1);
    }
}


static void
ts_redis_del_read(void *data)
{
    ts_redis_t  *rd = data;

    if (rd->c) {
        (void) ts_event_want(rd->c->read, 0);
    }
}


/*
 * Commands are written at the end of the turn that made them (one write
 * for them all): a writable socket reported by epoll would wait behind
 * every client socket that is ready, several turns under load, and the
 * commands' timeouts with them.  Interest in writing stays for what a
 * full socket leaves, and for the connect.
 */
static void
ts_redis_add_write(void *data)
{
    ts_redis_t  *rd = data;

    if (rd->c) {
        (void) ts_event_want(rd->c->write, 1);

        /*
         * not from within a write: a full socket would post the flush
         * again and again in the same turn, and the worker would spin
         */
        if (rd->connected && !rd->writing) {
            ngx_post_event(&rd->flush, &ngx_posted_events);
        }
    }
}


static void
ts_redis_flush_handler(ngx_event_t *ev)
{
    ts_redis_t  *rd;

    rd = ev->data;

    if (rd->ac && rd->c && rd->connected) {
        ts_redis_write(rd);
    }
}


/* hiredis writes what it can; ts_redis_add_write() sees rd->writing */
static void
ts_redis_write(ts_redis_t *rd)
{
    rd->writing = 1;
    redisAsyncHandleWrite(rd->ac);
    rd->writing = 0;
}


static void
ts_redis_del_write(void *data)
{
    ts_redis_t  *rd = data;

    if (rd->c) {
        (void) ts_event_want(rd->c->write, 0);
    }
}


/* hiredis is about to close its socket: forget nginx's side of it */
static void
ts_redis_cleanup(void *data)
{
    ts_redis_t  *rd = data;

    if (rd->c) {
        ts_event_detach(rd->c);
        rd->c = NULL;
    }

    if (rd->flush.posted) {
        ngx_delete_posted_event(&rd->flush);
    }

    rd->connected = 0;
    rd->ready = 0;
}


static void
ts_redis_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    ts_redis_t        *rd;
    ts_redis_cmd_t    *cmd;
    ts_redis_token_t  *token;

    token = privdata;
    cmd = token->cmd;
    ngx_free(token);

    rd = ac->data;
    rd->last_reply = ngx_current_msec;

    if (cmd == NULL) {
        ngx_log_debug0(NGX_LOG_DEBUG_EVENT, rd->log, 0,
                       "tunesheap: redis reply for nobody, dropped");
        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_EVENT, cmd->timer.log, 0,
                   "tunesheap: redis reply, type:%d",
                   r ? ((redisReply *) r)->type : 0);

    cmd->token = NULL;

    if (cmd->timer.timer_set) {
        ngx_del_timer(&cmd->timer);
    }

    if (rd->exiting) {
        /*
         * the worker exits: whoever waits is going away too, and must not
         * start new work (a Postgres query) on the way out
         */
        return;
    }

    cmd->done(cmd, r);
}


/*
 * A slow answer: the request goes on without it.  A Redis that said
 * nothing at all for as long is stuck: drop it, reconnect later.  One that
 * is only busy (replies keep coming, this one is queued behind them) keeps
 * its connection.
 */
static void
ts_redis_cmd_timeout(ngx_event_t *ev)
{
    ts_redis_t      *rd;
    ts_redis_cmd_t  *cmd;

    cmd = ev->data;
    rd = cmd->redis;

    ngx_log_error(NGX_LOG_WARN, ev->log, NGX_ETIMEDOUT,
                  "tunesheap: redis command timed out");

    ts_redis_cancel(cmd);
    cmd->done(cmd, NULL);

    /*
     * redisAsyncDisconnect() would wait for every pending reply; freeing
     * answers them all with NULL at once (and calls on_disconnect)
     */
    if (rd->ac && rd->connected
        && ngx_current_msec - rd->last_reply >= rd->conf.timeout)
    {
        ngx_log_debug1(NGX_LOG_DEBUG_EVENT, rd->log, 0,
                       "tunesheap: redis silent for %M ms, dropping it",
                       ngx_current_msec - rd->last_reply);
        rd->stuck = 1;
        redisAsyncFree(rd->ac);
    }
}
