
/*
 * Tunesheap: signed URLs.  S3 SigV4 query-string presigning (a client
 * PUTs or GETs an object directly), CloudFront canned-policy URLs, and
 * HMAC-SHA256 tokens for our own links.  Everything is allocated from
 * the pool given; nothing is logged.
 */


#ifndef _TS_SIGN_H_INCLUDED_
#define _TS_SIGN_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <openssl/evp.h>


typedef struct {
    ngx_str_t   bucket;
    ngx_str_t   region;          /* e.g. us-east-1 */
    ngx_str_t   endpoint;        /* empty: AWS; else "http[s]://host[:port]"
                                    (no path), path style: .../bucket/key */
    ngx_str_t   access_key;
    ngx_str_t   secret_key;
    ngx_str_t   session_token;   /* empty: none */
} ts_s3_conf_t;


typedef struct {
    ngx_str_t   key_pair_id;
    EVP_PKEY   *key;             /* RSA, freed with the cycle's pool */
} ts_cloudfront_t;


/*
 * The URL of method (PUT, GET) on key, valid for expires seconds from
 * now, byte for byte as botocore 1.29 presigns it (t/tools/presign.py).
 * A content_type that is not empty is signed: the client must send it;
 * so is a length that is not negative: the body must be that long.
 * Without an endpoint the host is botocore's for the aws partition:
 * bucket.s3.amazonaws.com, whatever the region; a bucket with dots goes
 * path style.  NGX_DECLINED: a bucket name AWS would not accept, a
 * region outside botocore's aws partition (cn-, us-gov, us-iso), an
 * endpoint with a path, an expiry over a week, a content type with
 * controls or non-ASCII.
 */
ngx_int_t ts_s3_presign(ngx_pool_t *pool, ts_s3_conf_t *s3,
    ngx_str_t *method, ngx_str_t *key, ngx_str_t *content_type, off_t length,
    time_t now, ngx_uint_t expires, ngx_str_t *url);

/* a GET of a range of an object, signed in its headers (SigV4) */
typedef struct {
    ngx_str_t   url;             /* endpoint and path: no signature in it */
    ngx_str_t   range;           /* "bytes=A-B" */
    ngx_str_t   date;            /* X-Amz-Date */
    ngx_str_t   authorization;   /* Authorization */
    ngx_str_t   token;           /* X-Amz-Security-Token; empty: none */
} ts_s3_request_t;

/*
 * A GET of bytes [offset, offset + len) of key, signed now with the
 * Authorization header, as S3 takes it from a server: the signature goes
 * in a header, never in a URL nginx might log.  Host is the URL's, as
 * nginx's proxy sends it; X-Amz-Content-Sha256 is UNSIGNED-PAYLOAD.
 */
ngx_int_t ts_s3_sign_get(ngx_pool_t *pool, ts_s3_conf_t *s3, ngx_str_t *key,
    off_t offset, size_t len, time_t now, ts_s3_request_t *req);

/*
 * Loads a PEM RSA private key (path relative to the configuration
 * prefix) at configuration time; the key lives as long as cf->pool.
 * Logs its own error and returns NGX_ERROR on failure.
 */
ngx_int_t ts_cloudfront_load_key(ngx_conf_t *cf, ngx_str_t *path,
    ts_cloudfront_t *cfs);

/*
 * url + "?Expires=E&Signature=S&Key-Pair-Id=K" ("&Expires=" if url has a
 * query already), signed with a canned policy: RSA-SHA1, CloudFront's
 * base64.  NGX_DECLINED: url has characters a policy cannot hold as is
 * (quotes, backslashes, controls, non-ASCII).
 */
ngx_int_t ts_cloudfront_sign(ngx_pool_t *pool, ts_cloudfront_t *cfs,
    ngx_str_t *url, time_t expires, ngx_str_t *signed_url);

/* base64url (no padding) of HMAC-SHA256(secret, text) */
ngx_int_t ts_sign_hmac(ngx_pool_t *pool, ngx_str_t *secret, ngx_str_t *text,
    ngx_str_t *out);


#endif /* _TS_SIGN_H_INCLUDED_ */
