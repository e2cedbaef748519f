//! The yes/no questions: "Cancel the running delete?" and "Quit?" (asked while a job runs).

use super::Step;
use crate::app::effect::Effect;
use crate::app::keys::{lookup, Binding, HelpSection, Key};
use crate::app::state::*;
use crossterm::event::{KeyCode, KeyEvent};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Yes,
    No,
}

use Key::{Char, Code};

pub const BINDINGS: &[Binding<Answer>] = &[
    Binding::new(
        &[Char('y')],
        "y",
        Answer::Yes,
        "yes: cancel the running delete / quit",
    ),
    Binding::new(
        &[Char('n'), Code(KeyCode::Esc), Code(KeyCode::Enter)],
        "n / Esc / Enter",
        Answer::No,
        "no: keep going",
    ),
];

pub fn help() -> HelpSection {
    HelpSection::of("In a question (cancel the delete? quit?)", BINDINGS, &[])
}

/// Quit, or ask first while a job runs.
pub fn request_quit(m: &mut Model) -> Vec<Effect> {
    if m.running_jobs() > 0 {
        m.modals.push(Modal::ConfirmQuit);
        Vec::new()
    } else {
        m.should_quit = true;
        vec![Effect::Quit]
    }
}

/// "Cancel the delete?" on top.
pub fn on_cancel_job_key(m: &mut Model, job: u64, key: &KeyEvent) -> (Step, Vec<Effect>) {
    match lookup(BINDINGS, key).map(|b| b.action) {
        Some(Answer::Yes) => {
            // A delete confirmed once over several profiles is cancelled at once: every
            // job of its batch that still runs.
            let mut jobs = super::progress::batch_of(m, job);
            if jobs.is_empty() {
                jobs.push(job);
            }
            let mut effects = Vec::new();
            for j in jobs {
                if let Some(Job {
                    kind: JobKind::Delete(d),
                    ..
                }) = m.jobs.get_mut(&j)
                {
                    if j != job && d.finished {
                        continue;
                    }
                    d.cancel_requested = true;
                }
                effects.push(Effect::CancelJob { job: j });
            }
            m.set_status(
                Level::Warn,
                "cancelling: nothing new starts; requests in flight finish",
            );
            (Step::Close, effects)
        }
        Some(Answer::No) => (Step::Close, Vec::new()),
        None => (Step::Keep, Vec::new()),
    }
}

/// "Quit?" on top.
pub fn on_quit_key(m: &mut Model, key: &KeyEvent) -> (Step, Vec<Effect>) {
    match lookup(BINDINGS, key).map(|b| b.action) {
        Some(Answer::Yes) => {
            m.should_quit = true;
            (Step::Close, vec![Effect::Quit])
        }
        Some(Answer::No) => (Step::Close, Vec::new()),
        None => (Step::Keep, Vec::new()),
    }
}
