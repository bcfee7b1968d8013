//! The live state of a caja's open session: what the actor keeps in memory
//! and what it writes with every change. Each change is a pure function
//! from one state to the next, so it can be checked before it is committed.

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
    /// Charged per payment method (cash after rounding), voided sales excluded.
    pub payment_totals: BTreeMap<String, i64>,
    pub ticket_count: i32,
    /// Cash kept from sales: charged in cash, i.e. received minus change.
    pub cash_sales: Pesos,
    /// Cash added to the drawer (ingresos) and dropped to the safe (retiros).
    pub cash_in: Pesos,
    pub cash_out: Pesos,
    pub primary_count: i32,
    pub backup_count: i32,
    pub last_sale_at: Option<DateTime<Utc>>,
}

crate::text_enum! {
    /// Cash taken from (RETIRO) or put into (INGRESO) the drawer.
    MovementKind {
        Retiro = "RETIRO" => "Retiro",
        Ingreso = "INGRESO" => "Ingreso",
    }
}

/// Which of the caja's providers charged a card payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderSlot {
    Primary,
    Backup,
}

/// A payment as recorded, for voiding its sale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedPayment {
    pub method: PaymentMethod,
    pub charged: Pesos,
    pub provider_slot: Option<ProviderSlot>,
}

fn add(total: Pesos, amount: Pesos) -> Result<Pesos, RegisterError> {
    total.checked_add(amount).ok_or(RegisterError::Overflow)
}

fn subtract(total: Pesos, amount: Pesos) -> Result<Pesos, RegisterError> {
    total
        .checked_sub(amount)
        .filter(|left| *left >= Pesos::ZERO)
        .ok_or(RegisterError::Overflow)
}

impl LiveSession {
    /// Fondo inicial + cash kept from sales + cash added − cash dropped.
    pub fn expected_cash(&self) -> Pesos {
        self.initial_cash
            .checked_add(self.cash_sales)
            .and_then(|sum| sum.checked_add(self.cash_in))
            .and_then(|sum| sum.checked_sub(self.cash_out))
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

    fn set_total(&mut self, method: PaymentMethod, total: Pesos) {
        self.payment_totals
            .insert(method.as_str().to_owned(), total.get());
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
            next.set_total(
                payment.method,
                add(next.total_of(payment.method), payment.charged)?,
            );
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
        next.cash_sales = add(next.cash_sales, sale.cash_kept())?;
        next.ticket_count = next
            .ticket_count
            .checked_add(1)
            .ok_or(RegisterError::Overflow)?;
        next.last_sale_at = Some(at);
        Ok(next)
    }

    /// The session after voiding a sale with these payments: every total
    /// it added is taken back.
    pub fn without_sale(&self, payments: &[RecordedPayment]) -> Result<LiveSession, RegisterError> {
        let mut next = self.clone();
        for payment in payments {
            next.set_total(
                payment.method,
                subtract(next.total_of(payment.method), payment.charged)?,
            );
            if payment.method == PaymentMethod::Efectivo {
                next.cash_sales = subtract(next.cash_sales, payment.charged)?;
            }
            match payment.provider_slot {
                Some(ProviderSlot::Primary) => next.primary_count -= 1,
                Some(ProviderSlot::Backup) => next.backup_count -= 1,
                None => {}
            }
        }
        next.ticket_count -= 1;
        Ok(next)
    }

    /// The session after cash added to or dropped from the drawer. No more
    /// can be dropped than the drawer is expected to hold.
    pub fn with_movement(
        &self,
        kind: MovementKind,
        amount: Pesos,
    ) -> Result<LiveSession, RegisterError> {
        let mut next = self.clone();
        match kind {
            MovementKind::Ingreso => next.cash_in = add(next.cash_in, amount)?,
            MovementKind::Retiro => {
                if amount > self.expected_cash() {
                    return Err(RegisterError::NotEnoughCash(self.expected_cash()));
                }
                next.cash_out = add(next.cash_out, amount)?;
            }
        }
        Ok(next)
    }
}
