//! `/api/v1/dataset/*` (lists, items, create, update, delete orphaning the dataset's charts,
//! all-or-nothing bulk delete, related objects) and the pieces charts and dashboards share:
//! owners, field checks, bulk ids.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State as AxState};
use axum::http::{HeaderMap, Method, StatusCode};
use serde_json::{json, Map, Value};

use super::list::{self, Spec};
use super::rison::py_repr;
use super::state::{self, Chart, Dataset, State};
use super::token::random_uuid;
use super::{
    authenticate, deleted_message, json_body, ok, owner_ids, parse_pk, ApiError, ApiResult, Caller,
    Shared,
};

// ---------------------------------------------------------------------------------------------
// Shared pieces
// ---------------------------------------------------------------------------------------------

pub(super) fn names(st: &State, user: u32) -> Value {
    match st.users.get(&user) {
        Some(u) => json!({"first_name": u.first_name, "last_name": u.last_name}),
        None => Value::Null,
    }
}

pub(super) fn owners(st: &State, ids: &[u32], email: bool) -> Value {
    Value::Array(
        ids.iter()
            .filter_map(|id| st.users.get(id))
            .map(|u| {
                let mut v =
                    json!({"first_name": u.first_name, "id": u.id, "last_name": u.last_name});
                if email {
                    v["email"] = Value::from(u.email.clone());
                }
                v
            })
            .collect(),
    )
}

pub(super) fn user_name(st: &State, user: u32) -> Value {
    st.users.get(&user).map_or(Value::Null, |u| {
        Value::from(format!("{} {}", u.first_name, u.last_name))
    })
}

pub(super) fn opt_str(v: &Option<String>) -> Value {
    v.as_ref().map_or(Value::Null, |s| Value::from(s.clone()))
}

/// Datasets, charts, dashboards are written by Admin and Alpha (Gamma: 403).
pub(super) fn writer(caller: Caller) -> Result<(), ApiError> {
    if caller.writes_objects() {
        Ok(())
    } else {
        Err(ApiError::forbidden())
    }
}

pub(super) fn string_field(
    body: &Map<String, Value>,
    key: &str,
    required: bool,
    nullable: bool,
) -> Result<Option<Option<String>>, ApiError> {
    match body.get(key) {
        None if required => Err(ApiError::field_list(
            StatusCode::BAD_REQUEST,
            key,
            "Missing data for required field.",
        )),
        None => Ok(None),
        Some(Value::Null) if nullable => Ok(Some(None)),
        Some(Value::String(s)) => Ok(Some(Some(s.clone()))),
        Some(Value::Null) => Err(ApiError::field_list(
            StatusCode::BAD_REQUEST,
            key,
            "Field may not be null.",
        )),
        Some(_) => Err(ApiError::field_list(
            StatusCode::BAD_REQUEST,
            key,
            "Not a valid string.",
        )),
    }
}

pub(super) fn int_field(
    body: &Map<String, Value>,
    key: &str,
    required: bool,
) -> Result<Option<u32>, ApiError> {
    match body.get(key) {
        None if required => Err(ApiError::field_list(
            StatusCode::BAD_REQUEST,
            key,
            "Missing data for required field.",
        )),
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| {
                ApiError::field_list(StatusCode::BAD_REQUEST, key, "Not a valid integer.")
            }),
    }
}

/// The ids of a bulk delete's `q=!(1,2)`.
pub(super) fn bulk_ids(q: Option<&str>) -> Result<Vec<u32>, ApiError> {
    let v = list::rison_arg(q)?.unwrap_or_else(|| json!({}));
    let Value::Array(a) = &v else {
        return Err(ApiError::bad_request(format!(
            "Not a valid rison schema {} is not of type 'array'",
            py_repr(&v)
        )));
    };
    a.iter()
        .map(|x| {
            x.as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "Not a valid rison schema {} is not of type 'integer'",
                        py_repr(x)
                    ))
                })
        })
        .collect()
}

/// `{"charts":{count,result},"dashboards":{count,result}}` for charts on these datasets.
pub fn related_of(st: &State, datasets: &[u32]) -> Value {
    let charts: Vec<&Chart> = st
        .charts
        .values()
        .filter(|c| c.datasource_id.is_some_and(|d| datasets.contains(&d)))
        .collect();
    let mut boards: Vec<u32> = charts
        .iter()
        .flat_map(|c| c.dashboards.iter().copied())
        .collect();
    boards.sort_unstable();
    boards.dedup();
    let chart_rows: Vec<Value> = charts
        .iter()
        .map(|c| json!({"id": c.id, "slice_name": c.slice_name, "viz_type": c.viz_type}))
        .collect();
    let board_rows: Vec<Value> = boards
        .iter()
        .filter_map(|id| st.dashboards.get(id))
        .map(|d| json!({"id": d.id, "json_metadata": opt_str(&d.json_metadata), "slug": opt_str(&d.slug), "title": d.title}))
        .collect();
    json!({
        "charts": {"count": chart_rows.len(), "result": chart_rows},
        "dashboards": {"count": board_rows.len(), "result": board_rows},
    })
}

// ---------------------------------------------------------------------------------------------
// Datasets
// ---------------------------------------------------------------------------------------------

const DATASET_SPEC: Spec = Spec {
    kind: "dataset",
    title: "List Sqla Table",
    list_columns: &[
        "catalog",
        "changed_by.first_name",
        "changed_by.last_name",
        "changed_by_name",
        "changed_on_delta_humanized",
        "changed_on_utc",
        "database.database_name",
        "database.id",
        "database.uuid",
        "datasource_type",
        "default_endpoint",
        "description",
        "explore_url",
        "extra",
        "id",
        "kind",
        "owners.first_name",
        "owners.id",
        "owners.last_name",
        "schema",
        "sql",
        "table_name",
        "uuid",
    ],
    order_columns: &[
        "changed_by.first_name",
        "changed_on_delta_humanized",
        "database.database_name",
        "schema",
        "sql",
        "table_name",
    ],
    search_columns: &[
        "catalog",
        "changed_by",
        "created_by",
        "database",
        "id",
        "owners",
        "schema",
        "sql",
        "table_name",
        "uuid",
    ],
    default_order: ("id", false),
};

fn database_brief(st: &State, id: u32) -> Value {
    match st.databases.get(&id) {
        Some(db) => json!({
            "allow_multi_catalog": false,
            "backend": db.parsed().engine().map_or("unknown", |e| e.backend),
            "database_name": db.name, "id": db.id, "uuid": db.uuid,
        }),
        None => Value::Null,
    }
}

fn dataset_prop(d: &Dataset, key: &str) -> Value {
    d.props
        .as_ref()
        .and_then(|m| m.get(key))
        .cloned()
        .unwrap_or(Value::Null)
}

fn dataset_row(st: &State, d: &Dataset) -> Value {
    json!({
        "catalog": null,
        "changed_by": names(st, d.changed_by),
        "changed_by_name": user_name(st, d.changed_by),
        "changed_on_delta_humanized": state::humanized(d.changed_on),
        "changed_on_utc": state::utc(d.changed_on),
        "database": database_brief(st, d.database),
        "datasource_type": "table",
        "default_endpoint": null,
        "description": opt_str(&d.description),
        "explore_url": format!("/explore/?datasource_type=table&datasource_id={}", d.id),
        "extra": dataset_prop(d, "extra"),
        "id": d.id,
        "kind": if d.is_virtual() { "virtual" } else { "physical" },
        "owners": owners(st, &d.owners, false),
        "schema": opt_str(&d.schema),
        "sql": opt_str(&d.sql),
        "table_name": d.table_name,
        "uuid": d.uuid,
    })
}

fn columns_of(d: &Dataset) -> Value {
    json!([
        {"column_name": "id", "id": d.id * 10 + 1, "type": "INTEGER", "is_dttm": false,
         "filterable": true, "groupby": true, "expression": null, "verbose_name": null,
         "description": null, "advanced_data_type": null, "python_date_format": null},
        {"column_name": "created_at", "id": d.id * 10 + 2, "type": "TIMESTAMP", "is_dttm": true,
         "filterable": true, "groupby": true, "expression": null, "verbose_name": null,
         "description": null, "advanced_data_type": null, "python_date_format": null},
    ])
}

fn metrics_of(d: &Dataset) -> Value {
    json!([{"id": d.id * 10 + 1, "metric_name": "count", "expression": "COUNT(*)",
            "verbose_name": "COUNT(*)", "metric_type": "count", "description": null,
            "d3format": null, "currency": null, "warning_text": null}])
}

/// The item GET's `result`.
pub fn dataset_item(st: &State, d: &Dataset) -> Value {
    json!({
        "always_filter_main_dttm": false,
        "cache_timeout": dataset_prop(d, "cache_timeout"),
        "catalog": null,
        "changed_by": names(st, d.changed_by),
        "changed_on": state::naive(d.changed_on),
        "changed_on_humanized": state::humanized(d.changed_on),
        "columns": columns_of(d),
        "created_by": names(st, d.created_by),
        "created_on": state::naive(d.created_on),
        "created_on_humanized": state::humanized(d.created_on),
        "database": database_brief(st, d.database),
        "datasource_name": d.table_name,
        "datasource_type": "table",
        "default_endpoint": null,
        "description": opt_str(&d.description),
        "extra": dataset_prop(d, "extra"),
        "fetch_values_predicate": null,
        "filter_select_enabled": true,
        "id": d.id,
        "is_managed_externally": false,
        "is_sqllab_view": false,
        "kind": if d.is_virtual() { "virtual" } else { "physical" },
        "main_dttm_col": "created_at",
        "metrics": metrics_of(d),
        "name": d.full_name(),
        "normalize_columns": false,
        "offset": 0,
        "owners": owners(st, &d.owners, false),
        "schema": opt_str(&d.schema),
        "sql": opt_str(&d.sql),
        "table_name": d.table_name,
        "template_params": null,
        "url": format!("/tablemodelview/edit/{}", d.id),
        "uuid": d.uuid,
    })
}

/// The `data` of a dataset create: the explore view of the datasource.
fn explore_data(st: &State, d: &Dataset) -> Value {
    let db_name = st
        .databases
        .get(&d.database)
        .map(|x| x.name.clone())
        .unwrap_or_default();
    json!({
        "cache_timeout": null,
        "column_formats": {},
        "columns": columns_of(d),
        "database": database_brief(st, d.database),
        "datasource_name": d.table_name,
        "default_endpoint": null,
        "description": opt_str(&d.description),
        "edit_url": format!("/tablemodelview/edit/{}", d.id),
        "extra": null,
        "fetch_values_predicate": null,
        "filter_select": true,
        "filter_select_enabled": true,
        "granularity_sqla": [["created_at", "created_at"]],
        "id": d.id,
        "is_sqllab_view": false,
        "main_dttm_col": "created_at",
        "metrics": metrics_of(d),
        "name": d.full_name(),
        "offset": 0,
        "order_by_choices": [],
        "owners": owners(st, &d.owners, false),
        "params": null,
        "perm": format!("[{db_name}].[{}](id:{})", d.table_name, d.id),
        "schema": opt_str(&d.schema),
        "select_star": format!("SELECT *\nFROM {}\nLIMIT 100\nOFFSET 0", d.full_name()),
        "sql": opt_str(&d.sql),
        "table_name": d.table_name,
        "template_params": null,
        "type": "table",
        "uid": format!("{}__table", d.id),
        "verbose_map": {"__timestamp": "Time", "count": "COUNT(*)", "id": "id", "created_at": "created_at"},
    })
}

fn dataset_attr(d: &Dataset, col: &str) -> Value {
    match col {
        "id" => Value::from(d.id),
        "uuid" => Value::from(d.uuid.clone()),
        "table_name" => Value::from(d.table_name.clone()),
        "schema" => opt_str(&d.schema),
        "sql" => opt_str(&d.sql),
        "database" | "database.id" => Value::from(d.database),
        "owners" => json!(d.owners),
        "created_by" => Value::from(d.created_by),
        "changed_by" => Value::from(d.changed_by),
        "changed_on_delta_humanized" => Value::from(d.changed_on),
        _ => Value::Null,
    }
}

fn visible_dataset(st: &State, caller: Caller, pk: &str) -> Result<u32, ApiError> {
    visible(&st.datasets, caller, pk, |d| d.uuid == pk)
}

/// The id of an object the caller may see, given as its id or as what `alias` matches (its
/// uuid, a dashboard's slug); 404 for anything else, as Superset hides what it won't show.
pub(super) fn visible<T>(
    objects: &std::collections::BTreeMap<u32, T>,
    caller: Caller,
    pk: &str,
    alias: impl Fn(&T) -> bool,
) -> Result<u32, ApiError> {
    let id = match pk.parse::<u32>() {
        Ok(id) => id,
        Err(_) => objects
            .iter()
            .find(|(_, o)| alias(o))
            .map(|(id, _)| *id)
            .ok_or_else(ApiError::not_found)?,
    };
    if !caller.sees_objects() || !objects.contains_key(&id) {
        return Err(ApiError::not_found());
    }
    Ok(id)
}

pub async fn list_datasets(
    AxState(shared): AxState<Arc<Shared>>,
    method: Method,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let st = shared.lock();
    let caller = authenticate(&st, &method, &headers)?;
    let args = list::list_args(q.as_deref())?;
    let ids: Vec<u32> = if caller.sees_objects() {
        st.datasets.keys().copied().collect()
    } else {
        Vec::new()
    };
    let v = list::answer(
        &DATASET_SPEC,
        caller.role.name(),
        &args,
        ids.into_iter(),
        |id, col| match (st.datasets.get(&id), col) {
            (None, _) => Value::Null,
            (Some(d), "database.database_name") => st
                .databases
                .get(&d.database)
                .map_or(Value::Null, |db| Value::from(db.name.clone())),
            (Some(d), "changed_by.first_name") => st
                .users
                .get(&d.changed_by)
                .map_or(Value::Null, |u| Value::from(u.first_name.clone())),
            (Some(d), c) => dataset_attr(d, c),
        },
        |id| {
            st.datasets
                .get(&id)
                .map_or(Value::Null, |d| dataset_row(&st, d))
        },
        &st.lists,
    )?;
    ok(StatusCode::OK, &v)
}

pub async fn get_dataset(
    AxState(shared): AxState<Arc<Shared>>,
    method: Method,
    headers: HeaderMap,
    Path(pk): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let st = shared.lock();
    let caller = authenticate(&st, &method, &headers)?;
    let args = list::list_args(q.as_deref())?;
    let id = visible_dataset(&st, caller, &pk)?;
    let mut result = dataset_item(&st, &st.datasets[&id]);
    if let Some(cols) = &args.columns {
        let cols: Vec<&str> = cols.iter().map(String::as_str).collect();
        result = list::project(&result, &cols);
    }
    ok(StatusCode::OK, &json!({"id": id, "result": result}))
}

pub async fn dataset_related(
    AxState(shared): AxState<Arc<Shared>>,
    method: Method,
    headers: HeaderMap,
    Path(pk): Path<String>,
) -> ApiResult {
    let st = shared.lock();
    let caller = authenticate(&st, &method, &headers)?;
    let id = visible_dataset(&st, caller, &pk)?;
    ok(StatusCode::OK, &related_of(&st, &[id]))
}

/// Whether another dataset has this database, schema and table name.
fn dataset_exists(
    st: &State,
    except: Option<u32>,
    database: u32,
    schema: &Option<String>,
    table: &str,
) -> bool {
    let default = st
        .databases
        .get(&database)
        .and_then(|d| d.parsed().engine())
        .map(|e| e.default_schema.to_string());
    let norm = |s: &Option<String>| {
        s.clone()
            .filter(|s| !s.is_empty())
            .or_else(|| default.clone())
    };
    st.datasets.values().any(|d| {
        Some(d.id) != except
            && d.database == database
            && d.table_name == table
            && norm(&d.schema) == norm(schema)
    })
}

fn table_label(schema: &Option<String>, table: &str) -> String {
    match schema {
        Some(s) if !s.is_empty() => format!("{s}.{table}"),
        _ => table.to_string(),
    }
}

pub async fn create_dataset(
    AxState(shared): AxState<Arc<Shared>>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let mut st = shared.lock();
    let caller = authenticate(&st, &method, &headers)?;
    writer(caller)?;
    let body = json_body(&headers, &body)?;
    let database = int_field(&body, "database", true)?.unwrap_or(0);
    let table = string_field(&body, "table_name", true, false)?
        .flatten()
        .unwrap_or_default();
    if table.is_empty() || table.len() > 250 {
        return Err(ApiError::field_list(
            StatusCode::BAD_REQUEST,
            "table_name",
            "Length must be between 1 and 250.",
        ));
    }
    let schema = string_field(&body, "schema", false, true)?.flatten();
    let sql = string_field(&body, "sql", false, true)?.flatten();
    let owner_list = match body.get("owners") {
        Some(v) => Some(owner_ids(&st, v)?),
        None => None,
    };
    let Some(db) = st.databases.get(&database) else {
        return Err(ApiError::field_list(
            StatusCode::UNPROCESSABLE_ENTITY,
            "database",
            "Database does not exist",
        ));
    };
    let label = table_label(&schema, &table);
    if dataset_exists(&st, None, database, &schema, &table) {
        return Err(ApiError::field_list(
            StatusCode::UNPROCESSABLE_ENTITY,
            "table",
            &format!("Dataset {label} already exists"),
        ));
    }
    let is_virtual = sql.as_deref().is_some_and(|s| !s.trim().is_empty());
    if !is_virtual {
        let uri = db.parsed();
        let default = uri.engine().map(|e| {
            if e.backend == "mysql" {
                uri.database.clone().unwrap_or_default()
            } else {
                e.default_schema.to_string()
            }
        });
        let want_schema = schema
            .clone()
            .filter(|s| !s.is_empty())
            .or(default)
            .unwrap_or_default();
        let found = st
            .connect(&uri)
            .map(|tables| tables.iter().any(|(s, t)| *s == want_schema && *t == table))
            .unwrap_or(false);
        if !found {
            return Err(ApiError::field_list(
                StatusCode::UNPROCESSABLE_ENTITY,
                "table",
                &format!(
                    "Table [{label}] could not be found, please double check your database connection, schema, and table name"
                ),
            ));
        }
    }
    if st.unique_table_names && st.datasets.values().any(|d| d.table_name == table) {
        return Err(ApiError::message(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Dataset could not be created.",
        ));
    }
    let mut owner_list = owner_list.unwrap_or_else(|| vec![caller.id]);
    if !caller.is_admin() && !owner_list.contains(&caller.id) {
        owner_list.push(caller.id);
    }
    let id = State::next_id(&st.datasets);
    let now = state::now_ms();
    let d = Dataset {
        id,
        uuid: random_uuid(),
        database,
        schema,
        table_name: table,
        sql,
        description: None,
        owners: owner_list,
        created_by: caller.id,
        changed_by: caller.id,
        created_on: now,
        changed_on: now,
        props: None,
    };
    let data = explore_data(&st, &d);
    st.datasets.insert(id, d);
    st.touch();
    ok(
        StatusCode::CREATED,
        &json!({"id": id, "result": Value::Object(body), "data": data}),
    )
}

/// Dataset PUT: `owners` (ids), `description`, `sql`, `table_name`, `schema`,
/// `database_id`; other known fields are kept as sent (`columns`, `metrics` accepted).
pub async fn update_dataset(
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
    let id = visible_dataset(&st, caller, &pk)?;
    if !caller.may_change(&st.datasets[&id].owners) {
        return Err(ApiError::forbidden());
    }
    let table = string_field(&body, "table_name", false, false)?.flatten();
    let schema = string_field(&body, "schema", false, true)?;
    let sql = string_field(&body, "sql", false, true)?;
    let description = string_field(&body, "description", false, true)?;
    let database = int_field(&body, "database_id", false)?;
    let owner_list = match body.get("owners") {
        Some(v) => Some(owner_ids(&st, v)?),
        None => None,
    };
    if let Some(db) = database {
        if !st.databases.contains_key(&db) {
            return Err(ApiError::field_list(
                StatusCode::UNPROCESSABLE_ENTITY,
                "database",
                "Database does not exist",
            ));
        }
    }
    let cur = &st.datasets[&id];
    let new_db = database.unwrap_or(cur.database);
    let new_schema = schema.clone().unwrap_or_else(|| cur.schema.clone());
    let new_table = table.clone().unwrap_or_else(|| cur.table_name.clone());
    if (table.is_some() || schema.is_some() || database.is_some())
        && dataset_exists(&st, Some(id), new_db, &new_schema, &new_table)
    {
        return Err(ApiError::field_list(
            StatusCode::UNPROCESSABLE_ENTITY,
            "table",
            &format!(
                "Dataset {} already exists",
                table_label(&new_schema, &new_table)
            ),
        ));
    }
    let d = st.datasets.get_mut(&id).ok_or_else(ApiError::not_found)?;
    d.database = new_db;
    d.schema = new_schema;
    d.table_name = new_table;
    if let Some(s) = sql {
        d.sql = s;
    }
    if let Some(s) = description {
        d.description = s;
    }
    if let Some(o) = owner_list {
        d.owners = o;
    }
    for k in [
        "cache_timeout",
        "extra",
        "default_endpoint",
        "main_dttm_col",
        "template_params",
    ] {
        if let Some(v) = body.get(k) {
            d.props
                .get_or_insert_with(Default::default)
                .insert(k.into(), v.clone());
        }
    }
    d.changed_by = caller.id;
    d.changed_on = state::now_ms();
    st.touch();
    ok(
        StatusCode::OK,
        &json!({"id": id, "result": Value::Object(body)}),
    )
}

/// Remove a dataset; its charts lose their datasource (orphans).
fn drop_dataset(st: &mut State, id: u32) {
    st.datasets.remove(&id);
    for c in st.charts.values_mut() {
        if c.datasource_id == Some(id) {
            c.datasource_id = None;
        }
    }
}

pub async fn delete_dataset(
    AxState(shared): AxState<Arc<Shared>>,
    method: Method,
    headers: HeaderMap,
    Path(pk): Path<String>,
) -> ApiResult {
    let mut st = shared.lock();
    let caller = authenticate(&st, &method, &headers)?;
    writer(caller)?;
    let id = parse_pk(&pk)?;
    let d = st.datasets.get(&id).ok_or_else(ApiError::not_found)?;
    if !caller.may_change(&d.owners) {
        return Err(ApiError::forbidden());
    }
    drop_dataset(&mut st, id);
    st.touch();
    ok(StatusCode::OK, &json!({"message": "OK"}))
}

pub async fn bulk_delete_datasets(
    AxState(shared): AxState<Arc<Shared>>,
    method: Method,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let mut st = shared.lock();
    let caller = authenticate(&st, &method, &headers)?;
    writer(caller)?;
    let ids = bulk_ids(q.as_deref())?;
    for id in &ids {
        let d = st.datasets.get(id).ok_or_else(ApiError::not_found)?;
        if !caller.may_change(&d.owners) {
            return Err(ApiError::forbidden());
        }
    }
    let mut n = 0;
    for id in ids {
        if st.datasets.contains_key(&id) {
            drop_dataset(&mut st, id);
            n += 1;
        }
    }
    st.touch();
    ok(
        StatusCode::OK,
        &json!({"message": deleted_message(n, "dataset")}),
    )
}
