//! The on-call overview: one row per profile, worst first. Drawing only reads the counts
//! each tab keeps (no pass over the objects per frame).

use super::safe;
use super::theme::Theme;
use crate::app::state::Model;
use crate::model::{format_age, CellTone, Kind};
use crate::overview::ProfileSummary;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row, Table};
use ratatui::Frame;

fn short_kind(k: Kind) -> &'static str {
    match k {
        Kind::Datasources => "ds",
        Kind::Connections => "conn",
        Kind::Logins => "login",
        Kind::Datamarts => "dm",
    }
}

/// "19 ds · 14 conn · 13 login".
fn objects(s: &ProfileSummary) -> String {
    s.counts
        .objects
        .iter()
        .map(|(k, n)| format!("{n} {}", short_kind(*k)))
        .collect::<Vec<_>>()
        .join(" · ")
}

fn number(n: usize, bad: CellTone) -> (String, CellTone) {
    if n == 0 {
        ("-".into(), CellTone::Dim)
    } else {
        (n.to_string(), bad)
    }
}

/// "12s ago · 340 ms", or why the load failed.
fn loaded(m: &Model, s: &ProfileSummary, loading: bool) -> (String, CellTone) {
    if let Some(e) = &s.load_error {
        return (format!("failed: {e}"), CellTone::Bad);
    }
    let mut text = match s.loaded_at {
        Some(t) => format!("{} ago", format_age(m.now, t)),
        None => "never".to_string(),
    };
    if let Some(ms) = s.load_ms {
        text.push_str(&format!(" · {ms} ms"));
    }
    if loading {
        text.push_str(&format!(" {}", super::SPINNER[(m.tick % 4) as usize]));
    }
    (text, CellTone::Normal)
}

/// "3 since 14:02": objects that became unhealthy since the operator last looked.
fn new_cell(m: &Model, s: &ProfileSummary) -> (String, CellTone) {
    match (s.new_unhealthy, s.looked_at) {
        (0, _) | (_, None) => ("-".into(), CellTone::Dim),
        (n, Some(t)) => (
            format!("✚{n} since {}", crate::app::watch::since_label(m.now, t)),
            CellTone::Bad,
        ),
    }
}

fn badges(s: &ProfileSummary) -> String {
    let mut b = Vec::new();
    if s.no_secret {
        b.push("NO SECRET");
    } else if s.read_only {
        b.push("READ-ONLY");
    }
    if s.protected {
        b.push("PROTECTED");
    }
    b.join(" ")
}

pub fn draw(m: &Model, f: &mut Frame, area: Rect, theme: &Theme) {
    const TITLES: [&str; 13] = [
        "Profile",
        "Vendor",
        "Tenant",
        "State",
        "Objects",
        "Unhealthy",
        "New",
        "Sync ✗/old",
        "Untested",
        "Orphans",
        "Unknown",
        "Last load",
        "",
    ];
    /// The widest each column may grow (the profile's name and the load error the most).
    const CAPS: [usize; 13] = [28, 13, 22, 14, 24, 9, 16, 10, 8, 7, 7, 28, 20];
    let order = crate::app::overview::order(m);
    let cursor = m.overview.unwrap_or(0).min(order.len().saturating_sub(1));
    let height = area.height.saturating_sub(1) as usize;
    let offset = cursor.saturating_sub(height.saturating_sub(1));
    // The visible rows' cells, made safe once: their widths decide the columns'.
    let window: Vec<(usize, Vec<(String, CellTone)>)> = order
        .iter()
        .enumerate()
        .skip(offset)
        .take(height)
        .filter_map(|(pos, &p)| {
            let tab = m.profiles.get(p)?;
            let s = tab.summary();
            let c = &s.counts;
            let state_tone = if s.is_broken() {
                CellTone::Bad
            } else if s.loaded_at.is_some() {
                CellTone::Good
            } else {
                CellTone::Dim
            };
            let loading = tab.load == crate::app::tab::LoadState::Loading;
            let cells: Vec<(String, CellTone)> = vec![
                (format!("{} {}", p + 1, s.profile), CellTone::Normal),
                (s.vendor.display().to_string(), CellTone::Normal),
                (s.tenant.clone(), CellTone::Dim),
                (s.state(), state_tone),
                (objects(&s), CellTone::Normal),
                number(c.unhealthy, CellTone::Bad),
                new_cell(m, &s),
                if c.sync_failed + c.sync_stale == 0 {
                    ("-".into(), CellTone::Dim)
                } else {
                    (
                        format!("{}/{}", c.sync_failed, c.sync_stale),
                        CellTone::Warn,
                    )
                },
                number(c.never_tested, CellTone::Warn),
                number(c.orphans, CellTone::Warn),
                // Whose usage could not be read, or whose impact is unknown.
                number(c.usage_unknown + s.impact_unknown, CellTone::Warn),
                loaded(m, &s, loading),
                (badges(&s), CellTone::Warn),
            ];
            let cells = cells
                .into_iter()
                .map(|(t, tone)| (safe::clean(&t).into_owned(), tone))
                .collect();
            Some((pos, cells))
        })
        .collect();
    let mut widths: Vec<usize> = (0..TITLES.len())
        .map(|c| {
            window
                .iter()
                .filter_map(|(_, cells)| cells.get(c))
                .map(|(t, _)| safe::width(t))
                .chain(std::iter::once(safe::width(TITLES[c])))
                .max()
                .unwrap_or(0)
                .min(CAPS[c])
        })
        .collect();
    // The New column only when something is new.
    if window.iter().all(|(_, cells)| cells[6].0 == "-") {
        widths[6] = 0;
    }
    // On a narrow screen the least telling columns give way, in this order.
    const GIVE_WAY: [usize; 9] = [2, 12, 8, 10, 9, 1, 7, 4, 11];
    let fits = |w: &[usize]| {
        let shown: Vec<&usize> = w.iter().filter(|w| **w > 0).collect();
        shown.iter().map(|w| **w).sum::<usize>() + shown.len() <= area.width as usize
    };
    for c in GIVE_WAY {
        if fits(&widths) {
            break;
        }
        widths[c] = 0;
    }
    let shown = |c: &usize| widths[*c] > 0;
    let constraints: Vec<Constraint> = widths
        .iter()
        .filter(|w| **w > 0)
        .map(|w| Constraint::Length(*w as u16))
        .collect();
    let header = Row::new(
        (0..TITLES.len())
            .filter(shown)
            .map(|c| Cell::from(TITLES[c])),
    )
    .style(theme.header());
    let rows: Vec<Row> = window
        .into_iter()
        .map(|(pos, cells)| {
            let row = Row::new(
                cells
                    .into_iter()
                    .enumerate()
                    .filter(|(c, _)| shown(c))
                    .map(|(_, (t, tone))| Cell::from(Span::styled(t, theme.tone(tone)))),
            );
            if pos == cursor {
                row.style(theme.selected())
            } else {
                row.style(Style::default())
            }
        })
        .collect();
    f.render_widget(
        Table::new(rows, constraints)
            .header(header)
            .column_spacing(1),
        area,
    );
}

/// The line above the table: how many profiles, how many need attention.
pub fn title(m: &Model) -> Line<'static> {
    let broken = m
        .profiles
        .iter()
        .filter(|t| t.summary().is_broken())
        .count();
    let unhealthy: usize = m.profiles.iter().map(|t| t.counts.unhealthy).sum();
    let new = crate::app::watch::new_total(m);
    let new = if new > 0 {
        format!("· ✚{new} new since you last looked (n) ")
    } else {
        String::new()
    };
    let text = format!(
        " On call — {} profile{} · {} need{} attention · {} unhealthy object{} {new}",
        m.profiles.len(),
        if m.profiles.len() == 1 { "" } else { "s" },
        broken,
        if broken == 1 { "s" } else { "" },
        unhealthy,
        if unhealthy == 1 { "" } else { "s" },
    );
    Line::from(Span::raw(text))
}
