//! What the database says of failover: which hub holds the lease and
//! since when, and whether a commit waits for a standby PostgreSQL (its
//! replicas, how they replicate, how far behind the furthest is). Read by
//! the active's lease thread at each renewal (for `/metrics`) and by
//! `cajahub check`.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Double, Nullable, Text, Timestamptz};

#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct Status {
    /// The active hub, if one ever took the lease.
    #[diesel(sql_type = Nullable<Text>)]
    pub holder: Option<String>,
    #[diesel(sql_type = BigInt)]
    pub epoch: i64,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub holder_since: Option<DateTime<Utc>>,
    /// How long since the active renewed, in seconds.
    #[diesel(sql_type = Nullable<Double>)]
    pub renewed_ago: Option<f64>,
    /// `synchronous_commit` as the server has it.
    #[diesel(sql_type = Text)]
    pub synchronous_commit: String,
    #[diesel(sql_type = Text)]
    pub synchronous_standby_names: String,
    /// Standbys streaming from this server, and those a commit waits for.
    #[diesel(sql_type = BigInt)]
    pub replicas: i64,
    #[diesel(sql_type = BigInt)]
    pub synchronous_replicas: i64,
    /// The furthest replica's replay lag, in seconds (0 when none lags).
    #[diesel(sql_type = Double)]
    pub replication_lag: f64,
    /// This server is a standby itself (then nothing here writes).
    #[diesel(sql_type = Bool)]
    pub in_recovery: bool,
}

impl Status {
    /// The figures `/metrics` shows.
    pub fn gauges(&self) -> crate::metrics::FailoverGauges {
        crate::metrics::FailoverGauges {
            epoch: self.epoch,
            active_since: self.holder_since.map_or(0, |at| at.timestamp()),
            replicas: self.replicas,
            synchronous_replicas: self.synchronous_replicas,
            synchronous: self.commits_are_synchronous(),
            replication_lag: self.replication_lag,
        }
    }

    /// Whether an acknowledged commit is on a second server: commits wait
    /// for a standby and one is streaming as synchronous.
    pub fn commits_are_synchronous(&self) -> bool {
        let waits = matches!(
            self.synchronous_commit.as_str(),
            "on" | "remote_write" | "remote_apply"
        );
        waits && !self.synchronous_standby_names.trim().is_empty() && self.synchronous_replicas > 0
    }
}

/// One statement; `pg_stat_replication` shows its rows to a member of
/// `pg_monitor` or a superuser (else no replica is seen).
pub fn read(conn: &mut PgConnection) -> QueryResult<Status> {
    diesel::sql_query(
        "SELECT l.holder, l.epoch, l.holder_since,
                extract(epoch FROM now() - l.renewed_at)::float8 AS renewed_ago,
                current_setting('synchronous_commit') AS synchronous_commit,
                current_setting('synchronous_standby_names') AS synchronous_standby_names,
                (SELECT count(*) FROM pg_stat_replication) AS replicas,
                (SELECT count(*) FROM pg_stat_replication
                  WHERE sync_state IN ('sync', 'quorum')) AS synchronous_replicas,
                COALESCE((SELECT extract(epoch FROM max(replay_lag))::float8
                            FROM pg_stat_replication), 0) AS replication_lag,
                pg_is_in_recovery() AS in_recovery
           FROM hub_lease l WHERE l.id = 1",
    )
    .get_result(conn)
}
