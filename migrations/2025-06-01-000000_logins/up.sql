-- Each login is a row: its cookie names it, every request checks it is
-- still open, logging out ends it, and an admin can see and end a user's
-- open logins. Idempotent.

CREATE TABLE IF NOT EXISTS logins (
    id           UUID PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users (id),
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Refreshed at most once a minute; the cookie keeps the exact time.
    last_seen_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- The client's address (behind a trusted proxy, the one it forwarded).
    address      TEXT NOT NULL,
    user_agent   TEXT NOT NULL DEFAULT '',
    ended_at     TIMESTAMPTZ,
    ended_by     INTEGER REFERENCES users (id),
    -- 'salida' (the user logged out), 'administrador' (an admin ended it).
    end_reason   TEXT CHECK (end_reason IS NULL OR end_reason IN ('salida', 'administrador')),
    CHECK ((ended_at IS NULL) = (end_reason IS NULL))
);
CREATE INDEX IF NOT EXISTS logins_open_idx ON logins (user_id) WHERE ended_at IS NULL;
