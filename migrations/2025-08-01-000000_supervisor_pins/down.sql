UPDATE users SET pin_hash = NULL WHERE role <> 'CAJERO';
ALTER TABLE users ADD CONSTRAINT users_pin_only_for_cashiers CHECK (pin_hash IS NULL OR role = 'CAJERO');
