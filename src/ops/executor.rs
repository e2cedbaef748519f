//! The bulk executor shared by the TUI and the CLI: runs a confirmed `DeletePlan` phase by
//! phase with bounded concurrency, audits every request before and after, retries only
//! transient failures, skips whatever a failed step was protecting, and stops starting new
//! work the moment it is cancelled.

use crate::model::Kind;
use crate::ops::audit::{AuditEntry, AuditLog};
use crate::ops::plan::{DeletePlan, PlanStep};
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
    /// First retry wait when the server gives none; doubles each retry, +-25% jitter.
    pub base_backoff: Duration,
}

impl Default for ExecConfig {
    fn default() -> Self {
        ExecConfig {
            concurrency: 4,
            max_attempts: 3,
            base_backoff: Duration::from_millis(250),
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
    cfg: &'a ExecConfig,
    cancel: &'a CancellationToken,
    progress: &'a UnboundedSender<StepUpdate>,
}

impl Ctx<'_> {
    fn report(&self, index: usize, outcome: StepOutcome, attempt: u32) {
        // The receiver may be gone (the UI closed the view): the run goes on regardless.
        let _ = self.progress.send(StepUpdate {
            index,
            outcome,
            attempt,
        });
    }
}

/// Run `plan`. Returns one outcome per step, in step order; none is `Running`.
pub async fn execute(
    plan: Arc<DeletePlan>,
    api: Arc<dyn VendorApi>,
    audit: Arc<AuditLog>,
    cfg: ExecConfig,
    cancel: CancellationToken,
    progress: UnboundedSender<StepUpdate>,
) -> Vec<StepOutcome> {
    let ctx = Ctx {
        plan: &plan,
        api: api.as_ref(),
        audit: &audit,
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
        let results: Vec<(usize, StepOutcome)> = stream::iter(
            phase
                .into_iter()
                .map(|i| async move { (i, run_step(ctx, i, done).await) }),
        )
        .buffer_unordered(concurrency)
        .collect()
        .await;
        for (i, outcome) in results {
            if let Some(slot) = outcomes.get_mut(i) {
                *slot = outcome;
            }
        }
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
    AuditEntry {
        profile: plan.profile.clone(),
        vendor: plan.vendor,
        operation: "delete".to_string(),
        kind: step.target.kind,
        id: step.target.id.clone(),
        name: step.target.name.clone(),
        object: step.raw.clone(),
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

async fn run_step(ctx: &Ctx<'_>, index: usize, done: &[StepOutcome]) -> StepOutcome {
    if ctx.cancel.is_cancelled() {
        return StepOutcome::NotStarted;
    }
    let Some(step) = ctx.plan.steps.get(index) else {
        return StepOutcome::NotStarted;
    };
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
        return outcome;
    }

    let entry = entry_of(ctx.plan, step);
    let max_attempts = ctx.cfg.max_attempts.max(1);
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let seq = match ctx.audit.before(&entry) {
            Ok(seq) => seq,
            Err(e) => {
                let outcome = StepOutcome::Failed(format!("audit log not writable; not sent: {e}"));
                ctx.report(index, outcome.clone(), attempt);
                return outcome;
            }
        };
        ctx.report(index, StepOutcome::Running, attempt);
        let result = ctx.api.delete(step.target.clone()).await;
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
        let err = match result {
            Ok(o) => {
                let outcome = match o {
                    DeleteOutcome::Deleted => StepOutcome::Deleted,
                    DeleteOutcome::AlreadyGone => StepOutcome::AlreadyGone,
                    DeleteOutcome::SoftDeleted => StepOutcome::SoftDeleted,
                };
                ctx.report(index, outcome.clone(), attempt);
                return outcome;
            }
            Err(e) => e,
        };
        let text = error_text.unwrap_or_else(|| err.to_string());
        if !err.is_transient() || attempt >= max_attempts {
            let outcome = StepOutcome::Failed(text);
            ctx.report(index, outcome.clone(), attempt);
            return outcome;
        }
        let wait = retry_wait(&err, ctx.cfg.base_backoff, index, attempt);
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
            let outcome = StepOutcome::Failed(format!("{text}; cancelled before retry"));
            ctx.report(index, outcome.clone(), attempt);
            return outcome;
        }
    }
}

/// A number in [0, 1) that differs per step and attempt, without a random-number crate.
fn unit_noise(index: usize, attempt: u32) -> f64 {
    use std::hash::BuildHasher;
    let h = std::collections::hash_map::RandomState::new().hash_one((index, attempt));
    (h % 1_000_000) as f64 / 1_000_000.0
}

/// How long to wait after failed attempt number `attempt` (1-based): the server's
/// `Retry-After` plus up to 25% (never earlier than asked), else `base * 2^(attempt-1)` +-25%.
/// Never more than `MAX_RETRY_WAIT`.
fn retry_wait(err: &ApiError, base: Duration, index: usize, attempt: u32) -> Duration {
    let noise = unit_noise(index, attempt);
    let secs = match err.retry_after() {
        Some(asked) => asked.as_secs_f64() * (1.0 + 0.25 * noise),
        None => {
            let factor = 2f64.powi(attempt.saturating_sub(1).min(30) as i32);
            base.as_secs_f64() * factor * (0.75 + 0.5 * noise)
        }
    };
    let secs = secs.clamp(0.0, MAX_RETRY_WAIT.as_secs_f64());
    Duration::try_from_secs_f64(secs).unwrap_or(MAX_RETRY_WAIT)
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

/// The plan for "retry failed": the steps that did not succeed (failed, skipped, not
/// started), in the same order, with `after` re-pointed to the new indices and dropped where
/// the dependent already succeeded. Plan-level facts (kept, warnings...) are carried over;
/// `hidden` and `cascade_extra` keep only refs still in the plan.
pub fn retry_plan(plan: &DeletePlan, outcomes: &[StepOutcome]) -> DeletePlan {
    let mut new_index: Vec<Option<usize>> = vec![None; plan.steps.len()];
    let mut steps = Vec::new();
    for (i, step) in plan.steps.iter().enumerate() {
        let succeeded = outcomes.get(i).is_some_and(StepOutcome::is_success);
        if succeeded {
            continue;
        }
        new_index[i] = Some(steps.len());
        let mut s = step.clone();
        s.after = step
            .after
            .iter()
            .filter_map(|&a| new_index.get(a).copied().flatten())
            .collect();
        steps.push(s);
    }
    let keys: std::collections::HashSet<(Kind, &str)> = steps
        .iter()
        .map(|s| (s.target.kind, s.target.id.as_str()))
        .collect();
    let in_plan = |r: &crate::model::Ref| keys.contains(&(r.kind, r.id.as_str()));
    let hidden = plan.hidden.iter().filter(|r| in_plan(r)).cloned().collect();
    let cascade_extra = plan
        .cascade_extra
        .iter()
        .filter(|r| in_plan(r))
        .cloned()
        .collect();
    DeletePlan {
        profile: plan.profile.clone(),
        vendor: plan.vendor,
        steps,
        kept: plan.kept.clone(),
        hidden,
        cascade: plan.cascade,
        cascade_extra,
        warnings: plan.warnings.clone(),
        not_found: Vec::new(),
    }
}
