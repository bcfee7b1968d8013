-- A code typed by a cashier that an approval of the same provider already
-- carries in the same jornada: accepted (codes are short and may repeat),
-- but marked with the earlier approval, told to the cashier and listed for
-- a supervisor, who notes what they found (card_code_reviews).
ALTER TABLE card_attempts ADD COLUMN IF NOT EXISTS code_repeats BIGINT REFERENCES card_attempts (id);
CREATE INDEX IF NOT EXISTS card_attempts_code
    ON card_attempts (provider, authorization_code)
    WHERE authorization_code IS NOT NULL;

-- A supervisor's review of a repeated code: kept apart from the attempt,
-- which only its caja's actor writes.
CREATE TABLE IF NOT EXISTS card_code_reviews (
    attempt_id BIGINT PRIMARY KEY REFERENCES card_attempts (id),
    reviewed_by INTEGER NOT NULL REFERENCES users (id),
    reviewed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    note TEXT NOT NULL CHECK (length(note) BETWEEN 1 AND 200)
);
