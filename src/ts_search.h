
/*
 * Tunesheap: search across artists, albums and songs.
 */


#ifndef _TS_SEARCH_H_INCLUDED_
#define _TS_SEARCH_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/* GET /search?q=&type=artist,album,song&limit= */
ngx_int_t ts_search_handler(ngx_http_request_t *r);


#endif /* _TS_SEARCH_H_INCLUDED_ */
