//! The ui's one door for text: every widget that shows words is built here, and every span
//! passes through the one sanitizer (`crate::text::sanitize`) on its way in. Server text
//! (names, ids, JSON, vendor messages) therefore never reaches the terminal with a control
//! character, an escape sequence, a bidi override or a zero-width character in it: each is
//! shown visibly instead (`␛`, `\u{202e}`, `\u{200b}`).

use crate::text::sanitize;
use ratatui::style::Style;
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::Paragraph;
use std::borrow::Cow;
use unicode_width::UnicodeWidthChar;

/// `s` safe to show (borrowed when nothing needed changing).
pub fn clean(s: &str) -> Cow<'_, str> {
    sanitize(s)
}

/// A styled span whose text is made safe.
pub fn span<'a>(s: impl Into<Cow<'a, str>>, style: Style) -> Span<'a> {
    let s: Cow<'a, str> = s.into();
    let content = match s {
        Cow::Borrowed(b) => sanitize(b),
        Cow::Owned(o) => Cow::Owned(sanitize(&o).into_owned()),
    };
    Span::styled(content, style)
}

/// The same line with every span made safe.
pub fn line(l: Line<'_>) -> Line<'_> {
    let Line {
        spans,
        style,
        alignment,
    } = l;
    let spans = spans
        .into_iter()
        .map(|s| {
            let content = match s.content {
                Cow::Borrowed(b) => sanitize(b),
                Cow::Owned(o) => match sanitize(&o) {
                    Cow::Borrowed(_) => Cow::Owned(o),
                    Cow::Owned(clean) => Cow::Owned(clean),
                },
            };
            Span::styled(content, s.style)
        })
        .collect::<Vec<_>>();
    let mut out = Line::from(spans).style(style);
    out.alignment = alignment;
    out
}

/// A paragraph of `text`, every span made safe. The only way the ui builds a paragraph.
pub fn para<'a>(text: impl Into<Text<'a>>) -> Paragraph<'a> {
    let text: Text<'a> = text.into();
    let Text {
        lines,
        style,
        alignment,
    } = text;
    let mut clean = Text::from(lines.into_iter().map(line).collect::<Vec<_>>()).style(style);
    clean.alignment = alignment;
    Paragraph::new(clean)
}

/// Display width of `s` in terminal cells.
pub fn width(s: &str) -> usize {
    s.chars().map(|c| c.width().unwrap_or(0)).sum()
}

/// `l` made safe and broken into lines of at most `width` cells: at the last space that
/// fits when there is one, else mid-word. Continuation lines start with `indent` spaces.
/// Pre-wrapping (instead of letting the paragraph wrap) lets a dialog know exactly how many
/// rows its text takes.
pub fn wrap(l: Line<'_>, max_width: usize, indent: usize) -> Vec<Line<'static>> {
    let width = max_width.max(1);
    let indent = if indent * 2 >= width { 0 } else { indent };
    let line_style = l.style;
    let l = line(l);
    // Most lines fit: no need to take them apart.
    if l.spans
        .iter()
        .map(|s| self::width(&s.content))
        .sum::<usize>()
        <= width
    {
        let spans: Vec<Span<'static>> = l
            .spans
            .into_iter()
            .map(|s| Span::styled(s.content.into_owned(), s.style))
            .collect();
        return vec![Line::from(spans).style(line_style)];
    }
    let chars: Vec<(char, Style)> = l
        .spans
        .iter()
        .flat_map(|s| {
            let st = s.style;
            s.content.chars().map(move |c| (c, st)).collect::<Vec<_>>()
        })
        .collect();
    let mut out: Vec<Vec<(char, Style)>> = Vec::new();
    let mut cur: Vec<(char, Style)> = Vec::new();
    let mut used = 0usize;
    let lead = |n: usize| -> Vec<(char, Style)> { vec![(' ', Style::default()); n] };
    for (c, st) in chars {
        let w = c.width().unwrap_or(0);
        if used + w > width && !cur.is_empty() {
            // Break at the last space after the indent, if the line has one.
            let start = if out.is_empty() { 0 } else { indent };
            let cut = cur
                .iter()
                .enumerate()
                .skip(start + 1)
                .rev()
                .find(|(_, (ch, _))| *ch == ' ')
                .map(|(i, _)| i);
            let mut rest: Vec<(char, Style)> = match cut {
                Some(i) => {
                    let tail = cur.split_off(i);
                    tail.into_iter().skip(1).collect()
                }
                None => Vec::new(),
            };
            out.push(std::mem::take(&mut cur));
            cur = lead(indent);
            cur.append(&mut rest);
            used = cur.iter().map(|(ch, _)| ch.width().unwrap_or(0)).sum();
            if c == ' ' && cur.len() == indent {
                continue;
            }
        }
        cur.push((c, st));
        used += w;
    }
    if !cur.is_empty() || out.is_empty() {
        out.push(cur);
    }
    out.into_iter()
        .map(|cells| {
            let mut spans: Vec<Span<'static>> = Vec::new();
            let mut text = String::new();
            let mut style: Option<Style> = None;
            for (c, st) in cells {
                if style.is_some_and(|s| s != st) {
                    spans.push(Span::styled(
                        std::mem::take(&mut text),
                        style.unwrap_or_default(),
                    ));
                }
                style = Some(st);
                text.push(c);
            }
            if !text.is_empty() {
                spans.push(Span::styled(text, style.unwrap_or_default()));
            }
            Line::from(spans).style(line_style)
        })
        .collect()
}

/// How many rows [`wrap`] makes of the text `parts` (the spans of one line, already safe),
/// without building them: the same breaks, no allocation per line.
pub fn wrapped_rows(parts: &[&str], max_width: usize, indent: usize) -> usize {
    let width = max_width.max(1);
    let indent = if indent * 2 >= width { 0 } else { indent };
    let total: usize = parts.iter().map(|p| self::width(p)).sum();
    if total <= width {
        return 1;
    }
    let mut rows = 0;
    // The current row: each char's width and whether it is a space.
    let mut cur: Vec<(usize, bool)> = Vec::with_capacity(width + 1);
    let mut used = 0usize;
    for c in parts.iter().flat_map(|p| p.chars()) {
        let w = c.width().unwrap_or(0);
        if used + w > width && !cur.is_empty() {
            let start = if rows == 0 { 0 } else { indent };
            let cut = cur
                .iter()
                .enumerate()
                .skip(start + 1)
                .rev()
                .find(|(_, (_, space))| *space)
                .map(|(i, _)| i);
            let rest: Vec<(usize, bool)> = match cut {
                Some(i) => cur.split_off(i).into_iter().skip(1).collect(),
                None => Vec::new(),
            };
            rows += 1;
            cur.clear();
            cur.extend(std::iter::repeat_n((1, true), indent));
            cur.extend(rest);
            used = cur.iter().map(|(w, _)| w).sum();
            if c == ' ' && cur.len() == indent {
                continue;
            }
        }
        cur.push((w, c == ' '));
        used += w;
    }
    if !cur.is_empty() || rows == 0 {
        rows += 1;
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(lines: &[Line]) -> Vec<String> {
        lines
            .iter()
            .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
            .collect()
    }

    #[test]
    fn spans_and_lines_are_made_safe() {
        let l = line(Line::from(vec![
            Span::raw("a\u{1b}[2J"),
            Span::raw(String::from("b\u{202e}c\u{200b}")),
        ]));
        assert_eq!(texts(&[l]), vec!["a␛[2Jb\\u{202e}c\\u{200b}".to_string()]);
        assert_eq!(span("x\u{9b}y", Style::default()).content, "x\\u{9b}y");
    }

    #[test]
    fn wrap_breaks_at_spaces_and_indents_continuations() {
        let l = Line::from("one two three four five");
        assert_eq!(
            texts(&wrap(l, 10, 2)),
            vec!["one two", "  three", "  four", "  five"]
        );
        let long = Line::from("abcdefghijkl");
        assert_eq!(texts(&wrap(long, 5, 0)), vec!["abcde", "fghij", "kl"]);
        assert_eq!(texts(&wrap(Line::from(""), 5, 0)), vec![""]);
    }

    #[test]
    fn wrapped_rows_counts_what_wrap_makes() {
        let cases = [
            "one two three four five",
            "abcdefghijkl",
            "",
            "  12. connection 'Generated Connection 00001'  [cascade: freed by datasource 'G 1']",
            "a  b  c  d  e  f  g  h  i  j  k  l  m  n  o  p",
            "       ⚠ in use by datamart 'customer-360' and 1 more, which this plan does not",
            "日本語のテキストはとても長いです日本語のテキスト",
        ];
        for text in cases {
            for width in [1, 3, 5, 7, 10, 17, 40] {
                for indent in [0, 2, 7] {
                    let made = wrap(Line::from(text), width, indent).len();
                    assert_eq!(
                        wrapped_rows(&[text], width, indent),
                        made,
                        "{text:?} at {width}, indent {indent}"
                    );
                }
            }
        }
    }

    #[test]
    fn wrap_counts_the_sanitized_width() {
        // One U+202E becomes eight visible cells.
        let l = Line::from("ab\u{202e}cd");
        let out = texts(&wrap(l, 6, 0));
        assert_eq!(out.concat(), "ab\\u{202e}cd");
        assert!(out.iter().all(|s| width(s) <= 6), "{out:?}");
    }
}
