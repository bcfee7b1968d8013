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
    subtle::ConstantTimeEq::ct_eq(a, b).into()
}

#[derive(Deserialize)]
struct WithToken<T> {
    #[serde(default)]
    csrf_token: String,
    #[serde(flatten)]
    form: T,
}

/// A urlencoded form whose CSRF token matched the session's, of at most
/// `LIMIT` bytes (a form of typed fields by default; a pasted document may
/// ask for more).
pub struct CsrfForm<T, const LIMIT: usize = FORM_LIMIT_BYTES>(pub T);

impl<T: DeserializeOwned + 'static, const LIMIT: usize> FromRequest for CsrfForm<T, LIMIT> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        // A POST with no form at all carries no token either.
        let Some(content_type) = req.headers().get(actix_web::http::header::CONTENT_TYPE) else {
            tracing::warn!(path = %req.path(), "form without a body refused");
            return Box::pin(std::future::ready(Err(refused())));
        };
        let is_form = content_type
            .to_str()
            .ok()
            .and_then(|value| value.parse::<actix_web::mime::Mime>().ok())
            .is_some_and(|mime| mime.essence_str() == "application/x-www-form-urlencoded");
        if !is_form {
            let unreadable = PageError::BadRequest(
                "El formulario no se pudo leer: no viene como formulario.".into(),
            );
            return Box::pin(std::future::ready(Err(unreadable.into())));
        }
        let body = web::Bytes::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move {
            let body = body.await?;
            let WithToken { csrf_token, form } = read_form(&body, LIMIT)?;
            if matches(&req.get_session(), &csrf_token) {
                Ok(CsrfForm(form))
            } else {
                tracing::warn!(path = %req.path(), token_sent = !csrf_token.is_empty(), "CSRF token refused");
                Err(refused())
            }
        })
    }
}

/// Forms are small; anything larger is not one of ours.
pub const FORM_LIMIT_BYTES: usize = 16 * 1024;

/// Reads a urlencoded form. A field holding a NUL byte (which no one types,
/// and PostgreSQL refuses) is refused here for every form, naming it; each
/// form's own checks explain the rest beside the field.
fn read_form<T: DeserializeOwned>(body: &[u8], limit: usize) -> Result<T, actix_web::Error> {
    let unreadable = |detail: String| -> actix_web::Error {
        PageError::BadRequest(format!("El formulario no se pudo leer: {detail}.")).into()
    };
    if body.len() > limit {
        return Err(unreadable(format!("supera los {} KiB", limit / 1024)));
    }
    let fields: Vec<(String, String)> =
        serde_urlencoded::from_bytes(body).map_err(|err| unreadable(err.to_string()))?;
    if let Some((name, _)) = fields.iter().find(|(_, value)| value.contains('\0')) {
        let name: String = name.chars().filter(|c| !c.is_control()).take(40).collect();
        return Err(unreadable(format!(
            "el campo «{name}» tiene un carácter no válido (NUL)"
        )));
    }
    serde_urlencoded::from_bytes(body).map_err(|err| unreadable(err.to_string()))
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
