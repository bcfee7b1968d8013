-- The rules back as the table constraints they were: the two the first
-- migration left unchecked on the previous system's rows stay NOT VALID.
ALTER TABLE register_seqs
    ALTER COLUMN event_seq TYPE BIGINT,
    ADD CONSTRAINT register_seqs_event_seq_check CHECK (event_seq >= 0);

ALTER TABLE register_events
    ALTER COLUMN seq TYPE BIGINT,
    ALTER COLUMN change TYPE TEXT,
    ADD CONSTRAINT register_events_seq_check CHECK (seq > 0),
    ADD CONSTRAINT register_events_change_check CHECK (change ~ '^[a-z_]{1,40}$');

ALTER TABLE sale_payments
    ALTER COLUMN method TYPE VARCHAR(20),
    ALTER COLUMN amount TYPE BIGINT,
    ALTER COLUMN amount_charged TYPE BIGINT,
    ALTER COLUMN change_given TYPE BIGINT,
    ALTER COLUMN provider TYPE VARCHAR(20),
    ADD CONSTRAINT sale_payments_method_check
        CHECK (method IN ('EFECTIVO', 'DEBITO', 'CREDITO', 'TRANSFERENCIA')),
    ADD CONSTRAINT sale_payments_amount_check CHECK (amount > 0),
    ADD CONSTRAINT sale_payments_amount_charged_check CHECK (amount_charged >= 0),
    ADD CONSTRAINT sale_payments_change_given_check CHECK (change_given >= 0),
    ADD CONSTRAINT sale_payments_provider_check
        CHECK (provider IS NULL OR provider IN ('GETNET', 'KLAP'));

ALTER TABLE sales
    ALTER COLUMN total TYPE BIGINT,
    ALTER COLUMN total_charged TYPE BIGINT,
    ADD CONSTRAINT sales_total_check CHECK (total > 0 AND total <= 1000000000000),
    ADD CONSTRAINT sales_total_charged_check CHECK (total_charged >= 0);

ALTER TABLE register_sessions
    ALTER COLUMN status TYPE VARCHAR(20),
    ALTER COLUMN initial_cash TYPE BIGINT,
    ALTER COLUMN cash_count TYPE BIGINT,
    ALTER COLUMN cash_sales TYPE BIGINT,
    ALTER COLUMN cash_in TYPE BIGINT,
    ALTER COLUMN cash_out TYPE BIGINT,
    ALTER COLUMN ticket_count TYPE INTEGER,
    ALTER COLUMN payment_provider_used_primary_count TYPE INTEGER,
    ALTER COLUMN payment_provider_used_backup_count TYPE INTEGER,
    ALTER COLUMN payment_totals TYPE JSONB,
    ADD CONSTRAINT register_sessions_status_valid CHECK (status IN ('OPEN', 'CLOSED')) NOT VALID,
    ADD CONSTRAINT register_sessions_money_non_negative
        CHECK (initial_cash >= 0 AND (cash_count IS NULL OR cash_count >= 0)) NOT VALID,
    ADD CONSTRAINT register_sessions_counts_non_negative
        CHECK (ticket_count >= 0 AND payment_provider_used_primary_count >= 0
               AND payment_provider_used_backup_count >= 0),
    ADD CONSTRAINT register_sessions_payment_totals_object
        CHECK (jsonb_typeof(payment_totals) = 'object'),
    ADD CONSTRAINT register_sessions_cash_sales_non_negative
        CHECK (cash_sales >= 0 AND cash_in >= 0 AND cash_out >= 0);

DROP DOMAIN event_change, event_count, event_seq, payment_totals, payment_provider,
    payment_method, session_status, tally, sale_total, pesos_positive, pesos;
