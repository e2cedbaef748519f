//! The typed confirmation shared by the change and restore dialogs: the operator types the
//! expected answer (a count or the protected profile's names) and Enter; a paste or a stray
//! Enter never confirms.

use crate::app::keys::typed_char;
use crate::app::state::LineInput;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// What one key did to a typed confirmation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Esc or Ctrl-C.
    Cancel,
    /// Enter on the right answer, or `y` on an empty answer where one key is allowed.
    Confirm,
    /// Enter on a wrong answer: the dialog says what to type.
    Wrong,
    /// Anything else (edited the answer, moved, scrolled): stay open.
    Keep,
}

/// The dialog's answer line and plan scroll, as one key leaves them. `expected` is what
/// must be typed; `y_confirms`: one unprotected object, where `y` alone confirms. A typed
/// character clears `hint`.
pub fn on_key(
    typed: &mut LineInput,
    hint: &mut Option<String>,
    scroll: &mut usize,
    key: &KeyEvent,
    expected: &str,
    y_confirms: bool,
) -> Answer {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    match key.code {
        KeyCode::Esc => return Answer::Cancel,
        KeyCode::Char('c') if ctrl => return Answer::Cancel,
        KeyCode::Enter if typed.text.trim() == expected => return Answer::Confirm,
        KeyCode::Enter => return Answer::Wrong,
        KeyCode::Backspace => typed.backspace(),
        KeyCode::Left => typed.left(),
        KeyCode::Right => typed.right(),
        KeyCode::Down => *scroll += 1,
        KeyCode::Up => *scroll = scroll.saturating_sub(1),
        KeyCode::PageDown => *scroll += 10,
        KeyCode::PageUp => *scroll = scroll.saturating_sub(10),
        _ => {
            if let Some(ch) = typed_char(key) {
                if ch == 'y' && typed.text.is_empty() && y_confirms {
                    return Answer::Confirm;
                }
                typed.insert(ch);
                *hint = None;
            }
        }
    }
    Answer::Keep
}

/// Pasted text only fills the answer (control characters dropped); it never confirms.
pub fn on_paste(typed: &mut LineInput, text: &str) {
    for ch in text.chars().filter(|ch| !ch.is_control()) {
        typed.insert(ch);
    }
}
