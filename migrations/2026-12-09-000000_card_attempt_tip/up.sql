-- The tip a card charge carries: the terminal charges a sale's part and its
-- tip at once (`amount` is both), and the attempt keeps how it splits, so a
-- charge approved before its sale is recorded is registered with the tip
-- apart from the sale, as it was charged (docs/architecture.md rule 19).
ALTER TABLE card_attempts
    ADD COLUMN IF NOT EXISTS tip pesos NOT NULL DEFAULT 0
        CONSTRAINT card_attempts_tip_is_a_part CHECK (tip < amount);
