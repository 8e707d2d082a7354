
/*
 * Tunesheap: JSON with yajl, allocated from an nginx pool.
 */


#ifndef _TS_JSON_H_INCLUDED_
#define _TS_JSON_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>


#define TS_JSON_DEPTH_MAX  32


/* a generator whose memory, output included, lives as long as pool */
yajl_gen ts_json_gen(ngx_pool_t *pool);

/*
 * The same, for answers made of Postgres's text: that is UTF-8 already
 * (client_encoding UTF8, converted and checked by the server, which
 * ts_pg.c requires to have an encoding: not SQL_ASCII), so yajl does not
 * check it again, which cost a list page a fifth of its nginx time.  Any
 * other string such an answer holds must be ASCII or checked input.
 */
yajl_gen ts_json_gen_db(ngx_pool_t *pool);

/* the generated text; valid until pool is destroyed */
void ts_json_output(yajl_gen g, ngx_str_t *out);

/* shorthands for literal keys and strings */
#define ts_json_literal(g, s)                                                \
    yajl_gen_string(g, (const unsigned char *) s, sizeof(s) - 1)

#define ts_json_str(g, s)                                                    \
    yajl_gen_string(g, (const unsigned char *) (s)->data, (s)->len)

#define ts_json_cstr(g, s)                                                   \
    yajl_gen_string(g, (const unsigned char *) (s), ngx_strlen(s))

/*
 * Every call's status is checked the same way: a fixed shape is one
 * condition of calls joined by ||, each compared with yajl_gen_status_ok,
 * and the first that fails ends it (as ts_http_send_error() does).
 */

yajl_gen_status ts_json_integer(yajl_gen g, int64_t n);

/*
 * Parses text into a tree freed with pool.  NULL when it is not JSON (or
 * valid UTF-8), nests deeper than TS_JSON_DEPTH_MAX, or has a string with
 * \u0000 (yajl's tree would cut it there); err then says which.
 */
yajl_val ts_json_parse(ngx_pool_t *pool, ngx_str_t *text, const char **err);


#endif /* _TS_JSON_H_INCLUDED_ */
