-- The payment stack: every card payment is an attempt on a provider's
-- terminal (GETNET, or KLAP on the backup phones) that the caja's actor
-- takes from PENDING to its outcome; a card sale is recorded only with an
-- approved attempt. Provider outages declared for the whole venue are kept
-- with their start and end. Idempotent.

CREATE TABLE IF NOT EXISTS card_attempts (
    id                 BIGSERIAL PRIMARY KEY,
    register_id        INTEGER NOT NULL REFERENCES pos_registers (id),
    session_id         INTEGER NOT NULL REFERENCES register_sessions (id),
    -- The attempt's own idempotency key: starting it twice starts it once.
    attempt_key        UUID NOT NULL,
    -- The sale it pays (the sale's idempotency key): every attempt of one
    -- sale, on the primary and then on the backup, shares it.
    sale_key           UUID NOT NULL,
    provider           VARCHAR(20) NOT NULL CHECK (provider IN ('GETNET', 'KLAP')),
    -- Whether the provider was the caja's backup when the attempt started.
    used_backup        BOOLEAN NOT NULL,
    method             VARCHAR(20) NOT NULL CHECK (method IN ('DEBITO', 'CREDITO')),
    amount             BIGINT NOT NULL CHECK (amount > 0 AND amount <= 1000000000000),
    status             VARCHAR(20) NOT NULL CHECK (status IN
                           ('PENDING', 'APPROVED', 'DECLINED', 'FAILED', 'TIMED_OUT', 'CANCELLED', 'UNKNOWN')),
    authorization_code VARCHAR(12),
    terminal_reference VARCHAR(64),
    -- Why it ended as it did (a failure, a timeout, a note), in Spanish.
    detail             TEXT,
    -- The attempt of the same sale this one fell back from.
    fallback_from      BIGINT REFERENCES card_attempts (id),
    -- A supervisor let a backup attempt start while this sale's primary
    -- attempt was unresolved.
    overridden_by      INTEGER REFERENCES users (id),
    started_by         INTEGER NOT NULL REFERENCES users (id),
    started_at         TIMESTAMPTZ NOT NULL,
    -- When the caja's policy gives up waiting on the provider.
    deadline_at        TIMESTAMPTZ NOT NULL,
    ended_at           TIMESTAMPTZ,
    -- Who resolved it by hand (NULL: the terminal answered, or the hub).
    resolved_by        INTEGER REFERENCES users (id),
    -- The sale this approval paid.
    sale_id            BIGINT REFERENCES sales (id),
    CHECK ((status = 'APPROVED') = (authorization_code IS NOT NULL)),
    CHECK (sale_id IS NULL OR status = 'APPROVED'),
    CHECK ((status = 'PENDING') = (ended_at IS NULL))
);
CREATE UNIQUE INDEX IF NOT EXISTS card_attempts_key ON card_attempts (attempt_key);
CREATE UNIQUE INDEX IF NOT EXISTS card_attempts_paid_sale ON card_attempts (sale_id) WHERE sale_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS card_attempts_session_idx ON card_attempts (session_id, id);
CREATE INDEX IF NOT EXISTS card_attempts_sale_key_idx ON card_attempts (sale_key);
CREATE INDEX IF NOT EXISTS card_attempts_started_at_idx ON card_attempts (started_at);

-- A card payment names the approval that paid it.
-- Since 2026-12-14-000000_sale_payments_in_the_sale a sale's payments
-- live in its own row (`sale_payments` is a view of them): run again
-- after it, this part has nothing left to do.
DO $payments$
BEGIN
    IF EXISTS (SELECT 1 FROM information_schema.columns
                WHERE table_schema = 'public' AND table_name = 'sales'
                  AND column_name = 'payment_methods') THEN
        RETURN;
    END IF;
    ALTER TABLE sale_payments ADD COLUMN IF NOT EXISTS card_attempt_id BIGINT REFERENCES card_attempts (id);
    CREATE UNIQUE INDEX IF NOT EXISTS sale_payments_card_attempt ON sale_payments (card_attempt_id)
        WHERE card_attempt_id IS NOT NULL;
END $payments$;

-- How each caja's terminal is driven: {"mode": "manual"} (the cashier
-- confirms what the standalone terminal showed) or a simulated terminal
-- {"mode": "simulated", "latency_ms": 1500, "providers": {"GETNET": "approve", "KLAP": "approve"}}.
ALTER TABLE pos_registers ADD COLUMN IF NOT EXISTS terminal JSONB NOT NULL DEFAULT '{"mode": "manual"}';

-- A provider out of service for the whole venue: declared when its
-- payments fail on several cajas at once (or by a supervisor), ended after
-- a cool-down, a payment approved on it, or by a supervisor.
CREATE TABLE IF NOT EXISTS provider_outages (
    id          BIGSERIAL PRIMARY KEY,
    provider    VARCHAR(20) NOT NULL CHECK (provider IN ('GETNET', 'KLAP')),
    started_at  TIMESTAMPTZ NOT NULL,
    reason      TEXT NOT NULL,
    started_by  INTEGER REFERENCES users (id),
    ended_at    TIMESTAMPTZ,
    end_reason  TEXT,
    ended_by    INTEGER REFERENCES users (id),
    CHECK ((ended_at IS NULL) = (end_reason IS NULL))
);
CREATE UNIQUE INDEX IF NOT EXISTS provider_outages_one_open ON provider_outages (provider) WHERE ended_at IS NULL;
CREATE INDEX IF NOT EXISTS provider_outages_started_idx ON provider_outages (started_at);
