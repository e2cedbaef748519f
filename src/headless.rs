//! Headless commands: `list`, `delete`, `create`, `check`. They share the vendor clients,
//! the delete plan, the bulk executor and the audit log with the TUI. Data goes to stdout,
//! messages to stderr; exit 0 when everything succeeded, 1 when an operation failed, 2 for
//! usage and config errors.

use crate::config::{self, Config, ProfileConfig};
use crate::filter::RowFilter;
use crate::model::{CellCtx, Kind, Resource};
use crate::ops::audit::AuditLog;
use crate::ops::executor::{execute, ExecConfig, RunSummary, StepOutcome, StepUpdate};
use crate::ops::plan::{build_plan, DeletePlan, PlanRequest};
use crate::vendors::{self, VendorApi, VendorSpec};
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

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
            eprintln!("dsconsole: {}", f.message);
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
        eprintln!("warning: {w}");
    }
    let Some(profile) = cfg.profile(name).cloned() else {
        let names: Vec<&str> = cfg.profiles.iter().map(|p| p.name.as_str()).collect();
        return Err(Fail::usage(format!(
            "no profile '{name}' in {} (profiles: {})",
            path.display(),
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        )));
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
        eprintln!("warning: {}: {w}", o.profile.name);
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
    let all = load(o).await?;
    let mut rf = filter.map(RowFilter::new);
    let rows: Vec<&Resource> = all
        .iter()
        .filter(|r| kinds.contains(&r.kind))
        .filter(|r| !unhealthy || r.is_unhealthy())
        .filter(|r| !orphans || r.is_orphan())
        .filter(|r| match rf.as_mut() {
            Some(f) => f.matches_fields(&crate::app::state::search_fields(r)),
            None => true,
        })
        .collect();
    let mut out = std::io::stdout().lock();
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
    };
    if let Err(e) = result {
        // A closed pipe (`| head`) is not an error worth a message.
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            return Err(Fail::op(format!("writing output: {e}")));
        }
    }
    Ok(ExitCode::SUCCESS)
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
        let mut line: Vec<String> = columns.iter().map(|c| (c.cell)(r, &ctx).text).collect();
        line.push(r.id.clone());
        cells.push(line);
    }
    let ncol = columns.len() + 1;
    let widths: Vec<usize> = (0..ncol)
        .map(|i| {
            cells
                .iter()
                .map(|l| l[i].chars().count())
                .max()
                .unwrap_or(0)
                .min(48)
        })
        .collect();
    for line in &cells {
        let mut text = String::new();
        for (i, cell) in line.iter().enumerate() {
            let cut = crate::ui::fit(cell, widths[i]);
            if i + 1 == ncol {
                text.push_str(&cut);
            } else {
                text.push_str(&format!("{cut:<w$}  ", w = widths[i]));
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
            out.push((kind, r.id.clone()));
            continue;
        }
        let by_name: Vec<&Resource> = all
            .iter()
            .filter(|r| r.kind == kind && &r.name == w)
            .collect();
        match by_name.as_slice() {
            [] => missing.push(w.clone()),
            [one] => out.push((kind, one.id.clone())),
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
    if read_only && !a.dry_run {
        return Err(Fail::usage(format!(
            "profile '{}' is read-only: nothing was sent (use --dry-run to see the plan)",
            o.profile.name
        )));
    }
    let all = load(o).await?;
    let selected = resolve_targets(&all, kind, &a.targets)?;
    let plan = build_plan(&PlanRequest {
        spec: o.spec,
        profile: &o.profile.name,
        all: &all,
        selected: &selected,
        hidden: &[],
        cascade: a.cascade,
        skip_in_use: a.skip_in_use,
    });
    if a.dry_run {
        print!("{}", plan.render_text());
        println!("dry run: nothing was sent");
        return Ok(ExitCode::SUCCESS);
    }
    if plan.is_empty() {
        eprint!("{}", plan.render_text());
        return Err(Fail::op("nothing to delete"));
    }
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
        eprint!("{}", plan.render_text());
    }
    let audit = open_audit()?;
    let concurrency = a
        .concurrency
        .unwrap_or_else(|| o.profile.concurrency(&o.config.defaults))
        .max(1);
    let outcomes = run_with_progress(
        Arc::new(plan.clone()),
        o.client.clone(),
        audit,
        concurrency,
        a.time_limit,
    )
    .await;
    let summary = RunSummary::from(outcomes.as_slice());
    let mut out = std::io::stdout().lock();
    for (step, outcome) in plan.steps.iter().zip(&outcomes) {
        let _ = writeln!(
            out,
            "{:<13} {}  {}",
            outcome.label(),
            step.target.label(),
            step.target.id
        );
        if let Some(d) = outcome.detail() {
            let _ = writeln!(out, "              {d}");
        }
    }
    eprintln!("{}: {summary}", o.profile.name);
    if summary.failed > 0 || summary.skipped > 0 || summary.not_started > 0 {
        Ok(ExitCode::from(1))
    } else {
        Ok(ExitCode::SUCCESS)
    }
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
    eprint!("{}", plan.render_text());
    let expected = if protected {
        plan.profile.clone()
    } else {
        plan.len().to_string()
    };
    if protected {
        eprint!("Protected profile: type its name '{expected}' to delete: ");
    } else {
        eprint!("Type {expected} to delete {} object(s): ", plan.len());
    }
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .map_err(|e| Fail::usage(format!("reading the answer: {e}")))?;
    if line.trim() == expected {
        Ok(())
    } else {
        Err(Fail::usage("not confirmed: nothing was sent"))
    }
}

async fn run_with_progress(
    plan: Arc<DeletePlan>,
    client: Arc<dyn VendorApi>,
    audit: Arc<AuditLog>,
    concurrency: usize,
    deadline: Option<std::time::Duration>,
) -> Vec<StepOutcome> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<StepUpdate>();
    let cancel = CancellationToken::new();
    let ctrl_c = cancel.clone();
    let watcher = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("\ncancelling: nothing new starts; requests in flight finish");
            ctrl_c.cancel();
        }
    });
    let total = plan.len();
    let show = std::io::stderr().is_terminal();
    let progress = tokio::spawn(async move {
        let mut outcomes = vec![StepOutcome::NotStarted; total];
        while let Some(u) = rx.recv().await {
            if let Some(slot) = outcomes.get_mut(u.index) {
                *slot = u.outcome;
            }
            if show {
                let s = RunSummary::from(outcomes.as_slice());
                let done = total - s.not_started - s.running;
                let width = 30;
                let filled = (done * width).checked_div(total).unwrap_or(width);
                eprint!(
                    "\r[{}{}] {done}/{total}  {s}   ",
                    "#".repeat(filled),
                    " ".repeat(width - filled)
                );
            }
        }
        if show {
            eprintln!();
        }
    });
    let cfg = ExecConfig {
        concurrency,
        deadline,
        ..ExecConfig::default()
    };
    let outcomes = execute(plan, client, audit, cfg, cancel, tx).await;
    let _ = progress.await;
    watcher.abort();
    outcomes
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
    let result =
        crate::app::runtime::create_audited(&*o.client, &audit, o.profile.name.clone(), kind, body)
            .await;
    o.client.logout().await;
    match result {
        Ok(mut r) => {
            r.raw = crate::ops::audit::strip_secrets(&r.raw.value()).into();
            let text = serde_json::to_string_pretty(&r).map_err(|e| Fail::op(e.to_string()))?;
            println!("{text}");
            eprintln!("created {} '{}' ({})", kind.singular(), r.name, r.id);
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => Err(Fail::op(format!("create failed: {e}"))),
    }
}

/// `dsconsole check PROFILE`: a health report; exit 1 when anything is unhealthy.
pub async fn check(config_path: Option<&Path>, profile: &str) -> Result<ExitCode, Fail> {
    let o = open_profile(config_path, profile, true)?;
    let result = check_opened(&o).await;
    o.client.logout().await;
    result
}

async fn check_opened(o: &Opened) -> Result<ExitCode, Fail> {
    let mut all = load(o).await?;
    if o.spec.can_test {
        let ids: Vec<String> = all
            .iter()
            .filter(|r| r.kind == Kind::Connections)
            .map(|r| r.id.clone())
            .collect();
        let concurrency = o.profile.concurrency(&o.config.defaults);
        use futures::stream::{self, StreamExt};
        let client = o.client.clone();
        let results: Vec<(String, Result<(), vendors::ApiError>)> = stream::iter(ids)
            .map(|id| {
                let client = client.clone();
                async move {
                    let r = client.test_connection(id.clone()).await;
                    (id, r)
                }
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;
        let health: std::collections::HashMap<String, crate::model::Health> = results
            .into_iter()
            .map(|(id, r)| {
                let h = match r {
                    Ok(()) => crate::model::Health::Healthy,
                    Err(e) => crate::model::Health::Unhealthy(e.reason()),
                };
                (id, h)
            })
            .collect();
        crate::model::apply_connection_health(&mut all, &health);
    }
    let mut out = std::io::stdout().lock();
    let counts: Vec<String> = o
        .spec
        .kinds
        .iter()
        .map(|k| format!("{} {}", all.iter().filter(|r| r.kind == *k).count(), k.id()))
        .collect();
    let _ = writeln!(
        out,
        "{} ({}): {}",
        o.profile.name,
        o.spec.vendor.display(),
        counts.join(", ")
    );
    let unhealthy: Vec<&Resource> = all.iter().filter(|r| r.is_unhealthy()).collect();
    let orphans: Vec<&Resource> = all.iter().filter(|r| r.is_orphan()).collect();
    for r in &unhealthy {
        let why = match &r.health {
            crate::model::Health::Unhealthy(w) => w.clone(),
            _ => r
                .sync
                .as_ref()
                .map(|s| match (&s.status, &s.error) {
                    (Some(st), Some(e)) => format!("sync {st}: {e}"),
                    (Some(st), None) => format!("sync {st}"),
                    (None, _) => "never synced".to_string(),
                })
                .unwrap_or_default(),
        };
        let _ = writeln!(out, "UNHEALTHY  {}  {}: {why}", r.as_ref().label(), r.id);
    }
    for r in &orphans {
        let _ = writeln!(out, "orphan     {}  {}", r.as_ref().label(), r.id);
    }
    let _ = writeln!(
        out,
        "{} unhealthy, {} orphan(s)",
        unhealthy.len(),
        orphans.len()
    );
    if unhealthy.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        Ok(ExitCode::from(1))
    }
}
