-- A year of a venue's history, for timing the reports: 50 cajas, 400
-- jornadas (one a night, the last one open), 2 sessions per caja and
-- jornada, 2,000,000 sales (one in ten paid half cash, half card; one in
-- fifty voided), a retiro per session, and each session's counters set
-- from its sale rows, as the write path keeps them. Run on a migrated,
-- empty database: psql -v ON_ERROR_STOP=1 -f load-tests/history.sql
BEGIN;

-- One user opens every caja's sessions here: the venue allows it.
UPDATE venue_settings SET one_open_session_per_cashier = false;

INSERT INTO users (name, role, password_hash) VALUES ('historia', 'SUPERVISOR', 'no-login');

INSERT INTO pos_registers (name, code, payment_provider_primary, payment_provider_backup, fallback_policy)
SELECT 'Barra ' || lpad(n::text, 2, '0'), 'H-' || lpad(n::text, 2, '0'), 'GETNET', 'KLAP',
       '{"enabled": true, "max_seconds": 60, "backup_phones": 2}'
  FROM generate_series(1, 50) n;

-- Night j opens at 22:00 Santiago time, j days ago counted from 400.
INSERT INTO jornadas (status, opened_at, opened_by, closed_at, closed_by)
SELECT CASE WHEN j = 400 THEN 'OPEN' ELSE 'CLOSED' END,
       (date '2026-11-29' - (400 - j) + time '22:00') AT TIME ZONE 'America/Santiago',
       u.id,
       CASE WHEN j = 400 THEN NULL
            ELSE (date '2026-11-29' - (400 - j) + 1 + time '06:00') AT TIME ZONE 'America/Santiago' END,
       CASE WHEN j = 400 THEN NULL ELSE u.id END
  FROM generate_series(1, 400) j, (SELECT id FROM users WHERE name = 'historia') u;

-- Two sessions per caja and jornada: 22:00–02:00 and 02:00–06:00 (the last
-- jornada's second session still open).
INSERT INTO register_sessions (register_id, status, initial_cash, opened_at, closed_at, jornada_id, opened_by, closed_by)
SELECT r.id,
       CASE WHEN j.status = 'OPEN' AND half = 2 THEN 'OPEN' ELSE 'CLOSED' END,
       50000,
       j.opened_at + (half - 1) * interval '4 hours',
       CASE WHEN j.status = 'OPEN' AND half = 2 THEN NULL ELSE j.opened_at + half * interval '4 hours' END,
       j.id, u.id,
       CASE WHEN j.status = 'OPEN' AND half = 2 THEN NULL ELSE u.id END
  FROM jornadas j, pos_registers r, generate_series(1, 2) half, (SELECT id FROM users WHERE name = 'historia') u
 WHERE r.code LIKE 'H-%';
-- The open jornada's first sessions are closed and its second ones open:
-- one open session per caja, as the hub allows.

-- 50 sales per session, spread over its four hours, each with its one
-- line and its payments in its row: cash, debit, credit or transfer by
-- turns; one sale in ten half cash, half debit; every card payment of a
-- sale ending in 3 on the backup.
WITH sold AS (
    SELECT nextval('sales_id_seq') AS id, s.register_id, s.id AS session_id, s.opened_by, k,
           s.opened_at + (k * interval '288 seconds') AS at,
           (1000 + ((s.id * 7919 + k * 104729) % 49) * 500)::bigint AS amount
      FROM register_sessions s, generate_series(1, 50) k
)
INSERT INTO sales (id, register_id, session_id, idempotency_key, request_hash, total, total_charged,
                   seq, created_at, created_by, voided_at, voided_by, void_reason,
                   line_products, line_names, line_prices, line_quantities,
                   payment_methods, payment_amounts, payment_charged, payment_tendered,
                   payment_change_given, payment_providers, payment_used_backup,
                   payment_card_attempts, payment_tips)
SELECT n.id, n.register_id, n.session_id, gen_random_uuid(), 'historia',
       n.amount, n.amount, 0, n.at, n.opened_by,
       CASE WHEN n.k % 100 = 7 THEN n.at + interval '1 minute' END,
       CASE WHEN n.k % 100 = 7 THEN n.opened_by END,
       CASE WHEN n.k % 100 = 7 THEN 'error de digitación' END,
       '{NULL}', '{Monto libre}', ARRAY[n.amount], '{1}',
       p.methods, p.amounts, p.amounts, p.nothing, p.zeros, p.providers, p.backups, p.nothing, p.zeros
  FROM sold n,
       LATERAL (SELECT array_agg(part.method ORDER BY part.no) AS methods,
                       array_agg(part.amount ORDER BY part.no) AS amounts,
                       array_agg(NULL::bigint ORDER BY part.no) AS nothing,
                       array_agg(0::bigint ORDER BY part.no) AS zeros,
                       array_agg(CASE WHEN part.method IN ('DEBITO', 'CREDITO')
                                      THEN CASE WHEN n.id % 10 = 3 THEN 'KLAP' ELSE 'GETNET' END
                                 END ORDER BY part.no) AS providers,
                       array_agg(part.method IN ('DEBITO', 'CREDITO') AND n.id % 10 = 3
                                 ORDER BY part.no) AS backups
                  FROM (SELECT 1 AS no,
                               CASE WHEN n.id % 10 = 5 THEN 'EFECTIVO'
                                    ELSE (ARRAY['EFECTIVO', 'DEBITO', 'CREDITO', 'TRANSFERENCIA'])[n.id % 4 + 1]
                               END AS method,
                               CASE WHEN n.id % 10 = 5 THEN n.amount / 2 ELSE n.amount END AS amount
                        UNION ALL
                        SELECT 2, 'DEBITO', n.amount - n.amount / 2 WHERE n.id % 10 = 5) part) p;

INSERT INTO cash_movements (register_id, session_id, kind, amount, reason, seq, created_at, created_by)
SELECT register_id, id, 'RETIRO', 20000, 'retiro al buzón', 0, opened_at + interval '2 hours', opened_by
  FROM register_sessions;

-- Each session's counters from its rows; a closed one counted short by
-- its id's last digit × 100 (faltantes) or over (sobrantes).
WITH per_session AS (
    SELECT s.session_id,
           jsonb_object_agg(p.method, p.total) AS totals,
           sum(p.total) FILTER (WHERE p.method = 'EFECTIVO') AS cash
      FROM (SELECT s.session_id, p.method, sum(p.amount_charged) AS total
              FROM sales s JOIN sale_payments p ON p.sale_id = s.id
             WHERE s.voided_at IS NULL
             GROUP BY s.session_id, p.method) p
      JOIN (SELECT DISTINCT session_id FROM sales) s ON s.session_id = p.session_id
     GROUP BY s.session_id
), counts AS (
    SELECT s.session_id, count(*) FILTER (WHERE s.voided_at IS NULL) AS tickets,
           count(*) FILTER (WHERE s.voided_at IS NULL AND p.provider IS NOT NULL AND NOT p.used_backup) AS primary_count,
           count(*) FILTER (WHERE s.voided_at IS NULL AND p.used_backup) AS backup_count
      FROM sales s LEFT JOIN sale_payments p ON p.sale_id = s.id AND p.provider IS NOT NULL
     GROUP BY s.session_id
)
UPDATE register_sessions rs
   SET payment_totals = ps.totals,
       cash_sales = coalesce(ps.cash, 0),
       cash_out = 20000,
       ticket_count = c.tickets,
       payment_provider_used_primary_count = c.primary_count,
       payment_provider_used_backup_count = c.backup_count,
       cash_expected = CASE WHEN rs.status = 'CLOSED' THEN 50000 + coalesce(ps.cash, 0) - 20000 END,
       cash_count = CASE WHEN rs.status = 'CLOSED' THEN 50000 + coalesce(ps.cash, 0) - 20000 + ((rs.id % 10) - 5) * 100 END,
       cash_difference = CASE WHEN rs.status = 'CLOSED' THEN ((rs.id % 10) - 5) * 100 END
  FROM per_session ps JOIN counts c ON c.session_id = ps.session_id
 WHERE rs.id = ps.session_id;

COMMIT;
ANALYZE;
