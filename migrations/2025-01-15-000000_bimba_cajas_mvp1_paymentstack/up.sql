-- Cajas MVP1 + payment stack (GETNET + KLAP).
--
-- Takes over the pre-MVP1 tables of the Python system when they exist, or
-- creates them on an empty database. Every statement is idempotent: running
-- this file twice (or on a database that already has part of it) changes
-- nothing the first run did not. Existing rows are kept and get the defaults.

-- ---------------------------------------------------------------- pos_registers

CREATE TABLE IF NOT EXISTS pos_registers (
    id   SERIAL PRIMARY KEY,
    name VARCHAR(100) NOT NULL
);

ALTER TABLE pos_registers ADD COLUMN IF NOT EXISTS code VARCHAR(20);
-- A legacy caja without a code gets one derived from its id.
UPDATE pos_registers SET code = 'CAJA-' || id WHERE code IS NULL OR btrim(code) = '';
ALTER TABLE pos_registers ALTER COLUMN code SET NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS pos_registers_code_key ON pos_registers (code);

ALTER TABLE pos_registers
    ADD COLUMN IF NOT EXISTS register_type VARCHAR(20) NOT NULL DEFAULT 'HUMANA',
    ADD COLUMN IF NOT EXISTS payment_provider_primary VARCHAR(20) NOT NULL DEFAULT 'GETNET',
    ADD COLUMN IF NOT EXISTS payment_provider_backup VARCHAR(20) DEFAULT 'KLAP',
    ADD COLUMN IF NOT EXISTS fallback_policy JSONB NOT NULL
        DEFAULT '{"enabled": false, "max_seconds": 60, "backup_phones": 0}'::jsonb,
    ADD COLUMN IF NOT EXISTS version INTEGER NOT NULL DEFAULT 1,
    ADD COLUMN IF NOT EXISTS archived_at TIMESTAMPTZ,
    ADD COLUMN IF NOT EXISTS created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    ADD COLUMN IF NOT EXISTS updated_at TIMESTAMPTZ NOT NULL DEFAULT now();

-- operational_status replaces the legacy is_active flag: a caja that was
-- inactive comes over as DISABLED. Done only when the column is first added,
-- so a later run never undoes an admin's change.
DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM information_schema.columns
        WHERE table_schema = current_schema()
          AND table_name = 'pos_registers' AND column_name = 'operational_status'
    ) THEN
        ALTER TABLE pos_registers
            ADD COLUMN operational_status VARCHAR(20) NOT NULL DEFAULT 'ACTIVE';
        IF EXISTS (
            SELECT 1 FROM information_schema.columns
            WHERE table_schema = current_schema()
              AND table_name = 'pos_registers' AND column_name = 'is_active'
        ) THEN
            EXECUTE 'UPDATE pos_registers SET operational_status = ''DISABLED'' WHERE is_active IS FALSE';
        END IF;
    END IF;
END
$$;

-- Legacy timestamps without a time zone were written in the venue's local time.
DO $$
DECLARE
    col TEXT;
BEGIN
    FOREACH col IN ARRAY ARRAY['created_at', 'updated_at'] LOOP
        IF EXISTS (
            SELECT 1 FROM information_schema.columns
            WHERE table_schema = current_schema() AND table_name = 'pos_registers'
              AND column_name = col AND data_type = 'timestamp without time zone'
        ) THEN
            EXECUTE format(
                'ALTER TABLE pos_registers ALTER COLUMN %I TYPE TIMESTAMPTZ USING %I AT TIME ZONE ''America/Santiago''',
                col, col);
        END IF;
    END LOOP;
    UPDATE pos_registers SET created_at = now() WHERE created_at IS NULL;
    UPDATE pos_registers SET updated_at = created_at WHERE updated_at IS NULL;
    ALTER TABLE pos_registers
        ALTER COLUMN created_at SET NOT NULL,
        ALTER COLUMN created_at SET DEFAULT now(),
        ALTER COLUMN updated_at SET NOT NULL,
        ALTER COLUMN updated_at SET DEFAULT now();
END
$$;

-- Constraints. Codes and names of legacy rows are not re-checked (NOT VALID):
-- they are enforced on every insert and update from now on, so a legacy caja
-- with an odd code is asked to fix it on its next edit.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = 'pos_registers'::regclass AND conname = 'pos_registers_code_format') THEN
        ALTER TABLE pos_registers ADD CONSTRAINT pos_registers_code_format
            CHECK (code ~ '^[A-Z0-9][A-Z0-9-]{0,19}$') NOT VALID;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = 'pos_registers'::regclass AND conname = 'pos_registers_name_present') THEN
        ALTER TABLE pos_registers ADD CONSTRAINT pos_registers_name_present
            CHECK (btrim(name) <> '' AND char_length(name) <= 100) NOT VALID;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = 'pos_registers'::regclass AND conname = 'pos_registers_register_type_valid') THEN
        ALTER TABLE pos_registers ADD CONSTRAINT pos_registers_register_type_valid
            CHECK (register_type IN ('HUMANA', 'AUTOSERVICIO'));
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = 'pos_registers'::regclass AND conname = 'pos_registers_provider_primary_valid') THEN
        ALTER TABLE pos_registers ADD CONSTRAINT pos_registers_provider_primary_valid
            CHECK (payment_provider_primary IN ('GETNET', 'KLAP'));
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = 'pos_registers'::regclass AND conname = 'pos_registers_provider_backup_valid') THEN
        ALTER TABLE pos_registers ADD CONSTRAINT pos_registers_provider_backup_valid
            CHECK (payment_provider_backup IS NULL
                   OR (payment_provider_backup IN ('GETNET', 'KLAP')
                       AND payment_provider_backup <> payment_provider_primary));
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = 'pos_registers'::regclass AND conname = 'pos_registers_operational_status_valid') THEN
        ALTER TABLE pos_registers ADD CONSTRAINT pos_registers_operational_status_valid
            CHECK (operational_status IN ('ACTIVE', 'MAINTENANCE', 'DISABLED'));
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = 'pos_registers'::regclass AND conname = 'pos_registers_fallback_policy_valid') THEN
        -- COALESCE: a missing key makes the test NULL, which CHECK would let pass.
        ALTER TABLE pos_registers ADD CONSTRAINT pos_registers_fallback_policy_valid
            CHECK (COALESCE(
                jsonb_typeof(fallback_policy) = 'object'
                AND jsonb_typeof(fallback_policy -> 'enabled') = 'boolean'
                AND jsonb_typeof(fallback_policy -> 'max_seconds') = 'number'
                AND jsonb_typeof(fallback_policy -> 'backup_phones') = 'number'
                AND (fallback_policy ->> 'max_seconds')::numeric BETWEEN 5 AND 600
                AND (fallback_policy ->> 'backup_phones')::numeric BETWEEN 0 AND 20
                AND (fallback_policy ->> 'max_seconds')::numeric % 1 = 0
                AND (fallback_policy ->> 'backup_phones')::numeric % 1 = 0
                AND (payment_provider_backup IS NOT NULL
                     OR NOT (fallback_policy -> 'enabled')::boolean),
            false));
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = 'pos_registers'::regclass AND conname = 'pos_registers_version_positive') THEN
        ALTER TABLE pos_registers ADD CONSTRAINT pos_registers_version_positive CHECK (version > 0);
    END IF;
END
$$;

-- ------------------------------------------------------------ register_sessions

CREATE TABLE IF NOT EXISTS register_sessions (
    id          SERIAL PRIMARY KEY,
    register_id INTEGER NOT NULL REFERENCES pos_registers (id)
);

ALTER TABLE register_sessions
    ADD COLUMN IF NOT EXISTS status VARCHAR(20) NOT NULL DEFAULT 'OPEN',
    ADD COLUMN IF NOT EXISTS initial_cash BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS opened_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    ADD COLUMN IF NOT EXISTS closed_at TIMESTAMPTZ,
    ADD COLUMN IF NOT EXISTS cash_count BIGINT,
    ADD COLUMN IF NOT EXISTS payment_totals JSONB NOT NULL DEFAULT '{}'::jsonb,
    ADD COLUMN IF NOT EXISTS ticket_count INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS cash_difference BIGINT,
    ADD COLUMN IF NOT EXISTS payment_provider_used_primary_count INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS payment_provider_used_backup_count INTEGER NOT NULL DEFAULT 0;

-- Money is whole pesos: a legacy NUMERIC amount becomes BIGINT; timestamps
-- without a time zone were the venue's local time.
DO $$
DECLARE
    col TEXT;
BEGIN
    FOREACH col IN ARRAY ARRAY['initial_cash', 'cash_count', 'cash_difference'] LOOP
        IF EXISTS (
            SELECT 1 FROM information_schema.columns
            WHERE table_schema = current_schema() AND table_name = 'register_sessions'
              AND column_name = col AND data_type <> 'bigint'
        ) THEN
            EXECUTE format(
                'ALTER TABLE register_sessions ALTER COLUMN %I TYPE BIGINT USING round(%I)::bigint',
                col, col);
        END IF;
    END LOOP;
    FOREACH col IN ARRAY ARRAY['opened_at', 'closed_at'] LOOP
        IF EXISTS (
            SELECT 1 FROM information_schema.columns
            WHERE table_schema = current_schema() AND table_name = 'register_sessions'
              AND column_name = col AND data_type = 'timestamp without time zone'
        ) THEN
            EXECUTE format(
                'ALTER TABLE register_sessions ALTER COLUMN %I TYPE TIMESTAMPTZ USING %I AT TIME ZONE ''America/Santiago''',
                col, col);
        END IF;
    END LOOP;
END
$$;

UPDATE register_sessions SET status = upper(status) WHERE status <> upper(status);
UPDATE register_sessions SET initial_cash = 0 WHERE initial_cash IS NULL;
UPDATE register_sessions SET opened_at = now() WHERE opened_at IS NULL;
ALTER TABLE register_sessions
    ALTER COLUMN status SET NOT NULL,
    ALTER COLUMN status SET DEFAULT 'OPEN',
    ALTER COLUMN initial_cash SET NOT NULL,
    ALTER COLUMN initial_cash SET DEFAULT 0,
    ALTER COLUMN opened_at SET NOT NULL,
    ALTER COLUMN opened_at SET DEFAULT now();

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = 'register_sessions'::regclass AND conname = 'register_sessions_status_valid') THEN
        ALTER TABLE register_sessions ADD CONSTRAINT register_sessions_status_valid
            CHECK (status IN ('OPEN', 'CLOSED')) NOT VALID;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = 'register_sessions'::regclass AND conname = 'register_sessions_money_non_negative') THEN
        ALTER TABLE register_sessions ADD CONSTRAINT register_sessions_money_non_negative
            CHECK (initial_cash >= 0 AND (cash_count IS NULL OR cash_count >= 0)) NOT VALID;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = 'register_sessions'::regclass AND conname = 'register_sessions_counts_non_negative') THEN
        ALTER TABLE register_sessions ADD CONSTRAINT register_sessions_counts_non_negative
            CHECK (ticket_count >= 0
                   AND payment_provider_used_primary_count >= 0
                   AND payment_provider_used_backup_count >= 0);
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = 'register_sessions'::regclass AND conname = 'register_sessions_payment_totals_object') THEN
        ALTER TABLE register_sessions ADD CONSTRAINT register_sessions_payment_totals_object
            CHECK (jsonb_typeof(payment_totals) = 'object');
    END IF;
END
$$;

CREATE INDEX IF NOT EXISTS register_sessions_register_id_idx ON register_sessions (register_id);
