//! The audit trail: who changed what and when, written in the same
//! transaction as the change it records, never updated or deleted (a trigger
//! refuses), and read on the admin page /admin/auditoria (`reports::audit_trail`).

use diesel::prelude::*;
use serde::Serialize;

use crate::db::schema::audit_log;
use crate::ids::UserId;

/// Who made a change: a logged-in user, or the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub id: Option<UserId>,
    pub name: String,
}

impl Actor {
    /// Changes made with `cajahub user …` on the server itself.
    pub fn command_line() -> Self {
        let who = std::env::var("SUDO_USER")
            .or_else(|_| std::env::var("USER"))
            .unwrap_or_else(|_| "?".into());
        Self {
            id: None,
            name: format!("consola ({who})"),
        }
    }
}

/// What was done, as stored in `audit_log.action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    CajaCreated,
    CajaEdited,
    CajaArchived,
    CajaRestored,
    UserCreated,
    UserDisabled,
    UserEnabled,
    UserPasswordChanged,
    UserPinChanged,
    LoginEnded,
    JornadaOpened,
    JornadaClosed,
    SessionOpened,
    SessionClosed,
    /// A closing refused (its count off by more than the caja allows, or too many such).
    SessionCloseRefused,
    SaleVoided,
    CashMoved,
    CardResolved,
    CardOverride,
    /// A terminal approved a charge after it was resolved otherwise.
    CardLateCharge,
    CardRefunded,
    CardWrittenOff,
    /// An approval's typed code repeats an earlier one's in the jornada.
    CardCodeRepeated,
    /// A supervisor noted what they checked of a repeated code.
    CardCodeReviewed,
    ProviderDeclaredDown,
    ProviderDeclaredUp,
    SaleFlagged,
    FlaggedSaleResolved,
    VenueSettingsChanged,
    /// The venue as the issuer of its boletas, or how it issues them.
    BoletaSettingsChanged,
    /// A supervisor sent a rejected boleta again.
    BoletaResent,
    ProductCreated,
    ProductEdited,
    ProductArchived,
    ProductRestored,
    /// A supervisor marked a product out of stock ("agotado").
    ProductSoldOut,
    /// ... and back in stock.
    ProductBackInStock,
    CategoryCreated,
    CategoryEdited,
    CategoryArchived,
}

impl Action {
    pub const ALL: &'static [Action] = &[
        Action::CajaCreated,
        Action::CajaEdited,
        Action::CajaArchived,
        Action::CajaRestored,
        Action::UserCreated,
        Action::UserDisabled,
        Action::UserEnabled,
        Action::UserPasswordChanged,
        Action::UserPinChanged,
        Action::LoginEnded,
        Action::JornadaOpened,
        Action::JornadaClosed,
        Action::SessionOpened,
        Action::SessionClosed,
        Action::SessionCloseRefused,
        Action::SaleVoided,
        Action::CashMoved,
        Action::CardResolved,
        Action::CardOverride,
        Action::CardLateCharge,
        Action::CardRefunded,
        Action::CardWrittenOff,
        Action::CardCodeRepeated,
        Action::CardCodeReviewed,
        Action::ProviderDeclaredDown,
        Action::ProviderDeclaredUp,
        Action::SaleFlagged,
        Action::FlaggedSaleResolved,
        Action::VenueSettingsChanged,
        Action::BoletaSettingsChanged,
        Action::BoletaResent,
        Action::ProductCreated,
        Action::ProductEdited,
        Action::ProductArchived,
        Action::ProductRestored,
        Action::ProductSoldOut,
        Action::ProductBackInStock,
        Action::CategoryCreated,
        Action::CategoryEdited,
        Action::CategoryArchived,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::CajaCreated => "caja.creada",
            Action::CajaEdited => "caja.editada",
            Action::CajaArchived => "caja.archivada",
            Action::CajaRestored => "caja.restaurada",
            Action::UserCreated => "usuario.creado",
            Action::UserDisabled => "usuario.deshabilitado",
            Action::UserEnabled => "usuario.habilitado",
            Action::UserPasswordChanged => "usuario.contraseña",
            Action::UserPinChanged => "usuario.pin",
            Action::LoginEnded => "usuario.ingreso.cerrado",
            Action::JornadaOpened => "jornada.abierta",
            Action::JornadaClosed => "jornada.cerrada",
            Action::SessionOpened => "sesion.abierta",
            Action::SessionClosed => "sesion.cerrada",
            Action::SessionCloseRefused => "sesion.cierre_rechazado",
            Action::SaleVoided => "venta.anulada",
            Action::CashMoved => "efectivo.movimiento",
            Action::CardResolved => "tarjeta.resuelta",
            Action::CardOverride => "tarjeta.respaldo_autorizado",
            Action::CardLateCharge => "tarjeta.cobro_tardio",
            Action::CardRefunded => "tarjeta.devolucion",
            Action::CardWrittenOff => "tarjeta.castigo",
            Action::CardCodeRepeated => "tarjeta.codigo_repetido",
            Action::CardCodeReviewed => "tarjeta.codigo_revisado",
            Action::ProviderDeclaredDown => "proveedor.caido",
            Action::ProviderDeclaredUp => "proveedor.operativo",
            Action::SaleFlagged => "venta.marcada",
            Action::FlaggedSaleResolved => "venta.marcada.resuelta",
            Action::VenueSettingsChanged => "local.ajustes",
            Action::BoletaSettingsChanged => "boleta.ajustes",
            Action::BoletaResent => "boleta.reenviada",
            Action::ProductCreated => "producto.creado",
            Action::ProductEdited => "producto.editado",
            Action::ProductArchived => "producto.archivado",
            Action::ProductRestored => "producto.restaurado",
            Action::ProductSoldOut => "producto.agotado",
            Action::ProductBackInStock => "producto.disponible",
            Action::CategoryCreated => "categoria.creada",
            Action::CategoryEdited => "categoria.editada",
            Action::CategoryArchived => "categoria.archivada",
        }
    }

    fn entity(self) -> &'static str {
        match self {
            Action::CajaCreated
            | Action::CajaEdited
            | Action::CajaArchived
            | Action::CajaRestored => "caja",
            Action::JornadaOpened | Action::JornadaClosed => "jornada",
            Action::SessionOpened | Action::SessionClosed | Action::SessionCloseRefused => "sesion",
            Action::CashMoved => "efectivo",
            Action::CardResolved
            | Action::CardOverride
            | Action::CardLateCharge
            | Action::CardRefunded
            | Action::CardWrittenOff
            | Action::CardCodeRepeated
            | Action::CardCodeReviewed => "tarjeta",
            Action::ProviderDeclaredDown | Action::ProviderDeclaredUp => "proveedor",
            Action::SaleVoided | Action::SaleFlagged | Action::FlaggedSaleResolved => "venta",
            Action::VenueSettingsChanged => "local",
            Action::BoletaSettingsChanged | Action::BoletaResent => "boleta",
            Action::ProductCreated
            | Action::ProductEdited
            | Action::ProductArchived
            | Action::ProductRestored
            | Action::ProductSoldOut
            | Action::ProductBackInStock => "producto",
            Action::CategoryCreated | Action::CategoryEdited | Action::CategoryArchived => {
                "categoria"
            }
            _ => "usuario",
        }
    }
}

#[derive(Insertable)]
#[diesel(table_name = audit_log)]
struct NewEntry<'a> {
    actor_id: Option<i32>,
    actor_name: &'a str,
    action: &'a str,
    entity: &'a str,
    entity_id: Option<String>,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
}

/// Appends one entry. Call it inside the transaction of the change.
pub fn record<B: Serialize, A: Serialize>(
    conn: &mut PgConnection,
    actor: &Actor,
    action: Action,
    entity_id: impl std::fmt::Display,
    before: Option<&B>,
    after: Option<&A>,
) -> QueryResult<()> {
    let json = |value: Option<serde_json::Result<serde_json::Value>>| {
        value
            .transpose()
            .map_err(|err| diesel::result::Error::SerializationError(Box::new(err)))
    };
    diesel::insert_into(audit_log::table)
        .values(NewEntry {
            actor_id: actor.id.map(|id| id.0),
            actor_name: &actor.name,
            action: action.as_str(),
            entity: action.entity(),
            entity_id: Some(entity_id.to_string()),
            before: json(before.map(serde_json::to_value))?,
            after: json(after.map(serde_json::to_value))?,
        })
        .execute(conn)?;
    Ok(())
}
