//! The two live pages: the POS screen of a cashier's open session
//! (`/caja/pos`) and the floor dashboard (`/admin/piso`). The server renders
//! the frame; the scripts in `assets/` fill it from the socket and keep it live.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::auth::user::Role;
use crate::auth::{CurrentUser, SupervisorUser};
use crate::cajas::CajaId;
use crate::db::PgPool;
use crate::registers::CajaActors;
use crate::registers::Snapshot;
use crate::registers::sale::SaleLimits;
use crate::web::{Chrome, PageError, html, redirect_see_other};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/caja/pos", web::get().to(pos))
        .route("/admin/piso", web::get().to(floor));
}

#[derive(Template)]
#[template(path = "screens/pos.html")]
struct PosPage {
    chrome: Option<Chrome>,
    register_id: i32,
    caja_name: String,
    session_id: i32,
    cashier: String,
    limits: SaleLimits,
    /// Who may sign a void on this device, to pick from (not typed).
    signers: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct PosQuery {
    /// A supervisor picks the caja; a cashier gets their own.
    caja: Option<String>,
}

/// GET /caja/pos: the POS screen of the user's open session (a supervisor
/// may name any caja with `?caja=`).
async fn pos(
    current: CurrentUser,
    registers: web::Data<CajaActors>,
    pool: web::Data<PgPool>,
    limits: web::Data<SaleLimits>,
    query: web::Query<PosQuery>,
) -> Result<HttpResponse, PageError> {
    let wanted = match query.caja.as_deref().map(str::parse::<CajaId>) {
        Some(Ok(id)) => Some(id),
        Some(Err(_)) => return Err(PageError::NotFound("la caja")),
        None => None,
    };
    let mine = |snapshot: &Snapshot| {
        snapshot
            .session
            .as_ref()
            .is_some_and(|s| s.opened_by == Some(current.user.id.0))
    };
    // A named caja asks only its actor; otherwise the user's own session is looked for.
    let chosen = match wanted {
        Some(id) => registers.snapshot(id),
        None => registers.snapshots().into_iter().find(|s| mine(s)),
    };
    if let Some(snapshot) = &chosen
        && snapshot.session.is_some()
        && !mine(snapshot)
        && !current.user.role.includes(Role::Supervisor)
    {
        return Err(PageError::Forbidden(
            "La sesión de esta caja es de otro cajero.".into(),
        ));
    }
    let Some((caja, Some(session))) = chosen.map(|s| (s.caja.clone(), s.session.clone())) else {
        return match wanted {
            Some(_) => Err(PageError::NotFound("una sesión abierta en esa caja")),
            None => Ok(redirect_see_other("/caja/session/open")),
        };
    };
    let signers = crate::db::run(&pool, crate::auth::user::signers).await??;
    html(
        StatusCode::OK,
        &PosPage {
            chrome: current.chrome(),
            register_id: caja.id.0,
            caja_name: caja.name,
            session_id: session.id,
            cashier: session.opened_by_name,
            limits: **limits,
            signers,
        },
    )
}

#[derive(Template)]
#[template(path = "screens/floor.html")]
struct FloorPage {
    chrome: Option<Chrome>,
    jornada_id: Option<i32>,
    /// Cajas whose rows could not be loaded (no tile: no actor), by name.
    unloaded: Vec<(String, String, String)>,
}

/// GET /admin/piso: every caja, live, for supervisors and admins.
async fn floor(
    user: SupervisorUser,
    registers: web::Data<CajaActors>,
    pool: web::Data<PgPool>,
) -> Result<HttpResponse, PageError> {
    let jornada = crate::db::run(&pool, crate::jornadas::current).await??;
    let unloaded = registers.unloaded();
    let ids: Vec<CajaId> = unloaded.iter().map(|u| u.id).collect();
    let names = crate::db::run(&pool, move |conn| crate::cajas::Caja::names(conn, &ids)).await??;
    let unloaded = unloaded
        .into_iter()
        .map(|u| {
            let name = names
                .iter()
                .find(|(id, _)| *id == u.id)
                .map_or_else(|| format!("Caja #{}", u.id), |(_, name)| name.clone());
            (name, crate::web::local_time(&u.since), u.reason)
        })
        .collect();
    html(
        StatusCode::OK,
        &FloorPage {
            chrome: user.chrome(),
            jornada_id: jornada.map(|j| j.id),
            unloaded,
        },
    )
}
