//! CLI tests: every headless command of the real `dsconsole` binary, run against the
//! in-process MicroStrategy simulator, checking exit codes, what goes to stdout and stderr,
//! what reaches the server (its request log) and what the audit log records.
// These run the built-in simulators, which need the `sim` feature (on by default).
#![cfg(feature = "sim")]

use assert_cmd::Command;
use dsconsole::model::{Kind, Resource, VendorId};
use dsconsole::sim::microstrategy::{self, MstrSim, SimRequest, DEMO_PASSWORD, DEMO_USERNAME};
use dsconsole::sim::SimOptions;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

const SEED: &str = include_str!("../assets/microstrategy.json");

/// Safety net against a hung child; never a timing assertion.
const CHILD_TIMEOUT: Duration = Duration::from_secs(120);

/// The profile every test config defines.
const PROFILE: &str = "mstr";

/// A datasource whose connection and login nothing else uses.
const SANDBOX_DS: (&str, &str) = ("Analytics Sandbox", "98414AE161FC54A2147602C635CFCA30");
const SANDBOX_CONN: (&str, &str) = ("Snowflake Analytics", "9EAFFFD94FB07653C890C8841C45FB97");
const SANDBOX_LOGIN: (&str, &str) = (
    "Snowflake Analytics Reader",
    "C158EE9733984F825FC7F9BC51FABA13",
);
/// Plain datasources used as single delete targets.
const REDSHIFT_DS: (&str, &str) = (
    "Redshift Marketing Attribution",
    "969DE764C822F2FBA1AE0A591509068C",
);
const BIGQUERY_DS: (&str, &str) = (
    "Customer 360 (BigQuery)",
    "A72D7B9644CC8F36915675BD680D81CF",
);
const WEBSTORE_DS: (&str, &str) = ("Web Store Orders", "21F0156AD5E316A625545616E17260F9");
/// Connections nothing uses.
const STAGING_CONN: (&str, &str) = ("Postgres Sales Staging", "3BCF9384574DC39AC15175FDBFE33C11");
const ARCHIVE_CONN: (&str, &str) = ("Oracle Archive", "161ECCBEB4FD443D088AD8B48B12121D");
/// A connection three datasources use: the server refuses to delete it.
const FINANCE_CONN: (&str, &str) = ("Snowflake Finance Prod", "DEFBD172D7268B131493820473EDEF33");
/// Two datasources; the ambiguity test gives the first the second's name.
const FORECAST_DS: (&str, &str) = ("Finance Forecasting", "7414AFC3A99BA27581188A11602D9C59");
const MONTH_END_DS: (&str, &str) = (
    "Finance Month-End Close",
    "AF93B16458357B8FC5C6B1978AFAF012",
);

/// One command's result.
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

    fn both(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// One test's world: its own runtime, simulator, temp dir and config.
struct World {
    sim: MstrSim,
    /// Serves the simulator (and any proxy); dropped after `sim`.
    rt: tokio::runtime::Runtime,
    dir: tempfile::TempDir,
    config: PathBuf,
    /// Environment variable holding the password, set only on the child.
    pw_var: String,
}

impl World {
    /// A simulator and a config whose profile `mstr` points at it; `profile_extra` is added
    /// to that profile's table, `extra_toml` after it.
    fn new(test: &str, profile_extra: &str, extra_toml: &str) -> World {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let sim = rt
            .block_on(microstrategy::start(&SimOptions::default()))
            .expect("simulator starts");
        let dir = tempfile::tempdir().expect("temp dir");
        let pw_var = format!("DSCONSOLE_CLI_TEST_PW_{}", test.to_ascii_uppercase());
        let base_url = sim.base_url.clone();
        let world = World {
            sim,
            rt,
            config: dir.path().join("config.toml"),
            dir,
            pw_var,
        };
        world.write_config(&base_url, profile_extra, extra_toml);
        world
    }

    fn write_config(&self, base_url: &str, profile_extra: &str, extra_toml: &str) {
        let text = format!(
            "[defaults]\nconcurrency = 4\ntimeout_seconds = 30\n\n\
             [[profiles]]\nname = \"{PROFILE}\"\nvendor = \"microstrategy\"\n\
             base_url = \"{base_url}\"\nusername = \"{DEMO_USERNAME}\"\n\
             password_env = \"{var}\"\n{profile_extra}\n{extra_toml}",
            var = self.pw_var
        );
        std::fs::write(&self.config, text).expect("write config");
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn audit_path(&self) -> PathBuf {
        self.data_dir().join("audit.jsonl")
    }

    /// The binary with the config, a private data dir and home, and the password variable.
    fn cmd(&self) -> Command {
        let home = self.dir.path().join("home");
        let mut c = Command::new(env!("CARGO_BIN_EXE_dsconsole"));
        c.arg("--config")
            .arg(&self.config)
            .env_remove("DSCONSOLE_CONFIG")
            .env_remove("DSCONSOLE_LOG")
            .env_remove("NO_COLOR")
            .env("DSCONSOLE_DATA_DIR", self.data_dir())
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .env(&self.pw_var, DEMO_PASSWORD)
            .timeout(CHILD_TIMEOUT);
        c
    }

    fn run(&self, args: &[&str]) -> Out {
        run(self.cmd().args(args))
    }

    fn requests(&self) -> Vec<SimRequest> {
        self.sim.control.requests()
    }

    fn deletes(&self) -> Vec<SimRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == "DELETE")
            .collect()
    }

    /// Every request that is neither a GET nor a session login/logout.
    fn mutations(&self) -> Vec<SimRequest> {
        self.requests()
            .into_iter()
            .filter(|r| {
                r.method != "GET"
                    && !(r.method == "POST"
                        && (r.path.ends_with("/api/auth/login")
                            || r.path.ends_with("/api/auth/logout")))
            })
            .collect()
    }

    /// The audit log's lines, parsed (none when the file does not exist).
    fn audit_lines(&self) -> Vec<Value> {
        match std::fs::read_to_string(self.audit_path()) {
            Ok(text) => text
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| serde_json::from_str(l).expect("audit line is JSON"))
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => panic!("reading the audit log: {e}"),
        }
    }

    fn assert_nothing_audited(&self) {
        let lines = self.audit_lines();
        assert!(lines.is_empty(), "audit log has lines: {lines:?}");
    }

    fn assert_seed_object(&self, kind: &str, (name, id): (&str, &str)) {
        let v = self
            .sim
            .control
            .object(kind, id)
            .unwrap_or_else(|| panic!("seed has {kind} {id}"));
        assert_eq!(v["name"], name, "seed {kind} {id} is named {name}");
    }

    fn write_file(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).expect("write file");
        p
    }
}

fn run(cmd: &mut Command) -> Out {
    let out = cmd.output().expect("run dsconsole");
    Out {
        code: out.status.code().expect("dsconsole exited with a code"),
        stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("temp path is UTF-8")
}

fn sorted(ids: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut v: Vec<String> = ids.into_iter().collect();
    v.sort();
    v
}

fn ids_of(rs: &[Resource]) -> Vec<String> {
    sorted(rs.iter().map(|r| r.id.to_string()))
}

/// Audit lines about one object, in file order.
fn audit_for<'a>(lines: &'a [Value], id: &str) -> Vec<&'a Value> {
    lines.iter().filter(|l| l["id"] == id).collect()
}

fn assert_audited_delete(lines: &[Value], kind: &str, id: &str) {
    let mine = audit_for(lines, id);
    assert_eq!(
        mine.len(),
        2,
        "one before and one after line for {id}: {lines:?}"
    );
    let (before, after) = (mine[0], mine[1]);
    assert_eq!(before["phase"], "before");
    assert_eq!(after["phase"], "after");
    assert_eq!(
        before["seq"], after["seq"],
        "after repeats the before's seq"
    );
    for l in [before, after] {
        assert_eq!(l["operation"], "delete");
        assert_eq!(l["kind"], kind);
        assert_eq!(l["profile"], PROFILE);
        assert_eq!(l["vendor"], "microstrategy");
    }
    assert_eq!(after["outcome"], "deleted");
}

// ---------------------------------------------------------------------------------------------
// list
// ---------------------------------------------------------------------------------------------

#[test]
fn list_prints_a_table_of_every_kind_on_stdout() {
    let w = World::new("list_all", "", "");
    let out = w.run(&["list", PROFILE]);
    out.expect_code(0);
    assert!(
        out.stderr.trim().is_empty(),
        "a successful list prints no messages: {}",
        out.stderr
    );
    for (kind, title) in [
        ("datasources", "Datasources"),
        ("connections", "Connections"),
        ("logins", "Logins"),
    ] {
        let ids = w.sim.control.ids(kind);
        assert!(!ids.is_empty());
        let heading = format!("== {title} ({})", ids.len());
        assert!(out.stdout.contains(&heading), "missing '{heading}'");
        for id in &ids {
            assert!(out.stdout.contains(id.as_str()), "{kind} {id} not listed");
        }
    }
    assert!(out.stdout.contains(SANDBOX_DS.0));
    assert!(out.stdout.contains(SANDBOX_LOGIN.0));
    // Headings in the vendor's kind order.
    let pos = |s: &str| out.stdout.find(s).expect("heading present");
    assert!(pos("== Datasources") < pos("== Connections"));
    assert!(pos("== Connections") < pos("== Logins"));
}

#[test]
fn list_orphan_connections_shows_only_unused_connections() {
    let w = World::new("list_orphans", "", "");
    w.assert_seed_object("connections", STAGING_CONN);
    w.assert_seed_object("connections", ARCHIVE_CONN);
    let out = w.run(&["list", PROFILE, "connections", "--orphans"]);
    out.expect_code(0);
    let lines: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(lines.len(), 3, "header and two orphans:\n{}", out.stdout);
    assert!(
        lines[0].contains("Name") && lines[0].contains("ID"),
        "header: {}",
        lines[0]
    );
    let rows = lines[1..].join("\n");
    for (name, id) in [STAGING_CONN, ARCHIVE_CONN] {
        assert!(
            rows.contains(name) && rows.contains(id),
            "{name} missing:\n{rows}"
        );
    }
    assert!(
        !out.stdout.contains(FINANCE_CONN.1),
        "a used connection is listed"
    );
    assert!(!out.stdout.contains("== "), "one kind: no headings");
}

#[test]
fn list_json_parses_into_resources_with_the_simulators_ids() {
    let w = World::new("list_json", "", "");
    let out = w.run(&["list", PROFILE, "datasources", "--output", "json"]);
    out.expect_code(0);
    let rs: Vec<Resource> = serde_json::from_str(&out.stdout).expect("stdout is a JSON array");
    assert_eq!(ids_of(&rs), sorted(w.sim.control.ids("datasources")));
    for r in &rs {
        assert_eq!(r.kind, Kind::Datasources);
        assert_eq!(r.vendor, VendorId::MicroStrategy);
        assert_eq!(r.profile, PROFILE);
    }
    let sandbox = rs
        .iter()
        .find(|r| r.id == SANDBOX_DS.1)
        .expect("sandbox listed");
    assert_eq!(sandbox.name, SANDBOX_DS.0);
    assert!(
        sandbox
            .depends_on
            .iter()
            .any(|d| d.kind == Kind::Connections && d.id == SANDBOX_CONN.1),
        "the datasource's connection is in depends_on: {:?}",
        sandbox.depends_on
    );
}

#[test]
fn list_ndjson_prints_one_resource_per_line() {
    let w = World::new("list_ndjson", "", "");
    // --config is global: accepted after the subcommand too.
    let out = run(w.cmd().args([
        "list",
        PROFILE,
        "connections",
        "--output",
        "ndjson",
        "--config",
        path_str(&w.config),
    ]));
    out.expect_code(0);
    let lines: Vec<&str> = out.stdout.lines().collect();
    let expected = sorted(w.sim.control.ids("connections"));
    assert_eq!(lines.len(), expected.len(), "one line per connection");
    let rs: Vec<Resource> = lines
        .iter()
        .map(|l| serde_json::from_str(l).expect("each line is one Resource"))
        .collect();
    assert_eq!(ids_of(&rs), expected);
    assert!(rs.iter().all(|r| r.kind == Kind::Connections));
}

#[test]
fn list_filter_narrows_the_rows() {
    let w = World::new("list_filter", "", "");
    w.assert_seed_object("datasources", FORECAST_DS);
    w.assert_seed_object("datasources", MONTH_END_DS);
    let out = w.run(&[
        "list",
        PROFILE,
        "datasources",
        "--output",
        "json",
        "--filter",
        "^Finance",
    ]);
    out.expect_code(0);
    let rs: Vec<Resource> = serde_json::from_str(&out.stdout).expect("JSON array");
    assert_eq!(
        ids_of(&rs),
        sorted([FORECAST_DS.1.to_string(), MONTH_END_DS.1.to_string()])
    );
}

#[test]
fn list_accepts_a_singular_kind() {
    let w = World::new("list_singular", "", "");
    let out = w.run(&["list", PROFILE, "login", "--output", "json"]);
    out.expect_code(0);
    let rs: Vec<Resource> = serde_json::from_str(&out.stdout).expect("JSON array");
    assert_eq!(ids_of(&rs), sorted(w.sim.control.ids("logins")));
    assert!(rs.iter().all(|r| r.kind == Kind::Logins));
}

#[test]
fn list_of_an_unknown_kind_is_a_usage_error_naming_the_kinds() {
    let w = World::new("list_bad_kind", "", "");
    for kind in ["widgets", "datamarts"] {
        let out = w.run(&["list", PROFILE, kind]);
        out.expect_code(2);
        assert!(out.stdout.is_empty(), "no data on stdout: {}", out.stdout);
        assert!(
            out.stderr.contains(kind),
            "names the bad kind: {}",
            out.stderr
        );
        for valid in ["datasources", "connections", "logins"] {
            assert!(
                out.stderr.contains(valid),
                "names the valid kind {valid}: {}",
                out.stderr
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Arguments and configuration errors
// ---------------------------------------------------------------------------------------------

#[test]
fn bad_arguments_exit_2_and_send_nothing() {
    let w = World::new("bad_args", "", "");
    let out = w.run(&["list", PROFILE, "--bogus-flag"]);
    out.expect_code(2);
    assert!(out.stderr.contains("--bogus-flag"), "{}", out.stderr);
    assert!(out.stdout.is_empty());

    let out = w.run(&["list"]);
    out.expect_code(2);
    assert!(out.stderr.contains("PROFILE"), "{}", out.stderr);
    assert!(out.stdout.is_empty());

    let out = w.run(&["delete", PROFILE, "datasources"]);
    out.expect_code(2);
    assert!(out.stderr.contains("ID_OR_NAME"), "{}", out.stderr);

    let out = w.run(&["frobnicate"]);
    out.expect_code(2);

    assert!(w.requests().is_empty(), "nothing reaches the server");
}

#[test]
fn unknown_profile_is_a_usage_error_naming_the_profiles() {
    let other = "[[profiles]]\nname = \"other-mstr\"\nvendor = \"microstrategy\"\n\
                 base_url = \"https://bi.example.com/MicroStrategyLibrary\"\n\
                 username = \"someone\"\npassword_env = \"DSCONSOLE_CLI_TEST_UNUSED\"\n";
    let w = World::new("unknown_profile", "", other);
    let out = w.run(&["list", "nope"]);
    out.expect_code(2);
    assert!(out.stdout.is_empty());
    assert!(out.stderr.contains("'nope'"), "{}", out.stderr);
    assert!(out.stderr.contains(PROFILE), "{}", out.stderr);
    assert!(out.stderr.contains("other-mstr"), "{}", out.stderr);
    assert!(w.requests().is_empty());
}

#[test]
fn missing_secret_names_the_variable_and_prints_no_secret() {
    let other = "[[profiles]]\nname = \"inline-mstr\"\nvendor = \"microstrategy\"\n\
                 base_url = \"https://bi.example.com/MicroStrategyLibrary\"\n\
                 username = \"someone\"\npassword = \"s3cr3t-inline\"\n";
    let w = World::new("missing_secret", "", other);
    for args in [
        vec!["list", PROFILE],
        vec!["delete", PROFILE, "datasources", SANDBOX_DS.0, "--yes"],
        vec!["check", PROFILE],
    ] {
        let out = run(w.cmd().args(&args).env_remove(&w.pw_var));
        out.expect_code(2);
        assert!(out.stdout.is_empty(), "{args:?}: {}", out.stdout);
        assert!(
            out.stderr.contains(&w.pw_var),
            "{args:?}: names the variable: {}",
            out.stderr
        );
        assert!(
            !out.both().contains("s3cr3t-inline"),
            "{args:?}: secret shown"
        );
        assert!(
            !out.both().contains(DEMO_PASSWORD),
            "{args:?}: secret shown"
        );
    }
    assert!(w.requests().is_empty(), "nothing reaches the server");
}

#[test]
fn malformed_config_is_a_usage_error_with_file_and_line() {
    let w = World::new("bad_config", "", "");
    let text =
        "[defaults]\nconcurrency = 4\n\n[[profiles]]\nname = \"mstr\"\nvendor = \"microstrategy\n";
    // The world's own config turned malformed.
    std::fs::write(&w.config, text).expect("write config");
    let at = format!("{}:6", w.config.display());
    for args in [vec!["list", PROFILE], vec!["config", "check"]] {
        let out = w.run(&args);
        out.expect_code(2);
        assert!(out.stdout.is_empty(), "{args:?}: {}", out.stdout);
        assert!(
            out.stderr.contains(&at),
            "{args:?}: wants '{at}': {}",
            out.stderr
        );
    }
    assert!(w.requests().is_empty());
}

#[test]
fn verbose_logging_never_shows_the_password() {
    let w = World::new("trace_log", "", "");
    let out = run(w
        .cmd()
        .env("DSCONSOLE_LOG", "trace")
        .args(["list", PROFILE, "logins"]));
    out.expect_code(0);
    assert!(
        !out.both().contains(DEMO_PASSWORD),
        "the password reached the output"
    );
}

// ---------------------------------------------------------------------------------------------
// delete
// ---------------------------------------------------------------------------------------------

#[test]
fn delete_without_yes_and_no_terminal_refuses_and_sends_nothing() {
    let w = World::new("delete_no_yes", "", "");
    let out = w.run(&["delete", PROFILE, "datasources", SANDBOX_DS.0]);
    out.expect_code(2);
    assert!(out.stderr.contains("nothing was sent"), "{}", out.stderr);
    assert!(w.deletes().is_empty(), "DELETE sent: {:?}", w.deletes());
    assert!(
        w.mutations().is_empty(),
        "mutation sent: {:?}",
        w.mutations()
    );
    assert!(w.sim.control.contains("datasources", SANDBOX_DS.1));
    w.assert_nothing_audited();
}

#[test]
fn delete_dry_run_prints_the_cascade_plan_and_sends_no_mutation() {
    let w = World::new("delete_dry_run", "", "");
    let out = w.run(&[
        "delete",
        PROFILE,
        "datasources",
        SANDBOX_DS.0,
        "--cascade",
        "--dry-run",
    ]);
    out.expect_code(0);
    for (name, id) in [SANDBOX_DS, SANDBOX_CONN, SANDBOX_LOGIN] {
        assert!(
            out.stdout.contains(name) && out.stdout.contains(id),
            "plan on stdout names {name} {id}:\n{}",
            out.stdout
        );
    }
    // The plan lists them in execution order.
    let pos = |id: &str| out.stdout.find(id).expect("in plan");
    assert!(pos(SANDBOX_DS.1) < pos(SANDBOX_CONN.1));
    assert!(pos(SANDBOX_CONN.1) < pos(SANDBOX_LOGIN.1));
    assert!(out.stdout.contains("[cascade]"), "{}", out.stdout);
    assert!(out.stdout.contains("nothing was sent"), "{}", out.stdout);

    assert!(
        w.requests().iter().any(|r| r.method == "GET"),
        "the plan needs the objects"
    );
    assert!(
        w.mutations().is_empty(),
        "mutation sent: {:?}",
        w.mutations()
    );
    for kind in ["datasources", "connections", "logins"] {
        assert_eq!(
            w.sim.control.ids(kind).len(),
            sorted_seed_ids(kind).len(),
            "{kind} unchanged"
        );
    }
    w.assert_nothing_audited();

    // Without --cascade the plan holds the datasource only, and says what stays.
    let out = w.run(&["delete", PROFILE, "datasources", SANDBOX_DS.0, "--dry-run"]);
    out.expect_code(0);
    assert!(out.stdout.contains(SANDBOX_DS.1));
    assert!(!out.stdout.contains(SANDBOX_CONN.1), "{}", out.stdout);
    assert!(!out.stdout.contains(SANDBOX_LOGIN.1), "{}", out.stdout);
    assert!(out.stdout.contains("--cascade"), "{}", out.stdout);
    assert!(w.mutations().is_empty());
}

#[test]
fn delete_yes_by_name_deletes_it_and_audits_before_and_after() {
    let w = World::new("delete_by_name", "", "");
    w.assert_seed_object("datasources", REDSHIFT_DS);
    let out = w.run(&["delete", PROFILE, "datasources", REDSHIFT_DS.0, "--yes"]);
    out.expect_code(0);
    assert!(!w.sim.control.contains("datasources", REDSHIFT_DS.1));
    let conn = "039F56DD02FFCEF8DFB28FE346DC4BCC";
    assert!(
        w.sim.control.contains("connections", conn),
        "no cascade: its connection stays"
    );
    let deletes = w.deletes();
    assert_eq!(deletes.len(), 1, "{deletes:?}");
    assert!(deletes[0]
        .path
        .ends_with(&format!("/api/datasources/{}", REDSHIFT_DS.1)));
    assert_eq!(deletes[0].status, 204);

    let result = out
        .stdout
        .lines()
        .find(|l| l.contains(REDSHIFT_DS.1))
        .expect("stdout reports the object");
    assert!(result.starts_with("deleted"), "{result}");
    assert!(result.contains(REDSHIFT_DS.0), "{result}");

    let lines = w.audit_lines();
    assert_audited_delete(&lines, "datasources", REDSHIFT_DS.1);
    assert_eq!(lines.len(), 2, "only this object is audited: {lines:?}");
}

#[test]
fn delete_cascade_deletes_datasource_then_connection_then_login() {
    let w = World::new("delete_cascade", "", "");
    for (kind, obj) in [
        ("datasources", SANDBOX_DS),
        ("connections", SANDBOX_CONN),
        ("logins", SANDBOX_LOGIN),
    ] {
        w.assert_seed_object(kind, obj);
    }
    let out = w.run(&[
        "delete",
        PROFILE,
        "datasources",
        SANDBOX_DS.0,
        "--cascade",
        "--yes",
    ]);
    out.expect_code(0);
    let paths: Vec<String> = w.deletes().into_iter().map(|r| r.path).collect();
    assert_eq!(paths.len(), 3, "{paths:?}");
    assert!(
        paths[0].ends_with(&format!("/api/datasources/{}", SANDBOX_DS.1)),
        "{paths:?}"
    );
    assert!(
        paths[1].ends_with(&format!("/api/datasources/connections/{}", SANDBOX_CONN.1)),
        "{paths:?}"
    );
    assert!(
        paths[2].ends_with(&format!("/api/datasources/logins/{}", SANDBOX_LOGIN.1)),
        "{paths:?}"
    );
    assert!(!w.sim.control.contains("datasources", SANDBOX_DS.1));
    assert!(!w.sim.control.contains("connections", SANDBOX_CONN.1));
    assert!(!w.sim.control.contains("logins", SANDBOX_LOGIN.1));
    for (name, id) in [SANDBOX_DS, SANDBOX_CONN, SANDBOX_LOGIN] {
        let line = out
            .stdout
            .lines()
            .find(|l| l.contains(id))
            .unwrap_or_else(|| panic!("stdout reports {name}:\n{}", out.stdout));
        assert!(line.starts_with("deleted"), "{line}");
    }
    let lines = w.audit_lines();
    assert_audited_delete(&lines, "datasources", SANDBOX_DS.1);
    assert_audited_delete(&lines, "connections", SANDBOX_CONN.1);
    assert_audited_delete(&lines, "logins", SANDBOX_LOGIN.1);
}

#[test]
fn delete_with_a_refused_object_exits_1_and_deletes_the_other() {
    let w = World::new("delete_partial", "", "");
    w.assert_seed_object("connections", STAGING_CONN);
    w.assert_seed_object("connections", FINANCE_CONN);
    let out = w.run(&[
        "delete",
        PROFILE,
        "connections",
        STAGING_CONN.0,
        FINANCE_CONN.0,
        "--yes",
    ]);
    out.expect_code(1);
    assert!(!w.sim.control.contains("connections", STAGING_CONN.1));
    assert!(w.sim.control.contains("connections", FINANCE_CONN.1));

    let failed = out
        .stdout
        .lines()
        .position(|l| l.contains(FINANCE_CONN.1))
        .expect("stdout names the refused connection");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(lines[failed].starts_with("failed"), "{}", lines[failed]);
    assert!(lines[failed].contains(FINANCE_CONN.0), "{}", lines[failed]);
    let detail = lines.get(failed + 1).copied().unwrap_or("");
    assert!(
        detail.contains(
            "Cannot delete connection 'Snowflake Finance Prod' because it is used by datasource"
        ),
        "the vendor's message follows: {}",
        out.stdout
    );
    let ok = lines
        .iter()
        .find(|l| l.contains(STAGING_CONN.1))
        .expect("stdout names the deleted connection");
    assert!(ok.starts_with("deleted"), "{ok}");

    let audit = w.audit_lines();
    assert_audited_delete(&audit, "connections", STAGING_CONN.1);
    let refused = audit_for(&audit, FINANCE_CONN.1);
    assert_eq!(refused.len(), 2, "{audit:?}");
    assert_eq!(refused[1]["outcome"], "failed");
    assert!(
        refused[1]["error"]
            .as_str()
            .is_some_and(|e| e.contains("Cannot delete connection")),
        "{:?}",
        refused[1]
    );
}

#[test]
fn delete_of_an_unknown_name_is_a_usage_error() {
    let w = World::new("delete_unknown", "", "");
    let out = w.run(&[
        "delete",
        PROFILE,
        "datasources",
        SANDBOX_DS.0,
        "No Such Datasource",
        "--yes",
    ]);
    out.expect_code(2);
    assert!(
        out.stderr.contains("'No Such Datasource'"),
        "{}",
        out.stderr
    );
    assert!(
        w.deletes().is_empty(),
        "nothing is deleted when one name is unknown"
    );
    assert!(w.sim.control.contains("datasources", SANDBOX_DS.1));
    w.assert_nothing_audited();

    // A name of another kind is not a datasource's name.
    let out = w.run(&["delete", PROFILE, "datasources", SANDBOX_LOGIN.0, "--yes"]);
    out.expect_code(2);
    assert!(w.deletes().is_empty());
}

#[test]
fn delete_of_an_ambiguous_name_is_a_usage_error_naming_the_ids() {
    let w = World::new("delete_ambiguous", "", "");
    // The simulator keeps names unique, so a proxy in front of it gives a second datasource
    // the same name, as a real server with duplicate names would.
    let origin = w
        .sim
        .base_url
        .strip_suffix("/MicroStrategyLibrary")
        .expect("base URL has the context path")
        .to_string();
    let proxy =
        w.rt.block_on(renaming_proxy::start(origin, FORECAST_DS.1, MONTH_END_DS.0))
            .expect("proxy starts");
    w.write_config(&format!("{proxy}/MicroStrategyLibrary"), "", "");

    let out = w.run(&["delete", PROFILE, "datasources", MONTH_END_DS.0, "--yes"]);
    out.expect_code(2);
    assert!(out.stderr.contains("ambiguous"), "{}", out.stderr);
    assert!(out.stderr.contains(FORECAST_DS.1), "{}", out.stderr);
    assert!(out.stderr.contains(MONTH_END_DS.1), "{}", out.stderr);
    assert!(
        w.requests().iter().any(|r| r.method == "GET"),
        "the proxy reached the simulator"
    );
    assert!(w.deletes().is_empty());
    w.assert_nothing_audited();

    // The id still selects exactly one of them.
    let out = w.run(&[
        "delete",
        PROFILE,
        "datasources",
        MONTH_END_DS.1,
        "--dry-run",
    ]);
    out.expect_code(0);
    assert!(out.stdout.contains(MONTH_END_DS.1));
    assert!(!out.stdout.contains(FORECAST_DS.1), "{}", out.stdout);
}

// ---------------------------------------------------------------------------------------------
// read-only and protected profiles
// ---------------------------------------------------------------------------------------------

fn assert_read_only_refuses(w: &World, global_flag: bool) {
    let pre: &[&str] = if global_flag { &["--read-only"] } else { &[] };
    let args =
        |rest: &[&str]| -> Vec<String> { pre.iter().chain(rest).map(|s| s.to_string()).collect() };

    let out = w.run_owned(&args(&[
        "delete",
        PROFILE,
        "datasources",
        WEBSTORE_DS.0,
        "--yes",
    ]));
    out.expect_code(2);
    assert!(out.stderr.contains("read-only"), "{}", out.stderr);
    assert!(out.stderr.contains("nothing was sent"), "{}", out.stderr);
    assert!(w.deletes().is_empty());
    assert!(w.sim.control.contains("datasources", WEBSTORE_DS.1));

    let out = w.run_owned(&args(&[
        "delete",
        PROFILE,
        "datasources",
        WEBSTORE_DS.0,
        "--dry-run",
    ]));
    out.expect_code(0);
    assert!(out.stdout.contains(WEBSTORE_DS.1), "{}", out.stdout);
    assert!(out.stdout.contains("nothing was sent"), "{}", out.stdout);

    let login = w.write_file(
        "login.json",
        r#"{"name": "Read Only Test", "username": "ro", "password": "pw-ro-123"}"#,
    );
    let out = w.run_owned(&args(&[
        "create",
        PROFILE,
        "logins",
        "--from",
        path_str(&login),
    ]));
    out.expect_code(2);
    assert!(out.stderr.contains("read-only"), "{}", out.stderr);

    assert!(
        w.mutations().is_empty(),
        "mutation sent: {:?}",
        w.mutations()
    );
    w.assert_nothing_audited();
}

impl World {
    fn run_owned(&self, args: &[String]) -> Out {
        run(self.cmd().args(args))
    }
}

#[test]
fn read_only_profile_refuses_delete_and_create_but_dry_run_works() {
    let w = World::new("read_only_profile", "read_only = true", "");
    assert_read_only_refuses(&w, false);
}

#[test]
fn read_only_flag_refuses_delete_and_create_but_dry_run_works() {
    let w = World::new("read_only_flag", "", "");
    assert_read_only_refuses(&w, true);
}

#[test]
fn protected_profile_needs_the_profile_name_confirmed() {
    let w = World::new("protected", "protected = true", "");
    w.assert_seed_object("datasources", BIGQUERY_DS);

    let out = w.run(&["delete", PROFILE, "datasources", BIGQUERY_DS.0, "--yes"]);
    out.expect_code(2);
    assert!(out.stderr.contains("--confirm-profile"), "{}", out.stderr);
    assert!(w.mutations().is_empty(), "{:?}", w.mutations());

    let out = w.run(&[
        "delete",
        PROFILE,
        "datasources",
        BIGQUERY_DS.0,
        "--yes",
        "--confirm-profile",
        "wrong",
    ]);
    out.expect_code(2);
    assert!(out.stderr.contains("nothing was sent"), "{}", out.stderr);
    assert!(w.mutations().is_empty(), "{:?}", w.mutations());
    w.assert_nothing_audited();
    assert!(w.sim.control.contains("datasources", BIGQUERY_DS.1));

    // Without --yes and without a terminal: refused even with the right name.
    let out = w.run(&[
        "delete",
        PROFILE,
        "datasources",
        BIGQUERY_DS.0,
        "--confirm-profile",
        PROFILE,
    ]);
    out.expect_code(2);
    assert!(w.mutations().is_empty(), "{:?}", w.mutations());

    let out = w.run(&[
        "delete",
        PROFILE,
        "datasources",
        BIGQUERY_DS.0,
        "--yes",
        "--confirm-profile",
        PROFILE,
    ]);
    out.expect_code(0);
    assert!(!w.sim.control.contains("datasources", BIGQUERY_DS.1));
    assert_eq!(w.deletes().len(), 1);
    assert_audited_delete(&w.audit_lines(), "datasources", BIGQUERY_DS.1);
}

// ---------------------------------------------------------------------------------------------
// create
// ---------------------------------------------------------------------------------------------

#[test]
fn create_login_prints_the_stored_object_and_audits_without_the_password() {
    let w = World::new("create_login", "", "");
    let password = "pw-must-not-leak-7f3a9";
    let file = w.write_file(
        "login.json",
        &format!(
            "{{\n  \"name\": \"CLI Created Login\",\n  \"username\": \"cli_user\",\n  \
             \"password\": \"{password}\",\n  \"description\": \"made by tests/cli.rs\"\n}}\n"
        ),
    );
    let before = w.sim.control.ids("logins").len();
    let out = w.run(&["create", PROFILE, "logins", "--from", path_str(&file)]);
    out.expect_code(0);
    let created: Resource = serde_json::from_str(&out.stdout).expect("stdout is one Resource");
    assert_eq!(created.kind, Kind::Logins);
    assert_eq!(created.name, "CLI Created Login");
    assert_eq!(created.profile, PROFILE);
    assert!(!created.id.is_empty());
    assert!(w.sim.control.contains("logins", &created.id));
    assert_eq!(w.sim.control.ids("logins").len(), before + 1);
    let stored = w.sim.control.object("logins", &created.id).expect("stored");
    assert_eq!(stored["username"], "cli_user");
    assert!(!out.both().contains(password), "password in the output");

    let posts: Vec<SimRequest> = w
        .mutations()
        .into_iter()
        .filter(|r| r.method == "POST")
        .collect();
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert!(posts[0].path.ends_with("/api/datasources/logins"));
    assert_eq!(posts[0].status, 201);

    let text = std::fs::read_to_string(w.audit_path()).expect("audit log written");
    assert!(
        !text.contains(password),
        "password in the audit log:\n{text}"
    );
    let lines = w.audit_lines();
    let phases: Vec<&Value> = lines.iter().map(|l| &l["phase"]).collect();
    assert_eq!(phases, ["before", "after"], "{lines:?}");
    assert!(lines.iter().all(|l| l["operation"] == "create"));
    assert!(lines.iter().all(|l| l["name"] == "CLI Created Login"));
    assert_eq!(lines[1]["outcome"], "created");
}

#[test]
fn create_from_invalid_json_is_a_usage_error_with_file_and_line() {
    let w = World::new("create_bad_json", "", "");
    let file = w.write_file(
        "login.json",
        "{\n  \"name\": \"Broken\",\n  \"username\": \"x\",,\n  \"password\": \"p\"\n}\n",
    );
    let out = w.run(&["create", PROFILE, "logins", "--from", path_str(&file)]);
    out.expect_code(2);
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    let at = format!("{}:3", file.display());
    assert!(out.stderr.contains(&at), "wants '{at}': {}", out.stderr);
    assert!(w.mutations().is_empty(), "{:?}", w.mutations());
    w.assert_nothing_audited();

    let missing = w.dir.path().join("no-such-file.json");
    let out = w.run(&["create", PROFILE, "logins", "--from", path_str(&missing)]);
    out.expect_code(2);
    assert!(out.stderr.contains("no-such-file.json"), "{}", out.stderr);
    assert!(w.mutations().is_empty());
}

// ---------------------------------------------------------------------------------------------
// check
// ---------------------------------------------------------------------------------------------

fn seed_failing_connections() -> Vec<(String, String)> {
    let seed: Value = serde_json::from_str(SEED).expect("seed is JSON");
    seed.pointer("/simulator/failingConnections")
        .and_then(Value::as_object)
        .expect("seed has failing connections")
        .iter()
        .map(|(id, m)| (id.clone(), m.as_str().unwrap_or_default().to_string()))
        .collect()
}

fn sorted_seed_ids(kind: &str) -> Vec<String> {
    let seed: Value = serde_json::from_str(SEED).expect("seed is JSON");
    sorted(
        seed[kind]
            .as_array()
            .expect("seed kind")
            .iter()
            .filter_map(|o| o["id"].as_str().map(str::to_string)),
    )
}

#[test]
fn check_exits_1_while_connection_tests_fail_and_0_when_they_pass() {
    let w = World::new("check", "", "");
    let failing = seed_failing_connections();
    assert!(!failing.is_empty());

    let out = w.run(&["check", PROFILE]);
    out.expect_code(1);
    let unhealthy: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("UNHEALTHY"))
        .collect();
    for (id, message) in &failing {
        let line = unhealthy
            .iter()
            .find(|l| l.contains(id.as_str()) && l.contains("connection"))
            .unwrap_or_else(|| panic!("connection {id} reported unhealthy:\n{}", out.stdout));
        assert!(line.contains(message.as_str()), "reason shown: {line}");
    }
    let tests = w
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/api/datasources/connections/test"))
        .count();
    assert_eq!(
        tests,
        w.sim.control.ids("connections").len(),
        "every connection tested"
    );
    assert!(w.deletes().is_empty());

    for (id, _) in &failing {
        w.sim.control.set_connection_test_failure(id, None);
    }
    let out = w.run(&["check", PROFILE]);
    out.expect_code(0);
    assert!(
        !out.stdout.contains("UNHEALTHY"),
        "nothing unhealthy:\n{}",
        out.stdout
    );
    assert!(out.stdout.contains("0 unhealthy"), "{}", out.stdout);
}

// ---------------------------------------------------------------------------------------------
// check over every profile
// ---------------------------------------------------------------------------------------------

const QLIK_TOKEN_VAR: &str = "DSCONSOLE_CLI_TEST_CHECK_QLIK_TOKEN";
const BD_TOKEN_VAR: &str = "DSCONSOLE_CLI_TEST_CHECK_BD_TOKEN";

/// The simulators beside the world's MicroStrategy one; dropped with the test.
struct MoreSims {
    _qlik: dsconsole::sim::qlik::QlikSim,
    _bd: Option<dsconsole::sim::basedash::BasedashSim>,
}

impl World {
    /// Add a Qlik Cloud profile `qlik` (healthy seed) and, with `basedash`, a Basedash
    /// profile `bd` (its seed has failed and stale syncs) to the config, then `extra`.
    fn add_qlik_and_basedash(&self, basedash: bool, extra: &str) -> MoreSims {
        let qlik = self
            .rt
            .block_on(dsconsole::sim::qlik::start(&SimOptions::default()))
            .expect("qlik simulator starts");
        let mut toml = format!(
            "[[profiles]]\nname = \"qlik\"\nvendor = \"qlik\"\nbase_url = \"{}\"\n\
             token_env = \"{QLIK_TOKEN_VAR}\"\nprotected = true\n\n",
            qlik.base_url
        );
        let bd = basedash.then(|| {
            self.rt
                .block_on(dsconsole::sim::basedash::start(&SimOptions::default()))
                .expect("basedash simulator starts")
        });
        if let Some(bd) = &bd {
            toml.push_str(&format!(
                "[[profiles]]\nname = \"bd\"\nvendor = \"basedash\"\nbase_url = \"{}\"\n\
                 token_env = \"{BD_TOKEN_VAR}\"\n\n",
                bd.base_url
            ));
        }
        toml.push_str(extra);
        self.write_config(&self.sim.base_url, "read_only = true", &toml);
        MoreSims {
            _qlik: qlik,
            _bd: bd,
        }
    }

    /// The binary with every simulator's secret set.
    fn check_cmd(&self) -> Command {
        let mut c = self.cmd();
        c.env(QLIK_TOKEN_VAR, dsconsole::sim::qlik::DEMO_TOKEN)
            .env(BD_TOKEN_VAR, dsconsole::sim::basedash::DEMO_TOKEN);
        c
    }

    fn pass_every_connection_test(&self) {
        for (id, _) in seed_failing_connections() {
            self.sim.control.set_connection_test_failure(&id, None);
        }
    }
}

/// The profile names of the overview table's rows, in order (the header is skipped).
fn table_profiles(stdout: &str) -> Vec<String> {
    let mut lines = stdout.lines();
    let header = lines.next().expect("a header");
    assert!(header.starts_with("PROFILE"), "{stdout}");
    lines
        .take_while(|l| !l.starts_with("NO SECRET") && !l.starts_with("LOAD FAILED"))
        .take_while(|l| !l.starts_with("UNHEALTHY") && !l.contains(" profile(s): "))
        .map(|l| l.split_whitespace().next().unwrap_or("").to_string())
        .collect()
}

/// A sample of the text exposition format: metric name, labels, value.
type Sample = (String, Vec<(String, String)>, f64);

/// Parse a Prometheus text exposition: every non-comment line is `name{labels} value`,
/// HELP and TYPE come once per metric, before its samples.
fn parse_prometheus(text: &str) -> Vec<Sample> {
    let mut helped: Vec<String> = Vec::new();
    let mut typed: Vec<String> = Vec::new();
    let mut samples = Vec::new();
    let is_name = |n: &str| {
        !n.is_empty()
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
            && !n.starts_with(|c: char| c.is_ascii_digit())
    };
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap_or("");
            assert!(is_name(name), "{line}");
            assert!(!helped.contains(&name.to_string()), "HELP twice: {line}");
            helped.push(name.to_string());
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            assert!(is_name(name) && kind == "gauge", "{line}");
            assert!(!typed.contains(&name.to_string()), "TYPE twice: {line}");
            typed.push(name.to_string());
            continue;
        }
        assert!(!line.starts_with('#') && !line.is_empty(), "{line:?}");
        let (name, rest) = line.split_once('{').expect("name{labels} value");
        assert!(is_name(name), "{line}");
        assert!(
            helped.contains(&name.to_string()) && typed.contains(&name.to_string()),
            "HELP and TYPE before the samples of {name}"
        );
        // Labels: key="value" pairs, values with \\, \" and \n escapes.
        let mut labels = Vec::new();
        let mut chars = rest.chars().peekable();
        loop {
            let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
            assert!(is_name(&key), "label name {key:?} in {line}");
            assert_eq!(chars.next(), Some('"'), "{line}");
            let mut value = String::new();
            loop {
                match chars.next().expect("closed label value") {
                    '\\' => match chars.next() {
                        Some('\\') => value.push('\\'),
                        Some('"') => value.push('"'),
                        Some('n') => value.push('\n'),
                        other => panic!("bad escape {other:?} in {line}"),
                    },
                    '"' => break,
                    '\n' => panic!("raw newline in {line}"),
                    c => value.push(c),
                }
            }
            labels.push((key, value));
            match chars.next() {
                Some(',') => continue,
                Some('}') => break,
                other => panic!("unexpected {other:?} in {line}"),
            }
        }
        let rest: String = chars.collect();
        let value = rest
            .strip_prefix(' ')
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("a value after the labels: {line}"));
        samples.push((name.to_string(), labels, value));
    }
    samples
}

/// The value of `metric` for `profile` (and `kind`, for objects).
fn sample(samples: &[Sample], metric: &str, profile: &str, kind: Option<&str>) -> Option<f64> {
    let label = |ls: &[(String, String)], k: &str| {
        ls.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone())
    };
    samples
        .iter()
        .find(|(name, ls, _)| {
            name == metric
                && label(ls, "profile").as_deref() == Some(profile)
                && kind.is_none_or(|k| label(ls, "kind").as_deref() == Some(k))
        })
        .map(|(_, _, v)| *v)
}

#[test]
fn check_over_every_profile_sorts_by_severity_in_table_json_and_prometheus() {
    let w = World::new("check_all", "", "");
    let _sims = w.add_qlik_and_basedash(true, "");
    let failing = seed_failing_connections();

    // JSON: every profile, worst first; the unhealthy objects with exact strings.
    let out = run(w.check_cmd().args(["check", "--output", "json"]));
    out.expect_code(1);
    let v: Value = serde_json::from_str(&out.stdout).expect("JSON");
    let profiles = v["profiles"].as_array().expect("profiles");
    let names: Vec<&str> = profiles
        .iter()
        .map(|p| p["profile"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        sorted(names.iter().map(|n| n.to_string())),
        ["bd", "mstr", "qlik"]
    );
    assert_eq!(
        names.last(),
        Some(&"qlik"),
        "the healthy one last: {names:?}"
    );
    let unhealthy_of = |p: &Value| p["counts"]["unhealthy"].as_u64().unwrap_or(0);
    let counts: Vec<u64> = profiles.iter().map(unhealthy_of).collect();
    assert!(counts.windows(2).all(|w| w[0] >= w[1]), "{counts:?}");
    let by_name = |n: &str| profiles.iter().find(|p| p["profile"] == n).expect(n);
    let mstr = by_name("mstr");
    assert_eq!(mstr["vendor"], "microstrategy");
    assert_eq!(mstr["read_only"], true);
    assert!(
        mstr["load_ms"].is_u64() && mstr["loaded_at"].is_i64(),
        "{mstr}"
    );
    assert!(unhealthy_of(mstr) >= failing.len() as u64, "{mstr}");
    assert_eq!(by_name("qlik")["state"], "ok");
    assert_eq!(by_name("qlik")["protected"], true);
    assert!(by_name("bd")["counts"]["sync_failed"].as_u64() > Some(0));
    let listed = v["unhealthy"].as_array().expect("unhealthy");
    let total: u64 = counts.iter().sum();
    assert_eq!(listed.len() as u64, total, "one entry per unhealthy object");
    for (id, message) in &failing {
        let e = listed
            .iter()
            .find(|e| e["id"] == id.as_str())
            .unwrap_or_else(|| panic!("{id} listed: {listed:?}"));
        assert_eq!(e["profile"], "mstr");
        assert_eq!(e["kind"], "connections");
        let why = e["why"].as_str().unwrap_or("");
        assert!(why.contains(message.as_str()), "{why}");
    }
    assert!(!out.both().contains(DEMO_PASSWORD));
    assert!(!out.both().contains(dsconsole::sim::qlik::DEMO_TOKEN));

    // Table: the same order, then the unhealthy objects prefixed with their profile.
    let out = run(w.check_cmd().arg("check"));
    out.expect_code(1);
    assert_printable(&out.both(), "check");
    assert_eq!(table_profiles(&out.stdout), names, "{}", out.stdout);
    let header = out.stdout.lines().next().unwrap_or("");
    for column in [
        "VENDOR", "TENANT", "STATE", "LOAD", "OBJECTS", "BADGES", "ISSUES",
    ] {
        assert!(header.contains(column), "{header}");
    }
    let row = |n: &str| {
        out.stdout
            .lines()
            .find(|l| l.starts_with(&format!("{n} ")))
            .unwrap_or_else(|| panic!("row of {n}:\n{}", out.stdout))
    };
    assert!(
        row("mstr").contains("19 ds, 14 conn, 13 logins"),
        "{}",
        row("mstr")
    );
    assert!(row("mstr").contains("read-only"), "{}", row("mstr"));
    assert!(row("mstr").contains(" unhealthy"), "{}", row("mstr"));
    assert!(row("qlik").contains(" ok "), "{}", row("qlik"));
    assert!(row("qlik").contains("protected"), "{}", row("qlik"));
    assert!(row("bd").contains("failed sync"), "{}", row("bd"));
    for (id, _) in &failing {
        assert!(
            out.stdout
                .lines()
                .any(|l| l.starts_with("UNHEALTHY  mstr  connection") && l.contains(id.as_str())),
            "{id}:\n{}",
            out.stdout
        );
    }

    // Prometheus: parses; HELP and TYPE once per metric; one sample per profile.
    let out = run(w.check_cmd().args(["check", "--output", "prometheus"]));
    out.expect_code(1);
    let samples = parse_prometheus(&out.stdout);
    for p in ["mstr", "qlik", "bd"] {
        assert_eq!(sample(&samples, "dsconsole_up", p, None), Some(1.0), "{p}");
        assert!(sample(&samples, "dsconsole_load_seconds", p, None).is_some());
        assert!(sample(&samples, "dsconsole_last_load_timestamp_seconds", p, None) > Some(0.0));
    }
    assert_eq!(
        sample(&samples, "dsconsole_unhealthy", "mstr", None),
        Some(unhealthy_of(mstr) as f64)
    );
    assert_eq!(
        sample(&samples, "dsconsole_unhealthy", "qlik", None),
        Some(0.0)
    );
    assert_eq!(
        sample(&samples, "dsconsole_objects", "mstr", Some("logins")),
        Some(13.0)
    );
    assert!(sample(&samples, "dsconsole_sync_failed", "bd", None) > Some(0.0));
    for metric in [
        "dsconsole_sync_stale",
        "dsconsole_never_tested",
        "dsconsole_orphans",
        "dsconsole_usage_unknown",
    ] {
        assert!(sample(&samples, metric, "qlik", None).is_some(), "{metric}");
    }
}

#[test]
fn check_over_every_profile_exits_0_when_healthy_and_1_without_a_secret() {
    let w = World::new("check_all_ok", "", "");
    let _sims = w.add_qlik_and_basedash(false, "");
    w.pass_every_connection_test();
    for output in ["table", "json", "prometheus"] {
        let out = run(w.check_cmd().args(["check", "--output", output]));
        out.expect_code(0);
        assert!(
            !out.stdout.contains("UNHEALTHY"),
            "{output}: {}",
            out.stdout
        );
    }
    let out = run(w.check_cmd().arg("check"));
    assert_eq!(
        table_profiles(&out.stdout),
        ["mstr", "qlik"],
        "{}",
        out.stdout
    );
    // One named profile: as before, and in the other outputs too.
    let out = run(w.check_cmd().args(["check", "qlik", "--output", "json"]));
    out.expect_code(0);
    let v: Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(v["profiles"].as_array().map(Vec::len), Some(1));
    assert_eq!(v["profiles"][0]["profile"], "qlik");
    // --profile restricts the set.
    let out = run(w
        .check_cmd()
        .args(["check", "--profile", "mstr", "--output", "prometheus"]));
    out.expect_code(0);
    let samples = parse_prometheus(&out.stdout);
    assert_eq!(sample(&samples, "dsconsole_up", "mstr", None), Some(1.0));
    assert_eq!(sample(&samples, "dsconsole_up", "qlik", None), None);
    let out = run(w.check_cmd().args(["check", "--profile", "nope"]));
    out.expect_code(2);
    assert!(out.stderr.contains("'nope'"), "{}", out.stderr);

    // The Qlik token's variable is missing: a NO SECRET row, exit 1, no crash.
    for output in ["table", "json", "prometheus"] {
        let out = run(w
            .check_cmd()
            .env_remove(QLIK_TOKEN_VAR)
            .args(["check", "--output", output]));
        out.expect_code(1);
        assert!(!out.both().contains(dsconsole::sim::qlik::DEMO_TOKEN));
        assert!(!out.both().contains(DEMO_PASSWORD));
        match output {
            "table" => {
                assert_eq!(
                    table_profiles(&out.stdout),
                    ["qlik", "mstr"],
                    "{}",
                    out.stdout
                );
                let row = out.stdout.lines().nth(1).unwrap_or("");
                assert!(row.contains("NO SECRET"), "{row}");
                assert!(
                    out.stdout.lines().any(|l| l.starts_with("NO SECRET")
                        && l.contains("qlik")
                        && l.contains(QLIK_TOKEN_VAR)),
                    "names the variable:\n{}",
                    out.stdout
                );
            }
            "json" => {
                let v: Value = serde_json::from_str(&out.stdout).expect("JSON");
                let first = &v["profiles"][0];
                assert_eq!(first["profile"], "qlik");
                assert_eq!(first["state"], "NO SECRET");
                assert_eq!(first["no_secret"], true);
                assert_eq!(v["profiles"][1]["state"], "ok");
            }
            _ => {
                let samples = parse_prometheus(&out.stdout);
                assert_eq!(sample(&samples, "dsconsole_up", "qlik", None), Some(0.0));
                assert_eq!(sample(&samples, "dsconsole_up", "mstr", None), Some(1.0));
                assert_eq!(sample(&samples, "dsconsole_unhealthy", "qlik", None), None);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// config check, completions
// ---------------------------------------------------------------------------------------------

#[test]
fn config_check_prints_profiles_without_secret_values() {
    let inline = "[[profiles]]\nname = \"inline-mstr\"\nvendor = \"microstrategy\"\n\
                  base_url = \"https://bi.example.com/MicroStrategyLibrary\"\n\
                  username = \"someone\"\npassword = \"s3cr3t-inline\"\n";
    let w = World::new("config_check", "", inline);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&w.config, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    }
    let out = w.run(&["config", "check"]);
    out.expect_code(0);
    assert!(
        out.stdout.contains(&format!("profile '{PROFILE}'")),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("profile 'inline-mstr'"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(&w.pw_var),
        "the secret's source is shown"
    );
    assert!(!out.both().contains("s3cr3t-inline"), "inline secret shown");
    assert!(!out.both().contains(DEMO_PASSWORD), "env secret shown");
    #[cfg(unix)]
    assert!(
        out.stderr.contains("readable by others"),
        "an inline secret in a world-readable file is warned about: {}",
        out.stderr
    );
    assert!(w.requests().is_empty(), "config check contacts no server");

    // An unresolvable secret makes the check fail, naming the variable.
    let out = run(w.cmd().env_remove(&w.pw_var).args(["config", "check"]));
    out.expect_code(2);
    assert!(out.stderr.contains(&w.pw_var), "{}", out.stderr);
    assert!(!out.both().contains("s3cr3t-inline"));
}

#[test]
fn completions_for_bash_name_the_binary() {
    let w = World::new("completions", "", "");
    let out = w.run(&["completions", "bash"]);
    out.expect_code(0);
    assert!(out.stdout.contains("dsconsole"), "{}", out.stdout);
    assert!(out.stdout.contains("delete"), "subcommands completed");
}

#[test]
fn completions_offer_the_configs_profiles_and_every_kind() {
    let extra = "[[profiles]]\nname = \"prod-eu\"\nvendor = \"qlik\"\n\
                 base_url = \"https://eu.example.com\"\n\n\
                 [[profiles]]\nname = \"qa$(reboot)\"\nvendor = \"qlik\"\n\
                 base_url = \"https://qa.example.com\"\n";
    let w = World::new("completions_profiles", "", extra);
    let out = w.run(&["completions", "bash"]);
    out.expect_code(0);
    // `list`'s PROFILE and KIND, delete's --confirm-profile, the top-level --profile.
    let words = |line: &str| -> Vec<String> {
        line.split(['"', ' '])
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let list_line = out
        .stdout
        .lines()
        .find(|l| l.contains("opts=") && l.contains("--unhealthy"))
        .unwrap_or_else(|| panic!("list's options in:\n{}", out.stdout));
    for want in [
        PROFILE,
        "prod-eu",
        "datasources",
        "connections",
        "logins",
        "datamarts",
    ] {
        assert!(
            words(list_line).iter().any(|w| w == want),
            "{want} in {list_line}"
        );
    }
    assert!(
        out.stdout
            .lines()
            .any(|l| l.contains("compgen -W") && l.contains("mstr prod-eu")),
        "--profile values:\n{}",
        out.stdout
    );
    // A name that is not plain stays out of the script, and says so.
    assert!(!out.stdout.contains("reboot"), "{}", out.stdout);
    assert!(out.stderr.contains("is not completed"), "{}", out.stderr);

    // zsh and fish get the same values.
    for shell in ["zsh", "fish"] {
        let out = w.run(&["completions", shell]);
        out.expect_code(0);
        assert!(out.stdout.contains("prod-eu"), "{shell}: {}", out.stdout);
        assert!(out.stdout.contains("datamarts"), "{shell}");
    }

    // No config (a fresh machine): kinds are still completed, and nothing fails.
    let home = w.dir.path().join("fresh-home");
    let out = run(Command::new(env!("CARGO_BIN_EXE_dsconsole"))
        .env("DSCONSOLE_CONFIG", w.dir.path().join("missing.toml"))
        .env("DSCONSOLE_DATA_DIR", w.data_dir())
        .env("HOME", &home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_DATA_HOME", home.join(".local/share"))
        .timeout(CHILD_TIMEOUT)
        .args(["completions", "bash"]));
    out.expect_code(0);
    assert!(out.stdout.contains("datamarts"));
    assert!(!out.stdout.contains("prod-eu"));
    assert!(out.stderr.is_empty(), "{}", out.stderr);
}

// ---------------------------------------------------------------------------------------------
// A proxy that renames one datasource in list responses
// ---------------------------------------------------------------------------------------------

mod renaming_proxy {
    use axum::body::Body;
    use axum::extract::{Request, State};
    use axum::http::{header, StatusCode};
    use axum::response::{IntoResponse, Response};
    use axum::Router;
    use serde_json::Value;

    #[derive(Clone)]
    struct Proxy {
        origin: String,
        client: reqwest::Client,
        rename_id: &'static str,
        new_name: &'static str,
    }

    /// Forward everything to `origin` (scheme, host and port); in `GET .../api/datasources`
    /// answers, give datasource `rename_id` the name `new_name`. Returns the proxy's origin.
    pub async fn start(
        origin: String,
        rename_id: &'static str,
        new_name: &'static str,
    ) -> std::io::Result<String> {
        let proxy = Proxy {
            origin,
            client: reqwest::Client::new(),
            rename_id,
            new_name,
        };
        let app = Router::new().fallback(forward).with_state(proxy);
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(format!("http://{addr}"))
    }

    async fn forward(State(p): State<Proxy>, req: Request) -> Response {
        let (parts, body) = req.into_parts();
        let Ok(body) = axum::body::to_bytes(body, 16 << 20).await else {
            return StatusCode::BAD_REQUEST.into_response();
        };
        let path_and_query = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
        let mut out = p
            .client
            .request(
                parts.method.clone(),
                format!("{}{path_and_query}", p.origin),
            )
            .body(body);
        for (name, value) in &parts.headers {
            if name != header::HOST && name != header::CONTENT_LENGTH {
                out = out.header(name, value);
            }
        }
        let Ok(resp) = out.send().await else {
            return StatusCode::BAD_GATEWAY.into_response();
        };
        let status = resp.status();
        let headers = resp.headers().clone();
        let Ok(mut bytes) = resp.bytes().await.map(|b| b.to_vec()) else {
            return StatusCode::BAD_GATEWAY.into_response();
        };
        if parts.method == axum::http::Method::GET && parts.uri.path().ends_with("/api/datasources")
        {
            if let Ok(mut v) = serde_json::from_slice::<Value>(&bytes) {
                if let Some(list) = v.get_mut("datasources").and_then(Value::as_array_mut) {
                    for ds in list.iter_mut().filter(|d| d["id"] == p.rename_id) {
                        ds["name"] = Value::from(p.new_name);
                    }
                }
                if let Ok(b) = serde_json::to_vec(&v) {
                    bytes = b;
                }
            }
        }
        let mut builder = Response::builder().status(status);
        for (name, value) in &headers {
            if name != header::CONTENT_LENGTH && name != header::TRANSFER_ENCODING {
                builder = builder.header(name, value);
            }
        }
        builder
            .body(Body::from(bytes))
            .unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response())
    }
}

#[test]
fn list_filter_anchors_respect_smart_case() {
    let w = World::new("anchors", "", "");
    let out = w.run(&[
        "list",
        PROFILE,
        "datasources",
        "--output",
        "json",
        "--filter",
        "^Finance",
    ]);
    out.expect_code(0);
    let rs: Vec<Resource> = serde_json::from_str(&out.stdout).expect("JSON array");
    assert!(!rs.is_empty(), "^Finance finds the Finance datasources");
    assert!(
        rs.iter().all(|r| r.name.starts_with("Finance")),
        "{:?}",
        ids_of(&rs)
    );
    let out = w.run(&[
        "list",
        PROFILE,
        "datasources",
        "--output",
        "json",
        "--filter",
        "^finance",
    ]);
    let lower: Vec<Resource> = serde_json::from_str(&out.stdout).expect("JSON array");
    assert_eq!(ids_of(&lower), ids_of(&rs), "lower case ignores case");
}

#[test]
fn every_command_logs_out_of_the_sessions_it_opens() {
    let w = World::new("logout", "", "");
    let logins = |w: &World| {
        w.requests()
            .iter()
            .filter(|r| r.method == "POST" && r.path.ends_with("/api/auth/login"))
            .count()
    };
    let logouts = |w: &World| {
        w.requests()
            .iter()
            .filter(|r| r.method == "POST" && r.path.ends_with("/api/auth/logout"))
            .count()
    };
    w.run(&["list", PROFILE]).expect_code(0);
    w.run(&[
        "delete",
        PROFILE,
        "datasources",
        "Teradata EDW",
        "--dry-run",
    ])
    .expect_code(0);
    // A refusal after the data was loaded logs out too.
    w.run(&["delete", PROFILE, "datasources", "Teradata EDW"])
        .expect_code(2);
    w.run(&["delete", PROFILE, "datasources", "no such thing", "--yes"])
        .expect_code(2);
    assert_eq!(logins(&w), 4);
    assert_eq!(logouts(&w), logins(&w), "one logout per login");
}

// ---------------------------------------------------------------------------------------------
// Server text in human-readable output; exit codes; secrets in config errors
// ---------------------------------------------------------------------------------------------

/// A datasource name that, printed raw, erases itself and the line above it.
const ERASING_NAME: &str = "old_scratch_1\x1b[2K\r\x1b[1A\x1b[2K\r\x1b[1A";
/// The same name as a terminal must show it.
const ERASING_SHOWN: &str = "old_scratch_1␛[2K␍␛[1A␛[2K␍␛[1A";
/// A connection name with a bidi override, a zero-width space and the 8-bit CSI.
const REORDERING_NAME: &str = "orders\u{202e}exe.gpj\u{200b}\u{9b}2J";
const REORDERING_SHOWN: &str = "orders\\u{202e}exe.gpj\\u{200b}\\u{9b}2J";

/// Characters that must never reach a terminal from server text (line feeds are the
/// output's own line breaks).
fn hostile_chars(text: &str) -> Vec<char> {
    text.chars()
        .filter(|&c| {
            (c.is_control() && c != '\n')
                || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
                || matches!(c, '\u{200b}'..='\u{200d}' | '\u{2060}' | '\u{feff}')
        })
        .collect()
}

fn assert_printable(text: &str, what: &str) {
    let bad = hostile_chars(text);
    assert!(
        bad.is_empty(),
        "{what} passes {bad:?} to the terminal:\n{text:?}"
    );
}

impl World {
    /// `create` one object of `kind` named `name` (a wire-format body with that name);
    /// returns the created object as printed on stdout.
    fn create_named(&self, kind: &str, name: &str) -> (Resource, Out) {
        let body = serde_json::json!({ "name": name }).to_string();
        let file = self.write_file(&format!("{kind}-{}.json", name.len()), &body);
        let out = self.run(&["create", PROFILE, kind, "--from", path_str(&file)]);
        out.expect_code(0);
        let created: Resource =
            serde_json::from_str(&out.stdout).expect("create prints one Resource");
        (created, out)
    }
}

#[test]
fn server_text_is_shown_visibly_in_every_human_output_and_exact_in_json() {
    let w = World::new("hostile_names", "", "");
    let (ds, out) = w.create_named("datasources", ERASING_NAME);
    assert_eq!(ds.name, ERASING_NAME, "create's JSON keeps the exact name");
    assert_printable(&out.stderr, "create's message");
    assert!(out.stderr.contains(ERASING_SHOWN), "{}", out.stderr);
    let (conn, _) = w.create_named("connections", REORDERING_NAME);
    assert_eq!(conn.name, REORDERING_NAME);

    // list: the table shows the names visibly, JSON and ndjson keep them exactly.
    let out = w.run(&["list", PROFILE]);
    out.expect_code(0);
    assert_printable(&out.both(), "list --output table");
    assert!(out.stdout.contains(ERASING_SHOWN), "{}", out.stdout);
    assert!(out.stdout.contains(REORDERING_SHOWN), "{}", out.stdout);
    let out = w.run(&["list", PROFILE, "--output", "json"]);
    out.expect_code(0);
    let rs: Vec<Resource> = serde_json::from_str(&out.stdout).expect("JSON array");
    assert!(rs.iter().any(|r| r.id == ds.id && r.name == ERASING_NAME));
    assert!(rs
        .iter()
        .any(|r| r.id == conn.id && r.name == REORDERING_NAME));
    let out = w.run(&["list", PROFILE, "--output", "ndjson"]);
    out.expect_code(0);
    let rs: Vec<Resource> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("one Resource per line"))
        .collect();
    assert!(rs.iter().any(|r| r.id == ds.id && r.name == ERASING_NAME));
    assert!(rs
        .iter()
        .any(|r| r.id == conn.id && r.name == REORDERING_NAME));

    // check: the orphan connection and a failing test's message.
    w.sim
        .control
        .set_connection_test_failure(&conn.id, Some("refused \x1b[2J\x1b[H\u{2067}by host"));
    let out = w.run(&["check", PROFILE]);
    out.expect_code(1);
    assert_printable(&out.both(), "check");
    let line = out
        .stdout
        .lines()
        .find(|l| l.starts_with("UNHEALTHY") && l.contains(conn.id.as_str()))
        .unwrap_or_else(|| panic!("the connection is unhealthy:\n{}", out.stdout));
    assert!(line.contains(REORDERING_SHOWN), "{line}");
    // The vendor's message, however the client shortened it, keeps no control visible as
    // itself (checked above) and shows the isolate.
    assert!(line.contains("\\u{2067}by host"), "{line}");
    // check over every profile: the table and its UNHEALTHY lines show it visibly, JSON
    // keeps the exact message.
    let out = w.run(&["check"]);
    out.expect_code(1);
    assert_printable(&out.both(), "check over every profile");
    let line = out
        .stdout
        .lines()
        .find(|l| l.starts_with("UNHEALTHY  mstr  ") && l.contains(conn.id.as_str()))
        .unwrap_or_else(|| panic!("the connection is unhealthy:\n{}", out.stdout));
    assert!(line.contains(REORDERING_SHOWN), "{line}");
    let out = w.run(&["check", "--output", "json"]);
    out.expect_code(1);
    let v: Value = serde_json::from_str(&out.stdout).expect("JSON");
    let entry = v["unhealthy"]
        .as_array()
        .and_then(|a| a.iter().find(|e| e["id"] == conn.id.as_str()))
        .unwrap_or_else(|| panic!("listed: {v}"));
    assert_eq!(entry["name"], REORDERING_NAME);

    // delete --dry-run, then the real delete: plan, report and summary.
    let out = w.run(&["delete", PROFILE, "datasources", &ds.id, "--dry-run"]);
    out.expect_code(0);
    assert_printable(&out.both(), "delete --dry-run");
    assert!(out.stdout.contains(ERASING_SHOWN), "{}", out.stdout);
    let out = w.run(&["delete", PROFILE, "connections", &conn.id, "--yes"]);
    out.expect_code(0);
    assert_printable(&out.both(), "delete --yes");
    assert!(
        out.stderr.contains(REORDERING_SHOWN),
        "plan: {}",
        out.stderr
    );
    let report = out
        .stdout
        .lines()
        .find(|l| l.contains(conn.id.as_str()))
        .unwrap_or_else(|| panic!("report names the connection:\n{}", out.stdout));
    assert!(report.starts_with("deleted"), "{report}");
    assert!(report.contains(REORDERING_SHOWN), "{report}");
    // The audit log keeps the exact name.
    let audit = w.audit_lines();
    assert!(audit_for(&audit, &conn.id)
        .iter()
        .all(|l| l["name"] == REORDERING_NAME));

    // An argument echoed in an error is shown visibly too.
    let out = w.run(&["delete", PROFILE, "datasources", "gone\x1b[2Jx", "--yes"]);
    out.expect_code(2);
    assert_printable(&out.both(), "an error naming the argument");
    assert!(out.stderr.contains("gone␛[2Jx"), "{}", out.stderr);
}

/// Attached to two projects and the primary datasource of a replica: the server refuses.
const REPORTING_DS: (&str, &str) = ("Reporting Postgres", "5A0E6C1D2B3F4A5B8C9D0E1F2A3B4C5D");
/// Attached to no project, no links, no mappings: a real orphan.
const LEGACY_DS: (&str, &str) = (
    "Legacy Warehouse (unused)",
    "7C2A8E3F4D5B6C7D0EBF2A31425364F7",
);

#[test]
fn list_orphan_datasources_finds_legacy_warehouse_only_among_unused_ones() {
    let w = World::new("list_orphan_ds", "", "");
    w.assert_seed_object("datasources", LEGACY_DS);
    w.assert_seed_object("datasources", REPORTING_DS);
    let out = w.run(&[
        "list",
        PROFILE,
        "datasources",
        "--orphans",
        "--output",
        "json",
    ]);
    out.expect_code(0);
    let rows: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    let names: Vec<&str> = rows
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert!(names.contains(&LEGACY_DS.0), "{names:?}");
    assert!(!names.contains(&REPORTING_DS.0), "{names:?}");
    assert!(!names.contains(&"Reporting Postgres Replica"), "{names:?}");
    assert!(
        !names.contains(&"Snowflake Finance Prod"),
        "a primary datasource: {names:?}"
    );
    // The JSON says who uses the in-use one.
    let out = w.run(&["list", PROFILE, "datasources", "--output", "json"]);
    let rows: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    let reporting = rows
        .as_array()
        .expect("array")
        .iter()
        .find(|r| r["id"] == REPORTING_DS.1)
        .expect("listed");
    assert_eq!(reporting["used_by_other"].as_array().map(Vec::len), Some(2));
}

#[test]
fn skip_in_use_leaves_out_a_datasource_projects_use_and_exits_1() {
    let w = World::new("skip_reporting", "", "");
    w.assert_seed_object("datasources", REPORTING_DS);
    w.assert_seed_object("datasources", LEGACY_DS);
    // Without --skip-in-use, the plan warns before anything is sent.
    let out = w.run(&[
        "delete",
        PROFILE,
        "datasources",
        REPORTING_DS.1,
        "--dry-run",
    ]);
    assert!(
        out.stdout.contains(
            "in use by project 'Finance Reporting', project 'Sales Analytics' and datasource \
             'Reporting Postgres Replica', which this plan does not delete: the server will refuse"
        ),
        "{}",
        out.stdout
    );
    let out = w.run(&[
        "delete",
        PROFILE,
        "datasources",
        REPORTING_DS.1,
        LEGACY_DS.1,
        "--skip-in-use",
        "--yes",
    ]);
    out.expect_code(1);
    assert!(!w.sim.control.contains("datasources", LEGACY_DS.1));
    assert!(w.sim.control.contains("datasources", REPORTING_DS.1));
    assert_eq!(w.deletes().len(), 1, "the in-use datasource was not sent");
    let line = out
        .stdout
        .lines()
        .find(|l| l.contains(REPORTING_DS.1))
        .unwrap_or_else(|| panic!("the report names the left-out one:\n{}", out.stdout));
    assert!(line.starts_with("left out"), "{line}");
}

#[test]
fn delete_exits_1_when_a_requested_object_is_left_out() {
    let w = World::new("left_out", "", "");
    w.assert_seed_object("connections", STAGING_CONN);
    w.assert_seed_object("connections", FINANCE_CONN);
    let out = w.run(&[
        "delete",
        PROFILE,
        "connections",
        STAGING_CONN.1,
        FINANCE_CONN.1,
        "--skip-in-use",
        "--yes",
    ]);
    out.expect_code(1);
    assert!(!w.sim.control.contains("connections", STAGING_CONN.1));
    assert!(w.sim.control.contains("connections", FINANCE_CONN.1));
    assert_eq!(w.deletes().len(), 1, "the in-use connection was not sent");
    let line = out
        .stdout
        .lines()
        .find(|l| l.contains(FINANCE_CONN.1))
        .unwrap_or_else(|| panic!("the report names the left-out one:\n{}", out.stdout));
    assert!(line.starts_with("left out"), "{line}");
    assert!(out.stderr.contains("1 left out"), "{}", out.stderr);
    assert!(out.stderr.contains("1 deleted"), "{}", out.stderr);
}

#[test]
fn soft_deletes_are_reported_as_soft_deleted() {
    let w = World::new("soft_delete", "", "");
    let bd =
        w.rt.block_on(dsconsole::sim::basedash::start(&SimOptions::default()))
            .expect("basedash simulator starts");
    let token_var = "DSCONSOLE_CLI_TEST_BD_TOKEN";
    w.write_config(
        &w.sim.base_url,
        "",
        &format!(
            "[[profiles]]\nname = \"bd\"\nvendor = \"basedash\"\nbase_url = \"{}\"\n\
             token_env = \"{token_var}\"\n",
            bd.base_url
        ),
    );
    let id = bd.control.ids().into_iter().next().expect("a data source");
    // Basedash cannot say what uses a data source: unattended, that is refused.
    let refused = run(w
        .cmd()
        .env(token_var, dsconsole::sim::basedash::DEMO_TOKEN)
        .args(["delete", "bd", "datasources", &id, "--yes"]));
    refused.expect_code(1);
    assert!(
        refused
            .stderr
            .contains("impact: unknown: Basedash has no API for it")
            && refused.stderr.contains("add --force-impact"),
        "{}",
        refused.stderr
    );
    assert!(!bd.control.is_soft_deleted(&id), "nothing was sent");
    let out = run(w
        .cmd()
        .env(token_var, dsconsole::sim::basedash::DEMO_TOKEN)
        .args([
            "delete",
            "bd",
            "datasources",
            &id,
            "--yes",
            "--force-impact",
        ]));
    out.expect_code(0);
    assert!(
        bd.control.is_soft_deleted(&id),
        "soft-deleted at the server"
    );
    let line = out
        .stdout
        .lines()
        .find(|l| l.contains(&id))
        .unwrap_or_else(|| panic!("the report names it:\n{}", out.stdout));
    assert!(line.starts_with("soft-deleted"), "{line}");
    assert!(out.stderr.contains("1 soft-deleted"), "{}", out.stderr);
    assert!(out.stderr.contains("0 failed"), "{}", out.stderr);
}

#[test]
fn a_base_url_with_a_query_or_credentials_is_refused_without_echoing_them() {
    let w = World::new("url_secret", "", "");
    for (url, secret) in [
        (
            "https://bi.example.com/MicroStrategyLibrary?token=qs3cr3t-1",
            "qs3cr3t-1",
        ),
        (
            "https://bi.example.com/MicroStrategyLibrary#access_token=fs3cr3t-2",
            "fs3cr3t-2",
        ),
        (
            "bi.example.com/MicroStrategyLibrary?token=ns3cr3t-3",
            "ns3cr3t-3",
        ),
        ("https://bad host/x?token=vs3cr3t-4", "vs3cr3t-4"),
        (
            "admin:us3cr3t-5@bi.example.com/MicroStrategyLibrary",
            "us3cr3t-5",
        ),
    ] {
        w.write_config(url, "", "");
        for args in [&["config", "check"][..], &["list", PROFILE][..]] {
            let out = w.run(args);
            out.expect_code(2);
            assert!(
                !out.both().contains(secret),
                "{args:?} with base_url {url:?} echoes the secret: {}",
                out.both()
            );
            let at = format!("{}:", w.config.display());
            assert!(out.stderr.contains(&at), "names the file: {}", out.stderr);
            assert!(out.stderr.contains("base_url"), "{}", out.stderr);
        }
    }
    w.write_config(
        "https://bi.example.com/MicroStrategyLibrary?token=qs3cr3t-1",
        "",
        "",
    );
    let out = w.run(&["config", "check"]);
    assert!(out.stderr.contains("query"), "says why: {}", out.stderr);
    assert!(
        out.stderr
            .contains("https://bi.example.com/MicroStrategyLibrary"),
        "shows the URL without its query: {}",
        out.stderr
    );
    assert!(w.requests().is_empty());
}

#[test]
fn config_check_shows_control_characters_of_the_file_visibly() {
    let w = World::new("config_controls", "", "");
    let extra = format!(
        "[[profiles]]\nname = \"odd\"\nvendor = \"microstrategy\"\n\
         base_url = \"https://bi.example.com/MicroStrategyLibrary\"\n\
         username = \"ops\\u001b]0;pwned\\u0007\\u202e\"\npassword_env = \"{}\"\n",
        w.pw_var
    );
    w.write_config(&w.sim.base_url, "", &extra);
    let out = w.run(&["config", "check"]);
    out.expect_code(0);
    assert_printable(&out.both(), "config check");
    assert!(
        out.stdout.contains("ops␛]0;pwned␇\\u{202e}"),
        "{}",
        out.stdout
    );
}

#[test]
fn impact_lists_content_per_project_and_json_keeps_the_counts() {
    let w = World::new("impact", "", "");
    let out = w.run(&["impact", "mstr", "datasources", "Reporting Postgres"]);
    out.expect_code(0);
    assert!(
        out.stdout.contains(
            "breaks 20 reports, 3 dashboards, 2 documents, 2 super cubes, 1 datamart in 2 projects"
        ),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("  project 'Sales Analytics'"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("    dashboard '"), "{}", out.stdout);
    assert!(out.stdout.contains("  owner "), "{}", out.stdout);
    let json = w.run(&[
        "impact",
        "mstr",
        "datasources",
        "Reporting Postgres",
        "Legacy Warehouse (unused)",
        "--output",
        "json",
    ]);
    json.expect_code(0);
    let v: Value = serde_json::from_str(&json.stdout).expect("json");
    let rows = v.as_array().expect("array");
    assert_eq!(rows[0]["verdict"], "breaks");
    assert_eq!(
        rows[0]["impact"]["dependents"].as_array().unwrap().len(),
        28
    );
    assert_eq!(rows[1]["verdict"], "none");
    assert_eq!(rows[1]["summary"], "none found");
    assert!(w.deletes().is_empty());
}

#[test]
fn an_unattended_delete_that_breaks_content_is_refused_unless_forced() {
    let w = World::new("impact_refusal", "", "");
    let out = w.run(&[
        "delete",
        "mstr",
        "datasources",
        "Sales Commissions",
        "--yes",
    ]);
    out.expect_code(1);
    assert!(
        out.stderr
            .contains("impact: breaks 2 reports, 1 dashboard in 1 project")
            && out.stderr.contains("add --force-impact"),
        "{}",
        out.stderr
    );
    assert!(w.deletes().is_empty(), "nothing was sent");
    // None found: it goes, and the audit line records what the operator was shown.
    let legacy = w.run(&[
        "delete",
        "mstr",
        "datasources",
        "Legacy Warehouse (unused)",
        "--yes",
    ]);
    legacy.expect_code(0);
    let lines = w.audit_lines();
    let before = lines
        .iter()
        .find(|l| l["phase"] == "before")
        .expect("a before line");
    assert_eq!(before["impact"], "none found");
    // Forced: the plan is sent (the server then decides).
    let forced = w.run(&[
        "delete",
        "mstr",
        "datasources",
        "Sales Commissions",
        "--yes",
        "--force-impact",
    ]);
    assert!(
        forced.stderr.contains("impact: breaks"),
        "{}",
        forced.stderr
    );
    assert_eq!(w.deletes().len(), 2);
}

// ---------------------------------------------------------------------------------------------
// update and rotate (issue 16)
// ---------------------------------------------------------------------------------------------

/// The seed login used by the most connections: (id, username, its connection ids).
fn busiest_login(w: &World) -> (String, String, Vec<String>) {
    let conns: Vec<(String, String)> = w
        .sim
        .control
        .ids("connections")
        .into_iter()
        .filter_map(|c| {
            let v = w.sim.control.object("connections", &c)?;
            let login = v.pointer("/database/login/id")?.as_str()?.to_string();
            Some((c, login))
        })
        .collect();
    let login = w
        .sim
        .control
        .ids("logins")
        .into_iter()
        .max_by_key(|l| conns.iter().filter(|(_, x)| x == l).count())
        .expect("a login");
    let username = w.sim.control.object("logins", &login).expect("login")["username"]
        .as_str()
        .expect("username")
        .to_string();
    let used: Vec<String> = conns
        .into_iter()
        .filter(|(_, x)| *x == login)
        .map(|(c, _)| c)
        .collect();
    (login, username, used)
}

#[test]
fn update_renames_by_name_prints_the_plan_and_report_and_audits_the_change() {
    let w = World::new("update_rename", "", "");
    w.assert_seed_object("datasources", REDSHIFT_DS);
    let out = w.run(&[
        "update",
        PROFILE,
        "datasources",
        REDSHIFT_DS.0,
        "--set",
        "name=Redshift Attribution (renamed)",
        "--yes",
    ]);
    out.expect_code(0);
    assert!(
        out.stderr
            .contains("name → 'Redshift Attribution (renamed)'"),
        "the plan: {}",
        out.stderr
    );
    assert!(out.stdout.starts_with("changed"), "{}", out.stdout);
    assert_eq!(
        w.sim
            .control
            .object("datasources", REDSHIFT_DS.1)
            .expect("kept")["name"],
        "Redshift Attribution (renamed)"
    );
    let lines = w.audit_lines();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["operation"], "update");
    assert_eq!(
        lines[0]["object"]["change"]["name"],
        "Redshift Attribution (renamed)"
    );
    assert_eq!(lines[0]["object"]["before"]["name"], REDSHIFT_DS.0);
    assert_eq!(lines[1]["outcome"], "changed");
}

#[test]
fn update_refuses_bad_changes_and_sends_nothing_without_confirmation() {
    let w = World::new("update_refusals", "", "");
    let (login, _, _) = busiest_login(&w);
    // A secret on the command line, a field MicroStrategy does not have, a bad --set.
    for (args, needle) in [
        (
            vec!["--set", "password=hunter22"],
            "--secret-env password=VAR",
        ),
        (
            vec!["--set", "color=blue"],
            "it can change: name, username, password, description, owner",
        ),
        (vec!["--set", "nameonly"], "--set takes FIELD=VALUE"),
        (
            vec!["--secret-env", "password=DSCONSOLE_UNSET_VAR_X"],
            "is not set",
        ),
    ] {
        let mut all = vec!["update", PROFILE, "logins", login.as_str()];
        all.extend(args);
        all.push("--yes");
        let out = w.run(&all);
        out.expect_code(2);
        assert!(out.stderr.contains(needle), "{needle}: {}", out.stderr);
        assert!(!out.both().contains("hunter22"), "{}", out.both());
    }
    // No --yes and no terminal: refused after the plan.
    let out = w.run(&[
        "update",
        PROFILE,
        "logins",
        &login,
        "--set",
        "name=Renamed Login",
    ]);
    out.expect_code(2);
    assert!(
        out.stderr.contains("refusing to change without --yes"),
        "{}",
        out.stderr
    );
    // A dry run prints the plan.
    let out = w.run(&[
        "update",
        PROFILE,
        "logins",
        &login,
        "--set",
        "name=Renamed Login",
        "--dry-run",
    ]);
    out.expect_code(0);
    assert!(
        out.stdout.contains("dry run: nothing was sent"),
        "{}",
        out.stdout
    );
    assert!(w.mutations().is_empty(), "{:?}", w.mutations());
    w.assert_nothing_audited();
    // Read-only: refused, dry run allowed.
    let out = w.run(&[
        "--read-only",
        "update",
        PROFILE,
        "logins",
        &login,
        "--set",
        "name=x",
        "--yes",
    ]);
    out.expect_code(2);
    assert!(out.stderr.contains("read-only"), "{}", out.stderr);
    assert!(w.mutations().is_empty());
}

#[test]
fn rotate_changes_the_password_everywhere_the_account_is_used_and_verifies_each_connection() {
    let w = World::new("rotate", "protected = true", "");
    let (login, username, conns) = busiest_login(&w);
    for c in &conns {
        w.sim.control.set_connection_test_failure(c, None);
    }
    let new_password = "Rot4ted-by-cli-9";
    w.sim
        .control
        .set_database_password(&login, Some(new_password));
    let matching = format!("username={username}");
    let args = |extra: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = [
            "rotate",
            "--profile",
            PROFILE,
            "--match",
            matching.as_str(),
            "--secret-env",
            "password=DSCONSOLE_CLI_ROTATE_NEW",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    // Protected: --yes alone is not enough.
    let out = run(w
        .cmd()
        .args(args(&["--yes"]))
        .env("DSCONSOLE_CLI_ROTATE_NEW", new_password));
    out.expect_code(2);
    assert!(out.stderr.contains("--confirm-profile"), "{}", out.stderr);
    assert!(w.mutations().is_empty());

    let out = run(w
        .cmd()
        .args(args(&["--yes", "--confirm-profile", PROFILE]))
        .env("DSCONSOLE_CLI_ROTATE_NEW", new_password));
    out.expect_code(0);
    assert!(
        out.stderr.contains("password → (new secret)"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("cannot put it back"), "{}", out.stderr);
    let report = out.stdout.lines().next().unwrap_or_default();
    assert!(report.starts_with("changed, verified"), "{}", out.stdout);
    assert!(
        out.stdout
            .contains(&format!("verified: {} tests passed", conns.len())),
        "{}",
        out.stdout
    );
    assert_eq!(
        w.sim.control.login_password(&login).as_deref(),
        Some(new_password)
    );
    assert!(!out.both().contains(new_password), "{}", out.both());
    let audit = std::fs::read_to_string(w.audit_path()).expect("audit");
    assert!(!audit.contains(new_password), "{audit}");
    // Nothing matches: said, nothing sent.
    let out = run(w.cmd().args([
        "rotate",
        "--profile",
        PROFILE,
        "--match",
        "username=nobody_at_all",
        "--dry-run",
    ]));
    out.expect_code(1);
    assert!(out.stderr.contains("nothing matches"), "{}", out.stderr);
}

#[test]
fn owned_by_lists_what_a_person_owns_with_what_can_be_done_and_sends_nothing() {
    let w = World::new("owned_by", "", "");
    let owned: Vec<String> = w
        .sim
        .control
        .ids("datasources")
        .into_iter()
        .filter(|id| {
            w.sim.control.object("datasources", id).expect("ds")["owner"]["name"] == "Priya Raman"
        })
        .collect();
    assert!(!owned.is_empty(), "the seed has objects Priya owns");
    // Case ignored; by name.
    let out = w.run(&["owned-by", "priya raman", "--output", "json"]);
    out.expect_code(0);
    let rows: Vec<Value> = serde_json::from_str(&out.stdout).expect("json");
    let ids: std::collections::BTreeSet<String> = rows
        .iter()
        .filter(|r| r["kind"] == "datasources")
        .filter_map(|r| r["id"].as_str().map(str::to_string))
        .collect();
    assert_eq!(ids, owned.iter().cloned().collect());
    assert!(rows
        .iter()
        .all(|r| r["profile"] == PROFILE && r["owner"] == "Priya Raman"));
    assert_eq!(rows[0]["actions"][0], "delete");
    // The table, by the owner's id.
    let id = w.sim.control.object("datasources", &owned[0]).expect("ds")["owner"]["id"]
        .as_str()
        .expect("owner id")
        .to_string();
    let out = w.run(&["owned-by", &id]);
    out.expect_code(0);
    assert!(out.stdout.starts_with("PROFILE"), "{}", out.stdout);
    assert!(out.stdout.contains(&owned[0]), "{}", out.stdout);
    assert!(
        out.stderr
            .contains(&format!("{} object(s) owned by", rows.len())),
        "{}",
        out.stderr
    );
    assert!(w.mutations().is_empty(), "{:?}", w.mutations());
    // An unknown profile is a usage error.
    w.run(&["owned-by", "x", "--profile", "nope"])
        .expect_code(2);
}

#[test]
fn update_owner_by_name_transfers_and_owned_by_then_lists_it_under_the_new_owner() {
    let w = World::new("update_owner", "", "");
    w.assert_seed_object("datasources", REDSHIFT_DS);
    let out = w.run(&[
        "update",
        PROFILE,
        "datasources",
        REDSHIFT_DS.1,
        "--set",
        "owner=Priya Raman",
        "--yes",
    ]);
    out.expect_code(0);
    assert!(
        out.stderr.contains("owner 'Priya Raman' is user"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.starts_with("changed"), "{}", out.stdout);
    let stored = w
        .sim
        .control
        .object("datasources", REDSHIFT_DS.1)
        .expect("kept");
    assert_eq!(stored["owner"]["name"], "Priya Raman");
    let out = w.run(&["owned-by", "Priya Raman"]);
    out.expect_code(0);
    let line = out
        .stdout
        .lines()
        .find(|l| l.contains(REDSHIFT_DS.1))
        .unwrap_or_else(|| panic!("listed: {}", out.stdout));
    assert!(line.contains("delete, transfer, edit"), "{line}");
}

#[test]
fn rotate_across_vendors_changes_every_object_of_the_account_as_one_plan() {
    let w = World::new("rotate_vendors", "", "");
    let bd =
        w.rt.block_on(dsconsole::sim::basedash::start(&SimOptions::default()))
            .expect("basedash simulator starts");
    let toml = format!(
        "[[profiles]]\nname = \"bd\"\nvendor = \"basedash\"\nbase_url = \"{}\"\n\
         token_env = \"{BD_TOKEN_VAR}\"\n\n",
        bd.base_url
    );
    w.write_config(&w.sim.base_url, "", &toml);
    // The Basedash data source's database account, and a MicroStrategy login for it.
    let (source, account) = bd
        .control
        .ids()
        .into_iter()
        .find_map(|id| {
            let user = bd.control.object(&id)?["username"].as_str()?.to_string();
            Some((id, user))
        })
        .expect("a data source with a database user");
    let login = w.write_file(
        "login.json",
        &format!(
            "{{\"name\":\"Shared account\",\"username\":\"{account}\",\"password\":\"old-pw-1\"}}"
        ),
    );
    w.run(&[
        "create",
        PROFILE,
        "logins",
        "--from",
        login.to_str().expect("path"),
    ])
    .expect_code(0);
    let new_password = "Cross-vendor-9";
    let out = run(w
        .cmd()
        .env(BD_TOKEN_VAR, dsconsole::sim::basedash::DEMO_TOKEN)
        .env("DSCONSOLE_CLI_ROTATE_ALL", new_password)
        .args([
            "rotate",
            "--profile",
            PROFILE,
            "--profile",
            "bd",
            "--match",
            &format!("username={account}"),
            "--secret-env",
            "password=DSCONSOLE_CLI_ROTATE_ALL",
            "--yes",
        ]));
    out.expect_code(0);
    // One plan per profile, then one report.
    assert!(
        out.stderr
            .contains(&format!("in profile '{PROFILE}' (MicroStrategy, 127.0.0.1")),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("in profile 'bd' (Basedash, 127.0.0.1"),
        "{}",
        out.stderr
    );
    assert!(
        out.stdout.contains("login 'Shared account'"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("verify"),
        "Basedash verifies: {}",
        out.stdout
    );
    assert!(!out.both().contains(new_password));
    assert_eq!(
        bd.control.secret(&source, "password").as_deref(),
        Some(new_password)
    );
    let login_id = w
        .sim
        .control
        .ids("logins")
        .into_iter()
        .find(|l| w.sim.control.object("logins", l).expect("login")["name"] == "Shared account")
        .expect("created");
    assert_eq!(
        w.sim.control.login_password(&login_id).as_deref(),
        Some(new_password)
    );
    bd.shutdown();
}

#[test]
fn a_secret_in_the_keyring_is_stored_once_and_read_by_every_command() {
    let w = World::new("keyring", "", "");
    let keyring = w.dir.path().join("keyring.json");
    std::fs::write(
        &w.config,
        format!(
            "[[profiles]]\nname = \"{PROFILE}\"\nvendor = \"microstrategy\"\n\
             base_url = \"{}\"\nusername = \"{DEMO_USERNAME}\"\n\
             password_keyring = \"dsconsole/{PROFILE}\"\n",
            w.sim.base_url
        ),
    )
    .expect("config");
    let with_keyring = |args: &[&str], stdin: Option<&str>| {
        let mut c = w.cmd();
        c.env("DSCONSOLE_TEST_KEYRING_FILE", &keyring).args(args);
        if let Some(s) = stdin {
            c.write_stdin(s.to_string());
        }
        run(&mut c)
    };
    // Nothing stored yet: a clear error, not a crash.
    let out = with_keyring(&["list", PROFILE, "logins"], None);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("nothing stored in the keyring"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("dsconsole secret set"),
        "{}",
        out.stderr
    );
    // Stored from stdin (not a terminal), then used.
    let out = with_keyring(
        &["secret", "set", PROFILE],
        Some(&format!("{DEMO_PASSWORD}\n")),
    );
    out.expect_code(0);
    assert!(
        out.stderr.contains(&format!("as dsconsole/{PROFILE}")),
        "{}",
        out.stderr
    );
    assert!(!out.both().contains(DEMO_PASSWORD));
    let out = with_keyring(&["list", PROFILE, "logins"], None);
    out.expect_code(0);
    let out = with_keyring(&["config", "check"], None);
    out.expect_code(0);
    assert!(
        out.stdout.contains(&format!("keyring dsconsole/{PROFILE}")),
        "{}",
        out.stdout
    );
    // A profile whose password comes from elsewhere says how to switch.
    w.write_config(&w.sim.base_url, "", "");
    let out = with_keyring(&["secret", "set", PROFILE], Some("x\n"));
    out.expect_code(2);
    assert!(
        out.stderr.contains("password_keyring = \"dsconsole/"),
        "{}",
        out.stderr
    );
}

/// `dsconsole sim` keeps serving when whoever reads its stdout stops after the first line
/// (a bench, `| head -1`): a closed pipe does not end it.
#[test]
fn sim_keeps_serving_after_its_stdout_is_closed() {
    use std::io::{BufRead, BufReader};
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_dsconsole"))
        .arg("sim")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn sim");
    let out = child.stdout.take().expect("stdout");
    let first = BufReader::new(out)
        .lines()
        .next()
        .expect("a line")
        .expect("read");
    // The reader (and the pipe) are gone now.
    let url = first
        .split_whitespace()
        .nth(1)
        .expect("a base URL")
        .to_string();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        child.try_wait().expect("wait").is_none(),
        "sim ended: {first}"
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    let status = rt.block_on(async {
        reqwest::get(format!("{url}/api/status"))
            .await
            .map(|r| r.status().as_u16())
    });
    let _ = child.kill();
    let _ = child.wait();
    assert!(status.is_ok(), "the simulator still answers: {status:?}");
}
