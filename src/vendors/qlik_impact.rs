//! Qlik Cloud impact analysis, the parts without I/O: the lineage budget and what it costs
//! in time, reading an impact `overview` graph into dependents, reading app items into
//! candidates, the reasons an answer is unknown, and the per-connection cache. The requests
//! themselves are `QlikClient::impact` (in `qlik.rs`):
//!
//! 1. `GET /data-connections/{qID}`: the connection's base QRI (`qri`), space and owner.
//! 2. `GET /lineage-graphs/impact/{percent-encoded QRI}/overview?down=-1` (Tenant Admin
//!    only), paced at `LINEAGE_REQUESTS_PER_MINUTE` on its own limiter, `retry-after`
//!    honoured a bounded number of times. Apps in the graph are what breaks; datasets and
//!    files downstream are reported too. An empty graph is "none found".
//! 3. When lineage cannot answer (403, 404, no QRI, 429 for too long, timeout, an answer
//!    that cannot be read): the apps of the connection's space (`GET /items`) as *possible*
//!    users, with the reason: unknown, never "none".

use crate::impact::{Dependent, Impact};
use serde_json::Value;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Qlik's limit on every lineage endpoint: "Special (20 requests per minute)". Impact
/// analysis sends at most one lineage request per connection (plus retries after a 429).
pub const LINEAGE_REQUESTS_PER_MINUTE: u32 = 20;
/// How long an answer is reused for the same connection (a second look at the same plan
/// costs no lineage request).
pub const IMPACT_CACHE_TTL: Duration = Duration::from_secs(300);
/// Lineage requests sent again after a 429 or a transient failure, per connection.
pub const LINEAGE_RETRIES: u32 = 2;
/// The longest a connection's lineage search waits in all for `retry-after` (and for a
/// block another connection's 429 left); a server asking for more is not waited for.
pub const LINEAGE_MAX_WAIT: Duration = Duration::from_secs(60);
/// Wait after a 429 without `retry-after`.
pub const LINEAGE_DEFAULT_BLOCK: Duration = Duration::from_secs(5);
/// Pages of app items (100 each) read for one space at most.
pub const MAX_ITEM_PAGES: usize = 50;

/// At least how long impact analysis of `lineage_calls` connections takes under the lineage
/// budget (`LINEAGE_REQUESTS_PER_MINUTE`): the client's limiter lets a small burst go at once
/// and spaces the rest 3 s apart (22 connections ≈ 1 minute). Request time and 429 waits
/// come on top; cached connections cost nothing (`QlikClient::impact_eta` leaves them out).
pub fn impact_eta(lineage_calls: usize) -> Duration {
    eta_at(LINEAGE_REQUESTS_PER_MINUTE, lineage_calls)
}

/// `impact_eta` for a limiter of `per_minute` (0 = unpaced), matching
/// `RateLimiter::per_minute`: a burst of a tenth of the rate (1 to 10), then one request per
/// interval.
pub fn eta_at(per_minute: u32, calls: usize) -> Duration {
    if per_minute == 0 {
        return Duration::ZERO;
    }
    let burst = (per_minute / 10).clamp(1, 10) as usize;
    let interval = Duration::from_secs(60) / per_minute;
    interval.saturating_mul(u32::try_from(calls.saturating_sub(burst)).unwrap_or(u32::MAX))
}

/// Why lineage could not answer, and whether that answer may be cached (a refusal or a
/// missing record answers the same for minutes; a rate limit or a timeout may not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineageFailure {
    pub why: String,
    pub lasting: bool,
}

impl LineageFailure {
    pub fn lasting(why: impl Into<String>) -> LineageFailure {
        LineageFailure {
            why: why.into(),
            lasting: true,
        }
    }

    pub fn passing(why: impl Into<String>) -> LineageFailure {
        LineageFailure {
            why: why.into(),
            lasting: false,
        }
    }

    /// What a non-2xx lineage status means.
    pub fn of_status(status: u16, detail: &str) -> LineageFailure {
        match status {
            403 => LineageFailure::lasting("lineage needs Tenant Admin (HTTP 403)"),
            404 => LineageFailure::lasting("no lineage known for this connection (HTTP 404)"),
            _ => LineageFailure::passing(format!("lineage search failed: {detail}")),
        }
    }
}

/// One node of an impact graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphNode {
    pub qri: String,
    pub label: Option<String>,
    /// `metadata.type`: `DA_APP`, `DATASET`, `TABLE`, `FIELD`.
    pub node_type: Option<String>,
    /// `metadata.subtype`: `APPLICATION`, `FILE`, ...
    pub subtype: Option<String>,
    /// `metadata.id` when present.
    pub meta_id: Option<String>,
}

fn text(v: &Value, pointer: &str) -> Option<String> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// The nodes of an `overview` body `{"graph":{"nodes":{qri: node}, ...}}`. `nodes` may be
/// an object keyed by QRI or that object JSON-encoded in a string (the reference page's
/// form); missing or `null` is an empty graph; `edges` are not needed.
pub fn parse_overview(body: &Value) -> Result<Vec<GraphNode>, String> {
    let graph = match body.get("graph") {
        Some(g @ Value::Object(_)) => g,
        Some(Value::Null) | None => return Err("the answer has no 'graph'".into()),
        Some(_) => return Err("'graph' is not an object".into()),
    };
    let decoded;
    let nodes = match graph.get("nodes") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::String(s)) if s.trim().is_empty() => return Ok(Vec::new()),
        Some(Value::String(s)) => {
            decoded = serde_json::from_str::<Value>(s)
                .map_err(|e| format!("'graph.nodes' is a string but not JSON: {e}"))?;
            &decoded
        }
        Some(other) => other,
    };
    let map = match nodes {
        Value::Object(m) => m,
        Value::Null => return Ok(Vec::new()),
        _ => return Err("'graph.nodes' is not an object keyed by QRI".into()),
    };
    Ok(map
        .iter()
        .map(|(qri, n)| GraphNode {
            qri: qri.clone(),
            label: text(n, "/label"),
            node_type: text(n, "/metadata/type"),
            subtype: text(n, "/metadata/subtype"),
            meta_id: text(n, "/metadata/id"),
        })
        .collect())
}

const APP_PREFIX: &str = "qri:app:sense://";

/// The app id of an app node: the key after `qri:app:sense://` (up to any `#`), else the
/// part after `://` of the key or of `metadata.id`.
fn app_id(n: &GraphNode) -> Option<String> {
    let after = |q: &str| {
        q.split_once("://")
            .map(|(_, rest)| rest.split('#').next().unwrap_or(rest).to_string())
            .filter(|s| !s.is_empty())
    };
    if let Some(rest) = n.qri.strip_prefix(APP_PREFIX) {
        return Some(rest.split('#').next().unwrap_or(rest).to_string()).filter(|s| !s.is_empty());
    }
    after(&n.qri).or_else(|| n.meta_id.as_deref().and_then(after))
}

fn is_app(n: &GraphNode) -> bool {
    n.qri.starts_with(APP_PREFIX)
        || n.node_type
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case("DA_APP"))
}

/// What the graph says breaks: every app (`what` "app", id the app id), and every other
/// resource-level node as a "file" (QVDs and other files) or a "dataset". The base node
/// and table or field nodes are left out.
pub fn graph_dependents(base_qri: &str, nodes: &[GraphNode]) -> Vec<Dependent> {
    let mut out = Vec::new();
    for n in nodes {
        if n.qri == base_qri {
            continue;
        }
        if is_app(n) {
            let Some(id) = app_id(n) else { continue };
            let name = n.label.clone().unwrap_or_else(|| id.clone());
            out.push(Dependent::new("app", &id, &name));
            continue;
        }
        let ty = n.node_type.as_deref().unwrap_or("").to_ascii_uppercase();
        if ty == "TABLE" || ty == "FIELD" {
            continue;
        }
        let file = n.qri.starts_with("qri:qdf:")
            || n.qri.starts_with("qri:file:")
            || n.subtype
                .as_deref()
                .is_some_and(|s| s.eq_ignore_ascii_case("FILE"));
        let name = n.label.clone().unwrap_or_else(|| n.qri.clone());
        out.push(Dependent::new(
            if file { "file" } else { "dataset" },
            &n.qri,
            &name,
        ));
    }
    out
}

/// An app item of `/api/v1/items`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppItem {
    /// `resourceId`: the app id (what lineage names after `qri:app:sense://`).
    pub app_id: String,
    pub name: String,
    pub space_id: Option<String>,
    pub owner_id: Option<String>,
}

/// The apps among items (lenient: `resourceId` or, failing that, `id`).
pub fn app_items(items: &[Value]) -> Vec<AppItem> {
    items
        .iter()
        .filter(|v| text(v, "/resourceType").is_none_or(|t| t == "app"))
        .filter_map(|v| {
            let app_id = text(v, "/resourceId").or_else(|| text(v, "/id"))?;
            Some(AppItem {
                name: text(v, "/name").unwrap_or_else(|| app_id.clone()),
                app_id,
                space_id: text(v, "/spaceId"),
                owner_id: text(v, "/ownerId"),
            })
        })
        .collect()
}

/// Answers by connection id, each kept for `ttl` with its original `at`.
#[derive(Debug)]
pub struct ImpactCache {
    ttl: Duration,
    entries: HashMap<String, (Instant, Impact)>,
}

impl ImpactCache {
    pub fn new(ttl: Duration) -> ImpactCache {
        ImpactCache {
            ttl,
            entries: HashMap::new(),
        }
    }

    /// The answer for `id` if it is younger than the TTL at `now`.
    pub fn get(&mut self, id: &str, now: Instant) -> Option<Impact> {
        let ttl = self.ttl;
        self.entries
            .retain(|_, (at, _)| now.saturating_duration_since(*at) < ttl);
        self.entries.get(id).map(|(_, i)| i.clone())
    }

    pub fn put(&mut self, id: &str, now: Instant, impact: Impact) {
        self.entries.insert(id.to_string(), (now, impact));
    }

    pub fn contains(&mut self, id: &str, now: Instant) -> bool {
        self.get(id, now).is_some()
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const BASE: &str = "qri:db:snowflake://abc";

    #[test]
    fn nodes_as_an_object_or_a_json_string_read_the_same() {
        let nodes = json!({
            BASE: {"label": "base", "metadata": {"type": "DATASET"}},
            "qri:app:sense://d941992a-11b3": {"label": "Sales", "metadata": {"type": "DA_APP", "subtype": "APPLICATION"}},
            "qri:qdf:user://g_T6#R2n": {"label": "output.qvd", "metadata": {"fields": 1, "tables": 1}},
            "qri:db:oracle://x#t1": {"label": "orders", "metadata": {"type": "DATASET"}},
            "qri:db:oracle://x#t1#f": {"label": "id", "metadata": {"type": "FIELD"}},
            "qri:other://app2": {"label": "Typed app", "metadata": {"type": "da_app"}}
        });
        let as_object = json!({"graph": {"nodes": nodes.clone(), "edges": null}});
        let as_string = json!({"graph": {"nodes": nodes.to_string(), "edges": []}});
        let a = graph_dependents(BASE, &parse_overview(&as_object).unwrap());
        let b = graph_dependents(BASE, &parse_overview(&as_string).unwrap());
        assert_eq!(a, b);
        let imp = Impact::found(a, 1);
        let by = |what: &str| -> Vec<(String, String)> {
            imp.dependents
                .iter()
                .filter(|d| d.what == what)
                .map(|d| (d.id.clone(), d.name.clone()))
                .collect()
        };
        assert_eq!(
            by("app"),
            [
                ("d941992a-11b3".to_string(), "Sales".to_string()),
                ("app2".to_string(), "Typed app".to_string())
            ]
        );
        assert_eq!(
            by("file"),
            [("qri:qdf:user://g_T6#R2n".into(), "output.qvd".into())]
        );
        assert_eq!(
            by("dataset"),
            [("qri:db:oracle://x#t1".into(), "orders".into())]
        );
    }

    #[test]
    fn empty_and_broken_graphs() {
        for empty in [
            json!({"graph": {"nodes": {}, "edges": null}}),
            json!({"graph": {"nodes": null}}),
            json!({"graph": {"nodes": "{}"}}),
            json!({"graph": {}}),
        ] {
            assert_eq!(parse_overview(&empty), Ok(Vec::new()), "{empty}");
        }
        assert!(parse_overview(&json!({})).is_err());
        assert!(parse_overview(&json!({"graph": {"nodes": "{not json"}})).is_err());
        assert!(parse_overview(&json!({"graph": {"nodes": [1]}})).is_err());
        assert!(parse_overview(&json!([])).is_err());
    }

    #[test]
    fn eta_follows_the_limiter() {
        // 20/min: a burst of 2, then one every 3 s.
        assert_eq!(impact_eta(0), Duration::ZERO);
        assert_eq!(impact_eta(2), Duration::ZERO);
        assert_eq!(impact_eta(3), Duration::from_secs(3));
        assert_eq!(impact_eta(22), Duration::from_secs(60));
        assert_eq!(eta_at(0, 1000), Duration::ZERO);
        assert_eq!(eta_at(600, 20), Duration::from_millis(1000));
    }

    #[test]
    fn cache_keeps_answers_for_the_ttl_only() {
        let mut c = ImpactCache::new(IMPACT_CACHE_TTL);
        let t0 = Instant::now();
        c.put("a", t0, Impact::none(42));
        assert_eq!(
            c.get("a", t0 + Duration::from_secs(299)).map(|i| i.at),
            Some(42)
        );
        assert!(c.get("b", t0).is_none());
        assert!(c.get("a", t0 + IMPACT_CACHE_TTL).is_none());
    }

    #[test]
    fn items_become_app_candidates() {
        let items = vec![
            json!({"id": "i1", "name": "A", "resourceType": "app", "resourceId": "r1", "spaceId": "s", "ownerId": "u"}),
            json!({"id": "i2", "name": "Q", "resourceType": "qvd", "resourceId": "r2"}),
            json!({"name": "no id"}),
        ];
        let apps = app_items(&items);
        assert_eq!(apps.len(), 1);
        assert_eq!(apps[0].app_id, "r1");
        assert_eq!(apps[0].owner_id.as_deref(), Some("u"));
        assert!(LineageFailure::of_status(403, "").lasting);
        assert!(!LineageFailure::of_status(503, "x").lasting);
    }
}
