//! Integration tests: the real application against a real PostgreSQL, each
//! test on a database of its own.

mod audit;
mod auth;
mod backup;
mod boleta;
mod browser;
mod cajas;
mod card_model;
mod catalog;
mod charges;
mod cli;
mod cutover;
mod deploy;
mod embedded;
mod failover;
mod fanout;
mod fit;
mod forms;
mod health;
mod helpers;
mod link;
mod live_pages;
mod metrics;
mod migrations;
mod offline;
mod payments;
mod proxy;
mod registers;
mod replication;
mod reports;
pub(crate) mod restart;
mod screens;
mod security;
mod shutdown;
mod tips;
mod write_path;
