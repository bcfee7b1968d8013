//! Text typed by a person (a reason, a note, a search): trimmed, bounded,
//! and free of control characters, which no form field needs and which
//! PostgreSQL refuses outright (a NUL byte) or a log or a header would
//! misread (a line break). Parse it here, at the edge, with a message that
//! names what is wrong.

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("no puede estar en blanco")]
    Empty,
    #[error("admite hasta {max} caracteres")]
    TooLong { max: usize },
    #[error("no puede tener caracteres de control (saltos de línea, tabulaciones, NUL)")]
    ControlCharacters,
}

/// One line of text, 1 to `max` characters.
pub fn line(value: &str, max: usize) -> Result<String, TextError> {
    let value = value.trim();
    if value.chars().any(char::is_control) {
        return Err(TextError::ControlCharacters);
    }
    bounded(value, max)
}

/// A note that may span lines (a textarea): line breaks are kept, other
/// control characters refused.
pub fn note(value: &str, max: usize) -> Result<String, TextError> {
    let value = value.trim();
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r')
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
}
