//! The error every page handler returns, rendered as a Spanish error page.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use askama::Template;

use crate::db::DbError;

#[derive(thiserror::Error)]
pub enum PageError {
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("not found: {0}")]
    NotFound(&'static str),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("database error")]
    Db(#[from] DbError),
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
    title: &'a str,
    message: String,
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match self {
            PageError::BadRequest(_) => StatusCode::BAD_REQUEST,
            PageError::NotFound(_) => StatusCode::NOT_FOUND,
            PageError::Conflict(_) => StatusCode::CONFLICT,
            PageError::Db(err) if err.is_unavailable() => StatusCode::SERVICE_UNAVAILABLE,
            PageError::Db(_) | PageError::Render(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if status.is_server_error() {
            tracing::error!(error = ?self, "request failed");
        }
        let (title, message) = match self {
            PageError::BadRequest(message) => ("Solicitud no válida", message.clone()),
            PageError::NotFound(what) => ("No encontrado", format!("No existe {what} que buscas.")),
            PageError::Conflict(message) => ("No se puede hacer", message.clone()),
            _ if status == StatusCode::SERVICE_UNAVAILABLE => (
                "Base de datos no disponible",
                "La base de datos no responde. Intenta de nuevo en unos segundos.".to_string(),
            ),
            _ => (
                "Error interno",
                "Algo falló en el servidor. El error quedó registrado.".to_string(),
            ),
        };
        let body = ErrorPage { title, message }
            .render()
            .unwrap_or_else(|_| title.to_string());
        HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .body(body)
    }
}
