
/*
 * Tunesheap: sockets that a client library owns on nginx's event loop.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <sys/ioctl.h>

#include "ts_event.h"


/* ms: under load a turn is longer, so this is once a turn */
#define TS_EVENT_POLL_INTERVAL  1


static void ts_event_poll_handler(ngx_event_t *ev);


/*
 * This worker's polled connections, linked by c->queue: nginx uses that
 * link only for reusable connections (keepalive clients), which these
 * never are.  Unlinked, it is NULL (ngx_get_connection() zeroes it).
 */
static ngx_queue_t  ts_event_polled;
static ngx_event_t  ts_event_poll_timer;


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

    ts_event_poll(c, 0);

    ngx_free_connection(c);
    c->fd = (ngx_socket_t) -1;
}


ngx_uint_t
ts_event_unread(ngx_connection_t *c)
{
    int  n;

    return ioctl(c->fd, FIONREAD, &n) != -1 && n > 0;
}


/*
 * The mix at 10,000 connections (bench/run.sh) showed why: a turn took
 * about 46 ms (512 client sockets), and a miss (a Redis command and its
 * reply, then a Postgres result, 16 KB a read) waited several turns at
 * each step, 1.1 s at the median, while Postgres sat idle in ClientRead.
 * Polled (and Redis's commands flushed at the turn's end), a miss took
 * 0.1 s and the mix's p99 fell from 1.78 s to 0.82 s.
 */
void
ts_event_poll(ngx_connection_t *c, ngx_uint_t on)
{
    ngx_event_t  *ev;

    if (on == (c->queue.next != NULL)) {
        return;
    }

    if (!on) {
        ngx_queue_remove(&c->queue);
        c->queue.prev = NULL;
        c->queue.next = NULL;
        return;
    }

    ev = &ts_event_poll_timer;

    if (ts_event_polled.next == NULL) {
        ngx_queue_init(&ts_event_polled);
        ev->handler = ts_event_poll_handler;
        ev->log = ngx_cycle->log;
        ev->data = &ts_event_polled;
        /* it never keeps a worker from exiting */
        ev->cancelable = 1;
    }

    ngx_queue_insert_tail(&ts_event_polled, &c->queue);

    if (!ev->timer_set) {
        ngx_add_timer(ev, TS_EVENT_POLL_INTERVAL);
    }
}


static void
ts_event_poll_handler(ngx_event_t *ev)
{
    ngx_queue_t        turn, *q;
    ngx_connection_t  *c;

    if (ngx_queue_empty(&ts_event_polled)) {
        return;
    }

    /*
     * a handler may stop polling any connection (its own, or one it
     * closes) and start others: this turn's are moved back one by one
     */
    ngx_queue_init(&turn);
    ngx_queue_add(&turn, &ts_event_polled);
    ngx_queue_init(&ts_event_polled);

    while (!ngx_queue_empty(&turn)) {
        q = ngx_queue_head(&turn);
        ngx_queue_remove(q);
        ngx_queue_insert_tail(&ts_event_polled, q);

        c = ngx_queue_data(q, ngx_connection_t, queue);
        c->read->handler(c->read);
    }

    if (!ngx_queue_empty(&ts_event_polled) && !ev->timer_set) {
        ngx_add_timer(ev, TS_EVENT_POLL_INTERVAL);
    }
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
