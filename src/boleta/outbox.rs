//! The outbox's worker: sends each pending document to the provider with
//! its idempotency key, and keeps what the provider answered. It looks
//! when a caja commits a document (told through `Issuing`), when a
//! retry's wait is over, and once at start; never while nothing is due. A document
//! whose provider does not answer is sent again later, waiting longer
//! each time up to `LONGEST_WAIT`, for as long as it takes; nothing here
//! touches a sale, so an outage never slows one (docs/architecture.md
//! rule 20). Documents live in the database: a restart, even a kill, only
//! delays them, and a second send of a key issues nothing more.

use std::sync::{Arc, Mutex};
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
    /// As of the last look (the floor and /metrics read it), and when.
    summary: watch::Sender<Summary>,
    summary_at: Mutex<Option<DateTime<Utc>>>,
    /// The provider failed: nothing is sent before then.
    rest: Mutex<Option<DateTime<Utc>>>,
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
    AND NOT (d.kind IN (39, 41) AND s.voided_at IS NOT NULL)";

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
            summary_at: Mutex::new(None),
            rest: Mutex::new(None),
            simulated: Arc::new(Simulated::new(1..=i64::from(i32::MAX))),
            api_key,
        }
    }

    /// Someone says the provider may be back (a supervisor sends a
    /// rejected boleta again, an admin changes the settings): the outbox
    /// stops resting and looks at once.
    pub fn try_now(&self) {
        self.rest_until(None);
        self.issuing.queued();
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
        if let Some(until) = self.resting().filter(|until| *until > now) {
            // The provider failed: nothing is sent until it has rested, and
            // each sale meanwhile costs the outbox nothing but, once a
            // second, a count for the floor and /metrics.
            if self.summarized_before(now) {
                let summary = db::run(&self.pool, summary).await??;
                self.summarized(summary, now);
            }
            return Ok(Pass {
                next_due: Some(until),
                ..Pass::default()
            });
        }
        let (provider, due) = db::run(&self.pool, move |conn| due_now(conn, now)).await??;
        let mut pass = Pass::default();
        let Some(provider) = provider.map(|named| self.provider(named)) else {
            // Nothing can be sent until the settings change (which tells).
            return Ok(pass);
        };
        let mut answers = Vec::with_capacity(due.len());
        for document in &due {
            let answer = if document.kind == DteKind::NotaCredito && document.refers_to.is_none() {
                // Its boleta never became a document: nothing to undo.
                Ok(Answer::Rejected {
                    reason: NOTHING_TO_UNDO.into(),
                })
            } else {
                let asked = async {
                    match document.status {
                        DocumentStatus::Enviada => provider.poll(document).await,
                        _ => provider.send(document).await,
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
            let unavailable = matches!(answer, Err(ProviderError::Unavailable(_)));
            match &answer {
                Ok(_) => pass.sent += 1,
                Err(err) => {
                    pass.failed += 1;
                    tracing::info!(document = document.id, error = %err, "boleta not sent; sent again later");
                }
            }
            answers.push((Waiting::from(document), answer));
            if unavailable {
                // The rest would find it down too: they wait with this one.
                break;
            }
        }
        // What the provider said, kept in one commit.
        let at = self.clock.now();
        let (next_due, summary, rest) = db::run(&self.pool, move |conn| {
            conn.transaction(|conn| {
                let mut rest = None;
                for (waiting, answer) in answers {
                    if let Some(next_try) = settle(conn, waiting, answer, at)? {
                        rest = Some(next_try);
                    }
                }
                Ok::<_, diesel::result::Error>((document::next_due(conn)?, summary(conn)?, rest))
            })
        })
        .await??;
        self.rest_until(rest);
        self.summarized(summary, at);
        pass.next_due = rest.or(next_due);
        Ok(pass)
    }

    fn resting(&self) -> Option<DateTime<Utc>> {
        *self
            .rest
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn rest_until(&self, until: Option<DateTime<Utc>>) {
        *self
            .rest
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = until;
    }

    /// Whether the summary was last read more than a second before `now`.
    fn summarized_before(&self, now: DateTime<Utc>) -> bool {
        let at = *self
            .summary_at
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        at.is_none_or(|at| now - at >= chrono::Duration::seconds(1))
    }

    fn summarized(&self, summary: Summary, at: DateTime<Utc>) {
        *self
            .summary_at
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(at);
        self.summary.send_if_modified(|was| {
            let changed = *was != summary;
            *was = summary;
            changed
        });
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

/// A document waiting for its provider's answer, as it was read.
#[derive(Debug, Clone, Copy)]
pub struct Waiting {
    pub id: i64,
    pub status: DocumentStatus,
}

impl From<&Document> for Waiting {
    fn from(document: &Document) -> Self {
        Self {
            id: document.id,
            status: document.status,
        }
    }
}

/// How many times `document` was sent or asked about.
fn document_attempts(conn: &mut PgConnection, document: Waiting) -> QueryResult<i32> {
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
/// Returns, when the provider did not answer, when it is tried again.
pub fn settle(
    conn: &mut PgConnection,
    document: Waiting,
    answer: Result<Answer, ProviderError>,
    at: DateTime<Utc>,
) -> QueryResult<Option<DateTime<Utc>>> {
    let row = tax_documents::table
        .find(document.id)
        .filter(tax_documents::status.eq(document.status));
    let tried = tax_documents::attempts.eq(tax_documents::attempts + 1);
    let written = match answer {
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
                .execute(conn)?;
            // A provider that is away rests the outbox; an answer that did
            // not read is this document's alone.
            return Ok(matches!(err, ProviderError::Unavailable(_)).then_some(next));
        }
    };
    written.map(|_| None)
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
