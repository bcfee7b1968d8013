DROP TRIGGER IF EXISTS one_open_session_per_cashier ON register_sessions;
DROP FUNCTION IF EXISTS one_open_session_per_cashier();
DROP TABLE IF EXISTS venue_settings;
