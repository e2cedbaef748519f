//! The simulator's objects (users, databases, datasets, charts, dashboards), the simulated
//! data servers behind database URIs, the seed and the generated objects of a scale.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde_json::{Map, Value};

use super::token::{self, Signer};
use super::SimFault;
use crate::sim::{kit, SimOptions};

pub const MASK: &str = "XXXXXXXXXX";
const DAY_MS: i64 = 86_400_000;
/// Upper bound on generated objects, to keep a mistyped scale from exhausting memory.
const MAX_SCALE: usize = 2_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Admin,
    Alpha,
    Gamma,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "Admin" => Some(Role::Admin),
            "Alpha" => Some(Role::Alpha),
            "Gamma" => Some(Role::Gamma),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Role::Admin => "Admin",
            Role::Alpha => "Alpha",
            Role::Gamma => "Gamma",
        }
    }

    /// `superset init`'s role ids: Admin 1, Public 2, Alpha 3, Gamma 4, sql_lab 5.
    pub fn id(self) -> u32 {
        match self {
            Role::Admin => 1,
            Role::Alpha => 3,
            Role::Gamma => 4,
        }
    }
}

pub const ROLES: [(u32, &str); 5] = [
    (1, "Admin"),
    (2, "Public"),
    (3, "Alpha"),
    (4, "Gamma"),
    (5, "sql_lab"),
];

pub struct User {
    pub id: u32,
    pub username: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub password: String,
    pub role: Role,
    pub active: bool,
    pub login_count: u64,
    pub created_on: i64,
}

pub struct Database {
    pub id: u32,
    pub uuid: String,
    pub name: String,
    /// The URI with its real password.
    pub uri: String,
    pub created_by: u32,
    pub changed_by: u32,
    pub created_on: i64,
    pub changed_on: i64,
    /// Settings that differ from `DB_DEFAULTS` (most databases have none).
    pub props: Option<Box<Map<String, Value>>>,
}

pub struct Dataset {
    pub id: u32,
    pub uuid: String,
    pub database: u32,
    pub schema: Option<String>,
    pub table_name: String,
    pub sql: Option<String>,
    pub description: Option<String>,
    pub owners: Vec<u32>,
    pub created_by: u32,
    pub changed_by: u32,
    pub created_on: i64,
    pub changed_on: i64,
    /// Other fields a PUT stored (`cache_timeout`, `extra`, ...).
    pub props: Option<Box<Map<String, Value>>>,
}

pub struct Chart {
    pub id: u32,
    pub uuid: String,
    pub slice_name: String,
    pub viz_type: String,
    pub datasource_id: Option<u32>,
    pub datasource_type: String,
    pub params: Option<String>,
    pub description: Option<String>,
    pub cache_timeout: Option<i64>,
    pub owners: Vec<u32>,
    pub dashboards: Vec<u32>,
    pub created_by: u32,
    pub changed_by: u32,
    pub created_on: i64,
    pub changed_on: i64,
}

pub struct Dashboard {
    pub id: u32,
    pub uuid: String,
    pub title: String,
    pub slug: Option<String>,
    pub published: bool,
    pub owners: Vec<u32>,
    pub json_metadata: Option<String>,
    pub position_json: Option<String>,
    pub css: Option<String>,
    pub created_by: u32,
    pub changed_by: u32,
    pub created_on: i64,
    pub changed_on: i64,
}

/// A simulated data server (or SQLite file) a database URI may point at.
#[derive(Debug, Clone)]
pub struct Backend {
    pub password: Option<String>,
    pub reachable: bool,
    /// `table` (default schema) or `schema.table`.
    pub tables: Vec<String>,
}

pub struct State {
    pub signer: Signer,
    pub users: BTreeMap<u32, User>,
    pub databases: BTreeMap<u32, Database>,
    pub datasets: BTreeMap<u32, Dataset>,
    pub charts: BTreeMap<u32, Chart>,
    pub dashboards: BTreeMap<u32, Dashboard>,
    pub backends: HashMap<String, Backend>,
    pub csrf: bool,
    pub rate_limit: Option<u32>,
    pub windows: kit::RateWindows<()>,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    pub faults: kit::FaultQueue<SimFault>,
    /// SQLite metadata's `UNIQUE (table_name)` on datasets (off: Postgres metadata).
    pub unique_table_names: bool,
    /// Ordered ids of recent list queries, forgotten on every change.
    pub lists: super::list::OrderCache,
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Naive ISO timestamp with microseconds, as item GETs write it.
pub fn naive(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.6f")
        .to_string()
}

/// `changed_on_utc` of lists: `2026-12-04T16:52:30.790995+0000`.
pub fn utc(ms: i64) -> String {
    format!("{}+0000", naive(ms))
}

/// Python `humanize.naturaltime` of the age of `ms`.
pub fn humanized(ms: i64) -> String {
    let secs = (now_ms() - ms).max(0) / 1000;
    let unit = |n: i64, one: &str, many: &str| {
        if n == 1 {
            format!("{one} ago")
        } else {
            format!("{n} {many} ago")
        }
    };
    match secs {
        0 => "now".into(),
        1..=59 => unit(secs, "a second", "seconds"),
        60..=3599 => unit(secs / 60, "a minute", "minutes"),
        3600..=86_399 => unit(secs / 3600, "an hour", "hours"),
        86_400..=2_591_999 => unit(secs / 86_400, "a day", "days"),
        2_592_000..=31_535_999 => unit(secs / 2_592_000, "a month", "months"),
        _ => unit(secs / 31_536_000, "a year", "years"),
    }
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The deterministic uuid of seeded or generated object `id` of kind `kind`.
fn fixed_uuid(kind: u64, id: u32) -> String {
    let n = (kind << 32) | u64::from(id);
    token::uuid_from(splitmix64(n * 2), splitmix64(n * 2 + 1))
}

// ---------------------------------------------------------------------------------------------
// URIs and connection tests
// ---------------------------------------------------------------------------------------------

/// A SQLAlchemy URL, split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uri {
    /// As written, e.g. `postgresql+psycopg2`.
    pub scheme: String,
    /// `postgresql`, `sqlite`, `mysql`, ...
    pub dialect: String,
    pub driver: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub host: Option<String>,
    pub port: Option<u16>,
    /// The database name, or the SQLite path.
    pub database: Option<String>,
    pub query: Option<String>,
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| char::from(c).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn percent_encode_userinfo(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=".contains(c) {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    out
}

impl Uri {
    /// SQLAlchemy's `make_url`: `name[+driver]://[user[:password]@][host][:port][/database][?query]`.
    pub fn parse(s: &str) -> Option<Uri> {
        let s = s.trim();
        let (scheme, rest) = s.split_once("://")?;
        if scheme.is_empty()
            || !scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '_')
        {
            return None;
        }
        let (dialect, driver) = match scheme.split_once('+') {
            Some((d, v)) => (d.to_string(), Some(v.to_string())),
            None => (scheme.to_string(), None),
        };
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, Some(q.to_string())),
            None => (rest, None),
        };
        let (authority, database) = match rest.split_once('/') {
            Some((a, d)) => (a, Some(d.to_string())),
            None => (rest, None),
        };
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (username, password) = match userinfo {
            None => (None, None),
            Some(u) => match u.split_once(':') {
                Some((n, p)) => (Some(percent_decode(n)), Some(percent_decode(p))),
                None => (Some(percent_decode(u)), None),
            },
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || hostport.ends_with(']') => {
                (h.to_string(), Some(p.parse::<u16>().ok()?))
            }
            _ => (hostport.to_string(), None),
        };
        if dialect == "sqlite" && userinfo.is_some() {
            return None;
        }
        Some(Uri {
            scheme: scheme.to_string(),
            dialect,
            driver,
            username: username.filter(|u| !u.is_empty()),
            password,
            host: Some(host).filter(|h| !h.is_empty()),
            port,
            database: database.filter(|d| !d.is_empty()),
            query,
        })
    }

    /// The URL with this password (none: without one).
    pub fn render(&self, password: Option<&str>) -> String {
        let mut out = format!("{}://", self.scheme);
        if let Some(u) = &self.username {
            out.push_str(&percent_encode_userinfo(u));
            if let Some(p) = password {
                out.push(':');
                out.push_str(&percent_encode_userinfo(p));
            }
            out.push('@');
        }
        if let Some(h) = &self.host {
            out.push_str(h);
        }
        if let Some(p) = self.port {
            out.push_str(&format!(":{p}"));
        }
        if let Some(d) = &self.database {
            out.push('/');
            out.push_str(d);
        } else if self.dialect == "sqlite" {
            out.push('/');
        }
        if let Some(q) = &self.query {
            out.push('?');
            out.push_str(q);
        }
        out
    }

    /// The URL as the API shows it: the password replaced by the mask.
    pub fn masked(&self) -> String {
        self.render(self.password.as_ref().map(|_| MASK))
    }

    pub fn default_port(&self) -> Option<u16> {
        match self.dialect.as_str() {
            "postgresql" => Some(5432),
            "mysql" => Some(3306),
            _ => None,
        }
    }

    /// The key of the backend this URL reaches: dialect, user, host, port, database (SQLite:
    /// its path).
    pub fn backend_key(&self) -> String {
        if self.dialect == "sqlite" {
            return format!("sqlite:{}", self.database.as_deref().unwrap_or(""));
        }
        format!(
            "{}://{}@{}:{}/{}",
            self.dialect,
            self.username.as_deref().unwrap_or(""),
            self.host.as_deref().unwrap_or("localhost"),
            self.port.or(self.default_port()).unwrap_or(0),
            self.database.as_deref().unwrap_or("")
        )
    }

    pub fn engine(&self) -> Option<Engine> {
        Engine::of(&self.dialect)
    }

    /// `parameters` of the connection (SQLite: `{}`).
    pub fn parameters(&self) -> Value {
        if self.dialect == "sqlite" {
            return Value::Object(Map::new());
        }
        serde_json::json!({
            "database": self.database.clone().unwrap_or_default(),
            "encryption": false,
            "host": self.host.clone().unwrap_or_default(),
            "password": self.password.as_ref().map(|_| MASK),
            "port": self.port.or(self.default_port()),
            "query": {},
            "username": self.username.clone().unwrap_or_default(),
        })
    }
}

/// The engines the simulator has drivers for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Engine {
    pub backend: &'static str,
    pub name: &'static str,
    pub driver: &'static str,
    pub default_schema: &'static str,
}

impl Engine {
    pub fn of(dialect: &str) -> Option<Engine> {
        let (backend, name, driver, default_schema) = match dialect {
            "postgresql" => ("postgresql", "PostgreSQL", "psycopg2", "public"),
            "sqlite" => ("sqlite", "SQLite", "pysqlite", "main"),
            "mysql" => ("mysql", "MySQL", "mysqldb", ""),
            _ => return None,
        };
        Some(Engine {
            backend,
            name,
            driver,
            default_schema,
        })
    }
}

/// Why a connection test failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnError {
    /// No driver for the dialect: `Could not load database driver for: x`.
    Driver(String),
    /// The server refused the password (issue 1013).
    Password { engine: Engine, message: String },
    /// The server (or SQLite file) cannot be reached (issue 1002).
    Unreachable { engine: Engine, message: String },
}

const BACKGROUND: &str = "(Background on this error at: https://sqlalche.me/e/14/e3q8)";

impl State {
    /// Connect to what `uri` points at: the tables there (`schema.table`), or why not.
    pub fn connect(&self, uri: &Uri) -> Result<Vec<(String, String)>, ConnError> {
        let engine = uri
            .engine()
            .ok_or_else(|| ConnError::Driver(uri.dialect.clone()))?;
        let backend = self.backends.get(&uri.backend_key());
        let unreachable = |message: String| ConnError::Unreachable { engine, message };
        let tables = |b: Option<&Backend>, default: &str| -> Vec<(String, String)> {
            b.map(|b| {
                b.tables
                    .iter()
                    .map(|t| match t.split_once('.') {
                        Some((s, t)) => (s.to_string(), t.to_string()),
                        None => (default.to_string(), t.clone()),
                    })
                    .collect()
            })
            .unwrap_or_default()
        };
        if engine.backend == "sqlite" {
            let path = uri.database.clone().unwrap_or_default();
            let open = match std::path::Path::new(&path).parent() {
                _ if path.is_empty() || path == ":memory:" => true,
                Some(p) if p.as_os_str().is_empty() => true,
                Some(p) => p.is_dir(),
                None => false,
            };
            if !open || backend.is_some_and(|b| !b.reachable) {
                return Err(unreachable(format!(
                    "(sqlite3.OperationalError) unable to open database file\n{BACKGROUND}"
                )));
            }
            return Ok(tables(backend, "main"));
        }
        let host = uri.host.clone().unwrap_or_else(|| "localhost".into());
        let port = uri.port.or(uri.default_port()).unwrap_or(0);
        let Some(b) = backend.filter(|b| b.reachable) else {
            let message = if engine.backend == "mysql" {
                format!(
                    "(MySQLdb.OperationalError) (2003, \"Can't connect to MySQL server on '{host}' ([Errno 111] Connection refused)\")\n{BACKGROUND}"
                )
            } else {
                format!(
                    "(psycopg2.OperationalError) connection to server at \"{host}\" ({host}), port {port} failed: Connection refused\n\tIs the server running on that host and accepting TCP/IP connections?\n\n{BACKGROUND}"
                )
            };
            return Err(unreachable(message));
        };
        if b.password.is_some() && b.password != uri.password {
            let user = uri.username.clone().unwrap_or_default();
            let message = if engine.backend == "mysql" {
                format!("Either the username \"{user}\" or the password is incorrect.")
            } else {
                format!("The password provided for username \"{user}\" is incorrect.")
            };
            return Err(ConnError::Password { engine, message });
        }
        let default = if engine.backend == "mysql" {
            uri.database.clone().unwrap_or_default()
        } else {
            engine.default_schema.to_string()
        };
        Ok(tables(Some(b), &default))
    }

    /// Register (or replace) a backend.
    pub fn add_backend(&mut self, uri: &str, password: Option<&str>, tables: &[&str]) -> bool {
        let Some(u) = Uri::parse(uri) else {
            return false;
        };
        self.backends.insert(
            u.backend_key(),
            Backend {
                password: password.map(str::to_string),
                reachable: true,
                tables: tables.iter().map(|t| t.to_string()).collect(),
            },
        );
        true
    }

    pub fn backend_mut(&mut self, uri: &str) -> Option<&mut Backend> {
        let key = Uri::parse(uri)?.backend_key();
        self.backends.get_mut(&key)
    }
}

// ---------------------------------------------------------------------------------------------
// Seed and scale
// ---------------------------------------------------------------------------------------------

const SEED: &str = include_str!("../../../assets/superset.json");

fn invalid_data(message: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, message)
}

fn str_of(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

fn u32_of(v: &Value, key: &str) -> Option<u32> {
    v.get(key)
        .and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
}

fn ids_of(v: &Value, key: &str) -> Vec<u32> {
    v.get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|x| x.as_u64().and_then(|n| u32::try_from(n).ok()))
        .collect()
}

/// Database settings every database has unless set otherwise, in the order emitted.
pub const DB_DEFAULTS: [(&str, DbDefault); 12] = [
    ("allow_ctas", DbDefault::Bool(false)),
    ("allow_cvas", DbDefault::Bool(false)),
    ("allow_dml", DbDefault::Bool(false)),
    ("allow_file_upload", DbDefault::Bool(false)),
    ("allow_run_async", DbDefault::Bool(false)),
    ("cache_timeout", DbDefault::Null),
    ("configuration_method", DbDefault::Str("sqlalchemy_form")),
    ("expose_in_sqllab", DbDefault::Bool(true)),
    (
        "extra",
        DbDefault::Str("{\"allows_virtual_table_explore\": true}"),
    ),
    ("force_ctas_schema", DbDefault::Null),
    ("impersonate_user", DbDefault::Bool(false)),
    ("is_managed_externally", DbDefault::Bool(false)),
];

#[derive(Debug, Clone, Copy)]
pub enum DbDefault {
    Bool(bool),
    Str(&'static str),
    Null,
}

impl DbDefault {
    pub fn value(self) -> Value {
        match self {
            DbDefault::Bool(b) => Value::Bool(b),
            DbDefault::Str(s) => Value::from(s),
            DbDefault::Null => Value::Null,
        }
    }
}

impl Database {
    pub fn prop(&self, key: &str) -> Value {
        if let Some(v) = self.props.as_ref().and_then(|m| m.get(key)) {
            return v.clone();
        }
        DB_DEFAULTS
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, d)| d.value())
            .unwrap_or(Value::Null)
    }

    pub fn set_prop(&mut self, key: &str, v: Value) {
        self.props
            .get_or_insert_with(Default::default)
            .insert(key.to_string(), v);
    }

    pub fn parsed(&self) -> Uri {
        Uri::parse(&self.uri).unwrap_or(Uri {
            scheme: "sqlite".into(),
            dialect: "sqlite".into(),
            driver: None,
            username: None,
            password: None,
            host: None,
            port: None,
            database: None,
            query: None,
        })
    }
}

impl Dataset {
    pub fn is_virtual(&self) -> bool {
        self.sql.as_deref().is_some_and(|s| !s.trim().is_empty())
    }

    /// `schema.table` (or the table alone).
    pub fn full_name(&self) -> String {
        match &self.schema {
            Some(s) if !s.is_empty() => format!("{s}.{}", self.table_name),
            _ => self.table_name.clone(),
        }
    }
}

impl State {
    pub fn from_seed(opts: &SimOptions) -> std::io::Result<State> {
        let seed: Value = serde_json::from_str(SEED)
            .map_err(|e| invalid_data(format!("bad Superset seed: {e}")))?;
        let now = now_ms();
        let at = |v: &Value| now - v.get("days_ago").and_then(Value::as_i64).unwrap_or(0) * DAY_MS;
        let list = |key: &str| {
            seed.get(key)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        };
        let mut st = State {
            signer: Signer::new(),
            users: BTreeMap::new(),
            databases: BTreeMap::new(),
            datasets: BTreeMap::new(),
            charts: BTreeMap::new(),
            dashboards: BTreeMap::new(),
            backends: HashMap::new(),
            csrf: true,
            rate_limit: None,
            windows: kit::RateWindows::new(kit::Window::Fixed),
            access_ttl: Duration::from_secs(900),
            refresh_ttl: Duration::from_secs(30 * 86_400),
            faults: kit::FaultQueue::default(),
            unique_table_names: false,
            lists: Default::default(),
        };
        for u in list("users") {
            let id = u32_of(&u, "id").ok_or_else(|| invalid_data("seed user without id".into()))?;
            st.users.insert(
                id,
                User {
                    id,
                    username: str_of(&u, "username").unwrap_or_default(),
                    first_name: str_of(&u, "first_name").unwrap_or_default(),
                    last_name: str_of(&u, "last_name").unwrap_or_default(),
                    email: str_of(&u, "email").unwrap_or_default(),
                    password: str_of(&u, "password").unwrap_or_default(),
                    role: str_of(&u, "role")
                        .and_then(|r| Role::parse(&r))
                        .unwrap_or(Role::Gamma),
                    active: true,
                    login_count: u.get("login_count").and_then(Value::as_u64).unwrap_or(0),
                    created_on: at(&u),
                },
            );
        }
        for b in list("backends") {
            let uri = str_of(&b, "uri").unwrap_or_default();
            let tables: Vec<String> = b
                .get("tables")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|t| t.as_str().map(str::to_string))
                .collect();
            let refs: Vec<&str> = tables.iter().map(String::as_str).collect();
            if !st.add_backend(&uri, b.get("password").and_then(Value::as_str), &refs) {
                return Err(invalid_data(format!("seed backend with a bad uri: {uri}")));
            }
        }
        for d in list("databases") {
            let id = u32_of(&d, "id").ok_or_else(|| invalid_data("seed db without id".into()))?;
            let by = u32_of(&d, "created_by").unwrap_or(1);
            let mut db = Database {
                id,
                uuid: fixed_uuid(1, id),
                name: str_of(&d, "database_name").unwrap_or_default(),
                uri: str_of(&d, "sqlalchemy_uri").unwrap_or_default(),
                created_by: by,
                changed_by: by,
                created_on: at(&d),
                changed_on: at(&d),
                props: None,
            };
            for (k, _) in DB_DEFAULTS {
                if let Some(v) = d.get(k) {
                    db.set_prop(k, v.clone());
                }
            }
            st.databases.insert(id, db);
        }
        for d in list("datasets") {
            let id =
                u32_of(&d, "id").ok_or_else(|| invalid_data("seed dataset without id".into()))?;
            let by = u32_of(&d, "created_by").unwrap_or(1);
            st.datasets.insert(
                id,
                Dataset {
                    id,
                    uuid: fixed_uuid(2, id),
                    database: u32_of(&d, "database").unwrap_or(1),
                    schema: str_of(&d, "schema"),
                    table_name: str_of(&d, "table_name").unwrap_or_default(),
                    sql: str_of(&d, "sql"),
                    description: str_of(&d, "description"),
                    owners: ids_of(&d, "owners"),
                    created_by: by,
                    changed_by: by,
                    created_on: at(&d),
                    changed_on: at(&d),
                    props: None,
                },
            );
        }
        for c in list("charts") {
            let id =
                u32_of(&c, "id").ok_or_else(|| invalid_data("seed chart without id".into()))?;
            let by = u32_of(&c, "created_by").unwrap_or(1);
            let datasource_id = u32_of(&c, "datasource_id");
            let viz_type = str_of(&c, "viz_type").unwrap_or_else(|| "table".into());
            let params = str_of(&c, "params").or_else(|| {
                datasource_id.map(|ds| {
                    format!("{{\"datasource\": \"{ds}__table\", \"viz_type\": \"{viz_type}\"}}")
                })
            });
            st.charts.insert(
                id,
                Chart {
                    id,
                    uuid: fixed_uuid(3, id),
                    slice_name: str_of(&c, "slice_name").unwrap_or_default(),
                    viz_type,
                    datasource_id,
                    datasource_type: "table".into(),
                    params,
                    description: str_of(&c, "description"),
                    cache_timeout: None,
                    owners: ids_of(&c, "owners"),
                    dashboards: ids_of(&c, "dashboards"),
                    created_by: by,
                    changed_by: by,
                    created_on: at(&c),
                    changed_on: at(&c),
                },
            );
        }
        for d in list("dashboards") {
            let id =
                u32_of(&d, "id").ok_or_else(|| invalid_data("seed dashboard without id".into()))?;
            let by = u32_of(&d, "created_by").unwrap_or(1);
            st.dashboards.insert(
                id,
                Dashboard {
                    id,
                    uuid: fixed_uuid(4, id),
                    title: str_of(&d, "dashboard_title").unwrap_or_default(),
                    slug: str_of(&d, "slug"),
                    published: d.get("published").and_then(Value::as_bool).unwrap_or(false),
                    owners: ids_of(&d, "owners"),
                    json_metadata: None,
                    position_json: None,
                    css: None,
                    created_by: by,
                    changed_by: by,
                    created_on: at(&d),
                    changed_on: at(&d),
                },
            );
        }
        if st
            .users
            .values()
            .all(|u| u.username != super::DEMO_USERNAME)
        {
            return Err(invalid_data("Superset seed has no demo user".into()));
        }
        st.generate(opts.scale.min(MAX_SCALE), now);
        Ok(st)
    }

    /// `n` generated databases and `n` datasets on them, ids after the seed's, dated before
    /// it; all on one simulated Postgres server that is reachable.
    fn generate(&mut self, n: usize, now: i64) {
        if n == 0 {
            return;
        }
        let n = u32::try_from(n).unwrap_or(u32::MAX);
        self.add_backend(
            "postgresql://gen_reader@10.99.0.5:5432/warehouse",
            Some("gen-reader-pass"),
            &["events", "sessions", "pageviews"],
        );
        let first_db = self.databases.keys().next_back().copied().unwrap_or(0) + 1;
        let first_ds = self.datasets.keys().next_back().copied().unwrap_or(0) + 1;
        let oldest = now - 400 * DAY_MS;
        for k in 0..n {
            let id = first_db + k;
            let t = oldest - i64::from(n - k) * 60_000;
            self.databases.insert(
                id,
                Database {
                    id,
                    uuid: fixed_uuid(1, id),
                    name: format!("gen-db-{:06}", k + 1),
                    uri: "postgresql://gen_reader:gen-reader-pass@10.99.0.5:5432/warehouse".into(),
                    created_by: 1,
                    changed_by: 1,
                    created_on: t,
                    changed_on: t,
                    props: None,
                },
            );
        }
        for k in 0..n {
            let id = first_ds + k;
            let t = oldest - i64::from(n - k) * 60_000;
            self.datasets.insert(
                id,
                Dataset {
                    id,
                    uuid: fixed_uuid(2, id),
                    database: first_db + k,
                    schema: Some("public".into()),
                    table_name: format!("gen_table_{:06}", k + 1),
                    sql: None,
                    description: None,
                    owners: vec![1],
                    created_by: 1,
                    changed_by: 1,
                    created_on: t,
                    changed_on: t,
                    props: None,
                },
            );
        }
    }

    /// The next id of a table whose ids are `keys` (SQLite's rowid: the largest plus one, so
    /// ids of deleted newest objects come back).
    pub fn next_id<T>(map: &BTreeMap<u32, T>) -> u32 {
        map.keys().next_back().copied().unwrap_or(0) + 1
    }

    /// Something changed: cached list orders are stale.
    pub fn touch(&self) {
        self.lists.invalidate();
    }

    pub fn user_brief(&self, id: u32) -> Value {
        match self.users.get(&id) {
            Some(u) => {
                serde_json::json!({"first_name": u.first_name, "id": u.id, "last_name": u.last_name})
            }
            None => Value::Null,
        }
    }
}
