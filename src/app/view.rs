//! Moving around the table: cursor, paging, the current view's rows, the active profile.
//! Shared by the layers that change what the table shows.

use super::effect::Effect;
use super::layout::table_rows;
use super::load::start_load;
use super::state::*;

/// Keep the current view's cursor on screen.
pub fn ensure_current_visible(m: &mut Model) {
    let page = m.page_rows;
    m.all.ensure_visible(page);
    if let Some(v) = m.tab_mut().and_then(|t| t.view_mut()) {
        v.ensure_visible(page);
    }
}

/// The table's height changed (resize, detail pane): page by the new height.
pub fn relayout(m: &mut Model) {
    m.page_rows = table_rows(m) as usize;
    ensure_current_visible(m);
}

pub fn switch_profile(m: &mut Model, p: usize) -> Vec<Effect> {
    if p >= m.profiles.len() {
        return Vec::new();
    }
    // A profile tab replaces the overview and the All tab.
    m.overview = None;
    m.all.open = false;
    if p == m.active {
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

pub fn move_cursor(m: &mut Model, f: impl FnOnce(usize, usize, usize) -> usize) {
    let page = m.page_rows;
    if let Some(v) = m.tab_mut().and_then(|t| t.view_mut()) {
        if v.rows.is_empty() {
            v.cursor = 0;
            v.offset = 0;
            return;
        }
        let last = v.rows.len() - 1;
        v.cursor = f(v.cursor, last, page).min(last);
        v.ensure_visible(page);
    }
    m.detail_scroll = 0;
}

/// Recompute the current view's rows; `resort` when the sort changed too.
pub fn rebuild_current(m: &mut Model, resort: bool) {
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
            v.ensure_visible(page);
        }
    }
}

/// Make the input line's text the current view's filter.
pub fn apply_filter(m: &mut Model) {
    let text = m.input.text.clone();
    if m.all.open {
        super::all::set_filter(m, &text);
        return;
    }
    let page = m.page_rows;
    let Some(tab) = m.tab_mut() else {
        return;
    };
    let k = tab.kind_index;
    let Some(v) = tab.view_mut() else {
        return;
    };
    if v.filter == text {
        return;
    }
    v.filter = text;
    // The rows of the new filter, cursor on the first (now, or when the worker answers).
    tab.refilter(k, super::index::Cursor::Top);
    if let Some(v) = tab.view_mut() {
        if !v.busy() {
            v.cursor = 0;
            v.offset = 0;
            v.ensure_visible(page);
        }
    }
}
