//! MicroStrategy Library REST API client: datasources, connections and logins, with lazy
//! login, token + cookie session, one re-login on session expiry (401 ERR009), retries of
//! idempotent reads, and the read-only guard of the shared HTTP layer.

use super::http::{path_segment, sensitive_value, HttpCore, HttpRequest, HttpResponse};
use super::microstrategy_wire;
use super::retry::RetryPolicy;
use super::{ApiError, ClientSettings, DeleteOutcome, Snapshot, VendorApi, VendorSpec};
use crate::model::{
    cells, link_graph, parse_time, Cell, CellCtx, CellTone, ColWidth, ColumnDef, Kind, OtherEdge,
    OtherUser, Ref, Resource, StrPool, VendorId,
};
use futures::future::BoxFuture;
use futures::StreamExt;
use reqwest::header::HeaderName;
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use tokio::sync::Mutex;

const V: VendorId = VendorId::MicroStrategy;
pub(super) const VENDOR_ID: VendorId = V;
const TOKEN_HEADER: &str = "x-mstr-authtoken";
const PROJECT_HEADER: &str = "x-mstr-projectid";
/// Retries of a GET after the first attempt (see `retry`).
const READS: RetryPolicy = RetryPolicy::reads(2);
/// Login mode whose "username" is an API token.
const LOGIN_MODE_API_TOKEN: u32 = 4096;
/// Guest login: no credentials.
const LOGIN_MODE_ANONYMOUS: u32 = 8;
/// The message of MicroStrategy's 404 for a missing route (as opposed to a missing object).
const ROUTE_MISSING: &str = "HTTP 404 Not Found";
/// Projects whose datasources and default connection map are read at the same time.
const PROJECT_CONCURRENCY: usize = 4;
/// What `OtherUser::what` says for the two kinds of users that are not listed objects.
const PROJECT: &str = "project";
const MAPPING: &str = "connection mapping";

fn ds_connection(r: &Resource, _: &CellCtx) -> Cell {
    if r.raw.value().pointer("/database/connection/isEmbedded") == Some(&Value::Bool(true)) {
        Cell::tone("(embedded)", CellTone::Dim)
    } else {
        cells::first_dep(r, Kind::Connections)
    }
}

fn conn_login(r: &Resource, _: &CellCtx) -> Cell {
    cells::first_dep(r, Kind::Logins)
}

fn login_username(r: &Resource, _: &CellCtx) -> Cell {
    match r.raw_str("/username") {
        Some(u) if !u.is_empty() => Cell::plain(u),
        _ => Cell::tone("-", CellTone::Dim),
    }
}

static DATASOURCE_COLUMNS: [ColumnDef; 7] = [
    ColumnDef {
        title: "Name",
        width: ColWidth::Names(20),
        cell: cells::name,
        sort_key: None,
    },
    ColumnDef {
        title: "DBMS",
        width: ColWidth::Fixed(14),
        cell: cells::type_,
        sort_key: None,
    },
    ColumnDef {
        title: "Connection",
        width: ColWidth::Names(16),
        cell: ds_connection,
        sort_key: None,
    },
    ColumnDef {
        title: "Used by",
        width: ColWidth::Names(12),
        cell: cells::used_by,
        sort_key: Some(cells::used_by_key),
    },
    ColumnDef {
        title: "Health",
        width: ColWidth::Fill(10),
        cell: cells::health,
        sort_key: None,
    },
    ColumnDef {
        title: "Owner",
        width: ColWidth::Fixed(14),
        cell: cells::owner,
        sort_key: None,
    },
    ColumnDef {
        title: "Modified",
        width: ColWidth::Fixed(17),
        cell: cells::updated,
        sort_key: Some(cells::updated_key),
    },
];

static CONNECTION_COLUMNS: [ColumnDef; 5] = [
    ColumnDef {
        title: "Name",
        width: ColWidth::Names(24),
        cell: cells::name,
        sort_key: None,
    },
    ColumnDef {
        title: "Type",
        width: ColWidth::Fixed(16),
        cell: cells::type_,
        sort_key: None,
    },
    ColumnDef {
        title: "Login",
        width: ColWidth::Names(16),
        cell: conn_login,
        sort_key: None,
    },
    ColumnDef {
        title: "Used by",
        width: ColWidth::Names(20),
        cell: cells::used_by,
        sort_key: Some(cells::used_by_key),
    },
    ColumnDef {
        title: "Health",
        width: ColWidth::Fill(14),
        cell: cells::health,
        sort_key: None,
    },
];

static LOGIN_COLUMNS: [ColumnDef; 3] = [
    ColumnDef {
        title: "Name",
        width: ColWidth::Names(24),
        cell: cells::name,
        sort_key: None,
    },
    ColumnDef {
        title: "Username",
        width: ColWidth::Fill(16),
        cell: login_username,
        sort_key: None,
    },
    ColumnDef {
        title: "Used by",
        width: ColWidth::Names(24),
        cell: cells::used_by,
        sort_key: Some(cells::used_by_key),
    },
];

fn columns(kind: Kind) -> &'static [ColumnDef] {
    match kind {
        Kind::Datasources => &DATASOURCE_COLUMNS,
        Kind::Connections => &CONNECTION_COLUMNS,
        Kind::Logins => &LOGIN_COLUMNS,
        _ => &[],
    }
}

pub static SPEC: VendorSpec = VendorSpec {
    vendor: VendorId::MicroStrategy,
    kinds: &[Kind::Datasources, Kind::Connections, Kind::Logins],
    // A datasource no project, datasource or connection mapping uses is an orphan too.
    orphan_kinds: &[Kind::Datasources, Kind::Connections, Kind::Logins],
    delete_order: &[Kind::Datasources, Kind::Connections, Kind::Logins],
    columns,
    can_create: true,
    can_test: true,
    health_checks: &[(Kind::Connections, super::CheckKind::ConnectionTest)],
    soft_delete: false,
    impact_container: "project",
    impact_per_minute: None,
    supported: true,
    edit_fields,
    update_tests_credentials: false,
};

use super::change::{EditField, FieldValue};

/// Owner: a user's id, or (resolved from the loaded objects) the name of someone who owns
/// one of them. Changed with `PUT /api/objects/{id}?type=…`, not the PATCH.
const OWNER: EditField = EditField::text("owner", "Owner", "/owner/id")
    .help("a user id, or the name of an owner seen here");

const LOGIN_EDIT: &[EditField] = &[
    EditField::text("name", "Name", "/name"),
    EditField::text("username", "Database user", "/username").verified(),
    EditField::secret("password", "Database password")
        .help("tested after, on the connections that use it"),
    EditField::text("description", "Description", "/description"),
    OWNER,
];

const CONNECTION_EDIT: &[EditField] = &[
    EditField::text("name", "Name", "/name"),
    EditField::text(
        "connection_string",
        "Connection string",
        "/connectionString",
    )
    .verified(),
    EditField::text("login", "Login id", "/database/login/id")
        .verified()
        .help("the id of the database login the connection uses"),
    EditField::text("description", "Description", "/description"),
    OWNER,
];

const DATASOURCE_EDIT: &[EditField] = &[
    EditField::text("name", "Name", "/name"),
    EditField::text("connection", "Connection id", "/database/connection/id")
        .verified()
        .help("the id of the database connection the datasource uses"),
    EditField::text("dbms", "DBMS id", "/dbms/id"),
    EditField::text("description", "Description", "/description"),
    OWNER,
];

/// What MicroStrategy lets a client change (`PATCH` with an `operationList`).
fn edit_fields(kind: Kind) -> &'static [EditField] {
    match kind {
        Kind::Logins => LOGIN_EDIT,
        Kind::Connections => CONNECTION_EDIT,
        Kind::Datasources => DATASOURCE_EDIT,
        Kind::Datamarts => &[],
    }
}

/// The `operationList` of a change: one `replace` per field, the password only here.
fn operations(kind: Kind, change: &super::change::Change) -> Result<Vec<Value>, String> {
    let mut ops = Vec::new();
    for c in change.fields.iter().filter(|c| c.field != "owner") {
        let path = match (kind, c.field.as_str()) {
            (_, "name") => "/name",
            (_, "description") => "/description",
            (Kind::Logins, "username") => "/username",
            (Kind::Logins, "password") => "/password",
            (Kind::Connections, "connection_string") => "/connectionString",
            (Kind::Connections, "login") => "/databaseLoginId",
            (Kind::Datasources, "connection") => "/databaseConnectionId",
            (Kind::Datasources, "dbms") => "/dbmsId",
            (k, f) => return Err(format!("MicroStrategy {k} have no field '{f}' to change")),
        };
        let value = match &c.value {
            FieldValue::Unset => return Err(format!("'{}' cannot be cleared", c.field)),
            v => v.expose().unwrap_or_default().to_string(),
        };
        ops.push(json!({"op": "replace", "path": path, "value": value}));
    }
    Ok(ops)
}

/// MicroStrategy in the vendor registry.
pub static VENDOR: super::entry::Vendor = super::Vendor {
    spec: &SPEC,
    config: super::entry::ConfigSpec {
        secret: "password",
        username: true,
        keys: &[super::entry::ConfigKey {
            name: "login_mode",
            value: super::entry::KeyValue::Integer {
                min: 1,
                max: u32::MAX as i64,
            },
            shown_default: Some("1"),
        }],
        aliases: &[],
        // Guest login (mode 8) sends no password.
        secret_optional: |options| {
            MstrSettings::from_options(options).is_ok_and(|s| s.login_mode == LOGIN_MODE_ANONYMOUS)
        },
    },
    connect: |s| Ok(std::sync::Arc::new(MstrClient::new(s)?)),
    create_form: super::microstrategy_forms::form,
    decode_error: super::http::decode_error,
    error_example: super::entry::ErrorExample {
        status: 401,
        body: r#"{"code":"ERR009","message":"The user's session has expired, please reauthenticate","ticketId":"f39db2e12d5b4cb9b4d32fc6e439045e"}"#,
        code: Some("ERR009"),
        message: "The user's session has expired, please reauthenticate",
    },
    #[cfg(feature = "sim")]
    sim: super::entry::SimSpec {
        start: crate::sim::start_running!(microstrategy),
        demo: super::entry::DemoLogin {
            profile: "demo-mstr",
            username: Some(crate::sim::microstrategy::DEMO_USERNAME),
            secret: crate::sim::microstrategy::DEMO_PASSWORD,
            secrets: &[],
        },
    },
};

/// Normalise a base URL the way mstrio does: `^https?://` required; everything from the
/// first `/api` path segment and any trailing `/` cut. `/api/...` is appended by the client.
pub fn normalize_base_url(raw: &str) -> Result<String, String> {
    let base = super::http::BaseUrl::parse(raw)?;
    let rest = base.rest;
    let mut cut = rest.len();
    let mut from = 0;
    while let Some(pos) = rest[from..].find("/api") {
        let at = from + pos;
        let after = rest[at + 4..].chars().next();
        if matches!(after, None | Some('/')) {
            cut = at;
            break;
        }
        from = at + 4;
    }
    base.with_rest(&rest[..cut])
}

/// The list path of a kind, under `/api`.
fn list_path(kind: Kind) -> &'static str {
    match kind {
        Kind::Datasources => "/datasources",
        Kind::Connections => "/datasources/connections",
        // MicroStrategy has no datamarts; the client never lists them (SPEC.kinds), and a
        // request for one goes to a route the server answers with its route-404.
        Kind::Logins => "/datasources/logins",
        Kind::Datamarts => "/datasources/datamarts",
    }
}

fn object_path(kind: Kind, id: &str) -> String {
    format!("{}/{}", list_path(kind), path_segment(id))
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn id_at(v: &Value, pointer: &str) -> Option<String> {
    match v.pointer(pointer)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A `{id, name}` reference at `pointer`, if it has an id.
fn ref_at(v: &Value, pointer: &str, kind: Kind) -> Option<Ref> {
    let obj = v.pointer(pointer)?;
    let id = id_at(obj, "/id")?;
    let name = str_at(obj, "/name").unwrap_or(&id).into();
    Some(Ref {
        kind,
        id: id.into(),
        name,
    })
}

/// One wire object as a `Resource` (lenient: only `id` is required). `used_by` is empty.
pub fn parse_resource(profile: &str, kind: Kind, v: &Value) -> Option<Resource> {
    let id = id_at(v, "/id")?;
    let name = str_at(v, "/name").unwrap_or(&id).to_string();
    let mut r = Resource::new(V, profile, kind, &id, &name);
    r.owner = str_at(v, "/owner/name").map(crate::model::intern);
    r.created = str_at(v, "/dateCreated").and_then(parse_time);
    r.updated = str_at(v, "/dateModified").and_then(parse_time);
    match kind {
        Kind::Datasources => {
            r.type_ = str_at(v, "/dbms/name")
                .or_else(|| str_at(v, "/database/type"))
                .map(crate::model::intern);
            let embedded = v.pointer("/database/connection/isEmbedded") == Some(&Value::Bool(true));
            if !embedded {
                r.depends_on
                    .extend(ref_at(v, "/database/connection", Kind::Connections));
            }
            // A replica needs its primary (and data-mart) datasource: the server refuses to
            // delete one while the other exists.
            for link in [
                "/database/primaryDatasource",
                "/database/dataMartDatasource",
            ] {
                r.depends_on
                    .extend(ref_at(v, link, Kind::Datasources).filter(|d| d.id != id));
            }
        }
        Kind::Connections => {
            r.type_ = str_at(v, "/database/type").map(crate::model::intern);
            r.depends_on
                .extend(ref_at(v, "/database/login", Kind::Logins));
        }
        Kind::Logins | Kind::Datamarts => {}
    }
    r.raw = v.into();
    Some(r)
}

/// The current session: token and a generation that changes with every login/logout.
struct Session {
    token: Option<SecretString>,
    generation: u64,
}

/// MicroStrategy's own profile settings, parsed from its config keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MstrSettings {
    /// `login_mode` (1 standard, 8 guest, 16 LDAP, ...); 1 when not set.
    pub login_mode: u32,
}

impl MstrSettings {
    pub fn from_options(options: &super::VendorOptions) -> Result<MstrSettings, String> {
        match options.value("login_mode").map(str::trim) {
            None => Ok(MstrSettings { login_mode: 1 }),
            Some(s) => s
                .parse::<u32>()
                .ok()
                .filter(|n| *n >= 1)
                .map(|login_mode| MstrSettings { login_mode })
                .ok_or_else(|| format!("login_mode \"{s}\" is not a login mode number")),
        }
    }
}

/// A MicroStrategy client of one profile. Cheap to share (`Arc`); safe to call concurrently.
pub struct MstrClient {
    http: HttpCore,
    profile: String,
    /// Normalised base URL + "/api".
    api: String,
    username: Option<String>,
    secret: SecretString,
    login_mode: u32,
    session: Mutex<Session>,
    /// Held for the whole of one metadata search (POST and its pages): the server runs one
    /// search at a time per session.
    pub(super) search_lock: Mutex<()>,
    /// The longest the impact of one object may take.
    pub(super) impact_budget: std::time::Duration,
}

impl std::fmt::Debug for MstrClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MstrClient")
            .field("profile", &self.profile)
            .field("api", &self.api)
            .field("username", &self.username)
            .finish()
    }
}

impl MstrClient {
    /// Build the client. No I/O: the login happens on the first call.
    pub fn new(settings: ClientSettings) -> Result<Self, ApiError> {
        let setup = |message: String| ApiError::Setup { vendor: V, message };
        let base = normalize_base_url(&settings.base_url)
            .map_err(|m| setup(format!("profile '{}': {m}", settings.profile)))?;
        let username = settings
            .username
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(str::to_string);
        let own = MstrSettings::from_options(&settings.options)
            .map_err(|m| setup(format!("profile '{}': {m}", settings.profile)))?;
        if username.is_none()
            && own.login_mode != LOGIN_MODE_API_TOKEN
            && own.login_mode != LOGIN_MODE_ANONYMOUS
        {
            return Err(setup(format!(
                "profile '{}' has no username (needed for login mode {})",
                settings.profile, own.login_mode
            )));
        }
        let mut http_settings = settings.clone();
        http_settings.vendor = V;
        let http = HttpCore::new(
            &http_settings,
            &[
                (Method::POST, "/api/auth/login"),
                (Method::POST, "/api/auth/logout"),
                (Method::POST, "/api/datasources/connections/test"),
                (Method::PUT, "/api/sessions"),
                // Metadata searches store a search in the session and change no object:
                // impact analysis runs on read-only profiles too.
                (Method::POST, "/api/metadataSearches/results"),
                (Method::POST, "/api/v2/metadataSearches/results"),
            ],
            VENDOR.decode_error,
        )?;
        Ok(MstrClient {
            http,
            profile: settings.profile,
            api: format!("{base}/api"),
            username,
            secret: settings.secret,
            login_mode: own.login_mode,
            session: Mutex::new(Session {
                token: None,
                generation: 0,
            }),
            search_lock: Mutex::new(()),
            impact_budget: super::microstrategy_impact::IMPACT_BUDGET,
        })
    }

    /// Bound the time the impact of one object may take (searches hang on large projects).
    pub fn set_impact_budget(&mut self, budget: std::time::Duration) {
        self.impact_budget = budget;
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.api, path)
    }

    /// `POST /api/auth/login`; the token comes back in a response header.
    async fn login(&self) -> Result<SecretString, ApiError> {
        let body = if self.login_mode == LOGIN_MODE_API_TOKEN {
            json!({"loginMode": self.login_mode, "username": self.secret.expose_secret()})
        } else {
            json!({
                "loginMode": self.login_mode,
                "username": self.username.as_deref().unwrap_or(""),
                "password": self.secret.expose_secret(),
            })
        };
        let req = HttpRequest::new(Method::POST, self.url("/auth/login")).json(body);
        let resp = self.http.send(req).await?.error_for_status()?;
        match resp.header_str(TOKEN_HEADER).map(str::trim) {
            Some(t) if !t.is_empty() => {
                tracing::info!(profile = %self.profile, "MicroStrategy: logged in");
                Ok(SecretString::from(t))
            }
            _ => Err(ApiError::Decode {
                vendor: V,
                status: resp.status,
                message: "login succeeded but the response has no X-MSTR-AuthToken header".into(),
            }),
        }
    }

    /// The current token, logging in first if there is none. Concurrent callers wait for
    /// one login.
    async fn session_token(&self) -> Result<(SecretString, u64), ApiError> {
        let mut s = self.session.lock().await;
        if let Some(t) = &s.token {
            return Ok((t.clone(), s.generation));
        }
        let token = self.login().await?;
        s.generation += 1;
        s.token = Some(token.clone());
        Ok((token, s.generation))
    }

    /// After a 401 ERR009 with the token of `failed_generation`: log in again, unless another
    /// task already did (then its token is used).
    async fn relogin(&self, failed_generation: u64) -> Result<SecretString, ApiError> {
        let mut s = self.session.lock().await;
        if s.generation != failed_generation {
            if let Some(t) = &s.token {
                return Ok(t.clone());
            }
        }
        s.token = None;
        tracing::info!(profile = %self.profile, "MicroStrategy: session expired, logging in again");
        let token = self.login().await?;
        s.generation += 1;
        s.token = Some(token.clone());
        Ok(token)
    }

    async fn send_with_token(
        &self,
        method: &Method,
        url: &str,
        body: Option<&Value>,
        token: &SecretString,
        project: Option<&str>,
    ) -> Result<HttpResponse, ApiError> {
        let req = self.authed_request(method, url, body, token, project)?;
        self.http.send(req).await
    }

    /// A request carrying the session token (and the project, if any).
    fn authed_request(
        &self,
        method: &Method,
        url: &str,
        body: Option<&Value>,
        token: &SecretString,
        project: Option<&str>,
    ) -> Result<HttpRequest, ApiError> {
        let mut req = HttpRequest::new(method.clone(), url).header(
            HeaderName::from_static(TOKEN_HEADER),
            sensitive_value(V, "session token", token.expose_secret())?,
        );
        if let Some(p) = project {
            let value =
                reqwest::header::HeaderValue::from_str(p).map_err(|_| ApiError::Decode {
                    vendor: V,
                    status: 0,
                    message: "a project id is not a valid header value".into(),
                })?;
            req = req.header(HeaderName::from_static(PROJECT_HEADER), value);
        }
        if let Some(b) = body {
            req = req.json(b.clone());
        }
        Ok(req)
    }

    /// One authenticated call: on 401 ERR009, one re-login and one retry.
    async fn call_authed(
        &self,
        method: &Method,
        url: &str,
        body: Option<&Value>,
        project: Option<&str>,
    ) -> Result<HttpResponse, ApiError> {
        let (token, generation) = self.session_token().await?;
        let resp = self
            .send_with_token(method, url, body, &token, project)
            .await?;
        if resp.is_success() {
            return Ok(resp);
        }
        let err = resp.to_error();
        if !is_session_expired(&err) {
            return Err(err);
        }
        let token = self.relogin(generation).await?;
        self.send_with_token(method, url, body, &token, project)
            .await?
            .error_for_status()
    }

    /// A call under `/api`, guarded, authenticated; GETs retried under `READS`.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<HttpResponse, ApiError> {
        self.call_in(method, path, body, None).await
    }

    /// `call` with `X-MSTR-ProjectID` set to `project`.
    pub(super) async fn call_in(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        project: Option<&str>,
    ) -> Result<HttpResponse, ApiError> {
        let url = self.url(path);
        // Refuse before logging in: a read-only profile sends nothing for a mutation.
        self.http.check_allowed(&method, &url)?;
        self.http
            .retrying(&READS, &method, &url, || {
                self.call_authed(&method, &url, body.as_ref(), project)
            })
            .await
    }

    /// One kind's list, decoded as the answer arrives (`microstrategy_wire`): no whole body,
    /// no tree; each object's JSON packed into compressed blocks. On 401 ERR009, one re-login
    /// and one retry; GETs retried under `READS`.
    /// Ids and names come from `pool`, shared with the other lists of the load.
    async fn list(&self, kind: Kind, pool: &StrPool) -> Result<(Vec<Resource>, usize), ApiError> {
        self.list_as(kind, false, pool)
            .await
            .map(|d| (d.resources, d.skipped))
    }

    /// `list`, the objects kept as `Resource`s or (`slim`) as `Slims`.
    async fn list_as(
        &self,
        kind: Kind,
        slim: bool,
        pool: &StrPool,
    ) -> Result<microstrategy_wire::Decoded, ApiError> {
        let path = list_path(kind);
        let url = self.url(path);
        self.http.check_allowed(&Method::GET, &url)?;
        self.http
            .retrying(&READS, &Method::GET, &url, || async {
                let (token, generation) = self.session_token().await?;
                match self.list_with_token(kind, &url, &token, slim, pool).await? {
                    Ok(listed) => Ok(listed),
                    Err(err) if is_session_expired(&err) => {
                        let token = self.relogin(generation).await?;
                        self.list_with_token(kind, &url, &token, slim, pool).await?
                    }
                    Err(err) => Err(err),
                }
            })
            .await
    }

    /// One GET of a list with `token`: the objects, or the server's refusal (inner `Err`).
    async fn list_with_token(
        &self,
        kind: Kind,
        url: &str,
        token: &SecretString,
        slim: bool,
        pool: &StrPool,
    ) -> Result<Result<microstrategy_wire::Decoded, ApiError>, ApiError> {
        let req = self.authed_request(&Method::GET, url, None, token, None)?;
        let decoder = if slim {
            microstrategy_wire::ListDecoder::slim(&self.profile, kind, list_path(kind))
        } else {
            microstrategy_wire::ListDecoder::new(&self.profile, kind, list_path(kind))
                .sharing(pool.clone())
        };
        // Decoded on a thread of its own while this task only reads: the three lists of a
        // load are decoded in parallel.
        let (sink, decoding) = decoder.spawn();
        let sent = self.http.send_streamed(req, &sink).await;
        drop(sink);
        // The decoder's error first: it came before whatever stopped the reading after it.
        let decoder = decoding.await.map_err(|e| ApiError::Decode {
            vendor: V,
            status: 200,
            message: format!("GET {}: the decoder stopped: {e}", list_path(kind)),
        })??;
        let resp = sent?;
        if !resp.is_success() {
            return Ok(Err(resp.to_error()));
        }
        decoder.finish(resp.status).map(Ok)
    }

    fn parse_one(&self, kind: Kind, resp: &HttpResponse) -> Result<Resource, ApiError> {
        let body: Value = resp.json(V)?;
        parse_resource(&self.profile, kind, &body).ok_or_else(|| ApiError::Decode {
            vendor: V,
            status: resp.status,
            message: format!("the {} object has no id", kind.singular()),
        })
    }

    async fn do_load(&self) -> Result<Snapshot, ApiError> {
        // One text per id and name whichever list has it first: a reference never holds a
        // copy to be freed when the graph is linked (freed copies between kept strings would
        // stay as holes in the heap).
        let pool = StrPool::default();
        let (ds, conns, logins) = futures::future::try_join3(
            self.list(Kind::Datasources, &pool),
            self.list(Kind::Connections, &pool),
            self.list(Kind::Logins, &pool),
        )
        .await?;
        // After the lists: they logged in (or failed to) once for everyone.
        let graph = self.load_usage().await;
        let mut warnings = graph.warnings;
        // Grown from the first list, not copied into a new one: at 300,000 objects each
        // copy would cost about 100 MB at the peak.
        let total = ds.0.len() + conns.0.len() + logins.0.len();
        let mut resources: Vec<Resource> = Vec::new();
        for (kind, (list, skipped)) in [
            (Kind::Datasources, ds),
            (Kind::Connections, conns),
            (Kind::Logins, logins),
        ] {
            if skipped > 0 {
                warnings.push(format!(
                    "{}: {skipped} {} without an id were skipped",
                    self.profile,
                    kind.id()
                ));
            }
            if resources.is_empty() {
                resources = list;
                resources.reserve_exact(total - resources.len());
            } else {
                resources.extend(list);
            }
        }
        link_graph(
            &mut resources,
            SPEC.orphan_kinds,
            graph.edges,
            &graph.unknown,
        );
        Ok(Snapshot {
            resources,
            // Warnings quote the server (names, cursors): make them safe to print.
            warnings: warnings
                .iter()
                .map(|w| crate::model::printable(w).into_owned())
                .collect(),
        })
    }

    /// `load_each`: the three lists kept slim (compressed JSON, ids, names, dependencies),
    /// linked as `do_load` links them, each object rebuilt, redacted and handed to `visit`.
    async fn do_load_each(
        &self,
        visit: &mut (dyn FnMut(Resource) -> bool + Send),
    ) -> Result<Vec<String>, ApiError> {
        // Slim lists keep their ids and names in arenas of their own.
        let unused = StrPool::default();
        let (ds, conns, logins) = futures::future::try_join3(
            self.list_as(Kind::Datasources, true, &unused),
            self.list_as(Kind::Connections, true, &unused),
            self.list_as(Kind::Logins, true, &unused),
        )
        .await?;
        let graph = self.load_usage().await;
        let mut warnings = graph.warnings;
        let mut all = microstrategy_wire::SlimParts::default();
        for (kind, listed) in [
            (Kind::Datasources, ds),
            (Kind::Connections, conns),
            (Kind::Logins, logins),
        ] {
            if listed.skipped > 0 {
                warnings.push(format!(
                    "{}: {} {} without an id were skipped",
                    self.profile,
                    listed.skipped,
                    kind.id()
                ));
            }
            all.push(listed.slims);
        }
        all.link_each(
            &self.profile,
            SPEC.orphan_kinds,
            graph.edges,
            &graph.unknown,
            visit,
        );
        Ok(warnings
            .iter()
            .map(|w| crate::model::printable(w).into_owned())
            .collect())
    }

    /// A GET under `/api` answered with JSON.
    async fn get_json(&self, path: &str) -> Result<Value, ApiError> {
        let resp = self.call(Method::GET, path, None).await?;
        resp.json(V)
    }

    /// `GET /api/projects`: a bare array of `{id,name,...}`.
    pub(super) async fn list_projects(&self) -> Result<Vec<(String, String)>, ApiError> {
        let body = self.get_json("/projects").await?;
        let items = body.as_array().ok_or_else(|| ApiError::Decode {
            vendor: V,
            status: 200,
            message: "GET /projects: expected an array of projects".into(),
        })?;
        Ok(items
            .iter()
            .filter_map(|p| {
                let id = id_at(p, "/id")?;
                let name = str_at(p, "/name").unwrap_or(&id).to_string();
                Some((id, name))
            })
            .collect())
    }

    /// `GET /api/projects/{id}/datasources`: ids of the datasources attached to a project.
    async fn project_datasources(&self, project: &str) -> Result<Vec<String>, ApiError> {
        let path = format!("/projects/{}/datasources", path_segment(project));
        let body = self.get_json(&path).await?;
        let items = body
            .get("datasources")
            .and_then(Value::as_array)
            .ok_or_else(|| ApiError::Decode {
                vendor: V,
                status: 200,
                message: format!("GET {path}: expected an object with a 'datasources' array"),
            })?;
        Ok(items.iter().filter_map(|d| id_at(d, "/id")).collect())
    }

    /// `GET /api/datasources/mappings?...`: the `mappings` array.
    async fn list_mappings(&self, query: &str) -> Result<Vec<Value>, ApiError> {
        let path = format!("/datasources/mappings?{query}");
        let body = self.get_json(&path).await?;
        match body.get("mappings") {
            Some(Value::Array(items)) => Ok(items.clone()),
            _ => Err(ApiError::Decode {
                vendor: V,
                status: 200,
                message: "GET /datasources/mappings: expected an object with a 'mappings' array"
                    .into(),
            }),
        }
    }

    /// A project's default connection map; a 404 means it has none (as mstrio reads it).
    async fn default_mappings(&self, project: &str) -> Result<Vec<Value>, ApiError> {
        let query = format!(
            "defaultConnectionMap=true&projectId={}",
            path_segment(project)
        );
        match self.list_mappings(&query).await {
            Err(ApiError::Http { status: 404, .. }) => Ok(Vec::new()),
            other => other,
        }
    }

    /// What uses datasources, connections and logins besides each other: projects (a
    /// datasource attached to one) and connection mappings (per user and each project's
    /// default map). Never fails: what cannot be read makes the usage of the kinds it
    /// concerns unknown, with a warning saying why.
    async fn load_usage(&self) -> Usage {
        let mut usage = Usage::default();
        let (projects, mappings) = futures::join!(
            self.list_projects(),
            self.list_mappings("defaultConnectionMap=false")
        );
        let mut project_names: std::collections::HashMap<String, String> = Default::default();
        match projects {
            Ok(projects) => {
                project_names.extend(projects.iter().cloned());
                let results: Vec<_> = futures::stream::iter(projects)
                    .map(|(id, name)| async move {
                        let (ds, maps) =
                            futures::join!(self.project_datasources(&id), self.default_mappings(&id));
                        (id, name, ds, maps)
                    })
                    .buffer_unordered(PROJECT_CONCURRENCY)
                    .collect()
                    .await;
                for (pid, pname, ds, maps) in results {
                    match ds {
                        Ok(ids) => usage.edges.extend(ids.into_iter().map(|ds| OtherEdge {
                            target: (Kind::Datasources, ds),
                            user: OtherUser {
                                what: PROJECT.into(),
                                id: pid.clone(),
                                name: pname.clone(),
                            },
                        })),
                        Err(e) => usage.unknown_because(
                            &[Kind::Datasources],
                            format!(
                                "{}: the datasources of project '{pname}' could not be read, so                                  which datasources are in use is unknown (the server refuses to                                  delete a datasource a project uses): {e}",
                                self.profile
                            ),
                        ),
                    }
                    match maps {
                        Ok(maps) => usage.add_mappings(&maps, &project_names, true),
                        Err(e) => usage.unknown_because(
                            &[Kind::Datasources, Kind::Connections, Kind::Logins],
                            format!(
                                "{}: the default connection map of project '{pname}' could not                                  be read, so what is in use is unknown: {e}",
                                self.profile
                            ),
                        ),
                    }
                }
            }
            Err(e) => usage.unknown_because(
                &[Kind::Datasources, Kind::Connections, Kind::Logins],
                format!(
                    "{}: projects could not be read, so which projects and default connection                      maps use each object is unknown (the server refuses to delete what they                      use): {e}",
                    self.profile
                ),
            ),
        }
        match mappings {
            Ok(maps) => usage.add_mappings(&maps, &project_names, false),
            Err(e) => usage.unknown_because(
                &[Kind::Datasources, Kind::Connections, Kind::Logins],
                format!(
                    "{}: connection mappings could not be read, so which logins, connections                      and datasources they use is unknown: {e}",
                    self.profile
                ),
            ),
        }
        usage
    }

    async fn do_delete(&self, target: &Ref) -> Result<DeleteOutcome, ApiError> {
        let path = object_path(target.kind, &target.id);
        match self.call(Method::DELETE, &path, None).await {
            Ok(resp) => resp.expect_delete_ack(V).map(|()| DeleteOutcome::Deleted),
            Err(ApiError::Http {
                status: 404,
                code: Some(_),
                message,
                ..
            }) if !message.starts_with(ROUTE_MISSING) => {
                tracing::info!(
                    profile = %self.profile,
                    kind = %target.kind,
                    id = %target.id,
                    "MicroStrategy: already gone: {message}"
                );
                Ok(DeleteOutcome::AlreadyGone)
            }
            Err(e) => Err(e),
        }
    }

    async fn do_logout(&self) {
        let token = {
            let mut s = self.session.lock().await;
            let t = s.token.take();
            if t.is_some() {
                s.generation += 1;
            }
            t
        };
        let Some(token) = token else { return };
        let url = self.url("/auth/logout");
        match self
            .send_with_token(&Method::POST, &url, None, &token, None)
            .await
        {
            Ok(r) if r.is_success() => {
                tracing::info!(profile = %self.profile, "MicroStrategy: logged out")
            }
            Ok(r) => tracing::debug!(
                profile = %self.profile,
                "MicroStrategy: logout answered: {}",
                r.to_error()
            ),
            Err(e) => tracing::debug!(profile = %self.profile, "MicroStrategy: logout failed: {e}"),
        }
    }
}

/// Usage edges the lists of datasources, connections and logins do not carry.
#[derive(Default)]
struct Usage {
    edges: Vec<OtherEdge>,
    /// Kinds whose usage could not be fully read.
    unknown: Vec<Kind>,
    warnings: Vec<String>,
}

impl Usage {
    fn unknown_because(&mut self, kinds: &[Kind], warning: String) {
        tracing::warn!("MicroStrategy: {warning}");
        for k in kinds {
            if !self.unknown.contains(k) {
                self.unknown.push(*k);
            }
        }
        self.warnings.push(warning);
    }

    /// A mapping uses its connection, its login and its datasource. Its name says whose it
    /// is and where: "Contractors in Operations", "default in Finance Reporting".
    fn add_mappings(
        &mut self,
        maps: &[Value],
        project_names: &std::collections::HashMap<String, String>,
        default: bool,
    ) {
        for m in maps {
            let Some(id) = id_at(m, "/id") else { continue };
            let who = if default {
                "default".to_string()
            } else {
                str_at(m, "/user/name")
                    .map(str::to_string)
                    .or_else(|| id_at(m, "/user/id"))
                    .unwrap_or_else(|| "default".to_string())
            };
            let name = match id_at(m, "/projectId") {
                Some(pid) => format!(
                    "{who} in {}",
                    project_names.get(&pid).cloned().unwrap_or(pid)
                ),
                None => who,
            };
            for (pointer, kind) in [
                ("/connection/id", Kind::Connections),
                ("/login/id", Kind::Logins),
                ("/datasource/id", Kind::Datasources),
            ] {
                if let Some(target) = id_at(m, pointer) {
                    self.edges.push(OtherEdge {
                        target: (kind, target),
                        user: OtherUser {
                            what: MAPPING.into(),
                            id: id.clone(),
                            name: name.clone(),
                        },
                    });
                }
            }
        }
    }
}

fn is_session_expired(e: &ApiError) -> bool {
    e.status() == Some(401) && e.code() == Some("ERR009")
}

impl VendorApi for MstrClient {
    fn vendor(&self) -> VendorId {
        V
    }

    fn load(&self) -> BoxFuture<'_, Result<Snapshot, ApiError>> {
        Box::pin(self.do_load())
    }

    fn load_each<'a>(
        &'a self,
        visit: &'a mut (dyn FnMut(Resource) -> bool + Send),
    ) -> BoxFuture<'a, Result<Vec<String>, ApiError>> {
        Box::pin(self.do_load_each(visit))
    }

    fn get(&self, target: Ref) -> BoxFuture<'_, Result<Resource, ApiError>> {
        Box::pin(async move {
            let path = object_path(target.kind, &target.id);
            let resp = self.call(Method::GET, &path, None).await?;
            self.parse_one(target.kind, &resp)
        })
    }

    fn delete(&self, target: Ref) -> BoxFuture<'_, Result<DeleteOutcome, ApiError>> {
        Box::pin(async move { self.do_delete(&target).await })
    }

    fn create(&self, kind: Kind, body: Value) -> BoxFuture<'_, Result<Resource, ApiError>> {
        Box::pin(async move {
            let resp = self.call(Method::POST, list_path(kind), Some(body)).await?;
            self.parse_one(kind, &resp)
        })
    }

    fn update(
        &self,
        target: Ref,
        change: super::change::Change,
    ) -> BoxFuture<'_, Result<Resource, ApiError>> {
        Box::pin(async move {
            let ops = operations(target.kind, &change)
                .map_err(|message| ApiError::Setup { vendor: V, message })?;
            let owner = change.text("owner").map(str::to_string);
            let path = object_path(target.kind, &target.id);
            let mut after = None;
            if !ops.is_empty() {
                let body = json!({ "operationList": ops });
                let resp = self.call(Method::PATCH, &path, Some(body)).await?;
                after = Some(self.parse_one(target.kind, &resp)?);
            }
            if let Some(owner) = owner {
                // Owner, comments and ACLs go through the generic objects route.
                let object_type = match target.kind {
                    Kind::Datasources => 29,
                    Kind::Logins => 30,
                    Kind::Connections => 31,
                    Kind::Datamarts => {
                        return Err(ApiError::Setup {
                            vendor: V,
                            message: "MicroStrategy has no datamarts".into(),
                        })
                    }
                };
                let route = format!("/objects/{}?type={object_type}", path_segment(&target.id));
                self.call(
                    Method::PUT,
                    &route,
                    Some(json!({ "ownerId": owner.trim() })),
                )
                .await?;
                let resp = self.call(Method::GET, &path, None).await?;
                after = Some(self.parse_one(target.kind, &resp)?);
            }
            after.ok_or_else(|| ApiError::Setup {
                vendor: V,
                message: "nothing to change".into(),
            })
        })
    }

    fn test_connection(&self, id: String) -> BoxFuture<'_, Result<(), ApiError>> {
        Box::pin(async move {
            self.call(
                Method::POST,
                "/datasources/connections/test",
                Some(json!({ "id": id })),
            )
            .await
            .map(|_| ())
        })
    }

    /// A connection's health check is its connection test (`test_connection`, unchanged).
    /// A 4xx answer other than 401/403/404/408/429 is the server's verdict (failed); those
    /// and 5xx or transport failures mean the test could not run.
    fn check_health(&self, target: Ref) -> BoxFuture<'_, Result<super::HealthCheck, ApiError>> {
        use super::{CheckKind, HealthCheck};
        Box::pin(async move {
            if target.kind != Kind::Connections {
                return Ok(HealthCheck::NotOffered);
            }
            match self.test_connection(target.id.to_string()).await {
                Ok(()) => Ok(HealthCheck::Passed {
                    check: CheckKind::ConnectionTest,
                    detail: None,
                }),
                Err(e)
                    if matches!(e.status(), Some(s) if (400..500).contains(&s)
                        && !matches!(s, 401 | 403 | 404 | 408 | 429)) =>
                {
                    Ok(HealthCheck::Failed {
                        check: CheckKind::ConnectionTest,
                        reason: e.reason(),
                    })
                }
                Err(e) => Err(e),
            }
        })
    }

    fn impact(&self, target: crate::impact::ImpactTarget) -> BoxFuture<'_, crate::impact::Impact> {
        Box::pin(self.impact_of(target))
    }
    fn logout(&self) -> BoxFuture<'_, ()> {
        Box::pin(self.do_logout())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Health;
    use std::time::Duration;

    fn settings(base_url: &str) -> ClientSettings {
        ClientSettings::new("prod", V, base_url, SecretString::from("s3cret-pw"))
            .username("administrator")
            .timeout(Duration::from_secs(5))
    }

    #[test]
    fn base_urls_are_normalised_like_mstrio() {
        let ok = |s: &str| normalize_base_url(s).unwrap();
        assert_eq!(ok("http://host:8080"), "http://host:8080");
        assert_eq!(
            ok("https://bi.example.com/MicroStrategyLibrary/"),
            "https://bi.example.com/MicroStrategyLibrary"
        );
        assert_eq!(
            ok("https://bi.example.com/MicroStrategyLibrary/api"),
            "https://bi.example.com/MicroStrategyLibrary"
        );
        assert_eq!(
            ok("https://bi.example.com/MicroStrategyLibrary/api/datasources?x=1"),
            "https://bi.example.com/MicroStrategyLibrary"
        );
        // "/api" must be a whole segment; a host starting with "api" is kept.
        assert_eq!(ok("http://apihost/apix/"), "http://apihost/apix");
        assert_eq!(ok("HTTPS://h/Lib"), "HTTPS://h/Lib");
        assert!(normalize_base_url("bi.example.com/MicroStrategyLibrary")
            .unwrap_err()
            .contains("must start with http:// or https://"));
        assert!(normalize_base_url("ftp://h").is_err());
        assert!(normalize_base_url("http:///api").is_err());
    }

    #[test]
    fn new_validates_settings_without_io() {
        let c = MstrClient::new(settings("https://h/MicroStrategyLibrary/api/")).unwrap();
        assert_eq!(
            c.url("/datasources"),
            "https://h/MicroStrategyLibrary/api/datasources"
        );
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("s3cret-pw"), "{dbg}");

        let err = MstrClient::new(settings("h/Lib")).unwrap_err();
        assert!(matches!(err, ApiError::Setup { .. }));
        assert!(err.to_string().contains("profile 'prod'"), "{err}");

        let mut s = settings("https://h");
        s.username = None;
        let err = MstrClient::new(s).unwrap_err();
        assert!(err.to_string().contains("no username"), "{err}");
    }

    #[test]
    fn paths_of_each_kind() {
        assert_eq!(object_path(Kind::Datasources, "AB12"), "/datasources/AB12");
        assert_eq!(
            object_path(Kind::Connections, "AB12"),
            "/datasources/connections/AB12"
        );
        assert_eq!(
            object_path(Kind::Logins, "a/b"),
            "/datasources/logins/a%2Fb"
        );
    }

    #[test]
    fn parses_datasource_with_connection_reference() {
        let v = json!({"id":"604F7EB2AF4E8CCB93F0C48071A3F466","name":"Test_Snow_Source",
            "dateCreated":"2021-08-03T20:58:56.000+0000","dateModified":"2021-08-04T15:44:35.000+0000",
            "database":{"type":"snow_flake","version":"snowflake_1x",
              "connection":{"name":"Test_Snow_Connection","id":"1E6897CFC14887C5A1B7D19E0D023DDF","isEmbedded":false}},
            "dbms":{"name":"Snowflake","id":"86AC"},"owner":{"name":"MSTR User","id":"7FC0"},
            "futureField":{"x":1}});
        let r = parse_resource("prod", Kind::Datasources, &v).unwrap();
        assert_eq!(r.id, "604F7EB2AF4E8CCB93F0C48071A3F466");
        assert_eq!(r.name, "Test_Snow_Source");
        assert_eq!(r.type_.as_deref(), Some("Snowflake"));
        assert_eq!(r.owner.as_deref(), Some("MSTR User"));
        assert_eq!(r.created, Some(1628024336));
        assert_eq!(r.updated, Some(1628091875));
        assert_eq!(
            r.depends_on,
            vec![Ref {
                kind: Kind::Connections,
                id: "1E6897CFC14887C5A1B7D19E0D023DDF".into(),
                name: "Test_Snow_Connection".into()
            }]
        );
        assert_eq!(r.raw, v);
        assert_eq!(r.health, Health::Unknown);
        assert_eq!(r.profile, "prod");
    }

    #[test]
    fn datasource_type_falls_back_to_database_type_and_embedded_has_no_dependency() {
        let v = json!({"id":"D1","name":"emb","database":{"type":"postgre_sql",
            "connection":{"id":"C9","name":"inner","isEmbedded":true}}});
        let r = parse_resource("p", Kind::Datasources, &v).unwrap();
        assert_eq!(r.type_.as_deref(), Some("postgre_sql"));
        assert!(r.depends_on.is_empty());
        let cell = ds_connection(&r, &CellCtx { now: 0 });
        assert_eq!(cell.text, "(embedded)");
    }

    #[test]
    fn parses_connection_with_and_without_login() {
        let v = json!({"id":"C1","name":"c","database":{"login":{"id":"L1","name":"l"},"type":"snow_flake","version":"x"}});
        let r = parse_resource("p", Kind::Connections, &v).unwrap();
        assert_eq!(r.type_.as_deref(), Some("snow_flake"));
        assert_eq!(r.depends_on.len(), 1);
        assert_eq!(r.depends_on[0].kind, Kind::Logins);
        assert_eq!(r.depends_on[0].id, "L1");
        assert_eq!(conn_login(&r, &CellCtx { now: 0 }).text, "l");

        let v = json!({"id":"C2","name":"c2","database":{"login":{},"type":"sql_server"}});
        let r = parse_resource("p", Kind::Connections, &v).unwrap();
        assert!(r.depends_on.is_empty());
        assert_eq!(conn_login(&r, &CellCtx { now: 0 }).text, "-");
    }

    #[test]
    fn lenient_parsing_of_sparse_objects() {
        // Only an id: name falls back to it, nothing else is invented.
        let r = parse_resource("p", Kind::Connections, &json!({"id":"C3"})).unwrap();
        assert_eq!(r.name, "C3");
        assert!(r.type_.is_none() && r.created.is_none() && r.depends_on.is_empty());
        // Unparseable dates are tolerated.
        let r = parse_resource(
            "p",
            Kind::Logins,
            &json!({"id":"L","name":"n","dateCreated":"yesterday","username":"mstr"}),
        )
        .unwrap();
        assert_eq!(r.created, None);
        assert_eq!(login_username(&r, &CellCtx { now: 0 }).text, "mstr");
        // No id: not a resource.
        assert!(parse_resource("p", Kind::Logins, &json!({"name":"x"})).is_none());
        assert!(parse_resource("p", Kind::Logins, &json!("str")).is_none());
    }

    #[test]
    fn spec_columns_match_the_product() {
        let titles = |k| {
            (SPEC.columns)(k)
                .iter()
                .map(|c| c.title)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            titles(Kind::Datasources),
            [
                "Name",
                "DBMS",
                "Connection",
                "Used by",
                "Health",
                "Owner",
                "Modified"
            ]
        );
        assert_eq!(
            titles(Kind::Connections),
            ["Name", "Type", "Login", "Used by", "Health"]
        );
        assert_eq!(titles(Kind::Logins), ["Name", "Username", "Used by"]);
    }

    #[test]
    fn only_session_expiry_triggers_relogin_and_only_transient_errors_retry() {
        let http = |status: u16, code: Option<&str>| ApiError::Http {
            vendor: V,
            status,
            code: code.map(str::to_string),
            message: "m".into(),
            ticket: None,
            retry_after_ms: None,
        };
        assert!(is_session_expired(&http(401, Some("ERR009"))));
        assert!(!is_session_expired(&http(401, Some("ERR003"))));
        assert!(!is_session_expired(&http(403, Some("ERR009"))));
        // A session expiry is the re-login's business, never a retry's.
        assert_eq!(READS.wait_before_retry(&http(401, Some("ERR009")), 0), None);
        assert_eq!(READS.wait_before_retry(&http(400, Some("ERR006")), 0), None);
        assert!(READS
            .wait_before_retry(&http(503, Some("ERR001")), 1)
            .is_some());
        assert_eq!(READS.wait_before_retry(&http(503, Some("ERR001")), 2), None);
    }

    #[tokio::test]
    async fn read_only_client_refuses_before_logging_in() {
        // Nothing listens on this port: a refused call would be a transport error instead.
        let mut s = settings("http://127.0.0.1:9/MicroStrategyLibrary");
        s.read_only = true;
        let c = MstrClient::new(s).unwrap();
        let target = Ref {
            kind: Kind::Logins,
            id: "L1".into(),
            name: "l".into(),
        };
        let err = c.delete(target).await.unwrap_err();
        assert!(matches!(err, ApiError::ReadOnly { .. }), "{err:?}");
        let err = c
            .create(Kind::Logins, json!({"name":"x"}))
            .await
            .unwrap_err();
        assert!(matches!(err, ApiError::ReadOnly { .. }), "{err:?}");
        // Logging out without a session sends nothing and does not fail.
        c.logout().await;
    }

    /// A scripted server: `answer(method, path, n)` gives the raw HTTP reply to the n-th
    /// request (0-based, all routes counted together). Returns the base URL and the log of
    /// "METHOD /path" lines.
    async fn scripted(
        answer: fn(&str, &str, usize) -> String,
    ) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log2 = log.clone();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let log = log2.clone();
                tokio::spawn(async move {
                    loop {
                        let mut buf = Vec::new();
                        let mut chunk = [0u8; 4096];
                        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                            let n = sock.read(&mut chunk).await.unwrap_or(0);
                            if n == 0 {
                                return;
                            }
                            buf.extend_from_slice(&chunk[..n]);
                        }
                        let head = String::from_utf8_lossy(&buf).to_string();
                        let split = head.find("\r\n\r\n").unwrap() + 4;
                        let len = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap())
                            })
                            .unwrap_or(0);
                        let mut have = buf.len() - split;
                        while have < len {
                            let n = sock.read(&mut chunk).await.unwrap_or(0);
                            if n == 0 {
                                return;
                            }
                            have += n;
                        }
                        let mut parts = head.lines().next().unwrap().split(' ');
                        let method = parts.next().unwrap().to_string();
                        let path = parts.next().unwrap().to_string();
                        let n = {
                            let mut l = log.lock().unwrap();
                            l.push(format!("{method} {path}"));
                            l.len() - 1
                        };
                        let reply = answer(&method, &path, n);
                        if sock.write_all(reply.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (format!("http://{addr}/MicroStrategyLibrary"), log)
    }

    fn reply(status: &str, extra_headers: &str, body: &str) -> String {
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\n{extra_headers}Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
    }

    fn login_ok() -> String {
        reply("204 No Content", "X-MSTR-AuthToken: tok\r\n", "")
    }

    fn logins_of(log: &std::sync::Mutex<Vec<String>>) -> usize {
        log.lock()
            .unwrap()
            .iter()
            .filter(|l| l.ends_with("/auth/login"))
            .count()
    }

    #[tokio::test]
    async fn route_missing_404_is_an_error_but_object_404_is_already_gone() {
        let (base, _) = scripted(|m, p, _| match (m, p) {
            ("POST", p) if p.ends_with("/auth/login") => login_ok(),
            ("DELETE", p) if p.ends_with("/logins/GONE") => reply(
                "404 Not Found",
                "",
                r#"{"code":"ERR004","iServerCode":-2147216373,"message":"(Object with ID 'GONE' and type 30 is not found in metadata. It may have been deleted.)","ticketId":"t1"}"#,
            ),
            _ => reply(
                "404 Not Found",
                "",
                r#"{"code":"ERR004","message":"HTTP 404 Not Found","ticketId":"t2"}"#,
            ),
        })
        .await;
        let c = MstrClient::new(settings(&base)).unwrap();
        let gone = Ref {
            kind: Kind::Logins,
            id: "GONE".into(),
            name: "g".into(),
        };
        assert_eq!(c.delete(gone).await.unwrap(), DeleteOutcome::AlreadyGone);
        let route = Ref {
            kind: Kind::Connections,
            id: "X".into(),
            name: "x".into(),
        };
        let err = c.delete(route).await.unwrap_err();
        assert_eq!(err.status(), Some(404));
        assert!(err.to_string().contains("HTTP 404 Not Found"), "{err}");
    }

    #[tokio::test]
    async fn gets_are_retried_on_503_but_posts_and_deletes_are_not() {
        let (base, log) = scripted(|m, p, n| match (m, p) {
            ("POST", p) if p.ends_with("/auth/login") => login_ok(),
            // The first two list calls fail, the third works.
            ("GET", _) if n <= 2 => reply(
                "503 Service Unavailable",
                "",
                r#"{"code":"ERR0016","message":"Service not available"}"#,
            ),
            ("GET", _) => reply("200 OK", "", r#"{"logins":[{"id":"L1","name":"one"}]}"#),
            _ => reply(
                "503 Service Unavailable",
                "",
                r#"{"code":"ERR0016","message":"Service not available"}"#,
            ),
        })
        .await;
        let c = MstrClient::new(settings(&base)).unwrap();
        let (list, skipped) = c.list(Kind::Logins, &StrPool::default()).await.unwrap();
        assert_eq!((list.len(), skipped), (1, 0));
        assert_eq!(list[0].name, "one");
        let gets = |log: &std::sync::Mutex<Vec<String>>| {
            log.lock()
                .unwrap()
                .iter()
                .filter(|l| l.starts_with("GET "))
                .count()
        };
        assert_eq!(gets(&log), 3);

        log.lock().unwrap().clear();
        let err = c
            .create(Kind::Logins, json!({"name":"x"}))
            .await
            .unwrap_err();
        assert_eq!(err.status(), Some(503));
        let target = Ref {
            kind: Kind::Logins,
            id: "L1".into(),
            name: "one".into(),
        };
        let err = c.delete(target).await.unwrap_err();
        assert_eq!(err.code(), Some("ERR0016"));
        assert_eq!(
            *log.lock().unwrap(),
            vec![
                "POST /MicroStrategyLibrary/api/datasources/logins".to_string(),
                "DELETE /MicroStrategyLibrary/api/datasources/logins/L1".to_string(),
            ]
        );
    }

    #[tokio::test]
    async fn a_second_401_after_relogin_is_a_hard_error() {
        let (base, log) = scripted(|m, p, _| match (m, p) {
            ("POST", p) if p.ends_with("/auth/login") => login_ok(),
            _ => reply(
                "401 Unauthorized",
                "",
                r#"{"code":"ERR009","message":"The user's session has expired, please reauthenticate","ticketId":"x"}"#,
            ),
        })
        .await;
        let c = MstrClient::new(settings(&base)).unwrap();
        let err = c.list(Kind::Logins, &StrPool::default()).await.unwrap_err();
        assert_eq!(err.code(), Some("ERR009"));
        assert_eq!(logins_of(&log), 2, "{:?}", log.lock().unwrap());
        assert_eq!(log.lock().unwrap().len(), 4);
    }

    #[tokio::test]
    async fn login_without_token_header_and_bad_list_bodies_are_decode_errors() {
        let (base, _) = scripted(|_, _, _| reply("204 No Content", "", "")).await;
        let c = MstrClient::new(settings(&base)).unwrap();
        let err = c.list(Kind::Logins, &StrPool::default()).await.unwrap_err();
        assert!(matches!(err, ApiError::Decode { .. }), "{err:?}");
        assert!(err.to_string().contains("X-MSTR-AuthToken"), "{err}");

        let (base, _) = scripted(|m, p, _| match (m, p) {
            ("POST", p) if p.ends_with("/auth/login") => login_ok(),
            _ => reply("200 OK", "", r#"[{"id":"L1"}]"#),
        })
        .await;
        let c = MstrClient::new(settings(&base)).unwrap();
        let err = c.load().await.unwrap_err();
        assert!(
            matches!(err, ApiError::Decode { status: 200, .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("array"), "{err}");
    }
}
