//! Impact in the console: `i` computes what deleting the marked (or current) rows breaks;
//! the delete confirmation waits for the impact of every object of its plan (progress
//! shown, Esc cancels and deletes nothing). Answers are kept per tab with their time and
//! shown in the Impact column and the detail pane.

use super::effect::Effect;
use super::marks::selection;
use super::modals::confirm;
use super::state::*;
use crate::impact::{targets_for, Impact, Totals};
use crate::model::{Kind, Ref};
use crate::ops::plan::DeletePlan;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// How long an answer is reused by the confirmation without asking again.
pub const FRESH_SECS: i64 = 300;

fn fresh(i: Option<&Impact>, now: i64) -> bool {
    i.is_some_and(|i| now - i.at < FRESH_SECS)
}

/// Seconds left for an impact job: from the pace seen so far, and never less than the
/// vendor's own limit allows (Qlik: 20 a minute). `None` before anything can be said.
pub fn eta_secs(
    spec: Option<&crate::vendors::VendorSpec>,
    total: usize,
    done: usize,
    elapsed: i64,
) -> Option<i64> {
    let left = total.saturating_sub(done) as i64;
    let seen = (done > 0).then(|| left * elapsed / done as i64);
    let paced = spec
        .and_then(|s| s.impact_per_minute)
        .filter(|n| *n > 0)
        .map(|n| left * 60 / i64::from(n));
    match (seen, paced) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// `i`: compute the impact of the marked rows, or of the current one.
pub fn run_for_selection(m: &mut Model) -> Vec<Effect> {
    let p = m.active;
    let Some(tab) = m.profiles.get(p) else {
        return Vec::new();
    };
    let wanted: HashSet<(Kind, String)> = selection(tab).into_iter().collect();
    run_for(m, p, wanted).1
}

/// Compute the impact of the `wanted` objects of profile `p` (those not being computed
/// already): how many were asked, and the effects.
pub fn run_for(m: &mut Model, p: usize, wanted: HashSet<(Kind, String)>) -> (usize, Vec<Effect>) {
    let Some(tab) = m.profiles.get(p) else {
        return (0, Vec::new());
    };
    if !tab.usable() {
        return (0, Vec::new());
    }
    let refs: Vec<Ref> = tab
        .resources
        .iter()
        .filter(|r| wanted.contains(&(r.kind, r.id.to_string())))
        .filter(|r| !tab.impact_pending.contains(&(r.kind, r.id.to_string())))
        .map(|r| r.as_ref())
        .collect();
    if refs.is_empty() {
        let text = if wanted.is_empty() {
            "impact: nothing selected"
        } else {
            "impact: already being computed"
        };
        m.set_status(Level::Info, text);
        return (0, Vec::new());
    }
    let n = refs.len();
    let eta = eta_secs(m.profiles.get(p).map(|t| t.spec), n, 0, 0)
        .filter(|s| *s >= 10)
        .map(|s| format!(" (about {})", crate::model::format_age(s, 0)))
        .unwrap_or_default();
    let (_, fx) = start(m, p, refs, false);
    let text = format!(
        "impact: checking what {} breaks{eta} — shown in the Impact column and the detail pane",
        if n == 1 {
            "deleting it".to_string()
        } else {
            format!("deleting these {n} objects")
        }
    );
    m.set_status(Level::Info, text);
    (n, fx)
}

/// Start an impact job for `refs` of profile `p`.
fn start(m: &mut Model, p: usize, refs: Vec<Ref>, for_delete: bool) -> (u64, Vec<Effect>) {
    let job = m.next_job;
    m.next_job += 1;
    let Some(tab) = m.profiles.get_mut(p) else {
        return (job, Vec::new());
    };
    let targets = targets_for(&tab.resources, &refs);
    let keys: Vec<(Kind, String)> = refs.iter().map(|r| (r.kind, r.id.to_string())).collect();
    tab.impact_pending.extend(keys.iter().cloned());
    m.jobs.insert(
        job,
        Job {
            id: job,
            profile: p,
            kind: JobKind::Impact {
                total: keys.len(),
                done: 0,
                for_delete,
                started_at: m.now,
                keys,
            },
        },
    );
    (
        job,
        vec![Effect::Impact {
            job,
            profile: p,
            targets,
        }],
    )
}

/// Ctrl-D with a plan: open its confirmation once every object's impact is known (fresh
/// answers are reused; the others are computed first, with progress).
pub fn check_then_confirm(
    m: &mut Model,
    p: usize,
    plan: DeletePlan,
    selected: Vec<(Kind, String)>,
    hidden: Vec<(Kind, String)>,
    protected: bool,
) -> Vec<Effect> {
    if m.profiles.get(p).is_none() {
        return Vec::new();
    }
    let part = PlanPart {
        profile: p,
        plan: Arc::new(plan),
        selected,
        hidden,
        protected,
    };
    check_then_confirm_batch(m, vec![part], Vec::new())
}

/// The objects of `plan` whose impact is not known fresh: its steps and what the cascade
/// could add (the cascade can be turned on in the dialog, so that is checked now too).
fn missing_impacts(tab: &ProfileTab, plan: &DeletePlan, now: i64) -> Vec<Ref> {
    let mut seen = HashSet::new();
    plan.steps
        .iter()
        .map(|s| &s.target)
        .chain(&plan.cascade_extra)
        .filter(|r| seen.insert((r.kind, r.id.clone())))
        .filter(|r| !fresh(tab.impacts.get(&(r.kind, r.id.to_string())), now))
        .cloned()
        .collect()
}

/// The plans of one or more profiles (the first one first), confirmed once: one impact job
/// per profile with missing answers, one wait over all of them (Esc stops every one), then
/// one confirmation. `left_out` says what was asked for but is not in the plans.
pub fn check_then_confirm_batch(
    m: &mut Model,
    parts: Vec<PlanPart>,
    left_out: Vec<String>,
) -> Vec<Effect> {
    let mut fx = Vec::new();
    let mut waits = Vec::new();
    for part in &parts {
        let Some(tab) = m.profiles.get(part.profile) else {
            continue;
        };
        let missing = missing_impacts(tab, &part.plan, m.now);
        if missing.is_empty() {
            continue;
        }
        let n = missing.len();
        let (job, started) = start(m, part.profile, missing, true);
        waits.push((job, n));
        fx.extend(started);
    }
    let mut parts = parts.into_iter();
    let Some(first) = parts.next() else {
        return fx;
    };
    let more: Vec<PlanPart> = parts.collect();
    let Some(&(job, _)) = waits.first() else {
        open_confirm(m, first, more, left_out);
        return fx;
    };
    m.modals.push(Modal::ImpactCheck(Box::new(ImpactCheck {
        job,
        profile: first.profile,
        plan: Arc::unwrap_or_clone(first.plan),
        selected: first.selected,
        hidden: first.hidden,
        protected: first.protected,
        more,
        left_out,
        waits,
    })));
    fx
}

/// Open the confirmation of every part, each plan with its profile's impact answers.
fn open_confirm(m: &mut Model, first: PlanPart, more: Vec<PlanPart>, left_out: Vec<String>) {
    let with_impacts = |m: &Model, part: PlanPart| {
        let mut plan = Arc::unwrap_or_clone(part.plan);
        if let Some(tab) = m.profiles.get(part.profile) {
            plan.set_impacts(&tab.impacts, m.now);
        }
        PlanPart {
            plan: Arc::new(plan),
            ..part
        }
    };
    let first = with_impacts(m, first);
    let more = more.into_iter().map(|p| with_impacts(m, p)).collect();
    confirm::push_parts(m, first, more, left_out);
}

/// The impacts a tab holds for `keys`.
pub fn answers_for<'a>(
    impacts: &'a HashMap<(Kind, String), Impact>,
    keys: &'a [(Kind, String)],
) -> impl Iterator<Item = &'a Impact> {
    keys.iter().filter_map(|k| impacts.get(k))
}

/// One answer of an impact job.
pub fn on_result(
    m: &mut Model,
    job: u64,
    profile: usize,
    target: Ref,
    impact: Impact,
) -> Vec<Effect> {
    if let Some(tab) = m.profiles.get_mut(profile) {
        let key = (target.kind, target.id.to_string());
        tab.impact_pending.remove(&key);
        tab.set_impact(key, impact);
        // The orphans view hides what is found to break content.
        let views: Vec<usize> = tab
            .views
            .iter()
            .enumerate()
            .filter(|(_, v)| v.kind == target.kind && v.orphans_only)
            .map(|(k, _)| k)
            .collect();
        for k in views {
            tab.rebuild_rows(k);
        }
    }
    let Some(Job {
        kind:
            JobKind::Impact {
                total,
                done,
                for_delete,
                keys,
                ..
            },
        ..
    }) = m.jobs.get_mut(&job)
    else {
        return Vec::new();
    };
    *done += 1;
    if *done < *total {
        return Vec::new();
    }
    let for_delete = *for_delete;
    let keys = keys.clone();
    // Done: an impact job leaves nothing to reopen or cancel.
    m.jobs.remove(&job);
    if for_delete {
        let pos = m.modals.iter().position(
            |md| matches!(md, Modal::ImpactCheck(c) if c.waits.iter().any(|(j, _)| *j == job)),
        );
        // A batch waits for every profile's answers before its one confirmation opens.
        let waiting = pos.is_some_and(|pos| {
            matches!(&m.modals[pos], Modal::ImpactCheck(c)
                if c.waits.iter().any(|(j, _)| m.jobs.contains_key(j)))
        });
        if let (Some(pos), false) = (pos, waiting) {
            if let Modal::ImpactCheck(c) = m.modals.remove(pos) {
                let c = *c;
                let first = PlanPart {
                    profile: c.profile,
                    plan: Arc::new(c.plan),
                    selected: c.selected,
                    hidden: c.hidden,
                    protected: c.protected,
                };
                open_confirm(m, first, c.more, c.left_out);
            }
        }
    } else if let Some(tab) = m.profiles.get(profile) {
        let totals = Totals::of(answers_for(&tab.impacts, &keys));
        let noun = tab.spec.impact_container;
        let text = if keys.len() == 1 {
            let i = tab.impacts.get(&keys[0]);
            format!(
                "impact of {}: {}",
                target.label(),
                i.map(|i| i.summary(noun)).unwrap_or_default()
            )
        } else {
            format!("impact of {} objects: {}", keys.len(), totals.summary(noun))
        };
        let level = if totals.needs_typed_confirmation() {
            Level::Warn
        } else {
            Level::Info
        };
        m.set_status(level, text);
    }
    Vec::new()
}

/// Stop an impact job: its objects are no longer pending (answers already in stay).
pub fn cancel(m: &mut Model, job: u64) -> Vec<Effect> {
    if let Some(Job {
        profile,
        kind: JobKind::Impact { keys, .. },
        ..
    }) = m.jobs.remove(&job)
    {
        if let Some(tab) = m.profiles.get_mut(profile) {
            for k in &keys {
                tab.impact_pending.remove(k);
            }
        }
    }
    vec![Effect::CancelJob { job }]
}
