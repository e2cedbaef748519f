//! Databrain API client: datasources (addressed by name) and the datamarts built on them,
//! listed page by page with an org-level service token, and deletes by name whose refusals
//! (`DATASOURCE_IN_USE`, `DATASOURCE_NAME_ERROR`, `AUTHENTICATION_ERROR`) become clear
//! sentences. Datamarts are read-only here: they are listed to know which datasources are in
//! use, never deleted.

use super::http::{path_segment, sensitive_value, HttpCore, HttpRequest, HttpResponse};
use super::retry::RetryPolicy;
use super::{ApiError, ClientSettings, DeleteOutcome, Snapshot, VendorApi, VendorSpec};
use crate::model::{
    cells, link_references, Cell, CellCtx, CellTone, ColWidth, ColumnDef, Kind, Ref, Resource,
    SyncInfo, VendorId,
};
use futures::future::BoxFuture;
use reqwest::header::AUTHORIZATION;
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

const V: VendorId = VendorId::Databrain;
/// Items per page of the paginated lists (documented for datasources and datamarts).
pub const PAGE_SIZE: usize = 10;
/// Last page requested from one list, whatever the server answers (200,000 objects).
const MAX_PAGES: u32 = 20_000;
/// Retries of a GET after the first attempt (see `retry`).
const READS: RetryPolicy = RetryPolicy::reads(2);
const DATASOURCE_PATH: &str = "/api/v2/datasource";
const DATAMARTS_PATH: &str = "/api/v2/data-app/datamarts";
/// The camelCase route older installations still serve (being replaced by the kebab-case one).
const LEGACY_DATAMARTS_PATH: &str = "/api/v2/dataApp/datamarts";
/// The data app's embeds (dashboards and metrics embedded in the customer's product).
pub const EMBEDS_PATH: &str = "/api/v2/data-app/embeds";
/// The camelCase embed route ("will be deprecated").
const LEGACY_EMBEDS_PATH: &str = "/api/v2/dataApp/embeds";

const SYNC_PATH: &str = "/api/v2/datasource/sync";
const PROGRESS_PATH: &str = "/api/v2/datasource/getDatasourceProgress";
/// How often a running sync's progress is read, and for how long at most (the docs do not
/// say how long a sync takes; [guess] ≥ 120 s).
const SYNC_POLL: Duration = Duration::from_secs(2);
const SYNC_BOUND: Duration = Duration::from_secs(120);
const CODE_IN_USE: &str = "DATASOURCE_IN_USE";
const CODE_NAME_ERROR: &str = "DATASOURCE_NAME_ERROR";
const CODE_NOT_FOUND: &str = "DATASOURCE_NOT_FOUND";
const CODE_INVALID_BODY: &str = "INVALID_REQUEST_BODY";

// ---------------------------------------------------------------------------------------------
// Static facts
// ---------------------------------------------------------------------------------------------

/// "in use by 2: sales-analytics, ops-metrics" (warn), "not used" (dim), or "? unknown" when
/// the datamarts could not be listed (the datasource is then not marked as an orphan).
fn ds_used_by(r: &Resource, _: &CellCtx) -> Cell {
    if r.used_by.is_empty() {
        return if r.orphan {
            Cell::tone("not used", CellTone::Dim)
        } else {
            Cell::tone("? unknown", CellTone::Dim)
        };
    }
    let names: Vec<&str> = r.used_by.iter().take(3).map(|u| u.name.as_str()).collect();
    let more = if r.used_by.len() > 3 { ", …" } else { "" };
    Cell::tone(
        format!("in use by {}: {}{more}", r.used_by.len(), names.join(", ")),
        CellTone::Warn,
    )
}

fn dm_datasource(r: &Resource, _: &CellCtx) -> Cell {
    cells::first_dep(r, Kind::Datasources)
}

fn dm_tenancy(r: &Resource, _: &CellCtx) -> Cell {
    match r.raw_str("/datamartOrganization/tenancyLevel") {
        Some(t) if !t.is_empty() => Cell::plain(t),
        _ => Cell::tone("-", CellTone::Dim),
    }
}

fn table_count(r: &Resource) -> Option<usize> {
    r.raw
        .value()
        .get("datamartTables")
        .and_then(Value::as_array)
        .map(Vec::len)
}

fn dm_tables(r: &Resource, _: &CellCtx) -> Cell {
    match table_count(r) {
        Some(n) => Cell::plain(n.to_string()),
        None => Cell::tone("-", CellTone::Dim),
    }
}

fn dm_tables_key(r: &Resource) -> String {
    format!("{:08}", table_count(r).unwrap_or(0))
}

static DATASOURCE_COLUMNS: [ColumnDef; 2] = [
    ColumnDef {
        title: "Name",
        width: ColWidth::Names(28),
        cell: cells::name,
        sort_key: None,
    },
    ColumnDef {
        title: "Used by",
        width: ColWidth::Fill(32),
        cell: ds_used_by,
        sort_key: Some(cells::used_by_key),
    },
];

static DATAMART_COLUMNS: [ColumnDef; 4] = [
    ColumnDef {
        title: "Name",
        width: ColWidth::Names(24),
        cell: cells::name,
        sort_key: None,
    },
    ColumnDef {
        title: "Datasource",
        width: ColWidth::Names(22),
        cell: dm_datasource,
        sort_key: None,
    },
    ColumnDef {
        title: "Tenancy",
        width: ColWidth::Fixed(9),
        cell: dm_tenancy,
        sort_key: None,
    },
    ColumnDef {
        title: "Tables",
        width: ColWidth::Fixed(7),
        cell: dm_tables,
        sort_key: Some(dm_tables_key),
    },
];

fn columns(kind: Kind) -> &'static [ColumnDef] {
    match kind {
        Kind::Datasources => &DATASOURCE_COLUMNS,
        Kind::Datamarts => &DATAMART_COLUMNS,
        _ => &[],
    }
}

pub static SPEC: VendorSpec = VendorSpec {
    vendor: VendorId::Databrain,
    kinds: &[Kind::Datasources, Kind::Datamarts],
    orphan_kinds: &[Kind::Datasources],
    // Datamarts are read-only: no plan ever contains one.
    delete_order: &[Kind::Datasources],
    columns,
    can_create: false,
    can_test: false,
    health_checks: &[(Kind::Datasources, super::CheckKind::Sync)],
    soft_delete: false,
    impact_container: "data app",
    impact_per_minute: None,
    supported: true,
    edit_fields,
    update_tests_credentials: true,
};

use super::change::{Change, EditField, FieldValue};

const DATASOURCE_EDIT: &[EditField] = &[
    EditField::text("host", "Host", "/host").verified(),
    EditField::text("port", "Port", "/port").verified(),
    EditField::text("database", "Database", "/database").verified(),
    EditField::text("username", "Database user", "/username").verified(),
    EditField::secret("password", "Database password")
        .always()
        .help(
        "required on every change: Databrain replaces the full credentials and never returns them",
    ),
    EditField::text("schema", "Schema", "/schema").verified(),
    EditField::text("datasource_type", "Type", "/datasourceType")
        .help("cannot change; needed when Databrain's list does not say it (postgres, mysql, ...)"),
];

/// What Databrain lets a client change on a datasource (`PUT` with the full credentials;
/// the name is the lookup key and cannot change). Datamarts: nothing.
fn edit_fields(kind: Kind) -> &'static [EditField] {
    match kind {
        Kind::Datasources => DATASOURCE_EDIT,
        _ => &[],
    }
}

/// Credential keys a change may set, as the field is named and as Databrain names it for
/// most types (MSSQL: `server`, `user`).
const CREDENTIAL_KEYS: [(&str, &str); 6] = [
    ("host", "host"),
    ("port", "port"),
    ("database", "database"),
    ("username", "username"),
    ("password", "password"),
    ("schema", "schema"),
];

fn wire_key(ty: &str, key: &'static str) -> &'static str {
    match (ty, key) {
        ("mssql", "host") => "server",
        ("mssql", "username") => "user",
        _ => key,
    }
}

/// The `PUT /api/v2/datasource` body of a change: the full credentials Databrain requires,
/// from the change, else from what the datasource list shows of the object (`raw`: at the
/// top or under `credentials`), with the name as the lookup key. The password is always
/// required (the API never returns it).
pub fn update_body(name: &str, raw: &Value, change: &Change) -> Result<Value, String> {
    for c in &change.fields {
        if c.field != "datasource_type" && !CREDENTIAL_KEYS.iter().any(|(f, _)| *f == c.field) {
            return Err(format!(
                "Databrain datasources have no field '{}' to change{}",
                c.field,
                if c.field == "name" {
                    " (the name is how Databrain finds the datasource)"
                } else {
                    ""
                }
            ));
        }
        if matches!(c.value, FieldValue::Unset) {
            return Err(format!("'{}' cannot be cleared", c.field));
        }
    }
    if !matches!(change.get("password"), Some(FieldValue::Secret(_))) {
        return Err(format!(
            "datasource '{name}' was not changed: Databrain replaces the full credentials on \
             every update and never returns the password, so give it too (--secret-env \
             password=VAR; the current one if it does not change)"
        ));
    }
    let listed = |key: &str| {
        raw.get(key)
            .or_else(|| raw.pointer(&format!("/credentials/{key}")))
            .filter(|v| !v.is_null())
            .cloned()
    };
    let ty = change
        .text("datasource_type")
        .map(|t| t.trim().to_string())
        .or_else(|| {
            listed("datasourceType")
                .or_else(|| listed("type"))
                .and_then(|v| v.as_str().map(str::to_string))
        })
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            format!(
                "datasource '{name}' was not changed: Databrain needs its type on every update \
                 and its list does not say it; add --set datasource_type=postgres (or its type)"
            )
        })?;
    let mut creds = serde_json::Map::new();
    creds.insert("name".into(), Value::from(name));
    for (field, key) in CREDENTIAL_KEYS {
        let wire = wire_key(&ty, key);
        let value = match change.get(field) {
            Some(FieldValue::Text(t)) if field == "port" => match t.trim().parse::<u16>() {
                Ok(p) => Value::from(p),
                Err(_) => return Err(format!("'port' must be a port number, not '{t}'")),
            },
            Some(v) => Value::from(v.expose().unwrap_or_default()),
            None => match listed(wire).or_else(|| listed(key)) {
                Some(v) => v,
                None => continue,
            },
        };
        creds.insert(wire.into(), value);
    }
    Ok(json!({"datasourceType": ty, "credentials": creds}))
}

/// Databrain in the vendor registry.
pub static VENDOR: super::entry::Vendor = super::Vendor {
    spec: &SPEC,
    config: super::entry::ConfigSpec {
        secret: "token",
        username: false,
        keys: &[
            super::entry::ConfigKey {
                name: "data_app_key",
                value: super::entry::KeyValue::Secret,
                shown_default: None,
            },
            // `name=uuid, name=uuid`: the UUIDs sync needs, which no list returns.
            super::entry::ConfigKey {
                name: "datasource_ids",
                value: super::entry::KeyValue::Text,
                shown_default: None,
            },
        ],
        aliases: &[],
        secret_optional: |_| false,
    },
    connect: |s| Ok(std::sync::Arc::new(DatabrainClient::new(s)?)),
    create_form: |_, _| None,
    decode_error: super::http::decode_error,
    error_example: super::entry::ErrorExample {
        status: 400,
        body: r#"{"error":{"code":"DATASOURCE_IN_USE","message":"Datasource is being used by other resources"}}"#,
        code: Some("DATASOURCE_IN_USE"),
        message: "Datasource is being used by other resources",
    },
    #[cfg(feature = "sim")]
    sim: super::entry::SimSpec {
        start: |opts| {
            Box::pin(async move {
                let sim = crate::sim::databrain::start(&opts).await?;
                let ids = sim.control.datasource_ids();
                Ok(crate::sim::RunningSim::new(sim.base_url.clone(), sim)
                    .with_demo_options(vec![("datasource_ids".into(), ids)]))
            })
        },
        demo: super::entry::DemoLogin {
            profile: "demo-databrain",
            username: None,
            secret: crate::sim::databrain::DEMO_TOKEN,
            secrets: &[("data_app_key", crate::sim::databrain::DEMO_DATA_APP_KEY)],
        },
    },
};

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

/// Normalise a base URL: `http(s)://` required, query and fragment dropped, a trailing `/`,
/// `/api` or `/api/v2[/...]` cut (the client appends `/api/v2/...` itself). A self-hosted
/// installation under a sub-path keeps it.
pub fn normalize_base_url(raw: &str) -> Result<String, String> {
    let base = super::http::BaseUrl::parse(raw)?;
    let mut rest = base.rest;
    // The last "/api/v2" segment pair, and what follows it, is the API, not the root.
    if let Some(at) = find_segments(rest, "/api/v2") {
        rest = &rest[..at];
    } else if let Some(stripped) = rest.strip_suffix("/api") {
        rest = stripped;
    }
    base.with_rest(rest)
}

/// Byte offset of the last occurrence of `needle` in `path` that ends on a segment boundary
/// and does not start inside the host part.
fn find_segments(path: &str, needle: &str) -> Option<usize> {
    let host_end = path.find('/').unwrap_or(path.len());
    path.match_indices(needle)
        .map(|(at, _)| at)
        .filter(|&at| at >= host_end)
        .filter(|&at| matches!(path[at + needle.len()..].chars().next(), None | Some('/')))
        .last()
}

/// The name of a list item: `{"name": "..."}` (documented) or a bare string. Names are kept
/// exactly as sent (the API matches them exactly), only an empty name is no name.
fn item_name(v: &Value) -> Option<&str> {
    match v {
        Value::String(s) => Some(s.as_str()),
        Value::Object(o) => o.get("name").and_then(Value::as_str),
        _ => None,
    }
    .filter(|s| !s.is_empty())
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// One item of the datasource list as a `Resource`: id and name are the datasource name (the
/// API addresses datasources by name). The list documents names only; a type is taken if a
/// server sends one.
pub fn parse_datasource(profile: &str, v: &Value) -> Option<Resource> {
    let name = item_name(v)?;
    let mut r = Resource::new(V, profile, Kind::Datasources, name, name);
    r.type_ = str_at(v, "/datasourceType")
        .or_else(|| str_at(v, "/type"))
        .map(crate::model::intern);
    r.raw = v.into();
    Some(r)
}

/// One item of the datamart list as a `Resource` (id and name: the datamart name), depending
/// on the datasource named by `companyIntegration.name`.
pub fn parse_datamart(profile: &str, v: &Value) -> Option<Resource> {
    let name = v
        .get("name")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())?;
    let mut r = Resource::new(V, profile, Kind::Datamarts, name, name);
    if let Some(ds) = v
        .pointer("/companyIntegration/name")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    {
        r.depends_on.push(Ref {
            kind: Kind::Datasources,
            id: ds.into(),
            name: ds.into(),
        });
    }
    r.raw = v.into();
    Some(r)
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// Which secret a request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cred {
    ServiceToken,
    DataAppKey,
}

fn code_is(e: &ApiError, code: &str) -> bool {
    e.code().is_some_and(|c| c.eq_ignore_ascii_case(code))
}

/// A refused credential: 401, or an `AUTHENTICATION_ERR...` code (spellings vary).
fn is_auth_refusal(e: &ApiError) -> bool {
    match e {
        ApiError::Http { status, code, .. } => {
            *status == 401
                || code
                    .as_deref()
                    .is_some_and(|c| c.to_ascii_uppercase().starts_with("AUTHENTICATION_ERR"))
        }
        _ => false,
    }
}

/// Refused for lack of rights with this credential (worth trying the data-app key).
fn is_refused(e: &ApiError) -> bool {
    is_auth_refusal(e) || e.status() == Some(403)
}

/// The same error with a new message (status, code and retry hints kept).
fn with_message(e: ApiError, new_message: impl FnOnce(&str) -> String) -> ApiError {
    match e {
        ApiError::Http {
            vendor,
            status,
            code,
            message,
            ticket,
            retry_after_ms,
        } => {
            let message = new_message(&message);
            ApiError::Http {
                vendor,
                status,
                code,
                message,
                ticket,
                retry_after_ms,
            }
        }
        other => other,
    }
}

fn server_said(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(" (server said: {message})")
    }
}

/// Turn a refused credential into a sentence that says which secret to fix.
fn explain_auth(e: ApiError, cred: Cred) -> ApiError {
    if !is_auth_refusal(&e) {
        return e;
    }
    with_message(e, |m| match cred {
        Cred::ServiceToken => format!(
            "the service token was refused{}; use an org-level service token from Databrain \
             Settings → Service Tokens (a data-app API key does not work here)",
            server_said(m)
        ),
        Cred::DataAppKey => format!(
            "the data-app API key was refused{}; check the profile's data-app key",
            server_said(m)
        ),
    })
}

/// A 404 without a Databrain error code: the route does not exist at this base URL.
fn explain_missing_route(e: ApiError, path: &str) -> ApiError {
    if e.status() != Some(404) || e.code().is_some() {
        return e;
    }
    with_message(e, |m| {
        format!("{m} (no such route {path}: check base_url; dsconsole appends /api/v2/... to it)")
    })
}

/// A 2xx body carrying a non-null `error` is a failure whatever its status.
fn embedded_error(resp: &HttpResponse, body: &Value) -> Option<ApiError> {
    match body.get("error") {
        None | Some(Value::Null) => None,
        Some(Value::Object(o)) if o.is_empty() => None,
        Some(_) => Some(super::http::decode_error(
            V,
            resp.status,
            &resp.headers,
            &resp.body,
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// Client
// ---------------------------------------------------------------------------------------------

/// The items of one list, deduplicated by name (embeds: by id), with what went wrong on the
/// way.
#[derive(Debug, Default, Clone)]
pub(super) struct Listed {
    pub(super) items: Vec<Value>,
    /// Items without a usable name (embeds: id).
    pub(super) nameless: usize,
    /// Paging problems (repeated page, page cap): the list may be incomplete.
    pub(super) warnings: Vec<String>,
}

/// The lists of a data app, served under a kebab-case route and an older camelCase one, with
/// the service token or the data-app key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AppList {
    Datamarts = 0,
    Embeds = 1,
}

impl AppList {
    fn path(self) -> &'static str {
        match self {
            AppList::Datamarts => DATAMARTS_PATH,
            AppList::Embeds => EMBEDS_PATH,
        }
    }

    fn legacy_path(self) -> &'static str {
        match self {
            AppList::Datamarts => LEGACY_DATAMARTS_PATH,
            AppList::Embeds => LEGACY_EMBEDS_PATH,
        }
    }

    fn what(self) -> &'static str {
        match self {
            AppList::Datamarts => "datamart",
            AppList::Embeds => "embed",
        }
    }

    /// What tells two items apart: the datamart name, the embed id.
    fn key(self) -> ItemKey {
        match self {
            AppList::Datamarts => item_name,
            AppList::Embeds => super::databrain_impact::embed_id,
        }
    }
}

/// The identity of a list item, for dropping repeats across pages.
type ItemKey = fn(&Value) -> Option<&str>;

/// A Databrain client of one profile. Cheap to share (`Arc`); safe to call concurrently.
pub struct DatabrainClient {
    http: HttpCore,
    profile: String,
    /// Normalised base URL (without `/api/...`).
    base: String,
    token: SecretString,
    data_app_key: Option<SecretString>,
    /// Per data-app list (`AppList`): the service token was refused and the data-app key
    /// worked, so it is used first.
    with_key: [AtomicBool; 2],
    /// Per data-app list: the kebab-case route is missing and the camelCase one works.
    legacy_route: [AtomicBool; 2],
    /// The last complete datamart and embed lists read for impact analysis, reused for a
    /// short while (a plan asks about many datasources in a row).
    pub(super) impact_cache: super::databrain_impact::Cache,
    /// Datamart names per datasource name, from the last successful datamart list (names the
    /// datamarts in a `DATASOURCE_IN_USE` refusal).
    last_users: Mutex<HashMap<String, Vec<String>>>,
    /// Datasource name → UUID, for sync (`datasource_ids`).
    datasource_ids: HashMap<String, String>,
    /// The outcome of the last sync of each datasource this client ran: the API has no sync
    /// fields, so a reload shows these.
    last_sync: Mutex<HashMap<String, SyncInfo>>,
    sync_poll: Duration,
    sync_bound: Duration,
}

impl std::fmt::Debug for DatabrainClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabrainClient")
            .field("profile", &self.profile)
            .field("base", &self.base)
            .field("has_data_app_key", &self.data_app_key.is_some())
            .finish()
    }
}

/// Databrain's own profile settings, parsed from its config keys and secrets.
#[derive(Clone, Default)]
pub struct DatabrainSettings {
    /// `data_app_key`, trimmed; a blank key is no key. Used for the datamart list when the
    /// service token is refused.
    pub data_app_key: Option<SecretString>,
    /// `datasource_ids = "name=uuid, name=uuid"`: the UUID of each datasource to sync (the
    /// sync endpoints take the UUID, which no list returns; the UI shows it as `?id=`).
    pub datasource_ids: HashMap<String, String>,
}

/// `name=uuid` pairs separated by commas or newlines; blanks and pairs without `=` skipped.
pub fn parse_datasource_ids(text: &str) -> HashMap<String, String> {
    text.split([',', '\n'])
        .filter_map(|pair| pair.split_once('='))
        .map(|(n, id)| (n.trim().to_string(), id.trim().to_string()))
        .filter(|(n, id)| !n.is_empty() && !id.is_empty())
        .collect()
}

/// A UUID as the sync endpoints take it (8-4-4-4-12 hex digits).
pub fn is_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// `progress` of `getDatasourceProgress`: `"<done>/<total>"`, the total may be non-numeric
/// ("0/..."). `Some((done, total))` when both are numbers.
pub fn parse_progress(p: &str) -> Option<(u64, u64)> {
    let (a, b) = p.split_once('/')?;
    Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
}

/// What one progress answer says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncProgress {
    Done(String),
    Failed(String),
    Running(String),
}

/// Read `{"status":{"progress":"16/16","error":""}}`: a non-empty `error` failed, equal
/// numbers done (documented [guess]), anything else still running.
pub fn read_progress(status: u16, body: &[u8]) -> Result<SyncProgress, ApiError> {
    let unreadable = |m: &str| ApiError::Decode {
        vendor: V,
        status,
        message: format!("sync progress: {m}"),
    };
    let v: Value = serde_json::from_slice(body).map_err(|_| unreadable("not JSON"))?;
    let st = v
        .get("status")
        .filter(|s| s.is_object())
        .ok_or_else(|| unreadable("expected an object with a 'status' object"))?;
    let progress = match st.get("progress") {
        Some(Value::String(p)) => p.trim().to_string(),
        None | Some(Value::Null) => String::new(),
        Some(_) => return Err(unreadable("'status.progress' is not a string")),
    };
    let error = match st.get("error") {
        Some(Value::String(e)) => e.trim().to_string(),
        None | Some(Value::Null) => String::new(),
        Some(other) => other.to_string(),
    };
    if !error.is_empty() {
        return Ok(SyncProgress::Failed(error));
    }
    match parse_progress(&progress) {
        Some((done, total)) if done == total => Ok(SyncProgress::Done(progress)),
        _ if progress.is_empty() => Ok(SyncProgress::Running("?".into())),
        _ => Ok(SyncProgress::Running(progress)),
    }
}

impl DatabrainSettings {
    pub fn from_options(options: &super::VendorOptions) -> DatabrainSettings {
        DatabrainSettings {
            data_app_key: options
                .secret("data_app_key")
                .map(|k| k.expose_secret().trim())
                .filter(|k| !k.is_empty())
                .map(|k| SecretString::from(k.to_string())),
            datasource_ids: options
                .value("datasource_ids")
                .map(parse_datasource_ids)
                .unwrap_or_default(),
        }
    }
}

impl DatabrainClient {
    /// Build the client. No I/O.
    pub fn new(settings: ClientSettings) -> Result<Self, ApiError> {
        let setup = |message: String| ApiError::Setup { vendor: V, message };
        let base = normalize_base_url(&settings.base_url)
            .map_err(|m| setup(format!("profile '{}': {m}", settings.profile)))?;
        if settings.secret.expose_secret().trim().is_empty() {
            return Err(setup(format!(
                "profile '{}' has no service token",
                settings.profile
            )));
        }
        let token = SecretString::from(settings.secret.expose_secret().trim().to_string());
        // Refuse a token that cannot be sent, now rather than on every call.
        sensitive_value(V, "service token", &bearer(&token))?;
        let DatabrainSettings {
            data_app_key,
            datasource_ids,
        } = DatabrainSettings::from_options(&settings.options);
        if let Some(k) = &data_app_key {
            sensitive_value(V, "data-app key", &bearer(k))?;
        }
        let mut http_settings = settings.clone();
        http_settings.vendor = V;
        // Read-only rule: a sync refreshes the cached schema and reading its progress
        // changes nothing; neither changes a datasource's definition, so these are the
        // POSTs a read-only profile may send (see `VendorApi::check_health`).
        let http = HttpCore::new(
            &http_settings,
            &[(Method::POST, SYNC_PATH), (Method::POST, PROGRESS_PATH)],
            VENDOR.decode_error,
        )?;
        Ok(DatabrainClient {
            http,
            profile: settings.profile,
            base,
            token,
            data_app_key,
            with_key: [AtomicBool::new(false), AtomicBool::new(false)],
            legacy_route: [AtomicBool::new(false), AtomicBool::new(false)],
            impact_cache: Default::default(),
            last_users: Mutex::new(HashMap::new()),
            datasource_ids,
            last_sync: Mutex::new(HashMap::new()),
            sync_poll: SYNC_POLL,
            sync_bound: SYNC_BOUND,
        })
    }

    /// Read a running sync's progress every `poll`, for at most `bound` (defaults 2 s and
    /// 120 s).
    pub fn with_sync_pacing(mut self, poll: Duration, bound: Duration) -> Self {
        self.sync_poll = poll;
        self.sync_bound = bound;
        self
    }

    /// The UUID sync needs for a datasource: the target id when it is one, else
    /// `datasource_ids`.
    fn sync_id(&self, target: &Ref) -> Result<String, ApiError> {
        if is_uuid(&target.id) {
            return Ok(target.id.to_string());
        }
        self.datasource_ids
            .get(target.id.as_str())
            .cloned()
            .ok_or_else(|| ApiError::Setup {
                vendor: V,
                message: format!(
                    "datasource '{}' cannot be synced: Databrain's sync needs its UUID, which                      no list returns; add it to the profile as datasource_ids = \"{}=<uuid>\"                      (the UUID is the ?id= of the datasource page)",
                    target.id, target.id
                ),
            })
    }

    /// One POST of a sync endpoint with `{"input":{"datasourceId"}}`; never retried.
    async fn post_sync(&self, path: &str, id: &str) -> Result<HttpResponse, ApiError> {
        let url = self.url(path);
        let auth = sensitive_value(V, "service token", &bearer(&self.token))?;
        let req = HttpRequest::new(Method::POST, url.as_str())
            .header(AUTHORIZATION, auth)
            .json(json!({"input": {"datasourceId": id}}));
        let resp = self.http.send(req).await?;
        if !resp.is_success() {
            return Err(explain_auth(resp.to_error(), Cred::ServiceToken));
        }
        Ok(resp)
    }

    /// Databrain's health check: `POST /api/v2/datasource/sync`, then
    /// `getDatasourceProgress` right away and every `sync_poll` until done, failed or
    /// `sync_bound` (then reported as still running). A progress route that is missing or
    /// refuses this datasource (documented for S3 only) leaves the sync's own answer.
    async fn do_sync(&self, target: &Ref) -> Result<super::HealthCheck, ApiError> {
        use super::{CheckKind, HealthCheck};
        if target.kind != Kind::Datasources {
            return Ok(HealthCheck::NotOffered);
        }
        let check = CheckKind::Sync;
        let id = self.sync_id(target)?;
        let resp = self.post_sync(SYNC_PATH, &id).await?;
        let started = tokio::time::Instant::now();
        let body: Value = serde_json::from_slice(&resp.body).map_err(|_| ApiError::Decode {
            vendor: V,
            status: resp.status,
            message: "sync: the answer is not JSON".into(),
        })?;
        if let Some(e) = embedded_error(&resp, &body) {
            return Err(e);
        }
        let said = str_at(&body, "/data/message").map(str::to_string);
        let outcome = loop {
            let progress = match self.post_sync(PROGRESS_PATH, &id).await {
                Ok(r) => {
                    let b: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
                    if let Some(e) = embedded_error(&r, &b) {
                        return Err(e);
                    }
                    read_progress(r.status, &r.body)?
                }
                Err(e)
                    if (e.status() == Some(404) && e.code().is_none())
                        || (e.status() == Some(400) && !code_is(&e, "DATASOURCE_ID_ERROR")) =>
                {
                    tracing::debug!(profile = %self.profile, "Databrain: no sync progress ({e})");
                    break HealthCheck::Passed {
                        check,
                        detail: said.clone(),
                    };
                }
                Err(e) => return Err(e),
            };
            match progress {
                SyncProgress::Done(p) => {
                    break HealthCheck::Passed {
                        check,
                        detail: Some(p),
                    }
                }
                SyncProgress::Failed(reason) => break HealthCheck::Failed { check, reason },
                SyncProgress::Running(p) => {
                    if started.elapsed() + self.sync_poll > self.sync_bound {
                        break HealthCheck::Running { check, progress: p };
                    }
                    tokio::time::sleep(self.sync_poll).await;
                }
            }
        };
        self.remember_sync(&target.id, &outcome);
        Ok(outcome)
    }

    fn remember_sync(&self, name: &str, outcome: &super::HealthCheck) {
        use super::HealthCheck;
        let now = chrono::Utc::now().timestamp();
        let mut last = self
            .last_sync
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let before = last.get(name).and_then(|s| s.last_success);
        let info = match outcome {
            HealthCheck::Passed { .. } => SyncInfo {
                status: Some("SUCCESS".into()),
                last_success: Some(now),
                error: None,
            },
            HealthCheck::Failed { reason, .. } => SyncInfo {
                status: Some("FAILED".into()),
                last_success: before,
                error: Some(reason.clone()),
            },
            HealthCheck::Running { progress, .. } => SyncInfo {
                status: Some(format!("RUNNING {progress}")),
                last_success: before,
                error: None,
            },
            HealthCheck::NotOffered => return,
        };
        last.insert(name.to_string(), info);
    }

    /// Forget the datamart and embed lists impact analysis reuses for a short while
    /// (`databrain_impact::CACHE_TTL`): the next answer reads them afresh.
    pub fn clear_impact_cache(&self) {
        self.impact_cache.clear();
    }

    fn url(&self, path_and_query: &str) -> String {
        format!("{}{}", self.base, path_and_query)
    }

    fn secret(&self, cred: Cred) -> Result<&SecretString, ApiError> {
        match cred {
            Cred::ServiceToken => Ok(&self.token),
            Cred::DataAppKey => self.data_app_key.as_ref().ok_or_else(|| ApiError::Setup {
                vendor: V,
                message: format!("profile '{}' has no data-app key", self.profile),
            }),
        }
    }

    async fn send(&self, method: Method, url: &str, cred: Cred) -> Result<HttpResponse, ApiError> {
        let what = match cred {
            Cred::ServiceToken => "service token",
            Cred::DataAppKey => "data-app key",
        };
        let auth = sensitive_value(V, what, &bearer(self.secret(cred)?))?;
        self.http
            .send(HttpRequest::new(method, url).header(AUTHORIZATION, auth))
            .await
    }

    /// `GET` a JSON object, retried under `READS`. Errors are explained
    /// (refused credential, missing route).
    async fn get_json(&self, path_and_query: &str, cred: Cred) -> Result<Value, ApiError> {
        let url = self.url(path_and_query);
        let path = path_and_query.split('?').next().unwrap_or(path_and_query);
        let resp = self
            .http
            .retrying(&READS, &Method::GET, &url, || async {
                self.send(Method::GET, &url, cred).await?.error_for_status()
            })
            .await
            .map_err(|e| explain_missing_route(explain_auth(e, cred), path))?;
        let body: Value = resp.json(V)?;
        if let Some(e) = embedded_error(&resp, &body) {
            return Err(explain_auth(e, cred));
        }
        Ok(body)
    }

    /// Every page of a list (`isPagination=true&pageNumber=N`, 1-based, 10 per page) until a
    /// short or empty page. A page that brings nothing new (a server ignoring `pageNumber`)
    /// or the page cap stops paging with a warning.
    async fn list_pages(
        &self,
        path: &str,
        cred: Cred,
        what: &str,
        key: ItemKey,
    ) -> Result<Listed, ApiError> {
        self.list_pages_with(path, cred, what, key, None).await
    }

    /// `list_pages`, sending each page's new datasources to `sink` as it arrives.
    async fn list_pages_with(
        &self,
        path: &str,
        cred: Cred,
        what: &str,
        key: ItemKey,
        sink: Option<&super::PageSink>,
    ) -> Result<Listed, ApiError> {
        let mut out = Listed::default();
        let mut seen: HashSet<String> = HashSet::new();
        let mut expected = PAGE_SIZE;
        let mut duplicates = 0usize;
        let mut page: u32 = 1;
        loop {
            if page > MAX_PAGES {
                out.warnings.push(format!(
                    "{}: the {what} list was cut after {MAX_PAGES} pages; it may be incomplete",
                    self.profile
                ));
                break;
            }
            let query = format!("{path}?isPagination=true&pageNumber={page}");
            let body = self.get_json(&query, cred).await?;
            let no_items = Vec::new();
            let items = match body.get("data") {
                Some(Value::Array(a)) => a,
                Some(Value::Null) => &no_items,
                _ => {
                    return Err(ApiError::Decode {
                        vendor: V,
                        status: 200,
                        message: format!(
                            "GET {path} page {page}: expected an object with a 'data' array"
                        ),
                    })
                }
            };
            let n = items.len();
            let mut fresh = 0usize;
            let before = out.items.len();
            for item in items {
                match key(item) {
                    Some(name) => {
                        if seen.insert(name.to_string()) {
                            fresh += 1;
                            out.items.push(item.clone());
                        } else {
                            duplicates += 1;
                        }
                    }
                    // Unnamed items cannot be told apart, so they never count as new: a
                    // server repeating a page of them is caught like any repeated page.
                    None => out.nameless += 1,
                }
            }
            if let Some(sink) = sink {
                let page_items: Vec<Resource> = out.items[before..]
                    .iter()
                    .filter_map(|v| parse_datasource(&self.profile, v))
                    .collect();
                let _ = sink.send(page_items);
            }
            if n == 0 || n < expected {
                break;
            }
            if fresh == 0 && page > 1 {
                out.warnings.push(format!(
                    "{}: page {page} of the {what} list repeated earlier items (the server \
                     seems to ignore pageNumber); paging stopped, the list may be incomplete",
                    self.profile
                ));
                break;
            }
            expected = expected.max(n);
            page += 1;
        }
        if duplicates > 0 {
            tracing::debug!(
                profile = %self.profile,
                duplicates,
                "Databrain: {what} listed twice across pages were dropped"
            );
        }
        Ok(out)
    }

    async fn list_datasources(&self, sink: Option<&super::PageSink>) -> Result<Listed, ApiError> {
        self.list_pages_with(
            DATASOURCE_PATH,
            Cred::ServiceToken,
            "datasource",
            item_name,
            sink,
        )
        .await
    }

    /// One data-app list with one credential: the kebab-case route, or the camelCase one
    /// when the former does not exist on this installation.
    async fn list_app_with(&self, list: AppList, cred: Cred) -> Result<Listed, ApiError> {
        let legacy_route = &self.legacy_route[list as usize];
        let (what, key) = (list.what(), list.key());
        if legacy_route.load(Ordering::Relaxed) {
            return self.list_pages(list.legacy_path(), cred, what, key).await;
        }
        match self.list_pages(list.path(), cred, what, key).await {
            Err(e) if e.status() == Some(404) => {
                let legacy = self.list_pages(list.legacy_path(), cred, what, key).await;
                match legacy {
                    // Neither route exists: the first error names the documented one.
                    Err(e2) if e2.status() == Some(404) => Err(e),
                    // The older route exists (even if it refused this call): keep using it.
                    other => {
                        legacy_route.store(true, Ordering::Relaxed);
                        tracing::info!(
                            profile = %self.profile,
                            "Databrain: using the older {} route",
                            list.legacy_path()
                        );
                        other
                    }
                }
            }
            other => other,
        }
    }

    /// A data-app list (datamarts, embeds): with the service token, or with the data-app key
    /// when the token is refused (or the key worked before).
    pub(super) async fn list_app(&self, list: AppList) -> Result<Listed, ApiError> {
        let has_key = self.data_app_key.is_some();
        let with_key = &self.with_key[list as usize];
        if has_key && with_key.load(Ordering::Relaxed) {
            return self.list_app_with(list, Cred::DataAppKey).await;
        }
        match self.list_app_with(list, Cred::ServiceToken).await {
            Err(e) if has_key && is_refused(&e) => {
                match self.list_app_with(list, Cred::DataAppKey).await {
                    Ok(l) => {
                        with_key.store(true, Ordering::Relaxed);
                        tracing::info!(
                            profile = %self.profile,
                            "Databrain: {}s listed with the data-app key (service token refused)",
                            list.what()
                        );
                        Ok(l)
                    }
                    Err(e2) => Err(with_message(e2, |m| {
                        format!("{m}; the service token was refused as well")
                    })),
                }
            }
            other => other,
        }
    }

    /// The datamart list (see `list_app`).
    pub(super) async fn list_datamarts(&self) -> Result<Listed, ApiError> {
        self.list_app(AppList::Datamarts).await
    }

    fn remember_users(&self, resources: &[Resource]) {
        let mut users: HashMap<String, Vec<String>> = HashMap::new();
        for r in resources.iter().filter(|r| r.kind == Kind::Datamarts) {
            for d in r.depends_on.iter().filter(|d| d.kind == Kind::Datasources) {
                users
                    .entry(d.id.to_string())
                    .or_default()
                    .push(r.name.to_string());
            }
        }
        for list in users.values_mut() {
            list.sort();
        }
        let mut guard = self
            .last_users
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *guard = users;
    }

    fn known_users(&self, datasource: &str) -> Vec<String> {
        self.last_users
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(datasource)
            .cloned()
            .unwrap_or_default()
    }

    async fn do_load(&self, pages: Option<super::PageSink>) -> Result<Snapshot, ApiError> {
        let (ds, dm) = futures::join!(self.list_datasources(pages.as_ref()), self.list_datamarts());
        let ds = ds?;
        let mut warnings = ds.warnings;
        let mut resources: Vec<Resource> = ds
            .items
            .iter()
            .filter_map(|v| parse_datasource(&self.profile, v))
            .collect();
        if ds.nameless > 0 {
            warnings.push(format!(
                "{}: {} datasources without a name were skipped",
                self.profile, ds.nameless
            ));
        }
        let datamarts_known = match dm {
            Ok(dm) => {
                warnings.extend(dm.warnings);
                if dm.nameless > 0 {
                    warnings.push(format!(
                        "{}: {} datamarts without a name were skipped",
                        self.profile, dm.nameless
                    ));
                }
                resources.extend(
                    dm.items
                        .iter()
                        .filter_map(|v| parse_datamart(&self.profile, v)),
                );
                true
            }
            Err(e) => {
                tracing::warn!(profile = %self.profile, "Databrain: datamart list failed: {e}");
                warnings.push(format!(
                    "{}: datamarts could not be listed, so which datasources are in use is \
                     unknown (the server refuses to delete a datasource a datamart uses): {e}",
                    self.profile
                ));
                false
            }
        };
        {
            let last = self
                .last_sync
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for r in resources.iter_mut().filter(|r| r.kind == Kind::Datasources) {
                if let Some(s) = last.get(r.id.as_str()) {
                    r.sync = Some(Box::new(s.clone()));
                }
            }
        }
        link_references(&mut resources, SPEC.orphan_kinds);
        if datamarts_known {
            self.remember_users(&resources);
        } else {
            // Unknown use is not "unused": no datasource is offered as an orphan.
            for r in resources.iter_mut() {
                r.orphan = false;
            }
        }
        Ok(Snapshot {
            resources,
            // Warnings quote the server (names, cursors): make them safe to print.
            warnings: warnings
                .iter()
                .map(|w| crate::model::printable(w).into_owned())
                .collect(),
        })
    }

    async fn do_get(&self, target: &Ref) -> Result<Resource, ApiError> {
        let not_listed = |what: &str| ApiError::Http {
            vendor: V,
            status: 404,
            code: None,
            message: format!(
                "{what} '{}' is not in the {what} list (Databrain has no get-by-name endpoint; \
                 the list was searched)",
                target.id
            ),
            ticket: None,
            retry_after_ms: None,
        };
        match target.kind {
            Kind::Datasources => {
                let listed = self.list_datasources(None).await?;
                let item = listed
                    .items
                    .iter()
                    .find(|v| item_name(v) == Some(target.id.as_str()))
                    .ok_or_else(|| not_listed("datasource"))?;
                let mut r = parse_datasource(&self.profile, item)
                    .ok_or_else(|| not_listed("datasource"))?;
                match self.list_datamarts().await {
                    Ok(dm) => {
                        let mut users: Vec<Ref> = dm
                            .items
                            .iter()
                            .filter_map(|v| parse_datamart(&self.profile, v))
                            .filter(|m| m.depends_on.iter().any(|d| d.id == r.id))
                            .map(|m| m.as_ref())
                            .collect();
                        users.sort_by(|a, b| a.name.cmp(&b.name));
                        r.orphan = users.is_empty();
                        r.used_by = users;
                    }
                    Err(e) => {
                        tracing::debug!(profile = %self.profile, "Databrain: datamart list failed: {e}");
                        r.orphan = false;
                    }
                }
                Ok(r)
            }
            Kind::Datamarts => {
                let listed = self.list_datamarts().await?;
                listed
                    .items
                    .iter()
                    .find(|v| item_name(v) == Some(target.id.as_str()))
                    .and_then(|v| parse_datamart(&self.profile, v))
                    .ok_or_else(|| not_listed("datamart"))
            }
            other => Err(no_such_kind(other)),
        }
    }

    /// `PUT /api/v2/datasource` with the full credentials (Databrain tests them before it
    /// stores anything), then the datasource as the list shows it now.
    async fn do_update(&self, target: &Ref, change: &Change) -> Result<Resource, ApiError> {
        if target.kind != Kind::Datasources {
            return Err(match target.kind {
                Kind::Datamarts => ApiError::Setup {
                    vendor: V,
                    message: "Databrain datamarts cannot be changed through the API".into(),
                },
                other => no_such_kind(other),
            });
        }
        let url = self.url(DATASOURCE_PATH);
        // Refuse on a read-only profile before anything is sent, even the list.
        self.http.check_allowed(&Method::PUT, &url)?;
        let name = target.id.as_str();
        let listed = self.list_datasources(None).await?;
        let raw = listed
            .items
            .iter()
            .find(|v| item_name(v) == Some(name))
            .cloned()
            .ok_or_else(|| ApiError::Http {
                vendor: V,
                status: 404,
                code: None,
                message: format!("datasource '{name}' is not in the datasource list"),
                ticket: None,
                retry_after_ms: None,
            })?;
        let body = update_body(name, &raw, change)
            .map_err(|message| ApiError::Setup { vendor: V, message })?;
        let auth = sensitive_value(V, "service token", &bearer(&self.token))?;
        let req = HttpRequest::new(Method::PUT, url.as_str())
            .header(AUTHORIZATION, auth)
            .json(body);
        let resp = self.http.send(req).await?;
        if !resp.is_success() {
            let err = resp.to_error();
            if is_auth_refusal(&err) {
                return Err(explain_auth(err, Cred::ServiceToken));
            }
            if code_is(&err, "SCHEMA_CACHE_FAILED") {
                return Err(with_message(err, |m| {
                    format!(
                        "the new credentials of '{name}' were accepted but the schema refresh \
                         failed; sync the datasource{}",
                        server_said(m)
                    )
                }));
            }
            if code_is(&err, CODE_INVALID_BODY) {
                return Err(with_message(err, |m| {
                    format!(
                        "{m} (Databrain needs the full credentials on every update; its list \
                         does not return them, so give the missing ones with --set)"
                    )
                }));
            }
            return Err(explain_missing_route(err, DATASOURCE_PATH));
        }
        if let Ok(v) = resp.json::<Value>(V) {
            if let Some(e) = embedded_error(&resp, &v) {
                return Err(e);
            }
        }
        self.do_get(target).await
    }

    /// Re-create a deleted datasource (`POST /api/v2/datasource`, full credentials; Databrain
    /// tests them before it stores it), then read it back from the list.
    async fn do_recreate(&self, kind: Kind, body: Value) -> Result<Resource, ApiError> {
        if kind != Kind::Datasources {
            return Err(ApiError::Setup {
                vendor: V,
                message: format!("dsconsole does not re-create Databrain {kind}"),
            });
        }
        let url = self.url(DATASOURCE_PATH);
        self.http.check_allowed(&Method::POST, &url)?;
        let name = body
            .pointer("/credentials/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let auth = sensitive_value(V, "service token", &bearer(&self.token))?;
        let req = HttpRequest::new(Method::POST, url.as_str())
            .header(AUTHORIZATION, auth)
            .json(body);
        let resp = self.http.send(req).await?;
        if !resp.is_success() {
            let err = resp.to_error();
            if is_auth_refusal(&err) {
                return Err(explain_auth(err, Cred::ServiceToken));
            }
            return Err(explain_missing_route(err, DATASOURCE_PATH));
        }
        if let Ok(v) = resp.json::<Value>(V) {
            if let Some(e) = embedded_error(&resp, &v) {
                return Err(e);
            }
        }
        self.do_get(&Ref {
            kind,
            id: name.clone().into(),
            name: name.into(),
        })
        .await
    }

    async fn do_delete(&self, target: &Ref) -> Result<DeleteOutcome, ApiError> {
        match target.kind {
            Kind::Datasources => {}
            Kind::Datamarts => {
                return Err(ApiError::Setup {
                    vendor: V,
                    message: format!(
                        "datamart '{}' was not deleted: datamarts are read-only in dsconsole \
                         (delete it in Databrain)",
                        target.name
                    ),
                })
            }
            other => return Err(no_such_kind(other)),
        }
        let name = target.id.as_str();
        if name.is_empty() {
            return Err(ApiError::Setup {
                vendor: V,
                message: "a datasource without a name cannot be deleted; nothing was sent".into(),
            });
        }
        let url = self.url(&format!(
            "{DATASOURCE_PATH}?datasourceName={}",
            path_segment(name)
        ));
        let resp = self.send(Method::DELETE, &url, Cred::ServiceToken).await?;
        if resp.is_success() {
            return deleted(&resp, name);
        }
        let err = resp.to_error();
        if is_auth_refusal(&err) {
            return Err(explain_auth(err, Cred::ServiceToken));
        }
        if code_is(&err, CODE_IN_USE) {
            let users = self.known_users(name);
            let by = match users.len() {
                0 => "one or more datamarts".to_string(),
                1 => format!("datamart '{}'", users[0]),
                _ => format!(
                    "datamarts {}",
                    users
                        .iter()
                        .map(|u| format!("'{u}'"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            return Err(with_message(err, |m| {
                format!(
                    "datasource '{name}' is used by {by}; the server refuses to delete it \
                     (delete those datamarts in Databrain first){}",
                    server_said(m)
                )
            }));
        }
        if code_is(&err, CODE_NAME_ERROR) || code_is(&err, CODE_NOT_FOUND) {
            return self.confirm_gone(err, name).await;
        }
        if code_is(&err, CODE_INVALID_BODY) {
            return Err(with_message(err, |m| {
                format!(
                    "the server rejected the name of datasource '{name}'{}",
                    server_said(m)
                )
            }));
        }
        Err(explain_missing_route(err, DATASOURCE_PATH))
    }

    /// After a "not found" answer to a delete: counted as already gone only when a complete
    /// datasource list confirms the name is absent. `DATASOURCE_NAME_ERROR` is the code of
    /// every name problem (on create it means "already exists"), and names match exactly, so
    /// the code alone does not prove the datasource is gone.
    async fn confirm_gone(&self, err: ApiError, name: &str) -> Result<DeleteOutcome, ApiError> {
        match self.list_datasources(None).await {
            Ok(l)
                if l.warnings.is_empty() && l.items.iter().all(|v| item_name(v) != Some(name)) =>
            {
                tracing::info!(
                    profile = %self.profile,
                    datasource = %name,
                    "Databrain: already gone: {err}"
                );
                Ok(DeleteOutcome::AlreadyGone)
            }
            Ok(l) if l.warnings.is_empty() => Err(with_message(err, |m| {
                format!(
                    "the server answered that datasource '{name}' was not found{}, but it is \
                     still in the datasource list; it was not deleted",
                    server_said(m)
                )
            })),
            Ok(_) => Err(with_message(err, |m| {
                format!(
                    "the server answered that datasource '{name}' was not found{}; this could \
                     not be confirmed because the datasource list is incomplete",
                    server_said(m)
                )
            })),
            Err(list_err) => Err(with_message(err, |m| {
                format!(
                    "the server answered that datasource '{name}' was not found{}; this could \
                     not be confirmed because the datasource list failed: {list_err}",
                    server_said(m)
                )
            })),
        }
    }
}

fn bearer(secret: &SecretString) -> String {
    format!("Bearer {}", secret.expose_secret())
}

fn no_such_kind(kind: Kind) -> ApiError {
    ApiError::Setup {
        vendor: V,
        message: format!("Databrain has no {kind}"),
    }
}

/// The outcome of a 2xx answer to a delete: `{id, message}` (documented), an empty body, or
/// an object without an error mean deleted; a body that is not JSON is not proof of anything.
fn deleted(resp: &HttpResponse, name: &str) -> Result<DeleteOutcome, ApiError> {
    if resp.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(DeleteOutcome::Deleted);
    }
    let body: Value = serde_json::from_slice(&resp.body).map_err(|e| ApiError::Decode {
        vendor: V,
        status: resp.status,
        message: format!(
            "the answer to deleting datasource '{name}' is not JSON ({e}); whether it was \
             deleted is unknown"
        ),
    })?;
    if let Some(e) = embedded_error(resp, &body) {
        return Err(e);
    }
    let id = body.get("id").and_then(Value::as_str).unwrap_or("");
    tracing::debug!(datasource = %name, id, "Databrain: deleted");
    Ok(DeleteOutcome::Deleted)
}

impl VendorApi for DatabrainClient {
    fn vendor(&self) -> VendorId {
        V
    }

    fn load(&self) -> BoxFuture<'_, Result<Snapshot, ApiError>> {
        Box::pin(self.do_load(None))
    }

    fn load_streaming(&self, pages: super::PageSink) -> BoxFuture<'_, Result<Snapshot, ApiError>> {
        Box::pin(self.do_load(Some(pages)))
    }

    /// Databrain has no get-by-name endpoint: the list is searched; a name not in it is
    /// reported as a 404.
    fn get(&self, target: Ref) -> BoxFuture<'_, Result<Resource, ApiError>> {
        Box::pin(async move { self.do_get(&target).await })
    }

    /// Replaces the datasource's credentials (`PUT`, full set, tested by Databrain first);
    /// the name cannot change.
    fn update(&self, target: Ref, change: Change) -> BoxFuture<'_, Result<Resource, ApiError>> {
        Box::pin(async move { self.do_update(&target, &change).await })
    }

    fn delete(&self, target: Ref) -> BoxFuture<'_, Result<DeleteOutcome, ApiError>> {
        Box::pin(async move { self.do_delete(&target).await })
    }

    /// A deleted datasource again, from its saved credentials and the password given.
    fn recreate(
        &self,
        kind: Kind,
        container: Option<String>,
        body: Value,
    ) -> BoxFuture<'_, Result<Resource, ApiError>> {
        drop(container);
        Box::pin(self.do_recreate(kind, body))
    }

    /// A datasource breaks its datamarts and the embeds built on them; a datamart its
    /// embeds (see `databrain_impact`).
    /// Databrain's health check is a sync followed to its end (see `do_sync`).
    fn check_health(&self, target: Ref) -> BoxFuture<'_, Result<super::HealthCheck, ApiError>> {
        Box::pin(async move { self.do_sync(&target).await })
    }

    fn impact(&self, target: crate::impact::ImpactTarget) -> BoxFuture<'_, crate::impact::Impact> {
        Box::pin(super::databrain_impact::impact(self, target))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    fn settings(base_url: &str) -> ClientSettings {
        ClientSettings::new("brain", V, base_url, SecretString::from("dbn_live_s3cret"))
            .timeout(Duration::from_secs(5))
    }

    fn http(status: u16, code: Option<&str>, message: &str) -> ApiError {
        ApiError::Http {
            vendor: V,
            status,
            code: code.map(str::to_string),
            message: message.into(),
            ticket: None,
            retry_after_ms: None,
        }
    }

    fn ctx() -> CellCtx {
        CellCtx { now: 0 }
    }

    #[test]
    fn base_urls_are_normalised() {
        let ok = |s: &str| normalize_base_url(s).unwrap();
        assert_eq!(
            ok("https://api.usedatabrain.com"),
            "https://api.usedatabrain.com"
        );
        assert_eq!(
            ok("https://api.usedatabrain.com/"),
            "https://api.usedatabrain.com"
        );
        assert_eq!(
            ok("https://api.usedatabrain.com/api/v2/"),
            "https://api.usedatabrain.com"
        );
        assert_eq!(
            ok("https://api.usedatabrain.com/api/v2/datasource?isPagination=true"),
            "https://api.usedatabrain.com"
        );
        assert_eq!(
            ok("http://bi.example.com/databrain/api"),
            "http://bi.example.com/databrain"
        );
        // A self-hosted sub-path is kept; "/api" must be a whole segment.
        assert_eq!(ok("http://h:8080/brain/"), "http://h:8080/brain");
        assert_eq!(ok("http://apihost/api-gw/x"), "http://apihost/api-gw/x");
        assert_eq!(ok("http://h/api/v2x"), "http://h/api/v2x");
        assert!(normalize_base_url("api.usedatabrain.com")
            .unwrap_err()
            .contains("must start with http:// or https://"));
        assert!(normalize_base_url("https:///api/v2").is_err());
    }

    #[test]
    fn new_validates_without_io_and_hides_secrets() {
        let c = DatabrainClient::new(settings("https://api.usedatabrain.com/api/v2")).unwrap();
        assert_eq!(
            c.url(DATASOURCE_PATH),
            "https://api.usedatabrain.com/api/v2/datasource"
        );
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("s3cret"), "{dbg}");

        let mut s = settings("https://h");
        s.secret = SecretString::from("  ");
        let err = DatabrainClient::new(s).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Databrain: profile 'brain' has no service token"
        );

        let mut s = settings("https://h");
        s.secret = SecretString::from("bad\ntoken");
        let err = DatabrainClient::new(s).unwrap_err();
        assert!(matches!(err, ApiError::Setup { .. }));
        assert!(!err.to_string().contains("bad"), "{err}");

        let err = DatabrainClient::new(settings("h/x")).unwrap_err();
        assert!(err.to_string().contains("profile 'brain'"), "{err}");

        // A blank data-app key is no key.
        let mut s = settings("https://h");
        s.options.set_secret("data_app_key", SecretString::from(""));
        let c = DatabrainClient::new(s).unwrap();
        assert!(c.data_app_key.is_none());
    }

    #[test]
    fn parses_datasource_names_exactly() {
        let r = parse_datasource("p", &json!({"name": "postgres-prod"})).unwrap();
        assert_eq!(
            (r.id.as_str(), r.name.as_str()),
            ("postgres-prod", "postgres-prod")
        );
        assert_eq!(r.kind, Kind::Datasources);
        assert_eq!(r.type_, None);
        assert_eq!(r.raw, json!({"name": "postgres-prod"}));
        // Names are not trimmed: the API matches them exactly.
        let r =
            parse_datasource("p", &json!({"name": " spaced ", "datasourceType": "mysql"})).unwrap();
        assert_eq!(r.id, " spaced ");
        assert_eq!(r.type_.as_deref(), Some("mysql"));
        // A bare string is a name too; nothing else is.
        assert_eq!(parse_datasource("p", &json!("s3")).unwrap().name, "s3");
        assert!(parse_datasource("p", &json!({"name": ""})).is_none());
        assert!(parse_datasource("p", &json!({"id": "x"})).is_none());
        assert!(parse_datasource("p", &json!(7)).is_none());
    }

    #[test]
    fn parses_datamart_with_its_datasource() {
        let v = json!({"name":"sales-analytics",
            "datamartOrganization":{"tenancyLevel":"TABLE"},
            "companyIntegration":{"name":"postgres-prod"},
            "datamartTables":[{"tableName":"a"},{"tableName":"b"}],
            "futureField": 1});
        let r = parse_datamart("p", &v).unwrap();
        assert_eq!(r.kind, Kind::Datamarts);
        assert_eq!(r.id, "sales-analytics");
        assert_eq!(
            r.depends_on,
            vec![Ref {
                kind: Kind::Datasources,
                id: "postgres-prod".into(),
                name: "postgres-prod".into()
            }]
        );
        assert_eq!(r.raw, v);
        assert_eq!(dm_datasource(&r, &ctx()).text, "postgres-prod");
        assert_eq!(dm_tenancy(&r, &ctx()).text, "TABLE");
        assert_eq!(dm_tables(&r, &ctx()).text, "2");
        assert_eq!(dm_tables_key(&r), "00000002");

        // Sparse: no datasource, no tenancy, no tables.
        let r = parse_datamart("p", &json!({"name":"m","companyIntegration":null})).unwrap();
        assert!(r.depends_on.is_empty());
        assert_eq!(dm_datasource(&r, &ctx()).text, "-");
        assert_eq!(dm_tenancy(&r, &ctx()).tone, CellTone::Dim);
        assert_eq!(dm_tables(&r, &ctx()).text, "-");
        assert!(parse_datamart("p", &json!({"companyIntegration":{"name":"x"}})).is_none());
    }

    #[test]
    fn used_by_cell_says_in_use_unused_or_unknown() {
        let mut ds = parse_datasource("p", &json!({"name": "postgres-prod"})).unwrap();
        let marts: Vec<Resource> = ["sales", "ops", "crm", "hr"]
            .iter()
            .map(|n| {
                parse_datamart(
                    "p",
                    &json!({"name": n, "companyIntegration": {"name": "postgres-prod"}}),
                )
                .unwrap()
            })
            .collect();
        let lonely = parse_datasource("p", &json!({"name": "lonely"})).unwrap();
        let mut all = vec![ds.clone(), lonely];
        all.extend(marts.iter().take(2).cloned());
        link_references(&mut all, SPEC.orphan_kinds);
        let cell = ds_used_by(&all[0], &ctx());
        assert_eq!(cell.text, "in use by 2: ops, sales");
        assert_eq!(cell.tone, CellTone::Warn);
        assert!(!all[0].is_orphan());
        assert!(all[1].is_orphan());
        assert_eq!(ds_used_by(&all[1], &ctx()).text, "not used");
        // Datamarts are never orphans.
        assert!(!all[2].is_orphan());

        ds.used_by = marts.iter().map(Resource::as_ref).collect();
        assert_eq!(
            ds_used_by(&ds, &ctx()).text,
            "in use by 4: sales, ops, crm, …"
        );

        // Unknown use: not an orphan, and said so.
        let unknown = parse_datasource("p", &json!({"name": "x"})).unwrap();
        assert!(!unknown.orphan);
        let cell = ds_used_by(&unknown, &ctx());
        assert_eq!(cell.text, "? unknown");
    }

    #[test]
    fn update_bodies_carry_the_full_credentials_in_the_types_keys() {
        let c = Change::default()
            .set("host", FieldValue::Text("sql2".into()))
            .set("password", FieldValue::Secret(SecretString::from("pw")));
        let raw = json!({"name":"ms","datasourceType":"mssql",
            "credentials":{"server":"sql1","port":1433,"user":"sa","database":"bi"}});
        assert_eq!(
            update_body("ms", &raw, &c).unwrap(),
            json!({"datasourceType":"mssql","credentials":{"name":"ms","server":"sql2",
                "port":1433,"database":"bi","user":"sa","password":"pw"}})
        );
        let e = update_body(
            "ms",
            &raw,
            &Change::default().set("port", FieldValue::Text("1".into())),
        )
        .unwrap_err();
        assert!(e.contains("never returns the password"), "{e}");
        let e = update_body("ms", &json!({"name":"ms"}), &c).unwrap_err();
        assert!(e.contains("datasource_type"), "{e}");
        let names: Vec<&str> = (SPEC.edit_fields)(Kind::Datasources)
            .iter()
            .map(|f| f.name)
            .collect();
        assert!(!names.contains(&"name"));
        assert!((SPEC.edit_fields)(Kind::Datamarts).is_empty());
    }

    #[test]
    fn spec_matches_the_product() {
        let titles = |k| {
            (SPEC.columns)(k)
                .iter()
                .map(|c| c.title)
                .collect::<Vec<_>>()
        };
        assert_eq!(titles(Kind::Datasources), ["Name", "Used by"]);
        assert_eq!(
            titles(Kind::Datamarts),
            ["Name", "Datasource", "Tenancy", "Tables"]
        );
        assert!(titles(Kind::Connections).is_empty());
        assert_eq!(SPEC.kinds, &[Kind::Datasources, Kind::Datamarts]);
        assert!(!SPEC.delete_order.contains(&Kind::Datamarts));
        assert!(SPEC.supported && !SPEC.can_create && !SPEC.can_test && !SPEC.soft_delete);
    }

    #[test]
    fn refused_credentials_become_sentences() {
        let e = explain_auth(
            http(401, Some("AUTHENTICATION_ERROR"), "Invalid Service Token"),
            Cred::ServiceToken,
        );
        assert_eq!(
            e.to_string(),
            "Databrain: HTTP 401 AUTHENTICATION_ERROR: the service token was refused (server \
             said: Invalid Service Token); use an org-level service token from Databrain \
             Settings → Service Tokens (a data-app API key does not work here)"
        );
        assert_eq!(e.code(), Some("AUTHENTICATION_ERROR"));
        // The code's other spelling, under another status, is recognised too.
        let e = explain_auth(http(400, Some("AUTHENTICATION_ERR"), ""), Cred::DataAppKey);
        assert!(
            e.to_string().contains("the data-app API key was refused;"),
            "{e}"
        );
        // Anything else is left alone.
        let e = explain_auth(
            http(400, Some("DATASOURCE_IN_USE"), "m"),
            Cred::ServiceToken,
        );
        assert_eq!(e.to_string(), "Databrain: HTTP 400 DATASOURCE_IN_USE: m");
        assert!(is_refused(&http(403, None, "Forbidden")));
        assert!(!is_refused(&http(400, Some("INVALID_REQUEST_BODY"), "x")));
    }

    #[test]
    fn route_404s_get_a_base_url_hint() {
        let e = explain_missing_route(
            http(404, None, "non-JSON response (text/html): Error"),
            "/api/v2/datasource",
        );
        assert!(e.to_string().contains("check base_url"), "{e}");
        let e = explain_missing_route(http(404, Some("DATASOURCE_NOT_FOUND"), "gone"), "/x");
        assert!(!e.to_string().contains("base_url"), "{e}");
    }

    #[test]
    fn refusals_are_final_and_outages_retried_twice() {
        for code in [CODE_INVALID_BODY, "AUTHENTICATION_ERROR"] {
            let status = if code == CODE_INVALID_BODY { 400 } else { 401 };
            assert_eq!(
                READS.wait_before_retry(&http(status, Some(code), ""), 0),
                None
            );
        }
        assert!(READS.wait_before_retry(&http(503, None, ""), 1).is_some());
        assert_eq!(READS.wait_before_retry(&http(503, None, ""), 2), None);
    }

    #[tokio::test]
    async fn read_only_datamart_and_other_kinds_are_refused_without_sending() {
        // Nothing listens on this port: a sent request would be a transport error instead.
        let mut s = settings("http://127.0.0.1:9");
        s.read_only = true;
        let c = DatabrainClient::new(s).unwrap();
        let ds = Ref {
            kind: Kind::Datasources,
            id: "postgres-prod".into(),
            name: "postgres-prod".into(),
        };
        let err = c.delete(ds).await.unwrap_err();
        assert!(matches!(err, ApiError::ReadOnly { .. }), "{err:?}");

        let c = DatabrainClient::new(settings("http://127.0.0.1:9")).unwrap();
        let dm = Ref {
            kind: Kind::Datamarts,
            id: "sales".into(),
            name: "sales".into(),
        };
        let err = c.delete(dm).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "Databrain: datamart 'sales' was not deleted: datamarts are read-only in dsconsole \
             (delete it in Databrain)"
        );
        let login = Ref {
            kind: Kind::Logins,
            id: "l".into(),
            name: "l".into(),
        };
        assert!(matches!(
            c.delete(login).await.unwrap_err(),
            ApiError::Setup { .. }
        ));
        let empty = Ref {
            kind: Kind::Datasources,
            id: "".into(),
            name: "".into(),
        };
        assert!(c
            .delete(empty)
            .await
            .unwrap_err()
            .to_string()
            .contains("nothing was sent"));
        assert!(c.create(Kind::Datasources, json!({})).await.is_err());
        assert!(c.test_connection("x".into()).await.is_err());
        c.logout().await;
    }

    #[test]
    fn delete_answers_are_read_strictly() {
        let resp = |status: u16, body: &str| {
            HttpResponse::new(
                V,
                VENDOR.decode_error,
                status,
                reqwest::header::HeaderMap::new(),
                body.as_bytes().to_vec(),
            )
        };
        assert_eq!(
            deleted(
                &resp(
                    200,
                    r#"{"id":"u","message":"Datasource deleted successfully"}"#
                ),
                "x"
            )
            .unwrap(),
            DeleteOutcome::Deleted
        );
        assert_eq!(
            deleted(&resp(204, ""), "x").unwrap(),
            DeleteOutcome::Deleted
        );
        assert_eq!(
            deleted(&resp(200, r#"{"id":"u","error":null}"#), "x").unwrap(),
            DeleteOutcome::Deleted
        );
        let e = deleted(
            &resp(
                200,
                r#"{"error":{"code":"DATASOURCE_IN_USE","message":"in use"}}"#,
            ),
            "x",
        )
        .unwrap_err();
        assert_eq!(e.code(), Some("DATASOURCE_IN_USE"));
        let e = deleted(&resp(200, "<html><title>Sign in</title></html>"), "x").unwrap_err();
        assert!(matches!(e, ApiError::Decode { .. }));
        assert!(
            e.to_string().contains("whether it was deleted is unknown"),
            "{e}"
        );
    }

    #[test]
    fn sync_progress_and_ids_are_read_tolerantly() {
        let p = |b: &str| read_progress(200, b.as_bytes());
        assert_eq!(
            p(r#"{"status":{"progress":"16/16","error":""}}"#),
            Ok(SyncProgress::Done("16/16".into()))
        );
        assert_eq!(
            p(r#"{"status":{"progress":"0/...","error":""}}"#),
            Ok(SyncProgress::Running("0/...".into()))
        );
        assert_eq!(
            p(r#"{"status":{"progress":"0/16","error":"Error: Bind error data type"}}"#),
            Ok(SyncProgress::Failed("Error: Bind error data type".into()))
        );
        assert_eq!(p(r#"{"status":{}}"#), Ok(SyncProgress::Running("?".into())));
        for bad in [
            "",
            "nope",
            "[]",
            "{}",
            r#"{"status":3}"#,
            r#"{"status":{"progress":7}}"#,
        ] {
            assert!(matches!(p(bad), Err(ApiError::Decode { .. })), "{bad}");
        }
        assert_eq!(parse_progress(" 3 / 16 "), Some((3, 16)));
        assert_eq!(parse_progress("3/x"), None);
        assert!(is_uuid("ba8e6e45-d864-4d00-a07a-008507828114"));
        assert!(!is_uuid("production-postgres") && !is_uuid("ba8e6e45-d864-4d00-a07a-00850782811"));
        let ids = parse_datasource_ids(" pg = ba8e6e45-d864-4d00-a07a-008507828114,\nbad, =x, y= ");
        assert_eq!(ids.len(), 1);
        assert_eq!(ids["pg"], "ba8e6e45-d864-4d00-a07a-008507828114");
    }
}
