//! "Recently deleted" (`:trash`): the audit log read off the event loop, marks, and a
//! restore planned like `dsconsole restore`, secrets asked once, confirmed like a delete.

use super::*;
use crate::app::fixtures::*;
use crate::model::{Kind, VendorId};
use crate::ops::restore::RestoreOutcome;
use secrecy::ExposeSecret;
use serde_json::json;

/// `:trash` with the audit log answered.
pub(crate) fn open_trash(m: &mut Model) {
    ch(m, ':');
    typed(m, "trash");
    let fx = key(m, KeyCode::Enter);
    assert!(
        fx.iter().any(|e| matches!(e, Effect::ReadDeleted)),
        "the audit log is read off the event loop: {fx:?}"
    );
    assert!(matches!(m.modals.last(), Some(Modal::Trash(t)) if t.rows.is_none()));
    update(m, Msg::DeletedRead(Ok(audit_rows())));
}

fn trash(m: &Model) -> &TrashView {
    match m.modals.last() {
        Some(Modal::Trash(t)) => t,
        other => panic!("trash view on top, not {other:?}"),
    }
}

fn confirm_restore(m: &Model) -> &ConfirmRestore {
    match m.modals.last() {
        Some(Modal::ConfirmRestore(c)) => c,
        other => panic!("restore confirmation on top, not {other:?}"),
    }
}

#[test]
fn trash_lists_newest_first_and_esc_closes_it() {
    let mut m = loaded_model();
    open_trash(&mut m);
    let names: Vec<&str> = trash(&m).list().iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["etl", "Old Sales"]);
    key(&mut m, KeyCode::Esc);
    assert!(m.modals.is_empty());
}

#[test]
fn one_object_restores_with_y_never_with_enter_or_a_paste() {
    let mut m = loaded_model();
    open_trash(&mut m);
    key(&mut m, KeyCode::Down);
    assert!(ch(&mut m, 'R').is_empty());
    let c = confirm_restore(&m);
    assert_eq!(c.plan.items.len(), 1);
    assert_eq!(c.expected(), "1");
    // A stray Enter and a paste do not confirm.
    assert!(key(&mut m, KeyCode::Enter).is_empty());
    update(&mut m, Msg::Paste("y\r".into()));
    assert!(m.jobs.is_empty());
    assert_eq!(
        confirm_restore(&m).typed.text.trim(),
        "y",
        "a paste is text"
    );
    key(&mut m, KeyCode::Backspace);
    key(&mut m, KeyCode::Backspace);
    let fx = ch(&mut m, 'y');
    let [Effect::Restore { plan, secrets, .. }] = fx.as_slice() else {
        panic!("one restore job: {fx:?}");
    };
    assert_eq!(plan.items[0].deleted.name, "Old Sales");
    assert!(secrets.is_empty());
    assert!(
        matches!(m.modals.last(), Some(Modal::Trash(_))),
        "back to the view"
    );
    // Its report goes to the log, the profile reloads and the view reads the log again.
    let job = *m.jobs.keys().next().expect("job");
    let mut r = crate::model::Resource::new(
        VendorId::MicroStrategy,
        "prod",
        Kind::Datasources,
        "NEW",
        "Old Sales",
    );
    r.raw = json!({}).into();
    update(&mut m, Msg::RestoreStep { job });
    let fx = update(
        &mut m,
        Msg::RestoreFinished {
            job,
            profile: 0,
            outcomes: vec![RestoreOutcome::Restored(Box::new(r))],
        },
    );
    assert!(
        fx.iter()
            .any(|e| matches!(e, Effect::Load { profile: 0, .. })),
        "{fx:?}"
    );
    assert!(
        fx.iter().any(|e| matches!(e, Effect::ReadDeleted)),
        "{fx:?}"
    );
    assert!(status_text(&m).contains("restored"), "{}", status_text(&m));
    assert!(m.log.iter().any(|l| l.text.contains("restored as NEW")));
}

#[test]
fn marked_rows_ask_for_the_password_once_then_the_count() {
    let mut m = loaded_model();
    open_trash(&mut m);
    ch(&mut m, ' ');
    ch(&mut m, ' ');
    assert_eq!(trash(&m).marked.len(), 2);
    ch(&mut m, 'R');
    let Some(Modal::Create(f)) = m.modals.last() else {
        panic!("the secrets form first");
    };
    assert!(f.restore.is_some() && f.is_secret(0));
    // Empty: refused in the form.
    assert!(ctrl(&mut m, 's').is_empty());
    assert!(matches!(m.modals.last(), Some(Modal::Create(_))));
    typed(&mut m, "s3cret");
    ctrl(&mut m, 's');
    let c = confirm_restore(&m);
    assert_eq!(c.plan.items.len(), 2);
    assert_eq!(c.secrets.len(), 1);
    // Two objects: y is text, Enter needs the count.
    assert!(ch(&mut m, 'y').is_empty());
    key(&mut m, KeyCode::Backspace);
    typed(&mut m, "2");
    let fx = key(&mut m, KeyCode::Enter);
    let [Effect::Restore { secrets, plan, .. }] = fx.as_slice() else {
        panic!("one restore job: {fx:?}");
    };
    assert_eq!(plan.items[0].deleted.kind, Kind::Logins, "creation order");
    assert_eq!(secrets[0].0, "password");
    assert_eq!(secrets[0].1.expose_secret(), "s3cret");
    assert!(
        !format!("{fx:?}").contains("s3cret"),
        "Debug never shows it"
    );
}

#[test]
fn read_only_and_protected_profiles() {
    let mut i = info("prod");
    i.read_only = true;
    let mut m = loaded_model_with(i);
    open_trash(&mut m);
    ch(&mut m, 'R');
    assert!(matches!(m.modals.last(), Some(Modal::Trash(_))));
    assert!(trash(&m)
        .hint
        .as_deref()
        .is_some_and(|h| h.contains("read-only")));
    let mut i = info("prod");
    i.protected = true;
    let mut m = loaded_model_with(i);
    open_trash(&mut m);
    key(&mut m, KeyCode::Down);
    ch(&mut m, 'R');
    assert_eq!(confirm_restore(&m).expected(), "prod");
    assert!(
        ch(&mut m, 'y').is_empty(),
        "y is text for a protected profile"
    );
    key(&mut m, KeyCode::Backspace);
    typed(&mut m, "prod");
    let fx = key(&mut m, KeyCode::Enter);
    assert!(matches!(fx.as_slice(), [Effect::Restore { .. }]), "{fx:?}");
}
