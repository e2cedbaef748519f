//! Impact analysis of the MicroStrategy client against the simulator: content found per
//! project through the metadata search, none found, unknown when a search is refused or
//! times out, a connection inheriting its datasources' content, paging, a dead search id,
//! and one search at a time in one session.
#![cfg(feature = "sim")]
mod common {
    pub mod settings;
}

use dsconsole::impact::{targets_for, Impact, Verdict};
use dsconsole::model::{Kind, Ref, Resource};
use dsconsole::sim::faults::{Fault, FaultRule};
use dsconsole::sim::microstrategy::{self as msim, MstrSim};
use dsconsole::sim::SimOptions;
use dsconsole::vendors::microstrategy::MstrClient;
use dsconsole::vendors::VendorApi;
use std::time::Duration;

const SALES: &str = "8D3B9F405E6C7D8E1FC03B42536475A8";

async fn sim() -> MstrSim {
    msim::start(&SimOptions::default())
        .await
        .expect("simulator starts")
}

fn client(sim: &MstrSim, read_only: bool) -> MstrClient {
    let s = common::settings::client(
        "it-mstr",
        dsconsole::model::VendorId::MicroStrategy,
        &sim.base_url,
        msim::DEMO_PASSWORD,
    )
    .username(msim::DEMO_USERNAME)
    .read_only(read_only);
    MstrClient::new(s).expect("client")
}

fn named(rs: &[Resource], kind: Kind, name: &str) -> Ref {
    rs.iter()
        .find(|r| r.kind == kind && r.name == name)
        .unwrap_or_else(|| panic!("{kind} {name}"))
        .as_ref()
}

async fn impact_of(c: &MstrClient, rs: &[Resource], target: Ref) -> Impact {
    let t = targets_for(rs, &[target]).pop().expect("one target");
    c.impact(t).await
}

fn searches(sim: &MstrSim) -> Vec<dsconsole::sim::microstrategy::SimRequest> {
    sim.control
        .requests()
        .into_iter()
        .filter(|r| r.path.contains("/metadataSearches/results"))
        .collect()
}

#[tokio::test]
async fn reporting_postgres_breaks_content_in_two_projects() {
    let sim = sim().await;
    let c = client(&sim, false);
    let rs = c.load().await.expect("load").resources;
    sim.control.clear_requests();
    let i = impact_of(&c, &rs, named(&rs, Kind::Datasources, "Reporting Postgres")).await;
    assert_eq!(i.verdict(), Verdict::Breaks);
    assert_eq!(i.unknown, None, "{i:?}");
    assert_eq!(
        i.summary("project"),
        "breaks 20 reports, 3 dashboards, 2 documents, 2 super cubes, 1 datamart in 2 projects"
    );
    let sales: Vec<_> = i
        .dependents
        .iter()
        .filter(|d| d.container.as_deref() == Some("Sales Analytics"))
        .collect();
    assert_eq!(sales.len(), 18);
    assert!(sales.iter().all(|d| d.owner.is_some() && d.via.is_none()));
    // Each search: POST with the project header and the encoded usesObject, then pages.
    let posts: Vec<_> = searches(&sim)
        .into_iter()
        .filter(|r| r.method == "POST")
        .collect();
    // Its two projects, plus Operations for the replica that uses it (which has none).
    assert_eq!(posts.len(), 3, "{posts:?}");
    for p in &posts {
        assert!(
            p.query.contains("usesObject=") && p.query.contains("%3B29"),
            "{}",
            p.query
        );
        assert!(p.query.contains("domain=2") && p.query.contains("type=55"));
        // The simulator refuses a project search without X-MSTR-ProjectID.
        assert_eq!(p.status, 200);
    }
}

#[tokio::test]
async fn none_found_is_said_only_after_searching() {
    let sim = sim().await;
    let c = client(&sim, false);
    let rs = c.load().await.expect("load").resources;
    sim.control.clear_requests();
    // Attached to Sales Analytics, whose content does not use it: searched, none found.
    let replica = impact_of(
        &c,
        &rs,
        named(&rs, Kind::Datasources, "Postgres Sales Replica"),
    )
    .await;
    assert_eq!(replica.verdict(), Verdict::None, "{replica:?}");
    assert_eq!(replica.summary("project"), "none found");
    assert_eq!(
        searches(&sim).iter().filter(|r| r.method == "POST").count(),
        1
    );
    // Attached to no project: no content can use it, and nothing is searched.
    sim.control.clear_requests();
    let legacy = impact_of(
        &c,
        &rs,
        named(&rs, Kind::Datasources, "Legacy Warehouse (unused)"),
    )
    .await;
    assert_eq!(legacy.verdict(), Verdict::None);
    assert!(searches(&sim).is_empty());
}

#[tokio::test]
async fn a_connection_inherits_the_content_of_its_datasources() {
    let sim = sim().await;
    let c = client(&sim, false);
    let rs = c.load().await.expect("load").resources;
    let ds = rs
        .iter()
        .find(|r| r.kind == Kind::Datasources && r.name == "Reporting Postgres")
        .unwrap();
    let conn = ds
        .depends_on
        .iter()
        .find(|d| d.kind == Kind::Connections)
        .expect("the datasource has a connection")
        .clone();
    let i = impact_of(&c, &rs, conn).await;
    assert_eq!(i.verdict(), Verdict::Breaks);
    assert!(i
        .dependents
        .iter()
        .any(|d| d.via.as_deref() == Some("datasource 'Reporting Postgres'")));
    assert!(i.dependents.len() >= 28, "{}", i.dependents.len());
}

#[tokio::test]
async fn a_refused_search_is_unknown_never_none() {
    let sim = sim().await;
    let c = client(&sim, false);
    let rs = c.load().await.expect("load").resources;
    sim.control.faults.add(
        FaultRule::new(Fault::Status {
            status: 403,
            body: r#"{"code":"ERR014","message":"You do not have the privilege to search"}"#.into(),
            retry_after: None,
        })
        .method("POST")
        .path("/metadataSearches"),
    );
    let i = impact_of(
        &c,
        &rs,
        named(&rs, Kind::Datasources, "Postgres Sales Replica"),
    )
    .await;
    assert_eq!(i.verdict(), Verdict::Unknown);
    let why = i.unknown.clone().unwrap();
    assert!(
        why.contains("Sales Analytics") && why.contains("403"),
        "{why}"
    );
    assert_eq!(i.cell(), "?");
}

#[tokio::test]
async fn a_search_that_hangs_is_unknown_after_the_budget() {
    let sim = sim().await;
    let mut c = client(&sim, false);
    let rs = c.load().await.expect("load").resources;
    c.set_impact_budget(Duration::from_millis(300));
    sim.control.set_search_delay(Some(Duration::from_secs(5)));
    let i = impact_of(&c, &rs, named(&rs, Kind::Datasources, "Reporting Postgres")).await;
    assert_eq!(i.verdict(), Verdict::Unknown, "{i:?}");
    assert!(i.unknown.unwrap().contains("timed out"));
}

#[tokio::test]
async fn a_dead_search_id_is_searched_again_once() {
    let sim = sim().await;
    let c = client(&sim, false);
    let rs = c.load().await.expect("load").resources;
    sim.control.clear_requests();
    sim.control.faults.add(
        FaultRule::new(Fault::Status {
            status: 404,
            body: r#"{"code":"ERR004","message":"The search does not exist or has expired"}"#
                .into(),
            retry_after: None,
        })
        .method("GET")
        .path("/metadataSearches")
        .times(1),
    );
    let i = impact_of(&c, &rs, named(&rs, Kind::Datasources, "Sales Commissions")).await;
    assert_eq!(i.verdict(), Verdict::Breaks, "{i:?}");
    assert_eq!(i.dependents.len(), 3);
    assert_eq!(
        searches(&sim).iter().filter(|r| r.method == "POST").count(),
        2
    );
}

#[tokio::test]
async fn many_results_are_read_page_by_page() {
    let sim = sim().await;
    let c = client(&sim, false);
    let rs = c.load().await.expect("load").resources;
    let ds = named(&rs, Kind::Datasources, "Postgres Sales Replica");
    sim.control.set_content(SALES, &ds.id, [450, 7, 0, 0, 0]);
    sim.control.clear_requests();
    let i = impact_of(&c, &rs, ds).await;
    assert_eq!(i.dependents.len(), 457);
    assert_eq!(i.unknown, None);
    let gets: Vec<_> = searches(&sim)
        .into_iter()
        .filter(|r| r.method == "GET")
        .collect();
    assert_eq!(gets.len(), 3, "pages of 200");
    assert!(gets[2].query.contains("offset=400"));
}

#[tokio::test]
async fn searches_run_one_at_a_time_in_one_session_even_when_asked_at_once() {
    let sim = sim().await;
    let c = client(&sim, true);
    let rs = c.load().await.expect("a read-only profile loads").resources;
    sim.control
        .set_search_delay(Some(Duration::from_millis(20)));
    let refs: Vec<Ref> = rs
        .iter()
        .filter(|r| r.kind == Kind::Datasources)
        .map(Resource::as_ref)
        .collect();
    let targets = targets_for(&rs, &refs);
    let answers = futures::future::join_all(targets.into_iter().map(|t| c.impact(t))).await;
    assert!(answers.iter().all(|i| i.unknown.is_none()), "{answers:?}");
    assert!(sim.control.searches_run() >= 8);
    assert_eq!(sim.control.max_concurrent_searches(), 1);
    assert_eq!(sim.control.login_count(), 1, "one session for every search");
}

#[tokio::test]
async fn a_429_or_a_proxy_error_page_is_unknown_and_the_next_object_still_searches() {
    let sim = sim().await;
    let c = client(&sim, false);
    let rs = c.load().await.expect("load").resources;
    sim.control.faults.add(
        FaultRule::new(Fault::Status {
            status: 429,
            body: r#"{"code":"ERR001","message":"Too many requests"}"#.into(),
            retry_after: Some(1),
        })
        .method("POST")
        .path("/metadataSearches")
        .times(1),
    );
    let first = impact_of(&c, &rs, named(&rs, Kind::Datasources, "Sales Commissions")).await;
    assert_eq!(first.verdict(), Verdict::Unknown, "{first:?}");
    assert!(first.unknown.unwrap().contains("429"));
    sim.control.faults.add(
        FaultRule::new(Fault::Html { status: 502 })
            .method("GET")
            .path("/metadataSearches")
            .times(3),
    );
    let second = impact_of(&c, &rs, named(&rs, Kind::Datasources, "Sales Commissions")).await;
    assert_eq!(second.verdict(), Verdict::Unknown, "{second:?}");
    // Nothing is stuck: the next question gets its answer.
    let third = impact_of(&c, &rs, named(&rs, Kind::Datasources, "Sales Commissions")).await;
    assert_eq!(third.verdict(), Verdict::Breaks, "{third:?}");
}
