//! CLI tests of plans as files: `delete --plan-out` writes what would run and sends nothing;
//! `dsconsole apply` re-reads every target, refuses what changed since (per object, or the
//! whole plan with --strict), reports what was deleted meanwhile, and runs the rest like
//! `delete`. The real binary against the in-process MicroStrategy simulator.
// These run the built-in simulators, which need the `sim` feature (on by default).
#![cfg(feature = "sim")]

use dsconsole::sim::microstrategy::DEMO_PASSWORD;
use serde_json::Value;
use std::path::PathBuf;

mod common {
    pub mod mstr_cli;
}
use common::mstr_cli::{Out, World};

impl World {
    fn plan_out(&self, targets: &[&str]) -> PathBuf {
        let path = self.dir.path().join("plan.json");
        let mut args = vec!["delete", "mstr", "datasources"];
        args.extend(targets);
        let p = path.to_str().expect("utf-8 path");
        args.extend(["--plan-out", p]);
        let out = self.run(&args);
        out.expect_code(0);
        assert!(out.stdout.contains("nothing was sent"), "{}", out.stdout);
        path
    }

    fn ids(&self) -> Vec<String> {
        self.sim.control.ids("datasources")
    }
}

const THREE: [&str; 3] = [
    "Analytics Sandbox",
    "Legacy Warehouse (unused)",
    "Partner Uploads",
];

fn apply(w: &World, path: &std::path::Path, extra: &[&str]) -> Out {
    let mut args = vec!["apply", path.to_str().expect("utf-8")];
    args.extend(extra);
    w.run(&args)
}

#[test]
fn plan_out_writes_the_plan_with_its_json_and_sends_nothing() {
    let w = World::new("");
    let path = w.plan_out(&THREE);
    assert!(
        w.mutations().is_empty(),
        "nothing sent: {:?}",
        w.mutations()
    );
    let text = std::fs::read_to_string(&path).expect("plan file");
    let v: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(v["format"], "dsconsole-delete-plan");
    assert_eq!(v["version"], 1);
    assert_eq!(v["profile"], "mstr");
    assert_eq!(v["vendor"], "microstrategy");
    assert!(v["tenant"]
        .as_str()
        .is_some_and(|t| t.starts_with("127.0.0.1:")));
    assert!(v["hash"].as_str().is_some_and(|h| h.starts_with("sha256:")));
    let targets = v["targets"].as_array().expect("targets");
    assert_eq!(targets.len(), 3);
    for t in targets {
        assert_eq!(t["kind"], "datasources");
        assert_eq!(t["reason"], "selected");
        assert!(t["object"].is_object() && t["updated"].is_i64(), "{t}");
        assert!(t["impact"]["summary"].is_string(), "{t}");
    }
    // A cascade lists the connection and login after the datasource, each after its users.
    let out = w.run(&[
        "delete",
        "mstr",
        "datasources",
        "Analytics Sandbox",
        "--cascade",
        "--plan-out",
        path.to_str().expect("utf-8"),
    ]);
    out.expect_code(0);
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("plan")).expect("json");
    let kinds: Vec<&str> = v["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .map(|t| t["kind"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(kinds, ["datasources", "connections", "logins"]);
    assert_eq!(v["targets"][1]["reason"], "cascade");
    assert_eq!(v["targets"][1]["after"], serde_json::json!([0]));
    assert!(!text.contains(DEMO_PASSWORD));
    assert!(w.mutations().is_empty());
}

#[test]
fn an_unchanged_plan_runs_and_a_dry_run_sends_nothing() {
    let w = World::new("");
    let path = w.plan_out(&THREE);
    let before = w.ids().len();
    let out = apply(&w, &path, &["--dry-run"]);
    out.expect_code(0);
    assert!(
        out.stdout.contains("dry run: nothing was sent"),
        "{}",
        out.stdout
    );
    assert!(w.mutations().is_empty());
    // Without --yes and without a terminal: refused.
    apply(&w, &path, &[]).expect_code(2);
    assert!(w.mutations().is_empty());
    let out = apply(&w, &path, &["--yes", "--force-impact"]);
    out.expect_code(0);
    assert_eq!(w.ids().len(), before - 3);
    assert_eq!(
        out.stdout
            .lines()
            .filter(|l| l.starts_with("deleted"))
            .count(),
        3,
        "{}",
        out.stdout
    );
    assert!(out.stderr.contains("3 deleted"), "{}", out.stderr);
    // The audit log has them, as from `delete`.
    let listed = w.run(&["deleted", "--output", "ndjson"]);
    assert_eq!(listed.stdout.lines().count(), 3);
}

#[test]
fn a_changed_target_is_refused_alone_or_the_whole_plan_with_strict() {
    let w = World::new("");
    let path = w.plan_out(&THREE);
    w.run(&[
        "update",
        "mstr",
        "datasources",
        "Partner Uploads",
        "--set",
        "description=changed after the plan",
        "--yes",
    ])
    .expect_code(0);
    let sent = w.mutations().len();
    let before = w.ids().len();
    let out = apply(&w, &path, &["--strict", "--yes", "--force-impact"]);
    out.expect_code(1);
    assert!(out.stderr.contains("--strict: 1 of 3"), "{}", out.stderr);
    assert!(
        out.stderr.contains("changed: datasource 'Partner Uploads'"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("updated "), "{}", out.stderr);
    assert_eq!(w.mutations().len(), sent, "nothing sent");
    let out = apply(&w, &path, &["--yes", "--force-impact"]);
    out.expect_code(1);
    assert_eq!(w.ids().len(), before - 2);
    assert!(
        out.stdout
            .contains("changed       datasource 'Partner Uploads'"),
        "{}",
        out.stdout
    );
    assert!(out.stderr.contains("2 deleted"), "{}", out.stderr);
    assert!(out.stderr.contains("1 left out"), "{}", out.stderr);
}

#[test]
fn a_target_deleted_meanwhile_is_reported_gone() {
    let w = World::new("");
    let path = w.plan_out(&THREE);
    w.run(&[
        "delete",
        "mstr",
        "datasources",
        "Partner Uploads",
        "--yes",
        "--force-impact",
    ])
    .expect_code(0);
    let before = w.ids().len();
    let out = apply(&w, &path, &["--yes", "--force-impact"]);
    out.expect_code(0);
    assert!(
        out.stdout
            .contains("gone          datasource 'Partner Uploads'"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("deleted since the plan was written"),
        "{}",
        out.stdout
    );
    assert!(
        out.stderr.contains("2 deleted, 1 already gone"),
        "{}",
        out.stderr
    );
    assert_eq!(w.ids().len(), before - 2);
}

#[test]
fn a_plan_of_a_newer_version_an_unknown_profile_or_edited_is_refused() {
    let w = World::new("");
    let path = w.plan_out(&THREE);
    let text = std::fs::read_to_string(&path).expect("plan");
    let edited = w.dir.path().join("edited.json");
    std::fs::write(&edited, text.replace("\"version\": 1", "\"version\": 7")).expect("w");
    let out = apply(&w, &edited, &["--yes"]);
    out.expect_code(2);
    assert!(out.stderr.contains("newer dsconsole"), "{}", out.stderr);
    std::fs::write(
        &edited,
        text.replace("\"profile\": \"mstr\"", "\"profile\": \"gone\""),
    )
    .expect("w");
    let out = apply(&w, &edited, &["--yes"]);
    out.expect_code(2);
    assert!(
        out.stderr.contains("changed after it was written"),
        "{}",
        out.stderr
    );
    // Re-hashed for another profile: refused as unknown.
    let mut v: Value = serde_json::from_str(&text).expect("json");
    v["profile"] = "elsewhere".into();
    let f: dsconsole::ops::plan_file::PlanFile = serde_json::from_value(v).expect("plan");
    let mut f = f;
    f.hash = f.computed_hash();
    std::fs::write(&edited, f.to_text()).expect("w");
    let out = apply(&w, &edited, &["--yes"]);
    out.expect_code(2);
    assert!(
        out.stderr.contains("is for profile 'elsewhere'"),
        "{}",
        out.stderr
    );
    let out = w.run(&[
        "--read-only",
        "apply",
        path.to_str().expect("utf-8"),
        "--yes",
    ]);
    out.expect_code(2);
    assert!(out.stderr.contains("read-only"), "{}", out.stderr);
    assert!(w.mutations().is_empty());
}
