//! The tips of a jornada, per cashier (who made the sale) and in all, by
//! how they were paid: kept apart from the sales (a tip is not revenue,
//! rule 19). Sales not voided.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Text};

/// One cashier's tips in the jornada.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct CashierTips {
    #[diesel(sql_type = Text)]
    pub cashier: String,
    /// Sales that carried a tip.
    #[diesel(sql_type = BigInt)]
    pub sales: i64,
    #[diesel(sql_type = BigInt)]
    pub cash: i64,
    /// Charged on a card (debit or credit), with the sale's charge.
    #[diesel(sql_type = BigInt)]
    pub card: i64,
    #[diesel(sql_type = BigInt)]
    pub transfer: i64,
    #[diesel(sql_type = BigInt)]
    pub total: i64,
}

/// The jornada's tips per cashier, the most first.
pub fn by_cashier(conn: &mut PgConnection, jornada: i32) -> QueryResult<Vec<CashierTips>> {
    diesel::sql_query(
        "SELECT u.name AS cashier, count(DISTINCT s.id) AS sales,
                COALESCE(sum(p.tip) FILTER (WHERE p.method = 'EFECTIVO'), 0)::bigint AS cash,
                COALESCE(sum(p.tip) FILTER (WHERE p.method IN ('DEBITO', 'CREDITO')), 0)::bigint AS card,
                COALESCE(sum(p.tip) FILTER (WHERE p.method = 'TRANSFERENCIA'), 0)::bigint AS transfer,
                sum(p.tip)::bigint AS total
           FROM sale_payments p
           JOIN sales s ON s.id = p.sale_id
           JOIN register_sessions rs ON rs.id = s.session_id
           JOIN users u ON u.id = s.created_by
          WHERE rs.jornada_id = $1 AND s.voided_at IS NULL AND p.tip > 0
          GROUP BY u.id, u.name
          ORDER BY total DESC, u.name",
    )
    .bind::<Integer, _>(jornada)
    .load(conn)
}

/// The jornada's tips in all: each cashier's added up.
pub fn total(cashiers: &[CashierTips]) -> CashierTips {
    cashiers.iter().fold(
        CashierTips {
            cashier: "Total".into(),
            sales: 0,
            cash: 0,
            card: 0,
            transfer: 0,
            total: 0,
        },
        |sum, c| CashierTips {
            sales: sum.sales + c.sales,
            cash: sum.cash + c.cash,
            card: sum.card + c.card,
            transfer: sum.transfer + c.transfer,
            total: sum.total + c.total,
            ..sum
        },
    )
}
