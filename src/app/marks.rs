//! Marks: Space, `V` ranges, `A`, and `U` / `Ctrl-Z` (clear, and bring back once).

use super::state::*;
use super::view::move_cursor;
use crate::model::Kind;
use std::collections::BTreeSet;

/// Space: mark or unmark the current row, then move down.
pub fn toggle(m: &mut Model) {
    let mut refused = None;
    if let Some(tab) = m.tab_mut() {
        let current = tab
            .current()
            .map(|r| (r.id.to_string(), r.deletable, r.as_ref()));
        if let (Some((id, deletable, r)), Some(v)) = (current, tab.view_mut()) {
            if v.marks.remove(&id) {
            } else if deletable == Some(false) {
                refused = Some(format!(
                    "{} cannot be deleted (built-in or not permitted): not marked",
                    r.label()
                ));
            } else {
                v.marks.insert(id.clone());
                v.anchor = Some(id.to_string());
            }
        }
    }
    if let Some(text) = refused {
        m.set_status(Level::Warn, text);
    }
    move_cursor(m, |c, _, _| c + 1);
}

/// `V`: mark the range from the last mark to the cursor.
pub fn range(m: &mut Model) {
    if let Some(tab) = m.tab_mut() {
        let anchor_pos = tab.view().and_then(|v| {
            let a = v.anchor.as_ref()?;
            v.rows.iter().position(|&i| &tab.resources[i].id == a)
        });
        let ids: Vec<String> = match (anchor_pos, tab.view()) {
            (Some(a), Some(v)) if !v.rows.is_empty() => {
                let (lo, hi) = if a <= v.cursor {
                    (a, v.cursor)
                } else {
                    (v.cursor, a)
                };
                v.rows[lo..=hi.min(v.rows.len() - 1)]
                    .iter()
                    .map(|&i| &tab.resources[i])
                    .filter(|r| r.deletable != Some(false))
                    .map(|r| r.id.to_string())
                    .collect()
            }
            _ => tab
                .current()
                .map(|r| vec![r.id.to_string()])
                .unwrap_or_default(),
        };
        if let Some(v) = tab.view_mut() {
            v.anchor = ids.last().cloned().or(v.anchor.take());
            v.marks.extend(ids);
        }
    }
}

/// `A`: mark every visible row, or unmark them when all are marked.
pub fn all(m: &mut Model) {
    if let Some(tab) = m.tab_mut() {
        let visible: Vec<String> = tab
            .view()
            .map(|v| {
                v.rows
                    .iter()
                    .map(|&i| &tab.resources[i])
                    .filter(|r| r.deletable != Some(false))
                    .map(|r| r.id.to_string())
                    .collect()
            })
            .unwrap_or_default();
        if let Some(v) = tab.view_mut() {
            if visible.iter().all(|id| v.marks.contains(id)) {
                for id in &visible {
                    v.marks.remove(id);
                }
            } else {
                v.marks.extend(visible);
            }
        }
    }
}

/// Kinds the vendor never deletes (Databrain datamarts) cannot be marked: says so and
/// returns true. The rule comes from the vendor's delete order, not from each object.
pub fn refuse_read_only_kind(m: &mut Model) -> bool {
    let Some(tab) = m.tab() else {
        return false;
    };
    let Some(kind) = tab.view().map(|v| v.kind) else {
        return false;
    };
    if tab.spec.delete_order.contains(&kind) {
        return false;
    }
    let text = format!(
        "{kind} are read-only ({}): not marked",
        tab.spec.vendor.display()
    );
    m.set_status(Level::Warn, text);
    true
}

/// `U`: clear every mark of the current view, keeping them for one `Ctrl-Z`.
pub fn clear_marks(m: &mut Model) {
    if m.all.open {
        super::all::clear_all_marks(m);
        return;
    }
    let p = m.active;
    let Some(v) = m.tab_mut().and_then(|t| t.view_mut()) else {
        return;
    };
    if v.marks.is_empty() {
        m.set_status(Level::Info, "no marks to clear");
        return;
    }
    let ids = std::mem::take(&mut v.marks);
    v.anchor = None;
    let kind = v.kind;
    let n = ids.len();
    m.cleared_marks = Some(ClearedMarks {
        sets: vec![MarkSet {
            profile: p,
            kind,
            ids,
        }],
    });
    if let Some(tab) = m.tab_mut() {
        let k = tab.kind_index;
        tab.recount_hidden(k);
    }
    m.set_status(
        Level::Info,
        format!(
            "cleared {n} mark{} — Ctrl-Z brings {} back",
            if n == 1 { "" } else { "s" },
            if n == 1 { "it" } else { "them" }
        ),
    );
}

/// `Ctrl-Z` / `:marks restore`: the marks last cleared come back to the views they were
/// cleared from (only objects still loaded), once.
pub fn restore_marks(m: &mut Model) {
    let Some(cleared) = m.cleared_marks.take() else {
        m.set_status(
            Level::Info,
            "nothing to restore (the last cleared marks come back once)",
        );
        return;
    };
    let (mut n, mut gone) = (0, 0);
    let mut places = Vec::new();
    for set in cleared.sets {
        let Some(tab) = m.profiles.get_mut(set.profile) else {
            gone += set.ids.len();
            continue;
        };
        let Some(k) = tab.views.iter().position(|v| v.kind == set.kind) else {
            gone += set.ids.len();
            continue;
        };
        let present: BTreeSet<&str> = tab.views[k]
            .members
            .iter()
            .filter_map(|&i| tab.resources.get(i))
            .map(|r| r.id.as_str())
            .collect();
        let back: BTreeSet<String> = set
            .ids
            .iter()
            .filter(|id| present.contains(id.as_str()))
            .cloned()
            .collect();
        n += back.len();
        gone += set.ids.len() - back.len();
        tab.views[k].marks.extend(back);
        tab.recount_hidden(k);
        places.push(format!("{} {}", tab.info.name, set.kind));
    }
    let place = if places.len() > 2 {
        format!("{} views", places.len())
    } else {
        places.join(", ")
    };
    let mut text = format!(
        "restored {n} mark{} on {place}",
        if n == 1 { "" } else { "s" }
    );
    if gone > 0 {
        text.push_str(&format!(" ({gone} no longer loaded)"));
    }
    m.set_status(Level::Info, text);
}

/// The selection an action applies to: the marks of the current view (visible or not),
/// else the current row.
pub fn selection(tab: &ProfileTab) -> Vec<(Kind, String)> {
    let Some(v) = tab.view() else {
        return Vec::new();
    };
    if !v.marks.is_empty() {
        return v.marks.iter().map(|id| (v.kind, id.clone())).collect();
    }
    tab.current()
        .map(|r| vec![(r.kind, r.id.to_string())])
        .unwrap_or_default()
}

/// `:mark QUERY` / `:unmark QUERY`: (un)mark the visible rows of this view that match —
/// `all`, `orphans`, `unhealthy`, or a filter query with field terms
/// (`health:unhealthy updated:>1y`). `:unmark all` clears the view's marks (Ctrl-Z
/// brings them back).
pub fn by_query(m: &mut Model, query: &str, mark: bool) {
    let query = query.trim();
    if query.is_empty() {
        let verb = if mark { "mark" } else { "unmark" };
        m.set_status(
            Level::Error,
            format!("usage: :{verb} all | orphans | unhealthy | QUERY (e.g. health:unhealthy updated:>1y)"),
        );
        return;
    }
    if m.overview.is_some() {
        m.set_status(
            Level::Error,
            "open a profile first: marks belong to its tables",
        );
        return;
    }
    if m.all.open && (mark || query != "all") {
        super::all::mark_by_query(m, query, mark);
        return;
    }
    if !mark && query == "all" {
        clear_marks(m);
        return;
    }
    if mark && refuse_read_only_kind(m) {
        return;
    }
    let Some(tab) = m.tab_mut() else {
        return;
    };
    let clock = tab.clock;
    let mut filter = crate::filter::RowFilter::new(query);
    let ids: Vec<String> = tab
        .view()
        .map(|v| {
            v.rows
                .iter()
                .map(|&i| &tab.resources[i])
                .filter(|r| r.deletable != Some(false))
                .filter(|r| match query {
                    "all" => true,
                    "orphans" => r.is_orphan(),
                    "unhealthy" => r.is_unhealthy(),
                    _ => {
                        filter.matches_resource(r, clock)
                            && filter.matches_fields(&crate::filter::search_fields(r))
                    }
                })
                .map(|r| r.id.to_string())
                .collect()
        })
        .unwrap_or_default();
    let n = ids.len();
    let k = tab.kind_index;
    if let Some(v) = tab.view_mut() {
        for id in ids {
            if mark {
                v.marks.insert(id);
            } else {
                v.marks.remove(&id);
            }
        }
    }
    tab.recount_hidden(k);
    let text = format!(
        "{} {n} row{} matching '{query}'",
        if mark { "marked" } else { "unmarked" },
        if n == 1 { "" } else { "s" }
    );
    m.set_status(Level::Info, text);
}
