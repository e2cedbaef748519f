//! Secrets never leak: the real binary runs every CLI command and the TUI, at `trace` log
//! level, against a MicroStrategy simulator with passwords from the environment, inline in
//! the config, in a create body and wrong; then stdout, stderr, the log file, the audit log,
//! every other file it wrote, the terminal output and `Debug` of the parsed config are
//! searched for each secret value.
// These run the built-in simulators, which need the `sim` feature (on by default).
#![cfg(feature = "sim")]

mod common {
    pub mod pty;
}

use dsconsole::config::Config;
use dsconsole::sim::microstrategy::{self, MstrSim, DEMO_PASSWORD, DEMO_USERNAME};
use dsconsole::sim::SimOptions;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Password of profile `mstr-env`, from an environment variable.
const ENV_PW: &str = "envPW-4f1c9e7a2b8d4c06-Kq7Zt3Lw9Xv2Rn5Jp8Hs";
/// Password of profile `mstr-inline`, written in the config file.
const INLINE_PW: &str = "inlinePW-b73e05d2a9c14f68-Mx4Vy8Qk2Tz6Wd9Nc3Ge";
/// Password of profile `mstr-wrong`: the server refuses it.
const WRONG_PW: &str = "wrongPW-0d8a6f3c51e7b294-Fh2Lp9Sj5Rb7Ku4Yn8Da";
/// Password of the login created from a JSON file.
const LOGIN_PW: &str = "loginBodyPW-9e2c7b4a06d35f81-Ut6Gz3Xm8Wq1Pv5Lk7Cs";

const ENV_VAR: &str = "DSCONSOLE_SECRETS_TEST_PW";
const WRONG_VAR: &str = "DSCONSOLE_SECRETS_TEST_WRONG_PW";

/// Safety net against a hung child or screen; never a timing assertion.
const TIMEOUT: Duration = Duration::from_secs(60);

/// A datasource the delete removes, and a connection the simulator refuses to delete
/// because datasources use it.
const DELETE_DS: &str = "Redshift Marketing Attribution";
const REFUSED_CONN: &str = "Snowflake Finance Prod";

// ---------------------------------------------------------------------------------------------
// The world: simulator, credential-swapping proxy, config, data dir
// ---------------------------------------------------------------------------------------------

struct World {
    sim: MstrSim,
    proxy: proxy::Seen,
    /// Serves the simulator and the proxy; dropped after `sim`.
    _rt: tokio::runtime::Runtime,
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl World {
    fn new() -> World {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let sim = rt
            .block_on(microstrategy::start(&SimOptions::default()))
            .expect("simulator starts");
        let origin = sim
            .base_url
            .strip_suffix("/MicroStrategyLibrary")
            .expect("simulator base URL ends with the context path")
            .to_string();
        let (proxy_origin, seen) = rt
            .block_on(proxy::start(origin, vec![ENV_PW, INLINE_PW]))
            .expect("proxy starts");
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("config.toml");
        let base = format!("{proxy_origin}/MicroStrategyLibrary");
        let text = format!(
            "[ui]\nrefresh_seconds = 0\n\n[defaults]\nconcurrency = 2\ntimeout_seconds = 30\n\n\
             [[profiles]]\nname = \"mstr-env\"\nvendor = \"microstrategy\"\n\
             base_url = \"{base}\"\nusername = \"{DEMO_USERNAME}\"\npassword_env = \"{ENV_VAR}\"\n\n\
             [[profiles]]\nname = \"mstr-inline\"\nvendor = \"microstrategy\"\n\
             base_url = \"{base}\"\nusername = \"{DEMO_USERNAME}\"\npassword = \"{INLINE_PW}\"\n\n\
             [[profiles]]\nname = \"mstr-wrong\"\nvendor = \"microstrategy\"\n\
             base_url = \"{base}\"\nusername = \"{DEMO_USERNAME}\"\npassword_env = \"{WRONG_VAR}\"\n"
        );
        std::fs::write(&config, text).expect("write config");
        // Readable by others: the inline secret gets a warning.
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644))
            .expect("chmod config");
        World {
            sim,
            proxy: seen,
            _rt: rt,
            dir,
            config,
        }
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// The binary with the config, private data dir and home, trace logging and the
    /// password variables.
    fn cmd(&self) -> Command {
        let home = self.home();
        std::fs::create_dir_all(&home).expect("home dir");
        let mut c = Command::new(env!("CARGO_BIN_EXE_dsconsole"));
        c.arg("--config")
            .arg(&self.config)
            .env_remove("DSCONSOLE_CONFIG")
            .env_remove("DSCONSOLE_TEST_PANIC")
            .env_remove("NO_COLOR")
            .env("DSCONSOLE_LOG", "trace")
            .env("RUST_BACKTRACE", "1")
            .env("DSCONSOLE_DATA_DIR", self.data_dir())
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .env(ENV_VAR, ENV_PW)
            .env(WRONG_VAR, WRONG_PW);
        c
    }

    /// Run a CLI command with stdin closed; returns (exit code, stdout + stderr).
    fn run(&self, args: &[&str]) -> (i32, String) {
        let mut cmd = self.cmd();
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn dsconsole");
        let (tx, rx) = mpsc::channel();
        let mut stdout = child.stdout.take().expect("stdout piped");
        let mut stderr = child.stderr.take().expect("stderr piped");
        let out_reader = std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = stdout.read_to_end(&mut s);
            s
        });
        let err_reader = std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = stderr.read_to_end(&mut s);
            s
        });
        std::thread::spawn(move || {
            let _ = tx.send(child.wait());
            child
        });
        let status = match rx.recv_timeout(TIMEOUT) {
            Ok(s) => s.expect("wait for dsconsole"),
            Err(_) => panic!("dsconsole {args:?} did not finish within {TIMEOUT:?}"),
        };
        let out = out_reader.join().expect("stdout reader");
        let err = err_reader.join().expect("stderr reader");
        let text = format!(
            "--- stdout ---\n{}\n--- stderr ---\n{}",
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(&err)
        );
        let code = status
            .code()
            .unwrap_or_else(|| panic!("dsconsole {args:?} was killed: {status:?}\n{text}"));
        (code, text)
    }

    fn write_file(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).expect("write file");
        p
    }

    /// Every file dsconsole may have written: the data dir and home, recursively.
    fn written_files(&self) -> Vec<PathBuf> {
        let mut files = Vec::new();
        for root in [self.data_dir(), self.home()] {
            collect_files(&root, &mut files);
        }
        files
    }
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect_files(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Every secret the run knows: the four passwords and the session tokens and cookies the
/// server handed out.
fn all_secrets(w: &World) -> Vec<String> {
    let mut s: Vec<String> = [ENV_PW, INLINE_PW, WRONG_PW, LOGIN_PW]
        .iter()
        .map(ToString::to_string)
        .collect();
    s.extend(w.proxy.session_secrets());
    s
}

fn assert_no_secret(what: &str, text: &str, secrets: &[String]) {
    for secret in secrets {
        assert!(
            !text.contains(secret.as_str()),
            "a secret ({}…) appears in {what}:\n{text}",
            &secret[..secret.len().min(8)]
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[test]
fn no_secret_reaches_any_output_of_any_command_or_the_tui() {
    let w = World::new();
    let mut outputs: Vec<(String, String)> = Vec::new();
    let mut run = |args: &[&str], ok: &[i32]| -> String {
        let (code, text) = w.run(args);
        assert!(
            ok.contains(&code),
            "dsconsole {args:?} exited {code}, want one of {ok:?}\n{text}"
        );
        outputs.push((format!("the output of {args:?}"), text.clone()));
        text
    };

    let listed = run(&["list", "mstr-env"], &[0]);
    assert!(listed.contains(DELETE_DS), "the list shows the datasources");
    run(&["list", "mstr-inline", "--output", "json"], &[0]);
    run(&["list", "mstr-env", "logins", "--output", "ndjson"], &[0]);

    let deleted = run(
        &["delete", "mstr-env", "datasources", DELETE_DS, "--yes"],
        &[0],
    );
    assert!(deleted.contains("deleted"), "{deleted}");
    let refused = run(
        &[
            "delete",
            "mstr-inline",
            "connections",
            REFUSED_CONN,
            "--yes",
        ],
        &[1],
    );
    assert!(
        refused.contains("Cannot delete connection"),
        "the server's refusal is shown: {refused}"
    );

    let login = w.write_file(
        "login.json",
        &format!(
            "{{\"name\": \"Secrets Test Login\", \"username\": \"secrets_user\", \
             \"password\": \"{LOGIN_PW}\", \"description\": \"tests/secrets.rs\"}}\n"
        ),
    );
    let login_arg = login.to_str().expect("UTF-8 temp path");
    let created = run(&["create", "mstr-env", "logins", "--from", login_arg], &[0]);
    assert!(created.contains("Secrets Test Login"), "{created}");

    run(&["check", "mstr-env"], &[0, 1]);
    run(&["check", "mstr-inline"], &[0, 1]);
    let checked = run(&["config", "check"], &[0]);
    assert!(
        checked.contains("inline secret in profile 'mstr-inline'")
            && checked.contains("readable by others"),
        "config check warns about the inline secret in a 0644 file: {checked}"
    );
    for name in ["mstr-env", "mstr-inline", "mstr-wrong"] {
        assert!(checked.contains(name), "config check lists {name}");
    }

    let wrong = run(&["list", "mstr-wrong"], &[1, 2]);
    assert!(
        wrong.contains("ERR003"),
        "a wrong password is reported with the vendor's code: {wrong}"
    );

    // The TUI on the same config: tabs of all three profiles, the logins with the created
    // one, its detail view, then q. It logs to the data dir's file.
    let mut tui = common::pty::Session::start(w.cmd(), 140, 40, None);
    let mut screens = Vec::new();
    // Several profiles: the overview comes first (and must show no secret either).
    tui.wait_for("the overview", |t| {
        t.contains("On call —") && t.contains("mstr-env")
    });
    screens.push(tui.text());
    tui.send(b"1");
    tui.wait_for("the mstr-env datasources", |t| {
        t.contains("mstr-env") && t.contains("Analytics Sandbox") && t.contains("loaded ")
    });
    assert!(
        !tui.text().contains(DELETE_DS),
        "the TUI shows the server's state after the CLI delete"
    );
    tui.send(b"3");
    tui.wait_for("the refused login of mstr-wrong", |t| t.contains("ERR003"));
    screens.push(tui.text());
    tui.send(b"2");
    tui.wait_for("the mstr-inline tab", |t| {
        !t.contains("ERR003") && t.contains("loaded ")
    });
    screens.push(tui.text());
    tui.send(b"1");
    tui.send(b"]");
    tui.send(b"]");
    tui.wait_for("the logins of mstr-env", |t| {
        t.contains("Secrets Test Login")
    });
    tui.send(b"/");
    tui.send(b"Secrets Test");
    tui.send(b"\r");
    tui.wait_for("the filtered logins", |t| t.contains("Logins (1/"));
    tui.send(b"\r");
    tui.wait_for("the detail view", |t| {
        t.contains(" Detail (") && t.contains("login 'Secrets Test Login'")
    });
    screens.push(tui.text());
    tui.send(b"L");
    tui.wait_for("the log pane", |t| t.contains("Log of this run"));
    screens.push(tui.text());
    tui.send(b"q");
    tui.wait_for("the log pane to close", |t| !t.contains("Log of this run"));
    tui.send(b"q");
    let status = tui.wait_exit();
    assert!(status.success(), "dsconsole exited with {status:?}");
    for screen in screens {
        outputs.push(("the TUI's screen".into(), screen));
    }
    outputs.push(("the TUI's terminal output".into(), tui.raw_text()));

    // The secrets were really in play: each password reached the server side.
    let sent = w.proxy.passwords();
    for (name, pw) in [("env", ENV_PW), ("inline", INLINE_PW), ("wrong", WRONG_PW)] {
        assert!(
            sent.iter().any(|p| p == pw),
            "the {name} password was sent to log in"
        );
    }
    assert!(
        w.proxy.bodies_with(LOGIN_PW) > 0,
        "the create request carried the login's password"
    );
    assert!(
        !w.proxy.session_secrets().is_empty(),
        "the server handed out session tokens"
    );
    assert!(
        w.sim.control.ids("logins").len() > 1,
        "the simulator stored the created login"
    );

    let secrets = all_secrets(&w);
    for (what, text) in &outputs {
        assert_no_secret(what, text, &secrets);
    }
    let files = w.written_files();
    let names: Vec<String> = files
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    for must in ["dsconsole.log", "audit.jsonl"] {
        assert!(names.iter().any(|n| n == must), "{must} written: {names:?}");
    }
    let log = std::fs::read_to_string(w.data_dir().join("dsconsole.log")).expect("log file");
    assert!(
        log.contains("TRACE") || log.contains("DEBUG"),
        "the TUI logged at trace level"
    );
    let audit = std::fs::read_to_string(w.data_dir().join("audit.jsonl")).expect("audit");
    assert!(
        audit.contains("Secrets Test Login") && audit.contains(REFUSED_CONN),
        "the audit log has the create and the refused delete: {audit}"
    );
    for f in &files {
        let bytes = std::fs::read(f).expect("read written file");
        assert_no_secret(
            &f.display().to_string(),
            &String::from_utf8_lossy(&bytes),
            &secrets,
        );
    }
}

#[test]
fn debug_and_describe_of_the_config_hold_no_secret() {
    let w = World::new();
    let cfg = Config::load(&w.config).expect("config loads");
    assert_eq!(cfg.profiles.len(), 3);
    assert!(
        cfg.warnings
            .iter()
            .any(|x| x.contains("mstr-inline") && x.contains("readable by others")),
        "{:?}",
        cfg.warnings
    );
    let secrets = all_secrets(&w);
    let debug = format!("{cfg:?}");
    assert!(debug.contains("mstr-inline"), "Debug shows the profiles");
    assert_no_secret("Debug of the config", &debug, &secrets);
    assert_no_secret("{:#?} of the config", &format!("{cfg:#?}"), &secrets);
    assert_no_secret("Config::describe", &cfg.describe(), &secrets);
    for p in &cfg.profiles {
        assert_no_secret("Debug of a profile", &format!("{p:?}"), &secrets);
        assert_no_secret(
            "Debug of a secret source",
            &format!("{:?}", p.secret),
            &secrets,
        );
    }
    // The inline secret is in the parsed config, only hidden.
    let inline = cfg.profile("mstr-inline").expect("profile");
    let resolved = inline.resolve_secret().expect("inline secret resolves");
    assert_eq!(secrecy::ExposeSecret::expose_secret(&resolved), INLINE_PW);
    assert_no_secret(
        "Debug of a SecretString",
        &format!("{resolved:?}"),
        &secrets,
    );
}

// ---------------------------------------------------------------------------------------------
// A proxy that logs in with the simulator's password when given one of ours
// ---------------------------------------------------------------------------------------------

mod proxy {
    use axum::body::Body;
    use axum::extract::{Request, State};
    use axum::http::{header, Method, StatusCode};
    use axum::response::{IntoResponse, Response};
    use axum::Router;
    use serde_json::Value;
    use std::sync::{Arc, Mutex, MutexGuard};

    /// What the proxy saw pass through.
    #[derive(Clone, Default)]
    pub struct Seen(Arc<Mutex<SeenInner>>);

    #[derive(Default)]
    struct SeenInner {
        /// Every password in a login request, as sent by dsconsole.
        passwords: Vec<String>,
        /// Session tokens and cookie values the server answered with.
        session: Vec<String>,
        /// Every request body, as sent by dsconsole.
        bodies: Vec<String>,
    }

    impl Seen {
        fn lock(&self) -> MutexGuard<'_, SeenInner> {
            self.0.lock().unwrap_or_else(|e| e.into_inner())
        }

        pub fn passwords(&self) -> Vec<String> {
            self.lock().passwords.clone()
        }

        pub fn session_secrets(&self) -> Vec<String> {
            self.lock().session.clone()
        }

        pub fn bodies_with(&self, needle: &str) -> usize {
            self.lock()
                .bodies
                .iter()
                .filter(|b| b.contains(needle))
                .count()
        }
    }

    #[derive(Clone)]
    struct Proxy {
        origin: String,
        client: reqwest::Client,
        /// Passwords replaced by the simulator's own on login; others pass unchanged.
        accepted: Vec<&'static str>,
        seen: Seen,
    }

    /// Forward everything to `origin`; in `POST .../api/auth/login` replace a password
    /// from `accepted` by the simulator's. Returns the proxy's origin and what it saw.
    pub async fn start(
        origin: String,
        accepted: Vec<&'static str>,
    ) -> std::io::Result<(String, Seen)> {
        let seen = Seen::default();
        let proxy = Proxy {
            origin,
            client: reqwest::Client::new(),
            accepted,
            seen: seen.clone(),
        };
        let app = Router::new().fallback(forward).with_state(proxy);
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok((format!("http://{addr}"), seen))
    }

    async fn forward(State(p): State<Proxy>, req: Request) -> Response {
        let (parts, body) = req.into_parts();
        let Ok(body) = axum::body::to_bytes(body, 16 << 20).await else {
            return StatusCode::BAD_REQUEST.into_response();
        };
        let mut body = body.to_vec();
        p.seen
            .lock()
            .bodies
            .push(String::from_utf8_lossy(&body).into_owned());
        let login = parts.method == Method::POST && parts.uri.path().ends_with("/api/auth/login");
        if login {
            if let Ok(mut v) = serde_json::from_slice::<Value>(&body) {
                if let Some(pw) = v.get("password").and_then(Value::as_str).map(str::to_owned) {
                    if p.accepted.contains(&pw.as_str()) {
                        v["password"] = Value::from(super::DEMO_PASSWORD);
                        if let Ok(b) = serde_json::to_vec(&v) {
                            body = b;
                        }
                    }
                    p.seen.lock().passwords.push(pw);
                }
            }
        }
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
        if login {
            let mut seen = p.seen.lock();
            if let Some(t) = headers
                .get("x-mstr-authtoken")
                .and_then(|v| v.to_str().ok())
            {
                seen.session.push(t.to_string());
            }
            for c in headers.get_all(header::SET_COOKIE) {
                let value = c
                    .to_str()
                    .ok()
                    .and_then(|c| c.split(';').next())
                    .and_then(|kv| kv.split_once('='))
                    .map(|(_, v)| v.to_string());
                if let Some(v) = value.filter(|v| !v.is_empty()) {
                    seen.session.push(v);
                }
            }
        }
        let Ok(bytes) = resp.bytes().await else {
            return StatusCode::BAD_GATEWAY.into_response();
        };
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
