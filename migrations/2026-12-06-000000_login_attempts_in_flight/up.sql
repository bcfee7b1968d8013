-- A login attempt is recorded while its secret is being checked
-- (`checking`), and becomes a failure only when it is one: parallel right
-- attempts of one account no longer count as each other's failures, and a
-- wrong one still counts before the next can be admitted past the limit.
ALTER TABLE login_failures ADD COLUMN IF NOT EXISTS checking BOOLEAN NOT NULL DEFAULT false;
