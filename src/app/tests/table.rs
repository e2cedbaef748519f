//! The table, loads, jobs and marks.

use super::*;
use crate::app::effect::Effect;
use crate::app::fixtures::*;
use crate::app::msg::Msg;
use crate::app::state::*;
use crate::app::update::update;
use crate::model::{Health, Kind};
use crate::ops::executor::StepOutcome;
use crate::ops::plan::StepReason;
use crate::vendors::Snapshot;
use crossterm::event::KeyCode;
use std::sync::Arc;

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
    let fx = ctrl_d(&mut m);
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
    ctrl_d(&mut m);
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
    ctrl_d(&mut m);
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
    ctrl_d(&mut m);
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
    ctrl_d(&mut m);
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
    assert!(ctrl_d(&mut m).is_empty());
    assert!(m.modals.is_empty());
    assert!(m
        .status
        .as_ref()
        .is_some_and(|s| s.text.contains("read-only")));
    assert!(ch(&mut m, 'a').is_empty());
    assert!(m.modals.is_empty());
}

#[test]
fn delete_results_update_the_table_then_reload() {
    let mut m = loaded_model();
    ch(&mut m, 'A');
    ctrl_d(&mut m);
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
            result: Err(crate::app::msg::TestFailure {
                setup: false,
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
    ch(&mut m, 'a');
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
    // The typed password is a SecretString: no Debug of the model shows it.
    let shown = format!("{m:?}");
    assert!(!shown.contains("s3cret"), "the password in Debug output");
    assert!(
        shown.contains("SecretInput([redacted], 6 chars)"),
        "{shown}"
    );
    let fx = ctrl(&mut m, 's');
    assert!(
        !format!("{fx:?}").contains("s3cret"),
        "the password in the effect's Debug"
    );
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
    ch(&mut m, 'a');
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
    ctrl_d(&mut m);
    ch(&mut m, 'y');
    key(&mut m, KeyCode::Char('h')); // hide the progress view
    let fx = ch(&mut m, 'q');
    assert!(fx.is_empty());
    assert!(matches!(m.modals.last(), Some(Modal::ConfirmQuit)));
    let fx = ch(&mut m, 'y');
    assert!(fx.iter().any(|e| matches!(e, Effect::Quit)), "{fx:?}");
}

#[test]
fn quit_without_jobs_quits() {
    let mut m = loaded_model();
    let fx = ch(&mut m, 'q');
    assert!(matches!(fx.first(), Some(Effect::Quit)), "{fx:?}");
    // The watch history is written as the console ends.
    assert!(
        fx.iter().any(|e| matches!(e, Effect::SaveWatch(_))),
        "{fx:?}"
    );
}

#[test]
fn esc_in_progress_asks_then_cancels() {
    let mut m = loaded_model();
    ctrl_d(&mut m);
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
        tab.resources_mut()[i].deletable = Some(false);
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
    ctrl_d(&mut m);
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
    ctrl_d(&mut m);
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
    let fx = crate::app::update::init(&mut m);
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
    crate::app::update::init(&mut m);
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
