
/*
 * Tunesheap: maps a request's path below the API's location to an
 * operation on a resource.  Paths have at most four segments:
 * resource, id, relation, and an entry of an ordered relation.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ts_http.h"
#include "ts_router.h"


#define TS_ROUTE_SEGMENTS  4

#define TS_ROUTE_READ      (NGX_HTTP_GET|NGX_HTTP_HEAD)


typedef struct {
    ngx_str_t          name;      /* after the item's id */
    ngx_str_t          next;      /* and after that, if not empty */
    ts_route_kind_e    kind;
    ngx_uint_t         methods;
    const char        *allow;
} ts_route_media_t;


static ngx_uint_t ts_route_split(ngx_str_t *path, ngx_str_t *segments);
static ngx_int_t ts_route_media(ts_route_t *route, ngx_str_t *seg,
    ngx_uint_t n);
static ngx_uint_t ts_route_eq(ngx_str_t *seg, ngx_str_t *name);


/* the routes below an item with audio (a column of type TS_COL_STREAM) */
static ts_route_media_t  ts_route_media_routes[] = {
    { ngx_string("stream"), ngx_null_string, ts_route_stream,
      TS_ROUTE_READ, "GET, HEAD" },
    { ngx_string("audio"), ngx_null_string, ts_route_audio,
      NGX_HTTP_PUT|NGX_HTTP_DELETE, "PUT, DELETE" },
    { ngx_string("upload"), ngx_null_string, ts_route_upload,
      NGX_HTTP_POST, "POST" },
    { ngx_string("upload"), ngx_string("complete"), ts_route_upload_done,
      NGX_HTTP_POST, "POST" },
};


static ngx_str_t  ts_route_search_name = ngx_string("search");
static ngx_str_t  ts_route_health_name = ngx_string("health");


ts_route_result_e
ts_route(ngx_str_t *path, ts_route_t *route)
{
    int64_t      id;
    ngx_str_t    seg[TS_ROUTE_SEGMENTS + 1];
    ngx_uint_t   n;

    ngx_memzero(route, sizeof(ts_route_t));

    route->methods = TS_ROUTE_READ;
    route->allow = "GET, HEAD";

    n = ts_route_split(path, seg);

    if (n == 0 || n > TS_ROUTE_SEGMENTS) {
        return ts_route_none;
    }

    if (n == 1) {
        if (ts_route_eq(&seg[0], &ts_route_search_name)) {
            route->kind = ts_route_search;
            return ts_route_found;
        }

        if (ts_route_eq(&seg[0], &ts_route_health_name)) {
            route->kind = ts_route_health;
            return ts_route_found;
        }
    }

    route->resource = ts_resource_find(&seg[0]);
    if (route->resource == NULL) {
        return ts_route_none;
    }

    if (n == 1) {
        route->kind = ts_route_list;
        route->methods = TS_ROUTE_READ|NGX_HTTP_POST;
        route->allow = "GET, HEAD, POST";
        return ts_route_found;
    }

    if (n >= 3) {
        if (ts_route_media(route, seg, n) == NGX_OK) {
            /* route set */

        } else if ((route->relation = ts_relation_find(route->resource,
                                                       &seg[2]))
                   == NULL)
        {
            return ts_route_none;

        } else if (n == 3) {
            route->kind = ts_route_nested;

            if (route->relation->join) {
                /* an ordered list: replaced whole, or one entry added */
                route->methods = TS_ROUTE_READ|NGX_HTTP_PUT|NGX_HTTP_POST;
                route->allow = "GET, HEAD, PUT, POST";
            }

        } else if (route->relation->join) {
            /* one entry of an ordered list: moved or removed */
            route->kind = ts_route_entry;
            route->methods = NGX_HTTP_PATCH|NGX_HTTP_DELETE;
            route->allow = "PATCH, DELETE";
            route->entry = seg[3];

            if (ts_http_parse_int(&seg[3], &id) != NGX_OK) {
                ngx_str_set(&route->bad, "entry");
                return ts_route_bad_id;
            }

        } else {
            return ts_route_none;
        }

    } else {
        route->kind = ts_route_item;
        route->methods = TS_ROUTE_READ|NGX_HTTP_PUT|NGX_HTTP_PATCH
                         |NGX_HTTP_DELETE;
        route->allow = "GET, HEAD, PUT, PATCH, DELETE";
    }

    route->id = seg[1];

    if (ts_http_parse_int(&seg[1], &id) != NGX_OK) {
        route->bad = route->resource->singular;
        return ts_route_bad_id;
    }

    return ts_route_found;
}


static ngx_int_t
ts_route_media(ts_route_t *route, ngx_str_t *seg, ngx_uint_t n)
{
    ngx_uint_t         i;
    ts_resource_t     *rs;
    ts_route_media_t  *m;

    rs = route->resource;

    for (i = 0; i < rs->ncolumns; i++) {
        if (rs->columns[i].type == TS_COL_STREAM) {
            break;
        }
    }

    if (i == rs->ncolumns) {
        return NGX_DECLINED;
    }

    for (i = 0; i < sizeof(ts_route_media_routes) / sizeof(*m); i++) {
        m = &ts_route_media_routes[i];

        if (ts_route_eq(&seg[2], &m->name)
            && (n == 3 ? m->next.len == 0 : ts_route_eq(&seg[3], &m->next)))
        {
            route->kind = m->kind;
            route->methods = m->methods;
            route->allow = m->allow;
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


static ngx_uint_t
ts_route_eq(ngx_str_t *seg, ngx_str_t *name)
{
    return seg->len == name->len
           && ngx_strncmp(seg->data, name->data, name->len) == 0;
}


/* splits on '/', ignoring a trailing one; returns the count, at most +1 */
static ngx_uint_t
ts_route_split(ngx_str_t *path, ngx_str_t *seg)
{
    u_char      *p, *end, *start;
    ngx_uint_t   n;

    p = path->data;
    end = p + path->len;

    if (p < end && *p == '/') {
        p++;
    }

    if (p < end && end[-1] == '/') {
        end--;
    }

    if (p == end) {
        return 0;
    }

    n = 0;

    for ( ;; ) {
        start = p;

        while (p < end && *p != '/') {
            p++;
        }

        if (n == TS_ROUTE_SEGMENTS) {
            return n + 1;
        }

        seg[n].data = start;
        seg[n].len = p - start;
        n++;

        if (p == end) {
            return n;
        }

        p++;
    }
}
