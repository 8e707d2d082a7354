
/*
 * Tunesheap: the catalog's resources, each described once.
 *
 * Every list is one statement per kind of page (offset, after an item,
 * before an item) and combination of its filters, so that each gets a plan
 * that uses its index; there are few filters, so few statements.  A list
 * statement returns its total, whether the parent item exists and whether
 * the anchor item is in the list in the first three columns of every row,
 * and the items after them; a LEFT JOIN keeps one row with a NULL item
 * when the page is empty.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ts_json.h"
#include "ts_resource.h"


#define TS_SQL_CHUNK  4096

/* the spans of ts_list_spans (db/schema.sql): 1,024 ids */
#define TS_SPAN_BITS  10

typedef struct {
    ngx_pool_t     *pool;
    u_char         *start;
    u_char         *pos;
    u_char         *end;
} ts_sql_t;


static void ts_resource_name(char *name, const char *fmt, ...);
static ngx_int_t ts_resource_prepare_search(ts_sql_t *sql);
static ngx_int_t ts_resource_prepare_lists(ts_sql_t *sql, ts_resource_t *rs);
static ngx_int_t ts_resource_prepare_list(ts_sql_t *sql, char *name,
    ngx_uint_t kind, ts_resource_t *rs, ngx_uint_t mask,
    ts_resource_t *parent, ngx_uint_t parent_filter, const char *sort);
static ngx_int_t ts_resource_prepare_writes(ts_sql_t *sql,
    ts_resource_t *rs);
static ngx_int_t ts_resource_prepare_entries(ts_sql_t *sql,
    ts_resource_t *rs, ts_relation_t *rel);
static ngx_int_t ts_sql_writes(ts_sql_t *sql, ts_resource_t *rs,
    ngx_uint_t n);
static ngx_int_t ts_sql_keyed(ts_sql_t *sql, ngx_uint_t first);
static ngx_int_t ts_sql_result(ts_sql_t *sql, ngx_uint_t first);
static ngx_int_t ts_sql_columns(ts_sql_t *sql, ts_resource_t *rs);
static ngx_int_t ts_resource_fields(ts_resource_t *rs, ts_column_t *column);
static ngx_int_t ts_sql_etag(ts_sql_t *sql, ts_resource_t *rs);
static ngx_int_t ts_sql_references(ts_sql_t *sql, ts_resource_t *rs,
    ngx_uint_t cond);
static ngx_int_t ts_sql_page(ts_sql_t *sql, ts_resource_t *rs,
    ngx_uint_t mask, const char *cond, const char *sort, const char *order);
static ngx_int_t ts_sql_total(ts_sql_t *sql, ts_resource_t *rs,
    ngx_uint_t mask);
static ngx_int_t ts_sql_where(ts_sql_t *sql, ts_resource_t *rs,
    ngx_uint_t mask, ngx_uint_t where);
static ngx_int_t ts_sql_meta_rows(ts_sql_t *sql, ngx_uint_t width);
static ngx_int_t ts_sql_add(ts_sql_t *sql, const char *fmt, ...);
static ngx_int_t ts_sql_pages(ts_sql_t *sql, char *name, size_t body,
    const char *types);


/*
 * Descriptions refer to each other by name (TS_ARTISTS, ...): the
 * designated initialisers of ts_resources[] put each at its index.
 */

static ts_column_t  ts_artist_columns[] = {
    { .name = ngx_string("id"), .select = "id", .type = TS_COL_NUMBER },
    { .name = ngx_string("name"), .select = "name", .type = TS_COL_STRING,
      .input = TS_IN_TEXT, .required = 1, .max = 200 },
    { .name = ngx_string("country"), .select = "country",
      .type = TS_COL_STRING, .input = TS_IN_TEXT, .max = 100 },
    { .name = ngx_string("description"), .select = "description",
      .type = TS_COL_STRING, .input = TS_IN_TEXT, .max = 5000 },
    { .name = ngx_string("dob"),
      .select = "to_char(dob AT TIME ZONE 'UTC',"
                " 'YYYY-MM-DD HH24:MI:SS \"UTC\"')",
      .type = TS_COL_STRING, .input = TS_IN_TIME },
    { .name = ngx_string("website"), .select = "website",
      .type = TS_COL_STRING, .input = TS_IN_TEXT, .max = 500 },
    { .name = ngx_string("picture_url"), .select = "picture_url",
      .type = TS_COL_STRING, .input = TS_IN_TEXT, .max = 500 },
};


static ts_column_t  ts_album_columns[] = {
    { .name = ngx_string("id"), .select = "id", .type = TS_COL_NUMBER },
    { .name = ngx_string("artist_id"), .select = "artist_id",
      .type = TS_COL_NUMBER, .input = TS_IN_ID, .required = 1,
      .references = &ts_resources[TS_ARTISTS] },
    { .name = ngx_string("title"), .select = "title", .type = TS_COL_STRING,
      .input = TS_IN_TEXT, .required = 1, .max = 200 },
    { .name = ngx_string("release_date"),
      .select = "to_char(release_date, 'YYYY-MM-DD')",
      .type = TS_COL_STRING, .input = TS_IN_DATE },
    { .name = ngx_string("genre"), .select = "genre", .type = TS_COL_STRING,
      .input = TS_IN_TEXT, .max = 100 },
    { .name = ngx_string("cover_url"), .select = "cover_url",
      .type = TS_COL_STRING, .input = TS_IN_TEXT, .max = 500 },
};


static ts_column_t  ts_song_columns[] = {
    { .name = ngx_string("id"), .select = "id", .type = TS_COL_NUMBER },
    { .name = ngx_string("album_id"), .select = "album_id",
      .type = TS_COL_NUMBER, .input = TS_IN_ID, .required = 1,
      .references = &ts_resources[TS_ALBUMS] },
    { .name = ngx_string("artist_id"), .select = "artist_id",
      .type = TS_COL_NUMBER, .input = TS_IN_ID, .required = 1,
      .references = &ts_resources[TS_ARTISTS] },
    { .name = ngx_string("title"), .select = "title", .type = TS_COL_STRING,
      .input = TS_IN_TEXT, .required = 1, .max = 200 },
    { .name = ngx_string("track_number"), .select = "track_number",
      .type = TS_COL_NUMBER, .input = TS_IN_INTEGER },
    { .name = ngx_string("duration_ms"), .select = "duration_ms",
      .type = TS_COL_NUMBER, .input = TS_IN_INTEGER },
    { .name = ngx_string("audio"), .fields = TS_MEDIA_AUDIO_FIELDS,
      .type = TS_COL_AUDIO },
    { .name = ngx_string("stream_url"), .fields = TS_MEDIA_STREAM_FIELDS,
      .type = TS_COL_STREAM },
};


static ts_column_t  ts_playlist_columns[] = {
    { .name = ngx_string("id"), .select = "id", .type = TS_COL_NUMBER },
    { .name = ngx_string("name"), .select = "name", .type = TS_COL_STRING,
      .input = TS_IN_TEXT, .required = 1, .max = 200 },
    { .name = ngx_string("description"), .select = "description",
      .type = TS_COL_STRING, .input = TS_IN_TEXT, .max = 5000 },
    { .name = ngx_string("category"), .select = "category",
      .type = TS_COL_STRING, .input = TS_IN_TEXT, .max = 100 },
    { .name = ngx_string("cover_url"), .select = "cover_url",
      .type = TS_COL_STRING, .input = TS_IN_TEXT, .max = 500 },
    { .name = ngx_string("created_at"),
      .select = "to_char(created_at AT TIME ZONE 'UTC',"
                " 'YYYY-MM-DD HH24:MI:SS \"UTC\"')",
      .type = TS_COL_STRING },
    { .name = ngx_string("updated_at"),
      .select = "to_char(updated_at AT TIME ZONE 'UTC',"
                " 'YYYY-MM-DD HH24:MI:SS \"UTC\"')",
      .type = TS_COL_STRING, .write = "clock_timestamp()" },
    { .name = ngx_string("revision"), .select = "revision",
      .type = TS_COL_NUMBER, .write = "revision + 1" },
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


static ts_filter_t  ts_playlist_filters[] = {
    { ngx_string("category"), "category", TS_ARG_TEXT },
};


static ts_relation_t  ts_artist_relations[] = {
    { .name = ngx_string("albums"), .child = &ts_resources[TS_ALBUMS],
      .filter = 0 },
    { .name = ngx_string("songs"), .child = &ts_resources[TS_SONGS],
      .filter = 1 },
};


static ts_relation_t  ts_album_relations[] = {
    { .name = ngx_string("songs"), .child = &ts_resources[TS_SONGS],
      .filter = 0, .sort = "track_number" },
};


static ts_relation_t  ts_playlist_relations[] = {
    { .name = ngx_string("songs"), .child = &ts_resources[TS_SONGS],
      .join = "playlist_songs", .parent_column = "playlist_id",
      .child_column = "song_id" },
};


#define ts_nelts(a)  (sizeof(a) / sizeof((a)[0]))


ts_resource_t  ts_resources[TS_NRESOURCES] = {

    [TS_ARTISTS] = {
        .name = ngx_string("artists"), .singular = ngx_string("artist"),
        .table = "artists",
        .columns = ts_artist_columns, .ncolumns = ts_nelts(ts_artist_columns),
        .filters = ts_artist_filters, .nfilters = ts_nelts(ts_artist_filters),
        .search = "name", .version_key = ngx_string("ts:v:artists"),
        .relations = ts_artist_relations,
        .nrelations = ts_nelts(ts_artist_relations) },

    [TS_ALBUMS] = {
        .name = ngx_string("albums"), .singular = ngx_string("album"),
        .table = "albums",
        .columns = ts_album_columns, .ncolumns = ts_nelts(ts_album_columns),
        .filters = ts_album_filters, .nfilters = ts_nelts(ts_album_filters),
        .search = "title", .version_key = ngx_string("ts:v:albums"),
        .relations = ts_album_relations,
        .nrelations = ts_nelts(ts_album_relations) },

    [TS_SONGS] = {
        .name = ngx_string("songs"), .singular = ngx_string("song"),
        .table = "songs",
        .columns = ts_song_columns, .ncolumns = ts_nelts(ts_song_columns),
        .filters = ts_song_filters, .nfilters = ts_nelts(ts_song_filters),
        .search = "title", .version_key = ngx_string("ts:v:songs") },

    [TS_PLAYLISTS] = {
        .name = ngx_string("playlists"), .singular = ngx_string("playlist"),
        .table = "playlists",
        .columns = ts_playlist_columns,
        .ncolumns = ts_nelts(ts_playlist_columns),
        .filters = ts_playlist_filters,
        .nfilters = ts_nelts(ts_playlist_filters),
        .search = "name", .version_key = ngx_string("ts:v:playlists"),
        .relations = ts_playlist_relations,
        .nrelations = ts_nelts(ts_playlist_relations) },
};


ngx_uint_t  ts_nresources = TS_NRESOURCES;

_Static_assert(sizeof(ts_resources) / sizeof(ts_resource_t)
               <= TS_RESOURCES_MAX,
               "more resources than TS_RESOURCES_MAX (ts_resource.h)");

/* by TS_IN_: what writes cast a field to (db/import-gen.c too) */
const char  *ts_resource_casts[] = {
    "", "text", "integer", "bigint", "date", "timestamptz"
};

const char  ts_health_statement[] = "ts_health";
const char  ts_search_statement[] = "ts_search";


ngx_int_t
ts_resource_init(ngx_pool_t *pool, ngx_str_t *setup)
{
    ngx_uint_t      i, j;
    ts_sql_t        sql;
    ts_relation_t  *rel;
    ts_resource_t  *rs;

    sql.pool = pool;
    sql.start = NULL;
    sql.pos = NULL;
    sql.end = NULL;

    /*
     * dates without a zone are UTC, as the API writes them; notices (a
     * search for a stop word or a sign raises one a type) cost the server
     * a message each and tell a client nothing; no parallel workers for
     * statements of a few rows, whose Append then runs its plans in
     * order (a list page's meta row comes first: ts_sql_meta_rows())
     */
    if (ts_sql_add(&sql, "SET TimeZone = 'UTC';"
                         "SET client_min_messages = warning;"
                         "SET max_parallel_workers_per_gather = 0;"
                         "PREPARE %s AS SELECT 1;", ts_health_statement)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /*
     * who lists whom: a child's delete statement asks its holder (found
     * anew on every configuration load: the tables outlive a reload)
     */
    for (i = 0; i < ts_nresources; i++) {
        ts_resources[i].holder = NULL;
    }

    /* where each column's result columns are, before any statement */
    for (i = 0; i < ts_nresources; i++) {
        rs = &ts_resources[i];
        rs->width = 0;

        for (j = 0; j < rs->ncolumns; j++) {
            if (ts_resource_fields(rs, &rs->columns[j]) != NGX_OK) {
                return NGX_ERROR;
            }
        }
    }

    for (i = 0; i < ts_nresources; i++) {
        rs = &ts_resources[i];

        for (j = 0; j < rs->nrelations; j++) {
            rel = &rs->relations[j];
            rel->parent = rs;

            if (rel->join == NULL) {
                continue;
            }

            if (rel->child->holder) {
                ngx_log_error(NGX_LOG_EMERG, pool->log, 0,
                              "tunesheap: %V are in two ordered lists: "
                              "one is supported",
                              &rel->child->name);
                return NGX_ERROR;
            }

            rel->child->holder = rel;
        }
    }

    for (i = 0; i < ts_nresources; i++) {
        rs = &ts_resources[i];

        ts_resource_name(rs->item_statement, "ts_%V_item", &rs->name);

        if (ts_sql_add(&sql, "PREPARE %s AS SELECT ", rs->item_statement)
               != NGX_OK
            || ts_sql_columns(&sql, rs) != NGX_OK
            || ts_sql_add(&sql, ", ") != NGX_OK
            || ts_sql_etag(&sql, rs) != NGX_OK
            || ts_sql_add(&sql, " FROM %s WHERE id = $1;", rs->table)
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        /*
         * Items missed at the same moment, in one statement: a statement
         * costs Postgres far more than the rows of a primary key lookup
         * (see ts_read.c)
         */
        ts_resource_name(rs->items_statement, "ts_%V_items", &rs->name);

        if (ts_sql_add(&sql, "PREPARE %s AS SELECT ", rs->items_statement)
               != NGX_OK
            || ts_sql_columns(&sql, rs) != NGX_OK
            || ts_sql_add(&sql, ", ") != NGX_OK
            || ts_sql_etag(&sql, rs) != NGX_OK
            || ts_sql_add(&sql, " FROM %s WHERE id = ANY ($1::bigint[]);",
                          rs->table)
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        rs->id_column = 0;

        for (j = 0; j < rs->ncolumns; j++) {
            if (rs->columns[j].name.len == 2
                && ngx_strncmp(rs->columns[j].name.data, "id", 2) == 0)
            {
                rs->id_column = rs->columns[j].field;
                break;
            }
        }

        if (ts_resource_prepare_writes(&sql, rs) != NGX_OK) {
            return NGX_ERROR;
        }

        if (ts_resource_prepare_lists(&sql, rs) != NGX_OK) {
            return NGX_ERROR;
        }

        for (j = 0; j < rs->nrelations; j++) {
            if (rs->relations[j].join
                && ts_resource_prepare_entries(&sql, rs, &rs->relations[j])
                   != NGX_OK)
            {
                return NGX_ERROR;
            }
        }
    }

    if (ts_resource_prepare_search(&sql) != NGX_OK) {
        return NGX_ERROR;
    }

    setup->data = sql.start;
    setup->len = sql.pos - sql.start;

    return NGX_OK;
}


/* set by the layers that know those columns (ts_media_init()) */
ts_column_json_pt  ts_column_json[TS_COL_TYPES];


ngx_int_t
ts_resource_etag_sql(ngx_pool_t *pool, ts_resource_t *rs, ngx_str_t *etag)
{
    ts_sql_t  sql;

    sql.pool = pool;
    sql.start = NULL;
    sql.pos = NULL;
    sql.end = NULL;

    if (ts_sql_etag(&sql, rs) != NGX_OK) {
        return NGX_ERROR;
    }

    etag->data = sql.start;
    etag->len = sql.pos - sql.start;

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
ts_resource_item(ngx_http_request_t *r, yajl_gen g, ts_resource_t *rs,
    PGresult *res, int row, int first)
{
    int               col;
    ngx_str_t         values[TS_FIELDS_MAX];
    ngx_uint_t        i, k;
    yajl_gen_status   st;
    ts_column_t      *column;

    st = yajl_gen_map_open(g);

    for (i = 0; st == yajl_gen_status_ok && i < rs->ncolumns; i++) {
        column = &rs->columns[i];
        col = first + (int) column->field;

        st = ts_json_str(g, &column->name);
        if (st != yajl_gen_status_ok) {
            break;
        }

        if (PQgetisnull(res, row, col)) {
            st = yajl_gen_null(g);

        } else if (column->type == TS_COL_NUMBER) {
            st = yajl_gen_number(g, PQgetvalue(res, row, col),
                                 PQgetlength(res, row, col));

        } else if (ts_column_json[column->type]) {
            for (k = 0; k < column->nfields; k++) {
                values[k].data = (u_char *) PQgetvalue(res, row, col + k);
                values[k].len = PQgetlength(res, row, col + k);
            }

            st = ts_column_json[column->type](r, g, rs, values);

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


ngx_int_t
ts_resource_item_body(ngx_http_request_t *r, ts_resource_t *rs,
    PGresult *res, int first, ngx_str_t *body, u_char **hash)
{
    return ts_resource_item_body_row(r, rs, res, 0, first, body, hash);
}


ngx_int_t
ts_resource_item_body_row(ngx_http_request_t *r, ts_resource_t *rs,
    PGresult *res, int row, int first, ngx_str_t *body, u_char **hash)
{
    int       col;
    yajl_gen  g;

    col = first + (int) rs->width;

    if (PQnfields(res) <= col || PQntuples(res) <= row
        || PQgetlength(res, row, col) != TS_ITEM_HASH_LEN)
    {
        return NGX_ERROR;
    }

    *hash = (u_char *) PQgetvalue(res, row, col);

    g = ts_json_gen_db(r->pool);
    if (g == NULL) {
        return NGX_ERROR;
    }

    if (yajl_gen_map_open(g) != yajl_gen_status_ok
        || ts_json_str(g, &rs->singular) != yajl_gen_status_ok
        || ts_resource_item(r, g, rs, res, row, first) != yajl_gen_status_ok
        || yajl_gen_map_close(g) != yajl_gen_status_ok)
    {
        return NGX_ERROR;
    }

    ts_json_output(g, body);

    return NGX_OK;
}


/*
 * Search ranks at most max(limit, 20) + 2 x (limit + 5) candidates of a
 * type (70 for a page of 20), never every match, so that a common word,
 * one letter or a long text costs about as much as a rare word:
 * ts_search_ids_TABLE() (schema.sql) finds them with capped index scans
 * of the search tables, each with its folded name and words: names that
 * start with the folded text, names that have all its words (the last one
 * also as a prefix), and when those are fewer than the limit, typos.
 * Ranked: the exact name, names that start with the text, names that have
 * its words, then the rest, each tier by full-text rank and similarity
 * (to the text's distinct words, 64 characters of them: similarity costs
 * the product of the lengths, and 200 bytes of one word repeated are that
 * word).
 *
 * Every type asked for ($3, a bit per resource) in one statement: the
 * text is folded and parsed once (ts_search_parse()), and a search takes
 * one connection and one round trip, where a statement per type woke four
 * backends and started four executors (the bench's searches at 100
 * clients: 538/s then, 932/s with one).  A row is the resource's index,
 * its rank, then the resource's columns from the third on (TS_SEARCH_FIRST),
 * NULL up to the widest resource's; as text, the form libpq gives them
 * in, so that the types of a column's branches agree.  (Side by side, a
 * row carried every resource's columns: 36 where 15 do, each made,
 * sent and parsed.)
 *
 * A new resource needs its text column in .search, and in db/schema.sql a
 * `SELECT ts_search_install('TABLE', 'K', 'COLUMN');` with a kind letter
 * K of its own (the triggers that keep the search tables exact,
 * ts_search_ids_TABLE(), and the table's rows indexed once);
 * ts_search_warm() then warms it too, type= takes its singular and the
 * answer lists it in ts_resources order.
 */
static ngx_int_t
ts_resource_prepare_search(ts_sql_t *sql)
{
    ngx_int_t       rc;
    ngx_uint_t      i, j, width;
    ts_resource_t  *rs;

    if (ts_sql_add(sql, "PREPARE %s AS WITH p AS MATERIALIZED ("
                   "SELECT ts_q_t, ts_q_p.q AS ts_q_w, ts_q_p.words"
                   " AS ts_q_words, ts_q_p.pre AS ts_q_pre,"
                   " left(array_to_string(tsvector_to_array("
                   "to_tsvector('simple', ts_q_t)), ' '), 64) AS ts_q_s"
                   " FROM ts_fold($1) AS ts_q_t,"
                   " ts_search_parse(ts_q_t) AS ts_q_p)", ts_search_statement)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    width = 0;

    for (i = 0; i < ts_nresources; i++) {
        rs = &ts_resources[i];
        width = ngx_max(width, rs->width);

        /* a type not asked for is a one-time filter: never searched */
        if (ts_sql_add(sql, ", r%ui AS (SELECT c.id, row_number() OVER ("
                       "ORDER BY ts_q_f = ts_q_t DESC,"
                       " starts_with(ts_q_f, ts_q_t) DESC,"
                       " ts_q_v @@ ts_q_w DESC,"
                       " ts_rank(ts_q_v, ts_q_w) + similarity(ts_q_f, ts_q_s)"
                       " + word_similarity(ts_q_s, ts_q_f) DESC, c.id)"
                       " AS ts_q_r FROM p, ts_search_ids_%s(p.ts_q_t,"
                       " $2::integer, p.ts_q_w, p.ts_q_words, p.ts_q_pre)"
                       " AS c (id, ts_q_f, ts_q_v)"
                       " WHERE $3::integer & %ui <> 0"
                       " ORDER BY ts_q_r LIMIT $2::integer)",
                       i, rs->table, (ngx_uint_t) 1 << i)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    for (i = 0; i < ts_nresources; i++) {
        rs = &ts_resources[i];

        if (ts_sql_add(sql, "%sSELECT %ui, s.ts_q_r",
                       i ? " UNION ALL " : " ", i)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        for (j = 0; j < width; j++) {
            if (j >= rs->width) {
                rc = ts_sql_add(sql, ", NULL::text");

            } else {
                rc = ts_sql_add(sql, ", s.f%ui::text", j);
            }

            if (rc != NGX_OK) {
                return NGX_ERROR;
            }
        }

        if (ts_sql_add(sql, " FROM (SELECT r%ui.ts_q_r, ", i) != NGX_OK
            || ts_sql_columns(sql, rs) != NGX_OK
            || ts_sql_add(sql, " FROM r%ui JOIN %s USING (id)) AS s (ts_q_r",
                          i, rs->table)
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        for (j = 0; j < rs->width; j++) {
            if (ts_sql_add(sql, ", f%ui", j) != NGX_OK) {
                return NGX_ERROR;
            }
        }

        if (ts_sql_add(sql, ")") != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return ts_sql_add(sql, " ORDER BY 1, 2;");
}


static ngx_int_t
ts_resource_prepare_lists(ts_sql_t *sql, ts_resource_t *rs)
{
    ngx_uint_t      mask, nmasks, i, kind;
    ts_relation_t  *rel;

    static const char  *suffix[] = { "", "_after", "_before" };

    nmasks = (ngx_uint_t) 1 << rs->nfilters;

    for (kind = 0; kind < TS_PAGE_KINDS; kind++) {
        for (mask = 0; mask < nmasks; mask++) {
            ts_resource_name(rs->list_statements[kind][mask],
                             "ts_%V_list_%ui%s", &rs->name, mask,
                             suffix[kind]);

            if (ts_resource_prepare_list(sql, rs->list_statements[kind][mask],
                                         kind, rs, mask, NULL, 0, NULL)
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }
    }

    for (i = 0; i < rs->nrelations; i++) {
        rel = &rs->relations[i];
        nmasks = (ngx_uint_t) 1 << rel->child->nfilters;

        if (rel->join) {
            /* ordered: ts_resource_prepare_entries() */
            continue;
        }

        for (kind = 0; kind < TS_PAGE_KINDS; kind++) {

            /* the filter on the parent's id is always there */
            for (mask = 0; mask < nmasks; mask++) {
                if (!(mask & ((ngx_uint_t) 1 << rel->filter))) {
                    continue;
                }

                ts_resource_name(rel->statements[kind][mask],
                                 "ts_%V_%V_%ui%s", &rs->name, &rel->name,
                                 mask, suffix[kind]);

                if (ts_resource_prepare_list(sql,
                                             rel->statements[kind][mask],
                                             kind, rel->child, mask, rs,
                                             rel->filter, rel->sort)
                    != NGX_OK)
                {
                    return NGX_ERROR;
                }
            }
        }
    }

    return NGX_OK;
}


/*
 * One page of a list, with the total, whether the parent exists and
 * whether the anchor (the after= or before= item) is in the list.  The
 * total is one lookup in the counters db/schema.sql keeps, in the same
 * snapshot as the page.
 *
 * An offset page walks ids only (an index-only scan): the columns, some
 * computed, are made for the page's rows alone.  A whole list's starts
 * from the span of ids its first row lies in (ts_list_spans, db/schema.sql:
 * one probe of the index on the rows up to the end of each span) and
 * walks only to its first row from the nearer end of that span
 * (not at all when the span has all its ids), where OFFSET alone walks
 * every id before the page, then reads the page as a range of ids from
 * its first; a filtered or nested list's walks its own rows before the
 * page on its index.  A page
 * after or before an item starts from the anchor's place in the index
 * whatever its depth: the anchor (with its sort key) is looked up by id
 * among the items of the list, and a page of an anchor not in the list is
 * empty.  With a sort column (NULLs last), the rows with a key and those
 * without are two ranges of the index, walked one after the other.  A
 * page before an item is walked backwards and its rows come so, the
 * nearest first.
 */
static ngx_int_t
ts_resource_prepare_list(ts_sql_t *sql, char *name, ngx_uint_t kind,
    ts_resource_t *rs, ngx_uint_t mask, ts_resource_t *parent,
    ngx_uint_t parent_filter, const char *sort)
{
    char         types[TS_FILTERS_MAX + 1];
    size_t       body;
    ngx_uint_t   i, param;
    const char  *lead;

    if (ts_sql_add(sql, "PREPARE %s AS ", name) != NGX_OK) {
        return NGX_ERROR;
    }

    body = sql->pos - sql->start;

    /*
     * By id, the range starts at (filter, anchor's id) rather than at the
     * anchor's id: the same rows, as the filter is fixed, but only an
     * index on (filter, id) can bound it, so that a generic plan cannot
     * walk the primary key and filter what it finds (a rare value would
     * cost the whole table after the anchor)
     */
    lead = NULL;

    for (i = 0; i < rs->nfilters; i++) {
        if (mask & ((ngx_uint_t) 1 << i)) {
            lead = rs->filters[i].column;
            break;
        }
    }

    /*
     * The page's ids: at most TS_PAGE_ROWS, a constant that keeps the
     * plan on the index in NAME_n too, where the limit is a column (with
     * a bare LIMIT its plan hashed the whole table).
     *
     * offset N of a whole list by its spans (db/schema.sql): the first
     * span whose reach passes N, its rows and the N-th row's place k
     * among them
     */
    if (kind == TS_PAGE_OFFSET && mask == 0
        && ts_sql_add(sql, "WITH s AS MATERIALIZED (SELECT span, n,"
                           " $2 - reach + n AS k FROM ts_list_spans"
                           " WHERE tbl = '%s' AND bits = %d AND reach > $2"
                           " ORDER BY reach, span LIMIT 1) ",
                      rs->table, TS_SPAN_BITS)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    /*
     * the anchor: its key, when the list is sorted by one.  By id alone
     * the anchor's id is $2 when it is in the list, and the page is
     * bounded by $2 itself: a CTE, set up again for each page of NAME_n,
     * cost a fifth of the batch.
     */
    if (kind != TS_PAGE_OFFSET && sort
        && (ts_sql_add(sql, "WITH a AS (SELECT id AS a_id, %s AS a_key"
                            " FROM %s WHERE id = $2", sort, rs->table)
               != NGX_OK
            || ts_sql_where(sql, rs, mask, 1) != NGX_OK
            || ts_sql_add(sql, ") ") != NGX_OK))
    {
        return NGX_ERROR;
    }

    /*
     * the page's meta in a row of its own, before the page's rows: each
     * of those rows repeated it, three more values for Postgres to
     * print and libpq to parse, where the item's columns are NULL
     */
    if (ts_sql_add(sql, "SELECT ") != NGX_OK
        || ts_sql_total(sql, rs, mask) != NGX_OK)
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

        if (ts_sql_add(sql, ", EXISTS (SELECT 1 FROM %s WHERE id = $%ui)"
                            " AS found",
                       parent->table, param)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

    } else if (ts_sql_add(sql, ", true AS found") != NGX_OK) {
        return NGX_ERROR;
    }

    if (kind == TS_PAGE_OFFSET) {
        if (ts_sql_add(sql, ", true AS anchored") != NGX_OK) {
            return NGX_ERROR;
        }

    } else if (sort) {
        if (ts_sql_add(sql, ", EXISTS (SELECT 1 FROM a) AS anchored")
            != NGX_OK)
        {
            return NGX_ERROR;
        }

    } else if (ts_sql_add(sql, ", EXISTS (SELECT 1 FROM %s WHERE id = $2",
                          rs->table)
               != NGX_OK
               || ts_sql_where(sql, rs, mask, 1) != NGX_OK
               || ts_sql_add(sql, ") AS anchored") != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ts_sql_meta_rows(sql, rs->width) != NGX_OK) {
        return NGX_ERROR;
    }

    switch (kind) {

    case TS_PAGE_OFFSET:
        if (mask == 0) {
            /*
             * the page is the ids from the N-th on: the N-th found on the
             * index alone, then a range of the primary key read in order,
             * as after an item (no join of the page's ids, nor a sort).
             * In a span that has all its ids the N-th is span + k; in
             * another it is walked to from the nearer end of the span.
             */
            if (ts_sql_add(sql, "SELECT * FROM (SELECT ") != NGX_OK
                || ts_sql_columns(sql, rs) != NGX_OK
                || ts_sql_add(sql, " FROM %s WHERE id >= (SELECT CASE"
                                   " WHEN n = %d THEN span + k"
                                   " WHEN k < n / 2 THEN (SELECT id FROM %s"
                                   " WHERE id >= s.span ORDER BY id"
                                   " OFFSET s.k LIMIT 1)"
                                   " ELSE (SELECT id FROM %s"
                                   " WHERE id >= s.span AND id < s.span + %d"
                                   " ORDER BY id DESC OFFSET s.n - 1 - s.k"
                                   " LIMIT 1) END FROM s)"
                                   " ORDER BY id LIMIT %d) AS y LIMIT $1",
                              rs->table, 1 << TS_SPAN_BITS, rs->table,
                              rs->table, 1 << TS_SPAN_BITS, TS_PAGE_ROWS)
                   != NGX_OK)
            {
                return NGX_ERROR;
            }

            break;
        }

        /*
         * a filtered or nested list: its first page (an album's songs,
         * an artist's albums: most pages asked for) is read on the
         * list's index in order, one scan; a later one walks its own ids
         * before the page, then reads the page's rows by id and sorts
         * them.  Which of the two runs is a one-time test of $2.
         */
        if (ts_sql_add(sql, "SELECT * FROM ((SELECT ") != NGX_OK
            || ts_sql_columns(sql, rs) != NGX_OK
            || ts_sql_add(sql, " FROM %s", rs->table) != NGX_OK
            || ts_sql_where(sql, rs, mask, 0) != NGX_OK
            || ts_sql_add(sql, " AND $2::bigint = 0 ORDER BY %s%sid"
                               " LIMIT %d) UNION ALL (SELECT ",
                          sort ? sort : "", sort ? ", " : "", TS_PAGE_ROWS)
               != NGX_OK
            || ts_sql_columns(sql, rs) != NGX_OK
            || ts_sql_add(sql, " FROM %s WHERE $2::bigint > 0 AND id IN"
                               " (SELECT id FROM (SELECT id FROM %s",
                          rs->table, rs->table)
               != NGX_OK
            || ts_sql_where(sql, rs, mask, 0) != NGX_OK
            || ts_sql_add(sql, " ORDER BY %s%sid OFFSET $2 LIMIT %d) AS k"
                               " LIMIT $1) ORDER BY %s%sid)) AS y LIMIT $1",
                          sort ? sort : "", sort ? ", " : "", TS_PAGE_ROWS,
                          sort ? sort : "", sort ? ", " : "")
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        break;

    case TS_PAGE_AFTER:
        if (sort == NULL) {
            if (ts_sql_add(sql, "SELECT * FROM ") != NGX_OK
                || ts_sql_page(sql, rs, mask,
                               lead ? "(%s, id) > ($3, $2)" : "id > $2",
                               lead, "id")
                   != NGX_OK
                || ts_sql_add(sql, " AS y LIMIT $1") != NGX_OK)
            {
                return NGX_ERROR;
            }

            break;
        }

        /* keyed rows after the anchor's, then the unkeyed ones */
        if (ts_sql_add(sql, "SELECT * FROM (") != NGX_OK
            || ts_sql_page(sql, rs, mask,
                           "(%s, id) > ((SELECT a_key FROM a),"
                           " (SELECT a_id FROM a))", sort, "%s, id")
               != NGX_OK
            || ts_sql_add(sql, " UNION ALL ") != NGX_OK
            || ts_sql_page(sql, rs, mask,
                           "%s IS NULL AND id > (SELECT CASE WHEN a_key"
                           " IS NULL THEN a_id ELSE 0 END FROM a)",
                           sort, "id")
               != NGX_OK
            || ts_sql_add(sql, ") AS y ORDER BY %s, id LIMIT $1", sort)
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        break;

    default: /* TS_PAGE_BEFORE */

        /* walked backwards from the anchor, and returned so */
        if (sort == NULL) {
            if (ts_sql_add(sql, "SELECT * FROM ") != NGX_OK
                || ts_sql_page(sql, rs, mask,
                               lead ? "(%s, id) < ($3, $2)" : "id < $2",
                               lead, "id DESC")
                   != NGX_OK
                || ts_sql_add(sql, " AS y LIMIT $1") != NGX_OK)
            {
                return NGX_ERROR;
            }

            break;
        }

        /*
         * backwards: unkeyed rows before an unkeyed anchor, then keyed
         * rows before the anchor's key, or all of them
         */
        if (ts_sql_add(sql, "SELECT * FROM (") != NGX_OK
            || ts_sql_page(sql, rs, mask,
                           "%s IS NULL AND id < (SELECT CASE WHEN a_key"
                           " IS NULL THEN a_id END FROM a)", sort,
                           "id DESC")
               != NGX_OK
            || ts_sql_add(sql, " UNION ALL ") != NGX_OK
            || ts_sql_page(sql, rs, mask,
                           "(%s, id) < ((SELECT a_key FROM a),"
                           " (SELECT a_id FROM a))", sort,
                           "%s DESC, id DESC")
               != NGX_OK
            || ts_sql_add(sql, " UNION ALL ") != NGX_OK
            || ts_sql_page(sql, rs, mask,
                           "%s IS NOT NULL AND (SELECT a_key IS NULL"
                           " FROM a)", sort, "%s DESC, id DESC")
               != NGX_OK
            || ts_sql_add(sql, ") AS y ORDER BY %s DESC, id DESC LIMIT $1",
                          sort)
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        break;
    }

    if (ts_sql_add(sql, ") AS x;") != NGX_OK) {
        return NGX_ERROR;
    }

    /* the filters' types, in the order of their parameters */
    for (i = 0, param = 0; i < rs->nfilters; i++) {
        if (mask & ((ngx_uint_t) 1 << i)) {
            types[param++] = (rs->filters[i].type == TS_ARG_ID) ? 'i' : 't';
        }
    }

    types[param] = '\0';

    return ts_sql_pages(sql, name, body, types);
}


/*
 * NAME_n: pages of one statement missed in the same turn (ts_read.c), in
 * one statement: $1 their limits, $2 their offsets or anchors (bigint[]),
 * $3... their filters (text[]: an album's songs and another's go
 * together).  Each page is the statement just made (from body in the
 * buffer), run with its own parameters: its rows, as NAME's, and the
 * page's number (from 1) in a last column.  types has a letter per
 * filter: 'i' an id, 't' a text.
 */
static ngx_int_t
ts_sql_pages(ts_sql_t *sql, char *name, size_t body, const char *types)
{
    u_char      *p, *run, *last, *copy;
    size_t       len;
    ngx_uint_t   i, n, k;

    /* the body without its ";", copied: the buffer may move */
    len = sql->pos - sql->start - body - 1;

    copy = ngx_pnalloc(sql->pool, len);
    if (copy == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(copy, sql->start + body, len);
    last = copy + len;
    n = ngx_strlen(types);

    if (ts_sql_add(sql, "PREPARE %s" TS_PAGES_SUFFIX " AS SELECT p.*, b.i"
                        " FROM unnest($1::bigint[], $2::bigint[]", name)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {
        if (ts_sql_add(sql, ", $%ui::text[]", i + 3) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if (ts_sql_add(sql, ") WITH ORDINALITY AS b (l, v") != NGX_OK) {
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {
        if (ts_sql_add(sql, ", f%ui", i + 3) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if (ts_sql_add(sql, ", i) CROSS JOIN LATERAL (") != NGX_OK) {
        return NGX_ERROR;
    }

    /* $1, $2 and the filters are the page's own */
    for (p = copy, run = copy; p + 1 < last; p++) {
        if (p[0] != '$' || p[1] < '1' || p[1] > '9') {
            continue;
        }

        k = p[1] - '0';

        if (k > n + 2) {
            continue;
        }

        if (ts_sql_add(sql, "%*s", (size_t) (p - run), run) != NGX_OK) {
            return NGX_ERROR;
        }

        if (k <= 2) {
            if (ts_sql_add(sql, k == 1 ? "b.l" : "b.v") != NGX_OK) {
                return NGX_ERROR;
            }

        } else if (ts_sql_add(sql, "(b.f%ui::%s)", k,
                              types[k - 3] == 'i' ? "bigint" : "text")
                   != NGX_OK)
        {
            return NGX_ERROR;
        }

        run = ++p + 1;
    }

    return ts_sql_add(sql, "%*s) AS p;", (size_t) (last - run), run);
}


/*
 * Writes take the fields as one JSON object ($1 of create, $2 of update),
 * checked and normalized by ts_write.c: a key present is a column to set.
 * References are checked in the same statement, all of them, so that a
 * 422 can name every missing one; If-Match compares with the ETag
 * computed from the row as it is when the row is locked.
 *
 * Every write statement takes four more parameters after those: an
 * Idempotency-Key's scope, the key, its TTL in seconds and the hash of the
 * request (see ts_idempotency.h), all NULL without a key.  With a key it
 * writes only when no other write with the key is in flight (it returns
 * no row otherwise), and records the key with the row it returns, in the
 * same statement.
 */
static ngx_int_t
ts_resource_prepare_writes(ts_sql_t *sql, ts_resource_t *rs)
{
    ngx_uint_t    i, n;
    ts_column_t  *col;

    ts_resource_name(rs->create_statement, "ts_%V_create", &rs->name);
    ts_resource_name(rs->update_statement, "ts_%V_update", &rs->name);
    ts_resource_name(rs->delete_statement, "ts_%V_delete", &rs->name);

    rs->nreferences = 0;

    for (i = 0; i < rs->ncolumns; i++) {
        if (rs->columns[i].references) {
            rs->nreferences++;
        }
    }

    /* create */

    if (ts_sql_add(sql, "PREPARE %s AS WITH ", rs->create_statement)
           != NGX_OK
        || ts_sql_keyed(sql, 2) != NGX_OK
        || ts_sql_add(sql, "s AS (SELECT $1::jsonb AS j FROM l WHERE l.ok),"
                           " c AS (SELECT")
           != NGX_OK
        || ts_sql_references(sql, rs, 0) != NGX_OK
        || ts_sql_add(sql, " FROM s), w AS (INSERT INTO %s (", rs->table)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = 0, n = 0; i < rs->ncolumns; i++) {
        col = &rs->columns[i];

        if (col->input != TS_IN_NONE
            && ts_sql_add(sql, "%s%V", n++ ? ", " : "", &col->name) != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (ts_sql_add(sql, ") SELECT ") != NGX_OK) {
        return NGX_ERROR;
    }

    for (i = 0, n = 0; i < rs->ncolumns; i++) {
        col = &rs->columns[i];

        if (col->input != TS_IN_NONE
            && ts_sql_add(sql, "%s(j->>'%V')::%s", n++ ? ", " : "",
                          &col->name, ts_resource_casts[col->input])
               != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (ts_sql_add(sql, " FROM s, c WHERE true") != NGX_OK
        || ts_sql_references(sql, rs, 1) != NGX_OK
        || ts_sql_add(sql, " RETURNING ") != NGX_OK
        || ts_sql_columns(sql, rs) != NGX_OK
        || ts_sql_add(sql, ", ") != NGX_OK
        || ts_sql_etag(sql, rs) != NGX_OK
        || ts_sql_add(sql, "), r AS (SELECT true AS found, c.*, w.*"
                           " FROM c LEFT JOIN w ON true)")
           != NGX_OK
        || ts_sql_result(sql, 2) != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* update */

    if (ts_sql_add(sql, "PREPARE %s AS WITH ", rs->update_statement)
           != NGX_OK
        || ts_sql_keyed(sql, 4) != NGX_OK
        || ts_sql_add(sql, "s AS (SELECT $2::jsonb AS j FROM l WHERE l.ok),"
                           " c AS (SELECT")
           != NGX_OK
        || ts_sql_references(sql, rs, 0) != NGX_OK
        || ts_sql_add(sql, " FROM s), w AS (UPDATE %s SET ", rs->table)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = 0, n = 0; i < rs->ncolumns; i++) {
        col = &rs->columns[i];

        if (col->input != TS_IN_NONE
            && ts_sql_add(sql, "%s%V = CASE WHEN j ? '%V'"
                               " THEN (j->>'%V')::%s ELSE %V END",
                          n++ ? ", " : "", &col->name, &col->name,
                          &col->name, ts_resource_casts[col->input], &col->name)
               != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (ts_sql_writes(sql, rs, n) != NGX_OK
        || ts_sql_add(sql, " FROM s, c WHERE id = $1") != NGX_OK
        || ts_sql_references(sql, rs, 1) != NGX_OK
        || ts_sql_add(sql, " AND ($3::text[] IS NULL OR ") != NGX_OK
        || ts_sql_etag(sql, rs) != NGX_OK
        || ts_sql_add(sql, " = ANY ($3::text[])) RETURNING ") != NGX_OK
        || ts_sql_columns(sql, rs) != NGX_OK
        || ts_sql_add(sql, ", ") != NGX_OK
        || ts_sql_etag(sql, rs) != NGX_OK
        || ts_sql_add(sql, "), r AS (SELECT EXISTS (SELECT 1 FROM %s"
                           " WHERE id = $1) AS found, c.*, w.*"
                           " FROM c LEFT JOIN w ON true)",
                      rs->table)
           != NGX_OK
        || ts_sql_result(sql, 4) != NGX_OK)
    {
        return NGX_ERROR;
    }

    /*
     * delete: a row still referenced fails with 23503, kept for a 409;
     * one in an ordered list is kept, and the lists that hold it are
     * named (the foreign key still says no to one added meanwhile)
     */

    if (ts_sql_add(sql, "PREPARE %s AS WITH ", rs->delete_statement)
           != NGX_OK
        || ts_sql_keyed(sql, 3) != NGX_OK
        || ts_sql_add(sql, "w AS (DELETE FROM %s WHERE id = $1"
                           " AND (SELECT ok FROM l)"
                           " AND ($2::text[] IS NULL OR ",
                      rs->table)
           != NGX_OK
        || ts_sql_etag(sql, rs) != NGX_OK
        || ts_sql_add(sql, " = ANY ($2::text[]))") != NGX_OK
        || (rs->holder
            && ts_sql_add(sql, " AND NOT EXISTS (SELECT 1 FROM %s"
                               " WHERE %s = $1)",
                          rs->holder->join, rs->holder->child_column)
               != NGX_OK)
        || ts_sql_add(sql, " RETURNING id),"
                           " r AS (SELECT EXISTS (SELECT 1 FROM %s"
                           " WHERE id = $1) AS found,"
                           " (SELECT count(*) FROM w) AS deleted",
                      rs->table)
           != NGX_OK
        || (rs->holder
            && ts_sql_add(sql, ", (SELECT string_agg(h::text, ', '"
                               " ORDER BY h) FROM (SELECT DISTINCT %s AS h"
                               " FROM %s WHERE %s = $1 ORDER BY h LIMIT 20)"
                               " AS h) AS held",
                          rs->holder->parent_column, rs->holder->join,
                          rs->holder->child_column)
               != NGX_OK)
        || ts_sql_add(sql, " FROM l WHERE l.ok)") != NGX_OK
        || ts_sql_result(sql, 3) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * An ordered relation: its list statements (parameters as every nested
 * list's: $1 rows, $2 offset or anchor entry, $3 the parent's id, and
 * their NAME_n for pages missed in one turn), the entries in position
 * order, each with its child; and its write (see
 * TS_ENTRIES_ in ts_resource.h).  A write locks the parent's row first:
 * db/schema.sql's ts_entries_write() then sees every entry committed
 * before it, and positions stay dense whatever writes run at once.
 */
static ngx_int_t
ts_resource_prepare_entries(ts_sql_t *sql, ts_resource_t *rs,
    ts_relation_t *rel)
{
    char           *name;
    size_t          body;
    ngx_uint_t      kind;
    ts_resource_t  *child;

    static const char  *suffix[] = { "", "_after", "_before" };
    static const char  *cond[] = {
        "", " AND position > (SELECT a_pos FROM a)",
        " AND position < (SELECT a_pos FROM a)"
    };

    child = rel->child;

    for (kind = 0; kind < TS_PAGE_KINDS; kind++) {
        name = rel->statements[kind][0];

        ts_resource_name(name, "ts_%V_%V_0%s", &rs->name, &rel->name,
                         suffix[kind]);

        if (ts_sql_add(sql, "PREPARE %s AS ", name) != NGX_OK) {
            return NGX_ERROR;
        }

        body = sql->pos - sql->start;

        if ((kind != TS_PAGE_OFFSET
                && ts_sql_add(sql, "WITH a AS (SELECT position AS a_pos"
                                   " FROM %s WHERE id = $2 AND %s = $3) ",
                              rel->join, rel->parent_column)
                   != NGX_OK)
            || ts_sql_add(sql, "SELECT coalesce((SELECT n"
                               " FROM ts_list_counts"
                               " WHERE tbl = '%s' AND cols = '{%s}'"
                               " AND vals = ARRAY[$3::bigint::text]), 0)"
                               " AS total, EXISTS (SELECT 1 FROM %s"
                               " WHERE id = $3) AS found, %s AS anchored",
                          rel->join, rel->parent_column, rs->table,
                          kind == TS_PAGE_OFFSET
                          ? "true" : "EXISTS (SELECT 1 FROM a)")
               != NGX_OK
            || ts_sql_meta_rows(sql, TS_ENTRY_COLUMNS + child->width)
               != NGX_OK
            || ts_sql_add(sql, "SELECT e.id AS entry_id, e.position, s.*"
                               " FROM (SELECT id, %s, position FROM %s"
                               " WHERE %s = $3%s ORDER BY position%s"
                               " LIMIT $1%s) AS e CROSS JOIN LATERAL"
                               " (SELECT ",
                          rel->child_column, rel->join, rel->parent_column,
                          cond[kind], kind == TS_PAGE_BEFORE ? " DESC" : "",
                          kind == TS_PAGE_OFFSET ? " OFFSET $2" : "")
               != NGX_OK
            || ts_sql_columns(sql, child) != NGX_OK
            || ts_sql_add(sql, " FROM %s WHERE id = e.%s) AS s"
                               " ORDER BY e.position%s) AS x;",
                          child->table, rel->child_column,
                          kind == TS_PAGE_BEFORE ? " DESC" : "")
               != NGX_OK
            || ts_sql_pages(sql, name, body, "i") != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    ts_resource_name(rel->write_statement, "ts_%V_%V_write", &rs->name,
                     &rel->name);

    if (ts_sql_add(sql, "PREPARE %s AS WITH ", rel->write_statement)
           != NGX_OK
        || ts_sql_keyed(sql, 7) != NGX_OK
        || ts_sql_add(sql, "p AS (SELECT id FROM %s WHERE id = $1"
                           " AND (SELECT ok FROM l)"
                           " AND ($6::text[] IS NULL OR ",
                      rs->table)
           != NGX_OK
        || ts_sql_etag(sql, rs) != NGX_OK
        || ts_sql_add(sql, " = ANY ($6::text[])) FOR UPDATE),"
                           " m AS (SELECT string_agg(u.id::text, ', '"
                           " ORDER BY u.id) AS missing FROM (SELECT DISTINCT"
                           " id FROM unnest($3::bigint[]) AS v (id)) AS u"
                           " WHERE NOT EXISTS (SELECT 1 FROM %s"
                           " WHERE id = u.id)),"
                           " e AS (SELECT ts_entries_write('%s', '%s', '%s',"
                           " p.id, $2::text, $3::bigint[], $4::bigint,"
                           " $5::integer) AS problem FROM p, m"
                           " WHERE m.missing IS NULL),"
                           " w AS (UPDATE %s SET ",
                      child->table, rel->join, rel->parent_column,
                      rel->child_column, rs->table)
           != NGX_OK
        || ts_sql_writes(sql, rs, 0) != NGX_OK
        || ts_sql_add(sql, " FROM e WHERE %s.id = $1 AND e.problem IS NULL"
                           " RETURNING ", rs->table)
           != NGX_OK
        || ts_sql_columns(sql, rs) != NGX_OK
        || ts_sql_add(sql, ", ") != NGX_OK
        || ts_sql_etag(sql, rs) != NGX_OK
        || ts_sql_add(sql, "), r AS (SELECT EXISTS (SELECT 1 FROM %s"
                           " WHERE id = $1) AS found,"
                           " (SELECT missing FROM m) AS missing,"
                           " (SELECT problem FROM e) AS problem, w.*"
                           " FROM l LEFT JOIN w ON true WHERE l.ok)",
                      rs->table)
           != NGX_OK
        || ts_sql_result(sql, 7) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* ", col = expression" for the columns every write sets; n: set so far */
static ngx_int_t
ts_sql_writes(ts_sql_t *sql, ts_resource_t *rs, ngx_uint_t n)
{
    ngx_uint_t    i;
    ts_column_t  *col;

    for (i = 0; i < rs->ncolumns; i++) {
        col = &rs->columns[i];

        if (col->write
            && ts_sql_add(sql, "%s%V = %s", n++ ? ", " : "", &col->name,
                          col->write)
               != NGX_OK)
        {
            return NGX_ERROR;
        }
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


/*
 * The start of a write: "l AS (...), ", whose l.ok says the write may go
 * on: always without a key ($first + 1 NULL); with one, if no other write
 * with the key is in flight (its lock is taken).  first is the scope's
 * parameter.
 */
static ngx_int_t
ts_sql_keyed(ts_sql_t *sql, ngx_uint_t first)
{
    return ts_sql_add(sql, "l AS (SELECT CASE WHEN $%ui::text IS NULL"
                           " THEN true ELSE ts_idempotency_begin($%ui::text,"
                           " $%ui::text, $%ui::int) END AS ok), ",
                      first + 1, first, first + 1, first + 2);
}


/*
 * The end of a write: its result is the CTE r, recorded with the key, if
 * there is one, when the statement wrote (w)
 */
static ngx_int_t
ts_sql_result(ts_sql_t *sql, ngx_uint_t first)
{
    return ts_sql_add(sql, ", i AS (INSERT INTO ts_idempotency"
                           " (scope, key, hash, result)"
                           " SELECT $%ui, $%ui, $%ui::text,"
                           " ts_idempotency_values(row_to_json(r)) FROM r"
                           " WHERE $%ui IS NOT NULL"
                           " AND EXISTS (SELECT FROM w))"
                           " SELECT * FROM r;",
                      first, first + 1, first + 3, first + 1);
}


static ngx_int_t
ts_sql_columns(ts_sql_t *sql, ts_resource_t *rs)
{
    ngx_uint_t    i, k;
    ts_column_t  *column;

    for (i = 0; i < rs->ncolumns; i++) {
        column = &rs->columns[i];

        if (column->fields == NULL) {
            if (ts_sql_add(sql, "%s%s AS %V", i ? ", " : "", column->select,
                           &column->name)
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            continue;
        }

        if (ts_sql_add(sql, "%s%s AS %V_0", i ? ", " : "",
                       column->fields[0], &column->name)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        /*
         * the column is null when its first field is: the others are
         * not computed nor sent then (most of a page's songs may have
         * no audio; a value costs Postgres and libpq more than a NULL)
         */
        for (k = 1; column->fields[k]; k++) {
            if (ts_sql_add(sql, ", CASE WHEN %s IS NOT NULL THEN %s END"
                                " AS %V_%ui",
                           column->fields[0], column->fields[k],
                           &column->name, k)
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }
    }

    return NGX_OK;
}


/* where a column's result columns are, and an item's width */
static ngx_int_t
ts_resource_fields(ts_resource_t *rs, ts_column_t *column)
{
    column->field = rs->width;
    column->nfields = 1;

    if (column->fields) {
        for (column->nfields = 0;
             column->fields[column->nfields];
             column->nfields++)
        { /* void */ }

        if (column->nfields == 0 || column->nfields > TS_FIELDS_MAX) {
            ngx_log_error(NGX_LOG_EMERG, ngx_cycle->log, 0,
                          "tunesheap: %V.%V has %ui fields, 1 to %d are "
                          "possible", &rs->name, &column->name,
                          column->nfields, TS_FIELDS_MAX);
            return NGX_ERROR;
        }
    }

    rs->width += column->nfields;

    return NGX_OK;
}


/*
 * The ETag of an item: a hash of what the API shows of it, names included,
 * so that any change of the representation changes the tag.  Computed in
 * SQL so that If-Match can be checked in the statement that writes.
 */
static ngx_int_t
ts_sql_etag(ts_sql_t *sql, ts_resource_t *rs)
{
    ngx_uint_t    i, k;
    ts_column_t  *column;

    if (ts_sql_add(sql, "md5('%V(", &rs->name) != NGX_OK) {
        return NGX_ERROR;
    }

    for (i = 0; i < rs->ncolumns; i++) {
        if (ts_sql_add(sql, "%s%V", i ? "," : "", &rs->columns[i].name)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (ts_sql_add(sql, ")' || ROW(") != NGX_OK) {
        return NGX_ERROR;
    }

    for (i = 0; i < rs->ncolumns; i++) {
        column = &rs->columns[i];

        if (column->fields == NULL) {
            if (ts_sql_add(sql, "%s%s", i ? ", " : "", column->select)
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            continue;
        }

        /* statements may be made before ts_resource_init() (media's) */
        for (k = 0; column->fields[k]; k++) {
            if (ts_sql_add(sql, "%s%s", i || k ? ", " : "", column->fields[k])
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }
    }

    return ts_sql_add(sql, ")::text)");
}


/*
 * "rN, ...": whether the item each reference names exists (or the field is
 * not set); with cond, " AND c.rN ..." requiring them all
 */
static ngx_int_t
ts_sql_references(ts_sql_t *sql, ts_resource_t *rs, ngx_uint_t cond)
{
    ngx_uint_t    i, n;
    ngx_int_t     rc;
    ts_column_t  *col;

    for (i = 0, n = 0; i < rs->ncolumns; i++) {
        col = &rs->columns[i];

        if (col->references == NULL) {
            continue;
        }

        if (cond) {
            rc = ts_sql_add(sql, " AND c.r%ui", n);

        } else {
            rc = ts_sql_add(sql, "%s (jsonb_typeof(j->'%V') IS DISTINCT FROM"
                                 " 'number' OR EXISTS (SELECT 1 FROM %s"
                                 " WHERE id = (j->>'%V')::bigint)) AS r%ui",
                            n ? "," : "", &col->name,
                            col->references->table, &col->name, n);
        }

        if (rc != NGX_OK) {
            return NGX_ERROR;
        }

        n++;
    }

    return NGX_OK;
}


/*
 * "(SELECT columns FROM table WHERE cond AND filters ORDER BY order
 * LIMIT TS_PAGE_ROWS)": cond and order are formats of at most two sort (a
 * column's name, or NULL where they have no %s).  cond reads the anchor's
 * values through scalar subqueries, which Postgres runs once, before the
 * scan: then they bound an index range (a join with the anchor would not).
 * The caller's LIMIT $1 takes the page from these rows; a constant here
 * lets Postgres keep one generic plan: with LIMIT $1 alone it would assume
 * a tenth of the table, and plan every execution anew.
 */
static ngx_int_t
ts_sql_page(ts_sql_t *sql, ts_resource_t *rs, ngx_uint_t mask,
    const char *cond, const char *sort, const char *order)
{
    if (ts_sql_add(sql, "(SELECT ") != NGX_OK
        || ts_sql_columns(sql, rs) != NGX_OK
        || ts_sql_add(sql, " FROM %s WHERE ", rs->table) != NGX_OK
        || ts_sql_add(sql, cond, sort, sort) != NGX_OK
        || ts_sql_where(sql, rs, mask, 1) != NGX_OK
        || ts_sql_add(sql, " ORDER BY ") != NGX_OK
        || ts_sql_add(sql, order, sort, sort) != NGX_OK
        || ts_sql_add(sql, " LIMIT %d)", TS_PAGE_ROWS) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * the list's total: one row of ts_list_counts (db/schema.sql), its values
 * as text the way Postgres writes those of the columns ('007' is '7')
 */
static ngx_int_t
ts_sql_total(ts_sql_t *sql, ts_resource_t *rs, ngx_uint_t mask)
{
    ngx_uint_t  i, n, param;

    if (ts_sql_add(sql, "coalesce((SELECT n FROM ts_list_counts"
                        " WHERE tbl = '%s' AND cols = '{",
                   rs->table)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = 0, n = 0; i < rs->nfilters; i++) {
        if ((mask & ((ngx_uint_t) 1 << i))
            && ts_sql_add(sql, "%s%s", n++ ? "," : "", rs->filters[i].column)
               != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (ts_sql_add(sql, "}' AND vals = ARRAY[") != NGX_OK) {
        return NGX_ERROR;
    }

    for (i = 0, param = 3; i < rs->nfilters; i++) {
        if ((mask & ((ngx_uint_t) 1 << i))
            && ts_sql_add(sql, "%s$%ui::%s::text", param > 3 ? ", " : "",
                          param, rs->filters[i].type == TS_ARG_ID
                                 ? "bigint" : "text")
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (mask & ((ngx_uint_t) 1 << i)) {
            param++;
        }
    }

    return ts_sql_add(sql, "]::text[]), 0) AS total");
}


/*
 * Ends a page's meta row, its item columns (width of them) NULL, and
 * opens the page's rows, whose meta is NULL: "x" the page's subquery.
 * The meta row comes first: a non-parallel Append (every connection's
 * setup, ts_resource_init(), turns parallel workers off) runs its plans
 * in order, and the reader checks the first row's found, never NULL.
 */
static ngx_int_t
ts_sql_meta_rows(ts_sql_t *sql, ngx_uint_t width)
{
    ngx_uint_t  i;

    for (i = 0; i < width; i++) {
        if (ts_sql_add(sql, ", NULL") != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if (ts_sql_add(sql, " UNION ALL SELECT ") != NGX_OK) {
        return NGX_ERROR;
    }

    for (i = 0; i <= TS_LIST_ANCHOR; i++) {
        if (ts_sql_add(sql, "NULL, ") != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return ts_sql_add(sql, "x.* FROM (");
}


/*
 * filters in mask compare with $3, $4, ... in the order they are
 * described; where: a WHERE clause is already open
 */
static ngx_int_t
ts_sql_where(ts_sql_t *sql, ts_resource_t *rs, ngx_uint_t mask,
    ngx_uint_t where)
{
    ngx_uint_t  i, param;

    param = 3;

    for (i = 0; i < rs->nfilters; i++) {
        if (!(mask & ((ngx_uint_t) 1 << i))) {
            continue;
        }

        if (ts_sql_add(sql, "%s%s = $%ui", where ? " AND " : " WHERE ",
                       rs->filters[i].column, param)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        where = 1;
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
