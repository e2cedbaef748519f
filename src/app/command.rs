//! The `:` commands: `:profile`, `:kind`, `:filter`, `:marks`, `:q`.

use super::effect::Effect;
use super::marks::{clear_marks, restore_marks};
use super::modals::question::request_quit;
use super::state::*;
use super::view::{apply_filter, switch_profile};
use crate::model::Kind;

pub fn run_command(m: &mut Model, line: &str) -> Vec<Effect> {
    let (cmd, arg) = match line.split_once(char::is_whitespace) {
        Some((c, a)) => (c, a.trim()),
        None => (line, ""),
    };
    match cmd {
        "" => {}
        "q" | "q!" | "quit" => return request_quit(m),
        "overview" | "o" | "home" => super::overview::show(m),
        "all" => super::all::show(m),
        "profile" | "p" => match m.profiles.iter().position(|t| t.info.name == arg) {
            Some(p) => return switch_profile(m, p),
            None => {
                let names: Vec<&str> = m.profiles.iter().map(|t| t.info.name.as_str()).collect();
                m.set_status(
                    Level::Error,
                    format!("no profile '{arg}' (profiles: {})", names.join(", ")),
                );
            }
        },
        "kind" | "k" => {
            let found = Kind::parse(arg).and_then(|k| {
                m.tab()
                    .and_then(|t| t.views.iter().position(|v| v.kind == k))
            });
            match found {
                Some(i) => {
                    if let Some(t) = m.tab_mut() {
                        t.kind_index = i;
                    }
                }
                None => m.set_status(Level::Error, format!("no kind '{arg}' in this profile")),
            }
        }
        "filter" | "f" => {
            m.input = LineInput::new(arg);
            apply_filter(m);
            m.input.clear();
        }
        "export" | "e" => return export(m, arg),
        "mark" => super::marks::by_query(m, arg, true),
        "unmark" => super::marks::by_query(m, arg, false),
        "marks" | "m" => match arg {
            "clear" => clear_marks(m),
            "restore" => restore_marks(m),
            _ => m.set_status(Level::Error, "usage: :marks clear, :marks restore"),
        },
        other => m.set_status(
            Level::Error,
            format!(
                "unknown command ':{other}' (try :overview, :profile NAME, :kind NAME, \
                 :filter TEXT, :mark QUERY, :unmark QUERY|all, :marks clear|restore, \
                 :export FILE.csv|FILE.json, :q)"
            ),
        ),
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
                .filter(|r| r.kind == v.kind && v.marks.contains(&r.id))
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
