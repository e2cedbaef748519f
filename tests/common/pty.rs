//! A pseudo-terminal harness for end-to-end tests: runs the real `dsconsole` binary in a
//! pty, types keys (and bracketed pastes) as a user would, and reads the screen back through
//! a vt100 emulator.

#![allow(dead_code)]

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
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

/// Serialises "open a pty, spawn a child" across test threads, so that no child inherits
/// another test's pty descriptors before they are close-on-exec.
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
    // SAFETY: the out-pointers are valid for writes, name and termp may be null, and `ws`
    // outlives the call.
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
pub struct Session {
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
    pub fn demo(cols: u16, rows: u16) -> Session {
        Session::spawn(cols, rows, |cmd| {
            cmd.arg("demo");
        })
    }

    /// The binary in a `cols` x `rows` terminal with HOME and the data dir in a temporary
    /// directory; `configure` adds the arguments.
    pub fn spawn(cols: u16, rows: u16, configure: impl FnOnce(&mut Command)) -> Session {
        let dir = tempfile::tempdir().expect("temp dir");
        let home = dir.path().join("home");
        std::fs::create_dir_all(&home).expect("home dir");
        let data = dir.path().join("data");
        let guard = SPAWN_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let (master, slave) = open_pty(cols, rows);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_dsconsole"));
        cmd.env("TERM", "xterm-256color")
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .env("DSCONSOLE_DATA_DIR", &data)
            .env_remove("DSCONSOLE_CONFIG")
            .env_remove("DSCONSOLE_LOG")
            .env_remove("DSCONSOLE_TEST_PANIC")
            .env_remove("NO_COLOR")
            .stdin(Stdio::from(slave.try_clone().expect("dup slave")))
            .stdout(Stdio::from(slave.try_clone().expect("dup slave")))
            .stderr(Stdio::from(slave));
        configure(&mut cmd);
        // SAFETY: the closure runs in the forked child before exec and calls only
        // async-signal-safe functions (setsid, ioctl): the pty becomes the controlling
        // terminal of a new session.
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

    pub fn audit_path(&self) -> PathBuf {
        self.dir.path().join("data").join("audit.jsonl")
    }

    /// The audit log's lines (none when the file does not exist).
    pub fn audit_lines(&self) -> Vec<String> {
        std::fs::read_to_string(self.audit_path())
            .map(|t| t.lines().map(str::to_string).collect())
            .unwrap_or_default()
    }

    fn parser(&self) -> MutexGuard<'_, vt100::Parser> {
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

    /// Wait until `pred` holds for the screen; fails after `TIMEOUT` or at end of output.
    pub fn wait_for(&mut self, what: &str, pred: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + TIMEOUT;
        let mut open = true;
        while !pred(&self.text()) {
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

    pub fn wait_for_text(&mut self, needle: &str) {
        self.wait_for(&format!("{needle:?}"), |s| s.contains(needle));
    }

    pub fn wait_gone(&mut self, needle: &str) {
        self.wait_for(&format!("{needle:?} to disappear"), |s| !s.contains(needle));
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

    /// Wait for the demo's first load; returns the datasource count.
    pub fn wait_for_table(&mut self) -> usize {
        self.wait_for("the datasource table", |t| {
            t.contains("Load failed")
                || (t.contains("DEMO") && kind_count(t, "Datasources") > Some(0))
        });
        let t = self.text();
        assert!(!t.contains("Load failed"), "the demo failed to load");
        kind_count(&t, "Datasources").unwrap_or(0)
    }

    /// Press q and wait for a clean exit.
    pub fn quit(&mut self) {
        self.send(b"q");
        let deadline = Instant::now() + TIMEOUT;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                self.status = Some(status);
                assert!(status.success(), "q exits with status 0, got {status:?}");
                return;
            }
            let _ = self.output.recv_timeout(Duration::from_millis(50));
        }
        panic!("dsconsole did not exit within {TIMEOUT:?}");
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
/// cursor-position queries (`ESC [ 6 n`) as a real terminal does.
fn emulate(
    mut reader: File,
    mut answers: File,
    parser: &Mutex<vt100::Parser>,
    processed: &Sender<()>,
) {
    const DSR: &[u8] = b"\x1b[6n";
    let mut buf = [0u8; 16 * 1024];
    let mut tail: Vec<u8> = Vec::new();
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
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
pub fn kind_count(screen: &str, kind: &str) -> Option<usize> {
    let start = screen.find(&format!("{kind} ("))? + kind.len() + 2;
    let inner = &screen[start..start + screen[start..].find(')')?];
    inner.rsplit('/').next()?.parse().ok()
}
