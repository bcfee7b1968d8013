//! Text typed by a person (a reason, a note, a search): trimmed, bounded,
//! and free of control characters, which no form field needs and which
//! PostgreSQL refuses outright (a NUL byte) or a log or a header would
//! misread (a line break), and of invisible format characters, which let a
//! name pass for another on a screen or in a log (U+202E turns the rest of
//! a line around). Parse it here, at the edge, with a message that names
//! what is wrong.

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("no puede estar en blanco")]
    Empty,
    #[error("admite hasta {max} caracteres")]
    TooLong { max: usize },
    #[error(
        "no puede tener caracteres de control ni invisibles (saltos de línea, tabulaciones, NUL, marcas de dirección)"
    )]
    ControlCharacters,
}

/// Unicode's format characters (general category Cf, Unicode 16): zero
/// width, direction marks and overrides, the BOM, tags. Sorted ranges.
const FORMAT: &[(char, char)] = &[
    ('\u{AD}', '\u{AD}'),
    ('\u{600}', '\u{605}'),
    ('\u{61C}', '\u{61C}'),
    ('\u{6DD}', '\u{6DD}'),
    ('\u{70F}', '\u{70F}'),
    ('\u{890}', '\u{891}'),
    ('\u{8E2}', '\u{8E2}'),
    ('\u{180E}', '\u{180E}'),
    ('\u{200B}', '\u{200F}'),
    ('\u{202A}', '\u{202E}'),
    ('\u{2060}', '\u{2064}'),
    ('\u{2066}', '\u{206F}'),
    ('\u{FEFF}', '\u{FEFF}'),
    ('\u{FFF9}', '\u{FFFB}'),
    ('\u{110BD}', '\u{110BD}'),
    ('\u{110CD}', '\u{110CD}'),
    ('\u{13430}', '\u{1343F}'),
    ('\u{1BCA0}', '\u{1BCA3}'),
    ('\u{1D173}', '\u{1D17A}'),
    ('\u{E0001}', '\u{E0001}'),
    ('\u{E0020}', '\u{E007F}'),
];

/// Whether `c` is a control character, a format character, or a line or
/// paragraph separator (U+2028, U+2029): nothing a name or a reason needs,
/// and everything a log line must not carry raw.
pub fn is_invisible(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}')
        || FORMAT
            .binary_search_by(|&(from, to)| {
                if to < c {
                    std::cmp::Ordering::Less
                } else if from > c {
                    std::cmp::Ordering::Greater
                } else {
                    std::cmp::Ordering::Equal
                }
            })
            .is_ok()
}

/// One line of text, 1 to `max` characters.
pub fn line(value: &str, max: usize) -> Result<String, TextError> {
    let value = value.trim();
    if value.chars().any(is_invisible) {
        return Err(TextError::ControlCharacters);
    }
    bounded(value, max)
}

/// A note that may span lines (a textarea): line breaks are kept, other
/// control and invisible characters refused.
pub fn note(value: &str, max: usize) -> Result<String, TextError> {
    let value = value.trim();
    if value
        .chars()
        .any(|c| is_invisible(c) && c != '\n' && c != '\r')
    {
        return Err(TextError::ControlCharacters);
    }
    bounded(value, max)
}

/// An optional filter: empty is none; otherwise a line.
pub fn filter(value: &str, max: usize) -> Result<Option<String>, TextError> {
    match line(value, max) {
        Ok(value) => Ok(Some(value)),
        Err(TextError::Empty) => Ok(None),
        Err(err) => Err(err),
    }
}

fn bounded(value: &str, max: usize) -> Result<String, TextError> {
    match value.chars().count() {
        0 => Err(TextError::Empty),
        n if n > max => Err(TextError::TooLong { max }),
        _ => Ok(value.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_refuse_control_characters_and_notes_keep_line_breaks() {
        assert_eq!(line("  a caja fuerte ", 20), Ok("a caja fuerte".into()));
        assert_eq!(line("a\u{0}b", 20), Err(TextError::ControlCharacters));
        assert_eq!(line("a\r\nX: 1", 20), Err(TextError::ControlCharacters));
        assert_eq!(line("a\tb", 20), Err(TextError::ControlCharacters));
        assert_eq!(line("   ", 20), Err(TextError::Empty));
        assert_eq!(line("ñandú", 4), Err(TextError::TooLong { max: 4 }));
        assert_eq!(note("uno\r\ndos", 20), Ok("uno\r\ndos".into()));
        assert_eq!(note("uno\u{0}", 20), Err(TextError::ControlCharacters));
        assert_eq!(filter("", 20), Ok(None));
        assert_eq!(filter("\u{7}", 20), Err(TextError::ControlCharacters));
    }

    #[test]
    fn invisible_characters_are_refused_in_lines_and_notes() {
        for spoof in [
            "\u{202E}",
            "\u{200B}",
            "\u{2028}",
            "\u{FEFF}",
            "\u{AD}",
            "\u{E0041}",
        ] {
            let text = format!("caja{spoof}gnp");
            assert_eq!(
                line(&text, 40),
                Err(TextError::ControlCharacters),
                "{spoof:?}"
            );
            assert_eq!(
                note(&text, 40),
                Err(TextError::ControlCharacters),
                "{spoof:?}"
            );
        }
        // Letters of every script, accents and emoji are not format characters.
        assert_eq!(
            line("Ñuñoa · Barra 2 🍹", 40),
            Ok("Ñuñoa · Barra 2 🍹".into())
        );
        assert_eq!(line("مقهى", 40), Ok("مقهى".into()));
        assert!(!is_invisible(' ') && !is_invisible('é') && !is_invisible('\u{2030}'));
        assert!(is_invisible('\u{85}') && is_invisible('\u{2029}') && is_invisible('\u{206F}'));
    }

    #[test]
    fn the_format_table_is_sorted_and_disjoint() {
        assert!(FORMAT.iter().all(|(from, to)| from <= to));
        assert!(FORMAT.windows(2).all(|pair| pair[0].1 < pair[1].0));
    }
}
