//! Input routing, by layer, top first (as yazi's router does): the top dialog, then the
//! input line (filter, `:`), then the table. The first layer that is open takes the key;
//! an open layer takes every key, so nothing it does not know leaks to the one below.

use super::effect::Effect;
use super::state::Model;
use super::{input, modals, normal, overview};
use crossterm::event::KeyEvent;

pub fn on_key(m: &mut Model, key: KeyEvent) -> Vec<Effect> {
    if let Some(fx) = modals::on_key(m, &key) {
        return fx;
    }
    if let Some(fx) = input::on_key(m, &key) {
        return fx;
    }
    if let Some(fx) = overview::on_key(m, &key) {
        return fx;
    }
    normal::on_key(m, &key)
}

/// Pasted text is text: it goes to the top layer that has a text input (filter, `:` line,
/// form field, typed confirmation), never into key handling, so no paste can confirm,
/// mark, quit or switch anything.
pub fn on_paste(m: &mut Model, text: &str) {
    // One line: line breaks and tabs become spaces, other controls are dropped.
    let text: String = text
        .chars()
        .map(|c| {
            if matches!(c, '\n' | '\r' | '\t') {
                ' '
            } else {
                c
            }
        })
        .filter(|c| !c.is_control())
        .collect();
    if text.is_empty() {
        return;
    }
    if modals::on_paste(m, &text).is_some() || input::on_paste(m, &text).is_some() {
        return;
    }
    normal::on_paste(m);
}

/// Every layer's keys, top layer last: what `?` shows.
pub fn help_sections() -> Vec<super::keys::HelpSection> {
    vec![
        super::keymap::help(),
        super::overview::help(),
        super::input::help(),
        super::modals::confirm::help(),
        super::modals::trash::help(),
        super::modals::impact_check::help(),
        super::modals::progress::help(),
        super::modals::question::help(),
        super::modals::form::help(),
        super::modals::help::help(),
        super::modals::log::help(),
    ]
}
