//! Integration tests of the MicroStrategy client against the in-process simulator: loading
//! and linking, sessions (token + cookie, expiry, one re-login), create/delete, connection
//! tests, the read-only guard and logout.
// These run the built-in simulators, which need the `sim` feature (on by default).
#![cfg(feature = "sim")]
mod common {
    pub mod settings;
}

use dsconsole::model::{Kind, Ref, Resource};
use dsconsole::sim::microstrategy::{self as msim, MstrSim, SimRequest};
use dsconsole::sim::SimOptions;
use dsconsole::vendors::microstrategy::{MstrClient, SPEC};
use dsconsole::vendors::{ApiError, ClientSettings, DeleteOutcome, VendorApi};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::time::Duration;

async fn sim() -> MstrSim {
    msim::start(&SimOptions::default())
        .await
        .expect("simulator starts")
}

fn settings(base_url: &str, password: &str, read_only: bool) -> ClientSettings {
    common::settings::client(
        "it-mstr",
        dsconsole::model::VendorId::MicroStrategy,
        base_url,
        password,
    )
    .username(msim::DEMO_USERNAME)
    .read_only(read_only)
}

fn client(sim: &MstrSim) -> MstrClient {
    MstrClient::new(settings(&sim.base_url, msim::DEMO_PASSWORD, false)).expect("client")
}

fn by_kind(rs: &[Resource], kind: Kind) -> Vec<&Resource> {
    rs.iter().filter(|r| r.kind == kind).collect()
}

fn str_at<'a>(v: &'a Value, p: &str) -> Option<&'a str> {
    v.pointer(p)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn requests_matching(sim: &MstrSim, f: impl Fn(&SimRequest) -> bool) -> Vec<SimRequest> {
    sim.control.requests().into_iter().filter(f).collect()
}

#[tokio::test]
async fn load_matches_the_simulator_and_links_references() {
    let sim = sim().await;
    let c = client(&sim);
    let snap = c.load().await.expect("load");
    assert!(snap.warnings.is_empty(), "{:?}", snap.warnings);
    // Three lists loaded concurrently share one login.
    assert_eq!(sim.control.login_count(), 1);

    for kind in SPEC.kinds.iter().copied() {
        let ours: HashSet<String> = by_kind(&snap.resources, kind)
            .iter()
            .map(|r| r.id.to_string())
            .collect();
        let theirs: HashSet<String> = sim.control.ids(kind.id()).into_iter().collect();
        assert!(!theirs.is_empty(), "seed has {kind}");
        assert_eq!(ours, theirs, "{kind}");
        assert_eq!(by_kind(&snap.resources, kind).len(), theirs.len());
    }

    // Expected graph, computed from the simulator's own objects.
    let mut ds_users_of_conn: HashMap<String, Vec<String>> = HashMap::new();
    let mut conn_users_of_login: HashMap<String, Vec<String>> = HashMap::new();
    for r in by_kind(&snap.resources, Kind::Datasources) {
        let raw = sim.control.object("datasources", &r.id).expect("stored");
        assert_eq!(r.raw, raw, "raw is the server's JSON");
        assert_eq!(Some(r.name.as_str()), str_at(&raw, "/name"));
        let embedded = raw.pointer("/database/connection/isEmbedded") == Some(&json!(true));
        let conn_deps: Vec<Ref> = r
            .depends_on
            .iter()
            .filter(|d| d.kind == Kind::Connections)
            .cloned()
            .collect();
        match str_at(&raw, "/database/connection/id") {
            Some(cid) if !embedded => {
                assert_eq!(
                    conn_deps,
                    vec![Ref {
                        kind: Kind::Connections,
                        id: cid.into(),
                        name: str_at(&raw, "/database/connection/name")
                            .unwrap_or(cid)
                            .into(),
                    }],
                    "{}",
                    r.name
                );
                ds_users_of_conn
                    .entry(cid.to_string())
                    .or_default()
                    .push(r.id.to_string());
            }
            _ => assert!(conn_deps.is_empty(), "{}", r.name),
        }
        // A replica depends on its primary datasource.
        let ds_deps: Vec<&str> = r
            .depends_on
            .iter()
            .filter(|d| d.kind == Kind::Datasources)
            .map(|d| d.id.as_str())
            .collect();
        let want_links: Vec<&str> = [
            "/database/primaryDatasource/id",
            "/database/dataMartDatasource/id",
        ]
        .iter()
        .filter_map(|p| str_at(&raw, p))
        .collect();
        assert_eq!(ds_deps, want_links, "{}", r.name);
        let want_type = str_at(&raw, "/dbms/name").or_else(|| str_at(&raw, "/database/type"));
        assert_eq!(r.type_.as_deref(), want_type, "{}", r.name);
        let projects = sim.control.projects_of(&r.id);
        let other: Vec<&str> = r
            .used_by_other
            .iter()
            .filter(|o| o.what == "project")
            .map(|o| o.name.as_str())
            .collect();
        let mut want = projects.clone();
        want.sort();
        assert_eq!(other, want, "projects of {}", r.name);
        assert!(!r.used_by_unknown);
        assert_eq!(r.is_orphan(), r.users_count() == 0, "{}", r.name);
    }
    for r in by_kind(&snap.resources, Kind::Connections) {
        let raw = sim.control.object("connections", &r.id).expect("stored");
        match str_at(&raw, "/database/login/id") {
            Some(lid) => {
                assert_eq!(r.depends_on.len(), 1, "{}", r.name);
                assert_eq!(r.depends_on[0].kind, Kind::Logins);
                assert_eq!(r.depends_on[0].id, lid);
                conn_users_of_login
                    .entry(lid.to_string())
                    .or_default()
                    .push(r.id.to_string());
            }
            None => assert!(r.depends_on.is_empty(), "{}", r.name),
        }
        let mut users: Vec<String> = r.used_by.iter().map(|u| u.id.to_string()).collect();
        users.sort();
        let mut want = ds_users_of_conn
            .get(r.id.as_str())
            .cloned()
            .unwrap_or_default();
        want.sort();
        assert_eq!(users, want, "used_by of connection {}", r.name);
        assert_eq!(r.is_orphan(), r.users_count() == 0, "{}", r.name);
        assert!(r.used_by.iter().all(|u| u.kind == Kind::Datasources));
    }
    for r in by_kind(&snap.resources, Kind::Logins) {
        let mut users: Vec<String> = r.used_by.iter().map(|u| u.id.to_string()).collect();
        users.sort();
        let mut want = conn_users_of_login
            .get(r.id.as_str())
            .cloned()
            .unwrap_or_default();
        want.sort();
        assert_eq!(users, want, "used_by of login {}", r.name);
        assert_eq!(r.is_orphan(), r.users_count() == 0, "{}", r.name);
    }

    // The seed exercises every case, so the checks above were not vacuous.
    let conns = by_kind(&snap.resources, Kind::Connections);
    let logins = by_kind(&snap.resources, Kind::Logins);
    assert!(conns.iter().any(|r| r.is_orphan()), "an orphan connection");
    assert!(logins.iter().any(|r| r.is_orphan()), "an orphan login");
    assert!(
        conns.iter().any(|r| r.used_by.len() >= 2),
        "a shared connection"
    );
    assert!(
        logins.iter().any(|r| r.used_by.len() >= 2),
        "a shared login"
    );
    assert!(
        conns.iter().any(|r| r.depends_on.is_empty()),
        "a connection without login"
    );
    assert!(
        by_kind(&snap.resources, Kind::Datasources)
            .iter()
            .any(|r| r.depends_on.is_empty()),
        "an embedded datasource"
    );
}

fn named<'a>(rs: &'a [Resource], kind: Kind, name: &str) -> &'a Resource {
    rs.iter()
        .find(|r| r.kind == kind && r.name == name)
        .unwrap_or_else(|| panic!("{kind} {name}"))
}

#[tokio::test]
async fn reporting_postgres_is_used_by_its_replica_and_two_projects() {
    let sim = sim().await;
    let c = client(&sim);
    let snap = c.load().await.expect("load");
    assert!(snap.warnings.is_empty(), "{:?}", snap.warnings);
    let rs = &snap.resources;
    let reporting = named(rs, Kind::Datasources, "Reporting Postgres");
    assert_eq!(
        reporting.user_labels(),
        [
            "project 'Finance Reporting'",
            "project 'Sales Analytics'",
            "datasource 'Reporting Postgres Replica'",
        ]
    );
    assert!(!reporting.is_orphan());
    // The other seed link: a datasource that is another's primary datasource.
    let finance = named(rs, Kind::Datasources, "Snowflake Finance Prod");
    assert!(finance
        .used_by
        .iter()
        .any(|u| u.name == "Finance Month-End Close"));

    // The real orphan, and only it among the datasources.
    let orphans: Vec<&str> = by_kind(rs, Kind::Datasources)
        .iter()
        .filter(|r| r.is_orphan())
        .map(|r| r.name.as_str())
        .collect();
    assert!(
        orphans.contains(&"Legacy Warehouse (unused)"),
        "{orphans:?}"
    );
    assert!(!orphans.contains(&"Reporting Postgres Replica"));

    // Mappings make a login and a connection "in use".
    let contractor = named(rs, Kind::Logins, "Temp Contractor Login");
    assert_eq!(
        contractor.user_labels(),
        ["connection mapping 'Contractors in Operations'"]
    );
    assert!(!contractor.is_orphan());
    let erp = named(rs, Kind::Connections, "SQL Server ERP");
    assert!(erp
        .user_labels()
        .contains(&"connection mapping 'default in Finance Reporting'".to_string()));
    // Projects are read once, each project's datasources and default map once.
    let projects = sim.control.project_count();
    let reqs = |p: &str| requests_matching(&sim, |r| r.method == "GET" && r.path.ends_with(p));
    assert_eq!(reqs("/api/projects").len(), 1);
    assert_eq!(reqs("/datasources").len(), 1 + projects);
    assert_eq!(reqs("/api/datasources/mappings").len(), 1 + projects);
}

#[tokio::test]
async fn usage_is_unknown_not_unused_when_the_projects_list_is_refused() {
    use dsconsole::sim::faults::{Fault, FaultRule};
    let sim = sim().await;
    sim.control.faults.add(
        FaultRule::new(Fault::Status {
            status: 403,
            body: r#"{"code":"ERR017","message":"(You do not have Browse access to projects)","ticketId":"0f3c"}"#
                .into(),
            retry_after: None,
        })
        .path("/api/projects"),
    );
    let c = client(&sim);
    let snap = c
        .load()
        .await
        .expect("a refused projects list does not fail the load");
    assert!(
        snap.warnings
            .iter()
            .any(|w| w.contains("projects") && w.contains("unknown") && w.contains("HTTP 403")),
        "{:?}",
        snap.warnings
    );
    for r in by_kind(&snap.resources, Kind::Datasources) {
        assert!(r.used_by_unknown, "{}", r.name);
        assert!(!r.is_orphan(), "{} must not look unused", r.name);
    }
    let legacy = named(
        &snap.resources,
        Kind::Datasources,
        "Legacy Warehouse (unused)",
    );
    assert_eq!(
        dsconsole::model::cells::used_by(legacy, &dsconsole::model::CellCtx { now: 0 }).text,
        "? unknown"
    );
    // Without projects, their default connection maps are unknown too: nothing is an
    // orphan, but what is known is still shown.
    assert!(snap
        .resources
        .iter()
        .all(|r| r.used_by_unknown && !r.is_orphan()));
    let reporting = named(&snap.resources, Kind::Datasources, "Reporting Postgres");
    assert_eq!(
        dsconsole::model::cells::used_by(reporting, &dsconsole::model::CellCtx { now: 0 }).text,
        "1+?: Reporting Postgres Replica"
    );
}

#[tokio::test]
async fn usage_is_unknown_everywhere_when_the_mappings_cannot_be_read() {
    use dsconsole::sim::faults::{Fault, FaultRule};
    let sim = sim().await;
    sim.control
        .faults
        .add(FaultRule::new(Fault::Html { status: 502 }).path("/api/datasources/mappings"));
    let c = client(&sim);
    let snap = c.load().await.expect("load");
    assert!(
        snap.warnings
            .iter()
            .any(|w| w.contains("connection mappings") && w.contains("unknown")),
        "{:?}",
        snap.warnings
    );
    assert!(snap
        .resources
        .iter()
        .all(|r| r.used_by_unknown && !r.is_orphan()));
}

#[tokio::test]
async fn base_url_with_api_suffix_and_root_paths_work() {
    let sim = sim().await;
    let c = MstrClient::new(settings(
        &format!("{}/api/", sim.base_url),
        msim::DEMO_PASSWORD,
        false,
    ))
    .unwrap();
    let snap = c.load().await.expect("load");
    assert_eq!(
        by_kind(&snap.resources, Kind::Logins).len(),
        sim.control.ids("logins").len()
    );
    assert!(sim
        .control
        .requests()
        .iter()
        .all(|r| r.path.starts_with("/MicroStrategyLibrary/api/")));
}

#[tokio::test]
async fn token_and_cookie_are_sent_on_every_call() {
    let sim = sim().await;
    sim.control.set_require_cookie(true);

    // The simulator does check the cookie: a token alone is refused.
    let bare = reqwest::Client::new();
    let login = bare
        .post(format!("{}/api/auth/login", sim.base_url))
        .json(&json!({"loginMode":1,"username":msim::DEMO_USERNAME,"password":msim::DEMO_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status().as_u16(), 204);
    let token = login.headers()["x-mstr-authtoken"]
        .to_str()
        .unwrap()
        .to_string();
    let without_cookie = bare
        .get(format!("{}/api/datasources", sim.base_url))
        .header("X-MSTR-AuthToken", token)
        .send()
        .await
        .unwrap();
    assert_eq!(without_cookie.status().as_u16(), 401);

    let c = client(&sim);
    sim.control.clear_requests();
    let before = sim.control.login_count();
    c.load().await.expect("load with token and cookie");
    let id = sim.control.ids("datasources")[0].clone();
    c.get(Ref {
        kind: Kind::Datasources,
        id: id.clone().into(),
        name: "".into(),
    })
    .await
    .expect("get");
    assert_eq!(
        sim.control.login_count(),
        before + 1,
        "no re-login was needed"
    );
    let refused = requests_matching(&sim, |r| r.status == 401);
    assert!(refused.is_empty(), "{refused:?}");
}

#[tokio::test]
async fn expired_session_logs_in_again_once() {
    let sim = sim().await;
    let c = client(&sim);
    c.load().await.expect("load");
    assert_eq!(sim.control.login_count(), 1);

    sim.control.expire_all_sessions();
    let id = sim.control.ids("logins")[0].clone();
    let r = c
        .get(Ref {
            kind: Kind::Logins,
            id: id.clone().into(),
            name: "".into(),
        })
        .await
        .expect("get after expiry");
    assert_eq!(r.id, id);
    assert_eq!(sim.control.login_count(), 2);

    // Four calls fail together with the same dead token: still one re-login.
    sim.control.set_latency(Duration::from_millis(50));
    sim.control.expire_all_sessions();
    sim.control.clear_requests();
    let ids = sim.control.ids("connections");
    let calls = ids.iter().take(4).map(|id| {
        c.get(Ref {
            kind: Kind::Connections,
            id: id.clone().into(),
            name: "".into(),
        })
    });
    let results = futures::future::join_all(calls).await;
    for r in &results {
        assert!(r.is_ok(), "{r:?}");
    }
    assert_eq!(sim.control.login_count(), 3, "{:?}", sim.control.requests());
    let logins = requests_matching(&sim, |r| r.path.ends_with("/api/auth/login"));
    assert_eq!(logins.len(), 1);
}

#[tokio::test]
async fn wrong_password_is_a_clear_error_and_not_retried() {
    let sim = sim().await;
    let c = MstrClient::new(settings(&sim.base_url, "not-the-password", false)).unwrap();
    let err = c.load().await.unwrap_err();
    let s = err.to_string();
    assert!(s.contains("MicroStrategy: HTTP 401 ERR003"), "{s}");
    assert!(!s.contains("not-the-password"), "{s}");
    assert_eq!(sim.control.login_count(), 0);
    let attempts = requests_matching(&sim, |r| r.path.ends_with("/api/auth/login"));
    assert_eq!(attempts.len(), 1, "{attempts:?}");
    let others = requests_matching(&sim, |r| !r.path.ends_with("/api/auth/login"));
    assert!(
        others.is_empty(),
        "nothing is sent without a session: {others:?}"
    );
}

#[tokio::test]
async fn create_chain_returns_stored_objects_and_delete_chain_removes_them() {
    let sim = sim().await;
    let c = client(&sim);

    let login = c
        .create(
            Kind::Logins,
            json!({"name":"IT Warehouse Login","username":"svc_it","password":"pw-it","description":""}),
        )
        .await
        .expect("create login");
    assert_eq!(login.kind, Kind::Logins);
    assert_eq!(login.name, "IT Warehouse Login");
    assert!(sim.control.contains("logins", &login.id));
    assert_eq!(login.raw_str("/username").as_deref(), Some("svc_it"));
    assert!(login.raw.value().get("password").is_none());

    // References go by id; the server answers with the stored name.
    let conn = c
        .create(
            Kind::Connections,
            json!({"name":"IT Warehouse Connection","connectionString":"DSN=IT_PG",
                   "database":{"login":{"id":login.id,"name":"it warehouse login"},
                               "type":"postgre_sql","version":"postgre_sql_90"}}),
        )
        .await
        .expect("create connection");
    assert_eq!(conn.name, "IT Warehouse Connection");
    assert_eq!(conn.type_.as_deref(), Some("postgre_sql"));
    assert_eq!(conn.depends_on, vec![login.as_ref()]);
    assert!(conn.used_by.is_empty());

    let ds = c
        .create(
            Kind::Datasources,
            json!({"name":"IT Warehouse","database":{"connection":{"id":conn.id}},
                   "dbms":{"id":"702780F3E3594D95AD4C85CE8F803306"}}),
        )
        .await
        .expect("create datasource");
    let stored = sim.control.object("datasources", &ds.id).expect("stored");
    assert_eq!(ds.name, "IT Warehouse");
    assert_eq!(ds.raw, stored);
    assert_eq!(ds.type_.as_deref(), str_at(&stored, "/dbms/name"));
    assert!(ds.type_.is_some());
    assert_eq!(ds.depends_on, vec![conn.as_ref()]);

    // The new objects are linked on the next load.
    let snap = c.load().await.unwrap();
    let find = |id: &str| snap.resources.iter().find(|r| r.id == id).unwrap();
    assert_eq!(find(&conn.id).used_by, vec![ds.as_ref()]);
    assert_eq!(find(&login.id).used_by, vec![conn.as_ref()]);

    for (r, kind) in [
        (&ds, "datasources"),
        (&conn, "connections"),
        (&login, "logins"),
    ] {
        assert_eq!(c.delete(r.as_ref()).await.unwrap(), DeleteOutcome::Deleted);
        assert!(
            !sim.control.contains(kind, &r.id),
            "{kind} {} still there",
            r.id
        );
    }
    let deletes: Vec<String> = requests_matching(&sim, |r| r.method == "DELETE")
        .into_iter()
        .map(|r| format!("{} {}", r.path, r.status))
        .collect();
    assert_eq!(
        deletes,
        vec![
            format!("/MicroStrategyLibrary/api/datasources/{} 204", ds.id),
            format!(
                "/MicroStrategyLibrary/api/datasources/connections/{} 204",
                conn.id
            ),
            format!(
                "/MicroStrategyLibrary/api/datasources/logins/{} 204",
                login.id
            ),
        ]
    );
}

#[tokio::test]
async fn deleting_an_object_in_use_shows_the_server_message_and_keeps_it() {
    let sim = sim().await;
    let c = client(&sim);
    let snap = c.load().await.unwrap();
    let conn = snap
        .resources
        .iter()
        .find(|r| r.kind == Kind::Connections && !r.used_by.is_empty())
        .expect("an in-use connection");
    let err = c.delete(conn.as_ref()).await.unwrap_err();
    assert!(matches!(err, ApiError::Http { .. }), "{err:?}");
    let s = err.to_string();
    assert!(s.starts_with("MicroStrategy: HTTP 4"), "{s}");
    assert!(
        s.contains(conn.name.as_str()),
        "the vendor's message names the object: {s}"
    );
    assert!(s.contains("used by"), "{s}");
    assert!(sim.control.contains("connections", &conn.id));

    let login = snap
        .resources
        .iter()
        .find(|r| r.kind == Kind::Logins && !r.used_by.is_empty())
        .expect("an in-use login");
    let err = c.delete(login.as_ref()).await.unwrap_err();
    assert!(err.to_string().contains(login.name.as_str()), "{err}");
    assert!(sim.control.contains("logins", &login.id));
}

#[tokio::test]
async fn deleting_a_missing_object_is_already_gone() {
    let sim = sim().await;
    let c = client(&sim);
    for kind in SPEC.kinds.iter().copied() {
        let outcome = c
            .delete(Ref {
                kind,
                id: "0123456789ABCDEF0123456789ABCDEF".into(),
                name: "ghost".into(),
            })
            .await
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert_eq!(outcome, DeleteOutcome::AlreadyGone, "{kind}");
    }
    // Fetching it is an error, not an empty object.
    let err = c
        .get(Ref {
            kind: Kind::Logins,
            id: "0123456789ABCDEF0123456789ABCDEF".into(),
            name: "ghost".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(404));
}

#[tokio::test]
async fn connection_tests_report_health_and_the_failure_message() {
    let sim = sim().await;
    let c = client(&sim);
    let ids = sim.control.ids("connections");
    let (good, bad) = (ids[0].clone(), ids[1].clone());
    sim.control.set_connection_test_failure(&good, None);
    sim.control.set_connection_test_failure(
        &bad,
        Some("Connection timed out after 60 seconds connecting to 10.9.8.7:5432"),
    );
    c.test_connection(good.clone()).await.expect("healthy");
    let err = c.test_connection(bad.clone()).await.unwrap_err();
    let s = err.to_string();
    assert!(s.starts_with("MicroStrategy: HTTP 400"), "{s}");
    assert!(
        s.contains("Connection timed out after 60 seconds connecting to 10.9.8.7:5432"),
        "{s}"
    );
    let tests = requests_matching(&sim, |r| {
        r.method == "POST" && r.path.ends_with("/api/datasources/connections/test")
    });
    assert_eq!(tests.len(), 2, "a failed test is not retried: {tests:?}");
}

#[tokio::test]
async fn read_only_profile_sends_no_mutation() {
    let sim = sim().await;
    let c = MstrClient::new(settings(&sim.base_url, msim::DEMO_PASSWORD, true)).unwrap();
    let snap = c.load().await.expect("reads are allowed");
    let ds = by_kind(&snap.resources, Kind::Datasources)[0].as_ref();
    let login = by_kind(&snap.resources, Kind::Logins)[0].as_ref();

    for target in [ds.clone(), login.clone()] {
        let err = c.delete(target.clone()).await.unwrap_err();
        assert!(matches!(err, ApiError::ReadOnly { .. }), "{err:?}");
        assert!(err.to_string().contains("read-only"), "{err}");
    }
    let err = c
        .create(
            Kind::Logins,
            json!({"name":"nope","username":"u","password":"p"}),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::ReadOnly { .. }), "{err:?}");

    // Connection tests and logout change nothing and stay allowed.
    let conn = sim.control.ids("connections")[0].clone();
    sim.control.set_connection_test_failure(&conn, None);
    c.test_connection(conn).await.expect("test allowed");
    c.logout().await;

    assert!(sim.control.contains("datasources", &ds.id));
    assert!(sim.control.contains("logins", &login.id));
    let mutations = requests_matching(&sim, |r| {
        r.method != "GET"
            && !(r.method == "POST"
                && (r.path.ends_with("/api/auth/login")
                    || r.path.ends_with("/api/auth/logout")
                    || r.path.ends_with("/api/datasources/connections/test")))
    });
    assert!(mutations.is_empty(), "{mutations:?}");
}

#[tokio::test]
async fn logout_ends_the_session_and_a_later_call_logs_in_again() {
    let sim = sim().await;
    let c = client(&sim);
    c.load().await.unwrap();
    sim.control.clear_requests();
    c.logout().await;
    let reqs = sim.control.requests();
    assert_eq!(
        reqs,
        vec![SimRequest {
            method: "POST".into(),
            path: "/MicroStrategyLibrary/api/auth/logout".into(),
            query: String::new(),
            status: 204,
            credential: (),
        }]
    );
    // A second logout has no session to end: nothing is sent.
    c.logout().await;
    assert_eq!(sim.control.requests().len(), 1);

    c.load().await.expect("load after logout");
    assert_eq!(sim.control.login_count(), 2);

    // Logging out of an expired session is fine too.
    sim.control.expire_all_sessions();
    c.logout().await;
}

#[tokio::test]
async fn a_dead_server_is_a_transport_error() {
    let sim = sim().await;
    let base = sim.base_url.clone();
    sim.shutdown();
    drop(sim);
    // Wait until the listener is really closed (graceful shutdown is asynchronous).
    let mut closed = false;
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(
            base.trim_start_matches("http://")
                .trim_end_matches("/MicroStrategyLibrary"),
        )
        .await
        .is_err()
        {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(closed, "simulator did not stop");
    let c = MstrClient::new(settings(&base, msim::DEMO_PASSWORD, false)).unwrap();
    let err = c.load().await.unwrap_err();
    assert!(matches!(err, ApiError::Transport { .. }), "{err:?}");
    assert!(err.to_string().contains("connection refused"), "{err}");
}

// ---- Changing instead of deleting (issue 16) ------------------------------------------------

use dsconsole::vendors::change::{Change, FieldValue};
use secrecy::SecretString;

fn text(field: &str, value: &str) -> Change {
    Change::default().set(field, FieldValue::Text(value.into()))
}

#[tokio::test]
async fn a_rename_is_one_patch_and_a_name_clash_is_refused_in_the_servers_words() {
    let sim = sim().await;
    let c = client(&sim);
    let snap = c.load().await.expect("load");
    let conns = by_kind(&snap.resources, Kind::Connections);
    let (a, b) = (conns[0].as_ref().clone(), conns[1]);
    let renamed = c
        .update(a.clone(), text("name", "Renamed Warehouse"))
        .await
        .expect("renamed");
    assert_eq!(renamed.name, "Renamed Warehouse");
    assert_eq!(renamed.id, a.id);
    let stored = sim.control.object("connections", &a.id).expect("stored");
    assert_eq!(stored["name"], "Renamed Warehouse");
    let patches = requests_matching(&sim, |r| r.method == "PATCH");
    assert_eq!(patches.len(), 1, "{patches:?}");

    // Another object's name: refused, and nothing changed.
    let err = c
        .update(a.clone(), text("name", &b.name))
        .await
        .expect_err("clash");
    assert_eq!(err.status(), Some(400), "{err}");
    assert!(
        err.to_string().contains("already"),
        "the server's words: {err}"
    );
    let stored = sim.control.object("connections", &a.id).expect("stored");
    assert_eq!(stored["name"], "Renamed Warehouse");
}

#[tokio::test]
async fn a_rotated_password_makes_the_connections_that_use_the_login_pass_their_test_again() {
    let sim = sim().await;
    let c = client(&sim);
    let snap = c.load().await.expect("load");
    // A login and a connection that uses it.
    let (conn, login) = by_kind(&snap.resources, Kind::Connections)
        .into_iter()
        .find_map(|conn| {
            let login = conn.depends_on.iter().find(|d| d.kind == Kind::Logins)?;
            Some((conn.id.to_string(), login.clone()))
        })
        .expect("a connection with a login");
    sim.control.set_connection_test_failure(&conn, None);
    sim.control
        .set_database_password(&login.id, Some("n3w-s3cret-4"));
    let err = c
        .test_connection(conn.clone())
        .await
        .expect_err("old password");
    assert!(err.to_string().contains("Login failed"), "{err}");

    let change = Change::default().set(
        "password",
        FieldValue::Secret(SecretString::from("n3w-s3cret-4")),
    );
    let after = c.update(login.clone(), change).await.expect("rotated");
    assert_eq!(after.id, login.id);
    assert!(
        !after.raw.as_str().contains("n3w-s3cret-4"),
        "the answer carries no password"
    );
    assert_eq!(
        sim.control.login_password(&login.id).as_deref(),
        Some("n3w-s3cret-4")
    );
    c.test_connection(conn.to_string())
        .await
        .expect("the new password works");
    // One request: the operationList's PATCH.
    let patch = requests_matching(&sim, |r| r.method == "PATCH");
    assert_eq!(patch.len(), 1, "{patch:?}");
    assert!(patch[0]
        .path
        .ends_with(&format!("/api/datasources/logins/{}", login.id)));
}

#[tokio::test]
async fn fields_map_to_their_paths_and_read_only_sends_no_patch() {
    let sim = sim().await;
    let c = client(&sim);
    let snap = c.load().await.expect("load");
    let login = by_kind(&snap.resources, Kind::Logins)[0].as_ref().clone();
    let after = c
        .update(
            login.clone(),
            text("username", "etl_rotated").set("description", FieldValue::Text("moved".into())),
        )
        .await
        .expect("changed");
    assert_eq!(after.raw.value()["username"], "etl_rotated");
    assert_eq!(after.raw.value()["description"], "moved");
    // A field MicroStrategy does not have: refused before anything is sent.
    let err = c
        .update(login.clone(), text("color", "x"))
        .await
        .expect_err("unknown field");
    assert!(err.to_string().contains("no field 'color'"), "{err}");
    assert_eq!(requests_matching(&sim, |r| r.method == "PATCH").len(), 1);

    let ro = MstrClient::new(settings(&sim.base_url, msim::DEMO_PASSWORD, true)).unwrap();
    let err = ro
        .update(login, text("name", "nope"))
        .await
        .expect_err("read-only");
    assert!(matches!(err, ApiError::ReadOnly { .. }), "{err:?}");
    assert_eq!(requests_matching(&sim, |r| r.method == "PATCH").len(), 1);
}

#[tokio::test]
async fn an_owner_transfer_is_a_put_on_the_objects_route_and_an_unknown_user_is_refused() {
    let sim = sim().await;
    let c = client(&sim);
    let snap = c.load().await.expect("load");
    let ds = by_kind(&snap.resources, Kind::Datasources)[0]
        .as_ref()
        .clone();
    // Priya Raman's id, from an object she owns.
    let priya = snap
        .resources
        .iter()
        .find_map(|r| {
            (r.raw.pointer_str("/owner/name").as_deref() == Some("Priya Raman"))
                .then(|| r.raw.pointer_str("/owner/id"))
                .flatten()
        })
        .expect("the seed has objects Priya owns");
    let after = c
        .update(
            ds.clone(),
            text("owner", &priya).set("description", FieldValue::Text("handed over".into())),
        )
        .await
        .expect("transferred");
    assert_eq!(
        after.raw.pointer_str("/owner/id").as_deref(),
        Some(priya.as_str())
    );
    assert_eq!(
        after.raw.pointer_str("/owner/name").as_deref(),
        Some("Priya Raman")
    );
    assert_eq!(
        after.raw.pointer_str("/description").as_deref(),
        Some("handed over")
    );
    let puts = requests_matching(&sim, |r| {
        r.method == "PUT" && r.path.contains("/api/objects/")
    });
    assert_eq!(puts.len(), 1, "{puts:?}");
    assert!(puts[0].query.contains("type=29"), "{puts:?}");
    let err = c
        .update(ds, text("owner", "00000000000000000000000000000000"))
        .await
        .expect_err("unknown user");
    assert_eq!(err.code(), Some("ERR004"), "{err}");
    assert!(err.to_string().contains("could not be found"), "{err}");
}

// ---- Login modes (issue 15) -------------------------------------------------------------------

#[tokio::test]
async fn ldap_and_api_token_logins_work_and_a_wrong_one_is_refused() {
    let sim = sim().await;
    sim.control.set_ldap_user("jdoe", "ldap-Secret-1");
    sim.control.add_api_token("mstr-api-token-abc123");
    let with = |user: Option<&str>, secret: &str, mode: &str| {
        let mut s = common::settings::client(
            "it-mstr",
            dsconsole::model::VendorId::MicroStrategy,
            &sim.base_url,
            secret,
        )
        .option("login_mode", mode);
        if let Some(u) = user {
            s = s.username(u);
        }
        MstrClient::new(s).expect("client")
    };
    let ldap = with(Some("jdoe"), "ldap-Secret-1", "16");
    assert!(!ldap.load().await.expect("LDAP login").resources.is_empty());
    let token = with(None, "mstr-api-token-abc123", "4096");
    assert!(!token
        .load()
        .await
        .expect("API token login")
        .resources
        .is_empty());
    // The same credentials in the wrong mode, or a wrong token: refused, never shown.
    let err = with(Some("jdoe"), "ldap-Secret-1", "1")
        .load()
        .await
        .expect_err("standard mode");
    assert_eq!(err.status(), Some(401), "{err}");
    let err = with(None, "not-the-token", "4096")
        .load()
        .await
        .expect_err("wrong token");
    assert_eq!(err.status(), Some(401), "{err}");
    assert!(!err.to_string().contains("not-the-token"), "{err}");
}
