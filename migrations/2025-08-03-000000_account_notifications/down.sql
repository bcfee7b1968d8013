DROP TRIGGER IF EXISTS logins_account_changed ON logins;
DROP TRIGGER IF EXISTS users_account_changed ON users;
DROP FUNCTION IF EXISTS cajahub_account_changed();
