//! Sorting, indexing and filtering a profile tab's views, as one pure function that runs on
//! the event loop for small tabs and on a blocking worker for large ones (issue 18).
//!
//! `update` never waits for this work on a large tab: it asks for it (`ProfileTab::reindex`,
//! `resort`, `rebuild_rows`), keeps showing what it showed, and at the end of the message
//! sends one `Effect::Index` per tab that has work (at most one in flight per tab). The
//! answer (`Msg::Indexed`) is swapped in when its generation is still the tab's; each view
//! takes what is still valid and asks again for what changed meanwhile. Marks are ids, so a
//! swap never moves them to another object.

use crate::filter::RowFilter;
use crate::model::{CellCtx, ColumnDef, Health, Kind, Resource};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

/// Indices into the resources, in sort order (shared with a job without a copy).
pub type Members = Arc<Vec<usize>>;
/// The filter's search text of each member, in member order.
pub type Search = Arc<SearchText>;
/// Something to free away from the event loop.
pub type Garbage = Arc<dyn std::any::Any + Send + Sync>;

/// Below this many objects a tab's work runs at once inside `update` (a few milliseconds at
/// most: a sort of 10,000 rows costs about 5 ms); above it, on a worker.
pub const INLINE_ROWS: usize = 10_000;

/// What decides which sorted members are rows.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RowSpec {
    pub filter: String,
    pub orphans_only: bool,
    pub unhealthy_only: bool,
}

/// Sort column and direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SortSpec {
    pub col: usize,
    pub desc: bool,
}

/// Where the cursor goes when new rows are swapped in.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Cursor {
    /// On the object it was on (by id), else where it was.
    #[default]
    Keep,
    /// On the first row (a new filter).
    Top,
    /// On this object.
    On(String),
}

/// Work asked for one view and not yet done.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Pending {
    /// The members are all objects of the view's kind (new or changed resources).
    pub members: bool,
    /// Sort again (and build the search text).
    pub resort: bool,
    pub cursor: Cursor,
}

impl Pending {
    /// Both requests at once: the larger work, the newer cursor wish (a kept cursor does not
    /// undo a move to the top or to an object asked for before).
    pub fn merge(self, newer: Pending) -> Pending {
        Pending {
            members: self.members || newer.members,
            resort: self.resort || newer.resort || newer.members,
            cursor: match newer.cursor {
                Cursor::Keep => self.cursor,
                c => c,
            },
        }
    }
}

/// One view's part of a job.
#[derive(Debug, Clone)]
pub struct ViewJob {
    pub k: usize,
    pub kind: Kind,
    pub sort: SortSpec,
    pub rows: RowSpec,
    /// The members to use; `None`: every object of the kind.
    pub members: Option<Members>,
    /// The search text of `members` when they need no sort; `None`: sort them.
    pub search: Option<Search>,
    /// Marked ids (and the anchor) to check against new members: the answer lists the
    /// missing ones.
    pub marks: Vec<String>,
}

/// Where a job's objects come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A new load: the job owns it, merges the known health in, and hands it back shared.
    Fresh {
        resources: Vec<Resource>,
        health: HashMap<(Kind, String), Health>,
        load: LoadInfo,
    },
    /// The tab's current objects.
    Shared(Arc<Vec<Resource>>),
}

/// What a new load brings besides its objects, applied when its index is swapped in.
#[derive(Debug, Clone)]
pub struct LoadInfo {
    /// When the load finished (unix seconds).
    pub at: i64,
    /// The model's clock when it arrived (for counts and the filter's clock).
    pub now: i64,
    pub warnings: Vec<String>,
}

/// A tab's index work, run by `run`.
#[derive(Debug, Clone)]
pub struct IndexJob {
    pub profile: usize,
    /// The tab's index generation when the job was sent.
    pub generation: u64,
    pub source: Source,
    pub columns: fn(Kind) -> &'static [ColumnDef],
    /// The clock for cell text and sort keys.
    pub now: i64,
    /// The clock for `updated:` filter terms.
    pub clock: i64,
    /// Objects whose impact says they break something (not orphans).
    pub breaks: HashSet<(Kind, String)>,
    pub views: Vec<ViewJob>,
}

/// One view's answer.
#[derive(Debug, Clone)]
pub struct ViewOut {
    pub k: usize,
    pub sort: SortSpec,
    pub spec: RowSpec,
    pub members: Members,
    pub search: Search,
    pub rows: Vec<usize>,
    /// The marks of the job that are not among the members.
    pub missing: Vec<String>,
}

/// A job's answer.
#[derive(Debug, Clone)]
pub struct IndexOut {
    pub profile: usize,
    pub generation: u64,
    /// A fresh load's objects and facts, health merged in.
    pub fresh: Option<(Arc<Vec<Resource>>, LoadInfo)>,
    pub views: Vec<ViewOut>,
}

/// What the filter searches in each member of a sorted view, in member order: either each
/// member's fields joined by `FIELD_SEPARATOR` in one buffer (`push_fields`, `of`), or
/// nothing kept (`fields_only`: the filter reads each object's own fields, as
/// `with_search_fields` gives them). A profile view keeps the joined text only while it has
/// a filter (`fit_search`): at 300,000 objects it is about 11 MB, and reading the fields of
/// 100,000 objects scattered in memory costs the worker about 50 ms a keystroke against
/// 10 ms with the text. Its length is the number of members either way: a view whose search
/// has as many entries as members is sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchText {
    text: String,
    /// Where each member's text ends in `text` (empty when no text is kept).
    ends: Vec<u32>,
    members: usize,
}

impl SearchText {
    pub fn with_capacity(members: usize) -> SearchText {
        SearchText {
            text: String::new(),
            ends: Vec::with_capacity(members),
            members: 0,
        }
    }

    /// `members` members whose fields the filter reads from the objects themselves.
    pub fn fields_only(members: usize) -> SearchText {
        SearchText {
            members,
            ..SearchText::default()
        }
    }

    /// Whether each member's joined text is kept (`get` answers).
    pub fn is_joined(&self) -> bool {
        self.ends.len() == self.members && self.members > 0
    }

    pub fn len(&self) -> usize {
        self.members
    }

    pub fn is_empty(&self) -> bool {
        self.members == 0
    }

    /// The next member's text: `fields` joined by `FIELD_SEPARATOR`.
    pub fn push_fields(&mut self, fields: &[&str]) {
        for (n, f) in fields.iter().enumerate() {
            if n > 0 {
                self.text.push(crate::filter::FIELD_SEPARATOR);
            }
            self.text.push_str(f);
        }
        // Past 4 GiB of search text (tens of millions of objects) the offsets would wrap:
        // saturate instead, so a lookup stays in bounds (it finds a shorter text).
        self.ends
            .push(u32::try_from(self.text.len()).unwrap_or(u32::MAX));
        self.members += 1;
    }

    /// The joined texts of `members`, in one allocation of the exact size (measured first:
    /// growing it by doubling would leave up to half of it unused).
    pub fn of<'a>(members: impl Iterator<Item = &'a Resource> + Clone) -> SearchText {
        let len: usize = members
            .clone()
            .map(|r| {
                crate::filter::with_search_fields(r, |fields| {
                    fields.iter().map(|f| f.len()).sum::<usize>()
                        + crate::filter::FIELD_SEPARATOR.len_utf8() * fields.len().saturating_sub(1)
                })
            })
            .sum();
        let mut out = SearchText {
            text: String::with_capacity(len),
            ends: Vec::with_capacity(members.size_hint().0),
            members: 0,
        };
        for r in members {
            crate::filter::with_search_fields(r, |fields| out.push_fields(fields));
        }
        out.shrink_to_fit();
        out
    }

    /// Member `i`'s text.
    pub fn get(&self, i: usize) -> &str {
        let end = (self.ends[i] as usize).min(self.text.len());
        let start = match i {
            0 => 0,
            _ => (self.ends[i - 1] as usize).min(end),
        };
        self.text.get(start..end).unwrap_or("")
    }

    /// Keep the members whose `keep` is true (`keep` has one entry per member).
    pub fn retain(&mut self, keep: &[bool]) {
        if !self.is_joined() {
            let kept = (0..self.members)
                .filter(|&i| keep.get(i).copied().unwrap_or(true))
                .count();
            *self = SearchText::fields_only(kept);
            return;
        }
        let mut out = SearchText::with_capacity(self.len());
        out.text.reserve(self.text.len());
        for i in (0..self.len()).filter(|&i| keep.get(i).copied().unwrap_or(true)) {
            out.text.push_str(self.get(i));
            out.ends
                .push(u32::try_from(out.text.len()).unwrap_or(u32::MAX));
            out.members += 1;
        }
        out.text.shrink_to_fit();
        *self = out;
    }

    pub fn shrink_to_fit(&mut self) {
        self.text.shrink_to_fit();
        self.ends.shrink_to_fit();
    }
}

impl std::ops::Index<usize> for SearchText {
    type Output = str;

    fn index(&self, i: usize) -> &str {
        self.get(i)
    }
}

/// `members` in the order of `col` (ties by name), reversed when `desc`.
pub fn sort_members(
    resources: &[Resource],
    mut members: Vec<usize>,
    col: Option<&ColumnDef>,
    desc: bool,
    now: i64,
) -> Vec<usize> {
    if let Some(col) = col {
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
        // Into a new vector: collecting in place would keep the keyed vector's allocation
        // (four times the size) for as long as the view lives.
        members = Vec::with_capacity(keyed.len());
        members.extend(keyed.into_iter().map(|(_, i)| i));
    }
    if desc {
        members.reverse();
    }
    members
}

/// The members (positions into `search`, which is in member order) that pass the toggles and
/// the filter, as indices into `resources`.
pub fn filter_rows(
    resources: &[Resource],
    members: &[usize],
    search: &SearchText,
    spec: &RowSpec,
    breaks: &HashSet<(Kind, String)>,
    clock: i64,
) -> Vec<usize> {
    let mut filter = (!spec.filter.trim().is_empty()).then(|| RowFilter::new(&spec.filter));
    let indexed = search.len() == members.len() && search.is_joined();
    if filter.is_none() && !spec.orphans_only && !spec.unhealthy_only {
        return members.to_vec();
    }
    members
        .iter()
        .enumerate()
        .filter(|&(pos, &i)| {
            if spec.orphans_only || spec.unhealthy_only {
                let r = &resources[i];
                // An orphan whose content is known to break is not an orphan.
                let breaks = || !breaks.is_empty() && breaks.contains(&(r.kind, r.id.to_string()));
                if (spec.orphans_only && (!r.is_orphan() || breaks()))
                    || (spec.unhealthy_only && !r.is_unhealthy())
                {
                    return false;
                }
            }
            filter.as_mut().is_none_or(|f| {
                if f.has_fields() && !f.matches_resource(&resources[i], clock) {
                    return false;
                }
                if indexed {
                    f.matches_joined(&search[pos])
                } else {
                    crate::filter::with_search_fields(&resources[i], |fields| {
                        f.matches_fields(fields)
                    })
                }
            })
        })
        .map(|(_, &i)| i)
        .collect()
}

/// A view's search as its rows need it: joined text while there is a filter to match, none
/// kept without one (see `SearchText`). `search` has one entry per member.
fn fit_search(resources: &[Resource], members: &[usize], search: Search, spec: &RowSpec) -> Search {
    let filtering = !spec.filter.trim().is_empty();
    match (filtering, search.is_joined()) {
        (true, false) if !members.is_empty() => {
            Arc::new(SearchText::of(members.iter().map(|&i| &resources[i])))
        }
        (false, true) => Arc::new(SearchText::fields_only(members.len())),
        _ => search,
    }
}

/// Do a job: merge health into a fresh load, gather, sort and index each view's members,
/// filter its rows. Pure: the same job gives the same answer on any thread.
pub fn run(job: IndexJob) -> IndexOut {
    let IndexJob {
        profile,
        generation,
        source,
        columns,
        now,
        clock,
        breaks,
        views,
    } = job;
    let (resources, load) = match source {
        Source::Fresh {
            mut resources,
            health,
            load,
        } => {
            // Keep connection-test results across refreshes: the server has no health field.
            if !health.is_empty() {
                for r in resources.iter_mut() {
                    if r.health == Health::Unknown {
                        if let Some(h) = health.get(&(r.kind, r.id.to_string())) {
                            r.health = h.clone();
                        }
                    }
                }
            }
            (Arc::new(resources), Some(load))
        }
        Source::Shared(resources) => (resources, None),
    };
    let out: Vec<ViewOut> = views
        .into_iter()
        .map(|v| {
            let gathered = v.members.is_none();
            let members: Members = v.members.unwrap_or_else(|| {
                Arc::new(
                    resources
                        .iter()
                        .enumerate()
                        .filter(|(_, r)| r.kind == v.kind)
                        .map(|(i, _)| i)
                        .collect(),
                )
            });
            let missing = if gathered && !v.marks.is_empty() {
                let mut missing: BTreeSet<&str> = v.marks.iter().map(String::as_str).collect();
                for &i in members.iter() {
                    missing.remove(resources[i].id.as_str());
                    if missing.is_empty() {
                        break;
                    }
                }
                missing.into_iter().map(str::to_string).collect()
            } else {
                Vec::new()
            };
            let (members, search) = match v.search {
                Some(search) => {
                    let search = fit_search(&resources, &members, search, &v.rows);
                    (members, search)
                }
                None => {
                    let sorted = sort_members(
                        &resources,
                        members.to_vec(),
                        columns(v.kind).get(v.sort.col),
                        v.sort.desc,
                        now,
                    );
                    let search = Arc::new(SearchText::fields_only(sorted.len()));
                    let search = fit_search(&resources, &sorted, search, &v.rows);
                    (Arc::new(sorted), search)
                }
            };
            let rows = filter_rows(&resources, &members, &search, &v.rows, &breaks, clock);
            ViewOut {
                k: v.k,
                sort: v.sort,
                spec: v.rows,
                members,
                search,
                rows,
                missing,
            }
        })
        .collect();
    IndexOut {
        profile,
        generation,
        fresh: load.map(|l| (resources, l)),
        views: out,
    }
}

#[cfg(test)]
mod search_text_tests {
    use super::SearchText;
    use crate::filter::FIELD_SEPARATOR;

    #[test]
    fn each_member_reads_back_its_own_fields_after_a_retain_too() {
        let mut s = SearchText::with_capacity(3);
        s.push_fields(&["Sales", "Snowflake"]);
        s.push_fields(&[""]);
        s.push_fields(&["Ledger", "Postgres", "Finance"]);
        assert_eq!(s.len(), 3);
        assert_eq!(&s[0], format!("Sales{FIELD_SEPARATOR}Snowflake"));
        assert_eq!(&s[1], "");
        assert_eq!(
            &s[2],
            format!("Ledger{FIELD_SEPARATOR}Postgres{FIELD_SEPARATOR}Finance")
        );
        s.retain(&[true, false, true]);
        assert_eq!(s.len(), 2);
        assert_eq!(&s[0], format!("Sales{FIELD_SEPARATOR}Snowflake"));
        assert_eq!(
            &s[1],
            format!("Ledger{FIELD_SEPARATOR}Postgres{FIELD_SEPARATOR}Finance")
        );
    }
}

#[cfg(test)]
mod fields_only_tests {
    use super::{filter_rows, RowSpec, SearchText};
    use crate::model::{Kind, Resource, VendorId};
    use std::collections::HashSet;

    #[test]
    fn a_view_without_joined_text_filters_on_each_objects_fields() {
        let r = |id: &str, name: &str, ty: Option<&str>| {
            let mut r = Resource::new(VendorId::MicroStrategy, "p", Kind::Datasources, id, name);
            r.type_ = ty.map(crate::model::intern);
            r
        };
        let all = vec![
            r("1", "Sales", Some("Snowflake")),
            r("2", "Ledger", Some("PostgreSQL")),
            r("3", "Snow report", None),
        ];
        let members = vec![0, 1, 2];
        let mut search = SearchText::fields_only(3);
        assert_eq!(search.len(), 3);
        assert!(!search.is_joined());
        let spec = |f: &str| RowSpec {
            filter: f.into(),
            ..RowSpec::default()
        };
        let rows = filter_rows(&all, &members, &search, &spec("snow"), &HashSet::new(), 0);
        assert_eq!(rows, [0, 2], "the type field is searched too");
        let rows = filter_rows(&all, &members, &search, &spec("^led"), &HashSet::new(), 0);
        assert_eq!(rows, [1]);
        search.retain(&[true, false, true]);
        assert_eq!(search.len(), 2);
        assert!(!search.is_joined());

        // A filter makes the view keep the joined text; clearing it drops the text again.
        let none = std::sync::Arc::new(SearchText::fields_only(3));
        let joined = super::fit_search(&all, &members, none, &spec("snow"));
        assert!(joined.is_joined());
        assert_eq!(&joined[2], "Snow report");
        let rows = filter_rows(&all, &members, &joined, &spec("snow"), &HashSet::new(), 0);
        assert_eq!(rows, [0, 2], "the same rows with the text as without");
        let dropped = super::fit_search(&all, &members, joined, &spec(""));
        assert!(!dropped.is_joined());
        assert_eq!(dropped.len(), 3);
    }
}
