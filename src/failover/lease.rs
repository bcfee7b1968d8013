//! The lease: who holds the failover advisory lock, on a connection of its
//! own, and the `hub_lease` row that names it, its epoch and when it last
//! renewed. One thread per hub: it waits for the lock as a standby, takes
//! over, then renews for the life of the process, or steps down.

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Double, Nullable, Text};
use tokio::sync::oneshot;

use crate::db::fence::Fence;

/// The advisory lock's key ("cajahubA").
const LOCK_KEY: i64 = 0x6361_6a61_6875_6241;
/// How long a takeover waits for each connection it ends to be gone.
const END_WAIT_MS: i64 = 5_000;
/// The exit code of a hub that stepped down (its service manager starts it
/// again, as a standby).
pub const STEPPED_DOWN: i32 = 75;

/// This process's name on its connections: unique to this start.
pub fn instance_name() -> &'static str {
    let random = uuid::Uuid::new_v4().simple().to_string();
    let name = format!("cajahub/{}-{}", std::process::id(), &random[..8]);
    Box::leak(name.into_boxed_str())
}

#[derive(QueryableByName)]
struct Locked {
    #[diesel(sql_type = Bool)]
    locked: bool,
}

#[derive(QueryableByName)]
struct Holder {
    #[diesel(sql_type = Nullable<Text>)]
    holder: Option<String>,
    #[diesel(sql_type = Bool)]
    expired: bool,
}

#[derive(QueryableByName)]
struct Epoch {
    #[diesel(sql_type = BigInt)]
    epoch: i64,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Waits for the lease, takes it over, tells `acquired` its fence, then
/// renews it every third of `lease` until it is lost: then the process
/// exits (rule 23: a hub that lost its lease writes nothing more).
pub fn hold(url: &str, instance: &'static str, lease: Duration, acquired: oneshot::Sender<Fence>) {
    let tick = lease / 3;
    let mut announced = false;
    let mut slot = None;
    let (mut conn, fence) = loop {
        match wait_once(&mut slot, url, instance, lease) {
            Ok(Some(won)) => break won,
            Ok(None) => {
                if !announced {
                    tracing::info!(instance, "another hub is active: waiting as its standby");
                    announced = true;
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, "the failover lease could not be checked; trying again")
            }
        }
        std::thread::sleep(tick);
    };
    if acquired.send(fence).is_err() {
        return;
    }
    loop {
        std::thread::sleep(tick);
        let renewed = diesel::sql_query(
            "UPDATE hub_lease SET renewed_at = now() WHERE id = 1 AND epoch = $1 AND holder = $2",
        )
        .bind::<BigInt, _>(fence.epoch)
        .bind::<Text, _>(instance)
        .execute(&mut conn);
        let why = match renewed {
            Ok(1) => {
                // What /metrics shows of the lease and of replication.
                match super::status::read(&mut conn) {
                    Ok(status) => crate::metrics::metrics().failover(status.gauges()),
                    Err(err) => tracing::debug!(error = %err, "failover status not read"),
                }
                continue;
            }
            Ok(_) => "another hub took the lease over".to_owned(),
            Err(err) => {
                format!("the lease's connection failed ({err}), so its lock may be another hub's")
            }
        };
        tracing::error!(
            instance,
            epoch = fence.epoch,
            why,
            "this hub is no longer the active one: stepping down"
        );
        std::process::exit(STEPPED_DOWN);
    }
}

/// One try on `slot`, the connection kept for it (opened when there is
/// none, dropped when it fails): the lock and the lease's fence, or
/// nothing while another hub holds it.
fn wait_once(
    slot: &mut Option<PgConnection>,
    url: &str,
    instance: &'static str,
    lease: Duration,
) -> Result<Option<(PgConnection, Fence)>, String> {
    let conn = match slot {
        Some(conn) => conn,
        None => {
            // The pools' TCP limits, and a bound on every statement (the
            // longest waits for the connections a takeover ends): a
            // database gone silent ends the connection, and with it the
            // lease, rather than holding the renewal.
            let mut conn = PgConnection::establish(&crate::db::with_tcp_limits(url))
                .map_err(|err| err.to_string())?;
            conn.batch_execute(&format!(
                "SET application_name = '{instance}'; SET statement_timeout = {};",
                2 * END_WAIT_MS
            ))
            .map_err(|err| err.to_string())?;
            slot.insert(conn)
        }
    };
    let won = try_once(conn, instance, lease).and_then(|locked| match locked {
        true => take_over(conn, instance).map(Some),
        false => Ok(None),
    });
    match won {
        Ok(Some(epoch)) => Ok(slot.take().map(|conn| (conn, Fence { instance, epoch }))),
        Ok(None) => Ok(None),
        Err(err) => {
            *slot = None;
            Err(err.to_string())
        }
    }
}

/// Whether this hub got the lock; when not, and the holder has stopped
/// renewing, ends its connections (its lock goes with them).
fn try_once(conn: &mut PgConnection, instance: &str, lease: Duration) -> QueryResult<bool> {
    let locked: Locked = diesel::sql_query("SELECT pg_try_advisory_lock($1) AS locked")
        .bind::<BigInt, _>(LOCK_KEY)
        .get_result(conn)?;
    if locked.locked {
        return Ok(true);
    }
    let current: Holder = diesel::sql_query(
        "SELECT holder, COALESCE(renewed_at < now() - make_interval(secs => $1), true) AS expired
           FROM hub_lease WHERE id = 1",
    )
    .bind::<Double, _>(lease.as_secs_f64())
    .get_result(conn)?;
    if let (true, Some(holder)) = (current.expired, current.holder)
        && holder != instance
    {
        tracing::warn!(active = %holder, lease = ?lease, "the active hub stopped renewing its lease: ending its connections to take over");
        end_connections(conn, &holder)?;
    }
    Ok(false)
}

/// With the lock held: moves the epoch on, names this hub, and ends every
/// connection of the hub it took over from; the new epoch.
fn take_over(conn: &mut PgConnection, instance: &'static str) -> QueryResult<i64> {
    let (was, epoch) = conn.transaction(|conn| {
        let was: Holder = diesel::sql_query(
            "SELECT holder, false AS expired FROM hub_lease WHERE id = 1 FOR UPDATE",
        )
        .get_result(conn)?;
        let epoch: Epoch = diesel::sql_query(
            "UPDATE hub_lease SET epoch = epoch + 1, holder = $1, holder_since = now(),
                                  renewed_at = now()
              WHERE id = 1 RETURNING epoch",
        )
        .bind::<Text, _>(instance)
        .get_result(conn)?;
        Ok::<_, diesel::result::Error>((was.holder, epoch.epoch))
    })?;
    if let Some(was) = was.filter(|was| was != instance) {
        let ended = end_connections(conn, &was)?;
        tracing::warn!(from = %was, ended, epoch, "took the active role over");
    } else {
        tracing::info!(epoch, "active: this hub holds the failover lease");
    }
    Ok(epoch)
}

/// Ends every connection named `holder`, waiting for each to be gone; how
/// many there were.
fn end_connections(conn: &mut PgConnection, holder: &str) -> QueryResult<i64> {
    let ended: Count = diesel::sql_query(
        "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, $2)) AS n
           FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()",
    )
    .bind::<Text, _>(holder)
    .bind::<BigInt, _>(END_WAIT_MS)
    .get_result(conn)?;
    Ok(ended.n)
}
