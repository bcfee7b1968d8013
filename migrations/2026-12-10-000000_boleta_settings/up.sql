-- The venue as the issuer (emisor) of its boletas electrónicas, and how it
-- issues them: one row, changed by an admin on /admin/boleta (audited).
-- Until it is switched on no document is issued. The provider's
-- credentials are not here: they are read from the environment or a file,
-- like the session key, and never shown nor logged.
CREATE TABLE IF NOT EXISTS boleta_settings (
    id BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (id),
    enabled BOOLEAN NOT NULL DEFAULT FALSE,
    -- As the SII writes it: 76123456-7 (the check digit is checked by the hub).
    emisor_rut TEXT CHECK (emisor_rut ~ '^[1-9][0-9]{0,7}-[0-9K]$'),
    razon_social TEXT CHECK (char_length(razon_social) BETWEEN 1 AND 100),
    giro TEXT CHECK (char_length(giro) BETWEEN 1 AND 80),
    direccion TEXT CHECK (char_length(direccion) BETWEEN 1 AND 70),
    comuna TEXT CHECK (char_length(comuna) BETWEEN 1 AND 20),
    -- A card payment's voucher is valid as its boleta, or every sale gets one.
    modelo TEXT NOT NULL DEFAULT 'voucher' CHECK (modelo IN ('voucher', 'boleta')),
    provider TEXT NOT NULL DEFAULT 'simulado' CHECK (provider IN ('simulado', 'http')),
    provider_url TEXT CHECK (provider_url ~ '^https?://[^[:space:]]{1,200}$'),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_by INTEGER REFERENCES users (id),
    -- Switched on only with the whole emisor, and an HTTP provider's address.
    CONSTRAINT boleta_settings_complete CHECK (NOT enabled OR (
        emisor_rut IS NOT NULL AND razon_social IS NOT NULL AND giro IS NOT NULL
        AND direccion IS NOT NULL AND comuna IS NOT NULL
        AND (provider <> 'http' OR provider_url IS NOT NULL)))
);

INSERT INTO boleta_settings (id) VALUES (TRUE) ON CONFLICT (id) DO NOTHING;
