
/*
 * Tunesheap: Idempotency-Key on writes, the way payment APIs have it.
 *
 * A write that carries "Idempotency-Key: <key>" is recorded, with the row
 * its statement returned, by that very statement (the keyed statements of
 * ts_resource.c, table ts_idempotency in db/schema.sql): the write and its
 * key either both exist or neither does.  A retry with the same key, from
 * the same API key, for the same method, path and body, within the TTL,
 * gets the first answer rendered again from that row instead of writing
 * again; another request with the key is a 422; a retry while the first
 * is still in flight is a 409.
 *
 * The flow: ts_idempotency_init() reads the header, ts_idempotency_find()
 * looks the key up and calls back with what it found; on TS_IDEM_NONE the
 * caller runs its write statement with the four parameters
 * ts_idempotency_params() gives (NULLs without a key), and asks
 * ts_idempotency_conflict() about its result before reading it.
 */


#ifndef _TS_IDEMPOTENCY_H_INCLUDED_
#define _TS_IDEMPOTENCY_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ts_pg.h"


#define TS_IDEMPOTENCY_TTL      86400   /* seconds an answer is kept */
#define TS_IDEMPOTENCY_KEY_MAX  255     /* bytes of a key, printable ASCII */
#define TS_IDEMPOTENCY_PARAMS   4       /* a write statement's last ones */

/* what ts_idempotency_find() found, in ts_idempotency_t.found */
#define TS_IDEM_NONE      0     /* no answer kept: write, with the key */
#define TS_IDEM_REPLAY    1     /* result: the first write's row */
#define TS_IDEM_MISMATCH  2     /* the key was used for another request:
                                   answered 422, done() is not called */
#define TS_IDEM_FAILED    3     /* the lookup failed: query.rc says how */


typedef struct ts_idempotency_s  ts_idempotency_t;

typedef void (*ts_idempotency_done_pt)(ts_idempotency_t *idem);


struct ts_idempotency_s {
    ngx_http_request_t      *request;
    ts_idempotency_done_pt   done;
    void                    *data;

    /* set before done() is called; result is freed when done() returns */
    ngx_uint_t               found;      /* TS_IDEM_* */
    PGresult                *result;     /* TS_IDEM_REPLAY: the row, as
                                            the write statement gave it */

    /* private */
    ts_pg_query_t            query;
    const char              *params[TS_IDEMPOTENCY_PARAMS];
                                         /* scope, key, TTL, hash */
};


/* the statement that looks a key up, prepared on every connection */
extern const char  ts_idempotency_setup[];


/*
 * Reads the request's Idempotency-Key: NGX_OK with *idem set (NULL when
 * there is none), NGX_DECLINED when it is not 1 to TS_IDEMPOTENCY_KEY_MAX
 * printable ASCII characters, given once (the caller answers 400 with
 * ts_idempotency_invalid), NGX_ERROR.
 */
ngx_int_t ts_idempotency_init(ngx_http_request_t *r, ts_idempotency_t **idem);

extern const char  ts_idempotency_invalid[];

/*
 * Looks the key up for this request (its method, path and body).  NGX_OK
 * when idem->done() will be called, else an error was answered and what
 * a content handler returns is given back.
 */
ngx_int_t ts_idempotency_find(ts_idempotency_t *idem, ngx_str_t *body);

/* the TS_IDEMPOTENCY_PARAMS parameters a write statement ends with */
const char **ts_idempotency_params(ts_idempotency_t *idem);

/*
 * After a write statement with a key: NGX_DECLINED when q's result is the write's
 * own, else the 409 answered (another write with the key was in flight,
 * or recorded it meanwhile): what a content handler returns.
 */
ngx_int_t ts_idempotency_conflict(ts_idempotency_t *idem, ts_pg_query_t *q);


#endif /* _TS_IDEMPOTENCY_H_INCLUDED_ */
