//! Terminal setup and restore, and the event loop: one `select!` over terminal events,
//! task results, a clock tick and signals. Draws only when something changed.

use crate::app::effect::Effect;
use crate::app::msg::Msg;
use crate::app::runtime::Runtime;
use crate::app::state::Model;
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

fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Run the TUI until the user quits or a signal arrives. Cancels jobs and logs out before
/// returning.
pub async fn run(
    mut model: Model,
    mut runtime: Runtime,
    tx: UnboundedSender<Msg>,
    mut rx: UnboundedReceiver<Msg>,
) -> io::Result<()> {
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

    spawn_signal_listeners(tx.clone());

    let size = terminal.size()?;
    model.now = now_secs();
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
            _ = tick.tick() => {
                effects = update(&mut model, Msg::Tick { now: now_secs() });
                dirty = true;
            }
        }
    }
    // Restore first so the user has their shell back while jobs wind down and we log out.
    drop(terminal);
    drop(guard);
    runtime.shutdown(Duration::from_secs(10)).await;
    Ok(())
}

fn spawn_signal_listeners(tx: UnboundedSender<Msg>) {
    use tokio::signal::unix::{signal, SignalKind};
    for kind in [SignalKind::terminate(), SignalKind::hangup()] {
        let tx = tx.clone();
        if let Ok(mut s) = signal(kind) {
            tokio::spawn(async move {
                if s.recv().await.is_some() {
                    tracing::warn!("signal received: leaving");
                    let _ = tx.send(Msg::Terminate);
                }
            });
        }
    }
}

fn copy_osc52(text: &str) {
    use crossterm::clipboard::CopyToClipboard;
    let _ = execute!(io::stdout(), CopyToClipboard::to_clipboard_from(text));
}
