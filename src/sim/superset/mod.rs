//! Simulated Apache Superset 6.1 REST API (`/api/v1`): databases, datasets, charts,
//! dashboards, users, following the wire facts of `shared/vendor-apis/superset.md`.
//!
//! Objects are kept as the simulator's own records and rendered to Superset's JSON on each
//! request (seeded from `assets/superset.json`, generated on demand with a scale). What a
//! client has to cope with: JSON login with `provider`, JWT access (15 min) and refresh
//! tokens with Flask-JWT-Extended's `{"msg"}` errors, CSRF token + `session` cookie on
//! every mutating call, exact trailing slashes (308 with an HTML page), rison `q=` lists,
//! masked database passwords that round-trip, connection tests against simulated data
//! servers (`add_backend`), delete refusals and orphaning, all-or-nothing bulk deletes,
//! owners and the Admin/Alpha/Gamma roles, the four error body shapes and an optional
//! Flask-Limiter 429.

mod boards;
mod list;
mod objects;
mod rison;
mod security;
mod state;
mod token;

mod databases;

#[cfg(test)]
mod tests;

use std::sync::{Arc, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Extension, Request, State as AxState};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::Router;
use serde_json::{json, Map, Value};

use super::{kit, SimOptions};
use state::{Role, State};

/// The demo login (`provider: "db"`).
pub const DEMO_USERNAME: &str = "admin";
pub const DEMO_PASSWORD: &str = "admin-demo-password";

const API: &str = "/api/v1";
const JSON_CT: &str = "application/json; charset=utf-8";
/// Flask-JWT-Extended's error bodies carry no charset.
const JWT_CT: &str = "application/json";
const MAX_LOGGED_REQUESTS: usize = 1_000_000;

// ---------------------------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------------------------

/// A running Superset simulator.
#[derive(Debug)]
pub struct SupersetSim {
    /// `http://127.0.0.1:PORT`, the server root; the API is under `/api/v1`.
    pub base_url: String,
    pub control: SupersetControl,
}

impl SupersetSim {
    /// Stop serving: the listener closes once in-flight requests have finished.
    pub fn shutdown(&self) {
        self.control.shutdown();
    }
}

/// One request the simulator answered.
pub type SimRequest = kit::SimRequest;

/// A failure the simulator serves instead of the next request (see `fail_next`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SimFault {
    /// 500 `{"message":"Fatal error"}`.
    ServerError,
    /// 429 errors envelope `"429 Too Many Requests: 50 per 1 second"`, no `Retry-After`.
    RateLimited,
    /// 502 with an HTML page from a proxy in front of the server.
    BadGatewayHtml,
    /// 401 `{"msg":"Token has expired"}` whatever the token.
    TokenExpired,
}

/// Cloneable handle to the simulator's state. The server runs while any handle is alive.
/// Derefs to the kit's control core: `requests`, `clear_requests`, `set_latency`, `faults`.
#[derive(Clone)]
pub struct SupersetControl {
    shared: Arc<Shared>,
    core: kit::Control,
}

kit::control_handle!(SupersetControl, kit::Control);

impl SupersetControl {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared.lock()
    }

    /// CSRF protection of POST/PUT/DELETE (`WTF_CSRF_ENABLED`, default on).
    pub fn set_csrf(&self, on: bool) {
        self.lock().csrf = on;
    }

    /// Flask-Limiter's application limit: at most this many requests per second (`None`,
    /// the default: no limit); beyond it 429 without `Retry-After`.
    pub fn set_rate_limit(&self, per_second: Option<u32>) {
        let mut st = self.lock();
        st.rate_limit = per_second;
        st.windows.clear();
    }

    /// Lifetime of access tokens issued from now on (default 15 min; zero: already expired).
    pub fn set_access_token_ttl(&self, ttl: Duration) {
        self.lock().access_ttl = ttl;
    }

    /// Lifetime of refresh tokens issued from now on (default 30 days).
    pub fn set_refresh_token_ttl(&self, ttl: Duration) {
        self.lock().refresh_ttl = ttl;
    }

    /// SQLite metadata's `UNIQUE (table_name)` on datasets (default off, as with Postgres
    /// metadata): when on, a dataset whose table name another database already uses fails
    /// with 422 `{"message":"Dataset could not be created."}`.
    pub fn set_unique_table_names(&self, on: bool) {
        self.lock().unique_table_names = on;
    }

    /// A simulated data server at `uri_without_password` (`postgresql://u@host:port/db`,
    /// `mysql://...`, `sqlite:////abs/path`) that accepts `password` (`None`: any) and
    /// holds `tables` (`table` in the default schema or `schema.table`). Replaces one
    /// registered before. Returns false for a URI that does not parse.
    pub fn add_backend(
        &self,
        uri_without_password: &str,
        password: Option<&str>,
        tables: &[&str],
    ) -> bool {
        let mut st = self.lock();
        let ok = st.add_backend(uri_without_password, password, tables);
        st.touch();
        ok
    }

    /// The backend's password changed outside Superset: databases still holding the old
    /// one fail their connection test until it is rotated. False for an unknown backend.
    pub fn set_backend_password(&self, uri_without_password: &str, new: &str) -> bool {
        let mut st = self.lock();
        match st.backend_mut(uri_without_password) {
            Some(b) => {
                b.password = Some(new.to_string());
                true
            }
            None => false,
        }
    }

    /// Whether the backend answers (an unreachable one fails like a closed port). False for
    /// an unknown backend.
    pub fn set_backend_reachable(&self, uri_without_password: &str, reachable: bool) -> bool {
        let mut st = self.lock();
        match st.backend_mut(uri_without_password) {
            Some(b) => {
                b.reachable = reachable;
                true
            }
            None => false,
        }
    }

    /// Create or update a user with this password and role (`Admin`, `Alpha`, `Gamma`);
    /// its id, or `None` for an unknown role.
    pub fn set_user(&self, username: &str, password: &str, role: &str) -> Option<u32> {
        let role = Role::parse(role)?;
        let mut st = self.lock();
        st.touch();
        if let Some(u) = st.users.values_mut().find(|u| u.username == username) {
            u.password = password.to_string();
            u.role = role;
            u.active = true;
            return Some(u.id);
        }
        let id = State::next_id(&st.users);
        st.users.insert(
            id,
            state::User {
                id,
                username: username.to_string(),
                first_name: username.to_string(),
                last_name: "User".into(),
                email: format!("{username}@example.com"),
                password: password.to_string(),
                role,
                active: true,
                login_count: 0,
                created_on: state::now_ms(),
            },
        );
        Some(id)
    }

    /// The id of a user.
    pub fn user_id(&self, username: &str) -> Option<u32> {
        self.lock()
            .users
            .values()
            .find(|u| u.username == username)
            .map(|u| u.id)
    }

    /// Every database as `GET /database/{pk}/connection` shows it, plus `id`.
    pub fn databases(&self) -> Vec<Value> {
        let st = self.lock();
        st.databases
            .values()
            .map(|d| databases::connection_view(&st, d))
            .collect()
    }

    /// The URI a database holds, password in clear (never shown by the API).
    pub fn database_uri(&self, id: u32) -> Option<String> {
        self.lock().databases.get(&id).map(|d| d.uri.clone())
    }

    /// Every dataset as its item GET shows it.
    pub fn datasets(&self) -> Vec<Value> {
        let st = self.lock();
        st.datasets
            .values()
            .map(|d| objects::dataset_item(&st, d))
            .collect()
    }

    /// Every chart as its item GET shows it (orphans have `datasource_id: null`).
    pub fn charts(&self) -> Vec<Value> {
        let st = self.lock();
        st.charts
            .values()
            .map(|c| boards::chart_item(&st, c))
            .collect()
    }

    /// Every dashboard as its item GET shows it.
    pub fn dashboards(&self) -> Vec<Value> {
        let st = self.lock();
        st.dashboards
            .values()
            .map(|d| boards::dashboard_item(&st, d))
            .collect()
    }

    /// Serve `fault` instead of the next `n` requests (after earlier queued faults).
    pub fn fail_next(&self, n: usize, fault: SimFault) {
        self.lock().faults.push(None, "", fault, n);
    }

    /// As `fail_next`, only for requests with this method whose path starts with `prefix`.
    pub fn fail_next_matching(&self, method: &str, prefix: &str, n: usize, fault: SimFault) {
        self.lock().faults.push(Some(method), prefix, fault, n);
    }
}

/// Start the simulator on 127.0.0.1 (`opts.port`, 0 = any free port).
pub async fn start(opts: &SimOptions) -> std::io::Result<SupersetSim> {
    let state = State::from_seed(opts)?;
    let shared = Arc::new(Shared::new(state));
    let (listener, base_url) = kit::bind(opts.port).await?;
    let kit = kit::Kit::new(opts, MAX_LOGGED_REQUESTS);
    let app = router(shared.clone(), &kit);
    Ok(SupersetSim {
        base_url,
        control: SupersetControl {
            shared,
            core: kit.serve(listener, app, "Superset"),
        },
    })
}

type Shared = kit::Shared<State>;

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// The four error shapes.
#[derive(Debug)]
pub enum ApiError {
    /// `{"message": <string or field map>}`.
    Message(StatusCode, Value),
    /// `{"errors": [<this>]}`.
    Envelope(StatusCode, Value),
    /// Flask-JWT-Extended's `{"msg": ...}`.
    Jwt(StatusCode, String),
}

impl ApiError {
    pub fn message(status: StatusCode, m: impl Into<String>) -> ApiError {
        ApiError::Message(status, Value::from(m.into()))
    }

    pub fn bad_request(m: impl Into<String>) -> ApiError {
        ApiError::message(StatusCode::BAD_REQUEST, m)
    }

    pub fn not_found() -> ApiError {
        ApiError::message(StatusCode::NOT_FOUND, "Not found")
    }

    pub fn forbidden() -> ApiError {
        ApiError::message(StatusCode::FORBIDDEN, "Forbidden")
    }

    /// `{"message":{field: value}}`.
    pub fn field(status: StatusCode, field: &str, value: Value) -> ApiError {
        ApiError::Message(status, json!({ field: value }))
    }

    /// `{"message":{field: [text]}}`.
    pub fn field_list(status: StatusCode, field: &str, text: &str) -> ApiError {
        ApiError::field(status, field, json!([text]))
    }

    pub fn envelope(
        status: StatusCode,
        message: &str,
        error_type: &str,
        code: u32,
        mut extra: Map<String, Value>,
    ) -> ApiError {
        let issue = match code {
            1002 => "Issue 1002 - The database returned an unexpected error.",
            1010 => "Issue 1010 - Superset encountered an error while running a command.",
            1013 => {
                "Issue 1013 - The password provided when connecting to a database is not valid."
            }
            _ => "Issue 1011 - Superset encountered an unexpected error.",
        };
        extra.insert(
            "issue_codes".into(),
            json!([{ "code": code, "message": issue }]),
        );
        ApiError::Envelope(
            status,
            json!({"message": message, "error_type": error_type, "level": "error", "extra": extra}),
        )
    }

    /// `GENERIC_BACKEND_ERROR` (1011) envelope: CSRF, unknown routes, 405, bad JSON, 429.
    pub fn generic(status: StatusCode, message: &str) -> ApiError {
        ApiError::envelope(status, message, "GENERIC_BACKEND_ERROR", 1011, Map::new())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Message(s, m) => kit::json(s, JSON_CT, &json!({ "message": m })),
            ApiError::Envelope(s, e) => kit::json(s, JSON_CT, &json!({ "errors": [e] })),
            ApiError::Jwt(s, m) => kit::json(s, JWT_CT, &json!({ "msg": m })),
        }
    }
}

pub type ApiResult = Result<Response, ApiError>;

pub fn ok(status: StatusCode, v: &Value) -> ApiResult {
    Ok(kit::json(status, JSON_CT, v))
}

fn route_not_found() -> ApiError {
    ApiError::generic(
        StatusCode::NOT_FOUND,
        "404 Not Found: The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.",
    )
}

fn fault_response(fault: SimFault, limit: u32) -> Response {
    match fault {
        SimFault::ServerError => {
            ApiError::message(StatusCode::INTERNAL_SERVER_ERROR, "Fatal error").into_response()
        }
        SimFault::RateLimited => rate_limited(limit).into_response(),
        SimFault::BadGatewayHtml => kit::proxy_page(StatusCode::BAD_GATEWAY, "nginx"),
        SimFault::TokenExpired => {
            ApiError::Jwt(StatusCode::UNAUTHORIZED, "Token has expired".into()).into_response()
        }
    }
}

fn rate_limited(limit: u32) -> ApiError {
    ApiError::generic(
        StatusCode::TOO_MANY_REQUESTS,
        &format!("429 Too Many Requests: {limit} per 1 second"),
    )
}

// ---------------------------------------------------------------------------------------------
// Router, frame, authentication
// ---------------------------------------------------------------------------------------------

fn router(shared: Arc<Shared>, kit: &kit::Kit) -> Router {
    let redirect = || any(slash_redirect);
    let api = Router::new()
        .route("/security/login", post(security::login))
        .route("/security/refresh", post(security::refresh))
        .route("/security/csrf_token/", get(security::csrf_token))
        .route("/security/csrf_token", redirect())
        .route(
            "/security/users/",
            get(security::list_users).post(security::create_user),
        )
        .route("/security/users", redirect())
        .route("/security/roles/", get(security::list_roles))
        .route("/security/roles", redirect())
        .route("/me/", get(security::me))
        .route("/me", redirect())
        .route("/database/", get(databases::list).post(databases::create))
        .route("/database", redirect())
        .route("/database/_info", get(security::info_database))
        .route(
            "/database/test_connection/",
            post(databases::test_connection),
        )
        .route("/database/test_connection", redirect())
        .route(
            "/database/{pk}",
            get(databases::get_item)
                .put(databases::update)
                .delete(databases::delete),
        )
        .route("/database/{pk}/connection", get(databases::connection))
        .route("/database/{pk}/related_objects/", get(databases::related))
        .route("/database/{pk}/related_objects", redirect())
        .route("/database/{pk}/schemas/", get(databases::schemas))
        .route("/database/{pk}/schemas", redirect())
        .route("/database/{pk}/tables/", get(databases::tables))
        .route("/database/{pk}/tables", redirect())
        .route(
            "/dataset/",
            get(objects::list_datasets)
                .post(objects::create_dataset)
                .delete(objects::bulk_delete_datasets),
        )
        .route("/dataset", redirect())
        .route("/dataset/_info", get(security::info_dataset))
        .route(
            "/dataset/{pk}",
            get(objects::get_dataset)
                .put(objects::update_dataset)
                .delete(objects::delete_dataset),
        )
        .route(
            "/dataset/{pk}/related_objects",
            get(objects::dataset_related),
        )
        .route(
            "/chart/",
            get(boards::list_charts)
                .post(boards::create_chart)
                .delete(boards::bulk_delete_charts),
        )
        .route("/chart", redirect())
        .route("/chart/_info", get(security::info_chart))
        .route(
            "/chart/{pk}",
            get(boards::get_chart)
                .put(boards::update_chart)
                .delete(boards::delete_chart),
        )
        .route(
            "/dashboard/",
            get(boards::list_dashboards)
                .post(boards::create_dashboard)
                .delete(boards::bulk_delete_dashboards),
        )
        .route("/dashboard", redirect())
        .route("/dashboard/_info", get(security::info_dashboard))
        .route(
            "/dashboard/{pk}",
            get(boards::get_dashboard)
                .put(boards::update_dashboard)
                .delete(boards::delete_dashboard),
        )
        .route("/dashboard/{pk}/charts", get(boards::dashboard_charts));
    let app = Router::new()
        .nest(API, api)
        .route("/health", get(health))
        .route("/healthcheck", get(health))
        .route(
            "/ping",
            get(|| async { kit::bytes(StatusCode::OK, "text/plain; charset=utf-8", "pong") }),
        )
        .fallback(|| async { route_not_found().into_response() });
    kit.router(app, |app| {
        app.layer(middleware::from_fn_with_state(shared.clone(), frame))
            .with_state(shared)
    })
}

async fn health() -> Response {
    kit::bytes(StatusCode::OK, "text/plain; charset=utf-8", "OK")
}

/// The request's URI before `nest` strips the `/api/v1` prefix.
#[derive(Clone)]
struct FullUri(Uri);

/// Werkzeug's strict-slashes redirect: 308 to the slashed URL, an HTML page as body.
async fn slash_redirect(
    headers: HeaderMap,
    Extension(FullUri(uri)): Extension<FullUri>,
) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let target = match uri.query() {
        Some(q) => format!("http://{host}{}/?{q}", uri.path()),
        None => format!("http://{host}{}/", uri.path()),
    };
    let page = format!(
        "<!doctype html>\n<html lang=en>\n<title>Redirecting...</title>\n<h1>Redirecting...</h1>\n<p>You should be redirected automatically to the target URL: <a href=\"{target}\">{target}</a>. If not, click the link.\n"
    );
    let mut resp = kit::bytes(
        StatusCode::PERMANENT_REDIRECT,
        "text/html; charset=utf-8",
        page,
    );
    if let Ok(v) = HeaderValue::from_str(&target) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

/// Around every request: queued faults, the rate limit, the rewrite of axum's own
/// rejections into the errors envelope, `Vary` and the dev server's `Server`.
async fn frame(AxState(shared): AxState<Arc<Shared>>, mut req: Request, next: Next) -> Response {
    let full = FullUri(req.uri().clone());
    req.extensions_mut().insert(full);
    let gate = {
        let mut st = shared.lock();
        let limit = st.rate_limit;
        match st.faults.take(req.method().as_str(), req.uri().path()) {
            Some(f) => Err(fault_response(f, limit.unwrap_or(50))),
            None => match limit {
                Some(l) => st
                    .windows
                    .admit((), l as usize, Duration::from_secs(1), Instant::now())
                    .map_err(|_| rate_limited(l).into_response()),
                None => Ok(()),
            },
        }
    };
    let mut resp = match gate {
        Err(r) => r,
        Ok(()) => kit::normalise(next.run(req).await, |status| {
            let message = match status {
                StatusCode::METHOD_NOT_ALLOWED => {
                    "405 Method Not Allowed: The method is not allowed for the requested URL."
                }
                StatusCode::NOT_FOUND => return route_not_found().into_response(),
                s if s.is_client_error() => {
                    "400 Bad Request: The browser (or proxy) sent a request that this server could not understand."
                }
                _ => "500 Internal Server Error: The server encountered an internal error and was unable to complete your request. Either the server is overloaded or there is an error in the application.",
            };
            ApiError::generic(status, message).into_response()
        }),
    };
    let headers = resp.headers_mut();
    headers.insert(
        header::VARY,
        HeaderValue::from_static("Accept-Encoding, Cookie"),
    );
    headers.insert(
        header::SERVER,
        HeaderValue::from_static("Werkzeug/3.1.3 Python/3.11.13"),
    );
    resp
}

/// Who a request acts as.
#[derive(Debug, Clone, Copy)]
pub struct Caller {
    pub id: u32,
    pub role: Role,
}

impl Caller {
    pub fn is_admin(self) -> bool {
        self.role == Role::Admin
    }

    /// Sees databases, datasets, charts and dashboards (Gamma sees none).
    pub fn sees_objects(self) -> bool {
        self.role != Role::Gamma
    }

    /// May write datasets, charts and dashboards (it owns, unless admin).
    pub fn writes_objects(self) -> bool {
        self.role != Role::Gamma
    }

    /// May change this object with these owners.
    pub fn may_change(self, owners: &[u32]) -> bool {
        self.is_admin() || (self.writes_objects() && owners.contains(&self.id))
    }
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// Flask-WTF's check of a mutating request.
fn check_csrf(st: &State, headers: &HeaderMap) -> Result<(), ApiError> {
    let bad =
        |m: &str| ApiError::generic(StatusCode::BAD_REQUEST, &format!("400 Bad Request: {m}"));
    let token = headers
        .get("x-csrftoken")
        .or_else(|| headers.get("x-csrf-token"))
        .and_then(|v| v.to_str().ok())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| bad("The CSRF token is missing."))?;
    let secret = cookie(headers, "session")
        .and_then(|c| st.signer.session_secret(&c))
        .ok_or_else(|| bad("The CSRF session token is missing."))?;
    match st.signer.token_secret(token) {
        Some(s) if s == secret => Ok(()),
        _ => Err(bad("The CSRF token is invalid.")),
    }
}

/// The JWT payload of the bearer token, checked as Flask-JWT-Extended does.
fn bearer_claims(st: &State, headers: &HeaderMap, want_refresh: bool) -> Result<Value, ApiError> {
    let jwt = |status: StatusCode, m: &str| ApiError::Jwt(status, m.to_string());
    let Some(h) = headers.get(header::AUTHORIZATION) else {
        return Err(jwt(
            StatusCode::UNAUTHORIZED,
            "Missing Authorization Header",
        ));
    };
    let h = h.to_str().unwrap_or("");
    let Some(token) = h.strip_prefix("Bearer ") else {
        return Err(jwt(
            StatusCode::UNAUTHORIZED,
            "Missing 'Bearer' type in 'Authorization' header. Expected 'Authorization: Bearer <JWT>'",
        ));
    };
    if token.trim().contains(' ') {
        return Err(jwt(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Bad Authorization header. Expected 'Authorization: Bearer <JWT>'",
        ));
    }
    let claims = st
        .signer
        .verify(token.trim())
        .map_err(|m| jwt(StatusCode::UNPROCESSABLE_ENTITY, m))?;
    let now = state::now_ms() / 1000;
    if claims
        .get("exp")
        .and_then(Value::as_i64)
        .is_some_and(|e| e <= now)
    {
        return Err(jwt(StatusCode::UNAUTHORIZED, "Token has expired"));
    }
    let is_refresh = claims.get("type").and_then(Value::as_str) == Some("refresh");
    match (want_refresh, is_refresh) {
        (true, false) => Err(jwt(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Only refresh tokens are allowed",
        )),
        (false, true) => Err(jwt(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Only non-refresh tokens are allowed",
        )),
        _ => Ok(claims),
    }
}

fn caller_of(st: &State, claims: &Value) -> Result<Caller, ApiError> {
    let sub = claims.get("sub").and_then(Value::as_str).unwrap_or("");
    sub.parse::<u32>()
        .ok()
        .and_then(|id| st.users.get(&id))
        .filter(|u| u.active)
        .map(|u| Caller {
            id: u.id,
            role: u.role,
        })
        .ok_or_else(|| {
            ApiError::Jwt(
                StatusCode::UNAUTHORIZED,
                format!("Error loading the user {sub}"),
            )
        })
}

/// CSRF (mutating methods, when on) then the bearer access token.
pub fn authenticate(st: &State, method: &Method, headers: &HeaderMap) -> Result<Caller, ApiError> {
    if st.csrf
        && matches!(
            *method,
            Method::POST | Method::PUT | Method::DELETE | Method::PATCH
        )
    {
        check_csrf(st, headers)?;
    }
    let claims = bearer_claims(st, headers, false)?;
    caller_of(st, &claims)
}

/// The JSON object of a POST/PUT body.
pub fn json_body(headers: &HeaderMap, body: &Bytes) -> Result<Map<String, Value>, ApiError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/json")
        });
    if !is_json {
        return Err(ApiError::bad_request("Request is not JSON"));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(ApiError::field_list(
            StatusCode::BAD_REQUEST,
            "_schema",
            "Invalid input type.",
        )),
        Err(_) => Err(ApiError::generic(
            StatusCode::BAD_REQUEST,
            "400 Bad Request: The browser (or proxy) sent a request that this server could not understand.",
        )),
    }
}

/// A path id: integers only (anything else is an object that does not exist).
pub fn parse_pk(pk: &str) -> Result<u32, ApiError> {
    pk.parse::<u32>().map_err(|_| ApiError::not_found())
}

/// A list of user ids for `owners`: every one must exist.
pub fn owner_ids(st: &State, v: &Value) -> Result<Vec<u32>, ApiError> {
    let invalid = || {
        ApiError::field_list(
            StatusCode::UNPROCESSABLE_ENTITY,
            "owners",
            "Owners are invalid",
        )
    };
    let Value::Array(a) = v else {
        return Err(ApiError::field_list(
            StatusCode::BAD_REQUEST,
            "owners",
            "Not a valid list.",
        ));
    };
    let mut out = Vec::new();
    for x in a {
        let id = x
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| {
                ApiError::field(
                    StatusCode::BAD_REQUEST,
                    "owners",
                    json!({"0": ["Not a valid integer."]}),
                )
            })?;
        if !st.users.contains_key(&id) {
            return Err(invalid());
        }
        if !out.contains(&id) {
            out.push(id);
        }
    }
    Ok(out)
}

/// `Deleted 1 dataset` / `Deleted 2 datasets`.
pub fn deleted_message(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("Deleted 1 {noun}")
    } else {
        format!("Deleted {n} {noun}s")
    }
}
