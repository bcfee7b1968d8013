//! A Chilean RUT (rol único tributario): a number and its check digit
//! (módulo 11), as the SII writes it (`76123456-7`) and people read it
//! (`76.123.456-7`).

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

/// A RUT whose check digit matches its number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rut {
    number: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RutError {
    #[error("escribe el RUT con su dígito verificador, como 76.123.456-7")]
    Shape,
    #[error("el dígito verificador no corresponde: para ese número es {0}")]
    CheckDigit(char),
}

/// The largest number a RUT has (eight digits).
const MAX_NUMBER: u32 = 99_999_999;

impl Rut {
    /// The RUT of `number`, its check digit computed.
    pub fn of(number: u32) -> Option<Rut> {
        (1..=MAX_NUMBER).contains(&number).then_some(Rut { number })
    }

    pub fn number(self) -> u32 {
        self.number
    }

    /// Módulo 11: the digits from the right times 2, 3, 4, 5, 6, 7, 2, 3…;
    /// 11 minus the sum's remainder, where 11 is written 0 and 10 is K.
    pub fn check_digit(self) -> char {
        let mut rest = self.number;
        let mut sum = 0;
        let mut factor = 2;
        while rest > 0 {
            sum += (rest % 10) * factor;
            rest /= 10;
            factor = if factor == 7 { 2 } else { factor + 1 };
        }
        match 11 - sum % 11 {
            11 => '0',
            10 => 'K',
            digit => char::from_digit(digit, 10).unwrap_or('0'),
        }
    }

    /// As the SII's documents carry it: `76123456-7`.
    pub fn sii(self) -> String {
        format!("{}-{}", self.number, self.check_digit())
    }
}

impl FromStr for Rut {
    type Err = RutError;

    /// Dots, spaces and the hyphen are optional; `k` is `K`.
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let plain: String = raw
            .chars()
            .filter(|c| !matches!(c, '.' | ' ' | '-'))
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let mut chars = plain.chars();
        let digit = chars.next_back().ok_or(RutError::Shape)?;
        let body = chars.as_str();
        if body.is_empty() || body.len() > 8 || !body.bytes().all(|b| b.is_ascii_digit()) {
            return Err(RutError::Shape);
        }
        if !(digit.is_ascii_digit() || digit == 'K') {
            return Err(RutError::Shape);
        }
        let rut = body.parse().ok().and_then(Rut::of).ok_or(RutError::Shape)?;
        match rut.check_digit() {
            expected if expected == digit => Ok(rut),
            expected => Err(RutError::CheckDigit(expected)),
        }
    }
}

impl fmt::Display for Rut {
    /// As people read it: `76.123.456-7`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let grouped = crate::money::grouped(i64::from(self.number));
        write!(f, "{grouped}-{}", self.check_digit())
    }
}

impl Serialize for Rut {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.sii())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_ruts_and_their_check_digits() {
        // The SII's own RUT, a K, a 0 and a short one.
        for (raw, sii, shown) in [
            ("60.803.000-K", "60803000-K", "60.803.000-K"),
            ("60803000k", "60803000-K", "60.803.000-K"),
            ("76.086.428-5", "76086428-5", "76.086.428-5"),
            ("11.111.111-1", "11111111-1", "11.111.111-1"),
            ("1-9", "1-9", "1-9"),
            ("12.345.678-5", "12345678-5", "12.345.678-5"),
            (" 7.654.321 - 6 ", "7654321-6", "7.654.321-6"),
        ] {
            let rut: Rut = raw.parse().unwrap_or_else(|e| panic!("{raw}: {e}"));
            assert_eq!(rut.sii(), sii);
            assert_eq!(rut.to_string(), shown);
        }
    }

    #[test]
    fn a_wrong_digit_names_the_right_one_and_shapes_are_refused() {
        assert_eq!(
            "76.086.428-4".parse::<Rut>(),
            Err(RutError::CheckDigit('5'))
        );
        for bad in [
            "",
            "-",
            "K",
            "76086428",
            "1234567890-1",
            "12a45678-5",
            "12345678-X",
            "0-0",
        ] {
            assert!(bad.parse::<Rut>().is_err(), "{bad}");
        }
    }

    #[test]
    fn every_rut_reads_back_as_written() {
        for number in (1..MAX_NUMBER).step_by(9_973) {
            let rut = Rut::of(number).unwrap();
            assert_eq!(rut.to_string().parse::<Rut>(), Ok(rut));
            assert_eq!(rut.sii().parse::<Rut>(), Ok(rut));
            // Any other digit is refused.
            for other in "0123456789K".chars().filter(|&c| c != rut.check_digit()) {
                assert!(format!("{number}-{other}").parse::<Rut>().is_err());
            }
        }
    }
}
