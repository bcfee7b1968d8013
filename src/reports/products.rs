//! What a jornada sold, by product and by category (its page's tables),
//! and by hour, caja and product (its CSV). Sales not voided, at the
//! lines' own prices (before cash rounding).

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Text, Timestamp};

use crate::registers::ledger::{LINES_SOLD, PRODUCT_COLUMNS, ProductSold};

/// The jornada's products, best-selling first.
pub fn by_product(conn: &mut PgConnection, jornada: i32) -> QueryResult<Vec<ProductSold>> {
    diesel::sql_query(format!(
        "SELECT {PRODUCT_COLUMNS} {LINES_SOLD}
         JOIN register_sessions rs ON rs.id = s.session_id
         WHERE rs.jornada_id = $1
         GROUP BY l.product_id, 1, 2
         ORDER BY total DESC, name"
    ))
    .bind::<Integer, _>(jornada)
    .load(conn)
}

/// A category's sales in the jornada.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct CategorySold {
    #[diesel(sql_type = Text)]
    pub category: String,
    #[diesel(sql_type = BigInt)]
    pub quantity: i64,
    #[diesel(sql_type = BigInt)]
    pub total: i64,
}

/// The jornada's categories, best-selling first.
pub fn by_category(conn: &mut PgConnection, jornada: i32) -> QueryResult<Vec<CategorySold>> {
    diesel::sql_query(format!(
        "SELECT category, sum(quantity)::bigint AS quantity, sum(total)::bigint AS total
           FROM (SELECT {PRODUCT_COLUMNS} {LINES_SOLD}
                 JOIN register_sessions rs ON rs.id = s.session_id
                 WHERE rs.jornada_id = $1
                 GROUP BY l.product_id, 1, 2) products
          GROUP BY category
          ORDER BY total DESC, category"
    ))
    .bind::<Integer, _>(jornada)
    .load(conn)
}

/// A product's sales at one caja in one hour of the venue's clock.
#[derive(Debug, Clone, QueryableByName)]
pub struct HourCajaProduct {
    #[diesel(sql_type = Timestamp)]
    pub hour: NaiveDateTime,
    #[diesel(sql_type = Text)]
    pub caja: String,
    #[diesel(sql_type = Text)]
    pub category: String,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = BigInt)]
    pub quantity: i64,
    #[diesel(sql_type = BigInt)]
    pub total: i64,
}

/// Every product sold in the jornada, by hour and caja.
pub fn by_hour_and_caja(
    conn: &mut PgConnection,
    jornada: i32,
) -> QueryResult<Vec<HourCajaProduct>> {
    diesel::sql_query(format!(
        "SELECT date_trunc('hour', s.created_at AT TIME ZONE 'America/Santiago') AS hour,
                r.name AS caja, {PRODUCT_COLUMNS} {LINES_SOLD}
           JOIN register_sessions rs ON rs.id = s.session_id
           JOIN pos_registers r ON r.id = s.register_id
          WHERE rs.jornada_id = $1
          GROUP BY 1, 2, l.product_id, 3, 4
          ORDER BY 1, 2, total DESC, 4"
    ))
    .bind::<Integer, _>(jornada)
    .load(conn)
}
