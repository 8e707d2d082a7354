
/*
 * Tunesheap: the catalog's resources, each described once.  The prepared
 * statements of every operation are generated from these descriptions.
 */


#ifndef _TS_RESOURCE_H_INCLUDED_
#define _TS_RESOURCE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <yajl/yajl_gen.h>
#include <libpq-fe.h>


#define TS_FILTERS_MAX   4

/*
 * The most resources: the cache knows each as a bit of a set of
 * dependencies (ts_resource_bit()) and keeps a version of each in every
 * shared-memory entry.  ts_resource.c refuses more at compile time.
 */
#define TS_RESOURCES_MAX 8
#define TS_STATEMENT_LEN 40
#define TS_PAGES_SUFFIX  "_n"  /* a list's pages of one turn: ts_resource.c */
#define TS_SEARCH_FIRST  2     /* a search row's first column of its item */
#define TS_ITEM_HASH_LEN 32    /* hex digits of an item's ETag (md5()) */

/* JSON types of columns */
#define TS_COL_NUMBER    0
#define TS_COL_STRING    1
#define TS_COL_AUDIO     2    /* an object, or null: ts_column_json */
#define TS_COL_STREAM    3    /* a signed URL, or null: ts_column_json */
#define TS_COL_TYPES     4

/*
 * A resource with a TS_COL_STREAM column has audio: its table has
 * audio_key, audio_type, audio_size, audio_bitrate_kbps and
 * audio_duration_ms (db/schema.sql), written by the media layer, which
 * also writes these two columns' JSON.  Its links are the same within a
 * window of TS_MEDIA_WINDOW seconds (in SQL's clock), so that answers
 * with links can be cached and keep their ETag.
 */
#define TS_MEDIA_WINDOW  900

/* TS_COL_AUDIO's fields: type, size, bitrate, duration */
#define TS_MEDIA_AUDIO_FIELDS  (const char *const []) {                     \
    "CASE WHEN audio_key IS NOT NULL THEN audio_type END",                   \
    "audio_size", "coalesce(audio_bitrate_kbps, 0)",                         \
    "coalesce(audio_duration_ms, 0)", NULL }

/*
 * TS_COL_STREAM's fields: id, window, key; the window is a subquery, made
 * once a statement rather than once a row (its numeric arithmetic costs)
 */
#define TS_MEDIA_STREAM_FIELDS  (const char *const []) {                    \
    "CASE WHEN audio_key IS NOT NULL THEN id END",                           \
    "(SELECT floor(extract(epoch FROM now()) / " ngx_value(TS_MEDIA_WINDOW)  \
    ")::bigint * " ngx_value(TS_MEDIA_WINDOW) ")", "audio_key", NULL }

/* the most fields a column may have */
#define TS_FIELDS_MAX    4

/* what a column accepts in a write; TS_IN_NONE: it cannot be written */
#define TS_IN_NONE       0
#define TS_IN_TEXT       1
#define TS_IN_INTEGER    2    /* 0 to 2147483647 */
#define TS_IN_ID         3    /* another item's id */
#define TS_IN_DATE       4    /* YYYY-MM-DD */
#define TS_IN_TIME       5    /* YYYY-MM-DD[ HH:MM:SS UTC], or ISO 8601 */

/* types of filter arguments */
#define TS_ARG_ID        0
#define TS_ARG_TEXT      1

/*
 * list statements: the columns that come before an item's own: the total
 * (from the counters of db/schema.sql), whether the parent item exists,
 * whether the after= or before= item is in the list (true for offsets)
 */
#define TS_LIST_TOTAL    0
#define TS_LIST_FOUND    1
#define TS_LIST_ANCHOR   2

/*
 * the kinds of list pages, one statement each: $1 is the number of rows
 * to fetch, $2 the offset or the id of the item the page is after or
 * before, $3... the filters (in the order they are described)
 */
#define TS_PAGE_OFFSET   0
#define TS_PAGE_AFTER    1
#define TS_PAGE_BEFORE   2    /* its rows come backwards, nearest first */
#define TS_PAGE_KINDS    3

/* the most rows $1 may ask for: the largest page, and one row more */
#define TS_PAGE_ROWS     101

/*
 * create and update statements: whether the item exists, then whether each
 * referenced item exists (one column per reference), then the item written
 * and its ETag; delete statements: whether it existed, and rows deleted
 */
#define TS_WRITE_FOUND   0
#define TS_WRITE_REFS    1
#define TS_DELETE_COUNT  1
#define TS_DELETE_HELD   2    /* the lists that hold it (see holder) */

/*
 * An ordered relation's entries: a list statement returns the entry's id
 * and position before the child's columns.  Its write statement takes $1
 * the parent's id, $2 the operation (TS_ENTRIES_REPLACE...), $3 child ids
 * (bigint[]), $4 an entry's id, $5 a position, $6 If-Match, then an
 * Idempotency-Key's four; it returns whether the parent exists, the child
 * ids that do not (text, or NULL), why the entries could not be written
 * (a 409, or NULL), then the parent as written and its ETag.
 */
#define TS_ENTRY_COLUMNS   2
#define TS_ENTRIES_MISSING 1
#define TS_ENTRIES_PROBLEM 2
#define TS_ENTRIES_ITEM    3

#define TS_ENTRIES_MAX     10000    /* ids in a PUT of entries */

#define TS_ENTRIES_REPLACE "replace"
#define TS_ENTRIES_INSERT  "insert"
#define TS_ENTRIES_MOVE    "move"
#define TS_ENTRIES_REMOVE  "remove"


/* the resources, by name: their index in ts_resources[] */
typedef enum {
    TS_ARTISTS = 0,
    TS_ALBUMS,
    TS_SONGS,
    TS_PLAYLISTS,
    TS_NRESOURCES
} ts_resource_e;


typedef struct ts_resource_s  ts_resource_t;

/* names live as long as the process: a failed reload must not free them */
typedef char  ts_statement_t[TS_STATEMENT_LEN];


typedef struct {
    ngx_str_t         name;          /* in JSON and in the table */
    const char       *select;        /* SQL expression giving its text */
    const char *const *fields;       /* instead: several expressions, a
                                        result column each, NULL ended;
                                        the column is null when the
                                        first is */
    ngx_uint_t        type;          /* TS_COL_ */
    ngx_uint_t        input;         /* TS_IN_ */
    ngx_uint_t        required;
    size_t            max;           /* characters in a text */
    ts_resource_t    *references;    /* TS_IN_ID: whose id */
    const char       *write;         /* SQL it is set to by every write of
                                        the item or of its entries */

    ngx_uint_t        field;         /* its first result column, counted
                                        from the item's first */
    ngx_uint_t        nfields;
} ts_column_t;


/*
 * A list's total is read from the counters db/schema.sql keeps: its
 * ts_list_counts_install() names each table's filter columns, in the order
 * they are described here.
 */
typedef struct {
    ngx_str_t         name;          /* query argument */
    const char       *column;
    ngx_uint_t        type;          /* TS_ARG_ */
} ts_filter_t;


/*
 * A list of child items under one item: /artists/4/albums, the children
 * whose filter names our id.  With join, an ordered many-to-many list
 * instead: /playlists/3/songs, the rows of the join table (entries: id,
 * parent_column, child_column, position from 0 without gaps) in position
 * order, a child possibly more than once; its entries are written through
 * the parent (ts_write.c), and a child that is in a list cannot be
 * deleted.
 */
typedef struct {
    ngx_str_t         name;          /* path segment */
    ts_resource_t    *child;
    ngx_uint_t        filter;        /* the child's filter on our id */
    const char       *sort;          /* ordered by it (NULLs last), then
                                        by id; NULL: by id.  The name of
                                        a column, in the table and in
                                        JSON */
    const char       *join;          /* the join table, or NULL */
    const char       *parent_column; /* our id in it */
    const char       *child_column;  /* the child's id in it */

    ts_resource_t    *parent;        /* the resource it is of */
    ts_statement_t    statements[TS_PAGE_KINDS][1 << TS_FILTERS_MAX];
                                     /* by page kind and filter mask;
                                        ordered: mask 0 */
    ts_statement_t    write_statement;    /* ordered: see TS_ENTRIES_ */
} ts_relation_t;


struct ts_resource_s {
    ngx_str_t         name;          /* plural, path segment and JSON key */
    ngx_str_t         singular;
    const char       *table;
    ts_column_t      *columns;
    ngx_uint_t        ncolumns;
    ts_filter_t      *filters;
    ngx_uint_t        nfilters;
    const char       *search;        /* the column search matches */
    ngx_str_t         version_key;   /* in Redis, bumped by writes */
    ts_relation_t    *relations;
    ngx_uint_t        nrelations;

    ngx_uint_t        nreferences;   /* columns with references */
    ts_relation_t    *holder;        /* an ordered relation listing us */

    ts_statement_t    item_statement;     /* the item, then its ETag */
    ts_statement_t    create_statement;   /* $1 fields as JSON */
    ts_statement_t    update_statement;   /* $1 id, $2 fields, $3 ETags */
    ts_statement_t    delete_statement;   /* $1 id, $2 ETags */
    ts_statement_t    list_statements[TS_PAGE_KINDS][1 << TS_FILTERS_MAX];
                                     /* by page kind and filter mask */
    ts_statement_t    items_statement;    /* $1 ids (bigint[]): the items
                                             found, as item_statement */
    ngx_uint_t        id_column;          /* the result column of "id" */
    ngx_uint_t        width;              /* an item's result columns */
};


/*
 * Writes a column's value as JSON, for the types the resource layer does
 * not know (TS_COL_AUDIO, TS_COL_STREAM), from its values (one per
 * field): set by the layer that does (ts_media_init()); NULL: the value
 * as a string
 */
typedef yajl_gen_status (*ts_column_json_pt)(ngx_http_request_t *r,
    yajl_gen g, ts_resource_t *rs, ngx_str_t *values);


extern ts_column_json_pt  ts_column_json[TS_COL_TYPES];
extern ts_resource_t   ts_resources[];

extern ngx_uint_t      ts_nresources;
extern const char      ts_health_statement[];
extern const char      ts_search_statement[];
extern const char     *ts_resource_casts[];


/* the bit of rs in a set of cache dependencies */
#define ts_resource_bit(rs)  ((ngx_uint_t) 1 << ((rs) - ts_resources))


/*
 * Names every statement and returns the SQL, allocated from pool, that
 * prepares them all: run once on each new Postgres connection.
 */
ngx_int_t ts_resource_init(ngx_pool_t *pool, ngx_str_t *setup);

/* the SQL of an item's ETag, for statements of other layers on its row */
ngx_int_t ts_resource_etag_sql(ngx_pool_t *pool, ts_resource_t *rs,
    ngx_str_t *etag);

ts_resource_t *ts_resource_find(ngx_str_t *name);
ts_relation_t *ts_relation_find(ts_resource_t *rs, ngx_str_t *name);

/*
 * one item as a JSON object, from row of res starting at column first;
 * r gives the links in it
 */
yajl_gen_status ts_resource_item(ngx_http_request_t *r, yajl_gen g,
    ts_resource_t *rs, PGresult *res, int row, int first);

/*
 * {"artist":{...}} and the item's ETag, from row 0 of res: the item's
 * columns start at first, its ETag's hash follows them
 */
ngx_int_t ts_resource_item_body(ngx_http_request_t *r, ts_resource_t *rs,
    PGresult *res, int first, ngx_str_t *body, u_char **hash);

/* the same from any row of res */
ngx_int_t ts_resource_item_body_row(ngx_http_request_t *r, ts_resource_t *rs,
    PGresult *res, int row, int first, ngx_str_t *body, u_char **hash);


#endif /* _TS_RESOURCE_H_INCLUDED_ */
