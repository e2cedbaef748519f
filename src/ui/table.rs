//! The resource table (rows built only for the visible window) and the detail pane.

use super::theme::Theme;
use crate::app::state::{Model, ProfileTab};
use crate::model::{CellCtx, ColWidth, ColumnDef, Resource};
use crate::text::{fit, fit_middle};
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Row, Table};
use ratatui::Frame;

/// Offset of the first visible row: the stored offset, corrected so the cursor is on screen
/// whatever the real height is.
pub fn effective_offset(offset: usize, cursor: usize, len: usize, height: usize) -> usize {
    let height = height.max(1);
    let mut off = offset.min(len.saturating_sub(height));
    if cursor < off {
        off = cursor;
    } else if cursor >= off + height {
        off = cursor + 1 - height;
    }
    off
}

fn common_prefix(a: &str, b: &str) -> usize {
    a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count()
}

/// For each of `texts`, the length (in chars) of the longest prefix it shares with another,
/// different, value among them (equal values get the same answer). Neighbours in sorted
/// order give the longest shared prefix of each.
fn shared_prefixes(texts: &[&str]) -> Vec<usize> {
    let mut distinct: Vec<&str> = texts.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    let best: std::collections::HashMap<&str, usize> = distinct
        .iter()
        .enumerate()
        .map(|(k, t)| {
            let before = k
                .checked_sub(1)
                .map_or(0, |j| common_prefix(t, distinct[j]));
            let after = distinct.get(k + 1).map_or(0, |n| common_prefix(t, n));
            (*t, before.max(after))
        })
        .collect();
    texts
        .iter()
        .map(|t| best.get(t).copied().unwrap_or(0))
        .collect()
}

/// Share `available` cells among columns. `wants` is each column's content width (title and
/// the visible cells). When everything fits, each column gets what it needs and the rest goes
/// to the fill columns in proportion to their minimum. When not, the first column (the name)
/// keeps its content width up to two fifths of the table, and the others are cut from the
/// widest down, so that short columns stay whole and long ones lose the least.
pub fn column_widths(rules: &[ColWidth], wants: &[u16], available: u16) -> Vec<u16> {
    let n = rules.len();
    if n == 0 {
        return Vec::new();
    }
    let avail = u32::from(available);
    let want: Vec<u32> = rules
        .iter()
        .enumerate()
        .map(|(i, r)| match r {
            // A fixed column is at most its width: an empty one gives its room away.
            ColWidth::Fixed(k) => {
                u32::from(*k).min(u32::from(wants.get(i).copied().unwrap_or(0)).max(3))
            }
            ColWidth::Fill(_) | ColWidth::Names(_) => {
                u32::from(wants.get(i).copied().unwrap_or(0)).max(3)
            }
        })
        .collect();
    let total: u32 = want.iter().sum();
    if total <= avail {
        let mut out = want.clone();
        let weights: Vec<u32> = rules
            .iter()
            .map(|r| match r {
                ColWidth::Fill(k) | ColWidth::Names(k) => u32::from(*k),
                ColWidth::Fixed(_) => 0,
            })
            .collect();
        let weight_total: u32 = weights.iter().sum();
        let extra = avail - total;
        let mut given = 0;
        for (o, w) in out.iter_mut().zip(&weights) {
            let add = (extra * w).checked_div(weight_total).unwrap_or(0);
            *o += add;
            given += add;
        }
        if weight_total > 0 {
            out[0] += extra - given;
        }
        return out.into_iter().map(|w| w as u16).collect();
    }
    // Too wide: the name first, then the others water-filled. Each keeps up to `SHORT`
    // cells of its content (so a short status column stays whole); above that, each is cut
    // to `level` x its weight (its `ColWidth` number), so a message column keeps more than a
    // date. When even the short parts do not fit, every column is cut evenly.
    const SHORT: u32 = 10;
    let name = want[0].min((avail * 2 / 5).max(want[0].min(12))).min(avail);
    let rest = avail.saturating_sub(name);
    let weights: Vec<u32> = rules[1..]
        .iter()
        .map(|r| match r {
            ColWidth::Fixed(k) | ColWidth::Fill(k) | ColWidth::Names(k) => u32::from(*k).max(1),
        })
        .collect();
    // Columns come in order of importance: when even their short parts do not fit, the
    // last ones give way entirely (width 0) so that the others stay readable.
    let mut kept = want.len() - 1;
    while kept > 1
        && want[1..=kept]
            .iter()
            .map(|w| (*w).min(SHORT) + 1)
            .sum::<u32>()
            > rest + 1
    {
        kept -= 1;
    }
    let others = &want[1..=kept];
    let short_total: u32 = others.iter().map(|w| (*w).min(SHORT)).sum();
    let weights = &weights[..kept];
    let cut = |level: u32| -> Vec<u32> {
        others
            .iter()
            .zip(weights)
            .map(|(w, k)| {
                if short_total > rest {
                    (*w).min(level)
                } else {
                    (*w).min((*w).min(SHORT).max(level * k / 16))
                }
            })
            .collect()
    };
    let top = others.iter().copied().max().unwrap_or(0);
    let (mut lo, mut hi) = (0u32, if short_total > rest { top } else { 16 * top });
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if cut(mid).iter().sum::<u32>() <= rest {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    let mut out: Vec<u32> = std::iter::once(name)
        .chain(cut(lo))
        .chain(std::iter::repeat_n(0, want.len() - 1 - kept))
        .collect();
    // What the cap leaves over goes to the columns that were cut, left to right.
    let mut left = avail.saturating_sub(out.iter().sum());
    for (o, w) in out.iter_mut().zip(&want).skip(1).take(kept) {
        if left == 0 {
            break;
        }
        if *o < *w {
            *o += 1;
            left -= 1;
        }
    }
    out[0] += left;
    // Never below 3 cells: the others give way to keep each column readable.
    for o in out.iter_mut().skip(1).take(kept) {
        *o = (*o).max(3);
    }
    let over = out.iter().sum::<u32>().saturating_sub(avail);
    out[0] = out[0].saturating_sub(over).max(3);
    out.into_iter().map(|w| w as u16).collect()
}

/// What a table shows: its columns and sort, and where its window of rows is.
pub struct Grid<'a> {
    pub columns: &'a [ColumnDef],
    pub sort_col: usize,
    pub sort_desc: bool,
    /// An Impact column after the name.
    pub with_impact: bool,
    /// How many rows there are (visible ones, after the filter).
    pub len: usize,
    pub offset: usize,
    pub cursor: usize,
    /// Shown when there are no rows.
    pub empty: &'a str,
}

/// One row of a `Grid`: its object, whether it is marked, whether it became unhealthy since
/// the operator last looked, its Impact cell.
pub struct GridRow<'a> {
    pub r: &'a Resource,
    pub marked: bool,
    pub new: bool,
    pub impact: Option<crate::model::Cell>,
}

pub fn draw_table(m: &Model, tab: &ProfileTab, f: &mut Frame, area: Rect, theme: &Theme) {
    let Some(view) = tab.view() else {
        return;
    };
    // The Impact column, once anything was computed in this tab.
    let with_impact = !tab.impacts.is_empty() || !tab.impact_pending.is_empty();
    let grid = Grid {
        columns: (tab.spec.columns)(view.kind),
        sort_col: view.sort_col,
        sort_desc: view.sort_desc,
        with_impact,
        len: view.rows.len(),
        offset: view.offset,
        cursor: view.cursor,
        empty: if view.members.is_empty() {
            "Nothing here."
        } else {
            "No rows match the filter or toggles (Esc clears the filter; o / u toggle)."
        },
    };
    draw_grid(m, &grid, f, area, theme, |pos| {
        let r = view.rows.get(pos).and_then(|&i| tab.resources.get(i))?;
        Some(GridRow {
            r,
            marked: view.marks.contains(r.id.as_str()),
            new: tab.watch.is_new(r),
            impact: with_impact.then(|| impact_cell(m, tab, r)),
        })
    });
}

/// Draw a table of resources: only the rows of its window are built.
pub fn draw_grid<'a>(
    m: &Model,
    grid: &Grid,
    f: &mut Frame,
    area: Rect,
    theme: &Theme,
    row_at: impl Fn(usize) -> Option<GridRow<'a>>,
) {
    use super::safe;
    let columns = grid.columns;
    let ctx = CellCtx { now: m.now };
    let with_impact = grid.with_impact;
    let ncols = columns.len() + usize::from(with_impact);
    let body_height = area.height.saturating_sub(1) as usize;
    let offset = effective_offset(grid.offset, grid.cursor, grid.len, body_height);
    let end = (offset + body_height).min(grid.len);

    // The visible window's cells, made safe once: their widths decide the columns'.
    let window: Vec<((bool, bool), Vec<crate::model::Cell>)> = (offset..end)
        .filter_map(&row_at)
        .map(|row| {
            let mut cells = columns
                .iter()
                .map(|c| {
                    let mut cell = (c.cell)(row.r, &ctx);
                    if let std::borrow::Cow::Owned(clean) = safe::clean(&cell.text) {
                        cell.text = clean;
                    }
                    cell
                })
                .collect::<Vec<_>>();
            if with_impact {
                cells.insert(
                    IMPACT_AT.min(cells.len()),
                    row.impact.unwrap_or(crate::model::Cell {
                        text: String::new(),
                        tone: crate::model::CellTone::Dim,
                    }),
                );
            }
            ((row.marked, row.new), cells)
        })
        .collect();
    let mut titles: Vec<String> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut title = c.title.to_string();
            if i == grid.sort_col {
                title.push_str(if grid.sort_desc { " ▼" } else { " ▲" });
            }
            title
        })
        .collect();
    if with_impact {
        titles.insert(IMPACT_AT.min(titles.len()), "Impact".into());
    }
    let wants: Vec<u16> = (0..ncols)
        .map(|c| {
            let cells = window
                .iter()
                .filter_map(|(_, cells)| cells.get(c))
                .map(|cell| safe::width(&cell.text));
            cells
                .chain(std::iter::once(safe::width(&titles[c])))
                .max()
                .unwrap_or(0)
                .min(u16::MAX as usize) as u16
        })
        .collect();
    let spacing = ncols as u16;
    let available = area.width.saturating_sub(1 + spacing);
    let mut rules: Vec<ColWidth> = columns.iter().map(|c| c.width).collect();
    if with_impact {
        rules.insert(IMPACT_AT.min(rules.len()), ColWidth::Fixed(6));
    }
    let col_widths = column_widths(&rules, &wants, available);
    // A value that shares a long prefix with another visible one is cut in the middle, so
    // what tells the rows apart stays on screen.
    let shared: Vec<Vec<usize>> = (0..ncols)
        .map(|c| {
            if !matches!(rules[c], ColWidth::Names(_)) {
                return Vec::new();
            }
            let texts: Vec<&str> = window
                .iter()
                .map(|(_, cells)| cells.get(c).map_or("", |cell| cell.text.as_str()))
                .collect();
            shared_prefixes(&texts)
        })
        .collect();
    // Columns that gave way (width 0) are left out altogether.
    let shown = |c: usize| col_widths.get(c).copied().unwrap_or(0) > 0;
    let mut header: Vec<Cell> = vec![Cell::from(" ")];
    header.extend(
        titles
            .into_iter()
            .enumerate()
            .filter(|(c, _)| shown(*c))
            .map(|(_, t)| Cell::from(t)),
    );
    let header = Row::new(header).style(theme.header());

    let rows: Vec<Row> = window
        .into_iter()
        .enumerate()
        .map(|(pos, ((marked, new), cells))| {
            let mut out: Vec<Cell> = Vec::with_capacity(ncols + 1);
            out.push(if marked {
                Cell::from(Span::styled("●", theme.marked()))
            } else if new {
                Cell::from(Span::styled("✚", theme.new_row()))
            } else {
                Cell::from(" ")
            });
            for (c, cell) in cells.into_iter().enumerate().filter(|(c, _)| shown(*c)) {
                let w = col_widths.get(c).copied().unwrap_or(0) as usize;
                let p = shared.get(c).and_then(|v| v.get(pos)).copied().unwrap_or(0);
                let text = if p >= w / 2 && p > 0 {
                    fit_middle(&cell.text, w, p)
                } else {
                    fit(&cell.text, w)
                };
                out.push(Cell::from(Span::styled(text, theme.tone(cell.tone))));
            }
            let mut style = Style::default();
            if new {
                style = style.patch(theme.new_row());
            }
            if marked {
                style = style.patch(theme.marked());
            }
            if offset + pos == grid.cursor {
                style = style.patch(theme.selected());
            }
            Row::new(out).style(style)
        })
        .collect();

    let mut widths: Vec<Constraint> = vec![Constraint::Length(1)];
    widths.extend(
        col_widths
            .iter()
            .filter(|w| **w > 0)
            .map(|w| Constraint::Length(*w)),
    );
    let table = Table::new(rows, widths).header(header).column_spacing(1);
    f.render_widget(table, area);
    if grid.len == 0 {
        let a = Rect {
            y: area.y + 1,
            height: area.height.saturating_sub(1),
            ..area
        };
        f.render_widget(super::safe::para(grid.empty).style(theme.dim()), a);
    }
}

/// Where the Impact column goes: right after the name, ahead of the columns that give way
/// first on a narrow screen (what breaks matters more than when it was modified).
const IMPACT_AT: usize = 1;

/// The Impact cell of a row: the count of content that breaks ("14"), "0" when none was
/// found, "?" when unknown, a spinner while computing, empty when never asked.
pub fn impact_cell(m: &Model, tab: &ProfileTab, r: &crate::model::Resource) -> crate::model::Cell {
    use crate::impact::Verdict;
    use crate::model::{Cell, CellTone};
    let key = (r.kind, r.id.to_string());
    if tab.impact_pending.contains(&key) {
        return Cell {
            text: super::SPINNER[(m.tick % 4) as usize].to_string(),
            tone: CellTone::Dim,
        };
    }
    match tab.impacts.get(&key) {
        None => Cell {
            text: String::new(),
            tone: CellTone::Dim,
        },
        Some(i) => Cell {
            text: i.cell(),
            tone: match i.verdict() {
                Verdict::Breaks => CellTone::Bad,
                Verdict::Unknown => CellTone::Warn,
                Verdict::None => CellTone::Dim,
            },
        },
    }
}

/// The detail pane's Impact section: the summary with its age, then the content per
/// project (space, data app) and type, with owners.
fn impact_lines(
    m: &Model,
    tab: &ProfileTab,
    r: &crate::model::Resource,
    theme: &Theme,
    out: &mut Vec<Line<'static>>,
) {
    use crate::impact::{grouped, Verdict};
    let key = (r.kind, r.id.to_string());
    let noun = tab.spec.impact_container;
    if tab.impact_pending.contains(&key) {
        out.push(Line::from(Span::styled(
            format!(
                "impact {} computing…",
                super::SPINNER[(m.tick % 4) as usize]
            ),
            theme.key(),
        )));
        return;
    }
    let Some(i) = tab.impacts.get(&key) else {
        out.push(Line::from(vec![
            Span::styled("impact", theme.key()),
            Span::styled(" not computed — press i", theme.dim()),
        ]));
        return;
    };
    out.push(Line::from(vec![
        Span::styled("impact", theme.key()),
        Span::styled(
            format!(
                " (computed {} ago · i to refresh)",
                crate::model::format_age(m.now, i.at)
            ),
            theme.dim(),
        ),
    ]));
    let style = match i.verdict() {
        Verdict::Breaks => theme.error(),
        Verdict::Unknown => theme.warn(),
        Verdict::None => theme.dim(),
    };
    out.push(Line::from(Span::styled(
        format!("  {}", i.summary(noun)),
        style,
    )));
    for (title, deps) in [("", &i.dependents), ("possible users in ", &i.possible)] {
        for (container, per_type) in grouped(deps) {
            let place = if container.is_empty() {
                format!("  {title}(no {noun})")
            } else {
                format!("  {title}{noun} '{container}'")
            };
            out.push(Line::from(Span::styled(place, theme.header())));
            for (what, list) in per_type {
                out.push(Line::from(format!("    {} ({})", what, list.len())));
                for d in list {
                    let mut text = format!("      {}", d.name);
                    if let Some(o) = &d.owner {
                        text.push_str(&format!(" · owner {o}"));
                    }
                    if let Some(v) = &d.via {
                        text.push_str(&format!(" · via {v}"));
                    }
                    out.push(Line::from(text));
                }
            }
        }
    }
}

/// A labelled vendor message for the detail pane: on the label's line when it is one line,
/// else below it, one line per line, indentation kept.
fn message_lines(label: &str, message: &str, style: Style, out: &mut Vec<Line<'static>>) {
    let lines = crate::text::sanitize_lines(message.trim_end());
    if lines.len() <= 1 {
        out.push(Line::from(Span::styled(
            format!(
                "{label} {}",
                lines.first().map(String::as_str).unwrap_or("").trim()
            ),
            style,
        )));
    } else {
        out.push(Line::from(Span::styled(label.to_string(), style)));
        out.extend(
            lines
                .into_iter()
                .map(|l| Line::from(Span::styled(format!("  {l}"), style))),
        );
    }
}

/// What the watch remembers of `r`: since when it is unhealthy (and whether that is new),
/// when a health check last answered, its last health changes.
fn watch_lines(m: &Model, tab: &ProfileTab, r: &Resource, theme: &Theme, out: &mut Vec<Line>) {
    use crate::model::format_time;
    let Some(seen) = tab.watch.seen(r.kind, &r.id) else {
        return;
    };
    if let Some(t) = seen.bad_since.filter(|_| r.is_unhealthy()) {
        let new = if tab.watch.is_new(r) {
            " — ✚ new since you last looked"
        } else {
            ""
        };
        out.push(Line::from(Span::styled(
            format!(
                "seen unhealthy since {} UTC ({} ago){new}",
                format_time(t),
                crate::model::format_age(m.now, t)
            ),
            if new.is_empty() {
                theme.warn()
            } else {
                theme.new_row()
            },
        )));
    }
    if let Some(t) = seen.tested_at {
        let said = match &seen.test_failed {
            Some(_) => "failed",
            None => "ok",
        };
        out.push(Line::from(format!(
            "last tested {} UTC ({} ago): {said}",
            format_time(t),
            crate::model::format_age(m.now, t)
        )));
    }
    // One change is the line above; the history is worth a line once there are more.
    if seen.changes.len() > 1 {
        let changes: Vec<String> = seen
            .changes
            .iter()
            .rev()
            .map(|c| {
                format!(
                    "{} {}",
                    format_time(c.at),
                    if c.unhealthy { "unhealthy" } else { "ok" }
                )
            })
            .collect();
        out.push(Line::from(Span::styled(
            format!(
                "health changes (newest first, UTC): {}",
                changes.join(" · ")
            ),
            theme.dim(),
        )));
    }
}

/// The detail pane of `current` (an object of `tab`).
pub fn draw_detail(
    m: &Model,
    tab: &ProfileTab,
    current: Option<&Resource>,
    f: &mut Frame,
    area: Rect,
    theme: &Theme,
) {
    use super::safe;
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border())
        .title(" Detail (J/K scroll, Enter close) ");
    let Some(r) = current else {
        f.render_widget(safe::para("No row selected.").block(block), area);
        return;
    };
    let mut lines: Vec<Line> = Vec::new();
    lines.push(Line::from(Span::styled(
        format!("{} '{}'", r.kind.singular(), r.name),
        theme.header(),
    )));
    lines.push(Line::from(format!("id: {}", r.id)));
    if let Some(t) = &r.type_ {
        lines.push(Line::from(format!("type: {t}")));
    }
    if let Some(c) = r.container.as_deref().filter(|c| !c.is_empty()) {
        let noun = crate::model::cells::container_noun(r.vendor);
        lines.push(Line::from(format!("{noun}: {c}")));
    }
    if let Some(o) = r.owner.as_deref().filter(|o| !o.is_empty()) {
        lines.push(Line::from(format!("owner: {o}")));
    }
    if r.is_orphan() {
        lines.push(Line::from(Span::styled(
            "○ orphan: nothing uses it",
            theme.warn(),
        )));
    }
    if r.disabled {
        lines.push(Line::from(Span::styled(
            "⊘ disabled: its datasource is switched off on the tenant (not a failure)",
            theme.warn(),
        )));
    }
    if let crate::model::Health::Unhealthy(why) = &r.health {
        message_lines("✗ unhealthy:", why, theme.error(), &mut lines);
    }
    watch_lines(m, tab, r, theme, &mut lines);
    if let Some(sync) = &r.sync {
        let status = sync.status.as_deref().unwrap_or("never synced");
        let last = sync
            .last_success
            .map(|t| format!(", last ok {} UTC", crate::model::format_time(t)))
            .unwrap_or_default();
        let style = if sync.is_failed() {
            theme.error()
        } else {
            Style::default()
        };
        lines.push(Line::from(Span::styled(
            format!("sync: {status}{last}"),
            style,
        )));
        if let Some(e) = &sync.error {
            message_lines("sync error:", e, style, &mut lines);
        }
    }
    // What deleting it breaks comes before its links: it is what an operator looks for.
    impact_lines(m, tab, r, theme, &mut lines);
    lines.push(Line::from(Span::styled(
        format!("depends on ({})", r.depends_on.len()),
        theme.key(),
    )));
    for d in &r.depends_on {
        lines.push(Line::from(format!("  → {} ({})", d.label(), d.id)));
    }
    let unknown = if r.used_by_unknown { "+?" } else { "" };
    lines.push(Line::from(Span::styled(
        format!("used by ({}{unknown})", r.users_count()),
        theme.key(),
    )));
    for u in &r.used_by_other {
        lines.push(Line::from(format!("  ← {} ({})", u.label(), u.id)));
    }
    for u in &r.used_by {
        lines.push(Line::from(format!("  ← {} ({})", u.label(), u.id)));
    }
    if r.used_by_unknown {
        lines.push(Line::from(Span::styled(
            "  ? what else uses it could not be read (see the load warning)",
            theme.warn(),
        )));
    }
    lines.push(Line::from(Span::styled("JSON", theme.key())));
    let json = serde_json::to_string_pretty(&r.raw).unwrap_or_else(|_| "(unprintable)".into());
    lines.extend(json.lines().map(|l| Line::from(l.to_string())));
    // Wrapped here so a long line continues under its own indentation.
    let width = area.width.saturating_sub(2) as usize;
    let wrapped: Vec<Line> = lines
        .into_iter()
        .flat_map(|l| {
            let text: String = l.spans.iter().map(|s| s.content.as_ref()).collect();
            // Continuations sit two cells in from the line's own indentation.
            let indent = text.chars().take_while(|c| *c == ' ').count() + 2;
            safe::wrap(l, width, indent)
        })
        .collect();
    let p = safe::para(wrapped)
        .block(block)
        .scroll((m.detail_scroll, 0));
    f.render_widget(p, area);
}

#[cfg(test)]
mod tests {
    use super::{column_widths, effective_offset};
    use crate::model::ColWidth;

    #[test]
    fn widths_fit_the_content_and_share_the_rest() {
        let rules = [ColWidth::Fill(20), ColWidth::Fixed(10), ColWidth::Fill(10)];
        // Content 12 / 10 / 6 wide: 28, the 42 left go 2:1 to the fill columns.
        assert_eq!(column_widths(&rules, &[12, 10, 6], 70), vec![40, 10, 20]);
        // An empty fixed column gives its room away.
        assert_eq!(column_widths(&rules, &[12, 0, 6], 70), vec![45, 3, 22]);
        // Too narrow: the name keeps two fifths, the others are cut from the widest.
        assert_eq!(column_widths(&rules, &[20, 10, 30], 40), vec![16, 10, 14]);
        // Narrower still: the last column gives way, the others keep at least 3 cells.
        let narrow = column_widths(&rules, &[30, 0, 30], 20);
        assert_eq!(narrow[2], 0, "{narrow:?}");
        assert!(narrow.iter().sum::<u16>() <= 20 && narrow[..2].iter().all(|w| *w >= 3));
    }

    #[test]
    fn the_name_keeps_its_width_and_short_columns_stay_whole() {
        let rules = [
            ColWidth::Fill(24),
            ColWidth::Fixed(8),
            ColWidth::Fill(16),
            ColWidth::Fill(20),
            ColWidth::Fill(14),
        ];
        let w = column_widths(&rules, &[26, 8, 21, 29, 10], 74);
        assert_eq!(w[0], 26, "{w:?}");
        assert_eq!(w[4], 10, "the short health column stays whole: {w:?}");
        assert_eq!(w.iter().sum::<u16>(), 74, "{w:?}");
        assert!(w.iter().skip(1).all(|x| *x <= w[0]), "{w:?}");
    }

    #[test]
    fn shared_prefixes_are_per_value_and_ignore_identical_ones() {
        let texts = [
            "Generated Connection 00001",
            "Snowflake Analytics",
            "Generated Connection 00002",
            "? untested",
            "? untested",
            "Snowflake Finance Prod",
            "Snowflake Finance Prod",
            "Snowflake Finance Dev",
        ];
        assert_eq!(
            super::shared_prefixes(&texts),
            vec![25, 10, 25, 0, 0, 18, 18, 18]
        );
    }

    #[test]
    fn offset_keeps_cursor_visible() {
        assert_eq!(effective_offset(0, 0, 100, 10), 0);
        assert_eq!(effective_offset(0, 15, 100, 10), 6);
        assert_eq!(effective_offset(50, 20, 100, 10), 20);
        assert_eq!(effective_offset(95, 99, 100, 10), 90);
        assert_eq!(effective_offset(0, 0, 0, 10), 0);
    }
}
