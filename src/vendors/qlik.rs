//! Qlik Cloud data-connections client: bearer API key or OAuth client credentials
//! (`qlik_oauth`), cursor-paged lists followed through
//! `links.next.href` (never leaving the configured tenant), space and owner names, get by id
//! or by name within a space, single deletes and the admin-only bulk `actions/delete` (207
//! per-item results, single deletes when it answers 403), retries of reads on 429 after
//! `retry-after`, and writes paced under the tenant's tier-2 rate limit. Impact analysis of a
//! connection: lineage `overview`, paced on its own 20/min limiter and cached per connection,
//! with the apps of its space as possible users when lineage cannot answer (`qlik_impact`).

use super::http::{
    decode_error, path_segment, sensitive_value, HttpCore, HttpRequest, HttpResponse,
};
use super::qlik_impact::{self as qi, ImpactCache, LineageFailure};
use super::qlik_oauth::{self as oauth, OAuthClient};
use super::ratelimit::RateLimiter;
use super::retry::RetryPolicy;
use super::{ApiError, ClientSettings, DeleteOutcome, Snapshot, VendorApi, VendorSpec};
use crate::impact::{Dependent, Impact, ImpactTarget};
use crate::model::{
    cells, format_date, link_references, parse_time, Cell, CellCtx, CellTone, ColWidth, ColumnDef,
    Kind, Ref, Resource, VendorId,
};
use futures::future::BoxFuture;
use futures::stream::{self, StreamExt};
use reqwest::header::{HeaderMap, AUTHORIZATION};
use reqwest::{Method, Url};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const V: VendorId = VendorId::Qlik;
/// Page size of every list request (the API's maximum).
const PAGE_LIMIT: usize = 100;
/// Connections per `actions/delete` request. The API documents no maximum; this keeps one
/// request (and one audit chunk) small and equal to the list page size.
const BULK_LIMIT: usize = 100;
/// Retries of a GET after the first attempt (see `retry`). A read asked to wait longer
/// than two minutes is not retried: the 429 is reported instead (Qlik's rate windows are a
/// minute long, so its `retry-after` may exceed the usual one-minute cap).
const READS: RetryPolicy = RetryPolicy::reads(3).max_wait(Duration::from_secs(120));
/// A server whose next links never end is cut off after this many pages.
const MAX_PAGES: usize = 100_000;
/// Owner names looked up one by one at most per load; the rest are shown by id.
const MAX_USER_LOOKUPS: usize = 500;
/// Spaces looked up one by one (not in the list) at most per load.
const MAX_SPACE_LOOKUPS: usize = 100;
/// Parallel name lookups.
const LOOKUP_CONCURRENCY: usize = 4;
/// Parallel single deletes when the bulk endpoint is refused.
const SINGLE_DELETE_CONCURRENCY: usize = 4;
/// Qlik's tier 2 (writes) limit per user, requests per minute.
const DEFAULT_WRITES_PER_MINUTE: u32 = 100;
/// How long writes pause after a 429 that gave no `retry-after`.
const DEFAULT_WRITE_BLOCK: Duration = Duration::from_secs(5);
/// The longest pause of writes after a 429, whatever the server asks for.
const MAX_WRITE_BLOCK: Duration = Duration::from_secs(300);
/// Container of connections that live in their owner's personal space.
pub const PERSONAL_SPACE: &str = "Personal";
const DATAFILES_TYPE: &str = "qix-datafiles.exe";

// ---------------------------------------------------------------------------------------------
// Static facts
// ---------------------------------------------------------------------------------------------

fn space_cell(r: &Resource, _: &CellCtx) -> Cell {
    match r.container.as_deref() {
        Some(PERSONAL_SPACE) => Cell::tone(PERSONAL_SPACE, CellTone::Dim),
        Some(s) if !s.is_empty() => Cell::plain(s),
        _ => Cell::tone("-", CellTone::Dim),
    }
}

fn deletable_cell(r: &Resource, _: &CellCtx) -> Cell {
    if is_datafiles(&r.raw.value()) {
        return Cell::tone("built-in", CellTone::Dim);
    }
    match r.deletable {
        Some(true) => Cell::tone("✓ yes", CellTone::Good),
        Some(false) => Cell::tone("✗ no", CellTone::Warn),
        None => Cell::tone("?", CellTone::Dim),
    }
}

fn deletable_key(r: &Resource) -> String {
    match r.deletable {
        Some(true) => "2".into(),
        Some(false) => "0".into(),
        None => "1".into(),
    }
}

/// "disabled" for a connection whose datasource is disabled on the tenant; empty otherwise
/// (Qlik has no health to show: there is no test endpoint).
fn status_cell(r: &Resource, _: &CellCtx) -> Cell {
    if r.disabled {
        Cell::tone("⊘ disabled", CellTone::Warn)
    } else {
        Cell::plain("")
    }
}

fn status_key(r: &Resource) -> String {
    if r.disabled { "0" } else { "1" }.into()
}

fn created_date(r: &Resource, _: &CellCtx) -> Cell {
    match r.created {
        Some(t) => Cell::plain(format_date(t)),
        None => Cell::tone("-", CellTone::Dim),
    }
}

static CONNECTION_COLUMNS: [ColumnDef; 8] = [
    ColumnDef {
        title: "Name",
        width: ColWidth::Names(20),
        cell: cells::name,
        sort_key: None,
    },
    ColumnDef {
        title: "Datasource",
        width: ColWidth::Fill(12),
        cell: cells::type_,
        sort_key: None,
    },
    ColumnDef {
        title: "Space",
        width: ColWidth::Fill(12),
        cell: space_cell,
        sort_key: None,
    },
    ColumnDef {
        title: "Owner",
        width: ColWidth::Fixed(14),
        cell: cells::owner,
        sort_key: None,
    },
    ColumnDef {
        title: "Status",
        width: ColWidth::Fixed(10),
        cell: status_cell,
        sort_key: Some(status_key),
    },
    ColumnDef {
        title: "Delete?",
        width: ColWidth::Fixed(8),
        cell: deletable_cell,
        sort_key: Some(deletable_key),
    },
    ColumnDef {
        title: "Created",
        width: ColWidth::Fixed(10),
        cell: created_date,
        sort_key: Some(cells::created_key),
    },
    ColumnDef {
        title: "Updated",
        width: ColWidth::Fixed(17),
        cell: cells::updated,
        sort_key: Some(cells::updated_key),
    },
];

fn columns(kind: Kind) -> &'static [ColumnDef] {
    match kind {
        Kind::Connections => &CONNECTION_COLUMNS,
        _ => &[],
    }
}

pub static SPEC: VendorSpec = VendorSpec {
    vendor: VendorId::Qlik,
    kinds: &[Kind::Connections],
    orphan_kinds: &[],
    delete_order: &[Kind::Connections],
    columns,
    can_create: false,
    can_test: false,
    health_checks: &[],
    soft_delete: false,
    impact_container: "space",
    impact_per_minute: Some(crate::vendors::qlik_impact::LINEAGE_REQUESTS_PER_MINUTE),
    supported: true,
    edit_fields,
    update_tests_credentials: false,
};

use super::change::{Change, EditField, FieldValue};

const CONNECTION_EDIT: &[EditField] = &[
    EditField::text("name", "Name", "/qName").help("unique in the connection's space"),
    EditField::text("username", "User name", "/qUsername").verified(),
    EditField::secret("password", "Password").help(
        "not tested by Qlik Cloud: a wrong one shows at the next reload of the apps that use it",
    ),
    EditField::text(
        "connection_string",
        "Connection string",
        "/qConnectStatement",
    )
    .verified()
    .help("needs the password in the same change; detaches separate credentials"),
    EditField::text("owner", "Owner", "/user").help(
        "a user id, name or email (tenant admins only); the credentials are NOT transferred: \
         the new owner must enter their own before the next reload",
    )
    .note(
        "Qlik Cloud does not transfer a connection's credentials with its owner: the new owner \
         must enter their own before the next reload",
    ),
    EditField::text("space", "Space", "/space").help(
        "a space name or id, or 'personal' for the owner's personal space (tenant admins only); \
         apps that load from it as 'Space:Name' may break after a move",
    )
    .note("apps that load from a moved connection as 'Space:Name' may break after the move"),
];

/// The fields that go through `POST /data-connections/actions/update`, not the PATCH.
const ACTION_FIELDS: [&str; 2] = ["owner", "space"];
const UPDATE_ACTION: &str = "/data-connections/actions/update";

/// What Qlik Cloud lets a client change on a data connection (`PATCH` with JSON-Patch).
fn edit_fields(kind: Kind) -> &'static [EditField] {
    match kind {
        Kind::Connections => CONNECTION_EDIT,
        _ => &[],
    }
}

/// The JSON-Patch array of a change: one `replace` per field, under Qlik's rules (a new
/// connection string needs the password in the same request).
fn patch_operations(change: &Change) -> Result<Vec<Value>, String> {
    if change.get("connection_string").is_some() && change.get("password").is_none() {
        return Err(
            "Qlik Cloud refuses a new connection string without the credentials: \
             give the password in the same change (--secret-env password=VAR), and the \
             username if it changes too"
                .into(),
        );
    }
    let mut ops = Vec::new();
    for c in &change.fields {
        if ACTION_FIELDS.contains(&c.field.as_str()) {
            continue;
        }
        let path = match c.field.as_str() {
            "name" => "/qName",
            "username" => "/qUsername",
            "password" => "/qPassword",
            "connection_string" => "/qConnectStatement",
            f => {
                return Err(format!(
                    "Qlik Cloud data connections have no field '{f}' to change"
                ))
            }
        };
        let value = match &c.value {
            FieldValue::Unset => return Err(format!("'{}' cannot be cleared", c.field)),
            v => v.expose().unwrap_or_default().to_string(),
        };
        ops.push(json!({"op": "replace", "path": path, "value": value}));
    }
    Ok(ops)
}

/// Qlik Cloud in the vendor registry.
pub static VENDOR: super::entry::Vendor = super::Vendor {
    spec: &SPEC,
    config: super::entry::ConfigSpec {
        secret: "token",
        username: false,
        keys: &[
            super::entry::ConfigKey {
                name: "space_id",
                value: super::entry::KeyValue::Text,
                shown_default: None,
            },
            // OAuth machine-to-machine instead of an API key (`token`).
            super::entry::ConfigKey {
                name: "client_id",
                value: super::entry::KeyValue::ClientId {
                    secret: "client_secret",
                },
                shown_default: None,
            },
            super::entry::ConfigKey {
                name: "client_secret",
                value: super::entry::KeyValue::Secret,
                shown_default: None,
            },
        ],
        aliases: &[
            ("space", "space_id"),
            ("oauth_client_id", "client_id"),
            ("clientid", "client_id"),
        ],
        // With OAuth client credentials there is no API key.
        secret_optional: |options| options.text("client_id").is_some(),
    },
    connect: |s| Ok(std::sync::Arc::new(QlikClient::new(s)?)),
    create_form: |_, _| None,
    decode_error: super::http::decode_error,
    error_example: super::entry::ErrorExample {
        status: 400,
        body: r#"{"errors":[{"code":"DCERROR-0010","title":"Bad or invalid request","detail":"Field xxx is missing in the request","status":400}]}"#,
        code: Some("DCERROR-0010"),
        message: "Bad or invalid request: Field xxx is missing in the request",
    },
    #[cfg(feature = "sim")]
    sim: super::entry::SimSpec {
        start: crate::sim::start_running!(qlik),
        demo: super::entry::DemoLogin {
            profile: "demo-qlik",
            username: None,
            secret: crate::sim::qlik::DEMO_TOKEN,
            secrets: &[],
        },
    },
};

/// Normalise a tenant URL like `@qlik/api` does: a bare host gets `https://`; the query,
/// anything from the first `/api` path segment on and trailing `/` are cut.
pub fn normalize_base_url(raw: &str) -> Result<String, String> {
    let s = raw.trim();
    if s.is_empty() {
        return Err("base_url is empty".into());
    }
    let lower = s.to_ascii_lowercase();
    let with_scheme = if lower.starts_with("http://") || lower.starts_with("https://") {
        s.to_string()
    } else if s.contains("://") {
        return Err(format!(
            "base_url '{s}' must start with http:// or https://"
        ));
    } else {
        format!("https://{s}")
    };
    let mut url =
        Url::parse(&with_scheme).map_err(|e| format!("base_url '{s}' is not a valid URL: {e}"))?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("base_url '{s}' has no host"));
    }
    url.set_query(None);
    url.set_fragment(None);
    let path = url.path().to_string();
    let mut kept: Vec<&str> = Vec::new();
    for seg in path.split('/').filter(|p| !p.is_empty()) {
        if seg.eq_ignore_ascii_case("api") {
            break;
        }
        kept.push(seg);
    }
    let origin = url.origin().ascii_serialization();
    if kept.is_empty() {
        Ok(origin)
    } else {
        Ok(format!("{origin}/{}", kept.join("/")))
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// The built-in DataFiles connection of a space (`qType` `qix-datafiles.exe`, or named
/// `DataFiles` without a `datasourceID`).
pub fn is_datafiles(v: &Value) -> bool {
    str_at(v, "/qType").is_some_and(|t| t.eq_ignore_ascii_case(DATAFILES_TYPE))
        || (str_at(v, "/qName") == Some("DataFiles") && str_at(v, "/datasourceID").is_none())
}

/// `datasourceID`; DataFiles connections have none; others fall back to the provider.
fn type_label(v: &Value) -> Option<String> {
    if is_datafiles(v) {
        return Some("DataFiles".into());
    }
    if let Some(d) = str_at(v, "/datasourceID") {
        return Some(d.to_string());
    }
    str_at(v, "/qType").map(|t| {
        t.strip_suffix(".exe")
            .or_else(|| t.strip_suffix(".EXE"))
            .unwrap_or(t)
            .to_string()
    })
}

fn privileges(v: &Value) -> Option<Vec<&str>> {
    match v.get("privileges")? {
        Value::Array(a) => Some(a.iter().filter_map(Value::as_str).collect()),
        // The spec's examples show the list as one string.
        Value::String(s) => Some(
            s.split(|c: char| c == ',' || c.is_whitespace())
                .map(|p| p.trim_matches(|c| c == '"' || c == '[' || c == ']'))
                .filter(|p| !p.is_empty())
                .collect(),
        ),
        _ => None,
    }
}

/// Space and user names known to the client.
#[derive(Debug, Default, Clone)]
struct Names {
    spaces: HashMap<String, String>,
    users: HashMap<String, String>,
    /// Ids the server said do not exist (404), with its answer: not asked again.
    missing: HashMap<(Lookup, String), String>,
}

/// One wire connection as a `Resource` (lenient: only `qID` or `id` is required).
fn parse_connection(profile: &str, v: &Value, names: &Names) -> Option<Resource> {
    let id = str_at(v, "/qID").or_else(|| str_at(v, "/id"))?;
    let name = str_at(v, "/qName").unwrap_or(id);
    let mut r = Resource::new(V, profile, Kind::Connections, id, name);
    r.type_ = type_label(v).as_deref().map(crate::model::intern);
    r.container = Some(crate::model::intern(match str_at(v, "/space") {
        Some(s) => names.spaces.get(s).map_or(s, String::as_str),
        None => PERSONAL_SPACE,
    }));
    r.owner = str_at(v, "/user")
        .or_else(|| str_at(v, "/ownerId"))
        .map(|u| crate::model::intern(names.users.get(u).map_or(u, String::as_str)));
    r.created = str_at(v, "/created")
        .or_else(|| str_at(v, "/createdAt"))
        .and_then(parse_time);
    r.updated = str_at(v, "/updated")
        .or_else(|| str_at(v, "/updatedAt"))
        .and_then(parse_time);
    r.deletable = if is_datafiles(v) {
        Some(false)
    } else {
        privileges(v).map(|p| p.contains(&"delete"))
    };
    r.raw = v.into();
    Some(r)
}

/// A space the key can see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QlikSpace {
    pub id: String,
    pub name: String,
    /// `shared`, `managed`, `data` (kept verbatim).
    pub type_: Option<String>,
}

fn parse_space(v: &Value) -> Option<QlikSpace> {
    let id = str_at(v, "/id")?;
    Some(QlikSpace {
        id: id.to_string(),
        name: str_at(v, "/name").unwrap_or(id).to_string(),
        type_: str_at(v, "/type").map(str::to_string),
    })
}

/// One entry of a list's or bulk result's `errors[]`/`error`, as a sentence.
fn entry_error(status: u16, entry: &Value) -> ApiError {
    let body = json!({ "errors": [entry] });
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    decode_error(V, status, &HeaderMap::new(), &bytes)
}

/// An integer that may arrive as a string (`"401"`).
fn status_of(v: Option<&Value>) -> Option<u16> {
    match v? {
        Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// What one item of a 207 `actions/delete` answer means.
fn bulk_item_outcome(item: &Value) -> Result<DeleteOutcome, ApiError> {
    let Some(status) = status_of(item.get("status")) else {
        return Err(ApiError::Decode {
            vendor: V,
            status: 207,
            message: "a bulk delete result has no status".into(),
        });
    };
    match status {
        200..=299 => Ok(DeleteOutcome::Deleted),
        404 => Ok(DeleteOutcome::AlreadyGone),
        _ => {
            let entry = match item.get("error") {
                Some(e @ Value::Object(_)) => e.clone(),
                Some(Value::String(s)) => json!({ "title": s }),
                _ => json!({ "title": "the bulk delete reported a failure without details" }),
            };
            Err(entry_error(status, &entry))
        }
    }
}

/// What the item of `id` in a 207 `actions/update` answer says: `Ok` for a 2xx status,
/// else the item's `error` in Qlik's words.
fn update_item_outcome(body: &Value, id: &str) -> Result<(), ApiError> {
    let item = body
        .get("data")
        .and_then(Value::as_array)
        .and_then(|items| items.iter().find(|i| str_at(i, "/id") == Some(id)))
        .ok_or_else(|| ApiError::Decode {
            vendor: V,
            status: 207,
            message: format!("the update answer has no result for connection {id}"),
        })?;
    let Some(status) = status_of(item.get("status")) else {
        return Err(ApiError::Decode {
            vendor: V,
            status: 207,
            message: format!("the update result of connection {id} has no status"),
        });
    };
    if (200..300).contains(&status) {
        return Ok(());
    }
    let entry = match item.get("error") {
        Some(e @ Value::Object(_)) => e.clone(),
        Some(Value::String(s)) => json!({ "title": s }),
        _ => json!({ "title": "the update reported a failure without details" }),
    };
    Err(entry_error(status, &entry))
}

/// Whether `s` has the shape of a Qlik user or space id (24 hex digits).
fn looks_like_qlik_id(s: &str) -> bool {
    s.len() == 24 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A value for a SCIM filter string: quotes and backslashes escaped.
fn scim_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The text value of an owner or space field of a change (never cleared, never empty).
fn action_value<'a>(change: &'a Change, field: &str) -> Result<Option<&'a str>, ApiError> {
    let setup = |message: String| ApiError::Setup { vendor: V, message };
    match change.get(field) {
        None => Ok(None),
        Some(FieldValue::Text(t)) if !t.trim().is_empty() => Ok(Some(t.trim())),
        Some(FieldValue::Text(_)) => Err(setup(format!("'{field}' cannot be empty"))),
        Some(_) => Err(setup(format!(
            "'{field}' cannot be cleared or given as a secret"
        ))),
    }
}

/// The change without the owner and space fields (what the PATCH carries).
fn patch_part(change: &Change) -> Change {
    Change {
        fields: change
            .fields
            .iter()
            .filter(|c| !ACTION_FIELDS.contains(&c.field.as_str()))
            .cloned()
            .collect(),
    }
}

/// An error of the move/transfer after the PATCH of the same change went through: says so.
fn after_patch(e: ApiError, patched: &Change) -> ApiError {
    let fields: Vec<&str> = patched.fields.iter().map(|c| c.field.as_str()).collect();
    e.append(&format!(
        "(the {} change before it was applied)",
        fields.join(", ")
    ))
}

/// Whether two URLs share scheme, host and port.
fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// The URL of the next page: the server's link verbatim when it is on the tenant's origin;
/// a relative link is resolved against the list URL; a link to another host (Qlik sometimes
/// names internal hosts) only lends its query (the cursor) to the list URL, so the API key
/// never leaves the configured tenant.
fn next_page_url(list_url: &str, href: &str) -> Result<(String, bool), String> {
    let base = Url::parse(list_url).map_err(|e| format!("invalid list URL: {e}"))?;
    let next = base
        .join(href.trim())
        .map_err(|e| format!("invalid next link '{href}': {e}"))?;
    if same_origin(&base, &next) {
        return Ok((next.to_string(), false));
    }
    let mut rebased = base;
    rebased.set_query(next.query());
    Ok((rebased.to_string(), true))
}

// ---------------------------------------------------------------------------------------------
// Write pacing
// ---------------------------------------------------------------------------------------------

/// Keeps writes under the tenant's tier-2 limit: at most `per_minute` in any 60 seconds, and
/// none while the server has blocked the tier after a 429.
#[derive(Debug)]
struct WritePacer {
    /// 0 = no pacing.
    per_minute: usize,
    sent: VecDeque<Instant>,
    blocked_until: Option<Instant>,
}

const PACING_WINDOW: Duration = Duration::from_secs(60);

impl WritePacer {
    fn new(per_minute: u32) -> WritePacer {
        WritePacer {
            per_minute: per_minute as usize,
            sent: VecDeque::new(),
            blocked_until: None,
        }
    }

    /// Take a slot at `now`, or say how long to wait for one.
    fn reserve(&mut self, now: Instant) -> Result<(), Duration> {
        if let Some(until) = self.blocked_until {
            if until > now {
                return Err(until - now);
            }
            self.blocked_until = None;
        }
        if self.per_minute == 0 {
            return Ok(());
        }
        while self
            .sent
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= PACING_WINDOW)
        {
            self.sent.pop_front();
        }
        if self.sent.len() < self.per_minute {
            self.sent.push_back(now);
            return Ok(());
        }
        let oldest = self.sent.front().copied().unwrap_or(now);
        Err((oldest + PACING_WINDOW).saturating_duration_since(now))
    }

    /// The server refused a write with 429: hold every write for `wait`.
    fn block(&mut self, now: Instant, wait: Duration) {
        let until = now + wait.min(MAX_WRITE_BLOCK);
        if self.blocked_until.is_none_or(|u| u < until) {
            self.blocked_until = Some(until);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Client
// ---------------------------------------------------------------------------------------------

/// A name looked up one by one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Lookup {
    Space,
    User,
}

/// The first page of the list without `includeDisabled`.
struct EnabledProbe {
    /// Its URL (the origin its next links keep to).
    first: String,
    ids: HashSet<String>,
    /// `meta.count`: the total the server reports.
    count: Option<usize>,
    next: Option<String>,
}

/// `qID` (or `id`) of a wire connection.
fn connection_id(v: &Value) -> Option<&str> {
    str_at(v, "/qID").or_else(|| str_at(v, "/id"))
}

/// The pages of one list, merged.
struct Listed {
    items: Vec<Value>,
    /// The `errors[]` entries of 200 answers, as sentences.
    errors: Vec<String>,
}

/// How a profile proves who it is.
enum Auth {
    /// `token`: a fixed API key.
    ApiKey(SecretString),
    /// `client_id` + `client_secret`: bearer tokens from `/oauth/token`.
    OAuth(Box<OAuthClient>),
}

/// A Qlik Cloud client of one profile. Cheap to share (`Arc`); safe to call concurrently.
pub struct QlikClient {
    http: HttpCore,
    profile: String,
    /// Normalised tenant URL + "/api/v1".
    api: String,
    auth: Auth,
    names: std::sync::Mutex<Names>,
    pacer: std::sync::Mutex<WritePacer>,
    /// Writers wait for their slot one after the other.
    pacer_turn: tokio::sync::Mutex<()>,
    /// Set once `actions/delete` answered 403: later batches go straight to single deletes.
    bulk_refused: AtomicBool,
    /// Ids of the connections the last load found disabled (listed only with
    /// `includeDisabled=true`): a connection fetched alone keeps its mark.
    disabled: std::sync::Mutex<HashSet<String>>,
    /// `space_id` of the profile: the view starts filtered to that space.
    start_space: Option<String>,
    /// Paces lineage requests (their own limit, apart from reads and writes); `None`: unpaced.
    lineage_limiter: Option<RateLimiter>,
    /// Set by a lineage 429: no lineage request leaves before this.
    lineage_blocked_until: std::sync::Mutex<Option<Instant>>,
    /// Impact answers by connection id (`qi::IMPACT_CACHE_TTL`).
    impact_cache: std::sync::Mutex<ImpactCache>,
}

impl std::fmt::Debug for QlikClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QlikClient")
            .field("profile", &self.profile)
            .field("api", &self.api)
            .field(
                "auth",
                &match &self.auth {
                    Auth::ApiKey(_) => "API key".to_owned(),
                    Auth::OAuth(o) => format!("OAuth client {}", o.client_id()),
                },
            )
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn not_connections(kind: Kind) -> ApiError {
    ApiError::Setup {
        vendor: V,
        message: format!("Qlik Cloud has no {kind}, only data connections"),
    }
}

/// Qlik's own profile settings, parsed from its config keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QlikSettings {
    /// `space_id`: the view starts filtered to this space.
    pub space_id: Option<String>,
    /// `client_id`: OAuth client credentials (with the `client_secret` secret) instead of
    /// an API key.
    pub client_id: Option<String>,
}

impl QlikSettings {
    pub fn from_options(options: &super::VendorOptions) -> QlikSettings {
        QlikSettings {
            space_id: options.text("space_id"),
            client_id: options.text("client_id"),
        }
    }
}

impl QlikClient {
    /// Build the client. No I/O.
    pub fn new(settings: ClientSettings) -> Result<Self, ApiError> {
        let setup = |message: String| ApiError::Setup { vendor: V, message };
        let base = normalize_base_url(&settings.base_url)
            .map_err(|m| setup(format!("profile '{}': {m}", settings.profile)))?;
        let own = QlikSettings::from_options(&settings.options);
        let has_key = !settings.secret.expose_secret().trim().is_empty();
        let auth = match own.client_id.as_deref() {
            Some(_) if has_key => {
                return Err(setup(format!(
                    "profile '{}' has both an API key and OAuth client credentials; use one",
                    settings.profile
                )))
            }
            Some(client_id) => {
                let secret = settings
                    .options
                    .secret("client_secret")
                    .filter(|s| !s.expose_secret().trim().is_empty())
                    .ok_or_else(|| {
                        setup(format!(
                            "profile '{}' has a client_id but no client_secret \
                             (set client_secret_env, client_secret_cmd or client_secret)",
                            settings.profile
                        ))
                    })?;
                Auth::OAuth(Box::new(OAuthClient::new(
                    &settings.profile,
                    &base,
                    client_id,
                    secret.clone(),
                )))
            }
            None if !has_key => {
                return Err(setup(format!(
                    "profile '{}' has no API key",
                    settings.profile
                )))
            }
            None => {
                // Checked now so that a key with a newline fails here, not on every call.
                sensitive_value(
                    V,
                    "API key",
                    &format!("Bearer {}", settings.secret.expose_secret()),
                )?;
                Auth::ApiKey(settings.secret.clone())
            }
        };
        let mut http_settings = settings.clone();
        http_settings.vendor = V;
        // Writes are paced by this client's own tier-2 pacer (which also honours 429s).
        http_settings.rate_limit_per_minute = None;
        // The token exchange changes nothing: allowed on a read-only profile, not audited.
        let session_calls: &[(Method, &str)] = match auth {
            Auth::OAuth(_) => &[(Method::POST, oauth::TOKEN_PATH)],
            Auth::ApiKey(_) => &[],
        };
        let http = HttpCore::new(&http_settings, session_calls, VENDOR.decode_error)?;
        Ok(QlikClient {
            start_space: own.space_id,
            http,
            profile: settings.profile,
            api: format!("{base}/api/v1"),
            auth,
            names: std::sync::Mutex::new(Names::default()),
            pacer: std::sync::Mutex::new(WritePacer::new(
                settings
                    .rate_limit_per_minute
                    .unwrap_or(DEFAULT_WRITES_PER_MINUTE),
            )),
            pacer_turn: tokio::sync::Mutex::new(()),
            bulk_refused: AtomicBool::new(false),
            disabled: std::sync::Mutex::new(HashSet::new()),
            lineage_limiter: RateLimiter::per_minute(qi::LINEAGE_REQUESTS_PER_MINUTE),
            lineage_blocked_until: std::sync::Mutex::new(None),
            impact_cache: std::sync::Mutex::new(ImpactCache::new(qi::IMPACT_CACHE_TTL)),
        })
    }

    /// Pace lineage requests at `per_minute` instead of Qlik's 20 (0: unpaced, for a
    /// tenant with a higher lineage tier, and for tests against the simulator).
    pub fn with_lineage_limit(mut self, per_minute: u32) -> Self {
        self.lineage_limiter = RateLimiter::per_minute(per_minute);
        self
    }

    /// Lineage requests per minute this client sends at most (0: unpaced).
    pub fn lineage_limit_per_minute(&self) -> u32 {
        self.lineage_limiter
            .as_ref()
            .map_or(0, RateLimiter::limit_per_minute)
    }

    /// At least how long `impact` takes for these connections: one lineage request each,
    /// under this client's lineage pace; connections answered from the cache cost nothing
    /// (see `qlik_impact::impact_eta` for the budget without a client).
    pub fn impact_eta(&self, connection_ids: &[String]) -> Duration {
        let now = Instant::now();
        let mut cache = lock(&self.impact_cache);
        let uncached = connection_ids
            .iter()
            .collect::<HashSet<_>>()
            .into_iter()
            .filter(|id| !cache.contains(id, now))
            .count();
        qi::eta_at(self.lineage_limit_per_minute(), uncached)
    }

    /// Forget every cached impact answer (after a reload, say).
    pub fn clear_impact_cache(&self) {
        lock(&self.impact_cache).clear();
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.api, path)
    }

    /// One request with the API key or the OAuth access token; any status is returned.
    /// With OAuth, a 401 fetches a new token (unless another call just did) and sends the
    /// request once more: the second answer is returned, whatever it is.
    async fn send(
        &self,
        method: Method,
        url: &str,
        body: Option<Value>,
    ) -> Result<HttpResponse, ApiError> {
        match &self.auth {
            Auth::ApiKey(key) => {
                let auth =
                    sensitive_value(V, "API key", &format!("Bearer {}", key.expose_secret()))?;
                self.send_with(method, url, body, auth).await
            }
            Auth::OAuth(client) => {
                let bearer = client.bearer(&self.http).await?;
                let resp = self
                    .send_with(method.clone(), url, body.clone(), bearer.header)
                    .await?;
                if resp.status != 401 {
                    return Ok(resp);
                }
                let fresh = client.renew(&self.http, bearer.generation).await?;
                self.send_with(method, url, body, fresh.header).await
            }
        }
    }

    async fn send_with(
        &self,
        method: Method,
        url: &str,
        body: Option<Value>,
        auth: reqwest::header::HeaderValue,
    ) -> Result<HttpResponse, ApiError> {
        let mut req = HttpRequest::new(method, url).header(AUTHORIZATION, auth);
        if let Some(b) = body {
            req = req.json(b);
        }
        self.http.send(req).await
    }

    /// A GET of an absolute URL, retried under `READS`; `Ok` only for 2xx.
    async fn get_url(&self, url: &str) -> Result<HttpResponse, ApiError> {
        self.http
            .retrying(&READS, &Method::GET, url, || async {
                self.send(Method::GET, url, None).await?.error_for_status()
            })
            .await
    }

    async fn get_json(&self, path: &str) -> Result<Value, ApiError> {
        self.get_url(&self.url(path)).await?.json(V)
    }

    /// A mutating request: refused on a read-only profile before anything else, then paced
    /// under the write limit. Any status is returned; a 429 pauses later writes.
    async fn write(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<HttpResponse, ApiError> {
        let url = self.url(path);
        self.http.check_allowed(&method, &url)?;
        self.wait_for_write_slot().await;
        let resp = self.send(method, &url, body).await?;
        if resp.status == 429 {
            let wait = resp.to_error().retry_after().unwrap_or(DEFAULT_WRITE_BLOCK);
            lock(&self.pacer).block(Instant::now(), wait);
            tracing::info!(
                profile = %self.profile,
                wait_s = wait.as_secs(),
                "Qlik: write rate limit reached; writes paused"
            );
        }
        Ok(resp)
    }

    async fn wait_for_write_slot(&self) {
        let _turn = self.pacer_turn.lock().await;
        loop {
            let wait = match lock(&self.pacer).reserve(Instant::now()) {
                Ok(()) => return,
                Err(w) => w,
            };
            tracing::debug!(profile = %self.profile, wait_ms = wait.as_millis() as u64,
                "Qlik: pacing writes");
            tokio::time::sleep(wait).await;
        }
    }

    /// Every page of a list, following `links.next.href` until it is absent.
    async fn list_all(&self, first_path: &str) -> Result<Listed, ApiError> {
        self.list_pages(first_path, None).await
    }

    /// `list_all`, sending each page of connections to `pages` as it arrives (parsed with
    /// the names known so far).
    async fn list_pages(
        &self,
        first_path: &str,
        pages: Option<&super::PageSink>,
    ) -> Result<Listed, ApiError> {
        let first = self.url(first_path);
        let mut listed = Listed {
            items: Vec::new(),
            errors: Vec::new(),
        };
        self.walk(&first, first.clone(), |items, errors| {
            if let Some(sink) = pages {
                let names = lock(&self.names).clone();
                let disabled = lock(&self.disabled).clone();
                let page: Vec<Resource> = items
                    .iter()
                    .filter_map(|v| parse_connection(&self.profile, v, &names))
                    .map(|mut r| {
                        r.disabled = disabled.contains(r.id.as_str());
                        r
                    })
                    .collect();
                let _ = sink.send(page);
            }
            listed.items.extend(items.iter().cloned());
            listed.errors.extend(errors);
            true
        })
        .await?;
        Ok(listed)
    }

    /// Follow a list from `start` (`first` is the list's first URL: the origin next links
    /// must keep to) page by page; `on_page` gets each page's `data` items and `errors[]`
    /// sentences and says whether to go on. Returns the next page's URL when it stopped
    /// early, `None` at the end of the list.
    async fn walk(
        &self,
        first: &str,
        start: String,
        mut on_page: impl FnMut(&[Value], Vec<String>) -> bool,
    ) -> Result<Option<String>, ApiError> {
        let mut url = start;
        let mut seen: HashSet<String> = HashSet::from([url.clone()]);
        let decode = |status: u16, message: String| ApiError::Decode {
            vendor: V,
            status,
            message,
        };
        loop {
            let resp = self.get_url(&url).await?;
            let body: Value = resp.json(V)?;
            let Value::Object(obj) = &body else {
                return Err(decode(
                    resp.status,
                    format!(
                        "GET {}: expected an object with a 'data' array",
                        strip(&url)
                    ),
                ));
            };
            let items: &[Value] = match obj.get("data") {
                Some(Value::Array(items)) => items,
                None | Some(Value::Null) => &[],
                Some(_) => {
                    return Err(decode(
                        resp.status,
                        format!("GET {}: 'data' is not an array", strip(&url)),
                    ))
                }
            };
            let mut errors = Vec::new();
            if let Some(Value::Array(entries)) = obj.get("errors") {
                for e in entries {
                    let status = status_of(e.get("status")).unwrap_or(resp.status);
                    errors.push(entry_error(status, e).to_string());
                }
            }
            let go_on = on_page(items, errors);
            let Some(href) = str_at(&body, "/links/next/href") else {
                return Ok(None);
            };
            let (next, rebased) = next_page_url(first, href).map_err(|m| decode(resp.status, m))?;
            if rebased {
                tracing::debug!(profile = %self.profile,
                    "Qlik: next link names another host; its cursor is followed on the tenant");
            }
            if !go_on {
                return Ok(Some(next));
            }
            if !seen.insert(next.clone()) {
                return Err(decode(
                    resp.status,
                    format!(
                        "GET {}: the next link repeats an earlier page; paging stopped",
                        strip(first)
                    ),
                ));
            }
            if seen.len() > MAX_PAGES {
                return Err(decode(
                    resp.status,
                    format!(
                        "GET {}: more than {MAX_PAGES} pages; paging stopped",
                        strip(first)
                    ),
                ));
            }
            url = next;
        }
    }

    /// The connections among `listed` (ids listed with `includeDisabled=true`, `listed_total`
    /// objects in all) that a plain list does not have: those whose datasource is disabled.
    /// A tenant with nothing disabled (the plain list's count says so) or with one page of
    /// connections costs one request.
    async fn find_disabled(
        &self,
        listed: &HashSet<String>,
        listed_total: usize,
    ) -> Result<HashSet<String>, ApiError> {
        let probe = self.enabled_probe().await?;
        self.disabled_among(probe, listed, listed_total).await
    }

    /// The first page of the list *without* `includeDisabled`: its ids, `meta.count`, and
    /// the next page.
    async fn enabled_probe(&self) -> Result<EnabledProbe, ApiError> {
        let first = self.url(&format!("/data-connections?limit={PAGE_LIMIT}"));
        let resp = self.get_url(&first).await?;
        let body: Value = resp.json(V)?;
        let count = body
            .pointer("/meta/count")
            .and_then(Value::as_u64)
            .and_then(|n| usize::try_from(n).ok());
        let ids = body
            .get("data")
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(connection_id)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let next = match str_at(&body, "/links/next/href") {
            Some(href) => Some(
                next_page_url(&first, href)
                    .map_err(|message| ApiError::Decode {
                        vendor: V,
                        status: resp.status,
                        message,
                    })?
                    .0,
            ),
            None => None,
        };
        Ok(EnabledProbe {
            first,
            ids,
            count,
            next,
        })
    }

    /// Which of `listed` (ids of the list with `includeDisabled=true`, DataFiles left out)
    /// the list without it does not have: the connections whose datasource is disabled. Only
    /// ids are kept; the rest of the plain list is walked only when the probe's count says
    /// something is missing.
    async fn disabled_among(
        &self,
        probe: EnabledProbe,
        listed: &HashSet<String>,
        listed_total: usize,
    ) -> Result<HashSet<String>, ApiError> {
        let EnabledProbe {
            first,
            mut ids,
            count,
            next,
        } = probe;
        if let Some(next) = next {
            if count.is_some_and(|n| n >= listed_total) {
                return Ok(HashSet::new());
            }
            self.walk(&first, next, |items, _| {
                ids.extend(items.iter().filter_map(connection_id).map(str::to_string));
                true
            })
            .await?;
        }
        Ok(listed
            .iter()
            .filter(|id| !ids.contains(*id))
            .cloned()
            .collect())
    }

    /// Every space the key can see (personal spaces are not listed by Qlik).
    pub async fn spaces(&self) -> Result<Vec<QlikSpace>, ApiError> {
        let listed = self
            .list_all(&format!("/spaces?limit={PAGE_LIMIT}"))
            .await?;
        Ok(listed.items.iter().filter_map(parse_space).collect())
    }

    /// Look a connection up by name: in `space_id`, or in the caller's personal space.
    pub async fn get_by_name(
        &self,
        space_id: Option<&str>,
        name: &str,
    ) -> Result<Resource, ApiError> {
        let mut path = format!(
            "/data-connections/{}?type=connectionname",
            path_segment(name)
        );
        if let Some(s) = space_id.map(str::trim).filter(|s| !s.is_empty()) {
            path.push_str("&spaceId=");
            path.push_str(&path_segment(s));
        }
        let resp = self.get_url(&self.url(&path)).await?;
        self.resource_from(&resp).await
    }

    /// Parse a one-object answer, resolving its space and owner names as well as possible.
    async fn resource_from(&self, resp: &HttpResponse) -> Result<Resource, ApiError> {
        let v: Value = resp.json(V)?;
        if str_at(&v, "/qID").or_else(|| str_at(&v, "/id")).is_none() {
            let message = match str_at(&v, "/authUrl") {
                Some(_) => "the server answered with an authorization URL, not a connection".into(),
                None => "the data connection has no qID".into(),
            };
            return Err(ApiError::Decode {
                vendor: V,
                status: resp.status,
                message,
            });
        }
        self.learn_names(
            str_at(&v, "/space")
                .into_iter()
                .map(str::to_string)
                .collect(),
            str_at(&v, "/user")
                .into_iter()
                .map(str::to_string)
                .collect(),
        )
        .await;
        let names = lock(&self.names).clone();
        let mut r =
            parse_connection(&self.profile, &v, &names).ok_or_else(|| ApiError::Decode {
                vendor: V,
                status: resp.status,
                message: "the data connection has no qID".into(),
            })?;
        r.disabled = lock(&self.disabled).contains(r.id.as_str());
        Ok(r)
    }

    /// Look up the names of spaces and users not known yet, without failing. Returns the
    /// reasons of this round's failures by (what, id); ids that do not exist are remembered.
    async fn learn_names(
        &self,
        space_ids: Vec<String>,
        user_ids: Vec<String>,
    ) -> HashMap<(Lookup, String), String> {
        let (spaces, users): (Vec<String>, Vec<String>) = {
            let names = lock(&self.names);
            let unknown = |what: Lookup, ids: Vec<String>, max: usize| -> Vec<String> {
                ids.into_iter()
                    .filter(|id| {
                        let known = match what {
                            Lookup::Space => names.spaces.contains_key(id),
                            Lookup::User => names.users.contains_key(id),
                        };
                        !known && !names.missing.contains_key(&(what, id.clone()))
                    })
                    .collect::<HashSet<_>>()
                    .into_iter()
                    .take(max)
                    .collect()
            };
            (
                unknown(Lookup::Space, space_ids, MAX_SPACE_LOOKUPS),
                unknown(Lookup::User, user_ids, MAX_USER_LOOKUPS),
            )
        };
        let lookups: Vec<(Lookup, String)> = spaces
            .into_iter()
            .map(|id| (Lookup::Space, id))
            .chain(users.into_iter().map(|id| (Lookup::User, id)))
            .collect();
        let results: Vec<(Lookup, String, Result<Value, ApiError>)> = stream::iter(lookups)
            .map(|(what, id)| async move {
                let path = match what {
                    Lookup::Space => format!("/spaces/{}", path_segment(&id)),
                    Lookup::User => format!("/users/{}", path_segment(&id)),
                };
                let r = self.get_json(&path).await;
                (what, id, r)
            })
            .buffer_unordered(LOOKUP_CONCURRENCY)
            .collect()
            .await;
        let mut failures = HashMap::new();
        let mut names = lock(&self.names);
        for (what, id, r) in results {
            match r {
                Ok(v) => {
                    if let Some(name) = str_at(&v, "/name") {
                        let map = match what {
                            Lookup::Space => &mut names.spaces,
                            Lookup::User => &mut names.users,
                        };
                        map.insert(id, name.to_string());
                    }
                }
                Err(e) if e.status() == Some(404) && e.code().is_some() => {
                    names.missing.insert((what, id), e.to_string());
                }
                Err(e) => {
                    failures.insert((what, id), e.to_string());
                }
            }
        }
        failures
    }

    async fn do_load(&self, pages: Option<super::PageSink>) -> Result<Snapshot, ApiError> {
        // Connections whose datasource is disabled are listed only with includeDisabled.
        let first_page = format!("/data-connections?limit={PAGE_LIMIT}&includeDisabled=true");
        let (conns, spaces, me) = tokio::join!(
            self.list_pages(&first_page, pages.as_ref()),
            self.spaces(),
            self.get_json("/users/me"),
        );
        let conns = conns?;
        let mut warnings: Vec<String> = conns
            .errors
            .iter()
            .map(|e| {
                format!(
                    "{}: a data connection could not be listed: {e}",
                    self.profile
                )
            })
            .collect();
        {
            let mut names = lock(&self.names);
            match &spaces {
                Ok(list) => {
                    for s in list {
                        names.spaces.insert(s.id.clone(), s.name.clone());
                    }
                }
                Err(e) => warnings.push(format!(
                    "{}: space names unavailable, spaces are shown by id: {e}",
                    self.profile
                )),
            }
            if let Ok(v) = &me {
                if let (Some(id), Some(name)) = (str_at(v, "/id"), str_at(v, "/name")) {
                    names.users.insert(id.to_string(), name.to_string());
                }
            }
        }

        // One object per id, first occurrence kept (a connection created while paging can
        // shift another one onto the next page).
        let mut ids = HashSet::new();
        let mut items = Vec::with_capacity(conns.items.len());
        let mut skipped = 0usize;
        for item in conns.items {
            match str_at(&item, "/qID").or_else(|| str_at(&item, "/id")) {
                Some(id) => {
                    if ids.insert(id.to_string()) {
                        items.push(item);
                    }
                }
                None => skipped += 1,
            }
        }
        if skipped > 0 {
            warnings.push(format!(
                "{}: {skipped} data connections without a qID were skipped",
                self.profile
            ));
        }
        let candidates: HashSet<String> = items
            .iter()
            .filter(|v| !is_datafiles(v))
            .filter_map(connection_id)
            .map(str::to_string)
            .collect();
        let space_ids: Vec<String> = if spaces.is_ok() {
            items
                .iter()
                .filter_map(|v| str_at(v, "/space"))
                .map(str::to_string)
                .collect()
        } else {
            Vec::new()
        };
        let user_ids: Vec<String> = items
            .iter()
            .filter_map(|v| str_at(v, "/user"))
            .map(str::to_string)
            .collect();
        // Which connections are disabled is asked once the list is complete (a list that
        // fails costs nothing more), beside the name lookups.
        let (failures, disabled) = tokio::join!(
            self.learn_names(space_ids.clone(), user_ids.clone()),
            self.find_disabled(&candidates, ids.len()),
        );
        let disabled = match disabled {
            Ok(d) => d,
            Err(e) => {
                warnings.push(format!(
                    "{}: could not tell which data connections are disabled (none is marked): {e}",
                    self.profile
                ));
                HashSet::new()
            }
        };
        *lock(&self.disabled) = disabled.clone();
        let names = lock(&self.names).clone();
        for (what, ids) in [(Lookup::Space, space_ids), (Lookup::User, user_ids)] {
            let unresolved: Vec<String> = ids
                .into_iter()
                .filter(|id| match what {
                    Lookup::Space => !names.spaces.contains_key(id),
                    Lookup::User => !names.users.contains_key(id),
                })
                .collect::<HashSet<_>>()
                .into_iter()
                .collect();
            if unresolved.is_empty() {
                continue;
            }
            let reason = unresolved
                .iter()
                .find_map(|id| {
                    let key = (what, id.clone());
                    failures.get(&key).or_else(|| names.missing.get(&key))
                })
                .cloned()
                .unwrap_or_else(|| "too many to look up one by one".into());
            let noun = match what {
                Lookup::Space => "space",
                Lookup::User => "owner",
            };
            let n = unresolved.len();
            let (plural, verb) = if n == 1 { ("", "is") } else { ("s", "are") };
            warnings.push(format!(
                "{}: {n} {noun} name{plural} could not be resolved and {verb} shown by id ({reason})",
                self.profile
            ));
        }

        let mut resources: Vec<Resource> = items
            .iter()
            .filter_map(|v| parse_connection(&self.profile, v, &names))
            .map(|mut r| {
                r.disabled = disabled.contains(r.id.as_str());
                r
            })
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

    async fn do_delete(&self, target: &Ref) -> Result<DeleteOutcome, ApiError> {
        if target.kind != Kind::Connections {
            return Err(not_connections(target.kind));
        }
        let path = format!("/data-connections/{}", path_segment(&target.id));
        let resp = self.write(Method::DELETE, &path, None).await?;
        if resp.is_success() {
            return resp.expect_delete_ack(V).map(|()| DeleteOutcome::Deleted);
        }
        let err = resp.to_error();
        // A 404 in Qlik's error format is the object; anything else (a proxy page, an empty
        // answer) may be a wrong URL and is not taken as proof the connection is gone.
        if err.status() == Some(404) && err.code().is_some() {
            tracing::info!(profile = %self.profile, id = %target.id,
                "Qlik: already gone: {err}");
            return Ok(DeleteOutcome::AlreadyGone);
        }
        Err(err)
    }

    async fn delete_singly(&self, targets: &[Ref]) -> Vec<Result<DeleteOutcome, ApiError>> {
        stream::iter(targets.to_vec())
            .map(|t| async move { self.do_delete(&t).await })
            .buffered(SINGLE_DELETE_CONCURRENCY)
            .collect()
            .await
    }

    /// One `actions/delete` request for at most `BULK_LIMIT` connections. An answer that
    /// cannot be read (the connection dropped, a 2xx that is not the 207 JSON, items missing
    /// from it) is settled connection by connection (`settle_bulk`), never reported failed as
    /// a whole: the server may have acted.
    async fn delete_chunk(&self, targets: &[Ref]) -> Vec<Result<DeleteOutcome, ApiError>> {
        if self.bulk_refused.load(Ordering::Relaxed) {
            return self.delete_singly(targets).await;
        }
        let body = json!({
            "connections": targets.iter().map(|t| json!({"id": t.id})).collect::<Vec<_>>()
        });
        let resp = match self
            .write(Method::POST, "/data-connections/actions/delete", Some(body))
            .await
        {
            Ok(r) => r,
            // The request may have reached the server before the connection failed.
            Err(e @ ApiError::Transport { .. }) => return self.settle_bulk(targets, &e).await,
            Err(e) => return targets.iter().map(|_| Err(e.clone())).collect(),
        };
        if resp.status == 403 {
            tracing::info!(profile = %self.profile, "Qlik: bulk delete refused ({}); deleting one by one",
                resp.to_error());
            self.bulk_refused.store(true, Ordering::Relaxed);
            return self.delete_singly(targets).await;
        }
        if !resp.is_success() {
            let e = resp.to_error();
            return targets.iter().map(|_| Err(e.clone())).collect();
        }
        let body: Value = match resp.json(V) {
            Ok(v) => v,
            Err(e) => return self.settle_bulk(targets, &e).await,
        };
        let mut by_id: HashMap<&str, &Value> = HashMap::new();
        if let Some(items) = body.get("data").and_then(Value::as_array) {
            for item in items {
                if let Some(id) = str_at(item, "/id") {
                    by_id.entry(id).or_insert(item);
                }
            }
        }
        let mut out: Vec<Result<DeleteOutcome, ApiError>> = targets
            .iter()
            .map(|t| match by_id.get(t.id.as_str()) {
                Some(item) => bulk_item_outcome(item),
                None => Err(ApiError::Decode {
                    vendor: V,
                    status: resp.status,
                    message: format!(
                        "the bulk delete answer has no result for connection {}",
                        t.id
                    ),
                }),
            })
            .collect();
        // Results that say nothing (no entry, no status): settled like a lost answer.
        let unread: Vec<usize> = (0..out.len())
            .filter(|&i| matches!(out[i], Err(ApiError::Decode { .. })))
            .collect();
        if !unread.is_empty() {
            let cause = out[unread[0]]
                .as_ref()
                .err()
                .cloned()
                .unwrap_or_else(|| unreadable(resp.status));
            let refs: Vec<Ref> = unread.iter().map(|&i| targets[i].clone()).collect();
            for (i, r) in unread
                .into_iter()
                .zip(self.settle_bulk(&refs, &cause).await)
            {
                out[i] = r;
            }
        }
        out
    }

    /// The answer to a bulk delete could not be read (`cause`): the server may have deleted
    /// all, some or none of `targets`. Each is looked up (reads, not writes: tier 1):
    /// - gone (404 in Qlik's format): `AlreadyGone`, as a single delete that failed
    ///   ambiguously is settled;
    /// - still there: not deleted; a transient error, so the executor retries it alone;
    /// - the lookup failed: still uncertain; a transient error too (the retry's single
    ///   DELETE settles it: 404 there means gone). Once the server is unreachable the
    ///   remaining connections are not looked up.
    async fn settle_bulk(
        &self,
        targets: &[Ref],
        cause: &ApiError,
    ) -> Vec<Result<DeleteOutcome, ApiError>> {
        tracing::info!(profile = %self.profile, count = targets.len(),
            "Qlik: the bulk delete answer could not be read ({cause}); checking each connection");
        let unreachable = AtomicBool::new(false);
        let unreachable = &unreachable;
        stream::iter(targets.to_vec())
            .map(|t| async move {
                let uncertain = |why: String| {
                    Err(ApiError::Transport {
                        vendor: V,
                        message: format!(
                            "the bulk delete answer could not be read ({}); {why}",
                            cause.reason()
                        ),
                    })
                };
                if unreachable.load(Ordering::Relaxed) {
                    return uncertain(format!(
                        "whether connection {} was deleted is not known yet",
                        t.id
                    ));
                }
                let url = self.url(&format!("/data-connections/{}", path_segment(&t.id)));
                match self.get_url(&url).await {
                    Ok(_) => uncertain(format!("connection {} still exists", t.id)),
                    Err(e) if e.status() == Some(404) && e.code().is_some() => {
                        Ok(DeleteOutcome::AlreadyGone)
                    }
                    Err(e) => {
                        if matches!(e, ApiError::Transport { .. }) {
                            unreachable.store(true, Ordering::Relaxed);
                        }
                        uncertain(format!(
                            "whether connection {} was deleted is not known ({})",
                            t.id,
                            e.reason()
                        ))
                    }
                }
            })
            .buffered(LOOKUP_CONCURRENCY)
            .collect()
            .await
    }

    async fn do_delete_batch(&self, targets: Vec<Ref>) -> Vec<Result<DeleteOutcome, ApiError>> {
        let mut out: Vec<Option<Result<DeleteOutcome, ApiError>>> =
            (0..targets.len()).map(|_| None).collect();
        let mut conns: Vec<(usize, Ref)> = Vec::with_capacity(targets.len());
        for (i, t) in targets.into_iter().enumerate() {
            if t.kind == Kind::Connections {
                conns.push((i, t));
            } else {
                out[i] = Some(Err(not_connections(t.kind)));
            }
        }
        for chunk in conns.chunks(BULK_LIMIT) {
            let refs: Vec<Ref> = chunk.iter().map(|(_, t)| t.clone()).collect();
            let results = self.delete_chunk(&refs).await;
            for ((i, _), r) in chunk.iter().zip(results) {
                out[*i] = Some(r);
            }
        }
        out.into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    Err(ApiError::Setup {
                        vendor: V,
                        message: "internal error: no delete result".into(),
                    })
                })
            })
            .collect()
    }

    /// Change a connection. Name and credentials: one `PATCH` with the change's JSON-Patch
    /// array (Qlik answers 204 without a body). Owner and space: then one
    /// `POST actions/update` (tenant admins), its 207 item checked. The owner and space are
    /// resolved (reads) before anything is written; a read-only profile sends nothing. The
    /// connection is read again at the end (a 200 PATCH carrying the object is used as is
    /// when there is no action).
    async fn do_update(&self, target: &Ref, change: &Change) -> Result<Resource, ApiError> {
        if target.kind != Kind::Connections {
            return Err(not_connections(target.kind));
        }
        let ops =
            patch_operations(change).map_err(|message| ApiError::Setup { vendor: V, message })?;
        let owner = action_value(change, "owner")?;
        let space = action_value(change, "space")?;
        let path = format!("/data-connections/{}", path_segment(&target.id));
        let acts = owner.is_some() || space.is_some();
        // Refused before any look-up leaves.
        if !ops.is_empty() {
            self.http.check_allowed(&Method::PATCH, &self.url(&path))?;
        }
        if acts {
            self.http
                .check_allowed(&Method::POST, &self.url(UPDATE_ACTION))?;
        }
        let owner_id = match owner {
            Some(o) => Some(self.resolve_owner(o).await?),
            None => None,
        };
        let space_to = match space {
            Some(s) => Some(self.resolve_space(s).await?),
            None => None,
        };
        let patched = patch_part(change);
        if !ops.is_empty() {
            let resp = self
                .write(Method::PATCH, &path, Some(Value::Array(ops)))
                .await?
                .error_for_status()?;
            if !acts && resp.status != 204 {
                if let Ok(r) = self.resource_from(&resp).await {
                    return Ok(r);
                }
            }
        }
        if acts {
            let mut item = serde_json::Map::new();
            item.insert("id".into(), json!(target.id));
            if let Some(o) = owner_id {
                item.insert("ownerId".into(), json!(o));
            }
            if let Some((id, type_)) = space_to {
                item.insert("spaceId".into(), json!(id));
                item.insert("spaceType".into(), json!(type_));
            }
            let r = self.update_action(&target.id, Value::Object(item)).await;
            if let Err(e) = r {
                return Err(if patched.is_empty() {
                    e
                } else {
                    after_patch(e, &patched)
                });
            }
        }
        let resp = self.get_url(&self.url(&path)).await?;
        self.resource_from(&resp).await
    }

    /// One item through `POST actions/update`; the item's status decides, not the 207.
    async fn update_action(&self, id: &str, item: Value) -> Result<(), ApiError> {
        let body = json!({ "connections": [item] });
        let resp = self
            .write(Method::POST, UPDATE_ACTION, Some(body))
            .await?
            .error_for_status()?;
        let v: Value = resp.json(V)?;
        update_item_outcome(&v, id)
    }

    /// A user id for an owner given as an id (24 hex digits, sent as is: the server checks
    /// it), or as a name or email looked up in the names already loaded, then through
    /// `GET /users?filter=`; exactly one user must match.
    async fn resolve_owner(&self, given: &str) -> Result<String, ApiError> {
        let setup = |message: String| ApiError::Setup { vendor: V, message };
        if looks_like_qlik_id(given) {
            return Ok(given.to_string());
        }
        let known: Vec<String> = lock(&self.names)
            .users
            .iter()
            .filter(|(_, n)| n.eq_ignore_ascii_case(given))
            .map(|(id, _)| id.clone())
            .collect();
        if known.len() == 1 {
            return Ok(known[0].clone());
        }
        let by = if given.contains('@') { "email" } else { "name" };
        let filter = format!("{by} eq {}", scim_string(given));
        let v = self
            .get_json(&format!("/users?limit=10&filter={}", path_segment(&filter)))
            .await
            .map_err(|e| {
                if e.status() == Some(404) {
                    setup(format!(
                        "owner '{given}': this tenant did not let the user be looked up by {by} \
                         ({}); give the user id",
                        e.reason()
                    ))
                } else {
                    e
                }
            })?;
        let ids: Vec<&str> = v
            .get("data")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|u| str_at(u, "/id")).collect())
            .unwrap_or_default();
        match ids.as_slice() {
            [id] => Ok((*id).to_string()),
            [] => Err(setup(format!(
                "owner '{given}': no Qlik Cloud user has this {by}; give a user id, name or email"
            ))),
            many => Err(setup(format!(
                "owner '{given}': {} users have this {by}; give the user id",
                many.len()
            ))),
        }
    }

    /// (space id, space type) for a space given as an id or a name (case ignored when only
    /// one space matches so); 'personal' is the owner's personal space (`spaceId: ""`).
    async fn resolve_space(&self, given: &str) -> Result<(String, String), ApiError> {
        let setup = |message: String| ApiError::Setup { vendor: V, message };
        if given.eq_ignore_ascii_case("personal") {
            return Ok((String::new(), "personal".into()));
        }
        let typed = |sp: QlikSpace| match sp.type_ {
            Some(t) => Ok((sp.id, t)),
            None => Err(setup(format!(
                "space '{}' has no type in Qlik's answer; it cannot be moved to",
                sp.name
            ))),
        };
        if looks_like_qlik_id(given) {
            match self
                .get_json(&format!("/spaces/{}", path_segment(given)))
                .await
            {
                Ok(v) => {
                    if let Some(sp) = parse_space(&v) {
                        return typed(sp);
                    }
                }
                Err(e) if e.status() == Some(404) => {}
                Err(e) => return Err(e),
            }
        }
        let listed = self
            .list_all(&format!(
                "/spaces?limit={PAGE_LIMIT}&name={}",
                path_segment(given)
            ))
            .await?;
        let all: Vec<QlikSpace> = listed.items.iter().filter_map(parse_space).collect();
        let exact: Vec<&QlikSpace> = all.iter().filter(|s| s.name == given).collect();
        let matching: Vec<&QlikSpace> = if exact.is_empty() {
            all.iter()
                .filter(|s| s.name.eq_ignore_ascii_case(given))
                .collect()
        } else {
            exact
        };
        match matching.as_slice() {
            [sp] => typed((*sp).clone()),
            [] => Err(setup(format!(
                "space '{given}': no space with this name or id is visible to this API key"
            ))),
            many => Err(setup(format!(
                "space '{given}': {} spaces have this name; give the space id",
                many.len()
            ))),
        }
    }

    async fn do_create(&self, kind: Kind, body: Value) -> Result<Resource, ApiError> {
        if kind != Kind::Connections {
            return Err(not_connections(kind));
        }
        let resp = self
            .write(Method::POST, "/data-connections", Some(body))
            .await?
            .error_for_status()?;
        self.resource_from(&resp).await
    }
}

// ---------------------------------------------------------------------------------------------
// Impact analysis
// ---------------------------------------------------------------------------------------------

fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}

fn rate_limited(wait: Duration) -> LineageFailure {
    LineageFailure::passing(format!(
        "lineage rate limit reached (retry after {} s)",
        wait.as_secs().max(1)
    ))
}

impl QlikClient {
    async fn do_impact(&self, target: ImpactTarget) -> Impact {
        let t = target.target;
        if t.kind != Kind::Connections {
            return Impact::unknown(
                format!(
                    "Qlik Cloud has lineage for data connections only, not {}",
                    t.kind
                ),
                now_unix(),
            );
        }
        if let Some(hit) = lock(&self.impact_cache).get(&t.id, Instant::now()) {
            tracing::debug!(profile = %self.profile, id = %t.id, "Qlik: impact from the cache");
            return hit;
        }
        let (impact, lasting) = self.search_impact(&t.id).await;
        if lasting {
            lock(&self.impact_cache).put(&t.id, Instant::now(), impact.clone());
        }
        impact
    }

    /// The answer for one connection and whether it may be cached.
    async fn search_impact(&self, id: &str) -> (Impact, bool) {
        let at = now_unix();
        let path = format!("/data-connections/{}", path_segment(id));
        let conn = match self.get_json(&path).await {
            Ok(v) => v,
            Err(e) => {
                let why = if e.status() == Some(404) && e.code().is_some() {
                    "the connection no longer exists".to_string()
                } else {
                    format!("the connection could not be read: {e}")
                };
                return (Impact::unknown(why, at), false);
            }
        };
        let lineage = match str_at(&conn, "/qri") {
            Some(qri) => self.lineage_overview(qri).await,
            None if is_datafiles(&conn) => Err(LineageFailure::lasting(
                "the built-in DataFiles connection has no lineage id (QRI)",
            )),
            None => Err(LineageFailure::lasting(
                "the connection has no lineage id (QRI)",
            )),
        };
        let space = str_at(&conn, "/space").map(str::to_string);
        match lineage {
            Ok(deps) if deps.is_empty() => (Impact::none(at), true),
            Ok(deps) => (Impact::found(self.label_apps(deps, space).await, at), true),
            Err(fail) => {
                let (impact, listed) = self.possible_users(&conn, space, &fail.why, at).await;
                (impact, fail.lasting && listed)
            }
        }
    }

    /// Wait out a lineage block left by a 429, if it fits in the budget (`waited` so far).
    async fn wait_lineage_block(&self, waited: &mut Duration) -> Result<(), LineageFailure> {
        let blocked = lock(&self.lineage_blocked_until)
            .map(|until| until.saturating_duration_since(Instant::now()))
            .filter(|d| !d.is_zero());
        if let Some(wait) = blocked {
            if *waited + wait > qi::LINEAGE_MAX_WAIT {
                return Err(rate_limited(wait));
            }
            tokio::time::sleep(wait).await;
            *waited += wait;
        }
        Ok(())
    }

    /// The lineage `overview` of `qri`: its dependents, or why there are none to tell.
    async fn lineage_overview(&self, qri: &str) -> Result<Vec<Dependent>, LineageFailure> {
        let url = self.url(&format!(
            "/lineage-graphs/impact/{}/overview?down=-1",
            path_segment(qri)
        ));
        let unreadable =
            |m: String| LineageFailure::passing(format!("lineage answer unreadable: {m}"));
        let mut waited = Duration::ZERO;
        let mut attempt = 0u32;
        loop {
            // A 429 (this connection's or another's) holds every lineage request.
            self.wait_lineage_block(&mut waited).await?;
            if let Some(l) = &self.lineage_limiter {
                l.acquire().await;
            }
            let failure = match self.send(Method::GET, &url, None).await {
                Ok(resp) if resp.is_success() => {
                    let body: Value = resp.json(V).map_err(|e| unreadable(e.reason()))?;
                    let nodes = qi::parse_overview(&body).map_err(unreadable)?;
                    return Ok(qi::graph_dependents(qri, &nodes));
                }
                Ok(resp) => resp.to_error(),
                Err(e) => e,
            };
            let out_of_tries = attempt >= qi::LINEAGE_RETRIES;
            match failure.status() {
                Some(429) => {
                    let wait = failure
                        .retry_after()
                        .filter(|d| !d.is_zero())
                        .unwrap_or(qi::LINEAGE_DEFAULT_BLOCK);
                    {
                        let until = Instant::now() + wait.min(qi::LINEAGE_MAX_WAIT * 5);
                        let mut b = lock(&self.lineage_blocked_until);
                        if b.is_none_or(|u| u < until) {
                            *b = Some(until);
                        }
                    }
                    if out_of_tries || waited + wait > qi::LINEAGE_MAX_WAIT {
                        return Err(rate_limited(wait));
                    }
                    tracing::info!(profile = %self.profile, wait_s = wait.as_secs(),
                        "Qlik: lineage rate limit reached; waiting");
                }
                Some(s) if !failure.is_transient() => {
                    return Err(LineageFailure::of_status(s, &failure.to_string()));
                }
                _ => {
                    // 5xx or no answer: tried again after a short pause.
                    let wait = super::retry::backoff(
                        super::retry::BASE_WAIT,
                        attempt,
                        None,
                        Duration::from_secs(5),
                    );
                    if out_of_tries || waited + wait > qi::LINEAGE_MAX_WAIT {
                        return Err(LineageFailure::passing(format!(
                            "lineage search failed: {failure}"
                        )));
                    }
                    tokio::time::sleep(wait).await;
                    waited += wait;
                }
            }
            attempt += 1;
        }
    }

    /// Every app item of a space (at most `qi::MAX_ITEM_PAGES` pages).
    async fn space_apps(&self, space: &str) -> Result<Vec<qi::AppItem>, ApiError> {
        let first = self.url(&format!(
            "/items?resourceType=app&spaceId={}&limit={PAGE_LIMIT}&noActions=true",
            path_segment(space)
        ));
        let mut items = Vec::new();
        let mut pages = 0usize;
        self.walk(&first, first.clone(), |page, _| {
            items.extend(page.iter().cloned());
            pages += 1;
            pages < qi::MAX_ITEM_PAGES
        })
        .await?;
        Ok(qi::app_items(&items))
    }

    /// The name of a space (looked up if not known yet), else its id.
    async fn space_name(&self, space: &str) -> String {
        self.learn_names(vec![space.to_string()], Vec::new()).await;
        lock(&self.names)
            .spaces
            .get(space)
            .cloned()
            .unwrap_or_else(|| space.to_string())
    }

    /// Owner names of these apps (looked up when not known), by owner id.
    async fn owner_names(&self, apps: &[qi::AppItem]) -> HashMap<String, String> {
        let ids: Vec<String> = apps.iter().filter_map(|a| a.owner_id.clone()).collect();
        self.learn_names(Vec::new(), ids.clone()).await;
        let names = lock(&self.names);
        ids.into_iter()
            .map(|id| {
                let name = names.users.get(&id).cloned().unwrap_or_else(|| id.clone());
                (id, name)
            })
            .collect()
    }

    /// Space and owner of the apps lineage found, from the items of the connection's space
    /// (best effort: apps elsewhere, or a list that fails, stay as lineage named them).
    async fn label_apps(&self, mut deps: Vec<Dependent>, space: Option<String>) -> Vec<Dependent> {
        let Some(space) = space else { return deps };
        let apps = match self.space_apps(&space).await {
            Ok(a) => a,
            Err(e) => {
                tracing::debug!(profile = %self.profile, "Qlik: app items unavailable: {e}");
                return deps;
            }
        };
        let space_name = self.space_name(&space).await;
        let owners = self.owner_names(&apps).await;
        let by_id: HashMap<&str, &qi::AppItem> =
            apps.iter().map(|a| (a.app_id.as_str(), a)).collect();
        for d in deps.iter_mut().filter(|d| d.what == "app") {
            if let Some(a) = by_id.get(d.id.as_str()) {
                d.container = Some(space_name.clone());
                d.owner = a.owner_id.as_ref().and_then(|o| owners.get(o).cloned());
            }
        }
        deps
    }

    /// Lineage could not answer (`why`): the apps of the connection's space as possible
    /// users, the answer unknown. Also says whether the apps could be listed.
    async fn possible_users(
        &self,
        conn: &Value,
        space: Option<String>,
        why: &str,
        at: i64,
    ) -> (Impact, bool) {
        let Some(space) = space else {
            let whose = if is_datafiles(conn) {
                ""
            } else {
                " (a personal connection: no space to list candidate apps from)"
            };
            return (Impact::unknown(format!("{why}{whose}"), at), true);
        };
        let space_name = self.space_name(&space).await;
        let shown = crate::model::printable(&space_name).into_owned();
        match self.space_apps(&space).await {
            Ok(apps) => {
                let owners = self.owner_names(&apps).await;
                let note = if apps.is_empty() {
                    format!("{why}; space '{shown}' has no apps (apps elsewhere may still use it)")
                } else {
                    format!("{why}; apps in space '{shown}' are listed as possible users")
                };
                let mut impact = Impact::unknown(note, at);
                impact.possible = apps
                    .iter()
                    .map(|a| {
                        Dependent::new("app", &a.app_id, &a.name)
                            .container(Some(space_name.clone()))
                            .owner(a.owner_id.as_ref().and_then(|o| owners.get(o).cloned()))
                    })
                    .collect();
                impact.normalise();
                (impact, true)
            }
            Err(e) => (
                Impact::unknown(
                    format!("{why}; the apps of space '{shown}' could not be listed either: {e}"),
                    at,
                ),
                false,
            ),
        }
    }
}

fn unreadable(status: u16) -> ApiError {
    ApiError::Decode {
        vendor: V,
        status,
        message: "the bulk delete answer could not be read".into(),
    }
}

/// A URL without its query, for messages.
fn strip(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

impl VendorApi for QlikClient {
    fn vendor(&self) -> VendorId {
        V
    }

    fn load(&self) -> BoxFuture<'_, Result<Snapshot, ApiError>> {
        Box::pin(self.do_load(None))
    }

    /// With `space_id` set, every space is still loaded, and the view starts filtered to
    /// that space by name (the operator clears it like any filter).
    fn start_filter(&self) -> Option<String> {
        let id = self.start_space.as_ref()?;
        let name = lock(&self.names).spaces.get(id).cloned()?;
        Some(format!("^{}$", name.replace(' ', "\\ ")))
    }

    fn load_streaming(&self, pages: super::PageSink) -> BoxFuture<'_, Result<Snapshot, ApiError>> {
        Box::pin(self.do_load(Some(pages)))
    }

    fn get(&self, target: Ref) -> BoxFuture<'_, Result<Resource, ApiError>> {
        Box::pin(async move {
            if target.kind != Kind::Connections {
                return Err(not_connections(target.kind));
            }
            let url = self.url(&format!("/data-connections/{}", path_segment(&target.id)));
            let resp = self.get_url(&url).await?;
            self.resource_from(&resp).await
        })
    }

    fn delete(&self, target: Ref) -> BoxFuture<'_, Result<DeleteOutcome, ApiError>> {
        Box::pin(async move { self.do_delete(&target).await })
    }

    /// Creates a data connection from a `POST /api/v1/data-connections` body (either form).
    fn create(&self, kind: Kind, body: Value) -> BoxFuture<'_, Result<Resource, ApiError>> {
        Box::pin(self.do_create(kind, body))
    }

    /// Renames, rotates inline credentials or repoints a data connection through one
    /// JSON-Patch `PATCH` (204); transfers its owner or moves it to another space through
    /// `POST actions/update` (207, the item's status decides); then reads it again.
    fn update(&self, target: Ref, change: Change) -> BoxFuture<'_, Result<Resource, ApiError>> {
        Box::pin(async move { self.do_update(&target, &change).await })
    }

    fn bulk_limit(&self) -> usize {
        BULK_LIMIT
    }

    fn delete_batch(
        &self,
        targets: Vec<Ref>,
    ) -> BoxFuture<'_, Vec<Result<DeleteOutcome, ApiError>>> {
        Box::pin(self.do_delete_batch(targets))
    }

    /// The apps (and datasets, files) downstream of a data connection in Qlik's lineage;
    /// the apps of its space as possible users when lineage cannot answer. Cached per
    /// connection for five minutes.
    fn impact(&self, target: ImpactTarget) -> BoxFuture<'_, Impact> {
        Box::pin(self.do_impact(target))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(base_url: &str) -> ClientSettings {
        ClientSettings::new("qlik-eu", V, base_url, SecretString::from("k3y-s3cret"))
            .timeout(Duration::from_secs(5))
    }

    const DOC_EXAMPLE: &str = r#"{"created":"2023-06-08T18:02:20.392Z","datasourceID":"File_GoogleCloudStorageConnector","id":"3f1c2a9e-6b1d-4a57-9a0e-2c4f8e7d1b10",
 "links":{"self":{"href":"https://acme.eu.qlikcloud.com/api/v1/data-connections/3f1c2a9e-6b1d-4a57-9a0e-2c4f8e7d1b10"}},"qArchitecture":0,
 "privileges":["change_owner","change_space","delete","list","read","update"],"qCredentialsID":"0bb28d27-e9d4-413b-9c7d-aff083e55efb",
 "qConnectStatement":"CUSTOM CONNECT TO \"provider=QvWebConnectorPackage.exe;sourceType=File_GoogleCloudStorageConnector;bucketName=mybucket;\"",
 "qEngineObjectID":"3f1c2a9e-6b1d-4a57-9a0e-2c4f8e7d1b10","qID":"3f1c2a9e-6b1d-4a57-9a0e-2c4f8e7d1b10","qLogOn":1,"qName":"GoogleCloudStorage_mybucket",
 "qSeparateCredentials":false,"qType":"QvWebStorageProviderConnectorPackage.exe","qri":"qri:file:gcs://8x2MU3IXd0JKmvhD3CtNM1-dZ17fUAp2FYBeXe7eEY5",
 "space":"65cf6b6c51618b6abd5848d1","tenant":"Hj5p89bylz1r2AUC6joLNuHzVx5Ya8cF","updated":"2023-06-08T18:02:20.392Z","user":"6422bbf043af68ebe8abbb71","version":"V1"}"#;

    const DATAFILES: &str = r#"{"id":"5d0f7b3e-1c2a-4b8e-9f6d-7a1b2c3d4e5f","qID":"5d0f7b3e-1c2a-4b8e-9f6d-7a1b2c3d4e5f","qEngineObjectID":"5d0f7b3e-1c2a-4b8e-9f6d-7a1b2c3d4e5f","qName":"DataFiles","qType":"qix-datafiles.exe","qArchitecture":0,"qLogOn":0,"privileges":["read"],"qConnectStatement":"CUSTOM CONNECT TO \"provider=qix-datafiles.exe;path=Finance:datafiles;\"","space":"65cf6b6c51618b6abd5848d1","tenant":"T"}"#;

    fn names() -> Names {
        Names {
            spaces: HashMap::from([(
                "65cf6b6c51618b6abd5848d1".to_string(),
                "Finance".to_string(),
            )]),
            users: HashMap::from([(
                "6422bbf043af68ebe8abbb71".to_string(),
                "Ava Lindqvist".to_string(),
            )]),
            missing: HashMap::new(),
        }
    }

    #[test]
    fn base_urls_are_normalised() {
        let ok = |s: &str| normalize_base_url(s).unwrap();
        assert_eq!(
            ok("https://acme.eu.qlikcloud.com/"),
            "https://acme.eu.qlikcloud.com"
        );
        assert_eq!(ok("acme.eu.qlikcloud.com"), "https://acme.eu.qlikcloud.com");
        assert_eq!(
            ok("https://acme.eu.qlikcloud.com/api/v1/data-connections?limit=5"),
            "https://acme.eu.qlikcloud.com"
        );
        assert_eq!(ok("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
        assert_eq!(ok("https://proxy/qlik/api"), "https://proxy/qlik");
        assert!(normalize_base_url("ftp://h").is_err());
        assert!(normalize_base_url("  ").is_err());
    }

    #[test]
    fn new_validates_without_io_and_hides_the_key() {
        let c = QlikClient::new(settings("https://acme.eu.qlikcloud.com/")).unwrap();
        assert_eq!(
            c.url("/data-connections"),
            "https://acme.eu.qlikcloud.com/api/v1/data-connections"
        );
        assert!(!format!("{c:?}").contains("k3y-s3cret"));
        let mut s = settings("https://h");
        s.secret = SecretString::from("  ");
        let e = QlikClient::new(s).unwrap_err();
        assert!(e.to_string().contains("no API key"), "{e}");
        let mut s = settings("https://h");
        s.secret = SecretString::from("bad\nkey");
        let e = QlikClient::new(s).unwrap_err();
        assert!(!e.to_string().contains("bad"), "{e}");
        let e = QlikClient::new(settings("ftp://h")).unwrap_err();
        assert!(e.to_string().contains("profile 'qlik-eu'"), "{e}");
    }

    #[test]
    fn parses_the_documented_connection() {
        let v: Value = serde_json::from_str(DOC_EXAMPLE).unwrap();
        let r = parse_connection("p", &v, &names()).unwrap();
        assert_eq!(r.id, "3f1c2a9e-6b1d-4a57-9a0e-2c4f8e7d1b10");
        assert_eq!(r.name, "GoogleCloudStorage_mybucket");
        assert_eq!(r.type_.as_deref(), Some("File_GoogleCloudStorageConnector"));
        assert_eq!(r.container.as_deref(), Some("Finance"));
        assert_eq!(r.owner.as_deref(), Some("Ava Lindqvist"));
        assert_eq!(r.created, Some(1686247340));
        assert_eq!(r.updated, Some(1686247340));
        assert_eq!(r.deletable, Some(true));
        assert_eq!(r.kind, Kind::Connections);
        assert_eq!(r.raw, v);
        let ctx = CellCtx { now: 1686247340 };
        assert_eq!(deletable_cell(&r, &ctx).text, "✓ yes");
        assert_eq!(created_date(&r, &ctx).text, "2023-06-08");
    }

    #[test]
    fn datafiles_are_never_deletable_and_unknown_names_fall_back_to_ids() {
        let v: Value = serde_json::from_str(DATAFILES).unwrap();
        let r = parse_connection("p", &v, &Names::default()).unwrap();
        assert_eq!(r.deletable, Some(false));
        assert_eq!(r.type_.as_deref(), Some("DataFiles"));
        assert_eq!(r.container.as_deref(), Some("65cf6b6c51618b6abd5848d1"));
        assert_eq!(r.owner, None);
        assert_eq!(r.created, None);
        let ctx = CellCtx { now: 0 };
        assert_eq!(deletable_cell(&r, &ctx).text, "built-in");
        // Even if a server claimed otherwise.
        let mut v2 = v.clone();
        v2["privileges"] = json!(["delete", "read"]);
        assert_eq!(
            parse_connection("p", &v2, &Names::default())
                .unwrap()
                .deletable,
            Some(false)
        );
    }

    #[test]
    fn lenient_parsing_of_sparse_and_odd_objects() {
        // Personal (no space), privileges without delete, owner unknown, qLogOn as a string.
        let v = json!({"qID":"c1","qName":"mine","qType":"QvRestConnector.exe","qLogOn":"1",
            "privileges":["list","read"],"user":"u9","createdAt":"2024-01-01T00:00:00Z"});
        let r = parse_connection("p", &v, &Names::default()).unwrap();
        assert_eq!(r.container.as_deref(), Some(PERSONAL_SPACE));
        assert_eq!(r.deletable, Some(false));
        assert_eq!(r.owner.as_deref(), Some("u9"));
        assert_eq!(r.type_.as_deref(), Some("QvRestConnector"));
        assert_eq!(r.created, Some(1704067200));
        // Privileges as one string (the spec's example form).
        let v = json!({"id":"c2","privileges":"list, read, delete"});
        let r = parse_connection("p", &v, &Names::default()).unwrap();
        assert_eq!(r.name, "c2");
        assert_eq!(r.deletable, Some(true));
        // No privileges: unknown.
        let r = parse_connection("p", &json!({"qID":"c3"}), &Names::default()).unwrap();
        assert_eq!(r.deletable, None);
        assert_eq!(deletable_cell(&r, &CellCtx { now: 0 }).text, "?");
        // No id at all.
        assert!(parse_connection("p", &json!({"qName":"x"}), &Names::default()).is_none());
        assert!(parse_connection("p", &json!([1]), &Names::default()).is_none());
    }

    #[test]
    fn spec_columns_match_the_product() {
        let titles: Vec<&str> = (SPEC.columns)(Kind::Connections)
            .iter()
            .map(|c| c.title)
            .collect();
        assert_eq!(
            titles,
            [
                "Name",
                "Datasource",
                "Space",
                "Owner",
                "Status",
                "Delete?",
                "Created",
                "Updated"
            ]
        );
        assert!((SPEC.columns)(Kind::Logins).is_empty());
        assert_eq!(SPEC.kinds, &[Kind::Connections]);
        assert!(SPEC.orphan_kinds.is_empty());
        assert!(SPEC.supported && !SPEC.can_test && !SPEC.soft_delete);
    }

    #[test]
    fn bulk_items_map_to_outcomes() {
        assert_eq!(
            bulk_item_outcome(&json!({"id":"a","status":204})).unwrap(),
            DeleteOutcome::Deleted
        );
        assert_eq!(
            bulk_item_outcome(
                &json!({"id":"a","status":"404","error":{"code":"X","title":"gone"}})
            )
            .unwrap(),
            DeleteOutcome::AlreadyGone
        );
        let e = bulk_item_outcome(&json!({"id":"a","status":403,
            "error":{"code":"DCERROR-0003","title":"Forbidden","detail":"The DataFiles connection is built in","status":403}}))
        .unwrap_err();
        assert_eq!(e.status(), Some(403));
        assert_eq!(e.code(), Some("DCERROR-0003"));
        assert_eq!(
            e.to_string(),
            "Qlik Cloud: HTTP 403 DCERROR-0003: Forbidden: The DataFiles connection is built in"
        );
        let e = bulk_item_outcome(&json!({"id":"a","status":500})).unwrap_err();
        assert!(e.to_string().contains("without details"), "{e}");
        let e = bulk_item_outcome(&json!({"id":"a"})).unwrap_err();
        assert!(matches!(e, ApiError::Decode { .. }), "{e:?}");
    }

    #[test]
    fn next_links_never_leave_the_tenant() {
        let list = "https://acme.eu.qlikcloud.com/api/v1/data-connections?limit=100";
        // Same origin: verbatim.
        let (u, rebased) = next_page_url(
            list,
            "https://acme.eu.qlikcloud.com/api/v1/data-connections?limit=100&page=abc",
        )
        .unwrap();
        assert_eq!(
            u,
            "https://acme.eu.qlikcloud.com/api/v1/data-connections?limit=100&page=abc"
        );
        assert!(!rebased);
        // Relative: resolved.
        let (u, _) = next_page_url(list, "/api/v1/data-connections?page=x").unwrap();
        assert_eq!(
            u,
            "https://acme.eu.qlikcloud.com/api/v1/data-connections?page=x"
        );
        // Another host: only its cursor is used.
        let (u, rebased) = next_page_url(
            list,
            "https://orchestration.eu.qlikcloud.com/v1/data-connections?limit=100&page=zz",
        )
        .unwrap();
        assert_eq!(
            u,
            "https://acme.eu.qlikcloud.com/api/v1/data-connections?limit=100&page=zz"
        );
        assert!(rebased);
        // Same host over plain HTTP is another origin.
        let (u, rebased) = next_page_url(
            list,
            "http://acme.eu.qlikcloud.com/api/v1/data-connections?page=1",
        )
        .unwrap();
        assert!(u.starts_with("https://") && rebased);
    }

    #[test]
    fn pacer_allows_a_minute_of_writes_then_waits() {
        let mut p = WritePacer::new(3);
        let t0 = Instant::now();
        for i in 0..3 {
            assert_eq!(p.reserve(t0 + Duration::from_secs(i)), Ok(()));
        }
        assert_eq!(
            p.reserve(t0 + Duration::from_secs(10)),
            Err(Duration::from_secs(50))
        );
        assert_eq!(p.reserve(t0 + Duration::from_secs(60)), Ok(()));
        // A 429 holds every write until it expires.
        p.block(t0 + Duration::from_secs(61), Duration::from_secs(13));
        assert_eq!(
            p.reserve(t0 + Duration::from_secs(70)),
            Err(Duration::from_secs(4))
        );
        assert_eq!(p.reserve(t0 + Duration::from_secs(200)), Ok(()));
        // 0 = unpaced, but a 429 block still applies.
        let mut p = WritePacer::new(0);
        for _ in 0..1000 {
            assert_eq!(p.reserve(t0), Ok(()));
        }
        p.block(t0, Duration::from_secs(3600));
        assert_eq!(p.reserve(t0), Err(MAX_WRITE_BLOCK));
    }

    #[tokio::test]
    async fn read_only_profiles_send_no_deletes_or_creates() {
        // Nothing listens on port 9: a request that left would be a transport error.
        let mut s = settings("http://127.0.0.1:9");
        s.read_only = true;
        let c = QlikClient::new(s).unwrap();
        let t = Ref {
            kind: Kind::Connections,
            id: "3f1c2a9e-6b1d-4a57-9a0e-2c4f8e7d1b10".into(),
            name: "x".into(),
        };
        let e = c.delete(t.clone()).await.unwrap_err();
        assert!(matches!(e, ApiError::ReadOnly { .. }), "{e:?}");
        let all = c.delete_batch(vec![t.clone(), t]).await;
        assert_eq!(all.len(), 2);
        assert!(all
            .iter()
            .all(|r| matches!(r, Err(ApiError::ReadOnly { .. }))));
        let e = c
            .create(Kind::Connections, json!({"qName":"x"}))
            .await
            .unwrap_err();
        assert!(matches!(e, ApiError::ReadOnly { .. }), "{e:?}");
        let e = c.test_connection("x".into()).await.unwrap_err();
        assert!(e.to_string().contains("no API to test"), "{e}");
        let e = c
            .update(
                t_one(),
                Change::default().set("name", FieldValue::Text("y".into())),
            )
            .await
            .unwrap_err();
        assert!(matches!(e, ApiError::ReadOnly { .. }), "{e:?}");
        // An owner given by name is refused before it is looked up.
        let e = c
            .update(
                t_one(),
                Change::default().set("owner", FieldValue::Text("Priya Raman".into())),
            )
            .await
            .unwrap_err();
        assert!(matches!(e, ApiError::ReadOnly { .. }), "{e:?}");
        assert!(e.to_string().contains("actions/update"), "{e}");
    }

    #[test]
    fn update_items_are_judged_by_their_own_status() {
        let id = "3f1c2a9e-6b1d-4a57-9a0e-2c4f8e7d1b10";
        let ok = json!({"data":[{"id": id, "status": 204}]});
        assert!(update_item_outcome(&ok, id).is_ok());
        let clash = json!({"data":[{"id": id, "status": 409, "error": {
            "code":"DCERROR-0009","title":"Conflict",
            "detail":"A data connection named 'x' already exists","status":409}}]});
        let e = update_item_outcome(&clash, id).unwrap_err();
        assert_eq!(e.status(), Some(409));
        assert_eq!(e.code(), Some("DCERROR-0009"));
        assert!(e.to_string().contains("already exists"), "{e}");
        let e = update_item_outcome(&json!({"data":[]}), id).unwrap_err();
        assert!(matches!(e, ApiError::Decode { .. }), "{e:?}");
        let e = update_item_outcome(&json!({"data":[{"id": id}]}), id).unwrap_err();
        assert!(matches!(e, ApiError::Decode { .. }), "{e:?}");
        assert!(looks_like_qlik_id("6422bc5e43af68ebe8abbc9d"));
        assert!(!looks_like_qlik_id("Priya Raman"));
        assert_eq!(scim_string(r#"a"b\c"#), r#""a\"b\\c""#);
    }

    fn t_one() -> Ref {
        Ref {
            kind: Kind::Connections,
            id: "3f1c2a9e-6b1d-4a57-9a0e-2c4f8e7d1b10".into(),
            name: "x".into(),
        }
    }

    #[test]
    fn changes_become_json_patch_under_qliks_rules() {
        let secret = |s: &str| FieldValue::Secret(SecretString::from(s));
        let c = Change::default()
            .set("name", FieldValue::Text("Sales DB".into()))
            .set("username", FieldValue::Text("svc_bi".into()))
            .set("password", secret("n3w"));
        assert_eq!(
            patch_operations(&c).unwrap(),
            vec![
                json!({"op":"replace","path":"/qName","value":"Sales DB"}),
                json!({"op":"replace","path":"/qUsername","value":"svc_bi"}),
                json!({"op":"replace","path":"/qPassword","value":"n3w"}),
            ]
        );
        let moved = Change::default().set("connection_string", FieldValue::Text("X".into()));
        let e = patch_operations(&moved).unwrap_err();
        assert!(e.contains("password in the same change"), "{e}");
        assert!(patch_operations(&moved.set("password", secret("p"))).is_ok());
        let e = patch_operations(&Change::default().set("tags", FieldValue::Text("u".into())))
            .unwrap_err();
        assert!(e.contains("no field 'tags'"), "{e}");
        // Owner and space go through actions/update, not the PATCH.
        let both = Change::default()
            .set("owner", FieldValue::Text("u".into()))
            .set("name", FieldValue::Text("n".into()))
            .set("space", FieldValue::Text("s".into()));
        assert_eq!(
            patch_operations(&both).unwrap(),
            vec![json!({"op":"replace","path":"/qName","value":"n"})]
        );
        assert_eq!(patch_part(&both).fields.len(), 1);
        let names: Vec<&str> = (SPEC.edit_fields)(Kind::Connections)
            .iter()
            .map(|f| f.name)
            .collect();
        assert_eq!(
            names,
            [
                "name",
                "username",
                "password",
                "connection_string",
                "owner",
                "space"
            ]
        );
        for f in ["owner", "space"] {
            let field = CONNECTION_EDIT.iter().find(|e| e.name == f).unwrap();
            assert!(!field.help.is_empty() && !field.secret);
        }
        assert!(CONNECTION_EDIT[4].help.contains("NOT transferred"));
        assert!(CONNECTION_EDIT[5].help.contains("Space:Name"));
        assert!((SPEC.edit_fields)(Kind::Logins).is_empty());
    }

    #[tokio::test]
    async fn other_kinds_are_refused_without_a_request() {
        let c = QlikClient::new(settings("http://127.0.0.1:9")).unwrap();
        let t = Ref {
            kind: Kind::Logins,
            id: "L".into(),
            name: "l".into(),
        };
        let e = c.delete(t.clone()).await.unwrap_err();
        assert!(matches!(e, ApiError::Setup { .. }), "{e:?}");
        let e = VendorApi::get(&c, t.clone()).await.unwrap_err();
        assert!(e.to_string().contains("only data connections"), "{e}");
        let r = c.delete_batch(vec![t]).await;
        assert!(matches!(r[0], Err(ApiError::Setup { .. })));
    }
}
