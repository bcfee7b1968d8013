-- Live screens learn of an account change by a notification, not by asking
-- the database at every heartbeat: a user disabled, their role or session
-- epoch changed (a new password, "log out everywhere"), or one of their
-- logins ended, from the hub or from `cajahub user …` in another process.
-- The payload is the user's id.
CREATE OR REPLACE FUNCTION cajahub_account_changed() RETURNS trigger AS $$
DECLARE
    changed record;
BEGIN
    IF TG_OP = 'DELETE' THEN
        changed := OLD;
    ELSE
        changed := NEW;
    END IF;
    IF TG_TABLE_NAME = 'users' THEN
        PERFORM pg_notify('cajahub_accounts', changed.id::text);
    ELSE
        PERFORM pg_notify('cajahub_accounts', changed.user_id::text);
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS users_account_changed ON users;
CREATE TRIGGER users_account_changed
    AFTER UPDATE OF role, session_epoch, disabled_at OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION cajahub_account_changed();

DROP TRIGGER IF EXISTS logins_account_changed ON logins;
CREATE TRIGGER logins_account_changed
    AFTER UPDATE OF ended_at OR DELETE ON logins
    FOR EACH ROW EXECUTE FUNCTION cajahub_account_changed();
