//! A session's sales and cash movements, every one, as the session's page
//! lists them (with who voided what, and why), and what its sales sold.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Nullable, Text, Timestamptz};

#[derive(Debug, Clone, QueryableByName)]
pub struct SaleLine {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    /// Its number in the session (1, 2, …): what the cashier calls it.
    #[diesel(sql_type = BigInt)]
    pub number: i64,
    #[diesel(sql_type = Timestamptz)]
    pub at: DateTime<Utc>,
    #[diesel(sql_type = BigInt)]
    pub total_charged: i64,
    /// Paid with it, apart from its total.
    #[diesel(sql_type = BigInt)]
    pub tip: i64,
    /// The payment methods, "EFECTIVO + DEBITO".
    #[diesel(sql_type = Text)]
    pub methods: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub providers: Option<String>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub voided_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Text>)]
    pub void_reason: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub voided_by: Option<String>,
}

#[derive(Debug, Clone, QueryableByName)]
pub struct MovementLine {
    #[diesel(sql_type = Timestamptz)]
    pub at: DateTime<Utc>,
    #[diesel(sql_type = Text)]
    pub kind: String,
    #[diesel(sql_type = BigInt)]
    pub amount: i64,
    #[diesel(sql_type = Text)]
    pub reason: String,
    #[diesel(sql_type = Text)]
    pub by: String,
}

/// Every sale of the session, newest first.
pub fn sales(conn: &mut PgConnection, session: i32) -> QueryResult<Vec<SaleLine>> {
    diesel::sql_query(
        "SELECT s.id, row_number() OVER (ORDER BY s.id) AS number,
                s.created_at AS at, s.total_charged, sum(p.tip)::bigint AS tip,
                string_agg(p.method, ' + ' ORDER BY p.payment_no) AS methods,
                string_agg(DISTINCT p.provider, ', ') AS providers,
                s.voided_at, s.void_reason, u.name AS voided_by
           FROM sales s
           JOIN sale_payments p ON p.sale_id = s.id
           LEFT JOIN users u ON u.id = s.voided_by
          WHERE s.session_id = $1
          GROUP BY s.id, u.name
          ORDER BY s.id DESC",
    )
    .bind::<Integer, _>(session)
    .load(conn)
}

/// Every retiro and ingreso of the session, newest first.
pub fn movements(conn: &mut PgConnection, session: i32) -> QueryResult<Vec<MovementLine>> {
    diesel::sql_query(
        "SELECT m.created_at AS at, m.kind, m.amount, m.reason, u.name AS by
           FROM cash_movements m
           JOIN users u ON u.id = m.created_by
          WHERE m.session_id = $1
          ORDER BY m.id DESC",
    )
    .bind::<Integer, _>(session)
    .load(conn)
}

/// A product's sales (not voided): how many and for how much, before
/// cash rounding (the lines' own prices). Amounts typed by the cashier
/// count as one line, "Monto libre".
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct ProductSold {
    #[diesel(sql_type = Text)]
    pub category: String,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = BigInt)]
    pub quantity: i64,
    #[diesel(sql_type = BigInt)]
    pub total: i64,
}

/// The lines sold: `l` a sale's line, `s` its sale (not voided), `p` and
/// `c` its product and category as they are now (a product's current name,
/// one row however often renamed).
pub const LINES_SOLD: &str = "
      FROM sale_lines l
      JOIN sales s ON s.id = l.sale_id AND s.voided_at IS NULL
      LEFT JOIN products p ON p.id = l.product_id
      LEFT JOIN product_categories c ON c.id = p.category_id";

/// A line's category and product, and the sums of a group of lines, as
/// [`ProductSold`] reads them.
pub const PRODUCT_COLUMNS: &str = "
    COALESCE(c.name, 'Sin producto') AS category, COALESCE(p.name, l.name) AS name,
    sum(l.quantity)::bigint AS quantity, sum(l.line_total)::bigint AS total";

/// What the session's sales sold, by product, best-selling first.
pub fn products_sold(conn: &mut PgConnection, session: i32) -> QueryResult<Vec<ProductSold>> {
    diesel::sql_query(format!(
        "SELECT {PRODUCT_COLUMNS} {LINES_SOLD}
         WHERE s.session_id = $1
         GROUP BY l.product_id, 1, 2
         ORDER BY total DESC, name"
    ))
    .bind::<Integer, _>(session)
    .load(conn)
}

/// What the closing sheet adds to a session's summary: its jornada, the
/// count by bills and coins, and who approved a difference over the limit.
#[derive(Debug, Clone, QueryableByName)]
pub struct ClosingExtras {
    #[diesel(sql_type = Nullable<Integer>)]
    pub jornada_id: Option<i32>,
    #[diesel(sql_type = Nullable<diesel::sql_types::Jsonb>)]
    pub count_detail: Option<serde_json::Value>,
    #[diesel(sql_type = Nullable<Text>)]
    pub approved_by: Option<String>,
}

impl ClosingExtras {
    /// The count by denomination, largest first: (value, how many, subtotal).
    pub fn denominations(&self) -> Vec<(i64, i64, i64)> {
        let Some(detail) = self.count_detail.as_ref().and_then(|d| d.as_object()) else {
            return Vec::new();
        };
        let mut rows: Vec<(i64, i64, i64)> = detail
            .iter()
            .filter_map(|(value, n)| {
                let (value, n) = (value.parse::<i64>().ok()?, n.as_i64()?);
                (n > 0).then(|| (value, n, value.saturating_mul(n)))
            })
            .collect();
        rows.sort_by_key(|row| std::cmp::Reverse(row.0));
        rows
    }
}

pub fn closing_extras(conn: &mut PgConnection, session: i32) -> QueryResult<ClosingExtras> {
    diesel::sql_query(
        "SELECT rs.jornada_id, rs.cash_count_detail AS count_detail, u.name AS approved_by
           FROM register_sessions rs LEFT JOIN users u ON u.id = rs.difference_approved_by
          WHERE rs.id = $1",
    )
    .bind::<Integer, _>(session)
    .get_result(conn)
}
