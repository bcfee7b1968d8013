//! The jornada report: the figures an owner reads first, the cajas that
//! went to their backup provider and for how long, and sales per hour as a
//! chart drawn on the server (SVG, no script).

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Text, Timestamp, Timestamptz};

use super::query::CajaLine;
use crate::money::Pesos;

/// Total, tickets, average ticket, cash against card.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopLine {
    pub total: i64,
    pub tickets: i64,
    pub cash: i64,
    pub card: i64,
    pub transfer: i64,
}

impl TopLine {
    pub fn of(lines: &[CajaLine]) -> Self {
        lines.iter().fold(Self::default(), |t, l| Self {
            total: t.total + l.total(),
            tickets: t.tickets + l.tickets,
            cash: t.cash + l.efectivo,
            card: t.card + l.debito + l.credito,
            transfer: t.transfer + l.transferencia,
        })
    }

    /// The average ticket, rounded to the peso.
    pub fn average(&self) -> Pesos {
        let average = if self.tickets == 0 {
            0
        } else {
            (self.total + self.tickets / 2) / self.tickets
        };
        Pesos::new(average).unwrap_or_default()
    }

    /// The share of `part` in the total, in whole percent.
    pub fn percent(&self, part: i64) -> i64 {
        if self.total == 0 {
            0
        } else {
            (part * 100 + self.total / 2) / self.total
        }
    }
}

/// A caja that charged on its backup provider during the jornada.
#[derive(Debug, Clone, QueryableByName)]
pub struct Fallback {
    #[diesel(sql_type = Text)]
    pub caja: String,
    #[diesel(sql_type = Text)]
    pub provider: String,
    #[diesel(sql_type = BigInt)]
    pub payments: i64,
    #[diesel(sql_type = Timestamptz)]
    pub first: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    pub last: DateTime<Utc>,
}

impl Fallback {
    /// From its first to its last payment on the backup, in minutes.
    pub fn minutes(&self) -> i64 {
        (self.last - self.first).num_minutes()
    }
}

/// Approved payments on a backup provider, per caja.
pub fn fallbacks(conn: &mut PgConnection, jornada: i32) -> QueryResult<Vec<Fallback>> {
    diesel::sql_query(
        "SELECT r.name::text AS caja, a.provider::text AS provider, count(*) AS payments,
                min(a.started_at) AS first, max(coalesce(a.ended_at, a.started_at)) AS last
           FROM card_attempts a
           JOIN register_sessions rs ON rs.id = a.session_id
           JOIN pos_registers r ON r.id = a.register_id
          WHERE rs.jornada_id = $1 AND a.used_backup AND a.status = 'APPROVED'
          GROUP BY r.name, a.provider
          ORDER BY r.name",
    )
    .bind::<Integer, _>(jornada)
    .load(conn)
}

/// Sales (not voided) in one hour of the venue's clock.
#[derive(Debug, Clone, QueryableByName)]
pub struct Hour {
    #[diesel(sql_type = Timestamp)]
    pub hour: NaiveDateTime,
    #[diesel(sql_type = BigInt)]
    pub tickets: i64,
    #[diesel(sql_type = BigInt)]
    pub total: i64,
}

pub fn hours(conn: &mut PgConnection, jornada: i32) -> QueryResult<Vec<Hour>> {
    diesel::sql_query(
        "SELECT date_trunc('hour', s.created_at AT TIME ZONE 'America/Santiago') AS hour,
                count(*) AS tickets, sum(s.total_charged)::bigint AS total
           FROM sales s JOIN register_sessions rs ON rs.id = s.session_id
          WHERE rs.jornada_id = $1 AND s.voided_at IS NULL
          GROUP BY 1 ORDER BY 1",
    )
    .bind::<Integer, _>(jornada)
    .load(conn)
    .map(every_hour)
}

/// The hours from the first sale's to the last's, the quiet ones included
/// (with nothing sold), so a night's chart and its CSV keep the time axis.
fn every_hour(sold: Vec<Hour>) -> Vec<Hour> {
    let (Some(first), Some(last)) = (sold.first(), sold.last()) else {
        return sold;
    };
    let (first, last) = (first.hour, last.hour);
    let mut sold = sold.into_iter().peekable();
    let mut hours = Vec::new();
    let mut hour = first;
    while hour <= last {
        match sold.next_if(|h| h.hour == hour) {
            Some(h) => hours.push(h),
            None => hours.push(Hour {
                hour,
                tickets: 0,
                total: 0,
            }),
        }
        hour += chrono::Duration::hours(1);
    }
    hours
}

/// One bar of the chart, in the SVG's units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bar {
    pub x: i64,
    pub y: i64,
    pub width: i64,
    pub height: i64,
    pub label: String,
    /// Whether the hour's label is written under it (every hour on a
    /// night's chart, every second or third on a longer one).
    pub labelled: bool,
    pub value: String,
    /// The hour's total, short, written above its bar ("$35k").
    pub short: String,
}

/// An amount in few characters, for a bar's label: "$950", "$35k", "$1,2M".
fn short(total: i64) -> String {
    match total {
        t if t < 1_000 => format!("${t}"),
        t if t < 1_000_000 => format!("${}k", t / 1_000),
        t => {
            let tenths = t / 100_000;
            match tenths % 10 {
                0 => format!("${}M", tenths / 10),
                d => format!("${},{d}M", tenths / 10),
            }
        }
    }
}

/// Sales per hour as bars in a `WIDTH` × `HEIGHT` box (labels below).
pub struct Chart {
    pub bars: Vec<Bar>,
    /// The axis: the busiest hour's total, where the tallest bar ends.
    pub top: String,
}

impl Chart {
    pub const WIDTH: i64 = 720;
    pub const HEIGHT: i64 = 200;
    pub const BASE: i64 = 170;
    /// Where the busiest hour's bar ends (room above for its label and the axis's).
    pub const TOP: i64 = 36;

    pub fn of(hours: &[Hour]) -> Self {
        let most = hours.iter().map(|h| h.total).max().unwrap_or(0).max(1);
        // At least a night's twelve slots: one busy hour is not one wall of blue.
        let n = hours.len().max(12) as i64;
        let slot = Self::WIDTH / n;
        let every = (n + 15) / 16;
        let bars = hours
            .iter()
            .enumerate()
            .map(|(i, h)| {
                // A sold hour is never invisible; a quiet one has no bar.
                let height = match h.total {
                    0 => 0,
                    total => (total * (Self::BASE - Self::TOP) / most).max(1),
                };
                Bar {
                    x: i as i64 * slot + slot / 8,
                    y: Self::BASE - height,
                    width: (slot * 3 / 4).max(2),
                    height,
                    label: h.hour.format("%H:00").to_string(),
                    labelled: i as i64 % every == 0,
                    value: format!(
                        "{} · {} ventas",
                        Pesos::new(h.total).unwrap_or_default(),
                        h.tickets
                    ),
                    short: if h.total == 0 {
                        String::new()
                    } else {
                        short(h.total)
                    },
                }
            })
            .collect();
        Self {
            bars,
            top: Pesos::new(most).unwrap_or_default().to_string(),
        }
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_bar_says_its_total_in_few_characters() {
        assert_eq!(super::short(950), "$950");
        assert_eq!(super::short(35_840), "$35k");
        assert_eq!(super::short(1_000_000), "$1M");
        assert_eq!(super::short(1_250_000), "$1,2M");
    }
    use super::*;

    #[test]
    fn the_tallest_hour_fills_the_chart_and_every_hour_shows() {
        let at = |h: u32| {
            chrono::NaiveDate::from_ymd_opt(2026, 11, 28)
                .unwrap()
                .and_hms_opt(h, 0, 0)
                .unwrap()
        };
        let chart = Chart::of(&[
            Hour {
                hour: at(23),
                tickets: 3,
                total: 30_000,
            },
            Hour {
                hour: at(0),
                tickets: 1,
                total: 1,
            },
        ]);
        assert_eq!(chart.bars.len(), 2);
        assert_eq!(chart.bars[0].height, Chart::BASE - Chart::TOP);
        assert_eq!(chart.bars[1].height, 1, "a small hour is still seen");
        assert_eq!(chart.bars[0].label, "23:00");
        assert_eq!(chart.bars[0].value, "$30.000 · 3 ventas");
    }

    #[test]
    fn quiet_hours_between_sales_are_kept_on_the_axis() {
        let at = |d: u32, h: u32| {
            chrono::NaiveDate::from_ymd_opt(2026, 11, d)
                .unwrap()
                .and_hms_opt(h, 0, 0)
                .unwrap()
        };
        let sold = |hour, tickets| Hour {
            hour,
            tickets,
            total: tickets * 1_000,
        };
        let hours = every_hour(vec![sold(at(28, 23), 2), sold(at(29, 2), 1)]);
        let axis: Vec<_> = hours.iter().map(|h| (h.hour, h.tickets)).collect();
        assert_eq!(
            axis,
            vec![
                (at(28, 23), 2),
                (at(29, 0), 0),
                (at(29, 1), 0),
                (at(29, 2), 1)
            ]
        );
        assert_eq!(Chart::of(&hours).bars[1].height, 0);
        assert!(every_hour(Vec::new()).is_empty());
    }

    #[test]
    fn average_ticket_and_shares_round_to_the_peso() {
        let top = TopLine {
            total: 10_001,
            tickets: 3,
            cash: 3_334,
            card: 6_667,
            transfer: 0,
        };
        assert_eq!(top.average().get(), 3_334);
        assert_eq!((top.percent(top.cash), top.percent(top.card)), (33, 67));
        assert_eq!(TopLine::default().average().get(), 0);
    }
}
