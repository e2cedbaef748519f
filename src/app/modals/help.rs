//! The help screen (`?`): every layer's keys, from their tables.

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
    ],
    "Esc / q / ?",
    Action::Close,
    "close help (Enter too)",
));

pub fn help() -> HelpSection {
    HelpSection::of("In help", BINDINGS, &[])
}
