//! The one sanitizer for text that came from a server (or a file) and is about to be shown
//! to a person: TUI cells, detail pane, dialogs, CLI tables, plans, reports and error
//! sentences. JSON and ndjson output keep exact strings and do not come through here.
//!
//! Nothing that can move the cursor, erase, recolour, reorder or hide text reaches the
//! terminal; each such character is shown visibly instead, so an operator sees that a name
//! holds one:
//! - C0 controls and DEL become their Control Pictures (`ESC` → `␛`, CR → `␍`, LF → `␊`);
//! - C1 controls (including the 8-bit CSI, U+009B), bidi embeddings, overrides, isolates and
//!   marks, zero-width characters, line/paragraph separators and the BOM become `\u{…}`.

use std::borrow::Cow;

/// Whether `c` must not reach a terminal as itself.
fn is_unsafe(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}'
        // Bidi: embeddings and overrides, isolates, marks.
        | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{61c}'
        // Zero-width and invisible: ZWSP, ZWNJ, ZWJ, word joiner, invisible operators, BOM.
        | '\u{200b}'..='\u{200d}' | '\u{2060}'..='\u{2064}' | '\u{feff}'
        // Line and paragraph separators break lines like LF does.
        | '\u{2028}' | '\u{2029}'
        // Unassigned-by-design and interlinear annotation characters.
        | '\u{fff9}'..='\u{fffb}'
    )
}

fn push_visible(out: &mut String, c: char) {
    match c {
        '\u{0}'..='\u{1f}' => {
            // U+2400.. are the Control Pictures of C0: ␀ ␁ … ␛ … ␟.
            out.push(char::from_u32(0x2400 + c as u32).unwrap_or('\u{fffd}'));
        }
        '\u{7f}' => out.push('\u{2421}'), // ␡
        c => {
            use std::fmt::Write;
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
}

/// `s` made safe to print on one line of a terminal: every unsafe character is shown
/// visibly (`␛`, `␍`, `␊`, `\u{202e}`), never passed through. Borrows when nothing changes.
pub fn sanitize(s: &str) -> Cow<'_, str> {
    // Fast path: plain printable ASCII, which is nearly every name.
    if s.bytes().all(|b| (0x20..0x7f).contains(&b)) || !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_unsafe(c) {
            push_visible(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Multi-line text (a vendor's error message, a sync error) split into lines that are each
/// safe to print: line breaks (`\n`, `\r\n`) split lines, tabs become four spaces, leading
/// indentation is kept, and everything else goes through [`sanitize`].
pub fn sanitize_lines(s: &str) -> Vec<String> {
    s.split('\n')
        .map(|line| {
            let line = line.strip_suffix('\r').unwrap_or(line);
            sanitize(&line.replace('\t', "    ")).into_owned()
        })
        .collect()
}

/// Whether `s` is already safe to print as it is.
pub fn is_clean(s: &str) -> bool {
    matches!(sanitize(s), Cow::Borrowed(_))
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

/// `text` cut to `width` cells in the middle ("Generated…n 00046"): the end, where names
/// that share a long prefix differ, stays visible. `shared` is the length (in chars) of the
/// prefix the column's values have in common.
pub fn fit_middle(text: &str, width: usize, shared: usize) -> String {
    use unicode_width::UnicodeWidthChar;
    let chars: Vec<char> = text.chars().collect();
    let total: usize = chars.iter().map(|c| c.width().unwrap_or(0)).sum();
    if total <= width {
        return text.to_string();
    }
    if width < 5 {
        return fit(text, width);
    }
    let distinct = chars.len().saturating_sub(shared);
    // At least a third of the cells keep the start, so the value stays recognisable.
    let head_min = ((width - 1) / 3).max(1);
    let tail_w = distinct.max((width - 1) / 2).min(width - 1 - head_min);
    let mut tail: Vec<char> = Vec::new();
    let mut used = 0;
    for &c in chars.iter().rev() {
        let w = c.width().unwrap_or(0);
        if used + w > tail_w {
            break;
        }
        tail.push(c);
        used += w;
    }
    tail.reverse();
    let head_w = width - 1 - used;
    let mut out = String::new();
    let mut head_used = 0;
    for &c in &chars {
        let w = c.width().unwrap_or(0);
        if head_used + w > head_w {
            break;
        }
        out.push(c);
        head_used += w;
    }
    out.push('…');
    out.extend(tail);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_are_borrowed_unchanged() {
        assert!(matches!(sanitize("Prod Finance DW"), Cow::Borrowed(_)));
        assert!(matches!(sanitize("Données ✓ 日本"), Cow::Borrowed(_)));
        assert!(is_clean("emoji 🚀 ok"));
    }

    #[test]
    fn escape_sequences_that_erase_lines_are_shown() {
        let evil = "old_scratch_1\x1b[2K\r\x1b[1A\x1b[2K\r\x1b[1A";
        let shown = sanitize(evil);
        assert_eq!(shown, "old_scratch_1␛[2K␍␛[1A␛[2K␍␛[1A");
        assert!(!shown.chars().any(|c| c.is_control()));
    }

    #[test]
    fn c0_c1_and_del_are_visible() {
        assert_eq!(sanitize("a\nb\tc\0"), "a␊b␉c␀");
        assert_eq!(sanitize("x\u{7f}"), "x␡");
        assert_eq!(sanitize("csi\u{9b}2J"), "csi\\u{9b}2J");
        assert_eq!(sanitize("nel\u{85}"), "nel\\u{85}");
    }

    #[test]
    fn bidi_and_zero_width_are_visible() {
        assert_eq!(sanitize("abc\u{202e}fdp.exe"), "abc\\u{202e}fdp.exe");
        for c in [
            '\u{202a}', '\u{202d}', '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}',
        ] {
            let s = format!("a{c}b");
            assert_eq!(sanitize(&s), format!("a\\u{{{:x}}}b", c as u32));
        }
        for c in ['\u{200b}', '\u{200c}', '\u{200d}', '\u{2060}', '\u{feff}'] {
            let s = format!("a{c}b");
            assert_eq!(sanitize(&s), format!("a\\u{{{:x}}}b", c as u32));
        }
        assert_eq!(sanitize("l\u{2028}p"), "l\\u{2028}p");
    }

    #[test]
    fn every_output_char_is_safe() {
        for cp in (0u32..0x3000).chain(0xfe00..0x10000) {
            let Some(c) = char::from_u32(cp) else {
                continue;
            };
            let s = format!("n{c}m");
            let out = sanitize(&s);
            assert!(
                !out.chars().any(is_unsafe),
                "U+{cp:04X} passed through: {out:?}"
            );
        }
    }

    #[test]
    fn multi_line_text_keeps_its_lines_and_indentation() {
        let msg = "ERROR: connect failed\r\n\tat host db1\n  caused by: \x1b[31mtimeout";
        assert_eq!(
            sanitize_lines(msg),
            vec![
                "ERROR: connect failed".to_string(),
                "    at host db1".to_string(),
                "  caused by: ␛[31mtimeout".to_string(),
            ]
        );
    }

    #[test]
    fn fit_middle_keeps_the_end_of_names_that_share_a_prefix() {
        assert_eq!(
            fit_middle("Generated Connection 00046", 13, 22),
            "Genera… 00046"
        );
        assert_eq!(fit_middle("short", 13, 3), "short");
        assert_eq!(fit_middle("abcdefghij", 4, 2), "abc…");
        assert_eq!(fit_middle("Snowflake Analytics", 12, 10), "Sno…nalytics");
    }

    #[test]
    fn fit_cuts_with_an_ellipsis() {
        assert_eq!(fit("Customer 360", 20), "Customer 360");
        assert_eq!(fit("Customer 360", 8), "Custome…");
        assert_eq!(fit("Umsätze Köln", 6), "Umsät…");
        assert_eq!(fit("abc", 0), "");
    }
}
