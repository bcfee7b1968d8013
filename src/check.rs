//! `cajahub check`: the runbook's post-deploy checks (PASO 3, 5 and the
//! troubleshooting's `pg_tables` query) as one command, a ✅/❌ checklist.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use diesel::sql_types::Text;
use diesel::{Connection, PgConnection, RunQueryDsl};

use crate::db::migrations;

/// PASO 3's columns, as its `information_schema` queries name them.
const PASO_3: [(&str, &[&str]); 2] = [
    (
        "pos_registers",
        &[
            "fallback_policy",
            "operational_status",
            "payment_provider_backup",
            "payment_provider_primary",
            "register_type",
        ],
    ),
    (
        "register_sessions",
        &[
            "cash_count",
            "cash_difference",
            "payment_provider_used_backup_count",
            "payment_provider_used_primary_count",
            "payment_totals",
            "ticket_count",
        ],
    ),
];

/// PASO 5's pages: each must answer (a visitor is sent to the login page).
const PASO_5: [&str; 6] = [
    "/admin/cajas/",
    "/admin/cajas/crear",
    "/admin/cajas/reportes",
    "/caja/session/open",
    "/caja/session/close",
    "/login",
];

/// How long one answer from the hub may take.
const HTTP_TIMEOUT: Duration = Duration::from_secs(5);

/// One line of the checklist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub ok: bool,
    pub what: String,
    /// Why it failed, or what was seen.
    pub detail: String,
}

impl Line {
    fn new(ok: bool, what: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            ok,
            what: what.into(),
            detail: detail.into(),
        }
    }
}

impl std::fmt::Display for Line {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mark = if self.ok { "✅" } else { "❌" };
        write!(f, "{mark} {}", self.what)?;
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        Ok(())
    }
}

/// The database's checks, then the running hub's at `hub` (`http://host:port`).
/// Simulated card terminals (in this environment, `simulated`, or in the
/// running hub) fail the check unless this is a `demo`: a leftover
/// setting would approve cards never charged.
pub fn run(database_url: &str, hub: Option<&str>, simulated: bool, demo: bool) -> Vec<Line> {
    let (mut lines, fingerprint) = database(database_url);
    if simulated {
        lines.push(terminals(
            demo,
            "la configuración pide --simulate-terminals",
        ));
    }
    if let Some(hub) = hub {
        lines.extend(running_hub(hub, demo, fingerprint.as_deref()));
    }
    lines
}

/// The line for simulated terminals found where `found` says.
fn terminals(demo: bool, found: &str) -> Line {
    if demo {
        Line::new(true, "Terminales de tarjeta", format!("DEMO: {found}"))
    } else {
        Line::new(
            false,
            "Terminales de tarjeta reales",
            format!(
                "{found} (CAJAHUB_SIMULATE_TERMINALS): los cobros con tarjeta no son reales; \
                 quítalo, o usa --demo si es una demostración"
            ),
        )
    }
}

/// The database's lines, and its fingerprint (see `db::fingerprint`).
fn database(url: &str) -> (Vec<Line>, Option<String>) {
    let mut conn = match PgConnection::establish(url) {
        Ok(conn) => conn,
        Err(err) => {
            let line = Line::new(false, "Conexión a PostgreSQL", err.to_string());
            return (vec![line], None);
        }
    };
    let mut lines = vec![Line::new(true, "Conexión a PostgreSQL", "")];
    lines.push(match migrations::pending(&mut conn) {
        Ok(pending) if pending.is_empty() => Line::new(
            true,
            "Migraciones aplicadas",
            format!("{} de {}", migrations::count(), migrations::count()),
        ),
        Ok(pending) => Line::new(
            false,
            "Migraciones aplicadas",
            format!("pendientes: {} (cajahub migrate)", pending.join(", ")),
        ),
        Err(err) => Line::new(false, "Migraciones aplicadas", err.to_string()),
    });
    for (table, wanted) in PASO_3 {
        let what = format!("PASO 3: columnas nuevas en {table}");
        lines.push(match columns(&mut conn, table, wanted) {
            Ok(found) => {
                let missing: Vec<&str> = wanted
                    .iter()
                    .copied()
                    .filter(|c| !found.iter().any(|f| f == c))
                    .collect();
                if missing.is_empty() {
                    Line::new(true, what, format!("{} de {}", found.len(), wanted.len()))
                } else {
                    Line::new(false, what, format!("faltan {}", missing.join(", ")))
                }
            }
            Err(err) => Line::new(false, what, err.to_string()),
        });
    }
    let what = "Tablas pos_registers y register_sessions (pg_tables)";
    lines.push(match tables(&mut conn) {
        Ok(found) if found.len() == 2 => Line::new(true, what, ""),
        Ok(found) => Line::new(false, what, format!("solo existe: {}", found.join(", "))),
        Err(err) => Line::new(false, what, err.to_string()),
    });
    lines.extend(failover(&mut conn));
    (lines, crate::db::fingerprint(&mut conn).ok())
}

/// How long the active hub may go without renewing before the check fails.
const RENEWAL_LATE_SECONDS: f64 = 30.0;

/// Which hub is active and since when, and whether an acknowledged sale is
/// on a second server (rule 23).
fn failover(conn: &mut PgConnection) -> Vec<Line> {
    let status = match crate::failover::status::read(conn) {
        Ok(status) => status,
        Err(err) => return vec![Line::new(false, "Hub activo", err.to_string())],
    };
    let active = match (&status.holder, status.holder_since, status.renewed_ago) {
        (Some(holder), Some(since), Some(ago)) => {
            let since = since
                .with_timezone(&chrono_tz::America::Santiago)
                .format("%d-%m-%Y %H:%M:%S");
            let detail = format!(
                "{holder} desde {since} (época {}), renovó hace {ago:.1} s",
                status.epoch
            );
            if ago > RENEWAL_LATE_SECONDS {
                Line::new(
                    false,
                    "Hub activo",
                    format!("{detail}: no renueva; ¿sigue vivo? un hub de respaldo lo reemplaza"),
                )
            } else {
                Line::new(true, "Hub activo", detail)
            }
        }
        _ => Line::new(true, "Hub activo", "un solo hub (sin CAJAHUB_FAILOVER)"),
    };
    let replication = if status.in_recovery {
        Line::new(
            false,
            "Replicación de PostgreSQL",
            "esta base es un standby (solo lectura): el hub necesita el primario \
             (target_session_attrs=read-write)",
        )
    } else if status.replicas == 0 {
        Line::new(
            true,
            "Replicación de PostgreSQL",
            "sin standby: cada venta confirmada está en un solo servidor",
        )
    } else {
        let detail = format!(
            "{} standby, {} síncrono(s), retraso {:.3} s, synchronous_commit = {}",
            status.replicas,
            status.synchronous_replicas,
            status.replication_lag,
            status.synchronous_commit
        );
        if status.commits_are_synchronous() {
            Line::new(
                true,
                "Replicación de PostgreSQL",
                format!("{detail}: cada venta confirmada está en dos servidores"),
            )
        } else {
            Line::new(
                false,
                "Replicación de PostgreSQL",
                format!(
                    "{detail}: los commits no esperan al standby; si el primario cae se pierden \
                     ventas confirmadas (synchronous_standby_names)"
                ),
            )
        }
    };
    vec![active, replication]
}

#[derive(diesel::QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

/// The runbook's query: which of `wanted` the table has.
fn columns(
    conn: &mut PgConnection,
    table: &str,
    wanted: &[&str],
) -> diesel::QueryResult<Vec<String>> {
    let list = wanted
        .iter()
        .map(|c| format!("'{c}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let names: Vec<Name> = diesel::sql_query(format!(
        "SELECT column_name::text AS name FROM information_schema.columns
          WHERE table_name = $1 AND column_name IN ({list}) ORDER BY column_name"
    ))
    .bind::<Text, _>(table)
    .load(conn)?;
    Ok(names.into_iter().map(|n| n.name).collect())
}

/// The troubleshooting's query for "Table does not exist".
fn tables(conn: &mut PgConnection) -> diesel::QueryResult<Vec<String>> {
    let names: Vec<Name> = diesel::sql_query(
        "SELECT tablename::text AS name FROM pg_tables WHERE schemaname = 'public'
            AND tablename IN ('pos_registers', 'register_sessions') ORDER BY tablename",
    )
    .load(conn)?;
    Ok(names.into_iter().map(|n| n.name).collect())
}

fn running_hub(hub: &str, demo: bool, database: Option<&str>) -> Vec<Line> {
    let base = hub.trim_end_matches('/');
    let Some(authority) = base.strip_prefix("http://") else {
        return vec![Line::new(
            false,
            format!("El hub responde en {base}"),
            "usa su dirección http:// local (la de --bind), no la pública https://",
        )];
    };
    let mut lines = Vec::new();
    match get(authority, "/readyz") {
        Ok(ready) if ready.status == 200 => {
            lines.push(Line::new(
                true,
                format!("El hub responde en {base}"),
                "listo",
            ));
            let json: serde_json::Value = serde_json::from_str(&ready.body).unwrap_or_default();
            let same = database.is_some() && json["database"].as_str() == database;
            lines.push(Line::new(
                same,
                "El hub usa esta misma base de datos",
                if same {
                    ""
                } else {
                    "el hub que responde ahí trabaja sobre otra base de datos (revisa DATABASE_URL del servicio y de este comando)"
                },
            ));
            if json["terminals_simulated"] == true {
                lines.push(terminals(demo, "el hub simula los terminales"));
            }
            if let Some(stuck) = json["stuck_cajas"].as_array().filter(|s| !s.is_empty()) {
                let names: Vec<&str> = stuck.iter().filter_map(|c| c["name"].as_str()).collect();
                lines.push(Line::new(
                    false,
                    "Cajas respondiendo",
                    format!("sin respuesta: {}", names.join(", ")),
                ));
            } else {
                lines.push(Line::new(true, "Cajas respondiendo", ""));
            }
            lines.push(match json["errors_logged"].as_u64() {
                Some(0) => Line::new(true, "Logs sin errores desde el arranque", ""),
                Some(n) => Line::new(
                    false,
                    "Logs sin errores desde el arranque",
                    format!("{n} línea(s) ERROR: journalctl -u cajahub -p err"),
                ),
                None => Line::new(
                    false,
                    "Logs sin errores desde el arranque",
                    "el hub no lo dice (¿versión anterior?)",
                ),
            });
        }
        Ok(other) => {
            lines.push(Line::new(
                false,
                format!("El hub responde en {base}"),
                format!("/readyz respondió {}: {}", other.status, other.body.trim()),
            ));
            return lines;
        }
        Err(err) => {
            lines.push(Line::new(false, format!("El hub responde en {base}"), err));
            return lines;
        }
    }
    for path in PASO_5 {
        let what = format!("PASO 5: {path}");
        lines.push(match get(authority, path) {
            Ok(page) if page.status == 200 => Line::new(true, what, "200"),
            Ok(page) if page.status == 303 && page.location.starts_with("/login") => {
                Line::new(true, what, "303 al login")
            }
            Ok(page) => Line::new(false, what, format!("respondió {}", page.status)),
            Err(err) => Line::new(false, what, err),
        });
    }
    lines
}

/// An answer, as much of it as the checks read.
struct Answer {
    status: u16,
    location: String,
    body: String,
}

/// A plain HTTP/1.1 GET with bounded waits (the check runs beside the hub).
fn get(authority: &str, path: &str) -> Result<Answer, String> {
    let address = authority
        .to_socket_addrs()
        .map_err(|err| format!("{authority}: {err}"))?
        .next()
        .ok_or_else(|| format!("{authority}: sin dirección"))?;
    let mut stream = TcpStream::connect_timeout(&address, HTTP_TIMEOUT)
        .map_err(|err| format!("no se pudo conectar a {authority}: {err}"))?;
    let _ = stream.set_read_timeout(Some(HTTP_TIMEOUT));
    let _ = stream.set_write_timeout(Some(HTTP_TIMEOUT));
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\nUser-Agent: cajahub-check\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|err| err.to_string())?;
    let mut raw = Vec::new();
    stream
        .take(1 << 20)
        .read_to_end(&mut raw)
        .map_err(|err| format!("sin respuesta completa: {err}"))?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut head = head.lines();
    let status = head
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or("la respuesta no es HTTP")?;
    let location = head
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("location"))
        .map(|(_, value)| value.trim().to_owned())
        .unwrap_or_default();
    Ok(Answer {
        status,
        location,
        body: body.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_read_like_the_runbook() {
        assert_eq!(
            Line::new(true, "Migraciones aplicadas", "9 de 9").to_string(),
            "✅ Migraciones aplicadas: 9 de 9"
        );
        assert_eq!(
            Line::new(false, "Conexión a PostgreSQL", "").to_string(),
            "❌ Conexión a PostgreSQL"
        );
    }
}
