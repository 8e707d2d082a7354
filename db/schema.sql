-- Tunesheap catalog schema.  Applied by `make run` and `make test` on every
-- start, so every statement here is idempotent.

CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS unaccent;

-- Search folds case and accents; an IMMUTABLE wrapper lets indexes use it
-- (unaccent() itself is only STABLE because its dictionary could change).
-- PL/pgSQL, not SQL: a SQL function calling a STABLE one from an
-- IMMUTABLE body is never inlined, and is parsed and planned on every
-- call; PL/pgSQL keeps the expression's plan.
CREATE OR REPLACE FUNCTION ts_fold(text) RETURNS text
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE STRICT
    AS $$ BEGIN
        RETURN lower(public.unaccent('public.unaccent'::regdictionary, $1));
    END $$;

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

-- A song's album is by the song's artist: a write of the API (whose
-- connections set tunesheap.album_artist = 'check', ts_write.c) that
-- breaks it fails as a foreign key would (23503, constraint
-- songs_album_artist), and ts_write_conflict() answers a 422 naming both
-- ids.  Rows loaded otherwise (imports, test fixtures) are not checked.
CREATE OR REPLACE FUNCTION ts_songs_album_artist() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    owner bigint;
BEGIN
    IF current_setting('tunesheap.album_artist', true) IS DISTINCT FROM 'check'
    THEN
        RETURN NEW;
    END IF;

    -- the album's artist cannot change under the write
    SELECT artist_id INTO owner FROM albums WHERE id = NEW.album_id
        FOR SHARE;

    IF FOUND AND owner <> NEW.artist_id THEN
        RAISE foreign_key_violation USING
            CONSTRAINT = 'songs_album_artist',
            MESSAGE = format('album %s is by artist %s, not %s',
                             NEW.album_id, owner, NEW.artist_id),
            DETAIL = format('Key (album_id, artist_id)=(%s, %s) is not '
                            'present in table "albums".',
                            NEW.album_id, NEW.artist_id);
    END IF;

    RETURN NEW;
END
$$;
DROP TRIGGER IF EXISTS songs_album_artist ON songs;
CREATE TRIGGER songs_album_artist
    BEFORE INSERT OR UPDATE OF album_id, artist_id ON songs
    FOR EACH ROW EXECUTE FUNCTION ts_songs_album_artist();

-- A song's audio: the object's key under the media root (or in the S3
-- bucket), never a name a client chose, and what the upload's bytes said.
ALTER TABLE songs ADD COLUMN IF NOT EXISTS audio_key text;
ALTER TABLE songs ADD COLUMN IF NOT EXISTS audio_type text;
ALTER TABLE songs ADD COLUMN IF NOT EXISTS audio_size bigint;
ALTER TABLE songs ADD COLUMN IF NOT EXISTS audio_bitrate_kbps integer;
ALTER TABLE songs ADD COLUMN IF NOT EXISTS audio_duration_ms integer;

-- Editorial playlists: an ordered list of songs (a song may appear more
-- than once).  An entry is a row of playlist_songs; positions run from 0
-- with no gap, kept so by ts_entries_write() under the playlist's row
-- lock.  The unique constraint is checked at the end of each statement
-- (DEFERRABLE), so that shifting a range of positions by one is one
-- UPDATE; it also serves the reads in position order.  Deleting a
-- playlist deletes its entries; a song in a playlist cannot be deleted
-- (the API answers 409 naming the playlists).  revision counts the
-- writes of the playlist and of its entries: its ETag changes with them.
CREATE TABLE IF NOT EXISTS playlists (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL,
    description text,
    category    text,
    cover_url   text,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    revision    bigint NOT NULL DEFAULT 1
);

CREATE TABLE IF NOT EXISTS playlist_songs (
    id          bigserial PRIMARY KEY,
    playlist_id bigint NOT NULL REFERENCES playlists (id) ON DELETE CASCADE,
    song_id     bigint NOT NULL REFERENCES songs (id),
    position    integer NOT NULL CHECK (position >= 0),
    CONSTRAINT playlist_songs_position UNIQUE (playlist_id, position)
        DEFERRABLE INITIALLY IMMEDIATE
);

CREATE INDEX IF NOT EXISTS playlists_category_idx
    ON playlists (category, id);
CREATE INDEX IF NOT EXISTS playlist_songs_song_idx
    ON playlist_songs (song_id, playlist_id);

-- One write of an ordered relation's entries (ts_resource.c generates the
-- statement that calls it, with the names its description gives): the
-- caller has locked the parent's row, and each statement here takes a
-- new snapshot (READ COMMITTED), so it sees every entry committed before
-- the lock was granted.  op: 'replace' (ids, in order), 'insert' (ids[1]
-- at pos, or at the end when pos is NULL), 'move' (entry to pos),
-- 'remove' (entry).  Returns NULL, or why it could not (a 409).
CREATE OR REPLACE FUNCTION ts_entries_write(tbl text, parent_col text,
    child_col text, parent bigint, op text, ids bigint[], entry bigint,
    pos integer)
    RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    n    integer;
    cur  integer;
BEGIN
    EXECUTE format('SELECT count(*) FROM %I WHERE %I = $1', tbl, parent_col)
        INTO n USING parent;

    IF op = 'replace' THEN
        EXECUTE format('DELETE FROM %I WHERE %I = $1', tbl, parent_col)
            USING parent;
        EXECUTE format('INSERT INTO %I (%I, %I, position)'
                       ' SELECT $1, u.id, u.o - 1'
                       ' FROM unnest($2::bigint[]) WITH ORDINALITY'
                       ' AS u (id, o)', tbl, parent_col, child_col)
            USING parent, ids;
        RETURN NULL;
    END IF;

    IF op = 'insert' THEN
        pos := coalesce(pos, n);

        IF pos > n THEN
            RETURN format('position %s is past the end: the list has %s'
                          ' entries', pos, n);
        END IF;

        EXECUTE format('UPDATE %I SET position = position + 1'
                       ' WHERE %I = $1 AND position >= $2', tbl, parent_col)
            USING parent, pos;
        EXECUTE format('INSERT INTO %I (%I, %I, position)'
                       ' VALUES ($1, $2, $3)', tbl, parent_col, child_col)
            USING parent, ids[1], pos;
        RETURN NULL;
    END IF;

    EXECUTE format('SELECT position FROM %I WHERE id = $1 AND %I = $2',
                   tbl, parent_col)
        INTO cur USING entry, parent;

    IF cur IS NULL THEN
        RETURN format('entry %s is not in this list', entry);
    END IF;

    IF op = 'remove' THEN
        EXECUTE format('DELETE FROM %I WHERE id = $1', tbl) USING entry;
        EXECUTE format('UPDATE %I SET position = position - 1'
                       ' WHERE %I = $1 AND position > $2', tbl, parent_col)
            USING parent, cur;
        RETURN NULL;
    END IF;

    -- move
    IF pos >= n THEN
        RETURN format('position %s is past the end: the list has %s'
                      ' entries', pos, n);
    END IF;

    EXECUTE format('UPDATE %I SET position = CASE WHEN id = $3 THEN $4'
                   ' WHEN $4 < $2 THEN position + 1 ELSE position - 1 END'
                   ' WHERE %I = $1 AND position BETWEEN least($2, $4)'
                   ' AND greatest($2, $4)', tbl, parent_col)
        USING parent, cur, entry, pos;
    RETURN NULL;
END $$;

-- Filters and nested lists walk these in id (or track) order.
CREATE INDEX IF NOT EXISTS artists_country_idx ON artists (country, id);
CREATE INDEX IF NOT EXISTS albums_artist_idx ON albums (artist_id, id);
CREATE INDEX IF NOT EXISTS albums_genre_idx ON albums (genre, id);
CREATE INDEX IF NOT EXISTS songs_album_idx
    ON songs (album_id, track_number, id);
CREATE INDEX IF NOT EXISTS songs_artist_idx ON songs (artist_id, id);

-- Search ------------------------------------------------------------------
-- A search costs a small, bounded amount of Postgres work whatever the
-- text: every step is an index scan with a cap, and none reads every
-- match of a common word, every word of a common prefix or every title.
-- Three tables, kept exact by statement-level triggers on every write
-- (ts_search_install() below), hold what a search reads:
--  * ts_search_names: each name folded (ts_fold()) and its words as a
--    tsvector, once, in byte order: the exact name and names that start
--    with the text, checking a name for words, and the ranking, without
--    folding or parsing a name per search;
--  * ts_search_terms: the words of each folded name, a row per word and
--    name (an inverted index kept in a btree): the names holding a word
--    are read in id order, those holding a word that starts with a prefix
--    in word order, each scan capped;
--  * ts_search_words: each table's distinct words, with the number of
--    names holding each (a search starts from its rarest word), and the
--    typo keys of each (ts_search_typo_keys()): a typo is a few exact
--    probes of that word list, never a comparison with every title.
-- ts_search_ids_TABLE() finds a search's candidates, the statement in
-- ts_resource.c ranks them.
-- kind: 'a' artists, 'l' albums, 's' songs, 'p' playlists.  Text
-- compares bytewise (COLLATE "C"), so that a prefix is a range of an
-- index.

-- A folded search text as every type's search reads it, worked out once
-- a search (each type worked it out again: about 50 us a type):
--  q: its words, all required; the last one also as a prefix ("metal"
--     finds "metallica": search as the user types) unless the text ends
--     in something other than a letter or digit (the user finished the
--     word) or the word is shorter than 3 characters (too many words begin
--     with one or two letters; the whole-name prefix covers those);
--  words: its full words, distinct;
--  pre: its last word, when that is a prefix.
-- (PL/pgSQL: the text is parsed once, where one SQL expression parsed it
-- up to three times.  Its words are split out of q's text, 'a' & 'b'
-- (a word holds no space, and a quote in it is doubled), without a
-- statement: regexp_matches() was one, and half of the function's time.)
CREATE OR REPLACE FUNCTION ts_search_parse(t text, OUT q tsquery,
                                           OUT words text[], OUT pre text)
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE STRICT
    AS $$
    DECLARE
        qt  text;
        n   integer;
    BEGIN
        q := plainto_tsquery('simple', t);
        qt := q::text;

        IF qt = '' THEN
            RETURN;     -- no word
        END IF;

        words := string_to_array(replace(substr(qt, 2, length(qt) - 2),
                                         '''''', ''''), ''' & ''');

        IF t ~ '[[:alnum:]]$' AND qt ~ '''[^'']{3,}''$' THEN
            q := (qt || ':*')::tsquery;
            n := cardinality(words);
            pre := words[n];
            words := words[1:n - 1];
        END IF;

        -- distinct, as a tsvector's words are
        words := tsvector_to_array(array_to_tsvector(words));

        IF cardinality(words) = 0 THEN
            words := NULL;
        END IF;
    END $$;

-- the distinct words of a folded name, as a search sees them
CREATE OR REPLACE FUNCTION ts_search_words_of(text) RETURNS text[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    AS $$ SELECT tsvector_to_array(to_tsvector('simple', $1)) $$;

-- Typos: a word and the words one character shorter (for words of at
-- most 40 characters), each after the kind.  Two words of a table share
-- one of these keys when one is the other with a character deleted,
-- inserted or replaced, or with two neighbours swapped (symmetric
-- deletion): a typo's words are found with a few exact probes of a GIN
-- index, however long the word list.
-- (PL/pgSQL: its plan is kept, where a SQL one is planned per call.)
CREATE OR REPLACE FUNCTION ts_search_typo_keys("char", text)
    RETURNS text[]
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE STRICT
    AS $$
    DECLARE
        keys  text[] := ARRAY[$1::text || $2];
        i     integer;
    BEGIN
        IF length($2) <= 40 THEN
            FOR i IN 1 .. length($2) LOOP
                keys := keys || ($1::text || left($2, i - 1)
                                 || substr($2, i + 1));
            END LOOP;
        END IF;
        RETURN keys;
    END $$;

CREATE TABLE IF NOT EXISTS ts_search_names (
    kind   "char" NOT NULL,
    id     bigint NOT NULL,
    folded text COLLATE "C" NOT NULL,
    doc    tsvector NOT NULL,       -- to_tsvector('simple', folded)
    PRIMARY KEY (kind, id)
);
CREATE INDEX IF NOT EXISTS ts_search_names_folded_idx
    ON ts_search_names (kind, folded, id);

CREATE TABLE IF NOT EXISTS ts_search_terms (
    kind "char" NOT NULL,
    word text COLLATE "C" NOT NULL,
    id   bigint NOT NULL,
    PRIMARY KEY (kind, word, id)
);

CREATE TABLE IF NOT EXISTS ts_search_words (
    kind "char" NOT NULL,
    word text COLLATE "C" NOT NULL,
    n    integer NOT NULL,          -- names holding the word
    PRIMARY KEY (kind, word)
);
DROP INDEX IF EXISTS ts_search_words_typo_idx;
DROP FUNCTION IF EXISTS ts_search_deletes(text);
CREATE INDEX IF NOT EXISTS ts_search_words_typos_idx
    ON ts_search_words USING gin (ts_search_typo_keys(kind, word));

-- the tables whose names are in the three tables above
CREATE TABLE IF NOT EXISTS ts_search_indexed (
    kind "char" PRIMARY KEY,
    tbl  text NOT NULL,
    col  text NOT NULL
);

-- Indexes tbl's column col for search as kind k: the trigger function
-- ts_search_index_TABLE() with triggers for INSERT, UPDATE, DELETE and
-- TRUNCATE, and ts_search_ids_TABLE(); the table's names are read the
-- first time, with writers locked out meanwhile.
CREATE OR REPLACE FUNCTION ts_search_install(tbl text, k "char", col text)
    RETURNS void LANGUAGE plpgsql AS $i$
DECLARE
    trg  text := 'ts_search_index_' || tbl;
BEGIN
    -- Writes: a word is counted +1 for every new name holding it, -1 for
    -- every old one; the counts are upserted in word order (two writers
    -- never wait for each other's rows in opposite orders), and a word
    -- no name holds any more is deleted.  An update only touches the rows
    -- whose name changed.
    EXECUTE format($f$
        CREATE OR REPLACE FUNCTION %1$I() RETURNS trigger
            LANGUAGE plpgsql AS $b$
        BEGIN
            IF TG_OP = 'TRUNCATE' THEN
                DELETE FROM ts_search_names WHERE kind = %2$L;
                DELETE FROM ts_search_terms WHERE kind = %2$L;
                DELETE FROM ts_search_words WHERE kind = %2$L;
                RETURN NULL;
            END IF;

            IF TG_OP = 'INSERT' THEN
                INSERT INTO ts_search_names AS t (kind, id, folded, doc)
                    SELECT %2$L, id, f, to_tsvector('simple', f)
                      FROM ts_new, ts_fold(%3$I) AS f
                    ON CONFLICT (kind, id)
                    DO UPDATE SET folded = excluded.folded, doc = excluded.doc;
                INSERT INTO ts_search_terms (kind, word, id)
                    SELECT %2$L, w, id
                      FROM ts_new,
                           unnest(ts_search_words_of(ts_fold(%3$I))) AS w
                    ON CONFLICT DO NOTHING;
                INSERT INTO ts_search_words AS t (kind, word, n)
                    SELECT %2$L, w, count(*)
                      FROM ts_new,
                           unnest(ts_search_words_of(ts_fold(%3$I))) AS w
                     GROUP BY w ORDER BY w
                    ON CONFLICT (kind, word) DO UPDATE SET n = t.n + excluded.n;

            ELSIF TG_OP = 'DELETE' THEN
                DELETE FROM ts_search_names t USING ts_old o
                    WHERE t.kind = %2$L AND t.id = o.id;
                DELETE FROM ts_search_terms t
                    USING (SELECT w, id
                             FROM ts_old,
                                  unnest(ts_search_words_of(ts_fold(%3$I)))
                                  AS w) o
                    WHERE t.kind = %2$L AND t.word = o.w AND t.id = o.id;
                INSERT INTO ts_search_words AS t (kind, word, n)
                    SELECT %2$L, w, -count(*)
                      FROM ts_old,
                           unnest(ts_search_words_of(ts_fold(%3$I))) AS w
                     GROUP BY w ORDER BY w
                    ON CONFLICT (kind, word) DO UPDATE SET n = t.n + excluded.n;
                DELETE FROM ts_search_words t
                    WHERE t.kind = %2$L AND t.n <= 0
                      AND t.word IN (SELECT w FROM ts_old,
                                     unnest(ts_search_words_of(ts_fold(%3$I)))
                                     AS w);

            ELSE
                UPDATE ts_search_names t
                   SET folded = f, doc = to_tsvector('simple', f)
                  FROM ts_old o JOIN ts_new n ON n.id = o.id,
                       ts_fold(n.%3$I) AS f
                 WHERE o.%3$I IS DISTINCT FROM n.%3$I
                   AND t.kind = %2$L AND t.id = n.id;
                -- (c: the rows whose name changed, -1 for an old word,
                -- +1 for a new one)
                WITH c AS (%4$s)
                DELETE FROM ts_search_terms t USING c
                    WHERE c.d < 0
                      AND t.kind = %2$L AND t.word = c.w AND t.id = c.id;
                WITH c AS (%4$s)
                INSERT INTO ts_search_terms (kind, word, id)
                    SELECT %2$L, w, id FROM c WHERE d > 0
                    ON CONFLICT DO NOTHING;
                WITH c AS (%4$s)
                INSERT INTO ts_search_words AS t (kind, word, n)
                    SELECT %2$L, w, sum(d) FROM c
                     GROUP BY w HAVING sum(d) <> 0 ORDER BY w
                    ON CONFLICT (kind, word) DO UPDATE SET n = t.n + excluded.n;
                WITH c AS (%4$s)
                DELETE FROM ts_search_words t
                    WHERE t.kind = %2$L AND t.n <= 0
                      AND t.word IN (SELECT w FROM c);
            END IF;

            RETURN NULL;
        END $b$
        $f$, trg, k, col,
        format('SELECT o.id, w, -1 AS d'
               ' FROM ts_old o JOIN ts_new n ON n.id = o.id,'
               ' unnest(ts_search_words_of(ts_fold(o.%1$I))) AS w'
               ' WHERE o.%1$I IS DISTINCT FROM n.%1$I'
               ' UNION ALL SELECT n.id, w, 1'
               ' FROM ts_old o JOIN ts_new n ON n.id = o.id,'
               ' unnest(ts_search_words_of(ts_fold(n.%1$I))) AS w'
               ' WHERE o.%1$I IS DISTINCT FROM n.%1$I', col));

    EXECUTE format('CREATE OR REPLACE TRIGGER ts_search_insert'
                   ' AFTER INSERT ON %I REFERENCING NEW TABLE AS ts_new'
                   ' FOR EACH STATEMENT EXECUTE FUNCTION %I()', tbl, trg);
    EXECUTE format('CREATE OR REPLACE TRIGGER ts_search_update'
                   ' AFTER UPDATE ON %I'
                   ' REFERENCING OLD TABLE AS ts_old NEW TABLE AS ts_new'
                   ' FOR EACH STATEMENT EXECUTE FUNCTION %I()', tbl, trg);
    EXECUTE format('CREATE OR REPLACE TRIGGER ts_search_delete'
                   ' AFTER DELETE ON %I REFERENCING OLD TABLE AS ts_old'
                   ' FOR EACH STATEMENT EXECUTE FUNCTION %I()', tbl, trg);
    EXECUTE format('CREATE OR REPLACE TRIGGER ts_search_truncate'
                   ' AFTER TRUNCATE ON %I'
                   ' FOR EACH STATEMENT EXECUTE FUNCTION %I()', tbl, trg);

    -- Reads: the candidates of a search for the folded text t, limit lim,
    -- each once with its folded name and words, at most lim (20 at least)
    -- + 2 x (lim + 5) of them (ts_resource.c ranks them; a tier below
    -- the first only fills the page, so it brings the page and a margin
    -- of 5 for the ranking to choose from: each candidate costs the
    -- ranking about 5 us, and 50 typos were half a typo search's time):
    --  1. names that start with t, in byte order (the exact name first,
    --     then the shorter before the longer), lim of them (20 at least);
    --  2. when those are fewer than lim, names holding every word of t,
    --     the last one perhaps a prefix (ts_search_parse()), at most
    --     lim + 5: read from the postings of the
    --     rarest word (or of the prefix's words, when fewer than 50 and
    --     rarer), at most 200 of them, each checked for the other words;
    --  3. when those are fewer than lim, typos (t of 4 to 40 characters
    --     with a 3-letter run), unless every word of t is a word of the
    --     table (the prefix the start of one) and a name was found: the
    --     text was typed right, and what it finds is the answer (for
    --     the bench's texts, typos were half of the songs' search time,
    --     for names one edit away that rank below those found).  Each
    --     of the 3 longest words of t (of 3 letters or more) stands for
    --     itself or the 3 words of the table's word list most similar to
    --     it among those one edit away (ts_search_typo_keys()), the
    --     other words for themselves; names holding one of each, read
    --     from the rarest such set (at most 200 postings), at most
    --     lim + 5.
    -- q, words and pre are ts_search_parse(t), worked out once a search
    -- for every type (the 2-argument form works them out itself).
    -- Its plans are the same index scans for any text: the search lane's
    -- sessions plan them once, generic and without parallel workers
    -- (ts_search_setup, src/ts_search.c), where SET clauses here cost
    -- every call a save and restore of both settings (3% of the call).
    -- (an earlier version's, returning other columns, cannot be replaced)
    IF EXISTS (SELECT FROM pg_proc
               WHERE oid = to_regprocedure(format('%I(text, integer)',
                                                  'ts_search_ids_' || tbl))
                 AND pg_get_function_result(oid) <> 'TABLE(ts_id bigint,'
                     ' ts_folded text, ts_doc tsvector)')
    THEN
        EXECUTE format('DROP FUNCTION %I(text, integer)',
                       'ts_search_ids_' || tbl);
    END IF;

    EXECUTE format($f$
        CREATE OR REPLACE FUNCTION %1$I(t text, lim integer, q tsquery,
                                        words text[], pre text)
            RETURNS TABLE (ts_id bigint, ts_folded text, ts_doc tsvector)
            LANGUAGE plpgsql STABLE ROWS 100
        AS $b$
        DECLARE
            nwords   integer := coalesce(cardinality(words), 0);
            found    bigint[];
            ids      bigint[];
            drv      text[];        -- the words whose postings are read
            drvpre   text;          -- and the prefix whose postings are
            cost     bigint;
            c        bigint;
            m        integer := 0;
            pm       integer := 0;  -- the prefix's words, up to 50
            pc       bigint := 0;   -- and the names holding them
            i        integer := 0;
            j        integer;
            s        record;
            alts     text[];
            sq       tsquery;
            tq       tsquery;
            named    boolean;       -- the table has a name at all
        BEGIN
            -- 1., and in the same statement (each costs its executor's
            -- start and end) what 2. needs: the prefix's words and the
            -- names holding them, the full words found and the fewest
            -- names holding one, and whether the table has a name at all
            -- (its first id on the primary key: an EXISTS is planned as
            -- a sequential scan, and read past every other kind's rows
            -- ahead of this one's)
            SELECT ARRAY(SELECT x.id FROM ts_search_names x
                          WHERE x.kind = %2$L AND x.folded >= t
                            AND x.folded < t || chr(1114111)
                          ORDER BY x.folded, x.id LIMIT greatest(lim, 20)),
                   pw.pw_m, pw.pw_c, fw.fw_m, fw.fw_cost,
                   (SELECT x.id FROM ts_search_names x
                     WHERE x.kind = %2$L
                     ORDER BY x.kind, x.id LIMIT 1) IS NOT NULL
              INTO found, pm, pc, m, cost, named
              FROM (SELECT count(*) AS pw_m, coalesce(sum(x.n), 0) AS pw_c
                      FROM (SELECT w.n FROM ts_search_words w
                             WHERE pre IS NOT NULL AND w.kind = %2$L
                               AND w.word >= pre
                               AND w.word < pre || chr(1114111)
                             LIMIT 50) x) pw,
                   (SELECT count(*) AS fw_m, min(w.n) AS fw_cost
                      FROM ts_search_words w
                     WHERE w.kind = %2$L AND w.word = ANY (words)) fw;

            -- an empty table (no playlists yet): nor typos to look for
            IF NOT named THEN
                RETURN;
            END IF;

            -- 2.

            IF nwords = 0 AND pre IS NULL THEN
                NULL;       -- no word

            ELSIF cardinality(found) >= lim THEN
                NULL;       -- enough names start with t: they rank first

            ELSIF m < nwords OR (pre IS NOT NULL AND pm = 0) THEN
                NULL;       -- a word no name holds

            ELSIF pre IS NOT NULL
                  AND (nwords = 0 OR (pm < 50 AND pc < cost))
            THEN
                ids := ARRAY(SELECT x.id FROM ts_search_terms x
                             WHERE x.kind = %2$L AND x.word >= pre
                               AND x.word < pre || chr(1114111)
                             ORDER BY x.word, x.id LIMIT 200);
            ELSE
                ids := ARRAY(SELECT x.id FROM ts_search_terms x
                             WHERE x.kind = %2$L
                               AND x.word = (SELECT w.word
                                             FROM ts_search_words w
                                             WHERE w.kind = %2$L
                                               AND w.word = ANY (words)
                                             ORDER BY w.n, w.word LIMIT 1)
                             ORDER BY x.id LIMIT 200);
            END IF;

            IF ids IS NOT NULL THEN
                IF nwords + (pre IS NOT NULL)::int > 1 THEN
                    ids := ARRAY(SELECT u.id
                                 FROM unnest(ids) WITH ORDINALITY AS u (id, o)
                                 JOIN ts_search_names x
                                   ON x.kind = %2$L AND x.id = u.id
                                 WHERE x.doc @@ q
                                 ORDER BY u.o LIMIT lim + 5);
                END IF;
                found := found || ids[1:lim + 5];
            END IF;

            -- (found may hold a name twice, from 1. and 2.: = ANY and
            -- UNION below return it once, and 2. runs only when every
            -- word is a word of the table, so that a name found stops
            -- the search whatever the count says: no statement to
            -- remove them)

            -- 3.
            IF cardinality(found) >= lim
               OR nwords = 0 AND pre IS NULL
               OR length(t) NOT BETWEEN 4 AND 40
               OR t !~ '[[:alnum:]]{3}'
               OR (cardinality(found) > 0 AND m = nwords
                   AND (pre IS NULL OR pm > 0))
            THEN
                RETURN QUERY SELECT x.id, x.folded::text, x.doc
                               FROM ts_search_names x
                              WHERE x.kind = %2$L AND x.id = ANY (found);
                RETURN;
            END IF;

            FOR s IN SELECT x.w, x.p FROM (SELECT w, false AS p
                                           FROM unnest(words) AS w
                                           UNION ALL
                                           SELECT pre, true
                                           WHERE pre IS NOT NULL) x
                     ORDER BY length(x.w) DESC, x.w, x.p
            LOOP
                i := i + 1;

                -- the word (a prefix counts as a prefix, not a word) and
                -- its neighbours, with the names holding them, in one
                -- statement
                SELECT CASE WHEN s.p THEN '{}' ELSE ARRAY[s.w] END
                           || coalesce(array_agg(x.word)
                                           FILTER (WHERE x.o = 2),
                                       '{}'),
                       coalesce(sum(x.n), 0), count(*)
                  INTO alts, c, m
                  FROM (SELECT w.word, w.n, 1 AS o FROM ts_search_words w
                         WHERE NOT s.p AND w.kind = %2$L AND w.word = s.w
                        UNION ALL
                        (SELECT w.word, w.n, 2 FROM ts_search_words w
                          WHERE i <= 3 AND length(s.w) >= 3
                            AND ts_search_typo_keys(w.kind, w.word)
                                && ts_search_typo_keys(%2$L, s.w)
                            AND w.word <> s.w
                          ORDER BY similarity(w.word, s.w) DESC, w.n DESC,
                                   w.word
                          LIMIT 3)) x;

                sq := NULL;

                IF s.p THEN
                    sq := (plainto_tsquery('simple', s.w)::text
                           || ':*')::tsquery;
                END IF;

                IF s.p THEN
                    IF m = 0 AND pm = 0 THEN
                        c := NULL;
                    ELSIF pm < 50 THEN
                        c := c + pc;
                    ELSE
                        c := 1000000000;    -- too many: never read
                    END IF;
                ELSIF m = 0 THEN
                    c := NULL;
                END IF;

                IF c IS NULL THEN
                    -- no name holds the word or one like it: no typo
                    RETURN QUERY SELECT x.id, x.folded::text, x.doc
                                   FROM ts_search_names x
                                  WHERE x.kind = %2$L AND x.id = ANY (found);
                    RETURN;
                END IF;

                FOR j IN 1 .. coalesce(cardinality(alts), 0) LOOP
                    sq := CASE WHEN sq IS NULL
                               THEN plainto_tsquery('simple', alts[j])
                               ELSE sq || plainto_tsquery('simple', alts[j])
                          END;
                END LOOP;

                tq := CASE WHEN tq IS NULL THEN sq ELSE tq && sq END;

                IF cost IS NULL OR c < cost OR i = 1 THEN
                    cost := c;
                    drv := alts;
                    drvpre := CASE WHEN s.p THEN s.w END;
                END IF;
            END LOOP;

            IF cost >= 1000000000 THEN
                drv := NULL;
                drvpre := NULL;
            END IF;

            ids := ARRAY((SELECT x.id FROM ts_search_terms x
                          WHERE x.kind = %2$L AND x.word = ANY (drv)
                          UNION ALL
                          SELECT x.id FROM ts_search_terms x
                          WHERE drvpre IS NOT NULL AND x.kind = %2$L
                            AND x.word >= drvpre
                            AND x.word < drvpre || chr(1114111))
                         LIMIT 200);

            RETURN QUERY
                SELECT x.id, x.folded::text, x.doc FROM ts_search_names x
                 WHERE x.kind = %2$L AND x.id = ANY (found)
                UNION
                (SELECT x.id, x.folded::text, x.doc
                   FROM unnest(ids) WITH ORDINALITY AS u (id, o)
                   JOIN ts_search_names x ON x.kind = %2$L AND x.id = u.id
                  WHERE x.doc @@ tq
                  ORDER BY u.o LIMIT lim + 5);
        END $b$
        $f$, 'ts_search_ids_' || tbl, k);

    -- the same for one search alone (tests, ts_search_warm())
    EXECUTE format($f$
        CREATE OR REPLACE FUNCTION %1$I(t text, lim integer)
            RETURNS TABLE (ts_id bigint, ts_folded text, ts_doc tsvector)
            LANGUAGE sql STABLE STRICT ROWS 100
        AS $b$
            SELECT c.* FROM ts_search_parse(t) AS p,
                            %1$I(t, lim, p.q, p.words, p.pre) AS c
        $b$
        $f$, 'ts_search_ids_' || tbl);

    -- the table's names, once (and again should its column change)
    IF EXISTS (SELECT FROM ts_search_indexed x
               WHERE x.kind = k AND x.tbl = ts_search_install.tbl
                 AND x.col = ts_search_install.col)
    THEN
        RETURN;
    END IF;

    -- readers go on, writers wait until this transaction commits
    EXECUTE format('LOCK TABLE %I IN SHARE ROW EXCLUSIVE MODE', tbl);

    DELETE FROM ts_search_names x WHERE x.kind = k;
    DELETE FROM ts_search_terms x WHERE x.kind = k;
    DELETE FROM ts_search_words x WHERE x.kind = k;
    EXECUTE format('INSERT INTO ts_search_names (kind, id, folded, doc)'
                   ' SELECT %L, id, f, to_tsvector(''simple'', f)'
                   ' FROM %I, ts_fold(%I) AS f', k, tbl, col);
    INSERT INTO ts_search_terms (kind, word, id)
        SELECT k, w, x.id
          FROM ts_search_names x, unnest(tsvector_to_array(x.doc)) AS w
         WHERE x.kind = k
         ORDER BY 2, 3;
    INSERT INTO ts_search_words (kind, word, n)
        SELECT k, x.word, count(*) FROM ts_search_terms x
         WHERE x.kind = k GROUP BY x.word;

    INSERT INTO ts_search_indexed AS x VALUES (k, tbl, col)
        ON CONFLICT (kind) DO UPDATE SET tbl = excluded.tbl,
                                         col = excluded.col;
END $i$;

-- A new connection's first searches each cost tens of milliseconds more
-- than the rest (the backend loads its caches, compiles and plans the
-- search functions): the search lane's connections run this once, when
-- they open (ngx_tunesheap_module.c, ts_search_setup), over texts that
-- take each step of ts_search_ids_TABLE().  It reads only the search
-- tables.
CREATE OR REPLACE FUNCTION ts_search_warm() RETURNS void
    LANGUAGE plpgsql AS $$
DECLARE
    x  record;
    t  text;
BEGIN
    FOR x IN SELECT tbl FROM ts_search_indexed ORDER BY kind LOOP
        FOREACH t IN ARRAY ARRAY['zz', 'love', 'lvoe', 'the love of',
                                 'the lvoe of', 'love me.', 'lvoe me.',
                                 'a%b_c']
        LOOP
            EXECUTE format('SELECT count(*) FROM %I($1, 20)',
                           'ts_search_ids_' || x.tbl)
                USING ts_fold(t);
        END LOOP;
    END LOOP;

    PERFORM ts_rank(to_tsvector('simple', 'warm'), (ts_search_parse('warm')).q)
            + similarity('warm', 'warm') + word_similarity('warm', 'warm');
END $$;

SELECT ts_search_install('artists', 'a', 'name');
SELECT ts_search_install('albums', 'l', 'title');
SELECT ts_search_install('songs', 's', 'title');
SELECT ts_search_install('playlists', 'p', 'name');

-- What searched before: every match of a common word was read from
-- these, and typos compared with every title.
DROP FUNCTION IF EXISTS ts_search_typos_artists(text, integer);
DROP FUNCTION IF EXISTS ts_search_typos_albums(text, integer);
DROP FUNCTION IF EXISTS ts_search_typos_songs(text, integer);
-- (its text's query, now ts_search_parse()'s q)
DROP FUNCTION IF EXISTS ts_search_query(text);
DROP INDEX IF EXISTS artists_name_fts_idx;
DROP INDEX IF EXISTS artists_name_trgm_idx;
DROP INDEX IF EXISTS artists_name_fold_idx;
DROP INDEX IF EXISTS albums_title_fts_idx;
DROP INDEX IF EXISTS albums_title_trgm_idx;
DROP INDEX IF EXISTS albums_title_fold_idx;
DROP INDEX IF EXISTS songs_title_fts_idx;
DROP INDEX IF EXISTS songs_title_trgm_idx;
DROP INDEX IF EXISTS songs_title_fold_idx;

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

-- Offset pages of a whole list (all songs, all albums): how many of the
-- table's rows lie in each span of 1,024 ids (the span named by its first
-- id), and how many up to the end of it (reach).  Kept by the same
-- triggers as the totals, in the same transactions.  A page at offset N
-- is one probe of the index on reach, the first span that reaches past
-- N, then a walk of at most 511 ids of that span, from its nearer end,
-- none when the span has all its 1,024 ids: at offset 470,000 of 500,000
-- songs one index entry, where OFFSET alone walks 470,000 ids.  A write
-- updates the reach of the spans from its lowest id on: the last span or
-- two for a new song (ids grow), up to every span for a deletion of an
-- early one.  Writers of a table are queued by its total in
-- ts_list_counts, which every insert and delete updates first, so the
-- reach each computes starts from its predecessor's committed one.  It
-- is exact in the page's own snapshot (a write before the offset moves
-- the page at once, on every node).
-- Filtered and nested lists keep OFFSET on their own index: they walk their
-- own rows only, and a span per value would cost about a row per item
-- (songs of an artist are scattered over the ids).  `spans` and `reach`
-- in ts_list_counted say the spans and their reach were counted.
CREATE TABLE IF NOT EXISTS ts_list_spans (
    tbl  text     NOT NULL,
    bits smallint NOT NULL,
    span bigint   NOT NULL,
    n    int      NOT NULL,  -- summed as bigint, not numeric
    PRIMARY KEY (tbl, bits, span)
);

ALTER TABLE ts_list_spans ADD COLUMN IF NOT EXISTS reach bigint
    NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS ts_list_spans_reach_idx
    ON ts_list_spans (tbl, bits, reach, span) INCLUDE (n);

ALTER TABLE ts_list_counted ADD COLUMN IF NOT EXISTS spans boolean
    NOT NULL DEFAULT false;
ALTER TABLE ts_list_counted ADD COLUMN IF NOT EXISTS reach boolean
    NOT NULL DEFAULT false;

-- SELECT bits, span, d: d (the sign) times the rows of src per span
-- (bits: one width now, 1,024 ids; the column stays in the key)
CREATE OR REPLACE FUNCTION ts_list_spans_rows(src text, d int)
    RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT format('SELECT 10 AS bits, id >> 10 << 10 AS span,'
                  ' %s * count(*) AS d FROM %I GROUP BY 2', d, src)
$$;

-- The reach of tbl's spans from the span low on: the rows up to the end
-- of each, from the reach of the span before low (unchanged by a write
-- from low on).  Only the spans whose reach changed are written.
-- (PL/pgSQL: its plan is kept, where a SQL one is planned per call.)
CREATE OR REPLACE FUNCTION ts_list_spans_reach(tbl text, low bigint)
    RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    UPDATE ts_list_spans AS t SET reach = w.reach
      FROM (SELECT s.span,
                   sum(s.n) OVER (ORDER BY s.span)
                   + coalesce((SELECT b.reach FROM ts_list_spans b
                               WHERE b.tbl = ts_list_spans_reach.tbl
                                 AND b.bits = 10 AND b.span < low
                               ORDER BY b.span DESC LIMIT 1), 0) AS reach
              FROM ts_list_spans s
             WHERE s.tbl = ts_list_spans_reach.tbl AND s.bits = 10
               AND s.span >= low) AS w
     WHERE t.tbl = ts_list_spans_reach.tbl AND t.bits = 10
       AND t.span = w.span AND t.reach <> w.reach;
END $$;

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
    spans   text;
BEGIN
    upsert := format('INSERT INTO ts_list_counts AS t (tbl, cols, vals, n)'
                     ' SELECT %L, cols, vals, sum(d) FROM (%%s) AS r'
                     ' GROUP BY cols, vals HAVING sum(d) <> 0'
                     ' ORDER BY cols, vals'
                     ' ON CONFLICT (tbl, cols, vals)'
                     ' DO UPDATE SET n = t.n + excluded.n', tbl);
    -- (an update moves no row between spans: ids do not change)
    spans := format('INSERT INTO ts_list_spans AS t (tbl, bits, span, n)'
                    ' SELECT %L, bits, span, d FROM (%%s) AS r'
                    ' ORDER BY bits, span'
                    ' ON CONFLICT (tbl, bits, span)'
                    ' DO UPDATE SET n = t.n + excluded.n', tbl);

    EXECUTE format($f$
        CREATE OR REPLACE FUNCTION %I() RETURNS trigger LANGUAGE plpgsql AS $b$
        BEGIN
            IF TG_OP = 'INSERT' THEN
                %s;
                %s;
                PERFORM ts_list_spans_reach(%L,
                    (SELECT min(id) >> 10 << 10 FROM ts_new));
            ELSIF TG_OP = 'DELETE' THEN
                %s;
                %s;
                PERFORM ts_list_spans_reach(%L,
                    (SELECT min(id) >> 10 << 10 FROM ts_old));
            ELSIF TG_OP = 'UPDATE' THEN
                %s;
            ELSE
                DELETE FROM ts_list_counts WHERE tbl = %L;
                DELETE FROM ts_list_spans WHERE tbl = %L;
            END IF;
            RETURN NULL;
        END $b$
        $f$, fn,
        format(upsert, ts_list_counts_rows('ts_new', cols, 1)),
        format(spans, ts_list_spans_rows('ts_new', 1)), tbl,
        format(upsert, ts_list_counts_rows('ts_old', cols, -1)),
        format(spans, ts_list_spans_rows('ts_old', -1)), tbl,
        format(upsert, ts_list_counts_rows('ts_new', cols, 1)
                       || ' UNION ALL '
                       || ts_list_counts_rows('ts_old', cols, -1)),
        tbl, tbl);

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
                 AND c.cols = ts_list_counts_install.cols
                 AND c.spans AND c.reach)
    THEN
        RETURN;
    END IF;

    -- readers go on, writers wait until this transaction commits
    EXECUTE format('LOCK TABLE %I IN SHARE ROW EXCLUSIVE MODE', tbl);

    DELETE FROM ts_list_counts c WHERE c.tbl = ts_list_counts_install.tbl;
    EXECUTE format(upsert, ts_list_counts_rows(tbl, cols, 1));
    DELETE FROM ts_list_spans c WHERE c.tbl = ts_list_counts_install.tbl;
    EXECUTE format(spans, ts_list_spans_rows(tbl, 1));
    PERFORM ts_list_spans_reach(tbl,
        (SELECT min(c.span) FROM ts_list_spans c
          WHERE c.tbl = ts_list_counts_install.tbl));

    INSERT INTO ts_list_counted AS c VALUES (tbl, cols, true, true)
        ON CONFLICT ON CONSTRAINT ts_list_counted_pkey
        DO UPDATE SET cols = excluded.cols, spans = true, reach = true;
END $$;

-- the filters of ts_resource.c, in its order
SELECT ts_list_counts_install('artists', 'country');
SELECT ts_list_counts_install('albums', 'artist_id', 'genre');
SELECT ts_list_counts_install('songs', 'album_id', 'artist_id');
SELECT ts_list_counts_install('playlists', 'category');
SELECT ts_list_counts_install('playlist_songs', 'playlist_id');
