//! End-to-end tests that run the real `dsconsole` binary in a pseudo-terminal, type keys as
//! a user would, and read the screen back through a vt100 emulator.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

/// How long any one expectation may take. Generous: CI machines are slow. Never asserted.
const TIMEOUT: Duration = Duration::from_secs(30);
const CTRL_D: &[u8] = b"\x04";
const ESC: &[u8] = b"\x1b";
const ENTER: &[u8] = b"\r";

/// Serialises "open a pty, spawn a child" across the test threads, so that no child forked
/// by a parallel test inherits another test's pty descriptors before they are close-on-exec.
static SPAWN_LOCK: Mutex<()> = Mutex::new(());

fn winsize(cols: u16, rows: u16) -> libc::winsize {
    libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    }
}

fn set_cloexec(fd: &OwnedFd) {
    // SAFETY: `fd` is an open descriptor we own; F_SETFD only changes its flags.
    let rc = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) };
    assert_ne!(rc, -1, "fcntl(FD_CLOEXEC): {}", io::Error::last_os_error());
}

/// A new pseudo-terminal pair `(master, slave)` of the given size, both close-on-exec.
fn open_pty(cols: u16, rows: u16) -> (OwnedFd, OwnedFd) {
    let mut master: libc::c_int = -1;
    let mut slave: libc::c_int = -1;
    let ws = winsize(cols, rows);
    let (name, termp) = (std::ptr::null_mut(), std::ptr::null());
    // SAFETY: the two out-pointers are valid for writes, `name` and `termp` may be null, and
    // `ws` outlives the call.
    let rc = unsafe { libc::openpty(&mut master, &mut slave, name, termp, &ws) };
    assert_eq!(rc, 0, "openpty: {}", io::Error::last_os_error());
    // SAFETY: openpty succeeded, so both are fresh descriptors that nothing else owns.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    set_cloexec(&master);
    set_cloexec(&slave);
    (master, slave)
}

/// The binary running in a pty, with the emulated screen. Dropping it kills the child if it
/// still runs and, when the test is failing, prints the last screen.
struct Session {
    child: Child,
    master: File,
    /// One message per chunk of output the emulator has processed; closed at EOF.
    output: Receiver<()>,
    parser: Arc<Mutex<vt100::Parser>>,
    status: Option<ExitStatus>,
    dir: tempfile::TempDir,
}

impl Session {
    /// `dsconsole demo` in a `cols` x `rows` terminal, with a private HOME and data dir.
    fn demo(cols: u16, rows: u16) -> Session {
        let dir = tempfile::tempdir().expect("temp dir");
        let home = dir.path().join("home");
        std::fs::create_dir_all(&home).expect("home dir");
        let data = dir.path().join("data");
        let guard = SPAWN_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let (master, slave) = open_pty(cols, rows);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_dsconsole"));
        cmd.arg("demo")
            .env("TERM", "xterm-256color")
            .env("HOME", &home)
            .env("DSCONSOLE_DATA_DIR", &data)
            .env_remove("DSCONSOLE_CONFIG")
            .env_remove("NO_COLOR")
            .stdin(Stdio::from(slave.try_clone().expect("dup slave")))
            .stdout(Stdio::from(slave.try_clone().expect("dup slave")))
            .stderr(Stdio::from(slave));
        // SAFETY: the closure runs in the forked child before exec and calls only
        // async-signal-safe functions (setsid, ioctl). Std has already made the pty slave the
        // child's fd 0, so TIOCSCTTY makes it the controlling terminal of the new session,
        // which lets the child receive SIGWINCH and open /dev/tty.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() == -1 {
                    return Err(io::Error::last_os_error());
                }
                if libc::ioctl(0, libc::TIOCSCTTY, 0) == -1 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("spawn dsconsole");
        // Close our copies of the slave so the reader sees EOF/EIO once the child is gone.
        drop(cmd);
        drop(guard);
        let parser = Arc::new(Mutex::new(vt100::Parser::new(rows, cols, 0)));
        let reader = File::from(master.try_clone().expect("dup master"));
        let answers = File::from(master.try_clone().expect("dup master"));
        let (tx, output) = mpsc::channel();
        let shared = Arc::clone(&parser);
        thread::spawn(move || emulate(reader, answers, &shared, &tx));
        Session {
            child,
            master: File::from(master),
            output,
            parser,
            status: None,
            dir,
        }
    }

    fn pid(&self) -> libc::pid_t {
        libc::pid_t::try_from(self.child.id()).expect("pid fits pid_t")
    }

    fn parser(&self) -> MutexGuard<'_, vt100::Parser> {
        self.parser.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn text(&self) -> String {
        self.parser().screen().contents()
    }

    /// Type bytes into the terminal.
    fn send(&mut self, bytes: &[u8]) {
        self.master.write_all(bytes).expect("write to pty");
        self.master.flush().expect("flush pty");
    }

    /// Wait until `pred` holds for the screen; fails after `TIMEOUT` or at end of output.
    fn wait_for(&mut self, what: &str, pred: impl Fn(&vt100::Screen) -> bool) {
        let deadline = Instant::now() + TIMEOUT;
        let mut open = true;
        while !pred(self.parser().screen()) {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                open && !left.is_zero(),
                "no {what} within {TIMEOUT:?} (output open: {open})"
            );
            let got = self.output.recv_timeout(left);
            open = !matches!(got, Err(RecvTimeoutError::Disconnected));
        }
    }

    fn wait_for_text(&mut self, needle: &str) {
        self.wait_for(&format!("{needle:?}"), |s| s.contents().contains(needle));
    }

    fn wait_gone(&mut self, needle: &str) {
        self.wait_for(&format!("{needle:?} to disappear"), |s| {
            !s.contents().contains(needle)
        });
    }

    /// Wait for the demo's first load; returns the datasource count. Fails at once on a
    /// load error instead of waiting for the timeout.
    fn wait_for_table(&mut self) -> usize {
        self.wait_for("the datasource table", |s| {
            let t = s.contents();
            t.contains("Load failed")
                || (t.contains("DEMO") && kind_count(&t, "Datasources") > Some(0))
        });
        let t = self.text();
        assert!(!t.contains("Load failed"), "the demo failed to load");
        kind_count(&t, "Datasources").unwrap_or(0)
    }

    /// Whether the line discipline is cooked (canonical, echo), as a shell needs it. Read on
    /// the master: on Linux that reports the slave's settings.
    fn cooked(&self) -> bool {
        // SAFETY: termios is plain data, so all-zero is a valid value; tcgetattr overwrites it.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: the master descriptor is open and `t` is valid for writes.
        let rc = unsafe { libc::tcgetattr(self.master.as_raw_fd(), &mut t) };
        assert_eq!(rc, 0, "tcgetattr: {}", io::Error::last_os_error());
        t.c_lflag & (libc::ICANON | libc::ECHO) == libc::ICANON | libc::ECHO
    }

    /// Change the window size the way a terminal emulator does: TIOCSWINSZ on the master,
    /// and the kernel sends SIGWINCH to the foreground process group (the child's session).
    fn resize(&mut self, cols: u16, rows: u16) {
        let ws = winsize(cols, rows);
        self.parser().set_size(rows, cols);
        // SAFETY: the master descriptor is open and `ws` is a valid winsize for the call.
        let rc = unsafe { libc::ioctl(self.master.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
        assert_ne!(rc, -1, "TIOCSWINSZ: {}", io::Error::last_os_error());
    }

    /// The exit status once the child exits within `limit`, else None.
    fn exit_within(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                self.status = Some(status);
                return Some(status);
            }
            let _ = self.output.recv_timeout(Duration::from_millis(50));
        }
        None
    }

    fn wait_exit(&mut self) -> ExitStatus {
        let status = self.exit_within(TIMEOUT);
        status.unwrap_or_else(|| panic!("dsconsole did not exit within {TIMEOUT:?}"))
    }

    /// Press q: the program exits with status 0 and gives the terminal back.
    fn quit_with_q(&mut self) {
        self.send(b"q");
        self.assert_quit_ok();
    }

    fn assert_quit_ok(&mut self) {
        let status = self.wait_exit();
        assert!(status.success(), "q exits with status 0, got {status:?}");
        self.assert_terminal_restored();
    }

    /// The terminal as the user's shell gets it back: main screen, visible cursor, cooked.
    fn assert_terminal_restored(&mut self) {
        self.wait_for("the terminal to be restored", |s| {
            !s.alternate_screen() && !s.hide_cursor()
        });
        let t = self.text();
        assert!(
            !t.contains("Datasources ("),
            "the TUI is still on the main screen"
        );
        assert!(self.cooked(), "raw mode was left on");
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!("--- last screen ---\n{}\n-------------------", self.text());
        }
        if self.status.is_none() && matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// The terminal side of the pty: feeds the program's output to the emulator and answers
/// cursor-position queries (`ESC [ 6 n`) as a real terminal does; ratatui asks at start-up.
fn emulate(
    mut reader: File,
    mut answers: File,
    parser: &Mutex<vt100::Parser>,
    processed: &Sender<()>,
) {
    const DSR: &[u8] = b"\x1b[6n";
    let mut buf = [0u8; 16 * 1024];
    // The end of the previous chunk, so a query split across two reads is still seen.
    let mut tail: Vec<u8> = Vec::new();
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // EIO: every slave descriptor is closed, the program is gone.
            Err(_) => return,
        };
        let chunk = &buf[..n];
        let (row, col) = {
            let mut p = parser.lock().unwrap_or_else(|e| e.into_inner());
            p.process(chunk);
            p.screen().cursor_position()
        };
        tail.extend_from_slice(chunk);
        let queries = tail.windows(DSR.len()).filter(|w| *w == DSR).count();
        let keep = tail.len().saturating_sub(DSR.len() - 1);
        tail.drain(..keep);
        for _ in 0..queries {
            let reply = format!("\x1b[{};{}R", row + 1, col + 1);
            if answers.write_all(reply.as_bytes()).is_err() {
                return;
            }
        }
        if processed.send(()).is_err() {
            return;
        }
    }
}

/// The total in a kind tab label such as "Datasources (14)" or "Datasources (3/14)".
fn kind_count(screen: &str, kind: &str) -> Option<usize> {
    let start = screen.find(&format!("{kind} ("))? + kind.len() + 2;
    let inner = &screen[start..start + screen[start..].find(')')?];
    inner.rsplit('/').next()?.parse().ok()
}

fn read_audit(path: &std::path::Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad audit line {l:?}: {e}")))
        .collect()
}

#[test]
fn demo_starts_browses_and_quits_restoring_the_terminal() {
    let mut s = Session::demo(100, 30);
    s.wait_for_table();
    let alt = s.parser().screen().alternate_screen();
    assert!(
        alt && !s.cooked(),
        "the TUI runs on the alternate screen in raw mode"
    );
    s.wait_for_text(" 1 MicroStrategy · demo-mstr ");
    let no_used_by = !s.text().contains("Used by");
    assert!(no_used_by, "datasources have no 'Used by' column");

    s.send(b"]");
    s.wait_for("the Connections table", |sc| {
        let t = sc.contents();
        t.contains("Used by") && kind_count(&t, "Connections") > Some(0)
    });

    s.send(b"?");
    s.wait_for_text("Keys (Esc closes)");
    // Esc alone, then wait for its effect: Esc followed at once by a key reads as Alt-key.
    s.send(ESC);
    s.wait_gone("Keys (Esc closes)");
    s.wait_for_text("Used by");

    s.quit_with_q();
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
    s.wait_for("the summary", |sc| {
        let t = sc.contents();
        t.contains("Delete finished — demo-mstr")
            && t.contains("1 deleted")
            && t.contains("0 failed")
    });

    s.send(ENTER);
    s.wait_gone("Delete finished");
    // Once reloaded from the simulator (status "loaded …"), one datasource fewer.
    let expected = before - 1;
    s.wait_for(
        &format!("Datasources ({expected}) after the reload"),
        |sc| {
            let t = sc.contents();
            kind_count(&t, "Datasources") == Some(expected) && t.contains("loaded ")
        },
    );

    let lines = read_audit(&s.dir.path().join("data/audit.jsonl"));
    let deletes: Vec<&serde_json::Value> = lines
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

    s.quit_with_q();
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
