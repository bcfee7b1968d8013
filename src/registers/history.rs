//! What the screens show of a register besides its live session: the last
//! sales (with the provider that charged them), its last closing and what
//! its closed sessions took in the current jornada. The actor keeps it in
//! memory beside the session and loads it from PostgreSQL on start.

use std::collections::{BTreeMap, VecDeque};

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use super::live::LiveSession;
use super::sale::ValidSale;
use super::store::ClosedSession;
use crate::cajas::CajaId;
use crate::cajas::domain::PaymentProvider;
use crate::db::schema::{cash_movements, register_sessions, sale_payments, sales};
use crate::jornadas::SessionStatus;
use crate::money::Pesos;
use crate::payments::method::PaymentMethod;

/// How many of the last sales a screen is shown.
pub const RECENT_SALES: usize = 8;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct History {
    /// The open session's last sales, newest first.
    pub recent_sales: VecDeque<RecentSale>,
    /// The open session's last cash movements (retiros and ingresos), newest first.
    pub recent_movements: VecDeque<RecentMovement>,
    pub last_closing: Option<LastClosing>,
    /// What this caja's closed sessions took in the latest jornada it worked.
    pub jornada: Option<JornadaSoFar>,
    /// Sales taken offline that could not be recorded, waiting for a supervisor.
    pub flagged_pending: i64,
    /// The open session's sales above the venue's amount to confirm, not
    /// voided, newest first: the floor marks them (an extra "000" that got
    /// through is found before the closing).
    pub large_sales: Vec<LargeSale>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, Queryable)]
pub struct LargeSale {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub total_charged: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RecentSale {
    pub id: i64,
    /// Its number in the session (1, 2, …), what the cashier reads: the
    /// id is the venue's, with gaps.
    pub number: i64,
    #[serde(serialize_with = "crate::clock::rfc3339")]
    pub at: DateTime<Utc>,
    pub total_charged: i64,
    /// The tip paid with it, apart from its total.
    pub tip: i64,
    /// The payment methods, in the order paid.
    pub methods: Vec<PaymentMethod>,
    /// The card provider that charged it, if a card was used.
    pub provider: Option<PaymentProvider>,
    pub used_backup: bool,
    pub voided: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, Queryable)]
pub struct RecentMovement {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// RETIRO or INGRESO.
    pub kind: String,
    pub amount: i64,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LastClosing {
    pub session_id: i32,
    pub closed_at: DateTime<Utc>,
    pub cash_difference: i64,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct JornadaSoFar {
    pub jornada_id: i32,
    pub payment_totals: BTreeMap<String, i64>,
    /// Apart from the sales (docs/architecture.md rule 19).
    pub tip_totals: BTreeMap<String, i64>,
    pub ticket_count: i32,
}

impl RecentSale {
    /// A sale whose card payments were resolved to their approvals.
    pub fn new(id: i64, at: DateTime<Utc>, sale: &ValidSale) -> Self {
        let card = sale.payments.iter().find(|p| p.provider.is_some());
        Self {
            id,
            // Given when it is put first in the session's list.
            number: 0,
            at,
            total_charged: sale.total_charged.get(),
            tip: sale.tip().get(),
            methods: sale.payments.iter().map(|p| p.method).collect(),
            provider: card.and_then(|p| p.provider),
            used_backup: card.is_some_and(|p| p.backup),
            voided: false,
        }
    }
}

/// The sale `now` starts with, when `now` is `was` with that one sale put
/// first (the oldest dropped past [`RECENT_SALES`]): all a sale changes of
/// the list, so its event carries that sale alone.
pub fn sale_put_first<'a>(
    was: &VecDeque<RecentSale>,
    now: &'a VecDeque<RecentSale>,
) -> Option<&'a RecentSale> {
    let first = now.front()?;
    let kept = was.len().min(RECENT_SALES - 1);
    (now.len() == kept + 1 && now.iter().skip(1).eq(was.iter().take(kept))).then_some(first)
}

impl History {
    /// Records `sale`, marked large when it is above `large_above` (its id
    /// must then be known: the floor's list names it until it is voided).
    pub fn sale_recorded(&mut self, mut sale: RecentSale, large_above: Pesos) {
        // The session's sales are numbered from 1; the list starts empty
        // with the session and keeps the newest first.
        sale.number = self.recent_sales.front().map_or(1, |last| last.number + 1);
        if sale.total_charged > large_above.get() {
            self.large_sales.insert(
                0,
                LargeSale {
                    id: sale.id,
                    at: sale.at,
                    total_charged: sale.total_charged,
                },
            );
            self.large_sales.truncate(RECENT_SALES);
        }
        self.recent_sales.push_front(sale);
        self.recent_sales.truncate(RECENT_SALES);
    }

    pub fn movement_recorded(&mut self, movement: RecentMovement) {
        self.recent_movements.push_front(movement);
        self.recent_movements.truncate(RECENT_SALES);
    }

    pub fn sale_voided(&mut self, id: i64) {
        self.large_sales.retain(|sale| sale.id != id);
        if let Some(sale) = self.recent_sales.iter_mut().find(|s| s.id == id) {
            sale.voided = true;
        }
    }

    pub fn session_opened(&mut self, session: &LiveSession) {
        self.recent_sales.clear();
        self.large_sales.clear();
        self.recent_movements.clear();
        if let Some(jornada) = session.jornada_id
            && self.jornada.as_ref().map(|j| j.jornada_id) != Some(jornada)
        {
            self.jornada = Some(JornadaSoFar {
                jornada_id: jornada,
                ..Default::default()
            });
        }
    }

    pub fn session_closed(&mut self, session: &LiveSession, closed: &ClosedSession) {
        self.recent_sales.clear();
        self.large_sales.clear();
        self.recent_movements.clear();
        self.last_closing = Some(LastClosing {
            session_id: closed.id,
            closed_at: closed.closed_at,
            cash_difference: closed.cash_difference.get(),
        });
        if let Some(jornada) = session.jornada_id {
            let so_far = self.jornada.get_or_insert_with(Default::default);
            if so_far.jornada_id != jornada {
                *so_far = JornadaSoFar {
                    jornada_id: jornada,
                    ..Default::default()
                };
            }
            add(&mut so_far.payment_totals, &session.payment_totals);
            add(&mut so_far.tip_totals, &session.tip_totals);
            so_far.ticket_count += session.ticket_count;
        }
    }

    /// Loads what was committed: the open session's last sales (and those
    /// above `large_above`), the last closing, and the closed sessions of
    /// the latest jornada.
    pub fn load(
        conn: &mut PgConnection,
        register: CajaId,
        session: Option<&LiveSession>,
        large_above: Pesos,
    ) -> QueryResult<Self> {
        let (recent_sales, recent_movements, large_sales) = match session {
            Some(session) => (
                recent_sales(conn, session.id)?,
                recent_movements(conn, session.id)?,
                large_sales(conn, session.id, large_above)?,
            ),
            None => Default::default(),
        };
        let last_closing = register_sessions::table
            .filter(register_sessions::register_id.eq(register))
            .filter(register_sessions::status.eq(SessionStatus::Closed))
            .filter(register_sessions::closed_at.is_not_null())
            .order(register_sessions::closed_at.desc())
            .select((
                register_sessions::id,
                register_sessions::closed_at.assume_not_null(),
                register_sessions::cash_difference,
            ))
            .first::<(i32, DateTime<Utc>, Option<i64>)>(conn)
            .optional()?
            .map(|(session_id, closed_at, difference)| LastClosing {
                session_id,
                closed_at,
                cash_difference: difference.unwrap_or_default(),
            });
        let latest_jornada = register_sessions::table
            .filter(register_sessions::register_id.eq(register))
            .select(diesel::dsl::max(register_sessions::jornada_id))
            .first::<Option<i32>>(conn)?;
        let jornada = match latest_jornada {
            Some(jornada_id) => Some(jornada_so_far(conn, register, jornada_id)?),
            None => None,
        };
        Ok(Self {
            recent_sales,
            recent_movements,
            last_closing,
            jornada,
            flagged_pending: super::flagged::pending_count(conn, register)?,
            large_sales,
        })
    }
}

fn large_sales(conn: &mut PgConnection, session: i32, above: Pesos) -> QueryResult<Vec<LargeSale>> {
    sales::table
        .filter(sales::session_id.eq(session))
        .filter(sales::voided_at.is_null())
        .filter(sales::total_charged.gt(above.get()))
        .order(sales::id.desc())
        .limit(RECENT_SALES as i64)
        .select((sales::id, sales::created_at, sales::total_charged))
        .load(conn)
}

fn recent_movements(
    conn: &mut PgConnection,
    session: i32,
) -> QueryResult<VecDeque<RecentMovement>> {
    let rows = cash_movements::table
        .filter(cash_movements::session_id.eq(session))
        .order(cash_movements::id.desc())
        .limit(RECENT_SALES as i64)
        .select((
            cash_movements::id,
            cash_movements::created_at,
            cash_movements::kind,
            cash_movements::amount,
            cash_movements::reason,
        ))
        .load::<RecentMovement>(conn)?;
    Ok(rows.into())
}

fn recent_sales(conn: &mut PgConnection, session: i32) -> QueryResult<VecDeque<RecentSale>> {
    let rows: Vec<(i64, DateTime<Utc>, i64, bool)> = sales::table
        .filter(sales::session_id.eq(session))
        .order(sales::id.desc())
        .limit(RECENT_SALES as i64)
        .select((
            sales::id,
            sales::created_at,
            sales::total_charged,
            sales::voided_at.is_not_null(),
        ))
        .load(conn)?;
    let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
    // Numbered in the session: the newest is its count of sales.
    let count: i64 = sales::table
        .filter(sales::session_id.eq(session))
        .count()
        .get_result(conn)?;
    let payments: Vec<(i64, PaymentMethod, Option<PaymentProvider>, bool, i64)> =
        sale_payments::table
            .filter(sale_payments::sale_id.eq_any(&ids))
            .order((sale_payments::sale_id, sale_payments::payment_no))
            .select((
                sale_payments::sale_id,
                sale_payments::method,
                sale_payments::provider,
                sale_payments::used_backup,
                sale_payments::tip,
            ))
            .load(conn)?;
    Ok(rows
        .into_iter()
        .enumerate()
        .map(|(i, (id, at, total_charged, voided))| {
            let mine = payments.iter().filter(|p| p.0 == id);
            RecentSale {
                id,
                number: count - i as i64,
                at,
                total_charged,
                tip: mine.clone().map(|p| p.4).sum(),
                methods: mine.clone().map(|p| p.1).collect(),
                provider: mine.clone().find_map(|p| p.2),
                used_backup: mine.clone().any(|p| p.3),
                voided,
            }
        })
        .collect())
}

fn jornada_so_far(
    conn: &mut PgConnection,
    register: CajaId,
    jornada_id: i32,
) -> QueryResult<JornadaSoFar> {
    let closed: Vec<(serde_json::Value, serde_json::Value, i32)> = register_sessions::table
        .filter(register_sessions::register_id.eq(register))
        .filter(register_sessions::jornada_id.eq(jornada_id))
        .filter(register_sessions::status.eq(SessionStatus::Closed))
        .select((
            register_sessions::payment_totals,
            register_sessions::tip_totals,
            register_sessions::ticket_count,
        ))
        .load(conn)?;
    let mut so_far = JornadaSoFar {
        jornada_id,
        ..Default::default()
    };
    for (totals, tips, tickets) in closed {
        let per_method =
            |json| -> BTreeMap<String, i64> { serde_json::from_value(json).unwrap_or_default() };
        add(&mut so_far.payment_totals, &per_method(totals));
        add(&mut so_far.tip_totals, &per_method(tips));
        so_far.ticket_count += tickets;
    }
    Ok(so_far)
}

/// Adds one session's pesos per method to the jornada's.
fn add(so_far: &mut BTreeMap<String, i64>, session: &BTreeMap<String, i64>) {
    for (method, amount) in session {
        *so_far.entry(method.clone()).or_default() += amount;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(id: i32, jornada: i32, totals: &[(&str, i64)], tickets: i32) -> LiveSession {
        LiveSession {
            payment_totals: totals.iter().map(|(m, a)| (m.to_string(), *a)).collect(),
            ticket_count: tickets,
            ..LiveSession::opened_for_test(id, jornada, Pesos::ZERO)
        }
    }

    fn closed(id: i32, difference: i64) -> ClosedSession {
        ClosedSession {
            id,
            cash_expected: Pesos::ZERO,
            cash_count: Pesos::ZERO,
            cash_difference: Pesos::new(difference).unwrap(),
            closed_at: Utc::now(),
        }
    }

    fn recent(id: i64) -> RecentSale {
        RecentSale {
            id,
            number: 0,
            at: Utc::now(),
            total_charged: 1_000,
            tip: 0,
            methods: vec![PaymentMethod::Efectivo],
            provider: None,
            used_backup: false,
            voided: false,
        }
    }

    /// The venue's amount to confirm, in these tests.
    fn large_above() -> Pesos {
        Pesos::new(500_000).unwrap()
    }

    #[test]
    fn lists_the_large_sales_until_voided_or_the_session_ends() {
        let mut history = History::default();
        let large = |id, total| RecentSale {
            total_charged: total,
            ..recent(id)
        };
        history.sale_recorded(large(1, 500_000), large_above());
        history.sale_recorded(large(2, 45_000_000), large_above());
        history.sale_recorded(large(3, 600_000), large_above());
        let listed = |h: &History| h.large_sales.iter().map(|s| s.id).collect::<Vec<_>>();
        assert_eq!(listed(&history), [3, 2], "above the amount, newest first");
        history.sale_voided(2);
        assert_eq!(listed(&history), [3]);
        history.session_closed(&session(1, 1, &[], 3), &closed(1, 0));
        assert!(history.large_sales.is_empty());
    }

    #[test]
    fn keeps_the_newest_sales_first_and_marks_voids() {
        let mut history = History::default();
        for id in 1..=10 {
            history.sale_recorded(recent(id), large_above());
        }
        let ids: Vec<i64> = history.recent_sales.iter().map(|s| s.id).collect();
        assert_eq!(ids, vec![10, 9, 8, 7, 6, 5, 4, 3]);
        let numbers: Vec<i64> = history.recent_sales.iter().map(|s| s.number).collect();
        assert_eq!(
            numbers,
            vec![10, 9, 8, 7, 6, 5, 4, 3],
            "numbered in the session"
        );
        history.session_opened(&session(2, 1, &[], 0));
        history.sale_recorded(recent(11), large_above());
        assert_eq!(
            history.recent_sales[0].number, 1,
            "a new session counts from 1"
        );
        history.session_opened(&session(1, 1, &[], 0));
        for id in 1..=10 {
            history.sale_recorded(recent(id), large_above());
        }
        history.sale_voided(9);
        history.sale_voided(1); // no longer shown: nothing to mark
        assert!(history.recent_sales[1].voided);
        assert_eq!(history.recent_sales.iter().filter(|s| s.voided).count(), 1);
    }

    #[test]
    fn a_sale_put_first_is_told_apart_from_any_other_change_of_the_list() {
        let mut history = History::default();
        for id in 1..=10 {
            let was = history.recent_sales.clone();
            history.sale_recorded(recent(id), large_above());
            let first = sale_put_first(&was, &history.recent_sales);
            assert_eq!(first.map(|s| s.id), Some(id), "sale {id}");
        }
        let was = history.recent_sales.clone();
        assert_eq!(sale_put_first(&was, &was), None, "nothing changed");
        history.sale_voided(9);
        assert_eq!(sale_put_first(&was, &history.recent_sales), None);
        let mut reordered = was.clone();
        reordered.swap(0, 1);
        assert_eq!(sale_put_first(&was, &reordered), None);
        let mut short = was.clone();
        short.pop_back();
        short.pop_back();
        assert_eq!(sale_put_first(&was, &short), None, "two dropped");
        assert_eq!(sale_put_first(&was, &VecDeque::new()), None, "cleared");
    }

    #[test]
    fn a_jornada_adds_up_its_closed_sessions_and_a_new_one_starts_at_zero() {
        let mut history = History::default();
        let first = session(1, 7, &[("EFECTIVO", 5_000), ("DEBITO", 2_000)], 3);
        history.session_opened(&first);
        history.sale_recorded(recent(1), large_above());
        history.session_closed(&first, &closed(1, -500));
        assert!(
            history.recent_sales.is_empty(),
            "a closed session shows no sales"
        );
        assert_eq!(
            history.last_closing.as_ref().map(|c| c.cash_difference),
            Some(-500)
        );

        let mut second = session(2, 7, &[("EFECTIVO", 1_000)], 1);
        second.tip_totals = [("EFECTIVO".to_string(), 100)].into();
        history.session_opened(&second);
        history.session_closed(&second, &closed(2, 0));
        let jornada = history.jornada.clone().unwrap();
        assert_eq!(jornada.jornada_id, 7);
        assert_eq!(jornada.ticket_count, 4);
        assert_eq!(jornada.payment_totals["EFECTIVO"], 6_000);
        assert_eq!(jornada.payment_totals["DEBITO"], 2_000);
        assert_eq!(jornada.tip_totals["EFECTIVO"], 100, "tips apart");

        // The next night's first session starts the new jornada from zero.
        history.session_opened(&session(3, 8, &[], 0));
        assert_eq!(
            history.jornada,
            Some(JornadaSoFar {
                jornada_id: 8,
                ..Default::default()
            })
        );
    }
}
