//! Tab completion in the `:` line and the filter. The word before the cursor is completed
//! from what fits where it stands: a command name, then the command's argument (profile
//! names, the current profile's kinds, `clear`/`restore`, the query words and `field:`
//! values of `:mark`, `:unmark` and `:filter`). Tab completes the longest common prefix;
//! when several candidates remain they are listed on the status line and further Tabs
//! (Shift-Tab backwards) cycle through them.

use super::command::{Cmd, COMMANDS, MARKS_ARGS};
use super::state::{LineInput, Mode, Model};
use crate::filter::FIELDS;
use crate::model::{Kind, VendorId};
use std::collections::BTreeSet;

/// At most this many owner names are offered (the rest: type more of the name).
pub const OWNER_LIMIT: usize = 200;

/// The words a `:mark` / `:unmark` query may be on its own.
const MARK_WORDS: &[&str] = &["all", "orphans", "unhealthy"];

/// The values `health:` takes (the filter also accepts ok, bad, failed and untested).
const HEALTH_VALUES: &[&str] = &["healthy", "unhealthy", "unknown", "testing"];

/// Candidates being offered for the word before the cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// The line before the word.
    pub head: String,
    /// The line after the cursor.
    pub tail: String,
    pub candidates: Vec<String>,
    /// The candidate in the line while cycling; `None`: the common prefix is.
    pub selected: Option<usize>,
}

/// How a candidate is listed: a `field:value` by its value (the field is in the line).
pub fn label(candidate: &str) -> &str {
    match candidate.split_once(':') {
        Some((_, value)) if !value.is_empty() => value,
        _ => candidate,
    }
}

/// Tab (`forward`) or Shift-Tab in the open line.
pub fn complete(m: &mut Model, forward: bool) {
    if let Some(c) = m.completion.as_mut().filter(|c| c.candidates.len() > 1) {
        let n = c.candidates.len();
        let next = match (c.selected, forward) {
            (None, true) => 0,
            (None, false) => n - 1,
            (Some(i), true) => (i + 1) % n,
            (Some(i), false) => (i + n - 1) % n,
        };
        c.selected = Some(next);
        let (head, word, tail) = (c.head.clone(), c.candidates[next].clone(), c.tail.clone());
        m.input = line_of(&head, &word, &tail);
        return;
    }
    m.completion = None;
    let before: String = m.input.text.chars().take(m.input.cursor).collect();
    let tail: String = m.input.text.chars().skip(m.input.cursor).collect();
    let (start, offered) = match m.mode {
        Mode::Command => command_candidates(m, &before),
        Mode::Filter => {
            let start = word_start(&before);
            (start, query_candidates(m, &before[start..], false))
        }
        Mode::Normal => return,
    };
    let (head, word) = before.split_at(start);
    let folded = word.to_lowercase();
    let mut candidates: Vec<String> = Vec::new();
    for c in offered {
        if c.to_lowercase().starts_with(&folded) && !candidates.contains(&c) {
            candidates.push(c);
        }
    }
    match candidates.len() {
        0 => {}
        1 => {
            let mut word = candidates.remove(0);
            // A finished word is followed by a space; a `field:` waits for its value.
            if !word.ends_with(':') && !tail.starts_with(' ') {
                word.push(' ');
            }
            m.input = line_of(head, &word, &tail);
        }
        _ => {
            let common = common_prefix(&candidates);
            m.input = line_of(head, &common, &tail);
            m.completion = Some(Completion {
                head: head.to_string(),
                tail,
                candidates,
                selected: None,
            });
        }
    }
}

fn line_of(head: &str, word: &str, tail: &str) -> LineInput {
    let mut input = LineInput::new(&format!("{head}{word}"));
    input.text.push_str(tail);
    input
}

/// Byte offset where the last word of `s` starts.
fn word_start(s: &str) -> usize {
    s.char_indices()
        .rev()
        .find(|(_, c)| c.is_whitespace())
        .map(|(i, c)| i + c.len_utf8())
        .unwrap_or(0)
}

/// The longest prefix all candidates share, case ignored, spelt as the first one.
fn common_prefix(candidates: &[String]) -> String {
    let first: Vec<char> = candidates[0].chars().collect();
    let mut n = first.len();
    for c in &candidates[1..] {
        n = n.min(
            first
                .iter()
                .zip(c.chars())
                .take_while(|(a, b)| a.to_lowercase().eq(b.to_lowercase()))
                .count(),
        );
    }
    first[..n].iter().collect()
}

/// Where the word before the cursor starts in `before` and what may stand there.
fn command_candidates(m: &Model, before: &str) -> (usize, Vec<String>) {
    let lead = before.len() - before.trim_start().len();
    let rest = &before[lead..];
    let Some(space) = rest.find(char::is_whitespace) else {
        return (lead, COMMANDS.iter().map(|c| c.to_string()).collect());
    };
    let start = word_start(before);
    let Ok(cmd) = Cmd::resolve(&rest[..space]) else {
        return (start, Vec::new());
    };
    // Whether the word is the command's first argument.
    let first = !rest[space..].trim_start().contains(char::is_whitespace);
    let word = &before[start..];
    let offered = match cmd {
        Cmd::Profile if first => profile_names(m),
        Cmd::Kind if first => kind_names(m),
        Cmd::Marks if first => MARKS_ARGS.iter().map(|s| s.to_string()).collect(),
        Cmd::Mark | Cmd::Unmark => query_candidates(m, word, first),
        Cmd::Filter => query_candidates(m, word, false),
        _ => Vec::new(),
    };
    (start, offered)
}

fn profile_names(m: &Model) -> Vec<String> {
    m.profiles.iter().map(|t| t.info.name.clone()).collect()
}

/// The current profile's kinds (every kind when no profile is open).
fn kind_names(m: &Model) -> Vec<String> {
    match m.tab() {
        Some(t) if !t.views.is_empty() => t.views.iter().map(|v| v.kind.id().into()).collect(),
        _ => Kind::ALL.iter().map(|k| k.id().into()).collect(),
    }
}

/// What a word of a query may be: `field:` prefixes (and the whole-query words when
/// `words`), or a field's values once the word has its `field:`.
fn query_candidates(m: &Model, word: &str, words: bool) -> Vec<String> {
    let (not, body) = match word.strip_prefix('!') {
        Some(b) => ("!", b),
        None => ("", word),
    };
    let Some((field, value)) = body.split_once(':') else {
        let mut out: Vec<String> = Vec::new();
        if words && not.is_empty() {
            out.extend(MARK_WORDS.iter().map(|w| w.to_string()));
        }
        out.extend(FIELDS.iter().map(|f| format!("{not}{f}:")));
        return out;
    };
    let values: Vec<String> = match field.to_ascii_lowercase().as_str() {
        "vendor" => VendorId::ALL.iter().map(|v| v.id().to_string()).collect(),
        "profile" => profile_names(m),
        "kind" => kind_names(m),
        "health" => HEALTH_VALUES.iter().map(|s| s.to_string()).collect(),
        "owner" => owners(m, value),
        _ => Vec::new(),
    };
    values
        .into_iter()
        .map(|v| format!("{not}{field}:{v}"))
        .collect()
}

/// The distinct owners of the current profile's objects that start with `prefix` (case
/// ignored), sorted, at most `OWNER_LIMIT`. A space in a name becomes `*` (a query word
/// has no spaces; `owner:` takes `*` for any run of characters). Looked up only when Tab
/// is pressed.
fn owners(m: &Model, prefix: &str) -> Vec<String> {
    let Some(tab) = m.tab() else {
        return Vec::new();
    };
    let prefix = prefix.to_lowercase();
    let mut found: BTreeSet<String> = BTreeSet::new();
    for owner in tab.resources.iter().filter_map(|r| r.owner.as_deref()) {
        if found.len() >= OWNER_LIMIT {
            break;
        }
        let word = owner.split_whitespace().collect::<Vec<_>>().join("*");
        if word.to_lowercase().starts_with(&prefix) {
            found.insert(word);
        }
    }
    found.into_iter().filter(|o| !o.is_empty()).collect()
}
