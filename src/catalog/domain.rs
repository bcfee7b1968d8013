//! The catalog's values, each unable to hold what the venue could not sell:
//! a name a key can show, a price of at least a peso, a colour the POS can
//! paint, a quantity a bartender could pour.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::cajas::CajaId;
use crate::money::Pesos;

crate::id_newtype!(
    /// A product's id, as stored in `products.id`.
    ProductId
);
crate::id_newtype!(
    /// A category's id, as stored in `product_categories.id`.
    CategoryId
);

/// The longest names, as the database bounds them.
pub const MAX_CATEGORY_NAME: usize = 40;
pub const MAX_PRODUCT_NAME: usize = 60;
pub const MAX_SHORT_NAME: usize = 16;
/// The highest price of one unit: a bottle service, not a typo.
pub const MAX_PRICE: i64 = 100_000_000;
/// The most of one product on one line.
pub const MAX_QUANTITY: i64 = 999;
/// The highest sort order a form takes.
pub const MAX_SORT_ORDER: i32 = 9999;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Category {
    pub id: CategoryId,
    pub name: String,
    pub sort_order: i32,
    pub archived: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Product {
    pub id: ProductId,
    pub category_id: CategoryId,
    pub name: String,
    pub short_name: String,
    pub price: Pesos,
    pub colour: Colour,
    pub sort_order: i32,
    pub offered: Offered,
    /// Exempt of IVA: documented apart, on a boleta exenta when a sale is
    /// all exempt (rule 22).
    pub exempt: bool,
    pub sold_out: bool,
    pub archived: bool,
    pub version: i32,
}

/// Where a product is sold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "on", content = "cajas", rename_all = "snake_case")]
pub enum Offered {
    Everywhere,
    /// Only on these cajas (none: on no caja for now).
    Only(BTreeSet<CajaId>),
}

impl Offered {
    pub fn includes(&self, caja: CajaId) -> bool {
        match self {
            Offered::Everywhere => true,
            Offered::Only(cajas) => cajas.contains(&caja),
        }
    }
}

/// A key's colour, `#rrggbb` in lower case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Colour(String);

/// The colour a product gets when none is chosen.
pub const DEFAULT_COLOUR: &str = "#37474f";

impl Colour {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let raw = raw.trim().to_ascii_lowercase();
        let hex = raw.strip_prefix('#').unwrap_or(&raw);
        if hex.len() == 6 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Self(format!("#{hex}")))
        } else {
            Err("debe ser un color #rrggbb (por ejemplo #1e88e5)")
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How many of a product on one line: 1 to [`MAX_QUANTITY`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Quantity(u16);

impl Quantity {
    pub const ONE: Quantity = Quantity(1);

    pub fn new(value: i64) -> Result<Self, String> {
        match value {
            v if v < 1 => Err("debe ser al menos 1".into()),
            v if v > MAX_QUANTITY => Err(format!("admite hasta {MAX_QUANTITY} por línea")),
            v => Ok(Self(v as u16)),
        }
    }

    pub fn get(self) -> u16 {
        self.0
    }

    /// `unit` times this many; never more than a billion pesos a line, so
    /// it cannot overflow.
    pub fn times(self, unit: Pesos) -> Option<Pesos> {
        unit.get()
            .checked_mul(i64::from(self.0))
            .and_then(|v| Pesos::new(v).ok())
    }
}

/// A product's price: more than zero, at most [`MAX_PRICE`].
pub fn price(value: i64) -> Result<Pesos, String> {
    match value {
        v if v <= 0 => Err("debe ser mayor que cero".into()),
        v if v > MAX_PRICE => Err("supera el máximo de $100.000.000".into()),
        v => Pesos::positive(v).map_err(|err| err.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_colour_is_six_hex_digits() {
        assert_eq!(Colour::parse("#1E88E5").unwrap().as_str(), "#1e88e5");
        assert_eq!(Colour::parse("1e88e5").unwrap().as_str(), "#1e88e5");
        assert!(Colour::parse("#1e88e").is_err());
        assert!(Colour::parse("red").is_err());
        assert!(Colour::parse("#1e88eg").is_err());
    }

    #[test]
    fn a_quantity_is_one_to_999() {
        assert!(Quantity::new(0).is_err());
        assert!(Quantity::new(-3).is_err());
        assert!(Quantity::new(1000).is_err());
        assert_eq!(Quantity::new(999).unwrap().get(), 999);
        let three = Quantity::new(3).unwrap();
        assert_eq!(
            three.times(Pesos::positive(4_500).unwrap()).unwrap().get(),
            13_500
        );
    }

    #[test]
    fn a_price_is_positive_and_bounded() {
        assert!(price(0).is_err());
        assert!(price(-1).is_err());
        assert!(price(MAX_PRICE + 1).is_err());
        assert_eq!(price(3_500).unwrap().get(), 3_500);
    }

    #[test]
    fn offered_only_on_some_cajas() {
        let only = Offered::Only([CajaId(2)].into());
        assert!(only.includes(CajaId(2)));
        assert!(!only.includes(CajaId(3)));
        assert!(Offered::Everywhere.includes(CajaId(3)));
    }
}
