//! Secrets people type: passwords and cashier PINs, and their argon2id hashes.
//! Neither ever reaches a log: their `Debug` is redacted.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// A password: 8 to 128 characters.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

/// A cashier's quick-login PIN: 4 to 8 digits.
#[derive(Clone, PartialEq, Eq)]
pub struct Pin(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("La contraseña debe tener entre 8 y 128 caracteres.")]
    PasswordLength,
    #[error("El PIN debe tener entre 4 y 8 dígitos.")]
    PinFormat,
}

impl Password {
    pub fn parse(input: String) -> Result<Self, SecretError> {
        let chars = input.chars().count();
        if (8..=128).contains(&chars) {
            Ok(Self(input))
        } else {
            Err(SecretError::PasswordLength)
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl Pin {
    pub fn parse(input: String) -> Result<Self, SecretError> {
        if (4..=8).contains(&input.len()) && input.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(input))
        } else {
            Err(SecretError::PinFormat)
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password([redacted])")
    }
}

impl std::fmt::Debug for Pin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pin([redacted])")
    }
}

/// argon2id with OWASP's parameters: 19 MiB, 2 iterations, 1 lane.
fn hasher() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("OWASP argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

#[derive(Debug, thiserror::Error)]
#[error("could not hash the secret: {0}")]
pub struct HashError(String);

/// The PHC string to store for `secret`.
pub fn hash(secret: &str) -> Result<String, HashError> {
    let salt = SaltString::generate(&mut OsRng);
    hasher()
        .hash_password(secret.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|err| HashError(err.to_string()))
}

/// Whether `secret` matches the stored `hash`. A malformed hash never matches.
pub fn verify(secret: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| hasher().verify_password(secret.as_bytes(), &parsed).is_ok())
        .unwrap_or(false)
}

/// Spends the time of one verification, so an unknown user name answers as
/// slowly as a wrong password does.
pub fn verify_nothing(secret: &str) {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash("not a real password").unwrap_or_default());
    let _ = verify(secret, dummy);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_are_salted() {
        let a = hash("correct horse").unwrap();
        let b = hash("correct horse").unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify("correct horse", &a));
        assert!(!verify("wrong horse", &a));
        assert!(!verify("correct horse", "not a hash"));
    }

    #[test]
    fn secrets_are_checked_and_never_printed() {
        assert!(Password::parse("short".into()).is_err());
        assert!(Password::parse("long enough".into()).is_ok());
        assert!(Pin::parse("12a4".into()).is_err());
        assert!(Pin::parse("123".into()).is_err());
        assert!(Pin::parse("1234".into()).is_ok());
        let password = Password::parse("s3cret-pass".into()).unwrap();
        assert!(!format!("{password:?}").contains("s3cret"));
        let pin = Pin::parse("4321".into()).unwrap();
        assert!(!format!("{pin:?}").contains("4321"));
    }
}
