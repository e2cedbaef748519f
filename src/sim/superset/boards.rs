//! `/api/v1/chart/*` and `/api/v1/dashboard/*`: lists, items, create, update, delete and
//! all-or-nothing bulk deletes, so that a client (or a test) can seed them through the API.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State as AxState};
use axum::http::{HeaderMap, Method, StatusCode};
use serde_json::{json, Map, Value};

use super::list::{self, Spec};
use super::objects::{
    bulk_ids, int_field, names, opt_str, owners, string_field, user_name, writer,
};
use super::state::{self, Chart, Dashboard, State};
use super::token::random_uuid;
use super::{
    authenticate, deleted_message, json_body, ok, owner_ids, parse_pk, ApiError, ApiResult, Caller,
    Shared,
};

// ---------------------------------------------------------------------------------------------
// Charts
// ---------------------------------------------------------------------------------------------

const CHART_SPEC: Spec = Spec {
    kind: "chart",
    title: "List Slice",
    list_columns: &[
        "cache_timeout",
        "certification_details",
        "certified_by",
        "changed_by.first_name",
        "changed_by.last_name",
        "changed_by_name",
        "changed_on_delta_humanized",
        "changed_on_dttm",
        "changed_on_utc",
        "created_by.first_name",
        "created_by.id",
        "created_by.last_name",
        "created_on_delta_humanized",
        "dashboards.dashboard_title",
        "dashboards.id",
        "datasource_id",
        "datasource_name_text",
        "datasource_type",
        "datasource_url",
        "description",
        "id",
        "is_managed_externally",
        "owners.first_name",
        "owners.id",
        "owners.last_name",
        "params",
        "query_context",
        "slice_name",
        "slice_url",
        "thumbnail_url",
        "url",
        "uuid",
        "viz_type",
    ],
    order_columns: &[
        "changed_by.first_name",
        "changed_on_delta_humanized",
        "datasource_id",
        "datasource_name",
        "last_saved_at",
        "slice_name",
        "viz_type",
    ],
    search_columns: &[
        "changed_by",
        "created_by",
        "dashboards",
        "datasource_id",
        "datasource_name",
        "datasource_type",
        "description",
        "id",
        "owners",
        "slice_name",
        "uuid",
        "viz_type",
    ],
    default_order: ("changed_on", true),
};

fn datasource_name(st: &State, c: &Chart) -> Value {
    c.datasource_id
        .and_then(|id| st.datasets.get(&id))
        .map_or(Value::Null, |d| Value::from(d.full_name()))
}

fn datasource_url(c: &Chart) -> Value {
    c.datasource_id.map_or(Value::Null, |id| {
        Value::from(format!(
            "/explore/?datasource_type=table&datasource_id={id}"
        ))
    })
}

fn user_full(st: &State, user: u32) -> Value {
    match st.users.get(&user) {
        Some(u) => json!({"first_name": u.first_name, "id": u.id, "last_name": u.last_name}),
        None => Value::Null,
    }
}

fn chart_row(st: &State, c: &Chart) -> Value {
    let boards: Vec<Value> = c
        .dashboards
        .iter()
        .filter_map(|id| st.dashboards.get(id))
        .map(|d| json!({"dashboard_title": d.title, "id": d.id}))
        .collect();
    json!({
        "cache_timeout": c.cache_timeout,
        "certification_details": null,
        "certified_by": null,
        "changed_by": names(st, c.changed_by),
        "changed_by_name": user_name(st, c.changed_by),
        "changed_on_delta_humanized": state::humanized(c.changed_on),
        "changed_on_dttm": c.changed_on as f64,
        "changed_on_utc": state::utc(c.changed_on),
        "created_by": user_full(st, c.created_by),
        "created_on_delta_humanized": state::humanized(c.created_on),
        "dashboards": boards,
        "datasource_id": c.datasource_id,
        "datasource_name_text": datasource_name(st, c),
        "datasource_type": c.datasource_type,
        "datasource_url": datasource_url(c),
        "description": opt_str(&c.description),
        "id": c.id,
        "is_managed_externally": false,
        "owners": owners(st, &c.owners, false),
        "params": opt_str(&c.params),
        "query_context": null,
        "slice_name": c.slice_name,
        "slice_url": format!("/explore/?slice_id={}", c.id),
        "thumbnail_url": format!("/api/v1/chart/{}/thumbnail/{}/", c.id, &c.uuid[..8]),
        "url": format!("/explore/?slice_id={}", c.id),
        "uuid": c.uuid,
        "viz_type": c.viz_type,
    })
}

/// The chart item GET's `result`.
pub fn chart_item(st: &State, c: &Chart) -> Value {
    let boards: Vec<Value> = c
        .dashboards
        .iter()
        .filter_map(|id| st.dashboards.get(id))
        .map(|d| json!({"dashboard_title": d.title, "id": d.id, "json_metadata": opt_str(&d.json_metadata)}))
        .collect();
    let ds_uuid = c
        .datasource_id
        .and_then(|id| st.datasets.get(&id))
        .map_or(Value::Null, |d| Value::from(d.uuid.clone()));
    json!({
        "cache_timeout": c.cache_timeout,
        "certification_details": null,
        "certified_by": null,
        "changed_on_delta_humanized": state::humanized(c.changed_on),
        "dashboards": boards,
        "datasource_id": c.datasource_id,
        "datasource_name_text": datasource_name(st, c),
        "datasource_type": c.datasource_type,
        "datasource_url": datasource_url(c),
        "datasource_uuid": ds_uuid,
        "description": opt_str(&c.description),
        "id": c.id,
        "is_managed_externally": false,
        "owners": owners(st, &c.owners, true),
        "params": opt_str(&c.params),
        "query_context": null,
        "slice_name": c.slice_name,
        "tags": [],
        "thumbnail_url": format!("/api/v1/chart/{}/thumbnail/{}/", c.id, &c.uuid[..8]),
        "url": format!("/explore/?slice_id={}", c.id),
        "uuid": c.uuid,
        "viz_type": c.viz_type,
    })
}

fn chart_attr(st: &State, c: &Chart, col: &str) -> Value {
    match col {
        "id" => Value::from(c.id),
        "uuid" => Value::from(c.uuid.clone()),
        "slice_name" => Value::from(c.slice_name.clone()),
        "viz_type" => Value::from(c.viz_type.clone()),
        "datasource_id" => json!(c.datasource_id),
        "datasource_type" => Value::from(c.datasource_type.clone()),
        "datasource_name" => datasource_name(st, c),
        "description" => opt_str(&c.description),
        "owners" => json!(c.owners),
        "dashboards" => json!(c.dashboards),
        "created_by" => Value::from(c.created_by),
        "changed_by" => Value::from(c.changed_by),
        "changed_by.first_name" => st
            .users
            .get(&c.changed_by)
            .map_or(Value::Null, |u| Value::from(u.first_name.clone())),
        "changed_on" | "changed_on_delta_humanized" | "last_saved_at" => Value::from(c.changed_on),
        _ => Value::Null,
    }
}

fn visible_chart(st: &State, caller: Caller, pk: &str) -> Result<u32, ApiError> {
    super::objects::visible(&st.charts, caller, pk, |c| c.uuid == pk)
}

pub async fn list_charts(
    AxState(shared): AxState<Arc<Shared>>,
    method: Method,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let st = shared.lock();
    let caller = authenticate(&st, &method, &headers)?;
    let args = list::list_args(q.as_deref())?;
    let ids: Vec<u32> = if caller.sees_objects() {
        st.charts.keys().copied().collect()
    } else {
        Vec::new()
    };
    let v = list::answer(
        &CHART_SPEC,
        caller.role.name(),
        &args,
        ids.into_iter(),
        |id, col| {
            st.charts
                .get(&id)
                .map_or(Value::Null, |c| chart_attr(&st, c, col))
        },
        |id| {
            st.charts
                .get(&id)
                .map_or(Value::Null, |c| chart_row(&st, c))
        },
        &st.lists,
    )?;
    ok(StatusCode::OK, &v)
}

pub async fn get_chart(
    AxState(shared): AxState<Arc<Shared>>,
    method: Method,
    headers: HeaderMap,
    Path(pk): Path<String>,
) -> ApiResult {
    let st = shared.lock();
    let caller = authenticate(&st, &method, &headers)?;
    let id = visible_chart(&st, caller, &pk)?;
    ok(
        StatusCode::OK,
        &json!({"result": chart_item(&st, &st.charts[&id])}),
    )
}

fn dashboard_ids(st: &State, v: &Value) -> Result<Vec<u32>, ApiError> {
    let bad = || {
        ApiError::field_list(
            StatusCode::UNPROCESSABLE_ENTITY,
            "dashboards",
            "Dashboards do not exist",
        )
    };
    let Value::Array(a) = v else {
        return Err(ApiError::field_list(
            StatusCode::BAD_REQUEST,
            "dashboards",
            "Not a valid list.",
        ));
    };
    let mut out = Vec::new();
    for x in a {
        let id = x
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(bad)?;
        if !st.dashboards.contains_key(&id) {
            return Err(bad());
        }
        if !out.contains(&id) {
            out.push(id);
        }
    }
    Ok(out)
}

const DATASOURCE_TYPES: [&str; 5] = ["table", "dataset", "query", "saved_query", "view"];

fn check_datasource_type(
    body: &Map<String, Value>,
    required: bool,
) -> Result<Option<String>, ApiError> {
    match string_field(body, "datasource_type", required, false)?.flatten() {
        Some(t) if DATASOURCE_TYPES.contains(&t.as_str()) => Ok(Some(t)),
        Some(_) => Err(ApiError::field_list(
            StatusCode::BAD_REQUEST,
            "datasource_type",
            "Must be one of: table, dataset, query, saved_query, view.",
        )),
        None => Ok(None),
    }
}

pub async fn create_chart(
    AxState(shared): AxState<Arc<Shared>>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let mut st = shared.lock();
    let caller = authenticate(&st, &method, &headers)?;
    writer(caller)?;
    let body = json_body(&headers, &body)?;
    let datasource = int_field(&body, "datasource_id", true)?.unwrap_or(0);
    let ds_type = check_datasource_type(&body, true)?.unwrap_or_else(|| "table".into());
    let name = string_field(&body, "slice_name", true, false)?
        .flatten()
        .unwrap_or_default();
    if name.is_empty() || name.len() > 250 {
        return Err(ApiError::field_list(
            StatusCode::BAD_REQUEST,
            "slice_name",
            "Length must be between 1 and 250.",
        ));
    }
    let viz = string_field(&body, "viz_type", false, false)?.flatten();
    let params = string_field(&body, "params", false, true)?.flatten();
    let description = string_field(&body, "description", false, true)?.flatten();
    let owner_list = match body.get("owners") {
        Some(v) => Some(owner_ids(&st, v)?),
        None => None,
    };
    if !st.datasets.contains_key(&datasource) {
        return Err(ApiError::field_list(
            StatusCode::UNPROCESSABLE_ENTITY,
            "datasource_id",
            "Datasource does not exist",
        ));
    }
    let boards = match body.get("dashboards") {
        Some(v) => dashboard_ids(&st, v)?,
        None => Vec::new(),
    };
    let mut owner_list = owner_list.unwrap_or_else(|| vec![caller.id]);
    if !caller.is_admin() && !owner_list.contains(&caller.id) {
        owner_list.push(caller.id);
    }
    let id = State::next_id(&st.charts);
    let now = state::now_ms();
    st.charts.insert(
        id,
        Chart {
            id,
            uuid: random_uuid(),
            slice_name: name,
            viz_type: viz.unwrap_or_else(|| "table".into()),
            datasource_id: Some(datasource),
            datasource_type: ds_type,
            params,
            description,
            cache_timeout: body.get("cache_timeout").and_then(Value::as_i64),
            owners: owner_list,
            dashboards: boards,
            created_by: caller.id,
            changed_by: caller.id,
            created_on: now,
            changed_on: now,
        },
    );
    st.touch();
    ok(
        StatusCode::CREATED,
        &json!({"id": id, "result": Value::Object(body)}),
    )
}

pub async fn update_chart(
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
    let id = parse_pk(&pk)?;
    let c = st.charts.get(&id).ok_or_else(ApiError::not_found)?;
    if !caller.may_change(&c.owners) {
        return Err(ApiError::forbidden());
    }
    let name = string_field(&body, "slice_name", false, false)?.flatten();
    let viz = string_field(&body, "viz_type", false, false)?.flatten();
    let params = string_field(&body, "params", false, true)?;
    let description = string_field(&body, "description", false, true)?;
    let ds_type = check_datasource_type(&body, false)?;
    let datasource = int_field(&body, "datasource_id", false)?;
    if datasource.is_some_and(|d| !st.datasets.contains_key(&d)) {
        return Err(ApiError::field_list(
            StatusCode::UNPROCESSABLE_ENTITY,
            "datasource_id",
            "Datasource does not exist",
        ));
    }
    let owner_list = match body.get("owners") {
        Some(v) => Some(owner_ids(&st, v)?),
        None => None,
    };
    let boards = match body.get("dashboards") {
        Some(v) => Some(dashboard_ids(&st, v)?),
        None => None,
    };
    let c = st.charts.get_mut(&id).ok_or_else(ApiError::not_found)?;
    if let Some(v) = name {
        c.slice_name = v;
    }
    if let Some(v) = viz {
        c.viz_type = v;
    }
    if let Some(v) = params {
        c.params = v;
    }
    if let Some(v) = description {
        c.description = v;
    }
    if let Some(v) = ds_type {
        c.datasource_type = v;
    }
    if datasource.is_some() {
        c.datasource_id = datasource;
    }
    if let Some(v) = owner_list {
        c.owners = v;
    }
    if let Some(v) = boards {
        c.dashboards = v;
    }
    if let Some(v) = body.get("cache_timeout") {
        c.cache_timeout = v.as_i64();
    }
    c.changed_by = caller.id;
    c.changed_on = state::now_ms();
    st.touch();
    ok(
        StatusCode::OK,
        &json!({"id": id, "result": Value::Object(body)}),
    )
}

pub async fn delete_chart(
    AxState(shared): AxState<Arc<Shared>>,
    method: Method,
    headers: HeaderMap,
    Path(pk): Path<String>,
) -> ApiResult {
    let mut st = shared.lock();
    let caller = authenticate(&st, &method, &headers)?;
    writer(caller)?;
    let id = parse_pk(&pk)?;
    let c = st.charts.get(&id).ok_or_else(ApiError::not_found)?;
    if !caller.may_change(&c.owners) {
        return Err(ApiError::forbidden());
    }
    st.charts.remove(&id);
    st.touch();
    ok(StatusCode::OK, &json!({"message": "OK"}))
}

pub async fn bulk_delete_charts(
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
        let c = st.charts.get(id).ok_or_else(ApiError::not_found)?;
        if !caller.may_change(&c.owners) {
            return Err(ApiError::forbidden());
        }
    }
    let n = ids
        .iter()
        .filter(|id| st.charts.remove(id).is_some())
        .count();
    st.touch();
    ok(
        StatusCode::OK,
        &json!({"message": deleted_message(n, "chart")}),
    )
}

// ---------------------------------------------------------------------------------------------
// Dashboards
// ---------------------------------------------------------------------------------------------

const DASHBOARD_SPEC: Spec = Spec {
    kind: "dashboard",
    title: "List Dashboard",
    list_columns: &[
        "certification_details",
        "certified_by",
        "changed_by.first_name",
        "changed_by.id",
        "changed_by.last_name",
        "changed_by_name",
        "changed_on_delta_humanized",
        "changed_on_utc",
        "created_by.first_name",
        "created_by.id",
        "created_by.last_name",
        "created_on_delta_humanized",
        "dashboard_title",
        "id",
        "is_managed_externally",
        "owners.first_name",
        "owners.id",
        "owners.last_name",
        "published",
        "slug",
        "status",
        "thumbnail_url",
        "url",
        "uuid",
    ],
    order_columns: &[
        "changed_by.first_name",
        "changed_on_delta_humanized",
        "created_by.first_name",
        "dashboard_title",
        "published",
        "changed_on",
    ],
    search_columns: &[
        "changed_by",
        "created_by",
        "dashboard_title",
        "id",
        "owners",
        "published",
        "slug",
        "uuid",
    ],
    default_order: ("changed_on", true),
};

fn dashboard_url(d: &Dashboard) -> String {
    match &d.slug {
        Some(s) if !s.is_empty() => format!("/superset/dashboard/{s}/"),
        _ => format!("/superset/dashboard/{}/", d.id),
    }
}

fn dashboard_row(st: &State, d: &Dashboard) -> Value {
    json!({
        "certification_details": null,
        "certified_by": null,
        "changed_by": user_full(st, d.changed_by),
        "changed_by_name": user_name(st, d.changed_by),
        "changed_on_delta_humanized": state::humanized(d.changed_on),
        "changed_on_utc": state::utc(d.changed_on),
        "created_by": user_full(st, d.created_by),
        "created_on_delta_humanized": state::humanized(d.created_on),
        "dashboard_title": d.title,
        "id": d.id,
        "is_managed_externally": false,
        "owners": owners(st, &d.owners, false),
        "published": d.published,
        "slug": opt_str(&d.slug),
        "status": if d.published { "published" } else { "draft" },
        "thumbnail_url": format!("/api/v1/dashboard/{}/thumbnail/{}/", d.id, &d.uuid[..8]),
        "url": dashboard_url(d),
        "uuid": d.uuid,
    })
}

/// The dashboard item GET's `result` (`charts` are chart names).
pub fn dashboard_item(st: &State, d: &Dashboard) -> Value {
    let charts: Vec<Value> = st
        .charts
        .values()
        .filter(|c| c.dashboards.contains(&d.id))
        .map(|c| Value::from(c.slice_name.clone()))
        .collect();
    json!({
        "certification_details": null,
        "certified_by": null,
        "changed_by": names(st, d.changed_by),
        "changed_by_name": user_name(st, d.changed_by),
        "changed_on": state::naive(d.changed_on),
        "changed_on_delta_humanized": state::humanized(d.changed_on),
        "charts": charts,
        "created_by": names(st, d.created_by),
        "created_on_delta_humanized": state::humanized(d.created_on),
        "css": opt_str(&d.css),
        "dashboard_title": d.title,
        "id": d.id,
        "is_managed_externally": false,
        "json_metadata": opt_str(&d.json_metadata),
        "owners": owners(st, &d.owners, false),
        "position_json": opt_str(&d.position_json),
        "published": d.published,
        "roles": [],
        "slug": opt_str(&d.slug),
        "tags": [],
        "thumbnail_url": format!("/api/v1/dashboard/{}/thumbnail/{}/", d.id, &d.uuid[..8]),
        "url": dashboard_url(d),
        "uuid": d.uuid,
    })
}

fn dashboard_attr(st: &State, d: &Dashboard, col: &str) -> Value {
    match col {
        "id" => Value::from(d.id),
        "uuid" => Value::from(d.uuid.clone()),
        "dashboard_title" => Value::from(d.title.clone()),
        "slug" => opt_str(&d.slug),
        "published" => Value::Bool(d.published),
        "owners" => json!(d.owners),
        "created_by" => Value::from(d.created_by),
        "changed_by" => Value::from(d.changed_by),
        "changed_by.first_name" => st
            .users
            .get(&d.changed_by)
            .map_or(Value::Null, |u| Value::from(u.first_name.clone())),
        "created_by.first_name" => st
            .users
            .get(&d.created_by)
            .map_or(Value::Null, |u| Value::from(u.first_name.clone())),
        "changed_on" | "changed_on_delta_humanized" => Value::from(d.changed_on),
        _ => Value::Null,
    }
}

fn visible_dashboard(st: &State, caller: Caller, pk: &str) -> Result<u32, ApiError> {
    super::objects::visible(&st.dashboards, caller, pk, |d| {
        d.slug.as_deref() == Some(pk) || d.uuid == pk
    })
}

pub async fn list_dashboards(
    AxState(shared): AxState<Arc<Shared>>,
    method: Method,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let st = shared.lock();
    let caller = authenticate(&st, &method, &headers)?;
    let args = list::list_args(q.as_deref())?;
    let ids: Vec<u32> = if caller.sees_objects() {
        st.dashboards.keys().copied().collect()
    } else {
        Vec::new()
    };
    let v = list::answer(
        &DASHBOARD_SPEC,
        caller.role.name(),
        &args,
        ids.into_iter(),
        |id, col| {
            st.dashboards
                .get(&id)
                .map_or(Value::Null, |d| dashboard_attr(&st, d, col))
        },
        |id| {
            st.dashboards
                .get(&id)
                .map_or(Value::Null, |d| dashboard_row(&st, d))
        },
        &st.lists,
    )?;
    ok(StatusCode::OK, &v)
}

pub async fn get_dashboard(
    AxState(shared): AxState<Arc<Shared>>,
    method: Method,
    headers: HeaderMap,
    Path(pk): Path<String>,
) -> ApiResult {
    let st = shared.lock();
    let caller = authenticate(&st, &method, &headers)?;
    let id = visible_dashboard(&st, caller, &pk)?;
    ok(
        StatusCode::OK,
        &json!({"result": dashboard_item(&st, &st.dashboards[&id])}),
    )
}

pub async fn dashboard_charts(
    AxState(shared): AxState<Arc<Shared>>,
    method: Method,
    headers: HeaderMap,
    Path(pk): Path<String>,
) -> ApiResult {
    let st = shared.lock();
    let caller = authenticate(&st, &method, &headers)?;
    let id = visible_dashboard(&st, caller, &pk)?;
    let result: Vec<Value> = st
        .charts
        .values()
        .filter(|c| c.dashboards.contains(&id))
        .map(|c| {
            let mut form = c
                .params
                .as_deref()
                .and_then(|p| serde_json::from_str::<Value>(p).ok())
                .filter(Value::is_object)
                .unwrap_or_else(|| json!({}));
            form["slice_id"] = Value::from(c.id);
            form["dashboards"] = json!(c.dashboards);
            json!({
                "cache_timeout": c.cache_timeout, "certification_details": null,
                "certified_by": null, "changed_on": state::naive(c.changed_on),
                "description": opt_str(&c.description), "description_markeddown": "",
                "form_data": form, "id": c.id, "is_managed_externally": false,
                "slice_name": c.slice_name, "slice_url": format!("/explore/?slice_id={}", c.id),
                "uuid": c.uuid, "viz_type": c.viz_type,
            })
        })
        .collect();
    ok(StatusCode::OK, &json!({ "result": result }))
}

fn check_slug(st: &State, except: Option<u32>, slug: &Option<String>) -> Result<(), ApiError> {
    if let Some(s) = slug.as_deref().filter(|s| !s.is_empty()) {
        if st
            .dashboards
            .values()
            .any(|d| Some(d.id) != except && d.slug.as_deref() == Some(s))
        {
            return Err(ApiError::field_list(
                StatusCode::UNPROCESSABLE_ENTITY,
                "slug",
                "Must be unique",
            ));
        }
    }
    Ok(())
}

fn check_json_string(
    body: &Map<String, Value>,
    key: &str,
) -> Result<Option<Option<String>>, ApiError> {
    let v = string_field(body, key, false, true)?;
    if let Some(Some(s)) = &v {
        if !s.trim().is_empty() && serde_json::from_str::<Value>(s).is_err() {
            return Err(ApiError::field_list(
                StatusCode::BAD_REQUEST,
                key,
                "Not valid JSON.",
            ));
        }
    }
    Ok(v)
}

pub async fn create_dashboard(
    AxState(shared): AxState<Arc<Shared>>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let mut st = shared.lock();
    let caller = authenticate(&st, &method, &headers)?;
    writer(caller)?;
    let body = json_body(&headers, &body)?;
    let title = string_field(&body, "dashboard_title", false, true)?.flatten();
    let slug = string_field(&body, "slug", false, true)?.flatten();
    let json_metadata = check_json_string(&body, "json_metadata")?.flatten();
    let position_json = check_json_string(&body, "position_json")?.flatten();
    let css = string_field(&body, "css", false, true)?.flatten();
    let published = match body.get("published") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(ApiError::field_list(
                StatusCode::BAD_REQUEST,
                "published",
                "Not a valid boolean.",
            ))
        }
    };
    let owner_list = match body.get("owners") {
        Some(v) => Some(owner_ids(&st, v)?),
        None => None,
    };
    check_slug(&st, None, &slug)?;
    let mut owner_list = owner_list.unwrap_or_else(|| vec![caller.id]);
    if !caller.is_admin() && !owner_list.contains(&caller.id) {
        owner_list.push(caller.id);
    }
    let id = State::next_id(&st.dashboards);
    let now = state::now_ms();
    st.dashboards.insert(
        id,
        Dashboard {
            id,
            uuid: random_uuid(),
            title: title.unwrap_or_else(|| "[ untitled dashboard ]".into()),
            slug,
            published,
            owners: owner_list,
            json_metadata,
            position_json,
            css,
            created_by: caller.id,
            changed_by: caller.id,
            created_on: now,
            changed_on: now,
        },
    );
    st.touch();
    ok(
        StatusCode::CREATED,
        &json!({"id": id, "result": Value::Object(body)}),
    )
}

pub async fn update_dashboard(
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
    let id = parse_pk(&pk)?;
    let d = st.dashboards.get(&id).ok_or_else(ApiError::not_found)?;
    if !caller.may_change(&d.owners) {
        return Err(ApiError::forbidden());
    }
    let title = string_field(&body, "dashboard_title", false, true)?;
    let slug = string_field(&body, "slug", false, true)?;
    let json_metadata = check_json_string(&body, "json_metadata")?;
    let position_json = check_json_string(&body, "position_json")?;
    let css = string_field(&body, "css", false, true)?;
    let published = match body.get("published") {
        None => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => {
            return Err(ApiError::field_list(
                StatusCode::BAD_REQUEST,
                "published",
                "Not a valid boolean.",
            ))
        }
    };
    let owner_list = match body.get("owners") {
        Some(v) => Some(owner_ids(&st, v)?),
        None => None,
    };
    if let Some(s) = &slug {
        check_slug(&st, Some(id), s)?;
    }
    let d = st.dashboards.get_mut(&id).ok_or_else(ApiError::not_found)?;
    if let Some(Some(t)) = title {
        d.title = t;
    }
    if let Some(s) = slug {
        d.slug = s;
    }
    if let Some(v) = json_metadata {
        d.json_metadata = v;
    }
    if let Some(v) = position_json {
        d.position_json = v;
    }
    if let Some(v) = css {
        d.css = v;
    }
    if let Some(v) = published {
        d.published = v;
    }
    if let Some(v) = owner_list {
        d.owners = v;
    }
    d.changed_by = caller.id;
    d.changed_on = state::now_ms();
    let modified = d.changed_on as f64 / 1000.0;
    st.touch();
    ok(
        StatusCode::OK,
        &json!({"id": id, "last_modified_time": modified, "result": Value::Object(body)}),
    )
}

fn drop_dashboard(st: &mut State, id: u32) -> bool {
    for c in st.charts.values_mut() {
        c.dashboards.retain(|d| *d != id);
    }
    st.dashboards.remove(&id).is_some()
}

pub async fn delete_dashboard(
    AxState(shared): AxState<Arc<Shared>>,
    method: Method,
    headers: HeaderMap,
    Path(pk): Path<String>,
) -> ApiResult {
    let mut st = shared.lock();
    let caller = authenticate(&st, &method, &headers)?;
    writer(caller)?;
    let id = parse_pk(&pk)?;
    let d = st.dashboards.get(&id).ok_or_else(ApiError::not_found)?;
    if !caller.may_change(&d.owners) {
        return Err(ApiError::forbidden());
    }
    drop_dashboard(&mut st, id);
    st.touch();
    ok(StatusCode::OK, &json!({"message": "OK"}))
}

pub async fn bulk_delete_dashboards(
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
        let d = st.dashboards.get(id).ok_or_else(ApiError::not_found)?;
        if !caller.may_change(&d.owners) {
            return Err(ApiError::forbidden());
        }
    }
    let n = ids
        .iter()
        .filter(|id| drop_dashboard(&mut st, **id))
        .count();
    st.touch();
    ok(
        StatusCode::OK,
        &json!({"message": deleted_message(n, "dashboard")}),
    )
}
