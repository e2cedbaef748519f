//! Simulated Basedash Public API: organizations and their data sources under `/api/public`.
//!
//! The server keeps every object in the vendor's wire format (`serde_json` values seeded from
//! `assets/basedash.json`, or generated on demand when a scale is requested), never as the
//! client's types, and reproduces what a client has to cope with: bearer API keys, the
//! `{data}` / `{data, pagination:{nextCursor, hasMore}}` envelopes with cursor paging (newest
//! first), soft deletes that answer 200 with the object and hide it afterwards, 404 for
//! callers that are not organization admins, `{error:{title,detail}}` bodies, 429
//! `RateLimitExceeded` with `retryAfterMs` (and `Retry-After`), 5xx and HTML error pages.
//! The seed's timestamps are shifted so that its `referenceTime` is the moment the simulator
//! starts, which keeps ages ("healthy 3d ago") realistic.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, HashSet};
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State as AxState};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Map, Value};

use super::{kit, SimOptions};

/// The API key the simulator accepts (`Authorization: Bearer <DEMO_TOKEN>`).
pub const DEMO_TOKEN: &str = "bd_key_dsconsoleDemo7f3a9c2e5b8d140a2c6";

const SEED: &str = include_str!("../../assets/basedash.json");
const API: &str = "/api/public";
const JSON_CONTENT_TYPE: &str = "application/json; charset=utf-8";
const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 100;
/// The request log keeps the most recent requests only.
const MAX_LOGGED_REQUESTS: usize = 1_000_000;
/// Upper bound on data sources, to keep a mistyped scale from exhausting memory.
const MAX_SCALE: usize = 2_000_000;
/// Rate-limit window.
const RATE_WINDOW: Duration = Duration::from_secs(60);
/// Default delay before a new data source's first sync finishes.
const DEFAULT_SYNC_DELAY: Duration = Duration::from_secs(3);

/// `DatabaseDialect` values the API accepts.
pub const DIALECTS: [&str; 15] = [
    "POSTGRES",
    "SUPABASE",
    "MYSQL",
    "PLANETSCALE",
    "ATHENA",
    "BIGQUERY",
    "CLICKHOUSE",
    "SPANNER",
    "SNOWFLAKE",
    "REDSHIFT",
    "SQL_SERVER",
    "ORACLE",
    "DATABRICKS",
    "POSTHOG",
    "DUCKDB",
];

/// The 35 fields of a DataSource, in the order the API emits them.
const FIELDS: [&str; 35] = [
    "id",
    "displayName",
    "description",
    "dialect",
    "databaseName",
    "username",
    "host",
    "port",
    "sslEnabled",
    "sslCustomCertificatesEnabled",
    "sshEnabled",
    "sshHost",
    "sshPort",
    "sshUsername",
    "bigQueryProjectId",
    "spannerInstanceId",
    "athenaWorkgroup",
    "athenaOutputLocation",
    "athenaCatalog",
    "snowflakeAccountId",
    "snowflakeWarehouse",
    "snowflakeRole",
    "lastSuccessfulSyncAt",
    "lastSyncStatus",
    "lastSyncAttemptAt",
    "hasCompletedFirstSync",
    "syncErrorMessage",
    "lastHealthyAt",
    "lastHealthStatus",
    "lastHealthCheckAttemptAt",
    "isDemo",
    "isBasedashWarehouse",
    "mutatingQueriesEnabled",
    "createdAt",
    "updatedAt",
];

/// Connection fields a create or update may set (secrets are accepted but never stored).
const CONNECTION_FIELDS: [&str; 18] = [
    "databaseName",
    "username",
    "host",
    "port",
    "sslEnabled",
    "sslCustomCertificatesEnabled",
    "sshEnabled",
    "sshHost",
    "sshPort",
    "sshUsername",
    "bigQueryProjectId",
    "spannerInstanceId",
    "athenaWorkgroup",
    "athenaOutputLocation",
    "athenaCatalog",
    "snowflakeAccountId",
    "snowflakeWarehouse",
    "snowflakeRole",
];

const DATE_FIELDS: [&str; 6] = [
    "lastSuccessfulSyncAt",
    "lastSyncAttemptAt",
    "lastHealthyAt",
    "lastHealthCheckAttemptAt",
    "createdAt",
    "updatedAt",
];

// ---------------------------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------------------------

/// A running Basedash simulator.
#[derive(Debug)]
pub struct BasedashSim {
    /// `http://127.0.0.1:PORT`: the host root, like `https://charts.basedash.com`; the API
    /// is under `/api/public`.
    pub base_url: String,
    /// Knobs and inspection of the simulator's state.
    pub control: BasedashControl,
}

impl BasedashSim {
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
    /// 429 `{"error":{"title":"RateLimitExceeded","detail":"Too many requests",
    /// "retryAfterMs":N}}`, with a `Retry-After: S` header when `retry_after_header` is set.
    RateLimited {
        retry_after_ms: u64,
        retry_after_header: Option<u64>,
    },
    /// 500 `{"error":{"title":"InternalServerError",...}}`.
    ServerError,
    /// 502 with an HTML page from the edge proxy.
    BadGatewayHtml,
    /// 404 with the web app's HTML page, as if the route did not exist (a misrouted proxy).
    HtmlNotFound,
    /// 200 with a JSON body cut in the middle.
    TruncatedJson,
}

/// Cloneable handle to the simulator's state. The server runs while any handle is alive.
/// Derefs to the kit's control core: `requests`, `clear_requests`, `set_latency` and the
/// shared fault layer `faults` (which runs after the API key and rate-limit checks;
/// `fail_next` is the older, Basedash-shaped switch and fires first).
#[derive(Clone)]
pub struct BasedashControl {
    shared: Arc<Shared>,
    core: kit::Control,
}

kit::control_handle!(BasedashControl, kit::Control);

impl BasedashControl {
    /// Ids of the organizations, in list order (newest first).
    pub fn org_ids(&self) -> Vec<String> {
        lock(&self.shared)
            .orgs
            .iter()
            .map(|o| o.id.to_string())
            .collect()
    }

    /// Ids of every live (not deleted) data source: organization by organization in list
    /// order, each newest first, as the API lists them.
    pub fn ids(&self) -> Vec<String> {
        let st = lock(&self.shared);
        (0..st.orgs.len()).flat_map(|o| st.live_ids(o)).collect()
    }

    /// Ids of the live data sources of one organization, newest first.
    pub fn ids_in(&self, org_id: &str) -> Vec<String> {
        let st = lock(&self.shared);
        match st.org_index(org_id) {
            Some(o) => st.live_ids(o),
            None => Vec::new(),
        }
    }

    /// Whether a live (not deleted) data source with this id exists.
    pub fn contains(&self, id: &str) -> bool {
        let st = lock(&self.shared);
        st.source(id).is_some_and(|s| !s.deleted)
    }

    /// Whether this data source was soft-deleted.
    pub fn is_soft_deleted(&self, id: &str) -> bool {
        let st = lock(&self.shared);
        st.source(id).is_some_and(|s| s.deleted)
    }

    /// The data source as the server would return it (also after a soft delete).
    pub fn object(&self, id: &str) -> Option<Value> {
        let mut st = lock(&self.shared);
        st.settle(Instant::now());
        let i = *st.by_id.get(id)?;
        Some(st.render(i))
    }

    /// The organization id of a data source.
    pub fn org_of(&self, id: &str) -> Option<String> {
        let st = lock(&self.shared);
        let s = st.source(id)?;
        Some(st.orgs.get(s.org)?.id.to_string())
    }

    /// Serve `fault` instead of the next `n` requests (queued after earlier faults).
    pub fn fail_next(&self, n: usize, fault: SimFault) {
        lock(&self.shared).faults.push(None, "", fault, n);
    }

    /// Serve `fault` instead of the next `n` requests with this method (e.g. "POST": the
    /// next verifies).
    pub fn fail_next_method(&self, method: &str, n: usize, fault: SimFault) {
        lock(&self.shared).faults.push(Some(method), "", fault, n);
    }

    /// Faults still queued.
    pub fn pending_faults(&self) -> usize {
        lock(&self.shared).faults.pending()
    }

    /// At most this many requests per API key per minute (`None`, the default: no limit);
    /// beyond it 429 with `retryAfterMs` until the window resets and a `Retry-After` header.
    pub fn set_rate_limit(&self, per_minute: Option<u32>) {
        let mut st = lock(&self.shared);
        st.rate_limit = per_minute;
        st.windows.clear();
    }

    /// Serve at most this many items per page whatever `limit` asks for (`None`: `limit`).
    pub fn set_page_size_cap(&self, cap: Option<usize>) {
        lock(&self.shared).page_cap = cap.map(|c| c.max(1));
    }

    /// Whether the key's user is an admin of this organization (default: yes). Non-admins
    /// get 404 on every data-source endpoint of it. Returns false for an unknown org.
    pub fn set_admin(&self, org_id: &str, admin: bool) -> bool {
        let mut st = lock(&self.shared);
        match st.org_index(org_id) {
            Some(o) => {
                st.orgs[o].admin = admin;
                true
            }
            None => false,
        }
    }

    /// When off, `GET .../data-sources/{id}` answers an HTML 404 page as if the route did not
    /// exist (the single-object GET is not in the reference pages).
    pub fn set_single_get(&self, on: bool) {
        lock(&self.shared).single_get = on;
    }

    /// Record a health check now: `HEALTHY` (also moves `lastHealthyAt`) or `UNHEALTHY`.
    /// Returns false for an unknown id.
    pub fn set_health(&self, id: &str, healthy: bool) -> bool {
        let mut st = lock(&self.shared);
        let now = iso_now();
        st.edit(id, |m| {
            m.insert("lastHealthCheckAttemptAt".into(), Value::from(now.clone()));
            if healthy {
                m.insert("lastHealthStatus".into(), Value::from("HEALTHY"));
                m.insert("lastHealthyAt".into(), Value::from(now.clone()));
            } else {
                m.insert("lastHealthStatus".into(), Value::from("UNHEALTHY"));
            }
        })
    }

    /// Record a sync attempt now with this `lastSyncStatus` (`None`: null) and
    /// `syncErrorMessage`; `SUCCESS` also moves `lastSuccessfulSyncAt`. Returns false for an
    /// unknown id.
    pub fn set_sync(&self, id: &str, status: Option<&str>, error: Option<&str>) -> bool {
        let mut st = lock(&self.shared);
        let now = iso_now();
        st.edit(id, |m| {
            m.insert("lastSyncAttemptAt".into(), Value::from(now.clone()));
            m.insert(
                "lastSyncStatus".into(),
                status.map(Value::from).unwrap_or(Value::Null),
            );
            m.insert(
                "syncErrorMessage".into(),
                error.map(Value::from).unwrap_or(Value::Null),
            );
            if status == Some("SUCCESS") {
                m.insert("lastSuccessfulSyncAt".into(), Value::from(now.clone()));
                m.insert("hasCompletedFirstSync".into(), Value::Bool(true));
            }
        })
    }

    /// How long a created data source stays `PENDING` before its first sync finishes.
    pub fn set_sync_delay(&self, d: Duration) {
        lock(&self.shared).sync_delay = d;
    }

    /// `Some(message)`: first syncs of data sources created from now on fail with it;
    /// `None` (default): they succeed.
    pub fn set_first_sync_failure(&self, message: Option<&str>) {
        lock(&self.shared).first_sync_failure = message.map(str::to_string);
    }

    /// `Some(field errors)`: a verify whose connection fields match stored source `id`
    /// fails with these `fieldErrors` (the vendor's words, e.g. `("host", "Host not
    /// found")`); `None`: that source verifies again. A verify carries no id, so the
    /// simulator matches its fields against the organization's sources.
    pub fn set_verify_failure_for(&self, id: &str, field_errors: Option<&[(&str, &str)]>) {
        let mut st = lock(&self.shared);
        match field_errors {
            Some(f) => {
                let f = f
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
                st.verify_failures.insert(id.to_string(), f);
            }
            None => {
                st.verify_failures.remove(id);
            }
        }
    }

    /// How a failed verify is answered, which the docs do not show ([guess]): 400
    /// `ValidationError` with `fieldErrors` (default), or (`true`) 200
    /// `{"data":{"success":false,"fieldErrors":{...}}}`.
    pub fn set_verify_failure_as_200(&self, on: bool) {
        lock(&self.shared).verify_failure_as_200 = on;
    }

    /// The secret (wire key `password`, `sshPassword`, `sshPrivateKey`...) a PATCH last
    /// stored on a source; `None` when never set or cleared with `unset*`. Never returned
    /// by the API.
    pub fn secret(&self, id: &str, key: &str) -> Option<String> {
        lock(&self.shared)
            .secrets
            .get(id)
            .and_then(|m| m.get(key))
            .cloned()
    }

    /// Every PATCH body received for a live source, in order: (source id, body as sent).
    pub fn patches(&self) -> Vec<(String, Value)> {
        lock(&self.shared).patches.clone()
    }

    /// Whether a PATCH may change `displayName`: the docs do not list it ([guess]); `true`
    /// (default) accepts it, `false` answers 400 `ValidationError` as a strict server would.
    pub fn set_rename_accepted(&self, on: bool) {
        lock(&self.shared).rename_refused = !on;
    }

    /// `Some(field errors)`: every verify fails with 400 and these `fieldErrors`;
    /// `None` (default): it succeeds (unless `set_verify_failure_for` says otherwise).
    pub fn set_verify_failure(&self, field_errors: Option<&[(&str, &str)]>) {
        lock(&self.shared).verify_failure = field_errors.map(|f| {
            f.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        });
    }
}

/// Start the simulator on 127.0.0.1 (`opts.port`, 0 = any free port), serving in a
/// background task.
pub async fn start(opts: &SimOptions) -> std::io::Result<BasedashSim> {
    let state = SimState::from_seed(opts)?;
    let shared = Arc::new(Shared::new(state));
    let (listener, base_url) = kit::bind(opts.port).await?;
    let kit = kit::Kit::new(opts, MAX_LOGGED_REQUESTS);
    let app = router(shared.clone(), &kit);
    Ok(BasedashSim {
        base_url,
        control: BasedashControl {
            shared,
            core: kit.serve(listener, app, "Basedash"),
        },
    })
}

// ---------------------------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------------------------

type Shared = kit::Shared<SimState>;

fn lock(shared: &Shared) -> MutexGuard<'_, SimState> {
    shared.lock()
}

struct Org {
    id: Arc<str>,
    value: Value,
    admin: bool,
    /// Indexes into `SimState::sources`, oldest first (lists walk it backwards).
    sources: Vec<usize>,
}

enum Held {
    Json(Map<String, Value>),
    /// Generated source number `n`, rendered on demand (cheap at 100,000 sources).
    Generated(u32),
}

struct Source {
    id: Arc<str>,
    org: usize,
    /// Position in its organization's `sources`.
    pos: usize,
    body: Held,
    deleted: bool,
}

/// A created data source whose first sync is still running.
struct PendingSync {
    source: usize,
    done_at: Instant,
    failure: Option<String>,
}

struct SimState {
    /// Newest first, as listed.
    orgs: Vec<Org>,
    sources: Vec<Source>,
    by_id: HashMap<Arc<str>, usize>,
    access: HashMap<String, Value>,
    keys: HashSet<String>,
    faults: kit::FaultQueue<SimFault>,
    rate_limit: Option<u32>,
    windows: kit::RateWindows<String>,
    page_cap: Option<usize>,
    single_get: bool,
    sync_delay: Duration,
    first_sync_failure: Option<String>,
    verify_failure: Option<Vec<(String, String)>>,
    /// Verify failures of the stored sources a verify body matches, by source id.
    verify_failures: HashMap<String, Vec<(String, String)>>,
    /// Failed verifies answer 200 `{"data":{"success":false,"fieldErrors"}}` instead of 400.
    verify_failure_as_200: bool,
    /// Secrets set by PATCH, by source id then wire key (`password`, `sshPassword`...).
    /// Never rendered.
    secrets: HashMap<String, HashMap<String, String>>,
    /// Every PATCH body the simulator received for a live source, in order: (id, body).
    patches: Vec<(String, Value)>,
    /// A PATCH may rename (`displayName`): accepted unless switched off ([guess]).
    rename_refused: bool,
    pending: Vec<PendingSync>,
    /// Unix milliseconds the generated sources are dated from (the start of the simulator).
    generated_now_ms: i64,
    /// Creation time of the newest generated source (older than every seed source).
    generated_newest_ms: i64,
    generated_count: u32,
}

fn invalid_data(message: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, message)
}

impl SimState {
    fn from_seed(opts: &SimOptions) -> std::io::Result<SimState> {
        let seed: Value = serde_json::from_str(SEED)
            .map_err(|e| invalid_data(format!("bad Basedash seed: {e}")))?;
        let now_ms = chrono::Utc::now().timestamp_millis();
        let reference_ms = seed
            .get("referenceTime")
            .and_then(Value::as_str)
            .and_then(parse_ms)
            .unwrap_or(now_ms);
        let shift = now_ms - reference_ms;

        let mut st = SimState {
            orgs: Vec::new(),
            sources: Vec::new(),
            by_id: HashMap::new(),
            access: HashMap::new(),
            keys: HashSet::from([DEMO_TOKEN.to_string()]),
            faults: kit::FaultQueue::default(),
            rate_limit: None,
            windows: kit::RateWindows::new(kit::Window::Fixed),
            page_cap: None,
            single_get: true,
            sync_delay: DEFAULT_SYNC_DELAY,
            first_sync_failure: None,
            verify_failure: None,
            verify_failures: HashMap::new(),
            verify_failure_as_200: false,
            secrets: HashMap::new(),
            patches: Vec::new(),
            rename_refused: false,
            pending: Vec::new(),
            generated_now_ms: now_ms,
            generated_newest_ms: now_ms,
            generated_count: 0,
        };
        for v in seed
            .get("organizations")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(id) = v.get("id").and_then(Value::as_str) else {
                continue;
            };
            st.orgs.push(Org {
                id: Arc::from(id),
                value: v.clone(),
                admin: true,
                sources: Vec::new(),
            });
        }
        if st.orgs.is_empty() {
            return Err(invalid_data("Basedash seed has no organizations".into()));
        }

        // Seed sources, shifted to now, oldest first.
        let mut seeded: Vec<(usize, i64, Map<String, Value>)> = Vec::new();
        if let Some(by_org) = seed.get("dataSources").and_then(Value::as_object) {
            for (org_id, list) in by_org {
                let Some(o) = st.org_index(org_id) else {
                    return Err(invalid_data(format!(
                        "Basedash seed: data sources of unknown organization '{org_id}'"
                    )));
                };
                for v in list.as_array().into_iter().flatten() {
                    let Some(mut m) = v.as_object().cloned() else {
                        continue;
                    };
                    for key in DATE_FIELDS {
                        if let Some(ms) = m.get(key).and_then(Value::as_str).and_then(parse_ms) {
                            m.insert(key.into(), Value::from(iso(ms + shift)));
                        }
                    }
                    let created = m
                        .get("createdAt")
                        .and_then(Value::as_str)
                        .and_then(parse_ms)
                        .unwrap_or(now_ms);
                    seeded.push((o, created, m));
                }
            }
        }
        seeded.sort_by_key(|(_, created, _)| *created);

        // Generated sources are older than every seed source, so they come first.
        let oldest_seed = seeded.first().map(|s| s.1).unwrap_or(now_ms);
        let count = opts.scale.min(MAX_SCALE).saturating_sub(seeded.len());
        st.generated_count = u32::try_from(count).unwrap_or(u32::MAX);
        st.generated_newest_ms = oldest_seed - 3_600_000;
        st.sources.reserve(count + seeded.len());
        st.by_id.reserve(count + seeded.len());
        for n in 0..st.generated_count {
            let org = n as usize % st.orgs.len();
            st.push(Arc::from(generated_id(n)), org, Held::Generated(n));
        }
        for (org, _, m) in seeded {
            let Some(id) = m.get("id").and_then(Value::as_str).map(Arc::<str>::from) else {
                continue;
            };
            st.push(id, org, Held::Json(m));
        }
        Ok(st)
    }

    /// Add a source as the newest of its organization. Duplicate ids are ignored.
    fn push(&mut self, id: Arc<str>, org: usize, body: Held) -> Option<usize> {
        if id.is_empty() || self.by_id.contains_key(&id) {
            return None;
        }
        let i = self.sources.len();
        let pos = self.orgs[org].sources.len();
        self.orgs[org].sources.push(i);
        self.by_id.insert(id.clone(), i);
        self.sources.push(Source {
            id,
            org,
            pos,
            body,
            deleted: false,
        });
        Some(i)
    }

    fn org_index(&self, id: &str) -> Option<usize> {
        self.orgs.iter().position(|o| &*o.id == id)
    }

    fn source(&self, id: &str) -> Option<&Source> {
        self.by_id.get(id).and_then(|&i| self.sources.get(i))
    }

    fn live_ids(&self, org: usize) -> Vec<String> {
        self.orgs[org]
            .sources
            .iter()
            .rev()
            .filter_map(|&i| self.sources.get(i))
            .filter(|s| !s.deleted)
            .map(|s| s.id.to_string())
            .collect()
    }

    /// The data source as the API emits it: all 35 fields, in order.
    fn render(&self, i: usize) -> Value {
        let Some(s) = self.sources.get(i) else {
            return Value::Null;
        };
        match &s.body {
            Held::Json(m) => {
                let mut out = Map::new();
                for key in FIELDS {
                    out.insert(key.into(), m.get(key).cloned().unwrap_or(Value::Null));
                }
                Value::Object(out)
            }
            Held::Generated(n) => self.render_generated(*n),
        }
    }

    /// Change a source's fields (a generated one becomes stored JSON first) and bump
    /// `updatedAt`. False for an unknown id.
    fn edit(&mut self, id: &str, f: impl FnOnce(&mut Map<String, Value>)) -> bool {
        let Some(&i) = self.by_id.get(id) else {
            return false;
        };
        if let Held::Generated(_) = self.sources[i].body {
            let Value::Object(m) = self.render(i) else {
                return false;
            };
            self.sources[i].body = Held::Json(m);
        }
        if let Held::Json(m) = &mut self.sources[i].body {
            f(m);
            m.insert("updatedAt".into(), Value::from(iso_now()));
        }
        true
    }

    /// Finish the first syncs whose time has come.
    fn settle(&mut self, now: Instant) {
        if self.pending.is_empty() {
            return;
        }
        let (done, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|p| p.done_at <= now);
        self.pending = waiting;
        for p in done {
            let Some(id) = self.sources.get(p.source).map(|s| s.id.clone()) else {
                continue;
            };
            let t = iso_now();
            self.edit(&id, |m| {
                m.insert("lastSyncAttemptAt".into(), Value::from(t.clone()));
                match &p.failure {
                    Some(msg) => {
                        m.insert("lastSyncStatus".into(), Value::from("FAILED"));
                        m.insert("syncErrorMessage".into(), Value::from(msg.clone()));
                    }
                    None => {
                        m.insert("lastSyncStatus".into(), Value::from("SUCCESS"));
                        m.insert("lastSuccessfulSyncAt".into(), Value::from(t.clone()));
                        m.insert("hasCompletedFirstSync".into(), Value::Bool(true));
                        m.insert("syncErrorMessage".into(), Value::Null);
                    }
                }
            });
        }
    }

    /// A live source of an organization the caller administers, else the API's 404.
    fn admin_source(&self, org: usize, id: &str) -> Result<usize, ApiError> {
        match self.by_id.get(id) {
            Some(&i) if self.sources[i].org == org && !self.sources[i].deleted => Ok(i),
            _ => Err(ApiError::source_not_found()),
        }
    }

    /// The index of an organization the caller administers, else 404.
    fn admin_org(&self, org_id: &str) -> Result<usize, ApiError> {
        match self.org_index(org_id) {
            Some(o) if self.orgs[o].admin => Ok(o),
            _ => Err(ApiError::not_found(
                "Organization not found or no admin access",
            )),
        }
    }

    /// 429 when the key is over its per-minute budget.
    fn check_rate(&mut self, key: &str, now: Instant) -> Result<(), ApiError> {
        let Some(limit) = self.rate_limit else {
            return Ok(());
        };
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        self.windows
            .admit(key.to_string(), limit, RATE_WINDOW, now)
            .map_err(|left| {
                let ms = u64::try_from(left.as_millis()).unwrap_or(u64::MAX).max(1);
                ApiError::rate_limited(ms, Some(ms.div_ceil(1000)))
            })
    }

    fn render_generated(&self, n: u32) -> Value {
        let number = u64::from(n) + 1;
        const KINDS: [(&str, u16, &str); 6] = [
            ("POSTGRES", 5432, "app"),
            ("MYSQL", 3306, "shop"),
            ("CLICKHOUSE", 8443, "events"),
            ("SQL_SERVER", 1433, "ERP"),
            ("REDSHIFT", 5439, "analytics"),
            ("ORACLE", 1521, "SALES"),
        ];
        const SYNC_ERRORS: [&str; 4] = [
            "password authentication failed for user \"bd_reader\"",
            "connect ETIMEDOUT 10.20.0.14:5432",
            "permission denied for schema reporting",
            "Too many connections",
        ];
        let (dialect, port, db) = KINDS[n as usize % KINDS.len()];
        let now = self.generated_now_ms;
        let minute = 60_000i64;
        let hour = 60 * minute;
        let day = 24 * hour;
        let behind = i64::from(self.generated_count.saturating_sub(n + 1));
        let created = self.generated_newest_ms - behind * minute;
        let unhealthy = n % 9 == 8;
        let never = n % 11 == 10;
        let failed = !never && n % 7 == 6;
        let checked = now - i64::from(n % 50) * minute;
        let last_healthy = if unhealthy {
            now - i64::from(n % 30 + 1) * day
        } else {
            checked
        };
        let (status, last_ok, error) = if never {
            ("NEVER_SYNCED", None, None)
        } else if failed {
            (
                "FAILED",
                Some(now - i64::from(n % 20 + 1) * day),
                Some(SYNC_ERRORS[n as usize % SYNC_ERRORS.len()]),
            )
        } else {
            (
                "SUCCESS",
                Some(now - i64::from(n % 24) * hour - 5 * minute),
                None,
            )
        };
        let attempt = if never {
            None
        } else {
            Some(now - i64::from(n % 24) * hour - 6 * minute)
        };
        let updated = attempt.unwrap_or(created).max(created);
        json!({
            "id": generated_id(n),
            "displayName": format!("Generated Source {number:05}"),
            "description": "Generated by the simulator",
            "dialect": dialect,
            "databaseName": db,
            "username": "bd_reader",
            "host": format!("gen-{number:05}.db.example.internal"),
            "port": port,
            "sslEnabled": true,
            "sslCustomCertificatesEnabled": false,
            "sshEnabled": false,
            "sshHost": null,
            "sshPort": null,
            "sshUsername": null,
            "bigQueryProjectId": null,
            "spannerInstanceId": null,
            "athenaWorkgroup": null,
            "athenaOutputLocation": null,
            "athenaCatalog": null,
            "snowflakeAccountId": null,
            "snowflakeWarehouse": null,
            "snowflakeRole": null,
            "lastSuccessfulSyncAt": last_ok.map(iso),
            "lastSyncStatus": status,
            "lastSyncAttemptAt": attempt.map(iso),
            "hasCompletedFirstSync": last_ok.is_some(),
            "syncErrorMessage": error,
            "lastHealthyAt": iso(last_healthy),
            "lastHealthStatus": if unhealthy { "UNHEALTHY" } else { "HEALTHY" },
            "lastHealthCheckAttemptAt": iso(checked),
            "isDemo": false,
            "isBasedashWarehouse": false,
            "mutatingQueriesEnabled": false,
            "createdAt": iso(created),
            "updatedAt": iso(updated),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Ids and timestamps
// ---------------------------------------------------------------------------------------------

fn random_u64() -> u64 {
    static KEYS: std::sync::OnceLock<RandomState> = std::sync::OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    KEYS.get_or_init(RandomState::new).hash_one(n)
}

const ID_ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

fn push_chars(out: &mut String, mut bits: u64, count: usize) {
    for _ in 0..count {
        out.push(char::from(ID_ALPHABET[(bits % 36) as usize]));
        bits /= 36;
    }
}

/// A cuid-like id: "c" and 24 characters of [a-z0-9].
fn random_cuid() -> String {
    let mut out = String::with_capacity(25);
    out.push('c');
    push_chars(&mut out, random_u64(), 12);
    push_chars(&mut out, random_u64(), 12);
    out
}

fn random_org_id() -> String {
    let mut out = String::from("org_");
    push_chars(&mut out, random_u64(), 10);
    out
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The deterministic cuid-like id of generated source `n`.
fn generated_id(n: u32) -> String {
    let mut out = String::with_capacity(25);
    out.push_str("cg");
    push_chars(&mut out, splitmix64(u64::from(n) * 2), 11);
    push_chars(&mut out, splitmix64(u64::from(n) * 2 + 1), 12);
    out
}

fn parse_ms(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// ISO 8601 with milliseconds, as JavaScript's `toISOString` writes it.
fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

fn iso_now() -> String {
    iso(chrono::Utc::now().timestamp_millis())
}

// ---------------------------------------------------------------------------------------------
// Errors and responses
// ---------------------------------------------------------------------------------------------

#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    title: &'static str,
    detail: String,
    /// Extra keys inside `error` (`retryAfterMs`, `fieldErrors`).
    extra: Map<String, Value>,
    /// `Retry-After` header, seconds.
    retry_after_header: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, title: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError {
            status,
            title,
            detail: detail.into(),
            extra: Map::new(),
            retry_after_header: None,
        }
    }

    fn unauthorized() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "Missing or invalid API key",
        )
    }

    fn not_found(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "NotFound", detail)
    }

    fn source_not_found() -> ApiError {
        ApiError::not_found("Data source not found or no admin access")
    }

    fn invalid(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "ValidationError", detail)
    }

    fn rate_limited(retry_after_ms: u64, header_secs: Option<u64>) -> ApiError {
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "RateLimitExceeded",
            "Too many requests",
        );
        e.extra
            .insert("retryAfterMs".into(), Value::from(retry_after_ms));
        e.retry_after_header = header_secs;
        e
    }

    fn internal() -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            "An unexpected error occurred",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = Map::new();
        error.insert("title".into(), Value::from(self.title));
        error.insert("detail".into(), Value::from(self.detail));
        error.extend(self.extra);
        let resp = json_response(self.status, &json!({ "error": error }));
        match self.retry_after_header {
            Some(secs) => kit::retry_after(resp, secs),
            None => resp,
        }
    }
}

fn json_response(status: StatusCode, v: &Value) -> Response {
    kit::json(status, JSON_CONTENT_TYPE, v)
}

fn data(status: StatusCode, v: Value) -> Response {
    json_response(status, &json!({ "data": v }))
}

/// The HTML page the web app serves for a path it has no route for.
fn html_not_found() -> Response {
    kit::bytes(
        StatusCode::NOT_FOUND,
        "text/html; charset=utf-8",
        &b"<!DOCTYPE html><html><head><meta charSet=\"utf-8\"/><title>404: This page could not be found.</title></head><body><div><h1>404</h1><div><h2>This page could not be found.</h2></div></div></body></html>"[..],
    )
}

fn fault_response(fault: SimFault) -> Response {
    match fault {
        SimFault::RateLimited {
            retry_after_ms,
            retry_after_header,
        } => ApiError::rate_limited(retry_after_ms, retry_after_header).into_response(),
        SimFault::ServerError => ApiError::internal().into_response(),
        SimFault::BadGatewayHtml => kit::proxy_page(StatusCode::BAD_GATEWAY, "cloudflare"),
        SimFault::HtmlNotFound => html_not_found(),
        SimFault::TruncatedJson => kit::bytes(
            StatusCode::OK,
            JSON_CONTENT_TYPE,
            &br#"{"data":[{"id":"cm5x2k9q80001ab12cd34ef56","displayName":"Produc"#[..],
        ),
    }
}

type ApiResult = Result<Response, ApiError>;

// ---------------------------------------------------------------------------------------------
// Router and middleware
// ---------------------------------------------------------------------------------------------

fn router(shared: Arc<Shared>, kit: &kit::Kit) -> Router {
    let api = Router::new()
        .route(
            "/organizations",
            get(list_organizations).post(create_organization),
        )
        .route("/organizations/{org}", get(get_organization))
        .route(
            "/organizations/{org}/data-sources",
            get(list_sources).post(create_source),
        )
        .route(
            "/organizations/{org}/data-sources/verify",
            post(verify_source),
        )
        .route(
            "/organizations/{org}/data-sources/{id}",
            get(get_source).patch(patch_source).delete(delete_source),
        )
        .route(
            "/organizations/{org}/data-sources/{id}/access",
            get(get_access).put(put_access),
        );
    let app = Router::new().nest(API, api).fallback(route_not_found);
    kit.router(app, |app| {
        app.layer(middleware::from_fn_with_state(shared.clone(), frame))
            .with_state(shared)
    })
}

async fn route_not_found() -> Response {
    html_not_found()
}

/// The API key of a request, if it has a well-formed `Authorization: Bearer` header.
fn bearer(req: &Request) -> Option<String> {
    let v = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, key) = v.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| key.trim().to_string())
        .filter(|k| !k.is_empty())
}

/// Runs around every request inside the kit's frame: queued faults, API key, rate limit,
/// error normalisation.
async fn frame(AxState(shared): AxState<Arc<Shared>>, req: Request, next: Next) -> Response {
    let gate = {
        let mut st = lock(&shared);
        let now = Instant::now();
        let path = req.uri().path();
        match st.faults.take(req.method().as_str(), path) {
            Some(f) => Err(fault_response(f)),
            None if !path.starts_with(API) => Ok(()),
            None => match bearer(&req) {
                Some(key) if st.keys.contains(&key) => st
                    .check_rate(&key, now)
                    .map_err(IntoResponse::into_response),
                _ => Err(ApiError::unauthorized().into_response()),
            },
        }
    };
    match gate {
        Ok(()) => kit::normalise(next.run(req).await, |status| match status {
            StatusCode::METHOD_NOT_ALLOWED => {
                ApiError::new(status, "MethodNotAllowed", "Method not allowed").into_response()
            }
            s if s.is_client_error() => ApiError::invalid(format!(
                "Invalid request ({})",
                s.canonical_reason().unwrap_or("client error")
            ))
            .into_response(),
            _ => ApiError::internal().into_response(),
        }),
        Err(r) => r,
    }
}

// ---------------------------------------------------------------------------------------------
// Request parsing
// ---------------------------------------------------------------------------------------------

/// `limit` (1..=100, default 50) and `cursor` of a list request.
fn paging(query: &[(String, String)]) -> Result<(usize, Option<String>), ApiError> {
    let mut limit = DEFAULT_LIMIT;
    let mut cursor = None;
    for (k, v) in query {
        match k.as_str() {
            "limit" => {
                limit = v
                    .trim()
                    .parse::<usize>()
                    .ok()
                    .filter(|l| (1..=MAX_LIMIT).contains(l))
                    .ok_or_else(|| {
                        ApiError::invalid(format!(
                            "limit: must be an integer between 1 and {MAX_LIMIT}"
                        ))
                    })?;
            }
            "cursor" if !v.trim().is_empty() => cursor = Some(v.trim().to_string()),
            _ => {}
        }
    }
    Ok((limit, cursor))
}

fn parse_body(body: &Bytes) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(ApiError::invalid("Expected a JSON object")),
        Err(_) => Err(ApiError::invalid("Invalid JSON body")),
    }
}

fn check_dialect(body: &Map<String, Value>) -> Result<&str, ApiError> {
    match body.get("dialect").and_then(Value::as_str) {
        Some(d) if DIALECTS.contains(&d) => Ok(d),
        Some(d) => Err(ApiError::invalid(format!(
            "dialect: Invalid enum value. Expected {}, received '{d}'",
            DIALECTS
                .iter()
                .map(|d| format!("'{d}'"))
                .collect::<Vec<_>>()
                .join(" | ")
        ))),
        None => Err(ApiError::invalid("dialect: Required")),
    }
}

/// Check the types of the connection fields present in a body.
fn check_connection_fields(body: &Map<String, Value>) -> Result<(), ApiError> {
    for key in CONNECTION_FIELDS {
        let Some(v) = body.get(key) else { continue };
        let ok = match key {
            "port" | "sshPort" => v.is_null() || v.as_u64().is_some_and(|p| p <= 65_535),
            "sslEnabled" | "sslCustomCertificatesEnabled" | "sshEnabled" => {
                v.is_null() || v.is_boolean()
            }
            _ => v.is_null() || v.is_string(),
        };
        if !ok {
            return Err(ApiError::invalid(match key {
                "port" | "sshPort" => format!("{key}: must be an integer between 0 and 65535"),
                "sslEnabled" | "sslCustomCertificatesEnabled" | "sshEnabled" => {
                    format!("{key}: Expected boolean")
                }
                _ => format!("{key}: Expected string"),
            }));
        }
    }
    Ok(())
}

fn non_empty_str<'a>(body: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>, ApiError> {
    match body.get(key) {
        None => Ok(None),
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s)),
        Some(_) => Err(ApiError::invalid(format!(
            "{key}: String must contain at least 1 character(s)"
        ))),
    }
}

// ---------------------------------------------------------------------------------------------
// Handlers: organizations
// ---------------------------------------------------------------------------------------------

/// The first `limit` of `items` (already past the cursor, live only), and whether more follow.
fn page_after(mut items: impl Iterator<Item = usize>, limit: usize) -> (Vec<usize>, bool) {
    let mut out = Vec::with_capacity(limit.min(MAX_LIMIT));
    for t in items.by_ref() {
        out.push(t);
        if out.len() == limit {
            break;
        }
    }
    let more = out.len() == limit && items.next().is_some();
    (out, more)
}

fn list_body(items: Vec<Value>, more: bool) -> Response {
    let next = if more {
        items
            .last()
            .and_then(|v| v.get("id"))
            .cloned()
            .unwrap_or(Value::Null)
    } else {
        Value::Null
    };
    json_response(
        StatusCode::OK,
        &json!({"data": items, "pagination": {"nextCursor": next, "hasMore": more}}),
    )
}

async fn list_organizations(
    AxState(shared): AxState<Arc<Shared>>,
    Query(query): Query<Vec<(String, String)>>,
) -> ApiResult {
    let (limit, cursor) = paging(&query)?;
    let st = lock(&shared);
    let limit = st.page_cap.map_or(limit, |c| limit.min(c));
    let start = match cursor {
        None => 0,
        Some(c) => st
            .org_index(&c)
            .map(|i| i + 1)
            .ok_or_else(|| ApiError::invalid("cursor: Invalid cursor"))?,
    };
    let (page, more) = page_after((0..st.orgs.len()).skip(start), limit);
    let items = page.iter().map(|&o| st.orgs[o].value.clone()).collect();
    Ok(list_body(items, more))
}

async fn get_organization(
    AxState(shared): AxState<Arc<Shared>>,
    Path(org): Path<String>,
) -> ApiResult {
    let st = lock(&shared);
    let o = st
        .org_index(&org)
        .ok_or_else(|| ApiError::not_found("Organization not found"))?;
    Ok(data(StatusCode::OK, st.orgs[o].value.clone()))
}

async fn create_organization(
    AxState(shared): AxState<Arc<Shared>>,
    Query(query): Query<Vec<(String, String)>>,
    body: Bytes,
) -> ApiResult {
    let body = parse_body(&body)?;
    let name = non_empty_str(&body, "name")?
        .ok_or_else(|| ApiError::invalid("name: Required"))?
        .trim()
        .to_string();
    let include_secret = query
        .iter()
        .any(|(k, v)| k == "include" && v.split(',').any(|p| p.trim() == "jwtSecret"));
    let mut st = lock(&shared);
    let mut id = random_org_id();
    while st.org_index(&id).is_some() {
        id = random_org_id();
    }
    let slug: String = name
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect::<String>()
        .split('-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    let org = json!({
        "id": id, "name": name, "slug": slug, "customAiContext": null,
        "onboardingStatus": "STARTED", "fullEmbedEnabled": false, "embedAllowedOrigins": [],
    });
    // New organizations are the newest: first in the list. Sources refer to orgs by index.
    st.orgs.insert(
        0,
        Org {
            id: Arc::from(id.as_str()),
            value: org.clone(),
            admin: true,
            sources: Vec::new(),
        },
    );
    for s in &mut st.sources {
        s.org += 1;
    }
    let mut out = org;
    if let Value::Object(m) = &mut out {
        m.insert("isBillable".into(), Value::Bool(false));
        m.insert("insightsEnabled".into(), Value::Bool(true));
        m.insert("trialEndsAt".into(), Value::Null);
        if include_secret {
            m.insert(
                "jwtSecret".into(),
                Value::from(format!("{:016x}{:016x}", random_u64(), random_u64())),
            );
        }
    }
    Ok(data(StatusCode::CREATED, out))
}

// ---------------------------------------------------------------------------------------------
// Handlers: data sources
// ---------------------------------------------------------------------------------------------

async fn list_sources(
    AxState(shared): AxState<Arc<Shared>>,
    Path(org): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
) -> ApiResult {
    let (limit, cursor) = paging(&query)?;
    let mut st = lock(&shared);
    let o = st.admin_org(&org)?;
    st.settle(Instant::now());
    let limit = st.page_cap.map_or(limit, |c| limit.min(c));
    let order = &st.orgs[o].sources;
    let start = match cursor {
        None => 0,
        Some(c) => match st.by_id.get(c.as_str()) {
            Some(&i) if st.sources[i].org == o => order.len() - st.sources[i].pos,
            _ => return Err(ApiError::invalid("cursor: Invalid cursor")),
        },
    };
    let live = order
        .iter()
        .rev()
        .skip(start)
        .copied()
        .filter(|&i| !st.sources[i].deleted);
    let (page, more) = page_after(live, limit);
    let items = page.iter().map(|&i| st.render(i)).collect();
    Ok(list_body(items, more))
}

async fn get_source(
    AxState(shared): AxState<Arc<Shared>>,
    Path((org, id)): Path<(String, String)>,
) -> ApiResult {
    let mut st = lock(&shared);
    if !st.single_get {
        return Ok(html_not_found());
    }
    let o = st
        .admin_org(&org)
        .map_err(|_| ApiError::source_not_found())?;
    st.settle(Instant::now());
    let i = st.admin_source(o, &id)?;
    Ok(data(StatusCode::OK, st.render(i)))
}

async fn delete_source(
    AxState(shared): AxState<Arc<Shared>>,
    Path((org, id)): Path<(String, String)>,
) -> ApiResult {
    let mut st = lock(&shared);
    let o = st
        .admin_org(&org)
        .map_err(|_| ApiError::source_not_found())?;
    st.settle(Instant::now());
    let i = st.admin_source(o, &id)?;
    let obj = st.render(i);
    st.sources[i].deleted = true;
    st.pending.retain(|p| p.source != i);
    Ok(data(StatusCode::OK, obj))
}

async fn create_source(
    AxState(shared): AxState<Arc<Shared>>,
    Path(org): Path<String>,
    body: Bytes,
) -> ApiResult {
    let body = parse_body(&body)?;
    match body.get("type").and_then(Value::as_str) {
        Some("direct") => {}
        Some(_) => return Err(ApiError::invalid("type: only \"direct\" is supported")),
        None => return Err(ApiError::invalid("type: Required")),
    }
    let dialect = check_dialect(&body)?.to_string();
    let name = non_empty_str(&body, "displayName")?
        .ok_or_else(|| ApiError::invalid("displayName: Required"))?
        .to_string();
    check_connection_fields(&body)?;
    let mut st = lock(&shared);
    let o = st.admin_org(&org)?;
    let now = iso_now();
    let mut m = Map::new();
    for key in FIELDS {
        m.insert(key.into(), Value::Null);
    }
    for key in CONNECTION_FIELDS {
        if let Some(v) = body.get(key) {
            m.insert(key.into(), v.clone());
        }
    }
    let description = body
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or("");
    let mutating = body
        .get("mutatingQueriesEnabled")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    for (k, v) in [
        ("displayName", Value::from(name)),
        ("description", Value::from(description)),
        ("dialect", Value::from(dialect)),
        ("lastSyncStatus", Value::from("PENDING")),
        ("lastSyncAttemptAt", Value::from(now.clone())),
        ("hasCompletedFirstSync", Value::Bool(false)),
        ("lastHealthyAt", Value::from(now.clone())),
        ("lastHealthStatus", Value::from("HEALTHY")),
        ("lastHealthCheckAttemptAt", Value::from(now.clone())),
        ("isDemo", Value::Bool(false)),
        ("isBasedashWarehouse", Value::Bool(false)),
        ("mutatingQueriesEnabled", Value::Bool(mutating)),
        ("createdAt", Value::from(now.clone())),
        ("updatedAt", Value::from(now)),
    ] {
        m.insert(k.into(), v);
    }
    let mut id = random_cuid();
    while st.by_id.contains_key(id.as_str()) {
        id = random_cuid();
    }
    m.insert("id".into(), Value::from(id.clone()));
    let i = st
        .push(Arc::from(id.as_str()), o, Held::Json(m))
        .ok_or_else(ApiError::internal)?;
    let pending = PendingSync {
        source: i,
        done_at: Instant::now() + st.sync_delay,
        failure: st.first_sync_failure.clone(),
    };
    st.pending.push(pending);
    Ok(data(StatusCode::CREATED, st.render(i)))
}

/// Secret keys a PATCH may set, each with the `unset*` flag that clears it (if any).
const SECRET_FIELDS: [(&str, Option<&str>); 7] = [
    ("password", Some("unsetPassword")),
    ("sshPassword", Some("unsetSshPassword")),
    ("sshPrivateKey", Some("unsetSshPrivateKey")),
    (
        "sshPrivateKeyPassphrase",
        Some("unsetSshPrivateKeyPassphrase"),
    ),
    ("snowflakePrivateKey", None),
    ("snowflakePrivateKeyPassphrase", None),
    ("bigQueryJsonKey", None),
];

/// A partial update: only the keys sent change; secrets are write-only (a value replaces,
/// absent keeps, `unset*: true` clears; a value and its `unset*` together are a 400);
/// `updatedAt` moves; a change of connection fields or secrets starts a new sync
/// (`lastSyncStatus` `PENDING`, [guess]). Nothing is stored on a refusal.
async fn patch_source(
    AxState(shared): AxState<Arc<Shared>>,
    Path((org, id)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    let body = parse_body(&body)?;
    let mut st = lock(&shared);
    let o = st
        .admin_org(&org)
        .map_err(|_| ApiError::source_not_found())?;
    st.settle(Instant::now());
    let i = st.admin_source(o, &id)?;
    st.patches.push((id.clone(), Value::Object(body.clone())));
    if body.contains_key("type") || body.contains_key("dialect") {
        return Err(ApiError::invalid(
            "type and dialect of a data source cannot be changed",
        ));
    }
    if st.rename_refused && body.contains_key("displayName") {
        return Err(ApiError::invalid(
            "Unrecognized key(s) in object: 'displayName'",
        ));
    }
    check_connection_fields(&body)?;
    let name = non_empty_str(&body, "displayName")?.map(str::to_string);
    let description = match body.get("description") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(ApiError::invalid("description: Expected string")),
    };
    let mutating = match body.get("mutatingQueriesEnabled") {
        None => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => {
            return Err(ApiError::invalid(
                "mutatingQueriesEnabled: Expected boolean",
            ))
        }
    };
    // (wire key, Some(new value) | None: cleared)
    let mut secrets: Vec<(&str, Option<String>)> = Vec::new();
    for (key, unset) in SECRET_FIELDS {
        let cleared = match unset.and_then(|u| body.get(u)) {
            None | Some(Value::Bool(false)) => false,
            Some(Value::Bool(true)) => true,
            Some(_) => {
                return Err(ApiError::invalid(format!(
                    "{}: Expected boolean",
                    unset.unwrap_or(key)
                )))
            }
        };
        match body.get(key) {
            None | Some(Value::Null) if cleared => secrets.push((key, None)),
            None | Some(Value::Null) => {}
            Some(Value::String(v)) if !cleared => secrets.push((key, Some(v.clone()))),
            Some(Value::String(_)) => {
                return Err(ApiError::invalid(format!(
                    "{key}: cannot be set and unset in the same request"
                )))
            }
            Some(_) => return Err(ApiError::invalid(format!("{key}: Expected string"))),
        }
    }
    let resync = !secrets.is_empty() || CONNECTION_FIELDS.iter().any(|k| body.contains_key(*k));
    if !secrets.is_empty() {
        let stored = st.secrets.entry(id.clone()).or_default();
        for (key, v) in secrets {
            match v {
                Some(v) => stored.insert(key.to_string(), v),
                None => stored.remove(key),
            };
        }
    }
    st.edit(&id, |m| {
        for key in CONNECTION_FIELDS {
            if let Some(v) = body.get(key) {
                m.insert(key.into(), v.clone());
            }
        }
        if let Some(n) = name {
            m.insert("displayName".into(), Value::from(n));
        }
        if let Some(d) = description {
            m.insert("description".into(), Value::from(d));
        }
        if let Some(b) = mutating {
            m.insert("mutatingQueriesEnabled".into(), Value::Bool(b));
        }
        if resync {
            m.insert("lastSyncStatus".into(), Value::from("PENDING"));
        }
    });
    if resync {
        let pending = PendingSync {
            source: i,
            done_at: Instant::now() + st.sync_delay,
            failure: None,
        };
        st.pending.push(pending);
    }
    Ok(data(StatusCode::OK, st.render(i)))
}

/// Verify tests connection fields without saving. The simulator also finds the stored
/// sources of the organization whose fields the body repeats (every connection field the
/// body sends, `dialect` included) and records the result as their health check
/// (`lastHealthStatus`, `lastHealthCheckAttemptAt`, `lastHealthyAt`), so a reload shows it.
async fn verify_source(
    AxState(shared): AxState<Arc<Shared>>,
    Path(org): Path<String>,
    body: Bytes,
) -> ApiResult {
    let body = parse_body(&body)?;
    check_dialect(&body)?;
    check_connection_fields(&body)?;
    let mut st = lock(&shared);
    let o = st.admin_org(&org)?;
    st.settle(Instant::now());
    let matching: Vec<String> = st.orgs[o]
        .sources
        .iter()
        .filter(|&&i| !st.sources[i].deleted)
        .filter(|&&i| {
            let v = st.render(i);
            body.iter()
                .filter(|(k, _)| CONNECTION_FIELDS.contains(&k.as_str()) || *k == "dialect")
                .all(|(k, want)| v.get(k) == Some(want))
        })
        .map(|&i| st.sources[i].id.to_string())
        .collect();
    let failure = st.verify_failure.clone().or_else(|| {
        matching
            .iter()
            .find_map(|id| st.verify_failures.get(id).cloned())
    });
    for id in &matching {
        let now = iso_now();
        let healthy = failure.is_none();
        st.edit(id, |m| {
            m.insert("lastHealthCheckAttemptAt".into(), Value::from(now.clone()));
            if healthy {
                m.insert("lastHealthStatus".into(), Value::from("HEALTHY"));
                m.insert("lastHealthyAt".into(), Value::from(now.clone()));
            } else {
                m.insert("lastHealthStatus".into(), Value::from("UNHEALTHY"));
            }
        });
    }
    match failure {
        None => Ok(data(StatusCode::OK, json!({"success": true}))),
        Some(fields) => {
            let errors: Map<String, Value> = fields
                .iter()
                .map(|(k, v)| (k.clone(), Value::from(v.clone())))
                .collect();
            if st.verify_failure_as_200 {
                return Ok(data(
                    StatusCode::OK,
                    json!({"success": false, "fieldErrors": errors}),
                ));
            }
            let mut e = ApiError::invalid("Could not connect to the database");
            e.extra.insert("fieldErrors".into(), Value::Object(errors));
            Err(e)
        }
    }
}

fn access_policy(st: &SimState, id: &str) -> Value {
    st.access
        .get(id)
        .cloned()
        .unwrap_or_else(|| json!({"dataSourceId": id, "groupIds": [], "memberIds": []}))
}

async fn get_access(
    AxState(shared): AxState<Arc<Shared>>,
    Path((org, id)): Path<(String, String)>,
) -> ApiResult {
    let st = lock(&shared);
    let o = st
        .admin_org(&org)
        .map_err(|_| ApiError::source_not_found())?;
    st.admin_source(o, &id)?;
    Ok(data(StatusCode::OK, access_policy(&st, &id)))
}

fn id_list(body: &Map<String, Value>, key: &str) -> Result<Vec<Value>, ApiError> {
    match body.get(key) {
        None => Ok(Vec::new()),
        Some(Value::Array(a)) if a.iter().all(Value::is_string) => Ok(a.clone()),
        Some(_) => Err(ApiError::invalid(format!(
            "{key}: Expected array of strings"
        ))),
    }
}

async fn put_access(
    AxState(shared): AxState<Arc<Shared>>,
    Path((org, id)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    let body = parse_body(&body)?;
    let (groups, members) = match body.get("mode").and_then(Value::as_str) {
        Some("everyone") => (Vec::new(), Vec::new()),
        Some("restricted") => (id_list(&body, "groupIds")?, id_list(&body, "memberIds")?),
        _ => {
            return Err(ApiError::invalid(
                "mode: Expected 'everyone' | 'restricted'",
            ))
        }
    };
    let mut st = lock(&shared);
    let o = st
        .admin_org(&org)
        .map_err(|_| ApiError::source_not_found())?;
    st.admin_source(o, &id)?;
    let policy = json!({"dataSourceId": id, "groupIds": groups, "memberIds": members});
    st.access.insert(id, policy.clone());
    Ok(data(StatusCode::OK, policy))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::Client;

    async fn sim() -> BasedashSim {
        start(&SimOptions::default())
            .await
            .expect("simulator starts")
    }

    fn url(sim: &BasedashSim, path: &str) -> String {
        format!("{}{API}{path}", sim.base_url)
    }

    async fn call(
        method: reqwest::Method,
        sim: &BasedashSim,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = Client::new()
            .request(method, url(sim, path))
            .bearer_auth(DEMO_TOKEN);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn get(sim: &BasedashSim, path: &str) -> (u16, Value) {
        call(reqwest::Method::GET, sim, path, None).await
    }

    fn acme(sim: &BasedashSim) -> String {
        sim.control.org_ids()[1].clone()
    }

    #[test]
    fn seed_has_two_orgs_and_a_realistic_mix() {
        let st = SimState::from_seed(&SimOptions::default()).expect("seed");
        assert_eq!(st.orgs.len(), 2);
        assert!(st.sources.len() >= 12, "{}", st.sources.len());
        let all: Vec<Value> = (0..st.sources.len()).map(|i| st.render(i)).collect();
        let count = |f: &dyn Fn(&Value) -> bool| all.iter().filter(|v| f(v)).count();
        assert!(count(&|v| v["lastHealthStatus"] == "UNHEALTHY") >= 3);
        assert!(
            count(&|v| v["lastSyncStatus"] == "FAILED" && v["syncErrorMessage"].is_string()) >= 3
        );
        assert!(count(&|v| v["lastSyncStatus"].is_null()) >= 1);
        assert!(count(&|v| v["lastSyncStatus"] == "NEVER_SYNCED") >= 1);
        assert!(
            count(&|v| v["lastSyncStatus"] == "SUCCESS" && v["lastHealthStatus"] == "HEALTHY") >= 4
        );
        let dialects: HashSet<&str> = all.iter().filter_map(|v| v["dialect"].as_str()).collect();
        assert!(dialects.len() >= 8, "{dialects:?}");
        for v in &all {
            let m = v.as_object().expect("object");
            assert_eq!(m.len(), 35, "{v}");
            assert!(FIELDS.iter().all(|f| m.contains_key(*f)));
            assert!(!m.contains_key("password"));
        }
        // Every organization has sources, newest first in list order.
        for o in 0..st.orgs.len() {
            assert!(st.live_ids(o).len() >= 5);
        }
    }

    #[test]
    fn seed_times_are_shifted_to_now() {
        let st = SimState::from_seed(&SimOptions::default()).expect("seed");
        let now = chrono::Utc::now().timestamp_millis();
        for i in 0..st.sources.len() {
            let v = st.render(i);
            for key in DATE_FIELDS {
                if let Some(ms) = v[key].as_str().and_then(parse_ms) {
                    assert!(ms <= now + 1000, "{key} of {} is in the future", v["id"]);
                    assert!(now - ms < 500 * 86_400_000, "{key} too old");
                }
            }
        }
    }

    #[test]
    fn generated_ids_are_stable_cuid_like_and_unique() {
        assert_eq!(generated_id(7), generated_id(7));
        let ids: HashSet<String> = (0..10_000).map(generated_id).collect();
        assert_eq!(ids.len(), 10_000);
        let c = random_cuid();
        assert_eq!(c.len(), 25);
        assert!(c.starts_with('c'));
        assert!(c.bytes().all(|b| ID_ALPHABET.contains(&b)));
        assert!(DEMO_TOKEN.starts_with("bd_key_"));
        assert_eq!(DEMO_TOKEN.len(), "bd_key_".len() + 32);
    }

    #[tokio::test]
    async fn requires_a_bearer_key() {
        let sim = sim().await;
        let resp = Client::new()
            .get(url(&sim, "/organizations"))
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status().as_u16(), 401);
        let body: Value = resp.json().await.expect("json");
        assert_eq!(
            body,
            json!({"error":{"title":"Unauthorized","detail":"Missing or invalid API key"}})
        );
        let resp = Client::new()
            .get(url(&sim, "/organizations"))
            .bearer_auth("bd_key_wrong")
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status().as_u16(), 401);
    }

    #[tokio::test]
    async fn lists_page_with_cursor_and_validate_limit() {
        let sim = sim().await;
        let org = acme(&sim);
        let want = sim.control.ids_in(&org);
        let mut got = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("/organizations/{org}/data-sources?limit=3&cursor={c}"),
                None => format!("/organizations/{org}/data-sources?limit=3"),
            };
            let (status, body) = get(&sim, &path).await;
            assert_eq!(status, 200, "{body}");
            let items = body["data"].as_array().expect("data");
            assert!(items.len() <= 3);
            got.extend(
                items
                    .iter()
                    .map(|v| v["id"].as_str().unwrap_or("").to_string()),
            );
            if body["pagination"]["hasMore"] == json!(true) {
                assert_eq!(
                    body["pagination"]["nextCursor"],
                    items[items.len() - 1]["id"]
                );
                cursor = body["pagination"]["nextCursor"]
                    .as_str()
                    .map(str::to_string);
            } else {
                assert!(body["pagination"]["nextCursor"].is_null());
                break;
            }
        }
        assert_eq!(got, want);
        // Newest first.
        let (_, body) = get(&sim, &format!("/organizations/{org}/data-sources")).await;
        let created: Vec<i64> = body["data"]
            .as_array()
            .expect("data")
            .iter()
            .filter_map(|v| v["createdAt"].as_str().and_then(parse_ms))
            .collect();
        assert!(created.windows(2).all(|w| w[0] >= w[1]), "{created:?}");

        for bad in ["0", "101", "ten"] {
            let (status, body) = get(
                &sim,
                &format!("/organizations/{org}/data-sources?limit={bad}"),
            )
            .await;
            assert_eq!(status, 400);
            assert_eq!(body["error"]["title"], "ValidationError");
        }
        let (status, _) = get(
            &sim,
            &format!("/organizations/{org}/data-sources?cursor=nope"),
        )
        .await;
        assert_eq!(status, 400);
    }

    #[tokio::test]
    async fn soft_delete_returns_the_object_then_hides_it() {
        let sim = sim().await;
        let org = acme(&sim);
        let id = sim.control.ids_in(&org)[0].clone();
        let path = format!("/organizations/{org}/data-sources/{id}");
        let (status, body) = call(reqwest::Method::DELETE, &sim, &path, None).await;
        assert_eq!(status, 200);
        assert_eq!(body["data"]["id"], json!(id));
        assert_eq!(body["data"].as_object().map(Map::len), Some(35));
        assert!(sim.control.is_soft_deleted(&id));
        assert!(!sim.control.contains(&id));
        let (status, body) = get(&sim, &path).await;
        assert_eq!(status, 404);
        assert_eq!(
            body,
            json!({"error":{"title":"NotFound","detail":"Data source not found or no admin access"}})
        );
        let (status, _) = call(reqwest::Method::DELETE, &sim, &path, None).await;
        assert_eq!(status, 404);
        let (_, list) = get(
            &sim,
            &format!("/organizations/{org}/data-sources?limit=100"),
        )
        .await;
        assert!(list["data"]
            .as_array()
            .expect("data")
            .iter()
            .all(|v| v["id"] != json!(id)));
        // A cursor pointing at the deleted source still works.
        let (status, _) = get(
            &sim,
            &format!("/organizations/{org}/data-sources?limit=2&cursor={id}"),
        )
        .await;
        assert_eq!(status, 200);
    }

    #[tokio::test]
    async fn non_admins_get_404_and_other_orgs_sources_are_not_found() {
        let sim = sim().await;
        let orgs = sim.control.org_ids();
        let id = sim.control.ids_in(&orgs[0])[0].clone();
        // Right id, wrong organization.
        let (status, _) = get(
            &sim,
            &format!("/organizations/{}/data-sources/{id}", orgs[1]),
        )
        .await;
        assert_eq!(status, 404);
        assert!(sim.control.set_admin(&orgs[0], false));
        let (status, body) = get(&sim, &format!("/organizations/{}/data-sources", orgs[0])).await;
        assert_eq!(status, 404, "{body}");
        let (status, _) = call(
            reqwest::Method::DELETE,
            &sim,
            &format!("/organizations/{}/data-sources/{id}", orgs[0]),
            None,
        )
        .await;
        assert_eq!(status, 404);
        assert!(sim.control.contains(&id));
        // Membership still shows the organization itself.
        let (status, _) = get(&sim, &format!("/organizations/{}", orgs[0])).await;
        assert_eq!(status, 200);
    }

    #[tokio::test]
    async fn faults_and_rate_limits_use_the_documented_bodies() {
        let sim = sim().await;
        sim.control.fail_next(
            1,
            SimFault::RateLimited {
                retry_after_ms: 1200,
                retry_after_header: Some(2),
            },
        );
        let resp = Client::new()
            .get(url(&sim, "/organizations"))
            .bearer_auth(DEMO_TOKEN)
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status().as_u16(), 429);
        assert_eq!(
            resp.headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()),
            Some("2")
        );
        let body: Value = resp.json().await.expect("json");
        assert_eq!(
            body,
            json!({"error":{"title":"RateLimitExceeded","detail":"Too many requests","retryAfterMs":1200}})
        );
        sim.control.fail_next(1, SimFault::BadGatewayHtml);
        let (status, body) = get(&sim, "/organizations").await;
        assert_eq!(status, 502);
        assert!(body
            .as_str()
            .is_some_and(|s| s.contains("<title>502 Bad Gateway</title>")));
        assert_eq!(sim.control.pending_faults(), 0);

        sim.control.set_rate_limit(Some(2));
        assert_eq!(get(&sim, "/organizations").await.0, 200);
        assert_eq!(get(&sim, "/organizations").await.0, 200);
        let (status, body) = get(&sim, "/organizations").await;
        assert_eq!(status, 429);
        let ms = body["error"]["retryAfterMs"]
            .as_u64()
            .expect("retryAfterMs");
        assert!(ms > 0 && ms <= 60_000, "{ms}");
        let log = sim.control.requests();
        assert_eq!(log.len(), 5);
        assert_eq!(log[4].status, 429);
    }

    #[tokio::test]
    async fn create_validates_then_syncs_after_the_delay() {
        let sim = sim().await;
        let org = acme(&sim);
        let path = format!("/organizations/{org}/data-sources");
        let (status, body) = call(
            reqwest::Method::POST,
            &sim,
            &path,
            Some(json!({"type":"direct","dialect":"MONGODB","displayName":"x"})),
        )
        .await;
        assert_eq!(status, 400);
        assert_eq!(body["error"]["title"], "ValidationError");
        let (status, _) = call(
            reqwest::Method::POST,
            &sim,
            &path,
            Some(json!({"type":"bridge","dialect":"POSTGRES","displayName":"x"})),
        )
        .await;
        assert_eq!(status, 400);

        sim.control.set_sync_delay(Duration::ZERO);
        sim.control
            .set_first_sync_failure(Some("connect ECONNREFUSED 10.0.0.5:5432"));
        let (status, body) = call(
            reqwest::Method::POST,
            &sim,
            &path,
            Some(
                json!({"type":"direct","dialect":"POSTGRES","displayName":"New PG",
                "host":"db.example.com","port":5432,"password":"s3cret","databaseName":"app"}),
            ),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        let d = &body["data"];
        assert_eq!(d["lastSyncStatus"], "PENDING");
        assert_eq!(d["hasCompletedFirstSync"], json!(false));
        assert_eq!(d.as_object().map(Map::len), Some(35));
        assert!(!body.to_string().contains("s3cret"));
        let id = d["id"].as_str().expect("id").to_string();
        assert_eq!(sim.control.ids_in(&org)[0], id, "newest first");
        let (_, body) = get(&sim, &format!("{path}/{id}")).await;
        assert_eq!(body["data"]["lastSyncStatus"], "FAILED");
        assert_eq!(
            body["data"]["syncErrorMessage"],
            "connect ECONNREFUSED 10.0.0.5:5432"
        );
    }

    #[tokio::test]
    async fn patch_verify_and_access() {
        let sim = sim().await;
        let org = acme(&sim);
        let id = sim.control.ids_in(&org)[1].clone();
        let path = format!("/organizations/{org}/data-sources/{id}");
        let (status, body) = call(
            reqwest::Method::PATCH,
            &sim,
            &path,
            Some(json!({"displayName":"Renamed","port":6543,"unsetPassword":true})),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(body["data"]["displayName"], "Renamed");
        assert_eq!(body["data"]["port"], 6543);
        let (status, _) = call(
            reqwest::Method::PATCH,
            &sim,
            &path,
            Some(json!({"dialect":"MYSQL"})),
        )
        .await;
        assert_eq!(status, 400);

        let verify = format!("/organizations/{org}/data-sources/verify");
        let (status, body) = call(
            reqwest::Method::POST,
            &sim,
            &verify,
            Some(json!({"dialect":"POSTGRES","host":"h"})),
        )
        .await;
        assert_eq!((status, body), (200, json!({"data":{"success":true}})));
        sim.control
            .set_verify_failure(Some(&[("host", "Host not found")]));
        let (status, body) = call(
            reqwest::Method::POST,
            &sim,
            &verify,
            Some(json!({"dialect":"POSTGRES","host":"h"})),
        )
        .await;
        assert_eq!(status, 400);
        assert_eq!(body["error"]["fieldErrors"]["host"], "Host not found");

        let access = format!("{path}/access");
        let (status, body) = call(
            reqwest::Method::PUT,
            &sim,
            &access,
            Some(json!({"mode":"restricted","groupIds":["grp_1"],"memberIds":[]})),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(body["data"]["groupIds"], json!(["grp_1"]));
        let (_, body) = get(&sim, &access).await;
        assert_eq!(body["data"]["dataSourceId"], json!(id));
        assert_eq!(body["data"]["groupIds"], json!(["grp_1"]));
    }

    #[tokio::test]
    async fn unknown_routes_and_disabled_single_get_are_html_404s() {
        let sim = sim().await;
        let org = acme(&sim);
        let id = sim.control.ids_in(&org)[0].clone();
        let (status, body) = get(&sim, "/nothing-here").await;
        assert_eq!(status, 404);
        assert!(body
            .as_str()
            .is_some_and(|s| s.contains("could not be found")));
        sim.control.set_single_get(false);
        let (status, body) = get(&sim, &format!("/organizations/{org}/data-sources/{id}")).await;
        assert_eq!(status, 404);
        assert!(body.is_string(), "{body}");
        let (status, body) = call(
            reqwest::Method::PUT,
            &sim,
            &format!("/organizations/{org}/data-sources"),
            None,
        )
        .await;
        assert_eq!(status, 405);
        assert_eq!(body["error"]["title"], "MethodNotAllowed");
    }

    #[tokio::test]
    async fn scale_generates_sources_across_both_orgs() {
        let sim = start(&SimOptions {
            scale: 1000,
            ..SimOptions::default()
        })
        .await
        .expect("simulator starts");
        let ids = sim.control.ids();
        assert_eq!(ids.len(), 1000);
        assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 1000);
        for org in sim.control.org_ids() {
            assert!(sim.control.ids_in(&org).len() >= 450);
        }
        let generated = ids.iter().find(|i| i.starts_with("cg")).expect("generated");
        let v = sim.control.object(generated).expect("object");
        assert_eq!(v.as_object().map(Map::len), Some(35));
        assert!(v["displayName"]
            .as_str()
            .is_some_and(|n| n.starts_with("Generated Source")));
        // Health controls work on generated sources too.
        assert!(sim.control.set_health(generated, false));
        assert_eq!(
            sim.control.object(generated).expect("object")["lastHealthStatus"],
            "UNHEALTHY"
        );
    }
}
