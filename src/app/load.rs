//! Loading profiles: starting a load, pages as they stream in, the finished snapshot, the
//! client's starting filter and the auto-refresh.

use super::effect::Effect;
use super::state::*;
use crate::model::{Health, Kind, Resource};

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
        // A stale answer: a newer load was started since.
        return Vec::new();
    }
    match result {
        Ok(snapshot) => {
            // Keep connection-test results across refreshes: the server has no health field.
            let previous: std::collections::HashMap<(Kind, String), Health> = tab
                .resources
                .iter()
                .filter(|r| !matches!(r.health, Health::Unknown))
                .map(|r| ((r.kind, r.id.clone()), r.health.clone()))
                .collect();
            let old = std::mem::replace(&mut tab.resources, snapshot.resources);
            for r in tab.resources.iter_mut() {
                if r.health == Health::Unknown {
                    if let Some(h) = previous.get(&(r.kind, r.id.clone())) {
                        r.health = h.clone();
                    }
                }
            }
            tab.warnings = snapshot.warnings;
            tab.load = LoadState::Loaded;
            tab.streaming = false;
            tab.loaded_at = Some(at);
            tab.reindex(now);
            tab.recount(now);
            super::watch::observe(tab, now);
            let warnings = tab.warnings.clone();
            let name = tab.info.name.clone();
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
            // Freeing 100,000 objects takes long enough to be felt: not on the event loop.
            // (Also after a first load: the runtime then returns freed memory to the system.)
            return vec![Effect::Discard(old)];
        }
        Err(e) => {
            if tab.streaming {
                // A partial list is not the tenant: show nothing rather than a part of it.
                tab.resources.clear();
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
        }
    }
    Vec::new()
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
            tab.resources.extend(resources);
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
