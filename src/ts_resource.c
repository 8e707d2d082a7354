
/*
 * Tunesheap: the catalog's resources, each described once.
 *
 * Every list is one statement per combination of its filters, so that each
 * gets a plan that uses its index; there are few filters, so few statements.
 * A list statement returns its total and whether the parent item exists in
 * the first two columns of every row, and the items after them; a LEFT
 * JOIN keeps one row with a NULL item when the page is empty.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ts_json.h"
#include "ts_resource.h"


#define TS_SQL_CHUNK  4096


typedef struct {
    ngx_pool_t     *pool;
    u_char         *start;
    u_char         *pos;
    u_char         *end;
} ts_sql_t;


static void ts_resource_name(char *name, const char *fmt, ...);
static ngx_int_t ts_resource_prepare_lists(ts_sql_t *sql, ts_resource_t *rs);
static ngx_int_t ts_resource_prepare_list(ts_sql_t *sql, char *name,
    ts_resource_t *rs, ngx_uint_t mask, ts_resource_t *parent,
    ngx_uint_t parent_filter, const char *order);
static ngx_int_t ts_sql_columns(ts_sql_t *sql, ts_resource_t *rs);
static ngx_int_t ts_sql_where(ts_sql_t *sql, ts_resource_t *rs,
    ngx_uint_t mask);
static ngx_int_t ts_sql_add(ts_sql_t *sql, const char *fmt, ...);


static ts_column_t  ts_artist_columns[] = {
    { ngx_string("id"), "id", TS_COL_NUMBER },
    { ngx_string("name"), "name", TS_COL_STRING },
    { ngx_string("country"), "country", TS_COL_STRING },
    { ngx_string("description"), "description", TS_COL_STRING },
    { ngx_string("dob"),
      "to_char(dob AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS \"UTC\"')",
      TS_COL_STRING },
    { ngx_string("website"), "website", TS_COL_STRING },
    { ngx_string("picture_url"), "picture_url", TS_COL_STRING },
};


static ts_column_t  ts_album_columns[] = {
    { ngx_string("id"), "id", TS_COL_NUMBER },
    { ngx_string("artist_id"), "artist_id", TS_COL_NUMBER },
    { ngx_string("title"), "title", TS_COL_STRING },
    { ngx_string("release_date"), "to_char(release_date, 'YYYY-MM-DD')",
      TS_COL_STRING },
    { ngx_string("genre"), "genre", TS_COL_STRING },
    { ngx_string("cover_url"), "cover_url", TS_COL_STRING },
};


static ts_column_t  ts_song_columns[] = {
    { ngx_string("id"), "id", TS_COL_NUMBER },
    { ngx_string("album_id"), "album_id", TS_COL_NUMBER },
    { ngx_string("artist_id"), "artist_id", TS_COL_NUMBER },
    { ngx_string("title"), "title", TS_COL_STRING },
    { ngx_string("track_number"), "track_number", TS_COL_NUMBER },
    { ngx_string("duration_ms"), "duration_ms", TS_COL_NUMBER },
};


static ts_filter_t  ts_artist_filters[] = {
    { ngx_string("country"), "country", TS_ARG_TEXT },
};


static ts_filter_t  ts_album_filters[] = {
    { ngx_string("artist_id"), "artist_id", TS_ARG_ID },
    { ngx_string("genre"), "genre", TS_ARG_TEXT },
};


static ts_filter_t  ts_song_filters[] = {
    { ngx_string("album_id"), "album_id", TS_ARG_ID },
    { ngx_string("artist_id"), "artist_id", TS_ARG_ID },
};


static ts_relation_t  ts_artist_relations[] = {
    { ngx_string("albums"), &ts_resources[1], 0, "id", { "" } },
    { ngx_string("songs"), &ts_resources[2], 1, "id", { "" } },
};


static ts_relation_t  ts_album_relations[] = {
    { ngx_string("songs"), &ts_resources[2], 0, "track_number, id",
      { "" } },
};


ts_resource_t  ts_resources[] = {

    { ngx_string("artists"), ngx_string("artist"), "artists",
      ts_artist_columns, sizeof(ts_artist_columns) / sizeof(ts_column_t),
      ts_artist_filters, sizeof(ts_artist_filters) / sizeof(ts_filter_t),
      "name",
      ts_artist_relations,
      sizeof(ts_artist_relations) / sizeof(ts_relation_t),
      "", "", { "" } },

    { ngx_string("albums"), ngx_string("album"), "albums",
      ts_album_columns, sizeof(ts_album_columns) / sizeof(ts_column_t),
      ts_album_filters, sizeof(ts_album_filters) / sizeof(ts_filter_t),
      "title",
      ts_album_relations,
      sizeof(ts_album_relations) / sizeof(ts_relation_t),
      "", "", { "" } },

    { ngx_string("songs"), ngx_string("song"), "songs",
      ts_song_columns, sizeof(ts_song_columns) / sizeof(ts_column_t),
      ts_song_filters, sizeof(ts_song_filters) / sizeof(ts_filter_t),
      "title",
      NULL, 0,
      "", "", { "" } },
};


ngx_uint_t  ts_nresources = sizeof(ts_resources) / sizeof(ts_resource_t);

const char  ts_health_statement[] = "ts_health";


ngx_int_t
ts_resource_init(ngx_pool_t *pool, ngx_str_t *setup)
{
    ngx_uint_t      i;
    ts_sql_t        sql;
    ts_resource_t  *rs;

    sql.pool = pool;
    sql.start = NULL;
    sql.pos = NULL;
    sql.end = NULL;

    if (ts_sql_add(&sql, "PREPARE %s AS SELECT 1;", ts_health_statement)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = 0; i < ts_nresources; i++) {
        rs = &ts_resources[i];

        ts_resource_name(rs->item_statement, "ts_%V_item", &rs->name);
        ts_resource_name(rs->search_statement, "ts_%V_search", &rs->name);

        if (ts_sql_add(&sql, "PREPARE %s AS SELECT ", rs->item_statement)
               != NGX_OK
            || ts_sql_columns(&sql, rs) != NGX_OK
            || ts_sql_add(&sql, " FROM %s WHERE id = $1;", rs->table)
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        /*
         * full-text matches, whole-name trigram similarity (typos) and
         * word similarity (a word or prefix of a longer name), folded
         */
        if (ts_sql_add(&sql, "PREPARE %s AS SELECT ", rs->search_statement)
               != NGX_OK
            || ts_sql_columns(&sql, rs) != NGX_OK
            || ts_sql_add(&sql,
                   " FROM %s"
                   " WHERE to_tsvector('simple', ts_fold(%s))"
                   " @@ plainto_tsquery('simple', ts_fold($1))"
                   " OR ts_fold(%s) %% ts_fold($1)"
                   " OR ts_fold($1) <%% ts_fold(%s)"
                   " ORDER BY (ts_fold(%s) = ts_fold($1)) DESC,"
                   " ts_rank(to_tsvector('simple', ts_fold(%s)),"
                   " plainto_tsquery('simple', ts_fold($1)))"
                   " + similarity(ts_fold(%s), ts_fold($1))"
                   " + word_similarity(ts_fold($1), ts_fold(%s)) DESC, id"
                   " LIMIT $2;",
                   rs->table, rs->search, rs->search, rs->search,
                   rs->search, rs->search, rs->search, rs->search)
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (ts_resource_prepare_lists(&sql, rs) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    setup->data = sql.start;
    setup->len = sql.pos - sql.start;

    return NGX_OK;
}


ts_resource_t *
ts_resource_find(ngx_str_t *name)
{
    ngx_uint_t  i;

    for (i = 0; i < ts_nresources; i++) {
        if (ts_resources[i].name.len == name->len
            && ngx_strncmp(ts_resources[i].name.data, name->data, name->len)
               == 0)
        {
            return &ts_resources[i];
        }
    }

    return NULL;
}


ts_relation_t *
ts_relation_find(ts_resource_t *rs, ngx_str_t *name)
{
    ngx_uint_t  i;

    for (i = 0; i < rs->nrelations; i++) {
        if (rs->relations[i].name.len == name->len
            && ngx_strncmp(rs->relations[i].name.data, name->data, name->len)
               == 0)
        {
            return &rs->relations[i];
        }
    }

    return NULL;
}


yajl_gen_status
ts_resource_item(yajl_gen g, ts_resource_t *rs, PGresult *res, int row,
    int first)
{
    int               col;
    ngx_uint_t        i;
    yajl_gen_status   st;
    ts_column_t      *column;

    st = yajl_gen_map_open(g);

    for (i = 0; st == yajl_gen_status_ok && i < rs->ncolumns; i++) {
        column = &rs->columns[i];
        col = first + (int) i;

        st = ts_json_str(g, &column->name);
        if (st != yajl_gen_status_ok) {
            break;
        }

        if (PQgetisnull(res, row, col)) {
            st = yajl_gen_null(g);

        } else if (column->type == TS_COL_NUMBER) {
            st = yajl_gen_number(g, PQgetvalue(res, row, col),
                                 PQgetlength(res, row, col));

        } else {
            st = yajl_gen_string(g,
                                 (const unsigned char *)
                                     PQgetvalue(res, row, col),
                                 PQgetlength(res, row, col));
        }
    }

    if (st != yajl_gen_status_ok) {
        return st;
    }

    return yajl_gen_map_close(g);
}


static ngx_int_t
ts_resource_prepare_lists(ts_sql_t *sql, ts_resource_t *rs)
{
    ngx_uint_t      mask, nmasks, i;
    ts_relation_t  *rel;

    nmasks = (ngx_uint_t) 1 << rs->nfilters;

    for (mask = 0; mask < nmasks; mask++) {
        ts_resource_name(rs->list_statements[mask], "ts_%V_list_%ui",
                         &rs->name, mask);

        if (ts_resource_prepare_list(sql, rs->list_statements[mask], rs,
                                     mask, NULL, 0, "id")
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    for (i = 0; i < rs->nrelations; i++) {
        rel = &rs->relations[i];
        nmasks = (ngx_uint_t) 1 << rel->child->nfilters;

        /* the filter on the parent's id is always there */
        for (mask = 0; mask < nmasks; mask++) {
            if (!(mask & ((ngx_uint_t) 1 << rel->filter))) {
                continue;
            }

            ts_resource_name(rel->statements[mask], "ts_%V_%V_%ui",
                             &rs->name, &rel->name, mask);

            if (ts_resource_prepare_list(sql, rel->statements[mask],
                                         rel->child, mask, rs, rel->filter,
                                         rel->order)
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }
    }

    return NGX_OK;
}


static ngx_int_t
ts_resource_prepare_list(ts_sql_t *sql, char *name, ts_resource_t *rs,
    ngx_uint_t mask, ts_resource_t *parent, ngx_uint_t parent_filter,
    const char *order)
{
    ngx_uint_t  i, param;

    if (ts_sql_add(sql, "PREPARE %s AS WITH t AS"
                        " (SELECT count(*) AS total FROM %s",
                   name, rs->table)
           != NGX_OK
        || ts_sql_where(sql, rs, mask) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (parent) {
        /* the parameter number of the filter on the parent's id */
        param = 3;

        for (i = 0; i < parent_filter; i++) {
            if (mask & ((ngx_uint_t) 1 << i)) {
                param++;
            }
        }

        if (ts_sql_add(sql, "), p AS (SELECT EXISTS"
                            " (SELECT 1 FROM %s WHERE id = $%ui) AS found)"
                            " SELECT t.total, p.found, x.* FROM t, p",
                       parent->table, param)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

    } else {
        if (ts_sql_add(sql, ") SELECT t.total, true AS found, x.* FROM t")
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (ts_sql_add(sql, " LEFT JOIN LATERAL (SELECT ") != NGX_OK
        || ts_sql_columns(sql, rs) != NGX_OK
        || ts_sql_add(sql, " FROM %s", rs->table) != NGX_OK
        || ts_sql_where(sql, rs, mask) != NGX_OK
        || ts_sql_add(sql, " ORDER BY %s LIMIT $1 OFFSET $2) x ON true;",
                      order)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ts_resource_name(char *name, const char *fmt, ...)
{
    u_char   *p;
    va_list   args;

    va_start(args, fmt);
    p = ngx_vslprintf((u_char *) name, (u_char *) name + TS_STATEMENT_LEN - 1,
                      fmt, args);
    va_end(args);

    *p = '\0';
}


static ngx_int_t
ts_sql_columns(ts_sql_t *sql, ts_resource_t *rs)
{
    ngx_uint_t  i;

    for (i = 0; i < rs->ncolumns; i++) {
        if (ts_sql_add(sql, "%s%s AS %V", i ? ", " : "",
                       rs->columns[i].select, &rs->columns[i].name)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* filters in mask compare with $3, $4, ... in the order they are described */
static ngx_int_t
ts_sql_where(ts_sql_t *sql, ts_resource_t *rs, ngx_uint_t mask)
{
    ngx_uint_t  i, param;

    param = 3;

    for (i = 0; i < rs->nfilters; i++) {
        if (!(mask & ((ngx_uint_t) 1 << i))) {
            continue;
        }

        if (ts_sql_add(sql, "%s%s = $%ui", param == 3 ? " WHERE " : " AND ",
                       rs->filters[i].column, param)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        param++;
    }

    return NGX_OK;
}


static ngx_int_t
ts_sql_add(ts_sql_t *sql, const char *fmt, ...)
{
    u_char   *p, *start;
    size_t    size;
    va_list   args;

    for ( ;; ) {
        if (sql->start) {
            va_start(args, fmt);
            p = ngx_vslprintf(sql->pos, sql->end, fmt, args);
            va_end(args);

            /* a full buffer may mean a cut: only a gap proves it fit */
            if (p < sql->end) {
                sql->pos = p;
                *p = '\0';
                return NGX_OK;
            }
        }

        size = sql->start ? 2 * (sql->end - sql->start) : TS_SQL_CHUNK;

        start = ngx_pnalloc(sql->pool, size);
        if (start == NULL) {
            return NGX_ERROR;
        }

        if (sql->start) {
            ngx_memcpy(start, sql->start, sql->pos - sql->start);
        }

        sql->pos = start + (sql->pos - sql->start);
        sql->start = start;
        sql->end = start + size;
    }
}
