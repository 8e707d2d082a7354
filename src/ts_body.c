
/*
 * Tunesheap: the JSON body of a request, read by nginx's nonblocking
 * reader (a chunked one counted as it comes) and parsed with yajl.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ts_module.h"
#include "ts_json.h"
#include "ts_http.h"
#include "ts_body.h"


static ngx_int_t ts_body_filter(ngx_http_request_t *r, ngx_chain_t *in);
static ngx_int_t ts_body_is_json(ngx_http_request_t *r);


static ngx_http_request_body_filter_pt  ts_body_next_filter;


ngx_int_t
ts_body_read_json(ngx_http_request_t *r,
    ngx_http_client_body_handler_pt handler)
{
    ngx_int_t          rc;
    ts_loc_conf_t     *tlcf;
    ts_request_ctx_t  *rctx;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_tunesheap_module);

    if (!ts_body_is_json(r)) {
        if (ngx_http_discard_request_body(r) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ts_http_send_error(r, NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                  "Content-Type must be application/json");
    }

    if (r->headers_in.content_length_n > (off_t) tlcf->max_body) {
        if (ngx_http_discard_request_body(r) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ts_http_send_error(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                  "the body is larger than %uz bytes",
                                  tlcf->max_body);
    }

    /* a chunked body has no length to refuse: it is counted as it comes */
    if (r->headers_in.chunked) {
        rctx = ts_request_ctx(r);
        if (rctx == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        rctx->json_max = tlcf->max_body;
    }

    rc = ngx_http_read_client_request_body(r, handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


ngx_int_t
ts_body_init(ngx_conf_t *cf)
{
    ts_body_next_filter = ngx_http_top_request_body_filter;
    ngx_http_top_request_body_filter = ts_body_filter;

    return NGX_OK;
}


/*
 * A chunked JSON body is counted as nginx decodes it (the location's
 * client_max_body_size is the audio's, 60 MB): once what arrived, with
 * the rest of the chunk being read, is past the limit, the reading ends
 * there, as if the body were whole, and ts_body_json() answers 413.
 * What the client still sends is never read: the connection is not kept,
 * and nginx's lingering close lets the client see the answer.
 */
static ngx_int_t
ts_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    off_t                     got;
    ngx_buf_t                *b;
    ngx_chain_t              *cl, last;
    ts_request_ctx_t         *rctx;
    ngx_http_request_body_t  *rb;

    rctx = ngx_http_get_module_ctx(r, ngx_tunesheap_module);
    rb = r->request_body;

    if (rctx == NULL || rctx->json_max == 0 || rb == NULL
        || !r->headers_in.chunked)
    {
        return ts_body_next_filter(r, in);
    }

    if (rctx->json_over) {
        /* nothing more is taken */
        for (cl = in; cl; cl = cl->next) {
            cl->buf->pos = cl->buf->last;
        }

        return NGX_OK;
    }

    /* decoded so far, and what the chunk being read still announces */
    got = r->headers_in.content_length_n;

    if (rb->chunked) {
        got += rb->chunked->size;
    }

    if (got <= (off_t) rctx->json_max) {
        return ts_body_next_filter(r, in);
    }

    rctx->json_over = 1;

    for (cl = in; cl; cl = cl->next) {
        cl->buf->pos = cl->buf->last;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last_buf = 1;
    last.buf = b;
    last.next = NULL;

    rb->rest = 0;
    r->keepalive = 0;
    r->lingering_close = 1;

    return ts_body_next_filter(r, &last);
}


yajl_val
ts_body_json(ngx_http_request_t *r, ngx_int_t *rc)
{
    yajl_val           tree;
    ngx_str_t          text;
    const char        *err;
    ts_loc_conf_t     *tlcf;
    ts_request_ctx_t  *rctx;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_tunesheap_module);

    rctx = ts_request_ctx(r);

    if (rctx == NULL || ts_body_text(r, &text) != NGX_OK) {
        *rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NULL;
    }

    if (rctx->json_over || text.len > tlcf->max_body) {
        *rc = ts_http_send_error(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                 "the body is larger than %uz bytes",
                                 tlcf->max_body);
        return NULL;
    }

    if (text.len == 0) {
        *rc = ts_http_send_error(r, NGX_HTTP_BAD_REQUEST,
                                 "a JSON body is required");
        return NULL;
    }

    tree = ts_json_parse(r->pool, &text, &err);
    if (tree == NULL) {
        *rc = ts_http_send_error(r, NGX_HTTP_BAD_REQUEST, "%s", err);
    }

    return tree;
}


/* the whole body in one piece, NUL-terminated */
ngx_int_t
ts_body_text(ngx_http_request_t *r, ngx_str_t *text)
{
    u_char       *p;
    size_t        len;
    ssize_t       n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    text->len = 0;
    text->data = (u_char *) "";

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        return NGX_OK;
    }

    len = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;
        len += b->in_file ? (size_t) (b->file_last - b->file_pos)
                          : (size_t) (b->last - b->pos);
    }

    p = ngx_pnalloc(r->pool, len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    text->data = p;
    text->len = len;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (!b->in_file) {
            p = ngx_cpymem(p, b->pos, b->last - b->pos);
            continue;
        }

        /* a body past client_body_buffer_size: nginx's own temp file */
        n = ngx_read_file(b->file, p, b->file_last - b->file_pos,
                          b->file_pos);
        if (n != b->file_last - b->file_pos) {
            return NGX_ERROR;
        }

        p += n;
    }

    *p = '\0';

    return NGX_OK;
}


/* application/json, with parameters or not */
static ngx_int_t
ts_body_is_json(ngx_http_request_t *r)
{
    u_char     *p, *end;
    ngx_str_t  *type;

    if (r->headers_in.content_type == NULL) {
        return 0;
    }

    type = &r->headers_in.content_type->value;
    p = type->data;
    end = p + type->len;

    while (p < end && *p != ';' && *p != ' ') {
        p++;
    }

    return (size_t) (p - type->data) == sizeof("application/json") - 1
           && ngx_strncasecmp(type->data, (u_char *) "application/json",
                              sizeof("application/json") - 1) == 0;
}
