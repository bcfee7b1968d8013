//! A supervisor's PIN typed on a cashier's device: the supervisor signs
//! what a cashier may not do alone (a void at the bar). Checked as a login
//! is: recorded while the PIN is checked and a failure if it is wrong, on the password
//! checkers, the same work for unknown names. Failures count against
//! `pin <name>`, apart from the supervisor's logins, so a cashier guessing
//! PINs locks the PIN, never the supervisor out of the hub.

use std::future::{Ready, ready};

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use chrono::{DateTime, Utc};

use super::AuthPolicy;
use super::password::Checks;
use super::throttle::{self, Decision};
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
    let account = format!("pin {}", name.trim().to_lowercase());
    let device = format!("pin device {}", cashier.id.0);
    let admitted = match throttle::admit_when_decided(pool, *limits, &account, &device, now).await?
    {
        Decision::Admitted(admitted) => admitted,
        Decision::Locked(until) => return Err(SignatureError::Locked(until - now)),
        Decision::Busy => return Err(SignatureError::Busy),
    };
    let name = name.trim().to_owned();
    let found = db::run(pool, move |conn| user::find_by_name(conn, &name)).await??;
    let signer = found.filter(|u| u.role.includes(Role::Supervisor) && !u.is_disabled());
    let hash = signer.as_ref().and_then(|u| u.pin_hash.clone());
    let Ok((_, matches)) = checks.login(pin, None, hash).await else {
        db::run(pool, move |conn| throttle::withdrawn(conn, admitted)).await??;
        return Err(SignatureError::Busy);
    };
    let Some(signer) = signer.filter(|_| matches) else {
        db::run(pool, move |conn| throttle::failed(conn, admitted, now)).await??;
        return Err(SignatureError::Refused);
    };
    db::run(pool, move |conn| {
        throttle::succeeded(conn, admitted, &account)
    })
    .await??;
    Ok(signer)
}
