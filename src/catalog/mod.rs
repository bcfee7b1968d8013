//! What the venue sells: products in categories, each at a price in whole
//! pesos, offered on every caja or only on some, archived rather than
//! deleted. The catalog is written by an admin (`pages`) in a transaction
//! with its audit entry (`store`), and every part of the hub reads the copy
//! in memory ([`CatalogCell`]), loaded again from the database after each
//! change (rule 9: memory follows the database).

pub mod csv;
pub mod domain;
pub mod form;
pub mod pages;
pub mod stock;
pub mod store;

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::{Mutex, watch};

pub use domain::{Category, CategoryId, Colour, Offered, Product, ProductId, Quantity};

use crate::cajas::CajaId;
use crate::db::{self, DbError, PgPool};
use crate::money::Pesos;
use crate::tips::TipPolicy;

/// The catalog as committed: every category and product, archived ones
/// too (a sale's line still names them), in the order the POS shows them;
/// and the tip the venue offers with them (its setting, loaded with them
/// so a POS hears of a change the same way).
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    categories: Vec<Category>,
    products: Vec<Product>,
    index: HashMap<ProductId, usize>,
    tips: TipPolicy,
}

/// Why a product cannot go on a ticket at this caja.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineRefusal {
    #[error("no existe el producto {0}")]
    Unknown(ProductId),
    #[error("«{0}» está archivado")]
    Archived(String),
    #[error("«{0}» no se vende en esta caja")]
    NotOffered(String),
    #[error("«{0}» está agotado")]
    SoldOut(String),
    #[error("el precio de «{name}» cambió a {now}")]
    PriceChanged { name: String, now: Pesos },
}

/// A product line as the catalog prices it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Priced {
    pub product: ProductId,
    pub name: String,
    pub unit_price: Pesos,
    pub exempt: bool,
}

impl Catalog {
    /// The catalog of these rows, in the order the POS shows them:
    /// categories by their order and name, each one's products likewise.
    pub fn new(mut categories: Vec<Category>, mut products: Vec<Product>) -> Self {
        categories.sort_by(|a, b| {
            (a.sort_order, a.name.to_lowercase(), a.id).cmp(&(
                b.sort_order,
                b.name.to_lowercase(),
                b.id,
            ))
        });
        let rank: HashMap<CategoryId, usize> = categories
            .iter()
            .enumerate()
            .map(|(i, c)| (c.id, i))
            .collect();
        products.sort_by_key(|p| {
            (
                rank.get(&p.category_id).copied().unwrap_or(usize::MAX),
                p.sort_order,
                p.name.to_lowercase(),
                p.id,
            )
        });
        let index = products
            .iter()
            .enumerate()
            .map(|(i, p)| (p.id, i))
            .collect();
        Self {
            categories,
            products,
            index,
            tips: TipPolicy::default(),
        }
    }

    /// The catalog, offering tips by `tips`.
    pub fn with_tips(self, tips: TipPolicy) -> Self {
        Self { tips, ..self }
    }

    pub fn tips(&self) -> TipPolicy {
        self.tips
    }

    pub fn categories(&self) -> &[Category] {
        &self.categories
    }

    pub fn products(&self) -> &[Product] {
        &self.products
    }

    pub fn product(&self, id: ProductId) -> Option<&Product> {
        self.index.get(&id).map(|&i| &self.products[i])
    }

    pub fn category(&self, id: CategoryId) -> Option<&Category> {
        self.categories.iter().find(|c| c.id == id)
    }

    /// The products `caja` sells (sold out ones included: the POS greys
    /// them), in order.
    pub fn for_caja(&self, caja: CajaId) -> impl Iterator<Item = &Product> {
        self.products
            .iter()
            .filter(move |p| !p.archived && p.offered.includes(caja))
    }

    /// Prices product `id` for a ticket at `caja`, checking the price the
    /// POS showed (`shown`), when it says one: a customer pays what they
    /// were told, or is told again.
    pub fn price(
        &self,
        caja: CajaId,
        id: ProductId,
        shown: Option<Pesos>,
    ) -> Result<Priced, LineRefusal> {
        let product = self.product(id).ok_or(LineRefusal::Unknown(id))?;
        let name = || product.name.clone();
        if product.archived {
            return Err(LineRefusal::Archived(name()));
        }
        if !product.offered.includes(caja) {
            return Err(LineRefusal::NotOffered(name()));
        }
        if product.sold_out {
            return Err(LineRefusal::SoldOut(name()));
        }
        if shown.is_some_and(|shown| shown != product.price) {
            return Err(LineRefusal::PriceChanged {
                name: name(),
                now: product.price,
            });
        }
        Ok(Priced {
            product: id,
            name: name(),
            unit_price: product.price,
            exempt: product.exempt,
        })
    }
}

/// A product as a POS shows its key.
#[derive(Serialize)]
struct Key<'a> {
    id: ProductId,
    category_id: CategoryId,
    name: &'a str,
    short_name: &'a str,
    price: Pesos,
    colour: &'a str,
    sold_out: bool,
}

#[derive(Serialize)]
struct Tab<'a> {
    id: CategoryId,
    name: &'a str,
}

impl Catalog {
    /// The catalog as `caja`'s POS shows it: the categories that have
    /// products there, and those products, in order.
    pub fn keys_for(&self, caja: CajaId) -> serde_json::Value {
        let products: Vec<Key<'_>> = self
            .for_caja(caja)
            .map(|p| Key {
                id: p.id,
                category_id: p.category_id,
                name: &p.name,
                short_name: &p.short_name,
                price: p.price,
                colour: p.colour.as_str(),
                sold_out: p.sold_out,
            })
            .collect();
        let categories: Vec<Tab<'_>> = self
            .categories
            .iter()
            .filter(|c| !c.archived && products.iter().any(|p| p.category_id == c.id))
            .map(|c| Tab {
                id: c.id,
                name: &c.name,
            })
            .collect();
        serde_json::json!({ "categories": categories, "products": products, "tips": self.tips })
    }
}

/// The catalog in memory, shared by the whole hub: read at once by
/// anyone, watched by the screens, and loaded again from the database
/// after each change.
#[derive(Clone)]
pub struct CatalogCell {
    current: watch::Sender<Arc<Catalog>>,
    /// Loads one at a time, so the last to finish is the last to start:
    /// it read after every commit before it.
    loading: Arc<Mutex<()>>,
}

impl CatalogCell {
    pub fn new(catalog: Catalog) -> Self {
        Self {
            current: watch::Sender::new(Arc::new(catalog)),
            loading: Arc::new(Mutex::new(())),
        }
    }

    /// The catalog as last loaded.
    pub fn current(&self) -> Arc<Catalog> {
        self.current.borrow().clone()
    }

    /// Told each time the catalog is loaded again.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Catalog>> {
        self.current.subscribe()
    }

    /// Loads the catalog from the database, after a change committed.
    pub async fn reload(&self, pool: &PgPool) -> Result<Arc<Catalog>, DbError> {
        let _one_at_a_time = self.loading.lock().await;
        let catalog = Arc::new(db::run(pool, store::load).await??);
        self.current.send_replace(catalog.clone());
        Ok(catalog)
    }
}
