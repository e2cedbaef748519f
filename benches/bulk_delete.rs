//! Bulk-delete benchmark: 1,000 datasource deletes against the MicroStrategy simulator
//! adding 20 ms to every request, run by the executor at concurrency 16 and at the default 4,
//! then strictly one by one (concurrency 1, the same executor, so the audit-log writes and
//! the client are the same in every run). Each run gets a fresh simulator. Prints the wall
//! times and the ratios, and checks that exactly the planned objects are gone and nothing
//! else (zero unintended deletes) and that every step was one DELETE request.
//!
//! Run: `cargo bench --bench bulk_delete` (about 30 s, most of it the one-by-one run).

use dsconsole::model::{Kind, Resource, VendorId};
use dsconsole::ops::audit::AuditLog;
use dsconsole::ops::executor::{execute, ExecConfig, StepOutcome, StepUpdate};
use dsconsole::ops::plan::{build_plan, DeletePlan, PlanRequest};
use dsconsole::sim::microstrategy::{self as msim, MstrSim};
use dsconsole::sim::SimOptions;
use dsconsole::vendors::{self, ClientSettings, VendorApi};
use secrecy::SecretString;
use std::collections::BTreeSet;
use std::error::Error;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Objects per kind in the simulator: more datasources than are deleted, so that deleting
/// anything outside the plan would show.
const SCALE: usize = 1_400;
const DELETES: usize = 1_000;
const LATENCY: Duration = Duration::from_millis(20);

type Res<T> = Result<T, Box<dyn Error>>;

fn settings(base_url: &str) -> ClientSettings {
    ClientSettings::new(
        "bench",
        VendorId::MicroStrategy,
        base_url,
        SecretString::from(msim::DEMO_PASSWORD),
    )
    .username(msim::DEMO_USERNAME)
}

/// What one run measured.
struct RunResult {
    concurrency: usize,
    wall: Duration,
    deletes_sent: usize,
}

/// Start a fresh simulator, load it (without latency), plan the first 1,000 datasources,
/// then add the latency and time the executor.
async fn run(concurrency: usize) -> Res<RunResult> {
    let sim = msim::start(&SimOptions {
        scale: SCALE,
        ..SimOptions::default()
    })
    .await?;
    let api: Arc<dyn VendorApi> = vendors::connect(settings(&sim.base_url))?;
    let all = api.load().await?.resources;
    let before = |kind: &str| sim.control.ids(kind);
    let (ds_before, conn_before, login_before) = (
        before("datasources"),
        before("connections"),
        before("logins"),
    );
    let selected: Vec<(Kind, String)> = all
        .iter()
        // Datasources nothing else uses (the simulator attaches every tenth generated one to
        // a project, and the server refuses to delete those): every step must succeed.
        .filter(|r| r.kind == Kind::Datasources && r.users_count() == 0 && !r.used_by_unknown)
        .take(DELETES)
        .map(|r| (r.kind, r.id.to_string()))
        .collect();
    if selected.len() != DELETES {
        return Err(format!("only {} datasources to delete", selected.len()).into());
    }
    let plan = Arc::new(plan(&all, &selected));
    if plan.steps.len() != DELETES {
        return Err(format!("plan has {} steps, expected {DELETES}", plan.steps.len()).into());
    }
    let dir = tempfile::tempdir()?;
    let audit = Arc::new(AuditLog::open(&dir.path().join("audit.jsonl"))?);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<StepUpdate>();
    // Drain progress as the UI would.
    let drain = tokio::spawn(async move { while rx.recv().await.is_some() {} });
    sim.control.set_latency(LATENCY);
    sim.control.clear_requests();
    let cfg = ExecConfig {
        concurrency,
        ..ExecConfig::default()
    };
    let started = Instant::now();
    let outcomes = execute(
        plan.clone(),
        api.clone(),
        audit,
        cfg,
        CancellationToken::new(),
        tx,
    )
    .await;
    let wall = started.elapsed();
    let _ = drain.await;
    sim.control.set_latency(Duration::ZERO);
    check(
        &sim,
        &plan,
        &outcomes,
        &ds_before,
        &conn_before,
        &login_before,
    )?;
    let deletes_sent = sim
        .control
        .requests()
        .iter()
        .filter(|r| r.method == "DELETE")
        .count();
    api.logout().await;
    sim.shutdown();
    Ok(RunResult {
        concurrency,
        wall,
        deletes_sent,
    })
}

fn plan(all: &[Resource], selected: &[(Kind, String)]) -> DeletePlan {
    build_plan(&PlanRequest {
        spec: vendors::spec(VendorId::MicroStrategy),
        profile: "bench",
        all,
        selected,
        hidden: &[],
        cascade: false,
        skip_in_use: false,
    })
}

/// Every step succeeded; the simulator's remaining datasources are exactly those not in the
/// plan; connections and logins are untouched.
fn check(
    sim: &MstrSim,
    plan: &DeletePlan,
    outcomes: &[StepOutcome],
    ds_before: &[String],
    conn_before: &[String],
    login_before: &[String],
) -> Res<()> {
    let failed: Vec<String> = plan
        .steps
        .iter()
        .zip(outcomes)
        .filter(|(_, o)| !o.is_success())
        .map(|(s, o)| format!("{}: {o}", s.target.label()))
        .collect();
    if !failed.is_empty() {
        return Err(format!("{} steps did not succeed: {:?}", failed.len(), failed).into());
    }
    let planned: BTreeSet<&str> = plan.steps.iter().map(|s| s.target.id.as_str()).collect();
    let expected: BTreeSet<&str> = ds_before
        .iter()
        .map(String::as_str)
        .filter(|id| !planned.contains(id))
        .collect();
    let remaining_ids = sim.control.ids("datasources");
    let remaining: BTreeSet<&str> = remaining_ids.iter().map(String::as_str).collect();
    if remaining != expected {
        let unintended = expected.difference(&remaining).count();
        let survived = remaining.difference(&expected).count();
        return Err(format!(
            "simulator state differs: {unintended} unintended deletes, {survived} planned objects still there"
        )
        .into());
    }
    if sim.control.ids("connections") != conn_before || sim.control.ids("logins") != login_before {
        return Err("a connection or login was deleted".into());
    }
    Ok(())
}

fn report(r: &RunResult) {
    println!(
        "concurrency {:>2}: {:>7.2} s wall for {DELETES} deletes ({:.0} deletes/s, {} DELETE requests, 0 unintended deletes)",
        r.concurrency,
        r.wall.as_secs_f64(),
        DELETES as f64 / r.wall.as_secs_f64(),
        r.deletes_sent,
    );
}

fn main() -> Res<()> {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing special. Skip the
    // 30-second run unless asked for as a benchmark.
    if !std::env::args().any(|a| a == "--bench") {
        println!("bulk_delete: run with `cargo bench --bench bulk_delete`");
        return Ok(());
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        println!(
            "bulk delete of {DELETES} datasources, simulator latency {} ms per request, {SCALE} objects per kind",
            LATENCY.as_millis()
        );
        let mut results = Vec::new();
        for concurrency in [16, 4, 1] {
            let r = run(concurrency).await?;
            report(&r);
            results.push(r);
        }
        let seq = results
            .iter()
            .find(|r| r.concurrency == 1)
            .map(|r| r.wall.as_secs_f64())
            .unwrap_or(f64::NAN);
        for r in results.iter().filter(|r| r.concurrency > 1) {
            println!(
                "ratio one-by-one / concurrency {}: {:.1}x (target >= 10x)",
                r.concurrency,
                seq / r.wall.as_secs_f64()
            );
        }
        Ok(())
    })
}
