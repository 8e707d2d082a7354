-- Test only: a schema whose artists are slow to read.  A connection with
-- options='-c search_path=slow,public -c tunesheap.sleep=N' sees every
-- query on artists take N seconds, so suites can hold a query in flight.
CREATE SCHEMA IF NOT EXISTS slow;
GRANT USAGE ON SCHEMA slow TO tunesheap;

CREATE OR REPLACE VIEW slow.artists AS
    SELECT a.*
    FROM public.artists a,
         pg_sleep(coalesce(nullif(current_setting('tunesheap.sleep', true),
                                  ''), '1')::float8) AS s;

GRANT SELECT ON slow.artists TO tunesheap;
