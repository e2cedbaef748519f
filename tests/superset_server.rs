//! The Apache Superset vendor end to end, through the real `dsconsole` binary, against a real
//! Superset server and, unchanged, against the built-in simulator.
//!
//! Every test runs once per server in `servers()`: the simulator always, and the real server
//! when `scripts/superset-up` has started one (`.ci/run` does, and exports the variables of
//! its env file: `DSCONSOLE_SUPERSET_URL`, …). Without them the real half says so loudly
//! ("skipped: no Superset") and only the simulator half runs.
//!
//! The real server is shared by the tests running in parallel, so each test creates its own
//! databases, datasets, charts and dashboards (names and SQLite tables unique to the test and
//! the run) through the server's own API (`Oracle`, a plain HTTP client independent of
//! dsconsole's), and asserts through that same API what the server holds afterwards.
#![cfg(feature = "sim")]

use assert_cmd::Command;
use dsconsole::sim::superset::{self as ssim, SupersetSim};
use dsconsole::sim::SimOptions;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Safety net against a hung child; never a timing assertion.
const CHILD_TIMEOUT: Duration = Duration::from_secs(180);
const PROFILE: &str = "ss";
const PW_VAR: &str = "DSCONSOLE_SUPERSET_TEST_PW";
const NEW_PG_VAR: &str = "DSCONSOLE_SUPERSET_TEST_NEW_PG_PW";

// ---------------------------------------------------------------------------------------------
// The servers
// ---------------------------------------------------------------------------------------------

/// A Postgres database the server can reach, with a password the test can change behind
/// Superset's back.
struct Pg {
    /// `postgresql://user@host:port/db` (no password).
    uri: String,
    password: String,
}

enum Backend {
    Real {
        /// psql connection string of the Postgres superuser (changes `dsc`'s password).
        pg_admin: Option<String>,
        /// The server's request log (Werkzeug's lines), to see what reached it.
        log: Option<PathBuf>,
    },
    Sim {
        sim: SupersetSim,
        _rt: tokio::runtime::Runtime,
    },
}

struct Server {
    name: &'static str,
    base_url: String,
    user: String,
    password: String,
    pg: Option<Pg>,
    backend: Backend,
    /// Where this test's SQLite files live.
    dir: tempfile::TempDir,
}

/// The servers a test runs against: the simulator, then the real one when it is up.
fn servers(test: &str) -> Vec<Server> {
    let mut out = vec![sim_server()];
    match std::env::var("DSCONSOLE_SUPERSET_URL") {
        Ok(url) if !url.is_empty() => out.push(real_server(url)),
        _ => eprintln!(
            "\n!!! {test}: skipped: no Superset (scripts/superset-up was not run; \
             only the simulator half ran) !!!\n"
        ),
    }
    out
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn real_server(base_url: String) -> Server {
    let pg = env("DSCONSOLE_SUPERSET_PG_URI").map(|uri| Pg {
        uri,
        password: env("DSCONSOLE_SUPERSET_PG_PASSWORD").expect("the Postgres password"),
    });
    Server {
        name: "real Superset",
        base_url,
        user: env("DSCONSOLE_SUPERSET_USER").unwrap_or_else(|| "admin".into()),
        password: env("DSCONSOLE_SUPERSET_PASSWORD").unwrap_or_else(|| "admin".into()),
        pg,
        backend: Backend::Real {
            pg_admin: env("DSCONSOLE_SUPERSET_PG_ADMIN"),
            log: env("DSCONSOLE_SUPERSET_LOG").map(PathBuf::from),
        },
        dir: tempfile::tempdir().expect("temp dir"),
    }
}

fn sim_server() -> Server {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let sim = rt
        .block_on(ssim::start(&SimOptions::default()))
        .expect("simulator starts");
    // The same Postgres database the real setup has, simulated.
    let pg = Pg {
        uri: "postgresql://dsc@127.0.0.1:54329/shop".into(),
        password: "dsc-pass-1".into(),
    };
    sim.control
        .add_backend(&pg.uri, Some(&pg.password), &["orders", "customers"]);
    Server {
        name: "simulator",
        base_url: sim.base_url.clone(),
        user: ssim::DEMO_USERNAME.into(),
        password: ssim::DEMO_PASSWORD.into(),
        pg: Some(pg),
        backend: Backend::Sim { sim, _rt: rt },
        dir: tempfile::tempdir().expect("temp dir"),
    }
}

static SEQ: AtomicU64 = AtomicU64::new(0);

/// A name unique to this test, run and call: the real server outlives the test run, and its
/// SQLite metadata refuses a second dataset of the same table name on any database.
fn unique(test: &str) -> String {
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() % 100_000_000)
        .unwrap_or(0);
    format!("it_{test}_{}_{t}_{n}", std::process::id())
}

impl Server {
    /// A SQLite data file holding `tables`, and its SQLAlchemy URI.
    fn sqlite(&self, file: &str, tables: &[String]) -> String {
        let dir = self.dir.path().join(file.replace('.', "_"));
        std::fs::create_dir_all(&dir).expect("sqlite dir");
        let path = dir.join(format!("{file}.db"));
        let uri = format!("sqlite:///{}", path.display());
        match &self.backend {
            Backend::Real { .. } => {
                // Python's sqlite3 (the server's own machine has it): no SQLite in our tree.
                let script = format!(
                    "import sqlite3\nc = sqlite3.connect({path:?})\n{}c.commit()\n",
                    tables
                        .iter()
                        .map(|t| format!(
                            "c.execute('create table {t} (id integer primary key, region text, amount real)')\n"
                        ))
                        .collect::<String>()
                );
                let st = std::process::Command::new("python3")
                    .arg("-c")
                    .arg(script)
                    .status()
                    .expect("python3 runs");
                assert!(st.success(), "sqlite file created");
            }
            Backend::Sim { sim, .. } => {
                let names: Vec<&str> = tables.iter().map(String::as_str).collect();
                assert!(sim.control.add_backend(&uri, None, &names));
            }
        }
        uri
    }

    /// Make a SQLite URI unreachable: its directory goes away.
    fn break_sqlite(&self, uri: &str) {
        let path = Path::new(uri.trim_start_matches("sqlite:///"));
        std::fs::remove_dir_all(path.parent().expect("parent")).expect("remove sqlite dir");
    }

    /// Change the Postgres user's password behind Superset's back.
    fn set_pg_password(&self, new: &str) {
        let pg = self.pg.as_ref().expect("postgres");
        match &self.backend {
            Backend::Real { pg_admin, .. } => {
                let admin = pg_admin.as_deref().expect("the Postgres superuser");
                let user = pg.uri.split("//").nth(1).and_then(|r| r.split('@').next());
                let st = std::process::Command::new("psql")
                    .arg(admin)
                    .args(["-q", "-v", "ON_ERROR_STOP=1", "-c"])
                    .arg(format!(
                        "ALTER ROLE \"{}\" PASSWORD '{new}'",
                        user.expect("user")
                    ))
                    .status()
                    .expect("psql runs");
                assert!(st.success(), "password changed");
            }
            Backend::Sim { sim, .. } => {
                assert!(sim.control.set_backend_password(&pg.uri, new));
            }
        }
    }

    /// How far the server's request log goes now (see `mutations_of`).
    fn log_mark(&self) -> usize {
        match &self.backend {
            Backend::Real { log, .. } => log
                .as_ref()
                .and_then(|p| std::fs::read_to_string(p).ok())
                .map_or(0, |t| t.lines().count()),
            Backend::Sim { sim, .. } => sim.control.requests().len(),
        }
    }

    /// Mutating requests (not login, refresh or CSRF) on `/api/v1/{resource}/{id}` that
    /// reached the server after `mark`: the real server's log lines (Werkzeug's), or the
    /// simulator's request log. `None` when the real server's log is not known.
    fn mutations_of(&self, mark: usize, resource: &str, id: i64) -> Option<Vec<String>> {
        let prefix = format!("/api/v1/{resource}/{id}");
        let hits = |path: &str| {
            path == prefix
                || path.starts_with(&format!("{prefix}/"))
                || path.starts_with(&format!("{prefix}?"))
        };
        match &self.backend {
            Backend::Real { log, .. } => {
                let text = std::fs::read_to_string(log.as_ref()?).ok()?;
                Some(
                    text.lines()
                        .skip(mark)
                        .filter_map(|l| {
                            let req = l.split('"').nth(1)?;
                            let mut parts = req.split(' ');
                            let (m, p) = (parts.next()?, parts.next()?);
                            (m != "GET" && hits(p)).then(|| format!("{m} {p}"))
                        })
                        .collect(),
                )
            }
            Backend::Sim { sim, .. } => Some(
                sim.control
                    .requests()
                    .into_iter()
                    .skip(mark)
                    .filter(|r| r.method != "GET" && hits(&r.path))
                    .map(|r| format!("{} {}", r.method, r.path))
                    .collect(),
            ),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The oracle: the server's own API, without dsconsole
// ---------------------------------------------------------------------------------------------

struct Oracle {
    rt: tokio::runtime::Runtime,
    http: reqwest::Client,
    base: String,
    token: String,
    csrf: String,
}

impl Oracle {
    fn new(s: &Server) -> Oracle {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .expect("http");
        let base = format!("{}/api/v1", s.base_url.trim_end_matches('/'));
        let (token, csrf) = rt.block_on(async {
            let login: Value = http
                .post(format!("{base}/security/login"))
                .json(&json!({"username": s.user, "password": s.password, "provider": "db", "refresh": true}))
                .send()
                .await
                .expect("login")
                .json()
                .await
                .expect("login JSON");
            let token = login["access_token"].as_str().expect("token").to_string();
            let csrf: Value = http
                .get(format!("{base}/security/csrf_token/"))
                .bearer_auth(&token)
                .send()
                .await
                .expect("csrf")
                .json()
                .await
                .expect("csrf JSON");
            (token, csrf["result"].as_str().expect("csrf").to_string())
        });
        Oracle {
            rt,
            http,
            base,
            token,
            csrf,
        }
    }

    fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        self.rt.block_on(async {
            let mut rq = self
                .http
                .request(method, format!("{}/{path}", self.base))
                .bearer_auth(&self.token)
                .header("X-CSRFToken", &self.csrf);
            if let Some(b) = body {
                rq = rq.json(&b);
            }
            let r = rq.send().await.expect("request");
            let status = r.status().as_u16();
            let text = r.text().await.unwrap_or_default();
            (status, serde_json::from_str(&text).unwrap_or(Value::Null))
        })
    }

    fn create(&self, path: &str, body: Value) -> i64 {
        let (status, v) = self.send(reqwest::Method::POST, path, Some(body.clone()));
        assert_eq!(status, 201, "POST {path} {body}: {v}");
        v["id"].as_i64().expect("id")
    }

    fn database(&self, name: &str, uri: &str) -> i64 {
        self.create(
            "database/",
            json!({"database_name": name, "sqlalchemy_uri": uri}),
        )
    }

    fn dataset(&self, db: i64, table: &str) -> i64 {
        self.create(
            "dataset/",
            json!({"database": db, "schema": "main", "table_name": table}),
        )
    }

    fn dashboard(&self, title: &str) -> i64 {
        self.create(
            "dashboard/",
            json!({"dashboard_title": title, "published": true}),
        )
    }

    fn chart(&self, name: &str, dataset: i64, dashboards: &[i64]) -> i64 {
        self.create(
            "chart/",
            json!({"slice_name": name, "viz_type": "table", "datasource_id": dataset,
                   "datasource_type": "table", "params": "{}", "dashboards": dashboards}),
        )
    }

    fn exists(&self, path: &str) -> bool {
        let (status, v) = self.send(reqwest::Method::GET, path, None);
        assert!(status == 200 || status == 404, "GET {path}: {status} {v}");
        status == 200
    }

    /// The database's connection test, as the server runs it with its stored password.
    fn connection_ok(&self, db: i64, name: &str) -> bool {
        let (_, c) = self.send(
            reqwest::Method::GET,
            &format!("database/{db}/connection"),
            None,
        );
        let uri = c["result"]["sqlalchemy_uri"]
            .as_str()
            .expect("uri")
            .to_string();
        let (status, _) = self.send(
            reqwest::Method::POST,
            "database/test_connection/",
            Some(json!({"database_name": name, "sqlalchemy_uri": uri})),
        );
        status == 200
    }

    /// Every row of a list, paged as the server pages it.
    fn all(&self, res: &str) -> Vec<Value> {
        let mut rows = Vec::new();
        for page in 0.. {
            let (status, v) = self.send(
                reqwest::Method::GET,
                &format!("{res}/?q=(page:{page},page_size:100)"),
                None,
            );
            assert_eq!(status, 200, "{v}");
            let got = v["result"].as_array().cloned().unwrap_or_default();
            let count = v["count"].as_u64().unwrap_or(0) as usize;
            let empty = got.is_empty();
            rows.extend(got);
            if empty || rows.len() >= count {
                break;
            }
        }
        rows
    }
}

// ---------------------------------------------------------------------------------------------
// The binary
// ---------------------------------------------------------------------------------------------

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

/// A config with one Superset profile on `s`, and a private data directory.
struct Cli {
    dir: tempfile::TempDir,
    config: PathBuf,
    extra_env: Vec<(String, String)>,
    password: String,
}

impl Cli {
    fn new(s: &Server, profile_extra: &str) -> Cli {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("config.toml");
        std::fs::write(
            &config,
            format!(
                "[defaults]\nconcurrency = 4\ntimeout_seconds = 60\n\n[[profiles]]\n\
                 name = \"{PROFILE}\"\nvendor = \"superset\"\nbase_url = \"{}\"\n\
                 username = \"{}\"\npassword_env = \"{PW_VAR}\"\n{profile_extra}\n",
                s.base_url, s.user
            ),
        )
        .expect("config");
        Cli {
            dir,
            config,
            extra_env: Vec::new(),
            password: s.password.clone(),
        }
    }

    fn audit_path(&self) -> PathBuf {
        self.dir.path().join("data").join("audit.jsonl")
    }

    fn run(&self, args: &[&str]) -> Out {
        let home = self.dir.path().join("home");
        let mut c = Command::new(env!("CARGO_BIN_EXE_dsconsole"));
        c.arg("--config")
            .arg(&self.config)
            .args(args)
            .env_remove("DSCONSOLE_CONFIG")
            .env_remove("DSCONSOLE_LOG")
            .env("DSCONSOLE_DATA_DIR", self.dir.path().join("data"))
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .env(PW_VAR, &self.password)
            .timeout(CHILD_TIMEOUT);
        for (k, v) in &self.extra_env {
            c.env(k, v);
        }
        let out = c.output().expect("run dsconsole");
        Out {
            code: out.status.code().expect("exit code"),
            stdout: String::from_utf8(out.stdout).expect("utf-8"),
            stderr: String::from_utf8(out.stderr).expect("utf-8"),
        }
    }

    fn audit_lines(&self) -> Vec<Value> {
        std::fs::read_to_string(self.audit_path())
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).expect("audit line is JSON"))
            .collect()
    }
}

fn json_rows(out: &Out) -> Vec<Value> {
    let v: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("JSON output ({e}):\n{}", out.stdout));
    v.as_array().cloned().unwrap_or_else(|| vec![v])
}

fn named<'a>(rows: &'a [Value], name: &str) -> Option<&'a Value> {
    rows.iter().find(|r| r["name"] == name)
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[test]
fn lists_page_through_databases_and_datasets() {
    for s in servers("lists_page") {
        let o = Oracle::new(&s);
        let t = unique("list");
        let tables: Vec<String> = (0..5).map(|i| format!("{t}_t{i}")).collect();
        let uri = s.sqlite(&t, &tables);
        let mut dbs = Vec::new();
        for i in 0..3 {
            dbs.push(o.database(&format!("{t}-db{i}"), &uri));
        }
        for (i, table) in tables.iter().enumerate() {
            o.dataset(dbs[i % 3], table);
        }
        // Pages of two: every list takes several requests.
        let cli = Cli::new(&s, "page_size = 2");
        let out = cli.run(&["list", PROFILE, "--output", "json"]);
        out.expect_code(0);
        let rows = json_rows(&out);
        let kind_count = |k: &str| rows.iter().filter(|r| r["kind"] == k).count();
        assert_eq!(
            kind_count("connections"),
            o.all("database").len(),
            "{}: every database",
            s.name
        );
        assert_eq!(
            kind_count("datasources"),
            o.all("dataset").len(),
            "{}: every dataset",
            s.name
        );
        for (i, id) in dbs.iter().enumerate() {
            let db = named(&rows, &format!("{t}-db{i}"))
                .unwrap_or_else(|| panic!("{}: database {i} listed", s.name));
            assert_eq!(db["kind"], "connections");
            assert_eq!(db["id"].as_str(), Some(id_str(*id).as_str()));
        }
        for (i, table) in tables.iter().enumerate() {
            let ds = rows
                .iter()
                .find(|r| {
                    r["kind"] == "datasources"
                        && r["name"]
                            .as_str()
                            .is_some_and(|n| n.ends_with(table.as_str()))
                })
                .unwrap_or_else(|| panic!("{}: dataset {table} listed", s.name));
            let deps = ds["depends_on"].as_array().expect("depends_on");
            assert!(
                deps.iter()
                    .any(|d| d["id"].as_str() == Some(id_str(dbs[i % 3]).as_str())),
                "{}: {table} depends on its database: {ds}",
                s.name
            );
        }
    }
}

#[test]
fn impact_lists_the_charts_and_dashboards_that_would_break() {
    for s in servers("impact") {
        let o = Oracle::new(&s);
        let t = unique("impact");
        let table = format!("{t}_sales");
        let uri = s.sqlite(&t, std::slice::from_ref(&table));
        let db = o.database(&format!("{t}-db"), &uri);
        let ds = o.dataset(db, &table);
        let board = o.dashboard(&format!("{t} board"));
        o.chart(&format!("{t} chart on board"), ds, &[board]);
        o.chart(&format!("{t} loose chart"), ds, &[]);
        let cli = Cli::new(&s, "");
        for (kind, id) in [("datasources", ds), ("connections", db)] {
            let out = cli.run(&["impact", PROFILE, kind, &id.to_string(), "--output", "json"]);
            out.expect_code(0);
            for want in [
                format!("{t} chart on board"),
                format!("{t} loose chart"),
                format!("{t} board"),
            ] {
                assert!(
                    out.stdout.contains(&want),
                    "{}: impact of {kind} {id} names {want}:\n{}",
                    s.name,
                    out.stdout
                );
            }
        }
        let table_out = cli.run(&["impact", PROFILE, "datasources", &id_str(ds)]);
        table_out.expect_code(0);
        assert!(
            table_out.stdout.contains(&format!("{t} board")),
            "{}",
            table_out.stdout
        );
    }
}

fn id_str(id: i64) -> String {
    id.to_string()
}

#[test]
fn deleting_a_database_with_datasets_is_refused_in_the_servers_words_then_the_cascade_deletes_both()
{
    for s in servers("cascade") {
        let o = Oracle::new(&s);
        let t = unique("cascade");
        let tables = vec![format!("{t}_a"), format!("{t}_b")];
        let uri = s.sqlite(&t, &tables);
        let name = format!("{t}-db");
        let db = o.database(&name, &uri);
        let ds: Vec<i64> = tables.iter().map(|tb| o.dataset(db, tb)).collect();
        let cli = Cli::new(&s, "");

        // Without --cascade the database alone is sent, and the server refuses it.
        let out = cli.run(&["delete", PROFILE, "connections", &id_str(db), "--yes"]);
        out.expect_code(1);
        assert!(
            out.both()
                .contains("Cannot delete a database that has datasets attached"),
            "{}: the server's words:\n{}",
            s.name,
            out.both()
        );
        assert!(o.exists(&format!("database/{db}")), "{}: kept", s.name);

        // The cascade from its datasets deletes them first, then the database they use.
        let (a, b) = (id_str(ds[0]), id_str(ds[1]));
        let out = cli.run(&[
            "delete",
            PROFILE,
            "datasources",
            &a,
            &b,
            "--cascade",
            "--yes",
        ]);
        out.expect_code(0);
        assert!(
            out.stderr.contains(&format!("connection '{name}'")),
            "{}: the plan names the database:\n{}",
            s.name,
            out.stderr
        );
        assert!(
            !o.exists(&format!("database/{db}")),
            "{}: database gone",
            s.name
        );
        for d in &ds {
            assert!(
                !o.exists(&format!("dataset/{d}")),
                "{}: dataset {d} gone",
                s.name
            );
        }
        // Audit: before and after lines for each object, the datasets before the database.
        let lines = cli.audit_lines();
        // Ids are per kind (a dataset and a database may both be 5); the last run's lines.
        let phase_of = |kind: &str, id: i64, phase: &str| {
            lines.iter().rposition(|l| {
                l["kind"] == kind
                    && l["id"].as_str() == Some(id_str(id).as_str())
                    && l["phase"] == phase
                    && l["operation"] == "delete"
            })
        };
        let db_before = phase_of("connections", db, "before").expect("database audited");
        for d in &ds {
            let before = phase_of("datasources", *d, "before")
                .unwrap_or_else(|| panic!("{d} audited: {lines:?}"));
            let after = phase_of("datasources", *d, "after").expect("after line");
            assert!(
                before < after && after < db_before,
                "{}: order {lines:?}",
                s.name
            );
            assert_eq!(lines[after]["outcome"], "deleted");
        }
        let last = &lines[phase_of("connections", db, "after").expect("after")];
        assert_eq!(last["outcome"], "deleted", "{}: {last}", s.name);
        assert!(
            lines
                .iter()
                .all(|l| l["vendor"] == "superset" && l["profile"] == PROFILE),
            "{lines:?}"
        );
        let text = std::fs::read_to_string(cli.audit_path()).unwrap_or_default();
        assert!(!text.contains(&s.password), "no password in the audit log");
    }
}

#[test]
fn a_database_whose_connection_fails_is_unhealthy_with_the_servers_message() {
    for s in servers("unhealthy") {
        let o = Oracle::new(&s);
        let t = unique("unhealthy");
        let uri = s.sqlite(&t, &[format!("{t}_x")]);
        let name = format!("{t}-db");
        let db = o.database(&name, &uri);
        s.break_sqlite(&uri);
        let cli = Cli::new(&s, "");
        let out = cli.run(&["check", PROFILE]);
        out.expect_code(1);
        let line = out
            .stdout
            .lines()
            .find(|l| l.starts_with("UNHEALTHY") && l.contains(&name))
            .unwrap_or_else(|| panic!("{}: {name} unhealthy:\n{}", s.name, out.stdout));
        assert!(
            out.stdout.contains("unable to open database file"),
            "{}: the server's message: {line}\n{}",
            s.name,
            out.stdout
        );
        assert!(o.exists(&format!("database/{db}")));
    }
}

#[test]
fn a_password_rotation_takes_effect_and_read_only_sends_nothing() {
    for s in servers("rotation") {
        let Some(pg) = s.pg.as_ref() else {
            eprintln!(
                "\n!!! rotation on {}: skipped: no Postgres data database !!!\n",
                s.name
            );
            continue;
        };
        let o = Oracle::new(&s);
        let t = unique("rotate");
        let name = format!("{t}-pg");
        let with_pw = pg.uri.replacen('@', &format!(":{}@", pg.password), 1);
        let db = o.database(&name, &with_pw);
        assert!(o.connection_ok(db, &name), "{}: connects at first", s.name);

        // The password changes behind Superset's back: the connection test fails.
        let new_pw = format!("rotated-{}", std::process::id());
        s.set_pg_password(&new_pw);
        let restore = Restore(&s, &pg.password);
        assert!(
            !o.connection_ok(db, &name),
            "{}: fails after the change",
            s.name
        );

        // Read-only: nothing is sent, the stored password stays the old one.
        let mark = s.log_mark();
        let mut ro = Cli::new(&s, "read_only = true");
        ro.extra_env.push((NEW_PG_VAR.into(), new_pw.clone()));
        let out = ro.run(&[
            "update",
            PROFILE,
            "connections",
            &id_str(db),
            "--secret-env",
            &format!("password={NEW_PG_VAR}"),
            "--yes",
        ]);
        assert_ne!(
            out.code,
            0,
            "{}: read-only refuses:\n{}",
            s.name,
            out.both()
        );
        assert!(
            out.both().to_lowercase().contains("read-only"),
            "{}",
            out.both()
        );
        let out = ro.run(&["delete", PROFILE, "connections", &id_str(db), "--yes"]);
        assert_ne!(out.code, 0, "{}", out.both());
        if let Some(seen) = s.mutations_of(mark, "database", db) {
            assert!(seen.is_empty(), "{}: read-only sent {seen:?}", s.name);
        }
        assert!(o.exists(&format!("database/{db}")));
        assert!(!o.connection_ok(db, &name), "{}: nothing changed", s.name);

        // The rotation: the plan, the change, the server's own test passes afterwards.
        let mut cli = Cli::new(&s, "");
        cli.extra_env.push((NEW_PG_VAR.into(), new_pw.clone()));
        let out = cli.run(&[
            "update",
            PROFILE,
            "connections",
            &id_str(db),
            "--secret-env",
            &format!("password={NEW_PG_VAR}"),
            "--yes",
        ]);
        out.expect_code(0);
        assert!(
            out.stdout.starts_with("changed"),
            "{}: {}",
            s.name,
            out.both()
        );
        assert!(
            o.connection_ok(db, &name),
            "{}: connects with the new password",
            s.name
        );
        assert!(
            !out.both().contains(&new_pw),
            "the new password is never shown"
        );
        let audit = std::fs::read_to_string(cli.audit_path()).expect("audit");
        assert!(!audit.contains(&new_pw), "nor audited");
        assert!(audit.contains("\"update\""), "{audit}");
        drop(restore);
        let (status, _) = o.send(reqwest::Method::DELETE, &format!("database/{db}"), None);
        assert_eq!(status, 200);
    }
}

/// Puts the Postgres password back when the rotation test ends, even by a panic: the real
/// server's seed database uses it.
struct Restore<'a>(&'a Server, &'a str);

impl Drop for Restore<'_> {
    fn drop(&mut self) {
        self.0.set_pg_password(self.1);
    }
}
