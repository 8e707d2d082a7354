
/*
 * Tunesheap fuzzing: whole requests to the module's entry (routes, query
 * arguments, headers, bodies).  The input is
 *
 *     METHOD URI\n
 *     Name: value\n          (Content-Type, If-Match, Authorization)
 *     \n
 *     body                   (present when the blank line is)
 *
 * URI is the path as nginx leaves it (decoded), with ?args as sent.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ts_fuzz.h"


static const u_char *ts_fuzz_line(const u_char **p, const u_char *end,
    ngx_str_t *line);


int
ts_fuzz_target_request(const uint8_t *data, size_t size)
{
    u_char              *sp, *colon;
    ngx_str_t            line, name, value;
    const u_char        *p, *end;
    ts_fuzz_req_t        req;
    ngx_http_request_t  *r;

    ngx_memzero(&req, sizeof(ts_fuzz_req_t));

    p = data;
    end = p + size;

    if (ts_fuzz_line(&p, end, &line) == NULL) {
        return 0;
    }

    sp = ngx_strlchr(line.data, line.data + line.len, ' ');
    if (sp == NULL) {
        return 0;
    }

    req.method.data = line.data;
    req.method.len = sp - line.data;
    req.uri.data = sp + 1;
    req.uri.len = line.data + line.len - (sp + 1);

    while (ts_fuzz_line(&p, end, &line)) {
        if (line.len == 0) {
            req.body.data = (u_char *) p;
            req.body.len = end - p;
            break;
        }

        colon = ngx_strlchr(line.data, line.data + line.len, ':');
        if (colon == NULL) {
            continue;
        }

        name.data = line.data;
        name.len = colon - line.data;
        value.data = colon + 1;
        value.len = line.data + line.len - value.data;

        if (value.len && value.data[0] == ' ') {
            value.data++;
            value.len--;
        }

        if (name.len == 12
            && ngx_strncasecmp(name.data, (u_char *) "content-type", 12) == 0)
        {
            req.content_type = value;

        } else if (name.len == 8
                   && ngx_strncasecmp(name.data, (u_char *) "if-match", 8)
                      == 0)
        {
            req.if_match = value;

        } else if (name.len == 13
                   && ngx_strncasecmp(name.data, (u_char *) "authorization",
                                      13) == 0)
        {
            req.authorization = value;
        }
    }

    r = ts_fuzz_request("local", &req);
    ts_fuzz_run(r);

    return 0;
}


/* the next line, without its \n; NULL at the end of the input */
static const u_char *
ts_fuzz_line(const u_char **p, const u_char *end, ngx_str_t *line)
{
    const u_char  *nl;

    if (*p >= end) {
        return NULL;
    }

    nl = ngx_strlchr((u_char *) *p, (u_char *) end, '\n');
    if (nl == NULL) {
        nl = end;
    }

    line->data = (u_char *) *p;
    line->len = nl - *p;

    *p = (nl < end) ? nl + 1 : end;

    return *p;
}
