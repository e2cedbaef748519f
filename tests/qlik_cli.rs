//! CLI tests of the real `dsconsole` binary against the in-process Qlik Cloud simulator:
//! connections whose datasource is disabled are listed and marked, do not make `check`
//! fail, and can be deleted by id; bulk answers that cannot be read are settled; a profile
//! with OAuth client credentials lists through one token.
// These run the built-in simulators, which need the `sim` feature (on by default).
#![cfg(feature = "sim")]

use assert_cmd::Command;
use dsconsole::model::Resource;
use dsconsole::sim::faults::{Fault, FaultRule};
use dsconsole::sim::qlik::{self as qsim, QlikSim};
use dsconsole::sim::SimOptions;
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

/// Safety net against a hung child; never a timing assertion.
const CHILD_TIMEOUT: Duration = Duration::from_secs(120);
const PROFILE: &str = "qlik";
/// `Redshift_Legacy`: its datasource (`redshift`) is disabled in the seed.
const DISABLED_ID: &str = "b88d0238-96fa-493f-8e96-4de6201ce9c0";

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Out {
    fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "exit code\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

struct World {
    sim: QlikSim,
    _rt: tokio::runtime::Runtime,
    dir: tempfile::TempDir,
    config: PathBuf,
    token_var: String,
}

impl World {
    fn new(test: &str) -> World {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let sim = rt
            .block_on(qsim::start(&SimOptions::default()))
            .expect("simulator starts");
        let dir = tempfile::tempdir().expect("temp dir");
        let token_var = format!("DSCONSOLE_QLIK_CLI_TEST_{}", test.to_ascii_uppercase());
        let config = dir.path().join("config.toml");
        let text = format!(
            "[defaults]\nconcurrency = 4\ntimeout_seconds = 30\n\n\
             [[profiles]]\nname = \"{PROFILE}\"\nvendor = \"qlik\"\n\
             base_url = \"{}\"\ntoken_env = \"{token_var}\"\n",
            sim.base_url
        );
        std::fs::write(&config, text).expect("write config");
        World {
            sim,
            _rt: rt,
            dir,
            config,
            token_var,
        }
    }

    fn run(&self, args: &[&str]) -> Out {
        self.run_with(args, &[])
    }

    /// `run`, with these environment variables set too.
    fn run_with(&self, args: &[&str], env: &[(&str, &str)]) -> Out {
        let home = self.dir.path().join("home");
        let out = Command::new(env!("CARGO_BIN_EXE_dsconsole"))
            .arg("--config")
            .arg(&self.config)
            .env_remove("DSCONSOLE_CONFIG")
            .env_remove("DSCONSOLE_LOG")
            .env_remove("NO_COLOR")
            .env("DSCONSOLE_DATA_DIR", self.dir.path().join("data"))
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .env(&self.token_var, qsim::DEMO_TOKEN)
            .envs(env.iter().copied())
            .timeout(CHILD_TIMEOUT)
            .args(args)
            .output()
            .expect("run dsconsole");
        Out {
            code: out.status.code().expect("dsconsole exited with a code"),
            stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
            stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
        }
    }
}

#[test]
fn list_shows_disabled_connections_and_check_does_not_fail_on_them() {
    let w = World::new("list_disabled");
    let out = w.run(&["list", PROFILE, "connections", "--output", "json"]);
    out.expect_code(0);
    let rs: Vec<Value> = serde_json::from_str(&out.stdout).expect("a JSON array");
    assert_eq!(
        rs.len(),
        w.sim.control.visible_ids(qsim::DEMO_TOKEN).len(),
        "every connection"
    );
    let disabled: Vec<&Value> = rs.iter().filter(|r| r["disabled"] == true).collect();
    assert_eq!(disabled.len(), 1, "{disabled:?}");
    assert_eq!(disabled[0]["id"], DISABLED_ID);
    assert_eq!(disabled[0]["name"], "Redshift_Legacy");
    let _: Vec<Resource> = serde_json::from_str(&out.stdout).expect("parses as resources");

    // The table marks it; the filter "disabled" finds only it.
    let out = w.run(&["list", PROFILE, "connections"]);
    out.expect_code(0);
    let line = out
        .stdout
        .lines()
        .find(|l| l.contains(DISABLED_ID))
        .expect("its row");
    assert!(line.contains("disabled"), "{line}");
    assert!(out.stdout.lines().next().unwrap_or("").contains("Status"));
    let out = w.run(&["list", PROFILE, "connections", "--filter", "disabled"]);
    out.expect_code(0);
    let rows: Vec<&str> = out.stdout.lines().skip(1).collect();
    assert_eq!(rows.len(), 1, "{}", out.stdout);
    assert!(rows[0].contains("Redshift_Legacy"));

    // A deliberate state, not a failure.
    let out = w.run(&["check", PROFILE]);
    out.expect_code(0);
    assert!(out.stdout.contains("0 unhealthy"), "{}", out.stdout);
    let out = w.run(&["list", PROFILE, "--unhealthy", "--output", "json"]);
    out.expect_code(0);
    assert_eq!(out.stdout.trim(), "[]");
}

#[test]
fn delete_of_a_disabled_connection_by_id_exits_0() {
    let w = World::new("delete_disabled");
    assert!(w.sim.control.contains(DISABLED_ID));
    let out = w.run(&[
        "delete",
        PROFILE,
        "connections",
        DISABLED_ID,
        "--yes",
        "--force-impact",
    ]);
    out.expect_code(0);
    assert!(!w.sim.control.contains(DISABLED_ID), "gone at the server");
}

#[test]
fn delete_whose_bulk_answer_is_unreadable_exits_0_when_all_are_gone() {
    let ids = [
        "bba64ab4-4704-44f9-9c5f-f31e569c467f", // Athena_Access_Logs
        "c27ef617-02da-4d9d-936d-30afcb424749", // AzureSQL_Staging
        "62f2c9dd-8bec-4f00-be4b-a5c87427b278", // MySQL_Events
    ];
    for (what, fault) in [
        ("truncated JSON", Fault::MalformedJson),
        ("HTML page", Fault::Html { status: 200 }),
        ("connection reset", Fault::Reset),
    ] {
        let w = World::new("bulk_unreadable");
        w.sim.control.faults.add(
            FaultRule::new(fault)
                .method("POST")
                .path("/actions/delete")
                .after()
                .times(1),
        );
        let mut args = vec!["delete", PROFILE, "connections", "--yes", "--force-impact"];
        args.extend(ids);
        let out = w.run(&args);
        out.expect_code(0);
        assert_eq!(w.sim.control.faults.fired(), 1, "{what}");
        for id in ids {
            assert!(!w.sim.control.contains(id), "{what}: {id} is gone");
        }
        assert!(
            !w.sim
                .control
                .requests()
                .iter()
                .any(|r| r.method == "DELETE"),
            "{what}: nothing left to retry"
        );
        for id in ids {
            let line = out
                .stdout
                .lines()
                .find(|l| l.contains(id))
                .unwrap_or_else(|| panic!("{what}: a report line for {id}:\n{}", out.stdout));
            assert!(line.starts_with("already gone"), "{what}: {line}");
        }
    }
}

#[test]
fn a_profile_with_oauth_client_credentials_lists_through_one_token() {
    const CLIENT_ID: &str = "cli-m2m-client";
    const SECRET: &str = "cli-m2m-SECRET-value";
    let w = World::new("oauth");
    w.sim.control.set_oauth_client(CLIENT_ID, SECRET);
    let secret_var = format!("{}_CLIENT_SECRET", w.token_var);
    let text = format!(
        "[[profiles]]\nname = \"m2m\"\nvendor = \"qlik\"\nbase_url = \"{}\"\n\
         client_id = \"{CLIENT_ID}\"\nclient_secret_env = \"{secret_var}\"\nread_only = true\n",
        w.sim.base_url
    );
    std::fs::write(&w.config, text).expect("write config");
    let env = [(secret_var.as_str(), SECRET)];
    let no_secrets = |out: &Out| {
        let both = format!("{}{}", out.stdout, out.stderr);
        assert!(!both.contains(SECRET), "secret shown: {both}");
        for token in w.sim.control.issued_tokens() {
            assert!(!both.contains(&token), "token shown: {both}");
        }
    };

    let out = w.run_with(&["config", "check"], &env);
    out.expect_code(0);
    assert!(
        out.stdout
            .contains("OAuth client credentials (client_id + client_secret)"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains(CLIENT_ID), "{}", out.stdout);
    assert!(
        out.stdout.contains(&format!("env {secret_var} (set)")),
        "{}",
        out.stdout
    );
    no_secrets(&out);

    let out = w.run_with(&["list", "m2m", "connections", "--output", "json"], &env);
    out.expect_code(0);
    let rs: Vec<Value> = serde_json::from_str(&out.stdout).expect("a JSON array");
    assert_eq!(rs.len(), w.sim.control.visible_ids(qsim::DEMO_TOKEN).len());
    assert_eq!(
        w.sim.control.token_requests(),
        1,
        "one token for the whole list"
    );
    no_secrets(&out);

    // A wrong secret: one clear error, no secret in it.
    let out = w.run_with(
        &["list", "m2m", "connections"],
        &[(secret_var.as_str(), "not-the-SECRET")],
    );
    assert_ne!(out.code, 0, "{}", out.stdout);
    assert!(out.stderr.contains("client credentials"), "{}", out.stderr);
    assert!(out.stderr.contains("m2m"), "{}", out.stderr);
    assert!(!out.stderr.contains("not-the-SECRET"), "{}", out.stderr);
    no_secrets(&out);
}
