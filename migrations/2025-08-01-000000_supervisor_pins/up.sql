-- A PIN is a cashier's quick login, and a supervisor's signature on a
-- cashier's device (a void authorized at the bar). It never logs a
-- supervisor in: the login page accepts a PIN from cashiers only.
ALTER TABLE users DROP CONSTRAINT IF EXISTS users_pin_only_for_cashiers;
