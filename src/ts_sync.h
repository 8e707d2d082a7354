
/*
 * Tunesheap: this node's shared-memory cache in step with the fleet.
 *
 * The shared-memory level answers without asking Redis, so a write through
 * another node must reach it some other way.  Workers read the versions
 * Redis keeps (one MGET) every 2/5 of a window while they serve lookups
 * (and TS_SYNC_IDLE ms after the last), and the zone drops what changed.
 * The zone answers only while its last reading was sent less than a
 * window ago (tunesheap_cache_shm's sync=, TS_SYNC_WINDOW ms by default);
 * a write answers its client a window after its versions went up in
 * Redis.  So a read that starts after a
 * write was answered, through any node, is checked against a reading made
 * after the write: read-after-write holds across the fleet, for the price
 * of that wait on writes.
 */


#ifndef _TS_SYNC_H_INCLUDED_
#define _TS_SYNC_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ts_module.h"


#define TS_SYNC_WINDOW  50
#define TS_SYNC_IDLE    1000


/* this worker's state; NULL without Redis or a shared-memory level */
ngx_int_t ts_sync_init_process(ngx_cycle_t *cycle, ts_main_conf_t *tmcf);

/* whether the zone may answer now; starts a reading when one is due */
ngx_uint_t ts_sync_fresh(ts_main_conf_t *tmcf);

/*
 * After a write's versions went up in Redis: NGX_OK when done(r) is called
 * once the window has passed, NGX_DECLINED when no wait is needed (done is
 * not called), NGX_ERROR.
 */
ngx_int_t ts_sync_wait(ngx_http_request_t *r,
    void (*done)(ngx_http_request_t *r));


#endif /* _TS_SYNC_H_INCLUDED_ */
