//! Impact in the console: `i`, the wait before the confirmation, and what the answers
//! change (typed confirmation, the orphans view).

use super::*;
use crate::app::fixtures::*;
use crate::impact::{Impact, Verdict};
use crate::model::Kind;
use crate::ops::plan::Confirmation;

fn impact_jobs(fx: &[Effect]) -> Vec<(u64, Vec<String>)> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Impact { job, targets, .. } => Some((
                *job,
                targets.iter().map(|t| t.target.id.to_string()).collect(),
            )),
            _ => None,
        })
        .collect()
}

fn deletes(fx: &[Effect]) -> usize {
    fx.iter()
        .filter(|e| matches!(e, Effect::Delete { .. }))
        .count()
}

#[test]
fn i_asks_for_the_marked_rows_and_the_answers_fill_the_column_and_the_status() {
    let mut m = loaded_model();
    ch(&mut m, 'A');
    let fx = ch(&mut m, 'i');
    let jobs = impact_jobs(&fx);
    assert_eq!(jobs.len(), 1);
    let mut ids = jobs[0].1.clone();
    ids.sort();
    assert_eq!(ids, ["D1", "D2", "D3"]);
    let tab = m.tab().unwrap();
    assert_eq!(tab.impact_pending.len(), 3, "all three show a spinner");
    // A second i while they are computed asks nothing again.
    assert!(impact_jobs(&ch(&mut m, 'i')).is_empty());
    assert!(status_text(&m).contains("already being computed"));
    answer_impacts(&mut m, fx, finance_breaks);
    let tab = m.tab().unwrap();
    assert!(tab.impact_pending.is_empty());
    assert_eq!(
        tab.impacts[&(Kind::Datasources, "D2".to_string())].verdict(),
        Verdict::Breaks
    );
    assert_eq!(
        status_text(&m),
        "impact of 3 objects: breaks 2 reports, 1 dashboard in 2 projects"
    );
    assert!(
        m.jobs.is_empty(),
        "a finished impact job leaves nothing behind"
    );
}

#[test]
fn one_object_that_breaks_content_needs_the_typed_count_and_y_does_nothing() {
    let mut m = loaded_model();
    // Rows sort by name: Finance, Marketing, Sales.
    assert_eq!(current_name(&m), "Finance");
    let fx = ctrl(&mut m, 'd');
    assert!(
        matches!(m.modals.last(), Some(Modal::ImpactCheck(_))),
        "the impact is computed before the confirmation opens"
    );
    assert_eq!(deletes(&fx), 0);
    answer_impacts(&mut m, fx, finance_breaks);
    let c = confirm(&m);
    assert_eq!(c.plan.confirmation(false), Confirmation::TypeCount(1));
    let totals = c.plan.impact_totals().expect("impact known");
    assert_eq!(
        totals.summary("project"),
        "breaks 2 reports, 1 dashboard in 2 projects"
    );
    // y is not the confirmation here, and a bare Enter cancels.
    assert_eq!(deletes(&ch(&mut m, 'y')), 0);
    assert!(matches!(m.modals.last(), Some(Modal::Confirm(_))));
    typed(&mut m, "1");
    let fx = key(&mut m, KeyCode::Enter);
    assert_eq!(deletes(&fx), 1, "typed count then Enter deletes");
}

#[test]
fn unknown_impact_also_needs_the_typed_count() {
    let mut m = loaded_model();
    let fx = ctrl(&mut m, 'd');
    answer_impacts(&mut m, fx, |_| {
        Some(Impact::unknown("the search timed out after 90s", NOW))
    });
    let c = confirm(&m);
    assert_eq!(c.plan.confirmation(false), Confirmation::TypeCount(1));
    assert_eq!(
        c.plan.impact_totals().unwrap().summary("project"),
        "impact unknown for 1 object"
    );
}

#[test]
fn none_found_keeps_y_for_one_object() {
    let mut m = loaded_model();
    ctrl_d(&mut m);
    assert_eq!(confirm(&m).plan.confirmation(false), Confirmation::PressY);
}

#[test]
fn esc_while_the_impact_is_computed_deletes_nothing_and_a_late_answer_opens_nothing() {
    let mut m = loaded_model();
    let fx = ctrl(&mut m, 'd');
    let job = impact_jobs(&fx)[0].0;
    // Keys other than Esc do nothing: no Enter or y reaches a dialog below.
    assert_eq!(deletes(&key(&mut m, KeyCode::Enter)), 0);
    assert_eq!(deletes(&ch(&mut m, 'y')), 0);
    assert!(matches!(m.modals.last(), Some(Modal::ImpactCheck(_))));
    let fx2 = key(&mut m, KeyCode::Esc);
    assert!(fx2
        .iter()
        .any(|e| matches!(e, Effect::CancelJob { job: j } if *j == job)));
    assert!(m.modals.is_empty());
    assert!(status_text(&m).contains("nothing was sent"));
    assert!(m.tab().unwrap().impact_pending.is_empty());
    let late = answer_impacts(&mut m, fx, finance_breaks);
    assert!(late.is_empty());
    assert!(m.modals.is_empty(), "a late answer opens no confirmation");
}

#[test]
fn fresh_answers_are_reused_and_stale_ones_asked_again() {
    let mut m = loaded_model();
    let fx = ch(&mut m, 'i');
    answer_impacts(&mut m, fx, finance_breaks);
    // Fresh: the confirmation opens at once, with no new question.
    let fx = ctrl(&mut m, 'd');
    assert!(impact_jobs(&fx)
        .iter()
        .all(|(_, ids)| !ids.contains(&"D2".to_string())));
    assert!(matches!(m.modals.last(), Some(Modal::Confirm(_))));
    key(&mut m, KeyCode::Esc);
    // Six minutes later it is asked again.
    update(&mut m, Msg::Tick { now: NOW + 360 });
    let fx = ctrl(&mut m, 'd');
    assert!(impact_jobs(&fx)
        .iter()
        .any(|(_, ids)| ids.contains(&"D2".to_string())));
}

#[test]
fn the_orphans_view_leaves_out_what_is_found_to_break_content() {
    let mut m = loaded_model();
    ch(&mut m, ']'); // connections: Old Conn is the orphan
    ch(&mut m, 'o');
    assert_eq!(visible_names(&m), ["Old Conn"]);
    let fx = ch(&mut m, 'i');
    answer_impacts(&mut m, fx, |r| {
        (r.id == "C3").then(|| {
            Impact::found(
                vec![crate::impact::Dependent::new("report", "R9", "Legacy KPIs")],
                NOW,
            )
        })
    });
    assert!(visible_names(&m).is_empty(), "{:?}", visible_names(&m));
}
