//! Simulated MicroStrategy Library REST API: sessions, datasources, connections and logins.
//!
//! The server keeps every object in the vendor's wire format (JSON text seeded from
//! `assets/microstrategy.json`, or generated on demand when a scale is requested), never as the
//! client's types, and reproduces the behaviours a client has to cope with:
//! token plus JSESSIONID sessions that expire, 204 deletes, refusals to delete objects still
//! in use, object-404s that differ from route-404s, and failing connection tests. It is served
//! both under `/MicroStrategyLibrary/api/...` and under `/api/...`.

use std::borrow::Cow;
use std::collections::hash_map::RandomState;
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State as AxState};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::Router;
use chrono::{Datelike, Timelike};
use serde_json::{json, Map, Value};

use super::kit::{self, no_content};
use super::SimOptions;

mod search;

/// User name the simulator accepts (standard login mode).
pub const DEMO_USERNAME: &str = "administrator";
/// Password the simulator accepts.
pub const DEMO_PASSWORD: &str = "demo-password";

const CONTEXT_PATH: &str = "/MicroStrategyLibrary";
const SEED: &str = include_str!("../../assets/microstrategy.json");
const AUTH_TOKEN_HEADER: &str = "x-mstr-authtoken";
const JSON_CONTENT_TYPE: &str = "application/json;charset=UTF-8";
const MAX_LOGIN_BODY: usize = 64 * 1024;
/// The request log keeps the most recent requests only, so a long demo cannot grow it without
/// bound.
const MAX_LOGGED_REQUESTS: usize = 1_000_000;

const SESSION_EXPIRED: &str = "The user's session has expired, please reauthenticate";
const ISERVER_NOT_FOUND: i64 = -2_147_216_373;
const ISERVER_IN_USE: i64 = -2_147_217_387;
const ISERVER_EXISTS: i64 = -2_147_216_959;
const ISERVER_TEST_FAILED: i64 = -2_147_212_544;
const DEFAULT_SESSION_TIMEOUT_SECS: u64 = 1800;

const ADMIN_ID: &str = "54F3D26011D2896560009A8E67019608";
const ADMIN_NAME: &str = "Administrator";
const SERVER_VERSION: &str = "11.5.0600.0117";
const WEB_VERSION: &str = "11.5.0600.0117J";

// ---------------------------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------------------------

/// A running MicroStrategy simulator.
#[derive(Debug)]
pub struct MstrSim {
    /// `http://127.0.0.1:PORT/MicroStrategyLibrary`
    pub base_url: String,
    /// Knobs and inspection of the simulator's state.
    pub control: MstrControl,
}

impl MstrSim {
    /// Stop serving: the listener closes once in-flight requests have finished.
    pub fn shutdown(&self) {
        self.control.shutdown();
    }
}

/// Cloneable handle to the simulator's state. The server runs while any handle is alive.
/// Derefs to the kit's control core: `requests`, `clear_requests`, `set_latency` and the
/// shared fault layer `faults`.
#[derive(Clone)]
pub struct MstrControl {
    shared: Arc<Shared>,
    core: kit::Control,
}

kit::control_handle!(MstrControl, kit::Control);

/// One request the simulator answered.
pub type SimRequest = kit::SimRequest;

impl MstrControl {
    /// Content using `datasource` in `project`: counts of reports, dashboards, documents,
    /// cubes and datamarts (the search finds them only while the datasource is attached).
    pub fn set_content(&self, project: &str, datasource: &str, counts: [usize; 5]) {
        lock(&self.shared)
            .searches
            .set_content(project, datasource, counts);
    }

    /// Every metadata-search call waits this long before answering (a large project).
    pub fn set_search_delay(&self, d: Option<Duration>) {
        lock(&self.shared).searches.set_delay(d);
    }

    /// The most search calls one session ever had in flight at the same time.
    pub fn max_concurrent_searches(&self) -> usize {
        lock(&self.shared).searches.max_in_flight()
    }

    /// Searches stored (POSTs answered) so far.
    pub fn searches_run(&self) -> usize {
        lock(&self.shared).searches.posts
    }

    /// Invalidate every session: the next call with any old token gets 401 ERR009.
    pub fn expire_all_sessions(&self) {
        lock(&self.shared).sessions.clear();
    }

    /// Sessions idle for at least this long expire (None, the default, means never).
    pub fn set_idle_timeout(&self, d: Option<Duration>) {
        lock(&self.shared).idle_timeout = d;
    }

    /// When on (the default) a token sent without its JSESSIONID cookie gets 401 ERR009.
    pub fn set_require_cookie(&self, on: bool) {
        lock(&self.shared).require_cookie = on;
    }

    /// `Some(message)`: testing this connection fails with a 400 carrying `message`;
    /// `None`: the connection tests healthy.
    pub fn set_connection_test_failure(&self, connection_id: &str, message: Option<&str>) {
        let mut st = lock(&self.shared);
        match message {
            Some(m) => {
                st.test_failures
                    .insert(connection_id.to_string(), m.to_string());
            }
            None => {
                st.test_failures.remove(connection_id);
            }
        }
    }

    /// Accept LDAP logins (login mode 16) of this directory user.
    pub fn set_ldap_user(&self, username: &str, password: &str) {
        lock(&self.shared).ldap_user = Some((username.to_string(), password.to_string()));
    }

    /// Accept this API token (login mode 4096, the token sent as `username`).
    pub fn add_api_token(&self, token: &str) {
        lock(&self.shared).api_tokens.push(token.to_string());
    }

    /// `Some(password)`: the database behind this login now expects `password`, so every
    /// connection using the login fails its test until the login's password is changed to
    /// it (`PATCH` with `/password`); `None`: no expectation.
    pub fn set_database_password(&self, login_id: &str, password: Option<&str>) {
        let mut st = lock(&self.shared);
        match password {
            Some(p) => {
                st.database_passwords
                    .insert(login_id.to_string(), p.to_string());
            }
            None => {
                st.database_passwords.remove(login_id);
            }
        }
    }

    /// The password last set on a login (by create or `PATCH`), if any.
    pub fn login_password(&self, login_id: &str) -> Option<String> {
        lock(&self.shared).passwords.get(login_id).cloned()
    }

    /// Ids currently stored for `kind` ("datasources", "connections" or "logins"), in
    /// creation order. An unknown kind has no ids.
    pub fn ids(&self, kind: &str) -> Vec<String> {
        match Kind::from_list_key(kind) {
            Some(k) => lock(&self.shared).store(k).ids(),
            None => Vec::new(),
        }
    }

    /// Whether an object of `kind` with this id is stored.
    pub fn contains(&self, kind: &str, id: &str) -> bool {
        match Kind::from_list_key(kind) {
            Some(k) => lock(&self.shared).store(k).contains(id),
            None => false,
        }
    }

    /// The stored object as the server would return it.
    pub fn object(&self, kind: &str, id: &str) -> Option<Value> {
        let k = Kind::from_list_key(kind)?;
        lock(&self.shared).object(k, id)
    }

    /// HTTP status of the refusal to delete an object still in use (default 409; the REST
    /// status is undocumented, 400 is the other plausible answer).
    pub fn set_in_use_status(&self, status: u16) {
        if let Ok(s) = StatusCode::from_u16(status) {
            lock(&self.shared).in_use_status = s;
        }
    }

    /// Names of the projects the datasource `id` is attached to, in project order.
    pub fn projects_of(&self, id: &str) -> Vec<String> {
        let st = lock(&self.shared);
        st.attached
            .get(id)
            .into_iter()
            .flatten()
            .filter_map(|&i| st.projects.get(i))
            .map(|p| p.name.to_string())
            .collect()
    }

    /// Whether the server would refuse to delete this object because something uses it
    /// (another object, a project, a connection mapping).
    pub fn in_use(&self, kind: &str, id: &str) -> bool {
        let Some(k) = Kind::from_list_key(kind) else {
            return false;
        };
        !lock(&self.shared).users_of(k, id).is_empty()
    }

    /// Number of projects served by `GET /api/projects`.
    pub fn project_count(&self) -> usize {
        lock(&self.shared).projects.len()
    }

    /// Number of successful `POST /api/auth/login` so far.
    pub fn login_count(&self) -> usize {
        lock(&self.shared).login_count
    }
}

/// Start the simulator on a random port of 127.0.0.1, serving in a background task.
pub async fn start(opts: &SimOptions) -> std::io::Result<MstrSim> {
    let state = SimState::from_seed(opts)?;
    let shared = Arc::new(Shared::new(state));
    let (listener, root) = kit::bind(opts.port).await?;
    let kit = kit::Kit::new(opts, MAX_LOGGED_REQUESTS);
    let app = router(shared.clone(), &kit);
    Ok(MstrSim {
        base_url: format!("{root}{CONTEXT_PATH}"),
        control: MstrControl {
            shared,
            core: kit.serve(listener, app, "MicroStrategy"),
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Datasource,
    Connection,
    Login,
}

const DATASOURCE: u8 = 0;
const CONNECTION: u8 = 1;
const LOGIN: u8 = 2;

impl Kind {
    fn from_const(k: u8) -> Kind {
        match k {
            DATASOURCE => Kind::Datasource,
            CONNECTION => Kind::Connection,
            _ => Kind::Login,
        }
    }

    fn from_list_key(s: &str) -> Option<Kind> {
        match s {
            "datasources" => Some(Kind::Datasource),
            "connections" => Some(Kind::Connection),
            "logins" => Some(Kind::Login),
            _ => None,
        }
    }

    fn from_object_type(t: i64) -> Option<Kind> {
        match t {
            29 => Some(Kind::Datasource),
            31 => Some(Kind::Connection),
            30 => Some(Kind::Login),
            _ => None,
        }
    }

    fn list_key(self) -> &'static str {
        match self {
            Kind::Datasource => "datasources",
            Kind::Connection => "connections",
            Kind::Login => "logins",
        }
    }

    fn object_type(self) -> i64 {
        match self {
            Kind::Datasource => 29,
            Kind::Connection => 31,
            Kind::Login => 30,
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Kind::Datasource => "datasource",
            Kind::Connection => "connection",
            Kind::Login => "login",
        }
    }

    /// The id this object references in the next kind down (datasource -> connection,
    /// connection -> login). Embedded connections are not stored, so they reference nothing.
    fn reference(self, v: &Value) -> Option<&str> {
        match self {
            Kind::Datasource => {
                let conn = v.pointer("/database/connection")?;
                if conn.get("isEmbedded").and_then(Value::as_bool) == Some(true) {
                    return None;
                }
                conn.get("id").and_then(Value::as_str)
            }
            Kind::Connection => v.pointer("/database/login/id").and_then(Value::as_str),
            Kind::Login => None,
        }
    }
}

fn object_type_label(t: i64) -> String {
    match t {
        29 => "29 (DbRole)".to_string(),
        30 => "30 (DbLogin)".to_string(),
        31 => "31 (DbConnection)".to_string(),
        32 => "32 (Project)".to_string(),
        other => other.to_string(),
    }
}

/// How an object is held: seed and created objects as their JSON text, generated ones (see
/// `generate`) as the few parameters they are rendered from, which keeps 100,000 objects per
/// kind cheap in memory and time.
enum Held {
    Json { name: Box<str>, text: Box<str> },
    Generated { n: u32, dbms: u16 },
}

/// Generated objects whose DBMS index is this have no DBMS (type "reserved").
const NO_DBMS: u16 = u16::MAX;

struct Entry {
    id: Arc<str>,
    /// The id this object references in the next kind down (see `Kind::reference`).
    reference: Option<Arc<str>>,
    /// Datasources of the same kind this one needs (`database.primaryDatasource`,
    /// `database.dataMartDatasource`); they cannot be deleted while this one exists.
    links: Option<Box<[Arc<str>]>>,
    body: Held,
}

/// The datasource ids a datasource links to (primary and data-mart datasources).
fn datasource_links(v: &Value) -> Option<Box<[Arc<str>]>> {
    let links: Vec<Arc<str>> = [
        "/database/primaryDatasource/id",
        "/database/dataMartDatasource/id",
    ]
    .iter()
    .filter_map(|p| v.pointer(p).and_then(Value::as_str))
    .filter(|id| !id.is_empty())
    .map(Arc::from)
    .collect();
    (!links.is_empty()).then(|| links.into_boxed_slice())
}

impl Entry {
    fn from_value(kind: Kind, v: &Value) -> Entry {
        Entry {
            id: Arc::from(id_of(v)),
            reference: kind.reference(v).map(Arc::from),
            links: if kind == Kind::Datasource {
                datasource_links(v)
            } else {
                None
            },
            body: Held::Json {
                name: name_of(v).into(),
                text: v.to_string().into(),
            },
        }
    }
}

fn generated_name(kind: Kind, n: u32) -> String {
    let noun = match kind {
        Kind::Datasource => "Source",
        Kind::Connection => "Connection",
        Kind::Login => "Login",
    };
    format!("Generated {noun} {:05}", u64::from(n) + 1)
}

/// Objects of one kind in creation order (deleted slots stay empty), with indexes by id, by
/// name (case-insensitive) and by the id they reference.
struct Store {
    kind: Kind,
    slots: Vec<Option<Entry>>,
    live: usize,
    by_id: HashMap<Arc<str>, usize>,
    by_name: HashMap<Box<str>, usize>,
    users_of: HashMap<Arc<str>, Vec<usize>>,
    /// Objects of this kind that link to an object of this kind (datasource → datasource).
    linked_by: HashMap<Arc<str>, Vec<usize>>,
}

fn name_key(name: &str) -> Box<str> {
    name.trim().to_lowercase().into()
}

fn id_of(v: &Value) -> &str {
    v.get("id").and_then(Value::as_str).unwrap_or("")
}

fn name_of(v: &Value) -> &str {
    v.get("name").and_then(Value::as_str).unwrap_or("")
}

impl Store {
    fn new(kind: Kind) -> Store {
        Store {
            kind,
            slots: Vec::new(),
            live: 0,
            by_id: HashMap::new(),
            by_name: HashMap::new(),
            users_of: HashMap::new(),
            linked_by: HashMap::new(),
        }
    }

    fn reserve(&mut self, extra: usize) {
        self.slots.reserve(extra);
        self.by_id.reserve(extra);
        self.by_name.reserve(extra);
    }

    fn len(&self) -> usize {
        self.live
    }

    fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.slots.iter().flatten()
    }

    fn entry(&self, id: &str) -> Option<&Entry> {
        self.by_id
            .get(id)
            .and_then(|&i| self.slots.get(i))
            .and_then(Option::as_ref)
    }

    fn contains(&self, id: &str) -> bool {
        self.by_id.contains_key(id)
    }

    fn entry_name<'a>(&self, e: &'a Entry) -> Cow<'a, str> {
        match &e.body {
            Held::Json { name, .. } => Cow::Borrowed(name),
            Held::Generated { n, .. } => Cow::Owned(generated_name(self.kind, *n)),
        }
    }

    fn name(&self, id: &str) -> Option<Cow<'_, str>> {
        self.entry(id).map(|e| self.entry_name(e))
    }

    fn ids(&self) -> Vec<String> {
        self.entries().map(|e| e.id.to_string()).collect()
    }

    /// Id of the object with this name (case-insensitive), if any.
    fn id_by_name(&self, name: &str) -> Option<&str> {
        let slot = *self.by_name.get(&name_key(name))?;
        self.slots.get(slot)?.as_ref().map(|e| &*e.id)
    }

    /// Objects that reference `target`: the name of the first one (in creation order) and
    /// how many there are.
    #[cfg(test)]
    fn users(&self, target: &str) -> Option<(String, usize)> {
        let users = self.users_of.get(target)?;
        let first = self.slots.get(*users.first()?)?.as_ref()?;
        Some((self.entry_name(first).into_owned(), users.len()))
    }

    fn user_ids(&self, target: &str) -> Vec<Arc<str>> {
        self.users_of
            .get(target)
            .map(|slots| {
                slots
                    .iter()
                    .filter_map(|&i| self.slots.get(i).and_then(Option::as_ref))
                    .map(|e| e.id.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Names of the objects of this kind that link to `target`, in creation order.
    fn linker_names(&self, target: &str) -> Vec<String> {
        self.names_in(self.linked_by.get(target))
    }

    /// Names of the objects that reference `target` (see `Kind::reference`), in creation
    /// order.
    fn user_names(&self, target: &str) -> Vec<String> {
        self.names_in(self.users_of.get(target))
    }

    /// Names of the live entries in these slots, in slot order.
    fn names_in(&self, slots: Option<&Vec<usize>>) -> Vec<String> {
        slots
            .into_iter()
            .flatten()
            .filter_map(|&i| self.slots.get(i).and_then(Option::as_ref))
            .map(|e| self.entry_name(e).into_owned())
            .collect()
    }

    fn index(&mut self, slot: usize, e: &Entry) {
        let key = name_key(&self.entry_name(e));
        self.by_name.entry(key).or_insert(slot);
        for target in e.links.iter().flatten() {
            let users = self.linked_by.entry(target.clone()).or_default();
            if let Err(pos) = users.binary_search(&slot) {
                users.insert(pos, slot);
            }
        }
        if let Some(target) = &e.reference {
            let users = self.users_of.entry(target.clone()).or_default();
            if let Err(pos) = users.binary_search(&slot) {
                users.insert(pos, slot);
            }
        }
    }

    fn unindex(&mut self, slot: usize, e: &Entry) {
        let key = name_key(&self.entry_name(e));
        if self.by_name.get(&key) == Some(&slot) {
            self.by_name.remove(&key);
        }
        for target in e.links.iter().flatten() {
            if let Some(users) = self.linked_by.get_mut(target) {
                if let Ok(pos) = users.binary_search(&slot) {
                    users.remove(pos);
                }
                if users.is_empty() {
                    self.linked_by.remove(target);
                }
            }
        }
        if let Some(target) = &e.reference {
            if let Some(users) = self.users_of.get_mut(target) {
                if let Ok(pos) = users.binary_search(&slot) {
                    users.remove(pos);
                }
                if users.is_empty() {
                    self.users_of.remove(target);
                }
            }
        }
    }

    /// Add a new object at the end. Objects without an id or with a duplicate id are ignored.
    fn push(&mut self, e: Entry) {
        if e.id.is_empty() || self.by_id.contains_key(&e.id) {
            return;
        }
        let slot = self.slots.len();
        self.index(slot, &e);
        self.by_id.insert(e.id.clone(), slot);
        self.slots.push(Some(e));
        self.live += 1;
    }

    fn insert_value(&mut self, v: &Value) {
        let e = Entry::from_value(self.kind, v);
        self.push(e);
    }

    /// Replace the stored object with the same id, keeping its position.
    fn replace_value(&mut self, v: &Value) {
        let Some(&slot) = self.by_id.get(id_of(v)) else {
            return;
        };
        let e = Entry::from_value(self.kind, v);
        if let Some(old) = self.slots.get_mut(slot).and_then(Option::take) {
            self.unindex(slot, &old);
        }
        self.index(slot, &e);
        if let Some(s) = self.slots.get_mut(slot) {
            *s = Some(e);
        }
    }

    fn remove(&mut self, id: &str) -> bool {
        let Some(slot) = self.by_id.remove(id) else {
            return false;
        };
        match self.slots.get_mut(slot).and_then(Option::take) {
            Some(old) => {
                self.unindex(slot, &old);
                self.live -= 1;
                true
            }
            None => false,
        }
    }
}

struct Session {
    cookie: String,
    last_seen: Instant,
}

/// A project: its wire object (`{id,name,alias,description,status}`) and the datasources
/// attached to it, each with `isAllowToRemove`.
struct Project {
    id: Arc<str>,
    name: Box<str>,
    wire: Value,
    datasources: Vec<(Arc<str>, bool)>,
}

/// Connection mappings: per-user ones and each project's default ones, as wire objects;
/// deleted ones leave an empty slot. `uses` indexes them by every id they reference
/// (connection, login, datasource).
#[derive(Default)]
struct Mappings {
    slots: Vec<Option<(bool, Value)>>,
    uses: HashMap<String, Vec<usize>>,
}

impl Mappings {
    fn push(&mut self, default: bool, v: Value) {
        let slot = self.slots.len();
        for p in ["/connection/id", "/login/id", "/datasource/id"] {
            if let Some(id) = v.pointer(p).and_then(Value::as_str) {
                self.uses.entry(id.to_string()).or_default().push(slot);
            }
        }
        self.slots.push(Some((default, v)));
    }

    fn live(&self) -> impl Iterator<Item = &(bool, Value)> {
        self.slots.iter().flatten()
    }

    /// Mappings that reference `id`.
    fn using(&self, id: &str) -> impl Iterator<Item = &Value> {
        self.uses
            .get(id)
            .into_iter()
            .flatten()
            .filter_map(|&i| self.slots.get(i).and_then(Option::as_ref))
            .map(|(_, v)| v)
    }

    fn remove(&mut self, id: &str) -> bool {
        match self
            .slots
            .iter_mut()
            .find(|s| s.as_ref().is_some_and(|(_, v)| id_of(v) == id))
        {
            Some(slot) => {
                *slot = None;
                true
            }
            None => false,
        }
    }
}

struct SimState {
    datasources: Store,
    connections: Store,
    logins: Store,
    projects: Vec<Project>,
    /// Datasource id → indices of the projects it is attached to.
    attached: HashMap<Arc<str>, Vec<usize>>,
    mappings: Mappings,
    /// Status of the refusal to delete an object still in use (the REST status is not
    /// documented; 409 is what servers were seen to answer).
    in_use_status: StatusCode,
    dbmss: Vec<Value>,
    /// Login passwords by login id: stored, never emitted.
    passwords: HashMap<String, String>,
    sessions: HashMap<String, Session>,
    idle_timeout: Option<Duration>,
    require_cookie: bool,
    test_failures: HashMap<String, String>,
    /// LDAP (login mode 16): the directory's user name and password, when configured.
    ldap_user: Option<(String, String)>,
    /// API tokens (login mode 4096) the server accepts.
    api_tokens: Vec<String>,
    /// Per login id, the password its database expects: a connection using the login fails
    /// its test until the login's stored password is this one (rotation, end to end).
    database_passwords: HashMap<String, String>,
    login_count: usize,
    started: Instant,
    started_epoch_ms: i64,
    /// Content objects and the per-session metadata searches over them.
    searches: search::Searches,
}

impl SimState {
    fn from_seed(opts: &SimOptions) -> std::io::Result<SimState> {
        let seed: Value = serde_json::from_str(SEED).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("bad MicroStrategy seed: {e}"),
            )
        })?;
        let mut st = SimState {
            datasources: Store::new(Kind::Datasource),
            connections: Store::new(Kind::Connection),
            logins: Store::new(Kind::Login),
            projects: Vec::new(),
            attached: HashMap::new(),
            mappings: Mappings::default(),
            in_use_status: StatusCode::CONFLICT,
            dbmss: seed
                .get("dbmss")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            passwords: HashMap::new(),
            sessions: HashMap::new(),
            idle_timeout: None,
            require_cookie: true,
            test_failures: HashMap::new(),
            database_passwords: HashMap::new(),
            ldap_user: None,
            api_tokens: Vec::new(),
            login_count: 0,
            started: Instant::now(),
            started_epoch_ms: chrono::Utc::now().timestamp_millis(),
            searches: search::Searches::from_seed(&seed),
        };
        for kind in [Kind::Login, Kind::Connection, Kind::Datasource] {
            if let Some(objects) = seed.get(kind.list_key()).and_then(Value::as_array) {
                let store = st.store_mut(kind);
                for v in objects {
                    store.insert_value(v);
                }
            }
        }
        for p in seed
            .get("projects")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let attached = p
                .get("datasources")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|a| {
                    let id = a.get("id").and_then(Value::as_str)?;
                    let allow = a.get("isAllowToRemove").and_then(Value::as_bool) != Some(false);
                    Some((Arc::from(id), allow))
                })
                .collect();
            let mut wire = p.clone();
            if let Some(o) = wire.as_object_mut() {
                o.remove("datasources");
            }
            st.add_project(wire, attached);
        }
        for (key, default) in [("mappings", false), ("defaultMappings", true)] {
            for m in seed
                .get(key)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                st.mappings.push(default, m.clone());
            }
        }
        if let Some(failing) = seed
            .pointer("/simulator/failingConnections")
            .and_then(Value::as_object)
        {
            for (id, message) in failing {
                if let Some(m) = message.as_str() {
                    st.test_failures.insert(id.clone(), m.to_string());
                }
            }
        }
        generate(&mut st, opts.scale);
        Ok(st)
    }

    fn store(&self, kind: Kind) -> &Store {
        match kind {
            Kind::Datasource => &self.datasources,
            Kind::Connection => &self.connections,
            Kind::Login => &self.logins,
        }
    }

    fn store_mut(&mut self, kind: Kind) -> &mut Store {
        match kind {
            Kind::Datasource => &mut self.datasources,
            Kind::Connection => &mut self.connections,
            Kind::Login => &mut self.logins,
        }
    }

    fn add_project(&mut self, wire: Value, datasources: Vec<(Arc<str>, bool)>) {
        let idx = self.projects.len();
        for (ds, _) in &datasources {
            self.attached.entry(ds.clone()).or_default().push(idx);
        }
        self.projects.push(Project {
            id: Arc::from(id_of(&wire)),
            name: name_of(&wire).into(),
            wire,
            datasources,
        });
    }

    fn project_name(&self, id: &str) -> String {
        self.projects
            .iter()
            .find(|p| &*p.id == id)
            .map(|p| p.name.to_string())
            .unwrap_or_else(|| id.to_string())
    }

    /// What keeps an object from being deleted, as "datasource 'X'", "project 'Y'",
    /// "connection mapping 'Contractors' in project 'Operations'" phrases: listed objects
    /// first, then projects, then mappings.
    fn users_of(&self, kind: Kind, id: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let quoted = |noun: &str, names: Vec<String>| -> Vec<String> {
            names.into_iter().map(|n| format!("{noun} '{n}'")).collect()
        };
        match kind {
            Kind::Login => out.extend(quoted("connection", self.connections.user_names(id))),
            Kind::Connection => out.extend(quoted("datasource", self.datasources.user_names(id))),
            Kind::Datasource => {
                out.extend(quoted("datasource", self.datasources.linker_names(id)));
                let mut projects: Vec<String> = self
                    .attached
                    .get(id)
                    .into_iter()
                    .flatten()
                    .filter_map(|&i| self.projects.get(i))
                    .map(|p| p.name.to_string())
                    .collect();
                projects.sort();
                out.extend(quoted("project", projects));
            }
        }
        for m in self.mappings.using(id) {
            let who = m
                .pointer("/user/name")
                .and_then(Value::as_str)
                .unwrap_or("default");
            let project =
                self.project_name(m.get("projectId").and_then(Value::as_str).unwrap_or(""));
            out.push(format!("connection mapping '{who}' in project '{project}'"));
        }
        out
    }

    fn id_taken(&self, id: &str) -> bool {
        self.datasources.contains(id)
            || self.connections.contains(id)
            || self.logins.contains(id)
            || self.dbmss.iter().any(|d| id_of(d) == id)
    }

    fn new_object_id(&self) -> String {
        loop {
            let id = random_hex32().to_uppercase();
            if !self.id_taken(&id) {
                return id;
            }
        }
    }

    fn dbms_by_id(&self, id: &str) -> Option<&Value> {
        self.dbmss.iter().find(|d| id_of(d) == id)
    }

    fn dbms_by_type(&self, ty: &str) -> Option<&Value> {
        self.dbmss
            .iter()
            .find(|d| d.get("type").and_then(Value::as_str) == Some(ty))
    }

    fn dbms_at(&self, idx: u16) -> Option<&Value> {
        if idx == NO_DBMS {
            None
        } else {
            self.dbmss.get(usize::from(idx))
        }
    }

    /// The stored object as the server returns it.
    fn object(&self, kind: Kind, id: &str) -> Option<Value> {
        let e = self.store(kind).entry(id)?;
        match &e.body {
            Held::Json { text, .. } => serde_json::from_str(text).ok(),
            Held::Generated { .. } => {
                let mut out = String::with_capacity(1024);
                self.render_generated(kind, e, &mut out);
                serde_json::from_str(&out).ok()
            }
        }
    }

    /// Append the object's JSON text to `out`.
    fn render_into(&self, kind: Kind, e: &Entry, out: &mut String) {
        match &e.body {
            Held::Json { text, .. } => out.push_str(text),
            Held::Generated { .. } => self.render_generated(kind, e, out),
        }
    }

    /// `database.type` of a stored datasource or connection.
    fn database_type(&self, kind: Kind, e: &Entry) -> Option<String> {
        match &e.body {
            Held::Json { text, .. } => serde_json::from_str::<Value>(text)
                .ok()?
                .pointer("/database/type")
                .and_then(Value::as_str)
                .map(str::to_string),
            Held::Generated { dbms, .. } => Some(
                self.dbms_at(*dbms)
                    .and_then(|d| d.get("type"))
                    .and_then(Value::as_str)
                    .unwrap_or("reserved")
                    .to_string(),
            )
            .filter(|_| kind != Kind::Login),
        }
    }

    /// Write a generated object. References are rendered with the current name of the
    /// referenced object, so renames show up without touching generated objects.
    fn render_generated(&self, kind: Kind, e: &Entry, out: &mut String) {
        let Held::Generated { n, dbms } = e.body else {
            return;
        };
        let number = u64::from(n) + 1;
        let (created, modified) = generated_dates(kind_tag(kind), n);
        let (owner_name, owner_id) = GENERATED_OWNERS[n as usize % GENERATED_OWNERS.len()];
        let dbms = self.dbms_at(dbms);
        let ty = dbms
            .and_then(|d| d.get("type"))
            .and_then(Value::as_str)
            .unwrap_or("reserved");
        let version = dbms
            .and_then(|d| d.get("version"))
            .and_then(Value::as_str)
            .unwrap_or("default");
        // Writing to a String cannot fail, so the fmt::Results below are ignored.
        let _ = write!(
            out,
            "{{\"id\":\"{id}\",\"name\":\"{name}\",\"description\":\"Generated by the simulator\",\
             \"dateCreated\":\"{created}\",\"dateModified\":\"{modified}\",\"acg\":255,\
             \"owner\":{{\"name\":\"{owner_name}\",\"id\":\"{owner_id}\"}}",
            id = e.id,
            name = generated_name(kind, n),
        );
        match kind {
            Kind::Login => {
                let _ = write!(out, ",\"username\":\"gen_user_{number:05}\"}}");
            }
            Kind::Connection => {
                let _ = write!(
                    out,
                    ",\"executionMode\":\"synchronous\",\"maxCancelAttemptTime\":60,\
                     \"maxQueryExeTime\":0,\"maxConnectionAttemptTime\":60,\
                     \"connectionLifetime\":36000,\"connectionIdleTimeout\":60000,\
                     \"charEncodingWindows\":\"multibyte\",\"charEncodingUnix\":\"utf8\",\
                     \"tablePrefix\":\"\",\
                     \"connectionString\":\"DSN=GEN_{number:05};SERVER=gen-{number:05}.db.example.internal;\",\
                     \"parameterizedQueries\":true,\"extendedFetch\":false,\"driverType\":\"odbc\",\
                     \"oauthParameter\":\"\",\"database\":{{\"login\":"
                );
                match &e.reference {
                    Some(login_id) => {
                        out.push_str("{\"id\":");
                        push_json_str(out, login_id);
                        out.push_str(",\"name\":");
                        push_json_str(out, &self.logins.name(login_id).unwrap_or_default());
                        out.push('}');
                    }
                    None => out.push_str("{}"),
                }
                out.push_str(",\"type\":");
                push_json_str(out, ty);
                out.push_str(",\"version\":");
                push_json_str(out, version);
                out.push_str("}}");
            }
            Kind::Datasource => {
                out.push_str(
                    ",\"datasourceType\":\"normal\",\"tablePrefix\":\"\",\"odbcVersion\":\"version3x\",\
                     \"intermediateStoreDbName\":\"\",\"intermediateStoreTableSpaceName\":\"\",\
                     \"database\":{\"type\":",
                );
                push_json_str(out, ty);
                out.push_str(",\"version\":");
                push_json_str(out, version);
                if let Some(conn_id) = &e.reference {
                    out.push_str(",\"connection\":{\"name\":");
                    push_json_str(out, &self.connections.name(conn_id).unwrap_or_default());
                    out.push_str(",\"id\":");
                    push_json_str(out, conn_id);
                    out.push_str(",\"isEmbedded\":false}");
                }
                if let Some(primary) = e.links.as_deref().and_then(<[Arc<str>]>::first) {
                    out.push_str(",\"primaryDatasource\":{\"id\":");
                    push_json_str(out, primary);
                    out.push_str(",\"name\":");
                    push_json_str(out, &self.datasources.name(primary).unwrap_or_default());
                    out.push('}');
                }
                out.push('}');
                if let Some(d) = dbms {
                    out.push_str(",\"dbms\":{\"name\":");
                    push_json_str(out, name_of(d));
                    out.push_str(",\"id\":");
                    push_json_str(out, id_of(d));
                    out.push('}');
                }
                out.push('}');
            }
        }
    }

    /// Check the session of a request: the token must be live (not idle too long) and, when
    /// required, accompanied by its JSESSIONID cookie.
    fn check_session(&mut self, headers: &HeaderMap) -> Result<(), ApiError> {
        let token = headers
            .get(AUTH_TOKEN_HEADER)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(ApiError::session_expired)?;
        let now = Instant::now();
        let idle = self.idle_timeout;
        let require_cookie = self.require_cookie;
        let Some(session) = self.sessions.get_mut(token) else {
            return Err(ApiError::session_expired());
        };
        if let Some(limit) = idle {
            if now.saturating_duration_since(session.last_seen) >= limit {
                self.sessions.remove(token);
                return Err(ApiError::session_expired());
            }
        }
        if require_cookie && !cookie_matches(headers, &session.cookie) {
            return Err(ApiError::session_expired());
        }
        session.last_seen = now;
        Ok(())
    }
}

/// Append `s` as a JSON string literal.
fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn kind_tag(kind: Kind) -> u64 {
    match kind {
        Kind::Login => 1,
        Kind::Connection => 2,
        Kind::Datasource => 3,
    }
}

fn cookie_matches(headers: &HeaderMap, expected: &str) -> bool {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .any(|(name, value)| name == "JSESSIONID" && value == expected)
}

// ---------------------------------------------------------------------------------------------
// Random and deterministic ids, timestamps
// ---------------------------------------------------------------------------------------------

fn random_u64() -> u64 {
    static KEYS: OnceLock<RandomState> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    KEYS.get_or_init(RandomState::new).hash_one(n)
}

/// 32 lower-case hex digits.
fn random_hex32() -> String {
    format!("{:016x}{:016x}", random_u64(), random_u64())
}

/// A session token like the real server's: 26 characters of [0-9a-z].
fn random_token() -> String {
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = String::with_capacity(26);
    let mut bits = random_u64();
    for i in 0..26 {
        if i == 12 {
            bits = random_u64();
        }
        let idx = (bits % 36) as usize;
        bits /= 36;
        out.push(char::from(ALPHABET[idx]));
    }
    out
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Deterministic 32-char upper-case hex id for generated object `n` of a kind.
fn generated_id(tag: u64, n: u64) -> String {
    let base = (tag << 48) ^ n.wrapping_mul(2);
    format!(
        "{:016X}{:016X}",
        splitmix64(base),
        splitmix64(base.wrapping_add(1))
    )
}

fn format_timestamp(dt: chrono::DateTime<chrono::Utc>) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}+0000",
        dt.year(),
        dt.month(),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second(),
        dt.timestamp_subsec_millis().min(999)
    )
}

fn now_timestamp() -> String {
    format_timestamp(chrono::Utc::now())
}

fn timestamp_from_secs(secs: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp(secs, 0)
        .map(format_timestamp)
        .unwrap_or_else(now_timestamp)
}

// ---------------------------------------------------------------------------------------------
// Errors and responses
// ---------------------------------------------------------------------------------------------

#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    iserver_code: Option<i64>,
    /// One `subErrors` entry per message (what uses an object that cannot be deleted).
    sub_errors: Vec<String>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            iserver_code: None,
            sub_errors: Vec::new(),
        }
    }

    fn with_iserver(mut self, code: i64) -> ApiError {
        self.iserver_code = Some(code);
        self
    }

    fn session_expired() -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "ERR009", SESSION_EXPIRED)
    }

    fn login_failed() -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "ERR003", "Login failed")
    }

    fn route_not_found() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "ERR004", "HTTP 404 Not Found")
    }

    fn method_not_allowed() -> ApiError {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "ERR001",
            "HTTP 405 Method Not Allowed",
        )
    }

    fn object_not_found(object_type: i64, id: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "ERR004",
            format!(
                "(Object with ID '{id}' and type {} is not found in metadata. It may have been deleted.)",
                object_type_label(object_type)
            ),
        )
        .with_iserver(ISERVER_NOT_FOUND)
    }

    fn invalid_json() -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "ERR006", "Invalid JSON")
    }

    fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "ERR006", message)
    }

    fn missing(field: &str) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "ERR007",
            format!("The required field '{field}' is missing or empty."),
        )
    }

    fn bad_reference(kind: Kind, id: &str) -> ApiError {
        ApiError::invalid(format!(
            "(The {} with ID '{id}' referenced in the request does not exist.)",
            kind.noun()
        ))
    }

    fn already_exists(kind: Kind, name: &str) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "ERR0015",
            format!(
                "(The {} '{name}' already exists. Choose a different name.)",
                kind.noun()
            ),
        )
        .with_iserver(ISERVER_EXISTS)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = Map::new();
        body.insert("code".into(), Value::from(self.code));
        if let Some(c) = self.iserver_code {
            body.insert("iServerCode".into(), Value::from(c));
        }
        body.insert("message".into(), Value::from(self.message));
        if !self.sub_errors.is_empty() {
            let subs: Vec<Value> = self
                .sub_errors
                .into_iter()
                .map(|m| json!({"iServerCode": ISERVER_IN_USE, "message": m}))
                .collect();
            body.insert("subErrors".into(), Value::Array(subs));
        }
        body.insert("ticketId".into(), Value::from(random_hex32()));
        json_value_response(self.status, &Value::Object(body))
    }
}

fn json_bytes_response(status: StatusCode, body: Vec<u8>) -> Response {
    kit::bytes(status, JSON_CONTENT_TYPE, body)
}

fn json_value_response(status: StatusCode, v: &Value) -> Response {
    kit::json(status, JSON_CONTENT_TYPE, v)
}

type ApiResult = Result<Response, ApiError>;

// ---------------------------------------------------------------------------------------------
// Router and middleware
// ---------------------------------------------------------------------------------------------

/// Marks whether a request came in under the `/MicroStrategyLibrary` context path.
#[derive(Clone, Copy)]
struct ViaContextPath(bool);

fn api_routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/api/auth/login", post(login))
        .route("/api/auth/logout", post(logout))
        .route("/api/sessions", get(session_info).put(session_keepalive))
        .route("/api/sessions/userInfo", get(user_info))
        .route("/api/status", get(server_status))
        .route(
            "/api/datasources",
            get(list_datasources).post(create_object::<DATASOURCE>),
        )
        .route(
            "/api/datasources/{id}",
            get(get_object::<DATASOURCE>)
                .patch(patch_object::<DATASOURCE>)
                .delete(delete_object::<DATASOURCE>),
        )
        .route(
            "/api/datasources/connections",
            get(list_plain::<CONNECTION>).post(create_object::<CONNECTION>),
        )
        .route("/api/datasources/connections/test", post(test_connection))
        .route(
            "/api/datasources/connections/{id}",
            get(get_object::<CONNECTION>)
                .patch(patch_object::<CONNECTION>)
                .delete(delete_object::<CONNECTION>),
        )
        .route(
            "/api/datasources/logins",
            get(list_plain::<LOGIN>).post(create_object::<LOGIN>),
        )
        .route(
            "/api/datasources/logins/{id}",
            get(get_object::<LOGIN>)
                .patch(patch_object::<LOGIN>)
                .delete(delete_object::<LOGIN>),
        )
        .route(
            "/api/objects/{id}",
            delete(delete_generic_object).put(put_generic_object),
        )
        .route("/api/projects", get(list_projects))
        .route("/api/projects/{id}/datasources", get(project_datasources))
        .route("/api/datasources/mappings", get(list_mappings))
        .route("/api/datasources/mappings/{id}", delete(delete_mapping))
        .route("/api/dbobjects/dbmss", get(list_dbmss))
        .route(
            "/api/metadataSearches/results",
            get(search::search_results).post(search::store_search),
        )
        .route(
            "/api/v2/metadataSearches/results",
            post(search::store_search),
        )
}

fn router(shared: Arc<Shared>, kit: &kit::Kit) -> Router {
    let api = api_routes();
    let app = Router::new()
        .nest(CONTEXT_PATH, api.clone())
        .merge(api)
        .fallback(route_not_found);
    kit.router(app, |app| {
        app.layer(middleware::from_fn_with_state(shared.clone(), frame))
            .with_state(shared)
    })
}

async fn route_not_found() -> ApiError {
    ApiError::route_not_found()
}

/// Path relative to the context path, and whether the context path was used.
fn split_context(path: &str) -> (&str, bool) {
    match path.strip_prefix(CONTEXT_PATH) {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => (rest, true),
        _ => (path, false),
    }
}

/// Runs around every request inside the kit's frame: session check, error normalisation,
/// headers.
async fn frame(AxState(shared): AxState<Arc<Shared>>, mut req: Request, next: Next) -> Response {
    let (api_path, via_context) = split_context(req.uri().path());
    let needs_session = api_path.starts_with("/api/") && api_path != "/api/auth/login";
    req.extensions_mut().insert(ViaContextPath(via_context));
    let session = if needs_session {
        lock(&shared).check_session(req.headers())
    } else {
        Ok(())
    };
    let resp = match session {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    };
    let mut resp = kit::normalise(resp, |status| {
        let reason = status.canonical_reason().unwrap_or("Error");
        match status {
            StatusCode::METHOD_NOT_ALLOWED => ApiError::method_not_allowed(),
            StatusCode::NOT_FOUND => ApiError::route_not_found(),
            s if s.is_client_error() => {
                ApiError::new(s, "ERR006", format!("HTTP {} {reason}", s.as_u16()))
            }
            s => ApiError::new(s, "ERR001", format!("HTTP {} {reason}", s.as_u16())),
        }
        .into_response()
    });
    let headers = resp.headers_mut();
    headers.insert(header::SERVER, HeaderValue::from_static("MicroStrategy"));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store, max-age=0, must-revalidate"),
    );
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    headers.insert(header::EXPIRES, HeaderValue::from_static("0"));
    resp
}

// ---------------------------------------------------------------------------------------------
// Request parsing helpers
// ---------------------------------------------------------------------------------------------

fn parse_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(ApiError::invalid("The request body must be a JSON object.")),
        Err(_) => Err(ApiError::invalid_json()),
    }
}

#[cfg(test)]
use super::form_decode;
use super::parse_form;

/// All comma-separated values of a query parameter (repeated parameters are merged).
fn query_list(pairs: &[(String, String)], name: &str) -> Option<HashSet<String>> {
    let mut found = false;
    let mut set = HashSet::new();
    for (k, v) in pairs {
        if k == name {
            found = true;
            set.extend(
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string),
            );
        }
    }
    found.then_some(set)
}

fn opt_str<'a>(body: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>, ApiError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ApiError::invalid(format!(
            "Invalid value for '{key}': a string is expected."
        ))),
    }
}

fn required_str<'a>(body: &'a Map<String, Value>, key: &str) -> Result<&'a str, ApiError> {
    match opt_str(body, key)? {
        Some(s) if !s.trim().is_empty() => Ok(s),
        _ => Err(ApiError::missing(key)),
    }
}

fn opt_object<'a>(
    body: &'a Map<String, Value>,
    key: &str,
) -> Result<Option<&'a Map<String, Value>>, ApiError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(_) => Err(ApiError::invalid(format!(
            "Invalid value for '{key}': an object is expected."
        ))),
    }
}

/// The `id` of a reference object such as `{"id":"..."}`; None for a missing, null or empty
/// object.
fn reference_id(
    parent: &Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<String>, ApiError> {
    let Some(obj) = opt_object(parent, key)? else {
        return Ok(None);
    };
    if obj.is_empty() {
        return Ok(None);
    }
    match obj.get("id") {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.trim().to_string())),
        None | Some(Value::Null) => Err(ApiError::missing(&format!("{path}.id"))),
        Some(_) => Err(ApiError::invalid(format!(
            "Invalid value for '{path}.id': a string is expected."
        ))),
    }
}

#[derive(Clone, Copy)]
enum FieldType {
    Str,
    Int,
    Bool,
}

const CONNECTION_FIELDS: &[(&str, FieldType)] = &[
    ("description", FieldType::Str),
    ("executionMode", FieldType::Str),
    ("maxCancelAttemptTime", FieldType::Int),
    ("maxQueryExeTime", FieldType::Int),
    ("maxConnectionAttemptTime", FieldType::Int),
    ("connectionLifetime", FieldType::Int),
    ("connectionIdleTimeout", FieldType::Int),
    ("charEncodingWindows", FieldType::Str),
    ("charEncodingUnix", FieldType::Str),
    ("tablePrefix", FieldType::Str),
    ("connectionString", FieldType::Str),
    ("parameterizedQueries", FieldType::Bool),
    ("extendedFetch", FieldType::Bool),
    ("driverType", FieldType::Str),
    ("oauthParameter", FieldType::Str),
];

const DATASOURCE_FIELDS: &[(&str, FieldType)] = &[
    ("description", FieldType::Str),
    ("datasourceType", FieldType::Str),
    ("tablePrefix", FieldType::Str),
    ("odbcVersion", FieldType::Str),
    ("intermediateStoreDbName", FieldType::Str),
    ("intermediateStoreTableSpaceName", FieldType::Str),
];

const LOGIN_FIELDS: &[(&str, FieldType)] = &[
    ("description", FieldType::Str),
    ("username", FieldType::Str),
];

fn field_type(fields: &[(&str, FieldType)], name: &str) -> Option<FieldType> {
    fields.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

fn check_field(name: &str, ty: FieldType, v: &Value) -> Result<Value, ApiError> {
    let ok = match ty {
        FieldType::Str => v.is_string(),
        FieldType::Int => v.is_i64() || v.is_u64(),
        FieldType::Bool => v.is_boolean(),
    };
    if ok {
        Ok(v.clone())
    } else {
        let expected = match ty {
            FieldType::Str => "a string",
            FieldType::Int => "an integer",
            FieldType::Bool => "a boolean",
        };
        Err(ApiError::invalid(format!(
            "Invalid value for '{name}': {expected} is expected."
        )))
    }
}

/// Copy the known fields present (and not null) in `body` onto `obj`.
fn copy_fields(
    obj: &mut Map<String, Value>,
    body: &Map<String, Value>,
    fields: &[(&str, FieldType)],
) -> Result<(), ApiError> {
    for (name, ty) in fields {
        match body.get(*name) {
            None | Some(Value::Null) => {}
            Some(v) => {
                obj.insert((*name).to_string(), check_field(name, *ty, v)?);
            }
        }
    }
    Ok(())
}

fn owner_admin() -> Value {
    json!({"name": ADMIN_NAME, "id": ADMIN_ID})
}

// ---------------------------------------------------------------------------------------------
// Object construction (create) and PATCH
// ---------------------------------------------------------------------------------------------

fn ensure_unique_name(
    st: &SimState,
    kind: Kind,
    name: &str,
    except: Option<&str>,
) -> Result<(), ApiError> {
    match st.store(kind).id_by_name(name) {
        Some(id) if Some(id) != except => Err(ApiError::already_exists(kind, name.trim())),
        _ => Ok(()),
    }
}

fn login_ref(st: &SimState, login_id: &str) -> Result<Value, ApiError> {
    let name = st
        .logins
        .name(login_id)
        .ok_or_else(|| ApiError::bad_reference(Kind::Login, login_id))?;
    Ok(json!({"id": login_id, "name": name}))
}

fn connection_ref(st: &SimState, connection_id: &str) -> Result<(Value, Value), ApiError> {
    let conn = st
        .object(Kind::Connection, connection_id)
        .ok_or_else(|| ApiError::bad_reference(Kind::Connection, connection_id))?;
    let r = json!({"name": name_of(&conn), "id": id_of(&conn), "isEmbedded": false});
    Ok((r, conn.get("database").cloned().unwrap_or(Value::Null)))
}

fn datasource_ref(st: &SimState, id: &str) -> Result<Value, ApiError> {
    let name = st
        .datasources
        .name(id)
        .ok_or_else(|| ApiError::bad_reference(Kind::Datasource, id))?;
    Ok(json!({"id": id, "name": name}))
}

fn dbms_ref(st: &SimState, id: &str) -> Result<Value, ApiError> {
    let d = st
        .dbms_by_id(id)
        .ok_or_else(|| ApiError::invalid(format!("(The DBMS with ID '{id}' does not exist.)")))?;
    Ok(json!({"name": name_of(d), "id": id_of(d)}))
}

fn build_login(
    st: &SimState,
    body: &Map<String, Value>,
    id: String,
    now: &str,
) -> Result<(Value, String), ApiError> {
    let name = required_str(body, "name")?.trim().to_string();
    let username = required_str(body, "username")?.to_string();
    let password = opt_str(body, "password")?
        .ok_or_else(|| ApiError::missing("password"))?
        .to_string();
    ensure_unique_name(st, Kind::Login, &name, None)?;
    let mut obj = Map::new();
    obj.insert("name".into(), Value::from(name));
    obj.insert("id".into(), Value::from(id));
    obj.insert("description".into(), Value::from(""));
    copy_fields(&mut obj, body, LOGIN_FIELDS)?;
    obj.insert("username".into(), Value::from(username));
    obj.insert("dateCreated".into(), Value::from(now));
    obj.insert("dateModified".into(), Value::from(now));
    obj.insert("acg".into(), Value::from(255));
    obj.insert("owner".into(), owner_admin());
    Ok((Value::Object(obj), password))
}

fn connection_template(name: &str, id: &str, now: &str) -> Map<String, Value> {
    let v = json!({
        "name": name, "id": id, "description": "", "dateCreated": now, "dateModified": now,
        "acg": 255, "owner": owner_admin(),
        "executionMode": "synchronous", "maxCancelAttemptTime": 60, "maxQueryExeTime": 0,
        "maxConnectionAttemptTime": 60, "connectionLifetime": 36000,
        "connectionIdleTimeout": 60000, "charEncodingWindows": "multibyte",
        "charEncodingUnix": "utf8", "tablePrefix": "", "connectionString": "",
        "parameterizedQueries": false, "extendedFetch": false, "driverType": "odbc",
        "oauthParameter": "",
        "database": {"login": {}, "type": "reserved", "version": "default"}
    });
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn build_connection(
    st: &SimState,
    body: &Map<String, Value>,
    id: String,
    now: &str,
) -> Result<Value, ApiError> {
    let name = required_str(body, "name")?.trim().to_string();
    ensure_unique_name(st, Kind::Connection, &name, None)?;
    let mut obj = connection_template(&name, &id, now);
    copy_fields(&mut obj, body, CONNECTION_FIELDS)?;
    let mut database = Map::new();
    database.insert("login".into(), json!({}));
    database.insert("type".into(), Value::from("reserved"));
    database.insert("version".into(), Value::from("default"));
    if let Some(db) = opt_object(body, "database")? {
        if let Some(login_id) = reference_id(db, "login", "database.login")? {
            database.insert("login".into(), login_ref(st, &login_id)?);
        }
        if let Some(t) = opt_str(db, "type")? {
            database.insert("type".into(), Value::from(t));
        }
        if let Some(v) = opt_str(db, "version")? {
            database.insert("version".into(), Value::from(v));
        }
    }
    obj.insert("database".into(), Value::Object(database));
    Ok(Value::Object(obj))
}

fn build_datasource(
    st: &SimState,
    body: &Map<String, Value>,
    id: String,
    now: &str,
) -> Result<Value, ApiError> {
    let name = required_str(body, "name")?.trim().to_string();
    ensure_unique_name(st, Kind::Datasource, &name, None)?;
    let mut obj = Map::new();
    obj.insert("id".into(), Value::from(id));
    obj.insert("name".into(), Value::from(name));
    obj.insert("description".into(), Value::from(""));
    obj.insert("dateCreated".into(), Value::from(now));
    obj.insert("dateModified".into(), Value::from(now));
    obj.insert("acg".into(), Value::from(255));
    obj.insert("datasourceType".into(), Value::from("normal"));
    obj.insert("tablePrefix".into(), Value::from(""));
    obj.insert("odbcVersion".into(), Value::from("version3x"));
    obj.insert("intermediateStoreDbName".into(), Value::from(""));
    obj.insert("intermediateStoreTableSpaceName".into(), Value::from(""));
    obj.insert("owner".into(), owner_admin());
    copy_fields(&mut obj, body, DATASOURCE_FIELDS)?;

    let mut database = Map::new();
    let mut ty: Option<String> = None;
    let mut version: Option<String> = None;
    if let Some(db) = opt_object(body, "database")? {
        if let Some(conn_id) = reference_id(db, "connection", "database.connection")? {
            let (conn_ref, conn_db) = connection_ref(st, &conn_id)?;
            database.insert("connection".into(), conn_ref);
            ty = conn_db
                .get("type")
                .and_then(Value::as_str)
                .map(str::to_string);
            version = conn_db
                .get("version")
                .and_then(Value::as_str)
                .map(str::to_string);
        }
        if let Some(t) = opt_str(db, "type")? {
            ty = Some(t.to_string());
        }
        if let Some(v) = opt_str(db, "version")? {
            version = Some(v.to_string());
        }
        for (key, path) in [
            ("primaryDatasource", "database.primaryDatasource"),
            ("dataMartDatasource", "database.dataMartDatasource"),
        ] {
            if let Some(ref_id) = reference_id(db, key, path)? {
                database.insert(key.into(), datasource_ref(st, &ref_id)?);
            }
        }
    }
    let ty = ty.unwrap_or_else(|| "reserved".to_string());
    database.insert("type".into(), Value::from(ty.as_str()));
    database.insert(
        "version".into(),
        Value::from(version.unwrap_or_else(|| "default".to_string())),
    );
    obj.insert("database".into(), Value::Object(database));

    let dbms = match reference_id(body, "dbms", "dbms")? {
        Some(dbms_id) => Some(dbms_ref(st, &dbms_id)?),
        None => st
            .dbms_by_type(&ty)
            .map(|d| json!({"name": name_of(d), "id": id_of(d)})),
    };
    if let Some(d) = dbms {
        obj.insert("dbms".into(), d);
    }
    Ok(Value::Object(obj))
}

/// One PATCH operation, validated.
struct Operation {
    path: String,
    value: Value,
}

fn parse_operations(body: &Map<String, Value>) -> Result<Vec<Operation>, ApiError> {
    let list = match body.get("operationList") {
        Some(Value::Array(a)) => a,
        None | Some(Value::Null) => return Err(ApiError::missing("operationList")),
        Some(_) => {
            return Err(ApiError::invalid(
                "Invalid value for 'operationList': an array is expected.",
            ))
        }
    };
    let mut ops = Vec::with_capacity(list.len());
    for entry in list {
        let Value::Object(op) = entry else {
            return Err(ApiError::invalid(
                "Each element of 'operationList' must be an object.",
            ));
        };
        let name = opt_str(op, "op")?.ok_or_else(|| ApiError::missing("op"))?;
        let path = opt_str(op, "path")?.ok_or_else(|| ApiError::missing("path"))?;
        if name != "replace" && name != "add" {
            return Err(ApiError::invalid(format!(
                "Unsupported operation '{name}' for path '{path}'."
            )));
        }
        ops.push(Operation {
            path: path.to_string(),
            value: op.get("value").cloned().unwrap_or(Value::Null),
        });
    }
    Ok(ops)
}

fn set_in(obj: &mut Value, key: &str, v: Value) {
    if let Value::Object(m) = obj {
        m.insert(key.to_string(), v);
    }
}

fn database_mut(obj: &mut Value) -> Option<&mut Map<String, Value>> {
    let m = obj.as_object_mut()?;
    let db = m
        .entry("database")
        .or_insert_with(|| Value::Object(Map::new()));
    if !db.is_object() {
        *db = Value::Object(Map::new());
    }
    db.as_object_mut()
}

fn value_str<'a>(path: &str, v: &'a Value) -> Result<&'a str, ApiError> {
    v.as_str().ok_or_else(|| {
        ApiError::invalid(format!("Invalid value for '{path}': a string is expected."))
    })
}

/// An optional id value: a non-empty string, or None for null / "".
fn value_opt_id(path: &str, v: &Value) -> Result<Option<String>, ApiError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) => Ok(Some(s.trim().to_string())),
        _ => Err(ApiError::invalid(format!(
            "Invalid value for '{path}': a string is expected."
        ))),
    }
}

fn unknown_path(path: &str) -> ApiError {
    ApiError::invalid(format!("(The path '{path}' is not supported.)"))
}

/// Apply a PATCH to a copy of the object; nothing is stored unless every operation is valid.
/// Returns the new object and, for logins, a new password.
fn apply_patch(
    st: &SimState,
    kind: Kind,
    current: &Value,
    ops: &[Operation],
) -> Result<(Value, Option<String>), ApiError> {
    let mut obj = current.clone();
    let id = id_of(current).to_string();
    let mut password = None;
    let fields = match kind {
        Kind::Datasource => DATASOURCE_FIELDS,
        Kind::Connection => CONNECTION_FIELDS,
        Kind::Login => LOGIN_FIELDS,
    };
    for op in ops {
        let path = op.path.as_str();
        let field = path.strip_prefix('/').unwrap_or(path);
        if field == "name" {
            let name = value_str(path, &op.value)?.trim();
            if name.is_empty() {
                return Err(ApiError::missing("name"));
            }
            ensure_unique_name(st, kind, name, Some(&id))?;
            set_in(&mut obj, "name", Value::from(name));
            continue;
        }
        if let Some(ty) = field_type(fields, field) {
            let v = check_field(field, ty, &op.value)?;
            set_in(&mut obj, field, v);
            continue;
        }
        match (kind, field) {
            (Kind::Login, "password") => {
                password = Some(value_str(path, &op.value)?.to_string());
            }
            (Kind::Connection, "databaseLoginId" | "database/login/id") => {
                let login = match value_opt_id(path, &op.value)? {
                    Some(login_id) => login_ref(st, &login_id)?,
                    None => json!({}),
                };
                if let Some(db) = database_mut(&mut obj) {
                    db.insert("login".into(), login);
                }
            }
            (
                Kind::Connection | Kind::Datasource,
                "databaseType" | "database/type" | "databaseVersion" | "database/version",
            ) => {
                let v = value_str(path, &op.value)?.to_string();
                let key = if field.ends_with("ype") {
                    "type"
                } else {
                    "version"
                };
                if let Some(db) = database_mut(&mut obj) {
                    db.insert(key.into(), Value::from(v));
                }
            }
            (Kind::Datasource, "databaseConnectionId" | "database/connection/id") => {
                let conn = match value_opt_id(path, &op.value)? {
                    Some(conn_id) => Some(connection_ref(st, &conn_id)?.0),
                    None => None,
                };
                if let Some(db) = database_mut(&mut obj) {
                    db.remove("embeddedConnection");
                    match conn {
                        Some(c) => db.insert("connection".into(), c),
                        None => db.remove("connection"),
                    };
                }
            }
            (Kind::Datasource, "dbmsId" | "dbms/id") => match value_opt_id(path, &op.value)? {
                Some(dbms_id) => set_in(&mut obj, "dbms", dbms_ref(st, &dbms_id)?),
                None => {
                    if let Some(m) = obj.as_object_mut() {
                        m.remove("dbms");
                    }
                }
            },
            (Kind::Datasource, "databasePrimaryDatasourceId" | "databaseDataMartDatasourceId") => {
                let key = if field == "databasePrimaryDatasourceId" {
                    "primaryDatasource"
                } else {
                    "dataMartDatasource"
                };
                let r = match value_opt_id(path, &op.value)? {
                    Some(ds_id) if ds_id == id => {
                        return Err(ApiError::invalid("(A datasource cannot reference itself.)"))
                    }
                    Some(ds_id) => Some(datasource_ref(st, &ds_id)?),
                    None => None,
                };
                if let Some(db) = database_mut(&mut obj) {
                    match r {
                        Some(r) => db.insert(key.into(), r),
                        None => db.remove(key),
                    };
                }
            }
            (Kind::Datasource, f) if f.starts_with("database/embeddedConnection/") => {
                let sub = &f["database/embeddedConnection/".len()..];
                let ty = field_type(CONNECTION_FIELDS, sub)
                    .or_else(|| (sub == "name").then_some(FieldType::Str))
                    .ok_or_else(|| unknown_path(path))?;
                let v = check_field(sub, ty, &op.value)?;
                let Some(embedded) = obj
                    .pointer_mut("/database/embeddedConnection")
                    .and_then(Value::as_object_mut)
                else {
                    return Err(ApiError::invalid(
                        "(The datasource does not have an embedded connection.)",
                    ));
                };
                embedded.insert(sub.to_string(), v.clone());
                if sub == "name" {
                    if let Some(c) = obj
                        .pointer_mut("/database/connection")
                        .and_then(Value::as_object_mut)
                    {
                        c.insert("name".into(), v);
                    }
                }
            }
            _ => return Err(unknown_path(path)),
        }
    }
    set_in(&mut obj, "dateModified", Value::from(now_timestamp()));
    Ok((obj, password))
}

/// After a rename, refresh the stored name in the objects that reference this one.
fn propagate_name(st: &mut SimState, kind: Kind, id: &str, name: &str) {
    // Generated objects render reference names from the referenced object, so only objects
    // held as JSON text need rewriting.
    let (dependent_kind, pointers): (Kind, &[&str]) = match kind {
        Kind::Login => (Kind::Connection, &["/database/login"]),
        Kind::Connection => (Kind::Datasource, &["/database/connection"]),
        Kind::Datasource => (
            Kind::Datasource,
            &[
                "/database/primaryDatasource",
                "/database/dataMartDatasource",
            ],
        ),
    };
    let store = st.store(dependent_kind);
    let candidates: Vec<Arc<str>> = if kind == Kind::Datasource {
        store
            .entries()
            .filter(|e| matches!(&e.body, Held::Json { text, .. } if text.contains(id)))
            .map(|e| e.id.clone())
            .collect()
    } else {
        store.user_ids(id)
    };
    let mut changed = Vec::new();
    for dep in candidates {
        let Some(e) = store.entry(&dep) else {
            continue;
        };
        let Held::Json { text, .. } = &e.body else {
            continue;
        };
        let Ok(mut v) = serde_json::from_str::<Value>(text) else {
            continue;
        };
        let mut touched = false;
        for ptr in pointers {
            if let Some(r) = v.pointer_mut(ptr).and_then(Value::as_object_mut) {
                if r.get("id").and_then(Value::as_str) == Some(id) {
                    r.insert("name".into(), Value::from(name));
                    touched = true;
                }
            }
        }
        if touched {
            changed.push(v);
        }
    }
    let store = st.store_mut(dependent_kind);
    for v in &changed {
        store.replace_value(v);
    }
}

// ---------------------------------------------------------------------------------------------
// Handlers: sessions
// ---------------------------------------------------------------------------------------------

/// Login fields from a JSON or form-encoded body, values as strings.
fn login_fields(headers: &HeaderMap, body: &[u8]) -> Result<HashMap<String, String>, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let looks_json = body
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'{');
    if content_type.contains("json") || (content_type.is_empty() && looks_json) {
        let obj = parse_object(body)?;
        Ok(obj
            .into_iter()
            .filter_map(|(k, v)| {
                let s = match v {
                    Value::String(s) => s,
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    _ => return None,
                };
                Some((k, s))
            })
            .collect())
    } else {
        let text = std::str::from_utf8(body)
            .map_err(|_| ApiError::invalid("The login form is not valid UTF-8."))?;
        Ok(parse_form(text).into_iter().collect())
    }
}

async fn login(AxState(shared): AxState<Arc<Shared>>, req: Request) -> ApiResult {
    let via_context = req
        .extensions()
        .get::<ViaContextPath>()
        .is_some_and(|v| v.0);
    let headers = req.headers().clone();
    let body = axum::body::to_bytes(req.into_body(), MAX_LOGIN_BODY)
        .await
        .map_err(|_| ApiError::invalid("The login request body could not be read."))?;
    let fields = login_fields(&headers, &body)?;
    let mode = fields
        .get("loginMode")
        .map(|m| m.trim().to_string())
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| "1".into());
    let username = fields.get("username").map(String::as_str).unwrap_or("");
    let password = fields.get("password").map(String::as_str);
    let accepted = {
        let st = lock(&shared);
        match mode.as_str() {
            // Standard: the demo administrator.
            "1" => username.eq_ignore_ascii_case(DEMO_USERNAME) && password == Some(DEMO_PASSWORD),
            // LDAP: the configured directory user.
            "16" => st.ldap_user.as_ref().is_some_and(|(u, p)| {
                username.eq_ignore_ascii_case(u) && password == Some(p.as_str())
            }),
            // API token: sent as the username, no password.
            "4096" => st.api_tokens.iter().any(|t| t == username),
            _ => false,
        }
    };
    if !accepted {
        return Err(ApiError::login_failed());
    }
    let token = random_token();
    let cookie = random_hex32().to_uppercase();
    {
        let mut st = lock(&shared);
        st.sessions.insert(
            token.clone(),
            Session {
                cookie: cookie.clone(),
                last_seen: Instant::now(),
            },
        );
        st.login_count += 1;
    }
    let cookie_path = if via_context { CONTEXT_PATH } else { "/" };
    let set_cookie = HeaderValue::from_str(&format!(
        "JSESSIONID={cookie}; Path={cookie_path}; HttpOnly"
    ))
    .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "ERR001", "Login failed"))?;
    let token_value = HeaderValue::from_str(&token)
        .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "ERR001", "Login failed"))?;
    let mut resp = no_content();
    resp.headers_mut()
        .insert(HeaderName::from_static(AUTH_TOKEN_HEADER), token_value);
    resp.headers_mut().insert(header::SET_COOKIE, set_cookie);
    Ok(resp)
}

async fn logout(AxState(shared): AxState<Arc<Shared>>, headers: HeaderMap) -> ApiResult {
    if let Some(token) = headers.get(AUTH_TOKEN_HEADER).and_then(|v| v.to_str().ok()) {
        lock(&shared).sessions.remove(token);
    }
    Ok(no_content())
}

async fn session_info(AxState(shared): AxState<Arc<Shared>>) -> ApiResult {
    let timeout = lock(&shared)
        .idle_timeout
        .map(|d| d.as_secs().max(1))
        .unwrap_or(DEFAULT_SESSION_TIMEOUT_SECS);
    Ok(json_value_response(
        StatusCode::OK,
        &json!({
            "locale": 1033,
            "maxSearch": 3,
            "workingSet": 10,
            "timeout": timeout,
            "id": ADMIN_ID,
            "fullName": ADMIN_NAME,
            "initials": "A",
            "username": DEMO_USERNAME,
        }),
    ))
}

async fn session_keepalive() -> ApiResult {
    Ok(no_content())
}

async fn user_info() -> ApiResult {
    Ok(json_value_response(
        StatusCode::OK,
        &json!({
            "metadataUser": true,
            "id": ADMIN_ID,
            "fullName": ADMIN_NAME,
            "initials": "A",
            "username": DEMO_USERNAME,
            "profileColor": "#F48852",
        }),
    ))
}

async fn server_status(AxState(shared): AxState<Arc<Shared>>) -> ApiResult {
    let (since, up) = {
        let st = lock(&shared);
        (st.started_epoch_ms, st.started.elapsed())
    };
    let secs = up.as_secs();
    let text = format!(
        "{:02} Hours {:02} Minutes {:02} seconds",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    );
    Ok(json_value_response(
        StatusCode::OK,
        &json!({
            "upSince": since,
            "upTime": u64::try_from(up.as_millis()).unwrap_or(u64::MAX),
            "upTimeText": text,
            "webVersion": WEB_VERSION,
            "iServerVersion": SERVER_VERSION,
            "minMobileCompatibleVersion": "11.2.220.0000",
        }),
    ))
}

// ---------------------------------------------------------------------------------------------
// Handlers: objects
// ---------------------------------------------------------------------------------------------

/// `{"<key>":[...]}` with the given objects, in store order.
fn list_response<'a>(
    st: &SimState,
    kind: Kind,
    entries: impl Iterator<Item = &'a Entry>,
    expected: usize,
) -> ApiResult {
    let key = kind.list_key();
    let mut out = String::with_capacity(64 + 900 * expected);
    out.push_str("{\"");
    out.push_str(key);
    out.push_str("\":[");
    for (i, e) in entries.enumerate() {
        if i > 0 {
            out.push(',');
        }
        st.render_into(kind, e, &mut out);
    }
    out.push_str("]}");
    Ok(json_bytes_response(StatusCode::OK, out.into_bytes()))
}

async fn list_datasources(
    AxState(shared): AxState<Arc<Shared>>,
    RawQuery(query): RawQuery,
) -> ApiResult {
    let pairs = parse_form(query.as_deref().unwrap_or(""));
    let ids = query_list(&pairs, "id").map(|s| {
        s.into_iter()
            .map(|id| id.to_uppercase())
            .collect::<HashSet<_>>()
    });
    let types = query_list(&pairs, "database.type");
    let st = lock(&shared);
    let entries = st.datasources.entries().filter(|e| {
        ids.as_ref()
            .is_none_or(|set| set.contains(&e.id.to_uppercase()))
            && types.as_ref().is_none_or(|set| {
                st.database_type(Kind::Datasource, e)
                    .is_some_and(|t| set.contains(&t))
            })
    });
    let expected = match (&ids, &types) {
        (Some(set), _) => set.len(),
        (None, Some(_)) => 16,
        (None, None) => st.datasources.len(),
    };
    list_response(&st, Kind::Datasource, entries, expected)
}

async fn list_plain<const K: u8>(AxState(shared): AxState<Arc<Shared>>) -> ApiResult {
    let kind = Kind::from_const(K);
    let st = lock(&shared);
    list_response(&st, kind, st.store(kind).entries(), st.store(kind).len())
}

async fn list_dbmss(AxState(shared): AxState<Arc<Shared>>) -> ApiResult {
    let st = lock(&shared);
    Ok(json_value_response(
        StatusCode::OK,
        &Value::Array(st.dbmss.clone()),
    ))
}

async fn get_object<const K: u8>(
    AxState(shared): AxState<Arc<Shared>>,
    Path(id): Path<String>,
) -> ApiResult {
    let kind = Kind::from_const(K);
    let st = lock(&shared);
    let v = st
        .object(kind, &id)
        .ok_or_else(|| ApiError::object_not_found(kind.object_type(), &id))?;
    Ok(json_value_response(StatusCode::OK, &v))
}

async fn create_object<const K: u8>(
    AxState(shared): AxState<Arc<Shared>>,
    body: Bytes,
) -> ApiResult {
    let kind = Kind::from_const(K);
    let body = parse_object(&body)?;
    let mut st = lock(&shared);
    let id = st.new_object_id();
    let now = now_timestamp();
    let obj = match kind {
        Kind::Login => {
            let (obj, password) = build_login(&st, &body, id.clone(), &now)?;
            st.passwords.insert(id.clone(), password);
            obj
        }
        Kind::Connection => build_connection(&st, &body, id.clone(), &now)?,
        Kind::Datasource => build_datasource(&st, &body, id.clone(), &now)?,
    };
    let resp = json_value_response(StatusCode::CREATED, &obj);
    st.store_mut(kind).insert_value(&obj);
    Ok(resp)
}

async fn patch_object<const K: u8>(
    AxState(shared): AxState<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let kind = Kind::from_const(K);
    let body = parse_object(&body)?;
    let ops = parse_operations(&body)?;
    let mut st = lock(&shared);
    let current = st
        .object(kind, &id)
        .ok_or_else(|| ApiError::object_not_found(kind.object_type(), &id))?;
    let old_name = name_of(&current).to_string();
    let (updated, password) = apply_patch(&st, kind, &current, &ops)?;
    let new_name = name_of(&updated).to_string();
    let resp = json_value_response(StatusCode::OK, &updated);
    st.store_mut(kind).replace_value(&updated);
    if let Some(p) = password {
        st.passwords.insert(id.clone(), p);
    }
    if new_name != old_name {
        propagate_name(&mut st, kind, &id, &new_name);
    }
    Ok(resp)
}

/// "a", "a and b", "a, b and c", "a, b, c and 2 others".
fn phrase_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        _ if items.len() <= 3 => {
            let (last, rest) = items.split_last().unwrap_or((&items[0], &[]));
            format!("{} and {last}", rest.join(", "))
        }
        _ => format!("{} and {} others", items[..3].join(", "), items.len() - 3),
    }
}

/// Delete an object unless something still references it: another object, a project it is
/// attached to, or a connection mapping. The refusal names what uses it, in the message and
/// in `subErrors` (one per user, as the documented error model allows).
fn delete_stored(st: &mut SimState, kind: Kind, id: &str) -> ApiResult {
    let name = st
        .store(kind)
        .name(id)
        .ok_or_else(|| ApiError::object_not_found(kind.object_type(), id))?
        .into_owned();
    let users = st.users_of(kind, id);
    if !users.is_empty() {
        let mut err = ApiError::new(
            st.in_use_status,
            "ERR001",
            format!(
                "(Cannot delete {} '{name}' because it is used by {}.)",
                kind.noun(),
                phrase_list(&users)
            ),
        )
        .with_iserver(ISERVER_IN_USE);
        err.sub_errors = users;
        return Err(err);
    }
    st.store_mut(kind).remove(id);
    if kind == Kind::Login {
        st.passwords.remove(id);
    }
    Ok(no_content())
}

async fn delete_object<const K: u8>(
    AxState(shared): AxState<Arc<Shared>>,
    Path(id): Path<String>,
) -> ApiResult {
    let kind = Kind::from_const(K);
    let mut st = lock(&shared);
    delete_stored(&mut st, kind, &id)
}

/// The `type` query parameter of the generic objects route, as a kind (and the number).
fn generic_kind(id: &str, query: Option<&str>) -> Result<(Kind, i64), ApiError> {
    let pairs = parse_form(query.unwrap_or(""));
    let raw_type = pairs
        .iter()
        .find(|(k, _)| k == "type")
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ApiError::missing("type"))?;
    let object_type: i64 = raw_type.parse().map_err(|_| {
        ApiError::invalid(format!(
            "Invalid value for 'type': '{raw_type}' is not an integer."
        ))
    })?;
    let kind = Kind::from_object_type(object_type)
        .ok_or_else(|| ApiError::object_not_found(object_type, id))?;
    Ok((kind, object_type))
}

async fn delete_generic_object(
    AxState(shared): AxState<Arc<Shared>>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult {
    let (kind, _) = generic_kind(&id, query.as_deref())?;
    let mut st = lock(&shared);
    delete_stored(&mut st, kind, &id)
}

/// The users the simulator knows: the generated owners and every owner of a stored object.
fn known_user(st: &SimState, id: &str) -> Option<Value> {
    if let Some((name, uid)) = GENERATED_OWNERS
        .iter()
        .find(|(_, uid)| uid.eq_ignore_ascii_case(id))
    {
        return Some(json!({"name": name, "id": uid}));
    }
    [Kind::Datasource, Kind::Connection, Kind::Login]
        .into_iter()
        .flat_map(|k| st.store(k).ids().into_iter().map(move |oid| (k, oid)))
        .find_map(|(k, oid)| {
            let owner = st.object(k, &oid)?.get("owner")?.clone();
            let matches = owner
                .get("id")
                .and_then(Value::as_str)
                .is_some_and(|u| u.eq_ignore_ascii_case(id));
            matches.then_some(owner)
        })
}

/// `PUT /api/objects/{id}?type=29|30|31`: a partial update of the object's info; the
/// simulator takes `ownerId` (resolved to `{name,id}`, 400 ERR004 for an unknown user) and
/// ignores `flags` and `acl`. Answers the object info with the new owner.
async fn put_generic_object(
    AxState(shared): AxState<Arc<Shared>>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> ApiResult {
    let (kind, object_type) = generic_kind(&id, query.as_deref())?;
    let body = parse_object(&body)?;
    let mut st = lock(&shared);
    let mut obj = st
        .object(kind, &id)
        .ok_or_else(|| ApiError::object_not_found(object_type, &id))?;
    if let Some(owner_id) = body.get("ownerId") {
        let owner_id = owner_id.as_str().ok_or_else(|| {
            ApiError::invalid("Invalid value for 'ownerId': a string is expected.")
        })?;
        let owner = known_user(&st, owner_id).ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "ERR004",
                format!("The user with ID '{owner_id}' could not be found."),
            )
        })?;
        set_in(&mut obj, "owner", owner);
        st.store_mut(kind).replace_value(&obj);
    }
    let info = json!({
        "id": id,
        "name": name_of(&obj),
        "type": object_type,
        "owner": obj.get("owner").cloned().unwrap_or(Value::Null),
    });
    Ok(json_value_response(StatusCode::OK, &info))
}

/// `GET /api/projects`: a bare array of `{id,name,alias,description,status}`.
async fn list_projects(AxState(shared): AxState<Arc<Shared>>) -> ApiResult {
    let st = lock(&shared);
    let all: Vec<&Value> = st.projects.iter().map(|p| &p.wire).collect();
    Ok(json_value_response(
        StatusCode::OK,
        &serde_json::to_value(all).unwrap_or(Value::Null),
    ))
}

/// `GET /api/projects/{id}/datasources`: the attached datasources, each with
/// `isAllowToRemove`.
async fn project_datasources(
    AxState(shared): AxState<Arc<Shared>>,
    Path(id): Path<String>,
) -> ApiResult {
    let st = lock(&shared);
    let project = st
        .projects
        .iter()
        .find(|p| &*p.id == id.as_str())
        .ok_or_else(|| ApiError::object_not_found(32, &id))?;
    let mut out = String::with_capacity(64 + 900 * project.datasources.len());
    out.push_str("{\"datasources\":[");
    let mut first = true;
    for (ds, allow) in &project.datasources {
        let Some(e) = st.datasources.entry(ds) else {
            continue;
        };
        if !first {
            out.push(',');
        }
        first = false;
        st.render_into(Kind::Datasource, e, &mut out);
        if out.ends_with('}') {
            out.pop();
            let _ = write!(out, ",\"isAllowToRemove\":{allow}}}");
        }
    }
    out.push_str("]}");
    Ok(json_bytes_response(StatusCode::OK, out.into_bytes()))
}

/// `GET /api/datasources/mappings?defaultConnectionMap=false[&projectId=P]`: the per-user
/// mappings; `defaultConnectionMap=true&projectId=P`: the project's default mappings, or
/// 404 when it has none (mstrio turns that 404 into an empty list).
async fn list_mappings(
    AxState(shared): AxState<Arc<Shared>>,
    RawQuery(query): RawQuery,
) -> ApiResult {
    let pairs = parse_form(query.as_deref().unwrap_or(""));
    let param = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_string())
    };
    let default = match param("defaultConnectionMap").as_deref() {
        None | Some("") => false,
        Some(v) if v.eq_ignore_ascii_case("true") => true,
        Some(v) if v.eq_ignore_ascii_case("false") => false,
        Some(v) => {
            return Err(ApiError::invalid(format!(
                "Invalid value for 'defaultConnectionMap': '{v}'."
            )))
        }
    };
    let project = param("projectId").filter(|p| !p.is_empty());
    let st = lock(&shared);
    if default && project.is_none() {
        return Err(ApiError::missing("projectId"));
    }
    let list: Vec<&Value> = st
        .mappings
        .live()
        .filter(|(d, _)| *d == default)
        .map(|(_, v)| v)
        .filter(|v| {
            project
                .as_deref()
                .is_none_or(|p| v.get("projectId").and_then(Value::as_str) == Some(p))
        })
        .collect();
    if default && list.is_empty() {
        let pid = project.unwrap_or_default();
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "ERR004",
            format!("(The default connection mapping of project '{pid}' is not found.)"),
        )
        .with_iserver(ISERVER_NOT_FOUND));
    }
    Ok(json_value_response(
        StatusCode::OK,
        &json!({ "mappings": list }),
    ))
}

/// `DELETE /api/datasources/mappings/{id}` → 204.
async fn delete_mapping(
    AxState(shared): AxState<Arc<Shared>>,
    Path(id): Path<String>,
) -> ApiResult {
    let mut st = lock(&shared);
    if st.mappings.remove(&id) {
        Ok(no_content())
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "ERR004",
            format!("(The connection mapping '{id}' is not found.)"),
        )
        .with_iserver(ISERVER_NOT_FOUND))
    }
}

async fn test_connection(AxState(shared): AxState<Arc<Shared>>, body: Bytes) -> ApiResult {
    let body = parse_object(&body)?;
    let id = match body.get("id") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
        Some(Value::String(_)) | None | Some(Value::Null) => {
            // An inline connection (no stored id) needs at least a connection string.
            return match opt_str(&body, "connectionString")? {
                Some(cs) if !cs.trim().is_empty() => Ok(no_content()),
                _ => Err(ApiError::missing("id")),
            };
        }
        Some(_) => {
            return Err(ApiError::invalid(
                "Invalid value for 'id': a string is expected.",
            ))
        }
    };
    let st = lock(&shared);
    if !st.connections.contains(&id) {
        return Err(ApiError::object_not_found(
            Kind::Connection.object_type(),
            &id,
        ));
    }
    // A database whose password changed refuses the login until the login follows.
    let conn = st.object(Kind::Connection, &id).unwrap_or_default();
    if let Some(login) = conn.pointer("/database/login/id").and_then(Value::as_str) {
        if let Some(expected) = st.database_passwords.get(login) {
            if st.passwords.get(login) != Some(expected) {
                let user = st
                    .object(Kind::Login, login)
                    .and_then(|l| {
                        l.get("username")
                            .and_then(Value::as_str)
                            .map(str::to_string)
                    })
                    .unwrap_or_default();
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "ERR002",
                    format!("Login failed for user '{user}': password authentication failed"),
                )
                .with_iserver(ISERVER_TEST_FAILED));
            }
        }
    }
    match st.test_failures.get(&id) {
        Some(message) => Err(
            ApiError::new(StatusCode::BAD_REQUEST, "ERR002", message.clone())
                .with_iserver(ISERVER_TEST_FAILED),
        ),
        None => Ok(no_content()),
    }
}

// ---------------------------------------------------------------------------------------------
// Scale: deterministic generated objects
// ---------------------------------------------------------------------------------------------

const GENERATED_OWNERS: &[(&str, &str)] = &[
    (ADMIN_NAME, ADMIN_ID),
    ("Data Platform Service", "6A1F0C3B2E8D4F5A9B7C1D2E3F405162"),
    ("Priya Raman", "0B9D8C7A6F5E4D3C2B1A09F8E7D6C5B4"),
];

/// First second of 2021 and the span of generated timestamps (to the end of October 2026).
const GENERATED_EPOCH: i64 = 1_609_459_200;
const GENERATED_SPAN: u64 = 1_793_491_200 - 1_609_459_200;

/// Upper bound on objects per kind, to keep a mistyped scale from exhausting memory.
const MAX_SCALE: usize = 2_000_000;

fn generated_dates(tag: u64, n: u32) -> (String, String) {
    let r = splitmix64((tag << 56) ^ u64::from(n) ^ 0x5EED);
    let created_off = r % GENERATED_SPAN;
    let modified_off = created_off + (r >> 20) % (GENERATED_SPAN - created_off).max(1);
    let secs = |off: u64| GENERATED_EPOCH.saturating_add(i64::try_from(off).unwrap_or(0));
    (
        timestamp_from_secs(secs(created_off)),
        timestamp_from_secs(secs(modified_off)),
    )
}

fn unique_generated_id(st: &SimState, tag: u64, n: u64) -> Arc<str> {
    let mut salt = 0u64;
    loop {
        let id = generated_id(tag, n.wrapping_add(salt << 40));
        if !st.id_taken(&id) {
            return Arc::from(id);
        }
        salt += 1;
    }
}

/// The connection-test failure of a failing generated connection.
fn generated_failure(n: u32) -> String {
    let number = u64::from(n) + 1;
    match (n / 25) % 3 {
        0 => format!(
            "Connection timed out after 60 seconds connecting to gen-{number:05}.db.example.internal:5432"
        ),
        1 => format!(
            "[Microsoft][ODBC Driver 18 for SQL Server][SQL Server]Login failed for user 'gen_user_{number:05}'."
        ),
        _ => "[Snowflake] JWT token is invalid.".to_string(),
    }
}

/// Add generated objects until each kind holds `scale` objects. Generated connections mostly
/// use generated logins (every 13th has none), generated datasources use generated
/// connections; every 8th generated login and every 10th generated connection is an orphan,
/// and every 25th generated connection fails its connection test.
fn generate(st: &mut SimState, scale: usize) {
    let scale = scale.min(MAX_SCALE);
    let extra_logins = scale.saturating_sub(st.logins.len());
    let extra_connections = scale.saturating_sub(st.connections.len());
    let extra_datasources = scale.saturating_sub(st.datasources.len());
    if extra_logins + extra_connections + extra_datasources == 0 {
        return;
    }
    let dbms_count = st.dbmss.len();
    let dbms_for = |n: usize| -> u16 {
        if dbms_count == 0 {
            NO_DBMS
        } else {
            u16::try_from(n % dbms_count).unwrap_or(NO_DBMS)
        }
    };
    let index = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);

    st.logins.reserve(extra_logins);
    let mut used_logins: Vec<Arc<str>> = Vec::with_capacity(extra_logins);
    for n in 0..extra_logins {
        let id = unique_generated_id(st, kind_tag(Kind::Login), n as u64);
        if n % 8 != 7 {
            used_logins.push(id.clone());
        }
        st.logins.push(Entry {
            id,
            reference: None,
            links: None,
            body: Held::Generated {
                n: index(n),
                dbms: NO_DBMS,
            },
        });
    }
    if used_logins.is_empty() {
        used_logins = st.logins.entries().map(|e| e.id.clone()).collect();
    }

    st.connections.reserve(extra_connections);
    let mut used_connections: Vec<(Arc<str>, u16)> = Vec::with_capacity(extra_connections);
    for n in 0..extra_connections {
        let id = unique_generated_id(st, kind_tag(Kind::Connection), n as u64);
        let dbms = dbms_for(n);
        let reference = if n % 13 == 12 || used_logins.is_empty() {
            None
        } else {
            Some(used_logins[n % used_logins.len()].clone())
        };
        if n % 25 == 24 {
            st.test_failures
                .insert(id.to_string(), generated_failure(index(n)));
        }
        if n % 10 != 9 {
            used_connections.push((id.clone(), dbms));
        }
        st.connections.push(Entry {
            id,
            reference,
            links: None,
            body: Held::Generated { n: index(n), dbms },
        });
    }
    if used_connections.is_empty() {
        used_connections = st
            .connections
            .entries()
            .map(|e| {
                let ty = st.database_type(Kind::Connection, e);
                let dbms = st
                    .dbmss
                    .iter()
                    .position(|d| d.get("type").and_then(Value::as_str) == ty.as_deref())
                    .and_then(|p| u16::try_from(p).ok())
                    .unwrap_or(NO_DBMS);
                (e.id.clone(), dbms)
            })
            .collect();
    }

    st.datasources.reserve(extra_datasources);
    let mut previous: Option<Arc<str>> = None;
    let mut attach: Vec<(Arc<str>, bool)> = Vec::with_capacity(extra_datasources / 10 + 1);
    for n in 0..extra_datasources {
        let id = unique_generated_id(st, kind_tag(Kind::Datasource), n as u64);
        let (reference, dbms) = match used_connections.get(n % used_connections.len().max(1)) {
            Some((conn_id, dbms)) => (Some(conn_id.clone()), *dbms),
            None => (None, NO_DBMS),
        };
        // Every 20th is a replica whose primary datasource is the one before it.
        let links = match &previous {
            Some(p) if n % 20 == 19 => Some(vec![p.clone()].into_boxed_slice()),
            _ => None,
        };
        // Every 10th is attached to a project (every other one of those for good).
        if n % 10 == 5 {
            attach.push((id.clone(), n % 20 != 5));
        }
        previous = Some(id.clone());
        st.datasources.push(Entry {
            id,
            reference,
            links,
            body: Held::Generated { n: index(n), dbms },
        });
    }
    generate_projects_and_mappings(st, attach, &used_logins, extra_connections);
}

/// One generated project per 1,000 generated datasources (at least one), holding the
/// attached datasources in turn; one connection mapping per 100 generated connections.
/// Linear in the scale.
fn generate_projects_and_mappings(
    st: &mut SimState,
    attach: Vec<(Arc<str>, bool)>,
    used_logins: &[Arc<str>],
    extra_connections: usize,
) {
    if attach.is_empty() && extra_connections < 100 {
        return;
    }
    let count = (attach.len() / 100).max(1);
    let mut lists: Vec<Vec<(Arc<str>, bool)>> = vec![Vec::new(); count];
    for (i, a) in attach.into_iter().enumerate() {
        lists[i % count].push(a);
    }
    let first = st.projects.len();
    for (i, list) in lists.into_iter().enumerate() {
        let id = unique_generated_id(st, 5, i as u64);
        let wire = json!({
            "id": &*id,
            "name": format!("Generated Project {:03}", i + 1),
            "alias": "",
            "description": "Generated by the simulator",
            "status": 0,
        });
        st.add_project(wire, list);
    }
    let connections: Vec<(Arc<str>, Option<Arc<str>>)> = st
        .connections
        .entries()
        .skip(st.connections.len().saturating_sub(extra_connections))
        .map(|e| (e.id.clone(), e.reference.clone()))
        .collect();
    for (k, (conn, login)) in connections
        .iter()
        .enumerate()
        .filter(|(k, _)| k % 100 == 50)
    {
        let Some(login) = login.clone().or_else(|| used_logins.first().cloned()) else {
            continue;
        };
        let project = &st.projects[first + k % count];
        let m = json!({
            "id": &*unique_generated_id(st, 6, k as u64),
            "projectId": &*project.id,
            "connection": {"id": &**conn, "name": st.connections.name(conn).unwrap_or_default()},
            "user": {"id": GENERATED_OWNERS[1].1, "name": GENERATED_OWNERS[1].0, "subtype": 8704},
            "login": {"id": &*login, "name": st.logins.name(&login).unwrap_or_default()},
        });
        st.mappings.push(false, m);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_decoding_handles_escapes_and_plus() {
        assert_eq!(form_decode("a+b%21%zz%4"), "a b!%zz%4");
        let pairs = parse_form("loginMode=1&username=admin%40acme&password=p%26w&flag");
        assert_eq!(pairs[1], ("username".to_string(), "admin@acme".to_string()));
        assert_eq!(pairs[2], ("password".to_string(), "p&w".to_string()));
        assert_eq!(pairs[3], ("flag".to_string(), String::new()));
    }

    #[test]
    fn tokens_and_ids_have_the_vendor_shape() {
        let t = random_token();
        assert_eq!(t.len(), 26);
        assert!(t
            .chars()
            .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase()));
        let h = random_hex32();
        assert_eq!(h.len(), 32);
        assert_ne!(h, random_hex32());
        let g = generated_id(2, 41);
        assert_eq!(g, generated_id(2, 41));
        assert_eq!(g.len(), 32);
        assert!(g
            .chars()
            .all(|c| c.is_ascii_digit() || ('A'..='F').contains(&c)));
    }

    #[test]
    fn timestamps_use_offset_without_colon() {
        assert_eq!(
            timestamp_from_secs(1_628_091_875),
            "2021-08-04T15:44:35.000+0000"
        );
    }

    #[test]
    fn seed_parses_and_has_the_documented_mix() {
        let st = SimState::from_seed(&SimOptions::default()).expect("seed");
        assert!(st.logins.len() >= 12);
        assert!(st.connections.len() >= 12);
        assert!(st.datasources.len() >= 14);
        assert_eq!(st.test_failures.len(), 3);
        let orphan_logins = st
            .logins
            .entries()
            .filter(|l| st.connections.users(&l.id).is_none())
            .count();
        let orphan_connections = st
            .connections
            .entries()
            .filter(|c| st.datasources.users(&c.id).is_none())
            .count();
        assert!(orphan_logins >= 2, "orphan logins: {orphan_logins}");
        assert!(
            orphan_connections >= 2,
            "orphan connections: {orphan_connections}"
        );
    }
}
