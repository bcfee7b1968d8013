//! "Agotado": a supervisor marks a product out of stock, and back, from a
//! phone or a tablet (`/admin/agotados`). Every POS hears it over its
//! socket when the catalog is loaded again, and greys the product's key; a
//! sale of it from a POS that had not heard yet is refused by name.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::CatalogCell;
use super::domain::{Category, Product, ProductId};
use super::store::{self, SaveError};
use crate::auth::SupervisorUser;
use crate::auth::csrf::CsrfForm;
use crate::db::{self, PgPool};
use crate::web::{Chrome, PageError, html, redirect_see_other};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/agotados", web::get().to(page))
        .route("/admin/agotados/{id}", web::post().to(mark));
}

const PAGE_URL: &str = "/admin/agotados";

#[derive(Template)]
#[template(path = "catalog/stock.html")]
struct StockPage {
    chrome: Option<Chrome>,
    notice: Option<String>,
    sections: Vec<(Category, Vec<Product>)>,
    sold_out: usize,
}

#[derive(Debug, Default, Deserialize)]
pub struct Query {
    aviso: Option<String>,
    producto: Option<i32>,
}

/// GET /admin/agotados
pub async fn page(
    supervisor: SupervisorUser,
    catalog: web::Data<CatalogCell>,
    query: web::Query<Query>,
) -> Result<HttpResponse, PageError> {
    let catalog = catalog.current();
    let named = query
        .producto
        .and_then(|id| catalog.product(ProductId(id)))
        .map(|p| p.name.clone());
    let notice = match (query.aviso.as_deref(), named) {
        (Some("agotado"), Some(name)) => {
            Some(format!("«{name}» agotado: las cajas ya no lo venden."))
        }
        (Some("disponible"), Some(name)) => {
            Some(format!("«{name}» disponible otra vez en las cajas."))
        }
        _ => None,
    };
    let sections: Vec<(Category, Vec<Product>)> = catalog
        .categories()
        .iter()
        .filter(|c| !c.archived)
        .map(|c| {
            let products = catalog
                .products()
                .iter()
                .filter(|p| p.category_id == c.id && !p.archived)
                .cloned()
                .collect::<Vec<_>>();
            (c.clone(), products)
        })
        .filter(|(_, products)| !products.is_empty())
        .collect();
    let sold_out = sections
        .iter()
        .flat_map(|(_, products)| products)
        .filter(|p| p.sold_out)
        .count();
    html(
        StatusCode::OK,
        &StockPage {
            chrome: supervisor.chrome(),
            notice,
            sections,
            sold_out,
        },
    )
}

#[derive(Debug, Default, Deserialize)]
pub struct MarkForm {
    /// `agotado` or `disponible`.
    #[serde(default)]
    estado: String,
}

/// POST /admin/agotados/{id}
#[tracing::instrument(skip_all, fields(product_id = %id))]
pub async fn mark(
    supervisor: SupervisorUser,
    pool: web::Data<PgPool>,
    catalog: web::Data<CatalogCell>,
    id: web::Path<String>,
    CsrfForm(form): CsrfForm<MarkForm>,
) -> Result<HttpResponse, PageError> {
    let id: ProductId = id.parse().map_err(|_| PageError::NotFound("el producto"))?;
    let sold_out = match form.estado.as_str() {
        "agotado" => true,
        "disponible" => false,
        _ => {
            return Err(PageError::BadRequest(
                "estado: debe ser «agotado» o «disponible».".into(),
            ));
        }
    };
    let actor = supervisor.user.actor();
    match db::run(&pool, move |conn| {
        store::set_sold_out(conn, id, sold_out, &actor)
    })
    .await?
    {
        Ok(changed) => {
            if changed {
                tracing::info!(sold_out, "product stock marked");
                super::pages::reload(&catalog, &pool).await;
            }
            let notice = if sold_out { "agotado" } else { "disponible" };
            Ok(redirect_see_other(&format!(
                "{PAGE_URL}?aviso={notice}&producto={id}#producto-{id}"
            )))
        }
        Err(SaveError::NotFound) => Err(PageError::NotFound("el producto")),
        Err(other) => Err(super::pages::unexpected(other)),
    }
}
