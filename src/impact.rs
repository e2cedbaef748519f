//! Impact analysis in the neutral model: what content (reports, cubes, dashboards, apps,
//! datamarts, embeds) breaks when an object is deleted. Every answer is one of three things —
//! dependents found, none found, or unknown with the reason — never silence: a search that
//! was refused or timed out is "unknown", never "none".

use crate::model::{printable, Kind, Ref, Resource};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// One piece of content that uses the object (directly or through an object that uses it).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
pub struct Dependent {
    /// What it is, as a singular noun: "report", "dashboard", "app", "datamart".
    pub what: String,
    pub id: String,
    pub name: String,
    /// Project (MicroStrategy), space (Qlik), data app (Databrain), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// The object it uses when that is not the target itself ("datasource 'Sales DW'").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
}

impl Dependent {
    pub fn new(what: &str, id: &str, name: &str) -> Dependent {
        Dependent {
            what: what.to_string(),
            id: id.to_string(),
            name: name.to_string(),
            container: None,
            owner: None,
            via: None,
        }
    }

    pub fn container(mut self, container: Option<String>) -> Dependent {
        self.container = container;
        self
    }

    pub fn owner(mut self, owner: Option<String>) -> Dependent {
        self.owner = owner;
        self
    }

    pub fn via(mut self, via: Option<String>) -> Dependent {
        self.via = via;
        self
    }

    /// "report 'Revenue' (project 'Sales', owner priya)", sanitized.
    pub fn label(&self, container_noun: &str) -> String {
        let mut s = format!("{} '{}'", self.what, printable(&self.name));
        let mut extra = Vec::new();
        if let Some(c) = &self.container {
            extra.push(format!("{container_noun} '{}'", printable(c)));
        }
        if let Some(o) = &self.owner {
            extra.push(format!("owner {}", printable(o)));
        }
        if let Some(v) = &self.via {
            extra.push(format!("via {}", printable(v)));
        }
        if !extra.is_empty() {
            s.push_str(&format!(" ({})", extra.join(", ")));
        }
        s
    }
}

/// The answer for one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Impact {
    /// Content known to use it: deleting the object breaks these.
    #[serde(default)]
    pub dependents: Vec<Dependent>,
    /// Candidates the vendor cannot confirm or rule out (Qlik apps in the same space when
    /// lineage is unavailable; Databrain embeds of the data app). Never means "unused".
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub possible: Vec<Dependent>,
    /// Why the answer is incomplete or unknown (a refused or timed-out search).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unknown: Option<String>,
    /// Unix seconds when it was computed.
    #[serde(default)]
    pub at: i64,
}

/// The one-word verdict that decides confirmations and orphans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Breaks,
    None,
    Unknown,
}

impl Impact {
    pub fn none(at: i64) -> Impact {
        Impact {
            at,
            ..Impact::default()
        }
    }

    pub fn unknown(why: impl Into<String>, at: i64) -> Impact {
        Impact {
            unknown: Some(why.into()),
            at,
            ..Impact::default()
        }
    }

    pub fn found(dependents: Vec<Dependent>, at: i64) -> Impact {
        let mut i = Impact {
            dependents,
            at,
            ..Impact::default()
        };
        i.normalise();
        i
    }

    /// Sorted and without repeats (a report found through two datasources is one report).
    pub fn normalise(&mut self) {
        dedup(&mut self.dependents);
        dedup(&mut self.possible);
        let certain: HashSet<(String, String)> = self
            .dependents
            .iter()
            .map(|d| (d.what.clone(), d.id.clone()))
            .collect();
        self.possible
            .retain(|d| !certain.contains(&(d.what.clone(), d.id.clone())));
    }

    /// Breaks content when anything is known to use it; unknown when a search could not
    /// answer or only candidates exist; none otherwise.
    pub fn verdict(&self) -> Verdict {
        if !self.dependents.is_empty() {
            Verdict::Breaks
        } else if self.unknown.is_some() || !self.possible.is_empty() {
            Verdict::Unknown
        } else {
            Verdict::None
        }
    }

    /// Merge the answer for another object this one stands for (a connection inherits its
    /// datasources' content). An unknown part makes the whole incomplete.
    pub fn absorb(&mut self, other: Impact) {
        self.dependents.extend(other.dependents);
        self.possible.extend(other.possible);
        if let Some(why) = other.unknown {
            self.unknown = Some(match self.unknown.take() {
                Some(mine) if mine != why => format!("{mine}; {why}"),
                _ => why,
            });
        }
        // The answer is as old as its oldest part.
        self.at = if self.at == 0 {
            other.at
        } else {
            self.at.min(other.at)
        };
        self.normalise();
    }

    /// "14 reports, 3 dashboards in 2 projects" (no verb), or "" when nothing is known.
    pub fn counts_phrase(&self, container_noun: &str) -> String {
        counts_phrase(&self.dependents, container_noun)
    }

    /// The short sentence of a plan line or detail header: "breaks 14 reports, 3
    /// dashboards in 2 projects", "none found", "unknown: <why>", with the incomplete part
    /// or the candidates added.
    pub fn summary(&self, container_noun: &str) -> String {
        let mut s = match self.verdict() {
            Verdict::Breaks => format!("breaks {}", self.counts_phrase(container_noun)),
            Verdict::None => "none found".to_string(),
            Verdict::Unknown => match &self.unknown {
                Some(why) => format!("unknown: {}", printable(why)),
                None => "unknown".to_string(),
            },
        };
        if self.verdict() == Verdict::Breaks {
            if let Some(why) = &self.unknown {
                s.push_str(&format!(" (incomplete: {})", printable(why)));
            }
        }
        if !self.possible.is_empty() {
            s.push_str(&format!(
                "; possible users: {}",
                counts_phrase(&self.possible, container_noun)
            ));
        }
        s
    }

    /// The count a table cell shows: dependents, "?" when unknown, "0" when none.
    pub fn cell(&self) -> String {
        match self.verdict() {
            Verdict::Breaks if self.unknown.is_some() => format!("{}+?", self.dependents.len()),
            Verdict::Breaks => self.dependents.len().to_string(),
            Verdict::None => "0".to_string(),
            Verdict::Unknown if !self.possible.is_empty() => {
                format!("?{}", self.possible.len())
            }
            Verdict::Unknown => "?".to_string(),
        }
    }
}

fn dedup(v: &mut Vec<Dependent>) {
    let mut seen = HashSet::new();
    v.retain(|d| seen.insert((d.what.clone(), d.id.clone())));
    v.sort_by(|a, b| {
        (a.container.as_deref(), a.what.as_str(), a.name.as_str()).cmp(&(
            b.container.as_deref(),
            b.what.as_str(),
            b.name.as_str(),
        ))
    });
}

fn plural(what: &str, n: usize) -> String {
    if n == 1 {
        what.to_string()
    } else if what.ends_with('s') || what.ends_with('x') {
        format!("{what}es")
    } else if let Some(stem) = what.strip_suffix('y') {
        format!("{stem}ies")
    } else {
        format!("{what}s")
    }
}

/// "14 reports, 3 dashboards in 2 projects": counts per content type, in order of count.
pub fn counts_phrase(deps: &[Dependent], container_noun: &str) -> String {
    if deps.is_empty() {
        return String::new();
    }
    let mut per: BTreeMap<&str, usize> = BTreeMap::new();
    for d in deps {
        *per.entry(d.what.as_str()).or_default() += 1;
    }
    let mut per: Vec<(&str, usize)> = per.into_iter().collect();
    per.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let mut s = per
        .iter()
        .map(|(w, n)| format!("{n} {}", plural(w, *n)))
        .collect::<Vec<_>>()
        .join(", ");
    let containers: BTreeSet<&str> = deps.iter().filter_map(|d| d.container.as_deref()).collect();
    if !containers.is_empty() {
        s.push_str(&format!(
            " in {} {}",
            containers.len(),
            plural(container_noun, containers.len())
        ));
    }
    s
}

/// Dependents grouped for display: container → (what → names), each sorted.
pub fn grouped(deps: &[Dependent]) -> BTreeMap<String, BTreeMap<String, Vec<&Dependent>>> {
    let mut out: BTreeMap<String, BTreeMap<String, Vec<&Dependent>>> = BTreeMap::new();
    for d in deps {
        out.entry(d.container.clone().unwrap_or_default())
            .or_default()
            .entry(d.what.clone())
            .or_default()
            .push(d);
    }
    out
}

/// What a client is asked about one object: the object, and the objects whose content it
/// inherits (everything that uses it, directly or not: a MicroStrategy login stands for its
/// connections and their datasources). Projects and other non-listed users ride along.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImpactTarget {
    pub target: Ref,
    /// Every listed resource that uses the target, transitively.
    pub through: Vec<Ref>,
    /// Containers (projects) each of `target` and `through` is attached to, by id; empty
    /// when unknown (the client then searches everywhere).
    pub attached: HashMap<String, Vec<(String, String)>>,
    /// Whether the attachments above are complete (the project lists could be read).
    pub attached_known: bool,
}

/// Build the request for each target from the loaded resources of its profile.
pub fn targets_for(resources: &[Resource], refs: &[Ref]) -> Vec<ImpactTarget> {
    let by_key: HashMap<(Kind, &str), &Resource> = resources
        .iter()
        .map(|r| ((r.kind, r.id.as_str()), r))
        .collect();
    refs.iter()
        .map(|target| {
            let mut through = Vec::new();
            let mut seen: HashSet<(Kind, String)> = HashSet::new();
            seen.insert((target.kind, target.id.to_string()));
            let mut stack = vec![(target.kind, target.id.to_string())];
            let mut attached = HashMap::new();
            let mut attached_known = true;
            while let Some((kind, id)) = stack.pop() {
                let Some(r) = by_key.get(&(kind, id.as_str())) else {
                    continue;
                };
                if r.used_by_unknown {
                    attached_known = false;
                }
                let projects: Vec<(String, String)> = r
                    .used_by_other
                    .iter()
                    .filter(|o| o.what == "project")
                    .map(|o| (o.id.clone(), o.name.clone()))
                    .collect();
                attached.insert(r.id.to_string(), projects);
                for u in &r.used_by {
                    if seen.insert((u.kind, u.id.to_string())) {
                        through.push(u.clone());
                        stack.push((u.kind, u.id.to_string()));
                    }
                }
            }
            if !by_key.contains_key(&(target.kind, target.id.as_str())) {
                attached_known = false;
            }
            ImpactTarget {
                target: target.clone(),
                through,
                attached,
                attached_known,
            }
        })
        .collect()
}

/// Totals over a plan: "breaks 14 reports, 3 dashboards in 2 projects" over every object,
/// and how many objects' impact is unknown.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    pub breaking_objects: usize,
    pub unknown_objects: usize,
    pub dependents: Vec<Dependent>,
}

impl Totals {
    pub fn of<'a>(impacts: impl IntoIterator<Item = &'a Impact>) -> Totals {
        let mut t = Totals::default();
        for i in impacts {
            match i.verdict() {
                Verdict::Breaks => t.breaking_objects += 1,
                Verdict::Unknown => t.unknown_objects += 1,
                Verdict::None => {}
            }
            if i.unknown.is_some() && i.verdict() == Verdict::Breaks {
                t.unknown_objects += 1;
            }
            t.dependents.extend(i.dependents.iter().cloned());
        }
        dedup(&mut t.dependents);
        t
    }

    /// Whether the plan needs the typed confirmation whatever its size.
    pub fn needs_typed_confirmation(&self) -> bool {
        self.breaking_objects > 0 || self.unknown_objects > 0
    }

    pub fn summary(&self, container_noun: &str) -> String {
        let mut parts = Vec::new();
        if !self.dependents.is_empty() {
            parts.push(format!(
                "breaks {}",
                counts_phrase(&self.dependents, container_noun)
            ));
        }
        if self.unknown_objects > 0 {
            parts.push(format!(
                "impact unknown for {} {}",
                self.unknown_objects,
                plural("object", self.unknown_objects)
            ));
        }
        if parts.is_empty() {
            "breaks nothing found".to_string()
        } else {
            parts.join("; ")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{OtherUser, VendorId};

    fn dep(what: &str, id: &str, project: &str) -> Dependent {
        Dependent::new(what, id, &format!("{what} {id}")).container(Some(project.into()))
    }

    #[test]
    fn every_answer_is_found_none_or_unknown() {
        let none = Impact::none(1);
        assert_eq!(none.verdict(), Verdict::None);
        assert_eq!(none.summary("project"), "none found");
        assert_eq!(none.cell(), "0");

        let unknown = Impact::unknown("search timed out", 1);
        assert_eq!(unknown.verdict(), Verdict::Unknown);
        assert_eq!(unknown.summary("project"), "unknown: search timed out");
        assert_eq!(unknown.cell(), "?");

        let mut found = Impact::found(
            vec![
                dep("report", "1", "Sales"),
                dep("report", "2", "Sales"),
                dep("dashboard", "3", "Finance"),
                dep("report", "1", "Sales"),
            ],
            1,
        );
        assert_eq!(found.dependents.len(), 3, "repeats are one dependent");
        assert_eq!(
            found.summary("project"),
            "breaks 2 reports, 1 dashboard in 2 projects"
        );
        found.absorb(Impact::unknown("HTTP 403", 2));
        assert_eq!(found.verdict(), Verdict::Breaks);
        assert_eq!(found.cell(), "3+?");
        assert!(found.summary("project").contains("incomplete: HTTP 403"));
    }

    #[test]
    fn candidates_alone_are_unknown_never_unused() {
        let i = Impact {
            possible: vec![Dependent::new("app", "a1", "Sales app")],
            unknown: Some("lineage refused (HTTP 403)".into()),
            ..Impact::default()
        };
        assert_eq!(i.verdict(), Verdict::Unknown);
        let s = i.summary("space");
        assert!(s.contains("possible users: 1 app"), "{s}");
        let t = Totals::of([&i, &Impact::none(0)]);
        assert_eq!(t.unknown_objects, 1);
        assert!(t.needs_typed_confirmation());
        assert_eq!(t.summary("space"), "impact unknown for 1 object");
    }

    #[test]
    fn plan_totals_count_each_dependent_once() {
        let a = Impact::found(vec![dep("report", "1", "P"), dep("cube", "2", "P")], 0);
        let b = Impact::found(vec![dep("report", "1", "P")], 0);
        let t = Totals::of([&a, &b, &Impact::none(0)]);
        assert_eq!(t.breaking_objects, 2);
        assert_eq!(t.summary("project"), "breaks 1 cube, 1 report in 1 project");
        assert!(!Totals::of([&Impact::none(0)]).needs_typed_confirmation());
    }

    #[test]
    fn targets_inherit_every_transitive_user_and_their_projects() {
        let v = VendorId::MicroStrategy;
        let mut login = Resource::new(v, "p", Kind::Logins, "L", "etl");
        let mut conn = Resource::new(v, "p", Kind::Connections, "C", "dw");
        let mut ds = Resource::new(v, "p", Kind::Datasources, "D", "Sales DW");
        login.used_by = vec![conn.as_ref()];
        conn.used_by = vec![ds.as_ref()];
        ds.used_by_other = thin_vec::thin_vec![OtherUser {
            what: "project".into(),
            id: "P1".into(),
            name: "Sales".into(),
        }];
        let all = vec![login.clone(), conn, ds];
        let t = &targets_for(&all, &[login.as_ref()])[0];
        assert_eq!(
            t.through.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
            ["C", "D"]
        );
        assert_eq!(
            t.attached["D"],
            vec![("P1".to_string(), "Sales".to_string())]
        );
        assert!(t.attached_known);
        let gone = Ref {
            kind: Kind::Logins,
            id: "X".into(),
            name: "x".into(),
        };
        assert!(!targets_for(&all, &[gone])[0].attached_known);
    }

    #[test]
    fn labels_are_sanitized() {
        let d = Dependent::new("report", "1", "evil\x1b[2Jname")
            .container(Some("Sales".into()))
            .owner(Some("priya".into()));
        let l = d.label("project");
        assert!(!l.contains('\x1b'), "{l}");
        assert!(l.contains("project 'Sales'") && l.contains("owner priya"));
    }
}
