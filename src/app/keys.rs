//! Key tables. Every input layer (normal mode, the filter and `:` line, each dialog) has one
//! table of `Binding`s: the same table resolves a key to the layer's action, lists the
//! layer's keys in help and gives the hint line its labels, so the three cannot disagree.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// A key a binding answers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// A character typed without Ctrl (Shift is part of the character: `G`, `?`).
    Char(char),
    /// Ctrl and a letter.
    Ctrl(char),
    /// A named key without Ctrl (Esc, Enter, arrows, Tab, BackTab, Backspace…).
    Code(KeyCode),
    /// A named key with Shift (Shift-Tab as some terminals send it).
    Shift(KeyCode),
    /// Any digit `1`-`9` typed without Ctrl.
    Digit19,
    /// Any digit `0`-`9` typed without Ctrl.
    Digit,
}

impl Key {
    pub fn matches(&self, key: &KeyEvent) -> bool {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match (*self, key.code) {
            (Key::Char(want), KeyCode::Char(c)) => !ctrl && c == want,
            (Key::Ctrl(want), KeyCode::Char(c)) => ctrl && c.eq_ignore_ascii_case(&want),
            (Key::Code(want), code) => !ctrl && code == want,
            (Key::Shift(want), code) => {
                !ctrl && key.modifiers.contains(KeyModifiers::SHIFT) && code == want
            }
            (Key::Digit19, KeyCode::Char(c)) => !ctrl && ('1'..='9').contains(&c),
            (Key::Digit, KeyCode::Char(c)) => !ctrl && c.is_ascii_digit(),
            _ => false,
        }
    }
}

/// One binding of a layer: the keys, the action, and how help and hints describe it.
#[derive(Debug, Clone, Copy)]
pub struct Binding<A: 'static> {
    /// What dispatch matches.
    pub keys: &'static [Key],
    /// How help shows the keys, e.g. "j / Down".
    pub label: &'static str,
    pub action: A,
    pub help: &'static str,
    /// Short label for the hint line, when the action deserves a place there.
    pub hint: Option<&'static str>,
    /// Whether the action changes vendor state (shown as "read-only" on read-only profiles).
    pub mutating: bool,
}

impl<A: Copy> Binding<A> {
    pub const fn new(
        keys: &'static [Key],
        label: &'static str,
        action: A,
        help: &'static str,
    ) -> Self {
        Binding {
            keys,
            label,
            action,
            help,
            hint: None,
            mutating: false,
        }
    }

    pub const fn hint(mut self, hint: &'static str) -> Self {
        self.hint = Some(hint);
        self
    }

    pub const fn mutating(mut self) -> Self {
        self.mutating = true;
        self
    }
}

/// The first binding of `table` that answers to `key`.
pub fn lookup<A: Copy>(
    table: &'static [Binding<A>],
    key: &KeyEvent,
) -> Option<&'static Binding<A>> {
    table.iter().find(|b| b.keys.iter().any(|k| k.matches(key)))
}

/// A plain character (no Ctrl): what text inputs take.
pub fn typed_char(key: &KeyEvent) -> Option<char> {
    match key.code {
        KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => Some(c),
        _ => None,
    }
}

/// One layer's keys as help lists them.
#[derive(Debug, Clone)]
pub struct HelpSection {
    pub title: &'static str,
    /// (keys, what they do), in table order.
    pub rows: Vec<(&'static str, &'static str)>,
    /// Lines of prose under the keys (the filter syntax, the rule about marks).
    pub notes: &'static [&'static str],
}

impl HelpSection {
    pub fn of<A: Copy>(
        title: &'static str,
        table: &'static [Binding<A>],
        notes: &'static [&'static str],
    ) -> Self {
        HelpSection {
            title,
            // A binding with no label is an alias listed with its sibling ("n / N").
            rows: table
                .iter()
                .filter(|b| !b.label.is_empty())
                .map(|b| (b.label, b.help))
                .collect(),
            notes,
        }
    }
}
