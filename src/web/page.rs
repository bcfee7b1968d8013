//! Rendering askama templates into responses, and what the layout shows.

use actix_web::HttpResponse;
use actix_web::http::{StatusCode, header};
use askama::Template;

use super::PageError;

/// The layout's view of the logged-in user: name, role and the token for
/// the logout form. `None` on pages shown to nobody in particular.
#[derive(Debug, Clone)]
pub struct Chrome {
    pub user_name: String,
    /// The role as the page names it ("Supervisor").
    pub role_label: &'static str,
    /// Which menus the role opens (the handlers check again).
    pub admin: bool,
    pub supervisor: bool,
    pub csrf: String,
    /// The hub simulates the card terminals: every page says DEMO.
    pub demo: bool,
}

impl Chrome {
    pub fn is_admin(&self) -> bool {
        self.admin
    }

    pub fn is_supervisor(&self) -> bool {
        self.supervisor
    }
}

/// Every card terminal is simulated (`--simulate-terminals`): a demo,
/// whose card charges are not real. Every page and `/readyz` say so.
#[derive(Debug, Clone, Copy)]
pub struct Demo(pub bool);

/// Renders `template` as an HTML page with `status`.
pub fn html(status: StatusCode, template: &impl Template) -> Result<HttpResponse, PageError> {
    let body = template.render()?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(body))
}

/// The answer to a successful form POST: go to `location` with a GET.
pub fn redirect_see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// Forms are small; anything larger is not one of ours.
const FORM_LIMIT_BYTES: usize = 16 * 1024;

/// Form bodies that cannot be read at all get an error page, not plain text.
pub fn form_config() -> actix_web::web::FormConfig {
    actix_web::web::FormConfig::default()
        .limit(FORM_LIMIT_BYTES)
        .error_handler(|err, _req| {
            PageError::BadRequest(format!("El formulario no se pudo leer: {err}.")).into()
        })
}

/// A CSV document as a download named `name`.
pub fn csv_download(name: &str, csv: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        ))
        .body(csv)
}
