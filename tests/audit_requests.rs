//! Every request has its own audit line: a DELETE re-sent after a MicroStrategy re-login and
//! the single DELETEs that follow a refused Qlik bulk request each get a "before" line with
//! their attempt number and the request, and every line is closed. A Qlik delete re-sent with a
//! renewed OAuth token too, without a line for the token exchange.
// These run the built-in simulators, which need the `sim` feature (on by default).
#![cfg(feature = "sim")]
mod common {
    pub mod settings;
}

use dsconsole::model::{Kind, Resource, VendorId};
use dsconsole::ops::audit::AuditLog;
use dsconsole::ops::executor::{execute, ExecConfig, StepOutcome};
use dsconsole::ops::plan::{build_plan, DeletePlan, PlanRequest};
use dsconsole::sim::microstrategy as msim;
use dsconsole::sim::qlik as qsim;
use dsconsole::sim::SimOptions;
use dsconsole::vendors::{self, ClientSettings, VendorApi};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

fn settings(vendor: VendorId, base_url: &str, user: Option<&str>, secret: &str) -> ClientSettings {
    let mut s = common::settings::client("audit-it", vendor, base_url, secret);
    s.username = user.map(str::to_string);
    s
}

fn plan_for(vendor: VendorId, all: &[Resource], selected: &[(Kind, String)]) -> DeletePlan {
    build_plan(&PlanRequest {
        spec: vendors::spec(vendor),
        profile: "audit-it",
        all,
        selected,
        hidden: &[],
        cascade: false,
        skip_in_use: false,
    })
}

async fn run(plan: DeletePlan, api: Arc<dyn VendorApi>, audit: Arc<AuditLog>) -> Vec<StepOutcome> {
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    execute(
        Arc::new(plan),
        api,
        audit,
        ExecConfig {
            concurrency: 2,
            max_attempts: 3,
            base_backoff: Duration::from_millis(5),
            deadline: None,
        },
        CancellationToken::new(),
        tx,
    )
    .await
}

fn lines(audit: &AuditLog) -> Vec<Value> {
    audit
        .recent()
        .iter()
        .map(|l| serde_json::from_str(l).expect("audit line is JSON"))
        .collect()
}

/// The before lines of one object, in order.
fn befores<'a>(lines: &'a [Value], id: &str) -> Vec<&'a Value> {
    lines
        .iter()
        .filter(|l| l["phase"] == "before" && l["id"] == id)
        .collect()
}

/// Every before line has an after line with the same seq.
fn assert_all_closed(lines: &[Value]) {
    for b in lines.iter().filter(|l| l["phase"] == "before") {
        assert!(
            lines
                .iter()
                .any(|a| a["phase"] == "after" && a["seq"] == b["seq"]),
            "no after line for {b}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_resent_after_a_microstrategy_relogin_has_its_own_line() {
    let sim = msim::start(&SimOptions::default()).await.expect("sim");
    let api = vendors::connect(settings(
        VendorId::MicroStrategy,
        &sim.base_url,
        Some(msim::DEMO_USERNAME),
        msim::DEMO_PASSWORD,
    ))
    .expect("client");
    let all = api.load().await.expect("load").resources;
    let target = all
        .iter()
        .find(|r| r.kind == Kind::Datasources && r.is_orphan())
        .expect("a datasource nothing uses")
        .clone();
    let plan = plan_for(
        VendorId::MicroStrategy,
        &all,
        &[(target.kind, target.id.to_string())],
    );
    assert_eq!(plan.steps.len(), 1, "{:?}", plan.warnings);
    // The session dies between load and delete: the DELETE gets 401, the client logs in
    // again and sends the DELETE a second time.
    sim.control.expire_all_sessions();
    let audit = Arc::new(AuditLog::disabled());
    let outcomes = run(plan, api, audit.clone()).await;
    assert_eq!(outcomes, vec![StepOutcome::Deleted]);
    let deletes = sim
        .control
        .requests()
        .into_iter()
        .filter(|r| r.method == "DELETE" && r.path.contains(target.id.as_str()))
        .count();
    assert_eq!(deletes, 2, "the DELETE was sent twice");
    let l = lines(&audit);
    let b = befores(&l, &target.id);
    assert_eq!(b.len(), 2, "one before line per DELETE: {l:#?}");
    assert_eq!(b[0]["attempt"], 1);
    assert_eq!(b[1]["attempt"], 2);
    let request = b[1]["request"].as_str().expect("request named");
    assert!(
        request.starts_with("DELETE ")
            && request.ends_with(&format!("/api/datasources/{}", target.id)),
        "{request}"
    );
    assert_all_closed(&l);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_deletes_after_a_refused_qlik_bulk_request_have_their_own_lines() {
    let sim = qsim::start(&SimOptions::default()).await.expect("sim");
    let api = vendors::connect(settings(
        VendorId::Qlik,
        &sim.base_url,
        None,
        qsim::NON_ADMIN_TOKEN,
    ))
    .expect("client");
    let all = api.load().await.expect("load").resources;
    let selected: Vec<(Kind, String)> = all.iter().map(|r| (r.kind, r.id.to_string())).collect();
    let plan = plan_for(VendorId::Qlik, &all, &selected);
    assert!(plan.steps.len() >= 2, "{plan:?}");
    let ids: Vec<String> = plan.steps.iter().map(|s| s.target.id.to_string()).collect();
    let audit = Arc::new(AuditLog::disabled());
    let outcomes = run(plan, api, audit.clone()).await;
    let requests = sim.control.requests();
    assert!(
        requests
            .iter()
            .any(|r| r.method == "POST" && r.path.ends_with("/actions/delete")),
        "the bulk request was tried first"
    );
    let l = lines(&audit);
    for (id, outcome) in ids.iter().zip(&outcomes) {
        let sent_singly = requests
            .iter()
            .filter(|r| r.method == "DELETE" && r.path.ends_with(id.as_str()))
            .count();
        assert!(sent_singly >= 1, "{id} was deleted singly ({outcome})");
        let b = befores(&l, id);
        assert_eq!(
            b.len(),
            1 + sent_singly,
            "{id}: one line for the bulk request and one per single DELETE: {b:#?}"
        );
        assert_eq!(b[1]["attempt"], 2);
        assert!(
            b[1]["request"]
                .as_str()
                .is_some_and(|r| r.starts_with("DELETE ") && r.ends_with(id.as_str())),
            "{}",
            b[1]
        );
    }
    assert_all_closed(&l);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_qlik_delete_resent_with_a_renewed_oauth_token_has_its_own_line_and_no_secrets() {
    let sim = qsim::start(&SimOptions::default()).await.expect("sim");
    let api = vendors::connect(
        settings(VendorId::Qlik, &sim.base_url, None, "")
            .option("client_id", qsim::DEMO_CLIENT_ID)
            .secret_option(
                "client_secret",
                secrecy::SecretString::from(qsim::DEMO_CLIENT_SECRET.to_owned()),
            ),
    )
    .expect("client");
    let all = api.load().await.expect("load").resources;
    let (target, plan) = all
        .iter()
        .find_map(|r| {
            let plan = plan_for(VendorId::Qlik, &all, &[(r.kind, r.id.to_string())]);
            (plan.steps.len() == 1).then(|| (r.clone(), plan))
        })
        .expect("a deletable connection");
    // The token expires between load and delete: the delete gets 401, the client fetches a
    // new token and sends the delete a second time.
    sim.control.expire_tokens();
    let audit = Arc::new(AuditLog::disabled());
    let outcomes = run(plan, api, audit.clone()).await;
    assert_eq!(outcomes, vec![StepOutcome::Deleted]);
    assert_eq!(sim.control.token_requests(), 2, "one renewal");
    assert!(!sim.control.contains(&target.id));
    let l = lines(&audit);
    let b = befores(&l, &target.id);
    assert_eq!(b.len(), 2, "one before line per request: {l:#?}");
    assert_all_closed(&l);
    // The token exchange is no object change: not audited. No secret, no token anywhere.
    let text = audit.recent().join("\n");
    assert!(!text.contains("/oauth/token"), "{text}");
    assert!(!text.contains(qsim::DEMO_CLIENT_SECRET), "{text}");
    for token in sim.control.issued_tokens() {
        assert!(!text.contains(&token), "{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_resent_after_a_microstrategy_relogin_has_its_own_line() {
    let sim = msim::start(&SimOptions::default()).await.expect("sim");
    let api = vendors::connect(settings(
        VendorId::MicroStrategy,
        &sim.base_url,
        Some(msim::DEMO_USERNAME),
        msim::DEMO_PASSWORD,
    ))
    .expect("client");
    api.load().await.expect("load");
    sim.control.expire_all_sessions();
    let audit = Arc::new(AuditLog::disabled());
    let body = serde_json::json!({"name": "etl_audit", "username": "etl", "password": "s3cret-pw", "description": ""});
    let created = dsconsole::ops::create::create_audited(
        &*api,
        &audit,
        "audit-it".into(),
        Kind::Logins,
        body,
    )
    .await
    .expect("created after a re-login");
    assert_eq!(created.name, "etl_audit");
    let l = lines(&audit);
    let b: Vec<&Value> = l
        .iter()
        .filter(|v| v["phase"] == "before" && v["operation"] == "create")
        .collect();
    assert_eq!(b.len(), 2, "one before line per POST: {l:#?}");
    assert_eq!(b[1]["attempt"], 2);
    assert!(b[1]["request"]
        .as_str()
        .is_some_and(|r| r.starts_with("POST ")));
    assert!(
        !audit.recent().join("\n").contains("s3cret-pw"),
        "the password never reaches the audit log"
    );
    assert_all_closed(&l);
}
