//! The cockpit (ratatui): one consumer of the session, like the CLI and the tests.
//!
//! `app` runs the loop: terminal input, session events and snapshots come in; `Command`s go
//! out. `state` holds everything a view draws; `screens/` are pure views of it (no database,
//! channel or clock inside a draw); `keymap` maps keys to `Action`s as data; `theme` maps
//! semantic tokens to styles; `load` fetches pages from the state store off the render path.

pub mod action;
pub mod app;
pub mod dispatch;
#[doc(hidden)]
pub mod fixture;
pub mod keymap;
pub mod load;
pub mod prompt;
pub mod screens;
pub mod state;
pub mod theme;
pub mod widgets;

pub use action::{Action, Effect, Prompt, Then};
pub use app::{Options, run};
pub use state::AppState;
pub use theme::Theme;
