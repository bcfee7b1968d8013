//! What every page shares: the error page, the static assets and the layout's data.

pub mod assets;
pub mod error;
pub mod form;
pub mod gate;
pub mod head;
pub mod json;
pub mod page;

pub use error::PageError;
pub use form::FieldErrors;
pub use page::{Chrome, csv_download, form_config, html, redirect_see_other};

use std::net::IpAddr;

/// A piece of the hub's state an extractor needs (startup shares each one:
/// a missing piece is a hub assembled wrong, found by any request).
pub fn shared<T: 'static>(req: &actix_web::HttpRequest) -> actix_web::web::Data<T> {
    req.app_data::<actix_web::web::Data<T>>()
        .unwrap_or_else(|| panic!("startup shares {}", std::any::type_name::<T>()))
        .clone()
}

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

/// From `from` to `to` in the venue's time, the date said once when both
/// fall on the same day: "05-12-2026 22:10 → 04:30" would repeat nothing.
pub fn local_span(
    from: &chrono::DateTime<chrono::Utc>,
    to: Option<&chrono::DateTime<chrono::Utc>>,
) -> String {
    let zone = chrono_tz::America::Santiago;
    let Some(to) = to else {
        return local_time(from);
    };
    let end = to.with_timezone(&zone);
    if end.date_naive() == from.with_timezone(&zone).date_naive() {
        format!("{} → {}", local_time(from), end.format("%H:%M"))
    } else {
        format!("{} → {}", local_time(from), local_time(to))
    }
}

#[cfg(test)]
mod span_tests {
    use chrono::TimeZone;

    #[test]
    fn a_span_says_the_date_once_when_it_ends_the_same_day() {
        // 22:10 and 23:40 in Santiago (UTC-3 in December).
        let from = chrono::Utc.with_ymd_and_hms(2026, 12, 6, 1, 10, 0).unwrap();
        let same = chrono::Utc.with_ymd_and_hms(2026, 12, 6, 2, 40, 0).unwrap();
        let next = chrono::Utc.with_ymd_and_hms(2026, 12, 6, 7, 30, 0).unwrap();
        assert_eq!(
            super::local_span(&from, Some(&same)),
            "05-12-2026 22:10 → 23:40"
        );
        assert_eq!(
            super::local_span(&from, Some(&next)),
            "05-12-2026 22:10 → 06-12-2026 04:30"
        );
        assert_eq!(super::local_span(&from, None), "05-12-2026 22:10");
    }
}
