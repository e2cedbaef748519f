//! Stop signals (SIGINT, SIGTERM, SIGHUP), handled the same way by the TUI and the headless
//! commands: caught, turned into a message, and answered with a bounded shutdown.

use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;

/// How long requests in flight may take to finish once dsconsole is leaving.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

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

/// Stop signals caught from `listen()` on, until dropped: listen before starting the work
/// they should stop, so that none arrives before it is caught.
pub struct StopSignals {
    pub rx: tokio::sync::mpsc::UnboundedReceiver<StopSignal>,
    tasks: Vec<JoinHandle<()>>,
}

impl StopSignals {
    pub fn listen() -> StopSignals {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        StopSignals {
            rx,
            tasks: listen_for_stop_signals(tx),
        }
    }
}

impl Drop for StopSignals {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}
