//! The All tab: every object of every profile in one table, with the neutral columns, the
//! same filter (with field terms: `vendor:qlik profile:prod-*`), sort, marks and actions.
//!
//! It holds no objects of its own: its rows point into the profile tabs (`(profile, index)`),
//! and its marks ARE the profile tabs' marks, so a mark set here shows in the profile's tab
//! and the reverse. Its rows are rebuilt when a profile's objects change (a load, a delete).
//! Actions are planned per profile: `i` starts one impact job per profile, Ctrl-D opens one
//! confirmation holding one plan per profile.

use super::effect::Effect;
use super::index::{Cursor, Garbage, Members, Pending, RowSpec, Search, SortSpec};
use super::keymap::Action;
use super::state::*;
use crate::filter::RowFilter;
use crate::impact::Verdict;
use crate::model::{cells, Cell, CellCtx, ColWidth, ColumnDef, Kind, Resource};
use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

/// A row of the All tab: (profile index, index into that profile's resources).
pub type RowRef = (u32, u32);

/// One profile's part of a selection: (profile, selected keys, the keys among them that
/// the filter hides).
pub type Part = (usize, Vec<(Kind, String)>, Vec<(Kind, String)>);

fn profile_cell(r: &Resource, _: &CellCtx) -> Cell {
    Cell::plain(r.profile.to_string())
}

fn vendor_cell(r: &Resource, _: &CellCtx) -> Cell {
    Cell::plain(r.vendor.display())
}

fn kind_cell(r: &Resource, _: &CellCtx) -> Cell {
    Cell::plain(r.kind.title())
}

/// Unhealthy first, then testing, untested, healthy.
fn health_key(r: &Resource) -> String {
    use crate::model::Health;
    let rank = match &r.health {
        Health::Unhealthy(_) => 0,
        Health::Testing => 1,
        Health::Unknown => 2,
        Health::Healthy => 3,
    };
    format!("{rank}{}", r.name.to_lowercase())
}

/// The neutral columns, in order of importance (the last give way first on a narrow
/// screen): what it is and where, then its state, then who and when.
pub static COLUMNS: [ColumnDef; 10] = [
    ColumnDef {
        title: "Name",
        width: ColWidth::Names(16),
        cell: cells::name,
        sort_key: None,
    },
    ColumnDef {
        title: "Profile",
        width: ColWidth::Fill(14),
        cell: profile_cell,
        sort_key: None,
    },
    ColumnDef {
        title: "Kind",
        width: ColWidth::Fixed(11),
        cell: kind_cell,
        sort_key: None,
    },
    ColumnDef {
        title: "Health",
        width: ColWidth::Fill(10),
        cell: cells::health,
        sort_key: Some(health_key),
    },
    ColumnDef {
        title: "Used by",
        width: ColWidth::Fill(8),
        cell: cells::used_by,
        sort_key: Some(cells::used_by_key),
    },
    ColumnDef {
        title: "Sync",
        width: ColWidth::Fill(6),
        cell: crate::vendors::basedash::sync_cell,
        sort_key: Some(crate::vendors::basedash::sync_key),
    },
    ColumnDef {
        title: "Owner",
        width: ColWidth::Fill(6),
        cell: cells::owner,
        sort_key: None,
    },
    ColumnDef {
        title: "Container",
        width: ColWidth::Fill(6),
        cell: cells::container,
        sort_key: None,
    },
    ColumnDef {
        title: "Vendor",
        width: ColWidth::Fixed(14),
        cell: vendor_cell,
        sort_key: None,
    },
    ColumnDef {
        title: "Updated",
        width: ColWidth::Fixed(22),
        cell: cells::updated,
        sort_key: Some(cells::updated_key),
    },
];

/// The All tab's state: its rows, filter, sort and cursor (marks live in the profile tabs).
#[derive(Debug, Clone)]
pub struct AllView {
    /// The All tab is on screen.
    pub open: bool,
    /// Every object of every profile, in sort order (shared with the worker).
    pub members: Arc<Vec<RowRef>>,
    /// The filter's search text of each member, in the same order.
    search: Search,
    /// The visible rows: members that pass the toggles and the filter.
    pub rows: Vec<RowRef>,
    pub filter: String,
    pub sort_col: usize,
    pub sort_desc: bool,
    pub cursor: usize,
    pub offset: usize,
    pub orphans_only: bool,
    pub unhealthy_only: bool,
    /// The start of a `V` range: (profile, kind, id).
    pub anchor: Option<(usize, Kind, String)>,
    /// The object under the cursor, kept by identity: after a reload the indices in
    /// `rows` no longer mean what they meant, this still does.
    at: Option<(usize, Kind, String)>,
    /// Per profile, what the rows were built from (its load generation, when it loaded, how
    /// many objects it has and its views hold): a difference means the rows must be built
    /// again (a reload replaces every object, even when their number stays the same).
    stamp: Vec<Stamp>,
    /// The stamp the last rebuild was asked for (so it is asked once).
    asked: Vec<Stamp>,
    /// Per profile, the objects the rows point into when the profile has swapped in a new
    /// load since they were built (kept until the rebuild for it is swapped in).
    frozen: Vec<Option<Arc<Vec<Resource>>>>,
    /// Work asked for and not sent yet; work on the worker.
    pub pending: Option<Pending>,
    flight: Option<Pending>,
    /// Generation of the latest job sent; the job on the worker.
    generation: u64,
    in_flight: Option<u64>,
    /// Up to this many objects the work runs inside `update`.
    pub inline_rows: usize,
    /// Clock ticks seen while work was outstanding.
    pub busy_ticks: u32,
    /// Replaced data to free off the event loop (sent by the next `flush`).
    litter: Vec<Garbage>,
}

impl Default for AllView {
    fn default() -> Self {
        AllView {
            open: false,
            members: Arc::default(),
            search: Search::default(),
            rows: Vec::new(),
            filter: String::new(),
            sort_col: 0,
            sort_desc: false,
            cursor: 0,
            offset: 0,
            orphans_only: false,
            unhealthy_only: false,
            anchor: None,
            at: None,
            stamp: Vec::new(),
            asked: Vec::new(),
            frozen: Vec::new(),
            pending: None,
            flight: None,
            generation: 0,
            in_flight: None,
            inline_rows: super::index::INLINE_ROWS,
            busy_ticks: 0,
            litter: Vec::new(),
        }
    }
}

impl AllView {
    pub fn ensure_visible(&mut self, page: usize) {
        let page = page.max(1);
        if self.cursor < self.offset {
            self.offset = self.cursor;
        } else if self.cursor >= self.offset + page {
            self.offset = self.cursor + 1 - page;
        }
        self.offset = self.offset.min(self.rows.len().saturating_sub(page));
    }

    /// Rows are being computed: what the tab shows is the previous result.
    pub fn busy(&self) -> bool {
        self.pending.is_some() || self.in_flight.is_some()
    }

    fn row_spec(&self) -> RowSpec {
        RowSpec {
            filter: self.filter.clone(),
            orphans_only: self.orphans_only,
            unhealthy_only: self.unhealthy_only,
        }
    }

    fn sort_spec(&self) -> SortSpec {
        SortSpec {
            col: self.sort_col,
            desc: self.sort_desc,
        }
    }

    /// A profile swapped in a new load: the rows still point into `old` until they are
    /// built again. Returns what is not needed (an older copy is already kept).
    pub fn freeze(&mut self, p: usize, old: Arc<Vec<Resource>>) -> Option<Arc<Vec<Resource>>> {
        if !self.open || self.members.is_empty() {
            return Some(old);
        }
        if self.frozen.len() <= p {
            self.frozen.resize(p + 1, None);
        }
        match self.frozen[p] {
            Some(_) => Some(old),
            None => {
                self.frozen[p] = Some(old);
                None
            }
        }
    }
}

/// The object a row points at, if it is still there.
pub fn resource(m: &Model, row: RowRef) -> Option<&Resource> {
    let p = row.0 as usize;
    let resources = match m.all.frozen.get(p) {
        Some(Some(old)) => old,
        _ => &m.profiles.get(p)?.resources,
    };
    resources.get(row.1 as usize)
}

/// The row under the cursor and its object.
pub fn current(m: &Model) -> Option<(usize, &Resource)> {
    let row = *m.all.rows.get(m.all.cursor)?;
    resource(m, row).map(|r| (row.0 as usize, r))
}

/// Whether the object of a row is marked (in its profile's view of its kind).
pub fn is_marked(m: &Model, p: usize, r: &Resource) -> bool {
    m.profiles.get(p).is_some_and(|t| {
        t.views
            .iter()
            .any(|v| v.kind == r.kind && v.marks.contains(r.id.as_str()))
    })
}

/// Every mark of every profile, by profile: (kind, id).
pub fn marks_by_profile(m: &Model) -> Vec<(usize, Vec<(Kind, String)>)> {
    m.profiles
        .iter()
        .enumerate()
        .map(|(p, t)| {
            let keys: Vec<(Kind, String)> = t
                .views
                .iter()
                .flat_map(|v| v.marks.iter().map(move |id| (v.kind, id.clone())))
                .collect();
            (p, keys)
        })
        .filter(|(_, keys)| !keys.is_empty())
        .collect()
}

/// How many marks there are in all profiles.
pub fn mark_count(m: &Model) -> usize {
    m.profiles
        .iter()
        .flat_map(|t| t.views.iter())
        .map(|v| v.marks.len())
        .sum()
}

/// How many marks the All tab's rows do not show (hidden by its filter or toggles).
pub fn hidden_marks(m: &Model) -> usize {
    let total = mark_count(m);
    if total == 0 {
        return 0;
    }
    let shown = m
        .all
        .rows
        .iter()
        .filter_map(|&row| resource(m, row).map(|r| (row.0 as usize, r)))
        .filter(|(p, r)| is_marked(m, *p, r))
        .count();
    total.saturating_sub(shown)
}

type Stamp = (u64, Option<i64>, usize, usize);

fn stamp(m: &Model) -> Vec<Stamp> {
    m.profiles
        .iter()
        .map(|t| {
            let members = t.views.iter().map(|v| v.members.len()).sum();
            (t.epoch, t.loaded_at, t.resources.len(), members)
        })
        .collect()
}
/// Open the All tab (`*`, `:all`).
pub fn show(m: &mut Model) {
    m.overview = None;
    m.all.open = true;
    m.detail_scroll = 0;
    if m.all.stamp != stamp(m) {
        // Rows of objects since replaced: show none rather than the wrong ones.
        let members = std::mem::take(&mut m.all.members);
        let search = std::mem::take(&mut m.all.search);
        m.all.litter.push(members);
        m.all.litter.push(search);
        for old in m.all.frozen.drain(..).flatten() {
            m.all.litter.push(old);
        }
        m.all.rows.clear();
        m.all.cursor = 0;
        m.all.offset = 0;
    }
    resort(m);
    let page = m.page_rows;
    m.all.ensure_visible(page);
}

/// After every message: when the All tab is shown and a profile's objects changed, build
/// its rows again (the cursor stays on the same object where it can).
pub fn sync(m: &mut Model) {
    if m.all.open {
        let now = stamp(m);
        if m.all.stamp != now && m.all.asked != now {
            resort(m);
        }
    }
}

/// The object under the cursor, as a key that survives a rebuild.
fn cursor_key(m: &Model) -> Option<(usize, Kind, String)> {
    current(m).map(|(p, r)| (p, r.kind, r.id.to_string()))
}

/// The cursor moved (or the rows changed): remember which object it is on.
fn remember(m: &mut Model) {
    m.all.at = cursor_key(m);
}

/// Gather every object shown in a profile's views, in the order of the sort column (ties
/// by name, then profile), with their search text; then rebuild the rows. On a large
/// model the worker does it and the tab keeps its rows until it answers.
pub fn resort(m: &mut Model) {
    m.all.asked = stamp(m);
    ask(
        m,
        Pending {
            members: true,
            resort: true,
            cursor: Cursor::Keep,
        },
    );
}

/// The members that pass the toggles and the filter, cursor kept on the same object.
pub fn rebuild_rows(m: &mut Model) {
    ask(m, Pending::default());
}

/// The filter line's text became the All tab's filter.
pub fn set_filter(m: &mut Model, text: &str) {
    if m.all.filter == text {
        return;
    }
    m.all.filter = text.to_string();
    ask(
        m,
        Pending {
            cursor: Cursor::Top,
            ..Pending::default()
        },
    );
    if !m.all.busy() {
        m.all.cursor = 0;
        m.all.offset = 0;
        remember(m);
    }
}

fn ask(m: &mut Model, work: Pending) {
    m.all.pending = Some(match m.all.pending.take() {
        Some(before) => before.merge(work),
        None => Pending {
            resort: work.resort || work.members,
            ..work
        },
    });
    let total: usize = m.profiles.iter().map(|t| t.resources.len()).sum();
    if total <= m.all.inline_rows {
        if let Some(job) = take_job(m) {
            let garbage = apply(m, run_job(job));
            m.all.litter.extend(garbage);
        }
    }
}

/// One profile's part of an All job.
#[derive(Debug, Clone)]
pub struct AllSource {
    pub resources: Arc<Vec<Resource>>,
    /// Each view's members (the objects the profile shows).
    pub views: Vec<Members>,
    /// The filter's clock for `updated:` terms.
    pub clock: i64,
    /// Objects whose impact breaks something (asked only with "orphans only").
    pub breaks: HashSet<(Kind, String)>,
}

/// The All tab's work, done by `run_job`.
#[derive(Debug, Clone)]
pub struct AllJob {
    pub generation: u64,
    pub sort: SortSpec,
    pub spec: RowSpec,
    pub now: i64,
    /// Sorted members and their search text to filter again; `None`: gather and sort.
    pub sorted: Option<(Arc<Vec<RowRef>>, Search)>,
    pub sources: Vec<AllSource>,
    pub stamp: Vec<Stamp>,
}

/// The All tab's answer.
#[derive(Debug, Clone)]
pub struct AllOut {
    pub generation: u64,
    pub sort: SortSpec,
    pub spec: RowSpec,
    pub members: Arc<Vec<RowRef>>,
    pub search: Search,
    pub rows: Vec<RowRef>,
    /// What the members were gathered from.
    pub stamp: Vec<Stamp>,
}

/// The outstanding work as one job, unless one is in flight.
pub fn take_job(m: &mut Model) -> Option<AllJob> {
    if m.all.in_flight.is_some() {
        return None;
    }
    let work = m.all.pending.take()?;
    m.all.generation += 1;
    m.all.in_flight = Some(m.all.generation);
    let gather = work.members || work.resort || m.all.search.len() != m.all.members.len();
    let orphans = m.all.orphans_only;
    let sources = m
        .profiles
        .iter()
        .map(|t| AllSource {
            resources: t.resources.clone(),
            views: t.views.iter().map(|v| v.members.clone()).collect(),
            clock: t.clock,
            breaks: if orphans {
                t.impacts
                    .iter()
                    .filter(|(_, i)| i.verdict() == Verdict::Breaks)
                    .map(|(key, _)| key.clone())
                    .collect()
            } else {
                HashSet::new()
            },
        })
        .collect();
    let job = AllJob {
        generation: m.all.generation,
        sort: m.all.sort_spec(),
        spec: m.all.row_spec(),
        now: m.now,
        sorted: (!gather).then(|| (m.all.members.clone(), m.all.search.clone())),
        sources,
        stamp: if gather {
            stamp(m)
        } else {
            m.all.stamp.clone()
        },
    };
    m.all.flight = Some(work);
    Some(job)
}

/// Do an All job: gather, sort and index every profile's shown objects (unless given),
/// then filter them. Pure.
pub fn run_job(job: AllJob) -> AllOut {
    let AllJob {
        generation,
        sort,
        spec,
        now,
        sorted,
        sources,
        stamp,
    } = job;
    let (members, search) = match sorted {
        Some(s) => s,
        None => {
            let ctx = CellCtx { now };
            let col = COLUMNS.get(sort.col).unwrap_or(&COLUMNS[0]);
            let mut keyed: Vec<(String, RowRef)> = Vec::new();
            for (p, src) in sources.iter().enumerate() {
                for members in &src.views {
                    for &i in members.iter() {
                        let Some(r) = src.resources.get(i) else {
                            continue;
                        };
                        let key = match col.sort_key {
                            Some(f) => f(r),
                            None => (col.cell)(r, &ctx).text.to_lowercase(),
                        };
                        keyed.push((key, (p as u32, i as u32)));
                    }
                }
            }
            let name = |row: &RowRef| {
                sources[row.0 as usize].resources[row.1 as usize]
                    .name
                    .as_str()
            };
            keyed.sort_by(|a, b| {
                a.0.cmp(&b.0)
                    .then_with(|| name(&a.1).cmp(name(&b.1)))
                    .then_with(|| a.1.cmp(&b.1))
            });
            // Into a new vector: collecting in place would keep the keyed vector's allocation.
            let mut members: Vec<RowRef> = Vec::with_capacity(keyed.len());
            members.extend(keyed.into_iter().map(|(_, row)| row));
            if sort.desc {
                members.reverse();
            }
            let mut search = super::index::SearchText::with_capacity(members.len());
            for &(p, i) in &members {
                let r = &sources[p as usize].resources[i as usize];
                crate::filter::with_search_fields(r, |fields| {
                    let mut all: Vec<&str> = fields.to_vec();
                    all.push(r.profile.as_str());
                    all.push(r.vendor.display());
                    search.push_fields(&all);
                });
            }
            search.shrink_to_fit();
            (Arc::new(members), Arc::new(search))
        }
    };
    let mut filter = (!spec.filter.trim().is_empty()).then(|| RowFilter::new(&spec.filter));
    let indexed = search.len() == members.len() && search.is_joined();
    let rows: Vec<RowRef> = if filter.is_none() && !spec.orphans_only && !spec.unhealthy_only {
        members.to_vec()
    } else {
        members
            .iter()
            .enumerate()
            .filter(|&(pos, &(p, i))| {
                let Some(src) = sources.get(p as usize) else {
                    return false;
                };
                let Some(r) = src.resources.get(i as usize) else {
                    return false;
                };
                if spec.orphans_only {
                    let breaks =
                        !src.breaks.is_empty() && src.breaks.contains(&(r.kind, r.id.to_string()));
                    if !r.is_orphan() || breaks {
                        return false;
                    }
                }
                if spec.unhealthy_only && !r.is_unhealthy() {
                    return false;
                }
                filter.as_mut().is_none_or(|f| {
                    if f.has_fields() && !f.matches_resource(r, src.clock) {
                        return false;
                    }
                    if indexed {
                        f.matches_joined(&search[pos])
                    } else {
                        crate::filter::with_search_fields(r, |fields| f.matches_fields(fields))
                    }
                })
            })
            .map(|(_, &row)| row)
            .collect()
    };
    drop(sources);
    AllOut {
        generation,
        sort,
        spec,
        members,
        search,
        rows,
        stamp,
    }
}

/// The All tab's job answered: swap it in when it is the one the tab waits for and was
/// built from the objects the profiles hold now; else ask again. Returns what to free off
/// the event loop.
pub fn apply(m: &mut Model, out: AllOut) -> Vec<Garbage> {
    let mut garbage: Vec<Garbage> = Vec::new();
    if m.all.in_flight != Some(out.generation) {
        garbage.push(Arc::new(out));
        return garbage;
    }
    m.all.in_flight = None;
    let asked = m.all.flight.take().unwrap_or_default();
    if out.stamp != stamp(m) {
        // A profile's objects changed meanwhile: these rows would point at the wrong ones.
        m.all.pending = Some(asked.merge(m.all.pending.take().unwrap_or_default()).merge(
            Pending {
                members: true,
                resort: true,
                cursor: Cursor::Keep,
            },
        ));
        m.all.asked = stamp(m);
        garbage.push(Arc::new(out));
        return garbage;
    }
    // The rows now point into the profiles' objects again.
    for old in m.all.frozen.drain(..).flatten() {
        garbage.push(old);
    }
    if m.all.sort_spec() != out.sort {
        m.all.pending = Some(m.all.pending.take().unwrap_or_default().merge(Pending {
            members: false,
            resort: true,
            cursor: Cursor::Keep,
        }));
    } else if m.all.row_spec() != out.spec && m.all.pending.is_none() {
        m.all.pending = Some(Pending::default());
    }
    garbage.push(std::mem::replace(&mut m.all.members, out.members) as Garbage);
    garbage.push(std::mem::replace(&mut m.all.search, out.search) as Garbage);
    m.all.stamp = out.stamp;
    let rows = out.rows;
    let keep = match asked.cursor {
        Cursor::Top => None,
        _ => m.all.at.clone(),
    };
    let cursor = match asked.cursor {
        Cursor::Top => Some(0),
        _ => keep.and_then(|(p, kind, id)| {
            rows.iter().position(|&row| {
                row.0 as usize == p
                    && m.profiles
                        .get(p)
                        .and_then(|t| t.resources.get(row.1 as usize))
                        .is_some_and(|r| r.kind == kind && r.id == id)
            })
        }),
    };
    m.all.cursor = cursor
        .unwrap_or(m.all.cursor)
        .min(rows.len().saturating_sub(1));
    if asked.cursor == Cursor::Top {
        m.all.offset = 0;
    }
    m.all.rows = rows;
    let page = m.page_rows;
    m.all.ensure_visible(page);
    remember(m);
    if !m.all.busy() {
        m.all.busy_ticks = 0;
    }
    garbage
}

/// The worker's answer arrived.
pub fn on_indexed(m: &mut Model, out: AllOut) -> Vec<Effect> {
    let garbage = apply(m, out);
    if garbage.is_empty() {
        Vec::new()
    } else {
        vec![Effect::Discard(garbage)]
    }
}

/// At the end of every message: send the outstanding work (a small model does it now).
pub fn flush(m: &mut Model) -> Vec<Effect> {
    let mut fx = Vec::new();
    if let Some(job) = take_job(m) {
        let total: usize = job.sources.iter().map(|s| s.resources.len()).sum();
        if total <= m.all.inline_rows {
            let garbage = apply(m, run_job(job));
            m.all.litter.extend(garbage);
        } else {
            fx.push(Effect::IndexAll(Box::new(job)));
        }
    }
    if !m.all.litter.is_empty() {
        fx.push(Effect::Discard(std::mem::take(&mut m.all.litter)));
    }
    fx
}

/// Put the cursor on row `pos`.
pub fn move_to(m: &mut Model, pos: usize) {
    move_cursor(m, |_, _, _| pos);
}

fn move_cursor(m: &mut Model, f: impl FnOnce(usize, usize, usize) -> usize) {
    let page = m.page_rows;
    let v = &mut m.all;
    if v.rows.is_empty() {
        v.cursor = 0;
        v.offset = 0;
        return;
    }
    let last = v.rows.len() - 1;
    v.cursor = f(v.cursor, last, page).min(last);
    v.ensure_visible(page);
    m.detail_scroll = 0;
    remember(m);
}

/// Why an object cannot be marked (a kind the vendor never deletes, an object the server
/// says cannot be deleted), or `None`.
fn unmarkable(m: &Model, p: usize, r: &Resource) -> Option<String> {
    let tab = m.profiles.get(p)?;
    if !tab.spec.delete_order.contains(&r.kind) {
        return Some(format!(
            "{} are read-only ({}): not marked",
            r.kind,
            tab.spec.vendor.display()
        ));
    }
    (r.deletable == Some(false)).then(|| {
        format!(
            "{} cannot be deleted (built-in or not permitted): not marked",
            r.as_ref().label()
        )
    })
}

fn set_mark(m: &mut Model, p: usize, kind: Kind, id: &str, on: bool) {
    if let Some(v) = m
        .profiles
        .get_mut(p)
        .and_then(|t| t.views.iter_mut().find(|v| v.kind == kind))
    {
        if on {
            v.marks.insert(id.to_string());
        } else {
            v.marks.remove(id);
        }
    }
}

/// After marks changed here: each profile view's count of hidden marks.
fn recount_profiles(m: &mut Model) {
    for tab in m.profiles.iter_mut() {
        for k in 0..tab.views.len() {
            tab.recount_hidden(k);
        }
    }
}

fn toggle_mark(m: &mut Model) {
    let Some((p, r)) = current(m) else {
        return;
    };
    let (kind, id) = (r.kind, r.id.clone());
    if is_marked(m, p, r) {
        set_mark(m, p, kind, &id, false);
    } else if let Some(why) = unmarkable(m, p, r) {
        m.set_status(Level::Warn, why);
    } else {
        set_mark(m, p, kind, &id, true);
        m.all.anchor = Some((p, kind, id.to_string()));
    }
    move_cursor(m, |c, _, _| c + 1);
}

/// The rows from `lo` to `hi` (positions in `rows`) that can be marked, as keys.
fn markable(m: &Model, rows: &[RowRef]) -> Vec<(usize, Kind, String)> {
    rows.iter()
        .filter_map(|&row| resource(m, row).map(|r| (row.0 as usize, r)))
        .filter(|(p, r)| unmarkable(m, *p, r).is_none())
        .map(|(p, r)| (p, r.kind, r.id.to_string()))
        .collect()
}

fn mark_range(m: &mut Model) {
    let anchor = m.all.anchor.clone().and_then(|(p, kind, id)| {
        m.all.rows.iter().position(|&row| {
            row.0 as usize == p && resource(m, row).is_some_and(|r| r.kind == kind && r.id == id)
        })
    });
    let Some(a) = anchor else {
        toggle_mark(m);
        return;
    };
    let c = m.all.cursor.min(m.all.rows.len().saturating_sub(1));
    let (lo, hi) = (a.min(c), a.max(c));
    let keys = markable(m, &m.all.rows[lo..=hi]);
    if let Some(last) = keys.last() {
        m.all.anchor = Some(last.clone());
    }
    for (p, kind, id) in keys {
        set_mark(m, p, kind, &id, true);
    }
}

/// `A`: mark every visible row, or unmark them when all are marked.
fn mark_all(m: &mut Model) {
    let keys = markable(m, &m.all.rows);
    let all_marked = keys.iter().all(|(p, kind, id)| {
        m.profiles[*p]
            .views
            .iter()
            .any(|v| v.kind == *kind && v.marks.contains(id))
    });
    for (p, kind, id) in &keys {
        set_mark(m, *p, *kind, id, !all_marked);
    }
    let text = format!(
        "{} {} rows",
        if all_marked { "unmarked" } else { "marked" },
        keys.len()
    );
    m.set_status(Level::Info, text);
}

/// `U`: clear every mark of every profile (Ctrl-Z brings them back, once).
pub fn clear_all_marks(m: &mut Model) {
    let mut cleared = Vec::new();
    for (p, tab) in m.profiles.iter_mut().enumerate() {
        for v in tab.views.iter_mut() {
            if !v.marks.is_empty() {
                cleared.push(MarkSet {
                    profile: p,
                    kind: v.kind,
                    ids: std::mem::take(&mut v.marks),
                });
                v.anchor = None;
            }
        }
    }
    m.all.anchor = None;
    recount_profiles(m);
    let n: usize = cleared.iter().map(|s| s.ids.len()).sum();
    if n == 0 {
        m.set_status(Level::Info, "no marks to clear");
        return;
    }
    m.cleared_marks = Some(ClearedMarks { sets: cleared });
    m.set_status(
        Level::Info,
        format!(
            "cleared {n} mark{} in every profile — Ctrl-Z brings {} back",
            if n == 1 { "" } else { "s" },
            if n == 1 { "it" } else { "them" }
        ),
    );
}

/// What an action applies to, per profile: every mark of every profile (shown or not),
/// else the current row. Each entry: (profile, selected keys, keys hidden by the filter).
pub fn selection(m: &Model) -> Vec<Part> {
    let marks = marks_by_profile(m);
    if marks.is_empty() {
        return current(m)
            .map(|(p, r)| vec![(p, vec![(r.kind, r.id.to_string())], Vec::new())])
            .unwrap_or_default();
    }
    let shown: HashSet<(usize, Kind, &str)> = m
        .all
        .rows
        .iter()
        .filter_map(|&row| resource(m, row).map(|r| (row.0 as usize, r.kind, r.id.as_str())))
        .collect();
    marks
        .into_iter()
        .map(|(p, keys)| {
            let hidden = keys
                .iter()
                .filter(|(k, id)| !shown.contains(&(p, *k, id.as_str())))
                .cloned()
                .collect();
            (p, keys, hidden)
        })
        .collect()
}

/// `i`: the impact of the selection, one job per profile.
fn impact(m: &mut Model) -> Vec<Effect> {
    let parts = selection(m);
    if parts.is_empty() {
        m.set_status(Level::Info, "impact: nothing selected");
        return Vec::new();
    }
    let mut fx = Vec::new();
    let mut asked = 0;
    let mut profiles = 0;
    for (p, keys, _) in parts {
        let (n, more) = super::impact::run_for(m, p, keys.into_iter().collect());
        if n > 0 {
            asked += n;
            profiles += 1;
        }
        fx.extend(more);
    }
    if profiles > 1 {
        m.set_status(
            Level::Info,
            format!(
                "impact: checking what deleting {asked} objects breaks, in {profiles} profiles — \
                 shown in the Impact column and the detail pane"
            ),
        );
    }
    fx
}

/// Ctrl-D: one plan per profile of the selection, confirmed once (read-only profiles are
/// left out, and the dialog says so).
fn delete(m: &mut Model) -> Vec<Effect> {
    let parts = selection(m);
    if parts.is_empty() {
        m.set_status(Level::Info, "nothing to delete");
        return Vec::new();
    }
    let requests = parts
        .into_iter()
        .map(
            |(profile, selected, hidden)| super::modals::confirm::BatchRequest {
                profile,
                selected,
                hidden,
            },
        )
        .collect();
    super::modals::confirm::open_batch(m, requests)
}

/// `O`: the current object in its profile's tab, on its kind, cursor on it (the filter and
/// toggles of that view are cleared when they hide it).
pub fn open_in_profile(m: &mut Model) -> Vec<Effect> {
    let Some((p, kind, id)) = cursor_key(m) else {
        return Vec::new();
    };
    m.all.open = false;
    let fx = super::view::switch_profile(m, p);
    let page = m.page_rows;
    let Some(tab) = m.profiles.get_mut(p) else {
        return fx;
    };
    let Some(k) = tab.views.iter().position(|v| v.kind == kind) else {
        return fx;
    };
    tab.kind_index = k;
    let find = |tab: &ProfileTab| {
        tab.views[k]
            .rows
            .iter()
            .position(|&i| tab.resources.get(i).is_some_and(|r| r.id == id))
    };
    if find(tab).is_none() {
        let v = &mut tab.views[k];
        v.filter.clear();
        v.orphans_only = false;
        v.unhealthy_only = false;
        // On a large tab the worker answers later: the cursor goes to the object then.
        tab.refilter(k, super::index::Cursor::On(id.clone()));
    }
    if let Some(pos) = find(tab) {
        tab.views[k].cursor = pos;
        tab.views[k].ensure_visible(page);
    }
    fx
}

/// A normal-mode action while the All tab is shown: `None` when the profile tab's handling
/// applies unchanged (switching, help, quit, the log…).
pub fn on_action(m: &mut Model, action: Action) -> Option<Vec<Effect>> {
    if !m.all.open {
        return None;
    }
    let fx = match action {
        Action::Down => {
            move_cursor(m, |c, _, _| c + 1);
            Vec::new()
        }
        Action::Up => {
            move_cursor(m, |c, _, _| c.saturating_sub(1));
            Vec::new()
        }
        Action::Top => {
            move_cursor(m, |_, _, _| 0);
            Vec::new()
        }
        Action::Bottom => {
            move_cursor(m, |_, last, _| last);
            Vec::new()
        }
        Action::PageDown => {
            move_cursor(m, |c, _, p| c + p.max(1));
            Vec::new()
        }
        Action::PageUp => {
            move_cursor(m, |c, _, p| c.saturating_sub(p.max(1)));
            Vec::new()
        }
        Action::Filter => {
            m.mode = Mode::Filter;
            m.input = LineInput::new(&m.all.filter.clone());
            Vec::new()
        }
        Action::Mark => {
            toggle_mark(m);
            recount_profiles(m);
            Vec::new()
        }
        Action::MarkRange => {
            mark_range(m);
            recount_profiles(m);
            Vec::new()
        }
        Action::MarkAll => {
            mark_all(m);
            recount_profiles(m);
            Vec::new()
        }
        Action::ClearMarks => {
            clear_all_marks(m);
            recount_profiles(m);
            Vec::new()
        }
        Action::Delete => delete(m),
        Action::Impact => impact(m),
        Action::OpenInProfile => open_in_profile(m),
        Action::Back => {
            back(m);
            Vec::new()
        }
        Action::CopyId => match current(m).map(|(_, r)| r.id.clone()) {
            Some(id) => {
                m.set_status(Level::Info, format!("copied id {id}"));
                vec![Effect::Copy(id.to_string())]
            }
            None => Vec::new(),
        },
        Action::CopyNames => copy_names(m),
        Action::Refresh => {
            let mut fx = Vec::new();
            for p in 0..m.profiles.len() {
                fx.extend(super::load::start_load(m, p));
            }
            let n = m.profiles.len();
            m.set_status(Level::Info, format!("refreshing {n} profiles"));
            fx
        }
        Action::SortNext | Action::SortReverse => {
            if action == Action::SortNext {
                m.all.sort_col = (m.all.sort_col + 1) % COLUMNS.len();
            } else {
                m.all.sort_desc = !m.all.sort_desc;
            }
            resort(m);
            Vec::new()
        }
        Action::ToggleOrphans | Action::ToggleUnhealthy => {
            let (flag, what) = if action == Action::ToggleOrphans {
                (&mut m.all.orphans_only, "orphans only")
            } else {
                (&mut m.all.unhealthy_only, "unhealthy only")
            };
            *flag = !*flag;
            let on = *flag;
            m.set_status(
                Level::Info,
                format!("{what}: {}", if on { "on" } else { "off" }),
            );
            rebuild_rows(m);
            Vec::new()
        }
        Action::KindNext | Action::KindPrev => {
            m.set_status(
                Level::Info,
                "the All tab shows every kind: filter with kind:connections (or O to open the row's profile)",
            );
            Vec::new()
        }
        Action::Test | Action::Create | Action::Edit => {
            m.set_status(
                Level::Info,
                "open the row's profile with O to test, create or edit there (T checks every profile)",
            );
            Vec::new()
        }
        Action::Rotate => super::modals::edit::open_rotate(m),
        _ => return None,
    };
    Some(fx)
}

fn back(m: &mut Model) {
    if m.detail_open {
        m.detail_open = false;
        m.page_rows = super::layout::table_rows(m) as usize;
        m.status = None;
        return;
    }
    if !m.all.filter.is_empty() {
        m.input.clear();
        set_filter(m, "");
        m.set_status(Level::Info, "filter cleared");
        return;
    }
    let marked = mark_count(m);
    m.status = (marked > 0).then(|| LogEntry {
        at: m.now,
        level: Level::Info,
        text: format!("{marked} marked in all profiles (Esc keeps marks: U clears them)"),
    });
}

fn copy_names(m: &mut Model) -> Vec<Effect> {
    let wanted: BTreeSet<(usize, Kind, String)> = selection(m)
        .into_iter()
        .flat_map(|(p, keys, _)| keys.into_iter().map(move |(k, id)| (p, k, id)))
        .collect();
    let names: Vec<String> = wanted
        .iter()
        .filter_map(|(p, k, id)| {
            m.profiles
                .get(*p)?
                .resources
                .iter()
                .find(|r| r.kind == *k && &r.id == id)
                .map(|r| r.name.to_string())
        })
        .collect();
    if names.is_empty() {
        return Vec::new();
    }
    m.set_status(Level::Info, format!("copied {} name(s)", names.len()));
    vec![Effect::Copy(names.join("\n"))]
}

/// The rows `:export` writes from the All tab: the marked ones, else the visible ones.
pub fn export_rows(m: &Model) -> (Vec<Resource>, &'static str) {
    if mark_count(m) > 0 {
        let rows = m
            .all
            .members
            .iter()
            .filter_map(|&row| resource(m, row).map(|r| (row.0 as usize, r)))
            .filter(|(p, r)| is_marked(m, *p, r))
            .map(|(_, r)| r.clone())
            .collect();
        (rows, "marked")
    } else {
        let rows = m
            .all
            .rows
            .iter()
            .filter_map(|&row| resource(m, row))
            .cloned()
            .collect();
        (rows, "visible")
    }
}

/// `:mark QUERY` / `:unmark QUERY` on the All tab's visible rows.
pub fn mark_by_query(m: &mut Model, query: &str, mark: bool) {
    let mut filter = RowFilter::new(query);
    let keys: Vec<(usize, Kind, String)> = m
        .all
        .rows
        .iter()
        .filter_map(|&row| resource(m, row).map(|r| (row.0 as usize, r)))
        .filter(|(p, r)| !mark || unmarkable(m, *p, r).is_none())
        .filter(|(p, r)| match query {
            "all" => true,
            "orphans" => r.is_orphan(),
            "unhealthy" => r.is_unhealthy(),
            _ => {
                let clock = m.profiles[*p].clock;
                filter.matches_resource(r, clock)
                    && filter.matches_fields(&crate::filter::search_fields(r))
            }
        })
        .map(|(p, r)| (p, r.kind, r.id.to_string()))
        .collect();
    let n = keys.len();
    for (p, kind, id) in keys {
        set_mark(m, p, kind, &id, mark);
    }
    recount_profiles(m);
    let text = format!(
        "{} {n} row{} matching '{query}' in all profiles",
        if mark { "marked" } else { "unmarked" },
        if n == 1 { "" } else { "s" }
    );
    m.set_status(Level::Info, text);
}
