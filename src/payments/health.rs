//! How each of a caja's card providers is doing, and which one the cashier
//! should use now, and why. A provider is DOWN while the venue has declared
//! it out of service, DEGRADED for a cool-down after one of this caja's
//! payments on it failed or went unanswered (until a payment on it is
//! approved), OK otherwise. The caja falls back to its backup while its
//! primary is not OK, if its policy allows and the backup is not down.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::cajas::Caja;
use crate::cajas::domain::PaymentProvider;
use crate::text_enum;

text_enum! {
    ProviderStatus {
        Ok = "OK" => "Operativo",
        Degraded = "DEGRADED" => "Con fallas",
        Down = "DOWN" => "Caído",
    }
}

/// One provider's status, why and since when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProviderHealth {
    pub provider: PaymentProvider,
    pub status: ProviderStatus,
    pub reason: Option<String>,
    pub since: Option<DateTime<Utc>>,
}

/// A provider out of service for the whole venue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outage {
    pub id: i64,
    pub provider: PaymentProvider,
    pub started_at: DateTime<Utc>,
    pub reason: String,
}

/// What a caja remembers of its own payments on each provider.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProviderMemory {
    /// When a payment on the provider last failed or went unanswered.
    pub last_failure: BTreeMap<PaymentProvider, DateTime<Utc>>,
    /// When a payment on it was last approved.
    pub last_approval: BTreeMap<PaymentProvider, DateTime<Utc>>,
}

impl ProviderMemory {
    pub fn failed(&mut self, provider: PaymentProvider, at: DateTime<Utc>) {
        self.last_failure.insert(provider, at);
    }

    pub fn approved(&mut self, provider: PaymentProvider, at: DateTime<Utc>) {
        self.last_approval.insert(provider, at);
    }

    /// A supervisor declared `provider` working for the whole venue at
    /// `at`: the caja's failures before it no longer weigh, as after an
    /// approval.
    pub fn cleared(&mut self, provider: PaymentProvider, at: DateTime<Utc>) {
        let last = self.last_approval.entry(provider).or_insert(at);
        *last = (*last).max(at);
    }

    /// The failure that still weighs on `provider` at `now`, if any.
    fn weighing_failure(
        &self,
        provider: PaymentProvider,
        now: DateTime<Utc>,
        cooldown: Duration,
    ) -> Option<DateTime<Utc>> {
        let failed = *self.last_failure.get(&provider)?;
        let approved_since = self
            .last_approval
            .get(&provider)
            .is_some_and(|at| *at >= failed);
        let cooled =
            now - failed >= chrono::Duration::from_std(cooldown).unwrap_or(chrono::Duration::MAX);
        (!approved_since && !cooled).then_some(failed)
    }

    /// When the provider's failure stops weighing, if one weighs now.
    pub fn recovers_at(
        &self,
        provider: PaymentProvider,
        now: DateTime<Utc>,
        cooldown: Duration,
    ) -> Option<DateTime<Utc>> {
        self.weighing_failure(provider, now, cooldown)
            .map(|failed| {
                failed + chrono::Duration::from_std(cooldown).unwrap_or(chrono::Duration::MAX)
            })
    }
}

/// The provider the cashier should use now, and why; with every provider's
/// health and the caja's fallback policy, as the POS and the floor show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProviderAdvice {
    pub provider: PaymentProvider,
    /// The advised provider is the caja's backup.
    pub backup: bool,
    pub reason: String,
    /// Since when the backup is advised.
    pub since: Option<DateTime<Utc>>,
    /// No card provider can be used: take cash or another method.
    pub no_card: bool,
    pub health: Vec<ProviderHealth>,
    pub fallback_enabled: bool,
    pub max_seconds: u32,
    pub backup_phones: u32,
}

/// "2 celulares", "1 celular", or that none is registered.
fn phones(count: u32) -> String {
    match count {
        0 => "ningún celular registrado en la caja".to_owned(),
        1 => "1 celular".to_owned(),
        n => format!("{n} celulares"),
    }
}

/// Each of `caja`'s providers' health, and the advice that follows.
pub fn advise(
    caja: &Caja,
    memory: &ProviderMemory,
    outages: &[Outage],
    now: DateTime<Utc>,
    cooldown: Duration,
) -> ProviderAdvice {
    let health_of = |provider: PaymentProvider| {
        if let Some(outage) = outages.iter().find(|o| o.provider == provider) {
            return ProviderHealth {
                provider,
                status: ProviderStatus::Down,
                reason: Some(outage.reason.clone()),
                since: Some(outage.started_at),
            };
        }
        match memory.weighing_failure(provider, now, cooldown) {
            Some(at) => ProviderHealth {
                provider,
                status: ProviderStatus::Degraded,
                reason: Some(format!(
                    "un cobro con {provider} falló o no tuvo respuesta en esta caja"
                )),
                since: Some(at),
            },
            None => ProviderHealth {
                provider,
                status: ProviderStatus::Ok,
                reason: None,
                since: None,
            },
        }
    };
    let primary = caja.payment_provider_primary;
    let policy = &caja.fallback_policy;
    let primary_health = health_of(primary);
    let backup_health = caja.payment_provider_backup.map(health_of);
    let mut health = vec![primary_health.clone()];
    health.extend(backup_health.clone());
    let base = ProviderAdvice {
        provider: primary,
        backup: false,
        reason: String::new(),
        since: None,
        no_card: false,
        health,
        fallback_enabled: policy.enabled,
        max_seconds: policy.max_seconds.get(),
        backup_phones: policy.backup_phones.get(),
    };
    let why_primary_is_out = |h: &ProviderHealth| match h.status {
        ProviderStatus::Down => format!("{primary} está caído en el local"),
        _ => format!("un cobro con {primary} acaba de fallar en esta caja"),
    };
    match (primary_health.status, backup_health) {
        (ProviderStatus::Ok, Some(backup)) if policy.enabled => ProviderAdvice {
            reason: format!(
                "{primary} es el proveedor principal; si no responde en {} s, cobra con {} en el celular de respaldo.",
                policy.max_seconds.get(),
                backup.provider
            ),
            ..base
        },
        (ProviderStatus::Ok, Some(backup)) => ProviderAdvice {
            reason: format!(
                "{primary} es el proveedor principal; {} queda de respaldo.",
                backup.provider
            ),
            ..base
        },
        (ProviderStatus::Ok, None) => ProviderAdvice {
            reason: format!("{primary} es el único proveedor de esta caja."),
            ..base
        },
        (_, Some(backup)) if policy.enabled && backup.status != ProviderStatus::Down => {
            ProviderAdvice {
                provider: backup.provider,
                backup: true,
                since: primary_health.since,
                reason: format!(
                    "{}: cobra con {} en el celular de respaldo ({}).",
                    why_primary_is_out(&primary_health),
                    backup.provider,
                    phones(policy.backup_phones.get()),
                ),
                ..base
            }
        }
        (_, backup) => {
            let why_not_backup = match backup {
                None => "la caja no tiene respaldo".to_owned(),
                Some(b) if b.status == ProviderStatus::Down => {
                    format!("{} también está caído", b.provider)
                }
                Some(_) => "la caja no tiene activado el respaldo".to_owned(),
            };
            ProviderAdvice {
                no_card: primary_health.status == ProviderStatus::Down,
                since: primary_health.since,
                reason: format!(
                    "{} y {why_not_backup}: cobra en efectivo u otro medio.",
                    why_primary_is_out(&primary_health)
                ),
                ..base
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cajas::CajaId;
    use crate::cajas::domain::{CajaType, FallbackPolicy, OperationalStatus};

    const COOLDOWN: Duration = Duration::from_secs(300);

    fn caja(enabled: bool, backup: Option<PaymentProvider>) -> Caja {
        let policy = FallbackPolicy {
            enabled,
            ..FallbackPolicy::default()
        };
        Caja {
            id: CajaId(1),
            name: "Barra".into(),
            code: "BARRA".into(),
            register_type: CajaType::Humana,
            payment_provider_primary: PaymentProvider::Getnet,
            payment_provider_backup: backup,
            operational_status: OperationalStatus::Active,
            fallback_policy: policy,
            version: 1,
            archived_at: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
            blind_count: false,
            max_cash_difference: None,
            terminal: Default::default(),
        }
    }

    #[test]
    fn a_failure_moves_the_caja_to_its_backup_for_the_cool_down_or_until_an_approval() {
        let now = Utc::now();
        let caja = caja(true, Some(PaymentProvider::Klap));
        let mut memory = ProviderMemory::default();
        assert_eq!(
            advise(&caja, &memory, &[], now, COOLDOWN).provider,
            PaymentProvider::Getnet
        );

        memory.failed(PaymentProvider::Getnet, now);
        let advice = advise(&caja, &memory, &[], now, COOLDOWN);
        assert_eq!(
            (advice.provider, advice.backup),
            (PaymentProvider::Klap, true)
        );
        assert!(
            advice.reason.contains("celular de respaldo (2 celulares)")
                || advice
                    .reason
                    .contains("celular de respaldo (ningún celular registrado en la caja)"),
            "{}",
            advice.reason
        );
        let later = now + chrono::Duration::seconds(300);
        assert_eq!(
            advise(&caja, &memory, &[], later, COOLDOWN).provider,
            PaymentProvider::Getnet,
            "cooled down"
        );
        memory.approved(PaymentProvider::Getnet, now + chrono::Duration::seconds(1));
        assert_eq!(
            advise(
                &caja,
                &memory,
                &[],
                now + chrono::Duration::seconds(2),
                COOLDOWN
            )
            .provider,
            PaymentProvider::Getnet,
            "approved since"
        );
    }

    #[test]
    fn without_a_backup_or_a_policy_the_cashier_is_told_to_take_cash() {
        let now = Utc::now();
        let down = [Outage {
            id: 1,
            provider: PaymentProvider::Getnet,
            started_at: now,
            reason: "3 cajas".into(),
        }];
        for caja in [caja(false, Some(PaymentProvider::Klap)), caja(true, None)] {
            let advice = advise(&caja, &ProviderMemory::default(), &down, now, COOLDOWN);
            assert!(advice.no_card && !advice.backup, "{advice:?}");
            assert!(
                advice.reason.contains("cobra en efectivo u otro medio"),
                "{}",
                advice.reason
            );
        }
        let both_down = [
            down[0].clone(),
            Outage {
                provider: PaymentProvider::Klap,
                ..down[0].clone()
            },
        ];
        let advice = advise(
            &caja(true, Some(PaymentProvider::Klap)),
            &ProviderMemory::default(),
            &both_down,
            now,
            COOLDOWN,
        );
        assert!(
            advice.reason.contains("KLAP también está caído"),
            "{}",
            advice.reason
        );
    }
}
