DROP TABLE IF EXISTS card_code_reviews;
DROP INDEX IF EXISTS card_attempts_code;
ALTER TABLE card_attempts DROP COLUMN IF EXISTS code_repeats;
