//! The commands a caja's actor runs, one family per file, each with its
//! validation and its `apply` (docs/architecture.md, "One sale, end to end").

pub mod card;
pub mod settle;
