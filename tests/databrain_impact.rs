//! Impact analysis of the Databrain client against the in-process simulator: a datasource
//! breaks its datamarts and (maybe) the data app's embeds, an unused one breaks nothing, a
//! datamart breaks its embeds, and every failure (HTTP error, `error` under 200, malformed
//! JSON, timeout, refused token) is "unknown" with the reason, never "none"; what was found
//! before a failure is kept.
// These run the built-in simulators, which need the `sim` feature (on by default).
#![cfg(feature = "sim")]
mod common {
    pub mod settings;
}

use dsconsole::impact::{targets_for, Impact, ImpactTarget, Verdict};
use dsconsole::model::{Kind, Ref, VendorId};
use dsconsole::sim::databrain::{self as dsim, DatabrainSim, SimFault, SimRequest};
use dsconsole::sim::faults::{Fault, FaultRule};
use dsconsole::sim::SimOptions;
use dsconsole::vendors::databrain::{DatabrainClient, EMBEDS_PATH, SPEC};
use dsconsole::vendors::{ClientSettings, VendorApi};
use std::collections::HashMap;
use std::time::Duration;

const DM_PATH: &str = "/api/v2/data-app/datamarts";

async fn sim() -> DatabrainSim {
    dsim::start(&SimOptions::default())
        .await
        .expect("simulator starts")
}

fn settings(sim: &DatabrainSim) -> ClientSettings {
    common::settings::client(
        "it-brain",
        VendorId::Databrain,
        &sim.base_url,
        dsim::DEMO_TOKEN,
    )
}

fn client(sim: &DatabrainSim) -> DatabrainClient {
    DatabrainClient::new(settings(sim)).expect("client")
}

fn target(kind: Kind, name: &str) -> ImpactTarget {
    ImpactTarget {
        target: Ref {
            kind,
            id: name.into(),
            name: name.into(),
        },
        through: Vec::new(),
        attached: HashMap::new(),
        attached_known: false,
    }
}

fn ds(name: &str) -> ImpactTarget {
    target(Kind::Datasources, name)
}

fn dm(name: &str) -> ImpactTarget {
    target(Kind::Datamarts, name)
}

fn on(sim: &DatabrainSim, path: &str) -> Vec<SimRequest> {
    sim.control
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path == path)
        .collect()
}

fn pages(reqs: &[SimRequest]) -> Vec<String> {
    reqs.iter()
        .map(|r| r.query_param("pageNumber").unwrap_or_default())
        .collect()
}

fn ids(i: &Impact, what: &str) -> Vec<String> {
    let mut v: Vec<String> = i
        .dependents
        .iter()
        .filter(|d| d.what == what)
        .map(|d| d.id.clone())
        .collect();
    v.sort();
    v
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[tokio::test]
async fn a_datasource_breaks_its_datamarts_and_maybe_the_data_apps_embeds() {
    let sim = sim().await;
    let c = client(&sim);
    let i = c.impact(ds("postgres-prod")).await;

    // The two datamarts on it are certain, in the data app the embeds name.
    assert_eq!(
        ids(&i, "datamart"),
        sorted(sim.control.users_of("postgres-prod"))
    );
    assert!(ids(&i, "datamart").len() >= 2);
    let app = sim.control.data_app();
    assert!(i
        .dependents
        .iter()
        .all(|d| d.container.as_deref() == Some(app.as_str())));
    // The list does not say which datamart an embed is built on: every embed of the data app
    // is a possible user, none a certain one.
    assert!(ids(&i, "embed").is_empty());
    let mut possible: Vec<String> = i.possible.iter().map(|d| d.id.clone()).collect();
    possible.sort();
    assert_eq!(possible, sorted(sim.control.embed_ids()));
    assert_eq!(i.unknown, None);
    assert_eq!(i.verdict(), Verdict::Breaks);
    assert!(i.at > 0);
    let summary = i.summary(SPEC.impact_container);
    assert!(
        summary.starts_with("breaks 2 datamarts in 1 data app; possible users: "),
        "{summary}"
    );
    // Sparse items (no name, no metadata) still get a readable name.
    let churn = i
        .possible
        .iter()
        .find(|d| d.id == "metric-churn-risk")
        .expect("sparse embed listed");
    assert_eq!(churn.name, "Churn Risk Score");

    // Both lists were paged until a short page, with the documented parameters.
    assert_eq!(pages(&on(&sim, DM_PATH)), ["1"]);
    let embed_reqs = on(&sim, EMBEDS_PATH);
    assert_eq!(pages(&embed_reqs), ["1", "2"]);
    assert!(embed_reqs
        .iter()
        .all(|r| r.query_param("isPagination").as_deref() == Some("true")));
    sim.shutdown();
}

#[tokio::test]
async fn embeds_that_name_their_datamart_are_certain_and_others_left_out() {
    let sim = sim().await;
    sim.control.set_embed_datamarts_listed(true);
    let c = client(&sim);
    let i = c.impact(ds("postgres-prod")).await;
    let marts = sim.control.users_of("postgres-prod");
    let expected: Vec<String> = marts
        .iter()
        .flat_map(|m| sim.control.embeds_of(m))
        .collect();
    assert!(expected.len() >= 4, "{expected:?}");
    assert_eq!(ids(&i, "embed"), sorted(expected));
    // Embeds on other datamarts are left out; the one that names no datamart may still use
    // it.
    let possible: Vec<&str> = i.possible.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(possible, ["dashboard-executive-summary"]);
    let via = i
        .dependents
        .iter()
        .find(|d| d.id == "dashboard-sales-overview")
        .and_then(|d| d.via.clone());
    assert_eq!(via.as_deref(), Some("datamart 'sales-analytics'"));
    assert_eq!(i.verdict(), Verdict::Breaks);
    assert_eq!(i.cell(), (marts.len() + ids(&i, "embed").len()).to_string());
    sim.shutdown();
}

#[tokio::test]
async fn an_unused_datasource_breaks_nothing_without_asking_for_embeds() {
    let sim = sim().await;
    let c = client(&sim);
    assert!(sim.control.users_of("mongodb-catalog").is_empty());
    let i = c.impact(ds("mongodb-catalog")).await;
    assert_eq!(i.verdict(), Verdict::None, "{i:?}");
    assert_eq!(i, Impact::none(i.at));
    assert!(on(&sim, EMBEDS_PATH).is_empty());
    // Names match exactly: a different case is another datasource.
    let i = c.impact(ds("POSTGRES-PROD")).await;
    assert_eq!(i.verdict(), Verdict::None);
    sim.shutdown();
}

#[tokio::test]
async fn an_http_error_is_unknown_never_none() {
    let sim = sim().await;
    // Three 500s: the first try and both retries of the read policy.
    sim.control.fail_next_on(DM_PATH, SimFault::Status(500), 3);
    let c = client(&sim);
    let i = c.impact(ds("mongodb-catalog")).await;
    assert_eq!(i.verdict(), Verdict::Unknown);
    let why = i.unknown.clone().unwrap_or_default();
    assert!(
        why.starts_with("the datamart list could not be read: Databrain: HTTP 500"),
        "{why}"
    );
    assert_eq!(on(&sim, DM_PATH).len(), 3, "retried under the read policy");
    assert_eq!(i.cell(), "?");

    // A failure is not remembered: the next answer asks again.
    let i = c.impact(ds("mongodb-catalog")).await;
    assert_eq!(i.verdict(), Verdict::None);

    // A datasource the last load linked to datamarts keeps them when the list fails now.
    let snap = c.load().await.expect("load");
    let t = targets_for(
        &snap.resources,
        &[Ref {
            kind: Kind::Datasources,
            id: "postgres-prod".into(),
            name: "postgres-prod".into(),
        }],
    )
    .remove(0);
    c.clear_impact_cache();
    sim.control.fail_next_on(
        DM_PATH,
        SimFault::Error {
            status: 403,
            code: "FORBIDDEN",
            message: "Forbidden",
        },
        1,
    );
    let i = c.impact(t).await;
    assert_eq!(
        ids(&i, "datamart"),
        sorted(sim.control.users_of("postgres-prod"))
    );
    assert_eq!(i.verdict(), Verdict::Breaks);
    let why = i.unknown.clone().unwrap_or_default();
    assert!(
        why.contains("from the last load") && why.contains("HTTP 403"),
        "{why}"
    );
    assert!(i.cell().ends_with("+?"));
    sim.shutdown();
}

#[tokio::test]
async fn broken_answers_and_refused_tokens_are_unknown_with_a_reason() {
    let sim = sim().await;
    let c = client(&sim);

    // 200 with a non-null `error`.
    sim.control.fail_next_on(
        DM_PATH,
        SimFault::OkWithError {
            code: "INTERNAL_SERVER_ERROR",
            message: "GQL or server-side error",
        },
        1,
    );
    let i = c.impact(ds("postgres-prod")).await;
    assert_eq!(i.verdict(), Verdict::Unknown);
    let why = i.unknown.clone().unwrap_or_default();
    assert!(why.contains("GQL or server-side error"), "{why}");

    // Malformed JSON.
    sim.control
        .fail_next_on(EMBEDS_PATH, SimFault::MalformedJson, 1);
    let i = c.impact(dm("sales-analytics")).await;
    assert_eq!(i.verdict(), Verdict::Unknown);
    assert!(
        i.unknown
            .as_deref()
            .is_some_and(|w| w.contains("unreadable response")),
        "{i:?}"
    );

    // A refused token: the reason says which secret, never its value.
    let bad = DatabrainClient::new(common::settings::client(
        "it-brain",
        VendorId::Databrain,
        &sim.base_url,
        "dbn_live_wrong_s3cret",
    ))
    .expect("client");
    let i = bad.impact(ds("postgres-prod")).await;
    let why = i.unknown.clone().unwrap_or_default();
    assert_eq!(i.verdict(), Verdict::Unknown);
    assert!(why.contains("service token was refused"), "{why}");
    assert!(!why.contains("s3cret"), "{why}");

    // Another kind: Databrain has none.
    let i = c.impact(target(Kind::Logins, "l")).await;
    assert_eq!(i.verdict(), Verdict::Unknown);
    sim.shutdown();
}

#[tokio::test]
async fn a_timeout_is_unknown() {
    let sim = sim().await;
    sim.control.set_latency(Duration::from_millis(800));
    let c =
        DatabrainClient::new(settings(&sim).timeout(Duration::from_millis(150))).expect("client");
    let i = c.impact(ds("postgres-prod")).await;
    assert_eq!(i.verdict(), Verdict::Unknown, "{i:?}");
    assert!(i.dependents.is_empty() && i.possible.is_empty());
    assert!(
        i.unknown
            .as_deref()
            .is_some_and(|w| w.starts_with("the datamart list could not be read")),
        "{i:?}"
    );
    sim.shutdown();
}

#[tokio::test]
async fn failing_embeds_keep_the_datamarts_and_say_why() {
    let sim = sim().await;
    sim.control.fail_next_on(
        EMBEDS_PATH,
        SimFault::OkWithError {
            code: "INTERNAL_SERVER_ERROR",
            message: "embeds unavailable",
        },
        1,
    );
    let c = client(&sim);
    let i = c.impact(ds("postgres-prod")).await;
    assert_eq!(
        ids(&i, "datamart"),
        sorted(sim.control.users_of("postgres-prod"))
    );
    assert!(i.possible.is_empty());
    assert_eq!(i.verdict(), Verdict::Breaks);
    let why = i.unknown.clone().unwrap_or_default();
    assert!(
        why.starts_with("the embeds of the data app could not be listed: ")
            && why.contains("embeds unavailable"),
        "{why}"
    );
    let summary = i.summary(SPEC.impact_container);
    assert!(
        summary.starts_with("breaks 2 datamarts (incomplete: the embeds"),
        "{summary}"
    );
    assert_eq!(i.cell(), "2+?");

    // A failing second page is a failure too, not a short list: the datamarts stay, the
    // embeds of page 1 are not offered as the whole answer.
    c.clear_impact_cache();
    sim.control.clear_requests();
    sim.control.faults.add(
        FaultRule::new(Fault::Status {
            status: 400,
            body: r#"{"error":{"code":"INVALID_REQUEST_BODY","message":"bad page"}}"#.into(),
            retry_after: None,
        })
        .path(EMBEDS_PATH)
        .every(2)
        .times(1),
    );
    let i = c.impact(ds("postgres-prod")).await;
    assert_eq!(pages(&on(&sim, EMBEDS_PATH)), ["1", "2"]);
    assert_eq!(ids(&i, "datamart").len(), 2);
    assert!(i.possible.is_empty(), "{:?}", i.possible);
    assert!(
        i.unknown.as_deref().is_some_and(|w| w.contains("bad page")),
        "{i:?}"
    );
    sim.shutdown();
}

#[tokio::test]
async fn embeds_are_paged_beyond_one_page() {
    let sim = sim().await;
    sim.control.set_embed_datamarts_listed(true);
    for n in 0..25 {
        assert!(sim.control.add_embed(
            &format!("dashboard-extra-{n:02}"),
            &format!("Extra {n}"),
            Some("ops-inventory"),
        ));
    }
    let total = sim.control.embed_ids().len();
    assert!(total > 3 * 10 && total < 4 * 10, "{total}");
    let c = client(&sim);
    let i = c.impact(dm("ops-inventory")).await;
    assert_eq!(ids(&i, "embed").len(), 25);
    assert_eq!(
        ids(&i, "embed"),
        sorted(sim.control.embeds_of("ops-inventory"))
    );
    assert_eq!(i.unknown, None);
    assert_eq!(pages(&on(&sim, EMBEDS_PATH)), ["1", "2", "3", "4"]);

    // Through the datasource: the datamart and its 25 embeds.
    let i = c.impact(ds("mssql-erp")).await;
    assert_eq!(ids(&i, "datamart"), ["ops-inventory"]);
    assert_eq!(ids(&i, "embed").len(), 25);
    sim.shutdown();
}

#[tokio::test]
async fn a_datamart_breaks_its_embeds() {
    let sim = sim().await;
    let c = client(&sim);

    // Unlinked list: every embed of the data app may use it; unknown, with the reason.
    let i = c.impact(dm("customer-360")).await;
    assert!(i.dependents.is_empty());
    assert_eq!(i.possible.len(), sim.control.embed_ids().len());
    assert_eq!(i.verdict(), Verdict::Unknown);
    let why = i.unknown.clone().unwrap_or_default();
    assert!(why.contains("may use it"), "{why}");

    // Linked list: exactly its own embeds, plus the one embed that names no datamart as a
    // possible user.
    sim.control.set_embed_datamarts_listed(true);
    c.clear_impact_cache();
    let i = c.impact(dm("customer-360")).await;
    assert_eq!(
        ids(&i, "embed"),
        sorted(sim.control.embeds_of("customer-360"))
    );
    assert!(i.dependents.iter().all(|d| d.via.is_none()));
    assert_eq!(i.possible.len(), 1);
    assert_eq!(i.verdict(), Verdict::Breaks);
    let i = c.impact(dm("ops-inventory")).await;
    assert!(i.dependents.is_empty());
    assert_eq!(i.possible.len(), 1);
    assert_eq!(i.verdict(), Verdict::Unknown, "{i:?}");

    // Every embed on another datamart: nothing; no embeds at all: nothing either.
    sim.control.clear_embeds();
    assert!(sim
        .control
        .add_embed("dashboard-x", "X", Some("sales-analytics")));
    c.clear_impact_cache();
    let i = c.impact(dm("customer-360")).await;
    assert_eq!(i.verdict(), Verdict::None, "{i:?}");
    sim.control.clear_embeds();
    c.clear_impact_cache();
    let i = c.impact(dm("customer-360")).await;
    assert_eq!(i.verdict(), Verdict::None, "{i:?}");
    sim.shutdown();
}

#[tokio::test]
async fn a_plan_reads_the_lists_once() {
    let sim = sim().await;
    let c = client(&sim);
    for name in ["postgres-prod", "snowflake-analytics", "mongodb-catalog"] {
        let _ = c.impact(ds(name)).await;
    }
    let _ = c.impact(dm("sales-analytics")).await;
    assert_eq!(pages(&on(&sim, DM_PATH)), ["1"]);
    assert_eq!(pages(&on(&sim, EMBEDS_PATH)), ["1", "2"]);
    sim.shutdown();
}

#[tokio::test]
async fn an_older_install_serves_embeds_on_the_camel_case_route() {
    let sim = sim().await;
    sim.control.set_kebab_datamart_route(false);
    let c = client(&sim);
    let i = c.impact(ds("postgres-prod")).await;
    assert_eq!(i.unknown, None, "{i:?}");
    assert_eq!(i.possible.len(), sim.control.embed_ids().len());
    assert_eq!(pages(&on(&sim, "/api/v2/dataApp/embeds")), ["1", "2"]);
    sim.shutdown();
}

#[tokio::test]
async fn embeds_fall_back_to_the_data_app_key_like_datamarts() {
    let sim = sim().await;
    sim.control.set_datamarts_require_app_key(true);
    let c = DatabrainClient::new(settings(&sim).secret_option(
        "data_app_key",
        secrecy::SecretString::from(dsim::DEMO_DATA_APP_KEY.to_string()),
    ))
    .expect("client");
    let i = c.impact(ds("postgres-prod")).await;
    assert_eq!(i.unknown, None, "{i:?}");
    assert_eq!(ids(&i, "datamart").len(), 2);
    assert_eq!(i.possible.len(), sim.control.embed_ids().len());
    let embeds = on(&sim, EMBEDS_PATH);
    assert_eq!(
        embeds.iter().map(|r| r.status).collect::<Vec<_>>(),
        [401, 200, 200],
        "token refused once, then the key for both pages"
    );
    assert_eq!(embeds[2].credential, dsim::Credential::DataAppKey);

    // Without a key, the refusal is the reason.
    let c = client(&sim);
    let i = c.impact(dm("sales-analytics")).await;
    assert_eq!(i.verdict(), Verdict::Unknown);
    assert!(
        i.unknown
            .as_deref()
            .is_some_and(|w| w.contains("HTTP 401") && !w.contains(dsim::DEMO_TOKEN)),
        "{i:?}"
    );
    sim.shutdown();
}
