-- The outbox of tax documents: a sale that needs a boleta writes its
-- pending document in its own statement, so a sale acknowledged has its
-- document durable with it; a worker sends each to the provider with its
-- idempotency key (the sale's key), retrying until the provider answers.
-- Its net and IVA are not stored: they follow from the total by one
-- rule (docs/architecture.md rule 20).
CREATE TABLE IF NOT EXISTS tax_documents (
    id BIGSERIAL PRIMARY KEY,
    sale_id BIGINT NOT NULL REFERENCES sales (id),
    register_id INTEGER NOT NULL REFERENCES pos_registers (id),
    -- DTE type: 39 boleta, 41 boleta exenta, 61 nota de crédito.
    kind SMALLINT NOT NULL CHECK (kind IN (39, 41, 61)),
    idempotency_key UUID NOT NULL UNIQUE,
    total pesos NOT NULL CHECK (total > 0),
    status TEXT NOT NULL DEFAULT 'PENDIENTE'
        CHECK (status IN ('PENDIENTE', 'ENVIADA', 'ACEPTADA', 'RECHAZADA')),
    attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_try_at TIMESTAMPTZ NOT NULL,
    last_error TEXT,
    -- What the provider answered: its queue's id, then the SII's folio
    -- and the link to the document (its timbre), or the reason it refused.
    track_id TEXT,
    folio BIGINT CHECK (folio > 0),
    link TEXT,
    reason TEXT,
    -- A nota de crédito's boleta (the one it undoes).
    refers_to BIGINT REFERENCES tax_documents (id),
    created_at TIMESTAMPTZ NOT NULL,
    sent_at TIMESTAMPTZ,
    decided_at TIMESTAMPTZ,
    CONSTRAINT tax_documents_accepted_have_a_folio CHECK (status <> 'ACEPTADA' OR folio IS NOT NULL),
    CONSTRAINT tax_documents_rejected_say_why CHECK (status <> 'RECHAZADA' OR reason IS NOT NULL),
    CONSTRAINT tax_documents_credit_notes_refer CHECK ((kind = 61) = (refers_to IS NOT NULL))
);

-- One document of each kind per sale.
CREATE UNIQUE INDEX IF NOT EXISTS tax_documents_one_per_sale ON tax_documents (sale_id, kind);
-- What the worker looks for.
CREATE INDEX IF NOT EXISTS tax_documents_due ON tax_documents (next_try_at)
    WHERE status IN ('PENDIENTE', 'ENVIADA');
-- What a supervisor must see to (the floor and /metrics count them).
CREATE INDEX IF NOT EXISTS tax_documents_rejected ON tax_documents (id)
    WHERE status = 'RECHAZADA';
