//! Changing objects (rename, new credentials, a new connection or login) with the rules of a
//! delete: a plan shown whole before anything is sent (what changes on which object, what is
//! tested afterwards, what cannot be undone), an audit line before each request (the object
//! before, the change, secrets stripped) and one after, and a report per object equal to the
//! server's state — an answer lost after the server acted is settled by reading the object
//! again, and the test that follows a credential change says whether it took.

use crate::model::{Kind, Ref, Resource, VendorId};
use crate::ops::audit::{AuditEntry, AuditLog};
use crate::ops::request_lines::RequestLines;
use crate::text::sanitize;
use crate::vendors::change::{validate, Change, FieldValue};
use crate::vendors::{request_audit, ApiError, HealthCheck, VendorApi, VendorSpec};
use secrecy::ExposeSecret;
use serde_json::json;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// What is tested after a change to know it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verify {
    /// Nothing that is tested changed (a rename, a description).
    NotNeeded,
    /// The object's own health check (a connection test, Basedash verify).
    Itself,
    /// The health checks of the objects that use it (the connections of a login).
    Users(Vec<Ref>),
    /// The health check of what it uses after the change (a datasource's new connection).
    Uses,
    /// The vendor tests the new credentials before it applies them (Databrain).
    ByServer,
    /// Nothing can test it, and why ("Qlik Cloud has no test endpoint").
    NotVerifiable(String),
}

impl Verify {
    /// "tested after: 2 connections that use it" for the plan.
    pub fn sentence(&self) -> String {
        match self {
            Verify::NotNeeded => "nothing to test (no credential or address changes)".into(),
            Verify::Itself => "tested after: itself".into(),
            Verify::Users(refs) => format!(
                "tested after: {} that use{} it ({})",
                plural(refs.len(), "object"),
                if refs.len() == 1 { "s" } else { "" },
                refs.iter()
                    .map(|r| r.label())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Verify::Uses => "tested after: what it uses once changed".into(),
            Verify::ByServer => "tested by the server before it applies the change".into(),
            Verify::NotVerifiable(why) => format!("not verifiable: {why}"),
        }
    }
}

fn plural(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

/// One object to change.
#[derive(Debug, Clone)]
pub struct ChangeItem {
    pub target: Ref,
    /// The object as last fetched (for the audit line; secrets stripped when written).
    pub before: serde_json::Value,
    pub change: Change,
    pub verify: Verify,
}

/// What will run, as the operator confirms it.
#[derive(Debug, Clone)]
pub struct ChangePlan {
    pub profile: String,
    pub vendor: VendorId,
    /// The tenant (the base URL's host), when the caller knows it: shown in the plan.
    pub tenant: String,
    pub items: Vec<ChangeItem>,
    /// What the plan cannot do or undo, said before anything runs.
    pub notes: Vec<String>,
}

impl ChangePlan {
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn has_secret(&self) -> bool {
        self.items.iter().any(|i| {
            i.change
                .fields
                .iter()
                .any(|c| matches!(c.value, FieldValue::Secret(_)))
        })
    }
}

/// What should be tested after `change` on `r`, from the vendor's health checks and the
/// loaded objects.
fn verify_of(spec: &VendorSpec, r: &Resource, change: &Change, all: &[Resource]) -> Verify {
    if !change.needs_verify((spec.edit_fields)(r.kind)) {
        return Verify::NotNeeded;
    }
    if spec.update_tests_credentials {
        return Verify::ByServer;
    }
    let checked = |k: Kind| spec.health_checks.iter().any(|(c, _)| *c == k);
    if checked(r.kind) {
        return Verify::Itself;
    }
    let users: Vec<Ref> = all
        .iter()
        .filter(|o| checked(o.kind))
        .filter(|o| {
            o.depends_on
                .iter()
                .any(|d| d.kind == r.kind && d.id == r.id)
        })
        .map(Resource::as_ref)
        .collect();
    if !users.is_empty() {
        return Verify::Users(users);
    }
    if r.depends_on.iter().any(|d| checked(d.kind)) {
        return Verify::Uses;
    }
    Verify::NotVerifiable(if spec.health_checks.is_empty() {
        format!("{} has no test endpoint", spec.vendor.display())
    } else {
        format!(
            "nothing {} can test uses this {}",
            spec.vendor.display(),
            r.kind.singular()
        )
    })
}

/// The id of `r`'s owner, where its vendor's `owner` edit field says it is.
fn owner_id_of(spec: &VendorSpec, r: &Resource) -> Option<String> {
    let field = (spec.edit_fields)(r.kind)
        .iter()
        .find(|f| f.name == "owner" && !f.pointer.is_empty())?;
    r.raw.pointer_str(field.pointer)
}

/// Whether `who` (a name, email or id, case ignored) names the owner of `r`: its owner's
/// name as listed, its id, or the name or email in its JSON. Shared by the owner
/// resolution of a plan and `owned-by`.
pub fn owned_by(spec: &VendorSpec, r: &Resource, who: &str) -> bool {
    let who = who.trim();
    if who.is_empty() {
        return false;
    }
    let eq = |s: Option<String>| s.is_some_and(|s| s.trim().eq_ignore_ascii_case(who));
    eq(r.owner.as_deref().map(str::to_string))
        || eq(owner_id_of(spec, r))
        || ["/owner/name", "/owner/email"]
            .iter()
            .any(|p| eq(r.raw.pointer_str(p)))
}

/// The id of the user `who` (a name, email or id, case ignored) names, from the owners of
/// the loaded objects: a transfer to someone who owns anything in the profile needs no id.
pub fn owner_id(spec: &VendorSpec, all: &[Resource], who: &str) -> Option<String> {
    all.iter()
        .filter(|r| owned_by(spec, r, who))
        .find_map(|r| owner_id_of(spec, r))
}

/// Plan `changes` (object and change) of one profile: each change checked against what the
/// vendor lets a client change, what is tested afterwards, and the notes the operator must
/// read first.
pub fn plan(
    spec: &VendorSpec,
    profile: &str,
    all: &[Resource],
    changes: Vec<(Ref, Change)>,
) -> Result<ChangePlan, String> {
    let mut items = Vec::new();
    let mut resolved: Vec<String> = Vec::new();
    for (target, mut change) in changes {
        // A new owner named by name or email: the id, from the objects that person owns.
        if let Some(who) = change.text("owner").map(str::to_string) {
            match owner_id(spec, all, &who) {
                Some(id) => {
                    if !id.eq_ignore_ascii_case(who.trim()) {
                        resolved.push(format!("owner '{who}' is user {id}"));
                    }
                    change = change.set("owner", FieldValue::Text(id));
                }
                None => resolved.push(format!(
                    "owner '{who}' owns no loaded object: it goes to {} as given",
                    spec.vendor.display()
                )),
            }
        }
        let r = all
            .iter()
            .find(|r| r.kind == target.kind && r.id == target.id)
            .ok_or_else(|| format!("{} ({}) is not loaded", target.label(), target.id))?;
        let what = format!("{} {}", spec.vendor.display(), r.kind);
        validate(&change, (spec.edit_fields)(r.kind), &what)
            .map_err(|e| format!("{}: {e}", r.as_ref().label()))?;
        items.push(ChangeItem {
            target: r.as_ref(),
            before: r.raw.value(),
            verify: verify_of(spec, r, &change, all),
            change,
        });
    }
    let mut plan = ChangePlan {
        profile: profile.to_string(),
        vendor: spec.vendor,
        tenant: String::new(),
        items,
        notes: Vec::new(),
    };
    resolved.dedup();
    plan.notes.extend(resolved);
    // What the changed fields do not carry over or may break, once each.
    for item in &plan.items {
        for c in &item.change.fields {
            let note = (spec.edit_fields)(item.target.kind)
                .iter()
                .find(|f| f.name == c.field)
                .map(|f| f.note)
                .unwrap_or("");
            if !note.is_empty() && !plan.notes.iter().any(|n| n == note) {
                plan.notes.push(note.to_string());
            }
        }
    }
    if plan.has_secret() {
        plan.notes.push(
            "a new secret replaces the old one: dsconsole never knew the old one and cannot put it back"
                .into(),
        );
    }
    if plan
        .items
        .iter()
        .any(|i| matches!(i.verify, Verify::NotVerifiable(_)))
    {
        plan.notes.push(format!(
            "{} cannot test some of these changes: they are reported changed, not verified",
            spec.vendor.display()
        ));
    }
    Ok(plan)
}

/// The plan as lines for a terminal: every object with its change and what is tested,
/// then the notes. Sanitized (names are server text).
pub fn plan_text(plan: &ChangePlan) -> String {
    let tenant = if plan.tenant.is_empty() {
        String::new()
    } else {
        format!(", {}", sanitize(&plan.tenant))
    };
    let mut out = format!(
        "Change {} in profile '{}' ({}{tenant}):\n",
        plural(plan.items.len(), "object"),
        sanitize(&plan.profile),
        plan.vendor.display()
    );
    for (n, i) in plan.items.iter().enumerate() {
        out.push_str(&format!(
            "  {}. {}  {}\n       {}\n       {}\n",
            n + 1,
            sanitize(&i.target.label()),
            sanitize(&i.target.id),
            sanitize(&i.change.summary()),
            sanitize(&i.verify.sentence())
        ));
    }
    for note in &plan.notes {
        out.push_str(&format!("  ! {}\n", sanitize(note)));
    }
    out
}

/// How a change ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeOutcome {
    NotStarted,
    /// Applied; what the test after it said.
    Changed(Verification),
    /// Refused or failed, in the vendor's words; nothing changed.
    Failed(String),
    /// The answer was lost and reading the object again could not tell.
    Unknown(String),
}

impl ChangeOutcome {
    pub fn word(&self) -> &'static str {
        match self {
            ChangeOutcome::NotStarted => "not started",
            ChangeOutcome::Changed(Verification::Failed(_)) => "changed, test failed",
            ChangeOutcome::Changed(Verification::Passed(_)) => "changed, verified",
            ChangeOutcome::Changed(_) => "changed",
            ChangeOutcome::Failed(_) => "failed",
            ChangeOutcome::Unknown(_) => "unknown",
        }
    }

    /// The change is in place and nothing after it failed.
    pub fn is_success(&self) -> bool {
        matches!(self, ChangeOutcome::Changed(v) if !matches!(v, Verification::Failed(_)))
    }
}

/// What the test after a change said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    NotNeeded,
    /// Every test passed: what was tested.
    Passed(Vec<String>),
    /// Some test failed: what, and the vendor's reason.
    Failed(Vec<(String, String)>),
    ByServer,
    NotVerifiable(String),
}

impl Verification {
    pub fn sentence(&self) -> String {
        match self {
            Verification::NotNeeded => "nothing to test".into(),
            Verification::Passed(what) => format!(
                "verified: {} passed — {}",
                plural(what.len(), "test"),
                what.join(", ")
            ),
            Verification::Failed(fails) => format!(
                "test failed: {}",
                fails
                    .iter()
                    .map(|(what, why)| format!("{what}: {why}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            Verification::ByServer => "verified: the server tested the credentials".into(),
            Verification::NotVerifiable(why) => format!("not verifiable: {why}"),
        }
    }
}

/// Remove every secret value of `change` from `text` (a server that echoes what it was sent
/// must not put a password into an error, the report or the audit log).
fn scrub(text: &str, change: &Change) -> String {
    let mut out = text.to_string();
    for c in &change.fields {
        if let FieldValue::Secret(s) = &c.value {
            let s = s.expose_secret();
            if s.len() >= 3 {
                out = out.replace(s, "[redacted]");
            }
        }
    }
    out
}

/// Run the health check of each of `refs`.
async fn run_tests(client: &dyn VendorApi, refs: Vec<Ref>) -> Verification {
    let mut passed = Vec::new();
    let mut failed = Vec::new();
    for r in refs {
        let what = r.label();
        match client.check_health(r).await {
            Ok(HealthCheck::Passed { check, .. }) => {
                passed.push(format!("{what} ({})", check.noun()))
            }
            Ok(HealthCheck::Failed { reason, .. }) => failed.push((what, reason)),
            Ok(HealthCheck::Running { progress, .. }) => {
                failed.push((what, format!("still running ({progress})")))
            }
            Ok(HealthCheck::NotOffered) => {}
            Err(e) => failed.push((what, format!("could not be tested: {e}"))),
        }
    }
    if !failed.is_empty() {
        Verification::Failed(failed)
    } else if passed.is_empty() {
        Verification::NotVerifiable("no test answered".into())
    } else {
        Verification::Passed(passed)
    }
}

async fn verify(
    client: &dyn VendorApi,
    item: &ChangeItem,
    after: Option<&Resource>,
) -> Verification {
    match &item.verify {
        Verify::NotNeeded => Verification::NotNeeded,
        Verify::ByServer => Verification::ByServer,
        Verify::NotVerifiable(why) => Verification::NotVerifiable(why.clone()),
        Verify::Itself => run_tests(client, vec![item.target.clone()]).await,
        Verify::Users(refs) => run_tests(client, refs.clone()).await,
        Verify::Uses => {
            let uses: Vec<Ref> = after.map(|a| a.depends_on.clone()).unwrap_or_default();
            run_tests(client, uses).await
        }
    }
}

/// Whether the text fields of `change` are what `now` holds (the request was applied).
fn text_fields_applied(spec: &VendorSpec, item: &ChangeItem, now: &Resource) -> Option<bool> {
    let fields = (spec.edit_fields)(item.target.kind);
    let mut any = false;
    for c in &item.change.fields {
        let (Some(f), FieldValue::Text(want)) =
            (fields.iter().find(|f| f.name == c.field), &c.value)
        else {
            continue;
        };
        if f.pointer.is_empty() {
            continue;
        }
        any = true;
        if now.raw.pointer_str(f.pointer).as_deref() != Some(want.as_str()) {
            return Some(false);
        }
    }
    any.then_some(true)
}

/// The answer to a change was lost (a timeout, a 5xx after the server may have acted) and
/// sending it again did not get one either: read the object again. Its text fields tell
/// whether the request was applied; a change of secrets alone cannot be read back: unknown.
async fn settle(
    client: &dyn VendorApi,
    spec: &VendorSpec,
    item: &ChangeItem,
    lost: &ApiError,
) -> ChangeOutcome {
    let lost = scrub(&lost.to_string(), &item.change);
    let now = match client.get(item.target.clone()).await {
        Ok(now) => now,
        Err(e) => {
            return ChangeOutcome::Unknown(format!(
                "the answer was lost ({lost}) and reading the object again failed: {e}"
            ))
        }
    };
    match text_fields_applied(spec, item, &now) {
        Some(true) => ChangeOutcome::Changed(verify(client, item, Some(&now)).await),
        Some(false) => {
            ChangeOutcome::Failed(format!("{lost} (read again: the server did not apply it)"))
        }
        // A secret alone cannot be read back, and a passing test does not tell the new
        // secret from the old one (the database may accept both for a while).
        None => ChangeOutcome::Unknown(format!(
            "the answer was lost ({lost}); a secret cannot be read back: test the objects \
             that use it, or change it again (sending it again is harmless)"
        )),
    }
}

/// Requests per object before a transient failure is final.
const ATTEMPTS: u32 = 3;
/// The wait before sending again grows by this much per attempt (a 429's Retry-After wins).
const RETRY_WAIT: std::time::Duration = std::time::Duration::from_millis(300);
const MAX_RETRY_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Run a confirmed plan, one object after another, until `cancel` fires (what has not
/// started then is `NotStarted`). `each` hears every outcome as it is known.
pub async fn execute(
    client: Arc<dyn VendorApi>,
    spec: &'static VendorSpec,
    audit: Arc<AuditLog>,
    plan: &ChangePlan,
    cancel: CancellationToken,
    mut each: impl FnMut(usize, &ChangeOutcome),
) -> Vec<ChangeOutcome> {
    let mut outcomes = vec![ChangeOutcome::NotStarted; plan.items.len()];
    let lines = RequestLines::new(audit.clone());
    for (n, item) in plan.items.iter().enumerate() {
        if cancel.is_cancelled() {
            break;
        }
        let entry = AuditEntry {
            extra: Default::default(),
            profile: plan.profile.clone(),
            vendor: plan.vendor,
            operation: "update".into(),
            kind: item.target.kind,
            id: item.target.id.to_string(),
            name: item.target.name.to_string(),
            object: json!({"before": item.before, "change": item.change.shown()}),
            impact: None,
        };
        // Every change is an absolute value ("replace"), so sending it again is harmless:
        // a transient failure (429, 5xx, a lost connection) is sent again, up to
        // `ATTEMPTS` times; each request has its own audit lines.
        let mut attempt = 0;
        let (outcome, word, error, seq) = loop {
            attempt += 1;
            let seq = match lines.begin(n, &entry) {
                Ok(seq) => seq,
                Err(e) => {
                    let why = format!("audit log not writable; not sent: {e}");
                    break (ChangeOutcome::Failed(why), "", None, None);
                }
            };
            let sent = request_audit::scoped(
                lines.scope(vec![n]),
                client.update(item.target.clone(), item.change.clone()),
            )
            .await;
            match sent {
                Ok(after) => {
                    let v = verify(client.as_ref(), item, Some(&after)).await;
                    break (ChangeOutcome::Changed(v), "changed", None, Some(seq));
                }
                Err(e) if e.is_transient() && attempt < ATTEMPTS && !cancel.is_cancelled() => {
                    let why = scrub(&e.to_string(), &item.change);
                    // A 429 was refused before anything happened; a 5xx or a lost
                    // connection may have been applied: this attempt's outcome is unknown
                    // (the next request, or reading the object again, settles it).
                    let attempt_word = if matches!(e, ApiError::Http { status: 429, .. }) {
                        "failed"
                    } else {
                        "unknown"
                    };
                    if let Err(err) = audit.after(seq, &entry, attempt_word, Some(&why)) {
                        tracing::error!("audit log write failed after update: {err}");
                    }
                    lines.finish(n, attempt_word, Some(&why));
                    let wait = e
                        .retry_after()
                        .unwrap_or(RETRY_WAIT * attempt)
                        .min(MAX_RETRY_WAIT);
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = cancel.cancelled() => {}
                    }
                }
                Err(e) if e.is_transient() && !matches!(e, ApiError::Http { status: 429, .. }) => {
                    let settled = settle(client.as_ref(), spec, item, &e).await;
                    let word = match &settled {
                        ChangeOutcome::Changed(_) => "changed",
                        ChangeOutcome::Failed(_) => "failed",
                        _ => "unknown",
                    };
                    break (
                        settled,
                        word,
                        Some(scrub(&e.to_string(), &item.change)),
                        Some(seq),
                    );
                }
                Err(e) => {
                    let why = scrub(&e.to_string(), &item.change);
                    break (
                        ChangeOutcome::Failed(why.clone()),
                        "failed",
                        Some(why),
                        Some(seq),
                    );
                }
            }
        };
        if let Some(seq) = seq {
            if let Err(e) = audit.after(seq, &entry, word, error.as_deref()) {
                tracing::error!("audit log write failed after update: {e}");
            }
            lines.finish(n, word, error.as_deref());
        }
        outcomes[n] = outcome;
        each(n, &outcomes[n]);
    }
    outcomes
}

/// The report: one line per object (what happened) and one with the detail (the test, the
/// vendor's words). Sanitized.
pub fn report_text(plan: &ChangePlan, outcomes: &[ChangeOutcome]) -> String {
    let mut out = String::new();
    for (item, o) in plan.items.iter().zip(outcomes) {
        out.push_str(&format!(
            "{:<20} {}  {}\n",
            o.word(),
            sanitize(&item.target.label()),
            sanitize(&item.target.id)
        ));
        let detail = match o {
            ChangeOutcome::NotStarted => None,
            ChangeOutcome::Changed(v) => Some(v.sentence()),
            ChangeOutcome::Failed(why) | ChangeOutcome::Unknown(why) => Some(why.clone()),
        };
        if let Some(d) = detail {
            for line in crate::text::sanitize_lines(&d) {
                out.push_str(&format!("                     {line}\n"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::VendorId;

    #[test]
    fn a_field_with_a_note_says_it_in_the_plan_once() {
        let mut a = Resource::new(VendorId::Qlik, "q", Kind::Connections, "c1", "Sales");
        a.raw = serde_json::json!({"id": "c1", "qName": "Sales", "user": "u1"}).into();
        let mut b = a.clone();
        b.id = "c2".into();
        let all = vec![a.clone(), b.clone()];
        let owner = || Change::default().set("owner", FieldValue::Text("u2".into()));
        let plan = plan(
            &crate::vendors::qlik::SPEC,
            "q",
            &all,
            vec![(a.as_ref(), owner()), (b.as_ref(), owner())],
        )
        .expect("plan");
        let notes: Vec<&String> = plan
            .notes
            .iter()
            .filter(|n| n.contains("does not transfer"))
            .collect();
        assert_eq!(notes.len(), 1, "{:?}", plan.notes);
        assert!(plan_text(&plan).contains("! Qlik Cloud does not transfer"));
        assert_eq!(plan.items[0].verify, Verify::NotNeeded);
    }
}
