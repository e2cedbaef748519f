//! Integration tests of the Qlik Cloud client against the in-process simulator: loading with
//! paging to the end, space and owner names, admin and non-admin keys, get by id and by name
//! within a space, single and bulk deletes (207, fallback on 403, chunks), create, error
//! decoding, retries of reads after 429 `retry-after`, and the write rate limit.
// These run the built-in simulators, which need the `sim` feature (on by default).
#![cfg(feature = "sim")]
mod common {
    pub mod settings;
}

use dsconsole::model::{Kind, Ref, Resource, VendorId};
use dsconsole::sim::qlik::{self as qsim, Fault, QlikSim, SimRequest};
use dsconsole::sim::SimOptions;
use dsconsole::vendors::qlik::{QlikClient, PERSONAL_SPACE};
use dsconsole::vendors::{ApiError, ClientSettings, DeleteOutcome, VendorApi};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::time::Duration;

const FINANCE: &str = "65cf6b6c51618b6abd5848d1";
const DATA_ENGINEERING: &str = "65cf6c2a51618b6abd584912";
const DEPARTED_USER: &str = "63f0aa1e9d2c4b7a8e6f5d31";

async fn sim_with(scale: usize) -> QlikSim {
    qsim::start(&SimOptions {
        scale,
        ..SimOptions::default()
    })
    .await
    .expect("simulator starts")
}

async fn sim() -> QlikSim {
    sim_with(0).await
}

fn settings(base_url: &str, token: &str) -> ClientSettings {
    common::settings::client("it-qlik", VendorId::Qlik, base_url, token)
}

fn admin(sim: &QlikSim) -> QlikClient {
    QlikClient::new(settings(&sim.base_url, qsim::DEMO_TOKEN)).expect("client")
}

fn analyst(sim: &QlikSim) -> QlikClient {
    QlikClient::new(settings(&sim.base_url, qsim::NON_ADMIN_TOKEN)).expect("client")
}

fn requests(sim: &QlikSim, f: impl Fn(&SimRequest) -> bool) -> Vec<SimRequest> {
    sim.control.requests().into_iter().filter(f).collect()
}

fn is_list(r: &SimRequest) -> bool {
    r.method == "GET" && r.path == "/api/v1/data-connections"
}

/// The load's list of every connection (with `includeDisabled=true`), not its plain probe.
fn is_main_list(r: &SimRequest) -> bool {
    is_list(r) && r.query.contains("includeDisabled=true")
}

fn by_name<'a>(rs: &'a [Resource], name: &str) -> Vec<&'a Resource> {
    rs.iter().filter(|r| r.name == name).collect()
}

fn one<'a>(rs: &'a [Resource], name: &str) -> &'a Resource {
    let found = by_name(rs, name);
    assert_eq!(found.len(), 1, "exactly one '{name}'");
    found[0]
}

fn target(r: &Resource) -> Ref {
    r.as_ref()
}

fn str_at<'a>(v: &'a Value, p: &str) -> Option<&'a str> {
    v.pointer(p).and_then(Value::as_str)
}

#[tokio::test]
async fn admin_load_matches_the_simulator_with_space_and_owner_names() {
    let sim = sim().await;
    let c = admin(&sim);
    let snap = c.load().await.expect("load");

    let ours: HashSet<String> = snap.resources.iter().map(|r| r.id.to_string()).collect();
    let theirs: HashSet<String> = sim
        .control
        .visible_ids(qsim::DEMO_TOKEN)
        .into_iter()
        .collect();
    assert!(theirs.len() >= 25, "seed is big enough: {}", theirs.len());
    assert_eq!(ours, theirs);
    assert_eq!(snap.resources.len(), theirs.len(), "no duplicates");

    let spaces: HashMap<String, String> = c
        .spaces()
        .await
        .expect("spaces")
        .into_iter()
        .map(|s| (s.id, s.name))
        .collect();
    assert!(spaces.len() >= 3);
    for r in &snap.resources {
        assert_eq!(r.kind, Kind::Connections);
        let raw = sim.control.object(&r.id).expect("stored");
        assert_eq!(r.raw, raw, "raw is the server's element");
        assert_eq!(Some(r.name.as_str()), str_at(&raw, "/qName"));
        match str_at(&raw, "/space") {
            Some(s) => assert_eq!(
                r.container.as_deref(),
                spaces.get(s).map(String::as_str),
                "{}",
                r.name
            ),
            None => assert_eq!(r.container.as_deref(), Some(PERSONAL_SPACE)),
        }
        if str_at(&raw, "/qType") == Some("qix-datafiles.exe") {
            assert_eq!(r.deletable, Some(false), "DataFiles are built in");
            assert_eq!(r.type_.as_deref(), Some("DataFiles"));
            assert_eq!(r.name, "DataFiles");
        } else {
            assert_eq!(r.deletable, Some(true), "the admin may delete {}", r.name);
            assert_eq!(r.type_.as_deref(), str_at(&raw, "/datasourceID"));
            assert!(r.created.is_some() && r.updated.is_some(), "{}", r.name);
        }
        assert!(!r.is_orphan(), "Qlik has no dependency graph");
    }

    // Owners by name; a user that no longer exists stays an id and is reported.
    assert_eq!(
        one(&snap.resources, "Salesforce_Prod").owner.as_deref(),
        Some("Ava Lindqvist")
    );
    assert_eq!(
        one(&snap.resources, "Databricks_Lakehouse")
            .owner
            .as_deref(),
        Some("Priya Raman")
    );
    assert_eq!(
        one(&snap.resources, "Redshift_Legacy").owner.as_deref(),
        Some(DEPARTED_USER)
    );
    assert_eq!(snap.warnings.len(), 1, "{:?}", snap.warnings);
    assert!(
        snap.warnings[0].contains("1 owner name could not be resolved")
            && snap.warnings[0].contains("HTTP 404"),
        "{:?}",
        snap.warnings
    );
    // Connections of the same name in two spaces are both there.
    let twins: HashSet<&str> = by_name(&snap.resources, "Snowflake_Warehouse")
        .iter()
        .filter_map(|r| r.container.as_deref())
        .collect();
    assert_eq!(
        twins,
        HashSet::from(["Finance Analytics", "Data Engineering"])
    );
    // Someone else's personal connection is invisible, the admin's own is there.
    assert!(by_name(&snap.resources, "OneDrive_Personal_Excel").is_empty());
    assert_eq!(
        one(&snap.resources, "Snowflake_Admin_Scratch")
            .container
            .as_deref(),
        Some(PERSONAL_SPACE)
    );

    // The list was asked for in pages of 100 with disabled connections (and once without,
    // to tell them apart), and the caller's name came from users/me.
    let lists = requests(&sim, is_main_list);
    assert_eq!(lists.len(), 1, "{lists:?}");
    assert_eq!(lists[0].query, "limit=100&includeDisabled=true");
    assert_eq!(lists[0].status, 200);
    assert_eq!(requests(&sim, is_list).len(), 2);
    assert_eq!(requests(&sim, |r| r.path == "/api/v1/users/me").len(), 1);

    // The missing user is not asked for again on a reload, and still reported.
    let lookups =
        |sim: &QlikSim| requests(sim, |r| r.path == format!("/api/v1/users/{DEPARTED_USER}")).len();
    assert_eq!(lookups(&sim), 1);
    let again = c.load().await.expect("reload");
    assert_eq!(again.warnings, snap.warnings);
    assert_eq!(lookups(&sim), 1);
    assert_eq!(
        requests(&sim, |r| r.path.starts_with("/api/v1/users/6")).len(),
        5,
        "other owners were cached by the first load"
    );
}

#[tokio::test]
async fn paging_follows_next_links_to_the_end() {
    let sim = sim_with(420).await;
    let c = admin(&sim);
    let snap = c.load().await.expect("load");
    let theirs: HashSet<String> = sim
        .control
        .visible_ids(qsim::DEMO_TOKEN)
        .into_iter()
        .collect();
    assert!(theirs.len() > 300, "{}", theirs.len());
    let ours: Vec<&str> = snap.resources.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ours.len(), theirs.len(), "each connection exactly once");
    assert_eq!(
        ours.iter().map(|s| s.to_string()).collect::<HashSet<_>>(),
        theirs
    );
    // DataFiles come last.
    let first_datafiles = snap
        .resources
        .iter()
        .position(|r| r.type_.as_deref() == Some("DataFiles"))
        .expect("datafiles");
    assert!(snap.resources[first_datafiles..]
        .iter()
        .all(|r| r.type_.as_deref() == Some("DataFiles")));

    let lists = requests(&sim, is_main_list);
    assert_eq!(lists.len(), theirs.len().div_ceil(100), "{lists:?}");
    assert_eq!(lists[0].query, "limit=100&includeDisabled=true");
    for r in &lists[1..] {
        assert!(
            r.query.contains("limit=100") && r.query.contains("page="),
            "{r:?}"
        );
        assert_eq!(r.status, 200);
    }
    let pages: HashSet<&str> = lists.iter().map(|r| r.query.as_str()).collect();
    assert_eq!(pages.len(), lists.len(), "no page asked twice");
}

#[tokio::test]
async fn analyst_sees_his_spaces_and_personal_connections_with_his_privileges() {
    let sim = sim().await;
    let c = analyst(&sim);
    let snap = c.load().await.expect("load");
    let ours: HashSet<String> = snap.resources.iter().map(|r| r.id.to_string()).collect();
    let theirs: HashSet<String> = sim
        .control
        .visible_ids(qsim::NON_ADMIN_TOKEN)
        .into_iter()
        .collect();
    assert_eq!(ours, theirs);
    let admin_count = sim.control.visible_ids(qsim::DEMO_TOKEN).len();
    assert!(ours.len() < admin_count);

    let containers: HashSet<&str> = snap
        .resources
        .iter()
        .filter_map(|r| r.container.as_deref())
        .collect();
    assert!(!containers.contains("Data Engineering"), "{containers:?}");
    assert!(containers.contains("Finance Analytics"));
    // Producer in Finance: may delete others' connections there; consumer in Sales Ops:
    // may not; owner of his personal ones: may.
    assert_eq!(
        one(&snap.resources, "SAP_HANA_Finance").deletable,
        Some(true)
    );
    assert_eq!(
        one(&snap.resources, "Salesforce_Prod").deletable,
        Some(false)
    );
    assert_eq!(
        one(&snap.resources, "REST_HubSpot_Deals").deletable,
        Some(true),
        "his own connection in a space where he only consumes"
    );
    assert_eq!(
        one(&snap.resources, "pg_local_test").container.as_deref(),
        Some(PERSONAL_SPACE)
    );
    assert!(by_name(&snap.resources, "Snowflake_Admin_Scratch").is_empty());
    assert_eq!(
        one(&snap.resources, "pg_local_test").owner.as_deref(),
        Some("Noah Brennan")
    );
}

#[tokio::test]
async fn get_by_id_and_by_name_within_a_space() {
    let sim = sim().await;
    let c = admin(&sim);
    let snap = c.load().await.expect("load");

    let fin = by_name(&snap.resources, "Snowflake_Warehouse")
        .into_iter()
        .find(|r| r.container.as_deref() == Some("Finance Analytics"))
        .expect("finance twin")
        .clone();
    let got = c.get(target(&fin)).await.expect("get by id");
    assert_eq!(got.id, fin.id);
    assert_eq!(got.container, fin.container);
    assert_eq!(got.owner, fin.owner);
    assert_eq!(got.deletable, Some(true));

    let a = c
        .get_by_name(Some(FINANCE), "Snowflake_Warehouse")
        .await
        .expect("by name in finance");
    let b = c
        .get_by_name(Some(DATA_ENGINEERING), "Snowflake_Warehouse")
        .await
        .expect("by name in data engineering");
    assert_eq!(a.id, fin.id);
    assert_ne!(a.id, b.id);
    assert_eq!(b.container.as_deref(), Some("Data Engineering"));
    assert_eq!(b.owner.as_deref(), Some("Data Platform Service"));

    // Without a space: the caller's personal scope.
    let mine = c
        .get_by_name(None, "Snowflake_Admin_Scratch")
        .await
        .expect("personal");
    assert_eq!(mine.container.as_deref(), Some(PERSONAL_SPACE));
    let err = c
        .get_by_name(None, "Snowflake_Warehouse")
        .await
        .expect_err("not personal");
    assert_eq!(err.status(), Some(404));

    let err = c
        .get_by_name(Some(FINANCE), "No Such Connection")
        .await
        .expect_err("missing");
    assert_eq!(err.status(), Some(404));
    assert_eq!(
        err.to_string(),
        "Qlik Cloud: HTTP 404 DCERROR-0004: Not found: Data connection with name 'No Such Connection' not found in the scope"
    );
    let lookups = requests(&sim, |r| r.path.starts_with("/api/v1/data-connections/No"));
    assert_eq!(
        lookups[0].path,
        "/api/v1/data-connections/No%20Such%20Connection"
    );
    assert_eq!(
        lookups[0].query,
        format!("type=connectionname&spaceId={FINANCE}")
    );
}

#[tokio::test]
async fn create_then_find_by_an_awkward_name_and_names_are_unique_per_space() {
    let sim = sim().await;
    let c = admin(&sim);
    let name = "Sales / EMEA (v2) & Co";
    let body = json!({
        "qName": name,
        "qType": "QvOdbcConnectorPackage.exe",
        "qConnectStatement": "CUSTOM CONNECT TO \"provider=QvOdbcConnectorPackage.exe;driver=postgres;host=pg;\"",
        "datasourceID": "postgres",
        "space": FINANCE,
        "qLogOn": "LOG_ON_SERVICE_USER",
    });
    let created = c
        .create(Kind::Connections, body.clone())
        .await
        .expect("create");
    assert!(sim.control.contains(&created.id));
    assert_eq!(created.container.as_deref(), Some("Finance Analytics"));
    assert_eq!(created.owner.as_deref(), Some("Ava Lindqvist"));
    assert_eq!(created.raw.value()["qLogOn"], json!(0));

    let found = c
        .get_by_name(Some(FINANCE), name)
        .await
        .expect("by awkward name");
    assert_eq!(found.id, created.id);

    let err = c
        .create(Kind::Connections, body.clone())
        .await
        .expect_err("duplicate");
    assert_eq!(err.status(), Some(409));
    assert!(
        err.to_string().contains("already exists in the scope"),
        "{err}"
    );
    // The same name in another space is fine.
    let mut elsewhere = body;
    elsewhere["space"] = json!(DATA_ENGINEERING);
    c.create(Kind::Connections, elsewhere)
        .await
        .expect("same name, other space");
}

#[tokio::test]
async fn delete_one_then_again_is_already_gone() {
    let sim = sim().await;
    let c = admin(&sim);
    let snap = c.load().await.expect("load");
    let victim = one(&snap.resources, "MySQL_Events").clone();
    sim.control.clear_requests();

    assert_eq!(
        c.delete(target(&victim)).await.expect("delete"),
        DeleteOutcome::Deleted
    );
    assert!(!sim.control.contains(&victim.id));
    assert_eq!(
        c.delete(target(&victim)).await.expect("delete again"),
        DeleteOutcome::AlreadyGone
    );
    let deletes: Vec<(String, u16)> = requests(&sim, |r| r.method == "DELETE")
        .into_iter()
        .map(|r| (r.path, r.status))
        .collect();
    let path = format!("/api/v1/data-connections/{}", victim.id);
    assert_eq!(deletes, vec![(path.clone(), 204), (path, 404)]);

    // A DataFiles connection is refused, and stays.
    let df = snap
        .resources
        .iter()
        .find(|r| r.type_.as_deref() == Some("DataFiles"))
        .expect("datafiles");
    let err = c.delete(target(df)).await.expect_err("built in");
    assert_eq!(err.status(), Some(403));
    assert!(sim.control.contains(&df.id));
}

#[tokio::test]
async fn bulk_delete_reports_every_item_of_the_207() {
    let sim = sim().await;
    let c = admin(&sim);
    let snap = c.load().await.expect("load");
    let a = one(&snap.resources, "Redshift_Legacy").clone();
    let b = one(&snap.resources, "Oracle_GL_2019").clone();
    let gone = one(&snap.resources, "MySQL_Events").clone();
    c.delete(target(&gone)).await.expect("pre-delete");
    let df = snap
        .resources
        .iter()
        .find(|r| r.type_.as_deref() == Some("DataFiles"))
        .expect("datafiles")
        .clone();
    sim.control.clear_requests();

    assert!(c.bulk_limit() >= 2);
    let results = c
        .delete_batch(vec![target(&a), target(&df), target(&gone), target(&b)])
        .await;
    assert_eq!(results.len(), 4);
    assert_eq!(results[0], Ok(DeleteOutcome::Deleted));
    let err = results[1].clone().expect_err("datafiles refused");
    assert_eq!(err.status(), Some(403));
    assert!(err.to_string().contains("built in"), "{err}");
    assert_eq!(results[2], Ok(DeleteOutcome::AlreadyGone));
    assert_eq!(results[3], Ok(DeleteOutcome::Deleted));
    assert!(!sim.control.contains(&a.id) && !sim.control.contains(&b.id));
    assert!(sim.control.contains(&df.id));

    let sent: Vec<(String, String, u16)> = sim
        .control
        .requests()
        .into_iter()
        .map(|r| (r.method, r.path, r.status))
        .collect();
    assert_eq!(
        sent,
        vec![(
            "POST".to_string(),
            "/api/v1/data-connections/actions/delete".to_string(),
            207
        )]
    );
}

#[tokio::test]
async fn bulk_delete_is_sent_in_chunks() {
    let sim = sim_with(300).await;
    let c = admin(&sim);
    let snap = c.load().await.expect("load");
    let targets: Vec<Ref> = snap
        .resources
        .iter()
        .filter(|r| r.name.starts_with("Generated Connection"))
        .take(c.bulk_limit() + 50)
        .map(target)
        .collect();
    assert_eq!(targets.len(), c.bulk_limit() + 50);
    sim.control.clear_requests();
    let results = c.delete_batch(targets.clone()).await;
    assert!(results.iter().all(|r| *r == Ok(DeleteOutcome::Deleted)));
    assert!(targets.iter().all(|t| !sim.control.contains(&t.id)));
    let posts = requests(&sim, |r| r.method == "POST");
    assert_eq!(posts.len(), 2, "{posts:?}");
    assert!(posts.iter().all(|r| r.status == 207));
}

#[tokio::test]
async fn non_admin_bulk_delete_falls_back_to_single_deletes() {
    let sim = sim().await;
    let c = analyst(&sim);
    let snap = c.load().await.expect("load");
    let mine = one(&snap.resources, "pg_local_test").clone();
    let producer = one(&snap.resources, "SAP_HANA_Finance").clone();
    let consumer_only = one(&snap.resources, "Salesforce_Prod").clone();
    sim.control.clear_requests();

    let results = c
        .delete_batch(vec![target(&mine), target(&consumer_only)])
        .await;
    assert_eq!(results[0], Ok(DeleteOutcome::Deleted));
    let err = results[1].clone().expect_err("consumer may not delete");
    assert_eq!(err.status(), Some(403));
    assert!(!sim.control.contains(&mine.id));
    assert!(sim.control.contains(&consumer_only.id));
    let posts = requests(&sim, |r| r.method == "POST");
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].status, 403);
    assert_eq!(requests(&sim, |r| r.method == "DELETE").len(), 2);

    // The refusal is remembered: the next batch goes straight to single deletes.
    sim.control.clear_requests();
    let results = c.delete_batch(vec![target(&producer)]).await;
    assert_eq!(results, vec![Ok(DeleteOutcome::Deleted)]);
    assert!(requests(&sim, |r| r.method == "POST").is_empty());
}

#[tokio::test]
async fn errors_are_decoded_into_one_sentence() {
    let sim = sim().await;
    // Wrong key: the gateway's 401 with a string status and a trace id.
    let bad = QlikClient::new(settings(&sim.base_url, "not-a-key")).expect("client");
    let err = bad.load().await.expect_err("401");
    assert_eq!(err.status(), Some(401));
    let s = err.to_string();
    assert!(
        s.starts_with("Qlik Cloud: HTTP 401 HTTP-401: Not authorized (ticket "),
        "{s}"
    );

    let c = admin(&sim);
    let err = c
        .get(Ref {
            kind: Kind::Connections,
            id: "not-a-uuid".into(),
            name: "x".into(),
        })
        .await
        .expect_err("400");
    assert_eq!(
        err.to_string(),
        "Qlik Cloud: HTTP 400 DCERROR-0010: Bad or invalid request: Invalid data connection id 'not-a-uuid': a UUID is expected"
    );

    // A proxy's HTML page instead of JSON.
    sim.control
        .inject(Fault::Html(404), Some("GET"), "/api/v1/data-connections", 1);
    let err = c.load().await.expect_err("html");
    assert_eq!(
        err.to_string(),
        "Qlik Cloud: HTTP 404: non-JSON response (text/html): 404 Not Found"
    );
    // A 200 cut off in the middle.
    sim.control
        .inject(Fault::Truncated, Some("GET"), "/api/v1/data-connections", 1);
    let err = c.load().await.expect_err("truncated");
    assert!(
        matches!(err, ApiError::Decode { status: 200, .. }),
        "{err:?}"
    );

    // A 404 without Qlik's error body is not proof that a connection is gone.
    let snap = c.load().await.expect("load");
    let victim = one(&snap.resources, "MySQL_Events").clone();
    sim.control
        .inject(Fault::Empty(404), Some("DELETE"), "/api/", 1);
    let err = c.delete(target(&victim)).await.expect_err("bare 404");
    assert_eq!(err.status(), Some(404));
    assert!(sim.control.contains(&victim.id));
}

#[tokio::test]
async fn reads_wait_for_retry_after_then_succeed() {
    let sim = sim().await;
    let c = admin(&sim);
    sim.control.inject(
        Fault::RateLimited {
            retry_after_secs: 1,
        },
        Some("GET"),
        "/api/v1/data-connections",
        1,
    );
    sim.control
        .inject(Fault::Status(503), Some("GET"), "/api/v1/spaces", 2);
    let snap = c.load().await.expect("load after a 429 and two 503s");
    assert!(
        snap.warnings.iter().all(|w| !w.contains("space")),
        "{:?}",
        snap.warnings
    );
    // The list was retried; the plain page that tells disabled connections apart followed.
    let lists: Vec<u16> = requests(&sim, is_list).iter().map(|r| r.status).collect();
    assert_eq!(lists, vec![429, 200, 200]);
    let spaces: Vec<u16> = requests(&sim, |r| r.path == "/api/v1/spaces")
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(spaces, vec![503, 503, 200]);
    assert_eq!(
        snap.resources.len(),
        sim.control.visible_ids(qsim::DEMO_TOKEN).len()
    );
}

#[tokio::test]
async fn a_long_retry_after_is_reported_not_waited_for() {
    let sim = sim().await;
    let c = admin(&sim);
    sim.control.inject(
        Fault::RateLimited {
            retry_after_secs: 3600,
        },
        Some("GET"),
        "/api/v1/data-connections",
        1,
    );
    let err = c.load().await.expect_err("429");
    assert_eq!(err.status(), Some(429));
    assert_eq!(err.retry_after(), Some(Duration::from_secs(3600)));
    assert!(
        err.to_string()
            .ends_with("HTTP-429: API rate limit reached. You need to wait 3600 seconds until limit is lifted."),
        "{err}"
    );
    assert_eq!(requests(&sim, is_list).len(), 1);
}

#[tokio::test]
async fn write_rate_limit_answers_429_with_retry_after_and_spares_reads() {
    let sim = sim().await;
    sim.control.set_rate_window(Duration::from_secs(60));
    sim.control.set_write_limit(1);
    let c = admin(&sim);
    let snap = c.load().await.expect("load");
    let a = one(&snap.resources, "MySQL_Events").clone();
    let b = one(&snap.resources, "Athena_Access_Logs").clone();

    assert_eq!(
        c.delete(target(&a)).await.expect("first write"),
        DeleteOutcome::Deleted
    );
    let err = c.delete(target(&b)).await.expect_err("second write");
    assert_eq!(err.status(), Some(429));
    assert_eq!(err.code(), Some("HTTP-429"));
    let wait = err.retry_after().expect("retry-after");
    assert!(
        wait >= Duration::from_secs(1) && wait <= Duration::from_secs(60),
        "{wait:?}"
    );
    assert!(err.is_transient());
    assert!(sim.control.contains(&b.id));
    // Reads are another tier.
    let got = c.get(target(&b)).await.expect("reads still work");
    assert_eq!(got.id, b.id);
}

#[tokio::test]
async fn name_failures_are_warnings_and_broken_connections_are_reported() {
    let sim = sim().await;
    let c = admin(&sim);
    // Four failures outlast the read retries.
    sim.control
        .inject(Fault::Status(500), Some("GET"), "/api/v1/spaces", 4);
    let broken = sim
        .control
        .ids()
        .into_iter()
        .find(|id| {
            sim.control
                .object(id)
                .is_some_and(|v| v["qName"] == json!("BigQuery_Pipeline"))
        })
        .expect("seeded");
    sim.control.set_broken(&broken, true);

    let snap = c.load().await.expect("load despite the spaces failure");
    assert!(
        snap.warnings
            .iter()
            .any(|w| w.contains("space names unavailable") && w.contains("HTTP 500")),
        "{:?}",
        snap.warnings
    );
    assert!(
        snap.warnings
            .iter()
            .any(|w| w.contains("could not be listed") && w.contains("decrypt")),
        "{:?}",
        snap.warnings
    );
    assert!(snap.resources.iter().all(|r| r.id != broken));
    // Spaces are shown by id.
    let r = one(&snap.resources, "SAP_HANA_Finance");
    assert_eq!(r.container.as_deref(), Some(FINANCE));

    let err = c
        .get(Ref {
            kind: Kind::Connections,
            id: broken.clone().into(),
            name: "BigQuery_Pipeline".into(),
        })
        .await
        .expect_err("500");
    assert_eq!(err.status(), Some(500));
    assert!(err.to_string().contains("decrypt"), "{err}");
}

#[tokio::test]
async fn read_only_profile_sends_nothing_mutating() {
    let sim = sim().await;
    let mut s = settings(&sim.base_url, qsim::DEMO_TOKEN);
    s.read_only = true;
    let c = QlikClient::new(s).expect("client");
    let snap = c.load().await.expect("reads are fine");
    let victim = one(&snap.resources, "MySQL_Events").clone();
    sim.control.clear_requests();
    let err = c.delete(target(&victim)).await.expect_err("read-only");
    assert!(matches!(err, ApiError::ReadOnly { .. }), "{err:?}");
    let results = c.delete_batch(vec![target(&victim)]).await;
    assert!(matches!(results[0], Err(ApiError::ReadOnly { .. })));
    assert!(sim.control.requests().is_empty());
    assert!(sim.control.contains(&victim.id));
}

/// Wire facts of the simulator that the client does not exercise.
#[tokio::test]
async fn simulator_speaks_the_documented_wire_format() {
    let sim = sim().await;
    let http = reqwest::Client::new();
    let base = &sim.base_url;

    // Unauthenticated product info.
    let r = http
        .get(format!("{base}/resources/autogenerated/product-info.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({}));

    // 401 in the gateway form.
    let r = http
        .get(format!("{base}/api/v1/data-connections"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["errors"][0]["status"], json!("401"));
    assert_eq!(v["errors"][0]["code"], json!("HTTP-401"));
    assert!(v["traceId"].is_string());

    let get = |url: String| http.get(url).bearer_auth(qsim::DEMO_TOKEN).send();
    // limit outside 1..100.
    let r = get(format!("{base}/api/v1/data-connections?limit=101"))
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["errors"][0]["status"], json!(400));
    assert_eq!(v["errors"][0]["code"], json!("DCERROR-0010"));

    // Paged: absolute next link on the simulator's own origin; prev on later pages; no
    // secrets in lists.
    let v: Value = get(format!(
        "{base}/api/v1/data-connections?limit=5&sort=%2BqName"
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(v["data"].as_array().unwrap().len(), 5);
    let next = v["links"]["next"]["href"].as_str().unwrap().to_string();
    assert!(
        next.starts_with(&format!("{base}/api/v1/data-connections?")),
        "{next}"
    );
    assert!(v["links"].get("prev").is_none());
    let total = v["meta"]["count"].as_u64().unwrap() as usize;
    let mut names: Vec<String> = Vec::new();
    let mut page = v;
    loop {
        for item in page["data"].as_array().unwrap() {
            assert!(item.get("qConnectionSecret").is_none());
            assert_eq!(item["id"], item["qID"]);
            assert!(item["privileges"].is_array());
            names.push(item["qName"].as_str().unwrap().to_string());
        }
        match page["links"]["next"]["href"].as_str() {
            Some(n) => {
                let n = n.to_string();
                page = get(n).await.unwrap().json().await.unwrap();
                assert!(page["links"]["prev"]["href"].is_string());
            }
            None => break,
        }
    }
    assert_eq!(names.len(), total);
    let non_df: Vec<&String> = names.iter().filter(|n| *n != "DataFiles").collect();
    let mut sorted = non_df.clone();
    sorted.sort();
    assert_eq!(non_df, sorted, "sorted by name, DataFiles last");
    assert!(names[names.len() - 1] == "DataFiles");

    // Bulk delete: 207 with per-item statuses; non-admins get 403.
    let ids = sim.control.visible_ids(qsim::DEMO_TOKEN);
    let body = json!({"connections": [{"id": ids[0]}, {"id": "11111111-2222-4333-8444-555555555555"}, {"id": "nope"}]});
    let r = http
        .post(format!("{base}/api/v1/data-connections/actions/delete"))
        .bearer_auth(qsim::NON_ADMIN_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = http
        .post(format!("{base}/api/v1/data-connections/actions/delete"))
        .bearer_auth(qsim::DEMO_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 207);
    let v: Value = r.json().await.unwrap();
    let statuses: Vec<u64> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, vec![204, 404, 400]);
    assert_eq!(v["data"][1]["error"]["status"], json!(404));

    // The write limit blocks the whole tier with retry-after.
    sim.control.set_rate_window(Duration::from_secs(60));
    sim.control.set_write_limit(1);
    let patch = |id: &str| {
        http.patch(format!("{base}/api/v1/data-connections/{id}"))
            .bearer_auth(qsim::DEMO_TOKEN)
            .json(&json!([{"op": "replace", "path": "/tags", "value": ["x"]}]))
            .send()
    };
    assert_eq!(patch(&ids[1]).await.unwrap().status(), 204);
    let r = patch(&ids[2]).await.unwrap();
    assert_eq!(r.status(), 429);
    let ra: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&ra), "{ra}");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["errors"][0]["code"], json!("HTTP-429"));
}

// ---------------------------------------------------------------------------------------------
// Connections whose datasource is disabled
// ---------------------------------------------------------------------------------------------

const REDSHIFT_LEGACY: &str = "b88d0238-96fa-493f-8e96-4de6201ce9c0";

#[tokio::test]
async fn disabled_connections_are_listed_and_marked_not_unhealthy() {
    let sim = sim().await;
    // The simulator hides a disabled datasource's connection from a plain list, as Qlik does.
    assert_eq!(
        sim.control.disabled_ids(),
        vec![REDSHIFT_LEGACY.to_string()]
    );
    let c = admin(&sim);
    let snap = c.load().await.expect("load");
    let ours: HashSet<String> = snap.resources.iter().map(|r| r.id.to_string()).collect();
    let theirs: HashSet<String> = sim
        .control
        .visible_ids(qsim::DEMO_TOKEN)
        .into_iter()
        .collect();
    assert_eq!(ours, theirs, "every connection, the disabled one included");
    assert!(ours.contains(REDSHIFT_LEGACY));
    let marked: Vec<&str> = snap
        .resources
        .iter()
        .filter(|r| r.disabled)
        .map(|r| r.id.as_str())
        .collect();
    assert_eq!(marked, vec![REDSHIFT_LEGACY]);
    let legacy = one(&snap.resources, "Redshift_Legacy");
    assert!(!legacy.is_unhealthy(), "disabled is a state, not a failure");
    assert_eq!(legacy.deletable, Some(true));
    let json = serde_json::to_value(legacy).expect("serialises");
    assert_eq!(json["disabled"], json!(true));
    let other = serde_json::to_value(one(&snap.resources, "Athena_Access_Logs")).unwrap();
    assert!(other.get("disabled").is_none(), "{other}");
    // The table shows it, and the filter text "disabled" finds it (and nothing else).
    let cols = (dsconsole::vendors::qlik::SPEC.columns)(Kind::Connections);
    let status = cols
        .iter()
        .find(|c| c.title == "Status")
        .expect("a Status column");
    let ctx = dsconsole::model::CellCtx { now: 0 };
    assert!((status.cell)(legacy, &ctx).text.contains("disabled"));
    assert_eq!(
        (status.cell)(one(&snap.resources, "Athena_Access_Logs"), &ctx).text,
        ""
    );
    let mut f = dsconsole::filter::RowFilter::new("disabled");
    let found: Vec<&str> = snap
        .resources
        .iter()
        .filter(|r| f.matches_fields(&dsconsole::app::state::search_fields(r)))
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(found, vec!["Redshift_Legacy"]);
    // A GET of it alone keeps the mark.
    let got = VendorApi::get(&c, target(legacy)).await.expect("get");
    assert!(got.disabled);
    // The list asked for disabled connections, plus one plain page to tell them apart.
    let lists = requests(&sim, is_list);
    assert_eq!(lists.len(), 2, "{lists:?}");
    assert!(lists
        .iter()
        .any(|r| r.query == "limit=100&includeDisabled=true"));
    assert!(lists.iter().any(|r| r.query == "limit=100"));

    // Deleting it by id works, in bulk and alone.
    let r = c.delete_batch(vec![target(legacy)]).await;
    assert_eq!(r, vec![Ok(DeleteOutcome::Deleted)]);
    assert!(!sim.control.contains(REDSHIFT_LEGACY));
}

#[tokio::test]
async fn a_disabled_connection_can_be_deleted_alone() {
    let sim = sim().await;
    let c = analyst(&sim);
    // The analyst owns no disabled connection: disable one of his.
    let mine = c.load().await.expect("load");
    let pg = one(&mine.resources, "Postgres_Ledger_Replica").clone();
    assert!(!pg.disabled);
    sim.control.set_datasource_disabled("postgres", true);
    let snap = c.load().await.expect("reload");
    let disabled: HashSet<&str> = snap
        .resources
        .iter()
        .filter(|r| r.disabled)
        .map(|r| r.name.as_str())
        .collect();
    let postgres: HashSet<&str> = snap
        .resources
        .iter()
        .filter(|r| r.type_.as_deref() == Some("postgres"))
        .map(|r| r.name.as_str())
        .collect();
    assert!(disabled.contains("Postgres_Ledger_Replica"), "{disabled:?}");
    assert_eq!(disabled, postgres);
    // Non-admins delete one by one (the bulk endpoint is refused).
    let r = c.delete_batch(vec![target(&pg)]).await;
    assert_eq!(r, vec![Ok(DeleteOutcome::Deleted)]);
    assert!(!sim.control.contains(&pg.id));
}

#[tokio::test]
async fn telling_disabled_connections_apart_stays_cheap_at_scale() {
    // Nothing disabled: one plain page more than the list itself, whatever the size.
    let sim = sim_with(1_000).await;
    sim.control.set_datasource_disabled("redshift", false);
    let c = admin(&sim);
    let snap = c.load().await.expect("load");
    assert!(snap.resources.iter().all(|r| !r.disabled));
    let lists = requests(&sim, is_list);
    let plain = lists
        .iter()
        .filter(|r| !r.query.contains("includeDisabled"))
        .count();
    assert_eq!(plain, 1, "only the probe page: {}", lists.len());
    assert!(lists.len() >= 11);

    // Something disabled: the plain list is walked, and exactly those are marked.
    sim.control.set_datasource_disabled("redshift", true);
    sim.control.set_datasource_disabled("rest", true);
    sim.control.clear_requests();
    let snap = c.load().await.expect("reload");
    let ours: HashSet<String> = snap
        .resources
        .iter()
        .filter(|r| r.disabled)
        .map(|r| r.id.to_string())
        .collect();
    let visible: HashSet<String> = sim
        .control
        .visible_ids(qsim::DEMO_TOKEN)
        .into_iter()
        .collect();
    let theirs: HashSet<String> = sim
        .control
        .disabled_ids()
        .into_iter()
        .filter(|id| visible.contains(id))
        .collect();
    assert!(theirs.len() > 1, "{}", theirs.len());
    assert_eq!(ours, theirs);
    assert_eq!(
        snap.resources.len(),
        sim.control.visible_ids(qsim::DEMO_TOKEN).len()
    );
}

// ---- Changing instead of deleting (issue 16) ------------------------------------------------

use dsconsole::vendors::change::{Change, FieldValue};
use secrecy::SecretString;

fn text(field: &str, value: &str) -> Change {
    Change::default().set(field, FieldValue::Text(value.into()))
}

fn secret(value: &str) -> FieldValue {
    FieldValue::Secret(SecretString::from(value.to_string()))
}

fn patches(sim: &QlikSim) -> Vec<SimRequest> {
    requests(sim, |r| r.method == "PATCH")
}

#[tokio::test]
async fn a_rename_is_one_json_patch_and_a_clash_in_the_space_is_a_409() {
    let sim = sim().await;
    let c = admin(&sim);
    let snap = c.load().await.expect("load");
    let conn = one(&snap.resources, "Postgres_Ledger_Replica").clone();
    let renamed = c
        .update(target(&conn), text("name", "Postgres Ledger"))
        .await
        .expect("renamed");
    assert_eq!(renamed.name, "Postgres Ledger");
    assert_eq!(renamed.id, conn.id);
    assert_eq!(renamed.container, conn.container, "space name resolved");
    let stored = sim.control.object(&conn.id).expect("stored");
    assert_eq!(stored["qName"], "Postgres Ledger");
    assert_ne!(stored["updated"], conn.raw.value()["updated"]);
    // Only the name was sent.
    let sent = sim.control.patches();
    assert_eq!(
        sent,
        vec![(
            conn.id.to_string(),
            json!([{"op":"replace","path":"/qName","value":"Postgres Ledger"}])
        )]
    );
    assert_eq!(patches(&sim).len(), 1);
    // Re-read after the 204.
    let gets = requests(&sim, |r| {
        r.method == "GET" && r.path == format!("/api/v1/data-connections/{}", conn.id)
    });
    assert!(!gets.is_empty(), "read again after the 204");

    // A name another connection of the same space has: 409 in Qlik's words, nothing changed.
    let err = c
        .update(target(&conn), text("name", "SAP_HANA_Finance"))
        .await
        .expect_err("clash");
    assert_eq!(err.status(), Some(409), "{err}");
    assert!(err.to_string().contains("already exists"), "{err}");
    let stored = sim.control.object(&conn.id).expect("stored");
    assert_eq!(stored["qName"], "Postgres Ledger");
    // The same name in another space is fine (names are unique per space).
    c.update(target(&conn), text("name", "Snowflake_Sales_Mart"))
        .await
        .expect("unique per space only");
}

#[tokio::test]
async fn credentials_rotate_without_ever_coming_back() {
    let sim = sim().await;
    let c = admin(&sim);
    let snap = c.load().await.expect("load");
    let conn = one(&snap.resources, "MySQL_Events").clone();
    let change = text("username", "svc_bi").set("password", secret("n3w-s3cret-9"));
    assert!(!format!("{change:?}").contains("n3w-s3cret-9"));
    let after = c.update(target(&conn), change).await.expect("rotated");
    assert_eq!(after.id, conn.id);
    assert!(
        !after.raw.as_str().contains("n3w-s3cret-9"),
        "no secret back"
    );
    assert_eq!(
        sim.control.credentials(&conn.id),
        (Some("svc_bi".into()), Some("n3w-s3cret-9".into()))
    );
    let (_, body) = sim.control.patches().pop().expect("one patch");
    assert_eq!(
        body,
        json!([
            {"op":"replace","path":"/qUsername","value":"svc_bi"},
            {"op":"replace","path":"/qPassword","value":"n3w-s3cret-9"}
        ])
    );
    // Still attached to its data credential (the target did not move).
    let stored = sim.control.object(&conn.id).expect("stored");
    assert!(stored.get("qCredentialsID").is_some());
}

#[tokio::test]
async fn a_new_connection_string_needs_the_password_and_detaches_separate_credentials() {
    let sim = sim().await;
    let c = admin(&sim);
    let snap = c.load().await.expect("load");
    let conn = one(&snap.resources, "Salesforce_Prod").clone();
    let statement = "CUSTOM CONNECT TO \"provider=QvSalesforceConnector.exe;host=eu.example;\"";
    // Without the password: refused before anything is sent, in a sentence.
    let err = c
        .update(target(&conn), text("connection_string", statement))
        .await
        .expect_err("needs credentials");
    assert!(
        err.to_string().contains("password in the same change"),
        "{err}"
    );
    assert!(patches(&sim).is_empty());

    let after = c
        .update(
            target(&conn),
            text("connection_string", statement).set("password", secret("pw-2")),
        )
        .await
        .expect("moved");
    assert_eq!(
        str_at(&after.raw.value(), "/qConnectStatement"),
        Some(statement)
    );
    let stored = sim.control.object(&conn.id).expect("stored");
    assert!(
        stored.get("qCredentialsID").is_none(),
        "separate credentials are detached by a host change: {stored}"
    );
    assert_eq!(sim.control.credentials(&conn.id).1.as_deref(), Some("pw-2"));
}

#[tokio::test]
async fn the_simulator_enforces_the_patch_rules_in_qliks_words() {
    let sim = sim().await;
    let c = admin(&sim);
    let snap = c.load().await.expect("load");
    let conn = one(&snap.resources, "Oracle_GL_2019").clone();
    let http = reqwest::Client::new();
    let url = format!("{}/api/v1/data-connections/{}", sim.base_url, conn.id);
    let patch = |body: Value| {
        http.patch(&url)
            .bearer_auth(qsim::DEMO_TOKEN)
            .json(&body)
            .send()
    };
    let before = sim.control.object(&conn.id).expect("stored");
    for (body, words) in [
        (
            json!([{"op":"replace","path":"/qConnectStatement","value":"X"}]),
            "requires credentials",
        ),
        (
            json!([{"op":"replace","path":"/qConnectStatement","value":"X"},
                   {"op":"replace","path":"/qPassword","value":"p"},
                   {"op":"replace","path":"/connectionProperties/port","value":1}]),
            "same request",
        ),
        (
            json!([{"op":"replace","path":"/qPassword","value":"p"},
                   {"op":"replace","path":"/connectionProperties/password","value":"q"}]),
            "not both",
        ),
    ] {
        let resp = patch(body).await.expect("answer");
        assert_eq!(resp.status(), 400);
        let v: Value = resp.json().await.expect("json");
        let detail = v
            .pointer("/errors/0/detail")
            .and_then(Value::as_str)
            .unwrap_or("");
        assert!(detail.contains(words), "{v}");
    }
    assert_eq!(sim.control.object(&conn.id), Some(before));
    assert_eq!(sim.control.credentials(&conn.id), (None, None));
    // The guide's capital "Value" is accepted; 204 without a body.
    let resp = patch(json!([{"op":"replace","path":"/qName","Value":"Oracle GL"}]))
        .await
        .expect("answer");
    assert_eq!(resp.status(), 204);
    assert!(resp.bytes().await.expect("body").is_empty());
    assert_eq!(
        sim.control.object(&conn.id).expect("stored")["qName"],
        "Oracle GL"
    );
}

#[tokio::test]
async fn read_only_profiles_send_no_patch() {
    let sim = sim().await;
    let mut s = settings(&sim.base_url, qsim::DEMO_TOKEN);
    s.read_only = true;
    let c = QlikClient::new(s).expect("client");
    let snap = c.load().await.expect("reads are fine");
    let conn = one(&snap.resources, "MySQL_Events").clone();
    sim.control.clear_requests();
    let err = c
        .update(
            target(&conn),
            Change::default().set("password", secret("x")),
        )
        .await
        .expect_err("read-only");
    assert!(matches!(err, ApiError::ReadOnly { .. }), "{err:?}");
    assert!(sim.control.requests().is_empty());
    assert!(sim.control.patches().is_empty());
}

// ---- Ownership transfer and move to another space (issue 16) --------------------------------

const SALES_OPS: &str = "65cf6bd251618b6abd5848f3";
const MARKETING_SANDBOX: &str = "65cf6c9e51618b6abd58493a";
const PRIYA: &str = "6422bc5e43af68ebe8abbc9d";

fn update_actions(sim: &QlikSim) -> Vec<SimRequest> {
    requests(sim, |r| {
        r.method == "POST" && r.path == "/api/v1/data-connections/actions/update"
    })
}

#[tokio::test]
async fn an_owner_transfer_is_one_action_item_and_drops_the_credentials() {
    let sim = sim().await;
    let c = admin(&sim);
    let snap = c.load().await.expect("load");
    let conn = one(&snap.resources, "MySQL_Events").clone();
    sim.control
        .set_credentials(&conn.id, Some("svc_events"), Some("old-pass-1"));
    sim.control.clear_requests();
    let after = c
        .update(target(&conn), text("owner", "priya.raman@acme.example"))
        .await
        .expect("transferred");
    assert_eq!(after.id, conn.id);
    assert_eq!(after.owner.as_deref(), Some("Priya Raman"), "{after:?}");
    assert_eq!(str_at(&after.raw.value(), "/user"), Some(PRIYA));
    assert_eq!(after.container, conn.container, "same space");
    assert_eq!(sim.control.credentials(&conn.id), (None, None));
    assert_eq!(
        sim.control.updates(),
        vec![json!({"connections":[{"id": conn.id, "ownerId": PRIYA}]})],
        "owner only: no space keys"
    );
    assert!(patches(&sim).is_empty(), "no PATCH for an owner change");
    let lookup = requests(&sim, |r| r.method == "GET" && r.path == "/api/v1/users");
    assert_eq!(lookup.len(), 1);
    assert_eq!(
        lookup[0].query_param("filter").as_deref(),
        Some(r#"email eq "priya.raman@acme.example""#)
    );
    // By name (known from the load: no look-up), and by id (sent as is).
    sim.control.clear_requests();
    let after = c
        .update(target(&conn), text("owner", "Noah Brennan"))
        .await
        .expect("by name");
    assert_eq!(after.owner.as_deref(), Some("Noah Brennan"));
    assert!(requests(&sim, |r| r.path == "/api/v1/users").is_empty());
    let after = c
        .update(target(&conn), text("owner", PRIYA))
        .await
        .expect("by id");
    assert_eq!(str_at(&after.raw.value(), "/user"), Some(PRIYA));
    // Nobody of that name: refused before anything is written.
    sim.control.clear_requests();
    let err = c
        .update(target(&conn), text("owner", "Nobody Atall"))
        .await
        .expect_err("unknown");
    assert!(matches!(err, ApiError::Setup { .. }), "{err:?}");
    assert!(err.to_string().contains("no Qlik Cloud user"), "{err}");
    assert!(update_actions(&sim).is_empty());
}

#[tokio::test]
async fn a_move_resolves_the_space_by_name_or_id_and_sends_its_type() {
    let sim = sim().await;
    let c = admin(&sim);
    let snap = c.load().await.expect("load");
    let conn = one(&snap.resources, "Postgres_CRM_Readonly").clone();
    assert_eq!(conn.container.as_deref(), Some("Sales Ops"));
    assert_eq!(str_at(&conn.raw.value(), "/space"), Some(SALES_OPS));
    sim.control
        .set_credentials(&conn.id, Some("crm_ro"), Some("keep-me-2"));
    let after = c
        .update(target(&conn), text("space", "data engineering"))
        .await
        .expect("moved by name");
    assert_eq!(after.container.as_deref(), Some("Data Engineering"));
    assert_eq!(str_at(&after.raw.value(), "/space"), Some(DATA_ENGINEERING));
    assert_eq!(
        sim.control.updates().pop().unwrap(),
        json!({"connections":[{"id": conn.id, "spaceId": DATA_ENGINEERING, "spaceType": "shared"}]}),
        "move only: no ownerId"
    );
    assert_eq!(
        sim.control.credentials(&conn.id),
        (Some("crm_ro".into()), Some("keep-me-2".into())),
        "a move keeps the credentials"
    );
    let after = c
        .update(target(&conn), text("space", MARKETING_SANDBOX))
        .await
        .expect("moved by id");
    assert_eq!(after.container.as_deref(), Some("Marketing Sandbox"));
    assert_eq!(
        sim.control.updates().pop().unwrap()["connections"][0]["spaceType"],
        "data"
    );
    let after = c
        .update(target(&conn), text("space", "personal"))
        .await
        .expect("to the owner's personal space");
    assert_eq!(after.container.as_deref(), Some(PERSONAL_SPACE));
    assert_eq!(
        sim.control.updates().pop().unwrap()["connections"][0],
        json!({"id": conn.id, "spaceId": "", "spaceType": "personal"})
    );
    let err = c
        .update(target(&conn), text("space", "No Such Space"))
        .await
        .expect_err("unknown space");
    assert!(matches!(err, ApiError::Setup { .. }), "{err:?}");
    assert_eq!(sim.control.updates().len(), 3, "nothing sent for it");
}

#[tokio::test]
async fn owner_and_space_change_in_one_item() {
    let sim = sim().await;
    let c = admin(&sim);
    let snap = c.load().await.expect("load");
    let conn = one(&snap.resources, "BigQuery_Pipeline").clone();
    sim.control.set_credentials(&conn.id, Some("bq"), Some("p"));
    let change =
        text("owner", "Priya Raman").set("space", FieldValue::Text("Finance Analytics".into()));
    let after = c.update(target(&conn), change).await.expect("both");
    assert_eq!(after.owner.as_deref(), Some("Priya Raman"));
    assert_eq!(after.container.as_deref(), Some("Finance Analytics"));
    assert_eq!(
        sim.control.updates(),
        vec![json!({"connections":[{
            "id": conn.id, "ownerId": PRIYA, "spaceId": FINANCE, "spaceType": "shared"
        }]})]
    );
    assert_eq!(sim.control.credentials(&conn.id), (None, None));
    assert_eq!(update_actions(&sim).len(), 1);
}

#[tokio::test]
async fn a_failed_item_of_the_207_is_an_error_in_qliks_words_and_nothing_changes() {
    let sim = sim().await;
    let c = admin(&sim);
    let snap = c.load().await.expect("load");
    let finance_sw = snap
        .resources
        .iter()
        .find(|r| {
            r.name == "Snowflake_Warehouse" && r.container.as_deref() == Some("Finance Analytics")
        })
        .expect("Finance's Snowflake_Warehouse")
        .clone();
    let before = sim.control.object(&finance_sw.id).expect("stored");
    // Data Engineering has a Snowflake_Warehouse already.
    let err = c
        .update(target(&finance_sw), text("space", DATA_ENGINEERING))
        .await
        .expect_err("name clash");
    assert_eq!(err.status(), Some(409), "{err}");
    assert!(err.to_string().contains("already exists"), "{err}");
    assert!(matches!(err, ApiError::Http { .. }), "{err:?}");
    let calls = update_actions(&sim);
    assert_eq!(calls.len(), 1);
    assert_eq!(
        calls[0].status, 207,
        "the HTTP status was fine; the item was not"
    );
    assert_eq!(sim.control.object(&finance_sw.id).unwrap(), before);
    // An owner the tenant does not have: the item's 404.
    let err = c
        .update(
            target(&finance_sw),
            text("owner", "0123456789abcdef01234567"),
        )
        .await
        .expect_err("unknown owner");
    assert_eq!(err.status(), Some(404), "{err}");
    assert!(err.to_string().contains("not found"), "{err}");
    assert_eq!(sim.control.object(&finance_sw.id).unwrap(), before);
}

#[tokio::test]
async fn a_non_admin_gets_the_403_of_the_action() {
    let sim = sim().await;
    let c = analyst(&sim);
    let snap = c.load().await.expect("load");
    let conn = one(&snap.resources, "pg_local_test").clone();
    let before = sim.control.object(&conn.id).expect("stored");
    let err = c
        .update(target(&conn), text("owner", PRIYA))
        .await
        .expect_err("not an admin");
    assert_eq!(err.status(), Some(403), "{err}");
    assert!(err.to_string().contains("TenantAdmin"), "{err}");
    assert_eq!(sim.control.object(&conn.id).unwrap(), before);
    assert!(sim.control.updates().is_empty());
}

#[tokio::test]
async fn read_only_profiles_send_no_transfer_or_move() {
    let sim = sim().await;
    let mut s = settings(&sim.base_url, qsim::DEMO_TOKEN);
    s.read_only = true;
    let c = QlikClient::new(s).expect("client");
    let snap = c.load().await.expect("reads are fine");
    let conn = one(&snap.resources, "MySQL_Events").clone();
    sim.control.clear_requests();
    for change in [
        text("owner", "priya.raman@acme.example"),
        text("space", "Finance Analytics"),
        text("name", "x").set("owner", FieldValue::Text(PRIYA.into())),
    ] {
        let err = c
            .update(target(&conn), change)
            .await
            .expect_err("read-only");
        assert!(matches!(err, ApiError::ReadOnly { .. }), "{err:?}");
    }
    assert!(sim.control.requests().is_empty(), "not even the look-ups");
    assert!(sim.control.updates().is_empty());
}

#[tokio::test]
async fn a_rename_with_an_owner_change_patches_first_then_acts() {
    let sim = sim().await;
    let c = admin(&sim);
    let snap = c.load().await.expect("load");
    let conn = one(&snap.resources, "Athena_Access_Logs").clone();
    sim.control.clear_requests();
    let change = text("name", "Athena Logs").set("owner", FieldValue::Text(PRIYA.into()));
    let after = c.update(target(&conn), change).await.expect("both");
    assert_eq!(after.name, "Athena Logs");
    assert_eq!(after.owner.as_deref(), Some("Priya Raman"));
    let writes: Vec<String> = requests(&sim, |r| r.method != "GET")
        .into_iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(
        writes,
        vec![
            format!("PATCH /api/v1/data-connections/{}", conn.id),
            "POST /api/v1/data-connections/actions/update".to_string(),
        ]
    );
    assert_eq!(
        sim.control.patches(),
        vec![(
            conn.id.to_string(),
            json!([{"op":"replace","path":"/qName","value":"Athena Logs"}])
        )]
    );
    assert_eq!(
        sim.control.updates(),
        vec![json!({"connections":[{"id": conn.id, "ownerId": PRIYA}]})]
    );
    // The action refused after the rename went through: the error says the rename stays.
    let err = c
        .update(
            target(&conn),
            text("name", "SAP_HANA_Finance").set("space", FieldValue::Text(FINANCE.into())),
        )
        .await
        .expect_err("clash in Finance");
    assert_eq!(err.status(), Some(409), "{err}");
    assert!(
        err.to_string()
            .contains("name change before it was applied"),
        "{err}"
    );
    let stored = sim.control.object(&conn.id).unwrap();
    assert_eq!(stored["qName"], "SAP_HANA_Finance");
    assert_eq!(stored["space"], DATA_ENGINEERING);
}

#[tokio::test]
async fn the_simulator_answers_actions_update_item_by_item() {
    let sim = sim().await;
    let http = reqwest::Client::new();
    let url = format!("{}/api/v1/data-connections/actions/update", sim.base_url);
    let post =
        |token: &'static str, body: Value| http.post(&url).bearer_auth(token).json(&body).send();
    let mysql = "62f2c9dd-8bec-4f00-be4b-a5c87427b278"; // MySQL_Events, Data Engineering
    let datafiles = "4298517f-f20d-46a8-bfe9-d1d721607b85";
    let unknown = "00000000-0000-4000-8000-000000000000";
    sim.control.set_credentials(mysql, Some("u"), Some("p"));
    let before = sim.control.object(mysql).unwrap();
    let r = post(
        qsim::DEMO_TOKEN,
        json!({"connections":[
            {"id": mysql, "spaceId": FINANCE},
            {"id": mysql, "spaceId": SALES_OPS, "spaceType": "shared"},
            {"id": mysql, "spaceId": "0123456789abcdef01234567", "spaceType": "shared"},
            {"id": mysql, "ownerId": "0123456789abcdef01234567"},
            {"id": datafiles, "ownerId": PRIYA},
            {"id": unknown, "ownerId": PRIYA},
            {"id": mysql},
            {"id": "not-a-uuid", "ownerId": PRIYA},
        ]}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 207);
    let v: Value = r.json().await.unwrap();
    let statuses: Vec<u64> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [400, 400, 404, 404, 403, 404, 400, 400]);
    for item in v["data"].as_array().unwrap() {
        let e = &item["error"];
        assert!(e["code"].is_string() && e["title"].is_string() && e["detail"].is_string());
        assert_eq!(e["status"], item["status"]);
    }
    assert!(v["data"][1]["error"]["detail"]
        .as_str()
        .unwrap()
        .contains("does not match"));
    assert_eq!(sim.control.object(mysql).unwrap(), before, "nothing stored");
    assert_eq!(
        sim.control.credentials(mysql),
        (Some("u".into()), Some("p".into()))
    );
    // Mixed: one applied, one refused.
    let v: Value = post(
        qsim::DEMO_TOKEN,
        json!({"connections":[
            {"id": mysql, "ownerId": PRIYA, "name": "MySQL Events"},
            {"id": unknown, "ownerId": PRIYA},
        ]}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(v["data"][0], json!({"id": mysql, "status": 204}));
    assert_eq!(v["data"][1]["status"], 404);
    let after = sim.control.object(mysql).unwrap();
    assert_eq!(after["user"], PRIYA);
    assert_eq!(after["qName"], "MySQL Events");
    assert_eq!(sim.control.credentials(mysql), (None, None));
    // Non-admins: 403 for the whole request, nothing recorded.
    let r = post(
        qsim::NON_ADMIN_TOKEN,
        json!({"connections":[{"id": mysql, "ownerId": PRIYA}]}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 403);
    let r = post(qsim::DEMO_TOKEN, json!({"connections":[]}))
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // Users by email or name, case ignored.
    let users = |filter: &str| {
        http.get(format!("{}/api/v1/users", sim.base_url))
            .query(&[("filter", filter)])
            .bearer_auth(qsim::NON_ADMIN_TOKEN)
            .send()
    };
    let v: Value = users(r#"email eq "PRIYA.RAMAN@acme.example""#)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["data"].as_array().unwrap().len(), 1);
    assert_eq!(v["data"][0]["id"], PRIYA);
    let v: Value = users(r#"name eq "Priya Raman" or name eq "Noah Brennan""#)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["data"].as_array().unwrap().len(), 2);
    assert_eq!(users("name equals x").await.unwrap().status(), 400);
}

// ---- OAuth machine-to-machine (client credentials) ------------------------------------

fn oauth_settings(sim: &QlikSim, client_id: &str, secret: &str) -> ClientSettings {
    common::settings::client("it-qlik", VendorId::Qlik, &sim.base_url, "")
        .option("client_id", client_id)
        .secret_option(
            "client_secret",
            secrecy::SecretString::from(secret.to_owned()),
        )
}

fn oauth_client(sim: &QlikSim) -> QlikClient {
    QlikClient::new(oauth_settings(
        sim,
        qsim::DEMO_CLIENT_ID,
        qsim::DEMO_CLIENT_SECRET,
    ))
    .expect("client")
}

fn unauthorized(sim: &QlikSim) -> usize {
    requests(sim, |r| r.path.starts_with("/api/") && r.status == 401).len()
}

fn token_posts(sim: &QlikSim) -> Vec<SimRequest> {
    requests(sim, |r| r.path == "/oauth/token")
}

/// Nothing the client shows (errors, `Debug`) holds the client secret or a token.
#[track_caller]
fn assert_no_secrets(sim: &QlikSim, shown: &str) {
    assert!(!shown.contains(qsim::DEMO_CLIENT_SECRET), "secret: {shown}");
    for token in sim.control.issued_tokens() {
        assert!(!shown.contains(&token), "token: {shown}");
    }
}

#[tokio::test]
async fn oauth_first_call_fetches_one_token_and_concurrent_calls_share_it() {
    let sim = sim().await;
    let c = oauth_client(&sim);
    assert_eq!(
        sim.control.token_requests(),
        0,
        "no I/O before the first call"
    );
    let answers = futures::future::join_all((0..12).map(|_| c.spaces())).await;
    for a in &answers {
        assert!(a.as_ref().is_ok_and(|s| !s.is_empty()), "{a:?}");
    }
    assert_eq!(sim.control.token_requests(), 1, "one fetch for every call");
    let snap = c.load().await.expect("load");
    assert!(!snap.resources.is_empty());
    assert_eq!(sim.control.token_requests(), 1, "the token is cached");
    assert_eq!(unauthorized(&sim), 0);
    // The grant goes to the tenant's /oauth/token, as a POST answered 200.
    let posts = token_posts(&sim);
    assert_eq!(posts.len(), 1);
    assert_eq!((posts[0].method.as_str(), posts[0].status), ("POST", 200));
    // The OAuth client sees what the admin sees.
    let theirs: HashSet<String> = sim
        .control
        .visible_ids(qsim::DEMO_TOKEN)
        .into_iter()
        .collect();
    let ours: HashSet<String> = snap.resources.iter().map(|r| r.id.to_string()).collect();
    assert_eq!(ours, theirs);
    assert_no_secrets(&sim, &format!("{c:?}"));
}

#[tokio::test]
async fn oauth_expired_token_is_renewed_once_on_401_and_the_call_succeeds() {
    let sim = sim().await;
    let c = oauth_client(&sim);
    c.spaces().await.expect("first call");
    assert_eq!(sim.control.token_requests(), 1);

    sim.control.expire_tokens();
    sim.control.clear_requests();
    c.spaces().await.expect("renewed after the 401");
    assert_eq!(sim.control.token_requests(), 2, "one new token");
    assert_eq!(unauthorized(&sim), 1, "one 401, then the retry");
    let spaces: Vec<u16> = requests(&sim, |r| r.path == "/api/v1/spaces")
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(spaces, vec![401, 200]);

    // Many calls that meet the expired token at once renew it once between them.
    sim.control.expire_tokens();
    let answers = futures::future::join_all((0..8).map(|_| c.spaces())).await;
    assert!(answers.iter().all(Result::is_ok), "{answers:?}");
    assert_eq!(
        sim.control.token_requests(),
        3,
        "one renewal for all of them"
    );
    c.load().await.expect("load with the renewed token");
    assert_eq!(sim.control.token_requests(), 3);
}

#[tokio::test]
async fn oauth_token_is_renewed_shortly_before_it_expires() {
    let sim = sim().await;
    sim.control.set_token_ttl(Duration::from_secs(2));
    let c = oauth_client(&sim);
    c.spaces().await.expect("first call");
    c.spaces().await.expect("cached");
    assert_eq!(sim.control.token_requests(), 1);
    // A tenth of its 2 s life before it expires, the next call fetches a new one first.
    tokio::time::sleep(Duration::from_millis(1900)).await;
    c.spaces().await.expect("renewed ahead of time");
    assert_eq!(sim.control.token_requests(), 2);
    assert_eq!(unauthorized(&sim), 0, "no call met an expired token");
}

#[tokio::test]
async fn oauth_a_second_401_is_the_error_without_the_token() {
    let sim = sim().await;
    // Every token is born expired: the renewal does not help.
    sim.control.set_token_ttl(Duration::ZERO);
    let c = oauth_client(&sim);
    let err = c.spaces().await.expect_err("401 twice");
    assert_eq!(err.status(), Some(401), "{err}");
    assert_eq!(sim.control.token_requests(), 2, "renewed once, not more");
    assert_eq!(unauthorized(&sim), 2);
    assert_eq!(sim.control.issued_tokens().len(), 2);
    assert_no_secrets(&sim, &format!("{err} {err:?}"));
}

#[tokio::test]
async fn oauth_wrong_secret_is_one_clear_error_naming_the_profile() {
    let sim = sim().await;
    let c = QlikClient::new(oauth_settings(
        &sim,
        qsim::DEMO_CLIENT_ID,
        "wrong-client-SECRET-value",
    ))
    .expect("client");
    let err = c.load().await.expect_err("refused");
    let shown = err.to_string();
    assert_eq!(err.status(), Some(401), "{shown}");
    assert!(shown.contains("profile 'it-qlik'"), "{shown}");
    assert!(shown.contains("client credentials"), "{shown}");
    assert!(shown.contains(qsim::DEMO_CLIENT_ID), "{shown}");
    assert!(shown.contains("invalid_client"), "{shown}");
    for text in [shown.clone(), format!("{err:?}"), format!("{c:?}")] {
        assert!(!text.contains("wrong-client-SECRET-value"), "{text}");
    }
    assert_eq!(
        sim.control.token_requests(),
        1,
        "asked once for the whole load"
    );
    assert_eq!(sim.control.tokens_issued(), 0);
    assert!(
        requests(&sim, |r| r.path.starts_with("/api/")).is_empty(),
        "no API call without a token"
    );
    // Once the tenant knows the secret, the next call gets in.
    sim.control
        .set_oauth_client(qsim::DEMO_CLIENT_ID, "wrong-client-SECRET-value");
    c.spaces().await.expect("accepted now");
    assert_eq!(sim.control.token_requests(), 2);
}

#[tokio::test]
async fn oauth_token_exchange_is_allowed_on_a_read_only_profile() {
    let sim = sim().await;
    sim.control.set_oauth_client("ro-client", "ro-secret");
    let c = QlikClient::new(oauth_settings(&sim, "ro-client", "ro-secret").read_only(true))
        .expect("client");
    let snap = c.load().await.expect("a read-only profile still logs in");
    assert!(!snap.resources.is_empty());
    assert_eq!(sim.control.token_requests(), 1);
    let err = c
        .delete(target(&snap.resources[0]))
        .await
        .expect_err("still read-only");
    assert!(matches!(err, ApiError::ReadOnly { .. }), "{err:?}");
    assert!(requests(&sim, |r| r.method == "DELETE").is_empty());
}

#[test]
fn oauth_settings_need_a_secret_and_no_api_key() {
    let base = "http://127.0.0.1:9";
    let no_secret =
        common::settings::client("it-qlik", VendorId::Qlik, base, "").option("client_id", "c");
    let err = QlikClient::new(no_secret).expect_err("no secret");
    assert!(err.to_string().contains("client_secret"), "{err}");
    let both = common::settings::client("it-qlik", VendorId::Qlik, base, "api-key")
        .option("client_id", "c")
        .secret_option("client_secret", secrecy::SecretString::from("s".to_owned()));
    let err = QlikClient::new(both).expect_err("both");
    assert!(
        err.to_string()
            .contains("both an API key and OAuth client credentials"),
        "{err}"
    );
}

#[tokio::test]
async fn sim_token_endpoint_speaks_the_client_credentials_grant() {
    let sim = sim().await;
    let http = reqwest::Client::new();
    let token_url = format!("{}/oauth/token", sim.base_url);
    let me = |token: String| {
        let http = http.clone();
        let url = format!("{}/api/v1/users/me", sim.base_url);
        async move {
            http.get(url)
                .bearer_auth(token)
                .send()
                .await
                .expect("sent")
                .status()
                .as_u16()
        }
    };
    let grant = json!({
        "client_id": qsim::DEMO_CLIENT_ID,
        "client_secret": qsim::DEMO_CLIENT_SECRET,
        "grant_type": "client_credentials",
    });
    let resp = http
        .post(&token_url)
        .json(&grant)
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status().as_u16(), 200);
    let body: Value = resp.json().await.expect("JSON");
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 3600);
    let token = body["access_token"].as_str().expect("a token").to_owned();
    assert_eq!(me(token.clone()).await, 200, "the token opens the API");
    assert_eq!(
        me(qsim::DEMO_TOKEN.to_owned()).await,
        200,
        "API keys still work"
    );

    // A form body works too; the lifetime follows set_token_ttl.
    sim.control.set_token_ttl(Duration::from_secs(5));
    let form = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}",
        qsim::DEMO_CLIENT_ID,
        qsim::DEMO_CLIENT_SECRET
    );
    let resp = http
        .post(&token_url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status().as_u16(), 200);
    let body: Value = resp.json().await.expect("JSON");
    assert_eq!(body["expires_in"], 5);

    // Refusals, OAuth-shaped.
    for (body, status, error) in [
        (
            json!({"client_id": qsim::DEMO_CLIENT_ID, "client_secret": "nope", "grant_type": "client_credentials"}),
            401,
            "invalid_client",
        ),
        (
            json!({"client_id": qsim::DEMO_CLIENT_ID, "grant_type": "client_credentials"}),
            400,
            "invalid_request",
        ),
        (
            json!({"client_id": qsim::DEMO_CLIENT_ID, "client_secret": qsim::DEMO_CLIENT_SECRET, "grant_type": "password"}),
            400,
            "unsupported_grant_type",
        ),
    ] {
        let resp = http
            .post(&token_url)
            .json(&body)
            .send()
            .await
            .expect("sent");
        assert_eq!(resp.status().as_u16(), status, "{body}");
        let answer: Value = resp.json().await.expect("JSON");
        assert_eq!(answer["error"], error, "{body}");
    }
    assert_eq!(sim.control.token_requests(), 5);
    assert_eq!(sim.control.tokens_issued(), 2);

    // Expired and unknown tokens get 401.
    sim.control.expire_tokens();
    assert_eq!(me(token).await, 401);
    assert_eq!(me("qoat-made-up".to_owned()).await, 401);
    assert_eq!(me(qsim::DEMO_TOKEN.to_owned()).await, 200);
}
