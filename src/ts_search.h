
/*
 * Tunesheap: search across artists, albums and songs.
 */


#ifndef _TS_SEARCH_H_INCLUDED_
#define _TS_SEARCH_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/* the search lane's connections run it once, when they open */
extern const char  ts_search_setup[];

/* GET /search?q=&type=artist,album,song&limit= */
ngx_int_t ts_search_handler(ngx_http_request_t *r);


#endif /* _TS_SEARCH_H_INCLUDED_ */
