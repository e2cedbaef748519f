//! Databrain impact analysis: what breaks when a datasource or a datamart is deleted.
//!
//! The edges the API offers: a datamart depends on the datasource its list item names in
//! `companyIntegration.name` (exact match), and embeds (dashboards, metrics) are built on a
//! datamart. The embed list (`GET /api/v2/data-app/embeds`, 10 per page) documents no
//! datamart field: the datamart is set at create/update as `accessSettings.datamartName` and
//! not shown again. An embed whose item does name its datamart is a certain dependent (or
//! unrelated); one that does not is a *possible* user: it is in the data app and may use the
//! datamart. A datasource without datamarts breaks nothing (embeds are built on datamarts).
//!
//! Every failure is `Impact::unknown` with the reason, never "none"; what was found before the
//! failure is kept.

use super::databrain::{AppList, DatabrainClient, Listed};
use super::ApiError;
use crate::impact::{Dependent, Impact, ImpactTarget};
use crate::model::Kind;
use serde_json::Value;
use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const DATAMART: &str = "datamart";
const EMBED: &str = "embed";
/// How long a complete list read for impact is reused: a plan asks about many objects in a
/// row, and each answer would otherwise page through the same lists again.
pub const CACHE_TTL: Duration = Duration::from_secs(30);

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn text<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
}

/// The id of an embed list item: `embedId`, or the one in `embedMetadata`.
pub fn embed_id(v: &Value) -> Option<&str> {
    text(v, "/embedId").or_else(|| text(v, "/embedMetadata/embedId"))
}

/// One embed of the data app, as far as its list item tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Embed {
    pub id: String,
    /// The embed's name, else the dashboard's or metric's, else the id.
    pub name: String,
    /// `embedMetadata.dataAppName`, when sent.
    pub data_app: Option<String>,
    /// The datamart it is built on, when the item says so (undocumented in the list: taken
    /// from `accessSettings.datamartName` or a `datamartName` next to it).
    pub datamart: Option<String>,
}

/// An embed list item, tolerant of the sparse page versions (no `name`, no `embedMetadata`);
/// `None` without an id.
pub fn parse_embed(v: &Value) -> Option<Embed> {
    let id = embed_id(v)?;
    let name = text(v, "/name")
        .or_else(|| text(v, "/embedMetadata/name"))
        .or_else(|| text(v, "/externalDashboard/name"))
        .or_else(|| text(v, "/externalMetric/name"))
        .unwrap_or(id);
    let data_app = text(v, "/embedMetadata/dataAppName").or_else(|| text(v, "/dataAppName"));
    // Datamart names match exactly: not trimmed.
    let datamart = [
        "/accessSettings/datamartName",
        "/embedMetadata/datamartName",
    ]
    .iter()
    .find_map(|p| text(v, p))
    .or_else(|| text(v, "/datamartName"));
    Some(Embed {
        id: id.to_string(),
        name: name.to_string(),
        data_app: data_app.map(str::to_string),
        datamart: datamart.map(str::to_string),
    })
}

/// The last complete datamart and embed lists, with when they were read.
#[derive(Debug, Default)]
pub struct Cache {
    lists: Mutex<[Option<Cached>; 2]>,
}

#[derive(Debug, Clone)]
struct Cached {
    read: Instant,
    at: i64,
    listed: Arc<Listed>,
}

impl Cache {
    fn get(&self, list: AppList) -> Option<(Arc<Listed>, i64)> {
        let guard = self
            .lists
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        guard[list as usize]
            .as_ref()
            .filter(|c| c.read.elapsed() < CACHE_TTL)
            .map(|c| (c.listed.clone(), c.at))
    }

    fn put(&self, list: AppList, listed: Arc<Listed>, at: i64) {
        let mut guard = self
            .lists
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        guard[list as usize] = Some(Cached {
            read: Instant::now(),
            at,
            listed,
        });
    }

    /// Forget both lists (the next impact reads them afresh).
    pub fn clear(&self) {
        let mut guard = self
            .lists
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *guard = [None, None];
    }
}

/// A data-app list for impact: from the cache while fresh, else read (and cached when
/// complete). Returns the list and when it was read.
async fn listed(c: &DatabrainClient, list: AppList) -> Result<(Arc<Listed>, i64), ApiError> {
    if let Some(hit) = c.impact_cache.get(list) {
        return Ok(hit);
    }
    let listed = Arc::new(c.list_app(list).await?);
    let at = now();
    if gaps(&listed, list).is_none() {
        c.impact_cache.put(list, listed.clone(), at);
    }
    Ok((listed, at))
}

/// Why a list read without error may still be incomplete.
fn gaps(l: &Listed, list: AppList) -> Option<String> {
    let mut parts = l.warnings.clone();
    if l.nameless > 0 {
        let (what, key) = match list {
            AppList::Datamarts => ("datamart", "a name"),
            AppList::Embeds => ("embed", "an id"),
        };
        parts.push(format!(
            "{} {what}{} without {key} could not be identified",
            l.nameless,
            if l.nameless == 1 { "" } else { "s" }
        ));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

fn add_reason(i: &mut Impact, why: String) {
    i.unknown = Some(match i.unknown.take() {
        Some(mine) => format!("{mine}; {why}"),
        None => why,
    });
}

/// The one data app the embeds belong to, when they name exactly one.
fn single_data_app(embeds: &[Embed]) -> Option<String> {
    let apps: BTreeSet<&str> = embeds
        .iter()
        .filter_map(|e| e.data_app.as_deref())
        .collect();
    match apps.len() {
        1 => apps.into_iter().next().map(str::to_string),
        _ => None,
    }
}

/// Embeds on `marts` (certain) and embeds that name no datamart (possible). `via`: say which
/// datamart a certain embed uses (the target is a datasource, not the datamart itself).
fn embed_users(
    embeds: &[Embed],
    marts: &HashSet<&str>,
    via: bool,
) -> (Vec<Dependent>, Vec<Dependent>) {
    let mut certain = Vec::new();
    let mut possible = Vec::new();
    for e in embeds {
        let d = Dependent::new(EMBED, &e.id, &e.name).container(e.data_app.clone());
        match e.datamart.as_deref() {
            Some(m) if marts.contains(m) => {
                certain.push(d.via(via.then(|| format!("{DATAMART} '{m}'"))));
            }
            Some(_) => {}
            None => possible.push(d),
        }
    }
    (certain, possible)
}

/// The answer for one target. Never fails: what could not be found out is in `unknown`.
pub(super) async fn impact(c: &DatabrainClient, target: ImpactTarget) -> Impact {
    match target.target.kind {
        Kind::Datasources => datasource_impact(c, &target).await,
        Kind::Datamarts => datamart_impact(c, &target.target.id).await,
        other => Impact::unknown(format!("Databrain has no {other}"), now()),
    }
}

/// A datasource: its datamarts, and the embeds built on them.
async fn datasource_impact(c: &DatabrainClient, t: &ImpactTarget) -> Impact {
    let name = t.target.id.as_str();
    let (dm, dm_at) = match listed(c, AppList::Datamarts).await {
        Ok(x) => x,
        Err(e) => {
            // The datamarts the last load linked to it still break (and still block the
            // delete); whether there are more is unknown.
            let known: Vec<Dependent> = t
                .through
                .iter()
                .filter(|r| r.kind == Kind::Datamarts)
                .map(|r| Dependent::new(DATAMART, &r.id, &r.name))
                .collect();
            let why = if known.is_empty() {
                format!("the datamart list could not be read: {e}")
            } else {
                format!(
                    "the datamart list could not be read (the datamarts shown are from the last \
                     load): {e}"
                )
            };
            let mut i = Impact::found(known, now());
            i.unknown = Some(why);
            return i;
        }
    };
    // Exact match, as the server matches names.
    let marts: Vec<&str> = dm
        .items
        .iter()
        .filter(|v| {
            v.pointer("/companyIntegration/name")
                .and_then(Value::as_str)
                == Some(name)
        })
        .filter_map(|v| {
            v.get("name")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        })
        .collect();
    let dm_gaps = gaps(&dm, AppList::Datamarts);
    if marts.is_empty() {
        return match dm_gaps {
            None => Impact::none(dm_at),
            Some(g) => Impact::unknown(
                format!("no datamart uses it, but the datamart list may be incomplete: {g}"),
                dm_at,
            ),
        };
    }
    let mut out = Impact {
        at: dm_at,
        ..Impact::default()
    };
    if let Some(g) = dm_gaps {
        add_reason(
            &mut out,
            format!("the datamart list may be incomplete: {g}"),
        );
    }
    let mart_names: HashSet<&str> = marts.iter().copied().collect();
    let mut data_app = None;
    match listed(c, AppList::Embeds).await {
        Err(e) => add_reason(
            &mut out,
            format!("the embeds of the data app could not be listed: {e}"),
        ),
        Ok((em, em_at)) => {
            out.at = out.at.min(em_at);
            let embeds: Vec<Embed> = em.items.iter().filter_map(parse_embed).collect();
            data_app = single_data_app(&embeds);
            let (certain, possible) = embed_users(&embeds, &mart_names, true);
            out.dependents.extend(certain);
            out.possible.extend(possible);
            if let Some(g) = gaps(&em, AppList::Embeds) {
                add_reason(&mut out, format!("the embed list may be incomplete: {g}"));
            }
        }
    }
    out.dependents.extend(
        marts
            .iter()
            .map(|n| Dependent::new(DATAMART, n, n).container(data_app.clone())),
    );
    out.normalise();
    out
}

/// A datamart: the embeds built on it (certain when the list says so, else possible).
async fn datamart_impact(c: &DatabrainClient, name: &str) -> Impact {
    let (em, at) = match listed(c, AppList::Embeds).await {
        Ok(x) => x,
        Err(e) => {
            return Impact::unknown(
                format!("the embeds of the data app could not be listed: {e}"),
                now(),
            )
        }
    };
    let embeds: Vec<Embed> = em.items.iter().filter_map(parse_embed).collect();
    let (certain, possible) = embed_users(&embeds, &HashSet::from([name]), false);
    let mut out = Impact {
        dependents: certain,
        possible,
        at,
        unknown: None,
    };
    let candidates = out.possible.len();
    if out.dependents.is_empty() && candidates > 0 {
        add_reason(
            &mut out,
            format!(
                "Databrain's embed list does not say which datamart an embed is built on; \
                 {candidates} embed{} in this data app may use it",
                if candidates == 1 { "" } else { "s" }
            ),
        );
    }
    if let Some(g) = gaps(&em, AppList::Embeds) {
        add_reason(&mut out, format!("the embed list may be incomplete: {g}"));
    }
    out.normalise();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn embeds_are_read_from_every_documented_shape() {
        let full = json!({"embedId":"dashboard-123","embedType":"dashboard","name":"Sales Dashboard Embed",
            "externalDashboard":{"externalDashboardId":"d-456","name":"Sales Analytics Dashboard"},
            "externalMetric":null,
            "embedMetadata":{"embedId":"dashboard-123","dataAppName":"Production Data App"}});
        assert_eq!(
            parse_embed(&full),
            Some(Embed {
                id: "dashboard-123".into(),
                name: "Sales Dashboard Embed".into(),
                data_app: Some("Production Data App".into()),
                datamart: None,
            })
        );
        // Sparse: no name, no metadata; the metric's name stands in.
        let sparse = json!({"embedId":"metric-456","embedType":"metric","externalDashboard":null,
            "externalMetric":{"metricId":"m-789","name":"Monthly Revenue"}});
        let e = parse_embed(&sparse).unwrap();
        assert_eq!((e.name.as_str(), e.data_app), ("Monthly Revenue", None));
        // Only an id: the id is the name.
        assert_eq!(parse_embed(&json!({"embedId":"x"})).unwrap().name, "x");
        let linked = json!({"embedId":"e","accessSettings":{"datamartName":"sales"}});
        assert_eq!(
            parse_embed(&linked).unwrap().datamart.as_deref(),
            Some("sales")
        );
        for bad in [
            json!({"name":"no id"}),
            json!({"embedId":""}),
            json!(3),
            json!(null),
        ] {
            assert!(parse_embed(&bad).is_none(), "{bad}");
        }
        assert_eq!(
            embed_id(&json!({"embedMetadata":{"embedId":"m"}})),
            Some("m")
        );
    }

    #[test]
    fn linked_embeds_are_certain_unlinked_possible_others_ignored() {
        let e = |id: &str, dm: Option<&str>| Embed {
            id: id.into(),
            name: id.into(),
            data_app: Some("App".into()),
            datamart: dm.map(str::to_string),
        };
        let embeds = [e("a", Some("sales")), e("b", Some("hr")), e("c", None)];
        let (certain, possible) = embed_users(&embeds, &HashSet::from(["sales"]), true);
        assert_eq!(certain.len(), 1);
        assert_eq!(certain[0].via.as_deref(), Some("datamart 'sales'"));
        assert_eq!(certain[0].container.as_deref(), Some("App"));
        assert_eq!(
            possible.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(),
            ["c"]
        );
        assert_eq!(single_data_app(&embeds), Some("App".into()));
        let mut two = embeds.to_vec();
        two[0].data_app = Some("Other".into());
        assert_eq!(single_data_app(&two), None);
    }

    #[test]
    fn incomplete_lists_are_named() {
        let l = Listed {
            items: vec![],
            nameless: 2,
            warnings: vec!["p: page 3 repeated".into()],
        };
        assert_eq!(
            gaps(&l, AppList::Embeds).as_deref(),
            Some("p: page 3 repeated; 2 embeds without an id could not be identified")
        );
        assert_eq!(gaps(&Listed::default(), AppList::Datamarts), None);
    }
}
