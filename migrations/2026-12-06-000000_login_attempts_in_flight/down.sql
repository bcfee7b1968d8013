ALTER TABLE login_failures DROP COLUMN IF EXISTS checking;
