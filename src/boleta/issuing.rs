//! What a sale gets now, and the outbox told of it. The venue's modelo de
//! emisión while it issues boletas, nothing while it does not: a copy in
//! memory of `boleta_settings`, set after each change of them (rule 9),
//! read by every caja when it records a sale. A caja that committed a
//! document tells the outbox here, so the outbox looks at the database
//! only when there is something to send: an idle venue costs it nothing.

use std::sync::Arc;

use tokio::sync::{Notify, watch};

use super::settings::ModeloEmision;

#[derive(Clone)]
pub struct Issuing(Arc<Inner>);

struct Inner {
    modelo: watch::Sender<Option<ModeloEmision>>,
    queued: Notify,
}

impl Issuing {
    pub fn new(now: Option<ModeloEmision>) -> Self {
        Self(Arc::new(Inner {
            modelo: watch::Sender::new(now),
            queued: Notify::new(),
        }))
    }

    pub fn current(&self) -> Option<ModeloEmision> {
        *self.0.modelo.borrow()
    }

    pub fn set(&self, now: Option<ModeloEmision>) {
        self.0.modelo.send_replace(now);
    }

    /// A document was committed (or may be sent now): the outbox looks.
    pub fn queued(&self) {
        self.0.queued.notify_one();
    }

    /// Until a document is committed since the last wait (at once when
    /// one was while nobody waited).
    pub async fn wait_queued(&self) {
        self.0.queued.notified().await;
    }
}
