//! The venue as the issuer (emisor) of its boletas, and how it issues
//! them: one row of `boleta_settings`, changed by an admin on
//! `/admin/boleta` (audited). Switched off until the emisor is complete;
//! the database refuses it switched on without its emisor (the
//! `boleta_settings_complete` check), so no sale can be documented for an
//! issuer nobody named. The provider's credentials are never here.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::issuing::Issuing;
use super::outbox::Outbox;
use super::rut::Rut;
use crate::audit::{self, Action};
use crate::auth::AdminUser;
use crate::auth::csrf::CsrfForm;
use crate::db::schema::{boleta_settings, users};
use crate::db::{self, PgPool};
use crate::text_enum;
use crate::web::{Chrome, FieldErrors, PageError, html, local_time, redirect_see_other};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/boleta", web::get().to(page))
        .route("/admin/boleta", web::post().to(save));
}

text_enum! {
    /// The venue's declared "modelo de emisión de boletas": what stands as
    /// the boleta of a sale paid by card.
    ModeloEmision {
        Voucher = "voucher" => "El comprobante del terminal vale como boleta",
        Boleta = "boleta" => "Siempre una boleta electrónica",
    }
}

text_enum! {
    /// Who issues the documents.
    ProviderKind {
        Simulado = "simulado" => "Simulado (demostración y pruebas: no emite ante el SII)",
        Http = "http" => "Un proveedor DTE por su API HTTP",
    }
}

/// The longest of each of the emisor's fields, as the SII's documents
/// bound them (RznSoc, GiroEmis, DirOrigen, CmnaOrigen).
const RAZON_SOCIAL_MAX: usize = 100;
const GIRO_MAX: usize = 80;
const DIRECCION_MAX: usize = 70;
const COMUNA_MAX: usize = 20;
const URL_MAX: usize = 200;

/// The settings as stored. Each field of the emisor may be missing while
/// issuing is off; `enabled` implies all of them (and the database says so).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BoletaSettings {
    pub enabled: bool,
    pub emisor_rut: Option<Rut>,
    pub razon_social: Option<String>,
    pub giro: Option<String>,
    pub direccion: Option<String>,
    pub comuna: Option<String>,
    pub modelo: ModeloEmision,
    pub provider: ProviderKind,
    pub provider_url: Option<String>,
}

impl BoletaSettings {
    /// What a sale gets under these settings: nothing while issuing is off.
    pub fn issuing(&self) -> Option<ModeloEmision> {
        self.enabled.then_some(self.modelo)
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = boleta_settings, check_for_backend(diesel::pg::Pg))]
struct Row {
    enabled: bool,
    emisor_rut: Option<String>,
    razon_social: Option<String>,
    giro: Option<String>,
    direccion: Option<String>,
    comuna: Option<String>,
    modelo: ModeloEmision,
    provider: ProviderKind,
    provider_url: Option<String>,
}

impl Row {
    fn settings(self) -> QueryResult<BoletaSettings> {
        let emisor_rut = self
            .emisor_rut
            .map(|raw| raw.parse::<Rut>())
            .transpose()
            .map_err(|err| diesel::result::Error::DeserializationError(Box::new(err)))?;
        Ok(BoletaSettings {
            enabled: self.enabled,
            emisor_rut,
            razon_social: self.razon_social,
            giro: self.giro,
            direccion: self.direccion,
            comuna: self.comuna,
            modelo: self.modelo,
            provider: self.provider,
            provider_url: self.provider_url,
        })
    }
}

pub fn load(conn: &mut PgConnection) -> QueryResult<BoletaSettings> {
    boleta_settings::table
        .select(Row::as_select())
        .first::<Row>(conn)?
        .settings()
}

/// Who changed them last, and when.
fn last_change(conn: &mut PgConnection) -> QueryResult<(DateTime<Utc>, Option<String>)> {
    boleta_settings::table
        .left_join(users::table)
        .select((boleta_settings::updated_at, users::name.nullable()))
        .first(conn)
}

/// Saves `settings` and audits the change; nothing when it is no change.
fn save_settings(
    conn: &mut PgConnection,
    admin: &crate::auth::user::User,
    settings: &BoletaSettings,
) -> QueryResult<bool> {
    conn.transaction(|conn| {
        let before = boleta_settings::table
            .select(Row::as_select())
            .for_update()
            .first::<Row>(conn)?
            .settings()?;
        if &before == settings {
            return Ok(false);
        }
        diesel::update(boleta_settings::table)
            .set((
                boleta_settings::enabled.eq(settings.enabled),
                boleta_settings::emisor_rut.eq(settings.emisor_rut.map(Rut::sii)),
                boleta_settings::razon_social.eq(&settings.razon_social),
                boleta_settings::giro.eq(&settings.giro),
                boleta_settings::direccion.eq(&settings.direccion),
                boleta_settings::comuna.eq(&settings.comuna),
                boleta_settings::modelo.eq(settings.modelo),
                boleta_settings::provider.eq(settings.provider),
                boleta_settings::provider_url.eq(&settings.provider_url),
                boleta_settings::updated_at.eq(diesel::dsl::now),
                boleta_settings::updated_by.eq(admin.id),
            ))
            .execute(conn)?;
        audit::record(
            conn,
            &admin.actor(),
            Action::BoletaSettingsChanged,
            "boleta",
            Some(&before),
            Some(settings),
        )?;
        Ok(true)
    })
}

/// The form as posted: every field as typed.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SettingsForm {
    enabled: Option<String>,
    emisor_rut: String,
    razon_social: String,
    giro: String,
    direccion: String,
    comuna: String,
    modelo: String,
    provider: String,
    provider_url: String,
}

/// An address of the provider's API: http or https, no spaces.
fn provider_url(raw: &str) -> Result<Option<String>, &'static str> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    let parsed =
        url::Url::parse(raw).map_err(|_| "Una dirección como https://api.proveedor.cl/dte.")?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err("Una dirección http:// o https://.");
    }
    if raw.chars().count() > URL_MAX || raw.chars().any(char::is_whitespace) {
        return Err("Hasta 200 caracteres, sin espacios.");
    }
    Ok(Some(raw.to_owned()))
}

impl SettingsForm {
    fn from(settings: &BoletaSettings) -> Self {
        let text = |value: &Option<String>| value.clone().unwrap_or_default();
        Self {
            enabled: settings.enabled.then(|| "on".into()),
            emisor_rut: settings
                .emisor_rut
                .map(|r| r.to_string())
                .unwrap_or_default(),
            razon_social: text(&settings.razon_social),
            giro: text(&settings.giro),
            direccion: text(&settings.direccion),
            comuna: text(&settings.comuna),
            modelo: settings.modelo.as_str().into(),
            provider: settings.provider.as_str().into(),
            provider_url: text(&settings.provider_url),
        }
    }

    /// The settings typed, or each field's refusal.
    fn settings(&self) -> Result<BoletaSettings, FieldErrors> {
        let mut errors = FieldErrors::default();
        let enabled = self.enabled.is_some();
        let emisor_rut = errors.check(
            "emisor_rut",
            match self.emisor_rut.trim() {
                "" => Ok(None),
                raw => raw
                    .parse::<Rut>()
                    .map(Some)
                    .map_err(|err| format!("RUT: {err}.")),
            },
        );
        let mut text = |field: &'static str, raw: &str, max| {
            errors.check(
                field,
                crate::text::filter(raw, max).map_err(|err| format!("El campo {err}.")),
            )
        };
        let razon_social = text("razon_social", &self.razon_social, RAZON_SOCIAL_MAX);
        let giro = text("giro", &self.giro, GIRO_MAX);
        let direccion = text("direccion", &self.direccion, DIRECCION_MAX);
        let comuna = text("comuna", &self.comuna, COMUNA_MAX);
        let modelo = errors.check(
            "modelo",
            self.modelo
                .trim()
                .parse::<ModeloEmision>()
                .map_err(|_| "Elige uno de los dos modelos."),
        );
        let provider = errors.check(
            "provider",
            self.provider
                .trim()
                .parse::<ProviderKind>()
                .map_err(|_| "Elige uno de los proveedores."),
        );
        let provider_url = errors.check("provider_url", provider_url(&self.provider_url));
        let (
            Some(emisor_rut),
            Some(razon_social),
            Some(giro),
            Some(direccion),
            Some(comuna),
            Some(modelo),
            Some(provider),
            Some(provider_url),
        ) = (
            emisor_rut,
            razon_social,
            giro,
            direccion,
            comuna,
            modelo,
            provider,
            provider_url,
        )
        else {
            return Err(errors);
        };
        let settings = BoletaSettings {
            enabled,
            emisor_rut,
            razon_social,
            giro,
            direccion,
            comuna,
            modelo,
            provider,
            provider_url,
        };
        if enabled {
            // To issue, the SII needs the whole emisor.
            const NEEDED: &str = "Obligatorio para emitir boletas.";
            let missing = [
                ("emisor_rut", settings.emisor_rut.is_none()),
                ("razon_social", settings.razon_social.is_none()),
                ("giro", settings.giro.is_none()),
                ("direccion", settings.direccion.is_none()),
                ("comuna", settings.comuna.is_none()),
                (
                    "provider_url",
                    settings.provider == ProviderKind::Http && settings.provider_url.is_none(),
                ),
            ];
            for (field, _) in missing.iter().filter(|(_, missing)| *missing) {
                errors.add(field, NEEDED);
            }
            if !errors.is_empty() {
                return Err(errors);
            }
        }
        Ok(settings)
    }
}

#[derive(Template)]
#[template(path = "boleta/settings.html")]
struct SettingsPage {
    chrome: Option<Chrome>,
    /// The fields shown (the saved ones, or the ones refused).
    form: SettingsForm,
    modelos: &'static [ModeloEmision],
    providers: &'static [ProviderKind],
    updated: String,
    errors: FieldErrors,
    notice: Option<&'static str>,
}

/// One of the emisor's text fields as the page shows it: its name, label,
/// value, longest length and hint.
type EmisorField<'a> = (&'static str, &'static str, &'a str, usize, &'static str);

impl SettingsPage {
    fn error(&self, field: &str) -> Option<&str> {
        self.errors.get(field)
    }

    fn emisor_fields(&self) -> [EmisorField<'_>; 5] {
        let form = &self.form;
        [
            (
                "emisor_rut",
                "RUT del emisor",
                &form.emisor_rut,
                12,
                "Con dígito verificador, como 76.123.456-7.",
            ),
            (
                "razon_social",
                "Razón social",
                &form.razon_social,
                RAZON_SOCIAL_MAX,
                "Como está inscrita en el SII.",
            ),
            (
                "giro",
                "Giro",
                &form.giro,
                GIRO_MAX,
                "La actividad que aparece en la boleta.",
            ),
            (
                "direccion",
                "Dirección",
                &form.direccion,
                DIRECCION_MAX,
                "La del local donde se vende.",
            ),
            ("comuna", "Comuna", &form.comuna, COMUNA_MAX, ""),
        ]
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Notice {
    aviso: String,
}

fn updated_line((at, by): &(DateTime<Utc>, Option<String>)) -> String {
    match by {
        Some(who) => format!("Último cambio: {} por {who}.", local_time(at)),
        None => "Sin cambios desde la instalación.".into(),
    }
}

/// GET /admin/boleta
async fn page(
    admin: AdminUser,
    pool: web::Data<PgPool>,
    query: web::Query<Notice>,
) -> Result<HttpResponse, PageError> {
    let (settings, changed) = db::run(&pool, |conn| {
        Ok::<_, diesel::result::Error>((load(conn)?, last_change(conn)?))
    })
    .await??;
    html(
        StatusCode::OK,
        &SettingsPage {
            chrome: admin.chrome(),
            form: SettingsForm::from(&settings),
            modelos: ModeloEmision::ALL,
            providers: ProviderKind::ALL,
            updated: updated_line(&changed),
            errors: FieldErrors::default(),
            notice: (query.aviso == "guardado").then_some("Ajustes de boleta guardados."),
        },
    )
}

/// POST /admin/boleta
async fn save(
    admin: AdminUser,
    pool: web::Data<PgPool>,
    issuing: web::Data<Issuing>,
    outbox: web::Data<Outbox>,
    form: CsrfForm<SettingsForm>,
) -> Result<HttpResponse, PageError> {
    let form = form.0;
    let settings = match form.settings() {
        Ok(settings) => settings,
        Err(errors) => {
            let changed = db::run(&pool, last_change).await??;
            return html(
                StatusCode::UNPROCESSABLE_ENTITY,
                &SettingsPage {
                    chrome: admin.chrome(),
                    form,
                    modelos: ModeloEmision::ALL,
                    providers: ProviderKind::ALL,
                    updated: updated_line(&changed),
                    errors,
                    notice: None,
                },
            );
        }
    };
    let user = admin.user.clone();
    let now = settings.issuing();
    if db::run(&pool, move |conn| save_settings(conn, &user, &settings)).await?? {
        tracing::info!(user_id = %admin.user.id, issuing = ?now, "boleta settings changed");
    }
    // The next sale of every caja follows what is now committed, and the
    // outbox looks again (a whole emisor lets it send what waits).
    issuing.set(now);
    outbox.try_now();
    Ok(redirect_see_other("/admin/boleta?aviso=guardado"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete() -> SettingsForm {
        SettingsForm {
            enabled: Some("on".into()),
            emisor_rut: "76.086.428-5".into(),
            razon_social: "Discoteca Bimba SpA".into(),
            giro: "Discoteca y bar".into(),
            direccion: "Av. Siempre Viva 742".into(),
            comuna: "Providencia".into(),
            modelo: "voucher".into(),
            provider: "simulado".into(),
            provider_url: String::new(),
        }
    }

    #[test]
    fn a_complete_emisor_switches_issuing_on() {
        let settings = complete().settings().unwrap();
        assert!(settings.enabled);
        assert_eq!(
            settings.emisor_rut.map(Rut::sii).as_deref(),
            Some("76086428-5")
        );
        assert_eq!(settings.modelo, ModeloEmision::Voucher);
    }

    #[test]
    fn each_bad_field_is_named() {
        let form = SettingsForm {
            emisor_rut: "76.086.428-4".into(),
            giro: "x".repeat(GIRO_MAX + 1),
            comuna: "Provi\u{202E}dencia".into(),
            modelo: "a veces".into(),
            provider: "otro".into(),
            provider_url: "ftp://x".into(),
            ..complete()
        };
        let errors = form.settings().unwrap_err();
        assert!(
            errors
                .get("emisor_rut")
                .unwrap_or_default()
                .contains("es 5")
        );
        for field in ["giro", "comuna", "modelo", "provider", "provider_url"] {
            assert!(errors.get(field).is_some(), "{field}");
        }
        assert!(errors.get("razon_social").is_none());
    }

    #[test]
    fn switched_on_it_needs_the_whole_emisor_and_off_it_does_not() {
        let form = SettingsForm {
            giro: String::new(),
            provider: "http".into(),
            ..complete()
        };
        let errors = form.settings().unwrap_err();
        assert_eq!(errors.get("giro"), Some("Obligatorio para emitir boletas."));
        assert_eq!(
            errors.get("provider_url"),
            Some("Obligatorio para emitir boletas.")
        );
        let off = SettingsForm {
            enabled: None,
            ..form
        };
        let settings = off.settings().unwrap();
        assert!(!settings.enabled);
        assert_eq!(settings.giro, None);
    }
}
