DROP INDEX IF EXISTS sales_voided_session_idx;
