//! Deletes over several profiles (the All tab): one wait for every profile's impact, one
//! confirmation confirmed once by typing, one delete job per profile.

use super::*;
use crate::app::fixtures::*;
use crate::app::modals::confirm::{open_batch, BatchRequest};
use crate::model::Kind;
use crate::ops::executor::StepOutcome;
use crate::ops::plan::Confirmation;

fn ask(profile: usize, ids: &[(Kind, &str)]) -> BatchRequest {
    BatchRequest {
        profile,
        selected: ids.iter().map(|(k, id)| (*k, id.to_string())).collect(),
        hidden: Vec::new(),
    }
}

fn ds(profile: usize, ids: &[&str]) -> BatchRequest {
    let ids: Vec<(Kind, &str)> = ids.iter().map(|id| (Kind::Datasources, *id)).collect();
    ask(profile, &ids)
}

fn impact_jobs(fx: &[Effect]) -> Vec<(u64, usize)> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Impact { job, profile, .. } => Some((*job, *profile)),
            _ => None,
        })
        .collect()
}

/// The delete effects: (job, profile, step ids).
fn deletes(fx: &[Effect]) -> Vec<(u64, usize, Vec<String>)> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Delete { job, profile, plan } => Some((
                *job,
                *profile,
                plan.steps.iter().map(|s| s.target.id.to_string()).collect(),
            )),
            _ => None,
        })
        .collect()
}

/// `open_batch` with every impact answered "none found": the confirmation opens.
fn open_answered(m: &mut Model, parts: Vec<BatchRequest>) -> Vec<Effect> {
    let fx = open_batch(m, parts);
    answer_impacts(m, fx, |_| None)
}

fn is_confirm(m: &Model) -> bool {
    matches!(m.modals.last(), Some(Modal::Confirm(_)))
}

#[test]
fn two_profiles_wait_for_both_impacts_then_open_one_dialog() {
    let mut m = batch_model(false);
    let fx = open_batch(&mut m, vec![ds(0, &["D1", "D2"]), ds(2, &["b1"])]);
    let jobs = impact_jobs(&fx);
    assert_eq!(
        jobs.iter().map(|j| j.1).collect::<Vec<_>>(),
        [0, 2],
        "one impact job per profile"
    );
    assert!(matches!(m.modals.last(), Some(Modal::ImpactCheck(_))));
    // The first profile's answers alone open nothing: the wait is for every profile.
    let (first, rest): (Vec<Effect>, Vec<Effect>) = fx
        .into_iter()
        .partition(|e| matches!(e, Effect::Impact { profile: 0, .. }));
    answer_impacts(&mut m, first, |_| None);
    assert!(matches!(m.modals.last(), Some(Modal::ImpactCheck(_))));
    assert_eq!(m.modals.len(), 1);
    answer_impacts(&mut m, rest, |_| None);
    assert_eq!(m.modals.len(), 1, "one dialog, not one per profile");
    let c = confirm(&m);
    assert!(c.is_batch());
    assert_eq!(c.more.len(), 1);
    assert_eq!((c.plan.profile.as_str(), c.plan.len()), ("prod", 2));
    assert_eq!(
        (c.more[0].plan.profile.as_str(), c.more[0].plan.len()),
        ("bd", 1)
    );
    assert!(
        c.parts().all(|(_, plan, _)| plan.has_impact()),
        "every part carries its impact"
    );
    assert_eq!(c.confirmation(), Confirmation::TypeCount(3));
}

#[test]
fn typing_the_total_count_then_enter_starts_one_delete_per_profile() {
    let mut m = batch_model(false);
    // Marks in both profiles are spent by the delete.
    m.profiles[0].views[0].marks.insert("D1".into());
    m.profiles[2].views[0].marks.insert("b1".into());
    open_answered(&mut m, vec![ds(0, &["D1", "D2"]), ds(2, &["b1"])]);
    typed(&mut m, "3");
    assert!(confirm(&m).focus_delete);
    let fx = key(&mut m, KeyCode::Enter);
    let jobs = deletes(&fx);
    assert_eq!(jobs.len(), 2, "{fx:?}");
    assert_eq!(jobs[0].1, 0);
    let mut ids = jobs[0].2.clone();
    ids.sort();
    assert_eq!(ids, ["D1", "D2"]);
    assert_eq!((jobs[1].1, jobs[1].2.clone()), (2, vec!["b1".to_string()]));
    assert_eq!(
        status_text(&m),
        "2 delete jobs started: prod 2, bd 1 (Tab in the progress view shows each)"
    );
    assert!(matches!(
        m.modals.last(),
        Some(Modal::Progress { job, .. }) if *job == jobs[0].0
    ));
    assert!(m.profiles[0].views[0].marks.is_empty());
    assert!(m.profiles[2].views[0].marks.is_empty());
    // Tab shows the other profile's job, and comes back.
    key(&mut m, KeyCode::Tab);
    assert!(matches!(m.modals.last(), Some(Modal::Progress { job, .. }) if *job == jobs[1].0));
    key(&mut m, KeyCode::Tab);
    assert!(matches!(m.modals.last(), Some(Modal::Progress { job, .. }) if *job == jobs[0].0));
    // Each job reloads its own profile when it ends.
    let reload = update(
        &mut m,
        Msg::DeleteFinished {
            job: jobs[1].0,
            outcomes: vec![StepOutcome::SoftDeleted],
        },
    );
    assert!(
        matches!(reload.as_slice(), [Effect::Load { profile: 2, .. }]),
        "{reload:?}"
    );
    assert!(
        status_text(&m).starts_with("delete finished on bd:"),
        "{}",
        status_text(&m)
    );
}

#[test]
fn y_enter_and_pasted_text_never_confirm_a_batch() {
    let mut m = batch_model(false);
    // One object in each profile: each alone would be confirmed with y.
    open_answered(&mut m, vec![ds(0, &["D1"]), ds(2, &["b1"])]);
    assert_eq!(confirm(&m).confirmation(), Confirmation::TypeCount(2));
    assert!(deletes(&ch(&mut m, 'y')).is_empty());
    assert!(is_confirm(&m));
    for text in ["y", "y\r\n", "3\n"] {
        assert!(update(&mut m, Msg::Paste(text.into())).is_empty());
        assert!(is_confirm(&m), "{text:?}");
    }
    // A wrong count, even with Delete highlighted by hand, does not delete.
    assert!(deletes(&key(&mut m, KeyCode::Enter)).is_empty());
    key(&mut m, KeyCode::Tab);
    assert!(deletes(&key(&mut m, KeyCode::Enter)).is_empty());
    assert!(is_confirm(&m));
    assert!(m.jobs.is_empty(), "no delete job");
    // The right count pasted is text: it still needs Enter.
    for _ in 0..10 {
        key(&mut m, KeyCode::Backspace);
    }
    assert!(update(&mut m, Msg::Paste("2\n".into())).is_empty());
    assert!(confirm(&m).focus_delete);
    assert_eq!(deletes(&key(&mut m, KeyCode::Enter)).len(), 2);
}

#[test]
fn a_bare_enter_cancels_a_batch_and_keeps_the_marks() {
    let mut m = batch_model(false);
    m.profiles[0].views[0].marks.insert("D1".into());
    open_answered(&mut m, vec![ds(0, &["D1"]), ds(1, &["D1"])]);
    assert!(key(&mut m, KeyCode::Enter).is_empty());
    assert!(m.modals.is_empty());
    assert!(m.jobs.is_empty());
    assert_eq!(m.profiles[0].views[0].marks.len(), 1);
}

#[test]
fn a_protected_part_needs_its_name_and_several_need_all_names_in_dialog_order() {
    let mut m = batch_model(true);
    open_answered(&mut m, vec![ds(0, &["D1", "D2"]), ds(1, &["D3"])]);
    assert_eq!(
        confirm(&m).confirmation(),
        Confirmation::TypeProfile("qa".into())
    );
    typed(&mut m, "3");
    assert!(!confirm(&m).focus_delete, "the count is not the name");
    assert!(deletes(&key(&mut m, KeyCode::Enter)).is_empty());
    assert!(is_confirm(&m));
    for _ in 0..3 {
        key(&mut m, KeyCode::Backspace);
    }
    typed(&mut m, "qa");
    assert_eq!(deletes(&key(&mut m, KeyCode::Enter)).len(), 2);

    // Two protected profiles: both names, in the order the dialog lists them.
    let mut m = batch_model(true);
    m.profiles[2].info.protected = true;
    open_answered(&mut m, vec![ds(2, &["b2"]), ds(0, &["D1"]), ds(1, &["D3"])]);
    assert_eq!(
        confirm(&m).confirmation(),
        Confirmation::TypeProfile("bd qa".into())
    );
    typed(&mut m, "qa bd");
    assert!(deletes(&key(&mut m, KeyCode::Enter)).is_empty());
    assert!(is_confirm(&m));
    for _ in 0..5 {
        key(&mut m, KeyCode::Backspace);
    }
    typed(&mut m, "bd qa");
    assert!(confirm(&m).focus_delete);
    let jobs = deletes(&key(&mut m, KeyCode::Enter));
    assert_eq!(
        jobs.iter().map(|j| j.1).collect::<Vec<_>>(),
        [2, 0, 1],
        "jobs start in dialog order"
    );
}

#[test]
fn the_cascade_and_skip_in_use_toggle_every_part() {
    let mut m = batch_model(false);
    // Marketing alone uses Mkt Conn, which alone uses login mkt: the cascade adds both.
    open_answered(&mut m, vec![ds(0, &["D3"]), ds(1, &["D3"])]);
    assert_eq!(confirm(&m).total(), 2);
    ch(&mut m, 'c');
    let c = confirm(&m);
    assert!(c
        .parts()
        .all(|(_, plan, _)| plan.cascade && plan.len() == 3));
    assert_eq!(c.confirmation(), Confirmation::TypeCount(6));
    typed(&mut m, "6");
    let jobs = deletes(&key(&mut m, KeyCode::Enter));
    assert!(jobs.iter().all(|j| j.2 == ["D3", "C2", "L2"]), "{jobs:?}");

    // x leaves out what is in use in every profile: Sales Conn is used by Sales and
    // Finance, Old Conn by nothing.
    let mut m = batch_model(false);
    let conns = |p| ask(p, &[(Kind::Connections, "C1"), (Kind::Connections, "C3")]);
    open_answered(&mut m, vec![conns(0), conns(1)]);
    assert_eq!(confirm(&m).total(), 4);
    ch(&mut m, 'x');
    let c = confirm(&m);
    assert!(c
        .parts()
        .all(|(_, plan, _)| plan.skip_in_use && plan.len() == 1));
    assert_eq!(c.confirmation(), Confirmation::TypeCount(2));
}

#[test]
fn esc_while_waiting_cancels_every_impact_job_and_late_answers_open_nothing() {
    let mut m = batch_model(false);
    let fx = open_batch(&mut m, vec![ds(0, &["D1"]), ds(1, &["D2"]), ds(2, &["b1"])]);
    let jobs: Vec<u64> = impact_jobs(&fx).into_iter().map(|j| j.0).collect();
    assert_eq!(jobs.len(), 3);
    // Nothing but Esc does anything.
    assert!(deletes(&key(&mut m, KeyCode::Enter)).is_empty());
    assert!(deletes(&ch(&mut m, 'y')).is_empty());
    let stop = key(&mut m, KeyCode::Esc);
    let cancelled: Vec<u64> = stop
        .iter()
        .filter_map(|e| match e {
            Effect::CancelJob { job } => Some(*job),
            _ => None,
        })
        .collect();
    assert_eq!(cancelled, jobs, "every profile's impact job stops");
    assert!(m.modals.is_empty());
    assert!(m.jobs.is_empty());
    assert!(m.profiles.iter().all(|t| t.impact_pending.is_empty()));
    assert!(status_text(&m).contains("nothing was sent"));
    let late = answer_impacts(&mut m, fx, |_| None);
    assert!(late.is_empty());
    assert!(m.modals.is_empty(), "a late answer opens no confirmation");
}

#[test]
fn a_read_only_profile_is_left_out_and_said_so_and_the_rest_is_typed() {
    let mut m = batch_model(false);
    let fx = open_batch(&mut m, vec![ds(3, &["D1", "D2"]), ds(0, &["D1"])]);
    assert!(
        impact_jobs(&fx).iter().all(|j| j.1 == 0),
        "nothing is asked of the read-only profile"
    );
    assert_eq!(
        status_text(&m),
        "left out of the delete: read-only: profile 'ro' does not delete: 2 marked objects left out"
    );
    answer_impacts(&mut m, fx, |_| None);
    let c = confirm(&m);
    assert_eq!(c.more.len(), 0);
    assert_eq!(c.left_out.len(), 1);
    assert!(c.parts().all(|(p, _, _)| p == 0));
    // One object is left, but the operator asked for several profiles: typed, never y.
    assert_eq!(c.confirmation(), Confirmation::TypeCount(1));
    assert!(deletes(&ch(&mut m, 'y')).is_empty());
    typed(&mut m, "1");
    let jobs = deletes(&key(&mut m, KeyCode::Enter));
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].1, 0);

    // Only read-only profiles: nothing opens.
    let mut m = batch_model(false);
    let fx = open_batch(&mut m, vec![ds(3, &["D1"]), ds(3, &["D2"])]);
    assert!(fx.is_empty());
    assert!(m.modals.is_empty());
    assert_eq!(status_text(&m), "read-only: profile 'ro' does not delete");
}

#[test]
fn a_profile_with_nothing_deletable_is_left_out_with_the_reason() {
    let mut m = batch_model(false);
    let fx = open_batch(
        &mut m,
        vec![ds(0, &["D1"]), ds(2, &["gone"]), ds(1, &[]), ds(3, &[])],
    );
    answer_impacts(&mut m, fx, |_| None);
    let c = confirm(&m);
    assert_eq!(
        c.left_out,
        ["profile 'bd': 1 selected object is no longer loaded: left out"]
    );
    assert_eq!(
        c.more.len(),
        0,
        "profiles nothing was asked of take no part"
    );
}

#[test]
fn a_batch_of_one_profile_is_the_ctrl_d_path() {
    // One object: y confirms, as with Ctrl-D.
    let mut single = batch_model(false);
    ctrl_d(&mut single);
    let mut batch = batch_model(false);
    let current = single.tab().and_then(|t| t.current()).map(|r| r.id.clone());
    let current = current.expect("a current row");
    open_answered(&mut batch, vec![ds(0, &[&current])]);
    let (a, b) = (confirm(&single), confirm(&batch));
    assert!(!b.is_batch());
    assert_eq!(a.plan.render_text(), b.plan.render_text());
    assert_eq!(a.confirmation(), Confirmation::PressY);
    assert_eq!(b.confirmation(), Confirmation::PressY);
    let fx = ch(&mut batch, 'y');
    assert_eq!(deletes(&fx).len(), 1);
    assert!(batch.status.is_none() || !status_text(&batch).contains("jobs started"));
    // A read-only profile says what Ctrl-D says.
    let mut m = batch_model(false);
    m.active = 3;
    ctrl_d(&mut m);
    let said = status_text(&m);
    let mut m = batch_model(false);
    open_batch(&mut m, vec![ds(3, &["D1"])]);
    assert_eq!(status_text(&m), said);
    assert!(m.modals.is_empty());
}

#[test]
fn cancelling_one_job_of_a_batch_stops_every_job_still_running() {
    let mut m = batch_model(false);
    open_answered(&mut m, vec![ds(0, &["D1"]), ds(1, &["D1"]), ds(2, &["b1"])]);
    typed(&mut m, "3");
    let jobs: Vec<u64> = deletes(&key(&mut m, KeyCode::Enter))
        .iter()
        .map(|j| j.0)
        .collect();
    assert_eq!(jobs.len(), 3);
    // The third one already ended: nothing to stop there.
    update(
        &mut m,
        Msg::DeleteFinished {
            job: jobs[2],
            outcomes: vec![StepOutcome::SoftDeleted],
        },
    );
    key(&mut m, KeyCode::Esc);
    assert!(matches!(m.modals.last(), Some(Modal::CancelJob { .. })));
    let fx = ch(&mut m, 'y');
    let stopped: Vec<u64> = fx
        .iter()
        .filter_map(|e| match e {
            Effect::CancelJob { job } => Some(*job),
            _ => None,
        })
        .collect();
    assert_eq!(stopped, jobs[..2]);
    for j in &jobs[..2] {
        assert!(matches!(
            &m.jobs[j].kind,
            JobKind::Delete(d) if d.cancel_requested
        ));
    }
}
