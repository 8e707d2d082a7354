
/*
 * Tunesheap: sockets that a client library owns on nginx's event loop.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ts_event.h"


ngx_connection_t *
ts_event_attach(ngx_socket_t fd, ngx_log_t *log, void *data,
    ngx_event_handler_pt read, ngx_event_handler_pt write)
{
    ngx_connection_t  *c;

    c = ngx_get_connection(fd, log);
    if (c == NULL) {
        return NULL;
    }

    c->data = data;
    c->number = ngx_atomic_fetch_add(ngx_connection_counter, 1);
    c->read->handler = read;
    c->write->handler = write;
    c->read->log = c->log;
    c->write->log = c->log;

    if (ts_event_want(c->read, 1) != NGX_OK) {
        ts_event_detach(c);
        return NULL;
    }

    return c;
}


ngx_int_t
ts_event_want(ngx_event_t *ev, ngx_uint_t on)
{
    ngx_int_t  event;

    event = ev->write ? NGX_WRITE_EVENT : NGX_READ_EVENT;

    if (on && !ev->active) {
        return ngx_add_event(ev, event, NGX_LEVEL_EVENT);
    }

    if (!on && ev->active) {
        return ngx_del_event(ev, event, 0);
    }

    return NGX_OK;
}


void
ts_event_detach(ngx_connection_t *c)
{
    /* the socket is about to be closed: epoll forgets it by itself */
    if (c->read->active) {
        ngx_del_event(c->read, NGX_READ_EVENT, NGX_CLOSE_EVENT);
    }

    if (c->write->active) {
        ngx_del_event(c->write, NGX_WRITE_EVENT, NGX_CLOSE_EVENT);
    }

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    ngx_free_connection(c);
    c->fd = (ngx_socket_t) -1;
}


/*
 * One curve for both clients: a server that is down is retried soon enough
 * to be back within a second or two of its return, without a connect (and
 * its log line) on every request meanwhile.  The shift stops at 2^5, far
 * past any max we use, so it cannot overflow.
 */
ngx_msec_t
ts_event_backoff(ngx_uint_t failures, ngx_msec_t min, ngx_msec_t max)
{
    ngx_uint_t  shift;
    ngx_msec_t  wait;

    /* ngx_min() does not parenthesize its arguments: plain values only */
    shift = (failures > 1) ? failures - 1 : 0;
    shift = ngx_min(shift, 5);
    wait = min << shift;

    return ngx_min(wait, max);
}
