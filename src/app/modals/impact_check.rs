//! The wait before a delete confirmation: impact is computed for every object of the plan
//! (progress shown). Esc stops it and deletes nothing; no other key does anything.

use super::Step;
use crate::app::effect::Effect;
use crate::app::keys::{lookup, Binding, HelpSection, Key};
use crate::app::state::*;
use crossterm::event::{KeyCode, KeyEvent};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Cancel,
}

use Key::{Char, Code, Ctrl};

pub const BINDINGS: &[Binding<Action>] = &[Binding::new(
    &[Code(KeyCode::Esc), Ctrl('c'), Char('n'), Char('q')],
    "Esc / n / q",
    Action::Cancel,
    "stop checking what the delete breaks: nothing is deleted",
)];

pub fn help() -> HelpSection {
    HelpSection::of(
        "While the impact of a delete is computed",
        BINDINGS,
        &["the confirmation opens when every object's impact is known"],
    )
}

pub fn on_key(m: &mut Model, c: &ImpactCheck, key: &KeyEvent) -> (Step, Vec<Effect>) {
    match lookup(BINDINGS, key).map(|b| b.action) {
        Some(Action::Cancel) => {
            // Every impact job the wait is for stops (a batch has one per profile).
            let mut fx = Vec::new();
            for (job, _) in &c.waits {
                if m.jobs.contains_key(job) {
                    fx.extend(crate::app::impact::cancel(m, *job));
                }
            }
            m.set_status(
                Level::Info,
                "delete cancelled while checking its impact: nothing was sent",
            );
            (Step::Close, fx)
        }
        None => (Step::Keep, Vec::new()),
    }
}
