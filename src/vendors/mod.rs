//! Vendor clients behind one interface. The UI and the executor know vendors only through
//! `VendorApi` (what a live client can do) and `VendorSpec` (static facts: kinds, columns,
//! delete order). Adding a vendor means one client file, one simulator, a seed file and a
//! line in `spec()` and `connect()`.

pub mod basedash;
pub mod databrain;
pub mod forms;
pub mod http;
pub mod microstrategy;
mod microstrategy_forms;
pub mod qlik;
pub mod ratelimit;
pub mod request_audit;
pub mod retry;

use crate::model::{printable, ColumnDef, Kind, Ref, Resource, VendorId};
use futures::future::BoxFuture;
use secrecy::SecretString;
use std::fmt;
use std::sync::Arc;
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
        for r in self.resources.iter_mut() {
            if crate::redact::may_hold_secret(r.raw.as_str()) {
                r.raw = crate::redact::strip_secrets(&r.raw.value()).into();
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
    fn create(
        &self,
        kind: Kind,
        body: serde_json::Value,
    ) -> BoxFuture<'_, Result<Resource, ApiError>>;
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
    /// Test one connection: `Ok(())` healthy, `Err` with the server's reason.
    fn test_connection(&self, id: String) -> BoxFuture<'_, Result<(), ApiError>>;
    /// End the session; errors are ignored (already logged out is fine).
    fn logout(&self) -> BoxFuture<'_, ()>;
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
    /// Deletes are soft (recoverable at the vendor).
    pub soft_delete: bool,
    /// False until the vendor's client lands: its tab says "not supported yet".
    pub supported: bool,
}

impl fmt::Debug for VendorSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VendorSpec")
            .field("vendor", &self.vendor)
            .finish()
    }
}

/// The registry of vendor facts.
pub fn spec(vendor: VendorId) -> &'static VendorSpec {
    match vendor {
        VendorId::MicroStrategy => &microstrategy::SPEC,
        VendorId::Qlik => &qlik::SPEC,
        VendorId::Basedash => &basedash::SPEC,
        VendorId::Databrain => &databrain::SPEC,
    }
}

/// The create form of a kind, filled with choices from the loaded objects; `None` when the
/// vendor cannot create that kind.
pub fn create_form(vendor: VendorId, kind: Kind, loaded: &[Resource]) -> Option<forms::FormSpec> {
    match vendor {
        VendorId::MicroStrategy => microstrategy_forms::form(kind, loaded),
        _ => None,
    }
}

/// What a client needs to talk to one profile. Built from the config; holds the secret.
#[derive(Clone)]
pub struct ClientSettings {
    pub profile: String,
    pub vendor: VendorId,
    pub base_url: String,
    pub username: Option<String>,
    /// Password (MicroStrategy) or token (the others).
    pub secret: SecretString,
    pub login_mode: u32,
    /// Enforced in the HTTP layer: no mutating request leaves the client.
    pub read_only: bool,
    pub timeout: Duration,
    pub insecure_tls: bool,
    /// Qlik: start in this space (others: ignored).
    pub space_id: Option<String>,
    /// Basedash: only this organization (others: ignored).
    pub org_id: Option<String>,
    /// Databrain: data-app key, used for the datamart list if the service token is refused.
    pub data_app_key: Option<SecretString>,
    /// Write requests per minute for this tenant (Qlik default 100).
    pub rate_limit_per_minute: Option<u32>,
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
            .finish()
    }
}

/// Build the client of a profile. Does no I/O (login happens on first use).
pub fn connect(settings: ClientSettings) -> Result<Arc<dyn VendorApi>, ApiError> {
    match settings.vendor {
        VendorId::MicroStrategy => Ok(Arc::new(microstrategy::MstrClient::new(settings)?)),
        VendorId::Qlik => Ok(Arc::new(qlik::QlikClient::new(settings)?)),
        VendorId::Basedash => Ok(Arc::new(basedash::BasedashClient::new(settings)?)),
        VendorId::Databrain => Ok(Arc::new(databrain::DatabrainClient::new(settings)?)),
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
