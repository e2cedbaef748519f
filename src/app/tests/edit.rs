//! Edit (`e`): the form with the fields the vendor lets a client change, the plan of what
//! changed, its typed confirmation (never a paste or a stray Enter), the job and the reload.

use super::*;
use crate::app::fixtures::*;
use crate::ops::change::{ChangeOutcome, Verification};

fn form(m: &Model) -> &CreateForm {
    match m.modals.last() {
        Some(Modal::Create(f)) => f,
        other => panic!("expected the edit form, got {other:?}"),
    }
}

fn confirmation(m: &Model) -> &ConfirmChange {
    match m.modals.last() {
        Some(Modal::ConfirmChange(c)) => c,
        other => panic!("expected the change confirmation, got {other:?}"),
    }
}

/// The logins tab, on "shared" (L1), with its edit form open.
fn editing_login(m: &mut Model) {
    ch(m, ']');
    ch(m, ']');
    assert_eq!(current_name(m), "mkt");
    ch(m, 'j');
    assert_eq!(current_name(m), "shared");
    ch(m, 'e');
}

fn select_all(m: &mut Model) {
    for _ in 0..40 {
        key(m, KeyCode::Backspace);
    }
}

#[test]
fn the_form_holds_the_vendors_fields_and_only_what_changed_is_planned() {
    let mut m = loaded_model();
    editing_login(&mut m);
    let f = form(&m);
    let keys: Vec<&str> = f.spec.fields.iter().map(|f| f.key).collect();
    assert_eq!(
        keys,
        ["name", "username", "password", "description", "owner"]
    );
    assert_eq!(f.texts[0].text, "shared", "filled in with what it has");
    assert!(f.is_secret(2));
    // Nothing changed: said, nothing planned.
    ctrl(&mut m, 's');
    assert!(form(&m)
        .error
        .as_deref()
        .is_some_and(|e| e.contains("nothing changed")));
    // A new name and a password.
    select_all(&mut m);
    typed(&mut m, "shared-etl");
    key(&mut m, KeyCode::Tab);
    key(&mut m, KeyCode::Tab);
    typed(&mut m, "n3w-Secret");
    ctrl(&mut m, 's');
    let c = confirmation(&m);
    assert_eq!(c.total(), 1);
    let item = &c.plans[0].1.items[0];
    assert_eq!(item.target.id, "L1");
    assert_eq!(
        item.change.summary(),
        "name → 'shared-etl', password → (new secret)"
    );
    assert!(
        !format!("{:?}", m.modals).contains("n3w-Secret"),
        "no secret in Debug"
    );
    // The connections that use the login are tested after.
    assert!(item.verify.sentence().contains("connection 'Sales Conn'"));
}

#[test]
fn a_stray_enter_or_a_paste_never_confirms_typing_the_count_does() {
    let mut m = loaded_model();
    editing_login(&mut m);
    select_all(&mut m);
    typed(&mut m, "renamed");
    ctrl(&mut m, 's');
    assert!(key(&mut m, KeyCode::Enter).is_empty());
    assert!(
        confirmation(&m).hint.is_some(),
        "Enter alone says what to type"
    );
    assert!(update(&mut m, Msg::Paste("1\r".into())).is_empty());
    assert_eq!(confirmation(&m).typed.text.trim(), "1");
    let fx = key(&mut m, KeyCode::Enter);
    match fx.as_slice() {
        [Effect::Update {
            profile: 0, plan, ..
        }] => {
            assert_eq!(plan.items[0].change.text("name"), Some("renamed"))
        }
        other => panic!("one change job: {other:?}"),
    }
    assert!(m.modals.is_empty());
    assert!(m.running_jobs() == 1);
    // y confirms one object of an unprotected profile.
    let mut m = loaded_model();
    editing_login(&mut m);
    select_all(&mut m);
    typed(&mut m, "renamed");
    ctrl(&mut m, 's');
    assert!(matches!(
        ch(&mut m, 'y').as_slice(),
        [Effect::Update { .. }]
    ));
    // Esc cancels: nothing sent.
    let mut m = loaded_model();
    editing_login(&mut m);
    typed(&mut m, "x");
    ctrl(&mut m, 's');
    assert!(key(&mut m, KeyCode::Esc).is_empty());
    assert!(m.modals.is_empty());
    assert!(status_text(&m).contains("nothing was sent"));
}

#[test]
fn a_protected_profile_types_its_name_and_a_read_only_one_does_not_edit() {
    let mut prod = info("prod");
    prod.protected = true;
    let mut m = loaded_model_with(prod);
    editing_login(&mut m);
    typed(&mut m, "2");
    ctrl(&mut m, 's');
    assert!(
        ch(&mut m, 'y').is_empty(),
        "y never confirms a protected profile"
    );
    assert_eq!(confirmation(&m).typed.text, "y");
    key(&mut m, KeyCode::Backspace);
    assert!(update(&mut m, Msg::Paste("1".into())).is_empty());
    assert!(
        key(&mut m, KeyCode::Enter).is_empty(),
        "the count is not the name"
    );
    key(&mut m, KeyCode::Backspace);
    typed(&mut m, "prod");
    assert!(matches!(
        key(&mut m, KeyCode::Enter).as_slice(),
        [Effect::Update { .. }]
    ));

    let mut ro = info("prod");
    ro.read_only = true;
    let mut m = loaded_model_with(ro);
    ch(&mut m, 'e');
    assert!(m.modals.is_empty());
    assert!(status_text(&m).contains("read-only"), "{}", status_text(&m));
}

#[test]
fn a_finished_change_is_reported_and_the_profile_reloads() {
    let mut m = loaded_model();
    editing_login(&mut m);
    select_all(&mut m);
    typed(&mut m, "renamed");
    ctrl(&mut m, 's');
    let fx = ch(&mut m, 'y');
    let Some(Effect::Update { job, .. }) = fx.first() else {
        panic!("{fx:?}")
    };
    let job = *job;
    update(
        &mut m,
        Msg::ChangeStep {
            job,
            outcome: ChangeOutcome::Changed(Verification::NotNeeded),
        },
    );
    let fx = update(
        &mut m,
        Msg::ChangeFinished {
            job,
            profile: 0,
            outcomes: vec![ChangeOutcome::Changed(Verification::NotNeeded)],
        },
    );
    assert!(
        fx.iter()
            .any(|e| matches!(e, Effect::Load { profile: 0, .. })),
        "reload: {fx:?}"
    );
    assert!(
        status_text(&m).contains("login 'shared' changed"),
        "{}",
        status_text(&m)
    );
    assert!(m.log.iter().any(|l| l.text.contains("prod: changed")));
    assert_eq!(m.running_jobs(), 0);
}

#[test]
fn rotate_plans_every_marked_login_of_every_profile_and_is_confirmed_once() {
    // prod, qa (protected), bd (Basedash), ro (read-only).
    let mut m = batch_model(true);
    for p in [0usize, 1, 3] {
        let tab = &mut m.profiles[p];
        let k = tab
            .views
            .iter()
            .position(|v| v.kind == crate::model::Kind::Logins)
            .expect("logins");
        tab.views[k]
            .marks
            .extend(["L1".to_string(), "L2".to_string()]);
        // A connection too: it has no password of its own.
        tab.views[k - 1].marks.insert("C3".to_string());
    }
    ch(&mut m, '*');
    assert!(m.all.open);
    ch(&mut m, 'P');
    let f = form(&m);
    assert_eq!(
        f.edit.as_ref().map(|e| e.targets.len()),
        Some(4),
        "two logins in prod and qa; ro is read-only"
    );
    assert!(
        status_text(&m).contains("'ro' is read-only"),
        "{}",
        status_text(&m)
    );
    assert!(
        status_text(&m).contains("have no password"),
        "{}",
        status_text(&m)
    );
    // The password is required.
    key(&mut m, KeyCode::Enter);
    key(&mut m, KeyCode::Enter);
    assert!(form(&m)
        .error
        .as_deref()
        .is_some_and(|e| e.contains("type the new password")));
    key(&mut m, KeyCode::Up);
    typed(&mut m, "Rot4ted-pw");
    ctrl(&mut m, 's');
    let c = confirmation(&m);
    assert_eq!(c.plans.len(), 2);
    assert_eq!(c.total(), 4);
    assert_eq!(c.expected(), "qa", "the protected profile's name");
    assert!(ch(&mut m, 'y').is_empty());
    key(&mut m, KeyCode::Backspace);
    typed(&mut m, "qa");
    let fx = key(&mut m, KeyCode::Enter);
    let jobs: Vec<usize> = fx
        .iter()
        .filter_map(|e| match e {
            Effect::Update { profile, plan, .. } => {
                assert!(plan
                    .items
                    .iter()
                    .all(|i| i.change.get("password").is_some()));
                Some(*profile)
            }
            _ => None,
        })
        .collect();
    assert_eq!(jobs, [0, 1], "one job per profile");
}

#[test]
fn rotate_in_a_profile_tab_takes_the_current_row_and_says_what_cannot_rotate() {
    let mut m = loaded_model();
    // On a datasource: MicroStrategy datasources have no password.
    ch(&mut m, 'P');
    assert!(m.modals.is_empty());
    assert!(
        status_text(&m).contains("nothing to rotate"),
        "{}",
        status_text(&m)
    );
    ch(&mut m, ']');
    ch(&mut m, ']');
    ch(&mut m, 'P');
    let f = form(&m);
    assert_eq!(f.edit.as_ref().map(|e| e.targets.len()), Some(1));
    typed(&mut m, "another-pw");
    key(&mut m, KeyCode::Tab);
    typed(&mut m, "etl_svc");
    ctrl(&mut m, 's');
    let item = &confirmation(&m).plans[0].1.items[0];
    assert_eq!(
        item.change.summary(),
        "password → (new secret), username → 'etl_svc'"
    );
}

#[test]
fn the_owner_view_lists_what_a_person_owns_and_transfer_plans_it_once() {
    // prod (protected) and qa (read-only) own the same objects, by "Administrator".
    let mut m = overview_model();
    ch(&mut m, ':');
    typed(&mut m, "owner administrator");
    key(&mut m, KeyCode::Enter);
    assert!(m.all.open);
    assert_eq!(m.all.rows.len(), 18, "every object of prod and qa");
    assert!(
        status_text(&m).contains("18 object(s) owned by 'administrator'"),
        "{}",
        status_text(&m)
    );
    ch(&mut m, 'A');
    ch(&mut m, ':');
    typed(&mut m, "transfer");
    key(&mut m, KeyCode::Enter);
    let f = form(&m);
    assert_eq!(
        f.edit.as_ref().map(|e| e.targets.len()),
        Some(9),
        "prod's; qa is read-only"
    );
    assert!(
        status_text(&m).contains("'qa' is read-only"),
        "{}",
        status_text(&m)
    );
    // The new owner is required.
    ctrl(&mut m, 's');
    assert!(form(&m)
        .error
        .as_deref()
        .is_some_and(|e| e.contains("new owner")));
    typed(&mut m, "0B9D8C7A6F5E4D3C2B1A09F8E7D6C5B4");
    ctrl(&mut m, 's');
    let c = confirmation(&m);
    assert_eq!(c.total(), 9);
    assert_eq!(c.expected(), "prod", "protected: its name");
    assert!(c.plans[0]
        .1
        .items
        .iter()
        .all(|i| i.change.text("owner") == Some("0B9D8C7A6F5E4D3C2B1A09F8E7D6C5B4")));
    // Without a name.
    ch(&mut m, 'q');
    let mut m = overview_model();
    ch(&mut m, ':');
    typed(&mut m, "owner");
    key(&mut m, KeyCode::Enter);
    assert!(
        status_text(&m).contains(":owner NAME"),
        "{}",
        status_text(&m)
    );
}

#[test]
fn move_takes_only_objects_that_live_in_spaces() {
    let mut m = batch_model(false);
    ch(&mut m, '*');
    ch(&mut m, 'A');
    ch(&mut m, ':');
    typed(&mut m, "move");
    key(&mut m, KeyCode::Enter);
    assert!(m.modals.is_empty());
    assert!(
        status_text(&m).contains("nothing to move") && status_text(&m).contains("Qlik"),
        "{}",
        status_text(&m)
    );
}

#[test]
fn a_rotation_whose_tests_passed_clears_the_failed_results_it_was_made_for() {
    let mut m = loaded_model();
    editing_login(&mut m);
    // Name, user name, then the password.
    key(&mut m, KeyCode::Tab);
    key(&mut m, KeyCode::Tab);
    assert_eq!(form(&m).spec.fields[form(&m).focus].key, "password");
    typed(&mut m, "new-secret");
    ctrl(&mut m, 's');
    let fx = ch(&mut m, 'y');
    let Some(Effect::Update { job, plan, .. }) = fx.first() else {
        panic!("{fx:?}")
    };
    let (job, plan) = (*job, plan.clone());
    let crate::ops::change::Verify::Users(tested) = &plan.items[0].verify else {
        panic!(
            "the connections of the login are tested: {:?}",
            plan.items[0].verify
        )
    };
    assert!(!tested.is_empty());
    let is_tested = |r: &crate::model::Resource| {
        r.kind == crate::model::Kind::Connections && tested.iter().any(|t| t.id == r.id)
    };
    for r in m.profiles[0]
        .resources_mut()
        .iter_mut()
        .filter(|r| is_tested(r))
    {
        r.health = crate::model::Health::Unhealthy("login failed".into());
    }
    update(
        &mut m,
        Msg::ChangeFinished {
            job,
            profile: 0,
            outcomes: vec![ChangeOutcome::Changed(Verification::Passed(
                tested.iter().map(|t| t.label()).collect(),
            ))],
        },
    );
    let healths: Vec<_> = m.profiles[0]
        .resources
        .iter()
        .filter(|r| is_tested(r))
        .map(|r| r.health.clone())
        .collect();
    assert_eq!(healths.len(), tested.len());
    assert!(
        healths.iter().all(|h| *h == crate::model::Health::Healthy),
        "{healths:?}"
    );
}
