//! The progress, then summary, of a delete job.

use super::Step;
use crate::app::effect::Effect;
use crate::app::keys::{lookup, Binding, HelpSection, Key};
use crate::app::state::*;
use crate::model::Kind;
use crate::ops::executor::StepOutcome;
use crate::ops::plan::{build_plan, PlanRequest};
use crossterm::event::{KeyCode, KeyEvent};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Esc: while running, ask to cancel; finished, close.
    Back,
    /// Enter: while running, keep it going in the background; finished, close.
    Enter,
    /// `h`: keep the running delete going in the background.
    Hide,
    Close,
    Retry,
    Down,
    Up,
    PageDown,
    PageUp,
    CancelJob,
    /// A batch: the next (previous) profile's delete job.
    NextJob,
    PrevJob,
}

use Key::{Char, Code, Ctrl};

pub const BINDINGS: &[Binding<Action>] = &[
    Binding::new(
        &[Code(KeyCode::Esc)],
        "Esc",
        Action::Back,
        "running: ask to cancel the delete; finished: close",
    ),
    Binding::new(
        &[Code(KeyCode::Enter)],
        "Enter",
        Action::Enter,
        "running: continue in the background; finished: close",
    ),
    Binding::new(
        &[Char('h')],
        "h",
        Action::Hide,
        "continue in the background (the status bar shows progress)",
    ),
    Binding::new(&[Char('q')], "q", Action::Close, "close"),
    Binding::new(
        &[Char('R')],
        "R",
        Action::Retry,
        "finished: retry what failed, was skipped or never started",
    ),
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
        &[Ctrl('c')],
        "Ctrl-C",
        Action::CancelJob,
        "ask to cancel the delete",
    ),
    Binding::new(
        &[Code(KeyCode::Tab), Char(']')],
        "Tab / ]",
        Action::NextJob,
        "a delete of several profiles: the next profile's job",
    ),
    Binding::new(
        &[Code(KeyCode::BackTab), Char('[')],
        "Shift-Tab / [",
        Action::PrevJob,
        "a delete of several profiles: the previous profile's job",
    ),
];

pub fn help() -> HelpSection {
    HelpSection::of("In the delete progress and summary (p)", BINDINGS, &[])
}

/// A key for the progress view of `job` on top.
pub fn on_key(
    m: &mut Model,
    shown: &mut u64,
    scroll: &mut usize,
    key: &KeyEvent,
) -> (Step, Vec<Effect>) {
    let job = *shown;
    let finished = match m.jobs.get(&job) {
        Some(Job {
            kind: JobKind::Delete(d),
            ..
        }) => d.finished,
        _ => true,
    };
    let Some(action) = lookup(BINDINGS, key).map(|b| b.action) else {
        return (Step::Keep, Vec::new());
    };
    let step = match action {
        Action::Back if !finished => {
            m.modals.push(Modal::CancelJob { job });
            Step::Keep
        }
        Action::Enter | Action::Hide if !finished => {
            m.set_status(
                Level::Info,
                "delete continues in the background (status bar shows progress)",
            );
            Step::Close
        }
        Action::Back | Action::Enter | Action::Close => Step::Close,
        Action::Hide => Step::Keep,
        Action::Retry if finished => retry_failed(m, job),
        Action::Retry => Step::Keep,
        Action::Down => scrolled(scroll, scroll.saturating_add(1)),
        Action::Up => scrolled(scroll, scroll.saturating_sub(1)),
        Action::PageDown => scrolled(scroll, scroll.saturating_add(10)),
        Action::PageUp => scrolled(scroll, scroll.saturating_sub(10)),
        Action::CancelJob => {
            m.modals.push(Modal::CancelJob { job });
            Step::Keep
        }
        Action::NextJob | Action::PrevJob => {
            let batch = batch_of(m, job);
            if let Some(at) = batch.iter().position(|j| *j == job) {
                let n = batch.len();
                let to = if action == Action::NextJob {
                    (at + 1) % n
                } else {
                    (at + n - 1) % n
                };
                *shown = batch[to];
                *scroll = 0;
            }
            Step::Keep
        }
    };
    (step, Vec::new())
}

/// The jobs of the batch `job` belongs to, in dialog order (empty: not a batch).
pub fn batch_of(m: &Model, job: u64) -> Vec<u64> {
    match m.jobs.get(&job) {
        Some(Job {
            kind: JobKind::Delete(d),
            ..
        }) => d.batch.clone(),
        _ => Vec::new(),
    }
}

fn scrolled(scroll: &mut usize, to: usize) -> Step {
    *scroll = to;
    Step::Keep
}

/// `R` on a summary: a new confirmation for what failed, skipped or never started; the
/// summary closes when it opens.
fn retry_failed(m: &mut Model, job: u64) -> Step {
    let Some(Job {
        profile,
        kind: JobKind::Delete(d),
        ..
    }) = m.jobs.get(&job)
    else {
        return Step::Keep;
    };
    let profile = *profile;
    let selected: Vec<(Kind, String)> = d
        .plan
        .steps
        .iter()
        .zip(d.outcomes.iter())
        .filter(|(_, o)| {
            matches!(
                o,
                StepOutcome::Failed(_) | StepOutcome::Skipped(_) | StepOutcome::NotStarted
            )
        })
        .map(|(s, _)| (s.target.kind, s.target.id.to_string()))
        .collect();
    if selected.is_empty() {
        m.set_status(Level::Info, "nothing failed: nothing to retry");
        return Step::Keep;
    }
    let Some(tab) = m.profiles.get(profile) else {
        return Step::Keep;
    };
    let plan = build_plan(&PlanRequest {
        spec: tab.spec,
        profile: &tab.info.name,
        all: &tab.resources,
        selected: &selected,
        hidden: &[],
        cascade: false,
        skip_in_use: false,
    });
    if plan.is_empty() {
        m.set_status(
            Level::Info,
            "the failed objects are no longer loaded: refresh first",
        );
        return Step::Keep;
    }
    let protected = tab.info.protected;
    super::confirm::push(m, profile, plan, selected, Vec::new(), protected);
    Step::Close
}
