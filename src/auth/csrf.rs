//! CSRF: every session carries a random token; every state-changing form
//! sends it back in `csrf_token`; [`CsrfForm`] refuses a form without it.

use std::future::Future;
use std::pin::Pin;

use actix_session::{Session, SessionExt};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use argon2::password_hash::rand_core::{OsRng, RngCore};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::web::PageError;

const TOKEN_KEY: &str = "csrf";
pub const FIELD: &str = "csrf_token";

/// The session's token, made on first use.
pub fn token(session: &Session) -> String {
    if let Ok(Some(token)) = session.get::<String>(TOKEN_KEY) {
        return token;
    }
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let _ = session.insert(TOKEN_KEY, &token);
    token
}

fn matches(session: &Session, sent: &str) -> bool {
    match session.get::<String>(TOKEN_KEY) {
        Ok(Some(expected)) => constant_time_eq(expected.as_bytes(), sent.as_bytes()),
        _ => false,
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[derive(Deserialize)]
struct WithToken<T> {
    #[serde(default)]
    csrf_token: String,
    #[serde(flatten)]
    form: T,
}

/// A urlencoded form whose CSRF token matched the session's.
pub struct CsrfForm<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for CsrfForm<T> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        // A POST with no form at all carries no token either.
        if !req
            .headers()
            .contains_key(actix_web::http::header::CONTENT_TYPE)
        {
            tracing::warn!(path = %req.path(), "form without a body refused");
            return Box::pin(std::future::ready(Err(refused())));
        }
        let form = web::Form::<WithToken<T>>::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move {
            let web::Form(WithToken { csrf_token, form }) = form.await?;
            if matches(&req.get_session(), &csrf_token) {
                Ok(CsrfForm(form))
            } else {
                tracing::warn!(path = %req.path(), token_sent = !csrf_token.is_empty(), "CSRF token refused");
                Err(refused())
            }
        })
    }
}

fn refused() -> actix_web::Error {
    PageError::Forbidden(
        "El formulario expiró o no viene de esta página. Vuelve a cargarla e intenta de nuevo."
            .into(),
    )
    .into()
}

/// A form with no fields but the token (logout, restore…).
#[derive(Debug, Default, Deserialize)]
pub struct NoFields {}

#[cfg(test)]
mod tests {
    #[test]
    fn constant_time_comparison() {
        assert!(super::constant_time_eq(b"abc", b"abc"));
        assert!(!super::constant_time_eq(b"abc", b"abd"));
        assert!(!super::constant_time_eq(b"abc", b"ab"));
    }
}
