//! The open prompt: a confirmation or a typed answer (tui-input), drawn over the screen.

use super::action::Prompt;

#[derive(Debug, Clone)]
pub struct Open {
    pub prompt: Prompt,
    pub input: tui_input::Input,
    /// Why Enter was refused (empty reason, wrong name), shown under the input.
    pub error: Option<String>,
}
