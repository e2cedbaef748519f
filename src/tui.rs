//! Terminal setup and restore, and the event loop: one `select!` over terminal events,
//! task results, a clock tick and signals. Draws only when something changed.

use crate::app::effect::Effect;
use crate::app::msg::Msg;
use crate::app::runtime::Runtime;
use crate::app::state::{JobKind, Model};
use crate::app::update::{init, update};
use crossterm::event::{DisableBracketedPaste, EnableBracketedPaste, Event, EventStream};
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use crossterm::{cursor, execute};
use futures::StreamExt;
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;
use std::io::{self, Write};
use std::sync::Once;
use std::time::Duration;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use tokio::task::JoinHandle;

/// Put the terminal back as we found it. Safe to call more than once.
pub fn restore_terminal() {
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

/// Make panics of the thread that owns the terminal restore it before the message is
/// printed. A panic in a background task (a tokio worker) must not touch the terminal the
/// UI is still drawing on: it goes to the log, and the runtime reports the failed task.
/// Call it from the main thread.
pub fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let main = std::thread::current().id();
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if std::thread::current().id() == main {
                restore_terminal();
                previous(info);
            } else {
                tracing::error!("panic in a background task: {info}");
            }
        }));
    });
}

/// How long requests in flight may take to finish once the TUI is leaving.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

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
    model
        .jobs
        .values()
        .any(|j| j.running() && matches!(j.kind, JobKind::Delete(_) | JobKind::Create { .. }))
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

/// A signal that asks dsconsole to stop: SIGINT, SIGTERM or SIGHUP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopSignal {
    Interrupt,
    Terminate,
    Hangup,
}

impl StopSignal {
    pub fn name(self) -> &'static str {
        match self {
            StopSignal::Interrupt => "SIGINT",
            StopSignal::Terminate => "SIGTERM",
            StopSignal::Hangup => "SIGHUP",
        }
    }

    /// The exit status of a run this signal cut short: 128 + the signal number, as a shell
    /// reports a process the signal ended (130, 143, 129).
    pub fn exit_code(self) -> u8 {
        match self {
            StopSignal::Interrupt => 130,
            StopSignal::Terminate => 143,
            StopSignal::Hangup => 129,
        }
    }
}

/// From now on, SIGINT, SIGTERM and SIGHUP no longer end the process at once: each one that
/// arrives is sent to `tx`. Returns the listening tasks; abort them when done (the signals
/// stay caught for the rest of the process).
pub fn listen_for_stop_signals(tx: UnboundedSender<StopSignal>) -> Vec<JoinHandle<()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let kinds = [
        (SignalKind::interrupt(), StopSignal::Interrupt),
        (SignalKind::terminate(), StopSignal::Terminate),
        (SignalKind::hangup(), StopSignal::Hangup),
    ];
    let mut tasks = Vec::new();
    for (kind, which) in kinds {
        match signal(kind) {
            Ok(mut s) => {
                let tx = tx.clone();
                tasks.push(tokio::spawn(async move {
                    while s.recv().await.is_some() {
                        if tx.send(which).is_err() {
                            break;
                        }
                    }
                }));
            }
            Err(e) => tracing::warn!("cannot handle {}: {e}", which.name()),
        }
    }
    tasks
}

fn copy_osc52(text: &str) {
    use crossterm::clipboard::CopyToClipboard;
    let _ = execute!(io::stdout(), CopyToClipboard::to_clipboard_from(text));
}
