//! Messages into `update`: terminal events, ticks and task results.

use crate::model::Resource;
use crate::ops::executor::{StepOutcome, StepUpdate};
use crate::vendors::Snapshot;
use crossterm::event::KeyEvent;

pub use crate::ops::connection_tests::TestFailure;

#[derive(Debug, Clone)]
pub enum Msg {
    Key(KeyEvent),
    Paste(String),
    Resize {
        width: u16,
        height: u16,
    },
    /// Clock tick: the current unix time in seconds.
    Tick {
        now: i64,
    },
    /// A profile's load finished. `generation` identifies the request.
    Loaded {
        profile: usize,
        generation: u64,
        at: i64,
        result: Result<Snapshot, String>,
    },
    /// How long a profile's load took (sent just before its `Loaded`).
    LoadTook {
        profile: usize,
        generation: u64,
        ms: u64,
    },
    /// Objects that arrived while a load runs (several pages, batched).
    LoadPage {
        profile: usize,
        generation: u64,
        resources: Vec<Resource>,
    },
    /// The client suggests a starting filter for the profile's views (once, after a load).
    StartFilter {
        profile: usize,
        filter: String,
    },
    /// One step of a delete job changed state.
    DeleteStep {
        job: u64,
        update: StepUpdate,
    },
    /// A delete job ended; one outcome per plan step.
    DeleteFinished {
        job: u64,
        outcomes: Vec<StepOutcome>,
    },
    /// One connection test ended.
    TestResult {
        job: u64,
        profile: usize,
        id: String,
        result: Result<(), TestFailure>,
    },
    Created {
        job: u64,
        profile: usize,
        result: Result<Box<Resource>, String>,
    },
    /// The impact of one object of an impact job.
    Impact {
        job: u64,
        profile: usize,
        target: crate::model::Ref,
        impact: Box<crate::impact::Impact>,
    },
    /// One health check answered: the health it gives (None: nothing new), and the
    /// sentence to log when it could not run.
    Checked {
        job: u64,
        profile: usize,
        target: crate::model::Ref,
        health: Option<crate::model::Health>,
        sentence: Option<String>,
    },
    /// The runtime's own report (clipboard failed, a task panicked).
    Notice {
        error: bool,
        text: String,
    },
    /// The command history of earlier runs was read at start (empty when there is none);
    /// `warning` when the file could not be read.
    HistoryLoaded {
        entries: Vec<String>,
        warning: Option<String>,
    },
    /// A profile's watch history of earlier runs was read at start (`None`: there is none).
    WatchLoaded {
        profile: usize,
        file: Result<Option<crate::ops::watch_file::WatchFile>, String>,
    },
    /// One object of a change job has its outcome.
    ChangeStep {
        job: u64,
        outcome: crate::ops::change::ChangeOutcome,
    },
    /// A change job ended: every outcome, in plan order.
    ChangeFinished {
        job: u64,
        profile: usize,
        outcomes: Vec<crate::ops::change::ChangeOutcome>,
    },
    /// The audit log's deleted objects, oldest first (`:trash`).
    DeletedRead(Result<Vec<crate::ops::deleted::DeletedObject>, String>),
    /// One object of a restore job has its outcome.
    RestoreStep {
        job: u64,
    },
    /// A restore job ended: every outcome, in plan order.
    RestoreFinished {
        job: u64,
        profile: usize,
        outcomes: Vec<crate::ops::restore::RestoreOutcome>,
    },
    /// A profile's client arrived after the start (the demo's simulator listens now).
    ClientReady {
        profile: usize,
        tenant: String,
    },
    /// A tab's index job is done (see `app::index`).
    Indexed(Box<super::index::IndexOut>),
    /// The All tab's index job is done.
    AllIndexed(Box<super::all::AllOut>),
    /// SIGTERM / SIGHUP: leave now, cancelling jobs.
    Terminate,
}
