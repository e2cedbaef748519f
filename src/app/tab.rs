//! A profile tab and its kind views: rows, sort, filter, marks, and keeping them current.

use crate::filter::RowFilter;
use crate::impact::{Impact, Verdict};
use crate::model::{CellCtx, Kind, Resource, VendorId};
use crate::vendors::{spec, VendorSpec};
use std::collections::{BTreeSet, HashMap, HashSet};

/// Static facts about a profile tab, as configured.
#[derive(Debug, Clone)]
pub struct ProfileInfo {
    pub name: String,
    pub vendor: VendorId,
    pub read_only: bool,
    pub protected: bool,
    pub insecure_tls: bool,
    /// Why this profile cannot be used (missing secret, vendor not supported yet).
    pub setup_error: Option<String>,
}

impl ProfileInfo {
    /// The profile cannot be used because its secret did not resolve (an unset environment
    /// variable, a failing secret command): badged "NO SECRET", not "READ-ONLY".
    pub fn secret_missing(&self) -> bool {
        self.setup_error.as_deref().is_some_and(|e| {
            let e = e.to_ascii_lowercase();
            e.contains("secret")
                || e.contains("environment variable")
                || e.contains("password")
                || e.contains("token")
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadState {
    /// Never loaded.
    Idle,
    Loading,
    Loaded,
    Failed(String),
}

/// One kind sub-tab of a profile: its rows, filter, sort, marks and cursor.
#[derive(Debug, Clone)]
pub struct KindView {
    pub kind: Kind,
    /// Indices into the profile's resources of this kind, in sort order.
    pub members: Vec<usize>,
    /// The filter's search text of each member, in the same order: fields joined with
    /// `filter::FIELD_SEPARATOR`, in one contiguous pass for a keystroke to scan.
    pub search: Vec<Box<str>>,
    /// The visible rows: members after toggles and filter, in sort order.
    pub rows: Vec<usize>,
    pub filter: String,
    pub sort_col: usize,
    pub sort_desc: bool,
    /// Position of the cursor in `rows`.
    pub cursor: usize,
    /// First visible position of `rows`.
    pub offset: usize,
    /// Marked ids. Marks belong to this profile and kind only.
    pub marks: BTreeSet<String>,
    /// How many marks the filter or a toggle hides (kept current by `recount_hidden`, so
    /// the status bar never scans the rows while drawing).
    pub hidden_marked: usize,
    /// Id of the last row marked with Space (start of a `V` range).
    pub anchor: Option<String>,
    pub orphans_only: bool,
    pub unhealthy_only: bool,
}

impl KindView {
    /// Scroll so the cursor is on a page of `page` rows, without scrolling past the end.
    pub fn ensure_visible(&mut self, page: usize) {
        let page = page.max(1);
        if self.cursor < self.offset {
            self.offset = self.cursor;
        } else if self.cursor >= self.offset + page {
            self.offset = self.cursor + 1 - page;
        }
        let max_offset = self.rows.len().saturating_sub(page);
        self.offset = self.offset.min(max_offset);
    }

    pub fn new(kind: Kind) -> Self {
        KindView {
            kind,
            members: Vec::new(),
            search: Vec::new(),
            rows: Vec::new(),
            filter: String::new(),
            sort_col: 0,
            sort_desc: false,
            cursor: 0,
            offset: 0,
            marks: BTreeSet::new(),
            hidden_marked: 0,
            anchor: None,
            orphans_only: false,
            unhealthy_only: false,
        }
    }
}

/// One profile tab.
#[derive(Debug, Clone)]
pub struct ProfileTab {
    pub info: ProfileInfo,
    pub spec: &'static VendorSpec,
    pub load: LoadState,
    /// Generation of the latest fetch; older answers are dropped.
    pub generation: u64,
    /// Unix seconds of the last successful load.
    pub loaded_at: Option<i64>,
    pub resources: Vec<Resource>,
    pub views: Vec<KindView>,
    pub kind_index: usize,
    pub warnings: Vec<String>,
    /// A first load is filling `resources` page by page (not complete yet).
    pub streaming: bool,
    /// The client's starting filter was applied (only ever once).
    pub start_filter_done: bool,
    /// Impact answers by (kind, id), kept across reloads with the time they were computed.
    pub impacts: HashMap<(Kind, String), Impact>,
    /// Objects whose impact is being computed.
    pub impact_pending: HashSet<(Kind, String)>,
    /// How many of `impacts` are unknown, kept with them (the overview draws it each frame).
    pub impact_unknown: usize,
    /// The overview's counts, kept current when objects or their health change.
    pub counts: crate::overview::Counts,
    /// How long the last successful load took.
    pub load_ms: Option<u64>,
    /// The base URL's host, for the overview.
    pub tenant: String,
    /// When a health check last answered in this run.
    pub last_checked: Option<i64>,
    /// The time of the last count (the load's), for filters such as `updated:<1y`.
    pub clock: i64,
    /// What became unhealthy since the operator last looked (kept between runs).
    pub watch: super::watch::Watch,
}

impl ProfileTab {
    pub fn new(info: ProfileInfo) -> Self {
        let spec = spec(info.vendor);
        let views = spec.kinds.iter().map(|k| KindView::new(*k)).collect();
        ProfileTab {
            info,
            spec,
            load: LoadState::Idle,
            generation: 0,
            loaded_at: None,
            resources: Vec::new(),
            views,
            kind_index: 0,
            warnings: Vec::new(),
            streaming: false,
            start_filter_done: false,
            impacts: HashMap::new(),
            impact_pending: HashSet::new(),
            impact_unknown: 0,
            counts: crate::overview::Counts::default(),
            load_ms: None,
            tenant: String::new(),
            last_checked: None,
            clock: 0,
            watch: Default::default(),
        }
    }

    /// Count again what the overview shows (one pass over the objects).
    pub fn recount(&mut self, now: i64) {
        self.clock = now;
        self.counts =
            crate::overview::counts(&self.resources, self.spec.kinds, self.spec.can_test, now);
    }

    /// The overview's row for this tab.
    pub fn summary(&self) -> crate::overview::ProfileSummary {
        crate::overview::ProfileSummary {
            profile: self.info.name.clone(),
            vendor: self.info.vendor,
            tenant: self.tenant.clone(),
            counts: self.counts.clone(),
            impact_unknown: self.impact_unknown,
            load_error: match (&self.load, &self.info.setup_error) {
                (_, Some(e)) if !self.info.secret_missing() => Some(e.clone()),
                (LoadState::Failed(e), _) => Some(e.clone()),
                _ => None,
            },
            warnings: self.warnings.len(),
            loaded_at: self.loaded_at,
            load_ms: self.load_ms,
            read_only: self.info.read_only,
            protected: self.info.protected,
            no_secret: self.info.secret_missing(),
            new_unhealthy: self.watch.new_count,
            looked_at: self.watch.looked_at,
        }
    }

    /// Keep an impact answer, and the count of unknown ones with it.
    pub fn set_impact(&mut self, key: (Kind, String), impact: Impact) {
        let unknown = |i: &Impact| usize::from(i.verdict() == Verdict::Unknown);
        self.impact_unknown += unknown(&impact);
        if let Some(old) = self.impacts.insert(key, impact) {
            self.impact_unknown -= unknown(&old);
        }
    }

    pub fn usable(&self) -> bool {
        self.info.setup_error.is_none() && self.spec.supported
    }

    pub fn view(&self) -> Option<&KindView> {
        self.views.get(self.kind_index)
    }

    pub fn view_mut(&mut self) -> Option<&mut KindView> {
        self.views.get_mut(self.kind_index)
    }

    /// The resource under the cursor.
    pub fn current(&self) -> Option<&Resource> {
        let v = self.view()?;
        v.rows.get(v.cursor).and_then(|&i| self.resources.get(i))
    }

    #[cfg(test)]
    pub fn find(&self, kind: Kind, id: &str) -> Option<usize> {
        self.resources
            .iter()
            .position(|r| r.kind == kind && r.id == id)
    }

    /// Marked ids of the current kind that the filter or a toggle hides.
    pub fn hidden_marks(&self) -> Vec<String> {
        let Some(v) = self.view() else {
            return Vec::new();
        };
        if v.marks.is_empty() {
            return Vec::new();
        }
        let visible: BTreeSet<&str> = v
            .rows
            .iter()
            .filter_map(|&i| self.resources.get(i))
            .map(|r| r.id.as_str())
            .collect();
        v.marks
            .iter()
            .filter(|id| !visible.contains(id.as_str()))
            .cloned()
            .collect()
    }

    /// Recompute members of each kind after the resources changed; drop marks of objects
    /// that no longer exist; keep each cursor on the same object where possible.
    pub fn reindex(&mut self, now: i64) {
        for k in 0..self.views.len() {
            let kind = self.views[k].kind;
            let members: Vec<usize> = self
                .resources
                .iter()
                .enumerate()
                .filter(|(_, r)| r.kind == kind)
                .map(|(i, _)| i)
                .collect();
            let ids: BTreeSet<&str> = members
                .iter()
                .map(|&i| self.resources[i].id.as_str())
                .collect();
            let view = &mut self.views[k];
            view.marks.retain(|id| ids.contains(id.as_str()));
            if view
                .anchor
                .as_ref()
                .is_some_and(|a| !ids.contains(a.as_str()))
            {
                view.anchor = None;
            }
            view.members = members;
        }
        for k in 0..self.views.len() {
            self.resort(k, now);
        }
    }

    /// Take deleted objects out of every view at once, without re-sorting: the resources
    /// stay until the reload that follows a delete replaces them all, so indices hold.
    pub fn hide(&mut self, gone: &BTreeSet<(Kind, String)>) {
        if gone.is_empty() {
            return;
        }
        let resources = &self.resources;
        let is_gone = |i: usize| {
            resources
                .get(i)
                .is_some_and(|r| gone.contains(&(r.kind, r.id.clone())))
        };
        for view in self.views.iter_mut() {
            if !gone.iter().any(|(k, _)| *k == view.kind) {
                continue;
            }
            let keep_id = view.rows.get(view.cursor).copied();
            let indexed = view.search.len() == view.members.len();
            let mut members = Vec::with_capacity(view.members.len());
            let mut search = Vec::with_capacity(view.search.len());
            for (pos, &i) in view.members.iter().enumerate() {
                if !is_gone(i) {
                    members.push(i);
                    if indexed {
                        search.push(view.search[pos].clone());
                    }
                }
            }
            view.members = members;
            view.search = search;
            view.rows.retain(|&i| !is_gone(i));
            view.marks
                .retain(|id| !gone.contains(&(view.kind, id.clone())));
            view.cursor = keep_id
                .and_then(|k| view.rows.iter().position(|&i| i == k))
                .unwrap_or(view.cursor)
                .min(view.rows.len().saturating_sub(1));
        }
        for k in 0..self.views.len() {
            self.recount_hidden(k);
        }
    }

    /// Put view `k`'s members in the order of its sort column (ties by name), then rebuild
    /// its rows. Needed when the data or the sort changes, not when the filter does.
    pub fn resort(&mut self, k: usize, now: i64) {
        let Some(view) = self.views.get(k) else {
            return;
        };
        let resources = &self.resources;
        let columns = (self.spec.columns)(view.kind);
        let mut members = view.members.clone();
        if let Some(col) = columns.get(view.sort_col) {
            let ctx = CellCtx { now };
            let mut keyed: Vec<(String, usize)> = members
                .iter()
                .map(|&i| {
                    let r = &resources[i];
                    let key = match col.sort_key {
                        Some(f) => f(r),
                        None => (col.cell)(r, &ctx).text.to_lowercase(),
                    };
                    (key, i)
                })
                .collect();
            keyed.sort_by(|a, b| {
                a.0.cmp(&b.0)
                    .then_with(|| resources[a.1].name.cmp(&resources[b.1].name))
            });
            members = keyed.into_iter().map(|(_, i)| i).collect();
        }
        if view.sort_desc {
            members.reverse();
        }
        let search = members
            .iter()
            .map(|&i| {
                with_search_fields(&resources[i], |fields| {
                    fields
                        .join(&crate::filter::FIELD_SEPARATOR.to_string())
                        .into_boxed_str()
                })
            })
            .collect();
        self.views[k].members = members;
        self.views[k].search = search;
        self.rebuild_rows(k);
    }

    /// Recompute the visible rows of view `k`: its (sorted) members that pass the toggles
    /// and the filter, keeping the cursor on the same object. One pass, no sorting: this is
    /// what runs on every filter keystroke.
    pub fn rebuild_rows(&mut self, k: usize) {
        let Some(view) = self.views.get(k) else {
            return;
        };
        let keep_id = view
            .rows
            .get(view.cursor)
            .and_then(|&i| self.resources.get(i))
            .map(|r| r.id.clone());
        let resources = &self.resources;
        let impacts = &self.impacts;
        let clock = self.clock;
        let mut filter = (!view.filter.trim().is_empty()).then(|| RowFilter::new(&view.filter));
        let indexed = view.search.len() == view.members.len();
        let rows: Vec<usize> = view
            .members
            .iter()
            .enumerate()
            .filter(|&(pos, &i)| {
                let toggles = view.orphans_only || view.unhealthy_only;
                if toggles {
                    let r = &resources[i];
                    // An orphan whose content is known to break is not an orphan.
                    let breaks = || {
                        impacts
                            .get(&(r.kind, r.id.clone()))
                            .is_some_and(|i| i.verdict() == Verdict::Breaks)
                    };
                    if (view.orphans_only && (!r.is_orphan() || breaks()))
                        || (view.unhealthy_only && !r.is_unhealthy())
                    {
                        return false;
                    }
                }
                filter.as_mut().is_none_or(|f| {
                    if f.has_fields() && !f.matches_resource(&resources[i], clock) {
                        return false;
                    }
                    if indexed {
                        f.matches_joined(&view.search[pos])
                    } else {
                        with_search_fields(&resources[i], |fields| f.matches_fields(fields))
                    }
                })
            })
            .map(|(_, &i)| i)
            .collect();
        let cursor = keep_id
            .and_then(|id| rows.iter().position(|&i| resources[i].id == id))
            .unwrap_or(view.cursor)
            .min(rows.len().saturating_sub(1));
        let view = &mut self.views[k];
        view.rows = rows;
        view.cursor = cursor;
        self.recount_hidden(k);
    }

    /// Recount the marks of view `k` that its rows do not show. Call after the rows or the
    /// marks change.
    pub fn recount_hidden(&mut self, k: usize) {
        let Some(view) = self.views.get(k) else {
            return;
        };
        let hidden = if view.marks.is_empty() {
            0
        } else {
            let visible = view
                .rows
                .iter()
                .filter_map(|&i| self.resources.get(i))
                .filter(|r| view.marks.contains(&r.id))
                .count();
            view.marks.len() - visible.min(view.marks.len())
        };
        self.views[k].hidden_marked = hidden;
    }
}

pub use crate::filter::{search_fields, with_search_fields};
