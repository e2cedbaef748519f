//! MicroStrategy impact analysis: the reports, cubes, documents and dashboards that use a
//! datasource, found per project with the metadata search (`POST
//! /api/metadataSearches/results?usesObject=<id>;29&domain=2` with `X-MSTR-ProjectID`, then
//! `GET ...?searchId&offset&limit`). A connection or login inherits the content of every
//! datasource that uses it.
//!
//! The server runs one search at a time per session, so every search of a client (one
//! session) holds `search_lock` from its POST to its last page; objects are searched one
//! after another, never in parallel and never in a new session. A search that fails, is
//! refused or runs out of time makes the answer "unknown", never "none".

use super::microstrategy::MstrClient;
use super::ApiError;
use crate::impact::{Dependent, Impact, ImpactTarget};
use crate::model::{Kind, Ref};
use reqwest::Method;
use serde_json::Value;
use std::time::{Duration, Instant};

/// Object types searched for: reports (grids, graphs, cubes, datamarts) and documents
/// (documents and dashboards).
const SEARCH_TYPES: &str = "type=3&type=55";
/// Results read per page.
const PAGE: usize = 200;
/// Results read per search at most; past it the answer says it is incomplete.
const MAX_RESULTS: usize = 10_000;
/// The longest the impact of one object may take (searches hang on large projects).
pub const IMPACT_BUDGET: Duration = Duration::from_secs(90);

/// One datasource to search and what the target inherits it through.
struct Searched {
    id: String,
    via: Option<String>,
}

/// What a search result is, by `type`, `subtype` and `viewMedia`.
pub(super) fn classify(v: &Value) -> &'static str {
    let ty = v.get("type").and_then(Value::as_i64).unwrap_or(0);
    let sub = v.get("subtype").and_then(Value::as_i64).unwrap_or(0);
    match (ty, sub) {
        (3, 772) => "datamart",
        (3, 776) => "OLAP cube",
        (3, 779 | 780) => "super cube",
        (3, _) => "report",
        (55, _) => {
            let media = v.get("viewMedia").and_then(Value::as_i64).unwrap_or(0);
            if media & 0xE800_0000 == 0x6000_0000 {
                "dashboard"
            } else {
                "document"
            }
        }
        (15 | 53, _) => "table",
        _ => "object",
    }
}

fn dependent(v: &Value, project: &str, via: &Option<String>) -> Option<Dependent> {
    let id = v.get("id").and_then(Value::as_str)?;
    let name = v.get("name").and_then(Value::as_str).unwrap_or(id);
    let owner = v
        .pointer("/owner/name")
        .and_then(Value::as_str)
        .map(str::to_string);
    Some(
        Dependent::new(classify(v), id, name)
            .container(Some(project.to_string()))
            .owner(owner)
            .via(via.clone()),
    )
}

impl MstrClient {
    /// The impact of one target. Never fails: what could not be searched is the reason the
    /// answer is unknown or incomplete.
    pub(super) async fn impact_of(&self, t: ImpactTarget) -> Impact {
        let now = chrono::Utc::now().timestamp();
        let budget = self.impact_budget;
        let deadline = Instant::now() + budget;
        let mut searched = Vec::new();
        if t.target.kind == Kind::Datasources {
            searched.push(Searched {
                id: t.target.id.to_string(),
                via: None,
            });
        }
        for r in t.through.iter().filter(|r| r.kind == Kind::Datasources) {
            searched.push(Searched {
                id: r.id.to_string(),
                via: Some(via_label(r)),
            });
        }
        if searched.is_empty() {
            return if t.attached_known {
                // Content uses datasources; nothing listed uses this object.
                Impact::none(now)
            } else {
                Impact::unknown(
                    "which datasources use it could not be read, so its content is unknown",
                    now,
                )
            };
        }
        // Where to search each datasource: its projects when known, else every project.
        let all_projects = if t.attached_known {
            None
        } else {
            match self.list_projects().await {
                Ok(p) => Some(p),
                Err(e) => {
                    return Impact::unknown(format!("projects could not be listed: {e}"), now)
                }
            }
        };
        let mut answer = Impact::none(now);
        for s in &searched {
            let projects = match &all_projects {
                Some(all) => all.clone(),
                None => t.attached.get(&s.id).cloned().unwrap_or_default(),
            };
            for (pid, pname) in projects {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    answer.absorb(Impact::unknown(
                        format!(
                            "the searches ran out of time ({:.0}s)",
                            budget.as_secs_f32()
                        ),
                        now,
                    ));
                    return answer;
                }
                let part = match tokio::time::timeout(left, self.search_users(&s.id, &pid)).await {
                    Err(_) => Impact::unknown(
                        format!(
                            "the search in project '{pname}' timed out after {:.0}s",
                            budget.as_secs_f32()
                        ),
                        now,
                    ),
                    Ok(Err(e)) => {
                        Impact::unknown(format!("the search in project '{pname}' failed: {e}"), now)
                    }
                    Ok(Ok((items, complete))) => {
                        let mut i = Impact::found(
                            items
                                .iter()
                                .filter_map(|v| dependent(v, &pname, &s.via))
                                .collect(),
                            now,
                        );
                        if !complete {
                            i.unknown = Some(format!(
                                    "more than {MAX_RESULTS} results in project '{pname}'; the rest were not read"
                                ));
                        }
                        i
                    }
                };
                answer.absorb(part);
            }
        }
        answer
    }

    /// Every object of the searched types that uses `datasource` in `project`, and whether
    /// all were read. Holds the session's search slot throughout; a search id the server no
    /// longer knows (replaced or expired) is searched again once.
    async fn search_users(
        &self,
        datasource: &str,
        project: &str,
    ) -> Result<(Vec<Value>, bool), ApiError> {
        let _one_at_a_time = self.search_lock.lock().await;
        let mut again = true;
        loop {
            let (id, total) = self.store_search(datasource, project).await?;
            match self.read_search(&id, total, project).await {
                Err(ApiError::Http {
                    status: 404 | 400, ..
                }) if again => {
                    again = false;
                    tracing::debug!("MicroStrategy: search {id} is gone; searching again");
                }
                other => return other,
            }
        }
    }

    async fn store_search(
        &self,
        datasource: &str,
        project: &str,
    ) -> Result<(String, usize), ApiError> {
        let path = format!(
            "/metadataSearches/results?domain=2&usesObject={}%3B29&usesRecursive=false&{SEARCH_TYPES}",
            super::http::path_segment(datasource)
        );
        let resp = self
            .call_in(Method::POST, &path, None, Some(project))
            .await?;
        let body: Value = resp.json(super::microstrategy::VENDOR_ID)?;
        let id = body
            .get("id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| ApiError::Decode {
                vendor: super::microstrategy::VENDOR_ID,
                status: resp.status,
                message: "the metadata search answered without a search id".into(),
            })?;
        let total = body
            .get("totalItems")
            .and_then(Value::as_u64)
            .unwrap_or(u64::MAX) as usize;
        Ok((id.to_string(), total))
    }

    async fn read_search(
        &self,
        id: &str,
        total: usize,
        project: &str,
    ) -> Result<(Vec<Value>, bool), ApiError> {
        let mut out: Vec<Value> = Vec::new();
        loop {
            if out.len() >= total {
                return Ok((out, true));
            }
            if out.len() >= MAX_RESULTS {
                return Ok((out, false));
            }
            let path = format!(
                "/metadataSearches/results?searchId={}&offset={}&limit={PAGE}",
                super::http::path_segment(id),
                out.len()
            );
            let resp = self
                .call_in(Method::GET, &path, None, Some(project))
                .await?;
            let page: Value = resp.json(super::microstrategy::VENDOR_ID)?;
            let Value::Array(items) = page else {
                return Err(ApiError::Decode {
                    vendor: super::microstrategy::VENDOR_ID,
                    status: resp.status,
                    message: "search results: expected an array".into(),
                });
            };
            let short = items.len() < PAGE;
            out.extend(items);
            if short {
                return Ok((out, true));
            }
        }
    }
}

fn via_label(r: &Ref) -> String {
    format!("{} '{}'", r.kind.singular(), r.name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn types_subtypes_and_view_media_classify_content() {
        let c = |ty: i64, sub: i64, media: i64| {
            classify(&json!({"type": ty, "subtype": sub, "viewMedia": media}))
        };
        assert_eq!(c(3, 768, 0), "report");
        assert_eq!(c(3, 774, 0), "report");
        assert_eq!(c(3, 772, 0), "datamart");
        assert_eq!(c(3, 776, 0), "OLAP cube");
        assert_eq!(c(3, 779, 0), "super cube");
        assert_eq!(c(3, 780, 0), "super cube");
        assert_eq!(c(55, 14081, 0x6001_0000), "dashboard");
        assert_eq!(c(55, 14081, 134_217_728), "document");
        assert_eq!(classify(&json!({"type": 55})), "document", "no viewMedia");
        assert_eq!(c(53, 13568, 0), "table");
    }

    #[test]
    fn dependents_carry_project_owner_and_via() {
        let d = dependent(
            &json!({"id": "R1", "name": "Revenue", "type": 3, "subtype": 768,
                    "owner": {"name": "Priya"}}),
            "Sales",
            &Some("datasource 'DW'".into()),
        )
        .expect("has an id");
        assert_eq!(
            d.label("project"),
            "report 'Revenue' (project 'Sales', owner Priya, via datasource 'DW')"
        );
        assert!(dependent(&json!({"name": "no id"}), "Sales", &None).is_none());
    }
}
