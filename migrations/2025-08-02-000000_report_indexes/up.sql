-- The reports count each caja's voids over the sessions they cover: voids
-- are few, so a partial index keeps that count from reading every sale.
CREATE INDEX IF NOT EXISTS sales_voided_session_idx ON sales (session_id) WHERE voided_at IS NOT NULL;
