//! Edit (`e`): the fields the vendor lets a client change, filled in with what the object
//! has (secrets empty: write-only). Submitting reviews the change — only the fields that
//! differ — as a plan confirmed like a delete (typed count, or the protected profile's
//! name; a paste or a stray Enter never confirms); it runs as a job with an audit line
//! before and after each request, and the profile reloads to show the server's state.

use super::Step;
use crate::app::effect::Effect;
use crate::app::state::*;
use crate::ops::change::{ChangeOutcome, ChangePlan};
use crate::vendors::change::{Change, FieldValue};
use crate::vendors::forms::{FieldKind, FieldSpec, FormSpec};
use crossterm::event::KeyEvent;
use secrecy::SecretString;
use std::sync::Arc;

const SECRET_HINT: &str = "write-only: leave empty to keep it";

/// `e`: the edit form of the current row.
pub fn open(m: &mut Model) -> Vec<Effect> {
    if m.refuses_change("change objects") {
        return Vec::new();
    }
    let p = m.active;
    let tab = &m.profiles[p];
    let Some(r) = tab.current() else {
        m.set_status(Level::Info, "no row to edit");
        return Vec::new();
    };
    let fields = (tab.spec.edit_fields)(r.kind);
    if fields.is_empty() {
        let text = format!(
            "{} {} cannot be changed through the API",
            tab.spec.vendor.display(),
            r.kind
        );
        m.set_status(Level::Info, text);
        return Vec::new();
    }
    let specs: Vec<FieldSpec> = fields
        .iter()
        .map(|f| {
            let hint = match (f.help.is_empty(), f.secret) {
                (false, _) => f.help,
                (true, true) => SECRET_HINT,
                (true, false) => "",
            };
            let kind = if f.secret {
                FieldKind::Secret
            } else {
                FieldKind::Text
            };
            FieldSpec::new(f.name, f.label, kind, false, hint)
        })
        .collect();
    let initial: Vec<String> = fields
        .iter()
        .map(|f| {
            if f.secret || f.pointer.is_empty() {
                String::new()
            } else {
                r.raw.pointer_str(f.pointer).unwrap_or_default()
            }
        })
        .collect();
    let spec = FormSpec {
        kind: r.kind,
        title: format!("Edit {}", r.as_ref().label()),
        fields: specs,
        build: |_| Err("an edit form is reviewed, not built".into()),
    };
    let edit = EditTarget {
        targets: vec![(p, r.as_ref())],
        initial: initial.clone(),
    };
    let form = CreateForm::new(p, spec, &initial, Some(Box::new(edit)));
    m.modals.push(Modal::Create(Box::new(form)));
    Vec::new()
}

/// A change applied to many objects at once: a new password (rotate) or a new owner
/// (transfer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bulk {
    Rotate,
    Transfer,
    /// To another space (Qlik).
    Move,
}

impl Bulk {
    /// The edit field an object's vendor must offer for it.
    fn field(self) -> &'static str {
        match self {
            Bulk::Rotate => "password",
            Bulk::Transfer => "owner",
            Bulk::Move => "space",
        }
    }

    fn verb(self) -> &'static str {
        match self {
            Bulk::Rotate => "rotate",
            Bulk::Transfer => "transfer",
            Bulk::Move => "move",
        }
    }

    fn lacking(self) -> &'static str {
        match self {
            Bulk::Rotate => "have no password dsconsole can change",
            Bulk::Transfer => "have no owner dsconsole can change",
            Bulk::Move => "cannot be moved to another space",
        }
    }

    fn hint(self) -> &'static str {
        match self {
            Bulk::Rotate => {
                "mark MicroStrategy logins, Qlik connections, Basedash or Databrain datasources"
            }
            Bulk::Transfer => {
                "mark MicroStrategy or Qlik objects (Basedash and Databrain objects have no owner)"
            }
            Bulk::Move => "mark Qlik connections (the only objects that live in spaces)",
        }
    }
}

/// The marked rows — in the All tab, of every profile — or the current row, as
/// (profile, kind, id) groups.
fn selection(m: &Model) -> Vec<(usize, Vec<(crate::model::Kind, String)>)> {
    if m.all.open {
        let marked = crate::app::all::marks_by_profile(m);
        if !marked.is_empty() {
            return marked;
        }
        return match crate::app::all::current(m) {
            Some((p, r)) => vec![(p, vec![(r.kind, r.id.to_string())])],
            None => Vec::new(),
        };
    }
    let p = m.active;
    let Some(tab) = m.tab() else {
        return Vec::new();
    };
    let Some(view) = tab.view() else {
        return Vec::new();
    };
    let keys: Vec<_> = if view.marks.is_empty() {
        tab.current()
            .map(|r| vec![(r.kind, r.id.to_string())])
            .unwrap_or_default()
    } else {
        view.marks
            .iter()
            .map(|id| (view.kind, id.clone()))
            .collect()
    };
    vec![(p, keys)]
}

/// `P` / `:rotate` (a new password, and if typed a user name) and `:transfer` (a new owner)
/// for the marked rows — in the All tab, the marked rows of every profile — or the current
/// row, as one plan per profile confirmed once. Only objects whose vendor lets a client
/// change that field are taken; read-only profiles are left out; the status line says so.
pub fn open_bulk(m: &mut Model, bulk: Bulk) -> Vec<Effect> {
    use crate::model::Ref;
    let mut targets: Vec<(usize, Ref)> = Vec::new();
    let mut left_out: Vec<String> = Vec::new();
    for (p, keys) in selection(m) {
        let Some(tab) = m.profiles.get(p) else {
            continue;
        };
        if tab.info.read_only {
            left_out.push(format!("'{}' is read-only", tab.info.name));
            continue;
        }
        let mut skipped = 0;
        for (kind, id) in keys {
            let offered = (tab.spec.edit_fields)(kind)
                .iter()
                .any(|f| f.name == bulk.field() && f.secret == (bulk == Bulk::Rotate));
            match tab.resources.iter().find(|r| r.kind == kind && r.id == id) {
                Some(r) if offered => targets.push((p, r.as_ref())),
                _ => skipped += 1,
            }
        }
        if skipped > 0 {
            left_out.push(format!(
                "{skipped} in '{}' {}",
                tab.info.name,
                bulk.lacking()
            ));
        }
    }
    if targets.is_empty() {
        let why = if left_out.is_empty() {
            String::new()
        } else {
            format!(" ({})", left_out.join("; "))
        };
        m.set_status(
            Level::Warn,
            format!("nothing to {}{why}: {}", bulk.verb(), bulk.hint()),
        );
        return Vec::new();
    }
    if !left_out.is_empty() {
        m.set_status(Level::Warn, format!("left out: {}", left_out.join("; ")));
    }
    let profiles = {
        let mut ps: Vec<usize> = targets.iter().map(|(p, _)| *p).collect();
        ps.dedup();
        ps.len()
    };
    let (title, fields) = match bulk {
        Bulk::Rotate => (
            format!(
                "Rotate the password of {} object(s) in {profiles} profile(s)",
                targets.len()
            ),
            vec![
                FieldSpec::new(
                    "password",
                    "New password",
                    FieldKind::Secret,
                    true,
                    "read once, never shown or logged",
                ),
                FieldSpec::new(
                    "username",
                    "New user name",
                    FieldKind::Text,
                    false,
                    "leave empty to keep each object's",
                ),
            ],
        ),
        Bulk::Move => (
            format!(
                "Move {} object(s) in {profiles} profile(s) to another space",
                targets.len()
            ),
            vec![FieldSpec::new(
                "space",
                "Space",
                FieldKind::Text,
                true,
                "a space name or id, or 'personal'",
            )],
        ),
        Bulk::Transfer => (
            format!(
                "Transfer {} object(s) in {profiles} profile(s) to a new owner",
                targets.len()
            ),
            vec![FieldSpec::new(
                "owner",
                "New owner",
                FieldKind::Text,
                true,
                "a user id, or the name or email of someone who owns a loaded object",
            )],
        ),
    };
    let n = fields.len();
    let spec = FormSpec {
        kind: targets[0].1.kind,
        title,
        fields,
        build: |_| Err("a change of many objects is reviewed, not built".into()),
    };
    let profile = targets[0].0;
    let edit = EditTarget {
        targets,
        initial: vec![String::new(); n],
    };
    let form = CreateForm::new(profile, spec, &[], Some(Box::new(edit)));
    m.modals.push(Modal::Create(Box::new(form)));
    Vec::new()
}

/// `P` / `:rotate`.
pub fn open_rotate(m: &mut Model) -> Vec<Effect> {
    open_bulk(m, Bulk::Rotate)
}

/// The change the form describes: the text fields that differ from what they were, the
/// secrets that were typed.
fn change_of(f: &CreateForm, edit: &EditTarget) -> Change {
    let mut change = Change::default();
    for (i, field) in f.spec.fields.iter().enumerate() {
        if f.is_secret(i) {
            if !f.secrets[i].is_empty() {
                let secret = SecretString::from(f.secrets[i].expose().to_string());
                change = change.set(field.key, FieldValue::Secret(secret));
            }
            continue;
        }
        let now = f.texts[i].text.trim();
        let was = edit.initial.get(i).map(|s| s.trim()).unwrap_or("");
        if now != was {
            let value = if now.is_empty() {
                FieldValue::Unset
            } else {
                FieldValue::Text(now.to_string())
            };
            change = change.set(field.key, value);
        }
    }
    change
}

/// Ctrl-S (or Enter on the last field) in an edit form: the plan of what changed, in its
/// confirmation; the form closes. A change the vendor would not take stays in the form
/// with the reason.
pub fn review(m: &mut Model, f: &mut CreateForm) -> (Step, Vec<Effect>) {
    let Some(edit) = f.edit.as_deref() else {
        return (Step::Keep, Vec::new());
    };
    let change = change_of(f, edit);
    for (i, field) in f.spec.fields.iter().enumerate() {
        let empty = if f.is_secret(i) {
            f.secrets[i].is_empty()
        } else {
            f.texts[i].text.trim().is_empty()
        };
        if field.required && empty {
            f.error = Some(if f.is_secret(i) {
                "type the new password (it is read once, never shown)".into()
            } else {
                format!("type the {}", field.label.to_lowercase())
            });
            return (Step::Keep, Vec::new());
        }
    }
    if change.is_empty() {
        f.error = Some("nothing changed: edit a field (or Esc to leave)".into());
        return (Step::Keep, Vec::new());
    }
    // One plan per profile, in the order the targets came.
    let mut profiles: Vec<usize> = Vec::new();
    for (p, _) in &edit.targets {
        if !profiles.contains(p) {
            profiles.push(*p);
        }
    }
    let mut plans = Vec::new();
    for p in profiles {
        let Some(tab) = m.profiles.get(p) else {
            continue;
        };
        let changes: Vec<_> = edit
            .targets
            .iter()
            .filter(|(q, _)| *q == p)
            .map(|(_, r)| (r.clone(), change.clone()))
            .collect();
        match crate::ops::change::plan(tab.spec, &tab.info.name, &tab.resources, changes) {
            Ok(mut plan) => {
                plan.tenant = tab.tenant.clone();
                plans.push((p, plan))
            }
            Err(e) => {
                f.error = Some(if edit.targets.len() > 1 {
                    format!("{}: {e}", tab.info.name)
                } else {
                    e
                });
                return (Step::Keep, Vec::new());
            }
        }
    }
    open_confirm(m, plans);
    (Step::Close, Vec::new())
}

/// Open the confirmation of `plans` (one per profile).
pub fn open_confirm(m: &mut Model, plans: Vec<(usize, ChangePlan)>) {
    let protected: Vec<String> = plans
        .iter()
        .filter_map(|(p, _)| m.profiles.get(*p))
        .filter(|t| t.info.protected)
        .map(|t| t.info.name.clone())
        .collect();
    m.modals.push(Modal::ConfirmChange(Box::new(ConfirmChange {
        plans: plans
            .into_iter()
            .map(|(p, plan)| (p, Arc::new(plan)))
            .collect(),
        protected,
        typed: LineInput::default(),
        hint: None,
        scroll: 0,
    })));
}

/// A key in the change confirmation. Esc / Ctrl-C cancel; what is typed goes into the
/// answer; Enter confirms only when the answer is right; `y` confirms one object of an
/// unprotected profile.
pub fn on_confirm_key(m: &mut Model, c: &mut ConfirmChange, key: &KeyEvent) -> (Step, Vec<Effect>) {
    let expected = c.expected();
    let one_key = c.protected.is_empty() && c.total() == 1;
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

/// Pasted text is only text: it fills the answer, it never confirms.
pub fn on_confirm_paste(c: &mut ConfirmChange, text: &str) {
    super::typed::on_paste(&mut c.typed, text);
}

/// "Type 3 and Enter to change 3 objects" (or the protected names).
pub fn prompt(c: &ConfirmChange) -> String {
    let total = c.total();
    let objects = format!("{total} object{}", if total == 1 { "" } else { "s" });
    if c.protected.is_empty() {
        let y = if total == 1 { " (or y)" } else { "" };
        format!("Type {total} and Enter{y} to change {objects}")
    } else {
        format!(
            "Protected: type '{}' and Enter to change {objects}",
            c.expected()
        )
    }
}

fn cancel(m: &mut Model) -> (Step, Vec<Effect>) {
    m.set_status(Level::Info, "change cancelled: nothing was sent");
    (Step::Close, Vec::new())
}

/// One change job per plan.
fn start(m: &mut Model, c: &ConfirmChange) -> Vec<Effect> {
    let mut fx = Vec::new();
    for (p, plan) in &c.plans {
        let job = m.next_job;
        m.next_job += 1;
        m.jobs.insert(
            job,
            Job {
                id: job,
                profile: *p,
                kind: JobKind::Change {
                    total: plan.items.len(),
                    done: 0,
                    failed: 0,
                    plan: plan.clone(),
                },
            },
        );
        fx.push(Effect::Update {
            job,
            profile: *p,
            plan: plan.clone(),
        });
    }
    m.set_status(Level::Info, format!("changing {} object(s)…", c.total()));
    fx
}

/// One object of a change job is done.
pub fn on_step(m: &mut Model, job: u64, outcome: &ChangeOutcome) {
    if let Some(Job {
        kind: JobKind::Change { done, failed, .. },
        ..
    }) = m.jobs.get_mut(&job)
    {
        *done += 1;
        if !outcome.is_success() {
            *failed += 1;
        }
    }
}

/// A change job ended: its report goes to the log pane, its summary to the status line,
/// and the profile reloads so the table shows what the server has.
pub fn on_finished(
    m: &mut Model,
    job: u64,
    profile: usize,
    outcomes: &[ChangeOutcome],
) -> Vec<Effect> {
    let plan = match m.jobs.remove(&job) {
        Some(Job {
            kind: JobKind::Change { plan, .. },
            ..
        }) => plan,
        _ => return Vec::new(),
    };
    let name = m
        .profiles
        .get(profile)
        .map(|t| t.info.name.clone())
        .unwrap_or_default();
    let ok = outcomes.iter().filter(|o| o.is_success()).count();
    let level = if ok == outcomes.len() {
        Level::Info
    } else {
        Level::Warn
    };
    for line in crate::ops::change::report_text(&plan, outcomes).lines() {
        m.push_log(level, format!("{name}: {line}"));
    }
    let text = match (outcomes, plan.items.as_slice()) {
        ([o], [item]) => format!(
            "{name}: {} {} (L shows the report)",
            item.target.label(),
            o.word()
        ),
        _ => format!(
            "{name}: {ok} of {} changed without a failed test (L shows the report)",
            outcomes.len()
        ),
    };
    m.set_status(level, text);
    // A passed test after the change (or the server's own test before it stored the new
    // credentials) replaces the failed result the operator changed it for.
    for (item, outcome) in plan.items.iter().zip(outcomes) {
        for id in passed_connections(item, outcome) {
            let ok = crate::ops::connection_tests::health_of(&Ok(()));
            crate::app::jobs::set_connection_health(m, profile, &id, ok);
        }
    }
    crate::app::load::start_load(m, profile)
}

/// The connections a change proved to work: the ones tested after it when every test
/// passed, or the object itself when the server tests credentials before storing them.
fn passed_connections(
    item: &crate::ops::change::ChangeItem,
    outcome: &ChangeOutcome,
) -> Vec<String> {
    use crate::model::Kind;
    use crate::ops::change::{Verification, Verify};
    let tested: Vec<&crate::model::Ref> = match (outcome, &item.verify) {
        (ChangeOutcome::Changed(Verification::ByServer), _)
        | (ChangeOutcome::Changed(Verification::Passed(_)), Verify::Itself) => vec![&item.target],
        (ChangeOutcome::Changed(Verification::Passed(_)), Verify::Users(refs)) => {
            refs.iter().collect()
        }
        _ => Vec::new(),
    };
    tested
        .into_iter()
        .filter(|r| r.kind == Kind::Connections)
        .map(|r| r.id.to_string())
        .collect()
}
