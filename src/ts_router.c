
/*
 * Tunesheap: maps a request's path below the API's location to an
 * operation on a resource.  Paths have at most three segments:
 * resource, id, relation.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ts_http.h"
#include "ts_router.h"


#define TS_ROUTE_SEGMENTS  3

#define TS_ROUTE_READ      (NGX_HTTP_GET|NGX_HTTP_HEAD)


static ngx_uint_t ts_route_split(ngx_str_t *path, ngx_str_t *segments);


static ngx_str_t  ts_route_search_name = ngx_string("search");
static ngx_str_t  ts_route_health_name = ngx_string("health");


ngx_int_t
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
        return NGX_DECLINED;
    }

    if (n == 1) {
        if (seg[0].len == ts_route_search_name.len
            && ngx_strncmp(seg[0].data, "search", seg[0].len) == 0)
        {
            route->kind = ts_route_search;
            return NGX_OK;
        }

        if (seg[0].len == ts_route_health_name.len
            && ngx_strncmp(seg[0].data, "health", seg[0].len) == 0)
        {
            route->kind = ts_route_health;
            return NGX_OK;
        }
    }

    route->resource = ts_resource_find(&seg[0]);
    if (route->resource == NULL) {
        return NGX_DECLINED;
    }

    if (n == 1) {
        route->kind = ts_route_list;
        route->methods = TS_ROUTE_READ|NGX_HTTP_POST;
        route->allow = "GET, HEAD, POST";
        return NGX_OK;
    }

    if (n == 3) {
        route->relation = ts_relation_find(route->resource, &seg[2]);
        if (route->relation == NULL) {
            return NGX_DECLINED;
        }

        route->kind = ts_route_nested;

    } else {
        route->kind = ts_route_item;
        route->methods = TS_ROUTE_READ|NGX_HTTP_PUT|NGX_HTTP_PATCH
                         |NGX_HTTP_DELETE;
        route->allow = "GET, HEAD, PUT, PATCH, DELETE";
    }

    route->id = seg[1];

    if (ts_http_parse_int(&seg[1], &id) != NGX_OK) {
        return NGX_HTTP_BAD_REQUEST;
    }

    return NGX_OK;
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
