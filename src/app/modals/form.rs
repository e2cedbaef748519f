//! The create form: fields, choices that follow each other, and the request it sends.

use super::Step;
use crate::app::effect::Effect;
use crate::app::keys::{lookup, typed_char, Binding, HelpSection, Key};
use crate::app::state::*;
use crate::vendors::create_form;
use crate::vendors::forms::FieldKind;
use crossterm::event::{KeyCode, KeyEvent};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Cancel,
    Prev,
    Next,
    Submit,
    /// Enter: the next field; on the last one, create.
    Enter,
    Left,
    Right,
    Backspace,
    /// A typed character (a text field's text, a choice field's filter).
    Type,
}

use Key::{Code, Ctrl, Shift};

pub const BINDINGS: &[Binding<Action>] = &[
    Binding::new(
        &[Code(KeyCode::Esc)],
        "Esc",
        Action::Cancel,
        "cancel: nothing is sent",
    ),
    Binding::new(
        &[
            Shift(KeyCode::Tab),
            Code(KeyCode::BackTab),
            Code(KeyCode::Up),
        ],
        "Shift-Tab / Up",
        Action::Prev,
        "previous field",
    ),
    Binding::new(
        &[Code(KeyCode::Tab), Code(KeyCode::Down)],
        "Tab / Down",
        Action::Next,
        "next field",
    ),
    Binding::new(&[Ctrl('s')], "Ctrl-S", Action::Submit, "create"),
    Binding::new(
        &[Code(KeyCode::Enter)],
        "Enter",
        Action::Enter,
        "next field; on the last one, create",
    ),
    Binding::new(
        &[Code(KeyCode::Left)],
        "Left",
        Action::Left,
        "choice: previous option; text: cursor left",
    ),
    Binding::new(
        &[Code(KeyCode::Right)],
        "Right",
        Action::Right,
        "choice: next option; text: cursor right",
    ),
    Binding::new(
        &[Code(KeyCode::Backspace)],
        "Backspace",
        Action::Backspace,
        "delete the character before the cursor",
    ),
    Binding::new(
        &[],
        "text",
        Action::Type,
        "typed (or pasted) into the field; in a choice it filters the options",
    ),
];

pub fn help() -> HelpSection {
    HelpSection::of("In a create form (n)", BINDINGS, &[])
}

/// `n`: open the create form of the current kind.
pub fn open(m: &mut Model) -> Vec<Effect> {
    if m.refuses_change("create") {
        return Vec::new();
    }
    let p = m.active;
    let tab = &m.profiles[p];
    let Some(kind) = tab.view().map(|v| v.kind) else {
        return Vec::new();
    };
    let Some(spec) = create_form(tab.info.vendor, kind, &tab.resources) else {
        let text = format!("{} cannot create {kind} here", tab.info.vendor);
        m.set_status(Level::Info, text);
        return Vec::new();
    };
    m.modals
        .push(Modal::Create(Box::new(CreateForm::new(p, spec, &[], None))));
    Vec::new()
}

/// A key for the form on top. Every key stops here.
pub fn on_key(m: &mut Model, f: &mut CreateForm, key: &KeyEvent) -> (Step, Vec<Effect>) {
    let n = f.spec.fields.len().max(1);
    let action = match lookup(BINDINGS, key) {
        Some(b) => b.action,
        None if typed_char(key).is_some() => Action::Type,
        None => return (Step::Keep, Vec::new()),
    };
    if f.submitting {
        if action == Action::Cancel {
            f.error = Some("waiting for the server; the request was already sent".into());
        }
        return (Step::Keep, Vec::new());
    }
    let focus = f.focus;
    let is_choice = matches!(
        f.spec.fields.get(focus).map(|fs| &fs.kind),
        Some(FieldKind::Choice(_))
    );
    match action {
        Action::Cancel => {
            let what = if f.restore.is_some() {
                "restore"
            } else if f.edit.is_some() {
                "edit"
            } else {
                "create"
            };
            m.set_status(Level::Info, format!("{what} cancelled: nothing was sent"));
            return (Step::Close, Vec::new());
        }
        Action::Submit if f.restore.is_some() => return super::trash::secrets_given(m, f),
        Action::Enter if f.restore.is_some() && focus + 1 >= n => {
            return super::trash::secrets_given(m, f)
        }
        Action::Submit if f.edit.is_some() => return super::edit::review(m, f),
        Action::Enter if f.edit.is_some() && focus + 1 >= n => return super::edit::review(m, f),
        Action::Prev => f.focus = (focus + n - 1) % n,
        Action::Next => f.focus = (focus + 1) % n,
        Action::Submit => return (Step::Keep, submit_form(m, f)),
        Action::Enter => {
            if focus + 1 >= n {
                return (Step::Keep, submit_form(m, f));
            }
            f.focus += 1;
        }
        Action::Left | Action::Right if is_choice => {
            let matches = f.matching_options(focus);
            if !matches.is_empty() {
                let len = matches.len();
                let at = f.choices[focus].and_then(|c| matches.iter().position(|&k| k == c));
                let right = action == Action::Right;
                let next = match (at, right) {
                    (None, true) => 0,
                    (None, false) => len - 1,
                    (Some(p), true) => (p + 1) % len,
                    (Some(p), false) => (p + len - 1) % len,
                };
                set_choice(f, focus, Some(matches[next]));
                f.error = None;
            }
        }
        Action::Left if f.is_secret(focus) => f.secrets[focus].left(),
        Action::Right if f.is_secret(focus) => f.secrets[focus].right(),
        Action::Left => f.texts[focus].left(),
        Action::Right => f.texts[focus].right(),
        Action::Backspace if is_choice => {
            f.filters[focus].backspace();
            refilter_choice(f, focus);
        }
        Action::Backspace => {
            if f.is_secret(focus) {
                f.secrets[focus].backspace();
            } else {
                f.texts[focus].backspace();
            }
            f.mismatch_warned = false;
        }
        Action::Type => {
            let Some(c) = typed_char(key) else {
                return (Step::Keep, Vec::new());
            };
            if is_choice {
                f.filters[focus].insert(c);
                f.error = None;
                refilter_choice(f, focus);
            } else {
                if f.is_secret(focus) {
                    f.secrets[focus].insert(c);
                } else {
                    f.texts[focus].insert(c);
                }
                f.error = None;
                f.mismatch_warned = false;
            }
        }
    }
    (Step::Keep, Vec::new())
}

/// Pasted text goes into the focused field, unless the request is already on its way.
pub fn on_paste(f: &mut CreateForm, text: &str) {
    if !f.submitting {
        paste_into_form(f, text);
    }
}

/// Pasted text into the focused field of a form: text and secret fields take it as typed,
/// a choice field as its filter.
fn paste_into_form(f: &mut CreateForm, text: &str) {
    let focus = f.focus;
    let Some(field) = f.spec.fields.get(focus) else {
        return;
    };
    if field.kind == FieldKind::Secret {
        if let Some(secret) = f.secrets.get_mut(focus) {
            for ch in text.chars() {
                secret.insert(ch);
            }
        }
        return;
    }
    let input = if matches!(field.kind, FieldKind::Choice(_)) {
        f.filters.get_mut(focus)
    } else {
        f.texts.get_mut(focus)
    };
    if let Some(input) = input {
        for ch in text.chars() {
            input.insert(ch);
        }
    }
    f.error = None;
    f.mismatch_warned = false;
    if matches!(field.kind, FieldKind::Choice(_)) {
        refilter_choice(f, focus);
    }
}

/// After choice field `i`'s filter changed: keep the choice if it still matches, else take
/// the first match, else choose nothing (so nothing unintended can be sent).
fn refilter_choice(f: &mut CreateForm, i: usize) {
    let matches = f.matching_options(i);
    let current = f.choices.get(i).copied().flatten();
    let next = match current {
        Some(c) if matches.contains(&c) => Some(c),
        _ => matches.first().copied(),
    };
    set_choice(f, i, next);
}

/// Choose option `choice` of field `i`, and let the fields that follow it follow.
fn set_choice(f: &mut CreateForm, i: usize, choice: Option<usize>) {
    let Some(slot) = f.choices.get_mut(i) else {
        return;
    };
    if *slot == choice {
        return;
    }
    *slot = choice;
    f.mismatch_warned = false;
    let leader = choice.and_then(|c| match &f.spec.fields[i].kind {
        FieldKind::Choice(options) => options.get(c).cloned(),
        _ => None,
    });
    let Some(leader) = leader else {
        return;
    };
    for j in 0..f.spec.fields.len() {
        let Some(follow) = f.spec.fields[j].follows.filter(|fl| fl.field == i) else {
            continue;
        };
        let FieldKind::Choice(options) = &f.spec.fields[j].kind else {
            continue;
        };
        let Some(want) = leader.value.get(follow.key).filter(|v| !v.is_null()) else {
            f.note = Some(format!(
                "{} does not say {}: choose the {} yourself",
                leader.label, follow.what, f.spec.fields[j].label
            ));
            continue;
        };
        // Of the options of the wanted kind, the one that agrees on most else (a version).
        let agree = |o: &crate::vendors::forms::Choice| -> usize {
            match (o.value.as_object(), leader.value.as_object()) {
                (Some(a), Some(b)) => a.iter().filter(|(k, v)| b.get(*k) == Some(*v)).count(),
                _ => 0,
            }
        };
        let best = options
            .iter()
            .enumerate()
            .filter(|(_, o)| o.value.get(follow.key) == Some(want))
            .max_by_key(|(k, o)| (agree(o), std::cmp::Reverse(*k)))
            .map(|(k, _)| k);
        match best {
            Some(k) => {
                f.choices[j] = Some(k);
                f.filters[j].clear();
                f.note = Some(format!(
                    "{} set to {} from {} {}",
                    f.spec.fields[j].label, options[k].label, f.spec.fields[i].label, leader.label
                ));
            }
            None => {
                f.choices[j] = None;
                f.note = Some(format!(
                    "no {} matches {} ({}): choose one",
                    f.spec.fields[j].label,
                    follow.what,
                    want.as_str().unwrap_or("?")
                ));
            }
        }
    }
}

/// A linked pair of choices that differ (a DBMS that is not the connection's type), as a
/// sentence, or `None` when every pair matches.
fn choice_mismatch(f: &CreateForm) -> Option<String> {
    let chosen = |i: usize| -> Option<&crate::vendors::forms::Choice> {
        match &f.spec.fields.get(i)?.kind {
            FieldKind::Choice(options) => options.get(f.choices.get(i).copied().flatten()?),
            _ => None,
        }
    };
    f.spec.fields.iter().enumerate().find_map(|(j, field)| {
        let follow = field.follows?;
        let (lead, mine) = (chosen(follow.field)?, chosen(j)?);
        let want = lead.value.get(follow.key).filter(|v| !v.is_null())?;
        let have = mine.value.get(follow.key).filter(|v| !v.is_null())?;
        (want != have).then(|| {
            format!(
                "{} {} is not {} ({}): Ctrl-S again to create it anyway, or choose another",
                field.label,
                mine.label,
                follow.what,
                want.as_str().unwrap_or("?")
            )
        })
    })
}

fn submit_form(m: &mut Model, f: &mut CreateForm) -> Vec<Effect> {
    if !f.mismatch_warned {
        if let Some(why) = choice_mismatch(f) {
            f.error = Some(why);
            f.mismatch_warned = true;
            return Vec::new();
        }
    }
    let values: Vec<serde_json::Value> = f
        .spec
        .fields
        .iter()
        .enumerate()
        .map(|(i, field)| match &field.kind {
            FieldKind::Choice(options) => f.choices[i]
                .and_then(|c| options.get(c))
                .map(|c| c.value.clone())
                .unwrap_or(serde_json::Value::Null),
            FieldKind::Secret => serde_json::Value::String(f.secrets[i].expose().to_string()),
            FieldKind::Text => serde_json::Value::String(f.texts[i].text.clone()),
        })
        .collect();
    match (f.spec.build)(&values) {
        Err(e) => {
            f.error = Some(e);
            Vec::new()
        }
        Ok(body) => {
            f.submitting = true;
            f.error = None;
            let job = m.next_job;
            m.next_job += 1;
            let name = body
                .get("name")
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string();
            let label = format!("{} '{}'", f.spec.kind.singular(), name);
            m.jobs.insert(
                job,
                Job {
                    id: job,
                    profile: f.profile,
                    kind: JobKind::Create {
                        label: label.clone(),
                    },
                },
            );
            m.set_status(Level::Info, format!("creating {label}…"));
            vec![Effect::Create {
                job,
                profile: f.profile,
                kind: f.spec.kind,
                body: crate::redact::SensitiveJson(body),
            }]
        }
    }
}
