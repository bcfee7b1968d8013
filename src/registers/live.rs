//! The live state of a caja's open session: what the actor keeps in memory
//! and what it writes with every change. Each change is a pure function
//! from one state to the next, so it can be checked before it is committed.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::CajaError;
use super::sale::ValidSale;
use crate::money::Pesos;
use crate::payments::method::PaymentMethod;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiveSession {
    pub id: i32,
    pub jornada_id: Option<i32>,
    pub opened_by: Option<i32>,
    pub opened_by_name: String,
    #[serde(serialize_with = "crate::clock::rfc3339")]
    pub opened_at: DateTime<Utc>,
    pub initial_cash: Pesos,
    /// Charged per payment method (cash after rounding), voided sales excluded.
    pub payment_totals: BTreeMap<String, i64>,
    /// Tips per payment method, voided sales excluded: not revenue, but
    /// the cash ones are in the drawer (rule 19).
    pub tip_totals: BTreeMap<String, i64>,
    pub ticket_count: i32,
    /// Cash kept from sales: charged in cash, i.e. received minus change.
    pub cash_sales: Pesos,
    /// Cash added to the drawer (ingresos) and dropped to the safe (retiros).
    pub cash_in: Pesos,
    pub cash_out: Pesos,
    pub primary_count: i32,
    pub backup_count: i32,
    #[serde(serialize_with = "crate::clock::rfc3339_or_null")]
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
    pub tip: Pesos,
    pub provider_slot: Option<ProviderSlot>,
}

/// `method`'s amount in a map of pesos per method (`payment_totals`,
/// `tip_totals`): none when it is not there.
pub fn of_method(totals: &BTreeMap<String, i64>, method: PaymentMethod) -> Pesos {
    Pesos::new(totals.get(method.as_str()).copied().unwrap_or(0)).unwrap_or_default()
}

fn add(total: Pesos, amount: Pesos) -> Result<Pesos, CajaError> {
    total.checked_add(amount).ok_or(CajaError::Overflow)
}

fn subtract(total: Pesos, amount: Pesos) -> Result<Pesos, CajaError> {
    total
        .checked_sub(amount)
        .filter(|left| *left >= Pesos::ZERO)
        .ok_or(CajaError::Overflow)
}

impl LiveSession {
    /// A session just opened, for tests.
    #[cfg(test)]
    pub(crate) fn opened_for_test(id: i32, jornada: i32, initial_cash: Pesos) -> Self {
        Self {
            id,
            jornada_id: Some(jornada),
            opened_by: Some(1),
            opened_by_name: "ana".into(),
            opened_at: Utc::now(),
            initial_cash,
            payment_totals: BTreeMap::new(),
            tip_totals: BTreeMap::new(),
            ticket_count: 0,
            cash_sales: Pesos::ZERO,
            cash_in: Pesos::ZERO,
            cash_out: Pesos::ZERO,
            primary_count: 0,
            backup_count: 0,
            last_sale_at: None,
        }
    }

    /// Fondo inicial + cash kept from sales + cash tips + cash added − cash dropped.
    pub fn expected_cash(&self) -> Pesos {
        self.initial_cash
            .checked_add(self.cash_sales)
            .and_then(|sum| sum.checked_add(self.tip_of(PaymentMethod::Efectivo)))
            .and_then(|sum| sum.checked_add(self.cash_in))
            .and_then(|sum| sum.checked_sub(self.cash_out))
            .unwrap_or(self.initial_cash)
    }

    pub fn total_of(&self, method: PaymentMethod) -> Pesos {
        of_method(&self.payment_totals, method)
    }

    fn set_total(&mut self, method: PaymentMethod, total: Pesos) {
        self.payment_totals
            .insert(method.as_str().to_owned(), total.get());
    }

    /// The tips paid by `method`.
    pub fn tip_of(&self, method: PaymentMethod) -> Pesos {
        of_method(&self.tip_totals, method)
    }

    /// Sets `method`'s tips. A method never tipped stays out of the map,
    /// so a session without tips stores `{}`.
    fn set_tip(&mut self, method: PaymentMethod, tips: Pesos) {
        self.tip_totals
            .insert(method.as_str().to_owned(), tips.get());
    }

    /// The session after `sale` (its card payments resolved to their
    /// approvals); checks that no counter overflows.
    pub fn with_sale(&self, sale: &ValidSale, at: DateTime<Utc>) -> Result<LiveSession, CajaError> {
        let mut next = self.clone();
        for payment in &sale.payments {
            next.set_total(
                payment.method,
                add(next.total_of(payment.method), payment.charged)?,
            );
            if payment.tip > Pesos::ZERO {
                next.set_tip(
                    payment.method,
                    add(next.tip_of(payment.method), payment.tip)?,
                );
            }
            // Counted by the provider that approved it, as it was then.
            if payment.provider.is_some() {
                if payment.backup {
                    next.backup_count += 1;
                } else {
                    next.primary_count += 1;
                }
            }
        }
        next.cash_sales = add(next.cash_sales, sale.cash_kept())?;
        next.ticket_count = next
            .ticket_count
            .checked_add(1)
            .ok_or(CajaError::Overflow)?;
        next.last_sale_at = Some(at);
        Ok(next)
    }

    /// The session after voiding a sale with these payments: every total
    /// it added is taken back.
    pub fn without_sale(&self, payments: &[RecordedPayment]) -> Result<LiveSession, CajaError> {
        let mut next = self.clone();
        for payment in payments {
            next.set_total(
                payment.method,
                subtract(next.total_of(payment.method), payment.charged)?,
            );
            if payment.tip > Pesos::ZERO {
                next.set_tip(
                    payment.method,
                    subtract(next.tip_of(payment.method), payment.tip)?,
                );
            }
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
    ) -> Result<LiveSession, CajaError> {
        let mut next = self.clone();
        match kind {
            MovementKind::Ingreso => next.cash_in = add(next.cash_in, amount)?,
            MovementKind::Retiro => {
                if amount > self.expected_cash() {
                    return Err(CajaError::NotEnoughCash(self.expected_cash()));
                }
                next.cash_out = add(next.cash_out, amount)?;
            }
        }
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::cajas::CajaId;
    use crate::cajas::domain::PaymentProvider;
    use crate::catalog::Catalog;
    use crate::registers::sale::{PaymentRequest, Pricing, SaleRequest};
    use crate::tips::TipPolicy;

    fn session(initial: i64) -> LiveSession {
        LiveSession::opened_for_test(1, 1, Pesos::new(initial).unwrap())
    }

    #[derive(Debug, Clone)]
    enum Op {
        /// Cash part, card part (amount, on the backup provider?), transfer
        /// part, and a tip: on which payment, and its share of the most
        /// the venue takes (in thousandths).
        Sale(
            Option<i64>,
            Option<(i64, bool, bool)>,
            Option<i64>,
            Option<(usize, i64)>,
        ),
        Void(usize),
        Movement(bool, i64),
    }

    fn op() -> impl Strategy<Value = Op> {
        let amount = 1i64..5_000_000;
        prop_oneof![
            4 => (
                proptest::option::of(amount.clone()),
                proptest::option::of((amount.clone(), any::<bool>(), any::<bool>())),
                proptest::option::of(amount.clone()),
                proptest::option::of((any::<usize>(), 0i64..=1000)),
            )
                .prop_filter("a sale has a payment", |(a, b, c, _)| a.is_some() || b.is_some() || c.is_some())
                .prop_map(|(a, b, c, t)| Op::Sale(a, b, c, t)),
            1 => any::<usize>().prop_map(Op::Void),
            1 => (any::<bool>(), amount).prop_map(|(k, a)| Op::Movement(k, a)),
        ]
    }

    fn request(
        cash: Option<i64>,
        card: Option<(i64, bool, bool)>,
        transfer: Option<i64>,
        tip: Option<(usize, i64)>,
    ) -> SaleRequest {
        let mut payments = Vec::new();
        let mut total = 0;
        if let Some(amount) = cash {
            total += amount;
            payments.push(PaymentRequest {
                method: "EFECTIVO".into(),
                amount,
                tendered: None,
                provider: None,
                attempt_id: None,
                authorization_code: None,
                ..PaymentRequest::default()
            });
        }
        if let Some((amount, backup, credit)) = card {
            total += amount;
            payments.push(PaymentRequest {
                method: if credit { "CREDITO" } else { "DEBITO" }.into(),
                amount,
                tendered: None,
                provider: Some(if backup { "KLAP" } else { "GETNET" }.into()),
                attempt_id: None,
                authorization_code: Some("123456".into()),
                ..PaymentRequest::default()
            });
        }
        if let Some(amount) = transfer {
            total += amount;
            payments.push(PaymentRequest {
                method: "TRANSFERENCIA".into(),
                amount,
                tendered: None,
                provider: None,
                attempt_id: None,
                authorization_code: None,
                ..PaymentRequest::default()
            });
        }
        if let Some((pick, share)) = tip {
            // Up to the most the venue takes; in tens on cash.
            let most = TipPolicy::default().max(Pesos::new(total).unwrap()).get();
            let index = pick % payments.len();
            let tip = most * share / 1000;
            payments[index].tip = Some(if payments[index].method == "EFECTIVO" {
                tip - tip % 10
            } else {
                tip
            });
        }
        SaleRequest {
            key: uuid::Uuid::new_v4().to_string(),
            total,
            payments,
            session_id: None,
            lines: None,
        }
    }

    proptest! {
        /// For any sequence of sales, voids and cash movements, the session's
        /// running totals equal the sums computed afresh from what happened.
        #[test]
        fn running_totals_equal_the_sums_of_the_rows(initial in 0i64..1_000_000, ops in proptest::collection::vec(op(), 0..60)) {
            let mut live = session(initial);
            let mut sales: Vec<(ValidSale, bool)> = Vec::new();
            let (mut added, mut dropped) = (0i64, 0i64);
            for op in ops {
                match op {
                    Op::Sale(cash, card, transfer, tip) => {
                        let mut sale = request(cash, card, transfer, tip)
                            .validate(Pricing::Now { catalog: &Catalog::default(), caja: CajaId(1) })
                            .unwrap();
                        // As the actor sets it from the approval: KLAP is the backup here.
                        for payment in &mut sale.payments {
                            payment.backup = payment.provider == Some(PaymentProvider::Klap);
                        }
                        live = live.with_sale(&sale, Utc::now()).unwrap();
                        sales.push((sale, false));
                    }
                    Op::Void(pick) => {
                        let open: Vec<usize> = (0..sales.len()).filter(|i| !sales[*i].1).collect();
                        if open.is_empty() { continue; }
                        let index = open[pick % open.len()];
                        let payments: Vec<RecordedPayment> = sales[index].0.payments.iter().map(|p| RecordedPayment {
                            method: p.method,
                            charged: p.charged,
                            tip: p.tip,
                            provider_slot: p.provider.map(|pr| if pr == PaymentProvider::Klap { ProviderSlot::Backup } else { ProviderSlot::Primary }),
                        }).collect();
                        live = live.without_sale(&payments).unwrap();
                        sales[index].1 = true;
                    }
                    Op::Movement(is_in, amount) => {
                        let kind = if is_in { MovementKind::Ingreso } else { MovementKind::Retiro };
                        match live.with_movement(kind, Pesos::new(amount).unwrap()) {
                            Ok(next) => {
                                live = next;
                                if is_in { added += amount } else { dropped += amount }
                            }
                            Err(CajaError::NotEnoughCash(_)) => prop_assert!(amount > live.expected_cash().get()),
                            Err(other) => prop_assert!(false, "{other:?}"),
                        }
                    }
                }
            }
            let kept: Vec<&ValidSale> = sales.iter().filter(|(_, voided)| !voided).map(|(s, _)| s).collect();
            for method in PaymentMethod::ALL {
                let summed: i64 = kept.iter().flat_map(|s| &s.payments).filter(|p| p.method == *method).map(|p| p.charged.get()).sum();
                prop_assert_eq!(live.total_of(*method).get(), summed);
            }
            for method in PaymentMethod::ALL {
                let tips: i64 = kept.iter().flat_map(|s| &s.payments).filter(|p| p.method == *method).map(|p| p.tip.get()).sum();
                prop_assert_eq!(live.tip_of(*method).get(), tips);
                // A method never tipped is not in the map (stored as `{}`).
                prop_assert_eq!(live.tip_totals.contains_key(method.as_str()), sales.iter().flat_map(|s| &s.0.payments).any(|p| p.method == *method && p.tip > Pesos::ZERO));
            }
            let cash: i64 = kept.iter().map(|s| s.cash_kept().get()).sum();
            prop_assert_eq!(live.cash_sales.get(), cash);
            let cash_tips = live.tip_of(PaymentMethod::Efectivo).get();
            prop_assert_eq!(live.ticket_count as usize, kept.len());
            let cards = |backup: bool| kept.iter().flat_map(|s| &s.payments)
                .filter(|p| p.provider.is_some_and(|pr| (pr == PaymentProvider::Klap) == backup)).count();
            prop_assert_eq!(live.primary_count as usize, cards(false));
            prop_assert_eq!(live.backup_count as usize, cards(true));
            prop_assert_eq!(live.expected_cash().get(), initial + cash + cash_tips + added - dropped);
            // And the difference at closing, for any count.
            let count = Pesos::new(initial).unwrap();
            prop_assert_eq!(count.checked_sub(live.expected_cash()).unwrap().get(), initial - (initial + cash + cash_tips + added - dropped));
        }
    }
}
