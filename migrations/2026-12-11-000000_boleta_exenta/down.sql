ALTER TABLE tax_documents
    DROP CONSTRAINT IF EXISTS tax_documents_exenta_is_all_exempt,
    DROP CONSTRAINT IF EXISTS tax_documents_exempt_within_total,
    DROP COLUMN IF EXISTS line_exempt,
    DROP COLUMN IF EXISTS exempt;
ALTER TABLE products DROP COLUMN IF EXISTS exempt;
