//! A simulated DTE provider, for the demo, the tests and the load tests:
//! folios from a range, one for each DTE type as the SII authorizes
//! them (its CAF), duplicate detection by idempotency key (a key
//! sent again gets its first answer and issues nothing), outages, and
//! rejections of the totals it is told to reject. It issues nothing
//! before the SII.

use std::collections::HashMap;
use std::ops::RangeInclusive;
use std::sync::Mutex;

use uuid::Uuid;

use super::document::{Document, DteKind};
use super::provider::{Answer, ProviderError};

/// What it issued under one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    pub answer: Answer,
    pub total: i64,
    /// How many times the key was sent (a retry after a lost answer).
    pub sends: u32,
}

#[derive(Debug)]
struct State {
    folios: RangeInclusive<i64>,
    /// The next folio of each type that issued one.
    next_folio: HashMap<i16, i64>,
    issued: HashMap<Uuid, Issued>,
    down: bool,
    rejected_totals: Vec<i64>,
    /// Answers to lose after issuing (the connection cut on the way back).
    answers_to_lose: u32,
}

impl State {
    /// The next folio of `kind`'s range, if one is left.
    fn take_folio(&mut self, kind: DteKind) -> Option<i64> {
        let first = *self.folios.start();
        let next = self.next_folio.entry(kind.code()).or_insert(first);
        let folio = *next;
        (folio <= *self.folios.end()).then(|| {
            *next += 1;
            folio
        })
    }
}

#[derive(Debug)]
pub struct Simulated {
    state: Mutex<State>,
}

/// The address of a simulated document (nothing answers there).
const LINK: &str = "https://dte.simulado.invalid/boleta/";

impl Simulated {
    pub fn new(folios: RangeInclusive<i64>) -> Self {
        Simulated {
            state: Mutex::new(State {
                folios,
                next_folio: HashMap::new(),
                issued: HashMap::new(),
                down: false,
                rejected_totals: Vec::new(),
                answers_to_lose: 0,
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic elsewhere while holding it leaves nothing half-done here.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// An outage (`true`) or its end.
    pub fn set_down(&self, down: bool) {
        self.state().down = down;
    }

    /// Documents of `total` are rejected from now on.
    pub fn reject_total(&self, total: i64) {
        self.state().rejected_totals.push(total);
    }

    /// Documents of any total are issued again (the cause was corrected).
    pub fn stop_rejecting(&self) {
        self.state().rejected_totals.clear();
    }

    /// The next `count` documents are issued but their answers lost on
    /// the way back, as when the connection drops after the provider acted.
    pub fn lose_answers(&self, count: u32) {
        self.state().answers_to_lose = count;
    }

    /// What it issued, by key.
    pub fn issued(&self) -> HashMap<Uuid, Issued> {
        self.state().issued.clone()
    }

    pub fn send(&self, document: &Document) -> Result<Answer, ProviderError> {
        let mut state = self.state();
        if state.down {
            return Err(ProviderError::Unavailable("sin servicio (simulado)".into()));
        }
        if let Some(known) = state.issued.get_mut(&document.idempotency_key) {
            known.sends += 1;
            return Ok(known.answer.clone());
        }
        let answer = if state.rejected_totals.contains(&document.total) {
            Answer::Rejected {
                reason: format!("monto {} rechazado (rechazo simulado)", document.total),
            }
        } else if let Some(folio) = state.take_folio(document.kind) {
            Answer::Accepted {
                folio,
                link: format!("{LINK}{}", document.idempotency_key),
            }
        } else {
            Answer::Rejected {
                reason: "no quedan folios autorizados (CAF agotado)".into(),
            }
        };
        state.issued.insert(
            document.idempotency_key,
            Issued {
                answer: answer.clone(),
                total: document.total,
                sends: 1,
            },
        );
        if state.answers_to_lose > 0 {
            state.answers_to_lose -= 1;
            return Err(ProviderError::Unavailable(
                "se cortó la conexión antes de la respuesta (simulado)".into(),
            ));
        }
        Ok(answer)
    }
}
