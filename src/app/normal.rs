//! Normal mode: the table's layer, at the bottom. Its keys are `keymap::BINDINGS`.

use super::effect::Effect;
use super::jobs::start_tests;
use super::keymap::{action_for, Action};
use super::load::start_load;
use super::marks;
use super::modals::{confirm, form, question};
use super::state::*;
use super::view::*;
use crossterm::event::KeyEvent;

/// The bottom layer: a key of the table, or nothing.
pub fn on_key(m: &mut Model, key: &KeyEvent) -> Vec<Effect> {
    match action_for(key) {
        Some(a) => on_action(m, a),
        None => Vec::new(),
    }
}

/// Pasted text with no text input open is not a command: say how to paste.
pub fn on_paste(m: &mut Model) {
    m.set_status(
        Level::Info,
        "pasted text ignored: press / to filter or : for a command first",
    );
}

pub fn on_action(m: &mut Model, action: Action) -> Vec<Effect> {
    if let Some(fx) = super::all::on_action(m, action) {
        return fx;
    }
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
        // In every screen (the All tab's rows too: its layer passes them on).
        Action::NextNew => return super::watch::jump(m, true),
        Action::PrevNew => return super::watch::jump(m, false),
        Action::ProfileNumber(n) => return switch_profile(m, n),
        // Tab goes round the profile tabs and the All tab (with more than one profile).
        Action::ProfileNext if !m.profiles.is_empty() => {
            let last = m.profiles.len() - 1;
            let all = m.profiles.len() > 1;
            if m.all.open {
                return switch_profile(m, 0);
            }
            if all && m.active == last && m.overview.is_none() {
                super::all::show(m);
                return Vec::new();
            }
            let n = if m.overview.is_some() {
                m.active
            } else {
                (m.active + 1) % m.profiles.len()
            };
            return switch_profile(m, n);
        }
        Action::ProfilePrev if !m.profiles.is_empty() => {
            let last = m.profiles.len() - 1;
            let all = m.profiles.len() > 1;
            if m.all.open {
                return switch_profile(m, last);
            }
            if all && m.active == 0 && m.overview.is_none() {
                super::all::show(m);
                return Vec::new();
            }
            let n = (m.active + last) % m.profiles.len();
            return switch_profile(m, n);
        }
        Action::AllTab => {
            if m.profiles.is_empty() {
                m.set_status(Level::Info, "no profiles");
            } else {
                super::all::show(m);
            }
        }
        Action::OpenInProfile => {
            m.set_status(
                Level::Info,
                "O opens a row of the All tab (*) in its profile's tab",
            );
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
                v.ensure_visible(page);
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
        Action::Mark | Action::MarkRange | Action::MarkAll if marks::refuse_read_only_kind(m) => {}
        Action::Mark => marks::toggle(m),
        Action::MarkRange => marks::range(m),
        Action::MarkAll => marks::all(m),
        Action::Back => back(m),
        Action::ClearMarks => marks::clear_marks(m),
        Action::RestoreMarks => marks::restore_marks(m),
        Action::Delete => return confirm::open(m),
        Action::Detail => {
            m.detail_open = !m.detail_open;
            m.detail_scroll = 0;
            m.page_rows = super::layout::table_rows(m) as usize;
            let page = m.page_rows;
            if let Some(v) = m.tab_mut().and_then(|t| t.view_mut()) {
                v.ensure_visible(page);
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
                return vec![Effect::Copy(id.to_string())];
            }
        }
        Action::CopyNames => {
            let names: Vec<String> = m
                .tab()
                .map(|t| {
                    let keys: std::collections::HashSet<(crate::model::Kind, String)> =
                        marks::selection(t).into_iter().collect();
                    t.resources
                        .iter()
                        .filter(|r| keys.contains(&(r.kind, r.id.to_string())))
                        .map(|r| r.name.to_string())
                        .collect()
                })
                .unwrap_or_default();
            if !names.is_empty() {
                m.set_status(Level::Info, format!("copied {} name(s)", names.len()));
                return vec![Effect::Copy(names.join("\n"))];
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
        Action::Impact => return crate::app::impact::run_for_selection(m),
        Action::Overview => crate::app::overview::show(m),
        Action::CheckAll => return crate::app::checks::check_all(m),
        Action::Create => return form::open(m),
        Action::Edit => return super::modals::edit::open(m),
        Action::Rotate => return super::modals::edit::open_rotate(m),
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
        Action::Quit => return question::request_quit(m),
    }
    Vec::new()
}

/// Esc in the table: close the detail pane, else clear the filter. Marks are never thrown
/// away by Esc (`U` clears them, `Ctrl-Z` brings them back).
fn back(m: &mut Model) {
    if m.detail_open {
        m.detail_open = false;
        m.page_rows = super::layout::table_rows(m) as usize;
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
