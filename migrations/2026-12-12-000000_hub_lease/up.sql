-- Which hub is active, when several share the database (docs/architecture.md
-- rule 23): the one holding the failover advisory lock, named here with the
-- epoch it took over at, when, and when it last said it was alive. Each
-- takeover moves the epoch on; a hub's connections check it when they open,
-- so a hub taken over from cannot open one that writes.
-- Run again, the migration finds its table and row in place.
CREATE TABLE IF NOT EXISTS hub_lease (
    id SMALLINT PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    epoch BIGINT NOT NULL DEFAULT 0 CHECK (epoch >= 0),
    holder TEXT,
    holder_since TIMESTAMPTZ,
    renewed_at TIMESTAMPTZ
);
INSERT INTO hub_lease (id) VALUES (1) ON CONFLICT DO NOTHING;
