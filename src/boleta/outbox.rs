//! The outbox's worker: sends each pending document to the provider with
//! its idempotency key, and keeps what the provider answered. It looks
//! when a caja commits a document (told through `Issuing`), when a
//! retry's wait is over, and once at start; never while nothing is due. A document
//! whose provider does not answer is sent again later, waiting longer
//! each time up to `LONGEST_WAIT`, for as long as it takes; nothing here
//! touches a sale, so an outage never slows one (docs/architecture.md
//! rule 20). Documents live in the database: a restart, even a kill, only
//! delays them, and a second send of a key issues nothing more.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use tokio::sync::watch;

use super::document::{self, Document, DocumentStatus, DteKind, Emisor};
use super::http::Http;
use super::issuing::Issuing;
use super::provider::{Answer, Provider, ProviderError};
use super::settings::{self, ProviderKind};
use super::simulated::Simulated;
use crate::clock::Clock;
use crate::db::schema::tax_documents;
use crate::db::{self, DbError, PgPool};

/// The wait before looking again after the database failed a look.
const AFTER_A_FAILED_LOOK: Duration = Duration::from_secs(5);
/// The longest a send waits for the provider.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// The first wait after a failed send; each failure doubles it.
const FIRST_WAIT: Duration = Duration::from_secs(2);
/// The longest wait between two sends of one document.
pub const LONGEST_WAIT: Duration = Duration::from_secs(300);
/// Why a nota de crédito is not sent: the SII rejected its boleta.
const NOTHING_TO_UNDO: &str = "la boleta que anula fue rechazada: no hay documento que anular";
/// Documents sent per look.
const BATCH: i64 = 50;

pub struct Outbox {
    pool: PgPool,
    clock: Clock,
    issuing: Issuing,
    /// As of the last look (the floor and /metrics read it).
    summary: watch::Sender<Summary>,
    /// The simulated provider, when the settings name it (one for the
    /// hub's life: its folios and the keys it saw outlive a change).
    simulated: Arc<Simulated>,
    /// The HTTP provider's key (from the server's environment).
    api_key: Option<String>,
}

/// The outbox at a glance: what waits for the provider and since when,
/// and what the SII rejected that a supervisor must see to. Read from the
/// small part of the table those are (partial indexes), after each look.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, QueryableByName)]
pub struct Summary {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub pending: i64,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>)]
    pub oldest_pending: Option<DateTime<Utc>>,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub rejected: i64,
}

/// Rejected boletas of sales that stand (a voided sale's needs nothing)
/// and notas de crédito of accepted boletas: what a supervisor must see to
/// (`d` a document, `b` its boleta, `s` its sale).
pub const TO_SEE_TO: &str =
    "d.status = 'RECHAZADA' AND NOT (d.kind = 61 AND b.status = 'RECHAZADA')
    AND NOT (d.kind = 39 AND s.voided_at IS NOT NULL)";

pub fn summary(conn: &mut PgConnection) -> QueryResult<Summary> {
    diesel::sql_query(format!(
        "SELECT (SELECT count(*) FROM tax_documents WHERE status IN ('PENDIENTE', 'ENVIADA')) AS pending,
                (SELECT min(created_at) FROM tax_documents WHERE status IN ('PENDIENTE', 'ENVIADA')) AS oldest_pending,
                (SELECT count(*) FROM tax_documents d JOIN sales s ON s.id = d.sale_id
                   LEFT JOIN tax_documents b ON b.id = d.refers_to WHERE {TO_SEE_TO}) AS rejected"
    ))
    .get_result(conn)
}

/// What one look did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    pub sent: usize,
    pub failed: usize,
    /// When the next document is due, if any is pending.
    pub next_due: Option<DateTime<Utc>>,
}

impl Outbox {
    pub fn new(pool: PgPool, clock: Clock, issuing: Issuing, api_key: Option<String>) -> Self {
        Self {
            pool,
            clock,
            issuing,
            summary: watch::Sender::new(Summary::default()),
            simulated: Arc::new(Simulated::new(1..=i64::from(i32::MAX))),
            api_key,
        }
    }

    /// The outbox as of its last look.
    pub fn summary(&self) -> Summary {
        self.summary.borrow().clone()
    }

    /// Each change of the summary, for the floor.
    pub fn summaries(&self) -> watch::Receiver<Summary> {
        self.summary.subscribe()
    }

    /// The simulated provider (tests make it fail and read what it issued).
    pub fn simulated(&self) -> &Arc<Simulated> {
        &self.simulated
    }

    /// Sends what is due, for the hub's life: at start (what an earlier
    /// run left), then whenever a caja commits a document or a retry's
    /// wait ends.
    pub async fn keep_sending(self: Arc<Self>) {
        loop {
            let next_due = match self.pass().await {
                Ok(pass) => pass.next_due,
                Err(err) => {
                    tracing::warn!(error = %err, "could not read the boletas to send");
                    Some(
                        self.clock.now()
                            + chrono::Duration::seconds(AFTER_A_FAILED_LOOK.as_secs() as i64),
                    )
                }
            };
            match next_due {
                Some(at) => {
                    tokio::select! {
                        () = self.issuing.wait_queued() => {}
                        () = self.clock.sleep_until(at) => {}
                    }
                }
                None => self.issuing.wait_queued().await,
            }
        }
    }

    /// Sends what is due now, each document on its own.
    pub async fn pass(&self) -> Result<Pass, DbError> {
        let now = self.clock.now();
        let (provider, due) = db::run(&self.pool, move |conn| due_now(conn, now)).await??;
        let mut pass = Pass::default();
        let Some(provider) = provider.map(|named| self.provider(named)) else {
            // Nothing can be sent until the settings change (which tells).
            return Ok(pass);
        };
        for document in due {
            let answer = if document.kind == DteKind::NotaCredito && document.refers_to.is_none() {
                // Its boleta never became a document: nothing to undo.
                Ok(Answer::Rejected {
                    reason: NOTHING_TO_UNDO.into(),
                })
            } else {
                let asked = async {
                    match document.status {
                        DocumentStatus::Enviada => provider.poll(&document).await,
                        _ => provider.send(&document).await,
                    }
                };
                self.clock
                    .timeout(SEND_TIMEOUT, asked)
                    .await
                    .unwrap_or_else(|_| {
                        Err(ProviderError::Unavailable(format!(
                            "sin respuesta en {} s",
                            SEND_TIMEOUT.as_secs()
                        )))
                    })
            };
            match &answer {
                Ok(_) => pass.sent += 1,
                Err(err) => {
                    pass.failed += 1;
                    tracing::info!(document = document.id, error = %err, "boleta not sent; sent again later");
                }
            }
            let at = self.clock.now();
            db::run(&self.pool, move |conn| settle(conn, &document, answer, at)).await??;
        }
        let (next_due, summary) = db::run(&self.pool, |conn| {
            Ok::<_, diesel::result::Error>((document::next_due(conn)?, summary(conn)?))
        })
        .await??;
        pass.next_due = next_due;
        self.summary.send_if_modified(|was| {
            let changed = *was != summary;
            *was = summary;
            changed
        });
        Ok(pass)
    }

    fn provider(&self, (kind, url): (ProviderKind, Option<String>)) -> Provider {
        match (kind, url) {
            (ProviderKind::Http, Some(url)) => {
                Provider::Http(Http::new(&url, self.api_key.clone(), SEND_TIMEOUT))
            }
            _ => Provider::Simulated(self.simulated.clone()),
        }
    }
}

/// The provider the settings name and the documents due, when the
/// emisor is whole (documents of a venue that stopped issuing are still
/// sent: their sales were made while it issued).
fn due_now(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
) -> QueryResult<(Option<Named>, Vec<Document>)> {
    let settings = settings::load(conn)?;
    let Some(emisor) = Emisor::of(&settings) else {
        return Ok((None, Vec::new()));
    };
    // An HTTP provider with no address cannot be switched on (the form
    // and the database refuse it); until it has one nothing is sent.
    if settings.provider == ProviderKind::Http && settings.provider_url.is_none() {
        return Ok((None, Vec::new()));
    }
    let due = document::due(conn, &emisor, now, BATCH)?;
    Ok((Some((settings.provider, settings.provider_url)), due))
}

/// The provider the settings name, and its address.
type Named = (ProviderKind, Option<String>);

/// How many times `document` was sent or asked about.
fn document_attempts(conn: &mut PgConnection, document: &Document) -> QueryResult<i32> {
    tax_documents::table
        .find(document.id)
        .select(tax_documents::attempts)
        .first(conn)
}

/// The wait before the next send of a document that failed `attempts` times.
pub fn wait_after(attempts: i32) -> Duration {
    let doublings = u32::try_from(attempts.saturating_sub(1))
        .unwrap_or(0)
        .min(16);
    FIRST_WAIT.saturating_mul(1 << doublings).min(LONGEST_WAIT)
}

/// Keeps what the provider answered (or that it did not), only over a
/// document still pending: a second worker's answer is not written twice.
fn settle(
    conn: &mut PgConnection,
    document: &Document,
    answer: Result<Answer, ProviderError>,
    at: DateTime<Utc>,
) -> QueryResult<usize> {
    let row = tax_documents::table
        .find(document.id)
        .filter(tax_documents::status.eq(document.status));
    let tried = tax_documents::attempts.eq(tax_documents::attempts + 1);
    match answer {
        Ok(Answer::Accepted { folio, link }) => diesel::update(row)
            .set((
                tried,
                tax_documents::status.eq(DocumentStatus::Aceptada),
                tax_documents::folio.eq(folio),
                tax_documents::link.eq(link),
                tax_documents::last_error.eq(None::<String>),
                tax_documents::sent_at.eq(at),
                tax_documents::decided_at.eq(at),
            ))
            .execute(conn),
        Ok(Answer::Queued { track_id }) => {
            // Asked about again, less often the longer the SII takes.
            let waited = wait_after(document_attempts(conn, document)? + 1);
            let next =
                at + chrono::Duration::from_std(waited).unwrap_or(chrono::Duration::seconds(300));
            let queued = (
                tried,
                tax_documents::status.eq(DocumentStatus::Enviada),
                tax_documents::track_id.eq(track_id),
                tax_documents::last_error.eq(None::<String>),
                tax_documents::next_try_at.eq(next),
            );
            match document.status {
                // Sent when first queued.
                DocumentStatus::Pendiente => diesel::update(row)
                    .set((queued, tax_documents::sent_at.eq(at)))
                    .execute(conn),
                _ => diesel::update(row).set(queued).execute(conn),
            }
        }
        Ok(Answer::Rejected { reason }) => diesel::update(row)
            .set((
                tried,
                tax_documents::status.eq(DocumentStatus::Rechazada),
                tax_documents::reason.eq(reason),
                tax_documents::sent_at.eq(at),
                tax_documents::decided_at.eq(at),
            ))
            .execute(conn),
        Err(err) => {
            let attempts = document_attempts(conn, document)? + 1;
            let next = at
                + chrono::Duration::from_std(wait_after(attempts))
                    .unwrap_or(chrono::Duration::seconds(300));
            diesel::update(row)
                .set((
                    tried,
                    tax_documents::last_error.eq(err.to_string()),
                    tax_documents::next_try_at.eq(next),
                ))
                .execute(conn)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_provider_is_tried_again_less_often_but_never_given_up() {
        let waits: Vec<u64> = (1..=12).map(|n| wait_after(n).as_secs()).collect();
        assert_eq!(waits, [2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300, 300]);
        assert_eq!(wait_after(i32::MAX), LONGEST_WAIT);
        assert_eq!(wait_after(0), FIRST_WAIT);
    }
}
