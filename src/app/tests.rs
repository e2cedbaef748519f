//! `update` tests: keys and task results in, model and effects out.

use super::effect::Effect;
use super::fixtures::*;
use super::msg::Msg;
use super::state::*;
use super::update::update;
use crate::model::{Health, Kind};
use crate::ops::executor::StepOutcome;
use crate::ops::plan::StepReason;
use crate::vendors::Snapshot;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::sync::Arc;

fn key(m: &mut Model, code: KeyCode) -> Vec<Effect> {
    update(m, Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

fn ch(m: &mut Model, c: char) -> Vec<Effect> {
    key(m, KeyCode::Char(c))
}

fn ctrl(m: &mut Model, c: char) -> Vec<Effect> {
    update(
        m,
        Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)),
    )
}

fn typed(m: &mut Model, s: &str) {
    for c in s.chars() {
        ch(m, c);
    }
}

fn visible_names(m: &Model) -> Vec<String> {
    let tab = m.tab().expect("tab");
    let v = tab.view().expect("view");
    v.rows
        .iter()
        .map(|&i| tab.resources[i].name.clone())
        .collect()
}

fn current_name(m: &Model) -> String {
    m.tab()
        .and_then(|t| t.current())
        .map(|r| r.name.clone())
        .unwrap_or_default()
}

fn confirm(m: &Model) -> &ConfirmDelete {
    match m.modals.last() {
        Some(Modal::Confirm(c)) => c,
        other => panic!("expected the delete confirmation, got {other:?}"),
    }
}

#[test]
fn load_fills_rows_sorted_by_name_and_stale_answers_are_dropped() {
    let mut m = loaded_model();
    assert_eq!(visible_names(&m), vec!["Finance", "Marketing", "Sales"]);
    // Refresh starts generation 2; an answer for generation 1 arriving late is ignored.
    let fx = ch(&mut m, 'r');
    assert!(matches!(
        fx.as_slice(),
        [Effect::Load {
            profile: 0,
            generation: 2
        }]
    ));
    update(
        &mut m,
        Msg::Loaded {
            profile: 0,
            generation: 1,
            at: NOW,
            result: Ok(Snapshot::default()),
        },
    );
    assert_eq!(
        visible_names(&m).len(),
        3,
        "stale empty answer must not clear the table"
    );
    update(
        &mut m,
        Msg::Loaded {
            profile: 0,
            generation: 2,
            at: NOW,
            result: Err("MicroStrategy: HTTP 500".into()),
        },
    );
    assert_eq!(
        visible_names(&m).len(),
        3,
        "a failed refresh keeps the last data"
    );
    assert!(m
        .status
        .as_ref()
        .is_some_and(|s| s.text.contains("HTTP 500")));
}

#[test]
fn kind_tabs_switch_with_brackets_and_arrows() {
    let mut m = loaded_model();
    ch(&mut m, ']');
    assert_eq!(
        visible_names(&m),
        vec!["Mkt Conn", "Old Conn", "Sales Conn"]
    );
    key(&mut m, KeyCode::Right);
    assert_eq!(visible_names(&m), vec!["mkt", "shared", "unused"]);
    key(&mut m, KeyCode::Right);
    assert_eq!(m.tab().map(|t| t.kind_index), Some(0));
    ch(&mut m, '[');
    assert_eq!(m.tab().map(|t| t.kind_index), Some(2));
}

#[test]
fn filter_narrows_as_you_type_enter_keeps_esc_clears() {
    let mut m = loaded_model();
    ch(&mut m, '/');
    assert_eq!(m.mode, Mode::Filter);
    typed(&mut m, "fin");
    assert_eq!(visible_names(&m), vec!["Finance"]);
    key(&mut m, KeyCode::Enter);
    assert_eq!(m.mode, Mode::Normal);
    assert_eq!(visible_names(&m), vec!["Finance"]);
    ch(&mut m, '/');
    typed(&mut m, "x");
    assert!(visible_names(&m).is_empty());
    key(&mut m, KeyCode::Esc);
    assert_eq!(visible_names(&m).len(), 3);
    // Keys typed in the filter never act as commands.
    ch(&mut m, '/');
    typed(&mut m, "q");
    assert!(!m.should_quit);
}

#[test]
fn marks_range_all_and_hidden_by_filter() {
    let mut m = loaded_model();
    ch(&mut m, ' '); // mark Finance, cursor moves to Marketing
    assert_eq!(current_name(&m), "Marketing");
    ch(&mut m, 'j'); // Sales
    ch(&mut m, 'V'); // range Finance..Sales
    let marks = m.tab().and_then(|t| t.view()).map(|v| v.marks.len());
    assert_eq!(marks, Some(3));
    ch(&mut m, 'U');
    assert_eq!(
        m.tab().and_then(|t| t.view()).map(|v| v.marks.len()),
        Some(0)
    );
    // A marks only what is visible.
    ch(&mut m, '/');
    typed(&mut m, "s");
    key(&mut m, KeyCode::Enter);
    let visible = visible_names(&m);
    ch(&mut m, 'A');
    assert_eq!(
        m.tab().and_then(|t| t.view()).map(|v| v.marks.len()),
        Some(visible.len())
    );
    // Narrow further: marked rows now hidden are counted.
    ch(&mut m, '/');
    typed(&mut m, "al");
    key(&mut m, KeyCode::Enter);
    let hidden = m.tab().map(|t| t.hidden_marks().len()).unwrap_or(0);
    assert_eq!(hidden, visible.len() - visible_names(&m).len());
    assert!(hidden > 0);
}

#[test]
fn delete_one_row_confirms_with_y_and_runs_exactly_the_plan_shown() {
    let mut m = loaded_model();
    ch(&mut m, 'G'); // Sales
    let fx = ctrl(&mut m, 'd');
    assert!(fx.is_empty(), "opening the confirmation sends nothing");
    let shown = confirm(&m).plan.clone();
    assert_eq!(shown.steps.len(), 1);
    assert_eq!(shown.steps[0].target.name, "Sales");
    assert!(!confirm(&m).focus_delete, "focus starts on Cancel");
    // A bare Enter never confirms: on Cancel it cancels.
    let fx = key(&mut m, KeyCode::Enter);
    assert!(fx.is_empty());
    assert!(m.modals.is_empty());
    key(&mut m, KeyCode::Delete);
    let shown = confirm(&m).plan.clone();
    let fx = ch(&mut m, 'y');
    match fx.as_slice() {
        [Effect::Delete {
            plan, profile: 0, ..
        }] => assert!(Arc::ptr_eq(plan, &shown)),
        other => panic!("expected one Delete effect, got {other:?}"),
    }
    assert!(matches!(m.modals.last(), Some(Modal::Progress { .. })));
}

#[test]
fn several_objects_need_the_typed_count() {
    let mut m = loaded_model();
    ch(&mut m, 'A');
    ctrl(&mut m, 'd');
    assert_eq!(confirm(&m).plan.steps.len(), 3);
    assert!(
        ch(&mut m, 'y').is_empty(),
        "y does not confirm several objects"
    );
    assert!(!m.modals.is_empty());
    // A wrong count never deletes: it says what to type and stays open.
    typed(&mut m, "2");
    assert!(key(&mut m, KeyCode::Enter).is_empty());
    assert!(!m.modals.is_empty());
    key(&mut m, KeyCode::Backspace);
    typed(&mut m, "3");
    let fx = key(&mut m, KeyCode::Enter);
    assert!(matches!(fx.as_slice(), [Effect::Delete { .. }]));
}

#[test]
fn cascade_adds_unused_connection_and_login_and_keeps_shared_ones() {
    let mut m = loaded_model();
    // Marketing uses Mkt Conn, which alone uses login mkt.
    ch(&mut m, 'j');
    assert_eq!(current_name(&m), "Marketing");
    ctrl(&mut m, 'd');
    assert_eq!(confirm(&m).plan.cascade_extra.len(), 2);
    ch(&mut m, 'c');
    let plan = confirm(&m).plan.clone();
    let names: Vec<&str> = plan.steps.iter().map(|s| s.target.name.as_str()).collect();
    assert_eq!(names, vec!["Marketing", "Mkt Conn", "mkt"]);
    assert!(matches!(plan.steps[1].reason, StepReason::Cascade { .. }));
    // Now it needs the count typed.
    assert!(ch(&mut m, 'y').is_empty());
    typed(&mut m, "3");
    let fx = key(&mut m, KeyCode::Enter);
    match fx.as_slice() {
        [Effect::Delete { plan: run, .. }] => assert!(Arc::ptr_eq(run, &plan)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn cascade_from_sales_keeps_connection_still_used_by_finance() {
    let mut m = loaded_model();
    ch(&mut m, 'G'); // Sales
    ctrl(&mut m, 'd');
    ch(&mut m, 'c');
    let plan = confirm(&m).plan.clone();
    assert_eq!(plan.steps.len(), 1);
    assert!(plan
        .kept
        .iter()
        .any(|k| k.target.name == "Sales Conn" && k.reason.contains("Finance")));
}

#[test]
fn protected_profile_needs_the_profile_name() {
    let mut i = info("prod");
    i.protected = true;
    let mut m = loaded_model_with(i);
    ctrl(&mut m, 'd');
    assert!(ch(&mut m, 'y').is_empty());
    assert!(!m.modals.is_empty());
    key(&mut m, KeyCode::Backspace);
    typed(&mut m, "prod");
    let fx = key(&mut m, KeyCode::Enter);
    assert!(matches!(fx.as_slice(), [Effect::Delete { .. }]));
}

#[test]
fn read_only_profile_refuses_delete_and_create_without_a_dialog() {
    let mut i = info("prod");
    i.read_only = true;
    let mut m = loaded_model_with(i);
    assert!(ctrl(&mut m, 'd').is_empty());
    assert!(m.modals.is_empty());
    assert!(m
        .status
        .as_ref()
        .is_some_and(|s| s.text.contains("read-only")));
    assert!(ch(&mut m, 'n').is_empty());
    assert!(m.modals.is_empty());
}

#[test]
fn delete_results_update_the_table_then_reload() {
    let mut m = loaded_model();
    ch(&mut m, 'A');
    ctrl(&mut m, 'd');
    typed(&mut m, "3");
    let fx = key(&mut m, KeyCode::Enter);
    let Some(Effect::Delete { job, plan, .. }) = fx.into_iter().next() else {
        panic!("no delete")
    };
    let outcomes: Vec<StepOutcome> = plan
        .steps
        .iter()
        .map(|s| {
            if s.target.name == "Finance" {
                StepOutcome::Failed("MicroStrategy: HTTP 400 ERR001: refused".into())
            } else {
                StepOutcome::Deleted
            }
        })
        .collect();
    let fx = update(&mut m, Msg::DeleteFinished { job, outcomes });
    assert!(
        matches!(fx.as_slice(), [Effect::Load { .. }]),
        "reconcile with the server"
    );
    assert_eq!(visible_names(&m), vec!["Finance"]);
    assert!(m
        .status
        .as_ref()
        .is_some_and(|s| s.text.contains("1 failed")));
    // R offers to retry the failed one, through a new confirmation.
    ch(&mut m, 'R');
    let c = confirm(&m);
    assert_eq!(c.plan.steps.len(), 1);
    assert_eq!(c.plan.steps[0].target.name, "Finance");
}

#[test]
fn test_key_tests_the_connection_of_a_datasource_and_shows_health() {
    let mut m = loaded_model();
    ch(&mut m, 'G'); // Sales -> C1
    let fx = ch(&mut m, 't');
    let Some(Effect::TestConnections { job, ids, .. }) = fx.into_iter().next() else {
        panic!("no test")
    };
    assert_eq!(ids, vec!["C1".to_string()]);
    update(
        &mut m,
        Msg::TestResult {
            job,
            profile: 0,
            id: "C1".into(),
            result: Err(super::msg::TestFailure {
                reason: "JWT token is invalid".into(),
                sentence: "MicroStrategy: HTTP 400 ERR002: JWT token is invalid".into(),
            }),
        },
    );
    assert!(
        m.log.iter().any(|l| l.text.contains("HTTP 400 ERR002")),
        "full sentence logged"
    );
    let tab = m.tab().expect("tab");
    for name in ["Sales", "Finance", "Sales Conn"] {
        let r = tab.resources.iter().find(|r| r.name == name).expect(name);
        assert_eq!(
            r.health,
            Health::Unhealthy("JWT token is invalid".into()),
            "{name}"
        );
    }
    assert!(
        m.log.iter().any(|l| l.text.contains("HTTP 400 ERR002")),
        "full sentence logged"
    );
    // Unhealthy-only shows exactly those.
    ch(&mut m, 'u');
    assert_eq!(visible_names(&m), vec!["Finance", "Sales"]);
}

#[test]
fn orphans_toggle_shows_unused_connections() {
    let mut m = loaded_model();
    ch(&mut m, ']');
    ch(&mut m, 'o');
    assert_eq!(visible_names(&m), vec!["Old Conn"]);
    ch(&mut m, ']');
    assert_eq!(visible_names(&m).len(), 3, "toggles belong to one kind");
}

#[test]
fn sort_cycles_columns_and_reverses() {
    let mut m = loaded_model();
    ch(&mut m, 'S');
    assert_eq!(visible_names(&m), vec!["Sales", "Marketing", "Finance"]);
}

#[test]
fn create_form_validates_before_sending() {
    let mut m = loaded_model();
    ch(&mut m, ']');
    ch(&mut m, ']'); // logins
    ch(&mut m, 'n');
    assert!(matches!(m.modals.last(), Some(Modal::Create(_))));
    // Submit empty with Ctrl-S: error, nothing sent.
    assert!(ctrl(&mut m, 's').is_empty());
    let Some(Modal::Create(f)) = m.modals.last() else {
        panic!()
    };
    assert_eq!(f.error.as_deref(), Some("Name is required"));
    typed(&mut m, "etl");
    key(&mut m, KeyCode::Tab);
    typed(&mut m, "etl_user");
    key(&mut m, KeyCode::Tab);
    typed(&mut m, "s3cret");
    let fx = ctrl(&mut m, 's');
    match fx.as_slice() {
        [Effect::Create {
            kind: Kind::Logins,
            body,
            ..
        }] => {
            assert_eq!(body["name"], "etl");
            assert_eq!(body["password"], "s3cret");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn failed_create_keeps_the_form_and_what_was_typed() {
    let mut m = loaded_model();
    ch(&mut m, ']');
    ch(&mut m, ']');
    ch(&mut m, 'n');
    typed(&mut m, "etl");
    key(&mut m, KeyCode::Tab);
    typed(&mut m, "u");
    key(&mut m, KeyCode::Tab);
    typed(&mut m, "p");
    let fx = ctrl(&mut m, 's');
    let Some(Effect::Create { job, .. }) = fx.into_iter().next() else {
        panic!()
    };
    update(
        &mut m,
        Msg::Created {
            job,
            profile: 0,
            result: Err("HTTP 400 ERR0015: exists".into()),
        },
    );
    let Some(Modal::Create(f)) = m.modals.last() else {
        panic!("form closed")
    };
    assert_eq!(f.texts[0].text, "etl");
    assert!(f.error.as_deref().is_some_and(|e| e.contains("exists")));
}

#[test]
fn quit_asks_while_a_job_runs() {
    let mut m = loaded_model();
    ctrl(&mut m, 'd');
    ch(&mut m, 'y');
    key(&mut m, KeyCode::Char('h')); // hide the progress view
    let fx = ch(&mut m, 'q');
    assert!(fx.is_empty());
    assert!(matches!(m.modals.last(), Some(Modal::ConfirmQuit)));
    let fx = ch(&mut m, 'y');
    assert!(matches!(fx.as_slice(), [Effect::Quit]));
}

#[test]
fn quit_without_jobs_quits() {
    let mut m = loaded_model();
    assert!(matches!(ch(&mut m, 'q').as_slice(), [Effect::Quit]));
}

#[test]
fn esc_in_progress_asks_then_cancels() {
    let mut m = loaded_model();
    ctrl(&mut m, 'd');
    let fx = ch(&mut m, 'y');
    let Some(Effect::Delete { job, .. }) = fx.into_iter().next() else {
        panic!()
    };
    key(&mut m, KeyCode::Esc);
    assert!(matches!(m.modals.last(), Some(Modal::CancelJob { .. })));
    let fx = ch(&mut m, 'y');
    assert!(matches!(fx.as_slice(), [Effect::CancelJob { job: j }] if *j == job));
}

#[test]
fn command_line_switches_kind_and_reports_unknown() {
    let mut m = loaded_model();
    ch(&mut m, ':');
    typed(&mut m, "kind logins");
    key(&mut m, KeyCode::Enter);
    assert_eq!(visible_names(&m), vec!["mkt", "shared", "unused"]);
    ch(&mut m, ':');
    typed(&mut m, "bogus");
    key(&mut m, KeyCode::Enter);
    assert!(m
        .status
        .as_ref()
        .is_some_and(|s| s.text.contains("unknown command")));
}

#[test]
fn paging_keeps_the_cursor_visible() {
    let mut m = loaded_model();
    update(
        &mut m,
        Msg::Resize {
            width: 80,
            height: 7,
        },
    ); // 2 table rows
    ch(&mut m, 'G');
    let v = m.tab().and_then(|t| t.view()).expect("view");
    assert_eq!(v.cursor, 2);
    assert!(v.offset + m.page_rows > v.cursor && v.offset <= v.cursor);
}

#[test]
fn undeletable_rows_cannot_be_marked() {
    let mut m = loaded_model();
    if let Some(tab) = m.tab_mut() {
        let i = tab.find(Kind::Datasources, "D2").expect("D2");
        tab.resources[i].deletable = Some(false);
    }
    ch(&mut m, ' '); // Finance = D2
    assert_eq!(
        m.tab().and_then(|t| t.view()).map(|v| v.marks.len()),
        Some(0)
    );
    assert!(m
        .status
        .as_ref()
        .is_some_and(|s| s.text.contains("cannot be deleted")));
    ch(&mut m, 'A');
    let marks = m
        .tab()
        .and_then(|t| t.view())
        .map(|v| v.marks.clone())
        .unwrap_or_default();
    assert_eq!(marks.len(), 2);
    assert!(!marks.contains("D2"));
}

#[test]
fn in_use_objects_can_be_left_out_in_the_confirmation() {
    let mut m = loaded_model();
    ch(&mut m, ']'); // connections
    ch(&mut m, 'A'); // Mkt Conn (used by Marketing), Old Conn (orphan), Sales Conn (used)
    ctrl(&mut m, 'd');
    assert_eq!(confirm(&m).plan.in_use_selected, 2);
    assert_eq!(confirm(&m).plan.steps.len(), 3);
    ch(&mut m, 'x');
    let plan = confirm(&m).plan.clone();
    assert!(plan.skip_in_use);
    let names: Vec<&str> = plan.steps.iter().map(|s| s.target.name.as_str()).collect();
    assert_eq!(names, vec!["Old Conn"]);
    assert_eq!(plan.left_out.len(), 2);
    // One object left: y confirms it, and only it runs.
    let fx = ch(&mut m, 'y');
    match fx.as_slice() {
        [Effect::Delete { plan: run, .. }] => assert!(Arc::ptr_eq(run, &plan)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_hidden_delete_can_be_reopened_with_p() {
    let mut m = loaded_model();
    assert!(ch(&mut m, 'p').is_empty());
    assert!(m.modals.is_empty());
    ctrl(&mut m, 'd');
    let fx = ch(&mut m, 'y');
    let Some(Effect::Delete { job, .. }) = fx.into_iter().next() else {
        panic!()
    };
    ch(&mut m, 'h');
    assert!(m.modals.is_empty(), "hidden");
    update(
        &mut m,
        Msg::DeleteFinished {
            job,
            outcomes: vec![StepOutcome::Deleted],
        },
    );
    assert!(m
        .status
        .as_ref()
        .is_some_and(|s| s.text.contains("p: details")));
    ch(&mut m, 'p');
    assert!(matches!(m.modals.last(), Some(Modal::Progress { job: j, .. }) if *j == job));
}

#[test]
fn a_first_load_streams_pages_a_refresh_does_not() {
    use crate::app::fixtures::{info, resources};
    let mut m = Model::new(vec![info("prod")], NOW);
    update(
        &mut m,
        Msg::Resize {
            width: 100,
            height: 30,
        },
    );
    let fx = super::update::init(&mut m);
    assert_eq!(fx.len(), 1);
    let all = resources();
    let first: Vec<_> = all
        .iter()
        .filter(|r| r.kind == Kind::Datasources)
        .take(2)
        .cloned()
        .collect();
    update(
        &mut m,
        Msg::LoadPage {
            profile: 0,
            generation: 1,
            resources: first,
        },
    );
    assert_eq!(visible_names(&m).len(), 2, "the first page shows at once");
    // A page of an older generation is dropped.
    update(
        &mut m,
        Msg::LoadPage {
            profile: 0,
            generation: 0,
            resources: all.clone(),
        },
    );
    assert_eq!(visible_names(&m).len(), 2);
    update(
        &mut m,
        Msg::Loaded {
            profile: 0,
            generation: 1,
            at: NOW,
            result: Ok(Snapshot {
                resources: all.clone(),
                warnings: vec![],
            }),
        },
    );
    assert_eq!(
        visible_names(&m).len(),
        3,
        "the final snapshot replaces the pages"
    );
    assert!(!m.tab().is_some_and(|t| t.streaming));
    // A refresh keeps the complete data until its own snapshot arrives.
    ch(&mut m, 'r');
    update(
        &mut m,
        Msg::LoadPage {
            profile: 0,
            generation: 2,
            resources: vec![all[0].clone()],
        },
    );
    assert_eq!(visible_names(&m).len(), 3);
}

#[test]
fn a_failed_streaming_load_shows_no_partial_list() {
    use crate::app::fixtures::{info, resources};
    let mut m = Model::new(vec![info("prod")], NOW);
    super::update::init(&mut m);
    update(
        &mut m,
        Msg::LoadPage {
            profile: 0,
            generation: 1,
            resources: resources(),
        },
    );
    update(
        &mut m,
        Msg::Loaded {
            profile: 0,
            generation: 1,
            at: NOW,
            result: Err("Qlik Cloud: HTTP 500".into()),
        },
    );
    assert!(m.tab().is_some_and(|t| t.resources.is_empty()));
}

#[test]
fn a_starting_filter_applies_once_and_never_over_the_operators_own() {
    let mut m = loaded_model();
    update(
        &mut m,
        Msg::StartFilter {
            profile: 0,
            filter: "^Sales$".into(),
        },
    );
    assert_eq!(visible_names(&m), vec!["Sales"]);
    // Cleared by the operator, it does not come back on the next load.
    ch(&mut m, '/');
    key(&mut m, KeyCode::Esc);
    update(
        &mut m,
        Msg::StartFilter {
            profile: 0,
            filter: "^Sales$".into(),
        },
    );
    assert_eq!(visible_names(&m).len(), 3);
}

#[test]
fn the_hidden_mark_count_follows_marks_filter_and_deletes() {
    let mut m = loaded_model();
    ch(&mut m, 'A');
    let hidden = |m: &Model| m.tab().and_then(|t| t.view()).map(|v| v.hidden_marked);
    assert_eq!(hidden(&m), Some(0));
    ch(&mut m, '/');
    typed(&mut m, "fin");
    key(&mut m, KeyCode::Enter);
    assert_eq!(hidden(&m), Some(2), "Marketing and Sales are hidden");
    assert_eq!(hidden(&m), m.tab().map(|t| t.hidden_marks().len()));
    ch(&mut m, 'U');
    assert_eq!(hidden(&m), Some(0), "U clears the marks");
}

fn marks(m: &Model) -> usize {
    m.tab()
        .and_then(|t| t.view())
        .map(|v| v.marks.len())
        .unwrap_or(0)
}

fn status_text(m: &Model) -> String {
    m.status
        .as_ref()
        .map(|s| s.text.clone())
        .unwrap_or_default()
}

// ---- Enter does what the highlighted button says -------------------------------------------

#[test]
fn typing_the_count_moves_focus_to_delete_and_says_so() {
    let mut m = loaded_model();
    ch(&mut m, 'A');
    ctrl(&mut m, 'd');
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
    ctrl(&mut m, 'd');
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
    ctrl(&mut m, 'd');
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
    ctrl(&mut m, 'd');
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
    ctrl(&mut m, 'd');
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
    ctrl(&mut m, 'd');
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
    ctrl(&mut m, 'd');
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
    ctrl(&mut m, 'd');
    update(&mut m, Msg::Paste("3".into()));
    assert_eq!(confirm(&m).typed.text, "3");
    assert!(confirm(&m).focus_delete);
    key(&mut m, KeyCode::Esc);
    // A form field takes it too.
    ch(&mut m, ']');
    ch(&mut m, ']');
    ch(&mut m, 'n');
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
    ctrl(&mut m, 'd');
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
    super::update::init(&mut m);
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
    assert!(ctrl(&mut m, 'd').is_empty());
    assert!(m.modals.is_empty());
    // Datasources still can be marked.
    ch(&mut m, '[');
    ch(&mut m, ' ');
    assert_eq!(marks(&m), 1);
}

// ---- Create forms -----------------------------------------------------------------------------

fn form(m: &Model) -> &CreateForm {
    match m.modals.last() {
        Some(Modal::Create(f)) => f,
        other => panic!("expected a create form, got {other:?}"),
    }
}

fn chosen_label(m: &Model, field: usize) -> Option<String> {
    let f = form(m);
    let crate::vendors::forms::FieldKind::Choice(options) = &f.spec.fields[field].kind else {
        panic!("field {field} is not a choice")
    };
    f.choices[field]
        .and_then(|i| options.get(i))
        .map(|c| c.label.clone())
}

/// The fixture with the wire facts a datasource form reads: each connection's database
/// type, each datasource's DBMS.
fn model_with_database_types() -> Model {
    let mut m = loaded_model();
    if let Some(tab) = m.tab_mut() {
        for r in tab.resources.iter_mut() {
            let (ty, ver) = if r.name.starts_with("Mkt") || r.name == "Marketing" {
                ("postgre_sql", "postgre_sql_15")
            } else {
                ("snow_flake", "snowflake_1x")
            };
            let mut raw = serde_json::json!({"id": r.id, "name": r.name,
                "database": {"type": ty, "version": ver}});
            if r.kind == Kind::Datasources {
                let dbms = if ty == "snow_flake" {
                    "Snowflake"
                } else {
                    "PostgreSQL 15.x"
                };
                raw["dbms"] = serde_json::json!({"id": format!("DBMS-{ty}"), "name": dbms});
            }
            r.raw = raw.into();
        }
    }
    m
}

#[test]
fn create_form_goes_back_with_shift_tab_and_up() {
    let mut m = loaded_model();
    ch(&mut m, 'n'); // datasource form: Name, Connection, DBMS, Description
    key(&mut m, KeyCode::Tab);
    key(&mut m, KeyCode::Tab);
    assert_eq!(form(&m).focus, 2);
    key(&mut m, KeyCode::BackTab);
    assert_eq!(form(&m).focus, 1);
    key(&mut m, KeyCode::Up);
    assert_eq!(form(&m).focus, 0);
    // Some terminals send Shift-Tab as Tab with the Shift modifier.
    key(&mut m, KeyCode::Tab);
    key(&mut m, KeyCode::Tab);
    update(
        &mut m,
        Msg::Key(KeyEvent::new(KeyCode::Tab, KeyModifiers::SHIFT)),
    );
    assert_eq!(form(&m).focus, 1);
}

#[test]
fn choice_fields_filter_as_you_type() {
    let mut m = loaded_model();
    ch(&mut m, 'n');
    key(&mut m, KeyCode::Tab); // Connection
    typed(&mut m, "mkt");
    assert_eq!(chosen_label(&m, 1).as_deref(), Some("Mkt Conn [?]"));
    assert_eq!(form(&m).filters[1].text, "mkt");
    for _ in 0..3 {
        key(&mut m, KeyCode::Backspace);
    }
    typed(&mut m, "old");
    assert_eq!(chosen_label(&m, 1).as_deref(), Some("Old Conn [?]"));
    // Left/Right move among the matches only.
    key(&mut m, KeyCode::Right);
    assert_eq!(chosen_label(&m, 1).as_deref(), Some("Old Conn [?]"));
    // Nothing matches: nothing is chosen, so nothing unintended can be sent.
    typed(&mut m, "zzz");
    assert_eq!(chosen_label(&m, 1), None);
    // Pasted text filters too.
    for _ in 0..6 {
        key(&mut m, KeyCode::Backspace);
    }
    update(&mut m, Msg::Paste("sales".into()));
    assert_eq!(chosen_label(&m, 1).as_deref(), Some("Sales Conn [?]"));
}

#[test]
fn the_datasource_form_takes_the_dbms_from_the_connection_and_says_so() {
    let mut m = model_with_database_types();
    ch(&mut m, 'n');
    typed(&mut m, "New DS");
    key(&mut m, KeyCode::Tab);
    typed(&mut m, "mkt");
    assert_eq!(chosen_label(&m, 2).as_deref(), Some("PostgreSQL 15.x"));
    let note = form(&m).note.clone().unwrap_or_default();
    assert!(
        note.contains("PostgreSQL 15.x") && note.contains("Mkt Conn"),
        "{note}"
    );
    // Choosing another DBMS by hand is possible, but the form says it does not match.
    key(&mut m, KeyCode::Tab);
    typed(&mut m, "snow");
    assert_eq!(chosen_label(&m, 2).as_deref(), Some("Snowflake"));
    let fx = ctrl(&mut m, 's');
    assert!(fx.is_empty(), "a mismatch is not sent silently: {fx:?}");
    let err = form(&m).error.clone().unwrap_or_default();
    assert!(
        err.contains("Snowflake") && err.contains("postgre_sql") && err.contains("Ctrl-S again"),
        "{err}"
    );
    // Asked twice, it is sent as chosen.
    let fx = ctrl(&mut m, 's');
    match fx.as_slice() {
        [Effect::Create { body, .. }] => assert_eq!(body["database"]["type"], "snow_flake"),
        other => panic!("{other:?}"),
    }
}
