//! `update`: the only place the model changes. No I/O, no clock (time arrives in messages);
//! everything the outside world must do is returned as `Effect`s.

use super::effect::Effect;
use super::keymap::{action_for, Action};
use super::msg::Msg;
use super::state::*;
use crate::model::{Health, Kind};
use crate::ops::executor::StepOutcome;
use crate::ops::plan::{build_plan, Confirmation, PlanRequest};
use crate::vendors::create_form;
use crate::vendors::forms::FieldKind;
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use std::collections::BTreeSet;
use std::sync::Arc;

/// Rows of chrome around the table: profile tabs, kind tabs, table header, status, hints.
pub const CHROME_ROWS: u16 = 5;

/// Effects to run at start: load every usable profile.
pub fn init(m: &mut Model) -> Vec<Effect> {
    let mut fx = Vec::new();
    for p in 0..m.profiles.len() {
        fx.extend(start_load(m, p));
    }
    if let Some(tab) = m.profiles.first() {
        if let Some(e) = &tab.info.setup_error {
            let text = format!("{}: {e}", tab.info.name);
            m.set_status(Level::Error, text);
        }
    }
    fx
}

pub fn update(m: &mut Model, msg: Msg) -> Vec<Effect> {
    match msg {
        Msg::Key(key) => {
            if key.kind == KeyEventKind::Release {
                return Vec::new();
            }
            on_key(m, key)
        }
        Msg::Paste(text) => {
            on_paste(m, &text);
            Vec::new()
        }
        Msg::Resize { width, height } => {
            m.width = width;
            m.height = height;
            m.page_rows = table_rows(m) as usize;
            let page = m.page_rows;
            if let Some(v) = m.tab_mut().and_then(|t| t.view_mut()) {
                ensure_visible(v, page);
            }
            Vec::new()
        }
        Msg::Tick { now } => {
            m.now = now;
            m.tick = m.tick.wrapping_add(1);
            auto_refresh(m)
        }
        Msg::Loaded {
            profile,
            generation,
            at,
            result,
        } => on_loaded(m, profile, generation, at, result),
        Msg::LoadPage {
            profile,
            generation,
            resources,
        } => {
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
                        ensure_visible(v, page);
                    }
                }
            }
            Vec::new()
        }
        Msg::StartFilter { profile, filter } => {
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
            Vec::new()
        }
        Msg::DeleteStep { job, update } => {
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
            Vec::new()
        }
        Msg::DeleteFinished { job, outcomes } => on_delete_finished(m, job, outcomes),
        Msg::TestResult {
            job,
            profile,
            id,
            result,
        } => {
            if let Some(Job {
                kind:
                    JobKind::Test {
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
            Vec::new()
        }
        Msg::Created {
            job,
            profile,
            result,
        } => on_created(m, job, profile, result),
        Msg::Notice { error, text } => {
            m.set_status(if error { Level::Error } else { Level::Info }, text);
            Vec::new()
        }
        Msg::Terminate => {
            m.should_quit = true;
            vec![Effect::Quit]
        }
    }
}

fn table_rows(m: &Model) -> u16 {
    let mut rows = m.height.saturating_sub(CHROME_ROWS);
    if m.detail_open && m.width < crate::ui::DETAIL_SIDE_MIN_WIDTH {
        rows /= 2;
    }
    rows.max(1)
}

fn ensure_visible(v: &mut KindView, page: usize) {
    let page = page.max(1);
    if v.cursor < v.offset {
        v.offset = v.cursor;
    } else if v.cursor >= v.offset + page {
        v.offset = v.cursor + 1 - page;
    }
    let max_offset = v.rows.len().saturating_sub(page);
    v.offset = v.offset.min(max_offset);
}

fn start_load(m: &mut Model, p: usize) -> Vec<Effect> {
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

fn auto_refresh(m: &mut Model) -> Vec<Effect> {
    if m.refresh_seconds == 0 {
        return Vec::new();
    }
    let p = m.active;
    let busy = m.jobs.values().any(|j| j.profile == p && j.running());
    let due = match m.tab() {
        Some(t) => {
            t.load == LoadState::Loaded
                && t.loaded_at
                    .is_some_and(|at| m.now - at >= m.refresh_seconds as i64)
        }
        None => false,
    };
    if due && !busy {
        start_load(m, p)
    } else {
        Vec::new()
    }
}

fn on_loaded(
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
                ensure_visible(v, page);
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

fn on_key(m: &mut Model, key: KeyEvent) -> Vec<Effect> {
    if let Some(top) = m.modals.last().cloned() {
        return on_modal_key(m, top, key);
    }
    match m.mode {
        Mode::Filter | Mode::Command => on_input_key(m, key),
        Mode::Normal => match action_for(&key) {
            Some(a) => on_action(m, a),
            None => Vec::new(),
        },
    }
}

fn switch_profile(m: &mut Model, p: usize) -> Vec<Effect> {
    if p >= m.profiles.len() || p == m.active {
        return Vec::new();
    }
    m.active = p;
    m.detail_scroll = 0;
    m.status = None;
    let tab = &m.profiles[p];
    if let Some(e) = &tab.info.setup_error {
        let text = format!("{}: {e}", tab.info.name);
        m.set_status(Level::Error, text);
        return Vec::new();
    }
    if tab.load == LoadState::Idle {
        return start_load(m, p);
    }
    Vec::new()
}

fn move_cursor(m: &mut Model, f: impl FnOnce(usize, usize, usize) -> usize) {
    let page = m.page_rows;
    if let Some(v) = m.tab_mut().and_then(|t| t.view_mut()) {
        if v.rows.is_empty() {
            v.cursor = 0;
            v.offset = 0;
            return;
        }
        let last = v.rows.len() - 1;
        v.cursor = f(v.cursor, last, page).min(last);
        ensure_visible(v, page);
    }
    m.detail_scroll = 0;
}

/// Recompute the current view's rows; `resort` when the sort changed too.
fn rebuild_current(m: &mut Model, resort: bool) {
    let now = m.now;
    let page = m.page_rows;
    if let Some(tab) = m.tab_mut() {
        let k = tab.kind_index;
        if resort {
            tab.resort(k, now);
        } else {
            tab.rebuild_rows(k);
        }
        if let Some(v) = tab.view_mut() {
            ensure_visible(v, page);
        }
    }
}

fn on_action(m: &mut Model, action: Action) -> Vec<Effect> {
    let effects = run_action(m, action);
    if matches!(
        action,
        Action::Mark
            | Action::MarkRange
            | Action::MarkAll
            | Action::ClearMarks
            | Action::RestoreMarks
    ) {
        if let Some(tab) = m.tab_mut() {
            let k = tab.kind_index;
            tab.recount_hidden(k);
        }
    }
    effects
}

fn run_action(m: &mut Model, action: Action) -> Vec<Effect> {
    match action {
        Action::ProfileNumber(n) => return switch_profile(m, n),
        Action::ProfileNext if !m.profiles.is_empty() => {
            let n = (m.active + 1) % m.profiles.len();
            return switch_profile(m, n);
        }
        Action::ProfilePrev if !m.profiles.is_empty() => {
            let n = (m.active + m.profiles.len() - 1) % m.profiles.len();
            return switch_profile(m, n);
        }
        Action::ProfileNext | Action::ProfilePrev => {}
        Action::KindNext | Action::KindPrev => {
            if let Some(tab) = m.tab_mut() {
                let n = tab.views.len();
                if n > 0 {
                    tab.kind_index = if action == Action::KindNext {
                        (tab.kind_index + 1) % n
                    } else {
                        (tab.kind_index + n - 1) % n
                    };
                }
            }
            m.detail_scroll = 0;
            let page = m.page_rows;
            if let Some(v) = m.tab_mut().and_then(|t| t.view_mut()) {
                ensure_visible(v, page);
            }
        }
        Action::Down => move_cursor(m, |c, _, _| c + 1),
        Action::Up => move_cursor(m, |c, _, _| c.saturating_sub(1)),
        Action::Top => move_cursor(m, |_, _, _| 0),
        Action::Bottom => move_cursor(m, |_, last, _| last),
        Action::PageDown => move_cursor(m, |c, _, p| c + p.max(1)),
        Action::PageUp => move_cursor(m, |c, _, p| c.saturating_sub(p.max(1))),
        Action::Filter => {
            let current = m.tab().and_then(|t| t.view()).map(|v| v.filter.clone());
            if let Some(f) = current {
                m.mode = Mode::Filter;
                m.input = LineInput::new(&f);
            }
        }
        Action::Mark | Action::MarkRange | Action::MarkAll if refuse_read_only_kind(m) => {}
        Action::Mark => {
            let mut refused = None;
            if let Some(tab) = m.tab_mut() {
                let current = tab
                    .current()
                    .map(|r| (r.id.clone(), r.deletable, r.as_ref()));
                if let (Some((id, deletable, r)), Some(v)) = (current, tab.view_mut()) {
                    if v.marks.remove(&id) {
                    } else if deletable == Some(false) {
                        refused = Some(format!(
                            "{} cannot be deleted (built-in or not permitted): not marked",
                            r.label()
                        ));
                    } else {
                        v.marks.insert(id.clone());
                        v.anchor = Some(id);
                    }
                }
            }
            if let Some(text) = refused {
                m.set_status(Level::Warn, text);
            }
            move_cursor(m, |c, _, _| c + 1);
        }
        Action::MarkRange => {
            if let Some(tab) = m.tab_mut() {
                let anchor_pos = tab.view().and_then(|v| {
                    let a = v.anchor.as_ref()?;
                    v.rows.iter().position(|&i| &tab.resources[i].id == a)
                });
                let ids: Vec<String> = match (anchor_pos, tab.view()) {
                    (Some(a), Some(v)) if !v.rows.is_empty() => {
                        let (lo, hi) = if a <= v.cursor {
                            (a, v.cursor)
                        } else {
                            (v.cursor, a)
                        };
                        v.rows[lo..=hi.min(v.rows.len() - 1)]
                            .iter()
                            .map(|&i| &tab.resources[i])
                            .filter(|r| r.deletable != Some(false))
                            .map(|r| r.id.clone())
                            .collect()
                    }
                    _ => tab
                        .current()
                        .map(|r| vec![r.id.clone()])
                        .unwrap_or_default(),
                };
                if let Some(v) = tab.view_mut() {
                    v.anchor = ids.last().cloned().or(v.anchor.take());
                    v.marks.extend(ids);
                }
            }
        }
        Action::MarkAll => {
            if let Some(tab) = m.tab_mut() {
                let visible: Vec<String> = tab
                    .view()
                    .map(|v| {
                        v.rows
                            .iter()
                            .map(|&i| &tab.resources[i])
                            .filter(|r| r.deletable != Some(false))
                            .map(|r| r.id.clone())
                            .collect()
                    })
                    .unwrap_or_default();
                if let Some(v) = tab.view_mut() {
                    if visible.iter().all(|id| v.marks.contains(id)) {
                        for id in &visible {
                            v.marks.remove(id);
                        }
                    } else {
                        v.marks.extend(visible);
                    }
                }
            }
        }
        Action::Back => back(m),
        Action::ClearMarks => clear_marks(m),
        Action::RestoreMarks => restore_marks(m),
        Action::Delete => return open_delete(m),
        Action::Detail => {
            m.detail_open = !m.detail_open;
            m.detail_scroll = 0;
            m.page_rows = table_rows(m) as usize;
            let page = m.page_rows;
            if let Some(v) = m.tab_mut().and_then(|t| t.view_mut()) {
                ensure_visible(v, page);
            }
        }
        Action::DetailDown => {
            if m.detail_open {
                m.detail_scroll = m.detail_scroll.saturating_add(3);
            }
        }
        Action::DetailUp => {
            if m.detail_open {
                m.detail_scroll = m.detail_scroll.saturating_sub(3);
            }
        }
        Action::CopyId => {
            if let Some(id) = m.tab().and_then(|t| t.current()).map(|r| r.id.clone()) {
                m.set_status(Level::Info, format!("copied id {id}"));
                return vec![Effect::Copy(id)];
            }
        }
        Action::Refresh => {
            let p = m.active;
            return start_load(m, p);
        }
        Action::SortNext | Action::SortReverse => {
            if let Some(tab) = m.tab_mut() {
                let ncols = tab
                    .view()
                    .map(|v| (tab.spec.columns)(v.kind).len())
                    .unwrap_or(0);
                if let Some(v) = tab.view_mut() {
                    if action == Action::SortNext && ncols > 0 {
                        v.sort_col = (v.sort_col + 1) % ncols;
                    } else {
                        v.sort_desc = !v.sort_desc;
                    }
                }
            }
            rebuild_current(m, true);
        }
        Action::Test => return start_tests(m),
        Action::Create => return open_create(m),
        Action::ToggleOrphans | Action::ToggleUnhealthy => {
            let mut state = None;
            if let Some(v) = m.tab_mut().and_then(|t| t.view_mut()) {
                let flag = if action == Action::ToggleOrphans {
                    &mut v.orphans_only
                } else {
                    &mut v.unhealthy_only
                };
                *flag = !*flag;
                state = Some(*flag);
            }
            if let Some(on) = state {
                let what = if action == Action::ToggleOrphans {
                    "orphans only"
                } else {
                    "unhealthy only"
                };
                m.set_status(
                    Level::Info,
                    format!("{what}: {}", if on { "on" } else { "off" }),
                );
            }
            rebuild_current(m, false);
        }
        Action::Command => {
            m.mode = Mode::Command;
            m.input = LineInput::default();
        }
        Action::LogPane => m.modals.push(Modal::Log { scroll: 0 }),
        Action::Jobs => {
            let latest = m
                .jobs
                .iter()
                .rev()
                .find(|(_, j)| matches!(j.kind, JobKind::Delete(_)))
                .map(|(id, _)| *id);
            match latest {
                Some(job) => m.modals.push(Modal::Progress { job, scroll: 0 }),
                None => m.set_status(Level::Info, "no delete has run yet"),
            }
        }
        Action::Help => m.modals.push(Modal::Help { scroll: 0 }),
        Action::Quit => return request_quit(m),
    }
    Vec::new()
}

/// Pasted text is text: it goes into the text input that has the focus (filter, `:` line,
/// form field, typed confirmation), never into key handling, so no paste can confirm,
/// mark, quit or switch anything.
fn on_paste(m: &mut Model, text: &str) {
    // One line: line breaks and tabs become spaces, other controls are dropped.
    let text: String = text
        .chars()
        .map(|c| {
            if matches!(c, '\n' | '\r' | '\t') {
                ' '
            } else {
                c
            }
        })
        .filter(|c| !c.is_control())
        .collect();
    if text.is_empty() {
        return;
    }
    match m.modals.last_mut() {
        Some(Modal::Confirm(c)) => {
            if c.plan.confirmation(c.protected) == Confirmation::PressY {
                c.hint = Some("pasted text ignored: press y to delete, Esc to cancel".into());
            } else {
                for ch in text.trim().chars() {
                    c.typed.insert(ch);
                }
                after_typing(c);
            }
        }
        Some(Modal::Create(f)) => {
            if !f.submitting {
                paste_into_form(f, &text);
            }
        }
        Some(_) => {}
        None => match m.mode {
            Mode::Filter | Mode::Command => {
                for ch in text.chars() {
                    m.input.insert(ch);
                }
                if m.mode == Mode::Filter {
                    apply_filter(m);
                }
            }
            Mode::Normal => m.set_status(
                Level::Info,
                "pasted text ignored: press / to filter or : for a command first",
            ),
        },
    }
}

/// Kinds the vendor never deletes (Databrain datamarts) cannot be marked: says so and
/// returns true. The rule comes from the vendor's delete order, not from each object.
fn refuse_read_only_kind(m: &mut Model) -> bool {
    let Some(tab) = m.tab() else {
        return false;
    };
    let Some(kind) = tab.view().map(|v| v.kind) else {
        return false;
    };
    if tab.spec.delete_order.contains(&kind) {
        return false;
    }
    let text = format!(
        "{kind} are read-only ({}): not marked",
        tab.spec.vendor.display()
    );
    m.set_status(Level::Warn, text);
    true
}

/// Esc in the table: close the detail pane, else clear the filter. Marks are never thrown
/// away by Esc (`U` clears them, `Ctrl-Z` brings them back).
fn back(m: &mut Model) {
    if m.detail_open {
        m.detail_open = false;
        m.page_rows = table_rows(m) as usize;
        m.status = None;
        return;
    }
    let filtered = m
        .tab()
        .and_then(|t| t.view())
        .is_some_and(|v| !v.filter.is_empty());
    if filtered {
        m.input.clear();
        apply_filter(m);
        m.set_status(Level::Info, "filter cleared");
        return;
    }
    let marked = m.tab().and_then(|t| t.view()).map_or(0, |v| v.marks.len());
    if marked > 0 {
        m.status = Some(LogEntry {
            at: m.now,
            level: Level::Info,
            text: format!("{marked} marked (Esc keeps marks: U clears them)"),
        });
    } else {
        m.status = None;
    }
}

/// `U`: clear every mark of the current view, keeping them for one `Ctrl-Z`.
fn clear_marks(m: &mut Model) {
    let p = m.active;
    let Some(v) = m.tab_mut().and_then(|t| t.view_mut()) else {
        return;
    };
    if v.marks.is_empty() {
        m.set_status(Level::Info, "no marks to clear");
        return;
    }
    let ids = std::mem::take(&mut v.marks);
    v.anchor = None;
    let kind = v.kind;
    let n = ids.len();
    m.cleared_marks = Some(ClearedMarks {
        profile: p,
        kind,
        ids,
    });
    if let Some(tab) = m.tab_mut() {
        let k = tab.kind_index;
        tab.recount_hidden(k);
    }
    m.set_status(
        Level::Info,
        format!(
            "cleared {n} mark{} — Ctrl-Z brings {} back",
            if n == 1 { "" } else { "s" },
            if n == 1 { "it" } else { "them" }
        ),
    );
}

/// `Ctrl-Z` / `:marks restore`: the marks last cleared come back to the view they were
/// cleared from (only objects still loaded), once.
fn restore_marks(m: &mut Model) {
    let Some(cleared) = m.cleared_marks.take() else {
        m.set_status(
            Level::Info,
            "nothing to restore (the last cleared marks come back once)",
        );
        return;
    };
    let Some(tab) = m.profiles.get_mut(cleared.profile) else {
        return;
    };
    let Some(k) = tab.views.iter().position(|v| v.kind == cleared.kind) else {
        return;
    };
    let present: BTreeSet<&str> = tab.views[k]
        .members
        .iter()
        .filter_map(|&i| tab.resources.get(i))
        .map(|r| r.id.as_str())
        .collect();
    let back: BTreeSet<String> = cleared
        .ids
        .iter()
        .filter(|id| present.contains(id.as_str()))
        .cloned()
        .collect();
    let n = back.len();
    let gone = cleared.ids.len() - n;
    tab.views[k].marks.extend(back);
    tab.recount_hidden(k);
    let place = format!("{} {}", tab.info.name, cleared.kind);
    let mut text = format!(
        "restored {n} mark{} on {place}",
        if n == 1 { "" } else { "s" }
    );
    if gone > 0 {
        text.push_str(&format!(" ({gone} no longer loaded)"));
    }
    m.set_status(Level::Info, text);
}

fn request_quit(m: &mut Model) -> Vec<Effect> {
    if m.running_jobs() > 0 {
        m.modals.push(Modal::ConfirmQuit);
        Vec::new()
    } else {
        m.should_quit = true;
        vec![Effect::Quit]
    }
}

fn on_input_key(m: &mut Model, key: KeyEvent) -> Vec<Effect> {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    match key.code {
        KeyCode::Char('c') if ctrl => return request_quit(m),
        KeyCode::Char('u') if ctrl => m.input.clear(),
        KeyCode::Esc => {
            if m.mode == Mode::Filter {
                m.input.clear();
                apply_filter(m);
            }
            m.mode = Mode::Normal;
            return Vec::new();
        }
        KeyCode::Enter => {
            let mode = m.mode;
            m.mode = Mode::Normal;
            if mode == Mode::Command {
                let line = std::mem::take(&mut m.input.text);
                m.input.clear();
                return run_command(m, line.trim());
            }
            return Vec::new();
        }
        KeyCode::Backspace => m.input.backspace(),
        KeyCode::Delete => m.input.delete(),
        KeyCode::Left => m.input.left(),
        KeyCode::Right => m.input.right(),
        KeyCode::Home => m.input.home(),
        KeyCode::End => m.input.end(),
        KeyCode::Char(c) if !ctrl => m.input.insert(c),
        _ => return Vec::new(),
    }
    if m.mode == Mode::Filter {
        apply_filter(m);
    }
    Vec::new()
}

fn apply_filter(m: &mut Model) {
    let text = m.input.text.clone();
    if let Some(v) = m.tab_mut().and_then(|t| t.view_mut()) {
        if v.filter == text {
            return;
        }
        v.filter = text;
        v.cursor = 0;
        v.offset = 0;
    }
    rebuild_current(m, false);
    if let Some(v) = m.tab_mut().and_then(|t| t.view_mut()) {
        v.cursor = 0;
        v.offset = 0;
    }
}

fn run_command(m: &mut Model, line: &str) -> Vec<Effect> {
    let (cmd, arg) = match line.split_once(char::is_whitespace) {
        Some((c, a)) => (c, a.trim()),
        None => (line, ""),
    };
    match cmd {
        "" => {}
        "q" | "q!" | "quit" => return request_quit(m),
        "profile" | "p" => match m.profiles.iter().position(|t| t.info.name == arg) {
            Some(p) => return switch_profile(m, p),
            None => {
                let names: Vec<&str> = m.profiles.iter().map(|t| t.info.name.as_str()).collect();
                m.set_status(
                    Level::Error,
                    format!("no profile '{arg}' (profiles: {})", names.join(", ")),
                );
            }
        },
        "kind" | "k" => {
            let found = Kind::parse(arg).and_then(|k| {
                m.tab()
                    .and_then(|t| t.views.iter().position(|v| v.kind == k))
            });
            match found {
                Some(i) => {
                    if let Some(t) = m.tab_mut() {
                        t.kind_index = i;
                    }
                }
                None => m.set_status(Level::Error, format!("no kind '{arg}' in this profile")),
            }
        }
        "filter" | "f" => {
            m.input = LineInput::new(arg);
            apply_filter(m);
            m.input.clear();
        }
        "marks" | "m" => match arg {
            "clear" => clear_marks(m),
            "restore" => restore_marks(m),
            _ => m.set_status(Level::Error, "usage: :marks clear, :marks restore"),
        },
        other => m.set_status(
            Level::Error,
            format!(
                "unknown command ':{other}' (try :profile NAME, :kind NAME, :filter TEXT, \
                 :marks clear|restore, :q)"
            ),
        ),
    }
    Vec::new()
}

/// The selection an action applies to: the marks of the current view (visible or not),
/// else the current row.
fn selection(tab: &ProfileTab) -> Vec<(Kind, String)> {
    let Some(v) = tab.view() else {
        return Vec::new();
    };
    if !v.marks.is_empty() {
        return v.marks.iter().map(|id| (v.kind, id.clone())).collect();
    }
    tab.current()
        .map(|r| vec![(r.kind, r.id.clone())])
        .unwrap_or_default()
}

fn read_only_refusal(m: &mut Model, what: &str) -> bool {
    let Some(tab) = m.tab() else {
        return true;
    };
    if tab.info.read_only {
        let text = format!("read-only: profile '{}' does not {what}", tab.info.name);
        m.set_status(Level::Warn, text);
        return true;
    }
    if !tab.usable() || tab.load != LoadState::Loaded && tab.resources.is_empty() {
        let text = format!("profile '{}' has nothing loaded", tab.info.name);
        m.set_status(Level::Warn, text);
        return true;
    }
    false
}

fn open_delete(m: &mut Model) -> Vec<Effect> {
    if read_only_refusal(m, "delete") {
        return Vec::new();
    }
    let p = m.active;
    let tab = &m.profiles[p];
    let selected = selection(tab);
    if selected.is_empty() {
        m.set_status(Level::Info, "nothing to delete");
        return Vec::new();
    }
    let kind = selected[0].0;
    let hidden: Vec<(Kind, String)> = tab
        .hidden_marks()
        .into_iter()
        .map(|id| (kind, id))
        .collect();
    let plan = build_plan(&PlanRequest {
        spec: tab.spec,
        profile: &tab.info.name,
        all: &tab.resources,
        selected: &selected,
        hidden: &hidden,
        cascade: false,
        skip_in_use: false,
    });
    if plan.is_empty() {
        let why = plan
            .warnings
            .first()
            .cloned()
            .unwrap_or_else(|| "nothing deletable is selected".into());
        m.set_status(Level::Warn, why);
        return Vec::new();
    }
    let protected = tab.info.protected;
    m.modals.push(Modal::Confirm(Box::new(ConfirmDelete {
        profile: p,
        plan: Arc::new(plan),
        selected,
        hidden,
        protected,
        focus_delete: false,
        typed: LineInput::default(),
        scroll: 0,
        hint: None,
    })));
    Vec::new()
}

fn rebuild_confirm_plan(m: &Model, c: &mut ConfirmDelete, cascade: bool, skip_in_use: bool) {
    let Some(tab) = m.profiles.get(c.profile) else {
        return;
    };
    let plan = build_plan(&PlanRequest {
        spec: tab.spec,
        profile: &tab.info.name,
        all: &tab.resources,
        selected: &c.selected,
        hidden: &c.hidden,
        cascade,
        skip_in_use,
    });
    c.plan = Arc::new(plan);
    c.typed.clear();
    c.hint = None;
    c.focus_delete = false;
}

fn on_modal_key(m: &mut Model, top: Modal, key: KeyEvent) -> Vec<Effect> {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    match top {
        Modal::Confirm(mut c) => {
            let fx = on_confirm_key(m, &mut c, key);
            if let Some(Modal::Confirm(slot)) = m.modals.last_mut() {
                // Still open: keep the edited state.
                if fx.is_empty() {
                    *slot = c;
                }
            }
            fx
        }
        Modal::Progress { job, scroll } => {
            let finished = match m.jobs.get(&job) {
                Some(Job {
                    kind: JobKind::Delete(d),
                    ..
                }) => d.finished,
                _ => true,
            };
            match key.code {
                KeyCode::Esc if !finished => m.modals.push(Modal::CancelJob { job }),
                KeyCode::Char('h') | KeyCode::Enter if !finished => {
                    m.modals.pop();
                    m.set_status(
                        Level::Info,
                        "delete continues in the background (status bar shows progress)",
                    );
                }
                KeyCode::Esc | KeyCode::Enter | KeyCode::Char('q') => {
                    m.modals.pop();
                }
                KeyCode::Char('R') if finished => return retry_failed(m, job),
                KeyCode::Char('j') | KeyCode::Down => set_top_scroll(m, scroll.saturating_add(1)),
                KeyCode::Char('k') | KeyCode::Up => set_top_scroll(m, scroll.saturating_sub(1)),
                KeyCode::PageDown => set_top_scroll(m, scroll.saturating_add(10)),
                KeyCode::PageUp => set_top_scroll(m, scroll.saturating_sub(10)),
                KeyCode::Char('c') if ctrl => m.modals.push(Modal::CancelJob { job }),
                _ => {}
            }
            Vec::new()
        }
        Modal::CancelJob { job } => match key.code {
            KeyCode::Char('y') => {
                m.modals.pop();
                if let Some(Job {
                    kind: JobKind::Delete(d),
                    ..
                }) = m.jobs.get_mut(&job)
                {
                    d.cancel_requested = true;
                }
                m.set_status(
                    Level::Warn,
                    "cancelling: nothing new starts; requests in flight finish",
                );
                vec![Effect::CancelJob { job }]
            }
            KeyCode::Char('n') | KeyCode::Esc | KeyCode::Enter => {
                m.modals.pop();
                Vec::new()
            }
            _ => Vec::new(),
        },
        Modal::ConfirmQuit => match key.code {
            KeyCode::Char('y') => {
                m.modals.pop();
                m.should_quit = true;
                vec![Effect::Quit]
            }
            KeyCode::Char('n') | KeyCode::Esc | KeyCode::Enter => {
                m.modals.pop();
                Vec::new()
            }
            _ => Vec::new(),
        },
        Modal::Help { scroll } | Modal::Log { scroll } => {
            match key.code {
                KeyCode::Esc | KeyCode::Char('q') | KeyCode::Char('?') | KeyCode::Enter => {
                    m.modals.pop();
                }
                KeyCode::Char('L') if matches!(m.modals.last(), Some(Modal::Log { .. })) => {
                    m.modals.pop();
                }
                KeyCode::Char('j') | KeyCode::Down => set_top_scroll(m, scroll.saturating_add(1)),
                KeyCode::Char('k') | KeyCode::Up => set_top_scroll(m, scroll.saturating_sub(1)),
                KeyCode::PageDown => set_top_scroll(m, scroll.saturating_add(10)),
                KeyCode::PageUp => set_top_scroll(m, scroll.saturating_sub(10)),
                KeyCode::Char('g') | KeyCode::Home => set_top_scroll(m, 0),
                KeyCode::Char('G') | KeyCode::End => set_top_scroll(m, usize::MAX / 2),
                KeyCode::Char('c') if ctrl => return request_quit(m),
                _ => {}
            }
            Vec::new()
        }
        Modal::Create(mut f) => {
            let fx = on_form_key(m, &mut f, key);
            if let Some(Modal::Create(slot)) = m.modals.last_mut() {
                *slot = f;
            }
            fx
        }
    }
}

fn set_top_scroll(m: &mut Model, value: usize) {
    if let Some(Modal::Progress { scroll, .. } | Modal::Help { scroll } | Modal::Log { scroll }) =
        m.modals.last_mut()
    {
        *scroll = value
    }
}

fn typed_matches(c: &ConfirmDelete) -> bool {
    match c.plan.confirmation(c.protected) {
        Confirmation::PressY => false,
        Confirmation::TypeCount(n) => c.typed.text == n.to_string(),
        Confirmation::TypeProfile(name) => c.typed.text == name,
    }
}

/// What to type to confirm, as the hint says it: "type 46 to confirm".
fn type_to_confirm(need: &Confirmation) -> String {
    match need {
        Confirmation::PressY => "press y to delete, Esc to cancel".to_string(),
        Confirmation::TypeCount(n) => format!("type {n} to confirm"),
        Confirmation::TypeProfile(p) => format!("type '{p}' to confirm"),
    }
}

/// After the typed text changed: the right count (or profile name) moves the focus to
/// Delete and says so; anything else puts it back on Cancel.
fn after_typing(c: &mut ConfirmDelete) {
    if typed_matches(c) {
        c.focus_delete = true;
        let what = match c.plan.confirmation(c.protected) {
            Confirmation::TypeProfile(_) => "profile name",
            _ => "count",
        };
        c.hint = Some(format!(
            "✓ {what} typed: [ Delete ] is highlighted — Enter deletes, Tab goes back to Cancel"
        ));
    } else {
        c.focus_delete = false;
        c.hint = None;
    }
}

fn cancel_confirm(m: &mut Model) {
    m.modals.pop();
    m.set_status(Level::Info, "delete cancelled: nothing was sent");
}

fn on_confirm_key(m: &mut Model, c: &mut ConfirmDelete, key: KeyEvent) -> Vec<Effect> {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    let need = c.plan.confirmation(c.protected);
    let typing_letters = matches!(need, Confirmation::TypeProfile(_));
    let scroll_max = crate::ui::confirm_max_scroll(m, c);
    let scroll = |c: &mut ConfirmDelete, down: bool, n: usize| {
        c.scroll = if down {
            c.scroll.saturating_add(n).min(scroll_max)
        } else {
            c.scroll.min(scroll_max).saturating_sub(n)
        };
    };
    match key.code {
        KeyCode::Esc => cancel_confirm(m),
        KeyCode::Char('c') if ctrl => cancel_confirm(m),
        KeyCode::Char('t') if ctrl => {
            let (on, skip) = (!c.plan.cascade, c.plan.skip_in_use);
            rebuild_confirm_plan(m, c, on, skip);
        }
        KeyCode::Char('c') if !typing_letters => {
            let (on, skip) = (!c.plan.cascade, c.plan.skip_in_use);
            rebuild_confirm_plan(m, c, on, skip);
        }
        KeyCode::Char('x') if ctrl && c.plan.in_use_selected > 0 => {
            let (on, skip) = (c.plan.cascade, !c.plan.skip_in_use);
            rebuild_confirm_plan(m, c, on, skip);
        }
        KeyCode::Char('x') if !typing_letters && c.plan.in_use_selected > 0 => {
            let (on, skip) = (c.plan.cascade, !c.plan.skip_in_use);
            rebuild_confirm_plan(m, c, on, skip);
        }
        KeyCode::Char('n') | KeyCode::Char('q') if !typing_letters => cancel_confirm(m),
        KeyCode::Tab | KeyCode::BackTab | KeyCode::Left | KeyCode::Right => {
            if need == Confirmation::PressY {
                // One object: only y deletes, so Enter can never reach Delete.
                c.hint = Some("one object: press y to delete (Enter cancels)".into());
            } else {
                c.focus_delete = !c.focus_delete;
            }
        }
        KeyCode::Up => scroll(c, false, 1),
        KeyCode::Down => scroll(c, true, 1),
        KeyCode::PageUp => scroll(c, false, 10),
        KeyCode::PageDown => scroll(c, true, 10),
        KeyCode::Home => scroll(c, false, usize::MAX),
        KeyCode::End => scroll(c, true, usize::MAX),
        KeyCode::Char('y') if need == Confirmation::PressY => return confirm_delete(m, c),
        KeyCode::Char('j') if !typing_letters => scroll(c, true, 1),
        KeyCode::Char('k') if !typing_letters => scroll(c, false, 1),
        KeyCode::Backspace => {
            c.typed.backspace();
            after_typing(c);
        }
        KeyCode::Char(ch) if !ctrl => match &need {
            Confirmation::TypeCount(_) if ch.is_ascii_digit() => {
                c.typed.insert(ch);
                after_typing(c);
            }
            Confirmation::TypeProfile(_) => {
                c.typed.insert(ch);
                after_typing(c);
            }
            Confirmation::TypeCount(n) => {
                c.hint = Some(format!("type {n} and press Enter to delete"));
            }
            Confirmation::PressY => c.hint = Some("press y to delete, Esc to cancel".into()),
        },
        KeyCode::Enter => match &need {
            // One object: Cancel is the only button Enter can press.
            Confirmation::PressY => cancel_confirm(m),
            _ if typed_matches(c) && c.focus_delete => return confirm_delete(m, c),
            _ if typed_matches(c) => cancel_confirm(m),
            _ if !c.typed.text.is_empty() || c.focus_delete => {
                c.hint = Some(type_to_confirm(&need));
            }
            _ => cancel_confirm(m),
        },
        _ => {}
    }
    Vec::new()
}

fn confirm_delete(m: &mut Model, c: &mut ConfirmDelete) -> Vec<Effect> {
    if c.plan.is_empty() {
        c.hint = Some("nothing left to delete: Esc to close".into());
        return Vec::new();
    }
    m.modals.pop();
    let job = m.next_job;
    m.next_job += 1;
    let plan = c.plan.clone();
    let n = plan.steps.len();
    m.jobs.insert(
        job,
        Job {
            id: job,
            profile: c.profile,
            kind: JobKind::Delete(DeleteJob {
                plan: plan.clone(),
                outcomes: vec![StepOutcome::NotStarted; n],
                finished: false,
                cancel_requested: false,
                started_at: m.now,
                finished_at: None,
                errors: Vec::new(),
            }),
        },
    );
    // Marks that were acted on are spent.
    if let Some(tab) = m.profiles.get_mut(c.profile) {
        for v in tab.views.iter_mut() {
            v.marks.clear();
            v.hidden_marked = 0;
            v.anchor = None;
        }
    }
    m.modals.push(Modal::Progress { job, scroll: 0 });
    m.push_log(
        Level::Info,
        format!("delete job {job}: {n} objects on {}", plan.profile),
    );
    vec![Effect::Delete {
        job,
        profile: c.profile,
        plan,
    }]
}

fn on_delete_finished(m: &mut Model, job: u64, outcomes: Vec<StepOutcome>) -> Vec<Effect> {
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
        .map(|(s, _)| (s.target.kind, s.target.id.clone()))
        .collect();
    let level = if summary.failed > 0 {
        Level::Error
    } else {
        Level::Info
    };
    let shown = matches!(m.modals.last(), Some(Modal::Progress { job: j, .. }) if *j == job);
    let hint = if shown { "" } else { " (p: details)" };
    m.set_status(level, format!("delete finished: {summary}{hint}"));
    if let Some(tab) = m.profiles.get_mut(profile) {
        tab.hide(&gone);
    }
    // Reconcile with the server: the table must show what is really there.
    start_load(m, profile)
}

fn retry_failed(m: &mut Model, job: u64) -> Vec<Effect> {
    let Some(Job {
        profile,
        kind: JobKind::Delete(d),
        ..
    }) = m.jobs.get(&job)
    else {
        return Vec::new();
    };
    let profile = *profile;
    let selected: Vec<(Kind, String)> = d
        .plan
        .steps
        .iter()
        .zip(d.outcomes.iter())
        .filter(|(_, o)| {
            matches!(
                o,
                StepOutcome::Failed(_) | StepOutcome::Skipped(_) | StepOutcome::NotStarted
            )
        })
        .map(|(s, _)| (s.target.kind, s.target.id.clone()))
        .collect();
    if selected.is_empty() {
        m.set_status(Level::Info, "nothing failed: nothing to retry");
        return Vec::new();
    }
    let Some(tab) = m.profiles.get(profile) else {
        return Vec::new();
    };
    let plan = build_plan(&PlanRequest {
        spec: tab.spec,
        profile: &tab.info.name,
        all: &tab.resources,
        selected: &selected,
        hidden: &[],
        cascade: false,
        skip_in_use: false,
    });
    if plan.is_empty() {
        m.set_status(
            Level::Info,
            "the failed objects are no longer loaded: refresh first",
        );
        return Vec::new();
    }
    let protected = tab.info.protected;
    m.modals.pop();
    m.modals.push(Modal::Confirm(Box::new(ConfirmDelete {
        profile,
        plan: Arc::new(plan),
        selected,
        hidden: Vec::new(),
        protected,
        focus_delete: false,
        typed: LineInput::default(),
        scroll: 0,
        hint: None,
    })));
    Vec::new()
}

fn start_tests(m: &mut Model) -> Vec<Effect> {
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
            Kind::Connections => ids.push(r.id.clone()),
            Kind::Datasources => ids.extend(
                r.depends_on
                    .iter()
                    .filter(|d| d.kind == Kind::Connections)
                    .map(|d| d.id.clone()),
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
fn set_connection_health(m: &mut Model, p: usize, conn_id: &str, health: Health) {
    let Some(tab) = m.profiles.get_mut(p) else {
        return;
    };
    let result = std::collections::HashMap::from([(conn_id.to_string(), health)]);
    crate::model::apply_connection_health(&mut tab.resources, &result);
    // Health may change which rows "unhealthy only" shows.
    for k in 0..tab.views.len() {
        if tab.views[k].unhealthy_only {
            tab.rebuild_rows(k);
        }
    }
}

fn open_create(m: &mut Model) -> Vec<Effect> {
    if read_only_refusal(m, "create") {
        return Vec::new();
    }
    let p = m.active;
    let tab = &m.profiles[p];
    let Some(kind) = tab.view().map(|v| v.kind) else {
        return Vec::new();
    };
    let Some(spec) = create_form(tab.info.vendor, kind, &tab.resources) else {
        let text = format!("{} cannot create {kind} here", tab.info.vendor);
        m.set_status(Level::Info, text);
        return Vec::new();
    };
    let n = spec.fields.len();
    m.modals.push(Modal::Create(Box::new(CreateForm {
        profile: p,
        spec,
        texts: vec![LineInput::default(); n],
        choices: vec![None; n],
        filters: vec![LineInput::default(); n],
        focus: 0,
        error: None,
        note: None,
        mismatch_warned: false,
        submitting: false,
    })));
    Vec::new()
}

/// Pasted text into the focused field of a form: text and secret fields take it as typed,
/// a choice field as its filter.
fn paste_into_form(f: &mut CreateForm, text: &str) {
    let focus = f.focus;
    let Some(field) = f.spec.fields.get(focus) else {
        return;
    };
    let input = if matches!(field.kind, FieldKind::Choice(_)) {
        f.filters.get_mut(focus)
    } else {
        f.texts.get_mut(focus)
    };
    if let Some(input) = input {
        for ch in text.chars() {
            input.insert(ch);
        }
    }
    f.error = None;
    f.mismatch_warned = false;
    if matches!(field.kind, FieldKind::Choice(_)) {
        refilter_choice(f, focus);
    }
}

/// After choice field `i`'s filter changed: keep the choice if it still matches, else take
/// the first match, else choose nothing (so nothing unintended can be sent).
fn refilter_choice(f: &mut CreateForm, i: usize) {
    let matches = f.matching_options(i);
    let current = f.choices.get(i).copied().flatten();
    let next = match current {
        Some(c) if matches.contains(&c) => Some(c),
        _ => matches.first().copied(),
    };
    set_choice(f, i, next);
}

/// Choose option `choice` of field `i`, and let the fields that follow it follow.
fn set_choice(f: &mut CreateForm, i: usize, choice: Option<usize>) {
    let Some(slot) = f.choices.get_mut(i) else {
        return;
    };
    if *slot == choice {
        return;
    }
    *slot = choice;
    f.mismatch_warned = false;
    let leader = choice.and_then(|c| match &f.spec.fields[i].kind {
        FieldKind::Choice(options) => options.get(c).cloned(),
        _ => None,
    });
    let Some(leader) = leader else {
        return;
    };
    for j in 0..f.spec.fields.len() {
        let Some(follow) = f.spec.fields[j].follows.filter(|fl| fl.field == i) else {
            continue;
        };
        let FieldKind::Choice(options) = &f.spec.fields[j].kind else {
            continue;
        };
        let Some(want) = leader.value.get(follow.key).filter(|v| !v.is_null()) else {
            f.note = Some(format!(
                "{} does not say {}: choose the {} yourself",
                leader.label, follow.what, f.spec.fields[j].label
            ));
            continue;
        };
        // Of the options of the wanted kind, the one that agrees on most else (a version).
        let agree = |o: &crate::vendors::forms::Choice| -> usize {
            match (o.value.as_object(), leader.value.as_object()) {
                (Some(a), Some(b)) => a.iter().filter(|(k, v)| b.get(*k) == Some(*v)).count(),
                _ => 0,
            }
        };
        let best = options
            .iter()
            .enumerate()
            .filter(|(_, o)| o.value.get(follow.key) == Some(want))
            .max_by_key(|(k, o)| (agree(o), std::cmp::Reverse(*k)))
            .map(|(k, _)| k);
        match best {
            Some(k) => {
                f.choices[j] = Some(k);
                f.filters[j].clear();
                f.note = Some(format!(
                    "{} set to {} from {} {}",
                    f.spec.fields[j].label, options[k].label, f.spec.fields[i].label, leader.label
                ));
            }
            None => {
                f.choices[j] = None;
                f.note = Some(format!(
                    "no {} matches {} ({}): choose one",
                    f.spec.fields[j].label,
                    follow.what,
                    want.as_str().unwrap_or("?")
                ));
            }
        }
    }
}

/// A linked pair of choices that differ (a DBMS that is not the connection's type), as a
/// sentence, or `None` when every pair matches.
fn choice_mismatch(f: &CreateForm) -> Option<String> {
    let chosen = |i: usize| -> Option<&crate::vendors::forms::Choice> {
        match &f.spec.fields.get(i)?.kind {
            FieldKind::Choice(options) => options.get(f.choices.get(i).copied().flatten()?),
            _ => None,
        }
    };
    f.spec.fields.iter().enumerate().find_map(|(j, field)| {
        let follow = field.follows?;
        let (lead, mine) = (chosen(follow.field)?, chosen(j)?);
        let want = lead.value.get(follow.key).filter(|v| !v.is_null())?;
        let have = mine.value.get(follow.key).filter(|v| !v.is_null())?;
        (want != have).then(|| {
            format!(
                "{} {} is not {} ({}): Ctrl-S again to create it anyway, or choose another",
                field.label,
                mine.label,
                follow.what,
                want.as_str().unwrap_or("?")
            )
        })
    })
}

fn on_form_key(m: &mut Model, f: &mut CreateForm, key: KeyEvent) -> Vec<Effect> {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    let shift = key.modifiers.contains(KeyModifiers::SHIFT);
    let n = f.spec.fields.len().max(1);
    if f.submitting {
        if key.code == KeyCode::Esc {
            f.error = Some("waiting for the server; the request was already sent".into());
        }
        return Vec::new();
    }
    let focus = f.focus;
    let is_choice = matches!(
        f.spec.fields.get(focus).map(|fs| &fs.kind),
        Some(FieldKind::Choice(_))
    );
    match key.code {
        KeyCode::Esc => {
            m.modals.pop();
            m.set_status(Level::Info, "create cancelled: nothing was sent");
        }
        KeyCode::Tab if shift => f.focus = (focus + n - 1) % n,
        KeyCode::BackTab | KeyCode::Up => f.focus = (focus + n - 1) % n,
        KeyCode::Tab | KeyCode::Down => f.focus = (focus + 1) % n,
        KeyCode::Char('s') if ctrl => return submit_form(m, f),
        KeyCode::Enter => {
            if focus + 1 >= n {
                return submit_form(m, f);
            }
            f.focus += 1;
        }
        KeyCode::Left | KeyCode::Right if is_choice => {
            let matches = f.matching_options(focus);
            if !matches.is_empty() {
                let len = matches.len();
                let at = f.choices[focus].and_then(|c| matches.iter().position(|&k| k == c));
                let next = match (at, key.code) {
                    (None, KeyCode::Right) => 0,
                    (None, _) => len - 1,
                    (Some(p), KeyCode::Right) => (p + 1) % len,
                    (Some(p), _) => (p + len - 1) % len,
                };
                set_choice(f, focus, Some(matches[next]));
                f.error = None;
            }
        }
        KeyCode::Left => f.texts[focus].left(),
        KeyCode::Right => f.texts[focus].right(),
        KeyCode::Backspace if is_choice => {
            f.filters[focus].backspace();
            refilter_choice(f, focus);
        }
        KeyCode::Backspace => {
            f.texts[focus].backspace();
            f.mismatch_warned = false;
        }
        KeyCode::Char(c) if !ctrl && is_choice => {
            f.filters[focus].insert(c);
            f.error = None;
            refilter_choice(f, focus);
        }
        KeyCode::Char(c) if !ctrl => {
            f.texts[focus].insert(c);
            f.error = None;
            f.mismatch_warned = false;
        }
        _ => {}
    }
    Vec::new()
}

fn submit_form(m: &mut Model, f: &mut CreateForm) -> Vec<Effect> {
    if !f.mismatch_warned {
        if let Some(why) = choice_mismatch(f) {
            f.error = Some(why);
            f.mismatch_warned = true;
            return Vec::new();
        }
    }
    let values: Vec<serde_json::Value> = f
        .spec
        .fields
        .iter()
        .enumerate()
        .map(|(i, field)| match &field.kind {
            FieldKind::Choice(options) => f.choices[i]
                .and_then(|c| options.get(c))
                .map(|c| c.value.clone())
                .unwrap_or(serde_json::Value::Null),
            _ => serde_json::Value::String(f.texts[i].text.clone()),
        })
        .collect();
    match (f.spec.build)(&values) {
        Err(e) => {
            f.error = Some(e);
            Vec::new()
        }
        Ok(body) => {
            f.submitting = true;
            f.error = None;
            let job = m.next_job;
            m.next_job += 1;
            let name = body
                .get("name")
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string();
            let label = format!("{} '{}'", f.spec.kind.singular(), name);
            m.jobs.insert(
                job,
                Job {
                    id: job,
                    profile: f.profile,
                    kind: JobKind::Create {
                        label: label.clone(),
                    },
                },
            );
            m.set_status(Level::Info, format!("creating {label}…"));
            vec![Effect::Create {
                job,
                profile: f.profile,
                kind: f.spec.kind,
                body,
            }]
        }
    }
}

fn on_created(
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
                tab.resources.push(*r);
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
