//! The boletas a supervisor watches (`/admin/boletas`): how many wait for
//! the provider and since when, which the SII rejected and why, and every
//! document with its folio. A rejected boleta is sent again by a
//! supervisor once its cause is corrected (the emisor's data on
//! `/admin/boleta`, usually), as a new document under a new key: the
//! provider keeps the rejected one under the old (audited). An accepted
//! document is never sent again.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Nullable, SmallInt, Text, Timestamptz};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::document::{DocumentStatus, DteKind};
use super::outbox::{self, Outbox, Summary, TO_SEE_TO};
use crate::audit::{self, Action};
use crate::auth::SupervisorUser;
use crate::auth::csrf::{CsrfForm, NoFields};
use crate::clock::Clock;
use crate::db::schema::{sales, tax_documents};
use crate::db::{self, PgPool};
use crate::money::Pesos;
use crate::web::{Chrome, PageError, html, local_time, redirect_see_other};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/boletas", web::get().to(page))
        .route("/admin/boletas/{id}/reenviar", web::post().to(resend));
}

/// Documents the page lists, newest first.
const SHOWN: i64 = 200;

/// The documents accepted so far.
fn accepted(conn: &mut PgConnection) -> QueryResult<i64> {
    tax_documents::table
        .filter(tax_documents::status.eq(DocumentStatus::Aceptada))
        .count()
        .get_result(conn)
}

#[derive(Debug, Clone, QueryableByName)]
struct Listed {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = SmallInt)]
    kind: i16,
    #[diesel(sql_type = Text)]
    status: DocumentStatus,
    #[diesel(sql_type = BigInt)]
    total: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    folio: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    reason: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    last_error: Option<String>,
    #[diesel(sql_type = Timestamptz)]
    created_at: DateTime<Utc>,
    #[diesel(sql_type = BigInt)]
    sale_id: i64,
    #[diesel(sql_type = Text)]
    caja: String,
    /// Rejected, and a supervisor's to see to.
    #[diesel(sql_type = Bool)]
    to_see_to: bool,
}

impl Listed {
    fn kind(&self) -> &'static str {
        DteKind::label_of(self.kind)
    }

    fn status(&self) -> &'static str {
        self.status.label()
    }

    fn css(&self) -> &'static str {
        match self.status {
            DocumentStatus::Aceptada => "ok",
            DocumentStatus::Rechazada => "bad",
            DocumentStatus::Pendiente | DocumentStatus::Enviada => "warn",
        }
    }

    fn total(&self) -> Pesos {
        Pesos::new(self.total).unwrap_or_default()
    }

    fn at(&self) -> String {
        local_time(&self.created_at)
    }

    /// A rejected boleta of a sale that stands: sent again by a supervisor.
    fn may_resend(&self) -> bool {
        self.to_see_to && DteKind::is_boleta(self.kind)
    }
}

fn listed(conn: &mut PgConnection, status: Option<DocumentStatus>) -> QueryResult<Vec<Listed>> {
    diesel::sql_query(format!(
        "SELECT d.id, d.kind, d.status, d.total, d.folio, d.reason, d.last_error, d.created_at,
                d.sale_id, c.name AS caja, ({TO_SEE_TO}) AS to_see_to
           FROM tax_documents d JOIN sales s ON s.id = d.sale_id
           JOIN pos_registers c ON c.id = d.register_id
           LEFT JOIN tax_documents b ON b.id = d.refers_to
          WHERE $1::text IS NULL OR d.status = $1
          ORDER BY d.id DESC LIMIT {SHOWN}"
    ))
    .bind::<Nullable<Text>, _>(status.map(DocumentStatus::as_str))
    .load(conn)
}

#[derive(Template)]
#[template(path = "boleta/list.html")]
struct ListPage {
    chrome: Option<Chrome>,
    summary: Summary,
    accepted: i64,
    /// How long the oldest pending document has waited, in words.
    oldest: Option<String>,
    documents: Vec<Listed>,
    statuses: &'static [DocumentStatus],
    shown: String,
    notice: Option<&'static str>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Query {
    estado: String,
    aviso: String,
}

/// "3 min", "2 h 5 min": a wait as a supervisor reads it.
fn waited(since: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let minutes = (now - since).num_minutes().max(0);
    match minutes {
        0 => "menos de 1 min".into(),
        m if m < 60 => format!("{m} min"),
        m => format!("{} h {} min", m / 60, m % 60),
    }
}

/// GET /admin/boletas
async fn page(
    supervisor: SupervisorUser,
    pool: web::Data<PgPool>,
    clock: web::Data<Clock>,
    query: web::Query<Query>,
) -> Result<HttpResponse, PageError> {
    let status = match query.estado.trim() {
        "" => None,
        raw => Some(raw.parse::<DocumentStatus>().map_err(|_| {
            PageError::BadRequest("estado: usa PENDIENTE, ENVIADA, ACEPTADA o RECHAZADA.".into())
        })?),
    };
    let (summary, accepted, documents) = db::run(&pool, move |conn| {
        Ok::<_, diesel::result::Error>((
            outbox::summary(conn)?,
            accepted(conn)?,
            listed(conn, status)?,
        ))
    })
    .await??;
    let now = clock.now();
    html(
        StatusCode::OK,
        &ListPage {
            chrome: supervisor.chrome(),
            oldest: summary.oldest_pending.map(|at| waited(at, now)),
            summary,
            accepted,
            documents,
            statuses: DocumentStatus::ALL,
            shown: status.map(|s| s.as_str().to_owned()).unwrap_or_default(),
            notice: (query.aviso == "reenviada")
                .then_some("Boleta reenviada: sale con la próxima pasada al proveedor."),
        },
    )
}

/// What the audit keeps of a re-send.
#[derive(Serialize)]
struct Resent<'a> {
    status: &'a str,
    idempotency_key: Uuid,
    reason: Option<&'a str>,
}

/// What a re-send looks at: the document and whether its sale stands.
#[derive(Queryable)]
struct Resendable {
    kind: i16,
    status: DocumentStatus,
    key: Uuid,
    reason: Option<String>,
    voided_at: Option<DateTime<Utc>>,
}

#[derive(Debug)]
enum ResendRefusal {
    NotFound,
    /// Not rejected, or of a voided sale, or not a boleta.
    NotRejected(String),
}

fn resend_document(
    conn: &mut PgConnection,
    id: i64,
    by: &audit::Actor,
    at: DateTime<Utc>,
) -> Result<Result<(), ResendRefusal>, diesel::result::Error> {
    conn.transaction(|conn| {
        let found: Option<Resendable> = tax_documents::table
            .inner_join(sales::table)
            .filter(tax_documents::id.eq(id))
            .select((
                tax_documents::kind,
                tax_documents::status,
                tax_documents::idempotency_key,
                tax_documents::reason,
                sales::voided_at,
            ))
            .for_update()
            .first(conn)
            .optional()?;
        let Some(Resendable {
            kind,
            status,
            key,
            reason,
            voided_at,
        }) = found
        else {
            return Ok(Err(ResendRefusal::NotFound));
        };
        if status != DocumentStatus::Rechazada {
            return Ok(Err(ResendRefusal::NotRejected(format!(
                "está {}: solo se reenvía una boleta rechazada",
                status.label().to_lowercase()
            ))));
        }
        if !DteKind::is_boleta(kind) || voided_at.is_some() {
            return Ok(Err(ResendRefusal::NotRejected(
                "solo se reenvía la boleta de una venta vigente".into(),
            )));
        }
        let new_key = Uuid::new_v4();
        diesel::update(tax_documents::table.find(id))
            .set((
                tax_documents::status.eq(DocumentStatus::Pendiente),
                tax_documents::idempotency_key.eq(new_key),
                tax_documents::attempts.eq(0),
                tax_documents::next_try_at.eq(at),
                tax_documents::reason.eq(None::<String>),
                tax_documents::last_error.eq(None::<String>),
                tax_documents::sent_at.eq(None::<DateTime<Utc>>),
                tax_documents::decided_at.eq(None::<DateTime<Utc>>),
            ))
            .execute(conn)?;
        audit::record(
            conn,
            by,
            Action::BoletaResent,
            id.to_string(),
            Some(&Resent {
                status: status.as_str(),
                idempotency_key: key,
                reason: reason.as_deref(),
            }),
            Some(&Resent {
                status: DocumentStatus::Pendiente.as_str(),
                idempotency_key: new_key,
                reason: None,
            }),
        )?;
        Ok(Ok(()))
    })
}

/// POST /admin/boletas/{id}/reenviar
#[tracing::instrument(skip_all, fields(document = %id))]
async fn resend(
    supervisor: SupervisorUser,
    pool: web::Data<PgPool>,
    clock: web::Data<Clock>,
    outbox: web::Data<Outbox>,
    id: web::Path<String>,
    _form: CsrfForm<NoFields>,
) -> Result<HttpResponse, PageError> {
    let id: i64 = id.parse().map_err(|_| PageError::NotFound("la boleta"))?;
    let actor = supervisor.user.actor();
    let at = clock.now();
    match db::run(&pool, move |conn| resend_document(conn, id, &actor, at)).await?? {
        Ok(()) => {
            tracing::info!("rejected boleta sent again");
            outbox.try_now();
            Ok(redirect_see_other("/admin/boletas?aviso=reenviada"))
        }
        Err(ResendRefusal::NotFound) => Err(PageError::NotFound("la boleta")),
        Err(ResendRefusal::NotRejected(why)) => Err(PageError::Conflict(format!(
            "La boleta #{id} no se reenvía: {why}."
        ))),
    }
}
