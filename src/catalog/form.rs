//! A product or a category as an admin types it, read into a draft the
//! store can write: every field checked, each error under its field's name.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use super::domain::{self, CategoryId, Colour, MAX_SORT_ORDER, Offered};
use crate::cajas::CajaId;
use crate::money::{self, Pesos};
use crate::web::FieldErrors;

/// A product's fields, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductDraft {
    pub category_id: CategoryId,
    pub name: String,
    pub short_name: String,
    pub price: Pesos,
    pub colour: Colour,
    pub sort_order: i32,
    pub offered: Offered,
    pub exempt: bool,
}

impl ProductDraft {
    /// The fields of `product` as it is.
    pub fn of(product: &super::domain::Product) -> Self {
        Self {
            category_id: product.category_id,
            name: product.name.clone(),
            short_name: product.short_name.clone(),
            price: product.price,
            colour: product.colour.clone(),
            sort_order: product.sort_order,
            offered: product.offered.clone(),
            exempt: product.exempt,
        }
    }
}

/// A category's fields, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryDraft {
    pub name: String,
    pub sort_order: i32,
}

/// The product form as posted: one `caja_<id>` box per caja ticked (a
/// form's repeated key does not read into a list).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ProductForm {
    #[serde(default)]
    pub category_id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub short_name: String,
    #[serde(default)]
    pub price: String,
    #[serde(default)]
    pub colour: String,
    #[serde(default)]
    pub sort_order: String,
    /// `todas` or `algunas`.
    #[serde(default)]
    pub offered: String,
    /// Ticked (`si`) when the product is exempt of IVA.
    #[serde(default)]
    pub exempt: String,
    /// The version the edit started from.
    #[serde(default)]
    pub version: String,
    /// The ticked cajas (`caja_<id>`), and anything else posted.
    #[serde(flatten)]
    pub boxes: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct CategoryForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub sort_order: String,
}

fn sort_order(errors: &mut FieldErrors, raw: &str) -> i32 {
    let raw = raw.trim();
    if raw.is_empty() {
        return 0;
    }
    match raw.parse::<i32>() {
        Ok(v) if (0..=MAX_SORT_ORDER).contains(&v) => v,
        _ => {
            errors.add(
                "sort_order",
                format!("debe ser un número entero de 0 a {MAX_SORT_ORDER}"),
            );
            0
        }
    }
}

impl ProductForm {
    /// The draft, or every field at fault. `short_name` defaults to the
    /// name's first characters; `colour` to the default.
    pub fn parse(&self) -> Result<ProductDraft, FieldErrors> {
        let mut errors = FieldErrors::default();
        let category_id = match self.category_id.trim().parse::<i32>() {
            Ok(id) if id > 0 => Some(CategoryId(id)),
            _ => {
                errors.add("category_id", "elige una categoría");
                None
            }
        };
        let name = errors.check(
            "name",
            crate::text::line(&self.name, domain::MAX_PRODUCT_NAME),
        );
        let short_name = if self.short_name.trim().is_empty() {
            name.as_ref()
                .map(|n| n.chars().take(domain::MAX_SHORT_NAME).collect::<String>())
                .map(|s| s.trim().to_owned())
        } else {
            errors.check(
                "short_name",
                crate::text::line(&self.short_name, domain::MAX_SHORT_NAME),
            )
        };
        let price = match money::parse_typed(&self.price) {
            Some(v) => errors.check("price", domain::price(v)),
            None => {
                errors.add(
                    "price",
                    "escribe el precio en pesos, sin decimales (por ejemplo 4500 o $4.500)",
                );
                None
            }
        };
        let colour = if self.colour.trim().is_empty() {
            Colour::parse(domain::DEFAULT_COLOUR).ok()
        } else {
            errors.check("colour", Colour::parse(&self.colour))
        };
        let sort_order = sort_order(&mut errors, &self.sort_order);
        let offered = match self.offered.trim() {
            "" | "todas" => Some(Offered::Everywhere),
            "algunas" => {
                let cajas: Result<BTreeSet<CajaId>, _> = self
                    .boxes
                    .keys()
                    .filter_map(|key| key.strip_prefix("caja_"))
                    .map(|raw| raw.parse::<i32>().map(CajaId))
                    .collect();
                match cajas {
                    Ok(cajas) if !cajas.is_empty() => Some(Offered::Only(cajas)),
                    Ok(_) => {
                        errors.add("cajas", "marca al menos una caja, o «todas las cajas»");
                        None
                    }
                    Err(_) => {
                        errors.add("cajas", "una de las cajas no existe");
                        None
                    }
                }
            }
            _ => {
                errors.add("offered", "elige «todas las cajas» o «solo algunas»");
                None
            }
        };
        let exempt = match self.exempt.trim().to_lowercase().as_str() {
            "" | "no" => false,
            "si" | "sí" | "on" => true,
            _ => {
                errors.add(
                    "exempt",
                    "escribe «si» si el producto está exento de IVA, o «no»",
                );
                false
            }
        };
        match (category_id, name, short_name, price, colour, offered) {
            (
                Some(category_id),
                Some(name),
                Some(short_name),
                Some(price),
                Some(colour),
                Some(offered),
            ) if errors.is_empty() => Ok(ProductDraft {
                category_id,
                name,
                short_name,
                price,
                colour,
                sort_order,
                offered,
                exempt,
            }),
            _ => Err(errors),
        }
    }

    /// The version this edit started from (0 when the form has none).
    pub fn version(&self) -> i32 {
        self.version.trim().parse().unwrap_or(0)
    }
}

impl CategoryForm {
    pub fn parse(&self) -> Result<CategoryDraft, FieldErrors> {
        let mut errors = FieldErrors::default();
        let name = errors.check(
            "name",
            crate::text::line(&self.name, domain::MAX_CATEGORY_NAME),
        );
        let sort_order = sort_order(&mut errors, &self.sort_order);
        match name {
            Some(name) if errors.is_empty() => Ok(CategoryDraft { name, sort_order }),
            _ => Err(errors),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> ProductForm {
        ProductForm {
            category_id: "1".into(),
            name: "Piscola".into(),
            price: "$4.500".into(),
            ..ProductForm::default()
        }
    }

    #[test]
    fn a_product_reads_with_its_defaults() {
        let draft = form().parse().unwrap();
        assert_eq!(draft.price.get(), 4_500);
        assert_eq!(draft.short_name, "Piscola");
        assert_eq!(draft.colour.as_str(), domain::DEFAULT_COLOUR);
        assert_eq!(draft.offered, Offered::Everywhere);
    }

    #[test]
    fn every_mistake_names_its_field() {
        let fields = |f: ProductForm| -> Vec<&'static str> {
            f.parse()
                .unwrap_err()
                .iter()
                .map(|(field, _)| field)
                .collect()
        };
        for (price, field) in [
            ("0", "price"),
            ("-5", "price"),
            ("1.5", "price"),
            ("", "price"),
        ] {
            assert_eq!(
                fields(ProductForm {
                    price: price.into(),
                    ..form()
                }),
                [field]
            );
        }
        assert_eq!(
            fields(ProductForm {
                name: " ".into(),
                ..form()
            }),
            ["name"]
        );
        assert_eq!(
            fields(ProductForm {
                category_id: "x".into(),
                ..form()
            }),
            ["category_id"]
        );
        assert_eq!(
            fields(ProductForm {
                colour: "rojo".into(),
                ..form()
            }),
            ["colour"]
        );
        assert_eq!(
            fields(ProductForm {
                sort_order: "-1".into(),
                ..form()
            }),
            ["sort_order"]
        );
        assert_eq!(
            fields(ProductForm {
                offered: "algunas".into(),
                ..form()
            }),
            ["cajas"]
        );
        assert_eq!(
            fields(ProductForm {
                short_name: "x".repeat(17),
                ..form()
            }),
            ["short_name"]
        );
    }

    #[test]
    fn some_cajas_are_named() {
        let draft = ProductForm {
            offered: "algunas".into(),
            boxes: [
                ("caja_2".into(), "on".into()),
                ("caja_5".into(), "on".into()),
            ]
            .into(),
            ..form()
        }
        .parse()
        .unwrap();
        assert_eq!(draft.offered, Offered::Only([CajaId(2), CajaId(5)].into()));
    }
}
