//! A database on this machine is reached without TLS unless the URL asks
//! for it: on the loopback interface or a Unix socket nothing travels
//! outside the machine, and TLS cost the hub a twentieth of its processor
//! per sale (docs/configuration.md, "The database on this machine").
//!
//! libpq's URLs are read by hand, as `describe_url` does: several hosts
//! (`host=a,b`), a socket's folder as a host, and `key=value` strings are
//! all libpq's, not all URLs to the `url` crate.

use std::net::IpAddr;

/// `raw` with `sslmode=disable` added when every host it names is on this
/// machine and neither it nor `PGSSLMODE` chose a mode; otherwise `raw`.
pub fn without_tls_when_local(raw: &str) -> String {
    let chosen = std::env::var_os("PGSSLMODE").is_some() || parameter(raw, "sslmode").is_some();
    if chosen || !hosts(raw).iter().all(|host| is_on_this_machine(host)) {
        return raw.to_owned();
    }
    if raw.contains("://") {
        let joiner = if raw.contains('?') { '&' } else { '?' };
        format!("{raw}{joiner}sslmode=disable")
    } else {
        format!("{raw} sslmode=disable")
    }
}

/// Whether a host libpq was given is this machine: a Unix socket's folder,
/// `localhost`, or a loopback address.
fn is_on_this_machine(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.is_empty()
        || host.starts_with('/')
        || host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The hosts `raw` names: its `host` parameter, else a URL's authority; an
/// empty one is libpq's default socket.
fn hosts(raw: &str) -> Vec<String> {
    if let Some(hosts) = parameter(raw, "host").or_else(|| parameter(raw, "hostaddr")) {
        return hosts.split(',').map(str::to_owned).collect();
    }
    let Some((_, rest)) = raw.split_once("://") else {
        return vec![String::new()];
    };
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let servers = authority
        .rsplit_once('@')
        .map_or(authority, |(_, servers)| servers);
    servers
        .split(',')
        .map(|server| {
            let host = match server.rsplit_once(':') {
                Some((host, port)) if !port.contains(']') => host,
                _ => server,
            };
            percent_encoding::percent_decode_str(host)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect()
}

/// A parameter's value, from a URL's query (percent-decoded) or a
/// `key=value` string (as written).
pub(super) fn parameter(raw: &str, key: &str) -> Option<String> {
    let value = |pair: &str| Some(pair.strip_prefix(key)?.strip_prefix('=')?.to_owned());
    match raw.split_once("://") {
        Some((_, rest)) => {
            let (_, query) = rest.split_once('?')?;
            query.split('&').find_map(|pair| {
                let found = value(pair)?;
                Some(
                    percent_encoding::percent_decode_str(&found)
                        .decode_utf8_lossy()
                        .into_owned(),
                )
            })
        }
        None => raw.split_whitespace().find_map(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_on_this_machine_is_reached_without_tls_unless_asked() {
        for (url, expected) in [
            (
                "postgres://cajahub:pw@127.0.0.1/bimba_db",
                "postgres://cajahub:pw@127.0.0.1/bimba_db?sslmode=disable",
            ),
            (
                "postgresql://cajahub@localhost:5433/bimba_db?application_name=x",
                "postgresql://cajahub@localhost:5433/bimba_db?application_name=x&sslmode=disable",
            ),
            (
                "postgres://cajahub@[::1]:5432/bimba_db",
                "postgres://cajahub@[::1]:5432/bimba_db?sslmode=disable",
            ),
            (
                "postgres://cajahub@/bimba_db?host=/var/run/postgresql",
                "postgres://cajahub@/bimba_db?host=/var/run/postgresql&sslmode=disable",
            ),
            (
                "postgres://cajahub@%2Fvar%2Frun%2Fpostgresql/bimba_db",
                "postgres://cajahub@%2Fvar%2Frun%2Fpostgresql/bimba_db?sslmode=disable",
            ),
            (
                "host=127.0.0.1 dbname=bimba_db",
                "host=127.0.0.1 dbname=bimba_db sslmode=disable",
            ),
            ("dbname=bimba_db", "dbname=bimba_db sslmode=disable"),
            // Chosen by the operator, or not on this machine: as written.
            (
                "postgres://cajahub@127.0.0.1/bimba_db?sslmode=require",
                "postgres://cajahub@127.0.0.1/bimba_db?sslmode=require",
            ),
            (
                "postgres://cajahub@10.0.0.5/bimba_db",
                "postgres://cajahub@10.0.0.5/bimba_db",
            ),
            (
                "postgres://cajahub@127.0.0.1,db2.local/bimba_db",
                "postgres://cajahub@127.0.0.1,db2.local/bimba_db",
            ),
            (
                "host=db.example dbname=bimba_db",
                "host=db.example dbname=bimba_db",
            ),
        ] {
            assert_eq!(without_tls_when_local(url), expected, "{url}");
        }
    }
}
