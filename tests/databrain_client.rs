//! Integration tests of the Databrain client against the in-process simulator: paging to the
//! end, datamarts and in-use linking, deletes by (URL-encoded) name, the in-use and not-found
//! refusals, refused tokens, the data-app key fallback, the older datamart route, faults and
//! the read-only guard.
// These run the built-in simulators, which need the `sim` feature (on by default).
#![cfg(feature = "sim")]
mod common {
    pub mod settings;
}

use dsconsole::model::{CellCtx, CellTone, Kind, Ref, Resource, VendorId};
use dsconsole::sim::databrain::{self as dsim, Credential, DatabrainSim, SimFault, SimRequest};
use dsconsole::sim::SimOptions;
use dsconsole::vendors::databrain::{DatabrainClient, SPEC};
use dsconsole::vendors::{
    ApiError, CheckKind, ClientSettings, DeleteOutcome, HealthCheck, Snapshot, VendorApi,
};
use secrecy::SecretString;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

const DS_PATH: &str = "/api/v2/datasource";
const DM_PATH: &str = "/api/v2/data-app/datamarts";

async fn sim() -> DatabrainSim {
    dsim::start(&SimOptions::default())
        .await
        .expect("simulator starts")
}

fn settings(base_url: &str, token: &str, key: Option<&str>, read_only: bool) -> ClientSettings {
    let s = common::settings::client("it-brain", VendorId::Databrain, base_url, token)
        .read_only(read_only);
    match key {
        Some(k) => s.secret_option("data_app_key", SecretString::from(k.to_string())),
        None => s,
    }
}

fn client(sim: &DatabrainSim) -> DatabrainClient {
    DatabrainClient::new(settings(&sim.base_url, dsim::DEMO_TOKEN, None, false)).expect("client")
}

fn client_with_key(sim: &DatabrainSim) -> DatabrainClient {
    DatabrainClient::new(settings(
        &sim.base_url,
        dsim::DEMO_TOKEN,
        Some(dsim::DEMO_DATA_APP_KEY),
        false,
    ))
    .expect("client")
}

fn by_kind(snap: &Snapshot, kind: Kind) -> Vec<&Resource> {
    snap.resources.iter().filter(|r| r.kind == kind).collect()
}

fn find<'a>(snap: &'a Snapshot, kind: Kind, name: &str) -> &'a Resource {
    snap.resources
        .iter()
        .find(|r| r.kind == kind && r.name == name)
        .unwrap_or_else(|| panic!("{kind} '{name}' loaded"))
}

fn ds_ref(name: &str) -> Ref {
    Ref {
        kind: Kind::Datasources,
        id: name.into(),
        name: name.into(),
    }
}

fn on(sim: &DatabrainSim, method: &str, path: &str) -> Vec<SimRequest> {
    sim.control
        .requests()
        .into_iter()
        .filter(|r| r.method == method && r.path == path)
        .collect()
}

fn pages(reqs: &[SimRequest]) -> Vec<String> {
    reqs.iter()
        .map(|r| r.query_param("pageNumber").unwrap_or_default())
        .collect()
}

fn used_by_cell(r: &Resource) -> (String, CellTone) {
    let col = (SPEC.columns)(Kind::Datasources)
        .iter()
        .find(|c| c.title == "Used by")
        .expect("Used by column");
    let cell = (col.cell)(r, &CellCtx { now: 0 });
    (cell.text, cell.tone)
}

#[tokio::test]
async fn load_pages_to_the_end_and_links_datamarts_to_datasources() {
    let sim = sim().await;
    let c = client(&sim);
    let snap = c.load().await.expect("load");
    assert!(snap.warnings.is_empty(), "{:?}", snap.warnings);

    // Every datasource, across pages, by exact name.
    let names = sim.control.ids();
    assert!(names.len() > 10 && names.len() < 20, "seed spans two pages");
    let ours: Vec<String> = by_kind(&snap, Kind::Datasources)
        .iter()
        .map(|r| r.id.to_string())
        .collect();
    assert_eq!(ours, names, "all datasources, in list order");
    for r in by_kind(&snap, Kind::Datasources) {
        assert_eq!(r.name, r.id);
        assert_eq!(
            r.raw,
            serde_json::json!({ "name": r.name }),
            "raw is the list item"
        );
        assert_eq!(r.vendor, VendorId::Databrain);
        assert_eq!(r.profile, "it-brain");
    }
    // Pages 1 and 2 (short) of the datasource list; one (short) page of datamarts.
    let ds_reqs = on(&sim, "GET", DS_PATH);
    assert_eq!(pages(&ds_reqs), ["1", "2"]);
    assert!(ds_reqs
        .iter()
        .all(|r| r.query_param("isPagination").as_deref() == Some("true")
            && r.status == 200
            && r.credential == Credential::ServiceToken));
    assert_eq!(pages(&on(&sim, "GET", DM_PATH)), ["1"]);

    // Datamarts, each depending on the datasource its companyIntegration names.
    let marts = by_kind(&snap, Kind::Datamarts);
    assert_eq!(
        marts.iter().map(|m| m.id.clone()).collect::<Vec<_>>(),
        sim.control.datamart_names()
    );
    for m in &marts {
        let raw = sim.control.datamart(&m.id).expect("stored");
        assert_eq!(m.raw, raw);
        let ds = raw
            .pointer("/companyIntegration/name")
            .and_then(|v| v.as_str())
            .expect("datasource name");
        assert_eq!(m.depends_on, vec![ds_ref(ds)]);
        assert!(!m.is_orphan());
    }

    // used_by and orphans, checked against the simulator's own view.
    let mut in_use = 0;
    let mut shared = 0;
    for r in by_kind(&snap, Kind::Datasources) {
        let mut want = sim.control.users_of(&r.name);
        want.sort();
        let got: Vec<String> = r.used_by.iter().map(|u| u.name.to_string()).collect();
        assert_eq!(got, want, "used_by of {}", r.name);
        assert!(r.used_by.iter().all(|u| u.kind == Kind::Datamarts));
        assert_eq!(r.is_orphan(), want.is_empty(), "{}", r.name);
        let (text, tone) = used_by_cell(r);
        if want.is_empty() {
            assert_eq!((text.as_str(), tone), ("not used", CellTone::Dim));
        } else {
            in_use += 1;
            assert_eq!(
                text,
                format!("in use by {}: {}", want.len(), want.join(", ")),
                "{}",
                r.name
            );
            assert_eq!(tone, CellTone::Warn);
        }
        if want.len() >= 2 {
            shared += 1;
        }
    }
    assert!(in_use >= 3, "the seed has datasources in use");
    assert!(
        shared >= 1,
        "the seed has a datasource used by two datamarts"
    );
    assert!(by_kind(&snap, Kind::Datasources)
        .iter()
        .any(|r| r.is_orphan()));
}

#[tokio::test]
async fn a_full_last_page_is_followed_by_an_empty_one() {
    let sim = sim().await;
    let mut n = 0;
    while sim.control.ids().len() < 20 {
        n += 1;
        assert!(sim
            .control
            .add_datasource(&format!("extra-{n:02}"), "postgres"));
    }
    // 13 datamarts: one full page and a short one.
    let first = sim.control.ids()[0].clone();
    while sim.control.datamart_names().len() < 13 {
        n += 1;
        assert!(sim.control.add_datamart(&format!("mart-{n:02}"), &first));
    }
    let c = client(&sim);
    let snap = c.load().await.expect("load");
    assert!(snap.warnings.is_empty(), "{:?}", snap.warnings);
    assert_eq!(by_kind(&snap, Kind::Datasources).len(), 20);
    assert_eq!(by_kind(&snap, Kind::Datamarts).len(), 13);
    assert_eq!(pages(&on(&sim, "GET", DS_PATH)), ["1", "2", "3"]);
    assert_eq!(pages(&on(&sim, "GET", DM_PATH)), ["1", "2"]);
    // The datamarts of the second page are linked too.
    let users = sim.control.users_of(&first);
    assert!(users.len() >= 8, "{users:?}");
    assert_eq!(
        find(&snap, Kind::Datasources, &first).used_by.len(),
        users.len()
    );
}

#[tokio::test]
async fn a_server_repeating_page_one_stops_paging_with_a_warning() {
    let sim = sim().await;
    sim.control.set_ignore_page_number(true);
    let c = client(&sim);
    let snap = c.load().await.expect("load still works");
    // Two requests: page 2 repeated page 1, nothing was duplicated, the cut is reported.
    assert_eq!(pages(&on(&sim, "GET", DS_PATH)), ["1", "2"]);
    let ds = by_kind(&snap, Kind::Datasources);
    assert_eq!(ds.len(), 10);
    let unique: HashSet<&str> = ds.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(unique.len(), 10);
    assert_eq!(snap.warnings.len(), 1, "{:?}", snap.warnings);
    assert!(
        snap.warnings[0].contains("page 2 of the datasource list repeated earlier items"),
        "{}",
        snap.warnings[0]
    );
}

#[tokio::test]
async fn deleting_an_unused_datasource_removes_it() {
    let sim = sim().await;
    let c = client(&sim);
    let snap = c.load().await.expect("load");
    let victim = by_kind(&snap, Kind::Datasources)
        .into_iter()
        .find(|r| r.is_orphan())
        .expect("an unused datasource")
        .id
        .clone();
    sim.control.clear_requests();
    assert_eq!(
        c.delete(ds_ref(&victim)).await.expect("delete"),
        DeleteOutcome::Deleted
    );
    assert!(!sim.control.contains(&victim));
    let reqs = sim.control.requests();
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    assert_eq!(reqs[0].method, "DELETE");
    assert_eq!(reqs[0].path, DS_PATH);
    assert_eq!(
        reqs[0].query_param("datasourceName").as_deref(),
        Some(victim.as_str())
    );
    assert_eq!(reqs[0].credential, Credential::ServiceToken);

    let snap = c.load().await.expect("reload");
    assert!(by_kind(&snap, Kind::Datasources)
        .iter()
        .all(|r| r.id != victim));
}

#[tokio::test]
async fn names_are_url_encoded_exactly() {
    let sim = sim().await;
    let odd = "finance & ops / eu+1 = 100% (ü)?#";
    assert!(sim.control.add_datasource(odd, "postgres"));
    let c = client(&sim);
    let snap = c.load().await.expect("load");
    assert_eq!(find(&snap, Kind::Datasources, odd).id, odd);
    sim.control.clear_requests();
    assert_eq!(
        c.delete(ds_ref(odd)).await.expect("delete"),
        DeleteOutcome::Deleted
    );
    assert!(!sim.control.contains(odd));
    let del = on(&sim, "DELETE", DS_PATH);
    assert_eq!(del[0].query_param("datasourceName").as_deref(), Some(odd));
    assert!(!del[0].query.contains(' ') && !del[0].query.contains('+'));
}

#[tokio::test]
async fn an_in_use_datasource_is_refused_with_its_datamarts_named() {
    let sim = sim().await;
    let c = client(&sim);
    let snap = c.load().await.expect("load");
    let shared = by_kind(&snap, Kind::Datasources)
        .into_iter()
        .find(|r| r.used_by.len() >= 2)
        .expect("a shared datasource");
    let name = shared.id.clone();
    let mut users = sim.control.users_of(&name);
    users.sort();

    let err = c.delete(ds_ref(&name)).await.unwrap_err();
    assert_eq!(err.status(), Some(400));
    assert_eq!(err.code(), Some("DATASOURCE_IN_USE"));
    assert!(!err.is_transient());
    assert_eq!(
        err.to_string(),
        format!(
            "Databrain: HTTP 400 DATASOURCE_IN_USE: datasource '{name}' is used by datamarts \
             '{}', '{}'; the server refuses to delete it (delete those datamarts in Databrain \
             first) (server said: Datasource is being used by other resources)",
            users[0], users[1]
        )
    );
    assert!(sim.control.contains(&name), "still there");

    // A client that never loaded cannot name them, but still says why.
    let fresh = client(&sim);
    let err = fresh.delete(ds_ref(&name)).await.unwrap_err();
    assert!(
        err.to_string().contains(&format!(
            "datasource '{name}' is used by one or more datamarts"
        )),
        "{err}"
    );

    // Once its datamarts are gone the datasource can be deleted.
    for u in &users {
        assert!(sim.control.remove_datamart(u));
    }
    assert_eq!(
        c.delete(ds_ref(&name)).await.expect("delete"),
        DeleteOutcome::Deleted
    );
    assert!(!sim.control.contains(&name));
}

#[tokio::test]
async fn not_found_counts_as_already_gone_only_when_the_list_confirms_it() {
    let sim = sim().await;
    let c = client(&sim);
    // Not there at all: the server's DATASOURCE_NAME_ERROR, confirmed by the list.
    assert_eq!(
        c.delete(ds_ref("never-existed")).await.expect("gone"),
        DeleteOutcome::AlreadyGone
    );
    let reqs = sim.control.requests();
    assert_eq!(reqs[0].method, "DELETE");
    assert_eq!(reqs[0].status, 400);
    assert_eq!(pages(&on(&sim, "GET", DS_PATH)), ["1", "2"]);

    // Names match exactly: a different case is another (missing) datasource.
    let upper = sim.control.ids()[0].to_uppercase();
    assert_eq!(
        c.delete(ds_ref(&upper)).await.expect("gone"),
        DeleteOutcome::AlreadyGone
    );
    assert!(sim.control.contains(&sim.control.ids()[0]));

    // The server says "not found" but the list still has it: not counted as gone.
    let unused = sim
        .control
        .ids()
        .into_iter()
        .find(|n| sim.control.users_of(n).is_empty())
        .expect("unused datasource");
    sim.control.fail_next_on(
        DS_PATH,
        SimFault::Error {
            status: 400,
            code: "DATASOURCE_NAME_ERROR",
            message: "Datasource not found",
        },
        1,
    );
    let err = c.delete(ds_ref(&unused)).await.unwrap_err();
    assert_eq!(err.code(), Some("DATASOURCE_NAME_ERROR"));
    assert!(
        err.to_string().contains(&format!(
            "the server answered that datasource '{unused}' was not found (server said: \
             Datasource not found), but it is still in the datasource list; it was not deleted"
        )),
        "{err}"
    );
    assert!(sim.control.contains(&unused));

    // Not found, and the confirming list fails: an error, not "already gone".
    sim.control.fail_next_on(
        DS_PATH,
        SimFault::Error {
            status: 400,
            code: "DATASOURCE_NAME_ERROR",
            message: "Datasource not found",
        },
        1,
    );
    sim.control.fail_next_on(DS_PATH, SimFault::HtmlPage, 3);
    let err = c.delete(ds_ref("also-missing")).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("could not be confirmed because the datasource list failed"),
        "{err}"
    );
    assert!(err.to_string().contains("502 Bad Gateway"), "{err}");
}

#[tokio::test]
async fn a_refused_token_is_explained_and_never_shown() {
    let sim = sim().await;
    let bad = "dbn_live_wrong_token_123";
    let c = DatabrainClient::new(settings(&sim.base_url, bad, None, false)).unwrap();
    let err = c.load().await.unwrap_err();
    assert_eq!(err.status(), Some(401));
    assert_eq!(err.code(), Some("AUTHENTICATION_ERROR"));
    let text = err.to_string();
    assert!(
        text.starts_with(
            "Databrain: HTTP 401 AUTHENTICATION_ERROR: the service token was refused (server \
             said: Invalid Service Token); use an org-level service token"
        ),
        "{text}"
    );
    assert!(!text.contains(bad), "{text}");
    // Not retried.
    assert_eq!(on(&sim, "GET", DS_PATH).len(), 1);

    let err = c.delete(ds_ref("postgres-staging")).await.unwrap_err();
    assert_eq!(err.code(), Some("AUTHENTICATION_ERROR"));
    assert!(
        err.to_string().contains("the service token was refused"),
        "{err}"
    );
    assert!(sim.control.contains("postgres-staging"));

    // A data-app key is not a service token.
    let c = DatabrainClient::new(settings(
        &sim.base_url,
        dsim::DEMO_DATA_APP_KEY,
        None,
        false,
    ))
    .unwrap();
    let err = c.load().await.unwrap_err();
    assert!(
        err.to_string()
            .contains("a data-app API key does not work here"),
        "{err}"
    );
}

#[tokio::test]
async fn datamarts_fall_back_to_the_data_app_key() {
    let sim = sim().await;
    sim.control.set_datamarts_require_app_key(true);
    let c = client_with_key(&sim);
    let snap = c.load().await.expect("load");
    assert!(snap.warnings.is_empty(), "{:?}", snap.warnings);
    assert_eq!(
        by_kind(&snap, Kind::Datamarts).len(),
        sim.control.datamart_names().len()
    );
    let dm: Vec<(Credential, u16)> = on(&sim, "GET", DM_PATH)
        .iter()
        .map(|r| (r.credential, r.status))
        .collect();
    assert_eq!(
        dm,
        [
            (Credential::ServiceToken, 401),
            (Credential::DataAppKey, 200)
        ]
    );
    // The datasource list always uses the service token.
    assert!(on(&sim, "GET", DS_PATH)
        .iter()
        .all(|r| r.credential == Credential::ServiceToken));

    // The next load goes straight to the key.
    sim.control.clear_requests();
    c.load().await.expect("reload");
    let dm: Vec<Credential> = on(&sim, "GET", DM_PATH)
        .iter()
        .map(|r| r.credential)
        .collect();
    assert_eq!(dm, [Credential::DataAppKey]);
}

#[tokio::test]
async fn without_datamarts_the_load_works_and_in_use_is_unknown() {
    let sim = sim().await;
    sim.control.set_datamarts_require_app_key(true);
    let c = client(&sim);
    let snap = c.load().await.expect("load still works");
    assert!(by_kind(&snap, Kind::Datamarts).is_empty());
    let ds = by_kind(&snap, Kind::Datasources);
    assert_eq!(ds.len(), sim.control.ids().len());
    assert!(
        ds.iter().all(|r| !r.is_orphan()),
        "unknown use is not 'unused'"
    );
    assert!(ds.iter().all(|r| used_by_cell(r).0 == "? unknown"));
    assert_eq!(snap.warnings.len(), 1, "{:?}", snap.warnings);
    let w = &snap.warnings[0];
    assert!(
        w.starts_with(
            "it-brain: datamarts could not be listed, so which datasources are in use is unknown"
        ),
        "{w}"
    );
    assert!(w.contains("AUTHENTICATION_ERROR"), "{w}");

    // A wrong data-app key too: still a warning, naming both refusals.
    let c = DatabrainClient::new(settings(
        &sim.base_url,
        dsim::DEMO_TOKEN,
        Some("dbn_app_wrong"),
        false,
    ))
    .unwrap();
    let snap = c.load().await.expect("load");
    assert!(
        snap.warnings[0].contains("the data-app API key was refused")
            && snap.warnings[0].contains("the service token was refused as well"),
        "{:?}",
        snap.warnings
    );

    // Datamart list failing on the server (after retries): same.
    sim.control.set_datamarts_require_app_key(false);
    sim.control.fail_next_on(DM_PATH, SimFault::Status(500), 3);
    let snap = client(&sim).load().await.expect("load");
    assert!(by_kind(&snap, Kind::Datasources)
        .iter()
        .all(|r| !r.is_orphan()));
    assert!(
        snap.warnings[0].contains("HTTP 500 INTERNAL_SERVER_ERROR"),
        "{:?}",
        snap.warnings
    );
}

#[tokio::test]
async fn the_older_camel_case_datamart_route_is_used_when_needed() {
    let sim = sim().await;
    sim.control.set_kebab_datamart_route(false);
    let c = client(&sim);
    let snap = c.load().await.expect("load");
    assert!(snap.warnings.is_empty(), "{:?}", snap.warnings);
    assert_eq!(
        by_kind(&snap, Kind::Datamarts).len(),
        sim.control.datamart_names().len()
    );
    assert_eq!(on(&sim, "GET", DM_PATH)[0].status, 404);
    assert_eq!(on(&sim, "GET", "/api/v2/dataApp/datamarts").len(), 1);
    // Remembered: the missing route is not asked again.
    sim.control.clear_requests();
    c.load().await.expect("reload");
    assert!(on(&sim, "GET", DM_PATH).is_empty());
}

#[tokio::test]
async fn an_older_install_refusing_the_token_still_gets_the_data_app_key() {
    let sim = sim().await;
    sim.control.set_kebab_datamart_route(false);
    sim.control.set_datamarts_require_app_key(true);
    let c = client_with_key(&sim);
    let snap = c.load().await.expect("load");
    assert!(snap.warnings.is_empty(), "{:?}", snap.warnings);
    assert_eq!(
        by_kind(&snap, Kind::Datamarts).len(),
        sim.control.datamart_names().len()
    );
    let legacy: Vec<(Credential, u16)> = on(&sim, "GET", "/api/v2/dataApp/datamarts")
        .iter()
        .map(|r| (r.credential, r.status))
        .collect();
    assert_eq!(
        legacy,
        [
            (Credential::ServiceToken, 401),
            (Credential::DataAppKey, 200)
        ]
    );
}

#[tokio::test]
async fn transient_failures_of_lists_are_retried() {
    let sim = sim().await;
    sim.control.fail_next_on(DS_PATH, SimFault::Status(503), 2);
    sim.control.fail_next_on(
        DM_PATH,
        SimFault::RateLimited {
            retry_after_secs: 0,
        },
        1,
    );
    let c = client(&sim);
    let snap = c.load().await.expect("load after retries");
    assert!(snap.warnings.is_empty(), "{:?}", snap.warnings);
    assert_eq!(
        by_kind(&snap, Kind::Datasources).len(),
        sim.control.ids().len()
    );
    let statuses: Vec<u16> = on(&sim, "GET", DS_PATH).iter().map(|r| r.status).collect();
    assert_eq!(statuses, [503, 503, 200, 200]);
    let statuses: Vec<u16> = on(&sim, "GET", DM_PATH).iter().map(|r| r.status).collect();
    assert_eq!(statuses, [429, 200]);
}

#[tokio::test]
async fn broken_answers_become_one_sentence() {
    let sim = sim().await;
    let c = client(&sim);

    // A proxy's HTML page, three times (first try and two retries).
    sim.control.fail_next_on(DS_PATH, SimFault::HtmlPage, 3);
    let err = c.load().await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "Databrain: HTTP 502: non-JSON response (text/html): 502 Bad Gateway"
    );

    // Malformed JSON with 200: a decode error, not retried.
    sim.control.clear_requests();
    sim.control
        .fail_next_on(DS_PATH, SimFault::MalformedJson, 1);
    let err = c.load().await.unwrap_err();
    assert!(
        matches!(err, ApiError::Decode { status: 200, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("unreadable response"), "{err}");
    assert_eq!(on(&sim, "GET", DS_PATH).len(), 1);

    // A wrong base URL: Express's HTML 404, with a hint.
    let wrong = DatabrainClient::new(settings(
        &format!("{}/databrain", sim.base_url),
        dsim::DEMO_TOKEN,
        None,
        false,
    ))
    .unwrap();
    let err = wrong.load().await.unwrap_err();
    assert_eq!(err.status(), Some(404));
    assert!(err.to_string().contains("check base_url"), "{err}");
}

#[tokio::test]
async fn deletes_are_never_retried_by_the_client_and_unclear_answers_say_so() {
    let sim = sim().await;
    let c = client(&sim);
    sim.control.fail_next_on(DS_PATH, SimFault::Status(500), 1);
    let err = c.delete(ds_ref("postgres-staging")).await.unwrap_err();
    assert_eq!(err.status(), Some(500));
    assert_eq!(err.code(), Some("INTERNAL_SERVER_ERROR"));
    assert!(err.is_transient(), "the executor decides whether to retry");
    assert_eq!(on(&sim, "DELETE", DS_PATH).len(), 1);

    // 200 with a body that is not JSON: whether it was deleted is unknown.
    sim.control
        .fail_next_on(DS_PATH, SimFault::MalformedJson, 1);
    let err = c.delete(ds_ref("postgres-staging")).await.unwrap_err();
    assert!(matches!(err, ApiError::Decode { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("whether it was deleted is unknown"),
        "{err}"
    );

    // Missing name parameter is the server's INVALID_REQUEST_BODY: sent only for a real
    // name, so here a direct request shows the simulator's answer.
    let resp = reqwest::Client::new()
        .delete(format!("{}{DS_PATH}", sim.base_url))
        .bearer_auth(dsim::DEMO_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "INVALID_REQUEST_BODY");
}

#[tokio::test]
async fn a_delete_whose_answer_was_lost_is_not_claimed() {
    use dsconsole::sim::faults::{Fault, FaultRule};
    let sim = sim().await;
    let c = client(&sim);
    // The server deletes, then the connection drops before the answer.
    sim.control.faults.add(
        FaultRule::new(Fault::Reset)
            .method("DELETE")
            .path(DS_PATH)
            .after()
            .times(1),
    );
    let err = c.delete(ds_ref("postgres-staging")).await.unwrap_err();
    assert!(matches!(err, ApiError::Transport { .. }), "{err:?}");
    assert!(!sim.control.contains("postgres-staging"));
    // The executor's retry then learns it is gone, confirmed by the list.
    assert_eq!(
        c.delete(ds_ref("postgres-staging")).await.expect("retry"),
        DeleteOutcome::AlreadyGone
    );
    assert_eq!(sim.control.faults.fired(), 1);
}

#[tokio::test]
async fn read_only_profiles_list_but_never_delete() {
    let sim = sim().await;
    let c = DatabrainClient::new(settings(&sim.base_url, dsim::DEMO_TOKEN, None, true)).unwrap();
    c.load().await.expect("reads are allowed");
    sim.control.clear_requests();
    let err = c.delete(ds_ref("postgres-staging")).await.unwrap_err();
    assert!(matches!(err, ApiError::ReadOnly { .. }), "{err:?}");
    assert!(sim.control.requests().is_empty());
    assert!(sim.control.contains("postgres-staging"));
}

#[tokio::test]
async fn get_searches_the_lists() {
    let sim = sim().await;
    let c = client(&sim);
    let shared = sim
        .control
        .ids()
        .into_iter()
        .find(|n| sim.control.users_of(n).len() >= 2)
        .expect("shared datasource");
    let r = c.get(ds_ref(&shared)).await.expect("get");
    assert_eq!(r.id, shared);
    let mut want = sim.control.users_of(&shared);
    want.sort();
    assert_eq!(
        r.used_by.iter().map(|u| u.name.clone()).collect::<Vec<_>>(),
        want
    );
    assert!(!r.is_orphan());

    let mart = sim.control.datamart_names()[0].clone();
    let m = c
        .get(Ref {
            kind: Kind::Datamarts,
            id: mart.clone().into(),
            name: mart.clone().into(),
        })
        .await
        .expect("get datamart");
    assert_eq!(Some(m.raw.value()), sim.control.datamart(&mart));

    let err = c.get(ds_ref("nope")).await.unwrap_err();
    assert_eq!(err.status(), Some(404));
    assert!(
        err.to_string()
            .contains("'nope' is not in the datasource list"),
        "{err}"
    );
}

#[tokio::test]
async fn base_url_with_api_suffix_works() {
    let sim = sim().await;
    let c = DatabrainClient::new(settings(
        &format!("{}/api/v2/", sim.base_url),
        dsim::DEMO_TOKEN,
        None,
        false,
    ))
    .unwrap();
    let snap = c.load().await.expect("load");
    assert_eq!(
        by_kind(&snap, Kind::Datasources).len(),
        sim.control.ids().len()
    );
}

#[tokio::test]
async fn bulk_delete_of_unused_datasources_leaves_exactly_the_rest() {
    let sim = sim().await;
    let c = client(&sim);
    let snap = c.load().await.expect("load");
    let before: HashSet<String> = sim.control.ids().into_iter().collect();
    let targets: Vec<Ref> = by_kind(&snap, Kind::Datasources)
        .iter()
        .map(|r| r.as_ref())
        .collect();
    let results = c.delete_batch(targets.clone()).await;
    let mut outcome: HashMap<String, bool> = HashMap::new();
    for (t, r) in targets.iter().zip(&results) {
        match r {
            Ok(o) => {
                assert_eq!(*o, DeleteOutcome::Deleted, "{}", t.name);
                outcome.insert(t.id.to_string(), true);
            }
            Err(e) => {
                assert_eq!(e.code(), Some("DATASOURCE_IN_USE"), "{}: {e}", t.name);
                outcome.insert(t.id.to_string(), false);
            }
        }
    }
    let after: HashSet<String> = sim.control.ids().into_iter().collect();
    for name in &before {
        let in_use = !sim.control.users_of(name).is_empty();
        assert_eq!(after.contains(name), in_use, "{name}");
        assert_eq!(outcome[name], !in_use, "{name}");
    }
}

// ---------------------------------------------------------------------------------------------
// Health check: sync and its progress
// ---------------------------------------------------------------------------------------------

const SYNC: &str = "/api/v2/datasource/sync";
const PROGRESS: &str = "/api/v2/datasource/getDatasourceProgress";

/// A client that knows the UUIDs of every seeded datasource (`datasource_ids`), polling
/// every 10 ms for at most `bound`.
fn sync_client(sim: &DatabrainSim, read_only: bool, bound: Duration) -> DatabrainClient {
    let ids: Vec<String> = sim
        .control
        .ids()
        .iter()
        .filter_map(|n| sim.control.uuid_of(n).map(|u| format!("{n}={u}")))
        .collect();
    let s = settings(&sim.base_url, dsim::DEMO_TOKEN, None, read_only)
        .option("datasource_ids", ids.join(", "));
    DatabrainClient::new(s)
        .expect("client")
        .with_sync_pacing(Duration::from_millis(10), bound)
}

fn first_datasource(sim: &DatabrainSim) -> String {
    sim.control.ids().into_iter().next().expect("a datasource")
}

#[tokio::test]
async fn sync_succeeds_after_progress_polls_and_a_reload_shows_it() {
    let sim = sim().await;
    sim.control.set_sync_steps(4);
    let c = sync_client(&sim, false, Duration::from_secs(10));
    let name = first_datasource(&sim);
    let check = c.check_health(ds_ref(&name)).await.expect("sync runs");
    assert_eq!(
        check,
        HealthCheck::Passed {
            check: CheckKind::Sync,
            detail: Some("16/16".into())
        }
    );
    assert_eq!(on(&sim, "POST", SYNC).len(), 1);
    assert_eq!(on(&sim, "POST", PROGRESS).len(), 4, "polled until done");
    assert_eq!(
        sim.control.datasource(&name).expect("there")["lastSync"]["status"],
        "SUCCESS"
    );
    let snap = c.load().await.expect("load");
    let sync = find(&snap, Kind::Datasources, &name)
        .sync
        .clone()
        .expect("sync shown after a reload");
    assert_eq!(sync.status.as_deref(), Some("SUCCESS"));
}

#[tokio::test]
async fn a_failing_sync_reports_the_vendors_error() {
    let sim = sim().await;
    let name = first_datasource(&sim);
    sim.control
        .set_sync_failure(&name, Some("Error: Bind error data type"));
    let c = sync_client(&sim, false, Duration::from_secs(10));
    let check = c.check_health(ds_ref(&name)).await.expect("sync runs");
    assert_eq!(
        check,
        HealthCheck::Failed {
            check: CheckKind::Sync,
            reason: "Error: Bind error data type".into()
        }
    );
    let snap = c.load().await.expect("load");
    let sync = find(&snap, Kind::Datasources, &name)
        .sync
        .clone()
        .expect("sync");
    assert!(sync.is_failed(), "{sync:?}");
    assert_eq!(sync.error.as_deref(), Some("Error: Bind error data type"));
}

#[tokio::test]
async fn a_sync_still_running_at_the_bound_is_neither_passed_nor_failed() {
    let sim = sim().await;
    sim.control.set_sync_steps(1000);
    let c = sync_client(&sim, false, Duration::from_millis(60));
    let name = first_datasource(&sim);
    let started = std::time::Instant::now();
    let check = c.check_health(ds_ref(&name)).await.expect("sync runs");
    assert!(
        matches!(&check, HealthCheck::Running { check: CheckKind::Sync, progress } if progress.ends_with("/16")),
        "{check:?}"
    );
    assert_eq!(check.health(), None);
    assert!(started.elapsed() < Duration::from_secs(5));
    let polls = on(&sim, "POST", PROGRESS).len();
    assert!((1..=8).contains(&polls), "paced: {polls} polls");
}

#[tokio::test]
async fn sync_errors_5xx_unknown_ids_and_malformed_progress() {
    let sim = sim().await;
    let c = sync_client(&sim, false, Duration::from_secs(10));
    let name = first_datasource(&sim);

    sim.control.fail_next_on(SYNC, SimFault::Status(500), 1);
    let err = c.check_health(ds_ref(&name)).await.unwrap_err();
    assert_eq!(err.status(), Some(500), "{err}");
    assert_eq!(on(&sim, "POST", SYNC).len(), 1, "a sync is never retried");

    sim.control
        .fail_next_on(PROGRESS, SimFault::MalformedJson, 1);
    assert!(matches!(
        c.check_health(ds_ref(&name)).await,
        Err(ApiError::Decode { .. })
    ));
    sim.control.fail_next_on(PROGRESS, SimFault::HtmlPage, 1);
    assert!(c.check_health(ds_ref(&name)).await.is_err());
    sim.control.fail_next_on(
        SYNC,
        SimFault::OkWithError {
            code: "INTERNAL_SERVER_ERROR",
            message: "GQL error",
        },
        1,
    );
    assert!(c.check_health(ds_ref(&name)).await.is_err());

    // A UUID the server does not know.
    let err = c
        .check_health(ds_ref("00000000-0000-4000-8000-000000000000"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("DATASOURCE_ID_ERROR"), "{err}");

    // No UUID known for the name: nothing is sent, the profile key is named.
    let plain = client(&sim);
    sim.control.clear_requests();
    let err = plain.check_health(ds_ref(&name)).await.unwrap_err();
    assert!(err.to_string().contains("datasource_ids"), "{err}");
    assert!(sim.control.requests().is_empty());

    // Datamarts have no check.
    let mut dm = ds_ref("x");
    dm.kind = Kind::Datamarts;
    assert_eq!(c.check_health(dm).await, Ok(HealthCheck::NotOffered));
}

#[tokio::test]
async fn read_only_profiles_may_sync() {
    let sim = sim().await;
    sim.control.set_sync_steps(2);
    let c = sync_client(&sim, true, Duration::from_secs(10));
    let name = first_datasource(&sim);
    assert!(matches!(
        c.check_health(ds_ref(&name)).await,
        Ok(HealthCheck::Passed { .. })
    ));
    assert!(matches!(
        c.delete(ds_ref(&name)).await.unwrap_err(),
        ApiError::ReadOnly { .. }
    ));
}

// ---- Changing instead of deleting (issue 16) ------------------------------------------------

use dsconsole::vendors::change::{Change, FieldValue};
use serde_json::json;

fn secret(value: &str) -> FieldValue {
    FieldValue::Secret(SecretString::from(value.to_string()))
}

fn text(field: &str, value: &str) -> Change {
    Change::default().set(field, FieldValue::Text(value.into()))
}

fn puts(sim: &DatabrainSim) -> Vec<SimRequest> {
    sim.control
        .requests()
        .into_iter()
        .filter(|r| r.method == "PUT")
        .collect()
}

/// A full Postgres change, as an operator gives it when the list shows names only.
fn full_postgres(password: &str) -> Change {
    text("datasource_type", "postgres")
        .set(
            "host",
            FieldValue::Text("pg-new.internal.example.com".into()),
        )
        .set("port", FieldValue::Text("6432".into()))
        .set("database", FieldValue::Text("app".into()))
        .set("username", FieldValue::Text("databrain_ro".into()))
        .set("password", secret(password))
}

#[tokio::test]
async fn a_full_credential_change_is_one_put_and_the_object_is_read_again() {
    let sim = sim().await;
    let c = client(&sim);
    let change = full_postgres("n3w-s3cret-5");
    assert!(!format!("{change:?}").contains("n3w-s3cret-5"));
    let after = c
        .update(ds_ref("postgres-prod"), change)
        .await
        .expect("changed");
    assert_eq!(after.id, "postgres-prod");
    assert!(
        !after.raw.as_str().contains("n3w-s3cret-5"),
        "no secret back"
    );
    let rec = sim.control.datasource("postgres-prod").expect("record");
    assert_eq!(
        rec["credentials"],
        json!({"name":"postgres-prod","host":"pg-new.internal.example.com","port":6432,
               "database":"app","username":"databrain_ro","password":"n3w-s3cret-5"})
    );
    assert_eq!(
        sim.control.updates(),
        vec![json!({"datasourceType":"postgres","credentials":rec["credentials"].clone()})],
        "no tenancySettings: kept as they were"
    );
    assert!(rec["tenancySettings"].is_object());
    assert_eq!(puts(&sim).len(), 1);
    assert!(SPEC.update_tests_credentials);
}

#[tokio::test]
async fn fields_not_given_come_from_the_list_when_it_shows_them() {
    let sim = sim().await;
    sim.control.set_list_details(true);
    let c = client(&sim);
    // Only the password and the port: the rest (and the type) from the list item.
    let after = c
        .update(
            ds_ref("redshift-marketing"),
            Change::default()
                .set("password", secret("rs-s3cret"))
                .set("port", FieldValue::Text("5440".into())),
        )
        .await
        .expect("changed");
    assert_eq!(
        after.raw.value()["port"],
        5440,
        "read again: {}",
        after.raw.as_str()
    );
    assert!(!after.raw.as_str().contains("rs-s3cret"));
    let body = sim.control.updates().pop().expect("a put");
    assert_eq!(body["datasourceType"], "redshift");
    assert_eq!(
        body["credentials"],
        json!({"name":"redshift-marketing",
               "host":"marketing.c9akciq32.eu-west-1.redshift.amazonaws.com","port":5440,
               "database":"marketing","username":"bi_reader","password":"rs-s3cret",
               "schema":"public"})
    );
}

#[tokio::test]
async fn a_failed_credential_test_is_refused_in_databrains_words_and_changes_nothing() {
    let sim = sim().await;
    let c = client(&sim);
    let before = sim.control.datasource("postgres-prod").expect("record");
    sim.control
        .set_expected_password("postgres-prod", Some("the-right-one"));
    let err = c
        .update(ds_ref("postgres-prod"), full_postgres("the-wrong-one"))
        .await
        .expect_err("credential test fails");
    assert_eq!(err.status(), Some(400), "{err}");
    assert_eq!(err.code(), Some("CREDENTIAL_TEST_FAILED"), "{err}");
    assert!(
        err.to_string()
            .contains("password authentication failed for user \"databrain_ro\""),
        "{err}"
    );
    assert!(!err.to_string().contains("the-wrong-one"));
    assert_eq!(
        sim.control.datasource("postgres-prod"),
        Some(before.clone())
    );
    // The configurable failure of every test, too.
    sim.control
        .set_credential_test_failure(Some("connection refused"));
    let err = c
        .update(ds_ref("postgres-prod"), full_postgres("the-right-one"))
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("connection refused"), "{err}");
    assert_eq!(sim.control.datasource("postgres-prod"), Some(before));
    sim.control.set_credential_test_failure(None);
    c.update(ds_ref("postgres-prod"), full_postgres("the-right-one"))
        .await
        .expect("the right password passes");
}

#[tokio::test]
async fn incomplete_changes_are_refused_before_sending_or_in_databrains_words() {
    let sim = sim().await;
    let c = client(&sim);
    // No password: refused before anything is sent.
    let err = c
        .update(ds_ref("postgres-prod"), text("host", "h2"))
        .await
        .expect_err("no password");
    assert!(
        err.to_string().contains("never returns the password"),
        "{err}"
    );
    // The name is the lookup key: no such field.
    let err = c
        .update(
            ds_ref("postgres-prod"),
            text("name", "pg2").set("password", secret("p")),
        )
        .await
        .expect_err("no rename");
    assert!(err.to_string().contains("no field 'name'"), "{err}");
    // The list does not say the type: asked for.
    let err = c
        .update(
            ds_ref("postgres-prod"),
            Change::default().set("password", secret("p")),
        )
        .await
        .expect_err("no type");
    assert!(err.to_string().contains("datasource_type"), "{err}");
    assert!(puts(&sim).is_empty());
    // Incomplete credentials: the server's INVALID_REQUEST_BODY, nothing stored.
    let before = sim.control.datasource("postgres-prod").expect("record");
    let err = c
        .update(
            ds_ref("postgres-prod"),
            text("datasource_type", "postgres").set("password", secret("p")),
        )
        .await
        .expect_err("partial");
    assert_eq!(err.code(), Some("INVALID_REQUEST_BODY"), "{err}");
    assert!(err.to_string().contains("host"), "{err}");
    assert_eq!(sim.control.datasource("postgres-prod"), Some(before));
    // Another type than the stored one.
    let err = c
        .update(
            ds_ref("postgres-prod"),
            full_postgres("p").set("datasource_type", FieldValue::Text("mysql".into())),
        )
        .await
        .expect_err("type");
    assert!(err.to_string().contains("cannot be changed"), "{err}");
    // A datasource the list does not have.
    let err = c
        .update(ds_ref("ghost"), full_postgres("p"))
        .await
        .expect_err("unknown");
    assert_eq!(err.status(), Some(404), "{err}");
}

#[tokio::test]
async fn read_only_profiles_send_no_put() {
    let sim = sim().await;
    let c = DatabrainClient::new(settings(&sim.base_url, dsim::DEMO_TOKEN, None, true))
        .expect("client");
    let err = c
        .update(ds_ref("postgres-prod"), full_postgres("p"))
        .await
        .expect_err("read-only");
    assert!(matches!(err, ApiError::ReadOnly { .. }), "{err:?}");
    assert!(sim.control.requests().is_empty());
    assert!(sim.control.updates().is_empty());
}

#[tokio::test]
async fn a_failed_schema_refresh_says_the_credentials_were_kept() {
    let sim = sim().await;
    let c = client(&sim);
    sim.control
        .set_schema_cache_failure(Some("Failed to cache schema"));
    let err = c
        .update(ds_ref("postgres-prod"), full_postgres("kept-pw"))
        .await
        .expect_err("schema refresh fails");
    assert_eq!(err.status(), Some(500), "{err}");
    assert_eq!(err.code(), Some("SCHEMA_CACHE_FAILED"), "{err}");
    let said = err.to_string();
    assert!(
        said.contains("were accepted") && said.contains("sync"),
        "{said}"
    );
    assert!(said.contains("Failed to cache schema"), "{said}");
    let rec = sim.control.datasource("postgres-prod").expect("record");
    assert_eq!(rec["credentials"]["password"], "kept-pw");
    assert_eq!(puts(&sim).len(), 1, "a failed PUT is not retried");
}
