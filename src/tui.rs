//! Terminal setup and restore, and the event loop: one `select!` over terminal events,
//! task results, a clock tick and signals. Draws only when something changed.

use crate::app::effect::Effect;
use crate::app::msg::Msg;
use crate::app::runtime::{Runtime, RuntimeProfile};
use crate::app::state::{JobKind, Model, ProfileInfo};
use crate::app::update::{init, update};
use crate::model::VendorId;
use crate::signals::{listen_for_stop_signals, StopSignal, SHUTDOWN_GRACE};
use crate::vendors::{self, ClientSettings};
use crossterm::event::{DisableBracketedPaste, EnableBracketedPaste, Event, EventStream};
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use crossterm::{cursor, execute};
use futures::StreamExt;
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;
use std::io::{self, Write};
use std::sync::Arc;
use std::sync::Once;
use std::time::Duration;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

/// Whether the TUI owns the terminal (raw mode, alternate screen) right now.
static TERMINAL_TAKEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Put the terminal back as we found it. Safe to call more than once: only the first call
/// after the TUI took the terminal does anything (leaving the alternate screen twice would
/// move the cursor back over what was printed in between, such as a panic report).
pub fn restore_terminal() {
    if !TERMINAL_TAKEN.swap(false, std::sync::atomic::Ordering::SeqCst) {
        return;
    }
    let _ = disable_raw_mode();
    let mut out = io::stdout();
    let _ = execute!(
        out,
        DisableBracketedPaste,
        LeaveAlternateScreen,
        cursor::Show
    );
    let _ = out.flush();
}

/// Restores the terminal when dropped, whatever way the loop ends.
struct TerminalGuard;

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

/// Make panics of the thread that owns the terminal restore it before the report is
/// printed (color-eyre's panic report: message, location, how to get a backtrace; no colours,
/// through the sanitizer). A panic in a background task (a tokio worker) must not touch the
/// terminal the UI is still drawing on: its report goes to the log, and the runtime reports
/// the failed task. Also installs color-eyre's error report for unexpected top-level errors.
/// Call it from the main thread.
pub fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let (panic_hook, eyre_hook) = color_eyre::config::HookBuilder::default()
            .theme(color_eyre::config::Theme::new())
            .display_env_section(false)
            .into_hooks();
        if let Err(e) = eyre_hook.install() {
            tracing::debug!("error report hook already installed: {e}");
        }
        let main = std::thread::current().id();
        std::panic::set_hook(Box::new(move |info| {
            let report = panic_hook.panic_report(info).to_string();
            if std::thread::current().id() == main {
                restore_terminal();
                let mut err = io::stderr().lock();
                for line in crate::text::sanitize_lines(&report) {
                    let _ = writeln!(err, "{line}");
                }
            } else {
                tracing::error!("panic in a background task: {report}");
            }
        }));
    });
}

/// The report of an unexpected top-level error (not one of the expected failures, which
/// keep their one sentence): color-eyre's chain of causes, sanitized.
pub fn unexpected_error_report(
    context: &str,
    error: impl std::error::Error + Send + Sync + 'static,
) -> String {
    let report = color_eyre::eyre::Report::new(error).wrap_err(context.to_string());
    crate::text::sanitize_lines(&format!("{report:?}")).join("\n")
}

fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

/// How the TUI ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TuiEnd {
    /// The signal that ended it, if one did.
    pub signal: Option<StopSignal>,
    /// A delete or create was running when the signal arrived: the run was cut short.
    pub cut_short: bool,
}

/// Whether a job that changes vendor state (a delete or a create) is running.
fn mutation_running(model: &Model) -> bool {
    model.jobs.values().any(|j| {
        j.running()
            && matches!(
                j.kind,
                JobKind::Delete(_)
                    | JobKind::Create { .. }
                    | JobKind::Change { .. }
                    | JobKind::Restore { .. }
            )
    })
}

/// Run the TUI until the user quits or a signal arrives. Cancels jobs and logs out before
/// returning. SIGINT, SIGTERM and SIGHUP all end it the same way: nothing new starts, the
/// terminal is restored, requests in flight get up to 10 s and are then recorded as
/// "unknown" in the audit log.
pub async fn run(
    mut model: Model,
    mut runtime: Runtime,
    tx: UnboundedSender<Msg>,
    mut rx: UnboundedReceiver<Msg>,
) -> io::Result<TuiEnd> {
    install_panic_hook();
    enable_raw_mode()?;
    TERMINAL_TAKEN.store(true, std::sync::atomic::Ordering::SeqCst);
    let guard = TerminalGuard;
    execute!(
        io::stdout(),
        EnterAlternateScreen,
        EnableBracketedPaste,
        cursor::Hide
    )?;
    let mut terminal = Terminal::new(CrosstermBackend::new(io::stdout()))?;
    terminal.clear()?;

    let (sig_tx, mut signals) = tokio::sync::mpsc::unbounded_channel();
    let listeners = listen_for_stop_signals(sig_tx);
    let mut end = TuiEnd::default();
    // The runtime holds its own sender; the loop only reads.
    drop(tx);

    let size = terminal.size()?;
    model.now = now_secs();
    model.measures = crate::ui::MEASURES;
    let mut effects = update(
        &mut model,
        Msg::Resize {
            width: size.width,
            height: size.height,
        },
    );
    effects.extend(init(&mut model));
    let mut events = EventStream::new();
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut dirty = true;
    let panic_after_load = std::env::var("DSCONSOLE_TEST_PANIC").is_ok_and(|v| v == "after-load");

    loop {
        for e in effects.drain(..) {
            match e {
                Effect::Copy(text) => copy_osc52(&text),
                Effect::Quit => model.should_quit = true,
                other => runtime.run(other),
            }
        }
        if model.should_quit {
            break;
        }
        if dirty {
            terminal.draw(|f| crate::ui::draw(&model, f))?;
            dirty = false;
        }
        tokio::select! {
            ev = events.next() => {
                match ev {
                    Some(Ok(Event::Key(k))) => { effects = update(&mut model, Msg::Key(k)); dirty = true; }
                    Some(Ok(Event::Resize(w, h))) => {
                        effects = update(&mut model, Msg::Resize { width: w, height: h });
                        // Always clear and repaint everything: a shrink and grow that arrive as
                        // one event leave the screen erased outside the small size, which a
                        // size-change check would not notice.
                        let size = terminal.size()?;
                        terminal.resize(ratatui::layout::Rect::new(0, 0, size.width, size.height))?;
                        dirty = true;
                    }
                    Some(Ok(Event::Paste(s))) => { effects = update(&mut model, Msg::Paste(s)); dirty = true; }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => {
                        tracing::error!("terminal event error: {e}");
                        break;
                    }
                    None => break,
                }
            }
            msg = rx.recv() => {
                if let Some(msg) = msg {
                    if panic_after_load && matches!(msg, Msg::Loaded { .. }) {
                        // Test hook (DSCONSOLE_TEST_PANIC=after-load): proves a panic restores
                        // the terminal and prints no secret.
                        panic!("forced test panic after a load (DSCONSOLE_TEST_PANIC)");
                    }
                    effects = update(&mut model, msg);
                    // Drain what else is waiting before drawing once.
                    while let Ok(more) = rx.try_recv() {
                        if panic_after_load && matches!(more, Msg::Loaded { .. }) {
                            panic!("forced test panic after a load (DSCONSOLE_TEST_PANIC)");
                        }
                        effects.extend(update(&mut model, more));
                    }
                    dirty = true;
                }
            }
            Some(sig) = signals.recv() => {
                tracing::warn!("{} received: leaving", sig.name());
                if end.signal.is_none() {
                    end = TuiEnd {
                        signal: Some(sig),
                        cut_short: mutation_running(&model),
                    };
                }
                effects = update(&mut model, Msg::Terminate);
                dirty = true;
            }
            _ = tick.tick() => {
                effects = update(&mut model, Msg::Tick { now: now_secs() });
                dirty = true;
            }
        }
    }
    // Restore first so the user has their shell back while jobs wind down and we log out.
    drop(terminal);
    drop(guard);
    // Requests in flight get a grace period; another signal ends it at once. Either way
    // what is still open is recorded as "unknown" in the audit log.
    tokio::select! {
        () = runtime.shutdown(SHUTDOWN_GRACE) => {}
        Some(sig) = signals.recv() => {
            tracing::warn!("{} received again: not waiting for requests in flight", sig.name());
            runtime.shutdown(Duration::ZERO).await;
        }
    }
    for l in listeners {
        l.abort();
    }
    Ok(end)
}

/// A profile ready for the TUI: what the tab shows and the client (or why there is none).
pub struct LaunchProfile {
    pub info: ProfileInfo,
    pub client: Option<Arc<dyn vendors::VendorApi>>,
    /// The client when it comes later (the demo's, once its simulator listens).
    pub late: Option<crate::app::runtime::LateClient>,
    pub concurrency: usize,
    /// The base URL's host, shown in the overview.
    pub tenant: String,
}

impl LaunchProfile {
    pub fn from_settings(
        settings: Result<ClientSettings, (VendorId, String, String)>,
        protected: bool,
        concurrency: usize,
    ) -> Self {
        match settings {
            Ok(s) => {
                let tenant = crate::overview::tenant_of(&s.base_url);
                let info = ProfileInfo {
                    name: s.profile.clone(),
                    vendor: s.vendor,
                    read_only: s.read_only,
                    protected,
                    insecure_tls: s.insecure_tls,
                    setup_error: None,
                };
                match vendors::connect(s) {
                    Ok(client) => LaunchProfile {
                        info,
                        client: Some(client),
                        late: None,
                        concurrency,
                        tenant,
                    },
                    Err(e) => LaunchProfile {
                        info: ProfileInfo {
                            setup_error: Some(e.to_string()),
                            ..info
                        },
                        client: None,
                        late: None,
                        concurrency,
                        tenant,
                    },
                }
            }
            Err((vendor, name, error)) => LaunchProfile {
                info: ProfileInfo {
                    name,
                    vendor,
                    read_only: true,
                    protected,
                    insecure_tls: false,
                    setup_error: Some(error),
                },
                client: None,
                late: None,
                concurrency,
                tenant: String::new(),
            },
        }
    }
}

/// How the TUI starts, besides its profiles.
#[derive(Debug, Clone, Default)]
pub struct LaunchOptions {
    /// Profiles are the built-in simulators.
    pub demo: bool,
    /// A line shown above the tabs (e.g. where the config would go).
    pub banner: Option<String>,
    /// Reload every N seconds (0 = never).
    pub refresh_seconds: u64,
    pub no_color: bool,
}

/// Build the model and the runtime for `profiles` and run the TUI until it ends.
pub async fn launch(
    profiles: Vec<LaunchProfile>,
    options: LaunchOptions,
    audit: std::sync::Arc<crate::ops::audit::AuditLog>,
) -> io::Result<TuiEnd> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let infos: Vec<ProfileInfo> = profiles.iter().map(|p| p.info.clone()).collect();
    let tenants: Vec<String> = profiles.iter().map(|p| p.tenant.clone()).collect();
    let runtime_profiles = profiles
        .into_iter()
        .map(|p| RuntimeProfile {
            name: p.info.name,
            client: p.client,
            late: p.late,
            concurrency: p.concurrency,
        })
        .collect();
    let data_dir = crate::config::data_dir();
    let history = crate::ops::command_history::path_in(&data_dir);
    let runtime = Runtime::new(runtime_profiles, audit, tx.clone())
        .with_history(history)
        .with_watch(data_dir);
    let mut model = Model::new(infos, chrono::Utc::now().timestamp());
    // Each profile observes once its history of earlier runs has been read.
    for tab in model.profiles.iter_mut() {
        tab.watch.ready = false;
    }
    model.demo = options.demo;
    model.banner = options.banner;
    model.refresh_seconds = options.refresh_seconds;
    model.no_color = options.no_color;
    for (tab, tenant) in model.profiles.iter_mut().zip(tenants) {
        tab.tenant = tenant;
    }
    // With more than one profile the on-call overview is the first screen.
    if model.profiles.len() > 1 {
        model.overview = Some(0);
    }
    run(model, runtime, tx, rx).await
}

fn copy_osc52(text: &str) {
    use crossterm::clipboard::CopyToClipboard;
    let _ = execute!(io::stdout(), CopyToClipboard::to_clipboard_from(text));
}
