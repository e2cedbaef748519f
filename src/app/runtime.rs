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
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// A profile as the runtime sees it: its client (if it could be built) and its limits.
pub struct RuntimeProfile {
    pub name: String,
    pub client: Option<Arc<dyn VendorApi>>,
    pub concurrency: usize,
}

pub struct Runtime {
    profiles: Vec<RuntimeProfile>,
    audit: Arc<AuditLog>,
    tx: UnboundedSender<Msg>,
    root: CancellationToken,
    jobs: HashMap<u64, CancellationToken>,
    /// Tasks that may change vendor state (deletes, creates): waited for at shutdown.
    tasks: JoinSet<()>,
    /// Read-only tasks (loads, connection tests): dropped at once at shutdown.
    reads: JoinSet<()>,
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
        }
    }

    fn client(&self, profile: usize) -> Option<Arc<dyn VendorApi>> {
        self.profiles.get(profile).and_then(|p| p.client.clone())
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
        let tx = self.tx.clone();
        match effect {
            Effect::Load {
                profile,
                generation,
            } => {
                let Some(client) = self.client(profile) else {
                    let _ = tx.send(Msg::Loaded {
                        profile,
                        generation,
                        at: now_secs(),
                        result: Err("profile has no client".into()),
                    });
                    return;
                };
                let (page_tx, page_rx) = tokio::sync::mpsc::unbounded_channel();
                let pages_to = tx.clone();
                let forward = tokio::spawn(forward_pages(page_rx, pages_to, profile, generation));
                self.reads.spawn(async move {
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
                    // The load's response bodies and parse trees are freed by now: give the
                    // memory back, so a 100,000-object tenant does not keep its peak.
                    release_free_memory();
                    let _ = tx.send(Msg::Loaded {
                        profile,
                        generation,
                        at: now_secs(),
                        result,
                    });
                });
            }
            Effect::Delete { job, profile, plan } => {
                let cancel = self.root.child_token();
                self.jobs.insert(job, cancel.clone());
                let Some(client) = self.client(profile) else {
                    let _ = tx.send(Msg::Notice {
                        error: true,
                        text: "profile has no client: nothing was sent".into(),
                    });
                    return;
                };
                let cfg = ExecConfig {
                    concurrency: self.profiles[profile].concurrency.max(1),
                    ..ExecConfig::default()
                };
                let audit = self.audit.clone();
                self.tasks.spawn(async move {
                    let (ptx, mut prx) = tokio::sync::mpsc::unbounded_channel();
                    let forward_tx = tx.clone();
                    let forward = tokio::spawn(async move {
                        while let Some(update) = prx.recv().await {
                            let _ = forward_tx.send(Msg::DeleteStep { job, update });
                        }
                    });
                    let outcomes = execute(plan, client, audit, cfg, cancel, ptx).await;
                    let _ = forward.await;
                    let _ = tx.send(Msg::DeleteFinished { job, outcomes });
                });
            }
            Effect::CancelJob { job } => {
                if let Some(token) = self.jobs.get(&job) {
                    token.cancel();
                }
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
                    let result = create_audited(&*client, &audit, name, kind, body)
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
            Effect::Discard(old) => {
                tokio::task::spawn_blocking(move || {
                    drop(old);
                    release_free_memory();
                });
            }
            Effect::Copy(_) | Effect::Quit => {}
        }
    }

    /// Cancel every job, wait up to `grace` for in-flight requests, then log out.
    pub async fn shutdown(&mut self, grace: Duration) {
        self.root.cancel();
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
