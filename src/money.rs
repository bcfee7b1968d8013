//! Money: whole Chilean pesos in an `i64`, never a float. Amounts are
//! bounded (10^12) and every sum is checked, so no total can overflow.

use serde::{Deserialize, Serialize};

/// An amount of pesos; negative only for differences (counted − expected).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Pesos(i64);

/// The largest amount the hub accepts in one field: a billion-peso typo is
/// still far below it, an overflow never.
pub const MAX_PESOS: i64 = 1_000_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("debe ser mayor que cero")]
    NotPositive,
    #[error("no puede ser negativo")]
    Negative,
    #[error("supera el máximo de $1.000.000.000.000")]
    TooLarge,
}

impl Pesos {
    pub const ZERO: Pesos = Pesos(0);

    /// Any amount within ±10^12 (a difference, a total).
    pub fn new(value: i64) -> Result<Self, MoneyError> {
        if value.abs() > MAX_PESOS {
            Err(MoneyError::TooLarge)
        } else {
            Ok(Pesos(value))
        }
    }

    /// An amount that must be more than zero (a sale, a payment).
    pub fn positive(value: i64) -> Result<Self, MoneyError> {
        match value {
            v if v <= 0 => Err(MoneyError::NotPositive),
            v => Self::new(v),
        }
    }

    /// An amount that may be zero but not less (a float, a count).
    pub fn non_negative(value: i64) -> Result<Self, MoneyError> {
        match value {
            v if v < 0 => Err(MoneyError::Negative),
            v => Self::new(v),
        }
    }

    pub fn get(self) -> i64 {
        self.0
    }

    pub fn checked_add(self, other: Pesos) -> Option<Pesos> {
        self.0.checked_add(other.0).and_then(|v| Pesos::new(v).ok())
    }

    pub fn checked_sub(self, other: Pesos) -> Option<Pesos> {
        self.0.checked_sub(other.0).and_then(|v| Pesos::new(v).ok())
    }

    /// Cash rounding (Ley 20.956): an amount ending in 1–5 pesos rounds down
    /// to the ten, one ending in 6–9 rounds up.
    pub fn cash_rounded(self) -> Pesos {
        let units = self.0.rem_euclid(10);
        if units <= 5 {
            Pesos(self.0 - units)
        } else {
            Pesos(self.0 + (10 - units))
        }
    }
}

/// `1.000.000`: a whole number with Chile's thousands points.
pub fn grouped(value: i64) -> String {
    Pesos(value).to_string().replacen('$', "", 1)
}

/// `$50.000`, `-$1.230`: as pesos are written in Chile.
impl std::fmt::Display for Pesos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let digits = self.0.unsigned_abs().to_string();
        let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
        for (i, digit) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                grouped.push('.');
            }
            grouped.push(digit);
        }
        let sign = if self.0 < 0 { "-" } else { "" };
        write!(f, "{sign}${grouped}")
    }
}

/// Reads an amount typed by a person: `50000`, `50.000` or `$50.000`. In
/// es-CL the point groups thousands, so it must stand every three digits:
/// `1.5`, `1,5`, `1.50.0` or a sign are refused, never guessed.
pub fn parse_typed(input: &str) -> Option<i64> {
    let typed = input.trim();
    let typed = typed.strip_prefix('$').map_or(typed, str::trim_start);
    let groups: Vec<&str> = typed.split('.').collect();
    let digits_only = |group: &&str| !group.is_empty() && group.bytes().all(|b| b.is_ascii_digit());
    let grouped = groups.len() == 1
        || (groups[0].len() <= 3 && groups[1..].iter().all(|group| group.len() == 3));
    if !groups.iter().all(digits_only) || !grouped {
        return None;
    }
    let digits = groups.concat();
    if digits.len() > 13 {
        return None;
    }
    digits.parse().ok()
}

/// Reads a count typed by a person (bills of a denomination): digits only,
/// no sign, no point.
pub fn parse_count(input: &str) -> Option<i64> {
    let typed = input.trim();
    if typed.is_empty() || typed.len() > 9 || !typed.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    typed.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_chile() {
        assert_eq!(Pesos(50_000).to_string(), "$50.000");
        assert_eq!(Pesos(0).to_string(), "$0");
        assert_eq!(Pesos(999).to_string(), "$999");
        assert_eq!(Pesos(1_000).to_string(), "$1.000");
        assert_eq!(Pesos(-1_230).to_string(), "-$1.230");
        assert_eq!(Pesos(1_000_000_000_000).to_string(), "$1.000.000.000.000");
    }

    #[test]
    fn cash_rounding_follows_ley_20956() {
        let rounded = |v| Pesos(v).cash_rounded().get();
        assert_eq!(rounded(1_230), 1_230);
        assert_eq!(rounded(1_231), 1_230);
        assert_eq!(rounded(1_235), 1_230);
        assert_eq!(rounded(1_236), 1_240);
        assert_eq!(rounded(1_239), 1_240);
        assert_eq!(rounded(5), 0);
        assert_eq!(rounded(6), 10);
    }

    #[test]
    fn bounds_and_overflow() {
        assert_eq!(Pesos::positive(0), Err(MoneyError::NotPositive));
        assert_eq!(Pesos::positive(-5), Err(MoneyError::NotPositive));
        assert_eq!(Pesos::non_negative(-1), Err(MoneyError::Negative));
        assert_eq!(Pesos::positive(MAX_PESOS + 1), Err(MoneyError::TooLarge));
        assert!(Pesos::positive(MAX_PESOS).is_ok());
        assert_eq!(Pesos(MAX_PESOS).checked_add(Pesos(1)), None);
        assert_eq!(Pesos(i64::MAX / 2).checked_add(Pesos(i64::MAX / 2)), None);
    }

    #[test]
    fn typed_amounts() {
        assert_eq!(parse_typed("50000"), Some(50_000));
        assert_eq!(parse_typed("$50.000"), Some(50_000));
        assert_eq!(parse_typed(" 1.234.567 "), Some(1_234_567));
        assert_eq!(parse_typed("-5"), None);
        assert_eq!(parse_typed("12,5"), None);
        assert_eq!(parse_typed(""), None);
        assert_eq!(parse_typed("99999999999999999999"), None);
        assert_eq!(parse_typed("$ 1.500"), Some(1_500));
        for malformed in [
            "1.5", "1,5", "1.50.0", "1.5000", ".500", "500.", "+5", "-0", "$-500", "1 500",
            "1..000", "$",
        ] {
            assert_eq!(parse_typed(malformed), None, "{malformed}");
        }
    }

    #[test]
    fn typed_counts() {
        assert_eq!(parse_count(" 12 "), Some(12));
        assert_eq!(parse_count("0"), Some(0));
        for malformed in ["-0", "+1", "1.5", "1,5", "", "1e3", "9999999999"] {
            assert_eq!(parse_count(malformed), None, "{malformed}");
        }
    }
}
