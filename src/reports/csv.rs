//! CSV as a Spanish-locale spreadsheet opens it: UTF-8 with a BOM, `;`
//! between fields, CRLF between rows, amounts as plain integers.

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

#[cfg(test)]
mod tests {
    use super::*;

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
