DROP TRIGGER IF EXISTS pos_registers_seq_row ON pos_registers;
DROP FUNCTION IF EXISTS cajahub_register_seq_row();
ALTER TABLE pos_registers ADD COLUMN IF NOT EXISTS event_seq BIGINT NOT NULL DEFAULT 0;
UPDATE pos_registers r SET event_seq = s.event_seq FROM register_seqs s WHERE s.register_id = r.id;
DROP TABLE IF EXISTS register_seqs;
