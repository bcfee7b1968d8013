//! The error every page handler returns, rendered as a Spanish error page.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use askama::Template;

use super::Chrome;
use crate::db::DbError;

#[derive(thiserror::Error)]
pub enum PageError {
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("not found: {0}")]
    NotFound(&'static str),
    #[error("conflict: {0}")]
    Conflict(String),
    /// Too much at once: come back in a moment.
    #[error("busy: {0}")]
    Busy(String),
    #[error("database error")]
    Db(#[from] DbError),
    /// A caja refused or could not do what was asked (`status` 4xx), or
    /// did not answer (5xx): `message` says which, to the user.
    #[error("caja: {message}")]
    Caja { status: StatusCode, message: String },
    #[error("could not render the page")]
    Render(#[from] askama::Error),
}

impl From<diesel::result::Error> for PageError {
    fn from(err: diesel::result::Error) -> Self {
        match err {
            diesel::result::Error::NotFound => PageError::NotFound("el registro"),
            other => PageError::Db(DbError::Query(other)),
        }
    }
}

// The whole cause chain, for the log.
impl std::fmt::Debug for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self}")?;
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            write!(f, "\n  caused by: {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    chrome: Option<Chrome>,
    title: &'a str,
    message: &'a str,
}

/// An error page with `status`.
pub fn error_page(status: StatusCode, title: &str, message: &str) -> HttpResponse {
    let body = ErrorPage {
        chrome: None,
        title,
        message,
    }
    .render()
    .unwrap_or_else(|_| format!("{title}: {message}"));
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(body)
}

/// Any URL the hub does not serve: a page in the hub's layout with a way
/// back, or the API's JSON error for `/api/` and `/ws/`.
pub async fn not_found(req: actix_web::HttpRequest) -> HttpResponse {
    let path = req.path();
    if path.starts_with("/api/") || path.starts_with("/ws/") {
        return HttpResponse::NotFound().json(super::json::ErrorBody::new(
            "not_found",
            "No existe esa dirección.",
            None,
        ));
    }
    error_page(
        StatusCode::NOT_FOUND,
        "Página no encontrada",
        "No existe la página que buscas. Puede que el enlace esté mal escrito o que la página ya no exista.",
    )
}

/// 503 when the database cannot be reached (a warning: the hub recovers by
/// itself, and `/readyz` shows an outage that lasts), 500 otherwise (an
/// error); logged.
pub fn database_error_page(err: &DbError) -> HttpResponse {
    if err.is_unavailable() {
        tracing::warn!(error = ?err, "database unavailable");
        error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Base de datos no disponible",
            "La base de datos no responde. Intenta de nuevo en unos segundos.",
        )
    } else {
        tracing::error!(error = ?err, "database error");
        internal_error_page()
    }
}

fn internal_error_page() -> HttpResponse {
    error_page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Error interno",
        "Algo falló en el servidor. El error quedó registrado.",
    )
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match self {
            PageError::BadRequest(_) => StatusCode::BAD_REQUEST,
            PageError::Forbidden(_) => StatusCode::FORBIDDEN,
            PageError::NotFound(_) => StatusCode::NOT_FOUND,
            PageError::Conflict(_) => StatusCode::CONFLICT,
            PageError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            PageError::Db(err) if err.is_unavailable() => StatusCode::SERVICE_UNAVAILABLE,
            PageError::Caja { status, .. } => *status,
            PageError::Db(_) | PageError::Render(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        match self {
            PageError::BadRequest(message) => error_page(status, "Solicitud no válida", message),
            PageError::Forbidden(message) => error_page(status, "Sin permiso", message),
            PageError::NotFound(what) => error_page(
                status,
                "No encontrado",
                &format!("No existe {what} que buscas."),
            ),
            PageError::Conflict(message) => error_page(status, "No se puede hacer", message),
            PageError::Busy(message) => {
                tracing::warn!(%message, "busy");
                error_page(status, "Un momento", message)
            }
            PageError::Db(err) => database_error_page(err),
            PageError::Caja { message, .. } => {
                let title = if status.is_server_error() {
                    tracing::warn!(%message, "caja did not answer");
                    "La caja no responde"
                } else {
                    "No se puede hacer"
                };
                error_page(status, title, message)
            }
            PageError::Render(_) => {
                tracing::error!(error = ?self, "request failed");
                internal_error_page()
            }
        }
    }
}
