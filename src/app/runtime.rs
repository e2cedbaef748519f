//! The runtime: runs each `Effect` as a tokio task and reports back with a `Msg` over a
//! channel. It owns the vendor clients, the audit log, and one cancellation token per job
//! under a root token.

use super::effect::Effect;
use super::msg::Msg;
use crate::ops::audit::AuditLog;
use crate::ops::connection_tests;
use crate::ops::create::create_audited;
use crate::ops::executor::{execute, ExecConfig};
use crate::vendors::VendorApi;
use futures::StreamExt;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// A client that arrives after the console started (the demo's, once its simulator
/// listens): the client and its tenant host, or why there is none.
pub type LateClient =
    tokio::sync::watch::Receiver<Option<Result<(Arc<dyn VendorApi>, String), String>>>;

/// A profile as the runtime sees it: its client (if it could be built) and its limits.
pub struct RuntimeProfile {
    pub name: String,
    pub client: Option<Arc<dyn VendorApi>>,
    /// Where the client comes from when it is not there yet; a load waits for it.
    pub late: Option<LateClient>,
    pub concurrency: usize,
}

pub struct Runtime {
    profiles: Vec<RuntimeProfile>,
    audit: Arc<AuditLog>,
    tx: UnboundedSender<Msg>,
    root: CancellationToken,
    /// The cancellation token of each job still running; a finished job's is dropped.
    jobs: HashMap<u64, (CancellationToken, tokio::task::AbortHandle)>,
    /// Tasks that may change vendor state (deletes, creates): waited for at shutdown.
    tasks: JoinSet<()>,
    /// Read-only tasks (loads, connection tests): dropped at once at shutdown.
    reads: JoinSet<()>,
    /// Command lines for the history file's writer (none: no history file).
    history: Option<UnboundedSender<String>>,
    /// Watch histories for their writer (none: not kept).
    watch: Option<UnboundedSender<Box<crate::ops::watch_file::WatchFile>>>,
}

fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

impl Runtime {
    pub fn new(
        profiles: Vec<RuntimeProfile>,
        audit: Arc<AuditLog>,
        tx: UnboundedSender<Msg>,
    ) -> Self {
        Runtime {
            profiles,
            audit,
            tx,
            root: CancellationToken::new(),
            jobs: HashMap::new(),
            tasks: JoinSet::new(),
            reads: JoinSet::new(),
            history: None,
            watch: None,
        }
    }

    /// Keep the `:` history in the file at `path`: read it now (a `Msg::HistoryLoaded`
    /// follows) and add each command run to it, one at a time, off the event loop. A file
    /// that cannot be read or written costs the history, with a warning in the log.
    pub fn with_history(mut self, path: std::path::PathBuf) -> Self {
        use crate::ops::command_history;
        let tx = self.tx.clone();
        let from = path.clone();
        let shown = path.display().to_string();
        self.reads.spawn(async move {
            let read = tokio::task::spawn_blocking(move || command_history::load(&from)).await;
            let (entries, warning) = match read {
                Ok(Ok(entries)) => (entries, None),
                Ok(Err(e)) => (
                    Vec::new(),
                    Some(format!("command history not read ({shown}): {e}")),
                ),
                Err(e) => (Vec::new(), Some(format!("command history not read: {e}"))),
            };
            if let Some(w) = &warning {
                tracing::warn!("{w}");
            }
            let _ = tx.send(Msg::HistoryLoaded { entries, warning });
        });
        let (line_tx, mut lines) = tokio::sync::mpsc::unbounded_channel::<String>();
        // A change-free task, but waited for at shutdown so the last lines reach the file.
        self.tasks.spawn(async move {
            let mut warned = false;
            while let Some(line) = lines.recv().await {
                let to = path.clone();
                let wrote =
                    tokio::task::spawn_blocking(move || command_history::append(&to, &line)).await;
                if let Ok(Err(e)) = wrote {
                    if !warned {
                        tracing::warn!("command history not written ({}): {e}", path.display());
                        warned = true;
                    }
                }
            }
        });
        self.history = Some(line_tx);
        self
    }

    /// Keep each profile's watch history in `data_dir`: read them now (a
    /// `Msg::WatchLoaded` per profile follows) and write each one asked for, one at a time,
    /// off the event loop. A history that cannot be written is said once in the log.
    pub fn with_watch(mut self, data_dir: std::path::PathBuf) -> Self {
        use crate::ops::watch_file;
        let names: Vec<String> = self.profiles.iter().map(|p| p.name.clone()).collect();
        let tx = self.tx.clone();
        let dir = data_dir.clone();
        self.reads.spawn(async move {
            for (profile, name) in names.into_iter().enumerate() {
                let path = watch_file::path_in(&dir, &name);
                let read =
                    tokio::task::spawn_blocking(move || watch_file::load(&path, &name)).await;
                let file = match read {
                    Ok(Ok(file)) => Ok(file),
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
                let _ = tx.send(Msg::WatchLoaded { profile, file });
            }
        });
        let (file_tx, mut files) =
            tokio::sync::mpsc::unbounded_channel::<Box<watch_file::WatchFile>>();
        let tx = self.tx.clone();
        // Waited for at shutdown, so the histories written as the console ends are kept.
        self.tasks.spawn(async move {
            let mut warned = false;
            while let Some(file) = files.recv().await {
                let path = watch_file::path_in(&data_dir, &file.profile);
                let shown = path.display().to_string();
                let wrote =
                    tokio::task::spawn_blocking(move || watch_file::save(&path, &file)).await;
                if let Ok(Err(e)) = wrote {
                    if !warned {
                        warned = true;
                        tracing::warn!("watch history not written ({shown}): {e}");
                        let _ = tx.send(Msg::Notice {
                            error: true,
                            text: format!("watch history not written ({shown}): {e}"),
                        });
                    }
                }
            }
        });
        self.watch = Some(file_tx);
        self
    }

    fn client(&self, profile: usize) -> Option<Arc<dyn VendorApi>> {
        let p = self.profiles.get(profile)?;
        p.client.clone().or_else(|| {
            let late = p.late.as_ref()?.borrow();
            late.as_ref()?.as_ref().ok().map(|(c, _)| c.clone())
        })
    }

    /// Start an effect. `Copy` and `Quit` belong to the terminal loop and are ignored here.
    pub fn run(&mut self, effect: Effect) {
        // Reap finished tasks so the sets do not grow without bound; say so when one died.
        while let Some(done) = self
            .tasks
            .try_join_next()
            .or_else(|| self.reads.try_join_next())
        {
            if let Err(e) = done {
                if e.is_panic() {
                    let _ = self.tx.send(Msg::Notice {
                        error: true,
                        text: "internal error: a background task failed (details in the log)"
                            .into(),
                    });
                }
            }
        }
        // Finished jobs can no longer be cancelled: drop their tokens.
        self.jobs.retain(|_, (_, task)| !task.is_finished());
        let tx = self.tx.clone();
        match effect {
            Effect::Load {
                profile,
                generation,
            } => {
                if let Some(client) = self.client(profile) {
                    self.reads.spawn(load(client, tx, profile, generation));
                    return;
                }
                let Some(mut late) = self.profiles.get(profile).and_then(|p| p.late.clone()) else {
                    let _ = tx.send(Msg::Loaded {
                        profile,
                        generation,
                        at: now_secs(),
                        result: Err("profile has no client".into()),
                    });
                    return;
                };
                // The client is on its way (the demo's simulator is still starting).
                self.reads.spawn(async move {
                    let arrived = late
                        .wait_for(Option::is_some)
                        .await
                        .ok()
                        .and_then(|v| v.clone());
                    match arrived {
                        Some(Ok((client, tenant))) => {
                            let _ = tx.send(Msg::ClientReady { profile, tenant });
                            load(client, tx, profile, generation).await;
                        }
                        other => {
                            let why = match other {
                                Some(Err(e)) => e,
                                _ => "profile has no client".into(),
                            };
                            let _ = tx.send(Msg::Loaded {
                                profile,
                                generation,
                                at: now_secs(),
                                result: Err(why),
                            });
                        }
                    }
                });
            }
            Effect::Delete { job, profile, plan } => {
                let Some(client) = self.client(profile) else {
                    let _ = tx.send(Msg::Notice {
                        error: true,
                        text: "profile has no client: nothing was sent".into(),
                    });
                    return;
                };
                let cancel = self.root.child_token();
                let cfg = ExecConfig {
                    concurrency: self.profiles[profile].concurrency.max(1),
                    ..ExecConfig::default()
                };
                let audit = self.audit.clone();
                let token = cancel.clone();
                let task = self.tasks.spawn(async move {
                    // Each step goes straight into the message channel.
                    let steps = tx.clone();
                    let progress = move |update| drop(steps.send(Msg::DeleteStep { job, update }));
                    let outcomes = execute(plan, client, audit, cfg, cancel, progress).await;
                    let _ = tx.send(Msg::DeleteFinished { job, outcomes });
                });
                self.jobs.insert(job, (token, task));
            }
            Effect::Update { job, profile, plan } => {
                let Some(client) = self.client(profile) else {
                    let _ = tx.send(Msg::ChangeFinished {
                        job,
                        profile,
                        outcomes: vec![
                            crate::ops::change::ChangeOutcome::Failed(
                                "profile has no client: nothing was sent".into()
                            );
                            plan.items.len()
                        ],
                    });
                    return;
                };
                let spec = crate::vendors::spec(client.vendor());
                let cancel = self.root.child_token();
                let audit = self.audit.clone();
                let token = cancel.clone();
                let task = self.tasks.spawn(async move {
                    let steps = tx.clone();
                    let each = move |_: usize, outcome: &crate::ops::change::ChangeOutcome| {
                        let _ = steps.send(Msg::ChangeStep {
                            job,
                            outcome: outcome.clone(),
                        });
                    };
                    let outcomes =
                        crate::ops::change::execute(client, spec, audit, &plan, cancel, each).await;
                    let _ = tx.send(Msg::ChangeFinished {
                        job,
                        profile,
                        outcomes,
                    });
                });
                self.jobs.insert(job, (token, task));
            }
            Effect::CancelJob { job } => {
                if let Some((token, _)) = self.jobs.get(&job) {
                    token.cancel();
                }
            }
            Effect::Impact {
                job,
                profile,
                targets,
            } => {
                let Some(client) = self.client(profile) else {
                    return;
                };
                let cancel = self.root.child_token();
                let token = cancel.clone();
                let task = self.reads.spawn(async move {
                    let mut answers =
                        Box::pin(crate::ops::impact_run::stream_targets(client, targets));
                    loop {
                        let next = tokio::select! {
                            _ = cancel.cancelled() => None,
                            next = answers.next() => next,
                        };
                        let Some((target, impact)) = next else { break };
                        let _ = tx.send(Msg::Impact {
                            job,
                            profile,
                            target,
                            impact: Box::new(impact),
                        });
                    }
                });
                self.jobs.insert(job, (token, task));
            }
            Effect::CheckHealth {
                job,
                profile,
                targets,
            } => {
                let Some(client) = self.client(profile) else {
                    return;
                };
                let concurrency = self.profiles[profile].concurrency.max(1);
                let cancel = self.root.child_token();
                let token = cancel.clone();
                let task = self.reads.spawn(async move {
                    crate::ops::health_checks::run(
                        client,
                        targets,
                        concurrency,
                        cancel,
                        |target, result| {
                            let health = crate::ops::health_checks::health_of(&result);
                            let sentence = result.err().map(|e| e.sentence);
                            let _ = tx.send(Msg::Checked {
                                job,
                                profile,
                                target,
                                health,
                                sentence,
                            });
                        },
                    )
                    .await;
                });
                self.jobs.insert(job, (token, task));
            }
            Effect::TestConnections { job, profile, ids } => {
                let Some(client) = self.client(profile) else {
                    return;
                };
                let concurrency = self.profiles[profile].concurrency.max(1);
                let cancel = self.root.child_token();
                self.reads.spawn(async move {
                    connection_tests::run(client, ids, concurrency, cancel, |id, result| {
                        let _ = tx.send(Msg::TestResult {
                            job,
                            profile,
                            id,
                            result,
                        });
                    })
                    .await;
                });
            }
            Effect::Create {
                job,
                profile,
                kind,
                body,
            } => {
                let Some(client) = self.client(profile) else {
                    return;
                };
                let audit = self.audit.clone();
                let name = self.profiles[profile].name.clone();
                self.tasks.spawn(async move {
                    let result = create_audited(&*client, &audit, name, kind, body.0)
                        .await
                        .map(|mut r| {
                            r.raw = crate::redact::strip_secrets(&r.raw.value()).into();
                            Box::new(r)
                        })
                        .map_err(|e| e.to_string());
                    let _ = tx.send(Msg::Created {
                        job,
                        profile,
                        result,
                    });
                });
            }
            Effect::Export { path, format, rows } => {
                tokio::task::spawn_blocking(move || {
                    let text = match crate::ops::export::write(&path, &rows, format) {
                        Ok(bytes) => (
                            false,
                            format!(
                                "exported {} row{} to {} ({bytes} bytes)",
                                rows.len(),
                                if rows.len() == 1 { "" } else { "s" },
                                path.display()
                            ),
                        ),
                        Err(e) => (true, format!("export failed: {e}")),
                    };
                    let _ = tx.send(Msg::Notice {
                        error: text.0,
                        text: text.1,
                    });
                });
            }
            Effect::ReadDeleted => {
                let path = self
                    .audit
                    .path()
                    .map(std::path::Path::to_path_buf)
                    .unwrap_or_else(|| crate::config::data_dir().join("audit.jsonl"));
                tokio::task::spawn_blocking(move || {
                    let result = crate::ops::deleted::read(&path)
                        .map_err(|e| format!("cannot read the audit log {}: {e}", path.display()));
                    let _ = tx.send(Msg::DeletedRead(result));
                });
            }
            Effect::Restore {
                job,
                profile,
                plan,
                secrets,
            } => {
                let Some(client) = self.client(profile) else {
                    let _ = tx.send(Msg::RestoreFinished {
                        job,
                        profile,
                        outcomes: vec![
                            crate::ops::restore::RestoreOutcome::Failed(
                                "profile has no client: nothing was sent".into()
                            );
                            plan.items.len()
                        ],
                    });
                    return;
                };
                let cancel = self.root.child_token();
                let audit = self.audit.clone();
                let token = cancel.clone();
                let task = self.tasks.spawn(async move {
                    let secrets: std::collections::HashMap<String, secrecy::SecretString> =
                        secrets.into_iter().collect();
                    let secret_of = move |f: &str| secrets.get(f).cloned();
                    let steps = tx.clone();
                    let each = move |_: usize, _: &crate::ops::restore::RestoreOutcome| {
                        let _ = steps.send(Msg::RestoreStep { job });
                    };
                    let outcomes = crate::ops::restore::execute(
                        client, audit, &plan, &secret_of, cancel, each,
                    )
                    .await;
                    let _ = tx.send(Msg::RestoreFinished {
                        job,
                        profile,
                        outcomes,
                    });
                });
                self.jobs.insert(job, (token, task));
            }
            Effect::WritePlan { name, file } => {
                tokio::task::spawn_blocking(move || {
                    let path = crate::config::data_dir().join("plans").join(&name);
                    let (error, text) = match crate::ops::plan_file::write(&path, &file) {
                        Ok(()) => (
                            false,
                            format!(
                                "plan of {} object{} written to {} — `dsconsole apply {}` runs it",
                                file.targets.len(),
                                if file.targets.len() == 1 { "" } else { "s" },
                                path.display(),
                                path.display()
                            ),
                        ),
                        Err(e) => (
                            true,
                            format!("cannot write the plan to {}: {e}", path.display()),
                        ),
                    };
                    let _ = tx.send(Msg::Notice { error, text });
                });
            }
            Effect::Discard(old) => {
                tokio::task::spawn_blocking(move || {
                    drop(old);
                    release_free_memory();
                });
            }
            Effect::Index(job) => {
                tokio::task::spawn_blocking(move || {
                    let (profile, generation) = (job.profile, job.generation);
                    let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        super::index::run(*job)
                    }))
                    .unwrap_or_else(|_| {
                        let _ = tx.send(Msg::Notice {
                            error: true,
                            text: "internal error: indexing a profile failed (details in the log)"
                                .into(),
                        });
                        // An empty answer: the tab stops waiting and keeps what it shows.
                        super::index::IndexOut {
                            profile,
                            generation,
                            fresh: None,
                            views: Vec::new(),
                        }
                    });
                    let fresh = out.fresh.is_some();
                    let _ = tx.send(Msg::Indexed(Box::new(out)));
                    if fresh {
                        // A new load was indexed: its sort keys and the load's temporaries
                        // are freed; give the pages back (after the answer: no delay).
                        release_free_memory();
                    }
                });
            }
            Effect::IndexAll(job) => {
                tokio::task::spawn_blocking(move || {
                    let out = super::all::run_job(*job);
                    let _ = tx.send(Msg::AllIndexed(Box::new(out)));
                });
            }
            Effect::RememberCommand(line) => {
                if let Some(history) = &self.history {
                    let _ = history.send(line);
                }
            }
            Effect::SaveWatch(file) => {
                if let Some(watch) = &self.watch {
                    let _ = watch.send(file);
                }
            }
            Effect::Copy(_) | Effect::Quit => {}
        }
    }

    /// Cancel every job, wait up to `grace` for in-flight requests, then log out.
    pub async fn shutdown(&mut self, grace: Duration) {
        self.root.cancel();
        // The history writer ends once its sender is gone and what it holds is written.
        self.history = None;
        self.watch = None;
        // Reads change nothing: no reason to wait for them.
        self.reads.abort_all();
        let drain = async { while self.tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(grace, drain).await.is_err() {
            tracing::warn!("shutdown: tasks still running after {grace:?}; abandoning them");
            self.tasks.abort_all();
        }
        // Requests whose answer we will never see: the audit log says so.
        let open = self
            .audit
            .settle_open("dsconsole stopped before the answer arrived: the outcome is unknown");
        if open > 0 {
            tracing::warn!(
                "shutdown: {open} request(s) in flight recorded as unknown in the audit log"
            );
        }
        let logouts = self
            .profiles
            .iter()
            .filter_map(|p| p.client.clone())
            .map(|c| async move { c.logout().await });
        let _ =
            tokio::time::timeout(Duration::from_secs(3), futures::future::join_all(logouts)).await;
    }
}

/// Load every kind of a profile: pages as they come, then the load's time and the snapshot.
async fn load(
    client: Arc<dyn VendorApi>,
    tx: UnboundedSender<Msg>,
    profile: usize,
    generation: u64,
) {
    let (page_tx, page_rx) = tokio::sync::mpsc::unbounded_channel();
    let forward = tokio::spawn(forward_pages(page_rx, tx.clone(), profile, generation));
    let started = std::time::Instant::now();
    let result = client
        .load_streaming(page_tx)
        .await
        .map(crate::vendors::Snapshot::redacted)
        .map_err(|e| e.to_string());
    // Pages first, then the final snapshot.
    let _ = forward.await;
    if result.is_ok() {
        if let Some(filter) = client.start_filter() {
            let _ = tx.send(Msg::StartFilter { profile, filter });
        }
    }
    // The load's response bodies and parse trees are freed by now: give the memory back, so
    // a 100,000-object tenant does not keep its peak.
    release_free_memory();
    let _ = tx.send(Msg::LoadTook {
        profile,
        generation,
        ms: started.elapsed().as_millis() as u64,
    });
    let _ = tx.send(Msg::Loaded {
        profile,
        generation,
        at: now_secs(),
        result,
    });
}

/// Return freed heap memory to the operating system (glibc keeps it per thread arena
/// otherwise, so resident memory would stay at the peak of the largest load).
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory of the allocator's arenas; it touches
    // no live allocation and is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Forward the pages of a streaming load, batched so that the UI re-indexes at most a few
/// times a second whatever the page size.
async fn forward_pages(
    mut rx: tokio::sync::mpsc::UnboundedReceiver<Vec<crate::model::Resource>>,
    tx: UnboundedSender<Msg>,
    profile: usize,
    generation: u64,
) {
    let mut batch: Vec<crate::model::Resource> = Vec::new();
    let mut last = tokio::time::Instant::now();
    while let Some(page) = rx.recv().await {
        batch.extend(page);
        if last.elapsed() >= Duration::from_millis(300) && !batch.is_empty() {
            let resources = crate::vendors::Snapshot {
                resources: std::mem::take(&mut batch),
                warnings: Vec::new(),
            }
            .redacted()
            .resources;
            let _ = tx.send(Msg::LoadPage {
                profile,
                generation,
                resources,
            });
            last = tokio::time::Instant::now();
        }
    }
    // What is left is in the final snapshot anyway.
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Kind;
    use crate::model::{Ref, Resource, VendorId};
    use crate::ops::plan::{build_plan, PlanRequest};
    use crate::vendors::{ApiError, DeleteOutcome, Snapshot};
    use futures::future::BoxFuture;

    /// A client that deletes everything at once.
    struct Obliging;

    fn refused() -> ApiError {
        ApiError::Setup {
            vendor: VendorId::MicroStrategy,
            message: "not in this test".into(),
        }
    }

    impl VendorApi for Obliging {
        fn vendor(&self) -> VendorId {
            VendorId::MicroStrategy
        }
        fn load(&self) -> BoxFuture<'_, Result<Snapshot, ApiError>> {
            Box::pin(async { Ok(Snapshot::default()) })
        }
        fn get(&self, _: Ref) -> BoxFuture<'_, Result<Resource, ApiError>> {
            Box::pin(async { Err(refused()) })
        }
        fn delete(&self, _: Ref) -> BoxFuture<'_, Result<DeleteOutcome, ApiError>> {
            Box::pin(async { Ok(DeleteOutcome::Deleted) })
        }
        fn create(
            &self,
            _: Kind,
            _: serde_json::Value,
        ) -> BoxFuture<'_, Result<Resource, ApiError>> {
            Box::pin(async { Err(refused()) })
        }
        fn test_connection(&self, _: String) -> BoxFuture<'_, Result<(), ApiError>> {
            Box::pin(async { Ok(()) })
        }
        fn logout(&self) -> BoxFuture<'_, ()> {
            Box::pin(async {})
        }
    }

    #[tokio::test]
    async fn the_history_is_read_at_start_and_each_command_reaches_the_file_by_shutdown() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = crate::ops::command_history::path_in(dir.path());
        std::fs::write(&path, "kind conn\n").expect("seed");
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut rt =
            Runtime::new(Vec::new(), Arc::new(AuditLog::disabled()), tx).with_history(path.clone());
        match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
            Ok(Some(Msg::HistoryLoaded { entries, warning })) => {
                assert_eq!(entries, ["kind conn"]);
                assert_eq!(warning, None);
            }
            other => panic!("unexpected {other:?}"),
        }
        rt.run(Effect::RememberCommand("overview".into()));
        rt.run(Effect::RememberCommand("profile qa".into()));
        rt.shutdown(Duration::from_secs(10)).await;
        let kept = crate::ops::command_history::load(&path).expect("load");
        assert_eq!(kept, ["kind conn", "overview", "profile qa"]);
    }

    #[tokio::test]
    async fn watch_histories_are_read_per_profile_at_start_and_written_by_shutdown() {
        use crate::ops::watch_file::{self, WatchFile, VERSION};
        let dir = tempfile::tempdir().expect("tempdir");
        let file = |profile: &str, looked_at: i64| WatchFile {
            version: VERSION,
            profile: profile.into(),
            looked_at: Some(looked_at),
            objects: Vec::new(),
        };
        watch_file::save(&watch_file::path_in(dir.path(), "prod"), &file("prod", 5)).expect("seed");
        std::fs::write(watch_file::path_in(dir.path(), "qa"), "{").expect("seed broken");
        let profiles = ["prod", "qa", "new"]
            .map(|name| RuntimeProfile {
                name: name.into(),
                client: None,
                late: None,
                concurrency: 1,
            })
            .into_iter()
            .collect();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut rt = Runtime::new(profiles, Arc::new(AuditLog::disabled()), tx)
            .with_watch(dir.path().to_path_buf());
        let mut got = Vec::new();
        while got.len() < 3 {
            match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
                Ok(Some(Msg::WatchLoaded { profile, file })) => got.push((profile, file)),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(got[0], (0, Ok(Some(file("prod", 5)))));
        assert!(
            matches!(&got[1], (1, Err(e)) if e.contains("not a watch history")),
            "{got:?}"
        );
        assert_eq!(got[2], (2, Ok(None)));
        rt.run(Effect::SaveWatch(Box::new(file("new", 7))));
        rt.run(Effect::SaveWatch(Box::new(file("prod", 9))));
        rt.shutdown(Duration::from_secs(10)).await;
        let read = |name: &str| watch_file::load(&watch_file::path_in(dir.path(), name), name);
        assert_eq!(read("new").expect("new"), Some(file("new", 7)));
        assert_eq!(read("prod").expect("prod"), Some(file("prod", 9)));
    }

    #[tokio::test]
    async fn an_unreadable_history_arrives_empty_with_a_warning() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = crate::ops::command_history::path_in(dir.path());
        std::fs::create_dir(&path).expect("a directory in its place");
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let _rt = Runtime::new(Vec::new(), Arc::new(AuditLog::disabled()), tx).with_history(path);
        match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
            Ok(Some(Msg::HistoryLoaded { entries, warning })) => {
                assert!(entries.is_empty());
                assert!(warning.is_some_and(|w| w.contains("command history not read")));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_delete_job_reports_its_steps_then_its_end_and_its_token_is_dropped() {
        let all = crate::app::fixtures::resources();
        let target = all
            .iter()
            .find(|r| r.kind == Kind::Datasources)
            .map(|r| (r.kind, r.id.to_string()))
            .expect("a datasource");
        let plan = build_plan(&PlanRequest {
            spec: crate::vendors::spec(VendorId::MicroStrategy),
            profile: "prod",
            all: &all,
            selected: &[target],
            hidden: &[],
            cascade: false,
            skip_in_use: false,
        });
        assert_eq!(plan.steps.len(), 1);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut rt = Runtime::new(
            vec![RuntimeProfile {
                name: "prod".into(),
                client: Some(Arc::new(Obliging)),
                late: None,
                concurrency: 1,
            }],
            Arc::new(AuditLog::disabled()),
            tx,
        );
        rt.run(Effect::Delete {
            job: 1,
            profile: 0,
            plan: Arc::new(plan),
        });
        assert_eq!(rt.jobs.len(), 1, "a running job can be cancelled");
        let mut steps = 0;
        loop {
            match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
                Ok(Some(Msg::DeleteStep { job: 1, .. })) => steps += 1,
                Ok(Some(Msg::DeleteFinished { job: 1, outcomes })) => {
                    assert!(outcomes[0].is_success(), "{outcomes:?}");
                    break;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(steps >= 1, "each step is reported before the end");
        while !rt.tasks.is_empty() {
            let _ = rt.tasks.join_next().await;
        }
        // The next effect finds the job finished and drops its token.
        rt.run(Effect::CancelJob { job: 1 });
        assert!(rt.jobs.is_empty(), "finished jobs keep no token");
    }
}
