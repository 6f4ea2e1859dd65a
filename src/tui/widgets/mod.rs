//! Widgets shared by several screens.
pub mod time_chart;
pub mod units;
