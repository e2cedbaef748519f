//! Simulated Qlik Cloud REST API: data connections (cursor-paged list, get and delete by id
//! or by name within a space, create, JSON-Patch, bulk delete with 207 multi-status, owner
//! transfer and move to another space through `actions/update`, 207 per item), spaces and users
//! (by id, or listed with a SCIM-like `filter`), with bearer API keys of an admin and a
//! non-admin user.
//!
//! Objects are held in Qlik's wire format (seeded from `assets/qlik.json`, generated on demand
//! when a scale is requested), never as the client's types. The server reproduces what a
//! client has to cope with: absolute `links.next.href` on its own origin with an opaque `page`
//! cursor, `limit` capped at 100, built-in DataFiles connections listed last and never
//! deletable, personal connections visible to their owner only, connections of a disabled
//! datasource (`disabledDatasources` in the seed) listed only with `includeDisabled=true`
//! but reachable by id, names unique per space
//! (409), `{errors:[...]}` bodies with the status as an integer (data-connections) or a
//! string (gateway), per-user rate limits per tier answered with 429 + `retry-after` that
//! block the whole tier, and fault switches (429 storms, 5xx, HTML pages, truncated bodies).
//!
//! Impact analysis: connections carry a `qri` (lists only with `includeQris=true`, get-one
//! always); `/api/v1/lineage-graphs/impact/{qri}/overview|source|actions/expand|actions/search`
//! answer from a graph configured per base QRI (`lineage` in the seed, `set_lineage`), take
//! the QRI percent-encoded or raw, answer 403 to non-admin keys and to connections marked
//! forbidden, 404 to unknown QRIs and connections marked missing, and sit behind their own
//! rate window (20 per minute, 429 + `retry-after`). App items (`apps` in the seed) are listed
//! by `GET /api/v1/items` (`resourceType`, `spaceId`, `ownerId`, `limit`, `next` cursor).
//!
//! OAuth machine-to-machine: `POST /oauth/token` (JSON or form body, `grant_type`
//! `client_credentials`) issues random bearer tokens for the configured client
//! (`DEMO_CLIENT_ID` / `DEMO_CLIENT_SECRET` unless `set_oauth_client` says otherwise) that
//! expire after `set_token_ttl` (an hour by default) or `expire_tokens`; the API routes answer
//! 401 to an expired or unknown token. The client acts as the tenant admin.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, HashSet};
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State as AxState};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use serde_json::{json, Map, Value};

use super::qlik_lineage as lin;
pub use super::qlik_lineage::{LineageAnswer, LineageNode};
use super::{kit, SimOptions};

/// API key of the tenant admin (Ava Lindqvist): sees every space, may bulk delete.
pub const DEMO_TOKEN: &str = "qlik-demo-admin-api-key";
/// API key of a regular user (Noah Brennan): sees his spaces and personal connections only;
/// the bulk endpoints answer him 403.
pub const NON_ADMIN_TOKEN: &str = "qlik-demo-analyst-api-key";
/// OAuth client (client-credentials grant) the simulator accepts unless told otherwise; its
/// tokens act as the tenant admin.
pub const DEMO_CLIENT_ID: &str = "qlik-demo-m2m-client";
/// Secret of `DEMO_CLIENT_ID`.
pub const DEMO_CLIENT_SECRET: &str = "qlik-demo-m2m-secret";
/// Lifetime of an issued OAuth access token unless `set_token_ttl` says otherwise.
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(3600);
/// User id behind `DEMO_TOKEN`.
pub const ADMIN_USER_ID: &str = "6422bbf043af68ebe8abbb71";
/// User id behind `NON_ADMIN_TOKEN`.
pub const NON_ADMIN_USER_ID: &str = "6422bc1a43af68ebe8abbc02";
/// Default tier 1 limit (reads) per user, requests per minute.
pub const DEFAULT_READS_PER_MINUTE: u32 = 1000;
/// Default tier 2 limit (writes) per user, requests per minute.
pub const DEFAULT_WRITES_PER_MINUTE: u32 = 100;
/// Default window over which the limits are evaluated (Qlik: five minutes, bursts allowed).
pub const DEFAULT_RATE_WINDOW: Duration = Duration::from_secs(300);
/// Default limit of the lineage routes per user: requests per `DEFAULT_LINEAGE_WINDOW`.
pub const DEFAULT_LINEAGE_LIMIT: u32 = 20;
/// The lineage routes' own window (Qlik: "Special (20 requests per minute)").
pub const DEFAULT_LINEAGE_WINDOW: Duration = Duration::from_secs(60);
/// Largest `limit` the list endpoints accept.
pub const MAX_LIMIT: usize = 100;

const SEED: &str = include_str!("../../assets/qlik.json");
const JSON_CONTENT_TYPE: &str = "application/json; charset=utf-8";
const CONNECTIONS_PATH: &str = "/api/v1/data-connections";
const SPACES_PATH: &str = "/api/v1/spaces";
const ITEMS_PATH: &str = "/api/v1/items";
const OAUTH_TOKEN_PATH: &str = "/oauth/token";
/// Default page size of the items list.
const ITEMS_DEFAULT_LIMIT: usize = 10;
/// The request log keeps the most recent requests only.
const MAX_LOGGED_REQUESTS: usize = 1_000_000;
/// Upper bound on generated connections, so a mistyped scale cannot exhaust memory.
const MAX_SCALE: usize = 2_000_000;
/// Default page size of the spaces list.
const SPACES_DEFAULT_LIMIT: usize = 10;
/// Default page size of a data-connections request that sends a cursor but no limit.
const CONNECTIONS_DEFAULT_LIMIT: usize = 20;
const MAX_TAGS: usize = 32;
const DATAFILES_TYPE: &str = "qix-datafiles.exe";

// ---------------------------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------------------------

/// A running Qlik Cloud simulator.
#[derive(Debug)]
pub struct QlikSim {
    /// `http://127.0.0.1:PORT`: the tenant URL a profile's `base_url` holds.
    pub base_url: String,
    /// Knobs and inspection of the simulator's state.
    pub control: QlikControl,
}

impl QlikSim {
    /// Stop serving: the listener closes once in-flight requests have finished.
    pub fn shutdown(&self) {
        self.control.shutdown();
    }
}

/// One request the simulator answered.
pub type SimRequest = kit::SimRequest;

/// A failure the simulator can be told to produce instead of answering normally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// 429 with `retry-after: N` and Qlik's `HTTP-429` body.
    RateLimited { retry_after_secs: u64 },
    /// This status with a JSON `{errors:[...]}` body.
    Status(u16),
    /// This status with an HTML page, as a proxy in front of the tenant would send.
    Html(u16),
    /// This status with an empty body.
    Empty(u16),
    /// 200 with a JSON body cut off in the middle.
    Truncated,
}

/// Cloneable handle to the simulator's state. The server runs while any handle is alive.
/// Derefs to the kit's control core: `requests`, `clear_requests`, `set_latency` and the
/// shared fault layer `faults` (which runs after authentication and rate limiting;
/// `inject` / `fail_next` are the older, Qlik-shaped switches and fire first).
#[derive(Clone)]
pub struct QlikControl {
    shared: Arc<Shared>,
    core: kit::Control,
}

kit::control_handle!(QlikControl, kit::Control);

impl QlikControl {
    /// Ids (`qID`) of every stored data connection, DataFiles included, in creation order,
    /// whoever may see them.
    pub fn ids(&self) -> Vec<String> {
        lock(&self.shared)
            .conns
            .entries()
            .map(|c| c.id.to_string())
            .collect()
    }

    /// Whether a data connection with this id is stored.
    pub fn contains(&self, id: &str) -> bool {
        lock(&self.shared).conns.by_id.contains_key(id)
    }

    /// The connection as the admin (`DEMO_TOKEN`) gets it in a list without `includeQris`.
    pub fn object(&self, id: &str) -> Option<Value> {
        let st = lock(&self.shared);
        let c = st.conns.get(id)?;
        let caller = st.caller_of_user(ADMIN_USER_ID)?;
        Some(st.render(c, &caller, Render::List { qri: false }))
    }

    /// Ids of the connections `token` would list with `includeDisabled=true` and no other
    /// filter (DataFiles and connections of disabled datasources included).
    pub fn visible_ids(&self, token: &str) -> Vec<String> {
        let st = lock(&self.shared);
        let Some(caller) = st.caller_of_token(token) else {
            return Vec::new();
        };
        st.conns
            .entries()
            .filter(|c| st.visible(c, &caller))
            .map(|c| c.id.to_string())
            .collect()
    }

    /// Answer the next `times` requests under `/api/` matching `method` (any when `None`) and
    /// starting with `path_prefix` with `fault` instead. Rules are tried in the order given.
    pub fn inject(&self, fault: Fault, method: Option<&str>, path_prefix: &str, times: usize) {
        lock(&self.shared)
            .faults
            .push(method, path_prefix, fault, times);
    }

    /// Answer the next `times` API requests, whatever they are, with `fault`.
    pub fn fail_next(&self, times: usize, fault: Fault) {
        self.inject(fault, None, "/api/", times);
    }

    /// Drop every pending fault.
    pub fn clear_faults(&self) {
        lock(&self.shared).faults.clear();
    }

    /// The OAuth client `POST /oauth/token` accepts from now on (`DEMO_CLIENT_ID` /
    /// `DEMO_CLIENT_SECRET` at start). Tokens issued already stay valid.
    pub fn set_oauth_client(&self, client_id: &str, client_secret: &str) {
        lock(&self.shared).oauth.client = Some((client_id.into(), client_secret.into()));
    }

    /// Refuse every OAuth client from now on.
    pub fn clear_oauth_client(&self) {
        lock(&self.shared).oauth.client = None;
    }

    /// Lifetime of the OAuth access tokens issued from now on (`expires_in`, whole seconds;
    /// an hour at start).
    pub fn set_token_ttl(&self, ttl: Duration) {
        lock(&self.shared).oauth.ttl = ttl;
    }

    /// Every OAuth access token issued so far expires now: the API answers 401 to it.
    pub fn expire_tokens(&self) {
        let now = Instant::now();
        for expires in lock(&self.shared).oauth.issued.values_mut() {
            *expires = now;
        }
    }

    /// `POST /oauth/token` requests so far, whatever their answer.
    pub fn token_requests(&self) -> usize {
        lock(&self.shared).oauth.requests
    }

    /// OAuth access tokens issued so far.
    pub fn tokens_issued(&self) -> usize {
        lock(&self.shared).oauth.granted
    }

    /// Every OAuth access token issued so far (alive or expired).
    pub fn issued_tokens(&self) -> Vec<String> {
        lock(&self.shared).oauth.issued.keys().cloned().collect()
    }

    /// Tier 2 (writes: POST, PATCH, PUT, DELETE) limit per user, requests per minute;
    /// 0 turns the limit off.
    pub fn set_write_limit(&self, per_minute: u32) {
        let mut st = lock(&self.shared);
        st.limits.writes_per_minute = per_minute;
        st.windows.clear();
    }

    /// Tier 1 (reads) limit per user, requests per minute; 0 turns the limit off.
    pub fn set_read_limit(&self, per_minute: u32) {
        let mut st = lock(&self.shared);
        st.limits.reads_per_minute = per_minute;
        st.windows.clear();
    }

    /// The window the limits are evaluated over: a user may send `per_minute * window / 1min`
    /// requests of a tier within any window.
    pub fn set_rate_window(&self, window: Duration) {
        let mut st = lock(&self.shared);
        st.limits.window = window.max(Duration::from_secs(1));
        st.windows.clear();
    }

    /// A broken connection (credentials that cannot be decrypted) is left out of lists and
    /// reported in the list's `errors[]` instead; getting it answers 500.
    pub fn set_broken(&self, id: &str, broken: bool) {
        let mut st = lock(&self.shared);
        if broken {
            st.broken.insert(id.to_string());
        } else {
            st.broken.remove(id);
        }
    }

    /// Disable (or enable again) a datasource on the tenant: its connections are listed only
    /// with `includeDisabled=true`; get, delete and bulk delete by id still reach them.
    pub fn set_datasource_disabled(&self, datasource_id: &str, disabled: bool) {
        let mut st = lock(&self.shared);
        if disabled {
            st.disabled_datasources.insert(datasource_id.to_string());
        } else {
            st.disabled_datasources.remove(datasource_id);
        }
    }

    /// Ids of the stored connections whose datasource is disabled, in creation order.
    pub fn disabled_ids(&self) -> Vec<String> {
        let st = lock(&self.shared);
        st.conns
            .entries()
            .filter(|c| st.disabled(c))
            .map(|c| c.id.to_string())
            .collect()
    }

    /// The inline (username, password) last set on a connection by create or PATCH; never
    /// part of any answer.
    pub fn credentials(&self, id: &str) -> (Option<String>, Option<String>) {
        lock(&self.shared)
            .credentials
            .get(id)
            .cloned()
            .unwrap_or_default()
    }

    /// Every PATCH body the simulator received for a connection it found, in order:
    /// (connection id, the JSON-Patch array as sent).
    pub fn patches(&self) -> Vec<(String, Value)> {
        lock(&self.shared).patches.clone()
    }

    /// Every `actions/update` body a tenant admin sent, in order (refused items included).
    pub fn updates(&self) -> Vec<Value> {
        lock(&self.shared).updates.clone()
    }

    /// Set the inline (username, password) of a connection, as a create would have.
    pub fn set_credentials(&self, id: &str, username: Option<&str>, password: Option<&str>) {
        lock(&self.shared).credentials.insert(
            id.to_string(),
            (username.map(str::to_string), password.map(str::to_string)),
        );
    }

    /// Number of stored connections.
    pub fn connection_count(&self) -> usize {
        lock(&self.shared).conns.live
    }

    /// The connection's base QRI (what the impact routes are addressed by).
    pub fn qri_of(&self, id: &str) -> Option<String> {
        lock(&self.shared).conns.get(id).and_then(Conn::qri)
    }

    /// What the impact routes answer for this connection's QRI from now on. `false` when
    /// the connection does not exist or has no QRI (DataFiles).
    pub fn set_lineage(&self, id: &str, answer: LineageAnswer) -> bool {
        let mut st = lock(&self.shared);
        let Some(qri) = st.conns.get(id).and_then(Conn::qri) else {
            return false;
        };
        st.lineage.answers.insert(qri, answer);
        true
    }

    /// The lineage routes' limit per user: `limit` requests in any `window` (0 = off).
    pub fn set_lineage_limit(&self, limit: u32, window: Duration) {
        let mut st = lock(&self.shared);
        st.limits.lineage_limit = limit;
        st.limits.lineage_window = window.max(Duration::from_millis(100));
        st.windows.clear();
    }

    /// Send `graph.nodes` as a JSON-encoded string and `edges` as `null` (the reference
    /// page's form) instead of an object and an array.
    pub fn set_lineage_nodes_as_string(&self, on: bool) {
        lock(&self.shared).lineage.nodes_as_string = on;
    }

    /// App items of a space (`None`: personal apps), as (app id, name), in listing order.
    pub fn apps_in(&self, space: Option<&str>) -> Vec<(String, String)> {
        let st = lock(&self.shared);
        st.apps
            .iter()
            .filter(|a| str_field(a, "spaceId") == space)
            .filter_map(|a| {
                Some((
                    str_field(a, "resourceId")?.to_string(),
                    str_field(a, "name")?.to_string(),
                ))
            })
            .collect()
    }

    /// Add `n` generated apps to a space, owned by the admin; their app ids.
    pub fn add_apps(&self, space: &str, n: usize) -> Vec<String> {
        let mut st = lock(&self.shared);
        let mut ids = Vec::with_capacity(n);
        for _ in 0..n {
            let id = random_uuid();
            let now = now_time();
            let name = format!("Generated App {:04}", st.apps.len() + 1);
            st.apps.push(json!({
                "id": random_hex(24),
                "name": name,
                "resourceType": "app",
                "resourceId": id,
                "resourceSubType": "",
                "spaceId": space,
                "ownerId": ADMIN_USER_ID,
                "creatorId": ADMIN_USER_ID,
                "resourceReloadStatus": "ok",
                "createdAt": now,
                "updatedAt": now,
            }));
            ids.push(id);
        }
        ids
    }
}

/// Start the simulator on 127.0.0.1 (`opts.port`, 0 = any free port), serving in a
/// background task.
pub async fn start(opts: &SimOptions) -> std::io::Result<QlikSim> {
    let (listener, base_url) = kit::bind(opts.port).await?;
    let state = SimState::from_seed(opts, &base_url)?;
    let shared = Arc::new(Shared::new(state));
    let kit = kit::Kit::new(opts, MAX_LOGGED_REQUESTS);
    let app = router(shared.clone(), &kit);
    Ok(QlikSim {
        base_url,
        control: QlikControl {
            shared,
            core: kit.serve(listener, app, "Qlik"),
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

/// Who is calling, resolved from the API key.
#[derive(Clone, Debug)]
struct Caller {
    user: Arc<str>,
    admin: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Tier {
    Read,
    Write,
    /// The lineage routes: their own limit and window, apart from the tiers.
    Lineage,
}

struct RateLimits {
    reads_per_minute: u32,
    writes_per_minute: u32,
    window: Duration,
    /// Lineage requests per user per `lineage_window` (0 = off).
    lineage_limit: u32,
    lineage_window: Duration,
}

/// How a connection object is held: seed and created ones as their wire JSON (without the
/// per-caller fields), generated ones as their number, rendered on demand.
enum Held {
    Json(Map<String, Value>),
    Generated(u32),
}

struct Conn {
    /// Creation order; the `_id` sort key.
    seq: u64,
    id: Arc<str>,
    name: String,
    /// `None`: a personal connection of `user`.
    space: Option<Arc<str>>,
    user: Option<Arc<str>>,
    datafiles: bool,
    created: Option<String>,
    updated: Option<String>,
    body: Held,
}

impl Conn {
    /// The base QRI (DataFiles connections have none).
    fn qri(&self) -> Option<String> {
        match &self.body {
            Held::Json(m) => m
                .get("qri")
                .and_then(Value::as_str)
                .filter(|q| !q.is_empty())
                .map(str::to_string),
            Held::Generated(n) => Some(generated_qri(*n)),
        }
    }

    /// `datasourceID` (DataFiles connections have none).
    fn datasource(&self) -> Option<&str> {
        match &self.body {
            Held::Json(m) => m.get("datasourceID").and_then(Value::as_str),
            Held::Generated(n) => Some(GENERATED_TYPES[*n as usize % GENERATED_TYPES.len()].0),
        }
    }
}

/// Data connections in creation order (deleted slots stay empty), indexed by id and by
/// (scope, name).
#[derive(Default)]
struct Store {
    slots: Vec<Option<Conn>>,
    live: usize,
    by_id: HashMap<Arc<str>, usize>,
    by_name: HashMap<(String, String), usize>,
    next_seq: u64,
}

/// The scope a name must be unique in: the space, or the owner's personal space.
fn scope_key(space: Option<&str>, user: Option<&str>) -> String {
    match space {
        Some(s) => format!("space:{s}"),
        None => format!("personal:{}", user.unwrap_or("")),
    }
}

impl Store {
    fn entries(&self) -> impl Iterator<Item = &Conn> {
        self.slots.iter().flatten()
    }

    fn get(&self, id: &str) -> Option<&Conn> {
        self.by_id
            .get(id)
            .and_then(|&i| self.slots.get(i))
            .and_then(Option::as_ref)
    }

    fn get_mut(&mut self, id: &str) -> Option<&mut Conn> {
        let i = *self.by_id.get(id)?;
        self.slots.get_mut(i).and_then(Option::as_mut)
    }

    fn by_name(&self, scope: &str, name: &str) -> Option<&Conn> {
        self.by_name
            .get(&(scope.to_string(), name.to_string()))
            .and_then(|&i| self.slots.get(i))
            .and_then(Option::as_ref)
    }

    fn name_taken(&self, scope: &str, name: &str) -> bool {
        self.by_name
            .contains_key(&(scope.to_string(), name.to_string()))
    }

    fn push(&mut self, mut c: Conn) {
        c.seq = self.next_seq;
        self.next_seq += 1;
        let i = self.slots.len();
        self.by_id.insert(c.id.clone(), i);
        self.by_name.insert(
            (
                scope_key(c.space.as_deref(), c.user.as_deref()),
                c.name.clone(),
            ),
            i,
        );
        self.slots.push(Some(c));
        self.live += 1;
    }

    fn remove(&mut self, id: &str) -> bool {
        let Some(i) = self.by_id.remove(id) else {
            return false;
        };
        if let Some(c) = self.slots.get_mut(i).and_then(Option::take) {
            self.by_name
                .remove(&(scope_key(c.space.as_deref(), c.user.as_deref()), c.name));
            self.live -= 1;
        }
        true
    }

    /// Move a connection to another scope (space and owner), keeping its name.
    fn relocate(&mut self, id: &str, space: Option<Arc<str>>, user: Option<Arc<str>>) {
        let Some(&i) = self.by_id.get(id) else {
            return;
        };
        let Some(c) = self.slots.get_mut(i).and_then(Option::as_mut) else {
            return;
        };
        let old = scope_key(c.space.as_deref(), c.user.as_deref());
        self.by_name.remove(&(old, c.name.clone()));
        c.space = space;
        c.user = user;
        if let Held::Generated(n) = c.body {
            c.body = Held::Json(render_generated(c, n));
        }
        if let Held::Json(m) = &mut c.body {
            match &c.space {
                Some(s) => m.insert("space".into(), Value::from(s.as_ref())),
                None => m.remove("space"),
            };
            match &c.user {
                Some(u) => m.insert("user".into(), Value::from(u.as_ref())),
                None => m.remove("user"),
            };
        }
        let scope = scope_key(c.space.as_deref(), c.user.as_deref());
        self.by_name.insert((scope, c.name.clone()), i);
    }

    fn rename(&mut self, id: &str, new_name: &str) {
        let Some(&i) = self.by_id.get(id) else {
            return;
        };
        let Some(c) = self.slots.get_mut(i).and_then(Option::as_mut) else {
            return;
        };
        let scope = scope_key(c.space.as_deref(), c.user.as_deref());
        self.by_name.remove(&(scope.clone(), c.name.clone()));
        c.name = new_name.to_string();
        if let Held::Json(m) = &mut c.body {
            m.insert("qName".into(), Value::from(new_name));
        }
        self.by_name.insert((scope, new_name.to_string()), i);
    }
}

struct SimState {
    base_url: String,
    tenant: String,
    users: Vec<Value>,
    spaces: Vec<Value>,
    /// (space id, user id, roles)
    assignments: Vec<(String, String, Vec<String>)>,
    conns: Store,
    broken: HashSet<String>,
    /// Datasource ids (`datasourceID`) disabled on the tenant: their connections are listed
    /// only with `includeDisabled=true`, and stay reachable by id.
    disabled_datasources: HashSet<String>,
    /// App items (`/api/v1/items`), in the wire format, without `links` and `meta`.
    apps: Vec<Value>,
    /// Impact graphs by base QRI.
    lineage: lin::Lineage,
    faults: kit::FaultQueue<Fault>,
    limits: RateLimits,
    windows: kit::RateWindows<(Arc<str>, Tier)>,
    tokens: Vec<(&'static str, Arc<str>)>,
    oauth: OAuth,
    /// Inline credentials set by create or PATCH, by connection id: (username, password).
    /// Never rendered.
    credentials: HashMap<String, (Option<String>, Option<String>)>,
    /// Every PATCH body applied or refused, in order: (connection id, JSON-Patch array).
    patches: Vec<(String, Value)>,
    /// Every `actions/update` body an admin sent, in order.
    updates: Vec<Value>,
}

/// The OAuth client-credentials grant: the one client it accepts and the tokens it issued.
struct OAuth {
    /// (client id, client secret); `None`: every client is refused.
    client: Option<(String, String)>,
    /// Lifetime of the tokens it issues from now on.
    ttl: Duration,
    /// Access token -> when it expires.
    issued: HashMap<String, Instant>,
    /// `POST /oauth/token` requests, whatever their answer.
    requests: usize,
    /// Tokens issued.
    granted: usize,
}

fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn invalid_seed(message: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, message)
}

impl SimState {
    fn from_seed(opts: &SimOptions, base_url: &str) -> std::io::Result<SimState> {
        let seed: Value = serde_json::from_str(SEED)
            .map_err(|e| invalid_seed(format!("assets/qlik.json: {e}")))?;
        let array = |key: &str| -> std::io::Result<Vec<Value>> {
            seed.get(key)
                .and_then(Value::as_array)
                .cloned()
                .ok_or_else(|| invalid_seed(format!("assets/qlik.json: no '{key}' array")))
        };
        let tenant = seed
            .pointer("/tenant/id")
            .and_then(Value::as_str)
            .unwrap_or("Hj5p89bylz1r2AUC6joLNuHzVx5Ya8cF")
            .to_string();
        let users = array("users")?;
        let spaces = array("spaces")?;
        let assignments = array("assignments")?
            .iter()
            .filter_map(|a| {
                let roles = a
                    .get("roles")
                    .and_then(Value::as_array)
                    .map(|r| {
                        r.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default();
                Some((
                    str_field(a, "spaceId")?.to_string(),
                    str_field(a, "assigneeId")?.to_string(),
                    roles,
                ))
            })
            .collect();
        let mut st = SimState {
            base_url: base_url.to_string(),
            tenant,
            users,
            spaces,
            assignments,
            conns: Store::default(),
            broken: HashSet::new(),
            disabled_datasources: seed
                .get("disabledDatasources")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            apps: seed
                .get("apps")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            lineage: lin::Lineage::default(),
            faults: kit::FaultQueue::default(),
            limits: RateLimits {
                reads_per_minute: DEFAULT_READS_PER_MINUTE,
                writes_per_minute: DEFAULT_WRITES_PER_MINUTE,
                window: DEFAULT_RATE_WINDOW,
                lineage_limit: DEFAULT_LINEAGE_LIMIT,
                lineage_window: DEFAULT_LINEAGE_WINDOW,
            },
            windows: kit::RateWindows::new(kit::Window::Sliding),
            tokens: vec![
                (DEMO_TOKEN, Arc::from(ADMIN_USER_ID)),
                (NON_ADMIN_TOKEN, Arc::from(NON_ADMIN_USER_ID)),
            ],
            oauth: OAuth {
                client: Some((DEMO_CLIENT_ID.into(), DEMO_CLIENT_SECRET.into())),
                ttl: DEFAULT_TOKEN_TTL,
                issued: HashMap::new(),
                requests: 0,
                granted: 0,
            },
            credentials: HashMap::new(),
            patches: Vec::new(),
            updates: Vec::new(),
        };
        for v in array("dataConnections")? {
            let Value::Object(m) = v else {
                return Err(invalid_seed(
                    "assets/qlik.json: a data connection is not an object".into(),
                ));
            };
            let c = conn_from_map(m)
                .ok_or_else(|| invalid_seed("assets/qlik.json: a connection has no qID".into()))?;
            st.conns.push(c);
        }
        if let Some(entries) = seed.get("lineage").and_then(Value::as_array) {
            for e in entries {
                st.seed_lineage(e)?;
            }
        }
        generate(&mut st, opts.scale);
        Ok(st)
    }

    /// One `lineage` entry of the seed: `{"connection": qID, "forbidden": true}`,
    /// `{"connection": qID, "missing": true}` or `{"connection": qID, "nodes": [...]}` where a
    /// node is `{"app": appId, "level"?, "from"?}` (its label from the app item) or
    /// `{"qri", "label", "type", "subtype"?, "level"?, "from"?}`.
    fn seed_lineage(&mut self, e: &Value) -> std::io::Result<()> {
        let conn = str_field(e, "connection").unwrap_or("");
        let qri = self.conns.get(conn).and_then(Conn::qri).ok_or_else(|| {
            invalid_seed(format!(
                "assets/qlik.json: lineage of '{conn}': no such connection with a qri"
            ))
        })?;
        let flag = |k: &str| e.get(k).and_then(Value::as_bool) == Some(true);
        let answer = if flag("forbidden") {
            LineageAnswer::Forbidden
        } else if flag("missing") {
            LineageAnswer::Missing
        } else {
            let mut nodes = Vec::new();
            for n in e
                .get("nodes")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let mut node = match str_field(n, "app") {
                    Some(app) => {
                        let label = self
                            .apps
                            .iter()
                            .find(|a| str_field(a, "resourceId") == Some(app))
                            .and_then(|a| str_field(a, "name"))
                            .ok_or_else(|| {
                                invalid_seed(format!(
                                    "assets/qlik.json: lineage node: no app '{app}'"
                                ))
                            })?;
                        LineageNode::app(app, label)
                    }
                    None => {
                        let q = str_field(n, "qri").ok_or_else(|| {
                            invalid_seed("assets/qlik.json: a lineage node has no qri".into())
                        })?;
                        let mut d = LineageNode::dataset(q, str_field(n, "label").unwrap_or(q));
                        if let Some(t) = str_field(n, "type") {
                            d.node_type = t.to_string();
                        }
                        d.subtype = str_field(n, "subtype").map(str::to_string);
                        d
                    }
                };
                node.level = n
                    .get("level")
                    .and_then(Value::as_u64)
                    .and_then(|l| u32::try_from(l).ok())
                    .unwrap_or(1)
                    .max(1);
                node.from = str_field(n, "from").map(str::to_string);
                nodes.push(node);
            }
            LineageAnswer::Graph(nodes)
        };
        self.lineage.answers.insert(qri, answer);
        Ok(())
    }

    /// The connection whose base QRI this is, if any.
    fn conn_by_qri(&self, qri: &str) -> Option<&Conn> {
        self.conns
            .entries()
            .find(|c| c.qri().as_deref() == Some(qri))
    }

    /// Whether the caller may see this app item.
    fn item_visible(&self, item: &Value, caller: &Caller) -> bool {
        match str_field(item, "spaceId") {
            Some(space) => self.space_visible(space, caller),
            None => str_field(item, "ownerId") == Some(&*caller.user),
        }
    }

    fn caller_of_user(&self, user: &str) -> Option<Caller> {
        let u = self.user(user)?;
        Some(Caller {
            user: Arc::from(user),
            admin: is_admin_user(u),
        })
    }

    fn caller_of_token(&self, token: &str) -> Option<Caller> {
        if let Some((_, user)) = self.tokens.iter().find(|(t, _)| *t == token) {
            return self.caller_of_user(&user.clone());
        }
        // An OAuth access token, while it lives; the client acts as the admin.
        let expires = self.oauth.issued.get(token)?;
        (Instant::now() < *expires).then(|| self.caller_of_user(ADMIN_USER_ID))?
    }

    fn user(&self, id: &str) -> Option<&Value> {
        self.users.iter().find(|u| str_field(u, "id") == Some(id))
    }

    fn space(&self, id: &str) -> Option<&Value> {
        self.spaces.iter().find(|s| str_field(s, "id") == Some(id))
    }

    /// The caller's roles in a space ("owner" for the space owner).
    fn roles_in(&self, space: &str, caller: &Caller) -> Vec<&str> {
        let mut roles: Vec<&str> = self
            .assignments
            .iter()
            .filter(|(s, u, _)| s == space && u.as_str() == &*caller.user)
            .flat_map(|(_, _, r)| r.iter().map(String::as_str))
            .collect();
        if self
            .space(space)
            .is_some_and(|s| str_field(s, "ownerId") == Some(&caller.user))
        {
            roles.push("owner");
        }
        roles
    }

    fn space_visible(&self, space: &str, caller: &Caller) -> bool {
        self.space(space).is_some() && (caller.admin || !self.roles_in(space, caller).is_empty())
    }

    /// Whether the caller may see (list, get) this connection.
    fn visible(&self, c: &Conn, caller: &Caller) -> bool {
        match c.space.as_deref() {
            None => c.user.as_deref() == Some(&*caller.user),
            Some(s) => self.space_visible(s, caller),
        }
    }

    /// Whether the connection's datasource is disabled on the tenant.
    fn disabled(&self, c: &Conn) -> bool {
        !self.disabled_datasources.is_empty()
            && c.datasource()
                .is_some_and(|d| self.disabled_datasources.contains(d))
    }

    fn privileges(&self, c: &Conn, caller: &Caller) -> Vec<&'static str> {
        const ALL: [&str; 6] = [
            "change_owner",
            "change_space",
            "delete",
            "list",
            "read",
            "update",
        ];
        if c.datafiles {
            return vec!["read"];
        }
        if caller.admin {
            return ALL.to_vec();
        }
        if c.user.as_deref() == Some(&*caller.user) {
            return vec!["change_space", "delete", "list", "read", "update"];
        }
        let Some(space) = c.space.as_deref() else {
            return Vec::new();
        };
        let roles = self.roles_in(space, caller);
        let has = |names: &[&str]| roles.iter().any(|r| names.contains(r));
        if has(&["owner", "producer", "facilitator", "publisher"]) {
            vec!["delete", "list", "read", "update"]
        } else if has(&["contributor"]) {
            vec!["list", "read", "update"]
        } else if roles.is_empty() {
            Vec::new()
        } else {
            vec!["list", "read"]
        }
    }

    fn self_href(&self, id: &str) -> String {
        format!("{}{CONNECTIONS_PATH}/{id}", self.base_url)
    }

    fn render(&self, c: &Conn, caller: &Caller, how: Render) -> Value {
        let mut m = match &c.body {
            Held::Json(m) => m.clone(),
            Held::Generated(n) => render_generated(c, *n),
        };
        m.insert("tenant".into(), Value::from(self.tenant.clone()));
        m.insert(
            "links".into(),
            json!({"self": {"href": self.self_href(&c.id)}}),
        );
        m.insert("privileges".into(), Value::from(self.privileges(c, caller)));
        if let Render::List { qri } = how {
            m.remove("qConnectionSecret");
            if !qri {
                m.remove("qri");
            }
        }
        Value::Object(m)
    }

    /// Count one request of `tier` for this user; `Err(seconds)` when it must be refused.
    fn admit(&mut self, user: &Arc<str>, tier: Tier, now: Instant) -> Result<(), u64> {
        let (capacity, window) = match tier {
            Tier::Read | Tier::Write => {
                let per_minute = if tier == Tier::Read {
                    self.limits.reads_per_minute
                } else {
                    self.limits.writes_per_minute
                };
                if per_minute == 0 {
                    return Ok(());
                }
                let window = self.limits.window;
                let capacity = ((u128::from(per_minute) * window.as_millis()) / 60_000).max(1);
                (capacity, window)
            }
            Tier::Lineage => {
                if self.limits.lineage_limit == 0 {
                    return Ok(());
                }
                (
                    u128::from(self.limits.lineage_limit),
                    self.limits.lineage_window,
                )
            }
        };
        let capacity = usize::try_from(capacity).unwrap_or(usize::MAX);
        self.windows
            .admit((user.clone(), tier), capacity, window, now)
            .map_err(kit::ceil_secs)
    }
}

#[derive(Clone, Copy)]
enum Render {
    /// As an element of a list: no `qConnectionSecret`, `qri` only when asked for.
    List { qri: bool },
    /// As the answer of a get-one.
    One,
}

fn is_admin_user(u: &Value) -> bool {
    u.get("assignedRoles")
        .and_then(Value::as_array)
        .is_some_and(|roles| {
            roles
                .iter()
                .any(|r| str_field(r, "name") == Some("TenantAdmin"))
        })
}

fn is_datafiles(m: &Map<String, Value>) -> bool {
    m.get("qType")
        .and_then(Value::as_str)
        .is_some_and(|t| t.eq_ignore_ascii_case(DATAFILES_TYPE))
}

fn conn_from_map(mut m: Map<String, Value>) -> Option<Conn> {
    let id = m
        .get("qID")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())?
        .to_string();
    // Per-caller and per-tenant fields are added when rendering.
    for k in ["privileges", "links", "tenant"] {
        m.remove(k);
    }
    let text = |m: &Map<String, Value>, k: &str| {
        m.get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    Some(Conn {
        seq: 0,
        id: Arc::from(id.as_str()),
        name: text(&m, "qName").unwrap_or_else(|| id.clone()),
        space: text(&m, "space").map(|s| Arc::from(s.as_str())),
        user: text(&m, "user").map(|s| Arc::from(s.as_str())),
        datafiles: is_datafiles(&m),
        created: text(&m, "created"),
        updated: text(&m, "updated"),
        body: Held::Json(m),
    })
}

// ---------------------------------------------------------------------------------------------
// Ids, times, encodings
// ---------------------------------------------------------------------------------------------

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    RandomState::new().hash_one(n)
}

/// A version-4 UUID from 128 bits.
fn uuid_from(hi: u64, lo: u64) -> String {
    let hi = (hi & 0xFFFF_FFFF_FFFF_0FFF) | 0x0000_0000_0000_4000;
    let lo = (lo & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000;
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xFFFF,
        hi & 0xFFFF,
        lo >> 48,
        lo & 0xFFFF_FFFF_FFFF
    )
}

fn random_uuid() -> String {
    uuid_from(random_u64(), random_u64())
}

fn random_hex(len: usize) -> String {
    let mut s = String::with_capacity(len + 16);
    while s.len() < len {
        s.push_str(&format!("{:016x}", random_u64()));
    }
    s.truncate(len);
    s
}

fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

fn format_time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

fn now_time() -> String {
    format_time(chrono::Utc::now())
}

const B64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn b64url_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(B64URL[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.bytes() {
        let v = B64URL.iter().position(|x| *x == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xFF) as u8);
        }
    }
    Some(out)
}

fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn parse_query(q: Option<&str>) -> Vec<(String, String)> {
    super::parse_form(q.unwrap_or(""))
}

fn query_value<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn encode_query(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn query_bool(pairs: &[(String, String)], key: &str) -> Result<bool, ApiError> {
    match query_value(pairs, key) {
        None => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("true") || v.is_empty() => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(v) => Err(ApiError::bad_request(format!(
            "Query parameter '{key}' must be a boolean, got '{v}'"
        ))),
    }
}

/// `limit`: `None` when absent, 400 when not an integer in 1..=100.
fn query_limit(pairs: &[(String, String)]) -> Result<Option<usize>, ApiError> {
    match query_value(pairs, "limit") {
        None => Ok(None),
        Some(v) => match v.trim().parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(Some(n)),
            _ => Err(ApiError::bad_request(format!(
                "Query parameter 'limit' must be an integer between 1 and {MAX_LIMIT}, got '{v}'"
            ))),
        },
    }
}

// ---------------------------------------------------------------------------------------------
// Errors and responses
// ---------------------------------------------------------------------------------------------

/// How an error body is shaped.
#[derive(Debug, Clone, Copy)]
enum ErrorForm {
    /// Data-connections: `status` an integer.
    DataConnections,
    /// Gateway / auth layer: `status` a string, top-level `traceId`.
    Gateway,
    /// Spaces and users: no `status`.
    Plain,
}

#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    code: String,
    title: String,
    detail: Option<String>,
    form: ErrorForm,
    retry_after: Option<u64>,
}

// The data-connections API documents only DCERROR-0010 (400); the other codes are the
// simulator's own and follow the same pattern.
impl ApiError {
    fn dc(status: StatusCode, code: &str, title: &str, detail: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code: code.to_string(),
            title: title.to_string(),
            detail: Some(detail.into()),
            form: ErrorForm::DataConnections,
            retry_after: None,
        }
    }

    fn bad_request(detail: impl Into<String>) -> ApiError {
        ApiError::dc(
            StatusCode::BAD_REQUEST,
            "DCERROR-0010",
            "Bad or invalid request",
            detail,
        )
    }

    fn forbidden(detail: impl Into<String>) -> ApiError {
        ApiError::dc(StatusCode::FORBIDDEN, "DCERROR-0003", "Forbidden", detail)
    }

    fn not_found(detail: impl Into<String>) -> ApiError {
        ApiError::dc(StatusCode::NOT_FOUND, "DCERROR-0004", "Not found", detail)
    }

    fn conflict(detail: impl Into<String>) -> ApiError {
        ApiError::dc(StatusCode::CONFLICT, "DCERROR-0009", "Conflict", detail)
    }

    fn decryption_failed(id: &str) -> ApiError {
        ApiError::dc(
            StatusCode::INTERNAL_SERVER_ERROR,
            "DCERROR-0011",
            "Internal server error",
            format!("Failed to decrypt the credentials of data connection '{id}'"),
        )
    }

    fn plain(status: StatusCode, code: &str, title: &str, detail: Option<String>) -> ApiError {
        ApiError {
            status,
            code: code.to_string(),
            title: title.to_string(),
            detail,
            form: ErrorForm::Plain,
            retry_after: None,
        }
    }

    fn unauthorized() -> ApiError {
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            code: "HTTP-401".into(),
            title: "Not authorized".into(),
            detail: None,
            form: ErrorForm::Gateway,
            retry_after: None,
        }
    }

    fn route_not_found() -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            code: "HTTP-404".into(),
            title: "Not Found".into(),
            detail: None,
            form: ErrorForm::Gateway,
            retry_after: None,
        }
    }

    fn rate_limited(secs: u64) -> ApiError {
        ApiError {
            status: StatusCode::TOO_MANY_REQUESTS,
            code: "HTTP-429".into(),
            title: "API rate limit reached.".into(),
            detail: Some(format!(
                "You need to wait {secs} seconds until limit is lifted."
            )),
            form: ErrorForm::Plain,
            retry_after: Some(secs),
        }
    }

    /// The `{code,title,detail,status}` entry of this error (bulk results embed it).
    fn entry(&self) -> Value {
        let mut e = Map::new();
        e.insert("code".into(), Value::from(self.code.clone()));
        e.insert("title".into(), Value::from(self.title.clone()));
        if let Some(d) = &self.detail {
            e.insert("detail".into(), Value::from(d.clone()));
        }
        match self.form {
            ErrorForm::DataConnections => {
                e.insert("status".into(), Value::from(self.status.as_u16()));
            }
            ErrorForm::Gateway => {
                e.insert(
                    "status".into(),
                    Value::from(self.status.as_u16().to_string()),
                );
            }
            ErrorForm::Plain => {}
        }
        Value::Object(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = Map::new();
        body.insert("errors".into(), Value::Array(vec![self.entry()]));
        if matches!(self.form, ErrorForm::Gateway) {
            body.insert("traceId".into(), Value::from(random_hex(16)));
        }
        let resp = json_response(self.status, &Value::Object(body));
        match self.retry_after {
            Some(secs) => kit::retry_after(resp, secs),
            None => resp,
        }
    }
}

fn json_response(status: StatusCode, v: &Value) -> Response {
    kit::json(status, JSON_CONTENT_TYPE, v)
}

fn fault_response(fault: &Fault) -> Response {
    let status_of = |code: u16| StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_GATEWAY);
    match fault {
        Fault::RateLimited { retry_after_secs } => {
            ApiError::rate_limited(*retry_after_secs).into_response()
        }
        Fault::Status(code) => {
            let status = status_of(*code);
            ApiError {
                status,
                code: format!("HTTP-{}", status.as_u16()),
                title: status.canonical_reason().unwrap_or("Error").to_string(),
                detail: Some("The request could not be completed by an upstream service".into()),
                form: ErrorForm::DataConnections,
                retry_after: None,
            }
            .into_response()
        }
        Fault::Html(code) => kit::proxy_page(status_of(*code), "nginx"),
        Fault::Empty(code) => kit::empty(status_of(*code)),
        Fault::Truncated => kit::bytes(
            StatusCode::OK,
            JSON_CONTENT_TYPE,
            r#"{"data":[{"qID":"3f1c2a9e-6b1d-4a5"#,
        ),
    }
}

type ApiResult = Result<Response, ApiError>;

// ---------------------------------------------------------------------------------------------
// Router and middleware
// ---------------------------------------------------------------------------------------------

fn router(shared: Arc<Shared>, kit: &kit::Kit) -> Router {
    let app = Router::new()
        .route(
            "/resources/autogenerated/product-info.json",
            get(product_info),
        )
        .route(
            CONNECTIONS_PATH,
            get(list_connections).post(create_connection),
        )
        .route("/api/v1/data-connections/actions/delete", post(bulk_delete))
        .route("/api/v1/data-connections/actions/update", post(bulk_update))
        .route(
            "/api/v1/data-connections/{id}",
            get(get_connection)
                .patch(patch_connection)
                .delete(delete_connection),
        )
        .route(SPACES_PATH, get(list_spaces))
        .route("/api/v1/spaces/{id}", get(get_space))
        .route("/api/v1/users", get(list_users))
        .route("/api/v1/users/me", get(get_me))
        .route("/api/v1/users/{id}", get(get_user))
        .route(ITEMS_PATH, get(list_items))
        .route(OAUTH_TOKEN_PATH, post(oauth_token))
        .route("/api/v1/lineage-graphs/impact/{*rest}", get(lineage_impact))
        .fallback(route_not_found);
    kit.router(app, |app| {
        app.layer(middleware::from_fn_with_state(shared.clone(), frame))
            .with_state(shared)
    })
}

/// An OAuth error answer (RFC 6749 §5.2): `{"error","error_description"}`.
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    json_response(
        status,
        &json!({"error": error, "error_description": description}),
    )
}

/// `POST /oauth/token`, client-credentials grant: a JSON or form body with `client_id`,
/// `client_secret` and `grant_type`; a random bearer token that expires after the TTL.
async fn oauth_token(
    AxState(shared): AxState<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut st = lock(&shared);
    st.oauth.requests += 1;
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    let fields: HashMap<String, String> = if form {
        parse_query(std::str::from_utf8(&body).ok())
            .into_iter()
            .collect()
    } else {
        match serde_json::from_slice::<Map<String, Value>>(&body) {
            Ok(m) => m
                .into_iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_owned())))
                .collect(),
            Err(_) => {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "The request body is not valid JSON",
                )
            }
        }
    };
    let field = |k: &str| fields.get(k).map(String::as_str).filter(|s| !s.is_empty());
    match field("grant_type") {
        Some("client_credentials") => {}
        Some(_) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "Only grant_type client_credentials is supported",
            )
        }
        None => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "grant_type is missing",
            )
        }
    }
    let (Some(id), Some(secret)) = (field("client_id"), field("client_secret")) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "client_id and client_secret are required",
        );
    };
    let known = st
        .oauth
        .client
        .as_ref()
        .is_some_and(|(cid, csecret)| cid == id && csecret == secret);
    if !known {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Client authentication failed",
        );
    }
    let token = format!("qoat-{}", random_hex(48));
    let ttl = st.oauth.ttl;
    st.oauth.issued.insert(token.clone(), Instant::now() + ttl);
    st.oauth.granted += 1;
    let expires_at = chrono::Utc::now()
        + chrono::Duration::from_std(ttl).unwrap_or_else(|_| chrono::Duration::zero());
    json_response(
        StatusCode::OK,
        &json!({
            "access_token": token,
            "token_type": "bearer",
            "expires_in": ttl.as_secs(),
            "expires_at": format_time(expires_at),
            "scope": "user_default",
        }),
    )
}

async fn route_not_found() -> ApiError {
    ApiError::route_not_found()
}

async fn product_info() -> Response {
    json_response(StatusCode::OK, &json!({}))
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
        .filter(|t| !t.is_empty())
}

/// Runs around every request inside the kit's frame: Qlik-shaped faults, authentication,
/// rate limits, error normalisation. HTML pages (a proxy's error page from the fault layer)
/// pass as they are: that is what a client would get.
async fn frame(AxState(shared): AxState<Arc<Shared>>, mut req: Request, next: Next) -> Response {
    let early = if req.uri().path().starts_with("/api/") {
        let mut st = lock(&shared);
        if let Some(fault) = st.faults.take(req.method().as_str(), req.uri().path()) {
            Some(fault_response(&fault))
        } else {
            match bearer(req.headers()).and_then(|t| st.caller_of_token(t)) {
                None => Some(ApiError::unauthorized().into_response()),
                Some(caller) => {
                    let tier = if req.uri().path().starts_with("/api/v1/lineage-graphs/") {
                        Tier::Lineage
                    } else if req.method() == Method::GET || req.method() == Method::HEAD {
                        Tier::Read
                    } else {
                        Tier::Write
                    };
                    match st.admit(&caller.user, tier, Instant::now()) {
                        Ok(()) => {
                            req.extensions_mut().insert(caller);
                            None
                        }
                        Err(secs) => Some(ApiError::rate_limited(secs).into_response()),
                    }
                }
            }
        }
    } else {
        None
    };
    match early {
        Some(r) => r,
        None => kit::normalise(next.run(req).await, |status| {
            ApiError {
                status,
                code: format!("HTTP-{}", status.as_u16()),
                title: status.canonical_reason().unwrap_or("Error").to_string(),
                detail: None,
                form: ErrorForm::Gateway,
                retry_after: None,
            }
            .into_response()
        }),
    }
}

// ---------------------------------------------------------------------------------------------
// Data connections: list and paging
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum SortField {
    Seq,
    Name,
    Created,
    Updated,
}

#[derive(Clone, Copy, Debug)]
struct Sort {
    field: SortField,
    descending: bool,
    case_insensitive: bool,
}

fn parse_sort(pairs: &[(String, String)]) -> Result<Sort, ApiError> {
    let case_insensitive = query_bool(pairs, "caseinsensitive")?;
    let Some(raw) = query_value(pairs, "sort") else {
        return Ok(Sort {
            field: SortField::Seq,
            descending: false,
            case_insensitive,
        });
    };
    // A '+' sent unencoded arrives as a space.
    let trimmed = raw.trim_start_matches(' ');
    let (descending, name) = match trimmed.as_bytes().first() {
        Some(b'-') => (true, &trimmed[1..]),
        Some(b'+') => (false, &trimmed[1..]),
        _ => (false, trimmed),
    };
    let field = match name {
        "_id" => SortField::Seq,
        "qName" => SortField::Name,
        "created" => SortField::Created,
        "updated" => SortField::Updated,
        _ => {
            return Err(ApiError::bad_request(format!(
                "Query parameter 'sort' must be one of +_id, -_id, +qName, -qName, +created, -created, +updated, -updated, got '{raw}'"
            )))
        }
    };
    Ok(Sort {
        field,
        descending,
        case_insensitive,
    })
}

/// Where an element sits in a sorted list: DataFiles phase, sort key, creation order.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Position {
    phase: u8,
    key: String,
    seq: u64,
}

fn position_of(c: &Conn, sort: Sort) -> Position {
    let key = match sort.field {
        SortField::Seq => String::new(),
        SortField::Name if sort.case_insensitive => c.name.to_lowercase(),
        SortField::Name => c.name.clone(),
        SortField::Created => c.created.clone().unwrap_or_default(),
        SortField::Updated => c.updated.clone().unwrap_or_default(),
    };
    Position {
        phase: u8::from(c.datafiles),
        key,
        seq: c.seq,
    }
}

fn compare(a: &Position, b: &Position, sort: Sort) -> std::cmp::Ordering {
    let within = a.key.cmp(&b.key).then(a.seq.cmp(&b.seq));
    a.phase.cmp(&b.phase).then(if sort.descending {
        within.reverse()
    } else {
        within
    })
}

/// A page cursor: the position of the last (next) or first (prev) element served.
#[derive(Debug, PartialEq, Eq)]
struct Cursor {
    forward: bool,
    at: Position,
}

fn encode_cursor(c: &Cursor) -> String {
    let text = format!(
        "{}|{}|{}|{}",
        if c.forward { 'n' } else { 'p' },
        c.at.phase,
        c.at.seq,
        c.at.key
    );
    b64url_encode(text.as_bytes())
}

fn decode_cursor(s: &str) -> Option<Cursor> {
    let bytes = b64url_decode(s)?;
    let text = String::from_utf8(bytes).ok()?;
    let mut parts = text.splitn(4, '|');
    let forward = match parts.next()? {
        "n" => true,
        "p" => false,
        _ => return None,
    };
    let phase = parts.next()?.parse().ok()?;
    let seq = parts.next()?.parse().ok()?;
    let key = parts.next()?.to_string();
    Some(Cursor {
        forward,
        at: Position { phase, key, seq },
    })
}

fn bool_param(pairs: &[(String, String)], key: &str) -> Result<bool, ApiError> {
    query_bool(pairs, key)
}

async fn list_connections(
    AxState(shared): AxState<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    RawQuery(query): RawQuery,
) -> ApiResult {
    let pairs = parse_query(query.as_deref());
    let limit = query_limit(&pairs)?;
    let sort = parse_sort(&pairs)?;
    let no_datafiles = bool_param(&pairs, "noDatafiles")?;
    let personal = bool_param(&pairs, "personal")?;
    let owned_by_me = bool_param(&pairs, "ownedByMe")?;
    let include_qris = bool_param(&pairs, "includeQris")?;
    let include_disabled = bool_param(&pairs, "includeDisabled")?;
    if query_value(&pairs, "filter").is_some_and(|f| !f.trim().is_empty()) {
        return Err(ApiError::bad_request(
            "Query parameter 'filter' is not supported by this simulator",
        ));
    }
    let data_key = match query_value(&pairs, "dataName") {
        Some(d) if d.trim().is_empty() => {
            return Err(ApiError::bad_request(
                "Query parameter 'dataName' must not be empty",
            ))
        }
        Some(d) => d.to_string(),
        None => "data".to_string(),
    };
    let space_filter = query_value(&pairs, "spaceId")
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let user_filter = query_value(&pairs, "userId")
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let page = match query_value(&pairs, "page").filter(|p| !p.is_empty()) {
        Some(p) => Some(
            decode_cursor(p)
                .ok_or_else(|| ApiError::bad_request(format!("Invalid page cursor '{p}'")))?,
        ),
        None => None,
    };

    let st = lock(&shared);
    if let Some(u) = &user_filter {
        if u.as_str() != &*caller.user && !caller.admin {
            return Err(ApiError::forbidden(
                "The TenantAdmin role is required to list the connections of another user",
            ));
        }
    }
    if let Some(s) = &space_filter {
        if st.space(s).is_none() {
            return Err(ApiError::not_found(format!("Space '{s}' not found")));
        }
        if !st.space_visible(s, &caller) {
            return Err(ApiError::forbidden(format!("No access to space '{s}'")));
        }
    }
    let matches = |c: &Conn| -> bool {
        let visible = match (&user_filter, c.space.as_deref()) {
            // An admin asking for a user sees that user's personal connections too.
            (Some(u), None) => c.user.as_deref() == Some(u.as_str()),
            _ => st.visible(c, &caller),
        };
        if !visible || st.broken.contains(&*c.id) {
            return false;
        }
        if !include_disabled && st.disabled(c) {
            return false;
        }
        if c.datafiles && (no_datafiles || owned_by_me || user_filter.is_some()) {
            return false;
        }
        if let Some(u) = &user_filter {
            if c.user.as_deref() != Some(u.as_str()) {
                return false;
            }
        }
        if owned_by_me && c.user.as_deref() != Some(&*caller.user) {
            return false;
        }
        match &space_filter {
            Some(s) => c.space.as_deref() == Some(s.as_str()),
            None if personal => c.space.is_none(),
            None => true,
        }
    };
    let mut selected: Vec<(Position, &Conn)> = st
        .conns
        .entries()
        .filter(|c| matches(c))
        .map(|c| (position_of(c, sort), c))
        .collect();
    if sort.field != SortField::Seq || sort.descending {
        selected.sort_by(|a, b| compare(&a.0, &b.0, sort));
    } else {
        // Creation order already; DataFiles last.
        selected.sort_by_key(|(p, _)| p.phase);
    }
    let total = selected.len();
    let errors: Vec<Value> = st
        .conns
        .entries()
        .filter(|c| {
            st.broken.contains(&*c.id)
                && st.visible(c, &caller)
                && (include_disabled || !st.disabled(c))
        })
        .map(|c| {
            let mut e = ApiError::decryption_failed(&c.id).entry();
            if let Value::Object(m) = &mut e {
                m.insert("source".into(), json!({"qID": c.id.as_ref()}));
            }
            e
        })
        .collect();

    let paged = limit.is_some() || page.is_some();
    let limit = limit.unwrap_or(CONNECTIONS_DEFAULT_LIMIT);
    let (start, end) = if !paged {
        (0, total)
    } else {
        match &page {
            None => (0, total.min(limit)),
            Some(cur) if cur.forward => {
                let start = selected.partition_point(|(p, _)| compare(p, &cur.at, sort).is_le());
                (start, (start + limit).min(total))
            }
            Some(cur) => {
                let end = selected.partition_point(|(p, _)| compare(p, &cur.at, sort).is_lt());
                (end.saturating_sub(limit), end)
            }
        }
    };
    let data: Vec<Value> = selected[start..end]
        .iter()
        .map(|(_, c)| st.render(c, &caller, Render::List { qri: include_qris }))
        .collect();

    let base_pairs: Vec<(String, String)> = {
        let mut p: Vec<(String, String)> = pairs
            .iter()
            .filter(|(k, _)| k != "page" && k != "limit")
            .cloned()
            .collect();
        if paged {
            p.push(("limit".into(), limit.to_string()));
        }
        p
    };
    let href = |extra: Option<(String, String)>| {
        let mut p = base_pairs.clone();
        p.extend(extra);
        let q = encode_query(&p);
        if q.is_empty() {
            format!("{}{CONNECTIONS_PATH}", st.base_url)
        } else {
            format!("{}{CONNECTIONS_PATH}?{q}", st.base_url)
        }
    };
    let mut links = Map::new();
    let self_href = match &query {
        Some(q) if !q.is_empty() => format!("{}{CONNECTIONS_PATH}?{q}", st.base_url),
        _ => format!("{}{CONNECTIONS_PATH}", st.base_url),
    };
    links.insert("self".into(), json!({ "href": self_href }));
    if paged {
        if end < total {
            // After an empty backward page the next page is the first one.
            let next = match end.checked_sub(1).and_then(|i| selected.get(i)) {
                Some((last, _)) => href(Some((
                    "page".into(),
                    encode_cursor(&Cursor {
                        forward: true,
                        at: last.clone(),
                    }),
                ))),
                None => href(None),
            };
            links.insert("next".into(), json!({ "href": next }));
        }
        if start > 0 && start < total {
            if let Some((first, _)) = selected.get(start) {
                let cur = Cursor {
                    forward: false,
                    at: first.clone(),
                };
                links.insert(
                    "prev".into(),
                    json!({"href": href(Some(("page".into(), encode_cursor(&cur))))}),
                );
            }
        }
    }
    let mut body = Map::new();
    body.insert(data_key, Value::Array(data));
    body.insert("meta".into(), json!({ "count": total }));
    body.insert("links".into(), Value::Object(links));
    if !errors.is_empty() {
        body.insert("errors".into(), Value::Array(errors));
    }
    Ok(json_response(StatusCode::OK, &Value::Object(body)))
}

// ---------------------------------------------------------------------------------------------
// Data connections: one object
// ---------------------------------------------------------------------------------------------

/// Resolve the `{qID}` path segment (an id, or a name with `type=connectionname`) to a stored
/// id the caller may see.
fn resolve(
    st: &SimState,
    caller: &Caller,
    segment: &str,
    pairs: &[(String, String)],
) -> Result<Arc<str>, ApiError> {
    let by_name = match query_value(pairs, "type") {
        None | Some("") => false,
        Some(t) if t.eq_ignore_ascii_case("connectionname") => true,
        Some(t) => {
            return Err(ApiError::bad_request(format!(
                "Query parameter 'type' value '{t}' is not supported"
            )))
        }
    };
    if !by_name {
        if !is_uuid(segment) {
            return Err(ApiError::bad_request(format!(
                "Invalid data connection id '{segment}': a UUID is expected"
            )));
        }
        let c = st
            .conns
            .get(segment)
            .ok_or_else(|| ApiError::not_found(format!("Data connection '{segment}' not found")))?;
        // An admin may reach any connection by id; others only what they can see.
        if !caller.admin && !st.visible(c, caller) {
            return Err(ApiError::forbidden(format!(
                "No access to data connection '{segment}'"
            )));
        }
        return Ok(c.id.clone());
    }
    let scope = match query_value(pairs, "spaceId").filter(|s| !s.is_empty()) {
        Some(space) => {
            if st.space(space).is_none() {
                return Err(ApiError::not_found(format!("Space '{space}' not found")));
            }
            if !st.space_visible(space, caller) {
                return Err(ApiError::forbidden(format!("No access to space '{space}'")));
            }
            scope_key(Some(space), None)
        }
        None => scope_key(None, Some(&caller.user)),
    };
    st.conns
        .by_name(&scope, segment)
        .map(|c| c.id.clone())
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "Data connection with name '{segment}' not found in the scope"
            ))
        })
}

async fn get_connection(
    AxState(shared): AxState<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(segment): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult {
    let pairs = parse_query(query.as_deref());
    let st = lock(&shared);
    let id = resolve(&st, &caller, &segment, &pairs)?;
    if st.broken.contains(&*id) {
        return Err(ApiError::decryption_failed(&id));
    }
    let c = st
        .conns
        .get(&id)
        .ok_or_else(|| ApiError::not_found(format!("Data connection '{id}' not found")))?;
    Ok(json_response(
        StatusCode::OK,
        &st.render(c, &caller, Render::One),
    ))
}

async fn delete_connection(
    AxState(shared): AxState<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(segment): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult {
    let pairs = parse_query(query.as_deref());
    let mut st = lock(&shared);
    let id = resolve(&st, &caller, &segment, &pairs)?;
    check_deletable(&st, &caller, &id)?;
    st.conns.remove(&id);
    st.broken.remove(&*id);
    Ok(kit::no_content())
}

fn check_deletable(st: &SimState, caller: &Caller, id: &str) -> Result<(), ApiError> {
    let c = st
        .conns
        .get(id)
        .ok_or_else(|| ApiError::not_found(format!("Data connection '{id}' not found")))?;
    if c.datafiles {
        return Err(ApiError::forbidden(
            "The DataFiles connection is built in and cannot be deleted",
        ));
    }
    if !st.privileges(c, caller).contains(&"delete") {
        return Err(ApiError::forbidden(format!(
            "Not allowed to delete data connection '{id}'"
        )));
    }
    Ok(())
}

fn parse_body(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("Invalid JSON body: {e}")))
}

/// A bulk action's body and its `connections` items (TenantAdmin only, else 403).
fn bulk_items(caller: &Caller, body: &[u8]) -> Result<(Value, Vec<Value>), ApiError> {
    if !caller.admin {
        return Err(ApiError::forbidden(
            "The TenantAdmin role is required for bulk operations",
        ));
    }
    let body = parse_body(body)?;
    let items = body
        .get("connections")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| {
            ApiError::bad_request("Field 'connections' is missing in the request or empty")
        })?
        .clone();
    Ok((body, items))
}

async fn bulk_delete(
    AxState(shared): AxState<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> ApiResult {
    let (_, items) = bulk_items(&caller, &body)?;
    let mut st = lock(&shared);
    let mut results = Vec::with_capacity(items.len());
    for item in &items {
        let id = item.get("id").and_then(Value::as_str).unwrap_or("");
        let outcome = if id.is_empty() {
            Err(ApiError::bad_request(
                "Field 'id' is missing in the request",
            ))
        } else if !is_uuid(id) {
            Err(ApiError::bad_request(format!(
                "Invalid data connection id '{id}': a UUID is expected"
            )))
        } else {
            check_deletable(&st, &caller, id)
        };
        let mut r = Map::new();
        r.insert("id".into(), Value::from(id));
        match outcome {
            Ok(()) => {
                st.conns.remove(id);
                st.broken.remove(id);
                r.insert("status".into(), Value::from(204));
            }
            Err(e) => {
                r.insert("status".into(), Value::from(e.status.as_u16()));
                r.insert("error".into(), e.entry());
            }
        }
        results.push(Value::Object(r));
    }
    Ok(json_response(
        StatusCode::MULTI_STATUS,
        &json!({ "data": results }),
    ))
}

/// One item of `actions/update`, checked and applied; nothing is stored on a refusal.
fn update_item(st: &mut SimState, caller: &Caller, item: &Value) -> Result<(), ApiError> {
    let id = item.get("id").and_then(Value::as_str).unwrap_or("");
    if id.is_empty() {
        return Err(ApiError::bad_request(
            "Field 'id' is missing in the request",
        ));
    }
    if !is_uuid(id) {
        return Err(ApiError::bad_request(format!(
            "Invalid data connection id '{id}': a UUID is expected"
        )));
    }
    let Some(item) = item.as_object() else {
        return Err(ApiError::bad_request("Each connection must be an object"));
    };
    let owner = opt_string(item, "ownerId")?;
    let space = opt_string(item, "spaceId")?;
    let space_type = opt_string(item, "spaceType")?;
    let name = opt_string(item, "name")?
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty());
    if owner.is_none() && space.is_none() && name.is_none() {
        return Err(ApiError::bad_request(
            "Nothing to update: give ownerId, spaceId or name",
        ));
    }
    if space_type.is_some() && space.is_none() {
        return Err(ApiError::bad_request(
            "Field 'spaceType' is only allowed with 'spaceId'",
        ));
    }
    let c = st
        .conns
        .get(id)
        .ok_or_else(|| ApiError::not_found(format!("Data connection '{id}' not found")))?;
    if c.datafiles {
        return Err(ApiError::forbidden(
            "The DataFiles connection is built in and cannot be moved or transferred",
        ));
    }
    let privileges = st.privileges(c, caller);
    if owner.is_some() && !privileges.contains(&"change_owner") {
        return Err(ApiError::forbidden(format!(
            "Not allowed to change the owner of data connection '{id}'"
        )));
    }
    if space.is_some() && !privileges.contains(&"change_space") {
        return Err(ApiError::forbidden(format!(
            "Not allowed to change the space of data connection '{id}'"
        )));
    }
    let new_user: Option<Arc<str>> = match owner.as_deref().map(str::trim) {
        None => c.user.clone(),
        Some("") => return Err(ApiError::bad_request("Field 'ownerId' must not be empty")),
        Some(u) => {
            if st.user(u).is_none() {
                return Err(ApiError::not_found(format!("User '{u}' not found")));
            }
            Some(Arc::from(u))
        }
    };
    let new_space: Option<Arc<str>> = match space.as_deref().map(str::trim) {
        None => c.space.clone(),
        Some(s) => {
            let Some(t) = space_type
                .as_deref()
                .map(str::trim)
                .filter(|t| !t.is_empty())
            else {
                return Err(ApiError::bad_request(
                    "Field 'spaceType' is required with 'spaceId'",
                ));
            };
            if !matches!(t, "personal" | "shared" | "managed" | "data") {
                return Err(ApiError::bad_request(format!(
                    "Invalid spaceType '{t}': expected personal, shared, managed or data"
                )));
            }
            if s.is_empty() {
                if t != "personal" {
                    return Err(ApiError::bad_request(format!(
                        "spaceType '{t}' does not match the personal space"
                    )));
                }
                None
            } else {
                let sp = st
                    .space(s)
                    .ok_or_else(|| ApiError::not_found(format!("Space '{s}' not found")))?;
                let actual = str_field(sp, "type").unwrap_or("shared");
                if actual != t {
                    return Err(ApiError::bad_request(format!(
                        "spaceType '{t}' does not match space '{s}' (type '{actual}')"
                    )));
                }
                Some(Arc::from(s))
            }
        }
    };
    if new_space.is_none() && new_user.is_none() {
        return Err(ApiError::bad_request(
            "A personal connection needs an owner",
        ));
    }
    let new_name = name.unwrap_or_else(|| c.name.clone());
    let old_scope = scope_key(c.space.as_deref(), c.user.as_deref());
    let new_scope = scope_key(new_space.as_deref(), new_user.as_deref());
    if (old_scope != new_scope || new_name != c.name) && st.conns.name_taken(&new_scope, &new_name)
    {
        return Err(ApiError::conflict(match &new_space {
            Some(s) => format!(
                "A data connection named '{new_name}' already exists in space '{s}'"
            ),
            None => format!(
                "A data connection named '{new_name}' already exists in the personal space of the owner"
            ),
        }));
    }
    let owner_changed = new_user != c.user;
    let id: Arc<str> = c.id.clone();
    if new_name != c.name {
        st.conns.rename(&id, &new_name);
    }
    st.conns.relocate(&id, new_space, new_user);
    if owner_changed {
        // The credentials stay with the old owner: the new one must enter their own.
        st.credentials.remove(&*id);
    }
    let now = now_time();
    if let Some(c) = st.conns.get_mut(&id) {
        c.updated = Some(now.clone());
        if let Held::Json(m) = &mut c.body {
            if owner_changed {
                m.remove("qCredentialsID");
            }
            m.insert("updated".into(), Value::from(now));
        }
    }
    Ok(())
}

/// `POST /api/v1/data-connections/actions/update`: change owner, space and name of
/// connections (TenantAdmin only, else 403); 207 with one `{id,status[,error]}` per item.
/// An owner change drops the stored credentials; a name taken in the target scope is a 409
/// for that item; an unknown owner or space a 404, a missing or wrong `spaceType` a 400.
async fn bulk_update(
    AxState(shared): AxState<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> ApiResult {
    let (body, items) = bulk_items(&caller, &body)?;
    let mut st = lock(&shared);
    st.updates.push(body);
    let mut results = Vec::with_capacity(items.len());
    for item in &items {
        let id = item.get("id").and_then(Value::as_str).unwrap_or("");
        let mut r = Map::new();
        r.insert("id".into(), Value::from(id));
        match update_item(&mut st, &caller, item) {
            Ok(()) => {
                r.insert("status".into(), Value::from(204));
            }
            Err(e) => {
                r.insert("status".into(), Value::from(e.status.as_u16()));
                r.insert("error".into(), e.entry());
            }
        }
        results.push(Value::Object(r));
    }
    Ok(json_response(
        StatusCode::MULTI_STATUS,
        &json!({ "data": results }),
    ))
}

fn opt_string(body: &Map<String, Value>, key: &str) -> Result<Option<String>, ApiError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::bad_request(format!(
            "Field '{key}' must be a string"
        ))),
    }
}

fn required_string(body: &Map<String, Value>, key: &str) -> Result<String, ApiError> {
    match opt_string(body, key)? {
        Some(s) if !s.trim().is_empty() => Ok(s),
        _ => Err(ApiError::bad_request(format!(
            "Field {key} is missing in the request"
        ))),
    }
}

fn log_on_value(v: Option<&Value>) -> Result<i64, ApiError> {
    match v {
        None | Some(Value::Null) => Ok(1),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(0) => Ok(0),
            Some(1) => Ok(1),
            _ => Err(ApiError::bad_request("Field 'qLogOn' must be 0 or 1")),
        },
        Some(Value::String(s)) => match s.as_str() {
            "0" | "LOG_ON_SERVICE_USER" => Ok(0),
            "1" | "LOG_ON_CURRENT_USER" => Ok(1),
            other => Err(ApiError::bad_request(format!(
                "Field 'qLogOn' has an invalid value '{other}'"
            ))),
        },
        Some(_) => Err(ApiError::bad_request("Field 'qLogOn' must be a string")),
    }
}

fn tags_value(v: Option<&Value>) -> Result<Vec<Value>, ApiError> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) if a.len() <= MAX_TAGS && a.iter().all(Value::is_string) => {
            Ok(a.clone())
        }
        Some(_) => Err(ApiError::bad_request(format!(
            "Field 'tags' must be an array of at most {MAX_TAGS} strings"
        ))),
    }
}

/// `provider=...;key=value;...` from DCaaS connection properties.
fn connect_statement(provider: &str, datasource: &str, props: &Map<String, Value>) -> String {
    let mut s = format!("CUSTOM CONNECT TO \"provider={provider};sourceType={datasource};");
    for (k, v) in props {
        if k.eq_ignore_ascii_case("password") || k.eq_ignore_ascii_case("secret") {
            continue;
        }
        let text = match v {
            Value::String(t) => t.clone(),
            other => other.to_string(),
        };
        s.push_str(&format!("{k}={text};"));
    }
    s.push('"');
    s
}

async fn create_connection(
    AxState(shared): AxState<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> ApiResult {
    let Value::Object(body) = parse_body(&body)? else {
        return Err(ApiError::bad_request(
            "The request body must be a JSON object",
        ));
    };
    let name = required_string(&body, "qName")?;
    let dcaas =
        body.contains_key("connectionProperties") && !body.contains_key("qConnectStatement");
    let datasource = match opt_string(&body, "datasourceID")? {
        Some(d) if !d.trim().is_empty() => d,
        _ => match opt_string(&body, "dataSourceId")? {
            Some(d) if !d.trim().is_empty() => d,
            _ => {
                return Err(ApiError::bad_request(
                    "Field datasourceID is missing in the request",
                ))
            }
        },
    };
    let (q_type, statement) = if dcaas {
        let props = match body.get("connectionProperties") {
            Some(Value::Object(p)) => p.clone(),
            _ => {
                return Err(ApiError::bad_request(
                    "Field 'connectionProperties' must be an object",
                ))
            }
        };
        let provider = "QvWebStorageProviderConnectorPackage.exe";
        (
            provider.to_string(),
            connect_statement(provider, &datasource, &props),
        )
    } else {
        (
            required_string(&body, "qType")?,
            required_string(&body, "qConnectStatement")?,
        )
    };
    let space = opt_string(&body, "space")?.filter(|s| !s.is_empty());
    let log_on = log_on_value(body.get("qLogOn"))?;
    let tags = tags_value(body.get("tags"))?;

    let mut st = lock(&shared);
    if let Some(s) = &space {
        if st.space(s).is_none() {
            return Err(ApiError::not_found(format!("Space '{s}' not found")));
        }
        let roles = st.roles_in(s, &caller);
        let can_create = caller.admin
            || roles.iter().any(|r| {
                matches!(
                    *r,
                    "owner" | "producer" | "facilitator" | "publisher" | "contributor"
                )
            });
        if !can_create {
            return Err(ApiError::forbidden(format!(
                "Not allowed to create data connections in space '{s}'"
            )));
        }
    }
    let scope = scope_key(space.as_deref(), Some(&caller.user));
    if st.conns.name_taken(&scope, &name) {
        return Err(ApiError::conflict(format!(
            "A data connection named '{name}' already exists in the scope"
        )));
    }
    if body.get("authUrlOnly").and_then(Value::as_bool) == Some(true) {
        return Ok(json_response(
            StatusCode::CREATED,
            &json!({"authUrl": format!("{}/oauth/authorize?state={}", st.base_url, random_hex(24))}),
        ));
    }
    let id = match opt_string(&body, "qID")? {
        Some(q) if is_uuid(&q) && !st.conns.by_id.contains_key(q.as_str()) => q,
        Some(q) if !q.is_empty() && is_uuid(&q) => {
            return Err(ApiError::conflict(format!(
                "A data connection with id '{q}' already exists"
            )))
        }
        _ => random_uuid(),
    };
    let now = now_time();
    let mut m = Map::new();
    m.insert("created".into(), Value::from(now.clone()));
    m.insert("datasourceID".into(), Value::from(datasource.clone()));
    m.insert("id".into(), Value::from(id.clone()));
    m.insert("qArchitecture".into(), Value::from(0));
    if let Some(cred) = opt_string(&body, "qCredentialsID")?.filter(|c| !c.is_empty()) {
        m.insert("qCredentialsID".into(), Value::from(cred));
    } else if body.contains_key("qPassword") || body.contains_key("qUsername") {
        m.insert("qCredentialsID".into(), Value::from(random_uuid()));
    }
    m.insert("qConnectStatement".into(), Value::from(statement));
    m.insert("qEngineObjectID".into(), Value::from(id.clone()));
    m.insert("qID".into(), Value::from(id.clone()));
    m.insert("qLogOn".into(), Value::from(log_on));
    m.insert("qName".into(), Value::from(name));
    m.insert(
        "qSeparateCredentials".into(),
        Value::from(
            body.get("qSeparateCredentials")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        ),
    );
    m.insert("qType".into(), Value::from(q_type));
    m.insert(
        "qri".into(),
        Value::from(format!(
            "qri:db:{}://{}",
            datasource.to_lowercase(),
            random_hex(40)
        )),
    );
    if let Some(s) = &space {
        m.insert("space".into(), Value::from(s.clone()));
    }
    m.insert("tags".into(), Value::Array(tags));
    m.insert("updated".into(), Value::from(now));
    m.insert("user".into(), Value::from(caller.user.as_ref()));
    m.insert("version".into(), Value::from("V1"));
    let conn = conn_from_map(m).ok_or_else(|| ApiError::bad_request("Field qID is invalid"))?;
    st.conns.push(conn);
    if body.contains_key("qPassword") || body.contains_key("qUsername") {
        let text = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_string);
        st.credentials
            .insert(id.clone(), (text("qUsername"), text("qPassword")));
    }
    let stored = st
        .conns
        .get(&id)
        .ok_or_else(|| ApiError::not_found(format!("Data connection '{id}' not found")))?;
    let mut out = st.render(stored, &caller, Render::One);
    if let Value::Object(o) = &mut out {
        o.insert("qCredentialsName".into(), Value::from(""));
        o.insert("qReferenceKey".into(), Value::from(""));
    }
    Ok(json_response(StatusCode::CREATED, &out))
}

/// Apply a JSON-Patch array (`add`/`replace`/`remove` on `/qName`, `/tags`, `/qUsername`,
/// `/qPassword`, `/qConnectStatement`, `/connectionProperties/<prop>`) with Qlik's validation
/// rules: 400 for `qConnectStatement` with `connectionProperties`, for a new target (statement
/// or host/server/url) without a password in the same request, for a password given twice;
/// 409 for a rename onto a name taken in the scope; 204 without a body. Each operation's value
/// may be spelled `value` or `Value` (the guide's spelling). A target change on a connection
/// with separate credentials detaches its `qCredentialsID`. Nothing is stored on a refusal.
async fn patch_connection(
    AxState(shared): AxState<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(segment): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> ApiResult {
    let pairs = parse_query(query.as_deref());
    let body = parse_body(&body)?;
    let Value::Array(ops) = &body else {
        return Err(ApiError::bad_request(
            "The request body must be a JSON-Patch array",
        ));
    };
    let mut st = lock(&shared);
    let id = resolve(&st, &caller, &segment, &pairs)?;
    {
        let c = st
            .conns
            .get(&id)
            .ok_or_else(|| ApiError::not_found(format!("Data connection '{id}' not found")))?;
        if c.datafiles || !st.privileges(c, &caller).contains(&"update") {
            return Err(ApiError::forbidden(format!(
                "Not allowed to update data connection '{id}'"
            )));
        }
    }
    st.patches.push((id.to_string(), body.clone()));
    let mut new_name = None;
    let mut new_tags = None;
    let mut new_statement = None;
    let mut props: Vec<(String, Value)> = Vec::new();
    let mut password: Option<String> = None;
    let mut username: Option<Option<String>> = None;
    for op in ops {
        let kind = op.get("op").and_then(Value::as_str).unwrap_or("");
        if !matches!(kind, "add" | "replace" | "remove") {
            return Err(ApiError::bad_request(format!(
                "Unsupported patch operation '{kind}'"
            )));
        }
        let path = op.get("path").and_then(Value::as_str).unwrap_or("");
        let value = op
            .get("value")
            .or_else(|| op.get("Value"))
            .cloned()
            .unwrap_or(Value::Null);
        match path {
            "/qName" => match value.as_str().map(str::trim) {
                Some(n) if !n.is_empty() && kind != "remove" => new_name = Some(n.to_string()),
                _ => {
                    return Err(ApiError::bad_request(
                        "'/qName' needs a non-empty string value",
                    ))
                }
            },
            "/tags" => {
                new_tags = Some(if kind == "remove" {
                    Vec::new()
                } else {
                    tags_value(Some(&value))?
                })
            }
            "/qPassword" => match value.as_str() {
                Some(p) if !p.is_empty() && kind != "remove" => password = Some(p.to_string()),
                _ => {
                    return Err(ApiError::bad_request(
                        "'/qPassword' needs a non-empty string value",
                    ))
                }
            },
            "/qUsername" => match (kind, value.as_str()) {
                ("remove", _) => username = Some(None),
                (_, Some(u)) => username = Some(Some(u.to_string())),
                _ => return Err(ApiError::bad_request("'/qUsername' needs a string value")),
            },
            "/qConnectStatement" => match value.as_str() {
                Some(s) if !s.trim().is_empty() => new_statement = Some(s.to_string()),
                _ => {
                    return Err(ApiError::bad_request(
                        "'/qConnectStatement' needs a non-empty string value",
                    ))
                }
            },
            p => match p.strip_prefix("/connectionProperties/") {
                Some(prop) if !prop.is_empty() => props.push((prop.to_string(), value)),
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "Unsupported patch path '{p}'"
                    )))
                }
            },
        }
    }
    let prop_password = props
        .iter()
        .any(|(p, _)| p.eq_ignore_ascii_case("password"));
    if new_statement.is_some() && !props.is_empty() {
        return Err(ApiError::bad_request(
            "qConnectStatement and connectionProperties cannot be changed in the same request",
        ));
    }
    if password.is_some() && prop_password {
        return Err(ApiError::bad_request(
            "The password must be given either as /qPassword or in connectionProperties, not both",
        ));
    }
    let moves_target = new_statement.is_some()
        || props
            .iter()
            .any(|(p, _)| matches!(p.to_ascii_lowercase().as_str(), "host" | "server" | "url"));
    if moves_target && !(password.is_some() || prop_password) {
        return Err(ApiError::bad_request(
            "Changing the connection target requires credentials in the same request",
        ));
    }
    if let Some(n) = &new_name {
        let c = st
            .conns
            .get(&id)
            .ok_or_else(|| ApiError::not_found(format!("Data connection '{id}' not found")))?;
        let scope = scope_key(c.space.as_deref(), c.user.as_deref());
        if *n != c.name && st.conns.name_taken(&scope, n) {
            return Err(ApiError::conflict(format!(
                "A data connection named '{n}' already exists in the scope"
            )));
        }
        st.conns.rename(&id, n);
    }
    if password.is_some() || username.is_some() || prop_password {
        let entry = st.credentials.entry(id.to_string()).or_default();
        if let Some(u) = username {
            entry.0 = u;
        }
        if let Some(p) = password {
            entry.1 = Some(p);
        }
        for (p, v) in &props {
            match (p.to_ascii_lowercase().as_str(), v.as_str()) {
                ("password", Some(v)) => entry.1 = Some(v.to_string()),
                ("username", Some(v)) => entry.0 = Some(v.to_string()),
                _ => {}
            }
        }
    }
    let now = now_time();
    let Some(c) = st.conns.get_mut(&id) else {
        return Err(ApiError::not_found(format!(
            "Data connection '{id}' not found"
        )));
    };
    if let Held::Generated(n) = c.body {
        c.body = Held::Json(render_generated(c, n));
    }
    c.updated = Some(now.clone());
    if let Held::Json(m) = &mut c.body {
        if let Some(t) = new_tags {
            m.insert("tags".into(), Value::Array(t));
        }
        if let Some(s) = new_statement {
            m.insert("qConnectStatement".into(), Value::from(s));
        }
        if !props.is_empty() {
            let dsid = m
                .get("datasourceID")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let mut current = Map::new();
            for (p, v) in props {
                if !v.is_null() {
                    current.insert(p, v);
                }
            }
            let provider = m
                .get("qType")
                .and_then(Value::as_str)
                .unwrap_or("QvWebStorageProviderConnectorPackage.exe")
                .to_string();
            m.insert(
                "qConnectStatement".into(),
                Value::from(connect_statement(&provider, &dsid, &current)),
            );
        }
        let separate = m.get("qSeparateCredentials").and_then(Value::as_bool) == Some(true);
        if moves_target && separate {
            m.remove("qCredentialsID");
        }
        m.insert("updated".into(), Value::from(now));
    }
    Ok(kit::no_content())
}

// ---------------------------------------------------------------------------------------------
// Spaces and users
// ---------------------------------------------------------------------------------------------

fn render_space(st: &SimState, s: &Value, caller: &Caller) -> Value {
    let mut m = s.as_object().cloned().unwrap_or_default();
    let id = str_field(s, "id").unwrap_or("").to_string();
    let roles: Vec<&str> = if caller.admin {
        vec!["producer"]
    } else {
        st.roles_in(&id, caller)
    };
    m.insert(
        "meta".into(),
        json!({
            "actions": ["read"],
            "roles": roles,
            "assignableRoles": ["consumer", "contributor", "dataconsumer", "facilitator", "producer"],
        }),
    );
    m.insert(
        "links".into(),
        json!({
            "self": {"href": format!("{}{SPACES_PATH}/{id}", st.base_url)},
            "assignments": {"href": format!("{}{SPACES_PATH}/{id}/assignments", st.base_url)},
        }),
    );
    Value::Object(m)
}

fn space_error(status: StatusCode, detail: String) -> ApiError {
    let (code, title) = match status {
        StatusCode::NOT_FOUND => ("SPACES-404", "Space not found"),
        StatusCode::FORBIDDEN => ("SPACES-403", "Forbidden"),
        _ => ("SPACES-400", "Bad request"),
    };
    ApiError::plain(status, code, title, Some(detail))
}

async fn list_spaces(
    AxState(shared): AxState<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    RawQuery(query): RawQuery,
) -> ApiResult {
    let pairs = parse_query(query.as_deref());
    let limit = query_limit(&pairs)
        .map_err(|e| space_error(StatusCode::BAD_REQUEST, e.detail.unwrap_or_default()))?
        .unwrap_or(SPACES_DEFAULT_LIMIT);
    let offset = match query_value(&pairs, "next")
        .or_else(|| query_value(&pairs, "prev"))
        .filter(|c| !c.is_empty())
    {
        Some(c) => b64url_decode(c)
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.strip_prefix("o:").and_then(|n| n.parse::<usize>().ok()))
            .ok_or_else(|| space_error(StatusCode::BAD_REQUEST, format!("Invalid cursor '{c}'")))?,
        None => 0,
    };
    let name = query_value(&pairs, "name").map(str::to_lowercase);
    let types: Option<Vec<String>> = query_value(&pairs, "type")
        .filter(|t| !t.is_empty())
        .map(|t| t.split(',').map(|s| s.trim().to_string()).collect());
    let st = lock(&shared);
    let all: Vec<&Value> = st
        .spaces
        .iter()
        .filter(|s| st.space_visible(str_field(s, "id").unwrap_or(""), &caller))
        .filter(|s| {
            name.as_ref().is_none_or(|n| {
                str_field(s, "name").is_some_and(|sn| sn.to_lowercase().contains(n.as_str()))
            })
        })
        .filter(|s| {
            types
                .as_ref()
                .is_none_or(|ts| str_field(s, "type").is_some_and(|t| ts.iter().any(|x| x == t)))
        })
        .collect();
    let total = all.len();
    let start = offset.min(total);
    let end = (start + limit).min(total);
    let data: Vec<Value> = all[start..end]
        .iter()
        .map(|s| render_space(&st, s, &caller))
        .collect();
    let keep: Vec<(String, String)> = pairs
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "next" | "prev" | "limit"))
        .cloned()
        .collect();
    let href = |cursor: Option<(&str, usize)>| {
        let mut p = keep.clone();
        p.push(("limit".into(), limit.to_string()));
        if let Some((k, o)) = cursor {
            p.push((k.to_string(), b64url_encode(format!("o:{o}").as_bytes())));
        }
        format!("{}{SPACES_PATH}?{}", st.base_url, encode_query(&p))
    };
    let mut links = Map::new();
    links.insert("self".into(), json!({"href": href(None)}));
    if end < total {
        links.insert("next".into(), json!({"href": href(Some(("next", end)))}));
    }
    if start > 0 {
        links.insert(
            "prev".into(),
            json!({"href": href(Some(("prev", start.saturating_sub(limit))))}),
        );
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({"data": data, "links": links, "meta": {"count": total}}),
    ))
}

async fn get_space(
    AxState(shared): AxState<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult {
    let st = lock(&shared);
    let s = st
        .space(&id)
        .ok_or_else(|| space_error(StatusCode::NOT_FOUND, format!("Space '{id}' not found")))?;
    if !st.space_visible(&id, &caller) {
        return Err(space_error(
            StatusCode::FORBIDDEN,
            format!("No access to space '{id}'"),
        ));
    }
    Ok(json_response(
        StatusCode::OK,
        &render_space(&st, s, &caller),
    ))
}

fn render_user(st: &SimState, u: &Value) -> Value {
    let mut m = u.as_object().cloned().unwrap_or_default();
    let id = str_field(u, "id").unwrap_or("").to_string();
    m.insert(
        "links".into(),
        json!({"self": {"href": format!("{}/api/v1/users/{id}", st.base_url)}}),
    );
    Value::Object(m)
}

/// One clause of a users `filter`: `field op "value"` (`eq`, `co`, `sw`; case ignored).
fn user_matches(u: &Value, clause: &str) -> Result<bool, ApiError> {
    let bad = || {
        ApiError::plain(
            StatusCode::BAD_REQUEST,
            "USERS-400",
            "Bad request",
            Some(format!("Invalid filter clause '{clause}'")),
        )
    };
    let mut parts = clause.trim().splitn(3, ' ');
    let (Some(field), Some(op), Some(value)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    let value = value
        .trim()
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .ok_or_else(bad)?
        .to_lowercase();
    if !matches!(field, "id" | "name" | "email" | "subject" | "status") {
        return Err(bad());
    }
    let have = str_field(u, field).unwrap_or("").to_lowercase();
    match op.to_ascii_lowercase().as_str() {
        "eq" => Ok(have == value),
        "co" => Ok(have.contains(&value)),
        "sw" => Ok(have.starts_with(&value)),
        _ => Err(bad()),
    }
}

/// `GET /api/v1/users?filter=...&limit=N`: the tenant's users matching a SCIM-like filter
/// (`email eq "a@b"`, clauses joined by ` or `), one page (`limit` default 20, max 100).
async fn list_users(
    AxState(shared): AxState<Arc<Shared>>,
    Extension(_caller): Extension<Caller>,
    RawQuery(query): RawQuery,
) -> ApiResult {
    let pairs = parse_query(query.as_deref());
    let limit = query_limit(&pairs)
        .map_err(|e| {
            ApiError::plain(
                StatusCode::BAD_REQUEST,
                "USERS-400",
                "Bad request",
                e.detail,
            )
        })?
        .unwrap_or(20);
    let filter = query_value(&pairs, "filter")
        .unwrap_or("")
        .trim()
        .to_string();
    let clauses: Vec<String> = if filter.is_empty() {
        Vec::new()
    } else {
        filter
            .split(" or ")
            .flat_map(|c| c.split(" OR "))
            .map(str::to_string)
            .collect()
    };
    let st = lock(&shared);
    let mut data = Vec::new();
    for u in &st.users {
        let mut keep = clauses.is_empty();
        for c in &clauses {
            if user_matches(u, c)? {
                keep = true;
            }
        }
        if keep && data.len() < limit {
            data.push(render_user(&st, u));
        }
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "data": data,
            "links": {"self": {"href": format!("{}/api/v1/users", st.base_url)}},
        }),
    ))
}

async fn get_me(
    AxState(shared): AxState<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
) -> ApiResult {
    let st = lock(&shared);
    let u = st
        .user(&caller.user)
        .ok_or_else(|| ApiError::plain(StatusCode::NOT_FOUND, "USERS-404", "Not found", None))?;
    Ok(json_response(StatusCode::OK, &render_user(&st, u)))
}

async fn get_user(
    AxState(shared): AxState<Arc<Shared>>,
    Extension(_caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult {
    let st = lock(&shared);
    let u = st.user(&id).ok_or_else(|| {
        ApiError::plain(
            StatusCode::NOT_FOUND,
            "USERS-404",
            "Not found",
            Some(format!("User '{id}' not found")),
        )
    })?;
    Ok(json_response(StatusCode::OK, &render_user(&st, u)))
}

// ---------------------------------------------------------------------------------------------
// Items and lineage
// ---------------------------------------------------------------------------------------------

fn items_error(detail: String) -> ApiError {
    ApiError::plain(
        StatusCode::BAD_REQUEST,
        "ITEMS-400",
        "Bad request",
        Some(detail),
    )
}

/// `GET /api/v1/items`: the app items the caller can see, filtered, paged with `limit`
/// (default 10, at most 100) and an opaque `next`/`prev` cursor in absolute links.
async fn list_items(
    AxState(shared): AxState<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    RawQuery(query): RawQuery,
) -> ApiResult {
    let pairs = parse_query(query.as_deref());
    let limit = query_limit(&pairs)
        .map_err(|e| items_error(e.detail.unwrap_or_default()))?
        .unwrap_or(ITEMS_DEFAULT_LIMIT);
    let offset = match query_value(&pairs, "next")
        .or_else(|| query_value(&pairs, "prev"))
        .filter(|c| !c.is_empty())
    {
        Some(c) => lin::decode_items_cursor(c)
            .ok_or_else(|| items_error(format!("Invalid cursor '{c}'")))?,
        None => 0,
    };
    let text = |k: &str| {
        query_value(&pairs, k)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let filter = lin::ItemsQuery {
        resource_type: text("resourceType"),
        space_id: text("spaceId"),
        owner_id: text("ownerId"),
        space_type: text("spaceType"),
        name: text("name"),
    };
    let no_actions =
        query_bool(&pairs, "noActions").map_err(|e| items_error(e.detail.unwrap_or_default()))?;
    let st = lock(&shared);
    let all: Vec<&Value> = st
        .apps
        .iter()
        .filter(|a| st.item_visible(a, &caller) && filter.matches(a))
        .collect();
    let total = all.len();
    let start = offset.min(total);
    let end = (start + limit).min(total);
    let data: Vec<Value> = all[start..end]
        .iter()
        .map(|a| lin::render_item(&st.base_url, a, no_actions))
        .collect();
    let keep: Vec<(String, String)> = pairs
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "next" | "prev" | "limit"))
        .cloned()
        .collect();
    let href = |cursor: Option<(&str, usize)>| {
        let mut p = keep.clone();
        p.push(("limit".into(), limit.to_string()));
        if let Some((k, o)) = cursor {
            p.push((k.to_string(), lin::encode_items_cursor(o)));
        }
        format!("{}{ITEMS_PATH}?{}", st.base_url, encode_query(&p))
    };
    let mut links = Map::new();
    links.insert("self".into(), json!({"href": href(None)}));
    if end < total {
        links.insert("next".into(), json!({"href": href(Some(("next", end)))}));
    }
    if start > 0 {
        links.insert(
            "prev".into(),
            json!({"href": href(Some(("prev", start.saturating_sub(limit))))}),
        );
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({"data": data, "links": links}),
    ))
}

fn lineage_error(status: StatusCode, title: &str, detail: Option<String>) -> ApiError {
    ApiError {
        status,
        code: format!("LINEAGE-{}", status.as_u16()),
        title: title.to_string(),
        detail,
        form: ErrorForm::Gateway,
        retry_after: None,
    }
}

/// `GET /api/v1/lineage-graphs/impact/{qri}/...`: the QRI percent-encoded as one segment
/// or raw; Tenant Admin only; the configured graph, an empty one for a known QRI without
/// one, 404 for anything else.
async fn lineage_impact(
    AxState(shared): AxState<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    uri: axum::http::Uri,
) -> ApiResult {
    let bad = |d: String| lineage_error(StatusCode::BAD_REQUEST, "Bad Request", Some(d));
    let not_found = || lineage_error(StatusCode::NOT_FOUND, "The record is not found", None);
    let Some((qri, route)) = lin::parse_impact_path(uri.path()) else {
        return Err(not_found());
    };
    let pairs = parse_query(uri.query());
    let down = lin::parse_down(query_value(&pairs, "down")).map_err(bad)?;
    if !caller.admin {
        return Err(lineage_error(
            StatusCode::FORBIDDEN,
            "Forbidden",
            Some("User does not have access to the node".into()),
        ));
    }
    let st = lock(&shared);
    let nodes: Vec<LineageNode> = match st.lineage.answers.get(&qri) {
        Some(LineageAnswer::Forbidden) => {
            return Err(lineage_error(
                StatusCode::FORBIDDEN,
                "Forbidden",
                Some("User does not have access to the node".into()),
            ))
        }
        Some(LineageAnswer::Missing) => return Err(not_found()),
        Some(LineageAnswer::Graph(nodes)) => nodes.clone(),
        None => {
            let known_app = qri.strip_prefix("qri:app:sense://").is_some_and(|id| {
                st.apps
                    .iter()
                    .any(|a| str_field(a, "resourceId") == Some(id))
            });
            if st.conn_by_qri(&qri).is_none() && !known_app {
                return Err(not_found());
            }
            Vec::new()
        }
    };
    let body = match route {
        lin::ImpactRoute::Overview => lin::overview(&qri, &nodes, down, st.lineage.nodes_as_string),
        lin::ImpactRoute::Source => {
            let label = st
                .conn_by_qri(&qri)
                .map(|c| c.name.clone())
                .unwrap_or_default();
            lin::source(&qri, &label)
        }
        lin::ImpactRoute::Expand => lin::expand(
            &qri,
            &nodes,
            query_value(&pairs, "node"),
            query_value(&pairs, "level"),
        )
        .map_err(bad)?,
        lin::ImpactRoute::Search => {
            lin::search(&qri, &nodes, query_value(&pairs, "filter"), down).map_err(bad)?
        }
    };
    Ok(json_response(StatusCode::OK, &body))
}

// ---------------------------------------------------------------------------------------------
// Scale: deterministic generated connections
// ---------------------------------------------------------------------------------------------

/// (datasourceID, qType, connect statement body) of generated connections.
const GENERATED_TYPES: &[(&str, &str, &str)] = &[
    (
        "snowflake",
        "QvOdbcConnectorPackage.exe",
        "driver=snowflake;server=gen.eu-west-1.snowflakecomputing.com;warehouse=GEN_WH;",
    ),
    (
        "postgres",
        "QvOdbcConnectorPackage.exe",
        "driver=postgres;host=gen.db.acme.internal;port=5432;",
    ),
    (
        "rest",
        "QvRestConnector.exe",
        "url=https://api.gen.example.com/v1;timeout=30;method=GET;",
    ),
    (
        "File_AmazonS3ConnectorV2",
        "QvWebStorageProviderConnectorPackage.exe",
        "sourceType=File_AmazonS3ConnectorV2;region=eu-west-1;",
    ),
    (
        "DG_mssql",
        "QlikConnectorsCommonService.exe",
        "sourceType=DG_mssql;host=gen-sql.acme.internal;port=1433;",
    ),
];

/// Owners of generated connections.
const GENERATED_OWNERS: &[&str] = &[
    ADMIN_USER_ID,
    NON_ADMIN_USER_ID,
    "6422bc5e43af68ebe8abbc9d",
    "6422bd0143af68ebe8abbd44",
];

/// First second of 2021 and the span of generated timestamps (to the end of October 2026).
const GENERATED_EPOCH: i64 = 1_609_459_200;
const GENERATED_SPAN: u64 = 1_793_491_200 - 1_609_459_200;

fn generated_time(tag: u64, n: u32, not_before: i64) -> String {
    let r = splitmix64(tag ^ (u64::from(n) << 8) ^ 0x71_1C);
    let span_left = (GENERATED_EPOCH + GENERATED_SPAN as i64 - not_before).max(1) as u64;
    let secs = not_before.saturating_add((r % span_left) as i64);
    chrono::DateTime::<chrono::Utc>::from_timestamp(secs, (r % 1000) as u32 * 1_000_000)
        .map(format_time)
        .unwrap_or_else(now_time)
}

fn render_generated(c: &Conn, n: u32) -> Map<String, Value> {
    let (dsid, q_type, stmt) = GENERATED_TYPES[n as usize % GENERATED_TYPES.len()];
    let mut m = Map::new();
    if let Some(t) = &c.created {
        m.insert("created".into(), Value::from(t.clone()));
    }
    m.insert("datasourceID".into(), Value::from(dsid));
    m.insert("id".into(), Value::from(c.id.as_ref()));
    m.insert("qArchitecture".into(), Value::from(0));
    m.insert(
        "qConnectStatement".into(),
        Value::from(format!("CUSTOM CONNECT TO \"provider={q_type};{stmt}\"")),
    );
    m.insert("qEngineObjectID".into(), Value::from(c.id.as_ref()));
    m.insert("qID".into(), Value::from(c.id.as_ref()));
    m.insert("qLogOn".into(), Value::from(i64::from(n.is_multiple_of(2))));
    m.insert("qName".into(), Value::from(c.name.clone()));
    m.insert("qSeparateCredentials".into(), Value::from(false));
    m.insert("qType".into(), Value::from(q_type));
    m.insert("qri".into(), Value::from(generated_qri(n)));
    if let Some(s) = &c.space {
        m.insert("space".into(), Value::from(s.as_ref()));
    }
    m.insert("tags".into(), Value::Array(Vec::new()));
    if let Some(t) = &c.updated {
        m.insert("updated".into(), Value::from(t.clone()));
    }
    if let Some(u) = &c.user {
        m.insert("user".into(), Value::from(u.as_ref()));
    }
    m.insert("version".into(), Value::from("V1"));
    m
}

fn generated_qri(n: u32) -> String {
    let (dsid, _, _) = GENERATED_TYPES[n as usize % GENERATED_TYPES.len()];
    format!("qri:db:{}://gen{:08x}", dsid.to_lowercase(), n)
}

/// Add generated connections, spread over the seeded spaces and a few owners, until the
/// tenant holds `scale` connections.
fn generate(st: &mut SimState, scale: usize) {
    let scale = scale.min(MAX_SCALE);
    let extra = scale.saturating_sub(st.conns.live);
    let space_ids: Vec<Arc<str>> = st
        .spaces
        .iter()
        .filter_map(|s| str_field(s, "id"))
        .map(Arc::from)
        .collect();
    if extra == 0 || space_ids.is_empty() {
        return;
    }
    st.conns.slots.reserve(extra);
    st.conns.by_id.reserve(extra);
    st.conns.by_name.reserve(extra);
    for i in 0..extra {
        let n = u32::try_from(i).unwrap_or(u32::MAX);
        let mut salt = 0u64;
        let id = loop {
            let id = uuid_from(
                splitmix64(0x0A11_CE00 ^ u64::from(n) ^ (salt << 40)),
                splitmix64(0xB0B0_0000 ^ u64::from(n) ^ (salt << 40)),
            );
            if !st.conns.by_id.contains_key(id.as_str()) {
                break id;
            }
            salt += 1;
        };
        let created = generated_time(1, n, GENERATED_EPOCH);
        let created_secs = chrono::DateTime::parse_from_rfc3339(&created)
            .map(|t| t.timestamp())
            .unwrap_or(GENERATED_EPOCH);
        let updated = generated_time(2, n, created_secs);
        st.conns.push(Conn {
            seq: 0,
            id: Arc::from(id.as_str()),
            name: format!("Generated Connection {:05}", u64::from(n) + 1),
            space: Some(space_ids[i % space_ids.len()].clone()),
            user: Some(Arc::from(
                GENERATED_OWNERS[(i / 3) % GENERATED_OWNERS.len()],
            )),
            datafiles: false,
            created: Some(created),
            updated: Some(updated),
            body: Held::Generated(n),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> SimState {
        SimState::from_seed(&SimOptions::default(), "http://127.0.0.1:1").expect("seed")
    }

    #[test]
    fn seed_has_the_documented_mix() {
        let st = state();
        assert!(st.spaces.len() >= 3);
        let types: HashSet<&str> = st
            .spaces
            .iter()
            .filter_map(|s| str_field(s, "type"))
            .collect();
        assert!(
            types.contains("shared") && types.contains("managed"),
            "{types:?}"
        );
        let conns: Vec<&Conn> = st.conns.entries().collect();
        assert!(conns.len() >= 25);
        // One DataFiles connection per space.
        let datafiles: HashSet<&str> = conns
            .iter()
            .filter(|c| c.datafiles)
            .filter_map(|c| c.space.as_deref())
            .collect();
        assert_eq!(datafiles.len(), st.spaces.len());
        assert!(
            conns.iter().any(|c| c.space.is_none()),
            "personal connections"
        );
        let owners: HashSet<&str> = conns.iter().filter_map(|c| c.user.as_deref()).collect();
        assert!(owners.len() >= 4);
        // The same name lives in two spaces.
        let name_spaces: HashSet<&str> = conns
            .iter()
            .filter(|c| c.name == "Snowflake_Warehouse")
            .filter_map(|c| c.space.as_deref())
            .collect();
        assert_eq!(name_spaces.len(), 2);
        for c in &conns {
            assert!(is_uuid(&c.id), "{}", c.id);
        }
    }

    #[test]
    fn admin_and_analyst_see_different_things() {
        let st = state();
        let admin = st.caller_of_token(DEMO_TOKEN).unwrap();
        let analyst = st.caller_of_token(NON_ADMIN_TOKEN).unwrap();
        assert!(admin.admin && !analyst.admin);
        let seen = |c: &Caller| st.conns.entries().filter(|x| st.visible(x, c)).count();
        assert!(seen(&admin) > seen(&analyst));
        // Personal connections: only their owner.
        for c in st.conns.entries().filter(|c| c.space.is_none()) {
            let owner = c.user.as_deref().unwrap();
            assert_eq!(st.visible(c, &admin), owner == ADMIN_USER_ID, "{}", c.name);
            assert_eq!(
                st.visible(c, &analyst),
                owner == NON_ADMIN_USER_ID,
                "{}",
                c.name
            );
        }
        // DataFiles are read-only for everyone.
        let df = st.conns.entries().find(|c| c.datafiles).unwrap();
        assert_eq!(st.privileges(df, &admin), vec!["read"]);
        // The analyst can delete in a space where he produces, not where he consumes.
        let produce = st
            .conns
            .entries()
            .find(|c| c.name == "SAP_HANA_Finance")
            .unwrap();
        assert!(st.privileges(produce, &analyst).contains(&"delete"));
        let consume = st
            .conns
            .entries()
            .find(|c| c.name == "Salesforce_Prod")
            .unwrap();
        assert_eq!(st.privileges(consume, &analyst), vec!["list", "read"]);
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let c = Cursor {
            forward: true,
            at: Position {
                phase: 1,
                key: "Name|with|bars é".into(),
                seq: 42,
            },
        };
        let enc = encode_cursor(&c);
        assert!(enc.bytes().all(|b| B64URL.contains(&b)), "{enc}");
        assert_eq!(decode_cursor(&enc), Some(c));
        assert_eq!(decode_cursor("!!"), None);
        assert_eq!(decode_cursor(&b64url_encode(b"x|1|2|k")), None);
        assert_eq!(b64url_decode(&b64url_encode(b"ab")), Some(b"ab".to_vec()));
    }

    #[test]
    fn rate_window_admits_capacity_then_blocks_the_tier() {
        let mut st = state();
        st.limits = RateLimits {
            reads_per_minute: 0,
            writes_per_minute: 2,
            window: Duration::from_secs(60),
            lineage_limit: 0,
            lineage_window: Duration::from_secs(60),
        };
        let u: Arc<str> = Arc::from(ADMIN_USER_ID);
        let t0 = Instant::now();
        assert_eq!(st.admit(&u, Tier::Write, t0), Ok(()));
        assert_eq!(
            st.admit(&u, Tier::Write, t0 + Duration::from_secs(10)),
            Ok(())
        );
        assert_eq!(
            st.admit(&u, Tier::Write, t0 + Duration::from_secs(20)),
            Err(40)
        );
        // Blocked until the retry-after passes, even though the window frees up earlier
        // for nobody else.
        assert_eq!(
            st.admit(&u, Tier::Write, t0 + Duration::from_secs(59)),
            Err(1)
        );
        assert_eq!(
            st.admit(&u, Tier::Write, t0 + Duration::from_secs(61)),
            Ok(())
        );
        // Reads are another tier, unlimited here.
        assert_eq!(
            st.admit(&u, Tier::Read, t0 + Duration::from_secs(20)),
            Ok(())
        );
    }

    #[test]
    fn generated_connections_fill_up_to_the_scale() {
        let opts = SimOptions {
            scale: 300,
            ..SimOptions::default()
        };
        let st = SimState::from_seed(&opts, "http://h").unwrap();
        assert_eq!(st.conns.live, 300);
        let g = st
            .conns
            .entries()
            .find(|c| matches!(c.body, Held::Generated(_)))
            .unwrap();
        let admin = st.caller_of_token(DEMO_TOKEN).unwrap();
        let v = st.render(g, &admin, Render::One);
        assert_eq!(v["qID"], v["id"]);
        assert_eq!(
            v["links"]["self"]["href"],
            format!("http://h{CONNECTIONS_PATH}/{}", g.id)
        );
        assert!(v["created"].as_str().unwrap() <= v["updated"].as_str().unwrap());
    }
}
