//! The cookie session: what it holds once someone logs in, and the key that
//! signs and encrypts it (from configuration, or generated once and kept in
//! the database so every restart and every node accepts the same cookies).

use actix_session::config::{CookieContentSecurity, PersistentSession, TtlExtensionPolicy};
use actix_session::storage::CookieSessionStore;
use actix_session::{Session, SessionMiddleware};
use actix_web::cookie::{Key, SameSite};
use argon2::password_hash::rand_core::{OsRng, RngCore};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::user::User;
use crate::db::schema::hub_settings;

pub const COOKIE_NAME: &str = "cajahub_session";
const LOGIN_KEY: &str = "login";
const SETTINGS_KEY: &str = "session_key";
const KEY_BYTES: usize = 64;

/// Who is logged in, since when, and when they were last seen.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Login {
    /// The login's row in `logins`: ended there, this cookie is worth nothing.
    pub login_id: Uuid,
    pub user_id: i32,
    /// The user's `session_epoch` at login: a later one revokes this session.
    pub epoch: i32,
    /// Unix time in milliseconds.
    pub logged_in_at: i64,
    /// Unix time in milliseconds: when the cookie was made. The hub keeps
    /// later uses in memory and in the login's row (`auth::activity`).
    pub last_seen_at: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("CAJAHUB_SESSION_KEY must be base64 of at least {KEY_BYTES} bytes")]
    Invalid,
    #[error("could not keep the session key in the database")]
    Db(#[from] diesel::result::Error),
}

/// The configured key, or the one kept in `hub_settings` (made on first run).
pub fn load_or_create_key(
    conn: &mut PgConnection,
    configured: Option<&str>,
) -> Result<Key, KeyError> {
    let encoded = match configured {
        Some(value) => value.to_owned(),
        None => {
            let mut bytes = [0u8; KEY_BYTES];
            OsRng.fill_bytes(&mut bytes);
            // Two hubs starting at once: the first insert wins, both read it.
            diesel::insert_into(hub_settings::table)
                .values((
                    hub_settings::key.eq(SETTINGS_KEY),
                    hub_settings::value.eq(STANDARD.encode(bytes)),
                ))
                .on_conflict_do_nothing()
                .execute(conn)?;
            hub_settings::table
                .find(SETTINGS_KEY)
                .select(hub_settings::value)
                .first(conn)?
        }
    };
    let bytes = STANDARD
        .decode(encoded.trim())
        .map_err(|_| KeyError::Invalid)?;
    if bytes.len() < KEY_BYTES {
        return Err(KeyError::Invalid);
    }
    Ok(Key::from(&bytes))
}

/// Sessions live in a private (encrypted and signed) cookie, HttpOnly and
/// SameSite=Lax; `Secure` when the hub is served over TLS. The cookie is
/// made at login and lives as long as a session may: it is not made again
/// on every response, the idle limit is the hub's to keep (`auth::extract`).
pub fn middleware(
    key: Key,
    secure: bool,
    lifetime: std::time::Duration,
) -> SessionMiddleware<CookieSessionStore> {
    let ttl = actix_web::cookie::time::Duration::seconds(lifetime.as_secs() as i64);
    SessionMiddleware::builder(CookieSessionStore::default(), key)
        .cookie_name(COOKIE_NAME.to_owned())
        .cookie_http_only(true)
        .cookie_same_site(SameSite::Lax)
        .cookie_secure(secure)
        .cookie_content_security(CookieContentSecurity::Private)
        .session_lifecycle(
            PersistentSession::default()
                .session_ttl(ttl)
                .session_ttl_extension_policy(TtlExtensionPolicy::OnStateChanges),
        )
        .build()
}

/// Unix time in milliseconds.
pub fn current(session: &Session) -> Option<Login> {
    session.get::<Login>(LOGIN_KEY).ok().flatten()
}

pub fn touch(session: &Session, login: &Login) {
    let _ = session.insert(LOGIN_KEY, login);
}

/// Starts a fresh session for `user`'s new `login` at `at` (milliseconds
/// of the hub's clock; a new cookie: no fixation).
pub fn log_in(session: &Session, user: &User, login: Uuid, at: i64) {
    session.renew();
    session.clear();
    touch(
        session,
        &Login {
            login_id: login,
            user_id: user.id.0,
            epoch: user.session_epoch,
            logged_in_at: at,
            last_seen_at: at,
        },
    );
    // A new token with the new login, in the cookie the login answers
    // with: made on a later request instead, it would change the session,
    // and every response to a client that keeps this cookie would carry a
    // new one.
    super::csrf::token(session);
}

pub fn log_out(session: &Session) {
    session.purge();
}

/// Forgets the login but keeps the session (and its CSRF token).
pub fn forget_login(session: &Session) {
    session.remove(LOGIN_KEY);
}
