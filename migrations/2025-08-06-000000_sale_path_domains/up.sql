-- The rules of single values on the tables a sale writes live in domains,
-- the database's counterpart of the hub's types: PostgreSQL keeps a
-- domain's checks compiled in its type cache, where it parses a table's
-- CHECK constraints again from their stored text for every statement that
-- writes a row of it (and, on UPDATE, every one of them whatever the
-- statement changed). The rules themselves are the CHECKs they replace;
-- the rules that tie several columns together stay table constraints.
-- information_schema names a domain column by its base type: the
-- runbook's checks read the same types as before. Run again, the migration
-- finds its domains, columns and rules in place.

-- The domains are made bare, so that a column changes to one in place, with
-- no rewrite and no scan; their rules are added once the columns are theirs.
DO $$
DECLARE
    domain record;
BEGIN
    FOR domain IN SELECT * FROM (VALUES
        ('pesos', 'BIGINT'),
        ('pesos_positive', 'BIGINT'),
        ('sale_total', 'BIGINT'),
        ('tally', 'INTEGER'),
        ('session_status', 'VARCHAR(20)'),
        ('payment_method', 'VARCHAR(20)'),
        ('payment_provider', 'VARCHAR(20)'),
        ('payment_totals', 'JSONB'),
        ('event_seq', 'BIGINT'),
        ('event_count', 'BIGINT'),
        ('event_change', 'TEXT')
    ) AS domains (name, base) LOOP
        IF to_regtype(domain.name) IS NULL THEN
            EXECUTE format('CREATE DOMAIN %I AS %s', domain.name, domain.base);
        END IF;
    END LOOP;
END $$;

COMMENT ON DOMAIN pesos IS 'An amount of money in whole pesos, never negative';
COMMENT ON DOMAIN pesos_positive IS 'An amount of money in whole pesos, more than zero';
COMMENT ON DOMAIN sale_total IS 'What a sale charges, in whole pesos: more than zero, at most a trillion';
COMMENT ON DOMAIN tally IS 'A count of things done (tickets, payments through a provider)';
COMMENT ON DOMAIN payment_totals IS 'Pesos taken per payment method, as a JSON object';
COMMENT ON DOMAIN event_seq IS 'The number of a caja''s change: its first is 1';
COMMENT ON DOMAIN event_count IS 'How many changes a caja has made: the number of its last, 0 before any';

ALTER TABLE register_sessions
    DROP CONSTRAINT IF EXISTS register_sessions_status_valid,
    DROP CONSTRAINT IF EXISTS register_sessions_money_non_negative,
    DROP CONSTRAINT IF EXISTS register_sessions_counts_non_negative,
    DROP CONSTRAINT IF EXISTS register_sessions_payment_totals_object,
    DROP CONSTRAINT IF EXISTS register_sessions_cash_sales_non_negative,
    ALTER COLUMN status TYPE session_status,
    ALTER COLUMN initial_cash TYPE pesos,
    ALTER COLUMN cash_count TYPE pesos,
    ALTER COLUMN cash_sales TYPE pesos,
    ALTER COLUMN cash_in TYPE pesos,
    ALTER COLUMN cash_out TYPE pesos,
    ALTER COLUMN ticket_count TYPE tally,
    ALTER COLUMN payment_provider_used_primary_count TYPE tally,
    ALTER COLUMN payment_provider_used_backup_count TYPE tally,
    ALTER COLUMN payment_totals TYPE payment_totals;

ALTER TABLE sales
    DROP CONSTRAINT IF EXISTS sales_total_check,
    DROP CONSTRAINT IF EXISTS sales_total_charged_check,
    ALTER COLUMN total TYPE sale_total,
    ALTER COLUMN total_charged TYPE pesos;

-- Since 2026-12-14-000000_sale_payments_in_the_sale a sale's payments
-- live in its own row (`sale_payments` is a view of them): run again
-- after it, this part has nothing left to do.
DO $payments$
BEGIN
    IF EXISTS (SELECT 1 FROM information_schema.columns
                WHERE table_schema = 'public' AND table_name = 'sales'
                  AND column_name = 'payment_methods') THEN
        RETURN;
    END IF;
    ALTER TABLE sale_payments
        DROP CONSTRAINT IF EXISTS sale_payments_method_check,
        DROP CONSTRAINT IF EXISTS sale_payments_amount_check,
        DROP CONSTRAINT IF EXISTS sale_payments_amount_charged_check,
        DROP CONSTRAINT IF EXISTS sale_payments_change_given_check,
        DROP CONSTRAINT IF EXISTS sale_payments_provider_check,
        ALTER COLUMN method TYPE payment_method,
        ALTER COLUMN amount TYPE pesos_positive,
        ALTER COLUMN amount_charged TYPE pesos,
        ALTER COLUMN change_given TYPE pesos,
        ALTER COLUMN provider TYPE payment_provider;
END $payments$;

ALTER TABLE register_events
    DROP CONSTRAINT IF EXISTS register_events_seq_check,
    DROP CONSTRAINT IF EXISTS register_events_change_check,
    ALTER COLUMN seq TYPE event_seq,
    ALTER COLUMN change TYPE event_change;

ALTER TABLE register_seqs
    DROP CONSTRAINT IF EXISTS register_seqs_event_seq_check,
    ALTER COLUMN event_seq TYPE event_count;

-- Each domain's rule, checked against the rows already there when they all
-- follow it. Rows the previous system wrote before the hub may not (its
-- sessions' status and cash were never checked: the first migration's
-- NOT VALID): that rule then holds for every value written from now on,
-- as it did, and the migration says so instead of failing.
DO $$
DECLARE
    rule record;
BEGIN
    FOR rule IN SELECT * FROM (VALUES
        ('pesos', 'VALUE >= 0'),
        ('pesos_positive', 'VALUE > 0'),
        ('sale_total', 'VALUE > 0 AND VALUE <= 1000000000000'),
        ('tally', 'VALUE >= 0'),
        ('session_status', 'VALUE IN (''OPEN'', ''CLOSED'')'),
        ('payment_method', 'VALUE IN (''EFECTIVO'', ''DEBITO'', ''CREDITO'', ''TRANSFERENCIA'')'),
        ('payment_provider', 'VALUE IN (''GETNET'', ''KLAP'')'),
        ('payment_totals', 'jsonb_typeof(VALUE) = ''object'''),
        ('event_seq', 'VALUE > 0'),
        ('event_count', 'VALUE >= 0'),
        ('event_change', 'VALUE ~ ''^[a-z_]{1,40}$''')
    ) AS rules (domain, test) LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_constraint
                       WHERE contypid = to_regtype(rule.domain) AND conname = rule.domain || '_valid') THEN
            EXECUTE format('ALTER DOMAIN %I ADD CONSTRAINT %I CHECK (%s) NOT VALID',
                           rule.domain, rule.domain || '_valid', rule.test);
        END IF;
        BEGIN
            EXECUTE format('ALTER DOMAIN %I VALIDATE CONSTRAINT %I', rule.domain, rule.domain || '_valid');
        EXCEPTION WHEN check_violation THEN
            RAISE NOTICE 'rows written before the hub break the rule of %: it holds for what is written from now on (%)',
                rule.domain, SQLERRM;
        END;
    END LOOP;
END $$;
