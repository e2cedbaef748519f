//! Watch: what became unhealthy since the operator last looked. Each profile keeps, per
//! object, since when it has been unhealthy, its last health changes and its last health
//! check (kept between runs in `<data dir>/watch/<profile>.json`, read and written off the
//! event loop), and when the operator last looked at the profile: leaving its tab (or the
//! All tab, which shows every profile) or quitting while on it counts as looking. An object
//! that became unhealthy after that is *new*: highlighted in the tables, counted in the
//! overview ("3 new since 14:02"), and `n` / `N` jump between the new rows.
//!
//! Observing is a pass over a profile's objects: it runs on the next tick after a load or a
//! health check answered (many answers, one pass), not per answer.

use super::effect::Effect;
use super::state::*;
use crate::model::{Health, Kind, Resource};
use crate::ops::watch_file::{Change, Entry, Seen, WatchFile, VERSION};
use std::collections::HashMap;
use std::sync::Arc;

/// A changed history is written at most this often (seconds) while the console runs; and
/// always when it ends.
pub const SAVE_EVERY: i64 = 10;

/// An object missing from the loads is forgotten once nothing happened to it for this long.
pub const FORGET_AFTER: i64 = 30 * 86_400;

/// The last time anything happened to an object.
fn latest(seen: &Seen) -> Option<i64> {
    [
        seen.bad_since,
        seen.tested_at,
        seen.changes.last().map(|c| c.at),
    ]
    .into_iter()
    .flatten()
    .max()
}

/// One profile's watch state.
#[derive(Debug, Clone)]
pub struct Watch {
    /// The history of earlier runs was read (or there is none): observing may start.
    pub ready: bool,
    /// When the operator last looked at the profile; `None` until the first observation,
    /// which sets it (what is unhealthy on the first look is not new).
    pub looked_at: Option<i64>,
    pub objects: HashMap<Kind, HashMap<String, Seen>>,
    /// Unhealthy objects that became so after `looked_at` (kept by each observation).
    pub new_count: usize,
    /// A load or a check answered since the last observation.
    pub observe_due: bool,
    /// Changed since the last save.
    pub dirty: bool,
    pub saved_at: i64,
    /// When objects long missing were last forgotten (once a day).
    pub pruned_at: i64,
}

impl Default for Watch {
    fn default() -> Self {
        Watch {
            ready: true,
            looked_at: None,
            objects: HashMap::new(),
            new_count: 0,
            observe_due: false,
            dirty: false,
            saved_at: 0,
            pruned_at: 0,
        }
    }
}

impl Watch {
    pub fn seen(&self, kind: Kind, id: &str) -> Option<&Seen> {
        self.objects.get(&kind).and_then(|m| m.get(id))
    }

    fn is_new_seen(&self, seen: &Seen) -> bool {
        match (seen.bad_since, self.looked_at) {
            (Some(t), Some(looked)) => t > looked,
            _ => false,
        }
    }

    /// Whether `r` is unhealthy and became so since the operator last looked.
    pub fn is_new(&self, r: &Resource) -> bool {
        self.new_count > 0
            && r.is_unhealthy()
            && self
                .seen(r.kind, &r.id)
                .is_some_and(|s| self.is_new_seen(s))
    }

    /// The history as stored.
    pub fn to_file(&self, profile: &str) -> WatchFile {
        let mut objects: Vec<Entry> = self
            .objects
            .iter()
            .flat_map(|(kind, m)| {
                m.iter().map(|(id, seen)| Entry {
                    kind: *kind,
                    id: id.clone(),
                    seen: seen.clone(),
                })
            })
            .collect();
        objects.sort_by(|a, b| (a.kind, &a.id).cmp(&(b.kind, &b.id)));
        WatchFile {
            version: VERSION,
            profile: profile.to_string(),
            looked_at: self.looked_at,
            objects,
        }
    }
}

/// What a health answer says: unhealthy (true), healthy (false), or nothing (never tested,
/// a test running, a vendor without health).
fn observed(r: &Resource) -> Option<bool> {
    if r.is_unhealthy() {
        Some(true)
    } else if r.health == Health::Healthy || r.sync.is_some() {
        Some(false)
    } else {
        None
    }
}

/// Compare the profile's objects with what the watch remembers: note who became unhealthy
/// (and since when) or healthy again, bring back the last health check of earlier runs for
/// objects that have none yet, and count the new ones; once a day, forget objects missing
/// from the loads for `FORGET_AFTER`. Only a complete list is observed (not one still
/// streaming in). Cost: a lookup per object with health (unhealthy, healthy, synced), none
/// for the others — not a pass over the history.
pub fn observe(tab: &mut ProfileTab, now: i64) {
    if !tab.watch.ready || tab.streaming || tab.loaded_at.is_none() {
        return;
    }
    tab.watch.observe_due = false;
    let w = &mut tab.watch;
    if w.looked_at.is_none() {
        w.looked_at = Some(now);
        w.dirty = true;
    }
    // Last runs' check answers, for objects this run has not checked (the server keeps no
    // health for them): an operator sees yesterday's failed test, not "untested".
    let mut restored = false;
    if w.objects
        .values()
        .flatten()
        .any(|(_, s)| s.tested_at.is_some())
    {
        let mut connections: HashMap<String, Health> = HashMap::new();
        for r in Arc::make_mut(&mut tab.resources).iter_mut() {
            if r.health != Health::Unknown {
                continue;
            }
            let Some(seen) = w.seen(r.kind, &r.id).filter(|s| s.tested_at.is_some()) else {
                continue;
            };
            let health = match &seen.test_failed {
                Some(why) => Health::Unhealthy(why.clone().into()),
                None => Health::Healthy,
            };
            restored = true;
            if r.kind == Kind::Connections {
                connections.insert(r.id.to_string(), health);
            } else {
                r.health = health;
            }
        }
        if !connections.is_empty() {
            crate::model::apply_connection_health(
                Arc::make_mut(&mut tab.resources).as_mut_slice(),
                &connections,
            );
        }
    }
    let mut new_count = 0;
    for r in tab.resources.iter() {
        let Some(bad) = observed(r) else {
            continue;
        };
        let known = w
            .objects
            .get_mut(&r.kind)
            .and_then(|m| m.get_mut(r.id.as_str()));
        let seen = match (known, bad) {
            (Some(seen), _) => seen,
            (None, true) => w
                .objects
                .entry(r.kind)
                .or_default()
                .entry(r.id.to_string())
                .or_default(),
            (None, false) => continue,
        };
        match (bad, seen.bad_since) {
            (true, None) => {
                // A failed check is when it was seen failing (it may have answered before
                // this pass, or in an earlier run).
                let at = match (&seen.test_failed, seen.tested_at) {
                    (Some(_), Some(t)) if t <= now => t,
                    _ => now,
                };
                seen.bad_since = Some(at);
                seen.push_change(Change {
                    at,
                    unhealthy: true,
                });
                w.dirty = true;
            }
            (false, Some(_)) => {
                seen.bad_since = None;
                seen.push_change(Change {
                    at: now,
                    unhealthy: false,
                });
                w.dirty = true;
            }
            _ => {}
        }
        if bad && matches!((seen.bad_since, w.looked_at), (Some(t), Some(l)) if t > l) {
            new_count += 1;
        }
    }
    w.new_count = new_count;
    if now - w.pruned_at >= 86_400 {
        w.pruned_at = now;
        forget_missing(w, &tab.resources, now);
    }
    if restored {
        tab.recount(now);
    }
}

/// Forget what is known of objects missing from `resources` that nothing happened to for
/// `FORGET_AFTER` (a list that failed for one kind, or a moment of missing permission, must
/// not turn every failure into a new one when it comes back).
fn forget_missing(w: &mut Watch, resources: &[Resource], now: i64) {
    let old = |s: &Seen| latest(s).is_none_or(|t| now - t >= FORGET_AFTER);
    if !w.objects.values().flatten().any(|(_, s)| old(s)) {
        return;
    }
    let present: std::collections::HashSet<(Kind, &str)> =
        resources.iter().map(|r| (r.kind, r.id.as_str())).collect();
    for (kind, m) in w.objects.iter_mut() {
        let before = m.len();
        m.retain(|id, s| !old(s) || present.contains(&(*kind, id.as_str())));
        if m.len() != before {
            w.dirty = true;
        }
    }
}

/// A health check answered for an object: remember when and what it said.
pub fn tested(tab: &mut ProfileTab, kind: Kind, id: &str, health: &Health, now: i64) {
    let test_failed = match health {
        Health::Unhealthy(why) => Some(why.to_string()),
        Health::Healthy => None,
        Health::Unknown | Health::Testing => return,
    };
    let w = &mut tab.watch;
    let seen = w
        .objects
        .entry(kind)
        .or_default()
        .entry(id.to_string())
        .or_default();
    seen.tested_at = Some(now);
    seen.test_failed = test_failed;
    w.dirty = true;
    w.observe_due = true;
}

/// The operator looked at the profile: nothing unhealthy now is new any more.
pub fn acknowledge(tab: &mut ProfileTab, now: i64) {
    let w = &mut tab.watch;
    if !w.ready || w.looked_at.is_none() {
        return;
    }
    w.looked_at = Some(now);
    w.new_count = 0;
    w.dirty = true;
}

/// The history of earlier runs was read (`Ok(None)`: there is none). What this run saw
/// before it arrived is not lost: nothing was observed before `ready`.
pub fn on_file(m: &mut Model, profile: usize, file: Result<Option<WatchFile>, String>) {
    let now = m.now;
    let Some(tab) = m.profiles.get_mut(profile) else {
        return;
    };
    let warning = match file {
        Ok(Some(file)) => {
            let w = &mut tab.watch;
            w.looked_at = file.looked_at;
            for e in file.objects {
                w.objects.entry(e.kind).or_default().insert(e.id, e.seen);
            }
            None
        }
        Ok(None) => None,
        Err(e) => Some(format!(
            "{}: watch history not read ({e}); a new one starts",
            tab.info.name
        )),
    };
    tab.watch.ready = true;
    observe(tab, now);
    if let Some(w) = warning {
        m.push_log(Level::Warn, w);
    }
}

/// Which screen the operator is looking at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Viewing {
    Overview,
    All,
    Profile(usize),
}

pub fn viewing(m: &Model) -> Viewing {
    if m.overview.is_some() {
        Viewing::Overview
    } else if m.all.open {
        Viewing::All
    } else {
        Viewing::Profile(m.active)
    }
}

fn acknowledge_view(m: &mut Model, view: Viewing) {
    let now = m.now;
    match view {
        Viewing::Overview => {}
        Viewing::All => {
            for tab in m.profiles.iter_mut() {
                acknowledge(tab, now);
            }
        }
        Viewing::Profile(p) => {
            if let Some(tab) = m.profiles.get_mut(p) {
                acknowledge(tab, now);
            }
        }
    }
}

/// After each message: leaving a screen counts as having looked at what it showed; when
/// the console ends, so does the screen it ends on, and every changed history is written.
pub fn follow(m: &mut Model, before: Viewing) -> Vec<Effect> {
    if m.should_quit {
        if m.watch_flushed {
            return Vec::new();
        }
        m.watch_flushed = true;
        // Answers not observed yet are part of what was seen.
        let now = m.now;
        for tab in m.profiles.iter_mut().filter(|t| t.watch.observe_due) {
            observe(tab, now);
        }
        acknowledge_view(m, viewing(m));
        return save(m, true);
    }
    if viewing(m) != before {
        acknowledge_view(m, before);
    }
    Vec::new()
}

/// On each tick: observe the profiles whose objects or health changed, and write the
/// histories that changed (at most every `SAVE_EVERY` seconds).
pub fn on_tick(m: &mut Model) -> Vec<Effect> {
    let now = m.now;
    for tab in m.profiles.iter_mut() {
        if tab.watch.observe_due {
            observe(tab, now);
        }
    }
    save(m, false)
}

fn save(m: &mut Model, all: bool) -> Vec<Effect> {
    let now = m.now;
    let mut fx = Vec::new();
    for tab in m.profiles.iter_mut() {
        let w = &mut tab.watch;
        if !w.ready || !w.dirty || !all && now - w.saved_at < SAVE_EVERY {
            continue;
        }
        w.dirty = false;
        w.saved_at = now;
        fx.push(Effect::SaveWatch(Box::new(w.to_file(&tab.info.name))));
    }
    fx
}

/// Unhealthy objects that are new, over every profile.
pub fn new_total(m: &Model) -> usize {
    m.profiles.iter().map(|t| t.watch.new_count).sum()
}

/// `n` / `N`: the next (previous) new row. In a profile tab: of the current kind, else of
/// the next kind that has one; in the All tab: of its rows; in the overview: the next
/// profile with new objects.
pub fn jump(m: &mut Model, forward: bool) -> Vec<Effect> {
    if new_total(m) == 0 {
        m.set_status(
            Level::Info,
            "nothing became unhealthy since you last looked (n / N jump to new ones)",
        );
        return Vec::new();
    }
    match viewing(m) {
        Viewing::Overview => {
            let order = super::overview::order(m);
            let cursor = m.overview.unwrap_or(0);
            let n = order.len();
            let found = (1..=n).map(|d| step(cursor, d, n, forward)).find(|&pos| {
                order
                    .get(pos)
                    .is_some_and(|&p| m.profiles[p].watch.new_count > 0)
            });
            if let Some(pos) = found {
                m.overview = Some(pos);
            }
        }
        Viewing::All => {
            let rows = &m.all.rows;
            let n = rows.len();
            let cursor = m.all.cursor;
            let found = (1..=n).map(|d| step(cursor, d, n, forward)).find(|&pos| {
                rows.get(pos).is_some_and(|&(p, i)| {
                    let tab = &m.profiles[p as usize];
                    tab.resources
                        .get(i as usize)
                        .is_some_and(|r| tab.watch.is_new(r))
                })
            });
            match found {
                Some(pos) => super::all::move_to(m, pos),
                None => hidden_by_filter(m),
            }
        }
        Viewing::Profile(p) => {
            let page = m.page_rows;
            let Some(tab) = m.profiles.get_mut(p) else {
                return Vec::new();
            };
            if tab.watch.new_count == 0 {
                let name = tab.info.name.clone();
                m.set_status(
                    Level::Info,
                    format!("{name}: nothing became unhealthy since you last looked"),
                );
                return Vec::new();
            }
            let kinds = tab.views.len();
            let start = tab.kind_index;
            // This kind from the row after the cursor, then the other kinds, then this
            // kind's rows up to the cursor.
            for d in 0..=kinds {
                let k = step(start, d, kinds, forward);
                let view = &tab.views[k];
                let n = view.rows.len();
                let cursor = view.cursor.min(n.saturating_sub(1));
                let positions: Vec<usize> = match (d, forward) {
                    (0, true) => (cursor + 1..n).collect(),
                    (0, false) => (0..cursor).rev().collect(),
                    (_, true) if d == kinds => (0..=cursor).collect(),
                    (_, false) if d == kinds => (cursor..n).rev().collect(),
                    (_, true) => (0..n).collect(),
                    (_, false) => (0..n).rev().collect(),
                };
                let found = positions.into_iter().find(|&pos| {
                    view.rows
                        .get(pos)
                        .and_then(|&i| tab.resources.get(i))
                        .is_some_and(|r| tab.watch.is_new(r))
                });
                if let Some(pos) = found {
                    tab.kind_index = k;
                    let view = &mut tab.views[k];
                    view.cursor = pos;
                    view.ensure_visible(page);
                    return Vec::new();
                }
            }
            hidden_by_filter(m);
        }
    }
    Vec::new()
}

fn hidden_by_filter(m: &mut Model) {
    m.set_status(
        Level::Info,
        "the new unhealthy objects are hidden by the filter or a toggle",
    );
}

/// `d` steps from `from` in a ring of `n`, forward or backward.
fn step(from: usize, d: usize, n: usize, forward: bool) -> usize {
    if n == 0 {
        return 0;
    }
    if forward {
        (from + d) % n
    } else {
        (from + n - d % n) % n
    }
}

/// "14:02" today, "Dec 05 14:02" on another day (UTC, like every time the console shows).
pub fn since_label(now: i64, t: i64) -> String {
    let (Some(at), Some(today)) = (
        chrono::DateTime::from_timestamp(t, 0),
        chrono::DateTime::from_timestamp(now, 0),
    ) else {
        return String::new();
    };
    if at.date_naive() == today.date_naive() {
        at.format("%H:%M").to_string()
    } else {
        at.format("%b %d %H:%M").to_string()
    }
}
