//! The log pane (`L`): errors, warnings and the outcome of every delete.

use super::pager::{with_scroll, Action};
use crate::app::keys::{Binding, HelpSection, Key};
use crossterm::event::KeyCode;

use Key::{Char, Code};

pub const BINDINGS: &[Binding<Action>] = &with_scroll(Binding::new(
    &[
        Code(KeyCode::Esc),
        Char('q'),
        Char('?'),
        Code(KeyCode::Enter),
        Char('L'),
    ],
    "Esc / q / L",
    Action::Close,
    "close the log (Enter, ? too)",
));

pub fn help() -> HelpSection {
    HelpSection::of("In the log pane (L)", BINDINGS, &[])
}
