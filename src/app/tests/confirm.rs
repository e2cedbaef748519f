//! The delete confirmation, paste and Esc.

use super::*;
use crate::app::effect::Effect;
use crate::app::fixtures::*;
use crate::app::msg::Msg;
use crate::app::state::*;
use crate::app::update::update;
use crate::model::Kind;
use crate::vendors::Snapshot;
use crossterm::event::KeyCode;

#[test]
fn typing_the_count_moves_focus_to_delete_and_says_so() {
    let mut m = loaded_model();
    ch(&mut m, 'A');
    ctrl_d(&mut m);
    assert!(!confirm(&m).focus_delete);
    typed(&mut m, "3");
    assert!(
        confirm(&m).focus_delete,
        "the right count highlights Delete"
    );
    let hint = confirm(&m).hint.clone().unwrap_or_default();
    assert!(hint.contains("Enter deletes"), "{hint}");
    let fx = key(&mut m, KeyCode::Enter);
    assert!(matches!(fx.as_slice(), [Effect::Delete { .. }]), "{fx:?}");
}

#[test]
fn enter_with_cancel_highlighted_after_typing_the_count_cancels() {
    let mut m = loaded_model();
    ch(&mut m, 'A');
    ctrl_d(&mut m);
    typed(&mut m, "3");
    key(&mut m, KeyCode::Tab);
    assert!(!confirm(&m).focus_delete, "Tab goes back to Cancel");
    let fx = key(&mut m, KeyCode::Enter);
    assert!(fx.is_empty(), "Enter on Cancel must not delete: {fx:?}");
    assert!(m.modals.is_empty());
    assert!(m.jobs.is_empty());
    assert!(status_text(&m).contains("cancelled"), "{}", status_text(&m));
    assert_eq!(marks(&m), 3, "cancelling keeps the marks");
}

#[test]
fn a_wrong_count_says_what_to_type_and_stays_open() {
    let mut m = loaded_model();
    ch(&mut m, 'A');
    ctrl_d(&mut m);
    typed(&mut m, "2");
    assert!(!confirm(&m).focus_delete);
    assert!(key(&mut m, KeyCode::Enter).is_empty());
    assert_eq!(confirm(&m).hint.as_deref(), Some("type 3 to confirm"));
    // With Delete highlighted by hand, a wrong count still does not delete.
    key(&mut m, KeyCode::Tab);
    assert!(confirm(&m).focus_delete);
    assert!(key(&mut m, KeyCode::Enter).is_empty());
    assert_eq!(confirm(&m).hint.as_deref(), Some("type 3 to confirm"));
    // Fixing the count highlights Delete; breaking it again goes back to Cancel.
    key(&mut m, KeyCode::Backspace);
    typed(&mut m, "3");
    assert!(confirm(&m).focus_delete);
    key(&mut m, KeyCode::Backspace);
    assert!(!confirm(&m).focus_delete);
}

#[test]
fn the_protected_profile_name_moves_focus_too() {
    let mut i = info("prod");
    i.protected = true;
    let mut m = loaded_model_with(i);
    ctrl_d(&mut m);
    typed(&mut m, "pro");
    assert!(!confirm(&m).focus_delete);
    assert!(key(&mut m, KeyCode::Enter).is_empty());
    assert!(confirm(&m)
        .hint
        .as_deref()
        .is_some_and(|h| h.contains("type 'prod'")));
    typed(&mut m, "d");
    assert!(confirm(&m).focus_delete);
    assert!(matches!(
        key(&mut m, KeyCode::Enter).as_slice(),
        [Effect::Delete { .. }]
    ));
}

#[test]
fn one_object_is_confirmed_with_y_and_enter_always_cancels() {
    let mut m = loaded_model();
    ctrl_d(&mut m);
    // Delete is not a place Enter can reach: y is the only way.
    key(&mut m, KeyCode::Tab);
    assert!(!confirm(&m).focus_delete);
    assert!(confirm(&m)
        .hint
        .as_deref()
        .is_some_and(|h| h.contains("press y")));
    assert!(key(&mut m, KeyCode::Enter).is_empty());
    assert!(m.modals.is_empty());
    assert!(m.jobs.is_empty());
}

// ---- Paste never reaches a confirmation or the table ------------------------------------------

#[test]
fn pasting_y_into_a_one_object_confirmation_deletes_nothing_and_leaves_no_job() {
    let mut m = loaded_model();
    ch(&mut m, ' ');
    ch(&mut m, 'k');
    ctrl_d(&mut m);
    assert_eq!(confirm(&m).plan.len(), 1);
    let fx = update(&mut m, Msg::Paste("y".into()));
    assert!(fx.is_empty(), "{fx:?}");
    assert!(
        matches!(m.modals.last(), Some(Modal::Confirm(_))),
        "still asking"
    );
    assert!(m.jobs.is_empty(), "no job was created");
    assert_eq!(marks(&m), 1, "the marks are kept");
    // A paste with a newline is not an Enter either.
    let fx = update(&mut m, Msg::Paste("y\r\n".into()));
    assert!(fx.is_empty() && m.jobs.is_empty());
    assert!(matches!(m.modals.last(), Some(Modal::Confirm(_))));
    key(&mut m, KeyCode::Esc);
    // Nor anywhere else: the table, the quit question.
    for text in ["q", "A", " ", "\u{4}", "n", "y"] {
        let fx = update(&mut m, Msg::Paste(text.into()));
        assert!(fx.is_empty(), "{text:?}: {fx:?}");
    }
    assert!(!m.should_quit);
    assert_eq!(marks(&m), 1, "paste marked nothing");
    assert!(m.modals.is_empty());
    // Nor in the quit question while a job runs.
    ctrl_d(&mut m);
    ch(&mut m, 'y');
    ch(&mut m, 'h');
    ch(&mut m, 'q');
    assert!(matches!(m.modals.last(), Some(Modal::ConfirmQuit)));
    assert!(update(&mut m, Msg::Paste("y".into())).is_empty());
    assert!(!m.should_quit);
}

#[test]
fn paste_goes_into_text_inputs_as_text() {
    let mut m = loaded_model();
    ch(&mut m, '/');
    update(&mut m, Msg::Paste("fin".into()));
    assert_eq!(visible_names(&m), vec!["Finance"]);
    key(&mut m, KeyCode::Esc);
    // A typed confirmation takes the pasted count as text.
    ch(&mut m, 'A');
    ctrl_d(&mut m);
    update(&mut m, Msg::Paste("3".into()));
    assert_eq!(confirm(&m).typed.text, "3");
    assert!(confirm(&m).focus_delete);
    key(&mut m, KeyCode::Esc);
    // A form field takes it too.
    ch(&mut m, ']');
    ch(&mut m, ']');
    ch(&mut m, 'a');
    update(&mut m, Msg::Paste("etl login".into()));
    let Some(Modal::Create(f)) = m.modals.last() else {
        panic!("form")
    };
    assert_eq!(f.texts[0].text, "etl login");
}

// ---- Esc is predictable ------------------------------------------------------------------------

#[test]
fn esc_clears_the_filter_first_and_never_the_marks() {
    let mut m = loaded_model();
    ch(&mut m, 'A');
    ch(&mut m, '/');
    typed(&mut m, "fin");
    key(&mut m, KeyCode::Enter);
    assert_eq!(visible_names(&m), vec!["Finance"]);
    key(&mut m, KeyCode::Esc);
    assert_eq!(visible_names(&m).len(), 3, "Esc cleared the filter");
    assert_eq!(marks(&m), 3);
    key(&mut m, KeyCode::Esc);
    key(&mut m, KeyCode::Esc);
    assert_eq!(marks(&m), 3, "Esc never throws marks away");
    assert!(status_text(&m).contains("U clears"), "{}", status_text(&m));
}

#[test]
fn esc_after_cancelling_a_confirmation_keeps_the_marks() {
    let mut m = loaded_model();
    ch(&mut m, 'A');
    ctrl_d(&mut m);
    key(&mut m, KeyCode::Esc);
    assert!(m.modals.is_empty(), "Esc closes the dialog");
    key(&mut m, KeyCode::Esc);
    key(&mut m, KeyCode::Esc);
    assert_eq!(marks(&m), 3);
}

#[test]
fn clearing_marks_has_its_own_key_and_can_be_undone_once() {
    let mut m = loaded_model();
    ch(&mut m, 'A');
    ch(&mut m, 'U');
    assert_eq!(marks(&m), 0);
    assert!(status_text(&m).contains("Ctrl-Z"), "{}", status_text(&m));
    ctrl(&mut m, 'z');
    assert_eq!(marks(&m), 3, "restored");
    ctrl(&mut m, 'z');
    assert_eq!(marks(&m), 3);
    assert!(
        status_text(&m).contains("nothing to restore"),
        "{}",
        status_text(&m)
    );
    ch(&mut m, 'U');
    ch(&mut m, ':');
    typed(&mut m, "marks restore");
    key(&mut m, KeyCode::Enter);
    assert_eq!(marks(&m), 3, ":marks restore");
    ch(&mut m, ':');
    typed(&mut m, "marks clear");
    key(&mut m, KeyCode::Enter);
    assert_eq!(marks(&m), 0, ":marks clear");
}

#[test]
fn restored_marks_go_back_to_their_own_view() {
    let mut m = loaded_model();
    ch(&mut m, 'A');
    ch(&mut m, 'U');
    assert_eq!(marks(&m), 0);
    ch(&mut m, ']');
    ctrl(&mut m, 'z');
    assert_eq!(marks(&m), 0, "connections were not marked");
    ch(&mut m, '[');
    assert_eq!(marks(&m), 3);
}

// ---- Read-only kinds cannot be marked ---------------------------------------------------------

#[test]
fn databrain_datamarts_cannot_be_marked() {
    use crate::model::{Resource, VendorId};
    let mut i = info("db");
    i.vendor = VendorId::Databrain;
    let mut m = Model::new(vec![i], NOW);
    crate::app::update::init(&mut m);
    let ds = Resource::new(VendorId::Databrain, "db", Kind::Datasources, "pg", "pg");
    let mut dm = Resource::new(VendorId::Databrain, "db", Kind::Datamarts, "dm1", "sales");
    dm.depends_on.push(ds.as_ref());
    let dm2 = Resource::new(VendorId::Databrain, "db", Kind::Datamarts, "dm2", "ops");
    let mut all = vec![ds, dm, dm2];
    crate::model::link_references(&mut all, &[Kind::Datasources]);
    update(
        &mut m,
        Msg::Loaded {
            profile: 0,
            generation: 1,
            at: NOW,
            result: Ok(Snapshot {
                resources: all,
                warnings: vec![],
            }),
        },
    );
    ch(&mut m, ']');
    assert_eq!(
        m.tab().and_then(|t| t.view()).map(|v| v.kind),
        Some(Kind::Datamarts)
    );
    ch(&mut m, ' ');
    assert_eq!(marks(&m), 0);
    assert!(status_text(&m).contains("read-only"), "{}", status_text(&m));
    ch(&mut m, 'A');
    ch(&mut m, 'V');
    assert_eq!(marks(&m), 0, "A and V mark nothing read-only either");
    // Delete on a datamart row opens no dialog.
    assert!(ctrl_d(&mut m).is_empty());
    assert!(m.modals.is_empty());
    // Datasources still can be marked.
    ch(&mut m, '[');
    ch(&mut m, ' ');
    assert_eq!(marks(&m), 1);
}

// ---- Create forms -----------------------------------------------------------------------------

#[test]
fn w_writes_the_plan_shown_to_a_file_and_keeps_the_dialog_open() {
    let mut m = loaded_model();
    ch(&mut m, 'A');
    ctrl_d(&mut m);
    let fx = ch(&mut m, 'w');
    let [Effect::WritePlan { name, file }] = fx.as_slice() else {
        panic!("one plan file: {fx:?}");
    };
    assert!(
        name.starts_with("plan-") && name.ends_with(".json"),
        "{name}"
    );
    assert_eq!(file.targets.len(), confirm(&m).plan.len());
    assert_eq!(file.profile, confirm(&m).plan.profile);
    assert_eq!(file.hash, file.computed_hash());
    assert!(confirm(&m)
        .hint
        .as_deref()
        .is_some_and(|h| h.contains("plans/") && h.contains("nothing is sent")));
    assert!(m.jobs.is_empty(), "nothing runs");
    // Nothing was typed: the count still has to be.
    assert!(confirm(&m).typed.text.is_empty() && !confirm(&m).focus_delete);
    // With the profile name to type, w is text and Ctrl-W writes.
    let mut i = info("prod");
    i.protected = true;
    let mut m = loaded_model_with(i);
    ctrl_d(&mut m);
    assert!(ch(&mut m, 'w').is_empty());
    assert_eq!(confirm(&m).typed.text, "w");
    let fx = ctrl(&mut m, 'w');
    assert!(
        matches!(fx.as_slice(), [Effect::WritePlan { .. }]),
        "{fx:?}"
    );
}
