-- The event log: one row per committed change of a caja, written in the
-- change's own transaction. The key refuses a seq used twice, so a write
-- made from stale memory fails instead of corrupting. Each row keeps the
-- register's state after the change, as the screens were sent it (replayed
-- to a screen that reconnects, read by reports and, later, relayed between
-- hub nodes). Idempotent.

CREATE TABLE IF NOT EXISTS register_events (
    register_id INTEGER NOT NULL REFERENCES pos_registers (id),
    seq         BIGINT NOT NULL CHECK (seq > 0),
    change      TEXT NOT NULL CHECK (change ~ '^[a-z_]{1,40}$'),
    payload     JSONB NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (register_id, seq)
);
CREATE INDEX IF NOT EXISTS register_events_created_at_idx ON register_events (created_at);

-- Idempotency keys of commands other than sales (cash movements, voids,
-- sessions opened and closed), with the first answer each got.
CREATE TABLE IF NOT EXISTS command_keys (
    idempotency_key UUID PRIMARY KEY,
    register_id     INTEGER NOT NULL REFERENCES pos_registers (id),
    command         TEXT NOT NULL CHECK (command ~ '^[a-z_]{1,40}$'),
    request_hash    TEXT NOT NULL,
    reply           JSONB NOT NULL,
    seq             BIGINT NOT NULL CHECK (seq > 0),
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
