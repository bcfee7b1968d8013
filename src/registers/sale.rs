//! A sale as the POS sends it, and its validation into a [`ValidSale`]:
//! payments that add up to the total, cash rounded by law, card payments
//! naming their provider. Every error names the field it is about.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::boleta::settings::ModeloEmision;
use crate::cajas::CajaId;
use crate::cajas::domain::PaymentProvider;
use crate::catalog::{Catalog, ProductId, Quantity};
use crate::money::{MoneyError, Pesos};
use crate::payments::attempt::{Voucher, VoucherFields};
use crate::payments::method::PaymentMethod;

/// The most payments one sale may be split into.
const MAX_PAYMENTS: usize = 8;
/// The most lines on one ticket.
pub const MAX_LINES: usize = 100;
/// What a line typed as an amount is called.
pub const FREE_AMOUNT: &str = "Monto libre";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SaleRequest {
    pub key: String,
    pub total: i64,
    pub payments: Vec<PaymentRequest>,
    /// The session the sale was made in. A POS sending a sale it queued
    /// while offline names it, so the sale is refused (and kept for a
    /// supervisor) if that session closed in the meantime.
    #[serde(default)]
    pub session_id: Option<i32>,
    /// What was sold. Without lines, the sale is its total typed as an
    /// amount (one "Monto libre" line).
    #[serde(default)]
    pub lines: Option<Vec<LineRequest>>,
}

/// A ticket's line: a product of the catalog and how many, or an amount
/// typed by the cashier.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LineRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_id: Option<i32>,
    /// 1 when not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<i64>,
    /// The unit price the POS showed: checked against the catalog's, so a
    /// customer pays what they were told (required for a sale taken offline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit_price: Option<i64>,
    /// A line typed as an amount ("Monto libre"), instead of a product.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<i64>,
}

/// How a sale's product lines are priced (and, live, its tip bounded: the
/// catalog carries the venue's tip policy).
#[derive(Debug, Clone, Copy)]
pub enum Pricing<'a> {
    /// By the catalog as it is now, for this caja: a live sale.
    Now { catalog: &'a Catalog, caja: CajaId },
    /// At the price the POS sold it at, while it could not reach the hub:
    /// what the customer paid stands, whatever the catalog says since.
    AsSold { catalog: &'a Catalog },
}

/// A line of a sale, as sold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaleLine {
    /// None: an amount typed by the cashier.
    pub product: Option<ProductId>,
    pub name: String,
    pub unit_price: Pesos,
    pub quantity: Quantity,
    /// Exempt of IVA, as its product was when sold (rule 22).
    pub exempt: bool,
}

impl SaleLine {
    /// An amount typed by the cashier: it bears IVA.
    pub fn free_amount(amount: Pesos) -> Self {
        Self {
            product: None,
            name: FREE_AMOUNT.into(),
            unit_price: amount,
            quantity: Quantity::ONE,
            exempt: false,
        }
    }

    /// Unit price times quantity (bounded by both: cannot overflow).
    pub fn total(&self) -> Pesos {
        self.quantity.times(self.unit_price).unwrap_or(Pesos::ZERO)
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentRequest {
    pub method: String,
    pub amount: i64,
    #[serde(default)]
    pub tendered: Option<i64>,
    /// A card payment's provider (with `authorization_code`, or checked
    /// against the approved attempt).
    #[serde(default)]
    pub provider: Option<String>,
    /// A card payment: the approved attempt that charged it ...
    #[serde(default)]
    pub attempt_id: Option<i64>,
    /// ... or, confirmed by the cashier from the standalone terminal (the
    /// manual terminal, a sale kept offline), its authorization code and
    /// what else its voucher says.
    #[serde(default)]
    pub authorization_code: Option<String>,
    #[serde(default)]
    pub terminal_reference: Option<String>,
    #[serde(default)]
    pub card_brand: Option<String>,
    #[serde(default)]
    pub card_last4: Option<String>,
    #[serde(default)]
    pub installments: Option<i64>,
    /// A tip paid with this payment, on top of its amount: charged in the
    /// same card charge, or received with the cash.
    #[serde(default)]
    pub tip: Option<i64>,
}

impl PaymentRequest {
    fn voucher(&self) -> VoucherFields<'_> {
        VoucherFields {
            terminal_reference: self.terminal_reference.as_deref(),
            card_brand: self.card_brand.as_deref(),
            card_last4: self.card_last4.as_deref(),
            installments: self.installments,
        }
    }
}

/// Why a sale request is not a sale: a field and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[error("{field}: {message}")]
pub struct InvalidSale {
    pub field: String,
    pub message: String,
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> InvalidSale {
    InvalidSale {
        field: field.into(),
        message: message.into(),
    }
}

fn money(field: &str, result: Result<Pesos, MoneyError>) -> Result<Pesos, InvalidSale> {
    result.map_err(|err| invalid(field, format!("el monto {err}")))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidPayment {
    pub method: PaymentMethod,
    /// The part of the exact total this payment covers.
    pub amount: Pesos,
    /// What is charged for it: cash rounded to the ten, others exact.
    pub charged: Pesos,
    pub tendered: Option<Pesos>,
    pub change: Pesos,
    /// A card payment's provider: as asked, then as the approval says.
    pub provider: Option<PaymentProvider>,
    pub card: Option<CardApproval>,
    /// The approved attempt that paid it (set when the sale is recorded).
    pub approval: Option<i64>,
    /// Charged on the caja's backup provider (set from the approval).
    pub backup: bool,
    /// The tip paid with it, on top of `charged` (rule 19).
    pub tip: Pesos,
}

impl ValidPayment {
    /// What a card's terminal charges for it: its amount and its tip
    /// (checked to fit one amount when the sale was validated).
    pub fn card_charge(&self) -> Pesos {
        self.amount.checked_add(self.tip).unwrap_or(self.amount)
    }
}

/// What shows a card payment was charged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardApproval {
    /// An approved attempt of this sale.
    Attempt(i64),
    /// The code the cashier read off the standalone terminal, and its voucher.
    Manual { code: String, voucher: Voucher },
}

/// The venue's bounds on one sale: above `confirm_above` the POS asks the
/// cashier to confirm the amount; above `max` the hub refuses it (an extra
/// "000" is a typo, not a sale) and the floor marks a recorded sale above
/// `confirm_above` as unusually large.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SaleLimits {
    pub confirm_above: Pesos,
    pub max: Pesos,
}

impl SaleLimits {
    /// `confirm_above` must not be above `max`.
    pub fn new(confirm_above: Pesos, max: Pesos) -> Result<Self, String> {
        if confirm_above > max {
            return Err(format!(
                "the amount to confirm ({confirm_above}) is above the largest sale ({max})"
            ));
        }
        Ok(Self { confirm_above, max })
    }
}

/// What a sale's boleta documents: an amount, IVA included except on its
/// exempt part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Documented {
    pub total: Pesos,
    /// At most `total`; all of it makes the document a boleta exenta.
    pub exempt: Pesos,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidSale {
    pub key: Uuid,
    pub total: Pesos,
    pub total_charged: Pesos,
    pub payments: Vec<ValidPayment>,
    pub session_id: Option<i32>,
    /// What was sold; the lines add up to `total`.
    pub lines: Vec<SaleLine>,
}

impl ValidSale {
    /// What its boleta documents under the venue's `modelo` (none while
    /// it issues none): the sale's total, never its tips (rule 19); under
    /// the voucher model, what was not paid by card, whose voucher is
    /// valid as the boleta of its part. Nothing when nothing is left.
    pub fn documented(&self, modelo: Option<ModeloEmision>) -> Option<Documented> {
        let total = match modelo? {
            ModeloEmision::Boleta => self.total,
            ModeloEmision::Voucher => self
                .payments
                .iter()
                .filter(|p| p.method.is_card())
                .try_fold(self.total, |left, p| left.checked_sub(p.amount))?,
        };
        (total > Pesos::ZERO).then(|| Documented {
            total,
            exempt: self.exempt_share(total),
        })
    }

    /// The exempt part of `documented` (rule 22): the exempt lines' sum
    /// when the whole sale is documented; of a part, the same share of it,
    /// rounded down, so a part is all exempt only when the sale is.
    fn exempt_share(&self, documented: Pesos) -> Pesos {
        let exempt: i128 = self
            .lines
            .iter()
            .filter(|l| l.exempt)
            .map(|l| i128::from(l.total().get()))
            .sum();
        let total = i128::from(self.total.get());
        if total == 0 {
            return Pesos::ZERO;
        }
        let share = exempt * i128::from(documented.get()) / total;
        i64::try_from(share)
            .ok()
            .and_then(|share| Pesos::new(share).ok())
            .unwrap_or(Pesos::ZERO)
    }

    /// Which lines are exempt, in order; none when no line is.
    pub fn line_exempt(&self) -> Option<Vec<bool>> {
        self.lines
            .iter()
            .any(|l| l.exempt)
            .then(|| self.lines.iter().map(|l| l.exempt).collect())
    }

    /// A card payment comes with an approval to check (an attempt, or a
    /// code taken by hand).
    pub fn asks_approval(&self) -> bool {
        self.payments.iter().any(|p| p.card.is_some())
    }

    /// A fingerprint of what was asked, to tell a retry (same key, same
    /// sale) from a reused key (same key, another sale).
    pub fn fingerprint(&self) -> String {
        let payments: Vec<String> = self
            .payments
            .iter()
            .map(|p| {
                // What was asked: an approval's provider is filled in later.
                let card = match &p.card {
                    Some(CardApproval::Attempt(id)) => format!("#{id}"),
                    Some(CardApproval::Manual { code, .. }) => {
                        format!("{code}@{}", p.provider.map_or("", |p| p.as_str()))
                    }
                    None => String::new(),
                };
                // A payment without a tip keeps the fingerprint it had
                // before tips.
                let tip = match p.tip.get() {
                    0 => String::new(),
                    tip => format!("+{tip}"),
                };
                format!(
                    "{}:{}:{}:{card}{tip}",
                    p.method,
                    p.amount.get(),
                    p.tendered.map_or(String::new(), |t| t.get().to_string()),
                )
            })
            .collect();
        let asked = format!("{}|{}", self.total.get(), payments.join(";"));
        // A sale typed as an amount keeps the fingerprint it had before
        // sales had lines, so its retry across an upgrade is still one.
        if self.is_free_amount() {
            return asked;
        }
        let lines: Vec<String> = self
            .lines
            .iter()
            .map(|l| match l.product {
                Some(id) => format!("p{id}x{}@{}", l.quantity.get(), l.unit_price.get()),
                None => format!("m{}x{}", l.unit_price.get(), l.quantity.get()),
            })
            .collect();
        format!("{asked}|{}", lines.join(";"))
    }

    /// One "Monto libre" line of the whole total: the sale as it was
    /// before tickets had lines.
    pub fn is_free_amount(&self) -> bool {
        matches!(self.lines.as_slice(), [line] if line.product.is_none() && line.quantity == Quantity::ONE)
    }

    /// The tip, over all payments.
    pub fn tip(&self) -> Pesos {
        self.payments
            .iter()
            .fold(Pesos::ZERO, |sum, p| sum.checked_add(p.tip).unwrap_or(sum))
    }

    /// Cash kept by the register for the sale: charged in cash (received
    /// minus change, less the tip).
    pub fn cash_kept(&self) -> Pesos {
        self.payments
            .iter()
            .filter(|p| p.method == PaymentMethod::Efectivo)
            .fold(Pesos::ZERO, |sum, p| {
                sum.checked_add(p.charged).unwrap_or(sum)
            })
    }

    pub fn change(&self) -> Pesos {
        self.payments.iter().fold(Pesos::ZERO, |sum, p| {
            sum.checked_add(p.change).unwrap_or(sum)
        })
    }
}

impl SaleRequest {
    /// The sale, its lines priced by `pricing`, or the first field at fault.
    pub fn validate(&self, pricing: Pricing<'_>) -> Result<ValidSale, InvalidSale> {
        let key = Uuid::parse_str(self.key.trim()).map_err(|_| {
            invalid(
                "key",
                "debe ser un UUID (la clave de idempotencia de la venta)",
            )
        })?;
        let total = money("total", Pesos::positive(self.total))?;
        if self.payments.is_empty() {
            return Err(invalid("payments", "la venta necesita al menos un pago"));
        }
        if self.payments.len() > MAX_PAYMENTS {
            return Err(invalid(
                "payments",
                format!("a lo más {MAX_PAYMENTS} pagos por venta"),
            ));
        }
        let mut payments = Vec::with_capacity(self.payments.len());
        let mut sum = Pesos::ZERO;
        let mut charged_sum = Pesos::ZERO;
        for (i, request) in self.payments.iter().enumerate() {
            let field = |name: &str| format!("payments[{i}].{name}");
            let method: PaymentMethod = request.method.trim().parse().map_err(|_| {
                invalid(
                    field("method"),
                    format!(
                        "método desconocido {:?}: usa EFECTIVO, DEBITO, CREDITO o TRANSFERENCIA",
                        request.method
                    ),
                )
            })?;
            let amount = money(&field("amount"), Pesos::positive(request.amount))?;
            let provider = match &request.provider {
                Some(provider) if method.is_card() => {
                    Some(provider.trim().parse::<PaymentProvider>().map_err(|_| {
                        invalid(
                            field("provider"),
                            format!("proveedor desconocido {provider:?}: usa GETNET o KLAP"),
                        )
                    })?)
                }
                Some(_) => {
                    return Err(invalid(
                        field("provider"),
                        "solo los pagos con tarjeta llevan proveedor",
                    ));
                }
                None => None,
            };
            let card = match (
                method.is_card(),
                request.attempt_id,
                &request.authorization_code,
            ) {
                (false, None, None) => None,
                (false, _, _) => {
                    return Err(invalid(
                        field("attempt_id"),
                        "solo los pagos con tarjeta llevan un cobro aprobado",
                    ));
                }
                (true, Some(_), Some(_)) => {
                    return Err(invalid(
                        field("authorization_code"),
                        "indica el cobro aprobado o el código del terminal, no ambos",
                    ));
                }
                (true, Some(id), None) if id > 0 => Some(CardApproval::Attempt(id)),
                (true, Some(_), None) => {
                    return Err(invalid(field("attempt_id"), "no es un cobro válido"));
                }
                (true, None, Some(code)) => {
                    if provider.is_none() {
                        return Err(invalid(
                            field("provider"),
                            "un pago confirmado con el código del terminal indica el proveedor (GETNET o KLAP)",
                        ));
                    }
                    let code = crate::registers::commands::card::authorization_code(code).map_err(
                        |_| {
                            invalid(
                                field("authorization_code"),
                                "el código de autorización tiene de 4 a 12 letras o números",
                            )
                        },
                    )?;
                    let voucher = request
                        .voucher()
                        .parse()
                        .map_err(|(name, message)| invalid(field(name), message))?;
                    Some(CardApproval::Manual { code, voucher })
                }
                (true, None, None) => {
                    return Err(invalid(
                        field("attempt_id"),
                        "un pago con tarjeta necesita su cobro aprobado (attempt_id) o el código de autorización del terminal",
                    ));
                }
            };
            let voucher_given = request.voucher().first_given();
            if let Some(name) = voucher_given
                && !matches!(card, Some(CardApproval::Manual { .. }))
            {
                return Err(invalid(
                    field(name),
                    "solo un pago confirmado con el código del terminal lleva los datos del voucher",
                ));
            }
            let tip = money(&field("tip"), Pesos::non_negative(request.tip.unwrap_or(0)))?;
            // Paid together (one card charge): they must fit one amount.
            if amount.checked_add(tip).is_none() {
                return Err(invalid(field("tip"), "la propina es demasiado grande"));
            }
            let (charged, tendered, change) = if method == PaymentMethod::Efectivo {
                if payments
                    .iter()
                    .any(|p: &ValidPayment| p.method == PaymentMethod::Efectivo)
                {
                    return Err(invalid(
                        field("method"),
                        "una venta lleva a lo más un pago en efectivo",
                    ));
                }
                if tip.get() % 10 != 0 {
                    return Err(invalid(
                        field("tip"),
                        "en efectivo, la propina va en múltiplos de $10",
                    ));
                }
                let charged = amount.cash_rounded();
                let received = charged
                    .checked_add(tip)
                    .ok_or_else(|| invalid(field("tip"), "la propina es demasiado grande"))?;
                let tendered = match request.tendered {
                    Some(t) => money(&field("tendered"), Pesos::positive(t))?,
                    None => received,
                };
                let change = tendered
                    .checked_sub(received)
                    .filter(|c| *c >= Pesos::ZERO)
                    .ok_or_else(|| {
                        invalid(
                            field("tendered"),
                            format!("el efectivo recibido no cubre {received}"),
                        )
                    })?;
                (charged, Some(tendered), change)
            } else {
                if request.tendered.is_some() {
                    return Err(invalid(
                        field("tendered"),
                        "solo el efectivo tiene monto recibido",
                    ));
                }
                (amount, None, Pesos::ZERO)
            };
            sum = sum
                .checked_add(amount)
                .ok_or_else(|| invalid("payments", "la suma de los pagos es demasiado grande"))?;
            charged_sum = charged_sum
                .checked_add(charged)
                .ok_or_else(|| invalid("payments", "la suma de los pagos es demasiado grande"))?;
            payments.push(ValidPayment {
                method,
                amount,
                charged,
                tendered,
                change,
                provider,
                card,
                approval: None,
                backup: false,
                tip,
            });
        }
        if sum != total {
            return Err(invalid(
                "payments",
                format!("los pagos suman {sum} y el total es {total}"),
            ));
        }
        // A tip taken offline stands as taken, like the price it was sold
        // at: the customer has paid it. A live one is bounded by the venue.
        let tipped = payments.iter().position(|p| p.tip > Pesos::ZERO);
        if let (Some(i), Pricing::Now { catalog, .. }) = (tipped, pricing) {
            let field = format!("payments[{i}].tip");
            let tip = payments
                .iter()
                .try_fold(Pesos::ZERO, |sum, p| sum.checked_add(p.tip))
                .ok_or_else(|| invalid(&field, "la propina es demasiado grande"))?;
            catalog
                .tips()
                .check(total, tip)
                .map_err(|refusal| invalid(&field, refusal.to_string()))?;
        }
        let lines = self.lines(total, pricing)?;
        Ok(ValidSale {
            key,
            total,
            total_charged: charged_sum,
            payments,
            session_id: self.session_id,
            lines,
        })
    }

    /// The lines, priced, adding up to `total`.
    fn lines(&self, total: Pesos, pricing: Pricing<'_>) -> Result<Vec<SaleLine>, InvalidSale> {
        let Some(requests) = &self.lines else {
            return Ok(vec![SaleLine::free_amount(total)]);
        };
        if requests.is_empty() {
            return Err(invalid(
                "lines",
                "la venta necesita al menos una línea (o ninguna lista: el total como monto libre)",
            ));
        }
        if requests.len() > MAX_LINES {
            return Err(invalid(
                "lines",
                format!("a lo más {MAX_LINES} líneas por venta"),
            ));
        }
        let mut lines = Vec::with_capacity(requests.len());
        let mut sum = Pesos::ZERO;
        for (i, request) in requests.iter().enumerate() {
            let field = |name: &str| format!("lines[{i}].{name}");
            let line = request.line(pricing, &field)?;
            let line_total = line.quantity.times(line.unit_price).ok_or_else(|| {
                invalid(
                    field("quantity"),
                    "el total de la línea es demasiado grande",
                )
            })?;
            sum = sum
                .checked_add(line_total)
                .ok_or_else(|| invalid("lines", "la suma de las líneas es demasiado grande"))?;
            lines.push(line);
        }
        if sum != total {
            return Err(invalid(
                "lines",
                format!("las líneas suman {sum} y el total es {total}"),
            ));
        }
        Ok(lines)
    }
}

impl LineRequest {
    fn line(
        &self,
        pricing: Pricing<'_>,
        field: &dyn Fn(&str) -> String,
    ) -> Result<SaleLine, InvalidSale> {
        let quantity = Quantity::new(self.quantity.unwrap_or(1))
            .map_err(|message| invalid(field("quantity"), message))?;
        let shown = self
            .unit_price
            .map(|price| money(&field("unit_price"), Pesos::positive(price)))
            .transpose()?;
        match (self.product_id, self.amount) {
            (Some(_), Some(_)) => Err(invalid(
                field("amount"),
                "una línea es un producto o un monto libre, no ambos",
            )),
            (None, None) => Err(invalid(
                field("product_id"),
                "indica el producto (product_id) o el monto libre (amount)",
            )),
            (None, Some(amount)) => {
                if shown.is_some() {
                    return Err(invalid(
                        field("unit_price"),
                        "un monto libre no lleva precio unitario: es su monto",
                    ));
                }
                let amount = money(&field("amount"), Pesos::positive(amount))?;
                Ok(SaleLine {
                    quantity,
                    ..SaleLine::free_amount(amount)
                })
            }
            (Some(id), None) => {
                let id = ProductId(id);
                let (name, unit_price, exempt) = match pricing {
                    Pricing::Now { catalog, caja } => {
                        let priced = catalog
                            .price(caja, id, shown)
                            .map_err(|refusal| invalid(field("product_id"), refusal.to_string()))?;
                        (priced.name, priced.unit_price, priced.exempt)
                    }
                    Pricing::AsSold { catalog } => {
                        let product = catalog.product(id).ok_or_else(|| {
                            invalid(field("product_id"), format!("no existe el producto {id}"))
                        })?;
                        let price = shown.ok_or_else(|| {
                            invalid(
                                field("unit_price"),
                                "una venta hecha sin conexión indica el precio al que se vendió",
                            )
                        })?;
                        (product.name.clone(), price, product.exempt)
                    }
                };
                Ok(SaleLine {
                    product: Some(id),
                    name,
                    unit_price,
                    quantity,
                    exempt,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sale(total: i64, payments: Vec<PaymentRequest>) -> SaleRequest {
        SaleRequest {
            key: "0b7e6a1e-7f64-4d5c-9a55-2a8f4e7a1c11".into(),
            total,
            payments,
            session_id: None,
            lines: None,
        }
    }

    fn product(id: i32, name: &str, price: i64) -> crate::catalog::Product {
        crate::catalog::Product {
            id: ProductId(id),
            category_id: crate::catalog::CategoryId(1),
            name: name.into(),
            short_name: name.into(),
            price: Pesos::positive(price).unwrap(),
            colour: crate::catalog::Colour::parse("#112233").unwrap(),
            sort_order: 0,
            offered: crate::catalog::Offered::Everywhere,
            exempt: false,
            sold_out: false,
            archived: false,
            version: 1,
        }
    }

    /// Piscola $4.500 and Cerveza $3.000 everywhere; Pisco sour only on
    /// caja 2; Gin sold out; Vodka archived.
    static CATALOG: std::sync::LazyLock<Catalog> = std::sync::LazyLock::new(|| {
        Catalog::new(
            vec![crate::catalog::Category {
                id: crate::catalog::CategoryId(1),
                name: "Tragos".into(),
                sort_order: 0,
                archived: false,
            }],
            vec![
                product(1, "Piscola", 4_500),
                product(2, "Cerveza", 3_000),
                crate::catalog::Product {
                    offered: crate::catalog::Offered::Only([CajaId(2)].into()),
                    ..product(3, "Pisco sour", 5_000)
                },
                crate::catalog::Product {
                    sold_out: true,
                    ..product(4, "Gin", 6_000)
                },
                crate::catalog::Product {
                    archived: true,
                    ..product(5, "Vodka", 5_500)
                },
            ],
        )
    });

    /// Priced by the catalog now, at caja 1.
    fn now() -> Pricing<'static> {
        Pricing::Now {
            catalog: &CATALOG,
            caja: CajaId(1),
        }
    }

    fn item(product_id: i32, quantity: i64) -> LineRequest {
        LineRequest {
            product_id: Some(product_id),
            quantity: Some(quantity),
            ..LineRequest::default()
        }
    }

    fn with_lines(total: i64, lines: Vec<LineRequest>) -> SaleRequest {
        SaleRequest {
            lines: Some(lines),
            ..sale(total, vec![pay("EFECTIVO", total, None, None)])
        }
    }

    #[test]
    fn lines_are_priced_by_the_catalog_and_add_up_to_the_total() {
        let valid = with_lines(
            15_000,
            vec![
                item(1, 2),
                item(2, 1),
                LineRequest {
                    amount: Some(3_000),
                    ..LineRequest::default()
                },
            ],
        )
        .validate(now())
        .unwrap();
        let names: Vec<_> = valid.lines.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["Piscola", "Cerveza", FREE_AMOUNT]);
        assert_eq!(valid.lines[0].total().get(), 9_000);
        assert!(!valid.is_free_amount());
        // Without lines, the total is one free amount, as before lines.
        let amount = sale(4_500, vec![pay("EFECTIVO", 4_500, None, None)])
            .validate(now())
            .unwrap();
        assert!(amount.is_free_amount());
        assert_eq!(amount.lines[0].unit_price.get(), 4_500);
    }

    #[test]
    fn a_line_the_catalog_refuses_is_named() {
        let refused = |lines: Vec<LineRequest>, total: i64| {
            let err = with_lines(total, lines).validate(now()).unwrap_err();
            (err.field, err.message)
        };
        assert_eq!(refused(vec![item(1, 1)], 4_000).0, "lines");
        assert_eq!(refused(vec![item(1, 0)], 4_500).0, "lines[0].quantity");
        assert_eq!(refused(vec![item(1, -1)], 4_500).0, "lines[0].quantity");
        assert_eq!(refused(vec![item(1, 1000)], 4_500).0, "lines[0].quantity");
        let (field, message) = refused(vec![item(2, 1), item(4, 1)], 9_000);
        assert_eq!(field, "lines[1].product_id");
        assert!(
            message.contains("Gin") && message.contains("agotado"),
            "{message}"
        );
        assert!(refused(vec![item(5, 1)], 5_500).1.contains("archivado"));
        assert!(
            refused(vec![item(3, 1)], 5_000)
                .1
                .contains("no se vende en esta caja")
        );
        assert_eq!(refused(vec![item(99, 1)], 5_000).0, "lines[0].product_id");
        let stale = LineRequest {
            unit_price: Some(4_000),
            ..item(1, 1)
        };
        let (field, message) = refused(vec![stale], 4_000);
        assert_eq!(field, "lines[0].product_id");
        assert!(message.contains("$4.500"), "{message}");
        assert_eq!(refused(vec![], 4_500).0, "lines");
        let both = LineRequest {
            amount: Some(100),
            ..item(1, 1)
        };
        assert_eq!(refused(vec![both], 4_600).0, "lines[0].amount");
        assert_eq!(
            refused(vec![LineRequest::default()], 1).0,
            "lines[0].product_id"
        );
        let huge = LineRequest {
            amount: Some(999_999_999_999),
            quantity: Some(999),
            ..LineRequest::default()
        };
        assert_eq!(refused(vec![huge], 1).0, "lines[0].quantity");
    }

    #[test]
    fn a_sale_taken_offline_keeps_the_price_it_was_sold_at() {
        let sold = LineRequest {
            unit_price: Some(4_000),
            ..item(1, 2)
        };
        let valid = with_lines(8_000, vec![sold])
            .validate(Pricing::AsSold { catalog: &CATALOG })
            .unwrap();
        assert_eq!(valid.lines[0].unit_price.get(), 4_000);
        assert_eq!(valid.lines[0].name, "Piscola");
        let err = with_lines(9_000, vec![item(1, 2)])
            .validate(Pricing::AsSold { catalog: &CATALOG })
            .unwrap_err();
        assert_eq!(err.field, "lines[0].unit_price");
    }

    #[test]
    fn the_fingerprint_tells_tickets_apart_and_keeps_amounts_as_they_were() {
        let two = with_lines(9_000, vec![item(1, 2)]).validate(now()).unwrap();
        let other = with_lines(9_000, vec![item(2, 3)]).validate(now()).unwrap();
        assert_ne!(two.fingerprint(), other.fingerprint());
        let amount = sale(9_000, vec![pay("EFECTIVO", 9_000, None, None)])
            .validate(now())
            .unwrap();
        assert_eq!(amount.fingerprint(), "9000|EFECTIVO:9000:9000:");
    }

    #[test]
    fn a_tip_rides_on_its_payment_bounded_live_and_as_taken_offline() {
        let tipped = |method: &str, amount: i64, tip: i64, tendered: Option<i64>| SaleRequest {
            payments: vec![PaymentRequest {
                tip: Some(tip),
                ..pay(method, amount, tendered, Some("GETNET"))
            }],
            ..sale(amount, vec![])
        };
        // Cash: the rounded amount and the tip are received; change is what is left.
        let cash = SaleRequest {
            payments: vec![PaymentRequest {
                tip: Some(1_230),
                ..pay("EFECTIVO", 12_345, Some(20_000), None)
            }],
            ..sale(12_345, vec![])
        };
        let valid = cash.validate(now()).unwrap();
        assert_eq!(
            (
                valid.total_charged.get(),
                valid.tip().get(),
                valid.change().get()
            ),
            (12_340, 1_230, 6_430)
        );
        assert_eq!(
            valid.cash_kept().get(),
            12_340,
            "the tip is not the sale's cash"
        );
        assert_ne!(
            valid.fingerprint(),
            SaleRequest {
                payments: vec![pay("EFECTIVO", 12_345, Some(20_000), None)],
                ..cash.clone()
            }
            .validate(now())
            .unwrap()
            .fingerprint()
        );
        // A card's charge is its amount and its tip.
        let card = tipped("DEBITO", 10_000, 1_000, None)
            .validate(now())
            .unwrap();
        assert_eq!(card.payments[0].card_charge().get(), 11_000);
        // Each mistake names the tip.
        let field = |r: SaleRequest| r.validate(now()).unwrap_err();
        let short = SaleRequest {
            payments: vec![PaymentRequest {
                tip: Some(500),
                ..pay("EFECTIVO", 4_500, Some(4_900), None)
            }],
            ..sale(4_500, vec![])
        };
        assert_eq!(field(short).field, "payments[0].tendered");
        let coins = SaleRequest {
            payments: vec![PaymentRequest {
                tip: Some(455),
                ..pay("EFECTIVO", 4_500, None, None)
            }],
            ..sale(4_500, vec![])
        };
        assert_eq!(field(coins).field, "payments[0].tip");
        assert_eq!(
            field(tipped("DEBITO", 4_500, -1, None)).field,
            "payments[0].tip"
        );
        // A tip that would make the card's charge too large for one amount.
        let huge = tipped("DEBITO", 900_000_000_000, 200_000_000_000, None);
        assert_eq!(
            huge.validate(Pricing::AsSold { catalog: &CATALOG })
                .unwrap_err()
                .field,
            "payments[0].tip"
        );
        // Above the venue's bound (half the sale): refused live, kept as
        // taken when the sale was made offline.
        let large = tipped("DEBITO", 4_500, 2_260, None);
        let err = field(large.clone());
        assert_eq!(err.field, "payments[0].tip");
        assert!(err.message.contains("50 %"), "{}", err.message);
        let offline = large
            .validate(Pricing::AsSold { catalog: &CATALOG })
            .unwrap();
        assert_eq!(offline.tip().get(), 2_260);
    }

    /// A payment; a card one is confirmed with a terminal's code.
    fn pay(
        method: &str,
        amount: i64,
        tendered: Option<i64>,
        provider: Option<&str>,
    ) -> PaymentRequest {
        let card = matches!(method, "DEBITO" | "CREDITO") && provider.is_some_and(|p| p != "VISA");
        PaymentRequest {
            method: method.into(),
            amount,
            tendered,
            provider: provider.map(Into::into),
            attempt_id: None,
            authorization_code: card.then(|| "A1B2C3".to_owned()),
            ..PaymentRequest::default()
        }
    }

    #[test]
    fn cash_is_rounded_and_change_recorded() {
        let valid = sale(12_345, vec![pay("EFECTIVO", 12_345, Some(20_000), None)])
            .validate(now())
            .unwrap();
        assert_eq!(valid.total.get(), 12_345);
        assert_eq!(valid.total_charged.get(), 12_340);
        assert_eq!(valid.payments[0].change.get(), 7_660);
        assert_eq!(valid.cash_kept().get(), 12_340);
    }

    #[test]
    fn mixed_payments_round_only_the_cash() {
        let valid = sale(
            10_007,
            vec![
                pay("DEBITO", 5_000, None, Some("GETNET")),
                pay("EFECTIVO", 5_007, None, None),
            ],
        )
        .validate(now())
        .unwrap();
        assert_eq!(valid.total_charged.get(), 10_010);
        assert_eq!(valid.cash_kept().get(), 5_010);
    }

    #[test]
    fn every_mistake_names_its_field() {
        let field = |r: SaleRequest| r.validate(now()).unwrap_err().field;
        assert_eq!(
            field(SaleRequest {
                key: "nope".into(),
                ..sale(1, vec![pay("EFECTIVO", 1, None, None)])
            }),
            "key"
        );
        assert_eq!(
            field(sale(0, vec![pay("EFECTIVO", 1, None, None)])),
            "total"
        );
        assert_eq!(
            field(sale(-5, vec![pay("EFECTIVO", 1, None, None)])),
            "total"
        );
        assert_eq!(
            field(sale(
                2_000_000_000_000,
                vec![pay("EFECTIVO", 1, None, None)]
            )),
            "total"
        );
        assert_eq!(field(sale(100, vec![])), "payments");
        assert_eq!(
            field(sale(100, vec![pay("CHEQUE", 100, None, None)])),
            "payments[0].method"
        );
        assert_eq!(
            field(sale(100, vec![pay("DEBITO", 100, None, None)])),
            "payments[0].attempt_id"
        );
        let mut manual = pay("DEBITO", 100, None, None);
        manual.authorization_code = Some("123456".into());
        assert_eq!(field(sale(100, vec![manual])), "payments[0].provider");
        let mut bad_code = pay("DEBITO", 100, None, Some("GETNET"));
        bad_code.authorization_code = Some("12".into());
        assert_eq!(
            field(sale(100, vec![bad_code])),
            "payments[0].authorization_code"
        );
        let mut both = pay("DEBITO", 100, None, Some("GETNET"));
        both.attempt_id = Some(3);
        assert_eq!(
            field(sale(100, vec![both])),
            "payments[0].authorization_code"
        );
        let mut cash_attempt = pay("EFECTIVO", 100, None, None);
        cash_attempt.attempt_id = Some(3);
        assert_eq!(
            field(sale(100, vec![cash_attempt])),
            "payments[0].attempt_id"
        );
        assert_eq!(
            field(sale(100, vec![pay("DEBITO", 100, None, Some("VISA"))])),
            "payments[0].provider"
        );
        assert_eq!(
            field(sale(100, vec![pay("EFECTIVO", 100, None, Some("KLAP"))])),
            "payments[0].provider"
        );
        assert_eq!(
            field(sale(100, vec![pay("EFECTIVO", 100, Some(50), None)])),
            "payments[0].tendered"
        );
        assert_eq!(
            field(sale(100, vec![pay("DEBITO", 100, Some(200), Some("KLAP"))])),
            "payments[0].tendered"
        );
        assert_eq!(
            field(sale(100, vec![pay("EFECTIVO", 60, None, None)])),
            "payments"
        );
        assert_eq!(
            field(sale(100, vec![pay("EFECTIVO", 0, None, None)])),
            "payments[0].amount"
        );
        assert_eq!(
            field(sale(
                100,
                vec![
                    pay("EFECTIVO", 50, None, None),
                    pay("EFECTIVO", 50, None, None)
                ]
            )),
            "payments[1].method"
        );
        assert_eq!(
            field(sale(
                1_000_000_000_000,
                vec![
                    pay("DEBITO", 999_999_999_999, None, Some("KLAP")),
                    pay("CREDITO", 999_999_999_999, None, Some("KLAP"))
                ]
            )),
            "payments"
        );
    }

    #[test]
    fn the_fingerprint_tells_sales_apart() {
        let a = sale(100, vec![pay("EFECTIVO", 100, None, None)])
            .validate(now())
            .unwrap();
        let b = sale(100, vec![pay("DEBITO", 100, None, Some("KLAP"))])
            .validate(now())
            .unwrap();
        assert_eq!(a.fingerprint(), a.clone().fingerprint());
        assert_ne!(a.fingerprint(), b.fingerprint());
    }
}
