//! Undo: objects deleted through the executor (the audit log saves their JSON) are read back
//! by `ops::deleted` and re-created by `ops::restore` against each vendor's simulator: a
//! MicroStrategy cascade in creation order with each new id wired into the next, a Qlik
//! connection in its space under its old id, a Basedash source under a new id, a Databrain
//! datasource tested by the server, a Superset database and its dataset; a second restore
//! refused in the vendor's words; answers lost after the server acted settled by name, never
//! by creating twice; and the audit lines linking each restore to its delete.
// These run the built-in simulators, which need the `sim` feature (on by default).
#![cfg(feature = "sim")]
mod common {
    pub mod settings;
}

use dsconsole::model::{Kind, Resource, VendorId};
use dsconsole::ops::audit::AuditLog;
use dsconsole::ops::deleted::{self, DeletedObject};
use dsconsole::ops::executor::{execute as delete_exec, ExecConfig, StepUpdate};
use dsconsole::ops::plan::{build_plan, PlanRequest};
use dsconsole::ops::restore::{self, RestoreOutcome, RestorePlan};
use dsconsole::sim::faults::{Fault, FaultRule};
use dsconsole::sim::SimOptions;
use dsconsole::vendors::{self, VendorApi};
use secrecy::SecretString;
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const TIMEOUT: Duration = Duration::from_secs(2);

fn client(vendor: VendorId, base_url: &str) -> Arc<dyn VendorApi> {
    let s =
        common::settings::demo(&format!("undo-{}", vendor.id()), vendor, base_url).timeout(TIMEOUT);
    vendors::connect(s).expect("client")
}

/// Delete `names` (of `kind`) through the executor, with the audit log at `audit`; what the
/// audit log then says was deleted.
async fn delete(
    api: &Arc<dyn VendorApi>,
    audit: &Path,
    kind: Kind,
    names: &[&str],
    cascade: bool,
) -> Vec<DeletedObject> {
    let all = api.load().await.expect("load").resources;
    let selected: Vec<(Kind, String)> = names
        .iter()
        .map(|n| {
            let r = all
                .iter()
                .find(|r| r.kind == kind && r.name == *n)
                .unwrap_or_else(|| panic!("{n} is in the seed"));
            (kind, r.id.to_string())
        })
        .collect();
    let plan = build_plan(&PlanRequest {
        spec: vendors::spec(api.vendor()),
        profile: "p",
        all: &all,
        selected: &selected,
        hidden: &[],
        cascade,
        skip_in_use: false,
    });
    let log = Arc::new(AuditLog::open(audit).expect("audit"));
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel::<StepUpdate>();
    let cfg = ExecConfig {
        base_backoff: Duration::from_millis(5),
        ..ExecConfig::default()
    };
    let outcomes = delete_exec(
        Arc::new(plan),
        api.clone(),
        log,
        cfg,
        CancellationToken::new(),
        tx,
    )
    .await;
    assert!(outcomes.iter().all(|o| o.is_success()), "{outcomes:?}");
    deleted::read(audit).expect("read the audit log")
}

async fn plan_of(
    api: &Arc<dyn VendorApi>,
    asked: Vec<DeletedObject>,
    known: &[DeletedObject],
    sets: &[(String, String)],
) -> RestorePlan {
    let all = api.load().await.expect("load").resources;
    restore::plan(vendors::spec(api.vendor()), "p", asked, &all, known, sets).expect("plan")
}

async fn run(
    api: &Arc<dyn VendorApi>,
    audit: &Path,
    plan: &RestorePlan,
    password: Option<&str>,
) -> Vec<RestoreOutcome> {
    let log = Arc::new(AuditLog::open(audit).expect("audit"));
    let pw = password.map(|p| SecretString::from(p.to_string()));
    let secret_of = move |f: &str| (f == "password").then(|| pw.clone()).flatten();
    restore::execute(
        api.clone(),
        log,
        plan,
        &secret_of,
        CancellationToken::new(),
        |_, _| {},
    )
    .await
}

fn restored(o: &RestoreOutcome) -> &Resource {
    match o {
        RestoreOutcome::Restored(r) => r,
        other => panic!("not restored: {other:?}"),
    }
}

fn audit_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect()
}

fn restore_lines(path: &Path) -> Vec<Value> {
    audit_lines(path)
        .into_iter()
        .filter(|l| l["operation"] == "restore")
        .collect()
}

// ---------------------------------------------------------------------------------------------
// MicroStrategy
// ---------------------------------------------------------------------------------------------

async fn mstr() -> (dsconsole::sim::microstrategy::MstrSim, Arc<dyn VendorApi>) {
    let sim = dsconsole::sim::microstrategy::start(&SimOptions::default())
        .await
        .expect("sim");
    let api = client(VendorId::MicroStrategy, &sim.base_url);
    (sim, api)
}

#[tokio::test]
async fn a_mstr_cascade_is_restored_login_first_each_new_id_wired_into_the_next() {
    let (sim, api) = mstr().await;
    let dir = tempfile::tempdir().expect("tmp");
    let audit = dir.path().join("audit.jsonl");
    let gone = delete(
        &api,
        &audit,
        Kind::Datasources,
        &["Analytics Sandbox"],
        true,
    )
    .await;
    assert_eq!(gone.len(), 3, "{gone:?}");
    // Asked for in delete order; planned in creation order.
    let plan = plan_of(&api, gone.clone(), &gone, &[]).await;
    let kinds: Vec<Kind> = plan.items.iter().map(|i| i.deleted.kind).collect();
    assert_eq!(kinds, [Kind::Logins, Kind::Connections, Kind::Datasources]);
    assert_eq!(plan.secret_fields(), ["password"]);
    let text = restore::plan_text(&plan);
    assert!(text.contains("the one restored at 1"), "{text}");
    assert!(text.contains("its password"), "{text}");
    assert!(text.contains("project attachments"), "{text}");

    let posts_before = sim.control.requests().len();
    let out = run(&api, &audit, &plan, Some("s3cret-pw")).await;
    let (login, conn, ds) = (restored(&out[0]), restored(&out[1]), restored(&out[2]));
    for (r, d) in [login, conn, ds].iter().zip(&plan.items) {
        assert_ne!(r.id, d.deleted.id, "a new id");
        assert_eq!(r.name, d.deleted.name);
    }
    // The server holds each new object wired to the new one before it.
    let c = sim.control.object("connections", &conn.id).expect("stored");
    assert_eq!(c["database"]["login"]["id"], login.id.as_str());
    let d = sim.control.object("datasources", &ds.id).expect("stored");
    assert_eq!(d["database"]["connection"]["id"], conn.id.as_str());
    // Sent in that order, once each.
    let posts: Vec<String> = sim.control.requests()[posts_before..]
        .iter()
        .filter(|r| r.method == "POST" && !r.path.contains("/auth/"))
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(posts.len(), 3, "{posts:?}");
    assert!(posts[0].ends_with("/logins") && posts[1].ends_with("/connections"));
    assert!(posts[2].ends_with("/api/datasources"), "{posts:?}");
    // The audit log links each restore to its delete and never holds the password.
    let lines = restore_lines(&audit);
    assert_eq!(lines.len(), 6);
    for pair in lines.chunks(2) {
        assert_eq!(pair[0]["phase"], "before");
        assert_eq!(pair[1]["phase"], "after");
        assert_eq!(pair[1]["outcome"], "restored");
        assert_eq!(pair[0]["restores"], pair[1]["restores"]);
    }
    assert_eq!(
        lines[1]["restores"],
        plan.items[0].deleted.reference.as_str()
    );
    assert_eq!(lines[1]["restored_id"], login.id.as_str());
    let text = std::fs::read_to_string(&audit).expect("read");
    assert!(
        !text.contains("s3cret-pw"),
        "the password reached the audit log"
    );
    // `deleted` now says each was restored, and a second plan refuses them.
    let again = deleted::read(&audit).expect("read");
    assert!(again.iter().all(|d| d.restored.is_some()), "{again:?}");
    let plan = plan_of(&api, again.clone(), &again, &[]).await;
    assert!(plan.is_empty() && plan.refused.len() == 3);
    assert!(plan.refused[0].1.contains("already restored"));
}

#[tokio::test]
async fn a_refused_login_skips_what_uses_it_and_a_name_clash_is_refused_in_the_vendors_words() {
    let (sim, api) = mstr().await;
    let dir = tempfile::tempdir().expect("tmp");
    let audit = dir.path().join("audit.jsonl");
    let gone = delete(
        &api,
        &audit,
        Kind::Datasources,
        &["Analytics Sandbox"],
        true,
    )
    .await;
    let plan = plan_of(&api, gone.clone(), &gone, &[]).await;
    // No password: nothing is sent for the login, and nothing for what uses it.
    let before = sim.control.requests().len();
    let out = run(&api, &audit, &plan, None).await;
    assert!(matches!(&out[0], RestoreOutcome::Failed(w) if w.contains("not sent: no password")));
    assert!(
        matches!(&out[1], RestoreOutcome::Skipped(w) if w.contains("login 'Snowflake Analytics Reader'"))
    );
    assert!(matches!(out[2], RestoreOutcome::Skipped(_)));
    assert!(sim.control.requests()[before..]
        .iter()
        .all(|r| r.method != "POST" || r.path.contains("/auth/")));
    // Restored, then restored again from the same audit line (another terminal): the
    // server refuses the second in its words; nothing is created twice.
    let first = run(&api, &audit, &plan, Some("pw-1")).await;
    assert!(first
        .iter()
        .all(|o| matches!(o, RestoreOutcome::Restored(_))));
    let plan2 = plan_of(&api, gone.clone(), &gone, &[]).await;
    assert!(restore::plan_text(&plan2).contains("the server will refuse it"));
    let second = run(&api, &audit, &plan2, Some("pw-1")).await;
    match &second[0] {
        RestoreOutcome::Failed(w) => assert!(w.contains("already exists"), "{w}"),
        other => panic!("{other:?}"),
    }
    let logins = api
        .load()
        .await
        .expect("load")
        .resources
        .into_iter()
        .filter(|r| r.kind == Kind::Logins && r.name == "Snowflake Analytics Reader")
        .count();
    assert_eq!(logins, 1);
}

#[tokio::test]
async fn answers_lost_after_the_server_acted_are_settled_by_name_never_by_creating_twice() {
    let (sim, api) = mstr().await;
    let dir = tempfile::tempdir().expect("tmp");
    let audit = dir.path().join("audit.jsonl");
    let gone = delete(
        &api,
        &audit,
        Kind::Datasources,
        &["Analytics Sandbox"],
        true,
    )
    .await;
    let plan = plan_of(&api, gone.clone(), &gone, &[]).await;
    let faults = &sim.control.faults;
    // The login: created, answer lost. The connection: a 503 before the server acted, then
    // a 429. The datasource: a truncated answer after the server stored it.
    faults.add(
        FaultRule::new(Fault::Reset)
            .method("POST")
            .path("/datasources/logins")
            .after()
            .times(1),
    );
    faults.add(
        FaultRule::new(Fault::Status {
            status: 503,
            body: "{}".into(),
            retry_after: None,
        })
        .method("POST")
        .path("/datasources/connections")
        .times(1),
    );
    faults.add(
        FaultRule::new(Fault::Status {
            status: 429,
            body: "{}".into(),
            retry_after: Some(0),
        })
        .method("POST")
        .path("/datasources/connections")
        .times(1),
    );
    faults.add(
        FaultRule::new(Fault::Truncated)
            .method("POST")
            .path("/api/datasources")
            .after()
            .times(1),
    );
    let out = run(&api, &audit, &plan, Some("pw")).await;
    let all = api.load().await.expect("load").resources;
    for (o, item) in out.iter().zip(&plan.items) {
        let r = restored(o);
        let same: Vec<&Resource> = all
            .iter()
            .filter(|x| x.kind == item.deleted.kind && x.name == item.deleted.name)
            .collect();
        assert_eq!(same.len(), 1, "{} created once", item.deleted.name);
        assert_eq!(same[0].id, r.id, "the report is the server's state");
    }
    let c = sim
        .control
        .object("connections", &restored(&out[1]).id)
        .expect("conn");
    assert_eq!(c["database"]["login"]["id"], restored(&out[0]).id.as_str());
    let lines = restore_lines(&audit);
    let afters: Vec<&Value> = lines.iter().filter(|l| l["phase"] == "after").collect();
    assert!(afters[0]["error"]
        .as_str()
        .is_some_and(|e| e.contains("found by name")));
    assert_eq!(afters[0]["outcome"], "restored");
    // The connection: not created (looked for), sent again, refused (429), sent again.
    assert_eq!(afters[1]["outcome"], "failed");
    assert!(afters[1]["error"]
        .as_str()
        .is_some_and(|e| e.contains("not created")));
    assert_eq!(afters[2]["outcome"], "failed");
    assert_eq!(afters[3]["outcome"], "restored");
    assert_eq!(afters.len(), 5, "{afters:?}");
}

#[tokio::test]
async fn a_lost_answer_that_cannot_be_settled_is_unknown_and_not_sent_again() {
    let (sim, api) = mstr().await;
    let dir = tempfile::tempdir().expect("tmp");
    let audit = dir.path().join("audit.jsonl");
    let gone = delete(&api, &audit, Kind::Logins, &["Legacy DB2 Login"], false).await;
    let gone: Vec<DeletedObject> = gone;
    let plan = plan_of(&api, gone.clone(), &gone, &[]).await;
    assert_eq!(plan.items.len(), 1);
    let faults = &sim.control.faults;
    faults.add(
        FaultRule::new(Fault::Reset)
            .method("POST")
            .path("/datasources/logins")
            .after(),
    );
    faults.add(
        FaultRule::new(Fault::Status {
            status: 500,
            body: "{}".into(),
            retry_after: None,
        })
        .method("GET")
        .path("/api/datasources/logins"),
    );
    let before = sim.control.requests().len();
    let out = run(&api, &audit, &plan, Some("pw")).await;
    assert!(
        matches!(&out[0], RestoreOutcome::Unknown(w) if w.contains("looking for it by name failed")),
        "{out:?}"
    );
    let posts = sim.control.requests()[before..]
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/logins"))
        .count();
    assert_eq!(posts, 1, "never sent twice");
    let last = restore_lines(&audit).pop().expect("a line");
    assert_eq!(last["outcome"], "unknown");
}

// ---------------------------------------------------------------------------------------------
// The other vendors: restored, then refused when restored again
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn qlik_re_posts_to_the_original_space_with_the_original_name_and_id() {
    let sim = dsconsole::sim::qlik::start(&SimOptions::default())
        .await
        .expect("sim");
    let api = client(VendorId::Qlik, &sim.base_url);
    let dir = tempfile::tempdir().expect("tmp");
    let audit = dir.path().join("audit.jsonl");
    let all = api.load().await.expect("load").resources;
    let target = all
        .iter()
        .find(|r| r.kind == Kind::Connections && r.raw.pointer_str("/space").is_some())
        .expect("a connection in a space")
        .clone();
    let gone = delete(&api, &audit, Kind::Connections, &[&target.name], false).await;
    let gone: Vec<DeletedObject> = gone.into_iter().filter(|d| d.id == target.id).collect();
    assert!(!sim.control.contains(&target.id));
    let plan = plan_of(&api, gone.clone(), &gone, &[]).await;
    let text = restore::plan_text(&plan);
    assert!(
        text.contains("a non-owner cannot restore the original owner"),
        "{text}"
    );
    let out = run(&api, &audit, &plan, Some("pw")).await;
    let r = restored(&out[0]);
    assert_eq!(r.id, target.id, "the original qID is accepted");
    assert_eq!(r.name, target.name);
    assert_eq!(
        r.raw.pointer_str("/space"),
        target.raw.pointer_str("/space")
    );
    // Again: the server refuses the name (and id) in its words.
    let plan = plan_of(&api, gone.clone(), &gone, &[]).await;
    let out = run(&api, &audit, &plan, Some("pw")).await;
    assert!(
        matches!(&out[0], RestoreOutcome::Failed(w) if w.contains("already exists")),
        "{out:?}"
    );
}

#[tokio::test]
async fn basedash_re_creates_under_a_new_id_and_refuses_a_duplicate_itself() {
    let sim = dsconsole::sim::basedash::start(&SimOptions::default())
        .await
        .expect("sim");
    let api = client(VendorId::Basedash, &sim.base_url);
    let dir = tempfile::tempdir().expect("tmp");
    let audit = dir.path().join("audit.jsonl");
    let gone = delete(
        &api,
        &audit,
        Kind::Datasources,
        &["Inventory Spanner"],
        false,
    )
    .await;
    assert_eq!(gone[0].state, deleted::DeleteState::SoftDeleted);
    assert_eq!(gone[0].container.as_deref(), Some("Northwind Retail"));
    let plan = plan_of(&api, gone.clone(), &gone, &[]).await;
    assert!(restore::plan_text(&plan).contains("the old id stays deleted"));
    let out = run(&api, &audit, &plan, Some("pw")).await;
    let r = restored(&out[0]);
    assert_ne!(r.id, gone[0].id);
    assert!(sim.control.contains(&r.id) && !sim.control.contains(&gone[0].id));
    assert_eq!(r.container.as_deref(), Some("Northwind Retail"));
    // Basedash keeps two of the same name: dsconsole refuses, nothing is sent.
    let plan = plan_of(&api, gone.clone(), &gone, &[]).await;
    assert!(plan.is_empty());
    assert!(
        plan.refused[0].1.contains("exists already"),
        "{:?}",
        plan.refused
    );
}

#[tokio::test]
async fn databrain_re_creates_with_the_credentials_given_and_the_server_tests_them() {
    let sim = dsconsole::sim::databrain::start(&SimOptions::default())
        .await
        .expect("sim");
    let api = client(VendorId::Databrain, &sim.base_url);
    let dir = tempfile::tempdir().expect("tmp");
    let audit = dir.path().join("audit.jsonl");
    // The documented list: names only; the saved JSON lacks the type and credentials.
    let gone = delete(&api, &audit, Kind::Datasources, &["clickhouse-logs"], false).await;
    assert_eq!(
        gone[0].restorable(),
        Ok(vec![
            "datasource_type",
            "host",
            "port",
            "database",
            "username"
        ])
    );
    let plan = plan_of(&api, gone.clone(), &gone, &[]).await;
    assert!(plan.is_empty() && plan.refused[0].1.contains("--set datasource_type="));
    let sets: Vec<(String, String)> = [
        ("datasource_type", "clickhouse"),
        ("host", "ch.internal"),
        ("port", "8123"),
        ("database", "logs"),
        ("username", "reader"),
    ]
    .iter()
    .map(|(f, v)| (f.to_string(), v.to_string()))
    .collect();
    let plan = plan_of(&api, gone.clone(), &gone, &sets).await;
    // The server tests the credentials first: refused in its words, nothing stored.
    sim.control
        .set_credential_test_failure(Some("Connection refused: ch.internal:8123"));
    let out = run(&api, &audit, &plan, Some("pw")).await;
    assert!(
        matches!(&out[0], RestoreOutcome::Failed(w) if w.contains("Connection refused")),
        "{out:?}"
    );
    assert!(!sim.control.contains("clickhouse-logs"));
    sim.control.set_credential_test_failure(None);
    let out = run(&api, &audit, &plan, Some("pw")).await;
    assert_eq!(restored(&out[0]).name, "clickhouse-logs");
    let stored = sim.control.datasource("clickhouse-logs").expect("stored");
    assert_eq!(stored["credentials"]["port"], 8123);
    assert_eq!(stored["credentials"]["password"], "pw");
    // Again: "Datasource name already exists".
    let out = run(&api, &audit, &plan, Some("pw")).await;
    assert!(
        matches!(&out[0], RestoreOutcome::Failed(w) if w.contains("already exists")),
        "{out:?}"
    );
}

#[tokio::test]
async fn superset_restores_a_database_with_its_password_then_its_dataset_on_the_new_id() {
    let sim = dsconsole::sim::superset::start(&SimOptions::default())
        .await
        .expect("sim");
    let api = client(VendorId::Superset, &sim.base_url);
    let dir = tempfile::tempdir().expect("tmp");
    let audit = dir.path().join("audit.jsonl");
    let gone = delete(&api, &audit, Kind::Datasources, &["public.ledger"], true).await;
    assert_eq!(gone.len(), 2, "the dataset and its database");
    let plan = plan_of(&api, gone.clone(), &gone, &[]).await;
    assert_eq!(plan.items[0].deleted.kind, Kind::Connections);
    // A wrong password: Superset tests it and refuses in its words; the dataset waits.
    let out = run(&api, &audit, &plan, Some("wrong")).await;
    assert!(
        matches!(&out[0], RestoreOutcome::Failed(w) if w.contains("password")),
        "{out:?}"
    );
    assert!(matches!(out[1], RestoreOutcome::Skipped(_)));
    let out = run(&api, &audit, &plan, Some("rotated-outside-superset")).await;
    let db = restored(&out[0]);
    let ds = restored(&out[1]);
    assert_eq!(db.name, "finance-pg");
    assert_eq!(ds.name, "public.ledger");
    assert_eq!(
        ds.depends_on[0].id, db.id,
        "the dataset is on the new database"
    );
    // Again: the server refuses the database name.
    let plan = plan_of(&api, gone.clone(), &gone, &[]).await;
    let out = run(&api, &audit, &plan, Some("rotated-outside-superset")).await;
    assert!(matches!(out[0], RestoreOutcome::Failed(_)), "{out:?}");
    assert!(matches!(out[1], RestoreOutcome::Skipped(_)));
}
