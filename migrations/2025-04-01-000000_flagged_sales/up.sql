-- Sales a POS took while it could not reach the hub and that can no longer
-- be recorded as made (their session closed meanwhile, the caja went into
-- maintenance, ...). They are kept for a supervisor to settle, never
-- dropped. Idempotent.

CREATE TABLE IF NOT EXISTS flagged_sales (
    id              BIGSERIAL PRIMARY KEY,
    register_id     INTEGER NOT NULL REFERENCES pos_registers (id),
    -- The session the sale was made in, as the POS knew it.
    session_id      INTEGER REFERENCES register_sessions (id),
    -- The sale's own idempotency key: flagging it twice keeps it once.
    idempotency_key UUID NOT NULL,
    -- The sale as the POS made it (the same JSON as a sale request).
    sale            JSONB NOT NULL,
    total           BIGINT NOT NULL CHECK (total > 0 AND total <= 1000000000000),
    reason          TEXT NOT NULL CHECK (length(reason) BETWEEN 1 AND 300),
    made_at         TIMESTAMPTZ NOT NULL,
    flagged_by      INTEGER NOT NULL REFERENCES users (id),
    flagged_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    resolved_at     TIMESTAMPTZ,
    resolved_by     INTEGER REFERENCES users (id),
    resolution      TEXT,
    CONSTRAINT flagged_sales_resolution_valid CHECK (
        (resolved_at IS NULL AND resolved_by IS NULL AND resolution IS NULL)
        OR (resolved_at IS NOT NULL AND resolved_by IS NOT NULL
            AND length(resolution) BETWEEN 1 AND 300))
);
CREATE UNIQUE INDEX IF NOT EXISTS flagged_sales_key ON flagged_sales (idempotency_key);
CREATE INDEX IF NOT EXISTS flagged_sales_pending ON flagged_sales (register_id) WHERE resolved_at IS NULL;
