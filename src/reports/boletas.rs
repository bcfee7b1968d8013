//! The tax documents of a jornada, by type and status: how many and for
//! how much, so the venue squares them with its provider's and the SII's
//! records. A document belongs to the jornada of its sale's session.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, SmallInt, Text};

use crate::boleta::document::{DocumentStatus, DteKind};

/// The documents of one type in one status.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct DocumentCount {
    #[diesel(sql_type = SmallInt)]
    pub kind: i16,
    #[diesel(sql_type = Text)]
    pub status: DocumentStatus,
    #[diesel(sql_type = BigInt)]
    pub documents: i64,
    #[diesel(sql_type = BigInt)]
    pub total: i64,
}

impl DocumentCount {
    pub fn kind_label(&self) -> &'static str {
        DteKind::label_of(self.kind)
    }

    pub fn status_label(&self) -> &'static str {
        self.status.label()
    }
}

/// The jornada's documents by type (boletas first) and status.
pub fn of_jornada(conn: &mut PgConnection, jornada: i32) -> QueryResult<Vec<DocumentCount>> {
    diesel::sql_query(
        "SELECT d.kind, d.status, count(*) AS documents, sum(d.total)::bigint AS total
           FROM tax_documents d
           JOIN sales s ON s.id = d.sale_id
           JOIN register_sessions rs ON rs.id = s.session_id
          WHERE rs.jornada_id = $1
          GROUP BY d.kind, d.status
          ORDER BY d.kind, array_position(ARRAY['ACEPTADA', 'ENVIADA', 'PENDIENTE', 'RECHAZADA'], d.status)",
    )
    .bind::<Integer, _>(jornada)
    .load(conn)
}
