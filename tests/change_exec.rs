//! Changing objects through `ops::change` against the MicroStrategy simulator: a plan that
//! says what is tested afterwards, a password rotation verified by the connections that use
//! the login, answers lost before and after the server acted (settled by reading the object
//! again or by the test after it), refusals in the vendor's words, and the audit log: a line
//! before and after every request, never the secret.
// These run the built-in simulators, which need the `sim` feature (on by default).
#![cfg(feature = "sim")]
mod common {
    pub mod settings;
}

use dsconsole::model::{Kind, Resource};
use dsconsole::ops::audit::AuditLog;
use dsconsole::ops::change::{self, ChangeOutcome, Verification, Verify};
use dsconsole::sim::faults::{Fault, FaultRule};
use dsconsole::sim::microstrategy::{self as msim, MstrSim};
use dsconsole::sim::SimOptions;
use dsconsole::vendors::change::{Change, FieldValue};
use dsconsole::vendors::microstrategy::{MstrClient, SPEC};
use dsconsole::vendors::VendorApi;
use secrecy::SecretString;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const NEW_PASSWORD: &str = "r0tated-Pa55";

async fn world() -> (MstrSim, Arc<dyn VendorApi>, Vec<Resource>) {
    world_at(0).await
}

/// The simulator with `scale` generated objects per kind, a client of it, and its objects.
async fn world_at(scale: usize) -> (MstrSim, Arc<dyn VendorApi>, Vec<Resource>) {
    let sim = msim::start(&SimOptions {
        scale,
        ..SimOptions::default()
    })
    .await
    .expect("simulator starts");
    let settings = common::settings::client(
        "it-mstr",
        dsconsole::model::VendorId::MicroStrategy,
        &sim.base_url,
        msim::DEMO_PASSWORD,
    )
    .username(msim::DEMO_USERNAME)
    .timeout(Duration::from_secs(2));
    let client: Arc<dyn VendorApi> = Arc::new(MstrClient::new(settings).expect("client"));
    let all = client.load().await.expect("load").resources;
    (sim, client, all)
}

/// A login used by at least two connections, and those connections (their tests pass).
fn shared_login(sim: &MstrSim, all: &[Resource]) -> (Resource, Vec<String>) {
    let login = all
        .iter()
        .filter(|r| r.kind == Kind::Logins)
        .max_by_key(|l| {
            all.iter()
                .filter(|c| {
                    c.kind == Kind::Connections && c.depends_on.iter().any(|d| d.id == l.id)
                })
                .count()
        })
        .expect("a login")
        .clone();
    let conns: Vec<String> = all
        .iter()
        .filter(|c| c.kind == Kind::Connections && c.depends_on.iter().any(|d| d.id == login.id))
        .map(|c| c.id.to_string())
        .collect();
    assert!(conns.len() >= 2, "the seed shares a login: {conns:?}");
    for c in &conns {
        sim.control.set_connection_test_failure(c, None);
    }
    (login, conns)
}

fn secret(field: &str, value: &str) -> Change {
    Change::default().set(
        field,
        FieldValue::Secret(SecretString::from(value.to_string())),
    )
}

fn text(field: &str, value: &str) -> Change {
    Change::default().set(field, FieldValue::Text(value.to_string()))
}

fn audit_lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect()
}

async fn run(
    client: &Arc<dyn VendorApi>,
    audit: &Arc<AuditLog>,
    plan: &change::ChangePlan,
) -> Vec<ChangeOutcome> {
    change::execute(
        client.clone(),
        &SPEC,
        audit.clone(),
        plan,
        CancellationToken::new(),
        |_, _| {},
    )
    .await
}

#[tokio::test]
async fn a_rotation_is_planned_with_its_tests_sent_once_verified_and_audited_without_the_secret() {
    let (sim, client, all) = world().await;
    let (login, conns) = shared_login(&sim, &all);
    sim.control
        .set_database_password(&login.id, Some(NEW_PASSWORD));
    let plan = change::plan(
        &SPEC,
        "it-mstr",
        &all,
        vec![(login.as_ref(), secret("password", NEW_PASSWORD))],
    )
    .expect("plan");
    match &plan.items[0].verify {
        Verify::Users(refs) => assert_eq!(refs.len(), conns.len(), "{refs:?}"),
        other => panic!("the connections of the login are tested: {other:?}"),
    }
    let text = change::plan_text(&plan);
    assert!(text.contains("password → (new secret)"), "{text}");
    assert!(text.contains("cannot put it back"), "{text}");
    assert!(!text.contains(NEW_PASSWORD), "{text}");

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("audit.jsonl");
    let audit = Arc::new(AuditLog::open(&path).expect("audit"));
    let outcomes = run(&client, &audit, &plan).await;
    match &outcomes[0] {
        ChangeOutcome::Changed(Verification::Passed(what)) => {
            assert_eq!(what.len(), conns.len(), "{what:?}")
        }
        other => panic!("changed and verified: {other:?}"),
    }
    assert_eq!(
        sim.control.login_password(&login.id).as_deref(),
        Some(NEW_PASSWORD)
    );
    let report = change::report_text(&plan, &outcomes);
    assert!(report.starts_with("changed, verified"), "{report}");
    let lines = audit_lines(&path);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["phase"], "before");
    assert_eq!(lines[0]["operation"], "update");
    assert_eq!(lines[0]["object"]["before"]["id"], login.id.as_str());
    assert_eq!(lines[1]["outcome"], "changed");
    let raw = std::fs::read_to_string(&path).expect("audit");
    assert!(!raw.contains(NEW_PASSWORD), "{raw}");
}

#[tokio::test]
async fn a_wrong_password_is_changed_but_its_failed_test_is_reported_in_the_vendors_words() {
    let (sim, client, all) = world().await;
    let (login, _) = shared_login(&sim, &all);
    sim.control
        .set_database_password(&login.id, Some(NEW_PASSWORD));
    let plan = change::plan(
        &SPEC,
        "it-mstr",
        &all,
        vec![(login.as_ref(), secret("password", "not-the-one"))],
    )
    .expect("plan");
    let audit = Arc::new(AuditLog::disabled());
    let outcomes = run(&client, &audit, &plan).await;
    match &outcomes[0] {
        ChangeOutcome::Changed(Verification::Failed(fails)) => {
            assert!(fails[0].1.contains("Login failed"), "{fails:?}")
        }
        other => panic!("changed, test failed: {other:?}"),
    }
    assert!(!outcomes[0].is_success());
    assert_eq!(outcomes[0].word(), "changed, test failed");
}

#[tokio::test]
async fn answers_lost_after_and_before_the_server_acted_are_settled_by_reading_again() {
    let (sim, client, all) = world().await;
    let conns: Vec<&Resource> = all.iter().filter(|r| r.kind == Kind::Connections).collect();
    let (a, b) = (conns[0], conns[1]);
    // Applied, then the connection dropped, three times (each attempt): reading again
    // finds the new name.
    sim.control.faults.add(
        FaultRule::new(Fault::Reset)
            .method("PATCH")
            .path(&a.id)
            .after()
            .times(50),
    );
    // Dropped before the server saw it, every time: reading again finds the old name.
    sim.control.faults.add(
        FaultRule::new(Fault::Reset)
            .method("PATCH")
            .path(&b.id)
            .times(50),
    );
    let plan = change::plan(
        &SPEC,
        "it-mstr",
        &all,
        vec![
            (a.as_ref(), text("name", "Applied Then Lost")),
            (b.as_ref(), text("name", "Never Applied")),
        ],
    )
    .expect("plan");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("audit.jsonl");
    let audit = Arc::new(AuditLog::open(&path).expect("audit"));
    let outcomes = run(&client, &audit, &plan).await;
    assert_eq!(
        outcomes[0],
        ChangeOutcome::Changed(Verification::NotNeeded),
        "{outcomes:?}"
    );
    assert!(
        matches!(&outcomes[1], ChangeOutcome::Failed(why) if why.contains("did not apply")),
        "{outcomes:?}"
    );
    // The report equals the server's state.
    let stored = |id: &str| sim.control.object("connections", id).expect("stored")["name"].clone();
    assert_eq!(stored(&a.id), "Applied Then Lost");
    assert_eq!(stored(&b.id), b.name.as_str());
    let lines = audit_lines(&path);
    let outcomes: Vec<&str> = lines
        .iter()
        .filter(|l| l["phase"] == "after")
        .filter_map(|l| l["outcome"].as_str())
        .collect();
    assert_eq!(
        outcomes,
        ["unknown", "unknown", "changed", "unknown", "unknown", "failed"],
        "each attempt has its lines; a lost answer is unknown until settled: {lines:?}"
    );
}

#[tokio::test]
async fn a_lost_answer_to_a_secret_is_sent_again_and_never_decided_by_a_test() {
    let (sim, client, all) = world().await;
    let (login, _) = shared_login(&sim, &all);
    sim.control
        .set_database_password(&login.id, Some(NEW_PASSWORD));
    sim.control.faults.add(
        FaultRule::new(Fault::Reset)
            .method("PATCH")
            .path(&login.id)
            .after()
            .times(1),
    );
    let plan = change::plan(
        &SPEC,
        "it-mstr",
        &all,
        vec![(login.as_ref(), secret("password", NEW_PASSWORD))],
    )
    .expect("plan");
    let outcomes = run(&client, &Arc::new(AuditLog::disabled()), &plan).await;
    assert!(
        matches!(
            &outcomes[0],
            ChangeOutcome::Changed(Verification::Passed(_))
        ),
        "the connections pass with the new password: {outcomes:?}"
    );

    // Lost every time: a secret cannot be read back, so the outcome is unknown — even
    // though the old password still passes the tests.
    let login2 = login.clone();
    sim.control.set_database_password(&login2.id, None);
    sim.control.faults.add(
        FaultRule::new(Fault::Reset)
            .method("PATCH")
            .path(&login2.id)
            .times(50),
    );
    let plan = change::plan(
        &SPEC,
        "it-mstr",
        &all,
        vec![(login2.as_ref(), secret("password", "yet-another-1"))],
    )
    .expect("plan");
    let outcomes = run(&client, &Arc::new(AuditLog::disabled()), &plan).await;
    match &outcomes[0] {
        ChangeOutcome::Unknown(why) => {
            assert!(why.contains("cannot be read back"), "{why}");
            assert!(!why.contains("yet-another-1"), "{why}");
        }
        other => panic!("unknown: {other:?}"),
    }
}

#[tokio::test]
async fn refusals_and_bad_plans_change_nothing() {
    let (_sim, client, all) = world().await;
    let conns: Vec<&Resource> = all.iter().filter(|r| r.kind == Kind::Connections).collect();
    // A name clash: refused in the server's words.
    let plan = change::plan(
        &SPEC,
        "it-mstr",
        &all,
        vec![(conns[0].as_ref(), text("name", &conns[1].name))],
    )
    .expect("plan");
    let outcomes = run(&client, &Arc::new(AuditLog::disabled()), &plan).await;
    assert!(
        matches!(&outcomes[0], ChangeOutcome::Failed(why) if why.contains("already")),
        "{outcomes:?}"
    );
    // Fields the vendor does not have, secrets given as text: refused before planning.
    let e = change::plan(
        &SPEC,
        "it-mstr",
        &all,
        vec![(conns[0].as_ref(), text("color", "x"))],
    )
    .expect_err("unknown field");
    assert!(
        e.contains("it can change: name, connection_string, login, description, owner"),
        "{e}"
    );
    let login = all.iter().find(|r| r.kind == Kind::Logins).expect("login");
    let e = change::plan(
        &SPEC,
        "it-mstr",
        &all,
        vec![(login.as_ref(), text("password", "on-the-command-line"))],
    )
    .expect_err("secret as text");
    assert!(e.contains("--secret-env password=VAR"), "{e}");
    // An audit log that cannot be written: nothing is sent.
    let plan = change::plan(
        &SPEC,
        "it-mstr",
        &all,
        vec![(conns[0].as_ref(), text("name", "Not Sent"))],
    )
    .expect("plan");
    let outcomes = run(&client, &Arc::new(AuditLog::failing()), &plan).await;
    assert!(
        matches!(&outcomes[0], ChangeOutcome::Failed(why) if why.contains("not sent")),
        "{outcomes:?}"
    );
    // Cancelled before the first: nothing starts.
    let cancel = CancellationToken::new();
    cancel.cancel();
    let outcomes = change::execute(
        client.clone(),
        &SPEC,
        Arc::new(AuditLog::disabled()),
        &plan,
        cancel,
        |_, _| {},
    )
    .await;
    assert_eq!(outcomes, vec![ChangeOutcome::NotStarted]);
}

#[tokio::test]
async fn an_owner_named_by_name_is_resolved_from_the_objects_that_person_owns() {
    let (sim, client, all) = world().await;
    let login = all
        .iter()
        .find(|r| r.kind == Kind::Logins)
        .expect("login")
        .clone();
    let plan = change::plan(
        &SPEC,
        "it-mstr",
        &all,
        vec![(login.as_ref(), text("owner", "priya raman"))],
    )
    .expect("plan");
    let id = plan.items[0]
        .change
        .text("owner")
        .expect("owner")
        .to_string();
    assert_eq!(id.len(), 32, "an id: {id}");
    assert!(
        change::plan_text(&plan).contains("owner 'priya raman' is user"),
        "{}",
        change::plan_text(&plan)
    );
    let outcomes = run(&client, &Arc::new(AuditLog::disabled()), &plan).await;
    assert_eq!(outcomes[0], ChangeOutcome::Changed(Verification::NotNeeded));
    let stored = sim.control.object("logins", &login.id).expect("login");
    assert_eq!(stored["owner"]["name"], "Priya Raman");
}

/// A rotation of many logins through a server that drops answers after acting, fails with
/// 503 before acting and rate-limits: every reported outcome is the server's state, and the
/// audit log has a before and an after line for every request it saw.
#[tokio::test]
async fn a_bulk_rotation_under_faults_reports_exactly_what_the_server_holds() {
    let (sim, client, all) = world_at(40).await;
    let logins: Vec<&Resource> = all
        .iter()
        .filter(|r| r.kind == Kind::Logins)
        .take(30)
        .collect();
    assert_eq!(logins.len(), 30);
    let faults = &sim.control.faults;
    faults.add(
        FaultRule::new(Fault::Reset)
            .method("PATCH")
            .after()
            .every(4),
    );
    faults.add(
        FaultRule::new(Fault::Status {
            status: 503,
            body: "{\"code\":\"ERR001\",\"message\":\"busy\"}".into(),
            retry_after: None,
        })
        .method("PATCH")
        .every(7),
    );
    // Two logins whose every answer is lost: one before the server acted, one after.
    faults.add(
        FaultRule::new(Fault::Reset)
            .method("PATCH")
            .path(&logins[3].id)
            .times(50),
    );
    faults.add(
        FaultRule::new(Fault::Reset)
            .method("PATCH")
            .path(&logins[5].id)
            .after()
            .times(50),
    );
    let changes = logins
        .iter()
        .map(|l| (l.as_ref(), secret("password", NEW_PASSWORD)))
        .collect();
    let plan = change::plan(&SPEC, "it-mstr", &all, changes).expect("plan");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("audit.jsonl");
    let audit = Arc::new(AuditLog::open(&path).expect("audit"));
    let outcomes = run(&client, &audit, &plan).await;
    let mut changed = 0;
    for (l, o) in logins.iter().zip(&outcomes) {
        let stored = sim.control.login_password(&l.id);
        match o {
            ChangeOutcome::Changed(_) => {
                changed += 1;
                assert_eq!(stored.as_deref(), Some(NEW_PASSWORD), "{}: {o:?}", l.id)
            }
            ChangeOutcome::Failed(_) => {
                assert_ne!(stored.as_deref(), Some(NEW_PASSWORD), "{}: {o:?}", l.id)
            }
            // A secret alone, answer lost, nothing to test it: said, not guessed.
            ChangeOutcome::Unknown(why) => assert!(why.contains("cannot be read back"), "{why}"),
            ChangeOutcome::NotStarted => panic!("{}: not started", l.id),
        }
    }
    // Sent again, the passing faults cost nothing; the two lost every time are unknown.
    assert_eq!(changed, 28, "{outcomes:?}");
    assert!(
        matches!(outcomes[3], ChangeOutcome::Unknown(_)),
        "{:?}",
        outcomes[3]
    );
    assert!(
        matches!(outcomes[5], ChangeOutcome::Unknown(_)),
        "{:?}",
        outcomes[5]
    );
    assert!(faults.fired() > 0);
    // Every PATCH the server saw has its audit lines, and the secret is in none.
    let lines = audit_lines(&path);
    let befores = lines.iter().filter(|l| l["phase"] == "before").count();
    let afters = lines.iter().filter(|l| l["phase"] == "after").count();
    let patches = sim
        .control
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .count();
    assert!(
        befores >= patches,
        "{befores} before lines for {patches} PATCHes"
    );
    assert_eq!(befores, afters, "every request settled");
    let raw = std::fs::read_to_string(&path).expect("audit");
    assert!(!raw.contains(NEW_PASSWORD));
}

/// A transfer of several objects whose answers are lost, before and after the server acted,
/// every time: reading each object again tells which ones have their new owner.
#[tokio::test]
async fn a_bulk_transfer_under_faults_reports_exactly_what_the_server_holds() {
    let (sim, client, all) = world().await;
    let datasources: Vec<&Resource> = all
        .iter()
        .filter(|r| r.kind == Kind::Datasources)
        .filter(|r| r.raw.pointer_str("/owner/name").as_deref() != Some("Priya Raman"))
        .take(6)
        .collect();
    assert_eq!(datasources.len(), 6);
    let faults = &sim.control.faults;
    faults.add(
        FaultRule::new(Fault::Reset)
            .method("PUT")
            .path(&datasources[1].id)
            .after()
            .times(50),
    );
    faults.add(
        FaultRule::new(Fault::Reset)
            .method("PUT")
            .path(&datasources[2].id)
            .times(50),
    );
    faults.add(FaultRule::new(Fault::Reset).method("PUT").after().every(3));
    let changes = datasources
        .iter()
        .map(|d| (d.as_ref(), text("owner", "Priya Raman")))
        .collect();
    let plan = change::plan(&SPEC, "it-mstr", &all, changes).expect("plan");
    let outcomes = run(&client, &Arc::new(AuditLog::disabled()), &plan).await;
    for (d, o) in datasources.iter().zip(&outcomes) {
        let stored = sim.control.object("datasources", &d.id).expect("ds");
        let moved = stored["owner"]["name"] == "Priya Raman";
        match o {
            ChangeOutcome::Changed(_) => assert!(moved, "{}: {o:?}", d.id),
            ChangeOutcome::Failed(_) => assert!(!moved, "{}: {o:?}", d.id),
            other => panic!("{}: a text field always settles: {other:?}", d.id),
        }
    }
    assert!(
        matches!(outcomes[1], ChangeOutcome::Changed(_)),
        "{:?}",
        outcomes[1]
    );
    assert!(
        matches!(outcomes[2], ChangeOutcome::Failed(_)),
        "{:?}",
        outcomes[2]
    );
    assert_eq!(
        outcomes.iter().filter(|o| o.is_success()).count(),
        5,
        "{outcomes:?}"
    );
}
