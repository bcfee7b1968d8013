//! The caja form as typed by an admin, and its parsing into a [`CajaConfig`]
//! with one message per field that is wrong.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::domain::{
    BackupPhones, CajaCode, CajaConfig, CajaName, CajaType, FallbackPolicy, FallbackSeconds,
    Invalid, OperationalStatus, PaymentProvider, Providers,
};
use super::model::Caja;
use super::terminal::{MAX_LATENCY_MS, SimulatedBehavior, TerminalConfig};
use crate::web::FieldErrors;

/// The form's fields exactly as submitted, kept to show them back on error.
/// Every field defaults to empty, so a missing one is reported like an empty one.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct CajaForm {
    pub name: String,
    pub code: String,
    pub register_type: String,
    pub payment_provider_primary: String,
    pub payment_provider_backup: String,
    pub operational_status: String,
    pub fallback_enabled: Option<String>,
    pub fallback_max_seconds: String,
    pub fallback_backup_phones: String,
    pub blind_count: Option<String>,
    /// Pesos; empty for no limit.
    pub max_cash_difference: String,
    /// `manual` or `simulated`.
    pub terminal_mode: String,
    pub terminal_latency_ms: String,
    /// What a simulated terminal does on each provider.
    pub terminal_getnet: String,
    pub terminal_klap: String,
    /// The version the edit started from (edit form only).
    pub version: String,
}

impl CajaForm {
    /// The form for a new caja: the venue's usual setup.
    pub fn blank() -> Self {
        let policy = FallbackPolicy::default();
        Self {
            register_type: CajaType::Humana.as_str().into(),
            payment_provider_primary: PaymentProvider::Getnet.as_str().into(),
            payment_provider_backup: PaymentProvider::Klap.as_str().into(),
            operational_status: OperationalStatus::Active.as_str().into(),
            fallback_enabled: None,
            fallback_max_seconds: policy.max_seconds.get().to_string(),
            fallback_backup_phones: policy.backup_phones.get().to_string(),
            max_cash_difference: "5000".into(),
            ..Self::default()
        }
        .with_terminal(&TerminalConfig::Manual)
    }

    /// The terminal fields showing `terminal` (a manual one keeps the
    /// simulation's defaults, to switch to).
    fn with_terminal(self, terminal: &TerminalConfig) -> Self {
        let (mode, latency, behaviors) = match terminal {
            TerminalConfig::Manual => ("manual", 1_500, Default::default()),
            TerminalConfig::Simulated {
                latency_ms,
                providers,
            } => ("simulated", *latency_ms, providers.clone()),
        };
        let behavior = |provider| {
            behaviors
                .get(&provider)
                .copied()
                .unwrap_or(SimulatedBehavior::Approve)
                .as_str()
                .to_owned()
        };
        Self {
            terminal_mode: mode.into(),
            terminal_latency_ms: latency.to_string(),
            terminal_getnet: behavior(PaymentProvider::Getnet),
            terminal_klap: behavior(PaymentProvider::Klap),
            ..self
        }
    }

    /// The terminal as the form says: manual, or simulated with a latency
    /// and what each provider does.
    fn parse_terminal(&self, errors: &mut FieldErrors) -> Option<TerminalConfig> {
        match self.terminal_mode.trim() {
            "" | "manual" => Some(TerminalConfig::Manual),
            "simulated" => {
                let latency = errors.check(
                    "terminal_latency_ms",
                    whole_number(&self.terminal_latency_ms, 0, MAX_LATENCY_MS),
                );
                let mut providers = BTreeMap::new();
                for (field, provider, raw) in [
                    (
                        "terminal_getnet",
                        PaymentProvider::Getnet,
                        &self.terminal_getnet,
                    ),
                    ("terminal_klap", PaymentProvider::Klap, &self.terminal_klap),
                ] {
                    match raw.trim().parse::<SimulatedBehavior>() {
                        Ok(behavior) => {
                            providers.insert(provider, behavior);
                        }
                        Err(_) => errors.add(field, "Elige qué hace el terminal simulado."),
                    }
                }
                Some(TerminalConfig::Simulated {
                    latency_ms: latency?,
                    providers,
                })
            }
            _ => {
                errors.add("terminal_mode", "Elige terminal manual o simulado.");
                None
            }
        }
    }

    /// The form showing a stored caja.
    pub fn from_caja(caja: &Caja) -> Self {
        let policy = caja.fallback_policy;
        Self {
            name: caja.name.clone(),
            code: caja.code.clone(),
            register_type: caja.register_type.as_str().into(),
            payment_provider_primary: caja.payment_provider_primary.as_str().into(),
            payment_provider_backup: caja
                .payment_provider_backup
                .map(|p| p.as_str().to_owned())
                .unwrap_or_default(),
            operational_status: caja.operational_status.as_str().into(),
            fallback_enabled: policy.enabled.then(|| "on".to_owned()),
            fallback_max_seconds: policy.max_seconds.get().to_string(),
            fallback_backup_phones: policy.backup_phones.get().to_string(),
            blind_count: caja.blind_count.then(|| "on".to_owned()),
            max_cash_difference: caja
                .max_cash_difference
                .map(|v| v.to_string())
                .unwrap_or_default(),
            version: caja.version.to_string(),
            ..Self::default()
        }
        .with_terminal(&caja.terminal)
    }

    pub fn fallback_checked(&self) -> bool {
        self.fallback_enabled.is_some()
    }

    pub fn blind_checked(&self) -> bool {
        self.blind_count.is_some()
    }

    /// The version an edit started from, or a message for the form.
    pub fn expected_version(&self) -> Result<i32, FieldErrors> {
        self.version
            .trim()
            .parse::<i32>()
            .ok()
            .filter(|v| *v > 0)
            .ok_or_else(|| {
                FieldErrors::single(
                    "version",
                    "Falta la versión del formulario: vuelve a abrir la caja para editarla.",
                )
            })
    }

    /// Parses every field; returns all the problems at once.
    pub fn parse(&self) -> Result<CajaConfig, FieldErrors> {
        let mut errors = FieldErrors::default();
        let name = errors.check("name", CajaName::parse(&self.name));
        let code = if self.code.trim().is_empty() {
            Some(None)
        } else {
            errors.check("code", CajaCode::parse(&self.code).map(Some))
        };
        let register_type = errors.check("register_type", choice(&self.register_type));
        let primary = errors.check(
            "payment_provider_primary",
            choice(&self.payment_provider_primary),
        );
        let backup = if self.payment_provider_backup.trim().is_empty() {
            Some(None)
        } else {
            errors.check(
                "payment_provider_backup",
                choice(&self.payment_provider_backup).map(Some),
            )
        };
        let status = errors.check("operational_status", choice(&self.operational_status));
        let enabled = errors.check(
            "fallback_enabled",
            checkbox(self.fallback_enabled.as_deref()),
        );
        let max_seconds = errors.check(
            "fallback_max_seconds",
            whole_number(
                &self.fallback_max_seconds,
                FallbackSeconds::MIN,
                FallbackSeconds::MAX,
            )
            .and_then(FallbackSeconds::try_from),
        );
        let phones = errors.check(
            "fallback_backup_phones",
            whole_number(&self.fallback_backup_phones, 0, BackupPhones::MAX)
                .and_then(BackupPhones::try_from),
        );

        let blind_count = errors.check("blind_count", checkbox(self.blind_count.as_deref()));
        let max_difference = if self.max_cash_difference.trim().is_empty() {
            Some(None)
        } else {
            errors.check(
                "max_cash_difference",
                crate::money::parse_typed(&self.max_cash_difference)
                    .filter(|v| *v <= 1_000_000_000)
                    .and_then(|v| crate::money::Pesos::non_negative(v).ok())
                    .map(Some)
                    .ok_or(Invalid::OutOfRange {
                        min: 0,
                        max: 1_000_000_000,
                    }),
            )
        };
        let providers = match (primary, backup) {
            (Some(primary), Some(backup)) => Providers::new(primary, backup)
                .map_err(|err| errors.add("payment_provider_backup", err.to_string()))
                .ok(),
            _ => None,
        };
        if enabled == Some(true) && providers.is_some_and(|p| p.backup().is_none()) {
            errors.add(
                "fallback_enabled",
                "Para activar el respaldo elige un proveedor de respaldo.",
            );
        }

        let terminal = self.parse_terminal(&mut errors);
        let (
            Some(name),
            Some(code),
            Some(register_type),
            Some(providers),
            Some(operational_status),
            Some(terminal),
        ) = (name, code, register_type, providers, status, terminal)
        else {
            return Err(errors);
        };
        let (
            Some(enabled),
            Some(max_seconds),
            Some(backup_phones),
            Some(blind_count),
            Some(max_difference),
        ) = (enabled, max_seconds, phones, blind_count, max_difference)
        else {
            return Err(errors);
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(CajaConfig {
            name,
            code,
            register_type,
            providers,
            operational_status,
            fallback_policy: FallbackPolicy {
                enabled,
                max_seconds,
                backup_phones,
            },
            terminal,
            closing: super::domain::ClosingRules {
                blind_count,
                max_difference,
            },
        })
    }
}

/// One of an enum's stored values.
fn choice<T: std::str::FromStr>(input: &str) -> Result<T, Invalid> {
    let input = input.trim();
    if input.is_empty() {
        return Err(Invalid::Missing);
    }
    input
        .parse()
        .map_err(|_| Invalid::UnknownValue(input.to_owned()))
}

/// An HTML checkbox: absent is off; browsers send "on" when ticked.
fn checkbox(input: Option<&str>) -> Result<bool, Invalid> {
    match input.map(str::trim) {
        None | Some("") => Ok(false),
        Some("on" | "true" | "1") => Ok(true),
        Some(other) => Err(Invalid::UnknownValue(other.to_owned())),
    }
}

fn whole_number(input: &str, min: u32, max: u32) -> Result<u32, Invalid> {
    let input = input.trim();
    if input.is_empty() {
        return Err(Invalid::Missing);
    }
    // Digits only: no sign, no point, no exponent.
    if !input.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Invalid::OutOfRange { min, max });
    }
    input
        .parse::<u32>()
        .map_err(|_| Invalid::OutOfRange { min, max })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paso_6_1() -> CajaForm {
        CajaForm {
            name: "TEST GETNET+KLAP".into(),
            code: "TEST-01".into(),
            fallback_enabled: Some("on".into()),
            fallback_max_seconds: "60".into(),
            fallback_backup_phones: "2".into(),
            ..CajaForm::blank()
        }
    }

    #[test]
    fn the_runbook_caja_parses() {
        let config = paso_6_1().parse().unwrap();
        assert_eq!(config.name.as_str(), "TEST GETNET+KLAP");
        assert_eq!(config.code.unwrap().as_str(), "TEST-01");
        assert_eq!(config.providers.primary(), PaymentProvider::Getnet);
        assert_eq!(config.providers.backup(), Some(PaymentProvider::Klap));
        assert!(config.fallback_policy.enabled);
        assert_eq!(config.fallback_policy.max_seconds.get(), 60);
        assert_eq!(config.fallback_policy.backup_phones.get(), 2);
    }

    #[test]
    fn every_problem_is_reported_at_its_field() {
        let form = CajaForm {
            name: " ".into(),
            code: "TEST 01".into(),
            register_type: "CAJERO".into(),
            payment_provider_primary: "GETNET".into(),
            payment_provider_backup: "GETNET".into(),
            operational_status: "".into(),
            fallback_enabled: Some("yes".into()),
            fallback_max_seconds: "4".into(),
            fallback_backup_phones: "-1".into(),
            blind_count: None,
            max_cash_difference: "mucho".into(),
            terminal_mode: "simulated".into(),
            terminal_latency_ms: "-5".into(),
            terminal_getnet: "maybe".into(),
            terminal_klap: "approve".into(),
            version: String::new(),
        };
        let errors = form.parse().unwrap_err();
        for field in [
            "name",
            "code",
            "register_type",
            "payment_provider_backup",
            "operational_status",
            "fallback_enabled",
            "fallback_max_seconds",
            "fallback_backup_phones",
            "max_cash_difference",
            "terminal_latency_ms",
            "terminal_getnet",
        ] {
            assert!(
                errors.get(field).is_some(),
                "no error for {field}: {errors:?}"
            );
        }
        assert_eq!(errors.len(), 11);
    }

    #[test]
    fn fallback_needs_a_backup() {
        let form = CajaForm {
            payment_provider_backup: String::new(),
            ..paso_6_1()
        };
        let errors = form.parse().unwrap_err();
        assert!(errors.get("fallback_enabled").is_some());
        let form = CajaForm {
            payment_provider_backup: String::new(),
            fallback_enabled: None,
            ..paso_6_1()
        };
        assert_eq!(form.parse().unwrap().providers.backup(), None);
    }
}
