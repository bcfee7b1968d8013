//! The venue's own rules, one row of `venue_settings`, changed by an admin
//! on `/admin/local` (audited). The database enforces what it can itself:
//! one open session per person is a trigger on `register_sessions`, so two
//! cajas opening for the same cashier at once cannot both succeed.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::audit::{self, Action};
use crate::auth::AdminUser;
use crate::auth::csrf::CsrfForm;
use crate::db::schema::{users, venue_settings};
use crate::db::{self, PgPool};
use crate::web::{Chrome, FieldErrors, PageError, html, local_time, redirect_see_other};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/local", web::get().to(page))
        .route("/admin/local", web::post().to(save));
}

/// How many sessions one person may hold open at a time, across cajas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionsPerPerson {
    /// One: a cashier closes their caja before opening another (default).
    One,
    /// Any number: a person may run several cajas at once.
    Many,
}

impl SessionsPerPerson {
    fn parse(raw: &str) -> Option<Self> {
        match raw {
            "one" => Some(Self::One),
            "many" => Some(Self::Many),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::One => "one",
            Self::Many => "many",
        }
    }

    /// As stored: `venue_settings.one_open_session_per_cashier`.
    fn from_stored(one: bool) -> Self {
        if one { Self::One } else { Self::Many }
    }

    fn stored(self) -> bool {
        self == Self::One
    }
}

/// The settings as stored, with who changed them last.
#[derive(Debug, Clone, Serialize)]
pub struct VenueSettings {
    pub sessions_per_person: SessionsPerPerson,
    #[serde(skip)]
    pub updated_at: DateTime<Utc>,
    #[serde(skip)]
    pub updated_by: Option<String>,
}

pub fn load(conn: &mut PgConnection) -> QueryResult<VenueSettings> {
    let (one, updated_at, updated_by): (bool, DateTime<Utc>, Option<String>) =
        venue_settings::table
            .left_join(users::table)
            .select((
                venue_settings::one_open_session_per_cashier,
                venue_settings::updated_at,
                users::name.nullable(),
            ))
            .first(conn)?;
    Ok(VenueSettings {
        sessions_per_person: SessionsPerPerson::from_stored(one),
        updated_at,
        updated_by,
    })
}

/// Saves `sessions` and audits the change; nothing when it is no change.
/// People already holding several sessions keep them: the rule applies
/// to the next session opened.
fn save_settings(
    conn: &mut PgConnection,
    admin: &crate::auth::user::User,
    sessions: SessionsPerPerson,
) -> QueryResult<bool> {
    conn.transaction(|conn| {
        let before = venue_settings::table
            .select(venue_settings::one_open_session_per_cashier)
            .for_update()
            .first::<bool>(conn)?;
        let before = SessionsPerPerson::from_stored(before);
        if before == sessions {
            return Ok(false);
        }
        diesel::update(venue_settings::table)
            .set((
                venue_settings::one_open_session_per_cashier.eq(sessions.stored()),
                venue_settings::updated_at.eq(diesel::dsl::now),
                venue_settings::updated_by.eq(admin.id),
            ))
            .execute(conn)?;
        audit::record(
            conn,
            &admin.actor(),
            Action::VenueSettingsChanged,
            "local",
            Some(&serde_json::json!({ "sessions_per_person": before })),
            Some(&serde_json::json!({ "sessions_per_person": sessions })),
        )?;
        Ok(true)
    })
}

#[derive(Template)]
#[template(path = "venue/settings.html")]
struct SettingsPage {
    chrome: Option<Chrome>,
    /// The choice shown (the saved one, or the one refused).
    sessions_per_person: String,
    updated: String,
    errors: FieldErrors,
    notice: Option<&'static str>,
}

impl SettingsPage {
    fn error(&self, field: &str) -> Option<&str> {
        self.errors.get(field)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Notice {
    aviso: String,
}

fn updated_line(settings: &VenueSettings) -> String {
    match &settings.updated_by {
        Some(who) => format!(
            "Último cambio: {} por {who}.",
            local_time(&settings.updated_at)
        ),
        None => "Sin cambios desde la instalación.".into(),
    }
}

/// GET /admin/local
async fn page(
    admin: AdminUser,
    pool: web::Data<PgPool>,
    query: web::Query<Notice>,
) -> Result<HttpResponse, PageError> {
    let settings = db::run(&pool, load).await??;
    html(
        StatusCode::OK,
        &SettingsPage {
            chrome: admin.chrome(),
            sessions_per_person: settings.sessions_per_person.as_str().into(),
            updated: updated_line(&settings),
            errors: FieldErrors::default(),
            notice: (query.aviso == "guardado").then_some("Ajustes guardados."),
        },
    )
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SettingsForm {
    sessions_per_person: String,
}

/// POST /admin/local
async fn save(
    admin: AdminUser,
    pool: web::Data<PgPool>,
    form: CsrfForm<SettingsForm>,
) -> Result<HttpResponse, PageError> {
    let raw = form.0.sessions_per_person;
    let Some(sessions) = SessionsPerPerson::parse(raw.trim()) else {
        let settings = db::run(&pool, load).await??;
        return html(
            StatusCode::UNPROCESSABLE_ENTITY,
            &SettingsPage {
                chrome: admin.chrome(),
                sessions_per_person: String::new(),
                updated: updated_line(&settings),
                errors: FieldErrors::single(
                    "sessions_per_person",
                    "Elige una de las dos opciones.",
                ),
                notice: None,
            },
        );
    };
    let user = admin.user.clone();
    if db::run(&pool, move |conn| save_settings(conn, &user, sessions)).await?? {
        tracing::info!(user_id = %admin.user.id, sessions_per_person = sessions.as_str(), "venue settings changed");
    }
    Ok(redirect_see_other("/admin/local?aviso=guardado"))
}
