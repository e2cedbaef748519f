//! The application model: everything the screen shows, owned by `update` alone.

use crate::filter::RowFilter;
use crate::model::Kind;
use crate::ops::executor::StepOutcome;
use crate::ops::plan::DeletePlan;
use crate::vendors::forms::FormSpec;
use secrecy::{ExposeSecret, SecretString};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

/// How many log lines the log pane keeps.
pub const LOG_CAPACITY: usize = 1000;

pub use super::tab::*;

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

/// A single-line input for a secret (a password typed into a create form): held as a
/// `SecretString` (zeroized when replaced or dropped), never printed by `Debug`, shown only
/// as its length.
#[derive(Clone, Default)]
pub struct SecretInput {
    value: SecretString,
    cursor: usize,
}

impl std::fmt::Debug for SecretInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretInput([redacted], {} chars)", self.len())
    }
}

impl SecretInput {
    /// Length in chars (what the form shows as bullets).
    pub fn len(&self) -> usize {
        self.value.expose_secret().chars().count()
    }

    pub fn is_empty(&self) -> bool {
        self.value.expose_secret().is_empty()
    }

    pub fn cursor(&self) -> usize {
        self.cursor
    }

    /// The secret, for the request body only.
    pub fn expose(&self) -> &str {
        self.value.expose_secret()
    }

    /// Edit a copy that is wiped once the new value is stored.
    fn edit(&mut self, f: impl FnOnce(&mut Vec<char>, &mut usize)) {
        let mut chars: zeroize::Zeroizing<Vec<char>> =
            zeroize::Zeroizing::new(self.value.expose_secret().chars().collect());
        let mut cursor = self.cursor.min(chars.len());
        f(&mut chars, &mut cursor);
        let text: String = chars.iter().collect();
        self.value = SecretString::from(text);
        self.cursor = cursor;
    }

    pub fn insert(&mut self, c: char) {
        self.edit(|chars, cursor| {
            chars.insert(*cursor, c);
            *cursor += 1;
        });
    }

    pub fn backspace(&mut self) {
        self.edit(|chars, cursor| {
            if *cursor > 0 {
                chars.remove(*cursor - 1);
                *cursor -= 1;
            }
        });
    }

    pub fn left(&mut self) {
        self.cursor = self.cursor.saturating_sub(1);
    }

    pub fn right(&mut self) {
        self.cursor = (self.cursor + 1).min(self.len());
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
    /// A batch (several profiles, confirmed once): the plans of the other profiles, in the
    /// order the dialog lists them, after the first one above. Empty for one profile.
    pub more: Vec<PlanPart>,
    /// A batch: what was asked for but is not in this delete, and why ("'qa' is
    /// read-only: 2 marked objects left out"). Shown first in the dialog.
    pub left_out: Vec<String>,
}

/// One profile's plan in a batch delete: each part runs as its own delete job.
#[derive(Debug, Clone)]
pub struct PlanPart {
    pub profile: usize,
    pub plan: Arc<DeletePlan>,
    pub selected: Vec<(Kind, String)>,
    pub hidden: Vec<(Kind, String)>,
    pub protected: bool,
}

impl ConfirmDelete {
    /// Whether this confirmation was asked for several profiles at once (even if only one
    /// of them is left): it is then always typed, and `y` never confirms it.
    pub fn is_batch(&self) -> bool {
        !self.more.is_empty() || !self.left_out.is_empty()
    }

    /// Every part's (profile, plan, protected), the first one first.
    pub fn parts(&self) -> impl Iterator<Item = (usize, &Arc<DeletePlan>, bool)> {
        std::iter::once((self.profile, &self.plan, self.protected))
            .chain(self.more.iter().map(|p| (p.profile, &p.plan, p.protected)))
    }

    /// Objects to delete over every part.
    pub fn total(&self) -> usize {
        self.parts().map(|(_, plan, _)| plan.len()).sum()
    }

    /// How the operator confirms. One profile: as its plan says. A batch: the total count
    /// typed; when a part with something to delete is protected, the names of the
    /// protected profiles instead, separated by spaces, in the order the dialog lists them.
    pub fn confirmation(&self) -> crate::ops::plan::Confirmation {
        use crate::ops::plan::Confirmation;
        if !self.is_batch() {
            return self.plan.confirmation(self.protected);
        }
        let names: Vec<&str> = self
            .parts()
            .filter(|(_, plan, protected)| *protected && !plan.is_empty())
            .map(|(_, plan, _)| plan.profile.as_str())
            .collect();
        if names.is_empty() {
            Confirmation::TypeCount(self.total())
        } else {
            Confirmation::TypeProfile(names.join(" "))
        }
    }
}

/// The marks of one profile's kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkSet {
    pub profile: usize,
    pub kind: Kind,
    pub ids: BTreeSet<String>,
}

/// The marks last cleared with `U` (of one view, or of every profile in the All tab), kept
/// so that one `Ctrl-Z` can bring them back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClearedMarks {
    pub sets: Vec<MarkSet>,
}

/// A create form being filled in.
#[derive(Debug, Clone)]
pub struct CreateForm {
    pub profile: usize,
    pub spec: FormSpec,
    /// Text of text fields.
    pub texts: Vec<LineInput>,
    /// Value of secret fields (empty for the others).
    pub secrets: Vec<SecretInput>,
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
    /// An edit form (`e`) of this object, with the text each field had when it opened:
    /// submitting it reviews the change instead of creating.
    pub edit: Option<Box<EditTarget>>,
    /// The secrets of a restore: submitting the form opens this confirmation with them.
    pub restore: Option<Box<ConfirmRestore>>,
}

/// The objects an edit form changes: one (`e`), or every marked one of several profiles
/// (rotate), each with its profile.
#[derive(Debug, Clone)]
pub struct EditTarget {
    pub targets: Vec<(usize, crate::model::Ref)>,
    /// Each field's text when the form opened (empty for secrets).
    pub initial: Vec<String>,
}

/// The confirmation of a change plan (`e`, rotate): typed like a delete's.
#[derive(Debug, Clone)]
pub struct ConfirmChange {
    /// One plan per profile, run one after another.
    pub plans: Vec<(usize, Arc<crate::ops::change::ChangePlan>)>,
    /// Names to type instead of the count: the protected profiles of the plans.
    pub protected: Vec<String>,
    pub typed: LineInput,
    pub hint: Option<String>,
    pub scroll: usize,
}

impl ConfirmChange {
    pub fn total(&self) -> usize {
        self.plans.iter().map(|(_, p)| p.items.len()).sum()
    }

    /// What must be typed: the count, or the protected profiles' names separated by a space.
    pub fn expected(&self) -> String {
        if self.protected.is_empty() {
            self.total().to_string()
        } else {
            self.protected.join(" ")
        }
    }
}

impl CreateForm {
    /// A form of `spec` for profile `p`, its text fields holding `initial` (empty when
    /// shorter), focus on the first field; `edit` makes it an edit form.
    pub fn new(
        profile: usize,
        spec: FormSpec,
        initial: &[String],
        edit: Option<Box<EditTarget>>,
    ) -> CreateForm {
        let n = spec.fields.len();
        CreateForm {
            profile,
            texts: (0..n)
                .map(|i| LineInput::new(initial.get(i).map_or("", String::as_str)))
                .collect(),
            secrets: vec![SecretInput::default(); n],
            choices: vec![None; n],
            filters: vec![LineInput::default(); n],
            spec,
            focus: 0,
            error: None,
            note: None,
            mismatch_warned: false,
            submitting: false,
            edit,
            restore: None,
        }
    }

    /// Whether field `i` is a secret (typed into `secrets`, never into `texts`).
    pub fn is_secret(&self, i: usize) -> bool {
        self.spec
            .fields
            .get(i)
            .is_some_and(|f| f.kind == crate::vendors::forms::FieldKind::Secret)
    }

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
    /// Impact is being computed for a delete plan; the confirmation opens when it is done.
    ImpactCheck(Box<ImpactCheck>),
    /// A change plan waiting to be confirmed.
    ConfirmChange(Box<ConfirmChange>),
    /// "Recently deleted" (`:trash`): what the audit log says was deleted.
    Trash(Box<TrashView>),
    /// A restore plan waiting to be confirmed.
    ConfirmRestore(Box<ConfirmRestore>),
}

/// "Recently deleted": this machine's audit log, newest first.
#[derive(Debug, Clone, Default)]
pub struct TrashView {
    /// `None` while the audit log is being read (off the event loop).
    pub rows: Option<Result<Vec<crate::ops::deleted::DeletedObject>, String>>,
    pub cursor: usize,
    /// Audit refs of the marked rows.
    pub marked: BTreeSet<String>,
    pub hint: Option<String>,
}

impl TrashView {
    /// The rows read so far (none while reading or after a failed read).
    pub fn list(&self) -> &[crate::ops::deleted::DeletedObject] {
        match &self.rows {
            Some(Ok(rows)) => rows,
            _ => &[],
        }
    }
}

/// The confirmation of a restore plan: typed like a delete's. The secrets the plan needs
/// were asked for before it opened.
#[derive(Debug, Clone)]
pub struct ConfirmRestore {
    pub profile: usize,
    pub plan: Arc<crate::ops::restore::RestorePlan>,
    pub protected: bool,
    pub typed: LineInput,
    pub hint: Option<String>,
    pub scroll: usize,
    /// (field, value) of each secret the plan needs.
    pub secrets: Vec<(String, SecretString)>,
}

impl ConfirmRestore {
    /// What must be typed: the count, or the protected profile's name.
    pub fn expected(&self) -> String {
        if self.protected {
            self.plan.profile.clone()
        } else {
            self.plan.items.len().to_string()
        }
    }
}

/// A delete plan waiting for its impact before its confirmation opens.
#[derive(Debug, Clone)]
pub struct ImpactCheck {
    pub job: u64,
    pub profile: usize,
    pub plan: DeletePlan,
    pub selected: Vec<(Kind, String)>,
    pub hidden: Vec<(Kind, String)>,
    pub protected: bool,
    /// A batch: the other profiles' plans (impact not yet set), in dialog order.
    pub more: Vec<PlanPart>,
    /// A batch: what is not in this delete and why (see `ConfirmDelete::left_out`).
    pub left_out: Vec<String>,
    /// Every impact job this wait is for, with how many objects it asks about (`job` is
    /// the first). The confirmation opens when none of them is left in `Model::jobs`.
    pub waits: Vec<(u64, usize)>,
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
    /// A batch: every job of the batch (this one included), in dialog order; empty for a
    /// delete of one profile.
    pub batch: Vec<u64>,
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
    /// Every health check of a profile ("test everything").
    Checks {
        total: usize,
        done: usize,
        failed: usize,
        /// Checks the profile could not ask (a missing setting).
        skipped: usize,
    },
    /// Restores of `total` objects (`:trash`).
    Restore {
        total: usize,
        done: usize,
        plan: Arc<crate::ops::restore::RestorePlan>,
    },
    /// Changes of `total` objects (edit, rotate).
    Change {
        total: usize,
        done: usize,
        failed: usize,
        plan: Arc<crate::ops::change::ChangePlan>,
    },
    /// Impact analysis of `total` objects; `for_delete` when a confirmation waits for it.
    Impact {
        total: usize,
        done: usize,
        for_delete: bool,
        started_at: i64,
        /// The objects asked about, by (kind, id).
        keys: Vec<(Kind, String)>,
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
            JobKind::Change { total, done, .. } => done < total,
            JobKind::Restore { total, done, .. } => done < total,
            JobKind::Impact { total, done, .. } => done < total,
            JobKind::Checks { total, done, .. } => done < total,
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
    /// Sizes only the drawing code can measure; the TUI hands them in.
    pub measures: Measures,
    /// The overview (every profile on one screen) is shown, with its cursor on this row of
    /// the severity order; `None`: a profile tab is shown.
    pub overview: Option<usize>,
    /// The All tab (every object of every profile); shown when `all.open`.
    pub all: super::all::AllView,
    /// The `:` line's history (this run's and earlier runs').
    pub history: super::history::CommandHistory,
    /// Tab completion candidates on offer in the open line.
    pub completion: Option<super::completion::Completion>,
    /// The watch histories were written as the console ends (once).
    pub watch_flushed: bool,
}

impl Model {
    /// Refuse to `what` (delete, create) on a read-only profile or one with nothing loaded:
    /// says why and returns true.
    pub fn refuses_change(&mut self, what: &str) -> bool {
        let Some(tab) = self.tab() else {
            return true;
        };
        if tab.info.read_only {
            let text = format!("read-only: profile '{}' does not {what}", tab.info.name);
            self.set_status(Level::Warn, text);
            return true;
        }
        if !tab.usable() || tab.load != LoadState::Loaded && tab.resources.is_empty() {
            let text = format!("profile '{}' has nothing loaded", tab.info.name);
            self.set_status(Level::Warn, text);
            return true;
        }
        false
    }

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
            measures: Measures::UNMEASURED,
            overview: None,
            all: Default::default(),
            history: Default::default(),
            completion: None,
            watch_flushed: false,
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

/// Sizes only the drawing code can measure (they depend on how text wraps), handed to the
/// model by whoever owns both (the TUI, a test): `app` asks, `ui` answers.
#[derive(Clone, Copy)]
pub struct Measures {
    /// The largest scroll of the delete confirmation's body at the model's screen size.
    pub confirm_max_scroll: fn(&Model, &ConfirmDelete) -> usize,
}

impl Measures {
    /// Nothing measured: scrolling is not clamped (the drawing clamps what it shows).
    pub const UNMEASURED: Measures = Measures {
        confirm_max_scroll: |_, _| usize::MAX / 2,
    };
}

impl std::fmt::Debug for Measures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Measures")
    }
}
