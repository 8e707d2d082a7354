
/*
 * Tunesheap: API keys.  The key in "Authorization: Bearer <key>" is looked
 * up, by its SHA-256, in the rewrite phase, before limit_req and the rest
 * of the request see $tunesheap_api_key, the name of the key's owner.
 */


#ifndef _TS_AUTH_H_INCLUDED_
#define _TS_AUTH_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


extern const char  ts_auth_setup[];

/* $tunesheap_api_key */
ngx_int_t ts_auth_add_variables(ngx_conf_t *cf);

/* the rewrite-phase handler that looks the key up */
ngx_int_t ts_auth_init(ngx_conf_t *cf);

/*
 * tunesheap_auth_cache ttl=5s [size=1m] | off: what a key resolves to,
 * and that a key is unknown or revoked, is kept that long in a zone every
 * worker shares (by the key's SHA-256); the default is ttl=5s size=1m.
 */
char *ts_auth_cache_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/*
 * Whether the request's key has scope ("read", "write"): NGX_OK, or the
 * status to answer with (401 with its WWW-Authenticate header set, 403,
 * 503) and *message saying why.
 */
ngx_int_t ts_auth_check(ngx_http_request_t *r, const char *scope,
    const char **message);


#endif /* _TS_AUTH_H_INCLUDED_ */
