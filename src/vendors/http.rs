//! Shared HTTP plumbing of the vendor clients: one `HttpCore` per profile (cookie store,
//! timeouts, TLS), the read-only guard every request passes through, and the decoding of
//! vendor error bodies and transport failures into one-sentence `ApiError`s.

use super::retry::RetryPolicy;
use super::{ApiError, ClientSettings};
use crate::model::VendorId;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT, CONTENT_TYPE, LOCATION};
use reqwest::{Method, Url};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::fmt;
use std::future::Future;
use std::time::{Duration, Instant};

/// Longest vendor message kept in an error sentence (characters).
const MAX_MESSAGE_CHARS: usize = 300;
/// A configured `base_url` taken apart so that a vendor can cut its own API suffix from the
/// path: the scheme is checked, query and fragment dropped, a trailing `/` trimmed.
#[derive(Debug, Clone, Copy)]
pub struct BaseUrl<'a> {
    raw: &'a str,
    scheme: &'a str,
    /// Host, port and path, as configured.
    pub rest: &'a str,
}

impl<'a> BaseUrl<'a> {
    pub fn parse(raw: &'a str) -> Result<BaseUrl<'a>, String> {
        let s = raw.trim();
        let lower = s.to_ascii_lowercase();
        let scheme_len = ["http://", "https://"]
            .into_iter()
            .find(|p| lower.starts_with(p))
            .map(str::len)
            .ok_or_else(|| format!("base_url '{s}' must start with http:// or https://"))?;
        let rest = &s[scheme_len..];
        let rest = &rest[..rest.find(['?', '#']).unwrap_or(rest.len())];
        Ok(BaseUrl {
            raw: s,
            scheme: &s[..scheme_len],
            rest: rest.trim_end_matches('/'),
        })
    }

    /// The base URL with `rest` (a prefix of `self.rest`) as host and path, checked to have
    /// a host.
    pub fn with_rest(&self, rest: &str) -> Result<String, String> {
        let base = format!("{}{}", self.scheme, rest.trim_end_matches('/'));
        match Url::parse(&base) {
            Ok(u) if u.host_str().is_some_and(|h| !h.is_empty()) => Ok(base),
            Ok(_) => Err(format!("base_url '{}' has no host", self.raw)),
            Err(e) => Err(format!("base_url '{}' is not a valid URL: {e}", self.raw)),
        }
    }
}

/// Upper bound of a connect timeout, whatever the request timeout is.
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// One request, built by a vendor client and sent through `HttpCore::send`.
#[derive(Clone)]
pub struct HttpRequest {
    pub method: Method,
    /// Absolute URL, query included.
    pub url: String,
    pub headers: HeaderMap,
    /// JSON body, if any.
    pub json: Option<Value>,
}

impl fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Headers carry tokens and bodies may carry passwords (login): never printed.
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &strip_query(&self.url))
            .field("has_body", &self.json.is_some())
            .finish()
    }
}

impl HttpRequest {
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        HttpRequest {
            method,
            url: url.into(),
            headers: HeaderMap::new(),
            json: None,
        }
    }

    pub fn get(url: impl Into<String>) -> Self {
        Self::new(Method::GET, url)
    }

    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.insert(name, value);
        self
    }

    pub fn json(mut self, body: Value) -> Self {
        self.json = Some(body);
        self
    }
}

/// A vendor's reading of a non-2xx answer (vendor, status, headers, body) as one `ApiError`;
/// each client hands its registry entry's to its `HttpCore` (most use `decode_error`).
pub type ErrorDecoder = fn(VendorId, u16, &HeaderMap, &[u8]) -> ApiError;

/// A fully read response (any status).
#[derive(Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    vendor: VendorId,
    /// How the vendor's errors read (from the `HttpCore` that sent the request).
    decode: ErrorDecoder,
}

impl fmt::Debug for HttpResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Headers may carry session tokens and cookies: never printed.
        f.debug_struct("HttpResponse")
            .field("status", &self.status)
            .field("body_len", &self.body.len())
            .finish()
    }
}

impl HttpResponse {
    /// An answer as `vendor` sent it, its errors read by `decode`.
    pub fn new(
        vendor: VendorId,
        decode: ErrorDecoder,
        status: u16,
        headers: HeaderMap,
        body: Vec<u8>,
    ) -> Self {
        HttpResponse {
            status,
            headers,
            body,
            vendor,
            decode,
        }
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// Check a 2xx answer to a DELETE really is the API's acknowledgement: an empty body or
    /// JSON. Anything else (a 200 HTML page from a proxy or a login portal) means the request
    /// may never have reached the API: reported as a decode error, so the executor checks
    /// whether the object is still there instead of reporting a delete that did not happen.
    pub fn expect_delete_ack(&self, vendor: VendorId) -> Result<(), ApiError> {
        let text = String::from_utf8_lossy(&self.body);
        let body = text.trim();
        if self.status == 204 || body.is_empty() || serde_json::from_str::<Value>(body).is_ok() {
            return Ok(());
        }
        let kind = self.header_str("content-type").unwrap_or("no content type");
        Err(ApiError::Decode {
            vendor,
            status: self.status,
            message: format!(
                "the answer to the delete is not the API's ({kind}); whether it was deleted is unknown"
            ),
        })
    }

    /// A header as text, if present and readable.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The error this response stands for (call only for non-2xx), read by the vendor's
    /// error decoder.
    pub fn to_error(&self) -> ApiError {
        (self.decode)(self.vendor, self.status, &self.headers, &self.body)
    }

    /// `Ok(self)` for 2xx, else the decoded vendor error.
    pub fn error_for_status(self) -> Result<Self, ApiError> {
        if self.is_success() {
            Ok(self)
        } else {
            Err(self.to_error())
        }
    }

    /// Parse a 2xx body as JSON.
    pub fn json<T: DeserializeOwned>(&self, vendor: VendorId) -> Result<T, ApiError> {
        decode_json(vendor, self.status, &self.body)
    }
}

/// Takes a 2xx body piece by piece, with the status (`HttpCore::send_streamed`): a bounded
/// channel, so the body's consumer may run on a thread of its own and hold the reading back.
pub type BodySink = tokio::sync::mpsc::Sender<(u16, Vec<u8>)>;

/// Why reading an answer stopped: the transport, or the body's consumer.
enum Failed {
    Transport(reqwest::Error),
    Sink(ApiError),
}

impl From<reqwest::Error> for Failed {
    fn from(e: reqwest::Error) -> Self {
        Failed::Transport(e)
    }
}

/// The HTTP client of one profile. Every request of a vendor client goes through `send`,
/// which enforces the read-only guard.
pub struct HttpCore {
    client: reqwest::Client,
    vendor: VendorId,
    profile: String,
    read_only: bool,
    /// Calls allowed on a read-only profile besides GET/HEAD: (method, path suffix).
    allowed_writes: Vec<(Method, String)>,
    timeout: Duration,
    /// `rate_limit_per_minute` of the profile: every write (non-GET/HEAD) request, so bulk
    /// work at any concurrency stays under the tenant's limit while reads stay fast.
    write_limiter: Option<std::sync::Arc<super::ratelimit::RateLimiter>>,
    decode: ErrorDecoder,
}

impl fmt::Debug for HttpCore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpCore")
            .field("vendor", &self.vendor)
            .field("profile", &self.profile)
            .field("read_only", &self.read_only)
            .finish()
    }
}

/// The operating system's CA certificates, read on first use and kept: every profile's
/// client trusts them. Unreadable entries are skipped (logged at debug level).
fn system_roots() -> &'static [reqwest::Certificate] {
    static ROOTS: std::sync::OnceLock<Vec<reqwest::Certificate>> = std::sync::OnceLock::new();
    ROOTS.get_or_init(|| {
        let loaded = rustls_native_certs::load_native_certs();
        for e in &loaded.errors {
            tracing::debug!("system CA store: {e}");
        }
        loaded
            .certs
            .iter()
            .filter_map(|c| reqwest::Certificate::from_der(c.as_ref()).ok())
            .collect()
    })
}

/// The certificates of a `ca_file` (PEM, one or more), with an error that names the file.
fn read_ca_file(path: &std::path::Path) -> Result<Vec<reqwest::Certificate>, String> {
    let shown = path.display();
    let pem = std::fs::read(path).map_err(|e| format!("ca_file {shown}: cannot read it: {e}"))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| format!("ca_file {shown}: not PEM certificates: {}", root_cause(&e)))?;
    if certs.is_empty() {
        return Err(format!(
            "ca_file {shown}: no certificate in it (expected PEM \"BEGIN CERTIFICATE\" blocks)"
        ));
    }
    Ok(certs)
}

/// A client certificate and its private key (PEM files) as one identity.
fn read_identity(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<reqwest::Identity, String> {
    let read = |p: &std::path::Path, what: &str| {
        std::fs::read(p).map_err(|e| format!("{what} {}: cannot read it: {e}", p.display()))
    };
    let mut pem = read(cert, "client_cert_file")?;
    pem.push(b'\n');
    pem.extend(read(key, "client_key_file")?);
    reqwest::Identity::from_pem(&pem).map_err(|e| {
        format!(
            "client_cert_file {} / client_key_file {}: not a PEM certificate and key: {}",
            cert.display(),
            key.display(),
            root_cause(&e)
        )
    })
}

impl HttpCore {
    /// Build the client of a profile. `allowed_writes` lists the non-GET calls that do not
    /// change server state (login, logout, connection test, keep-alive) as (method, path
    /// suffix such as "/api/auth/login"); they stay allowed on a read-only profile.
    /// `decode` reads the vendor's error answers.
    pub fn new(
        settings: &ClientSettings,
        allowed_writes: &[(Method, &str)],
        decode: ErrorDecoder,
    ) -> Result<HttpCore, ApiError> {
        let timeout = if settings.timeout.is_zero() {
            Duration::from_secs(30)
        } else {
            settings.timeout
        };
        let mut default_headers = HeaderMap::new();
        default_headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        let setup = |message: String| ApiError::Setup {
            vendor: settings.vendor,
            message,
        };
        let connect_timeout = settings
            .connect_timeout
            .unwrap_or(timeout.min(MAX_CONNECT_TIMEOUT));
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("dsconsole/", env!("CARGO_PKG_VERSION")))
            .default_headers(default_headers)
            .cookie_store(true)
            .timeout(timeout)
            .connect_timeout(connect_timeout)
            // A redirect would carry tokens and cookies elsewhere and could turn a refused
            // call into an allowed one: redirects are reported, never followed.
            .redirect(reqwest::redirect::Policy::none())
            .danger_accept_invalid_certs(settings.insecure_tls);
        // The bundled roots and the operating system's are trusted (the latter read once per
        // process, not per profile); a profile's ca_file adds its own CA for it only.
        for cert in system_roots() {
            builder = builder.add_root_certificate(cert.clone());
        }
        if let Some(path) = &settings.ca_file {
            for cert in read_ca_file(path).map_err(setup)? {
                builder = builder.add_root_certificate(cert);
            }
        }
        if let Some((cert, key)) = &settings.client_cert {
            builder = builder.identity(read_identity(cert, key).map_err(setup)?);
        }
        builder = match &settings.proxy {
            super::ProxyChoice::Environment => builder,
            super::ProxyChoice::Direct => builder.no_proxy(),
            super::ProxyChoice::Url {
                url,
                username,
                password,
            } => {
                use secrecy::ExposeSecret;
                let mut proxy = reqwest::Proxy::all(url.as_str())
                    .map_err(|e| setup(format!("proxy {url}: {}", root_cause(&e))))?
                    .no_proxy(reqwest::NoProxy::from_env());
                if let Some(user) = username {
                    let pw = password.as_ref().map(|p| p.expose_secret()).unwrap_or("");
                    proxy = proxy.basic_auth(user, pw);
                }
                builder.proxy(proxy)
            }
        };
        let client = builder
            .build()
            .map_err(|e| setup(format!("cannot build the HTTP client: {}", root_cause(&e))))?;
        Ok(HttpCore {
            client,
            vendor: settings.vendor,
            decode,
            profile: settings.profile.clone(),
            read_only: settings.read_only,
            allowed_writes: allowed_writes
                .iter()
                .map(|(m, p)| (m.clone(), p.to_string()))
                .collect(),
            timeout,
            write_limiter: settings
                .rate_limit_per_minute
                .and_then(super::ratelimit::RateLimiter::per_minute)
                .map(std::sync::Arc::new),
        })
    }

    pub fn vendor(&self) -> VendorId {
        self.vendor
    }

    pub fn read_only(&self) -> bool {
        self.read_only
    }

    /// The read-only guard: `Err(ReadOnly)` when this call may not leave the client.
    /// Vendor clients may call it early (before logging in); `send` always calls it.
    pub fn check_allowed(&self, method: &Method, url: &str) -> Result<(), ApiError> {
        if !self.read_only || *method == Method::GET || *method == Method::HEAD {
            return Ok(());
        }
        let parsed = self.parse_url(url)?;
        let path = parsed.path();
        if self.is_session_write(method, path) {
            Ok(())
        } else {
            Err(ApiError::ReadOnly {
                vendor: self.vendor,
                profile: self.profile.clone(),
                what: format!("{method} {path}"),
            })
        }
    }

    /// Whether a non-GET call is one of the vendor's session or test calls (login, logout,
    /// connection test), which change no object: allowed when read-only, not audited.
    fn is_session_write(&self, method: &Method, path: &str) -> bool {
        self.allowed_writes
            .iter()
            .any(|(m, suffix)| m == method && path_has_suffix(path, suffix))
    }

    /// Limit write requests (anything but GET/HEAD) to `per_minute`, e.g. Qlik's tier-2
    /// limit. 0 = no limit.
    pub fn set_write_limit(&mut self, per_minute: u32) {
        self.write_limiter =
            super::ratelimit::RateLimiter::per_minute(per_minute).map(std::sync::Arc::new);
    }

    /// Send one request and read the whole response. Any status is returned as `Ok`;
    /// transport failures become `ApiError::Transport`. An object-changing request is first
    /// told to the audit hook (`request_audit`); no line, no request.
    pub async fn send(&self, req: HttpRequest) -> Result<HttpResponse, ApiError> {
        self.send_inner(req, None).await
    }

    /// Like `send`, but a 2xx answer's body is handed to `on_chunk` (with the status) piece
    /// by piece as it arrives, and not kept: the returned response's body is empty. Other
    /// answers are read whole, as `send` reads them. An error from `on_chunk` ends the read
    /// and is returned as it is.
    pub async fn send_streamed(
        &self,
        req: HttpRequest,
        on_chunk: &BodySink,
    ) -> Result<HttpResponse, ApiError> {
        self.send_inner(req, Some(on_chunk)).await
    }

    async fn send_inner(
        &self,
        req: HttpRequest,
        on_chunk: Option<&BodySink>,
    ) -> Result<HttpResponse, ApiError> {
        self.check_allowed(&req.method, &req.url)?;
        let url = self.parse_url(&req.url)?;
        if req.method != Method::GET && req.method != Method::HEAD {
            if let Some(l) = &self.write_limiter {
                l.acquire().await;
            }
            if !self.is_session_write(&req.method, url.path()) {
                // Its own audit line, written right before it leaves (after any pacing).
                super::request_audit::before_request(req.method.as_str(), url.path()).map_err(
                    |e| ApiError::Setup {
                        vendor: self.vendor,
                        message: format!("audit log not writable; not sent: {e}"),
                    },
                )?;
            }
        }
        let shown = display_url(&url);
        let method = req.method.clone();
        let mut builder = self
            .client
            .request(req.method, url.clone())
            .headers(req.headers);
        if let Some(body) = &req.json {
            builder = builder.json(body);
        }
        let started = Instant::now();
        let outcome = async {
            let mut resp = builder.send().await?;
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let body = match on_chunk {
                Some(sink) if resp.status().is_success() => {
                    while let Some(chunk) = resp.chunk().await? {
                        // Copied: a chunk may be a slice of the connection's read buffer,
                        // which it would keep whole while it waits. Closed: the consumer
                        // stopped (it holds the reason).
                        sink.send((status, chunk.to_vec())).await.map_err(|_| {
                            Failed::Sink(ApiError::Decode {
                                vendor: self.vendor,
                                status,
                                message: "the body's reader stopped".into(),
                            })
                        })?;
                    }
                    Vec::new()
                }
                _ => resp.bytes().await?.to_vec(),
            };
            Ok::<_, Failed>(HttpResponse::new(
                self.vendor,
                self.decode,
                status,
                headers,
                body,
            ))
        }
        .await;
        let elapsed_ms = started.elapsed().as_millis() as u64;
        match outcome {
            Ok(resp) => {
                tracing::debug!(
                    vendor = %self.vendor,
                    profile = %self.profile,
                    %method,
                    path = url.path(),
                    status = resp.status,
                    elapsed_ms,
                    "http"
                );
                Ok(resp)
            }
            Err(Failed::Sink(err)) => Err(err),
            Err(Failed::Transport(e)) => {
                let err = transport_error(self.vendor, e, &method, &url, self.timeout);
                tracing::debug!(
                    vendor = %self.vendor,
                    profile = %self.profile,
                    %method,
                    url = %shown,
                    elapsed_ms,
                    error = %err,
                    "http failed"
                );
                Err(err)
            }
        }
    }

    /// One call under the vendor's retry `policy` (see `retry`): `attempt` sends it once and
    /// gives `Ok` for 2xx only. An idempotent call (GET, HEAD) failing transiently is sent
    /// again after the policy's wait; anything else is returned as it came.
    pub async fn retrying<T, F, Fut>(
        &self,
        policy: &RetryPolicy,
        method: &Method,
        url: &str,
        mut attempt: F,
    ) -> Result<T, ApiError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        let idempotent = *method == Method::GET || *method == Method::HEAD;
        let mut retry = 0;
        loop {
            let err = match attempt().await {
                Ok(resp) => return Ok(resp),
                Err(e) => e,
            };
            let wait = match policy.wait_before_retry(&err, retry) {
                Some(wait) if idempotent => wait,
                _ => return Err(err),
            };
            tracing::debug!(
                vendor = %self.vendor,
                profile = %self.profile,
                %method,
                path = strip_query(url),
                attempt = retry + 1,
                wait_ms = wait.as_millis() as u64,
                error = %err,
                "retrying"
            );
            tokio::time::sleep(wait).await;
            retry += 1;
        }
    }

    fn parse_url(&self, url: &str) -> Result<Url, ApiError> {
        Url::parse(url).map_err(|e| ApiError::Setup {
            vendor: self.vendor,
            message: format!("invalid URL '{}': {e}", strip_query(url)),
        })
    }
}

/// Whether `path` ends with `suffix` on a segment boundary.
fn path_has_suffix(path: &str, suffix: &str) -> bool {
    let path = path.trim_end_matches('/');
    let suffix = suffix.trim_end_matches('/');
    if suffix.is_empty() {
        return false;
    }
    match path.strip_suffix(suffix) {
        Some(rest) => suffix.starts_with('/') || rest.is_empty() || rest.ends_with('/'),
        None => false,
    }
}

/// A header value holding a secret (token, key): marked sensitive so it is never printed.
pub fn sensitive_value(vendor: VendorId, what: &str, value: &str) -> Result<HeaderValue, ApiError> {
    let mut v = HeaderValue::from_str(value).map_err(|_| ApiError::Setup {
        vendor,
        message: format!("the {what} contains characters not allowed in an HTTP header"),
    })?;
    v.set_sensitive(true);
    Ok(v)
}

/// Percent-encode one path segment (ids are inserted into URLs with this).
pub fn path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    // "." and ".." would be resolved as dot segments.
    if out == "." || out == ".." {
        out = out.replace('.', "%2E");
    }
    out
}

/// Parse a 2xx body as JSON; failure is `ApiError::Decode` with the parser's reason.
pub fn decode_json<T: DeserializeOwned>(
    vendor: VendorId,
    status: u16,
    body: &[u8],
) -> Result<T, ApiError> {
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(ApiError::Decode {
            vendor,
            status,
            message: "empty body where JSON was expected".into(),
        });
    }
    serde_json::from_slice(body).map_err(|e| ApiError::Decode {
        vendor,
        status,
        message: clean_text(&e.to_string()),
    })
}

/// What could be read from an error body.
#[derive(Debug, Default)]
struct ErrorParts {
    code: Option<String>,
    message: String,
    ticket: Option<String>,
    retry_after_ms: Option<u64>,
}

/// Turn a non-2xx response into one `ApiError::Http` sentence. Understands the error
/// bodies of all four vendors, HTML pages from proxies, empty and truncated bodies: the
/// shared decoder each vendor's `Vendor::decode_error` starts from.
pub fn decode_error(vendor: VendorId, status: u16, headers: &HeaderMap, body: &[u8]) -> ApiError {
    let reason = reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .filter(|v| !v.is_empty());
    let text = String::from_utf8_lossy(body);
    let trimmed = text.trim();

    let mut parts = if trimmed.is_empty() {
        ErrorParts {
            message: if reason.is_empty() {
                "empty response".into()
            } else {
                format!("{reason} (empty response)")
            },
            ..Default::default()
        }
    } else {
        match serde_json::from_str::<Value>(trimmed) {
            Ok(v) => parts_from_json(&v, reason),
            Err(e) => parts_from_text(trimmed, content_type.as_deref(), reason, &e),
        }
    };

    if (300..400).contains(&status) {
        if let Some(loc) = headers.get(LOCATION).and_then(|v| v.to_str().ok()) {
            parts.message = format!(
                "redirected to {} (not followed; check base_url)",
                strip_query(loc)
            );
            parts.code = None;
        }
    }
    if parts.retry_after_ms.is_none() {
        parts.retry_after_ms = retry_after_header(headers);
    }
    ApiError::Http {
        vendor,
        status,
        code: parts.code.map(|c| clean_text(&c)).filter(|c| !c.is_empty()),
        message: clean_text(&parts.message),
        ticket: parts
            .ticket
            .map(|t| clean_text(&t))
            .filter(|t| !t.is_empty()),
        retry_after_ms: parts.retry_after_ms,
    }
}

fn parts_from_json(v: &Value, reason: &str) -> ErrorParts {
    let fallback = || ErrorParts {
        message: format!("{reason} (unrecognised error body: {v})"),
        ..Default::default()
    };
    let obj = match v {
        Value::Object(o) => o,
        Value::String(s) if !s.trim().is_empty() => {
            return ErrorParts {
                message: s.clone(),
                ..Default::default()
            }
        }
        _ => return fallback(),
    };
    let top_retry = number_u64(obj.get("retryAfterMs"));
    let top_ticket = string_of(obj.get("ticketId")).or_else(|| string_of(obj.get("traceId")));

    // {"errors":[{...}, ...]}: Qlik, and MicroStrategy's alternative form. First entry.
    let entry = match obj.get("errors") {
        Some(Value::Array(list)) => list.iter().find_map(|e| e.as_object()),
        _ => None,
    };
    let parts = if let Some(e) = entry {
        parts_from_entry(e)
    } else {
        match obj.get("error") {
            // {"error":{...}}: Basedash, Databrain.
            Some(Value::Object(e)) => parts_from_entry(e),
            Some(Value::String(s)) if !s.trim().is_empty() => {
                let mut p = parts_from_entry(obj);
                if p.message.is_empty() {
                    p.message = s.clone();
                } else if p.code.is_none() {
                    p.code = Some(s.clone());
                }
                p
            }
            // {"code","message",...}: MicroStrategy, and generic bodies.
            _ => parts_from_entry(obj),
        }
    };
    if parts.message.is_empty() && parts.code.is_none() {
        return ErrorParts {
            retry_after_ms: parts.retry_after_ms.or(top_retry),
            ..fallback()
        };
    }
    ErrorParts {
        ticket: parts.ticket.or(top_ticket),
        retry_after_ms: parts.retry_after_ms.or(top_retry),
        ..parts
    }
}

fn parts_from_entry(e: &serde_json::Map<String, Value>) -> ErrorParts {
    let mut code = string_of(e.get("code"));
    let title = string_of(e.get("title"));
    let detail = string_of(e.get("detail"));
    let mut message = string_of(e.get("message")).unwrap_or_default();
    if message.is_empty() {
        message = match (title, detail) {
            // Basedash: the title is a short identifier ("ValidationError"): a code.
            (Some(t), Some(d)) if code.is_none() && !t.contains(char::is_whitespace) => {
                code = Some(t);
                d
            }
            (Some(t), Some(d)) => join_title_detail(&t, &d),
            (Some(t), None) => t,
            (None, Some(d)) => d,
            (None, None) => string_of(e.get("error_description"))
                .or_else(|| string_of(e.get("description")))
                .unwrap_or_default(),
        };
    }
    if let Some(isc) = e.get("iServerCode").and_then(|v| match v {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }) {
        message = format!("{message} (iServerCode {isc})");
    }
    if let Some(Value::Object(fields)) = e.get("fieldErrors") {
        let list: Vec<String> = fields
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => format!("{k}: {s}"),
                other => format!("{k}: {other}"),
            })
            .collect();
        if !list.is_empty() {
            message = format!("{message} ({})", list.join("; "));
        }
    }
    ErrorParts {
        code,
        message: message.trim().to_string(),
        ticket: string_of(e.get("ticketId")).or_else(|| string_of(e.get("traceId"))),
        retry_after_ms: number_u64(e.get("retryAfterMs")),
    }
}

fn join_title_detail(title: &str, detail: &str) -> String {
    let t = title.trim_end();
    if t.ends_with(['.', '!', '?', ':']) {
        format!("{t} {detail}")
    } else {
        format!("{t}: {detail}")
    }
}

fn parts_from_text(
    text: &str,
    content_type: Option<&str>,
    reason: &str,
    json_err: &serde_json::Error,
) -> ErrorParts {
    let lower_start: String = text
        .chars()
        .take(64)
        .collect::<String>()
        .to_ascii_lowercase();
    let looks_html = content_type.is_some_and(|c| c.contains("html"))
        || lower_start.starts_with("<!doctype")
        || lower_start.starts_with("<html")
        || lower_start.starts_with("<head")
        || lower_start.starts_with("<body");
    let looks_json = content_type.is_some_and(|c| c.contains("json"))
        || text.starts_with('{')
        || text.starts_with('[');
    let ctype = content_type.unwrap_or("no content type");
    let message = if looks_html {
        let summary = html_title(text)
            .filter(|t| !t.is_empty())
            .or_else(|| Some(html_text(text)).filter(|t| !t.is_empty()))
            .unwrap_or_else(|| reason.to_string());
        format!("non-JSON response ({ctype}): {summary}")
    } else if looks_json {
        format!("malformed or truncated JSON error body ({json_err})")
    } else {
        format!("non-JSON response ({ctype}): {text}")
    };
    ErrorParts {
        message,
        ..Default::default()
    }
}

/// The text of the first `<title>` element, entities decoded.
fn html_title(html: &str) -> Option<String> {
    let lower = html.to_ascii_lowercase();
    let open = lower.find("<title")?;
    let start = open + lower[open..].find('>')? + 1;
    let end = start + lower[start..].find("</title")?;
    Some(clean_text(&decode_entities(html.get(start..end)?)))
}

/// The visible text of an HTML page, roughly: tags removed.
fn html_text(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => {
                in_tag = true;
                out.push(' ');
            }
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    clean_text(&decode_entities(&out))
}

fn decode_entities(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&")
}

/// One line, whitespace collapsed, at most `MAX_MESSAGE_CHARS` characters.
fn clean_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len().min(MAX_MESSAGE_CHARS + 4));
    let mut count = 0usize;
    let mut pending_space = false;
    for c in s.chars() {
        if c.is_whitespace() || c.is_control() {
            pending_space = !out.is_empty();
            continue;
        }
        if pending_space {
            if count + 1 >= MAX_MESSAGE_CHARS {
                out.push('…');
                return out;
            }
            out.push(' ');
            count += 1;
            pending_space = false;
        }
        if count >= MAX_MESSAGE_CHARS {
            out.push('…');
            return out;
        }
        out.push(c);
        count += 1;
    }
    out
}

fn string_of(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn number_u64(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Number(n) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f.ceil() as u64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// `Retry-After` in delta seconds, as milliseconds (HTTP dates are ignored).
fn retry_after_header(headers: &HeaderMap) -> Option<u64> {
    let v = headers.get("retry-after")?.to_str().ok()?.trim();
    let secs: f64 = v.parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| (secs * 1000.0).ceil() as u64)
}

/// A URL as shown in messages: no credentials, no query, no fragment.
fn display_url(url: &Url) -> String {
    let mut u = url.clone();
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.set_query(None);
    u.set_fragment(None);
    u.to_string()
}

fn strip_query(s: &str) -> &str {
    let end = s.find(['?', '#']).unwrap_or(s.len());
    &s[..end]
}

/// "http://host:port" of a URL.
fn origin(url: &Url) -> String {
    let host = url.host_str().unwrap_or("");
    match url.port_or_known_default() {
        Some(p) => format!("{}://{}:{}", url.scheme(), host, p),
        None => format!("{}://{}", url.scheme(), host),
    }
}

fn format_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    clean_text(&cur.to_string())
}

/// Turn a reqwest failure into one sentence: what failed and where (never headers).
pub fn transport_error(
    vendor: VendorId,
    err: reqwest::Error,
    method: &Method,
    url: &Url,
    timeout: Duration,
) -> ApiError {
    let err = err.without_url();
    let shown = display_url(url);
    let origin = origin(url);
    let mut io_kinds = Vec::new();
    let mut chain_text = String::new();
    {
        let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(&err);
        while let Some(e) = cur {
            if let Some(io) = e.downcast_ref::<std::io::Error>() {
                io_kinds.push(io.kind());
            }
            chain_text.push_str(&e.to_string().to_ascii_lowercase());
            chain_text.push(' ');
            cur = e.source();
        }
    }
    let root = root_cause(&err);
    let has = |k: std::io::ErrorKind| io_kinds.contains(&k);
    let mentions = |words: &[&str]| words.iter().any(|w| chain_text.contains(w));
    let is_tls = mentions(&[
        "certificate",
        "tls",
        "ssl",
        "handshake",
        "corrupt message",
        "alert",
        "rustls",
    ]);
    let message = if err.is_timeout() || has(std::io::ErrorKind::TimedOut) {
        format!(
            "timed out after {} ({method} {shown})",
            format_duration(timeout)
        )
    } else if err.is_connect() {
        if has(std::io::ErrorKind::ConnectionRefused) || mentions(&["connection refused"]) {
            format!("connection refused to {origin}")
        } else if mentions(&[
            "dns error",
            "failed to lookup address",
            "name or service not known",
        ]) {
            format!(
                "cannot resolve host '{}' ({root})",
                url.host_str().unwrap_or("")
            )
        } else if url.scheme() == "https" && (is_tls || has(std::io::ErrorKind::InvalidData)) {
            tls_sentence(&root, &chain_text, &origin)
        } else {
            format!("cannot connect to {origin}: {root}")
        }
    } else if err.is_body() || err.is_decode() {
        format!("connection lost while reading the response of {method} {shown}: {root}")
    } else if has(std::io::ErrorKind::ConnectionReset)
        || has(std::io::ErrorKind::UnexpectedEof)
        || mentions(&["connection closed", "connection reset"])
    {
        format!("connection closed by {origin} before a response to {method} {shown} ({root})")
    } else {
        format!("{method} {shown} failed: {root}")
    };
    ApiError::Transport { vendor, message }
}

/// A TLS failure in words an operator can act on: which check failed and what to do —
/// trust the company's CA with `ca_file`, never turn verification off first.
fn tls_sentence(root: &str, chain: &str, origin: &str) -> String {
    let why = if chain.contains("unknownissuer") || chain.contains("unknown issuer") {
        "the server's certificate was issued by a CA this profile does not trust (unknown issuer)"
    } else if chain.contains("expired") {
        "the server's certificate has expired (or is not valid yet)"
    } else if chain.contains("notvalidforname") || chain.contains("not valid for name") {
        "the server's certificate is for another host name than the one in base_url"
    } else if chain.contains("certificate required") || chain.contains("certificaterequired") {
        "the server asks for a client certificate (mutual TLS)"
    } else {
        ""
    };
    let hint = if why.contains("issuer") {
        ": if your company runs its own CA, set ca_file = \"/path/to/ca.pem\" in this profile \
         (insecure_tls only as a last resort)"
    } else if why.contains("client certificate") {
        ": set client_cert_file and client_key_file in this profile"
    } else if why.contains("host name") {
        ": use the host name the certificate was issued for in base_url"
    } else {
        ""
    };
    if why.is_empty() {
        format!("TLS error: {root} ({origin})")
    } else {
        format!("TLS error with {origin}: {why}{hint} ({root})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;
    use std::sync::{Arc, Mutex};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    const V: VendorId = VendorId::MicroStrategy;

    fn settings(read_only: bool, timeout: Duration) -> ClientSettings {
        ClientSettings::new("prod", V, "http://127.0.0.1", SecretString::from("pw"))
            .username("admin")
            .read_only(read_only)
            .timeout(timeout)
    }

    fn mstr_allow() -> Vec<(Method, &'static str)> {
        vec![
            (Method::POST, "/api/auth/login"),
            (Method::POST, "/api/auth/logout"),
            (Method::POST, "/api/datasources/connections/test"),
            (Method::PUT, "/api/sessions"),
        ]
    }

    /// A tiny HTTP/1.1 server answering every request with `reply`; records request lines.
    async fn server(reply: &'static str) -> (String, Arc<Mutex<Vec<String>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen2 = seen.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let seen = seen2.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    loop {
                        let n = sock.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        if buf.windows(4).any(|w| w == b"\r\n\r\n") {
                            break;
                        }
                    }
                    let head = String::from_utf8_lossy(&buf).to_string();
                    let line = head.lines().next().unwrap_or("").to_string();
                    seen.lock().unwrap().push(line);
                    let _ = sock.write_all(reply.as_bytes()).await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        (format!("http://{addr}"), seen)
    }

    const OK_REPLY: &str =
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}";

    const UNAVAILABLE_REPLY: &str =
        "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

    #[tokio::test]
    async fn retrying_repeats_only_idempotent_calls() {
        let (base, seen) = server(UNAVAILABLE_REPLY).await;
        let core =
            HttpCore::new(&settings(false, Duration::from_secs(5)), &[], decode_error).unwrap();
        let policy = RetryPolicy {
            base: Duration::from_millis(1),
            ..RetryPolicy::reads(2)
        };
        for (method, sent) in [(Method::GET, 3), (Method::DELETE, 1), (Method::POST, 1)] {
            seen.lock().unwrap().clear();
            let url = format!("{base}/api/x?secret=1");
            let err = core
                .retrying(&policy, &method, &url, || async {
                    core.send(HttpRequest::new(method.clone(), url.as_str()))
                        .await?
                        .error_for_status()
                })
                .await
                .unwrap_err();
            assert_eq!(err.status(), Some(503));
            assert_eq!(seen.lock().unwrap().len(), sent, "{method}");
        }
    }

    #[tokio::test]
    async fn read_only_refuses_mutations_before_sending() {
        let (base, seen) = server(OK_REPLY).await;
        let core = HttpCore::new(
            &settings(true, Duration::from_secs(5)),
            &mstr_allow(),
            decode_error,
        )
        .unwrap();
        for (m, p) in [
            (Method::DELETE, "/MicroStrategyLibrary/api/datasources/ABC"),
            (Method::POST, "/MicroStrategyLibrary/api/datasources"),
            (
                Method::POST,
                "/MicroStrategyLibrary/api/datasources/connections",
            ),
            (
                Method::PATCH,
                "/MicroStrategyLibrary/api/datasources/logins/X",
            ),
            (Method::PUT, "/MicroStrategyLibrary/api/datasources/X"),
            (Method::DELETE, "/MicroStrategyLibrary/api/sessions"),
            // The allow-list matches whole segments only.
            (Method::POST, "/MicroStrategyLibrary/api/xauth/login"),
            // Dot segments are resolved before the check.
            (
                Method::POST,
                "/MicroStrategyLibrary/api/auth/login/../../datasources",
            ),
        ] {
            let err = core
                .send(HttpRequest::new(m.clone(), format!("{base}{p}")).json(serde_json::json!({})))
                .await
                .unwrap_err();
            match &err {
                ApiError::ReadOnly { profile, what, .. } => {
                    assert_eq!(profile, "prod");
                    assert!(what.starts_with(m.as_str()), "{what}");
                }
                other => panic!("{m} {p}: expected ReadOnly, got {other:?}"),
            }
            assert!(err.to_string().contains("read-only"), "{err}");
        }
        assert!(
            seen.lock().unwrap().is_empty(),
            "a refused request reached the server"
        );

        // GET, HEAD and the allowed calls do go out.
        for (m, p) in [
            (Method::GET, "/MicroStrategyLibrary/api/datasources"),
            (Method::HEAD, "/MicroStrategyLibrary/api/status"),
            (Method::POST, "/MicroStrategyLibrary/api/auth/login"),
            (Method::POST, "/MicroStrategyLibrary/api/auth/logout"),
            (
                Method::POST,
                "/MicroStrategyLibrary/api/datasources/connections/test",
            ),
            (Method::PUT, "/MicroStrategyLibrary/api/sessions/"),
        ] {
            let resp = core
                .send(HttpRequest::new(m.clone(), format!("{base}{p}")))
                .await
                .unwrap_or_else(|e| panic!("{m} {p}: {e}"));
            assert_eq!(resp.status, 200);
        }
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 6, "{seen:?}");
        assert!(seen[0].starts_with("GET /MicroStrategyLibrary/api/datasources "));
        assert!(seen[2].starts_with("POST /MicroStrategyLibrary/api/auth/login "));
    }

    #[tokio::test]
    async fn writable_profile_sends_everything() {
        let (base, seen) = server(OK_REPLY).await;
        let core =
            HttpCore::new(&settings(false, Duration::from_secs(5)), &[], decode_error).unwrap();
        let resp = core
            .send(HttpRequest::new(
                Method::DELETE,
                format!("{base}/api/datasources/X"),
            ))
            .await
            .unwrap();
        assert_eq!(resp.status, 200);
        assert_eq!(seen.lock().unwrap().len(), 1);
        assert!(core.check_allowed(&Method::POST, "http://h/api/x").is_ok());
    }

    #[test]
    fn suffix_matching_is_per_segment() {
        assert!(path_has_suffix("/Lib/api/auth/login", "/api/auth/login"));
        assert!(path_has_suffix("/api/auth/login/", "/api/auth/login"));
        assert!(!path_has_suffix("/api/auth/login2", "/api/auth/login"));
        assert!(!path_has_suffix("/api/auth/login/x", "/api/auth/login"));
        assert!(path_has_suffix("/x/auth/login", "auth/login"));
        assert!(!path_has_suffix("/x/oauth/login", "auth/login"));
        assert!(!path_has_suffix("/x", ""));
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn json_headers() -> HeaderMap {
        headers(&[("content-type", "application/json;charset=UTF-8")])
    }

    #[test]
    fn decodes_mstr_error() {
        let body = br#"{"code":"ERR009","message":"The user's session has expired, please reauthenticate","ticketId":"f39db2e12d5b4cb9b4d32fc6e439045e"}"#;
        let e = decode_error(V, 401, &json_headers(), body);
        assert_eq!(e.code(), Some("ERR009"));
        assert_eq!(e.status(), Some(401));
        assert_eq!(
            e.to_string(),
            "MicroStrategy: HTTP 401 ERR009: The user's session has expired, please reauthenticate (ticket f39db2e12d5b4cb9b4d32fc6e439045e)"
        );
    }

    #[test]
    fn decodes_mstr_error_with_iserver_code() {
        let body = br#"{"code":"ERR017","iServerCode":-2147214568,"message":"(User 'Guest' does not have Read and Write access)","ticketId":"6c37"}"#;
        let e = decode_error(V, 403, &json_headers(), body);
        let ApiError::Http {
            code,
            message,
            ticket,
            ..
        } = &e
        else {
            panic!("{e:?}")
        };
        assert_eq!(code.as_deref(), Some("ERR017"));
        assert_eq!(
            message,
            "(User 'Guest' does not have Read and Write access) (iServerCode -2147214568)"
        );
        assert_eq!(ticket.as_deref(), Some("6c37"));
    }

    #[test]
    fn decodes_mstr_errors_array_first_entry() {
        let body = br#"{"errors":[{"code":"ERR004","message":"HTTP 404 Not Found","ticketId":"1cc7"},{"code":"X","message":"second"}]}"#;
        let e = decode_error(V, 404, &json_headers(), body);
        assert_eq!(
            e.to_string(),
            "MicroStrategy: HTTP 404 ERR004: HTTP 404 Not Found (ticket 1cc7)"
        );
    }

    #[test]
    fn decodes_qlik_errors() {
        let body = br#"{"errors":[{"code":"DCERROR-0010","title":"Bad or invalid request","detail":"Field xxx is missing in the request","status":400}]}"#;
        let e = decode_error(VendorId::Qlik, 400, &json_headers(), body);
        assert_eq!(
            e.to_string(),
            "Qlik Cloud: HTTP 400 DCERROR-0010: Bad or invalid request: Field xxx is missing in the request"
        );
        // Gateway form: string status, top-level traceId, no detail.
        let body = br#"{"errors":[{"title":"Not authorized","code":"HTTP-401","status":"401"}],"traceId":"abc123"}"#;
        let e = decode_error(VendorId::Qlik, 401, &json_headers(), body);
        assert_eq!(
            e.to_string(),
            "Qlik Cloud: HTTP 401 HTTP-401: Not authorized (ticket abc123)"
        );
    }

    #[test]
    fn qlik_rate_limit_uses_retry_after_header() {
        let body = br#"{"errors":[{"code":"HTTP-429","title":"API rate limit reached.","detail":"You need to wait 13 seconds until limit is lifted."}]}"#;
        let mut h = json_headers();
        h.insert("retry-after", HeaderValue::from_static("13"));
        let e = decode_error(VendorId::Qlik, 429, &h, body);
        assert_eq!(e.retry_after(), Some(Duration::from_secs(13)));
        assert!(e.is_transient());
        assert!(
            e.to_string().ends_with(
                "API rate limit reached. You need to wait 13 seconds until limit is lifted."
            ),
            "{e}"
        );
    }

    #[test]
    fn decodes_basedash_error_and_retry_after_ms() {
        let body =
            br#"{"error":{"title":"RateLimitExceeded","detail":"Too many requests","retryAfterMs":1200}}"#;
        let mut h = json_headers();
        h.insert("retry-after", HeaderValue::from_static("2"));
        let e = decode_error(VendorId::Basedash, 429, &h, body);
        assert_eq!(
            e.to_string(),
            "Basedash: HTTP 429 RateLimitExceeded: Too many requests"
        );
        // The body's milliseconds win over the header's seconds.
        assert_eq!(e.retry_after(), Some(Duration::from_millis(1200)));

        let body = br#"{"error":{"title":"ValidationError","detail":"Invalid credentials","fieldErrors":{"host":"Host not found"}}}"#;
        let e = decode_error(VendorId::Basedash, 400, &json_headers(), body);
        assert_eq!(
            e.to_string(),
            "Basedash: HTTP 400 ValidationError: Invalid credentials (host: Host not found)"
        );
    }

    #[test]
    fn decodes_databrain_error() {
        let body = br#"{"error":{"code":"DATASOURCE_IN_USE","message":"Datasource is being used by other resources"}}"#;
        let e = decode_error(VendorId::Databrain, 400, &json_headers(), body);
        assert_eq!(
            e.to_string(),
            "Databrain: HTTP 400 DATASOURCE_IN_USE: Datasource is being used by other resources"
        );
        assert_eq!(e.retry_after(), None);
    }

    #[test]
    fn decodes_html_pages() {
        let body = b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>";
        let e = decode_error(V, 502, &headers(&[("content-type", "text/html")]), body);
        assert_eq!(
            e.to_string(),
            "MicroStrategy: HTTP 502: non-JSON response (text/html): 502 Bad Gateway"
        );
        assert_eq!(e.code(), None);
        // No title: the page text; no content type: said so.
        let body = b"<!DOCTYPE html><body><p>Service\n  down &amp; out</p></body>";
        let e = decode_error(V, 503, &HeaderMap::new(), body);
        assert_eq!(
            e.to_string(),
            "MicroStrategy: HTTP 503: non-JSON response (no content type): Service down & out"
        );
    }

    #[test]
    fn decodes_empty_truncated_and_text_bodies() {
        let e = decode_error(V, 503, &HeaderMap::new(), b"");
        assert_eq!(
            e.to_string(),
            "MicroStrategy: HTTP 503: Service Unavailable (empty response)"
        );
        let e = decode_error(V, 500, &json_headers(), br#"{"code":"ERR001","mess"#);
        let s = e.to_string();
        assert!(
            s.starts_with("MicroStrategy: HTTP 500: malformed or truncated JSON error body (EOF while parsing"),
            "{s}"
        );
        let e = decode_error(
            V,
            500,
            &headers(&[("content-type", "text/plain")]),
            b"Internal\nerror\n",
        );
        assert_eq!(
            e.to_string(),
            "MicroStrategy: HTTP 500: non-JSON response (text/plain): Internal error"
        );
        // JSON without any known field.
        let e = decode_error(V, 500, &json_headers(), br#"{"foo":1}"#);
        assert!(e.to_string().contains("unrecognised error body"), "{e}");
    }

    #[test]
    fn long_messages_are_trimmed_to_one_line() {
        let long = format!(
            r#"{{"code":"ERR001","message":"line one\nline two {}"}}"#,
            "x".repeat(1000)
        );
        let e = decode_error(V, 400, &json_headers(), long.as_bytes());
        let ApiError::Http { message, .. } = &e else {
            panic!()
        };
        assert!(message.starts_with("line one line two x"), "{message}");
        assert!(message.chars().count() <= MAX_MESSAGE_CHARS + 1);
        assert!(message.ends_with('…'));
        assert!(!e.to_string().contains('\n'));
    }

    #[test]
    fn redirects_are_explained() {
        let h = headers(&[("location", "https://bi.example.com/Lib/api/datasources?x=1")]);
        let e = decode_error(V, 301, &h, b"");
        assert_eq!(
            e.to_string(),
            "MicroStrategy: HTTP 301: redirected to https://bi.example.com/Lib/api/datasources (not followed; check base_url)"
        );
    }

    #[test]
    fn retry_after_http_date_is_ignored() {
        let h = headers(&[("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")]);
        assert_eq!(decode_error(V, 503, &h, b"").retry_after(), None);
        let h = headers(&[("retry-after", "3")]);
        assert_eq!(
            decode_error(V, 503, &h, b"").retry_after(),
            Some(Duration::from_secs(3))
        );
    }

    #[test]
    fn decode_json_reports_parser_error() {
        let e = decode_json::<Value>(V, 200, b"{\"datasources\":[").unwrap_err();
        assert!(matches!(e, ApiError::Decode { status: 200, .. }));
        assert!(
            e.to_string()
                .starts_with("MicroStrategy: HTTP 200: unreadable response: EOF"),
            "{e}"
        );
        let e = decode_json::<Value>(V, 200, b"").unwrap_err();
        assert!(e.to_string().contains("empty body"), "{e}");
        assert_eq!(
            decode_json::<Value>(V, 200, b"[1]").unwrap(),
            serde_json::json!([1])
        );
    }

    #[test]
    fn path_segments_are_escaped() {
        assert_eq!(path_segment("ABC123"), "ABC123");
        assert_eq!(path_segment("a/b?c"), "a%2Fb%3Fc");
        assert_eq!(path_segment(".."), "%2E%2E");
    }

    #[test]
    fn request_debug_hides_body_headers_and_query() {
        let req = HttpRequest::new(Method::POST, "http://h/api/auth/login?k=v")
            .header(
                HeaderName::from_static("x-mstr-authtoken"),
                sensitive_value(V, "token", "tok123").unwrap(),
            )
            .json(serde_json::json!({"username": "u", "password": "hunter2"}));
        let s = format!("{req:?}");
        assert!(
            !s.contains("hunter2") && !s.contains("tok123") && !s.contains("k=v"),
            "{s}"
        );
        assert!(s.contains("http://h/api/auth/login"), "{s}");
    }

    #[test]
    fn sensitive_values_do_not_print() {
        let v = sensitive_value(V, "token", "s3cr3t").unwrap();
        assert!(v.is_sensitive());
        assert!(!format!("{v:?}").contains("s3cr3t"));
        let e = sensitive_value(V, "token", "bad\nvalue").unwrap_err();
        assert!(!e.to_string().contains("bad"), "{e}");
    }

    #[tokio::test]
    async fn connection_refused_is_one_sentence() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let core =
            HttpCore::new(&settings(false, Duration::from_secs(5)), &[], decode_error).unwrap();
        let err = core
            .send(HttpRequest::get(format!(
                "http://{addr}/api/x?token=secret"
            )))
            .await
            .unwrap_err();
        assert!(matches!(err, ApiError::Transport { .. }));
        assert_eq!(
            err.to_string(),
            format!("MicroStrategy: connection refused to http://{addr}")
        );
        assert!(err.is_transient());
    }

    #[tokio::test]
    async fn timeout_names_the_limit_and_hides_the_query() {
        // Accepts and never answers.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hold = tokio::spawn(async move {
            let mut socks = Vec::new();
            while let Ok((s, _)) = listener.accept().await {
                socks.push(s);
            }
        });
        let core = HttpCore::new(
            &settings(false, Duration::from_millis(300)),
            &[],
            decode_error,
        )
        .unwrap();
        let err = core
            .send(HttpRequest::get(format!("http://{addr}/api/x?secret=1")))
            .await
            .unwrap_err();
        hold.abort();
        let s = err.to_string();
        assert_eq!(
            s,
            format!("MicroStrategy: timed out after 300ms (GET http://{addr}/api/x)")
        );
    }

    #[tokio::test]
    async fn tls_to_a_plain_server_is_a_tls_error() {
        // A plain-HTTP server that answers whatever it receives (here: a TLS ClientHello).
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let _ = s.write_all(OK_REPLY.as_bytes()).await;
                let _ = s.shutdown().await;
            }
        });
        let https = format!("https://{addr}");
        let core =
            HttpCore::new(&settings(false, Duration::from_secs(5)), &[], decode_error).unwrap();
        let err = core
            .send(HttpRequest::get(format!("{https}/api/x")))
            .await
            .unwrap_err();
        let s = err.to_string();
        assert!(s.starts_with("MicroStrategy: TLS error: "), "{s}");
    }

    #[tokio::test]
    async fn dropped_connection_is_reported() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                // Promise a body, send half of it, hang up.
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"data\":")
                    .await;
                drop(s);
            }
        });
        let core =
            HttpCore::new(&settings(false, Duration::from_secs(5)), &[], decode_error).unwrap();
        let err = core
            .send(HttpRequest::get(format!("http://{addr}/api/x")))
            .await
            .unwrap_err();
        assert!(matches!(err, ApiError::Transport { .. }), "{err:?}");
        assert!(
            err.to_string()
                .contains("connection lost while reading the response of GET"),
            "{err}"
        );
    }
}
