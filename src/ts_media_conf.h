
/*
 * Tunesheap: media's configuration: where audio is kept (files under a
 * root, or S3 behind CloudFront), how links are signed, its directives.
 */


#ifndef _TS_MEDIA_CONF_H_INCLUDED_
#define _TS_MEDIA_CONF_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ts_sign.h"


typedef struct {
    ngx_str_t            root;          /* local files; empty: none */
    ngx_str_t            location;      /* the internal location for root */
    ngx_str_t            secret;        /* signs local links */
    time_t               link_ttl;
    off_t                max_size;      /* of an upload */
    ts_s3_conf_t        *s3;            /* NULL: files under root */
    ngx_str_t            cloudfront;    /* "https://domain/", or empty */
    ts_cloudfront_t     *signer;
} ts_media_conf_t;


void ts_media_create_conf(ts_media_conf_t *conf);
char *ts_media_merge_conf(ngx_conf_t *cf, ts_media_conf_t *prev,
    ts_media_conf_t *conf);

/* tunesheap_media_s3 bucket=B region=R [endpoint=URL] [access_key= ...] */
char *ts_media_s3_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);

/* tunesheap_media_cloudfront domain=D key_pair_id=K private_key=FILE */
char *ts_media_cloudfront_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


#endif /* _TS_MEDIA_CONF_H_INCLUDED_ */
