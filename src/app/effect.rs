//! Effects: what `update` asks the runtime to do. Each runs as a task and reports back
//! with a `Msg`.

use crate::model::Kind;
use crate::ops::plan::DeletePlan;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub enum Effect {
    /// Load every kind of a profile.
    Load { profile: usize, generation: u64 },
    /// Run a confirmed delete plan. The plan is the one the confirmation showed.
    Delete {
        job: u64,
        profile: usize,
        plan: Arc<DeletePlan>,
    },
    /// Stop starting new steps of a job; in-flight ones finish.
    CancelJob { job: u64 },
    TestConnections {
        job: u64,
        profile: usize,
        ids: Vec<String>,
    },
    Create {
        job: u64,
        profile: usize,
        kind: Kind,
        /// The wire body; `Debug` strips its secrets.
        body: crate::redact::SensitiveJson,
    },
    /// Run a confirmed change plan (a `Msg::ChangeStep` per object, then
    /// `Msg::ChangeFinished`).
    Update {
        job: u64,
        profile: usize,
        plan: Arc<crate::ops::change::ChangePlan>,
    },
    /// Read the deleted objects of the audit log (`:trash`), off the event loop; a
    /// `Msg::DeletedRead` answers.
    ReadDeleted,
    /// Run a confirmed restore plan (a `Msg::RestoreStep` per object, then
    /// `Msg::RestoreFinished`). `Debug` never shows the secrets.
    Restore {
        job: u64,
        profile: usize,
        plan: Arc<crate::ops::restore::RestorePlan>,
        secrets: Vec<(String, secrecy::SecretString)>,
    },
    /// Compute the impact of each target (a few at a time; each answer is a `Msg::Impact`).
    Impact {
        job: u64,
        profile: usize,
        targets: Vec<crate::impact::ImpactTarget>,
    },
    /// Write rows to a file (`:export`), off the event loop; the answer is a `Msg::Notice`.
    Export {
        path: std::path::PathBuf,
        format: crate::ops::export::Format,
        rows: Vec<crate::model::Resource>,
    },
    /// Write a delete plan to `<data dir>/plans/<name>` (the `w` key of the delete
    /// confirmation), off the event loop; the answer is a `Msg::Notice` saying where.
    WritePlan {
        name: String,
        file: Box<crate::ops::plan_file::PlanFile>,
    },
    /// Run every health check of `targets` (a `Msg::Checked` per answer).
    CheckHealth {
        job: u64,
        profile: usize,
        targets: Vec<crate::model::Ref>,
    },
    /// Add a command line run to the history file in the data dir (off the event loop).
    RememberCommand(String),
    /// Write a profile's watch history to the data dir (off the event loop, in order).
    SaveWatch(Box<crate::ops::watch_file::WatchFile>),
    /// OSC 52 copy.
    Copy(String),
    /// Leave: cancel jobs, log out every profile.
    Quit,
    /// Free replaced data away from the event loop, then return free memory to the system.
    Discard(Vec<super::index::Garbage>),
    /// Sort, index and filter a large tab's views on a worker (a `Msg::Indexed` answers).
    Index(Box<super::index::IndexJob>),
    /// The same for the All tab (a `Msg::AllIndexed` answers).
    IndexAll(Box<super::all::AllJob>),
}
