//! Tips (propina): what a customer adds for the staff. A tip is not
//! revenue: it is kept apart from a sale's total, its lines and its
//! payments' amounts, and rides on one payment (rule 19). The venue says
//! what the POS offers ([`TipMode`]) and how large a tip may be, as a
//! share of the sale: a typo guard, like the sale's own maximum.

use diesel::prelude::*;
use diesel::result::Error as DieselError;
use serde::Serialize;

use crate::db::schema::venue_settings;
use crate::money::Pesos;

crate::text_enum! {
    /// What the POS offers on a ticket: no tip (and none is taken), the
    /// suggested percentage (added with one tap), or an amount typed.
    TipMode {
        Off = "off" => "Sin propina",
        Percent = "percent" => "Porcentaje sugerido",
        Free = "free" => "Monto a elección",
    }
}

/// The venue's rule for tips, as `venue_settings` stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TipPolicy {
    pub mode: TipMode,
    /// The suggested share of the sale, in percent (1 to 50).
    pub percent: u8,
    /// The largest tip taken, in percent of the sale (1 to 1000).
    pub limit_percent: u16,
}

/// The customary suggestion in Chile: 10 %, up to half the sale.
impl Default for TipPolicy {
    fn default() -> Self {
        Self {
            mode: TipMode::Percent,
            percent: 10,
            limit_percent: 50,
        }
    }
}

/// The venue's policy, as stored (checked there: a value out of range
/// is refused rather than guessed).
pub fn load(conn: &mut PgConnection) -> QueryResult<TipPolicy> {
    let (mode, percent, limit): (String, i16, i16) = venue_settings::table
        .select((
            venue_settings::tip_mode,
            venue_settings::tip_percent,
            venue_settings::tip_limit_percent,
        ))
        .first(conn)?;
    let unreadable = |field: &str| {
        DieselError::DeserializationError(format!("venue_settings.{field} is out of range").into())
    };
    let mode = mode.parse().map_err(|_| unreadable("tip_mode"))?;
    TipPolicy::new(mode, percent.into(), limit.into()).map_err(unreadable)
}

/// Why a tip is not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TipRefusal {
    #[error("este local no recibe propina")]
    Off,
    #[error("la propina ({tip}) supera el {limit_percent} % de la venta ({max} como máximo)")]
    TooLarge {
        tip: Pesos,
        limit_percent: u16,
        max: Pesos,
    },
}

impl TipPolicy {
    /// A policy of stored values, or which value is out of its range.
    pub fn new(mode: TipMode, percent: i64, limit_percent: i64) -> Result<Self, &'static str> {
        let percent = u8::try_from(percent)
            .ok()
            .filter(|p| (1..=50).contains(p))
            .ok_or("tip_percent")?;
        let limit_percent = u16::try_from(limit_percent)
            .ok()
            .filter(|p| (1..=1000).contains(p))
            .ok_or("tip_limit_percent")?;
        Ok(Self {
            mode,
            percent,
            limit_percent,
        })
    }

    /// The tip the POS suggests for a sale of `total`: its percentage,
    /// rounded to the ten as cash is (it may be paid in coins). None when
    /// the venue suggests none.
    pub fn suggested(&self, total: Pesos) -> Option<Pesos> {
        if self.mode != TipMode::Percent {
            return None;
        }
        let share = total.get().checked_mul(i64::from(self.percent))? / 100;
        Pesos::new(share).ok().map(Pesos::cash_rounded)
    }

    /// The largest tip on a sale of `total`.
    pub fn max(&self, total: Pesos) -> Pesos {
        let max = i128::from(total.get()) * i128::from(self.limit_percent) / 100;
        Pesos::new(i64::try_from(max).unwrap_or(i64::MAX)).unwrap_or(total)
    }

    /// Checks a tip of `tip` on a sale of `total`.
    pub fn check(&self, total: Pesos, tip: Pesos) -> Result<(), TipRefusal> {
        if tip == Pesos::ZERO {
            return Ok(());
        }
        if self.mode == TipMode::Off {
            return Err(TipRefusal::Off);
        }
        let max = self.max(total);
        if tip > max {
            return Err(TipRefusal::TooLarge {
                tip,
                limit_percent: self.limit_percent,
                max,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pesos(value: i64) -> Pesos {
        Pesos::new(value).unwrap()
    }

    #[test]
    fn the_suggestion_is_the_percentage_rounded_as_cash() {
        let policy = TipPolicy::default();
        assert_eq!(policy.suggested(pesos(13_500)), Some(pesos(1_350)));
        // 10 % of $12.345 is $1.234,5: $1.230, payable in coins.
        assert_eq!(policy.suggested(pesos(12_345)), Some(pesos(1_230)));
        let free = TipPolicy {
            mode: TipMode::Free,
            ..policy
        };
        assert_eq!(free.suggested(pesos(13_500)), None);
    }

    #[test]
    fn a_tip_is_bounded_by_the_venue_and_refused_when_off() {
        let policy = TipPolicy::default();
        assert_eq!(policy.check(pesos(10_000), pesos(5_000)), Ok(()));
        assert!(matches!(
            policy.check(pesos(10_000), pesos(5_001)),
            Err(TipRefusal::TooLarge { .. })
        ));
        let off = TipPolicy {
            mode: TipMode::Off,
            ..policy
        };
        assert_eq!(off.check(pesos(10_000), Pesos::ZERO), Ok(()));
        assert_eq!(off.check(pesos(10_000), pesos(10)), Err(TipRefusal::Off));
        let message = policy
            .check(pesos(10_000), pesos(9_000))
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("50 %") && message.contains("$5.000"),
            "{message}"
        );
    }

    #[test]
    fn stored_values_out_of_range_are_named() {
        assert_eq!(TipPolicy::new(TipMode::Percent, 0, 50), Err("tip_percent"));
        assert_eq!(TipPolicy::new(TipMode::Percent, 51, 50), Err("tip_percent"));
        assert_eq!(
            TipPolicy::new(TipMode::Percent, 10, 1001),
            Err("tip_limit_percent")
        );
        assert!(TipPolicy::new(TipMode::Free, 10, 1000).is_ok());
    }
}
