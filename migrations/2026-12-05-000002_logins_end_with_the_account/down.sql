UPDATE logins SET end_reason = 'administrador' WHERE end_reason = 'cuenta';
ALTER TABLE logins DROP CONSTRAINT IF EXISTS logins_end_reason_check;
ALTER TABLE logins ADD CONSTRAINT logins_end_reason_check
    CHECK (end_reason IS NULL OR end_reason IN ('salida', 'administrador'));
