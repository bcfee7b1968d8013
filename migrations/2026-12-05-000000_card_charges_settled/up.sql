-- Every approved card charge ends in exactly one way: used by one sale,
-- refunded, or written off by a supervisor with a reason. An approval that
-- arrives for an attempt already resolved otherwise (cancelled, failed,
-- declined) is kept as what it is, a charge with no sale ("cobrado sin
-- venta"), until it is refunded or written off. Idempotent.

ALTER TABLE card_attempts
    -- The terminal (or a supervisor) approved it after it had been resolved
    -- otherwise: the customer was charged although nobody expected it.
    ADD COLUMN IF NOT EXISTS approved_late BOOLEAN NOT NULL DEFAULT false,
    -- How much of it was given back (card_refunds adds up to it).
    ADD COLUMN IF NOT EXISTS refunded_amount BIGINT NOT NULL DEFAULT 0,
    -- A supervisor settled it without a sale or a refund, and why.
    ADD COLUMN IF NOT EXISTS written_off_by INTEGER REFERENCES users (id),
    ADD COLUMN IF NOT EXISTS written_off_at TIMESTAMPTZ,
    ADD COLUMN IF NOT EXISTS write_off_reason TEXT,
    -- The voucher, as the terminal printed it (never the card's number).
    ADD COLUMN IF NOT EXISTS card_brand VARCHAR(20),
    ADD COLUMN IF NOT EXISTS card_last4 VARCHAR(4),
    ADD COLUMN IF NOT EXISTS installments SMALLINT;

ALTER TABLE card_attempts DROP CONSTRAINT IF EXISTS card_attempts_voucher_check;
ALTER TABLE card_attempts ADD CONSTRAINT card_attempts_voucher_check CHECK (
    (card_last4 IS NULL OR card_last4 ~ '^[0-9]{4}$')
    AND (installments IS NULL OR (installments BETWEEN 1 AND 48 AND method = 'CREDITO'))
    AND ((card_brand IS NULL AND card_last4 IS NULL AND installments IS NULL) OR status = 'APPROVED')
);

ALTER TABLE card_attempts DROP CONSTRAINT IF EXISTS card_attempts_settled_check;
ALTER TABLE card_attempts ADD CONSTRAINT card_attempts_settled_check CHECK (
    refunded_amount >= 0 AND refunded_amount <= amount
    AND (refunded_amount = 0 OR status = 'APPROVED')
    AND ((written_off_at IS NULL) = (write_off_reason IS NULL))
    AND ((written_off_at IS NULL) = (written_off_by IS NULL))
    AND (written_off_at IS NULL OR (status = 'APPROVED' AND sale_id IS NULL))
    AND (NOT approved_late OR status = 'APPROVED')
);

-- Approved charges nobody has settled yet: what a closing waits for and
-- the floor shows.
CREATE INDEX IF NOT EXISTS card_attempts_open_charges ON card_attempts (register_id, id)
    WHERE status = 'APPROVED' AND sale_id IS NULL AND written_off_at IS NULL;

-- Money given back to a card: all of an approved charge, or part of it.
CREATE TABLE IF NOT EXISTS card_refunds (
    id                 BIGSERIAL PRIMARY KEY,
    -- The refund's idempotency key: asking twice refunds once.
    refund_key         UUID NOT NULL UNIQUE,
    attempt_id         BIGINT NOT NULL REFERENCES card_attempts (id),
    register_id        INTEGER NOT NULL REFERENCES pos_registers (id),
    amount             BIGINT NOT NULL CHECK (amount > 0 AND amount <= 1000000000000),
    -- The refund's code as the terminal printed it (the manual terminal),
    -- or the simulated terminal's.
    authorization_code VARCHAR(12) NOT NULL,
    reason             TEXT NOT NULL,
    refunded_by        INTEGER NOT NULL REFERENCES users (id),
    refunded_at        TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS card_refunds_attempt_idx ON card_refunds (attempt_id);
