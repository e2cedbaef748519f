//! `update` tests: keys and task results in, model and effects out.

mod all;
mod batch;
mod command;
mod confirm;
mod edit;
mod forms;
mod impact;
mod index;
mod layers;
mod overview;
mod table;
mod trash;
mod watch;

use super::effect::Effect;
use super::msg::Msg;
use super::state::*;
use super::update::update;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

pub(super) fn key(m: &mut Model, code: KeyCode) -> Vec<Effect> {
    update(m, Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

pub(super) fn ch(m: &mut Model, c: char) -> Vec<Effect> {
    key(m, KeyCode::Char(c))
}

pub(super) fn ctrl(m: &mut Model, c: char) -> Vec<Effect> {
    update(
        m,
        Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)),
    )
}

/// The effects of a `:` line run, without the one that adds it to the history file.
pub(super) fn run_line_effects(fx: Vec<Effect>) -> Vec<Effect> {
    fx.into_iter()
        .filter(|e| !matches!(e, Effect::RememberCommand(_)))
        .collect()
}

pub(super) fn typed(m: &mut Model, s: &str) {
    for c in s.chars() {
        ch(m, c);
    }
}

pub(super) fn visible_names(m: &Model) -> Vec<String> {
    let tab = m.tab().expect("tab");
    let v = tab.view().expect("view");
    v.rows
        .iter()
        .map(|&i| tab.resources[i].name.to_string())
        .collect()
}

pub(super) fn current_name(m: &Model) -> String {
    m.tab()
        .and_then(|t| t.current())
        .map(|r| r.name.clone())
        .unwrap_or_default()
        .to_string()
}

pub(super) fn confirm(m: &Model) -> &ConfirmDelete {
    match m.modals.last() {
        Some(Modal::Confirm(c)) => c,
        other => panic!("expected the delete confirmation, got {other:?}"),
    }
}

pub(super) fn marks(m: &Model) -> usize {
    m.tab()
        .and_then(|t| t.view())
        .map(|v| v.marks.len())
        .unwrap_or(0)
}

pub(super) fn status_text(m: &Model) -> String {
    m.status
        .as_ref()
        .map(|s| s.text.clone())
        .unwrap_or_default()
}

// ---- Enter does what the highlighted button says -------------------------------------------
