//! Checks every request passes before any handler: a query string or path
//! carrying a NUL byte or a control character gets a 400 page (no handler,
//! no query ever sees it); a change to the JSON API from a page of another
//! site is refused (the SameSite cookie is not the only defence); and where
//! a request came from is judged the same way for the API and the sockets.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, header};
use actix_web::middleware::Next;
use actix_web::{HttpRequest, HttpResponse, ResponseError};

use super::PageError;
use super::json::ErrorBody;

/// Whether the request says it comes from a page of this hub: its `Origin`
/// is the hub's own. A request without one is not from a page at all.
pub fn same_origin(req: &HttpRequest) -> bool {
    let Some(origin) = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let host = req.connection_info().host().to_owned();
    origin == format!("http://{host}") || origin == format!("https://{host}")
}

/// Whether a browser says the request comes from another site: by
/// `Sec-Fetch-Site`, or by an `Origin` that is not the hub's. Clients that
/// are not browsers (a script, the POS of another vendor) send neither.
pub fn cross_site(req: &HttpRequest) -> bool {
    let fetch_site = req
        .headers()
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok());
    if let Some(site) = fetch_site
        && site != "same-origin"
        && site != "none"
    {
        return true;
    }
    req.headers().contains_key(header::ORIGIN) && !same_origin(req)
}

/// A percent-encoded control character (`%00`, `%0A`, `%7F`…) in `raw`.
fn encodes_control(raw: &str) -> bool {
    let bytes = raw.as_bytes();
    bytes.windows(3).any(|w| {
        w[0] == b'%'
            && matches!((w[1].to_ascii_uppercase(), w[2].to_ascii_uppercase()),
                (b'0' | b'1', b'0'..=b'9' | b'A'..=b'F') | (b'7', b'F'))
    })
}

pub async fn gate(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let uri = req.uri();
    if encodes_control(uri.path()) || uri.query().is_some_and(encodes_control) {
        tracing::info!(path = %uri.path(), "request with a control character refused");
        let page =
            PageError::BadRequest("La dirección tiene caracteres no válidos (de control).".into())
                .error_response();
        return Ok(req.into_response(page).map_into_right_body());
    }
    let changes = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if changes && req.path().starts_with("/api/") && cross_site(req.request()) {
        tracing::warn!(path = %req.path(), "cross-site API request refused");
        let refusal = HttpResponse::Forbidden().json(ErrorBody::new(
            "cross_site",
            "Esta solicitud viene de otro sitio y no se acepta.",
            None,
        ));
        return Ok(req.into_response(refusal).map_into_right_body());
    }
    Ok(next.call(req).await?.map_into_left_body())
}

#[cfg(test)]
mod tests {
    #[test]
    fn control_characters_are_found_however_encoded() {
        for raw in ["a%00b", "next=%0d%0a", "%1F", "x=%7f"] {
            assert!(super::encodes_control(raw), "{raw}");
        }
        for raw in ["a%20b", "caja=1", "%41", "100%", "%2509"] {
            assert!(!super::encodes_control(raw), "{raw}");
        }
    }
}
