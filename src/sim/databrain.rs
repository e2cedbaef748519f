//! Simulated Databrain API: datasources addressed by name and the datamarts that use them.
//!
//! The server keeps every object in the vendor's wire format (seeded from
//! `assets/databrain.json`, or generated on demand when a scale is requested), never as the
//! client's types, and reproduces what a client has to cope with: bearer service tokens
//! (`AUTHENTICATION_ERROR`), lists of names only, paging with `isPagination` / `pageNumber`
//! (10 per 1-based page), deletes by exact name answered 200 `{id, message}`, the
//! `DATASOURCE_NAME_ERROR` / `DATASOURCE_IN_USE` refusals with status 400, datamart routes that
//! may want a data-app key, and Express-style HTML 404s for unknown routes. The data app's
//! embeds (dashboards and metrics) are listed like the datamarts; each is built on a datamart
//! the simulator knows but, as documented, does not put in the list item (a switch does).
//! Fault switches add latency, 5xx, 429, HTML proxy pages, malformed JSON and `error` bodies
//! under 200.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, HashSet};
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, MutexGuard};

use axum::body::Bytes;
use axum::extract::{Extension, RawQuery, Request, State as AxState};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::Router;
use serde_json::{json, Map, Value};

use super::{kit, SimOptions};

/// The service token the simulator accepts.
pub const DEMO_TOKEN: &str = "dbn_live_demo_5f8c2a91e7b34d06a1c9";
/// The data-app API key the simulator accepts on the datamart routes.
pub const DEMO_DATA_APP_KEY: &str = "dbn_app_demo_0c6e1b7d94a2f385b2e7";
/// Items per page when `isPagination=true`.
pub const PAGE_SIZE: usize = 10;

const SEED: &str = include_str!("../../assets/databrain.json");
const JSON_CONTENT_TYPE: &str = "application/json; charset=utf-8";
/// The request log keeps the most recent requests only.
const MAX_LOGGED_REQUESTS: usize = 200_000;
/// Upper bound on objects per kind, to keep a mistyped scale from exhausting memory.
const MAX_SCALE: usize = 500_000;

const DATASOURCE_TYPES: &[&str] = &[
    "snowflake",
    "postgres",
    "redshift",
    "cockroachdb",
    "mysql",
    "mongodb",
    "clickhouse",
    "singlestore",
    "bigquery",
    "databricks",
    "elasticsearch",
    "opensearch",
    "mssql",
    "awss3",
    "csv",
    "firebolt",
    "athena",
    "trino",
];

// ---------------------------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------------------------

/// A running Databrain simulator.
#[derive(Debug)]
pub struct DatabrainSim {
    /// `http://127.0.0.1:PORT`: the root a user would put in `base_url`.
    pub base_url: String,
    /// Knobs and inspection of the simulator's state.
    pub control: DatabrainControl,
}

impl DatabrainSim {
    /// Stop serving: the listener closes once in-flight requests have finished.
    pub fn shutdown(&self) {
        self.control.shutdown();
    }
}

/// Which secret a request carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// No `Authorization: Bearer` header.
    Missing,
    /// `DEMO_TOKEN`.
    ServiceToken,
    /// `DEMO_DATA_APP_KEY`.
    DataAppKey,
    /// A bearer value the simulator does not know.
    Invalid,
}

/// One request the simulator answered, with the credential it carried.
pub type SimRequest = kit::SimRequest<Credential>;

/// A failure the simulator answers with instead of handling a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimFault {
    /// This status with a `{"error":{"code","message"}}` body (e.g. 500, 503).
    Status(u16),
    /// 429 with a `Retry-After` header.
    RateLimited { retry_after_secs: u64 },
    /// 502 from a proxy: an nginx HTML page.
    HtmlPage,
    /// 200 with a JSON body cut in the middle.
    MalformedJson,
    /// 200 whose body carries a non-null `error` (`{"data":null,"error":{"code","message"}}`).
    OkWithError {
        code: &'static str,
        message: &'static str,
    },
    /// A Databrain error body with this status, code and message.
    Error {
        status: u16,
        code: &'static str,
        message: &'static str,
    },
}

/// Cloneable handle to the simulator's state. The server runs while any handle is alive.
/// Derefs to the kit's control core: `requests`, `clear_requests`, `set_latency` and the
/// shared fault layer `faults`, besides this simulator's own `fail_next` switches, which
/// are checked first.
#[derive(Clone)]
pub struct DatabrainControl {
    shared: Arc<Shared>,
    core: kit::Control<Credential>,
}

kit::control_handle!(DatabrainControl, kit::Control<Credential>);

impl DatabrainControl {
    /// Datasource names, in creation order (the order of the list).
    pub fn ids(&self) -> Vec<String> {
        lock(&self.shared)
            .datasources
            .iter()
            .map(|d| d.name.clone())
            .collect()
    }

    /// Whether a datasource with exactly this name exists.
    pub fn contains(&self, name: &str) -> bool {
        lock(&self.shared).ds_index(name).is_some()
    }

    /// The stored datasource record (id, name, datasourceType, credentials, tenancySettings).
    pub fn datasource(&self, name: &str) -> Option<Value> {
        let st = lock(&self.shared);
        st.ds_index(name).map(|i| st.datasources[i].record.clone())
    }

    /// Datamart names, in creation order.
    pub fn datamart_names(&self) -> Vec<String> {
        lock(&self.shared)
            .datamarts
            .iter()
            .map(|d| d.name.clone())
            .collect()
    }

    /// A datamart as the list returns it.
    pub fn datamart(&self, name: &str) -> Option<Value> {
        let st = lock(&self.shared);
        st.datamarts
            .iter()
            .find(|d| d.name == name)
            .map(|d| d.render())
    }

    /// Names of the datamarts that use a datasource, in creation order.
    pub fn users_of(&self, datasource: &str) -> Vec<String> {
        lock(&self.shared)
            .datamarts
            .iter()
            .filter(|d| d.datasource == datasource)
            .map(|d| d.name.clone())
            .collect()
    }

    /// Embed ids, in list order.
    pub fn embed_ids(&self) -> Vec<String> {
        lock(&self.shared)
            .embeds
            .iter()
            .map(|e| e.id.clone())
            .collect()
    }

    /// Ids of the embeds built on a datamart, in list order.
    pub fn embeds_of(&self, datamart: &str) -> Vec<String> {
        lock(&self.shared)
            .embeds
            .iter()
            .filter(|e| e.datamart.as_deref() == Some(datamart))
            .map(|e| e.id.clone())
            .collect()
    }

    /// An embed as the list returns it (with the current switches).
    pub fn embed(&self, id: &str) -> Option<Value> {
        let st = lock(&self.shared);
        st.embeds
            .iter()
            .find(|e| e.id == id)
            .map(|e| e.render(&st.data_app, st.embeds_show_datamart))
    }

    /// The name of the data app the embeds and datamarts belong to.
    pub fn data_app(&self) -> String {
        lock(&self.shared).data_app.clone()
    }

    /// Add a dashboard embed, built on `datamart` when given; false when the id is taken.
    pub fn add_embed(&self, id: &str, name: &str, datamart: Option<&str>) -> bool {
        let mut st = lock(&self.shared);
        if id.is_empty() || st.embeds.iter().any(|e| e.id == id) {
            return false;
        }
        st.embeds.push(EmbedEntry {
            id: id.to_string(),
            metric: false,
            name: name.to_string(),
            target_id: format!("dash-{id}"),
            target_name: name.to_string(),
            datamart: datamart.map(str::to_string),
            sparse: false,
        });
        true
    }

    /// Remove every embed (a data app without any).
    pub fn clear_embeds(&self) {
        lock(&self.shared).embeds.clear();
    }

    /// On: embed list items carry `accessSettings.datamartName` (undocumented: the real list
    /// does not say which datamart an embed is built on).
    pub fn set_embed_datamarts_listed(&self, on: bool) {
        lock(&self.shared).embeds_show_datamart = on;
    }

    /// Add a datasource with a minimal record; false when the name is taken.
    pub fn add_datasource(&self, name: &str, datasource_type: &str) -> bool {
        let mut st = lock(&self.shared);
        if name.is_empty() || st.ds_index(name).is_some() {
            return false;
        }
        let record = json!({
            "id": st.new_uuid(),
            "name": name,
            "datasourceType": datasource_type,
            "credentials": {"name": name},
            "tenancySettings": null,
        });
        st.push_datasource(name.to_string(), record);
        true
    }

    /// Add a datamart with one table on `datasource`; false when the name is taken or the
    /// datasource does not exist.
    pub fn add_datamart(&self, name: &str, datasource: &str) -> bool {
        let mut st = lock(&self.shared);
        if name.is_empty() || st.dm_index(name).is_some() || st.ds_index(datasource).is_none() {
            return false;
        }
        let item = datamart_item(
            name,
            datasource,
            Value::Null,
            vec![json!({
                "schemaName": "public",
                "tableName": "events",
                "label": "Events",
                "isHide": false,
                "datamartTableColumns": [column_json("id", None)],
            })],
        );
        st.push_datamart(DmEntry::json(item));
        true
    }

    /// Remove a datamart (freeing its datasource); false when there is none of that name.
    pub fn remove_datamart(&self, name: &str) -> bool {
        lock(&self.shared).remove_datamart(name)
    }

    /// Answer the next `times` requests (any route) with `fault`.
    pub fn fail_next(&self, fault: SimFault, times: usize) {
        lock(&self.shared).faults.push(None, "", fault, times);
    }

    /// Answer the next `times` requests whose path starts with `path_prefix` with `fault`.
    pub fn fail_next_on(&self, path_prefix: &str, fault: SimFault, times: usize) {
        lock(&self.shared)
            .faults
            .push(None, path_prefix, fault, times);
    }

    /// Drop every pending fault.
    pub fn clear_faults(&self) {
        lock(&self.shared).faults.clear();
    }

    /// On: `pageNumber` is ignored and every paginated list answers page 1 (a broken server).
    pub fn set_ignore_page_number(&self, on: bool) {
        lock(&self.shared).ignore_page_number = on;
    }

    /// On: the datamart routes accept only the data-app key (the service token gets 401).
    pub fn set_datamarts_require_app_key(&self, on: bool) {
        lock(&self.shared).datamarts_require_app_key = on;
    }

    /// Off: the kebab-case `/api/v2/data-app/datamarts` and `/api/v2/data-app/embeds` lists
    /// are missing (an older install serving only the `/api/v2/dataApp/...` routes).
    pub fn set_kebab_datamart_route(&self, on: bool) {
        lock(&self.shared).kebab_route = on;
    }

    /// `name=uuid, name=uuid`: the demo profile's `datasource_ids`, so that "test
    /// everything" can sync every datasource (a name the key's syntax cannot hold is left
    /// out).
    pub fn datasource_ids(&self) -> String {
        let st = lock(&self.shared);
        st.datasources
            .iter()
            .filter_map(|d| {
                let name = d.record.get("name").and_then(Value::as_str)?;
                let id = d.record.get("id").and_then(Value::as_str)?;
                (!name.contains([',', '='])).then(|| format!("{name}={id}"))
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The UUID of a datasource (what sync takes), if it exists.
    pub fn uuid_of(&self, name: &str) -> Option<String> {
        let st = lock(&self.shared);
        let at = st.ds_index(name)?;
        st.datasources[at]
            .record
            .get("id")
            .and_then(Value::as_str)
            .map(str::to_string)
    }

    /// How many progress reads a sync takes to finish (default 3; 0 or 1: done at the
    /// first read). Progress moves `0/16` → ... → `16/16` over them.
    pub fn set_sync_steps(&self, steps: usize) {
        lock(&self.shared).sync_steps = steps;
    }

    /// `Some(message)`: syncs of this datasource fail, their progress answering
    /// `{"progress":"0/16","error":message}` (the docs' example: `"Error: Bind error data
    /// type"`); `None`: they succeed again.
    pub fn set_sync_failure(&self, name: &str, message: Option<&str>) {
        let mut st = lock(&self.shared);
        match message {
            Some(m) => {
                st.sync_failures.insert(name.to_string(), m.to_string());
            }
            None => {
                st.sync_failures.remove(name);
            }
        }
    }

    /// `Some(message)`: creating or updating a datasource fails with `CREDENTIAL_TEST_FAILED`.
    pub fn set_credential_test_failure(&self, message: Option<&str>) {
        lock(&self.shared).credential_test_failure = message.map(str::to_string);
    }

    /// `Some(password)`: the database behind datasource `name` accepts only this password;
    /// an update with another one fails its credential test (400 `CREDENTIAL_TEST_FAILED`,
    /// nothing stored). `None`: any password passes.
    pub fn set_expected_password(&self, name: &str, password: Option<&str>) {
        let mut st = lock(&self.shared);
        match password {
            Some(p) => {
                st.expected_passwords
                    .insert(name.to_string(), p.to_string());
            }
            None => {
                st.expected_passwords.remove(name);
            }
        }
    }

    /// Whether the datasource list shows `datasourceType` and the non-secret connection
    /// fields (`host`, `port`, `username`, `database`, `schema`) beside each name
    /// ([guess]: the documented list has names only, the default).
    pub fn set_list_details(&self, on: bool) {
        lock(&self.shared).list_details = on;
    }

    /// `Some(message)`: updates store the new credentials, then answer 500
    /// `SCHEMA_CACHE_FAILED` with this message (the schema refresh failed; [guess]: the
    /// change is kept). `None` (default): they succeed.
    pub fn set_schema_cache_failure(&self, message: Option<&str>) {
        lock(&self.shared).schema_cache_failure = message.map(str::to_string);
    }

    /// Every `PUT /api/v2/datasource` body received, in order (secrets included: for tests).
    pub fn updates(&self) -> Vec<Value> {
        lock(&self.shared).updates.clone()
    }
}

/// Start the simulator on 127.0.0.1 (`opts.port`, 0 = any free port), serving in a
/// background task.
pub async fn start(opts: &SimOptions) -> std::io::Result<DatabrainSim> {
    let state = SimState::from_seed(opts)?;
    let shared = Arc::new(Shared::new(state));
    let (listener, base_url) = kit::bind(opts.port).await?;
    let kit = kit::Kit::with_credential(opts, MAX_LOGGED_REQUESTS, classify);
    let app = router(shared.clone(), &kit);
    Ok(DatabrainSim {
        base_url,
        control: DatabrainControl {
            shared,
            core: kit.serve(listener, app, "Databrain"),
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

/// Tables a simulated sync goes through.
const SYNC_TOTAL: usize = 16;

/// A sync started by `POST /api/v2/datasource/sync`, moved on by each progress read.
struct SyncRun {
    name: String,
    reads: usize,
    failure: Option<String>,
}

struct DsEntry {
    name: String,
    /// `{id, name, datasourceType, credentials, tenancySettings}`; never sent whole.
    record: Value,
}

/// A datamart list item, or the few parameters a generated one is rendered from.
enum DmBody {
    Json(Value),
    Generated(u32),
}

struct DmEntry {
    name: String,
    datasource: String,
    body: DmBody,
}

impl DmEntry {
    fn json(item: Value) -> DmEntry {
        DmEntry {
            name: item
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            datasource: item
                .pointer("/companyIntegration/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            body: DmBody::Json(item),
        }
    }

    fn render(&self) -> Value {
        match &self.body {
            DmBody::Json(v) => v.clone(),
            DmBody::Generated(n) => {
                let table = format!("events_{}", n % 7);
                datamart_item(
                    &self.name,
                    &self.datasource,
                    Value::Null,
                    vec![json!({
                        "schemaName": "public",
                        "tableName": table,
                        "datamartTableColumns": [
                            column_json("id", Some("bigint")),
                            column_json("org_id", Some("text")),
                        ],
                    })],
                )
            }
        }
    }
}

/// One embed of the data app: a dashboard or a metric, built on a datamart.
struct EmbedEntry {
    id: String,
    metric: bool,
    name: String,
    /// The embedded dashboard's or metric's id and name.
    target_id: String,
    target_name: String,
    /// The datamart it is built on (`accessSettings.datamartName` at create), if any.
    datamart: Option<String>,
    /// Rendered like the sparse documented example: no `name`, no `embedMetadata`.
    sparse: bool,
}

const EMBED_CREATED: &str = "2024-01-15T10:30:00Z";
const EMBED_UPDATED: &str = "2024-01-20T14:45:00Z";

impl EmbedEntry {
    fn from_seed(v: &Value) -> Option<EmbedEntry> {
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        let id = s("embedId").filter(|i| !i.is_empty())?;
        let name = s("name").unwrap_or_else(|| id.clone());
        Some(EmbedEntry {
            metric: s("embedType").as_deref() == Some("metric"),
            target_id: s("targetId").unwrap_or_else(|| format!("target-{id}")),
            target_name: s("targetName").unwrap_or_else(|| name.clone()),
            datamart: s("datamartName"),
            sparse: v.get("sparse").and_then(Value::as_bool).unwrap_or(false),
            id,
            name,
        })
    }

    /// The list item, as documented (`list-embed`).
    fn render(&self, data_app: &str, show_datamart: bool) -> Value {
        let ty = if self.metric { "metric" } else { "dashboard" };
        let (dashboard, metric) = if self.metric {
            (
                Value::Null,
                json!({"metricId": self.target_id, "name": self.target_name}),
            )
        } else {
            (
                json!({"externalDashboardId": self.target_id, "name": self.target_name,
                       "metadata": {"createdAt": EMBED_CREATED, "updatedAt": EMBED_UPDATED}}),
                Value::Null,
            )
        };
        let mut item = json!({
            "embedId": self.id,
            "embedType": ty,
            "externalDashboard": dashboard,
            "externalMetric": metric,
        });
        if !self.sparse {
            item["name"] = json!(self.name);
            item["embedMetadata"] = json!({
                "embedId": self.id,
                "name": self.name,
                "embedType": ty,
                "dataAppName": data_app,
                "metricId": if self.metric { json!(self.target_id) } else { Value::Null },
                "dashboardId": if self.metric { Value::Null } else { json!(self.target_id) },
                "createdAt": EMBED_CREATED,
                "updatedAt": EMBED_UPDATED,
            });
        }
        if show_datamart {
            if let Some(dm) = &self.datamart {
                item["accessSettings"] = json!({"datamartName": dm});
            }
        }
        item
    }
}

struct SimState {
    datasources: Vec<DsEntry>,
    /// Name → position in `datasources` (rebuilt after a removal).
    ds_by_name: HashMap<String, usize>,
    datamarts: Vec<DmEntry>,
    /// Datasource name → number of datamarts using it.
    use_count: HashMap<String, usize>,
    /// The data app's embeds, in list order.
    embeds: Vec<EmbedEntry>,
    /// `embedMetadata.dataAppName`.
    data_app: String,
    embeds_show_datamart: bool,
    faults: kit::FaultQueue<SimFault>,
    ignore_page_number: bool,
    datamarts_require_app_key: bool,
    kebab_route: bool,
    credential_test_failure: Option<String>,
    /// The password each datasource's database accepts, by name: an update carrying another
    /// one fails its credential test.
    expected_passwords: HashMap<String, String>,
    /// The datasource list also shows each datasource's type and non-secret connection
    /// fields ([guess]: the docs show names only).
    list_details: bool,
    /// Every PUT body received, in order.
    updates: Vec<Value>,
    /// `Some(message)`: an update that passed its credential test stores the credentials,
    /// then fails to re-cache the schema (500 `SCHEMA_CACHE_FAILED`).
    schema_cache_failure: Option<String>,
    /// Progress reads a sync takes to finish.
    sync_steps: usize,
    /// Failing syncs by datasource name, with their error string.
    sync_failures: HashMap<String, String>,
    /// Syncs started, by datasource UUID.
    syncs: HashMap<String, SyncRun>,
    uuid_seed: u64,
    uuid_counter: AtomicU64,
}

impl SimState {
    fn from_seed(opts: &SimOptions) -> std::io::Result<SimState> {
        let seed: Value = serde_json::from_str(SEED).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("assets/databrain.json: {e}"),
            )
        })?;
        let mut st = SimState {
            datasources: Vec::new(),
            ds_by_name: HashMap::new(),
            datamarts: Vec::new(),
            use_count: HashMap::new(),
            embeds: Vec::new(),
            data_app: seed
                .get("dataApp")
                .and_then(Value::as_str)
                .unwrap_or("Production Data App")
                .to_string(),
            embeds_show_datamart: false,
            faults: kit::FaultQueue::default(),
            ignore_page_number: false,
            datamarts_require_app_key: false,
            kebab_route: true,
            credential_test_failure: None,
            expected_passwords: HashMap::new(),
            list_details: false,
            updates: Vec::new(),
            schema_cache_failure: None,
            sync_steps: 3,
            sync_failures: HashMap::new(),
            syncs: HashMap::new(),
            uuid_seed: RandomState::new().hash_one(0x000D_A7AB_2A14_u64),
            uuid_counter: AtomicU64::new(0),
        };
        for v in seed
            .get("datasources")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(name) = v.get("name").and_then(Value::as_str) {
                if st.ds_index(name).is_none() {
                    st.push_datasource(name.to_string(), v.clone());
                }
            }
        }
        for v in seed
            .get("datamarts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let e = DmEntry::json(v.clone());
            if !e.name.is_empty() && st.dm_index(&e.name).is_none() {
                st.push_datamart(e);
            }
        }
        for e in seed
            .get("embeds")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(EmbedEntry::from_seed)
        {
            if !st.embeds.iter().any(|x| x.id == e.id) {
                st.embeds.push(e);
            }
        }
        generate(&mut st, opts.scale);
        Ok(st)
    }

    fn ds_index(&self, name: &str) -> Option<usize> {
        self.ds_by_name.get(name).copied()
    }

    fn dm_index(&self, name: &str) -> Option<usize> {
        self.datamarts.iter().position(|d| d.name == name)
    }

    fn push_datasource(&mut self, name: String, record: Value) {
        self.ds_by_name.insert(name.clone(), self.datasources.len());
        self.datasources.push(DsEntry { name, record });
    }

    fn remove_datasource(&mut self, at: usize) -> DsEntry {
        let e = self.datasources.remove(at);
        self.ds_by_name.remove(&e.name);
        for (i, d) in self.datasources.iter().enumerate().skip(at) {
            self.ds_by_name.insert(d.name.clone(), i);
        }
        e
    }

    fn push_datamart(&mut self, e: DmEntry) {
        *self.use_count.entry(e.datasource.clone()).or_default() += 1;
        self.datamarts.push(e);
    }

    fn remove_datamart(&mut self, name: &str) -> bool {
        let Some(at) = self.dm_index(name) else {
            return false;
        };
        let e = self.datamarts.remove(at);
        if let Some(c) = self.use_count.get_mut(&e.datasource) {
            *c = c.saturating_sub(1);
            if *c == 0 {
                self.use_count.remove(&e.datasource);
            }
        }
        true
    }

    fn in_use(&self, datasource: &str) -> bool {
        self.use_count.get(datasource).is_some_and(|&c| c > 0)
    }

    fn new_uuid(&self) -> String {
        let n = self.uuid_counter.fetch_add(1, Ordering::Relaxed);
        let hi = splitmix64(self.uuid_seed ^ n.wrapping_mul(2));
        let lo = splitmix64(self.uuid_seed ^ n.wrapping_mul(2).wrapping_add(1));
        uuid_from(hi, lo)
    }
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A version-4 UUID from 128 random bits.
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

fn column_json(name: &str, datatype: Option<&str>) -> Value {
    json!({
        "columnName": name,
        "datatype": datatype.unwrap_or("text"),
        "alias": name,
        "label": name,
        "isHide": false,
        "isCustomColumn": false,
        "sql": "",
        "isApplyTimezone": false,
    })
}

fn datamart_item(name: &str, datasource: &str, organization: Value, tables: Vec<Value>) -> Value {
    json!({
        "name": name,
        "datamartOrganization": organization,
        "companyIntegration": {"name": datasource},
        "datamartTables": tables,
        "datamartRelationships": [],
    })
}

/// Add generated objects until there are `scale` datasources and `scale` datamarts.
/// Generated datamart `n` uses datasource `(n / 2) * 3` (modulo the count): datamarts come in
/// pairs on one datasource, and about half the generated datasources are not used. Every
/// third generated datamart has one dashboard embed.
fn generate(st: &mut SimState, scale: usize) {
    let scale = scale.min(MAX_SCALE);
    let mut n = 0u32;
    while st.datasources.len() < scale {
        n += 1;
        let ty = DATASOURCE_TYPES[n as usize % DATASOURCE_TYPES.len()];
        let name = format!("gen-{ty}-{n:06}");
        if st.ds_index(&name).is_some() {
            continue;
        }
        let record = json!({
            "id": st.new_uuid(),
            "name": name,
            "datasourceType": ty,
            "credentials": {"name": name, "host": format!("gen-{n:06}.db.example.internal")},
            "tenancySettings": null,
        });
        st.push_datasource(name, record);
    }
    let total = st.datasources.len();
    let taken: HashSet<String> = st.datamarts.iter().map(|d| d.name.clone()).collect();
    let mut m = 0u32;
    while st.datamarts.len() < scale && total > 0 {
        let name = format!("gen-datamart-{:06}", m + 1);
        let target = ((m as usize / 2) * 3) % total;
        m += 1;
        if taken.contains(&name) {
            continue;
        }
        let datasource = st.datasources[target].name.clone();
        if (m - 1).is_multiple_of(3) {
            let id = format!("dashboard-gen-{m:06}");
            st.embeds.push(EmbedEntry {
                target_id: format!("dash-gen-{m:06}"),
                target_name: format!("Generated dashboard {m}"),
                name: format!("Generated embed {m}"),
                datamart: Some(name.clone()),
                metric: false,
                sparse: false,
                id,
            });
        }
        st.push_datamart(DmEntry {
            name,
            datasource,
            body: DmBody::Generated(m - 1),
        });
    }
}

// ---------------------------------------------------------------------------------------------
// Errors and responses
// ---------------------------------------------------------------------------------------------

/// A Databrain error answer: `{"error":{"code","message"}}`.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "INVALID_REQUEST_BODY", message)
    }

    fn auth(message: &str) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "AUTHENTICATION_ERROR", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        kit::json(
            self.status,
            JSON_CONTENT_TYPE,
            &json!({"error": {"code": self.code, "message": self.message}}),
        )
    }
}

type ApiResult = Result<Response, ApiError>;

fn ok_json(v: &Value) -> ApiResult {
    Ok(kit::json(StatusCode::OK, JSON_CONTENT_TYPE, v))
}

/// Express's default answer to an unknown route.
fn express_404(method: &str, path: &str) -> Response {
    let escaped = path
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    let body = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>Error</title>\n</head>\n<body>\n<pre>Cannot {method} {escaped}</pre>\n\
         </body>\n</html>\n"
    );
    kit::bytes(StatusCode::NOT_FOUND, "text/html; charset=utf-8", body)
}

fn fault_response(fault: SimFault) -> Response {
    match fault {
        SimFault::Status(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let (code, message) = match status.as_u16() {
                401 => ("AUTHENTICATION_ERROR", "Invalid Service Token"),
                403 => ("FORBIDDEN", "Forbidden"),
                s if s >= 500 => ("INTERNAL_SERVER_ERROR", "Internal server error"),
                _ => ("REQUEST_FAILED", "Request failed"),
            };
            ApiError::new(status, code, message).into_response()
        }
        SimFault::RateLimited { retry_after_secs } => kit::retry_after(
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "TOO_MANY_REQUESTS",
                "Too many requests, please try again later",
            )
            .into_response(),
            retry_after_secs,
        ),
        SimFault::HtmlPage => kit::proxy_page(StatusCode::BAD_GATEWAY, "nginx"),
        SimFault::Error {
            status,
            code,
            message,
        } => ApiError::new(
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            code,
            message,
        )
        .into_response(),
        SimFault::OkWithError { code, message } => kit::json(
            StatusCode::OK,
            JSON_CONTENT_TYPE,
            &json!({"data": null, "error": {"code": code, "message": message}}),
        ),
        SimFault::MalformedJson => kit::bytes(
            StatusCode::OK,
            JSON_CONTENT_TYPE,
            "{\"data\":[{\"name\":\"postgres-pr",
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// Request parsing helpers
// ---------------------------------------------------------------------------------------------

#[cfg(test)]
use super::form_decode as query_decode;

fn parse_query(q: &str) -> Vec<(String, String)> {
    super::parse_form(q)
}

fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// `"true"` and `true` are the same value: the documentation quotes the strings.
fn unquote(s: &str) -> &str {
    s.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(s)
}

/// The 1-based page asked for, or `None` for the whole list.
fn paging(query: Option<&str>, ignore_page_number: bool) -> Result<Option<usize>, ApiError> {
    let pairs = parse_query(query.unwrap_or(""));
    let paginate = match param(&pairs, "isPagination").map(unquote) {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            return Err(ApiError::bad_request(
                "isPagination must be \"true\" or \"false\"",
            ))
        }
    };
    if !paginate {
        return Ok(None);
    }
    let page = match param(&pairs, "pageNumber").map(unquote) {
        None => 1,
        Some(p) => match p.parse::<usize>() {
            Ok(n) if n >= 1 => n,
            _ => {
                return Err(ApiError::bad_request(
                    "pageNumber must be a positive integer",
                ))
            }
        },
    };
    Ok(Some(if ignore_page_number { 1 } else { page }))
}

/// The items of one page (or all of them).
fn page_range(len: usize, page: Option<usize>) -> std::ops::Range<usize> {
    match page {
        None => 0..len,
        Some(p) => {
            let start = (p - 1).saturating_mul(PAGE_SIZE).min(len);
            start..(start + PAGE_SIZE).min(len)
        }
    }
}

fn parse_body(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(ApiError::bad_request("Invalid request body")),
    }
}

fn classify(headers: &HeaderMap) -> Credential {
    let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Credential::Missing;
    };
    let v = v.trim();
    let token = match v.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        _ => return Credential::Invalid,
    };
    if token == DEMO_TOKEN {
        Credential::ServiceToken
    } else if token == DEMO_DATA_APP_KEY {
        Credential::DataAppKey
    } else {
        Credential::Invalid
    }
}

fn require_service_token(cred: Credential) -> Result<(), ApiError> {
    match cred {
        Credential::ServiceToken => Ok(()),
        Credential::Missing => Err(ApiError::auth("Service token is required")),
        Credential::DataAppKey | Credential::Invalid => {
            Err(ApiError::auth("Invalid Service Token"))
        }
    }
}

fn require_datamart_access(st: &SimState, cred: Credential) -> Result<(), ApiError> {
    match cred {
        Credential::DataAppKey => Ok(()),
        Credential::ServiceToken if !st.datamarts_require_app_key => Ok(()),
        Credential::ServiceToken => Err(ApiError::auth("Invalid API Key")),
        Credential::Missing => Err(ApiError::auth("API key is required")),
        Credential::Invalid => Err(ApiError::auth("Invalid API Key")),
    }
}

// ---------------------------------------------------------------------------------------------
// Router and middleware
// ---------------------------------------------------------------------------------------------

fn router(shared: Arc<Shared>, kit: &kit::Kit<Credential>) -> Router {
    let app = Router::new()
        .route(
            "/api/v2/datasource",
            get(list_datasources)
                .post(create_datasource)
                .put(update_datasource)
                .delete(delete_datasource),
        )
        .route("/api/v2/datasource/sync", post(sync_datasource))
        .route(
            "/api/v2/datasource/getDatasourceProgress",
            post(sync_progress),
        )
        .route(
            "/api/v2/data-app/datamarts",
            get(list_datamarts::<true>).post(create_datamart),
        )
        .route("/api/v2/dataApp/datamarts", get(list_datamarts::<false>))
        .route("/api/v2/data-app/datamart", delete(delete_datamart))
        .route("/api/v2/data-app/embeds", get(list_embeds::<true>))
        .route("/api/v2/dataApp/embeds", get(list_embeds::<false>))
        .fallback(unknown_route);
    kit.router(app, |app| {
        app.layer(middleware::from_fn_with_state(shared.clone(), frame))
            .with_state(shared)
    })
}

async fn unknown_route(req: Request) -> Response {
    express_404(req.method().as_str(), req.uri().path())
}

/// Runs around every request inside the kit's frame (which has recorded the credential):
/// Databrain-shaped faults, Express-style 404s for unsupported methods.
async fn frame(AxState(shared): AxState<Arc<Shared>>, req: Request, next: Next) -> Response {
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let fault = lock(&shared).faults.take(&method, &path);
    match fault {
        Some(f) => fault_response(f),
        None => {
            let resp = next.run(req).await;
            if resp.status() == StatusCode::METHOD_NOT_ALLOWED {
                express_404(&method, &path)
            } else {
                resp
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Datasources
// ---------------------------------------------------------------------------------------------

async fn list_datasources(
    AxState(shared): AxState<Arc<Shared>>,
    Extension(cred): Extension<Credential>,
    RawQuery(query): RawQuery,
) -> ApiResult {
    require_service_token(cred)?;
    let st = lock(&shared);
    let page = paging(query.as_deref(), st.ignore_page_number)?;
    let range = page_range(st.datasources.len(), page);
    let mut out = String::with_capacity(16 + 32 * range.len());
    out.push_str("{\"data\":[");
    for (i, d) in st.datasources[range].iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        if st.list_details {
            let mut item = Map::new();
            item.insert("name".into(), Value::from(d.name.as_str()));
            if let Some(t) = d.record.get("datasourceType") {
                item.insert("datasourceType".into(), t.clone());
            }
            for key in LISTED_CREDENTIALS {
                if let Some(v) = d.record.pointer(&format!("/credentials/{key}")) {
                    item.insert(key.into(), v.clone());
                }
            }
            out.push_str(&Value::Object(item).to_string());
            continue;
        }
        out.push_str("{\"name\":");
        out.push_str(&Value::from(d.name.as_str()).to_string());
        out.push('}');
    }
    out.push_str("]}");
    Ok(kit::bytes(StatusCode::OK, JSON_CONTENT_TYPE, out))
}

fn tenancy_error(code: &'static str, message: &str) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, code, message)
}

/// Validate `tenancySettings` (absent and null are fine).
fn check_tenancy(v: Option<&Value>, code: &'static str) -> Result<(), ApiError> {
    let obj = match v {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::Object(o)) => o,
        Some(_) => return Err(tenancy_error(code, "tenancySettings must be an object")),
    };
    match obj.get("tenancyLevel").and_then(Value::as_str) {
        Some("DATABASE") => Ok(()),
        Some("TABLE") => match obj.get("clientColumnType").and_then(Value::as_str) {
            Some("NUMBER" | "STRING") => Ok(()),
            _ => Err(tenancy_error(
                code,
                "clientColumnType must be NUMBER or STRING when tenancyLevel is TABLE",
            )),
        },
        _ => Err(tenancy_error(
            code,
            "tenancyLevel must be TABLE or DATABASE",
        )),
    }
}

/// Non-secret credential fields the list shows with `set_list_details`.
const LISTED_CREDENTIALS: [&str; 7] = [
    "host", "server", "port", "username", "user", "database", "schema",
];

/// The credential fields an update of a type must carry ([guess] beyond Postgres, whose full
/// set is documented); other types need only `name`.
fn required_credentials(ty: &str) -> &'static [&'static str] {
    match ty {
        "postgres" | "redshift" | "cockroachdb" | "mysql" | "clickhouse" | "singlestore"
        | "firebolt" | "trino" | "databricks" => {
            &["host", "port", "username", "password", "database"]
        }
        "mssql" => &["server", "port", "user", "password", "database"],
        "snowflake" => &["host", "username", "database"],
        _ => &[],
    }
}

/// The validated name, type and credentials of a create / update body.
fn datasource_body(body: &Map<String, Value>) -> Result<(String, String, Value), ApiError> {
    let ty = body
        .get("datasourceType")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request("datasourceType is required"))?;
    if !DATASOURCE_TYPES.contains(&ty) {
        return Err(ApiError::bad_request(format!(
            "Invalid datasourceType '{ty}'"
        )));
    }
    let creds = match body.get("credentials") {
        Some(Value::Object(c)) => c,
        _ => return Err(ApiError::bad_request("credentials is required")),
    };
    let name = match creds.get("name").and_then(Value::as_str) {
        Some(n) if !n.trim().is_empty() => n.to_string(),
        _ => return Err(ApiError::bad_request("credentials.name is required")),
    };
    check_tenancy(body.get("tenancySettings"), "INVALID_REQUEST_BODY")?;
    Ok((name, ty.to_string(), Value::Object(creds.clone())))
}

async fn create_datasource(
    AxState(shared): AxState<Arc<Shared>>,
    Extension(cred): Extension<Credential>,
    body: Bytes,
) -> ApiResult {
    require_service_token(cred)?;
    let body = parse_body(&body)?;
    let (name, ty, creds) = datasource_body(&body)?;
    let mut st = lock(&shared);
    if st.ds_index(&name).is_some() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "DATASOURCE_NAME_ERROR",
            "Datasource name already exists",
        ));
    }
    if let Some(m) = &st.credential_test_failure {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "CREDENTIAL_TEST_FAILED",
            m.clone(),
        ));
    }
    let record = json!({
        "id": st.new_uuid(),
        "name": name,
        "datasourceType": ty,
        "credentials": creds,
        "tenancySettings": body.get("tenancySettings").cloned().unwrap_or(Value::Null),
    });
    st.push_datasource(name.clone(), record);
    ok_json(&json!({ "name": name }))
}

/// Replace a datasource's credentials: the full set every time (each required field of its
/// type), the same type, tested before anything is stored (`CREDENTIAL_TEST_FAILED` leaves
/// the stored record as it was).
async fn update_datasource(
    AxState(shared): AxState<Arc<Shared>>,
    Extension(cred): Extension<Credential>,
    body: Bytes,
) -> ApiResult {
    require_service_token(cred)?;
    let body = parse_body(&body)?;
    lock(&shared).updates.push(Value::Object(body.clone()));
    let (name, ty, creds) = datasource_body(&body)?;
    let mut st = lock(&shared);
    let at = st.ds_index(&name).ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "DATASOURCE_NAME_ERROR",
            "Datasource not found",
        )
    })?;
    let current_type = st.datasources[at]
        .record
        .get("datasourceType")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if current_type != ty {
        return Err(ApiError::bad_request(format!(
            "datasourceType cannot be changed (it is '{current_type}')"
        )));
    }
    let missing: Vec<&str> = required_credentials(&ty)
        .iter()
        .copied()
        .filter(|k| match creds.get(*k) {
            None | Some(Value::Null) => true,
            Some(Value::String(s)) => s.trim().is_empty(),
            Some(_) => false,
        })
        .collect();
    if !missing.is_empty() {
        return Err(ApiError::bad_request(format!(
            "Missing required credentials for {ty}: {} (partial updates are not supported)",
            missing.join(", ")
        )));
    }
    if let Some(m) = &st.credential_test_failure {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "CREDENTIAL_TEST_FAILED",
            m.clone(),
        ));
    }
    if let Some(expected) = st.expected_passwords.get(&name) {
        if creds.get("password").and_then(Value::as_str) != Some(expected.as_str()) {
            let user = creds
                .get("username")
                .or_else(|| creds.get("user"))
                .and_then(Value::as_str)
                .unwrap_or("");
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "CREDENTIAL_TEST_FAILED",
                format!(
                    "Credential test failed: password authentication failed for user \"{user}\""
                ),
            ));
        }
    }
    let record = &mut st.datasources[at].record;
    if let Some(obj) = record.as_object_mut() {
        obj.insert("credentials".into(), creds);
        if let Some(t) = body.get("tenancySettings") {
            obj.insert("tenancySettings".into(), t.clone());
        }
    }
    if let Some(m) = &st.schema_cache_failure {
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "SCHEMA_CACHE_FAILED",
            m.clone(),
        ));
    }
    ok_json(&json!({ "name": name }))
}

async fn delete_datasource(
    AxState(shared): AxState<Arc<Shared>>,
    Extension(cred): Extension<Credential>,
    RawQuery(query): RawQuery,
) -> ApiResult {
    require_service_token(cred)?;
    let pairs = parse_query(query.as_deref().unwrap_or(""));
    let name = match param(&pairs, "datasourceName") {
        Some(n) if !n.is_empty() => n.to_string(),
        _ => return Err(ApiError::bad_request("datasourceName is required")),
    };
    let mut st = lock(&shared);
    let at = st.ds_index(&name).ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "DATASOURCE_NAME_ERROR",
            "Datasource not found",
        )
    })?;
    if st.in_use(&name) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "DATASOURCE_IN_USE",
            "Datasource is being used by other resources",
        ));
    }
    let removed = st.remove_datasource(at);
    let id = removed
        .record
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    ok_json(&json!({"id": id, "message": "Datasource deleted successfully"}))
}

/// The datasource UUID of a sync body, and the index of the datasource it names.
fn sync_target(st: &SimState, body: &[u8]) -> Result<(String, usize), ApiError> {
    let body = parse_body(body)?;
    let id = body
        .get("input")
        .and_then(|i| i.get("datasourceId"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::bad_request("input.datasourceId is required"))?;
    st.datasources
        .iter()
        .position(|d| d.record.get("id").and_then(Value::as_str) == Some(id))
        .map(|at| (id.to_string(), at))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "DATASOURCE_ID_ERROR",
                "Invalid datasource id",
            )
        })
}

/// Record a sync's state on the datasource's record (`lastSync`), which `datasource()`
/// shows: the wire has no sync fields.
fn record_sync(st: &mut SimState, name: &str, status: &str, progress: &str, error: &str) {
    let Some(at) = st.ds_index(name) else { return };
    if let Some(obj) = st.datasources[at].record.as_object_mut() {
        obj.insert(
            "lastSync".into(),
            json!({"status": status, "progress": progress, "error": error,
                   "at": chrono::Utc::now().to_rfc3339()}),
        );
    }
}

/// Starts a sync and answers as documented, `{"data":{"message":"Sync completed"}}`, while
/// the progress (`getDatasourceProgress`) moves over the next reads.
async fn sync_datasource(
    AxState(shared): AxState<Arc<Shared>>,
    Extension(cred): Extension<Credential>,
    body: Bytes,
) -> ApiResult {
    require_service_token(cred)?;
    let mut st = lock(&shared);
    let (id, at) = sync_target(&st, &body)?;
    let name = st.datasources[at].name.clone();
    let failure = st.sync_failures.get(&name).cloned();
    st.syncs.insert(
        id,
        SyncRun {
            name: name.clone(),
            reads: 0,
            failure,
        },
    );
    record_sync(&mut st, &name, "RUNNING", &format!("0/{SYNC_TOTAL}"), "");
    ok_json(&json!({"data": {"message": "Sync completed"}}))
}

/// `{"status":{"progress":"<done>/<total>","error":""}}`: `0/16` before any sync, then a
/// step further per read until `16/16`; a failing sync stays at `0/16` with its error.
async fn sync_progress(
    AxState(shared): AxState<Arc<Shared>>,
    Extension(cred): Extension<Credential>,
    body: Bytes,
) -> ApiResult {
    require_service_token(cred)?;
    let mut st = lock(&shared);
    let (id, _) = sync_target(&st, &body)?;
    let steps = st.sync_steps.max(1);
    let Some(run) = st.syncs.get_mut(&id) else {
        return ok_json(&json!({"status": {"progress": format!("0/{SYNC_TOTAL}"), "error": ""}}));
    };
    run.reads += 1;
    let name = run.name.clone();
    let (status, progress, error) = match &run.failure {
        Some(e) => ("FAILED", format!("0/{SYNC_TOTAL}"), e.clone()),
        None => {
            let done = SYNC_TOTAL * run.reads.min(steps) / steps;
            let status = if done == SYNC_TOTAL {
                "SUCCESS"
            } else {
                "RUNNING"
            };
            (status, format!("{done}/{SYNC_TOTAL}"), String::new())
        }
    };
    record_sync(&mut st, &name, status, &progress, &error);
    ok_json(&json!({"status": {"progress": progress, "error": error}}))
}

// ---------------------------------------------------------------------------------------------
// Datamarts
// ---------------------------------------------------------------------------------------------

async fn list_datamarts<const KEBAB: bool>(
    AxState(shared): AxState<Arc<Shared>>,
    Extension(cred): Extension<Credential>,
    RawQuery(query): RawQuery,
    uri: Uri,
) -> ApiResult {
    let st = lock(&shared);
    if KEBAB && !st.kebab_route {
        return Ok(express_404("GET", uri.path()));
    }
    require_datamart_access(&st, cred)?;
    let page = paging(query.as_deref(), st.ignore_page_number)?;
    let range = page_range(st.datamarts.len(), page);
    let items: Vec<Value> = st.datamarts[range].iter().map(DmEntry::render).collect();
    ok_json(&json!({"data": items, "error": null}))
}

// ---------------------------------------------------------------------------------------------
// Embeds
// ---------------------------------------------------------------------------------------------

/// `GET /api/v2/data-app/embeds` (and the older camelCase route): the data app's embeds,
/// `{"data":[...],"error":null}`, 10 per 1-based page with `isPagination=true`.
async fn list_embeds<const KEBAB: bool>(
    AxState(shared): AxState<Arc<Shared>>,
    Extension(cred): Extension<Credential>,
    RawQuery(query): RawQuery,
    uri: Uri,
) -> ApiResult {
    let st = lock(&shared);
    if KEBAB && !st.kebab_route {
        return Ok(express_404("GET", uri.path()));
    }
    require_datamart_access(&st, cred)?;
    let page = paging(query.as_deref(), st.ignore_page_number)?;
    let range = page_range(st.embeds.len(), page);
    let items: Vec<Value> = st.embeds[range]
        .iter()
        .map(|e| e.render(&st.data_app, st.embeds_show_datamart))
        .collect();
    ok_json(&json!({"data": items, "error": null}))
}

fn column_from_request(v: &Value) -> Option<Value> {
    let name = v
        .get("name")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())?;
    let mut col = column_json(name, None);
    if let Some(alias) = v.get("alias").and_then(Value::as_str) {
        col["alias"] = Value::from(alias);
    }
    Some(col)
}

fn table_from_request(v: &Value) -> Result<Value, ApiError> {
    let invalid = || ApiError::bad_request("Invalid table or column structure");
    let name = v
        .get("name")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(invalid)?;
    let schema = match v.get("schemaName") {
        None | Some(Value::Null) => "public",
        Some(Value::String(s)) if !s.is_empty() => s.as_str(),
        Some(_) => return Err(ApiError::bad_request("Invalid schema or table name")),
    };
    let cols = v
        .get("columns")
        .and_then(Value::as_array)
        .filter(|c| !c.is_empty())
        .ok_or_else(invalid)?;
    let cols = cols
        .iter()
        .map(column_from_request)
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| ApiError::bad_request("Invalid column names in table"))?;
    Ok(json!({
        "schemaName": schema,
        "tableName": name,
        "label": name,
        "clientColumn": null,
        "isHide": false,
        "datamartTableColumns": cols,
    }))
}

async fn create_datamart(
    AxState(shared): AxState<Arc<Shared>>,
    Extension(cred): Extension<Credential>,
    body: Bytes,
) -> ApiResult {
    {
        let st = lock(&shared);
        require_datamart_access(&st, cred)?;
    }
    let body = parse_body(&body)?;
    let name = body
        .get("name")
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| ApiError::bad_request("Invalid request body"))?
        .to_string();
    let datasource = body
        .get("datasourceName")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let tables = match body.get("tableList") {
        Some(Value::Array(t)) if t.is_empty() => {
            return Err(ApiError::bad_request("Table list cannot be empty"))
        }
        Some(Value::Array(t)) => t
            .iter()
            .map(table_from_request)
            .collect::<Result<Vec<_>, _>>()?,
        _ => return Err(ApiError::bad_request("Invalid request body")),
    };
    check_tenancy(body.get("tenancySettings"), "INVALID_TENANCY")?;
    let organization = body.get("tenancySettings").cloned().unwrap_or(Value::Null);
    let mut st = lock(&shared);
    if st.ds_index(&datasource).is_none() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "DATASOURCE_NAME_ERROR",
            "Invalid datasource name",
        ));
    }
    if st.dm_index(&name).is_some() {
        return Err(ApiError::bad_request("Datamart name already exists"));
    }
    st.push_datamart(DmEntry::json(datamart_item(
        &name,
        &datasource,
        organization,
        tables,
    )));
    ok_json(&json!({"id": name, "error": null}))
}

async fn delete_datamart(
    AxState(shared): AxState<Arc<Shared>>,
    Extension(cred): Extension<Credential>,
    RawQuery(query): RawQuery,
) -> ApiResult {
    let mut st = lock(&shared);
    require_datamart_access(&st, cred)?;
    let pairs = parse_query(query.as_deref().unwrap_or(""));
    let name = param(&pairs, "datamartName")
        .unwrap_or_default()
        .to_string();
    if name.is_empty() || !st.remove_datamart(&name) {
        return Err(ApiError::bad_request("Invalid datamart name"));
    }
    ok_json(&json!({"id": name, "error": null}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn seed_has_the_documented_mix() {
        let st = SimState::from_seed(&SimOptions::default()).expect("seed");
        assert!(st.datasources.len() >= 12, "{}", st.datasources.len());
        assert!(st.datamarts.len() >= 3);
        // Every datamart names an existing datasource.
        for d in &st.datamarts {
            assert!(st.ds_index(&d.datasource).is_some(), "{}", d.datasource);
        }
        // One datasource is used by two datamarts, several by none.
        assert!(st.use_count.values().any(|&c| c >= 2));
        let unused = st
            .datasources
            .iter()
            .filter(|d| !st.in_use(&d.name))
            .count();
        assert!(unused >= 3, "{unused}");
        // More than one page of datasources.
        assert!(st.datasources.len() > PAGE_SIZE);
        // Records carry an id and type; the ids are distinct.
        let ids: HashSet<&str> = st
            .datasources
            .iter()
            .filter_map(|d| d.record.get("id").and_then(Value::as_str))
            .collect();
        assert_eq!(ids.len(), st.datasources.len());
    }

    #[test]
    fn seed_embeds_span_two_pages_and_name_existing_datamarts() {
        let st = SimState::from_seed(&SimOptions::default()).expect("seed");
        assert!(st.embeds.len() > PAGE_SIZE && st.embeds.len() < 2 * PAGE_SIZE);
        for e in &st.embeds {
            if let Some(dm) = &e.datamart {
                assert!(st.dm_index(dm).is_some(), "{dm}");
            }
        }
        // One datasource with several datamarts, each with several embeds; one embed on no
        // datamart; one datamart without embeds.
        let on = |dm: &str| {
            st.embeds
                .iter()
                .filter(|e| e.datamart.as_deref() == Some(dm))
                .count()
        };
        assert!(on("sales-analytics") >= 2 && on("customer-360") >= 2);
        assert_eq!(on("ops-inventory"), 0);
        assert!(st.embeds.iter().any(|e| e.datamart.is_none()));
        assert!(st.embeds.iter().any(|e| e.sparse));
        let ids: HashSet<&str> = st.embeds.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids.len(), st.embeds.len());
    }

    #[test]
    fn embeds_render_the_documented_shapes() {
        let st = SimState::from_seed(&SimOptions::default()).expect("seed");
        let dash = st.embeds.iter().find(|e| !e.metric && !e.sparse).unwrap();
        let v = dash.render("App", false);
        assert_eq!(v["embedType"], "dashboard");
        assert_eq!(v["externalMetric"], Value::Null);
        assert_eq!(v.pointer("/embedMetadata/dataAppName"), Some(&json!("App")));
        assert_eq!(
            v.pointer("/externalDashboard/externalDashboardId"),
            v.pointer("/embedMetadata/dashboardId")
        );
        assert!(v.get("accessSettings").is_none(), "not documented in lists");
        let v = dash.render("App", true);
        assert_eq!(
            v.pointer("/accessSettings/datamartName")
                .and_then(Value::as_str),
            dash.datamart.as_deref()
        );
        let sparse = st.embeds.iter().find(|e| e.sparse && e.metric).unwrap();
        let v = sparse.render("App", false);
        assert!(v.get("name").is_none() && v.get("embedMetadata").is_none());
        assert_eq!(v["externalDashboard"], Value::Null);
        assert!(v.pointer("/externalMetric/name").is_some());
    }

    #[test]
    fn scale_generates_both_kinds_with_unused_datasources() {
        let st = SimState::from_seed(&SimOptions {
            scale: 1000,
            ..Default::default()
        })
        .expect("seed");
        assert_eq!(st.datasources.len(), 1000);
        assert_eq!(st.datamarts.len(), 1000);
        let unused = st
            .datasources
            .iter()
            .filter(|d| !st.in_use(&d.name))
            .count();
        assert!(unused > 100 && unused < 900, "{unused}");
        let names: HashSet<&str> = st.datamarts.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names.len(), 1000);
    }

    #[test]
    fn query_decoding() {
        assert_eq!(query_decode("a+b%26c%2Bd%zz%4"), "a b&c+d%zz%4");
        assert_eq!(query_decode("%C3%BC%"), "ü%");
        let pairs = parse_query("datasourceName=x%3Dy&flag");
        assert_eq!(param(&pairs, "datasourceName"), Some("x=y"));
        assert_eq!(param(&pairs, "flag"), Some(""));
    }

    #[test]
    fn paging_parameters() {
        assert_eq!(paging(None, false).unwrap(), None);
        assert_eq!(paging(Some("isPagination=false"), false).unwrap(), None);
        assert_eq!(
            paging(Some("isPagination=true&pageNumber=3"), false).unwrap(),
            Some(3)
        );
        assert_eq!(
            paging(Some("isPagination=%22true%22&pageNumber=%222%22"), false).unwrap(),
            Some(2)
        );
        assert_eq!(paging(Some("isPagination=true"), false).unwrap(), Some(1));
        assert_eq!(
            paging(Some("isPagination=true&pageNumber=3"), true).unwrap(),
            Some(1)
        );
        assert!(paging(Some("isPagination=yes"), false).is_err());
        assert!(paging(Some("isPagination=true&pageNumber=0"), false).is_err());
        assert!(paging(Some("isPagination=true&pageNumber=x"), false).is_err());
        assert_eq!(page_range(14, Some(2)), 10..14);
        assert_eq!(page_range(14, Some(3)), 14..14);
        assert_eq!(page_range(14, None), 0..14);
    }

    #[test]
    fn uuids_have_the_v4_shape() {
        let st = SimState::from_seed(&SimOptions::default()).expect("seed");
        let a = st.new_uuid();
        let b = st.new_uuid();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"), "{a}");
    }

    #[test]
    fn credentials_are_classified() {
        let mut h = HeaderMap::new();
        assert_eq!(classify(&h), Credential::Missing);
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {DEMO_TOKEN}")).unwrap(),
        );
        assert_eq!(classify(&h), Credential::ServiceToken);
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("bearer {DEMO_DATA_APP_KEY}")).unwrap(),
        );
        assert_eq!(classify(&h), Credential::DataAppKey);
        h.insert(header::AUTHORIZATION, HeaderValue::from_static(DEMO_TOKEN));
        assert_eq!(classify(&h), Credential::Invalid);
    }

    async fn call(
        base: &str,
        method: reqwest::Method,
        path_and_query: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, String, Value) {
        let mut req = reqwest::Client::new().request(method, format!("{base}{path_and_query}"));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let ctype = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let text = resp.text().await.expect("body");
        let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, ctype, v)
    }

    fn code(v: &Value) -> &str {
        v.pointer("/error/code")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    #[tokio::test]
    async fn routes_follow_the_documented_wire_format() {
        use reqwest::Method;
        let sim = start(&SimOptions::default()).await.expect("start");
        let b = sim.base_url.as_str();
        let tok = Some(DEMO_TOKEN);

        // Lists: names only, unpaginated by default, no error key.
        let (s, ct, v) = call(b, Method::GET, "/api/v2/datasource", tok, None).await;
        assert_eq!((s, ct.starts_with("application/json")), (200, true));
        let all = v["data"].as_array().expect("data").clone();
        assert_eq!(all.len(), sim.control.ids().len());
        assert_eq!(all[0], json!({"name": sim.control.ids()[0]}));
        assert!(v.get("error").is_none());
        let (_, _, v) = call(
            b,
            Method::GET,
            "/api/v2/datasource?isPagination=true&pageNumber=2",
            tok,
            None,
        )
        .await;
        assert_eq!(
            v["data"].as_array().map(Vec::len),
            Some(all.len() - PAGE_SIZE)
        );
        let (s, _, v) = call(
            b,
            Method::GET,
            "/api/v2/datasource?isPagination=true&pageNumber=0",
            tok,
            None,
        )
        .await;
        assert_eq!((s, code(&v)), (400, "INVALID_REQUEST_BODY"));

        // Auth: missing, wrong, and the data-app key on a datasource route.
        for t in [None, Some("nope"), Some(DEMO_DATA_APP_KEY)] {
            let (s, _, v) = call(b, Method::GET, "/api/v2/datasource", t, None).await;
            assert_eq!((s, code(&v)), (401, "AUTHENTICATION_ERROR"), "{t:?}");
        }

        // Create: {"name"}; duplicate; unknown type; failing credential test.
        let body = json!({"datasourceType": "postgres", "credentials": {"name": "new-pg",
            "host": "h", "port": 5432, "username": "u", "password": "p", "database": "d",
            "schema": "public"}});
        let (s, _, v) = call(
            b,
            Method::POST,
            "/api/v2/datasource",
            tok,
            Some(body.clone()),
        )
        .await;
        assert_eq!((s, v.clone()), (200, json!({"name": "new-pg"})));
        assert!(sim.control.contains("new-pg"));
        let (s, _, v) = call(
            b,
            Method::POST,
            "/api/v2/datasource",
            tok,
            Some(body.clone()),
        )
        .await;
        assert_eq!((s, code(&v)), (400, "DATASOURCE_NAME_ERROR"));
        let bad = json!({"datasourceType": "oracle", "credentials": {"name": "o"}});
        let (s, _, v) = call(b, Method::POST, "/api/v2/datasource", tok, Some(bad)).await;
        assert_eq!((s, code(&v)), (400, "INVALID_REQUEST_BODY"));
        sim.control
            .set_credential_test_failure(Some("password authentication failed"));
        let other = json!({"datasourceType": "mysql", "credentials": {"name": "my"}});
        let (s, _, v) = call(b, Method::POST, "/api/v2/datasource", tok, Some(other)).await;
        assert_eq!((s, code(&v)), (400, "CREDENTIAL_TEST_FAILED"));
        assert!(!sim.control.contains("my"));
        sim.control.set_credential_test_failure(None);

        // Update: full replace by name; the type cannot change; unknown name.
        let mut upd = body.clone();
        upd["credentials"]["host"] = json!("h2");
        let (s, _, v) = call(b, Method::PUT, "/api/v2/datasource", tok, Some(upd)).await;
        assert_eq!((s, v), (200, json!({"name": "new-pg"})));
        let rec = sim.control.datasource("new-pg").expect("record");
        assert_eq!(rec.pointer("/credentials/host"), Some(&json!("h2")));
        let mut retype = body.clone();
        retype["datasourceType"] = json!("redshift");
        let (s, _, v) = call(b, Method::PUT, "/api/v2/datasource", tok, Some(retype)).await;
        assert_eq!((s, code(&v)), (400, "INVALID_REQUEST_BODY"));
        let ghost = json!({"datasourceType": "postgres", "credentials": {"name": "ghost"}});
        let (s, _, v) = call(b, Method::PUT, "/api/v2/datasource", tok, Some(ghost)).await;
        assert_eq!((s, code(&v)), (400, "DATASOURCE_NAME_ERROR"));

        // Sync by UUID.
        let id = rec["id"].as_str().expect("id").to_string();
        let (s, _, v) = call(
            b,
            Method::POST,
            "/api/v2/datasource/sync",
            tok,
            Some(json!({"input": {"datasourceId": id}})),
        )
        .await;
        assert_eq!(
            (s, v),
            (200, json!({"data": {"message": "Sync completed"}}))
        );
        let (s, _, v) = call(
            b,
            Method::POST,
            "/api/v2/datasource/sync",
            tok,
            Some(json!({"input": {"datasourceId": "00000000-0000-4000-8000-000000000000"}})),
        )
        .await;
        assert_eq!((s, code(&v)), (400, "DATASOURCE_ID_ERROR"));

        // Datamart create makes the datasource in use; deleting the datamart frees it.
        let dm = json!({"name": "new-mart", "datasourceName": "new-pg",
            "tableList": [{"schemaName": "public", "name": "orders",
                           "columns": [{"name": "id", "alias": "order_id"}]}]});
        let (s, _, v) = call(b, Method::POST, "/api/v2/data-app/datamarts", tok, Some(dm)).await;
        assert_eq!((s, v), (200, json!({"id": "new-mart", "error": null})));
        let item = sim.control.datamart("new-mart").expect("stored");
        assert_eq!(
            item.pointer("/companyIntegration/name"),
            Some(&json!("new-pg"))
        );
        assert_eq!(
            item.pointer("/datamartTables/0/datamartTableColumns/0/alias"),
            Some(&json!("order_id"))
        );
        let (s, _, v) = call(
            b,
            Method::DELETE,
            "/api/v2/datasource?datasourceName=new-pg",
            tok,
            None,
        )
        .await;
        assert_eq!((s, code(&v)), (400, "DATASOURCE_IN_USE"));
        let empty = json!({"name": "m2", "datasourceName": "new-pg", "tableList": []});
        let (s, _, v) = call(
            b,
            Method::POST,
            "/api/v2/data-app/datamarts",
            tok,
            Some(empty),
        )
        .await;
        assert_eq!(
            (s, v["error"]["message"].as_str()),
            (400, Some("Table list cannot be empty"))
        );
        let orphan = json!({"name": "m3", "datasourceName": "nope",
            "tableList": [{"name": "t", "columns": [{"name": "c"}]}]});
        let (s, _, v) = call(
            b,
            Method::POST,
            "/api/v2/data-app/datamarts",
            tok,
            Some(orphan),
        )
        .await;
        assert_eq!((s, code(&v)), (400, "DATASOURCE_NAME_ERROR"));
        let (s, _, v) = call(
            b,
            Method::GET,
            "/api/v2/data-app/datamarts?isPagination=true&pageNumber=1",
            tok,
            None,
        )
        .await;
        assert_eq!(s, 200);
        assert_eq!(v["error"], Value::Null);
        assert!(
            v.get("error").is_some(),
            "datamart answers carry error: null"
        );
        let (s, _, v) = call(
            b,
            Method::DELETE,
            "/api/v2/data-app/datamart?datamartName=new-mart",
            tok,
            None,
        )
        .await;
        assert_eq!((s, v), (200, json!({"id": "new-mart", "error": null})));
        let (s, _, v) = call(
            b,
            Method::DELETE,
            "/api/v2/data-app/datamart?datamartName=new-mart",
            tok,
            None,
        )
        .await;
        assert_eq!((s, code(&v)), (400, "INVALID_REQUEST_BODY"));
        let (s, _, v) = call(
            b,
            Method::DELETE,
            "/api/v2/datasource?datasourceName=new-pg",
            tok,
            None,
        )
        .await;
        assert_eq!(s, 200);
        assert_eq!(
            v,
            json!({"id": id, "message": "Datasource deleted successfully"})
        );
        let (s, _, v) = call(
            b,
            Method::DELETE,
            "/api/v2/datasource?datasourceName=new-pg",
            tok,
            None,
        )
        .await;
        assert_eq!((s, code(&v)), (400, "DATASOURCE_NAME_ERROR"));

        // Embeds: 10 per page, error: null, both routes, the data-app key too.
        let embeds = sim.control.embed_ids();
        let (s, _, v) = call(
            b,
            Method::GET,
            "/api/v2/data-app/embeds?isPagination=true&pageNumber=1",
            tok,
            None,
        )
        .await;
        assert_eq!(s, 200);
        assert!(v.get("error").is_some_and(Value::is_null), "{v}");
        assert_eq!(v["data"].as_array().map(Vec::len), Some(PAGE_SIZE));
        assert_eq!(v["data"][0]["embedId"], json!(embeds[0]));
        let (_, _, v) = call(
            b,
            Method::GET,
            "/api/v2/dataApp/embeds?isPagination=true&pageNumber=2",
            Some(DEMO_DATA_APP_KEY),
            None,
        )
        .await;
        assert_eq!(
            v["data"].as_array().map(Vec::len),
            Some(embeds.len() - PAGE_SIZE)
        );
        let (s, _, v) = call(b, Method::GET, "/api/v2/data-app/embeds", None, None).await;
        assert_eq!((s, code(&v)), (401, "AUTHENTICATION_ERROR"));
        sim.control.fail_next_on(
            "/api/v2/data-app/embeds",
            SimFault::OkWithError {
                code: "INTERNAL_SERVER_ERROR",
                message: "GQL error",
            },
            1,
        );
        let (s, _, v) = call(b, Method::GET, "/api/v2/data-app/embeds", tok, None).await;
        assert_eq!((s, code(&v)), (200, "INTERNAL_SERVER_ERROR"));

        // Unknown routes and methods: Express's HTML 404.
        let (s, ct, v) = call(b, Method::GET, "/api/v2/nothing", tok, None).await;
        assert_eq!((s, ct.starts_with("text/html")), (404, true));
        assert!(v
            .as_str()
            .is_some_and(|t| t.contains("Cannot GET /api/v2/nothing")));
        let (s, _, v) = call(b, Method::PATCH, "/api/v2/datasource", tok, None).await;
        assert_eq!(s, 404);
        assert!(v
            .as_str()
            .is_some_and(|t| t.contains("Cannot PATCH /api/v2/datasource")));

        // Faults are consumed in order and logged.
        sim.control.fail_next(
            SimFault::RateLimited {
                retry_after_secs: 7,
            },
            1,
        );
        let resp = reqwest::Client::new()
            .get(format!("{b}/api/v2/datasource"))
            .bearer_auth(DEMO_TOKEN)
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status().as_u16(), 429);
        assert_eq!(resp.headers()["retry-after"], "7");
        let (s, _, _) = call(b, Method::GET, "/api/v2/datasource", tok, None).await;
        assert_eq!(s, 200);
        let last = sim.control.requests().pop().expect("logged");
        assert_eq!(
            (last.method.as_str(), last.path.as_str(), last.status),
            ("GET", "/api/v2/datasource", 200)
        );
        assert_eq!(last.credential, Credential::ServiceToken);
        sim.shutdown();
    }
}
