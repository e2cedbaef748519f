//! Integration tests of the Basedash client against the in-process simulator: loading every
//! organization's data sources page by page, one organization only, get, soft delete and
//! already-gone deletes, non-admin 404s, error decoding, 429 handling and the read-only guard.
// These run the built-in simulators, which need the `sim` feature (on by default).
#![cfg(feature = "sim")]
mod common {
    pub mod settings;
}

use dsconsole::model::{Health, Kind, Ref, Resource, VendorId};
use dsconsole::sim::basedash::{self as bsim, BasedashSim, SimFault, SimRequest};
use dsconsole::sim::SimOptions;
use dsconsole::vendors::basedash::BasedashClient;
use dsconsole::vendors::{
    ApiError, CheckKind, ClientSettings, DeleteOutcome, HealthCheck, VendorApi,
};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

async fn sim() -> BasedashSim {
    bsim::start(&SimOptions::default())
        .await
        .expect("simulator starts")
}

fn settings(base_url: &str, token: &str) -> ClientSettings {
    common::settings::client("it-basedash", VendorId::Basedash, base_url, token)
}

fn client(sim: &BasedashSim) -> BasedashClient {
    BasedashClient::new(settings(&sim.base_url, bsim::DEMO_TOKEN)).expect("client")
}

fn target(id: &str) -> Ref {
    Ref {
        kind: Kind::Datasources,
        id: id.into(),
        name: id.into(),
    }
}

fn requests_matching(sim: &BasedashSim, f: impl Fn(&SimRequest) -> bool) -> Vec<SimRequest> {
    sim.control.requests().into_iter().filter(f).collect()
}

fn org_names(sim: &BasedashSim) -> HashMap<String, String> {
    // The seed's organization names, read from the wire format.
    let seed: Value =
        serde_json::from_str(include_str!("../assets/basedash.json")).expect("seed is JSON");
    let mut names = HashMap::new();
    for o in seed["organizations"].as_array().expect("organizations") {
        names.insert(
            o["id"].as_str().unwrap_or_default().to_string(),
            o["name"].as_str().unwrap_or_default().to_string(),
        );
    }
    assert_eq!(names.len(), sim.control.org_ids().len());
    names
}

/// What the unhealthy filter must show, straight from the wire object.
fn wire_unhealthy(v: &Value) -> bool {
    v["lastHealthStatus"] == "UNHEALTHY"
        || v["lastSyncStatus"] == "FAILED"
        || v["lastSyncStatus"] == "NEVER_SYNCED"
        || v["lastSyncStatus"].is_null()
}

#[tokio::test]
async fn load_pages_every_organization_to_the_end() {
    let sim = sim().await;
    // Small pages, so both lists take several requests.
    sim.control.set_page_size_cap(Some(3));
    let c = client(&sim);
    let snap = c.load().await.expect("load");
    assert!(snap.warnings.is_empty(), "{:?}", snap.warnings);

    let ids: Vec<&str> = snap.resources.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, sim.control.ids(), "every source, in the API's order");
    assert!(ids.len() >= 12);
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), ids.len());

    let names = org_names(&sim);
    for r in &snap.resources {
        let raw = sim.control.object(&r.id).expect("stored");
        assert_eq!(r.raw, raw, "raw is the server's JSON");
        assert_eq!(r.kind, Kind::Datasources);
        assert_eq!(Some(r.name.as_str()), raw["displayName"].as_str());
        assert_eq!(r.type_.as_deref(), raw["dialect"].as_str());
        let org = sim.control.org_of(&r.id).expect("org");
        assert_eq!(r.container.as_deref(), Some(names[&org].as_str()));
        assert!(r.created.is_some() && r.updated.is_some(), "{}", r.name);
        let sync = r.sync.as_ref().expect("sync is always present");
        assert_eq!(sync.error.as_deref(), raw["syncErrorMessage"].as_str());
        match raw["lastHealthStatus"].as_str() {
            Some("HEALTHY") => assert_eq!(r.health, Health::Healthy),
            Some("UNHEALTHY") => assert!(r.health.is_unhealthy()),
            _ => assert_eq!(r.health, Health::Unknown),
        }
        assert_eq!(r.is_unhealthy(), wire_unhealthy(&raw), "{}", r.name);
        assert!(!r.is_orphan());
    }
    // The seed's mix reaches the model.
    let unhealthy = snap.resources.iter().filter(|r| r.is_unhealthy()).count();
    assert!(
        unhealthy >= 5 && unhealthy < snap.resources.len(),
        "{unhealthy}"
    );

    // Each organization was paged with limit=100, following nextCursor to the end.
    for org in sim.control.org_ids() {
        let path = format!("/api/public/organizations/{org}/data-sources");
        let pages = requests_matching(&sim, |r| r.path == path);
        let n = sim.control.ids_in(&org).len();
        assert_eq!(pages.len(), n.div_ceil(3), "{org}");
        assert!(pages.iter().all(|p| p.status == 200));
        assert_eq!(pages[0].query, "limit=100");
        assert!(pages[1..].iter().all(|p| p.query.contains("&cursor=")));
    }
    let org_pages = requests_matching(&sim, |r| r.path == "/api/public/organizations");
    assert_eq!(org_pages.len(), 1);
}

#[tokio::test]
async fn org_id_limits_the_load_to_one_organization() {
    let sim = sim().await;
    let orgs = sim.control.org_ids();
    let mut s = settings(&sim.base_url, bsim::DEMO_TOKEN);
    s.options.set_value("org_id", orgs[1].clone());
    let c = BasedashClient::new(s).expect("client");
    let snap = c.load().await.expect("load");
    let ids: Vec<String> = snap.resources.iter().map(|r| r.id.to_string()).collect();
    assert_eq!(ids, sim.control.ids_in(&orgs[1]));
    let names = org_names(&sim);
    assert!(snap
        .resources
        .iter()
        .all(|r| r.container.as_deref() == Some(names[&orgs[1]].as_str())));
    // The other organization is never asked, and the org list is not needed.
    assert!(requests_matching(&sim, |r| r.path.contains(&orgs[0])).is_empty());
    assert!(requests_matching(&sim, |r| r.path == "/api/public/organizations").is_empty());

    let mut s = settings(&sim.base_url, bsim::DEMO_TOKEN);
    s.options.set_value("org_id", "org_unknown");
    let err = BasedashClient::new(s)
        .expect("client")
        .load()
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(404));
    assert_eq!(err.code(), Some("NotFound"));
}

#[tokio::test]
async fn organizations_are_paged_too() {
    let sim = sim().await;
    sim.control.set_page_size_cap(Some(1));
    let snap = client(&sim).load().await.expect("load");
    assert_eq!(snap.resources.len(), sim.control.ids().len());
    let pages = requests_matching(&sim, |r| r.path == "/api/public/organizations");
    assert_eq!(pages.len(), 2);
    assert_eq!(
        pages[1].query,
        format!("limit=100&cursor={}", sim.control.org_ids()[0])
    );
}

#[tokio::test]
async fn get_returns_the_current_object_with_or_without_a_load() {
    let sim = sim().await;
    let c = client(&sim);
    let snap = c.load().await.expect("load");
    let r = snap
        .resources
        .iter()
        .find(|r| r.health == Health::Healthy)
        .expect("a healthy source");
    assert!(sim.control.set_health(&r.id, false));
    sim.control.clear_requests();
    let fresh = c.get(r.as_ref()).await.expect("get");
    assert!(fresh.health.is_unhealthy(), "{:?}", fresh.health);
    assert_eq!(fresh.raw, sim.control.object(&r.id).expect("stored"));
    assert_eq!(fresh.container, r.container);
    // After a load the organization is known: one request.
    let org = sim.control.org_of(&r.id).expect("org");
    let log = sim.control.requests();
    assert_eq!(log.len(), 1);
    assert_eq!(
        log[0].path,
        format!("/api/public/organizations/{org}/data-sources/{}", r.id)
    );

    // A new client finds the organization by asking each one.
    let c2 = client(&sim);
    let again = c2.get(r.as_ref()).await.expect("get without load");
    assert_eq!(again.raw, fresh.raw);
    assert_eq!(again.container, r.container);

    let err = c2
        .get(target("cmdoesnotexist000000000000"))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(404));
    assert_eq!(err.code(), Some("NotFound"));
}

#[tokio::test]
async fn get_falls_back_to_the_list_when_the_single_get_route_is_missing() {
    let sim = sim().await;
    let c = client(&sim);
    let snap = c.load().await.expect("load");
    let last = snap.resources.last().expect("a source");
    sim.control.set_single_get(false);
    sim.control
        .set_sync(&last.id, Some("FAILED"), Some("Too many connections"));
    let fresh = c.get(last.as_ref()).await.expect("get via the list");
    assert_eq!(
        fresh.sync.as_ref().and_then(|s| s.error.as_deref()),
        Some("Too many connections")
    );
    assert!(fresh.is_unhealthy());
    let err = c
        .get(target("cmdoesnotexist000000000000"))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(404));
}

#[tokio::test]
async fn delete_is_soft_and_a_second_delete_is_already_gone() {
    let sim = sim().await;
    let c = client(&sim);
    let snap = c.load().await.expect("load");
    let victim = &snap.resources[2];
    let before = sim.control.ids().len();

    sim.control.clear_requests();
    let out = c.delete(victim.as_ref()).await.expect("delete");
    assert_eq!(out, DeleteOutcome::SoftDeleted);
    let org = sim.control.org_of(&victim.id).expect("org");
    assert_eq!(
        sim.control.requests(),
        vec![SimRequest {
            method: "DELETE".into(),
            path: format!("/api/public/organizations/{org}/data-sources/{}", victim.id),
            query: String::new(),
            status: 200,
            credential: (),
        }]
    );
    assert!(sim.control.is_soft_deleted(&victim.id));
    assert_eq!(sim.control.ids().len(), before - 1);

    // Gone from get and from the next load.
    let err = c.get(victim.as_ref()).await.unwrap_err();
    assert_eq!(err.status(), Some(404));
    let snap2 = c.load().await.expect("reload");
    assert!(snap2.resources.iter().all(|r| r.id != victim.id));
    assert_eq!(snap2.resources.len(), before - 1);

    // Deleting again: 404, confirmed by a GET and an admin-access probe: already gone.
    sim.control.clear_requests();
    assert_eq!(
        c.delete(victim.as_ref()).await.expect("second delete"),
        DeleteOutcome::AlreadyGone
    );
    let seen: Vec<(String, String, u16)> = sim
        .control
        .requests()
        .into_iter()
        .map(|r| (r.method, r.query, r.status))
        .collect();
    assert_eq!(
        seen,
        vec![
            ("DELETE".to_string(), String::new(), 404),
            ("GET".to_string(), String::new(), 404),
            ("GET".to_string(), "limit=1".to_string(), 200),
        ]
    );
    // A client that never saw the id finds it in no organization: already gone, no DELETE.
    let c2 = client(&sim);
    sim.control.clear_requests();
    assert_eq!(
        c2.delete(victim.as_ref()).await.expect("unknown id"),
        DeleteOutcome::AlreadyGone
    );
    assert!(requests_matching(&sim, |r| r.method == "DELETE").is_empty());
    // A client that never loaded can still delete a live source.
    let other = snap2.resources[0].as_ref();
    assert_eq!(
        c2.delete(other.clone()).await.expect("delete"),
        DeleteOutcome::SoftDeleted
    );
    assert!(sim.control.is_soft_deleted(&other.id));
}

#[tokio::test]
async fn a_404_from_a_non_admin_delete_is_not_counted_as_gone() {
    let sim = sim().await;
    let c = client(&sim);
    let snap = c.load().await.expect("load");
    let victim = &snap.resources[0];
    let org = sim.control.org_of(&victim.id).expect("org");
    // The key's user lost admin rights after the load: every data-source call is a 404.
    assert!(sim.control.set_admin(&org, false));
    let err = c.delete(victim.as_ref()).await.unwrap_err();
    assert_eq!(err.status(), Some(404), "{err}");
    assert_eq!(err.code(), Some("NotFound"));
    let s = err.to_string();
    assert!(
        s.contains("Data source not found or no admin access"),
        "{s}"
    );
    assert!(s.contains("no admin access to organization"), "{s}");
    assert!(sim.control.contains(&victim.id));

    // A client that never saw the id cannot search that organization: not "already gone".
    let err = client(&sim).delete(victim.as_ref()).await.unwrap_err();
    assert_eq!(err.status(), Some(404), "{err}");
    assert!(err.to_string().contains("so it may be there"), "{err}");
    assert_eq!(requests_matching(&sim, |r| r.method == "DELETE").len(), 1);
}

#[tokio::test]
async fn a_404_delete_of_a_source_that_still_exists_is_an_error() {
    let sim = sim().await;
    let c = client(&sim);
    let snap = c.load().await.expect("load");
    let victim = &snap.resources[0];
    // The DELETE is answered by something without the route; the source is still there.
    sim.control.fail_next(1, SimFault::HtmlNotFound);
    let err = c.delete(victim.as_ref()).await.unwrap_err();
    assert_eq!(err.status(), Some(404));
    assert!(
        err.to_string().contains("the data source still exists"),
        "{err}"
    );
    assert!(sim.control.contains(&victim.id));
}

#[tokio::test]
async fn a_non_admin_organization_is_a_warning_and_the_others_load() {
    let sim = sim().await;
    let orgs = sim.control.org_ids();
    assert!(sim.control.set_admin(&orgs[0], false));
    let snap = client(&sim).load().await.expect("load");
    let ids: Vec<String> = snap.resources.iter().map(|r| r.id.to_string()).collect();
    assert_eq!(ids, sim.control.ids_in(&orgs[1]));
    assert_eq!(snap.warnings.len(), 1, "{:?}", snap.warnings);
    let w = &snap.warnings[0];
    let names = org_names(&sim);
    assert!(w.starts_with("it-basedash: "), "{w}");
    assert!(w.contains(&names[&orgs[0]]), "{w}");
    assert!(w.contains("HTTP 404 NotFound"), "{w}");
    assert!(w.contains("admin"), "{w}");

    // No organization listable at all: the load fails with the server's error.
    assert!(sim.control.set_admin(&orgs[1], false));
    let err = client(&sim).load().await.unwrap_err();
    assert_eq!(err.status(), Some(404));
}

#[tokio::test]
async fn a_wrong_key_is_one_clear_sentence() {
    let sim = sim().await;
    let c = BasedashClient::new(settings(
        &sim.base_url,
        "bd_key_revoked000000000000000000000000",
    ))
    .expect("client");
    let err = c.load().await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "Basedash: HTTP 401 Unauthorized: Missing or invalid API key"
    );
    assert!(!err.to_string().contains("revoked"));
    // Not transient: asked once.
    assert_eq!(sim.control.requests().len(), 1);
}

#[tokio::test]
async fn rate_limited_gets_wait_and_retry() {
    let sim = sim().await;
    sim.control.fail_next(
        2,
        SimFault::RateLimited {
            retry_after_ms: 40,
            retry_after_header: Some(1),
        },
    );
    let snap = client(&sim).load().await.expect("load after two 429s");
    assert_eq!(snap.resources.len(), sim.control.ids().len());
    let log = sim.control.requests();
    assert_eq!(log[0].status, 429);
    assert_eq!(log[1].status, 429);
    assert_eq!(log[2].status, 200);
    // The same request was repeated.
    assert_eq!(log[0].path, log[2].path);
    assert_eq!(log[0].query, log[2].query);
}

#[tokio::test]
async fn retries_are_bounded_and_the_last_error_is_reported() {
    let sim = sim().await;
    sim.control.fail_next(
        10,
        SimFault::RateLimited {
            retry_after_ms: 10,
            retry_after_header: None,
        },
    );
    let err = client(&sim).load().await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "Basedash: HTTP 429 RateLimitExceeded: Too many requests"
    );
    assert_eq!(err.retry_after(), Some(Duration::from_millis(10)));
    // One attempt and three retries.
    assert_eq!(sim.control.requests().len(), 4);
    assert_eq!(sim.control.pending_faults(), 6);
}

#[tokio::test]
async fn a_rate_limited_delete_is_not_retried_and_carries_the_wait() {
    let sim = sim().await;
    let c = client(&sim);
    let snap = c.load().await.expect("load");
    let victim = &snap.resources[1];
    sim.control.fail_next(
        1,
        SimFault::RateLimited {
            retry_after_ms: 1500,
            retry_after_header: Some(2),
        },
    );
    sim.control.clear_requests();
    let err = c.delete(victim.as_ref()).await.unwrap_err();
    assert_eq!(err.status(), Some(429));
    assert_eq!(err.code(), Some("RateLimitExceeded"));
    // The body's milliseconds win over the header's seconds.
    assert_eq!(err.retry_after(), Some(Duration::from_millis(1500)));
    assert_eq!(sim.control.requests().len(), 1);
    assert!(sim.control.contains(&victim.id));
    // The executor's retry then works.
    assert_eq!(
        c.delete(victim.as_ref()).await.expect("retry"),
        DeleteOutcome::SoftDeleted
    );
}

#[tokio::test]
async fn server_errors_html_pages_and_truncated_bodies() {
    let sim = sim().await;
    let c = client(&sim);
    // 500 and 502 on a GET are retried.
    sim.control.fail_next(1, SimFault::ServerError);
    sim.control.fail_next(1, SimFault::BadGatewayHtml);
    let snap = c.load().await.expect("load after 500 and 502");
    assert!(!snap.resources.is_empty());

    // On a DELETE they are reported as they are.
    let victim = snap.resources[0].as_ref();
    sim.control.fail_next(1, SimFault::BadGatewayHtml);
    let err = c.delete(victim.clone()).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "Basedash: HTTP 502: non-JSON response (text/html): 502 Bad Gateway"
    );
    sim.control.fail_next(1, SimFault::ServerError);
    let err = c.delete(victim.clone()).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "Basedash: HTTP 500 InternalServerError: An unexpected error occurred"
    );
    assert!(sim.control.contains(&victim.id));

    // A cut 200 body is a decode error, not retried.
    sim.control.clear_requests();
    sim.control.fail_next(1, SimFault::TruncatedJson);
    let err = c.load().await.unwrap_err();
    assert!(
        matches!(err, ApiError::Decode { status: 200, .. }),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .starts_with("Basedash: HTTP 200: unreadable response"),
        "{err}"
    );
    assert_eq!(sim.control.requests().len(), 1);
}

#[tokio::test]
async fn read_only_profiles_send_no_delete() {
    let sim = sim().await;
    let mut s = settings(&sim.base_url, bsim::DEMO_TOKEN);
    s.read_only = true;
    let c = BasedashClient::new(s).expect("client");
    let snap = c.load().await.expect("reads work");
    sim.control.clear_requests();
    let victim = snap.resources[0].as_ref();
    let err = c.delete(victim.clone()).await.unwrap_err();
    assert!(matches!(err, ApiError::ReadOnly { .. }), "{err:?}");
    assert!(sim.control.requests().is_empty());
    assert!(sim.control.contains(&victim.id));
}

#[tokio::test]
async fn scaled_load_pages_through_hundreds_of_sources() {
    let sim = bsim::start(&SimOptions {
        scale: 450,
        ..SimOptions::default()
    })
    .await
    .expect("simulator starts");
    let snap = client(&sim).load().await.expect("load");
    let ids: Vec<&str> = snap.resources.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, sim.control.ids());
    assert_eq!(ids.len(), 450);
    // 100 per page: three pages for each organization of ~225.
    let pages = requests_matching(&sim, |r| r.path.ends_with("/data-sources"));
    assert_eq!(pages.len(), 6);
    let resources: Vec<&Resource> = snap.resources.iter().collect();
    assert!(resources.iter().any(|r| r.is_unhealthy()));
}

// ---------------------------------------------------------------------------------------------
// Health check: verify
// ---------------------------------------------------------------------------------------------

/// A loaded source with a host (its connection fields tell it apart).
async fn verifiable(c: &BasedashClient, sim: &BasedashSim) -> Ref {
    let snap = c.load().await.expect("load");
    let r = snap
        .resources
        .iter()
        .find(|r| {
            sim.control
                .object(&r.id)
                .is_some_and(|v| v["host"].is_string())
        })
        .expect("a source with a host");
    r.as_ref()
}

fn verifies(sim: &BasedashSim) -> Vec<SimRequest> {
    requests_matching(sim, |r| {
        r.method == "POST" && r.path.ends_with("/data-sources/verify")
    })
}

#[tokio::test]
async fn verify_passes_and_the_source_shows_healthy_after_a_reload() {
    let sim = sim().await;
    let c = client(&sim);
    let t = verifiable(&c, &sim).await;
    sim.control.set_health(&t.id, false);
    sim.control.clear_requests();
    let check = c.check_health(t.clone()).await.expect("verify runs");
    assert_eq!(
        check,
        HealthCheck::Passed {
            check: CheckKind::Verify,
            detail: None
        }
    );
    let sent = verifies(&sim);
    assert_eq!(sent.len(), 1, "one verify, never retried");
    assert_eq!(
        sim.control.object(&t.id).expect("still there")["lastHealthStatus"],
        "HEALTHY"
    );
    let again = c.get(t).await.expect("get");
    assert_eq!(again.health, Health::Healthy);
}

#[tokio::test]
async fn verify_failing_reports_the_vendors_words_in_either_envelope() {
    let sim = sim().await;
    let c = client(&sim);
    let t = verifiable(&c, &sim).await;
    sim.control
        .set_verify_failure_for(&t.id, Some(&[("host", "Host not found")]));
    for as_200 in [false, true] {
        sim.control.set_verify_failure_as_200(as_200);
        let check = c.check_health(t.clone()).await.expect("verify runs");
        match &check {
            HealthCheck::Failed { check, reason } => {
                assert_eq!(*check, CheckKind::Verify);
                assert!(reason.contains("host: Host not found"), "{reason}");
            }
            other => panic!("as_200={as_200}: {other:?}"),
        }
        assert!(matches!(check.health(), Some(Health::Unhealthy(_))));
    }
    let reloaded = c.get(t.clone()).await.expect("get");
    assert!(reloaded.health.is_unhealthy(), "{:?}", reloaded.health);
    // Fixed at the vendor: the next verify passes.
    sim.control.set_verify_failure_for(&t.id, None);
    assert!(matches!(
        c.check_health(t).await,
        Ok(HealthCheck::Passed { .. })
    ));
}

#[tokio::test]
async fn verify_of_a_missing_source_is_an_error_and_other_answers_too() {
    let sim = sim().await;
    let c = client(&sim);
    let err = c
        .check_health(target("cm_no_such_source_000000000"))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(404), "{err}");
    assert!(verifies(&sim).is_empty(), "nothing to verify");

    let t = verifiable(&c, &sim).await;
    // The GET answers, then the verify meets a 500 / a cut body / a proxy page.
    for fault in [
        SimFault::ServerError,
        SimFault::TruncatedJson,
        SimFault::BadGatewayHtml,
    ] {
        sim.control.fail_next_method("POST", 1, fault.clone());
        let check = c.check_health(t.clone()).await;
        assert!(check.is_err(), "{fault:?}: {check:?}");
    }
    assert_eq!(sim.control.pending_faults(), 0);
}

#[tokio::test]
async fn read_only_profiles_may_verify() {
    let sim = sim().await;
    let mut s = settings(&sim.base_url, bsim::DEMO_TOKEN);
    s.read_only = true;
    let c = BasedashClient::new(s).expect("client");
    let t = verifiable(&c, &sim).await;
    assert!(matches!(
        c.check_health(t.clone()).await,
        Ok(HealthCheck::Passed { .. })
    ));
    assert_eq!(verifies(&sim).len(), 1);
    assert!(matches!(
        c.delete(t).await.unwrap_err(),
        ApiError::ReadOnly { .. }
    ));
}

#[tokio::test]
async fn datasources_are_the_kind_basedash_checks() {
    let sim = sim().await;
    let c = client(&sim);
    let mut conn = target("x");
    conn.kind = Kind::Connections;
    assert_eq!(c.check_health(conn).await, Ok(HealthCheck::NotOffered));
    assert!(sim.control.requests().is_empty());
    assert_eq!(
        bsim_spec_checks(),
        vec![(Kind::Datasources, CheckKind::Verify)]
    );
}

fn bsim_spec_checks() -> Vec<(Kind, CheckKind)> {
    dsconsole::vendors::basedash::SPEC.health_checks.to_vec()
}

// ---- Changing instead of deleting (issue 16) ------------------------------------------------

use dsconsole::vendors::change::{Change, FieldValue};
use secrecy::SecretString;
use serde_json::json;

fn text(field: &str, value: &str) -> Change {
    Change::default().set(field, FieldValue::Text(value.into()))
}

fn secret(value: &str) -> FieldValue {
    FieldValue::Secret(SecretString::from(value.to_string()))
}

fn patches(sim: &BasedashSim) -> Vec<SimRequest> {
    requests_matching(sim, |r| r.method == "PATCH")
}

#[tokio::test]
async fn only_the_changed_keys_are_patched_and_the_answer_is_the_stored_object() {
    let sim = sim().await;
    let c = client(&sim);
    let t = verifiable(&c, &sim).await;
    let before = sim.control.object(&t.id).expect("stored");
    sim.control.clear_requests();
    let after = c
        .update(
            t.clone(),
            text("host", "db2.example.com")
                .set("port", FieldValue::Text("6543".into()))
                .set("ssl_enabled", FieldValue::Text("true".into()))
                .set("name", FieldValue::Text("Warehouse (new host)".into())),
        )
        .await
        .expect("changed");
    assert_eq!(after.id, t.id);
    assert_eq!(after.name, "Warehouse (new host)");
    let v = after.raw.value();
    assert_eq!(v["host"], "db2.example.com");
    assert_eq!(v["port"], 6543);
    assert_eq!(v["sslEnabled"], true);
    assert_eq!(v["lastSyncStatus"], "PENDING", "a new sync starts");
    assert_ne!(v["updatedAt"], before["updatedAt"]);
    assert_eq!(v["databaseName"], before["databaseName"], "kept");
    // One PATCH (the answer is the object: no re-read), with exactly the changed keys.
    assert_eq!(patches(&sim).len(), 1);
    assert!(requests_matching(&sim, |r| r.method == "GET").is_empty());
    assert_eq!(
        sim.control.patches(),
        vec![(
            t.id.to_string(),
            json!({"host":"db2.example.com","port":6543,"sslEnabled":true,
                   "displayName":"Warehouse (new host)"})
        )]
    );
    assert_eq!(
        sim.control.object(&t.id).expect("stored")["host"],
        "db2.example.com"
    );
}

#[tokio::test]
async fn passwords_rotate_and_clear_without_ever_coming_back() {
    let sim = sim().await;
    let c = client(&sim);
    let t = verifiable(&c, &sim).await;
    let change = Change::default()
        .set("password", secret("n3w-s3cret-7"))
        .set("ssh_password", secret("ssh-s3cret-7"));
    assert!(!format!("{change:?}").contains("s3cret-7"));
    let after = c.update(t.clone(), change).await.expect("rotated");
    assert!(!after.raw.as_str().contains("s3cret-7"), "no secret back");
    assert_eq!(
        sim.control.secret(&t.id, "password").as_deref(),
        Some("n3w-s3cret-7")
    );
    assert_eq!(
        sim.control.secret(&t.id, "sshPassword").as_deref(),
        Some("ssh-s3cret-7")
    );
    // Cleared: the unset flag alone, never with a value.
    c.update(
        t.clone(),
        Change::default().set("password", FieldValue::Unset),
    )
    .await
    .expect("cleared");
    let (_, body) = sim.control.patches().pop().expect("a patch");
    assert_eq!(body, json!({"unsetPassword": true}));
    assert_eq!(sim.control.secret(&t.id, "password"), None);
    assert_eq!(
        sim.control.secret(&t.id, "sshPassword").as_deref(),
        Some("ssh-s3cret-7"),
        "the other secret is kept"
    );
}

#[tokio::test]
async fn refusals_come_back_in_basedashs_words_and_change_nothing() {
    let sim = sim().await;
    let c = client(&sim);
    let t = verifiable(&c, &sim).await;
    let before = sim.control.object(&t.id).expect("stored");
    // A server that does not take displayName in a PATCH ([guess]): its ValidationError.
    sim.control.set_rename_accepted(false);
    let err = c
        .update(t.clone(), text("name", "Renamed"))
        .await
        .expect_err("rename refused");
    assert_eq!(err.status(), Some(400), "{err}");
    assert!(err.to_string().contains("displayName"), "{err}");
    assert_eq!(sim.control.object(&t.id), Some(before.clone()));
    // Checked before sending: a port that is no number, a field Basedash does not have.
    let n = patches(&sim).len();
    let err = c
        .update(t.clone(), text("port", "fifty"))
        .await
        .expect_err("bad port");
    assert!(err.to_string().contains("port number"), "{err}");
    let err = c
        .update(t.clone(), text("dialect", "mysql"))
        .await
        .expect_err("unknown field");
    assert!(err.to_string().contains("no field 'dialect'"), "{err}");
    assert_eq!(patches(&sim).len(), n);
    // The simulator's own rules, straight on the wire.
    let http = reqwest::Client::new();
    let org = sim.control.org_of(&t.id).expect("org");
    let url = format!(
        "{}/api/public/organizations/{org}/data-sources/{}",
        sim.base_url, t.id
    );
    for (body, words) in [
        (json!({"password":"x","unsetPassword":true}), "same request"),
        (json!({"port":"5432"}), "port"),
        (json!({"dialect":"mysql"}), "cannot be changed"),
    ] {
        let resp = http
            .patch(&url)
            .bearer_auth(bsim::DEMO_TOKEN)
            .json(&body)
            .send()
            .await
            .expect("answer");
        assert_eq!(resp.status(), 400);
        let v: Value = resp.json().await.expect("json");
        assert!(v.to_string().contains(words), "{v}");
    }
    assert_eq!(sim.control.object(&t.id), Some(before));
    assert_eq!(sim.control.secret(&t.id, "password"), None);
}

#[tokio::test]
async fn read_only_profiles_send_no_patch() {
    let sim = sim().await;
    let mut s = settings(&sim.base_url, bsim::DEMO_TOKEN);
    s.read_only = true;
    let c = BasedashClient::new(s).expect("client");
    let snap = c.load().await.expect("reads work");
    sim.control.clear_requests();
    let err = c
        .update(
            snap.resources[0].as_ref(),
            Change::default().set("password", secret("x")),
        )
        .await
        .expect_err("read-only");
    assert!(matches!(err, ApiError::ReadOnly { .. }), "{err:?}");
    assert!(sim.control.requests().is_empty());
    // Unknown to this client (no load): refused before any lookup too.
    let c = BasedashClient::new({
        let mut s = settings(&sim.base_url, bsim::DEMO_TOKEN);
        s.read_only = true;
        s
    })
    .expect("client");
    let err = c
        .update(target("ds_x"), text("host", "h"))
        .await
        .expect_err("read-only");
    assert!(matches!(err, ApiError::ReadOnly { .. }), "{err:?}");
    assert!(sim.control.requests().is_empty());
    assert!(sim.control.patches().is_empty());
}
