//! "Test everything": `T` runs every health check the vendor offers (MicroStrategy
//! connection tests, Basedash verify, Databrain sync) over every object of the profile —
//! in the overview, of every usable profile. Read-only profiles may run them (a check
//! changes no object). `T` again while they run stops them: nothing new starts.

use super::effect::Effect;
use super::state::*;
use crate::model::{Health, Kind, Ref};

/// `T` in a profile tab: its objects. In the overview: every usable profile's.
pub fn check_all(m: &mut Model) -> Vec<Effect> {
    // Running already: T stops it.
    let running: Vec<u64> = m
        .jobs
        .values()
        .filter(|j| matches!(j.kind, JobKind::Checks { .. }) && j.running())
        .map(|j| j.id)
        .collect();
    if !running.is_empty() {
        for id in &running {
            m.jobs.remove(id);
        }
        m.set_status(
            Level::Warn,
            "health checks stopped: nothing new starts (answers already in are kept)",
        );
        return running
            .into_iter()
            .map(|job| Effect::CancelJob { job })
            .collect();
    }
    let profiles: Vec<usize> = if m.overview.is_some() || m.all.open {
        (0..m.profiles.len()).collect()
    } else {
        vec![m.active]
    };
    let mut fx = Vec::new();
    let mut total = 0;
    let mut profiles_checked = 0;
    for p in profiles {
        let Some(tab) = m.profiles.get(p) else {
            continue;
        };
        if !tab.usable() || tab.spec.health_checks.is_empty() {
            continue;
        }
        let targets = crate::ops::health_checks::checkable(tab.spec, tab.resources.iter());
        if targets.is_empty() {
            continue;
        }
        total += targets.len();
        profiles_checked += 1;
        let job = m.next_job;
        m.next_job += 1;
        m.jobs.insert(
            job,
            Job {
                id: job,
                profile: p,
                kind: JobKind::Checks {
                    total: targets.len(),
                    done: 0,
                    failed: 0,
                    skipped: 0,
                },
            },
        );
        if let Some(tab) = m.profiles.get_mut(p) {
            for t in &targets {
                set_health(tab, t, Health::Testing);
            }
            tab.recount(m.now);
        }
        fx.push(Effect::CheckHealth {
            job,
            profile: p,
            targets,
        });
    }
    if fx.is_empty() {
        m.set_status(Level::Info, "no health check to run here");
    } else {
        m.set_status(
            Level::Info,
            format!("checking {total} object(s) in {profiles_checked} profile(s)… (T again stops)"),
        );
    }
    fx
}

/// Set the health of a checked object; a connection's also goes to its datasources.
fn set_health(tab: &mut crate::app::tab::ProfileTab, target: &Ref, health: Health) {
    if target.kind == Kind::Connections {
        let results = std::collections::HashMap::from([(target.id.to_string(), health)]);
        crate::model::apply_connection_health(tab.resources_mut(), &results);
    } else if let Some(r) = tab
        .resources_mut()
        .iter_mut()
        .find(|r| r.kind == target.kind && r.id == target.id)
    {
        r.health = health;
    }
}

/// One answer of a check job.
pub fn on_checked(
    m: &mut Model,
    job: u64,
    profile: usize,
    target: Ref,
    health: Option<Health>,
    sentence: Option<String>,
) {
    let now = m.now;
    let failed = matches!(health, Some(Health::Unhealthy(_)));
    // No health and a sentence: the check could not be asked (a missing setting).
    let skipped = health.is_none() && sentence.is_some();
    if let Some(tab) = m.profiles.get_mut(profile) {
        match health {
            Some(h) => {
                super::watch::tested(tab, target.kind, &target.id, &h, now);
                set_health(tab, &target, h)
            }
            // Nothing new (no check for it, still running at the vendor): what it was.
            None => set_health(tab, &target, Health::Unknown),
        }
        tab.last_checked = Some(now);
        tab.recount(now);
        for k in 0..tab.views.len() {
            if tab.views[k].unhealthy_only {
                tab.rebuild_rows(k);
            }
        }
    }
    if let Some(s) = sentence {
        m.push_log(Level::Warn, s);
    }
    let Some(Job {
        kind:
            JobKind::Checks {
                total,
                done,
                failed: f,
                skipped: s,
            },
        ..
    }) = m.jobs.get_mut(&job)
    else {
        return;
    };
    *done += 1;
    if failed {
        *f += 1;
    }
    if skipped {
        *s += 1;
    }
    if done == total {
        let (total, f, s) = (*total, *f, *s);
        let name = m
            .profiles
            .get(profile)
            .map(|t| t.info.name.clone())
            .unwrap_or_default();
        let level = if f + s > 0 { Level::Warn } else { Level::Info };
        let not_checked = if s > 0 {
            format!(", {s} not checked (see the log: L)")
        } else {
            String::new()
        };
        m.set_status(
            level,
            format!(
                "{name}: health checks: {} ok, {f} failed{not_checked}",
                total - f - s
            ),
        );
    }
}
