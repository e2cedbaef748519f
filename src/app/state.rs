//! The application model: everything the screen shows, owned by `update` alone.

use crate::filter::RowFilter;
use crate::model::{CellCtx, Kind, Resource, VendorId};
use crate::ops::executor::StepOutcome;
use crate::ops::plan::DeletePlan;
use crate::vendors::forms::FormSpec;
use crate::vendors::{spec, VendorSpec};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

/// How many log lines the log pane keeps.
pub const LOG_CAPACITY: usize = 1000;

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
                    if (view.orphans_only && !r.is_orphan())
                        || (view.unhealthy_only && !r.is_unhealthy())
                    {
                        return false;
                    }
                }
                filter.as_mut().is_none_or(|f| {
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

/// Call `f` with the fields the filter searches (see `search_fields`), without allocating.
pub fn with_search_fields<T>(r: &Resource, f: impl FnOnce(&[&str]) -> T) -> T {
    let mut buf: [&str; 4] = [r.name.as_str(), "", "", ""];
    let mut n = 1;
    for extra in [&r.type_, &r.container].into_iter().flatten() {
        buf[n] = extra.as_str();
        n += 1;
    }
    if r.disabled {
        buf[n] = DISABLED;
        n += 1;
    }
    f(&buf[..n])
}

/// The word a disabled object is found by.
const DISABLED: &str = "disabled";

/// What the filter searches, field by field: the name, then the type (so `snow` finds
/// Snowflake sources) and the space or organization. Each filter term must match within one
/// field, so `^foo` anchors on the name (or type) and fuzzy terms never span fields. A
/// disabled object also has the field "disabled".
pub fn search_fields(r: &Resource) -> Vec<&str> {
    let mut f = vec![r.name.as_str()];
    f.extend(r.type_.as_deref());
    f.extend(r.container.as_deref());
    if r.disabled {
        f.push(DISABLED);
    }
    f
}

/// Input modes of the bottom line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Normal,
    Filter,
    Command,
}

/// A single-line text input with a cursor (in chars).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineInput {
    pub text: String,
    pub cursor: usize,
}

impl LineInput {
    pub fn new(text: &str) -> Self {
        LineInput {
            text: text.to_string(),
            cursor: text.chars().count(),
        }
    }

    fn byte_at(&self, char_pos: usize) -> usize {
        self.text
            .char_indices()
            .nth(char_pos)
            .map(|(b, _)| b)
            .unwrap_or(self.text.len())
    }

    pub fn insert(&mut self, c: char) {
        let b = self.byte_at(self.cursor);
        self.text.insert(b, c);
        self.cursor += 1;
    }

    pub fn backspace(&mut self) {
        if self.cursor == 0 {
            return;
        }
        let b = self.byte_at(self.cursor - 1);
        self.text.remove(b);
        self.cursor -= 1;
    }

    pub fn delete(&mut self) {
        if self.cursor < self.text.chars().count() {
            let b = self.byte_at(self.cursor);
            self.text.remove(b);
        }
    }

    pub fn left(&mut self) {
        self.cursor = self.cursor.saturating_sub(1);
    }

    pub fn right(&mut self) {
        self.cursor = (self.cursor + 1).min(self.text.chars().count());
    }

    pub fn home(&mut self) {
        self.cursor = 0;
    }

    pub fn end(&mut self) {
        self.cursor = self.text.chars().count();
    }

    pub fn clear(&mut self) {
        self.text.clear();
        self.cursor = 0;
    }
}

/// The delete confirmation. It holds the plan it will run: what is shown is what runs.
#[derive(Debug, Clone)]
pub struct ConfirmDelete {
    pub profile: usize,
    pub plan: Arc<DeletePlan>,
    /// The selection the plan was built from, to rebuild it when the cascade is toggled.
    pub selected: Vec<(Kind, String)>,
    pub hidden: Vec<(Kind, String)>,
    pub protected: bool,
    /// Focus is on Delete (true) or Cancel (false, the start). Typing the count (or the
    /// profile name) moves it to Delete; Enter does what the focused button says.
    pub focus_delete: bool,
    pub typed: LineInput,
    pub scroll: usize,
    /// A hint after a key that did not confirm.
    pub hint: Option<String>,
}

/// The marks last cleared with `U`, kept so that one `Ctrl-Z` can bring them back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClearedMarks {
    pub profile: usize,
    pub kind: Kind,
    pub ids: BTreeSet<String>,
}

/// A create form being filled in.
#[derive(Debug, Clone)]
pub struct CreateForm {
    pub profile: usize,
    pub spec: FormSpec,
    /// Text of text and secret fields.
    pub texts: Vec<LineInput>,
    /// Chosen index of choice fields.
    pub choices: Vec<Option<usize>>,
    /// What was typed into each choice field: only matching options are offered.
    pub filters: Vec<LineInput>,
    pub focus: usize,
    pub error: Option<String>,
    /// What the form did on its own ("DBMS set to … from connection …").
    pub note: Option<String>,
    /// The operator was told that a linked pair of choices does not match; the next Ctrl-S
    /// sends it as chosen.
    pub mismatch_warned: bool,
    pub submitting: bool,
}

impl CreateForm {
    /// Indices of the options of choice field `i` that its filter lets through, in order.
    pub fn matching_options(&self, i: usize) -> Vec<usize> {
        let Some(crate::vendors::forms::FieldKind::Choice(options)) =
            self.spec.fields.get(i).map(|fs| &fs.kind)
        else {
            return Vec::new();
        };
        let query = self.filters.get(i).map(|l| l.text.as_str()).unwrap_or("");
        if query.trim().is_empty() {
            return (0..options.len()).collect();
        }
        let mut filter = RowFilter::new(query);
        options
            .iter()
            .enumerate()
            .filter(|(_, c)| filter.matches(&c.label))
            .map(|(k, _)| k)
            .collect()
    }
}

/// Modal layers; the top one gets keys first.
#[derive(Debug, Clone)]
pub enum Modal {
    Confirm(Box<ConfirmDelete>),
    /// Progress, then summary, of a delete job.
    Progress {
        job: u64,
        scroll: usize,
    },
    /// "Cancel the running delete?"
    CancelJob {
        job: u64,
    },
    ConfirmQuit,
    Help {
        scroll: usize,
    },
    Log {
        scroll: usize,
    },
    Create(Box<CreateForm>),
}

/// A delete run.
#[derive(Debug, Clone)]
pub struct DeleteJob {
    pub plan: Arc<DeletePlan>,
    pub outcomes: Vec<StepOutcome>,
    pub finished: bool,
    pub cancel_requested: bool,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    /// Latest error sentences, newest last.
    pub errors: Vec<String>,
}

impl DeleteJob {
    pub fn done(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|o| !matches!(o, StepOutcome::NotStarted | StepOutcome::Running))
            .count()
    }
}

#[derive(Debug, Clone)]
pub enum JobKind {
    Delete(DeleteJob),
    Test {
        total: usize,
        done: usize,
        failed: usize,
    },
    Create {
        label: String,
    },
}

#[derive(Debug, Clone)]
pub struct Job {
    pub id: u64,
    pub profile: usize,
    pub kind: JobKind,
}

impl Job {
    pub fn running(&self) -> bool {
        match &self.kind {
            JobKind::Delete(d) => !d.finished,
            JobKind::Test { total, done, .. } => done < total,
            JobKind::Create { .. } => true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    pub at: i64,
    pub level: Level,
    pub text: String,
}

/// The whole application state.
#[derive(Debug, Clone)]
pub struct Model {
    pub profiles: Vec<ProfileTab>,
    pub active: usize,
    pub mode: Mode,
    pub input: LineInput,
    pub modals: Vec<Modal>,
    pub status: Option<LogEntry>,
    pub log: VecDeque<LogEntry>,
    /// Unix seconds, from the last tick.
    pub now: i64,
    /// Spinner phase.
    pub tick: u64,
    pub demo: bool,
    pub detail_open: bool,
    pub detail_scroll: u16,
    pub jobs: BTreeMap<u64, Job>,
    pub next_job: u64,
    /// Table rows that fit on screen (from the last resize), for paging.
    pub page_rows: usize,
    pub width: u16,
    pub height: u16,
    pub should_quit: bool,
    /// Auto-refresh interval of the visible tab; 0 = off.
    pub refresh_seconds: u64,
    /// Honour NO_COLOR: glyphs and emphasis only.
    pub no_color: bool,
    /// Shown under the table when set (the demo's "how to configure" hint).
    pub banner: Option<String>,
    /// The marks last cleared, restorable once.
    pub cleared_marks: Option<ClearedMarks>,
}

impl Model {
    pub fn new(profiles: Vec<ProfileInfo>, now: i64) -> Self {
        Model {
            profiles: profiles.into_iter().map(ProfileTab::new).collect(),
            active: 0,
            mode: Mode::Normal,
            input: LineInput::default(),
            modals: Vec::new(),
            status: None,
            log: VecDeque::new(),
            now,
            tick: 0,
            demo: false,
            detail_open: false,
            detail_scroll: 0,
            jobs: BTreeMap::new(),
            next_job: 1,
            page_rows: 20,
            width: 80,
            height: 24,
            should_quit: false,
            refresh_seconds: 0,
            no_color: false,
            banner: None,
            cleared_marks: None,
        }
    }

    pub fn tab(&self) -> Option<&ProfileTab> {
        self.profiles.get(self.active)
    }

    pub fn tab_mut(&mut self) -> Option<&mut ProfileTab> {
        self.profiles.get_mut(self.active)
    }

    pub fn running_jobs(&self) -> usize {
        self.jobs.values().filter(|j| j.running()).count()
    }

    pub fn push_log(&mut self, level: Level, text: impl Into<String>) {
        let entry = LogEntry {
            at: self.now,
            level,
            text: text.into(),
        };
        if self.log.len() >= LOG_CAPACITY {
            self.log.pop_front();
        }
        self.log.push_back(entry);
    }

    /// Show a message in the status line and keep it in the log pane.
    pub fn set_status(&mut self, level: Level, text: impl Into<String>) {
        let text = text.into();
        self.push_log(level, text.clone());
        self.status = Some(LogEntry {
            at: self.now,
            level,
            text,
        });
    }
}
