//! A supervisor's PIN typed on a cashier's device: the supervisor signs
//! what a cashier may not do alone (a void at the bar). Checked as a login
//! is: counted as a failure before the PIN is checked, on the password
//! checkers, the same work for unknown names. Failures count against
//! `pin <name>`, apart from the supervisor's logins, so a cashier guessing
//! PINs locks the PIN, never the supervisor out of the hub.

use chrono::{DateTime, Utc};

use super::throttle;
use super::user::{self, Role, User};
use crate::db::{self, DbError};
use crate::startup::AppState;

#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    #[error("wrong supervisor or PIN")]
    Refused,
    #[error("too many wrong PINs")]
    Locked(DateTime<Utc>),
    #[error("the password checkers are busy")]
    Busy,
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for SignatureError {
    fn from(err: diesel::result::Error) -> Self {
        SignatureError::Db(DbError::Query(err))
    }
}

/// The enabled supervisor (or admin) named `name` whose PIN is `pin`,
/// typed on the device of `cashier`.
pub async fn supervisor(
    state: &AppState,
    cashier: &User,
    name: &str,
    pin: String,
) -> Result<User, SignatureError> {
    let limits = state.auth.limits;
    let account = format!("pin {}", name.trim().to_lowercase());
    let device = format!("pin device {}", cashier.id.0);
    let (admitted, found) = {
        let account = account.clone();
        let name = name.trim().to_owned();
        db::run(&state.pool, move |conn| {
            Ok::<_, diesel::result::Error>(
                match throttle::admit(conn, &limits, &account, &device)? {
                    Ok(admitted) => Ok((admitted, user::find_by_name(conn, &name)?)),
                    Err(until) => Err(until),
                },
            )
        })
        .await??
        .map_err(SignatureError::Locked)?
    };
    let signer = found.filter(|u| u.role.includes(Role::Supervisor) && !u.is_disabled());
    let hash = signer.as_ref().and_then(|u| u.pin_hash.clone());
    let (_, matches) = state
        .password_checks
        .login(pin, None, hash)
        .await
        .map_err(|_| SignatureError::Busy)?;
    let Some(signer) = signer.filter(|_| matches) else {
        return Err(SignatureError::Refused);
    };
    db::run(&state.pool, move |conn| {
        throttle::succeeded(conn, admitted, &account)
    })
    .await??;
    Ok(signer)
}
