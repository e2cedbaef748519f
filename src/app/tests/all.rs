//! The All tab: every object of every profile in one table, its filter with field terms,
//! marks that belong to the profiles, actions planned per profile, and keeping up with
//! reloads.

use super::*;
use crate::app::fixtures::*;
use crate::model::Kind;

/// The overview fixture (prod: protected, two failing connections; qa: read-only, the same
/// objects; broken; no-secret), with qa's objects named as qa's, on the All tab.
fn all_model() -> Model {
    let mut m = overview_model();
    for r in m.profiles[1].resources_mut().iter_mut() {
        r.profile = "qa".into();
    }
    ch(&mut m, '*');
    assert!(m.all.open && m.overview.is_none());
    m
}

/// The visible rows as "profile/name".
fn rows(m: &Model) -> Vec<String> {
    m.all
        .rows
        .iter()
        .filter_map(|&(p, i)| {
            let t = m.profiles.get(p as usize)?;
            Some(format!(
                "{}/{}",
                t.info.name,
                t.resources.get(i as usize)?.name
            ))
        })
        .collect()
}

fn filter(m: &mut Model, text: &str) {
    ch(m, ':');
    typed(m, &format!("filter {text}"));
    key(m, KeyCode::Enter);
}

/// Put the cursor on `profile/name`.
fn go_to(m: &mut Model, wanted: &str) {
    ch(m, 'g');
    for _ in 0..m.all.rows.len() {
        if rows(m).get(m.all.cursor).map(String::as_str) == Some(wanted) {
            return;
        }
        ch(m, 'j');
    }
    panic!("{wanted} is not a row: {:?}", rows(m));
}

#[test]
fn every_object_of_every_loaded_profile_is_one_table() {
    let m = all_model();
    let per_profile = resources().len();
    assert_eq!(m.all.members.len(), 2 * per_profile);
    assert_eq!(m.all.rows.len(), 2 * per_profile);
    // Sorted by name, then profile: the same object of two profiles is side by side.
    let r = rows(&m);
    let finance: Vec<&String> = r.iter().filter(|s| s.ends_with("/Finance")).collect();
    assert_eq!(finance, ["prod/Finance", "qa/Finance"]);
    let mut sorted = r.clone();
    sorted.sort_by_key(|s| {
        let (p, n) = s.split_once('/').unwrap();
        (n.to_lowercase(), p.to_string())
    });
    assert_eq!(r, sorted);
}

#[test]
fn the_filter_takes_field_terms_across_profiles() {
    let mut m = all_model();
    filter(&mut m, "health:unhealthy");
    assert_eq!(rows(&m), ["prod/Mkt Conn", "prod/Sales Conn"]);
    filter(&mut m, "profile:q* kind:connections");
    assert_eq!(rows(&m), ["qa/Mkt Conn", "qa/Old Conn", "qa/Sales Conn"]);
    filter(&mut m, "vendor:qlik");
    assert!(rows(&m).is_empty());
    // Esc clears the filter.
    key(&mut m, KeyCode::Esc);
    assert_eq!(m.all.filter, "");
    assert_eq!(m.all.rows.len(), m.all.members.len());
    // u: unhealthy only, the same toggle as in a profile tab.
    ch(&mut m, 'u');
    assert_eq!(rows(&m), ["prod/Mkt Conn", "prod/Sales Conn"]);
}

#[test]
fn sorting_by_health_puts_the_unhealthy_first() {
    let mut m = all_model();
    // Name, Profile, Kind, Health.
    for _ in 0..3 {
        ch(&mut m, 's');
    }
    assert_eq!(crate::app::all::COLUMNS[m.all.sort_col].title, "Health");
    assert_eq!(rows(&m)[..2], ["prod/Mkt Conn", "prod/Sales Conn"]);
    ch(&mut m, 'S');
    let r = rows(&m);
    assert_eq!(r[r.len() - 2..], ["prod/Sales Conn", "prod/Mkt Conn"]);
}

#[test]
fn marks_belong_to_the_profile_of_the_row() {
    let mut m = all_model();
    go_to(&mut m, "qa/Old Conn");
    ch(&mut m, ' ');
    let conns = |m: &Model, p: usize| {
        m.profiles[p]
            .views
            .iter()
            .find(|v| v.kind == Kind::Connections)
            .map(|v| v.marks.clone())
            .unwrap()
    };
    assert!(conns(&m, 0).is_empty(), "prod's C3 is not marked");
    assert_eq!(conns(&m, 1).into_iter().collect::<Vec<_>>(), ["C3"]);
    assert_eq!(crate::app::all::mark_count(&m), 1);
    // A mark hidden by the filter is still counted, and named as hidden.
    filter(&mut m, "profile:prod");
    assert_eq!(crate::app::all::hidden_marks(&m), 1);
    // :mark with a query marks what matches among the visible rows.
    ch(&mut m, ':');
    typed(&mut m, "mark health:unhealthy");
    key(&mut m, KeyCode::Enter);
    assert_eq!(crate::app::all::mark_count(&m), 3);
    assert_eq!(conns(&m, 0).len(), 2);
    // U clears every profile's marks; Ctrl-Z brings them all back.
    ch(&mut m, 'U');
    assert_eq!(crate::app::all::mark_count(&m), 0);
    ctrl(&mut m, 'z');
    assert_eq!(crate::app::all::mark_count(&m), 3);
    assert!(
        status_text(&m).contains("restored 3 marks"),
        "{}",
        status_text(&m)
    );
    // A marks set in the All tab show in the profile's own tab.
    ch(&mut m, '1');
    assert!(!m.all.open);
    let tab = m.tab().unwrap();
    assert_eq!(
        tab.views.iter().map(|v| v.marks.len()).sum::<usize>(),
        2,
        "prod's two unhealthy connections"
    );
}

#[test]
fn delete_plans_the_marked_objects_of_their_profile() {
    let mut m = all_model();
    filter(&mut m, "profile:prod health:unhealthy");
    ch(&mut m, 'A');
    assert_eq!(crate::app::all::mark_count(&m), 2);
    ctrl_d(&mut m);
    let c = confirm(&m);
    assert_eq!(c.profile, 0);
    assert_eq!(c.plan.profile, "prod");
    let ids: Vec<&str> = c.plan.steps.iter().map(|s| s.target.id.as_str()).collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&"C1") && ids.contains(&"C2"), "{ids:?}");
    assert!(c.protected, "prod is protected: its name is asked for");
}

#[test]
fn delete_refuses_a_read_only_profile() {
    let mut m = all_model();
    go_to(&mut m, "qa/Old Conn");
    let fx = ctrl_d(&mut m);
    assert!(fx.is_empty());
    assert!(m.modals.is_empty());
    assert!(status_text(&m).contains("read-only"), "{}", status_text(&m));
}

#[test]
fn impact_asks_each_profile_for_its_own_objects() {
    let mut m = all_model();
    m.profiles[1].info.read_only = false;
    go_to(&mut m, "prod/Finance");
    ch(&mut m, ' ');
    go_to(&mut m, "qa/Sales");
    ch(&mut m, ' ');
    let fx = ch(&mut m, 'i');
    let mut asked: Vec<(usize, Vec<String>)> = fx
        .iter()
        .filter_map(|e| match e {
            Effect::Impact {
                profile, targets, ..
            } => Some((
                *profile,
                targets.iter().map(|t| t.target.id.to_string()).collect(),
            )),
            _ => None,
        })
        .collect();
    asked.sort();
    assert_eq!(
        asked,
        [(0, vec!["D2".to_string()]), (1, vec!["D1".to_string()])]
    );
    assert!(
        status_text(&m).contains("in 2 profiles"),
        "{}",
        status_text(&m)
    );
}

#[test]
fn o_opens_the_row_in_its_profile_tab_on_it() {
    let mut m = all_model();
    // prod's Connections view shows unhealthy ones only: Old Conn is hidden there.
    ch(&mut m, '1');
    ch(&mut m, ']');
    ch(&mut m, 'u');
    ch(&mut m, '*');
    go_to(&mut m, "prod/Old Conn");
    ch(&mut m, 'O');
    assert!(!m.all.open);
    assert_eq!(m.active, 0);
    assert_eq!(m.tab().unwrap().view().unwrap().kind, Kind::Connections);
    assert!(!m.tab().unwrap().view().unwrap().unhealthy_only);
    assert_eq!(current_name(&m), "Old Conn");
}

#[test]
fn tab_goes_round_the_profiles_and_the_all_tab() {
    let mut m = all_model();
    key(&mut m, KeyCode::Tab);
    assert_eq!((m.all.open, m.active), (false, 0));
    key(&mut m, KeyCode::BackTab);
    assert!(m.all.open);
    key(&mut m, KeyCode::BackTab);
    assert_eq!((m.all.open, m.active), (false, 3));
    key(&mut m, KeyCode::Tab);
    assert!(m.all.open);
    ch(&mut m, '0');
    assert!(!m.all.open && m.overview.is_some());
    ch(&mut m, ':');
    typed(&mut m, "all");
    key(&mut m, KeyCode::Enter);
    assert!(m.all.open);
}

#[test]
fn a_reload_rebuilds_the_rows_and_keeps_the_cursor_on_its_object() {
    let mut m = all_model();
    go_to(&mut m, "qa/Sales Conn");
    // qa is reloaded without its Marketing datasource.
    let mut fewer: Vec<crate::model::Resource> = resources()
        .into_iter()
        .filter(|r| r.name != "Marketing")
        .collect();
    for r in fewer.iter_mut() {
        r.profile = "qa".into();
    }
    let generation = m.profiles[1].generation;
    update(
        &mut m,
        Msg::Loaded {
            profile: 1,
            generation,
            at: NOW,
            result: Ok(crate::vendors::Snapshot {
                resources: fewer,
                warnings: vec![],
            }),
        },
    );
    assert_eq!(m.all.members.len(), 2 * resources().len() - 1);
    assert!(!rows(&m).contains(&"qa/Marketing".to_string()));
    assert_eq!(rows(&m)[m.all.cursor], "qa/Sales Conn");
}

#[test]
fn export_writes_the_rows_of_every_profile() {
    let mut m = all_model();
    filter(&mut m, "kind:logins");
    ch(&mut m, ':');
    typed(&mut m, "export logins.csv");
    let fx = run_line_effects(key(&mut m, KeyCode::Enter));
    match fx.as_slice() {
        [Effect::Export { rows, .. }] => {
            let mut profiles: Vec<&str> = rows.iter().map(|r| r.profile.as_str()).collect();
            profiles.sort();
            profiles.dedup();
            assert_eq!(profiles.len(), 2, "{profiles:?}");
            assert!(rows.iter().all(|r| r.kind == Kind::Logins));
        }
        other => panic!("expected one export, got {other:?}"),
    }
}

#[test]
fn a_refresh_with_as_many_objects_is_still_a_new_table() {
    let mut m = all_model();
    go_to(&mut m, "prod/Old Conn");
    // prod comes back with the same number of objects, in another order and one renamed.
    let mut again = resources();
    again.reverse();
    for r in again.iter_mut().filter(|r| r.name == "Finance") {
        r.name = "Finance 2026".into();
    }
    let generation = m.profiles[0].generation;
    update(
        &mut m,
        Msg::Loaded {
            profile: 0,
            generation,
            at: NOW + 60,
            result: Ok(crate::vendors::Snapshot {
                resources: again,
                warnings: vec![],
            }),
        },
    );
    assert!(rows(&m).contains(&"prod/Finance 2026".to_string()));
    assert_eq!(rows(&m)[m.all.cursor], "prod/Old Conn");
}

#[test]
fn delete_over_two_profiles_is_one_confirmation_with_a_plan_each() {
    let mut m = all_model();
    m.profiles[1].info.read_only = false;
    go_to(&mut m, "prod/Finance");
    ch(&mut m, ' ');
    go_to(&mut m, "qa/Old Conn");
    ch(&mut m, ' ');
    ctrl_d(&mut m);
    let c = confirm(&m);
    assert!(c.is_batch());
    let parts: Vec<(String, Vec<String>)> = c
        .parts()
        .map(|p| {
            (
                p.1.profile.to_string(),
                p.1.steps.iter().map(|s| s.target.id.to_string()).collect(),
            )
        })
        .collect();
    assert_eq!(
        parts,
        [
            ("prod".to_string(), vec!["D2".to_string()]),
            ("qa".to_string(), vec!["C3".to_string()]),
        ]
    );
    // prod is protected: its name is what confirms the whole batch.
    assert_eq!(
        c.confirmation(),
        crate::ops::plan::Confirmation::TypeProfile("prod".into())
    );
}
