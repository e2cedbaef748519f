//! "Recently deleted": what this machine's audit log says was deleted, per object, with when,
//! by which run, the JSON saved of it, and whether it was restored since. Each deleted object
//! has a short stable reference, its audit ref: `<run>:<seq>` of the first "before" line of
//! its delete in that run (what `dsconsole deleted` prints and `dsconsole restore` takes).

use crate::model::{Kind, VendorId};
use serde_json::Value;
use std::collections::HashMap;
use std::io::{self, BufRead};
use std::path::Path;

/// What the audit log says became of a delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeleteState {
    Deleted,
    /// Marked deleted by the vendor (Basedash); no API undoes it.
    SoftDeleted,
    /// The answer never came: the server may or may not have deleted it.
    Unknown,
}

impl DeleteState {
    pub fn word(self) -> &'static str {
        match self {
            DeleteState::Deleted => "deleted",
            DeleteState::SoftDeleted => "soft-deleted",
            DeleteState::Unknown => "unknown",
        }
    }
}

/// A restore of it that the audit log recorded as done.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Restored {
    /// The restore's own audit ref.
    pub reference: String,
    pub time: String,
    /// The id the re-created object got.
    pub id: String,
}

/// One deleted object.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeletedObject {
    /// `<run>:<seq>`.
    pub reference: String,
    /// When the delete was sent (RFC 3339, UTC).
    pub time: String,
    pub run: String,
    pub profile: String,
    pub vendor: VendorId,
    pub kind: Kind,
    pub id: String,
    pub name: String,
    /// The space or organization it lived in, when recorded.
    pub container: Option<String>,
    pub state: DeleteState,
    pub restored: Option<Restored>,
    /// The object as last fetched before the delete, secrets stripped.
    pub object: Value,
}

impl DeletedObject {
    /// What the restore code needs of it.
    pub fn saved(&self) -> crate::vendors::restore::Saved<'_> {
        crate::vendors::restore::Saved {
            vendor: self.vendor,
            kind: self.kind,
            id: &self.id,
            name: &self.name,
            container: self.container.as_deref(),
            object: &self.object,
        }
    }

    /// `Ok(fields)` when it can be restored (with these `--set` fields, which the saved
    /// JSON lacks), else why not.
    pub fn restorable(&self) -> Result<Vec<&'static str>, String> {
        if let Some(r) = &self.restored {
            return Err(format!("already restored as {} ({})", r.id, r.reference));
        }
        crate::vendors::restore::recreate(&self.saved()).map(|r| r.required)
    }

    /// Whether it can be restored, in the words of `dsconsole deleted` (and the `:trash`
    /// view): `yes`, `yes, with --set …`, `restored as <id>`, `no: why`.
    pub fn restore_word(&self) -> String {
        match (&self.restored, self.restorable()) {
            (Some(r), _) => format!("restored as {}", r.id),
            (None, Ok(need)) if need.is_empty() => "yes".to_string(),
            (None, Ok(need)) => format!("yes, with --set {}", need.join(", ")),
            (None, Err(why)) => format!("no: {why}"),
        }
    }

    /// Sent at or after `since` (a Unix time).
    pub fn since(&self, since: i64) -> bool {
        chrono::DateTime::parse_from_rfc3339(&self.time).is_ok_and(|t| t.timestamp() >= since)
    }
}

/// The reference of the line `seq` of `run`.
pub fn reference(run: &str, seq: u64) -> String {
    format!("{run}:{seq}")
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

struct Group {
    obj: DeletedObject,
    outcomes: Vec<String>,
}

/// Every deleted object the audit log at `path` records, oldest first. A missing file is an
/// empty log; unreadable lines (a crash mid-write) are skipped.
pub fn read(path: &Path) -> io::Result<Vec<DeletedObject>> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut groups: Vec<Group> = Vec::new();
    // (run, profile, kind, id) → group; (run, seq) → group.
    let mut by_object: HashMap<(String, String, String, String), usize> = HashMap::new();
    let mut by_seq: HashMap<(String, u64), usize> = HashMap::new();
    // (restores ref, run, seq) of restore lines, settled after the pass.
    let mut restore_before: HashMap<(String, u64), (String, String)> = HashMap::new();
    let mut restores: Vec<(String, Restored)> = Vec::new();
    for line in io::BufReader::new(file).lines() {
        let line = line?;
        let Ok(v) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        let run = str_of(&v, "run").to_string();
        let Some(seq) = v.get("seq").and_then(Value::as_u64) else {
            continue;
        };
        let phase = str_of(&v, "phase");
        match str_of(&v, "operation") {
            "delete" => {}
            "restore" => {
                let of = str_of(&v, "restores").to_string();
                if phase == "before" {
                    restore_before.insert((run.clone(), seq), (of, str_of(&v, "time").into()));
                } else if str_of(&v, "outcome") == "restored" {
                    let of = if of.is_empty() {
                        restore_before
                            .get(&(run.clone(), seq))
                            .map(|(r, _)| r.clone())
                            .unwrap_or_default()
                    } else {
                        of
                    };
                    restores.push((
                        of,
                        Restored {
                            reference: reference(&run, seq),
                            time: str_of(&v, "time").to_string(),
                            id: str_of(&v, "restored_id").to_string(),
                        },
                    ));
                }
                continue;
            }
            _ => continue,
        }
        let (Some(vendor), Some(kind)) = (
            VendorId::parse(str_of(&v, "vendor")),
            Kind::parse(str_of(&v, "kind")),
        ) else {
            continue;
        };
        let profile = str_of(&v, "profile").to_string();
        let id = str_of(&v, "id").to_string();
        let key = (
            run.clone(),
            profile.clone(),
            kind.id().to_string(),
            id.clone(),
        );
        if phase == "before" {
            let g = *by_object.entry(key).or_insert_with(|| {
                groups.push(Group {
                    obj: DeletedObject {
                        reference: reference(&run, seq),
                        time: str_of(&v, "time").to_string(),
                        run: run.clone(),
                        profile,
                        vendor,
                        kind,
                        id,
                        name: str_of(&v, "name").to_string(),
                        container: v
                            .get("container")
                            .and_then(Value::as_str)
                            .map(str::to_string),
                        state: DeleteState::Unknown,
                        restored: None,
                        object: v.get("object").cloned().unwrap_or(Value::Null),
                    },
                    outcomes: Vec::new(),
                });
                groups.len() - 1
            });
            by_seq.insert((run, seq), g);
        } else if let Some(&g) = by_seq.get(&(run, seq)) {
            groups[g].outcomes.push(str_of(&v, "outcome").to_string());
        }
    }
    let mut out = Vec::new();
    for mut g in groups {
        let has = |w: &str| g.outcomes.iter().any(|o| o == w);
        g.obj.state = if has("deleted") {
            DeleteState::Deleted
        } else if has("soft_deleted") {
            DeleteState::SoftDeleted
        } else if has("unknown") && has("already_gone") {
            // Our own request that lost its answer did it.
            DeleteState::Deleted
        } else if has("unknown") || g.outcomes.is_empty() {
            DeleteState::Unknown
        } else {
            // Failed, or already gone before this run: nothing of ours to undo.
            continue;
        };
        out.push(g.obj);
    }
    for (of, r) in restores {
        if let Some(d) = out.iter_mut().find(|d| d.reference == of) {
            d.restored = Some(r);
        }
    }
    Ok(out)
}

/// A duration like `7d`, `12h`, `30m`, `2w`, `90s` in seconds.
pub fn parse_since(s: &str) -> Result<i64, String> {
    let s = s.trim();
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = n
        .parse()
        .map_err(|_| format!("'{s}' is not a duration like 7d, 12h, 30m"))?;
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" | "" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(format!("'{s}': the unit is s, m, h, d or w")),
    };
    Ok(n.saturating_mul(mult))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::audit::{AuditEntry, AuditLog};
    use serde_json::json;

    fn entry(op: &str, id: &str, object: Value) -> AuditEntry {
        AuditEntry {
            extra: Default::default(),
            profile: "p".into(),
            vendor: VendorId::MicroStrategy,
            operation: op.into(),
            kind: Kind::Logins,
            id: id.into(),
            name: format!("login {id}"),
            object,
            impact: None,
        }
    }

    #[test]
    fn a_delete_is_listed_once_with_its_ref_state_and_restore() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("audit.jsonl");
        let log = AuditLog::open(&path).expect("open");
        let a = entry("delete", "L1", json!({"name": "login L1", "username": "u"}));
        // Retried: a 503, then deleted.
        let s1 = log.before(&a).expect("b");
        log.after(s1, &a, "unknown", Some("503")).expect("a");
        let s2 = log.before_attempt(&a, 2, None).expect("b");
        log.after(s2, &a, "deleted", None).expect("a");
        let b = entry("delete", "L2", json!({"name": "login L2"}));
        let s3 = log.before(&b).expect("b");
        log.after(s3, &b, "failed", Some("in use")).expect("a");
        let c = entry("delete", "L3", json!({}));
        log.before(&c).expect("b");
        let list = read(&path).expect("read");
        assert_eq!(list.len(), 2, "{list:?}");
        assert_eq!(list[0].id, "L1");
        assert_eq!(list[0].state, DeleteState::Deleted);
        assert!(list[0].reference.ends_with(&format!(":{s1}")));
        assert_eq!(list[0].object["username"], "u");
        assert_eq!(list[0].restorable(), Ok(vec![]));
        assert_eq!(list[1].state, DeleteState::Unknown);
        assert!(list[1].restorable().is_err(), "nothing saved");

        let mut r = entry("restore", "L1", json!({}));
        r.extra
            .insert("restores".into(), json!(list[0].reference.clone()));
        let s = log.before(&r).expect("b");
        r.extra.insert("restored_id".into(), json!("NEW"));
        log.after(s, &r, "restored", None).expect("a");
        let list = read(&path).expect("read");
        assert_eq!(
            list[0].restored.as_ref().map(|r| r.id.as_str()),
            Some("NEW")
        );
        assert!(list[0]
            .restorable()
            .is_err_and(|e| e.contains("already restored")));
        assert!(read(&dir.path().join("none.jsonl"))
            .expect("missing")
            .is_empty());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_since("7d"), Ok(7 * 86_400));
        assert_eq!(parse_since("12h"), Ok(12 * 3600));
        assert_eq!(parse_since("2w"), Ok(14 * 86_400));
        assert!(parse_since("x").is_err() && parse_since("3y").is_err());
    }
}
