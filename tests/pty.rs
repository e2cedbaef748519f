//! End-to-end tests that run the real `dsconsole` binary in a pseudo-terminal, type keys as
//! a user would, and read the screen back through a vt100 emulator: browsing, deleting one
//! and fifty objects, signals and panics restoring the terminal, extreme resizes, and
//! configured profiles on simulators served by the test (a hung server, a missing secret,
//! SIGHUP in the middle of a bulk delete, checked against the server's state).
// These run the built-in simulators, which need the `sim` feature (on by default).
#![cfg(feature = "sim")]

mod common {
    pub mod pty;
}

use common::pty::{kind_count, read_audit, Session, CTRL_D, ENTER, ESC, TAB, TIMEOUT};
use dsconsole::sim::microstrategy::{self, MstrSim, DEMO_PASSWORD, DEMO_USERNAME};
use dsconsole::sim::SimOptions;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

#[test]
fn demo_starts_browses_and_quits_restoring_the_terminal() {
    // Wide enough for the full tab labels (vendor and profile name).
    let mut s = Session::demo(190, 30);
    s.wait_for_table();
    let alt = s.parser().screen().alternate_screen();
    assert!(
        alt && !s.cooked(),
        "the TUI runs on the alternate screen in raw mode"
    );
    s.wait_for_text(" 1 MicroStrategy · demo-mstr ");
    s.wait_for_text("Used by");

    s.send(b"]");
    s.wait_screen("the Connections table", |sc| {
        let t = sc.contents();
        t.contains("Used by") && kind_count(&t, "Connections") > Some(0)
    });

    s.send(b"?");
    s.wait_for_text("Keys (Esc closes)");
    // Esc alone, then wait for its effect: Esc followed at once by a key reads as Alt-key.
    s.send(ESC);
    s.wait_gone("Keys (Esc closes)");
    s.wait_for_text("Used by");

    s.quit();
}

#[test]
fn the_command_line_completes_and_keeps_its_history_between_runs() {
    let shared = tempfile::tempdir().expect("temp dir");
    let data = shared.path().join("data");
    let demo = |cmd: &mut Command| {
        cmd.arg("demo").env("DSCONSOLE_DATA_DIR", &data);
    };
    let mut s = Session::spawn(100, 30, demo);
    s.wait_for_table();
    // Tab completes the command and its argument; Enter runs it.
    s.send(b":ki");
    s.send(TAB);
    s.send(b"con");
    s.send(TAB);
    s.wait_for_text(":kind connections");
    s.send(ENTER);
    s.wait_for("the Connections table", |t| {
        t.contains("Used by") && !t.contains(":kind")
    });
    s.quit();
    let history = data.join("command_history");
    assert_eq!(
        std::fs::read_to_string(&history).expect("the history file"),
        "kind connections\n"
    );
    let mode = std::fs::metadata(&history)
        .expect("meta")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "owner-only: {mode:o}");

    // The next run offers it with Up.
    let mut s = Session::spawn(100, 30, demo);
    s.wait_for_table();
    s.send(b":");
    s.send(b"\x1b[A");
    s.wait_for_text(":kind connections");
    s.send(ESC);
    s.wait_gone(":kind connections");
    s.quit();
}

#[test]
fn delete_one_datasource_in_the_demo() {
    let mut s = Session::demo(100, 30);
    let before = s.wait_for_table();

    s.send(b"G");
    s.send(CTRL_D);
    s.wait_for_text("Delete 1 object from demo-mstr");
    // A frame can arrive in several reads: wait for each part rather than assert on it.
    s.wait_for_text("Press y to delete, Esc to cancel.");
    s.send(b"y");
    s.wait_screen("the summary", |sc| {
        let t = sc.contents();
        t.contains("Delete finished — demo-mstr")
            && t.contains("1 deleted")
            && t.contains("0 failed")
    });

    s.send(ENTER);
    s.wait_gone("Delete finished");
    // Once reloaded from the simulator (status "loaded …"), one datasource fewer.
    let expected = before - 1;
    s.wait_screen(
        &format!("Datasources ({expected}) after the reload"),
        |sc| {
            let t = sc.contents();
            kind_count(&t, "Datasources") == Some(expected) && t.contains("loaded ")
        },
    );

    let lines = read_audit(&s.audit_path());
    let deletes: Vec<&Value> = lines
        .iter()
        .filter(|l| l["operation"] == "delete")
        .collect();
    let [b, a] = deletes[..] else {
        panic!("want one before and one after line: {lines:#?}");
    };
    let ok = b["phase"] == "before"
        && a["phase"] == "after"
        && a["outcome"] == "deleted"
        && b["seq"] == a["seq"]
        && b["profile"] == "demo-mstr"
        && b["kind"] == a["kind"]
        && b["id"] == a["id"]
        && b["id"].as_str().is_some_and(|id| !id.is_empty())
        && b["object"].is_object();
    assert!(ok, "audit lines of the delete: {lines:#?}");

    s.quit();
}

#[test]
fn terminal_restored_on_sigterm() {
    let mut s = Session::demo(100, 30);
    s.wait_for_table();
    // SAFETY: plain kill(2) on our own, still unreaped child.
    let rc = unsafe { libc::kill(s.pid(), libc::SIGTERM) };
    assert_eq!(rc, 0, "kill: {}", io::Error::last_os_error());
    let status = s.wait_exit();
    assert!(
        status.signal().is_none(),
        "SIGTERM is handled, not fatal: {status:?}"
    );
    s.assert_terminal_restored();
}

#[test]
fn too_small_terminal() {
    let mut s = Session::demo(50, 10);
    s.wait_for_text("terminal too small");
    s.resize(100, 30);
    s.wait_for_table();
    assert!(!s.text().contains("terminal too small"));
    // Work-around for a crossterm 0.29 bug: a key that arrives in the same epoll batch as
    // the resize's SIGWINCH stays unread until the next byte (a few % of runs here). The
    // second q is that next byte; it is needed only when the bug hits.
    s.send(b"q");
    if s.exit_within(Duration::from_secs(5)).is_none() {
        eprintln!("q after the resize was not read (crossterm lost wake-up); typing it again");
        s.send(b"q");
    }
    s.assert_quit_ok();
}

// ---------------------------------------------------------------------------------------------
// Bulk delete, signals, panics, extreme resizes
// ---------------------------------------------------------------------------------------------

/// Audit lines of delete requests, grouped by seq: `(before, after)`; either may be missing.
fn delete_pairs(lines: &[Value]) -> BTreeMap<u64, (Option<&Value>, Option<&Value>)> {
    let mut pairs: BTreeMap<u64, (Option<&Value>, Option<&Value>)> = BTreeMap::new();
    for l in lines.iter().filter(|l| l["operation"] == "delete") {
        let seq = l["seq"]
            .as_u64()
            .unwrap_or_else(|| panic!("audit line without a seq: {l}"));
        let slot = pairs.entry(seq).or_default();
        let place = match l["phase"].as_str() {
            Some("before") => &mut slot.0,
            Some("after") => &mut slot.1,
            _ => panic!("audit line with a bad phase: {l}"),
        };
        assert!(place.is_none(), "two {} lines for seq {seq}", l["phase"]);
        *place = Some(l);
    }
    pairs
}

#[test]
fn bulk_delete_of_50_datasources() {
    let mut s = Session::spawn_in(100, 30, tempfile::tempdir().expect("temp dir"), |cmd| {
        cmd.args(["demo", "--scale", "50"]);
    });
    // The demo starts on the overview: open the first profile.
    s.wait_for_text("On call —");
    s.send(b"1");
    s.wait_screen("Datasources (50)", |sc| {
        let t = sc.contents();
        t.contains("Load failed") || (t.contains("DEMO") && t.contains("Datasources (50)"))
    });
    assert!(!s.text().contains("Load failed"), "the demo failed to load");

    // Datasources that projects, replicas or mappings use are refused by the server: the
    // orphans (nothing uses them) are the ones a bulk delete can take.
    s.send(b"o");
    s.wait_for_text("orphans");
    s.send(b"A");
    s.wait_for_text(" marked");
    let marked: usize = {
        let t = s.text();
        let at = t.find(" marked").expect("marked count");
        t[..at]
            .rsplit(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|n| n.parse().ok())
            .expect("a number before 'marked'")
    };
    assert!((30..50).contains(&marked), "{marked} orphan datasources");
    s.send(CTRL_D);
    s.wait_for_text(&format!("Delete {marked} objects from demo-mstr"));
    s.wait_for_text(&format!("Type {marked} and press Enter to delete:"));
    s.send(marked.to_string().as_bytes());
    s.wait_for_text(&format!("delete: {marked}"));
    s.send(ENTER);
    let deleted = format!("{marked} deleted");
    s.wait_screen("the summary", |sc| {
        let t = sc.contents();
        t.contains("Delete finished — demo-mstr")
            && t.contains(&deleted)
            && t.contains("0 failed")
            && t.contains("0 not started")
    });

    s.send(ENTER);
    s.wait_gone("Delete finished");
    let left = 50 - marked;
    s.wait_screen("the in-use datasources after the reload", |sc| {
        let t = sc.contents();
        kind_count(&t, "Datasources") == Some(left) && t.contains("loaded ")
    });

    let lines = read_audit(&s.audit_path());
    let pairs = delete_pairs(&lines);
    assert_eq!(
        pairs.len(),
        marked,
        "each delete request audited: {lines:#?}"
    );
    let mut ids = BTreeSet::new();
    for (seq, pair) in &pairs {
        let (Some(b), Some(a)) = pair else {
            panic!("seq {seq} lacks its before or after line: {pair:?}");
        };
        let ok = a["outcome"] == "deleted"
            && b["profile"] == "demo-mstr"
            && b["kind"] == "datasources"
            && a["kind"] == "datasources"
            && b["id"] == a["id"]
            && b["object"].is_object();
        assert!(ok, "audit pair of seq {seq}: {b} / {a}");
        ids.insert(b["id"].as_str().expect("id is a string").to_string());
    }
    assert_eq!(ids.len(), marked, "different datasources were deleted");

    s.quit();
}

/// A MicroStrategy simulator served from the test process, so a test can read its state
/// and slow it down while the real binary talks to it.
struct SimWorld {
    sim: MstrSim,
    /// Serves the simulator; dropped after `sim`.
    _rt: tokio::runtime::Runtime,
}

impl SimWorld {
    fn start(scale: usize) -> SimWorld {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let opts = SimOptions {
            scale,
            ..SimOptions::default()
        };
        let sim = rt
            .block_on(microstrategy::start(&opts))
            .expect("simulator starts");
        SimWorld { sim, _rt: rt }
    }

    /// A `[[profiles]]` table named `name` for this simulator; the password comes from
    /// `$DSCONSOLE_PTY_TEST_PW`.
    fn profile(&self, name: &str) -> String {
        format!(
            "[[profiles]]\nname = \"{name}\"\nvendor = \"microstrategy\"\n\
             base_url = \"{}\"\nusername = \"{DEMO_USERNAME}\"\n\
             password_env = \"DSCONSOLE_PTY_TEST_PW\"\n\n",
            self.sim.base_url
        )
    }
}

/// A config in `dir` with these `[[profiles]]` tables, no auto-refresh, a 300 s timeout.
fn write_config(dir: &Path, profiles: &[String]) -> PathBuf {
    let path = dir.join("config.toml");
    let text = format!(
        "[ui]\nrefresh_seconds = 0\n\n[defaults]\nconcurrency = 4\ntimeout_seconds = 300\n\n{}",
        profiles.concat()
    );
    std::fs::write(&path, text).expect("write config");
    path
}

/// The binary on `config`, with the simulators' password in its environment.
fn configured(config: &Path) -> impl FnOnce(&mut Command) + '_ {
    move |cmd| {
        cmd.arg("--config")
            .arg(config)
            .env("DSCONSOLE_PTY_TEST_PW", DEMO_PASSWORD);
    }
}

impl Drop for SimWorld {
    fn drop(&mut self) {
        // Stop listening; dropping `rt` afterwards cancels requests still parked in latency.
        self.sim.shutdown();
    }
}

#[test]
fn sighup_during_a_bulk_delete_restores_the_terminal_and_audits_in_flight() {
    const TOTAL: usize = 300;
    let world = SimWorld::start(TOTAL);
    let before_ids = world.sim.control.ids("datasources");
    assert_eq!(
        before_ids.len(),
        TOTAL,
        "the simulator serves {TOTAL} datasources"
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), &[world.profile("sim-mstr")]);
    let mut s = Session::spawn_in(100, 30, dir, configured(&config));
    s.wait_for_datasources(TOTAL);
    s.wait_for_text("1 MicroStrategy · sim-mstr");

    s.send(b"A");
    s.wait_for_text(&format!("{TOTAL} marked"));
    s.send(CTRL_D);
    // The impact of the plan is computed first; then the confirmation opens.
    s.wait_for_text(&format!("Delete {TOTAL} objects from sim-mstr"));
    s.wait_for_text(&format!("Type {TOTAL} and press Enter to delete:"));
    // From now on every request is parked far longer than dsconsole's 10 s shutdown grace
    // (but within the profile's 300 s timeout): the deletes in flight at the SIGHUP can
    // only end as "unknown".
    world.sim.control.set_latency(Duration::from_secs(120));
    world.sim.control.clear_requests();
    s.send(TOTAL.to_string().as_bytes());
    s.wait_for_text(&format!("delete: {TOTAL}"));
    s.send(ENTER);
    s.wait_for_text(&format!("Deleting {TOTAL} objects — sim-mstr"));
    // A step shows "running" only after its audit "before" line is written.
    s.wait_screen("a running delete", |sc| {
        sc.contents()
            .lines()
            .any(|l| l.contains('…') && l.contains("running"))
    });

    // SAFETY: plain kill(2) on our own, still unreaped child.
    let rc = unsafe { libc::kill(s.pid(), libc::SIGHUP) };
    assert_eq!(rc, 0, "kill: {}", io::Error::last_os_error());
    let status = s.wait_exit();
    assert!(
        status.signal().is_none(),
        "SIGHUP is handled, not fatal: {status:?}"
    );
    assert_eq!(
        status.code(),
        Some(129),
        "signalled mid-delete: 128 + SIGHUP: {status:?}"
    );
    s.assert_terminal_restored();

    let lines = read_audit(&s.audit_path());
    let pairs = delete_pairs(&lines);
    assert!(!pairs.is_empty(), "deletes were started: {lines:#?}");
    assert!(
        pairs.len() < TOTAL,
        "nothing new starts once the SIGHUP arrives: {} of {TOTAL} started",
        pairs.len()
    );
    let mut unknown = 0;
    let mut audited = BTreeSet::new();
    for (seq, pair) in &pairs {
        let (Some(b), Some(a)) = pair else {
            panic!("seq {seq}: every before line has an after line: {pair:?}");
        };
        assert_eq!(b["id"], a["id"], "seq {seq}");
        let outcome = a["outcome"].as_str().unwrap_or("");
        assert!(
            ["deleted", "already_gone", "failed", "unknown"].contains(&outcome),
            "seq {seq}: outcome {outcome:?}"
        );
        if outcome == "unknown" {
            unknown += 1;
            let why = a["error"].as_str().unwrap_or("");
            assert!(!why.is_empty(), "an unknown outcome says why: {a}");
        }
        audited.insert(b["id"].as_str().expect("id").to_string());
    }
    assert!(
        unknown > 0,
        "requests parked in the simulator at the SIGHUP are recorded as unknown: {lines:#?}"
    );

    // The server's side: nothing was deleted without an audit line first, and every
    // "deleted" outcome is really gone.
    let present: BTreeSet<String> = world.sim.control.ids("datasources").into_iter().collect();
    for id in &before_ids {
        if !audited.contains(id) {
            assert!(
                present.contains(id),
                "datasource {id} is gone without an audit line"
            );
        }
    }
    for (b, a) in pairs.values().filter_map(|(b, a)| b.zip(*a)) {
        if a["outcome"] == "deleted" {
            let id = b["id"].as_str().unwrap_or("");
            assert!(!present.contains(id), "{id} audited deleted but present");
        }
    }
    let deletes_seen = world
        .sim
        .control
        .requests()
        .iter()
        .filter(|r| r.method == "DELETE")
        .count();
    assert!(
        deletes_seen <= pairs.len(),
        "{deletes_seen} DELETE requests answered but only {} audited",
        pairs.len()
    );
}

/// Two profiles, one of whose server answers nothing for minutes: the other loads, keys
/// keep working while the first still loads, and `q` still quits.
#[test]
fn a_hung_profile_does_not_block_the_other_or_the_keys() {
    let hung = SimWorld::start(0);
    hung.sim.control.set_latency(Duration::from_secs(600));
    let healthy = SimWorld::start(0);
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(
        dir.path(),
        &[hung.profile("hung-mstr"), healthy.profile("ok-mstr")],
    );
    let mut s = Session::spawn_in(140, 30, dir, configured(&config));
    // The overview comes first; tab 1 (the hung profile) stays loading.
    s.wait_for_text("1 MicroStrategy · hung-mstr");
    s.wait_for_text("On call —");
    s.send(b"1");
    s.wait_for_text("Loading ");
    s.send(b"2");
    s.wait_screen("the healthy profile's datasources", |sc| {
        let t = sc.contents();
        t.contains("Load failed") || kind_count(&t, "Datasources") > Some(0)
    });
    assert!(
        !s.text().contains("Load failed"),
        "the healthy profile failed"
    );
    s.send(b"]");
    s.wait_for_text("Used by");
    s.send(b"1");
    s.wait_for_text("Loading ");
    assert!(
        hung.sim.control.requests().is_empty(),
        "the hung server has answered nothing"
    );
    s.quit();
}

/// A profile whose password variable is not set still gets its tab, which says why; the
/// other profile works.
#[test]
fn a_profile_without_its_secret_gets_a_tab_saying_why() {
    let world = SimWorld::start(0);
    let dir = tempfile::tempdir().expect("temp dir");
    let broken = world
        .profile("no-secret")
        .replace("DSCONSOLE_PTY_TEST_PW", "DSCONSOLE_PTY_TEST_UNSET_PW");
    let config = write_config(dir.path(), &[broken, world.profile("ok-mstr")]);
    let mut s = Session::spawn_in(140, 30, dir, |cmd| {
        configured(&config)(cmd);
        cmd.env_remove("DSCONSOLE_PTY_TEST_UNSET_PW");
    });
    s.wait_for_text("1 MicroStrategy · no-secret");
    s.wait_for_text("DSCONSOLE_PTY_TEST_UNSET_PW is not set");
    s.send(b"2");
    s.wait_screen("the working profile's datasources", |sc| {
        let t = sc.contents();
        t.contains("Load failed") || kind_count(&t, "Datasources") > Some(0)
    });
    assert!(
        !s.text().contains("Load failed"),
        "the working profile failed"
    );
    s.quit();
}

#[test]
fn panic_restores_the_terminal_and_prints_no_secret() {
    let mut s = Session::spawn_in(100, 30, tempfile::tempdir().expect("temp dir"), |cmd| {
        cmd.arg("demo")
            .env("DSCONSOLE_TEST_PANIC", "after-load")
            .env("DSCONSOLE_LOG", "trace")
            // No backtrace, so the message stays on the 30-row screen.
            .env("RUST_BACKTRACE", "0");
    });
    let status = s.wait_exit();
    assert!(
        status.code().is_some_and(|c| c != 0),
        "a panic exits with a non-zero code: {status:?}"
    );
    s.wait_output_closed();
    s.assert_terminal_restored();
    let raw = s.raw_text();
    assert!(
        raw.contains("forced test panic after a load"),
        "the panic message is printed: {raw:?}"
    );
    assert!(
        s.text().contains("forced test panic after a load"),
        "the panic message is on the restored screen"
    );
    let panic_at = raw
        .find("forced test panic")
        .expect("panic message present");
    // The first time the alternate screen is left after entering it.
    let enter_alt = raw
        .find("\x1b[?1049h")
        .expect("the TUI used the alternate screen");
    let leave_alt = enter_alt
        + raw[enter_alt..]
            .find("\x1b[?1049l")
            .expect("the alternate screen was left");
    assert!(
        leave_alt < panic_at,
        "the terminal is restored before the panic message is printed"
    );
    let log = std::fs::read_to_string(s.data_dir().join("dsconsole.log")).unwrap_or_default();
    for secret in [
        dsconsole::sim::microstrategy::DEMO_PASSWORD,
        dsconsole::sim::qlik::DEMO_TOKEN,
        dsconsole::sim::basedash::DEMO_TOKEN,
        dsconsole::sim::databrain::DEMO_TOKEN,
        dsconsole::sim::databrain::DEMO_DATA_APP_KEY,
    ] {
        assert!(!raw.contains(secret), "{secret:?} reached the terminal");
        assert!(!log.contains(secret), "{secret:?} reached the log file");
    }
}

/// What the too-small message looks like in a `cols` x `rows` terminal whose top-left
/// corner is all that fits: its first characters, wrapped one row at a time.
fn too_small_corner(cols: u16, rows: u16) -> String {
    let msg: Vec<char> = "terminal".chars().collect();
    let (cols, rows) = (usize::from(cols), usize::from(rows));
    (0..rows)
        .map(|r| msg[r * cols..(r + 1) * cols].iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn resize_to_1x1_and_back() {
    let mut s = Session::demo(100, 30);
    let rows = s.wait_for_table();
    for round in 0..4 {
        for (cols, rows) in [(1, 1), (2, 1), (1, 3), (1, 1)] {
            s.resize(cols, rows);
            // Wait until the program has drawn for this size (the start of "terminal too
            // small", wrapped), so that no two resizes merge into one event.
            let want = too_small_corner(cols, rows);
            s.wait_screen(
                &format!("{want:?} at {cols}x{rows} (round {round})"),
                |sc| sc.contents() == want,
            );
            s.assert_running(&format!("at {cols}x{rows} (round {round})"));
        }
        s.resize(100, 30);
        // The emulator dropped everything outside 1x1, so the table is a fresh drawing.
        s.wait_screen(&format!("the table again (round {round})"), |sc| {
            let t = sc.contents();
            kind_count(&t, "Datasources") == Some(rows)
                && t.contains("Name")
                && !t.contains("terminal too small")
        });
        s.assert_running(&format!("after growing back (round {round})"));
    }
    // See too_small_terminal: a key right after a resize may need a second byte to be read.
    s.send(b"q");
    if s.exit_within(Duration::from_secs(5)).is_none() {
        eprintln!("q after the resize was not read (crossterm lost wake-up); typing it again");
        s.send(b"q");
    }
    s.assert_quit_ok();
}

/// Shrinking to 1x1 and growing back faster than the program reads the SIGWINCH: it sees
/// one resize to the size it already had, while the terminal has lost everything outside
/// the top-left corner. The whole screen must be painted again.
#[test]
fn resize_burst_repaints_the_whole_screen() {
    let mut s = Session::demo(100, 30);
    let rows = s.wait_for_table();
    for round in 0..4 {
        s.resize(1, 1);
        s.resize(100, 30);
        s.wait_screen(&format!("the table again (round {round})"), |sc| {
            let t = sc.contents();
            kind_count(&t, "Datasources") == Some(rows) && t.contains("Name")
        });
    }
    s.send(b"q");
    if s.exit_within(Duration::from_secs(5)).is_none() {
        s.send(b"q");
    }
    s.assert_quit_ok();
}

// ---------------------------------------------------------------------------------------------
// The CLI in a terminal: hostile names in the plan, declining, signals mid-run
// ---------------------------------------------------------------------------------------------

/// A datasource name that, printed raw, erases itself and the line above it.
const ERASING_NAME: &str = "old_scratch_1\x1b[2K\r\x1b[1A\x1b[2K\r\x1b[1A";
const ERASING_SHOWN: &str = "old_scratch_1␛[2K␍␛[1A␛[2K␍␛[1A";
const PROD_NAME: &str = "Prod Finance DW (DO NOT DELETE)";

/// Run the binary without a terminal on `config` (e.g. `create`); returns stdout.
fn run_cli(config: &Path, data: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_dsconsole"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env("DSCONSOLE_PTY_TEST_PW", DEMO_PASSWORD)
        .env("DSCONSOLE_DATA_DIR", data)
        .env_remove("DSCONSOLE_CONFIG")
        .env_remove("DSCONSOLE_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("run dsconsole");
    assert!(
        out.status.success(),
        "{args:?}: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("stdout is UTF-8")
}

/// `create` a datasource named `name`; returns its id.
fn create_datasource(config: &Path, data: &Path, name: &str) -> String {
    let file = data.with_file_name(format!("ds-{}.json", name.len()));
    let body = serde_json::json!({ "name": name }).to_string();
    std::fs::write(&file, body).expect("write body");
    let path = file.to_str().expect("UTF-8 path");
    let stdout = run_cli(
        config,
        data,
        &["create", "sim-mstr", "datasources", "--from", path],
    );
    let v: Value = serde_json::from_str(&stdout).expect("create prints JSON");
    v["id"].as_str().expect("created id").to_string()
}

/// The three datasources of the issue: a protected-looking one, one whose name erases the
/// line above it, and a harmless one.
fn hostile_world() -> (SimWorld, tempfile::TempDir, PathBuf, [String; 3]) {
    let world = SimWorld::start(0);
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), &[world.profile("sim-mstr")]);
    let data = dir.path().join("data");
    let ids =
        [PROD_NAME, ERASING_NAME, "old_scratch_2"].map(|n| create_datasource(&config, &data, n));
    // Only the delete's own audit lines count below.
    let _ = std::fs::remove_file(data.join("audit.jsonl"));
    (world, dir, config, ids)
}

/// The screen shows the whole plan: three numbered lines, every name (the hostile one
/// visibly) and every id.
fn assert_whole_plan_visible(s: &Session, ids: &[String; 3]) {
    let t = s.text();
    for needle in [PROD_NAME, ERASING_SHOWN, "old_scratch_2"]
        .iter()
        .copied()
        .chain(ids.iter().map(String::as_str))
    {
        assert!(t.contains(needle), "{needle:?} is not on the screen:\n{t}");
    }
    for n in 1..=3 {
        let numbered = t
            .lines()
            .filter(|l| l.trim_start().starts_with(&format!("{n}. ")))
            .count();
        assert_eq!(numbered, 1, "plan line {n} on the screen:\n{t}");
    }
    assert!(t.contains("Datasources (3)"), "{t}");
}

#[test]
fn cli_plan_shows_every_line_and_hostile_names_visibly_and_declining_exits_1() {
    let (world, dir, config, ids) = hostile_world();
    let data = dir.path().join("data");
    let args = |cmd: &mut Command| {
        configured(&config)(cmd);
        cmd.args(["delete", "sim-mstr", "datasources"]).args(&ids);
    };

    // Declined: exit 1 (not a usage error), nothing deleted.
    let mut s = Session::spawn_in(120, 40, tempfile::tempdir().expect("temp dir"), |cmd| {
        args(cmd);
        cmd.env("DSCONSOLE_DATA_DIR", &data);
    });
    s.wait_for_text("Type 3 to delete 3 object(s)");
    assert_whole_plan_visible(&s, &ids);
    s.send(b"no\r");
    let status = s.wait_exit();
    assert_eq!(status.code(), Some(1), "declining exits 1: {status:?}");
    s.wait_output_closed();
    assert!(s.text().contains("nothing deleted"), "{}", s.text());
    for id in &ids {
        assert!(world.sim.control.contains("datasources", id));
    }
    assert!(!data.join("audit.jsonl").exists(), "nothing audited");

    // Confirmed: the report shows all three, the hostile one visibly.
    let mut s = Session::spawn_in(120, 40, tempfile::tempdir().expect("temp dir"), |cmd| {
        args(cmd);
        cmd.env("DSCONSOLE_DATA_DIR", &data);
    });
    s.wait_for_text("Type 3 to delete 3 object(s)");
    assert_whole_plan_visible(&s, &ids);
    s.send(b"3\r");
    let status = s.wait_exit();
    assert_eq!(status.code(), Some(0), "{status:?}");
    s.wait_output_closed();
    let t = s.text();
    for id in &ids {
        let line = t
            .lines()
            .find(|l| l.contains(id.as_str()) && l.starts_with("deleted"))
            .unwrap_or_else(|| panic!("report line of {id}:\n{t}"));
        assert!(!world.sim.control.contains("datasources", id), "{line}");
    }
    assert!(
        t.contains(&format!("deleted       datasource '{ERASING_SHOWN}'")),
        "{t}"
    );
    let raw = s.raw_text();
    assert!(
        !raw.contains(ERASING_NAME),
        "the raw name reached the terminal"
    );
    drop(dir);
}

/// A simulator with `total` datasources whose DELETEs each wait `delay` before they are
/// handled, and the CLI deleting all of them (`--yes`) in a terminal, with the run started.
fn cli_bulk_delete(total: usize, delay: Duration) -> (SimWorld, Session, Vec<String>) {
    let world = SimWorld::start(total);
    let mut ids = world.sim.control.ids("datasources");
    assert_eq!(ids.len(), total);
    // Those a project, replica or mapping uses would be refused: delete the others.
    ids.retain(|id| !world.sim.control.in_use("datasources", id));
    world.sim.control.faults.add(
        dsconsole::sim::faults::FaultRule::new(dsconsole::sim::faults::Fault::Delay(delay))
            .method("DELETE"),
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), &[world.profile("sim-mstr")]);
    let mut s = Session::spawn_in(120, 40, dir, |cmd| {
        configured(&config)(cmd);
        cmd.args(["delete", "sim-mstr", "datasources", "--yes"])
            .args(&ids);
    });
    // The progress line counts a step as running only after its audit "before" line.
    s.wait_screen("a running delete", |sc| {
        sc.contents().lines().any(|l| l.contains(" running"))
    });
    (world, s, ids)
}

/// After a signalled CLI run: the summary is titled "Cancelled", every audit "before" has
/// its "after", nothing new started, the server agrees with every "deleted". Returns the
/// audited outcomes.
fn assert_cancelled_run(world: &SimWorld, s: &mut Session, ids: &[String]) -> Vec<String> {
    s.wait_output_closed();
    let t = s.text();
    let summary = t
        .lines()
        .find(|l| l.starts_with("Cancelled"))
        .unwrap_or_else(|| panic!("a summary titled Cancelled:\n{t}"));
    assert!(summary.contains("not started"), "{summary}");
    let lines = read_audit(&s.audit_path());
    let pairs = delete_pairs(&lines);
    assert!(!pairs.is_empty(), "deletes were started: {lines:#?}");
    assert!(
        pairs.len() < ids.len(),
        "nothing new starts after the signal: {} of {} started",
        pairs.len(),
        ids.len()
    );
    let present: BTreeSet<String> = world.sim.control.ids("datasources").into_iter().collect();
    let mut outcomes = Vec::new();
    let mut audited = BTreeSet::new();
    for (seq, pair) in &pairs {
        let (Some(b), Some(a)) = pair else {
            panic!("seq {seq}: a before line without an after line: {pair:?}");
        };
        let id = b["id"].as_str().expect("id").to_string();
        let outcome = a["outcome"].as_str().unwrap_or("").to_string();
        if outcome == "deleted" {
            assert!(!present.contains(&id), "{id} audited deleted but present");
        }
        audited.insert(id);
        outcomes.push(outcome);
    }
    for id in ids.iter().filter(|id| !audited.contains(*id)) {
        assert!(present.contains(id), "{id} is gone without an audit line");
    }
    outcomes
}

#[test]
fn cli_ctrl_c_mid_run_prints_the_summary_settles_the_audit_and_exits_130() {
    let (world, mut s, ids) = cli_bulk_delete(40, Duration::from_millis(700));
    // Ctrl-C on the terminal: the line discipline sends SIGINT.
    s.send(b"\x03");
    let status = s.wait_exit();
    assert!(status.signal().is_none(), "SIGINT is handled: {status:?}");
    assert_eq!(status.code(), Some(130), "{status:?}\n{}", s.text());
    let outcomes = assert_cancelled_run(&world, &mut s, &ids);
    // The requests in flight finished within the grace period.
    assert!(outcomes.iter().all(|o| o == "deleted"), "{outcomes:?}");
}

#[test]
fn cli_sigterm_mid_run_records_parked_requests_as_unknown_and_exits_143() {
    let (world, mut s, ids) = cli_bulk_delete(40, Duration::from_secs(120));
    // SAFETY: plain kill(2) on our own, still unreaped child.
    let rc = unsafe { libc::kill(s.pid(), libc::SIGTERM) };
    assert_eq!(rc, 0, "kill: {}", io::Error::last_os_error());
    let status = s.wait_exit();
    assert!(status.signal().is_none(), "SIGTERM is handled: {status:?}");
    assert_eq!(status.code(), Some(143), "{status:?}\n{}", s.text());
    let outcomes = assert_cancelled_run(&world, &mut s, &ids);
    assert!(
        outcomes.iter().any(|o| o == "unknown"),
        "parked requests are unknown: {outcomes:?}"
    );
    assert!(s.text().contains("unknown"), "{}", s.text());
}

#[test]
fn cli_second_sighup_stops_waiting_and_exits_129() {
    let (world, mut s, ids) = cli_bulk_delete(40, Duration::from_secs(120));
    // SAFETY: plain kill(2) on our own, still unreaped child.
    let rc = unsafe { libc::kill(s.pid(), libc::SIGHUP) };
    assert_eq!(rc, 0, "kill: {}", io::Error::last_os_error());
    s.wait_for_text("cancelling");
    // SAFETY: as above.
    let rc = unsafe { libc::kill(s.pid(), libc::SIGHUP) };
    assert_eq!(rc, 0, "kill: {}", io::Error::last_os_error());
    let started = Instant::now();
    let status = s.wait_exit();
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "the second signal stops the wait for requests in flight"
    );
    assert!(status.signal().is_none(), "SIGHUP is handled: {status:?}");
    assert_eq!(status.code(), Some(129), "{status:?}\n{}", s.text());
    let outcomes = assert_cancelled_run(&world, &mut s, &ids);
    assert!(outcomes.iter().any(|o| o == "unknown"), "{outcomes:?}");
}

#[test]
fn tui_sigint_mid_delete_restores_the_terminal_and_exits_non_zero() {
    const TOTAL: usize = 40;
    let world = SimWorld::start(TOTAL);
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), &[world.profile("sim-mstr")]);
    let mut s = Session::spawn_in(100, 30, dir, configured(&config));
    s.wait_for_datasources(TOTAL);
    world.sim.control.faults.add(
        dsconsole::sim::faults::FaultRule::new(dsconsole::sim::faults::Fault::Delay(
            Duration::from_secs(120),
        ))
        .method("DELETE"),
    );
    s.send(b"A");
    s.wait_for_text(&format!("{TOTAL} marked"));
    s.send(CTRL_D);
    s.wait_for_text(&format!("Type {TOTAL} and press Enter to delete:"));
    s.send(TOTAL.to_string().as_bytes());
    s.wait_for_text(&format!("delete: {TOTAL}"));
    s.send(ENTER);
    s.wait_screen("a running delete", |sc| {
        sc.contents()
            .lines()
            .any(|l| l.contains('…') && l.contains("running"))
    });

    // SAFETY: plain kill(2) on our own, still unreaped child.
    let rc = unsafe { libc::kill(s.pid(), libc::SIGINT) };
    assert_eq!(rc, 0, "kill: {}", io::Error::last_os_error());
    let status = s.wait_exit();
    assert!(status.signal().is_none(), "SIGINT is handled: {status:?}");
    assert_eq!(status.code(), Some(130), "signalled mid-delete: {status:?}");
    s.assert_terminal_restored();
    let lines = read_audit(&s.audit_path());
    let pairs = delete_pairs(&lines);
    assert!(!pairs.is_empty() && pairs.len() < TOTAL, "{lines:#?}");
    for (seq, pair) in &pairs {
        let (Some(_), Some(a)) = pair else {
            panic!("seq {seq}: every before line has an after line: {pair:?}");
        };
        assert_eq!(a["outcome"], "unknown", "seq {seq}: parked at the server");
    }
}

#[test]
fn cli_create_cut_short_by_signals_settles_the_audit_and_exits_143() {
    let world = SimWorld::start(0);
    world.sim.control.faults.add(
        dsconsole::sim::faults::FaultRule::new(dsconsole::sim::faults::Fault::Delay(
            Duration::from_secs(120),
        ))
        .method("POST")
        .path("/api/datasources/logins"),
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), &[world.profile("sim-mstr")]);
    let body = dir.path().join("login.json");
    std::fs::write(
        &body,
        r#"{"name": "Parked Login", "username": "parked", "password": "p4rked-pw"}"#,
    )
    .expect("write body");
    let mut s = Session::spawn_in(120, 40, dir, |cmd| {
        configured(&config)(cmd);
        cmd.args(["create", "sim-mstr", "logins", "--from"])
            .arg(&body);
    });
    // The audit "before" line is written just before the request leaves.
    let audit = s.audit_path();
    let deadline = Instant::now() + TIMEOUT;
    while !std::fs::read_to_string(&audit).is_ok_and(|t| t.contains("\"before\"")) {
        assert!(Instant::now() < deadline, "the create never started");
        s.assert_running("before the create was sent");
        thread::sleep(Duration::from_millis(20));
    }
    for _ in 0..2 {
        // SAFETY: plain kill(2) on our own, still unreaped child.
        let rc = unsafe { libc::kill(s.pid(), libc::SIGTERM) };
        assert_eq!(rc, 0, "kill: {}", io::Error::last_os_error());
        s.wait_for_text("SIGTERM");
    }
    let status = s.wait_exit();
    assert!(status.signal().is_none(), "SIGTERM is handled: {status:?}");
    assert_eq!(status.code(), Some(143), "{status:?}\n{}", s.text());
    s.wait_output_closed();
    assert!(s.text().contains("unknown"), "{}", s.text());
    let lines = read_audit(&audit);
    let phases: Vec<&str> = lines.iter().filter_map(|l| l["phase"].as_str()).collect();
    assert_eq!(phases, ["before", "after"], "{lines:#?}");
    assert_eq!(lines[1]["outcome"], "unknown", "{lines:#?}");
    assert!(
        !s.raw_text().contains("p4rked-pw"),
        "the password reached the terminal"
    );
}

/// Watch across runs: the first run tests every connection and quits (having looked); a
/// connection starts failing between runs; the second run shows the last tests as they
/// were, and once `T` finds the failure the row is ✚ new, counted on the status line, found
/// with `n`, and its detail says since when. The history is owner-only.
#[test]
fn a_connection_that_fails_between_runs_is_new_and_found_with_n() {
    let world = SimWorld::start(0);
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), &[world.profile("sim-mstr")]);
    let data = dir.path().join("data");
    let spawn = || {
        Session::spawn_in(160, 36, tempfile::tempdir().expect("temp dir"), |cmd| {
            configured(&config)(cmd);
            cmd.env("DSCONSOLE_DATA_DIR", &data);
        })
    };
    let mut s = spawn();
    s.wait_for("the datasources", |t| {
        kind_count(t, "Datasources") > Some(0)
    });
    s.send(b"T");
    s.wait_for_text("health checks:");
    assert!(!s.text().contains('✚'), "nothing is new in the first look");
    s.quit();
    let file = data.join("watch").join("sim-mstr.json");
    let mode = std::fs::metadata(&file)
        .expect("history")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    let history: Value =
        serde_json::from_slice(&std::fs::read(&file).expect("read")).expect("json");
    assert!(history["looked_at"].is_i64(), "{history}");

    // Between the runs (the watch counts in seconds: a failure in the second the operator
    // looked is not after the look), one connection starts failing its test.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let conn = world.sim.control.ids("connections")[0].clone();
    let name = world
        .sim
        .control
        .object("connections", &conn)
        .expect("conn")["name"]
        .as_str()
        .expect("name")
        .to_string();
    world
        .sim
        .control
        .set_connection_test_failure(&conn, Some("Login failed for user 'etl_watch'"));

    let mut s = spawn();
    s.wait_for("the datasources", |t| {
        kind_count(t, "Datasources") > Some(0)
    });
    s.send(b"]");
    s.wait_for_text("Used by");
    s.send(b"T");
    s.wait_for_text("new since");
    s.wait_for_text("health checks:");
    s.send(b"n");
    s.send(ENTER);
    // n went to the failing one; its detail says since when and its last test (waited for
    // whole: a frame may be caught half drawn).
    let wanted = format!("connection '{name}'");
    s.wait_for("the failing connection's detail", |t| {
        t.contains(&wanted)
            && t.contains("— ✚ new since")
            && t.contains("seen unhealthy since")
            && t.contains("last tested")
    });
    s.send(ENTER);
    s.wait_gone("— ✚ new since");
    s.quit();
    let history = std::fs::read_to_string(&file).expect("read");
    assert!(
        history.contains("etl_watch"),
        "the failed test is kept: {history}"
    );
}

/// Rotation end to end: the database behind a login now expects a new password, so the
/// connections using the login fail their test; P on the login, the new password typed
/// (never shown), y confirms the one object — the report says changed and verified, the
/// simulator holds the new password, and the screen and the audit log never show it.
#[test]
fn rotating_one_password_shows_it_changed_and_verified() {
    let world = SimWorld::start(0);
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), &[world.profile("sim-mstr")]);
    let data = dir.path().join("data");
    let control = &world.sim.control;
    // The login most connections use.
    let conns: Vec<(String, String)> = control
        .ids("connections")
        .into_iter()
        .filter_map(|c| {
            let v = control.object("connections", &c)?;
            Some((c, v.pointer("/database/login/id")?.as_str()?.to_string()))
        })
        .collect();
    let login = control
        .ids("logins")
        .into_iter()
        .max_by_key(|l| conns.iter().filter(|(_, x)| x == l).count())
        .expect("a login");
    let name = control.object("logins", &login).expect("login")["name"]
        .as_str()
        .expect("name")
        .to_string();
    for (c, l) in &conns {
        if *l == login {
            control.set_connection_test_failure(c, None);
        }
    }
    const NEW: &str = "Pty-rotated-77";
    control.set_database_password(&login, Some(NEW));

    let mut s = Session::spawn_in(140, 36, tempfile::tempdir().expect("temp dir"), |cmd| {
        configured(&config)(cmd);
        cmd.env("DSCONSOLE_DATA_DIR", &data);
    });
    s.wait_for("the datasources", |t| {
        kind_count(t, "Datasources") > Some(0)
    });
    s.send(b"]]");
    s.wait_for("the logins", |t| t.contains("Username"));
    s.send(b"/");
    s.send(name.as_bytes());
    s.send(ENTER);
    s.send(b"P");
    s.wait_for_text("New password");
    s.send(NEW.as_bytes());
    s.wait_for_text("••••");
    s.send(b"\x13"); // Ctrl-S: review
    s.wait_for_text("password → (new secret)");
    s.send(b"y");
    s.wait_for_text("changed, verified");
    let t = s.text();
    assert!(t.contains(&format!("login '{name}'")), "{t}");
    assert!(!t.contains(NEW), "the password is never on screen:\n{t}");
    s.quit();
    assert_eq!(control.login_password(&login).as_deref(), Some(NEW));
    let audit = std::fs::read_to_string(data.join("audit.jsonl")).expect("audit");
    assert!(audit.contains("\"operation\":\"update\""), "{audit}");
    assert!(!audit.contains(NEW), "{audit}");
}

/// The demo draws its first frame before its simulators have generated their data (issue
/// 18): at a scale that takes them a while, the first screen shows every profile still
/// loading; each tab then fills in as from a slow server.
#[test]
fn the_demo_draws_before_its_simulators_are_up_and_tabs_fill_in() {
    // Wide enough for the overview's Tenant column (the simulator's address).
    let mut s = Session::spawn(200, 30, |cmd| {
        cmd.args(["demo", "--scale", "3000"]);
    });
    // The overview's rows (the tab bar names the profiles too: it holds "Overview").
    let rows = |t: &str, name: &str| -> Option<String> {
        t.lines()
            .find(|l| l.contains(name) && !l.contains("Overview"))
            .map(str::to_string)
    };
    let names = ["demo-mstr", "demo-qlik", "demo-basedash", "demo-databrain"];
    s.wait_for("the overview with every profile", |t| {
        names.iter().all(|n| rows(t, n).is_some())
    });
    let first = s.text();
    // The last simulator is still generating: its address (the Tenant column) is not known
    // yet and nothing is loaded. (Before issue 18 the first frame waited for every
    // simulator, so every address was there from the start.)
    let line = rows(&first, "demo-databrain").unwrap_or_default();
    assert!(
        line.contains("never") && !line.contains("127."),
        "demo-databrain is not up yet:\n{first}"
    );
    // Its address arrives with its client, and its tab fills in.
    s.wait_for("demo-databrain's address", |t| {
        rows(t, "demo-databrain").is_some_and(|l| l.contains("127."))
    });
    s.send(b"1");
    s.wait_for_datasources(3_000);
    s.quit();
    s.assert_quit_ok();
}
