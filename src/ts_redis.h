
/*
 * Tunesheap: one Redis connection per worker, with hiredis' asynchronous
 * API on nginx's event loop.  Commands are pipelined on it; each has a
 * timeout; a lost connection comes back with backoff.  This layer knows
 * nothing of HTTP or of caching.
 */


#ifndef _TS_REDIS_H_INCLUDED_
#define _TS_REDIS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <hiredis/hiredis.h>


typedef struct ts_redis_s      ts_redis_t;
typedef struct ts_redis_cmd_s  ts_redis_cmd_t;

/* reply is NULL when the command failed, timed out or Redis is down */
typedef void (*ts_redis_done_pt)(ts_redis_cmd_t *cmd, redisReply *reply);


typedef struct {
    ngx_str_t            host;          /* an address, resolved already */
    ngx_int_t            port;
    ngx_msec_t           connect_timeout;
    ngx_msec_t           timeout;       /* per command */

    /*
     * run on every new connection as ts_redis_up() starts saying it is
     * up, before any command of a request is sent on it
     */
    void               (*on_connect)(ts_redis_t *rd, void *data);
    void                *data;
} ts_redis_conf_t;


struct ts_redis_cmd_s {
    /* set by the caller; done may be NULL for a command nobody waits on */
    ts_redis_done_pt     done;
    void                *data;
    ngx_log_t           *log;

    /* private */
    ts_redis_t          *redis;
    void                *token;
    ngx_event_t          timer;
};


ts_redis_t *ts_redis_create(ngx_cycle_t *cycle, ts_redis_conf_t *conf);

/* at worker exit: commands still pending are dropped, done() never runs */
void ts_redis_destroy(ts_redis_t *rd);

/*
 * whether requests may use the connection: it is up, and if the last one
 * was dropped for answering nothing, Redis answered a PING on this one
 * (commands can still be sent while it is connected: health's PING)
 */
ngx_uint_t ts_redis_up(ts_redis_t *rd);

/*
 * Sends a command (argv, argvlen as hiredis takes them).  NGX_OK: done()
 * is called later.  NGX_DECLINED: Redis is down, done() is not called.
 */
ngx_int_t ts_redis_command(ts_redis_t *rd, ts_redis_cmd_t *cmd, int argc,
    const char **argv, const size_t *argvlen);

/* the command's owner goes away: its reply will be dropped */
void ts_redis_cancel(ts_redis_cmd_t *cmd);


#endif /* _TS_REDIS_H_INCLUDED_ */
