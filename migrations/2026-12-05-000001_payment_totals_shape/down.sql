ALTER DOMAIN payment_totals DROP CONSTRAINT IF EXISTS payment_totals_shape;
