//! The All tab: every object of every profile in one table (the neutral columns).

use super::table::{draw_detail, draw_grid, impact_cell, Grid, GridRow};
use super::theme::Theme;
use super::{safe, split_body, SPINNER};
use crate::app::all::{self, COLUMNS};
use crate::app::state::{LoadState, Model};
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::Frame;

pub fn draw(m: &Model, f: &mut Frame, area: Rect, theme: &Theme) {
    let v = &m.all;
    let (table_area, detail_area, banner_area) = split_body(m, area);
    // The Impact column, once anything was computed in any profile.
    let with_impact = m
        .profiles
        .iter()
        .any(|t| !t.impacts.is_empty() || !t.impact_pending.is_empty());
    let loading = m.profiles.iter().any(|t| t.load == LoadState::Loading);
    let empty = if !v.members.is_empty() {
        "No rows match the filter or toggles (Esc clears the filter; o / u toggle)."
    } else if loading || v.busy() {
        "Loading…"
    } else {
        "Nothing loaded in any profile."
    };
    let grid = Grid {
        columns: &COLUMNS,
        sort_col: v.sort_col,
        sort_desc: v.sort_desc,
        with_impact,
        len: v.rows.len(),
        offset: v.offset,
        cursor: v.cursor,
        empty,
    };
    draw_grid(m, &grid, f, table_area, theme, |pos| {
        let &(p, i) = v.rows.get(pos)?;
        let tab = m.profiles.get(p as usize)?;
        let r = all::resource(m, (p, i))?;
        Some(GridRow {
            r,
            marked: all::is_marked(m, p as usize, r),
            new: tab.watch.is_new(r),
            impact: with_impact.then(|| impact_cell(m, tab, r)),
        })
    });
    if let Some(d) = detail_area {
        match all::current(m) {
            Some((p, r)) => draw_detail(m, &m.profiles[p], Some(r), f, d, theme),
            None => {
                if let Some(tab) = m.profiles.first() {
                    draw_detail(m, tab, None, f, d, theme);
                }
            }
        }
    }
    if let (Some(b), Some(text)) = (banner_area, &m.banner) {
        f.render_widget(safe::para(text.as_str()).style(theme.dim()), b);
    }
}

/// The line above the table: how many objects in how many profiles, what is filtered.
pub fn title(m: &Model, theme: &Theme) -> Line<'static> {
    let v = &m.all;
    let count = if v.rows.len() != v.members.len() {
        format!("{}/{}", v.rows.len(), v.members.len())
    } else {
        v.members.len().to_string()
    };
    let loading = m
        .profiles
        .iter()
        .filter(|t| t.load == LoadState::Loading)
        .count();
    let mut spans = vec![Span::styled(
        format!(
            " All ({count}) — every object of {} profile{} ",
            m.profiles.len(),
            if m.profiles.len() == 1 { "" } else { "s" }
        ),
        theme.header(),
    )];
    if loading > 0 {
        spans.push(Span::styled(
            format!("{} {loading} loading ", SPINNER[(m.tick % 4) as usize]),
            theme.dim(),
        ));
    }
    if v.busy() && v.busy_ticks >= 2 {
        spans.push(Span::styled("filtering… ", theme.dim()));
    }
    let mut flags: Vec<String> = Vec::new();
    if !v.filter.is_empty() {
        flags.push(format!("filter: {}", v.filter));
    }
    if v.orphans_only {
        flags.push("orphans only".into());
    }
    if v.unhealthy_only {
        flags.push("unhealthy only".into());
    }
    if !flags.is_empty() {
        spans.push(Span::styled(
            format!(" [{}]", flags.join(" · ")),
            theme.warn(),
        ));
    }
    Line::from(spans)
}

/// The keys shown under the All tab.
pub const HINTS: [(&str, &str); 11] = [
    ("Enter", "detail"),
    ("O", "open in profile"),
    ("/", "filter"),
    ("Space", "mark"),
    ("Ctrl-D", "delete"),
    ("i", "impact"),
    ("s", "sort"),
    ("u", "unhealthy"),
    (":", "command"),
    ("?", "help"),
    ("q", "quit"),
];
