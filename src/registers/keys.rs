//! Idempotency keys of the commands other than sales (sales keep theirs in
//! `sales`): a cash movement, a void, a session opened or closed from a
//! form. The first answer is kept beside the key in the change's own
//! transaction; a retry with the same key and the same request gets that
//! answer again and changes nothing, the same key with another request is
//! refused.

use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::CajaError;
use crate::cajas::CajaId;
use crate::db::schema::command_keys;

/// A command's key and the fingerprint of its request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandKey {
    pub key: Uuid,
    /// What the command does, so one key cannot serve two kinds of command.
    pub command: &'static str,
    pub fingerprint: String,
}

impl CommandKey {
    pub fn new(key: Uuid, command: &'static str, fingerprint: impl Into<String>) -> Self {
        Self {
            key,
            command,
            fingerprint: fingerprint.into(),
        }
    }

    /// The answer this key got the first time, if it was used already.
    pub fn replay<R: DeserializeOwned>(
        &self,
        conn: &mut PgConnection,
        register: CajaId,
    ) -> Result<Option<R>, CajaError> {
        let found: Option<(i32, String, String, serde_json::Value)> = command_keys::table
            .find(self.key)
            .select((
                command_keys::register_id,
                command_keys::command,
                command_keys::request_hash,
                command_keys::reply,
            ))
            .first(conn)
            .optional()?;
        match found {
            None => Ok(None),
            Some((owner, command, fingerprint, reply))
                if owner == register.0
                    && command == self.command
                    && fingerprint == self.fingerprint =>
            {
                serde_json::from_value(reply).map(Some).map_err(|err| {
                    CajaError::from(DieselError::DeserializationError(Box::new(err)))
                })
            }
            Some(_) => Err(CajaError::KeyReused),
        }
    }

    /// Keeps `reply` as this key's answer, in the command's transaction.
    pub fn remember<R: Serialize>(
        &self,
        conn: &mut PgConnection,
        register: CajaId,
        seq: i64,
        reply: &R,
    ) -> Result<(), CajaError> {
        let reply = serde_json::to_value(reply)
            .map_err(|err| CajaError::from(DieselError::SerializationError(Box::new(err))))?;
        diesel::insert_into(command_keys::table)
            .values((
                command_keys::idempotency_key.eq(self.key),
                command_keys::register_id.eq(register),
                command_keys::command.eq(self.command),
                command_keys::request_hash.eq(&self.fingerprint),
                command_keys::reply.eq(reply),
                command_keys::seq.eq(seq),
            ))
            .execute(conn)
            .map_err(|err| match err {
                // Taken meanwhile by another caja's command.
                DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
                    CajaError::KeyReused
                }
                other => other.into(),
            })?;
        Ok(())
    }
}

/// Replays `key`'s answer if it has one.
pub fn replay<R: DeserializeOwned>(
    conn: &mut PgConnection,
    key: Option<&CommandKey>,
    register: CajaId,
) -> Result<Option<R>, CajaError> {
    match key {
        Some(key) => key.replay(conn, register),
        None => Ok(None),
    }
}

/// Keeps `reply` for `key`, if the command has one.
pub fn remember<R: Serialize>(
    conn: &mut PgConnection,
    key: Option<&CommandKey>,
    register: CajaId,
    seq: i64,
    reply: &R,
) -> Result<(), CajaError> {
    match key {
        Some(key) => key.remember(conn, register, seq, reply),
        None => Ok(()),
    }
}
