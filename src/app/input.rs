//! The input line: the filter (`/`) and the command line (`:`). While it is open it is the
//! top layer under the dialogs and takes every key: nothing it does not know reaches the
//! table.

use super::command::run_command;
use super::effect::Effect;
use super::keys::{lookup, typed_char, Binding, HelpSection, Key};
use super::modals::question::request_quit;
use super::state::*;
use super::view::apply_filter;
use crossterm::event::{KeyCode, KeyEvent};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Filter: clear it and close; command: close without running.
    Close,
    /// Filter: keep it and close; command: run it.
    Accept,
    Quit,
    ClearLine,
    Backspace,
    Delete,
    Left,
    Right,
    Home,
    End,
    /// A typed character (not a key of the table: any text).
    Type,
    /// Complete the word before the cursor; again: the next candidate.
    Complete,
    /// The previous candidate.
    CompleteBack,
    /// Command: the previous line run (Up).
    Older,
    /// Command: the next line run, then the line being edited (Down).
    Newer,
}

use Key::{Code, Ctrl, Shift};

pub const BINDINGS: &[Binding<Action>] = &[
    Binding::new(
        &[Code(KeyCode::Esc)],
        "Esc",
        Action::Close,
        "filter: clear it and close; command: close without running it",
    ),
    Binding::new(
        &[Code(KeyCode::Enter)],
        "Enter",
        Action::Accept,
        "filter: keep it; command: run it",
    ),
    Binding::new(&[Ctrl('u')], "Ctrl-U", Action::ClearLine, "clear the line"),
    Binding::new(
        &[Code(KeyCode::Backspace)],
        "Backspace",
        Action::Backspace,
        "delete the character before the cursor",
    ),
    Binding::new(
        &[Code(KeyCode::Delete)],
        "Delete",
        Action::Delete,
        "delete the character under the cursor",
    ),
    Binding::new(&[Code(KeyCode::Left)], "Left", Action::Left, "cursor left"),
    Binding::new(
        &[Code(KeyCode::Right)],
        "Right",
        Action::Right,
        "cursor right",
    ),
    Binding::new(
        &[Code(KeyCode::Home)],
        "Home",
        Action::Home,
        "start of the line",
    ),
    Binding::new(&[Code(KeyCode::End)], "End", Action::End, "end of the line"),
    Binding::new(
        &[Shift(KeyCode::Tab), Code(KeyCode::BackTab)],
        "Shift-Tab",
        Action::CompleteBack,
        "previous completion candidate (listed on the status line)",
    ),
    Binding::new(
        &[Code(KeyCode::Tab)],
        "Tab",
        Action::Complete,
        "complete the word (command, profile, kind, field:value); again: next candidate",
    ),
    Binding::new(
        &[Code(KeyCode::Up)],
        "Up",
        Action::Older,
        "command: the previous command run (kept between runs)",
    ),
    Binding::new(
        &[Code(KeyCode::Down)],
        "Down",
        Action::Newer,
        "command: the next command run, then the line you were typing",
    ),
    Binding::new(
        &[Ctrl('c')],
        "Ctrl-C",
        Action::Quit,
        "quit (asks while a job runs)",
    ),
    Binding::new(
        &[],
        "text",
        Action::Type,
        "typed (or pasted) into the line; the filter applies as you type",
    ),
];

pub fn help() -> HelpSection {
    HelpSection::of(
        "In the filter (/) and the command line (:)",
        BINDINGS,
        &["filter syntax: foo fuzzy, 'foo exact, ^foo prefix, foo$ suffix, !foo exclude"],
    )
}

fn open(m: &Model) -> bool {
    matches!(m.mode, Mode::Filter | Mode::Command)
}

/// The input line's layer: `None` when it is closed (the key goes on to the table).
pub fn on_key(m: &mut Model, key: &KeyEvent) -> Option<Vec<Effect>> {
    if !open(m) {
        return None;
    }
    let action = match lookup(BINDINGS, key) {
        Some(b) => b.action,
        None if typed_char(key).is_some() => Action::Type,
        // Swallowed: a key the line does not know does nothing.
        None => return Some(Vec::new()),
    };
    match action {
        Action::Complete | Action::CompleteBack => {}
        // Walking the history and moving the cursor keep the walk; an edit ends it.
        Action::Older
        | Action::Newer
        | Action::Left
        | Action::Right
        | Action::Home
        | Action::End => m.completion = None,
        _ => {
            m.completion = None;
            m.history.stop_walking();
        }
    }
    match action {
        Action::Quit => return Some(request_quit(m)),
        Action::ClearLine => m.input.clear(),
        Action::Close => {
            if m.mode == Mode::Filter {
                m.input.clear();
                apply_filter(m);
            }
            m.mode = Mode::Normal;
            return Some(Vec::new());
        }
        Action::Accept => {
            let mode = m.mode;
            m.mode = Mode::Normal;
            if mode == Mode::Command {
                let line = std::mem::take(&mut m.input.text);
                m.input.clear();
                let line = line.trim();
                let mut fx = run_command(m, line);
                // Only lines that named a command: a password pasted into the wrong
                // place (an unknown command) is not kept on disk.
                let word = line.split_whitespace().next().unwrap_or("");
                let known = super::command::Cmd::resolve(word).is_ok();
                if known && m.history.remember(line) {
                    fx.push(Effect::RememberCommand(line.to_string()));
                }
                return Some(fx);
            }
            return Some(Vec::new());
        }
        Action::Complete => super::completion::complete(m, true),
        Action::CompleteBack => super::completion::complete(m, false),
        Action::Older | Action::Newer if m.mode == Mode::Command => {
            let recalled = if action == Action::Older {
                m.history.older(&m.input)
            } else {
                m.history.newer()
            };
            if let Some(line) = recalled {
                m.input = line;
            }
        }
        Action::Older | Action::Newer => {}
        Action::Backspace => m.input.backspace(),
        Action::Delete => m.input.delete(),
        Action::Left => m.input.left(),
        Action::Right => m.input.right(),
        Action::Home => m.input.home(),
        Action::End => m.input.end(),
        Action::Type => {
            if let Some(c) = typed_char(key) {
                m.input.insert(c);
            }
        }
    }
    if m.mode == Mode::Filter {
        apply_filter(m);
    }
    Some(Vec::new())
}

/// Pasted text goes into the open line (`None` when it is closed).
pub fn on_paste(m: &mut Model, text: &str) -> Option<()> {
    if !open(m) {
        return None;
    }
    m.completion = None;
    m.history.stop_walking();
    for ch in text.chars() {
        m.input.insert(ch);
    }
    if m.mode == Mode::Filter {
        apply_filter(m);
    }
    Some(())
}
