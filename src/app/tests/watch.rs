//! Watch: what became unhealthy since the operator last looked — observed on each load and
//! health answer, kept between runs, counted in the overview, highlighted, walked with n/N,
//! acknowledged by leaving a screen.

use super::*;
use crate::app::fixtures::*;
use crate::app::update::init;
use crate::model::{Health, Kind, Resource};
use crate::ops::watch_file::{Change, Entry, Seen, WatchFile, VERSION};
use crate::vendors::Snapshot;

/// The overview fixture's prod objects (C1, C2 failing, C3 healthy), with `more` failing too.
fn prod_objects(more: &[&str]) -> Vec<Resource> {
    let mut all = resources();
    for r in all.iter_mut().filter(|r| r.kind == Kind::Connections) {
        r.health = if r.id == "C3" && !more.contains(&"C3") {
            Health::Healthy
        } else {
            Health::Unhealthy("connection refused".into())
        };
    }
    for r in all.iter_mut().filter(|r| more.contains(&r.id.as_str())) {
        if r.kind != Kind::Connections {
            r.health = Health::Unhealthy("sync failed".into());
        }
    }
    all
}

fn tick(m: &mut Model, now: i64) -> Vec<Effect> {
    update(m, Msg::Tick { now })
}

/// Reload profile `p` with `resources` (as `r` in its tab or the overview would).
fn reload(m: &mut Model, p: usize, resources: Vec<Resource>) -> Vec<Effect> {
    let generation = m.profiles[p].generation + 1;
    m.profiles[p].generation = generation;
    m.profiles[p].load = LoadState::Loading;
    let at = m.now;
    update(
        m,
        Msg::Loaded {
            profile: p,
            generation,
            at,
            result: Ok(Snapshot {
                resources,
                warnings: vec![],
            }),
        },
    )
}

fn name_of(m: &Model, p: usize, kind: Kind, id: &str) -> bool {
    let tab = &m.profiles[p];
    tab.resources
        .iter()
        .find(|r| r.kind == kind && r.id == id)
        .is_some_and(|r| tab.watch.is_new(r))
}

#[test]
fn what_is_unhealthy_at_the_first_look_is_not_new_and_since_when_is_kept() {
    let m = overview_model();
    let w = &m.profiles[0].watch;
    assert_eq!(
        w.looked_at,
        Some(NOW),
        "the first observation is the first look"
    );
    assert_eq!(w.new_count, 0);
    let c1 = w.seen(Kind::Connections, "C1").expect("C1 is remembered");
    assert_eq!(c1.bad_since, Some(NOW));
    assert_eq!(
        c1.changes,
        vec![Change {
            at: NOW,
            unhealthy: true
        }]
    );
    assert!(
        w.seen(Kind::Connections, "C3").is_none(),
        "a healthy object that never failed is not kept"
    );
}

#[test]
fn an_object_that_fails_while_you_look_elsewhere_is_new_counted_found_and_then_known() {
    let mut m = overview_model();
    tick(&mut m, NOW + 600);
    reload(&mut m, 0, prod_objects(&["C3"]));
    let prod = &m.profiles[0];
    assert_eq!(prod.watch.new_count, 1, "C3 failed since the first look");
    assert!(name_of(&m, 0, Kind::Connections, "C3"));
    assert!(
        !name_of(&m, 0, Kind::Connections, "C1"),
        "C1 was failing before"
    );
    let s = prod.summary();
    assert_eq!((s.new_unhealthy, s.looked_at), (1, Some(NOW)));
    // Worst first: the profile that failed to load, then prod (something new).
    let order = crate::app::overview::order(&m);
    assert_eq!(order[2], 0, "{order:?}");
    // n in the overview: the profile with new objects; Enter opens it, n finds the row.
    ch(&mut m, 'G');
    ch(&mut m, 'n');
    assert_eq!(m.overview, Some(2));
    key(&mut m, KeyCode::Enter);
    assert_eq!(m.overview, None);
    ch(&mut m, 'n');
    assert_eq!(current_name(&m), "Old Conn");
    assert!(status_text(&m).contains("unhealthy"), "{}", status_text(&m));
    // Still here: still new. Leaving the tab is having looked at it.
    tick(&mut m, NOW + 700);
    assert_eq!(m.profiles[0].watch.new_count, 1);
    ch(&mut m, '2');
    assert_eq!(m.profiles[0].watch.new_count, 0);
    assert_eq!(m.profiles[0].watch.looked_at, Some(NOW + 700));
    ch(&mut m, 'n');
    assert!(
        status_text(&m).contains("nothing became unhealthy"),
        "{}",
        status_text(&m)
    );
    // Healthy again: forgotten as a failure, kept in its changes.
    tick(&mut m, NOW + 800);
    reload(&mut m, 0, prod_objects(&[]));
    let c3 = m.profiles[0]
        .watch
        .seen(Kind::Connections, "C3")
        .expect("C3 kept");
    assert_eq!(c3.bad_since, None);
    assert_eq!(
        c3.changes.iter().map(|c| c.unhealthy).collect::<Vec<_>>(),
        [true, false]
    );
}

#[test]
fn n_and_shift_n_walk_the_new_rows_across_kinds_and_in_the_all_tab() {
    let mut m = overview_model();
    tick(&mut m, NOW + 60);
    // D3 (a datasource) and C3 (a connection) fail after the first look.
    reload(&mut m, 0, prod_objects(&["C3", "D3"]));
    assert_eq!(m.profiles[0].watch.new_count, 2);
    // The All tab, from the overview: the two among every profile's rows.
    ch(&mut m, '*');
    let new: Vec<String> = m
        .all
        .rows
        .iter()
        .filter_map(|&(p, i)| {
            let t = &m.profiles[p as usize];
            let r = &t.resources[i as usize];
            t.watch.is_new(r).then(|| format!("{p}/{}", r.name))
        })
        .collect();
    assert_eq!(new.len(), 2, "{new:?}");
    ch(&mut m, 'n');
    let (p, first) = crate::app::all::current(&m).expect("row");
    let first = format!("{p}/{}", first.name);
    assert_eq!(first, new[0]);
    ch(&mut m, 'n');
    let (p, r) = crate::app::all::current(&m).expect("row");
    assert_eq!(format!("{p}/{}", r.name), new[1]);
    ch(&mut m, 'n');
    let (p, r) = crate::app::all::current(&m).expect("row");
    assert_eq!(format!("{p}/{}", r.name), new[0], "round again");
    // Leaving the All tab is having looked at every profile.
    ch(&mut m, '1');
    assert_eq!(crate::app::watch::new_total(&m), 0);
    // In prod's tab, Sales (a datasource) and unused (a login) fail while it is shown.
    tick(&mut m, NOW + 120);
    reload(&mut m, 0, prod_objects(&["C3", "D3", "D1", "L3"]));
    assert_eq!(m.profiles[0].watch.new_count, 2);
    assert_eq!(
        m.tab().and_then(|t| t.view()).map(|v| v.kind),
        Some(Kind::Datasources)
    );
    ch(&mut m, 'G');
    ch(&mut m, 'n');
    assert_eq!(
        current_name(&m),
        "unused",
        "past the connections to the logins"
    );
    ch(&mut m, 'n');
    assert_eq!(current_name(&m), "Sales", "round to the datasources");
    ch(&mut m, 'N');
    assert_eq!(current_name(&m), "unused", "and back");
}

#[test]
fn the_history_of_earlier_runs_brings_back_last_tests_and_what_is_new_since_then() {
    let mut m = Model::new(vec![info("prod")], NOW);
    m.profiles[0].watch.ready = false;
    init(&mut m);
    update(
        &mut m,
        Msg::Loaded {
            profile: 0,
            generation: 1,
            at: NOW,
            result: Ok(Snapshot {
                resources: prod_objects(&[]),
                warnings: vec![],
            }),
        },
    );
    assert_eq!(
        m.profiles[0].watch.looked_at, None,
        "nothing observed before the file"
    );
    let file = WatchFile {
        version: VERSION,
        profile: "prod".into(),
        looked_at: Some(NOW - 3600),
        objects: vec![
            Entry {
                kind: Kind::Connections,
                id: "C1".into(),
                seen: Seen {
                    bad_since: Some(NOW - 7200),
                    ..Seen::default()
                },
            },
            // Never failing this run (no health from the server) but failed its last test.
            Entry {
                kind: Kind::Logins,
                id: "L3".into(),
                seen: Seen {
                    bad_since: Some(NOW - 600),
                    tested_at: Some(NOW - 600),
                    test_failed: Some("login failed".into()),
                    changes: vec![],
                },
            },
            // Missing from the server for a while: forgotten.
            Entry {
                kind: Kind::Connections,
                id: "C9".into(),
                seen: Seen {
                    bad_since: Some(NOW - 31 * 86_400),
                    ..Seen::default()
                },
            },
            // Missing only lately (a list that failed, say): kept.
            Entry {
                kind: Kind::Connections,
                id: "C8".into(),
                seen: Seen {
                    bad_since: Some(NOW - 600),
                    ..Seen::default()
                },
            },
        ],
    };
    update(
        &mut m,
        Msg::WatchLoaded {
            profile: 0,
            file: Ok(Some(file)),
        },
    );
    let tab = &m.profiles[0];
    let l3 = tab.resources.iter().find(|r| r.id == "L3").expect("L3");
    assert_eq!(l3.health, Health::Unhealthy("login failed".into()));
    assert_eq!(tab.counts.unhealthy, 3, "C1, C2, and L3 from its last test");
    let w = &tab.watch;
    assert_eq!(w.looked_at, Some(NOW - 3600));
    assert_eq!(
        w.seen(Kind::Connections, "C1").and_then(|s| s.bad_since),
        Some(NOW - 7200)
    );
    assert!(w.seen(Kind::Connections, "C9").is_none());
    assert!(w.seen(Kind::Connections, "C8").is_some());
    // C1 failed before the last look; C2 (not failing then) and L3 failed after it.
    assert_eq!(w.new_count, 2);
    assert!(!name_of(&m, 0, Kind::Connections, "C1"));
    assert!(name_of(&m, 0, Kind::Connections, "C2"));
    assert!(name_of(&m, 0, Kind::Logins, "L3"));
}

#[test]
fn an_unreadable_history_is_said_and_a_new_one_starts() {
    let mut m = Model::new(vec![info("prod")], NOW);
    m.profiles[0].watch.ready = false;
    init(&mut m);
    update(
        &mut m,
        Msg::WatchLoaded {
            profile: 0,
            file: Err("not a watch history: expected value".into()),
        },
    );
    assert!(m.profiles[0].watch.ready);
    assert!(m
        .log
        .iter()
        .any(|l| l.text.contains("prod: watch history not read")));
}

#[test]
fn checks_are_remembered_and_histories_are_written_on_a_tick_and_at_the_end() {
    let mut m = loaded_model();
    // The first look was written on the first tick after the load.
    let fx = tick(&mut m, NOW + 1);
    assert!(
        fx.iter().any(|e| matches!(e, Effect::SaveWatch(_))),
        "{fx:?}"
    );
    assert!(
        !tick(&mut m, NOW + 2)
            .iter()
            .any(|e| matches!(e, Effect::SaveWatch(_))),
        "nothing changed: nothing written"
    );
    update(
        &mut m,
        Msg::TestResult {
            job: 99,
            profile: 0,
            id: "C2".into(),
            result: Err(crate::ops::connection_tests::TestFailure {
                reason: "login failed for etl".into(),
                sentence: "connection 'Mkt Conn': login failed for etl".into(),
                setup: false,
            }),
        },
    );
    // Observed on the next tick; written no sooner than SAVE_EVERY after the last write.
    let fx = tick(&mut m, NOW + 3);
    assert!(!fx.iter().any(|e| matches!(e, Effect::SaveWatch(_))));
    let c2 = m.profiles[0]
        .watch
        .seen(Kind::Connections, "C2")
        .expect("C2");
    assert_eq!(c2.tested_at, Some(NOW + 1 + 1));
    assert_eq!(c2.bad_since, Some(NOW + 2), "since the check answered");
    // Its datasource Marketing fails with it.
    assert_eq!(
        m.profiles[0].watch.new_count, 2,
        "they failed while you looked"
    );
    let fx = tick(&mut m, NOW + 20);
    let saved = fx.iter().find_map(|e| match e {
        Effect::SaveWatch(f) => Some(f.clone()),
        _ => None,
    });
    let saved = saved.expect("written after SAVE_EVERY");
    assert!(saved
        .objects
        .iter()
        .any(|e| e.id == "C2" && e.seen.test_failed.as_deref() == Some("login failed for etl")));
    // An answer just before quitting (no tick since) is observed before the last write;
    // quitting on the tab is having looked at it.
    update(
        &mut m,
        Msg::TestResult {
            job: 99,
            profile: 0,
            id: "C1".into(),
            result: Err(crate::ops::connection_tests::TestFailure {
                reason: "host unreachable".into(),
                sentence: "connection 'Sales Conn': host unreachable".into(),
                setup: false,
            }),
        },
    );
    let fx = ch(&mut m, 'q');
    let last = fx.iter().find_map(|e| match e {
        Effect::SaveWatch(f) => Some(f.clone()),
        _ => None,
    });
    let last = last.expect("written at the end");
    assert_eq!(last.looked_at, Some(NOW + 20));
    let c1 = last.objects.iter().find(|e| e.id == "C1").expect("C1");
    assert_eq!(c1.seen.bad_since, Some(NOW + 20));
}

#[test]
fn auto_refresh_reloads_every_due_profile_in_the_overview_and_only_the_shown_one_elsewhere() {
    let mut m = overview_model();
    m.refresh_seconds = 60;
    let loads = |fx: &[Effect]| {
        fx.iter()
            .filter_map(|e| match e {
                Effect::Load { profile, .. } => Some(*profile),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    // Loaded at NOW-30: due at NOW+30.
    assert_eq!(loads(&tick(&mut m, NOW + 29)), Vec::<usize>::new());
    assert_eq!(
        loads(&tick(&mut m, NOW + 31)),
        vec![0, 1],
        "prod and qa (broken never loaded)"
    );
    let mut m = overview_model();
    m.refresh_seconds = 60;
    ch(&mut m, '2');
    assert_eq!(loads(&tick(&mut m, NOW + 31)), vec![1]);
}
