//! Pages fetched from the state store off the render path: the app spawns `run` and hands the
//! result to `apply`.

use super::state::AppState;
use crate::store::Store;

/// What a screen asks the app to fetch.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {}

/// A fetched page.
#[derive(Debug, Clone, PartialEq)]
pub enum Loaded {}

/// Fetch (bounded by the store's statement timeout).
pub async fn run(_store: Store, req: Request) -> Loaded {
    match req {}
}

/// Fold a fetched page into the state.
pub fn apply(_state: &mut AppState, loaded: Loaded) {
    match loaded {}
}

/// What the visible screen needs fetched now (called about once a second and on a screen
/// switch); empty when its pages are fresh.
pub fn due(_state: &AppState) -> Vec<Request> {
    Vec::new()
}
