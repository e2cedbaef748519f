//! Loading profiles: starting a load, pages as they stream in, the finished snapshot, the
//! client's starting filter and the auto-refresh.

use super::effect::Effect;
use super::state::*;
use crate::model::Resource;

pub fn start_load(m: &mut Model, p: usize) -> Vec<Effect> {
    let Some(tab) = m.profiles.get_mut(p) else {
        return Vec::new();
    };
    if !tab.usable() {
        return Vec::new();
    }
    tab.generation += 1;
    tab.load = LoadState::Loading;
    vec![Effect::Load {
        profile: p,
        generation: tab.generation,
    }]
}

/// Reload the profile on screen when `refresh_seconds` have passed since its last load;
/// in the overview and the All tab, which show every profile, each profile that is due.
/// Not while a job of the profile runs (its answers would land in a replaced list).
pub fn auto_refresh(m: &mut Model) -> Vec<Effect> {
    if m.refresh_seconds == 0 {
        return Vec::new();
    }
    let profiles: Vec<usize> = if m.overview.is_some() || m.all.open {
        (0..m.profiles.len()).collect()
    } else {
        vec![m.active]
    };
    let mut fx = Vec::new();
    for p in profiles {
        let busy = m.jobs.values().any(|j| j.profile == p && j.running());
        let due = m.profiles.get(p).is_some_and(|t| {
            t.load == LoadState::Loaded
                && t.loaded_at
                    .is_some_and(|at| m.now - at >= m.refresh_seconds as i64)
        });
        if due && !busy {
            fx.extend(start_load(m, p));
        }
    }
    fx
}

pub fn on_loaded(
    m: &mut Model,
    p: usize,
    generation: u64,
    at: i64,
    result: Result<crate::vendors::Snapshot, String>,
) -> Vec<Effect> {
    let now = m.now;
    let Some(tab) = m.profiles.get_mut(p) else {
        return Vec::new();
    };
    if generation != tab.generation {
        // A stale answer: a newer load was started since. Freed off the event loop.
        return vec![Effect::Discard(vec![std::sync::Arc::new(result)])];
    }
    match result {
        Ok(snapshot) => {
            let load = super::index::LoadInfo {
                at,
                now,
                warnings: snapshot.warnings,
            };
            // A large tab keeps showing its objects until the new ones are indexed on the
            // worker; a small one swaps them in now.
            let applied = tab.receive(snapshot.resources, load, now);
            swapped(m, p, applied)
        }
        Err(e) => {
            let mut fx = Vec::new();
            if tab.streaming {
                // A partial list is not the tenant: show nothing rather than a part of it.
                let old = std::mem::take(&mut tab.resources);
                fx.push(Effect::Discard(vec![old]));
                tab.page_buffer.clear();
                tab.epoch += 1;
                tab.streaming = false;
                tab.reindex(now);
            }
            tab.load = LoadState::Failed(e.clone());
            let text = format!("{}: load failed: {e}", tab.info.name);
            if p == m.active {
                m.set_status(Level::Error, text);
            } else {
                m.push_log(Level::Error, text);
            }
            fx
        }
    }
}

/// After an index answer was swapped in (or a load on a small tab): free what it replaced
/// off the event loop, and when it was a new load, log its warnings and keep the cursor in
/// view.
pub fn swapped(m: &mut Model, p: usize, mut applied: crate::app::tab::Applied) -> Vec<Effect> {
    let mut fx = Vec::new();
    if let Some(old) = applied.old.take() {
        // The All tab's rows may point into the replaced objects until it is rebuilt.
        applied
            .garbage
            .extend(m.all.freeze(p, old).map(|o| o as super::index::Garbage));
    }
    if let Some(warnings) = applied.loaded {
        let name = m
            .profiles
            .get(p)
            .map(|t| t.info.name.clone())
            .unwrap_or_default();
        for w in warnings {
            // Some clients already name the profile in their warnings.
            let text = if w.starts_with(&format!("{name}:")) {
                w
            } else {
                format!("{name}: {w}")
            };
            m.push_log(Level::Warn, text);
        }
        let page = m.page_rows;
        if let Some(v) = m.profiles.get_mut(p).and_then(|t| t.view_mut()) {
            v.ensure_visible(page);
        }
    }
    if !applied.garbage.is_empty() {
        // Freeing 100,000 objects takes long enough to be felt: not on the event loop.
        // (Also after a first load: the runtime then returns freed memory to the system.)
        fx.push(Effect::Discard(applied.garbage));
    }
    fx
}

/// A tab's index job answered: swap it in if it is still the one the tab waits for.
pub fn on_indexed(m: &mut Model, out: super::index::IndexOut) -> Vec<Effect> {
    let p = out.profile;
    let page = m.page_rows;
    let Some(tab) = m.profiles.get_mut(p) else {
        return Vec::new();
    };
    let applied = tab.apply(out, Some(page));
    swapped(m, p, applied)
}

/// At the end of every message: send each tab's outstanding index work (small tabs do it
/// now), one job per tab at a time.
pub fn flush(m: &mut Model) -> Vec<Effect> {
    let now = m.now;
    let page = m.page_rows;
    let mut fx = Vec::new();
    for p in 0..m.profiles.len() {
        let tab = &mut m.profiles[p];
        let Some(job) = tab.take_job(p, now) else {
            continue;
        };
        if tab.resources.len().max(job_len(&job)) <= tab.inline_rows {
            let applied = tab.apply(super::index::run(job), Some(page));
            fx.extend(swapped(m, p, applied));
        } else {
            fx.push(Effect::Index(Box::new(job)));
        }
    }
    fx
}

fn job_len(job: &super::index::IndexJob) -> usize {
    match &job.source {
        super::index::Source::Fresh { resources, .. } => resources.len(),
        super::index::Source::Shared(r) => r.len(),
    }
}

/// Objects that arrived while a load runs.
pub fn on_page(m: &mut Model, profile: usize, generation: u64, resources: Vec<Resource>) {
    let now = m.now;
    let page = m.page_rows;
    if let Some(tab) = m.profiles.get_mut(profile) {
        // Stream only into a tab that has nothing yet: a refresh keeps showing the
        // last complete data until the new snapshot is whole.
        if generation == tab.generation
            && tab.load == LoadState::Loading
            && (tab.loaded_at.is_none() || tab.streaming)
        {
            tab.streaming = true;
            if tab.in_flight.is_some() {
                // The worker reads the objects: these wait for its answer.
                tab.page_buffer.extend(resources);
                return;
            }
            tab.resources_mut().extend(resources);
            tab.reindex(now);
            if let Some(v) = tab.view_mut() {
                v.ensure_visible(page);
            }
        }
    }
}

/// The client's suggested starting filter, applied once to the views that have none.
pub fn on_start_filter(m: &mut Model, profile: usize, filter: String) {
    let now = m.now;
    if let Some(tab) = m.profiles.get_mut(profile) {
        if !tab.start_filter_done {
            tab.start_filter_done = true;
            for k in 0..tab.views.len() {
                if tab.views[k].filter.is_empty() {
                    tab.views[k].filter = filter.clone();
                    tab.resort(k, now);
                }
            }
        }
    }
}
