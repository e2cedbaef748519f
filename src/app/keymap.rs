//! The keymap of normal mode: one table that drives key dispatch, the `?` help screen and
//! the key-hint line, so the three can never disagree.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// What a key in normal mode does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    ProfileNext,
    ProfilePrev,
    /// `1`-`9`: jump to profile tab N-1.
    ProfileNumber(usize),
    KindNext,
    KindPrev,
    Down,
    Up,
    Top,
    Bottom,
    PageDown,
    PageUp,
    Filter,
    Mark,
    MarkRange,
    MarkAll,
    /// Esc: close the detail pane, else clear the filter. Never touches marks.
    Back,
    ClearMarks,
    /// Bring back the marks last cleared with `ClearMarks` (once).
    RestoreMarks,
    Delete,
    Detail,
    DetailDown,
    DetailUp,
    CopyId,
    Refresh,
    SortNext,
    SortReverse,
    Test,
    Create,
    ToggleOrphans,
    ToggleUnhealthy,
    Command,
    LogPane,
    /// Reopen the progress / summary view of the latest delete job.
    Jobs,
    Help,
    Quit,
}

/// One binding: the keys, the action, and how it is described.
#[derive(Debug, Clone, Copy)]
pub struct Binding {
    /// Shown in help, e.g. "j / Down".
    pub keys: &'static str,
    pub action: Action,
    pub help: &'static str,
    /// Short label for the hint line, when the action deserves a place there.
    pub hint: Option<&'static str>,
    /// Whether the action changes vendor state (shown as "read-only" on read-only profiles).
    pub mutating: bool,
}

const fn b(keys: &'static str, action: Action, help: &'static str) -> Binding {
    Binding {
        keys,
        action,
        help,
        hint: None,
        mutating: false,
    }
}

const fn h(keys: &'static str, action: Action, help: &'static str, hint: &'static str) -> Binding {
    Binding {
        keys,
        action,
        help,
        hint: Some(hint),
        mutating: false,
    }
}

const fn m(keys: &'static str, action: Action, help: &'static str, hint: &'static str) -> Binding {
    Binding {
        keys,
        action,
        help,
        hint: Some(hint),
        mutating: true,
    }
}

/// Every normal-mode binding, in the order help shows them.
pub const BINDINGS: &[Binding] = &[
    b("1-9", Action::ProfileNumber(0), "switch to profile tab N"),
    b("Tab", Action::ProfileNext, "next profile tab"),
    b("Shift-Tab", Action::ProfilePrev, "previous profile tab"),
    b("] / Right", Action::KindNext, "next resource kind"),
    b("[ / Left", Action::KindPrev, "previous resource kind"),
    b("j / Down", Action::Down, "move down"),
    b("k / Up", Action::Up, "move up"),
    b("g / Home", Action::Top, "first row"),
    b("G / End", Action::Bottom, "last row"),
    b("PgDn", Action::PageDown, "page down"),
    b("PgUp", Action::PageUp, "page up"),
    h(
        "/",
        Action::Filter,
        "filter (fzf syntax: foo 'exact ^prefix suffix$ !not)",
        "filter",
    ),
    h("Space", Action::Mark, "mark / unmark row", "mark"),
    b("V", Action::MarkRange, "mark the range from the last mark"),
    b("A", Action::MarkAll, "mark all visible rows"),
    b(
        "U",
        Action::ClearMarks,
        "clear all marks of this view (Ctrl-Z brings them back)",
    ),
    b(
        "Ctrl-Z",
        Action::RestoreMarks,
        "restore the marks last cleared (once; also :marks restore)",
    ),
    b(
        "Esc",
        Action::Back,
        "close the detail pane, else clear the filter (marks are kept)",
    ),
    m(
        "Ctrl-D / Delete",
        Action::Delete,
        "delete marked rows (or the current row)",
        "delete",
    ),
    h(
        "Enter",
        Action::Detail,
        "detail pane: full JSON, depends on / used by",
        "detail",
    ),
    b("J / K", Action::DetailDown, "scroll the detail pane"),
    b(
        "y",
        Action::CopyId,
        "copy the id of the current row (OSC 52)",
    ),
    h("r / Ctrl-R", Action::Refresh, "refresh", "refresh"),
    h("s", Action::SortNext, "sort by next column", "sort"),
    b("S", Action::SortReverse, "reverse sort order"),
    h(
        "t",
        Action::Test,
        "test connection(s) of marked or current rows",
        "test",
    ),
    m(
        "n",
        Action::Create,
        "create (login, connection, datasource)",
        "new",
    ),
    h("o", Action::ToggleOrphans, "toggle orphans only", "orphans"),
    b("u", Action::ToggleUnhealthy, "toggle unhealthy only"),
    b(
        ":",
        Action::Command,
        "command: :profile NAME, :kind NAME, :filter TEXT, :marks clear|restore, :q",
    ),
    b(
        "L",
        Action::LogPane,
        "log pane: errors, warnings, outcome of every delete",
    ),
    b(
        "p",
        Action::Jobs,
        "progress / summary of the latest delete (R there retries failures)",
    ),
    h("?", Action::Help, "help", "help"),
    h(
        "q / Ctrl-C",
        Action::Quit,
        "quit (asks while a job runs)",
        "quit",
    ),
];

/// Whether an action means anything for a vendor (the hint line leaves out the others).
pub fn applies(action: Action, spec: &crate::vendors::VendorSpec) -> bool {
    match action {
        Action::Test => spec.can_test,
        Action::Create => spec.can_create,
        Action::ToggleOrphans => !spec.orphan_kinds.is_empty(),
        _ => true,
    }
}

/// Map a key event to a normal-mode action.
pub fn action_for(key: &KeyEvent) -> Option<Action> {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    let action = match key.code {
        KeyCode::Char('c') if ctrl => Action::Quit,
        KeyCode::Char('d') if ctrl => Action::Delete,
        KeyCode::Char('r') if ctrl => Action::Refresh,
        KeyCode::Char('z') if ctrl => Action::RestoreMarks,
        _ if ctrl => return None,
        KeyCode::Char(c @ '1'..='9') => Action::ProfileNumber(c as usize - '1' as usize),
        KeyCode::Tab => Action::ProfileNext,
        KeyCode::BackTab => Action::ProfilePrev,
        KeyCode::Char(']') | KeyCode::Right => Action::KindNext,
        KeyCode::Char('[') | KeyCode::Left => Action::KindPrev,
        KeyCode::Char('j') | KeyCode::Down => Action::Down,
        KeyCode::Char('k') | KeyCode::Up => Action::Up,
        KeyCode::Char('g') | KeyCode::Home => Action::Top,
        KeyCode::Char('G') | KeyCode::End => Action::Bottom,
        KeyCode::PageDown => Action::PageDown,
        KeyCode::PageUp => Action::PageUp,
        KeyCode::Char('/') => Action::Filter,
        KeyCode::Char(' ') => Action::Mark,
        KeyCode::Char('V') => Action::MarkRange,
        KeyCode::Char('A') => Action::MarkAll,
        KeyCode::Char('U') => Action::ClearMarks,
        KeyCode::Esc => Action::Back,
        KeyCode::Delete => Action::Delete,
        KeyCode::Enter => Action::Detail,
        KeyCode::Char('J') => Action::DetailDown,
        KeyCode::Char('K') => Action::DetailUp,
        KeyCode::Char('y') => Action::CopyId,
        KeyCode::Char('r') => Action::Refresh,
        KeyCode::Char('s') => Action::SortNext,
        KeyCode::Char('S') => Action::SortReverse,
        KeyCode::Char('t') => Action::Test,
        KeyCode::Char('n') => Action::Create,
        KeyCode::Char('o') => Action::ToggleOrphans,
        KeyCode::Char('u') => Action::ToggleUnhealthy,
        KeyCode::Char(':') => Action::Command,
        KeyCode::Char('L') => Action::LogPane,
        KeyCode::Char('p') => Action::Jobs,
        KeyCode::Char('?') => Action::Help,
        KeyCode::Char('q') => Action::Quit,
        _ => return None,
    };
    Some(action)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, mods)
    }

    #[test]
    fn spec_keys_map_to_actions() {
        let none = KeyModifiers::NONE;
        assert_eq!(
            action_for(&key(KeyCode::Char('3'), none)),
            Some(Action::ProfileNumber(2))
        );
        assert_eq!(
            action_for(&key(KeyCode::Char('d'), KeyModifiers::CONTROL)),
            Some(Action::Delete)
        );
        assert_eq!(
            action_for(&key(KeyCode::Delete, none)),
            Some(Action::Delete)
        );
        assert_eq!(
            action_for(&key(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Some(Action::Quit)
        );
        assert_eq!(
            action_for(&key(KeyCode::Char('x'), KeyModifiers::CONTROL)),
            None
        );
        assert_eq!(action_for(&key(KeyCode::Char('z'), none)), None);
        assert_eq!(
            action_for(&key(KeyCode::Char('z'), KeyModifiers::CONTROL)),
            Some(Action::RestoreMarks)
        );
        assert_eq!(action_for(&key(KeyCode::Esc, none)), Some(Action::Back));
        assert_eq!(
            action_for(&key(KeyCode::Char('U'), none)),
            Some(Action::ClearMarks)
        );
    }

    #[test]
    fn every_action_in_dispatch_has_help() {
        // Each action reachable from a key is documented in BINDINGS.
        let probe = [
            KeyCode::Tab,
            KeyCode::BackTab,
            KeyCode::Right,
            KeyCode::Left,
            KeyCode::Down,
            KeyCode::Up,
            KeyCode::Home,
            KeyCode::End,
            KeyCode::PageDown,
            KeyCode::PageUp,
            KeyCode::Esc,
            KeyCode::Delete,
            KeyCode::Enter,
        ];
        let chars = "/ VAUjkgGyrsStnouLp?q:JK[]";
        let mut actions: Vec<Action> = probe
            .iter()
            .filter_map(|c| action_for(&key(*c, KeyModifiers::NONE)))
            .collect();
        actions.extend(
            chars
                .chars()
                .filter_map(|c| action_for(&key(KeyCode::Char(c), KeyModifiers::NONE))),
        );
        for a in actions {
            let documented = BINDINGS.iter().any(|b| {
                b.action == a || (a == Action::DetailUp && b.action == Action::DetailDown)
            });
            assert!(documented, "{a:?} has no help line");
        }
    }
}
