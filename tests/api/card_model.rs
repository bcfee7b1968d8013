//! The money rules of card payments, stated once as invariants and checked
//! after every step of random sequences (seeded, shrinking on failure) of
//! what a night throws at two cajas: cashiers starting charges on the
//! primary or the backup, supervisors overriding, terminals answering on
//! time, late or never, deadlines, people resolving, codes typed in with a
//! sale, cash sales, voids, refunds, write-offs, closings and restarts.
//!
//! Every command goes to the real hub (its actors, PostgreSQL) in process;
//! a refusal is fine, an internal error is not. The run's seed and size
//! come from `CAJAHUB_MODEL_SEED` and `CAJAHUB_MODEL_CASES`.

use std::collections::BTreeMap;
use std::time::Duration;

use cajahub::auth::user::{Role, User};
use cajahub::cajas::CajaId;
use cajahub::catalog::Catalog;
use cajahub::clock::Clock;
use cajahub::money::Pesos;
use cajahub::payments::attempt::{self, CardAttempt};
use cajahub::payments::method::PaymentMethod;
use cajahub::payments::terminal::Answer;
use cajahub::registers::CajaError;
use cajahub::registers::commands::card::{
    AttemptDeadline, Reevaluate, Resolution, ResolveCardAttempt, StartCardAttempt, TerminalAnswered,
};
use cajahub::registers::commands::settle::{RefundCharge, WriteOffCharge};
use cajahub::registers::commands::{CloseSession, OpenSession, RecordSale, VoidSale};
use cajahub::registers::sale::{Pricing, SaleRequest};
use diesel::prelude::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use serde_json::json;
use uuid::Uuid;

use crate::cajas::paso_6_1_fields;
use crate::helpers::{TestApp, TestDb, count};

/// The invariants over what is committed, each a query counting what
/// breaks it, for the cajas `{cajas}` of one sequence.
const INVARIANTS: &[(&str, &str)] = &[
    (
        "a sale uses at most one approved attempt",
        "SELECT count(*) AS n FROM (SELECT sale_key FROM card_attempts
           WHERE register_id IN ({cajas}) AND sale_id IS NOT NULL
           GROUP BY sale_key HAVING count(*) > 1) twice",
    ),
    (
        "every card payment is an approval of its own sale, for its amount and tip, on its provider",
        "SELECT count(*) AS n FROM sale_payments p JOIN sales s ON s.id = p.sale_id
         WHERE s.register_id IN ({cajas}) AND p.method IN ('DEBITO', 'CREDITO')
           AND NOT EXISTS (SELECT 1 FROM card_attempts a WHERE a.id = p.card_attempt_id
                 AND a.sale_id = s.id AND a.status = 'APPROVED' AND a.amount = p.amount + p.tip
                 AND a.provider = p.provider AND a.sale_key = s.idempotency_key)",
    ),
    (
        "what was refunded adds up to the refunds and never passes the charge",
        "SELECT count(*) AS n FROM card_attempts a WHERE a.register_id IN ({cajas})
           AND (a.refunded_amount <> (SELECT COALESCE(sum(r.amount), 0) FROM card_refunds r WHERE r.attempt_id = a.id)
                OR a.refunded_amount > a.amount)",
    ),
    (
        "every approved charge ends in one way: a sale, a full refund, a write-off, or still open",
        "SELECT count(*) AS n FROM card_attempts a WHERE a.register_id IN ({cajas})
           AND a.status = 'APPROVED'
           AND (a.sale_id IS NOT NULL)::int + (a.written_off_at IS NOT NULL)::int
               + (a.sale_id IS NULL AND a.written_off_at IS NULL AND a.refunded_amount = a.amount)::int > 1",
    ),
    (
        "a session closed with no attempt unresolved and no charge open (one may arrive late after)",
        "SELECT count(*) AS n FROM card_attempts a JOIN register_sessions s ON s.id = a.session_id
         WHERE a.register_id IN ({cajas}) AND s.status = 'CLOSED'
           AND (a.status IN ('PENDING', 'TIMED_OUT', 'UNKNOWN')
                OR (a.status = 'APPROVED' AND a.sale_id IS NULL AND a.written_off_at IS NULL
                    AND a.refunded_amount < a.amount
                    AND NOT (a.approved_late AND a.ended_at >= s.closed_at)))",
    ),
    (
        "each session's counters equal its sales",
        "SELECT count(*) AS n FROM register_sessions rs WHERE rs.register_id IN ({cajas}) AND (
           rs.ticket_count <> (SELECT count(*) FROM sales WHERE session_id = rs.id AND voided_at IS NULL)
           OR EXISTS (SELECT 1 FROM (VALUES ('EFECTIVO'), ('DEBITO'), ('CREDITO')) m(method)
                WHERE COALESCE((rs.payment_totals->>m.method)::bigint, 0) <>
                      (SELECT COALESCE(sum(p.amount_charged), 0) FROM sale_payments p JOIN sales s ON s.id = p.sale_id
                        WHERE s.session_id = rs.id AND s.voided_at IS NULL AND p.method = m.method)
                OR COALESCE((rs.tip_totals->>m.method)::bigint, 0) <>
                      (SELECT COALESCE(sum(p.tip), 0) FROM sale_payments p JOIN sales s ON s.id = p.sale_id
                        WHERE s.session_id = rs.id AND s.voided_at IS NULL AND p.method = m.method))
           OR rs.payment_provider_used_backup_count <>
              (SELECT count(*) FROM sale_payments p JOIN sales s ON s.id = p.sale_id
                WHERE s.session_id = rs.id AND s.voided_at IS NULL AND p.used_backup)
           OR rs.payment_provider_used_primary_count <>
              (SELECT count(*) FROM sale_payments p JOIN sales s ON s.id = p.sale_id
                WHERE s.session_id = rs.id AND s.voided_at IS NULL AND p.provider IS NOT NULL AND NOT p.used_backup))",
    ),
    (
        "per provider, the sales' card payments equal the approvals they used",
        "SELECT count(*) AS n FROM (
           SELECT s.session_id, p.provider, sum(p.amount + p.tip) AS paid, sum(a.amount) AS approved
             FROM sale_payments p JOIN sales s ON s.id = p.sale_id
             LEFT JOIN card_attempts a ON a.id = p.card_attempt_id AND a.sale_id = s.id
            WHERE s.register_id IN ({cajas}) AND p.method IN ('DEBITO', 'CREDITO')
            GROUP BY s.session_id, p.provider) t
         WHERE t.paid IS DISTINCT FROM t.approved",
    ),
];

#[derive(Debug, Clone, Copy)]
enum Told {
    Approved,
    Declined,
    Failed,
}

#[derive(Debug, Clone, Copy)]
enum Outcome {
    Approved,
    Declined,
    Failed,
    NotCharged,
}

/// One thing that happens to one of the two cajas. `slot` picks one of a
/// caja's three sales, `pick` one of its attempts so far.
#[derive(Debug, Clone)]
enum Step {
    Start {
        caja: usize,
        slot: usize,
        backup: bool,
        supervisor_override: bool,
    },
    Terminal {
        caja: usize,
        pick: usize,
        told: Told,
    },
    Deadline {
        caja: usize,
    },
    Resolve {
        caja: usize,
        pick: usize,
        outcome: Outcome,
        supervisor: bool,
    },
    SellWithApproval {
        caja: usize,
        slot: usize,
    },
    SellTyped {
        caja: usize,
        slot: usize,
        backup: bool,
    },
    SellCash {
        caja: usize,
        slot: usize,
    },
    Void {
        caja: usize,
        slot: usize,
        refund: bool,
    },
    Refund {
        caja: usize,
        pick: usize,
        all: bool,
    },
    WriteOff {
        caja: usize,
        pick: usize,
    },
    Close {
        caja: usize,
    },
    Restart {
        caja: usize,
    },
}

fn step() -> impl Strategy<Value = Step> {
    let caja = 0..2usize;
    let slot = 0..3usize;
    let pick = 0..6usize;
    let told = prop_oneof![
        3 => Just(Told::Approved),
        1 => Just(Told::Declined),
        1 => Just(Told::Failed)
    ];
    let outcome = prop_oneof![
        Just(Outcome::Approved),
        Just(Outcome::Declined),
        Just(Outcome::Failed),
        Just(Outcome::NotCharged)
    ];
    prop_oneof![
        4 => (caja.clone(), slot.clone(), any::<bool>(), proptest::bool::weighted(0.2)).prop_map(
            |(caja, slot, backup, supervisor_override)| Step::Start { caja, slot, backup, supervisor_override }),
        3 => (caja.clone(), pick.clone(), told).prop_map(|(caja, pick, told)| Step::Terminal { caja, pick, told }),
        1 => caja.clone().prop_map(|caja| Step::Deadline { caja }),
        2 => (caja.clone(), pick.clone(), outcome, any::<bool>()).prop_map(
            |(caja, pick, outcome, supervisor)| Step::Resolve { caja, pick, outcome, supervisor }),
        3 => (caja.clone(), slot.clone()).prop_map(|(caja, slot)| Step::SellWithApproval { caja, slot }),
        1 => (caja.clone(), slot.clone(), any::<bool>()).prop_map(|(caja, slot, backup)| Step::SellTyped { caja, slot, backup }),
        1 => (caja.clone(), slot.clone()).prop_map(|(caja, slot)| Step::SellCash { caja, slot }),
        1 => (caja.clone(), slot.clone(), any::<bool>()).prop_map(|(caja, slot, refund)| Step::Void { caja, slot, refund }),
        2 => (caja.clone(), pick.clone(), any::<bool>()).prop_map(|(caja, pick, all)| Step::Refund { caja, pick, all }),
        1 => (caja.clone(), pick).prop_map(|(caja, pick)| Step::WriteOff { caja, pick }),
        1 => caja.clone().prop_map(|caja| Step::Close { caja }),
        1 => caja.prop_map(|caja| Step::Restart { caja }),
    ]
}

/// The two cajas of one sequence, their cashiers and their sales' keys.
struct Night {
    cajas: [CajaId; 2],
    cashiers: [User; 2],
    supervisor: User,
    sales: [[Uuid; 3]; 2],
    /// The attempts a terminal approved: each customer was charged.
    charged: std::cell::RefCell<std::collections::BTreeSet<i64>>,
}

fn amount_of(slot: usize) -> i64 {
    1_000 * (slot as i64 + 1)
}

/// The tip the customer of `slot` adds (the third tips), charged with the card.
fn tip_of(slot: usize) -> i64 {
    if slot == 2 { 300 } else { 0 }
}

impl Night {
    fn attempts(&self, conn: &mut PgConnection, caja: usize) -> Vec<CardAttempt> {
        use cajahub::db::schema::card_attempts;
        card_attempts::table
            .filter(card_attempts::register_id.eq(self.cajas[caja]))
            .order(card_attempts::id)
            .select(CardAttempt::as_select())
            .load(conn)
            .unwrap()
    }

    fn picked(&self, conn: &mut PgConnection, caja: usize, pick: usize) -> Option<CardAttempt> {
        let all = self.attempts(conn, caja);
        (!all.is_empty()).then(|| all[pick % all.len()].clone())
    }

    fn sale_request(&self, caja: usize, slot: usize, payment: serde_json::Value) -> RecordSale {
        let request: SaleRequest = serde_json::from_value(json!({
            "key": self.sales[caja][slot].to_string(),
            "total": amount_of(slot),
            "payments": [payment],
        }))
        .unwrap();
        RecordSale {
            by: self.cashiers[caja].clone(),
            sale: request
                .validate(Pricing::Now {
                    catalog: &Catalog::default(),
                    caja: self.cajas[caja],
                })
                .unwrap(),
        }
    }
}

thread_local! {
    /// How often each command was taken and refused, to show what a run exercised.
    static TAKEN: std::cell::RefCell<BTreeMap<String, (u32, u32)>> = Default::default();
}

/// What a command answered: fine, or a refusal; never the hub failing.
fn refused_cleanly<T>(what: &str, result: Result<T, CajaError>) -> Result<(), TestCaseError> {
    TAKEN.with_borrow_mut(|taken| {
        let (ok, refused) = taken.entry(what.to_owned()).or_default();
        match &result {
            Ok(_) => *ok += 1,
            Err(err) => {
                *refused += 1;
                *taken.entry(format!("{what}: {}", err.code())).or_default() = {
                    let (n, _) = taken
                        .get(&format!("{what}: {}", err.code()))
                        .copied()
                        .unwrap_or_default();
                    (n + 1, 0)
                };
            }
        }
    });
    match result {
        Err(err) if err.status().is_server_error() => Err(TestCaseError::fail(format!(
            "{what}: the hub failed: {err:?}"
        ))),
        _ => Ok(()),
    }
}

async fn run(
    app: &TestApp,
    conn: &mut PgConnection,
    clock: &cajahub::clock::ManualClock,
    night: &Night,
    step: &Step,
) -> Result<(), TestCaseError> {
    let registers = &app.state.registers;
    let key = Uuid::new_v4;
    match *step {
        Step::Start {
            caja,
            slot,
            backup,
            supervisor_override,
        } => {
            let by = if supervisor_override {
                night.supervisor.clone()
            } else {
                night.cashiers[caja].clone()
            };
            let command = StartCardAttempt {
                by,
                key: key(),
                sale_key: night.sales[caja][slot],
                amount: Pesos::positive(amount_of(slot) + tip_of(slot)).unwrap(),
                tip: Pesos::non_negative(tip_of(slot)).unwrap(),
                method: PaymentMethod::Debito,
                provider: backup.then_some(cajahub::cajas::domain::PaymentProvider::Klap),
                override_unresolved: supervisor_override,
            };
            refused_cleanly("start", registers.ask(night.cajas[caja], command).await)
        }
        Step::Terminal { caja, pick, told } => {
            let Some(attempt) = night.picked(conn, caja, pick) else {
                return Ok(());
            };
            let answer = match told {
                Told::Approved => Answer::Approved {
                    authorization_code: "TERM01".into(),
                    reference: format!("REF{}", attempt.id),
                },
                Told::Declined => Answer::Declined("tarjeta rechazada".into()),
                Told::Failed => Answer::Failed("sin conexión".into()),
            };
            if matches!(told, Told::Approved) {
                night.charged.borrow_mut().insert(attempt.id);
            }
            let command = TerminalAnswered {
                attempt_id: attempt.id,
                answer,
            };
            refused_cleanly("terminal", registers.ask(night.cajas[caja], command).await)
        }
        Step::Deadline { caja } => {
            // The clock is the venue's: every caja's deadlines pass.
            clock.advance(Duration::from_secs(61));
            for (i, id) in night.cajas.iter().enumerate() {
                for attempt in night.attempts(conn, i) {
                    let command = AttemptDeadline {
                        attempt_id: attempt.id,
                        manual: true,
                    };
                    let what = if i == caja {
                        "deadline"
                    } else {
                        "deadline elsewhere"
                    };
                    refused_cleanly(what, registers.ask(*id, command).await)?;
                }
            }
            Ok(())
        }
        Step::Resolve {
            caja,
            pick,
            outcome,
            supervisor,
        } => {
            let Some(attempt) = night.picked(conn, caja, pick) else {
                return Ok(());
            };
            let resolution = match outcome {
                Outcome::Approved => Resolution::Approved {
                    authorization_code: "HAND01".into(),
                    voucher: Default::default(),
                },
                Outcome::Declined => Resolution::Declined,
                Outcome::Failed => Resolution::Failed,
                Outcome::NotCharged => Resolution::NotCharged,
            };
            let by = if supervisor {
                night.supervisor.clone()
            } else {
                night.cashiers[caja].clone()
            };
            let command = ResolveCardAttempt {
                by,
                attempt_id: attempt.id,
                key: Some(key()),
                resolution,
                note: None,
            };
            refused_cleanly("resolve", registers.ask(night.cajas[caja], command).await)
        }
        Step::SellWithApproval { caja, slot } => {
            let sale_key = night.sales[caja][slot];
            let approval = night
                .attempts(conn, caja)
                .into_iter()
                .rfind(|a| a.sale_key == sale_key && a.status == attempt::AttemptStatus::Approved);
            let Some(approval) = approval else {
                return Ok(());
            };
            let payment = json!({"method": "DEBITO", "amount": amount_of(slot), "tip": tip_of(slot), "attempt_id": approval.id});
            let command = night.sale_request(caja, slot, payment);
            refused_cleanly("sell", registers.ask(night.cajas[caja], command).await)
        }
        Step::SellTyped { caja, slot, backup } => {
            let provider = if backup { "KLAP" } else { "GETNET" };
            let payment = json!({"method": "DEBITO", "amount": amount_of(slot), "tip": tip_of(slot), "provider": provider, "authorization_code": "TYPED1"});
            let command = night.sale_request(caja, slot, payment);
            refused_cleanly(
                "sell typed",
                registers.ask(night.cajas[caja], command).await,
            )
        }
        Step::SellCash { caja, slot } => {
            let payment =
                json!({"method": "EFECTIVO", "amount": amount_of(slot), "tip": tip_of(slot)});
            let command = night.sale_request(caja, slot, payment);
            refused_cleanly("sell cash", registers.ask(night.cajas[caja], command).await)
        }
        Step::Void { caja, slot, refund } => {
            use cajahub::db::schema::sales;
            let sale: Option<i64> = sales::table
                .filter(sales::idempotency_key.eq(night.sales[caja][slot]))
                .select(sales::id)
                .first(conn)
                .optional()
                .unwrap();
            let Some(sale_id) = sale else { return Ok(()) };
            let command = VoidSale {
                by: night.supervisor.clone(),
                sale_id,
                reason: "el cliente se arrepintió".into(),
                key: key(),
                signed_on_device_of: None,
                refund_code: refund.then(|| "DEV002".to_owned()),
            };
            refused_cleanly("void", registers.ask(night.cajas[caja], command).await)
        }
        Step::Refund { caja, pick, all } => {
            let Some(attempt) = night.picked(conn, caja, pick) else {
                return Ok(());
            };
            let left = (attempt.amount - attempt.refunded_amount).max(1);
            let command = RefundCharge {
                by: night.supervisor.clone(),
                attempt_id: attempt.id,
                key: key(),
                amount: Pesos::positive(if all { left } else { (left + 1) / 2 }).unwrap(),
                authorization_code: Some("DEV001".into()),
                reason: "devolución".into(),
            };
            refused_cleanly("refund", registers.ask(night.cajas[caja], command).await)
        }
        Step::WriteOff { caja, pick } => {
            let Some(attempt) = night.picked(conn, caja, pick) else {
                return Ok(());
            };
            let command = WriteOffCharge {
                by: night.supervisor.clone(),
                attempt_id: attempt.id,
                key: key(),
                reason: "el proveedor lo reversó".into(),
            };
            refused_cleanly("write off", registers.ask(night.cajas[caja], command).await)
        }
        Step::Close { caja } => {
            let close = CloseSession {
                by: night.supervisor.clone(),
                count: Pesos::new(0).unwrap(),
                detail: None,
                session_id: None,
                key: None,
            };
            let closed = registers.ask(night.cajas[caja], close).await;
            if closed.is_ok() {
                let open = OpenSession {
                    by: night.cashiers[caja].clone(),
                    initial_cash: Pesos::new(0).unwrap(),
                    key: None,
                };
                refused_cleanly("reopen", registers.ask(night.cajas[caja], open).await)?;
            }
            refused_cleanly("close", closed)
        }
        Step::Restart { caja } => {
            let id = night.cajas[caja];
            let before = registers.get(id).expect("an actor");
            registers.halt(id);
            for _ in 0..500 {
                if registers
                    .get(id)
                    .is_some_and(|now| now != before && now.connected())
                {
                    return Ok(());
                }
                actix_web::rt::time::sleep(Duration::from_millis(2)).await;
            }
            Err(TestCaseError::fail("the caja's actor did not come back"))
        }
    }
}

/// Every invariant, over the database and the cajas' memory (once each
/// caja has taken what it was sent, its own timers' work included).
async fn check(
    app: &TestApp,
    conn: &mut PgConnection,
    night: &Night,
    after: &[Step],
) -> Result<(), TestCaseError> {
    for id in night.cajas {
        refused_cleanly("settle", app.state.registers.ask(id, Reevaluate).await)?;
    }
    let cajas = format!("{},{}", night.cajas[0].0, night.cajas[1].0);
    for (rule, sql) in INVARIANTS {
        let broken = count(conn, &sql.replace("{cajas}", &cajas));
        if broken > 0 {
            return Err(TestCaseError::fail(format!(
                "{rule}: broken {broken} time(s) after {after:?}"
            )));
        }
    }
    // Every charge a terminal made is kept as approved, whatever came before.
    for (i, _) in night.cajas.iter().enumerate() {
        let dropped: Vec<i64> = night
            .attempts(conn, i)
            .into_iter()
            .filter(|a| {
                night.charged.borrow().contains(&a.id)
                    && a.status != attempt::AttemptStatus::Approved
            })
            .map(|a| a.id)
            .collect();
        if !dropped.is_empty() {
            return Err(TestCaseError::fail(format!(
                "caja {i}: terminal approvals dropped: {dropped:?}, after {after:?}"
            )));
        }
    }
    // Memory follows the database, and the floor sees every attempt that
    // needs someone: unresolved, or a charge nothing has settled.
    for (i, id) in night.cajas.iter().enumerate() {
        let memory = app.state.registers.snapshot(*id).expect("a snapshot");
        let committed: i64 = count(
            conn,
            &format!(
                "SELECT event_seq AS n FROM register_seqs WHERE register_id = {}",
                id.0
            ),
        );
        if memory.seq != committed {
            return Err(TestCaseError::fail(format!(
                "caja {i}: memory at seq {} and the database at {committed}",
                memory.seq
            )));
        }
        let session = memory.session.as_ref().map(|s| s.id);
        let wanted: BTreeMap<i64, CardAttempt> = attempt::for_screens(conn, *id, session)
            .unwrap()
            .into_iter()
            .filter(CardAttempt::is_open)
            .map(|a| (a.id, a))
            .collect();
        let shown: BTreeMap<i64, CardAttempt> = memory
            .card_attempts
            .iter()
            .filter(|a| a.is_open())
            .map(|a| (a.id, a.clone()))
            .collect();
        if wanted != shown {
            return Err(TestCaseError::fail(format!(
                "caja {i}: the floor shows {:?} but the database has {:?} open, after {after:?}",
                shown.keys().collect::<Vec<_>>(),
                wanted.keys().collect::<Vec<_>>()
            )));
        }
        let approved_out_of_sight = night
            .attempts(conn, i)
            .into_iter()
            .filter(|a| a.is_open_charge() && !shown.contains_key(&a.id))
            .count();
        if approved_out_of_sight > 0 {
            return Err(TestCaseError::fail(format!(
                "caja {i}: a charge the floor cannot see, after {after:?}"
            )));
        }
    }
    Ok(())
}

/// Opens a night: two new manual-terminal cajas with a session each.
async fn open_night(app: &TestApp, case: usize, cashiers: &[User; 2], supervisor: &User) -> Night {
    let mut cajas = [CajaId(0); 2];
    for (i, caja) in cajas.iter_mut().enumerate() {
        let code = format!("M{case}-{i}");
        let mut fields = paso_6_1_fields();
        fields.retain(|(name, _)| *name != "code" && *name != "name");
        fields.push(("code", &code));
        fields.push(("name", &code));
        assert_eq!(
            app.post_form("/admin/cajas/crear", &fields).await.status(),
            303
        );
        *caja = CajaId(app.count(&format!(
            "SELECT id::bigint AS n FROM pos_registers WHERE code = '{code}'"
        )) as i32);
        let open = OpenSession {
            by: cashiers[i].clone(),
            initial_cash: Pesos::new(0).unwrap(),
            key: None,
        };
        app.state
            .registers
            .ask(*caja, open)
            .await
            .expect("a session opens");
    }
    Night {
        cajas,
        cashiers: cashiers.clone(),
        supervisor: supervisor.clone(),
        sales: std::array::from_fn(|_| std::array::from_fn(|_| Uuid::new_v4())),
        charged: Default::default(),
    }
}

/// The sequences the model shrank failures to, kept as they were found.
#[actix_web::test]
async fn the_sequences_the_model_found() {
    use Step::*;
    let found = [vec![
        Start {
            caja: 1,
            slot: 1,
            backup: false,
            supervisor_override: false,
        },
        Terminal {
            caja: 1,
            pick: 0,
            told: Told::Approved,
        },
        WriteOff { caja: 1, pick: 0 },
        SellWithApproval { caja: 1, slot: 1 },
    ]];
    let (clock, manual) = Clock::manual();
    let app = TestApp::spawn_with(TestDb::migrated(), |settings| settings.clock = clock).await;
    app.allow_many_sessions_per_person();
    app.log_in_as("admin", Role::Admin).await;
    assert_eq!(
        app.post_form("/admin/jornadas/abrir", &[]).await.status(),
        303
    );
    let cashiers = [
        app.create_user("cajero1", Role::Cajero),
        app.create_user("cajero2", Role::Cajero),
    ];
    let supervisor = app.create_user("supervisora", Role::Supervisor);
    let mut conn = app.conn();
    for (case, steps) in found.iter().enumerate() {
        let night = open_night(&app, case, &cashiers, &supervisor).await;
        for (i, step) in steps.iter().enumerate() {
            run(&app, &mut conn, &manual, &night, step).await.unwrap();
            check(&app, &mut conn, &night, &steps[..=i]).await.unwrap();
        }
    }
}

#[test]
fn the_money_rules_hold_over_random_nights() {
    let cases: u32 = std::env::var("CAJAHUB_MODEL_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200);
    let seed: u64 = std::env::var("CAJAHUB_MODEL_SEED")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20261205);
    let system = actix_web::rt::System::new();
    let (clock, manual) = Clock::manual();
    let app = system.block_on(async {
        let app = TestApp::spawn_with(TestDb::migrated(), |settings| settings.clock = clock).await;
        app.allow_many_sessions_per_person();
        app.log_in_as("admin", Role::Admin).await;
        assert_eq!(
            app.post_form("/admin/jornadas/abrir", &[]).await.status(),
            303
        );
        app
    });
    let cashiers = [
        app.create_user("cajero1", Role::Cajero),
        app.create_user("cajero2", Role::Cajero),
    ];
    let supervisor = app.create_user("supervisora", Role::Supervisor);
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new_with_rng(
        config,
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes),
    );
    let case = std::cell::Cell::new(0usize);
    let result = runner.run(&proptest::collection::vec(step(), 1..14), |steps| {
        case.set(case.get() + 1);
        system.block_on(async {
            let night = open_night(&app, case.get(), &cashiers, &supervisor).await;
            let conn = &mut app.conn();
            for (i, step) in steps.iter().enumerate() {
                run(&app, conn, &manual, &night, step).await?;
                check(&app, conn, &night, &steps[..=i]).await?;
            }
            Ok(())
        })
    });
    println!(
        "card model: {} sequences (seed {seed}, CAJAHUB_MODEL_CASES={cases})",
        case.get()
    );
    TAKEN.with_borrow(|taken| {
        for (what, (ok, refused)) in taken {
            println!("  {what}: {ok} taken, {refused} refused");
        }
    });
    if let Err(failure) = result {
        panic!("seed {seed}: {failure}");
    }
    system.block_on(async move { drop(app) });
}
