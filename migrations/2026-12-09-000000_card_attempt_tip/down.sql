ALTER TABLE card_attempts DROP COLUMN tip;
