//! Superset impact analysis: the charts and dashboards that break when a database or a
//! dataset is deleted, from the server's own `related_objects` answers
//! (`GET /api/v1/database/{pk}/related_objects/`, `GET /api/v1/dataset/{pk}/related_objects`).
//! A database's answer is derived by the server through its datasets. Deleting a dataset
//! succeeds on the server and leaves its charts without data (orphaned); a database with
//! datasets cannot be deleted at all. A failed answer is "unknown", never "none".

use super::superset::{database_path, dataset_path, SupersetClient};
use crate::impact::{Dependent, Impact, ImpactTarget};
use crate::model::Kind;
use serde_json::Value;

const CHART: &str = "chart";
const DASHBOARD: &str = "dashboard";

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn id_of(v: &Value) -> Option<String> {
    match v.get("id")? {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

fn text<'a>(v: &'a Value, keys: &[&str]) -> Option<&'a str> {
    keys.iter()
        .find_map(|k| v.get(*k).and_then(Value::as_str))
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// The dependents in a `related_objects` answer, and why it may be incomplete.
pub fn read_related(v: &Value) -> (Vec<Dependent>, Option<String>) {
    let mut deps = Vec::new();
    let mut gaps = Vec::new();
    for (key, what, names) in [
        ("charts", CHART, &["slice_name", "name"][..]),
        (
            "dashboards",
            DASHBOARD,
            &["title", "dashboard_title", "slug"][..],
        ),
    ] {
        let Some(group) = v.get(key) else {
            gaps.push(format!("the answer has no {key}"));
            continue;
        };
        let items = group
            .get("result")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for item in &items {
            if let Some(id) = id_of(item) {
                let name = text(item, names).unwrap_or(&id).to_string();
                deps.push(Dependent::new(what, &id, &name));
            }
        }
        if let Some(count) = group.get("count").and_then(Value::as_u64) {
            if count > items.len() as u64 {
                gaps.push(format!(
                    "the server counted {count} {key} but listed {}",
                    items.len()
                ));
            }
        }
    }
    (deps, (!gaps.is_empty()).then(|| gaps.join("; ")))
}

/// The answer for one target. Never fails: what could not be found out is `unknown`.
pub(super) async fn impact(c: &SupersetClient, target: ImpactTarget) -> Impact {
    let id = &target.target.id;
    let path = match target.target.kind {
        Kind::Connections => format!("{}/related_objects/", database_path(id)),
        Kind::Datasources => format!("{}/related_objects", dataset_path(id)),
        other => return Impact::unknown(format!("Superset has no {other}"), now()),
    };
    match c.get_json(&path).await {
        Ok(v) => {
            let (deps, gaps) = read_related(&v);
            let mut i = Impact::found(deps, now());
            i.unknown = gaps;
            i
        }
        Err(e) => Impact::unknown(format!("related objects could not be read: {e}"), now()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn related_objects_become_charts_and_dashboards() {
        let v = json!({"charts":{"count":1,"result":[{"id":1,"slice_name":"Sales by region","viz_type":"table"}]},
            "dashboards":{"count":1,"result":[{"id":1,"json_metadata":null,"slug":"sales-board","title":"Sales board"}]},
            "sqllab_tab_states":{"count":0,"result":[]}});
        let (deps, gaps) = read_related(&v);
        assert_eq!(gaps, None);
        let labels: Vec<String> = deps.iter().map(|d| d.label("dashboard")).collect();
        assert_eq!(
            labels,
            ["chart 'Sales by region'", "dashboard 'Sales board'"]
        );
        let i = Impact::found(deps, 0);
        assert_eq!(i.summary("dashboard"), "breaks 1 chart, 1 dashboard");
        let (deps, gaps) = read_related(
            &json!({"charts":{"count":3,"result":[]},"dashboards":{"count":0,"result":[]}}),
        );
        assert!(deps.is_empty());
        assert!(gaps.unwrap().contains("counted 3 charts"));
        let (_, gaps) = read_related(&json!({}));
        assert!(gaps.is_some(), "an answer without lists is not 'none'");
    }
}
