
/*
 * Tunesheap: sockets that a client library owns (libpq, hiredis) on
 * nginx's event loop.  Interest is level-triggered: the libraries keep
 * their own buffers and only say "wait until readable (writable)", which
 * a level-triggered event answers without ever losing an edge.
 */


#ifndef _TS_EVENT_H_INCLUDED_
#define _TS_EVENT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>


/* an nginx connection for fd, with read interest; NULL on failure */
ngx_connection_t *ts_event_attach(ngx_socket_t fd, ngx_log_t *log,
    void *data, ngx_event_handler_pt read, ngx_event_handler_pt write);

/* interest in ev (read or write) on or off */
ngx_int_t ts_event_want(ngx_event_t *ev, ngx_uint_t on);

/* forgets nginx's side of the socket: the library closes it itself */
void ts_event_detach(ngx_connection_t *c);

/*
 * A read handler drains its socket, at most this many reads a turn: the
 * libraries read about 16 KB a call, and what is left would wait for the
 * next turn of the event loop; the bound gives clients their turn too.
 */
#define TS_EVENT_READS_MAX  64

/* bytes are waiting in c's socket (another read will not block) */
ngx_uint_t ts_event_unread(ngx_connection_t *c);

/*
 * While on, c's read handler also runs once a turn of the event loop (at
 * its timers), whether or not epoll reports c: for a socket with answers
 * due.  Under load a turn handles at most 512 of the sockets epoll has
 * ready, oldest first, and a socket that stays readable (level-triggered)
 * goes back behind all the clients': the answers of Postgres and Redis
 * waited several turns for each read (see ts_event.c).  Off when nothing
 * is due; ts_event_detach() turns it off.
 */
void ts_event_poll(ngx_connection_t *c, ngx_uint_t on);

/*
 * The wait before the next connect after failures (1, 2, ...) in a row:
 * min, doubling, at most max.  Postgres and Redis back off the same way.
 */
ngx_msec_t ts_event_backoff(ngx_uint_t failures, ngx_msec_t min,
    ngx_msec_t max);


#endif /* _TS_EVENT_H_INCLUDED_ */
