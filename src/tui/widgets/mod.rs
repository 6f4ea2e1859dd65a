//! Widgets shared by several screens.

pub mod chrome;
pub mod key_hints;
pub mod time_chart;
pub mod units;
