//! A card payment attempt: an amount charged on one provider's terminal
//! for one sale, from PENDING to its outcome, as stored in `card_attempts`.
//! Only the caja's actor moves an attempt (through the register's write
//! path), so every transition is a committed change with its `seq`.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::cajas::CajaId;
use crate::cajas::domain::PaymentProvider;
use crate::db::schema::card_attempts;
use crate::payments::method::PaymentMethod;
use crate::text_enum;

text_enum! {
    /// Where an attempt stands.
    AttemptStatus {
        Pending = "PENDING" => "Esperando el terminal",
        Approved = "APPROVED" => "Aprobado",
        Declined = "DECLINED" => "Rechazado",
        Failed = "FAILED" => "Falló",
        TimedOut = "TIMED_OUT" => "Sin respuesta: verificar en el terminal",
        Cancelled = "CANCELLED" => "No se cobró",
        Unknown = "UNKNOWN" => "Desconocido: verificar en el terminal",
    }
}

impl AttemptStatus {
    /// Nobody knows yet whether the customer was charged: the terminal has
    /// not answered, or stopped being watched (a restart).
    pub fn is_unresolved(self) -> bool {
        matches!(
            self,
            AttemptStatus::Pending | AttemptStatus::TimedOut | AttemptStatus::Unknown
        )
    }

    /// The provider may not have done its job (not the customer's card):
    /// what lets this sale move on to the backup.
    pub fn may_fall_back(self) -> bool {
        matches!(
            self,
            AttemptStatus::Failed | AttemptStatus::TimedOut | AttemptStatus::Unknown
        )
    }
}

/// One row of `card_attempts`.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Serialize, Deserialize)]
#[diesel(table_name = card_attempts, check_for_backend(diesel::pg::Pg))]
pub struct CardAttempt {
    pub id: i64,
    pub register_id: CajaId,
    pub session_id: i32,
    pub attempt_key: Uuid,
    pub sale_key: Uuid,
    pub provider: PaymentProvider,
    pub used_backup: bool,
    pub method: PaymentMethod,
    pub amount: i64,
    pub status: AttemptStatus,
    pub authorization_code: Option<String>,
    pub terminal_reference: Option<String>,
    pub detail: Option<String>,
    pub fallback_from: Option<i64>,
    pub overridden_by: Option<i32>,
    pub started_by: i32,
    pub started_at: DateTime<Utc>,
    pub deadline_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<i32>,
    pub sale_id: Option<i64>,
    /// Approved after it had been resolved otherwise: a charge nobody
    /// expected ("cobrado sin venta" until a sale uses it or it is settled).
    pub approved_late: bool,
    /// How much of it was given back to the card.
    pub refunded_amount: i64,
    pub written_off_by: Option<i32>,
    pub written_off_at: Option<DateTime<Utc>>,
    pub write_off_reason: Option<String>,
    pub card_brand: Option<String>,
    pub card_last4: Option<String>,
    /// Cuotas, on a credit card.
    pub installments: Option<i16>,
    /// An earlier approval of the same provider in the same jornada that
    /// carries the same code (typed by a cashier): see `repeated_code`.
    pub code_repeats: Option<i64>,
    /// The part of `amount` that is the sale's tip (docs/architecture.md
    /// rule 19): the sale it pays is `amount - tip`.
    pub tip: i64,
}

/// What a terminal's voucher says of a charge besides its code: its
/// reference, the card's brand and last four digits, the cuotas of a
/// credit sale. Never the card's number.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Voucher {
    #[serde(default)]
    pub terminal_reference: Option<String>,
    #[serde(default)]
    pub card_brand: Option<String>,
    #[serde(default)]
    pub card_last4: Option<String>,
    #[serde(default)]
    pub installments: Option<i16>,
}

/// A voucher's fields as a request sends them, before they are checked.
#[derive(Debug, Clone, Copy, Default)]
pub struct VoucherFields<'a> {
    pub terminal_reference: Option<&'a str>,
    pub card_brand: Option<&'a str>,
    pub card_last4: Option<&'a str>,
    pub installments: Option<i64>,
}

impl VoucherFields<'_> {
    /// The first field given, if any (where no voucher may go).
    pub fn first_given(&self) -> Option<&'static str> {
        [
            ("terminal_reference", self.terminal_reference.is_some()),
            ("card_brand", self.card_brand.is_some()),
            ("card_last4", self.card_last4.is_some()),
            ("installments", self.installments.is_some()),
        ]
        .into_iter()
        .find_map(|(field, given)| given.then_some(field))
    }

    /// The voucher, each field checked; the field at fault and why otherwise.
    pub fn parse(&self) -> Result<Voucher, (&'static str, String)> {
        fn typed(raw: Option<&str>) -> Option<&str> {
            raw.map(str::trim).filter(|raw| !raw.is_empty())
        }
        let terminal_reference = typed(self.terminal_reference)
            .map(|raw| crate::text::line(raw, 64))
            .transpose()
            .map_err(|err| ("terminal_reference", format!("la referencia {err}")))?;
        let card_brand = typed(self.card_brand)
            .map(|raw| {
                let brand = raw.to_uppercase();
                let fits = brand.chars().count() <= 20
                    && brand
                        .chars()
                        .all(|c| c.is_alphanumeric() || c == ' ' || c == '-');
                fits.then_some(brand).ok_or((
                    "card_brand",
                    "la marca tiene hasta 20 letras (VISA, MASTERCARD, REDCOMPRA…)".to_owned(),
                ))
            })
            .transpose()?;
        let card_last4 = typed(self.card_last4)
            .map(|raw| {
                (raw.len() == 4 && raw.bytes().all(|b| b.is_ascii_digit()))
                    .then(|| raw.to_owned())
                    .ok_or((
                        "card_last4",
                        "los últimos 4 dígitos de la tarjeta son 4 dígitos".to_owned(),
                    ))
            })
            .transpose()?;
        let installments = self
            .installments
            .map(|n| {
                i16::try_from(n)
                    .ok()
                    .filter(|n| (1..=48).contains(n))
                    .ok_or(("installments", "las cuotas van de 1 a 48".to_owned()))
            })
            .transpose()?;
        Ok(Voucher {
            terminal_reference,
            card_brand,
            card_last4,
            installments,
        })
    }
}

impl Voucher {
    /// Cuotas only on a credit card.
    pub fn fits(&self, method: PaymentMethod) -> Result<(), (&'static str, String)> {
        match self.installments {
            Some(_) if method != PaymentMethod::Credito => Err((
                "installments",
                "solo un pago con CREDITO lleva cuotas".to_owned(),
            )),
            _ => Ok(()),
        }
    }
}

/// How an approved charge ended, if it has (every one must, in one way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settlement {
    /// Not a charge: the attempt was not approved.
    NoCharge,
    /// Approved and still waiting for one of the endings below.
    Open,
    /// Paid this sale.
    Sale(i64),
    /// Given back to the card in full (possibly in several refunds).
    Refunded,
    /// A supervisor settled it otherwise, with a reason (audited).
    WrittenOff,
}

impl CardAttempt {
    /// Counts this attempt, committed in the state it is in now.
    pub fn count(&self) {
        let fell_back = self.fallback_from.is_some() && self.ended_at.is_none();
        crate::metrics::metrics().card_attempt(
            self.provider.as_str(),
            self.status.as_str(),
            fell_back,
        );
    }

    /// How this charge ended (see [`Settlement`]).
    pub fn settlement(&self) -> Settlement {
        if self.status != AttemptStatus::Approved {
            Settlement::NoCharge
        } else if let Some(sale) = self.sale_id {
            Settlement::Sale(sale)
        } else if self.written_off_at.is_some() {
            Settlement::WrittenOff
        } else if self.refunded_amount >= self.amount {
            Settlement::Refunded
        } else {
            Settlement::Open
        }
    }

    /// An approved charge nothing has settled yet: a closing waits for it
    /// and the floor shows it.
    pub fn is_open_charge(&self) -> bool {
        self.settlement() == Settlement::Open
    }

    /// What the floor shows as an alert: nobody knows whether it charged,
    /// or it is a charge nothing has settled yet.
    pub fn is_floor_alert(&self) -> bool {
        self.status.is_unresolved() || self.is_open_charge()
    }

    /// What is left to give back or write off of an open charge.
    pub fn unsettled_amount(&self) -> i64 {
        self.amount - self.refunded_amount
    }

    /// Still of interest to the screens: unresolved, or a charge to settle.
    pub fn is_open(&self) -> bool {
        self.status.is_unresolved() || self.is_open_charge()
    }
}

/// A new attempt, as the actor writes it.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = card_attempts)]
pub struct NewAttempt {
    pub register_id: CajaId,
    pub session_id: i32,
    pub attempt_key: Uuid,
    pub sale_key: Uuid,
    pub provider: PaymentProvider,
    pub used_backup: bool,
    pub method: PaymentMethod,
    pub amount: i64,
    pub status: AttemptStatus,
    pub authorization_code: Option<String>,
    pub terminal_reference: Option<String>,
    pub detail: Option<String>,
    pub fallback_from: Option<i64>,
    pub overridden_by: Option<i32>,
    pub started_by: i32,
    pub started_at: DateTime<Utc>,
    pub deadline_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<i32>,
    pub card_brand: Option<String>,
    pub card_last4: Option<String>,
    pub installments: Option<i16>,
    pub tip: i64,
}

pub fn insert(conn: &mut PgConnection, attempt: &NewAttempt) -> QueryResult<CardAttempt> {
    diesel::insert_into(card_attempts::table)
        .values(attempt)
        .returning(CardAttempt::as_returning())
        .get_result(conn)
}

pub fn by_key(conn: &mut PgConnection, key: Uuid) -> QueryResult<Option<CardAttempt>> {
    card_attempts::table
        .filter(card_attempts::attempt_key.eq(key))
        .select(CardAttempt::as_select())
        .first(conn)
        .optional()
}

/// Attempt `id` of caja `register`, locked for a change.
pub fn find_for_update(
    conn: &mut PgConnection,
    register: CajaId,
    id: i64,
) -> QueryResult<Option<CardAttempt>> {
    card_attempts::table
        .find(id)
        .filter(card_attempts::register_id.eq(register))
        .select(CardAttempt::as_select())
        .for_update()
        .first(conn)
        .optional()
}

/// Every attempt of one sale, oldest first.
pub fn of_sale(conn: &mut PgConnection, sale_key: Uuid) -> QueryResult<Vec<CardAttempt>> {
    card_attempts::table
        .filter(card_attempts::sale_key.eq(sale_key))
        .order(card_attempts::id)
        .select(CardAttempt::as_select())
        .for_update()
        .load(conn)
}

/// How an attempt ends (or is known to have ended).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ending {
    pub status: AttemptStatus,
    pub authorization_code: Option<String>,
    /// What the voucher says besides the code (an approval's).
    pub voucher: Voucher,
    pub detail: Option<String>,
    pub at: DateTime<Utc>,
    /// Who resolved it by hand.
    pub by: Option<i32>,
    /// An approval after it was resolved otherwise (see [`CardAttempt::approved_late`]).
    pub late: bool,
}

/// Moves attempt `id` from `from` to `ending`; `None` when it was no longer
/// in `from` (someone resolved it meanwhile).
pub fn end(
    conn: &mut PgConnection,
    id: i64,
    from: AttemptStatus,
    ending: &Ending,
) -> QueryResult<Option<CardAttempt>> {
    diesel::update(
        card_attempts::table
            .find(id)
            .filter(card_attempts::status.eq(from)),
    )
    .set((
        card_attempts::status.eq(ending.status),
        card_attempts::authorization_code.eq(&ending.authorization_code),
        card_attempts::terminal_reference.eq(&ending.voucher.terminal_reference),
        card_attempts::card_brand.eq(&ending.voucher.card_brand),
        card_attempts::card_last4.eq(&ending.voucher.card_last4),
        card_attempts::installments.eq(ending.voucher.installments),
        card_attempts::detail.eq(&ending.detail),
        card_attempts::ended_at.eq(ending.at),
        card_attempts::resolved_by.eq(ending.by),
        card_attempts::approved_late.eq(ending.late),
    ))
    .returning(CardAttempt::as_returning())
    .get_result(conn)
    .optional()
}

/// The approval `id` pays sale `sale_id`; false when it was used already
/// or settled otherwise (refunded, written off).
pub fn pay(conn: &mut PgConnection, id: i64, sale_id: i64) -> QueryResult<bool> {
    let updated = diesel::update(
        card_attempts::table
            .find(id)
            .filter(card_attempts::status.eq(AttemptStatus::Approved))
            .filter(card_attempts::sale_id.is_null())
            .filter(card_attempts::written_off_at.is_null())
            .filter(card_attempts::refunded_amount.eq(0)),
    )
    .set(card_attempts::sale_id.eq(sale_id))
    .execute(conn)?;
    Ok(updated == 1)
}

/// How many attempts a screen is shown besides the open ones.
pub const RECENT_ATTEMPTS: i64 = 8;

/// The open charges of caja `register`: approved, with no sale, not
/// refunded in full nor written off (whatever session they were made in).
#[diesel::dsl::auto_type]
fn open_charges(register: CajaId) -> _ {
    let approved: AttemptStatus = AttemptStatus::Approved;
    card_attempts::table
        .filter(card_attempts::register_id.eq(register))
        .filter(card_attempts::status.eq(approved))
        .filter(card_attempts::sale_id.is_null())
        .filter(card_attempts::written_off_at.is_null())
        .filter(card_attempts::refunded_amount.lt(card_attempts::amount))
}

/// The attempts a screen needs: the open session's last few and every
/// older one still open, and the caja's charges still to settle from
/// earlier sessions; oldest first.
pub fn for_screens(
    conn: &mut PgConnection,
    register: CajaId,
    session: Option<i32>,
) -> QueryResult<Vec<CardAttempt>> {
    let mut recent: Vec<CardAttempt> = match session {
        Some(session) => card_attempts::table
            .filter(card_attempts::session_id.eq(session))
            .order(card_attempts::id.desc())
            .limit(RECENT_ATTEMPTS)
            .select(CardAttempt::as_select())
            .load(conn)?,
        None => Vec::new(),
    };
    let oldest = recent.last().map_or(i64::MAX, |a| a.id);
    if let Some(session) = session {
        let older_unresolved: Vec<CardAttempt> = card_attempts::table
            .filter(card_attempts::session_id.eq(session))
            .filter(card_attempts::id.lt(oldest))
            .filter(card_attempts::status.eq_any([
                AttemptStatus::Pending,
                AttemptStatus::TimedOut,
                AttemptStatus::Unknown,
            ]))
            .select(CardAttempt::as_select())
            .load(conn)?;
        recent.extend(older_unresolved);
    }
    let charges: Vec<CardAttempt> = open_charges(register)
        .select(CardAttempt::as_select())
        .load(conn)?;
    for charge in charges {
        if !recent.iter().any(|a| a.id == charge.id) {
            recent.push(charge);
        }
    }
    recent.sort_by_key(|a| a.id);
    Ok(recent)
}

/// The session's open charges, locked (closing waits for them).
pub fn open_charges_of_session(
    conn: &mut PgConnection,
    register: CajaId,
    session: i32,
) -> QueryResult<Vec<CardAttempt>> {
    open_charges(register)
        .filter(card_attempts::session_id.eq(session))
        .order(card_attempts::id)
        .select(CardAttempt::as_select())
        .for_update()
        .load(conn)
}

/// The caja's attempts left PENDING by a hub that stopped: nobody watches
/// their terminal any more, so they become UNKNOWN (to verify by hand).
pub fn orphan_pending(
    conn: &mut PgConnection,
    register: CajaId,
    at: DateTime<Utc>,
) -> QueryResult<Vec<CardAttempt>> {
    diesel::update(
        card_attempts::table
            .filter(card_attempts::register_id.eq(register))
            .filter(card_attempts::status.eq(AttemptStatus::Pending)),
    )
    .set((
        card_attempts::status.eq(AttemptStatus::Unknown),
        card_attempts::ended_at.eq(at),
        card_attempts::detail.eq("El sistema se reinició mientras esperaba al terminal: verifica en el terminal si se cobró."),
    ))
    .returning(CardAttempt::as_returning())
    .get_results(conn)
}

/// When a caja's payments on a provider last failed and were last approved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastOutcomes {
    pub failed: Option<DateTime<Utc>>,
    pub approved: Option<DateTime<Utc>>,
}

/// The caja's last outcomes on `provider`, from what is committed (for its
/// health after a restart).
pub fn last_outcomes(
    conn: &mut PgConnection,
    register: CajaId,
    provider: PaymentProvider,
) -> QueryResult<LastOutcomes> {
    use diesel::dsl::max;
    let of = |statuses: &[AttemptStatus]| {
        card_attempts::table
            .filter(card_attempts::register_id.eq(register))
            .filter(card_attempts::provider.eq(provider))
            .filter(card_attempts::status.eq_any(statuses.to_vec()))
            .select(max(card_attempts::ended_at))
    };
    // A restart (UNKNOWN) is not the provider's fault.
    let failed = of(&[AttemptStatus::Failed, AttemptStatus::TimedOut])
        .first::<Option<DateTime<Utc>>>(conn)?;
    let approved = of(&[AttemptStatus::Approved]).first::<Option<DateTime<Utc>>>(conn)?;
    Ok(LastOutcomes { failed, approved })
}

/// The session's attempts nobody knows the result of, locked (closing
/// waits for them).
pub fn unresolved_of_session(
    conn: &mut PgConnection,
    session: i32,
) -> QueryResult<Vec<CardAttempt>> {
    card_attempts::table
        .filter(card_attempts::session_id.eq(session))
        .filter(card_attempts::status.eq_any([
            AttemptStatus::Pending,
            AttemptStatus::TimedOut,
            AttemptStatus::Unknown,
        ]))
        .order(card_attempts::id)
        .select(CardAttempt::as_select())
        .for_update()
        .load(conn)
}

impl CardAttempt {
    /// "#12 GETNET $5.000 (sin respuesta: verificar en el terminal)".
    pub fn describe(&self) -> String {
        format!(
            "#{} {} {} ({})",
            self.id,
            self.provider,
            crate::money::Pesos::new(self.amount).unwrap_or_default(),
            self.state_label()
        )
    }

    /// "$5.000".
    pub fn amount_words(&self) -> crate::money::Pesos {
        crate::money::Pesos::new(self.amount).unwrap_or_default()
    }

    /// "$2.000" given back to the card.
    pub fn refunded_words(&self) -> crate::money::Pesos {
        crate::money::Pesos::new(self.refunded_amount).unwrap_or_default()
    }

    /// Where it stands, in words: its status, or how its charge ended.
    pub fn state_label(&self) -> String {
        match self.settlement() {
            Settlement::Open if self.refunded_amount > 0 => format!(
                "cobrado sin venta, quedan {} por devolver",
                crate::money::Pesos::new(self.unsettled_amount()).unwrap_or_default()
            ),
            Settlement::Open if self.approved_late => "cobrado sin venta".into(),
            Settlement::Open => "aprobado, sin venta registrada".into(),
            Settlement::Refunded => "devuelto".into(),
            Settlement::WrittenOff => "dado de baja".into(),
            Settlement::NoCharge | Settlement::Sale(_) => self.status.label().to_lowercase(),
        }
    }
}
