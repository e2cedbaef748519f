//! The `:` commands: `:profile`, `:kind`, `:filter`, `:marks`, `:q`. Commands and their
//! arguments may be shortened to an unambiguous prefix (`:ov`, `:kind conn`).

use super::effect::Effect;
use super::marks::{clear_marks, restore_marks};
use super::modals::question::request_quit;
use super::state::*;
use super::view::{apply_filter, switch_profile};
use crate::model::Kind;

/// A `:` command, whatever name or prefix called it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmd {
    Quit,
    Overview,
    All,
    Profile,
    Kind,
    Filter,
    Export,
    Mark,
    Unmark,
    Marks,
    Rotate,
    Transfer,
    Move,
    Owner,
    Trash,
}

/// Every name a command answers to, its own name first. Any of them may be shortened to an
/// unambiguous prefix (`:ov`, `:ex`); the short aliases (`q`, `o`, `p`, `k`, `f`, `e`, `m`)
/// are exact names that win over prefixes.
const NAMES: &[(&str, Cmd)] = &[
    ("quit", Cmd::Quit),
    ("q", Cmd::Quit),
    ("q!", Cmd::Quit),
    ("overview", Cmd::Overview),
    ("o", Cmd::Overview),
    ("home", Cmd::Overview),
    ("all", Cmd::All),
    ("profile", Cmd::Profile),
    ("p", Cmd::Profile),
    ("kind", Cmd::Kind),
    ("k", Cmd::Kind),
    ("filter", Cmd::Filter),
    ("f", Cmd::Filter),
    ("export", Cmd::Export),
    ("e", Cmd::Export),
    ("mark", Cmd::Mark),
    ("unmark", Cmd::Unmark),
    ("marks", Cmd::Marks),
    ("m", Cmd::Marks),
    ("rotate", Cmd::Rotate),
    ("transfer", Cmd::Transfer),
    ("move", Cmd::Move),
    ("owner", Cmd::Owner),
    ("trash", Cmd::Trash),
];

/// The commands' own names, as completion offers them.
pub const COMMANDS: &[&str] = &[
    "overview", "all", "profile", "kind", "filter", "mark", "unmark", "marks", "export", "rotate",
    "transfer", "move", "owner", "trash", "quit",
];

/// The arguments of `:marks`.
pub const MARKS_ARGS: &[&str] = &["clear", "restore"];

impl Cmd {
    /// The command's own name.
    pub fn name(self) -> &'static str {
        NAMES
            .iter()
            .find(|(_, c)| *c == self)
            .map(|(n, _)| *n)
            .unwrap_or("")
    }

    /// The command `word` names (case ignored): an exact name, else the one command whose
    /// names it is a prefix of. `Err`: the commands it could be (none, or several).
    pub fn resolve(word: &str) -> Result<Cmd, Vec<&'static str>> {
        let w = word.to_lowercase();
        if let Some((_, c)) = NAMES.iter().find(|(n, _)| *n == w) {
            return Ok(*c);
        }
        let mut found: Vec<Cmd> = Vec::new();
        for (n, c) in NAMES {
            if n.starts_with(&w) && !found.contains(c) {
                found.push(*c);
            }
        }
        match found.as_slice() {
            [one] => Ok(*one),
            _ => Err(found.iter().map(|c| c.name()).collect()),
        }
    }
}

/// The one of `names` that `word` picks: the name itself, else the name equal to it when
/// case is ignored, else the only name it is a prefix of (case ignored). `Err`: the names it
/// matches, none or several.
pub fn pick<'a>(word: &str, names: &[&'a str]) -> Result<&'a str, Vec<&'a str>> {
    if let Some(n) = names.iter().find(|n| **n == word) {
        return Ok(n);
    }
    let w = word.to_lowercase();
    let same: Vec<&'a str> = names
        .iter()
        .copied()
        .filter(|n| n.to_lowercase() == w)
        .collect();
    if same.len() == 1 {
        return Ok(same[0]);
    }
    let by_prefix: Vec<&'a str> = names
        .iter()
        .copied()
        .filter(|n| n.to_lowercase().starts_with(&w))
        .collect();
    match by_prefix.as_slice() {
        [one] => Ok(one),
        _ => Err(by_prefix),
    }
}

/// The error sentence of a name that matched none or several of `names`.
fn not_one(line: &str, what: &str, matched: &[&str], names: &[&str]) -> String {
    if matched.is_empty() {
        format!(
            "no {what} matches ':{line}' ({what}s: {})",
            names.join(", ")
        )
    } else {
        format!("':{line}' matches {}", matched.join(", "))
    }
}

pub fn run_command(m: &mut Model, line: &str) -> Vec<Effect> {
    let (word, arg) = match line.split_once(char::is_whitespace) {
        Some((c, a)) => (c, a.trim()),
        None => (line, ""),
    };
    if word.is_empty() {
        return Vec::new();
    }
    let cmd = match Cmd::resolve(word) {
        Ok(c) => c,
        Err(matched) if !matched.is_empty() => {
            m.set_status(
                Level::Error,
                format!("':{word}' matches {}", matched.join(", ")),
            );
            return Vec::new();
        }
        Err(_) => {
            m.set_status(
                Level::Error,
                format!(
                    "unknown command ':{word}' (try :overview, :profile NAME, :kind NAME, \
                     :filter TEXT, :mark QUERY, :unmark QUERY|all, :marks clear|restore, \
                     :export FILE.csv|FILE.json, :rotate, :owner NAME, :transfer, :move, :q)"
                ),
            );
            return Vec::new();
        }
    };
    match cmd {
        Cmd::Quit => return request_quit(m),
        Cmd::Overview => super::overview::show(m),
        Cmd::All => super::all::show(m),
        Cmd::Profile => {
            let names: Vec<&str> = m.profiles.iter().map(|t| t.info.name.as_str()).collect();
            let found = if arg.is_empty() {
                Err(Vec::new())
            } else {
                pick(arg, &names)
            };
            match found {
                Ok(name) => {
                    if let Some(p) = m.profiles.iter().position(|t| t.info.name == name) {
                        return switch_profile(m, p);
                    }
                }
                Err(matched) => {
                    let text = if matched.is_empty() {
                        format!("no profile '{arg}' (profiles: {})", names.join(", "))
                    } else {
                        not_one(line, "profile", &matched, &names)
                    };
                    m.set_status(Level::Error, text);
                }
            }
        }
        Cmd::Kind => {
            let kinds: Vec<&str> = m
                .tab()
                .map(|t| t.views.iter().map(|v| v.kind.id()).collect())
                .unwrap_or_default();
            // The singular ("connection") is a name too.
            let exact = Kind::parse(arg).map(|k| k.id());
            let found = match exact {
                Some(id) if kinds.contains(&id) => Ok(id),
                Some(_) => Err(Vec::new()),
                None if arg.is_empty() => Err(Vec::new()),
                None => pick(arg, &kinds),
            };
            match found {
                Ok(id) => {
                    if let Some(t) = m.tab_mut() {
                        if let Some(i) = t.views.iter().position(|v| v.kind.id() == id) {
                            t.kind_index = i;
                        }
                    }
                }
                Err(matched) if !matched.is_empty() => {
                    m.set_status(Level::Error, not_one(line, "kind", &matched, &kinds))
                }
                Err(_) => m.set_status(
                    Level::Error,
                    format!(
                        "no kind '{arg}' in this profile (kinds: {})",
                        kinds.join(", ")
                    ),
                ),
            }
        }
        Cmd::Filter => {
            m.input = LineInput::new(arg);
            apply_filter(m);
            m.input.clear();
        }
        Cmd::Export => return export(m, arg),
        Cmd::Rotate => return super::modals::edit::open_rotate(m),
        Cmd::Transfer => {
            return super::modals::edit::open_bulk(m, super::modals::edit::Bulk::Transfer)
        }
        Cmd::Move => return super::modals::edit::open_bulk(m, super::modals::edit::Bulk::Move),
        Cmd::Owner => return owner_view(m, arg),
        Cmd::Trash => return super::modals::trash::open(m),
        Cmd::Mark => super::marks::by_query(m, arg, true),
        Cmd::Unmark => super::marks::by_query(m, arg, false),
        Cmd::Marks => match pick(arg, MARKS_ARGS) {
            Ok("clear") => clear_marks(m),
            Ok(_) => restore_marks(m),
            Err(matched) if !matched.is_empty() && !arg.is_empty() => {
                m.set_status(Level::Error, not_one(line, "", &matched, MARKS_ARGS))
            }
            Err(_) => m.set_status(Level::Error, "usage: :marks clear, :marks restore"),
        },
    }
    Vec::new()
}

/// `:export FILE.csv|FILE.json`: the marked rows of the current view, or its visible rows.
fn export(m: &mut Model, arg: &str) -> Vec<Effect> {
    use crate::ops::export::{expand, Format};
    if arg.is_empty() {
        m.set_status(Level::Error, "usage: :export FILE.csv or :export FILE.json");
        return Vec::new();
    }
    let path = expand(arg);
    let Some(format) = Format::of(&path) else {
        m.set_status(
            Level::Error,
            format!("export: '{arg}' must end in .csv or .json"),
        );
        return Vec::new();
    };
    let (rows, what) = if m.all.open {
        super::all::export_rows(m)
    } else {
        let Some(tab) = m.tab().filter(|_| m.overview.is_none()) else {
            m.set_status(
                Level::Error,
                "export: open a profile first (the rows of its table are exported)",
            );
            return Vec::new();
        };
        let Some(v) = tab.view() else {
            return Vec::new();
        };
        if v.marks.is_empty() {
            let rows = v
                .rows
                .iter()
                .filter_map(|&i| tab.resources.get(i))
                .cloned()
                .collect();
            (rows, "visible")
        } else {
            let rows = tab
                .resources
                .iter()
                .filter(|r| r.kind == v.kind && v.marks.contains(r.id.as_str()))
                .cloned()
                .collect();
            (rows, "marked")
        }
    };
    m.set_status(
        Level::Info,
        format!(
            "exporting {} {what} rows to {}…",
            rows.len(),
            path.display()
        ),
    );
    vec![Effect::Export { path, format, rows }]
}

/// `:owner NAME`: everything NAME owns in every profile — the All tab filtered to it (a
/// space in the name matches any run of characters). Mark (`A`) and then transfer
/// (`:transfer`), delete (`Ctrl-D`) or rotate (`P`) them, each one plan confirmed once.
fn owner_view(m: &mut Model, arg: &str) -> Vec<Effect> {
    let who = arg.trim();
    if who.is_empty() {
        m.set_status(
            Level::Warn,
            "':owner NAME' lists what NAME owns in every profile",
        );
        return Vec::new();
    }
    super::all::show(m);
    let term = format!(
        "owner:{}",
        who.split_whitespace().collect::<Vec<_>>().join("*")
    );
    super::all::set_filter(m, &term);
    let n = m.all.rows.len();
    let without: Vec<String> = m
        .profiles
        .iter()
        .filter(|t| !t.resources.is_empty() && t.resources.iter().all(|r| r.owner.is_none()))
        .map(|t| t.info.name.clone())
        .collect();
    let note = if without.is_empty() {
        String::new()
    } else {
        format!(" ({} carry no owners)", without.join(", "))
    };
    m.set_status(
        Level::Info,
        format!("{n} object(s) owned by '{who}'{note}: A marks them, then :transfer, Ctrl-D or P"),
    );
    Vec::new()
}
