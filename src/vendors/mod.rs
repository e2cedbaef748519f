//! Vendor clients behind one interface. The UI and the executor know vendors only through
//! `VendorApi` (what a live client can do), `VendorSpec` (static facts: kinds, columns,
//! delete order) and the registry (`registry::VENDORS`: config keys, secrets, `connect`,
//! forms, error decoder, simulator and demo login). Adding a vendor means one client file,
//! one simulator, a seed file, its `VendorId` and one line in `VENDORS`.

pub mod basedash;
pub mod change;
pub mod databrain;
pub mod databrain_impact;
pub mod entry;
pub mod forms;
pub mod http;
pub mod jsonstream;
pub mod microstrategy;
mod microstrategy_forms;
mod microstrategy_impact;
mod microstrategy_wire;
pub mod qlik;
pub mod qlik_impact;
mod qlik_oauth;
pub mod ratelimit;
pub mod registry;
pub mod request_audit;
pub mod restore;
pub mod retry;
pub mod superset;
mod superset_impact;

pub use registry::{connect, create_form, spec, vendor, Vendor, VENDORS};

use crate::model::{printable, ColumnDef, Kind, Ref, Resource, VendorId};
use futures::future::BoxFuture;
use secrecy::SecretString;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// Every failure of a vendor call, as one clear sentence (see `Display`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// The server answered with an error status and (maybe) a vendor error body.
    #[error("{}", http_sentence(*vendor, *status, code.as_deref(), message, ticket.as_deref()))]
    Http {
        vendor: VendorId,
        status: u16,
        code: Option<String>,
        message: String,
        ticket: Option<String>,
        /// From `Retry-After` / `retryAfterMs` on 429 and 503.
        retry_after_ms: Option<u64>,
    },
    /// No usable answer: connection refused, DNS, TLS, timeout, reset.
    #[error("{vendor}: {}", printable(message))]
    Transport { vendor: VendorId, message: String },
    /// A 2xx answer whose body could not be read as the vendor's format.
    #[error("{vendor}: HTTP {status}: unreadable response: {}", printable(message))]
    Decode {
        vendor: VendorId,
        status: u16,
        message: String,
    },
    /// Refused before sending: the profile is read-only.
    #[error(
        "{vendor}: not sent: profile '{}' is read-only ({})",
        printable(profile),
        printable(what)
    )]
    ReadOnly {
        vendor: VendorId,
        profile: String,
        what: String,
    },
    /// The profile cannot be used (missing secret, unsupported vendor, bad URL).
    #[error("{vendor}: {}", printable(message))]
    Setup { vendor: VendorId, message: String },
}

fn http_sentence(
    vendor: VendorId,
    status: u16,
    code: Option<&str>,
    message: &str,
    ticket: Option<&str>,
) -> String {
    let mut s = format!("{vendor}: HTTP {status}");
    if let Some(c) = code {
        s.push(' ');
        s.push_str(&printable(c));
    }
    s.push_str(": ");
    s.push_str(if message.is_empty() {
        "(no message)"
    } else {
        message
    });
    if let Some(t) = ticket {
        s.push_str(&format!(" (ticket {t})"));
    }
    // Everything in the sentence may come from the server: make it safe to print.
    printable(&s).into_owned()
}

impl ApiError {
    /// The failure in the vendor's own words, without vendor name or status: what a health
    /// cell shows. The full sentence (`Display`) goes to the log and status line.
    pub fn reason(&self) -> String {
        match self {
            ApiError::Http { message, .. } if !message.is_empty() => message.clone(),
            ApiError::Transport { message, .. } | ApiError::Setup { message, .. } => {
                message.clone()
            }
            other => other.to_string(),
        }
    }

    pub fn vendor(&self) -> VendorId {
        match self {
            ApiError::Http { vendor, .. }
            | ApiError::Transport { vendor, .. }
            | ApiError::Decode { vendor, .. }
            | ApiError::ReadOnly { vendor, .. }
            | ApiError::Setup { vendor, .. } => *vendor,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Http { status, .. } | ApiError::Decode { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub fn code(&self) -> Option<&str> {
        match self {
            ApiError::Http { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ApiError::Http {
                retry_after_ms: Some(ms),
                ..
            } => Some(Duration::from_millis(*ms)),
            _ => None,
        }
    }

    /// The same error with `text` after its message (a read-only refusal is left as it is:
    /// nothing was sent).
    pub fn append(self, text: &str) -> ApiError {
        let add = |m: String| format!("{m} {text}");
        match self {
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
                message: add(message),
                ticket,
                retry_after_ms,
            },
            ApiError::Setup { vendor, message } => ApiError::Setup {
                vendor,
                message: add(message),
            },
            ApiError::Decode {
                vendor,
                status,
                message,
            } => ApiError::Decode {
                vendor,
                status,
                message: add(message),
            },
            ApiError::Transport { vendor, message } => ApiError::Transport {
                vendor,
                message: add(message),
            },
            other => other,
        }
    }

    /// Worth retrying: 429, 500, 502, 503, 504 and transport failures. The one rule of the
    /// clients' read retries (`retry::RetryPolicy`) and the executor's. Other statuses (501
    /// not implemented, 505 version not supported, 4xx) answer the same way every time.
    pub fn is_transient(&self) -> bool {
        match self {
            ApiError::Http { status, .. } => matches!(status, 429 | 500 | 502 | 503 | 504),
            ApiError::Transport { .. } => true,
            _ => false,
        }
    }
}

/// What a successful delete did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeleteOutcome {
    Deleted,
    /// The server no longer had it (404): counted as gone, reported as such.
    AlreadyGone,
    /// Marked deleted by the vendor (Basedash), recoverable there.
    SoftDeleted,
}

/// Everything one profile holds, loaded in one go, references linked.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub resources: Vec<Resource>,
    /// Non-fatal problems (one kind failed to list while others worked).
    pub warnings: Vec<String>,
}

impl Snapshot {
    /// Replace secret-looking values (passwords, tokens, keys) in every object's raw JSON, so
    /// that nothing above the clients (screen, CLI output, logs) can ever show one.
    pub fn redacted(mut self) -> Snapshot {
        // By key (`RawJson::redacted`): objects packed in bulk know from their load whether
        // they may hold one, so most are not even decompressed.
        for r in self.resources.iter_mut() {
            if let Some(stripped) = r.raw.redacted() {
                r.raw = stripped;
            }
        }
        self
    }
}

/// Where a streaming load sends its pages.
pub type PageSink = tokio::sync::mpsc::UnboundedSender<Vec<Resource>>;

/// A live, logged-in (or lazily logging-in) client of one profile.
pub trait VendorApi: Send + Sync {
    fn vendor(&self) -> VendorId;
    /// List every kind, link references.
    fn load(&self) -> BoxFuture<'_, Result<Snapshot, ApiError>>;
    /// Like `load`, and also sends each page of objects through `pages` as it arrives, so a
    /// first load of a big tenant fills the table while it runs. Pages are unlinked (no
    /// `used_by`); the final snapshot is what counts. Default: no pages, just `load`.
    fn load_streaming(&self, pages: PageSink) -> BoxFuture<'_, Result<Snapshot, ApiError>> {
        drop(pages);
        self.load()
    }
    /// Load every object and hand each to `visit` once, linked and redacted exactly as in
    /// `load().redacted()` and in the same order, without keeping them all: for a reader
    /// that writes each object and drops it (`list`). `visit` returns `false` to stop (the
    /// load then ends with `Ok`). Returns the snapshot's warnings. Default: `load`, then
    /// each object; MicroStrategy keeps only each object's compressed JSON and the graph.
    fn load_each<'a>(
        &'a self,
        visit: &'a mut (dyn FnMut(Resource) -> bool + Send),
    ) -> BoxFuture<'a, Result<Vec<String>, ApiError>> {
        Box::pin(async move {
            let snap = self.load().await?.redacted();
            for r in snap.resources {
                if !visit(r) {
                    break;
                }
            }
            Ok(snap.warnings)
        })
    }
    /// A filter the view should start with, known after a load (Qlik: the configured
    /// `space_id`'s name). Default: none.
    fn start_filter(&self) -> Option<String> {
        None
    }
    /// Fetch one object fresh from the server.
    fn get(&self, target: Ref) -> BoxFuture<'_, Result<Resource, ApiError>>;
    /// Delete one object. 404 → `Ok(AlreadyGone)`.
    fn delete(&self, target: Ref) -> BoxFuture<'_, Result<DeleteOutcome, ApiError>>;
    /// Create one object from a vendor wire-format body; returns the stored object.
    /// Default (vendors whose spec says `can_create: false`): refused as a setup error.
    fn create(
        &self,
        kind: Kind,
        body: serde_json::Value,
    ) -> BoxFuture<'_, Result<Resource, ApiError>> {
        drop(body);
        let vendor = self.vendor();
        Box::pin(async move {
            Err(ApiError::Setup {
                vendor,
                message: format!(
                    "dsconsole does not create {vendor} {kind} (create them in {vendor})"
                ),
            })
        })
    }
    /// Re-create a deleted object from the body `restore::recreate` built of its saved JSON
    /// (secrets and new ids put in); `container` is where it lived when the request needs
    /// it (the Basedash organization). Returns the stored object. Default: `create`.
    fn recreate(
        &self,
        kind: Kind,
        container: Option<String>,
        body: serde_json::Value,
    ) -> BoxFuture<'_, Result<Resource, ApiError>> {
        drop(container);
        self.create(kind, body)
    }
    /// Largest batch `delete_batch` accepts in one request; 1 when the vendor has no bulk
    /// delete endpoint.
    fn bulk_limit(&self) -> usize {
        1
    }
    /// Delete several objects, one result per target in the same order. Vendors with a bulk
    /// endpoint (Qlik `actions/delete`) override this; the default deletes one by one.
    fn delete_batch(
        &self,
        targets: Vec<Ref>,
    ) -> BoxFuture<'_, Vec<Result<DeleteOutcome, ApiError>>> {
        Box::pin(async move {
            let mut out = Vec::with_capacity(targets.len());
            for t in targets {
                out.push(self.delete(t).await);
            }
            out
        })
    }
    /// Change one object: only the fields in `change` (checked against
    /// `VendorSpec::edit_fields` by the caller), in the vendor's wire format; returns the
    /// object as the server has it afterwards. Refusals (name clash, failed credential
    /// test) are `Err` in the vendor's words, and nothing changed.
    /// Default (vendors with no update API): refused as a setup error.
    fn update(
        &self,
        target: Ref,
        change: change::Change,
    ) -> BoxFuture<'_, Result<Resource, ApiError>> {
        drop(change);
        let vendor = self.vendor();
        Box::pin(async move {
            Err(ApiError::Setup {
                vendor,
                message: format!("{vendor} has no API to change {}", target.kind),
            })
        })
    }
    /// Test one connection: `Ok(())` healthy, `Err` with the server's reason.
    /// Default (vendors whose spec says `can_test: false`): refused as a setup error.
    fn test_connection(&self, id: String) -> BoxFuture<'_, Result<(), ApiError>> {
        drop(id);
        let vendor = self.vendor();
        Box::pin(async move {
            Err(ApiError::Setup {
                vendor,
                message: format!("{vendor} has no API to test a connection"),
            })
        })
    }
    /// Run the health check the vendor offers for one object (see `HealthCheck`):
    /// MicroStrategy tests a connection, Basedash verifies a data source's connection
    /// fields, Databrain syncs a datasource and follows its progress. A caller runs "every
    /// health check a vendor offers" by calling this for each object of a kind listed in
    /// `VendorSpec::health_checks` (`ops::health_checks::run`); any other object answers
    /// `Ok(HealthCheck::NotOffered)`, never an error, so a mixed list is fine.
    ///
    /// `Ok(Failed)`: the vendor ran the check and said no (its reason). `Err`: the check
    /// could not be run or its answer read (object gone, refused key, 5xx, transport).
    /// Checks change no object's definition, so read-only profiles may run them: each
    /// client lists its check calls as allowed writes of its `HttpCore`.
    ///
    /// This sits beside `test_connection` instead of widening it: MicroStrategy's connection
    /// test (the `t` key, `check`) keeps its signature and behaviour, and Basedash and
    /// Databrain objects are datasources addressed by `Ref`, not connection ids.
    /// Default: no health check.
    fn check_health(&self, target: Ref) -> BoxFuture<'_, Result<HealthCheck, ApiError>> {
        drop(target);
        Box::pin(async { Ok(HealthCheck::NotOffered) })
    }
    /// What content breaks if the target is deleted. Clients run their searches one after
    /// another (one per session at a time), pace rate-limited ones and never fail: what they
    /// cannot find out is `Impact::unknown` with the reason. Default: the vendor has no API.
    fn impact(&self, target: crate::impact::ImpactTarget) -> BoxFuture<'_, crate::impact::Impact> {
        drop(target);
        let vendor = self.vendor();
        Box::pin(async move {
            crate::impact::Impact::unknown(
                format!("{vendor} has no API for it"),
                chrono::Utc::now().timestamp(),
            )
        })
    }
    /// End the session; errors are ignored (already logged out is fine). Default: nothing
    /// to end (token and API-key vendors have no session).
    fn logout(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

/// The health checks vendors offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    /// MicroStrategy `POST /api/datasources/connections/test`.
    ConnectionTest,
    /// Basedash `POST .../data-sources/verify`: the stored connection fields are tested.
    Verify,
    /// Databrain `POST /api/v2/datasource/sync`, then its progress.
    Sync,
}

impl CheckKind {
    pub fn noun(self) -> &'static str {
        match self {
            CheckKind::ConnectionTest => "connection test",
            CheckKind::Verify => "verify",
            CheckKind::Sync => "sync",
        }
    }
}

/// The answer of one health check (`VendorApi::check_health`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthCheck {
    /// The vendor has no health check for this object.
    NotOffered,
    /// The check ran and passed; `detail` is what the vendor said ("16/16", "Sync completed").
    Passed {
        check: CheckKind,
        detail: Option<String>,
    },
    /// The check ran and the vendor said no: its reason, in its words.
    Failed { check: CheckKind, reason: String },
    /// Still running when the client stopped following it (a sync past its time bound):
    /// neither passed nor failed; `progress` as the vendor gave it ("3/16").
    Running { check: CheckKind, progress: String },
}

impl HealthCheck {
    /// The health this answer gives the object: `None` when it says nothing new (not
    /// offered, still running).
    pub fn health(&self) -> Option<crate::model::Health> {
        use crate::model::Health;
        match self {
            HealthCheck::Passed { .. } => Some(Health::Healthy),
            HealthCheck::Failed { reason, .. } => Some(Health::Unhealthy(reason.clone().into())),
            HealthCheck::NotOffered | HealthCheck::Running { .. } => None,
        }
    }

    pub fn check(&self) -> Option<CheckKind> {
        match self {
            HealthCheck::NotOffered => None,
            HealthCheck::Passed { check, .. }
            | HealthCheck::Failed { check, .. }
            | HealthCheck::Running { check, .. } => Some(*check),
        }
    }
}

/// Static facts about a vendor, usable without a live client.
pub struct VendorSpec {
    pub vendor: VendorId,
    /// Kinds shown as sub-tabs, in order.
    pub kinds: &'static [Kind],
    /// Kinds that exist to be used by others; unused ones are orphans.
    pub orphan_kinds: &'static [Kind],
    /// Execution order of a delete plan (dependents first).
    pub delete_order: &'static [Kind],
    pub columns: fn(Kind) -> &'static [ColumnDef],
    pub can_create: bool,
    pub can_test: bool,
    /// The health check `VendorApi::check_health` runs, per kind it applies to; other kinds
    /// have none.
    pub health_checks: &'static [(Kind, CheckKind)],
    /// Deletes are soft (recoverable at the vendor).
    pub soft_delete: bool,
    /// What the vendor calls the place content lives in, for impact ("project", "space").
    pub impact_container: &'static str,
    /// Impact questions the vendor answers per minute when it limits them (Qlik lineage:
    /// 20), for the "how long will it take" of a large plan.
    pub impact_per_minute: Option<u32>,
    /// False until the vendor's client lands: its tab says "not supported yet".
    pub supported: bool,
    /// The fields a client may change on an object of a kind (`VendorApi::update`); none:
    /// the kind cannot be changed through the API.
    pub edit_fields: fn(Kind) -> &'static [change::EditField],
    /// The vendor tests new credentials itself before it applies them (Databrain's PUT):
    /// a change that was applied is verified.
    pub update_tests_credentials: bool,
}

impl fmt::Debug for VendorSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VendorSpec")
            .field("vendor", &self.vendor)
            .finish()
    }
}

/// What a client needs to talk to one profile. Built from the config; holds the secret.
/// The fields every vendor shares are here; what only one vendor uses travels in `options`
/// (its own config keys and secrets), which that vendor's client parses into its own typed
/// settings (`MstrSettings`, `QlikSettings`, ...). Build one with `ClientSettings::new` and
/// the chained setters.
#[derive(Clone)]
pub struct ClientSettings {
    pub profile: String,
    pub vendor: VendorId,
    pub base_url: String,
    pub username: Option<String>,
    /// Password (MicroStrategy) or token (the others): the vendor's `secret` in its spec.
    pub secret: SecretString,
    /// Enforced in the HTTP layer: no mutating request leaves the client.
    pub read_only: bool,
    pub timeout: Duration,
    pub insecure_tls: bool,
    /// Write requests per minute for this tenant (Qlik default 100).
    pub rate_limit_per_minute: Option<u32>,
    /// The vendor's own config keys and secrets (`login_mode`, `space_id`, `data_app_key`).
    pub options: VendorOptions,
    /// Trust these CA certificates (PEM) too, for this profile only.
    pub ca_file: Option<std::path::PathBuf>,
    /// A client certificate and its key (PEM) for mutual TLS.
    pub client_cert: Option<(std::path::PathBuf, std::path::PathBuf)>,
    pub proxy: ProxyChoice,
    /// How long establishing a connection may take (else the request timeout, at most 10 s).
    pub connect_timeout: Option<Duration>,
}

/// Which proxy a profile's requests go through.
#[derive(Clone, Default)]
pub enum ProxyChoice {
    /// `HTTPS_PROXY` / `HTTP_PROXY` / `ALL_PROXY`, with `NO_PROXY`, from the environment.
    #[default]
    Environment,
    /// None, whatever the environment says (`proxy = "none"`).
    Direct,
    /// This proxy (`proxy = "http://host:port"`), with optional credentials.
    Url {
        url: String,
        username: Option<String>,
        password: Option<SecretString>,
    },
}

impl fmt::Debug for ProxyChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProxyChoice::Environment => f.write_str("Environment"),
            ProxyChoice::Direct => f.write_str("Direct"),
            ProxyChoice::Url {
                url,
                username,
                password,
            } => write!(
                f,
                "Url({url:?}, user {username:?}, password {})",
                if password.is_some() {
                    "[redacted]"
                } else {
                    "none"
                }
            ),
        }
    }
}

impl ClientSettings {
    /// Settings with the defaults of a profile that sets nothing else: no username, writable,
    /// 30 s timeout, certificates verified, no write pacing, no vendor options.
    pub fn new(
        profile: impl Into<String>,
        vendor: VendorId,
        base_url: impl Into<String>,
        secret: SecretString,
    ) -> ClientSettings {
        ClientSettings {
            profile: profile.into(),
            vendor,
            base_url: base_url.into(),
            username: None,
            secret,
            read_only: false,
            timeout: Duration::from_secs(30),
            insecure_tls: false,
            rate_limit_per_minute: None,
            options: VendorOptions::default(),
            ca_file: None,
            client_cert: None,
            proxy: ProxyChoice::Environment,
            connect_timeout: None,
        }
    }

    pub fn ca_file(mut self, path: Option<std::path::PathBuf>) -> Self {
        self.ca_file = path;
        self
    }

    pub fn client_cert(
        mut self,
        cert_and_key: Option<(std::path::PathBuf, std::path::PathBuf)>,
    ) -> Self {
        self.client_cert = cert_and_key;
        self
    }

    pub fn proxy(mut self, proxy: ProxyChoice) -> Self {
        self.proxy = proxy;
        self
    }

    pub fn connect_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.connect_timeout = timeout;
        self
    }

    pub fn username(mut self, username: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self
    }

    pub fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn insecure_tls(mut self, insecure_tls: bool) -> Self {
        self.insecure_tls = insecure_tls;
        self
    }

    pub fn rate_limit_per_minute(mut self, per_minute: Option<u32>) -> Self {
        self.rate_limit_per_minute = per_minute;
        self
    }

    /// One of the vendor's own config keys (`space_id = "..."`).
    pub fn option(mut self, key: &str, value: impl Into<String>) -> Self {
        self.options.set_value(key, value);
        self
    }

    /// One of the vendor's own named secrets (`data_app_key`).
    pub fn secret_option(mut self, key: &str, secret: SecretString) -> Self {
        self.options.set_secret(key, secret);
        self
    }
}

impl fmt::Debug for ClientSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientSettings")
            .field("profile", &self.profile)
            .field("vendor", &self.vendor)
            .field("base_url", &self.base_url)
            .field("username", &self.username)
            .field("secret", &"[redacted]")
            .field("read_only", &self.read_only)
            .field("options", &self.options)
            .finish()
    }
}

/// A profile's vendor-specific config keys (validated by the config against the vendor's
/// `ConfigSpec`) and named secrets, handed to the vendor's client as they are.
#[derive(Clone, Default)]
pub struct VendorOptions {
    values: BTreeMap<String, String>,
    secrets: BTreeMap<String, SecretString>,
}

impl VendorOptions {
    pub fn value(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    pub fn secret(&self, key: &str) -> Option<&SecretString> {
        self.secrets.get(key)
    }

    pub fn set_value(&mut self, key: &str, value: impl Into<String>) {
        self.values.insert(key.to_owned(), value.into());
    }

    pub fn set_secret(&mut self, key: &str, secret: SecretString) {
        self.secrets.insert(key.to_owned(), secret);
    }

    /// A trimmed, non-blank value.
    pub fn text(&self, key: &str) -> Option<String> {
        self.value(key)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    }
}

impl fmt::Debug for VendorOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VendorOptions")
            .field("values", &self.values)
            .field("secrets", &self.secrets.keys().collect::<Vec<_>>())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::VendorId;

    #[test]
    fn redacted_snapshots_hold_no_secret_values() {
        let mut r = Resource::new(VendorId::Databrain, "p", Kind::Datasources, "pg", "pg");
        r.raw = serde_json::json!({"name": "pg", "connection": {"host": "db", "password": "hunter2", "token": "t0k"}}).into();
        let snap = Snapshot {
            resources: vec![r],
            warnings: vec![],
        }
        .redacted();
        let text = snap.resources[0].raw.as_str().to_string();
        assert!(!text.contains("hunter2") && !text.contains("t0k"), "{text}");
        assert!(
            text.contains("\"host\":\"db\""),
            "other fields are kept: {text}"
        );
    }

    /// Each vendor reads its own keys from the settings' options into its typed settings;
    /// a value it cannot use is a setup error naming the profile.
    #[test]
    fn vendor_options_become_each_vendors_typed_settings() {
        use secrecy::ExposeSecret;
        let base = |vendor| {
            ClientSettings::new("p", vendor, "https://h", SecretString::from("s")).username("u")
        };
        let mstr = |s: &ClientSettings| microstrategy::MstrSettings::from_options(&s.options);
        assert_eq!(
            mstr(&base(VendorId::MicroStrategy)).map(|m| m.login_mode),
            Ok(1)
        );
        let s = base(VendorId::MicroStrategy).option("login_mode", "16");
        assert_eq!(mstr(&s).map(|m| m.login_mode), Ok(16));
        let s = base(VendorId::MicroStrategy).option("login_mode", "ldap");
        assert!(mstr(&s).is_err());
        let e = connect(s).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("profile 'p'") && e.contains("login_mode"), "{e}");

        let s = base(VendorId::Qlik).option("space_id", "  sp1 ");
        let q = qlik::QlikSettings::from_options(&s.options);
        assert_eq!(q.space_id.as_deref(), Some("sp1"));
        let s = base(VendorId::Qlik).option("space_id", "  ");
        assert_eq!(qlik::QlikSettings::from_options(&s.options).space_id, None);

        let s = base(VendorId::Basedash).option("org_id", "org_1");
        let b = basedash::BasedashSettings::from_options(&s.options);
        assert_eq!(b.org_id.as_deref(), Some("org_1"));

        let s = base(VendorId::Databrain).secret_option("data_app_key", " k ".into());
        let d = databrain::DatabrainSettings::from_options(&s.options);
        assert_eq!(
            d.data_app_key
                .map(|k| k.expose_secret().to_owned())
                .as_deref(),
            Some("k")
        );
        // The options' Debug names the secret, never its value.
        let shown = format!("{s:?}");
        assert!(
            shown.contains("data_app_key") && !shown.contains(" k "),
            "{shown}"
        );
    }

    #[test]
    fn error_sentences_name_vendor_status_code_and_ticket() {
        let e = ApiError::Http {
            vendor: VendorId::MicroStrategy,
            status: 400,
            code: Some("ERR001".into()),
            message: "in use".into(),
            ticket: Some("abc".into()),
            retry_after_ms: None,
        };
        assert_eq!(
            e.to_string(),
            "MicroStrategy: HTTP 400 ERR001: in use (ticket abc)"
        );
        assert_eq!(e.reason(), "in use");
    }
}
