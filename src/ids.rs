//! Ids that modules below their owner must name: the audit trail records
//! which user did what without depending on `auth`, which records its own
//! changes in the audit trail (docs/architecture.md, "Layers").

crate::id_newtype!(
    /// A user's id, as stored in `users.id`.
    UserId
);
