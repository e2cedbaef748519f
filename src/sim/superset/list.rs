//! Flask-AppBuilder's list and item answers: the rison `q=` argument and its schema checks,
//! filters, ordering, 0-based pages (default 20, at most 100), `columns` selection with
//! dotted relation names, and the `count`/`ids`/`result`/`list_columns`/`order_columns`/
//! `label_columns` envelope.

use std::cmp::Ordering;
use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::rison::{self, py_repr};
use super::ApiError;

pub const DEFAULT_PAGE_SIZE: i64 = 20;
pub const MAX_PAGE_SIZE: i64 = 100;

/// What a resource lists and how.
pub struct Spec {
    /// Cache key prefix (the resource).
    pub kind: &'static str,
    pub title: &'static str,
    /// Columns of a default row and the ones `columns` may select (dotted: a relation's).
    pub list_columns: &'static [&'static str],
    pub order_columns: &'static [&'static str],
    pub search_columns: &'static [&'static str],
    /// Order when `order_column` is not given: (column, descending).
    pub default_order: (&'static str, bool),
}

pub struct Filter {
    pub col: String,
    pub opr: String,
    pub value: Value,
}

pub struct ListArgs {
    pub columns: Option<Vec<String>>,
    pub order: Option<(String, bool)>,
    pub filters: Vec<Filter>,
    pub page: i64,
    pub page_size: i64,
    /// The parsed `q` (for endpoint-specific keys such as `schema_name`).
    pub raw: Map<String, Value>,
}

fn schema_error(v: &Value, ty: &str) -> ApiError {
    ApiError::bad_request(format!(
        "Not a valid rison schema {} is not of type '{ty}'",
        py_repr(v)
    ))
}

/// The decoded `q` argument of a raw query string, parsed as rison; `Ok(None)` without one.
pub fn rison_arg(query: Option<&str>) -> Result<Option<Value>, ApiError> {
    let Some(q) = crate::sim::parse_form(query.unwrap_or(""))
        .into_iter()
        .find(|(k, _)| k == "q")
        .map(|(_, v)| v)
    else {
        return Ok(None);
    };
    rison::parse(&q)
        .or_else(|| serde_json::from_str(&q).ok())
        .map(Some)
        .ok_or_else(|| ApiError::bad_request("Not a valid rison/json argument"))
}

/// Parse and check `q` of a list (or item) request.
pub fn list_args(query: Option<&str>) -> Result<ListArgs, ApiError> {
    let q = rison_arg(query)?.unwrap_or_else(|| json!({}));
    let Value::Object(m) = q else {
        return Err(schema_error(&q, "object"));
    };
    let mut args = ListArgs {
        columns: None,
        order: None,
        filters: Vec::new(),
        page: 0,
        page_size: 0,
        raw: m.clone(),
    };
    let int = |key: &str| -> Result<Option<i64>, ApiError> {
        match m.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_i64()
                .map(Some)
                .ok_or_else(|| schema_error(v, "integer")),
        }
    };
    args.page = int("page")?.unwrap_or(0);
    args.page_size = int("page_size")?.unwrap_or(0);
    if let Some(v) = m.get("columns") {
        let Value::Array(a) = v else {
            return Err(schema_error(v, "array"));
        };
        let mut cols = Vec::new();
        for c in a {
            cols.push(
                c.as_str()
                    .ok_or_else(|| schema_error(c, "string"))?
                    .to_string(),
            );
        }
        args.columns = Some(cols);
    }
    let desc = match m.get("order_direction") {
        None => false,
        Some(Value::String(s)) if s == "asc" => false,
        Some(Value::String(s)) if s == "desc" => true,
        Some(v) => {
            return Err(ApiError::bad_request(format!(
                "Not a valid rison schema {} is not one of ['asc', 'desc']",
                py_repr(v)
            )))
        }
    };
    match m.get("order_column") {
        None => {}
        Some(Value::String(s)) => args.order = Some((s.clone(), desc)),
        Some(v) => return Err(schema_error(v, "string")),
    }
    if let Some(v) = m.get("filters") {
        let Value::Array(a) = v else {
            return Err(schema_error(v, "array"));
        };
        for f in a {
            let Value::Object(fm) = f else {
                return Err(schema_error(f, "object"));
            };
            let field = |k: &str| -> Result<String, ApiError> {
                match fm.get(k) {
                    Some(Value::String(s)) => Ok(s.clone()),
                    Some(v) => Err(schema_error(v, "string")),
                    None => Err(ApiError::bad_request(format!(
                        "Not a valid rison schema '{k}' is a required property"
                    ))),
                }
            };
            let col = field("col")?;
            let opr = field("opr")?;
            args.filters.push(Filter {
                col,
                opr,
                value: fm.get("value").cloned().unwrap_or(Value::Null),
            });
        }
    }
    Ok(args)
}

/// FAB's `_sanitize_page_args`: size 0 (or none) is the default 20, beyond 1..=100 is 100;
/// a negative page is taken as the first.
pub fn sanitize_page(page: i64, page_size: i64) -> (usize, usize) {
    let size = if page_size == 0 {
        DEFAULT_PAGE_SIZE
    } else if !(1..=MAX_PAGE_SIZE).contains(&page_size) {
        MAX_PAGE_SIZE
    } else {
        page_size
    };
    (
        usize::try_from(page.max(0)).unwrap_or(0),
        usize::try_from(size).unwrap_or(20),
    )
}

/// `database_name` → `Database Name`, `owners.id` → `Owners Id`.
pub fn label(col: &str) -> String {
    col.split(['.', '_'])
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_uppercase().collect::<String>() + &c.as_str().to_lowercase(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Keep the columns of `full` named in `cols` (dotted names pick a relation's field, in
/// each element of a list relation).
pub fn project(full: &Value, cols: &[&str]) -> Value {
    let mut out = Map::new();
    for col in cols {
        match col.split_once('.') {
            None => {
                out.insert(
                    col.to_string(),
                    full.get(*col).cloned().unwrap_or(Value::Null),
                );
            }
            Some((head, tail)) => match full.get(head) {
                Some(Value::Array(items)) => {
                    let slot = out
                        .entry(head.to_string())
                        .or_insert_with(|| Value::Array(vec![json!({}); items.len()]));
                    if let Value::Array(outs) = slot {
                        for (o, item) in outs.iter_mut().zip(items) {
                            if let (Value::Object(om), Value::Object(_)) = (o, item) {
                                let picked = project(item, &[tail]);
                                if let Value::Object(p) = picked {
                                    om.extend(p);
                                }
                            }
                        }
                    }
                }
                Some(v @ Value::Object(_)) => {
                    let slot = out.entry(head.to_string()).or_insert_with(|| json!({}));
                    if let (Value::Object(om), Value::Object(p)) = (slot, project(v, &[tail])) {
                        om.extend(p);
                    }
                }
                _ => {
                    out.entry(head.to_string()).or_insert(Value::Null);
                }
            },
        }
    }
    Value::Object(out)
}

fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        v => v.to_string(),
    }
}

fn loosely_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::String(s)) | (Value::String(s), Value::Number(x)) => {
            x.to_string() == *s
        }
        (Value::Bool(x), Value::String(s)) | (Value::String(s), Value::Bool(x)) => {
            s.eq_ignore_ascii_case(&x.to_string())
        }
        _ => a == b,
    }
}

fn matches(opr: &str, have: &Value, want: &Value) -> bool {
    let lower = |v: &Value| as_text(v).to_lowercase();
    match opr {
        "ct" => lower(have).contains(&lower(want)),
        "nct" => !lower(have).contains(&lower(want)),
        "sw" => lower(have).starts_with(&lower(want)),
        "ew" => lower(have).ends_with(&lower(want)),
        "eq" | "rel_o_m" => loosely_equal(have, want),
        "neq" | "nrel_o_m" => !loosely_equal(have, want),
        "gt" => compare(have, want) == Ordering::Greater,
        "lt" => compare(have, want) == Ordering::Less,
        "rel_m_m" => match have {
            Value::Array(a) => a.iter().any(|x| loosely_equal(x, want)),
            v => loosely_equal(v, want),
        },
        _ => false,
    }
}

const OPERATORS: [&str; 11] = [
    "ct", "nct", "sw", "ew", "eq", "neq", "gt", "lt", "rel_o_m", "nrel_o_m", "rel_m_m",
];

fn compare(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Less,
        (_, Value::Null) => Ordering::Greater,
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        _ => as_text(a).cmp(&as_text(b)),
    }
}

/// Answer a list request. `ids` are the objects the caller may see, `attr` reads one
/// column (dotted names allowed) of an object for filters and ordering, `row` renders an
/// object's full list row (every `list_columns` entry), `cache` keeps the ordered ids of a
/// query for the simulator's current version and `scope` (what decides the visible ids).
pub fn answer(
    spec: &Spec,
    scope: &str,
    args: &ListArgs,
    ids: impl Iterator<Item = u32>,
    attr: impl Fn(u32, &str) -> Value,
    row: impl Fn(u32) -> Value,
    cache: &OrderCache,
) -> Result<Value, ApiError> {
    let (col, desc) = match &args.order {
        Some((c, d)) => {
            if !spec.order_columns.contains(&c.as_str()) {
                return Err(ApiError::bad_request(format!(
                    "Invalid order by column: {c}"
                )));
            }
            (c.as_str(), *d)
        }
        None => spec.default_order,
    };
    for f in &args.filters {
        if !spec.search_columns.contains(&f.col.as_str()) {
            return Err(ApiError::bad_request(format!(
                "Filter column: {} not allowed to filter",
                f.col
            )));
        }
        if !OPERATORS.contains(&f.opr.as_str()) {
            return Err(ApiError::bad_request(format!(
                "Filter operation: {} not allowed on column: {}",
                f.opr, f.col
            )));
        }
    }
    let key = format!(
        "{}|{scope}|{col}|{desc}|{}",
        spec.kind,
        args.filters
            .iter()
            .map(|f| format!("{}:{}:{}", f.col, f.opr, f.value))
            .collect::<Vec<_>>()
            .join(",")
    );
    let ordered = cache.get_or(&key, || {
        let mut keyed: Vec<(Value, u32)> = ids
            .filter(|&id| {
                args.filters
                    .iter()
                    .all(|f| matches(&f.opr, &attr(id, &f.col), &f.value))
            })
            .map(|id| {
                (
                    if col == "id" {
                        Value::Null
                    } else {
                        attr(id, col)
                    },
                    id,
                )
            })
            .collect();
        keyed.sort_by(|a, b| {
            let o = compare(&a.0, &b.0).then(a.1.cmp(&b.1));
            if desc {
                o.reverse()
            } else {
                o
            }
        });
        keyed.into_iter().map(|(_, id)| id).collect()
    });
    let (page, size) = sanitize_page(args.page, args.page_size);
    let page_ids: Vec<u32> = ordered
        .iter()
        .skip(page.saturating_mul(size))
        .take(size)
        .copied()
        .collect();
    let selected: Vec<&str> = match &args.columns {
        Some(cols) => {
            let known: Vec<&str> = cols
                .iter()
                .map(String::as_str)
                .filter(|c| spec.list_columns.contains(c))
                .collect();
            if known.is_empty() {
                spec.list_columns.to_vec()
            } else {
                known
            }
        }
        None => spec.list_columns.to_vec(),
    };
    let result: Vec<Value> = page_ids
        .iter()
        .map(|&id| project(&row(id), &selected))
        .collect();
    let labels: Map<String, Value> = selected
        .iter()
        .map(|c| (c.to_string(), Value::from(label(c))))
        .collect();
    let order_columns: Vec<&str> = spec
        .order_columns
        .iter()
        .copied()
        .filter(|c| args.columns.is_none() || selected.contains(c))
        .collect();
    Ok(json!({
        "count": ordered.len(),
        "description_columns": {},
        "ids": page_ids,
        "label_columns": labels,
        "list_columns": selected,
        "list_title": spec.title,
        "order_columns": order_columns,
        "result": result,
    }))
}

/// The version the cached orders belong to, and (query key, ordered ids) pairs.
type Cached = (u64, Vec<(String, Arc<Vec<u32>>)>);

/// Ordered ids of recent list queries, valid for one version of the simulator's data.
#[derive(Default)]
pub struct OrderCache {
    inner: std::sync::Mutex<Cached>,
    version: std::sync::atomic::AtomicU64,
}

impl OrderCache {
    /// Forget every cached order (the data changed).
    pub fn invalidate(&self) {
        self.version
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    fn get_or(&self, key: &str, make: impl FnOnce() -> Vec<u32>) -> Arc<Vec<u32>> {
        let version = self.version.load(std::sync::atomic::Ordering::Relaxed);
        let mut g = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if g.0 != version {
            g.0 = version;
            g.1.clear();
        }
        if let Some((_, ids)) = g.1.iter().find(|(k, _)| k == key) {
            return ids.clone();
        }
        let ids = Arc::new(make());
        if g.1.len() >= 16 {
            g.1.remove(0);
        }
        g.1.push((key.to_string(), ids.clone()));
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_sanitised_like_fab() {
        assert_eq!(sanitize_page(0, 0), (0, 20));
        assert_eq!(sanitize_page(2, 25), (2, 25));
        assert_eq!(sanitize_page(0, 500), (0, 100));
        assert_eq!(sanitize_page(-1, -1), (0, 100));
    }

    #[test]
    fn projection_follows_dotted_names() {
        let full = json!({"id": 1, "owners": [{"id": 1, "first_name": "A"}, {"id": 2, "first_name": "B"}],
                          "database": {"id": 3, "database_name": "x"}, "x": 5});
        assert_eq!(
            project(&full, &["id", "owners.id", "database.database_name"]),
            json!({"id": 1, "owners": [{"id": 1}, {"id": 2}], "database": {"database_name": "x"}})
        );
        assert_eq!(label("owners.id"), "Owners Id");
        assert_eq!(label("database_name"), "Database Name");
    }

    #[test]
    fn bad_arguments_are_400() {
        assert!(list_args(Some("q=(page:x)")).is_err());
        assert!(list_args(Some("q=(page:")).is_err());
        assert!(list_args(Some("q=(pagesize:1)")).is_ok());
        let a = list_args(Some(
            "q=(filters:!((col:database_name,opr:ct,value:pg)),page:1)",
        ))
        .unwrap();
        assert_eq!(a.page, 1);
        assert_eq!(a.filters[0].col, "database_name");
    }
}
