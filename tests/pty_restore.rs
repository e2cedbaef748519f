//! Undo end to end in a pseudo-terminal: a cascade deleted in the console (a datasource with
//! the connection and login only it uses) is restored with `dsconsole restore` at a terminal,
//! the login's password typed at the masked prompt (never echoed) and the count typed to
//! confirm; the server then holds the three again, each wired to the new one before it.
// These run the built-in simulators, which need the `sim` feature (on by default).
#![cfg(feature = "sim")]

mod common {
    pub mod pty;
}

use common::pty::{kind_count, read_audit, Session, CTRL_D, ENTER};
use dsconsole::ops::deleted;
use dsconsole::sim::microstrategy::{self, MstrSim, DEMO_PASSWORD, DEMO_USERNAME};
use dsconsole::sim::SimOptions;
use std::process::Command;

const PW_VAR: &str = "DSCONSOLE_PTY_RESTORE_PW";
const SANDBOX: [(&str, &str); 3] = [
    ("datasources", "98414AE161FC54A2147602C635CFCA30"),
    ("connections", "9EAFFFD94FB07653C890C8841C45FB97"),
    ("logins", "C158EE9733984F825FC7F9BC51FABA13"),
];

struct SimWorld {
    sim: MstrSim,
    _rt: tokio::runtime::Runtime,
}

impl Drop for SimWorld {
    fn drop(&mut self) {
        self.sim.shutdown();
    }
}

#[test]
fn a_cascade_deleted_in_the_console_is_restored_at_the_terminal() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let sim = rt
        .block_on(microstrategy::start(&SimOptions::default()))
        .expect("simulator starts");
    let world = SimWorld { sim, _rt: rt };
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[ui]\nrefresh_seconds = 0\n\n[[profiles]]\nname = \"sim-mstr\"\n\
             vendor = \"microstrategy\"\nbase_url = \"{}\"\nusername = \"{DEMO_USERNAME}\"\n\
             password_env = \"{PW_VAR}\"\n",
            world.sim.base_url
        ),
    )
    .expect("config");

    // Delete the cascade in the console.
    let cfg = config.clone();
    let mut s = Session::spawn_in(110, 34, dir, move |cmd| {
        cmd.arg("--config").arg(&cfg).env(PW_VAR, DEMO_PASSWORD);
    });
    s.wait_screen("the datasource table", |sc| {
        let t = sc.contents();
        t.contains("Load failed") || kind_count(&t, "Datasources") > Some(0)
    });
    assert!(!s.text().contains("Load failed"), "{}", s.text());
    s.send(b"/Analytics Sandbox");
    s.send(ENTER);
    s.wait_for_text("Datasources (1/");
    s.send(CTRL_D);
    s.wait_for_text("Delete 1 object from sim-mstr");
    s.send(b"c");
    s.wait_for_text("cascade ON");
    s.wait_for_text("Type 3 and press Enter to delete:");
    s.send(b"3");
    s.send(ENTER);
    s.wait_screen("the summary", |sc| {
        let t = sc.contents();
        t.contains("Delete finished — sim-mstr") && t.contains("3 deleted")
    });
    s.send(ENTER);
    s.quit();
    for (kind, id) in SANDBOX {
        assert!(!world.sim.control.contains(kind, id), "{kind} {id} deleted");
    }

    // What the audit log says was deleted, as `deleted` reads it.
    let data = s.data_dir();
    let gone = deleted::read(&s.audit_path()).expect("audit log");
    assert_eq!(gone.len(), 3, "{gone:?}");
    assert!(gone.iter().all(|d| d.restorable() == Ok(vec![])));

    // Restore at a terminal: the password at the masked prompt, then the count.
    let home = data.with_file_name("home");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dsconsole"));
    cmd.env("HOME", &home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_DATA_HOME", home.join(".local/share"))
        .env("DSCONSOLE_DATA_DIR", &data)
        .env_remove("DSCONSOLE_CONFIG")
        .env_remove("DSCONSOLE_LOG")
        .env(PW_VAR, DEMO_PASSWORD)
        .arg("--config")
        .arg(&config)
        .arg("restore")
        .args(gone.iter().map(|d| d.reference.as_str()));
    let mut r = Session::start(cmd, 160, 60, None);
    r.wait_for_text("password for login 'Snowflake Analytics Reader' (not shown):");
    r.send(b"typed-at-the-prompt\r");
    r.wait_for_text("Type 3 to restore 3 object(s):");
    r.send(b"3\r");
    let status = r.wait_exit();
    assert!(status.success(), "{status:?}\n{}", r.raw_text());
    r.wait_output_closed();
    let out = r.raw_text();
    assert!(
        !out.contains("typed-at-the-prompt"),
        "the password was echoed:\n{out}"
    );
    assert!(out.contains("3 restored, 0 not"), "{out}");

    // The server holds the three again, each new one wired to the one before it.
    let lines = read_audit(&data.join("audit.jsonl"));
    let new_id = |kind: &str| {
        lines
            .iter()
            .find(|l| l["operation"] == "restore" && l["kind"] == kind && l["phase"] == "after")
            .and_then(|l| l["restored_id"].as_str().map(str::to_string))
            .unwrap_or_else(|| panic!("a restored {kind}: {lines:#?}"))
    };
    let (ds, conn, login) = (
        new_id("datasources"),
        new_id("connections"),
        new_id("logins"),
    );
    let c = world
        .sim
        .control
        .object("connections", &conn)
        .expect("connection");
    assert_eq!(c["database"]["login"]["id"], login.as_str());
    let d = world.sim.control.object("datasources", &ds).expect("ds");
    assert_eq!(d["database"]["connection"]["id"], conn.as_str());
    assert_eq!(d["name"], "Analytics Sandbox");
    drop(s);
}

#[test]
fn sigint_twice_during_a_restore_reports_the_object_in_flight_as_unknown_and_settles_the_audit() {
    use dsconsole::sim::faults::{Fault, FaultRule};
    use std::os::unix::process::ExitStatusExt;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let sim = rt
        .block_on(microstrategy::start(&SimOptions::default()))
        .expect("simulator starts");
    let world = SimWorld { sim, _rt: rt };
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[[profiles]]\nname = \"sim-mstr\"\nvendor = \"microstrategy\"\n\
             base_url = \"{}\"\nusername = \"{DEMO_USERNAME}\"\npassword_env = \"{PW_VAR}\"\n",
            world.sim.base_url
        ),
    )
    .expect("config");
    let data = dir.path().join("data");
    let home = dir.path().join("home");
    let base = |args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_dsconsole"));
        cmd.env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .env("DSCONSOLE_DATA_DIR", &data)
            .env_remove("DSCONSOLE_CONFIG")
            .env_remove("DSCONSOLE_LOG")
            .env(PW_VAR, DEMO_PASSWORD)
            .env("NEW_LOGIN_PW", "n3w-pw")
            .arg("--config")
            .arg(&config)
            .args(args);
        cmd
    };
    let status = base(&["delete", "sim-mstr", "logins", "Legacy DB2 Login", "--yes"])
        .output()
        .expect("delete");
    assert!(status.status.success(), "{status:?}");
    let gone = deleted::read(&data.join("audit.jsonl")).expect("audit");
    assert_eq!(gone.len(), 1);
    // The create is held far longer than the shutdown grace.
    world.sim.control.faults.add(
        FaultRule::new(Fault::Delay(std::time::Duration::from_secs(120)))
            .method("POST")
            .path("/datasources/logins"),
    );
    let mut r = Session::start(
        base(&[
            "restore",
            &gone[0].reference,
            "--secret-env",
            "password=NEW_LOGIN_PW",
            "--yes",
        ]),
        120,
        40,
        None,
    );
    r.wait_for_text("Restore 1 object(s)");
    let lines = || read_audit(&data.join("audit.jsonl"));
    r.wait_for("the restore request in flight", |_| {
        lines()
            .iter()
            .any(|l| l["operation"] == "restore" && l["phase"] == "before")
    });
    for _ in 0..2 {
        // SAFETY: plain kill(2) on our own, still unreaped child.
        assert_eq!(unsafe { libc::kill(r.pid(), libc::SIGINT) }, 0);
        r.wait_for_text("SIGINT");
    }
    let status = r.wait_exit();
    assert!(status.signal().is_none(), "handled: {status:?}");
    assert_eq!(status.code(), Some(130), "{}", r.raw_text());
    r.wait_output_closed();
    let out = r.raw_text();
    assert!(out.contains("unknown"), "{out}");
    assert!(out.contains("in flight when dsconsole stopped"), "{out}");
    let restore: Vec<serde_json::Value> = lines()
        .into_iter()
        .filter(|l| l["operation"] == "restore")
        .collect();
    assert_eq!(restore.len(), 2, "{restore:#?}");
    assert_eq!(restore[1]["phase"], "after");
    assert_eq!(restore[1]["outcome"], "unknown");
}
