//! Apache Superset REST API client: databases (shown as connections) and datasets (shown as
//! datasources, each depending on its database), listed with rison paging; which charts use a
//! dataset (the chart list) fills "used by"; impact from `related_objects`; connection tests
//! with the stored (masked) URI; deletes (datasets in bulk, all-or-nothing on the server,
//! settled per object here); database create and edit (name, URI, password rotation, flags)
//! and dataset owners.
//!
//! Sessions: a JWT login (`provider` always sent: a login without it is a 500 on the server),
//! the refresh token kept and used once on a 401, else a new login. Every POST/PUT/DELETE
//! carries the CSRF token and the `session` cookie it was issued with (fetched before the
//! first mutation, fetched again once when the server says the CSRF token is missing or
//! invalid), plus a `Referer` (Flask-WTF's strict referrer check on HTTPS). A server with CSRF
//! off ignores both. Tokens and the cookie are sent as sensitive headers and never logged.

use super::change::{Change, EditField, FieldValue};
use super::forms::{text as form_text, Choice, FieldKind, FieldSpec, FormSpec};
use super::http::{path_segment, sensitive_value, HttpCore, HttpRequest, HttpResponse};
use super::retry::RetryPolicy;
use super::{
    ApiError, CheckKind, ClientSettings, DeleteOutcome, HealthCheck, Snapshot, VendorApi,
    VendorSpec,
};
use crate::model::{
    cells, link_graph, parse_time, Cell, CellCtx, CellTone, ColWidth, ColumnDef, Kind, OtherEdge,
    OtherUser, Ref, Resource, VendorId,
};
use futures::future::BoxFuture;
use futures::StreamExt;
use reqwest::header::{HeaderMap, HeaderName, AUTHORIZATION, COOKIE, REFERER};
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use std::collections::HashSet;
use tokio::sync::Mutex;

const V: VendorId = VendorId::Superset;
/// How Superset shows a stored password in URIs and `parameters` (ten X); sent back, it
/// keeps the stored password.
pub const PASSWORD_MASK: &str = "XXXXXXXXXX";
/// Page size asked for when the profile sets none (the server's cap, `FAB_API_MAX_PAGE_SIZE`).
pub const DEFAULT_PAGE_SIZE: u32 = 100;
/// A list stops after this many pages whatever `count` says.
const MAX_PAGES: u32 = 20_000;
/// Retries of a GET after the first attempt (see `retry`; 429 without Retry-After included).
const READS: RetryPolicy = RetryPolicy::reads(3);
/// Datasets deleted by one bulk request (ids go into the URL).
pub const BULK_LIMIT: usize = 50;
/// Databases whose masked URI is read (`/connection`, one request each) during a load; above
/// this the URI column stays empty until an object is read on its own.
const URI_FETCH_LIMIT: usize = 300;
const URI_CONCURRENCY: usize = 4;

const LOGIN_PATH: &str = "/api/v1/security/login";
const REFRESH_PATH: &str = "/api/v1/security/refresh";
const CSRF_PATH: &str = "/api/v1/security/csrf_token/";
const DATABASES_PATH: &str = "/api/v1/database/";
const DATASETS_PATH: &str = "/api/v1/dataset/";
const CHARTS_PATH: &str = "/api/v1/chart/";
const TEST_CONNECTION_PATH: &str = "/api/v1/database/test_connection/";
const OWNERS_PATH: &str = "/api/v1/dataset/related/owners";
const USERS_PATH: &str = "/api/v1/security/users/";

/// The list columns asked for (dotted names select fields of related objects). Checked on a
/// real Superset 6.1.0: names that are not list columns are dropped silently (no 400), and
/// `sqlalchemy_uri` is not a list column of databases: the masked URI comes from
/// `GET /api/v1/database/{pk}/connection`.
const DATABASE_COLUMNS: &[&str] = &[
    "id",
    "uuid",
    "database_name",
    "backend",
    "allow_dml",
    "expose_in_sqllab",
    "allow_run_async",
    "created_by.first_name",
    "created_by.last_name",
    "changed_on",
];
const DATASET_COLUMNS: &[&str] = &[
    "id",
    "uuid",
    "table_name",
    "schema",
    "kind",
    "database.id",
    "database.database_name",
    "owners.id",
    "owners.first_name",
    "owners.last_name",
    "changed_on_utc",
];
const CHART_COLUMNS: &[&str] = &["id", "slice_name", "datasource_id", "datasource_type"];

pub(super) fn database_path(id: &str) -> String {
    format!("{DATABASES_PATH}{}", path_segment(id))
}

pub(super) fn dataset_path(id: &str) -> String {
    format!("{DATASETS_PATH}{}", path_segment(id))
}

// ---------------------------------------------------------------------------------------------
// Static facts
// ---------------------------------------------------------------------------------------------

fn raw_bool(r: &Resource, key: &str) -> Option<bool> {
    r.raw.value().get(key).and_then(Value::as_bool)
}

/// The URI as the server gives it (masked), any password that is not the mask masked here.
fn db_uri(r: &Resource, _: &CellCtx) -> Cell {
    match r.raw_str("/sqlalchemy_uri") {
        Some(u) if !u.is_empty() => Cell::plain(mask_uri(&u)),
        _ => Cell::tone("-", CellTone::Dim),
    }
}

/// "DML, SQL Lab": which of the two switches are on.
fn db_flags(r: &Resource, _: &CellCtx) -> Cell {
    let mut on = Vec::new();
    if raw_bool(r, "allow_dml") == Some(true) {
        on.push("DML");
    }
    if raw_bool(r, "expose_in_sqllab") == Some(true) {
        on.push("SQL Lab");
    }
    if on.is_empty() {
        Cell::tone("-", CellTone::Dim)
    } else {
        Cell::plain(on.join(", "))
    }
}

fn ds_database(r: &Resource, _: &CellCtx) -> Cell {
    cells::first_dep(r, Kind::Connections)
}

fn ds_kind(r: &Resource, _: &CellCtx) -> Cell {
    match r.type_.as_deref() {
        Some(k) if !k.is_empty() => Cell::plain(k),
        _ => Cell::tone("-", CellTone::Dim),
    }
}

static DATABASE_COLUMNS_SHOWN: [ColumnDef; 8] = [
    ColumnDef {
        title: "Name",
        width: ColWidth::Names(22),
        cell: cells::name,
        sort_key: None,
    },
    ColumnDef {
        title: "Backend",
        width: ColWidth::Fixed(11),
        cell: cells::type_,
        sort_key: None,
    },
    ColumnDef {
        title: "URI",
        width: ColWidth::Fill(26),
        cell: db_uri,
        sort_key: None,
    },
    ColumnDef {
        title: "Allows",
        width: ColWidth::Fixed(12),
        cell: db_flags,
        sort_key: None,
    },
    ColumnDef {
        title: "Used by",
        width: ColWidth::Fill(18),
        cell: cells::used_by,
        sort_key: Some(cells::used_by_key),
    },
    ColumnDef {
        title: "Health",
        width: ColWidth::Fill(16),
        cell: cells::health,
        sort_key: None,
    },
    ColumnDef {
        title: "Created by",
        width: ColWidth::Fixed(14),
        cell: cells::owner,
        sort_key: None,
    },
    ColumnDef {
        title: "Modified",
        width: ColWidth::Fixed(18),
        cell: cells::updated,
        sort_key: Some(cells::updated_key),
    },
];

static DATASET_COLUMNS_SHOWN: [ColumnDef; 7] = [
    ColumnDef {
        title: "Name",
        width: ColWidth::Names(24),
        cell: cells::name,
        sort_key: None,
    },
    ColumnDef {
        title: "Kind",
        width: ColWidth::Fixed(9),
        cell: ds_kind,
        sort_key: None,
    },
    ColumnDef {
        title: "Database",
        width: ColWidth::Names(18),
        cell: ds_database,
        sort_key: None,
    },
    ColumnDef {
        title: "Owners",
        width: ColWidth::Fill(14),
        cell: cells::owner,
        sort_key: None,
    },
    ColumnDef {
        title: "Used by",
        width: ColWidth::Fill(18),
        cell: cells::used_by,
        sort_key: Some(cells::used_by_key),
    },
    ColumnDef {
        title: "Health",
        width: ColWidth::Fill(14),
        cell: cells::health,
        sort_key: None,
    },
    ColumnDef {
        title: "Modified",
        width: ColWidth::Fixed(18),
        cell: cells::updated,
        sort_key: Some(cells::updated_key),
    },
];

fn columns(kind: Kind) -> &'static [ColumnDef] {
    match kind {
        Kind::Connections => &DATABASE_COLUMNS_SHOWN,
        Kind::Datasources => &DATASET_COLUMNS_SHOWN,
        _ => &[],
    }
}

pub static SPEC: VendorSpec = VendorSpec {
    vendor: VendorId::Superset,
    kinds: &[Kind::Connections, Kind::Datasources],
    // A database no dataset uses, a dataset no chart uses.
    orphan_kinds: &[Kind::Connections, Kind::Datasources],
    // The server refuses to delete a database that still has datasets.
    delete_order: &[Kind::Datasources, Kind::Connections],
    columns,
    can_create: true,
    can_test: true,
    health_checks: &[(Kind::Connections, CheckKind::ConnectionTest)],
    soft_delete: false,
    // Superset has no containers: the impact lines read "(no workspace)".
    impact_container: "workspace",
    impact_per_minute: None,
    supported: true,
    edit_fields,
    // A database PUT runs a connection test first and changes nothing when it fails.
    update_tests_credentials: true,
};

const DATABASE_EDIT: &[EditField] = &[
    EditField::text("name", "Name", "/database_name").help("unique among the databases"),
    EditField::text("sqlalchemy_uri", "SQLAlchemy URI", "/sqlalchemy_uri")
        .verified()
        .help(
            "backend+driver://user@host:port/db; without a password (or with XXXXXXXXXX) the \
             stored password is kept",
        ),
    EditField::secret("password", "Database password")
        .help("put into the URI in place of the mask; Superset tests it before storing it"),
    // No pointer: the values are JSON booleans, which the form and the re-read of a lost
    // answer compare as text (the "Allows" column shows them).
    EditField::text("expose_in_sqllab", "Expose in SQL Lab", "")
        .help("true or false (now: see the Allows column)"),
    EditField::text("allow_dml", "Allow DML", "")
        .help("true or false (now: see the Allows column)"),
];

const DATASET_EDIT: &[EditField] = &[EditField::text("owner", "Owners", "").help(
    "user ids, usernames, emails or 'First Last' names, comma-separated: they replace all \
         current owners",
)];

/// What Superset lets a client change: a database's name, URI, password and two switches
/// (`PUT /api/v1/database/{pk}`), a dataset's owners (`PUT /api/v1/dataset/{pk}`).
fn edit_fields(kind: Kind) -> &'static [EditField] {
    match kind {
        Kind::Connections => DATABASE_EDIT,
        Kind::Datasources => DATASET_EDIT,
        _ => &[],
    }
}

/// Apache Superset in the vendor registry.
pub static VENDOR: super::entry::Vendor = super::Vendor {
    spec: &SPEC,
    config: super::entry::ConfigSpec {
        secret: "password",
        username: true,
        keys: &[
            super::entry::ConfigKey {
                name: "auth_provider",
                value: super::entry::KeyValue::Text,
                shown_default: Some("db"),
            },
            super::entry::ConfigKey {
                name: "page_size",
                value: super::entry::KeyValue::Integer { min: 1, max: 100 },
                shown_default: Some("100"),
            },
        ],
        aliases: &[("provider", "auth_provider")],
        secret_optional: |_| false,
    },
    connect: |s| Ok(std::sync::Arc::new(SupersetClient::new(s)?)),
    create_form,
    decode_error,
    error_example: super::entry::ErrorExample {
        status: 400,
        body: r#"{"errors":[{"message":"The CSRF token is missing.","error_type":"GENERIC_BACKEND_ERROR","level":"error","extra":{"issue_codes":[{"code":1011,"message":"Issue 1011 - Superset encountered an unexpected error."}]}}]}"#,
        code: Some("GENERIC_BACKEND_ERROR"),
        message: "The CSRF token is missing. (issue 1011)",
    },
    #[cfg(feature = "sim")]
    sim: super::entry::SimSpec {
        start: crate::sim::start_running!(superset),
        demo: super::entry::DemoLogin {
            profile: "demo-superset",
            username: Some(crate::sim::superset::DEMO_USERNAME),
            secret: crate::sim::superset::DEMO_PASSWORD,
            secrets: &[],
        },
    },
};

// ---------------------------------------------------------------------------------------------
// Create form
// ---------------------------------------------------------------------------------------------

fn yes_no(default_yes: bool) -> Vec<Choice> {
    let yes = Choice {
        label: "yes".into(),
        value: json!(true),
    };
    let no = Choice {
        label: "no".into(),
        value: json!(false),
    };
    if default_yes {
        vec![yes, no]
    } else {
        vec![no, yes]
    }
}

/// The create form of a database; datasets are created in Superset.
fn create_form(kind: Kind, _: &[Resource]) -> Option<FormSpec> {
    if kind != Kind::Connections {
        return None;
    }
    Some(FormSpec {
        kind,
        title: "New Superset database".into(),
        fields: vec![
            FieldSpec::new(
                "name",
                "Name",
                FieldKind::Text,
                true,
                "unique database name",
            ),
            FieldSpec::new(
                "sqlalchemy_uri",
                "SQLAlchemy URI",
                FieldKind::Text,
                true,
                "postgresql://user@host:5432/db (the password goes below)",
            ),
            FieldSpec::new(
                "password",
                "Password",
                FieldKind::Secret,
                false,
                "put into the URI; never shown or logged",
            ),
            FieldSpec::new(
                "expose_in_sqllab",
                "Expose in SQL Lab",
                FieldKind::Choice(yes_no(true)),
                false,
                "Left/Right to choose",
            ),
            FieldSpec::new(
                "allow_dml",
                "Allow DML",
                FieldKind::Choice(yes_no(false)),
                false,
                "Left/Right to choose",
            ),
        ],
        build: build_database,
    })
}

/// The form's values as the body `create` takes: `name`, `sqlalchemy_uri`, the flags, and
/// the password apart (the client puts it into the URI; the audit log never sees it there).
fn build_database(values: &[Value]) -> Result<Value, String> {
    let name = form_text(values, 0, "Name", true)?;
    let uri = form_text(values, 1, "SQLAlchemy URI", true)?;
    if !uri.contains("://") {
        return Err(
            "the SQLAlchemy URI looks like backend+driver://user@host:port/database".into(),
        );
    }
    let password = values
        .get(2)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let flag = |i: usize, default: bool| values.get(i).and_then(Value::as_bool).unwrap_or(default);
    let mut body = json!({
        "name": name,
        "sqlalchemy_uri": uri,
        "expose_in_sqllab": flag(3, true),
        "allow_dml": flag(4, false),
    });
    if !password.is_empty() {
        insert_password(&uri, &password)?;
        body["password"] = json!(password);
    }
    Ok(body)
}

/// The wire body of a database create from the form's body: the password put into the URI.
pub fn create_body(body: &Value) -> Result<Value, String> {
    let Value::Object(map) = body else {
        return Err("a database is created from an object".into());
    };
    let mut out = serde_json::Map::new();
    let name = map
        .get("database_name")
        .or_else(|| map.get("name"))
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or("a database needs a name")?;
    out.insert("database_name".into(), json!(name));
    let uri = map
        .get("sqlalchemy_uri")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or("a database needs a SQLAlchemy URI")?;
    let uri = match map.get("password").and_then(Value::as_str) {
        Some(p) if !p.is_empty() => insert_password(uri, p)?,
        _ => uri.to_string(),
    };
    out.insert("sqlalchemy_uri".into(), json!(uri));
    for (k, v) in map {
        if !matches!(
            k.as_str(),
            "name" | "database_name" | "sqlalchemy_uri" | "password"
        ) {
            out.insert(k.clone(), v.clone());
        }
    }
    Ok(Value::Object(out))
}

// ---------------------------------------------------------------------------------------------
// URIs and passwords
// ---------------------------------------------------------------------------------------------

/// Percent-encode everything but RFC 3986 unreserved characters (SQLAlchemy unquotes the
/// user and password of a URL).
pub fn url_encode(s: &str) -> String {
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

/// A URI's parts around its user info: (`scheme://`, user info, `@host...`). `None` when it
/// has no user info (`sqlite:////path`, `postgresql://host/db`).
fn userinfo_parts(uri: &str) -> Option<(&str, &str, &str)> {
    let start = uri.find("://")? + 3;
    let rest = &uri[start..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let at = rest[..authority_end].rfind('@')?;
    Some((&uri[..start], &rest[..at], &rest[at..]))
}

/// The URI with `password` (URL-encoded) as its password, replacing the mask or any password
/// it has. Refused when the URI names no user (SQLite and the like take no password).
pub fn insert_password(uri: &str, password: &str) -> Result<String, String> {
    let (scheme, info, rest) = userinfo_parts(uri.trim()).ok_or_else(|| {
        "the URI names no user (user@host), so it cannot take a password".to_string()
    })?;
    let user = info.split(':').next().unwrap_or("");
    if user.is_empty() {
        return Err("the URI names no user (user@host), so it cannot take a password".into());
    }
    Ok(format!("{scheme}{user}:{}{rest}", url_encode(password)))
}

/// The password part of a URI as written (`None`: no user info or no password).
pub fn uri_password(uri: &str) -> Option<&str> {
    let (_, info, _) = userinfo_parts(uri)?;
    info.split_once(':').map(|(_, p)| p)
}

/// The URI with any password shown as the mask (Superset already masks; this keeps a
/// server or a typed URI from ever putting a password on screen).
pub fn mask_uri(uri: &str) -> String {
    match (userinfo_parts(uri), uri_password(uri)) {
        (Some((scheme, info, rest)), Some(p)) if p != PASSWORD_MASK => {
            let user = info.split(':').next().unwrap_or("");
            format!("{scheme}{user}:{PASSWORD_MASK}{rest}")
        }
        _ => uri.to_string(),
    }
}

fn parse_bool(field: &str, s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Ok(true),
        "false" | "no" | "off" | "0" => Ok(false),
        _ => Err(format!("'{field}' is true or false, not '{s}'")),
    }
}

/// The `PUT /api/v1/database/{pk}` body of a change. `current_uri` is the stored URI as the
/// server shows it (masked), needed when only the password changes (it goes into the stored
/// URI) or only the URI (a URI without a password then keeps the stored one: the mask is put
/// in, which the server reads as "unchanged").
pub fn database_update_body(change: &Change, current_uri: Option<&str>) -> Result<Value, String> {
    let mut body = serde_json::Map::new();
    for c in &change.fields {
        match (c.field.as_str(), &c.value) {
            ("name", FieldValue::Text(t)) => {
                let t = t.trim();
                if t.is_empty() {
                    return Err("a name cannot be empty".into());
                }
                body.insert("database_name".into(), json!(t));
            }
            (f @ ("expose_in_sqllab" | "allow_dml"), FieldValue::Text(t)) => {
                body.insert(f.into(), json!(parse_bool(f, t)?));
            }
            ("sqlalchemy_uri" | "password", FieldValue::Text(_) | FieldValue::Secret(_)) => {}
            (f, FieldValue::Unset) => return Err(format!("'{f}' cannot be cleared")),
            (f, _) => return Err(format!("Superset databases have no field '{f}' to change")),
        }
    }
    let new_uri = change.text("sqlalchemy_uri").map(str::trim);
    let password = match change.get("password") {
        Some(FieldValue::Secret(s)) => Some(s.expose_secret().to_string()),
        Some(FieldValue::Text(_)) => return Err("'password' is a secret".into()),
        _ => None,
    };
    match (new_uri, password) {
        (Some(""), _) => return Err("the SQLAlchemy URI cannot be empty".into()),
        (uri, Some(p)) => {
            let base = uri.or(current_uri).ok_or(
                "the stored URI could not be read, so the password has nowhere to go; give \
                 the URI too",
            )?;
            body.insert("sqlalchemy_uri".into(), json!(insert_password(base, &p)?));
        }
        (Some(uri), None) => {
            let stored_has_password = current_uri.and_then(uri_password).is_some();
            let uri = if stored_has_password && uri_password(uri).is_none() {
                insert_password(uri, PASSWORD_MASK).unwrap_or_else(|_| uri.to_string())
            } else {
                uri.to_string()
            };
            body.insert("sqlalchemy_uri".into(), json!(uri));
        }
        (None, None) => {}
    }
    if body.is_empty() {
        return Err("nothing to change".into());
    }
    Ok(Value::Object(body))
}

// ---------------------------------------------------------------------------------------------
// Rison
// ---------------------------------------------------------------------------------------------

/// A rison string literal: always quoted, `!` and `'` escaped with `!`.
pub fn rison_string(s: &str) -> String {
    format!("'{}'", s.replace('!', "!!").replace('\'', "!'"))
}

/// `?q=<rison>` with the rison percent-encoded for a query string.
pub fn q_param(rison: &str) -> String {
    let mut out = String::from("?q=");
    for b in rison.bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'_' | b'.' | b'~' | b'(' | b')' | b'!' | b',' | b':' | b'*'
            )
        {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `(columns:!(a,b),page:N,page_size:S)`, or without `columns`.
fn page_rison(columns: Option<&[&str]>, page: u32, size: u32) -> String {
    match columns {
        Some(cols) => format!(
            "(columns:!({}),page:{page},page_size:{size})",
            cols.join(",")
        ),
        None => format!("(page:{page},page_size:{size})"),
    }
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// One line, whitespace collapsed, at most 300 characters.
fn one_line(s: &str) -> String {
    let visible: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let joined = visible.split_whitespace().collect::<Vec<_>>().join(" ");
    if joined.chars().count() > 300 {
        let cut: String = joined.chars().take(299).collect();
        format!("{cut}…")
    } else {
        joined
    }
}

/// A validation map (`{"field":["..."]}`, `{"field":"..."}`, nested) as "field: text; ...".
fn field_messages(prefix: &str, v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                field_messages(&key, v, out);
            }
        }
        Value::Array(items) => {
            let texts: Vec<String> = items
                .iter()
                .map(|i| match i {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect();
            push_field(prefix, &texts.join(" "), out);
        }
        Value::String(s) => push_field(prefix, s, out),
        Value::Null => {}
        other => push_field(prefix, &other.to_string(), out),
    }
}

fn push_field(field: &str, text: &str, out: &mut Vec<String>) {
    if field.is_empty() || field == "_schema" {
        out.push(text.to_string());
    } else {
        out.push(format!("{field}: {text}"));
    }
}

/// The code and message of a Superset error body, in any of its four shapes: `errors[]`
/// (error type as the code, issue codes after the message), `message` as a string or as a
/// field map, and Flask-JWT-Extended's `msg`.
pub fn error_parts(v: &Value) -> Option<(Option<String>, String)> {
    if let Some(e) = v
        .get("errors")
        .and_then(Value::as_array)
        .and_then(|l| l.iter().find(|e| e.is_object()))
    {
        let mut message = e
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("")
            .trim()
            .to_string();
        // Werkzeug's "400 Bad Request: " prefix says nothing the status does not.
        if let Some((head, tail)) = message.split_once(": ") {
            if head.len() <= 30
                && head
                    .split(' ')
                    .next()
                    .is_some_and(|n| n.len() == 3 && n.bytes().all(|b| b.is_ascii_digit()))
            {
                message = tail.to_string();
            }
        }
        let issues: Vec<String> = e
            .pointer("/extra/issue_codes")
            .and_then(Value::as_array)
            .map(|l| {
                l.iter()
                    .filter_map(|i| i.get("code"))
                    .map(|c| match c {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        if !issues.is_empty() {
            let word = if issues.len() == 1 { "issue" } else { "issues" };
            message = format!("{message} ({word} {})", issues.join(", "));
        }
        let code = e
            .get("error_type")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        return Some((code, message));
    }
    match v.get("message") {
        Some(Value::String(s)) => return Some((None, s.clone())),
        Some(m @ (Value::Object(_) | Value::Array(_))) => {
            let mut out = Vec::new();
            field_messages("", m, &mut out);
            if !out.is_empty() {
                return Some((None, out.join("; ")));
            }
        }
        _ => {}
    }
    v.get("msg")
        .and_then(Value::as_str)
        .map(|s| (None, s.to_string()))
}

/// Superset's error answers as one `ApiError`; what is not one of its shapes (HTML from a
/// proxy, a 308 to the slashed path) is read by the shared decoder.
pub fn decode_error(vendor: VendorId, status: u16, headers: &HeaderMap, body: &[u8]) -> ApiError {
    let generic = super::http::decode_error(vendor, status, headers, body);
    if (300..400).contains(&status) {
        return generic;
    }
    let Some((code, message)) = serde_json::from_slice::<Value>(body)
        .ok()
        .as_ref()
        .and_then(error_parts)
    else {
        return generic;
    };
    match generic {
        ApiError::Http {
            vendor,
            status,
            ticket,
            retry_after_ms,
            ..
        } => ApiError::Http {
            vendor,
            status,
            code,
            message: one_line(&message),
            ticket,
            retry_after_ms,
        },
        other => other,
    }
}

/// Messages of Flask-JWT-Extended for a token that can never work (signed with another key,
/// malformed, the wrong type): worth one new login, like an expired one.
const BAD_TOKEN_MESSAGES: &[&str] = &[
    "Signature verification failed",
    "Not enough segments",
    "Only non-refresh tokens are allowed",
    "Invalid header padding",
    "Invalid crypto padding",
    "Invalid payload padding",
];

/// A refused or expired access token: renew it (refresh, else log in) and send again once.
fn needs_new_token(e: &ApiError) -> bool {
    match e.status() {
        Some(401) => true,
        Some(422) => BAD_TOKEN_MESSAGES.iter().any(|m| e.reason() == *m),
        _ => false,
    }
}

/// The server refused the CSRF token or session cookie.
fn is_csrf_refusal(e: &ApiError) -> bool {
    e.status() == Some(400) && e.reason().to_ascii_lowercase().contains("csrf")
}

/// 404 for an object (`{"message":"Not found"}`), not for a route (errors envelope).
fn is_object_missing(e: &ApiError) -> bool {
    e.status() == Some(404) && e.code().is_none()
}

fn setup(message: impl Into<String>) -> ApiError {
    ApiError::Setup {
        vendor: V,
        message: message.into(),
    }
}

fn no_such_kind(kind: Kind) -> ApiError {
    setup(format!(
        "Superset {kind} are not shown by dsconsole (databases are connections, datasets are \
         datasources)"
    ))
}

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

/// Normalise a base URL: `http(s)://` required, query and fragment dropped, a trailing `/`,
/// `/api` or `/api/v1[/...]` cut. A Superset under a sub-path keeps it.
pub fn normalize_base_url(raw: &str) -> Result<String, String> {
    let base = super::http::BaseUrl::parse(raw)?;
    let mut rest = base.rest;
    let host_end = rest.find('/').unwrap_or(rest.len());
    if let Some(at) = rest
        .match_indices("/api/v1")
        .map(|(at, _)| at)
        .filter(|&at| at >= host_end)
        .find(|&at| matches!(rest[at + 7..].chars().next(), None | Some('/')))
    {
        rest = &rest[..at];
    } else if let Some(stripped) = rest.strip_suffix("/api") {
        if stripped.len() >= host_end {
            rest = stripped;
        }
    }
    base.with_rest(rest)
}

/// An id as text: numbers and strings.
fn id_at(v: &Value, pointer: &str) -> Option<String> {
    match v.pointer(pointer)? {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        _ => None,
    }
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// "First Last" of a user object (`created_by`, an owner).
fn person(v: &Value) -> Option<String> {
    let first = str_at(v, "/first_name").unwrap_or("");
    let last = str_at(v, "/last_name").unwrap_or("");
    let name = format!("{first} {last}").trim().to_string();
    if name.is_empty() {
        str_at(v, "/username").map(str::to_string)
    } else {
        Some(name)
    }
}

/// Superset's times: `changed_on_utc` (`+0000`) or naive ISO (`changed_on`, the server's
/// clock, taken as UTC).
pub fn parse_superset_time(s: &str) -> Option<i64> {
    parse_time(s).or_else(|| {
        [
            "%Y-%m-%dT%H:%M:%S%.f",
            "%Y-%m-%dT%H:%M:%S",
            "%Y-%m-%d %H:%M:%S%.f",
        ]
        .iter()
        .find_map(|f| chrono::NaiveDateTime::parse_from_str(s, f).ok())
        .map(|t| t.and_utc().timestamp())
    })
}

/// One database (a list row or an item's `result`) as a connection.
pub fn parse_database(profile: &str, v: &Value) -> Option<Resource> {
    let id = id_at(v, "/id")?;
    let name = str_at(v, "/database_name").unwrap_or(&id).to_string();
    let mut r = Resource::new(V, profile, Kind::Connections, &id, &name);
    r.type_ = str_at(v, "/backend").map(crate::model::intern);
    r.owner = v
        .get("created_by")
        .and_then(person)
        .as_deref()
        .map(crate::model::intern);
    r.updated = str_at(v, "/changed_on").and_then(parse_superset_time);
    r.created = str_at(v, "/created_on").and_then(parse_superset_time);
    r.raw = v.into();
    Some(r)
}

/// One dataset as a datasource: `schema.table` (or the table), its kind (physical or
/// virtual), owners, and its database as what it depends on.
pub fn parse_dataset(profile: &str, v: &Value) -> Option<Resource> {
    let id = id_at(v, "/id")?;
    let table = str_at(v, "/table_name").unwrap_or(&id);
    let name = match str_at(v, "/schema") {
        Some(s) => format!("{s}.{table}"),
        None => table.to_string(),
    };
    let mut r = Resource::new(V, profile, Kind::Datasources, &id, &name);
    r.type_ = str_at(v, "/kind").map(crate::model::intern);
    let owners: Vec<String> = v
        .get("owners")
        .and_then(Value::as_array)
        .map(|l| l.iter().filter_map(person).collect())
        .unwrap_or_default();
    if !owners.is_empty() {
        r.owner = Some(owners.join(", ").into());
    }
    r.updated = str_at(v, "/changed_on_utc")
        .or_else(|| str_at(v, "/changed_on"))
        .and_then(parse_superset_time);
    if let Some(db) = id_at(v, "/database/id") {
        let db_name = str_at(v, "/database/database_name")
            .unwrap_or(&db)
            .to_string();
        r.depends_on.push(Ref {
            kind: Kind::Connections,
            id: db.into(),
            name: db_name.into(),
        });
    }
    r.raw = v.into();
    Some(r)
}

/// A chart list row as "uses dataset N" (only table datasources are datasets).
fn chart_edge(v: &Value) -> Option<OtherEdge> {
    let ds = id_at(v, "/datasource_id")?;
    if str_at(v, "/datasource_type").is_some_and(|t| t != "table") {
        return None;
    }
    let id = id_at(v, "/id")?;
    let name = str_at(v, "/slice_name").unwrap_or(&id).to_string();
    Some(OtherEdge {
        target: (Kind::Datasources, ds),
        user: OtherUser {
            what: "chart".into(),
            id,
            name,
        },
    })
}

// ---------------------------------------------------------------------------------------------
// Client
// ---------------------------------------------------------------------------------------------

/// Superset's own profile settings, parsed from its config keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupersetSettings {
    /// `auth_provider`: "db" (default) or "ldap".
    pub provider: String,
    /// `page_size` (1..=100, default 100).
    pub page_size: u32,
}

impl SupersetSettings {
    pub fn from_options(options: &super::VendorOptions) -> Result<SupersetSettings, String> {
        let provider = match options.text("auth_provider") {
            None => "db".to_string(),
            Some(p) => {
                let p = p.to_ascii_lowercase();
                if p != "db" && p != "ldap" {
                    return Err(format!("auth_provider \"{p}\" is not \"db\" or \"ldap\""));
                }
                p
            }
        };
        let page_size = match options.text("page_size") {
            None => DEFAULT_PAGE_SIZE,
            Some(s) => s
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=100).contains(n))
                .ok_or_else(|| format!("page_size \"{s}\" is not a number from 1 to 100"))?,
        };
        Ok(SupersetSettings {
            provider,
            page_size,
        })
    }
}

/// The tokens of a login.
#[derive(Default)]
struct Tokens {
    access: Option<SecretString>,
    refresh: Option<SecretString>,
    /// Bumped by every new access token, so that concurrent callers renew once.
    generation: u64,
}

/// A CSRF token and the `session` cookie it belongs to.
#[derive(Clone)]
struct CsrfPair {
    token: SecretString,
    /// `session=...` as set with the token (absent: the server set none).
    cookie: Option<SecretString>,
}

#[derive(Default)]
struct CsrfState {
    pair: Option<CsrfPair>,
    /// Fetched at least once (a server without the endpoint leaves `pair` empty).
    fetched: bool,
    generation: u64,
}

/// The items of one list and its paging problems.
#[derive(Debug, Default)]
pub(super) struct Listed {
    pub(super) items: Vec<Value>,
    pub(super) warnings: Vec<String>,
}

/// A Superset client of one profile. Cheap to share (`Arc`); safe to call concurrently.
pub struct SupersetClient {
    http: HttpCore,
    profile: String,
    base: String,
    username: String,
    password: SecretString,
    settings: SupersetSettings,
    tokens: Mutex<Tokens>,
    csrf: Mutex<CsrfState>,
    /// The server refused the `columns` selection: default rows are read.
    plain_lists: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for SupersetClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SupersetClient")
            .field("profile", &self.profile)
            .field("base", &self.base)
            .field("username", &self.username)
            .field("settings", &self.settings)
            .finish()
    }
}

fn bearer(
    vendor_what: &str,
    token: &SecretString,
) -> Result<reqwest::header::HeaderValue, ApiError> {
    sensitive_value(V, vendor_what, &format!("Bearer {}", token.expose_secret()))
}

/// `session=...` from the `Set-Cookie` headers of an answer.
fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .map(str::trim)
        .find(|c| c.starts_with("session="))
        .map(str::to_string)
}

impl SupersetClient {
    /// Build the client. No I/O: the login happens on the first call.
    pub fn new(settings: ClientSettings) -> Result<Self, ApiError> {
        let err = |m: String| setup(format!("profile '{}': {m}", settings.profile));
        let base = normalize_base_url(&settings.base_url).map_err(err)?;
        let own = SupersetSettings::from_options(&settings.options).map_err(err)?;
        let username = settings
            .username
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(str::to_string)
            .ok_or_else(|| err("has no username".into()))?;
        if settings.secret.expose_secret().is_empty() {
            return Err(err("has no password".into()));
        }
        let mut http_settings = settings.clone();
        http_settings.vendor = V;
        // Login and refresh change nothing; a connection test reads the stored password and
        // stores nothing: a read-only profile may send these (the CSRF token is a GET).
        let http = HttpCore::new(
            &http_settings,
            &[
                (Method::POST, LOGIN_PATH),
                (Method::POST, REFRESH_PATH),
                (Method::POST, TEST_CONNECTION_PATH),
            ],
            VENDOR.decode_error,
        )?;
        Ok(SupersetClient {
            http,
            profile: settings.profile,
            base,
            username,
            password: settings.secret,
            settings: own,
            tokens: Mutex::new(Tokens::default()),
            csrf: Mutex::new(CsrfState::default()),
            plain_lists: std::sync::atomic::AtomicBool::new(false),
        })
    }

    fn url(&self, path_and_query: &str) -> String {
        format!("{}{}", self.base, path_and_query)
    }

    /// `POST /api/v1/security/login`: an access and a refresh token.
    async fn login(&self) -> Result<(SecretString, Option<SecretString>), ApiError> {
        let body = json!({
            "username": self.username,
            "password": self.password.expose_secret(),
            "provider": self.settings.provider,
            "refresh": true,
        });
        let req = HttpRequest::new(Method::POST, self.url(LOGIN_PATH)).json(body);
        let resp = self.http.send(req).await?;
        if !resp.is_success() {
            let e = resp.to_error();
            return Err(if e.status() == Some(401) {
                e.append(&format!(
                    "(login of '{}' with provider '{}' refused: check username and password)",
                    self.username, self.settings.provider
                ))
            } else {
                e
            });
        }
        let v: Value = resp.json(V)?;
        let access = str_at(&v, "/access_token").ok_or_else(|| ApiError::Decode {
            vendor: V,
            status: resp.status,
            message: "the login answer has no access_token".into(),
        })?;
        tracing::info!(profile = %self.profile, "Superset: logged in");
        Ok((
            SecretString::from(access.to_string()),
            str_at(&v, "/refresh_token").map(|t| SecretString::from(t.to_string())),
        ))
    }

    /// `POST /api/v1/security/refresh` with the refresh token: a new access token.
    async fn refresh(&self, refresh: &SecretString) -> Result<SecretString, ApiError> {
        let req = HttpRequest::new(Method::POST, self.url(REFRESH_PATH))
            .header(AUTHORIZATION, bearer("refresh token", refresh)?);
        let resp = self.http.send(req).await?.error_for_status()?;
        let v: Value = resp.json(V)?;
        str_at(&v, "/access_token")
            .map(|t| SecretString::from(t.to_string()))
            .ok_or_else(|| ApiError::Decode {
                vendor: V,
                status: resp.status,
                message: "the refresh answer has no access_token".into(),
            })
    }

    /// The current access token, logging in first if there is none.
    async fn access(&self) -> Result<(SecretString, u64), ApiError> {
        let mut t = self.tokens.lock().await;
        if let Some(a) = &t.access {
            return Ok((a.clone(), t.generation));
        }
        let (access, refresh) = self.login().await?;
        t.access = Some(access.clone());
        t.refresh = refresh;
        t.generation += 1;
        Ok((access, t.generation))
    }

    /// After the token of `failed` was refused: refresh it once, else log in again (unless
    /// another caller already renewed it).
    async fn renew(&self, failed: u64) -> Result<SecretString, ApiError> {
        let mut t = self.tokens.lock().await;
        if t.generation != failed {
            if let Some(a) = &t.access {
                return Ok(a.clone());
            }
        }
        t.access = None;
        if let Some(refresh) = t.refresh.clone() {
            match self.refresh(&refresh).await {
                Ok(access) => {
                    tracing::info!(profile = %self.profile, "Superset: access token refreshed");
                    t.access = Some(access.clone());
                    t.generation += 1;
                    return Ok(access);
                }
                Err(e) => {
                    tracing::info!(profile = %self.profile, "Superset: refresh failed ({e}); logging in again");
                    t.refresh = None;
                }
            }
        }
        let (access, refresh) = self.login().await?;
        t.access = Some(access.clone());
        t.refresh = refresh;
        t.generation += 1;
        Ok(access)
    }

    async fn send_once(
        &self,
        method: &Method,
        url: &str,
        body: Option<&Value>,
        access: &SecretString,
        csrf: Option<&CsrfPair>,
    ) -> Result<HttpResponse, ApiError> {
        let mut req = HttpRequest::new(method.clone(), url)
            .header(AUTHORIZATION, bearer("access token", access)?);
        if let Some(c) = csrf {
            req = req.header(
                HeaderName::from_static("x-csrftoken"),
                sensitive_value(V, "CSRF token", c.token.expose_secret())?,
            );
            if let Some(cookie) = &c.cookie {
                req = req.header(
                    COOKIE,
                    sensitive_value(V, "session cookie", cookie.expose_secret())?,
                );
            }
        }
        if *method != Method::GET {
            // Flask-WTF checks the referrer of CSRF-protected requests over HTTPS.
            if let Ok(v) = reqwest::header::HeaderValue::from_str(&format!("{}/", self.base)) {
                req = req.header(REFERER, v);
            }
        }
        if let Some(b) = body {
            req = req.json(b.clone());
        }
        self.http.send(req).await
    }

    /// One authenticated request (any status comes back): a refused token is renewed and
    /// the request sent once more.
    async fn authed(
        &self,
        method: &Method,
        url: &str,
        body: Option<&Value>,
        csrf: Option<&CsrfPair>,
    ) -> Result<HttpResponse, ApiError> {
        let (access, generation) = self.access().await?;
        let resp = self.send_once(method, url, body, &access, csrf).await?;
        if resp.is_success() || !needs_new_token(&resp.to_error()) {
            return Ok(resp);
        }
        tracing::debug!(profile = %self.profile, "Superset: token refused ({}), renewing", resp.status);
        let access = self.renew(generation).await?;
        self.send_once(method, url, body, &access, csrf).await
    }

    /// The CSRF token and cookie, fetched on first use (or again after the token of
    /// `refused` was refused).
    async fn csrf_pair(&self, refused: Option<u64>) -> Result<(Option<CsrfPair>, u64), ApiError> {
        let mut s = self.csrf.lock().await;
        let stale = refused.is_some_and(|g| g == s.generation);
        if s.fetched && !stale {
            return Ok((s.pair.clone(), s.generation));
        }
        let url = self.url(CSRF_PATH);
        let resp = self
            .http
            .retrying(&READS, &Method::GET, &url, || async {
                let r = self.authed(&Method::GET, &url, None, None).await?;
                match r.status {
                    // No such endpoint: a server without CSRF protection (or an old one).
                    404 | 405 => Ok(r),
                    _ => r.error_for_status(),
                }
            })
            .await?;
        let pair = if resp.is_success() {
            let v: Value = resp.json(V)?;
            match str_at(&v, "/result") {
                Some(token) => Some(CsrfPair {
                    token: SecretString::from(token.to_string()),
                    cookie: session_cookie(&resp.headers).map(SecretString::from),
                }),
                None => None,
            }
        } else {
            tracing::info!(profile = %self.profile, "Superset: no CSRF token endpoint (HTTP {}); mutations go without", resp.status);
            None
        };
        s.pair = pair.clone();
        s.fetched = true;
        s.generation += 1;
        Ok((pair, s.generation))
    }

    /// A POST/PUT/DELETE: guarded (refused before anything is sent on a read-only profile),
    /// authenticated, with the CSRF token and cookie; a CSRF refusal fetches a new token
    /// once. Never retried otherwise (the executor decides). Any status comes back.
    async fn mutate(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<Value>,
    ) -> Result<HttpResponse, ApiError> {
        let url = self.url(path_and_query);
        self.http.check_allowed(&method, &url)?;
        let (pair, generation) = self.csrf_pair(None).await?;
        let resp = self
            .authed(&method, &url, body.as_ref(), pair.as_ref())
            .await?;
        if resp.is_success() || !is_csrf_refusal(&resp.to_error()) {
            return Ok(resp);
        }
        tracing::info!(profile = %self.profile, "Superset: CSRF token refused ({}); fetching a new one", resp.to_error());
        let (pair, _) = self.csrf_pair(Some(generation)).await?;
        self.authed(&method, &url, body.as_ref(), pair.as_ref())
            .await
    }

    /// `GET` a JSON body, retried under `READS`.
    pub(super) async fn get_json(&self, path_and_query: &str) -> Result<Value, ApiError> {
        let url = self.url(path_and_query);
        let resp = self
            .http
            .retrying(&READS, &Method::GET, &url, || async {
                self.authed(&Method::GET, &url, None, None)
                    .await?
                    .error_for_status()
            })
            .await?;
        resp.json(V)
    }

    /// Every page of a list (`q=(columns:...,page:N,page_size:S)`, 0-based) until `count`
    /// items were read, an empty page, a page with nothing new, or the page cap. The page
    /// size the server really used does not matter: it pages by its own size. A server that
    /// refuses the `columns` selection (400) is asked for its default rows.
    pub(super) async fn list_all(
        &self,
        path: &str,
        columns: &[&str],
        what: &str,
        mut each_page: impl FnMut(&[Value]),
    ) -> Result<Listed, ApiError> {
        use std::sync::atomic::Ordering;
        let mut out = Listed::default();
        let mut seen: HashSet<String> = HashSet::new();
        let size = self.settings.page_size;
        let mut page: u32 = 0;
        loop {
            if page >= MAX_PAGES {
                out.warnings.push(format!(
                    "the {what} list was cut after {MAX_PAGES} pages; it may be incomplete"
                ));
                break;
            }
            let plain = self.plain_lists.load(Ordering::Relaxed);
            let rison = page_rison((!plain).then_some(columns), page, size);
            let body = match self.get_json(&format!("{path}{}", q_param(&rison))).await {
                Err(e) if !plain && e.status() == Some(400) => {
                    tracing::info!(profile = %self.profile, "Superset: list columns refused ({e}); reading default rows");
                    self.plain_lists.store(true, Ordering::Relaxed);
                    continue;
                }
                other => other?,
            };
            let rows = body
                .get("result")
                .and_then(Value::as_array)
                .ok_or_else(|| ApiError::Decode {
                    vendor: V,
                    status: 200,
                    message: format!(
                        "GET {path} page {page}: expected an object with a 'result' array"
                    ),
                })?;
            let count = body.get("count").and_then(Value::as_u64);
            let mut fresh = Vec::new();
            for row in rows {
                match id_at(row, "/id") {
                    Some(id) => {
                        if seen.insert(id) {
                            fresh.push(row.clone());
                        }
                    }
                    None => out
                        .warnings
                        .push(format!("a {what} without an id was skipped")),
                }
            }
            each_page(&fresh);
            let new = fresh.len();
            out.items.extend(fresh);
            let done = match count {
                Some(c) => out.items.len() as u64 >= c,
                None => rows.is_empty(),
            };
            if rows.is_empty() || done {
                if let Some(c) = count {
                    if (out.items.len() as u64) < c {
                        out.warnings.push(format!(
                            "the {what} list said {c} but gave {} (it changed while read?)",
                            out.items.len()
                        ));
                    }
                }
                break;
            }
            if new == 0 {
                out.warnings.push(format!(
                    "page {page} of the {what} list repeated earlier items; paging stopped, the \
                     list may be incomplete"
                ));
                break;
            }
            page += 1;
        }
        Ok(out)
    }

    /// The masked URI of a database (`GET .../connection`) and what a test needs of it.
    async fn connection_of(&self, id: &str) -> Result<Value, ApiError> {
        let v = self
            .get_json(&format!("{}/connection", database_path(id)))
            .await?;
        v.get("result")
            .filter(|r| r.is_object())
            .cloned()
            .ok_or_else(|| ApiError::Decode {
                vendor: V,
                status: 200,
                message: format!("GET {}/connection: no 'result' object", database_path(id)),
            })
    }

    /// Put each database's masked URI into its raw JSON (bounded; failures leave it out).
    async fn fill_uris(&self, resources: &mut [Resource]) {
        let ids: Vec<(usize, String)> = resources
            .iter()
            .enumerate()
            .filter(|(_, r)| r.kind == Kind::Connections)
            .map(|(i, r)| (i, r.id.to_string()))
            .collect();
        if ids.len() > URI_FETCH_LIMIT {
            tracing::info!(profile = %self.profile, "Superset: {} databases: URIs are read one by one on demand", ids.len());
            return;
        }
        let results: Vec<(usize, Result<Value, ApiError>)> = futures::stream::iter(ids)
            .map(|(i, id)| async move { (i, self.connection_of(&id).await) })
            .buffer_unordered(URI_CONCURRENCY)
            .collect()
            .await;
        for (i, r) in results {
            match r {
                Ok(conn) => {
                    if let Some(uri) = conn.get("sqlalchemy_uri").filter(|u| u.is_string()) {
                        let mut raw = resources[i].raw.value();
                        raw["sqlalchemy_uri"] = json!(mask_uri(uri.as_str().unwrap_or("")));
                        resources[i].raw = raw.into();
                    }
                }
                Err(e) => {
                    tracing::debug!(profile = %self.profile, "Superset: URI of database {} not read: {e}", resources[i].id)
                }
            }
        }
    }

    async fn do_load(&self, pages: Option<super::PageSink>) -> Result<Snapshot, ApiError> {
        let profile = self.profile.clone();
        let send = |kind: Kind, rows: &[Value]| {
            if let Some(sink) = &pages {
                let parsed: Vec<Resource> = rows
                    .iter()
                    .filter_map(|v| match kind {
                        Kind::Connections => parse_database(&profile, v),
                        _ => parse_dataset(&profile, v),
                    })
                    .collect();
                if !parsed.is_empty() {
                    let _ = sink.send(parsed);
                }
            }
        };
        let (dbs, dss, charts) = futures::join!(
            self.list_all(DATABASES_PATH, DATABASE_COLUMNS, "database", |rows| send(
                Kind::Connections,
                rows
            )),
            self.list_all(DATASETS_PATH, DATASET_COLUMNS, "dataset", |rows| send(
                Kind::Datasources,
                rows
            )),
            self.list_all(CHARTS_PATH, CHART_COLUMNS, "chart", |_| {}),
        );
        let (dbs, dss) = (dbs?, dss?);
        let mut warnings: Vec<String> = Vec::new();
        warnings.extend(dbs.warnings.iter().cloned());
        warnings.extend(dss.warnings.iter().cloned());
        let mut resources: Vec<Resource> = dbs
            .items
            .iter()
            .filter_map(|v| parse_database(&self.profile, v))
            .chain(
                dss.items
                    .iter()
                    .filter_map(|v| parse_dataset(&self.profile, v)),
            )
            .collect();
        let mut unknown = Vec::new();
        let edges = match charts {
            Ok(c) => {
                warnings.extend(c.warnings);
                c.items.iter().filter_map(chart_edge).collect()
            }
            Err(e) => {
                warnings.push(format!(
                    "charts could not be listed, so which datasets charts use is unknown: {e}"
                ));
                unknown.push(Kind::Datasources);
                Vec::new()
            }
        };
        self.fill_uris(&mut resources).await;
        link_graph(&mut resources, SPEC.orphan_kinds, edges, &unknown);
        Ok(Snapshot {
            resources,
            warnings: warnings
                .iter()
                .map(|w| crate::model::printable(&format!("{}: {w}", self.profile)).into_owned())
                .collect(),
        })
    }

    async fn do_get(&self, target: &Ref) -> Result<Resource, ApiError> {
        match target.kind {
            Kind::Connections => {
                let v = self.get_json(&database_path(&target.id)).await?;
                let mut item = v.get("result").cloned().unwrap_or(Value::Null);
                if !item.is_object() {
                    return Err(ApiError::Decode {
                        vendor: V,
                        status: 200,
                        message: "the database answer has no 'result' object".into(),
                    });
                }
                if item.get("id").is_none() {
                    item["id"] = v.get("id").cloned().unwrap_or(json!(target.id));
                }
                if let Ok(conn) = self.connection_of(&target.id).await {
                    if let Some(uri) = conn.get("sqlalchemy_uri").and_then(Value::as_str) {
                        item["sqlalchemy_uri"] = json!(mask_uri(uri));
                    }
                }
                parse_database(&self.profile, &item).ok_or_else(|| ApiError::Decode {
                    vendor: V,
                    status: 200,
                    message: "the database has no id".into(),
                })
            }
            Kind::Datasources => {
                let mut cols: Vec<&str> = DATASET_COLUMNS.to_vec();
                cols.push("sql");
                let rison = format!("(columns:!({}))", cols.join(","));
                let v = self
                    .get_json(&format!("{}{}", dataset_path(&target.id), q_param(&rison)))
                    .await?;
                let mut item = v.get("result").cloned().unwrap_or(Value::Null);
                if !item.is_object() {
                    return Err(ApiError::Decode {
                        vendor: V,
                        status: 200,
                        message: "the dataset answer has no 'result' object".into(),
                    });
                }
                if item.get("id").is_none() {
                    item["id"] = v.get("id").cloned().unwrap_or(json!(target.id));
                }
                parse_dataset(&self.profile, &item).ok_or_else(|| ApiError::Decode {
                    vendor: V,
                    status: 200,
                    message: "the dataset has no id".into(),
                })
            }
            other => Err(no_such_kind(other)),
        }
    }

    /// Re-create a deleted object: a database through `create` (the password put into its
    /// URI), a dataset with `POST /api/v1/dataset/` on its database, then read back.
    async fn do_recreate(&self, kind: Kind, body: Value) -> Result<Resource, ApiError> {
        if kind != Kind::Datasources {
            return self.do_create(kind, body).await;
        }
        self.http
            .check_allowed(&Method::POST, &self.url(DATASETS_PATH))?;
        let resp = self
            .mutate(Method::POST, DATASETS_PATH, Some(body))
            .await?
            .error_for_status()?;
        let v: Value = resp.json(V)?;
        let id = id_at(&v, "/id").ok_or_else(|| ApiError::Decode {
            vendor: V,
            status: resp.status,
            message: "the create answer has no id".into(),
        })?;
        self.do_get(&Ref {
            kind,
            id: id.clone().into(),
            name: id.into(),
        })
        .await
    }

    async fn do_delete(&self, target: &Ref) -> Result<DeleteOutcome, ApiError> {
        let path = match target.kind {
            Kind::Connections => database_path(&target.id),
            Kind::Datasources => dataset_path(&target.id),
            other => return Err(no_such_kind(other)),
        };
        let resp = self.mutate(Method::DELETE, &path, None).await?;
        if resp.is_success() {
            return resp.expect_delete_ack(V).map(|()| DeleteOutcome::Deleted);
        }
        let e = resp.to_error();
        if is_object_missing(&e) {
            tracing::info!(profile = %self.profile, kind = %target.kind, id = %target.id, "Superset: already gone");
            return Ok(DeleteOutcome::AlreadyGone);
        }
        Err(e)
    }

    /// Datasets in one `DELETE /api/v1/dataset/?q=!(ids)`. The server deletes all or none:
    /// on a 404 (one of them is gone) each is looked up, the gone ones are reported as
    /// such and the rest deleted in one more request; a 403 (ownership is checked per
    /// dataset) falls back to one delete each, so each gets its own answer.
    async fn delete_datasets(
        &self,
        targets: &[Ref],
        again: bool,
    ) -> Vec<Result<DeleteOutcome, ApiError>> {
        if targets.len() == 1 || targets.iter().any(|t| t.id.parse::<u64>().is_err()) {
            return self.delete_singly(targets).await;
        }
        let ids: Vec<&str> = targets.iter().map(|t| t.id.as_str()).collect();
        let path = format!(
            "{DATASETS_PATH}{}",
            q_param(&format!("!({})", ids.join(",")))
        );
        let resp = match self.mutate(Method::DELETE, &path, None).await {
            Ok(r) => r,
            Err(e) => return targets.iter().map(|_| Err(e.clone())).collect(),
        };
        if resp.is_success() {
            return match resp.expect_delete_ack(V) {
                Ok(()) => targets.iter().map(|_| Ok(DeleteOutcome::Deleted)).collect(),
                Err(e) => targets.iter().map(|_| Err(e.clone())).collect(),
            };
        }
        let e = resp.to_error();
        match e.status() {
            Some(404) if is_object_missing(&e) && !again => {
                let mut out: Vec<Option<Result<DeleteOutcome, ApiError>>> =
                    targets.iter().map(|_| None).collect();
                let mut present = Vec::new();
                for (i, t) in targets.iter().enumerate() {
                    match self.get_json(&dataset_path(&t.id)).await {
                        Err(ge) if is_object_missing(&ge) => {
                            out[i] = Some(Ok(DeleteOutcome::AlreadyGone));
                        }
                        Ok(_) => present.push(i),
                        // Unknown: its own delete settles it (404 there means gone).
                        Err(_) => present.push(i),
                    }
                }
                let refs: Vec<Ref> = present.iter().map(|&i| targets[i].clone()).collect();
                if !refs.is_empty() {
                    let results = Box::pin(self.delete_datasets(&refs, true)).await;
                    for (&i, r) in present.iter().zip(results) {
                        out[i] = Some(r);
                    }
                }
                out.into_iter()
                    .map(|r| r.unwrap_or_else(|| Err(setup("internal error: no delete result"))))
                    .collect()
            }
            Some(403 | 404) => self.delete_singly(targets).await,
            _ => targets.iter().map(|_| Err(e.clone())).collect(),
        }
    }

    async fn delete_singly(&self, targets: &[Ref]) -> Vec<Result<DeleteOutcome, ApiError>> {
        let mut out = Vec::with_capacity(targets.len());
        for t in targets {
            out.push(self.do_delete(t).await);
        }
        out
    }

    async fn do_delete_batch(&self, targets: Vec<Ref>) -> Vec<Result<DeleteOutcome, ApiError>> {
        let mut out: Vec<Option<Result<DeleteOutcome, ApiError>>> =
            targets.iter().map(|_| None).collect();
        let datasets: Vec<usize> = (0..targets.len())
            .filter(|&i| targets[i].kind == Kind::Datasources)
            .collect();
        for chunk in datasets.chunks(BULK_LIMIT) {
            let refs: Vec<Ref> = chunk.iter().map(|&i| targets[i].clone()).collect();
            for (&i, r) in chunk.iter().zip(self.delete_datasets(&refs, false).await) {
                out[i] = Some(r);
            }
        }
        // No bulk route for databases: one by one.
        for (i, t) in targets.iter().enumerate() {
            if out[i].is_none() {
                out[i] = Some(self.do_delete(t).await);
            }
        }
        out.into_iter()
            .map(|r| r.unwrap_or_else(|| Err(setup("internal error: no delete result"))))
            .collect()
    }

    /// The user ids of `who`: comma-separated ids, usernames, emails or "First Last" names,
    /// each resolved through the dataset owners' related list (what the owner picker of
    /// Superset offers), else the security API's users.
    async fn resolve_owners(&self, who: &str) -> Result<Vec<u64>, ApiError> {
        let mut ids = Vec::new();
        for token in who.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            if let Ok(id) = token.parse::<u64>() {
                ids.push(id);
                continue;
            }
            ids.push(self.resolve_owner(token).await?);
        }
        if ids.is_empty() {
            return Err(setup("give at least one owner"));
        }
        ids.dedup();
        Ok(ids)
    }

    async fn resolve_owner(&self, token: &str) -> Result<u64, ApiError> {
        let rison = format!("(filter:{},page:0,page_size:100)", rison_string(token));
        let mut matches: Vec<u64> = Vec::new();
        match self
            .get_json(&format!("{OWNERS_PATH}{}", q_param(&rison)))
            .await
        {
            Ok(v) => {
                for item in v
                    .get("result")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let text = str_at(item, "/text").unwrap_or("");
                    let email = str_at(item, "/extra/email").unwrap_or("");
                    if text.eq_ignore_ascii_case(token) || email.eq_ignore_ascii_case(token) {
                        if let Some(id) = item.get("value").and_then(Value::as_u64) {
                            matches.push(id);
                        }
                    }
                }
            }
            Err(e) => tracing::debug!(profile = %self.profile, "Superset: owner list: {e}"),
        }
        if matches.is_empty() {
            // Usernames: the security API (when the server exposes it).
            let rison = format!(
                "(filters:!((col:username,opr:eq,value:{})),page:0,page_size:10)",
                rison_string(token)
            );
            if let Ok(v) = self
                .get_json(&format!("{USERS_PATH}{}", q_param(&rison)))
                .await
            {
                for item in v
                    .get("result")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let Some(id) = item.get("id").and_then(Value::as_u64) {
                        matches.push(id);
                    }
                }
            }
        }
        matches.sort_unstable();
        matches.dedup();
        match matches.as_slice() {
            [one] => Ok(*one),
            [] => Err(setup(format!(
                "no Superset user is named '{token}' (give a user id, username, email or \
                 'First Last')"
            ))),
            many => Err(setup(format!(
                "'{token}' names {} Superset users; give the user id ({})",
                many.len(),
                many.iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    /// A database: `PUT` the changed fields (the server tests the connection first and
    /// changes nothing when that fails); a dataset: `PUT` its owners. Then the object as
    /// the server has it now.
    async fn do_update(&self, target: &Ref, change: &Change) -> Result<Resource, ApiError> {
        let (path, body) = match target.kind {
            Kind::Connections => {
                let path = database_path(&target.id);
                self.http.check_allowed(&Method::PUT, &self.url(&path))?;
                let needs_uri =
                    change.get("password").is_some() || change.get("sqlalchemy_uri").is_some();
                let current = if needs_uri {
                    self.connection_of(&target.id)
                        .await
                        .ok()
                        .and_then(|c| str_at(&c, "/sqlalchemy_uri").map(str::to_string))
                } else {
                    None
                };
                let body = database_update_body(change, current.as_deref()).map_err(setup)?;
                (path, body)
            }
            Kind::Datasources => {
                let path = dataset_path(&target.id);
                self.http.check_allowed(&Method::PUT, &self.url(&path))?;
                if let Some(c) = change.fields.iter().find(|c| c.field != "owner") {
                    return Err(setup(format!(
                        "Superset datasets can change their owners here, not '{}'",
                        c.field
                    )));
                }
                let who = change
                    .text("owner")
                    .ok_or_else(|| setup("nothing to change"))?;
                let ids = self.resolve_owners(who).await?;
                (path, json!({ "owners": ids }))
            }
            other => return Err(no_such_kind(other)),
        };
        self.mutate(Method::PUT, &path, Some(body))
            .await?
            .error_for_status()?;
        self.do_get(target).await
    }

    async fn do_create(&self, kind: Kind, body: Value) -> Result<Resource, ApiError> {
        if kind != Kind::Connections {
            return Err(setup(format!(
                "dsconsole creates Superset databases only (create {kind} in Superset)"
            )));
        }
        self.http
            .check_allowed(&Method::POST, &self.url(DATABASES_PATH))?;
        let wire = create_body(&body).map_err(setup)?;
        let resp = self
            .mutate(Method::POST, DATABASES_PATH, Some(wire))
            .await?
            .error_for_status()?;
        let v: Value = resp.json(V)?;
        let id = id_at(&v, "/id").ok_or_else(|| ApiError::Decode {
            vendor: V,
            status: resp.status,
            message: "the create answer has no id".into(),
        })?;
        let name = str_at(&v, "/result/database_name")
            .unwrap_or("")
            .to_string();
        match self
            .do_get(&Ref {
                kind,
                id: id.clone().into(),
                name: name.into(),
            })
            .await
        {
            Ok(r) => Ok(r),
            Err(_) => {
                let mut item = v.get("result").cloned().unwrap_or(json!({}));
                item["id"] = json!(id);
                parse_database(&self.profile, &item).ok_or_else(|| ApiError::Decode {
                    vendor: V,
                    status: resp.status,
                    message: "the created database could not be read".into(),
                })
            }
        }
    }

    /// Test a stored database: its masked URI (`/connection`) and name go to
    /// `POST .../test_connection/`; the server fills in the stored password. Seen on 6.1.0:
    /// a wrong stored password answers 400 `CONNECTION_INVALID_PASSWORD_ERROR` "The password
    /// provided for username "dsc" is incorrect." (issue 1013; the reference quotes "Either
    /// the username ... or the password is incorrect."), a closed port 400
    /// `GENERIC_DB_ENGINE_ERROR` with psycopg2's text (issue 1002). A PUT with only
    /// `database_name` or a switch (no URI) is accepted.
    async fn do_test(&self, id: &str) -> Result<(), ApiError> {
        // Refused on a read-only profile? No: the test stores nothing (allowed write).
        self.http
            .check_allowed(&Method::POST, &self.url(TEST_CONNECTION_PATH))?;
        let conn = self.connection_of(id).await?;
        let mut body = serde_json::Map::new();
        for key in [
            "database_name",
            "sqlalchemy_uri",
            "extra",
            "impersonate_user",
            "server_cert",
            "masked_encrypted_extra",
            "ssh_tunnel",
        ] {
            match conn.get(key) {
                None | Some(Value::Null) => {}
                Some(v) => {
                    body.insert(key.into(), v.clone());
                }
            }
        }
        if !body.contains_key("sqlalchemy_uri") {
            return Err(ApiError::Decode {
                vendor: V,
                status: 200,
                message: format!("database {id}: its connection has no sqlalchemy_uri"),
            });
        }
        self.mutate(
            Method::POST,
            TEST_CONNECTION_PATH,
            Some(Value::Object(body)),
        )
        .await?
        .error_for_status()
        .map(|_| ())
    }
}

impl VendorApi for SupersetClient {
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

    fn bulk_limit(&self) -> usize {
        BULK_LIMIT
    }

    fn delete_batch(
        &self,
        targets: Vec<Ref>,
    ) -> BoxFuture<'_, Vec<Result<DeleteOutcome, ApiError>>> {
        Box::pin(self.do_delete_batch(targets))
    }

    fn create(&self, kind: Kind, body: Value) -> BoxFuture<'_, Result<Resource, ApiError>> {
        Box::pin(self.do_create(kind, body))
    }

    fn update(&self, target: Ref, change: Change) -> BoxFuture<'_, Result<Resource, ApiError>> {
        Box::pin(async move { self.do_update(&target, &change).await })
    }

    /// A database (as `create`) or a dataset on its database.
    fn recreate(
        &self,
        kind: Kind,
        container: Option<String>,
        body: Value,
    ) -> BoxFuture<'_, Result<Resource, ApiError>> {
        drop(container);
        Box::pin(self.do_recreate(kind, body))
    }

    fn test_connection(&self, id: String) -> BoxFuture<'_, Result<(), ApiError>> {
        Box::pin(async move { self.do_test(&id).await })
    }

    /// A database's health check is its connection test; 400 and 422 are the server's
    /// verdict (wrong password, unreachable host, missing driver), anything else means the
    /// test could not run.
    fn check_health(&self, target: Ref) -> BoxFuture<'_, Result<HealthCheck, ApiError>> {
        Box::pin(async move {
            if target.kind != Kind::Connections {
                return Ok(HealthCheck::NotOffered);
            }
            let check = CheckKind::ConnectionTest;
            match self.do_test(&target.id).await {
                Ok(()) => Ok(HealthCheck::Passed {
                    check,
                    detail: None,
                }),
                Err(e) if matches!(e.status(), Some(400 | 422)) && !needs_new_token(&e) => {
                    Ok(HealthCheck::Failed {
                        check,
                        reason: e.reason(),
                    })
                }
                Err(e) => Err(e),
            }
        })
    }

    /// Charts and dashboards from `related_objects`.
    fn impact(&self, target: crate::impact::ImpactTarget) -> BoxFuture<'_, crate::impact::Impact> {
        Box::pin(super::superset_impact::impact(self, target))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    #[test]
    fn every_error_shape_is_one_sentence() {
        let h = HeaderMap::new();
        let d = |status: u16, body: &str| decode_error(V, status, &h, body.as_bytes());
        let e = d(
            422,
            r#"{"message":"Cannot delete a database that has datasets attached"}"#,
        );
        assert_eq!(
            e.reason(),
            "Cannot delete a database that has datasets attached"
        );
        assert_eq!(e.code(), None);
        let e = d(
            422,
            r#"{"message":{"database_name":"A database with the same name already exists."}}"#,
        );
        assert_eq!(
            e.reason(),
            "database_name: A database with the same name already exists."
        );
        let e = d(422, r#"{"message":{"owners":["Owners are invalid"]}}"#);
        assert_eq!(e.reason(), "owners: Owners are invalid");
        let e = d(
            400,
            r#"{"message":{"provider":["Alternative authentication provider is not allowed"],"x":["a","b"]}}"#,
        );
        assert_eq!(
            e.reason(),
            "provider: Alternative authentication provider is not allowed; x: a b"
        );
        let e = d(401, r#"{"msg":"Token has expired"}"#);
        assert_eq!(e.reason(), "Token has expired");
        assert!(needs_new_token(&e));
        let e = d(422, r#"{"msg":"Signature verification failed"}"#);
        assert!(needs_new_token(&e));
        let e = d(422, r#"{"message":{"owners":["Owners are invalid"]}}"#);
        assert!(!needs_new_token(&e));
        let e = d(
            400,
            r#"{"errors":[{"message":"400 Bad Request: The CSRF token is missing.","error_type":"GENERIC_BACKEND_ERROR","level":"error","extra":{"issue_codes":[{"code":1011,"message":"Issue 1011 - Superset encountered an unexpected error."}]}}]}"#,
        );
        assert_eq!(e.code(), Some("GENERIC_BACKEND_ERROR"));
        assert_eq!(e.reason(), "The CSRF token is missing. (issue 1011)");
        assert!(is_csrf_refusal(&e));
        let e = d(
            400,
            r#"{"errors":[{"message":"Either the username \"dsc\" or the password is incorrect.","error_type":"CONNECTION_INVALID_PASSWORD_ERROR","level":"error","extra":{"engine_name":"PostgreSQL","invalid":["username","password"],"issue_codes":[{"code":1013,"message":"x"},{"code":1014,"message":"y"}]}}]}"#,
        );
        assert_eq!(e.code(), Some("CONNECTION_INVALID_PASSWORD_ERROR"));
        assert_eq!(
            e.reason(),
            "Either the username \"dsc\" or the password is incorrect. (issues 1013, 1014)"
        );
        let e = d(
            429,
            r#"{"errors":[{"message":"429 Too Many Requests: 50 per 1 second","error_type":"GENERIC_BACKEND_ERROR","level":"error","extra":{"issue_codes":[{"code":1011,"message":"m"}]}}]}"#,
        );
        assert!(e.is_transient());
        assert_eq!(e.reason(), "50 per 1 second (issue 1011)");
        // Object vs route 404.
        assert!(is_object_missing(&d(404, r#"{"message":"Not found"}"#)));
        assert!(!is_object_missing(&d(
            404,
            r#"{"errors":[{"message":"404 Not Found: The requested URL was not found on the server.","error_type":"GENERIC_BACKEND_ERROR","level":"error","extra":{"issue_codes":[]}}]}"#
        )));
        // HTML (a 308 page, a proxy) goes to the shared decoder.
        let e = d(502, "<html><title>Bad gateway</title></html>");
        assert!(e.reason().contains("Bad gateway"), "{e}");
    }

    #[test]
    fn passwords_go_into_uris_encoded_and_are_masked_on_screen() {
        let masked = "postgresql://dsc:XXXXXXXXXX@127.0.0.1:54329/shop";
        assert_eq!(
            insert_password(masked, "p@ss:w/rd!").unwrap(),
            "postgresql://dsc:p%40ss%3Aw%2Frd%21@127.0.0.1:54329/shop"
        );
        assert_eq!(
            insert_password("postgresql+psycopg2://dsc@db/shop?sslmode=require", "x y").unwrap(),
            "postgresql+psycopg2://dsc:x%20y@db/shop?sslmode=require"
        );
        assert!(insert_password("sqlite:////tmp/x.db", "p").is_err());
        assert!(insert_password("postgresql://db.example.com/shop", "p").is_err());
        assert_eq!(uri_password(masked), Some(PASSWORD_MASK));
        assert_eq!(uri_password("postgresql://dsc@db/shop"), None);
        assert_eq!(
            mask_uri("postgresql://dsc:hunter2@db/shop"),
            "postgresql://dsc:XXXXXXXXXX@db/shop"
        );
        assert_eq!(mask_uri(masked), masked);
        assert_eq!(mask_uri("sqlite:////a@b/x.db"), "sqlite:////a@b/x.db");
    }

    #[test]
    fn database_changes_become_put_bodies() {
        let masked = "postgresql://dsc:XXXXXXXXXX@db:5432/shop";
        let secret = |s: &str| FieldValue::Secret(SecretString::from(s.to_string()));
        // Rotation: the new password in place of the mask.
        let c = Change::default().set("password", secret("n3w/pw"));
        assert_eq!(
            database_update_body(&c, Some(masked)).unwrap(),
            json!({"sqlalchemy_uri": "postgresql://dsc:n3w%2Fpw@db:5432/shop"})
        );
        assert!(database_update_body(&c, None).is_err());
        // A new URI without a password keeps the stored one (the mask goes in).
        let c = Change::default().set(
            "sqlalchemy_uri",
            FieldValue::Text("postgresql://dsc@db2:5432/shop".into()),
        );
        assert_eq!(
            database_update_body(&c, Some(masked)).unwrap(),
            json!({"sqlalchemy_uri": "postgresql://dsc:XXXXXXXXXX@db2:5432/shop"})
        );
        // Rename and flags.
        let c = Change::default()
            .set("name", FieldValue::Text(" sales ".into()))
            .set("allow_dml", FieldValue::Text("yes".into()))
            .set("expose_in_sqllab", FieldValue::Text("false".into()));
        assert_eq!(
            database_update_body(&c, None).unwrap(),
            json!({"database_name": "sales", "allow_dml": true, "expose_in_sqllab": false})
        );
        let c = Change::default().set("allow_dml", FieldValue::Text("maybe".into()));
        assert!(database_update_body(&c, None).is_err());
        let c = Change::default().set("owner", FieldValue::Text("1".into()));
        assert!(database_update_body(&c, None).is_err());
        // The debug of a change never shows the password.
        let c = Change::default().set("password", secret("hunter2"));
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn create_bodies_carry_the_password_in_the_uri_only() {
        let form = create_form(Kind::Connections, &[]).unwrap();
        assert!(create_form(Kind::Datasources, &[]).is_none());
        let body = (form.build)(&[
            json!("sc-db"),
            json!("postgresql://dsc@127.0.0.1:54329/shop"),
            json!("s3cr:t"),
            json!(true),
            Value::Null,
        ])
        .unwrap();
        assert_eq!(body["password"], "s3cr:t");
        let wire = create_body(&body).unwrap();
        assert_eq!(
            wire,
            json!({"database_name": "sc-db",
                "sqlalchemy_uri": "postgresql://dsc:s3cr%3At@127.0.0.1:54329/shop",
                "expose_in_sqllab": true, "allow_dml": false})
        );
        assert!((form.build)(&[json!("x"), json!("nouri")]).is_err());
    }

    #[test]
    fn rison_queries_are_quoted_and_encoded() {
        assert_eq!(rison_string("it's!"), "'it!'s!!'");
        assert_eq!(
            q_param("(filter:'Ad Min',page:0)"),
            "?q=(filter:%27Ad%20Min%27,page:0)"
        );
        assert_eq!(
            page_rison(Some(&["id", "owners.id"]), 2, 25),
            "(columns:!(id,owners.id),page:2,page_size:25)"
        );
    }

    #[test]
    fn rows_become_resources() {
        let db = json!({"id": 2, "database_name": "demo-pg", "backend": "postgresql",
            "created_by": {"first_name": "Ad", "last_name": "Min"},
            "changed_on": "2026-12-04T16:52:01.780692", "allow_dml": true, "expose_in_sqllab": true,
            "sqlalchemy_uri": "postgresql://u:XXXXXXXXXX@h/db"});
        let r = parse_database("p", &db).unwrap();
        assert_eq!((r.id.as_str(), r.name.as_str()), ("2", "demo-pg"));
        assert_eq!(r.owner.as_deref(), Some("Ad Min"));
        assert_eq!(r.type_.as_deref(), Some("postgresql"));
        assert!(r.updated.is_some());
        let ctx = CellCtx { now: 0 };
        assert_eq!(db_flags(&r, &ctx).text, "DML, SQL Lab");
        assert_eq!(db_uri(&r, &ctx).text, "postgresql://u:XXXXXXXXXX@h/db");
        let ds = json!({"id": 7, "table_name": "orders", "schema": "public", "kind": "physical",
            "database": {"id": 2, "database_name": "demo-pg"},
            "owners": [{"id": 1, "first_name": "Ad", "last_name": "Min"}, {"id": 3, "first_name": "Bo", "last_name": ""}],
            "changed_on_utc": "2026-12-04T16:52:30.790995+0000"});
        let r = parse_dataset("p", &ds).unwrap();
        assert_eq!(r.name, "public.orders");
        assert_eq!(r.owner.as_deref(), Some("Ad Min, Bo"));
        assert_eq!(r.depends_on[0].id, "2");
        assert_eq!(r.updated, Some(1796403150));
        let chart =
            json!({"id": 5, "slice_name": "Sales", "datasource_id": 7, "datasource_type": "table"});
        assert_eq!(
            chart_edge(&chart).unwrap().target,
            (Kind::Datasources, "7".into())
        );
        assert!(chart_edge(&json!({"id": 6, "datasource_id": null})).is_none());
    }

    #[test]
    fn settings_and_base_urls() {
        let s = |k: &str, v: &str| {
            let mut o = super::super::VendorOptions::default();
            o.set_value(k, v);
            SupersetSettings::from_options(&o)
        };
        assert_eq!(s("auth_provider", "LDAP").unwrap().provider, "ldap");
        assert!(s("auth_provider", "oauth").is_err());
        assert_eq!(s("page_size", "5").unwrap().page_size, 5);
        assert!(s("page_size", "500").is_err());
        let n = |u: &str| normalize_base_url(u).unwrap();
        assert_eq!(n("http://127.0.0.1:8088/"), "http://127.0.0.1:8088");
        assert_eq!(n("http://h:8088/api/v1/database/"), "http://h:8088");
        assert_eq!(n("https://h/superset/api"), "https://h/superset");
        let no_user = ClientSettings::new("p", V, "http://h", SecretString::from("pw"));
        assert!(SupersetClient::new(no_user).is_err());
    }

    /// A tiny Superset stand-in for the session logic: tokens that expire on command, a
    /// refresh that can be refused, a CSRF token that can go stale.
    #[cfg(feature = "sim")]
    mod session {
        use super::*;
        use axum::extract::State;
        use axum::http::{HeaderMap as AxHeaders, StatusCode};
        use axum::response::{IntoResponse, Response};
        use axum::routing::{delete, get, post};
        use axum::{Json, Router};
        use std::sync::{Arc, Mutex as StdMutex};

        #[derive(Default)]
        struct Stub {
            next: u32,
            valid: Vec<String>,
            refresh_ok: bool,
            logins: u32,
            refreshes: u32,
            csrf: String,
            csrf_fetches: u32,
            deletes: Vec<String>,
        }
        type S = Arc<StdMutex<Stub>>;

        fn bearer_of(h: &AxHeaders) -> String {
            h.get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .unwrap_or("")
                .to_string()
        }

        fn issue(s: &mut Stub) -> String {
            s.next += 1;
            let t = format!("a{}", s.next);
            s.valid.push(t.clone());
            t
        }

        fn expired() -> Response {
            (
                StatusCode::UNAUTHORIZED,
                Json(json!({"msg": "Token has expired"})),
            )
                .into_response()
        }

        async fn login(State(s): State<S>, Json(b): Json<Value>) -> Response {
            let mut s = s.lock().unwrap();
            if b["provider"] != "db" || b["password"] != "pw" || b["refresh"] != true {
                return (
                    StatusCode::UNAUTHORIZED,
                    Json(json!({"message": "Not authorized"})),
                )
                    .into_response();
            }
            s.logins += 1;
            let a = issue(&mut s);
            Json(json!({"access_token": a, "refresh_token": "r1"})).into_response()
        }

        async fn refresh(State(s): State<S>, h: AxHeaders) -> Response {
            let mut s = s.lock().unwrap();
            s.refreshes += 1;
            if !s.refresh_ok || bearer_of(&h) != "r1" {
                return expired();
            }
            let a = issue(&mut s);
            Json(json!({"access_token": a})).into_response()
        }

        async fn list(State(s): State<S>, h: AxHeaders) -> Response {
            let s = s.lock().unwrap();
            if !s.valid.contains(&bearer_of(&h)) {
                return expired();
            }
            Json(json!({"count": 1, "ids": [1], "result": [{"id": 1, "database_name": "db1", "table_name": "t"}]}))
                .into_response()
        }

        async fn csrf(State(s): State<S>, h: AxHeaders) -> Response {
            let mut s = s.lock().unwrap();
            if !s.valid.contains(&bearer_of(&h)) {
                return expired();
            }
            s.csrf_fetches += 1;
            s.csrf = format!("c{}", s.csrf_fetches);
            let cookie = format!(
                "session=s{}; HttpOnly; Path=/; SameSite=Lax",
                s.csrf_fetches
            );
            (
                [("set-cookie", cookie)],
                Json(json!({"result": s.csrf.clone()})),
            )
                .into_response()
        }

        async fn del(
            State(s): State<S>,
            h: AxHeaders,
            axum::extract::Path(id): axum::extract::Path<String>,
        ) -> Response {
            let mut s = s.lock().unwrap();
            if !s.valid.contains(&bearer_of(&h)) {
                return expired();
            }
            let token = h
                .get("x-csrftoken")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let cookie = h.get("cookie").and_then(|v| v.to_str().ok()).unwrap_or("");
            let want_cookie = format!("session=s{}", s.csrf_fetches);
            if s.csrf.is_empty() || token != s.csrf || !cookie.contains(&want_cookie) {
                return (
                    StatusCode::BAD_REQUEST,
                    Json(
                        json!({"errors": [{"message": "400 Bad Request: The CSRF token is invalid.",
                        "error_type": "GENERIC_BACKEND_ERROR", "level": "error",
                        "extra": {"issue_codes": [{"code": 1011, "message": "m"}]}}]}),
                    ),
                )
                    .into_response();
            }
            s.deletes.push(id);
            Json(json!({"message": "OK"})).into_response()
        }

        async fn start() -> (String, S) {
            let state: S = Arc::new(StdMutex::new(Stub {
                refresh_ok: true,
                ..Stub::default()
            }));
            let app = Router::new()
                .route(LOGIN_PATH, post(login))
                .route(REFRESH_PATH, post(refresh))
                .route(CSRF_PATH, get(csrf))
                .route(DATABASES_PATH, get(list))
                .route(DATASETS_PATH, get(list))
                .route(CHARTS_PATH, get(list))
                .route("/api/v1/database/{id}/connection", get(list))
                .route("/api/v1/dataset/{id}", delete(del))
                .with_state(state.clone());
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(async move {
                let _ = axum::serve(listener, app).await;
            });
            (format!("http://{addr}"), state)
        }

        fn client(base: &str) -> SupersetClient {
            SupersetClient::new(
                ClientSettings::new("stub", V, base, SecretString::from("pw"))
                    .username("admin")
                    .timeout(std::time::Duration::from_secs(5)),
            )
            .unwrap()
        }

        #[tokio::test]
        async fn an_expired_token_is_refreshed_once_then_a_new_login_follows_a_refused_refresh() {
            let (base, st) = start().await;
            let c = client(&base);
            c.load().await.expect("first load logs in");
            assert_eq!(st.lock().unwrap().logins, 1);
            // The access token expires: one refresh, no new login.
            st.lock().unwrap().valid.clear();
            c.load().await.expect("load after expiry");
            {
                let s = st.lock().unwrap();
                assert_eq!((s.logins, s.refreshes), (1, 1));
            }
            // Expired again and the refresh token refused: a new login.
            {
                let mut s = st.lock().unwrap();
                s.valid.clear();
                s.refresh_ok = false;
            }
            c.load().await.expect("load after a refused refresh");
            let s = st.lock().unwrap();
            assert_eq!((s.logins, s.refreshes), (2, 2));
        }

        #[tokio::test]
        async fn mutations_carry_csrf_token_and_cookie_and_a_stale_token_is_fetched_again() {
            let (base, st) = start().await;
            let c = client(&base);
            let ds = |id: &str| Ref {
                kind: Kind::Datasources,
                id: id.into(),
                name: id.into(),
            };
            assert_eq!(c.delete(ds("5")).await, Ok(DeleteOutcome::Deleted));
            assert_eq!(st.lock().unwrap().csrf_fetches, 1);
            assert_eq!(c.delete(ds("6")).await, Ok(DeleteOutcome::Deleted));
            assert_eq!(st.lock().unwrap().csrf_fetches, 1, "the token is kept");
            // The server forgets the token: one CSRF refusal, a new token, the delete goes.
            st.lock().unwrap().csrf = "other".into();
            assert_eq!(c.delete(ds("7")).await, Ok(DeleteOutcome::Deleted));
            let s = st.lock().unwrap();
            assert_eq!(s.csrf_fetches, 2);
            assert_eq!(s.deletes, ["5", "6", "7"]);
        }

        #[tokio::test]
        async fn a_read_only_profile_sends_no_mutation_and_no_csrf_fetch() {
            let (base, st) = start().await;
            let c = SupersetClient::new(
                ClientSettings::new("stub", V, &base, SecretString::from("pw"))
                    .username("admin")
                    .read_only(true),
            )
            .unwrap();
            let e = c
                .delete(Ref {
                    kind: Kind::Datasources,
                    id: "5".into(),
                    name: "x".into(),
                })
                .await
                .expect_err("refused");
            assert!(matches!(e, ApiError::ReadOnly { .. }), "{e}");
            let s = st.lock().unwrap();
            assert_eq!((s.logins, s.csrf_fetches, s.deletes.len()), (0, 0, 0));
        }
    }
}
