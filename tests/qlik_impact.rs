//! Impact analysis of Qlik Cloud data connections against the in-process simulator: apps
//! found through lineage (with space and owner), an empty graph (none), lineage refused
//! (403) or unknown (404) with the apps of the space as possible users, rate limits (a
//! separate lineage window, `retry-after` honoured, exhaustion reported as unknown), the
//! QRI percent-encoded in the path, `nodes` sent as a JSON string, and the cache.
#![cfg(feature = "sim")]
mod common {
    pub mod settings;
}

use dsconsole::impact::{Impact, ImpactTarget, Verdict};
use dsconsole::model::{Kind, Ref, VendorId};
use dsconsole::sim::qlik::{self as qsim, Fault, LineageAnswer, LineageNode, QlikSim, SimRequest};
use dsconsole::sim::SimOptions;
use dsconsole::vendors::qlik::QlikClient;
use dsconsole::vendors::qlik_impact::{impact_eta, LINEAGE_REQUESTS_PER_MINUTE};
use dsconsole::vendors::VendorApi;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

const FINANCE: &str = "65cf6b6c51618b6abd5848d1";
const DATA_ENGINEERING: &str = "65cf6c2a51618b6abd584912";
/// Snowflake_Warehouse in Finance Analytics: the app-heavy one.
const SNOWFLAKE_WAREHOUSE: &str = "089df8dc-06d4-49eb-b556-0dffac9d751c";
/// Oracle_GL_2019: lineage refused (403).
const ORACLE_GL: &str = "120bc59e-fed3-44f4-a581-46659795ef27";
/// MySQL_Events: no lineage known (404).
const MYSQL_EVENTS: &str = "62f2c9dd-8bec-4f00-be4b-a5c87427b278";
/// REST_FX_Rates: nothing downstream.
const REST_FX: &str = "169e452e-d13e-4503-8aca-5ffc3446354c";
const SALESFORCE: &str = "6c8d1fd0-b1e3-4d30-a1d7-36ee5e9f6b6c";
const DATABRICKS: &str = "1740dd43-b2d0-4aaa-8a08-19529df201c4";
const SNOWFLAKE_SALES_MART: &str = "f2aebe94-9060-4c48-8a2a-696d80473007";
/// The DataFiles connection of Finance Analytics: no QRI.
const FINANCE_DATAFILES: &str = "fd012707-15d9-4c4b-8ceb-5e8065c7f20f";

async fn sim() -> QlikSim {
    qsim::start(&SimOptions::default())
        .await
        .expect("simulator starts")
}

fn client_with(sim: &QlikSim, token: &str) -> QlikClient {
    let s = common::settings::client("it-qlik", VendorId::Qlik, &sim.base_url, token);
    // Unpaced: the tests set the simulator's lineage window instead of waiting 3 s a call.
    QlikClient::new(s).expect("client").with_lineage_limit(0)
}

fn admin(sim: &QlikSim) -> QlikClient {
    client_with(sim, qsim::DEMO_TOKEN)
}

fn target(id: &str) -> ImpactTarget {
    ImpactTarget {
        target: Ref {
            kind: Kind::Connections,
            id: id.into(),
            name: id.into(),
        },
        through: Vec::new(),
        attached: HashMap::new(),
        attached_known: false,
    }
}

async fn impact(c: &QlikClient, id: &str) -> Impact {
    c.impact(target(id)).await
}

fn is_lineage(r: &SimRequest) -> bool {
    r.path.starts_with("/api/v1/lineage-graphs/")
}

fn lineage_requests(sim: &QlikSim) -> Vec<SimRequest> {
    sim.control
        .requests()
        .into_iter()
        .filter(is_lineage)
        .collect()
}

fn ids(deps: &[dsconsole::impact::Dependent], what: &str) -> HashSet<String> {
    deps.iter()
        .filter(|d| d.what == what)
        .map(|d| d.id.clone())
        .collect()
}

fn space_app_ids(sim: &QlikSim, space: &str) -> HashSet<String> {
    sim.control
        .apps_in(Some(space))
        .into_iter()
        .map(|(id, _)| id)
        .collect()
}

#[tokio::test]
async fn found_lists_every_app_downstream_with_space_and_owner() {
    let sim = sim().await;
    let c = admin(&sim);
    // Owner names come from a load, as in the console.
    c.load().await.expect("load");
    let i = impact(&c, SNOWFLAKE_WAREHOUSE).await;
    assert_eq!(i.verdict(), Verdict::Breaks, "{i:?}");
    assert_eq!(i.unknown, None);
    assert!(i.possible.is_empty());
    let apps = ids(&i.dependents, "app");
    assert_eq!(apps.len(), 20, "18 direct, 2 through the QVD");
    let finance = space_app_ids(&sim, FINANCE);
    assert_eq!(apps.intersection(&finance).count(), 19);
    assert_eq!(ids(&i.dependents, "file").len(), 1, "finance_facts.qvd");
    for d in i.dependents.iter().filter(|d| d.what == "app") {
        if finance.contains(&d.id) {
            assert_eq!(d.container.as_deref(), Some("Finance Analytics"), "{d:?}");
            assert!(d.owner.is_some(), "{d:?}");
        } else {
            assert_eq!(d.name, "Pipeline Forecast");
            assert_eq!(d.container, None, "an app of another space is not labelled");
        }
    }
    // The departed owner of one app is shown by id.
    let legacy = i.dependents.iter().find(|d| d.name == "Legacy Ledger 2019");
    assert!(legacy.is_none(), "not downstream of this connection");
    assert!(
        i.summary("space")
            .starts_with("breaks 20 apps, 1 file in 1 space"),
        "{}",
        i.summary("space")
    );
    assert!(i.at > 0);
}

#[tokio::test]
async fn qri_is_percent_encoded_in_the_lineage_path() {
    let sim = sim().await;
    let c = admin(&sim);
    impact(&c, SNOWFLAKE_WAREHOUSE).await;
    let qri = sim.control.qri_of(SNOWFLAKE_WAREHOUSE).expect("qri");
    assert!(qri.starts_with("qri:db:snowflake://"));
    let reqs = lineage_requests(&sim);
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    let encoded = qri.replace(':', "%3A").replace('/', "%2F");
    assert_eq!(
        reqs[0].path,
        format!("/api/v1/lineage-graphs/impact/{encoded}/overview")
    );
    assert_eq!(reqs[0].query_param("down").as_deref(), Some("-1"));
    assert_eq!(reqs[0].status, 200);
}

#[tokio::test]
async fn an_empty_graph_is_none_found() {
    let sim = sim().await;
    let c = admin(&sim);
    let i = impact(&c, REST_FX).await;
    assert_eq!(i.verdict(), Verdict::None, "{i:?}");
    assert!(i.possible.is_empty() && i.unknown.is_none());
    // Set from a test: an empty graph for another connection too.
    assert!(sim
        .control
        .set_lineage(SALESFORCE, LineageAnswer::Graph(Vec::new())));
    assert_eq!(impact(&c, SALESFORCE).await.verdict(), Verdict::None);
}

#[tokio::test]
async fn lineage_refused_is_unknown_with_the_apps_of_the_space_as_possible_users() {
    let sim = sim().await;
    let c = admin(&sim);
    let i = impact(&c, ORACLE_GL).await;
    assert_eq!(i.verdict(), Verdict::Unknown, "{i:?}");
    assert!(i.dependents.is_empty());
    let why = i.unknown.clone().unwrap_or_default();
    assert!(why.contains("lineage needs Tenant Admin"), "{why}");
    assert!(why.contains("possible users"), "{why}");
    let finance = space_app_ids(&sim, FINANCE);
    assert_eq!(finance.len(), 25);
    assert_eq!(ids(&i.possible, "app"), finance);
    assert!(i
        .possible
        .iter()
        .all(|d| d.container.as_deref() == Some("Finance Analytics")));
    assert_eq!(i.cell(), "?25");
    let items: Vec<SimRequest> = sim
        .control
        .requests()
        .into_iter()
        .filter(|r| r.path == "/api/v1/items")
        .collect();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].query_param("spaceId").as_deref(), Some(FINANCE));
    assert_eq!(items[0].query_param("resourceType").as_deref(), Some("app"));
    assert_eq!(items[0].query_param("noActions").as_deref(), Some("true"));
}

#[tokio::test]
async fn a_non_admin_key_is_refused_lineage_and_gets_possible_users() {
    let sim = sim().await;
    let c = client_with(&sim, qsim::NON_ADMIN_TOKEN);
    let i = impact(&c, SNOWFLAKE_WAREHOUSE).await;
    assert_eq!(i.verdict(), Verdict::Unknown, "{i:?}");
    assert!(i.unknown.as_deref().unwrap_or("").contains("Tenant Admin"));
    assert_eq!(ids(&i.possible, "app"), space_app_ids(&sim, FINANCE));
    assert_eq!(lineage_requests(&sim)[0].status, 403);
}

#[tokio::test]
async fn no_lineage_known_is_unknown_never_none() {
    let sim = sim().await;
    let c = admin(&sim);
    let i = impact(&c, MYSQL_EVENTS).await;
    assert_eq!(i.verdict(), Verdict::Unknown, "{i:?}");
    assert!(i
        .unknown
        .as_deref()
        .unwrap_or("")
        .contains("no lineage known for this connection"));
    assert_eq!(
        ids(&i.possible, "app"),
        space_app_ids(&sim, DATA_ENGINEERING)
    );
    assert_eq!(lineage_requests(&sim)[0].status, 404);
}

#[tokio::test]
async fn a_connection_without_a_qri_falls_back_without_asking_lineage() {
    let sim = sim().await;
    let c = admin(&sim);
    let i = impact(&c, FINANCE_DATAFILES).await;
    assert_eq!(i.verdict(), Verdict::Unknown);
    assert!(i.unknown.as_deref().unwrap_or("").contains("no lineage id"));
    assert_eq!(i.possible.len(), 25);
    assert!(lineage_requests(&sim).is_empty());
}

#[tokio::test]
async fn the_possible_users_follow_the_items_cursor() {
    let sim = sim().await;
    sim.control.add_apps(DATA_ENGINEERING, 150);
    let c = admin(&sim);
    let i = impact(&c, MYSQL_EVENTS).await;
    assert_eq!(i.possible.len(), 154);
    let items: Vec<SimRequest> = sim
        .control
        .requests()
        .into_iter()
        .filter(|r| r.path == "/api/v1/items")
        .collect();
    assert_eq!(items.len(), 2);
    assert!(items[1].query_param("next").is_some(), "{:?}", items[1]);
}

#[tokio::test]
async fn when_the_items_fail_too_both_reasons_are_given() {
    let sim = sim().await;
    sim.control
        .inject(Fault::Status(400), Some("GET"), "/api/v1/items", 1);
    let c = admin(&sim);
    let i = impact(&c, MYSQL_EVENTS).await;
    assert_eq!(i.verdict(), Verdict::Unknown);
    assert!(i.possible.is_empty());
    let why = i.unknown.clone().unwrap_or_default();
    assert!(why.contains("no lineage known"), "{why}");
    assert!(why.contains("could not be listed either"), "{why}");
    assert!(!why.contains(qsim::DEMO_TOKEN));
    // Not cached: the next look asks again.
    impact(&c, MYSQL_EVENTS).await;
    assert_eq!(lineage_requests(&sim).len(), 2);
}

#[tokio::test]
async fn nodes_sent_as_a_json_string_read_the_same() {
    let sim = sim().await;
    let c = admin(&sim);
    let plain = impact(&c, SNOWFLAKE_WAREHOUSE).await;
    sim.control.set_lineage_nodes_as_string(true);
    let c2 = admin(&sim);
    let stringy = impact(&c2, SNOWFLAKE_WAREHOUSE).await;
    assert_eq!(stringy.dependents, plain.dependents);
    assert_eq!(stringy.verdict(), Verdict::Breaks);
}

#[tokio::test]
async fn a_second_look_within_five_minutes_comes_from_the_cache() {
    let sim = sim().await;
    let c = admin(&sim);
    let first = impact(&c, SNOWFLAKE_WAREHOUSE).await;
    let refused = impact(&c, ORACLE_GL).await;
    sim.control.clear_requests();
    // Even if the graph changed meanwhile, the cached answer (and its `at`) is returned.
    sim.control.set_lineage(
        SNOWFLAKE_WAREHOUSE,
        LineageAnswer::Graph(vec![LineageNode::app("x", "New")]),
    );
    let again = impact(&c, SNOWFLAKE_WAREHOUSE).await;
    assert_eq!(again, first);
    assert_eq!(impact(&c, ORACLE_GL).await, refused);
    assert!(
        sim.control.requests().is_empty(),
        "{:?}",
        sim.control.requests()
    );
    assert_eq!(
        c.impact_eta(&[SNOWFLAKE_WAREHOUSE.into(), ORACLE_GL.into()]),
        Duration::ZERO
    );
    c.clear_impact_cache();
    let fresh = impact(&c, SNOWFLAKE_WAREHOUSE).await;
    assert_eq!(fresh.dependents.len(), 1);
    assert_eq!(lineage_requests(&sim).len(), 1);
}

#[tokio::test]
async fn retry_after_is_honoured_within_the_lineage_window() {
    let sim = sim().await;
    // One lineage request per second: the second connection is told to wait a second.
    sim.control.set_lineage_limit(1, Duration::from_secs(1));
    let c = admin(&sim);
    assert_eq!(impact(&c, REST_FX).await.verdict(), Verdict::None);
    let i = impact(&c, SALESFORCE).await;
    assert_eq!(i.verdict(), Verdict::Breaks, "{i:?}");
    assert_eq!(ids(&i.dependents, "app").len(), 3);
    let statuses: Vec<u16> = lineage_requests(&sim).iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 429, 200]);
    // The lineage window is its own: reads went through all along.
    assert!(sim
        .control
        .requests()
        .iter()
        .filter(|r| !is_lineage(r))
        .all(|r| r.status == 200));
}

#[tokio::test]
async fn an_exhausted_lineage_budget_is_unknown_and_never_exceeded() {
    let sim = sim().await;
    // Two lineage requests per ten minutes: the third is told to wait far longer than the
    // client waits.
    sim.control.set_lineage_limit(2, Duration::from_secs(600));
    let c = admin(&sim);
    let targets = [
        SNOWFLAKE_WAREHOUSE,
        SALESFORCE,
        DATABRICKS,
        SNOWFLAKE_SALES_MART,
    ];
    let mut answers = Vec::new();
    for t in targets {
        answers.push(impact(&c, t).await);
    }
    assert_eq!(answers[0].verdict(), Verdict::Breaks);
    assert_eq!(answers[1].verdict(), Verdict::Breaks);
    for a in &answers[2..] {
        assert_eq!(a.verdict(), Verdict::Unknown, "{a:?}");
        let why = a.unknown.clone().unwrap_or_default();
        assert!(why.contains("lineage rate limit reached"), "{why}");
        assert!(
            !a.possible.is_empty(),
            "apps of the space as possible users"
        );
    }
    let reqs = lineage_requests(&sim);
    assert!(reqs.iter().filter(|r| r.status == 200).count() <= 2);
    // The 429 blocks the client: the fourth connection sends no lineage request at all.
    assert_eq!(reqs.len(), 3, "{reqs:?}");
    assert_eq!(reqs[2].status, 429);
}

#[tokio::test]
async fn server_errors_are_retried_then_reported_unknown_and_not_cached() {
    let sim = sim().await;
    sim.control.inject(
        Fault::Status(503),
        Some("GET"),
        "/api/v1/lineage-graphs/",
        3,
    );
    let c = admin(&sim);
    let i = impact(&c, SNOWFLAKE_WAREHOUSE).await;
    assert_eq!(i.verdict(), Verdict::Unknown, "{i:?}");
    assert!(i
        .unknown
        .as_deref()
        .unwrap_or("")
        .contains("lineage search failed"));
    assert_eq!(lineage_requests(&sim).len(), 3, "one try and two retries");
    let again = impact(&c, SNOWFLAKE_WAREHOUSE).await;
    assert_eq!(again.verdict(), Verdict::Breaks);
}

#[tokio::test]
async fn other_kinds_and_vanished_connections_are_unknown() {
    let sim = sim().await;
    let c = admin(&sim);
    let mut t = target("L1");
    t.target.kind = Kind::Logins;
    let i = c.impact(t).await;
    assert_eq!(i.verdict(), Verdict::Unknown);
    assert!(sim.control.requests().is_empty());
    let gone = impact(&c, "00000000-0000-4000-8000-000000000000").await;
    assert_eq!(gone.verdict(), Verdict::Unknown);
    assert!(gone
        .unknown
        .as_deref()
        .unwrap_or("")
        .contains("no longer exists"));
}

#[tokio::test]
async fn the_simulator_takes_raw_qris_and_serves_the_other_routes() {
    let sim = sim().await;
    let qri = sim.control.qri_of(SNOWFLAKE_WAREHOUSE).expect("qri");
    let http = reqwest::Client::new();
    let get = |path: String, token: &'static str| {
        let req = http
            .get(format!("{}{path}", sim.base_url))
            .bearer_auth(token);
        async move {
            let r = req.send().await.expect("send");
            let status = r.status().as_u16();
            let v: serde_json::Value = r.json().await.unwrap_or_default();
            (status, v)
        }
    };
    let base = "/api/v1/lineage-graphs/impact";
    let (s, raw) = get(format!("{base}/{qri}/overview?down=-1"), qsim::DEMO_TOKEN).await;
    assert_eq!(s, 200);
    assert_eq!(raw["graph"]["nodes"].as_object().map(|m| m.len()), Some(21));
    let (_, direct) = get(format!("{base}/{qri}/overview?down=1"), qsim::DEMO_TOKEN).await;
    assert_eq!(
        direct["graph"]["nodes"].as_object().map(|m| m.len()),
        Some(19)
    );
    let (s, source) = get(format!("{base}/{qri}/source"), qsim::DEMO_TOKEN).await;
    assert_eq!(s, 200);
    assert!(source["graphs"][0]["nodes"].get(&qri).is_some(), "{source}");
    let (s, _) = get(format!("{base}/{qri}/overview"), qsim::NON_ADMIN_TOKEN).await;
    assert_eq!(s, 403);
    let (s, body) = get(
        format!("{base}/qri%3Adb%3Anope%3A%2F%2Fx/overview"),
        qsim::DEMO_TOKEN,
    )
    .await;
    assert_eq!(s, 404);
    assert!(body["errors"][0]["title"].is_string(), "{body}");
    let (s, _) = get(format!("{base}/{qri}/overview?down=0"), qsim::DEMO_TOKEN).await;
    assert_eq!(s, 400);
    // The QRI is listed only with includeQris=true; get-one always has it.
    let (_, list) = get("/api/v1/data-connections?limit=5".into(), qsim::DEMO_TOKEN).await;
    assert!(list["data"][0].get("qri").is_none());
    let (_, list) = get(
        "/api/v1/data-connections?limit=5&includeQris=true".into(),
        qsim::DEMO_TOKEN,
    )
    .await;
    assert!(list["data"][0]["qri"].is_string());
    let (_, one) = get(
        format!("/api/v1/data-connections/{SNOWFLAKE_WAREHOUSE}"),
        qsim::DEMO_TOKEN,
    )
    .await;
    assert_eq!(one["qri"].as_str(), Some(qri.as_str()));
}

#[test]
fn the_lineage_budget_is_public_for_the_eta() {
    assert_eq!(LINEAGE_REQUESTS_PER_MINUTE, 20);
    assert_eq!(impact_eta(22), Duration::from_secs(60));
}
