
/*
 * Tunesheap fuzzing: the driver module (see ts_fuzz.h).
 *
 * Requests are made by hand (ts_fuzz_request) with their configuration
 * taken from a location of t/fuzz/nginx.conf, and answered by the
 * location's content handler, ngx_tunesheap_module's entry.  What nginx
 * would do next is replaced, at link time (-Wl,--wrap, build.sh) or by
 * the top filters: the header and body are recorded, finalizing and
 * internal redirects only noted.  No Postgres or Redis is configured:
 * what needs them answers 503.
 *
 * Every answer is checked: a status from 200 to 599 and never 500, and a
 * body, when there is one, that is JSON.  A failed check aborts, which
 * libFuzzer reports as a crash with its input.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <yajl/yajl_tree.h>

#include "ts_fuzz.h"


#define TS_FUZZ_LOCATIONS  8


typedef struct {
    const char          *name;
    ts_fuzz_one_pt       one;
} ts_fuzz_target_t;


typedef struct {
    ngx_str_t            name;
    ngx_http_conf_ctx_t *ctx;
} ts_fuzz_location_t;


int LLVMFuzzerRunDriver(int *argc, char ***argv,
    int (*cb)(const uint8_t *data, size_t size));

ngx_int_t __real_ts_auth_check(ngx_http_request_t *r, const char *scope,
    const char **message);

static char *ts_fuzz_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ts_fuzz_postconfiguration(ngx_conf_t *cf);
static ngx_int_t ts_fuzz_init_process(ngx_cycle_t *cycle);
static ngx_int_t ts_fuzz_header_filter(ngx_http_request_t *r);
static ngx_int_t ts_fuzz_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static void ts_fuzz_fail(ngx_http_request_t *r, const char *why);


static ts_fuzz_target_t  ts_fuzz_targets[] = {
    { "request", ts_fuzz_target_request },
    { "args", ts_fuzz_target_args },
    { "json", ts_fuzz_target_json },
    { "if_match", ts_fuzz_target_if_match },
    { "link", ts_fuzz_target_link },
    { "audio", ts_fuzz_target_audio },
    { "auth", ts_fuzz_target_auth },
    { "s3", ts_fuzz_target_s3 },
    { NULL, NULL }
};


ngx_uint_t  ts_fuzz_real_auth;

static ts_fuzz_location_t  ts_fuzz_locations[TS_FUZZ_LOCATIONS];
static ngx_uint_t          ts_fuzz_nlocations;

/* the answer of the request being run */
static ngx_uint_t          ts_fuzz_status;
static ngx_uint_t          ts_fuzz_redirected;
static u_char             *ts_fuzz_body;
static size_t              ts_fuzz_body_len;
static size_t              ts_fuzz_body_size;


static ngx_command_t  ts_fuzz_commands[] = {

    { ngx_string("tunesheap_fuzz"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ts_fuzz_directive,
      0,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ts_fuzz_module_ctx = {
    NULL,                                  /* preconfiguration */
    ts_fuzz_postconfiguration,             /* postconfiguration */
    NULL, NULL, NULL, NULL, NULL, NULL
};


ngx_module_t  ngx_tunesheap_fuzz_module = {
    NGX_MODULE_V1,
    &ts_fuzz_module_ctx,                   /* module context */
    ts_fuzz_commands,                      /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ts_fuzz_init_process,                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/* this shared object's modules: ours, then the driver (its filters last) */
extern ngx_module_t  ngx_tunesheap_module;

ngx_module_t *ngx_modules[] = {
    &ngx_tunesheap_module,
    &ngx_tunesheap_fuzz_module,
    NULL
};

char *ngx_module_names[] = {
    "ngx_tunesheap_module",
    "ngx_tunesheap_fuzz_module",
    NULL
};

char *ngx_module_order[] = {
    NULL
};


/* tunesheap_fuzz NAME: the location a target's requests go to */
static char *
ts_fuzz_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_str_t           *value;
    ts_fuzz_location_t  *loc;

    if (ts_fuzz_nlocations == TS_FUZZ_LOCATIONS) {
        return "is given too often";
    }

    value = cf->args->elts;
    loc = &ts_fuzz_locations[ts_fuzz_nlocations++];
    loc->name = value[1];
    loc->ctx = cf->ctx;

    return NGX_CONF_OK;
}


static ngx_int_t
ts_fuzz_postconfiguration(ngx_conf_t *cf)
{
    ngx_http_top_header_filter = ts_fuzz_header_filter;
    ngx_http_top_body_filter = ts_fuzz_body_filter;

    return NGX_OK;
}


/* the worker (nginx runs with master_process off) runs the target, exits */
static ngx_int_t
ts_fuzz_init_process(ngx_cycle_t *cycle)
{
    int                argc, rc;
    char              *target, *args, **argv, *p;
    ts_fuzz_target_t  *t;

    target = getenv("TS_FUZZ_TARGET");
    if (target == NULL) {
        return NGX_OK;
    }

    for (t = ts_fuzz_targets; t->name; t++) {
        if (ngx_strcmp(t->name, target) == 0) {
            break;
        }
    }

    if (t->name == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "tunesheap fuzz: no target \"%s\"", target);
        exit(2);
    }

    /* libFuzzer's arguments, separated by spaces */
    args = getenv("TS_FUZZ_ARGS");
    args = strdup(args ? args : "");
    argv = calloc(ngx_strlen(args) + 2, sizeof(char *));
    if (args == NULL || argv == NULL) {
        exit(2);
    }

    argc = 0;
    argv[argc++] = target;

    for (p = strtok(args, " "); p; p = strtok(NULL, " ")) {
        argv[argc++] = p;
    }

    argv[argc] = NULL;

    rc = LLVMFuzzerRunDriver(&argc, &argv, t->one);

    exit(rc);
}


ngx_http_request_t *
ts_fuzz_request(const char *name, ts_fuzz_req_t *req)
{
    u_char               *q;
    ngx_buf_t            *b;
    ngx_log_t            *log;
    ngx_uint_t            i;
    ngx_pool_t           *pool;
    ngx_chain_t          *cl;
    ngx_table_elt_t      *h;
    ngx_connection_t     *c;
    ngx_http_request_t   *r;
    ngx_http_conf_ctx_t  *ctx;

    static struct {
        ngx_str_t   name;
        ngx_uint_t  method;
    } methods[] = {
        { ngx_string("GET"), NGX_HTTP_GET },
        { ngx_string("HEAD"), NGX_HTTP_HEAD },
        { ngx_string("POST"), NGX_HTTP_POST },
        { ngx_string("PUT"), NGX_HTTP_PUT },
        { ngx_string("PATCH"), NGX_HTTP_PATCH },
        { ngx_string("DELETE"), NGX_HTTP_DELETE },
        { ngx_string("OPTIONS"), NGX_HTTP_OPTIONS },
        { ngx_null_string, NGX_HTTP_UNKNOWN }
    };

    ctx = NULL;

    for (i = 0; i < ts_fuzz_nlocations; i++) {
        if (ngx_strcmp(ts_fuzz_locations[i].name.data, name) == 0) {
            ctx = ts_fuzz_locations[i].ctx;
            break;
        }
    }

    if (ctx == NULL) {
        fprintf(stderr, "tunesheap fuzz: no \"tunesheap_fuzz %s\"\n", name);
        abort();
    }

    /* no room in its blocks: every allocation is a malloc() of its own */
    pool = ngx_create_pool(sizeof(ngx_pool_t), ngx_cycle->log);
    if (pool == NULL) {
        abort();
    }

    log = ngx_pcalloc(pool, sizeof(ngx_log_t));
    c = ngx_pcalloc(pool, sizeof(ngx_connection_t));
    r = ngx_pcalloc(pool, sizeof(ngx_http_request_t));
    if (log == NULL || c == NULL || r == NULL) {
        abort();
    }

    *log = *ngx_cycle->log;
    log->handler = NULL;
    log->data = NULL;

    c->log = log;
    c->pool = pool;
    c->fd = (ngx_socket_t) -1;
    c->requests = 1;

    r->signature = NGX_HTTP_MODULE;
    r->connection = c;
    r->pool = pool;
    r->main = r;
    r->count = 1;
    r->http_version = NGX_HTTP_VERSION_11;
    r->main_conf = ctx->main_conf;
    r->srv_conf = ctx->srv_conf;
    r->loc_conf = ctx->loc_conf;

    r->ctx = ngx_pcalloc(pool, sizeof(void *) * ngx_http_max_module);
    if (r->ctx == NULL
        || ngx_list_init(&r->headers_in.headers, pool, 4,
                         sizeof(ngx_table_elt_t)) != NGX_OK
        || ngx_list_init(&r->headers_out.headers, pool, 4,
                         sizeof(ngx_table_elt_t)) != NGX_OK
        || ngx_list_init(&r->headers_out.trailers, pool, 1,
                         sizeof(ngx_table_elt_t)) != NGX_OK)
    {
        abort();
    }

    r->headers_out.content_length_n = -1;
    r->headers_out.last_modified_time = -1;

    for (i = 0; methods[i].name.len; i++) {
        if (req->method.len == methods[i].name.len
            && ngx_strncmp(req->method.data, methods[i].name.data,
                           req->method.len) == 0)
        {
            break;
        }
    }

    r->method = methods[i].method;
    r->method_name.data = ts_fuzz_copy(pool, req->method.data,
                                       req->method.len);
    r->method_name.len = req->method.len;
    r->header_only = (r->method == NGX_HTTP_HEAD);

    r->unparsed_uri.data = ts_fuzz_copy(pool, req->uri.data, req->uri.len);
    r->unparsed_uri.len = req->uri.len;

    q = ngx_strlchr(req->uri.data, req->uri.data + req->uri.len, '?');

    r->uri.len = q ? (size_t) (q - req->uri.data) : req->uri.len;
    r->uri.data = ts_fuzz_copy(pool, req->uri.data, r->uri.len);

    if (q) {
        r->args.len = req->uri.data + req->uri.len - (q + 1);
        r->args.data = ts_fuzz_copy(pool, q + 1, r->args.len);
    }

#define ts_fuzz_header(field, hname)                                          \
    if (req->field.data) {                                                   \
        h = ngx_list_push(&r->headers_in.headers);                           \
        if (h == NULL) {                                                     \
            abort();                                                         \
        }                                                                    \
        ngx_str_set(&h->key, hname);                                         \
        h->hash = 1;                                                         \
        h->lowcase_key = h->key.data;                                        \
        h->value.len = req->field.len;                                       \
        h->value.data = ts_fuzz_copy(pool, req->field.data, req->field.len); \
        r->headers_in.field = h;                                             \
    }

    ts_fuzz_header(content_type, "Content-Type");
    ts_fuzz_header(if_match, "If-Match");
    ts_fuzz_header(authorization, "Authorization");

    /* the body as nginx's reader leaves it: in memory, read in full */
    r->request_body = ngx_pcalloc(pool, sizeof(ngx_http_request_body_t));
    if (r->request_body == NULL) {
        abort();
    }

    r->headers_in.content_length_n = -1;

    if (req->body.data) {
        r->headers_in.content_length_n = req->body.len;

        b = ngx_calloc_buf(pool);
        cl = ngx_alloc_chain_link(pool);
        if (b == NULL || cl == NULL) {
            abort();
        }

        b->pos = ts_fuzz_copy(pool, req->body.data, req->body.len);
        b->last = b->pos + req->body.len;
        b->start = b->pos;
        b->end = b->last;
        b->temporary = 1;
        b->last_buf = 1;

        cl->buf = b;
        cl->next = NULL;
        r->request_body->bufs = cl;
    }

    return r;
}


void
ts_fuzz_run(ngx_http_request_t *r)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (clcf->handler == NULL) {
        fprintf(stderr, "tunesheap fuzz: the location has no handler\n");
        abort();
    }

    ts_fuzz_finish(r, clcf->handler(r));
}


void
ts_fuzz_finish(ngx_http_request_t *r, ngx_int_t rc)
{
    ngx_str_t  *type;
    yajl_val    tree;
    char        err[128];

    /* as ngx_http_finalize_request() would take it */
    if (rc == NGX_HTTP_INTERNAL_SERVER_ERROR) {
        ts_fuzz_fail(r, "the handler returned 500");
    }

    if (ts_fuzz_status) {
        if (ts_fuzz_status < 200 || ts_fuzz_status > 599) {
            ts_fuzz_fail(r, "an answer's status is not 2xx to 5xx");
        }

        if (ts_fuzz_status == NGX_HTTP_INTERNAL_SERVER_ERROR) {
            ts_fuzz_fail(r, "the answer is a 500");
        }

        type = &r->headers_out.content_type;

        if (type->len < sizeof("application/json") - 1
            || ngx_strncmp(type->data, "application/json",
                           sizeof("application/json") - 1) != 0)
        {
            ts_fuzz_fail(r, "an answer is not application/json");
        }

        if (!r->header_only && ts_fuzz_status != NGX_HTTP_NOT_MODIFIED) {
            if (ts_fuzz_body_len == 0) {
                ts_fuzz_fail(r, "an answer has no body");
            }

            ts_fuzz_body[ts_fuzz_body_len] = '\0';

            tree = yajl_tree_parse((char *) ts_fuzz_body, err, sizeof(err));
            if (tree == NULL) {
                ts_fuzz_fail(r, "an answer's body is not JSON");
            }

            yajl_tree_free(tree);
        }
    }

    ts_fuzz_status = 0;
    ts_fuzz_redirected = 0;
    ts_fuzz_body_len = 0;

    ngx_destroy_pool(r->pool);
}


u_char *
ts_fuzz_copy(ngx_pool_t *pool, const void *data, size_t len)
{
    u_char  *p;

    p = ngx_pnalloc(pool, len ? len : 1);
    if (p == NULL) {
        abort();
    }

    if (len) {
        ngx_memcpy(p, data, len);
    }

    return p;
}


static void
ts_fuzz_fail(ngx_http_request_t *r, const char *why)
{
    fprintf(stderr, "tunesheap fuzz: %s: %.*s %.*s?%.*s -> %lu\n%.*s\n",
            why, (int) r->method_name.len, r->method_name.data,
            (int) r->uri.len, r->uri.data, (int) r->args.len, r->args.data,
            (unsigned long) ts_fuzz_status, (int) ts_fuzz_body_len,
            ts_fuzz_body ? (char *) ts_fuzz_body : "");
    abort();
}


static ngx_int_t
ts_fuzz_header_filter(ngx_http_request_t *r)
{
    if (ts_fuzz_status) {
        ts_fuzz_fail(r, "a second header");
    }

    ts_fuzz_status = r->headers_out.status;
    r->header_sent = 1;

    return NGX_OK;
}


static ngx_int_t
ts_fuzz_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    size_t      len, size;
    u_char     *p;
    ngx_buf_t  *b;

    if (ts_fuzz_status == 0) {
        ts_fuzz_fail(r, "a body before its header");
    }

    for ( /* void */ ; in; in = in->next) {
        b = in->buf;

        if (b->in_file || !ngx_buf_in_memory(b)) {
            ts_fuzz_fail(r, "a body in a file");
        }

        len = b->last - b->pos;

        if (ts_fuzz_body_len + len + 1 > ts_fuzz_body_size) {
            size = 2 * (ts_fuzz_body_len + len + 1);
            p = realloc(ts_fuzz_body, size);
            if (p == NULL) {
                abort();
            }

            ts_fuzz_body = p;
            ts_fuzz_body_size = size;
        }

        ngx_memcpy(ts_fuzz_body + ts_fuzz_body_len, b->pos, len);
        ts_fuzz_body_len += len;
    }

    return NGX_OK;
}


/* what the module calls of nginx past its handlers: -Wl,--wrap */

void
__wrap_ngx_http_finalize_request(ngx_http_request_t *r, ngx_int_t rc)
{
    if (rc == NGX_HTTP_INTERNAL_SERVER_ERROR) {
        ts_fuzz_fail(r, "finalized with 500");
    }
}


void
__wrap_ngx_http_run_posted_requests(ngx_connection_t *c)
{
}


void
__wrap_ngx_http_core_run_phases(ngx_http_request_t *r)
{
}


ngx_int_t
__wrap_ngx_http_internal_redirect(ngx_http_request_t *r, ngx_str_t *uri,
    ngx_str_t *args)
{
    u_char  *p;

    /* read them all, as nginx would */
    p = ngx_pnalloc(r->pool, uri->len + (args ? args->len : 0) + 1);
    if (p == NULL) {
        abort();
    }

    ngx_memcpy(p, uri->data, uri->len);

    if (args && args->len) {
        ngx_memcpy(p + uri->len, args->data, args->len);
    }

    ts_fuzz_redirected = 1;

    return NGX_DONE;
}


ngx_int_t
__wrap_ts_auth_check(ngx_http_request_t *r, const char *scope,
    const char **message)
{
    if (ts_fuzz_real_auth) {
        return __real_ts_auth_check(r, scope, message);
    }

    return NGX_OK;
}
