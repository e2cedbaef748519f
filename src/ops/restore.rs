//! Restoring deleted objects from the JSON the audit log saved of them, with the rules of a
//! delete: a plan shown whole before anything is sent (each object, in creation order, what
//! it is wired to, what cannot come back, the secrets asked for), an audit line before each
//! request and one after (operation "restore", `restores` naming the delete's audit ref,
//! `restored_id` the new id), and a report per object equal to the server's state: a restored
//! object is read back; an answer lost after the server may have acted is settled by looking
//! for it by name, never by creating it twice.

use crate::model::{Kind, Resource, VendorId};
use crate::ops::audit::{AuditEntry, AuditLog};
use crate::ops::deleted::DeletedObject;
use crate::ops::request_lines::RequestLines;
use crate::text::sanitize;
use crate::vendors::change::SECRET_SHOWN;
use crate::vendors::restore::{recreate, Link, Recreate};
use crate::vendors::{request_audit, ApiError, VendorApi, VendorSpec};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// How a reference of an object to restore is satisfied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wiring {
    /// Restored earlier in this plan (the item's index): its new id goes in.
    InPlan(usize),
    /// Still there under its id.
    Exists,
    /// Gone under its id, found by its name under this one.
    ByName(String),
}

/// One object to re-create.
#[derive(Debug, Clone)]
pub struct RestoreItem {
    pub deleted: DeletedObject,
    pub recreate: Recreate,
    /// One per `recreate.links`.
    pub wiring: Vec<Wiring>,
    /// An object of the same name exists now (its id): the server will refuse it.
    pub clash: Option<String>,
}

impl RestoreItem {
    fn label(&self) -> String {
        format!("{} '{}'", self.deleted.kind.singular(), self.deleted.name)
    }

    /// The new id of each link, from the outcomes so far.
    fn id_of(&self, link: &Link, outcomes: &[RestoreOutcome]) -> Option<String> {
        let i = self.recreate.links.iter().position(|l| l == link)?;
        match self.wiring.get(i)? {
            Wiring::InPlan(j) => match outcomes.get(*j) {
                Some(RestoreOutcome::Restored(r)) => Some(r.id.to_string()),
                _ => None,
            },
            Wiring::Exists => None,
            Wiring::ByName(id) => Some(id.clone()),
        }
    }
}

/// What will run, as the operator confirms it.
#[derive(Debug, Clone)]
pub struct RestorePlan {
    pub profile: String,
    pub vendor: VendorId,
    pub tenant: String,
    /// In creation order (a login before its connection before its datasource).
    pub items: Vec<RestoreItem>,
    /// Asked for but not restorable, and why (nothing is sent for them).
    pub refused: Vec<(DeletedObject, String)>,
    /// The ids of every object there before the restore (kind, id): an object found by name
    /// after a lost answer is ours only if it is not one of these.
    pub existing: HashSet<(Kind, String)>,
}

impl RestorePlan {
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The secret fields the plan needs ("password"), once each.
    pub fn secret_fields(&self) -> Vec<&'static str> {
        let mut out: Vec<&'static str> = Vec::new();
        for i in &self.items {
            for s in &i.recreate.secrets {
                if !out.contains(&s.field) {
                    out.push(s.field);
                }
            }
        }
        out
    }
}

/// Plan the restore of `asked` (deleted objects of one profile) against what the profile
/// holds now (`all`). `known` is every deleted object the audit log knows, to say which ref
/// restores a missing reference.
pub fn plan(
    spec: &VendorSpec,
    profile: &str,
    asked: Vec<DeletedObject>,
    all: &[Resource],
    known: &[DeletedObject],
    sets: &[(String, String)],
) -> Result<RestorePlan, String> {
    let mut p = RestorePlan {
        profile: profile.to_string(),
        vendor: spec.vendor,
        tenant: String::new(),
        items: Vec::new(),
        refused: Vec::new(),
        existing: all.iter().map(|r| (r.kind, r.id.to_string())).collect(),
    };
    // Creation order: the reverse of the delete order.
    let rank = |k: Kind| {
        spec.delete_order
            .iter()
            .rev()
            .position(|d| *d == k)
            .unwrap_or(usize::MAX)
    };
    let mut asked = asked;
    asked.sort_by_key(|d| rank(d.kind));
    let mut seen = HashSet::new();
    for d in asked {
        if !seen.insert(d.reference.clone()) {
            continue;
        }
        if let Some(r) = &d.restored {
            let why = format!("already restored as {} ({})", r.id, r.reference);
            p.refused.push((d, why));
            continue;
        }
        let mut rec = match recreate(&d.saved()) {
            Ok(r) => r,
            Err(why) => {
                p.refused.push((d, format!("cannot be restored: {why}")));
                continue;
            }
        };
        rec.apply_set(sets)?;
        if !rec.required.is_empty() {
            let why = format!(
                "the saved JSON lacks what {} needs to create it: give {}",
                spec.vendor.display(),
                rec.required
                    .iter()
                    .map(|f| format!("--set {f}=…"))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
            p.refused.push((d, why));
            continue;
        }
        let mut wiring = Vec::new();
        let mut missing = None;
        for l in &rec.links {
            let in_plan = p
                .items
                .iter()
                .position(|i| i.deleted.kind == l.kind && i.deleted.id == l.id);
            let w = if let Some(j) = in_plan {
                Wiring::InPlan(j)
            } else if all.iter().any(|r| r.kind == l.kind && r.id == l.id) {
                Wiring::Exists
            } else if let Some(r) = all.iter().find(|r| r.kind == l.kind && r.name == l.name) {
                Wiring::ByName(r.id.to_string())
            } else {
                let by = known
                    .iter()
                    .rev()
                    .find(|k| k.kind == l.kind && k.id == l.id && k.restored.is_none())
                    .map(|k| format!(": restore it too ({})", k.reference))
                    .unwrap_or_default();
                missing = Some(format!(
                    "its {} '{}' ({}) no longer exists{by}",
                    l.kind.singular(),
                    l.name,
                    l.id
                ));
                break;
            };
            wiring.push(w);
        }
        if let Some(why) = missing {
            p.refused.push((d, why));
            continue;
        }
        // Names are unique where it lived (a Qlik space, a Basedash organization).
        let clash = all
            .iter()
            .find(|r| {
                r.kind == d.kind
                    && r.name == rec.name
                    && (d.container.is_none() || r.container.as_deref() == d.container.as_deref())
            })
            .map(|r| r.id.to_string());
        if let (Some(id), false) = (&clash, rec.names_unique) {
            let why = format!(
                "a {} named '{}' exists already ({id}): not re-created (the server would \
                 keep both)",
                d.kind.singular(),
                rec.name
            );
            p.refused.push((d, why));
            continue;
        }
        p.items.push(RestoreItem {
            deleted: d,
            recreate: rec,
            wiring,
            clash,
        });
    }
    Ok(p)
}

/// The plan as lines for a terminal. Sanitized (names are server text).
pub fn plan_text(plan: &RestorePlan) -> String {
    let tenant = if plan.tenant.is_empty() {
        String::new()
    } else {
        format!(", {}", sanitize(&plan.tenant))
    };
    let mut out = if plan.items.is_empty() {
        format!(
            "Nothing to restore in profile '{}' ({}{tenant}):\n",
            sanitize(&plan.profile),
            plan.vendor.display()
        )
    } else {
        format!(
            "Restore {} object(s) in profile '{}' ({}{tenant}), in this order:\n",
            plan.items.len(),
            sanitize(&plan.profile),
            plan.vendor.display()
        )
    };
    // What cannot come back for every object, said once after them.
    let common: Vec<&String> = match plan.items.first() {
        Some(first) => first
            .recreate
            .lost
            .iter()
            .filter(|l| plan.items.iter().all(|i| i.recreate.lost.contains(l)))
            .collect(),
        None => Vec::new(),
    };
    for (n, i) in plan.items.iter().enumerate() {
        let where_ = i
            .deleted
            .container
            .as_deref()
            .map(|c| format!(" in '{}'", sanitize(c)))
            .unwrap_or_default();
        out.push_str(&format!(
            "  {}. {}{where_}  (was {}, deleted {}, {})\n",
            n + 1,
            sanitize(&i.label()),
            sanitize(&i.deleted.id),
            sanitize(&i.deleted.time),
            sanitize(&i.deleted.reference)
        ));
        for (l, w) in i.recreate.links.iter().zip(&i.wiring) {
            let how = match w {
                Wiring::InPlan(j) => format!("the one restored at {} (its new id)", j + 1),
                Wiring::Exists => format!("it still exists ({})", l.id),
                Wiring::ByName(id) => format!("found by name, now {id}"),
            };
            out.push_str(&format!(
                "       uses {} '{}': {}\n",
                l.kind.singular(),
                sanitize(&l.name),
                sanitize(&how)
            ));
        }
        for s in &i.recreate.secrets {
            out.push_str(&format!("       asks for: {}\n", s.field));
        }
        if let Some(id) = &i.clash {
            out.push_str(&format!(
                "       ! an object of this name exists ({}): the server will refuse it\n",
                sanitize(id)
            ));
        }
        for l in i.recreate.lost.iter().filter(|l| !common.contains(l)) {
            out.push_str(&format!("       cannot come back: {}\n", sanitize(l)));
        }
    }
    if !common.is_empty() {
        out.push_str(&format!(
            "  ! cannot come back for {}:\n",
            if plan.items.len() == 1 {
                "it"
            } else {
                "any of them"
            }
        ));
        for l in &common {
            out.push_str(&format!("      - {}\n", sanitize(l)));
        }
    }
    for (d, why) in &plan.refused {
        out.push_str(&format!(
            "  - {} '{}' ({}): {}\n",
            d.kind.singular(),
            sanitize(&d.name),
            sanitize(&d.reference),
            sanitize(why)
        ));
    }
    out
}

/// How one restore ended.
#[derive(Debug, Clone, PartialEq)]
pub enum RestoreOutcome {
    NotStarted,
    /// Re-created: the object as the server has it now.
    Restored(Box<Resource>),
    /// Refused (a name clash, a failed credential test) in the vendor's words, or not sent.
    Failed(String),
    /// Not sent: something it uses was not restored.
    Skipped(String),
    /// The answer was lost and looking for it could not tell.
    Unknown(String),
}

impl RestoreOutcome {
    pub fn word(&self) -> &'static str {
        match self {
            RestoreOutcome::NotStarted => "not started",
            RestoreOutcome::Restored(_) => "restored",
            RestoreOutcome::Failed(_) => "failed",
            RestoreOutcome::Skipped(_) => "skipped",
            RestoreOutcome::Unknown(_) => "unknown",
        }
    }
}

/// Remove `secrets` from `text` (a server that echoes the body must not put a password into
/// the report or the audit log).
fn scrub(text: &str, secrets: &[SecretString]) -> String {
    let mut out = text.to_string();
    for s in secrets {
        let s = s.expose_secret();
        if s.len() >= 3 {
            out = out.replace(s, "[redacted]");
        }
    }
    out
}

/// Requests per object before a transient failure is final.
const ATTEMPTS: u32 = 3;
const RETRY_WAIT: std::time::Duration = std::time::Duration::from_millis(300);
const MAX_RETRY_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Whether a failed create may have been applied: no answer, a 5xx, or a 2xx the client
/// could not read.
fn may_have_acted(e: &ApiError) -> bool {
    match e {
        ApiError::Http { status, .. } => *status >= 500,
        ApiError::Transport { .. } | ApiError::Decode { .. } => true,
        _ => false,
    }
}

/// After a lost answer: look for the object by name among what was not there before.
/// `Ok(Some)`: the server created it; `Ok(None)`: it did not; `Err`: cannot tell.
async fn find_by_name(
    client: &dyn VendorApi,
    plan: &RestorePlan,
    item: &RestoreItem,
) -> Result<Option<Resource>, ApiError> {
    let snap = client.load().await?;
    Ok(snap.resources.into_iter().find(|r| {
        r.kind == item.deleted.kind
            && r.name == item.recreate.name
            && !plan.existing.contains(&(r.kind, r.id.to_string()))
    }))
}

/// Read the re-created object back (the report shows the server's state); what create
/// returned when the read fails.
async fn reread(client: &dyn VendorApi, r: Resource) -> Resource {
    match client.get(r.as_ref()).await {
        Ok(now) => now,
        Err(e) => {
            tracing::warn!("restore: reading {} back failed: {e}", r.name);
            r
        }
    }
}

/// Run a confirmed plan, one object after another in creation order, until `cancel` fires.
/// `secret_of` gives each secret field's value. `each` hears every outcome as it is known.
pub async fn execute(
    client: Arc<dyn VendorApi>,
    audit: Arc<AuditLog>,
    plan: &RestorePlan,
    secret_of: &(dyn Fn(&str) -> Option<SecretString> + Sync),
    cancel: CancellationToken,
    mut each: impl FnMut(usize, &RestoreOutcome),
) -> Vec<RestoreOutcome> {
    let mut outcomes = vec![RestoreOutcome::NotStarted; plan.items.len()];
    let lines = RequestLines::new(audit.clone());
    for (n, item) in plan.items.iter().enumerate() {
        if cancel.is_cancelled() {
            break;
        }
        let outcome = restore_one(
            client.as_ref(),
            &audit,
            &lines,
            plan,
            n,
            item,
            &outcomes,
            secret_of,
            &cancel,
        )
        .await;
        outcomes[n] = outcome;
        each(n, &outcomes[n]);
    }
    outcomes
}

#[allow(clippy::too_many_arguments)]
async fn restore_one(
    client: &dyn VendorApi,
    audit: &AuditLog,
    lines: &Arc<RequestLines>,
    plan: &RestorePlan,
    n: usize,
    item: &RestoreItem,
    outcomes: &[RestoreOutcome],
    secret_of: &(dyn Fn(&str) -> Option<SecretString> + Sync),
    cancel: &CancellationToken,
) -> RestoreOutcome {
    // Something it uses was to be restored first and was not.
    for w in &item.wiring {
        if let Wiring::InPlan(j) = w {
            if !matches!(outcomes.get(*j), Some(RestoreOutcome::Restored(_))) {
                let dep = &plan.items[*j];
                return RestoreOutcome::Skipped(format!(
                    "not sent: {} was not restored",
                    dep.label()
                ));
            }
        }
    }
    let id_of = |l: &Link| item.id_of(l, outcomes);
    let body = match item.recreate.body_with(&id_of, secret_of) {
        Ok(b) => b,
        Err(why) => return RestoreOutcome::Failed(format!("not sent: {why}")),
    };
    let secrets: Vec<SecretString> = item
        .recreate
        .secrets
        .iter()
        .filter_map(|s| secret_of(s.field))
        .collect();
    let shown = item
        .recreate
        .body_with(&id_of, &|_| Some(SecretString::from(SECRET_SHOWN)))
        .unwrap_or(Value::Null);
    let mut extra = serde_json::Map::new();
    extra.insert("restores".into(), json!(item.deleted.reference));
    if let Some(c) = &item.deleted.container {
        extra.insert("container".into(), json!(c));
    }
    let entry = AuditEntry {
        profile: plan.profile.clone(),
        vendor: plan.vendor,
        operation: "restore".into(),
        kind: item.deleted.kind,
        id: item.deleted.id.clone(),
        name: item.deleted.name.clone(),
        object: json!({"saved": item.deleted.object, "body": shown}),
        impact: None,
        extra,
    };
    let close = |seq: u64, word: &str, new_id: Option<&str>, error: Option<&str>| {
        let mut e = entry.clone();
        if let Some(id) = new_id {
            e.extra.insert("restored_id".into(), json!(id));
        }
        if let Err(err) = audit.after(seq, &e, word, error) {
            tracing::error!("audit log write failed after restore: {err}");
        }
        lines.finish(n, word, error);
    };
    let mut attempt = 0;
    loop {
        attempt += 1;
        let seq = match lines.begin(n, &entry) {
            Ok(seq) => seq,
            Err(e) => {
                return RestoreOutcome::Failed(format!("audit log not writable; not sent: {e}"))
            }
        };
        let sent = request_audit::scoped(
            lines.scope(vec![n]),
            client.recreate(
                item.deleted.kind,
                item.recreate.container.clone(),
                body.clone(),
            ),
        )
        .await;
        let e = match sent {
            Ok(r) => {
                close(seq, "restored", Some(&r.id), None);
                return RestoreOutcome::Restored(Box::new(reread(client, r).await));
            }
            Err(e) => e,
        };
        let why = scrub(&e.to_string(), &secrets);
        if matches!(e, ApiError::Http { status: 429, .. }) {
            // Refused before anything happened.
            close(seq, "failed", None, Some(&why));
            if attempt >= ATTEMPTS || cancel.is_cancelled() {
                return RestoreOutcome::Failed(why);
            }
        } else if may_have_acted(&e) {
            // The server may have created it: look for it, never create it twice.
            match find_by_name(client, plan, item).await {
                Ok(Some(found)) => {
                    let note = format!("{why} (found by name: the server had created it)");
                    close(seq, "restored", Some(&found.id), Some(&note));
                    return RestoreOutcome::Restored(Box::new(reread(client, found).await));
                }
                Ok(None) => {
                    let note = format!("{why} (looked for by name: not created)");
                    close(seq, "failed", None, Some(&note));
                    if attempt >= ATTEMPTS || cancel.is_cancelled() {
                        return RestoreOutcome::Failed(note);
                    }
                }
                Err(read) => {
                    let note = format!(
                        "the answer was lost ({why}) and looking for it by name failed: \
                         {read}; see `dsconsole deleted` and `list` before restoring it again"
                    );
                    close(seq, "unknown", None, Some(&note));
                    return RestoreOutcome::Unknown(note);
                }
            }
        } else {
            close(seq, "failed", None, Some(&why));
            return RestoreOutcome::Failed(why);
        }
        let wait = e
            .retry_after()
            .unwrap_or(RETRY_WAIT * attempt)
            .min(MAX_RETRY_WAIT);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = cancel.cancelled() => {}
        }
        if cancel.is_cancelled() {
            return RestoreOutcome::Failed(format!("{why}; cancelled before it was sent again"));
        }
    }
}

/// The report: one line per object (what happened, its new id), one with the detail.
/// Sanitized.
pub fn report_text(plan: &RestorePlan, outcomes: &[RestoreOutcome]) -> String {
    let mut out = String::new();
    for (item, o) in plan.items.iter().zip(outcomes) {
        let (id, detail) = match o {
            RestoreOutcome::Restored(r) => (
                r.id.to_string(),
                Some(format!(
                    "was {} ({}); now {} '{}'",
                    item.deleted.id,
                    item.deleted.reference,
                    r.kind.singular(),
                    r.name
                )),
            ),
            RestoreOutcome::NotStarted => (item.deleted.id.clone(), None),
            RestoreOutcome::Failed(w) | RestoreOutcome::Skipped(w) | RestoreOutcome::Unknown(w) => {
                (item.deleted.id.clone(), Some(w.clone()))
            }
        };
        out.push_str(&format!(
            "{:<13} {}  {}\n",
            o.word(),
            sanitize(&item.label()),
            sanitize(&id)
        ));
        if let Some(d) = detail {
            for line in crate::text::sanitize_lines(&d) {
                out.push_str(&format!("              {line}\n"));
            }
        }
    }
    out
}
