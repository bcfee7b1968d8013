//! A boleta's amounts: its total includes IVA (19 %), and the document
//! states the net and the tax apart, in whole pesos.
//!
//! The net is the total divided by 1.19, rounded to the nearest peso, and
//! the tax is what is left, so the two always add up to the total the
//! customer paid. There is never a tie to break: `total × 100 / 119` is a
//! whole number and a half only if `200 × total` were an odd multiple of
//! 119, and it is even.

use serde::Serialize;

use crate::money::Pesos;

/// IVA, in percent.
pub const RATE_PERCENT: i64 = 19;

/// A total split into its net and its IVA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Desglose {
    pub neto: Pesos,
    pub iva: Pesos,
    pub total: Pesos,
}

impl Desglose {
    /// A total with IVA included (a boleta afecta, DTE 39).
    pub fn of_total(total: Pesos) -> Desglose {
        let t = i128::from(total.get());
        let base = 100 + i128::from(RATE_PERCENT);
        // round(t × 100 / base) for t ≥ 0, in integers: ⌊(2 × 100 × t + base) / (2 × base)⌋.
        let neto = (200 * t + base).div_euclid(2 * base);
        let neto = i64::try_from(neto).unwrap_or_default();
        Desglose {
            neto: Pesos::new(neto).unwrap_or_default(),
            iva: Pesos::new(total.get() - neto).unwrap_or_default(),
            total,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference: the net is the whole number nearest total / 1.19,
    /// found by its distance (|119 × neto − 100 × total| is under half of
    /// 119), not by the formula above.
    fn nearest(total: i64) -> i64 {
        let guess = total * 100 / 119;
        (guess - 1..=guess + 1)
            .min_by_key(|n| (119 * n - 100 * total).abs())
            .unwrap_or(guess)
    }

    #[test]
    fn every_amount_from_one_peso_to_a_million_splits_as_the_reference_does() {
        for total in 1..=1_000_000 {
            let split = Desglose::of_total(Pesos::new(total).unwrap());
            let neto = nearest(total);
            assert_eq!(split.neto.get(), neto, "total {total}");
            assert!((119 * neto - 100 * total).abs() < 60, "total {total}");
            assert_eq!(split.neto.get() + split.iva.get(), total, "total {total}");
            assert!(split.iva.get() >= 0, "total {total}");
        }
    }

    #[test]
    fn known_boletas() {
        for (total, neto, iva) in [
            (0, 0, 0),
            (1, 1, 0),
            (2, 2, 0),
            (119, 100, 19),
            (1_000, 840, 160),
            (4_500, 3_782, 718),
            (11_900, 10_000, 1_900),
            (1_000_000_000_000, 840_336_134_454, 159_663_865_546),
        ] {
            let split = Desglose::of_total(Pesos::new(total).unwrap());
            assert_eq!((split.neto.get(), split.iva.get()), (neto, iva), "{total}");
        }
    }
}
