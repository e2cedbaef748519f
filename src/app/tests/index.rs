//! Index work on the worker (issue 18): a large tab's sort, index and filter run off the
//! event loop and are swapped in when their generation is still current. The fixture is
//! small, so these tests lower the inline limit to 0 to take the worker's path.

use super::*;
use crate::app::fixtures::*;
use crate::app::index::{self, IndexJob, IndexOut, Source};
use crate::model::{Kind, Resource};
use crate::vendors::Snapshot;
use crossterm::event::KeyCode;
use std::sync::Arc;

/// Every tab (and the All tab) sends its work to the worker, whatever its size.
fn on_worker(m: &mut Model) {
    for t in m.profiles.iter_mut() {
        t.inline_rows = 0;
    }
    m.all.inline_rows = 0;
}

fn jobs(fx: &[Effect]) -> Vec<IndexJob> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Index(j) => Some((**j).clone()),
            _ => None,
        })
        .collect()
}

fn one_job(fx: &[Effect]) -> IndexJob {
    let mut j = jobs(fx);
    assert_eq!(j.len(), 1, "one index job: {fx:?}");
    j.remove(0)
}

fn answer(m: &mut Model, job: IndexJob) -> Vec<Effect> {
    update(m, Msg::Indexed(Box::new(index::run(job))))
}

fn names(m: &Model) -> Vec<String> {
    visible_names(m)
}

fn marks(m: &Model) -> Vec<String> {
    m.tab()
        .and_then(|t| t.view())
        .map(|v| v.marks.iter().cloned().collect())
        .unwrap_or_default()
}

#[test]
fn a_filter_keystroke_waits_for_the_worker_and_the_table_keeps_its_rows() {
    let mut m = loaded_model();
    on_worker(&mut m);
    ch(&mut m, '/');
    // Smart case: an upper-case letter is matched as typed (lower-case "f" is in Snowflake).
    let fx = ch(&mut m, 'F');
    let job = one_job(&fx);
    assert_eq!(job.views.len(), 1);
    assert!(
        job.views[0].search.is_some(),
        "a filter does not sort again"
    );
    // Until the answer the previous rows are shown; the key was not blocked.
    assert_eq!(names(&m), ["Finance", "Marketing", "Sales"]);
    assert!(m.tab().is_some_and(|t| t.busy()));
    let fx = answer(&mut m, job);
    assert!(jobs(&fx).is_empty());
    assert_eq!(names(&m), ["Finance"]);
    assert!(!m.tab().is_some_and(|t| t.busy()));
}

#[test]
fn the_newest_keystroke_wins_and_a_stale_answer_is_dropped() {
    let mut m = loaded_model();
    on_worker(&mut m);
    ch(&mut m, '/');
    let first = one_job(&ch(&mut m, 'a'));
    // One job per tab at a time: the next keys wait.
    assert!(jobs(&typed_fx(&mut m, "rk")).is_empty());
    // The first answer ('a') is stale: not shown; the newest filter is sent at once.
    let fx = answer(&mut m, first);
    assert_eq!(names(&m), ["Finance", "Marketing", "Sales"]);
    let newest = one_job(&fx);
    assert_eq!(newest.views[0].rows.filter, "ark");
    answer(&mut m, newest);
    assert_eq!(names(&m), ["Marketing"]);
    // An answer of a generation the tab no longer waits for changes nothing.
    let mut old: IndexOut = index::run(IndexJob {
        generation: 1,
        ..one_job(&ch(&mut m, 'x'))
    });
    old.views[0].rows.clear();
    let fx = update(&mut m, Msg::Indexed(Box::new(old)));
    assert!(
        fx.iter().any(|e| matches!(e, Effect::Discard(_))),
        "freed off the loop"
    );
    assert_eq!(names(&m), ["Marketing"]);
}

fn typed_fx(m: &mut Model, s: &str) -> Vec<Effect> {
    s.chars().flat_map(|c| ch(m, c)).collect()
}

#[test]
fn marks_and_the_cursor_stay_on_their_objects_when_rows_swap_in() {
    let mut m = loaded_model();
    on_worker(&mut m);
    ch(&mut m, ' '); // mark Finance (D2); the cursor moves to Marketing
    ch(&mut m, 'j'); // Sales
    ch(&mut m, ' '); // mark Sales (D1); the last row keeps the cursor
    assert_eq!(current_name(&m), "Sales");
    // A toggle keeps the cursor on its object; the rows swap in later.
    let fx = ch(&mut m, 's'); // sort by the next column
    let job = one_job(&fx);
    assert!(job.views[0].search.is_none(), "a new sort sorts again");
    answer(&mut m, job);
    assert_eq!(current_name(&m), "Sales");
    assert_eq!(marks(&m), ["D1", "D2"]);
    // A filter puts the cursor on the first row when its rows arrive.
    ch(&mut m, '/');
    let job = one_job(&ch(&mut m, 'a'));
    answer(&mut m, job);
    key(&mut m, KeyCode::Enter);
    assert_eq!(m.tab().and_then(|t| t.view()).map(|v| v.cursor), Some(0));
    assert_eq!(marks(&m), ["D1", "D2"]);
}

#[test]
fn a_delete_planned_while_a_filter_is_pending_deletes_exactly_the_marked_objects() {
    let mut m = loaded_model();
    on_worker(&mut m);
    ch(&mut m, ' '); // Finance (D2)
    ch(&mut m, ' '); // Marketing (D3)
    ch(&mut m, '/');
    let job = one_job(&typed_fx(&mut m, "sal"));
    key(&mut m, KeyCode::Enter);
    // The rows of "sal" are not in yet: the plan is built from the marks, not from rows.
    let fx = ctrl_d(&mut m);
    assert!(jobs(&fx).is_empty());
    let Some(Modal::Confirm(c)) = m.modals.last() else {
        panic!("the confirmation opens: {:?}", m.modals);
    };
    let mut targets: Vec<String> = c
        .plan
        .steps
        .iter()
        .map(|s| s.target.id.to_string())
        .collect();
    targets.sort();
    assert_eq!(targets, ["D2", "D3"]);
    let plan = c.plan.clone();
    // The filter's rows arrive while the confirmation is open (first the stale answer of
    // "s", then "sal"): the plan does not change.
    let fx = answer(&mut m, job);
    answer(&mut m, one_job(&fx));
    let Some(Modal::Confirm(c)) = m.modals.last() else {
        panic!("still confirming");
    };
    assert!(Arc::ptr_eq(&c.plan, &plan));
    assert_eq!(names(&m), ["Sales"]);
    assert_eq!(marks(&m), ["D2", "D3"]);
}

fn reload(m: &mut Model, resources: Vec<Resource>) -> Vec<Effect> {
    let fx = ch(m, 'r');
    assert!(fx.iter().any(|e| matches!(e, Effect::Load { .. })));
    let generation = m.tab().map(|t| t.generation).unwrap_or(0);
    update(
        m,
        Msg::Loaded {
            profile: 0,
            generation,
            at: NOW,
            result: Ok(Snapshot {
                resources,
                warnings: vec!["prod: one warning".into()],
            }),
        },
    )
}

#[test]
fn a_reload_is_indexed_on_the_worker_and_swapped_in_whole() {
    let mut m = loaded_model();
    on_worker(&mut m);
    ch(&mut m, 'j'); // Marketing
    ch(&mut m, ' '); // mark Marketing (D3), cursor on Sales
    ch(&mut m, 'k'); // back on Marketing
                     // The reload drops Marketing's neighbour Finance and brings a new object.
    let mut fresh: Vec<Resource> = resources().into_iter().filter(|r| r.id != "D2").collect();
    fresh.push(Resource::new(
        crate::model::VendorId::MicroStrategy,
        "prod",
        Kind::Datasources,
        "D9",
        "Audit",
    ));
    let fx = reload(&mut m, fresh);
    let job = one_job(&fx);
    assert!(matches!(job.source, Source::Fresh { .. }));
    assert_eq!(job.views.len(), m.tab().map_or(0, |t| t.views.len()));
    // Until the answer: the old objects, rows and cursor.
    assert_eq!(names(&m), ["Finance", "Marketing", "Sales"]);
    assert_eq!(m.tab().map(|t| t.load.clone()), Some(LoadState::Loading));
    let fx = answer(&mut m, job);
    let freed = fx
        .iter()
        .any(|e| matches!(e, Effect::Discard(g) if !g.is_empty()));
    assert!(
        freed,
        "the old objects are freed off the event loop: {fx:?}"
    );
    assert_eq!(names(&m), ["Audit", "Marketing", "Sales"]);
    assert_eq!(current_name(&m), "Marketing");
    assert_eq!(marks(&m), ["D3"]);
    assert_eq!(m.tab().map(|t| t.load.clone()), Some(LoadState::Loaded));
    assert!(m.log.iter().any(|l| l.text == "prod: one warning"));
}

#[test]
fn a_mark_of_an_object_a_reload_removed_is_dropped_and_a_filter_typed_meanwhile_follows() {
    let mut m = loaded_model();
    on_worker(&mut m);
    ch(&mut m, ' '); // mark Finance (D2)
    let fresh: Vec<Resource> = resources().into_iter().filter(|r| r.id != "D2").collect();
    let job = one_job(&reload(&mut m, fresh));
    // A filter typed while the reload is indexed waits for it.
    ch(&mut m, '/');
    assert!(jobs(&ch(&mut m, 'm')).is_empty());
    let fx = answer(&mut m, job);
    // The new objects are in (with the old filter's rows); the newer filter follows.
    assert!(marks(&m).is_empty(), "D2 is gone: its mark too");
    assert_eq!(names(&m), ["Marketing", "Sales"]);
    answer(&mut m, one_job(&fx));
    assert_eq!(names(&m), ["Marketing"]);
}

#[test]
fn the_all_tab_is_built_on_the_worker_and_keeps_its_rows_meanwhile() {
    let mut m = loaded_model();
    on_worker(&mut m);
    let fx = ch(&mut m, '*');
    let job = fx
        .iter()
        .find_map(|e| match e {
            Effect::IndexAll(j) => Some((**j).clone()),
            _ => None,
        })
        .expect("an All job");
    assert!(m.all.rows.is_empty() && m.all.busy());
    update(
        &mut m,
        Msg::AllIndexed(Box::new(crate::app::all::run_job(job))),
    );
    assert_eq!(m.all.rows.len(), resources().len());
    ch(&mut m, '/');
    let fx = ch(&mut m, 'x');
    let job = fx
        .iter()
        .find_map(|e| match e {
            Effect::IndexAll(j) => Some((**j).clone()),
            _ => None,
        })
        .expect("a filter job");
    assert_eq!(
        m.all.rows.len(),
        resources().len(),
        "previous rows meanwhile"
    );
    update(
        &mut m,
        Msg::AllIndexed(Box::new(crate::app::all::run_job(job))),
    );
    assert!(m.all.rows.is_empty());
}
