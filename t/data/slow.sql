-- Test only: a schema whose artists are slow to read.  A connection with
-- options='-c search_path=slow,public -c tunesheap.sleep=N' sees every
-- query on artists take N seconds, so suites can hold a query in flight.
-- The view stays simple (one table, a WHERE) so that it can be written
-- through, as the module prepares its writes on every connection.
CREATE SCHEMA IF NOT EXISTS slow;
GRANT USAGE ON SCHEMA slow TO tunesheap;

-- how many times the slow artists were read (a sequence: no lock between
-- concurrent readers): a coalescing test counts the queries that ran
CREATE SEQUENCE IF NOT EXISTS slow.reads;
GRANT USAGE, SELECT, UPDATE ON SEQUENCE slow.reads TO tunesheap;

CREATE OR REPLACE FUNCTION slow.nap() RETURNS boolean
    LANGUAGE plpgsql VOLATILE
    AS $$
    BEGIN
        PERFORM nextval('slow.reads');
        PERFORM pg_sleep(coalesce(nullif(current_setting('tunesheap.sleep',
                                                         true), ''),
                                  '1')::float8);
        RETURN true;
    END
    $$;

DROP VIEW IF EXISTS slow.artists;
CREATE VIEW slow.artists AS
    SELECT * FROM public.artists WHERE slow.nap();

GRANT SELECT, INSERT, UPDATE, DELETE ON slow.artists TO tunesheap;

