
/*
 * Tunesheap: signed URLs.
 *
 * S3: a SigV4 presigned URL exactly as botocore 1.29 (Debian 12) builds
 * it, so that t/tools/presign.py can check it byte for byte: the host is
 * the global bucket.s3.amazonaws.com for every region of the aws partition
 * (botocore presigns there), or path style on a given endpoint; the key is
 * URI-encoded (RFC 3986 unreserved and '/' kept); the headers signed are
 * host, and content-type when given; the payload is UNSIGNED-PAYLOAD.
 *
 * CloudFront: a canned policy signed RSA-SHA1 with the key pair's private
 * key, in CloudFront's base64 ('+' '=' '/' become '-' '_' '~').
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "ts_http.h"
#include "ts_sign.h"


#define TS_S3_EXPIRES_MAX   604800
#define TS_S3_ALGORITHM     "AWS4-HMAC-SHA256"
#define TS_S3_SCOPE_TAIL    "/s3/aws4_request"

#define TS_CF_POLICY_HEAD   "{\"Statement\":[{\"Resource\":\""
#define TS_CF_POLICY_MID    "\",\"Condition\":{\"DateLessThan\":" \
                            "{\"AWS:EpochTime\":"
#define TS_CF_POLICY_TAIL   "}}}]}"


typedef enum {
    ts_s3_bucket_invalid = 0,
    ts_s3_bucket_vhost,              /* a DNS label: bucket.s3... */
    ts_s3_bucket_path                /* has dots: s3.../bucket */
} ts_s3_bucket_e;


static ngx_int_t ts_s3_origin(ngx_pool_t *pool, ts_s3_conf_t *s3,
    ngx_str_t *base, ngx_str_t *host, ngx_uint_t *bucket_in_path);
static void ts_s3_date(time_t now, u_char *date);
static ngx_int_t ts_s3_endpoint(ngx_pool_t *pool, ts_s3_conf_t *s3,
    ngx_str_t *base, ngx_str_t *host);
static ngx_int_t ts_s3_aws(ngx_pool_t *pool, ts_s3_conf_t *s3,
    ngx_str_t *base, ngx_str_t *host, ngx_uint_t *bucket_in_path);
static ts_s3_bucket_e ts_s3_bucket_style(ngx_str_t *bucket);
static ngx_int_t ts_s3_escape(ngx_pool_t *pool, ngx_str_t *src,
    ngx_uint_t slash, ngx_str_t *dst);
static ngx_int_t ts_s3_header_value(ngx_pool_t *pool, ngx_str_t *src,
    ngx_str_t *dst);
static ngx_int_t ts_s3_signature(ngx_pool_t *pool, ts_s3_conf_t *s3,
    u_char *date, ngx_str_t *sts, u_char *hex);
static int ts_cloudfront_no_password(char *buf, int size, int rwflag,
    void *u);
static void ts_cloudfront_free_key(void *data);


ngx_int_t
ts_s3_presign(ngx_pool_t *pool, ts_s3_conf_t *s3, ngx_str_t *method,
    ngx_str_t *key, ngx_str_t *content_type, off_t length, time_t now,
    ngx_uint_t expires, ngx_str_t *url)
{
    u_char       *p, *last;
    u_char        date[sizeof("20231114T221320Z")];
    u_char        hash[2 * 32 + 1], sig[2 * 32 + 1];
    u_char        md[EVP_MAX_MD_SIZE];
    size_t        len;
    ngx_int_t     rc;
    ngx_str_t     base, host, path, object, scope, cred, token, query;
    ngx_str_t     ctype, signed_headers, esigned, creq, sts;
    ngx_uint_t    bucket_in_path;
    unsigned int  mdlen;

    if (key->len == 0 || expires > TS_S3_EXPIRES_MAX) {
        return NGX_DECLINED;
    }

    rc = ts_s3_origin(pool, s3, &base, &host, &bucket_in_path);
    if (rc != NGX_OK) {
        return rc;
    }

    ts_s3_date(now, date);

    /* the path: [/bucket]/key, encoded once, as sent and as signed */

    if (ts_s3_escape(pool, key, 1, &object) != NGX_OK) {
        return NGX_ERROR;
    }

    len = 1 + object.len;
    if (bucket_in_path) {
        len += 1 + s3->bucket.len;
    }

    path.data = ngx_pnalloc(pool, len);
    if (path.data == NULL) {
        return NGX_ERROR;
    }

    p = path.data;
    if (bucket_in_path) {
        p = ngx_sprintf(p, "/%V", &s3->bucket);
    }
    p = ngx_sprintf(p, "/%V", &object);
    path.len = p - path.data;

    /* YYYYMMDD/region/s3/aws4_request */

    scope.len = 8 + 1 + s3->region.len + sizeof(TS_S3_SCOPE_TAIL) - 1;
    scope.data = ngx_pnalloc(pool, scope.len);
    if (scope.data == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(scope.data, "%*s/%V" TS_S3_SCOPE_TAIL,
                (size_t) 8, date, &s3->region);

    len = s3->access_key.len + 1 + scope.len;
    cred.data = ngx_pnalloc(pool, len);
    if (cred.data == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(cred.data, "%V/%V", &s3->access_key, &scope);
    cred.len = len;

    if (ts_s3_escape(pool, &cred, 0, &cred) != NGX_OK
        || ts_s3_escape(pool, &s3->session_token, 0, &token) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (content_type->len) {
        rc = ts_s3_header_value(pool, content_type, &ctype);
        if (rc != NGX_OK) {
            return rc;
        }

    } else {
        ngx_str_null(&ctype);
    }

    /* the headers signed, sorted: content-length, content-type, host */
    if (length >= 0 && ctype.len) {
        ngx_str_set(&signed_headers, "content-length;content-type;host");
        ngx_str_set(&esigned, "content-length%3Bcontent-type%3Bhost");

    } else if (length >= 0) {
        ngx_str_set(&signed_headers, "content-length;host");
        ngx_str_set(&esigned, "content-length%3Bhost");

    } else if (ctype.len) {
        ngx_str_set(&signed_headers, "content-type;host");
        ngx_str_set(&esigned, "content-type%3Bhost");

    } else {
        ngx_str_set(&signed_headers, "host");
        ngx_str_set(&esigned, "host");
    }

    /* the parameters before X-Amz-Security-Token, in both orders */

    len = sizeof("X-Amz-Algorithm=" TS_S3_ALGORITHM "&X-Amz-Credential=") - 1
          + cred.len + sizeof("&X-Amz-Date=") - 1 + sizeof(date) - 1
          + sizeof("&X-Amz-Expires=") - 1 + NGX_INT_T_LEN;

    query.data = ngx_pnalloc(pool, len);
    if (query.data == NULL) {
        return NGX_ERROR;
    }

    last = ngx_sprintf(query.data,
                       "X-Amz-Algorithm=" TS_S3_ALGORITHM
                       "&X-Amz-Credential=%V&X-Amz-Date=%s&X-Amz-Expires=%ui",
                       &cred, date, expires);
    query.len = last - query.data;

    /*
     * The canonical request: its query sorted by name (Security-Token
     * before SignedHeaders), then its headers sorted, a blank line, the
     * names of the headers signed, the payload's hash.
     */

    len = method->len + 1 + path.len + 1 + query.len
          + sizeof("&X-Amz-Security-Token=") - 1 + token.len
          + sizeof("&X-Amz-SignedHeaders=") - 1 + esigned.len + 1
          + sizeof("content-length:\n") - 1 + NGX_OFF_T_LEN
          + sizeof("content-type:\n") - 1 + ctype.len
          + sizeof("host:\n\n") - 1 + host.len
          + signed_headers.len + sizeof("\nUNSIGNED-PAYLOAD") - 1;

    creq.data = ngx_pnalloc(pool, len);
    if (creq.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(creq.data, "%V\n%V\n%V", method, &path, &query);

    if (token.len) {
        p = ngx_sprintf(p, "&X-Amz-Security-Token=%V", &token);
    }

    p = ngx_sprintf(p, "&X-Amz-SignedHeaders=%V\n", &esigned);

    if (length >= 0) {
        p = ngx_sprintf(p, "content-length:%O\n", length);
    }

    if (ctype.len) {
        p = ngx_sprintf(p, "content-type:%V\n", &ctype);
    }

    p = ngx_sprintf(p, "host:%V\n\n%V\nUNSIGNED-PAYLOAD",
                    &host, &signed_headers);
    creq.len = p - creq.data;

    if (EVP_Digest(creq.data, creq.len, md, &mdlen, EVP_sha256(), NULL) != 1)
    {
        return NGX_ERROR;
    }

    *ngx_hex_dump(hash, md, mdlen) = '\0';

    /* the string to sign */

    len = sizeof(TS_S3_ALGORITHM "\n") - 1 + sizeof(date) - 1 + 1
          + scope.len + 1 + 2 * 32;

    sts.data = ngx_pnalloc(pool, len);
    if (sts.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(sts.data, TS_S3_ALGORITHM "\n%s\n%V\n%s",
                    date, &scope, hash);
    sts.len = p - sts.data;

    if (ts_s3_signature(pool, s3, date, &sts, sig) != NGX_OK) {
        return NGX_ERROR;
    }

    /* the URL: botocore's order, Security-Token after SignedHeaders */

    len = base.len + path.len + 1 + query.len
          + sizeof("&X-Amz-SignedHeaders=") - 1 + esigned.len
          + sizeof("&X-Amz-Security-Token=") - 1 + token.len
          + sizeof("&X-Amz-Signature=") - 1 + 2 * 32;

    url->data = ngx_pnalloc(pool, len);
    if (url->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(url->data, "%V%V?%V&X-Amz-SignedHeaders=%V",
                    &base, &path, &query, &esigned);

    if (token.len) {
        p = ngx_sprintf(p, "&X-Amz-Security-Token=%V", &token);
    }

    p = ngx_sprintf(p, "&X-Amz-Signature=%s", sig);
    url->len = p - url->data;

    return NGX_OK;
}


ngx_int_t
ts_s3_sign_get(ngx_pool_t *pool, ts_s3_conf_t *s3, ngx_str_t *key,
    off_t offset, size_t len, time_t now, ts_s3_request_t *req)
{
    u_char         *p;
    u_char          date[sizeof("20231114T221320Z")];
    u_char          hash[2 * 32 + 1], sig[2 * 32 + 1];
    u_char          md[EVP_MAX_MD_SIZE];
    size_t          size;
    ngx_int_t       rc;
    ngx_str_t       base, host, object, creq, sts, signed_headers;
    ngx_uint_t      bucket_in_path;
    unsigned int    mdlen;

    if (key->len == 0 || len == 0) {
        return NGX_DECLINED;
    }

    rc = ts_s3_origin(pool, s3, &base, &host, &bucket_in_path);
    if (rc != NGX_OK) {
        return rc;
    }

    if (s3->session_token.len) {
        rc = ts_s3_header_value(pool, &s3->session_token, &req->token);
        if (rc != NGX_OK) {
            return rc;
        }

        ngx_str_set(&signed_headers,
                    "host;range;x-amz-content-sha256;x-amz-date;"
                    "x-amz-security-token");

    } else {
        ngx_str_null(&req->token);
        ngx_str_set(&signed_headers,
                    "host;range;x-amz-content-sha256;x-amz-date");
    }

    ts_s3_date(now, date);

    req->date.len = sizeof(date) - 1;
    req->date.data = ngx_pnalloc(pool, req->date.len);
    req->range.data = ngx_pnalloc(pool, sizeof("bytes=-") - 1
                                        + 2 * NGX_OFF_T_LEN);
    if (req->date.data == NULL || req->range.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(req->date.data, date, req->date.len);
    req->range.len = ngx_sprintf(req->range.data, "bytes=%O-%O", offset,
                                 offset + (off_t) len - 1)
                     - req->range.data;

    /* the URL: [/bucket]/key, encoded once, as sent and as signed */

    if (ts_s3_escape(pool, key, 1, &object) != NGX_OK) {
        return NGX_ERROR;
    }

    size = base.len + 2 + s3->bucket.len + object.len;

    req->url.data = ngx_pnalloc(pool, size);
    if (req->url.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(req->url.data, base.data, base.len);

    if (bucket_in_path) {
        p = ngx_sprintf(p, "/%V", &s3->bucket);
    }

    p = ngx_sprintf(p, "/%V", &object);
    req->url.len = p - req->url.data;

    /* the canonical request: no query, the headers signed, sorted */

    size = sizeof("GET\n\n\n") - 1 + (p - req->url.data - base.len)
           + sizeof("host:\n") - 1 + host.len
           + sizeof("range:\n") - 1 + req->range.len
           + sizeof("x-amz-content-sha256:UNSIGNED-PAYLOAD\n") - 1
           + sizeof("x-amz-date:\n") - 1 + req->date.len
           + sizeof("x-amz-security-token:\n") - 1 + req->token.len
           + sizeof("\n\nUNSIGNED-PAYLOAD") + signed_headers.len;

    creq.data = ngx_pnalloc(pool, size);
    if (creq.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(creq.data, "GET\n%*s\n\nhost:%V\nrange:%V\n"
                    "x-amz-content-sha256:UNSIGNED-PAYLOAD\n"
                    "x-amz-date:%V\n",
                    req->url.len - base.len, req->url.data + base.len,
                    &host, &req->range, &req->date);

    if (req->token.len) {
        p = ngx_sprintf(p, "x-amz-security-token:%V\n", &req->token);
    }

    p = ngx_sprintf(p, "\n%V\nUNSIGNED-PAYLOAD", &signed_headers);
    creq.len = p - creq.data;

    if (EVP_Digest(creq.data, creq.len, md, &mdlen, EVP_sha256(), NULL) != 1)
    {
        return NGX_ERROR;
    }

    *ngx_hex_dump(hash, md, mdlen) = '\0';

    /* the string to sign, then the header */

    size = sizeof(TS_S3_ALGORITHM "\n") - 1 + sizeof(date) + 8
           + s3->region.len + sizeof(TS_S3_SCOPE_TAIL) + 1 + 2 * 32;

    sts.data = ngx_pnalloc(pool, size);
    if (sts.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(sts.data, TS_S3_ALGORITHM "\n%s\n%*s/%V" TS_S3_SCOPE_TAIL
                    "\n%s", date, (size_t) 8, date, &s3->region, hash);
    sts.len = p - sts.data;

    if (ts_s3_signature(pool, s3, date, &sts, sig) != NGX_OK) {
        return NGX_ERROR;
    }

    size = sizeof(TS_S3_ALGORITHM " Credential=") - 1 + s3->access_key.len
           + 1 + 8 + 1 + s3->region.len + sizeof(TS_S3_SCOPE_TAIL) - 1
           + sizeof(", SignedHeaders=") - 1 + signed_headers.len
           + sizeof(", Signature=") - 1 + 2 * 32;

    req->authorization.data = ngx_pnalloc(pool, size);
    if (req->authorization.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(req->authorization.data,
                    TS_S3_ALGORITHM " Credential=%V/%*s/%V" TS_S3_SCOPE_TAIL
                    ", SignedHeaders=%V, Signature=%s",
                    &s3->access_key, (size_t) 8, date, &s3->region,
                    &signed_headers, sig);
    req->authorization.len = p - req->authorization.data;

    return NGX_OK;
}


/* where requests go: the configured endpoint, else AWS */
static ngx_int_t
ts_s3_origin(ngx_pool_t *pool, ts_s3_conf_t *s3, ngx_str_t *base,
    ngx_str_t *host, ngx_uint_t *bucket_in_path)
{
    if (s3->endpoint.len) {
        *bucket_in_path = 1;
        return ts_s3_endpoint(pool, s3, base, host);
    }

    return ts_s3_aws(pool, s3, base, host, bucket_in_path);
}


/* the signing time, ISO 8601 basic: "20231114T221320Z" and a NUL */
static void
ts_s3_date(time_t now, u_char *date)
{
    ngx_tm_t  tm;

    ngx_gmtime(now, &tm);
    ngx_sprintf(date, "%4d%02d%02dT%02d%02d%02dZ%Z",
                tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec);
}


/*
 * Path style on an endpoint.  base: what goes before the path, the
 * endpoint without its trailing '/'; host: the Host header as botocore
 * signs it, lowercase, without a default port.
 */
static ngx_int_t
ts_s3_endpoint(ngx_pool_t *pool, ts_s3_conf_t *s3, ngx_str_t *base,
    ngx_str_t *host)
{
    u_char      c, *p, *end;
    size_t      len;
    ngx_str_t   port;
    ngx_uint_t  i;

    *base = s3->endpoint;

    while (base->len && base->data[base->len - 1] == '/') {
        base->len--;
    }

    end = base->data + base->len;

    if (base->len > 7 && ngx_strncmp(base->data, "http://", 7) == 0) {
        p = base->data + 7;
        ngx_str_set(&port, ":80");

    } else if (base->len > 8
               && ngx_strncmp(base->data, "https://", 8) == 0)
    {
        p = base->data + 8;
        ngx_str_set(&port, ":443");

    } else {
        return NGX_DECLINED;
    }

    /* host[:port] only: a path in the endpoint is not supported */

    len = end - p;

    if (len == 0 || ngx_strlchr(p, end, '/') != NULL) {
        return NGX_DECLINED;
    }

    if (len > port.len
        && ngx_strncmp(p + len - port.len, port.data, port.len) == 0)
    {
        len -= port.len;
    }

    host->len = len;
    host->data = ngx_pnalloc(pool, len);
    if (host->data == NULL) {
        return NGX_ERROR;
    }

    ngx_strlow(host->data, p, len);

    /* what botocore lets through, none of it escaped in the path */

    if (s3->bucket.len == 0 || s3->bucket.len > 255) {
        return NGX_DECLINED;
    }

    for (i = 0; i < s3->bucket.len; i++) {
        c = s3->bucket.data[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '.' || c == '-'
              || c == '_'))
        {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


/*
 * AWS, as botocore presigns there.  base: "https://" and the host, which
 * is bucket.s3.amazonaws.com for a bucket that is a DNS label, whatever
 * the region; else s3[.region].amazonaws.com, the bucket in the path.
 */
static ngx_int_t
ts_s3_aws(ngx_pool_t *pool, ts_s3_conf_t *s3, ngx_str_t *base,
    ngx_str_t *host, ngx_uint_t *bucket_in_path)
{
    u_char          *p;
    size_t           len;
    ngx_uint_t       i;
    ts_s3_bucket_e   style;

    /* botocore's aws partition only: cn-, us-gov-, us-iso regions differ */

    if (s3->region.len == 0
        || (s3->region.len > 3 && ngx_strncmp(s3->region.data, "cn-", 3) == 0)
        || (s3->region.len > 6
            && (ngx_strncmp(s3->region.data, "us-gov", 6) == 0
                || ngx_strncmp(s3->region.data, "us-iso", 6) == 0)))
    {
        return NGX_DECLINED;
    }

    for (i = 0; i < s3->region.len; i++) {
        if (!((s3->region.data[i] >= 'a' && s3->region.data[i] <= 'z')
              || (s3->region.data[i] >= '0' && s3->region.data[i] <= '9')
              || s3->region.data[i] == '-'))
        {
            return NGX_DECLINED;
        }
    }

    style = ts_s3_bucket_style(&s3->bucket);

    if (style == ts_s3_bucket_invalid) {
        return NGX_DECLINED;
    }

    len = sizeof("https://s3..amazonaws.com") - 1
          + ngx_max(s3->bucket.len, s3->region.len);

    base->data = ngx_pnalloc(pool, len);
    if (base->data == NULL) {
        return NGX_ERROR;
    }

    if (style == ts_s3_bucket_vhost) {
        p = ngx_sprintf(base->data, "https://%V.s3.amazonaws.com",
                        &s3->bucket);

    } else if (s3->region.len == sizeof("us-east-1") - 1
               && ngx_strncmp(s3->region.data, "us-east-1", 9) == 0)
    {
        p = ngx_sprintf(base->data, "https://s3.amazonaws.com");

    } else {
        p = ngx_sprintf(base->data, "https://s3.%V.amazonaws.com",
                        &s3->region);
    }

    base->len = p - base->data;

    host->data = base->data + sizeof("https://") - 1;
    host->len = base->len - (sizeof("https://") - 1);

    *bucket_in_path = (style == ts_s3_bucket_path);

    return NGX_OK;
}


/*
 * A bucket botocore puts in the host is a DNS label: 3 to 63 of a-z, 0-9
 * and '-', not at either end.  One with dots (as S3 allows) goes in the
 * path.  Anything else S3 refuses anyway.
 */
static ts_s3_bucket_e
ts_s3_bucket_style(ngx_str_t *bucket)
{
    u_char      c, prev;
    ngx_uint_t  i, dots;

    if (bucket->len < 3 || bucket->len > 63) {
        return ts_s3_bucket_invalid;
    }

    dots = 0;
    prev = '.';

    for (i = 0; i < bucket->len; i++) {
        c = bucket->data[i];

        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
            prev = c;
            continue;
        }

        if (c == '-' && prev != '.') {
            prev = c;
            continue;
        }

        if (c == '.' && prev != '.' && prev != '-') {
            prev = c;
            dots++;
            continue;
        }

        return ts_s3_bucket_invalid;
    }

    if (prev == '-' || prev == '.') {
        return ts_s3_bucket_invalid;
    }

    return dots ? ts_s3_bucket_path : ts_s3_bucket_vhost;
}


/* RFC 3986 unreserved kept (and '/' if slash), the rest %XX uppercase */
static ngx_int_t
ts_s3_escape(ngx_pool_t *pool, ngx_str_t *src, ngx_uint_t slash,
    ngx_str_t *dst)
{
    u_char        c, *d, *p, *s, *end;
    size_t        n;
    static u_char hex[] = "0123456789ABCDEF";

    /* bit set: escape; a-z, A-Z, 0-9, "-._~" clear */
    static uint32_t  escape[] = {
        0xffffffff, /* 1111 1111 1111 1111  1111 1111 1111 1111 */

                    /* ?>=< ;:98 7654 3210  /.-, +*)( '&%$ #"!  */
        0xfc009fff, /* 1111 1100 0000 0000  1001 1111 1111 1111 */

                    /* _^]\ [ZYX WVUT SRQP  ONML KJIH GFED CBA@ */
        0x78000001, /* 0111 1000 0000 0000  0000 0000 0000 0001 */

                    /*  ~}| {zyx wvut srqp  onml kjih gfed cba` */
        0xb8000001, /* 1011 1000 0000 0000  0000 0000 0000 0001 */

        0xffffffff, /* 1111 1111 1111 1111  1111 1111 1111 1111 */
        0xffffffff, /* 1111 1111 1111 1111  1111 1111 1111 1111 */
        0xffffffff, /* 1111 1111 1111 1111  1111 1111 1111 1111 */
        0xffffffff  /* 1111 1111 1111 1111  1111 1111 1111 1111 */
    };

    if (src->len == 0) {
        *dst = *src;
        return NGX_OK;
    }

    end = src->data + src->len;
    n = 0;

    for (s = src->data; s < end; s++) {
        if ((escape[*s >> 5] & (1U << (*s & 0x1f))) && !(slash && *s == '/'))
        {
            n++;
        }
    }

    if (n == 0) {
        *dst = *src;
        return NGX_OK;
    }

    d = ngx_pnalloc(pool, src->len + 2 * n);
    if (d == NULL) {
        return NGX_ERROR;
    }

    p = d;

    for (s = src->data; s < end; s++) {
        c = *s;

        if ((escape[c >> 5] & (1U << (c & 0x1f))) && !(slash && c == '/')) {
            *p++ = '%';
            *p++ = hex[c >> 4];
            *p++ = hex[c & 0xf];

        } else {
            *p++ = c;
        }
    }

    /* dst may be src */

    dst->len = p - d;
    dst->data = d;

    return NGX_OK;
}


/*
 * A header value as SigV4 (and botocore) canonicalizes it: trimmed, runs
 * of spaces made one.  Controls and non-ASCII are refused: no client
 * could send them back the same.
 */
static ngx_int_t
ts_s3_header_value(ngx_pool_t *pool, ngx_str_t *src, ngx_str_t *dst)
{
    u_char      *p;
    ngx_uint_t   i, space;

    p = ngx_pnalloc(pool, src->len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    dst->data = p;
    space = 0;

    for (i = 0; i < src->len; i++) {
        if (src->data[i] < 0x20 || src->data[i] >= 0x7f) {
            return NGX_DECLINED;
        }

        if (src->data[i] == ' ') {
            space = 1;
            continue;
        }

        if (space && p != dst->data) {
            *p++ = ' ';
        }

        space = 0;
        *p++ = src->data[i];
    }

    dst->len = p - dst->data;

    return dst->len ? NGX_OK : NGX_DECLINED;
}


/* hex HMAC of sts with the key derived from the secret, date and scope */
static ngx_int_t
ts_s3_signature(ngx_pool_t *pool, ts_s3_conf_t *s3, u_char *date,
    ngx_str_t *sts, u_char *hex)
{
    u_char        *secret;
    u_char         key[EVP_MAX_MD_SIZE];
    size_t         len;
    ngx_int_t      rc;
    unsigned int   klen;

    /* "AWS4" + secret, then date, region, service, terminator in turn */

    len = sizeof("AWS4") - 1 + s3->secret_key.len;

    secret = ngx_pnalloc(pool, len);
    if (secret == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(ngx_cpymem(secret, "AWS4", 4), s3->secret_key.data,
               s3->secret_key.len);

    klen = 0;
    rc = NGX_OK;

    if (HMAC(EVP_sha256(), secret, (int) len, date, 8, key, &klen) == NULL
        || HMAC(EVP_sha256(), key, (int) klen, s3->region.data,
                s3->region.len, key, &klen) == NULL
        || HMAC(EVP_sha256(), key, (int) klen, (u_char *) "s3", 2,
                key, &klen) == NULL
        || HMAC(EVP_sha256(), key, (int) klen, (u_char *) "aws4_request",
                sizeof("aws4_request") - 1, key, &klen) == NULL
        || HMAC(EVP_sha256(), key, (int) klen, sts->data, sts->len,
                key, &klen) == NULL)
    {
        ERR_clear_error();
        rc = NGX_ERROR;

    } else {
        *ngx_hex_dump(hex, key, klen) = '\0';
    }

    ngx_explicit_memzero(secret, len);
    ngx_explicit_memzero(key, sizeof(key));

    return rc;
}


ngx_int_t
ts_cloudfront_load_key(ngx_conf_t *cf, ngx_str_t *path, ts_cloudfront_t *cfs)
{
    BIO                 *bio;
    EVP_PKEY            *key;
    ngx_str_t            name;
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ts_cloudfront_free_key;
    cln->data = NULL;

    /* a NUL-terminated copy: ngx_conf_full_name() keeps absolute paths */

    name.len = path->len;
    name.data = ngx_pnalloc(cf->pool, path->len + 1);
    if (name.data == NULL) {
        return NGX_ERROR;
    }

    ngx_cpystrn(name.data, path->data, path->len + 1);

    if (ngx_conf_full_name(cf->cycle, &name, 1) != NGX_OK) {
        return NGX_ERROR;
    }

    ts_http_check_secret_file(cf, name.data);

    bio = BIO_new_file((char *) name.data, "r");
    if (bio == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "tunesheap: cannot open \"%s\"", name.data);
        ERR_clear_error();
        return NGX_ERROR;
    }

    key = PEM_read_bio_PrivateKey(bio, NULL, ts_cloudfront_no_password,
                                  NULL);
    BIO_free(bio);

    if (key == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "tunesheap: \"%s\" holds no PEM private key "
                           "(or one with a passphrase)", name.data);
        ERR_clear_error();
        return NGX_ERROR;
    }

    cln->data = key;

    if (EVP_PKEY_base_id(key) != EVP_PKEY_RSA) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "tunesheap: \"%s\" is not an RSA key, "
                           "as CloudFront needs", name.data);
        return NGX_ERROR;
    }

    cfs->key = key;

    return NGX_OK;
}


static int
ts_cloudfront_no_password(char *buf, int size, int rwflag, void *u)
{
    return -1;
}


static void
ts_cloudfront_free_key(void *data)
{
    EVP_PKEY_free(data);
}


ngx_int_t
ts_cloudfront_sign(ngx_pool_t *pool, ts_cloudfront_t *cfs, ngx_str_t *url,
    time_t expires, ngx_str_t *signed_url)
{
    u_char      *p, *sig, sep;
    size_t       len, siglen;
    ngx_int_t    rc;
    ngx_str_t    policy, raw, b64;
    ngx_uint_t   i;
    EVP_MD_CTX  *md;

    /* the policy is JSON: refuse what json.dumps() would escape */

    for (i = 0; i < url->len; i++) {
        if (url->data[i] < 0x20 || url->data[i] >= 0x7f
            || url->data[i] == '"' || url->data[i] == '\\')
        {
            return NGX_DECLINED;
        }
    }

    len = sizeof(TS_CF_POLICY_HEAD TS_CF_POLICY_MID TS_CF_POLICY_TAIL) - 1
          + url->len + NGX_TIME_T_LEN;

    policy.data = ngx_pnalloc(pool, len);
    if (policy.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(policy.data,
                    TS_CF_POLICY_HEAD "%V" TS_CF_POLICY_MID "%T"
                    TS_CF_POLICY_TAIL, url, expires);
    policy.len = p - policy.data;

    siglen = EVP_PKEY_size(cfs->key);

    sig = ngx_pnalloc(pool, siglen);
    if (sig == NULL) {
        return NGX_ERROR;
    }

    md = EVP_MD_CTX_new();
    if (md == NULL) {
        return NGX_ERROR;
    }

    rc = NGX_OK;

    /* RSA keys sign PKCS#1 v1.5 by default */

    if (EVP_DigestSignInit(md, NULL, EVP_sha1(), NULL, cfs->key) != 1
        || EVP_DigestSign(md, sig, &siglen, policy.data, policy.len) != 1)
    {
        ERR_clear_error();
        rc = NGX_ERROR;
    }

    EVP_MD_CTX_free(md);

    if (rc != NGX_OK) {
        return rc;
    }

    raw.len = siglen;
    raw.data = sig;

    b64.data = ngx_pnalloc(pool, ngx_base64_encoded_length(siglen));
    if (b64.data == NULL) {
        return NGX_ERROR;
    }

    ngx_encode_base64(&b64, &raw);

    for (i = 0; i < b64.len; i++) {
        switch (b64.data[i]) {
        case '+':
            b64.data[i] = '-';
            break;
        case '=':
            b64.data[i] = '_';
            break;
        case '/':
            b64.data[i] = '~';
            break;
        }
    }

    len = url->len + sizeof("?Expires=") - 1 + NGX_TIME_T_LEN
          + sizeof("&Signature=") - 1 + b64.len
          + sizeof("&Key-Pair-Id=") - 1 + cfs->key_pair_id.len;

    signed_url->data = ngx_pnalloc(pool, len);
    if (signed_url->data == NULL) {
        return NGX_ERROR;
    }

    sep = ngx_strlchr(url->data, url->data + url->len, '?') ? '&' : '?';

    p = ngx_sprintf(signed_url->data,
                    "%V%cExpires=%T&Signature=%V&Key-Pair-Id=%V",
                    url, sep, expires, &b64, &cfs->key_pair_id);
    signed_url->len = p - signed_url->data;

    return NGX_OK;
}


ngx_int_t
ts_sign_hmac(ngx_pool_t *pool, ngx_str_t *secret, ngx_str_t *text,
    ngx_str_t *out)
{
    u_char        md[EVP_MAX_MD_SIZE];
    ngx_str_t     raw;
    unsigned int  len;

    /* OpenSSL wants a key pointer even for an empty key */

    if (HMAC(EVP_sha256(), secret->len ? secret->data : (u_char *) "",
             (int) secret->len, text->len ? text->data : (u_char *) "",
             text->len, md, &len) == NULL)
    {
        ERR_clear_error();
        return NGX_ERROR;
    }

    raw.len = len;
    raw.data = md;

    out->data = ngx_pnalloc(pool, ngx_base64_encoded_length(len));
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    ngx_encode_base64url(out, &raw);

    return NGX_OK;
}
