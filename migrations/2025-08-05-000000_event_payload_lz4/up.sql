-- An event's payload (the caja's whole state, 2–3 KB) is compressed when it
-- is stored; lz4 does it several times faster than PostgreSQL's default
-- pglz, once per sale. A server built without lz4 (or older than 14)
-- keeps its default.
DO $$
BEGIN
    EXECUTE 'ALTER TABLE register_events ALTER COLUMN payload SET COMPRESSION lz4';
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'register_events.payload keeps the default compression: %', SQLERRM;
END $$;
