//! Secrets people type: passwords and cashier PINs, and their argon2id hashes.
//! Neither ever reaches a log: their `Debug` is redacted.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};

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

/// Whether `secret` matches the stored `hash`. A malformed hash never
/// matches, and costs a verification all the same.
pub fn verify(secret: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => verify_parsed(secret, &parsed),
        Err(_) => {
            let _ = verify(secret, DUMMY);
            false
        }
    }
}

/// The most memory a stored hash may ask for (ours ask 19 MiB).
const MAX_BLOCKS: u32 = 64 * 1024;

thread_local! {
    /// argon2's working memory, kept by each thread that verifies: a
    /// checker thread allocates its 19 MiB once, instead of once per check
    /// (which the allocator keeps around per arena, and a login flood then
    /// multiplies).
    static MEMORY: std::cell::RefCell<Vec<Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn verify_parsed(secret: &str, parsed: &PasswordHash<'_>) -> bool {
    let hashed = || -> Option<bool> {
        let algorithm = Algorithm::try_from(parsed.algorithm).ok()?;
        let version = match parsed.version {
            Some(version) => Version::try_from(version).ok()?,
            None => Version::default(),
        };
        let params = Params::try_from(parsed).ok()?;
        if params.block_count() > MAX_BLOCKS as usize {
            return None;
        }
        let expected = parsed.hash?;
        let mut salt = [0u8; 64];
        let salt = parsed.salt?.decode_b64(&mut salt).ok()?;
        let mut out = vec![0u8; expected.len()];
        MEMORY.with_borrow_mut(|blocks| {
            blocks.resize(params.block_count(), Block::default());
            Argon2::new(algorithm, version, params)
                .hash_password_into_with_memory(secret.as_bytes(), salt, &mut out, &mut blocks[..])
                .ok()
        })?;
        Some(constant_time_eq(&out, expected.as_bytes()))
    };
    hashed().unwrap_or(false)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    subtle::ConstantTimeEq::ct_eq(a, b).into()
}

/// A hash no secret is checked against for real (of "not a real
/// password", with the hub's parameters): it spends the time of a
/// verification where there is nothing to verify.
const DUMMY: &str = "$argon2id$v=19$m=19456,t=2,p=1$6BjOQ4ugLAk1g41jZJkFig$y08Mrn6P+03CoNHaagtLe1nCUHMrsEMCqIOCEXKcEEA";

/// The verifications a login makes, whatever the account: one against the
/// password and one against the PIN, each against a dummy hash where the
/// account has none (unknown name, no PIN). How long a failure takes then
/// tells nothing about the account.
pub const LOGIN_VERIFICATIONS: u64 = 2;

/// A login's check of `secret` against an account's password and PIN:
/// whether each matched.
fn check_login(secret: &str, password_hash: Option<&str>, pin_hash: Option<&str>) -> (bool, bool) {
    let password = verify(secret, password_hash.unwrap_or(DUMMY)) && password_hash.is_some();
    let pin = verify(secret, pin_hash.unwrap_or(DUMMY)) && pin_hash.is_some();
    (password, pin)
}

/// Runs password checks on a few threads of their own: each argon2id check
/// takes 19 MiB, so at most `threads` run at once (and the memory the
/// allocator keeps is that of `threads` threads); a short queue waits, and
/// beyond it a check is refused at once rather than piling up.
pub struct Checks {
    jobs: std::sync::mpsc::SyncSender<Box<dyn FnOnce() + Send>>,
    /// Verifications made (what the timing tests count).
    verifications: Arc<AtomicU64>,
}

/// The password checks are all taken: try again in a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many password checks at once")]
pub struct Busy;

impl Checks {
    /// `threads` checkers (at least one) and room for `queue` waiting checks.
    pub fn new(threads: usize, queue: usize) -> Self {
        let (jobs, waiting) = std::sync::mpsc::sync_channel::<Box<dyn FnOnce() + Send>>(queue);
        let waiting = Arc::new(std::sync::Mutex::new(waiting));
        for n in 0..threads.max(1) {
            let waiting = waiting.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("password-{n}"))
                .spawn(move || {
                    loop {
                        let job = match waiting.lock() {
                            Ok(waiting) => waiting.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return, // the hub is stopping
                        }
                    }
                });
            if let Err(err) = spawned {
                tracing::error!(error = %err, "could not start a password checker thread");
            }
        }
        Self {
            jobs,
            verifications: Arc::default(),
        }
    }

    pub fn verifications(&self) -> u64 {
        self.verifications.load(Ordering::Relaxed)
    }

    /// Checks a login's secret against the account's password and PIN
    /// hashes (see [`LOGIN_VERIFICATIONS`]): whether each matched.
    pub async fn login(
        &self,
        secret: String,
        password_hash: Option<String>,
        pin_hash: Option<String>,
    ) -> Result<(bool, bool), Busy> {
        let verifications = self.verifications.clone();
        self.run(move || {
            verifications.fetch_add(LOGIN_VERIFICATIONS, Ordering::Relaxed);
            check_login(&secret, password_hash.as_deref(), pin_hash.as_deref())
        })
        .await
    }

    /// Sized to the machine: one checker per core (at most four), a queue
    /// of eight per checker.
    pub fn for_this_machine() -> Self {
        let cores = std::thread::available_parallelism()
            .map_or(1, usize::from)
            .min(4);
        Self::new(cores, cores * 8)
    }

    /// Runs `check` on a checker thread, or refuses at once when the queue is full.
    async fn run<T: Send + 'static>(
        &self,
        check: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Busy> {
        let (done, result) = tokio::sync::oneshot::channel();
        let job = Box::new(move || {
            let _ = done.send(check());
        });
        self.jobs.try_send(job).map_err(|_| Busy)?;
        result.await.map_err(|_| Busy)
    }
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
        assert!(
            verify("not a real password", DUMMY),
            "the dummy is a real hash"
        );
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
