//! CSV as a Spanish-locale spreadsheet opens and saves it: UTF-8 with a
//! BOM, `;` between fields, CRLF between rows, amounts as plain integers.
//! Written for the reports and the catalog's export, read for its import.

/// A CSV document, row by row.
pub struct Csv(String);

impl Csv {
    pub fn new(header: &[&str]) -> Self {
        let mut csv = Csv(String::from("\u{FEFF}"));
        csv.row(header.iter().map(|h| h.to_string()));
        csv
    }

    pub fn row(&mut self, fields: impl IntoIterator<Item = String>) {
        let fields: Vec<String> = fields.into_iter().map(|f| field(&f)).collect();
        self.0.push_str(&fields.join(";"));
        self.0.push_str("\r\n");
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// One field: quoted when it holds a separator, a quote or a line break;
/// text a spreadsheet would run as a formula (`=`, `+`, `-`, `@` first)
/// is kept as text. Numbers (a leading minus included) pass as they are.
fn field(value: &str) -> String {
    let number = value.parse::<i64>().is_ok();
    let value = if !number && value.starts_with(['=', '+', '-', '@']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if value.contains([';', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

/// Why a CSV document does not read: the row (1 is the header) and what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("fila {row}: {message}")]
pub struct Unreadable {
    pub row: usize,
    pub message: String,
}

/// The rows of a document (its header first), each a list of fields: a
/// BOM is skipped, a quoted field may hold `;`, `""` and line breaks, and
/// a field a spreadsheet was kept from running as a formula (`'=…`) reads
/// back as written. Blank lines are skipped. Each row comes with its line
/// number, as a spreadsheet numbers it.
pub fn read(text: &str) -> Result<Vec<(usize, Vec<String>)>, Unreadable> {
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    let mut rows = Vec::new();
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut was_quoted = false;
    let (mut line, mut row_line) = (1, 1);
    let mut chars = text.chars().peekable();
    let end_field = |field: &mut String, was_quoted: &mut bool, fields: &mut Vec<String>| {
        let value = std::mem::take(field);
        // What `field` wrote as text so that it is not run as a formula.
        let value = match value.strip_prefix('\'') {
            Some(rest) if rest.starts_with(['=', '+', '-', '@']) => rest.to_owned(),
            _ => value,
        };
        fields.push(value);
        *was_quoted = false;
    };
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                '\n' => {
                    line += 1;
                    field.push(c);
                }
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.is_empty() && !was_quoted => {
                quoted = true;
                was_quoted = true;
            }
            '"' => {
                return Err(Unreadable {
                    row: line,
                    message: "una comilla en medio de un campo: encierra el campo entre comillas"
                        .into(),
                });
            }
            ';' => end_field(&mut field, &mut was_quoted, &mut fields),
            '\r' if chars.peek() == Some(&'\n') => {}
            '\r' | '\n' => {
                end_field(&mut field, &mut was_quoted, &mut fields);
                let row = std::mem::take(&mut fields);
                if !(row.len() == 1 && row[0].trim().is_empty()) {
                    rows.push((row_line, row));
                }
                line += 1;
                row_line = line;
            }
            _ => field.push(c),
        }
    }
    if quoted {
        return Err(Unreadable {
            row: row_line,
            message: "una comilla que no se cierra".into(),
        });
    }
    if !field.is_empty() || !fields.is_empty() {
        end_field(&mut field, &mut was_quoted, &mut fields);
        if !(fields.len() == 1 && fields[0].trim().is_empty()) {
            rows.push((row_line, fields));
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_written_reads_back() {
        let mut csv = Csv::new(&["nombre", "precio"]);
        csv.row(["Barra; \"VIP\"".to_owned(), "-1500".to_owned()]);
        csv.row(["=HYPERLINK(1)".to_owned(), "0".to_owned()]);
        csv.row(["dos\nlíneas".to_owned(), "3".to_owned()]);
        let rows = read(&csv.into_string()).unwrap();
        let fields: Vec<Vec<String>> = rows.iter().map(|(_, f)| f.clone()).collect();
        assert_eq!(
            fields,
            [
                vec!["nombre", "precio"],
                vec!["Barra; \"VIP\"", "-1500"],
                vec!["=HYPERLINK(1)", "0"],
                vec!["dos\nlíneas", "3"],
            ]
        );
        let lines: Vec<usize> = rows.iter().map(|(line, _)| *line).collect();
        assert_eq!(lines, [1, 2, 3, 4]);
    }

    #[test]
    fn a_spreadsheets_own_file_reads() {
        let rows = read("categoria;nombre\n\nTragos;Piscola\nTragos;it's\n").unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(
            rows[1],
            (3, vec!["Tragos".to_owned(), "Piscola".to_owned()])
        );
        assert_eq!(rows[2].1[1], "it's");
        assert_eq!(read("a;b\nx\"y;z").unwrap_err().row, 2);
        assert_eq!(read("a;\"b\nc").unwrap_err().row, 1);
    }

    #[test]
    fn fields_are_quoted_and_formulas_kept_as_text() {
        let mut csv = Csv::new(&["caja", "total"]);
        csv.row(["Barra; \"VIP\"".to_owned(), "-1500".to_owned()]);
        csv.row(["=HYPERLINK(1)".to_owned(), "0".to_owned()]);
        assert_eq!(
            csv.into_string(),
            "\u{FEFF}caja;total\r\n\"Barra; \"\"VIP\"\"\";-1500\r\n'=HYPERLINK(1);0\r\n"
        );
    }
}
