//! migtui: a terminal cockpit for live data migrations.
//!
//! `config` reads the migration file, `db` talks to the engines, `store` keeps the state in a
//! database, `engine` drives the migration through a `Session`, and the CLI is one consumer of
//! that session (the cockpit and the tests are others).

pub mod cli;
pub mod config;
pub mod db;
pub mod demo;
pub mod engine;
pub mod report;
pub mod secret;
pub mod store;
pub mod tui;
