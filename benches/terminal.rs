//! End-to-end measurements of the real `dsconsole` binary (release build) in a
//! pseudo-terminal, with the screen read back through a vt100 emulator:
//!
//! 1. start to first frame: from spawning `dsconsole demo` (and `dsconsole --config` against a
//!    server that is already up) to the moment the emulated screen first shows the profile tab;
//! 2. resident memory with 100,000 resources loaded: VmRSS and VmHWM of the dsconsole process
//!    (from /proc/PID/status) once its table shows the load of a MicroStrategy simulator
//!    holding 33,334 objects per kind (100,002 in all), and, for scale, 100,000 per kind;
//! 3. key press to redrawn frame while a 1,000-object bulk delete runs against a simulator
//!    adding 20 ms per request: `?` (help opens) and `Esc` (help closes) alternately, each
//!    timed from the write to the pty until the emulator has processed the frame that shows
//!    the change.
//!
//! The simulators run in this process, so the dsconsole process's memory is its own.
//! Every time includes the pty round trip and the emulator's parsing (microseconds).
//!
//! Run: `cargo bench --bench terminal` (about a minute).

use dsconsole::sim::microstrategy::{self as msim, MstrSim};
use dsconsole::sim::SimOptions;
use std::error::Error;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

type Res<T> = Result<T, Box<dyn Error>>;

const COLS: u16 = 120;
const ROWS: u16 = 40;
/// How long any one wait may take before the benchmark gives up.
const TIMEOUT: Duration = Duration::from_secs(120);
const PASSWORD_ENV: &str = "DSCONSOLE_BENCH_PASSWORD";

/// A screen predicate the reader thread evaluates after every chunk of output.
type Pred = Box<dyn Fn(&vt100::Screen) -> bool + Send>;

struct Screen {
    parser: vt100::Parser,
    /// The pending wait: checked by the reader after each chunk, so the time recorded is
    /// the time the chunk that satisfied it was processed.
    waiting: Option<Pred>,
    hit: Option<Instant>,
    closed: bool,
}

struct Shared {
    screen: Mutex<Screen>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Screen> {
        self.screen.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// `dsconsole` running in a pty of COLS x ROWS.
struct Session {
    child: Child,
    master: File,
    shared: Arc<Shared>,
    _dir: tempfile::TempDir,
}

fn open_pty() -> Res<(OwnedFd, OwnedFd)> {
    let mut master: libc::c_int = -1;
    let mut slave: libc::c_int = -1;
    let ws = libc::winsize {
        ws_row: ROWS,
        ws_col: COLS,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: the out-pointers are valid for writes, name and termios may be null, `ws`
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
    if rc != 0 {
        return Err(format!("openpty: {}", io::Error::last_os_error()).into());
    }
    // SAFETY: openpty succeeded: two fresh descriptors nothing else owns.
    let pair = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    for fd in [&pair.0, &pair.1] {
        // SAFETY: an open descriptor we own; F_SETFD only changes its flags.
        if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) } == -1 {
            return Err(format!("fcntl: {}", io::Error::last_os_error()).into());
        }
    }
    Ok(pair)
}

impl Session {
    /// Spawn dsconsole with `args`, a private HOME and data directory; `t0` is taken right
    /// before the spawn.
    fn spawn(args: &[&str], config: Option<&str>) -> Res<(Session, Instant)> {
        Session::spawn_env(args, config, &[])
    }

    /// `spawn` with extra environment variables.
    fn spawn_env(
        args: &[&str],
        config: Option<&str>,
        env: &[(&str, &str)],
    ) -> Res<(Session, Instant)> {
        let dir = tempfile::tempdir()?;
        let home = dir.path().join("home");
        std::fs::create_dir_all(&home)?;
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_dsconsole"));
        if let Some(text) = config {
            let path = dir.path().join("config.toml");
            std::fs::write(&path, text)?;
            cmd.arg("--config").arg(path);
        }
        let (master, slave) = open_pty()?;
        cmd.args(args)
            .env("TERM", "xterm-256color")
            .env("HOME", &home)
            .env("DSCONSOLE_DATA_DIR", dir.path().join("data"))
            .env(PASSWORD_ENV, msim::DEMO_PASSWORD)
            .env_remove("DSCONSOLE_CONFIG")
            .env_remove("NO_COLOR")
            .env_remove("RUST_LOG")
            .envs(env.iter().copied())
            .stdin(Stdio::from(slave.try_clone()?))
            .stdout(Stdio::from(slave.try_clone()?))
            .stderr(Stdio::from(slave));
        // SAFETY: runs in the forked child before exec and calls only async-signal-safe
        // functions; fd 0 is already the pty slave, which becomes the controlling terminal.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() == -1 || libc::ioctl(0, libc::TIOCSCTTY, 0) == -1 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let shared = Arc::new(Shared {
            screen: Mutex::new(Screen {
                parser: vt100::Parser::new(ROWS, COLS, 0),
                waiting: None,
                hit: None,
                closed: false,
            }),
            changed: Condvar::new(),
        });
        let reader = File::from(master.try_clone()?);
        let answers = File::from(master.try_clone()?);
        let t0 = Instant::now();
        let child = cmd.spawn()?;
        drop(cmd);
        let s = Arc::clone(&shared);
        thread::spawn(move || emulate(reader, answers, &s));
        Ok((
            Session {
                child,
                master: File::from(master),
                shared,
                _dir: dir,
            },
            t0,
        ))
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn text(&self) -> String {
        self.shared.lock().parser.screen().contents()
    }

    fn send(&mut self, bytes: &[u8]) -> Res<Instant> {
        let t = Instant::now();
        self.master.write_all(bytes)?;
        self.master.flush()?;
        Ok(t)
    }

    /// Register `pred`; returns when the reader saw it hold, with the time of that chunk.
    /// If it already holds, returns now.
    fn wait(
        &self,
        what: &str,
        pred: impl Fn(&vt100::Screen) -> bool + Send + 'static,
    ) -> Res<Instant> {
        let deadline = Instant::now() + TIMEOUT;
        let mut g = self.shared.lock();
        if pred(g.parser.screen()) {
            return Ok(Instant::now());
        }
        g.hit = None;
        g.waiting = Some(Box::new(pred));
        loop {
            if let Some(t) = g.hit.take() {
                g.waiting = None;
                return Ok(t);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if g.closed || left.is_zero() {
                g.waiting = None;
                let screen = g.parser.screen().contents();
                return Err(
                    format!("no {what} (output closed: {}); screen:\n{screen}", g.closed).into(),
                );
            }
            g = self
                .shared
                .changed
                .wait_timeout(g, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    fn wait_text(&self, needle: &'static str) -> Res<Instant> {
        self.wait(&format!("{needle:?}"), move |s| {
            s.contents().contains(needle)
        })
    }

    /// Quit: `q` (and `y` if a job still runs), then make sure the process is gone.
    fn quit(mut self) -> Res<()> {
        let _ = self.send(b"q");
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        Err("dsconsole did not quit on q".into())
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// The terminal side: feed output to the emulator, answer cursor-position queries as a
/// terminal does (ratatui asks at start-up), and check the pending predicate.
fn emulate(mut reader: File, mut answers: File, shared: &Shared) {
    const DSR: &[u8] = b"\x1b[6n";
    let mut buf = [0u8; 64 * 1024];
    let mut tail: Vec<u8> = Vec::new();
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        let chunk = &buf[..n];
        let (row, col) = {
            let mut g = shared.lock();
            g.parser.process(chunk);
            let now = Instant::now();
            let holds = g.waiting.as_ref().is_some_and(|p| p(g.parser.screen()));
            if holds && g.hit.is_none() {
                g.hit = Some(now);
            }
            shared.changed.notify_all();
            g.parser.screen().cursor_position()
        };
        tail.extend_from_slice(chunk);
        let queries = tail.windows(DSR.len()).filter(|w| *w == DSR).count();
        let keep = tail.len().saturating_sub(DSR.len() - 1);
        tail.drain(..keep);
        for _ in 0..queries {
            let reply = format!("\x1b[{};{}R", row + 1, col + 1);
            if answers.write_all(reply.as_bytes()).is_err() {
                break;
            }
        }
    }
    shared.lock().closed = true;
    shared.changed.notify_all();
}

/// The number in a kind tab label such as "Datasources (14)" or "Datasources (3/14)".
fn kind_count(screen: &str, kind: &str) -> Option<usize> {
    let start = screen.find(&format!("{kind} ("))? + kind.len() + 2;
    let inner = &screen[start..start + screen[start..].find(')')?];
    inner.rsplit('/').next()?.parse().ok()
}

fn status_kb(pid: u32, field: &str) -> Res<u64> {
    let text = std::fs::read_to_string(PathBuf::from(format!("/proc/{pid}/status")))?;
    text.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| format!("no {field} in /proc/{pid}/status").into())
}

fn config_for(sim: &MstrSim, concurrency: usize) -> String {
    format!(
        "[ui]\nrefresh_seconds = 0\n\n[[profiles]]\nname = \"bench\"\nvendor = \"microstrategy\"\n\
         base_url = \"{}\"\nusername = \"{}\"\npassword_env = \"{PASSWORD_ENV}\"\n\
         concurrency = {concurrency}\ntimeout_seconds = 120\n",
        sim.base_url,
        msim::DEMO_USERNAME
    )
}

struct Stats {
    samples: Vec<f64>,
}

impl Stats {
    fn new(mut samples: Vec<f64>) -> Stats {
        samples.sort_by(f64::total_cmp);
        Stats { samples }
    }
    fn pct(&self, p: f64) -> f64 {
        if self.samples.is_empty() {
            return f64::NAN;
        }
        let i = ((self.samples.len() - 1) as f64 * p).round() as usize;
        self.samples[i.min(self.samples.len() - 1)]
    }
    fn line(&self, unit: &str) -> String {
        format!(
            "n={} min {:.1} {unit}, median {:.1} {unit}, p95 {:.1} {unit}, max {:.1} {unit}",
            self.samples.len(),
            self.pct(0.0),
            self.pct(0.5),
            self.pct(0.95),
            self.pct(1.0)
        )
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Issue 18: `dsconsole demo --scale N` start to first frame, `runs` times each, for the
/// default scale (the baseline, same run) and 100,000 per kind; and at 100,000 the time until
/// the MicroStrategy profile's load has arrived (its row on the overview stops reading
/// "never"). The demo draws before its simulators generate their data.
fn first_frame_scaled(runs: usize) -> Res<()> {
    let first_frame = |s: &vt100::Screen| s.contents().contains("demo-mstr");
    println!("demo start to first frame (spawn -> tabs on screen), 120x40:");
    for scale in ["0", "100000"] {
        let mut first = Vec::new();
        let mut loaded = Vec::new();
        for _ in 0..runs {
            let (s, t0) = Session::spawn(&["demo", "--scale", scale], None)?;
            let t1 = s.wait("the first frame", first_frame)?;
            first.push(ms(t1 - t0));
            if scale != "0" {
                let t2 = s.wait("demo-mstr loaded", |sc| {
                    sc.contents()
                        .lines()
                        .find(|l| l.contains("demo-mstr") && !l.contains("Overview"))
                        .is_some_and(|l| l.contains(" ago"))
                })?;
                loaded.push(ms(t2 - t0));
            }
            s.quit()?;
        }
        println!(
            "  demo --scale {scale:>6}: first frame {}",
            Stats::new(first).line("ms")
        );
        if !loaded.is_empty() {
            println!(
                "  demo --scale {scale:>6}: demo-mstr loaded {}",
                Stats::new(loaded).line("ms")
            );
        }
    }
    Ok(())
}

/// Start to first frame, `runs` times: `dsconsole demo`, and `dsconsole --config` whose
/// profile points at a simulator that is already running (the load is not awaited).
fn start_to_first_frame(rt: &tokio::runtime::Runtime, runs: usize) -> Res<()> {
    let first_frame =
        |s: &vt100::Screen| s.contents().contains("demo-mstr") || s.contents().contains("· bench");
    let mut demo_first = Vec::new();
    let mut demo_loaded = Vec::new();
    for _ in 0..runs {
        let (s, t0) = Session::spawn(&["demo"], None)?;
        let t1 = s.wait("the first frame", first_frame)?;
        let t2 = s.wait("the loaded table", |sc| {
            kind_count(&sc.contents(), "Datasources").is_some_and(|n| n > 0)
        })?;
        demo_first.push(ms(t1 - t0));
        demo_loaded.push(ms(t2 - t0));
        s.quit()?;
    }
    let sim = rt.block_on(msim::start(&SimOptions::default()))?;
    let config = config_for(&sim, 4);
    let mut cfg_first = Vec::new();
    for _ in 0..runs {
        let (s, t0) = Session::spawn(&[], Some(&config))?;
        let t1 = s.wait("the first frame", first_frame)?;
        cfg_first.push(ms(t1 - t0));
        s.wait("the loaded table", |sc| {
            kind_count(&sc.contents(), "Datasources").is_some_and(|n| n > 0)
        })?;
        s.quit()?;
    }
    sim.shutdown();
    println!("start to first frame (spawn -> profile tab on screen), 120x40:");
    println!(
        "  dsconsole demo:            {}",
        Stats::new(demo_first).line("ms")
    );
    println!(
        "  dsconsole --config (mstr): {}",
        Stats::new(cfg_first).line("ms")
    );
    println!(
        "  (demo, spawn -> seed data in the table: {})",
        Stats::new(demo_loaded).line("ms")
    );
    Ok(())
}

/// Resident memory of dsconsole once its table shows `scale` datasources (3 * scale
/// objects in the profile).
fn memory(rt: &tokio::runtime::Runtime, scale: usize, tunables: Option<&str>) -> Res<()> {
    let sim = rt.block_on(msim::start(&SimOptions {
        scale,
        ..SimOptions::default()
    }))?;
    let expected = sim.control.ids("datasources").len();
    let objects = expected + sim.control.ids("connections").len() + sim.control.ids("logins").len();
    let config = config_for(&sim, 4);
    let env: Vec<(&str, &str)> = tunables
        .map(|t| ("GLIBC_TUNABLES", t))
        .into_iter()
        .collect();
    let (s, t0) = Session::spawn_env(&[], Some(&config), &env)?;
    let t = s.wait("the loaded table", move |sc| {
        kind_count(&sc.contents(), "Datasources") == Some(expected)
    })?;
    let load = t - t0;
    // Let the allocator settle after the load's temporary buffers are freed.
    thread::sleep(Duration::from_millis(500));
    let rss = status_kb(s.pid(), "VmRSS:")?;
    let hwm = status_kb(s.pid(), "VmHWM:")?;
    println!(
        "memory with {objects} objects loaded ({expected} datasources){}: VmRSS {:.1} MB, VmHWM (peak) {:.1} MB; spawn -> table loaded {:.2} s",
        tunables.map(|t| format!(" [GLIBC_TUNABLES={t}]")).unwrap_or_default(),
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0,
        load.as_secs_f64()
    );
    s.quit()?;
    sim.shutdown();
    Ok(())
}

/// Key press to redrawn frame while a 1,000-datasource delete runs (20 ms per request), in a
/// profile of `scale` objects per kind. With a larger scale the 1,000 are picked with the
/// filter `'source\ 01` (Generated Source 01000 to 01999), as an operator would. Keys are
/// sampled while the job runs and for 3 s after it ends, when the app drops the deleted rows
/// (re-index of the whole profile) and reloads it.
fn key_during_delete(rt: &tokio::runtime::Runtime, scale: usize, concurrency: usize) -> Res<()> {
    const N: usize = 1_000;
    let sim = rt.block_on(msim::start(&SimOptions {
        scale,
        ..SimOptions::default()
    }))?;
    let total = sim.control.ids("datasources").len();
    let objects = total + sim.control.ids("connections").len() + sim.control.ids("logins").len();
    let config = config_for(&sim, concurrency);
    let (mut s, _) = Session::spawn(&[], Some(&config))?;
    s.wait("the loaded table", move |sc| {
        kind_count(&sc.contents(), "Datasources") == Some(total)
    })?;
    if total > N {
        s.send(b"/'source\\ 01")?;
        let label = format!("Datasources ({N}/{total})");
        s.wait(&label.clone(), move |sc| sc.contents().contains(&label))?;
        s.send(b"\r")?;
    }
    sim.control.set_latency(Duration::from_millis(20));
    s.send(b"A")?;
    s.wait_text("1000 marked")?;
    s.send(b"\x04")?; // Ctrl-D: delete the marked rows
    s.wait_text("Delete 1000 objects")?;
    s.send(b"1000")?;
    s.send(b"\r")?;
    // The progress dialog counts "N/1000" (it covers the status bar).
    s.wait("the delete to start", |sc| sc.contents().contains("/1000"))?;
    // Send the progress dialog to the background; the status bar keeps counting.
    s.send(b"h")?;
    s.wait_text("continues in the background")?;
    let mut during = Vec::new();
    let mut after = Vec::new();
    let started = Instant::now();
    let mut finished: Option<Instant> = None;
    loop {
        let running = s.text().contains("deleting ");
        if !running && finished.is_none() {
            finished = Some(Instant::now());
        }
        if finished.is_some_and(|f| f.elapsed() > Duration::from_secs(3)) {
            break;
        }
        let samples = if running { &mut during } else { &mut after };
        let t = s.send(b"?")?;
        let seen = s.wait_text("Keys (Esc closes)")?;
        samples.push(ms(seen - t));
        thread::sleep(Duration::from_millis(20));
        let t = s.send(b"\x1b")?;
        let seen = s.wait("the help to close", |sc| {
            !sc.contents().contains("Keys (Esc closes)")
        })?;
        samples.push(ms(seen - t));
        thread::sleep(Duration::from_millis(20));
        if started.elapsed() > TIMEOUT {
            return Err("the delete did not finish".into());
        }
    }
    let run = finished.map(|f| f - started).unwrap_or_default();
    let remaining = sim.control.ids("datasources").len();
    println!(
        "key press (? / Esc) to redrawn frame, {N}-datasource delete in a profile of {objects} objects, concurrency {concurrency}, 20 ms per request (ran ~{:.1} s; {remaining} of {total} datasources left):",
        run.as_secs_f64()
    );
    println!(
        "  while the delete runs:  {}",
        Stats::new(during).line("ms")
    );
    println!("  3 s after it finished:  {}", Stats::new(after).line("ms"));
    let _ = s.send(b"q");
    thread::sleep(Duration::from_millis(200));
    let _ = s.send(b"y");
    drop(s);
    sim.shutdown();
    Ok(())
}

fn main() -> Res<()> {
    if !std::env::args().any(|a| a == "--bench") {
        println!("terminal: run with `cargo bench --bench terminal`");
        return Ok(());
    }
    let bin = Path::new(env!("CARGO_BIN_EXE_dsconsole"));
    println!("binary: {}", bin.display());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    // `cargo bench --bench terminal -- keys` runs only the parts named.
    let parts: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let want = |p: &str| parts.is_empty() || parts.iter().any(|a| a == p);
    if want("first_frame") {
        start_to_first_frame(&rt, 20)?;
    }
    if want("first_frame_scaled") {
        first_frame_scaled(5)?;
    }
    if want("memory") {
        memory(&rt, 0, None)?;
        memory(&rt, 33_334, None)?;
        // Diagnostic: one malloc arena, so memory freed after the load is reused and the
        // difference shows how much of the resident size is allocator retention.
        memory(&rt, 33_334, Some("glibc.malloc.arena_max=1"))?;
        memory(&rt, 100_000, None)?;
    }
    if want("keys") {
        key_during_delete(&rt, 1_000, 4)?;
        key_during_delete(&rt, 1_000, 16)?;
        key_during_delete(&rt, 33_334, 4)?;
    }
    Ok(())
}
