//! The dialogs, one file each with its own key table. The top dialog is the top input
//! layer: it is taken off the stack, gets the key, and is put back unless the key closed
//! it. A dialog takes every key: what it does not know does nothing, and never reaches a
//! layer below.

pub mod confirm;
pub mod edit;
pub mod form;
pub mod help;
pub mod impact_check;
pub mod log;
pub mod pager;
pub mod progress;
pub mod question;
pub mod trash;
pub mod typed;

use super::effect::Effect;
use super::state::{Modal, Model};
use crossterm::event::KeyEvent;

/// What a dialog's handler leaves behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Still open: put it back where it was.
    Keep,
    /// Closed: drop it.
    Close,
}

/// The top dialog, taken off the stack, handled by `f`, then put back at its place (under
/// whatever the handler opened) unless it closed. `None` when no dialog is open.
fn with_top<T>(m: &mut Model, f: impl FnOnce(&mut Model, &mut Modal) -> (Step, T)) -> Option<T> {
    let mut top = m.modals.pop()?;
    let at = m.modals.len();
    let (step, out) = f(m, &mut top);
    if step == Step::Keep {
        m.modals.insert(at.min(m.modals.len()), top);
    }
    Some(out)
}

/// The dialogs' layer: `None` when none is open (the key goes on to the layers below).
pub fn on_key(m: &mut Model, key: &KeyEvent) -> Option<Vec<Effect>> {
    with_top(m, |m, top| match top {
        Modal::Confirm(c) => confirm::on_key(m, c, key),
        Modal::Progress { job, scroll } => progress::on_key(m, job, scroll, key),
        Modal::CancelJob { job } => question::on_cancel_job_key(m, *job, key),
        Modal::ConfirmQuit => question::on_quit_key(m, key),
        Modal::Help { scroll } => pager::on_key(m, help::BINDINGS, scroll, key),
        Modal::Log { scroll } => pager::on_key(m, log::BINDINGS, scroll, key),
        Modal::Create(f) => form::on_key(m, f, key),
        Modal::ImpactCheck(c) => impact_check::on_key(m, c, key),
        Modal::ConfirmChange(c) => edit::on_confirm_key(m, c, key),
        Modal::Trash(t) => trash::on_key(m, t, key),
        Modal::ConfirmRestore(c) => trash::on_confirm_key(m, c, key),
    })
}

/// Pasted text for the top dialog: text inputs take it (a form field, the typed
/// confirmation); the others ignore it. `None` when no dialog is open.
pub fn on_paste(m: &mut Model, text: &str) -> Option<()> {
    with_top(m, |_, top| {
        match top {
            Modal::Confirm(c) => confirm::on_paste(c, text),
            Modal::Create(f) => form::on_paste(f, text),
            Modal::ConfirmChange(c) => edit::on_confirm_paste(c, text),
            Modal::ConfirmRestore(c) => trash::on_confirm_paste(c, text),
            Modal::Progress { .. }
            | Modal::CancelJob { .. }
            | Modal::ConfirmQuit
            | Modal::Help { .. }
            | Modal::Log { .. }
            | Modal::ImpactCheck(_)
            | Modal::Trash(_) => {}
        }
        (Step::Keep, ())
    })
}
