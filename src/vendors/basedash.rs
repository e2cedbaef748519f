//! Basedash Public API client: the organizations an API key can see and the data sources of
//! each (cursor paged), fetched one by one, soft deleted; health and sync state turned into the
//! neutral model, GETs retried on 429 (honouring `retryAfterMs` / `Retry-After`), 5xx and
//! transport failures, and the read-only guard of the shared HTTP layer.

use super::http::{path_segment, sensitive_value, HttpCore, HttpRequest, HttpResponse};
use super::retry::RetryPolicy;
use super::{ApiError, ClientSettings, DeleteOutcome, Snapshot, VendorApi, VendorSpec};
use crate::model::{
    cells, format_age, format_time, link_references, parse_time, Cell, CellCtx, CellTone, ColWidth,
    ColumnDef, Health, Kind, Ref, Resource, SyncInfo, VendorId,
};
use futures::future::BoxFuture;
use futures::StreamExt;
use reqwest::header::{HeaderValue, AUTHORIZATION};
use reqwest::Method;
use secrecy::ExposeSecret;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};

const V: VendorId = VendorId::Basedash;
/// Everything of the public API lives under this path of the host root.
const API_PREFIX: &str = "/api/public";
/// Page size asked for (the API's maximum).
const PAGE_LIMIT: u32 = 100;
/// Retries of a GET after the first attempt (see `retry`).
const READS: RetryPolicy = RetryPolicy::reads(3);
/// A list stops after this many pages even if the server keeps saying there are more.
const MAX_PAGES: usize = 20_000;
/// The verify route, under an organization (`.../organizations/{orgId}/data-sources/verify`).
const VERIFY_SUFFIX: &str = "/data-sources/verify";
/// The connection fields of a stored data source that a verify sends back (the API takes
/// the create fields minus `type` and `displayName`; secrets are never returned, so none
/// are sent).
const VERIFY_FIELDS: &[&str] = &[
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
];
/// Organizations whose data sources are listed at the same time.
const ORG_CONCURRENCY: usize = 4;

// ---------------------------------------------------------------------------------------------
// Columns
// ---------------------------------------------------------------------------------------------

/// The raw time at a top-level key of the data source, as unix seconds.
fn raw_time(r: &Resource, key: &str) -> Option<i64> {
    r.raw
        .value()
        .get(key)
        .and_then(Value::as_str)
        .and_then(parse_time)
}

/// "✓ HEALTHY", "✗ UNHEALTHY · healthy 3d ago", "✗ UNHEALTHY · never healthy", "? unknown".
pub fn health_cell(r: &Resource, ctx: &CellCtx) -> Cell {
    match &r.health {
        Health::Healthy => Cell::tone("✓ HEALTHY", CellTone::Good),
        Health::Unhealthy(_) => {
            let since = match raw_time(r, "lastHealthyAt") {
                Some(t) => format!("healthy {} ago", format_age(ctx.now, t)),
                None => "never healthy".to_string(),
            };
            Cell::tone(format!("✗ UNHEALTHY · {since}"), CellTone::Bad)
        }
        Health::Testing => Cell::tone("… testing", CellTone::Warn),
        Health::Unknown => match str_at(&r.raw.value(), "lastHealthStatus") {
            // A status this client does not know yet: shown as the server says it.
            Some(s) => Cell::tone(format!("? {s}"), CellTone::Warn),
            None => Cell::tone("? not checked", CellTone::Dim),
        },
    }
}

/// Health first (unhealthy, unknown, healthy), then by when the source was last healthy.
pub fn health_key(r: &Resource) -> String {
    let rank = match r.health {
        Health::Unhealthy(_) => 0,
        Health::Unknown | Health::Testing => 1,
        Health::Healthy => 2,
    };
    format!(
        "{rank}{:020}",
        raw_time(r, "lastHealthyAt").unwrap_or(0).max(0)
    )
}

fn is_status(status: &str, wanted: &[&str]) -> bool {
    wanted.iter().any(|w| status.eq_ignore_ascii_case(w))
}

/// "✓ SUCCESS · 2h ago", "✗ FAILED · ok 4d ago", "○ never synced", "… PENDING · ok 1d ago".
pub fn sync_cell(r: &Resource, ctx: &CellCtx) -> Cell {
    let Some(sync) = &r.sync else {
        return Cell::tone("-", CellTone::Dim);
    };
    let age = |prefix: &str| {
        sync.last_success
            .map(|t| format!(" · {prefix}{} ago", format_age(ctx.now, t)))
    };
    match sync.status.as_deref() {
        None => match age("ok ") {
            Some(a) => Cell::tone(format!("? no status{a}"), CellTone::Warn),
            None => Cell::tone("○ never synced", CellTone::Warn),
        },
        Some(s) if is_status(s, &["SUCCESS", "SUCCEEDED", "SYNCED"]) => Cell::tone(
            format!("✓ {s}{}", age("").unwrap_or_default()),
            CellTone::Good,
        ),
        Some(s) if sync.is_failed() => Cell::tone(
            format!(
                "✗ {s}{}",
                age("ok ").unwrap_or_else(|| " · never ok".to_string())
            ),
            CellTone::Bad,
        ),
        Some(s)
            if is_status(
                s,
                &["PENDING", "IN_PROGRESS", "RUNNING", "SYNCING", "QUEUED"],
            ) =>
        {
            Cell::tone(
                format!("… {s}{}", age("ok ").unwrap_or_default()),
                CellTone::Warn,
            )
        }
        Some(s) => Cell::tone(
            format!("? {s}{}", age("ok ").unwrap_or_default()),
            CellTone::Warn,
        ),
    }
}

/// Failed and never-synced first, then in progress / unknown, then succeeded; each by the
/// time of the last successful sync.
pub fn sync_key(r: &Resource) -> String {
    let Some(sync) = &r.sync else {
        return format!("3{:020}", 0);
    };
    let rank = match sync.status.as_deref() {
        None => 0,
        Some(_) if sync.is_failed() => 0,
        Some(s) if is_status(s, &["SUCCESS", "SUCCEEDED", "SYNCED"]) => 2,
        Some(_) => 1,
    };
    format!("{rank}{:020}", sync.last_success.unwrap_or(0).max(0))
}

/// The error of the last sync in the vendor's words (its first line; the detail pane shows
/// all of it): red when the sync failed, yellow when it is a leftover.
pub fn sync_error_cell(r: &Resource, _: &CellCtx) -> Cell {
    match r
        .sync
        .as_ref()
        .and_then(|s| s.error.as_deref().map(|e| (s, e)))
    {
        Some((s, e)) if s.is_failed() => Cell::tone(cells::first_line(e), CellTone::Bad),
        Some((_, e)) => Cell::tone(cells::first_line(e), CellTone::Warn),
        None => Cell::tone("-", CellTone::Dim),
    }
}

/// Where the data source points, from the connection fields of its dialect:
/// `host/database`, `snowflake-account/database`, `bigquery-project/dataset`,
/// `spanner-instance/database`, `athena:workgroup/database`.
pub fn endpoint(raw: &Value) -> Option<String> {
    let db = str_at(raw, "databaseName");
    let place = str_at(raw, "host")
        .map(str::to_string)
        .or_else(|| str_at(raw, "snowflakeAccountId").map(str::to_string))
        .or_else(|| str_at(raw, "spannerInstanceId").map(str::to_string))
        .or_else(|| str_at(raw, "bigQueryProjectId").map(str::to_string))
        .or_else(|| str_at(raw, "athenaWorkgroup").map(|w| format!("athena:{w}")));
    match (place, db) {
        (Some(p), Some(d)) => Some(format!("{p}/{d}")),
        (Some(p), None) => Some(p),
        (None, Some(d)) => Some(d.to_string()),
        (None, None) => None,
    }
}

pub fn endpoint_cell(r: &Resource, _: &CellCtx) -> Cell {
    let raw = r.raw.value();
    match endpoint(&raw) {
        Some(e) => Cell::plain(e),
        None if raw.get("isBasedashWarehouse") == Some(&Value::Bool(true)) => {
            Cell::tone("(Basedash warehouse)", CellTone::Dim)
        }
        None => Cell::tone("-", CellTone::Dim),
    }
}

// In order of importance: at narrow widths the last columns give way.
static DATASOURCE_COLUMNS: [ColumnDef; 7] = [
    ColumnDef {
        title: "Name",
        width: ColWidth::Names(18),
        cell: cells::name,
        sort_key: None,
    },
    ColumnDef {
        title: "Organization",
        width: ColWidth::Fill(12),
        cell: cells::container,
        sort_key: None,
    },
    ColumnDef {
        title: "Health",
        width: ColWidth::Fill(12),
        cell: health_cell,
        sort_key: Some(health_key),
    },
    ColumnDef {
        title: "Sync",
        width: ColWidth::Fill(12),
        cell: sync_cell,
        sort_key: Some(sync_key),
    },
    ColumnDef {
        title: "Sync error",
        width: ColWidth::Fill(24),
        cell: sync_error_cell,
        sort_key: None,
    },
    ColumnDef {
        title: "Dialect",
        width: ColWidth::Fixed(11),
        cell: cells::type_,
        sort_key: None,
    },
    ColumnDef {
        title: "Host / Database",
        width: ColWidth::Fill(10),
        cell: endpoint_cell,
        sort_key: None,
    },
];

fn columns(kind: Kind) -> &'static [ColumnDef] {
    match kind {
        Kind::Datasources => &DATASOURCE_COLUMNS,
        _ => &[],
    }
}

pub static SPEC: VendorSpec = VendorSpec {
    vendor: VendorId::Basedash,
    kinds: &[Kind::Datasources],
    orphan_kinds: &[],
    delete_order: &[Kind::Datasources],
    columns,
    can_create: false,
    can_test: false,
    health_checks: &[(Kind::Datasources, super::CheckKind::Verify)],
    soft_delete: true,
    impact_container: "organization",
    impact_per_minute: None,
    supported: true,
    edit_fields,
    update_tests_credentials: false,
};

use super::change::{Change, EditField, FieldValue};

const DATASOURCE_EDIT: &[EditField] = &[
    EditField::text("name", "Name", "/displayName")
        .help("not in Basedash's documented update: a server that refuses it says so"),
    EditField::text("description", "Description", "/description"),
    EditField::text("host", "Host", "/host").verified(),
    EditField::text("port", "Port", "/port").verified(),
    EditField::text("database_name", "Database", "/databaseName").verified(),
    EditField::text("username", "Database user", "/username").verified(),
    EditField::secret("password", "Database password")
        .clearable()
        .help("`--set password=` (empty) clears it (unsetPassword)"),
    EditField::text("ssl_enabled", "SSL", "/sslEnabled")
        .verified()
        .help("true or false"),
    EditField::text("ssh_host", "SSH host", "/sshHost").verified(),
    EditField::text("ssh_port", "SSH port", "/sshPort").verified(),
    EditField::text("ssh_username", "SSH user", "/sshUsername").verified(),
    EditField::secret("ssh_password", "SSH password")
        .clearable()
        .help("`--set ssh_password=` (empty) clears it (unsetSshPassword)"),
];

/// What Basedash lets a client change on a data source (`PATCH`, partial).
fn edit_fields(kind: Kind) -> &'static [EditField] {
    match kind {
        Kind::Datasources => DATASOURCE_EDIT,
        _ => &[],
    }
}

/// How a field is written in the PATCH body.
enum Wire {
    Text(&'static str),
    Port(&'static str),
    Bool(&'static str),
    /// A write-only secret and the flag that clears it.
    Secret(&'static str, &'static str),
}

fn wire_of(field: &str) -> Option<Wire> {
    Some(match field {
        "name" => Wire::Text("displayName"),
        "description" => Wire::Text("description"),
        "host" => Wire::Text("host"),
        "port" => Wire::Port("port"),
        "database_name" => Wire::Text("databaseName"),
        "username" => Wire::Text("username"),
        "password" => Wire::Secret("password", "unsetPassword"),
        "ssl_enabled" => Wire::Bool("sslEnabled"),
        "ssh_host" => Wire::Text("sshHost"),
        "ssh_port" => Wire::Port("sshPort"),
        "ssh_username" => Wire::Text("sshUsername"),
        "ssh_password" => Wire::Secret("sshPassword", "unsetSshPassword"),
        _ => return None,
    })
}

/// The PATCH body of a change: only the changed keys; a cleared secret is its `unset*`
/// flag alone (never with a value).
pub fn patch_body(change: &Change) -> Result<Value, String> {
    let mut body = serde_json::Map::new();
    for c in &change.fields {
        let wire = wire_of(&c.field).ok_or_else(|| {
            format!(
                "Basedash data sources have no field '{}' to change",
                c.field
            )
        })?;
        let text = || match &c.value {
            FieldValue::Text(t) => Ok(t.trim()),
            _ => Err(format!("'{}' cannot be cleared", c.field)),
        };
        match wire {
            Wire::Text(key) => {
                body.insert(key.into(), Value::from(text()?));
            }
            Wire::Port(key) => {
                let port: u16 = text()?
                    .parse()
                    .map_err(|_| format!("'{}' must be a port number (0-65535)", c.field))?;
                body.insert(key.into(), Value::from(port));
            }
            Wire::Bool(key) => {
                let on = match text()?.to_ascii_lowercase().as_str() {
                    "true" | "yes" | "on" | "1" => true,
                    "false" | "no" | "off" | "0" => false,
                    _ => return Err(format!("'{}' must be true or false", c.field)),
                };
                body.insert(key.into(), Value::Bool(on));
            }
            Wire::Secret(key, unset) => match &c.value {
                FieldValue::Unset => {
                    body.insert(unset.into(), Value::Bool(true));
                }
                v => {
                    body.insert(key.into(), Value::from(v.expose().unwrap_or_default()));
                }
            },
        }
    }
    Ok(Value::Object(body))
}

/// Basedash in the vendor registry.
pub static VENDOR: super::entry::Vendor = super::Vendor {
    spec: &SPEC,
    config: super::entry::ConfigSpec {
        secret: "token",
        username: false,
        keys: &[super::entry::ConfigKey {
            name: "org_id",
            value: super::entry::KeyValue::Text,
            shown_default: None,
        }],
        aliases: &[("org", "org_id"), ("organization_id", "org_id")],
        secret_optional: |_| false,
    },
    connect: |s| Ok(std::sync::Arc::new(BasedashClient::new(s)?)),
    create_form: |_, _| None,
    decode_error: super::http::decode_error,
    error_example: super::entry::ErrorExample {
        status: 400,
        body: r#"{"error":{"title":"ValidationError","detail":"Invalid credentials","fieldErrors":{"host":"Host not found"}}}"#,
        code: Some("ValidationError"),
        message: "Invalid credentials (host: Host not found)",
    },
    #[cfg(feature = "sim")]
    sim: super::entry::SimSpec {
        start: crate::sim::start_running!(basedash),
        demo: super::entry::DemoLogin {
            profile: "demo-basedash",
            username: None,
            secret: crate::sim::basedash::DEMO_TOKEN,
            secrets: &[],
        },
    },
};

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

/// Normalise a base URL: `http(s)://host[:port][/prefix]`, without query, trailing `/`, or
/// anything from an `/api/public` (or trailing `/api`) segment on. The client appends
/// `/api/public/...` itself, so `https://charts.basedash.com` and
/// `https://charts.basedash.com/api/public/` both work.
pub fn normalize_base_url(raw: &str) -> Result<String, String> {
    let base = super::http::BaseUrl::parse(raw)?;
    let mut path = base.rest;
    // Cut at the first whole "/api/public" segment pair, or a final "/api".
    let mut from = 0;
    while let Some(pos) = path[from..].find("/api") {
        let at = from + pos;
        let after = &path[at + 4..];
        let public = after
            .strip_prefix("/public")
            .is_some_and(|r| r.is_empty() || r.starts_with('/'));
        if after.is_empty() || public {
            path = &path[..at];
            break;
        }
        from = at + 4;
    }
    base.with_rest(path)
}

/// A trimmed, non-empty string at a top-level key.
fn str_at<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// An id: a non-empty string, or a number.
fn id_of(v: &Value) -> Option<String> {
    match v.get("id")? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// An organization: its id and the name shown as the container of its data sources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgRef {
    pub id: String,
    pub name: String,
}

/// An organization object of the API (`{id, name, slug, ...}`); `None` without an id.
pub fn parse_organization(v: &Value) -> Option<OrgRef> {
    let id = id_of(v)?;
    let name = str_at(v, "name")
        .or_else(|| str_at(v, "slug"))
        .unwrap_or(&id)
        .to_string();
    Some(OrgRef { id, name })
}

/// Health from `lastHealthStatus` / `lastHealthyAt`. Absent and unknown statuses are
/// `Unknown` (the cell shows an unknown status verbatim).
pub fn parse_health(v: &Value) -> Health {
    match str_at(v, "lastHealthStatus") {
        Some(s) if s.eq_ignore_ascii_case("HEALTHY") => Health::Healthy,
        Some(s) if s.eq_ignore_ascii_case("UNHEALTHY") => {
            let reason = match str_at(v, "lastHealthyAt").and_then(parse_time) {
                Some(t) => format!("UNHEALTHY, last healthy {} UTC", format_time(t)),
                None => "UNHEALTHY, never healthy".to_string(),
            };
            Health::Unhealthy(reason.into())
        }
        _ => Health::Unknown,
    }
}

/// Sync from `lastSyncStatus`, `lastSuccessfulSyncAt`, `syncErrorMessage`. The status is
/// kept verbatim, except `NEVER_SYNCED` and null, which both become `None` ("never synced",
/// which the unhealthy filter includes).
pub fn parse_sync(v: &Value) -> SyncInfo {
    SyncInfo {
        status: str_at(v, "lastSyncStatus")
            .filter(|s| !s.eq_ignore_ascii_case("NEVER_SYNCED"))
            .map(str::to_string),
        last_success: str_at(v, "lastSuccessfulSyncAt").and_then(parse_time),
        error: str_at(v, "syncErrorMessage").map(str::to_string),
    }
}

/// One DataSource object of `org` as a `Resource` (lenient: only `id` is required).
pub fn parse_data_source(profile: &str, org: &OrgRef, v: &Value) -> Option<Resource> {
    let id = id_of(v)?;
    let name = str_at(v, "displayName").unwrap_or(&id).to_string();
    let mut r = Resource::new(V, profile, Kind::Datasources, &id, &name);
    r.type_ = str_at(v, "dialect").map(crate::model::intern);
    r.container = Some(org.name.clone().into());
    r.created = str_at(v, "createdAt").and_then(parse_time);
    r.updated = str_at(v, "updatedAt").and_then(parse_time);
    r.health = parse_health(v);
    // Always present for Basedash, so that a source that never synced counts as unhealthy.
    r.sync = Some(Box::new(parse_sync(v)));
    r.raw = v.into();
    Some(r)
}

/// One page of a list: `{"data":[...],"pagination":{"nextCursor","hasMore"}}`.
struct Page {
    items: Vec<Value>,
    next_cursor: Option<String>,
    has_more: bool,
}

fn parse_page(status: u16, path: &str, body: Value) -> Result<Page, ApiError> {
    let Value::Object(mut obj) = body else {
        return Err(ApiError::Decode {
            vendor: V,
            status,
            message: format!("GET {path}: expected an object with a 'data' array"),
        });
    };
    let items = match obj.remove("data") {
        Some(Value::Array(items)) => items,
        _ => {
            return Err(ApiError::Decode {
                vendor: V,
                status,
                message: format!("GET {path}: expected an object with a 'data' array"),
            })
        }
    };
    let pagination = obj.get("pagination");
    let has_more = pagination
        .and_then(|p| p.get("hasMore"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let next_cursor = match pagination.and_then(|p| p.get("nextCursor")) {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    Ok(Page {
        items,
        next_cursor,
        has_more,
    })
}

/// The object under `data` of a single-object answer.
fn data_object(status: u16, what: &str, body: Value) -> Result<Value, ApiError> {
    match body {
        Value::Object(mut obj) => match obj.remove("data") {
            Some(v @ Value::Object(_)) => Ok(v),
            _ => Err(ApiError::Decode {
                vendor: V,
                status,
                message: format!("{what}: expected an object with a 'data' object"),
            }),
        },
        _ => Err(ApiError::Decode {
            vendor: V,
            status,
            message: format!("{what}: expected an object with a 'data' object"),
        }),
    }
}

/// A 404/405 that is not a Basedash error body: the route itself is missing (a proxy or
/// an API without the single-object GET), not the object.
fn is_route_missing(e: &ApiError) -> bool {
    matches!(
        e,
        ApiError::Http {
            status: 404 | 405,
            code: None,
            ..
        }
    )
}

/// The same HTTP error with a sentence added to its message.
fn with_note(e: ApiError, note: &str) -> ApiError {
    match e {
        ApiError::Http {
            vendor,
            status,
            code,
            message,
            ticket,
            retry_after_ms,
        } => ApiError::Http {
            vendor,
            status,
            code,
            message: if message.is_empty() {
                note.to_string()
            } else {
                format!("{message} ({note})")
            },
            ticket,
            retry_after_ms,
        },
        other => other,
    }
}

/// Where a data source unknown to the client was found.
enum Lookup {
    Found(OrgRef, Value),
    /// Not in any organization, and every organization could be searched: gone.
    Missing(ApiError),
    /// Not found, but some organization could not be searched (no admin access).
    Unverifiable(ApiError),
}

fn unsupported_kind(kind: Kind) -> ApiError {
    ApiError::Setup {
        vendor: V,
        message: format!("Basedash has data sources only, no {}", kind.id()),
    }
}

// ---------------------------------------------------------------------------------------------
// Client
// ---------------------------------------------------------------------------------------------

/// A Basedash client of one profile. Cheap to share (`Arc`); safe to call concurrently.
pub struct BasedashClient {
    http: HttpCore,
    profile: String,
    /// Normalised base URL + "/api/public".
    api: String,
    /// `Bearer <key>`, marked sensitive.
    auth: HeaderValue,
    /// Only this organization, when set.
    org_id: Option<String>,
    /// The organization of every data source seen, by data source id (get and delete need
    /// it; a `Ref` carries none).
    org_of: Mutex<HashMap<String, OrgRef>>,
}

impl std::fmt::Debug for BasedashClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasedashClient")
            .field("profile", &self.profile)
            .field("api", &self.api)
            .field("org_id", &self.org_id)
            .finish()
    }
}

/// Basedash's own profile settings, parsed from its config keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BasedashSettings {
    /// `org_id`: only this organization is loaded.
    pub org_id: Option<String>,
}

impl BasedashSettings {
    pub fn from_options(options: &super::VendorOptions) -> BasedashSettings {
        BasedashSettings {
            org_id: options.text("org_id"),
        }
    }
}

impl BasedashClient {
    /// Build the client. No I/O.
    pub fn new(settings: ClientSettings) -> Result<Self, ApiError> {
        let setup = |message: String| ApiError::Setup { vendor: V, message };
        let base = normalize_base_url(&settings.base_url)
            .map_err(|m| setup(format!("profile '{}': {m}", settings.profile)))?;
        let key = settings.secret.expose_secret().trim();
        if key.is_empty() {
            return Err(setup(format!(
                "profile '{}' has no API key",
                settings.profile
            )));
        }
        let auth = sensitive_value(V, "API key", &format!("Bearer {key}"))?;
        let org_id = BasedashSettings::from_options(&settings.options).org_id;
        let mut http_settings = settings.clone();
        http_settings.vendor = V;
        // Read-only rule: a verify tests connection fields without saving anything, so it
        // is the one POST a read-only profile may send (see `VendorApi::check_health`).
        let http = HttpCore::new(
            &http_settings,
            &[(Method::POST, VERIFY_SUFFIX)],
            VENDOR.decode_error,
        )?;
        Ok(BasedashClient {
            http,
            profile: settings.profile,
            api: format!("{base}{API_PREFIX}"),
            auth,
            org_id,
            org_of: Mutex::new(HashMap::new()),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.api, path)
    }

    fn orgs_cache(&self) -> MutexGuard<'_, HashMap<String, OrgRef>> {
        self.org_of
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// One authenticated call under `/api/public`; 2xx or the decoded error. GETs are
    /// retried under `READS`.
    async fn call(&self, method: Method, path: &str) -> Result<HttpResponse, ApiError> {
        let url = self.url(path);
        self.http.check_allowed(&method, &url)?;
        self.http
            .retrying(&READS, &method, &url, || async {
                let req = HttpRequest::new(method.clone(), url.as_str())
                    .header(AUTHORIZATION, self.auth.clone());
                self.http.send(req).await?.error_for_status()
            })
            .await
    }

    /// GET a single object and unwrap `data`.
    async fn get_data(&self, path: &str) -> Result<Value, ApiError> {
        let resp = self.call(Method::GET, path).await?;
        let body: Value = resp.json(V)?;
        data_object(resp.status, &format!("GET {path}"), body)
    }

    /// Every item of a cursor-paged list, and a warning when the list had to stop early.
    async fn list_all(&self, path: &str) -> Result<(Vec<Value>, Option<String>), ApiError> {
        self.list_pages(path, |_| {}).await
    }

    /// `list_all`, calling `on_page` with each page's items as it arrives.
    async fn list_pages(
        &self,
        path: &str,
        on_page: impl Fn(&[Value]),
    ) -> Result<(Vec<Value>, Option<String>), ApiError> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        let mut seen_cursors = HashSet::new();
        for _ in 0..MAX_PAGES {
            let mut page_path = format!("{path}?limit={PAGE_LIMIT}");
            if let Some(c) = &cursor {
                page_path.push_str("&cursor=");
                page_path.push_str(&path_segment(c));
            }
            let resp = self.call(Method::GET, &page_path).await?;
            let body: Value = resp.json(V)?;
            let page = parse_page(resp.status, path, body)?;
            on_page(&page.items);
            items.extend(page.items);
            if !page.has_more {
                return Ok((items, None));
            }
            match page.next_cursor {
                None => {
                    return Ok((
                        items,
                        Some(format!(
                            "GET {path}: the server said more pages follow but sent no cursor; the list may be incomplete"
                        )),
                    ))
                }
                Some(c) if !seen_cursors.insert(c.clone()) => {
                    return Ok((
                        items,
                        Some(format!(
                            "GET {path}: the server sent cursor '{c}' twice; the list may be incomplete"
                        )),
                    ))
                }
                Some(c) => cursor = Some(c),
            }
        }
        Ok((
            items,
            Some(format!(
                "GET {path}: stopped after {MAX_PAGES} pages; the list may be incomplete"
            )),
        ))
    }

    /// The organizations to work on: the configured one, or every one the key can see.
    async fn organizations(&self) -> Result<(Vec<OrgRef>, Vec<String>), ApiError> {
        if let Some(id) = &self.org_id {
            let path = format!("/organizations/{}", path_segment(id));
            let v = self.get_data(&path).await?;
            let org = parse_organization(&v).unwrap_or_else(|| OrgRef {
                id: id.clone(),
                name: id.clone(),
            });
            return Ok((vec![org], Vec::new()));
        }
        let (items, warning) = self.list_all("/organizations").await?;
        let mut warnings: Vec<String> = warning.into_iter().collect();
        let mut seen = HashSet::new();
        let mut orgs = Vec::with_capacity(items.len());
        let mut skipped = 0;
        for v in &items {
            match parse_organization(v) {
                Some(o) if seen.insert(o.id.clone()) => orgs.push(o),
                Some(_) => {}
                None => skipped += 1,
            }
        }
        if skipped > 0 {
            warnings.push(format!(
                "{skipped} organizations without an id were skipped"
            ));
        }
        Ok((orgs, warnings))
    }

    fn sources_path(org: &OrgRef) -> String {
        format!("/organizations/{}/data-sources", path_segment(&org.id))
    }

    fn source_path(org_id: &str, id: &str) -> String {
        format!(
            "/organizations/{}/data-sources/{}",
            path_segment(org_id),
            path_segment(id)
        )
    }

    /// Every data source of one organization, newest first, and warnings.
    async fn list_sources(
        &self,
        org: &OrgRef,
        pages: Option<&super::PageSink>,
    ) -> Result<(Vec<Resource>, Vec<String>), ApiError> {
        let send_page = |items: &[Value]| {
            if let Some(sink) = pages {
                let page = items
                    .iter()
                    .filter_map(|v| parse_data_source(&self.profile, org, v))
                    .collect();
                let _ = sink.send(page);
            }
        };
        let (items, warning) = self.list_pages(&Self::sources_path(org), send_page).await?;
        let mut warnings: Vec<String> = warning.into_iter().collect();
        let mut seen = HashSet::new();
        let mut out = Vec::with_capacity(items.len());
        let mut skipped = 0;
        for v in &items {
            match parse_data_source(&self.profile, org, v) {
                Some(r) if seen.insert(r.id.clone()) => out.push(r),
                Some(_) => {}
                None => skipped += 1,
            }
        }
        if skipped > 0 {
            warnings.push(format!(
                "organization '{}': {skipped} data sources without an id were skipped",
                org.name
            ));
        }
        Ok((out, warnings))
    }

    /// One data source of `org`. When the single-object route is missing (a 404/405 that
    /// is not a Basedash error body), the organization's list is searched instead.
    async fn fetch_source(&self, org: &OrgRef, id: &str) -> Result<Value, ApiError> {
        match self.get_data(&Self::source_path(&org.id, id)).await {
            Err(e) if is_route_missing(&e) => {
                tracing::debug!(
                    profile = %self.profile,
                    "Basedash: single data source GET unavailable ({e}); searching the list"
                );
                let (items, _) = self.list_all(&Self::sources_path(org)).await?;
                items
                    .into_iter()
                    .find(|v| id_of(v).as_deref() == Some(id))
                    .ok_or(e)
            }
            other => other,
        }
    }

    /// Whether the key's user may read the organization's data sources: a one-item list.
    /// The API answers 404 for both a missing source and a caller who is not an admin, so a
    /// 404 only means "gone" where this is true.
    async fn has_admin_access(&self, org: &OrgRef) -> Result<bool, ApiError> {
        let path = format!("{}?limit=1", Self::sources_path(org));
        match self.call(Method::GET, &path).await {
            Ok(_) => Ok(true),
            Err(e) if e.status() == Some(404) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Find a data source this client has not seen by asking each organization for it.
    async fn locate(&self, id: &str) -> Result<Lookup, ApiError> {
        let (orgs, _) = self.organizations().await?;
        let mut last_404 = None;
        let mut unchecked = Vec::new();
        for org in orgs {
            match self.fetch_source(&org, id).await {
                Ok(v) => {
                    self.orgs_cache().insert(id.to_string(), org.clone());
                    return Ok(Lookup::Found(org, v));
                }
                Err(e) if e.status() == Some(404) => {
                    if !self.has_admin_access(&org).await? {
                        unchecked.push(org.name);
                    }
                    last_404 = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        let not_found = |message: String| ApiError::Http {
            vendor: V,
            status: 404,
            code: Some("NotFound".into()),
            message,
            ticket: None,
            retry_after_ms: None,
        };
        if !unchecked.is_empty() {
            return Ok(Lookup::Unverifiable(not_found(format!(
                "data source '{id}' not found; no admin access to organization '{}', so it may be there",
                unchecked.join("', '")
            ))));
        }
        Ok(Lookup::Missing(match last_404 {
            Some(e) => with_note(e, "not found in any organization the API key can see"),
            None => not_found(format!(
                "data source '{id}' not found: the API key sees no organization"
            )),
        }))
    }

    async fn do_load(&self, pages: Option<super::PageSink>) -> Result<Snapshot, ApiError> {
        let pages = pages.as_ref();
        let (orgs, mut warnings) = self.organizations().await?;
        if orgs.is_empty() {
            warnings.push("the API key belongs to no organization".to_string());
        }
        let results: Vec<_> = futures::stream::iter(orgs.iter().cloned())
            .map(|org| async move { self.list_sources(&org, pages).await })
            .buffered(ORG_CONCURRENCY)
            .collect()
            .await;
        let mut resources = Vec::new();
        let mut first_error = None;
        let mut listed = 0usize;
        let mut seen_orgs: HashMap<String, OrgRef> = HashMap::new();
        for (org, result) in orgs.iter().zip(results) {
            match result {
                Ok((list, w)) => {
                    listed += 1;
                    warnings.extend(w);
                    for r in &list {
                        seen_orgs.insert(r.id.to_string(), org.clone());
                    }
                    resources.extend(list);
                }
                Err(e) => {
                    let hint = if e.status() == Some(404) {
                        " (data sources need admin access to the organization)"
                    } else {
                        ""
                    };
                    warnings.push(format!(
                        "organization '{}': data sources not listed: {e}{hint}",
                        org.name
                    ));
                    first_error.get_or_insert(e);
                }
            }
        }
        if listed == 0 {
            if let Some(e) = first_error {
                return Err(e);
            }
        }
        self.orgs_cache().extend(seen_orgs);
        let warnings: Vec<String> = warnings
            .into_iter()
            .map(|w| format!("{}: {w}", self.profile))
            .collect();
        link_references(&mut resources, SPEC.orphan_kinds);
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
        if target.kind != Kind::Datasources {
            return Err(unsupported_kind(target.kind));
        }
        let cached = self.orgs_cache().get(target.id.as_str()).cloned();
        let (org, v) = match cached {
            Some(org) => {
                let v = self.fetch_source(&org, &target.id).await?;
                (org, v)
            }
            None => match self.locate(&target.id).await? {
                Lookup::Found(org, v) => (org, v),
                Lookup::Missing(e) | Lookup::Unverifiable(e) => return Err(e),
            },
        };
        parse_data_source(&self.profile, &org, &v).ok_or_else(|| ApiError::Decode {
            vendor: V,
            status: 200,
            message: "the data source object has no id".into(),
        })
    }

    async fn do_delete(&self, target: &Ref) -> Result<DeleteOutcome, ApiError> {
        if target.kind != Kind::Datasources {
            return Err(unsupported_kind(target.kind));
        }
        let cached = self.orgs_cache().get(target.id.as_str()).cloned();
        // Refuse on a read-only profile before anything is sent, even the lookups.
        let guard_org = cached
            .as_ref()
            .map(|o| o.id.clone())
            .or_else(|| self.org_id.clone())
            .unwrap_or_else(|| "-".to_string());
        self.http.check_allowed(
            &Method::DELETE,
            &self.url(&Self::source_path(&guard_org, &target.id)),
        )?;
        let org = match cached {
            Some(org) => org,
            None => match self.locate(&target.id).await? {
                Lookup::Found(org, _) => org,
                Lookup::Missing(e) => {
                    tracing::info!(
                        profile = %self.profile,
                        id = %target.id,
                        "Basedash: already gone: {e}"
                    );
                    return Ok(DeleteOutcome::AlreadyGone);
                }
                Lookup::Unverifiable(e) => return Err(e),
            },
        };
        let path = Self::source_path(&org.id, &target.id);
        match self.call(Method::DELETE, &path).await {
            Ok(resp) => resp
                .expect_delete_ack(V)
                .map(|()| DeleteOutcome::SoftDeleted),
            Err(e) if e.status() == Some(404) => self.confirm_gone(&org, target, e).await,
            Err(e) => Err(e),
        }
    }

    /// A delete answered 404 ("not found or no admin access"): gone only if the source
    /// cannot be fetched any more AND the caller can read the organization's data sources.
    async fn confirm_gone(
        &self,
        org: &OrgRef,
        target: &Ref,
        delete_error: ApiError,
    ) -> Result<DeleteOutcome, ApiError> {
        let check = match self.fetch_source(org, &target.id).await {
            Ok(_) => Err(format!(
                "the data source still exists in organization '{}'",
                org.name
            )),
            Err(e) if e.status() == Some(404) => match self.has_admin_access(org).await {
                Ok(true) => Ok(()),
                Ok(false) => Err(format!(
                    "no admin access to organization '{}': cannot tell whether it still exists",
                    org.name
                )),
                Err(e) => Err(format!(
                    "could not check whether it is gone: {}",
                    e.reason()
                )),
            },
            Err(e) => Err(format!(
                "could not check whether it is gone: {}",
                e.reason()
            )),
        };
        match check {
            Ok(()) => {
                tracing::info!(
                    profile = %self.profile,
                    id = %target.id,
                    "Basedash: already gone: {delete_error}"
                );
                Ok(DeleteOutcome::AlreadyGone)
            }
            Err(note) => Err(with_note(delete_error, &note)),
        }
    }
}

/// The verify body for a stored data source: its non-null connection fields.
pub fn verify_body(source: &Value) -> Value {
    let mut out = serde_json::Map::new();
    for key in VERIFY_FIELDS {
        match source.get(*key) {
            None | Some(Value::Null) => {}
            Some(v) => {
                out.insert((*key).to_string(), v.clone());
            }
        }
    }
    Value::Object(out)
}

/// `fieldErrors` (field → message) as "host: Host not found; port: Incorrect port".
fn field_errors(v: Option<&Value>) -> Option<String> {
    let Some(Value::Object(m)) = v else {
        return None;
    };
    let parts: Vec<String> = m
        .iter()
        .map(|(k, v)| match v {
            Value::String(s) => format!("{k}: {s}"),
            other => format!("{k}: {other}"),
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// A 2xx answer to a verify: `{"data":{"success":true}}` passes; `success:false` (with
/// `fieldErrors`, [guess]) fails with the vendor's words; anything else is unreadable.
pub fn read_verify(status: u16, body: &[u8]) -> Result<super::HealthCheck, ApiError> {
    use super::{CheckKind, HealthCheck};
    let unreadable = |m: &str| ApiError::Decode {
        vendor: V,
        status,
        message: format!("verify: {m}"),
    };
    let v: Value = serde_json::from_slice(body).map_err(|_| unreadable("not JSON"))?;
    let data = v
        .get("data")
        .filter(|d| d.is_object())
        .ok_or_else(|| unreadable("expected an object with a 'data' object"))?;
    match data.get("success") {
        Some(Value::Bool(true)) => Ok(HealthCheck::Passed {
            check: CheckKind::Verify,
            detail: None,
        }),
        Some(Value::Bool(false)) => {
            let detail = str_at(data, "detail")
                .or_else(|| str_at(data, "message"))
                .map(str::to_string);
            let fields = field_errors(data.get("fieldErrors"));
            let reason = match (detail, fields) {
                (Some(d), Some(f)) => format!("{d} ({f})"),
                (Some(d), None) => d,
                (None, Some(f)) => f,
                (None, None) => "verify failed (no reason given)".to_string(),
            };
            Ok(HealthCheck::Failed {
                check: CheckKind::Verify,
                reason,
            })
        }
        _ => Err(unreadable("'data.success' is not a boolean")),
    }
}

impl BasedashClient {
    /// Verify a stored data source: fetch it (its organization and connection fields), then
    /// `POST .../data-sources/verify` with those fields. A 400/422 `ValidationError` is the
    /// vendor's verdict (failed, with its `fieldErrors`); 401, 404, 429 and 5xx mean the
    /// verify could not run. Never retried: a POST.
    ///
    /// `PATCH` the data source with only the changed keys; the answer's `data` is the
    /// object as stored (read again when the answer is not the object).
    async fn do_update(&self, target: &Ref, change: &Change) -> Result<Resource, ApiError> {
        if target.kind != Kind::Datasources {
            return Err(unsupported_kind(target.kind));
        }
        let body = patch_body(change).map_err(|message| ApiError::Setup { vendor: V, message })?;
        let cached = self.orgs_cache().get(target.id.as_str()).cloned();
        // Refuse on a read-only profile before anything is sent, even the lookups.
        let guard_org = cached
            .as_ref()
            .map(|o| o.id.clone())
            .or_else(|| self.org_id.clone())
            .unwrap_or_else(|| "-".to_string());
        self.http.check_allowed(
            &Method::PATCH,
            &self.url(&Self::source_path(&guard_org, &target.id)),
        )?;
        let org = match cached {
            Some(org) => org,
            None => match self.locate(&target.id).await? {
                Lookup::Found(org, _) => org,
                Lookup::Missing(e) | Lookup::Unverifiable(e) => return Err(e),
            },
        };
        let url = self.url(&Self::source_path(&org.id, &target.id));
        let req = HttpRequest::new(Method::PATCH, url.as_str())
            .header(AUTHORIZATION, self.auth.clone())
            .json(body);
        let resp = self.http.send(req).await?.error_for_status()?;
        let parsed = resp
            .json::<Value>(V)
            .and_then(|b| data_object(resp.status, "PATCH data source", b))
            .ok()
            .and_then(|v| parse_data_source(&self.profile, &org, &v));
        match parsed {
            Some(r) => Ok(r),
            None => self.do_get(target).await,
        }
    }

    /// Re-create a deleted data source (`POST .../data-sources`) in the organization it
    /// lived in (`container`, by name), else the configured one, else the only one the key
    /// sees.
    async fn do_recreate(
        &self,
        kind: Kind,
        container: Option<String>,
        body: Value,
    ) -> Result<Resource, ApiError> {
        if kind != Kind::Datasources {
            return Err(unsupported_kind(kind));
        }
        let guard_org = self.org_id.clone().unwrap_or_else(|| "-".to_string());
        self.http.check_allowed(
            &Method::POST,
            &self.url(&format!(
                "/organizations/{}/data-sources",
                path_segment(&guard_org)
            )),
        )?;
        let (orgs, _) = self.organizations().await?;
        let org = match &container {
            Some(name) => orgs.iter().find(|o| &o.name == name || &o.id == name),
            None if orgs.len() == 1 => orgs.first(),
            None => None,
        }
        .cloned()
        .ok_or_else(|| ApiError::Setup {
            vendor: V,
            message: match &container {
                Some(name) => format!("no organization '{name}' is visible to this API key"),
                None => "the organization it lived in is not known and the key sees several: \
                         set org_id in the profile"
                    .into(),
            },
        })?;
        let url = self.url(&Self::sources_path(&org));
        let req = HttpRequest::new(Method::POST, url.as_str())
            .header(AUTHORIZATION, self.auth.clone())
            .json(body);
        let resp = self.http.send(req).await?.error_for_status()?;
        let v = resp
            .json::<Value>(V)
            .and_then(|b| data_object(resp.status, "POST data source", b))?;
        let r = parse_data_source(&self.profile, &org, &v).ok_or_else(|| ApiError::Decode {
            vendor: V,
            status: resp.status,
            message: "the created data source has no id".into(),
        })?;
        self.orgs_cache().insert(r.id.to_string(), org);
        Ok(r)
    }

    /// The API never returns secrets, so none are sent: a server that insists on the
    /// password fails the verify with its own reason, which is what the operator sees.
    async fn do_verify(&self, target: &Ref) -> Result<super::HealthCheck, ApiError> {
        use super::{CheckKind, HealthCheck};
        if target.kind != Kind::Datasources {
            return Ok(HealthCheck::NotOffered);
        }
        let cached = self.orgs_cache().get(target.id.as_str()).cloned();
        let (org, source) = match cached {
            Some(org) => {
                let v = self.fetch_source(&org, &target.id).await?;
                (org, v)
            }
            None => match self.locate(&target.id).await? {
                Lookup::Found(org, v) => (org, v),
                Lookup::Missing(e) | Lookup::Unverifiable(e) => return Err(e),
            },
        };
        let path = format!("/organizations/{}{VERIFY_SUFFIX}", path_segment(&org.id));
        let url = self.url(&path);
        let req = HttpRequest::new(Method::POST, url.as_str())
            .header(AUTHORIZATION, self.auth.clone())
            .json(verify_body(&source));
        let resp = self.http.send(req).await?;
        if resp.is_success() {
            return read_verify(resp.status, &resp.body);
        }
        let e = resp.to_error();
        match e.status() {
            Some(400 | 422) => Ok(HealthCheck::Failed {
                check: CheckKind::Verify,
                reason: e.reason(),
            }),
            _ => Err(e),
        }
    }
}

impl VendorApi for BasedashClient {
    fn vendor(&self) -> VendorId {
        V
    }

    fn load(&self) -> BoxFuture<'_, Result<Snapshot, ApiError>> {
        Box::pin(self.do_load(None))
    }

    fn load_streaming(&self, pages: super::PageSink) -> BoxFuture<'_, Result<Snapshot, ApiError>> {
        Box::pin(self.do_load(Some(pages)))
    }

    fn get(&self, target: Ref) -> BoxFuture<'_, Result<Resource, ApiError>> {
        Box::pin(async move { self.do_get(&target).await })
    }

    fn delete(&self, target: Ref) -> BoxFuture<'_, Result<DeleteOutcome, ApiError>> {
        Box::pin(async move { self.do_delete(&target).await })
    }

    /// A partial `PATCH` of the data source (only the changed keys, `unset*` to clear a
    /// secret); Basedash does not test the new credentials itself.
    fn update(&self, target: Ref, change: Change) -> BoxFuture<'_, Result<Resource, ApiError>> {
        Box::pin(async move { self.do_update(&target, &change).await })
    }

    /// A new data source in the organization the deleted one lived in.
    fn recreate(
        &self,
        kind: Kind,
        container: Option<String>,
        body: Value,
    ) -> BoxFuture<'_, Result<Resource, ApiError>> {
        Box::pin(self.do_recreate(kind, container, body))
    }

    /// Basedash's health check is verify (see `do_verify`).
    fn check_health(&self, target: Ref) -> BoxFuture<'_, Result<super::HealthCheck, ApiError>> {
        Box::pin(async move { self.do_verify(&target).await })
    }

    fn test_connection(&self, _id: String) -> BoxFuture<'_, Result<(), ApiError>> {
        Box::pin(async move {
            Err(ApiError::Setup {
                vendor: V,
                message: "Basedash reports health itself; stored data sources cannot be tested \
                          (the verify endpoint needs the credentials, which the API never returns)"
                    .into(),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    fn settings(base_url: &str) -> ClientSettings {
        ClientSettings::new(
            "bd",
            V,
            base_url,
            secrecy::SecretString::from("bd_key_0123456789abcdef0123456789abcdef"),
        )
        .timeout(Duration::from_secs(5))
    }

    fn org() -> OrgRef {
        OrgRef {
            id: "org_abc123".into(),
            name: "Acme".into(),
        }
    }

    /// The documented sample data source.
    fn sample() -> Value {
        json!({"id":"cm5x2k9q80001ab12cd34ef56","displayName":"Production Postgres",
            "description":"Main app database (read replica)","dialect":"POSTGRES",
            "databaseName":"app_production","username":"basedash_ro","host":"replica.db.example.com",
            "port":5432,"sslEnabled":true,"sslCustomCertificatesEnabled":false,"sshEnabled":true,
            "sshHost":"bastion.example.com","sshPort":22,"sshUsername":"tunnel",
            "bigQueryProjectId":null,"spannerInstanceId":null,"athenaWorkgroup":null,
            "athenaOutputLocation":null,"athenaCatalog":null,"snowflakeAccountId":null,
            "snowflakeWarehouse":null,"snowflakeRole":null,
            "lastSuccessfulSyncAt":"2026-01-12T09:14:03Z","lastSyncStatus":"SUCCESS",
            "lastSyncAttemptAt":"2026-01-12T09:13:40Z","hasCompletedFirstSync":true,
            "syncErrorMessage":null,"lastHealthyAt":"2026-01-12T10:00:00Z",
            "lastHealthStatus":"HEALTHY","lastHealthCheckAttemptAt":"2026-01-12T10:00:00Z",
            "isDemo":false,"isBasedashWarehouse":false,"mutatingQueriesEnabled":false,
            "createdAt":"2025-11-03T16:22:10Z","updatedAt":"2026-01-12T09:14:03Z"})
    }

    fn with(mut v: Value, changes: Value) -> Value {
        if let (Value::Object(m), Value::Object(c)) = (&mut v, changes) {
            m.extend(c);
        }
        v
    }

    /// The documented failing Snowflake source.
    fn failing_snowflake() -> Value {
        with(
            sample(),
            json!({"dialect":"SNOWFLAKE","host":null,"port":null,
                "snowflakeAccountId":"xy12345.us-east-1","snowflakeWarehouse":"COMPUTE_WH",
                "snowflakeRole":"REPORTER","lastSuccessfulSyncAt":null,"lastSyncStatus":"FAILED",
                "hasCompletedFirstSync":false,"syncErrorMessage":"JWT token is invalid.",
                "lastHealthStatus":"UNHEALTHY","lastHealthyAt":"2026-01-09T07:00:00Z"}),
        )
    }

    fn parse(v: &Value) -> Resource {
        parse_data_source("bd", &org(), v).expect("has an id")
    }

    /// 2026-01-12T12:00:00Z.
    const NOW: i64 = 1_768_219_200;

    fn text(f: fn(&Resource, &CellCtx) -> Cell, r: &Resource) -> (String, CellTone) {
        let c = f(r, &CellCtx { now: NOW });
        (c.text, c.tone)
    }

    #[test]
    fn base_urls_are_normalised() {
        let ok = |s: &str| normalize_base_url(s).unwrap();
        assert_eq!(
            ok("https://charts.basedash.com"),
            "https://charts.basedash.com"
        );
        assert_eq!(
            ok(" https://charts.basedash.com/ "),
            "https://charts.basedash.com"
        );
        assert_eq!(
            ok("https://charts.basedash.com/api/public/"),
            "https://charts.basedash.com"
        );
        assert_eq!(
            ok("https://charts.basedash.com/api/public/organizations?limit=5"),
            "https://charts.basedash.com"
        );
        assert_eq!(ok("http://127.0.0.1:8080/api"), "http://127.0.0.1:8080");
        // A prefix before /api is kept; "/apiary" is not "/api".
        assert_eq!(ok("https://h/bd/api/public"), "https://h/bd");
        assert_eq!(ok("https://h/apiary"), "https://h/apiary");
        assert!(normalize_base_url("charts.basedash.com")
            .unwrap_err()
            .contains("must start with http:// or https://"));
        assert!(normalize_base_url("https:///api/public").is_err());
    }

    #[test]
    fn new_checks_settings_without_io_and_hides_the_key() {
        let c = BasedashClient::new(settings("https://charts.basedash.com/")).unwrap();
        assert_eq!(
            c.url("/organizations"),
            "https://charts.basedash.com/api/public/organizations"
        );
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("0123456789abcdef"), "{dbg}");
        assert!(c.auth.is_sensitive());

        let mut s = settings("https://charts.basedash.com");
        s.secret = secrecy::SecretString::from("  ");
        let err = BasedashClient::new(s).unwrap_err();
        assert!(err.to_string().contains("has no API key"), "{err}");
        let err = BasedashClient::new(settings("charts.basedash.com")).unwrap_err();
        assert!(err.to_string().contains("profile 'bd'"), "{err}");
        let mut s = settings("https://charts.basedash.com");
        s.secret = secrecy::SecretString::from("bd_key_bad\nkey");
        let err = BasedashClient::new(s).unwrap_err();
        assert!(!err.to_string().contains("bd_key_bad"), "{err}");
    }

    #[test]
    fn parses_a_healthy_synced_source() {
        let v = sample();
        let r = parse(&v);
        assert_eq!(r.id, "cm5x2k9q80001ab12cd34ef56");
        assert_eq!(r.name, "Production Postgres");
        assert_eq!(r.kind, Kind::Datasources);
        assert_eq!(r.type_.as_deref(), Some("POSTGRES"));
        assert_eq!(r.container.as_deref(), Some("Acme"));
        assert_eq!(r.created, parse_time("2025-11-03T16:22:10Z"));
        assert_eq!(r.updated, parse_time("2026-01-12T09:14:03Z"));
        assert_eq!(r.health, Health::Healthy);
        assert_eq!(
            r.sync.as_deref(),
            Some(&SyncInfo {
                status: Some("SUCCESS".into()),
                last_success: parse_time("2026-01-12T09:14:03Z"),
                error: None,
            })
        );
        assert!(!r.is_unhealthy());
        assert_eq!(r.raw, v);
        assert_eq!(
            text(endpoint_cell, &r).0,
            "replica.db.example.com/app_production"
        );
        assert_eq!(text(health_cell, &r), ("✓ HEALTHY".into(), CellTone::Good));
        assert_eq!(
            text(sync_cell, &r),
            ("✓ SUCCESS · 2h ago".into(), CellTone::Good)
        );
        assert_eq!(text(sync_error_cell, &r), ("-".into(), CellTone::Dim));
    }

    #[test]
    fn parses_a_failing_snowflake_source() {
        let r = parse(&failing_snowflake());
        assert_eq!(
            r.health,
            Health::Unhealthy("UNHEALTHY, last healthy 2026-01-09 07:00 UTC".into())
        );
        assert!(r.is_unhealthy());
        assert_eq!(
            text(health_cell, &r),
            ("✗ UNHEALTHY · healthy 3d ago".into(), CellTone::Bad)
        );
        assert_eq!(
            text(sync_cell, &r),
            ("✗ FAILED · never ok".into(), CellTone::Bad)
        );
        assert_eq!(
            text(sync_error_cell, &r),
            ("JWT token is invalid.".into(), CellTone::Bad)
        );
        assert_eq!(
            text(endpoint_cell, &r).0,
            "xy12345.us-east-1/app_production"
        );
    }

    #[test]
    fn sync_states_and_the_unhealthy_filter() {
        // A failed sync of a healthy connection, with the age of the last success.
        let r = parse(&with(
            sample(),
            json!({"lastSyncStatus":"FAILED","syncErrorMessage":"permission denied for schema finance",
                "lastSuccessfulSyncAt":"2026-01-08T12:00:00Z"}),
        ));
        assert!(r.is_unhealthy());
        assert_eq!(text(sync_cell, &r).0, "✗ FAILED · ok 4d ago");

        // Never synced, spelled either way: no status, counted as unhealthy.
        for status in [json!("NEVER_SYNCED"), Value::Null] {
            let r = parse(&with(
                sample(),
                json!({"lastSyncStatus": status, "lastSuccessfulSyncAt": null,
                    "hasCompletedFirstSync": false}),
            ));
            assert_eq!(r.sync.as_ref().and_then(|s| s.status.clone()), None);
            assert!(r.is_unhealthy(), "{status}");
            assert_eq!(
                text(sync_cell, &r),
                ("○ never synced".into(), CellTone::Warn)
            );
        }
        // A missing key is read like null.
        let mut v = sample();
        if let Value::Object(m) = &mut v {
            m.remove("lastSyncStatus");
            m.remove("lastHealthStatus");
        }
        let r = parse(&v);
        assert!(r.is_unhealthy());
        assert_eq!(r.health, Health::Unknown);
        assert_eq!(text(sync_cell, &r).0, "? no status · ok 2h ago");
        assert_eq!(
            text(health_cell, &r),
            ("? not checked".into(), CellTone::Dim)
        );

        // In progress and unknown statuses are kept verbatim and are not failures.
        for (status, shown) in [
            ("PENDING", "… PENDING · ok 2h ago"),
            ("IN_PROGRESS", "… IN_PROGRESS · ok 2h ago"),
            ("PAUSED", "? PAUSED · ok 2h ago"),
        ] {
            let r = parse(&with(sample(), json!({ "lastSyncStatus": status })));
            assert_eq!(
                r.sync.as_ref().and_then(|s| s.status.as_deref()),
                Some(status)
            );
            assert!(!r.is_unhealthy(), "{status}");
            assert_eq!(text(sync_cell, &r), (shown.to_string(), CellTone::Warn));
        }
        // A leftover error after a later success is shown, but not as a failure.
        let r = parse(&with(sample(), json!({"syncErrorMessage":"old failure"})));
        assert_eq!(
            text(sync_error_cell, &r),
            ("old failure".into(), CellTone::Warn)
        );
    }

    #[test]
    fn unknown_and_missing_health() {
        let r = parse(&with(sample(), json!({"lastHealthStatus":"DEGRADED"})));
        assert_eq!(r.health, Health::Unknown);
        assert_eq!(text(health_cell, &r), ("? DEGRADED".into(), CellTone::Warn));
        let r = parse(&with(
            sample(),
            json!({"lastHealthStatus":"UNHEALTHY","lastHealthyAt":null}),
        ));
        assert_eq!(
            r.health,
            Health::Unhealthy("UNHEALTHY, never healthy".into())
        );
        assert_eq!(text(health_cell, &r).0, "✗ UNHEALTHY · never healthy");
    }

    #[test]
    fn endpoints_follow_the_dialect_fields() {
        let base = json!({"id":"x"});
        let cases = [
            (json!({"host":"h","databaseName":"db"}), Some("h/db")),
            (
                json!({"bigQueryProjectId":"proj","databaseName":"ds"}),
                Some("proj/ds"),
            ),
            (
                json!({"spannerInstanceId":"inst","bigQueryProjectId":"proj","databaseName":"db"}),
                Some("inst/db"),
            ),
            (
                json!({"athenaWorkgroup":"primary","databaseName":"lake"}),
                Some("athena:primary/lake"),
            ),
            (json!({"host":"us.posthog.com"}), Some("us.posthog.com")),
            (json!({"databaseName":"only"}), Some("only")),
            (json!({"host":"  ","databaseName":null}), None),
        ];
        for (fields, want) in cases {
            let v = with(base.clone(), fields.clone());
            assert_eq!(endpoint(&v).as_deref(), want, "{fields}");
        }
        let r = parse(&json!({"id":"w","isBasedashWarehouse":true}));
        assert_eq!(
            text(endpoint_cell, &r),
            ("(Basedash warehouse)".into(), CellTone::Dim)
        );
    }

    #[test]
    fn lenient_parsing_of_sparse_objects() {
        let r = parse(&json!({"id":"only-id"}));
        assert_eq!(r.name, "only-id");
        assert_eq!(r.health, Health::Unknown);
        assert!(r.type_.is_none() && r.created.is_none());
        assert!(r.sync.is_some(), "sync is always present for Basedash");
        let r = parse(&json!({"id": 42, "createdAt": "yesterday", "displayName": "  "}));
        assert_eq!(
            (r.id.as_str(), r.name.as_str(), r.created),
            ("42", "42", None)
        );
        assert!(parse_data_source("bd", &org(), &json!({"displayName":"x"})).is_none());
        assert!(parse_data_source("bd", &org(), &json!("x")).is_none());
        assert_eq!(
            parse_organization(&json!({"id":"org_1","slug":"acme"})),
            Some(OrgRef {
                id: "org_1".into(),
                name: "acme".into()
            })
        );
        assert_eq!(parse_organization(&json!({"name":"no id"})), None);
    }

    #[test]
    fn sort_keys_put_problems_first_and_order_by_time() {
        let healthy = parse(&sample());
        let unhealthy_old = parse(&with(
            sample(),
            json!({"lastHealthStatus":"UNHEALTHY","lastHealthyAt":"2025-01-01T00:00:00Z"}),
        ));
        let unhealthy_new = parse(&failing_snowflake());
        let mut rows = [&healthy, &unhealthy_new, &unhealthy_old];
        rows.sort_by_key(|r| health_key(r));
        assert_eq!(
            rows.map(|r| r.health.clone()),
            [
                unhealthy_old.health.clone(),
                unhealthy_new.health.clone(),
                Health::Healthy
            ]
        );

        let never = parse(&with(
            sample(),
            json!({"lastSyncStatus":"NEVER_SYNCED","lastSuccessfulSyncAt":null}),
        ));
        let pending = parse(&with(sample(), json!({"lastSyncStatus":"PENDING"})));
        let synced_long_ago = parse(&with(
            sample(),
            json!({"lastSuccessfulSyncAt":"2025-06-01T00:00:00Z"}),
        ));
        let mut rows = [&healthy, &pending, &synced_long_ago, &never];
        rows.sort_by_key(|r| sync_key(r));
        let order: Vec<String> = rows.iter().map(|r| text(sync_cell, r).0).collect();
        assert_eq!(
            order,
            [
                "○ never synced",
                "… PENDING · ok 2h ago",
                "✓ SUCCESS · 225d ago",
                "✓ SUCCESS · 2h ago"
            ]
        );
    }

    #[test]
    fn spec_matches_the_product() {
        let titles: Vec<&str> = (SPEC.columns)(Kind::Datasources)
            .iter()
            .map(|c| c.title)
            .collect();
        assert_eq!(
            titles,
            [
                "Name",
                "Organization",
                "Health",
                "Sync",
                "Sync error",
                "Dialect",
                "Host / Database"
            ]
        );
        assert!((SPEC.columns)(Kind::Connections).is_empty());
        assert_eq!(SPEC.kinds, &[Kind::Datasources]);
        assert!(SPEC.soft_delete && SPEC.supported && !SPEC.can_create && !SPEC.can_test);
    }

    #[test]
    fn pages_and_envelopes_are_checked() {
        let p = parse_page(
            200,
            "/x",
            json!({"data":[{"id":"a"}],"pagination":{"nextCursor":"a","hasMore":true}}),
        )
        .unwrap();
        assert_eq!(
            (p.items.len(), p.next_cursor.as_deref(), p.has_more),
            (1, Some("a"), true)
        );
        // No pagination: the last page.
        let p = parse_page(200, "/x", json!({"data":[]})).unwrap();
        assert!(!p.has_more && p.next_cursor.is_none());
        let e = parse_page(200, "/x", json!([{"id":"a"}])).err().unwrap();
        assert!(matches!(e, ApiError::Decode { status: 200, .. }), "{e:?}");
        assert!(e.to_string().contains("'data' array"), "{e}");
        let e = data_object(200, "GET /y", json!({"data":[1]})).unwrap_err();
        assert!(e.to_string().contains("GET /y"), "{e}");
    }

    #[test]
    fn reads_retry_transient_errors_after_the_servers_wait() {
        let http = |status: u16, code: Option<&str>, retry: Option<u64>| ApiError::Http {
            vendor: V,
            status,
            code: code.map(str::to_string),
            message: "m".into(),
            ticket: None,
            retry_after_ms: retry,
        };
        let rate_limited = http(429, Some("RateLimitExceeded"), Some(1200));
        let w = READS.wait_before_retry(&rate_limited, 0).unwrap();
        assert!(w >= Duration::from_millis(1200) && w <= Duration::from_millis(1500));
        assert!(READS.wait_before_retry(&rate_limited, 2).is_some());
        assert_eq!(READS.wait_before_retry(&rate_limited, 3), None);
        assert!(READS.wait_before_retry(&http(502, None, None), 0).is_some());
        assert_eq!(
            READS.wait_before_retry(&http(404, Some("NotFound"), None), 0),
            None
        );
        assert_eq!(
            READS.wait_before_retry(&http(401, Some("Unauthorized"), None), 0),
            None
        );
        assert!(is_route_missing(&http(404, None, None)));
        assert!(!is_route_missing(&http(404, Some("NotFound"), None)));
        let e = with_note(http(404, Some("NotFound"), None), "more");
        assert_eq!(e.reason(), "m (more)");
    }

    #[tokio::test]
    async fn read_only_delete_is_refused_before_any_request() {
        // Nothing listens on port 9: a request would be a transport error instead.
        let mut s = settings("http://127.0.0.1:9");
        s.read_only = true;
        let c = BasedashClient::new(s).unwrap();
        let target = Ref {
            kind: Kind::Datasources,
            id: "cm1".into(),
            name: "x".into(),
        };
        let err = c.delete(target).await.unwrap_err();
        assert!(matches!(err, ApiError::ReadOnly { .. }), "{err:?}");
        assert!(
            err.to_string()
                .contains("DELETE /api/public/organizations/"),
            "{err}"
        );
        let err = c.create(Kind::Datasources, json!({})).await.unwrap_err();
        assert!(matches!(err, ApiError::Setup { .. }), "{err:?}");
        let err = c.test_connection("cm1".into()).await.unwrap_err();
        assert!(matches!(err, ApiError::Setup { .. }), "{err:?}");
        let other = Ref {
            kind: Kind::Logins,
            id: "L".into(),
            name: "l".into(),
        };
        assert!(c.get(other).await.is_err());
        c.logout().await;
    }

    #[test]
    fn verify_answers_are_read_tolerantly_and_bodies_carry_no_secret() {
        use crate::vendors::{CheckKind, HealthCheck};
        let r = |b: &str| read_verify(200, b.as_bytes());
        assert_eq!(
            r(r#"{"data":{"success":true}}"#),
            Ok(HealthCheck::Passed {
                check: CheckKind::Verify,
                detail: None
            })
        );
        match r(r#"{"data":{"success":false,"fieldErrors":{"port":"Incorrect port"}}}"#) {
            Ok(HealthCheck::Failed { reason, .. }) => assert_eq!(reason, "port: Incorrect port"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            r(r#"{"data":{"success":false}}"#),
            Ok(HealthCheck::Failed { .. })
        ));
        for bad in [
            "",
            "<html>",
            "[]",
            r#"{"data":[]}"#,
            r#"{"data":{"success":"yes"}}"#,
        ] {
            assert!(matches!(r(bad), Err(ApiError::Decode { .. })), "{bad}");
        }
        let mut v = sample();
        v["password"] = json!("hunter2");
        let body = verify_body(&v);
        assert_eq!(body["host"], "replica.db.example.com");
        assert_eq!(body["dialect"], "POSTGRES");
        for absent in [
            "password",
            "displayName",
            "id",
            "bigQueryProjectId",
            "lastHealthStatus",
        ] {
            assert!(body.get(absent).is_none(), "{absent}");
        }
    }
}
