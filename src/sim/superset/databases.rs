//! `/api/v1/database/*`: connections with masked passwords, connection tests against the
//! simulated backends, delete refusal while datasets are attached, related objects.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State as AxState};
use axum::http::{HeaderMap, Method, StatusCode};
use serde_json::{json, Map, Value};

use super::list::{self, Spec};
use super::state::{self, ConnError, Database, State, Uri, DB_DEFAULTS, MASK};
use super::token::random_uuid;
use super::{authenticate, json_body, ok, parse_pk, ApiError, ApiResult, Caller, Shared};

const SPEC: Spec = Spec {
    kind: "database",
    title: "List Database",
    list_columns: &[
        "allow_ctas",
        "allow_cvas",
        "allow_dml",
        "allow_file_upload",
        "allow_multi_catalog",
        "allow_run_async",
        "allows_cost_estimate",
        "allows_subquery",
        "allows_virtual_table_explore",
        "backend",
        "changed_by.first_name",
        "changed_by.last_name",
        "changed_on",
        "changed_on_delta_humanized",
        "configuration_method",
        "created_by.first_name",
        "created_by.last_name",
        "database_name",
        "disable_data_preview",
        "disable_drill_to_detail",
        "engine_information",
        "explore_database_id",
        "expose_in_sqllab",
        "extra",
        "force_ctas_schema",
        "id",
        "uuid",
    ],
    order_columns: &[
        "allow_file_upload",
        "allow_dml",
        "allow_run_async",
        "changed_on",
        "changed_on_delta_humanized",
        "created_by.first_name",
        "database_name",
        "expose_in_sqllab",
    ],
    search_columns: &[
        "allow_file_upload",
        "allow_dml",
        "allow_run_async",
        "created_by",
        "changed_by",
        "database_name",
        "expose_in_sqllab",
        "uuid",
        "id",
    ],
    default_order: ("id", false),
};

/// Fields a create or update may set besides the name and URI.
const SETTINGS: [&str; 11] = [
    "allow_ctas",
    "allow_cvas",
    "allow_dml",
    "allow_file_upload",
    "allow_run_async",
    "cache_timeout",
    "configuration_method",
    "expose_in_sqllab",
    "extra",
    "force_ctas_schema",
    "impersonate_user",
];

fn engine_information(backend: &str) -> Value {
    json!({
        "disable_ssh_tunneling": false,
        "supports_dynamic_catalog": backend == "postgresql",
        "supports_file_upload": true,
        "supports_oauth2": false,
    })
}

fn names(st: &State, user: u32) -> Value {
    match st.users.get(&user) {
        Some(u) => json!({"first_name": u.first_name, "last_name": u.last_name}),
        None => Value::Null,
    }
}

fn backend_of(d: &Database) -> &'static str {
    d.parsed().engine().map_or("unknown", |e| e.backend)
}

/// The full list row.
fn row(st: &State, d: &Database) -> Value {
    let backend = backend_of(d);
    let mut m = Map::new();
    for (k, _) in DB_DEFAULTS {
        m.insert(k.into(), d.prop(k));
    }
    let extra = m.get("extra").cloned().unwrap_or(Value::Null);
    m.extend([
        ("allow_multi_catalog".into(), Value::Bool(false)),
        ("allows_cost_estimate".into(), Value::Bool(false)),
        ("allows_subquery".into(), Value::Bool(true)),
        ("allows_virtual_table_explore".into(), Value::Bool(true)),
        ("backend".into(), Value::from(backend)),
        ("changed_by".into(), names(st, d.changed_by)),
        ("changed_on".into(), Value::from(state::naive(d.changed_on))),
        (
            "changed_on_delta_humanized".into(),
            Value::from(state::humanized(d.changed_on)),
        ),
        ("created_by".into(), names(st, d.created_by)),
        ("database_name".into(), Value::from(d.name.clone())),
        ("disable_data_preview".into(), Value::Bool(false)),
        ("disable_drill_to_detail".into(), Value::Bool(false)),
        ("engine_information".into(), engine_information(backend)),
        ("explore_database_id".into(), Value::from(d.id)),
        ("extra".into(), extra),
        ("id".into(), Value::from(d.id)),
        ("uuid".into(), Value::from(d.uuid.clone())),
    ]);
    Value::Object(m)
}

/// The item GET's `result`: no URI.
fn item(d: &Database) -> Value {
    let uri = d.parsed();
    let backend = uri.engine().map_or("unknown", |e| e.backend);
    let driver = uri
        .driver
        .clone()
        .or_else(|| uri.engine().map(|e| e.driver.to_string()));
    json!({
        "allow_ctas": d.prop("allow_ctas"),
        "allow_cvas": d.prop("allow_cvas"),
        "allow_dml": d.prop("allow_dml"),
        "allow_file_upload": d.prop("allow_file_upload"),
        "allow_run_async": d.prop("allow_run_async"),
        "backend": backend,
        "cache_timeout": d.prop("cache_timeout"),
        "configuration_method": d.prop("configuration_method"),
        "database_name": d.name,
        "driver": driver,
        "engine_information": engine_information(backend),
        "expose_in_sqllab": d.prop("expose_in_sqllab"),
        "force_ctas_schema": d.prop("force_ctas_schema"),
        "id": d.id,
        "impersonate_user": d.prop("impersonate_user"),
        "is_managed_externally": d.prop("is_managed_externally"),
        "uuid": d.uuid,
    })
}

/// `GET /database/{pk}/connection`'s `result`: the item plus the masked URI and parameters.
pub fn connection_view(_st: &State, d: &Database) -> Value {
    let uri = d.parsed();
    let mut v = item(d);
    if let Value::Object(m) = &mut v {
        m.insert("sqlalchemy_uri".into(), Value::from(uri.masked()));
        m.insert("parameters".into(), uri.parameters());
        m.insert("parameters_schema".into(), json!({}));
        m.insert("extra".into(), d.prop("extra"));
        m.insert("masked_encrypted_extra".into(), Value::from("{}"));
        m.insert("server_cert".into(), Value::Null);
        m.insert("ssh_tunnel".into(), Value::Null);
    }
    v
}

fn attr(st: &State, d: &Database, col: &str) -> Value {
    match col {
        "database_name" => Value::from(d.name.clone()),
        "id" => Value::from(d.id),
        "uuid" => Value::from(d.uuid.clone()),
        "changed_on" | "changed_on_delta_humanized" => Value::from(d.changed_on),
        "created_by" => Value::from(d.created_by),
        "changed_by" => Value::from(d.changed_by),
        "created_by.first_name" => st
            .users
            .get(&d.created_by)
            .map_or(Value::Null, |u| Value::from(u.first_name.clone())),
        c => d.prop(c),
    }
}

/// A database the caller may see, else 404.
fn visible(st: &State, caller: Caller, pk: &str) -> Result<u32, ApiError> {
    let id = parse_pk(pk)?;
    if !caller.sees_objects() || !st.databases.contains_key(&id) {
        return Err(ApiError::not_found());
    }
    Ok(id)
}

/// Databases are written by admins only.
fn writer(caller: Caller) -> Result<(), ApiError> {
    if caller.is_admin() {
        Ok(())
    } else {
        Err(ApiError::forbidden())
    }
}

pub async fn list(
    AxState(shared): AxState<Arc<Shared>>,
    method: Method,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let st = shared.lock();
    let caller = authenticate(&st, &method, &headers)?;
    let args = list::list_args(q.as_deref())?;
    let ids: Vec<u32> = if caller.sees_objects() {
        st.databases.keys().copied().collect()
    } else {
        Vec::new()
    };
    let v = list::answer(
        &SPEC,
        caller.role.name(),
        &args,
        ids.into_iter(),
        |id, col| {
            st.databases
                .get(&id)
                .map_or(Value::Null, |d| attr(&st, d, col))
        },
        |id| st.databases.get(&id).map_or(Value::Null, |d| row(&st, d)),
        &st.lists,
    )?;
    ok(StatusCode::OK, &v)
}

pub async fn get_item(
    AxState(shared): AxState<Arc<Shared>>,
    method: Method,
    headers: HeaderMap,
    Path(pk): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let st = shared.lock();
    let caller = authenticate(&st, &method, &headers)?;
    let args = list::list_args(q.as_deref())?;
    let id = visible(&st, caller, &pk)?;
    let mut result = item(&st.databases[&id]);
    if let Some(cols) = &args.columns {
        let cols: Vec<&str> = cols.iter().map(String::as_str).collect();
        result = list::project(&result, &cols);
    }
    ok(StatusCode::OK, &json!({"id": id, "result": result}))
}

pub async fn connection(
    AxState(shared): AxState<Arc<Shared>>,
    method: Method,
    headers: HeaderMap,
    Path(pk): Path<String>,
) -> ApiResult {
    let st = shared.lock();
    let caller = authenticate(&st, &method, &headers)?;
    let id = visible(&st, caller, &pk)?;
    ok(
        StatusCode::OK,
        &json!({"id": id, "result": connection_view(&st, &st.databases[&id])}),
    )
}

/// How a failed connection test is answered by `test_connection/` and create.
fn test_failure(e: ConnError) -> ApiError {
    match e {
        ConnError::Driver(d) => ApiError::envelope(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!("Could not load database driver for: {d}"),
            "GENERIC_COMMAND_ERROR",
            1010,
            Map::new(),
        ),
        ConnError::Password { engine, message } => {
            let mut extra = Map::new();
            extra.insert("engine_name".into(), Value::from(engine.name));
            extra.insert("invalid".into(), json!(["username", "password"]));
            ApiError::envelope(
                StatusCode::BAD_REQUEST,
                &message,
                "CONNECTION_INVALID_PASSWORD_ERROR",
                1013,
                extra,
            )
        }
        ConnError::Unreachable { engine, message } => {
            let mut extra = Map::new();
            extra.insert("engine_name".into(), Value::from(engine.name));
            ApiError::envelope(
                StatusCode::BAD_REQUEST,
                &message,
                "GENERIC_DB_ENGINE_ERROR",
                1002,
                extra,
            )
        }
    }
}

fn connection_failed() -> ApiError {
    ApiError::message(
        StatusCode::UNPROCESSABLE_ENTITY,
        "Connection failed, please check your connection settings",
    )
}

fn invalid_uri() -> ApiError {
    ApiError::field_list(
        StatusCode::UNPROCESSABLE_ENTITY,
        "sqlalchemy_uri",
        "Invalid connection string, a valid string usually follows: backend+driver://user:password@database-host/database-name",
    )
}

fn duplicate_name() -> ApiError {
    ApiError::field(
        StatusCode::UNPROCESSABLE_ENTITY,
        "database_name",
        Value::from("A database with the same name already exists."),
    )
}

/// The URI a request's `sqlalchemy_uri` means: the mask stands for `stored`'s password.
fn effective_uri(sent: &str, stored: Option<&Uri>) -> Result<Uri, ApiError> {
    let mut uri = Uri::parse(sent).ok_or_else(invalid_uri)?;
    if uri.password.as_deref() == Some(MASK) {
        uri.password = stored.and_then(|s| s.password.clone());
    }
    Ok(uri)
}

fn check_settings(body: &Map<String, Value>) -> Result<(), ApiError> {
    for k in SETTINGS {
        let Some(v) = body.get(k) else { continue };
        let ok = match k {
            "cache_timeout" => v.is_null() || v.is_i64(),
            "configuration_method" => {
                matches!(v.as_str(), Some("sqlalchemy_form" | "dynamic_form"))
            }
            "extra" | "force_ctas_schema" => v.is_null() || v.is_string(),
            _ => v.is_boolean(),
        };
        if !ok {
            let msg = match k {
                "cache_timeout" => "Not a valid integer.",
                "configuration_method" => "Must be one of: sqlalchemy_form, dynamic_form.",
                "extra" | "force_ctas_schema" => "Not a valid string.",
                _ => "Not a valid boolean.",
            };
            return Err(ApiError::field_list(StatusCode::BAD_REQUEST, k, msg));
        }
        if k == "extra" {
            if let Some(s) = v.as_str() {
                if !s.trim().is_empty() && serde_json::from_str::<Value>(s).is_err() {
                    return Err(ApiError::field_list(
                        StatusCode::BAD_REQUEST,
                        "extra",
                        "Field cannot be decoded by JSON.",
                    ));
                }
            }
        }
    }
    Ok(())
}

fn name_of(body: &Map<String, Value>) -> Result<Option<String>, ApiError> {
    match body.get("database_name") {
        None => Ok(None),
        Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= 250 => {
            Ok(Some(s.trim().to_string()))
        }
        Some(Value::String(_)) => Err(ApiError::field_list(
            StatusCode::BAD_REQUEST,
            "database_name",
            "Length must be between 1 and 250.",
        )),
        Some(_) => Err(ApiError::field_list(
            StatusCode::BAD_REQUEST,
            "database_name",
            "Not a valid string.",
        )),
    }
}

pub async fn create(
    AxState(shared): AxState<Arc<Shared>>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let mut st = shared.lock();
    let caller = authenticate(&st, &method, &headers)?;
    writer(caller)?;
    let body = json_body(&headers, &body)?;
    check_settings(&body)?;
    let name = name_of(&body)?.ok_or_else(|| {
        ApiError::field_list(
            StatusCode::UNPROCESSABLE_ENTITY,
            "database_name",
            "Missing data for required field.",
        )
    })?;
    let sent = match body.get("sqlalchemy_uri") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        _ => {
            return Err(ApiError::field_list(
                StatusCode::UNPROCESSABLE_ENTITY,
                "sqlalchemy_uri",
                "Field is required",
            ))
        }
    };
    let uri = effective_uri(&sent, None)?;
    if st.databases.values().any(|d| d.name == name) {
        return Err(duplicate_name());
    }
    match st.connect(&uri) {
        Ok(_) => {}
        Err(ConnError::Driver(_)) => return Err(connection_failed()),
        Err(e) => return Err(test_failure(e)),
    }
    let id = State::next_id(&st.databases);
    let now = state::now_ms();
    let mut db = Database {
        id,
        uuid: random_uuid(),
        name: name.clone(),
        uri: uri.render(uri.password.as_deref()),
        created_by: caller.id,
        changed_by: caller.id,
        created_on: now,
        changed_on: now,
        props: None,
    };
    for k in SETTINGS {
        if let Some(v) = body.get(k) {
            db.set_prop(k, v.clone());
        }
    }
    let mut result = Map::new();
    for k in SETTINGS {
        if let Some(v) = body.get(k) {
            result.insert(k.into(), v.clone());
        }
    }
    let engine = uri.engine();
    result.insert(
        "configuration_method".into(),
        db.prop("configuration_method"),
    );
    result.insert("database_name".into(), Value::from(name));
    result.insert(
        "driver".into(),
        Value::from(
            uri.driver
                .clone()
                .or_else(|| engine.map(|e| e.driver.to_string())),
        ),
    );
    result.insert("expose_in_sqllab".into(), db.prop("expose_in_sqllab"));
    if uri.dialect != "sqlite" {
        result.insert("parameters".into(), uri.parameters());
    }
    result.insert("sqlalchemy_uri".into(), Value::from(uri.masked()));
    result.insert("uuid".into(), Value::from(db.uuid.clone()));
    st.databases.insert(id, db);
    st.touch();
    ok(StatusCode::CREATED, &json!({"id": id, "result": result}))
}

/// PUT: only the fields sent change; the resulting connection is tested first (any failure:
/// 422 "Connection failed, please check your connection settings", nothing changes).
pub async fn update(
    AxState(shared): AxState<Arc<Shared>>,
    method: Method,
    headers: HeaderMap,
    Path(pk): Path<String>,
    body: Bytes,
) -> ApiResult {
    let mut st = shared.lock();
    let caller = authenticate(&st, &method, &headers)?;
    writer(caller)?;
    let body = json_body(&headers, &body)?;
    let id = visible(&st, caller, &pk)?;
    check_settings(&body)?;
    let name = name_of(&body)?;
    let stored = st.databases[&id].parsed();
    let uri = match body.get("sqlalchemy_uri") {
        None => stored.clone(),
        Some(Value::String(s)) => effective_uri(s, Some(&stored))?,
        Some(_) => return Err(invalid_uri()),
    };
    if let Some(n) = &name {
        if st.databases.values().any(|d| d.id != id && d.name == *n) {
            return Err(duplicate_name());
        }
    }
    if st.connect(&uri).is_err() {
        return Err(connection_failed());
    }
    let mut result = Map::new();
    let db = st.databases.get_mut(&id).ok_or_else(ApiError::not_found)?;
    if let Some(n) = name {
        db.name = n.clone();
        result.insert("database_name".into(), Value::from(n));
    }
    if body.contains_key("sqlalchemy_uri") {
        db.uri = uri.render(uri.password.as_deref());
        result.insert("sqlalchemy_uri".into(), Value::from(uri.masked()));
    }
    for k in SETTINGS {
        if let Some(v) = body.get(k) {
            db.set_prop(k, v.clone());
            result.insert(k.into(), v.clone());
        }
    }
    db.changed_by = caller.id;
    db.changed_on = state::now_ms();
    st.touch();
    ok(StatusCode::OK, &json!({"id": id, "result": result}))
}

pub async fn delete(
    AxState(shared): AxState<Arc<Shared>>,
    method: Method,
    headers: HeaderMap,
    Path(pk): Path<String>,
) -> ApiResult {
    let mut st = shared.lock();
    let caller = authenticate(&st, &method, &headers)?;
    writer(caller)?;
    let id = visible(&st, caller, &pk)?;
    if st.datasets.values().any(|d| d.database == id) {
        return Err(ApiError::message(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Cannot delete a database that has datasets attached",
        ));
    }
    st.databases.remove(&id);
    st.touch();
    ok(StatusCode::OK, &json!({"message": "OK"}))
}

/// `POST /database/test_connection/` `{"sqlalchemy_uri"[,"database_name"]}`: with the mask
/// and the name of a stored database, its stored password is used.
pub async fn test_connection(
    AxState(shared): AxState<Arc<Shared>>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let st = shared.lock();
    let caller = authenticate(&st, &method, &headers)?;
    writer(caller)?;
    let body = json_body(&headers, &body)?;
    let sent = match body.get("sqlalchemy_uri") {
        Some(Value::String(s)) => s.clone(),
        Some(_) => {
            return Err(ApiError::field_list(
                StatusCode::BAD_REQUEST,
                "sqlalchemy_uri",
                "Not a valid string.",
            ))
        }
        None => {
            return Err(ApiError::field_list(
                StatusCode::BAD_REQUEST,
                "sqlalchemy_uri",
                "Missing data for required field.",
            ))
        }
    };
    let stored = body
        .get("database_name")
        .and_then(Value::as_str)
        .and_then(|n| st.databases.values().find(|d| d.name == n))
        .map(Database::parsed);
    let uri = effective_uri(&sent, stored.as_ref())?;
    st.connect(&uri).map_err(test_failure)?;
    ok(StatusCode::OK, &json!({"message": "OK"}))
}

/// Charts on the database's datasets and the dashboards holding them.
pub async fn related(
    AxState(shared): AxState<Arc<Shared>>,
    method: Method,
    headers: HeaderMap,
    Path(pk): Path<String>,
) -> ApiResult {
    let st = shared.lock();
    let caller = authenticate(&st, &method, &headers)?;
    let id = visible(&st, caller, &pk)?;
    let datasets: Vec<u32> = st
        .datasets
        .values()
        .filter(|d| d.database == id)
        .map(|d| d.id)
        .collect();
    let mut v = super::objects::related_of(&st, &datasets);
    v["sqllab_tab_states"] = json!({"count": 0, "result": []});
    ok(StatusCode::OK, &v)
}

fn tables_of(st: &State, id: u32) -> Result<Vec<(String, String)>, ApiError> {
    let uri = st.databases[&id].parsed();
    st.connect(&uri).map_err(|_| connection_failed())
}

pub async fn schemas(
    AxState(shared): AxState<Arc<Shared>>,
    method: Method,
    headers: HeaderMap,
    Path(pk): Path<String>,
) -> ApiResult {
    let st = shared.lock();
    let caller = authenticate(&st, &method, &headers)?;
    let id = visible(&st, caller, &pk)?;
    let mut schemas: Vec<String> = tables_of(&st, id)?.into_iter().map(|(s, _)| s).collect();
    let engine = st.databases[&id].parsed().engine();
    if let Some(e) = engine.filter(|e| !e.default_schema.is_empty()) {
        schemas.push(e.default_schema.to_string());
    }
    schemas.sort();
    schemas.dedup();
    ok(StatusCode::OK, &json!({ "result": schemas }))
}

/// `GET /database/{pk}/tables/?q=(schema_name:main)`.
pub async fn tables(
    AxState(shared): AxState<Arc<Shared>>,
    method: Method,
    headers: HeaderMap,
    Path(pk): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let st = shared.lock();
    let caller = authenticate(&st, &method, &headers)?;
    let args = list::list_args(q.as_deref())?;
    let schema = match args.raw.get("schema_name") {
        Some(Value::String(s)) => s.clone(),
        Some(v) => {
            return Err(ApiError::bad_request(format!(
                "Not a valid rison schema {} is not of type 'string'",
                super::rison::py_repr(v)
            )))
        }
        None => {
            return Err(ApiError::bad_request(
                "Not a valid rison schema 'schema_name' is a required property",
            ))
        }
    };
    let id = visible(&st, caller, &pk)?;
    let result: Vec<Value> = tables_of(&st, id)?
        .into_iter()
        .filter(|(s, _)| *s == schema)
        .map(|(_, t)| json!({"extra": null, "type": "table", "value": t}))
        .collect();
    ok(
        StatusCode::OK,
        &json!({"count": result.len(), "result": result}),
    )
}
