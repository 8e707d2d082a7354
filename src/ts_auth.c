
/*
 * Tunesheap: API keys.
 *
 * Keys are random; Postgres keeps only their SHA-256 (api_keys), so the
 * comparison is an index lookup on a hash: nothing about a key leaks from
 * how long it takes, and a stolen table gives no key.  No key is ever
 * written to a log by this module.
 *
 * What a key resolves to (name, scopes), and that a key is unknown or
 * revoked, is kept by the key's SHA-256 in a shared-memory zone of its
 * own (tunesheap_auth_cache, 5 s by default; least recently used first
 * out when full): a key costs Postgres one lookup per TTL per node, a
 * flood of bad keys too.  A revocation, or a change of scopes, is seen
 * by every node within the TTL.  A failed lookup is not kept.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <openssl/evp.h>

#include "ts_module.h"
#include "ts_http.h"
#include "ts_query.h"
#include "ts_auth.h"


#define TS_AUTH_KEY_MAX     256
#define TS_AUTH_CACHE_TTL   5000
#define TS_AUTH_CACHE_SIZE  (1024 * 1024)


typedef enum {
    ts_auth_none = 0,           /* no Authorization header */
    ts_auth_pending,
    ts_auth_valid,
    ts_auth_unknown,            /* no such key, or revoked */
    ts_auth_malformed,          /* not "Bearer <key>" */
    ts_auth_failed              /* the lookup itself failed */
} ts_auth_state_e;


struct ts_auth_ctx_s {
    ngx_http_request_t  *request;
    ts_pg_query_t        query;
    const char          *params[1];
    u_char               hash[2 * 32 + 1];
    ts_auth_state_e      state;
    ngx_str_t            name;
    ngx_str_t            scopes;      /* "read,write" */
};


static ngx_int_t ts_auth_handler(ngx_http_request_t *r);
static ngx_int_t ts_auth_hash(ngx_str_t *key, u_char *hex);
static ngx_int_t ts_auth_cached(ngx_http_request_t *r, ts_auth_ctx_t *ctx);
static void ts_auth_keep(ngx_http_request_t *r, ts_auth_ctx_t *ctx);
static void ts_auth_done(ts_pg_query_t *q);
static ngx_int_t ts_auth_request_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static void ts_auth_redact(u_char *p, u_char *end);
static ngx_int_t ts_auth_guard_log(ngx_array_t *guarded, ngx_log_t *log);
static ngx_int_t ts_auth_guard_locations(ngx_array_t *guarded,
    ngx_http_core_loc_conf_t *clcf);
static ngx_int_t ts_auth_guard_tree(ngx_array_t *guarded,
    ngx_http_location_tree_node_t *node);
static void ts_auth_unguard(void *data);
static void ts_auth_log_writer(ngx_log_t *log, ngx_uint_t level,
    u_char *buf, size_t len);
static ngx_int_t ts_auth_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


/* last use is written at most once a minute, not on every request */
const char  ts_auth_setup[] =
    "PREPARE ts_auth AS WITH k AS (SELECT id, name, scopes, last_used_at"
    " FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL),"
    " u AS (UPDATE api_keys a SET last_used_at = now() FROM k"
    " WHERE a.id = k.id AND (k.last_used_at IS NULL"
    " OR k.last_used_at < now() - interval '1 minute') RETURNING a.id)"
    " SELECT k.name, array_to_string(k.scopes, ',') FROM k;";


static ngx_str_t  ts_auth_variable_name = ngx_string("tunesheap_api_key");
static ngx_str_t  ts_auth_request_name = ngx_string("tunesheap_request");


ngx_int_t
ts_auth_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var;

    var = ngx_http_add_variable(cf, &ts_auth_variable_name,
                                NGX_HTTP_VAR_NOCACHEABLE);
    if (var == NULL) {
        return NGX_ERROR;
    }

    var->get_handler = ts_auth_variable;

    /* $request with signatures masked, for access logs */
    var = ngx_http_add_variable(cf, &ts_auth_request_name,
                                NGX_HTTP_VAR_NOCACHEABLE);
    if (var == NULL) {
        return NGX_ERROR;
    }

    var->get_handler = ts_auth_request_variable;

    return NGX_OK;
}


char *
ts_auth_cache_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ts_main_conf_t  *tmcf = conf;

    ssize_t      size;
    ngx_int_t    ttl;
    ngx_str_t   *value, v;
    ngx_uint_t   i;

    if (tmcf->auth_cache_set) {
        return "is duplicate";
    }

    tmcf->auth_cache_set = 1;
    tmcf->auth_cache_ttl = TS_AUTH_CACHE_TTL;
    tmcf->auth_cache_size = TS_AUTH_CACHE_SIZE;

    value = cf->args->elts;

    if (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "off") == 0) {
        tmcf->auth_cache_ttl = 0;
        return NGX_CONF_OK;
    }

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "ttl=", 4) == 0) {
            v.data = value[i].data + 4;
            v.len = value[i].len - 4;
            ttl = ngx_parse_time(&v, 0);

            if (ttl == NGX_ERROR || ttl == 0) {
                goto invalid;
            }

            tmcf->auth_cache_ttl = ttl;
            continue;
        }

        if (ngx_strncmp(value[i].data, "size=", 5) == 0) {
            v.data = value[i].data + 5;
            v.len = value[i].len - 5;
            size = ngx_parse_size(&v);

            if (size == NGX_ERROR || size < (ssize_t) (8 * ngx_pagesize)) {
                goto invalid;
            }

            tmcf->auth_cache_size = size;
            continue;
        }

        goto invalid;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\": ttl=TIME (not 0), "
                       "size=SIZE (at least %uzk) or off",
                       &value[i], 8 * ngx_pagesize / 1024);

    return NGX_CONF_ERROR;
}


ngx_int_t
ts_auth_init(ngx_conf_t *cf)
{
    ngx_str_t                   name = ngx_string("tunesheap_auth");
    ngx_uint_t                  i;
    ngx_array_t                *guarded;
    ts_main_conf_t             *tmcf;
    ngx_pool_cleanup_t         *cln;
    ngx_http_handler_pt        *h;
    ngx_http_core_loc_conf_t   *clcf, **clcfp;
    ngx_http_core_srv_conf_t  **cscfp;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);
    tmcf = ngx_http_conf_get_module_main_conf(cf, ngx_tunesheap_module);

    if (!tmcf->auth_cache_set) {
        tmcf->auth_cache_ttl = TS_AUTH_CACHE_TTL;
        tmcf->auth_cache_size = TS_AUTH_CACHE_SIZE;
    }

    if (tmcf->auth_cache_ttl) {
        tmcf->auth_shm = ts_shm_add(cf, &name, tmcf->auth_cache_size);
        if (tmcf->auth_shm == NULL) {
            return NGX_ERROR;
        }
    }

    /*
     * No key, signature or secret in any log at any level: every error
     * log of the configuration writes through ts_auth_log_writer, until
     * the cycle's pool goes: that also unloads this module, and nginx logs
     * while it frees the pool (a writer left behind would be called in
     * unmapped code).  Cleanups run last registered first: this one runs
     * before the unload registered by load_module.
     */
    guarded = ngx_array_create(cf->pool, 8, sizeof(ngx_log_t *));
    cln = ngx_pool_cleanup_add(cf->cycle->pool, 0);

    if (guarded == NULL || cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ts_auth_unguard;
    cln->data = guarded;

    if (ts_auth_guard_log(guarded, &cf->cycle->new_log) != NGX_OK) {
        return NGX_ERROR;
    }

    cscfp = cmcf->servers.elts;

    for (i = 0; i < cmcf->servers.nelts; i++) {
        clcf = cscfp[i]->ctx->loc_conf[ngx_http_core_module.ctx_index];

        if (ts_auth_guard_locations(guarded, clcf) != NGX_OK) {
            return NGX_ERROR;
        }

        if (cscfp[i]->named_locations) {
            for (clcfp = cscfp[i]->named_locations; *clcfp; clcfp++) {
                if (ts_auth_guard_locations(guarded, *clcfp) != NGX_OK) {
                    return NGX_ERROR;
                }
            }
        }
    }

    /* rewrite: before limit_req (preaccess) needs $tunesheap_api_key */
    h = ngx_array_push(&cmcf->phases[NGX_HTTP_REWRITE_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ts_auth_handler;

    return NGX_OK;
}


ngx_int_t
ts_auth_check(ngx_http_request_t *r, const char *scope, const char **message)
{
    u_char            *p, *end;
    size_t             len;
    ngx_str_t          challenge;
    ts_auth_ctx_t     *ctx;
    ts_request_ctx_t  *rctx;

    rctx = ts_request_ctx(r);
    if (rctx == NULL) {
        *message = "internal error";
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx = rctx->auth;

    switch (ctx ? ctx->state : ts_auth_none) {

    case ts_auth_valid:
        len = ngx_strlen(scope);
        p = ctx->scopes.data;
        end = p + ctx->scopes.len;

        while (p < end) {
            if ((size_t) (end - p) >= len && ngx_strncmp(p, scope, len) == 0
                && (p + len == end || p[len] == ','))
            {
                return NGX_OK;
            }

            while (p < end && *p++ != ',') { /* void */ }
        }

        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "tunesheap auth: key \"%V\" lacks scope \"%s\", "
                       "has \"%V\"", &ctx->name, scope, &ctx->scopes);

        *message = (scope[0] == 'w') ? "this API key may not write"
                                     : "this API key may not read";
        ngx_str_set(&challenge, "Bearer realm=\"tunesheap\", "
                                "error=\"insufficient_scope\"");
        break;

    case ts_auth_failed:
        *message = "the database is unavailable";
        return NGX_HTTP_SERVICE_UNAVAILABLE;

    case ts_auth_unknown:
        *message = "unknown or revoked API key";
        ngx_str_set(&challenge, "Bearer realm=\"tunesheap\", "
                                "error=\"invalid_token\"");
        break;

    case ts_auth_malformed:
        *message = "the Authorization header must be \"Bearer <key>\"";
        ngx_str_set(&challenge, "Bearer realm=\"tunesheap\", "
                                "error=\"invalid_request\"");
        break;

    default: /* none */
        *message = "an API key is required: Authorization: Bearer <key>";
        ngx_str_set(&challenge, "Bearer realm=\"tunesheap\"");
        break;
    }

    if (ts_http_header(r, "WWW-Authenticate", &challenge, NULL) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return (ctx && ctx->state == ts_auth_valid) ? NGX_HTTP_FORBIDDEN
                                                : NGX_HTTP_UNAUTHORIZED;
}


/*
 * Rewrite phase: starts the lookup and holds the request's phases
 * (NGX_DONE) until it is answered; on the way back in, lets them go on.
 */
static ngx_int_t
ts_auth_handler(ngx_http_request_t *r)
{
    ngx_str_t          key;
    ts_loc_conf_t     *tlcf;
    ts_auth_ctx_t     *ctx;
    ts_request_ctx_t  *rctx;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_tunesheap_module);

    if (!tlcf->api || r != r->main) {
        return NGX_DECLINED;
    }

    rctx = ts_request_ctx(r);
    if (rctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rctx->auth) {
        return (rctx->auth->state == ts_auth_pending) ? NGX_DONE
                                                       : NGX_DECLINED;
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ts_auth_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->request = r;
    rctx->auth = ctx;

    if (r->headers_in.authorization == NULL) {
        return NGX_DECLINED;
    }

    key = r->headers_in.authorization->value;

    if (key.len < sizeof("Bearer ") - 1
        || ngx_strncasecmp(key.data, (u_char *) "Bearer ",
                           sizeof("Bearer ") - 1) != 0)
    {
        ctx->state = ts_auth_malformed;
        return NGX_DECLINED;
    }

    key.data += sizeof("Bearer ") - 1;
    key.len -= sizeof("Bearer ") - 1;

    if (ts_auth_hash(&key, ctx->hash) != NGX_OK) {
        ctx->state = ts_auth_malformed;
        return NGX_DECLINED;
    }

    switch (ts_auth_cached(r, ctx)) {

    case NGX_OK:
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "tunesheap auth: key cached, %s \"%V\"",
                       ctx->state == ts_auth_valid ? "valid" : "revoked",
                       &ctx->name);
        return NGX_DECLINED;

    case NGX_ERROR:
        return NGX_HTTP_INTERNAL_SERVER_ERROR;

    default: /* NGX_DECLINED: Postgres is asked */
        break;
    }

    ctx->params[0] = (char *) ctx->hash;
    ctx->query.statement = "ts_auth";
    ctx->query.nparams = 1;
    ctx->query.params = ctx->params;
    ctx->query.done = ts_auth_done;
    ctx->query.data = ctx;

    if (ts_query_send(r, &ctx->query, 1) != NGX_OK) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "tunesheap auth: key lookup refused");
        ctx->state = ts_auth_failed;
        return NGX_DECLINED;
    }

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "tunesheap auth: key not cached, looked up");

    ctx->state = ts_auth_pending;

    return NGX_DONE;
}


/* the hex SHA-256 of a well-formed key: visible ASCII, not too long */
static ngx_int_t
ts_auth_hash(ngx_str_t *key, u_char *hex)
{
    size_t         i;
    u_char         md[EVP_MAX_MD_SIZE];
    unsigned int   len;

    if (key->len == 0 || key->len > TS_AUTH_KEY_MAX) {
        return NGX_ERROR;
    }

    for (i = 0; i < key->len; i++) {
        if (key->data[i] <= 0x20 || key->data[i] >= 0x7f) {
            return NGX_ERROR;
        }
    }

    if (EVP_Digest(key->data, key->len, md, &len, EVP_sha256(), NULL) != 1
        || len != 32)
    {
        return NGX_ERROR;
    }

    *ngx_hex_dump(hex, md, len) = '\0';

    return NGX_OK;
}


/*
 * What the zone keeps for the key's hash: "+scopes\nname" for a valid
 * key, "-" for an unknown or revoked one.  NGX_DECLINED: nothing fresh.
 */
static ngx_int_t
ts_auth_cached(ngx_http_request_t *r, ts_auth_ctx_t *ctx)
{
    u_char          *nl;
    ngx_str_t        key, body, etag;
    ts_main_conf_t  *tmcf;

    tmcf = ngx_http_get_module_main_conf(r, ngx_tunesheap_module);

    if (tmcf->auth_shm == NULL) {
        return NGX_DECLINED;
    }

    key.data = ctx->hash;
    key.len = 2 * 32;

    switch (ts_shm_get(tmcf->auth_shm, &key, 0, r->pool, &body, &etag)) {

    case NGX_OK:
        break;

    case NGX_ERROR:
        return NGX_ERROR;

    default:
        return NGX_DECLINED;
    }

    if (body.len == 1 && body.data[0] == '-') {
        ctx->state = ts_auth_unknown;
        return NGX_OK;
    }

    nl = (body.len > 1 && body.data[0] == '+')
         ? ngx_strlchr(body.data + 1, body.data + body.len, '\n') : NULL;

    if (nl == NULL) {
        return NGX_DECLINED;
    }

    ctx->scopes.data = body.data + 1;
    ctx->scopes.len = nl - ctx->scopes.data;
    ctx->name.data = nl + 1;
    ctx->name.len = body.data + body.len - ctx->name.data;
    ctx->state = ts_auth_valid;

    return NGX_OK;
}


/* a failure to keep the answer only costs a lookup later */
static void
ts_auth_keep(ngx_http_request_t *r, ts_auth_ctx_t *ctx)
{
    ngx_str_t        key, body, etag;
    ngx_uint_t       versions[TS_RESOURCES_MAX];
    ts_main_conf_t  *tmcf;

    tmcf = ngx_http_get_module_main_conf(r, ngx_tunesheap_module);

    if (tmcf->auth_shm == NULL) {
        return;
    }

    key.data = ctx->hash;
    key.len = 2 * 32;
    ngx_str_null(&etag);
    ngx_memzero(versions, sizeof(versions));

    if (ctx->state == ts_auth_unknown) {
        ngx_str_set(&body, "-");

    } else {
        body.len = 1 + ctx->scopes.len + 1 + ctx->name.len;
        body.data = ngx_pnalloc(r->pool, body.len);
        if (body.data == NULL) {
            return;
        }

        ngx_sprintf(body.data, "+%V\n%V", &ctx->scopes, &ctx->name);
    }

    ts_shm_put(tmcf->auth_shm, &key, 0, versions, &body, &etag,
               tmcf->auth_cache_ttl);
}


static void
ts_auth_done(ts_pg_query_t *q)
{
    ts_auth_ctx_t       *ctx;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    ctx = q->data;
    r = ctx->request;
    c = r->connection;

    if (q->rc != TS_PG_OK) {
        ctx->state = ts_auth_failed;

    } else if (PQntuples(q->result) == 0) {
        ctx->state = ts_auth_unknown;

    } else {
        ctx->name.len = PQgetlength(q->result, 0, 0);
        ctx->scopes.len = PQgetlength(q->result, 0, 1);
        ctx->name.data = ngx_pnalloc(r->pool, ctx->name.len + 1);
        ctx->scopes.data = ngx_pnalloc(r->pool, ctx->scopes.len + 1);

        if (ctx->name.data == NULL || ctx->scopes.data == NULL) {
            ctx->state = ts_auth_failed;

        } else {
            ngx_memcpy(ctx->name.data, PQgetvalue(q->result, 0, 0),
                       ctx->name.len);
            ngx_memcpy(ctx->scopes.data, PQgetvalue(q->result, 0, 1),
                       ctx->scopes.len);
            ctx->state = ts_auth_valid;
        }
    }

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "tunesheap auth: key looked up, %s \"%V\" "
                   "scopes:\"%V\", rc:%ui",
                   ctx->state == ts_auth_valid ? "valid"
                   : ctx->state == ts_auth_unknown ? "unknown or revoked"
                   : "failed",
                   &ctx->name, &ctx->scopes, q->rc);

    if (ctx->state == ts_auth_valid || ctx->state == ts_auth_unknown) {
        ts_auth_keep(r, ctx);
    }

    /* the phases go on where the lookup held them */
    ngx_http_core_run_phases(r);
    ngx_http_run_posted_requests(c);
}


static ngx_int_t
ts_auth_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    uintptr_t data)
{
    ts_request_ctx_t  *rctx;

    rctx = ngx_http_get_module_ctx(r, ngx_tunesheap_module);

    if (rctx == NULL || rctx->auth == NULL
        || rctx->auth->state != ts_auth_valid)
    {
        v->not_found = 1;
        return NGX_OK;
    }

    v->data = rctx->auth->name.data;
    v->len = rctx->auth->name.len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}


/*
 * Secrets in logs.  nginx itself quotes request headers in its error log:
 * every header at debug level, a duplicate Authorization header or one
 * with a NUL in it at info, the request line (signed links) with any
 * error.  Each error log of the configuration gets a writer that masks,
 * with '*', what follows "Authorization:" up to the closing quote, a
 * Bearer token, an API key ("tsk_...") and a signature= argument, then
 * writes the line as nginx would.  A log that has a writer already
 * (syslog:, memory:) is left alone.
 */

static ngx_int_t
ts_auth_guard_log(ngx_array_t *guarded, ngx_log_t *log)
{
    ngx_log_t  **lp;

    for ( /* void */ ; log; log = log->next) {
        if (log->writer == NULL) {
            lp = ngx_array_push(guarded);
            if (lp == NULL) {
                return NGX_ERROR;
            }

            *lp = log;
            log->writer = ts_auth_log_writer;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ts_auth_guard_locations(ngx_array_t *guarded, ngx_http_core_loc_conf_t *clcf)
{
#if (NGX_PCRE)
    ngx_http_core_loc_conf_t  **clcfp;
#endif

    if (ts_auth_guard_log(guarded, clcf->error_log) != NGX_OK
        || ts_auth_guard_tree(guarded, clcf->static_locations) != NGX_OK)
    {
        return NGX_ERROR;
    }

#if (NGX_PCRE)
    if (clcf->regex_locations) {
        for (clcfp = clcf->regex_locations; *clcfp; clcfp++) {
            if (ts_auth_guard_locations(guarded, *clcfp) != NGX_OK) {
                return NGX_ERROR;
            }
        }
    }
#endif

    return NGX_OK;
}


static ngx_int_t
ts_auth_guard_tree(ngx_array_t *guarded, ngx_http_location_tree_node_t *node)
{
    if (node == NULL) {
        return NGX_OK;
    }

    if ((node->exact
         && ts_auth_guard_locations(guarded, node->exact) != NGX_OK)
        || (node->inclusive
            && ts_auth_guard_locations(guarded, node->inclusive) != NGX_OK))
    {
        return NGX_ERROR;
    }

    if (ts_auth_guard_tree(guarded, node->left) != NGX_OK
        || ts_auth_guard_tree(guarded, node->right) != NGX_OK
        || ts_auth_guard_tree(guarded, node->tree) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* the cycle's pool goes, and this module with it: logs write as before */
static void
ts_auth_unguard(void *data)
{
    ngx_array_t  *guarded = data;

    ngx_uint_t   i;
    ngx_log_t  **logs;

    logs = guarded->elts;

    for (i = 0; i < guarded->nelts; i++) {
        if (logs[i]->writer == ts_auth_log_writer) {
            logs[i]->writer = NULL;
        }
    }
}


typedef struct {
    ngx_str_t   mark;
    ngx_uint_t  quoted;     /* mask up to the closing quote, spaces too */
} ts_auth_mark_t;


static ts_auth_mark_t  ts_auth_marks[] = {
    { ngx_string("authorization:"), 1 },
    { ngx_string("bearer "), 0 },
    { ngx_string("tsk_"), 0 },
    { ngx_string("signature="), 0 },
    { ngx_null_string, 0 }
};


static void
ts_auth_log_writer(ngx_log_t *log, ngx_uint_t level, u_char *buf,
    size_t len)
{
    u_char  line[NGX_MAX_ERROR_STR];

    if (log->file == NULL || log->file->fd == NGX_INVALID_FILE) {
        return;
    }

    len = ngx_min(len, sizeof(line));
    ngx_memcpy(line, buf, len);

    ts_auth_redact(line, line + len);

    (void) ngx_write_fd(log->file->fd, line, len);
}


static void
ts_auth_redact(u_char *p, u_char *end)
{
    ts_auth_mark_t  *m;

    for ( /* void */ ; p < end; p++) {

        /* the first letters of the marks: most bytes stop here */
        switch (*p | 0x20) {
        case 'a': case 'b': case 't': case 's':
            break;
        default:
            continue;
        }

        for (m = ts_auth_marks; m->mark.len; m++) {
            if ((size_t) (end - p) < m->mark.len
                || (*p | 0x20) != m->mark.data[0]
                || ngx_strncasecmp(p, m->mark.data, m->mark.len) != 0)
            {
                continue;
            }

            p += m->mark.len;

            if (m->quoted) {
                while (p < end && *p == ' ') {
                    p++;
                }

                while (p < end && *p != '"' && *p != CR && *p != LF) {
                    *p++ = '*';
                }

            } else {
                while (p < end && *p > ' ' && *p != '"' && *p != '&'
                       && *p != ',' && *p != ';' && *p != '\\'
                       && *p != '\'')
                {
                    *p++ = '*';
                }
            }

            p--;
            break;
        }
    }
}


static ngx_int_t
ts_auth_request_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    uintptr_t data)
{
    u_char  *p;

    if (r->request_line.len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, r->request_line.len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(p, r->request_line.data, r->request_line.len);
    ts_auth_redact(p, p + r->request_line.len);

    v->data = p;
    v->len = r->request_line.len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}
