//! What every page shares: the error page, the static assets and the layout's data.

pub mod assets;
pub mod error;
pub mod page;

pub use error::PageError;
pub use page::{Chrome, form_config, html, redirect_see_other};
