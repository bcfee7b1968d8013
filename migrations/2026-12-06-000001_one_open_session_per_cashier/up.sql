-- The venue's own settings, one row, changed by an admin on /admin/local.
CREATE TABLE IF NOT EXISTS venue_settings (
    id BOOLEAN PRIMARY KEY DEFAULT true CHECK (id),
    -- A cashier may hold one open session at a time (across every caja).
    one_open_session_per_cashier BOOLEAN NOT NULL DEFAULT true,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_by INTEGER REFERENCES users (id)
);
INSERT INTO venue_settings DEFAULT VALUES ON CONFLICT DO NOTHING;

-- Enforced here, where two cajas opening for the same person at once meet:
-- the person's id is locked for the transaction, so the second waits and
-- then sees the first. The refusal names the caja already open (DETAIL) and
-- reads as a unique violation of `one_open_session_per_cashier`.
CREATE OR REPLACE FUNCTION one_open_session_per_cashier() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    other RECORD;
BEGIN
    IF NEW.status <> 'OPEN' OR NEW.opened_by IS NULL THEN
        RETURN NEW;
    END IF;
    -- An update that neither opens a session nor changes whose it is.
    IF TG_OP = 'UPDATE' AND OLD.status = NEW.status
       AND OLD.opened_by IS NOT DISTINCT FROM NEW.opened_by THEN
        RETURN NEW;
    END IF;
    IF NOT COALESCE((SELECT one_open_session_per_cashier FROM venue_settings), true) THEN
        RETURN NEW;
    END IF;
    -- 25450 is "cj": this lock's namespace.
    PERFORM pg_advisory_xact_lock(25450, NEW.opened_by);
    SELECT s.id, r.name INTO other
      FROM register_sessions s JOIN pos_registers r ON r.id = s.register_id
     WHERE s.opened_by = NEW.opened_by AND s.status = 'OPEN' AND s.id <> NEW.id
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'user % already has session % open on caja %', NEW.opened_by, other.id, other.name
            USING ERRCODE = 'unique_violation',
                  CONSTRAINT = 'one_open_session_per_cashier',
                  DETAIL = other.name;
    END IF;
    RETURN NEW;
END
$$;

DROP TRIGGER IF EXISTS one_open_session_per_cashier ON register_sessions;
-- No column list (UPDATE OF status): a trigger naming a column would stop
-- an earlier migration from changing that column's type when run again.
CREATE TRIGGER one_open_session_per_cashier
    BEFORE INSERT OR UPDATE ON register_sessions
    FOR EACH ROW EXECUTE FUNCTION one_open_session_per_cashier();
