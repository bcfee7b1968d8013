-- A session's payment totals: an object of payment methods to whole pesos,
-- nothing else (a malformed one would stop its caja on load). Rows written
-- before the hub that break it are kept; it holds for what is written now.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                   WHERE contypid = to_regtype('payment_totals') AND conname = 'payment_totals_shape') THEN
        ALTER DOMAIN payment_totals ADD CONSTRAINT payment_totals_shape CHECK (
            VALUE - ARRAY['EFECTIVO', 'DEBITO', 'CREDITO', 'TRANSFERENCIA'] = '{}'::jsonb
            AND NOT jsonb_path_exists(VALUE,
                '$.* ? (@.type() != "number" || @ < 0 || @ > 1000000000000 || @.floor() != @)')
        ) NOT VALID;
    END IF;
    BEGIN
        ALTER DOMAIN payment_totals VALIDATE CONSTRAINT payment_totals_shape;
    EXCEPTION WHEN check_violation THEN
        RAISE NOTICE 'rows written before the hub break the shape of payment_totals: it holds for what is written from now on (%)', SQLERRM;
    END;
END $$;
