//! The admin's pages for the catalog: products (list, create, edit,
//! archive, restore) and their categories. Each change is written with its
//! audit entry, then the catalog in memory is loaded again, which tells
//! every screen watching it.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::CatalogCell;
use super::domain::{Category, CategoryId, Offered, Product, ProductId};
use super::form::{CategoryForm, ProductForm};
use super::store::{self, SaveError};
use crate::auth::AdminUser;
use crate::auth::csrf::{CsrfForm, NoFields};
use crate::cajas::Caja;
use crate::db::{self, PgPool};
use crate::money::grouped;
use crate::web::{Chrome, FieldErrors, PageError, html, redirect_see_other};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/productos", web::get().to(list_without_slash))
        .service(
            web::scope("/admin/productos")
                .route("/", web::get().to(list))
                .route("/crear", web::get().to(new_form))
                .route("/exportar", web::get().to(export))
                .route("/importar", web::get().to(import_form))
                .route("/importar", web::post().to(import))
                .route("/crear", web::post().to(create))
                .route("/{id}/editar", web::get().to(edit_form))
                .route("/{id}/editar", web::post().to(update))
                .route("/{id}/archivar", web::post().to(archive))
                .route("/{id}/restaurar", web::post().to(restore)),
        )
        .route("/admin/categorias", web::get().to(categories))
        .route("/admin/categorias", web::post().to(create_category))
        .route(
            "/admin/categorias/{id}/editar",
            web::post().to(update_category),
        )
        .route(
            "/admin/categorias/{id}/archivar",
            web::post().to(archive_category),
        );
}

const LIST_URL: &str = "/admin/productos/";
const CATEGORIES_URL: &str = "/admin/categorias";
/// The status a form comes back with when it has errors.
const INVALID_FORM: StatusCode = StatusCode::UNPROCESSABLE_ENTITY;

fn product_id(raw: &str) -> Result<ProductId, PageError> {
    raw.parse().map_err(|_| PageError::NotFound("el producto"))
}

fn category_id(raw: &str) -> Result<CategoryId, PageError> {
    raw.parse().map_err(|_| PageError::NotFound("la categoría"))
}

/// A refusal no form field explains, as the page answers it.
pub(super) fn unexpected(err: SaveError) -> PageError {
    match err {
        SaveError::Db(err) => err.into(),
        other => PageError::Conflict(other.to_string()),
    }
}

/// Loads the catalog again after a change committed. The change stands
/// either way; a catalog that could not be read is read at the next change.
pub(super) async fn reload(catalog: &CatalogCell, pool: &PgPool) {
    if let Err(err) = catalog.reload(pool).await {
        tracing::warn!(error = %err, "catalog not reloaded after a change");
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct Notice {
    aviso: Option<String>,
    // What an import did.
    nuevos: Option<usize>,
    cambiados: Option<usize>,
    iguales: Option<usize>,
    categorias: Option<usize>,
}

// ------------------------------------------------------------------- list

/// A category with its products, as the list shows it.
struct Section {
    category: Category,
    products: Vec<Product>,
}

#[derive(Template)]
#[template(path = "catalog/list.html")]
struct ListPage {
    chrome: Option<Chrome>,
    notice: Option<String>,
    sections: Vec<Section>,
    archived: Vec<Product>,
    cajas: Vec<Caja>,
    has_categories: bool,
}

impl ListPage {
    fn price(&self, product: &Product) -> String {
        format!("${}", grouped(product.price.get()))
    }

    /// Where a product is sold, in words.
    fn offered(&self, product: &Product) -> String {
        match &product.offered {
            Offered::Everywhere => "Todas".into(),
            Offered::Only(ids) => {
                let names: Vec<&str> = self
                    .cajas
                    .iter()
                    .filter(|c| ids.contains(&c.id))
                    .map(|c| c.name.as_str())
                    .collect();
                if names.is_empty() {
                    "Ninguna".into()
                } else {
                    names.join(", ")
                }
            }
        }
    }
}

/// GET /admin/productos
pub async fn list_without_slash() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header(("Location", LIST_URL))
        .finish()
}

/// GET /admin/productos/
pub async fn list(
    admin: AdminUser,
    pool: web::Data<PgPool>,
    catalog: web::Data<CatalogCell>,
    query: web::Query<Notice>,
) -> Result<HttpResponse, PageError> {
    let cajas = db::run(&pool, Caja::list).await??;
    let catalog = catalog.current();
    let sections = catalog
        .categories()
        .iter()
        .filter(|c| !c.archived)
        .map(|category| Section {
            category: category.clone(),
            products: catalog
                .products()
                .iter()
                .filter(|p| p.category_id == category.id && !p.archived)
                .cloned()
                .collect(),
        })
        .collect::<Vec<_>>();
    let notice = match query.aviso.as_deref() {
        Some("creado") => Some("Producto creado.".to_owned()),
        Some("guardado") => Some("Cambios guardados.".to_owned()),
        Some("archivado") => Some("Producto archivado: ya no aparece en las cajas.".to_owned()),
        Some("restaurado") => Some("Producto restaurado: vuelve a las cajas.".to_owned()),
        Some("importado") => Some(format!(
            "Importación lista: {} nuevos, {} cambiados, {} sin cambios{}.",
            query.nuevos.unwrap_or(0),
            query.cambiados.unwrap_or(0),
            query.iguales.unwrap_or(0),
            match query.categorias.unwrap_or(0) {
                0 => String::new(),
                1 => "; 1 categoría nueva".to_owned(),
                n => format!("; {n} categorías nuevas"),
            }
        )),
        _ => None,
    };
    html(
        StatusCode::OK,
        &ListPage {
            chrome: admin.chrome(),
            notice,
            has_categories: !sections.is_empty(),
            sections,
            archived: catalog
                .products()
                .iter()
                .filter(|p| p.archived)
                .cloned()
                .collect(),
            cajas,
        },
    )
}

// ------------------------------------------------------------ create, edit

#[derive(Template)]
#[template(path = "catalog/form.html")]
struct FormPage {
    chrome: Option<Chrome>,
    title: String,
    action: String,
    form: ProductForm,
    errors: FieldErrors,
    warning: Option<String>,
    categories: Vec<Category>,
    cajas: Vec<Caja>,
}

impl FormPage {
    fn error(&self, field: &str) -> &str {
        self.errors.get(field).unwrap_or("")
    }

    fn invalid(&self, field: &str) -> bool {
        self.errors.get(field).is_some()
    }

    fn some_cajas(&self) -> bool {
        self.form.offered.trim() == "algunas"
    }

    fn ticked(&self, caja: &Caja) -> bool {
        self.form.boxes.contains_key(&format!("caja_{}", caja.id))
    }

    fn colour(&self) -> &str {
        if self.form.colour.trim().is_empty() {
            super::domain::DEFAULT_COLOUR
        } else {
            self.form.colour.trim()
        }
    }
}

/// What a form page needs besides the form: the categories on sale and the
/// working cajas.
async fn choices(
    pool: &PgPool,
    catalog: &CatalogCell,
) -> Result<(Vec<Category>, Vec<Caja>), PageError> {
    let cajas = db::run(pool, Caja::list)
        .await??
        .into_iter()
        .filter(|c| !c.is_archived())
        .collect();
    let categories = catalog
        .current()
        .categories()
        .iter()
        .filter(|c| !c.archived)
        .cloned()
        .collect();
    Ok((categories, cajas))
}

async fn form_page(
    admin: &AdminUser,
    pool: &PgPool,
    catalog: &CatalogCell,
    editing: Option<&Product>,
    form: ProductForm,
    errors: FieldErrors,
) -> Result<FormPage, PageError> {
    let (categories, cajas) = choices(pool, catalog).await?;
    let (title, action) = match editing {
        Some(product) => (
            format!("Editar «{}»", product.name),
            format!("/admin/productos/{}/editar", product.id),
        ),
        None => ("Crear producto".into(), "/admin/productos/crear".into()),
    };
    Ok(FormPage {
        chrome: admin.chrome(),
        title,
        action,
        form,
        errors,
        warning: None,
        categories,
        cajas,
    })
}

fn form_of(product: &Product) -> ProductForm {
    let (offered, boxes) = match &product.offered {
        Offered::Everywhere => ("todas", Default::default()),
        Offered::Only(ids) => (
            "algunas",
            ids.iter()
                .map(|id| (format!("caja_{id}"), "on".to_owned()))
                .collect(),
        ),
    };
    ProductForm {
        category_id: product.category_id.to_string(),
        name: product.name.clone(),
        short_name: product.short_name.clone(),
        price: product.price.get().to_string(),
        colour: product.colour.as_str().to_owned(),
        sort_order: product.sort_order.to_string(),
        offered: offered.into(),
        exempt: if product.exempt { "si" } else { "" }.into(),
        version: product.version.to_string(),
        boxes,
    }
}

/// A refusal of the store, as the form's errors.
fn save_errors(err: SaveError) -> Result<FieldErrors, PageError> {
    Ok(match err {
        SaveError::DuplicateName => {
            FieldErrors::single("name", "ya hay un producto con ese nombre en la categoría")
        }
        SaveError::UnknownCategory => {
            FieldErrors::single("category_id", "la categoría no existe o está archivada")
        }
        SaveError::UnknownCaja => FieldErrors::single("cajas", "una de las cajas no existe"),
        SaveError::NotFound => return Err(PageError::NotFound("el producto")),
        other => return Err(unexpected(other)),
    })
}

/// GET /admin/productos/crear
pub async fn new_form(
    admin: AdminUser,
    pool: web::Data<PgPool>,
    catalog: web::Data<CatalogCell>,
) -> Result<HttpResponse, PageError> {
    let page = form_page(
        &admin,
        &pool,
        &catalog,
        None,
        ProductForm::default(),
        FieldErrors::default(),
    )
    .await?;
    html(StatusCode::OK, &page)
}

/// POST /admin/productos/crear
#[tracing::instrument(skip_all)]
pub async fn create(
    admin: AdminUser,
    pool: web::Data<PgPool>,
    catalog: web::Data<CatalogCell>,
    CsrfForm(form): CsrfForm<ProductForm>,
) -> Result<HttpResponse, PageError> {
    let draft = match form.parse() {
        Ok(draft) => draft,
        Err(errors) => {
            let page = form_page(&admin, &pool, &catalog, None, form, errors).await?;
            return html(INVALID_FORM, &page);
        }
    };
    let actor = admin.user.actor();
    let saved = db::run(&pool, move |conn| {
        store::create_product(conn, &draft, &actor)
    })
    .await?;
    match saved {
        Ok(id) => {
            tracing::info!(product_id = %id, "product created");
            reload(&catalog, &pool).await;
            Ok(redirect_see_other(&format!("{LIST_URL}?aviso=creado")))
        }
        Err(err) => {
            let errors = save_errors(err)?;
            let page = form_page(&admin, &pool, &catalog, None, form, errors).await?;
            html(INVALID_FORM, &page)
        }
    }
}

fn current_product(catalog: &CatalogCell, id: ProductId) -> Result<Product, PageError> {
    catalog
        .current()
        .product(id)
        .cloned()
        .ok_or(PageError::NotFound("el producto"))
}

/// GET /admin/productos/{id}/editar
pub async fn edit_form(
    admin: AdminUser,
    pool: web::Data<PgPool>,
    catalog: web::Data<CatalogCell>,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let product = current_product(&catalog, product_id(&id)?)?;
    if product.archived {
        return Err(PageError::Conflict(format!(
            "«{}» está archivado; restáuralo para editarlo.",
            product.name
        )));
    }
    let form = form_of(&product);
    let page = form_page(
        &admin,
        &pool,
        &catalog,
        Some(&product),
        form,
        FieldErrors::default(),
    )
    .await?;
    html(StatusCode::OK, &page)
}

/// POST /admin/productos/{id}/editar
#[tracing::instrument(skip_all, fields(product_id = %id))]
pub async fn update(
    admin: AdminUser,
    pool: web::Data<PgPool>,
    catalog: web::Data<CatalogCell>,
    id: web::Path<String>,
    CsrfForm(form): CsrfForm<ProductForm>,
) -> Result<HttpResponse, PageError> {
    let id = product_id(&id)?;
    let before = current_product(&catalog, id)?;
    let draft = match form.parse() {
        Ok(draft) => draft,
        Err(errors) => {
            let page = form_page(&admin, &pool, &catalog, Some(&before), form, errors).await?;
            return html(INVALID_FORM, &page);
        }
    };
    let actor = admin.user.actor();
    let version = form.version();
    let was = before.clone();
    let saved = db::run(&pool, move |conn| {
        store::update_product(conn, id, version, &draft, &actor, &was)
    })
    .await?;
    match saved {
        Ok(()) => {
            reload(&catalog, &pool).await;
            Ok(redirect_see_other(&format!("{LIST_URL}?aviso=guardado")))
        }
        Err(SaveError::Stale { .. }) => {
            // What this admin typed stays; a new save starts from now.
            reload(&catalog, &pool).await;
            let current = current_product(&catalog, id)?;
            let form = ProductForm {
                version: current.version.to_string(),
                ..form
            };
            let mut page = form_page(
                &admin,
                &pool,
                &catalog,
                Some(&current),
                form,
                FieldErrors::default(),
            )
            .await?;
            page.warning = Some(format!(
                "Otra persona cambió este producto mientras lo editabas (ahora: «{}», ${}). \
                 Tus cambios NO se guardaron: revísalos y guarda de nuevo para reemplazarlo.",
                current.name,
                grouped(current.price.get())
            ));
            html(StatusCode::CONFLICT, &page)
        }
        Err(err) => {
            let errors = save_errors(err)?;
            let page = form_page(&admin, &pool, &catalog, Some(&before), form, errors).await?;
            html(INVALID_FORM, &page)
        }
    }
}

async fn set_archived(
    admin: AdminUser,
    pool: &PgPool,
    catalog: &CatalogCell,
    id: &str,
    archived: bool,
) -> Result<HttpResponse, PageError> {
    let id = product_id(id)?;
    let actor = admin.user.actor();
    let saved = db::run(pool, move |conn| {
        store::set_archived(conn, id, archived, &actor)
    })
    .await?;
    match saved {
        Ok(()) => {
            reload(catalog, pool).await;
            let notice = if archived { "archivado" } else { "restaurado" };
            Ok(redirect_see_other(&format!("{LIST_URL}?aviso={notice}")))
        }
        // Already as asked (a second click): the list shows it so.
        Err(SaveError::NotFound) if catalog.current().product(id).is_some() => {
            Ok(redirect_see_other(LIST_URL))
        }
        Err(SaveError::NotFound) => Err(PageError::NotFound("el producto")),
        Err(SaveError::DuplicateName) => Err(PageError::Conflict(
            "Otro producto de la misma categoría ya usa ese nombre: cámbiale el nombre a uno \
             de los dos antes de restaurar."
                .into(),
        )),
        Err(other) => Err(unexpected(other)),
    }
}

/// POST /admin/productos/{id}/archivar
pub async fn archive(
    admin: AdminUser,
    pool: web::Data<PgPool>,
    catalog: web::Data<CatalogCell>,
    id: web::Path<String>,
    CsrfForm(_): CsrfForm<NoFields>,
) -> Result<HttpResponse, PageError> {
    set_archived(admin, &pool, &catalog, &id, true).await
}

/// POST /admin/productos/{id}/restaurar
pub async fn restore(
    admin: AdminUser,
    pool: web::Data<PgPool>,
    catalog: web::Data<CatalogCell>,
    id: web::Path<String>,
    CsrfForm(_): CsrfForm<NoFields>,
) -> Result<HttpResponse, PageError> {
    set_archived(admin, &pool, &catalog, &id, false).await
}

// -------------------------------------------------------------- categories

#[derive(Template)]
#[template(path = "catalog/categories.html")]
struct CategoriesPage {
    chrome: Option<Chrome>,
    notice: Option<String>,
    /// Each category on sale with how many products it has on sale.
    categories: Vec<(Category, usize)>,
    /// The new category's form, and its errors.
    form: CategoryForm,
    errors: FieldErrors,
    /// A category whose edit was refused, and why.
    refused: Option<(CategoryId, String)>,
}

impl CategoriesPage {
    fn error(&self, field: &str) -> &str {
        self.errors.get(field).unwrap_or("")
    }

    fn invalid(&self, field: &str) -> bool {
        self.errors.get(field).is_some()
    }

    fn refusal(&self, category: &Category) -> &str {
        match &self.refused {
            Some((id, message)) if *id == category.id => message,
            _ => "",
        }
    }
}

fn categories_page(
    admin: &AdminUser,
    catalog: &CatalogCell,
    notice: Option<String>,
    form: CategoryForm,
    errors: FieldErrors,
    refused: Option<(CategoryId, String)>,
) -> CategoriesPage {
    let catalog = catalog.current();
    let categories = catalog
        .categories()
        .iter()
        .filter(|c| !c.archived)
        .map(|c| {
            let on_sale = catalog
                .products()
                .iter()
                .filter(|p| p.category_id == c.id && !p.archived)
                .count();
            (c.clone(), on_sale)
        })
        .collect();
    CategoriesPage {
        chrome: admin.chrome(),
        notice,
        categories,
        form,
        errors,
        refused,
    }
}

/// GET /admin/categorias
pub async fn categories(
    admin: AdminUser,
    catalog: web::Data<CatalogCell>,
    query: web::Query<Notice>,
) -> Result<HttpResponse, PageError> {
    let notice = match query.aviso.as_deref() {
        Some("creada") => Some("Categoría creada.".to_owned()),
        Some("guardada") => Some("Categoría guardada.".to_owned()),
        Some("archivada") => Some("Categoría archivada.".to_owned()),
        _ => None,
    };
    html(
        StatusCode::OK,
        &categories_page(
            &admin,
            &catalog,
            notice,
            CategoryForm::default(),
            FieldErrors::default(),
            None,
        ),
    )
}

const DUPLICATE_CATEGORY: &str = "ya hay una categoría con ese nombre";

fn duplicate_category() -> FieldErrors {
    FieldErrors::single("name", DUPLICATE_CATEGORY)
}

/// POST /admin/categorias
pub async fn create_category(
    admin: AdminUser,
    pool: web::Data<PgPool>,
    catalog: web::Data<CatalogCell>,
    CsrfForm(form): CsrfForm<CategoryForm>,
) -> Result<HttpResponse, PageError> {
    let invalid = |form, errors| {
        let page = categories_page(&admin, &catalog, None, form, errors, None);
        html(INVALID_FORM, &page)
    };
    let draft = match form.parse() {
        Ok(draft) => draft,
        Err(errors) => return invalid(form, errors),
    };
    let actor = admin.user.actor();
    match db::run(&pool, move |conn| {
        store::create_category(conn, &draft, &actor)
    })
    .await?
    {
        Ok(_) => {
            reload(&catalog, &pool).await;
            Ok(redirect_see_other(&format!(
                "{CATEGORIES_URL}?aviso=creada"
            )))
        }
        Err(SaveError::DuplicateName) => invalid(form, duplicate_category()),
        Err(other) => Err(unexpected(other)),
    }
}

/// POST /admin/categorias/{id}/editar
pub async fn update_category(
    admin: AdminUser,
    pool: web::Data<PgPool>,
    catalog: web::Data<CatalogCell>,
    id: web::Path<String>,
    CsrfForm(form): CsrfForm<CategoryForm>,
) -> Result<HttpResponse, PageError> {
    let id = category_id(&id)?;
    let refused = |message: String| {
        let page = categories_page(
            &admin,
            &catalog,
            None,
            CategoryForm::default(),
            FieldErrors::default(),
            Some((id, message)),
        );
        html(INVALID_FORM, &page)
    };
    let draft = match form.parse() {
        Ok(draft) => draft,
        Err(errors) => {
            let message = errors
                .iter()
                .map(|(field, message)| {
                    let label = if field == "name" { "Nombre" } else { "Orden" };
                    format!("{label}: {message}")
                })
                .collect::<Vec<_>>()
                .join(" · ");
            return refused(message);
        }
    };
    let actor = admin.user.actor();
    match db::run(&pool, move |conn| {
        store::update_category(conn, id, &draft, &actor)
    })
    .await?
    {
        Ok(()) => {
            reload(&catalog, &pool).await;
            Ok(redirect_see_other(&format!(
                "{CATEGORIES_URL}?aviso=guardada"
            )))
        }
        Err(SaveError::DuplicateName) => refused(format!("Nombre: {DUPLICATE_CATEGORY}")),
        Err(SaveError::NotFound) => Err(PageError::NotFound("la categoría")),
        Err(other) => Err(unexpected(other)),
    }
}

/// POST /admin/categorias/{id}/archivar
pub async fn archive_category(
    admin: AdminUser,
    pool: web::Data<PgPool>,
    catalog: web::Data<CatalogCell>,
    id: web::Path<String>,
    CsrfForm(_): CsrfForm<NoFields>,
) -> Result<HttpResponse, PageError> {
    let id = category_id(&id)?;
    let actor = admin.user.actor();
    match db::run(&pool, move |conn| store::archive_category(conn, id, &actor)).await? {
        Ok(()) => {
            reload(&catalog, &pool).await;
            Ok(redirect_see_other(&format!(
                "{CATEGORIES_URL}?aviso=archivada"
            )))
        }
        Err(SaveError::CategoryInUse) => {
            let page = categories_page(
                &admin,
                &catalog,
                None,
                CategoryForm::default(),
                FieldErrors::default(),
                Some((
                    id,
                    "Tiene productos a la venta: archívalos o muévelos a otra categoría antes."
                        .into(),
                )),
            );
            html(StatusCode::CONFLICT, &page)
        }
        Err(SaveError::NotFound) => Err(PageError::NotFound("la categoría")),
        Err(other) => Err(unexpected(other)),
    }
}

// ---------------------------------------------------------- CSV out and in

/// GET /admin/productos/exportar: the products on sale as a spreadsheet.
pub async fn export(
    _admin: AdminUser,
    pool: web::Data<PgPool>,
    catalog: web::Data<CatalogCell>,
) -> Result<HttpResponse, PageError> {
    let codes = db::run(&pool, Caja::list)
        .await??
        .into_iter()
        .map(|caja| (caja.id, caja.code))
        .collect();
    let csv = super::csv::export(&catalog.current(), &codes);
    Ok(crate::web::csv_download("productos.csv", csv))
}

/// The most a pasted or chosen file may weigh (about 3,000 products).
const IMPORT_LIMIT_BYTES: usize = 240 * 1024;

#[derive(Debug, Default, Deserialize)]
pub struct ImportForm {
    #[serde(default)]
    csv: String,
}

#[derive(Template)]
#[template(path = "catalog/import.html")]
struct ImportPage {
    chrome: Option<Chrome>,
    csv: String,
    errors: Vec<String>,
    columns: String,
}

fn import_page(admin: &AdminUser, csv: String, errors: Vec<String>) -> ImportPage {
    ImportPage {
        chrome: admin.chrome(),
        csv,
        errors,
        columns: super::csv::COLUMNS.join(";"),
    }
}

/// GET /admin/productos/importar
pub async fn import_form(admin: AdminUser) -> Result<HttpResponse, PageError> {
    html(
        StatusCode::OK,
        &import_page(&admin, String::new(), Vec::new()),
    )
}

/// POST /admin/productos/importar: every row checked, each bad one named;
/// then all written in one transaction, or nothing.
#[tracing::instrument(skip_all)]
pub async fn import(
    admin: AdminUser,
    pool: web::Data<PgPool>,
    catalog: web::Data<CatalogCell>,
    CsrfForm(form): CsrfForm<ImportForm, IMPORT_LIMIT_BYTES>,
) -> Result<HttpResponse, PageError> {
    let rows = match super::csv::parse(&form.csv) {
        Ok(rows) => rows,
        Err(errors) => return html(INVALID_FORM, &import_page(&admin, form.csv, errors)),
    };
    let actor = admin.user.actor();
    let written = db::run(&pool, move |conn| store::import(conn, &rows, &actor)).await?;
    match written {
        Ok(imported) => {
            tracing::info!(?imported, "catalog imported");
            reload(&catalog, &pool).await;
            Ok(redirect_see_other(&format!(
                "{LIST_URL}?aviso=importado&nuevos={}&cambiados={}&iguales={}&categorias={}",
                imported.created, imported.updated, imported.unchanged, imported.categories
            )))
        }
        Err(store::ImportError::Rows(errors)) => {
            html(INVALID_FORM, &import_page(&admin, form.csv, errors))
        }
        Err(store::ImportError::Db(err)) => Err(err.into()),
    }
}
