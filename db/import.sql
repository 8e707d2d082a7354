-- db/import.sql -- load a Tunesheap catalog; run it through db/import.sh:
--
--   psql -X -q -v ON_ERROR_STOP=1 --single-transaction \
--        -v descriptions=build/import-resources.sql -f db/import.sql < FILE
--
-- No resource is named here.  What is imported, and how each field is
-- checked, comes from the API's own descriptions (src/ts_resource.c):
-- db/import-gen, built by `make build`, prints them as two temp tables,
--   _resources (pos, name, singular, tbl)   in the order of ts_resources[],
--                                           parents before their children
--   _columns   (resource, pos, name, input, type, required, max,
--               ref_table, ref_singular, write)
--   _lists     (resource, name, join_table, parent_column, child_column,
--               child_table, child_name, child_singular, max)
-- with input one of id (the item's own id, kept), text, integer, ref (the
-- id of another item), date, time, none (cannot be set); type is the SQL
-- type the API's writes cast the field to; write, what every write of
-- the item sets the column to (updated_at = clock_timestamp()).  A list
-- is an ordered many-to-many relation: the item's field NAME (a
-- playlist's song_ids) holds at most max child ids in order, a child
-- possibly twice, kept as the join table's rows with positions from 0; a
-- list that changed is replaced whole, as a PUT of its entries does, and
-- its item counts as updated; one that did not keeps its rows.  Every statement below is built
-- from those rows, so a resource described in ts_resource.c is imported
-- without SQL of its own, with the API's rules and in its words.
--
-- FILE is {"artists":[...],"albums":[...],"songs":[...]}, one array per
-- resource (a missing or null array counts as empty; other top-level keys
-- are ignored).  Everything runs in ONE transaction: the first bad item
-- raises an error that names it and says, as the API's 422 would, what is
-- wrong with each of its fields (`songs[17] (id 18): title: is longer than
-- 200 characters`), psql stops and nothing at all is loaded.
--
-- The rules, those of ts_write.c's ts_write_field(): an item is an object
-- of the resource's fields (another key "is not a field of song", a field
-- the API computes "cannot be set", a key twice "is given more than
-- once"); id: a JSON integer >= 1; required fields present and not null
-- ("is required"); text: a string ("must be a string"), not empty if
-- required ("must not be empty"), at most max characters ("is longer than
-- 200 characters"); integer: a JSON integer from 0 to 2147483647; ref: an
-- id >= 1 ("must be the id of an artist") of an item in the file or the
-- database ("artist 999 does not exist"); date: "YYYY-MM-DD" that exists;
-- time: a date, or "YYYY-MM-DD HH:MM:SS" (or T for the space), then
-- optionally "Z" or " UTC" ("is not a date").  Only here: a text cannot
-- hold \u0000 (Postgres cannot store it), and no id appears twice.
--
-- Steps:
--  1. \copy the raw lines of FILE into a temp table (CSV mode with quote and
--     delimiter set to \x01/\x02, which valid JSON cannot contain unescaped,
--     so every line is one field, byte for byte), glue them back together in
--     order and parse that as `json` -- all JSON parsing happens in the
--     server (`json`, not `jsonb`: validating is ~10x faster than building
--     a 70 MB jsonb, and we only walk the document once or twice).
--  2. per resource, turn its array into typed rows of a staging table
--     (json_to_recordset), checking every rule on the way.  That fast path
--     only notices *that* an item is wrong; then a slow, element-by-element
--     diagnosis (pg_temp.problems) says what is wrong with the first one.
--  3. reject duplicate ids and references to items that exist neither in
--     the file nor in the database;
--  4. upsert each resource, parents first, keeping the given ids (ON
--     CONFLICT (id) DO UPDATE, skipping rows that would not change, so a
--     re-import of the same file writes nothing);
--  5. move each id sequence past the largest id (never backwards);
--  6. print one summary line.
-- Needs only SELECT/INSERT/UPDATE on the tables, UPDATE on the sequences and
-- the TEMP privilege on the database (no superuser).  The document must fit
-- in memory (files up to a few hundred MB; PostgreSQL caps a value at 1 GB).

\o /dev/null
SET LOCAL client_min_messages = warning;
SET LOCAL timezone = 'UTC';           -- dates without a zone mean UTC
SET LOCAL datestyle = 'ISO, YMD';
SET LOCAL temp_buffers = '512MB';     -- keep the staging tables in memory
SET LOCAL work_mem = '256MB';

-- the descriptions (after temp_buffers: it is fixed by the first temp table)
\i :descriptions

-- 1. raw lines ------------------------------------------------------------------
CREATE TEMP TABLE _raw (n bigint GENERATED ALWAYS AS IDENTITY, line text)
    ON COMMIT DROP;
\copy _raw (line) FROM pstdin WITH (FORMAT csv, DELIMITER E'\x02', QUOTE E'\x01', FORCE_NOT_NULL (line))
-- (CRLF line ends are handled by COPY; a UTF-8 byte order mark is dropped.)
UPDATE _raw SET line = substr(line, 2) WHERE n = 1 AND left(line, 1) = U&'\FEFF';

CREATE TEMP TABLE _summary (pos integer, line text) ON COMMIT DROP;

-- Helpers, in the session's private temp schema (gone with the session). ------
CREATE FUNCTION pg_temp.fail(msg text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING MESSAGE = msg, ERRCODE = 'data_exception';
END $$;

-- Fast path: a JSON string value -> its text, anything else -> NULL.  Simple
-- SQL expressions, so the planner inlines them.
CREATE FUNCTION pg_temp.str(v json) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN left(v::text, 1) = '"' THEN v #>> '{}' END $$;
-- The spellings ts_write_date() accepts; the cast then checks that the
-- day exists (and Postgres' own words, "yesterday" or "epoch", never
-- reach it).
CREATE FUNCTION pg_temp.date_ok(t text) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT t ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' $$;
CREATE FUNCTION pg_temp.time_ok(t text) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT t ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}([ T]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](Z| UTC)?)?$' $$;

-- What is wrong with field value v (NULL when absent) of column c, in
-- the words of ts_write_field(), or NULL.
CREATE FUNCTION pg_temp.problem(c _columns, v json) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    t text;
BEGIN
    IF v IS NOT NULL AND c.input = 'none' THEN
        RETURN 'cannot be set';
    ELSIF v IS NULL OR json_typeof(v) = 'null' THEN
        RETURN CASE WHEN c.required THEN 'is required' END;
    END IF;
    t := v::text;
    CASE c.input
    WHEN 'integer' THEN
        IF json_typeof(v) <> 'number' OR t !~ '^-?[0-9]{1,19}$'
           OR t::numeric NOT BETWEEN 0 AND 2147483647
        THEN
            RETURN 'must be an integer from 0 to 2147483647';
        END IF;
    WHEN 'id', 'ref' THEN
        IF json_typeof(v) <> 'number' OR t !~ '^-?[0-9]{1,19}$'
           OR t::numeric NOT BETWEEN 1 AND 9223372036854775807
        THEN
            RETURN format('must be the id of %s %s',
                          CASE WHEN left(c.ref_singular, 1) = 'a'
                               THEN 'an' ELSE 'a' END, c.ref_singular);
        END IF;
    ELSE
        IF json_typeof(v) <> 'string' THEN
            RETURN 'must be a string';
        ELSIF t ~ '(^|[^\\])(\\\\)*\\u0000' THEN
            RETURN 'must not contain \u0000';
        END IF;
        t := v #>> '{}';
        IF c.input = 'text' THEN
            IF c.required AND t = '' THEN
                RETURN 'must not be empty';
            ELSIF char_length(t) > c.max THEN
                RETURN format('is longer than %s characters', c.max);
            END IF;
        ELSE
            BEGIN
                IF c.input = 'date' AND NOT pg_temp.date_ok(t)
                   OR c.input = 'time' AND NOT pg_temp.time_ok(t)
                THEN
                    RETURN 'is not a date';
                END IF;
                EXECUTE format('SELECT $1::%s', c.type) USING t;
            EXCEPTION WHEN others THEN
                RETURN 'is not a date';
            END;
        END IF;
    END CASE;
    RETURN NULL;
END $$;

-- What is wrong with the ordered list v (NULL when absent) of l, in the
-- words of a PUT of the list's entries, or NULL.
CREATE FUNCTION pg_temp.list_problem(l _lists, v json) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    IF v IS NULL OR json_typeof(v) = 'null' THEN
        RETURN NULL;
    ELSIF json_typeof(v) <> 'array' THEN
        RETURN format('must be an array of %s ids', l.child_singular);
    ELSIF json_array_length(v) > l.max THEN
        RETURN format('must have at most %s ids', l.max);
    ELSIF EXISTS (SELECT FROM json_array_elements(v) x
                   WHERE json_typeof(x) <> 'number' OR x::text !~ '^-?[0-9]{1,19}$'
                      OR x::text::numeric NOT BETWEEN 1 AND 9223372036854775807)
    THEN
        RETURN format('must be an array of %s ids', l.child_singular);
    END IF;
    RETURN NULL;
END $$;

-- Every problem of item e of resource r ("field: problem; ..."), or NULL:
-- its keys in their order, then its fields in the described order.
CREATE FUNCTION pg_temp.problems(r _resources, e json) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    c   _columns;
    l   _lists;
    k   text;
    n   bigint;
    p   text;
    ps  text[] := '{}';
BEGIN
    IF json_typeof(e) <> 'object' THEN
        RETURN 'must be an object';
    END IF;
    FOR k, n IN SELECT key, count(*) FROM json_object_keys(e) WITH ORDINALITY AS x(key, o)
                 GROUP BY key ORDER BY min(o) LOOP
        IF NOT EXISTS (SELECT FROM _columns WHERE resource = r.name AND name = k)
           AND NOT EXISTS (SELECT FROM _lists WHERE resource = r.name AND name = k)
        THEN
            ps := ps || format('%s: is not a field of %s', k, r.singular);
        ELSIF n > 1 THEN
            ps := ps || format('%s: is given more than once', k);
        END IF;
    END LOOP;
    FOR c IN SELECT * FROM _columns WHERE resource = r.name ORDER BY pos LOOP
        p := pg_temp.problem(c, e -> c.name);
        IF p IS NOT NULL THEN
            ps := ps || format('%s: %s', c.name, p);
        END IF;
    END LOOP;
    FOR l IN SELECT * FROM _lists WHERE resource = r.name ORDER BY name LOOP
        p := pg_temp.list_problem(l, e -> l.name);
        IF p IS NOT NULL THEN
            ps := ps || format('%s: %s', l.name, p);
        END IF;
    END LOOP;
    RETURN nullif(array_to_string(ps, '; '), '');
END $$;

-- Walk the array of r item by item from position `start` (1-based; the
-- items before it are known to be fine) and raise an error naming the
-- first bad one, e.g. 'songs[17] (id 18): title: is required' (0-based
-- index, like in the file).  `err` is what the fast path tripped over,
-- said if no item looks wrong (should not happen).
CREATE FUNCTION pg_temp.diagnose(r _resources, arr json, err text, start bigint)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    e json;
    i bigint;
    p text;
BEGIN
    FOR e, i IN SELECT value, ordinality FROM json_array_elements(arr) WITH ORDINALITY
                 WHERE ordinality >= start LOOP
        BEGIN
            p := pg_temp.problems(r, e);
        EXCEPTION WHEN others THEN
            p := SQLERRM;
        END;
        IF p IS NOT NULL THEN
            PERFORM pg_temp.fail(format('%s[%s]%s: %s', r.name, i - 1,
                CASE WHEN json_typeof(e) = 'object' AND json_typeof(e->'id') = 'number'
                     THEN format(' (id %s)', left((e->'id')::text, 40)) ELSE '' END,
                p));
        END IF;
    END LOOP;
    PERFORM pg_temp.fail(format('%s: %s', r.name, coalesce(err, 'invalid item')));
END $$;

-- 2. parse and stage ---------------------------------------------------------------
-- One DO block, so that the (possibly large) document is parsed once and
-- lives only in memory, never in a table.
--
-- Fast path, per resource: json_to_recordset with every field as `json`
-- (the raw JSON text of the value, SQL NULL when absent or null) into
-- _import_<name> (i, fields..., ok), i the 1-based position, then
--   * ids and integers: raw text::bigint/::integer -- that fails for
--     strings ("12"), fractions, exponents, true, objects...; then >= 1/0;
--   * texts: the raw text must start with a double quote; #>> '{}'
--     unescapes it; then its length in characters, and not empty if
--     required;
--   * dates: a string in an accepted spelling (date_ok/time_ok), then the
--     cast (fails for e.g. 2001-02-30);
--   * keys: none but the resource's fields, each once (json_object_keys).
-- Any error or a row with ok = false sends us to pg_temp.diagnose().
DO $import$
DECLARE
    doc      json;
    arrs     json[];
    r        _resources;
    l        _lists;
    k        text;
    v        json;
    msg      text;
    det      text;
    ctx      text;
    defs     text;
    vals     text;
    nulls    text;
    oks      text;
    cols     text;
    keys     text[];
    p        integer;
    bad      bigint;
    bad2     bigint;
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
        PERFORM pg_temp.fail(format('the top-level JSON value must be an object {%s}, got %s',
                                    (SELECT string_agg(format('"%s":[...]', name), ',' ORDER BY pos)
                                       FROM _resources),
                                    json_typeof(doc)));
    END IF;
    -- Split the top level once (a repeated key: the last one wins).  This
    -- walk also unescapes strings, which fails for \u0000 (valid JSON, but
    -- PostgreSQL text cannot hold it).
    BEGIN
        FOR p, v IN SELECT x.pos, j.value FROM json_each(doc) j JOIN _resources x ON x.name = j.key LOOP
            arrs[p] := CASE WHEN json_typeof(v) = 'null' THEN NULL ELSE v END;
        END LOOP;
    EXCEPTION WHEN others THEN
        GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL,
                                ctx = PG_EXCEPTION_CONTEXT;
        ctx := substring(ctx FROM '^JSON data, (line [0-9]+)');
        PERFORM pg_temp.fail(format('cannot load: %s%s%s', msg, coalesce(': ' || nullif(det, ''), ''),
                                    coalesce(' (' || ctx || ')', '')));
    END;
    doc := NULL;                      -- free it
    v := NULL;
    FOR r IN SELECT * FROM _resources ORDER BY pos LOOP
        IF json_typeof(arrs[r.pos]) <> 'array' THEN
            PERFORM pg_temp.fail(format('"%s" must be an array, got %s', r.name,
                                        json_typeof(arrs[r.pos])));
        END IF;
    END LOOP;

    FOR r IN SELECT * FROM _resources ORDER BY pos LOOP
        -- the staging table: the fields an item gives, typed as writes
        -- cast them
        SELECT string_agg(format('%I %s', name, type), ', ' ORDER BY pos),
               string_agg(format('%I json', name), ', ' ORDER BY pos),
               string_agg(format('%I', name), ', ' ORDER BY pos),
               string_agg(CASE
                   WHEN input IN ('id', 'ref', 'integer') THEN
                       format('(x.%I)::text::%s AS %I', name, type, name)
                   WHEN input = 'text' THEN
                       format('pg_temp.str(x.%I) AS %I', name, name)
                   ELSE
                       format('CASE WHEN pg_temp.%s_ok(pg_temp.str(x.%I))'
                              ' THEN pg_temp.str(x.%I)::%s END AS %I',
                              input, name, name, type, name)
                   END || format(', x.%I IS NULL AS %I', name, 'null:' || name),
                   ', ' ORDER BY pos),
               string_agg(format(CASE WHEN required THEN '(%2$I IS NOT NULL AND %3$s)'
                                      ELSE '(%1$I OR (%2$I IS NOT NULL AND %3$s))' END,
                                 'null:' || name, name,
                                 CASE input
                                     WHEN 'id' THEN format('%I >= 1', name)
                                     WHEN 'ref' THEN format('%I >= 1', name)
                                     WHEN 'integer' THEN format('%I >= 0', name)
                                     WHEN 'text' THEN
                                         format('char_length(%I) <= %s', name, max)
                                         || CASE WHEN required
                                                 THEN format(' AND %I <> %L', name, '')
                                                 ELSE '' END
                                     ELSE 'true' END),
                          ' AND ' ORDER BY pos),
               array_agg(name::text ORDER BY pos)
          INTO defs, cols, k, vals, oks, keys
          FROM _columns WHERE resource = r.name AND input <> 'none';
        keys := keys || ARRAY(SELECT name FROM _lists WHERE resource = r.name);

        EXECUTE format('CREATE TEMP TABLE %I (i bigint, %s, ok boolean) ON COMMIT DROP',
                       '_import_' || r.name, defs);
        BEGIN
            EXECUTE format('INSERT INTO %I SELECT i, %s, coalesce(%s, false)'
                           ' FROM (SELECT x.i, %s FROM ROWS FROM (json_to_recordset($1)'
                           ' AS (%s)) WITH ORDINALITY AS x(%s, i) OFFSET 0) s',
                           '_import_' || r.name, k, oks, vals, cols, k)
                USING coalesce(arrs[r.pos], '[]');
            msg := NULL;
        EXCEPTION WHEN others THEN
            msg := SQLERRM;
        END;
        IF msg IS NOT NULL THEN
            PERFORM pg_temp.diagnose(r, arrs[r.pos], msg, 1);
        END IF;
        EXECUTE format('SELECT min(i) FROM %I WHERE NOT ok', '_import_' || r.name) INTO bad;

        -- keys: only fields that can be set, each once
        SELECT min(x.i) INTO bad2
          FROM json_array_elements(coalesce(arrs[r.pos], '[]')) WITH ORDINALITY AS x(e, i)
         WHERE (SELECT count(*) <> count(DISTINCT key) OR bool_or(key <> ALL (keys))
                  FROM json_object_keys(x.e) AS key);
        IF coalesce(bad, bad2) IS NOT NULL THEN
            PERFORM pg_temp.diagnose(r, arrs[r.pos], NULL, least(bad, bad2));
        END IF;

        -- ordered lists (a playlist's song_ids): arrays of ids, staged
        -- as the join table's rows, positions from 0
        FOR l IN SELECT * FROM _lists WHERE resource = r.name ORDER BY name LOOP
            EXECUTE format('SELECT min(x.i) FROM ROWS FROM (json_to_recordset($1)'
                           ' AS (%I json)) WITH ORDINALITY AS x(v, i)'
                           ' WHERE x.v IS NOT NULL AND json_typeof(x.v) <> %L'
                           ' AND (json_typeof(x.v) <> %L OR json_array_length(x.v) > %s'
                           ' OR EXISTS (SELECT FROM json_array_elements(x.v) e'
                           ' WHERE e::text !~ %L OR e::text::numeric'
                           ' NOT BETWEEN 1 AND 9223372036854775807))',
                           l.name, 'null', 'array', l.max, '^[0-9]{1,19}$')
                INTO bad USING coalesce(arrs[r.pos], '[]');
            IF bad IS NOT NULL THEN
                PERFORM pg_temp.diagnose(r, arrs[r.pos], NULL, bad);
            END IF;
            EXECUTE format('CREATE TEMP TABLE %I (i bigint, id bigint, position integer,'
                           ' child bigint) ON COMMIT DROP', '_entries_' || r.name || '_' || l.name);
            EXECUTE format('INSERT INTO %I SELECT x.i, (x.id)::text::bigint, e.o - 1,'
                           ' e.v::text::bigint FROM ROWS FROM (json_to_recordset($1)'
                           ' AS (id json, %I json)) WITH ORDINALITY AS x(id, v, i)'
                           ' CROSS JOIN LATERAL json_array_elements(CASE WHEN'
                           ' json_typeof(x.v) = %L THEN x.v END) WITH ORDINALITY AS e(v, o)',
                           '_entries_' || r.name || '_' || l.name, l.name, 'array')
                USING coalesce(arrs[r.pos], '[]');
        END LOOP;

        arrs[r.pos] := NULL;
        EXECUTE format('ANALYZE %I', '_import_' || r.name);
    END LOOP;
END
$import$;

TRUNCATE _raw;

-- 3.-5. duplicate ids, references, upserts, sequences -------------------------------
DO $import$
DECLARE
    r      _resources;
    c      _columns;
    l      _lists;
    cols   text;
    writes text;
    sets   text;
    olds   text;
    news   text;
    refs   text;
    dup    record;
    bad    bigint;
    id     bigint;
    ps     text[];
    ref    bigint;
    total  bigint;
    made   bigint;
    moved  bigint;
BEGIN
    FOR r IN SELECT * FROM _resources ORDER BY pos LOOP
        EXECUTE format('SELECT id, min(i) AS i1, max(i) AS i2 FROM %I GROUP BY id'
                       ' HAVING count(*) > 1 ORDER BY 2 LIMIT 1', '_import_' || r.name)
           INTO dup;
        IF dup.id IS NOT NULL THEN
            PERFORM pg_temp.fail(format('%s: id %s appears more than once (%s[%s] and %s[%s])',
                                        r.name, dup.id, r.name, dup.i1 - 1, r.name, dup.i2 - 1));
        END IF;
    END LOOP;

    -- references: to an item of the file (staged before, parents first)
    -- or of the database; the first item with any missing, all of them
    FOR r IN SELECT * FROM _resources ORDER BY pos LOOP
        SELECT string_agg(format('SELECT i FROM %1$I s WHERE %2$I IS NOT NULL'
                                 ' AND NOT EXISTS (SELECT FROM %3$I x WHERE x.id = s.%2$I)'
                                 ' AND NOT EXISTS (SELECT FROM %4$I x WHERE x.id = s.%2$I)',
                                 '_import_' || r.name, name,
                                 '_import_' || (SELECT name FROM _resources WHERE tbl = ref_table),
                                 ref_table),
                          ' UNION ALL ')
          INTO refs FROM _columns WHERE resource = r.name AND input = 'ref';
        CONTINUE WHEN refs IS NULL;
        EXECUTE format('SELECT min(i) FROM (%s) m', refs) INTO bad;
        CONTINUE WHEN bad IS NULL;
        EXECUTE format('SELECT id FROM %I WHERE i = $1', '_import_' || r.name) INTO id USING bad;
        ps := '{}';
        FOR c IN SELECT * FROM _columns WHERE resource = r.name AND input = 'ref' ORDER BY pos LOOP
            EXECUTE format('SELECT %2$I FROM %1$I s WHERE i = $1 AND %2$I IS NOT NULL'
                           ' AND NOT EXISTS (SELECT FROM %3$I x WHERE x.id = s.%2$I)'
                           ' AND NOT EXISTS (SELECT FROM %4$I x WHERE x.id = s.%2$I)',
                           '_import_' || r.name, c.name,
                           '_import_' || (SELECT name FROM _resources WHERE tbl = c.ref_table),
                           c.ref_table)
               INTO ref USING bad;
            IF ref IS NOT NULL THEN
                ps := ps || format('%s: %s %s does not exist', c.name, c.ref_singular, ref);
            END IF;
        END LOOP;
        PERFORM pg_temp.fail(format('%s[%s] (id %s): %s', r.name, bad - 1, id,
                                    array_to_string(ps, '; ')));
    END LOOP;

    -- the ids in ordered lists: items of the file or of the database
    FOR l IN SELECT x.* FROM _lists x JOIN _resources y ON y.name = x.resource
              ORDER BY y.pos, x.name LOOP
        EXECUTE format('SELECT min(i) FROM %1$I s'
                       ' WHERE NOT EXISTS (SELECT FROM %2$I x WHERE x.id = s.child)'
                       ' AND NOT EXISTS (SELECT FROM %3$I x WHERE x.id = s.child)',
                       '_entries_' || l.resource || '_' || l.name,
                       '_import_' || l.child_name, l.child_table)
           INTO bad;
        CONTINUE WHEN bad IS NULL;
        EXECUTE format('SELECT min(id), string_agg(c::text, %4$L ORDER BY c) FROM'
                       ' (SELECT DISTINCT id, child AS c FROM %1$I s WHERE i = $1'
                       ' AND NOT EXISTS (SELECT FROM %2$I x WHERE x.id = s.child)'
                       ' AND NOT EXISTS (SELECT FROM %3$I x WHERE x.id = s.child)) m',
                       '_entries_' || l.resource || '_' || l.name,
                       '_import_' || l.child_name, l.child_table, ', ')
           INTO id, refs USING bad;
        PERFORM pg_temp.fail(format('%s[%s] (id %s): %s: %s %s: no such %s',
                                    l.resource, bad - 1, id, l.name, l.child_name,
                                    refs, l.child_singular));
    END LOOP;

    -- upserts, parents first.  Rows whose values would not change are left
    -- alone (no new row version, no index churn), which makes re-importing
    -- the same file cheap and idempotent.  An item whose list changed is
    -- written too (its columns set by every write, e.g. updated_at), and
    -- the list replaced, as a PUT of its entries would.
    FOR r IN SELECT * FROM _resources ORDER BY pos LOOP
        EXECUTE format('CREATE TEMP TABLE %I (list text, id bigint) ON COMMIT DROP',
                       '_changed_' || r.name);
        FOR l IN SELECT * FROM _lists WHERE resource = r.name ORDER BY name LOOP
            EXECUTE format('INSERT INTO %1$I SELECT %2$L, p.id FROM %3$I p'
                           ' WHERE ARRAY(SELECT child FROM %4$I s WHERE s.id = p.id'
                           ' ORDER BY position) IS DISTINCT FROM'
                           ' ARRAY(SELECT %5$I FROM %6$I j WHERE j.%7$I = p.id'
                           ' ORDER BY position)',
                           '_changed_' || r.name, l.name, '_import_' || r.name,
                           '_entries_' || r.name || '_' || l.name, l.child_column,
                           l.join_table, l.parent_column);
        END LOOP;

        SELECT string_agg(format('%I', name), ', ' ORDER BY pos) FILTER (WHERE input <> 'none'),
               string_agg(format('%1$I = excluded.%1$I', name), ', ' ORDER BY pos)
                   FILTER (WHERE input NOT IN ('id', 'none')),
               string_agg(format('t.%I', name), ', ' ORDER BY pos)
                   FILTER (WHERE input NOT IN ('id', 'none')),
               string_agg(format('excluded.%I', name), ', ' ORDER BY pos)
                   FILTER (WHERE input NOT IN ('id', 'none')),
               string_agg(format('%I = %s', name, write), ', ' ORDER BY pos)
                   FILTER (WHERE write IS NOT NULL)
          INTO cols, sets, olds, news, writes
          FROM _columns WHERE resource = r.name;
        EXECUTE format('CREATE TEMP TABLE %I (id bigint, inserted boolean) ON COMMIT DROP',
                       '_written_' || r.name);
        EXECUTE format('WITH up AS (INSERT INTO %1$I AS t (%2$s)'
                       ' SELECT %2$s FROM %3$I ORDER BY id'
                       ' ON CONFLICT (id) DO UPDATE SET %4$s'
                       ' WHERE ROW(%5$s) IS DISTINCT FROM ROW(%6$s)%7$s'
                       ' RETURNING t.id, xmax = 0 AS inserted)'
                       ' INSERT INTO %8$I SELECT * FROM up',
                       r.tbl, cols, '_import_' || r.name, sets, olds, news,
                       CASE WHEN EXISTS (SELECT FROM _lists WHERE resource = r.name)
                            THEN format(' OR t.id IN (SELECT id FROM %I)', '_changed_' || r.name)
                            ELSE '' END,
                       '_written_' || r.name);
        EXECUTE format('SELECT (SELECT count(*) FROM %I), count(*) FILTER (WHERE inserted),'
                       ' count(*) FILTER (WHERE NOT inserted) FROM %I',
                       '_import_' || r.name, '_written_' || r.name)
           INTO total, made, moved;
        -- what every write of an item sets (updated_at), for those updated
        IF writes IS NOT NULL THEN
            EXECUTE format('UPDATE %I SET %s WHERE id IN (SELECT id FROM %I WHERE NOT inserted)',
                           r.tbl, writes, '_written_' || r.name);
        END IF;

        FOR l IN SELECT * FROM _lists WHERE resource = r.name ORDER BY name LOOP
            EXECUTE format('DELETE FROM %1$I WHERE %2$I IN (SELECT id FROM %3$I WHERE list = %4$L)',
                           l.join_table, l.parent_column, '_changed_' || r.name, l.name);
            EXECUTE format('INSERT INTO %1$I (%2$I, %3$I, position)'
                           ' SELECT id, child, position FROM %4$I'
                           ' WHERE id IN (SELECT id FROM %5$I WHERE list = %6$L)'
                           ' ORDER BY id, position',
                           l.join_table, l.parent_column, l.child_column,
                           '_entries_' || r.name || '_' || l.name,
                           '_changed_' || r.name, l.name);
        END LOOP;
        INSERT INTO _summary VALUES (r.pos, format('%s %s (%s new, %s updated)',
                                                   r.name, total, made, moved));
    END LOOP;

    -- sequences: past the largest id, never backwards (setval is not
    -- undone by a rollback; it comes last, and a sequence that is merely
    -- ahead is harmless)
    FOR r IN SELECT * FROM _resources ORDER BY pos LOOP
        EXECUTE format('SELECT setval(seq, greatest(coalesce(maxid, 0),'
                       ' coalesce(pg_sequence_last_value(seq), 0), 1),'
                       ' coalesce(maxid, pg_sequence_last_value(seq)) IS NOT NULL)'
                       ' FROM (SELECT pg_get_serial_sequence(%L, %L)::regclass AS seq,'
                       ' (SELECT max(id) FROM %I) AS maxid) s',
                       'public.' || r.tbl, 'id', r.tbl);
    END LOOP;
END
$import$;

-- 6. summary --------------------------------------------------------------------
SELECT string_agg(line, ', ' ORDER BY pos) AS summary FROM _summary \gset
\o
\echo :summary
