
/*
 * Tunesheap: HTTP helpers shared by every resource.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ts_json.h"
#include "ts_http.h"


#define TS_HTTP_MESSAGE_MAX  512

/* MurmurHash64A's multiplier and shift */
#define TS_HTTP_HASH_M       0xc6a4a7935bd1e995ULL
#define TS_HTTP_HASH_R       47


static ngx_int_t ts_http_check_text(ngx_str_t *s);
static uint64_t ts_http_hash(u_char *p, size_t len);


static ngx_str_t  ts_http_json_type =
    ngx_string("application/json; charset=utf-8");


ngx_int_t
ts_http_send_json(ngx_http_request_t *r, ngx_uint_t status, ngx_str_t *body,
    ngx_str_t *etag)
{
    ngx_int_t    rc;
    ngx_str_t    tag, retry = ngx_string("1");
    ngx_buf_t   *b, *nl;
    ngx_chain_t  out[2];

    r->headers_out.status = status;
    r->headers_out.content_type = ts_http_json_type;
    /* the type alone, as gzip_types and the like compare it */
    r->headers_out.content_type_len = sizeof("application/json") - 1;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.content_length_n = body->len + 1;

    if (status == TS_HTTP_UNPROCESSABLE) {
        /* nginx's table of status lines does not know it */
        ngx_str_set(&r->headers_out.status_line, "422 Unprocessable Entity");
    }

    if (status == NGX_HTTP_SERVICE_UNAVAILABLE
        && ts_http_header(r, "Retry-After", &retry, NULL) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (status == NGX_HTTP_OK && etag == NULL) {
        if (ts_http_body_etag(r, body, &tag) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        etag = &tag;
    }

    /* nginx's not_modified filter answers If-None-Match from it */
    if (etag
        && ts_http_header(r, "ETag", etag, &r->headers_out.etag) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    nl = ngx_calloc_buf(r->pool);
    if (b == NULL || nl == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = body->data;
    b->last = body->data + body->len;
    b->memory = 1;

    /* a final newline, as curl users expect */
    nl->pos = (u_char *) "\n";
    nl->last = nl->pos + 1;
    nl->memory = 1;
    nl->last_buf = (r == r->main) ? 1 : 0;
    nl->last_in_chain = 1;

    out[0].buf = b;
    out[0].next = &out[1];
    out[1].buf = nl;
    out[1].next = NULL;

    return ngx_http_output_filter(r, &out[0]);
}


ngx_int_t
ts_http_send_no_content(ngx_http_request_t *r, ngx_str_t *etag)
{
    r->headers_out.status = NGX_HTTP_NO_CONTENT;
    r->headers_out.content_length_n = -1;
    r->header_only = 1;

    if (etag
        && ts_http_header(r, "ETag", etag, &r->headers_out.etag) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_send_header(r);
}


/*
 * strong: a 64-bit hash of the exact body (MurmurHash64A).  Not MD5: the
 * body is ours, there is nothing to forge, and the MD5 of a 3 KB list page
 * was a tenth of a worker's time on it; this reads eight bytes a step.
 */
ngx_int_t
ts_http_body_etag(ngx_http_request_t *r, ngx_str_t *body, ngx_str_t *etag)
{
    u_char  hex[16];

    ngx_sprintf(hex, "%016uxL", ts_http_hash(body->data, body->len));

    return ts_http_etag(r, hex, sizeof(hex), etag);
}


/* the words are read little-endian whatever the CPU: every node agrees */
static uint64_t
ts_http_hash(u_char *p, size_t len)
{
    size_t    n;
    uint64_t  h, k;

    h = len * TS_HTTP_HASH_M;

    for (n = len / 8; n; n--, p += 8) {
#if (NGX_HAVE_LITTLE_ENDIAN)
        ngx_memcpy(&k, p, 8);
#else
        k = (uint64_t) p[0] | (uint64_t) p[1] << 8 | (uint64_t) p[2] << 16
            | (uint64_t) p[3] << 24 | (uint64_t) p[4] << 32
            | (uint64_t) p[5] << 40 | (uint64_t) p[6] << 48
            | (uint64_t) p[7] << 56;
#endif

        k *= TS_HTTP_HASH_M;
        k ^= k >> TS_HTTP_HASH_R;
        k *= TS_HTTP_HASH_M;

        h ^= k;
        h *= TS_HTTP_HASH_M;
    }

    if (len & 7) {
        for (n = len & 7; n; n--) {
            h ^= (uint64_t) p[n - 1] << (8 * (n - 1));
        }

        h *= TS_HTTP_HASH_M;
    }

    h ^= h >> TS_HTTP_HASH_R;
    h *= TS_HTTP_HASH_M;
    h ^= h >> TS_HTTP_HASH_R;

    return h;
}


ngx_int_t
ts_http_etag(ngx_http_request_t *r, u_char *hex, size_t len,
    ngx_str_t *etag)
{
    etag->len = 2 + len;
    etag->data = ngx_pnalloc(r->pool, etag->len);
    if (etag->data == NULL) {
        return NGX_ERROR;
    }

    etag->data[0] = '"';
    ngx_memcpy(etag->data + 1, hex, len);
    etag->data[etag->len - 1] = '"';

    return NGX_OK;
}


ngx_int_t
ts_http_send_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *fmt, ...)
{
    u_char     msg[TS_HTTP_MESSAGE_MAX], *p;
    va_list    args;
    yajl_gen   g;
    ngx_str_t  body;

    va_start(args, fmt);
    p = ngx_vslprintf(msg, msg + sizeof(msg), fmt, args);
    va_end(args);

    g = ts_json_gen(r->pool);
    if (g == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (yajl_gen_map_open(g) != yajl_gen_status_ok
        || ts_json_literal(g, "error") != yajl_gen_status_ok
        || yajl_gen_map_open(g) != yajl_gen_status_ok
        || ts_json_literal(g, "status") != yajl_gen_status_ok
        || ts_json_integer(g, status) != yajl_gen_status_ok
        || ts_json_literal(g, "message") != yajl_gen_status_ok
        || yajl_gen_string(g, msg, p - msg) != yajl_gen_status_ok
        || yajl_gen_map_close(g) != yajl_gen_status_ok
        || yajl_gen_map_close(g) != yajl_gen_status_ok)
    {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "tunesheap: generating an error body failed");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ts_json_output(g, &body);

    return ts_http_send_json(r, status, &body, NULL);
}


void
ts_http_finish(ngx_http_request_t *r, ngx_int_t rc)
{
    ngx_connection_t  *c;

    c = r->connection;

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


void
ts_http_hold(ngx_http_request_t *r)
{
    if (r->read_event_handler == ngx_http_block_reading) {
        r->read_event_handler = ngx_http_test_reading;
    }

    r->main->count++;
}


ngx_int_t
ts_http_arg(ngx_http_request_t *r, const char *name, ngx_str_t *value)
{
    u_char     *src, *dst;
    size_t      i;
    ngx_str_t   raw;

    if (ngx_http_arg(r, (u_char *) name, ngx_strlen(name), &raw) != NGX_OK) {
        return NGX_DECLINED;
    }

    if (raw.len > 3 * TS_HTTP_ARG_MAX) {
        return NGX_ERROR;
    }

    src = ngx_pnalloc(r->pool, raw.len);
    dst = ngx_pnalloc(r->pool, raw.len);
    if (src == NULL || dst == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < raw.len; i++) {
        src[i] = (raw.data[i] == '+') ? ' ' : raw.data[i];
    }

    value->data = dst;
    ngx_unescape_uri(&dst, &src, raw.len, 0);
    value->len = dst - value->data;

    return ts_http_check_text(value);
}


ngx_int_t
ts_http_parse_int(ngx_str_t *s, int64_t *n)
{
    off_t  v;

    /* at most as many digits as the largest value has */
    if (s->len > NGX_INT64_LEN) {
        return NGX_ERROR;
    }

    /* digits only, none, or past the largest 64-bit value: NGX_ERROR */
    v = ngx_atoof(s->data, s->len);
    if (v == NGX_ERROR) {
        return NGX_ERROR;
    }

    *n = v;

    return NGX_OK;
}


char *
ts_http_cstr(ngx_pool_t *pool, ngx_str_t *s)
{
    u_char  *p;

    p = ngx_pnalloc(pool, s->len + 1);
    if (p == NULL) {
        return NULL;
    }

    if (s->len) {
        ngx_memcpy(p, s->data, s->len);     /* data may be NULL if empty */
    }

    p[s->len] = '\0';

    return (char *) p;
}


ngx_int_t
ts_http_cleanup(ngx_http_request_t *r, ngx_pool_cleanup_pt handler,
    void *data)
{
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = handler;
    cln->data = data;

    return NGX_OK;
}


ngx_int_t
ts_http_header(ngx_http_request_t *r, const char *key, ngx_str_t *value,
    ngx_table_elt_t **ref)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) key;
    h->key.len = ngx_strlen(key);
    h->value = *value;

    if (ref) {
        *ref = h;
    }

    return NGX_OK;
}


void
ts_http_check_secret_file(ngx_conf_t *cf, u_char *name)
{
    ngx_file_info_t  fi;

    if (ngx_file_info(name, &fi) == NGX_FILE_ERROR) {
        return;    /* its reader says why */
    }

    if (fi.st_mode & (S_IROTH|S_IWOTH)) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "tunesheap: \"%s\" holds a secret and every user "
                           "may read it (mode %d%d%d): chmod 0600 (nginx's "
                           "master reads it as root)", name,
                           (int) (fi.st_mode >> 6) & 7,
                           (int) (fi.st_mode >> 3) & 7,
                           (int) fi.st_mode & 7);
    }
}


/* text that Postgres and yajl both take: UTF-8 without control characters */
static ngx_int_t
ts_http_check_text(ngx_str_t *s)
{
    u_char    *p, *end;
    uint32_t   u;

    if (s->len > TS_HTTP_ARG_MAX) {
        return NGX_ERROR;
    }

    p = s->data;
    end = p + s->len;

    while (p < end) {
        if (*p < 0x80) {
            if (*p < 0x20 || *p == 0x7f) {
                return NGX_ERROR;
            }

            p++;
            continue;
        }

        u = ngx_utf8_decode(&p, end - p);

        if (u > 0x10ffff || (u >= 0xd800 && u <= 0xdfff)) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * The answer of the error_page location: nginx's own errors (a bad
 * request line, a header too large, a body over client_max_body_size, a
 * range past the end, limit_req and limit_conn, a path we do not serve)
 * as the JSON error every other answer uses.  nginx keeps the status it
 * was answering in r->err_status (error_page without "=").
 */

typedef struct {
    ngx_uint_t   status;
    const char  *message;
} ts_http_error_t;


static ts_http_error_t  ts_http_errors[] = {
    { NGX_HTTP_BAD_REQUEST, "bad request" },
    { NGX_HTTP_UNAUTHORIZED, "unauthorized" },
    { NGX_HTTP_FORBIDDEN, "forbidden" },
    { NGX_HTTP_NOT_FOUND, "not found" },
    { NGX_HTTP_NOT_ALLOWED, "method not allowed" },
    { NGX_HTTP_REQUEST_TIME_OUT, "the request took too long to arrive" },
    { NGX_HTTP_CONFLICT, "conflict" },
    { NGX_HTTP_LENGTH_REQUIRED, "a body needs a length" },
    { NGX_HTTP_PRECONDITION_FAILED, "precondition failed" },
    { NGX_HTTP_REQUEST_ENTITY_TOO_LARGE, "the body is too large" },
    { NGX_HTTP_REQUEST_URI_TOO_LARGE, "the URI is too long" },
    { NGX_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported media type" },
    { NGX_HTTP_RANGE_NOT_SATISFIABLE, "the range is not satisfiable" },
    { NGX_HTTP_MISDIRECTED_REQUEST, "misdirected request" },
    { NGX_HTTP_TOO_MANY_REQUESTS, "too many requests: retry later" },
    { NGX_HTTP_REQUEST_HEADER_TOO_LARGE, "the request's header is too large" },
    { NGX_HTTP_INTERNAL_SERVER_ERROR, "internal error" },
    { NGX_HTTP_NOT_IMPLEMENTED, "not implemented" },
    { NGX_HTTP_BAD_GATEWAY, "bad gateway" },
    { NGX_HTTP_SERVICE_UNAVAILABLE, "unavailable: retry later" },
    { NGX_HTTP_GATEWAY_TIME_OUT, "timed out" },
    { NGX_HTTP_VERSION_NOT_SUPPORTED, "HTTP version not supported" },
    { 0, NULL }
};


ngx_int_t
ts_http_error_handler(ngx_http_request_t *r)
{
    ngx_str_t         again = ngx_string("1");
    ngx_uint_t        status;
    const char       *message;
    ts_http_error_t  *e;

    status = r->err_status ? r->err_status : r->headers_out.status;

    /* nginx's own codes for a bad request (494-497) answer 400 */
    if (status == NGX_HTTP_REQUEST_HEADER_TOO_LARGE) {
        message = "the request's header is too large";
        status = NGX_HTTP_BAD_REQUEST;

    } else if (status >= NGX_HTTP_NGINX_CODES
               && status < NGX_HTTP_INTERNAL_SERVER_ERROR)
    {
        message = "bad request";
        status = NGX_HTTP_BAD_REQUEST;

    } else {
        if (status < NGX_HTTP_BAD_REQUEST || status > 599) {
            /* the location was asked for directly: it is internal */
            status = NGX_HTTP_NOT_FOUND;
        }

        message = "error";

        for (e = ts_http_errors; e->status; e++) {
            if (e->status == status) {
                message = e->message;
                break;
            }
        }
    }

    /* the status line and its body follow ours, not the error's */
    r->err_status = 0;

    if (status == NGX_HTTP_TOO_MANY_REQUESTS
        && ts_http_header(r, "Retry-After", &again, NULL) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ts_http_send_error(r, status, "%s", message);
}


/* tunesheap_error: the location of the server's error_page */
char *
ts_http_error_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ts_http_error_handler;

    return NGX_CONF_OK;
}


ngx_uint_t
ts_http_conf_param(ngx_str_t *arg, const char *name, ngx_str_t *value)
{
    size_t  len;

    len = ngx_strlen(name);

    if (arg->len <= len || arg->data[len] != '='
        || ngx_strncmp(arg->data, name, len) != 0)
    {
        return 0;
    }

    value->data = arg->data + len + 1;
    value->len = arg->len - len - 1;

    return 1;
}
