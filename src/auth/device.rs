//! A caja's device: a browser where a cashier opened a session carries a
//! signed cookie saying so, and its login page offers the venue's cashiers
//! to pick (then their PIN) instead of a name to type. Only such a device
//! lists names; a cookie not signed by this hub lists nothing.

use actix_web::cookie::time::Duration;
use actix_web::cookie::{Cookie, CookieJar, Key, SameSite};
use actix_web::{HttpRequest, HttpResponse};

const COOKIE: &str = "cajahub_caja_device";

/// How the hub signs and sends the device's cookie.
#[derive(Clone)]
pub struct DeviceCookie {
    key: Key,
    secure: bool,
}

impl DeviceCookie {
    pub fn new(key: Key, secure: bool) -> Self {
        Self { key, secure }
    }

    /// Marks the browser of `response` as a caja's device, for a year.
    pub fn mark(&self, response: &mut HttpResponse) {
        let mut jar = CookieJar::new();
        jar.signed_mut(&self.key).add(
            Cookie::build(COOKIE, "1")
                .path("/")
                .http_only(true)
                .same_site(SameSite::Lax)
                .secure(self.secure)
                .max_age(Duration::days(365))
                .finish(),
        );
        for cookie in jar.delta() {
            // A cookie the hub just built always makes a valid header.
            let _ = response.add_cookie(cookie);
        }
    }

    /// Whether the browser of `request` is a caja's device.
    pub fn is_marked(&self, request: &HttpRequest) -> bool {
        let Some(cookie) = request.cookie(COOKIE) else {
            return false;
        };
        let mut jar = CookieJar::new();
        jar.add_original(cookie);
        jar.signed(&self.key).get(COOKIE).is_some()
    }
}
