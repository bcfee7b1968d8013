//! The catalog as a spreadsheet: exported and imported with the reports'
//! conventions (`;`, UTF-8 with a BOM), one product a row. An import
//! checks every row first and names each bad one; then it is written whole
//! in one transaction, or not at all. A file without the last column
//! (`exento`, as exported before products could be exempt) still reads:
//! its products keep their exemption, and new ones are not exempt.

use std::collections::HashMap;

use super::Catalog;
use super::domain::{Offered, Product};
use super::form::{ProductDraft, ProductForm};
use crate::cajas::CajaId;
use crate::csv::{self, Csv};

/// The columns, in order.
pub const COLUMNS: [&str; 8] = [
    "categoria",
    "nombre",
    "nombre_tecla",
    "precio",
    "color",
    "orden",
    "cajas",
    "exento",
];

/// The columns a file may stop at (before `exento`).
const REQUIRED: usize = 7;

/// What the `cajas` column says when a product is sold on every caja.
const EVERY_CAJA: &str = "todas";

/// The products on sale, by category, as a spreadsheet; `codes` names the
/// cajas (`cajas`: `todas`, or their codes separated by commas).
pub fn export(catalog: &Catalog, codes: &HashMap<CajaId, String>) -> String {
    let mut out = Csv::new(&COLUMNS);
    for product in catalog.products().iter().filter(|p| !p.archived) {
        let category = catalog
            .category(product.category_id)
            .map_or("", |c| c.name.as_str());
        out.row([
            category.to_owned(),
            product.name.clone(),
            product.short_name.clone(),
            product.price.get().to_string(),
            product.colour.as_str().to_owned(),
            product.sort_order.to_string(),
            cajas_of(product, codes),
            if product.exempt { "si" } else { "no" }.to_owned(),
        ]);
    }
    out.into_string()
}

fn cajas_of(product: &Product, codes: &HashMap<CajaId, String>) -> String {
    match &product.offered {
        Offered::Everywhere => EVERY_CAJA.to_owned(),
        Offered::Only(ids) => ids
            .iter()
            .filter_map(|id| codes.get(id).cloned())
            .collect::<Vec<_>>()
            .join(","),
    }
}

/// Where a row's product is sold, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cajas {
    Every,
    /// The cajas' codes, upper case.
    Codes(Vec<String>),
}

/// One row, checked: its product's fields (its category and cajas named,
/// to be found or made when it is written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// Its line in the file, as a spreadsheet numbers it.
    pub line: usize,
    pub category: String,
    pub draft: ProductDraft,
    pub cajas: Cajas,
    /// The file says whether it is exempt (else the product keeps its own).
    pub states_exempt: bool,
}

/// Reads a whole file: every row checked, every bad one named (`fila 4:
/// precio: …`), or the rows to write.
pub fn parse(text: &str) -> Result<Vec<Row>, Vec<String>> {
    let rows = csv::read(text).map_err(|err| vec![err.to_string()])?;
    let Some(((_, header), body)) = rows.split_first() else {
        return Err(vec![
            "el archivo está vacío: la primera fila nombra las columnas".into(),
        ]);
    };
    let header: Vec<String> = header.iter().map(|h| h.trim().to_lowercase()).collect();
    if header != COLUMNS && header != COLUMNS[..REQUIRED] {
        return Err(vec![format!(
            "fila 1: las columnas deben ser {} (en ese orden; «exento» puede faltar); el archivo trae {}",
            COLUMNS.join(";"),
            header.join(";")
        )]);
    }
    if body.is_empty() {
        return Err(vec!["el archivo no trae productos".into()]);
    }
    let mut errors = Vec::new();
    let mut parsed = Vec::with_capacity(body.len());
    let mut seen: HashMap<(String, String), usize> = HashMap::new();
    for (line, fields) in body {
        match row(*line, fields, header.len()) {
            Ok(row) => {
                let key = (row.category.to_lowercase(), row.draft.name.to_lowercase());
                if let Some(first) = seen.insert(key, row.line) {
                    errors.push(format!(
                        "fila {}: «{}» ya viene en la fila {first} con la misma categoría",
                        row.line, row.draft.name
                    ));
                }
                parsed.push(row);
            }
            Err(mut found) => errors.append(&mut found),
        }
    }
    if errors.is_empty() {
        Ok(parsed)
    } else {
        Err(errors)
    }
}

/// The column a form field is read from.
fn column(field: &str) -> &str {
    match field {
        "name" => "nombre",
        "short_name" => "nombre_tecla",
        "price" => "precio",
        "colour" => "color",
        "sort_order" => "orden",
        "exempt" => "exento",
        other => other,
    }
}

fn row(line: usize, fields: &[String], columns: usize) -> Result<Row, Vec<String>> {
    if fields.len() != columns {
        return Err(vec![format!(
            "fila {line}: trae {} columnas y deben ser {columns}",
            fields.len(),
        )]);
    }
    let mut errors = Vec::new();
    let category = match crate::text::line(&fields[0], super::domain::MAX_CATEGORY_NAME) {
        Ok(category) => Some(category),
        Err(err) => {
            errors.push(format!("fila {line}: categoria: {err}"));
            None
        }
    };
    // The form's rules, field by field; the category and cajas are found
    // when the row is written.
    let form = ProductForm {
        category_id: "1".into(),
        name: fields[1].clone(),
        short_name: fields[2].clone(),
        price: fields[3].clone(),
        colour: fields[4].clone(),
        sort_order: fields[5].clone(),
        exempt: fields.get(REQUIRED).cloned().unwrap_or_default(),
        ..ProductForm::default()
    };
    let draft = match form.parse() {
        Ok(draft) => Some(draft),
        Err(found) => {
            errors.extend(
                found
                    .iter()
                    .map(|(field, message)| format!("fila {line}: {}: {message}", column(field))),
            );
            None
        }
    };
    let cajas = match fields[6].trim() {
        "" => {
            errors.push(format!(
                "fila {line}: cajas: escribe «{EVERY_CAJA}» o los códigos de las cajas separados por comas"
            ));
            None
        }
        all if all.eq_ignore_ascii_case(EVERY_CAJA) => Some(Cajas::Every),
        codes => Some(Cajas::Codes(
            codes
                .split(',')
                .map(|code| code.trim().to_uppercase())
                .filter(|code| !code.is_empty())
                .collect(),
        )),
    };
    match (category, draft, cajas) {
        (Some(category), Some(draft), Some(cajas)) if errors.is_empty() => Ok(Row {
            line,
            category,
            draft,
            cajas,
            states_exempt: columns > REQUIRED,
        }),
        _ => Err(errors),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "categoria;nombre;nombre_tecla;precio;color;orden;cajas\r\n";

    #[test]
    fn every_bad_row_is_named() {
        let text = format!(
            "\u{FEFF}{HEADER}Tragos;Piscola;;4500;#1e88e5;1;todas\r\n\
             Tragos;Mojito;;1.5;;;todas\r\n\
             ;Cerveza;;3000;;;todas\r\n\
             Tragos;PISCOLA;;5000;;;todas\r\n\
             Tragos;Gin;;6000;rojo;;\r\n\
             Tragos;Ron\r\n"
        );
        let errors = parse(&text).unwrap_err();
        let joined = errors.join("\n");
        assert!(joined.contains("fila 3: precio"), "{joined}");
        assert!(joined.contains("fila 4: categoria"), "{joined}");
        assert!(
            joined.contains("fila 5: «PISCOLA» ya viene en la fila 2"),
            "{joined}"
        );
        assert!(joined.contains("fila 6: color"), "{joined}");
        assert!(joined.contains("fila 6: cajas"), "{joined}");
        assert!(joined.contains("fila 7: trae 2 columnas"), "{joined}");
    }

    #[test]
    fn a_good_file_reads_with_its_cajas() {
        let text = format!("{HEADER}Tragos;Piscola;Pisco;$4.500;;;barra-1, terraza-1\r\n");
        let rows = parse(&text).unwrap();
        assert_eq!(rows[0].line, 2);
        assert_eq!(rows[0].draft.price.get(), 4_500);
        assert_eq!(rows[0].draft.short_name, "Pisco");
        assert_eq!(
            rows[0].cajas,
            Cajas::Codes(vec!["BARRA-1".into(), "TERRAZA-1".into()])
        );
        assert!(!rows[0].states_exempt, "the product keeps its own");
        assert!(parse("nombre;precio\r\nx;1\r\n").unwrap_err()[0].starts_with("fila 1"));
    }

    #[test]
    fn the_exento_column_marks_products_exempt_and_is_checked() {
        let header = format!("{};exento\r\n", HEADER.trim_end());
        let rows = parse(&format!(
            "{header}Entradas;Entrada show;;8000;;;todas;si\r\nTragos;Piscola;;4500;;;todas;no\r\n"
        ))
        .unwrap();
        assert!(rows[0].draft.exempt && rows[0].states_exempt);
        assert!(!rows[1].draft.exempt);
        let errors = parse(&format!(
            "{header}Entradas;Entrada;;8000;;;todas;quizas\r\n"
        ))
        .unwrap_err()
        .join("\n");
        assert!(errors.contains("fila 2: exento"), "{errors}");
    }
}
