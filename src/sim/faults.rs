//! Fault injection shared by every simulator, switchable at runtime: latency, error
//! statuses (5xx, 429 with Retry-After), HTML error pages, malformed and truncated JSON,
//! dropped connections and slow-drip bodies. A rule matches requests by method and path
//! and fires for a number of requests (or forever), before the handler runs (the request
//! has no effect) or after it (it took effect, but the client does not learn it).

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::framing;

const JSON_CONTENT_TYPE: &str = "application/json;charset=UTF-8";

/// What a fault does to a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// This status with this JSON body; `retry_after` seconds sets the header.
    Status {
        status: u16,
        body: String,
        retry_after: Option<u64>,
    },
    /// A proxy's HTML error page with this status.
    Html { status: u16 },
    /// 200 whose body is not valid JSON.
    MalformedJson,
    /// 200 whose body stops halfway and the connection drops.
    Truncated,
    /// The connection drops before any byte of the response.
    Reset,
    /// The real response, dripped out a few bytes at a time with this pause between.
    SlowDrip { pause: Duration },
    /// The real response after this extra delay.
    Delay(Duration),
    /// A server that stops partway through a bulk request and whose answer is lost: the
    /// handler runs on only the first `keep` entries of the request body's JSON array (the
    /// body itself when it is an array, else its first array-valued member, e.g. Qlik's
    /// `connections`), then the client gets `then` (`Reset`, `Truncated`, `MalformedJson`,
    /// a 200 `Html` page, ...) instead of the answer. Always runs the handler, whatever
    /// `When` says. `keep` at or above the array's length: the whole request takes effect.
    CutShort { keep: usize, then: Box<Fault> },
}

/// When a fault fires relative to the handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// The handler never runs: the request has no effect.
    Before,
    /// The handler runs (a delete happens), then the client gets the fault instead.
    After,
}

#[derive(Debug, Clone)]
pub struct FaultRule {
    /// Only requests with this method (e.g. "DELETE"); any when `None`.
    pub method: Option<String>,
    /// Only paths containing this text; any when `None`.
    pub path_contains: Option<String>,
    pub fault: Fault,
    pub when: When,
    /// Fire on every n-th matching request (1 = every one).
    pub every: usize,
    /// How many times to fire; `None` = until cleared.
    pub times: Option<usize>,
    seen: usize,
    fired: usize,
}

impl FaultRule {
    pub fn new(fault: Fault) -> Self {
        FaultRule {
            method: None,
            path_contains: None,
            fault,
            when: When::Before,
            every: 1,
            times: None,
            seen: 0,
            fired: 0,
        }
    }
    pub fn method(mut self, m: &str) -> Self {
        self.method = Some(m.to_ascii_uppercase());
        self
    }
    pub fn path(mut self, p: &str) -> Self {
        self.path_contains = Some(p.to_string());
        self
    }
    pub fn after(mut self) -> Self {
        self.when = When::After;
        self
    }
    pub fn every(mut self, n: usize) -> Self {
        self.every = n.max(1);
        self
    }
    pub fn times(mut self, n: usize) -> Self {
        self.times = Some(n);
        self
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        self.method.as_deref().is_none_or(|m| m == method)
            && self
                .path_contains
                .as_deref()
                .is_none_or(|p| path.contains(p))
            && self.times.is_none_or(|t| self.fired < t)
    }
}

#[derive(Debug, Default)]
struct FaultState {
    rules: Vec<FaultRule>,
    fired: usize,
}

/// The switchboard of one simulator. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    inner: Arc<Mutex<FaultState>>,
}

impl Faults {
    fn lock(&self) -> MutexGuard<'_, FaultState> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn add(&self, rule: FaultRule) {
        self.lock().rules.push(rule);
    }

    pub fn clear(&self) {
        self.lock().rules.clear();
    }

    /// How many faults have fired so far.
    pub fn fired(&self) -> usize {
        self.lock().fired
    }

    /// The fault to apply to this request, if any (first matching rule whose turn it is).
    fn pick(&self, method: &str, path: &str) -> Option<(Fault, When)> {
        let mut st = self.lock();
        let mut hit = None;
        for rule in st.rules.iter_mut() {
            if !rule.matches(method, path) {
                continue;
            }
            rule.seen += 1;
            if rule.seen % rule.every == 0 {
                rule.fired += 1;
                hit = Some((rule.fault.clone(), rule.when));
                break;
            }
        }
        if hit.is_some() {
            st.fired += 1;
        }
        hit
    }
}

/// Middleware: `router.layer(axum::middleware::from_fn_with_state(faults, faults::layer))`.
pub async fn layer(State(faults): State<Faults>, req: Request, next: Next) -> Response {
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    match faults.pick(&method, &path) {
        None => next.run(req).await,
        Some((Fault::CutShort { keep, then }, _)) => {
            let req = cut_request(req, keep).await;
            let real = next.run(req).await;
            render(*then, Some(real)).await
        }
        // A delay or a slow drip is of the real response, whenever it is asked for.
        Some((fault @ (Fault::Delay(_) | Fault::SlowDrip { .. }), When::Before)) => {
            if let Fault::Delay(d) = fault {
                tokio::time::sleep(d).await;
                return next.run(req).await;
            }
            let real = next.run(req).await;
            render(fault, Some(real)).await
        }
        Some((fault, When::Before)) => render(fault, None).await,
        Some((fault, When::After)) => {
            let real = next.run(req).await;
            render(fault, Some(real)).await
        }
    }
}

/// The request with its body's JSON array cut to its first `keep` entries (a body that is
/// not JSON, or has no array, is passed on unchanged).
async fn cut_request(req: Request, keep: usize) -> Request {
    use serde_json::Value;
    let (mut parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let cut = match serde_json::from_slice::<Value>(&bytes) {
        Ok(mut v) => {
            let array = match &mut v {
                Value::Array(a) => Some(a),
                Value::Object(m) => m.values_mut().find_map(Value::as_array_mut),
                _ => None,
            };
            match array {
                Some(a) => {
                    a.truncate(keep);
                    serde_json::to_vec(&v).map(Bytes::from).unwrap_or(bytes)
                }
                None => bytes,
            }
        }
        Err(_) => bytes,
    };
    if let Ok(len) = HeaderValue::from_str(&cut.len().to_string()) {
        parts.headers.insert(header::CONTENT_LENGTH, len);
    }
    Request::from_parts(parts, Body::from(cut))
}

async fn render(fault: Fault, real: Option<Response>) -> Response {
    match fault {
        // Unwrapped by `layer`; nested, it is an error page.
        Fault::CutShort { .. } => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        Fault::Status {
            status,
            body,
            retry_after,
        } => {
            let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let resp = framing::bytes(code, JSON_CONTENT_TYPE, body);
            match retry_after {
                Some(secs) => framing::retry_after(resp, secs),
                None => resp,
            }
        }
        Fault::Html { status } => framing::proxy_page(
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
            "nginx",
        ),
        Fault::MalformedJson => framing::bytes(
            StatusCode::OK,
            JSON_CONTENT_TYPE,
            "{\"items\": [{\"id\": \"A1\", \"name\": }",
        ),
        Fault::Truncated => {
            // Headers and half a body go out; a moment later the connection drops. (Both at
            // once would let the server drop it before sending the headers.)
            let stream = futures::stream::unfold(0u8, |step| async move {
                match step {
                    0 => Some((
                        Ok::<Bytes, std::io::Error>(Bytes::from_static(
                            b"{\"datasources\":[{\"id\":\"AB12",
                        )),
                        1,
                    )),
                    1 => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Some((Err(std::io::Error::other("connection dropped")), 2))
                    }
                    _ => None,
                }
            });
            framing::bytes(StatusCode::OK, JSON_CONTENT_TYPE, Body::from_stream(stream))
        }
        Fault::Reset => {
            let chunks: Vec<Result<Bytes, std::io::Error>> =
                vec![Err(std::io::Error::other("connection reset"))];
            Response::new(Body::from_stream(futures::stream::iter(chunks)))
        }
        Fault::SlowDrip { pause } => {
            let Some(real) = real else {
                return Fault::Status {
                    status: 500,
                    body: "{}".into(),
                    retry_after: None,
                }
                .into_static();
            };
            let (parts, body) = real.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX)
                .await
                .unwrap_or_default();
            let pieces: Vec<Bytes> = bytes.chunks(16).map(Bytes::copy_from_slice).collect();
            let stream = futures::stream::unfold(pieces.into_iter(), move |mut it| async move {
                let next = it.next()?;
                tokio::time::sleep(pause).await;
                Some((Ok::<Bytes, std::io::Error>(next), it))
            });
            Response::from_parts(parts, Body::from_stream(stream))
        }
        Fault::Delay(d) => {
            tokio::time::sleep(d).await;
            real.unwrap_or_else(|| StatusCode::NO_CONTENT.into_response())
        }
    }
}

impl Fault {
    fn into_static(self) -> Response {
        match self {
            Fault::Status { status, body, .. } => (
                StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                body,
            )
                .into_response(),
            _ => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_match_method_path_every_and_times() {
        let f = Faults::default();
        f.add(
            FaultRule::new(Fault::Reset)
                .method("delete")
                .path("/connections/")
                .every(2)
                .times(2),
        );
        let hits: Vec<bool> = (0..8)
            .map(|_| {
                f.pick("DELETE", "/api/datasources/connections/AB")
                    .is_some()
            })
            .collect();
        assert_eq!(hits, [false, true, false, true, false, false, false, false]);
        assert!(f.pick("GET", "/api/datasources/connections/AB").is_none());
        assert_eq!(f.fired(), 2);
        f.add(FaultRule::new(Fault::Html { status: 502 }));
        assert!(f.pick("GET", "/x").is_some());
        f.clear();
        assert!(f.pick("GET", "/x").is_none());
    }
}
