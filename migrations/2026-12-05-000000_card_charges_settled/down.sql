DROP TABLE IF EXISTS card_refunds;
DROP INDEX IF EXISTS card_attempts_open_charges;
ALTER TABLE card_attempts DROP CONSTRAINT IF EXISTS card_attempts_settled_check;
ALTER TABLE card_attempts DROP CONSTRAINT IF EXISTS card_attempts_voucher_check;
ALTER TABLE card_attempts
    DROP COLUMN IF EXISTS approved_late,
    DROP COLUMN IF EXISTS refunded_amount,
    DROP COLUMN IF EXISTS written_off_by,
    DROP COLUMN IF EXISTS written_off_at,
    DROP COLUMN IF EXISTS write_off_reason,
    DROP COLUMN IF EXISTS card_brand,
    DROP COLUMN IF EXISTS card_last4,
    DROP COLUMN IF EXISTS installments;
