//! The active hub's fence (docs/architecture.md rule 23): each connection a
//! hub opens names the hub (`application_name`) and checks that the lease
//! is still at the epoch the hub took it at. A standby that takes over
//! moves the epoch on, then ends every connection named after the hub it
//! took over from; so once a takeover is done, the hub taken over from
//! holds no connection and cannot open one: whatever it tries to write is
//! refused before it reaches a row.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::sql_types::BigInt;

/// A hub's name on its connections, and the epoch of its lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fence {
    /// `cajahub/<pid>-<random>`: letters, digits, `/` and `-` only.
    pub instance: &'static str,
    pub epoch: i64,
}

#[derive(QueryableByName)]
struct Current {
    #[diesel(sql_type = BigInt)]
    epoch: i64,
}

impl Fence {
    /// Names `conn` after the hub, then refuses it unless the lease is
    /// still this hub's (named first: a takeover that moves the epoch
    /// after this check finds the connection by its name and ends it).
    pub fn check(&self, conn: &mut PgConnection) -> QueryResult<()> {
        conn.batch_execute(&format!("SET application_name = '{}'", self.instance))?;
        let current: Current =
            diesel::sql_query("SELECT epoch FROM hub_lease WHERE id = 1").get_result(conn)?;
        if current.epoch == self.epoch {
            return Ok(());
        }
        Err(DieselError::DatabaseError(
            DatabaseErrorKind::Unknown,
            Box::new(format!(
                "this hub's lease (epoch {}) was taken over (epoch {}): it no longer writes",
                self.epoch, current.epoch
            )),
        ))
    }
}
