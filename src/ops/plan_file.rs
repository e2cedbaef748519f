//! Delete plans as files: `delete --plan-out FILE` (and `w` in the console's delete
//! confirmation) writes exactly what would run — profile, vendor, tenant, each target in
//! execution order with the JSON it had (secrets stripped as in the audit log), what it
//! waits for, and the impact the operator was shown — so that `dsconsole apply FILE` can run
//! it later, after re-reading every target and refusing what changed since.
//!
//! The file carries a format name, a version and a SHA-256 of its own content (`hash`,
//! computed with `hash` empty): a plan edited by hand, or written by a newer dsconsole, is
//! refused before anything is read from a server. Pure: no I/O but [`write`] and [`read`].

use crate::impact::{Impact, Verdict};
use crate::model::{Kind, Ref, Resource, VendorId};
use crate::ops::plan::{DeletePlan, StepReason};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashMap};
use std::path::Path;

/// The `format` of a plan file.
pub const FORMAT: &str = "dsconsole-delete-plan";
/// The newest version this build writes and reads.
pub const VERSION: u32 = 1;

/// The impact one target was shown with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImpactShown {
    pub verdict: Verdict,
    /// "breaks 2 reports, 1 dashboard in 1 project", "none found", "unknown: …".
    pub summary: String,
    /// Content known to break.
    pub dependents: usize,
    /// Content that may use it.
    pub possible: usize,
}

impl ImpactShown {
    pub fn of(i: &Impact, noun: &str) -> ImpactShown {
        ImpactShown {
            verdict: i.verdict(),
            summary: i.summary(noun),
            dependents: i.dependents.len(),
            possible: i.possible.len(),
        }
    }
}

/// One delete of the plan, as it was when the plan was written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Target {
    pub kind: Kind,
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// `selected`, or `cascade` (added because only the selection used it).
    pub reason: String,
    /// Indices of the targets (its users in this plan) that must be deleted first.
    #[serde(default)]
    pub after: Vec<usize>,
    /// The vendor's updated time (Unix seconds), when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<i64>,
    #[serde(default)]
    pub depends_on: Vec<Ref>,
    #[serde(default)]
    pub used_by: Vec<Ref>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impact: Option<ImpactShown>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
    /// The object as last fetched, secrets stripped.
    pub object: Value,
}

impl Target {
    pub fn label(&self) -> String {
        format!("{} '{}'", self.kind.singular(), self.name)
    }
}

/// A delete plan as a file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanFile {
    pub format: String,
    pub version: u32,
    /// RFC 3339, UTC.
    pub written_at: String,
    pub written_by: String,
    pub profile: String,
    pub vendor: VendorId,
    /// The host of the profile's base URL.
    pub tenant: String,
    pub cascade: bool,
    /// Execution order: dependents before what they depend on.
    pub targets: Vec<Target>,
    /// What the plan shown said besides its targets (irreversible, kept by the cascade…).
    #[serde(default)]
    pub notes: Vec<String>,
    /// The plan's impact total as shown, when computed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impact: Option<String>,
    /// `sha256:<hex>` of the file's JSON with this field empty.
    pub hash: String,
}

fn refs_sorted(refs: &[Ref]) -> Vec<Ref> {
    let mut v = refs.to_vec();
    v.sort_by(|a, b| (a.kind, &a.id).cmp(&(b.kind, &b.id)));
    v
}

impl PlanFile {
    /// The file of `plan`, with what `all` (the objects it was planned over) says of each
    /// target; `now` in Unix seconds.
    pub fn of(plan: &DeletePlan, all: &[Resource], tenant: &str, now: i64) -> PlanFile {
        let noun = plan.impact_container();
        // One pass over `all`, whatever the size of the plan.
        let mut found: HashMap<(Kind, &str), Option<&Resource>> = plan
            .steps
            .iter()
            .map(|s| ((s.target.kind, s.target.id.as_str()), None))
            .collect();
        for r in all {
            if let Some(slot) = found.get_mut(&(r.kind, r.id.as_str())) {
                slot.get_or_insert(r);
            }
        }
        let targets = plan
            .steps
            .iter()
            .map(|s| {
                let r = found
                    .get(&(s.target.kind, s.target.id.as_str()))
                    .copied()
                    .flatten();
                Target {
                    kind: s.target.kind,
                    id: s.target.id.to_string(),
                    name: s.target.name.to_string(),
                    container: s.container.clone(),
                    reason: match s.reason {
                        StepReason::Selected => "selected".into(),
                        StepReason::Cascade { .. } => "cascade".into(),
                    },
                    after: s.after.clone(),
                    updated: r.and_then(|r| r.updated),
                    depends_on: r.map(|r| refs_sorted(&r.depends_on)).unwrap_or_default(),
                    used_by: r.map(|r| refs_sorted(&r.used_by)).unwrap_or_default(),
                    impact: s.impact.as_ref().map(|i| ImpactShown::of(i, noun)),
                    warning: s.warning.clone(),
                    object: crate::redact::strip_secrets(&s.raw),
                }
            })
            .collect();
        let mut notes: Vec<String> = plan
            .kept
            .iter()
            .map(|k| format!("kept: {} — {}", k.target.label(), k.reason))
            .collect();
        notes.extend(plan.warnings.iter().cloned());
        let mut f = PlanFile {
            format: FORMAT.into(),
            version: VERSION,
            written_at: rfc3339(now),
            written_by: format!("dsconsole {}", env!("CARGO_PKG_VERSION")),
            profile: plan.profile.clone(),
            vendor: plan.vendor,
            tenant: tenant.to_string(),
            cascade: plan.cascade,
            targets,
            notes,
            impact: plan.impact_totals().map(|t| t.summary(noun)),
            hash: String::new(),
        };
        f.hash = f.computed_hash();
        f
    }

    /// `sha256:<hex>` of the file's JSON with `hash` empty.
    pub fn computed_hash(&self) -> String {
        let mut unhashed = self.clone();
        unhashed.hash.clear();
        let bytes = serde_json::to_vec(&unhashed).unwrap_or_default();
        let digest = Sha256::digest(&bytes);
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        format!("sha256:{hex}")
    }

    /// The file's text (pretty JSON, one trailing newline).
    pub fn to_text(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// Parse a plan file, refusing another format, a newer version and a hash that does
    /// not match (the file was edited).
    pub fn parse(text: &str) -> Result<PlanFile, String> {
        let v: Value =
            serde_json::from_str(text).map_err(|e| format!("not a plan file (JSON: {e})"))?;
        if v.get("format").and_then(Value::as_str) != Some(FORMAT) {
            return Err(format!(
                "not a dsconsole delete plan (its \"format\" is not \"{FORMAT}\")"
            ));
        }
        let version = v.get("version").and_then(Value::as_u64).unwrap_or(0);
        if version > u64::from(VERSION) {
            return Err(format!(
                "the plan is of format version {version}, written by a newer dsconsole; this \
                 one reads up to version {VERSION}: upgrade dsconsole or write the plan again"
            ));
        }
        if version == 0 {
            return Err("the plan file has no valid \"version\"".into());
        }
        let f: PlanFile =
            serde_json::from_value(v).map_err(|e| format!("the plan file is damaged: {e}"))?;
        let want = f.computed_hash();
        if f.hash != want {
            return Err(format!(
                "the plan file was changed after it was written (hash {} does not match its \
                 content): write the plan again",
                f.hash
            ));
        }
        Ok(f)
    }

    /// The (kind, id) of every target, in plan order.
    pub fn keys(&self) -> Vec<(Kind, String)> {
        self.targets
            .iter()
            .map(|t| (t.kind, t.id.clone()))
            .collect()
    }
}

/// Unix seconds as RFC 3339 (UTC, seconds).
fn rfc3339(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| secs.to_string())
}

fn when(t: Option<i64>) -> String {
    t.map(rfc3339).unwrap_or_else(|| "none".into())
}

fn ref_set(refs: &[Ref]) -> BTreeSet<(Kind, String, String)> {
    refs.iter()
        .map(|r| (r.kind, r.id.to_string(), r.name.to_string()))
        .collect()
}

/// "+ connection 'A', - connection 'B'": what was added to and taken from a list.
fn diff_refs(was: &[Ref], now: &[Ref]) -> Option<String> {
    let (a, b) = (ref_set(was), ref_set(now));
    if a == b {
        return None;
    }
    let mut parts: Vec<String> = b
        .difference(&a)
        .map(|(k, _, n)| format!("+ {} '{n}'", k.singular()))
        .collect();
    parts.extend(
        a.difference(&b)
            .map(|(k, _, n)| format!("- {} '{n}'", k.singular())),
    );
    Some(parts.join(", "))
}

/// What became of one target since the plan was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drift {
    Unchanged,
    /// Not there any more (deleted meanwhile).
    Gone,
    /// Each change, as a phrase ("updated 2026-01-02T… → 2026-02-03T…").
    Changed(Vec<String>),
}

/// Compare a target with the object as it is now (`None`: gone) and its impact now
/// (`None`: not computed). `noun` is what the vendor calls its content's container.
pub fn drift(t: &Target, now: Option<&Resource>, impact: Option<&Impact>, noun: &str) -> Drift {
    let Some(r) = now else {
        return Drift::Gone;
    };
    let mut changes = Vec::new();
    if r.name != t.name {
        changes.push(format!("renamed to '{}'", r.name));
    }
    if r.updated != t.updated {
        changes.push(format!("updated {} → {}", when(t.updated), when(r.updated)));
    }
    if let Some(d) = diff_refs(&t.used_by, &r.used_by) {
        changes.push(format!("used by: {d}"));
    }
    if let Some(d) = diff_refs(&t.depends_on, &r.depends_on) {
        changes.push(format!("depends on: {d}"));
    }
    if let (Some(was), Some(i)) = (&t.impact, impact) {
        let now = ImpactShown::of(i, noun);
        if now.verdict != was.verdict
            || now.dependents != was.dependents
            || now.possible != was.possible
        {
            changes.push(format!("impact: {} → {}", was.summary, now.summary));
        }
    }
    if changes.is_empty() {
        Drift::Unchanged
    } else {
        Drift::Changed(changes)
    }
}

/// Write `f` to `path` whole or not at all (a temporary file renamed over it). Creates the
/// parent directory.
pub fn write(path: &Path, f: &PlanFile) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, f.to_text())?;
    std::fs::rename(&tmp, path)
}

/// Read and check a plan file.
pub fn read(path: &Path) -> Result<PlanFile, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the plan {}: {e}", path.display()))?;
    PlanFile::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// The file name `w` in the console gives a plan: `plan-<profile>-<time>.json`, the profile
/// name reduced to letters, digits, `-` and `_`.
pub fn file_name(profile: &str, now: i64) -> String {
    let safe: String = profile
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let time = chrono::DateTime::from_timestamp(now, 0)
        .map(|t| t.format("%Y%m%dT%H%M%SZ").to_string())
        .unwrap_or_else(|| now.to_string());
    format!("plan-{safe}-{time}.json")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::plan::{build_plan, PlanRequest};
    use serde_json::json;

    fn res(kind: Kind, id: &str, name: &str) -> Resource {
        let mut r = Resource::new(VendorId::MicroStrategy, "p", kind, id, name);
        r.raw = json!({"id": id, "name": name, "password": "hunter2"}).into();
        r.updated = Some(1_700_000_000);
        r
    }

    fn file_of(all: &[Resource]) -> PlanFile {
        let plan = build_plan(&PlanRequest {
            spec: crate::vendors::spec(VendorId::MicroStrategy),
            profile: "p",
            all,
            selected: &[(Kind::Datasources, "D1".into())],
            hidden: &[],
            cascade: false,
            skip_in_use: false,
        });
        PlanFile::of(&plan, all, "bi.example.com", 1_800_000_000)
    }

    #[test]
    fn a_plan_file_round_trips_strips_secrets_and_refuses_edits_and_newer_versions() {
        let all = vec![res(Kind::Datasources, "D1", "Sales")];
        let f = file_of(&all);
        assert_eq!(f.targets.len(), 1);
        assert_eq!(f.targets[0].object["password"], "[redacted]");
        assert_eq!(f.targets[0].updated, Some(1_700_000_000));
        assert!(f.hash.starts_with("sha256:"));
        let text = f.to_text();
        assert!(!text.contains("hunter2"));
        assert_eq!(PlanFile::parse(&text), Ok(f.clone()));
        let edited = text.replace("\"Sales\"", "\"Other\"");
        assert!(PlanFile::parse(&edited).is_err_and(|e| e.contains("changed after")));
        let newer = text.replace("\"version\": 1", "\"version\": 2");
        assert!(PlanFile::parse(&newer).is_err_and(|e| e.contains("newer dsconsole")));
        assert!(PlanFile::parse("{}").is_err_and(|e| e.contains("not a dsconsole")));
    }

    #[test]
    fn drift_names_what_changed() {
        let all = vec![res(Kind::Datasources, "D1", "Sales")];
        let f = file_of(&all);
        let t = &f.targets[0];
        assert_eq!(drift(t, Some(&all[0]), None, "project"), Drift::Unchanged);
        assert_eq!(drift(t, None, None, "project"), Drift::Gone);
        let mut now = all[0].clone();
        now.updated = Some(1_700_000_100);
        now.used_by.push(Ref {
            kind: Kind::Datasources,
            id: "X".into(),
            name: "New user".into(),
        });
        let Drift::Changed(c) = drift(t, Some(&now), None, "project") else {
            panic!("changed");
        };
        assert_eq!(c.len(), 2, "{c:?}");
        assert!(c[0].starts_with("updated 2023-11-14T22:13:20Z → "));
        assert_eq!(c[1], "used by: + datasource 'New user'");
        assert_eq!(
            file_name("prod/eu", 0),
            "plan-prod_eu-19700101T000000Z.json"
        );
    }
}
