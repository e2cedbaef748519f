//! The on-call overview: severity order, opening a profile on what is broken, the keys
//! that bring it back, and keys that must not reach the table below.

use super::*;
use crate::app::fixtures::*;

fn overview_names(m: &Model) -> Vec<String> {
    crate::app::overview::order(m)
        .into_iter()
        .map(|p| m.profiles[p].info.name.clone())
        .collect()
}

#[test]
fn profiles_are_sorted_worst_first() {
    let m = overview_model();
    assert_eq!(overview_names(&m), ["broken", "no-secret", "prod", "qa"]);
    let prod = m.profiles[0].summary();
    assert_eq!(prod.counts.unhealthy, 2);
    assert_eq!(prod.state(), "2 unhealthy");
    assert_eq!(prod.load_ms, Some(120));
    assert!(m.profiles[3].summary().no_secret);
    assert_eq!(m.profiles[3].summary().state(), "NO SECRET");
}

#[test]
fn enter_opens_the_profile_on_its_unhealthy_objects() {
    let mut m = overview_model();
    ch(&mut m, 'j');
    ch(&mut m, 'j');
    assert_eq!(m.overview, Some(2), "the cursor is on prod");
    key(&mut m, KeyCode::Enter);
    assert_eq!(m.overview, None);
    assert_eq!(m.active, 0);
    let tab = m.tab().unwrap();
    let v = tab.view().unwrap();
    assert_eq!(v.kind, crate::model::Kind::Connections);
    assert!(v.unhealthy_only);
    assert_eq!(visible_names(&m), ["Mkt Conn", "Sales Conn"]);
    assert!(
        status_text(&m).contains("2 unhealthy"),
        "{}",
        status_text(&m)
    );
}

#[test]
fn zero_and_colon_overview_bring_it_back_and_digits_open_tabs() {
    let mut m = overview_model();
    ch(&mut m, '2');
    assert_eq!((m.overview, m.active), (None, 1));
    ch(&mut m, '0');
    assert_eq!(m.overview, Some(0));
    ch(&mut m, '1');
    assert_eq!((m.overview, m.active), (None, 0));
    ch(&mut m, ':');
    typed(&mut m, "overview");
    key(&mut m, KeyCode::Enter);
    assert_eq!(m.overview, Some(0));
}

#[test]
fn table_keys_do_not_leak_through_the_overview() {
    let mut m = overview_model();
    ch(&mut m, 'A');
    ch(&mut m, ' ');
    assert_eq!(m.overview, Some(0));
    assert!(m
        .profiles
        .iter()
        .all(|t| t.views.iter().all(|v| v.marks.is_empty())));
    assert!(ctrl(&mut m, 'd').is_empty());
    assert!(m.modals.is_empty());
    // r refreshes every usable profile.
    let fx = ch(&mut m, 'r');
    assert_eq!(
        fx.iter()
            .filter(|e| matches!(e, Effect::Load { .. }))
            .count(),
        3
    );
}

#[test]
fn export_writes_the_visible_or_marked_rows_and_y_copies_names() {
    let mut m = overview_model();
    // Nothing to export from the overview itself.
    ch(&mut m, ':');
    typed(&mut m, "export out.csv");
    assert!(run_line_effects(key(&mut m, KeyCode::Enter)).is_empty());
    assert!(status_text(&m).contains("open a profile first"));
    // prod's unhealthy connections, as the overview opens them.
    ch(&mut m, 'j');
    ch(&mut m, 'j');
    key(&mut m, KeyCode::Enter);
    ch(&mut m, ':');
    typed(&mut m, "export ~/oncall.json");
    let fx = run_line_effects(key(&mut m, KeyCode::Enter));
    match fx.as_slice() {
        [Effect::Export { path, format, rows }] => {
            assert!(path.ends_with("oncall.json") && !path.starts_with("~"));
            assert_eq!(*format, crate::ops::export::Format::Json);
            let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
            assert_eq!(names, ["Mkt Conn", "Sales Conn"]);
        }
        other => panic!("expected one export, got {other:?}"),
    }
    ch(&mut m, ':');
    typed(&mut m, "export out.txt");
    assert!(run_line_effects(key(&mut m, KeyCode::Enter)).is_empty());
    assert!(status_text(&m).contains(".csv or .json"));
    // Marked rows win over visible ones; Y copies their names.
    ch(&mut m, ' ');
    let fx = ch(&mut m, 'Y');
    assert!(
        matches!(fx.as_slice(), [Effect::Copy(t)] if t == "Mkt Conn"),
        "{fx:?}"
    );
}

#[test]
fn t_tests_everything_in_every_profile_and_t_again_stops_it() {
    use crate::model::{Health, Kind};
    let mut m = overview_model();
    let fx = ch(&mut m, 'T');
    let jobs: Vec<(u64, usize, Vec<crate::model::Ref>)> = fx
        .iter()
        .filter_map(|e| match e {
            Effect::CheckHealth {
                job,
                profile,
                targets,
            } => Some((*job, *profile, targets.clone())),
            _ => None,
        })
        .collect();
    // prod and qa (qa is read-only: checks change nothing); broken has nothing loaded and
    // no-secret cannot be used.
    assert_eq!(jobs.iter().map(|(_, p, _)| *p).collect::<Vec<_>>(), [0, 1]);
    assert!(jobs[0].2.iter().all(|t| t.kind == Kind::Connections));
    assert_eq!(jobs[0].2.len(), 3);
    // qa's Sales Conn fails; the datasources that use it show it too.
    let (job, _, targets) = &jobs[1];
    for t in targets {
        let health = if t.id == "C1" {
            Health::Unhealthy("login failed".into())
        } else {
            Health::Healthy
        };
        update(
            &mut m,
            Msg::Checked {
                job: *job,
                profile: 1,
                target: t.clone(),
                health: Some(health),
                sentence: None,
            },
        );
    }
    let qa = &m.profiles[1];
    assert_eq!(
        qa.counts.unhealthy, 3,
        "Sales Conn and the two datasources on it"
    );
    assert!(status_text(&m).contains("qa: health checks: 2 ok, 1 failed"));
    // prod's job still runs: T stops it.
    let fx = ch(&mut m, 'T');
    assert!(fx
        .iter()
        .any(|e| matches!(e, Effect::CancelJob { job } if *job == jobs[0].0)));
    assert!(status_text(&m).contains("stopped"));
}

#[test]
fn the_filter_takes_field_terms() {
    let mut m = overview_model();
    ch(&mut m, '1');
    ch(&mut m, ']');
    ch(&mut m, '/');
    typed(&mut m, "health:unhealthy");
    key(&mut m, KeyCode::Enter);
    assert_eq!(visible_names(&m), ["Mkt Conn", "Sales Conn"]);
    ch(&mut m, '/');
    key(&mut m, KeyCode::Esc);
    ch(&mut m, '/');
    typed(&mut m, "!health:unhealthy kind:conn");
    key(&mut m, KeyCode::Enter);
    assert_eq!(visible_names(&m), ["Old Conn"]);
}

#[test]
fn query_marks_mark_and_unmark_what_matches() {
    let mut m = overview_model();
    let run = |m: &mut Model, line: &str| {
        ch(m, ':');
        typed(m, line);
        key(m, KeyCode::Enter);
    };
    run(&mut m, "mark orphans");
    assert!(status_text(&m).contains("open a profile first"));
    ch(&mut m, '1');
    ch(&mut m, ']');
    run(&mut m, "mark health:unhealthy");
    assert_eq!(marks(&m), 2);
    assert!(status_text(&m).contains("marked 2 rows matching 'health:unhealthy'"));
    run(&mut m, "mark orphans");
    assert_eq!(marks(&m), 3, "Old Conn, the orphan, too");
    run(&mut m, "unmark mkt");
    assert_eq!(marks(&m), 2);
    run(&mut m, "unmark all");
    assert_eq!(marks(&m), 0);
    ch(&mut m, '[');
    run(&mut m, "mark");
    assert!(status_text(&m).starts_with("usage: :mark"));
}
