//! The live state of a caja's open session: what the actor keeps in memory
//! and what it writes with every change.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::RegisterError;
use super::sale::{PaymentMethod, ValidSale};
use crate::cajas::Caja;
use crate::money::Pesos;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiveSession {
    pub id: i32,
    pub jornada_id: Option<i32>,
    pub opened_by: Option<i32>,
    pub opened_by_name: String,
    pub opened_at: DateTime<Utc>,
    pub initial_cash: Pesos,
    /// Charged per payment method (cash after rounding).
    pub payment_totals: BTreeMap<String, i64>,
    pub ticket_count: i32,
    /// Cash kept from sales: charged in cash, i.e. received minus change.
    pub cash_sales: Pesos,
    pub primary_count: i32,
    pub backup_count: i32,
    pub last_sale_at: Option<DateTime<Utc>>,
}

impl LiveSession {
    /// Fondo inicial plus cash kept from sales.
    pub fn expected_cash(&self) -> Pesos {
        self.initial_cash
            .checked_add(self.cash_sales)
            .unwrap_or(self.initial_cash)
    }

    pub fn total_of(&self, method: PaymentMethod) -> Pesos {
        Pesos::new(
            self.payment_totals
                .get(method.as_str())
                .copied()
                .unwrap_or(0),
        )
        .unwrap_or_default()
    }

    /// The session after `sale`; checks the caja takes its card providers
    /// and that no counter overflows.
    pub fn with_sale(
        &self,
        sale: &ValidSale,
        caja: &Caja,
        at: DateTime<Utc>,
    ) -> Result<LiveSession, RegisterError> {
        let mut next = self.clone();
        for payment in &sale.payments {
            let total = next
                .payment_totals
                .entry(payment.method.as_str().to_owned())
                .or_insert(0);
            *total = Pesos::new(*total)
                .ok()
                .and_then(|t| t.checked_add(payment.charged))
                .ok_or(RegisterError::Overflow)?
                .get();
            if let Some(provider) = payment.provider {
                if provider == caja.payment_provider_primary {
                    next.primary_count += 1;
                } else if Some(provider) == caja.payment_provider_backup {
                    next.backup_count += 1;
                } else {
                    return Err(RegisterError::ProviderNotConfigured(provider));
                }
            }
        }
        next.cash_sales = next
            .cash_sales
            .checked_add(sale.cash_kept())
            .ok_or(RegisterError::Overflow)?;
        next.ticket_count = next
            .ticket_count
            .checked_add(1)
            .ok_or(RegisterError::Overflow)?;
        next.last_sale_at = Some(at);
        Ok(next)
    }
}
