//! The resource table (rows built only for the visible window) and the detail pane.

use super::theme::Theme;
use crate::app::state::{Model, ProfileTab};
use crate::model::{CellCtx, ColWidth};
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Row, Table, Wrap};
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

/// `text` cut to `width` display cells, ending in "…" when something was cut.
pub fn fit(text: &str, width: usize) -> String {
    use unicode_width::UnicodeWidthChar;
    let total: usize = text.chars().map(|c| c.width().unwrap_or(0)).sum();
    if total <= width {
        return text.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = c.width().unwrap_or(0);
        if used + w + 1 > width {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    out
}

/// Share `available` cells among columns: fixed columns get their width and fill columns
/// their minimum plus a share of what is left, in proportion to their minimum. When even
/// that does not fit, every column shrinks in proportion (never below 3 cells).
pub fn column_widths(rules: &[ColWidth], available: u16) -> Vec<u16> {
    let base: Vec<u32> = rules
        .iter()
        .map(|r| match r {
            ColWidth::Fixed(n) | ColWidth::Fill(n) => u32::from(*n),
        })
        .collect();
    let total: u32 = base.iter().sum();
    let available = u32::from(available);
    if total == 0 {
        return vec![0; rules.len()];
    }
    if total >= available {
        return base
            .iter()
            .map(|b| ((b * available) / total).max(3) as u16)
            .collect();
    }
    let extra = available - total;
    let fill_total: u32 = rules
        .iter()
        .zip(&base)
        .filter(|(r, _)| matches!(r, ColWidth::Fill(_)))
        .map(|(_, b)| *b)
        .sum();
    rules
        .iter()
        .zip(&base)
        .map(|(r, b)| match r {
            ColWidth::Fill(_) if fill_total > 0 => (b + extra * b / fill_total) as u16,
            _ => *b as u16,
        })
        .collect()
}

pub fn draw_table(m: &Model, tab: &ProfileTab, f: &mut Frame, area: Rect, theme: &Theme) {
    let Some(view) = tab.view() else {
        return;
    };
    let columns = (tab.spec.columns)(view.kind);
    let ctx = CellCtx { now: m.now };
    let body_height = area.height.saturating_sub(1) as usize;
    let offset = effective_offset(view.offset, view.cursor, view.rows.len(), body_height);
    let end = (offset + body_height).min(view.rows.len());
    let spacing = columns.len() as u16;
    let available = area.width.saturating_sub(1 + spacing);
    let rules: Vec<ColWidth> = columns.iter().map(|c| c.width).collect();
    let col_widths = column_widths(&rules, available);

    let mut header: Vec<Cell> = vec![Cell::from(" ")];
    for (i, c) in columns.iter().enumerate() {
        let mut title = c.title.to_string();
        if i == view.sort_col {
            title.push_str(if view.sort_desc { " ▼" } else { " ▲" });
        }
        header.push(Cell::from(title));
    }
    let header = Row::new(header).style(theme.header());

    let rows: Vec<Row> = view.rows[offset..end]
        .iter()
        .enumerate()
        .map(|(pos, &i)| {
            let r = &tab.resources[i];
            let marked = view.marks.contains(&r.id);
            let mut cells: Vec<Cell> = Vec::with_capacity(columns.len() + 1);
            cells.push(if marked {
                Cell::from(Span::styled("●", theme.marked()))
            } else {
                Cell::from(" ")
            });
            for (c, w) in columns.iter().zip(&col_widths) {
                let cell = (c.cell)(r, &ctx);
                let text = fit(&super::safe::clean(&cell.text), *w as usize);
                cells.push(Cell::from(Span::styled(text, theme.tone(cell.tone))));
            }
            let mut style = Style::default();
            if marked {
                style = style.patch(theme.marked());
            }
            if offset + pos == view.cursor {
                style = style.patch(theme.selected());
            }
            Row::new(cells).style(style)
        })
        .collect();

    let spacing = columns.len() as u16;
    let available = area.width.saturating_sub(1 + spacing);
    let rules: Vec<ColWidth> = columns.iter().map(|c| c.width).collect();
    let mut widths: Vec<Constraint> = vec![Constraint::Length(1)];
    widths.extend(
        column_widths(&rules, available)
            .into_iter()
            .map(Constraint::Length),
    );
    let table = Table::new(rows, widths).header(header).column_spacing(1);
    f.render_widget(table, area);
    if view.rows.is_empty() {
        let msg = if view.members.is_empty() {
            "Nothing here."
        } else {
            "No rows match the filter or toggles (Esc in the filter clears it; o / u toggle)."
        };
        let a = Rect {
            y: area.y + 1,
            height: area.height.saturating_sub(1),
            ..area
        };
        f.render_widget(super::safe::para(msg).style(theme.dim()), a);
    }
}

pub fn draw_detail(m: &Model, tab: &ProfileTab, f: &mut Frame, area: Rect, theme: &Theme) {
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border())
        .title(" Detail (J/K scroll, Enter close) ");
    let Some(r) = tab.current() else {
        f.render_widget(super::safe::para("No row selected.").block(block), area);
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
    if r.is_orphan() {
        lines.push(Line::from(Span::styled(
            "○ orphan: nothing uses it",
            theme.warn(),
        )));
    }
    if let crate::model::Health::Unhealthy(why) = &r.health {
        lines.push(Line::from(Span::styled(
            format!("✗ unhealthy: {why}"),
            theme.error(),
        )));
    }
    lines.push(Line::from(Span::styled(
        format!("depends on ({})", r.depends_on.len()),
        theme.key(),
    )));
    for d in &r.depends_on {
        lines.push(Line::from(format!("  → {} ({})", d.label(), d.id)));
    }
    lines.push(Line::from(Span::styled(
        format!("used by ({})", r.used_by.len()),
        theme.key(),
    )));
    for u in &r.used_by {
        lines.push(Line::from(format!("  ← {} ({})", u.label(), u.id)));
    }
    lines.push(Line::from(Span::styled("JSON", theme.key())));
    let json = serde_json::to_string_pretty(&r.raw).unwrap_or_else(|_| "(unprintable)".into());
    lines.extend(json.lines().map(|l| Line::from(l.to_string())));
    let p = super::safe::para(lines)
        .block(block)
        .wrap(Wrap { trim: false })
        .scroll((m.detail_scroll, 0));
    f.render_widget(p, area);
}

#[cfg(test)]
mod tests {
    use super::{column_widths, effective_offset};
    use crate::model::ColWidth;

    #[test]
    fn widths_share_extra_space_among_fill_columns_and_shrink_when_narrow() {
        let rules = [ColWidth::Fill(20), ColWidth::Fixed(10), ColWidth::Fill(10)];
        assert_eq!(column_widths(&rules, 70), vec![40, 10, 20]);
        assert_eq!(column_widths(&rules, 40), vec![20, 10, 10]);
        let narrow = column_widths(&rules, 20);
        assert!(narrow.iter().sum::<u16>() <= 21 && narrow.iter().all(|w| *w >= 3));
    }

    #[test]
    fn fit_cuts_with_an_ellipsis() {
        assert_eq!(super::fit("Customer 360", 20), "Customer 360");
        assert_eq!(super::fit("Customer 360", 8), "Custome…");
        assert_eq!(super::fit("Umsätze Köln", 6), "Umsät…");
        assert_eq!(super::fit("abc", 0), "");
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
