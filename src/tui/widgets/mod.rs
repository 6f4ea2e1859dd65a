//! Widgets shared by several screens.
pub mod key_hints;
pub mod time_chart;
pub mod units;
