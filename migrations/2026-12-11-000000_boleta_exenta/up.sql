-- Products exempt of IVA (an entrance to a cultural show, say), and what
-- of a document is exempt: a document all exempt is a boleta exenta (DTE
-- 41), one with some exempt lines a boleta (39) stating its exempt amount
-- apart (docs/architecture.md rule 22). A sale's exemption is kept as it
-- was sold, on its document: a product marked exempt later changes no
-- document already written.
-- Run again, the migration finds its columns and checks in place.

ALTER TABLE products ADD COLUMN IF NOT EXISTS exempt BOOLEAN NOT NULL DEFAULT false;

ALTER TABLE tax_documents
    ADD COLUMN IF NOT EXISTS exempt pesos NOT NULL DEFAULT 0,
    -- Which of the sale's lines are exempt, in its order; NULL when none is.
    ADD COLUMN IF NOT EXISTS line_exempt BOOLEAN[];

ALTER TABLE tax_documents
    DROP CONSTRAINT IF EXISTS tax_documents_exempt_within_total,
    ADD CONSTRAINT tax_documents_exempt_within_total CHECK (exempt <= total),
    DROP CONSTRAINT IF EXISTS tax_documents_exenta_is_all_exempt,
    ADD CONSTRAINT tax_documents_exenta_is_all_exempt
        CHECK (kind = 61 OR (kind = 41) = (exempt = total));
