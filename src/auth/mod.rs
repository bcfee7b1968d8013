//! People and permissions: users and roles, passwords and PINs, cookie
//! sessions with idle and absolute expiry, CSRF tokens, login throttling,
//! and the extractors that guard every handler.

pub mod accounts;
pub mod activity;
mod admin;
pub mod cli;
pub mod csrf;
pub mod device;
pub mod extract;
pub mod logins;
mod pages;
pub mod password;
pub mod session;
pub mod signature;
pub mod throttle;
pub mod user;

pub use extract::{AdminUser, AuthError, CurrentUser, SupervisorUser};
pub fn routes(cfg: &mut actix_web::web::ServiceConfig) {
    pages::routes(cfg);
    admin::routes(cfg);
}

use std::time::Duration;

/// The rules of logging in and staying logged in.
#[derive(Debug, Clone)]
pub struct AuthPolicy {
    /// A session unused for this long ends.
    pub idle: Duration,
    /// A session ends this long after login, used or not.
    pub absolute: Duration,
    pub limits: throttle::LoginLimits,
    /// Proxies whose `X-Forwarded-For` names the client (nginx in front).
    pub trusted_proxies: Vec<std::net::IpAddr>,
}
