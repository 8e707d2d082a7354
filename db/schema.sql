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
