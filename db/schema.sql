-- Tunesheap catalog schema.  Applied by `make run` and `make test` on every
-- start, so every statement here is idempotent.

CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS unaccent;

-- Search folds case and accents; an IMMUTABLE wrapper lets indexes use it
-- (unaccent() itself is only STABLE because its dictionary could change).
CREATE OR REPLACE FUNCTION ts_fold(text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    AS $$ SELECT lower(public.unaccent('public.unaccent'::regdictionary, $1)) $$;

CREATE TABLE IF NOT EXISTS artists (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL,
    country     text,
    description text,
    dob         timestamptz,
    website     text,
    picture_url text
);

CREATE TABLE IF NOT EXISTS albums (
    id           bigserial PRIMARY KEY,
    artist_id    bigint NOT NULL REFERENCES artists (id),
    title        text NOT NULL,
    release_date date,
    genre        text,
    cover_url    text
);

CREATE TABLE IF NOT EXISTS songs (
    id           bigserial PRIMARY KEY,
    album_id     bigint NOT NULL REFERENCES albums (id),
    artist_id    bigint NOT NULL REFERENCES artists (id),
    title        text NOT NULL,
    track_number integer,
    duration_ms  integer
);

-- A song's audio: the object's key under the media root (or in the S3
-- bucket), never a name a client chose, and what the upload's bytes said.
ALTER TABLE songs ADD COLUMN IF NOT EXISTS audio_key text;
ALTER TABLE songs ADD COLUMN IF NOT EXISTS audio_type text;
ALTER TABLE songs ADD COLUMN IF NOT EXISTS audio_size bigint;
ALTER TABLE songs ADD COLUMN IF NOT EXISTS audio_bitrate_kbps integer;
ALTER TABLE songs ADD COLUMN IF NOT EXISTS audio_duration_ms integer;

-- Filters and nested lists walk these in id (or track) order.
CREATE INDEX IF NOT EXISTS artists_country_idx ON artists (country, id);
CREATE INDEX IF NOT EXISTS albums_artist_idx ON albums (artist_id, id);
CREATE INDEX IF NOT EXISTS albums_genre_idx ON albums (genre, id);
CREATE INDEX IF NOT EXISTS songs_album_idx
    ON songs (album_id, track_number, id);
CREATE INDEX IF NOT EXISTS songs_artist_idx ON songs (artist_id, id);

-- Search (see ts_resource.c): every branch of a search is a capped index
-- scan, so a search costs about the same whatever the text.
--  * exact and "starts with" on the whole folded name: btree, bytewise
--    (text_pattern_ops: ranges in byte order whatever the collation);
--  * words, the last one also a prefix: GIN full text;
--  * typos: GIN trigram similarity (%).

-- The words of a folded search text, all required; the last one also as a
-- prefix ("metal" finds "metallica": search as the user types) unless the
-- text ends in something other than a letter or digit (the user finished
-- the word) or the word is shorter than 3 characters (too many words begin
-- with one or two letters; the whole-name prefix covers those).
CREATE OR REPLACE FUNCTION ts_search_query(text) RETURNS tsquery
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    AS $$
    SELECT CASE
        WHEN $1 ~ '[[:alnum:]]$' AND q::text ~ '''[^'']{3,}''$'
        THEN (q::text || ':*')::tsquery
        ELSE q
    END
    FROM plainto_tsquery('simple', $1) AS q $$;

-- Typos: names similar to a folded text, at most $2 of them.  The GIN
-- trigram index can only skip names that share too few trigrams with the
-- text, and every other name is read and compared: a threshold of 0.4
-- (not the default 0.3) keeps that to names sharing a larger part of the
-- text ("metalica" still finds "metallica", "raidohead" "radiohead").
-- One function per table: SET only holds for a function call.
CREATE OR REPLACE FUNCTION ts_search_typos_artists(text, integer)
    RETURNS SETOF bigint
    LANGUAGE sql STABLE PARALLEL SAFE STRICT
    SET pg_trgm.similarity_threshold = 0.4 SET gin_fuzzy_search_limit = 1000
    AS $$ SELECT id FROM artists WHERE ts_fold(name) % $1 LIMIT $2 $$;
CREATE OR REPLACE FUNCTION ts_search_typos_albums(text, integer)
    RETURNS SETOF bigint
    LANGUAGE sql STABLE PARALLEL SAFE STRICT
    SET pg_trgm.similarity_threshold = 0.4 SET gin_fuzzy_search_limit = 1000
    AS $$ SELECT id FROM albums WHERE ts_fold(title) % $1 LIMIT $2 $$;
CREATE OR REPLACE FUNCTION ts_search_typos_songs(text, integer)
    RETURNS SETOF bigint
    LANGUAGE sql STABLE PARALLEL SAFE STRICT
    SET pg_trgm.similarity_threshold = 0.4 SET gin_fuzzy_search_limit = 1000
    AS $$ SELECT id FROM songs WHERE ts_fold(title) % $1 LIMIT $2 $$;

-- Full-text and trigram search on the folded names and titles.
CREATE INDEX IF NOT EXISTS artists_name_fts_idx
    ON artists USING gin (to_tsvector('simple', ts_fold(name)));
CREATE INDEX IF NOT EXISTS artists_name_trgm_idx
    ON artists USING gin (ts_fold(name) gin_trgm_ops);
CREATE INDEX IF NOT EXISTS albums_title_fts_idx
    ON albums USING gin (to_tsvector('simple', ts_fold(title)));
CREATE INDEX IF NOT EXISTS albums_title_trgm_idx
    ON albums USING gin (ts_fold(title) gin_trgm_ops);
CREATE INDEX IF NOT EXISTS songs_title_fts_idx
    ON songs USING gin (to_tsvector('simple', ts_fold(title)));
CREATE INDEX IF NOT EXISTS songs_title_trgm_idx
    ON songs USING gin (ts_fold(title) gin_trgm_ops);
CREATE INDEX IF NOT EXISTS artists_name_fold_idx
    ON artists (ts_fold(name) text_pattern_ops);
CREATE INDEX IF NOT EXISTS albums_title_fold_idx
    ON albums (ts_fold(title) text_pattern_ops);
CREATE INDEX IF NOT EXISTS songs_title_fold_idx
    ON songs (ts_fold(title) text_pattern_ops);

-- API keys for writes (and for reads where a directive asks).  Only the
-- SHA-256 of a key is kept; `make apikey` prints the key itself once.
CREATE TABLE IF NOT EXISTS api_keys (
    id           bigserial PRIMARY KEY,
    name         text NOT NULL,
    key_hash     text NOT NULL UNIQUE,
    scopes       text[] NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);

-- one live key per name: $tunesheap_api_key names one client
CREATE UNIQUE INDEX IF NOT EXISTS api_keys_live_name_idx
    ON api_keys (name) WHERE revoked_at IS NULL;

-- Idempotency keys ---------------------------------------------------------
-- A write sent with an Idempotency-Key header is recorded here by the very
-- statement that writes (ts_resource.c, the write statements): the write
-- and its key either both exist or neither does.  scope is the name of the API
-- key that wrote (a client never sees another's answers), key the header,
-- hash the SHA-256 of method, path and body, result the row the statement
-- returned, its values as text, from which the module renders the first
-- answer again.  Only writes that wrote are recorded.  Rows older than the
-- TTL (24 h, ts_idempotency.h) are ignored, and deleted by later keyed
-- writes (ts_idempotency_begin).
CREATE TABLE IF NOT EXISTS ts_idempotency (
    scope      text        NOT NULL,
    key        text        NOT NULL,
    hash       text        NOT NULL,
    result     text[]      NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
);

CREATE INDEX IF NOT EXISTS ts_idempotency_created_idx
    ON ts_idempotency (created_at);

-- A row's values as libpq gives them in text: booleans as t and f.
CREATE OR REPLACE FUNCTION ts_idempotency_values(json) RETURNS text[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    AS $$
    SELECT array_agg(CASE json_typeof(v) WHEN 'boolean' THEN left(v::text, 1)
                     ELSE v #>> '{}' END ORDER BY n)
    FROM json_each($1) WITH ORDINALITY AS e(k, v, n) $$;

-- Run by a keyed write before it writes.  False when another write with
-- the same key is in flight: it holds the key's lock until its transaction
-- ends.  Else true, with the lock taken, the key's expired row deleted (so
-- that the write can record it again) and a few other expired rows too.
CREATE OR REPLACE FUNCTION ts_idempotency_begin(s text, k text, ttl int)
    RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtextextended(s || E'\n' || k, 0))
    THEN
        RETURN false;
    END IF;

    DELETE FROM ts_idempotency i
        WHERE i.scope = s AND i.key = k
          AND i.created_at <= now() - make_interval(secs => ttl);

    DELETE FROM ts_idempotency
        WHERE ctid = ANY (ARRAY(
            SELECT ctid FROM ts_idempotency
            WHERE created_at <= now() - make_interval(secs => ttl)
            ORDER BY created_at LIMIT 16 FOR UPDATE SKIP LOCKED));

    RETURN true;
END $$;

-- List totals --------------------------------------------------------------
-- meta.total of every list the API offers, kept exact by statement-level
-- triggers instead of a count(*) per page: one row per table, combination
-- of its filter columns and their values, e.g. ('songs', '{album_id}',
-- '{17}', 12), or ('songs', '{}', '{}', 500000) for the whole table.  A list
-- page reads its total with one primary-key lookup, in the same snapshot
-- as its items.  `cols` lists the filter columns in the order ts_resource.c
-- describes them (the order ts_list_counts_install() below is given), and
-- `vals` their values as text; a row whose value is NULL is never kept (no
-- filter matches NULL).  Rows that fall to 0 stay.
--
-- Triggers fire once per statement and add up the changes of all its rows
-- (REFERENCING NEW TABLE / OLD TABLE), so a bulk import updates each
-- counter once.  An update that moves no row between filter values writes
-- nothing.  Writers of one table queue on its counter rows: every insert
-- or delete of a song updates the ('songs', '{}') row (a row lock held only
-- until its commit, which is one statement here); updates take the locks
-- in key order, so two writers never deadlock on them.
CREATE TABLE IF NOT EXISTS ts_list_counts (
    tbl  text   NOT NULL,
    cols text[] NOT NULL,
    vals text[] NOT NULL,
    n    bigint NOT NULL,
    PRIMARY KEY (tbl, cols, vals)
);

-- the columns each table's rows of ts_list_counts were counted for
CREATE TABLE IF NOT EXISTS ts_list_counted (
    tbl  text PRIMARY KEY,
    cols text[] NOT NULL
);

-- SELECT cols, vals, d: d (the sign) times the rows of src, per combination
-- of the filter columns cols and their values; combinations with a NULL
-- value left out.  cols must not be empty.
CREATE OR REPLACE FUNCTION ts_list_counts_rows(src text, cols text[], d int)
    RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    combos  text[] := '{}';
    names   text[];
    vals    text[];
    mask    int;
    i       int;
    k       int := coalesce(array_length(cols, 1), 0);
    list    text;
BEGIN
    SELECT string_agg(format('%I', c), ', ') INTO list
        FROM unnest(cols) AS c;

    FOR mask IN 0 .. (1 << k) - 1 LOOP
        names := '{}';
        vals := '{}';
        FOR i IN 1 .. k LOOP
            IF mask & (1 << (i - 1)) <> 0 THEN
                names := names || quote_literal(cols[i]);
                vals := vals || format('%I::text', cols[i]);
            END IF;
        END LOOP;
        combos := combos || format('(ARRAY[%s]::text[], ARRAY[%s]::text[])',
                                   array_to_string(names, ', '),
                                   array_to_string(vals, ', '));
    END LOOP;

    -- rows are grouped by their values first: a bulk insert expands and
    -- groups far fewer arrays of text
    RETURN format('SELECT c.cols, c.vals, %s * r.n AS d FROM'
                  ' (SELECT %s, count(*) AS n FROM %I GROUP BY %s) AS r'
                  ' CROSS JOIN LATERAL (VALUES %s) AS c (cols, vals)'
                  ' WHERE array_position(c.vals, NULL) IS NULL',
                  d, list, src, list,
                  array_to_string(combos, ', '));
END $$;

-- Counts tbl's rows per combination of cols (the filters the API offers on
-- it), from now on: a trigger function made for them, with static SQL (its
-- plans are cached), and triggers for INSERT, UPDATE, DELETE and TRUNCATE.
-- When the table is counted for the first time or for other columns, its
-- counts are made again from the table, with writers locked out meanwhile.
CREATE OR REPLACE FUNCTION ts_list_counts_install(tbl text,
                                                  VARIADIC cols text[])
    RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    fn      text := 'ts_list_count_' || tbl;
    upsert  text;
BEGIN
    upsert := format('INSERT INTO ts_list_counts AS t (tbl, cols, vals, n)'
                     ' SELECT %L, cols, vals, sum(d) FROM (%%s) AS r'
                     ' GROUP BY cols, vals HAVING sum(d) <> 0'
                     ' ORDER BY cols, vals'
                     ' ON CONFLICT (tbl, cols, vals)'
                     ' DO UPDATE SET n = t.n + excluded.n', tbl);

    EXECUTE format($f$
        CREATE OR REPLACE FUNCTION %I() RETURNS trigger LANGUAGE plpgsql AS $b$
        BEGIN
            IF TG_OP = 'INSERT' THEN
                %s;
            ELSIF TG_OP = 'DELETE' THEN
                %s;
            ELSIF TG_OP = 'UPDATE' THEN
                %s;
            ELSE
                DELETE FROM ts_list_counts WHERE tbl = %L;
            END IF;
            RETURN NULL;
        END $b$
        $f$, fn,
        format(upsert, ts_list_counts_rows('ts_new', cols, 1)),
        format(upsert, ts_list_counts_rows('ts_old', cols, -1)),
        format(upsert, ts_list_counts_rows('ts_new', cols, 1)
                       || ' UNION ALL '
                       || ts_list_counts_rows('ts_old', cols, -1)),
        tbl);

    EXECUTE format('CREATE OR REPLACE TRIGGER ts_list_count_insert'
                   ' AFTER INSERT ON %I REFERENCING NEW TABLE AS ts_new'
                   ' FOR EACH STATEMENT EXECUTE FUNCTION %I()', tbl, fn);
    EXECUTE format('CREATE OR REPLACE TRIGGER ts_list_count_update'
                   ' AFTER UPDATE ON %I'
                   ' REFERENCING OLD TABLE AS ts_old NEW TABLE AS ts_new'
                   ' FOR EACH STATEMENT EXECUTE FUNCTION %I()', tbl, fn);
    EXECUTE format('CREATE OR REPLACE TRIGGER ts_list_count_delete'
                   ' AFTER DELETE ON %I REFERENCING OLD TABLE AS ts_old'
                   ' FOR EACH STATEMENT EXECUTE FUNCTION %I()', tbl, fn);
    EXECUTE format('CREATE OR REPLACE TRIGGER ts_list_count_truncate'
                   ' AFTER TRUNCATE ON %I'
                   ' FOR EACH STATEMENT EXECUTE FUNCTION %I()', tbl, fn);

    IF EXISTS (SELECT FROM ts_list_counted c
               WHERE c.tbl = ts_list_counts_install.tbl
                 AND c.cols = ts_list_counts_install.cols)
    THEN
        RETURN;
    END IF;

    -- readers go on, writers wait until this transaction commits
    EXECUTE format('LOCK TABLE %I IN SHARE ROW EXCLUSIVE MODE', tbl);

    DELETE FROM ts_list_counts c WHERE c.tbl = ts_list_counts_install.tbl;
    EXECUTE format(upsert, ts_list_counts_rows(tbl, cols, 1));

    INSERT INTO ts_list_counted AS c VALUES (tbl, cols)
        ON CONFLICT ON CONSTRAINT ts_list_counted_pkey
        DO UPDATE SET cols = excluded.cols;
END $$;

-- the filters of ts_resource.c, in its order
SELECT ts_list_counts_install('artists', 'country');
SELECT ts_list_counts_install('albums', 'artist_id', 'genre');
SELECT ts_list_counts_install('songs', 'album_id', 'artist_id');
