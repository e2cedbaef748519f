//! The delete confirmation: it holds the plan it runs. Its keys are `BINDINGS`; when the
//! profile name must be typed, letters are text first.

use super::Step;
use crate::app::effect::Effect;
use crate::app::keys::{lookup, typed_char, Binding, HelpSection, Key};
use crate::app::marks::selection;
use crate::app::state::*;
use crate::model::Kind;
use crate::ops::executor::StepOutcome;
use crate::ops::plan::{build_plan, Confirmation, DeletePlan, PlanRequest};
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
    /// `w`: write the plan to a file in the data dir (for `dsconsole apply`).
    WritePlan,
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
        &[Char('w'), Ctrl('w')],
        "w / Ctrl-W",
        Action::WritePlan,
        "write the plan to a file in the data dir (run it later with dsconsole apply); sends nothing",
    ),
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
        &[
            "pasted text is text: it goes into what is typed, never into a key",
            "a delete over several profiles is always typed: the total count, or the protected profiles' names separated by spaces; y never confirms it",
        ],
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
    open_batch(
        m,
        vec![BatchRequest {
            profile: p,
            selected,
            hidden,
        }],
    )
}

/// What one profile contributes to a delete asked for over several profiles (the All tab):
/// the objects asked for, and which of them are marked but hidden by the filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchRequest {
    pub profile: usize,
    pub selected: Vec<(Kind, String)>,
    pub hidden: Vec<(Kind, String)>,
}

/// Why profile `p` takes no part in a delete, in the words of the one-profile path: a
/// read-only profile, one with nothing loaded (or missing).
fn refusal(m: &Model, p: usize) -> Option<String> {
    let Some(tab) = m.profiles.get(p) else {
        return Some(format!("profile #{} is not configured", p + 1));
    };
    if tab.info.read_only {
        return Some(format!(
            "read-only: profile '{}' does not delete",
            tab.info.name
        ));
    }
    if !tab.usable() || tab.load != LoadState::Loaded && tab.resources.is_empty() {
        return Some(format!("profile '{}' has nothing loaded", tab.info.name));
    }
    None
}

/// "1 marked object" / "3 marked objects".
fn marked(n: usize) -> String {
    format!("{n} marked object{}", if n == 1 { "" } else { "s" })
}

/// Open one confirmation for objects of one or more profiles: each profile's plan is built
/// as `Ctrl-D` builds it, the impact of every part is awaited (one impact job per profile,
/// one wait; Esc stops them all and deletes nothing), then ONE dialog lists every plan and
/// is confirmed once, by typing (see [`ConfirmDelete::confirmation`]); confirming starts
/// one delete job per profile.
///
/// Requests of the same profile are merged; the dialog lists profiles in the order given.
/// A read-only profile, one with nothing loaded, or one whose plan is empty is left out:
/// the rest goes on, and the status line and the dialog say what was left out and why
/// (nothing of a read-only profile is ever planned). When nothing is left, nothing opens.
/// With objects of one profile only, this is exactly `Ctrl-D`.
pub fn open_batch(m: &mut Model, parts: Vec<BatchRequest>) -> Vec<Effect> {
    let mut requests: Vec<BatchRequest> = Vec::new();
    for r in parts {
        match requests.iter_mut().find(|q| q.profile == r.profile) {
            Some(q) => {
                for k in r.selected {
                    if !q.selected.contains(&k) {
                        q.selected.push(k);
                    }
                }
                for k in r.hidden {
                    if !q.hidden.contains(&k) {
                        q.hidden.push(k);
                    }
                }
            }
            None => requests.push(r),
        }
    }
    // A profile nothing was asked of takes no part.
    if requests.len() > 1 {
        requests.retain(|r| !r.selected.is_empty());
    }
    if requests.is_empty() {
        m.set_status(Level::Info, "nothing to delete");
        return Vec::new();
    }
    let one = requests.len() == 1;
    let mut plans: Vec<PlanPart> = Vec::new();
    let mut left_out: Vec<String> = Vec::new();
    for r in requests {
        if let Some(why) = refusal(m, r.profile) {
            if one {
                m.set_status(Level::Warn, why);
                return Vec::new();
            }
            left_out.push(format!("{why}: {} left out", marked(r.selected.len())));
            continue;
        }
        if r.selected.is_empty() {
            m.set_status(Level::Info, "nothing to delete");
            return Vec::new();
        }
        let tab = &m.profiles[r.profile];
        let plan = build_plan(&PlanRequest {
            spec: tab.spec,
            profile: &tab.info.name,
            all: &tab.resources,
            selected: &r.selected,
            hidden: &r.hidden,
            cascade: false,
            skip_in_use: false,
        });
        if plan.is_empty() {
            let why = plan
                .warnings
                .first()
                .cloned()
                .unwrap_or_else(|| "nothing deletable is selected".into());
            if one {
                m.set_status(Level::Warn, why);
                return Vec::new();
            }
            left_out.push(format!("profile '{}': {why}", tab.info.name));
            continue;
        }
        plans.push(PlanPart {
            profile: r.profile,
            plan: Arc::new(plan),
            selected: r.selected,
            hidden: r.hidden,
            protected: tab.info.protected,
        });
    }
    if plans.is_empty() {
        m.set_status(
            Level::Warn,
            format!("nothing to delete: {}", left_out.join("; ")),
        );
        return Vec::new();
    }
    if !left_out.is_empty() {
        m.set_status(
            Level::Warn,
            format!("left out of the delete: {}", left_out.join("; ")),
        );
    }
    crate::app::impact::check_then_confirm_batch(m, plans, left_out)
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
    let first = PlanPart {
        profile,
        plan: Arc::new(plan),
        selected,
        hidden,
        protected,
    };
    push_parts(m, first, Vec::new(), Vec::new());
}

/// Open a confirmation of one or more profiles' plans on top (`more` empty: one profile).
pub fn push_parts(m: &mut Model, first: PlanPart, more: Vec<PlanPart>, left_out: Vec<String>) {
    m.modals.push(Modal::Confirm(Box::new(ConfirmDelete {
        profile: first.profile,
        plan: first.plan,
        selected: first.selected,
        hidden: first.hidden,
        protected: first.protected,
        focus_delete: false,
        typed: LineInput::default(),
        scroll: 0,
        hint: None,
        more,
        left_out,
    })));
}

/// Profile `p`'s plan for `selected`, with the impact answers its tab holds.
fn rebuilt_plan(
    m: &Model,
    p: usize,
    selected: &[(Kind, String)],
    hidden: &[(Kind, String)],
    cascade: bool,
    skip_in_use: bool,
) -> Option<Arc<crate::ops::plan::DeletePlan>> {
    let tab = m.profiles.get(p)?;
    let mut plan = build_plan(&PlanRequest {
        spec: tab.spec,
        profile: &tab.info.name,
        all: &tab.resources,
        selected,
        hidden,
        cascade,
        skip_in_use,
    });
    // Impact was computed for every object the cascade can add before the dialog opened.
    plan.set_impacts(&tab.impacts, m.now);
    Some(Arc::new(plan))
}

/// Rebuild every part's plan with these options (a batch toggles them for all parts).
fn rebuild_confirm_plan(m: &Model, c: &mut ConfirmDelete, cascade: bool, skip_in_use: bool) {
    let Some(plan) = rebuilt_plan(m, c.profile, &c.selected, &c.hidden, cascade, skip_in_use)
    else {
        return;
    };
    c.plan = plan;
    for part in c.more.iter_mut() {
        if let Some(plan) = rebuilt_plan(
            m,
            part.profile,
            &part.selected,
            &part.hidden,
            cascade,
            skip_in_use,
        ) {
            part.plan = plan;
        }
    }
    c.typed.clear();
    c.hint = None;
    c.focus_delete = false;
}

fn typed_matches(c: &ConfirmDelete) -> bool {
    match c.confirmation() {
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
        let what = match c.confirmation() {
            Confirmation::TypeProfile(n) if n.contains(' ') && c.is_batch() => "profile names",
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
    let need = c.confirmation();
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
        Action::ToggleSkipInUse if c.parts().any(|(_, plan, _)| plan.in_use_selected > 0) => {
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
        Action::WritePlan => return (Step::Keep, write_plans(m, c)),
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

/// `w`: one plan file per profile of the dialog (what it shows now, cascade and impact
/// included), written off the event loop to `<data dir>/plans/`; the status line then says
/// where. Nothing is sent and the dialog stays open.
fn write_plans(m: &mut Model, c: &mut ConfirmDelete) -> Vec<Effect> {
    let mut effects = Vec::new();
    let mut names = Vec::new();
    for (p, plan, _) in c.parts() {
        if plan.is_empty() {
            continue;
        }
        let Some(tab) = m.profiles.get(p) else {
            continue;
        };
        let file = crate::ops::plan_file::PlanFile::of(plan, &tab.resources, &tab.tenant, m.now);
        let name = crate::ops::plan_file::file_name(&plan.profile, m.now);
        names.push(name.clone());
        effects.push(Effect::WritePlan {
            name,
            file: Box::new(file),
        });
    }
    c.hint = Some(if names.is_empty() {
        "nothing to write: the plan is empty".into()
    } else {
        format!(
            "writing {} to plans/ in the data dir (nothing is sent; `dsconsole apply FILE` runs it)",
            names.join(", ")
        )
    });
    effects
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
    if c.confirmation() == Confirmation::PressY {
        c.hint = Some("pasted text ignored: press y to delete, Esc to cancel".into());
    } else {
        for ch in text.trim().chars() {
            c.typed.insert(ch);
        }
        after_typing(c);
    }
}

/// Start the delete: the dialog closes and the progress view opens above where it was. A
/// batch starts one delete job per profile (an emptied part starts none) and shows the
/// first one's progress.
fn confirm_delete(m: &mut Model, c: &mut ConfirmDelete) -> (Step, Vec<Effect>) {
    if c.total() == 0 {
        c.hint = Some("nothing left to delete: Esc to close".into());
        return (Step::Keep, Vec::new());
    }
    let parts: Vec<(usize, Arc<DeletePlan>)> = c
        .parts()
        .filter(|(_, plan, _)| !plan.is_empty())
        .map(|(p, plan, _)| (p, plan.clone()))
        .collect();
    let first = m.next_job;
    m.next_job += parts.len() as u64;
    let batch: Vec<u64> = if c.is_batch() {
        (first..m.next_job).collect()
    } else {
        Vec::new()
    };
    let mut effects = Vec::new();
    let mut started = Vec::new();
    for (k, (profile, plan)) in parts.into_iter().enumerate() {
        let job = first + k as u64;
        let n = plan.steps.len();
        m.jobs.insert(
            job,
            Job {
                id: job,
                profile,
                kind: JobKind::Delete(DeleteJob {
                    plan: plan.clone(),
                    outcomes: vec![StepOutcome::NotStarted; n],
                    finished: false,
                    cancel_requested: false,
                    started_at: m.now,
                    finished_at: None,
                    errors: Vec::new(),
                    batch: batch.clone(),
                }),
            },
        );
        // Marks that were acted on are spent.
        if let Some(tab) = m.profiles.get_mut(profile) {
            for v in tab.views.iter_mut() {
                v.marks.clear();
                v.hidden_marked = 0;
                v.anchor = None;
            }
        }
        m.push_log(
            Level::Info,
            format!("delete job {job}: {n} objects on {}", plan.profile),
        );
        started.push(format!("{} {n}", plan.profile));
        effects.push(Effect::Delete { job, profile, plan });
    }
    m.modals.push(Modal::Progress {
        job: first,
        scroll: 0,
    });
    if c.is_batch() {
        let jobs = started.len();
        m.set_status(
            Level::Info,
            format!(
                "{jobs} delete job{} started: {} (Tab in the progress view shows each)",
                if jobs == 1 { "" } else { "s" },
                started.join(", ")
            ),
        );
    }
    (Step::Close, effects)
}
