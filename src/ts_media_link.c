
/*
 * Tunesheap: links to an item's audio.  Local files: the stream endpoint
 * with an HMAC of our own, checked when followed.  S3: CloudFront's (or
 * S3's) signed URLs, kept by the worker for the window they are made in.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <openssl/crypto.h>

#include "ts_module.h"
#include "ts_json.h"
#include "ts_http.h"
#include "ts_media_ctx.h"
#include "ts_media_types.h"
#include "ts_media_link.h"


static ngx_int_t ts_media_local_signature(ngx_http_request_t *r,
    ngx_str_t *id, time_t expires, ngx_str_t *key, ngx_str_t *sig);


/*
 * Signed CloudFront and S3 links depend only on the location's media
 * configuration, the object's key and the window: a worker keeps the
 * last TS_MEDIA_LINKS it made, direct-mapped by a hash of (conf, key),
 * so a page of items is signed once a window, not once an answer.  An
 * entry is used only when conf, window and the key's bytes all match;
 * its memory is the worker's own (ngx_alloc), freed when replaced.
 */

#define TS_MEDIA_LINKS  1024

typedef struct {
    void        *conf;
    time_t       window;
    ngx_str_t    key;
    ngx_str_t    url;
    u_char      *data;           /* key then url, one allocation */
} ts_media_link_t;


static ts_media_link_t  ts_media_links[TS_MEDIA_LINKS];


/* at worker exit: the links kept are ngx_alloc'd, outside any pool */
void
ts_media_exit_process(void)
{
    ngx_uint_t  i;

    for (i = 0; i < TS_MEDIA_LINKS; i++) {
        if (ts_media_links[i].data) {
            ngx_free(ts_media_links[i].data);
            ts_media_links[i].data = NULL;
        }
    }
}


static ts_media_link_t *
ts_media_link_slot(void *conf, ngx_str_t *key)
{
    uintptr_t   h;

    h = (uintptr_t) conf;
    h = ngx_hash(h, ngx_hash_key(key->data, key->len));

    return &ts_media_links[(h ^ (h >> 16)) % TS_MEDIA_LINKS];
}


static ngx_int_t
ts_media_link_cached(ngx_http_request_t *r, void *conf, ngx_str_t *key,
    time_t window, ngx_str_t *url)
{
    ts_media_link_t  *e;

    e = ts_media_link_slot(conf, key);

    if (e->data == NULL || e->conf != conf || e->window != window
        || e->key.len != key->len
        || ngx_memcmp(e->key.data, key->data, key->len) != 0)
    {
        return NGX_DECLINED;
    }

    url->data = ngx_pnalloc(r->pool, e->url.len);
    if (url->data == NULL) {
        return NGX_ERROR;
    }

    url->len = e->url.len;
    ngx_memcpy(url->data, e->url.data, url->len);

    return NGX_OK;
}


/* a failure to keep a link only costs a signature later */
static void
ts_media_link_keep(ngx_http_request_t *r, void *conf, ngx_str_t *key,
    time_t window, ngx_str_t *url)
{
    u_char           *data;
    ts_media_link_t  *e;

    e = ts_media_link_slot(conf, key);

    data = ngx_alloc(key->len + url->len, r->connection->log);
    if (data == NULL) {
        return;
    }

    if (e->data) {
        ngx_free(e->data);
    }

    e->conf = conf;
    e->window = window;
    e->data = data;
    e->key.data = data;
    e->key.len = key->len;
    e->url.data = ngx_cpymem(data, key->data, key->len);
    e->url.len = url->len;
    ngx_memcpy(e->url.data, url->data, url->len);
}


/* the link to an item's audio made in the window starting at window */
ngx_int_t
ts_media_link(ngx_http_request_t *r, ts_resource_t *rs, ngx_str_t *id,
    time_t window, ngx_str_t *key, ngx_str_t *url)
{
    time_t            expires;
    ngx_int_t         rc;
    ngx_str_t         sig, plain, get = ngx_string("GET"), none;
    ts_loc_conf_t    *tlcf;
    ts_media_conf_t  *mc;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_tunesheap_module);
    mc = &tlcf->media;

    expires = window + TS_MEDIA_WINDOW + mc->link_ttl;

    if (mc->s3 == NULL) {
        if (ts_media_local_signature(r, id, expires, key, &sig) != NGX_OK) {
            return NGX_ERROR;
        }

        url->data = ngx_pnalloc(r->pool, tlcf->base.len + rs->name.len
                                         + id->len + key->len + sig.len
                                         + NGX_TIME_T_LEN
                                         + sizeof("//stream?expires="
                                                  "&key=&signature="));
        if (url->data == NULL) {
            return NGX_ERROR;
        }

        url->len = ngx_sprintf(url->data,
                               "%V%V/%V/stream?expires=%T&key=%V"
                               "&signature=%V",
                               &tlcf->base, &rs->name, id, expires, key,
                               &sig)
                   - url->data;

        return NGX_OK;
    }

    rc = ts_media_link_cached(r, mc, key, window, url);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "tunesheap media: link of \"%V\" %s", key,
                   (rc == NGX_OK) ? "kept" : "signed now");

    if (rc != NGX_DECLINED) {
        return rc;
    }

    if (mc->signer) {
        plain.len = mc->cloudfront.len + key->len;
        plain.data = ngx_pnalloc(r->pool, plain.len);
        if (plain.data == NULL) {
            return NGX_ERROR;
        }

        ngx_sprintf(plain.data, "%V%V", &mc->cloudfront, key);

        if (ts_cloudfront_sign(r->pool, mc->signer, &plain, expires, url)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

    } else {
        /* S3 itself, presigned from the window's start: the same all along */
        ngx_str_null(&none);

        if (ts_s3_presign(r->pool, mc->s3, &get, key, &none, -1, window,
                          TS_MEDIA_WINDOW + mc->link_ttl, url)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    ts_media_link_keep(r, mc, key, window, url);

    return NGX_OK;
}


/*
 * HMAC-SHA256 of "id:expires[:key]" with tunesheap_media_secret; a link
 * without a key has the stream endpoint ask Postgres for the file
 */
static ngx_int_t
ts_media_local_signature(ngx_http_request_t *r, ngx_str_t *id,
    time_t expires, ngx_str_t *key, ngx_str_t *sig)
{
    u_char          *p;
    ngx_str_t        text;
    ts_loc_conf_t   *tlcf;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_tunesheap_module);

    text.data = ngx_pnalloc(r->pool, id->len + NGX_TIME_T_LEN + key->len + 2);
    if (text.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(text.data, "%V:%T", id, expires);

    if (key->len) {
        p = ngx_sprintf(p, ":%V", key);
    }

    text.len = p - text.data;

    return ts_sign_hmac(r->pool, &tlcf->media.secret, &text, sig);
}


/* a signed link: NULL if it is good, else why it is not */
const char *
ts_media_verify(ts_media_ctx_t *ctx)
{
    int64_t              expires;
    ngx_int_t            rc;
    ngx_str_t            arg, sig, good, key;
    ngx_http_request_t  *r;

    r = ctx->request;

    if (ts_http_arg(r, "expires", &arg) != NGX_OK
        || ts_http_arg(r, "signature", &sig) != NGX_OK
        || ts_http_parse_int(&arg, &expires) != NGX_OK
        || expires > NGX_MAX_INT32_VALUE)
    {
        return "this link needs expires and signature, as stream_url "
               "gives them";
    }

    /* the file the link was made for, signed with the rest */
    rc = ts_http_arg(r, "key", &key);

    if (rc == NGX_DECLINED) {
        ngx_str_null(&key);
    }

    if (rc == NGX_ERROR
        || (rc == NGX_OK && ts_media_key_type(ctx, "", &key) == NULL)
        || ts_media_local_signature(r, &ctx->route.id, (time_t) expires,
                                    &key, &good)
           != NGX_OK
        || sig.len != good.len
        || CRYPTO_memcmp(sig.data, good.data, good.len) != 0)
    {
        return "this link's signature is not valid";
    }

    if ((time_t) expires < ngx_time()) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "tunesheap media: link expired at %T",
                       (time_t) expires);
        return "this link has expired";
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "tunesheap media: link good until %T, key \"%V\"",
                   (time_t) expires, &key);

    ctx->expires = (time_t) expires;
    ctx->key = key;

    return NULL;
}


yajl_gen_status
ts_media_stream_json(ngx_http_request_t *r, yajl_gen g, ts_resource_t *rs,
    ngx_str_t *values)
{
    int64_t          window;
    ngx_str_t        url;
    ts_loc_conf_t   *tlcf;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_tunesheap_module);

    /* values: TS_MEDIA_STREAM_FIELDS */
    if (ts_http_parse_int(&values[1], &window) != NGX_OK
        || (tlcf->media.root.len == 0 && tlcf->media.s3 == NULL))
    {
        return yajl_gen_null(g);
    }

    if (ts_media_link(r, rs, &values[0], (time_t) window, &values[2], &url)
        != NGX_OK)
    {
        return yajl_gen_invalid_string;
    }

    return ts_json_str(g, &url);
}
