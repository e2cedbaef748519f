//! A pseudo-terminal harness for end-to-end tests: runs the real `dsconsole` binary in a
//! pty, types keys (and bracketed pastes) as a user would, and reads the screen back through
//! a vt100 emulator. Shared by tests/pty.rs, tests/pty_dialogs.rs and tests/secrets.rs.

#![allow(dead_code)]

use serde_json::Value;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

/// How long any one expectation may take. Generous: CI machines are slow. Never asserted.
pub const TIMEOUT: Duration = Duration::from_secs(30);
pub const CTRL_D: &[u8] = b"\x04";
pub const ESC: &[u8] = b"\x1b";
pub const ENTER: &[u8] = b"\r";
pub const TAB: &[u8] = b"\t";

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
pub struct Session {
    child: Child,
    master: File,
    /// One message per chunk of output the emulator has processed; closed at EOF.
    output: Receiver<()>,
    parser: Arc<Mutex<vt100::Parser>>,
    status: Option<ExitStatus>,
    /// Private HOME and data dir (None for a command the caller prepared).
    dir: Option<tempfile::TempDir>,
    /// Every byte the program wrote to the terminal, in order.
    raw: Arc<Mutex<Vec<u8>>>,
}

impl Session {
    /// `dsconsole demo` in a `cols` x `rows` terminal, with a private HOME and data dir.
    pub fn demo(cols: u16, rows: u16) -> Session {
        Session::spawn(cols, rows, |cmd| {
            cmd.arg("demo");
        })
    }

    /// The binary in a `cols` x `rows` terminal with HOME and the data dir in a new
    /// temporary directory; `configure` adds the arguments and any environment.
    pub fn spawn(cols: u16, rows: u16, configure: impl FnOnce(&mut Command)) -> Session {
        Session::spawn_in(
            cols,
            rows,
            tempfile::tempdir().expect("temp dir"),
            configure,
        )
    }

    /// The binary in a `cols` x `rows` terminal with HOME and the data dir inside `dir`;
    /// `configure` adds the arguments and any environment.
    pub fn spawn_in(
        cols: u16,
        rows: u16,
        dir: tempfile::TempDir,
        configure: impl FnOnce(&mut Command),
    ) -> Session {
        let home = dir.path().join("home");
        std::fs::create_dir_all(&home).expect("home dir");
        let data = dir.path().join("data");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_dsconsole"));
        cmd.env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .env("DSCONSOLE_DATA_DIR", &data)
            .env_remove("DSCONSOLE_CONFIG")
            .env_remove("DSCONSOLE_LOG")
            .env_remove("DSCONSOLE_TEST_PANIC")
            .env_remove("NO_COLOR");
        configure(&mut cmd);
        Session::start(cmd, cols, rows, Some(dir))
    }

    /// Run `cmd` (environment and arguments already set) in a `cols` x `rows` terminal that
    /// is its controlling terminal and its stdin, stdout and stderr.
    pub fn start(
        mut cmd: Command,
        cols: u16,
        rows: u16,
        dir: Option<tempfile::TempDir>,
    ) -> Session {
        let guard = SPAWN_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let (master, slave) = open_pty(cols, rows);
        cmd.env("TERM", "xterm-256color")
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
        let raw = Arc::new(Mutex::new(Vec::new()));
        let raw_out = Arc::clone(&raw);
        thread::spawn(move || emulate(reader, answers, &shared, &raw_out, &tx));
        Session {
            child,
            master: File::from(master),
            output,
            parser,
            status: None,
            dir,
            raw,
        }
    }

    /// The data dir of a session started by `spawn` / `spawn_in`.
    pub fn data_dir(&self) -> PathBuf {
        self.dir
            .as_ref()
            .expect("a session with its own directory")
            .path()
            .join("data")
    }

    pub fn audit_path(&self) -> PathBuf {
        self.data_dir().join("audit.jsonl")
    }

    /// The audit log's lines (none when the file does not exist).
    pub fn audit_lines(&self) -> Vec<String> {
        std::fs::read_to_string(self.audit_path())
            .map(|t| t.lines().map(str::to_string).collect())
            .unwrap_or_default()
    }

    /// Everything written to the terminal so far, lossily decoded.
    pub fn raw_text(&self) -> String {
        let raw = self.raw.lock().unwrap_or_else(|e| e.into_inner());
        String::from_utf8_lossy(&raw).into_owned()
    }

    /// Wait until the output is closed (the program and all its descriptors are gone), so
    /// that `raw_text` and the screen hold everything it wrote.
    pub fn wait_output_closed(&mut self) {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "the terminal output was not closed");
            if let Err(RecvTimeoutError::Disconnected) = self.output.recv_timeout(left) {
                return;
            }
        }
    }

    pub fn assert_running(&mut self, when: &str) {
        if let Some(status) = self.child.try_wait().expect("try_wait") {
            self.status = Some(status);
            panic!("dsconsole exited {when}: {status:?}");
        }
    }

    pub fn pid(&self) -> libc::pid_t {
        libc::pid_t::try_from(self.child.id()).expect("pid fits pid_t")
    }

    pub fn parser(&self) -> MutexGuard<'_, vt100::Parser> {
        self.parser.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn text(&self) -> String {
        self.parser().screen().contents()
    }

    /// Type bytes into the terminal.
    pub fn send(&mut self, bytes: &[u8]) {
        self.master.write_all(bytes).expect("write to pty");
        self.master.flush().expect("flush pty");
    }

    /// Paste `text` the way a terminal does with bracketed paste on.
    pub fn paste(&mut self, text: &str) {
        let mut bytes = b"\x1b[200~".to_vec();
        bytes.extend_from_slice(text.as_bytes());
        bytes.extend_from_slice(b"\x1b[201~");
        self.send(&bytes);
    }

    /// Wait until `pred` holds for the emulated screen; fails after `TIMEOUT` or at end of
    /// output.
    pub fn wait_screen(&mut self, what: &str, pred: impl Fn(&vt100::Screen) -> bool) {
        let deadline = Instant::now() + TIMEOUT;
        let mut open = true;
        while !pred(self.parser().screen()) {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                open && !left.is_zero(),
                "no {what} within {TIMEOUT:?} (output open: {open})"
            );
            let got = self
                .output
                .recv_timeout(left.min(Duration::from_millis(200)));
            open = !matches!(got, Err(RecvTimeoutError::Disconnected));
        }
    }

    /// Wait until `pred` holds for the screen's text.
    pub fn wait_for(&mut self, what: &str, pred: impl Fn(&str) -> bool) {
        self.wait_screen(what, |s| pred(&s.contents()));
    }

    /// Give the program `d` to act on what was sent (the screen keeps updating meanwhile).
    /// For checking that something did NOT happen; use `wait_for` for what should.
    pub fn settle(&mut self, d: Duration) {
        let deadline = Instant::now() + d;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            if let Err(RecvTimeoutError::Disconnected) = self.output.recv_timeout(left) {
                return;
            }
        }
    }

    pub fn wait_for_text(&mut self, needle: &str) {
        self.wait_for(&format!("{needle:?}"), |s| s.contains(needle));
    }

    pub fn wait_gone(&mut self, needle: &str) {
        self.wait_for(&format!("{needle:?} to disappear"), |s| !s.contains(needle));
    }

    /// Wait for the demo's first load; returns the datasource count. Fails at once on a
    /// load error instead of waiting for the timeout.
    pub fn wait_for_table(&mut self) -> usize {
        // With several profiles the console starts on the overview: open the first tab.
        self.wait_for("the overview or the datasource table", |t| {
            t.contains("On call —") || kind_count(t, "Datasources").is_some()
        });
        if self.text().contains("On call —") {
            self.send(b"1");
        }
        self.wait_for("the datasource table", |t| {
            t.contains("Load failed")
                || (t.contains("DEMO") && kind_count(t, "Datasources") > Some(0))
        });
        let t = self.text();
        assert!(!t.contains("Load failed"), "the demo failed to load");
        kind_count(&t, "Datasources").unwrap_or(0)
    }

    /// Wait until the datasource tab shows exactly `n` loaded rows. Fails at once on a load
    /// error.
    pub fn wait_for_datasources(&mut self, n: usize) {
        self.wait_for(&format!("Datasources ({n})"), |t| {
            t.contains("Load failed") || kind_count(t, "Datasources") == Some(n)
        });
        assert!(!self.text().contains("Load failed"), "the load failed");
    }

    /// Whether the line discipline is cooked (canonical, echo), as a shell needs it. Read on
    /// the master: on Linux that reports the slave's settings.
    pub fn cooked(&self) -> bool {
        // SAFETY: termios is plain data, so all-zero is a valid value; tcgetattr overwrites it.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: the master descriptor is open and `t` is valid for writes.
        let rc = unsafe { libc::tcgetattr(self.master.as_raw_fd(), &mut t) };
        assert_eq!(rc, 0, "tcgetattr: {}", io::Error::last_os_error());
        t.c_lflag & (libc::ICANON | libc::ECHO) == libc::ICANON | libc::ECHO
    }

    /// Change the window size the way a terminal emulator does: TIOCSWINSZ on the master,
    /// and the kernel sends SIGWINCH to the foreground process group (the child's session).
    pub fn resize(&mut self, cols: u16, rows: u16) {
        let ws = winsize(cols, rows);
        // vt100 0.15 overflows when a line wraps on a 1-row screen (or a double-width
        // character lands on a 1-column one): the emulated screen keeps at least 2x2. The
        // program still sees `cols` x `rows`.
        self.parser().set_size(rows.max(2), cols.max(2));
        // SAFETY: the master descriptor is open and `ws` is a valid winsize for the call.
        let rc = unsafe { libc::ioctl(self.master.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
        assert_ne!(rc, -1, "TIOCSWINSZ: {}", io::Error::last_os_error());
    }

    /// The exit status once the child exits within `limit`, else None.
    pub fn exit_within(&mut self, limit: Duration) -> Option<ExitStatus> {
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

    pub fn wait_exit(&mut self) -> ExitStatus {
        let status = self.exit_within(TIMEOUT);
        status.unwrap_or_else(|| panic!("dsconsole did not exit within {TIMEOUT:?}"))
    }

    /// Press q: the program exits with status 0 and gives the terminal back.
    pub fn quit(&mut self) {
        self.send(b"q");
        self.assert_quit_ok();
    }

    pub fn assert_quit_ok(&mut self) {
        let status = self.wait_exit();
        assert!(status.success(), "q exits with status 0, got {status:?}");
        self.assert_terminal_restored();
    }

    /// The terminal as the user's shell gets it back: main screen, visible cursor, cooked.
    pub fn assert_terminal_restored(&mut self) {
        self.wait_screen("the terminal to be restored", |s| {
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
    raw: &Mutex<Vec<u8>>,
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
        raw.lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(chunk);
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
pub fn kind_count(screen: &str, kind: &str) -> Option<usize> {
    let start = screen.find(&format!("{kind} ("))? + kind.len() + 2;
    let inner = &screen[start..start + screen[start..].find(')')?];
    inner.rsplit('/').next()?.parse().ok()
}

pub fn read_audit(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad audit line {l:?}: {e}")))
        .collect()
}
