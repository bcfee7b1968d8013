-- Jornadas (business days), register sessions inside them, and sales with
-- their payments. Idempotent.

CREATE TABLE IF NOT EXISTS jornadas (
    id        SERIAL PRIMARY KEY,
    status    VARCHAR(20) NOT NULL DEFAULT 'OPEN',
    opened_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    opened_by INTEGER NOT NULL REFERENCES users (id),
    closed_at TIMESTAMPTZ,
    closed_by INTEGER REFERENCES users (id)
);
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = 'jornadas'::regclass AND conname = 'jornadas_status_valid') THEN
        ALTER TABLE jornadas ADD CONSTRAINT jornadas_status_valid CHECK (
            (status = 'OPEN' AND closed_at IS NULL) OR (status = 'CLOSED' AND closed_at IS NOT NULL));
    END IF;
END
$$;
-- At most one open jornada, whatever the code does.
CREATE UNIQUE INDEX IF NOT EXISTS jornadas_one_open ON jornadas ((true)) WHERE status = 'OPEN';

-- Every committed change of a register's live state takes the next number.
ALTER TABLE pos_registers ADD COLUMN IF NOT EXISTS event_seq BIGINT NOT NULL DEFAULT 0;

-- Closing rules per caja: a blind count hides the expected cash from the
-- cashier until they have counted; a difference beyond the limit needs a
-- supervisor (NULL: no limit).
ALTER TABLE pos_registers
    ADD COLUMN IF NOT EXISTS blind_count BOOLEAN NOT NULL DEFAULT FALSE,
    ADD COLUMN IF NOT EXISTS max_cash_difference BIGINT;
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = 'pos_registers'::regclass AND conname = 'pos_registers_max_cash_difference_valid') THEN
        ALTER TABLE pos_registers ADD CONSTRAINT pos_registers_max_cash_difference_valid
            CHECK (max_cash_difference IS NULL OR max_cash_difference BETWEEN 0 AND 1000000000);
    END IF;
END
$$;

ALTER TABLE register_sessions
    ADD COLUMN IF NOT EXISTS jornada_id INTEGER REFERENCES jornadas (id),
    ADD COLUMN IF NOT EXISTS opened_by INTEGER REFERENCES users (id),
    ADD COLUMN IF NOT EXISTS closed_by INTEGER REFERENCES users (id),
    -- Cash kept from sales (charged in cash: received minus change).
    ADD COLUMN IF NOT EXISTS cash_sales BIGINT NOT NULL DEFAULT 0,
    -- Cash added to (ingresos) and dropped from (retiros) the drawer.
    ADD COLUMN IF NOT EXISTS cash_in BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS cash_out BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS cash_expected BIGINT,
    ADD COLUMN IF NOT EXISTS cash_count_detail JSONB,
    -- The supervisor who closed with a difference beyond the caja's limit.
    ADD COLUMN IF NOT EXISTS difference_approved_by INTEGER REFERENCES users (id);

-- The Python system may have kept who opened a session as text; ours are
-- users. A text column of that name is kept under another name.
DO $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM information_schema.columns
        WHERE table_schema = current_schema() AND table_name = 'register_sessions'
          AND column_name = 'opened_by' AND data_type <> 'integer'
    ) THEN
        ALTER TABLE register_sessions RENAME COLUMN opened_by TO opened_by_legacy;
        ALTER TABLE register_sessions ADD COLUMN opened_by INTEGER REFERENCES users (id);
    END IF;
END
$$;

-- At most one open session per caja, even if two requests race.
CREATE UNIQUE INDEX IF NOT EXISTS register_sessions_one_open
    ON register_sessions (register_id) WHERE status = 'OPEN';
CREATE INDEX IF NOT EXISTS register_sessions_jornada_idx ON register_sessions (jornada_id);
CREATE INDEX IF NOT EXISTS register_sessions_opened_at_idx ON register_sessions (opened_at);

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = 'register_sessions'::regclass AND conname = 'register_sessions_cash_sales_non_negative') THEN
        ALTER TABLE register_sessions ADD CONSTRAINT register_sessions_cash_sales_non_negative
            CHECK (cash_sales >= 0 AND cash_in >= 0 AND cash_out >= 0);
    END IF;
END
$$;

CREATE TABLE IF NOT EXISTS sales (
    id              BIGSERIAL PRIMARY KEY,
    register_id     INTEGER NOT NULL REFERENCES pos_registers (id),
    session_id      INTEGER NOT NULL REFERENCES register_sessions (id),
    -- The client's key: a retry with it gets the same sale, never a second.
    idempotency_key UUID NOT NULL,
    -- Fingerprint of the request, to tell a retry from a different sale
    -- sent with a reused key.
    request_hash    TEXT NOT NULL,
    -- The exact total, and what was charged after cash rounding (Ley 20.956).
    total           BIGINT NOT NULL CHECK (total > 0 AND total <= 1000000000000),
    total_charged   BIGINT NOT NULL CHECK (total_charged >= 0),
    seq             BIGINT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    created_by      INTEGER NOT NULL REFERENCES users (id),
    voided_at       TIMESTAMPTZ,
    voided_by       INTEGER REFERENCES users (id),
    void_reason     TEXT,
    CHECK ((voided_at IS NULL) = (voided_by IS NULL) AND (voided_at IS NULL) = (void_reason IS NULL))
);
CREATE UNIQUE INDEX IF NOT EXISTS sales_idempotency_key ON sales (idempotency_key);
CREATE INDEX IF NOT EXISTS sales_session_idx ON sales (session_id, id);
CREATE INDEX IF NOT EXISTS sales_created_at_idx ON sales (created_at);

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
    CREATE TABLE IF NOT EXISTS sale_payments (
        id             BIGSERIAL PRIMARY KEY,
        sale_id        BIGINT NOT NULL REFERENCES sales (id),
        method         VARCHAR(20) NOT NULL
                       CHECK (method IN ('EFECTIVO', 'DEBITO', 'CREDITO', 'TRANSFERENCIA')),
        -- The part of the sale's exact total this payment covers.
        amount         BIGINT NOT NULL CHECK (amount > 0),
        -- What was charged for it: rounded to the ten in cash, exact otherwise.
        amount_charged BIGINT NOT NULL CHECK (amount_charged >= 0),
        tendered       BIGINT CHECK (tendered IS NULL OR tendered >= amount_charged),
        change_given   BIGINT NOT NULL DEFAULT 0 CHECK (change_given >= 0),
        provider       VARCHAR(20) CHECK (provider IS NULL OR provider IN ('GETNET', 'KLAP')),
        used_backup    BOOLEAN NOT NULL DEFAULT FALSE,
        CHECK ((method IN ('DEBITO', 'CREDITO')) = (provider IS NOT NULL)),
        CHECK (method = 'EFECTIVO' OR (tendered IS NULL AND change_given = 0 AND amount_charged = amount))
    );
    CREATE INDEX IF NOT EXISTS sale_payments_sale_idx ON sale_payments (sale_id);
END $payments$;

-- Cash dropped to the safe (RETIRO) or added (INGRESO) during a session:
-- they change the expected cash, never the sales.
CREATE TABLE IF NOT EXISTS cash_movements (
    id          BIGSERIAL PRIMARY KEY,
    register_id INTEGER NOT NULL REFERENCES pos_registers (id),
    session_id  INTEGER NOT NULL REFERENCES register_sessions (id),
    kind        VARCHAR(20) NOT NULL CHECK (kind IN ('RETIRO', 'INGRESO')),
    amount      BIGINT NOT NULL CHECK (amount > 0 AND amount <= 1000000000000),
    reason      TEXT NOT NULL CHECK (btrim(reason) <> '' AND char_length(reason) <= 200),
    seq         BIGINT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    created_by  INTEGER NOT NULL REFERENCES users (id)
);
CREATE INDEX IF NOT EXISTS cash_movements_session_idx ON cash_movements (session_id, id);
