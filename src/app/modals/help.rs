//! The help screen (`?`): every layer's keys, from their tables.

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
        ],
        "Esc / q / ?",
        Action::Close,
        "close help (Enter too)",
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
    HelpSection::of("In help", BINDINGS, &[])
}
