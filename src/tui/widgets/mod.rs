//! Widgets shared by several screens.

pub mod chrome;
pub mod fmt;
