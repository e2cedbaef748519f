//! CLI tests of undo: `dsconsole deleted` lists what the audit log says was deleted (with the
//! audit refs `restore` takes), and `dsconsole restore` re-creates a MicroStrategy cascade in
//! order, with the confirmations of a delete; a dry run, a refusal or a missing secret sends
//! nothing. The real binary against the in-process MicroStrategy simulator.
// These run the built-in simulators, which need the `sim` feature (on by default).
#![cfg(feature = "sim")]

use serde_json::Value;

mod common {
    pub mod mstr_cli;
}
use common::mstr_cli::World;

const NEW_PW_VAR: &str = "DSCONSOLE_RESTORE_CLI_NEW_PW";

/// A world whose children also have the new password in `NEW_PW_VAR`.
fn world(profile_extra: &str) -> World {
    let mut w = World::new(profile_extra);
    w.env.push((NEW_PW_VAR, "n3w-login-pw"));
    w
}

impl World {
    /// Delete the sandbox datasource with its connection and login; their audit refs,
    /// datasource first (delete order).
    fn delete_cascade(&self) -> Vec<String> {
        self.run(&[
            "delete",
            "mstr",
            "datasources",
            "Analytics Sandbox",
            "--cascade",
            "--yes",
        ])
        .expect_code(0);
        let out = self.run(&["deleted", "--output", "json"]);
        out.expect_code(0);
        let v: Value = serde_json::from_str(&out.stdout).expect("json");
        let mut refs: Vec<(String, String)> = v
            .as_array()
            .expect("array")
            .iter()
            .map(|d| {
                (
                    d["kind"].as_str().unwrap_or("").to_string(),
                    d["reference"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect();
        refs.sort_by_key(|(k, _)| match k.as_str() {
            "datasources" => 0,
            "connections" => 1,
            _ => 2,
        });
        refs.into_iter().map(|(_, r)| r).collect()
    }
}

#[test]
fn deleted_lists_what_the_audit_log_says_was_deleted_with_refs_and_filters() {
    let w = world("");
    let out = w.run(&["deleted"]);
    out.expect_code(0);
    assert!(out.stderr.contains("nothing deleted"), "{}", out.stderr);
    let refs = w.delete_cascade();
    assert_eq!(refs.len(), 3);
    let out = w.run(&["deleted"]);
    out.expect_code(0);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(lines[0].starts_with("AUDIT REF"), "{}", out.stdout);
    assert_eq!(lines.len(), 4, "{}", out.stdout);
    for r in &refs {
        assert!(out.stdout.contains(r.as_str()), "{r} in\n{}", out.stdout);
    }
    assert!(out.stdout.contains("Snowflake Analytics Reader"));
    assert!(out.stdout.contains("deleted  yes"), "{}", out.stdout);
    // Filters: another profile, a window that excludes them, one that includes them.
    let out = w.run(&["deleted", "--profile", "other", "--output", "ndjson"]);
    out.expect_code(0);
    assert!(out.stdout.is_empty());
    let out = w.run(&["deleted", "--since", "1h", "--output", "ndjson"]);
    assert_eq!(out.stdout.lines().count(), 3);
    let first: Value = serde_json::from_str(out.stdout.lines().next().unwrap_or("")).expect("json");
    assert_eq!(first["profile"], "mstr");
    assert_eq!(first["state"], "deleted");
    assert_eq!(first["restorable"], true);
    assert!(first["object"].is_object());
    w.run(&["deleted", "--since", "soon"]).expect_code(2);
    // Nothing was sent by listing.
    assert_eq!(w.mutations().len(), 3, "only the three deletes");
}

#[test]
fn restore_dry_run_sends_nothing_and_a_cascade_is_restored_in_order() {
    let w = world("");
    let refs = w.delete_cascade();
    let sent = w.mutations().len();
    let mut args = vec!["restore"];
    args.extend(refs.iter().map(String::as_str));
    let mut dry = args.clone();
    dry.push("--dry-run");
    let out = w.run(&dry);
    out.expect_code(0);
    assert!(out.stdout.contains("dry run: nothing was sent"));
    let plan = &out.stderr;
    let login = plan.find("1. login 'Snowflake Analytics Reader'");
    let conn = plan.find("2. connection 'Snowflake Analytics'");
    let ds = plan.find("3. datasource 'Analytics Sandbox'");
    assert!(login < conn && conn < ds && login.is_some(), "{plan}");
    assert!(plan.contains("asks for: password"), "{plan}");
    assert!(plan.contains("cannot come back"), "{plan}");
    assert_eq!(w.mutations().len(), sent, "a dry run sends nothing");
    // No --yes and stdin not a terminal: refused, nothing sent.
    let secret = format!("password={NEW_PW_VAR}");
    let mut no_yes = args.clone();
    no_yes.extend(["--secret-env", secret.as_str()]);
    w.run(&no_yes).expect_code(2);
    assert_eq!(w.mutations().len(), sent);
    // No password and no terminal to ask on: refused, nothing sent.
    let mut no_pw = args.clone();
    no_pw.push("--yes");
    let out = w.run(&no_pw);
    out.expect_code(2);
    assert!(
        out.stderr.contains("--secret-env password=VAR"),
        "{}",
        out.stderr
    );
    assert_eq!(w.mutations().len(), sent);
    // Restored: login, connection, datasource, each POSTed once in that order.
    let mut go = no_yes.clone();
    go.push("--yes");
    let out = w.run(&go);
    out.expect_code(0);
    let posts: Vec<String> = w.mutations()[sent..]
        .iter()
        .map(|(_, p)| p.clone())
        .collect();
    assert_eq!(posts.len(), 3, "{posts:?}");
    assert!(posts[0].ends_with("/logins") && posts[1].ends_with("/connections"));
    assert!(posts[2].ends_with("/api/datasources"));
    let report: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("restored"))
        .collect();
    assert_eq!(report.len(), 3, "{}", out.stdout);
    assert!(out.stderr.contains("3 restored, 0 not"), "{}", out.stderr);
    assert!(!out.stdout.contains("n3w-login-pw") && !out.stderr.contains("n3w-login-pw"));
    // `deleted` says so; restoring again is refused before anything is sent.
    let out = w.run(&["deleted"]);
    assert_eq!(
        out.stdout.matches("restored as").count(),
        3,
        "{}",
        out.stdout
    );
    let sent = w.mutations().len();
    let out = w.run(&go);
    out.expect_code(1);
    assert!(out.stderr.contains("already restored"), "{}", out.stderr);
    assert_eq!(w.mutations().len(), sent);
}

#[test]
fn restore_is_refused_read_only_unprotected_or_unknown() {
    let w = world("protected = true");
    let refs = w.delete_cascade_protected();
    let sent = w.mutations().len();
    let secret = format!("password={NEW_PW_VAR}");
    let r = refs[2].as_str();
    let out = w.run(&["restore", r, "--secret-env", &secret, "--yes"]);
    out.expect_code(2);
    assert!(
        out.stderr.contains("--confirm-profile mstr"),
        "{}",
        out.stderr
    );
    let out = w.run(&[
        "--read-only",
        "restore",
        r,
        "--secret-env",
        &secret,
        "--yes",
    ]);
    out.expect_code(2);
    assert!(out.stderr.contains("read-only"), "{}", out.stderr);
    let out = w.run(&["restore", "nosuchrun:1", "--yes"]);
    out.expect_code(2);
    assert!(
        out.stderr.contains("no deleted object with audit ref"),
        "{}",
        out.stderr
    );
    assert_eq!(w.mutations().len(), sent, "nothing sent");
    let out = w.run(&[
        "restore",
        r,
        "--secret-env",
        &secret,
        "--yes",
        "--confirm-profile",
        "mstr",
    ]);
    out.expect_code(0);
    assert!(
        out.stdout.starts_with("restored      login"),
        "{}",
        out.stdout
    );
}

impl World {
    fn delete_cascade_protected(&self) -> Vec<String> {
        self.run(&[
            "delete",
            "mstr",
            "datasources",
            "Analytics Sandbox",
            "--cascade",
            "--yes",
            "--confirm-profile",
            "mstr",
        ])
        .expect_code(0);
        let out = self.run(&["deleted", "--output", "ndjson"]);
        // Newest first: the login (deleted last) leads; reversed, the delete order.
        let mut refs: Vec<String> = out
            .stdout
            .lines()
            .map(|l| {
                let v: Value = serde_json::from_str(l).expect("json");
                v["reference"].as_str().unwrap_or("").to_string()
            })
            .collect();
        refs.reverse();
        refs
    }
}
