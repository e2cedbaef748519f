//! The lineage side of the simulated Qlik Cloud tenant: what the impact graph of a base QRI
//! holds (configurable per connection), how its routes are addressed (the QRI percent-encoded
//! in one path segment, or raw with its `:` and `//`), and the graph bodies of `overview`,
//! `source`, `actions/expand` and `actions/search`; plus the app items (`/api/v1/items`)
//! those graphs point at. Pure functions over `serde_json::Value`s: `qlik.rs` serves them,
//! with authentication, the Tenant Admin check and the separate lineage rate window.

use serde_json::{json, Map, Value};
use std::collections::HashMap;

/// Prefix of every impact route; the rest is `<qri>/<action>`.
pub const IMPACT_PREFIX: &str = "/api/v1/lineage-graphs/impact/";
/// Default `down` of the impact routes (levels below the base node).
pub const DEFAULT_DOWN: i64 = 5;

/// One node downstream of a base QRI in its impact graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineageNode {
    pub qri: String,
    pub label: String,
    /// `DA_APP`, `DATASET`.
    pub node_type: String,
    /// `APPLICATION`, `FILE`, ...
    pub subtype: Option<String>,
    /// 1 = uses the base directly; 2 = uses a level-1 node; ...
    pub level: u32,
    /// The node it reads from (`None`: the base).
    pub from: Option<String>,
}

impl LineageNode {
    /// An analytics app (`qri:app:sense://<id>`) reading the base directly.
    pub fn app(id: &str, label: &str) -> LineageNode {
        LineageNode {
            qri: format!("qri:app:sense://{id}"),
            label: label.to_string(),
            node_type: "DA_APP".into(),
            subtype: Some("APPLICATION".into()),
            level: 1,
            from: None,
        }
    }

    /// A dataset (a table of a database connection, a QVD file) reading the base directly.
    pub fn dataset(qri: &str, label: &str) -> LineageNode {
        LineageNode {
            qri: qri.to_string(),
            label: label.to_string(),
            node_type: "DATASET".into(),
            subtype: None,
            level: 1,
            from: None,
        }
    }

    pub fn subtype(mut self, subtype: &str) -> LineageNode {
        self.subtype = Some(subtype.to_string());
        self
    }

    /// The node reads from `from` (a node of the same graph) at `level`.
    pub fn below(mut self, from: &str, level: u32) -> LineageNode {
        self.from = Some(from.to_string());
        self.level = level.max(1);
        self
    }
}

/// What the impact routes answer for one base QRI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineageAnswer {
    /// The graph: every node downstream (may be empty: nothing uses it).
    Graph(Vec<LineageNode>),
    /// 403 "User does not have access to the node", even for a Tenant Admin.
    Forbidden,
    /// 404 "The record is not found": no lineage is known for it.
    Missing,
}

/// The configured answers by base QRI, and the wire quirks to reproduce.
#[derive(Debug, Default)]
pub struct Lineage {
    pub answers: HashMap<String, LineageAnswer>,
    /// Send `graph.nodes` as a JSON-encoded string (the reference page's form) and `edges`
    /// as `null`.
    pub nodes_as_string: bool,
}

/// Which impact route a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImpactRoute {
    Overview,
    Source,
    Expand,
    Search,
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

/// Percent-decode a path segment (`+` stays a plus: this is a path, not a form).
pub fn pct_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The base QRI (decoded) and the route of a path under `IMPACT_PREFIX`, as received: the
/// QRI percent-encoded as one segment (`qri%3Adb%3A...`) or raw (`qri:db:snowflake://x`).
pub fn parse_impact_path(path: &str) -> Option<(String, ImpactRoute)> {
    let rest = path.strip_prefix(IMPACT_PREFIX)?;
    let (qri, route) = [
        ("/overview", ImpactRoute::Overview),
        ("/source", ImpactRoute::Source),
        ("/actions/expand", ImpactRoute::Expand),
        ("/actions/search", ImpactRoute::Search),
    ]
    .into_iter()
    .find_map(|(suffix, route)| {
        rest.strip_suffix(suffix)
            .or_else(|| rest.strip_suffix(&format!("{suffix}/")))
            .map(|q| (q, route))
    })?;
    let qri = pct_decode(qri);
    (!qri.is_empty()).then_some((qri, route))
}

/// `down`: `None` → the default 5; `-1` unlimited; a positive number of levels.
pub fn parse_down(raw: Option<&str>) -> Result<i64, String> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(DEFAULT_DOWN),
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n == -1 || n >= 1 => Ok(n),
            _ => Err(format!(
                "Query parameter 'down' must be -1 or a positive integer, got '{v}'"
            )),
        },
    }
}

fn within(node: &LineageNode, down: i64) -> bool {
    down < 0 || i64::from(node.level) <= down
}

fn node_json(n: &LineageNode, level_type: &str) -> Value {
    let mut meta = Map::new();
    meta.insert("id".into(), Value::from(n.qri.clone()));
    meta.insert("type".into(), Value::from(n.node_type.clone()));
    if let Some(s) = &n.subtype {
        meta.insert("subtype".into(), Value::from(s.clone()));
    }
    if level_type == "RESOURCE" {
        meta.insert("tables".into(), Value::from(1));
        meta.insert("fields".into(), Value::from(4 + n.label.len() % 9));
    }
    json!({ "label": n.label, "metadata": meta })
}

fn graph(
    base: &str,
    id: String,
    level_type: &str,
    nodes: &[&LineageNode],
    nodes_as_string: bool,
) -> Value {
    let mut map = Map::new();
    for n in nodes {
        map.insert(n.qri.clone(), node_json(n, level_type));
    }
    let edges: Vec<Value> = nodes
        .iter()
        .map(|n| {
            let source = n.from.clone().unwrap_or_else(|| base.to_string());
            let relation = if n.node_type == "DA_APP" {
                "LOAD"
            } else {
                "STORE"
            };
            json!({ "source": source, "target": n.qri, "relation": relation })
        })
        .collect();
    let nodes_value = if nodes_as_string {
        Value::from(Value::Object(map.clone()).to_string())
    } else {
        Value::Object(map)
    };
    json!({
        "directed": true,
        "type": level_type,
        "label": "",
        "nodes": nodes_value,
        "edges": if nodes_as_string { Value::Null } else { Value::Array(edges) },
        "metadata": { "id": id, "total": nodes.len() },
    })
}

/// The `overview` body: every resource-level node within `down` levels.
pub fn overview(base: &str, nodes: &[LineageNode], down: i64, nodes_as_string: bool) -> Value {
    let kept: Vec<&LineageNode> = nodes.iter().filter(|n| within(n, down)).collect();
    json!({ "graph": graph(base, format!("OVERVIEW:{base}"), "RESOURCE", &kept, nodes_as_string) })
}

/// The `source` body: the base node on every level (flat `graphs`, the guide's form).
pub fn source(base: &str, label: &str) -> Value {
    let node = LineageNode::dataset(base, label);
    let graphs: Vec<Value> = ["RESOURCE", "TABLE", "FIELD"]
        .iter()
        .map(|t| graph(base, format!("SOURCE:{base}"), t, &[&node], false))
        .collect();
    json!({ "graphs": graphs })
}

/// The `actions/expand` body: the table level inside `node` (one table per node here).
pub fn expand(
    base: &str,
    nodes: &[LineageNode],
    node: Option<&str>,
    level: Option<&str>,
) -> Result<Value, String> {
    let node = node
        .filter(|n| !n.is_empty())
        .ok_or("Query parameter 'node' is required")?;
    let level = level.unwrap_or("table");
    if !matches!(level, "table" | "field") {
        return Err(format!(
            "Query parameter 'level' must be 'table' or 'field', got '{level}'"
        ));
    }
    let inside = nodes
        .iter()
        .find(|n| n.qri == node)
        .ok_or_else(|| format!("Node '{node}' is not in the graph"))?;
    let child = LineageNode {
        qri: format!("{}#{level}0", inside.qri),
        label: format!("{} ({level})", inside.label),
        node_type: level.to_ascii_uppercase(),
        subtype: None,
        level: inside.level,
        from: None,
    };
    Ok(
        json!({ "graph": graph(base, format!("EXPAND:{node}"), &level.to_ascii_uppercase(), &[&child], false) }),
    )
}

/// The `actions/search` body: nodes whose label contains one of the `label co "x"` terms
/// (joined by `or`, case-insensitive), on the resource level, nested `graphs` (the
/// `@qlik/api` form).
pub fn search(
    base: &str,
    nodes: &[LineageNode],
    filter: Option<&str>,
    down: i64,
) -> Result<Value, String> {
    let filter = filter
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .ok_or("Query parameter 'filter' is required")?;
    let mut terms = Vec::new();
    for part in filter.split(" or ") {
        let p = part.trim();
        let term = p
            .strip_prefix("label co ")
            .map(|t| t.trim().trim_matches('"').to_lowercase())
            .ok_or_else(|| format!("Unsupported filter '{p}': only label co \"x\" is allowed"))?;
        terms.push(term);
    }
    let kept: Vec<&LineageNode> = nodes
        .iter()
        .filter(|n| within(n, down))
        .filter(|n| {
            let l = n.label.to_lowercase();
            terms.iter().any(|t| l.contains(t.as_str()))
        })
        .collect();
    Ok(
        json!({ "graphs": { "graphs": [graph(base, format!("SEARCH:{base}"), "RESOURCE", &kept, false)] } }),
    )
}

// ---------------------------------------------------------------------------------------------
// Items (apps)
// ---------------------------------------------------------------------------------------------

/// The filters of `GET /api/v1/items` the simulator knows.
#[derive(Debug, Default)]
pub struct ItemsQuery {
    pub resource_type: Option<String>,
    pub space_id: Option<String>,
    pub owner_id: Option<String>,
    /// `personal`: items outside any space.
    pub space_type: Option<String>,
    pub name: Option<String>,
}

impl ItemsQuery {
    /// Whether an app item passes the filters. Only apps are stored: another
    /// `resourceType` matches nothing; `app[qvd,...]` subtype syntax counts as `app`.
    pub fn matches(&self, item: &Value) -> bool {
        let field = |k: &str| item.get(k).and_then(Value::as_str).unwrap_or("");
        if let Some(t) = &self.resource_type {
            let wants_app = t
                .split(',')
                .map(|p| p.split('[').next().unwrap_or("").trim())
                .any(|p| p == "app");
            if !wants_app {
                return false;
            }
        }
        if let Some(s) = &self.space_id {
            if field("spaceId") != s {
                return false;
            }
        }
        if self.space_type.as_deref() == Some("personal") && !field("spaceId").is_empty() {
            return false;
        }
        if let Some(o) = &self.owner_id {
            if field("ownerId") != o {
                return false;
            }
        }
        if let Some(n) = &self.name {
            if !field("name").to_lowercase().contains(&n.to_lowercase()) {
                return false;
            }
        }
        true
    }
}

/// An item as listed: the stored one plus `links` and `meta`.
pub fn render_item(base_url: &str, item: &Value, no_actions: bool) -> Value {
    let mut m = item.as_object().cloned().unwrap_or_default();
    let id = m
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let rid = m
        .get("resourceId")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let name = m.get("name").cloned().unwrap_or(Value::Null);
    m.entry("resourceAttributes")
        .or_insert_with(|| json!({ "id": rid, "name": name, "usage": "ANALYTICS" }));
    m.insert(
        "links".into(),
        json!({
            "self": { "href": format!("{base_url}/api/v1/items/{id}") },
            "open": { "href": format!("{base_url}/sense/app/{rid}") },
        }),
    );
    let actions: Vec<&str> = if no_actions {
        Vec::new()
    } else {
        vec!["read", "update", "delete", "reload"]
    };
    m.insert(
        "meta".into(),
        json!({ "actions": actions, "tags": [], "collections": [], "isFavorited": false }),
    );
    Value::Object(m)
}

/// The opaque `next`/`prev` cursor of the items list: an offset.
pub fn encode_items_cursor(offset: usize) -> String {
    format!("{:x}", (offset as u64) ^ 0x5eed_1735)
}

pub fn decode_items_cursor(c: &str) -> Option<usize> {
    u64::from_str_radix(c, 16)
        .ok()
        .map(|n| n ^ 0x5eed_1735)
        .and_then(|n| usize::try_from(n).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn impact_paths_take_encoded_and_raw_qris() {
        let enc = "/api/v1/lineage-graphs/impact/qri%3Adb%3Asnowflake%3A%2F%2Fab%23t/overview";
        assert_eq!(
            parse_impact_path(enc),
            Some(("qri:db:snowflake://ab#t".into(), ImpactRoute::Overview))
        );
        let raw = "/api/v1/lineage-graphs/impact/qri:db:snowflake://ab/actions/expand";
        assert_eq!(
            parse_impact_path(raw),
            Some(("qri:db:snowflake://ab".into(), ImpactRoute::Expand))
        );
        assert_eq!(
            parse_impact_path("/api/v1/lineage-graphs/impact//overview"),
            None
        );
        assert_eq!(
            parse_impact_path("/api/v1/lineage-graphs/impact/x/other"),
            None
        );
        assert_eq!(pct_decode("a%2"), "a%2");
        assert_eq!(pct_decode("a+b%41"), "a+bA");
    }

    #[test]
    fn overview_keeps_the_levels_asked_for() {
        let nodes = vec![
            LineageNode::app("a1", "One"),
            LineageNode::dataset("qri:qdf:x#f", "f.qvd").subtype("FILE"),
            LineageNode::app("a2", "Two").below("qri:qdf:x#f", 2),
        ];
        let all = overview("B", &nodes, -1, false);
        assert_eq!(all["graph"]["nodes"].as_object().unwrap().len(), 3);
        assert_eq!(all["graph"]["edges"][2]["source"], "qri:qdf:x#f");
        let direct = overview("B", &nodes, 1, false);
        assert_eq!(direct["graph"]["nodes"].as_object().unwrap().len(), 2);
        let s = overview("B", &nodes, -1, true);
        assert!(s["graph"]["nodes"].is_string() && s["graph"]["edges"].is_null());
        assert_eq!(parse_down(None), Ok(5));
        assert_eq!(parse_down(Some("-1")), Ok(-1));
        assert!(parse_down(Some("0")).is_err() && parse_down(Some("x")).is_err());
        let found = search("B", &nodes, Some(r#"label co "tw" or label co "zz""#), -1).unwrap();
        assert_eq!(
            found["graphs"]["graphs"][0]["nodes"]
                .as_object()
                .unwrap()
                .len(),
            1
        );
        assert!(expand("B", &nodes, None, None).is_err());
    }

    #[test]
    fn items_cursor_round_trips() {
        for n in [0, 1, 100, 12345] {
            assert_eq!(decode_items_cursor(&encode_items_cursor(n)), Some(n));
        }
        assert_eq!(decode_items_cursor("zz"), None);
    }
}
