-- Which caja a sale and an event belong to, checked through rows the
-- writer has already locked. A sale's statement locks its session and its
-- caja's `register_seqs` row FOR UPDATE before it writes (its guard), and
-- every event is written with its caja's `register_seqs` row updated; a
-- foreign key's check locks the row it finds FOR KEY SHARE, which costs
-- nothing more on a row the transaction holds already, and a row lock
-- (and its WAL) on any other.
--
-- * A sale names its session and caja together, and they must agree: its
--   caja is its session's (which the two keys they replace did not say),
--   and the caja exists because the session's does.
-- * An event names its caja's `register_seqs` row, which exists exactly
--   as long as the caja (made with it, by trigger).
--
-- The keys replaced go only once the new ones hold for every row already
-- written. Rows written before the hub that break them keep the old keys
-- beside the new ones, which then hold for what is written from now on;
-- the migration says so instead of failing. Run again, it finds
-- everything in place.

CREATE UNIQUE INDEX IF NOT EXISTS register_sessions_id_caja
    ON register_sessions (id, register_id);

DO $$
DECLARE
    key record;
    replaced text;
BEGIN
    FOR key IN SELECT * FROM (VALUES
        ('sales', 'sales_session_caja_fkey',
         'FOREIGN KEY (session_id, register_id) REFERENCES register_sessions (id, register_id)',
         ARRAY['sales_session_id_fkey', 'sales_register_id_fkey']),
        ('register_events', 'register_events_caja_seq_fkey',
         'FOREIGN KEY (register_id) REFERENCES register_seqs (register_id)',
         ARRAY['register_events_register_id_fkey'])
    ) AS keys (tab, name, definition, replaced) LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_constraint
                       WHERE conrelid = key.tab::regclass AND conname = key.name) THEN
            EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I %s NOT VALID',
                           key.tab, key.name, key.definition);
        END IF;
        BEGIN
            EXECUTE format('ALTER TABLE %I VALIDATE CONSTRAINT %I', key.tab, key.name);
            FOREACH replaced IN ARRAY key.replaced LOOP
                EXECUTE format('ALTER TABLE %I DROP CONSTRAINT IF EXISTS %I', key.tab, replaced);
            END LOOP;
        EXCEPTION WHEN foreign_key_violation THEN
            RAISE NOTICE 'rows written before the hub break % on %: it holds for what is written from now on, beside the keys it would replace',
                key.name, key.tab;
        END;
    END LOOP;
END $$;
