//! The card terminal a caja is configured with (`pos_registers.terminal`):
//! driven by hand (the cashier confirms what the terminal showed) or
//! simulated by the hub. The terminals themselves are `payments::terminal`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::domain::PaymentProvider;
use crate::text_enum;

text_enum! {
    /// What a simulated terminal does with a charge.
    SimulatedBehavior {
        Approve = "approve" => "Aprueba",
        Decline = "decline" => "Rechaza la tarjeta",
        Fail = "fail" => "Falla",
        Hang = "hang" => "No responde",
        Random = "random" => "Al azar (90 % aprueba)",
    }
}

/// How a caja's terminal is driven. Stored as JSONB.
#[derive(
    Debug,
    Clone,
    Default,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    diesel::AsExpression,
    diesel::FromSqlRow,
)]
#[diesel(sql_type = diesel::sql_types::Jsonb)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum TerminalConfig {
    #[default]
    Manual,
    Simulated {
        latency_ms: u32,
        providers: BTreeMap<PaymentProvider, SimulatedBehavior>,
    },
}

crate::jsonb_column!(TerminalConfig);

/// The longest latency a simulated terminal may be given.
pub const MAX_LATENCY_MS: u32 = 120_000;

impl TerminalConfig {
    pub fn is_manual(&self) -> bool {
        matches!(self, TerminalConfig::Manual)
    }

    /// "Manual", "Simulado: GETNET no responde, KLAP aprueba".
    pub fn summary(&self) -> String {
        match self {
            TerminalConfig::Manual => "Manual (el cajero confirma)".to_owned(),
            TerminalConfig::Simulated { providers, .. } => {
                let parts: Vec<String> = providers
                    .iter()
                    .map(|(provider, behavior)| {
                        format!("{provider} {}", behavior.label().to_lowercase())
                    })
                    .collect();
                format!("Simulado: {}", parts.join(", "))
            }
        }
    }

    /// Parses `GETNET=hang,KLAP=approve` (the `--simulate-terminals` flag):
    /// every caja's terminal simulated that way.
    pub fn parse_simulation(spec: &str) -> Result<Self, String> {
        let mut providers = BTreeMap::new();
        let mut latency_ms = 1_500;
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, value) = part
                .split_once('=')
                .ok_or_else(|| format!("{part:?}: write PROVIDER=behavior or latency=MS"))?;
            if name.trim().eq_ignore_ascii_case("latency") {
                latency_ms = value
                    .trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|ms| *ms <= MAX_LATENCY_MS)
                    .ok_or_else(|| {
                        format!("latency {value:?}: milliseconds up to {MAX_LATENCY_MS}")
                    })?;
                continue;
            }
            let provider: PaymentProvider = name
                .trim()
                .to_uppercase()
                .parse()
                .map_err(|_| format!("{name:?} is not GETNET or KLAP"))?;
            let behavior: SimulatedBehavior =
                value.trim().to_lowercase().parse().map_err(|_| {
                    format!("{value:?}: use approve, decline, fail, hang or random")
                })?;
            providers.insert(provider, behavior);
        }
        if providers.is_empty() {
            return Err("name at least one provider, e.g. GETNET=approve".into());
        }
        Ok(TerminalConfig::Simulated {
            latency_ms,
            providers,
        })
    }
}
