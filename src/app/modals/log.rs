//! The log pane (`L`): errors, warnings and the outcome of every delete.

use super::pager::{Action, SCROLL};
use crate::app::keys::{Binding, HelpSection, Key};
use crossterm::event::KeyCode;

use Key::{Char, Code};

pub const BINDINGS: &[Binding<Action>] = &[
    Binding::new(
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
    ),
    SCROLL[0],
    SCROLL[1],
    SCROLL[2],
    SCROLL[3],
    SCROLL[4],
    SCROLL[5],
    SCROLL[6],
];

pub fn help() -> HelpSection {
    HelpSection::of("In the log pane (L)", BINDINGS, &[])
}
