//! What a caja's configuration is. Every type here holds only valid values:
//! they are parsed from input at the edge, and the rest of the hub trusts them.

use serde::{Deserialize, Serialize};

use crate::text_enum;

text_enum! {
    /// Who operates the caja.
    CajaType {
        Humana = "HUMANA" => "Humana",
        Autoservicio = "AUTOSERVICIO" => "Autoservicio",
    }
}

text_enum! {
    /// A card payment provider.
    PaymentProvider {
        Getnet = "GETNET" => "GETNET",
        Klap = "KLAP" => "KLAP",
    }
}

text_enum! {
    /// Whether the caja may sell.
    OperationalStatus {
        Active = "ACTIVE" => "Activa",
        Maintenance = "MAINTENANCE" => "En mantención",
        Disabled = "DISABLED" => "Deshabilitada",
    }
}

/// Why a piece of input is not a valid value; shown beside its field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    #[error("Este campo es obligatorio.")]
    Missing,
    #[error("Máximo {max} caracteres.")]
    TooLong { max: usize },
    #[error("Usa solo letras A-Z, números y guiones (por ejemplo TEST-01); sin espacios.")]
    MalformedCode,
    #[error("No puede contener caracteres de control ni invisibles.")]
    ControlCharacters,
    #[error(
        "Debe ser un número entero entre {} y {}.",
        crate::money::grouped(i64::from(*min)),
        crate::money::grouped(i64::from(*max))
    )]
    OutOfRange { min: u32, max: u32 },
    #[error("Valor no válido: {0:?}.")]
    UnknownValue(String),
}

/// The caja's display name: trimmed, 1 to 100 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CajaName(String);

impl CajaName {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(input: &str) -> Result<Self, Invalid> {
        let name = input.trim();
        if name.is_empty() {
            return Err(Invalid::Missing);
        }
        if name.chars().count() > Self::MAX_CHARS {
            return Err(Invalid::TooLong {
                max: Self::MAX_CHARS,
            });
        }
        if name.chars().any(crate::text::is_invisible) {
            return Err(Invalid::ControlCharacters);
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The caja's short code, e.g. `TEST-01`: upper-case letters, digits and
/// hyphens, starting with a letter or digit, at most 20 characters. Unique.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CajaCode(String);

impl CajaCode {
    pub const MAX_CHARS: usize = 20;

    /// Accepts lower case (`test-01` is `TEST-01`); trims surrounding space.
    pub fn parse(input: &str) -> Result<Self, Invalid> {
        let code = input.trim().to_uppercase();
        if code.is_empty() {
            return Err(Invalid::Missing);
        }
        if code.chars().count() > Self::MAX_CHARS {
            return Err(Invalid::TooLong {
                max: Self::MAX_CHARS,
            });
        }
        let mut chars = code.chars();
        let well_formed = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !well_formed {
            return Err(Invalid::MalformedCode);
        }
        Ok(Self(code))
    }

    /// A code made from a name, for a caja created without one:
    /// "Barra Principal" becomes `BARRA-PRINCIPAL`. `attempt` 2, 3, … adds a
    /// suffix (`BARRA-PRINCIPAL-2`) for when the plain one is taken.
    pub fn from_name(name: &CajaName, attempt: u32) -> Self {
        let mut base = String::new();
        for c in name.as_str().chars().flat_map(fold_accent) {
            if c.is_ascii_alphanumeric() {
                base.push(c.to_ascii_uppercase());
            } else if !base.is_empty() && !base.ends_with('-') {
                base.push('-');
            }
        }
        let mut base = base.trim_end_matches('-').to_string();
        if base.is_empty() {
            base = "CAJA".to_string();
        }
        let suffix = if attempt > 1 {
            format!("-{attempt}")
        } else {
            String::new()
        };
        base.truncate(Self::MAX_CHARS - suffix.len());
        let base = base.trim_end_matches('-');
        Self(format!("{base}{suffix}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Spanish letters to their plain ASCII form, so a code can be derived from a name.
fn fold_accent(c: char) -> Option<char> {
    Some(match c {
        'á' | 'à' | 'ä' | 'â' | 'Á' | 'À' | 'Ä' | 'Â' => 'A',
        'é' | 'è' | 'ë' | 'ê' | 'É' | 'È' | 'Ë' | 'Ê' => 'E',
        'í' | 'ì' | 'ï' | 'î' | 'Í' | 'Ì' | 'Ï' | 'Î' => 'I',
        'ó' | 'ò' | 'ö' | 'ô' | 'Ó' | 'Ò' | 'Ö' | 'Ô' => 'O',
        'ú' | 'ù' | 'ü' | 'û' | 'Ú' | 'Ù' | 'Ü' | 'Û' => 'U',
        'ñ' | 'Ñ' => 'N',
        other => other,
    })
}

/// Seconds a card payment may wait on the primary provider before the
/// cashier falls back to the backup: 5 to 600.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct FallbackSeconds(u16);

impl FallbackSeconds {
    pub const MIN: u32 = 5;
    pub const MAX: u32 = 600;
    pub const DEFAULT: FallbackSeconds = FallbackSeconds(60);

    pub fn get(self) -> u32 {
        u32::from(self.0)
    }
}

impl TryFrom<u32> for FallbackSeconds {
    type Error = Invalid;

    fn try_from(value: u32) -> Result<Self, Invalid> {
        if (Self::MIN..=Self::MAX).contains(&value) {
            Ok(Self(value as u16))
        } else {
            Err(Invalid::OutOfRange {
                min: Self::MIN,
                max: Self::MAX,
            })
        }
    }
}

impl From<FallbackSeconds> for u32 {
    fn from(value: FallbackSeconds) -> u32 {
        value.get()
    }
}

/// How many backup phones (KLAP) the caja has: 0 to 20.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct BackupPhones(u8);

impl BackupPhones {
    pub const MAX: u32 = 20;

    pub fn get(self) -> u32 {
        u32::from(self.0)
    }
}

impl TryFrom<u32> for BackupPhones {
    type Error = Invalid;

    fn try_from(value: u32) -> Result<Self, Invalid> {
        if value <= Self::MAX {
            Ok(Self(value as u8))
        } else {
            Err(Invalid::OutOfRange {
                min: 0,
                max: Self::MAX,
            })
        }
    }
}

impl From<BackupPhones> for u32 {
    fn from(value: BackupPhones) -> u32 {
        value.get()
    }
}

/// When a card payment falls back from the primary provider to the backup.
/// Stored as JSONB in `pos_registers.fallback_policy`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    diesel::AsExpression,
    diesel::FromSqlRow,
)]
#[diesel(sql_type = diesel::sql_types::Jsonb)]
pub struct FallbackPolicy {
    pub enabled: bool,
    pub max_seconds: FallbackSeconds,
    pub backup_phones: BackupPhones,
}

impl Default for FallbackPolicy {
    fn default() -> Self {
        Self {
            enabled: false,
            max_seconds: FallbackSeconds::DEFAULT,
            backup_phones: BackupPhones(0),
        }
    }
}

crate::jsonb_column!(FallbackPolicy);

/// The primary card provider and, optionally, a different backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Providers {
    primary: PaymentProvider,
    backup: Option<PaymentProvider>,
}

/// The backup provider cannot be the primary one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("El proveedor de respaldo debe ser distinto del principal.")]
pub struct SameProvider;

impl Providers {
    pub fn new(
        primary: PaymentProvider,
        backup: Option<PaymentProvider>,
    ) -> Result<Self, SameProvider> {
        if backup == Some(primary) {
            return Err(SameProvider);
        }
        Ok(Self { primary, backup })
    }

    pub fn primary(self) -> PaymentProvider {
        self.primary
    }

    pub fn backup(self) -> Option<PaymentProvider> {
        self.backup
    }
}

/// How a session of the caja closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClosingRules {
    /// The cashier counts without seeing the expected cash.
    pub blind_count: bool,
    /// A difference beyond this needs a supervisor to close; `None`: no limit.
    pub max_difference: Option<crate::money::Pesos>,
}

/// A complete, valid configuration for a caja, as an admin saves it.
/// `code: None` asks the hub to derive one from the name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CajaConfig {
    pub name: CajaName,
    pub code: Option<CajaCode>,
    pub register_type: CajaType,
    pub providers: Providers,
    pub operational_status: OperationalStatus,
    pub fallback_policy: FallbackPolicy,
    pub closing: ClosingRules,
    pub terminal: crate::cajas::terminal::TerminalConfig,
}

#[cfg(test)]
mod tests {

    #[test]
    fn limits_in_errors_read_as_numbers_are_written() {
        let err = Invalid::OutOfRange {
            min: 0,
            max: 1_000_000_000,
        };
        assert_eq!(
            err.to_string(),
            "Debe ser un número entero entre 0 y 1.000.000.000."
        );
    }
    use super::*;

    #[test]
    fn codes_are_normalised_and_checked() {
        assert_eq!(CajaCode::parse(" test-01 ").unwrap().as_str(), "TEST-01");
        assert_eq!(CajaCode::parse(""), Err(Invalid::Missing));
        assert_eq!(CajaCode::parse("TEST 01"), Err(Invalid::MalformedCode));
        assert_eq!(CajaCode::parse("-TEST"), Err(Invalid::MalformedCode));
        assert_eq!(CajaCode::parse("CAJA_1"), Err(Invalid::MalformedCode));
        assert_eq!(CajaCode::parse("ÑANDÚ"), Err(Invalid::MalformedCode));
        assert_eq!(
            CajaCode::parse(&"A".repeat(21)),
            Err(Invalid::TooLong { max: 20 })
        );
        assert!(CajaCode::parse(&"A".repeat(20)).is_ok());
    }

    #[test]
    fn codes_derive_from_names() {
        let name = |s| CajaName::parse(s).unwrap();
        assert_eq!(
            CajaCode::from_name(&name("TEST MVP1"), 1).as_str(),
            "TEST-MVP1"
        );
        assert_eq!(
            CajaCode::from_name(&name("Barra Ñuñoa  #2"), 1).as_str(),
            "BARRA-NUNOA-2"
        );
        assert_eq!(
            CajaCode::from_name(&name("TEST GETNET+KLAP"), 3).as_str(),
            "TEST-GETNET-KLAP-3"
        );
        assert_eq!(CajaCode::from_name(&name("💳"), 1).as_str(), "CAJA");
        let long = CajaCode::from_name(&name("una caja con un nombre larguísimo"), 12);
        assert_eq!(long.as_str(), "UNA-CAJA-CON-UN-N-12");
        for attempt in 1..30 {
            let code = CajaCode::from_name(&name("una caja con un nombre larguísimo"), attempt);
            assert_eq!(CajaCode::parse(code.as_str()).as_ref(), Ok(&code));
        }
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(CajaName::parse("  Barra  ").unwrap().as_str(), "Barra");
        assert_eq!(CajaName::parse("   "), Err(Invalid::Missing));
        assert_eq!(
            CajaName::parse(&"ñ".repeat(101)),
            Err(Invalid::TooLong { max: 100 })
        );
        assert!(CajaName::parse(&"ñ".repeat(100)).is_ok());
        assert_eq!(CajaName::parse("a\u{0}b"), Err(Invalid::ControlCharacters));
        assert_eq!(
            CajaName::parse("Barra\u{202E}2 ajaC"),
            Err(Invalid::ControlCharacters)
        );
    }

    #[test]
    fn bounded_numbers() {
        assert!(FallbackSeconds::try_from(4).is_err());
        assert!(FallbackSeconds::try_from(5).is_ok());
        assert!(FallbackSeconds::try_from(600).is_ok());
        assert!(FallbackSeconds::try_from(601).is_err());
        assert!(BackupPhones::try_from(20).is_ok());
        assert!(BackupPhones::try_from(21).is_err());
    }

    #[test]
    fn backup_differs_from_primary() {
        use PaymentProvider::*;
        assert_eq!(Providers::new(Getnet, Some(Getnet)), Err(SameProvider));
        assert!(Providers::new(Getnet, Some(Klap)).is_ok());
        assert!(Providers::new(Klap, None).is_ok());
    }

    #[test]
    fn policy_json_is_what_the_database_checks() {
        let policy = FallbackPolicy {
            enabled: true,
            max_seconds: FallbackSeconds::try_from(60).unwrap(),
            backup_phones: BackupPhones::try_from(2).unwrap(),
        };
        let json = serde_json::to_value(policy).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"enabled": true, "max_seconds": 60, "backup_phones": 2})
        );
        let bad: Result<FallbackPolicy, _> = serde_json::from_value(
            serde_json::json!({"enabled": true, "max_seconds": 2, "backup_phones": 2}),
        );
        assert!(bad.is_err());
    }
}
