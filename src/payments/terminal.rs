//! The terminals that charge cards, behind one trait. Each caja says how
//! its terminal is driven (`pos_registers.terminal`):
//!
//! - **manual**: the cashier runs the standalone terminal and confirms on
//!   the POS what it showed (approved with its authorization code,
//!   declined, failed); the hub only watches the clock;
//! - **simulated**: the hub plays the terminal, with a latency and an
//!   outcome per provider, for the demo, the tests and the load tests.
//!
//! A real GETNET or KLAP integration is one more type implementing
//! [`Terminal`]. Card numbers never reach the hub: a terminal is told an
//! amount and answers a code and a reference.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::cajas::domain::PaymentProvider;
use crate::cajas::terminal::{SimulatedBehavior, TerminalConfig};
use crate::clock::Clock;

impl TerminalConfig {
    /// The adapter that drives it.
    pub fn terminal(&self) -> Box<dyn Terminal> {
        match self {
            TerminalConfig::Manual => Box::new(Manual),
            TerminalConfig::Simulated {
                latency_ms,
                providers,
            } => Box::new(Simulated {
                latency: Duration::from_millis(u64::from(*latency_ms)),
                providers: providers.clone(),
            }),
        }
    }
}

/// The code a simulated terminal prints for a refund it makes at once.
pub fn simulated_refund_code() -> String {
    let id = uuid::Uuid::new_v4().simple().to_string().to_uppercase();
    format!("DEV{}", &id[..6])
}

/// A charge a terminal is asked to make.
#[derive(Debug, Clone)]
pub struct Charge {
    pub attempt_id: i64,
    pub provider: PaymentProvider,
    pub amount: i64,
    /// When the cashier started it (a simulated latency counts from here).
    pub started_at: chrono::DateTime<chrono::Utc>,
}

/// What a terminal answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Approved {
        authorization_code: String,
        reference: String,
    },
    Declined(String),
    Failed(String),
}

pub type Pending = Pin<Box<dyn Future<Output = Answer> + Send>>;

/// A provider's terminal.
pub trait Terminal: Send {
    /// Starts `charge`. `None` when the hub cannot hear the terminal (the
    /// cashier reports its answer); otherwise the answer, when it comes
    /// (it may never come: the caja's deadline then decides).
    fn start(&self, charge: &Charge, clock: &Clock) -> Option<Pending>;
}

/// The cashier reports what the standalone terminal showed.
pub struct Manual;

impl Terminal for Manual {
    fn start(&self, _: &Charge, _: &Clock) -> Option<Pending> {
        None
    }
}

/// Plays a terminal: answers after the latency (on the hub's clock) as
/// configured for the provider; `random` approves nine in ten and is
/// decided by the attempt's id, so a run can be repeated.
pub struct Simulated {
    latency: Duration,
    providers: BTreeMap<PaymentProvider, SimulatedBehavior>,
}

impl Terminal for Simulated {
    fn start(&self, charge: &Charge, clock: &Clock) -> Option<Pending> {
        let behavior = self
            .providers
            .get(&charge.provider)
            .copied()
            .unwrap_or(SimulatedBehavior::Approve);
        let behavior = match behavior {
            SimulatedBehavior::Random => {
                match charge.attempt_id.wrapping_mul(2_654_435_761) % 100 {
                    0..=89 => SimulatedBehavior::Approve,
                    90..=94 => SimulatedBehavior::Decline,
                    95..=97 => SimulatedBehavior::Fail,
                    _ => SimulatedBehavior::Hang,
                }
            }
            other => other,
        };
        let (clock, latency, charge) = (clock.clone(), self.latency, charge.clone());
        Some(Box::pin(async move {
            let latency = chrono::Duration::from_std(latency).unwrap_or(chrono::Duration::MAX);
            clock.sleep_until(charge.started_at + latency).await;
            match behavior {
                SimulatedBehavior::Approve | SimulatedBehavior::Random => Answer::Approved {
                    authorization_code: format!("{:06}", (charge.attempt_id * 7_919) % 1_000_000),
                    reference: format!("SIM-{}-{}", charge.provider, charge.attempt_id),
                },
                SimulatedBehavior::Decline => {
                    Answer::Declined("Tarjeta rechazada por el emisor (simulado).".into())
                }
                SimulatedBehavior::Fail => {
                    Answer::Failed("El terminal no pudo comunicarse (simulado).".into())
                }
                SimulatedBehavior::Hang => std::future::pending().await,
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_simulation_flag_is_read_strictly() {
        let config =
            TerminalConfig::parse_simulation("GETNET=hang, klap=approve, latency=200").unwrap();
        assert_eq!(
            config,
            TerminalConfig::Simulated {
                latency_ms: 200,
                providers: [
                    (PaymentProvider::Getnet, SimulatedBehavior::Hang),
                    (PaymentProvider::Klap, SimulatedBehavior::Approve)
                ]
                .into(),
            }
        );
        for bad in [
            "",
            "GETNET",
            "VISA=approve",
            "GETNET=maybe",
            "latency=-1,GETNET=approve",
        ] {
            assert!(TerminalConfig::parse_simulation(bad).is_err(), "{bad}");
        }
        let stored: TerminalConfig = serde_json::from_str(r#"{"mode": "manual"}"#).unwrap();
        assert!(stored.is_manual());
    }

    #[tokio::test]
    async fn a_simulated_terminal_answers_after_its_latency_on_the_clock() {
        let (clock, manual) = Clock::manual();
        let config =
            TerminalConfig::parse_simulation("GETNET=approve,KLAP=fail,latency=1000").unwrap();
        let terminal = config.terminal();
        let charge = |provider| Charge {
            attempt_id: 7,
            provider,
            amount: 1_000,
            started_at: clock.now(),
        };
        let approved = tokio::spawn(
            terminal
                .start(&charge(PaymentProvider::Getnet), &clock)
                .unwrap(),
        );
        let failed = tokio::spawn(
            terminal
                .start(&charge(PaymentProvider::Klap), &clock)
                .unwrap(),
        );
        tokio::task::yield_now().await;
        assert!(!approved.is_finished());
        manual.advance(Duration::from_secs(1));
        assert!(matches!(approved.await.unwrap(), Answer::Approved { .. }));
        assert!(matches!(failed.await.unwrap(), Answer::Failed(_)));
        assert!(
            TerminalConfig::Manual
                .terminal()
                .start(&charge(PaymentProvider::Getnet), &clock)
                .is_none()
        );
    }
}
