//! One audit line per request: the executor's line covers the first request of each call to
//! a client; every further object-changing request the client sends for the same object (a
//! DELETE re-sent after a re-login, the single DELETE after a refused bulk request) gets its
//! own "before" line, numbered, through the hook in `vendors::request_audit`.

use crate::ops::audit::{AuditEntry, AuditLog};
use crate::vendors::request_audit::RequestAudit;
use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

/// The request count and open extra lines of each object of one run, by a caller-chosen key
/// (the plan step index).
pub struct RequestLines {
    audit: Arc<AuditLog>,
    steps: Mutex<HashMap<usize, StepLines>>,
}

#[derive(Default)]
struct StepLines {
    /// Requests written for this object so far (the number of its last line).
    sent: u32,
    /// The caller's line is written and its request not yet seen.
    first_pending: bool,
    /// The object while a call is in flight (None between calls).
    entry: Option<AuditEntry>,
    /// Extra lines of the call in flight, closed by `finish`.
    extra: Vec<u64>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl RequestLines {
    pub fn new(audit: Arc<AuditLog>) -> Arc<RequestLines> {
        Arc::new(RequestLines {
            audit,
            steps: Mutex::new(HashMap::new()),
        })
    }

    /// Write the "before" line of the next call for `key` (its attempt number counts every
    /// request sent for it so far). Returns the line's sequence id for `AuditLog::after`.
    pub fn begin(&self, key: usize, entry: &AuditEntry) -> io::Result<u64> {
        let mut steps = lock(&self.steps);
        let s = steps.entry(key).or_default();
        let seq = self.audit.before_attempt(entry, s.sent + 1, None)?;
        s.sent += 1;
        s.first_pending = true;
        s.entry = Some(entry.clone());
        Ok(seq)
    }

    /// Close the extra lines of `key`'s call with the call's outcome.
    pub fn finish(&self, key: usize, outcome: &str, error: Option<&str>) {
        let (entry, extra) = {
            let mut steps = lock(&self.steps);
            let Some(s) = steps.get_mut(&key) else {
                return;
            };
            s.first_pending = false;
            (s.entry.take(), std::mem::take(&mut s.extra))
        };
        let Some(entry) = entry else {
            return;
        };
        for seq in extra {
            if let Err(e) = self.audit.after(seq, &entry, outcome, error) {
                tracing::warn!("audit log: could not record the outcome of a re-sent request: {e}");
            }
        }
    }

    /// The hook for one client call covering `keys` (one step, or a bulk chunk).
    pub fn scope(self: &Arc<Self>, keys: Vec<usize>) -> Arc<dyn RequestAudit> {
        Arc::new(Scope {
            lines: self.clone(),
            keys,
        })
    }
}

struct Scope {
    lines: Arc<RequestLines>,
    keys: Vec<usize>,
}

impl RequestAudit for Scope {
    fn before_request(&self, method: &str, path: &str) -> Result<(), String> {
        let segments: Vec<String> = path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(percent_decode)
            .collect();
        let mut steps = lock(&self.lines.steps);
        // A request naming objects in its path is for those; one naming none (a bulk POST,
        // a delete by body) is for every object of the call.
        let named: Vec<usize> = self
            .keys
            .iter()
            .copied()
            .filter(|k| {
                steps
                    .get(k)
                    .and_then(|s| s.entry.as_ref())
                    .is_some_and(|e| !e.id.is_empty() && segments.contains(&e.id))
            })
            .collect();
        let targets = if named.is_empty() { &self.keys } else { &named };
        let request = format!("{method} {path}");
        for k in targets {
            let Some(s) = steps.get_mut(k) else {
                continue;
            };
            let Some(entry) = s.entry.as_ref() else {
                continue;
            };
            if s.first_pending {
                s.first_pending = false;
                continue;
            }
            let seq = self
                .lines
                .audit
                .before_attempt(entry, s.sent + 1, Some(&request))
                .map_err(|e| e.to_string())?;
            s.sent += 1;
            s.extra.push(seq);
        }
        Ok(())
    }
}

/// `%XX` escapes decoded (invalid ones kept as they are).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(b) = hex {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Kind, VendorId};
    use crate::vendors::request_audit::{before_request, scoped};
    use serde_json::Value;

    fn entry(id: &str) -> AuditEntry {
        AuditEntry {
            extra: Default::default(),
            impact: None,
            profile: "p".into(),
            vendor: VendorId::Qlik,
            operation: "delete".into(),
            kind: Kind::Connections,
            id: id.into(),
            name: format!("n-{id}"),
            object: serde_json::json!({"id": id}),
        }
    }

    fn lines_of(audit: &AuditLog) -> Vec<Value> {
        audit
            .recent()
            .iter()
            .map(|l| serde_json::from_str(l).expect("json line"))
            .collect()
    }

    #[test]
    fn percent_escapes_are_decoded() {
        assert_eq!(percent_decode("a%20b%2Fc"), "a b/c");
        assert_eq!(percent_decode("bad%zz%4"), "bad%zz%4");
        assert_eq!(percent_decode("%41"), "A");
    }

    #[tokio::test]
    async fn a_request_resent_for_one_object_gets_its_own_numbered_line() {
        let audit = Arc::new(AuditLog::disabled());
        let lines = RequestLines::new(audit.clone());
        let first = lines.begin(0, &entry("abc")).expect("line");
        scoped(lines.scope(vec![0]), async {
            before_request("DELETE", "/api/datasources/abc").expect("first");
            before_request("DELETE", "/api/datasources/abc").expect("re-sent");
        })
        .await;
        audit
            .after(first, &entry("abc"), "deleted", None)
            .expect("after");
        lines.finish(0, "deleted", None);
        let l = lines_of(&audit);
        let before: Vec<&Value> = l.iter().filter(|v| v["phase"] == "before").collect();
        assert_eq!(before.len(), 2, "{l:?}");
        assert_eq!(before[0]["attempt"], 1);
        assert_eq!(before[1]["attempt"], 2);
        assert_eq!(before[1]["request"], "DELETE /api/datasources/abc");
        let after: Vec<&Value> = l.iter().filter(|v| v["phase"] == "after").collect();
        assert_eq!(after.len(), 2, "every line is closed: {l:?}");
        // A retry by the caller continues the numbering.
        lines.begin(0, &entry("abc")).expect("line");
        let last = lines_of(&audit).pop().expect("line");
        assert_eq!(last["attempt"], 3);
    }

    #[tokio::test]
    async fn a_bulk_request_is_covered_by_each_objects_line_and_single_fallbacks_get_new_ones() {
        let audit = Arc::new(AuditLog::disabled());
        let lines = RequestLines::new(audit.clone());
        for (k, id) in ["a", "b", "c"].iter().enumerate() {
            lines.begin(k, &entry(id)).expect("line");
        }
        scoped(lines.scope(vec![0, 1, 2]), async {
            before_request("POST", "/api/v1/items/actions/delete").expect("bulk");
            before_request("DELETE", "/api/v1/data-connections/b").expect("single");
        })
        .await;
        let l = lines_of(&audit);
        let before: Vec<&Value> = l.iter().filter(|v| v["phase"] == "before").collect();
        assert_eq!(before.len(), 4, "{l:?}");
        assert_eq!(before[3]["id"], "b");
        assert_eq!(before[3]["attempt"], 2);
        assert_eq!(before[3]["request"], "DELETE /api/v1/data-connections/b");
    }

    #[tokio::test]
    async fn no_line_means_no_request() {
        let audit = Arc::new(AuditLog::failing());
        let lines = RequestLines::new(Arc::new(AuditLog::disabled()));
        lines.begin(0, &entry("x")).expect("line");
        let failing = RequestLines {
            audit,
            steps: Mutex::new(std::mem::take(&mut *lock(&lines.steps))),
        };
        let failing = Arc::new(failing);
        let r = scoped(failing.scope(vec![0]), async {
            before_request("DELETE", "/x")?;
            before_request("DELETE", "/x")
        })
        .await;
        assert!(r.is_err(), "{r:?}");
    }
}
