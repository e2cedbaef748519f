//! Drawing: a pure function of the model. Nothing here mutates state or does I/O, and the
//! table builds rows only for the visible window, so a frame costs the same at 100 rows as
//! at 100,000.

mod all;
mod modal;
mod overview;
mod safe;
mod table;

pub use modal::confirm_max_scroll;
pub mod theme;

#[cfg(test)]
mod tests;

use crate::app::keymap::BINDINGS;
use crate::app::state::{JobKind, Level, LoadState, Mode, Model, ProfileTab};
use crate::model::format_age;
use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Wrap;
use ratatui::Frame;
use theme::Theme;

pub use crate::app::layout::{DETAIL_SIDE_MIN_WIDTH, MIN_HEIGHT, MIN_WIDTH};

/// What `app` asks the drawing code to measure.
pub const MEASURES: crate::app::state::Measures = crate::app::state::Measures {
    confirm_max_scroll: modal::confirm_max_scroll,
};

/// How long a status message stays in the status line.
const STATUS_INFO_SECS: i64 = 30;
const STATUS_WARN_SECS: i64 = 120;

pub(crate) const SPINNER: [&str; 4] = ["⠋", "⠙", "⠸", "⠴"];

pub fn draw(m: &Model, f: &mut Frame) {
    let area = f.area();
    let theme = Theme {
        no_color: m.no_color,
    };
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let msg = format!(
            "terminal too small: {}x{} (need at least {MIN_WIDTH}x{MIN_HEIGHT})",
            area.width, area.height
        );
        f.render_widget(safe::para(msg).wrap(Wrap { trim: true }), area);
        return;
    }
    let rows = Layout::default()
        .direction(Direction::Vertical)
        .constraints([
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Min(3),
            Constraint::Length(1),
            Constraint::Length(1),
        ])
        .split(area);
    draw_profile_tabs(m, f, rows[0], &theme);
    draw_kind_tabs(m, f, rows[1], &theme);
    draw_body(m, f, rows[2], &theme);
    draw_status(m, f, rows[3], &theme);
    draw_bottom_line(m, f, rows[4], &theme);
    modal::draw_modals(m, f, area, &theme);
}

fn draw_profile_tabs(m: &Model, f: &mut Frame, area: Rect, theme: &Theme) {
    let mut badges: Vec<Span> = Vec::new();
    if m.demo {
        badges.push(Span::styled(" DEMO ", theme.badge(false)));
    }
    if let Some(tab) = m.tab().filter(|_| m.overview.is_none() && !m.all.open) {
        if tab.info.secret_missing() {
            badges.push(Span::raw(" "));
            badges.push(Span::styled(" NO SECRET ", theme.badge(true)));
        } else if tab.info.read_only && tab.info.setup_error.is_none() {
            badges.push(Span::raw(" "));
            badges.push(Span::styled(" READ-ONLY ", theme.badge(false)));
        }
        if tab.info.protected {
            badges.push(Span::raw(" "));
            badges.push(Span::styled(" PROTECTED ", theme.badge(false)));
        }
        if tab.info.insecure_tls {
            badges.push(Span::raw(" "));
            badges.push(Span::styled(" INSECURE TLS ", theme.badge(true)));
        }
    }
    let mut spans: Vec<Span> = Vec::new();
    // Full labels when they fit ("1 MicroStrategy · prod-mstr"), else the profile names only.
    let full_label = |i: usize, t: &ProfileTab| {
        format!(" {} {} · {} ", i + 1, t.info.vendor.display(), t.info.name)
    };
    let full: usize = m
        .profiles
        .iter()
        .enumerate()
        .map(|(i, t)| full_label(i, t).chars().count() + 1)
        .sum();
    // Besides the profile tabs: the overview tab (13 cells), the All tab (7), the badges.
    let others = if m.profiles.len() > 1 { 20 } else { 0 };
    let badges_w: usize = badges.iter().map(|s| s.width()).sum();
    let short = full + others + badges_w > area.width as usize;
    if m.profiles.len() > 1 {
        let style = if m.overview.is_some() {
            theme.tab_active()
        } else {
            theme.tab_inactive()
        };
        spans.push(Span::styled(" 0 Overview ", style));
        spans.push(Span::raw(" "));
    }
    for (i, tab) in m.profiles.iter().enumerate() {
        let label = if short {
            format!(" {} {} ", i + 1, tab.info.name)
        } else {
            full_label(i, tab)
        };
        let style = if i == m.active && m.overview.is_none() && !m.all.open {
            theme.tab_active()
        } else {
            theme.tab_inactive()
        };
        spans.push(Span::styled(label, style));
        spans.push(Span::raw(" "));
    }
    if m.profiles.len() > 1 {
        let style = if m.all.open {
            theme.tab_active()
        } else {
            theme.tab_inactive()
        };
        spans.push(Span::styled(" * All ", style));
    }
    if m.profiles.is_empty() {
        spans.push(Span::styled(" no profiles configured ", theme.warn()));
    }
    let badge_width: u16 = badges.iter().map(|s| s.width() as u16).sum();
    let cols = Layout::default()
        .direction(Direction::Horizontal)
        .constraints([Constraint::Min(1), Constraint::Length(badge_width)])
        .split(area);
    f.render_widget(safe::para(Line::from(spans)), cols[0]);
    f.render_widget(safe::para(Line::from(badges)), cols[1]);
}

fn draw_kind_tabs(m: &Model, f: &mut Frame, area: Rect, theme: &Theme) {
    if m.overview.is_some() {
        f.render_widget(safe::para(overview::title(m)).style(theme.header()), area);
        return;
    }
    if m.all.open {
        f.render_widget(safe::para(all::title(m, theme)), area);
        return;
    }
    let Some(tab) = m.tab() else {
        return;
    };
    let mut spans: Vec<Span> = Vec::new();
    for (i, v) in tab.views.iter().enumerate() {
        let count = if v.rows.len() != v.members.len() {
            format!("{}/{}", v.rows.len(), v.members.len())
        } else {
            v.members.len().to_string()
        };
        // Marks of the other kinds stay visible: they are deleted with Ctrl-D there.
        let marks = if !v.marks.is_empty() && i != tab.kind_index {
            format!("●{}", v.marks.len())
        } else {
            String::new()
        };
        let label = format!(" {} ({count}){marks} ", v.kind.title());
        let style = if i == tab.kind_index {
            Style::default().add_modifier(Modifier::BOLD | Modifier::UNDERLINED)
        } else {
            theme.dim()
        };
        spans.push(Span::styled(label, style));
    }
    if let Some(v) = tab.view() {
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
                format!("  [{}]", flags.join(" · ")),
                theme.warn(),
            ));
        }
        // The worker has been at it for a tick or two: the rows shown are the last result.
        if v.busy() && tab.busy_ticks >= 2 {
            let what = if tab.load == crate::app::state::LoadState::Loading {
                "indexing…"
            } else {
                "filtering…"
            };
            spans.push(Span::styled(format!("  {what}"), theme.dim()));
        }
    }
    f.render_widget(safe::para(Line::from(spans)), area);
}

fn draw_body(m: &Model, f: &mut Frame, area: Rect, theme: &Theme) {
    if m.overview.is_some() && !m.profiles.is_empty() {
        overview::draw(m, f, area, theme);
        return;
    }
    if m.all.open {
        all::draw(m, f, area, theme);
        return;
    }
    let Some(tab) = m.tab() else {
        let text =
            "No profiles. Copy config.example.toml to your config file, or run `dsconsole demo`.";
        f.render_widget(safe::para(text).wrap(Wrap { trim: true }), area);
        return;
    };
    if let Some(msg) = unusable_message(tab) {
        f.render_widget(
            safe::para(msg)
                .style(theme.warn())
                .wrap(Wrap { trim: true }),
            area,
        );
        return;
    }
    if tab.resources.is_empty() {
        let text = match &tab.load {
            LoadState::Idle => "Not loaded yet. Press r to load.".to_string(),
            LoadState::Loading => format!(
                "{} Loading {}…",
                SPINNER[(m.tick % 4) as usize],
                tab.info.name
            ),
            LoadState::Failed(e) => format!("Load failed: {e}\n\nPress r to retry."),
            LoadState::Loaded => "Nothing here.".to_string(),
        };
        let style = if matches!(tab.load, LoadState::Failed(_)) {
            theme.error()
        } else {
            Style::default()
        };
        f.render_widget(
            safe::para(text).style(style).wrap(Wrap { trim: true }),
            area,
        );
        return;
    }
    let (table_area, detail_area, banner_area) = split_body(m, area);
    table::draw_table(m, tab, f, table_area, theme);
    if let Some(d) = detail_area {
        table::draw_detail(m, tab, tab.current(), f, d, theme);
    }
    if let (Some(b), Some(text)) = (banner_area, &m.banner) {
        f.render_widget(safe::para(text.as_str()).style(theme.dim()), b);
    }
}

fn unusable_message(tab: &ProfileTab) -> Option<String> {
    if !tab.spec.supported {
        return Some(format!(
            "{} ({}): not supported yet in this version.",
            tab.info.vendor.display(),
            tab.info.name
        ));
    }
    tab.info
        .setup_error
        .as_ref()
        .map(|e| format!("Profile '{}' cannot be used: {e}", tab.info.name))
}

pub(crate) fn split_body(m: &Model, area: Rect) -> (Rect, Option<Rect>, Option<Rect>) {
    let (area, banner) = if m.banner.is_some() && area.height > 6 {
        let parts = Layout::default()
            .direction(Direction::Vertical)
            .constraints([Constraint::Min(3), Constraint::Length(1)])
            .split(area);
        (parts[0], Some(parts[1]))
    } else {
        (area, None)
    };
    if !m.detail_open {
        return (area, None, banner);
    }
    let direction = if area.width >= DETAIL_SIDE_MIN_WIDTH {
        Direction::Horizontal
    } else {
        Direction::Vertical
    };
    let parts = Layout::default()
        .direction(direction)
        .constraints([Constraint::Percentage(55), Constraint::Percentage(45)])
        .split(area);
    (parts[0], Some(parts[1]), banner)
}

fn draw_status(m: &Model, f: &mut Frame, area: Rect, theme: &Theme) {
    if let Some(c) = m
        .completion
        .as_ref()
        .filter(|c| m.mode != Mode::Normal && c.candidates.len() > 1)
    {
        draw_candidates(c, f, area, theme);
        return;
    }
    let mut left: Vec<Span> = Vec::new();
    if m.all.open {
        let marked = crate::app::all::mark_count(m);
        if marked > 0 {
            let hidden = crate::app::all::hidden_marks(m);
            let mut s = format!("{marked} marked in all profiles");
            if hidden > 0 {
                s.push_str(&format!(" ({hidden} hidden by filter)"));
            }
            left.push(Span::styled(s, theme.marked()));
            left.push(Span::raw(" │ "));
        }
        let loaded: Vec<i64> = m.profiles.iter().filter_map(|t| t.loaded_at).collect();
        let text = match loaded.iter().min() {
            Some(&oldest) => format!(
                "{}/{} profiles loaded, oldest {} ago",
                loaded.len(),
                m.profiles.len(),
                format_age(m.now, oldest)
            ),
            None => "nothing loaded yet".to_string(),
        };
        left.push(Span::styled(text, theme.dim()));
        let new = crate::app::watch::new_total(m);
        if new > 0 {
            left.push(Span::raw(" │ "));
            left.push(Span::styled(
                format!("✚{new} new since you last looked (n/N)"),
                theme.new_row(),
            ));
        }
    } else if let Some(tab) = m.tab() {
        if let Some(v) = tab.view() {
            if !v.marks.is_empty() {
                let hidden = v.hidden_marked;
                let mut s = format!("{} marked", v.marks.len());
                if hidden > 0 {
                    s.push_str(&format!(" ({hidden} hidden by filter)"));
                }
                left.push(Span::styled(s, theme.marked()));
                left.push(Span::raw(" │ "));
            }
        }
        let age = match (&tab.load, tab.loaded_at) {
            (LoadState::Loading, _) if tab.streaming => format!(
                "{} loading ({} so far)",
                SPINNER[(m.tick % 4) as usize],
                tab.resources.len()
            ),
            (LoadState::Loading, _) => format!("{} loading", SPINNER[(m.tick % 4) as usize]),
            (_, Some(at)) => format!("loaded {} ago", format_age(m.now, at)),
            (LoadState::Failed(_), None) => "load failed".into(),
            _ => "not loaded".into(),
        };
        left.push(Span::styled(age, theme.dim()));
        if let (n @ 1.., Some(t)) = (tab.watch.new_count, tab.watch.looked_at) {
            left.push(Span::raw(" │ "));
            left.push(Span::styled(
                format!(
                    "✚{n} new since {} (n/N)",
                    crate::app::watch::since_label(m.now, t)
                ),
                theme.new_row(),
            ));
        }
    }
    for job in m.jobs.values().filter(|j| j.running()) {
        let text = match &job.kind {
            JobKind::Delete(d) => format!(" │ deleting {}/{}", d.done(), d.outcomes.len()),
            JobKind::Test { total, done, .. } => format!(" │ testing {done}/{total}"),
            JobKind::Create { label } => format!(" │ creating {label}"),
            JobKind::Change { total, done, .. } => format!(" │ changing {done}/{total}"),
            JobKind::Restore { total, done, .. } => format!(" │ restoring {done}/{total}"),
            JobKind::Impact { total, done, .. } => format!(" │ impact {done}/{total}"),
            JobKind::Checks { total, done, .. } => format!(" │ checking {done}/{total}"),
        };
        left.push(Span::styled(text, theme.warn()));
    }
    // Old messages expire: information after 30 s, warnings and errors after 2 minutes
    // (all of them stay in the log pane, L).
    let fresh = |st: &&crate::app::state::LogEntry| {
        let ttl = if st.level == Level::Info {
            STATUS_INFO_SECS
        } else {
            STATUS_WARN_SECS
        };
        m.now - st.at < ttl
    };
    if let Some(st) = m.status.as_ref().filter(fresh) {
        let style = match st.level {
            Level::Error => theme.error(),
            Level::Warn => theme.warn(),
            Level::Info => Style::default(),
        };
        left.push(Span::raw(" │ "));
        left.push(Span::styled(st.text.clone(), style));
    }
    f.render_widget(safe::para(Line::from(left)), area);
}

/// Completion candidates in place of the status line: as many as fit, the one in the line
/// highlighted and always shown, "…" where some are left out. Each is sanitized (owner names
/// come from the server).
fn draw_candidates(
    c: &crate::app::completion::Completion,
    f: &mut Frame,
    area: Rect,
    theme: &Theme,
) {
    use crate::app::completion::label;
    const GAP: usize = 2;
    let widths: Vec<usize> = c
        .candidates
        .iter()
        .map(|s| safe::width(&safe::clean(label(s))))
        .collect();
    let room = area.width as usize;
    // The window starts where the selected candidate (if any) still fits with "… " before it.
    let fits = |from: usize, to: usize| -> bool {
        let lead = if from > 0 { GAP } else { 0 };
        lead + widths[from..=to].iter().map(|w| w + GAP).sum::<usize>() <= room
    };
    let mut start = 0;
    if let Some(sel) = c.selected {
        while start < sel && !fits(start, sel) {
            start += 1;
        }
    }
    let mut spans: Vec<Span> = Vec::new();
    let mut used = 0;
    if start > 0 {
        spans.push(Span::styled("… ", theme.dim()));
        used += GAP;
    }
    for (i, cand) in c.candidates.iter().enumerate().skip(start) {
        let more = i + 1 < c.candidates.len();
        // Keep room for a closing "…" when more follow.
        let need = widths[i] + if more { GAP + 1 } else { 0 };
        if used + need > room && !spans.is_empty() {
            spans.push(Span::styled("…", theme.dim()));
            break;
        }
        let style = if c.selected == Some(i) {
            theme.selected()
        } else {
            Style::default()
        };
        spans.push(Span::styled(
            crate::text::fit(&safe::clean(label(cand)), room.saturating_sub(used)),
            style,
        ));
        spans.push(Span::raw("  "));
        used += widths[i] + GAP;
    }
    f.render_widget(safe::para(Line::from(spans)), area);
}

fn draw_bottom_line(m: &Model, f: &mut Frame, area: Rect, theme: &Theme) {
    match m.mode {
        Mode::Filter | Mode::Command => {
            let prefix = if m.mode == Mode::Filter { "/" } else { ":" };
            let line = Line::from(vec![
                Span::styled(prefix, theme.key()),
                Span::raw(m.input.text.clone()),
            ]);
            f.render_widget(safe::para(line), area);
            // The cursor sits after the prefix as it is shown (sanitized), not as typed.
            let prefix: String = m.input.text.chars().take(m.input.cursor).collect();
            let x = area.x + 1 + safe::width(&safe::clean(&prefix)) as u16;
            f.set_cursor_position((x.min(area.right().saturating_sub(1)), area.y));
        }
        Mode::Normal if m.all.open => {
            let mut spans: Vec<Span> = Vec::new();
            let mut used = 0;
            let tail = all::HINTS.len() - 2;
            for (n, (k, l)) in all::HINTS.iter().enumerate() {
                let w = k.chars().count() + l.chars().count() + 3;
                // Help and quit always fit: the others go from the end.
                let rest: usize = all::HINTS[tail.max(n + 1)..]
                    .iter()
                    .map(|(k, l)| k.chars().count() + l.chars().count() + 3)
                    .sum();
                if n < tail && used + w + rest > area.width as usize {
                    continue;
                }
                used += w;
                spans.push(Span::styled(k.to_string(), theme.key()));
                spans.push(Span::raw(format!(" {l}  ")));
            }
            f.render_widget(safe::para(Line::from(spans)), area);
        }
        Mode::Normal if m.overview.is_some() => {
            let hints = [
                ("Enter", "open"),
                ("j/k", "move"),
                ("1-9", "profile tab"),
                ("r", "refresh all"),
                (":", "command"),
                ("?", "help"),
                ("q", "quit"),
            ];
            let mut spans: Vec<Span> = Vec::new();
            for (k, l) in hints {
                spans.push(Span::styled(k.to_string(), theme.key()));
                spans.push(Span::raw(format!(" {l}  ")));
            }
            f.render_widget(safe::para(Line::from(spans)), area);
        }
        Mode::Normal => {
            let read_only = m.tab().is_some_and(|t| t.info.read_only);
            let hints: Vec<(&str, &str)> = BINDINGS
                .iter()
                .filter(|b| {
                    m.tab()
                        .is_none_or(|t| crate::app::keymap::applies(b.action, t.spec))
                })
                .filter_map(|b| {
                    let hint = b.hint?;
                    let key = b.label.split(" / ").next().unwrap_or(b.label);
                    Some((
                        key,
                        if b.mutating && read_only {
                            "read-only"
                        } else {
                            hint
                        },
                    ))
                })
                .collect();
            // Keep the last two (help, quit) always; drop others from the end until it fits.
            let width = |h: &[(&str, &str)]| -> usize {
                h.iter()
                    .map(|(k, l)| k.chars().count() + l.chars().count() + 3)
                    .sum()
            };
            let tail_at = hints.len().saturating_sub(2);
            let (head, tail) = hints.split_at(tail_at);
            let mut head = head.to_vec();
            while !head.is_empty() && width(&head) + width(tail) > area.width as usize {
                head.pop();
            }
            let mut spans: Vec<Span> = Vec::new();
            for (k, l) in head.iter().chain(tail.iter()) {
                spans.push(Span::styled(k.to_string(), theme.key()));
                spans.push(Span::raw(format!(" {l}  ")));
            }
            f.render_widget(safe::para(Line::from(spans)), area);
        }
    }
}
