//! What every page shares: the error page, the static assets and the layout's data.

pub mod assets;
pub mod error;
pub mod gate;
pub mod head;
pub mod json;
pub mod page;

pub use error::PageError;
pub use page::{Chrome, form_config, html, redirect_see_other};

use std::net::IpAddr;

/// The client's address: the peer's, or, when the peer is a trusted proxy,
/// the last address in `X-Forwarded-For` that is not one of the proxies
/// (what nginx appended; anything before it the client could have made up).
pub fn client_address(req: &actix_web::HttpRequest, trusted: &[IpAddr]) -> String {
    let Some(peer) = req.peer_addr().map(|addr| addr.ip()) else {
        return "desconocida".to_owned();
    };
    if !trusted.contains(&peer) {
        return peer.to_string();
    }
    let forwarded = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|part| part.trim().parse::<IpAddr>().ok())
        .collect::<Vec<_>>();
    forwarded
        .into_iter()
        .rev()
        .find(|ip| !trusted.contains(ip))
        .unwrap_or(peer)
        .to_string()
}

/// The venue's local time (America/Santiago), as pages show it.
pub fn local_time(at: &chrono::DateTime<chrono::Utc>) -> String {
    at.with_timezone(&chrono_tz::America::Santiago)
        .format("%d-%m-%Y %H:%M")
        .to_string()
}
