-- A login also ends when its account changes (disabled, password or PIN
-- changed): recorded as 'cuenta', so the admin's page lists only logins
-- that can still be used. Logins of accounts already disabled end now.
ALTER TABLE logins DROP CONSTRAINT IF EXISTS logins_end_reason_check;
ALTER TABLE logins ADD CONSTRAINT logins_end_reason_check
    CHECK (end_reason IS NULL OR end_reason IN ('salida', 'administrador', 'cuenta'));

UPDATE logins SET ended_at = now(), end_reason = 'cuenta'
 WHERE ended_at IS NULL
   AND user_id IN (SELECT id FROM users WHERE disabled_at IS NOT NULL);
