//! "Recently deleted" (`:trash`): what this machine's audit log says was deleted, newest
//! first, with the words of `dsconsole deleted`; marked rows are restored through the plan
//! of `dsconsole restore` — secrets asked for once in a masked form, the plan confirmed
//! like a delete (typed count, protected profile name, `y` for one object), a job with
//! progress, the report in the log pane, the profile reloaded.

use super::Step;
use crate::app::effect::Effect;
use crate::app::keys::{lookup, Binding, HelpSection, Key};
use crate::app::state::*;
use crate::ops::deleted::DeletedObject;
use crate::ops::restore::{self, RestoreOutcome};
use crate::vendors::forms::{FieldKind, FieldSpec, FormSpec};
use crossterm::event::{KeyCode, KeyEvent};
use secrecy::SecretString;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Close,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Mark,
    Restore,
    Reread,
    Help,
}

use Key::{Char, Code};

pub const BINDINGS: &[Binding<Action>] = &[
    Binding::new(
        &[Code(KeyCode::Esc), Char('q')],
        "Esc / q",
        Action::Close,
        "close the view",
    ),
    Binding::new(&[Code(KeyCode::Up), Char('k')], "k / Up", Action::Up, "up"),
    Binding::new(
        &[Code(KeyCode::Down), Char('j')],
        "j / Down",
        Action::Down,
        "down",
    ),
    Binding::new(&[Code(KeyCode::PageUp)], "PgUp", Action::PageUp, "page up"),
    Binding::new(
        &[Code(KeyCode::PageDown)],
        "PgDn",
        Action::PageDown,
        "page down",
    ),
    Binding::new(
        &[Code(KeyCode::Home), Char('g')],
        "g / Home",
        Action::Top,
        "newest",
    ),
    Binding::new(
        &[Code(KeyCode::End), Char('G')],
        "G / End",
        Action::Bottom,
        "oldest",
    ),
    Binding::new(&[Char(' ')], "Space", Action::Mark, "mark / unmark the row"),
    Binding::new(
        &[Char('R'), Code(KeyCode::Enter)],
        "R / Enter",
        Action::Restore,
        "restore the marked rows (or the current one): the plan, then a typed confirmation",
    ),
    Binding::new(
        &[Char('r')],
        "r",
        Action::Reread,
        "read the audit log again",
    ),
];

pub fn help() -> HelpSection {
    HelpSection::of(
        "In \"Recently deleted\" (:trash)",
        BINDINGS,
        &[
            "the rows of one profile are restored together (like `dsconsole restore`)",
            "the restore confirmation: type the count (protected: the profile name) and Enter; y for one object; Esc cancels; a paste only fills the answer",
        ],
    )
}

/// `:trash`: open the view and read the audit log off the event loop.
pub fn open(m: &mut Model) -> Vec<Effect> {
    m.modals.retain(|d| !matches!(d, Modal::Trash(_)));
    m.modals.push(Modal::Trash(Box::default()));
    vec![Effect::ReadDeleted]
}

/// The audit log was read: newest first into the open view (if it is still open).
pub fn on_read(m: &mut Model, result: Result<Vec<DeletedObject>, String>) {
    let Some(t) = m.modals.iter_mut().find_map(|d| match d {
        Modal::Trash(t) => Some(t),
        _ => None,
    }) else {
        return;
    };
    let rows = result.map(|mut rows| {
        rows.reverse();
        rows
    });
    if let Ok(rows) = &rows {
        t.marked.retain(|r| {
            rows.iter()
                .any(|d| &d.reference == r && d.restored.is_none())
        });
        t.cursor = t.cursor.min(rows.len().saturating_sub(1));
    }
    t.rows = Some(rows);
}

pub fn on_key(m: &mut Model, t: &mut TrashView, key: &KeyEvent) -> (Step, Vec<Effect>) {
    let Some(action) = lookup(BINDINGS, key).map(|b| b.action) else {
        return (Step::Keep, Vec::new());
    };
    let n = t.list().len();
    let last = n.saturating_sub(1);
    t.hint = None;
    match action {
        Action::Close => return (Step::Close, Vec::new()),
        Action::Up => t.cursor = t.cursor.saturating_sub(1),
        Action::Down => t.cursor = (t.cursor + 1).min(last),
        Action::PageUp => t.cursor = t.cursor.saturating_sub(10),
        Action::PageDown => t.cursor = (t.cursor + 10).min(last),
        Action::Top => t.cursor = 0,
        Action::Bottom => t.cursor = last,
        Action::Mark => {
            if let Some(d) = t.list().get(t.cursor) {
                let r = d.reference.clone();
                if !t.marked.remove(&r) {
                    t.marked.insert(r);
                }
                t.cursor = (t.cursor + 1).min(last);
            }
        }
        Action::Reread => {
            t.rows = None;
            return (Step::Keep, vec![Effect::ReadDeleted]);
        }
        Action::Restore => plan_restore(m, t),
        Action::Help => m.modals.push(Modal::Help { scroll: 0 }),
    }
    (Step::Keep, Vec::new())
}

/// The objects asked for: the marked rows, else the current one.
fn asked(t: &TrashView) -> Vec<DeletedObject> {
    let rows = t.list();
    if t.marked.is_empty() {
        rows.get(t.cursor).cloned().into_iter().collect()
    } else {
        rows.iter()
            .filter(|d| t.marked.contains(&d.reference))
            .cloned()
            .collect()
    }
}

/// Plan the restore of what is asked, as `dsconsole restore` plans it, against what the
/// profile's tab holds now; open the secrets form (when the plan needs one) or the
/// confirmation. A refusal is said in the view.
fn plan_restore(m: &mut Model, t: &mut TrashView) {
    let asked = asked(t);
    let Some(first) = asked.first() else {
        t.hint = Some("nothing to restore".into());
        return;
    };
    let name = first.profile.clone();
    if let Some(other) = asked.iter().find(|d| d.profile != name) {
        t.hint = Some(format!(
            "marked rows of profiles '{name}' and '{}': restore one profile at a time",
            other.profile
        ));
        return;
    }
    let Some(p) = m.profiles.iter().position(|tab| tab.info.name == name) else {
        t.hint = Some(format!(
            "profile '{name}' is not open in this console: `dsconsole restore` restores it"
        ));
        return;
    };
    let tab = &m.profiles[p];
    if tab.info.read_only {
        t.hint = Some(format!("read-only: profile '{name}' does not restore"));
        return;
    }
    if !tab.usable() || tab.load != LoadState::Loaded {
        t.hint = Some(format!(
            "profile '{name}' is not loaded: the plan needs what it holds now"
        ));
        return;
    }
    let mut known = t.list().to_vec();
    known.reverse();
    let mut plan = match restore::plan(tab.spec, &name, asked, &tab.resources, &known, &[]) {
        Ok(plan) => plan,
        Err(e) => {
            t.hint = Some(e);
            return;
        }
    };
    plan.tenant = tab.tenant.clone();
    if plan.is_empty() {
        let why: Vec<String> = plan
            .refused
            .iter()
            .map(|(d, why)| format!("{} '{}': {why}", d.kind.singular(), d.name))
            .collect();
        t.hint = Some(format!("nothing to restore: {}", why.join("; ")));
        return;
    }
    let fields = plan.secret_fields();
    let confirm = ConfirmRestore {
        profile: p,
        plan: Arc::new(plan),
        protected: tab.info.protected,
        typed: LineInput::default(),
        hint: None,
        scroll: 0,
        secrets: Vec::new(),
    };
    if fields.is_empty() {
        m.modals.push(Modal::ConfirmRestore(Box::new(confirm)));
        return;
    }
    let n = confirm.plan.items.len();
    let spec = FormSpec {
        kind: confirm.plan.items[0].deleted.kind,
        title: format!(
            "Restore {n} object{}: what the audit log never keeps",
            if n == 1 { "" } else { "s" }
        ),
        fields: fields
            .iter()
            .map(|f| {
                FieldSpec::new(
                    f,
                    f,
                    FieldKind::Secret,
                    true,
                    "used for every object of the plan that needs it; never shown or logged",
                )
            })
            .collect(),
        build: |_| Err("a restore is confirmed, not built".into()),
    };
    let mut form = CreateForm::new(p, spec, &[], None);
    form.restore = Some(Box::new(confirm));
    m.modals.push(Modal::Create(Box::new(form)));
}

/// The secrets form was submitted: every field is needed; then the confirmation.
pub fn secrets_given(m: &mut Model, f: &mut CreateForm) -> (Step, Vec<Effect>) {
    if let Some(i) = (0..f.spec.fields.len()).find(|&i| f.secrets[i].is_empty()) {
        f.error = Some(format!("{} is needed to restore", f.spec.fields[i].key));
        f.focus = i;
        return (Step::Keep, Vec::new());
    }
    let Some(mut c) = f.restore.take() else {
        return (Step::Close, Vec::new());
    };
    c.secrets = f
        .spec
        .fields
        .iter()
        .enumerate()
        .map(|(i, field)| {
            (
                field.key.to_string(),
                SecretString::from(f.secrets[i].expose().to_string()),
            )
        })
        .collect();
    m.modals.push(Modal::ConfirmRestore(c));
    (Step::Close, Vec::new())
}

/// "Type 3 and Enter to restore 3 objects" (or the protected name).
pub fn prompt(c: &ConfirmRestore) -> String {
    let n = c.plan.items.len();
    let objects = format!("{n} object{}", if n == 1 { "" } else { "s" });
    if c.protected {
        format!(
            "Protected: type '{}' and Enter to restore {objects}",
            c.expected()
        )
    } else {
        let y = if n == 1 { " (or y)" } else { "" };
        format!("Type {n} and Enter{y} to restore {objects}")
    }
}

/// A key in the restore confirmation: Esc / Ctrl-C cancel; typed text is the answer; Enter
/// restores only when the answer is right; `y` restores one object of an unprotected
/// profile.
pub fn on_confirm_key(
    m: &mut Model,
    c: &mut ConfirmRestore,
    key: &KeyEvent,
) -> (Step, Vec<Effect>) {
    let expected = c.expected();
    let one_key = !c.protected && c.plan.items.len() == 1;
    match super::typed::on_key(
        &mut c.typed,
        &mut c.hint,
        &mut c.scroll,
        key,
        &expected,
        one_key,
    ) {
        super::typed::Answer::Cancel => cancel(m),
        super::typed::Answer::Confirm => (Step::Close, start(m, c)),
        super::typed::Answer::Wrong => {
            c.hint = Some(prompt(c));
            (Step::Keep, Vec::new())
        }
        super::typed::Answer::Keep => (Step::Keep, Vec::new()),
    }
}

/// Pasted text only fills the answer; it never confirms.
pub fn on_confirm_paste(c: &mut ConfirmRestore, text: &str) {
    super::typed::on_paste(&mut c.typed, text);
}

fn cancel(m: &mut Model) -> (Step, Vec<Effect>) {
    m.set_status(Level::Info, "restore cancelled: nothing was sent");
    (Step::Close, Vec::new())
}

fn start(m: &mut Model, c: &mut ConfirmRestore) -> Vec<Effect> {
    let job = m.next_job;
    m.next_job += 1;
    let total = c.plan.items.len();
    m.jobs.insert(
        job,
        Job {
            id: job,
            profile: c.profile,
            kind: JobKind::Restore {
                total,
                done: 0,
                plan: c.plan.clone(),
            },
        },
    );
    m.push_log(
        Level::Info,
        format!("restore job {job}: {total} objects on {}", c.plan.profile),
    );
    m.set_status(
        Level::Info,
        format!("restoring {total} object(s) in '{}'…", c.plan.profile),
    );
    vec![Effect::Restore {
        job,
        profile: c.profile,
        plan: c.plan.clone(),
        secrets: std::mem::take(&mut c.secrets),
    }]
}

/// One object of a restore job is done.
pub fn on_step(m: &mut Model, job: u64) {
    if let Some(Job {
        kind: JobKind::Restore { done, .. },
        ..
    }) = m.jobs.get_mut(&job)
    {
        *done += 1;
    }
}

/// A restore job ended: the report goes to the log pane, the summary to the status line;
/// the profile reloads (the report names each new id) and an open
/// trash view reads the audit log again.
pub fn on_finished(
    m: &mut Model,
    job: u64,
    profile: usize,
    outcomes: &[RestoreOutcome],
) -> Vec<Effect> {
    let plan = match m.jobs.remove(&job) {
        Some(Job {
            kind: JobKind::Restore { plan, .. },
            ..
        }) => plan,
        _ => return Vec::new(),
    };
    let restored: Vec<&crate::model::Resource> = outcomes
        .iter()
        .filter_map(|o| match o {
            RestoreOutcome::Restored(r) => Some(r.as_ref()),
            _ => None,
        })
        .collect();
    let ok = restored.len();
    if let [r] = restored.as_slice() {
        m.push_log(
            Level::Info,
            format!("{} '{}' restored as {}", r.kind.singular(), r.name, r.id),
        );
    }
    let level = if ok == outcomes.len() && plan.refused.is_empty() {
        Level::Info
    } else {
        Level::Warn
    };
    for line in restore::report_text(&plan, outcomes).lines() {
        m.push_log(level, format!("{}: {line}", plan.profile));
    }
    let text = match (outcomes, plan.items.as_slice()) {
        ([o], [item]) => format!(
            "{}: {} '{}' {} (L shows the report)",
            plan.profile,
            item.deleted.kind.singular(),
            item.deleted.name,
            o.word()
        ),
        _ => format!(
            "{}: {ok} of {} restored (L shows the report)",
            plan.profile,
            outcomes.len()
        ),
    };
    m.set_status(level, text);
    let mut fx = crate::app::load::start_load(m, profile);
    if m.modals.iter().any(|d| matches!(d, Modal::Trash(_))) {
        fx.push(Effect::ReadDeleted);
    }
    fx
}
