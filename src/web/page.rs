//! Rendering askama templates into responses.

use actix_web::HttpResponse;
use actix_web::http::{StatusCode, header};
use askama::Template;

use super::PageError;

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
