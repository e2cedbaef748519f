//! The append-only audit log: one JSON line before every mutating request (what is about to
//! be changed, with the object's JSON, secrets stripped) and one after it (the outcome), each
//! written and flushed on its own, so a crash mid-run still leaves a record of what was tried.

use crate::model::{Kind, VendorId};
use chrono::{SecondsFormat, Utc};
use serde_json::{json, Map, Value};
use std::collections::VecDeque;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

/// How many of this run's lines `recent()` keeps (the oldest are dropped beyond this).
pub const RECENT_LINES: usize = 10_000;

use crate::redact::strip_secrets;

/// One mutating request, as the audit log records it.
#[derive(Clone, PartialEq)]
pub struct AuditEntry {
    pub profile: String,
    pub vendor: VendorId,
    /// "delete" | "create" | "update" | "restore".
    pub operation: String,
    pub kind: Kind,
    pub id: String,
    pub name: String,
    /// The object as last fetched (or the body sent, for a create). Stripped when written.
    pub object: Value,
    /// The impact the operator was shown for it ("breaks 3 reports in 1 project", "none
    /// found", "unknown: ..."), when it was computed.
    pub impact: Option<String>,
    /// More fields for both lines of the request: `container` (the Qlik space, Basedash
    /// organization the object lived in), `restores` (the audit ref of the delete a restore
    /// undoes). Never secrets.
    pub extra: Map<String, Value>,
}

impl fmt::Debug for AuditEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditEntry")
            .field("profile", &self.profile)
            .field("vendor", &self.vendor)
            .field("operation", &self.operation)
            .field("kind", &self.kind)
            .field("id", &self.id)
            .field("name", &self.name)
            .field("object", &strip_secrets(&self.object))
            .field("impact", &self.impact)
            .field("extra", &self.extra)
            .finish()
    }
}

enum Sink {
    File { path: PathBuf, file: Mutex<File> },
    Memory,
    Failing,
}

/// The audit log of this process. Shared between tasks behind an `Arc`.
pub struct AuditLog {
    sink: Sink,
    /// Identifies this process's lines in a file that several runs append to.
    run: String,
    seq: AtomicU64,
    recent: Mutex<VecDeque<String>>,
    /// Requests whose "before" line is written and whose "after" line is not yet.
    open: Mutex<std::collections::BTreeMap<u64, AuditEntry>>,
}

impl fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditLog")
            .field("path", &self.path())
            .field("run", &self.run)
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave a half-written line behind (each line is
    // one `write_all`), so a poisoned lock is still usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn run_id() -> String {
    format!(
        "{}-{}",
        Utc::now().format("%Y%m%dT%H%M%S%.3fZ"),
        std::process::id()
    )
}

impl AuditLog {
    /// Open (or create) the log at `path` for appending. Creates missing parent directories
    /// (0700 on unix); the file is 0600 on unix.
    pub fn open(path: &Path) -> io::Result<AuditLog> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::DirBuilderExt;
                builder.mode(0o700);
            }
            builder.create(parent)?;
        }
        let mut options = OpenOptions::new();
        options.append(true).create(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let file = options.open(path)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            // An existing file keeps its mode on open; tighten it if others could read it.
            let meta = file.metadata()?;
            if meta.permissions().mode() & 0o077 != 0 {
                if let Err(e) = file.set_permissions(std::fs::Permissions::from_mode(0o600)) {
                    tracing::warn!(
                        "audit log {} is readable by others and its mode could not be changed: {e}",
                        path.display()
                    );
                }
            }
        }
        Ok(AuditLog {
            sink: Sink::File {
                path: path.to_path_buf(),
                file: Mutex::new(file),
            },
            run: run_id(),
            seq: AtomicU64::new(0),
            recent: Mutex::new(VecDeque::new()),
            open: Mutex::new(std::collections::BTreeMap::new()),
        })
    }

    /// A log that writes no file: lines are kept in memory only (`recent()`).
    pub fn disabled() -> AuditLog {
        AuditLog {
            sink: Sink::Memory,
            run: run_id(),
            seq: AtomicU64::new(0),
            recent: Mutex::new(VecDeque::new()),
            open: Mutex::new(std::collections::BTreeMap::new()),
        }
    }

    /// A log whose every write fails, for testing that nothing is sent unaudited.
    pub fn failing() -> AuditLog {
        AuditLog {
            sink: Sink::Failing,
            run: run_id(),
            seq: AtomicU64::new(0),
            recent: Mutex::new(VecDeque::new()),
            open: Mutex::new(std::collections::BTreeMap::new()),
        }
    }

    /// The file written to, if any.
    pub fn path(&self) -> Option<&Path> {
        match &self.sink {
            Sink::File { path, .. } => Some(path),
            Sink::Memory | Sink::Failing => None,
        }
    }

    /// Written and flushed BEFORE a mutating request. Returns the entry's sequence id, which
    /// the matching `after` line repeats. If this fails, the request must not be sent.
    pub fn before(&self, e: &AuditEntry) -> io::Result<u64> {
        self.before_attempt(e, 1, None)
    }

    /// `before` for the `attempt`-th request (1-based, counting every request sent for this
    /// object in this run); `request` ("DELETE /api/…") when the client sent it on its own,
    /// e.g. re-sent after a re-login.
    pub fn before_attempt(
        &self,
        e: &AuditEntry,
        attempt: u32,
        request: Option<&str>,
    ) -> io::Result<u64> {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        let mut line = self.common(seq, "before", e);
        line.insert("attempt".into(), Value::from(attempt));
        if let Some(r) = request {
            line.insert("request".into(), Value::String(r.to_string()));
        }
        line.insert("object".into(), strip_secrets(&e.object));
        if let Some(i) = &e.impact {
            line.insert("impact".into(), Value::String(i.clone()));
        }
        self.write_line(Value::Object(line))?;
        lock(&self.open).insert(seq, e.clone());
        Ok(seq)
    }

    /// Close every request still open with outcome "unknown" and `reason`: for a process
    /// stopping (SIGTERM, SIGHUP) while requests are in flight, whose answers it will never
    /// see. Returns how many were closed.
    pub fn settle_open(&self, reason: &str) -> usize {
        let open: Vec<(u64, AuditEntry)> =
            std::mem::take(&mut *lock(&self.open)).into_iter().collect();
        let n = open.len();
        for (seq, e) in open {
            if let Err(err) = self.after(seq, &e, "unknown", Some(reason)) {
                tracing::error!(
                    "audit log: cannot record the unknown outcome of {}: {err}",
                    e.name
                );
            }
        }
        n
    }

    /// Written and flushed after the request: `outcome` is "deleted" | "already_gone" |
    /// "soft_deleted" | "created" | "failed" | "unknown", with the error sentence if any.
    pub fn after(
        &self,
        seq: u64,
        e: &AuditEntry,
        outcome: &str,
        error: Option<&str>,
    ) -> io::Result<()> {
        lock(&self.open).remove(&seq);
        let mut line = self.common(seq, "after", e);
        line.insert("outcome".into(), Value::String(outcome.to_string()));
        if let Some(err) = error {
            line.insert("error".into(), Value::String(err.to_string()));
        }
        self.write_line(Value::Object(line))
    }

    /// This run's lines (for the log pane), newest last; at most `RECENT_LINES`.
    pub fn recent(&self) -> Vec<String> {
        lock(&self.recent).iter().cloned().collect()
    }

    fn common(&self, seq: u64, phase: &str, e: &AuditEntry) -> Map<String, Value> {
        let v = json!({
            "time": Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
            "run": self.run,
            "seq": seq,
            "phase": phase,
            "profile": e.profile,
            "vendor": e.vendor.id(),
            "operation": e.operation,
            "kind": e.kind.id(),
            "id": e.id,
            "name": e.name,
        });
        match v {
            Value::Object(mut m) => {
                for (k, v) in &e.extra {
                    m.entry(k.clone()).or_insert_with(|| v.clone());
                }
                m
            }
            _ => Map::new(),
        }
    }

    fn write_line(&self, v: Value) -> io::Result<()> {
        let mut text = v.to_string();
        match &self.sink {
            Sink::Failing => {
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    "audit log is not writable",
                ))
            }
            Sink::Memory => {}
            Sink::File { file, .. } => {
                text.push('\n');
                let mut f = lock(file);
                f.write_all(text.as_bytes())?;
                f.flush()?;
                text.pop();
            }
        }
        let mut recent = lock(&self.recent);
        if recent.len() >= RECENT_LINES {
            recent.pop_front();
        }
        recent.push_back(text);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(object: Value) -> AuditEntry {
        AuditEntry {
            extra: Default::default(),
            impact: None,
            profile: "prod".into(),
            vendor: VendorId::MicroStrategy,
            operation: "delete".into(),
            kind: Kind::Logins,
            id: "L1".into(),
            name: "etl login".into(),
            object,
        }
    }

    fn read_lines(path: &Path) -> Vec<Value> {
        let text = std::fs::read_to_string(path).expect("read audit file");
        text.lines()
            .map(|l| serde_json::from_str(l).expect("every line is JSON"))
            .collect()
    }

    #[test]
    fn lines_are_json_with_before_then_after() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("nested/dir/audit.jsonl");
        let log = AuditLog::open(&path).expect("open");
        assert_eq!(log.path(), Some(path.as_path()));
        let e = entry(json!({"id": "L1", "name": "etl login"}));
        let seq = log.before(&e).expect("before");
        log.after(seq, &e, "deleted", None).expect("after");

        let lines = read_lines(&path);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["phase"], "before");
        assert_eq!(lines[1]["phase"], "after");
        assert_eq!(lines[0]["seq"], lines[1]["seq"]);
        assert_eq!(lines[0]["vendor"], "microstrategy");
        assert_eq!(lines[0]["kind"], "logins");
        assert_eq!(lines[0]["operation"], "delete");
        assert_eq!(lines[0]["id"], "L1");
        assert_eq!(lines[0]["name"], "etl login");
        assert_eq!(lines[0]["object"]["name"], "etl login");
        assert!(lines[1].get("object").is_none());
        assert_eq!(lines[1]["outcome"], "deleted");
        assert!(lines[1].get("error").is_none());
        assert!(lines[0].get("outcome").is_none());
        let t = lines[0]["time"].as_str().expect("time is a string");
        assert!(chrono::DateTime::parse_from_rfc3339(t).is_ok(), "{t}");
        assert!(t.ends_with('Z'));
        assert_eq!(log.recent().len(), 2);
    }

    #[test]
    fn error_sentence_is_recorded_after() {
        let log = AuditLog::disabled();
        let e = entry(json!({}));
        let seq = log.before(&e).expect("before");
        log.after(
            seq,
            &e,
            "failed",
            Some("MicroStrategy: HTTP 400 ERR004: in use"),
        )
        .expect("after");
        let last: Value = serde_json::from_str(&log.recent()[1]).expect("json");
        assert_eq!(last["outcome"], "failed");
        assert_eq!(last["error"], "MicroStrategy: HTTP 400 ERR004: in use");
        assert_eq!(log.path(), None);
    }

    #[test]
    fn login_password_never_reaches_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.jsonl");
        let log = AuditLog::open(&path).expect("open");
        let e = entry(json!({
            "id": "L1", "name": "etl", "username": "etl_user", "password": "hunter2",
            "nested": {"clientSecret": "s3cr3t-value", "list": [{"api_key": "k-123456"}]},
            "connectionString": "DSN=x;UID=etl;PWD=pa55word;DB=y"
        }));
        let seq = log.before(&e).expect("before");
        log.after(seq, &e, "deleted", None).expect("after");
        let text = std::fs::read_to_string(&path).expect("read");
        for secret in ["hunter2", "s3cr3t-value", "k-123456", "pa55word"] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        assert!(text.contains("etl_user"), "non-secret fields are kept");
        assert!(
            !format!("{e:?}").contains("hunter2"),
            "Debug leaks the password"
        );
    }

    #[test]
    fn reopening_appends() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.jsonl");
        let e = entry(json!({}));
        {
            let log = AuditLog::open(&path).expect("open");
            log.before(&e).expect("before");
        }
        let log = AuditLog::open(&path).expect("reopen");
        let seq = log.before(&e).expect("before");
        log.after(seq, &e, "failed", Some("x")).expect("after");
        assert_eq!(read_lines(&path).len(), 3);
        assert_eq!(
            log.recent().len(),
            2,
            "recent() holds only this run's lines"
        );
    }

    #[cfg(unix)]
    #[test]
    fn file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.jsonl");
        std::fs::write(&path, "").expect("precreate");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let _log = AuditLog::open(&path).expect("open");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn failing_log_refuses_writes() {
        let log = AuditLog::failing();
        assert!(log.before(&entry(json!({}))).is_err());
        assert!(log.recent().is_empty());
    }

    #[test]
    fn open_requests_are_settled_as_unknown_when_the_process_stops() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.jsonl");
        let log = AuditLog::open(&path).expect("open");
        let e = AuditEntry {
            extra: Default::default(),
            impact: None,
            profile: "p".into(),
            vendor: VendorId::MicroStrategy,
            operation: "delete".into(),
            kind: Kind::Datasources,
            id: "D1".into(),
            name: "Sales".into(),
            object: serde_json::json!({}),
        };
        let a = log.before(&e).expect("before");
        let _b = log.before(&e).expect("before");
        log.after(a, &e, "deleted", None).expect("after");
        assert_eq!(log.settle_open("process stopped (SIGTERM)"), 1);
        assert_eq!(log.settle_open("again"), 0);
        let text = std::fs::read_to_string(&path).expect("read");
        let last: serde_json::Value =
            serde_json::from_str(text.lines().last().unwrap_or("")).expect("json");
        assert_eq!(last["outcome"], "unknown");
        assert_eq!(last["phase"], "after");
        assert!(last["error"]
            .as_str()
            .is_some_and(|e| e.contains("SIGTERM")));
    }
}
