-- Tips (propina): what a customer adds to a sale for the staff. A tip is
-- not revenue: it stays out of a sale's total, its lines, its payments'
-- amounts and the session's payment_totals, and rides on one payment
-- (a card's tip is charged in the same terminal charge; a cash tip goes
-- into the drawer, so the cash expected at closing counts it).

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
        ADD COLUMN IF NOT EXISTS tip pesos NOT NULL DEFAULT 0;
END $payments$;

-- Tips per payment method, like payment_totals: the drawer's share is
-- tip_totals->'EFECTIVO'.
ALTER TABLE register_sessions
    ADD COLUMN IF NOT EXISTS tip_totals payment_totals NOT NULL DEFAULT '{}';

-- What the POS offers: no tip, a suggested percentage, or an amount typed;
-- and the largest tip taken, as a percentage of the sale (a typo guard).
ALTER TABLE venue_settings
    ADD COLUMN IF NOT EXISTS tip_mode TEXT NOT NULL DEFAULT 'percent'
        CHECK (tip_mode IN ('off', 'percent', 'free')),
    ADD COLUMN IF NOT EXISTS tip_percent SMALLINT NOT NULL DEFAULT 10
        CHECK (tip_percent BETWEEN 1 AND 50),
    ADD COLUMN IF NOT EXISTS tip_limit_percent SMALLINT NOT NULL DEFAULT 50
        CHECK (tip_limit_percent BETWEEN 1 AND 1000);

-- The drawer's share of a session's tips: what the cash expected adds.
CREATE OR REPLACE FUNCTION session_cash_tips(tip_totals jsonb) RETURNS bigint
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT COALESCE((tip_totals ->> 'EFECTIVO')::bigint, 0) $$;
