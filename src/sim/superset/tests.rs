//! Tests of the Superset simulator through its HTTP API, with a raw reqwest client.

use std::time::{Duration, Instant};

use reqwest::{Client, Method, RequestBuilder, Response};
use serde_json::{json, Value};

use super::*;

const SHOP: &str = "postgresql://dsc@127.0.0.1:54329/shop";

async fn sim() -> SupersetSim {
    start(&SimOptions::default())
        .await
        .expect("simulator starts")
}

fn client() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

fn url(sim: &SupersetSim, path: &str) -> String {
    format!("{}{API}{path}", sim.base_url)
}

async fn body(resp: Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn login_tokens(sim: &SupersetSim, user: &str, password: &str) -> (String, String) {
    let (s, v) = body(
        client()
            .post(url(sim, "/security/login"))
            .json(
                &json!({"username": user, "password": password, "provider": "db", "refresh": true}),
            )
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    (
        v["access_token"].as_str().unwrap().to_string(),
        v["refresh_token"].as_str().unwrap().to_string(),
    )
}

/// A logged-in user with a CSRF token and its session cookie.
struct Session {
    bearer: String,
    csrf: String,
    cookie: String,
    http: Client,
    base: String,
}

impl Session {
    async fn new(sim: &SupersetSim, user: &str, password: &str) -> Session {
        let (bearer, _) = login_tokens(sim, user, password).await;
        let http = client();
        let resp = http
            .get(url(sim, "/security/csrf_token/"))
            .bearer_auth(&bearer)
            .send()
            .await
            .unwrap();
        let set_cookie = resp.headers()[reqwest::header::SET_COOKIE]
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            set_cookie.contains("HttpOnly; Path=/; SameSite=Lax"),
            "{set_cookie}"
        );
        let cookie = set_cookie.split(';').next().unwrap().to_string();
        let (s, v) = body(resp).await;
        assert_eq!(s, 200);
        Session {
            bearer,
            csrf: v["result"].as_str().unwrap().to_string(),
            cookie,
            http,
            base: format!("{}{API}", sim.base_url),
        }
    }

    async fn admin(sim: &SupersetSim) -> Session {
        Session::new(sim, DEMO_USERNAME, DEMO_PASSWORD).await
    }

    fn req(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.bearer)
            .header("X-CSRFToken", &self.csrf)
            .header("Cookie", &self.cookie)
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        body(self.req(Method::GET, path).send().await.unwrap()).await
    }

    async fn post(&self, path: &str, v: Value) -> (u16, Value) {
        body(self.req(Method::POST, path).json(&v).send().await.unwrap()).await
    }

    async fn put(&self, path: &str, v: Value) -> (u16, Value) {
        body(self.req(Method::PUT, path).json(&v).send().await.unwrap()).await
    }

    async fn delete(&self, path: &str) -> (u16, Value) {
        body(self.req(Method::DELETE, path).send().await.unwrap()).await
    }
}

fn envelope(v: &Value) -> (&str, &str, i64) {
    let e = &v["errors"][0];
    (
        e["message"].as_str().unwrap_or(""),
        e["error_type"].as_str().unwrap_or(""),
        e["extra"]["issue_codes"][0]["code"].as_i64().unwrap_or(0),
    )
}

#[tokio::test]
async fn login_and_jwt_errors() {
    let sim = sim().await;
    let http = client();
    let login = |v: Value| http.post(url(&sim, "/security/login")).json(&v).send();

    let resp = login(json!({"username": "admin", "password": DEMO_PASSWORD, "provider": "db"}))
        .await
        .unwrap();
    assert!(resp.headers().get("set-cookie").is_none());
    let (s, v) = body(resp).await;
    assert_eq!(s, 200);
    assert!(v.get("refresh_token").is_none());
    let access = v["access_token"].as_str().unwrap().to_string();
    let payload = token::b64url_decode(access.split('.').nth(1).unwrap()).unwrap();
    let claims: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(claims["type"], "access");
    assert_eq!(claims["sub"], "1");
    assert_eq!(claims["fresh"], true);
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        900
    );
    let head = token::b64url_decode(access.split('.').next().unwrap()).unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&head).unwrap()["alg"],
        "HS256"
    );

    let bad = login(json!({"username": "admin", "password": "nope", "provider": "db"}))
        .await
        .unwrap();
    assert_eq!(body(bad).await, (401, json!({"message": "Not authorized"})));
    let no_provider = login(json!({"username": "admin", "password": DEMO_PASSWORD}))
        .await
        .unwrap();
    assert_eq!(
        body(no_provider).await,
        (500, json!({"message": "Fatal error"}))
    );
    let ldap = login(json!({"username": "admin", "password": DEMO_PASSWORD, "provider": "ldap"}))
        .await
        .unwrap();
    assert_eq!(
        body(ldap).await,
        (
            400,
            json!({"message": {"provider": ["Alternative authentication provider is not allowed"]}})
        )
    );
    let form = http
        .post(url(&sim, "/security/login"))
        .body("username=admin&password=x&provider=db")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .send()
        .await
        .unwrap();
    assert_eq!(
        body(form).await,
        (400, json!({"message": "Request payload is not JSON"}))
    );

    let me = |auth: Option<String>| {
        let mut r = http.get(url(&sim, "/me/"));
        if let Some(a) = auth {
            r = r.header("Authorization", a);
        }
        r.send()
    };
    let resp = me(None).await.unwrap();
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert_eq!(
        body(resp).await,
        (401, json!({"msg": "Missing Authorization Header"}))
    );
    assert_eq!(
        body(me(Some("Token xyz".into())).await.unwrap()).await,
        (
            401,
            json!({"msg": "Missing 'Bearer' type in 'Authorization' header. Expected 'Authorization: Bearer <JWT>'"})
        )
    );
    assert_eq!(
        body(me(Some("Bearer garbage".into())).await.unwrap()).await,
        (422, json!({"msg": "Not enough segments"}))
    );
    let other = super::token::Signer::new().jwt(&claims);
    assert_eq!(
        body(me(Some(format!("Bearer {other}"))).await.unwrap()).await,
        (422, json!({"msg": "Signature verification failed"}))
    );
    let (s, v) = body(me(Some(format!("Bearer {access}"))).await.unwrap()).await;
    assert_eq!(s, 200);
    assert_eq!(v["result"]["username"], "admin");
    assert_eq!(v["result"]["is_anonymous"], false);

    let (access, refresh) = login_tokens(&sim, "admin", DEMO_PASSWORD).await;
    assert_eq!(
        body(me(Some(format!("Bearer {refresh}"))).await.unwrap()).await,
        (422, json!({"msg": "Only non-refresh tokens are allowed"}))
    );
    let refresh_with = |t: &str| {
        http.post(url(&sim, "/security/refresh"))
            .bearer_auth(t)
            .send()
    };
    assert_eq!(
        body(refresh_with(&access).await.unwrap()).await,
        (422, json!({"msg": "Only refresh tokens are allowed"}))
    );
    let (s, v) = body(refresh_with(&refresh).await.unwrap()).await;
    assert_eq!(s, 200);
    assert_eq!(v.as_object().unwrap().len(), 1);
    let renewed = v["access_token"].as_str().unwrap();
    let claims: Value =
        serde_json::from_slice(&token::b64url_decode(renewed.split('.').nth(1).unwrap()).unwrap())
            .unwrap();
    assert_eq!(claims["fresh"], false);
    assert_eq!(
        body(me(Some(format!("Bearer {renewed}"))).await.unwrap())
            .await
            .0,
        200
    );
    assert_eq!(
        body(
            http.get(format!("{}/health", sim.base_url))
                .send()
                .await
                .unwrap()
        )
        .await,
        (200, json!("OK"))
    );
}

#[tokio::test]
async fn expired_access_tokens_are_refreshed() {
    let sim = sim().await;
    sim.control.set_access_token_ttl(Duration::ZERO);
    let (access, refresh) = login_tokens(&sim, "admin", DEMO_PASSWORD).await;
    let http = client();
    let (s, v) = body(
        http.get(url(&sim, "/database/"))
            .bearer_auth(&access)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((s, v), (401, json!({"msg": "Token has expired"})));
    sim.control.set_access_token_ttl(Duration::from_secs(900));
    let (_, v) = body(
        http.post(url(&sim, "/security/refresh"))
            .bearer_auth(&refresh)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let fresh = v["access_token"].as_str().unwrap();
    let (s, _) = body(
        http.get(url(&sim, "/database/"))
            .bearer_auth(fresh)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn csrf_needs_header_and_cookie() {
    let sim = sim().await;
    sim.control
        .add_backend("sqlite:////tmp/csrf-test.db", None, &[]);
    let s = Session::admin(&sim).await;
    let create = json!({"database_name": "csrf", "sqlalchemy_uri": "sqlite:////tmp/csrf-test.db"});
    let post = || s.http.post(url(&sim, "/database/")).json(&create);
    let msg = |v: &Value| envelope(v).0.to_string();

    let (st, v) = body(post().bearer_auth(&s.bearer).send().await.unwrap()).await;
    assert_eq!(
        (st, msg(&v)),
        (400, "400 Bad Request: The CSRF token is missing.".into())
    );
    assert_eq!(envelope(&v).1, "GENERIC_BACKEND_ERROR");
    assert_eq!(envelope(&v).2, 1011);
    let (st, v) = body(
        post()
            .bearer_auth(&s.bearer)
            .header("X-CSRFToken", &s.csrf)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (st, msg(&v)),
        (
            400,
            "400 Bad Request: The CSRF session token is missing.".into()
        )
    );
    let (st, v) = body(
        post()
            .bearer_auth(&s.bearer)
            .header("Cookie", &s.cookie)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (st, msg(&v)),
        (400, "400 Bad Request: The CSRF token is missing.".into())
    );
    let (st, v) = body(
        post()
            .bearer_auth(&s.bearer)
            .header("Cookie", &s.cookie)
            .header("X-CSRFToken", "ImFiYyI.bogus")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (st, msg(&v)),
        (400, "400 Bad Request: The CSRF token is invalid.".into())
    );
    // Cookie and token without a bearer pass CSRF, then fail the JWT check.
    let (st, v) = body(
        post()
            .header("Cookie", &s.cookie)
            .header("X-CSRF-Token", &s.csrf)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (st, v),
        (401, json!({"msg": "Missing Authorization Header"}))
    );
    // Another user's bearer with admin's token + cookie: the token is bound to the cookie.
    let alpha = Session::new(&sim, "alpha", "alpha-demo-password").await;
    let (st, _) = body(
        s.http
            .post(url(&sim, "/dashboard/"))
            .bearer_auth(&alpha.bearer)
            .header("Cookie", &s.cookie)
            .header("X-CSRFToken", &s.csrf)
            .json(&json!({"dashboard_title": "x"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 201);
    let (st, v) = s.post("/database/", create.clone()).await;
    assert_eq!(st, 201, "{v}");

    sim.control.set_csrf(false);
    let (st, _) = body(
        s.http
            .delete(url(&sim, &format!("/database/{}", v["id"])))
            .bearer_auth(&s.bearer)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 200);
}

#[tokio::test]
async fn paths_with_and_without_slashes() {
    let sim = sim().await;
    let s = Session::admin(&sim).await;
    for path in [
        "/database",
        "/dataset",
        "/chart",
        "/dashboard",
        "/database/1/related_objects",
    ] {
        let resp = s
            .req(Method::GET, &format!("{path}?q=(page:0)"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 308, "{path}");
        let location = resp.headers()["location"].to_str().unwrap().to_string();
        assert!(
            location.ends_with(&format!("{API}{path}/?q=(page:0)")),
            "{location}"
        );
        assert!(resp.text().await.unwrap().contains("Redirecting..."));
    }
    let (st, v) = s.delete("/dataset").await;
    assert_eq!(st, 308, "{v}");
    let (st, v) = s.get("/dataset/1/related_objects/").await;
    assert_eq!(st, 404);
    assert!(envelope(&v)
        .0
        .starts_with("404 Not Found: The requested URL was not found"));
    assert_eq!(s.get("/dataset/1/related_objects").await.0, 200);
    assert_eq!(s.get("/database/1/related_objects/").await.0, 200);
    assert_eq!(s.get("/database/1/").await.0, 404);
    assert_eq!(
        s.get("/dataset/abc").await,
        (404, json!({"message": "Not found"}))
    );
    let (st, v) = body(s.req(Method::PATCH, "/database/1").send().await.unwrap()).await;
    assert_eq!(st, 405);
    assert!(envelope(&v).0.starts_with("405 Method Not Allowed"));
    // Unknown routes need no token.
    let (st, _) = body(
        client()
            .get(url(&sim, "/nothing/here"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 404);
}

#[tokio::test]
async fn rison_arguments_and_paging() {
    let sim = start(&SimOptions {
        scale: 250,
        ..SimOptions::default()
    })
    .await
    .unwrap();
    let s = Session::admin(&sim).await;
    assert_eq!(
        s.get("/database/?q=(page:").await,
        (400, json!({"message": "Not a valid rison/json argument"}))
    );
    assert_eq!(
        s.get("/database/?q=(page:x)").await,
        (
            400,
            json!({"message": "Not a valid rison schema 'x' is not of type 'integer'"})
        )
    );
    assert_eq!(
        s.get("/dataset/?q=(order_column:id)").await,
        (400, json!({"message": "Invalid order by column: id"}))
    );
    let (_, v) = s.get("/database/").await;
    assert_eq!(v["count"], 254);
    assert_eq!(v["result"].as_array().unwrap().len(), 20);
    assert_eq!(v["ids"][0], 1);
    assert_eq!(v["list_title"], "List Database");
    let (_, v) = s.get("/database/?q=(page:0,page_size:500)").await;
    assert_eq!(v["ids"].as_array().unwrap().len(), 100);
    let (_, v) = s.get("/database/?q=(page:2,page_size:100)").await;
    assert_eq!(v["ids"].as_array().unwrap().len(), 54);
    let (_, v) = s.get("/database/?q=(page:9,page_size:100)").await;
    assert_eq!(
        (v["count"].clone(), v["ids"].clone(), v["result"].clone()),
        (json!(254), json!([]), json!([]))
    );
    let (_, v) = s.get("/database/?q=(pagesize:1)").await;
    assert_eq!(v["ids"].as_array().unwrap().len(), 20);

    let (st, v) = s
        .get("/database/?q=(columns:!(id,database_name),order_column:database_name,order_direction:desc,filters:!((col:database_name,opr:ct,value:pg)),page:0,page_size:25)")
        .await;
    assert_eq!(st, 200);
    assert_eq!(v["count"], 2);
    assert_eq!(v["list_columns"], json!(["id", "database_name"]));
    assert_eq!(v["order_columns"], json!(["database_name"]));
    assert_eq!(
        v["label_columns"],
        json!({"id": "Id", "database_name": "Database Name"})
    );
    assert_eq!(
        v["result"],
        json!([{"database_name": "shop-pg", "id": 2}, {"database_name": "finance-pg", "id": 3}])
    );
    let (_, v) = s
        .get("/dataset/?q=(columns:!(id,database.database_name,owners.id),filters:!((col:database,opr:rel_o_m,value:2)))")
        .await;
    assert_eq!(
        v["result"],
        json!([{"id": 2, "database": {"database_name": "shop-pg"}, "owners": [{"id": 1}, {"id": 2}]},
               {"id": 3, "database": {"database_name": "shop-pg"}, "owners": [{"id": 2}]}])
    );
    let (_, v) = s
        .get("/dataset/?q=(filters:!((col:table_name,opr:eq,value:sales)))")
        .await;
    assert_eq!(v["ids"], json!([1]));
    let row = &v["result"][0];
    assert_eq!(row["kind"], "physical");
    assert_eq!(
        row["database"],
        json!({"database_name": "examples", "id": 1, "uuid": row["database"]["uuid"]})
    );
    assert!(row["changed_on_utc"].as_str().unwrap().ends_with("+0000"));
    let (_, v) = s.get("/chart/").await;
    let ids: Vec<i64> = v["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![4, 3, 2, 1, 5], "newest changed first");
    let (_, v) = s.get("/dataset/1?q=(columns:!(id,owners.id))").await;
    assert_eq!(
        v,
        json!({"id": 1, "result": {"id": 1, "owners": [{"id": 1}]}})
    );
}

#[tokio::test]
async fn database_passwords_are_masked_and_kept() {
    let sim = sim().await;
    sim.control
        .add_backend(SHOP, Some("pw1"), &["orders", "customers"]);
    let s = Session::admin(&sim).await;
    let (st, v) = s
        .post(
            "/database/",
            json!({"database_name": "demo-pg", "sqlalchemy_uri": "postgresql://dsc:pw1@127.0.0.1:54329/shop", "bogus": 1}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let id = v["id"].as_u64().unwrap();
    assert_eq!(id, 5);
    let r = &v["result"];
    assert_eq!(
        r["sqlalchemy_uri"],
        "postgresql://dsc:XXXXXXXXXX@127.0.0.1:54329/shop"
    );
    assert_eq!(
        r["parameters"],
        json!({"database": "shop", "encryption": false, "host": "127.0.0.1", "password": "XXXXXXXXXX",
               "port": 54329, "query": {}, "username": "dsc"})
    );
    assert_eq!(r["driver"], "psycopg2");
    assert_eq!(r["configuration_method"], "sqlalchemy_form");
    let (_, item) = s.get(&format!("/database/{id}")).await;
    assert_eq!(item["id"], id);
    assert!(item["result"].get("sqlalchemy_uri").is_none());
    assert_eq!(item["result"]["backend"], "postgresql");
    let (_, conn) = s.get(&format!("/database/{id}/connection")).await;
    assert_eq!(
        conn["result"]["sqlalchemy_uri"],
        "postgresql://dsc:XXXXXXXXXX@127.0.0.1:54329/shop"
    );
    assert!(conn["result"]["extra"].is_string());

    let (st, v) = s
        .put(
            &format!("/database/{id}"),
            json!({"database_name": "demo-pg-2", "sqlalchemy_uri": "postgresql://dsc:XXXXXXXXXX@127.0.0.1:54329/shop"}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        v["result"]["sqlalchemy_uri"],
        "postgresql://dsc:XXXXXXXXXX@127.0.0.1:54329/shop"
    );
    assert_eq!(
        sim.control.database_uri(id as u32).unwrap(),
        "postgresql://dsc:pw1@127.0.0.1:54329/shop"
    );
    let masked = json!({"sqlalchemy_uri": "postgresql://dsc:XXXXXXXXXX@127.0.0.1:54329/shop", "database_name": "demo-pg-2"});
    assert_eq!(
        s.post("/database/test_connection/", masked).await,
        (200, json!({"message": "OK"}))
    );
    let (st, v) = s
        .post(
            "/database/test_connection/",
            json!({"sqlalchemy_uri": "postgresql://dsc:XXXXXXXXXX@127.0.0.1:54329/shop"}),
        )
        .await;
    assert_eq!(
        (st, envelope(&v).1),
        (400, "CONNECTION_INVALID_PASSWORD_ERROR")
    );

    // Duplicate names (create or rename), missing fields, bad URIs.
    let dup =
        json!({"message": {"database_name": "A database with the same name already exists."}});
    assert_eq!(
        s.post(
            "/database/",
            json!({"database_name": "examples", "sqlalchemy_uri": "sqlite:////tmp/x.db"})
        )
        .await,
        (422, dup.clone())
    );
    assert_eq!(
        s.put(
            &format!("/database/{id}"),
            json!({"database_name": "examples"})
        )
        .await,
        (422, dup)
    );
    assert_eq!(
        s.post(
            "/database/",
            json!({"sqlalchemy_uri": "sqlite:////tmp/x.db"})
        )
        .await,
        (
            422,
            json!({"message": {"database_name": ["Missing data for required field."]}})
        )
    );
    assert_eq!(
        s.post("/database/", json!({"database_name": "n"})).await,
        (
            422,
            json!({"message": {"sqlalchemy_uri": ["Field is required"]}})
        )
    );
    let (st, v) = s
        .post(
            "/database/",
            json!({"database_name": "n", "sqlalchemy_uri": "notaurl"}),
        )
        .await;
    assert_eq!(st, 422);
    assert!(v["message"]["sqlalchemy_uri"][0]
        .as_str()
        .unwrap()
        .starts_with("Invalid connection string"));
    // A SQLite file in an existing directory works (no parameters in the result).
    let (st, v) = s
        .post(
            "/database/",
            json!({"database_name": "lite", "sqlalchemy_uri": "sqlite:////tmp/new.db"}),
        )
        .await;
    assert_eq!(st, 201);
    assert!(v["result"].get("parameters").is_none());
    let (st, v) = s
        .post(
            "/database/",
            json!({"database_name": "lite2", "sqlalchemy_uri": "sqlite:////no/such/dir/x.db"}),
        )
        .await;
    assert_eq!(st, 400);
    assert_eq!(envelope(&v).1, "GENERIC_DB_ENGINE_ERROR");
    assert!(envelope(&v)
        .0
        .starts_with("(sqlite3.OperationalError) unable to open database file"));
    assert_eq!(sim.control.databases().len(), 6);
}

#[tokio::test]
async fn failing_connections() {
    let sim = sim().await;
    sim.control.add_backend(SHOP, Some("pw1"), &["orders"]);
    let s = Session::admin(&sim).await;
    let (st, v) = s
        .post("/database/", json!({"database_name": "x", "sqlalchemy_uri": "postgresql://dsc:wrong@127.0.0.1:54329/shop"}))
        .await;
    assert_eq!(st, 400);
    assert_eq!(
        envelope(&v),
        (
            "The password provided for username \"dsc\" is incorrect.",
            "CONNECTION_INVALID_PASSWORD_ERROR",
            1013
        )
    );
    assert_eq!(
        v["errors"][0]["extra"]["invalid"],
        json!(["username", "password"])
    );
    assert_eq!(v["errors"][0]["extra"]["engine_name"], "PostgreSQL");
    let (st, v) = s
        .post(
            "/database/test_connection/",
            json!({"sqlalchemy_uri": "postgresql://dsc:pw1@127.0.0.1:1/shop"}),
        )
        .await;
    assert_eq!(st, 400);
    let (m, t, c) = envelope(&v);
    assert_eq!((t, c), ("GENERIC_DB_ENGINE_ERROR", 1002));
    assert!(m.contains("connection to server at \"127.0.0.1\""), "{m}");
    assert!(m.contains("port 1 failed: Connection refused"), "{m}");
    let (st, v) = s
        .post(
            "/database/test_connection/",
            json!({"sqlalchemy_uri": "foo://x@y/z"}),
        )
        .await;
    assert_eq!(
        (st, envelope(&v).1, envelope(&v).2),
        (422, "GENERIC_COMMAND_ERROR", 1010)
    );

    let (st, v) = s
        .post("/database/", json!({"database_name": "shop", "sqlalchemy_uri": "postgresql://dsc:pw1@127.0.0.1:54329/shop"}))
        .await;
    assert_eq!(st, 201);
    let id = v["id"].as_u64().unwrap();
    let failed = (
        422,
        json!({"message": "Connection failed, please check your connection settings"}),
    );
    assert_eq!(
        s.put(
            &format!("/database/{id}"),
            json!({"sqlalchemy_uri": "postgresql://dsc:bad@127.0.0.1:54329/shop"})
        )
        .await,
        failed
    );
    // The password changes outside Superset: the stored one fails until rotated.
    assert!(sim.control.set_backend_password(SHOP, "pw2"));
    assert_eq!(
        s.put(
            &format!("/database/{id}"),
            json!({"database_name": "renamed"})
        )
        .await,
        failed
    );
    let masked = json!({"sqlalchemy_uri": "postgresql://dsc:XXXXXXXXXX@127.0.0.1:54329/shop", "database_name": "shop"});
    let (st, v) = s.post("/database/test_connection/", masked.clone()).await;
    assert_eq!((st, envelope(&v).2), (400, 1013));
    let (st, _) = s
        .put(
            &format!("/database/{id}"),
            json!({"sqlalchemy_uri": "postgresql://dsc:pw2@127.0.0.1:54329/shop"}),
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(
        s.post("/database/test_connection/", masked.clone()).await.0,
        200
    );
    assert!(sim.control.set_backend_reachable(SHOP, false));
    let (st, v) = s.post("/database/test_connection/", masked).await;
    assert_eq!((st, envelope(&v).2), (400, 1002));
    assert_eq!(
        s.put(
            &format!("/database/{id}"),
            json!({"database_name": "renamed"})
        )
        .await,
        failed
    );
    // The seed's finance database was left with an old password.
    let (st, v) = s
        .post("/database/test_connection/", json!({"sqlalchemy_uri": "postgresql://finance_ro:XXXXXXXXXX@10.20.0.14:5432/finance", "database_name": "finance-pg"}))
        .await;
    assert_eq!((st, envelope(&v).2), (400, 1013));
}

#[tokio::test]
async fn deletes_refuse_orphan_and_cascade() {
    let sim = sim().await;
    let s = Session::admin(&sim).await;
    assert_eq!(
        s.delete("/database/2").await,
        (
            422,
            json!({"message": "Cannot delete a database that has datasets attached"})
        )
    );
    let (_, v) = s.get("/database/2/related_objects/").await;
    assert_eq!(v["charts"]["count"], 2);
    assert_eq!(v["sqllab_tab_states"], json!({"count": 0, "result": []}));
    assert_eq!(v["dashboards"]["count"], 2);
    let (_, v) = s.get("/dataset/2/related_objects").await;
    assert_eq!(
        v["charts"]["result"],
        json!([{"id": 3, "slice_name": "Open orders", "viz_type": "big_number_total"}])
    );
    assert_eq!(
        v["dashboards"]["result"][0],
        json!({"id": 1, "json_metadata": null, "slug": "sales-overview", "title": "Sales overview"})
    );
    assert_eq!(
        s.delete("/dataset/2").await,
        (200, json!({"message": "OK"}))
    );
    let orphan = sim
        .control
        .charts()
        .into_iter()
        .find(|c| c["id"] == 3)
        .unwrap();
    assert_eq!(orphan["datasource_id"], Value::Null);
    assert_eq!(orphan["datasource_name_text"], Value::Null);
    let (_, v) = s.get("/database/2/related_objects/").await;
    assert_eq!(v["charts"]["count"], 1);
    assert_eq!(s.get("/dataset/2/related_objects").await.0, 404);
    assert_eq!(
        s.delete("/dataset/2").await,
        (404, json!({"message": "Not found"}))
    );
    assert_eq!(s.delete("/dataset/3").await.0, 200);
    assert_eq!(
        s.delete("/database/2").await,
        (200, json!({"message": "OK"}))
    );
    assert_eq!(
        s.delete("/database/2").await,
        (404, json!({"message": "Not found"}))
    );
    // The orphan database of the seed goes at once.
    assert_eq!(s.delete("/database/4").await.0, 200);
}

#[tokio::test]
async fn bulk_deletes_are_all_or_nothing() {
    let sim = sim().await;
    let s = Session::admin(&sim).await;
    assert_eq!(
        s.delete("/dataset/?q=!(1,999)").await,
        (404, json!({"message": "Not found"}))
    );
    assert_eq!(sim.control.datasets().len(), 4);
    assert_eq!(
        s.delete("/dataset/").await,
        (
            400,
            json!({"message": "Not a valid rison schema {} is not of type 'array'"})
        )
    );
    assert_eq!(
        s.delete("/dataset/?q=!(1,4)").await,
        (200, json!({"message": "Deleted 2 datasets"}))
    );
    assert_eq!(
        s.delete("/dataset/?q=!(2)").await,
        (200, json!({"message": "Deleted 1 dataset"}))
    );
    assert_eq!(
        s.delete("/chart/?q=!(4)").await,
        (200, json!({"message": "Deleted 1 chart"}))
    );
    assert_eq!(
        s.delete("/dashboard/?q=!(1,2,3)").await,
        (200, json!({"message": "Deleted 3 dashboards"}))
    );
    assert!(sim
        .control
        .charts()
        .iter()
        .all(|c| c["dashboards"] == json!([])));
    // Ownership is checked per item before anything goes.
    let alpha = Session::new(&sim, "alpha", "alpha-demo-password").await;
    assert_eq!(
        alpha.delete("/chart/?q=!(1,3)").await,
        (403, json!({"message": "Forbidden"}))
    );
    assert_eq!(sim.control.charts().len(), 4);
}

#[tokio::test]
async fn datasets_create_and_update() {
    let sim = sim().await;
    let s = Session::admin(&sim).await;
    assert_eq!(
        s.post("/dataset/", json!({"table_name": "sales"})).await,
        (
            400,
            json!({"message": {"database": ["Missing data for required field."]}})
        )
    );
    assert_eq!(
        s.post("/dataset/", json!({"database": 99, "table_name": "sales"}))
            .await,
        (
            422,
            json!({"message": {"database": ["Database does not exist"]}})
        )
    );
    assert_eq!(
        s.post(
            "/dataset/",
            json!({"database": 1, "schema": "main", "table_name": "nope"})
        )
        .await,
        (
            422,
            json!({"message": {"table": ["Table [main.nope] could not be found, please double check your database connection, schema, and table name"]}})
        )
    );
    assert_eq!(
        s.post(
            "/dataset/",
            json!({"database": 1, "schema": "main", "table_name": "sales"})
        )
        .await,
        (
            422,
            json!({"message": {"table": ["Dataset main.sales already exists"]}})
        )
    );
    let (st, v) = s
        .post(
            "/dataset/",
            json!({"database": 1, "schema": "main", "table_name": "flights"}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["id"], 5);
    assert_eq!(
        v["result"],
        json!({"database": 1, "schema": "main", "table_name": "flights"})
    );
    assert_eq!(v["data"]["name"], "main.flights");
    assert_eq!(v["data"]["metrics"][0]["metric_name"], "count");
    assert_eq!(v["data"]["metrics"][0]["expression"], "COUNT(*)");
    let (st, v) = s
        .post(
            "/dataset/",
            json!({"database": 2, "table_name": "v_top", "sql": "select 1"}),
        )
        .await;
    assert_eq!(st, 201);
    let (_, item) = s.get(&format!("/dataset/{}", v["id"])).await;
    assert_eq!(item["result"]["kind"], "virtual");
    assert_eq!(
        item["result"]["owners"],
        json!([{"first_name": "Ada", "id": 1, "last_name": "Admin"}])
    );
    let uuid = item["result"]["uuid"].as_str().unwrap().to_string();
    assert_eq!(s.get(&format!("/dataset/{uuid}")).await.1["id"], v["id"]);

    let (st, v) = s
        .put("/dataset/5", json!({"owners": [1, 2], "description": "d", "sql": "select 2", "table_name": "flights2"}))
        .await;
    assert_eq!(st, 200);
    assert_eq!(
        v,
        json!({"id": 5, "result": {"owners": [1, 2], "description": "d", "sql": "select 2", "table_name": "flights2"}})
    );
    let (_, item) = s.get("/dataset/5").await;
    assert_eq!(item["result"]["owners"].as_array().unwrap().len(), 2);
    assert_eq!(item["result"]["kind"], "virtual");
    assert_eq!(item["result"]["table_name"], "flights2");
    assert_eq!(
        s.put("/dataset/5", json!({"owners": [1, 999]})).await,
        (422, json!({"message": {"owners": ["Owners are invalid"]}}))
    );
}

#[tokio::test]
async fn roles_limit_what_users_see_and_change() {
    let sim = sim().await;
    let alpha = Session::new(&sim, "alpha", "alpha-demo-password").await;
    let gamma = Session::new(&sim, "gamma", "gamma-demo-password").await;
    let forbidden = (403, json!({"message": "Forbidden"}));
    assert_eq!(
        alpha.put("/dataset/1", json!({"description": "x"})).await,
        forbidden
    );
    assert_eq!(alpha.delete("/dataset/1").await, forbidden);
    assert_eq!(
        alpha.put("/dataset/2", json!({"owners": [1]})).await.0,
        200,
        "co-owner may remove itself"
    );
    assert_eq!(
        alpha.put("/dataset/2", json!({"description": "x"})).await,
        forbidden
    );
    assert_eq!(alpha.delete("/database/4").await, forbidden);
    assert_eq!(alpha.get("/database/").await.1["count"], 4);
    assert_eq!(alpha.get("/security/users/").await, forbidden);

    for path in ["/database/", "/dataset/", "/chart/", "/dashboard/"] {
        let (st, v) = gamma.get(path).await;
        assert_eq!((st, v["count"].clone()), (200, json!(0)), "{path}");
    }
    let not_found = (404, json!({"message": "Not found"}));
    assert_eq!(gamma.get("/database/1").await, not_found);
    assert_eq!(gamma.get("/dataset/1").await, not_found);
    assert_eq!(gamma.get("/dataset/1/related_objects").await, not_found);
    assert_eq!(gamma.get("/chart/1").await, not_found);
    assert_eq!(
        gamma
            .post("/dataset/", json!({"database": 1, "table_name": "flights"}))
            .await,
        forbidden
    );
    assert_eq!(gamma.delete("/dataset/1").await, forbidden);
    assert_eq!(
        gamma.put("/dashboard/1", json!({"published": true})).await,
        forbidden
    );

    // Users let a client resolve owner names to ids.
    let admin = Session::admin(&sim).await;
    let (st, v) = admin
        .get("/security/users/?q=(filters:!((col:username,opr:eq,value:alpha)))")
        .await;
    assert_eq!(st, 200);
    assert_eq!(v["ids"], json!([2]));
    assert_eq!(v["result"][0]["roles"], json!([{"id": 3, "name": "Alpha"}]));
    let id = sim.control.set_user("viewer", "pw", "Gamma").unwrap();
    assert_eq!(id, 4);
    let (st, _) = admin
        .post("/security/users/", json!({"first_name": "E", "last_name": "F", "username": "ed", "email": "e@x", "password": "p", "roles": [3]}))
        .await;
    assert_eq!(st, 201);
}

#[tokio::test]
async fn charts_and_dashboards_through_the_api() {
    let sim = sim().await;
    let s = Session::admin(&sim).await;
    let (st, v) = s
        .post(
            "/dashboard/",
            json!({"dashboard_title": "Board", "slug": "board", "published": true}),
        )
        .await;
    assert_eq!(st, 201);
    let board = v["id"].as_u64().unwrap();
    assert_eq!(
        v["result"],
        json!({"dashboard_title": "Board", "slug": "board", "published": true})
    );
    assert_eq!(
        s.post("/dashboard/", json!({"slug": "board"})).await,
        (422, json!({"message": {"slug": ["Must be unique"]}}))
    );
    let chart = |ds: u64, boards: Value| {
        json!({"slice_name": "C", "viz_type": "table", "datasource_id": ds, "datasource_type": "table",
               "params": "{\"x\": 1}", "dashboards": boards})
    };
    assert_eq!(
        s.post("/chart/", chart(99, json!([]))).await,
        (
            422,
            json!({"message": {"datasource_id": ["Datasource does not exist"]}})
        )
    );
    assert_eq!(
        s.post("/chart/", chart(1, json!([99]))).await,
        (
            422,
            json!({"message": {"dashboards": ["Dashboards do not exist"]}})
        )
    );
    let (st, v) = s.post("/chart/", chart(1, json!([board]))).await;
    assert_eq!(st, 201);
    let id = v["id"].as_u64().unwrap();
    let (_, c) = s.get(&format!("/chart/{id}")).await;
    assert!(c.get("id").is_none());
    assert_eq!(c["result"]["datasource_name_text"], "main.sales");
    assert_eq!(c["result"]["owners"][0]["email"], "admin@example.com");
    assert_eq!(c["result"]["dashboards"][0]["dashboard_title"], "Board");
    let (_, d) = s.get("/dashboard/board").await;
    assert_eq!(d["result"]["charts"], json!(["C"]));
    assert_eq!(d["result"]["url"], "/superset/dashboard/board/");
    let (_, d) = s.get(&format!("/dashboard/{board}/charts")).await;
    assert_eq!(d["result"][0]["form_data"]["slice_id"], id);
    assert_eq!(
        s.put(&format!("/chart/{id}"), json!({"dashboards": [1]}))
            .await,
        (200, json!({"id": id, "result": {"dashboards": [1]}}))
    );
    let (st, v) = s
        .put(
            &format!("/dashboard/{board}"),
            json!({"dashboard_title": "B2"}),
        )
        .await;
    assert_eq!(st, 200);
    assert!(v["last_modified_time"].is_f64());
    let (_, v) = s.get("/dashboard/").await;
    assert_eq!(v["ids"][0], board, "newest changed first");
    assert_eq!(
        s.delete(&format!("/chart/{id}")).await,
        (200, json!({"message": "OK"}))
    );
    assert_eq!(
        s.delete(&format!("/dashboard/{board}")).await,
        (200, json!({"message": "OK"}))
    );
    let (_, v) = s.get("/dashboard/_info?q=(keys:!(permissions))").await;
    assert!(v["permissions"]
        .as_array()
        .unwrap()
        .contains(&json!("can_write")));
}

#[tokio::test]
async fn rate_limit_answers_429_without_retry_after() {
    let sim = sim().await;
    sim.control.set_rate_limit(Some(3));
    let http = client();
    let mut last = None;
    for _ in 0..4 {
        last = Some(
            http.get(format!("{}/health", sim.base_url))
                .send()
                .await
                .unwrap(),
        );
    }
    let resp = last.unwrap();
    assert_eq!(resp.status().as_u16(), 429);
    assert!(resp.headers().get("retry-after").is_none());
    let (_, v) = body(resp).await;
    assert_eq!(
        envelope(&v),
        (
            "429 Too Many Requests: 3 per 1 second",
            "GENERIC_BACKEND_ERROR",
            1011
        )
    );
    sim.control.set_rate_limit(None);
    sim.control.fail_next(1, SimFault::TokenExpired);
    let (st, v) = body(http.get(url(&sim, "/database/")).send().await.unwrap()).await;
    assert_eq!((st, v), (401, json!({"msg": "Token has expired"})));
}

#[tokio::test]
async fn scale_generates_quickly_and_lists_page() {
    let t = Instant::now();
    let sim = start(&SimOptions {
        scale: 100_000,
        ..SimOptions::default()
    })
    .await
    .unwrap();
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    let s = Session::admin(&sim).await;
    let (_, v) = s.get("/database/?q=(page:1000,page_size:100)").await;
    assert_eq!(v["count"], 100_004);
    assert_eq!(v["ids"][0], 100_001);
    assert_eq!(v["result"][0]["database_name"], "gen-db-099997");
    let (_, v) = s
        .get("/dataset/?q=(filters:!((col:database,opr:rel_o_m,value:5)))")
        .await;
    assert_eq!(v["count"], 1);
    assert_eq!(v["result"][0]["id"], 5);
    assert_eq!(v["result"][0]["table_name"], "gen_table_000001");
    assert_eq!(
        s.get("/dataset/?q=(page:999,page_size:100)").await.1["ids"][0],
        99_901
    );
    assert_eq!(s.delete("/database/5").await.0, 422);
}

#[tokio::test]
async fn schemas_tables_and_malformed_bodies() {
    let sim = sim().await;
    let s = Session::admin(&sim).await;
    assert_eq!(
        s.get("/database/1/schemas/").await,
        (200, json!({"result": ["main"]}))
    );
    let (st, v) = s.get("/database/2/tables/?q=(schema_name:staging)").await;
    assert_eq!(st, 200);
    assert_eq!(
        v,
        json!({"count": 1, "result": [{"extra": null, "type": "table", "value": "order_lines"}]})
    );
    assert_eq!(s.get("/database/2/tables/").await.0, 400);
    let (st, v) = body(
        s.req(Method::POST, "/dataset/")
            .header("Content-Type", "application/json")
            .body("{not json")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 400);
    assert!(envelope(&v).0.starts_with("400 Bad Request"));
    let (st, v) = body(
        s.req(Method::POST, "/dataset/")
            .body("x=1")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((st, v), (400, json!({"message": "Request is not JSON"})));
    let resp = s.req(Method::GET, "/database/").send().await.unwrap();
    assert_eq!(
        resp.headers()["content-type"],
        "application/json; charset=utf-8"
    );
    assert_eq!(resp.headers()["vary"], "Accept-Encoding, Cookie");
    assert!(resp.headers()["server"]
        .to_str()
        .unwrap()
        .starts_with("Werkzeug/"));
}

#[tokio::test]
async fn the_registry_can_hold_it() {
    let sim = sim().await;
    let running = crate::sim::RunningSim::new(sim.base_url.clone(), sim);
    let sim = running
        .downcast_ref::<SupersetSim>()
        .expect("a Superset simulator");
    assert_eq!(sim.control.user_id(DEMO_USERNAME), Some(1));
    assert_eq!(sim.control.dashboards().len(), 3);
}
