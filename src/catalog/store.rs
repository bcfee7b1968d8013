//! The catalog's rows: read whole into a [`Catalog`], and written one change
//! at a time, each in its own transaction with its audit entry. A price that
//! changes gets a row in `product_prices` from that moment on.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use serde::Serialize;

use super::Catalog;
use super::domain::{Category, CategoryId, Colour, Offered, Product, ProductId};
use super::form::{CategoryDraft, ProductDraft};
use crate::audit::{self, Action, Actor};
use crate::cajas::CajaId;
use crate::db::schema::{
    pos_registers, product_cajas, product_categories, product_prices, products,
};
use crate::money::Pesos;

#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    /// Another row already has this name (`field` says which form field).
    #[error("the name is taken")]
    DuplicateName,
    #[error("no such category")]
    UnknownCategory,
    #[error("no such caja")]
    UnknownCaja,
    #[error("it changed since version {expected}")]
    Stale { expected: i32 },
    #[error("not found")]
    NotFound,
    #[error("the category still has products for sale")]
    CategoryInUse,
    #[error(transparent)]
    Db(#[from] DieselError),
}

fn taken(err: DieselError, constraint: &str) -> SaveError {
    match &err {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info)
            if info.constraint_name() == Some(constraint) =>
        {
            SaveError::DuplicateName
        }
        _ => SaveError::Db(err),
    }
}

#[derive(Queryable)]
struct CategoryRow {
    id: i32,
    name: String,
    sort_order: i32,
    archived_at: Option<DateTime<Utc>>,
}

#[derive(Queryable)]
struct ProductRow {
    id: i32,
    category_id: i32,
    name: String,
    short_name: String,
    price: i64,
    colour: String,
    sort_order: i32,
    every_caja: bool,
    exempt: bool,
    sold_out: bool,
    archived_at: Option<DateTime<Utc>>,
    version: i32,
}

/// The whole catalog, as committed.
pub fn load(conn: &mut PgConnection) -> QueryResult<Catalog> {
    let categories = product_categories::table
        .select((
            product_categories::id,
            product_categories::name,
            product_categories::sort_order,
            product_categories::archived_at,
        ))
        .load::<CategoryRow>(conn)?
        .into_iter()
        .map(|row| Category {
            id: CategoryId(row.id),
            name: row.name,
            sort_order: row.sort_order,
            archived: row.archived_at.is_some(),
        })
        .collect();
    let mut only: HashMap<i32, BTreeSet<CajaId>> = HashMap::new();
    for (product, caja) in product_cajas::table
        .select((product_cajas::product_id, product_cajas::register_id))
        .load::<(i32, i32)>(conn)?
    {
        only.entry(product).or_default().insert(CajaId(caja));
    }
    let rows = products::table
        .select((
            products::id,
            products::category_id,
            products::name,
            products::short_name,
            products::price,
            products::colour,
            products::sort_order,
            products::every_caja,
            products::exempt,
            products::sold_out,
            products::archived_at,
            products::version,
        ))
        .load::<ProductRow>(conn)?;
    let mut products = Vec::with_capacity(rows.len());
    for row in rows {
        // The database's checks hold these; a row that breaks them is
        // refused rather than guessed (rule 5).
        let invalid = |what: &str| {
            DieselError::DeserializationError(
                format!("product {} has an invalid {what}", row.id).into(),
            )
        };
        products.push(Product {
            id: ProductId(row.id),
            category_id: CategoryId(row.category_id),
            price: Pesos::positive(row.price).map_err(|_| invalid("price"))?,
            colour: Colour::parse(&row.colour).map_err(|_| invalid("colour"))?,
            offered: if row.every_caja {
                Offered::Everywhere
            } else {
                Offered::Only(only.remove(&row.id).unwrap_or_default())
            },
            name: row.name,
            short_name: row.short_name,
            sort_order: row.sort_order,
            exempt: row.exempt,
            sold_out: row.sold_out,
            archived: row.archived_at.is_some(),
            version: row.version,
        });
    }
    Ok(Catalog::new(categories, products).with_tips(crate::tips::load(conn)?))
}

/// What the audit trail keeps of a product.
#[derive(Serialize)]
struct Audited<'a> {
    category_id: CategoryId,
    name: &'a str,
    short_name: &'a str,
    price: Pesos,
    colour: &'a str,
    sort_order: i32,
    offered: &'a Offered,
    exempt: bool,
}

impl<'a> From<&'a ProductDraft> for Audited<'a> {
    fn from(draft: &'a ProductDraft) -> Self {
        Self {
            category_id: draft.category_id,
            name: &draft.name,
            short_name: &draft.short_name,
            price: draft.price,
            colour: draft.colour.as_str(),
            sort_order: draft.sort_order,
            offered: &draft.offered,
            exempt: draft.exempt,
        }
    }
}

fn check_references(conn: &mut PgConnection, draft: &ProductDraft) -> Result<(), SaveError> {
    let category: Option<Option<DateTime<Utc>>> = product_categories::table
        .find(draft.category_id.0)
        .select(product_categories::archived_at)
        // Held until the product is written: the category cannot be
        // archived in between.
        .for_share()
        .first(conn)
        .optional()?;
    if !matches!(category, Some(None)) {
        return Err(SaveError::UnknownCategory);
    }
    if let Offered::Only(cajas) = &draft.offered {
        let ids: Vec<i32> = cajas.iter().map(|c| c.0).collect();
        let found: i64 = pos_registers::table
            .filter(pos_registers::id.eq_any(&ids))
            .count()
            .get_result(conn)?;
        if found != ids.len() as i64 {
            return Err(SaveError::UnknownCaja);
        }
    }
    Ok(())
}

fn write_cajas(conn: &mut PgConnection, id: i32, offered: &Offered) -> QueryResult<()> {
    diesel::delete(product_cajas::table.filter(product_cajas::product_id.eq(id))).execute(conn)?;
    if let Offered::Only(cajas) = offered {
        let rows: Vec<_> = cajas
            .iter()
            .map(|c| {
                (
                    product_cajas::product_id.eq(id),
                    product_cajas::register_id.eq(c.0),
                )
            })
            .collect();
        diesel::insert_into(product_cajas::table)
            .values(rows)
            .execute(conn)?;
    }
    Ok(())
}

fn record_price(conn: &mut PgConnection, id: i32, price: Pesos, by: &Actor) -> QueryResult<()> {
    diesel::insert_into(product_prices::table)
        .values((
            product_prices::product_id.eq(id),
            product_prices::price.eq(price.get()),
            product_prices::set_by.eq(by.id.map(|id| id.0)),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn create_product(
    conn: &mut PgConnection,
    draft: &ProductDraft,
    by: &Actor,
) -> Result<ProductId, SaveError> {
    conn.transaction(|conn| {
        check_references(conn, draft)?;
        let id: i32 = diesel::insert_into(products::table)
            .values((
                products::category_id.eq(draft.category_id.0),
                products::name.eq(&draft.name),
                products::short_name.eq(&draft.short_name),
                products::price.eq(draft.price.get()),
                products::colour.eq(draft.colour.as_str()),
                products::sort_order.eq(draft.sort_order),
                products::every_caja.eq(draft.offered == Offered::Everywhere),
                products::exempt.eq(draft.exempt),
                products::updated_by.eq(by.id.map(|id| id.0)),
            ))
            .returning(products::id)
            .get_result(conn)
            .map_err(|err| taken(err, "products_name_in_category"))?;
        write_cajas(conn, id, &draft.offered)?;
        record_price(conn, id, draft.price, by)?;
        audit::record(
            conn,
            by,
            Action::ProductCreated,
            id,
            None::<&()>,
            Some(&Audited::from(draft)),
        )?;
        Ok(ProductId(id))
    })
}

/// Saves an edit made from `version`; refused when the product moved on
/// since (another admin's edit is not overwritten unseen).
pub fn update_product(
    conn: &mut PgConnection,
    id: ProductId,
    version: i32,
    draft: &ProductDraft,
    by: &Actor,
    before: &Product,
) -> Result<(), SaveError> {
    conn.transaction(|conn| {
        check_references(conn, draft)?;
        let updated = diesel::update(
            products::table
                .find(id.0)
                .filter(products::version.eq(version))
                .filter(products::archived_at.is_null()),
        )
        .set((
            products::category_id.eq(draft.category_id.0),
            products::name.eq(&draft.name),
            products::short_name.eq(&draft.short_name),
            products::price.eq(draft.price.get()),
            products::colour.eq(draft.colour.as_str()),
            products::sort_order.eq(draft.sort_order),
            products::every_caja.eq(draft.offered == Offered::Everywhere),
            products::exempt.eq(draft.exempt),
            products::version.eq(products::version + 1),
            products::updated_at.eq(diesel::dsl::now),
            products::updated_by.eq(by.id.map(|id| id.0)),
        ))
        .execute(conn)
        .map_err(|err| taken(err, "products_name_in_category"))?;
        if updated == 0 {
            return Err(SaveError::Stale { expected: version });
        }
        write_cajas(conn, id.0, &draft.offered)?;
        if draft.price != before.price {
            record_price(conn, id.0, draft.price, by)?;
        }
        let was = ProductDraft::of(before);
        audit::record(
            conn,
            by,
            Action::ProductEdited,
            id,
            Some(&Audited::from(&was)),
            Some(&Audited::from(draft)),
        )?;
        Ok(())
    })
}

/// Archives a product (`archived`) or puts it back on sale. Putting it
/// back is refused when a product on sale took its name meanwhile.
pub fn set_archived(
    conn: &mut PgConnection,
    id: ProductId,
    archived: bool,
    by: &Actor,
) -> Result<(), SaveError> {
    conn.transaction(|conn| {
        let at: Option<DateTime<Utc>> = archived.then(Utc::now);
        let updated = diesel::update(
            products::table
                .find(id.0)
                .filter(products::archived_at.is_null().eq(archived)),
        )
        .set((
            products::archived_at.eq(at),
            products::version.eq(products::version + 1),
            products::updated_at.eq(diesel::dsl::now),
            products::updated_by.eq(by.id.map(|id| id.0)),
        ))
        .execute(conn)
        .map_err(|err| taken(err, "products_name_in_category"))?;
        if updated == 0 {
            return Err(SaveError::NotFound);
        }
        let action = if archived {
            Action::ProductArchived
        } else {
            Action::ProductRestored
        };
        audit::record(conn, by, action, id, None::<&()>, None::<&()>)?;
        Ok(())
    })
}

/// Marks a product on sale out of stock (`sold_out`) or back in stock.
/// `Ok(false)`: it already was.
pub fn set_sold_out(
    conn: &mut PgConnection,
    id: ProductId,
    sold_out: bool,
    by: &Actor,
) -> Result<bool, SaveError> {
    conn.transaction(|conn| {
        let was: bool = products::table
            .find(id.0)
            .filter(products::archived_at.is_null())
            .select(products::sold_out)
            .for_update()
            .first(conn)
            .optional()?
            .ok_or(SaveError::NotFound)?;
        if was == sold_out {
            return Ok(false);
        }
        diesel::update(products::table.find(id.0))
            .set((
                products::sold_out.eq(sold_out),
                products::version.eq(products::version + 1),
                products::updated_at.eq(diesel::dsl::now),
                products::updated_by.eq(by.id.map(|id| id.0)),
            ))
            .execute(conn)?;
        let action = if sold_out {
            Action::ProductSoldOut
        } else {
            Action::ProductBackInStock
        };
        audit::record(conn, by, action, id, None::<&()>, None::<&()>)?;
        Ok(true)
    })
}

pub fn create_category(
    conn: &mut PgConnection,
    draft: &CategoryDraft,
    by: &Actor,
) -> Result<CategoryId, SaveError> {
    conn.transaction(|conn| {
        let id: i32 = diesel::insert_into(product_categories::table)
            .values((
                product_categories::name.eq(&draft.name),
                product_categories::sort_order.eq(draft.sort_order),
            ))
            .returning(product_categories::id)
            .get_result(conn)
            .map_err(|err| taken(err, "product_categories_name_key"))?;
        audit::record(
            conn,
            by,
            Action::CategoryCreated,
            id,
            None::<&()>,
            Some(&draft.name),
        )?;
        Ok(CategoryId(id))
    })
}

pub fn update_category(
    conn: &mut PgConnection,
    id: CategoryId,
    draft: &CategoryDraft,
    by: &Actor,
) -> Result<(), SaveError> {
    conn.transaction(|conn| {
        let before: String = product_categories::table
            .find(id.0)
            .filter(product_categories::archived_at.is_null())
            .select(product_categories::name)
            .first(conn)
            .optional()?
            .ok_or(SaveError::NotFound)?;
        diesel::update(product_categories::table.find(id.0))
            .set((
                product_categories::name.eq(&draft.name),
                product_categories::sort_order.eq(draft.sort_order),
            ))
            .execute(conn)
            .map_err(|err| taken(err, "product_categories_name_key"))?;
        audit::record(
            conn,
            by,
            Action::CategoryEdited,
            id,
            Some(&before),
            Some(&draft.name),
        )?;
        Ok(())
    })
}

/// Archives a category with no product on sale left in it.
pub fn archive_category(
    conn: &mut PgConnection,
    id: CategoryId,
    by: &Actor,
) -> Result<(), SaveError> {
    conn.transaction(|conn| {
        // Locked first: a product cannot be added to it meanwhile.
        product_categories::table
            .find(id.0)
            .select(product_categories::id)
            .for_update()
            .first::<i32>(conn)
            .optional()?
            .ok_or(SaveError::NotFound)?;
        let in_use: i64 = products::table
            .filter(products::category_id.eq(id.0))
            .filter(products::archived_at.is_null())
            .count()
            .get_result(conn)?;
        if in_use > 0 {
            return Err(SaveError::CategoryInUse);
        }
        let updated = diesel::update(
            product_categories::table
                .find(id.0)
                .filter(product_categories::archived_at.is_null()),
        )
        .set(product_categories::archived_at.eq(diesel::dsl::now))
        .execute(conn)?;
        if updated == 0 {
            return Err(SaveError::NotFound);
        }
        audit::record(
            conn,
            by,
            Action::CategoryArchived,
            id,
            None::<&()>,
            None::<&()>,
        )?;
        Ok(())
    })
}

/// What an import did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Imported {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub categories: usize,
}

/// Why an import wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Rows that name what does not exist (a caja's code), each named.
    #[error("{}", .0.join("; "))]
    Rows(Vec<String>),
    #[error(transparent)]
    Db(#[from] DieselError),
}

/// Writes `rows` in one transaction: each category found by name (made
/// when new), each product found by its category and name, updated when
/// it differs (its price kept from now on) or made; every change audited.
/// A row naming an unknown caja, or any refusal, writes nothing.
pub fn import(
    conn: &mut PgConnection,
    rows: &[super::csv::Row],
    by: &Actor,
) -> Result<Imported, ImportError> {
    use super::csv::Cajas;
    conn.transaction(|conn| {
        let codes: HashMap<String, i32> = pos_registers::table
            .select((pos_registers::code, pos_registers::id))
            .load::<(String, i32)>(conn)?
            .into_iter()
            .map(|(code, id)| (code.to_uppercase(), id))
            .collect();
        let unknown: Vec<String> = rows
            .iter()
            .filter_map(|row| match &row.cajas {
                Cajas::Codes(named) => {
                    let missing: Vec<&str> = named
                        .iter()
                        .filter(|code| !codes.contains_key(*code))
                        .map(String::as_str)
                        .collect();
                    (!missing.is_empty()).then(|| {
                        format!(
                            "fila {}: cajas: no hay caja con el código {}",
                            row.line,
                            missing.join(", ")
                        )
                    })
                }
                Cajas::Every => None,
            })
            .collect();
        if !unknown.is_empty() {
            return Err(ImportError::Rows(unknown));
        }
        let mut categories: HashMap<String, i32> = product_categories::table
            .filter(product_categories::archived_at.is_null())
            .select((product_categories::name, product_categories::id))
            .for_update()
            .load::<(String, i32)>(conn)?
            .into_iter()
            .map(|(name, id)| (name.to_lowercase(), id))
            .collect();
        let current = load(conn)?;
        let mut imported = Imported::default();
        for row in rows {
            let category = match categories.get(&row.category.to_lowercase()) {
                Some(id) => *id,
                None => {
                    let draft = CategoryDraft {
                        name: row.category.clone(),
                        sort_order: 0,
                    };
                    let id = create_category(conn, &draft, by).map_err(import_error)?;
                    categories.insert(row.category.to_lowercase(), id.0);
                    imported.categories += 1;
                    id.0
                }
            };
            let offered = match &row.cajas {
                Cajas::Every => Offered::Everywhere,
                Cajas::Codes(named) => {
                    Offered::Only(named.iter().map(|code| CajaId(codes[code])).collect())
                }
            };
            let existing = current.products().iter().find(|p| {
                !p.archived
                    && p.category_id.0 == category
                    && p.name.to_lowercase() == row.draft.name.to_lowercase()
            });
            let draft = ProductDraft {
                category_id: CategoryId(category),
                offered,
                exempt: if row.states_exempt {
                    row.draft.exempt
                } else {
                    existing.is_some_and(|p| p.exempt)
                },
                ..row.draft.clone()
            };
            let saved = match existing {
                Some(product) if ProductDraft::of(product) == draft => {
                    imported.unchanged += 1;
                    Ok(())
                }
                Some(product) => {
                    imported.updated += 1;
                    update_product(conn, product.id, product.version, &draft, by, product)
                }
                None => {
                    imported.created += 1;
                    create_product(conn, &draft, by).map(|_| ())
                }
            };
            saved.map_err(|err| match err {
                SaveError::Db(err) => ImportError::Db(err),
                other => ImportError::Rows(vec![format!("fila {}: {}", row.line, refusal(&other))]),
            })?;
        }
        Ok(imported)
    })
}

fn import_error(err: SaveError) -> ImportError {
    match err {
        SaveError::Db(err) => ImportError::Db(err),
        other => ImportError::Rows(vec![refusal(&other)]),
    }
}

/// A refusal of the store, as an admin reads it.
fn refusal(err: &SaveError) -> String {
    match err {
        SaveError::DuplicateName => "ya hay uno con ese nombre".into(),
        SaveError::UnknownCategory => "la categoría no existe o está archivada".into(),
        SaveError::UnknownCaja => "una de las cajas no existe".into(),
        SaveError::Stale { .. } => "otra persona lo cambió mientras tanto; importa de nuevo".into(),
        other => other.to_string(),
    }
}
