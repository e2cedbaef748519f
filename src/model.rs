//! The vendor-neutral model: every vendor client turns its wire objects into `Resource`s,
//! and everything above the clients (plans, executor, TUI, CLI) works only with these.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;
/// A vector one pointer wide when empty: for fields almost every object leaves empty.
pub use thin_vec::ThinVec;

mod raw;
mod strings;
pub use raw::{RawBlockBuilder, RawJson, BLOCK_TARGET};
pub use strings::{intern, FastHash, Str, StrPool};

/// Declares `VendorId`: one line per vendor (variant, config/JSON id, product name). Every
/// other fact about a vendor lives in its registry entry (`vendors::registry::VENDORS`).
macro_rules! vendor_ids {
    ($($variant:ident => $id:literal, $name:literal;)+) => {
        /// The vendors dsconsole knows. The string ids are user-facing (config
        /// `vendor = "..."`, JSON output).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
        pub enum VendorId {
            $(#[serde(rename = $id)] $variant,)+
        }

        impl VendorId {
            pub const ALL: [VendorId; [$(VendorId::$variant),+].len()] = [$(VendorId::$variant),+];

            /// The id used in config files and JSON output.
            pub fn id(self) -> &'static str {
                match self {
                    $(VendorId::$variant => $id,)+
                }
            }

            /// The product name shown to people.
            pub fn display(self) -> &'static str {
                match self {
                    $(VendorId::$variant => $name,)+
                }
            }
        }
    };
}

vendor_ids! {
    MicroStrategy => "microstrategy", "MicroStrategy";
    Qlik => "qlik", "Qlik Cloud";
    Basedash => "basedash", "Basedash";
    Databrain => "databrain", "Databrain";
    Superset => "superset", "Apache Superset";
}

impl VendorId {
    pub fn parse(s: &str) -> Option<VendorId> {
        VendorId::ALL.into_iter().find(|v| v.id() == s)
    }
}

impl fmt::Display for VendorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.display())
    }
}

/// Resource kinds. The plural ids are user-facing (`dsconsole list PROFILE datasources`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Datasources,
    Connections,
    Logins,
    /// Databrain datamarts: read-only, shown as dependents of datasources.
    Datamarts,
}

impl Kind {
    pub const ALL: [Kind; 4] = [
        Kind::Datasources,
        Kind::Connections,
        Kind::Logins,
        Kind::Datamarts,
    ];

    pub fn id(self) -> &'static str {
        match self {
            Kind::Datasources => "datasources",
            Kind::Connections => "connections",
            Kind::Logins => "logins",
            Kind::Datamarts => "datamarts",
        }
    }

    /// Title-case plural for tabs and headings.
    pub fn title(self) -> &'static str {
        match self {
            Kind::Datasources => "Datasources",
            Kind::Connections => "Connections",
            Kind::Logins => "Logins",
            Kind::Datamarts => "Datamarts",
        }
    }

    /// Singular noun for sentences ("delete datasource 'x'").
    pub fn singular(self) -> &'static str {
        match self {
            Kind::Datasources => "datasource",
            Kind::Connections => "connection",
            Kind::Logins => "login",
            Kind::Datamarts => "datamart",
        }
    }

    /// Accepts plural or singular, any case.
    pub fn parse(s: &str) -> Option<Kind> {
        let s = s.trim().to_ascii_lowercase();
        Kind::ALL
            .into_iter()
            .find(|k| k.id() == s || k.singular() == s)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// What is known of an object's health.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "state", content = "detail", rename_all = "lowercase")]
pub enum Health {
    /// Nothing known (MicroStrategy objects carry no health until tested).
    #[default]
    Unknown,
    /// A test is running.
    Testing,
    Healthy,
    /// Unhealthy, with the reason in one sentence (shared text: one pointer wide).
    Unhealthy(Str),
}

impl Health {
    pub fn is_unhealthy(&self) -> bool {
        matches!(self, Health::Unhealthy(_))
    }
}

/// Sync state for vendors that sync (Basedash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SyncInfo {
    /// Vendor's status string, kept verbatim (unknown values allowed).
    pub status: Option<String>,
    /// Unix seconds of the last successful sync.
    pub last_success: Option<i64>,
    pub error: Option<String>,
}

impl SyncInfo {
    pub fn is_failed(&self) -> bool {
        matches!(self.status.as_deref(), Some(s) if s.eq_ignore_ascii_case("failed"))
            || self.status.is_none()
    }
}

/// A reference to another object of the same profile.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Ref {
    pub kind: Kind,
    pub id: Str,
    pub name: Str,
}

impl Ref {
    pub fn label(&self) -> String {
        format!("{} '{}'", self.kind.singular(), self.name)
    }
}

/// Something that uses a resource without being one of the vendor's listed kinds: a
/// MicroStrategy project a datasource is attached to, or a connection mapping. It is never
/// deleted by a plan, so a resource it uses is in use whatever the plan holds.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OtherUser {
    /// What it is, as a noun ("project", "connection mapping").
    pub what: String,
    pub id: String,
    pub name: String,
}

impl OtherUser {
    pub fn label(&self) -> String {
        format!("{} '{}'", self.what, self.name)
    }
}

/// One "used by" edge that `link_graph` cannot derive from `depends_on`: `target` (a loaded
/// resource) is used by `user`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtherEdge {
    pub target: (Kind, String),
    pub user: OtherUser,
}

/// One datasource, connection or login of one profile, in the neutral model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    pub vendor: VendorId,
    pub profile: Str,
    pub kind: Kind,
    pub id: Str,
    pub name: Str,
    /// DBMS, connection type or dialect.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<Str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Str>,
    /// Space (Qlik), organization (Basedash), or none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<Str>,
    /// Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<i64>,
    #[serde(default)]
    pub health: Health,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync: Option<Box<SyncInfo>>,
    /// Objects this one needs (a datasource depends on its connection).
    #[serde(default)]
    pub depends_on: Vec<Ref>,
    /// Objects that need this one (filled by `link_graph`).
    #[serde(default)]
    pub used_by: Vec<Ref>,
    /// Users that are not listed resources (MicroStrategy projects, connection mappings),
    /// filled by `link_graph`.
    #[serde(default, skip_serializing_if = "ThinVec::is_empty")]
    pub used_by_other: ThinVec<OtherUser>,
    /// What uses this object could not be fully read (a list the graph needs was refused):
    /// `used_by` may be incomplete, and the object is never called an orphan.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub used_by_unknown: bool,
    /// Whether the vendor would let this object be deleted at all (Qlik privileges,
    /// built-in DataFiles). `None` when unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletable: Option<bool>,
    /// Set by `link_graph` for kinds the vendor expects to be used by others.
    #[serde(default)]
    pub orphan: bool,
    /// Switched off on purpose (Qlik: its datasource is disabled on the tenant). A state,
    /// not a failure: not unhealthy, but shown and found by the filter text "disabled".
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disabled: bool,
    /// The JSON the server returned (as compact text: see `RawJson`).
    pub raw: RawJson,
}

impl Resource {
    pub fn new(vendor: VendorId, profile: &str, kind: Kind, id: &str, name: &str) -> Self {
        Resource::with_strs(vendor, profile, kind, Str::from(id), Str::from(name))
    }

    /// `new` with the id and name already made (shared from a `StrPool`).
    pub fn with_strs(vendor: VendorId, profile: &str, kind: Kind, id: Str, name: Str) -> Self {
        Resource {
            vendor,
            profile: intern(profile),
            kind,
            id,
            name,
            type_: None,
            owner: None,
            container: None,
            created: None,
            updated: None,
            health: Health::Unknown,
            sync: None,
            depends_on: Vec::new(),
            used_by: Vec::new(),
            used_by_other: ThinVec::new(),
            used_by_unknown: false,
            deletable: None,
            orphan: false,
            disabled: false,
            raw: RawJson::default(),
        }
    }

    pub fn as_ref(&self) -> Ref {
        Ref {
            kind: self.kind,
            id: self.id.clone(),
            name: self.name.clone(),
        }
    }

    /// Orphan: an object of a kind that exists to be used by others, that nothing uses.
    pub fn is_orphan(&self) -> bool {
        self.orphan
    }

    /// Known users: listed resources and others (projects, mappings).
    pub fn users_count(&self) -> usize {
        self.used_by.len() + self.used_by_other.len()
    }

    /// Every known user's label ("project 'Sales'", "datasource 'Replica'"): other users
    /// first (nothing in a plan deletes them), then resources, each group in name order.
    pub fn user_labels(&self) -> Vec<String> {
        self.used_by_other
            .iter()
            .map(OtherUser::label)
            .chain(self.used_by.iter().map(Ref::label))
            .collect()
    }

    pub fn is_unhealthy(&self) -> bool {
        self.health.is_unhealthy() || self.sync.as_ref().is_some_and(|s| s.is_failed())
    }

    /// Read a string at a JSON pointer of the raw object ("/database/type").
    pub fn raw_str(&self, pointer: &str) -> Option<String> {
        self.raw.pointer_str(pointer)
    }
}

/// Fill every resource's `used_by` from the others' `depends_on`, and mark as orphans the
/// objects of `orphan_kinds` that nothing uses. Same as `link_graph` without other users.
pub fn link_references(resources: &mut [Resource], orphan_kinds: &[Kind]) {
    link_graph(resources, orphan_kinds, Vec::new(), &[]);
}

/// The one builder of the dependency graph: every resource's `used_by` (from the others'
/// `depends_on`), `used_by_other` (from `others`, e.g. projects and mappings) and
/// `used_by_unknown` (its kind is in `unknown_kinds`: a list the graph needs could not be
/// read), and `orphan`: an object of `orphan_kinds` that nothing is known to use, while what
/// uses it is fully known. The usage column, the detail pane, `o`, the delete plan (cascade,
/// "kept because", in-use warnings) and the CLI's `--orphans` / `--skip-in-use` all read
/// these fields. References to objects not in the list stay in `depends_on` (they may be
/// dangling); edges to objects not in the list are dropped.
pub fn link_graph(
    resources: &mut [Resource],
    orphan_kinds: &[Kind],
    others: Vec<OtherEdge>,
    unknown_kinds: &[Kind],
) {
    // Edges as (used, user) positions first, from an index that borrows the ids; the
    // `Ref`s are made once, into vectors sized exactly (300,000 objects, mostly one user each).
    let (edges, other_edges) = {
        let mut index: HashMap<(Kind, &str), usize, FastHash> =
            HashMap::with_capacity_and_hasher(resources.len(), FastHash);
        for (i, r) in resources.iter().enumerate() {
            index.insert((r.kind, r.id.as_str()), i);
        }
        let mut edges: Vec<(usize, usize)> = Vec::new();
        for (i, r) in resources.iter().enumerate() {
            for d in &r.depends_on {
                if let Some(&j) = index.get(&(d.kind, d.id.as_str())) {
                    edges.push((j, i));
                }
            }
        }
        let other_edges: Vec<(usize, OtherUser)> = others
            .into_iter()
            .filter_map(|e| {
                let j = *index.get(&(e.target.0, e.target.1.as_str()))?;
                Some((j, e.user))
            })
            .collect();
        (edges, other_edges)
    };
    // A reference to a listed object shares that object's id and (when they agree) name,
    // instead of the copy its user's JSON gave: one text per object, whatever points to it.
    for &(j, i) in &edges {
        let (id, name) = (resources[j].id.clone(), resources[j].name.clone());
        let kind = resources[j].kind;
        for d in resources[i].depends_on.iter_mut() {
            if d.kind == kind && d.id == id {
                d.id = id.clone();
                if d.name == name {
                    d.name = name.clone();
                }
            }
        }
    }
    let mut counts = vec![(0u32, 0u32); resources.len()];
    for &(j, _) in &edges {
        counts[j].0 += 1;
    }
    for (j, _) in &other_edges {
        counts[*j].1 += 1;
    }
    for (r, (users, others)) in resources.iter_mut().zip(counts) {
        r.used_by = Vec::with_capacity(users as usize);
        r.used_by_other = ThinVec::with_capacity(others as usize);
    }
    for (j, i) in edges {
        let user = resources[i].as_ref();
        resources[j].used_by.push(user);
    }
    for (j, user) in other_edges {
        resources[j].used_by_other.push(user);
    }
    for r in resources.iter_mut() {
        finish_links(r, orphan_kinds, unknown_kinds);
    }
}

/// `link_graph`'s last step for one resource whose `used_by` and `used_by_other` hold every
/// edge found: both in order without duplicates, `used_by_unknown` and `orphan` set. For a
/// loader that links objects one at a time (`VendorApi::load_each`).
pub fn finish_links(r: &mut Resource, orphan_kinds: &[Kind], unknown_kinds: &[Kind]) {
    r.used_by
        .sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
    r.used_by.dedup();
    r.used_by_other
        .sort_by(|a, b| (&a.what, &a.name, &a.id).cmp(&(&b.what, &b.name, &b.id)));
    r.used_by_other.dedup();
    r.used_by_unknown = unknown_kinds.contains(&r.kind);
    r.orphan = orphan_kinds.contains(&r.kind) && r.users_count() == 0 && !r.used_by_unknown;
}

/// Record connection-test results: each tested connection gets its health, and so does
/// every datasource that uses it. One pass, whatever the number of results.
pub fn apply_connection_health(resources: &mut [Resource], results: &HashMap<String, Health>) {
    for r in resources.iter_mut() {
        let tested = match r.kind {
            Kind::Connections => results.get(r.id.as_str()),
            Kind::Datasources => r
                .depends_on
                .iter()
                .filter(|d| d.kind == Kind::Connections)
                .find_map(|d| results.get(d.id.as_str())),
            _ => None,
        };
        if let Some(h) = tested {
            r.health = h.clone();
        }
    }
}

/// Parse vendor timestamps: RFC 3339 (`Z` or `+00:00`) and MicroStrategy's `+0000` form.
pub fn parse_time(s: &str) -> Option<i64> {
    parse_time_fast(s).or_else(|| parse_time_chrono(s))
}

/// The usual shape, `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM|±HHMM)`, read by hand (no
/// format string parsed per call); `None` for anything else, which `parse_time_chrono`
/// then reads.
fn parse_time_fast(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let digits = b.get(r)?;
        digits.iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let at = |i: usize, c: u8| b.get(i) == Some(&c);
    if !(at(4, b'-') && at(7, b'-') && at(10, b'T') && at(13, b':') && at(16, b':')) {
        return None;
    }
    let date =
        chrono::NaiveDate::from_ymd_opt(i32::try_from(num(0..4)?).ok()?, num(5..7)?, num(8..10)?)?;
    let time = date.and_hms_opt(num(11..13)?, num(14..16)?, num(17..19)?)?;
    let mut i = 19;
    if at(i, b'.') {
        let digits = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 || digits > 9 {
            return None;
        }
        i += 1 + digits;
    }
    let offset = match (b.get(i), b.len() - i) {
        (Some(b'Z'), 1) => 0,
        (Some(&sign @ (b'+' | b'-')), n @ (5 | 6)) => {
            let (h, m) = if n == 6 {
                at(i + 3, b':').then_some(())?;
                (num(i + 1..i + 3)?, num(i + 4..i + 6)?)
            } else {
                (num(i + 1..i + 3)?, num(i + 3..i + 5)?)
            };
            if h > 23 || m > 59 {
                return None;
            }
            let secs = i64::from(h * 3600 + m * 60);
            if sign == b'-' {
                -secs
            } else {
                secs
            }
        }
        _ => return None,
    };
    Some(time.and_utc().timestamp() - offset)
}

fn parse_time_chrono(s: &str) -> Option<i64> {
    use chrono::DateTime;
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp());
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M:%S%z"] {
        if let Ok(t) = DateTime::parse_from_str(s, fmt) {
            return Some(t.timestamp());
        }
    }
    None
}

/// Text from a server made safe to print on a terminal. The one sanitizer lives in
/// `crate::text`; this name is kept for the callers that already use it.
pub use crate::text::sanitize as printable;

/// "3m", "5h", "12d", "2y": compact age for table cells.
pub fn format_age(now: i64, then: i64) -> String {
    let d = (now - then).max(0);
    match d {
        0..=59 => format!("{d}s"),
        60..=3599 => format!("{}m", d / 60),
        3600..=86_399 => format!("{}h", d / 3600),
        86_400..=31_535_999 => format!("{}d", d / 86_400),
        _ => format!("{}y", d / 31_536_000),
    }
}

/// "2021-08-04" in UTC.
pub fn format_date(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// "2021-08-04 15:44" in UTC.
pub fn format_time(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

/// How a cell should look; the theme maps this to colours and glyphs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellTone {
    Normal,
    Dim,
    Good,
    Bad,
    Warn,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    pub text: String,
    pub tone: CellTone,
}

impl Cell {
    pub fn plain(text: impl Into<String>) -> Self {
        Cell {
            text: text.into(),
            tone: CellTone::Normal,
        }
    }
    pub fn tone(text: impl Into<String>, tone: CellTone) -> Self {
        Cell {
            text: text.into(),
            tone,
        }
    }
}

/// Context that cells may need but that the model does not own (the current time).
#[derive(Debug, Clone, Copy)]
pub struct CellCtx {
    pub now: i64,
}

/// Column width rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColWidth {
    Fixed(u16),
    /// Takes a share of the remaining width, at least this many cells.
    Fill(u16),
    /// Like `Fill`, for names (of the row or of what it refers to): a name that shares a
    /// long prefix with another one on screen is cut in the middle, so its end stays visible.
    Names(u16),
}

/// One table column of a vendor kind: what it is called and how a row fills it.
#[derive(Clone, Copy)]
pub struct ColumnDef {
    pub title: &'static str,
    pub width: ColWidth,
    pub cell: fn(&Resource, &CellCtx) -> Cell,
    /// Sort key; defaults to the cell text when `None`.
    pub sort_key: Option<fn(&Resource) -> String>,
}

impl fmt::Debug for ColumnDef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ColumnDef")
            .field("title", &self.title)
            .finish()
    }
}

/// Shared cell helpers for the common columns.
pub mod cells {
    use super::*;

    /// What a vendor calls the place an object lives in (`Resource::container`).
    pub fn container_noun(vendor: VendorId) -> &'static str {
        match vendor {
            VendorId::Qlik => "space",
            VendorId::Basedash => "organization",
            _ => "container",
        }
    }

    /// The space or organization an object lives in.
    pub fn container(r: &Resource, _: &CellCtx) -> Cell {
        match r.container.as_deref() {
            Some(c) if !c.is_empty() => Cell::plain(c),
            _ => Cell::tone("-", CellTone::Dim),
        }
    }

    pub fn name(r: &Resource, _: &CellCtx) -> Cell {
        Cell::plain(r.name.to_string())
    }

    pub fn type_(r: &Resource, _: &CellCtx) -> Cell {
        Cell::plain(r.type_.as_deref().unwrap_or_default().to_string())
    }

    pub fn owner(r: &Resource, _: &CellCtx) -> Cell {
        Cell::plain(r.owner.as_deref().unwrap_or_default().to_string())
    }

    pub fn updated(r: &Resource, ctx: &CellCtx) -> Cell {
        match r.updated {
            Some(t) => Cell::plain(format!("{} ({})", format_date(t), format_age(ctx.now, t))),
            None => Cell::tone("-", CellTone::Dim),
        }
    }

    pub fn created(r: &Resource, ctx: &CellCtx) -> Cell {
        match r.created {
            Some(t) => Cell::plain(format!("{} ({})", format_date(t), format_age(ctx.now, t))),
            None => Cell::tone("-", CellTone::Dim),
        }
    }

    pub fn updated_key(r: &Resource) -> String {
        format!("{:020}", r.updated.unwrap_or(0))
    }

    pub fn created_key(r: &Resource) -> String {
        format!("{:020}", r.created.unwrap_or(0))
    }

    /// A vendor message for a one-line cell: its first non-blank line, trimmed, with " …"
    /// when more lines follow (the detail pane shows them all).
    pub fn first_line(message: &str) -> String {
        let mut lines = message.lines().map(str::trim).filter(|l| !l.is_empty());
        let first = lines.next().unwrap_or("").to_string();
        if lines.next().is_some() {
            first + " …"
        } else {
            first
        }
    }

    /// "✗ " and the vendor's own message when unhealthy.
    pub fn health(r: &Resource, _: &CellCtx) -> Cell {
        match &r.health {
            Health::Unknown => Cell::tone("? untested", CellTone::Dim),
            Health::Testing => Cell::tone("… testing", CellTone::Warn),
            Health::Healthy => Cell::tone("✓ ok", CellTone::Good),
            Health::Unhealthy(why) => Cell::tone(format!("✗ {}", first_line(why)), CellTone::Bad),
        }
    }

    /// "3: a, b, c", "○ orphan", or "? unknown" when what uses it could not be read
    /// ("2+?: a, b" when some users are known but the list may be incomplete).
    pub fn used_by(r: &Resource, _: &CellCtx) -> Cell {
        let n = r.users_count();
        if n == 0 {
            return if r.used_by_unknown {
                Cell::tone("? unknown", CellTone::Dim)
            } else if r.orphan {
                Cell::tone("○ orphan", CellTone::Warn)
            } else {
                // A kind that is not expected to be used by others.
                Cell::tone("-", CellTone::Dim)
            };
        }
        let names: Vec<&str> = r
            .used_by_other
            .iter()
            .map(|u| u.name.as_str())
            .chain(r.used_by.iter().map(|u| u.name.as_str()))
            .take(3)
            .collect();
        let more = if n > 3 { ", …" } else { "" };
        let unknown = if r.used_by_unknown { "+?" } else { "" };
        Cell::plain(format!("{n}{unknown}: {}{more}", names.join(", ")))
    }

    pub fn used_by_key(r: &Resource) -> String {
        format!("{:08}", r.users_count())
    }

    /// Name of the first dependency of the given kind.
    pub fn first_dep(r: &Resource, kind: Kind) -> Cell {
        match r.depends_on.iter().find(|d| d.kind == kind) {
            Some(d) => Cell::plain(d.name.to_string()),
            None => Cell::tone("-", CellTone::Dim),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mstr_and_rfc3339_times() {
        assert_eq!(parse_time("2021-08-04T15:44:35.000+0000"), Some(1628091875));
        assert_eq!(parse_time("2021-08-04T15:44:35Z"), Some(1628091875));
        assert_eq!(
            parse_time("2021-08-04T15:44:35.123+00:00"),
            Some(1628091875)
        );
        assert_eq!(parse_time("yesterday"), None);
    }

    #[test]
    fn the_hand_reader_agrees_with_chrono() {
        let mut cases = vec![
            "2021-08-04T15:44:35.000+0000".to_string(),
            "2021-08-04T15:44:35Z".into(),
            "2021-08-04T15:44:35.123456789-07:30".into(),
            "2021-08-04T15:44:35.1234567891Z".into(),
            "2021-08-04T15:44:35+2400".into(),
            "2021-08-04T15:44:35+23:59".into(),
            "2021-02-30T15:44:35Z".into(),
            "2021-08-04T24:00:00Z".into(),
            "2016-12-31T23:59:60Z".into(),
            "2021-08-04t15:44:35Z".into(),
            "2021-08-04 15:44:35Z".into(),
            "2021-08-04T15:44:35".into(),
            "2021-08-04T15:44:35.Z".into(),
            "2021-08-04T15:44:35+00".into(),
            "2021-08-04T15:44:35+0000 ".into(),
            "0000-01-01T00:00:00Z".into(),
            "+2021-08-04T15:44:35Z".into(),
            "".into(),
        ];
        for y in [1969, 1970, 2000, 2024, 9999] {
            for off in ["Z", "+0000", "-0530", "+05:45", "-12:00"] {
                cases.push(format!("{y}-02-29T23:59:59.5{off}"));
                cases.push(format!("{y}-12-31T00:00:01{off}"));
            }
        }
        for c in &cases {
            assert_eq!(parse_time(c), parse_time_chrono(c), "{c}");
            if let Some(t) = parse_time_fast(c) {
                assert_eq!(Some(t), parse_time_chrono(c), "{c}");
            }
        }
        assert!(parse_time_fast("2021-08-04T15:44:35.000+0000").is_some());
    }

    #[test]
    fn link_fills_used_by_and_orphans() {
        let mut ds = Resource::new(VendorId::MicroStrategy, "p", Kind::Datasources, "D", "d");
        let conn = Resource::new(VendorId::MicroStrategy, "p", Kind::Connections, "C", "c");
        let lonely = Resource::new(VendorId::MicroStrategy, "p", Kind::Connections, "C2", "c2");
        ds.depends_on.push(conn.as_ref());
        let mut all = vec![ds, conn, lonely];
        link_references(&mut all, &[Kind::Connections, Kind::Logins]);
        assert_eq!(all[1].used_by, vec![all[0].as_ref()]);
        assert!(!all[1].is_orphan());
        assert!(all[2].is_orphan());
        assert!(!all[0].is_orphan());
    }

    #[test]
    fn link_graph_adds_other_users_and_never_calls_unknown_usage_orphan() {
        let v = VendorId::MicroStrategy;
        let primary = Resource::new(v, "p", Kind::Datasources, "D1", "Reporting Postgres");
        let mut replica = Resource::new(v, "p", Kind::Datasources, "D2", "Replica");
        replica.depends_on.push(primary.as_ref());
        let lonely = Resource::new(v, "p", Kind::Datasources, "D3", "Legacy");
        let project = |id: &str, name: &str| OtherEdge {
            target: (Kind::Datasources, "D1".into()),
            user: OtherUser {
                what: "project".into(),
                id: id.into(),
                name: name.into(),
            },
        };
        let mut all = vec![primary, replica, lonely];
        link_graph(
            &mut all,
            &[Kind::Datasources],
            vec![project("P2", "Sales"), project("P1", "Finance")],
            &[],
        );
        assert_eq!(
            all[0].user_labels(),
            [
                "project 'Finance'",
                "project 'Sales'",
                "datasource 'Replica'"
            ]
        );
        assert!(!all[0].is_orphan());
        assert!(all[1].is_orphan(), "nothing uses the replica");
        assert!(all[2].is_orphan());
        let ctx = CellCtx { now: 0 };
        assert_eq!(
            cells::used_by(&all[0], &ctx).text,
            "3: Finance, Sales, Replica"
        );

        // The same graph when the projects could not be read: nothing is an orphan.
        link_graph(
            &mut all,
            &[Kind::Datasources],
            Vec::new(),
            &[Kind::Datasources],
        );
        assert!(all.iter().all(|r| !r.is_orphan() && r.used_by_unknown));
        assert_eq!(cells::used_by(&all[2], &ctx).text, "? unknown");
        assert_eq!(cells::used_by(&all[0], &ctx).text, "1+?: Replica");
    }

    #[test]
    fn kind_parse_accepts_singular() {
        assert_eq!(Kind::parse("Login"), Some(Kind::Logins));
        assert_eq!(Kind::parse("datasources"), Some(Kind::Datasources));
        assert_eq!(Kind::parse("tables"), None);
    }

    #[test]
    fn printable_removes_control_characters() {
        assert_eq!(printable("plain"), "plain");
        assert_eq!(printable("a\u{1b}[2Jb\nc"), "a␛[2Jb␊c");
    }

    #[test]
    fn cells_show_the_first_line_of_a_vendor_message() {
        assert_eq!(
            cells::first_line("JWT token is invalid."),
            "JWT token is invalid."
        );
        assert_eq!(
            cells::first_line("\n  ERROR: sync failed\n\tat host db1\n"),
            "ERROR: sync failed …"
        );
        let mut r = Resource::new(VendorId::MicroStrategy, "p", Kind::Connections, "C", "c");
        r.health = Health::Unhealthy("login failed\n  at db1".into());
        assert_eq!(
            cells::health(&r, &CellCtx { now: 0 }).text,
            "✗ login failed …"
        );
    }

    #[test]
    fn ages_are_compact() {
        assert_eq!(format_age(100, 100), "0s");
        assert_eq!(format_age(7200, 0), "2h");
        assert_eq!(format_age(86_400 * 3, 0), "3d");
    }
}
