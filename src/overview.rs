//! One profile in a line: what the on-call operator asks first — how many objects, how many
//! are unhealthy, failing or stale in their syncs, never tested, orphaned, of unknown
//! usage — and how bad that is, so profiles can be sorted by severity. Shared by the
//! console's overview screen and `dsconsole check` over every profile. No I/O.

use crate::model::{Health, Kind, Resource, VendorId};
use serde::Serialize;

/// A sync whose last success is older than this (or that never succeeded) is stale.
pub const STALE_SYNC_SECS: i64 = 24 * 3600;

/// What one profile's loaded objects say.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Objects per kind, in the vendor's kind order.
    pub objects: Vec<(Kind, usize)>,
    /// Failed connection test, unhealthy at the vendor, or a failed (or never run) sync.
    pub unhealthy: usize,
    /// Syncs that failed (a subset of `unhealthy`).
    pub sync_failed: usize,
    /// Syncs not failed but whose last success is older than `STALE_SYNC_SECS`.
    pub sync_stale: usize,
    /// Objects whose health can be tested but never was (MicroStrategy connections).
    pub never_tested: usize,
    pub orphans: usize,
    /// Objects whose users could not all be read.
    pub usage_unknown: usize,
}

impl Counts {
    pub fn total(&self) -> usize {
        self.objects.iter().map(|(_, n)| n).sum()
    }
}

/// Count `resources` of a profile whose kinds are `kinds`, at `now` (unix seconds).
/// `testable` is whether the vendor has a connection test (untested connections count as
/// "never tested" only then).
pub fn counts(resources: &[Resource], kinds: &[Kind], testable: bool, now: i64) -> Counts {
    let mut c = Counts {
        objects: kinds.iter().map(|k| (*k, 0)).collect(),
        ..Counts::default()
    };
    for r in resources {
        if let Some((_, n)) = c.objects.iter_mut().find(|(k, _)| *k == r.kind) {
            *n += 1;
        }
        if r.is_unhealthy() {
            c.unhealthy += 1;
        }
        if let Some(s) = &r.sync {
            if s.is_failed() {
                c.sync_failed += 1;
            } else if s.last_success.is_none_or(|t| now - t > STALE_SYNC_SECS) {
                c.sync_stale += 1;
            }
        }
        if testable && r.kind == Kind::Connections && r.health == Health::Unknown {
            c.never_tested += 1;
        }
        if r.is_orphan() {
            c.orphans += 1;
        }
        if r.used_by_unknown {
            c.usage_unknown += 1;
        }
    }
    c
}

/// How bad a profile's state is, worst first when sorted descending: a profile that could
/// not be loaded, then objects that became unhealthy since the operator last looked, then
/// unhealthy objects, failed syncs, stale syncs, unknown usage, never
/// tested, orphans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Severity {
    pub load_failed: bool,
    /// Became unhealthy since the operator last looked.
    pub new_unhealthy: usize,
    pub unhealthy: usize,
    pub sync_stale: usize,
    pub usage_unknown: usize,
    pub never_tested: usize,
    pub orphans: usize,
}

/// One row of the overview (and of `check` over every profile).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProfileSummary {
    pub profile: String,
    pub vendor: VendorId,
    /// The tenant: the base URL's host.
    pub tenant: String,
    pub counts: Counts,
    /// Objects whose impact was computed and is unknown (the console only).
    pub impact_unknown: usize,
    /// Why the last load failed, if it did.
    pub load_error: Option<String>,
    pub warnings: usize,
    /// Unix seconds of the last successful load, and how long it took.
    pub loaded_at: Option<i64>,
    pub load_ms: Option<u64>,
    pub read_only: bool,
    pub protected: bool,
    /// The profile's secret did not resolve: it cannot be used.
    pub no_secret: bool,
    /// Unhealthy objects that became so since the operator last looked (the console only).
    #[serde(skip)]
    pub new_unhealthy: usize,
    /// When the operator last looked at the profile (the console only).
    #[serde(skip)]
    pub looked_at: Option<i64>,
}

impl ProfileSummary {
    pub fn severity(&self) -> Severity {
        let c = &self.counts;
        Severity {
            load_failed: self.load_error.is_some() || self.no_secret,
            new_unhealthy: self.new_unhealthy,
            unhealthy: c.unhealthy,
            sync_stale: c.sync_stale,
            usage_unknown: c.usage_unknown + self.impact_unknown,
            never_tested: c.never_tested,
            orphans: c.orphans,
        }
    }

    /// Whether anything needs the operator: a failed load or an unhealthy object.
    pub fn is_broken(&self) -> bool {
        self.load_error.is_some() || self.no_secret || self.counts.unhealthy > 0
    }

    /// "ok", "3 unhealthy", "load failed", "no secret": the one-word state of the row.
    pub fn state(&self) -> String {
        if self.no_secret {
            "NO SECRET".into()
        } else if self.load_error.is_some() {
            "load failed".into()
        } else if self.counts.unhealthy > 0 {
            format!("{} unhealthy", self.counts.unhealthy)
        } else if self.loaded_at.is_none() {
            "not loaded".into()
        } else {
            "ok".into()
        }
    }
}

/// The short name of a kind in a one-line count ("ds", "conn", "logins", "dm").
pub fn kind_abbrev(kind: Kind) -> &'static str {
    match kind {
        Kind::Datasources => "ds",
        Kind::Connections => "conn",
        Kind::Logins => "logins",
        Kind::Datamarts => "dm",
    }
}

/// Objects per kind in one line: "19 ds, 14 conn, 13 logins".
pub fn objects_line(counts: &Counts) -> String {
    counts
        .objects
        .iter()
        .map(|(k, n)| format!("{n} {}", kind_abbrev(*k)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The non-zero counts beside "unhealthy", in severity order: "1 failed sync, 2 stale
/// syncs, 3 never tested, 4 orphans, 1 usage unknown". Empty when there is nothing to say.
pub fn issues_line(counts: &Counts) -> String {
    let plural = |n: usize, one: &str, many: &str| {
        if n == 1 {
            format!("1 {one}")
        } else {
            format!("{n} {many}")
        }
    };
    let mut parts = Vec::new();
    if counts.sync_failed > 0 {
        parts.push(plural(counts.sync_failed, "failed sync", "failed syncs"));
    }
    if counts.sync_stale > 0 {
        parts.push(plural(counts.sync_stale, "stale sync", "stale syncs"));
    }
    if counts.usage_unknown > 0 {
        parts.push(format!("{} usage unknown", counts.usage_unknown));
    }
    if counts.never_tested > 0 {
        parts.push(format!("{} never tested", counts.never_tested));
    }
    if counts.orphans > 0 {
        parts.push(plural(counts.orphans, "orphan", "orphans"));
    }
    parts.join(", ")
}

/// The badges of a row: "read-only", "protected", both or none.
pub fn badges(row: &ProfileSummary) -> Vec<&'static str> {
    let mut b = Vec::new();
    if row.read_only {
        b.push("read-only");
    }
    if row.protected {
        b.push("protected");
    }
    b
}

/// The host of a base URL ("https://acme.us.qlikcloud.com/api" → "acme.us.qlikcloud.com").
pub fn tenant_of(base_url: &str) -> String {
    let rest = base_url
        .split_once("://")
        .map(|(_, r)| r)
        .unwrap_or(base_url);
    let host = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    // Credentials in a URL are never shown.
    host.rsplit('@').next().unwrap_or(host).to_string()
}

/// Sort rows worst first; equal ones by profile name.
pub fn sort_by_severity(rows: &mut [ProfileSummary]) {
    rows.sort_by(severity_order);
}

/// The order of `sort_by_severity`: worst first, equal ones by profile name.
pub fn severity_order(a: &ProfileSummary, b: &ProfileSummary) -> std::cmp::Ordering {
    b.severity()
        .cmp(&a.severity())
        .then_with(|| a.profile.cmp(&b.profile))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SyncInfo;

    fn res(kind: Kind, id: &str) -> Resource {
        Resource::new(VendorId::Basedash, "p", kind, id, id)
    }

    #[test]
    fn counts_unhealthy_failed_and_stale_syncs_untested_and_orphans() {
        let now = 1_000_000;
        let mut a = res(Kind::Datasources, "a");
        a.sync = Some(Box::new(SyncInfo {
            status: Some("FAILED".into()),
            last_success: None,
            error: Some("boom".into()),
        }));
        let mut b = res(Kind::Datasources, "b");
        b.sync = Some(Box::new(SyncInfo {
            status: Some("SUCCESS".into()),
            last_success: Some(now - STALE_SYNC_SECS - 1),
            error: None,
        }));
        let mut c = res(Kind::Connections, "c");
        c.orphan = true;
        let mut d = res(Kind::Connections, "d");
        d.health = Health::Unhealthy("refused".into());
        d.used_by_unknown = true;
        let all = [a, b, c, d];
        let n = counts(&all, &[Kind::Datasources, Kind::Connections], true, now);
        assert_eq!(n.objects, [(Kind::Datasources, 2), (Kind::Connections, 2)]);
        assert_eq!(n.total(), 4);
        assert_eq!((n.unhealthy, n.sync_failed, n.sync_stale), (2, 1, 1));
        assert_eq!(n.never_tested, 1, "c was never tested; d was");
        assert_eq!((n.orphans, n.usage_unknown), (1, 1));
        let untestable = counts(&all, &[Kind::Connections], false, now);
        assert_eq!(untestable.never_tested, 0);
    }

    #[test]
    fn worst_profiles_sort_first_and_tenants_hide_credentials() {
        let row = |name: &str, unhealthy: usize, failed: bool| ProfileSummary {
            profile: name.into(),
            vendor: VendorId::Qlik,
            tenant: "t".into(),
            counts: Counts {
                unhealthy,
                ..Counts::default()
            },
            impact_unknown: 0,
            load_error: failed.then(|| "HTTP 503".to_string()),
            warnings: 0,
            loaded_at: Some(1),
            load_ms: Some(10),
            read_only: false,
            protected: false,
            no_secret: false,
            new_unhealthy: 0,
            looked_at: None,
        };
        let mut rows = vec![row("a", 0, false), row("b", 3, false), row("c", 0, true)];
        sort_by_severity(&mut rows);
        let names: Vec<&str> = rows.iter().map(|r| r.profile.as_str()).collect();
        assert_eq!(names, ["c", "b", "a"]);
        assert_eq!(rows[0].state(), "load failed");
        assert_eq!(rows[1].state(), "3 unhealthy");
        assert_eq!(rows[2].state(), "ok");
        assert_eq!(
            tenant_of("https://user:pw@acme.us.qlikcloud.com/api/v1"),
            "acme.us.qlikcloud.com"
        );
        assert_eq!(tenant_of("acme.example:8443"), "acme.example:8443");
    }

    #[test]
    fn objects_and_issues_read_as_one_line_each() {
        let c = Counts {
            objects: vec![
                (Kind::Datasources, 19),
                (Kind::Connections, 1),
                (Kind::Logins, 13),
            ],
            unhealthy: 4,
            sync_failed: 1,
            sync_stale: 2,
            never_tested: 3,
            orphans: 1,
            usage_unknown: 5,
        };
        assert_eq!(objects_line(&c), "19 ds, 1 conn, 13 logins");
        assert_eq!(
            issues_line(&c),
            "1 failed sync, 2 stale syncs, 5 usage unknown, 3 never tested, 1 orphan"
        );
        assert_eq!(issues_line(&Counts::default()), "");
        assert_eq!(objects_line(&Counts::default()), "");
    }
}
