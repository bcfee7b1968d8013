DROP VIEW IF EXISTS sale_payments;
CREATE TABLE sale_payments (
    id              BIGSERIAL PRIMARY KEY,
    sale_id         BIGINT NOT NULL REFERENCES sales (id),
    method          payment_method NOT NULL,
    amount          pesos_positive NOT NULL,
    amount_charged  pesos NOT NULL,
    tendered        BIGINT,
    change_given    pesos NOT NULL DEFAULT 0,
    provider        payment_provider,
    used_backup     BOOLEAN NOT NULL DEFAULT FALSE,
    card_attempt_id BIGINT REFERENCES card_attempts (id),
    tip             pesos NOT NULL DEFAULT 0,
    CONSTRAINT sale_payments_check CHECK (tendered IS NULL OR tendered >= amount_charged),
    CONSTRAINT sale_payments_check1 CHECK ((method IN ('DEBITO', 'CREDITO')) = (provider IS NOT NULL)),
    CONSTRAINT sale_payments_check2
        CHECK (method = 'EFECTIVO' OR (tendered IS NULL AND change_given = 0 AND amount_charged = amount))
);
CREATE INDEX sale_payments_sale_idx ON sale_payments (sale_id);
CREATE UNIQUE INDEX sale_payments_card_attempt ON sale_payments (card_attempt_id)
    WHERE card_attempt_id IS NOT NULL;
INSERT INTO sale_payments (sale_id, method, amount, amount_charged, tendered, change_given,
                           provider, used_backup, card_attempt_id, tip)
SELECT s.id, p.method, p.amount, p.amount_charged, p.tendered, p.change_given, p.provider,
       p.used_backup, p.card_attempt_id, p.tip
  FROM sales s
 CROSS JOIN LATERAL unnest(s.payment_methods, s.payment_amounts, s.payment_charged,
                           s.payment_tendered, s.payment_change_given, s.payment_providers,
                           s.payment_used_backup, s.payment_card_attempts, s.payment_tips)
       WITH ORDINALITY AS p (method, amount, amount_charged, tendered, change_given, provider,
                             used_backup, card_attempt_id, tip, payment_no)
 ORDER BY s.id, p.payment_no;
DROP TRIGGER sale_payments_as_paid ON sales;
DROP FUNCTION sale_payments_as_paid();
DROP TRIGGER sale_card_attempts_name_it ON sales;
DROP FUNCTION sale_card_attempts_name_it();
ALTER TABLE sales DROP CONSTRAINT sale_payments_are_valid;
DROP FUNCTION sale_payments_are_valid(TEXT[], BIGINT[], BIGINT[], BIGINT[], BIGINT[], TEXT[],
                                      BOOLEAN[], BIGINT[], BIGINT[]);
ALTER TABLE sales
    DROP COLUMN payment_methods, DROP COLUMN payment_amounts, DROP COLUMN payment_charged,
    DROP COLUMN payment_tendered, DROP COLUMN payment_change_given,
    DROP COLUMN payment_providers, DROP COLUMN payment_used_backup,
    DROP COLUMN payment_card_attempts, DROP COLUMN payment_tips;
