//! The delete confirmation: it holds the plan it runs. Its keys are `BINDINGS`; when the
//! profile name must be typed, letters are text first.

use super::Step;
use crate::app::effect::Effect;
use crate::app::keys::{lookup, typed_char, Binding, HelpSection, Key};
use crate::app::marks::selection;
use crate::app::state::*;
use crate::model::Kind;
use crate::ops::executor::StepOutcome;
use crate::ops::plan::{build_plan, Confirmation, PlanRequest};
use crossterm::event::{KeyCode, KeyEvent};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Cancel,
    ToggleCascade,
    ToggleSkipInUse,
    SwitchButton,
    ScrollUp,
    ScrollDown,
    PageUp,
    PageDown,
    Top,
    Bottom,
    /// `y`: deletes one object (only when one object is asked about).
    Yes,
    Erase,
    Press,
    /// Digits (or, when the profile name is asked for, any text): what is typed.
    Type,
}

use Key::{Char, Code, Ctrl};

pub const BINDINGS: &[Binding<Action>] = &[
    Binding::new(
        &[Code(KeyCode::Esc), Ctrl('c'), Char('n'), Char('q')],
        "Esc / n / q",
        Action::Cancel,
        "cancel: nothing is sent (n and q are text when the profile name is asked for)",
    ),
    Binding::new(
        &[Ctrl('t'), Char('c')],
        "c / Ctrl-T",
        Action::ToggleCascade,
        "toggle the cascade (also delete what the selection depends on)",
    ),
    Binding::new(
        &[Ctrl('x'), Char('x')],
        "x / Ctrl-X",
        Action::ToggleSkipInUse,
        "skip the selected objects that are in use",
    ),
    Binding::new(
        &[
            Code(KeyCode::Tab),
            Code(KeyCode::BackTab),
            Code(KeyCode::Left),
            Code(KeyCode::Right),
        ],
        "Tab / Left/Right",
        Action::SwitchButton,
        "move between [ Cancel ] and [ Delete ]",
    ),
    Binding::new(
        &[Code(KeyCode::Up), Char('k')],
        "k / Up",
        Action::ScrollUp,
        "scroll the plan up",
    ),
    Binding::new(
        &[Code(KeyCode::Down), Char('j')],
        "j / Down",
        Action::ScrollDown,
        "scroll the plan down",
    ),
    Binding::new(&[Code(KeyCode::PageUp)], "PgUp", Action::PageUp, "page up"),
    Binding::new(
        &[Code(KeyCode::PageDown)],
        "PgDn",
        Action::PageDown,
        "page down",
    ),
    Binding::new(
        &[Code(KeyCode::Home)],
        "Home",
        Action::Top,
        "start of the plan",
    ),
    Binding::new(
        &[Code(KeyCode::End)],
        "End",
        Action::Bottom,
        "end of the plan",
    ),
    Binding::new(&[Char('y')], "y", Action::Yes, "delete one object"),
    Binding::new(
        &[Key::Digit],
        "0-9",
        Action::Type,
        "type the count (protected profile: its name); Delete is then highlighted",
    ),
    Binding::new(
        &[Code(KeyCode::Backspace)],
        "Backspace",
        Action::Erase,
        "erase what was typed",
    ),
    Binding::new(
        &[Code(KeyCode::Enter)],
        "Enter",
        Action::Press,
        "press the highlighted button (a bare Enter cancels)",
    ),
];

pub fn help() -> HelpSection {
    HelpSection::of(
        "In the delete confirmation",
        BINDINGS,
        &["pasted text is text: it goes into what is typed, never into a key"],
    )
}

/// Ctrl-D: open the confirmation for the marks (or the current row).
pub fn open(m: &mut Model) -> Vec<Effect> {
    if m.refuses_change("delete") {
        return Vec::new();
    }
    let p = m.active;
    let tab = &m.profiles[p];
    let selected = selection(tab);
    if selected.is_empty() {
        m.set_status(Level::Info, "nothing to delete");
        return Vec::new();
    }
    let kind = selected[0].0;
    let hidden: Vec<(Kind, String)> = tab
        .hidden_marks()
        .into_iter()
        .map(|id| (kind, id))
        .collect();
    let plan = build_plan(&PlanRequest {
        spec: tab.spec,
        profile: &tab.info.name,
        all: &tab.resources,
        selected: &selected,
        hidden: &hidden,
        cascade: false,
        skip_in_use: false,
    });
    if plan.is_empty() {
        let why = plan
            .warnings
            .first()
            .cloned()
            .unwrap_or_else(|| "nothing deletable is selected".into());
        m.set_status(Level::Warn, why);
        return Vec::new();
    }
    let protected = tab.info.protected;
    crate::app::impact::check_then_confirm(m, p, plan, selected, hidden, protected)
}

/// Open a confirmation of `plan` on top.
pub fn push(
    m: &mut Model,
    profile: usize,
    plan: crate::ops::plan::DeletePlan,
    selected: Vec<(Kind, String)>,
    hidden: Vec<(Kind, String)>,
    protected: bool,
) {
    m.modals.push(Modal::Confirm(Box::new(ConfirmDelete {
        profile,
        plan: Arc::new(plan),
        selected,
        hidden,
        protected,
        focus_delete: false,
        typed: LineInput::default(),
        scroll: 0,
        hint: None,
    })));
}

fn rebuild_confirm_plan(m: &Model, c: &mut ConfirmDelete, cascade: bool, skip_in_use: bool) {
    let Some(tab) = m.profiles.get(c.profile) else {
        return;
    };
    let mut plan = build_plan(&PlanRequest {
        spec: tab.spec,
        profile: &tab.info.name,
        all: &tab.resources,
        selected: &c.selected,
        hidden: &c.hidden,
        cascade,
        skip_in_use,
    });
    // Impact was computed for every object the cascade can add before the dialog opened.
    plan.set_impacts(&tab.impacts, m.now);
    c.plan = Arc::new(plan);
    c.typed.clear();
    c.hint = None;
    c.focus_delete = false;
}

fn typed_matches(c: &ConfirmDelete) -> bool {
    match c.plan.confirmation(c.protected) {
        Confirmation::PressY => false,
        Confirmation::TypeCount(n) => c.typed.text == n.to_string(),
        Confirmation::TypeProfile(name) => c.typed.text == name,
    }
}

/// What to type to confirm, as the hint says it: "type 46 to confirm".
fn type_to_confirm(need: &Confirmation) -> String {
    match need {
        Confirmation::PressY => "press y to delete, Esc to cancel".to_string(),
        Confirmation::TypeCount(n) => format!("type {n} to confirm"),
        Confirmation::TypeProfile(p) => format!("type '{p}' to confirm"),
    }
}

/// After the typed text changed: the right count (or profile name) moves the focus to
/// Delete and says so; anything else puts it back on Cancel.
fn after_typing(c: &mut ConfirmDelete) {
    if typed_matches(c) {
        c.focus_delete = true;
        let what = match c.plan.confirmation(c.protected) {
            Confirmation::TypeProfile(_) => "profile name",
            _ => "count",
        };
        c.hint = Some(format!(
            "✓ {what} typed: [ Delete ] is highlighted — Enter deletes, Tab goes back to Cancel"
        ));
    } else {
        c.focus_delete = false;
        c.hint = None;
    }
}

fn cancel(m: &mut Model) -> Step {
    m.set_status(Level::Info, "delete cancelled: nothing was sent");
    Step::Close
}

/// A key for the confirmation on top. Every key stops here: what the table does not know
/// is typed text or nothing.
pub fn on_key(m: &mut Model, c: &mut ConfirmDelete, key: &KeyEvent) -> (Step, Vec<Effect>) {
    let need = c.plan.confirmation(c.protected);
    // The profile name is asked for: letters are text before they are keys.
    if matches!(need, Confirmation::TypeProfile(_)) {
        if let Some(ch) = typed_char(key) {
            type_char(c, &need, ch);
            return (Step::Keep, Vec::new());
        }
    }
    let Some(action) = lookup(BINDINGS, key).map(|b| b.action) else {
        if let Some(ch) = typed_char(key) {
            type_char(c, &need, ch);
        }
        return (Step::Keep, Vec::new());
    };
    let scroll_max = (m.measures.confirm_max_scroll)(m, c);
    let scroll = |c: &mut ConfirmDelete, down: bool, n: usize| {
        c.scroll = if down {
            c.scroll.saturating_add(n).min(scroll_max)
        } else {
            c.scroll.min(scroll_max).saturating_sub(n)
        };
    };
    match action {
        Action::Cancel => return (cancel(m), Vec::new()),
        Action::ToggleCascade => {
            let (on, skip) = (!c.plan.cascade, c.plan.skip_in_use);
            rebuild_confirm_plan(m, c, on, skip);
        }
        Action::ToggleSkipInUse if c.plan.in_use_selected > 0 => {
            let (on, skip) = (c.plan.cascade, !c.plan.skip_in_use);
            rebuild_confirm_plan(m, c, on, skip);
        }
        Action::SwitchButton => {
            if need == Confirmation::PressY {
                // One object: only y deletes, so Enter can never reach Delete.
                c.hint = Some("one object: press y to delete (Enter cancels)".into());
            } else {
                c.focus_delete = !c.focus_delete;
            }
        }
        Action::ScrollUp => scroll(c, false, 1),
        Action::ScrollDown => scroll(c, true, 1),
        Action::PageUp => scroll(c, false, 10),
        Action::PageDown => scroll(c, true, 10),
        Action::Top => scroll(c, false, usize::MAX),
        Action::Bottom => scroll(c, true, usize::MAX),
        Action::Yes if need == Confirmation::PressY => return confirm_delete(m, c),
        Action::Erase => {
            c.typed.backspace();
            after_typing(c);
        }
        Action::Press => match &need {
            // One object: Cancel is the only button Enter can press.
            Confirmation::PressY => return (cancel(m), Vec::new()),
            _ if typed_matches(c) && c.focus_delete => return confirm_delete(m, c),
            _ if typed_matches(c) => return (cancel(m), Vec::new()),
            _ if !c.typed.text.is_empty() || c.focus_delete => {
                c.hint = Some(type_to_confirm(&need));
            }
            _ => return (cancel(m), Vec::new()),
        },
        // A key that does not apply here (`y` with a count to type, `x` with nothing in
        // use, a digit): typed text if it is a character.
        Action::Type | Action::Yes | Action::ToggleSkipInUse => {
            if let Some(ch) = typed_char(key) {
                type_char(c, &need, ch);
            }
        }
    }
    (Step::Keep, Vec::new())
}

/// A typed character: the count takes digits, the profile name anything; otherwise a hint.
fn type_char(c: &mut ConfirmDelete, need: &Confirmation, ch: char) {
    match need {
        Confirmation::TypeCount(_) if ch.is_ascii_digit() => {
            c.typed.insert(ch);
            after_typing(c);
        }
        Confirmation::TypeProfile(_) => {
            c.typed.insert(ch);
            after_typing(c);
        }
        Confirmation::TypeCount(n) => {
            c.hint = Some(format!("type {n} and press Enter to delete"));
        }
        Confirmation::PressY => c.hint = Some("press y to delete, Esc to cancel".into()),
    }
}

/// Pasted text: typed text where something is to be typed; with one object (press y)
/// ignored, and the dialog says so.
pub fn on_paste(c: &mut ConfirmDelete, text: &str) {
    if c.plan.confirmation(c.protected) == Confirmation::PressY {
        c.hint = Some("pasted text ignored: press y to delete, Esc to cancel".into());
    } else {
        for ch in text.trim().chars() {
            c.typed.insert(ch);
        }
        after_typing(c);
    }
}

/// Start the delete: the dialog closes and the progress view opens above where it was.
fn confirm_delete(m: &mut Model, c: &mut ConfirmDelete) -> (Step, Vec<Effect>) {
    if c.plan.is_empty() {
        c.hint = Some("nothing left to delete: Esc to close".into());
        return (Step::Keep, Vec::new());
    }
    let job = m.next_job;
    m.next_job += 1;
    let plan = c.plan.clone();
    let n = plan.steps.len();
    m.jobs.insert(
        job,
        Job {
            id: job,
            profile: c.profile,
            kind: JobKind::Delete(DeleteJob {
                plan: plan.clone(),
                outcomes: vec![StepOutcome::NotStarted; n],
                finished: false,
                cancel_requested: false,
                started_at: m.now,
                finished_at: None,
                errors: Vec::new(),
            }),
        },
    );
    // Marks that were acted on are spent.
    if let Some(tab) = m.profiles.get_mut(c.profile) {
        for v in tab.views.iter_mut() {
            v.marks.clear();
            v.hidden_marked = 0;
            v.anchor = None;
        }
    }
    m.modals.push(Modal::Progress { job, scroll: 0 });
    m.push_log(
        Level::Info,
        format!("delete job {job}: {n} objects on {}", plan.profile),
    );
    (
        Step::Close,
        vec![Effect::Delete {
            job,
            profile: c.profile,
            plan,
        }],
    )
}
