//! Headless commands: `list`, `delete`, `create`, `impact`, `check`. They share the vendor
//! clients, the delete plan, the bulk executor and the audit log with the TUI. Data goes to
//! stdout, messages to stderr; exit 0 when everything succeeded, 1 when an operation failed or a
//! requested object was left out, 2 for usage and config errors, 128 + the signal number
//! (130, 143, 129) when SIGINT, SIGTERM or SIGHUP cut a delete short.
//!
//! Every human-readable line (tables, plans, reports, summaries, warnings, errors) shows
//! server text through `text::sanitize`; JSON and ndjson keep the exact strings.

use crate::config::{self, Config, ProfileConfig};
use crate::filter::RowFilter;
use crate::model::{CellCtx, Kind, Ref, Resource};
use crate::ops::audit::AuditLog;
use crate::ops::executor::{execute, ExecConfig, StepOutcome, StepUpdate};
use crate::ops::plan::{build_plan, DeletePlan, PlanRequest};
use crate::signals::StopSignal;
use crate::text::{sanitize, sanitize_lines};
use crate::vendors::{self, VendorApi, VendorSpec};
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

mod check;
mod impact;
mod owned;
mod plan_file;
mod restore;
mod secret;
mod update;
pub use check::{check, CheckOutput};
pub use impact::impact;
pub use owned::owned_by_cmd as owned_by;
pub use plan_file::{apply, ApplyArgs};
pub use restore::{deleted_cmd as deleted, restore, RestoreArgs};
pub use secret::secret_set;
pub use update::{rotate, update, ConfirmArgs, ValueArgs};

/// Output format of `list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Table,
    Json,
    Ndjson,
}

/// A failure that ends a command, with its exit code.
#[derive(Debug)]
pub struct Fail {
    pub code: u8,
    pub message: String,
}

impl Fail {
    fn usage(message: impl Into<String>) -> Self {
        Fail {
            code: 2,
            message: message.into(),
        }
    }
    fn op(message: impl Into<String>) -> Self {
        Fail {
            code: 1,
            message: message.into(),
        }
    }
}

/// Print the failure and turn it into an exit code.
pub fn finish(result: Result<ExitCode, Fail>) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(f) => {
            eprintln!("dsconsole: {}", sanitize(&f.message));
            ExitCode::from(f.code)
        }
    }
}

/// A profile opened for a headless command.
pub struct Opened {
    pub profile: ProfileConfig,
    pub config: Config,
    pub spec: &'static VendorSpec,
    pub client: Arc<dyn VendorApi>,
}

/// Load the config and build the client of `name`.
pub fn open_profile(
    config_path: Option<&Path>,
    name: &str,
    read_only: bool,
) -> Result<Opened, Fail> {
    let (cfg, path) = load_config(config_path)?;
    let Some(profile) = cfg.profile(name).cloned() else {
        return Err(no_such_profile(&cfg, &path, name));
    };
    let spec = vendors::spec(profile.vendor);
    if !spec.supported {
        return Err(Fail::usage(format!(
            "profile '{name}': {} is not supported yet",
            profile.vendor.display()
        )));
    }
    let settings = profile
        .client_settings(&cfg.defaults, read_only)
        .map_err(|e| Fail::usage(format!("profile '{name}': {e}")))?;
    let client =
        vendors::connect(settings).map_err(|e| Fail::usage(format!("profile '{name}': {e}")))?;
    Ok(Opened {
        profile,
        config: cfg,
        spec,
        client,
    })
}

/// Load the config (printing its warnings) and say where it came from.
fn load_config(config_path: Option<&Path>) -> Result<(Config, PathBuf), Fail> {
    let path = config::resolve_path(config_path)
        .ok_or_else(|| Fail::usage("no config file: pass --config PATH or set DSCONSOLE_CONFIG"))?;
    if !path.exists() {
        return Err(Fail::usage(format!(
            "config file {} does not exist",
            path.display()
        )));
    }
    let cfg = Config::load(&path).map_err(|e| Fail::usage(e.to_string()))?;
    for w in &cfg.warnings {
        eprintln!("warning: {}", sanitize(w));
    }
    Ok((cfg, path))
}

fn no_such_profile(cfg: &Config, path: &Path, name: &str) -> Fail {
    let names: Vec<&str> = cfg.profiles.iter().map(|p| p.name.as_str()).collect();
    Fail::usage(format!(
        "no profile '{name}' in {} (profiles: {})",
        path.display(),
        if names.is_empty() {
            "none".to_string()
        } else {
            names.join(", ")
        }
    ))
}

fn parse_kind(spec: &VendorSpec, kind: &str) -> Result<Kind, Fail> {
    let names: Vec<&str> = spec.kinds.iter().map(|k| k.id()).collect();
    match Kind::parse(kind) {
        Some(k) if spec.kinds.contains(&k) => Ok(k),
        _ => Err(Fail::usage(format!(
            "{} has no kind '{kind}' (kinds: {})",
            spec.vendor.display(),
            names.join(", ")
        ))),
    }
}

async fn load(o: &Opened) -> Result<Vec<Resource>, Fail> {
    let snap = o
        .client
        .load()
        .await
        .map(vendors::Snapshot::redacted)
        .map_err(|e| Fail::op(format!("{}: load failed: {e}", o.profile.name)))?;
    for w in &snap.warnings {
        eprintln!("warning: {}: {}", o.profile.name, sanitize(w));
    }
    Ok(snap.resources)
}

/// `dsconsole list PROFILE [KIND]`.
pub async fn list(
    config_path: Option<&Path>,
    profile: &str,
    kind: Option<&str>,
    output: Output,
    filter: Option<&str>,
    unhealthy: bool,
    orphans: bool,
) -> Result<ExitCode, Fail> {
    let o = open_profile(config_path, profile, true)?;
    let result = list_opened(&o, kind, output, filter, unhealthy, orphans).await;
    o.client.logout().await;
    result
}

async fn list_opened(
    o: &Opened,
    kind: Option<&str>,
    output: Output,
    filter: Option<&str>,
    unhealthy: bool,
    orphans: bool,
) -> Result<ExitCode, Fail> {
    let kinds: Vec<Kind> = match kind {
        Some(k) => vec![parse_kind(o.spec, k)?],
        None => o.spec.kinds.to_vec(),
    };
    // JSON out, rows chosen one at a time: each object is written as the load hands it over
    // and dropped (`load_each`), so 300,000 objects are never all held as `Resource`s.
    if !orphans && matches!(output, Output::Json | Output::Ndjson) {
        return list_streamed(o, &kinds, output, filter, unhealthy).await;
    }
    let all = load(o).await?;
    let mut rf = filter.map(RowFilter::new);
    let rows: Vec<&Resource> = all
        .iter()
        .filter(|r| kinds.contains(&r.kind))
        .filter(|r| !unhealthy || r.is_unhealthy())
        .filter(|r| !orphans || r.is_orphan())
        .filter(|r| match rf.as_mut() {
            Some(f) => {
                f.matches_resource(r, chrono::Utc::now().timestamp())
                    && f.matches_fields(&crate::filter::search_fields(r))
            }
            None => true,
        })
        .collect();
    // An orphan is also an object whose impact is "none found": nothing the admin lists
    // uses it and no content does. Candidates that break content or whose impact is
    // unknown are left out, and said so on stderr.
    let rows = if orphans {
        impact::orphans_without_content(o, &all, rows).await
    } else {
        rows
    };
    // Buffered: stdout is line-buffered, and a write per object costs more than the object.
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let result = match output {
        Output::Json => serde_json::to_writer_pretty(&mut out, &rows)
            .map_err(std::io::Error::from)
            .and_then(|_| writeln!(out)),
        Output::Ndjson => rows.iter().try_for_each(|r| {
            serde_json::to_writer(&mut out, r).map_err(std::io::Error::from)?;
            writeln!(out)
        }),
        Output::Table => {
            let now = chrono::Utc::now().timestamp();
            kinds.iter().try_for_each(|k| {
                let of_kind: Vec<&Resource> =
                    rows.iter().copied().filter(|r| r.kind == *k).collect();
                if kinds.len() > 1 {
                    writeln!(out, "== {} ({})", k.title(), of_kind.len())?;
                }
                write_table(&mut out, o.spec, *k, &of_kind, now)
            })
        }
    }
    .and_then(|_| out.flush());
    if let Err(e) = result {
        // A closed pipe (`| head`) is not an error worth a message.
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            return Err(Fail::op(format!("writing output: {e}")));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `list --output json|ndjson` without `--orphans`: the same rows and bytes as writing the
/// loaded snapshot, each object written as `VendorApi::load_each` hands it over.
async fn list_streamed(
    o: &Opened,
    kinds: &[Kind],
    output: Output,
    filter: Option<&str>,
    unhealthy: bool,
) -> Result<ExitCode, Fail> {
    let mut rf = filter.map(RowFilter::new);
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout());
    let mut failed: Option<std::io::Error> = None;
    let mut array = PrettyArray::default();
    let mut visit = |r: Resource| -> bool {
        let wanted = kinds.contains(&r.kind)
            && (!unhealthy || r.is_unhealthy())
            && match rf.as_mut() {
                Some(f) => {
                    f.matches_resource(&r, chrono::Utc::now().timestamp())
                        && f.matches_fields(&crate::filter::search_fields(&r))
                }
                None => true,
            };
        if !wanted {
            return true;
        }
        let result = match output {
            Output::Ndjson => serde_json::to_writer(&mut out, &r)
                .map_err(std::io::Error::from)
                .and_then(|_| writeln!(out)),
            _ => array.element(&mut out, &r),
        };
        match result {
            Ok(()) => true,
            Err(e) => {
                failed = Some(e);
                false
            }
        }
    };
    let warnings = o
        .client
        .load_each(&mut visit)
        .await
        .map_err(|e| Fail::op(format!("{}: load failed: {e}", o.profile.name)))?;
    for w in &warnings {
        eprintln!("warning: {}: {}", o.profile.name, sanitize(w));
    }
    let end = match (failed, output) {
        (Some(e), _) => Err(e),
        (None, Output::Ndjson) => Ok(()),
        (None, _) => array.finish(&mut out).and_then(|_| writeln!(out)),
    };
    if let Err(e) = end.and_then(|_| out.flush()) {
        // A closed pipe (`| head`) is not an error worth a message.
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            return Err(Fail::op(format!("writing output: {e}")));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes a JSON array one element at a time, byte for byte as `serde_json::to_writer_pretty`
/// writes the whole array: each element's own pretty text with every line indented by two
/// spaces (pretty JSON holds no raw newline inside a string).
#[derive(Default)]
struct PrettyArray {
    elements: usize,
    buf: Vec<u8>,
}

impl PrettyArray {
    fn element(
        &mut self,
        out: &mut impl Write,
        value: &impl serde::Serialize,
    ) -> std::io::Result<()> {
        self.buf.clear();
        serde_json::to_writer_pretty(&mut self.buf, value)?;
        out.write_all(if self.elements == 0 { b"[\n" } else { b",\n" })?;
        for (i, line) in self.buf.split(|c| *c == b'\n').enumerate() {
            if i > 0 {
                out.write_all(b"\n")?;
            }
            out.write_all(b"  ")?;
            out.write_all(line)?;
        }
        self.elements += 1;
        Ok(())
    }

    /// The closing bracket (the whole `[]` when there was no element).
    fn finish(&self, out: &mut impl Write) -> std::io::Result<()> {
        out.write_all(if self.elements == 0 { b"[]" } else { b"\n]" })
    }
}

fn write_table(
    out: &mut impl Write,
    spec: &VendorSpec,
    kind: Kind,
    rows: &[&Resource],
    now: i64,
) -> std::io::Result<()> {
    let columns = (spec.columns)(kind);
    let ctx = CellCtx { now };
    let mut cells: Vec<Vec<String>> = vec![columns.iter().map(|c| c.title.to_string()).collect()];
    cells[0].push("ID".into());
    for r in rows {
        let mut line: Vec<String> = columns
            .iter()
            .map(|c| sanitize(&(c.cell)(r, &ctx).text).into_owned())
            .collect();
        line.push(sanitize(&r.id).into_owned());
        cells.push(line);
    }
    write_columns(out, &cells, |_| 48, |_| false)
}

/// Rows of cells (already sanitized) as aligned text columns: each column as wide as its
/// widest cell, at most `cap(column)` characters, cut to that width unless `whole(column)`;
/// two spaces between columns, no trailing blanks.
pub(crate) fn write_columns<R: AsRef<[String]>>(
    out: &mut impl Write,
    rows: &[R],
    cap: impl Fn(usize) -> usize,
    whole: impl Fn(usize) -> bool,
) -> std::io::Result<()> {
    let ncol = rows.first().map_or(0, |r| r.as_ref().len());
    let widths: Vec<usize> = (0..ncol)
        .map(|i| {
            rows.iter()
                .map(|l| l.as_ref().get(i).map_or(0, |c| c.chars().count()))
                .max()
                .unwrap_or(0)
                .min(cap(i))
        })
        .collect();
    for line in rows {
        let mut text = String::new();
        for (i, cell) in line.as_ref().iter().enumerate() {
            let w = widths.get(i).copied().unwrap_or(0);
            if whole(i) {
                text.push_str(&format!("{cell:<w$}  "));
            } else {
                let cut = crate::text::fit(cell, w);
                text.push_str(&format!("{cut:<w$}  "));
            }
        }
        writeln!(out, "{}", text.trim_end())?;
    }
    Ok(())
}

/// Find the objects `wanted` names (ids first, then exact names) among one kind.
fn resolve_targets(
    all: &[Resource],
    kind: Kind,
    wanted: &[String],
) -> Result<Vec<(Kind, String)>, Fail> {
    let mut out = Vec::new();
    let mut missing = Vec::new();
    for w in wanted {
        if let Some(r) = all.iter().find(|r| r.kind == kind && &r.id == w) {
            out.push((kind, r.id.to_string()));
            continue;
        }
        let by_name: Vec<&Resource> = all
            .iter()
            .filter(|r| r.kind == kind && &r.name == w)
            .collect();
        match by_name.as_slice() {
            [] => missing.push(w.clone()),
            [one] => out.push((kind, one.id.to_string())),
            many => {
                let ids: Vec<&str> = many.iter().map(|r| r.id.as_str()).collect();
                return Err(Fail::usage(format!(
                    "{} name '{w}' is ambiguous: {} objects have it (ids: {}); pass an id",
                    kind.singular(),
                    many.len(),
                    ids.join(", ")
                )));
            }
        }
    }
    if !missing.is_empty() {
        return Err(Fail::usage(format!(
            "no {} with id or name {}",
            kind.singular(),
            missing
                .iter()
                .map(|m| format!("'{m}'"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(out)
}

/// Options of `dsconsole delete`.
pub struct DeleteArgs {
    pub profile: String,
    pub kind: String,
    pub targets: Vec<String>,
    pub cascade: bool,
    pub skip_in_use: bool,
    pub dry_run: bool,
    pub yes: bool,
    pub concurrency: Option<usize>,
    pub confirm_profile: Option<String>,
    pub time_limit: Option<std::time::Duration>,
    /// Delete even when the plan breaks content or its impact is unknown (with `--yes`).
    pub force_impact: bool,
    /// Write the plan to this file (for `apply`) instead of running it; nothing is sent.
    pub plan_out: Option<PathBuf>,
}

/// `dsconsole delete PROFILE KIND ID_OR_NAME...`.
pub async fn delete(
    config_path: Option<&Path>,
    read_only: bool,
    a: DeleteArgs,
) -> Result<ExitCode, Fail> {
    let o = open_profile(config_path, &a.profile, read_only)?;
    let result = delete_opened(&o, read_only, a).await;
    o.client.logout().await;
    result
}

async fn delete_opened(o: &Opened, read_only: bool, a: DeleteArgs) -> Result<ExitCode, Fail> {
    let kind = parse_kind(o.spec, &a.kind)?;
    if !o.spec.delete_order.contains(&kind) {
        return Err(Fail::usage(format!(
            "{} {kind} are read-only",
            o.spec.vendor.display()
        )));
    }
    let read_only = read_only || o.profile.read_only;
    if read_only && !a.dry_run && a.plan_out.is_none() {
        return Err(Fail::usage(format!(
            "profile '{}' is read-only: nothing was sent (use --dry-run to see the plan)",
            o.profile.name
        )));
    }
    let all = load(o).await?;
    let selected = resolve_targets(&all, kind, &a.targets)?;
    let mut plan = build_plan(&PlanRequest {
        spec: o.spec,
        profile: &o.profile.name,
        all: &all,
        selected: &selected,
        hidden: &[],
        cascade: a.cascade,
        skip_in_use: a.skip_in_use,
    });
    if !plan.is_empty() {
        let refs: Vec<Ref> = plan.steps.iter().map(|s| s.target.clone()).collect();
        let impacts = impact::compute(o, &all, &refs).await;
        plan.set_impacts(&impacts, chrono::Utc::now().timestamp());
    }
    if let Some(path) = &a.plan_out {
        return plan_file::write_plan(o, &plan, &all, path);
    }
    if a.dry_run {
        print!("{}", plan_text(&plan));
        println!("dry run: nothing was sent");
        return Ok(ExitCode::SUCCESS);
    }
    if plan.is_empty() {
        eprint!("{}", plan_text(&plan));
        return Err(Fail::op("nothing to delete"));
    }
    let left_out = left_out(&plan, &all, &selected)
        .into_iter()
        .map(|(target, why)| LeftOut {
            word: "left out",
            target,
            why: vec![why.to_string()],
            gone: false,
        })
        .collect();
    let run = RunOpts {
        yes: a.yes,
        confirm_profile: a.confirm_profile,
        concurrency: a.concurrency,
        time_limit: a.time_limit,
        force_impact: a.force_impact,
    };
    run_plan(o, plan, &run, left_out).await
}

/// How a confirmed plan runs (`delete`, `apply`).
struct RunOpts {
    yes: bool,
    confirm_profile: Option<String>,
    concurrency: Option<usize>,
    time_limit: Option<std::time::Duration>,
    force_impact: bool,
}

/// An object asked for that the plan does not delete, with the word the report gives it
/// ("left out", "refused", "gone") and why, one line each.
struct LeftOut {
    word: &'static str,
    target: Ref,
    why: Vec<String>,
    /// Gone already (deleted meanwhile): counted as "already gone", not as left out.
    gone: bool,
}

/// Confirm `plan` (typed at the terminal, or `--yes` with `--confirm-profile` for a
/// protected profile; a plan that breaks content needs `--force-impact` with `--yes`), run
/// it with an audit line before and after each request, and report each object (stdout)
/// and the summary (stderr). `left_out` counts as not done.
async fn run_plan(
    o: &Opened,
    plan: DeletePlan,
    a: &RunOpts,
    left_out: Vec<LeftOut>,
) -> Result<ExitCode, Fail> {
    if o.profile.protected {
        match &a.confirm_profile {
            Some(p) if p == &o.profile.name => {}
            Some(p) => {
                return Err(Fail::usage(format!(
                    "--confirm-profile '{p}' does not match the protected profile '{}': nothing was sent",
                    o.profile.name
                )))
            }
            None if a.yes => {
                return Err(Fail::usage(format!(
                    "profile '{}' is protected: add --confirm-profile {} to --yes",
                    o.profile.name, o.profile.name
                )))
            }
            None => {}
        }
    }
    if !a.yes {
        confirm_on_terminal(&plan, o.profile.protected)?;
    } else {
        eprint!("{}", plan_text(&plan));
        if let Some(refusal) = impact::unattended_refusal(&plan, a.force_impact) {
            return Err(Fail::op(refusal));
        }
    }
    let audit = open_audit()?;
    let concurrency = a
        .concurrency
        .unwrap_or_else(|| o.profile.concurrency(&o.config.defaults))
        .max(1);
    let run = run_with_progress(
        Arc::new(plan.clone()),
        o.client.clone(),
        audit,
        concurrency,
        a.time_limit,
    )
    .await;
    let mut out = std::io::stdout().lock();
    for (step, outcome) in plan.steps.iter().zip(&run.outcomes) {
        let _ = writeln!(
            out,
            "{:<13} {}  {}",
            outcome_word(outcome),
            sanitize(&step.target.label()),
            sanitize(&step.target.id)
        );
        let detail = match outcome {
            StepOutcome::Running => Some(UNKNOWN_OUTCOME),
            other => other.detail(),
        };
        for line in detail.map(sanitize_lines).unwrap_or_default() {
            let _ = writeln!(out, "              {line}");
        }
    }
    for l in &left_out {
        let _ = writeln!(
            out,
            "{:<13} {}  {}",
            l.word,
            sanitize(&l.target.label()),
            sanitize(&l.target.id)
        );
        for why in &l.why {
            let _ = writeln!(out, "              {}", sanitize(why));
        }
    }
    let _ = out.flush();
    drop(out);
    let gone = left_out.iter().filter(|l| l.gone).count();
    let mut tally = Tally::of(&run.outcomes, true, left_out.len() - gone);
    tally.already_gone += gone;
    let title = match run.signal {
        Some(_) => "Cancelled",
        None if a.time_limit.is_some() && tally.not_started > 0 => "Stopped at the time limit",
        None => "Finished",
    };
    eprintln!("{title} — {}: {tally}", sanitize(&o.profile.name));
    if let Some(sig) = run.signal {
        Ok(ExitCode::from(sig.exit_code()))
    } else if tally.complete() {
        Ok(ExitCode::SUCCESS)
    } else {
        Ok(ExitCode::from(1))
    }
}

/// What the report says of a request whose answer never arrived.
const UNKNOWN_OUTCOME: &str =
    "in flight when dsconsole stopped: the server may or may not have deleted it";

/// The audit log's reason for requests still open when a run is abandoned.
const ABANDONED: &str = "dsconsole stopped before the answer arrived: the outcome is unknown";

/// How long requests in flight may take to finish once a signal cancelled the run.
const CANCEL_GRACE: Duration = crate::signals::SHUTDOWN_GRACE;

/// The word for one step's outcome in the report. `Running` only remains after a run was
/// abandoned with requests in flight: their outcome is unknown.
fn outcome_word(o: &StepOutcome) -> &'static str {
    match o {
        StepOutcome::NotStarted => "not started",
        StepOutcome::Running => "unknown",
        StepOutcome::Deleted => "deleted",
        StepOutcome::AlreadyGone => "already gone",
        StepOutcome::SoftDeleted => "soft-deleted",
        StepOutcome::Failed(_) => "failed",
        StepOutcome::Skipped(_) => "skipped",
    }
}

/// Requested objects the plan does not delete, each with the reason.
fn left_out(
    plan: &DeletePlan,
    all: &[Resource],
    selected: &[(Kind, String)],
) -> Vec<(Ref, &'static str)> {
    let in_plan: std::collections::HashSet<(Kind, &str)> = plan
        .steps
        .iter()
        .map(|s| (s.target.kind, s.target.id.as_str()))
        .collect();
    let mut out: Vec<(Ref, &'static str)> = Vec::new();
    for (kind, id) in selected {
        let key = (*kind, id.as_str());
        if in_plan.contains(&key) || out.iter().any(|(r, _)| (r.kind, r.id.as_str()) == key) {
            continue;
        }
        let target = all
            .iter()
            .find(|r| r.kind == *kind && &r.id == id)
            .map(Resource::as_ref)
            .unwrap_or_else(|| Ref {
                kind: *kind,
                id: id.clone().into(),
                name: id.clone().into(),
            });
        let why = if plan.left_out.iter().any(|r| r.kind == *kind && &r.id == id) {
            "in use by objects this delete leaves (--skip-in-use): not sent"
        } else {
            "cannot be deleted (built-in or not permitted): not sent"
        };
        out.push((target, why));
    }
    out
}

/// Counts of a run's outcomes, for the progress line and the summary.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Tally {
    deleted: usize,
    already_gone: usize,
    soft_deleted: usize,
    running: usize,
    unknown: usize,
    failed: usize,
    skipped: usize,
    not_started: usize,
    left_out: usize,
}

impl Tally {
    /// `finished`: the run is over, so a step still `Running` has an unknown outcome.
    fn of(outcomes: &[StepOutcome], finished: bool, left_out: usize) -> Tally {
        let mut t = Tally {
            left_out,
            ..Tally::default()
        };
        for o in outcomes {
            match o {
                StepOutcome::NotStarted => t.not_started += 1,
                StepOutcome::Running if finished => t.unknown += 1,
                StepOutcome::Running => t.running += 1,
                StepOutcome::Deleted => t.deleted += 1,
                StepOutcome::AlreadyGone => t.already_gone += 1,
                StepOutcome::SoftDeleted => t.soft_deleted += 1,
                StepOutcome::Failed(_) => t.failed += 1,
                StepOutcome::Skipped(_) => t.skipped += 1,
            }
        }
        t
    }

    /// Steps with an end result.
    fn done(&self) -> usize {
        self.deleted + self.already_gone + self.soft_deleted + self.failed + self.skipped
    }

    /// Everything requested is gone (or soft-deleted) at the server.
    fn complete(&self) -> bool {
        self.running + self.unknown + self.failed + self.skipped + self.not_started + self.left_out
            == 0
    }
}

impl std::fmt::Display for Tally {
    /// "3 deleted, 1 soft-deleted, 2 unknown, 1 failed, 0 skipped, 4 not started, 1 left out".
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} deleted", self.deleted)?;
        for (n, what) in [
            (self.already_gone, "already gone"),
            (self.soft_deleted, "soft-deleted"),
            (self.running, "running"),
            (self.unknown, "unknown"),
        ] {
            if n > 0 {
                write!(f, ", {n} {what}")?;
            }
        }
        write!(
            f,
            ", {} failed, {} skipped, {} not started",
            self.failed, self.skipped, self.not_started
        )?;
        if self.left_out > 0 {
            write!(f, ", {} left out", self.left_out)?;
        }
        Ok(())
    }
}

/// The plan as the CLI prints it: the dialog's lines (`DeletePlan::render_text`), where every
/// string from the server is shown visibly, so no line can hide, move or rewrite another.
fn plan_text(plan: &DeletePlan) -> String {
    plan.render_text()
}

fn open_audit() -> Result<Arc<AuditLog>, Fail> {
    let path: PathBuf = config::data_dir().join("audit.jsonl");
    AuditLog::open(&path).map(Arc::new).map_err(|e| {
        Fail::op(format!(
            "cannot open the audit log {}: {e}; nothing was sent",
            path.display()
        ))
    })
}

/// Ask on the terminal; refuse when stdin is not one.
fn confirm_on_terminal(plan: &DeletePlan, protected: bool) -> Result<(), Fail> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(Fail::usage(
            "refusing to delete without --yes: stdin is not a terminal (nothing was sent)",
        ));
    }
    eprint!("{}", plan_text(plan));
    let expected = if protected {
        plan.profile.clone()
    } else {
        plan.len().to_string()
    };
    if protected {
        eprint!(
            "Protected profile: type its name '{}' to delete: ",
            sanitize(&expected)
        );
    } else {
        eprint!("Type {expected} to delete {} object(s): ", plan.len());
    }
    if read_answer()? == expected {
        Ok(())
    } else {
        // Declining is an answer, not a usage error.
        Err(Fail::op("not confirmed: nothing deleted"))
    }
}

/// The line typed after a confirmation prompt (on stderr), trimmed.
fn read_answer() -> Result<String, Fail> {
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Fail::usage(format!("reading the answer: {e}")))?;
    Ok(line.trim().to_string())
}

/// How a CLI delete run ended.
struct RunEnd {
    /// One per step; `Running` for requests abandoned in flight (outcome unknown).
    outcomes: Vec<StepOutcome>,
    /// The signal that cancelled the run, if one did.
    signal: Option<StopSignal>,
}

/// Run the plan with a progress line on a terminal. SIGINT, SIGTERM and SIGHUP cancel it:
/// nothing new starts, requests in flight get `CANCEL_GRACE` to finish (a second signal
/// stops waiting at once), and whatever is still open is recorded as "unknown" in the
/// audit log.
async fn run_with_progress(
    plan: Arc<DeletePlan>,
    client: Arc<dyn VendorApi>,
    audit: Arc<AuditLog>,
    concurrency: usize,
    deadline: Option<Duration>,
) -> RunEnd {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<StepUpdate>();
    let cancel = CancellationToken::new();
    let total = plan.len();
    let show = std::io::stderr().is_terminal();
    let progress = tokio::spawn(async move {
        let mut outcomes = vec![StepOutcome::NotStarted; total];
        while let Some(u) = rx.recv().await {
            if let Some(slot) = outcomes.get_mut(u.index) {
                *slot = u.outcome;
            }
            if show {
                let t = Tally::of(&outcomes, false, 0);
                let done = t.done();
                let width = 30;
                let filled = (done * width).checked_div(total).unwrap_or(width);
                eprint!(
                    "\r[{}{}] {done}/{total}  {t}   ",
                    "#".repeat(filled),
                    " ".repeat(width - filled)
                );
            }
        }
        if show {
            eprintln!();
        }
        outcomes
    });
    let cfg = ExecConfig {
        concurrency,
        deadline,
        ..ExecConfig::default()
    };
    // Caught before the first request can leave: a signal right after it must not kill
    // the process.
    let stop = crate::signals::StopSignals::listen();
    let mut exec = tokio::spawn(execute(
        plan,
        client,
        audit.clone(),
        cfg,
        cancel.clone(),
        tx,
    ));
    let (finished, signal) =
        under_signals(&mut exec, stop, "requests in flight", || cancel.cancel()).await;
    let last_reported = |p: Result<Vec<StepOutcome>, tokio::task::JoinError>| {
        p.unwrap_or_else(|_| vec![StepOutcome::NotStarted; total])
    };
    let outcomes = match finished {
        Some(Ok(outcomes)) => {
            let _ = progress.await;
            outcomes
        }
        Some(Err(e)) => {
            // The executor task died: what it reported so far is all that is known.
            eprintln!("dsconsole: the delete run stopped unexpectedly: {e}");
            last_reported(progress.await)
        }
        None => {
            // Abandon the executor: its requests are dropped, its progress sender with it,
            // so the progress task ends with the outcomes as last reported.
            exec.abort();
            let _ = exec.await;
            last_reported(progress.await)
        }
    };
    settle(&audit);
    RunEnd { outcomes, signal }
}

/// Run `work` with SIGINT, SIGTERM and SIGHUP caught. The first signal calls `cancel` (so
/// nothing new starts) and gives `work` up to `CANCEL_GRACE` to end; a second signal, or
/// the end of the grace, abandons it. Returns its output (`None` when abandoned) and the
/// first signal. `waiting_for` names what the grace is for, in the message.
async fn under_signals<F: std::future::Future + Unpin>(
    mut work: F,
    mut stop: crate::signals::StopSignals,
    waiting_for: &str,
    mut cancel: impl FnMut(),
) -> (Option<F::Output>, Option<StopSignal>) {
    let signals = &mut stop.rx;
    let mut signal: Option<StopSignal> = None;
    let mut give_up_at: Option<tokio::time::Instant> = None;
    let output = loop {
        tokio::select! {
            done = &mut work => break Some(done),
            Some(sig) = signals.recv() => {
                if signal.is_some() {
                    eprintln!("\n{} again: not waiting for the {waiting_for}", sig.name());
                    break None;
                }
                signal = Some(sig);
                cancel();
                eprintln!(
                    "\n{} received: cancelling. Nothing new starts; waiting up to {} s for \
                     the {waiting_for} ({} again stops waiting)",
                    sig.name(),
                    CANCEL_GRACE.as_secs(),
                    sig.name()
                );
                give_up_at = Some(tokio::time::Instant::now() + CANCEL_GRACE);
            }
            () = sleep_until_some(give_up_at) => {
                eprintln!(
                    "\nthe {waiting_for} did not finish within {} s: not waiting longer",
                    CANCEL_GRACE.as_secs()
                );
                break None;
            }
        }
    };
    drop(stop);
    (output, signal)
}

/// Record every request still open in the audit log as "unknown", and say so.
fn settle(audit: &AuditLog) {
    let open = audit.settle_open(ABANDONED);
    if open > 0 {
        eprintln!("{open} request(s) in flight recorded as unknown in the audit log");
    }
}

/// Sleep until `at`; never when `None`.
async fn sleep_until_some(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// `dsconsole create PROFILE KIND --from FILE.json`.
pub async fn create(
    config_path: Option<&Path>,
    read_only: bool,
    profile: &str,
    kind: &str,
    from: &Path,
) -> Result<ExitCode, Fail> {
    let o = open_profile(config_path, profile, read_only)?;
    let result = create_opened(&o, read_only, kind, from).await;
    o.client.logout().await;
    result
}

async fn create_opened(
    o: &Opened,
    read_only: bool,
    kind: &str,
    from: &Path,
) -> Result<ExitCode, Fail> {
    let kind = parse_kind(o.spec, kind)?;
    if !o.spec.can_create {
        return Err(Fail::usage(format!(
            "{} cannot create {kind} here",
            o.spec.vendor.display()
        )));
    }
    if read_only || o.profile.read_only {
        return Err(Fail::usage(format!(
            "profile '{}' is read-only: nothing was sent",
            o.profile.name
        )));
    }
    let text = std::fs::read_to_string(from)
        .map_err(|e| Fail::usage(format!("{}: {e}", from.display())))?;
    let body: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        Fail::usage(format!(
            "{}:{}:{}: not valid JSON: {e}",
            from.display(),
            e.line(),
            e.column()
        ))
    })?;
    if !body.is_object() {
        return Err(Fail::usage(format!(
            "{}: expected a JSON object",
            from.display()
        )));
    }
    let audit = open_audit()?;
    let create =
        crate::ops::create::create_audited(&*o.client, &audit, o.profile.name.clone(), kind, body);
    let stop = crate::signals::StopSignals::listen();
    let (result, signal) = under_signals(Box::pin(create), stop, "create request", || {}).await;
    settle(&audit);
    o.client.logout().await;
    let code = |ok: u8| signal.map_or(ExitCode::from(ok), |s| ExitCode::from(s.exit_code()));
    match result {
        Some(Ok(mut r)) => {
            r.raw = crate::redact::strip_secrets(&r.raw.value()).into();
            let text = serde_json::to_string_pretty(&r).map_err(|e| Fail::op(e.to_string()))?;
            println!("{text}");
            eprintln!(
                "created {} '{}' ({})",
                kind.singular(),
                sanitize(&r.name),
                sanitize(&r.id)
            );
            Ok(code(0))
        }
        Some(Err(e)) => match signal {
            None => Err(Fail::op(format!("create failed: {e}"))),
            Some(_) => {
                eprintln!("create failed: {}", sanitize(&e.to_string()));
                Ok(code(1))
            }
        },
        None => {
            eprintln!(
                "create of {} cut short: the server may or may not have created it \
                 (recorded as unknown in the audit log)",
                kind.singular()
            );
            Ok(code(1))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::VendorId;

    fn plan_of(names: &[(&str, &str)]) -> DeletePlan {
        let all: Vec<Resource> = names
            .iter()
            .map(|(id, name)| {
                Resource::new(VendorId::MicroStrategy, "prod", Kind::Datasources, id, name)
            })
            .collect();
        let selected: Vec<(Kind, String)> =
            all.iter().map(|r| (r.kind, r.id.to_string())).collect();
        build_plan(&PlanRequest {
            spec: vendors::spec(VendorId::MicroStrategy),
            profile: "prod",
            all: &all,
            selected: &selected,
            hidden: &[],
            cascade: false,
            skip_in_use: true,
        })
    }

    #[test]
    fn a_name_cannot_add_hide_or_rewrite_plan_lines() {
        let plan = plan_of(&[
            ("P1", "Prod Finance DW (DO NOT DELETE)"),
            ("E1", "old_scratch_1\x1b[2K\r\x1b[1A\x1b[2K\r\x1b[1A"),
            ("F1", "fake\n     9. Harmless  X9\u{202e}"),
        ]);
        let text = plan_text(&plan);
        assert_eq!(plan.len(), 3);
        // Title, one kind header, three steps, the irreversible warning: nothing more.
        let numbered: Vec<&str> = text
            .lines()
            .filter(|l| {
                l.trim_start()
                    .split('.')
                    .next()
                    .is_some_and(|n| n.parse::<u32>().is_ok())
            })
            .collect();
        assert_eq!(numbered.len(), 3, "{text}");
        assert!(
            text.contains("datasource 'Prod Finance DW (DO NOT DELETE)'  P1"),
            "{text}"
        );
        assert!(
            text.contains("datasource 'old_scratch_1␛[2K␍␛[1A␛[2K␍␛[1A'  E1"),
            "{text}"
        );
        assert!(
            text.contains("datasource 'fake␊     9. Harmless  X9\\u{202e}'  F1"),
            "{text}"
        );
        assert!(
            !text
                .chars()
                .any(|c| c != '\n' && !crate::text::is_clean(&c.to_string())),
            "{text:?}"
        );
    }

    #[test]
    fn left_out_names_requested_objects_missing_from_the_plan_with_the_reason() {
        let mstr = |kind, id, name| Resource::new(VendorId::MicroStrategy, "prod", kind, id, name);
        let conn = mstr(Kind::Connections, "C1", "Used");
        let mut ds = mstr(Kind::Datasources, "D1", "Sales");
        ds.depends_on = vec![conn.as_ref()];
        let mut builtin = mstr(Kind::Connections, "C2", "Built-in");
        builtin.deletable = Some(false);
        let spare = mstr(Kind::Connections, "C3", "Spare");
        let all = vec![ds, conn, builtin, spare];
        let selected: Vec<(Kind, String)> = ["C1", "C2", "C3", "C2"]
            .iter()
            .map(|id| (Kind::Connections, id.to_string()))
            .collect();
        let plan = build_plan(&PlanRequest {
            spec: vendors::spec(VendorId::MicroStrategy),
            profile: "prod",
            all: &all,
            selected: &selected,
            hidden: &[],
            cascade: false,
            skip_in_use: true,
        });
        assert_eq!(plan.len(), 1, "only the spare connection is deleted");
        let out = left_out(&plan, &all, &selected);
        let shown: Vec<(&str, &str, &str)> = out
            .iter()
            .map(|(r, why)| (r.id.as_str(), r.name.as_str(), *why))
            .collect();
        assert_eq!(
            shown,
            [
                (
                    "C1",
                    "Used",
                    "in use by objects this delete leaves (--skip-in-use): not sent"
                ),
                (
                    "C2",
                    "Built-in",
                    "cannot be deleted (built-in or not permitted): not sent"
                ),
            ]
        );
    }

    #[test]
    fn a_pretty_array_written_element_by_element_is_to_writer_pretty_s() {
        let mut a = Resource::new(VendorId::MicroStrategy, "p", Kind::Datasources, "D1", "a");
        a.raw = serde_json::json!({"x": [1, {"y": "two\nlines"}], "e": {}, "z": []}).into();
        a.depends_on.push(
            Resource::new(VendorId::MicroStrategy, "p", Kind::Connections, "C", "c").as_ref(),
        );
        let b = Resource::new(VendorId::MicroStrategy, "p", Kind::Logins, "L1", "b");
        for rows in [vec![], vec![&a], vec![&a, &b, &a]] {
            let mut out = Vec::new();
            let mut array = PrettyArray::default();
            for r in &rows {
                array.element(&mut out, r).unwrap();
            }
            array.finish(&mut out).unwrap();
            assert_eq!(
                String::from_utf8(out).unwrap(),
                serde_json::to_string_pretty(&rows).unwrap()
            );
        }
    }

    #[test]
    fn tally_reads_as_the_summary_line() {
        let outcomes = vec![
            StepOutcome::Deleted,
            StepOutcome::SoftDeleted,
            StepOutcome::SoftDeleted,
            StepOutcome::Running,
            StepOutcome::Failed("refused".into()),
            StepOutcome::NotStarted,
        ];
        let t = Tally::of(&outcomes, true, 1);
        assert_eq!(
            t.to_string(),
            "1 deleted, 2 soft-deleted, 1 unknown, 1 failed, 0 skipped, 1 not started, 1 left out"
        );
        assert!(!t.complete());
        let running = Tally::of(&outcomes, false, 0);
        assert!(running.to_string().contains("1 running"), "{running}");
        let ok = Tally::of(&[StepOutcome::Deleted, StepOutcome::AlreadyGone], true, 0);
        assert!(ok.complete());
        assert_eq!(
            ok.to_string(),
            "1 deleted, 1 already gone, 0 failed, 0 skipped, 0 not started"
        );
    }
}
