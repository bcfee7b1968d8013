-- People and permissions: users with roles, login throttling, the hub's own
-- settings (the session key) and an append-only audit trail. Idempotent.

CREATE TABLE IF NOT EXISTS users (
    id            SERIAL PRIMARY KEY,
    name          VARCHAR(60) NOT NULL,
    role          VARCHAR(20) NOT NULL,
    password_hash TEXT NOT NULL,
    pin_hash      TEXT,
    -- Grows when the password changes or the user is disabled: sessions
    -- issued before are no longer accepted.
    session_epoch INTEGER NOT NULL DEFAULT 1,
    disabled_at   TIMESTAMPTZ,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS users_name_key ON users (lower(name));

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = 'users'::regclass AND conname = 'users_role_valid') THEN
        ALTER TABLE users ADD CONSTRAINT users_role_valid CHECK (role IN ('ADMIN', 'SUPERVISOR', 'CAJERO'));
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = 'users'::regclass AND conname = 'users_name_valid') THEN
        ALTER TABLE users ADD CONSTRAINT users_name_valid CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._-]{1,59}$');
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = 'users'::regclass AND conname = 'users_pin_only_for_cashiers') THEN
        ALTER TABLE users ADD CONSTRAINT users_pin_only_for_cashiers CHECK (pin_hash IS NULL OR role = 'CAJERO');
    END IF;
END
$$;

-- Failed logins, by the account name as typed and by address. Rows older
-- than the lockout window are ignored and swept.
CREATE TABLE IF NOT EXISTS login_failures (
    id      BIGSERIAL PRIMARY KEY,
    account TEXT NOT NULL,
    address TEXT NOT NULL,
    at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS login_failures_account_idx ON login_failures (account, at);
CREATE INDEX IF NOT EXISTS login_failures_address_idx ON login_failures (address, at);

CREATE TABLE IF NOT EXISTS hub_settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS audit_log (
    id         BIGSERIAL PRIMARY KEY,
    at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    actor_id   INTEGER REFERENCES users (id),
    actor_name TEXT NOT NULL,
    action     TEXT NOT NULL,
    entity     TEXT NOT NULL,
    entity_id  TEXT,
    before     JSONB,
    after      JSONB
);
CREATE INDEX IF NOT EXISTS audit_log_at_idx ON audit_log (at);
CREATE INDEX IF NOT EXISTS audit_log_actor_idx ON audit_log (actor_id, at);
CREATE INDEX IF NOT EXISTS audit_log_action_idx ON audit_log (action, at);

CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS audit_log_no_change ON audit_log;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log;
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
