
/*
 * Tunesheap: this node's shared-memory cache in step with the fleet (see
 * ts_sync.h).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ts_module.h"
#include "ts_http.h"
#include "ts_resource.h"
#include "ts_redis.h"
#include "ts_shm.h"
#include "ts_sync.h"


struct ts_sync_s {
    ts_main_conf_t      *tmcf;
    ts_redis_cmd_t       cmd;
    ngx_msec_t           window;
    ngx_msec_t           every;      /* between readings */
    ngx_msec_t           sent;       /* the last reading's, on our clock */
    ngx_msec_t           used;       /* the zone's last lookup */
    ngx_event_t          timer;      /* readings while lookups go on */
    int                  argc;
    const char          *argv[1 + TS_RESOURCES_MAX];
    size_t               lens[1 + TS_RESOURCES_MAX];
    unsigned             busy:1;     /* a reading is in flight */
};


/* a write's answer, held until every node's zone has seen its versions */
typedef struct {
    ngx_http_request_t  *request;
    void               (*done)(ngx_http_request_t *r);
    ngx_msec_t           until;
    ngx_event_t          timer;
} ts_sync_wait_t;


static ngx_msec_t ts_sync_clock(void);
static void ts_sync_start(ts_sync_t *sync, ngx_msec_t now);
static void ts_sync_tick(ngx_event_t *ev);
static void ts_sync_read(ts_redis_cmd_t *cmd, redisReply *reply);
static void ts_sync_waited(ngx_event_t *ev);
static void ts_sync_wait_cleanup(void *data);


ngx_int_t
ts_sync_init_process(ngx_cycle_t *cycle, ts_main_conf_t *tmcf)
{
    ngx_uint_t   i;
    ts_sync_t   *sync;

    if (tmcf->redis == NULL || tmcf->shm == NULL) {
        /* one node, or no zone: every write it sees is its own */
        return NGX_OK;
    }

    sync = ngx_pcalloc(cycle->pool, sizeof(ts_sync_t));
    if (sync == NULL) {
        return NGX_ERROR;
    }

    sync->tmcf = tmcf;
    sync->window = tmcf->shm_sync;
    sync->every = ngx_max(tmcf->shm_sync * 2 / 5, 1);
    sync->cmd.done = ts_sync_read;
    sync->cmd.data = sync;
    sync->cmd.log = cycle->log;

    sync->timer.handler = ts_sync_tick;
    sync->timer.data = sync;
    sync->timer.log = cycle->log;
    sync->timer.cancelable = 1;

    sync->argv[0] = "MGET";
    sync->lens[0] = 4;
    sync->argc = 1;

    for (i = 0; i < ts_nresources; i++) {
        sync->argv[sync->argc] = (char *) ts_resources[i].version_key.data;
        sync->lens[sync->argc++] = ts_resources[i].version_key.len;
    }

    tmcf->sync = sync;

    return NGX_OK;
}


ngx_uint_t
ts_sync_fresh(ts_main_conf_t *tmcf)
{
    ngx_msec_t   now;
    ts_sync_t   *sync;

    sync = tmcf->sync;

    if (sync == NULL) {
        return 1;
    }

    now = ts_sync_clock();
    sync->used = now;

    if (!sync->timer.timer_set) {
        /* readings go on while lookups do, and a second longer */
        ts_sync_start(sync, now);
        ngx_add_timer(&sync->timer, sync->every);
    }

    return now - ts_shm_synced(tmcf->shm) <= sync->window;
}


ngx_int_t
ts_sync_wait(ngx_http_request_t *r, void (*done)(ngx_http_request_t *r))
{
    ts_main_conf_t  *tmcf;
    ts_sync_wait_t  *w;

    tmcf = ngx_http_get_module_main_conf(r, ngx_tunesheap_module);

    if (tmcf->sync == NULL) {
        return NGX_DECLINED;
    }

    w = ngx_pcalloc(r->pool, sizeof(ts_sync_wait_t));
    if (w == NULL) {
        return NGX_ERROR;
    }

    w->request = r;
    w->done = done;
    w->until = ts_sync_clock() + tmcf->sync->window + 1;
    w->timer.handler = ts_sync_waited;
    w->timer.data = w;
    w->timer.log = r->connection->log;

    if (ts_http_cleanup(r, ts_sync_wait_cleanup, w) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "tunesheap: write answered in %M ms, once every "
                   "node's cache has seen it", tmcf->sync->window);

    ngx_add_timer(&w->timer, tmcf->sync->window + 1);

    return NGX_OK;
}


/*
 * nginx's own time is that of the last event loop turn, which may be late:
 * both ends of the window are taken from the clock itself
 */
static ngx_msec_t
ts_sync_clock(void)
{
    struct timespec  ts;

    (void) clock_gettime(CLOCK_MONOTONIC, &ts);

    return (ngx_msec_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


static void
ts_sync_tick(ngx_event_t *ev)
{
    ngx_msec_t   now;
    ts_sync_t   *sync;

    sync = ev->data;
    now = ts_sync_clock();

    if (now - sync->used > TS_SYNC_IDLE) {
        /* the next lookup starts them again (and meets Redis) */
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ev->log, 0,
                       "tunesheap sync: idle for %M ms, readings stop",
                       now - sync->used);
        return;
    }

    ts_sync_start(sync, now);
    ngx_add_timer(&sync->timer, sync->every);
}


static void
ts_sync_start(ts_sync_t *sync, ngx_msec_t now)
{
    if (sync->busy) {
        return;
    }

    if (ts_redis_command(sync->tmcf->redis, &sync->cmd, sync->argc,
                         sync->argv, sync->lens)
        != NGX_OK)
    {
        /* Redis is down: the zone does not answer until it is back */
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, sync->timer.log, 0,
                       "tunesheap sync: redis down, versions not read");
        return;
    }

    sync->sent = now;
    sync->busy = 1;
}


static void
ts_sync_read(ts_redis_cmd_t *cmd, redisReply *reply)
{
    ngx_int_t    n;
    ngx_uint_t   i, remote[TS_RESOURCES_MAX];
    ts_sync_t   *sync;
    redisReply  *v;

    sync = cmd->data;
    sync->busy = 0;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, cmd->log, 0,
                   "tunesheap: versions read, sent:%M type:%d n:%d",
                   sync->sent, reply ? reply->type : -1,
                   reply ? (int) reply->elements : -1);

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != (size_t) sync->argc - 1)
    {
        return;
    }

    for (i = 0; i < reply->elements; i++) {
        v = reply->element[i];

        if (v->type == REDIS_REPLY_NIL) {
            remote[i] = 0;
            continue;
        }

        if (v->type != REDIS_REPLY_STRING) {
            return;
        }

        n = ngx_atoi((u_char *) v->str, v->len);
        if (n == NGX_ERROR) {
            return;
        }

        remote[i] = n;
    }

    ts_shm_sync(sync->tmcf->shm, sync->sent, reply->elements, remote);
}


static void
ts_sync_waited(ngx_event_t *ev)
{
    ngx_msec_t       now;
    ts_sync_wait_t  *w;

    w = ev->data;
    now = ts_sync_clock();

    if ((ngx_msec_int_t) (w->until - now) > 0) {
        ngx_add_timer(&w->timer, w->until - now);
        return;
    }

    w->done(w->request);
}


static void
ts_sync_wait_cleanup(void *data)
{
    ts_sync_wait_t  *w = data;

    if (w->timer.timer_set) {
        ngx_del_timer(&w->timer);
    }
}
