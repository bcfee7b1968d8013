//! A supervisor's PIN typed on a cashier's device: the supervisor signs
//! what a cashier may not do alone (a void at the bar). Checked as a login
//! is: counted as a failure before the PIN is checked, on the password
//! checkers, the same work for unknown names. Failures count against
//! `pin <name>`, apart from the supervisor's logins, so a cashier guessing
//! PINs locks the PIN, never the supervisor out of the hub.

use std::future::{Ready, ready};

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use chrono::{DateTime, Utc};

use super::AuthPolicy;
use super::password::Checks;
use super::throttle;
use super::user::{self, Role, User};
use crate::clock::Clock;
use crate::db::{self, DbError, PgPool};
use crate::web::shared;

#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    #[error("wrong supervisor or PIN")]
    Refused,
    #[error("too many wrong PINs")]
    /// Locked for this much longer.
    Locked(chrono::Duration),
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

/// What checking a signature needs, as a handler's argument.
pub struct Signatures {
    pool: web::Data<PgPool>,
    clock: web::Data<Clock>,
    policy: web::Data<AuthPolicy>,
    checks: web::Data<Checks>,
}

impl FromRequest for Signatures {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Signatures {
            pool: shared(req),
            clock: shared(req),
            policy: shared(req),
            checks: shared(req),
        }))
    }
}

impl Signatures {
    /// The enabled supervisor (or admin) named `name` whose PIN is `pin`,
    /// typed on the device of `cashier`.
    pub async fn supervisor(
        &self,
        cashier: &User,
        name: &str,
        pin: String,
    ) -> Result<User, SignatureError> {
        let checking = Checking {
            pool: &self.pool,
            limits: &self.policy.limits,
            checks: &self.checks,
            now: self.clock.now(),
        };
        supervisor(checking, cashier, name, pin).await
    }
}

/// What one check of a secret needs.
struct Checking<'a> {
    pool: &'a PgPool,
    limits: &'a throttle::LoginLimits,
    checks: &'a Checks,
    now: DateTime<Utc>,
}

async fn supervisor(
    Checking {
        pool,
        limits,
        checks,
        now,
    }: Checking<'_>,
    cashier: &User,
    name: &str,
    pin: String,
) -> Result<User, SignatureError> {
    let limits = *limits;
    let account = format!("pin {}", name.trim().to_lowercase());
    let device = format!("pin device {}", cashier.id.0);
    let (admitted, found) = {
        let account = account.clone();
        let name = name.trim().to_owned();
        db::run(pool, move |conn| {
            Ok::<_, diesel::result::Error>(
                match throttle::admit(conn, &limits, &account, &device, now)? {
                    Ok(admitted) => Ok((admitted, user::find_by_name(conn, &name)?)),
                    Err(until) => Err(until),
                },
            )
        })
        .await??
        .map_err(|until| SignatureError::Locked(until - now))?
    };
    let signer = found.filter(|u| u.role.includes(Role::Supervisor) && !u.is_disabled());
    let hash = signer.as_ref().and_then(|u| u.pin_hash.clone());
    let (_, matches) = checks
        .login(pin, None, hash)
        .await
        .map_err(|_| SignatureError::Busy)?;
    let Some(signer) = signer.filter(|_| matches) else {
        return Err(SignatureError::Refused);
    };
    db::run(pool, move |conn| {
        throttle::succeeded(conn, admitted, &account)
    })
    .await??;
    Ok(signer)
}
