//! `jsonb_column!`: a serde type stored as a JSONB column (derive
//! `diesel::AsExpression` and `diesel::FromSqlRow` with
//! `#[diesel(sql_type = diesel::sql_types::Jsonb)]` on it, then
//! `jsonb_column!(Type);`).

/// JSON already serialized, bound to a JSONB parameter as it is: an
/// event's payload is serialized once, from the change itself.
#[derive(Debug, Clone, diesel::AsExpression)]
#[diesel(sql_type = diesel::sql_types::Jsonb)]
pub struct JsonText(pub String);

impl diesel::serialize::ToSql<diesel::sql_types::Jsonb, diesel::pg::Pg> for JsonText {
    fn to_sql<'b>(
        &'b self,
        out: &mut diesel::serialize::Output<'b, '_, diesel::pg::Pg>,
    ) -> diesel::serialize::Result {
        use std::io::Write;
        // PostgreSQL's binary JSONB format: a version byte, then the JSON text.
        out.write_all(&[1])?;
        out.write_all(self.0.as_bytes())?;
        Ok(diesel::serialize::IsNull::No)
    }
}

#[macro_export]
macro_rules! jsonb_column {
    ($name:ty) => {
        impl diesel::serialize::ToSql<diesel::sql_types::Jsonb, diesel::pg::Pg> for $name {
            fn to_sql<'b>(
                &'b self,
                out: &mut diesel::serialize::Output<'b, '_, diesel::pg::Pg>,
            ) -> diesel::serialize::Result {
                use std::io::Write;
                // PostgreSQL's binary JSONB format: a version byte, then the JSON text.
                out.write_all(&[1])?;
                serde_json::to_writer(out, self)?;
                Ok(diesel::serialize::IsNull::No)
            }
        }

        impl diesel::deserialize::FromSql<diesel::sql_types::Jsonb, diesel::pg::Pg> for $name {
            fn from_sql(value: diesel::pg::PgValue<'_>) -> diesel::deserialize::Result<Self> {
                match value.as_bytes().split_first() {
                    Some((1, json)) => Ok(serde_json::from_slice(json)?),
                    _ => Err("unsupported JSONB encoding".into()),
                }
            }
        }
    };
}
