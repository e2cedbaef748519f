//! Raw-HTTP tests of the MicroStrategy simulator (independent of the client in src/vendors).
// These run the built-in simulators, which need the `sim` feature (on by default).
#![cfg(feature = "sim")]

use dsconsole::sim::microstrategy::{self, MstrSim, DEMO_PASSWORD, DEMO_USERNAME};
use dsconsole::sim::SimOptions;
use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};

const SEED: &str = include_str!("../assets/microstrategy.json");
const EXPIRED: &str = "The user's session has expired, please reauthenticate";

fn seed() -> Value {
    serde_json::from_str(SEED).expect("seed is JSON")
}

fn seed_count(kind: &str) -> usize {
    seed()[kind].as_array().map(Vec::len).unwrap_or(0)
}

async fn start() -> MstrSim {
    microstrategy::start(&SimOptions::default())
        .await
        .expect("simulator starts")
}

fn cookie_client() -> Client {
    Client::builder()
        .cookie_store(true)
        .build()
        .expect("client")
}

fn is_hex32(s: &str, upper: bool) -> bool {
    s.len() == 32
        && s.chars().all(|c| {
            c.is_ascii_digit()
                || if upper {
                    ('A'..='F').contains(&c)
                } else {
                    ('a'..='f').contains(&c)
                }
        })
}

/// A logged-in session: a cookie-keeping client and the token.
struct Session {
    client: Client,
    base: String,
    token: String,
}

impl Session {
    async fn open(sim: &MstrSim) -> Session {
        let client = cookie_client();
        let resp = client
            .post(format!("{}/api/auth/login", sim.base_url))
            .json(&json!({"loginMode": 1, "username": DEMO_USERNAME, "password": DEMO_PASSWORD}))
            .send()
            .await
            .expect("login request");
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
        let token = resp
            .headers()
            .get("X-MSTR-AuthToken")
            .and_then(|v| v.to_str().ok())
            .expect("token header")
            .to_string();
        Session {
            client,
            base: sim.base_url.clone(),
            token,
        }
    }

    fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{}", self.base, path))
            .header("X-MSTR-AuthToken", &self.token)
    }

    async fn get(&self, path: &str) -> Response {
        self.req(reqwest::Method::GET, path)
            .send()
            .await
            .expect("GET")
    }

    async fn delete(&self, path: &str) -> Response {
        self.req(reqwest::Method::DELETE, path)
            .send()
            .await
            .expect("DELETE")
    }

    async fn post(&self, path: &str, body: Value) -> Response {
        self.req(reqwest::Method::POST, path)
            .json(&body)
            .send()
            .await
            .expect("POST")
    }

    async fn patch(&self, path: &str, body: Value) -> Response {
        self.req(reqwest::Method::PATCH, path)
            .json(&body)
            .send()
            .await
            .expect("PATCH")
    }
}

async fn json_of(resp: Response) -> Value {
    let text = resp.text().await.expect("body");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Assert a JSON error body with this code and return its message.
async fn error_of(resp: Response, status: StatusCode, code: &str) -> String {
    assert_eq!(resp.status(), status);
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert_eq!(content_type, "application/json;charset=UTF-8");
    let body = json_of(resp).await;
    assert_eq!(body["code"], code, "body: {body}");
    let ticket = body["ticketId"].as_str().expect("ticketId");
    assert!(is_hex32(ticket, false), "ticket {ticket}");
    body["message"].as_str().expect("message").to_string()
}

#[tokio::test]
async fn json_login_returns_token_and_session_cookie() {
    let sim = start().await;
    let client = cookie_client();
    let resp = client
        .post(format!("{}/api/auth/login", sim.base_url))
        .json(&json!({"loginMode": 1, "username": DEMO_USERNAME, "password": DEMO_PASSWORD, "applicationType": 35}))
        .send()
        .await
        .expect("login");
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let token = resp.headers()["x-mstr-authtoken"]
        .to_str()
        .expect("ascii")
        .to_string();
    assert_eq!(token.len(), 26);
    assert!(token
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
    let cookie = resp.headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .to_string();
    let value = cookie
        .strip_prefix("JSESSIONID=")
        .and_then(|rest| rest.split(';').next())
        .expect("JSESSIONID cookie");
    assert!(is_hex32(value, true), "cookie {cookie}");
    assert!(cookie.contains("; Path=/MicroStrategyLibrary"));
    assert!(cookie.contains("HttpOnly"));
    assert_eq!(resp.text().await.expect("body"), "");
    assert_eq!(sim.control.login_count(), 1);

    let resp = client
        .get(format!("{}/api/sessions", sim.base_url))
        .header("X-MSTR-AuthToken", &token)
        .send()
        .await
        .expect("sessions");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()["content-type"],
        "application/json;charset=UTF-8"
    );
    assert_eq!(resp.headers()["server"], "MicroStrategy");
    assert_eq!(resp.headers()["pragma"], "no-cache");
    let body = json_of(resp).await;
    assert!(body["timeout"].as_u64().is_some_and(|t| t > 0), "{body}");

    let resp = client
        .put(format!("{}/api/sessions", sim.base_url))
        .header("X-MSTR-AuthToken", &token)
        .send()
        .await
        .expect("keep-alive");
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);

    let resp = client
        .get(format!("{}/api/sessions/userInfo", sim.base_url))
        .header("X-MSTR-AuthToken", &token)
        .send()
        .await
        .expect("userInfo");
    let body = json_of(resp).await;
    assert_eq!(body["metadataUser"], true);
    assert!(body["fullName"].is_string());
}

#[tokio::test]
async fn form_login_at_root_path_like_mstrio() {
    let sim = start().await;
    let root = sim
        .base_url
        .strip_suffix("/MicroStrategyLibrary")
        .expect("context path")
        .to_string();
    let client = cookie_client();
    let resp = client
        .post(format!("{root}/api/auth/login"))
        .form(&[
            ("loginMode", "1"),
            ("applicationType", "76"),
            ("username", DEMO_USERNAME),
            ("password", DEMO_PASSWORD),
        ])
        .send()
        .await
        .expect("login");
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let token = resp.headers()["x-mstr-authtoken"]
        .to_str()
        .expect("ascii")
        .to_string();
    let resp = client
        .get(format!("{root}/api/status"))
        .header("X-MSTR-AuthToken", &token)
        .send()
        .await
        .expect("status");
    assert_eq!(resp.status(), StatusCode::OK);
    let body = json_of(resp).await;
    let version = body["iServerVersion"].as_str().expect("iServerVersion");
    assert!(&version[..9] >= "11.5.0600", "{version}");
    assert!(body["webVersion"].is_string());
    let resp = client
        .get(format!("{root}/api/datasources/logins"))
        .header("X-MSTR-AuthToken", &token)
        .send()
        .await
        .expect("logins");
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn wrong_credentials_are_refused_with_err003() {
    let sim = start().await;
    let client = cookie_client();
    let resp = client
        .post(format!("{}/api/auth/login", sim.base_url))
        .json(&json!({"loginMode": 1, "username": DEMO_USERNAME, "password": "wrong"}))
        .send()
        .await
        .expect("login");
    assert!(resp.headers().get("x-mstr-authtoken").is_none());
    let message = error_of(resp, StatusCode::UNAUTHORIZED, "ERR003").await;
    assert_eq!(message, "Login failed");
    let resp = client
        .post(format!("{}/api/auth/login", sim.base_url))
        .form(&[
            ("loginMode", "1"),
            ("username", "nobody"),
            ("password", DEMO_PASSWORD),
        ])
        .send()
        .await
        .expect("login");
    error_of(resp, StatusCode::UNAUTHORIZED, "ERR003").await;
    assert_eq!(sim.control.login_count(), 0);
}

#[tokio::test]
async fn token_without_cookie_or_token_is_refused() {
    let sim = start().await;
    let s = Session::open(&sim).await;
    let bare = Client::new();
    let resp = bare
        .get(format!("{}/api/datasources", sim.base_url))
        .header("X-MSTR-AuthToken", &s.token)
        .send()
        .await
        .expect("request");
    assert_eq!(
        error_of(resp, StatusCode::UNAUTHORIZED, "ERR009").await,
        EXPIRED
    );
    let resp = bare
        .get(format!("{}/api/datasources", sim.base_url))
        .send()
        .await
        .expect("request");
    error_of(resp, StatusCode::UNAUTHORIZED, "ERR009").await;
    // The refused cookie-less call did not kill the session.
    assert_eq!(s.get("/api/datasources").await.status(), StatusCode::OK);

    sim.control.set_require_cookie(false);
    let resp = bare
        .get(format!("{}/api/datasources", sim.base_url))
        .header("X-MSTR-AuthToken", &s.token)
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn expired_sessions_get_err009_everywhere() {
    let sim = start().await;
    let s = Session::open(&sim).await;
    assert_eq!(s.get("/api/datasources").await.status(), StatusCode::OK);
    sim.control.expire_all_sessions();
    let resp = s.get("/api/datasources").await;
    assert_eq!(
        error_of(resp, StatusCode::UNAUTHORIZED, "ERR009").await,
        EXPIRED
    );
    let resp = s
        .req(reqwest::Method::PUT, "/api/sessions")
        .send()
        .await
        .expect("PUT");
    assert_eq!(
        error_of(resp, StatusCode::UNAUTHORIZED, "ERR009").await,
        EXPIRED
    );
    let resp = s.post("/api/auth/logout", json!({})).await;
    assert_eq!(
        error_of(resp, StatusCode::UNAUTHORIZED, "ERR009").await,
        EXPIRED
    );

    // Idle expiry: a zero idle timeout expires a session on its next use.
    let s2 = Session::open(&sim).await;
    sim.control
        .set_idle_timeout(Some(std::time::Duration::ZERO));
    let resp = s2.get("/api/datasources/connections").await;
    assert_eq!(
        error_of(resp, StatusCode::UNAUTHORIZED, "ERR009").await,
        EXPIRED
    );
    sim.control.set_idle_timeout(None);
    // Expired by idleness means gone, even after the timeout is lifted.
    let resp = s2.get("/api/datasources/connections").await;
    error_of(resp, StatusCode::UNAUTHORIZED, "ERR009").await;
    let s3 = Session::open(&sim).await;
    assert_eq!(
        s3.get("/api/datasources/connections").await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn logout_ends_the_session() {
    let sim = start().await;
    let s = Session::open(&sim).await;
    let resp = s.post("/api/auth/logout", json!({})).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(resp.text().await.expect("body"), "");
    let resp = s.get("/api/datasources").await;
    error_of(resp, StatusCode::UNAUTHORIZED, "ERR009").await;
}

#[tokio::test]
async fn lists_have_one_array_key_and_the_seed_counts() {
    let sim = start().await;
    let s = Session::open(&sim).await;
    for (path, key) in [
        ("/api/datasources", "datasources"),
        ("/api/datasources/connections", "connections"),
        ("/api/datasources/logins", "logins"),
    ] {
        let body = json_of(s.get(path).await).await;
        let obj = body.as_object().expect("object");
        assert_eq!(obj.len(), 1, "{path}: {:?}", obj.keys().collect::<Vec<_>>());
        let items = obj[key].as_array().expect("array");
        assert_eq!(items.len(), seed_count(key), "{path}");
        assert_eq!(sim.control.ids(key).len(), items.len());
        for item in items {
            assert!(is_hex32(item["id"].as_str().expect("id"), true), "{item}");
            assert!(item["dateCreated"]
                .as_str()
                .is_some_and(|d| d.ends_with("+0000")));
            match key {
                "connections" => {
                    assert!(item["database"]["login"].is_object(), "{item}");
                    assert!(item["database"]["type"].is_string(), "{item}");
                    assert!(item["database"]["version"].is_string(), "{item}");
                }
                "datasources" => assert!(item["database"]["type"].is_string(), "{item}"),
                _ => assert!(item.get("password").is_none(), "{item}"),
            }
        }
    }
    let dbmss = json_of(s.get("/api/dbobjects/dbmss").await).await;
    let dbmss = dbmss.as_array().expect("dbmss is a top-level array");
    assert!(dbmss
        .iter()
        .any(|d| d["id"] == "86AC7FD44D2B4B0FB65AE948EF19BDD0" && d["type"] == "snow_flake"));
}

#[tokio::test]
async fn datasource_list_honours_id_and_type_filters() {
    let sim = start().await;
    let s = Session::open(&sim).await;
    let all = sim.control.ids("datasources");
    let pick = format!("{},{}", all[0], all[3]);
    let body = json_of(s.get(&format!("/api/datasources?id={pick}")).await).await;
    let got: Vec<&str> = body["datasources"]
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|d| d["id"].as_str())
        .collect();
    assert_eq!(got, vec![all[0].as_str(), all[3].as_str()]);

    let body = json_of(
        s.get("/api/datasources?database.type=snow_flake,oracle")
            .await,
    )
    .await;
    let items = body["datasources"].as_array().expect("array");
    let expected = seed()["datasources"]
        .as_array()
        .expect("seed")
        .iter()
        .filter(|d| d["database"]["type"] == "snow_flake" || d["database"]["type"] == "oracle")
        .count();
    assert!(expected > 0);
    assert_eq!(items.len(), expected);
    assert!(items
        .iter()
        .all(|d| d["database"]["type"] == "snow_flake" || d["database"]["type"] == "oracle"));
}

#[tokio::test]
async fn create_chain_resolves_references_and_hides_passwords() {
    let sim = start().await;
    let s = Session::open(&sim).await;
    let resp = s
        .post(
            "/api/datasources/logins",
            json!({"name": "Test_Snow_Login", "username": "mstr", "password": "s3cret!", "description": ""}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let login = json_of(resp).await;
    let login_id = login["id"].as_str().expect("id").to_string();
    assert!(is_hex32(&login_id, true));
    assert_eq!(login["username"], "mstr");
    assert!(login.get("password").is_none());
    assert!(!login.to_string().contains("s3cret!"));
    assert!(login["dateCreated"]
        .as_str()
        .is_some_and(|d| d.ends_with("+0000")));

    let resp = s
        .post(
            "/api/datasources/connections",
            json!({
                "name": "Test_Snow_Connection", "connectionString": "DSN=SNOWFLAKE_DSN",
                "parameterizedQueries": false, "extendedFetch": false, "enable_sso": false,
                "database": {"login": {"id": login_id, "name": "whatever"}, "type": "snow_flake", "version": "snowflake_1x"}
            }),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let conn = json_of(resp).await;
    let conn_id = conn["id"].as_str().expect("id").to_string();
    assert_eq!(conn["database"]["login"]["name"], "Test_Snow_Login");
    assert_eq!(conn["database"]["login"]["id"], login_id.as_str());
    assert_eq!(conn["database"]["type"], "snow_flake");
    assert_eq!(conn["executionMode"], "synchronous");
    assert!(conn.get("enable_sso").is_none());

    let resp = s
        .post(
            "/api/datasources",
            json!({"name": "Test_Snow_Source", "database": {"connection": {"id": conn_id}},
                   "dbms": {"id": "86AC7FD44D2B4B0FB65AE948EF19BDD0"}}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let ds = json_of(resp).await;
    let ds_id = ds["id"].as_str().expect("id").to_string();
    assert_eq!(ds["database"]["connection"]["name"], "Test_Snow_Connection");
    assert_eq!(ds["database"]["connection"]["isEmbedded"], false);
    assert_eq!(ds["database"]["type"], "snow_flake");
    assert_eq!(ds["database"]["version"], "snowflake_1x");
    assert_eq!(ds["dbms"]["name"], "Snowflake");
    assert_eq!(ds["datasourceType"], "normal");

    let fetched = json_of(s.get(&format!("/api/datasources/{ds_id}")).await).await;
    assert_eq!(fetched, ds);
    assert_eq!(sim.control.object("datasources", &ds_id), Some(ds));
    assert!(sim.control.contains("logins", &login_id));
    assert_eq!(
        sim.control.ids("connections").last().map(String::as_str),
        Some(conn_id.as_str())
    );
    let fetched_login = json_of(s.get(&format!("/api/datasources/logins/{login_id}")).await).await;
    assert!(fetched_login.get("password").is_none());
}

#[tokio::test]
async fn create_validates_bodies() {
    let sim = start().await;
    let s = Session::open(&sim).await;
    let resp = s
        .post(
            "/api/datasources/logins",
            json!({"name": "No Password", "username": "u"}),
        )
        .await;
    let msg = error_of(resp, StatusCode::BAD_REQUEST, "ERR007").await;
    assert!(msg.contains("password"), "{msg}");
    let resp = s
        .post(
            "/api/datasources/connections",
            json!({"connectionString": "DSN=x"}),
        )
        .await;
    assert!(error_of(resp, StatusCode::BAD_REQUEST, "ERR007")
        .await
        .contains("name"));

    let missing = "0123456789ABCDEF0123456789ABCDEF";
    let resp = s
        .post(
            "/api/datasources/connections",
            json!({"name": "Dangling", "database": {"login": {"id": missing}}}),
        )
        .await;
    assert!(error_of(resp, StatusCode::BAD_REQUEST, "ERR006")
        .await
        .contains(missing));
    let resp = s
        .post(
            "/api/datasources",
            json!({"name": "Dangling", "database": {"connection": {"id": missing}}}),
        )
        .await;
    assert!(error_of(resp, StatusCode::BAD_REQUEST, "ERR006")
        .await
        .contains(missing));

    let existing = seed()["logins"][0]["name"]
        .as_str()
        .expect("name")
        .to_uppercase();
    let resp = s
        .post(
            "/api/datasources/logins",
            json!({"name": existing, "username": "u", "password": "p"}),
        )
        .await;
    error_of(resp, StatusCode::BAD_REQUEST, "ERR0015").await;

    let resp = s
        .req(reqwest::Method::POST, "/api/datasources/logins")
        .header("content-type", "application/json")
        .body("{\"name\": \"truncated")
        .send()
        .await
        .expect("POST");
    assert_eq!(
        error_of(resp, StatusCode::BAD_REQUEST, "ERR006").await,
        "Invalid JSON"
    );
    assert_eq!(sim.control.ids("logins").len(), seed_count("logins"));
}

#[tokio::test]
async fn patch_updates_and_renames_propagate() {
    let sim = start().await;
    let s = Session::open(&sim).await;
    let seed = seed();
    let conn = seed["connections"]
        .as_array()
        .expect("connections")
        .iter()
        .find(|c| c["database"]["login"]["id"].is_string())
        .expect("a connection with a login")
        .clone();
    let login_id = conn["database"]["login"]["id"].as_str().expect("id");
    let resp = s
        .patch(
            &format!("/api/datasources/logins/{login_id}"),
            json!({"operationList": [
                {"op": "replace", "path": "/name", "value": "Renamed Login"},
                {"op": "replace", "path": "/password", "value": "new-secret"}
            ]}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let login = json_of(resp).await;
    assert_eq!(login["name"], "Renamed Login");
    assert!(!login.to_string().contains("new-secret"));
    let conn_id = conn["id"].as_str().expect("id");
    let fetched = json_of(
        s.get(&format!("/api/datasources/connections/{conn_id}"))
            .await,
    )
    .await;
    assert_eq!(fetched["database"]["login"]["name"], "Renamed Login");

    let resp = s
        .patch(
            &format!("/api/datasources/connections/{conn_id}"),
            json!({"operationList": [{"op": "replace", "path": "/noSuchField", "value": 1}]}),
        )
        .await;
    error_of(resp, StatusCode::BAD_REQUEST, "ERR006").await;
    let resp = s
        .patch(
            &format!("/api/datasources/connections/{conn_id}"),
            json!({"operationList": [{"op": "replace", "path": "/databaseLoginId", "value": ""}]}),
        )
        .await;
    assert_eq!(json_of(resp).await["database"]["login"], json!({}));
}

#[tokio::test]
async fn deleting_objects_in_use_is_refused() {
    let sim = start().await;
    let s = Session::open(&sim).await;
    let seed = seed();
    let ds = &seed["datasources"][0];
    let conn_id = ds["database"]["connection"]["id"]
        .as_str()
        .expect("connection id");
    let conn = seed["connections"]
        .as_array()
        .expect("connections")
        .iter()
        .find(|c| c["id"] == conn_id)
        .expect("connection in seed");
    let login_id = conn["database"]["login"]["id"].as_str().expect("login id");

    let resp = s
        .delete(&format!("/api/datasources/connections/{conn_id}"))
        .await;
    let msg = error_of(resp, StatusCode::CONFLICT, "ERR001").await;
    assert!(msg.contains(conn["name"].as_str().expect("name")), "{msg}");
    assert!(msg.contains(ds["name"].as_str().expect("name")), "{msg}");
    assert!(sim.control.contains("connections", conn_id));
    assert_eq!(
        s.get(&format!("/api/datasources/connections/{conn_id}"))
            .await
            .status(),
        StatusCode::OK
    );

    let resp = s.delete(&format!("/api/objects/{login_id}?type=30")).await;
    let msg = error_of(resp, StatusCode::CONFLICT, "ERR001").await;
    assert!(msg.contains(conn["name"].as_str().expect("name")), "{msg}");
    assert!(sim.control.contains("logins", login_id));
}

#[tokio::test]
async fn delete_in_order_succeeds_with_empty_204s() {
    let sim = start().await;
    let s = Session::open(&sim).await;
    let login = json_of(
        s.post(
            "/api/datasources/logins",
            json!({"name": "L", "username": "u", "password": "p"}),
        )
        .await,
    )
    .await;
    let login_id = login["id"].as_str().expect("id").to_string();
    let conn = json_of(
        s.post(
            "/api/datasources/connections",
            json!({"name": "C", "database": {"login": {"id": login_id}}}),
        )
        .await,
    )
    .await;
    let conn_id = conn["id"].as_str().expect("id").to_string();
    let ds = json_of(
        s.post(
            "/api/datasources",
            json!({"name": "D", "database": {"connection": {"id": conn_id}}}),
        )
        .await,
    )
    .await;
    let ds_id = ds["id"].as_str().expect("id").to_string();

    for path in [
        format!("/api/datasources/{ds_id}"),
        format!("/api/datasources/connections/{conn_id}"),
        format!("/api/datasources/logins/{login_id}"),
    ] {
        let resp = s.delete(&path).await;
        assert_eq!(resp.status(), StatusCode::NO_CONTENT, "{path}");
        assert_eq!(resp.text().await.expect("body"), "");
        let msg = error_of(s.get(&path).await, StatusCode::NOT_FOUND, "ERR004").await;
        assert_ne!(msg, "HTTP 404 Not Found");
        assert!(msg.contains("is not found in metadata"), "{msg}");
    }
    assert!(!sim.control.contains("datasources", &ds_id));
    assert!(!sim.control.contains("connections", &conn_id));
    assert!(!sim.control.contains("logins", &login_id));
}

#[tokio::test]
async fn generic_object_delete_by_type() {
    let sim = start().await;
    let s = Session::open(&sim).await;
    let seed = seed();
    // A datasource nothing uses (no project, datasource or mapping).
    let legacy = seed_id("datasources", LEGACY);
    let ds_id = legacy.as_str();
    // Wrong type: the datasource is not a connection.
    let resp = s.delete(&format!("/api/objects/{ds_id}?type=31")).await;
    let msg = error_of(resp, StatusCode::NOT_FOUND, "ERR004").await;
    assert!(msg.contains(ds_id) && msg.contains("type 31"), "{msg}");
    assert!(sim.control.contains("datasources", ds_id));

    let resp = s.delete(&format!("/api/objects/{ds_id}?type=29")).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(resp.text().await.expect("body"), "");
    assert!(!sim.control.contains("datasources", ds_id));

    // An orphan connection and an orphan login go the same way.
    let used_conns: Vec<&str> = seed["datasources"]
        .as_array()
        .expect("datasources")
        .iter()
        .filter_map(|d| d["database"]["connection"]["id"].as_str())
        .collect();
    let orphan_conn = seed["connections"]
        .as_array()
        .expect("connections")
        .iter()
        .filter_map(|c| c["id"].as_str())
        .find(|id| !used_conns.contains(id))
        .expect("an orphan connection");
    let resp = s
        .delete(&format!("/api/objects/{orphan_conn}?type=31"))
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert!(!sim.control.contains("connections", orphan_conn));

    let used_logins: Vec<&str> = seed["connections"]
        .as_array()
        .expect("connections")
        .iter()
        .filter_map(|c| c["database"]["login"]["id"].as_str())
        .collect();
    let orphan_login = seed["logins"]
        .as_array()
        .expect("logins")
        .iter()
        .filter_map(|l| l["id"].as_str())
        .find(|id| !used_logins.contains(id))
        .expect("an orphan login");
    let resp = s
        .delete(&format!("/api/objects/{orphan_login}?type=30"))
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert!(!sim.control.contains("logins", orphan_login));

    let resp = s.delete(&format!("/api/objects/{orphan_login}")).await;
    error_of(resp, StatusCode::BAD_REQUEST, "ERR007").await;
}

#[tokio::test]
async fn object_404_differs_from_route_404_and_405() {
    let sim = start().await;
    let s = Session::open(&sim).await;
    let missing = "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF";
    let resp = s
        .get(&format!("/api/datasources/connections/{missing}"))
        .await;
    let msg = error_of(resp, StatusCode::NOT_FOUND, "ERR004").await;
    assert_eq!(
        msg,
        format!("(Object with ID '{missing}' and type 31 (DbConnection) is not found in metadata. It may have been deleted.)")
    );
    let resp = s
        .delete(&format!("/api/datasources/logins/{missing}"))
        .await;
    let msg = error_of(resp, StatusCode::NOT_FOUND, "ERR004").await;
    assert!(msg.contains("type 30"), "{msg}");

    let resp = s.get("/api/no/such/route").await;
    assert_eq!(
        error_of(resp, StatusCode::NOT_FOUND, "ERR004").await,
        "HTTP 404 Not Found"
    );
    let resp = s.delete("/api/datasources").await;
    assert_eq!(
        error_of(resp, StatusCode::METHOD_NOT_ALLOWED, "ERR001").await,
        "HTTP 405 Method Not Allowed"
    );
}

#[tokio::test]
async fn connection_tests_report_health() {
    let sim = start().await;
    let s = Session::open(&sim).await;
    let seed = seed();
    let failing = seed["simulator"]["failingConnections"]
        .as_object()
        .expect("failing connections");
    assert_eq!(failing.len(), 3);
    let (bad_id, bad_message) = failing.iter().next().expect("one");
    let healthy = seed["connections"]
        .as_array()
        .expect("connections")
        .iter()
        .filter_map(|c| c["id"].as_str())
        .find(|id| !failing.contains_key(*id))
        .expect("a healthy connection");

    let resp = s
        .post("/api/datasources/connections/test", json!({"id": healthy}))
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(resp.text().await.expect("body"), "");

    let resp = s
        .post("/api/datasources/connections/test", json!({"id": bad_id}))
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body = json_of(resp).await;
    assert_eq!(body["message"], *bad_message);
    assert!(body["code"].as_str().is_some_and(|c| c.starts_with("ERR")));

    sim.control.set_connection_test_failure(bad_id, None);
    let resp = s
        .post("/api/datasources/connections/test", json!({"id": bad_id}))
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    sim.control
        .set_connection_test_failure(healthy, Some("Login failed for user 'bi'."));
    let resp = s
        .post("/api/datasources/connections/test", json!({"id": healthy}))
        .await;
    assert_eq!(
        error_of(resp, StatusCode::BAD_REQUEST, "ERR002").await,
        "Login failed for user 'bi'."
    );

    let missing = "ABCDEFABCDEFABCDEFABCDEFABCDEF00";
    let resp = s
        .post("/api/datasources/connections/test", json!({"id": missing}))
        .await;
    let msg = error_of(resp, StatusCode::NOT_FOUND, "ERR004").await;
    assert!(msg.contains(missing));
}

#[tokio::test]
async fn request_log_records_every_request() {
    let sim = start().await;
    let s = Session::open(&sim).await;
    s.get("/api/datasources/logins").await;
    s.get("/api/nope").await;
    let log = sim.control.requests();
    let path = |p: &str| format!("/MicroStrategyLibrary{p}");
    assert_eq!(log.len(), 3);
    assert_eq!(
        (log[0].method.as_str(), log[0].path.clone(), log[0].status),
        ("POST", path("/api/auth/login"), 204)
    );
    assert_eq!(
        (log[1].method.as_str(), log[1].path.clone(), log[1].status),
        ("GET", path("/api/datasources/logins"), 200)
    );
    assert_eq!(log[2].status, 404);

    sim.control.clear_requests();
    s.get("/api/datasources?id=X").await;
    let log = sim.control.requests();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].path, path("/api/datasources"));
}

#[tokio::test]
async fn scale_generates_a_realistic_graph() {
    let scale = 3000;
    let sim = microstrategy::start(&SimOptions {
        scale,
        ..SimOptions::default()
    })
    .await
    .expect("simulator starts");
    let s = Session::open(&sim).await;
    let datasources = json_of(s.get("/api/datasources").await).await["datasources"]
        .as_array()
        .expect("array")
        .clone();
    let connections = json_of(s.get("/api/datasources/connections").await).await["connections"]
        .as_array()
        .expect("array")
        .clone();
    let logins = json_of(s.get("/api/datasources/logins").await).await["logins"]
        .as_array()
        .expect("array")
        .clone();
    assert_eq!(datasources.len(), scale);
    assert_eq!(connections.len(), scale);
    assert_eq!(logins.len(), scale);
    assert!(datasources
        .iter()
        .any(|d| d["name"] == "Generated Source 00042"));

    let conn_ids: std::collections::HashSet<&str> = connections
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    let login_ids: std::collections::HashSet<&str> =
        logins.iter().filter_map(|l| l["id"].as_str()).collect();
    let mut all_ids = std::collections::HashSet::new();
    for obj in datasources.iter().chain(&connections).chain(&logins) {
        let id = obj["id"].as_str().expect("id");
        assert!(is_hex32(id, true));
        assert!(all_ids.insert(id), "duplicate id {id}");
    }
    let used_conns: std::collections::HashSet<&str> = datasources
        .iter()
        .filter(|d| d["database"]["connection"]["isEmbedded"] != true)
        .filter_map(|d| d["database"]["connection"]["id"].as_str())
        .collect();
    assert!(used_conns.iter().all(|id| conn_ids.contains(id)));
    let used_logins: std::collections::HashSet<&str> = connections
        .iter()
        .filter_map(|c| c["database"]["login"]["id"].as_str())
        .collect();
    assert!(used_logins.iter().all(|id| login_ids.contains(id)));
    let orphan_conns = conn_ids.len() - used_conns.len();
    let orphan_logins = login_ids.len() - used_logins.len();
    assert!(
        orphan_conns > scale / 20,
        "orphan connections {orphan_conns}"
    );
    assert!(orphan_logins > scale / 20, "orphan logins {orphan_logins}");
    assert!(connections
        .iter()
        .any(|c| c["database"]["login"] == json!({})));

    // Renaming a generated login shows up in the generated connections that use it.
    let conn = connections
        .iter()
        .find(|c| {
            c["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("Generated"))
                && c["database"]["login"]["id"].is_string()
        })
        .expect("a generated connection with a login");
    let login_id = conn["database"]["login"]["id"].as_str().expect("id");
    let resp = s
        .patch(
            &format!("/api/datasources/logins/{login_id}"),
            json!({"operationList": [{"op": "replace", "path": "/name", "value": "Renamed \"quoted\" login"}]}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let conn_id = conn["id"].as_str().expect("id");
    let fetched = json_of(
        s.get(&format!("/api/datasources/connections/{conn_id}"))
            .await,
    )
    .await;
    assert_eq!(
        fetched["database"]["login"]["name"],
        "Renamed \"quoted\" login"
    );

    // Some generated connections fail their test.
    let mut failing = 0;
    for c in connections.iter().skip(seed_count("connections")).take(50) {
        let resp = s
            .post("/api/datasources/connections/test", json!({"id": c["id"]}))
            .await;
        if resp.status() == StatusCode::BAD_REQUEST {
            failing += 1;
        }
    }
    assert!(failing > 0 && failing < 50, "failing {failing}");

    // Generation is deterministic.
    let again = microstrategy::start(&SimOptions {
        scale,
        ..SimOptions::default()
    })
    .await
    .expect("simulator starts");
    assert_eq!(
        again.control.ids("datasources"),
        sim.control.ids("datasources")
    );
}

#[tokio::test]
async fn shutdown_stops_serving() {
    let sim = start().await;
    let client = Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let url = format!("{}/api/status", sim.base_url);
    let resp = client.get(&url).send().await.expect("served");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    sim.shutdown();
    let mut refused = false;
    for _ in 0..100 {
        if client.get(&url).send().await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(refused, "the simulator still answers after shutdown");
}

#[tokio::test]
async fn dropping_every_handle_stops_the_server() {
    let sim = start().await;
    let client = Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let url = format!("{}/api/status", sim.base_url);
    assert!(client.get(&url).send().await.is_ok());
    let control = sim.control.clone();
    drop(sim);
    // A control handle keeps the server alive.
    let resp = client.get(&url).send().await.expect("still served");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(!control.requests().is_empty());
    drop(control);
    let mut refused = false;
    for _ in 0..100 {
        if client.get(&url).send().await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(
        refused,
        "the simulator still answers after every handle was dropped"
    );
}

fn seed_id(kind: &str, name: &str) -> String {
    seed()[kind]
        .as_array()
        .expect("array")
        .iter()
        .find(|o| o["name"] == name)
        .and_then(|o| o["id"].as_str())
        .unwrap_or_else(|| panic!("{name} in seed {kind}"))
        .to_string()
}

const REPORTING: &str = "Reporting Postgres";
const REPLICA: &str = "Reporting Postgres Replica";
const LEGACY: &str = "Legacy Warehouse (unused)";

#[tokio::test]
async fn projects_and_their_datasources_are_served_with_is_allow_to_remove() {
    let sim = start().await;
    let s = Session::open(&sim).await;
    let projects = json_of(s.get("/api/projects").await).await;
    let projects = projects.as_array().expect("a bare array").clone();
    assert_eq!(projects.len(), seed_count("projects"));
    for p in &projects {
        assert!(is_hex32(p["id"].as_str().expect("id"), true));
        for key in ["name", "alias", "description", "status"] {
            assert!(p.get(key).is_some(), "{key} in {p}");
        }
        assert!(p.get("datasources").is_none(), "{p}");
    }
    let reporting = seed_id("datasources", REPORTING);
    let mut attached_to = Vec::new();
    for p in &projects {
        let pid = p["id"].as_str().expect("id");
        let body = json_of(s.get(&format!("/api/projects/{pid}/datasources")).await).await;
        for d in body["datasources"].as_array().expect("datasources") {
            assert!(d["isAllowToRemove"].is_boolean(), "{d}");
            assert!(d["database"].is_object(), "a full datasource: {d}");
            if d["id"] == reporting.as_str() {
                attached_to.push(p["name"].as_str().expect("name").to_string());
            }
        }
    }
    attached_to.sort();
    assert_eq!(attached_to, ["Finance Reporting", "Sales Analytics"]);
    assert_eq!(sim.control.projects_of(&reporting).len(), 2);
    let legacy = seed_id("datasources", LEGACY);
    assert!(sim.control.projects_of(&legacy).is_empty());

    // An unknown project is an object-404, not the route-404.
    let resp = s
        .get("/api/projects/00000000000000000000000000000000/datasources")
        .await;
    let msg = error_of(resp, StatusCode::NOT_FOUND, "ERR004").await;
    assert_ne!(msg, "HTTP 404 Not Found");
}

#[tokio::test]
async fn mappings_are_listed_and_a_missing_default_map_is_a_404() {
    let sim = start().await;
    let s = Session::open(&sim).await;
    let body = json_of(
        s.get("/api/datasources/mappings?defaultConnectionMap=false")
            .await,
    )
    .await;
    let mappings = body["mappings"].as_array().expect("mappings");
    assert_eq!(mappings.len(), seed_count("mappings"));
    let contractor = seed_id("logins", "Temp Contractor Login");
    assert!(mappings
        .iter()
        .any(|m| m["login"]["id"] == contractor.as_str()));

    let projects = json_of(s.get("/api/projects").await).await;
    let pid = |name: &str| {
        projects
            .as_array()
            .expect("array")
            .iter()
            .find(|p| p["name"] == name)
            .and_then(|p| p["id"].as_str())
            .expect("project")
            .to_string()
    };
    let fin = pid("Finance Reporting");
    let body = json_of(
        s.get(&format!(
            "/api/datasources/mappings?defaultConnectionMap=true&projectId={fin}"
        ))
        .await,
    )
    .await;
    assert_eq!(body["mappings"].as_array().expect("mappings").len(), 1);
    assert_eq!(body["mappings"][0]["projectId"], fin.as_str());

    // No default map: 404, which clients must read as "none".
    let sales = pid("Sales Analytics");
    let resp = s
        .get(&format!(
            "/api/datasources/mappings?defaultConnectionMap=True&projectId={sales}"
        ))
        .await;
    let msg = error_of(resp, StatusCode::NOT_FOUND, "ERR004").await;
    assert_ne!(msg, "HTTP 404 Not Found");
    // Per project, the per-user maps.
    let body = json_of(
        s.get(&format!(
            "/api/datasources/mappings?defaultConnectionMap=false&projectId={sales}"
        ))
        .await,
    )
    .await;
    assert_eq!(body["mappings"], json!([]));
}

#[tokio::test]
async fn deleting_a_datasource_in_use_is_refused_naming_the_replica_and_projects() {
    let sim = start().await;
    let s = Session::open(&sim).await;
    let reporting = seed_id("datasources", REPORTING);
    let resp = s.delete(&format!("/api/datasources/{reporting}")).await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    let body = json_of(resp).await;
    assert_eq!(body["code"], "ERR001");
    let msg = body["message"].as_str().expect("message");
    for part in [
        "Reporting Postgres",
        "datasource 'Reporting Postgres Replica'",
        "project 'Finance Reporting'",
        "project 'Sales Analytics'",
    ] {
        assert!(msg.contains(part), "{part} missing from {msg}");
    }
    assert_eq!(
        body["subErrors"].as_array().map(Vec::len),
        Some(3),
        "{body}"
    );
    assert!(sim.control.contains("datasources", &reporting));

    // The generic route refuses the same way; the status is configurable.
    sim.control.set_in_use_status(400);
    let resp = s.delete(&format!("/api/objects/{reporting}?type=29")).await;
    assert!(error_of(resp, StatusCode::BAD_REQUEST, "ERR001")
        .await
        .contains("project 'Sales Analytics'"));

    // The replica is attached to a project too; the unused one goes.
    let replica = seed_id("datasources", REPLICA);
    let resp = s.delete(&format!("/api/datasources/{replica}")).await;
    assert!(error_of(resp, StatusCode::BAD_REQUEST, "ERR001")
        .await
        .contains("project 'Operations'"));
    let legacy = seed_id("datasources", LEGACY);
    let resp = s.delete(&format!("/api/datasources/{legacy}")).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);

    // A login only a connection mapping uses is in use until the mapping goes.
    let login = seed_id("logins", "Temp Contractor Login");
    let resp = s.delete(&format!("/api/datasources/logins/{login}")).await;
    assert!(error_of(resp, StatusCode::BAD_REQUEST, "ERR001")
        .await
        .contains("connection mapping 'Contractors' in project 'Operations'"));
    let mapping = seed()["mappings"][0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let resp = s
        .delete(&format!("/api/datasources/mappings/{mapping}"))
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let resp = s.delete(&format!("/api/datasources/logins/{login}")).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn scale_adds_projects_mappings_and_replicas_in_proportion() {
    let scale = 5000;
    let started = std::time::Instant::now();
    let sim = microstrategy::start(&SimOptions {
        scale,
        ..SimOptions::default()
    })
    .await
    .expect("simulator starts");
    let s = Session::open(&sim).await;
    let projects = json_of(s.get("/api/projects").await).await;
    let projects = projects.as_array().expect("array").clone();
    assert!(
        projects.len() > seed_count("projects"),
        "generated projects"
    );
    assert!(projects.len() < 50, "{} projects", projects.len());
    let mut attached = 0;
    for p in &projects {
        let pid = p["id"].as_str().expect("id");
        let body = json_of(s.get(&format!("/api/projects/{pid}/datasources")).await).await;
        attached += body["datasources"].as_array().expect("datasources").len();
    }
    assert!(
        attached >= scale / 12 && attached <= scale / 8,
        "{attached} attached"
    );
    let body = json_of(
        s.get("/api/datasources/mappings?defaultConnectionMap=false")
            .await,
    )
    .await;
    let mappings = body["mappings"].as_array().expect("mappings").len();
    assert!(
        mappings >= scale / 150 && mappings <= scale / 50,
        "{mappings} mappings"
    );
    let all = json_of(s.get("/api/datasources").await).await;
    let replicas = all["datasources"]
        .as_array()
        .expect("array")
        .iter()
        .filter(|d| d["database"]["primaryDatasource"]["id"].is_string())
        .count();
    assert!(replicas >= scale / 25, "{replicas} replicas");
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
}

#[tokio::test]
async fn metadata_search_is_stored_per_session_paged_and_replaced_by_the_next() {
    let sim = start().await;
    let s = Session::open(&sim).await;
    let sales = "8D3B9F405E6C7D8E1FC03B42536475A8";
    let reporting = "5A0E6C1D2B3F4A5B8C9D0E1F2A3B4C5D";
    let search = |path: String| {
        s.req(reqwest::Method::POST, &path)
            .header("X-MSTR-ProjectID", sales)
            .send()
    };
    // `;` sent encoded, booleans capitalised as mstrio sends them, repeated type.
    let resp = search(format!(
        "/api/metadataSearches/results?domain=2&usesObject={reporting}%3B29&usesRecursive=False&type=3&type=55"
    ))
    .await
    .expect("POST");
    assert_eq!(resp.status(), StatusCode::OK);
    let stored = json_of(resp).await;
    let id = stored["id"].as_str().expect("id").to_string();
    assert!(is_hex32(&id, false), "{id}");
    assert_eq!(stored["totalItems"], 18, "14 reports, 3 dashboards, 1 cube");
    // A bare array, paged; limit -1 is everything.
    let page = json_of(
        s.get(&format!(
            "/api/metadataSearches/results?searchId={id}&offset=15&limit=10"
        ))
        .await,
    )
    .await;
    assert_eq!(page.as_array().map(Vec::len), Some(3));
    let all = json_of(
        s.get(&format!(
            "/api/metadataSearches/results?searchId={id}&limit=-1"
        ))
        .await,
    )
    .await;
    assert_eq!(all.as_array().map(Vec::len), Some(18));
    // Only reports asked for (raw `;`, the v2 path): the new search replaces the first.
    let resp = search(format!(
        "/api/v2/metadataSearches/results?domain=2&usesObject={reporting};29&type=3"
    ))
    .await
    .expect("POST v2");
    let second = json_of(resp).await;
    assert_eq!(
        second["totalItems"], 15,
        "14 reports and the cube are type 3"
    );
    error_of(
        s.get(&format!("/api/metadataSearches/results?searchId={id}"))
            .await,
        StatusCode::NOT_FOUND,
        "ERR004",
    )
    .await;
    // Uses and used-by together are refused; a project search needs its project.
    error_of(
        search(format!(
            "/api/metadataSearches/results?usesObject={reporting}%3B29&usedByObject={reporting}%3B29"
        ))
        .await
        .expect("POST"),
        StatusCode::BAD_REQUEST,
        "ERR006",
    )
    .await;
    let no_project = s
        .req(
            reqwest::Method::POST,
            &format!("/api/metadataSearches/results?domain=2&usesObject={reporting}%3B29"),
        )
        .send()
        .await
        .expect("POST");
    error_of(no_project, StatusCode::BAD_REQUEST, "ERR006").await;
}
