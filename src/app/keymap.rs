//! The keymap of normal mode: one table that drives key dispatch, the `?` help screen and
//! the key-hint line, so the three can never disagree.

use super::keys::Key;
#[cfg(test)]
use crossterm::event::KeyModifiers;
use crossterm::event::{KeyCode, KeyEvent};

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
    /// `e`: change the current row (the fields the vendor lets a client change).
    Edit,
    /// `P`: a new password for the marked rows (in the All tab: of every profile).
    Rotate,
    ToggleOrphans,
    /// `Y`: copy the names of the marked rows (or the current one).
    CopyNames,
    /// `T`: every health check of the profile (in the overview: of every profile).
    CheckAll,
    /// `0`: the on-call overview (every profile on one screen).
    Overview,
    /// `*`: the All tab (every object of every profile in one table).
    AllTab,
    /// `O` in the All tab: the current row in its profile's tab.
    OpenInProfile,
    /// `i`: what deleting the marked (or current) rows would break.
    Impact,
    ToggleUnhealthy,
    /// `n` / `N`: the next / previous object that became unhealthy since the operator
    /// last looked.
    NextNew,
    PrevNew,
    Command,
    LogPane,
    /// Reopen the progress / summary view of the latest delete job.
    Jobs,
    Help,
    Quit,
}

/// One binding of normal mode.
pub type Binding = super::keys::Binding<Action>;

const fn b(
    keys: &'static [Key],
    label: &'static str,
    action: Action,
    help: &'static str,
) -> Binding {
    Binding::new(keys, label, action, help)
}

const fn h(
    keys: &'static [Key],
    label: &'static str,
    action: Action,
    help: &'static str,
    hint: &'static str,
) -> Binding {
    Binding::new(keys, label, action, help).hint(hint)
}

const fn m(
    keys: &'static [Key],
    label: &'static str,
    action: Action,
    help: &'static str,
    hint: &'static str,
) -> Binding {
    Binding::new(keys, label, action, help)
        .hint(hint)
        .mutating()
}

use Key::{Char, Code, Ctrl};

/// Every normal-mode binding, in the order help shows them. Dispatch takes the first
/// binding that answers to a key.
pub const BINDINGS: &[Binding] = &[
    b(
        &[Key::Digit19],
        "1-9",
        Action::ProfileNumber(0),
        "switch to profile tab N",
    ),
    b(
        &[Char('0')],
        "0",
        Action::Overview,
        "overview: every profile on one screen, worst first",
    ),
    b(
        &[Char('*')],
        "*",
        Action::AllTab,
        "All tab: every object of every profile in one table (also :all)",
    ),
    b(
        &[Char('O')],
        "O",
        Action::OpenInProfile,
        "All tab: open the current row in its profile's tab",
    ),
    b(
        &[Code(KeyCode::Tab)],
        "Tab",
        Action::ProfileNext,
        "next profile tab",
    ),
    b(
        &[Code(KeyCode::BackTab)],
        "Shift-Tab",
        Action::ProfilePrev,
        "previous profile tab",
    ),
    b(
        &[Char(']'), Code(KeyCode::Right)],
        "] / Right",
        Action::KindNext,
        "next resource kind",
    ),
    b(
        &[Char('['), Code(KeyCode::Left)],
        "[ / Left",
        Action::KindPrev,
        "previous resource kind",
    ),
    b(
        &[Char('j'), Code(KeyCode::Down)],
        "j / Down",
        Action::Down,
        "move down",
    ),
    b(
        &[Char('k'), Code(KeyCode::Up)],
        "k / Up",
        Action::Up,
        "move up",
    ),
    b(
        &[Char('g'), Code(KeyCode::Home)],
        "g / Home",
        Action::Top,
        "first row",
    ),
    b(
        &[Char('G'), Code(KeyCode::End)],
        "G / End",
        Action::Bottom,
        "last row",
    ),
    b(
        &[Code(KeyCode::PageDown)],
        "PgDn",
        Action::PageDown,
        "page down",
    ),
    b(&[Code(KeyCode::PageUp)], "PgUp", Action::PageUp, "page up"),
    h(
        &[Char('/')],
        "/",
        Action::Filter,
        "filter (fzf syntax: foo 'exact ^prefix suffix$ !not)",
        "filter",
    ),
    h(
        &[Char(' ')],
        "Space",
        Action::Mark,
        "mark / unmark row",
        "mark",
    ),
    b(
        &[Char('V')],
        "V",
        Action::MarkRange,
        "mark the range from the last mark",
    ),
    b(&[Char('A')], "A", Action::MarkAll, "mark all visible rows"),
    b(
        &[Char('U')],
        "U",
        Action::ClearMarks,
        "clear all marks of this view (Ctrl-Z brings them back)",
    ),
    b(
        &[Ctrl('z')],
        "Ctrl-Z",
        Action::RestoreMarks,
        "restore the marks last cleared (once; also :marks restore)",
    ),
    b(
        &[Code(KeyCode::Esc)],
        "Esc",
        Action::Back,
        "close the detail pane, else clear the filter (marks are kept)",
    ),
    m(
        &[Ctrl('d'), Code(KeyCode::Delete)],
        "Ctrl-D / Delete",
        Action::Delete,
        "delete marked rows (or the current row)",
        "delete",
    ),
    h(
        &[Code(KeyCode::Enter)],
        "Enter",
        Action::Detail,
        "detail pane: full JSON, depends on / used by",
        "detail",
    ),
    b(
        &[Char('J')],
        "J / K",
        Action::DetailDown,
        "scroll the detail pane",
    ),
    b(&[Char('K')], "", Action::DetailUp, ""),
    b(
        &[Char('y')],
        "y",
        Action::CopyId,
        "copy the id of the current row (OSC 52)",
    ),
    b(
        &[Char('Y')],
        "Y",
        Action::CopyNames,
        "copy the names of the marked rows (or the current row), one per line",
    ),
    h(
        &[Char('r'), Ctrl('r')],
        "r / Ctrl-R",
        Action::Refresh,
        "refresh",
        "refresh",
    ),
    h(
        &[Char('s')],
        "s",
        Action::SortNext,
        "sort by next column",
        "sort",
    ),
    b(&[Char('S')], "S", Action::SortReverse, "reverse sort order"),
    h(
        &[Char('t')],
        "t",
        Action::Test,
        "test connection(s) of marked or current rows",
        "test",
    ),
    b(
        &[Char('T')],
        "T",
        Action::CheckAll,
        "test everything: every health check of this profile (T again stops)",
    ),
    m(
        &[Char('e')],
        "e",
        Action::Edit,
        "edit the current row: name, credentials, connection or login",
        "edit",
    ),
    m(
        &[Char('P')],
        "P",
        Action::Rotate,
        "rotate: a new password for the marked rows (All tab: every profile)",
        "rotate",
    ),
    m(
        &[Char('a')],
        "a",
        Action::Create,
        "add: create a login, connection or datasource",
        "add",
    ),
    b(
        &[Char('n')],
        "n / N",
        Action::NextNew,
        "next / previous row that became unhealthy since you last looked (✚)",
    ),
    b(&[Char('N')], "", Action::PrevNew, ""),
    h(
        &[Char('i')],
        "i",
        Action::Impact,
        "impact: what deleting marked rows (or the current row) breaks",
        "impact",
    ),
    h(
        &[Char('o')],
        "o",
        Action::ToggleOrphans,
        "toggle orphans only",
        "orphans",
    ),
    b(
        &[Char('u')],
        "u",
        Action::ToggleUnhealthy,
        "toggle unhealthy only",
    ),
    b(
        &[Char(':')],
        ":",
        Action::Command,
        "command: :profile NAME, :kind NAME, :filter TEXT, :marks clear|restore, :q",
    ),
    b(
        &[Char('L')],
        "L",
        Action::LogPane,
        "log pane: errors, warnings, outcome of every delete",
    ),
    b(
        &[Char('p')],
        "p",
        Action::Jobs,
        "progress / summary of the latest delete (R there retries failures)",
    ),
    h(&[Char('?')], "?", Action::Help, "help", "help"),
    h(
        &[Char('q'), Ctrl('c')],
        "q / Ctrl-C",
        Action::Quit,
        "quit (asks while a job runs)",
        "quit",
    ),
];

/// Normal mode's keys as help lists them (a binding with no label shares the line above).
pub fn help() -> super::keys::HelpSection {
    let mut section = super::keys::HelpSection::of(
        "In the table",
        BINDINGS,
        &["Esc never clears marks: U clears them, Ctrl-Z (or :marks restore) brings them back"],
    );
    section.rows.retain(|(label, _)| !label.is_empty());
    section
}

/// Whether an action means anything for a vendor (the hint line leaves out the others).
pub fn applies(action: Action, spec: &crate::vendors::VendorSpec) -> bool {
    match action {
        Action::Test => spec.can_test,
        Action::Create => spec.can_create,
        Action::Edit => spec
            .kinds
            .iter()
            .any(|k| !(spec.edit_fields)(*k).is_empty()),
        Action::Rotate => spec.kinds.iter().any(|k| {
            (spec.edit_fields)(*k)
                .iter()
                .any(|f| f.name == "password" && f.secret)
        }),
        Action::ToggleOrphans => !spec.orphan_kinds.is_empty(),
        _ => true,
    }
}

/// Map a key event to a normal-mode action, from `BINDINGS`.
pub fn action_for(key: &KeyEvent) -> Option<Action> {
    let binding = super::keys::lookup(BINDINGS, key)?;
    Some(match (binding.action, key.code) {
        (Action::ProfileNumber(_), KeyCode::Char(c)) => {
            Action::ProfileNumber((c as usize).saturating_sub('1' as usize))
        }
        (action, _) => action,
    })
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
