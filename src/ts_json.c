
/*
 * Tunesheap: JSON with yajl, allocated from an nginx pool.
 *
 * yajl's realloc() does not pass the old size, so every block carries its
 * size in front of it.  Large blocks are given back to the pool at once by
 * ngx_pfree(); the rest goes with the pool.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ts_json.h"


#define ts_json_header  sizeof(size_t) * 2    /* keeps 16-byte alignment */


static void *ts_json_malloc(void *ctx, size_t size);
static void *ts_json_realloc(void *ctx, void *ptr, size_t size);
static void ts_json_free(void *ctx, void *ptr);
static const char *ts_json_scan(ngx_str_t *text);
static ngx_int_t ts_json_hex4(u_char *p);
static const char *ts_json_repeated(yajl_val v);
static void ts_json_tree_free(void *data);


yajl_gen
ts_json_gen(ngx_pool_t *pool)
{
    yajl_gen             g;
    yajl_alloc_funcs    *funcs;

    funcs = ngx_palloc(pool, sizeof(yajl_alloc_funcs));
    if (funcs == NULL) {
        return NULL;
    }

    funcs->malloc = ts_json_malloc;
    funcs->realloc = ts_json_realloc;
    funcs->free = ts_json_free;
    funcs->ctx = pool;

    g = yajl_gen_alloc(funcs);
    if (g == NULL) {
        return NULL;
    }

    /* strings we emit come from Postgres or from checked input */
    yajl_gen_config(g, yajl_gen_validate_utf8, 1);

    return g;
}


yajl_gen
ts_json_gen_db(ngx_pool_t *pool)
{
    yajl_gen  g;

    g = ts_json_gen(pool);

    if (g) {
        yajl_gen_config(g, yajl_gen_validate_utf8, 0);
    }

    return g;
}


void
ts_json_output(yajl_gen g, ngx_str_t *out)
{
    const unsigned char  *buf;
    size_t                len;

    yajl_gen_get_buf(g, &buf, &len);

    out->data = (u_char *) buf;
    out->len = len;
}


yajl_gen_status
ts_json_integer(yajl_gen g, int64_t n)
{
    u_char  buf[NGX_INT64_LEN + 1], *p;

    p = ngx_sprintf(buf, "%L", n);

    return yajl_gen_number(g, (const char *) buf, p - buf);
}


yajl_val
ts_json_parse(ngx_pool_t *pool, ngx_str_t *text, const char **err)
{
    char                 msg[128];
    u_char              *input;
    yajl_val             tree;
    ngx_pool_cleanup_t  *cln;

    *err = ts_json_scan(text);
    if (*err) {
        return NULL;
    }

    input = ngx_pnalloc(pool, text->len + 1);
    cln = ngx_pool_cleanup_add(pool, 0);
    if (input == NULL || cln == NULL) {
        *err = "out of memory";
        return NULL;
    }

    ngx_memcpy(input, text->data, text->len);
    input[text->len] = '\0';

    /* yajl's tree takes no allocator: the pool's cleanup frees it */
    tree = yajl_tree_parse((char *) input, msg, sizeof(msg));
    if (tree == NULL) {
        *err = "the body is not valid JSON";
        return NULL;
    }

    cln->handler = ts_json_tree_free;
    cln->data = tree;

    *err = ts_json_repeated(tree);
    if (*err) {
        return NULL;
    }

    return tree;
}


/* the value of 4 hex digits, -1 if they are not */
static ngx_int_t
ts_json_hex4(u_char *p)
{
    return ngx_hextoi(p, 4);
}


/*
 * A key given twice in the top-level object: yajl keeps both and lookups
 * find the first, so {"artist":{...},"artist":{...}} silently dropped one
 * (a field given twice inside the item is a 422 of the validation)
 */
static const char *
ts_json_repeated(yajl_val v)
{
    size_t  i, j, n;

    if (!YAJL_IS_OBJECT(v)) {
        return NULL;
    }

    n = v->u.object.len;

    for (i = 0; i < n; i++) {
        for (j = i + 1; j < n; j++) {
            if (ngx_strcmp(v->u.object.keys[i], v->u.object.keys[j]) == 0) {
                return "the body's object repeats a key";
            }
        }
    }

    return NULL;
}


/* what yajl's tree would get wrong: a NUL in input or text, deep nesting */
static const char *
ts_json_scan(ngx_str_t *text)
{
    u_char      *p, *end;
    ngx_int_t    u;
    ngx_uint_t   depth, string;

    depth = 0;
    string = 0;

    for (p = text->data, end = p + text->len; p < end; p++) {

        if (*p == '\0') {
            return "the body is not valid JSON";
        }

        if (string) {
            if (*p == '"') {
                string = 0;

            } else if (*p == '\\' && p + 1 < end) {
                p++;

                if (*p == 'u' && end - p > 4
                    && ngx_strncmp(p + 1, "0000", 4) == 0)
                {
                    return "strings in the body must not contain \\u0000";
                }

                if (*p != 'u' || end - p <= 4) {
                    continue;
                }

                /* yajl turns a lone surrogate into '?': refuse it */
                u = ts_json_hex4(p + 1);

                if (u >= 0xdc00 && u <= 0xdfff) {
                    return "a string in the body has a lone surrogate";
                }

                if (u >= 0xd800 && u <= 0xdbff) {
                    if (end - p < 11 || p[5] != '\\' || p[6] != 'u'
                        || ts_json_hex4(p + 7) < 0xdc00
                        || ts_json_hex4(p + 7) > 0xdfff)
                    {
                        return "a string in the body has a lone surrogate";
                    }

                    p += 6;
                }

                p += 4;
            }

            continue;
        }

        switch (*p) {

        case '/':
            /* yajl's tree takes comments: JSON does not */
            return "the body is not valid JSON: comments are not JSON";

        case '"':
            string = 1;
            break;

        case '{':
        case '[':
            if (++depth > TS_JSON_DEPTH_MAX) {
                return "the body nests too deeply";
            }
            break;

        case '}':
        case ']':
            if (depth) {
                depth--;
            }
            break;
        }
    }

    return NULL;
}


static void
ts_json_tree_free(void *data)
{
    yajl_tree_free(data);
}


static void *
ts_json_malloc(void *ctx, size_t size)
{
    size_t  *p;

    p = ngx_palloc(ctx, size + ts_json_header);
    if (p == NULL) {
        return NULL;
    }

    *p = size;

    return (u_char *) p + ts_json_header;
}


static void *
ts_json_realloc(void *ctx, void *ptr, size_t size)
{
    size_t  *old;
    void    *p;

    if (ptr == NULL) {
        return ts_json_malloc(ctx, size);
    }

    old = (size_t *) ((u_char *) ptr - ts_json_header);

    if (*old >= size) {
        return ptr;
    }

    p = ts_json_malloc(ctx, size);
    if (p == NULL) {
        return NULL;
    }

    ngx_memcpy(p, ptr, *old);
    ngx_pfree(ctx, old);

    return p;
}


static void
ts_json_free(void *ctx, void *ptr)
{
    if (ptr) {
        ngx_pfree(ctx, (u_char *) ptr - ts_json_header);
    }
}
