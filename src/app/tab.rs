//! A profile tab and its kind views: rows, sort, filter, marks, and keeping them current.

use super::index::{
    self, Cursor, Garbage, IndexJob, IndexOut, LoadInfo, Members, Pending, RowSpec, Search,
    SortSpec, Source, ViewJob,
};
use crate::impact::{Impact, Verdict};
use crate::model::{Health, Kind, Resource, VendorId};
use crate::vendors::{spec, VendorSpec};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

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
    /// Indices into the profile's resources of this kind, in sort order (shared with the
    /// worker that filters them).
    pub members: Members,
    /// The filter's search text of each member, in the same order: fields joined with
    /// `filter::FIELD_SEPARATOR`, built once per sort for a keystroke to scan.
    pub search: Search,
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
    /// Work asked for and not sent yet (see `app::index`).
    pub pending: Option<Pending>,
    /// Work sent to the worker and not answered yet.
    pub flight: Option<Pending>,
}

impl KindView {
    fn sort_spec(&self) -> SortSpec {
        SortSpec {
            col: self.sort_col,
            desc: self.sort_desc,
        }
    }

    fn row_spec(&self) -> RowSpec {
        RowSpec {
            filter: self.filter.clone(),
            orphans_only: self.orphans_only,
            unhealthy_only: self.unhealthy_only,
        }
    }

    /// Rows of this view are being computed: what it shows is the previous result.
    pub fn busy(&self) -> bool {
        self.pending.is_some() || self.flight.is_some()
    }

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
            members: Members::default(),
            search: Search::default(),
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
            pending: None,
            flight: None,
        }
    }
}

/// The index job of a tab that is running on the worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flight {
    pub generation: u64,
    /// `ProfileTab::epoch` when it was sent.
    pub epoch: u64,
}

/// What a swapped-in answer brought that the model (not the tab) acts on.
#[derive(Debug, Default)]
pub struct Applied {
    /// Data to free away from the event loop.
    pub garbage: Vec<Garbage>,
    /// A new load was swapped in: its warnings.
    pub loaded: Option<Vec<String>>,
    /// The objects a new load replaced (the All tab may still point into them).
    pub old: Option<Arc<Vec<Resource>>>,
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
    /// The objects; shared (never copied) with the worker that indexes them.
    pub resources: Arc<Vec<Resource>>,
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
    /// Generation of the latest index job sent; older answers are dropped.
    pub index_gen: u64,
    /// The index job on the worker, if any (one at a time per tab).
    pub in_flight: Option<Flight>,
    /// Changes whenever indices into `resources` stop meaning what they meant (objects
    /// taken out or replaced): an answer computed before is not swapped in.
    pub epoch: u64,
    /// A load whose index is still to be built (waiting for the job in flight).
    pub fresh: Option<Box<(Vec<Resource>, LoadInfo)>>,
    /// Pages of a streaming load that arrived while a job was in flight.
    pub page_buffer: Vec<Resource>,
    /// Up to this many objects, index work runs inside `update` (tests set 0 to see the
    /// worker's path).
    pub inline_rows: usize,
    /// Clock ticks seen while index work was outstanding ("filtering…" after a while).
    pub busy_ticks: u32,
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
            resources: Arc::default(),
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
            index_gen: 0,
            in_flight: None,
            epoch: 0,
            fresh: None,
            page_buffer: Vec::new(),
            inline_rows: index::INLINE_ROWS,
            busy_ticks: 0,
        }
    }

    /// The objects, to change them. Copies them only if a worker still reads them.
    pub fn resources_mut(&mut self) -> &mut Vec<Resource> {
        Arc::make_mut(&mut self.resources)
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
    /// that no longer exist; keep each cursor on the same object where possible. On a large
    /// tab this is asked of the worker and the views keep what they show until it answers.
    pub fn reindex(&mut self, now: i64) {
        for k in 0..self.views.len() {
            self.ask(
                k,
                Pending {
                    members: true,
                    resort: true,
                    cursor: Cursor::Keep,
                },
            );
        }
        self.run_inline(now);
    }

    /// A new load's objects: swapped in at once on a small tab, else when the worker has
    /// indexed them (the old objects stay on screen until then). Returns a load that was
    /// waiting and is now replaced, to be freed off the event loop.
    pub fn receive(&mut self, resources: Vec<Resource>, load: LoadInfo, now: i64) -> Applied {
        let mut applied = Applied::default();
        if let Some(old) = self.fresh.replace(Box::new((resources, load))) {
            applied.garbage.push(Arc::new(old));
        }
        if let Some(done) = self.run_inline(now) {
            applied.garbage.extend(done.garbage);
            applied.loaded = done.loaded;
            applied.old = done.old;
        }
        applied
    }

    /// Take deleted objects out of every view at once, without re-sorting: the resources
    /// stay until the reload that follows a delete replaces them all, so indices hold.
    pub fn hide(&mut self, gone: &BTreeSet<(Kind, String)>) {
        if gone.is_empty() {
            return;
        }
        // Answers computed before this still show the deleted objects.
        self.epoch += 1;
        let resources = &self.resources;
        for view in self.views.iter_mut() {
            let ids: HashSet<&str> = gone
                .iter()
                .filter(|(k, _)| *k == view.kind)
                .map(|(_, id)| id.as_str())
                .collect();
            if ids.is_empty() {
                continue;
            }
            let is_gone = |i: usize| {
                resources
                    .get(i)
                    .is_some_and(|r| ids.contains(r.id.as_str()))
            };
            let keep_id = view.rows.get(view.cursor).copied();
            let keep: Vec<bool> = view.members.iter().map(|&i| !is_gone(i)).collect();
            let indexed = view.search.len() == view.members.len();
            Arc::make_mut(&mut view.members).retain(|&i| !is_gone(i));
            if indexed {
                Arc::make_mut(&mut view.search).retain(&keep);
            }
            view.rows.retain(|&i| !is_gone(i));
            view.marks.retain(|id| !ids.contains(id.as_str()));
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
        self.ask(
            k,
            Pending {
                members: false,
                resort: true,
                cursor: Cursor::Keep,
            },
        );
        self.run_inline(now);
    }

    /// Recompute the visible rows of view `k`: its (sorted) members that pass the toggles
    /// and the filter, keeping the cursor on the same object. One pass, no sorting: this is
    /// what runs on every filter keystroke.
    pub fn rebuild_rows(&mut self, k: usize) {
        self.refilter(k, Cursor::Keep);
    }

    /// `rebuild_rows`, then put the cursor where `cursor` says.
    pub fn refilter(&mut self, k: usize, cursor: Cursor) {
        self.ask(
            k,
            Pending {
                members: false,
                resort: false,
                cursor,
            },
        );
        let now = self.clock;
        self.run_inline(now);
    }

    /// Record work for view `k`.
    fn ask(&mut self, k: usize, work: Pending) {
        if let Some(view) = self.views.get_mut(k) {
            view.pending = Some(match view.pending.take() {
                Some(before) => before.merge(work),
                None => Pending {
                    resort: work.resort || work.members,
                    ..work
                },
            });
        }
    }

    /// Whether the tab's work is small enough to do inside `update`.
    fn small(&self) -> bool {
        let incoming = self.fresh.as_ref().map_or(0, |f| f.0.len());
        self.resources.len().max(incoming) <= self.inline_rows
    }

    /// Whether anything is asked for or running.
    pub fn busy(&self) -> bool {
        self.in_flight.is_some() || self.fresh.is_some() || self.views.iter().any(|v| v.busy())
    }

    /// On a small tab with nothing in flight: do the outstanding work now.
    fn run_inline(&mut self, now: i64) -> Option<Applied> {
        if !self.small() {
            return None;
        }
        let job = self.take_job(0, now)?;
        Some(self.apply(index::run(job), None))
    }

    /// The outstanding work as one job (`None`: nothing to do, or a job is in flight).
    /// The views' pending work becomes their flight.
    pub fn take_job(&mut self, profile: usize, now: i64) -> Option<IndexJob> {
        if self.in_flight.is_some() {
            return None;
        }
        let fresh = self.fresh.take();
        if fresh.is_none() && self.views.iter().all(|v| v.pending.is_none()) {
            return None;
        }
        self.index_gen += 1;
        self.in_flight = Some(Flight {
            generation: self.index_gen,
            epoch: self.epoch,
        });
        let mut views = Vec::new();
        let mut orphans = false;
        for (k, view) in self.views.iter_mut().enumerate() {
            let work = match (view.pending.take(), fresh.is_some()) {
                (Some(p), true) => p.merge(Pending {
                    members: true,
                    resort: true,
                    cursor: Cursor::Keep,
                }),
                (None, true) => Pending {
                    members: true,
                    resort: true,
                    cursor: Cursor::Keep,
                },
                (Some(p), false) => p,
                (None, false) => continue,
            };
            orphans |= view.orphans_only;
            let marks = if work.members {
                view.marks.iter().chain(&view.anchor).cloned().collect()
            } else {
                Vec::new()
            };
            views.push(ViewJob {
                k,
                kind: view.kind,
                sort: view.sort_spec(),
                rows: view.row_spec(),
                members: (!work.members).then(|| view.members.clone()),
                search: (!work.resort && view.search.len() == view.members.len())
                    .then(|| view.search.clone()),
                marks,
            });
            view.flight = Some(work);
        }
        let breaks = if orphans {
            self.impacts
                .iter()
                .filter(|(_, i)| i.verdict() == Verdict::Breaks)
                .map(|(key, _)| key.clone())
                .collect()
        } else {
            HashSet::new()
        };
        let fresh_load = fresh.is_some();
        let source = match fresh {
            Some(f) => {
                let (resources, load) = *f;
                // Keep connection-test results across refreshes: the server has no health field.
                let health = self
                    .resources
                    .iter()
                    .filter(|r| !matches!(r.health, Health::Unknown))
                    .map(|r| ((r.kind, r.id.to_string()), r.health.clone()))
                    .collect();
                Source::Fresh {
                    resources,
                    health,
                    load,
                }
            }
            None => Source::Shared(self.resources.clone()),
        };
        Some(IndexJob {
            profile,
            generation: self.index_gen,
            source,
            columns: self.spec.columns,
            now,
            // A new load is counted (and its filter clock set) when it is swapped in.
            clock: if fresh_load { now } else { self.clock },
            breaks,
            views,
        })
    }

    /// Swap in a job's answer: each view takes what is still valid (members and search
    /// text for the sort it has now, rows for its filter now) and asks again for the rest.
    /// The cursor stays on the object it was on (or goes where the request said), marks of
    /// objects that are gone are dropped. `page`: rows on screen, to keep the cursor in view.
    pub fn apply(&mut self, out: IndexOut, page: Option<usize>) -> Applied {
        let mut applied = Applied::default();
        let Some(flight) = self.in_flight.filter(|f| f.generation == out.generation) else {
            // Not the job this tab waits for: superseded.
            applied.garbage.push(Arc::new(out));
            return applied;
        };
        self.in_flight = None;
        let fresh = out.fresh.is_some();
        if !fresh && flight.epoch != self.epoch {
            // Objects were taken out meanwhile: ask again with what is there now.
            for view in self.views.iter_mut() {
                if let Some(f) = view.flight.take() {
                    view.pending = Some(match view.pending.take() {
                        Some(p) => f.merge(p),
                        None => f,
                    });
                }
            }
            applied.garbage.push(Arc::new(out));
            return applied;
        }
        // The object under each cursor, read before the objects are replaced.
        let under: Vec<Option<String>> = self
            .views
            .iter()
            .map(|v| {
                v.rows
                    .get(v.cursor)
                    .and_then(|&i| self.resources.get(i))
                    .map(|r| r.id.to_string())
            })
            .collect();
        if let Some((resources, load)) = out.fresh {
            applied.old = Some(std::mem::replace(&mut self.resources, resources));
            self.epoch += 1;
            self.warnings = load.warnings.clone();
            self.load = LoadState::Loaded;
            self.streaming = false;
            self.loaded_at = Some(load.at);
            self.recount(load.now);
            super::watch::observe(self, load.now);
            applied.loaded = Some(load.warnings);
        }
        for v in out.views {
            let Some(view) = self.views.get_mut(v.k) else {
                continue;
            };
            let asked = view.flight.take().unwrap_or_default();
            if !fresh && view.sort_spec() != v.sort {
                // Sorted for another column meanwhile: dropped, asked again (the rows shown
                // stay until then).
                view.pending = Some(asked.merge(view.pending.take().unwrap_or_default()).merge(
                    Pending {
                        members: false,
                        resort: true,
                        cursor: Cursor::Keep,
                    },
                ));
                applied.garbage.push(Arc::new(v));
                continue;
            }
            if !fresh && view.row_spec() != v.spec {
                // A newer filter or toggle: these rows are stale. The sorted members are
                // still good; the rows shown stay until the newer ones are in.
                applied
                    .garbage
                    .push(std::mem::replace(&mut view.members, v.members) as Garbage);
                applied
                    .garbage
                    .push(std::mem::replace(&mut view.search, v.search) as Garbage);
                let newer = view.pending.take().unwrap_or_default();
                view.pending = Some(Pending {
                    cursor: match newer.cursor {
                        Cursor::Keep => asked.cursor,
                        c => c,
                    },
                    ..newer
                });
                continue;
            }
            if fresh && (view.sort_spec() != v.sort || view.row_spec() != v.spec) {
                // New objects must be shown now (the old indices mean nothing for them);
                // the newer sort or filter follows.
                let again = Pending {
                    members: false,
                    resort: view.sort_spec() != v.sort,
                    cursor: Cursor::Keep,
                };
                view.pending = Some(match view.pending.take() {
                    Some(p) => p.merge(again),
                    None => again,
                });
            }
            applied
                .garbage
                .push(std::mem::replace(&mut view.members, v.members) as Garbage);
            applied
                .garbage
                .push(std::mem::replace(&mut view.search, v.search) as Garbage);
            let rows = v.rows;
            let resources = &self.resources;
            let find = |id: &str| rows.iter().position(|&i| resources[i].id == id);
            let cursor = match &asked.cursor {
                Cursor::Top => Some(0),
                Cursor::On(id) => find(id),
                Cursor::Keep => under[v.k].as_deref().and_then(find),
            };
            view.cursor = cursor
                .unwrap_or(view.cursor)
                .min(rows.len().saturating_sub(1));
            if asked.cursor == Cursor::Top {
                view.offset = 0;
            }
            view.rows = rows;
            if !v.missing.is_empty() {
                view.marks.retain(|id| !v.missing.contains(id));
                if view.anchor.as_ref().is_some_and(|a| v.missing.contains(a)) {
                    view.anchor = None;
                }
            }
            if let Some(page) = page {
                view.ensure_visible(page);
            }
            self.recount_hidden(v.k);
        }
        for view in self.views.iter_mut() {
            // Work the answer does not cover (a job that failed): not waited for any more.
            view.flight = None;
        }
        if !self.page_buffer.is_empty() {
            // Pages that came while the job ran: in now, indexed next.
            let pages = std::mem::take(&mut self.page_buffer);
            self.resources_mut().extend(pages);
            for k in 0..self.views.len() {
                self.ask(
                    k,
                    Pending {
                        members: true,
                        resort: true,
                        cursor: Cursor::Keep,
                    },
                );
            }
        }
        if !self.busy() {
            self.busy_ticks = 0;
        }
        applied
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
                .filter(|r| view.marks.contains(r.id.as_str()))
                .count();
            view.marks.len() - visible.min(view.marks.len())
        };
        self.views[k].hidden_marked = hidden;
    }
}

pub use crate::filter::{search_fields, with_search_fields};
