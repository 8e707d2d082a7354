
/*
 * Tunesheap: media's directives and the merge of its configuration.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ts_module.h"
#include "ts_http.h"
#include "ts_resource.h"
#include "ts_media_conf.h"




void
ts_media_create_conf(ts_media_conf_t *conf)
{
    /*
     * set by ngx_pcalloc():
     *
     *     conf->root = { 0, NULL };
     *     conf->location = { 0, NULL };
     *     conf->secret = { 0, NULL };
     *     conf->cloudfront = { 0, NULL };
     */

    conf->link_ttl = NGX_CONF_UNSET;
    conf->max_size = NGX_CONF_UNSET;
    conf->s3 = NGX_CONF_UNSET_PTR;
    conf->signer = NGX_CONF_UNSET_PTR;
}


char *
ts_media_merge_conf(ngx_conf_t *cf, ts_media_conf_t *prev,
    ts_media_conf_t *conf)
{
    ngx_str_t  key = ngx_string("audio/1-0.mp3"), put = ngx_string("PUT");
    ngx_str_t  url;

    ngx_conf_merge_str_value(conf->root, prev->root, "");
    ngx_conf_merge_str_value(conf->location, prev->location,
                             "/_tunesheap_media/");
    ngx_conf_merge_str_value(conf->secret, prev->secret, "");
    ngx_conf_merge_sec_value(conf->link_ttl, prev->link_ttl, 3600);
    ngx_conf_merge_off_value(conf->max_size, prev->max_size,
                             50 * 1024 * 1024);
    ngx_conf_merge_ptr_value(conf->s3, prev->s3, NULL);
    ngx_conf_merge_ptr_value(conf->signer, prev->signer, NULL);
    ngx_conf_merge_str_value(conf->cloudfront, prev->cloudfront, "");

    /* relative to the prefix, as root and alias are */
    if (conf->root.len
        && ngx_conf_full_name(cf->cycle, &conf->root, 0) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    while (conf->root.len > 1 && conf->root.data[conf->root.len - 1] == '/') {
        conf->root.len--;
    }

    if (conf->location.len == 0
        || conf->location.data[conf->location.len - 1] != '/')
    {
        return "tunesheap_media_location must end with \"/\"";
    }

    if (conf->root.len && conf->s3 == NULL && conf->secret.len < 16) {
        return "tunesheap_media_root needs a tunesheap_media_secret "
               "of at least 16 characters to sign links";
    }

    if (conf->signer && conf->s3 == NULL) {
        return "tunesheap_media_cloudfront needs tunesheap_media_s3";
    }

    if (conf->s3 == NULL) {
        return NGX_CONF_OK;
    }

    /* what S3 refuses is refused now, not at the first request */
    if (ts_s3_presign(cf->pool, conf->s3, &put, &key, &put, 1, 0,
                      TS_MEDIA_WINDOW + conf->link_ttl, &url)
        != NGX_OK)
    {
        return "tunesheap_media_s3 cannot sign: check the bucket, the "
               "region, the endpoint, and that tunesheap_media_link_ttl "
               "plus 15 minutes is at most a week";
    }

    return NGX_CONF_OK;
}


char *
ts_media_s3_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ts_loc_conf_t  *tlcf = conf;

    char          *env;
    ngx_str_t     *value, *v;
    ngx_uint_t     i;
    ts_s3_conf_t  *s3;

    if (tlcf->media.s3 != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    s3 = ngx_pcalloc(cf->pool, sizeof(ts_s3_conf_t));
    if (s3 == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        v = &value[i];

        if (!ts_http_conf_param(v, "bucket", &s3->bucket)
            && !ts_http_conf_param(v, "region", &s3->region)
            && !ts_http_conf_param(v, "endpoint", &s3->endpoint)
            && !ts_http_conf_param(v, "access_key", &s3->access_key)
            && !ts_http_conf_param(v, "secret_key", &s3->secret_key)
            && !ts_http_conf_param(v, "session_token", &s3->session_token))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\"", &value[i]);
            return NGX_CONF_ERROR;
        }
    }

    if (s3->bucket.len == 0 || s3->region.len == 0) {
        return "needs bucket= and region=";
    }

    /* else the instance's environment, as the AWS tools read it */
    if (s3->access_key.len == 0 && s3->secret_key.len == 0) {
        env = getenv("AWS_ACCESS_KEY_ID");
        if (env) {
            s3->access_key.data = (u_char *) env;
            s3->access_key.len = ngx_strlen(env);
        }

        env = getenv("AWS_SECRET_ACCESS_KEY");
        if (env) {
            s3->secret_key.data = (u_char *) env;
            s3->secret_key.len = ngx_strlen(env);
        }

        env = getenv("AWS_SESSION_TOKEN");
        if (env && s3->session_token.len == 0) {
            s3->session_token.data = (u_char *) env;
            s3->session_token.len = ngx_strlen(env);
        }
    }

    if (s3->access_key.len == 0 || s3->secret_key.len == 0) {
        return "needs access_key= and secret_key=, or AWS_ACCESS_KEY_ID "
               "and AWS_SECRET_ACCESS_KEY in nginx's environment";
    }

    tlcf->media.s3 = s3;

    return NGX_CONF_OK;
}


char *
ts_media_cloudfront_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ts_loc_conf_t  *tlcf = conf;

    u_char           *p;
    ngx_str_t        *value, *v, domain, key;
    ngx_uint_t        i;
    ts_cloudfront_t  *signer;

    if (tlcf->media.signer != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    signer = ngx_pcalloc(cf->pool, sizeof(ts_cloudfront_t));
    if (signer == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_str_null(&domain);
    ngx_str_null(&key);

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        v = &value[i];

        if (!ts_http_conf_param(v, "domain", &domain)
            && !ts_http_conf_param(v, "key_pair_id", &signer->key_pair_id)
            && !ts_http_conf_param(v, "private_key", &key))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\"", &value[i]);
            return NGX_CONF_ERROR;
        }
    }

    if (domain.len == 0 || signer->key_pair_id.len == 0 || key.len == 0) {
        return "needs domain=, key_pair_id= and private_key=";
    }

    for (p = domain.data; p < domain.data + domain.len; p++) {
        if (!(*p == '-' || *p == '.' || (*p >= '0' && *p <= '9')
              || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
        {
            return "needs a host name as domain=";
        }
    }

    if (ts_cloudfront_load_key(cf, &key, signer) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    tlcf->media.cloudfront.len = sizeof("https:///") - 1 + domain.len;
    tlcf->media.cloudfront.data = ngx_pnalloc(cf->pool,
                                              tlcf->media.cloudfront.len);
    if (tlcf->media.cloudfront.data == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_sprintf(tlcf->media.cloudfront.data, "https://%V/", &domain);

    tlcf->media.signer = signer;

    return NGX_CONF_OK;
}

