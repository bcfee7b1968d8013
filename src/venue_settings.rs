//! The venue's own rules, one row of `venue_settings`, changed by an admin
//! on `/admin/local` (audited). The database enforces what it can itself:
//! one open session per person is a trigger on `register_sessions`, so two
//! cajas opening for the same cashier at once cannot both succeed. The tip
//! the POS offers travels with the catalog (`tips`), loaded again after a
//! change here as after one of the catalog.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::audit::{self, Action};
use crate::auth::AdminUser;
use crate::auth::csrf::CsrfForm;
use crate::catalog::CatalogCell;
use crate::db::schema::{users, venue_settings};
use crate::db::{self, PgPool};
use crate::tips::{TipMode, TipPolicy};
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
    pub tips: TipPolicy,
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
        tips: crate::tips::load(conn)?,
        updated_at,
        updated_by,
    })
}

/// What an admin sets: the rules, without who set them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
struct Rules {
    sessions_per_person: SessionsPerPerson,
    tips: TipPolicy,
}

/// Saves `rules` and audits the change; nothing when it is no change.
/// People already holding several sessions keep them: the rule applies
/// to the next session opened.
fn save_settings(
    conn: &mut PgConnection,
    admin: &crate::auth::user::User,
    rules: Rules,
) -> QueryResult<bool> {
    conn.transaction(|conn| {
        let one = venue_settings::table
            .select(venue_settings::one_open_session_per_cashier)
            .for_update()
            .first::<bool>(conn)?;
        let before = Rules {
            sessions_per_person: SessionsPerPerson::from_stored(one),
            tips: crate::tips::load(conn)?,
        };
        if before == rules {
            return Ok(false);
        }
        diesel::update(venue_settings::table)
            .set((
                venue_settings::one_open_session_per_cashier.eq(rules.sessions_per_person.stored()),
                venue_settings::tip_mode.eq(rules.tips.mode.as_str()),
                venue_settings::tip_percent.eq(i16::from(rules.tips.percent)),
                venue_settings::tip_limit_percent.eq(rules.tips.limit_percent as i16),
                venue_settings::updated_at.eq(diesel::dsl::now),
                venue_settings::updated_by.eq(admin.id),
            ))
            .execute(conn)?;
        audit::record(
            conn,
            &admin.actor(),
            Action::VenueSettingsChanged,
            "local",
            Some(&before),
            Some(&rules),
        )?;
        Ok(true)
    })
}

#[derive(Template)]
#[template(path = "venue/settings.html")]
struct SettingsPage {
    chrome: Option<Chrome>,
    /// The choices shown (the saved ones, or the ones refused).
    sessions_per_person: String,
    tip_mode: String,
    tip_percent: String,
    tip_limit_percent: String,
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
            tip_mode: settings.tips.mode.as_str().into(),
            tip_percent: settings.tips.percent.to_string(),
            tip_limit_percent: settings.tips.limit_percent.to_string(),
            updated: updated_line(&settings),
            errors: FieldErrors::default(),
            notice: (query.aviso == "guardado").then_some("Ajustes guardados."),
        },
    )
}

/// The form as posted. A tip field left out (a page opened before tips
/// were offered) keeps its value; one sent empty is a mistake.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SettingsForm {
    sessions_per_person: String,
    tip_mode: Option<String>,
    tip_percent: Option<String>,
    tip_limit_percent: Option<String>,
}

/// A whole percentage in `range`, as typed ("10" or "10 %").
fn percent(raw: &str, range: std::ops::RangeInclusive<i64>) -> Result<i64, String> {
    raw.trim()
        .trim_end_matches('%')
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|value| range.contains(value))
        .ok_or_else(|| {
            format!(
                "Un porcentaje entero, de {} a {}.",
                range.start(),
                range.end()
            )
        })
}

impl SettingsForm {
    /// The rules typed (`current`'s tip where a field was left out), or
    /// each field's refusal.
    fn rules(&self, current: TipPolicy) -> Result<Rules, FieldErrors> {
        let mut errors = FieldErrors::default();
        let sessions = errors.check(
            "sessions_per_person",
            SessionsPerPerson::parse(self.sessions_per_person.trim())
                .ok_or("Elige una de las dos opciones."),
        );
        let mode = match &self.tip_mode {
            None => Some(current.mode),
            Some(raw) => errors.check(
                "tip_mode",
                raw.trim()
                    .parse::<TipMode>()
                    .map_err(|_| "Elige una de las tres opciones."),
            ),
        };
        let suggested = match &self.tip_percent {
            None => Some(i64::from(current.percent)),
            Some(raw) => errors.check("tip_percent", percent(raw, 1..=50)),
        };
        let limit = match &self.tip_limit_percent {
            None => Some(i64::from(current.limit_percent)),
            Some(raw) => errors.check("tip_limit_percent", percent(raw, 1..=1000)),
        };
        match (sessions, mode, suggested, limit) {
            (Some(sessions_per_person), Some(mode), Some(percent), Some(limit)) => {
                let tips = TipPolicy::new(mode, percent, limit)
                    .map_err(|field| FieldErrors::single(field, "Fuera de rango."))?;
                Ok(Rules {
                    sessions_per_person,
                    tips,
                })
            }
            _ => Err(errors),
        }
    }
}

/// POST /admin/local
async fn save(
    admin: AdminUser,
    pool: web::Data<PgPool>,
    catalog: web::Data<CatalogCell>,
    form: CsrfForm<SettingsForm>,
) -> Result<HttpResponse, PageError> {
    let form = form.0;
    let settings = db::run(&pool, load).await??;
    let rules = match form.rules(settings.tips) {
        Ok(rules) => rules,
        Err(errors) => {
            let tips = settings.tips;
            return html(
                StatusCode::UNPROCESSABLE_ENTITY,
                &SettingsPage {
                    chrome: admin.chrome(),
                    sessions_per_person: form.sessions_per_person,
                    tip_mode: form.tip_mode.unwrap_or_else(|| tips.mode.as_str().into()),
                    tip_percent: form.tip_percent.unwrap_or_else(|| tips.percent.to_string()),
                    tip_limit_percent: form
                        .tip_limit_percent
                        .unwrap_or_else(|| tips.limit_percent.to_string()),
                    updated: updated_line(&settings),
                    errors,
                    notice: None,
                },
            );
        }
    };
    let user = admin.user.clone();
    if db::run(&pool, move |conn| save_settings(conn, &user, rules)).await?? {
        tracing::info!(user_id = %admin.user.id, sessions_per_person = rules.sessions_per_person.as_str(), tip_mode = rules.tips.mode.as_str(), "venue settings changed");
        // Every POS hears the tip it now offers, with the catalog.
        if let Err(err) = catalog.reload(&pool).await {
            tracing::warn!(error = %err, "catalog not reloaded after the venue's settings changed");
        }
    }
    Ok(redirect_see_other("/admin/local?aviso=guardado"))
}
