//! What the read-only panes (help, log) do with their keys: close, scroll, quit. Each pane
//! has its own table of these actions.

use super::Step;
use crate::app::effect::Effect;
use crate::app::keys::{lookup, Binding, Key};
use crate::app::modals::question::request_quit;
use crate::app::state::Model;
use crossterm::event::{KeyCode, KeyEvent};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Close,
    Down,
    Up,
    PageDown,
    PageUp,
    Top,
    Bottom,
    Quit,
}

use Key::{Char, Code, Ctrl};

/// The bindings the panes share (each table lists them after its own).
pub const SCROLL: [Binding<Action>; 7] = [
    Binding::new(
        &[Char('j'), Code(KeyCode::Down)],
        "j / Down",
        Action::Down,
        "scroll down",
    ),
    Binding::new(
        &[Char('k'), Code(KeyCode::Up)],
        "k / Up",
        Action::Up,
        "scroll up",
    ),
    Binding::new(
        &[Code(KeyCode::PageDown)],
        "PgDn",
        Action::PageDown,
        "page down",
    ),
    Binding::new(&[Code(KeyCode::PageUp)], "PgUp", Action::PageUp, "page up"),
    Binding::new(
        &[Char('g'), Code(KeyCode::Home)],
        "g / Home",
        Action::Top,
        "top",
    ),
    Binding::new(
        &[Char('G'), Code(KeyCode::End)],
        "G / End",
        Action::Bottom,
        "bottom",
    ),
    Binding::new(
        &[Ctrl('c')],
        "Ctrl-C",
        Action::Quit,
        "quit (asks while a job runs)",
    ),
];

/// A pane's table: its close binding, then the shared scrolling keys.
pub const fn with_scroll(close: Binding<Action>) -> [Binding<Action>; 8] {
    [
        close, SCROLL[0], SCROLL[1], SCROLL[2], SCROLL[3], SCROLL[4], SCROLL[5], SCROLL[6],
    ]
}

/// A key for a pane on top whose keys are `table`.
pub fn on_key(
    m: &mut Model,
    table: &'static [Binding<Action>],
    scroll: &mut usize,
    key: &KeyEvent,
) -> (Step, Vec<Effect>) {
    let Some(action) = lookup(table, key).map(|b| b.action) else {
        return (Step::Keep, Vec::new());
    };
    *scroll = match action {
        Action::Close => return (Step::Close, Vec::new()),
        Action::Quit => return (Step::Keep, request_quit(m)),
        Action::Down => scroll.saturating_add(1),
        Action::Up => scroll.saturating_sub(1),
        Action::PageDown => scroll.saturating_add(10),
        Action::PageUp => scroll.saturating_sub(10),
        Action::Top => 0,
        Action::Bottom => usize::MAX / 2,
    };
    (Step::Keep, Vec::new())
}
