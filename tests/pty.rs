//! End-to-end tests that run the real `dsconsole` binary in a pseudo-terminal, type keys as
//! a user would, and read the screen back through a vt100 emulator.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::Mutex;
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
    // SAFETY: the two out-pointers are valid for writes, `name` and `termp` may be null, and
    // `ws` outlives the call.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &ws,
        )
    };
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
    output: Receiver<Vec<u8>>,
    parser: vt100::Parser,
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
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_DATA_HOME", home.join(".local/share"))
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
        let mut reader = File::from(master.try_clone().expect("dup master"));
        let (tx, output) = mpsc::channel();
        thread::spawn(move || {
            let mut buf = [0u8; 16 * 1024];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        if tx.send(buf[..n].to_vec()).is_err() {
                            break;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    // EIO: every slave descriptor is closed, the child is gone.
                    Err(_) => break,
                }
            }
        });
        Session {
            child,
            master: File::from(master),
            output,
            parser: vt100::Parser::new(rows, cols, 0),
            status: None,
            dir,
        }
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn pid(&self) -> libc::pid_t {
        libc::pid_t::try_from(self.child.id()).expect("pid fits pid_t")
    }

    fn text(&self) -> String {
        self.parser.screen().contents()
    }

    /// Type bytes into the terminal.
    fn send(&mut self, bytes: &[u8]) {
        self.master.write_all(bytes).expect("write to pty");
        self.master.flush().expect("flush pty");
    }

    /// Feed all output already received to the emulator. False once the reader has ended.
    fn drain(&mut self) -> bool {
        loop {
            match self.output.try_recv() {
                Ok(bytes) => self.parser.process(&bytes),
                Err(mpsc::TryRecvError::Empty) => return true,
                Err(mpsc::TryRecvError::Disconnected) => return false,
            }
        }
    }

    /// Wait until `pred` holds for the screen; panics with the screen after `TIMEOUT`.
    fn wait_for(&mut self, what: &str, pred: impl Fn(&vt100::Screen) -> bool) {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let open = self.drain();
            if pred(self.parser.screen()) {
                return;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if !open || left.is_zero() {
                let why = if open {
                    "timed out"
                } else {
                    "the program's output ended"
                };
                panic!("{why} waiting for {what}; screen:\n{}", self.text());
            }
            match self.output.recv_timeout(left) {
                Ok(bytes) => self.parser.process(&bytes),
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {}
            }
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
        assert!(!t.contains("Load failed"), "the demo failed to load:\n{t}");
        kind_count(&t, "Datasources").unwrap_or(0)
    }

    /// Change the window size the way a terminal emulator does.
    fn resize(&mut self, cols: u16, rows: u16) {
        let ws = winsize(cols, rows);
        self.parser.set_size(rows, cols);
        // SAFETY: the master descriptor is open and `ws` is a valid winsize for the call.
        let rc = unsafe { libc::ioctl(self.master.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
        assert_ne!(rc, -1, "TIOCSWINSZ: {}", io::Error::last_os_error());
        // The kernel signals the foreground group already; the explicit signal is for
        // setups where that does not happen. A second resize event is harmless.
        // SAFETY: plain kill(2) on our own, still unreaped child.
        unsafe { libc::kill(self.pid(), libc::SIGWINCH) };
    }

    /// Wait for the child to exit (keeping the screen up to date); panics after `TIMEOUT`.
    fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                self.status = Some(status);
                return status;
            }
            if Instant::now() >= deadline {
                self.drain();
                panic!("dsconsole did not exit; screen:\n{}", self.text());
            }
            if let Ok(bytes) = self.output.recv_timeout(Duration::from_millis(50)) {
                self.parser.process(&bytes);
            }
        }
    }

    /// The terminal as the user's shell gets it back: main screen, visible cursor.
    fn assert_terminal_restored(&mut self) {
        self.wait_for("the terminal to be restored", |s| {
            !s.alternate_screen() && !s.hide_cursor()
        });
        let t = self.text();
        assert!(
            !t.contains("Datasources ("),
            "the TUI is still on the main screen:\n{t}"
        );
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if thread::panicking() {
            self.drain();
            eprintln!("--- last screen ---\n{}\n-------------------", self.text());
        }
        if self.status.is_none() && matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
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
    assert!(
        s.parser.screen().alternate_screen(),
        "the TUI should use the alternate screen"
    );
    assert!(
        s.text().contains(" 1 MicroStrategy · demo-mstr "),
        "{}",
        s.text()
    );
    assert!(
        !s.text().contains("Used by"),
        "datasources have no 'Used by' column:\n{}",
        s.text()
    );

    s.send(b"]");
    s.wait_for("the Connections table", |sc| {
        let t = sc.contents();
        t.contains("Used by") && kind_count(&t, "Connections") > Some(0)
    });

    s.send(b"?");
    s.wait_for_text("Keys (Esc closes)");
    // Esc alone, then wait for it to take effect: an Esc followed at once by another key
    // would read as Alt-<key>.
    s.send(ESC);
    s.wait_gone("Keys (Esc closes)");
    assert!(
        s.text().contains("Used by"),
        "Esc should return to the Connections table:\n{}",
        s.text()
    );

    s.send(b"q");
    let status = s.wait_exit();
    assert!(
        status.success(),
        "q should exit with status 0, got {status:?}"
    );
    s.assert_terminal_restored();
}

#[test]
fn delete_one_datasource_in_the_demo() {
    let mut s = Session::demo(100, 30);
    let before = s.wait_for_table();

    s.send(b"G");
    s.send(CTRL_D);
    s.wait_for_text("Delete 1 object from demo-mstr");
    assert!(s.text().contains("Press y to delete"), "{}", s.text());
    s.send(b"y");
    s.wait_for_text("Delete finished — demo-mstr");
    let t = s.text();
    assert!(
        t.contains("1 deleted") && t.contains("0 failed"),
        "summary:\n{t}"
    );

    s.send(ENTER);
    s.wait_gone("Delete finished");
    let expected = before - 1;
    s.wait_for(&format!("Datasources ({expected})"), |sc| {
        kind_count(&sc.contents(), "Datasources") == Some(expected)
    });

    let lines = read_audit(&s.data_dir().join("audit.jsonl"));
    let deletes: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["operation"] == "delete")
        .collect();
    assert_eq!(
        deletes.len(),
        2,
        "one before and one after line: {lines:#?}"
    );
    let (b, a) = (deletes[0], deletes[1]);
    assert_eq!(b["phase"], "before", "{lines:#?}");
    assert_eq!(a["phase"], "after", "{lines:#?}");
    assert_eq!(a["outcome"], "deleted", "{lines:#?}");
    assert_eq!(
        b["seq"], a["seq"],
        "after repeats the before's seq: {lines:#?}"
    );
    assert_eq!(b["profile"], "demo-mstr");
    assert_eq!(b["kind"], a["kind"]);
    assert!(
        b["id"].as_str().is_some_and(|id| !id.is_empty()),
        "{lines:#?}"
    );
    assert_eq!(b["id"], a["id"]);
    assert!(
        b["object"].is_object(),
        "the before line keeps the object: {lines:#?}"
    );

    s.send(b"q");
    let status = s.wait_exit();
    assert!(
        status.success(),
        "q should exit with status 0, got {status:?}"
    );
    s.assert_terminal_restored();
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
        "SIGTERM should be handled, not fatal: {status:?}"
    );
    s.assert_terminal_restored();
}

#[test]
fn too_small_terminal() {
    let mut s = Session::demo(50, 10);
    s.wait_for_text("terminal too small");
    s.resize(100, 30);
    s.wait_for_table();
    assert!(!s.text().contains("terminal too small"), "{}", s.text());
    s.send(b"q");
    let status = s.wait_exit();
    assert!(
        status.success(),
        "q should exit with status 0, got {status:?}"
    );
    s.assert_terminal_restored();
}
