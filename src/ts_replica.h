
/*
 * Tunesheap: reads on Postgres streaming replicas.
 *
 * tunesheap_postgres_replica names a replica; each worker pools it like
 * the primary (a pool per lane) and polls its replay position.  Reads of
 * the catalog go to a replica only when their answer must include nothing
 * newer than what it replayed: the cache's lookup gives the WAL position
 * of the newest write to the resources the answer is made from (the
 * "fence", kept in Redis beside their versions, raised with each bump);
 * everything else goes to the primary.
 */


#ifndef _TS_REPLICA_H_INCLUDED_
#define _TS_REPLICA_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ts_module.h"


#define TS_REPLICA_POLL  100    /* ms between polls of a replica's replay */


typedef struct {
    ts_pg_pool_conf_t    pg;
    ts_pg_host_t         host;
} ts_replica_conf_t;


/* the statements a pool with replicas prepares besides its own */
extern const char  ts_replica_setup[];


/* at the end of the main configuration: the zone, the replicas' pools */
char *ts_replica_init_main_conf(ngx_conf_t *cf, ts_main_conf_t *tmcf);

/* this worker's pools of the replicas, behind the primary's; the polls */
ngx_int_t ts_replica_init_process(ngx_cycle_t *cycle, ts_main_conf_t *tmcf);
void ts_replica_exit_process(ngx_cycle_t *cycle, ts_main_conf_t *tmcf);

/* where the primary's pools raise the WAL end after writes, or NULL */
ngx_atomic_t *ts_replica_counter(void);

/* the WAL end after this node's newest write (0: no replicas) */
ts_pg_lsn_t ts_replica_written(void);

/* the cache's lookup found r's fence (an integer reply), or nothing */
void ts_replica_fenced(ngx_http_request_t *r, redisReply *lsn);

/* q, a read for r, may go to a replica if r has a fence */
void ts_replica_read(ngx_http_request_t *r, ts_pg_query_t *q);


#endif /* _TS_REPLICA_H_INCLUDED_ */
