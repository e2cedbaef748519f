//! Job reports: delete steps and their end, connection tests, creates. Starting a test run
//! lives here too; deletes start from the confirmation, creates from the form.

use super::effect::Effect;
use super::load::start_load;
use super::marks::selection;
use super::msg::TestFailure;
use super::state::*;
use crate::model::{Health, Kind};
use crate::ops::executor::{StepOutcome, StepUpdate};
use std::collections::BTreeSet;

/// One step of a delete job changed state.
pub fn on_delete_step(m: &mut Model, job: u64, update: StepUpdate) {
    let mut error = None;
    let mut done_line = None;
    if let Some(Job {
        kind: JobKind::Delete(d),
        ..
    }) = m.jobs.get_mut(&job)
    {
        if let Some(slot) = d.outcomes.get_mut(update.index) {
            *slot = update.outcome.clone();
        }
        if update.outcome.is_success() {
            if let Some(step) = d.plan.steps.get(update.index) {
                done_line = Some(format!(
                    "{}: {} {} ({})",
                    d.plan.profile,
                    update.outcome.label(),
                    step.target.label(),
                    step.target.id
                ));
            }
        }
        if let StepOutcome::Failed(why) = &update.outcome {
            let label = d
                .plan
                .steps
                .get(update.index)
                .map(|s| s.target.label())
                .unwrap_or_default();
            let line = format!("delete {label} failed: {why}");
            d.errors.push(line.clone());
            if d.errors.len() > 50 {
                d.errors.remove(0);
            }
            error = Some(line);
        }
    }
    if let Some(line) = error {
        m.push_log(Level::Error, line);
    }
    if let Some(line) = done_line {
        m.push_log(Level::Info, line);
    }
}

/// One connection test ended.
pub fn on_test_result(
    m: &mut Model,
    job: u64,
    profile: usize,
    id: String,
    result: Result<(), TestFailure>,
) {
    if let Some(Job {
        kind: JobKind::Test {
            done,
            failed,
            total,
        },
        ..
    }) = m.jobs.get_mut(&job)
    {
        *done += 1;
        if result.is_err() {
            *failed += 1;
        }
        if *done == *total {
            let text = format!(
                "connection tests: {} ok, {} failed",
                *total - *failed,
                *failed
            );
            let level = if *failed > 0 {
                Level::Warn
            } else {
                Level::Info
            };
            m.set_status(level, text);
        }
    }
    let health = crate::ops::connection_tests::health_of(&result);
    if let Err(e) = &result {
        m.push_log(Level::Warn, format!("connection test {id}: {}", e.sentence));
    }
    set_connection_health(m, profile, &id, health);
}

pub fn on_delete_finished(m: &mut Model, job: u64, outcomes: Vec<StepOutcome>) -> Vec<Effect> {
    let m_now = m.now;
    let Some(Job {
        profile,
        kind: JobKind::Delete(d),
        ..
    }) = m.jobs.get_mut(&job)
    else {
        return Vec::new();
    };
    let profile = *profile;
    d.outcomes = outcomes;
    d.finished = true;
    d.finished_at = Some(m_now);
    let summary = crate::ops::executor::RunSummary::from(d.outcomes.as_slice());
    let gone: BTreeSet<(Kind, String)> = d
        .plan
        .steps
        .iter()
        .zip(d.outcomes.iter())
        .filter(|(_, o)| o.is_success())
        .map(|(s, _)| (s.target.kind, s.target.id.to_string()))
        .collect();
    let level = if summary.failed > 0 {
        Level::Error
    } else {
        Level::Info
    };
    let shown = matches!(m.modals.last(), Some(Modal::Progress { job: j, .. }) if *j == job);
    let hint = if shown { "" } else { " (p: details)" };
    // A job of a batch names its profile: the others finish on their own.
    let on = if d.batch.is_empty() {
        String::new()
    } else {
        format!(" on {}", d.plan.profile)
    };
    m.set_status(level, format!("delete finished{on}: {summary}{hint}"));
    if let Some(tab) = m.profiles.get_mut(profile) {
        tab.hide(&gone);
    }
    // Reconcile with the server: the table must show what is really there.
    start_load(m, profile)
}

pub fn start_tests(m: &mut Model) -> Vec<Effect> {
    let p = m.active;
    let Some(tab) = m.profiles.get(p) else {
        return Vec::new();
    };
    if !tab.spec.can_test {
        let text = format!("{} has no connection test", tab.info.vendor);
        m.set_status(Level::Info, text);
        return Vec::new();
    }
    let selected = selection(tab);
    let index: std::collections::HashMap<(Kind, &str), usize> = tab
        .resources
        .iter()
        .enumerate()
        .map(|(i, r)| ((r.kind, r.id.as_str()), i))
        .collect();
    let mut ids: Vec<String> = Vec::new();
    for (kind, id) in &selected {
        let Some(&i) = index.get(&(*kind, id.as_str())) else {
            continue;
        };
        let r = &tab.resources[i];
        match kind {
            Kind::Connections => ids.push(r.id.to_string()),
            Kind::Datasources => ids.extend(
                r.depends_on
                    .iter()
                    .filter(|d| d.kind == Kind::Connections)
                    .map(|d| d.id.to_string()),
            ),
            Kind::Logins | Kind::Datamarts => {}
        }
    }
    let mut seen = BTreeSet::new();
    ids.retain(|id| seen.insert(id.clone()));
    if ids.is_empty() {
        m.set_status(Level::Info, "select connections or datasources to test");
        return Vec::new();
    }
    for id in &ids {
        set_connection_health(m, p, id, Health::Testing);
    }
    let job = m.next_job;
    m.next_job += 1;
    m.jobs.insert(
        job,
        Job {
            id: job,
            profile: p,
            kind: JobKind::Test {
                total: ids.len(),
                done: 0,
                failed: 0,
            },
        },
    );
    m.set_status(Level::Info, format!("testing {} connection(s)…", ids.len()));
    vec![Effect::TestConnections {
        job,
        profile: p,
        ids,
    }]
}

/// Set a connection's health, and the health of the datasources that use it.
pub(crate) fn set_connection_health(m: &mut Model, p: usize, conn_id: &str, health: Health) {
    let Some(tab) = m.profiles.get_mut(p) else {
        return;
    };
    super::watch::tested(
        tab,
        crate::model::Kind::Connections,
        conn_id,
        &health,
        m.now,
    );
    let result = std::collections::HashMap::from([(conn_id.to_string(), health)]);
    crate::model::apply_connection_health(tab.resources_mut(), &result);
    tab.recount(m.now);
    // Health may change which rows "unhealthy only" shows.
    for k in 0..tab.views.len() {
        if tab.views[k].unhealthy_only {
            tab.rebuild_rows(k);
        }
    }
}

pub fn on_created(
    m: &mut Model,
    job: u64,
    profile: usize,
    result: Result<Box<crate::model::Resource>, String>,
) -> Vec<Effect> {
    let label = match m.jobs.remove(&job) {
        Some(Job {
            kind: JobKind::Create { label },
            ..
        }) => label,
        _ => String::new(),
    };
    let form_open =
        matches!(m.modals.last(), Some(Modal::Create(f)) if f.profile == profile && f.submitting);
    match result {
        Ok(r) => {
            if form_open {
                m.modals.pop();
            }
            let text = format!("created {} '{}' ({})", r.kind.singular(), r.name, r.id);
            let now = m.now;
            if let Some(tab) = m.profiles.get_mut(profile) {
                tab.resources_mut().push(*r);
                tab.reindex(now);
            }
            m.set_status(Level::Info, text);
            // Reload so used-by links and server-filled fields are exact.
            start_load(m, profile)
        }
        Err(e) => {
            let text = format!("create {label} failed: {e}");
            if let Some(Modal::Create(f)) = m.modals.last_mut() {
                if f.profile == profile {
                    f.submitting = false;
                    f.error = Some(e);
                }
            }
            m.set_status(Level::Error, text);
            Vec::new()
        }
    }
}
