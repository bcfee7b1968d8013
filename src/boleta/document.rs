//! A tax document as its provider is sent it, read from the outbox row,
//! its sale and the venue's emisor.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use serde::Serialize;
use uuid::Uuid;

use super::iva::Desglose;
use super::settings::BoletaSettings;
use crate::money::Pesos;
use crate::text_enum;
use diesel::sql_types::{
    Array, BigInt, Bool, Integer, Nullable, SmallInt, Text, Timestamptz, Uuid as SqlUuid,
};

text_enum! {
    /// Where a document stands with its provider and the SII.
    DocumentStatus {
        Pendiente = "PENDIENTE" => "Pendiente",
        Enviada = "ENVIADA" => "Enviada al SII",
        Aceptada = "ACEPTADA" => "Aceptada",
        Rechazada = "RECHAZADA" => "Rechazada",
    }
}

/// The DTE types the hub issues, sent as the SII's code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(into = "i16")]
pub enum DteKind {
    /// 39: boleta electrónica (afecta; an exempt part stated apart).
    Boleta,
    /// 41: boleta exenta electrónica, of a sale all exempt (rule 22).
    BoletaExenta,
    /// 61: nota de crédito, undoing a boleta.
    NotaCredito,
}

impl From<DteKind> for i16 {
    fn from(kind: DteKind) -> i16 {
        kind.code()
    }
}

impl DteKind {
    pub fn code(self) -> i16 {
        match self {
            DteKind::Boleta => 39,
            DteKind::BoletaExenta => 41,
            DteKind::NotaCredito => 61,
        }
    }

    pub fn of_code(code: i16) -> Option<Self> {
        match code {
            39 => Some(DteKind::Boleta),
            41 => Some(DteKind::BoletaExenta),
            61 => Some(DteKind::NotaCredito),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            DteKind::Boleta => "Boleta electrónica",
            DteKind::BoletaExenta => "Boleta exenta electrónica",
            DteKind::NotaCredito => "Nota de crédito",
        }
    }

    /// A boleta of either kind (what a sale gets; a nota de crédito undoes it).
    pub fn is_boleta(code: i16) -> bool {
        matches!(
            Self::of_code(code),
            Some(DteKind::Boleta | DteKind::BoletaExenta)
        )
    }

    /// The label of a stored type code (one the hub does not issue: "Documento").
    pub fn label_of(code: i16) -> &'static str {
        Self::of_code(code).map_or("Documento", Self::label)
    }
}

/// The issuer as the document carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Emisor {
    pub rut: String,
    pub razon_social: String,
    pub giro: String,
    pub direccion: String,
    pub comuna: String,
}

impl Emisor {
    /// The emisor of `settings`, when it is whole.
    pub fn of(settings: &BoletaSettings) -> Option<Emisor> {
        Some(Emisor {
            rut: settings.emisor_rut?.sii(),
            razon_social: settings.razon_social.clone()?,
            giro: settings.giro.clone()?,
            direccion: settings.direccion.clone()?,
            comuna: settings.comuna.clone()?,
        })
    }
}

/// One detail line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Line {
    pub name: String,
    pub quantity: i32,
    pub unit_price: i64,
    pub total: i64,
    /// Exempt of IVA (the SII's `IndExe`).
    pub exento: bool,
}

/// What is sent: the key makes a second send of it harmless.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Document {
    #[serde(skip)]
    pub id: i64,
    /// Pending (to send) or sent (to ask about).
    #[serde(skip)]
    pub status: DocumentStatus,
    pub idempotency_key: Uuid,
    /// The SII's code of its type (39, 41, 61).
    #[serde(rename = "tipo_dte")]
    pub kind: DteKind,
    pub emisor: Emisor,
    /// The day of the sale, in the venue's time.
    pub fecha: NaiveDate,
    pub lines: Vec<Line>,
    pub neto: i64,
    pub iva: i64,
    /// What of the total bears no IVA (all of it on a boleta exenta).
    pub exento: i64,
    pub total: i64,
    /// How the sale was paid (the methods, as the hub names them).
    pub payment_methods: Vec<String>,
    /// A nota de crédito's boleta.
    pub refers_to: Option<Reference>,
}

/// The document a nota de crédito undoes, whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Reference {
    pub kind: DteKind,
    pub folio: i64,
}

/// A document due to be sent, as its row and its sale hold it.
#[derive(QueryableByName)]
struct Due {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = SqlUuid)]
    key: Uuid,
    #[diesel(sql_type = SmallInt)]
    kind: i16,
    #[diesel(sql_type = BigInt)]
    total: i64,
    #[diesel(sql_type = BigInt)]
    exempt: i64,
    #[diesel(sql_type = Nullable<Array<Bool>>)]
    line_exempt: Option<Vec<bool>>,
    #[diesel(sql_type = BigInt)]
    sale_total: i64,
    #[diesel(sql_type = Timestamptz)]
    sold_at: DateTime<Utc>,
    #[diesel(sql_type = Array<Text>)]
    line_names: Vec<String>,
    #[diesel(sql_type = Array<BigInt>)]
    line_prices: Vec<i64>,
    #[diesel(sql_type = Array<Integer>)]
    line_quantities: Vec<i32>,
    #[diesel(sql_type = Array<Text>)]
    methods: Vec<String>,
    /// A nota de crédito's boleta: its folio, once the SII took it.
    #[diesel(sql_type = Nullable<BigInt>)]
    refers_to_folio: Option<i64>,
    #[diesel(sql_type = Nullable<SmallInt>)]
    refers_to_kind: Option<i16>,
}

/// The line a document shows when it documents part of a sale (the part
/// not paid by card, under the voucher model) or a sale with no lines.
const CONSUMO: &str = "Consumo";
/// Its exempt part, when it has one.
const CONSUMO_EXENTO: &str = "Consumo exento";

impl Due {
    fn document(self, emisor: &Emisor) -> Option<Document> {
        let lines = if self.total == self.sale_total && !self.line_names.is_empty() {
            let exempt = self.line_exempt.unwrap_or_default();
            self.line_names
                .into_iter()
                .zip(self.line_prices)
                .zip(self.line_quantities)
                .enumerate()
                .map(|(i, ((name, unit_price), quantity))| Line {
                    total: unit_price * i64::from(quantity),
                    name,
                    quantity,
                    unit_price,
                    exento: exempt.get(i).copied().unwrap_or(false),
                })
                .collect()
        } else {
            let consumo = |name: &str, amount: i64, exento| Line {
                name: name.into(),
                quantity: 1,
                unit_price: amount,
                total: amount,
                exento,
            };
            [
                consumo(CONSUMO, self.total - self.exempt, false),
                consumo(CONSUMO_EXENTO, self.exempt, true),
            ]
            .into_iter()
            .filter(|line| line.total > 0)
            .collect()
        };
        let desglose = Desglose::of(Pesos::new(self.total).ok()?, Pesos::new(self.exempt).ok()?);
        Some(Document {
            id: self.id,
            status: self.status.parse().ok()?,
            idempotency_key: self.key,
            kind: DteKind::of_code(self.kind)?,
            emisor: emisor.clone(),
            fecha: self
                .sold_at
                .with_timezone(&chrono_tz::America::Santiago)
                .date_naive(),
            lines,
            neto: desglose.neto.get(),
            iva: desglose.iva.get(),
            exento: desglose.exento.get(),
            total: self.total,
            payment_methods: self.methods,
            refers_to: self
                .refers_to_folio
                .zip(self.refers_to_kind.and_then(DteKind::of_code))
                .map(|(folio, kind)| Reference { kind, folio }),
        })
    }
}

/// What is due: pending (to send) or sent (to ask about), its wait over,
/// and, for a nota de crédito, its boleta decided (it names the boleta's
/// folio; one the SII rejected has nothing to undo).
const DUE: &str = "
    LEFT JOIN tax_documents b ON b.id = d.refers_to
    WHERE d.status IN ('PENDIENTE', 'ENVIADA')
      AND (d.refers_to IS NULL OR b.status IN ('ACEPTADA', 'RECHAZADA'))";

/// Up to `limit` documents due at `now`, oldest first.
pub fn due(
    conn: &mut PgConnection,
    emisor: &Emisor,
    now: DateTime<Utc>,
    limit: i64,
) -> QueryResult<Vec<Document>> {
    let rows: Vec<Due> = diesel::sql_query(format!(
        "SELECT d.id, d.status, d.idempotency_key AS key, d.kind, d.total, d.exempt, d.line_exempt,
                s.total AS sale_total,
                s.created_at AS sold_at, s.line_names, s.line_prices, s.line_quantities,
                ARRAY(SELECT p.method::text FROM sale_payments p
                       WHERE p.sale_id = s.id ORDER BY p.payment_no) AS methods,
                b.folio AS refers_to_folio, b.kind AS refers_to_kind
         FROM tax_documents d JOIN sales s ON s.id = d.sale_id
         {DUE} AND d.next_try_at <= $1
         ORDER BY d.id LIMIT $2"
    ))
    .bind::<Timestamptz, _>(now)
    .bind::<BigInt, _>(limit)
    .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|row| row.document(emisor))
        .collect())
}

/// When the first document is due, if any is pending (and may be sent).
pub fn next_due(conn: &mut PgConnection) -> QueryResult<Option<DateTime<Utc>>> {
    #[derive(QueryableByName)]
    struct Next {
        #[diesel(sql_type = Nullable<Timestamptz>)]
        at: Option<DateTime<Utc>>,
    }
    diesel::sql_query(format!(
        "SELECT min(d.next_try_at) AS at FROM tax_documents d {DUE}"
    ))
    .get_result::<Next>(conn)
    .map(|next| next.at)
}

/// Queues the nota de crédito of sale `sale_id`'s boleta, in the void's
/// transaction, under the void's key: whether the sale had one.
pub fn queue_credit_note(
    conn: &mut PgConnection,
    sale_id: i64,
    key: Uuid,
    at: DateTime<Utc>,
) -> QueryResult<bool> {
    let queued = diesel::sql_query(
        "INSERT INTO tax_documents (sale_id, register_id, kind, idempotency_key, total, exempt,
                                    line_exempt, refers_to, next_try_at, created_at)
         SELECT sale_id, register_id, 61, $2, total, exempt, line_exempt, id, $3, $3
           FROM tax_documents WHERE sale_id = $1 AND kind IN (39, 41)
         ON CONFLICT DO NOTHING",
    )
    .bind::<BigInt, _>(sale_id)
    .bind::<SqlUuid, _>(key)
    .bind::<Timestamptz, _>(at)
    .execute(conn)?;
    Ok(queued > 0)
}
