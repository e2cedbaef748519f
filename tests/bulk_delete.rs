//! Bulk deletion against the MicroStrategy simulator with injected latency, 429s, 5xx and
//! dropped connections: the final per-object report must equal the simulator's state, and
//! the audit log must hold a line before and after every request.
// These run the built-in simulators, which need the `sim` feature (on by default).
#![cfg(feature = "sim")]
mod common {
    pub mod settings;
}

use dsconsole::model::{Kind, Resource};
use dsconsole::ops::audit::AuditLog;
use dsconsole::ops::executor::{execute, ExecConfig, StepOutcome, StepUpdate};
use dsconsole::ops::plan::{build_plan, DeletePlan, PlanRequest};
use dsconsole::sim::faults::{Fault, FaultRule};
use dsconsole::sim::microstrategy::{self as msim, MstrSim};
use dsconsole::sim::SimOptions;
use dsconsole::vendors::{self, ClientSettings, VendorApi};
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

fn settings(base_url: &str) -> ClientSettings {
    common::settings::demo("bulk", dsconsole::model::VendorId::MicroStrategy, base_url)
}

async fn setup(scale: usize) -> (MstrSim, Arc<dyn VendorApi>, Vec<Resource>) {
    let sim = msim::start(&SimOptions {
        scale,
        ..SimOptions::default()
    })
    .await
    .expect("simulator");
    let api = vendors::connect(settings(&sim.base_url)).expect("client");
    let all = api.load().await.expect("load").resources;
    (sim, api, all)
}

fn plan_for(all: &[Resource], selected: &[(Kind, String)], cascade: bool) -> DeletePlan {
    build_plan(&PlanRequest {
        spec: vendors::spec(dsconsole::model::VendorId::MicroStrategy),
        profile: "bulk",
        all,
        selected,
        hidden: &[],
        cascade,
        skip_in_use: false,
    })
}

fn fast(concurrency: usize) -> ExecConfig {
    ExecConfig {
        concurrency,
        max_attempts: 4,
        base_backoff: Duration::from_millis(5),
        deadline: None,
    }
}

/// Every step's outcome agrees with the simulator: success <=> gone.
fn assert_report_matches(sim: &MstrSim, plan: &DeletePlan, outcomes: &[StepOutcome]) {
    assert_eq!(plan.steps.len(), outcomes.len());
    for (step, outcome) in plan.steps.iter().zip(outcomes) {
        let present = sim.control.contains(step.target.kind.id(), &step.target.id);
        assert!(
            *outcome != StepOutcome::Running,
            "{} left running",
            step.target.label()
        );
        assert_eq!(
            !present,
            outcome.is_success(),
            "{} is {} in the simulator but reported {outcome}",
            step.target.label(),
            if present { "present" } else { "gone" }
        );
    }
}

/// Every request has a before line, and every before line an after line with the same seq.
fn audit_pairs(path: &Path) -> HashMap<String, Vec<(String, String)>> {
    let text = std::fs::read_to_string(path).expect("audit file");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("audit line is JSON"))
        .collect();
    let mut by_id: HashMap<String, Vec<(String, String)>> = HashMap::new();
    for (i, l) in lines.iter().enumerate() {
        if l["phase"] == "before" {
            let after = lines[i + 1..]
                .iter()
                .find(|a| a["phase"] == "after" && a["seq"] == l["seq"] && a["run"] == l["run"]);
            let outcome = after
                .and_then(|a| a["outcome"].as_str())
                .unwrap_or("MISSING")
                .to_string();
            let id = l["id"].as_str().unwrap_or("").to_string();
            by_id
                .entry(id)
                .or_default()
                .push(("before".into(), outcome));
        }
    }
    by_id
}

fn delete_requests(sim: &MstrSim) -> Vec<String> {
    sim.control
        .requests()
        .into_iter()
        .filter(|r| r.method == "DELETE")
        .map(|r| r.path)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_during_a_bulk_delete_leave_an_exact_report_and_a_complete_audit() {
    let (sim, api, all) = setup(260).await;
    let selected: Vec<(Kind, String)> = all
        .iter()
        // In use (projects, replicas, mappings): the server would refuse it.
        .filter(|r| r.kind == Kind::Datasources && r.users_count() == 0)
        .take(200)
        .map(|r| (r.kind, r.id.to_string()))
        .collect();
    assert_eq!(selected.len(), 200);
    let plan = Arc::new(plan_for(&all, &selected, false));
    sim.control.set_latency(Duration::from_millis(2));
    let f = &sim.control.faults;
    let victim = &plan.steps[5].target;
    // First, so no other fault can make an earlier attempt succeed.
    f.add(
        FaultRule::new(Fault::Status {
            status: 500,
            body: r#"{"code":"ERR002","message":"I-Server unreachable"}"#.into(),
            retry_after: None,
        })
        .method("DELETE")
        .path(&victim.id),
    );

    // 429 storm on some deletes, 502 after the delete took effect, dropped connections,
    // HTML gateway pages, and a persistent refusal that retries cannot fix.
    f.add(
        FaultRule::new(Fault::Status {
            status: 429,
            body: r#"{"code":"ERR001","message":"Too many requests"}"#.into(),
            retry_after: None,
        })
        .method("DELETE")
        .every(7),
    );
    f.add(
        FaultRule::new(Fault::Html { status: 502 })
            .method("DELETE")
            .every(11)
            .after(),
    );
    f.add(
        FaultRule::new(Fault::Reset)
            .method("DELETE")
            .every(13)
            .after(),
    );
    f.add(
        FaultRule::new(Fault::Html { status: 503 })
            .method("DELETE")
            .every(17),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let audit_path = dir.path().join("audit.jsonl");
    let audit = Arc::new(AuditLog::open(&audit_path).expect("audit"));
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel::<StepUpdate>();
    // About one DELETE in five fails before the server acts (429 every 7th, 503 every 17th,
    // counted across all steps), so a step fails all of four attempts about once in 600:
    // with 200 steps that is a run in four. Eight attempts make it one in 2,000 runs.
    let cfg = ExecConfig {
        max_attempts: 8,
        ..fast(6)
    };
    let outcomes = execute(
        plan.clone(),
        api.clone(),
        audit,
        cfg,
        CancellationToken::new(),
        tx,
    )
    .await;

    assert!(sim.control.faults.fired() > 20, "faults were injected");
    assert_report_matches(&sim, &plan, &outcomes);
    let victim_outcome = &outcomes[5];
    assert!(
        matches!(victim_outcome, StepOutcome::Failed(m) if m.contains("I-Server unreachable")),
        "{victim_outcome:?}"
    );
    let failed = outcomes
        .iter()
        .filter(|o| matches!(o, StepOutcome::Failed(_)))
        .count();
    assert_eq!(failed, 1, "transient faults are retried to success");
    // Nothing outside the plan was touched.
    let remaining = sim.control.ids("datasources").len();
    assert_eq!(remaining, 260 - 199);
    // One before and one after line per request, and as many requests as the server saw
    // (faults injected before the handler are requests too: count the audit's attempts).
    let pairs = audit_pairs(&audit_path);
    for step in &plan.steps {
        let attempts = pairs
            .get(step.target.id.as_str())
            .cloned()
            .unwrap_or_default();
        assert!(
            !attempts.is_empty(),
            "no audit line for {}",
            step.target.label()
        );
        assert!(
            attempts.iter().all(|(_, outcome)| outcome != "MISSING"),
            "a before line without an after line for {}",
            step.target.label()
        );
    }
    let audited: usize = pairs.values().map(Vec::len).sum();
    assert_eq!(
        audited,
        delete_requests(&sim).len(),
        "one audit pair per DELETE the server saw"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_500_object_delete_midway_reports_exactly_what_happened() {
    let (sim, api, all) = setup(640).await;
    let selected: Vec<(Kind, String)> = all
        .iter()
        // In use (projects, replicas, mappings): the server would refuse it.
        .filter(|r| r.kind == Kind::Datasources && r.users_count() == 0)
        .take(500)
        .map(|r| (r.kind, r.id.to_string()))
        .collect();
    let plan = Arc::new(plan_for(&all, &selected, false));
    sim.control.set_latency(Duration::from_millis(3));
    let dir = tempfile::tempdir().expect("tempdir");
    let audit = Arc::new(AuditLog::open(&dir.path().join("audit.jsonl")).expect("audit"));
    let cancel = CancellationToken::new();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<StepUpdate>();
    let watcher = {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            let mut finished = 0;
            while let Some(u) = rx.recv().await {
                if u.outcome.is_final() {
                    finished += 1;
                    if finished == 120 {
                        cancel.cancel();
                    }
                }
            }
        })
    };
    let outcomes = execute(plan.clone(), api.clone(), audit, fast(4), cancel, tx).await;
    let _ = watcher.await;

    assert_report_matches(&sim, &plan, &outcomes);
    let deleted = outcomes.iter().filter(|o| o.is_success()).count();
    let not_started = outcomes
        .iter()
        .filter(|o| **o == StepOutcome::NotStarted)
        .count();
    assert!(
        (120..500).contains(&deleted),
        "cancelled midway: {deleted} deleted"
    );
    assert_eq!(
        deleted + not_started,
        500,
        "every step either ran to success or never started"
    );
    // Objects that never started were never requested.
    let requested = delete_requests(&sim);
    for (step, o) in plan.steps.iter().zip(&outcomes) {
        if *o == StepOutcome::NotStarted {
            assert!(
                !requested
                    .iter()
                    .any(|p| p.ends_with(step.target.id.as_str())),
                "{} was requested but reported not started",
                step.target.label()
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_datasource_keeps_its_connection_and_login() {
    let (sim, api, all) = setup(0).await;
    // A datasource whose connection and login nothing else uses.
    let ds = all
        .iter()
        .filter(|r| r.kind == Kind::Datasources)
        .find(|d| {
            let plan = plan_for(&all, &[(d.kind, d.id.to_string())], true);
            plan.steps.len() == 3
        })
        .expect("a datasource with a private connection and login")
        .clone();
    let plan = Arc::new(plan_for(&all, &[(ds.kind, ds.id.to_string())], true));
    sim.control.faults.add(
        FaultRule::new(Fault::Status {
            status: 400,
            body: r#"{"code":"ERR001","message":"Refused by policy"}"#.into(),
            retry_after: None,
        })
        .method("DELETE")
        .path(&ds.id),
    );
    let audit = Arc::new(AuditLog::disabled());
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel::<StepUpdate>();
    let outcomes = execute(
        plan.clone(),
        api,
        audit,
        fast(4),
        CancellationToken::new(),
        tx,
    )
    .await;
    assert_report_matches(&sim, &plan, &outcomes);
    assert!(matches!(&outcomes[0], StepOutcome::Failed(m) if m.contains("Refused by policy")));
    assert!(matches!(outcomes[1], StepOutcome::Skipped(_)));
    assert!(matches!(outcomes[2], StepOutcome::Skipped(_)));
    assert_eq!(
        delete_requests(&sim).len(),
        1,
        "nothing after the refusal was sent"
    );
}
