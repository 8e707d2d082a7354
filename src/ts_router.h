
/*
 * Tunesheap: maps a request's path below the API's location to an
 * operation on a resource.
 */


#ifndef _TS_ROUTER_H_INCLUDED_
#define _TS_ROUTER_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ts_resource.h"


typedef enum {
    ts_route_list = 0,            /* /artists */
    ts_route_item,                /* /artists/4 */
    ts_route_nested,              /* /artists/4/albums */
    ts_route_entry,               /* /playlists/3/songs/17 (an entry) */
    ts_route_search,              /* /search */
    ts_route_health,              /* /health */
    ts_route_stream,              /* /songs/1/stream */
    ts_route_audio,               /* /songs/1/audio */
    ts_route_upload,              /* /songs/1/upload */
    ts_route_upload_done          /* /songs/1/upload/complete */
} ts_route_kind_e;


/* what ts_route() found */
typedef enum {
    ts_route_found = 0,
    ts_route_none,                /* no route: 404 */
    ts_route_bad_id               /* an id is not an id: 400 */
} ts_route_result_e;


typedef struct {
    ts_route_kind_e    kind;
    ts_resource_t     *resource;  /* the listed one, or the item's */
    ts_relation_t     *relation;  /* nested lists */
    ngx_str_t          id;        /* the item's id, decimal */
    ngx_str_t          entry;     /* ts_route_entry: the entry's id */
    ngx_str_t          bad;       /* ts_route_bad_id: whose id it is */
    ngx_uint_t         methods;   /* NGX_HTTP_GET|NGX_HTTP_HEAD|... */
    const char        *allow;     /* the same, for an Allow header */
} ts_route_t;


/*
 * path is what follows the API's location.  With ts_route_bad_id,
 * route->bad names what the id was of.
 */
ts_route_result_e ts_route(ngx_str_t *path, ts_route_t *route);


#endif /* _TS_ROUTER_H_INCLUDED_ */
