//! A boleta's amounts: its total includes IVA (19 %), and the document
//! states the net and the tax apart, in whole pesos.
//!
//! The net is the total divided by 1.19, rounded to the nearest peso, and
//! the tax is what is left, so the two always add up to the total the
//! customer paid. There is never a tie to break: `total × 100 / 119` is a
//! whole number and a half only if `200 × total` were an odd multiple of
//! 119, and it is even.
//!
//! An exempt part (rule 22) bears no IVA: it is stated apart, and only
//! the rest is split into net and tax.

use serde::Serialize;

use crate::money::Pesos;

/// IVA, in percent.
pub const RATE_PERCENT: i64 = 19;

/// A total split into its net, its IVA and its exempt part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Desglose {
    pub neto: Pesos,
    pub iva: Pesos,
    pub exento: Pesos,
    pub total: Pesos,
}

impl Desglose {
    /// A total of which `exempt` (at most all of it) bears no IVA and the
    /// rest includes it.
    pub fn of(total: Pesos, exempt: Pesos) -> Desglose {
        let exento = exempt.min(total);
        let afecto = total.checked_sub(exento).unwrap_or(Pesos::ZERO);
        Desglose {
            exento,
            total,
            ..Self::of_total(afecto)
        }
    }

    /// A total with IVA included, all of it (a boleta afecta, DTE 39).
    pub fn of_total(total: Pesos) -> Desglose {
        let t = i128::from(total.get());
        let base = 100 + i128::from(RATE_PERCENT);
        // round(t × 100 / base) for t ≥ 0, in integers: ⌊(2 × 100 × t + base) / (2 × base)⌋.
        let neto = (200 * t + base).div_euclid(2 * base);
        let neto = i64::try_from(neto).unwrap_or_default();
        Desglose {
            neto: Pesos::new(neto).unwrap_or_default(),
            iva: Pesos::new(total.get() - neto).unwrap_or_default(),
            exento: Pesos::ZERO,
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

    #[test]
    fn an_exempt_part_bears_no_iva_and_the_parts_add_up() {
        let pesos = |v| Pesos::new(v).unwrap();
        // A cover of $8.000 exempt and a drink of $4.500.
        let mixed = Desglose::of(pesos(12_500), pesos(8_000));
        assert_eq!(
            (mixed.neto, mixed.iva, mixed.exento, mixed.total),
            (pesos(3_782), pesos(718), pesos(8_000), pesos(12_500))
        );
        let exenta = Desglose::of(pesos(8_000), pesos(8_000));
        assert_eq!(
            (exenta.neto, exenta.iva, exenta.exento),
            (Pesos::ZERO, Pesos::ZERO, pesos(8_000))
        );
        for total in 1..=3_000 {
            for exempt in [0, 1, total / 3, total - 1, total] {
                let split = Desglose::of(pesos(total), pesos(exempt));
                assert_eq!(
                    split.neto.get() + split.iva.get() + split.exento.get(),
                    total
                );
                assert_eq!(split.exento.get(), exempt);
            }
        }
    }
}
