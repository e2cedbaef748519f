//! The Superset client against a real Superset server (or anything that answers like one):
//! set `DSCONSOLE_SUPERSET_URL`, `DSCONSOLE_SUPERSET_USER` and `DSCONSOLE_SUPERSET_PASSWORD`.
//! Without them every test prints a loud "skipped" line and passes.
//!
//! What the tests create is named `sc-...` and deleted again. Datasets are virtual (`select 1`)
//! so their names never clash with seeded tables (SQLite metadata keeps a unique table name).
//! Databases need a Postgres data database: `DSCONSOLE_SUPERSET_PG_URI` (a URI with its
//! password) — else those tests are skipped; `DSCONSOLE_SUPERSET_PG_ADMIN` (a superuser URI,
//! used with `psql`) makes a role whose password changes under Superset (failing test,
//! rotation).
//!
//! CSRF is covered by construction: every mutation here goes to a server with CSRF on.

use dsconsole::model::{Kind, Ref, Resource, VendorId};
use dsconsole::vendors::change::{Change, FieldValue};
use dsconsole::vendors::superset::{SupersetClient, SPEC};
use dsconsole::vendors::{
    ApiError, ClientSettings, DeleteOutcome, HealthCheck, Snapshot, VendorApi,
};
use secrecy::SecretString;
use serde_json::{json, Value};
use std::time::Duration;

struct Server {
    url: String,
    user: String,
    password: String,
}

fn server(test: &str) -> Option<Server> {
    let get = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    match (
        get("DSCONSOLE_SUPERSET_URL"),
        get("DSCONSOLE_SUPERSET_USER"),
        get("DSCONSOLE_SUPERSET_PASSWORD"),
    ) {
        (Some(url), Some(user), Some(password)) => Some(Server {
            url,
            user,
            password,
        }),
        _ => {
            eprintln!(
                "\n*** {test}: skipped: no Superset (set DSCONSOLE_SUPERSET_URL, \
                 DSCONSOLE_SUPERSET_USER, DSCONSOLE_SUPERSET_PASSWORD) ***\n"
            );
            None
        }
    }
}

fn settings(s: &Server) -> ClientSettings {
    ClientSettings::new(
        "it-superset",
        VendorId::Superset,
        &s.url,
        SecretString::from(s.password.clone()),
    )
    .username(&s.user)
    .timeout(Duration::from_secs(60))
}

fn client(s: &Server) -> SupersetClient {
    SupersetClient::new(settings(s)).expect("client")
}

fn unique(what: &str) -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("sc-{what}-{}-{}", std::process::id(), n % 1_000_000_000)
}

fn of_kind(snap: &Snapshot, kind: Kind) -> Vec<&Resource> {
    snap.resources.iter().filter(|r| r.kind == kind).collect()
}

fn r(kind: Kind, id: &str) -> Ref {
    Ref {
        kind,
        id: id.into(),
        name: id.into(),
    }
}

/// What the client cannot do (datasets are created in Superset): a bare API session with
/// the CSRF token and its cookie.
struct Raw {
    http: reqwest::Client,
    base: String,
    access: String,
    csrf: String,
}

impl Raw {
    async fn login(s: &Server) -> Raw {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .expect("http");
        let base = s.url.trim_end_matches('/').to_string();
        let v: Value = http
            .post(format!("{base}/api/v1/security/login"))
            .json(&json!({"username": s.user, "password": s.password, "provider": "db", "refresh": true}))
            .send()
            .await
            .expect("login")
            .json()
            .await
            .expect("login json");
        let access = v["access_token"].as_str().expect("token").to_string();
        let v: Value = http
            .get(format!("{base}/api/v1/security/csrf_token/"))
            .bearer_auth(&access)
            .send()
            .await
            .expect("csrf")
            .json()
            .await
            .expect("csrf json");
        let csrf = v["result"].as_str().unwrap_or("").to_string();
        Raw {
            http,
            base,
            access,
            csrf,
        }
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.access)
            .header("X-CSRFToken", &self.csrf)
            .header("Referer", format!("{}/", self.base));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// A virtual dataset on database `db` (its id).
    async fn dataset(&self, db: &str, name: &str) -> String {
        let (status, v) = self
            .send(
                reqwest::Method::POST,
                "/api/v1/dataset/",
                Some(json!({"database": db.parse::<u64>().unwrap(), "table_name": name, "sql": "select 1 as x"})),
            )
            .await;
        assert_eq!(status, 201, "dataset create: {v}");
        v["id"].to_string()
    }

    async fn chart(&self, dataset: &str, name: &str) -> String {
        let (status, v) = self
            .send(
                reqwest::Method::POST,
                "/api/v1/chart/",
                Some(json!({"slice_name": name, "viz_type": "table", "datasource_id": dataset.parse::<u64>().unwrap(),
                    "datasource_type": "table", "params": "{}"})),
            )
            .await;
        assert_eq!(status, 201, "chart create: {v}");
        v["id"].to_string()
    }

    async fn delete(&self, path: &str) {
        let _ = self.send(reqwest::Method::DELETE, path, None).await;
    }
}

/// A Postgres data database for databases the tests create: its URI without the password
/// (`DSCONSOLE_SUPERSET_PG_URI`) and the password (`DSCONSOLE_SUPERSET_PG_PASSWORD`, else
/// the one in the URI).
fn pg_uri(test: &str) -> Option<(String, String)> {
    let uri = std::env::var("DSCONSOLE_SUPERSET_PG_URI")
        .ok()
        .filter(|u| !u.is_empty());
    let Some(uri) = uri else {
        eprintln!("\n*** {test}: skipped: no DSCONSOLE_SUPERSET_PG_URI ***\n");
        return None;
    };
    let in_uri = dsconsole::vendors::superset::uri_password(&uri)
        .unwrap_or("")
        .to_string();
    let without = if in_uri.is_empty() {
        uri.clone()
    } else {
        uri.replacen(&format!(":{in_uri}@"), "@", 1)
    };
    let pw = std::env::var("DSCONSOLE_SUPERSET_PG_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or(in_uri);
    Some((without, pw))
}

/// A database made through the client's create (the form's body shape).
async fn create_db(c: &SupersetClient, name: &str, uri_without_pw: &str, pw: &str) -> Resource {
    let body = json!({"name": name, "sqlalchemy_uri": uri_without_pw, "password": pw,
        "expose_in_sqllab": true, "allow_dml": false});
    c.create(Kind::Connections, body)
        .await
        .expect("create database")
}

#[tokio::test]
async fn logs_in_and_lists_both_kinds_page_by_page() {
    let Some(s) = server("logs_in_and_lists_both_kinds_page_by_page") else {
        return;
    };
    let full = client(&s).load().await.expect("load");
    let small = SupersetClient::new(settings(&s).option("page_size", "1"))
        .expect("client")
        .load()
        .await
        .expect("paged load");
    // Other tests' `sc-` objects come and go meanwhile (the list may then also warn that
    // its count changed while it was read).
    let ids = |snap: &Snapshot, k| {
        let mut v: Vec<String> = of_kind(snap, k)
            .iter()
            .filter(|r| !r.name.contains("sc-"))
            .map(|r| r.id.to_string())
            .collect();
        v.sort();
        v
    };
    for k in SPEC.kinds {
        assert!(!ids(&full, *k).is_empty(), "no {k}");
        assert_eq!(ids(&full, *k), ids(&small, *k), "{k}: paging by 1 differs");
    }
    assert!(
        small.warnings.iter().all(|w| !w.contains("repeated")),
        "{:?}",
        small.warnings
    );
    let dbs = of_kind(&full, Kind::Connections);
    for ds in of_kind(&full, Kind::Datasources) {
        let db = &ds.depends_on[0];
        assert!(
            dbs.iter().any(|d| d.id == db.id),
            "{} on a missing database",
            ds.name
        );
        let owner = dbs.iter().find(|d| d.id == db.id).unwrap();
        assert!(owner.used_by.iter().any(|u| u.id == ds.id));
    }
    // No password ever reaches a snapshot.
    for d in &dbs {
        if let Some(uri) = d.raw_str("/sqlalchemy_uri") {
            let pw = dsconsole::vendors::superset::uri_password(&uri);
            assert!(pw.is_none() || pw == Some("XXXXXXXXXX"), "{uri}");
        }
    }
}

#[tokio::test]
async fn impact_names_the_charts_of_a_dataset_and_of_its_database() {
    let Some(s) = server("impact_names_the_charts_of_a_dataset_and_of_its_database") else {
        return;
    };
    let c = client(&s);
    let snap = c.load().await.expect("load");
    let Some(used) = of_kind(&snap, Kind::Datasources)
        .into_iter()
        .find(|d| !d.used_by_other.is_empty())
    else {
        eprintln!("*** no dataset with charts on this server: impact not checked ***");
        return;
    };
    let targets = dsconsole::impact::targets_for(&snap.resources, &[used.as_ref()]);
    let i = c.impact(targets[0].clone()).await;
    assert!(i.unknown.is_none(), "{i:?}");
    for chart in &used.used_by_other {
        assert!(
            i.dependents
                .iter()
                .any(|d| d.what == "chart" && d.id == chart.id),
            "{} missing from {i:?}",
            chart.name
        );
    }
    let db = used.depends_on[0].clone();
    let targets = dsconsole::impact::targets_for(&snap.resources, &[db]);
    let i = c.impact(targets[0].clone()).await;
    assert!(i.dependents.iter().any(|d| d.what == "chart"), "{i:?}");
    // A gone object: unknown, never "none".
    let gone = dsconsole::impact::targets_for(&[], &[r(Kind::Datasources, "987654321")]);
    let i = c.impact(gone[0].clone()).await;
    assert!(i.unknown.is_some(), "{i:?}");
}

#[tokio::test]
async fn a_database_with_datasets_is_refused_and_a_cascade_deletes_in_order() {
    let test = "a_database_with_datasets_is_refused_and_a_cascade_deletes_in_order";
    let (Some(s), Some((base, pw))) = (server(test), pg_uri(test)) else {
        return;
    };
    let c = client(&s);
    let raw = Raw::login(&s).await;
    let db = create_db(&c, &unique("db"), &base, &pw).await;
    assert_eq!(
        db.raw_str("/sqlalchemy_uri")
            .map(|u| u.contains("XXXXXXXXXX")),
        Some(true)
    );
    let ds1 = raw.dataset(&db.id, &unique("v1")).await;
    let ds2 = raw.dataset(&db.id, &unique("v2")).await;
    let ds3 = raw.dataset(&db.id, &unique("v3")).await;
    let chart = raw.chart(&ds1, &unique("chart")).await;

    let e = c.delete(db.as_ref()).await.expect_err("refused");
    assert_eq!(e.status(), Some(422), "{e}");
    assert_eq!(
        e.reason(),
        "Cannot delete a database that has datasets attached"
    );

    // The loaded graph: the database is used by its datasets, ds1 by its chart.
    let snap = c.load().await.expect("load");
    let d = snap
        .resources
        .iter()
        .find(|r| r.kind == Kind::Connections && r.id == db.id)
        .unwrap();
    assert_eq!(d.used_by.len(), 3);
    let one = snap
        .resources
        .iter()
        .find(|r| r.kind == Kind::Datasources && r.id == ds1)
        .unwrap();
    assert!(one.used_by_other.iter().any(|u| u.id == chart), "{one:?}");
    assert!(!one.orphan);
    let three = snap
        .resources
        .iter()
        .find(|r| r.kind == Kind::Datasources && r.id == ds3)
        .unwrap();
    assert!(three.orphan, "no chart uses it");

    // Cascade in the spec's order: datasets (one already gone: all-or-nothing on the
    // server, settled per object here), then the database.
    assert_eq!(SPEC.delete_order, &[Kind::Datasources, Kind::Connections]);
    assert_eq!(
        c.delete(r(Kind::Datasources, &ds3)).await,
        Ok(DeleteOutcome::Deleted)
    );
    let results = c
        .delete_batch(vec![
            r(Kind::Datasources, &ds1),
            r(Kind::Datasources, &ds3),
            r(Kind::Datasources, &ds2),
        ])
        .await;
    assert_eq!(
        results,
        vec![
            Ok(DeleteOutcome::Deleted),
            Ok(DeleteOutcome::AlreadyGone),
            Ok(DeleteOutcome::Deleted)
        ]
    );
    for id in [&ds1, &ds2, &ds3] {
        let e = c.get(r(Kind::Datasources, id)).await.expect_err("gone");
        assert_eq!(e.status(), Some(404));
    }
    assert_eq!(c.delete(db.as_ref()).await, Ok(DeleteOutcome::Deleted));
    assert_eq!(c.delete(db.as_ref()).await, Ok(DeleteOutcome::AlreadyGone));
    raw.delete(&format!("/api/v1/chart/{chart}")).await;
}

/// The name of some database other than `id`.
async fn snap_name(c: &SupersetClient, id: &str) -> String {
    let snap = c.load().await.expect("load");
    of_kind(&snap, Kind::Connections)
        .into_iter()
        .find(|d| d.id != id)
        .map(|d| d.name.clone())
        .expect("another database")
        .to_string()
}

/// `psql` as the Postgres superuser (`DSCONSOLE_SUPERSET_PG_ADMIN`), if available.
fn psql(sql: &str) -> bool {
    let Ok(admin) = std::env::var("DSCONSOLE_SUPERSET_PG_ADMIN") else {
        return false;
    };
    std::process::Command::new("psql")
        .args([admin.as_str(), "-qAtc", sql])
        .status()
        .is_ok_and(|s| s.success())
}

#[tokio::test]
async fn a_failing_connection_test_and_password_rotation() {
    let test = "a_failing_connection_test_and_password_rotation";
    let (Some(s), Some((base, _))) = (server(test), pg_uri(test)) else {
        return;
    };
    let role = unique("role").replace('-', "_");
    let (pw1, pw2) = ("first-Pw:1@/", "second-Pw!2");
    if !psql(&format!("CREATE ROLE {role} LOGIN PASSWORD '{pw1}'")) {
        eprintln!("\n*** {test}: skipped: no DSCONSOLE_SUPERSET_PG_ADMIN / psql ***\n");
        return;
    }
    let c = client(&s);
    let user = base
        .split("://")
        .nth(1)
        .and_then(|r| r.split('@').next())
        .unwrap_or("")
        .to_string();
    let role_uri = base.replacen(&format!("://{user}@"), &format!("://{role}@"), 1);
    let db = create_db(&c, &unique("rot"), &role_uri, pw1).await;
    let passed = |h: &Result<HealthCheck, ApiError>| matches!(h, Ok(HealthCheck::Passed { .. }));
    assert!(passed(&c.check_health(db.as_ref()).await));
    assert_eq!(c.test_connection(db.id.to_string()).await, Ok(()));

    // The password changes under Superset: the stored one fails, in the server's words.
    assert!(psql(&format!("ALTER ROLE {role} PASSWORD '{pw2}'")));
    match c.check_health(db.as_ref()).await {
        Ok(HealthCheck::Failed { reason, .. }) => {
            assert!(
                reason.contains("password") && reason.contains("issue 1013"),
                "{reason}"
            )
        }
        other => panic!("expected a failed test, got {other:?}"),
    }
    let e = c
        .test_connection(db.id.to_string())
        .await
        .expect_err("fails");
    assert_eq!(e.code(), Some("CONNECTION_INVALID_PASSWORD_ERROR"), "{e}");

    // A wrong new password is refused by the server's own test and changes nothing.
    let secret = |p: &str| FieldValue::Secret(SecretString::from(p.to_string()));
    let e = c
        .update(
            db.as_ref(),
            Change::default().set("password", secret("wrong")),
        )
        .await
        .expect_err("refused");
    assert_eq!(e.status(), Some(422), "{e}");
    // Rotation: the new password in place of the mask; the test passes again.
    let after = c
        .update(db.as_ref(), Change::default().set("password", secret(pw2)))
        .await
        .expect("rotated");
    assert_eq!(
        after.raw_str("/sqlalchemy_uri").as_deref(),
        Some(
            role_uri
                .replacen(&format!("{role}@"), &format!("{role}:XXXXXXXXXX@"), 1)
                .as_str()
        )
    );
    assert!(passed(&c.check_health(db.as_ref()).await));
    // Rename and a switch alone (no URI in the body).
    let new_name = unique("renamed");
    let after = c
        .update(
            db.as_ref(),
            Change::default()
                .set("name", FieldValue::Text(new_name.clone()))
                .set("allow_dml", FieldValue::Text("true".into())),
        )
        .await
        .expect("renamed");
    assert_eq!(after.name, new_name);
    assert_eq!(after.raw.value()["allow_dml"], true);
    // A URI without a password keeps the stored one (the client sends the mask back).
    c.update(
        db.as_ref(),
        Change::default().set("sqlalchemy_uri", FieldValue::Text(role_uri.clone())),
    )
    .await
    .expect("same URI");
    assert!(passed(&c.check_health(db.as_ref()).await));
    // A duplicate name, in the server's words.
    let other = snap_name(&c, &db.id).await;
    let e = c
        .update(
            db.as_ref(),
            Change::default().set("name", FieldValue::Text(other.clone())),
        )
        .await
        .expect_err("duplicate");
    assert_eq!(e.status(), Some(422), "{e}");
    assert!(e.reason().starts_with("database_name: "), "{e}");

    assert_eq!(c.delete(db.as_ref()).await, Ok(DeleteOutcome::Deleted));
    psql(&format!("DROP ROLE {role}"));
}

#[tokio::test]
async fn dataset_owners_change_and_unknown_owners_are_refused() {
    let test = "dataset_owners_change_and_unknown_owners_are_refused";
    let Some(s) = server(test) else { return };
    let c = client(&s);
    let raw = Raw::login(&s).await;
    let snap = c.load().await.expect("load");
    let Some(db) = of_kind(&snap, Kind::Connections)
        .first()
        .map(|d| d.id.clone())
    else {
        return;
    };
    let ds = raw.dataset(&db, &unique("own")).await;
    let target = r(Kind::Datasources, &ds);
    let by_name = |who: &str| Change::default().set("owner", FieldValue::Text(who.into()));
    let me = c
        .get(target.clone())
        .await
        .expect("get")
        .owner
        .expect("an owner");
    let after = c
        .update(target.clone(), by_name(&me))
        .await
        .expect("owner by name");
    assert_eq!(after.owner.as_deref(), Some(me.as_str()));
    let id = after.raw.value()["owners"][0]["id"].to_string();
    c.update(target.clone(), by_name(&id))
        .await
        .expect("owner by id");
    let e = c
        .update(target.clone(), by_name("987654"))
        .await
        .expect_err("refused");
    assert_eq!(
        (e.status(), e.reason().as_str()),
        (Some(422), "owners: Owners are invalid")
    );
    let e = c
        .update(target.clone(), by_name("sc-nobody at all"))
        .await
        .expect_err("unknown");
    assert!(e.to_string().contains("no Superset user"), "{e}");
    assert_eq!(c.delete(target).await, Ok(DeleteOutcome::Deleted));
}

#[tokio::test]
async fn a_read_only_profile_changes_nothing_but_may_test() {
    let Some(s) = server("a_read_only_profile_changes_nothing_but_may_test") else {
        return;
    };
    let c = SupersetClient::new(settings(&s).read_only(true)).expect("client");
    let before = c.load().await.expect("load");
    let ds = of_kind(&before, Kind::Datasources)[0].as_ref();
    let db = of_kind(&before, Kind::Connections)[0].as_ref();
    for e in [
        c.delete(ds.clone()).await.expect_err("refused"),
        c.delete_batch(vec![ds.clone(), ds.clone()])
            .await
            .remove(0)
            .expect_err("refused"),
        c.update(
            db.clone(),
            Change::default().set("name", FieldValue::Text("x".into())),
        )
        .await
        .expect_err("refused"),
        c.create(
            Kind::Connections,
            json!({"name": "sc-x", "sqlalchemy_uri": "postgresql://u@h/d"}),
        )
        .await
        .expect_err("refused"),
    ] {
        assert!(matches!(e, ApiError::ReadOnly { .. }), "{e}");
        assert!(e.to_string().contains("read-only"), "{e}");
    }
    // A connection test stores nothing: allowed (it passes or fails, never "read-only").
    if let Err(e) = c.test_connection(db.id.to_string()).await {
        assert!(!matches!(e, ApiError::ReadOnly { .. }), "{e}");
    }
    let after = c.load().await.expect("load");
    let names = |s: &Snapshot| {
        // Other tests' `sc-` objects come and go meanwhile.
        let mut v: Vec<(Kind, String, String)> = s
            .resources
            .iter()
            .filter(|r| !r.name.contains("sc-"))
            .map(|r| (r.kind, r.id.to_string(), r.name.to_string()))
            .collect();
        v.sort();
        v
    };
    assert_eq!(names(&before), names(&after));
}
