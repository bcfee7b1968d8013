-- The number of each caja's last committed change lives in a narrow table of
-- its own: it moves with every sale, and a row of `pos_registers` is wide and
-- guarded by nine CHECK constraints that PostgreSQL evaluates (and parses
-- again) on every update of it, although a sale changes none of what they
-- guard. Every caja has its row: the migration copies the numbers, and a
-- trigger adds the row of a caja made afterwards, by the hub or by hand.
CREATE TABLE IF NOT EXISTS register_seqs (
    register_id INTEGER PRIMARY KEY REFERENCES pos_registers (id),
    event_seq   BIGINT NOT NULL DEFAULT 0 CHECK (event_seq >= 0)
);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM information_schema.columns
               WHERE table_schema = current_schema() AND table_name = 'pos_registers'
                 AND column_name = 'event_seq') THEN
        INSERT INTO register_seqs (register_id, event_seq)
            SELECT id, event_seq FROM pos_registers
            ON CONFLICT (register_id) DO NOTHING;
        ALTER TABLE pos_registers DROP COLUMN event_seq;
    END IF;
END $$;

INSERT INTO register_seqs (register_id)
    SELECT id FROM pos_registers ON CONFLICT (register_id) DO NOTHING;

CREATE OR REPLACE FUNCTION cajahub_register_seq_row() RETURNS trigger AS $$
BEGIN
    INSERT INTO register_seqs (register_id) VALUES (NEW.id);
    RETURN NULL;
END $$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS pos_registers_seq_row ON pos_registers;
CREATE TRIGGER pos_registers_seq_row AFTER INSERT ON pos_registers
    FOR EACH ROW EXECUTE FUNCTION cajahub_register_seq_row();
