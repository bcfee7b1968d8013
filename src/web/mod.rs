//! What every page shares: the error page, the static assets and the layout's data.

pub mod assets;
pub mod error;
pub mod page;

pub use error::PageError;
pub use page::{Chrome, form_config, html, redirect_see_other};

/// The venue's local time (America/Santiago), as pages show it.
pub fn local_time(at: &chrono::DateTime<chrono::Utc>) -> String {
    at.with_timezone(&chrono_tz::America::Santiago)
        .format("%d-%m-%Y %H:%M")
        .to_string()
}
