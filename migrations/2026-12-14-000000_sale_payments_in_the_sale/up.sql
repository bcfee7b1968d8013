-- A sale's payments move into the sale's own row, as its lines did
-- (2026-12-08-000001): nine arrays in the order paid, under a CHECK that
-- keeps each payment to the rules its table kept. A payments table cost
-- every sale a second INSERT, its two indexes, a sequence and a key check:
-- about a tenth of the database's time a sale (load-tests/README.md,
-- "Payments in the sale's row"). `sale_payments` stays, as a view of the
-- arrays, for every reader.
--
-- The card approval a payment was charged by is the approval that names
-- the sale (`card_attempts.sale_id`, unique): the hub sets it in the
-- sale's transaction, and a deferred check refuses a sale whose payments
-- name an approval that does not name it back. An approval names one
-- sale, so it pays one payment of one sale, never two (docs/architecture.md
-- rule 24).
-- Run again, the migration finds its columns, rules and view in place.

ALTER TABLE sales
    ADD COLUMN IF NOT EXISTS payment_methods TEXT[],
    ADD COLUMN IF NOT EXISTS payment_amounts BIGINT[],
    ADD COLUMN IF NOT EXISTS payment_charged BIGINT[],
    ADD COLUMN IF NOT EXISTS payment_tendered BIGINT[],
    ADD COLUMN IF NOT EXISTS payment_change_given BIGINT[],
    ADD COLUMN IF NOT EXISTS payment_providers TEXT[],
    ADD COLUMN IF NOT EXISTS payment_used_backup BOOLEAN[],
    ADD COLUMN IF NOT EXISTS payment_card_attempts BIGINT[],
    ADD COLUMN IF NOT EXISTS payment_tips BIGINT[];

-- The payments written so far, into their sales; then the table goes.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_class
                WHERE relname = 'sale_payments' AND relkind = 'r'
                  AND relnamespace = 'public'::regnamespace) THEN
        UPDATE sales s
           SET payment_methods = p.methods, payment_amounts = p.amounts,
               payment_charged = p.charged, payment_tendered = p.tendered,
               payment_change_given = p.change_given, payment_providers = p.providers,
               payment_used_backup = p.used_backup, payment_card_attempts = p.card_attempts,
               payment_tips = p.tips
          FROM (SELECT sale_id,
                       array_agg(method ORDER BY id) AS methods,
                       array_agg(amount ORDER BY id) AS amounts,
                       array_agg(amount_charged ORDER BY id) AS charged,
                       array_agg(tendered ORDER BY id) AS tendered,
                       array_agg(change_given ORDER BY id) AS change_given,
                       array_agg(provider ORDER BY id) AS providers,
                       array_agg(used_backup ORDER BY id) AS used_backup,
                       array_agg(card_attempt_id ORDER BY id) AS card_attempts,
                       array_agg(tip ORDER BY id) AS tips
                  FROM sale_payments GROUP BY sale_id) p
         WHERE p.sale_id = s.id;
        DROP TABLE sale_payments;
    END IF;
END $$;

-- A sale written with no payment (none should be) keeps none.
UPDATE sales
   SET payment_methods = '{}', payment_amounts = '{}', payment_charged = '{}',
       payment_tendered = '{}', payment_change_given = '{}', payment_providers = '{}',
       payment_used_backup = '{}', payment_card_attempts = '{}', payment_tips = '{}'
 WHERE payment_methods IS NULL;

ALTER TABLE sales
    ALTER COLUMN payment_methods SET DEFAULT '{}',
    ALTER COLUMN payment_amounts SET DEFAULT '{}',
    ALTER COLUMN payment_charged SET DEFAULT '{}',
    ALTER COLUMN payment_tendered SET DEFAULT '{}',
    ALTER COLUMN payment_change_given SET DEFAULT '{}',
    ALTER COLUMN payment_providers SET DEFAULT '{}',
    ALTER COLUMN payment_used_backup SET DEFAULT '{}',
    ALTER COLUMN payment_card_attempts SET DEFAULT '{}',
    ALTER COLUMN payment_tips SET DEFAULT '{}',
    ALTER COLUMN payment_methods SET NOT NULL,
    ALTER COLUMN payment_amounts SET NOT NULL,
    ALTER COLUMN payment_charged SET NOT NULL,
    ALTER COLUMN payment_tendered SET NOT NULL,
    ALTER COLUMN payment_change_given SET NOT NULL,
    ALTER COLUMN payment_providers SET NOT NULL,
    ALTER COLUMN payment_used_backup SET NOT NULL,
    ALTER COLUMN payment_card_attempts SET NOT NULL,
    ALTER COLUMN payment_tips SET NOT NULL;

-- The nine arrays as long, one element a payment, and each payment as its
-- row was, under the same rules: a method of the four; an amount more than
-- zero; what was charged, the change and the tip, none below zero; a
-- provider of the two; cash tendered covers what was charged; a card
-- payment, and only a card payment, names its provider; only cash is
-- rounded or gives change. (Plain arrays, not arrays of the domains: a
-- domain used by an array column can no longer have a rule validated.)
CREATE OR REPLACE FUNCTION sale_payments_are_valid(
    methods TEXT[], amounts BIGINT[], charged BIGINT[], tendered BIGINT[],
    change_given BIGINT[], providers TEXT[], used_backup BOOLEAN[],
    card_attempts BIGINT[], tips BIGINT[]
) RETURNS BOOLEAN
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    payments INTEGER := cardinality(methods);
BEGIN
    IF payments = 0 THEN
        RETURN cardinality(amounts) = 0 AND cardinality(charged) = 0
           AND cardinality(tendered) = 0 AND cardinality(change_given) = 0
           AND cardinality(providers) = 0 AND cardinality(used_backup) = 0
           AND cardinality(card_attempts) = 0 AND cardinality(tips) = 0;
    END IF;
    IF payments IS NULL OR array_ndims(methods) <> 1 OR array_lower(methods, 1) <> 1
       OR cardinality(amounts) <> payments OR array_lower(amounts, 1) <> 1
       OR cardinality(charged) <> payments OR array_lower(charged, 1) <> 1
       OR cardinality(tendered) <> payments OR array_lower(tendered, 1) <> 1
       OR cardinality(change_given) <> payments OR array_lower(change_given, 1) <> 1
       OR cardinality(providers) <> payments OR array_lower(providers, 1) <> 1
       OR cardinality(used_backup) <> payments OR array_lower(used_backup, 1) <> 1
       OR cardinality(card_attempts) <> payments OR array_lower(card_attempts, 1) <> 1
       OR cardinality(tips) <> payments OR array_lower(tips, 1) <> 1 THEN
        RETURN false;
    END IF;
    FOR i IN 1 .. payments LOOP
        IF methods[i] IS NULL
           OR methods[i] NOT IN ('EFECTIVO', 'DEBITO', 'CREDITO', 'TRANSFERENCIA')
           OR amounts[i] IS NULL OR amounts[i] <= 0 OR charged[i] IS NULL OR charged[i] < 0
           OR change_given[i] IS NULL OR change_given[i] < 0
           OR tips[i] IS NULL OR tips[i] < 0 OR used_backup[i] IS NULL
           OR providers[i] NOT IN ('GETNET', 'KLAP')
           OR tendered[i] < charged[i]
           OR (methods[i] IN ('DEBITO', 'CREDITO')) <> (providers[i] IS NOT NULL)
           OR (methods[i] <> 'EFECTIVO'
               AND (tendered[i] IS NOT NULL OR change_given[i] <> 0 OR charged[i] <> amounts[i])) THEN
            RETURN false;
        END IF;
    END LOOP;
    RETURN true;
END
$$;

ALTER TABLE sales DROP CONSTRAINT IF EXISTS sale_payments_are_valid;
ALTER TABLE sales ADD CONSTRAINT sale_payments_are_valid
    CHECK (sale_payments_are_valid(payment_methods, payment_amounts, payment_charged,
                                   payment_tendered, payment_change_given, payment_providers,
                                   payment_used_backup, payment_card_attempts, payment_tips));

-- A payment's approval names its sale. Checked at commit, as the approval
-- is marked paid after the sale is written in the same transaction; a sale
-- paid with no card queues nothing.
CREATE OR REPLACE FUNCTION sale_card_attempts_name_it() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF cardinality(array_remove(NEW.payment_card_attempts, NULL))
       <> (SELECT count(*) FROM card_attempts
            WHERE id = ANY (NEW.payment_card_attempts) AND sale_id = NEW.id) THEN
        RAISE EXCEPTION 'a payment of sale % names a card approval that does not pay it, or names one twice', NEW.id
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'sale_card_attempts_name_it';
    END IF;
    RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS sale_card_attempts_name_it ON sales;
CREATE CONSTRAINT TRIGGER sale_card_attempts_name_it AFTER INSERT ON sales
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (array_remove(NEW.payment_card_attempts, NULL) <> '{}')
    EXECUTE FUNCTION sale_card_attempts_name_it();

-- Payments are as paid: a void marks the sale, it does not change them.
CREATE OR REPLACE FUNCTION sale_payments_as_paid() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.payment_methods, NEW.payment_amounts, NEW.payment_charged, NEW.payment_tendered,
        NEW.payment_change_given, NEW.payment_providers, NEW.payment_used_backup,
        NEW.payment_card_attempts, NEW.payment_tips)
       IS DISTINCT FROM
       (OLD.payment_methods, OLD.payment_amounts, OLD.payment_charged, OLD.payment_tendered,
        OLD.payment_change_given, OLD.payment_providers, OLD.payment_used_backup,
        OLD.payment_card_attempts, OLD.payment_tips) THEN
        RAISE EXCEPTION 'a sale''s payments are kept as paid (sale %)', OLD.id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'sale_payments_as_paid';
    END IF;
    RETURN NEW;
END
$$;
DROP TRIGGER IF EXISTS sale_payments_as_paid ON sales;
CREATE TRIGGER sale_payments_as_paid BEFORE UPDATE ON sales
    FOR EACH ROW EXECUTE FUNCTION sale_payments_as_paid();

-- Each payment as a row, for the reports, the receipt and psql.
CREATE OR REPLACE VIEW sale_payments AS
SELECT s.id AS sale_id, p.payment_no::SMALLINT AS payment_no, p.method, p.amount,
       p.amount_charged, p.tendered, p.change_given, p.provider, p.used_backup,
       p.card_attempt_id, p.tip
  FROM sales s
 CROSS JOIN LATERAL unnest(s.payment_methods, s.payment_amounts, s.payment_charged,
                           s.payment_tendered, s.payment_change_given, s.payment_providers,
                           s.payment_used_backup, s.payment_card_attempts, s.payment_tips)
       WITH ORDINALITY AS p (method, amount, amount_charged, tendered, change_given, provider,
                             used_backup, card_attempt_id, tip, payment_no);
