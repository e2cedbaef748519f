//! The bulk executor shared by the TUI and the CLI: runs a confirmed `DeletePlan` phase by
//! phase with bounded concurrency, audits every request before and after, retries only
//! transient failures, skips whatever a failed step was protecting, and stops starting new
//! work the moment it is cancelled.

use crate::model::Kind;
use crate::ops::audit::{AuditEntry, AuditLog};
use crate::ops::plan::{DeletePlan, PlanStep};
use crate::ops::request_lines::RequestLines;
use crate::vendors::request_audit;
use crate::vendors::{ApiError, DeleteOutcome, VendorApi};
use futures::stream::{self, StreamExt};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

/// The longest the executor waits before a retry, whatever the server asks for.
pub const MAX_RETRY_WAIT: Duration = Duration::from_secs(300);

/// Where one step stands.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome", content = "detail")]
pub enum StepOutcome {
    NotStarted,
    Running,
    Deleted,
    /// The server no longer had it.
    AlreadyGone,
    /// Marked deleted, recoverable at the vendor.
    SoftDeleted,
    /// The last error, as one sentence.
    Failed(String),
    /// Not attempted, with the reason ("kept: datasource 'Sales' was not deleted").
    Skipped(String),
}

impl StepOutcome {
    /// The object is gone (or soft-deleted) at the vendor.
    pub fn is_success(&self) -> bool {
        matches!(
            self,
            StepOutcome::Deleted | StepOutcome::AlreadyGone | StepOutcome::SoftDeleted
        )
    }

    /// The step has an end result (not waiting, not running).
    pub fn is_final(&self) -> bool {
        !matches!(self, StepOutcome::NotStarted | StepOutcome::Running)
    }

    pub fn label(&self) -> &'static str {
        match self {
            StepOutcome::NotStarted => "not started",
            StepOutcome::Running => "running",
            StepOutcome::Deleted => "deleted",
            StepOutcome::AlreadyGone => "already gone",
            StepOutcome::SoftDeleted => "soft deleted",
            StepOutcome::Failed(_) => "failed",
            StepOutcome::Skipped(_) => "skipped",
        }
    }

    /// The error or skip reason, if any.
    pub fn detail(&self) -> Option<&str> {
        match self {
            StepOutcome::Failed(s) | StepOutcome::Skipped(s) => Some(s),
            _ => None,
        }
    }
}

impl fmt::Display for StepOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.detail() {
            Some(d) => write!(f, "{}: {d}", self.label()),
            None => f.write_str(self.label()),
        }
    }
}

/// How the executor runs.
#[derive(Debug, Clone)]
pub struct ExecConfig {
    /// Requests in flight at once (values below 1 count as 1).
    pub concurrency: usize,
    /// Attempts per step, first included (values below 1 count as 1).
    pub max_attempts: u32,
    /// First retry wait when the server gives none; doubles each retry, up to 25% jitter.
    pub base_backoff: Duration,
    /// Time limit of the whole run: when it passes, nothing new starts (as on cancel) and
    /// requests in flight finish. `None` = no limit.
    pub deadline: Option<Duration>,
}

impl Default for ExecConfig {
    fn default() -> Self {
        ExecConfig {
            concurrency: 4,
            max_attempts: 3,
            base_backoff: Duration::from_millis(250),
            deadline: None,
        }
    }
}

/// A change of one step, sent as it happens.
#[derive(Debug, Clone, PartialEq)]
pub struct StepUpdate {
    pub index: usize,
    pub outcome: StepOutcome,
    /// Which attempt (1-based); 0 for steps skipped without a request.
    pub attempt: u32,
}

struct Ctx<'a> {
    plan: &'a DeletePlan,
    api: &'a dyn VendorApi,
    audit: &'a AuditLog,
    /// Numbers every request per step and writes the lines of requests a client re-sends.
    lines: Arc<RequestLines>,
    cfg: &'a ExecConfig,
    cancel: &'a CancellationToken,
    progress: &'a dyn Progress,
}

impl Ctx<'_> {
    fn report(&self, index: usize, outcome: StepOutcome, attempt: u32) {
        self.progress.report(StepUpdate {
            index,
            outcome,
            attempt,
        });
    }
}

/// Where a run reports each step as it changes: a channel, or a function (the TUI's runtime
/// wraps each update into its own message and sends it on, with no task in between).
pub trait Progress: Send + Sync {
    /// Must not block. A receiver that is gone (the UI closed the view) does not stop the run.
    fn report(&self, update: StepUpdate);
}

impl Progress for UnboundedSender<StepUpdate> {
    fn report(&self, update: StepUpdate) {
        let _ = self.send(update);
    }
}

impl<F: Fn(StepUpdate) + Send + Sync> Progress for F {
    fn report(&self, update: StepUpdate) {
        self(update)
    }
}

/// Run `plan` against `api`: phase by phase (kinds in plan order), at most
/// `cfg.concurrency` requests in flight. Every request is preceded by an audit line (no line,
/// no request) and followed by one. Once `cancel` fires nothing new starts, requests in
/// flight finish and are recorded, and a step waiting to retry gives up. Progress goes to
/// `progress` (a dropped receiver does not stop the run). Returns one outcome per step, in
/// step order; none is `Running`.
pub async fn execute(
    plan: Arc<DeletePlan>,
    api: Arc<dyn VendorApi>,
    audit: Arc<AuditLog>,
    cfg: ExecConfig,
    cancel: CancellationToken,
    progress: impl Progress,
) -> Vec<StepOutcome> {
    // The deadline cancels a child token, so it stops this run only.
    let cancel = cancel.child_token();
    let deadline = cfg.deadline.map(|d| {
        let c = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(d).await;
            if !c.is_cancelled() {
                tracing::warn!("bulk run reached its time limit of {d:?}: nothing new starts");
                c.cancel();
            }
        })
    });
    let ctx = Ctx {
        plan: &plan,
        api: api.as_ref(),
        audit: &audit,
        lines: RequestLines::new(audit.clone()),
        cfg: &cfg,
        cancel: &cancel,
        progress: &progress,
    };
    let mut outcomes = vec![StepOutcome::NotStarted; plan.steps.len()];
    let concurrency = cfg.concurrency.max(1);
    for phase in phases(&plan) {
        if cancel.is_cancelled() {
            break;
        }
        let done: &[StepOutcome] = &outcomes;
        let ctx = &ctx;
        let bulk = api.bulk_limit();
        let results: Vec<(usize, StepOutcome)> = if bulk > 1 {
            // Bulk endpoint: steps whose dependencies failed are skipped without a request,
            // the rest go in chunks, each chunk one request.
            let mut results = Vec::new();
            let mut ready = Vec::new();
            for i in phase {
                match blocked(ctx, i, done) {
                    Some(outcome) => results.push((i, outcome)),
                    None => ready.push(i),
                }
            }
            let chunks: Vec<Vec<usize>> = ready.chunks(bulk).map(<[usize]>::to_vec).collect();
            let batched: Vec<Vec<(usize, StepOutcome)>> = stream::iter(
                chunks
                    .into_iter()
                    .map(|chunk| async move { run_batch(ctx, chunk).await }),
            )
            .buffer_unordered(concurrency)
            .collect()
            .await;
            results.extend(batched.into_iter().flatten());
            results
        } else {
            stream::iter(
                phase
                    .into_iter()
                    .map(|i| async move { (i, run_step(ctx, i, done).await) }),
            )
            .buffer_unordered(concurrency)
            .collect()
            .await
        };
        for (i, outcome) in results {
            if let Some(slot) = outcomes.get_mut(i) {
                *slot = outcome;
            }
        }
    }
    if let Some(timer) = deadline {
        timer.abort();
    }
    outcomes
}

/// Split the plan into phases that run one after the other: a new phase starts where the
/// kind changes, or where a step depends on a step of the current phase.
fn phases(plan: &DeletePlan) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = Vec::new();
    let mut start = 0usize;
    let mut kind: Option<Kind> = None;
    for (i, step) in plan.steps.iter().enumerate() {
        let same_kind = kind == Some(step.target.kind);
        let depends_inside = step.after.iter().any(|&a| a >= start);
        match out.last_mut() {
            Some(phase) if same_kind && !depends_inside => phase.push(i),
            _ => {
                out.push(vec![i]);
                start = i;
                kind = Some(step.target.kind);
            }
        }
    }
    out
}

fn entry_of(plan: &DeletePlan, step: &PlanStep) -> AuditEntry {
    let mut extra = serde_json::Map::new();
    if let Some(c) = &step.container {
        // Where it lived: a restore re-creates it there.
        extra.insert("container".into(), serde_json::Value::String(c.clone()));
    }
    AuditEntry {
        extra,
        profile: plan.profile.clone(),
        vendor: plan.vendor,
        operation: "delete".to_string(),
        kind: step.target.kind,
        id: step.target.id.to_string(),
        name: step.target.name.to_string(),
        object: step.raw.clone(),
        impact: step
            .impact
            .as_ref()
            .map(|i| i.summary(crate::vendors::spec(plan.vendor).impact_container)),
    }
}

fn audit_outcome(result: &Result<DeleteOutcome, ApiError>) -> &'static str {
    match result {
        Ok(DeleteOutcome::Deleted) => "deleted",
        Ok(DeleteOutcome::AlreadyGone) => "already_gone",
        Ok(DeleteOutcome::SoftDeleted) => "soft_deleted",
        // No usable answer: the server may or may not have acted.
        Err(ApiError::Transport { .. } | ApiError::Decode { .. }) => "unknown",
        Err(_) => "failed",
    }
}

/// `Some(Skipped)` when a step this one depends on did not succeed (reported), else `None`.
fn blocked(ctx: &Ctx<'_>, index: usize, done: &[StepOutcome]) -> Option<StepOutcome> {
    let step = ctx.plan.steps.get(index)?;
    for &a in &step.after {
        if done.get(a).is_some_and(StepOutcome::is_success) {
            continue;
        }
        let why = match ctx.plan.steps.get(a) {
            Some(dep) => format!(
                "kept: {} '{}' was not deleted",
                dep.target.kind.singular(),
                dep.target.name
            ),
            None => "kept: a step it depends on is not in the plan".to_string(),
        };
        let outcome = StepOutcome::Skipped(why);
        ctx.report(index, outcome.clone(), 0);
        return Some(outcome);
    }
    None
}

fn outcome_of(o: DeleteOutcome) -> StepOutcome {
    match o {
        DeleteOutcome::Deleted => StepOutcome::Deleted,
        DeleteOutcome::AlreadyGone => StepOutcome::AlreadyGone,
        DeleteOutcome::SoftDeleted => StepOutcome::SoftDeleted,
    }
}

/// One bulk request for `chunk` (audit lines before and after each object); objects that
/// failed transiently are retried one by one.
async fn run_batch(ctx: &Ctx<'_>, chunk: Vec<usize>) -> Vec<(usize, StepOutcome)> {
    let mut out = Vec::with_capacity(chunk.len());
    if ctx.cancel.is_cancelled() {
        return chunk
            .into_iter()
            .map(|i| (i, StepOutcome::NotStarted))
            .collect();
    }
    let mut sent: Vec<(usize, u64, AuditEntry)> = Vec::with_capacity(chunk.len());
    for i in chunk {
        let Some(step) = ctx.plan.steps.get(i) else {
            continue;
        };
        let entry = entry_of(ctx.plan, step);
        match ctx.lines.begin(i, &entry) {
            Ok(seq) => {
                ctx.report(i, StepOutcome::Running, 1);
                sent.push((i, seq, entry));
            }
            Err(e) => {
                let outcome = StepOutcome::Failed(format!("audit log not writable; not sent: {e}"));
                ctx.report(i, outcome.clone(), 1);
                out.push((i, outcome));
            }
        }
    }
    if sent.is_empty() {
        return out;
    }
    let targets = sent
        .iter()
        .filter_map(|(i, _, _)| ctx.plan.steps.get(*i).map(|s| s.target.clone()))
        .collect();
    let hook = ctx.lines.scope(sent.iter().map(|(i, _, _)| *i).collect());
    let mut results = request_audit::scoped(hook, ctx.api.delete_batch(targets))
        .await
        .into_iter();
    let mut retry = Vec::new();
    for (i, seq, entry) in sent {
        let result = results.next().unwrap_or_else(|| {
            Err(ApiError::Decode {
                vendor: ctx.plan.vendor,
                status: 0,
                message: "the bulk answer has no result for this object".into(),
            })
        });
        let error_text = result.as_ref().err().map(ToString::to_string);
        if let Err(e) = ctx
            .audit
            .after(seq, &entry, audit_outcome(&result), error_text.as_deref())
        {
            tracing::warn!(
                "audit log: could not record the outcome of deleting {}: {e}",
                entry.name
            );
        }
        ctx.lines
            .finish(i, audit_outcome(&result), error_text.as_deref());
        match result {
            Ok(o) => {
                let outcome = outcome_of(o);
                ctx.report(i, outcome.clone(), 1);
                out.push((i, outcome));
            }
            Err(e)
                if e.is_transient() && ctx.cfg.max_attempts > 1 && !ctx.cancel.is_cancelled() =>
            {
                retry.push((i, e));
            }
            Err(e) => {
                let outcome = StepOutcome::Failed(e.to_string());
                ctx.report(i, outcome.clone(), 1);
                out.push((i, outcome));
            }
        }
    }
    if retry.is_empty() {
        return out;
    }
    // One wait for the whole chunk (the longest any answer asked for), then the retries
    // one by one, at the configured concurrency.
    let wait = retry
        .iter()
        .map(|(_, e)| retry_wait(e, ctx.cfg.base_backoff, 1))
        .max()
        .unwrap_or_default();
    let cancelled = tokio::select! {
        biased;
        _ = ctx.cancel.cancelled() => true,
        _ = tokio::time::sleep(wait) => false,
    };
    let retried: Vec<(usize, StepOutcome)> =
        stream::iter(retry.into_iter().map(|(i, e)| async move {
            let outcome = match (cancelled, ctx.plan.steps.get(i)) {
                (true, Some(step)) => {
                    let o = settle(
                        ctx,
                        step,
                        format!("{e}; cancelled before retry"),
                        may_have_acted(&e),
                    )
                    .await;
                    ctx.report(i, o.clone(), 1);
                    o
                }
                (true, None) => StepOutcome::Failed(format!("{e}; cancelled before retry")),
                (false, _) => attempts(ctx, i, 1, may_have_acted(&e)).await,
            };
            (i, outcome)
        }))
        .buffer_unordered(ctx.cfg.concurrency.max(1))
        .collect()
        .await;
    out.extend(retried);
    out
}

async fn run_step(ctx: &Ctx<'_>, index: usize, done: &[StepOutcome]) -> StepOutcome {
    if ctx.cancel.is_cancelled() {
        return StepOutcome::NotStarted;
    }
    if let Some(outcome) = blocked(ctx, index, done) {
        return outcome;
    }
    attempts(ctx, index, 0, false).await
}

/// Delete one step with retries; `already` attempts were made before (by a bulk request),
/// `ambiguous` when one of them may have taken effect.
async fn attempts(ctx: &Ctx<'_>, index: usize, already: u32, ambiguous: bool) -> StepOutcome {
    let Some(step) = ctx.plan.steps.get(index) else {
        return StepOutcome::NotStarted;
    };
    let entry = entry_of(ctx.plan, step);
    let max_attempts = ctx.cfg.max_attempts.max(1);
    let mut attempt = already;
    let mut ambiguous = ambiguous;
    loop {
        attempt += 1;
        let seq = match ctx.lines.begin(index, &entry) {
            Ok(seq) => seq,
            Err(e) => {
                let outcome = StepOutcome::Failed(format!("audit log not writable; not sent: {e}"));
                ctx.report(index, outcome.clone(), attempt);
                return outcome;
            }
        };
        ctx.report(index, StepOutcome::Running, attempt);
        let hook = ctx.lines.scope(vec![index]);
        let result = request_audit::scoped(hook, ctx.api.delete(step.target.clone())).await;
        let error_text = result.as_ref().err().map(ToString::to_string);
        if let Err(e) = ctx
            .audit
            .after(seq, &entry, audit_outcome(&result), error_text.as_deref())
        {
            tracing::warn!(
                "audit log: could not record the outcome of deleting {}: {e}",
                step.target.label()
            );
        }
        ctx.lines
            .finish(index, audit_outcome(&result), error_text.as_deref());
        let err = match result {
            Ok(o) => {
                let outcome = outcome_of(o);
                ctx.report(index, outcome.clone(), attempt);
                return outcome;
            }
            Err(e) => e,
        };
        let text = error_text.unwrap_or_else(|| err.to_string());
        ambiguous |= may_have_acted(&err);
        if !err.is_transient() || attempt >= max_attempts {
            let outcome = settle(ctx, step, text, ambiguous).await;
            ctx.report(index, outcome.clone(), attempt);
            return outcome;
        }
        let wait = retry_wait(&err, ctx.cfg.base_backoff, attempt);
        tracing::debug!(
            "retrying delete of {} in {} ms (attempt {attempt} failed: {text})",
            step.target.label(),
            wait.as_millis()
        );
        let cancelled = tokio::select! {
            biased;
            _ = ctx.cancel.cancelled() => true,
            _ = tokio::time::sleep(wait) => false,
        };
        if cancelled || ctx.cancel.is_cancelled() {
            let outcome = settle(
                ctx,
                step,
                format!("{text}; cancelled before retry"),
                ambiguous,
            )
            .await;
            ctx.report(index, outcome.clone(), attempt);
            return outcome;
        }
    }
}

/// Whether a failed delete may still have taken effect on the server: no usable answer, or
/// a 5xx (a gateway may answer after the server acted).
fn may_have_acted(err: &ApiError) -> bool {
    match err {
        ApiError::Transport { .. } | ApiError::Decode { .. } => true,
        ApiError::Http { status, .. } => *status >= 500,
        _ => false,
    }
}

/// The final outcome of a step whose last attempt failed. When an earlier attempt may have
/// acted, ask the server: an object that is gone is reported "already gone", so the report
/// always matches the server's state.
async fn settle(ctx: &Ctx<'_>, step: &PlanStep, text: String, ambiguous: bool) -> StepOutcome {
    if !ambiguous {
        return StepOutcome::Failed(text);
    }
    match ctx.api.get(step.target.clone()).await {
        Err(ApiError::Http { status: 404, .. }) => {
            tracing::info!(
                "{}: the delete failed ({text}) but the object is gone: an earlier attempt took effect",
                step.target.label()
            );
            StepOutcome::AlreadyGone
        }
        Ok(_) => StepOutcome::Failed(text),
        Err(e) => StepOutcome::Failed(format!(
            "{text}; could not verify whether it still exists: {e}"
        )),
    }
}

/// How long to wait after failed attempt number `attempt` (1-based): the shared backoff of
/// `vendors::retry` (the server's `Retry-After`, never less, else `base * 2^(attempt-1)`;
/// plus up to 25%), never more than `MAX_RETRY_WAIT`.
fn retry_wait(err: &ApiError, base: Duration, attempt: u32) -> Duration {
    crate::vendors::retry::backoff(
        base,
        attempt.saturating_sub(1),
        err.retry_after(),
        MAX_RETRY_WAIT,
    )
}

/// Counts of a run's outcomes, for the summary line and the exit code.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct RunSummary {
    pub deleted: usize,
    pub already_gone: usize,
    pub soft_deleted: usize,
    pub failed: usize,
    pub skipped: usize,
    pub not_started: usize,
    /// Only non-zero for a summary taken while the run is going.
    pub running: usize,
}

impl RunSummary {
    pub fn total(&self) -> usize {
        self.deleted
            + self.already_gone
            + self.soft_deleted
            + self.failed
            + self.skipped
            + self.not_started
            + self.running
    }

    /// Steps with an end result.
    pub fn done(&self) -> usize {
        self.total() - self.not_started - self.running
    }

    /// Every step succeeded (an empty run counts as success).
    pub fn all_succeeded(&self) -> bool {
        self.failed == 0 && self.skipped == 0 && self.not_started == 0 && self.running == 0
    }
}

impl From<&[StepOutcome]> for RunSummary {
    fn from(outcomes: &[StepOutcome]) -> Self {
        let mut s = RunSummary::default();
        for o in outcomes {
            match o {
                StepOutcome::NotStarted => s.not_started += 1,
                StepOutcome::Running => s.running += 1,
                StepOutcome::Deleted => s.deleted += 1,
                StepOutcome::AlreadyGone => s.already_gone += 1,
                StepOutcome::SoftDeleted => s.soft_deleted += 1,
                StepOutcome::Failed(_) => s.failed += 1,
                StepOutcome::Skipped(_) => s.skipped += 1,
            }
        }
        s
    }
}

impl From<&Vec<StepOutcome>> for RunSummary {
    fn from(outcomes: &Vec<StepOutcome>) -> Self {
        RunSummary::from(outcomes.as_slice())
    }
}

impl fmt::Display for RunSummary {
    /// "3 deleted, 1 already gone, 1 failed, 2 skipped, 0 not started".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} deleted", self.deleted)?;
        if self.already_gone > 0 {
            write!(f, ", {} already gone", self.already_gone)?;
        }
        if self.soft_deleted > 0 {
            write!(f, ", {} soft deleted", self.soft_deleted)?;
        }
        if self.running > 0 {
            write!(f, ", {} running", self.running)?;
        }
        write!(
            f,
            ", {} failed, {} skipped, {} not started",
            self.failed, self.skipped, self.not_started
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{link_references, Ref, Resource, VendorId};
    use crate::ops::plan::{build_plan, PlanRequest};
    use crate::vendors::Snapshot;
    use futures::future::BoxFuture;
    use serde_json::Value;
    use std::collections::{HashMap, HashSet, VecDeque};
    use std::sync::Mutex;
    use tokio::sync::mpsc;

    use crate::ops::fixtures::SPEC;

    /// What the fake answers to a delete of one id, in order; once the script runs out the
    /// object is deleted (or already gone when it no longer exists).
    #[derive(Clone)]
    enum Answer {
        /// The server deleted it, then the client got this error (a gateway timeout).
        FailAfterActing(ApiError),
        Fail(ApiError),
        Ok(DeleteOutcome),
    }

    #[derive(Default)]
    struct FakeState {
        objects: HashSet<String>,
        scripts: HashMap<String, VecDeque<Answer>>,
        requests: Vec<String>,
        in_flight: usize,
        max_in_flight: usize,
        completed: usize,
        /// Sizes of the bulk requests received.
        batches: Vec<usize>,
    }

    /// An in-memory vendor: deletes take `delay`, may fail as scripted, and can cancel a
    /// token after a number of completed requests.
    struct FakeApi {
        state: Mutex<FakeState>,
        delay: Duration,
        cancel_after: Option<(usize, CancellationToken)>,
        /// `bulk_limit()`: 1 = no bulk endpoint.
        bulk: usize,
    }

    fn http(status: u16, retry_after_ms: Option<u64>) -> ApiError {
        ApiError::Http {
            vendor: VendorId::MicroStrategy,
            status,
            code: Some("ERR001".into()),
            message: format!("status {status}"),
            ticket: None,
            retry_after_ms,
        }
    }

    impl FakeApi {
        fn new(ids: &[&str]) -> FakeApi {
            FakeApi {
                state: Mutex::new(FakeState {
                    objects: ids.iter().map(|s| s.to_string()).collect(),
                    ..FakeState::default()
                }),
                delay: Duration::ZERO,
                cancel_after: None,
                bulk: 1,
            }
        }

        fn script(&self, id: &str, answers: Vec<Answer>) {
            self.lock().scripts.insert(id.to_string(), answers.into());
        }

        fn lock(&self) -> std::sync::MutexGuard<'_, FakeState> {
            self.state.lock().unwrap_or_else(|p| p.into_inner())
        }

        fn requests(&self) -> Vec<String> {
            self.lock().requests.clone()
        }

        fn exists(&self, id: &str) -> bool {
            self.lock().objects.contains(id)
        }
    }

    impl VendorApi for FakeApi {
        fn vendor(&self) -> VendorId {
            VendorId::MicroStrategy
        }
        fn load(&self) -> BoxFuture<'_, Result<Snapshot, ApiError>> {
            Box::pin(async { Ok(Snapshot::default()) })
        }
        fn get(&self, target: Ref) -> BoxFuture<'_, Result<Resource, ApiError>> {
            Box::pin(async move {
                if self.exists(&target.id) {
                    Ok(Resource::new(
                        VendorId::MicroStrategy,
                        "prod",
                        target.kind,
                        &target.id,
                        &target.name,
                    ))
                } else {
                    Err(http(404, None))
                }
            })
        }
        fn delete(&self, target: Ref) -> BoxFuture<'_, Result<DeleteOutcome, ApiError>> {
            Box::pin(async move {
                {
                    let mut s = self.lock();
                    s.requests.push(target.id.to_string());
                    s.in_flight += 1;
                    s.max_in_flight = s.max_in_flight.max(s.in_flight);
                }
                if !self.delay.is_zero() {
                    tokio::time::sleep(self.delay).await;
                }
                let mut s = self.lock();
                s.in_flight -= 1;
                let scripted = s
                    .scripts
                    .get_mut(target.id.as_str())
                    .and_then(VecDeque::pop_front);
                let result = match scripted {
                    Some(Answer::Fail(e)) => Err(e),
                    Some(Answer::FailAfterActing(e)) => {
                        s.objects.remove(target.id.as_str());
                        Err(e)
                    }
                    Some(Answer::Ok(o)) => {
                        s.objects.remove(target.id.as_str());
                        Ok(o)
                    }
                    None if s.objects.remove(target.id.as_str()) => Ok(DeleteOutcome::Deleted),
                    None => Ok(DeleteOutcome::AlreadyGone),
                };
                s.completed += 1;
                if let Some((n, token)) = &self.cancel_after {
                    if s.completed >= *n {
                        token.cancel();
                    }
                }
                result
            })
        }
        fn bulk_limit(&self) -> usize {
            self.bulk
        }
        fn delete_batch(
            &self,
            targets: Vec<Ref>,
        ) -> BoxFuture<'_, Vec<Result<DeleteOutcome, ApiError>>> {
            Box::pin(async move {
                self.lock().batches.push(targets.len());
                let mut out = Vec::new();
                for t in targets {
                    out.push(self.delete(t).await);
                }
                out
            })
        }
        fn create(&self, _: Kind, _: Value) -> BoxFuture<'_, Result<Resource, ApiError>> {
            Box::pin(async { Err(http(400, None)) })
        }
        fn test_connection(&self, _: String) -> BoxFuture<'_, Result<(), ApiError>> {
            Box::pin(async { Ok(()) })
        }
        fn logout(&self) -> BoxFuture<'_, ()> {
            Box::pin(async {})
        }
    }

    fn res(kind: Kind, id: &str, name: &str, deps: &[&Resource]) -> Resource {
        let mut r = Resource::new(VendorId::MicroStrategy, "prod", kind, id, name);
        r.depends_on = deps.iter().map(|d| d.as_ref()).collect();
        r.raw = serde_json::json!({"id": id, "name": name}).into();
        r
    }

    fn make_plan(all: &[Resource], selected: &[(Kind, &str)], cascade: bool) -> Arc<DeletePlan> {
        let selected: Vec<(Kind, String)> =
            selected.iter().map(|(k, i)| (*k, i.to_string())).collect();
        Arc::new(build_plan(&PlanRequest {
            spec: &SPEC,
            profile: "prod",
            all,
            selected: &selected,
            hidden: &[],
            cascade,
            skip_in_use: false,
        }))
    }

    /// Datasource D1 -> connection C1 -> login L1, plus independent datasources D2, D3.
    fn chain() -> Vec<Resource> {
        let l1 = res(Kind::Logins, "L1", "etl login", &[]);
        let c1 = res(Kind::Connections, "C1", "sales conn", &[&l1]);
        let d1 = res(Kind::Datasources, "D1", "Sales", &[&c1]);
        let d2 = res(Kind::Datasources, "D2", "Marketing", &[]);
        let d3 = res(Kind::Datasources, "D3", "Ops", &[]);
        let mut all = vec![l1, c1, d1, d2, d3];
        link_references(&mut all, &[Kind::Connections, Kind::Logins]);
        all
    }

    fn many(n: usize) -> (Vec<Resource>, Vec<String>) {
        let all: Vec<Resource> = (0..n)
            .map(|i| {
                res(
                    Kind::Datasources,
                    &format!("D{i:03}"),
                    &format!("ds {i:03}"),
                    &[],
                )
            })
            .collect();
        let ids = all.iter().map(|r| r.id.to_string()).collect();
        (all, ids)
    }

    /// `n` unlinked datasources, a plan deleting all of them, their ids, and a fake that
    /// holds them.
    fn many_planned(n: usize) -> (Arc<DeletePlan>, Vec<String>, FakeApi) {
        let (all, ids) = many(n);
        let sel: Vec<(Kind, &str)> = ids
            .iter()
            .map(|i| (Kind::Datasources, i.as_str()))
            .collect();
        let plan = make_plan(&all, &sel, false);
        let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let fake = FakeApi::new(&id_refs);
        (plan, ids, fake)
    }

    /// A plan deleting datasources D2 and D3 of `chain()`, and a fake holding both.
    fn d2_and_d3() -> (Arc<DeletePlan>, Arc<FakeApi>) {
        let plan = make_plan(
            &chain(),
            &[(Kind::Datasources, "D2"), (Kind::Datasources, "D3")],
            false,
        );
        (plan, Arc::new(FakeApi::new(&["D2", "D3"])))
    }

    fn fast() -> ExecConfig {
        ExecConfig {
            concurrency: 4,
            max_attempts: 3,
            base_backoff: Duration::from_millis(1),
            deadline: None,
        }
    }

    struct Run {
        outcomes: Vec<StepOutcome>,
        updates: Vec<StepUpdate>,
    }

    async fn run(
        plan: Arc<DeletePlan>,
        api: Arc<FakeApi>,
        audit: Arc<AuditLog>,
        cfg: ExecConfig,
        cancel: CancellationToken,
    ) -> Run {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let outcomes = execute(plan, api, audit, cfg, cancel, tx).await;
        let mut updates = Vec::new();
        while let Ok(u) = rx.try_recv() {
            updates.push(u);
        }
        Run { outcomes, updates }
    }

    fn index_of(plan: &DeletePlan, id: &str) -> usize {
        plan.steps
            .iter()
            .position(|s| s.target.id == id)
            .unwrap_or(usize::MAX)
    }

    #[tokio::test]
    async fn cascade_deletes_in_order_and_reports_progress() {
        let all = chain();
        let plan = make_plan(&all, &[(Kind::Datasources, "D1")], true);
        let api = Arc::new(FakeApi::new(&["D1", "C1", "L1", "D2"]));
        let audit = Arc::new(AuditLog::disabled());
        let r = run(
            plan.clone(),
            api.clone(),
            audit,
            fast(),
            CancellationToken::new(),
        )
        .await;
        assert_eq!(r.outcomes, vec![StepOutcome::Deleted; 3]);
        assert_eq!(api.requests(), ["D1", "C1", "L1"]);
        assert!(api.exists("D2"));
        // Each step: Running (attempt 1) then its final outcome.
        for i in 0..3 {
            let mine: Vec<&StepUpdate> = r.updates.iter().filter(|u| u.index == i).collect();
            assert_eq!(mine.len(), 2, "step {i}: {mine:?}");
            assert_eq!(mine[0].outcome, StepOutcome::Running);
            assert_eq!(mine[1].outcome, StepOutcome::Deleted);
            assert_eq!(mine[1].attempt, 1);
        }
    }

    #[tokio::test]
    async fn failed_datasource_skips_its_connection_and_login() {
        let all = chain();
        let plan = make_plan(
            &all,
            &[(Kind::Datasources, "D1"), (Kind::Datasources, "D2")],
            true,
        );
        let api = Arc::new(FakeApi::new(&["D1", "C1", "L1", "D2"]));
        api.script("D1", vec![Answer::Fail(http(400, None))]);
        let r = run(
            plan.clone(),
            api.clone(),
            Arc::new(AuditLog::disabled()),
            fast(),
            CancellationToken::new(),
        )
        .await;
        let at = |id| r.outcomes[index_of(&plan, id)].clone();
        assert!(matches!(at("D1"), StepOutcome::Failed(e) if e.contains("HTTP 400")));
        assert_eq!(at("D2"), StepOutcome::Deleted);
        assert_eq!(
            at("C1"),
            StepOutcome::Skipped("kept: datasource 'Sales' was not deleted".into())
        );
        assert_eq!(
            at("L1"),
            StepOutcome::Skipped("kept: connection 'sales conn' was not deleted".into())
        );
        let mut req = api.requests();
        req.sort();
        assert_eq!(req, ["D1", "D2"], "no request for skipped steps");
        assert!(api.exists("C1") && api.exists("L1"));
        let summary = RunSummary::from(r.outcomes.as_slice());
        assert_eq!(
            summary.to_string(),
            "1 deleted, 1 failed, 2 skipped, 0 not started"
        );
        assert!(!summary.all_succeeded());
    }

    #[tokio::test]
    async fn transient_errors_are_retried_until_success() {
        let (plan, api) = d2_and_d3();
        api.script(
            "D2",
            vec![Answer::Fail(http(503, None)), Answer::Fail(http(503, None))],
        );
        api.script("D3", vec![Answer::Fail(http(429, Some(5)))]);
        let audit = Arc::new(AuditLog::disabled());
        let r = run(
            plan.clone(),
            api.clone(),
            audit.clone(),
            fast(),
            CancellationToken::new(),
        )
        .await;
        assert_eq!(r.outcomes, vec![StepOutcome::Deleted, StepOutcome::Deleted]);
        let reqs = api.requests();
        assert_eq!(reqs.iter().filter(|r| *r == "D2").count(), 3);
        assert_eq!(reqs.iter().filter(|r| *r == "D3").count(), 2);
        assert!(!api.exists("D2") && !api.exists("D3"));
        // Every attempt is audited: 5 requests, 5 before and 5 after lines.
        let lines = audit.recent();
        assert_eq!(lines.len(), 10);
        let d2 = index_of(&plan, "D2");
        let last = r.updates.iter().rfind(|u| u.index == d2).cloned();
        assert_eq!(
            last,
            Some(StepUpdate {
                index: d2,
                outcome: StepOutcome::Deleted,
                attempt: 3
            })
        );
    }

    #[tokio::test]
    async fn retries_stop_at_max_attempts_and_permanent_errors_are_not_retried() {
        let (plan, api) = d2_and_d3();
        api.script("D2", vec![Answer::Fail(http(502, None)); 5]);
        api.script("D3", vec![Answer::Fail(http(403, None))]);
        let r = run(
            plan.clone(),
            api.clone(),
            Arc::new(AuditLog::disabled()),
            fast(),
            CancellationToken::new(),
        )
        .await;
        let reqs = api.requests();
        assert_eq!(reqs.iter().filter(|r| *r == "D2").count(), 3);
        assert_eq!(reqs.iter().filter(|r| *r == "D3").count(), 1);
        assert!(
            matches!(&r.outcomes[index_of(&plan, "D2")], StepOutcome::Failed(e) if e.contains("HTTP 502"))
        );
        assert!(
            matches!(&r.outcomes[index_of(&plan, "D3")], StepOutcome::Failed(e) if e.contains("HTTP 403"))
        );
        assert!(api.exists("D2") && api.exists("D3"));
    }

    #[tokio::test]
    async fn not_found_and_retry_after_transport_error_count_as_already_gone() {
        let all = chain();
        let plan = make_plan(
            &all,
            &[(Kind::Datasources, "D2"), (Kind::Datasources, "D3")],
            false,
        );
        // D2 no longer exists on the server; D3's first answer is lost, but it was deleted.
        let api = Arc::new(FakeApi::new(&["D3"]));
        api.script(
            "D3",
            vec![
                Answer::Fail(ApiError::Transport {
                    vendor: VendorId::MicroStrategy,
                    message: "connection reset".into(),
                }),
                Answer::Ok(DeleteOutcome::AlreadyGone),
            ],
        );
        let audit = Arc::new(AuditLog::disabled());
        let r = run(
            plan.clone(),
            api.clone(),
            audit.clone(),
            fast(),
            CancellationToken::new(),
        )
        .await;
        assert_eq!(
            r.outcomes,
            vec![StepOutcome::AlreadyGone, StepOutcome::AlreadyGone]
        );
        assert!(r.outcomes.iter().all(StepOutcome::is_success));
        assert_eq!(
            RunSummary::from(&r.outcomes).to_string(),
            "0 deleted, 2 already gone, 0 failed, 0 skipped, 0 not started"
        );
        let outcomes: Vec<String> = audit
            .recent()
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter_map(|v| v["outcome"].as_str().map(str::to_string))
            .collect();
        assert!(outcomes.contains(&"unknown".to_string()), "{outcomes:?}");
        assert_eq!(outcomes.iter().filter(|o| *o == "already_gone").count(), 2);
    }

    #[tokio::test]
    async fn concurrency_bound_is_respected() {
        let (plan, _, mut fake) = many_planned(24);
        fake.delay = Duration::from_millis(5);
        let api = Arc::new(fake);
        let cfg = ExecConfig {
            concurrency: 3,
            ..fast()
        };
        let r = run(
            plan,
            api.clone(),
            Arc::new(AuditLog::disabled()),
            cfg,
            CancellationToken::new(),
        )
        .await;
        assert!(r.outcomes.iter().all(|o| *o == StepOutcome::Deleted));
        let max = api.lock().max_in_flight;
        assert!(max <= 3, "max in flight {max}");
        assert!(max >= 2, "requests were not run concurrently (max {max})");
        assert_eq!(api.requests().len(), 24);
    }

    #[tokio::test]
    async fn cancel_mid_run_stops_new_work_and_reports_exactly() {
        let (plan, _, mut fake) = many_planned(100);
        let cancel = CancellationToken::new();
        fake.delay = Duration::from_millis(2);
        fake.cancel_after = Some((10, cancel.clone()));
        let api = Arc::new(fake);
        let r = run(
            plan.clone(),
            api.clone(),
            Arc::new(AuditLog::disabled()),
            fast(),
            cancel,
        )
        .await;
        assert_eq!(r.outcomes.len(), 100);
        assert!(!r.outcomes.contains(&StepOutcome::Running));
        let requested: HashSet<String> = api.requests().into_iter().collect();
        let mut deleted = 0;
        for (step, outcome) in plan.steps.iter().zip(&r.outcomes) {
            let id = &step.target.id;
            match outcome {
                StepOutcome::Deleted => {
                    deleted += 1;
                    assert!(!api.exists(id), "{id} reported deleted but still exists");
                }
                StepOutcome::NotStarted => {
                    assert!(
                        !requested.contains(id.as_str()),
                        "{id} not started but requested"
                    );
                    assert!(api.exists(id));
                }
                other => panic!("unexpected outcome for {id}: {other:?}"),
            }
        }
        // The 10th completion cancels; up to 3 others were in flight and finish.
        assert!((10..=13).contains(&deleted), "deleted {deleted}");
        assert_eq!(requested.len(), deleted);
        let s = RunSummary::from(r.outcomes.as_slice());
        assert_eq!(s.deleted, deleted);
        assert_eq!(s.not_started, 100 - deleted);
    }

    #[tokio::test]
    async fn cancel_interrupts_a_retry_wait() {
        let all = chain();
        let plan = make_plan(&all, &[(Kind::Datasources, "D1")], true);
        let cancel = CancellationToken::new();
        let mut fake = FakeApi::new(&["D1", "C1", "L1"]);
        fake.cancel_after = Some((1, cancel.clone()));
        let api = Arc::new(fake);
        // The server asks for a 10-minute wait; cancel must not wait for it.
        api.script("D1", vec![Answer::Fail(http(429, Some(600_000)))]);
        let r = run(
            plan,
            api.clone(),
            Arc::new(AuditLog::disabled()),
            fast(),
            cancel,
        )
        .await;
        assert!(
            matches!(&r.outcomes[0], StepOutcome::Failed(e) if e.ends_with("cancelled before retry") && e.contains("HTTP 429")),
            "{:?}",
            r.outcomes[0]
        );
        assert_eq!(r.outcomes[1], StepOutcome::NotStarted);
        assert_eq!(r.outcomes[2], StepOutcome::NotStarted);
        assert_eq!(api.requests(), ["D1"]);
    }

    #[tokio::test]
    async fn a_delete_that_acted_before_failing_is_reported_already_gone() {
        let (plan, api) = d2_and_d3();
        // D2: deleted, but every answer is a 502 (first after acting, then before).
        api.script(
            "D2",
            vec![
                Answer::FailAfterActing(http(502, None)),
                Answer::Fail(http(502, None)),
                Answer::Fail(http(502, None)),
            ],
        );
        // D3: refused for good (403): no verification needed, it is still there.
        api.script("D3", vec![Answer::Fail(http(403, None))]);
        let r = run(
            plan.clone(),
            api.clone(),
            Arc::new(AuditLog::disabled()),
            fast(),
            CancellationToken::new(),
        )
        .await;
        assert_eq!(r.outcomes[index_of(&plan, "D2")], StepOutcome::AlreadyGone);
        assert!(!api.exists("D2"));
        assert!(matches!(
            &r.outcomes[index_of(&plan, "D3")],
            StepOutcome::Failed(_)
        ));
        assert!(api.exists("D3"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_run_stops_starting_requests_at_its_deadline() {
        let (plan, _, mut fake) = many_planned(40);
        fake.delay = Duration::from_secs(1);
        let api = Arc::new(fake);
        let cfg = ExecConfig {
            concurrency: 2,
            deadline: Some(Duration::from_millis(4500)),
            ..fast()
        };
        let r = run(
            plan.clone(),
            api.clone(),
            Arc::new(AuditLog::disabled()),
            cfg,
            CancellationToken::new(),
        )
        .await;
        let deleted = r.outcomes.iter().filter(|o| o.is_success()).count();
        let not_started = r
            .outcomes
            .iter()
            .filter(|o| **o == StepOutcome::NotStarted)
            .count();
        // Two at a time, a second each: about 10 finish before 4.5 s, the rest never start.
        assert!((8..=12).contains(&deleted), "{deleted} deleted");
        assert_eq!(deleted + not_started, 40);
        assert_eq!(api.requests().len(), deleted);
    }

    #[tokio::test]
    async fn bulk_vendors_get_chunks_and_transient_item_failures_are_retried_alone() {
        let (plan, ids, mut fake) = many_planned(7);
        fake.bulk = 3;
        let api = Arc::new(fake);
        api.script(&ids[1], vec![Answer::Fail(http(503, None))]);
        api.script(&ids[2], vec![Answer::Fail(http(400, None))]);
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.jsonl");
        let audit = Arc::new(AuditLog::open(&path).expect("open audit"));
        let r = run(
            plan.clone(),
            api.clone(),
            audit,
            fast(),
            CancellationToken::new(),
        )
        .await;
        let mut sizes = api.lock().batches.clone();
        sizes.sort_unstable();
        assert_eq!(sizes, vec![1, 3, 3], "7 objects in chunks of at most 3");
        let failed: Vec<&str> = plan
            .steps
            .iter()
            .zip(&r.outcomes)
            .filter(|(_, o)| matches!(o, StepOutcome::Failed(_)))
            .map(|(s, _)| s.target.id.as_str())
            .collect();
        assert_eq!(
            failed,
            vec![ids[2].as_str()],
            "the 400 fails, the 503 is retried"
        );
        for id in &ids {
            assert_eq!(api.exists(id), id == &ids[2], "{id}");
        }
        // 7 in bulk + 1 single retry = 8 requests, each with a before and an after line.
        let text = std::fs::read_to_string(&path).expect("read audit");
        assert_eq!(api.requests().len(), 8);
        assert_eq!(text.lines().count(), 16);
    }

    #[tokio::test]
    async fn audit_file_has_before_and_after_for_every_request() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.jsonl");
        let audit = Arc::new(AuditLog::open(&path).expect("open audit"));
        let mut all = chain();
        all[0].raw =
            serde_json::json!({"id": "L1", "name": "etl login", "password": "hunter2"}).into();
        let plan = make_plan(&all, &[(Kind::Datasources, "D1")], true);
        let api = Arc::new(FakeApi::new(&["D1", "C1", "L1"]));
        api.script("C1", vec![Answer::Fail(http(500, None))]);
        let r = run(plan, api.clone(), audit, fast(), CancellationToken::new()).await;
        assert!(r.outcomes.iter().all(StepOutcome::is_success));
        let text = std::fs::read_to_string(&path).expect("read audit");
        assert!(!text.contains("hunter2"));
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("json line"))
            .collect();
        assert_eq!(api.requests().len(), 4);
        assert_eq!(lines.len(), 8);
        for (pos, line) in lines.iter().enumerate() {
            if line["phase"] == "after" {
                let before = lines[..pos]
                    .iter()
                    .position(|b| b["phase"] == "before" && b["seq"] == line["seq"]);
                assert!(before.is_some(), "after without an earlier before: {line}");
            } else {
                assert_eq!(line["phase"], "before");
                assert_eq!(line["operation"], "delete");
                assert_eq!(line["profile"], "prod");
                assert!(line["object"].is_object());
            }
        }
        let c1_outcomes: Vec<&str> = lines
            .iter()
            .filter(|l| l["id"] == "C1" && l["phase"] == "after")
            .filter_map(|l| l["outcome"].as_str())
            .collect();
        assert_eq!(c1_outcomes, ["failed", "deleted"]);
    }

    #[tokio::test]
    async fn unwritable_audit_log_means_nothing_is_sent() {
        let all = chain();
        let plan = make_plan(
            &all,
            &[(Kind::Datasources, "D1"), (Kind::Datasources, "D2")],
            true,
        );
        let api = Arc::new(FakeApi::new(&["D1", "C1", "L1", "D2"]));
        let r = run(
            plan.clone(),
            api.clone(),
            Arc::new(AuditLog::failing()),
            fast(),
            CancellationToken::new(),
        )
        .await;
        assert!(api.requests().is_empty());
        for id in ["D1", "D2"] {
            assert!(
                matches!(&r.outcomes[index_of(&plan, id)], StepOutcome::Failed(e) if e.starts_with("audit log not writable; not sent:")),
                "{:?}",
                r.outcomes
            );
        }
        assert!(matches!(
            r.outcomes[index_of(&plan, "C1")],
            StepOutcome::Skipped(_)
        ));
    }

    #[test]
    fn execute_can_be_spawned() {
        fn assert_send<T: Send + 'static>(_: &T) {}
        fn assert_sync<T: Send + Sync>() {}
        assert_sync::<AuditLog>();
        let (tx, _rx) = mpsc::unbounded_channel();
        let fut = execute(
            make_plan(&chain(), &[], false),
            Arc::new(FakeApi::new(&[])),
            Arc::new(AuditLog::disabled()),
            fast(),
            CancellationToken::new(),
            tx,
        );
        assert_send(&fut);
    }

    #[test]
    fn retry_wait_honours_retry_after_and_backs_off() {
        let base = Duration::from_millis(100);
        for attempt in 1..=4u32 {
            let w = retry_wait(&http(503, None), base, attempt);
            let nominal = 100.0 * 2f64.powi(attempt as i32 - 1);
            let ms = w.as_secs_f64() * 1000.0;
            assert!(
                ms >= nominal * 0.75 - 0.001 && ms <= nominal * 1.25 + 0.001,
                "{ms}"
            );
        }
        let w = retry_wait(&http(429, Some(2_000)), base, 1);
        assert!(w >= Duration::from_secs(2) && w <= Duration::from_millis(2_500));
        let w = retry_wait(&http(429, Some(u64::MAX)), base, 1);
        assert_eq!(w, MAX_RETRY_WAIT);
        let w = retry_wait(&http(503, None), Duration::from_secs(3600), 40);
        assert_eq!(w, MAX_RETRY_WAIT);
    }

    #[test]
    fn outcome_labels_and_summary() {
        assert_eq!(StepOutcome::AlreadyGone.label(), "already gone");
        assert!(StepOutcome::SoftDeleted.is_success());
        assert!(!StepOutcome::Skipped("x".into()).is_success());
        assert!(StepOutcome::Failed("x".into()).is_final());
        assert!(!StepOutcome::NotStarted.is_final());
        assert!(!StepOutcome::Running.is_final());
        assert_eq!(
            serde_json::to_value(StepOutcome::Failed("boom".into())).ok(),
            Some(serde_json::json!({"outcome": "failed", "detail": "boom"}))
        );
        assert_eq!(
            serde_json::to_value(StepOutcome::Deleted).ok(),
            Some(serde_json::json!({"outcome": "deleted"}))
        );
        let outcomes = [
            StepOutcome::Deleted,
            StepOutcome::Deleted,
            StepOutcome::Deleted,
            StepOutcome::Failed("e".into()),
            StepOutcome::Skipped("s".into()),
            StepOutcome::Skipped("s".into()),
        ];
        let s = RunSummary::from(&outcomes[..]);
        assert_eq!(
            s.to_string(),
            "3 deleted, 1 failed, 2 skipped, 0 not started"
        );
        assert_eq!(s.total(), 6);
        assert_eq!(s.done(), 6);
        assert!(RunSummary::from(&[StepOutcome::Deleted][..]).all_succeeded());
    }

    #[test]
    fn phases_split_by_kind_and_inner_dependencies() {
        let all = chain();
        let plan = make_plan(
            &all,
            &[(Kind::Datasources, "D1"), (Kind::Datasources, "D2")],
            true,
        );
        assert_eq!(phases(&plan), vec![vec![0, 1], vec![2], vec![3]]);
        // A same-kind dependency starts a new phase.
        let mut p = (*plan).clone();
        p.steps[1].after = vec![0];
        assert_eq!(phases(&p), vec![vec![0], vec![1], vec![2], vec![3]]);
    }
}
