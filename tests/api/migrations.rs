//! The schema: migrations run twice, concurrently, over the previous
//! system's tables, and the runbook's PASO 3 checks.

use cajahub::db::migrations::run_pending;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Nullable, Text};

use crate::helpers::{TestApp, TestDb, count};

/// A row of the runbook's information_schema queries.
#[derive(QueryableByName, Debug)]
struct ColumnInfo {
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    data_type: String,
    #[diesel(sql_type = Text)]
    is_nullable: String,
    #[diesel(sql_type = Nullable<Text>)]
    column_default: Option<String>,
}

// PASO 3, word for word.
const PASO_3_POS_REGISTERS: &str = "SELECT column_name, data_type, is_nullable, column_default
FROM information_schema.columns
WHERE table_name = 'pos_registers'
AND column_name IN (
    'register_type', 'payment_provider_primary', 'payment_provider_backup',
    'operational_status', 'fallback_policy'
)
ORDER BY column_name;";

const PASO_3_REGISTER_SESSIONS: &str = "SELECT column_name, data_type, is_nullable, column_default
FROM information_schema.columns
WHERE table_name = 'register_sessions'
AND column_name IN (
    'cash_count', 'payment_totals', 'ticket_count', 'cash_difference',
    'payment_provider_used_primary_count', 'payment_provider_used_backup_count'
)
ORDER BY column_name;";

// The runbook's troubleshooting check.
const TABLES_EXIST: &str = "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename IN ('pos_registers', 'register_sessions');";

fn paso_3(conn: &mut PgConnection) -> (Vec<ColumnInfo>, Vec<ColumnInfo>) {
    (
        diesel::sql_query(PASO_3_POS_REGISTERS).load(conn).unwrap(),
        diesel::sql_query(PASO_3_REGISTER_SESSIONS)
            .load(conn)
            .unwrap(),
    )
}

fn assert_paso_3(conn: &mut PgConnection) {
    let (registers, sessions) = paso_3(conn);
    let names: Vec<_> = registers.iter().map(|c| c.column_name.as_str()).collect();
    assert_eq!(
        names,
        [
            "fallback_policy",
            "operational_status",
            "payment_provider_backup",
            "payment_provider_primary",
            "register_type"
        ]
    );
    let default_of = |cols: &[ColumnInfo], name: &str| {
        cols.iter()
            .find(|c| c.column_name == name)
            .unwrap()
            .column_default
            .clone()
    };
    assert_eq!(
        default_of(&registers, "register_type").as_deref(),
        Some("'HUMANA'::character varying")
    );
    assert_eq!(
        default_of(&registers, "payment_provider_primary").as_deref(),
        Some("'GETNET'::character varying")
    );
    assert_eq!(
        default_of(&registers, "payment_provider_backup").as_deref(),
        Some("'KLAP'::character varying")
    );
    assert_eq!(
        default_of(&registers, "operational_status").as_deref(),
        Some("'ACTIVE'::character varying")
    );
    assert!(
        default_of(&registers, "fallback_policy")
            .unwrap()
            .contains("\"max_seconds\": 60")
    );
    let fallback = registers
        .iter()
        .find(|c| c.column_name == "fallback_policy")
        .unwrap();
    assert_eq!(fallback.data_type, "jsonb");
    assert_eq!(fallback.is_nullable, "NO");

    let names: Vec<_> = sessions.iter().map(|c| c.column_name.as_str()).collect();
    assert_eq!(
        names,
        [
            "cash_count",
            "cash_difference",
            "payment_provider_used_backup_count",
            "payment_provider_used_primary_count",
            "payment_totals",
            "ticket_count"
        ]
    );
    assert_eq!(default_of(&sessions, "ticket_count").as_deref(), Some("0"));
    assert_eq!(
        default_of(&sessions, "payment_totals").as_deref(),
        Some("'{}'::jsonb")
    );
    assert_eq!(
        default_of(&sessions, "payment_provider_used_primary_count").as_deref(),
        Some("0")
    );
    assert_eq!(
        default_of(&sessions, "payment_provider_used_backup_count").as_deref(),
        Some("0")
    );
    let money: Vec<_> = sessions
        .iter()
        .filter(|c| c.column_name.starts_with("cash_"))
        .map(|c| c.data_type.as_str())
        .collect();
    assert_eq!(money, ["bigint", "bigint"], "money is integer pesos");
    for c in sessions
        .iter()
        .filter(|c| c.column_name.starts_with("cash_"))
    {
        assert_eq!(
            c.is_nullable, "YES",
            "{} is set when the session closes",
            c.column_name
        );
    }

    #[derive(QueryableByName)]
    struct Table {
        #[diesel(sql_type = Text)]
        tablename: String,
    }
    let mut tables: Vec<String> = diesel::sql_query(TABLES_EXIST)
        .load::<Table>(conn)
        .unwrap()
        .into_iter()
        .map(|t| t.tablename)
        .collect();
    tables.sort();
    assert_eq!(tables, ["pos_registers", "register_sessions"]);
}

#[test]
fn paso_3_checks_pass_on_a_fresh_database() {
    let db = TestDb::empty();
    let mut conn = db.connect();
    let applied = run_pending(&mut conn).unwrap();
    assert_eq!(
        applied[0],
        "2025-01-15-000000_bimba_cajas_mvp1_paymentstack"
    );
    assert_eq!(applied.len(), cajahub::db::migrations::count());
    assert_paso_3(&mut conn);
}

#[test]
fn migrations_run_twice_apply_nothing_the_second_time() {
    let db = TestDb::empty();
    let mut conn = db.connect();
    assert!(!run_pending(&mut conn).unwrap().is_empty());
    assert!(run_pending(&mut conn).unwrap().is_empty());
    assert!(!cajahub::db::migrations::has_pending(&mut conn).unwrap());
}

/// The runbook runs the SQL by hand with psql, maybe more than once: every
/// migration must be idempotent on its own.
#[test]
fn every_migration_file_can_run_again() {
    let db = TestDb::migrated();
    let mut conn = db.connect();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut ups: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path().join("up.sql"))
        .filter(|p| p.exists())
        .collect();
    ups.sort();
    assert!(!ups.is_empty());
    for up in ups {
        let sql = std::fs::read_to_string(&up).unwrap();
        conn.batch_execute(&sql)
            .unwrap_or_else(|err| panic!("{} is not idempotent: {err}", up.display()));
    }
    assert_paso_3(&mut conn);
}

#[test]
fn two_hubs_migrating_at_once_do_not_race() {
    let db = TestDb::empty();
    let url = db.url();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || {
                let mut conn = PgConnection::establish(&url).unwrap();
                run_pending(&mut conn).map(|applied| applied.len())
            })
        })
        .collect();
    let applied: Vec<usize> = handles
        .into_iter()
        .map(|h| h.join().unwrap().expect("no migration fails"))
        .collect();
    let migrations = cajahub::db::migrations::count();
    assert_eq!(
        applied.iter().sum::<usize>(),
        migrations,
        "each applied once: {applied:?}"
    );
    assert_eq!(
        applied.iter().filter(|n| **n > 0).count(),
        1,
        "by one hub: {applied:?}"
    );
}

#[derive(QueryableByName, Debug, PartialEq)]
struct LegacyCaja {
    #[diesel(sql_type = Integer)]
    id: i32,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    code: String,
    #[diesel(sql_type = Text)]
    register_type: String,
    #[diesel(sql_type = Text)]
    payment_provider_primary: String,
    #[diesel(sql_type = Nullable<Text>)]
    payment_provider_backup: Option<String>,
    #[diesel(sql_type = Text)]
    operational_status: String,
    #[diesel(sql_type = Text)]
    fallback_policy: String,
}

#[derive(QueryableByName, Debug, PartialEq)]
struct LegacySession {
    #[diesel(sql_type = Integer)]
    id: i32,
    #[diesel(sql_type = Integer)]
    register_id: i32,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = BigInt)]
    initial_cash: i64,
    #[diesel(sql_type = Text)]
    opened_by: String,
    #[diesel(sql_type = Integer)]
    ticket_count: i32,
    #[diesel(sql_type = Text)]
    payment_totals: String,
}

/// The previous system's database, with rows, taken over: every row is kept
/// and the new columns are filled with their defaults.
#[actix_web::test]
async fn a_pre_mvp1_database_is_taken_over_with_its_rows() {
    let db = TestDb::pre_mvp1();

    // The hub starts on it like on any database.
    let app = TestApp::spawn_on(db).await;
    app.log_in_as("admin", cajahub::auth::user::Role::Admin)
        .await;
    let mut conn = app.conn();
    assert_paso_3(&mut conn);

    let cajas: Vec<LegacyCaja> = diesel::sql_query(
        "SELECT id, name, code, register_type, payment_provider_primary, payment_provider_backup,
                operational_status, fallback_policy::text AS fallback_policy
         FROM pos_registers ORDER BY id",
    )
    .load(&mut conn)
    .unwrap();
    let policy = r#"{"enabled": false, "max_seconds": 60, "backup_phones": 0}"#;
    let expected = |id, name: &str, code: &str, status: &str| LegacyCaja {
        id,
        name: name.into(),
        code: code.into(),
        register_type: "HUMANA".into(),
        payment_provider_primary: "GETNET".into(),
        payment_provider_backup: Some("KLAP".into()),
        operational_status: status.into(),
        fallback_policy: policy.into(),
    };
    assert_eq!(
        cajas,
        [
            expected(1, "Barra Principal", "BARRA-1", "ACTIVE"),
            expected(2, "Terraza", "CAJA-2", "ACTIVE"),
            expected(3, "Caja Antigua", "VIEJA", "DISABLED"),
        ]
    );

    let sessions: Vec<LegacySession> = diesel::sql_query(
        "SELECT id, register_id, status, initial_cash, opened_by_legacy AS opened_by, ticket_count, payment_totals::text AS payment_totals
         FROM register_sessions ORDER BY id",
    )
    .load(&mut conn)
    .unwrap();
    assert_eq!(
        sessions,
        [
            LegacySession {
                id: 1,
                register_id: 1,
                status: "CLOSED".into(),
                initial_cash: 50000,
                opened_by: "ana".into(),
                ticket_count: 0,
                payment_totals: "{}".into(),
            },
            LegacySession {
                id: 2,
                register_id: 2,
                status: "OPEN".into(),
                initial_cash: 30000,
                opened_by: "luis".into(),
                ticket_count: 0,
                payment_totals: "{}".into(),
            },
        ]
    );

    // Local times of the old system are kept as the same instant in Chile.
    #[derive(QueryableByName)]
    struct Opened {
        #[diesel(sql_type = Text)]
        local: String,
    }
    let opened: Opened = diesel::sql_query(
        "SELECT to_char(opened_at AT TIME ZONE 'America/Santiago', 'YYYY-MM-DD HH24:MI') AS local
         FROM register_sessions WHERE id = 1",
    )
    .get_result(&mut conn)
    .unwrap();
    assert_eq!(opened.local, "2024-12-31 22:00");

    // The admin pages show the legacy cajas, and new ones sit beside them.
    let list = app.get("/admin/cajas/").await.text().await.unwrap();
    assert!(
        list.contains("Barra Principal")
            && list.contains("CAJA-2")
            && list.contains("Caja Antigua")
    );
    let edit = app.get("/admin/cajas/2/editar").await;
    assert_eq!(edit.status(), 200);
    let created = app
        .post_form("/admin/cajas/crear", &crate::cajas::paso_6_1_fields())
        .await;
    assert_eq!(created.status(), 303);
}

/// Runs `sql` in a transaction rolled back afterwards: `Err` names how the
/// database refused it.
fn taken(conn: &mut PgConnection, sql: &str) -> Result<(), String> {
    use diesel::result::Error;
    let outcome = conn.transaction::<(), Error, _>(|conn| {
        conn.batch_execute(sql)?;
        Err(Error::RollbackTransaction)
    });
    match outcome {
        Ok(()) | Err(Error::RollbackTransaction) => Ok(()),
        Err(Error::DatabaseError(kind, info)) => Err(format!("{kind:?}: {}", info.message())),
        Err(err) => Err(err.to_string()),
    }
}

/// Caja 1 with a session open (user 1, jornada 1), written by hand.
fn open_caja_1(conn: &mut PgConnection) {
    conn.batch_execute(
        "INSERT INTO users (name, role, password_hash) VALUES ('admin', 'ADMIN', 'x');
         INSERT INTO jornadas (opened_by) VALUES (1);
         INSERT INTO pos_registers (name, code) VALUES ('Barra', 'BARRA-1');
         INSERT INTO register_sessions (register_id, jornada_id, opened_by, initial_cash)
             VALUES (1, 1, 1, 0);",
    )
    .unwrap();
}

/// The rules of the rows a sale writes hold in the database itself, for
/// whoever writes there (the hub, or the runbook's psql): each statement
/// below is refused as a check violation, and the same statement with the
/// one value made right is taken.
#[test]
fn the_rows_a_sale_writes_refuse_what_their_rules_forbid() {
    let db = TestDb::migrated();
    let mut conn = db.connect();
    open_caja_1(&mut conn);
    conn.batch_execute(
        "INSERT INTO sales (register_id, session_id, idempotency_key, request_hash, total,
                            total_charged, seq, created_by, line_products, line_names,
                            line_prices, line_quantities)
             VALUES (1, 1, gen_random_uuid(), 'h', 1000, 1000, 1, 1, '{NULL}', '{Monto libre}',
                     '{1000}', '{1}');",
    )
    .unwrap();
    // A sale is written with its lines, in its row (they add up to its total).
    let sale = "INSERT INTO sales (register_id, session_id, idempotency_key, request_hash, \
                total, total_charged, seq, created_by, line_products, line_names, line_prices, \
                line_quantities) SELECT 1, 1, gen_random_uuid(), 'h', t, c, q, b, '{NULL}', \
                '{Monto libre}', ARRAY[t::bigint], '{1}' FROM (VALUES (";
    let lined = ") v (t, c, q, b)";
    // A sale paid once: method, amount, charged, tendered, change, provider.
    let payment = "INSERT INTO sales (register_id, session_id, idempotency_key, request_hash, \
                   total, total_charged, seq, created_by, line_products, line_names, \
                   line_prices, line_quantities, payment_methods, payment_amounts, \
                   payment_charged, payment_tendered, payment_change_given, payment_providers, \
                   payment_used_backup, payment_card_attempts, payment_tips) \
                   SELECT 1, 1, gen_random_uuid(), 'h', 1000, 1000, 2, 1, '{NULL}', \
                   '{Monto libre}', '{1000}', '{1}', ARRAY[m], ARRAY[a::bigint], \
                   ARRAY[c::bigint], ARRAY[t::bigint], ARRAY[g::bigint], ARRAY[p], '{f}', \
                   '{NULL}', '{0}' FROM (VALUES (";
    let paid = ") v (m, a, c, t, g, p)";
    let event = "INSERT INTO register_events (register_id, seq, change, payload) VALUES (1, ";
    // (refused, taken): the same statement, one value apart.
    let cases = [
        (
            format!("{sale}0, 0, 2, 1){lined}"),
            format!("{sale}1, 0, 2, 1){lined}"),
        ),
        (
            format!("{sale}1000000000001, 0, 2, 1){lined}"),
            format!("{sale}1000000000000, 0, 2, 1){lined}"),
        ),
        (
            format!("{sale}1000, -1, 2, 1){lined}"),
            format!("{sale}1000, 0, 2, 1){lined}"),
        ),
        (
            format!("{payment}'BITCOIN', 1000, 1000, NULL, 0, NULL){paid}"),
            format!("{payment}'TRANSFERENCIA', 1000, 1000, NULL, 0, NULL){paid}"),
        ),
        (
            format!("{payment}'EFECTIVO', 0, 0, NULL, 0, NULL){paid}"),
            format!("{payment}'EFECTIVO', 1, 1, NULL, 0, NULL){paid}"),
        ),
        (
            format!("{payment}'EFECTIVO', 1000, 1000, 2000, -1000, NULL){paid}"),
            format!("{payment}'EFECTIVO', 1000, 1000, 2000, 1000, NULL){paid}"),
        ),
        (
            format!("{payment}'DEBITO', 1000, 1000, NULL, 0, 'VISA'){paid}"),
            format!("{payment}'DEBITO', 1000, 1000, NULL, 0, 'KLAP'){paid}"),
        ),
        // The rules across a payment's fields stay as its table's were.
        (
            format!("{payment}'EFECTIVO', 1000, 1000, 500, 0, NULL){paid}"),
            format!("{payment}'EFECTIVO', 1000, 1000, 1000, 0, NULL){paid}"),
        ),
        (
            format!("{payment}'DEBITO', 1000, 1000, NULL, 0, NULL){paid}"),
            format!("{payment}'DEBITO', 1000, 1000, NULL, 0, 'GETNET'){paid}"),
        ),
        // One element a payment in each of the nine arrays.
        (
            format!("{payment}'EFECTIVO', 1000, 1000, NULL, 0, NULL){paid}")
                .replace("'{0}' FROM", "'{0,0}' FROM"),
            format!("{payment}'EFECTIVO', 1000, 1000, NULL, 0, NULL){paid}"),
        ),
        (
            format!("{payment}'EFECTIVO', 1000, 1000, NULL, 0, NULL){paid}")
                .replace("'{0}' FROM", "'{-1}' FROM"),
            format!("{payment}'EFECTIVO', 1000, 1000, NULL, 0, NULL){paid}")
                .replace("'{0}' FROM", "'{1}' FROM"),
        ),
        (
            format!("{event}0, 'sale_recorded', '{{}}')"),
            format!("{event}1, 'sale_recorded', '{{}}')"),
        ),
        (
            format!("{event}1, 'Sale recorded', '{{}}')"),
            format!("{event}1, 'sale_recorded', '{{}}')"),
        ),
        (
            "UPDATE register_sessions SET status = 'ABIERTA'".into(),
            "UPDATE register_sessions SET status = 'CLOSED'".into(),
        ),
        (
            "UPDATE register_sessions SET cash_sales = -1".into(),
            "UPDATE register_sessions SET cash_sales = 0".into(),
        ),
        (
            "UPDATE register_sessions SET cash_count = -1".into(),
            "UPDATE register_sessions SET cash_count = 0".into(),
        ),
        (
            "UPDATE register_sessions SET ticket_count = -1".into(),
            "UPDATE register_sessions SET ticket_count = 0".into(),
        ),
        (
            "UPDATE register_sessions SET payment_provider_used_backup_count = -1".into(),
            "UPDATE register_sessions SET payment_provider_used_backup_count = 1".into(),
        ),
        (
            "UPDATE register_sessions SET payment_totals = '[1000]'".into(),
            r#"UPDATE register_sessions SET payment_totals = '{"EFECTIVO": 1000}'"#.into(),
        ),
        (
            "UPDATE register_seqs SET event_seq = -1".into(),
            "UPDATE register_seqs SET event_seq = 0".into(),
        ),
    ];
    for (refused, good) in &cases {
        let err = taken(&mut conn, refused).expect_err(refused);
        assert!(err.starts_with("CheckViolation"), "{refused}: {err}");
        taken(&mut conn, good).unwrap_or_else(|err| panic!("{good}: {err}"));
    }

    // What PostgreSQL parses again for every sale: only the rules across
    // columns are table constraints; the rest are the columns' domains.
    #[derive(QueryableByName, Debug, PartialEq)]
    struct Constraint {
        #[diesel(sql_type = Text)]
        table_name: String,
        #[diesel(sql_type = Text)]
        name: String,
    }
    let checks: Vec<Constraint> = diesel::sql_query(
        "SELECT conrelid::regclass::text AS table_name, conname::text AS name FROM pg_constraint
         WHERE contype = 'c' AND conrelid::regclass::text IN
             ('sales', 'sale_payments', 'register_sessions', 'register_events', 'register_seqs')
         ORDER BY 1, 2",
    )
    .load(&mut conn)
    .unwrap();
    let check = |table: &str, name: &str| Constraint {
        table_name: table.into(),
        name: name.into(),
    };
    assert_eq!(
        checks,
        [
            // The lines in the sale's row add up to its total.
            check("sales", "sale_lines_add_up"),
            // Its payments, in its row too, each as its table's row was.
            check("sales", "sale_payments_are_valid"),
            check("sales", "sales_check"),
        ]
    );
}

/// A sale's caja is its session's, and an event's caja has its number
/// (`register_seqs`): both checked through the rows a sale's statement
/// locks first (its guard), so writing a sale and its event locks no other
/// row; the caja's own row stays free.
#[test]
fn a_sale_and_its_event_name_their_caja_through_the_rows_the_sale_locks() {
    let db = TestDb::migrated();
    let mut conn = db.connect();
    open_caja_1(&mut conn);
    conn.batch_execute("INSERT INTO pos_registers (name, code) VALUES ('Terraza', 'TERRAZA-1')")
        .unwrap();
    let sale = |caja: i32| {
        format!(
            "INSERT INTO sales (register_id, session_id, idempotency_key, request_hash, total,
                                total_charged, seq, created_by, line_products, line_names,
                                line_prices, line_quantities)
                 VALUES ({caja}, 1, gen_random_uuid(), 'h', 1000, 1000, 1, 1, '{{NULL}}',
                         '{{Monto libre}}', '{{1000}}', '{{1}}')"
        )
    };
    let err = taken(&mut conn, &sale(2)).expect_err("a sale of another caja's session");
    assert!(err.starts_with("ForeignKeyViolation"), "{err}");
    taken(&mut conn, &sale(1)).unwrap();
    conn.batch_execute("DELETE FROM register_seqs WHERE register_id = 2")
        .unwrap();
    let event = |caja: i32| {
        format!(
            "INSERT INTO register_events (register_id, seq, change, payload)
                 VALUES ({caja}, 1, 'sale_recorded', '{{}}')"
        )
    };
    let err = taken(&mut conn, &event(2)).expect_err("an event of a caja with no number");
    assert!(err.starts_with("ForeignKeyViolation"), "{err}");

    // As the sale's statement does: the guard's locks, then the rows.
    conn.batch_execute(&format!(
        "BEGIN;
         SELECT 1 FROM register_sessions s JOIN register_seqs r USING (register_id)
             WHERE s.id = 1 FOR UPDATE OF s, r;
         {}; {};",
        sale(1),
        event(1)
    ))
    .unwrap();
    let mut other = db.connect();
    let caja_row = taken(
        &mut other,
        "SET lock_timeout = '1ms'; SELECT 1 FROM pos_registers WHERE id = 1 FOR UPDATE",
    );
    conn.batch_execute("ROLLBACK").unwrap();
    assert_eq!(caja_row, Ok(()), "the caja's row is not locked by a sale");
}

/// A sale of caja 1's open session, paid by card in as many payments as
/// `attempts` names approvals (each an id or `NULL`).
fn card_sale(id: i64, attempts: &[&str]) -> String {
    let list = |value: &str| vec![value; attempts.len()].join(",");
    let each = (2000 / attempts.len()).to_string();
    format!(
        "INSERT INTO sales (id, register_id, session_id, idempotency_key, request_hash, total,
                            total_charged, seq, created_by, line_products, line_names,
                            line_prices, line_quantities, payment_methods, payment_amounts,
                            payment_charged, payment_tendered, payment_change_given,
                            payment_providers, payment_used_backup, payment_card_attempts,
                            payment_tips)
             VALUES ({id}, 1, 1, gen_random_uuid(), 'h', 2000, 2000, {id}, 1, '{{NULL}}',
                     '{{Monto libre}}', '{{2000}}', '{{1}}', '{{{methods}}}', '{{{each}}}',
                     '{{{each}}}', '{{{none}}}', '{{{zero}}}', '{{{providers}}}',
                     '{{{backups}}}', '{{{attempts}}}', '{{{zero}}}')",
        methods = list("DEBITO"),
        each = list(&each),
        none = list("NULL"),
        zero = list("0"),
        providers = list("GETNET"),
        backups = list("f"),
        attempts = attempts.join(","),
    )
}

/// An approval pays one payment of one sale, never two: a payment names
/// the approval that names its sale back (`card_attempts.sale_id`, set in
/// the sale's transaction and checked at its commit), whoever writes.
#[test]
fn a_card_payment_names_only_the_approval_that_pays_its_sale() {
    let db = TestDb::migrated();
    let mut conn = db.connect();
    open_caja_1(&mut conn);
    conn.batch_execute(
        "INSERT INTO card_attempts (register_id, session_id, attempt_key, sale_key, provider,
                                    used_backup, method, amount, status, authorization_code,
                                    started_by, started_at, deadline_at, ended_at)
             SELECT 1, 1, gen_random_uuid(), gen_random_uuid(), 'GETNET', false, 'DEBITO',
                    2000, 'APPROVED', '12345' || n, 1, now(), now(), now()
               FROM generate_series(1, 2) n",
    )
    .unwrap();
    let paid = |sale: i64, attempt: i64| {
        format!("UPDATE card_attempts SET sale_id = {sale} WHERE id = {attempt}")
    };
    // Written with its approval in one transaction, as the hub does.
    conn.batch_execute(&format!(
        "BEGIN; {}; {}; COMMIT;",
        card_sale(10, &["1"]),
        paid(10, 1)
    ))
    .unwrap();
    // An approval that does not name the sale, one named twice, one that
    // does not exist: each refused when the transaction commits.
    for (attempts, why) in [
        (&["1"][..], "the approval of sale 10, again"),
        (&["2", "2"], "one approval for two payments"),
        (&["99"], "no such approval"),
    ] {
        let sale = format!("{}; {}", card_sale(11, attempts), paid(11, 2));
        let err =
            taken(&mut conn, &format!("SET CONSTRAINTS ALL IMMEDIATE; {sale}")).expect_err(why);
        assert!(err.starts_with("ForeignKeyViolation"), "{why}: {err}");
        let committed = conn.batch_execute(&format!("BEGIN; {sale}; COMMIT;"));
        assert!(committed.is_err(), "{why}: committed");
        let _ = conn.batch_execute("ROLLBACK");
    }
    // A card payment typed in by hand, with no approval, names none.
    taken(
        &mut conn,
        &format!(
            "SET CONSTRAINTS ALL IMMEDIATE; {}",
            card_sale(12, &["NULL"])
        ),
    )
    .unwrap();
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM sale_payments WHERE card_attempt_id = 1"
        ),
        1,
        "approval 1 pays one payment"
    );
}

/// Payments the table held move into their sales' rows, in the order they
/// were written, and read the same through the view; back down, the table
/// holds them again.
#[test]
fn payments_written_to_their_table_move_into_their_sales() {
    use diesel_migrations::MigrationHarness;
    let db = TestDb::migrated();
    let mut conn = db.connect();
    open_caja_1(&mut conn);
    conn.revert_last_migration(cajahub::db::migrations::MIGRATIONS)
        .unwrap();
    conn.batch_execute(
        "INSERT INTO sales (register_id, session_id, idempotency_key, request_hash, total,
                            total_charged, seq, created_by, line_products, line_names,
                            line_prices, line_quantities)
             VALUES (1, 1, gen_random_uuid(), 'h', 3000, 3000, 1, 1, '{NULL}', '{Monto libre}',
                     '{3000}', '{1}'),
                    (1, 1, gen_random_uuid(), 'h', 500, 500, 2, 1, '{NULL}', '{Monto libre}',
                     '{500}', '{1}');
         INSERT INTO sale_payments (sale_id, method, amount, amount_charged, tendered,
                                    change_given, provider, used_backup, tip)
             VALUES (1, 'EFECTIVO', 1000, 1000, 5000, 4000, NULL, false, 100),
                    (2, 'TRANSFERENCIA', 500, 500, NULL, 0, NULL, false, 0),
                    (1, 'DEBITO', 2000, 2000, NULL, 0, 'KLAP', true, 0);",
    )
    .unwrap();
    let rows = |conn: &mut PgConnection| -> Vec<String> {
        #[derive(QueryableByName)]
        struct Row {
            #[diesel(sql_type = Text)]
            row: String,
        }
        diesel::sql_query(
            "SELECT concat_ws('|', sale_id, method, amount, amount_charged, tendered,
                              change_given, provider, used_backup, card_attempt_id, tip) AS row
               FROM sale_payments",
        )
        .load::<Row>(conn)
        .unwrap()
        .into_iter()
        .map(|r| r.row)
        .collect()
    };
    let mut written = rows(&mut conn);
    written.sort();
    assert_eq!(run_pending(&mut conn).unwrap().len(), 1);
    #[derive(QueryableByName, Debug, PartialEq)]
    struct Paid {
        #[diesel(sql_type = BigInt)]
        sale_id: i64,
        #[diesel(sql_type = Text)]
        methods: String,
    }
    let paid: Vec<Paid> = diesel::sql_query(
        "SELECT id AS sale_id, array_to_string(payment_methods, ',') AS methods
           FROM sales ORDER BY id",
    )
    .load(&mut conn)
    .unwrap();
    assert_eq!(
        paid,
        [
            Paid {
                sale_id: 1,
                methods: "EFECTIVO,DEBITO".into()
            },
            Paid {
                sale_id: 2,
                methods: "TRANSFERENCIA".into()
            },
        ],
        "in the order they were written"
    );
    let mut moved = rows(&mut conn);
    moved.sort();
    assert_eq!(moved, written);
    // Payments are kept as paid: changing one is refused.
    let err = taken(
        &mut conn,
        "UPDATE sales SET payment_tips = '{0,0}' WHERE id = 1",
    )
    .expect_err("a payment changed");
    assert!(err.starts_with("CheckViolation"), "{err}");
    conn.revert_last_migration(cajahub::db::migrations::MIGRATIONS)
        .unwrap();
    let mut back = rows(&mut conn);
    back.sort();
    assert_eq!(back, written);
}

/// The previous system never checked its sessions' status or cash, and the
/// first migration leaves its rows as they are (NOT VALID): a row that
/// breaks a rule is taken over unchanged, the hub starts, and every value
/// written from then on follows the rules. The domains whose rules every
/// row follows are validated; the ones an old row breaks say so.
#[actix_web::test]
async fn old_rows_that_break_a_rule_are_kept_and_new_values_are_checked() {
    let db = TestDb::pre_mvp1();
    db.connect()
        .batch_execute(
            "INSERT INTO register_sessions (register_id, status, initial_cash, opened_at, opened_by)
             VALUES (3, 'suspended', -2500.00, '2024-10-01 22:00:00', 'eva');",
        )
        .unwrap();

    let app = TestApp::spawn_on(db).await;
    let mut conn = app.conn();

    #[derive(QueryableByName, Debug, PartialEq)]
    struct Kept {
        #[diesel(sql_type = Text)]
        status: String,
        #[diesel(sql_type = BigInt)]
        initial_cash: i64,
    }
    let kept: Kept = diesel::sql_query(
        "SELECT status::text AS status, initial_cash::int8 AS initial_cash
         FROM register_sessions WHERE opened_by_legacy = 'eva'",
    )
    .get_result(&mut conn)
    .unwrap();
    assert_eq!(
        kept,
        Kept {
            status: "SUSPENDED".into(),
            initial_cash: -2500
        }
    );

    for refused in [
        "UPDATE register_sessions SET initial_cash = -1 WHERE opened_by_legacy = 'ana'",
        "UPDATE register_sessions SET status = 'PAUSED' WHERE opened_by_legacy = 'ana'",
    ] {
        let err = taken(&mut conn, refused).expect_err(refused);
        assert!(err.starts_with("CheckViolation"), "{refused}: {err}");
    }

    #[derive(QueryableByName)]
    struct Domain {
        #[diesel(sql_type = Text)]
        name: String,
    }
    let unchecked: Vec<String> = diesel::sql_query(
        "SELECT contypid::regtype::text AS name FROM pg_constraint
         WHERE NOT convalidated
           AND contypid IN (SELECT oid FROM pg_type WHERE typnamespace = 'public'::regnamespace)
         ORDER BY 1",
    )
    .load::<Domain>(&mut conn)
    .unwrap()
    .into_iter()
    .map(|domain| domain.name)
    .collect();
    assert_eq!(unchecked, ["pesos", "session_status"]);
}
