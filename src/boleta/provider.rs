//! Who issues the documents. One module per provider; this enum picks
//! the one the venue's settings name.

use std::sync::Arc;

use super::document::Document;
use super::http::Http;
use super::simulated::Simulated;

/// What a provider said of a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The SII took it: its folio, and where the customer verifies it.
    Accepted { folio: i64, link: String },
    /// The provider queued it for the SII: its answer comes later.
    Queued { track_id: String },
    /// Refused, and why (the SII's or the provider's reason).
    Rejected { reason: String },
}

/// The provider could not answer: the document is sent again later.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    #[error("el proveedor no está disponible: {0}")]
    Unavailable(String),
    #[error("el proveedor respondió algo que no se entiende: {0}")]
    Malformed(String),
}

#[derive(Clone)]
pub enum Provider {
    Simulated(Arc<Simulated>),
    Http(Http),
}

impl Provider {
    /// Sends `document` under its idempotency key: a second send of the
    /// same key answers as the first did and issues nothing more.
    pub async fn send(&self, document: &Document) -> Result<Answer, ProviderError> {
        match self {
            Provider::Simulated(simulated) => simulated.send(document),
            Provider::Http(http) => http.send(document).await,
        }
    }

    /// What became of a document the provider queued.
    pub async fn poll(&self, document: &Document) -> Result<Answer, ProviderError> {
        match self {
            // It answers at once: asking again reads the answer it gave.
            Provider::Simulated(simulated) => simulated.send(document),
            Provider::Http(http) => http.poll(document).await,
        }
    }
}
