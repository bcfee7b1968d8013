//! /admin/auditoria: the audit trail, newest first, filtered by who, what
//! and date (dates are the venue's, America/Santiago).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::NaiveDate;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date, Nullable, Text};
use serde::Deserialize;

use crate::audit::Action;
use crate::auth::AdminUser;
use crate::db::{self, PgPool};
use crate::web::{Chrome, PageError, html};

/// At most this many entries on one page.
const PAGE_SIZE: i64 = 200;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/auditoria", web::get().to(audit_page));
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Filters {
    quien: String,
    que: String,
    desde: String,
    hasta: String,
}

#[derive(QueryableByName, Debug)]
pub struct Entry {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Text)]
    pub at_local: String,
    #[diesel(sql_type = Text)]
    pub actor_name: String,
    #[diesel(sql_type = Text)]
    pub action: String,
    #[diesel(sql_type = Text)]
    pub entity: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub entity_id: Option<String>,
    /// The caja's or the user's name, when the entry is about one.
    #[diesel(sql_type = Nullable<Text>)]
    pub entity_name: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub before: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub after: Option<String>,
}

/// One field an entry changed, as a person reads it.
pub struct FieldChange {
    pub field: String,
    pub before: String,
    pub after: String,
}

impl Entry {
    /// What it is about: "caja «Barra Sur» (#6)", "sesion #12".
    pub fn about(&self) -> String {
        match (&self.entity_name, &self.entity_id) {
            (Some(name), Some(id)) => format!("{} «{name}» (#{id})", self.entity),
            (None, Some(id)) => format!("{} #{id}", self.entity),
            _ => self.entity.clone(),
        }
    }

    /// The fields whose value differs between before and after (every
    /// field of what was created, or removed), values as plain text.
    pub fn changes(&self) -> Vec<FieldChange> {
        let parse = |text: &Option<String>| {
            text.as_deref()
                .and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok())
        };
        let (before, after) = (parse(&self.before), parse(&self.after));
        let fields = |value: &Option<serde_json::Value>| match value {
            Some(serde_json::Value::Object(map)) => map.clone(),
            Some(other) => {
                let mut map = serde_json::Map::new();
                map.insert("valor".into(), other.clone());
                map
            }
            None => serde_json::Map::new(),
        };
        let (before, after) = (fields(&before), fields(&after));
        let mut names: Vec<&String> = before.keys().chain(after.keys()).collect();
        names.sort();
        names.dedup();
        names
            .into_iter()
            // The row's bookkeeping changes with every edit: not news.
            .filter(|name| !matches!(name.as_str(), "updated_at" | "version"))
            .filter(|name| before.get(*name) != after.get(*name))
            .map(|name| FieldChange {
                field: name.clone(),
                before: before.get(name).map(plain).unwrap_or_default(),
                after: after.get(name).map(plain).unwrap_or_default(),
            })
            .collect()
    }
}

/// A JSON value as text a person reads: strings without quotes, nothing
/// for null, objects and lists compact.
fn plain(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Null => "—".to_owned(),
        serde_json::Value::String(text) => text.clone(),
        serde_json::Value::Bool(true) => "sí".to_owned(),
        serde_json::Value::Bool(false) => "no".to_owned(),
        other => other.to_string(),
    }
}

#[derive(Template)]
#[template(path = "audit/list.html")]
struct AuditPage {
    chrome: Option<Chrome>,
    filters: Filters,
    entries: Vec<Entry>,
    errors: Vec<(&'static str, String)>,
    truncated: bool,
}

impl AuditPage {
    fn actions(&self) -> Vec<&'static str> {
        Action::ALL.iter().map(|a| a.as_str()).collect()
    }

    fn error(&self, field: &str) -> &str {
        self.errors
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, m)| m.as_str())
            .unwrap_or("")
    }
}

fn parse_date(input: &str) -> Result<Option<NaiveDate>, String> {
    let input = input.trim();
    if input.is_empty() {
        return Ok(None);
    }
    NaiveDate::parse_from_str(input, "%Y-%m-%d")
        .map(Some)
        .map_err(|_| "Fecha no válida: usa el formato AAAA-MM-DD.".to_owned())
}

/// `%` and `_` typed by the admin are matched literally.
fn like_pattern(input: &str) -> Option<String> {
    let input = input.trim();
    (!input.is_empty()).then(|| {
        let escaped = input
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        format!("%{escaped}%")
    })
}

/// GET /admin/auditoria
pub async fn audit_page(
    admin: AdminUser,
    pool: web::Data<PgPool>,
    filters: web::Query<Filters>,
) -> Result<HttpResponse, PageError> {
    let filters = filters.into_inner();
    let mut errors = Vec::new();
    let from = parse_date(&filters.desde).unwrap_or_else(|e| {
        errors.push(("desde", e));
        None
    });
    let to = parse_date(&filters.hasta).unwrap_or_else(|e| {
        errors.push(("hasta", e));
        None
    });
    if let (Some(from), Some(to)) = (from, to)
        && to < from
    {
        errors.push((
            "hasta",
            "La fecha final es anterior a la inicial.".to_owned(),
        ));
    }
    let action = filters.que.trim().to_owned();
    if !action.is_empty() && !Action::ALL.iter().any(|a| a.as_str() == action) {
        errors.push(("que", format!("Acción desconocida: {action:?}.")));
    }
    let who = crate::text::filter(&filters.quien, 100).unwrap_or_else(|err| {
        errors.push(("quien", format!("El nombre {err}.")));
        None
    });
    if !errors.is_empty() {
        let page = AuditPage {
            chrome: admin.chrome(),
            filters,
            entries: vec![],
            errors,
            truncated: false,
        };
        return html(StatusCode::UNPROCESSABLE_ENTITY, &page);
    }
    let who = who.as_deref().and_then(like_pattern);
    let action = (!action.is_empty()).then_some(action);
    let entries: Vec<Entry> = db::run(&pool, move |conn| {
        diesel::sql_query(
            "SELECT id, to_char(at AT TIME ZONE 'America/Santiago', 'DD-MM-YYYY HH24:MI:SS') AS at_local,
                    actor_name, action, entity, entity_id, before::text AS before, after::text AS after,
                    CASE entity
                        WHEN 'caja' THEN (SELECT r.name::text FROM pos_registers r WHERE r.id::text = entity_id)
                        WHEN 'usuario' THEN (SELECT u.name::text FROM users u WHERE u.id::text = entity_id)
                    END AS entity_name
             FROM audit_log
             WHERE ($1::text IS NULL OR actor_name ILIKE $1)
               AND ($2::text IS NULL OR action = $2)
               AND ($3::date IS NULL OR at >= ($3::date::timestamp AT TIME ZONE 'America/Santiago'))
               AND ($4::date IS NULL OR at < (($4::date + 1)::timestamp AT TIME ZONE 'America/Santiago'))
             ORDER BY at DESC, id DESC
             LIMIT $5",
        )
        .bind::<Nullable<Text>, _>(who)
        .bind::<Nullable<Text>, _>(action)
        .bind::<Nullable<Date>, _>(from)
        .bind::<Nullable<Date>, _>(to)
        .bind::<BigInt, _>(PAGE_SIZE + 1)
        .load(conn)
    })
    .await??;
    let truncated = entries.len() as i64 > PAGE_SIZE;
    let entries = entries.into_iter().take(PAGE_SIZE as usize).collect();
    html(
        StatusCode::OK,
        &AuditPage {
            chrome: admin.chrome(),
            filters,
            entries,
            errors,
            truncated,
        },
    )
}
