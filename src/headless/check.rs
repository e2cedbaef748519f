//! `dsconsole check [PROFILE]`: the health report of one profile, or the overview of every
//! profile of the config (loaded a few at a time, connection tests run where the vendor can
//! test) as a table, JSON, or Prometheus text for node-exporter's textfile collector.
//! Exit 1 when anything is unhealthy, a profile failed to load or has no secret.

use super::*;
use crate::model::{Health, VendorId};
use crate::overview::{self, Counts, ProfileSummary};
use futures::stream::{self, StreamExt};
use serde::Serialize;
use std::time::Instant;

/// Profiles loaded at once by `check` over every profile.
const PROFILES_AT_ONCE: usize = 4;

/// Output format of `check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CheckOutput {
    Table,
    Json,
    /// Text exposition format (node-exporter's textfile collector).
    Prometheus,
}

/// One profile checked: its overview row and the objects to name.
#[derive(Debug, Clone)]
struct Checked {
    summary: ProfileSummary,
    /// The vendor has no client yet: nothing was loaded.
    unsupported: bool,
    unhealthy: Vec<Resource>,
}

impl Checked {
    /// A row for a profile that was not loaded.
    fn unloaded(profile: &ProfileConfig) -> Checked {
        Checked {
            summary: ProfileSummary {
                new_unhealthy: 0,
                looked_at: None,
                profile: profile.name.clone(),
                vendor: profile.vendor,
                tenant: overview::tenant_of(&profile.base_url),
                counts: Counts::default(),
                impact_unknown: 0,
                load_error: None,
                warnings: 0,
                loaded_at: None,
                load_ms: None,
                read_only: profile.read_only,
                protected: profile.protected,
                no_secret: false,
            },
            unsupported: false,
            unhealthy: Vec::new(),
        }
    }

    fn state(&self) -> String {
        if self.unsupported {
            "unsupported".into()
        } else {
            self.summary.state()
        }
    }
}

/// What loading a profile and testing its connections found.
struct Inspected {
    resources: Vec<Resource>,
    warnings: usize,
    load_ms: u64,
    loaded_at: i64,
}

/// `dsconsole check [PROFILE]`: one profile when named, else every profile of the config
/// (or those in `only`).
pub async fn check(
    config_path: Option<&Path>,
    profile: Option<&str>,
    only: &[String],
    output: CheckOutput,
) -> Result<ExitCode, Fail> {
    match profile {
        Some(name) => {
            let o = open_profile(config_path, name, true)?;
            let result = match output {
                CheckOutput::Table => check_one_table(&o).await,
                _ => {
                    let checked = check_opened(&o).await;
                    emit(&[checked], output)
                }
            };
            o.client.logout().await;
            result
        }
        None => check_all(config_path, only, output).await,
    }
}

/// Load, then test every connection when the vendor can. Warnings go to stderr.
async fn inspect(o: &Opened) -> Result<Inspected, String> {
    let started = Instant::now();
    let snap = o
        .client
        .load()
        .await
        .map(vendors::Snapshot::redacted)
        .map_err(|e| e.to_string())?;
    let load_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let loaded_at = chrono::Utc::now().timestamp();
    for w in &snap.warnings {
        eprintln!("warning: {}: {}", sanitize(&o.profile.name), sanitize(w));
    }
    let mut all = snap.resources;
    if o.spec.can_test {
        let ids: Vec<String> = all
            .iter()
            .filter(|r| r.kind == Kind::Connections)
            .map(|r| r.id.to_string())
            .collect();
        let concurrency = o.profile.concurrency(&o.config.defaults);
        let mut health = std::collections::HashMap::new();
        crate::ops::connection_tests::run(
            o.client.clone(),
            ids,
            concurrency,
            CancellationToken::new(),
            |id, result| {
                health.insert(id, crate::ops::connection_tests::health_of(&result));
            },
        )
        .await;
        crate::model::apply_connection_health(&mut all, &health);
    }
    Ok(Inspected {
        resources: all,
        warnings: snap.warnings.len(),
        load_ms,
        loaded_at,
    })
}

/// The row of an opened profile: loaded and tested, or its load error.
async fn check_opened(o: &Opened) -> Checked {
    let mut c = Checked::unloaded(&o.profile);
    match inspect(o).await {
        Ok(found) => {
            c.summary.counts = overview::counts(
                &found.resources,
                o.spec.kinds,
                o.spec.can_test,
                chrono::Utc::now().timestamp(),
            );
            c.summary.warnings = found.warnings;
            c.summary.loaded_at = Some(found.loaded_at);
            c.summary.load_ms = Some(found.load_ms);
            c.unhealthy = found
                .resources
                .into_iter()
                .filter(Resource::is_unhealthy)
                .collect();
        }
        Err(e) => c.summary.load_error = Some(e),
    }
    c
}

/// Why an object is unhealthy, in one phrase.
fn why_unhealthy(r: &Resource) -> String {
    match &r.health {
        Health::Unhealthy(w) => w.to_string(),
        _ => r
            .sync
            .as_ref()
            .map(|s| match (&s.status, &s.error) {
                (Some(st), Some(e)) => format!("sync {st}: {e}"),
                (Some(st), None) => format!("sync {st}"),
                (None, _) => "never synced".to_string(),
            })
            .unwrap_or_default(),
    }
}

/// The report of one named profile as a table: counts, unhealthy objects, orphans.
async fn check_one_table(o: &Opened) -> Result<ExitCode, Fail> {
    let all = inspect(o)
        .await
        .map_err(|e| Fail::op(format!("{}: load failed: {e}", o.profile.name)))?
        .resources;
    let mut out = std::io::stdout().lock();
    let counts: Vec<String> = o
        .spec
        .kinds
        .iter()
        .map(|k| format!("{} {}", all.iter().filter(|r| r.kind == *k).count(), k.id()))
        .collect();
    let _ = writeln!(
        out,
        "{} ({}): {}",
        sanitize(&o.profile.name),
        o.spec.vendor.display(),
        counts.join(", ")
    );
    let unhealthy: Vec<&Resource> = all.iter().filter(|r| r.is_unhealthy()).collect();
    let orphans: Vec<&Resource> = all.iter().filter(|r| r.is_orphan()).collect();
    for r in &unhealthy {
        let _ = writeln!(
            out,
            "UNHEALTHY  {}  {}: {}",
            sanitize(&r.as_ref().label()),
            sanitize(&r.id),
            sanitize(&why_unhealthy(r))
        );
    }
    for r in &orphans {
        let _ = writeln!(
            out,
            "orphan     {}  {}",
            sanitize(&r.as_ref().label()),
            sanitize(&r.id)
        );
    }
    let _ = writeln!(
        out,
        "{} unhealthy, {} orphan(s)",
        unhealthy.len(),
        orphans.len()
    );
    if unhealthy.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        Ok(ExitCode::from(1))
    }
}

/// A profile to check: opened, or already a row (no secret, unsupported, bad settings).
enum Job {
    Open(Box<Opened>),
    Done(Box<Checked>),
}

fn open_job(cfg: &Config, profile: &ProfileConfig) -> Job {
    let mut row = Checked::unloaded(profile);
    let spec = vendors::spec(profile.vendor);
    if !spec.supported {
        row.unsupported = true;
        return Job::Done(Box::new(row));
    }
    let settings = match profile.client_settings(&cfg.defaults, true) {
        Ok(s) => s,
        Err(e) => {
            row.summary.no_secret = true;
            row.summary.load_error = Some(e);
            return Job::Done(Box::new(row));
        }
    };
    match vendors::connect(settings) {
        Ok(client) => Job::Open(Box::new(Opened {
            profile: profile.clone(),
            config: cfg.clone(),
            spec,
            client,
        })),
        Err(e) => {
            row.summary.load_error = Some(e.to_string());
            Job::Done(Box::new(row))
        }
    }
}

/// `dsconsole check` over every profile (or those in `only`).
async fn check_all(
    config_path: Option<&Path>,
    only: &[String],
    output: CheckOutput,
) -> Result<ExitCode, Fail> {
    let (cfg, path) = load_config(config_path)?;
    if let Some(name) = only.iter().find(|n| cfg.profile(n).is_none()) {
        return Err(no_such_profile(&cfg, &path, name));
    }
    let jobs: Vec<Job> = cfg
        .profiles
        .iter()
        .filter(|p| only.is_empty() || only.contains(&p.name))
        .map(|p| open_job(&cfg, p))
        .collect();
    if jobs.is_empty() {
        return Err(Fail::usage(format!("no profiles in {}", path.display())));
    }
    let checked: Vec<Checked> = stream::iter(jobs)
        .map(|job| async move {
            match job {
                Job::Done(row) => *row,
                Job::Open(o) => {
                    let row = check_opened(&o).await;
                    o.client.logout().await;
                    row
                }
            }
        })
        .buffer_unordered(PROFILES_AT_ONCE)
        .collect()
        .await;
    emit(&checked, output)
}

/// Sort worst first, print in `output`, and say how it went in the exit code.
fn emit(rows: &[Checked], output: CheckOutput) -> Result<ExitCode, Fail> {
    let mut rows = rows.to_vec();
    rows.sort_by(|a, b| overview::severity_order(&a.summary, &b.summary));
    let text = match output {
        CheckOutput::Table => table_text(&rows),
        CheckOutput::Json => json_text(&rows).map_err(|e| Fail::op(e.to_string()))?,
        CheckOutput::Prometheus => prometheus_text(&rows),
    };
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            return Err(Fail::op(format!("writing output: {e}")));
        }
    }
    if rows.iter().any(|r| r.summary.is_broken()) {
        Ok(ExitCode::from(1))
    } else {
        Ok(ExitCode::SUCCESS)
    }
}

/// Widest a column of the overview table may be; longer cells are cut with "…".
const PROFILE_WIDTH: usize = 24;
const TENANT_WIDTH: usize = 32;
const ISSUES_WIDTH: usize = 60;

/// The overview table, then one line per profile that could not be loaded and per unhealthy
/// object, then a summary line. Every cell is sanitized.
fn table_text(rows: &[Checked]) -> String {
    use unicode_width::UnicodeWidthStr;
    let header = [
        "PROFILE", "VENDOR", "TENANT", "STATE", "LOAD", "OBJECTS", "BADGES", "ISSUES",
    ];
    let caps = [
        PROFILE_WIDTH,
        usize::MAX,
        TENANT_WIDTH,
        usize::MAX,
        usize::MAX,
        usize::MAX,
        usize::MAX,
        ISSUES_WIDTH,
    ];
    let mut cells: Vec<Vec<String>> = vec![header.iter().map(|h| h.to_string()).collect()];
    for r in rows {
        let s = &r.summary;
        let issues = match &s.load_error {
            Some(e) => sanitize(e).into_owned(),
            None => overview::issues_line(&s.counts),
        };
        let dash = |t: String| if t.is_empty() { "-".to_string() } else { t };
        cells.push(vec![
            sanitize(&s.profile).into_owned(),
            s.vendor.id().to_string(),
            sanitize(&s.tenant).into_owned(),
            r.state(),
            s.load_ms.map_or("-".into(), |ms| format!("{ms} ms")),
            dash(overview::objects_line(&s.counts)),
            dash(overview::badges(s).join(" ")),
            dash(issues),
        ]);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            cells
                .iter()
                .map(|l| l[i].width())
                .max()
                .unwrap_or(0)
                .min(caps[i])
        })
        .collect();
    let mut text = String::new();
    for line in &cells {
        let mut l = String::new();
        for (i, cell) in line.iter().enumerate() {
            let cut = crate::text::fit(cell, widths[i]);
            l.push_str(&cut);
            if i + 1 < line.len() {
                l.push_str(&" ".repeat(widths[i].saturating_sub(cut.width()) + 2));
            }
        }
        text.push_str(l.trim_end());
        text.push('\n');
    }
    for r in rows {
        let s = &r.summary;
        let profile = sanitize(&s.profile);
        match &s.load_error {
            Some(e) if s.no_secret => {
                text.push_str(&format!("NO SECRET    {profile}: {}\n", sanitize(e)));
            }
            Some(e) => text.push_str(&format!("LOAD FAILED  {profile}: {}\n", sanitize(e))),
            None => {}
        }
    }
    for r in rows {
        for o in &r.unhealthy {
            text.push_str(&format!(
                "UNHEALTHY  {}  {}  {}: {}\n",
                sanitize(&r.summary.profile),
                sanitize(&o.as_ref().label()),
                sanitize(&o.id),
                sanitize(&why_unhealthy(o))
            ));
        }
    }
    let count = |f: fn(&Checked) -> bool| rows.iter().filter(|r| f(r)).count();
    let unhealthy: usize = rows.iter().map(|r| r.summary.counts.unhealthy).sum();
    text.push_str(&format!(
        "{} profile(s): {} unhealthy object(s), {} failed to load, {} without a secret, {} unsupported\n",
        rows.len(),
        unhealthy,
        count(|r| r.summary.load_error.is_some() && !r.summary.no_secret),
        count(|r| r.summary.no_secret),
        count(|r| r.unsupported),
    ));
    text
}

/// One overview row in JSON: the summary and its state word.
#[derive(Serialize)]
struct JsonRow<'a> {
    #[serde(flatten)]
    summary: &'a ProfileSummary,
    state: String,
    unsupported: bool,
}

/// One unhealthy object in JSON.
#[derive(Serialize)]
struct JsonUnhealthy<'a> {
    profile: &'a str,
    vendor: VendorId,
    kind: Kind,
    id: &'a str,
    name: &'a str,
    why: String,
}

#[derive(Serialize)]
struct JsonReport<'a> {
    profiles: Vec<JsonRow<'a>>,
    unhealthy: Vec<JsonUnhealthy<'a>>,
}

/// `{"profiles": [...], "unhealthy": [...]}`, exact strings.
fn json_text(rows: &[Checked]) -> serde_json::Result<String> {
    let report = JsonReport {
        profiles: rows
            .iter()
            .map(|r| JsonRow {
                summary: &r.summary,
                state: r.state(),
                unsupported: r.unsupported,
            })
            .collect(),
        unhealthy: rows
            .iter()
            .flat_map(|r| {
                r.unhealthy.iter().map(|o| JsonUnhealthy {
                    profile: &r.summary.profile,
                    vendor: r.summary.vendor,
                    kind: o.kind,
                    id: &o.id,
                    name: &o.name,
                    why: why_unhealthy(o),
                })
            })
            .collect(),
    };
    let mut text = serde_json::to_string_pretty(&report)?;
    text.push('\n');
    Ok(text)
}

/// A label value in the text exposition format: backslash, double quote and newline escaped.
fn label_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// A per-profile gauge: its name, help, and value for a row (`None`: no sample).
type Gauge = (&'static str, &'static str, fn(&Checked) -> Option<f64>);

/// Gauges that exist only for a loaded profile.
fn loaded(r: &Checked, f: fn(&Counts) -> usize) -> Option<f64> {
    r.summary.loaded_at.map(|_| f(&r.summary.counts) as f64)
}

const GAUGES: &[Gauge] = &[
    (
        "dsconsole_up",
        "1 when the profile loaded, 0 when it failed, has no secret or is unsupported.",
        |r| {
            Some(if r.summary.loaded_at.is_some() {
                1.0
            } else {
                0.0
            })
        },
    ),
    (
        "dsconsole_unhealthy",
        "Objects with a failed connection test, unhealthy at the vendor, or a failed sync.",
        |r| loaded(r, |c| c.unhealthy),
    ),
    (
        "dsconsole_sync_failed",
        "Objects whose last sync failed.",
        |r| loaded(r, |c| c.sync_failed),
    ),
    (
        "dsconsole_sync_stale",
        "Objects whose last successful sync is older than 24 hours, or that never synced.",
        |r| loaded(r, |c| c.sync_stale),
    ),
    (
        "dsconsole_never_tested",
        "Connections the vendor can test that were never tested.",
        |r| loaded(r, |c| c.never_tested),
    ),
    ("dsconsole_orphans", "Objects nothing uses.", |r| {
        loaded(r, |c| c.orphans)
    }),
    (
        "dsconsole_usage_unknown",
        "Objects whose users could not all be read.",
        |r| loaded(r, |c| c.usage_unknown),
    ),
    (
        "dsconsole_load_seconds",
        "How long the last load of the profile took.",
        |r| r.summary.load_ms.map(|ms| ms as f64 / 1000.0),
    ),
    (
        "dsconsole_last_load_timestamp_seconds",
        "Unix time of the last successful load of the profile.",
        |r| r.summary.loaded_at.map(|t| t as f64),
    ),
];

/// Gauges per profile (and per kind for objects), HELP and TYPE once per metric.
fn prometheus_text(rows: &[Checked]) -> String {
    let mut text = String::new();
    let labels = |r: &Checked| {
        format!(
            "profile=\"{}\",vendor=\"{}\"",
            label_value(&r.summary.profile),
            r.summary.vendor.id()
        )
    };
    text.push_str("# HELP dsconsole_objects Objects of a kind in the profile.\n");
    text.push_str("# TYPE dsconsole_objects gauge\n");
    for r in rows.iter().filter(|r| r.summary.loaded_at.is_some()) {
        for (kind, n) in &r.summary.counts.objects {
            text.push_str(&format!(
                "dsconsole_objects{{{},kind=\"{}\"}} {n}\n",
                labels(r),
                kind.id()
            ));
        }
    }
    for (name, help, value) in GAUGES {
        text.push_str(&format!("# HELP {name} {help}\n# TYPE {name} gauge\n"));
        for r in rows {
            if let Some(v) = value(r) {
                text.push_str(&format!("{name}{{{}}} {v}\n", labels(r)));
            }
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, vendor: VendorId) -> Checked {
        let mut c = Checked {
            summary: ProfileSummary {
                new_unhealthy: 0,
                looked_at: None,
                profile: name.into(),
                vendor,
                tenant: "acme.example.com".into(),
                counts: Counts {
                    objects: vec![(Kind::Datasources, 3), (Kind::Connections, 2)],
                    ..Counts::default()
                },
                impact_unknown: 0,
                load_error: None,
                warnings: 0,
                loaded_at: Some(1_700_000_000),
                load_ms: Some(1250),
                read_only: false,
                protected: false,
                no_secret: false,
            },
            unsupported: false,
            unhealthy: Vec::new(),
        };
        c.summary.counts.orphans = 1;
        c
    }

    #[test]
    fn label_values_escape_backslash_quote_and_newline() {
        assert_eq!(label_value("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
        assert_eq!(label_value("prod-eu"), "prod-eu");
    }

    #[test]
    fn prometheus_has_help_and_type_once_and_samples_per_profile() {
        let ok = row("we\"ird\nname", VendorId::Qlik);
        let mut failed = row("down", VendorId::MicroStrategy);
        failed.summary.loaded_at = None;
        failed.summary.load_ms = None;
        failed.summary.load_error = Some("HTTP 503".into());
        let text = prometheus_text(&[ok, failed]);
        for name in [
            "dsconsole_objects",
            "dsconsole_up",
            "dsconsole_load_seconds",
        ] {
            let helps = text
                .lines()
                .filter(|l| l.starts_with(&format!("# HELP {name} ")))
                .count();
            let types = text
                .lines()
                .filter(|l| *l == format!("# TYPE {name} gauge"))
                .count();
            assert_eq!((helps, types), (1, 1), "{name}:\n{text}");
        }
        assert!(text.contains(
            "dsconsole_objects{profile=\"we\\\"ird\\nname\",vendor=\"qlik\",kind=\"datasources\"} 3\n"
        ));
        assert!(text.contains("dsconsole_up{profile=\"down\",vendor=\"microstrategy\"} 0\n"));
        assert!(text.contains(
            "dsconsole_load_seconds{profile=\"we\\\"ird\\nname\",vendor=\"qlik\"} 1.25\n"
        ));
        assert!(
            !text.contains("dsconsole_orphans{profile=\"down\""),
            "{text}"
        );
        assert!(text.contains("dsconsole_last_load_timestamp_seconds{profile=\"we\\\"ird\\nname\",vendor=\"qlik\"} 1700000000\n"));
    }

    #[test]
    fn table_sorts_worst_first_and_shows_no_control_characters() {
        let ok = row("ok\x1b[2J", VendorId::Basedash);
        let mut bad = row("bad", VendorId::Databrain);
        bad.summary.counts.unhealthy = 1;
        let mut obj = Resource::new(VendorId::Databrain, "bad", Kind::Datasources, "D1", "x\ry");
        obj.health = Health::Unhealthy("refused\x1b[1A".into());
        bad.unhealthy.push(obj);
        let mut nosecret = row("nosecret", VendorId::Qlik);
        nosecret.summary.no_secret = true;
        nosecret.summary.loaded_at = None;
        nosecret.summary.load_error = Some("environment variable T is not set".into());
        let mut rows = vec![ok, bad, nosecret];
        rows.sort_by(|a, b| overview::severity_order(&a.summary, &b.summary));
        let text = table_text(&rows);
        let firsts: Vec<&str> = text
            .lines()
            .skip(1)
            .take(3)
            .map(|l| l.split_whitespace().next().unwrap_or(""))
            .collect();
        assert_eq!(firsts, ["nosecret", "bad", "ok␛[2J"], "{text}");
        assert!(text.contains("NO SECRET    nosecret: environment variable T is not set"));
        assert!(
            text.contains("UNHEALTHY  bad  datasource 'x␍y'  D1: refused␛[1A"),
            "{text}"
        );
        assert!(text.lines().all(crate::text::is_clean), "{text:?}");
    }
}
