DROP FUNCTION session_cash_tips(jsonb);
ALTER TABLE venue_settings
    DROP COLUMN tip_limit_percent,
    DROP COLUMN tip_percent,
    DROP COLUMN tip_mode;
ALTER TABLE register_sessions DROP COLUMN tip_totals;
ALTER TABLE sale_payments DROP COLUMN tip;
