//! The venue's view of its card providers. When payments on one provider
//! fail on several cajas within a short window, the provider is declared
//! out of service for the whole venue (a row of `provider_outages`) and
//! every caja that uses it moves to its backup at once. The outage ends
//! after a cool-down without new failures, when a payment on it is
//! approved anywhere, or when a supervisor says so (audited); a supervisor
//! may also declare one. The open outages are published on a `watch`
//! channel that every register actor follows.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use tokio::sync::watch;

use super::health::Outage;
use crate::audit::{self, Action, Actor};
use crate::cajas::CajaId;
use crate::cajas::domain::PaymentProvider;
use crate::clock::{Backoff, Clock};
use crate::db::schema::provider_outages;
use crate::db::{self, DbError, PgPool};

/// When the venue declares a provider out, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutageRules {
    /// Distinct cajas whose payments on the provider failed ...
    pub cajas: usize,
    /// ... within this window.
    pub window: Duration,
    /// An outage (and a caja's own failure) weighs this long without a new failure.
    pub cooldown: Duration,
}

impl Default for OutageRules {
    fn default() -> Self {
        Self {
            cajas: 3,
            window: Duration::from_secs(5 * 60),
            cooldown: Duration::from_secs(5 * 60),
        }
    }
}

#[derive(Default)]
struct Failures {
    /// Each provider's recent failures: which caja, when.
    recent: BTreeMap<PaymentProvider, Vec<(CajaId, DateTime<Utc>)>>,
}

pub struct Venue {
    pool: PgPool,
    clock: Clock,
    pub rules: OutageRules,
    outages: watch::Sender<Arc<Vec<Outage>>>,
    failures: Mutex<Failures>,
    /// When a supervisor last declared each provider back in service: every
    /// caja's own failures before it stop weighing ("Marcar operativo").
    cleared: Mutex<Cleared>,
}

/// When each provider was last declared back in service by a supervisor.
pub type Cleared = BTreeMap<PaymentProvider, DateTime<Utc>>;

/// Why a supervisor's change to an outage was not made.
#[derive(Debug, thiserror::Error)]
pub enum OutageError {
    #[error("the provider is already out of service")]
    AlreadyOut,
    #[error("the provider is not out of service")]
    NotOut,
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for OutageError {
    fn from(err: diesel::result::Error) -> Self {
        OutageError::Db(DbError::Query(err))
    }
}

impl Venue {
    /// The venue with the outages still open in the database.
    pub async fn load(
        pool: PgPool,
        clock: Clock,
        rules: OutageRules,
    ) -> Result<Arc<Self>, DbError> {
        let open = db::run(&pool, open_outages).await??;
        let cleared = db::run(&pool, last_cleared).await??;
        let venue = Arc::new(Self {
            pool,
            clock,
            rules,
            outages: watch::Sender::new(Arc::new(open.clone())),
            failures: Mutex::default(),
            cleared: Mutex::new(cleared),
        });
        for outage in open {
            venue.end_after_cooldown(outage.provider, outage.id);
        }
        Ok(venue)
    }

    pub fn outages(&self) -> Arc<Vec<Outage>> {
        self.outages.borrow().clone()
    }

    pub fn cleared(&self) -> Cleared {
        self.cleared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn follow(&self) -> watch::Receiver<Arc<Vec<Outage>>> {
        self.outages.subscribe()
    }

    fn is_out(&self, provider: PaymentProvider) -> bool {
        self.outages().iter().any(|o| o.provider == provider)
    }

    /// A payment on `provider` failed on caja `register` (its primary):
    /// with enough cajas failing within the window, the venue declares it out.
    pub async fn primary_failed(
        self: &Arc<Self>,
        provider: PaymentProvider,
        register: CajaId,
        at: DateTime<Utc>,
    ) {
        let failing_cajas = {
            let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
            let window =
                chrono::Duration::from_std(self.rules.window).unwrap_or(chrono::Duration::MAX);
            let recent = failures.recent.entry(provider).or_default();
            recent.retain(|(_, when)| at - *when < window);
            recent.push((register, at));
            let mut cajas: Vec<CajaId> = recent.iter().map(|(caja, _)| *caja).collect();
            cajas.sort();
            cajas.dedup();
            cajas.len()
        };
        if failing_cajas >= self.rules.cajas && !self.is_out(provider) {
            let reason = format!(
                "{provider} falló en {failing_cajas} cajas en {}",
                in_words(self.rules.window)
            );
            self.until_written("declare a provider outage", provider, || {
                self.declare(provider, reason.clone(), None)
            })
            .await;
        }
    }

    /// A payment on `provider` was approved: it works, so its outage ends.
    pub async fn approved(self: &Arc<Self>, provider: PaymentProvider) {
        if self.is_out(provider) {
            let reason = format!("un pago con {provider} fue aprobado");
            self.until_written("end a provider outage", provider, || {
                self.end(provider, reason.clone(), None)
            })
            .await;
        }
    }

    /// Declares `provider` out of service (by a supervisor when `by`).
    pub async fn declare(
        self: &Arc<Self>,
        provider: PaymentProvider,
        reason: String,
        by: Option<Actor>,
    ) -> Result<(), OutageError> {
        let at = self.clock.now();
        let started_by = by.as_ref().and_then(|actor| actor.id.map(|id| id.0));
        let stored_reason = reason.clone();
        let outage = db::run(&self.pool, move |conn| {
            conn.transaction(|conn| {
                let inserted = diesel::insert_into(provider_outages::table)
                    .values((
                        provider_outages::provider.eq(provider),
                        provider_outages::started_at.eq(at),
                        provider_outages::reason.eq(&stored_reason),
                        provider_outages::started_by.eq(started_by),
                    ))
                    .on_conflict_do_nothing()
                    .returning(provider_outages::id)
                    .get_result::<i64>(conn)
                    .optional()?;
                let Some(id) = inserted else {
                    return Ok(None);
                };
                if let Some(actor) = &by {
                    audit::record(
                        conn,
                        actor,
                        Action::ProviderDeclaredDown,
                        provider,
                        None::<&()>,
                        Some(&stored_reason),
                    )?;
                }
                Ok::<_, diesel::result::Error>(Some(Outage {
                    id,
                    provider,
                    started_at: at,
                    reason: stored_reason,
                }))
            })
        })
        .await??
        .ok_or(OutageError::AlreadyOut)?;
        tracing::warn!(%provider, reason = %outage.reason, "provider declared out of service for the venue");
        let id = outage.id;
        self.outages.send_modify(|open| {
            let mut list = (**open).clone();
            list.push(outage);
            *open = Arc::new(list);
        });
        self.end_after_cooldown(provider, id);
        Ok(())
    }

    /// Ends `provider`'s outage (by a supervisor when `by`).
    pub async fn end(
        self: &Arc<Self>,
        provider: PaymentProvider,
        reason: String,
        by: Option<Actor>,
    ) -> Result<(), OutageError> {
        let at = self.clock.now();
        let ended_by = by.as_ref().and_then(|actor| actor.id.map(|id| id.0));
        let ended = db::run(&self.pool, move |conn| {
            conn.transaction(|conn| {
                let ended = diesel::update(
                    provider_outages::table
                        .filter(provider_outages::provider.eq(provider))
                        .filter(provider_outages::ended_at.is_null()),
                )
                .set((
                    provider_outages::ended_at.eq(at),
                    provider_outages::end_reason.eq(&reason),
                    provider_outages::ended_by.eq(ended_by),
                ))
                .execute(conn)?;
                if ended == 1
                    && let Some(actor) = &by
                {
                    audit::record(
                        conn,
                        actor,
                        Action::ProviderDeclaredUp,
                        provider,
                        None::<&()>,
                        Some(&reason),
                    )?;
                }
                Ok::<_, diesel::result::Error>(ended == 1)
            })
        })
        .await??;
        if !ended {
            return Err(OutageError::NotOut);
        }
        tracing::info!(%provider, "provider back in service for the venue");
        if ended_by.is_some() {
            // Before the cajas hear of it (the outages' watch): they
            // reevaluate with it.
            self.cleared
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(provider, at);
        }
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .recent
            .remove(&provider);
        self.outages.send_modify(|open| {
            *open = Arc::new(
                open.iter()
                    .filter(|o| o.provider != provider)
                    .cloned()
                    .collect(),
            );
        });
        Ok(())
    }

    /// Ends outage `id` once the cool-down passes without a new failure of
    /// its provider (every new failure pushes the end back).
    fn end_after_cooldown(self: &Arc<Self>, provider: PaymentProvider, id: i64) {
        let venue = Arc::downgrade(self);
        actix_web::rt::spawn(async move {
            loop {
                let Some(this) = venue.upgrade() else { return };
                let last_failure = this
                    .failures
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .recent
                    .get(&provider)
                    .and_then(|failures| failures.iter().map(|(_, at)| *at).max());
                let started = this
                    .outages()
                    .iter()
                    .find(|o| o.id == id)
                    .map(|o| o.started_at);
                let Some(started) = started else { return };
                let quiet_since = last_failure.map_or(started, |failed| failed.max(started));
                let cooldown = chrono::Duration::from_std(this.rules.cooldown)
                    .unwrap_or(chrono::Duration::MAX);
                let ends_at = quiet_since + cooldown;
                let now = this.clock.now();
                if now >= ends_at {
                    let reason = format!(
                        "sin fallas de {provider} en {}",
                        in_words(this.rules.cooldown)
                    );
                    this.until_written("end a provider outage", provider, || {
                        this.end(provider, reason.clone(), None)
                    })
                    .await;
                    return;
                }
                let clock = this.clock.clone();
                drop(this);
                clock.sleep_until(ends_at).await;
            }
        });
    }
}

impl Venue {
    /// Runs `write` until the database takes it (or finds it done already:
    /// the outage was declared or ended meanwhile), on a backoff of ¼ s
    /// doubling to 5 s on the hub's clock, like a caja's probe: a database
    /// blip must not leave the venue on its backup, nor off it.
    async fn until_written<F, W>(&self, what: &'static str, provider: PaymentProvider, write: W)
    where
        W: Fn() -> F,
        F: Future<Output = Result<(), OutageError>>,
    {
        let mut backoff = Backoff::new();
        let mut failures = 0u32;
        loop {
            match write().await {
                Ok(()) | Err(OutageError::AlreadyOut | OutageError::NotOut) => {
                    if failures > 0 {
                        tracing::info!(%provider, failures, "{what}: written after retrying");
                    }
                    return;
                }
                Err(OutageError::Db(err)) => {
                    failures += 1;
                    tracing::warn!(%provider, error = ?err, retry_in = ?backoff.peek(), "could not {what}; retrying");
                }
            }
            self.clock.sleep(backoff.next_wait()).await;
        }
    }
}

/// "4 s", "5 min", "1 min 30 s": a duration as a person says it, never
/// rounded to a unit it is not in.
pub fn in_words(duration: Duration) -> String {
    let seconds = duration.as_secs();
    match (seconds / 60, seconds % 60) {
        (0, s) => format!("{s} s"),
        (m, 0) => format!("{m} min"),
        (m, s) => format!("{m} min {s} s"),
    }
}

/// When a supervisor last ended each provider's outage.
fn last_cleared(conn: &mut PgConnection) -> QueryResult<Cleared> {
    let rows: Vec<(PaymentProvider, Option<DateTime<Utc>>)> = provider_outages::table
        .filter(provider_outages::ended_by.is_not_null())
        .group_by(provider_outages::provider)
        .select((
            provider_outages::provider,
            diesel::dsl::max(provider_outages::ended_at),
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(provider, at)| Some((provider, at?)))
        .collect())
}

fn open_outages(conn: &mut PgConnection) -> QueryResult<Vec<Outage>> {
    provider_outages::table
        .filter(provider_outages::ended_at.is_null())
        .order(provider_outages::started_at)
        .select((
            provider_outages::id,
            provider_outages::provider,
            provider_outages::started_at,
            provider_outages::reason,
        ))
        .load::<(i64, PaymentProvider, DateTime<Utc>, String)>(conn)
        .map(|rows| {
            rows.into_iter()
                .map(|(id, provider, started_at, reason)| Outage {
                    id,
                    provider,
                    started_at,
                    reason,
                })
                .collect()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_words_say_seconds_when_they_are_seconds() {
        for (seconds, words) in [
            (4, "4 s"),
            (59, "59 s"),
            (60, "1 min"),
            (90, "1 min 30 s"),
            (300, "5 min"),
        ] {
            assert_eq!(in_words(Duration::from_secs(seconds)), words);
        }
    }
}
