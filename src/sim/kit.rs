//! The simulator kit: the plumbing every simulator shares, written once. A simulator keeps
//! only its vendor's routes, data and quirks; from here it takes
//!
//! - the request log (`SimRequest`) and the control core (`Kit`, `Control`): latency, the
//!   shared fault switchboard, the log and its clearing, shutdown;
//! - the frame every request passes (latency, credential, log) and the fault layer hookup
//!   (`Kit::router`);
//! - `FaultQueue`, the "answer the next n requests with this" switch the vendor-shaped
//!   faults use;
//! - response framing (`framing.rs`, re-exported here): JSON and byte bodies, empty answers, HTML pages (a proxy's error
//!   page), bodies cut short, `Retry-After`, and the rewrite of axum's plain-text rejections
//!   into the vendor's error body (`normalise`);
//! - `RateWindows`, per-caller request windows (fixed or sliding).

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;

use super::faults::{self, Faults};
pub use super::framing::*;
use super::{ServerGuard, SimOptions};

// ---------------------------------------------------------------------------------------------
// Request log and control core
// ---------------------------------------------------------------------------------------------

/// One request a simulator answered. `C` is what the simulator makes of the request's
/// credential (Databrain tells its two secrets apart); `()` for the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimRequest<C = ()> {
    pub method: String,
    /// Path without the query string, as received (percent-encoding kept).
    pub path: String,
    /// The raw query string, as received (empty when there was none).
    pub query: String,
    pub status: u16,
    pub credential: C,
}

impl<C> SimRequest<C> {
    /// A query parameter, percent-decoded (`+` is a space).
    pub fn query_param(&self, name: &str) -> Option<String> {
        super::parse_form(&self.query)
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

struct Log<C> {
    latency: Duration,
    requests: VecDeque<SimRequest<C>>,
    max: usize,
}

/// The part of a simulator every request passes through: latency, the request log and the
/// shared fault switchboard. Cheap to clone; the router holds one.
pub struct Kit<C = ()> {
    /// The shared fault layer (see `faults`), switchable at runtime. It runs inside the
    /// vendor's own checks and inside the request log, so injected failures are logged too.
    pub faults: Faults,
    log: Arc<Mutex<Log<C>>>,
    credential: fn(&HeaderMap) -> C,
}

impl<C> Clone for Kit<C> {
    fn clone(&self) -> Self {
        Kit {
            faults: self.faults.clone(),
            log: self.log.clone(),
            credential: self.credential,
        }
    }
}

impl Kit<()> {
    /// A kit with the latency of `opts` that keeps the most recent `max_logged` requests.
    pub fn new(opts: &SimOptions, max_logged: usize) -> Self {
        Kit::with_credential(opts, max_logged, |_| ())
    }
}

impl<C: Clone + Send + Sync + 'static> Kit<C> {
    /// As `new`, recording what `credential` makes of each request's headers; the frame
    /// also puts it in the request's extensions for the handlers.
    pub fn with_credential(
        opts: &SimOptions,
        max_logged: usize,
        credential: fn(&HeaderMap) -> C,
    ) -> Self {
        Kit {
            faults: Faults::default(),
            log: Arc::new(Mutex::new(Log {
                latency: opts.latency,
                requests: VecDeque::new(),
                max: max_logged.max(1),
            })),
            credential,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Log<C>> {
        self.log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Every request served so far (the most recent ones, up to the log's size), in the
    /// order the responses were produced.
    pub fn requests(&self) -> Vec<SimRequest<C>> {
        self.lock().requests.iter().cloned().collect()
    }

    /// Forget the request log.
    pub fn clear_requests(&self) {
        self.lock().requests.clear();
    }

    /// Delay added to every request.
    pub fn set_latency(&self, d: Duration) {
        self.lock().latency = d;
    }

    fn record(&self, req: SimRequest<C>) {
        let mut log = self.lock();
        if log.requests.len() >= log.max {
            log.requests.pop_front();
        }
        log.requests.push_back(req);
    }

    /// The simulator's router with the kit around it: `app` is the vendor's routes with its
    /// own frame (authentication, vendor faults, rate limits, error bodies) already layered
    /// on. Order, outermost first: kit frame (latency, credential, log), vendor frame, the
    /// shared fault layer, the handler.
    pub fn router<S>(
        &self,
        app: Router<S>,
        vendor_frame: impl FnOnce(Router<S>) -> Router,
    ) -> Router
    where
        S: Clone + Send + Sync + 'static,
    {
        let inner = app.layer(middleware::from_fn_with_state(
            self.faults.clone(),
            faults::layer,
        ));
        vendor_frame(inner).layer(middleware::from_fn_with_state(self.clone(), frame::<C>))
    }

    /// Serve `app` on `listener` in a background task; the returned control stops it.
    pub fn serve(
        self,
        listener: tokio::net::TcpListener,
        app: Router,
        name: &'static str,
    ) -> Control<C> {
        let guard = super::serve(listener, app, name);
        Control {
            kit: self,
            guard: Arc::new(guard),
        }
    }
}

/// The outermost layer: latency, the credential, the request log.
async fn frame<C: Clone + Send + Sync + 'static>(
    State(kit): State<Kit<C>>,
    mut req: Request,
    next: Next,
) -> Response {
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let credential = (kit.credential)(req.headers());
    req.extensions_mut().insert(credential.clone());
    let latency = kit.lock().latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let resp = next.run(req).await;
    kit.record(SimRequest {
        method,
        path,
        query,
        status: resp.status().as_u16(),
        credential,
    });
    resp
}

/// A simulator's state behind its lock. A handler that panicked mid-request leaves the state
/// as it was at the panic; the next request goes on with it (poisoning is ignored).
pub struct Shared<S> {
    state: std::sync::Mutex<S>,
}

impl<S> Shared<S> {
    pub fn new(state: S) -> Self {
        Shared {
            state: std::sync::Mutex::new(state),
        }
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, S> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A vendor's control handle (`struct XControl { core: kit::Control<C>, .. }`) derefs to the
/// kit's control core and debugs by its name only (it holds the vendor's whole state).
macro_rules! control_handle {
    ($name:ident, $core:ty) => {
        impl std::ops::Deref for $name {
            type Target = $core;
            fn deref(&self) -> &$core {
                &self.core
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($name)).finish_non_exhaustive()
            }
        }
    };
}
pub(crate) use control_handle;

/// The control core of a running simulator: the kit's switches plus `shutdown`. The server
/// runs while any clone is alive. A vendor's control derefs to it.
pub struct Control<C = ()> {
    kit: Kit<C>,
    guard: Arc<ServerGuard>,
}

impl<C> Clone for Control<C> {
    fn clone(&self) -> Self {
        Control {
            kit: self.kit.clone(),
            guard: self.guard.clone(),
        }
    }
}

impl<C> std::ops::Deref for Control<C> {
    type Target = Kit<C>;
    fn deref(&self) -> &Kit<C> {
        &self.kit
    }
}

impl<C> Control<C> {
    /// Stop serving: the listener closes once in-flight requests have finished.
    pub fn shutdown(&self) {
        self.guard.stop();
    }
}

/// Bind 127.0.0.1 on `port` (0 = any free port); the listener and its `http://` root.
pub async fn bind(port: u16) -> std::io::Result<(tokio::net::TcpListener, String)> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    Ok((listener, format!("http://{addr}")))
}

// ---------------------------------------------------------------------------------------------
// Vendor-shaped fault queue
// ---------------------------------------------------------------------------------------------

struct QueuedFault<F> {
    method: Option<String>,
    path_prefix: String,
    fault: F,
    remaining: usize,
}

/// "Answer the next n matching requests with this": rules tried in the order given, each
/// consumed as it fires. The vendor decides where in its frame it looks (before its
/// authentication, say) and what its faults look like on the wire.
pub struct FaultQueue<F> {
    rules: Vec<QueuedFault<F>>,
}

impl<F> Default for FaultQueue<F> {
    fn default() -> Self {
        FaultQueue { rules: Vec::new() }
    }
}

impl<F: Clone> FaultQueue<F> {
    /// Queue `fault` for the next `times` requests with this method (any when `None`) whose
    /// path starts with `path_prefix`.
    pub fn push(&mut self, method: Option<&str>, path_prefix: &str, fault: F, times: usize) {
        if times == 0 {
            return;
        }
        self.rules.push(QueuedFault {
            method: method.map(str::to_ascii_uppercase),
            path_prefix: path_prefix.to_string(),
            fault,
            remaining: times,
        });
    }

    /// The fault of the first rule matching this request (consumed), if any.
    pub fn take(&mut self, method: &str, path: &str) -> Option<F> {
        let pos = self.rules.iter().position(|r| {
            r.method.as_deref().is_none_or(|m| m == method) && path.starts_with(&r.path_prefix)
        })?;
        let rule = &mut self.rules[pos];
        rule.remaining -= 1;
        let fault = rule.fault.clone();
        if rule.remaining == 0 {
            self.rules.remove(pos);
        }
        Some(fault)
    }

    /// How many answers are still queued.
    pub fn pending(&self) -> usize {
        self.rules.iter().map(|r| r.remaining).sum()
    }

    pub fn clear(&mut self) {
        self.rules.clear();
    }
}

// ---------------------------------------------------------------------------------------------
// Rate windows
// ---------------------------------------------------------------------------------------------

/// How a window moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// Starts at a caller's first request and resets whole once it has run out (Basedash).
    Fixed,
    /// Any window-long stretch holds at most the limit; a refused caller stays blocked for
    /// the whole seconds it was told to wait (Qlik).
    Sliding,
}

#[derive(Default)]
struct Admitted {
    times: VecDeque<Instant>,
    blocked_until: Option<Instant>,
}

/// Requests admitted per caller (`K`) within a window.
pub struct RateWindows<K> {
    kind: Window,
    callers: HashMap<K, Admitted>,
}

impl<K: Eq + Hash> RateWindows<K> {
    pub fn new(kind: Window) -> Self {
        RateWindows {
            kind,
            callers: HashMap::new(),
        }
    }

    /// Forget every caller's history (after the limits change).
    pub fn clear(&mut self) {
        self.callers.clear();
    }

    /// Admit one request of `key` if fewer than `limit` were admitted in the window
    /// (`limit` 0 is taken as 1); else how long until it would be.
    pub fn admit(
        &mut self,
        key: K,
        limit: usize,
        window: Duration,
        now: Instant,
    ) -> Result<(), Duration> {
        let w = self.callers.entry(key).or_default();
        if let Some(until) = w.blocked_until {
            if until > now {
                return Err(until - now);
            }
            w.blocked_until = None;
        }
        let expired = |t: &Instant| now.saturating_duration_since(*t) >= window;
        match self.kind {
            Window::Fixed => {
                if w.times.front().is_some_and(expired) {
                    w.times.clear();
                }
            }
            Window::Sliding => {
                while w.times.front().is_some_and(expired) {
                    w.times.pop_front();
                }
            }
        }
        if w.times.len() < limit.max(1) {
            w.times.push_back(now);
            return Ok(());
        }
        let oldest = w.times.front().copied().unwrap_or(now);
        let wait = (oldest + window).saturating_duration_since(now);
        if self.kind == Window::Sliding {
            let wait = Duration::from_secs(ceil_secs(wait).max(1));
            w.blocked_until = Some(now + wait);
            return Err(wait);
        }
        Err(wait)
    }
}

/// Whole seconds, rounded up.
pub fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_queue_matches_method_and_prefix_in_order() {
        let mut q = FaultQueue::default();
        q.push(Some("delete"), "/api/x", 'a', 2);
        q.push(None, "/api/", 'b', 1);
        q.push(None, "/", 'z', 0);
        assert_eq!(q.pending(), 3);
        assert_eq!(q.take("GET", "/api/x/1"), Some('b'));
        assert_eq!(q.take("GET", "/api/x/1"), None);
        assert_eq!(q.take("DELETE", "/api/x/1"), Some('a'));
        assert_eq!(q.take("DELETE", "/other"), None);
        assert_eq!(q.take("DELETE", "/api/x/2"), Some('a'));
        assert_eq!(q.pending(), 0);
    }

    #[test]
    fn fixed_window_resets_whole_and_sliding_window_blocks() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut fixed = RateWindows::new(Window::Fixed);
        assert!(fixed.admit("k", 2, s(60), t0).is_ok());
        assert!(fixed.admit("k", 2, s(60), t0 + s(30)).is_ok());
        assert_eq!(fixed.admit("k", 2, s(60), t0 + s(40)), Err(s(20)));
        assert!(fixed.admit("other", 2, s(60), t0 + s(40)).is_ok());
        // The whole window resets at t0 + 60: both places free again.
        assert!(fixed.admit("k", 2, s(60), t0 + s(60)).is_ok());
        assert!(fixed.admit("k", 2, s(60), t0 + s(61)).is_ok());

        let mut sliding = RateWindows::new(Window::Sliding);
        assert!(sliding.admit(1, 2, s(60), t0).is_ok());
        assert!(sliding.admit(1, 2, s(60), t0 + s(30)).is_ok());
        assert_eq!(
            sliding.admit(1, 2, s(60), t0 + Duration::from_millis(40_500)),
            Err(s(20))
        );
        // Blocked for the 20 s it was told, though the first place frees at t0 + 60.
        assert!(sliding.admit(1, 2, s(60), t0 + s(60)).is_err());
        assert!(sliding
            .admit(1, 2, s(60), t0 + Duration::from_millis(60_500))
            .is_ok());
        // Only one place freed: the request of t0 + 30 still counts.
        assert!(sliding.admit(1, 2, s(60), t0 + s(61)).is_err());
    }
}
