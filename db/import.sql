-- db/import.sql -- load a Tunesheap catalog; run it through db/import.sh:
--
--   psql -X -q -v ON_ERROR_STOP=1 --single-transaction -f db/import.sql < FILE
--
-- FILE is {"artists":[...],"albums":[...],"songs":[...]} (a missing or null
-- array counts as empty; other top-level keys are ignored).  Everything runs
-- in ONE transaction: the first problem raises an error whose message names
-- it (e.g. `songs[17] (id 18): missing required field "title"`), psql stops
-- and the transaction rolls back, so nothing at all is loaded.
--
-- Steps:
--  1. \copy the raw lines of FILE into a temp table (CSV mode with quote and
--     delimiter set to \x01/\x02, which valid JSON cannot contain unescaped,
--     so every line is one field, byte for byte), glue them back together in
--     order and parse that as `json` -- all JSON parsing happens in the
--     server (`json`, not `jsonb`: validating is ~10x faster than building
--     a 70 MB jsonb, and we only walk the document once or twice).
--  2. turn each array into typed rows in a temp table (json_to_recordset),
--     checking types and required fields on the way.  That fast path only
--     notices *that* something is wrong; then a slow, element-by-element
--     diagnosis finds the first bad item and says what is wrong with it.
--  3. reject duplicate ids and dangling references (album.artist_id,
--     song.album_id, song.artist_id must exist in the file or the database);
--  4. upsert artists, albums, songs keeping the given ids (ON CONFLICT (id)
--     DO UPDATE, skipping rows that would not change, so a re-import of the
--     same file writes nothing);
--  5. move each id sequence past the largest id (never backwards);
--  6. print one summary line.
-- Needs only SELECT/INSERT/UPDATE on the tables, UPDATE on the sequences and
-- the TEMP privilege on the database (no superuser).
--
-- Accepted values: ids are JSON integers >= 1 (no fraction, no exponent, not
-- strings); track_number and duration_ms integers >= 0 or null; text fields
-- strings or null; dob a string the timestamptz input accepts (e.g.
-- "1969-12-04 00:00:00 UTC"; no zone means UTC); release_date "YYYY-MM-DD".
-- Unknown fields are ignored.  The document must fit in memory (files up to a
-- few hundred MB; PostgreSQL caps a single value at 1 GB).

\o /dev/null
SET LOCAL client_min_messages = warning;
SET LOCAL timezone = 'UTC';           -- dates without a zone mean UTC
SET LOCAL datestyle = 'ISO, YMD';
SET LOCAL temp_buffers = '512MB';     -- keep the staging tables in memory
SET LOCAL work_mem = '256MB';

-- 1. raw lines ------------------------------------------------------------------
CREATE TEMP TABLE _raw (n bigint GENERATED ALWAYS AS IDENTITY, line text)
    ON COMMIT DROP;
\copy _raw (line) FROM pstdin WITH (FORMAT csv, DELIMITER E'\x02', QUOTE E'\x01', FORCE_NOT_NULL (line))
-- (CRLF line ends are handled by COPY; a UTF-8 byte order mark is dropped.)
UPDATE _raw SET line = substr(line, 2) WHERE n = 1 AND left(line, 1) = U&'\FEFF';

-- Helpers, in the session's private temp schema (gone with the session). ------
CREATE FUNCTION pg_temp.fail(msg text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING MESSAGE = msg, ERRCODE = 'data_exception';
END $$;

-- Fast path: a JSON string value -> its text, anything else -> NULL.  Simple
-- SQL expressions, so the planner inlines them.
CREATE FUNCTION pg_temp.str(v json) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN left(v::text, 1) = '"' THEN v #>> '{}' END $$;
-- true if v is absent/null or a JSON string
CREATE FUNCTION pg_temp.opt_str(v json) RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT v IS NULL OR left(v::text, 1) = '"' $$;
-- Accepted spellings of dates and timestamps (the server would also take
-- things like "yesterday", "epoch" or "infinity", which we do not want).
CREATE FUNCTION pg_temp.date_ok(t text) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT t ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' $$;
CREATE FUNCTION pg_temp.ts_ok(t text) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT t ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}([ T][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?)? ?(UTC|GMT|Z|[+-][0-9]{2}(:?[0-9]{2})?)?$' $$;

-- Diagnosis: the chk_* functions return NULL when field k of item e is
-- fine, else a description of the problem.
-- a required positive integer id (JSON number, no fraction, fits bigint)
CREATE FUNCTION pg_temp.chk_id(e json, k text) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN e->k IS NULL OR json_typeof(e->k) = 'null' THEN format('missing required field "%s"', k)
        WHEN json_typeof(e->k) <> 'number' THEN
            format('"%s" must be a number, got %s %s', k, json_typeof(e->k), left((e->k)::text, 40))
        WHEN (e->k)::text !~ '^[0-9]{1,19}$' THEN
            format('"%s" must be a positive integer, got %s', k, left((e->k)::text, 40))
        WHEN (e->k)::text::numeric NOT BETWEEN 1 AND 9223372036854775807 THEN
            format('"%s" must be a positive integer, got %s', k, (e->k)::text)
    END $$;

-- a string (required ones must be present and not null)
CREATE FUNCTION pg_temp.chk_str(e json, k text, required boolean) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN e->k IS NULL OR json_typeof(e->k) = 'null' THEN
            CASE WHEN required THEN format('missing required field "%s"', k) END
        WHEN json_typeof(e->k) <> 'string' THEN
            format('"%s" must be a string, got %s %s', k, json_typeof(e->k), left((e->k)::text, 40))
        WHEN (e->k)::text ~ '(^|[^\\])(\\\\)*\\u0000' THEN
            format('"%s" contains \u0000, which a text column cannot store', k)
    END $$;

-- an optional integer from 0 to 2^31-1
CREATE FUNCTION pg_temp.chk_int(e json, k text) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN e->k IS NULL OR json_typeof(e->k) = 'null' THEN NULL
        WHEN json_typeof(e->k) <> 'number' THEN
            format('"%s" must be a number, got %s %s', k, json_typeof(e->k), left((e->k)::text, 40))
        WHEN (e->k)::text !~ '^[0-9]{1,10}$' THEN
            format('"%s" must be an integer from 0 to 2147483647, got %s', k, left((e->k)::text, 40))
        WHEN (e->k)::text::numeric > 2147483647 THEN
            format('"%s" must be an integer from 0 to 2147483647, got %s', k, (e->k)::text)
    END $$;

-- an optional date or timestamptz, as a string: trying the conversion is the
-- only exact test, hence plpgsql.
CREATE FUNCTION pg_temp.chk_time(e json, k text, typ text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    IF e->k IS NULL OR json_typeof(e->k) = 'null' THEN
        RETURN NULL;
    ELSIF json_typeof(e->k) <> 'string' THEN
        RETURN format('"%s" must be a string, got %s %s', k, json_typeof(e->k), left((e->k)::text, 40));
    END IF;
    BEGIN
        IF typ = 'date' THEN
            IF NOT pg_temp.date_ok(e->>k) THEN RAISE EXCEPTION 'bad format'; END IF;
            PERFORM (e->>k)::date;
        ELSE
            IF NOT pg_temp.ts_ok(e->>k) THEN RAISE EXCEPTION 'bad format'; END IF;
            PERFORM (e->>k)::timestamptz;
        END IF;
    EXCEPTION WHEN others THEN
        RETURN format('"%s" is not a valid %s, got %s', k,
                      CASE typ WHEN 'date' THEN 'date (YYYY-MM-DD)'
                               ELSE 'timestamp (YYYY-MM-DD HH:MM:SS UTC)' END,
                      left((e->k)::text, 60));
    END;
    RETURN NULL;
END $$;

-- the first problem with item e of array `kind`, or NULL
CREATE FUNCTION pg_temp.problem(kind text, e json) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    IF json_typeof(e) <> 'object' THEN
        RETURN format('must be an object, got %s %s', json_typeof(e), left(e::text, 40));
    ELSIF kind = 'artists' THEN
        RETURN coalesce(pg_temp.chk_id(e, 'id'),
                        pg_temp.chk_str(e, 'name', true),
                        pg_temp.chk_str(e, 'country', false),
                        pg_temp.chk_str(e, 'description', false),
                        pg_temp.chk_time(e, 'dob', 'timestamptz'),
                        pg_temp.chk_str(e, 'website', false),
                        pg_temp.chk_str(e, 'picture_url', false));
    ELSIF kind = 'albums' THEN
        RETURN coalesce(pg_temp.chk_id(e, 'id'),
                        pg_temp.chk_id(e, 'artist_id'),
                        pg_temp.chk_str(e, 'title', true),
                        pg_temp.chk_time(e, 'release_date', 'date'),
                        pg_temp.chk_str(e, 'genre', false),
                        pg_temp.chk_str(e, 'cover_url', false));
    ELSE
        RETURN coalesce(pg_temp.chk_id(e, 'id'),
                        pg_temp.chk_id(e, 'album_id'),
                        pg_temp.chk_id(e, 'artist_id'),
                        pg_temp.chk_str(e, 'title', true),
                        pg_temp.chk_int(e, 'track_number'),
                        pg_temp.chk_int(e, 'duration_ms'));
    END IF;
END $$;

-- Walk array `kind` item by item and raise an error naming the first bad
-- one, e.g. 'songs[17] (id 18): missing required field "title"' (0-based
-- index, like in the file).  `err` is what the fast path tripped over, used
-- if no item looks wrong (should not happen).  Items before position
-- `start` (1-based) are known to be fine and skipped.
CREATE FUNCTION pg_temp.diagnose(kind text, arr json, err text, start bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    e json;
    i bigint;
    p text;
BEGIN
    FOR e, i IN SELECT value, ordinality FROM json_array_elements(arr) WITH ORDINALITY
                 WHERE ordinality >= start LOOP
        p := pg_temp.problem(kind, e);
        IF p IS NOT NULL THEN
            PERFORM pg_temp.fail(format('%s[%s]%s: %s', kind, i - 1,
                CASE WHEN json_typeof(e) = 'object' AND json_typeof(e->'id') = 'number'
                     THEN format(' (id %s)', left((e->'id')::text, 40)) ELSE '' END,
                p));
        END IF;
    END LOOP;
    PERFORM pg_temp.fail(format('%s: %s', kind, coalesce(err, 'invalid item')));
END $$;

-- Typed staging tables; `i` is the 1-based position in the array and `ok`
-- says the fast path found nothing wrong with the item.
CREATE TEMP TABLE _artists (i bigint, id bigint, name text, country text,
    description text, dob timestamptz, website text, picture_url text,
    ok boolean) ON COMMIT DROP;
CREATE TEMP TABLE _albums (i bigint, id bigint, artist_id bigint, title text,
    release_date date, genre text, cover_url text, ok boolean) ON COMMIT DROP;
CREATE TEMP TABLE _songs (i bigint, id bigint, album_id bigint, artist_id bigint,
    title text, track_number integer, duration_ms integer, ok boolean) ON COMMIT DROP;

-- 2. parse and stage ---------------------------------------------------------------
-- One DO block, so that the (possibly large) document is parsed once and
-- lives only in memory, never in a table.
--
-- Fast path, per array: json_to_recordset with every field as `json` (the
-- raw JSON text of the value, SQL NULL when absent or null), then
--   * ids and integers: raw text::bigint/::integer -- that fails for
--     strings ("12"), fractions, exponents, true, objects...; then >= 0/1;
--   * strings: the raw text must start with a double quote; #>> '{}'
--     unescapes it;
--   * dates: a string in an accepted spelling (pg_temp.date_ok/ts_ok),
--     then ::date/::timestamptz (fails for e.g. 2001-02-30).
-- Any error or a row with ok = false sends us to pg_temp.diagnose().
DO $import$
DECLARE
    doc      json;
    artists  json;
    albums   json;
    songs    json;
    k        text;
    v        json;
    msg      text;
    det      text;
    ctx      text;
BEGIN
    IF NOT EXISTS (SELECT FROM _raw WHERE line ~ '\S') THEN
        PERFORM pg_temp.fail('the file is empty');
    END IF;
    BEGIN
        doc := (SELECT string_agg(line, E'\n' ORDER BY n) FROM _raw)::json;
    EXCEPTION WHEN others THEN
        GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL,
                                ctx = PG_EXCEPTION_CONTEXT;
        -- ctx starts with e.g. "JSON data, line 3:  x..."
        ctx := substring(ctx FROM '^JSON data, (line [0-9]+)');
        PERFORM pg_temp.fail(format('not valid JSON: %s%s', coalesce(nullif(det, ''), msg),
                                    coalesce(' (' || ctx || ')', '')));
    END;
    IF json_typeof(doc) <> 'object' THEN
        PERFORM pg_temp.fail(format('the top-level JSON value must be an object {"artists":[...],"albums":[...],"songs":[...]}, got %s',
                                    json_typeof(doc)));
    END IF;
    -- Split the top level once (a repeated key: the last one wins).  This
    -- walk also unescapes strings, which fails for \u0000 (valid JSON, but
    -- PostgreSQL text cannot hold it).
    BEGIN
        FOR k, v IN SELECT key, value FROM json_each(doc) WHERE key IN ('artists', 'albums', 'songs') LOOP
            IF json_typeof(v) = 'null' THEN v := NULL; END IF;
            CASE k WHEN 'artists' THEN artists := v;
                   WHEN 'albums'  THEN albums := v;
                   ELSE                songs := v;
            END CASE;
        END LOOP;
    EXCEPTION WHEN others THEN
        GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL,
                                ctx = PG_EXCEPTION_CONTEXT;
        ctx := substring(ctx FROM '^JSON data, (line [0-9]+)');
        PERFORM pg_temp.fail(format('cannot load: %s%s%s', msg, coalesce(': ' || nullif(det, ''), ''),
                                    coalesce(' (' || ctx || ')', '')));
    END;
    FOREACH k IN ARRAY ARRAY['artists', 'albums', 'songs'] LOOP
        v := CASE k WHEN 'artists' THEN artists WHEN 'albums' THEN albums ELSE songs END;
        IF json_typeof(v) <> 'array' THEN
            PERFORM pg_temp.fail(format('"%s" must be an array, got %s', k, json_typeof(v)));
        END IF;
    END LOOP;
    doc := NULL;                      -- free it
    v := NULL;

    -- artists --------------------------------------------------------------------
    BEGIN
        INSERT INTO _artists
        SELECT i, id, name, country, description, dob, website, picture_url,
               coalesce(id >= 1 AND name IS NOT NULL AND strs_ok, false)
          FROM (SELECT i, id::text::bigint AS id, pg_temp.str(name) AS name,
                       pg_temp.str(country) AS country, pg_temp.str(description) AS description,
                       CASE WHEN pg_temp.ts_ok(pg_temp.str(dob))
                            THEN pg_temp.str(dob)::timestamptz END AS dob,
                       pg_temp.str(website) AS website, pg_temp.str(picture_url) AS picture_url,
                       pg_temp.opt_str(country) AND pg_temp.opt_str(description)
                       AND (dob IS NULL OR coalesce(pg_temp.ts_ok(pg_temp.str(dob)), false))
                       AND pg_temp.opt_str(website)
                       AND pg_temp.opt_str(picture_url) AS strs_ok
                  FROM ROWS FROM (json_to_recordset(coalesce(artists, '[]'))
                           AS (id json, name json, country json, description json,
                               dob json, website json, picture_url json))
                       WITH ORDINALITY AS x(id, name, country, description, dob,
                                            website, picture_url, i)
                OFFSET 0) s;
        msg := NULL;
    EXCEPTION WHEN others THEN
        msg := SQLERRM;
    END;
    IF msg IS NOT NULL THEN
        PERFORM pg_temp.diagnose('artists', artists, msg, 1);
    END IF;
    PERFORM pg_temp.diagnose('artists', artists, NULL, i) FROM _artists WHERE NOT ok ORDER BY i LIMIT 1;
    artists := NULL;

    -- albums ---------------------------------------------------------------------
    BEGIN
        INSERT INTO _albums
        SELECT i, id, artist_id, title, release_date, genre, cover_url,
               coalesce(id >= 1 AND artist_id >= 1 AND title IS NOT NULL AND strs_ok, false)
          FROM (SELECT i, id::text::bigint AS id, artist_id::text::bigint AS artist_id,
                       pg_temp.str(title) AS title,
                       CASE WHEN pg_temp.date_ok(pg_temp.str(release_date))
                            THEN pg_temp.str(release_date)::date END AS release_date,
                       pg_temp.str(genre) AS genre, pg_temp.str(cover_url) AS cover_url,
                       (release_date IS NULL OR coalesce(pg_temp.date_ok(pg_temp.str(release_date)), false))
                       AND pg_temp.opt_str(genre)
                       AND pg_temp.opt_str(cover_url) AS strs_ok
                  FROM ROWS FROM (json_to_recordset(coalesce(albums, '[]'))
                           AS (id json, artist_id json, title json, release_date json,
                               genre json, cover_url json))
                       WITH ORDINALITY AS x(id, artist_id, title, release_date, genre,
                                            cover_url, i)
                OFFSET 0) s;
        msg := NULL;
    EXCEPTION WHEN others THEN
        msg := SQLERRM;
    END;
    IF msg IS NOT NULL THEN
        PERFORM pg_temp.diagnose('albums', albums, msg, 1);
    END IF;
    PERFORM pg_temp.diagnose('albums', albums, NULL, i) FROM _albums WHERE NOT ok ORDER BY i LIMIT 1;
    albums := NULL;

    -- songs ----------------------------------------------------------------------
    BEGIN
        INSERT INTO _songs
        SELECT i, id, album_id, artist_id, title, track_number, duration_ms,
               coalesce(id >= 1 AND album_id >= 1 AND artist_id >= 1 AND title IS NOT NULL
                        AND (track_number >= 0 OR track_number IS NULL)
                        AND (duration_ms >= 0 OR duration_ms IS NULL), false)
          FROM (SELECT i, id::text::bigint AS id, album_id::text::bigint AS album_id,
                       artist_id::text::bigint AS artist_id, pg_temp.str(title) AS title,
                       track_number::text::integer AS track_number,
                       duration_ms::text::integer AS duration_ms
                  FROM ROWS FROM (json_to_recordset(coalesce(songs, '[]'))
                           AS (id json, album_id json, artist_id json, title json,
                               track_number json, duration_ms json))
                       WITH ORDINALITY AS x(id, album_id, artist_id, title, track_number,
                                            duration_ms, i)
                OFFSET 0) s;
        msg := NULL;
    EXCEPTION WHEN others THEN
        msg := SQLERRM;
    END;
    IF msg IS NOT NULL THEN
        PERFORM pg_temp.diagnose('songs', songs, msg, 1);
    END IF;
    PERFORM pg_temp.diagnose('songs', songs, NULL, i) FROM _songs WHERE NOT ok ORDER BY i LIMIT 1;
END
$import$;

TRUNCATE _raw;
ANALYZE _artists;
ANALYZE _albums;
ANALYZE _songs;

-- 3. duplicate ids and dangling references ----------------------------------------
SELECT pg_temp.fail(format('%s: id %s appears more than once (%s[%s] and %s[%s])',
                           kind, id, kind, i1 - 1, kind, i2 - 1))
  FROM (SELECT 'artists' AS kind, id, min(i) AS i1, max(i) AS i2 FROM _artists
         GROUP BY id HAVING count(*) > 1
        UNION ALL
        SELECT 'albums', id, min(i), max(i) FROM _albums
         GROUP BY id HAVING count(*) > 1
        UNION ALL
        SELECT 'songs', id, min(i), max(i) FROM _songs
         GROUP BY id HAVING count(*) > 1
        ORDER BY 1, 3 LIMIT 1) d;

SELECT pg_temp.fail(format('albums[%s] (id %s): artist_id %s does not exist (neither in the file nor in the database)',
                           i - 1, id, artist_id))
  FROM (SELECT i, id, artist_id FROM _albums a
         WHERE NOT EXISTS (SELECT FROM _artists x WHERE x.id = a.artist_id)
           AND NOT EXISTS (SELECT FROM artists x WHERE x.id = a.artist_id)
         ORDER BY i LIMIT 1) d;

SELECT pg_temp.fail(format('songs[%s] (id %s): %s does not exist (neither in the file nor in the database)',
                           i - 1, id, what))
  FROM (SELECT i, id,
               CASE WHEN NOT EXISTS (SELECT FROM _albums x WHERE x.id = s.album_id)
                     AND NOT EXISTS (SELECT FROM albums x WHERE x.id = s.album_id)
                    THEN 'album_id ' || album_id
                    ELSE 'artist_id ' || artist_id END AS what
          FROM _songs s
         WHERE (NOT EXISTS (SELECT FROM _albums x WHERE x.id = s.album_id)
                AND NOT EXISTS (SELECT FROM albums x WHERE x.id = s.album_id))
            OR (NOT EXISTS (SELECT FROM _artists x WHERE x.id = s.artist_id)
                AND NOT EXISTS (SELECT FROM artists x WHERE x.id = s.artist_id))
         ORDER BY i LIMIT 1) d;

-- 4. upserts (parents first) ------------------------------------------------------
-- Rows whose values would not change are left alone (no new row version, no
-- index churn), which makes re-importing the same file cheap and idempotent.
WITH up AS (
    INSERT INTO artists AS t (id, name, country, description, dob, website, picture_url)
    SELECT id, name, country, description, dob, website, picture_url FROM _artists ORDER BY id
    ON CONFLICT (id) DO UPDATE
       SET name = excluded.name, country = excluded.country,
           description = excluded.description, dob = excluded.dob,
           website = excluded.website, picture_url = excluded.picture_url
     WHERE (t.name, t.country, t.description, t.dob, t.website, t.picture_url)
           IS DISTINCT FROM
           (excluded.name, excluded.country, excluded.description, excluded.dob,
            excluded.website, excluded.picture_url)
    RETURNING xmax = 0 AS inserted)
SELECT (SELECT count(*) FROM _artists) AS artists_total,
       count(*) FILTER (WHERE inserted) AS artists_new,
       count(*) FILTER (WHERE NOT inserted) AS artists_updated
  FROM up \gset

WITH up AS (
    INSERT INTO albums AS t (id, artist_id, title, release_date, genre, cover_url)
    SELECT id, artist_id, title, release_date, genre, cover_url FROM _albums ORDER BY id
    ON CONFLICT (id) DO UPDATE
       SET artist_id = excluded.artist_id, title = excluded.title,
           release_date = excluded.release_date, genre = excluded.genre,
           cover_url = excluded.cover_url
     WHERE (t.artist_id, t.title, t.release_date, t.genre, t.cover_url)
           IS DISTINCT FROM
           (excluded.artist_id, excluded.title, excluded.release_date,
            excluded.genre, excluded.cover_url)
    RETURNING xmax = 0 AS inserted)
SELECT (SELECT count(*) FROM _albums) AS albums_total,
       count(*) FILTER (WHERE inserted) AS albums_new,
       count(*) FILTER (WHERE NOT inserted) AS albums_updated
  FROM up \gset

WITH up AS (
    INSERT INTO songs AS t (id, album_id, artist_id, title, track_number, duration_ms)
    SELECT id, album_id, artist_id, title, track_number, duration_ms FROM _songs ORDER BY id
    ON CONFLICT (id) DO UPDATE
       SET album_id = excluded.album_id, artist_id = excluded.artist_id,
           title = excluded.title, track_number = excluded.track_number,
           duration_ms = excluded.duration_ms
     WHERE (t.album_id, t.artist_id, t.title, t.track_number, t.duration_ms)
           IS DISTINCT FROM
           (excluded.album_id, excluded.artist_id, excluded.title,
            excluded.track_number, excluded.duration_ms)
    RETURNING xmax = 0 AS inserted)
SELECT (SELECT count(*) FROM _songs) AS songs_total,
       count(*) FILTER (WHERE inserted) AS songs_new,
       count(*) FILTER (WHERE NOT inserted) AS songs_updated
  FROM up \gset

-- 5. sequences: past the largest id, never backwards ------------------------------
-- (setval is not undone by a rollback; it is the last statement, and a
-- sequence that is merely ahead is harmless.)
SELECT setval(seq, greatest(coalesce(maxid, 0), coalesce(pg_sequence_last_value(seq), 0), 1),
              coalesce(maxid, pg_sequence_last_value(seq)) IS NOT NULL)
  FROM (SELECT pg_get_serial_sequence('public.artists', 'id')::regclass AS seq,
               (SELECT max(id) FROM artists) AS maxid
        UNION ALL
        SELECT pg_get_serial_sequence('public.albums', 'id')::regclass,
               (SELECT max(id) FROM albums)
        UNION ALL
        SELECT pg_get_serial_sequence('public.songs', 'id')::regclass,
               (SELECT max(id) FROM songs)) s;

-- 6. summary --------------------------------------------------------------------
\o
\echo artists :artists_total (:artists_new new, :artists_updated updated), albums :albums_total (:albums_new new, :albums_updated updated), songs :songs_total (:songs_new new, :songs_updated updated)
