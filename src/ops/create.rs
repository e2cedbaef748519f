//! Creating one object, audited: a line before the request (and one before each request the
//! client re-sends), one after.

use crate::model::{Kind, Resource};
use crate::ops::audit::{AuditEntry, AuditLog};
use crate::ops::request_lines::RequestLines;
use crate::vendors::{request_audit, ApiError, VendorApi};
use std::sync::Arc;

/// Create one object from a vendor wire-format body with an audit line before the request
/// and one after it. If the "before" line cannot be written, nothing is sent.
pub async fn create_audited(
    client: &dyn VendorApi,
    audit: &Arc<AuditLog>,
    profile: String,
    kind: Kind,
    body: serde_json::Value,
) -> Result<Resource, ApiError> {
    let entry = AuditEntry {
        extra: Default::default(),
        impact: None,
        profile,
        vendor: client.vendor(),
        operation: "create".into(),
        kind,
        id: String::new(),
        name: body
            .get("name")
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string(),
        object: body.clone(),
    };
    let lines = RequestLines::new(audit.clone());
    let seq = lines.begin(0, &entry).map_err(|e| ApiError::Setup {
        vendor: client.vendor(),
        message: format!("audit log not writable; not sent: {e}"),
    })?;
    let result = request_audit::scoped(lines.scope(vec![0]), client.create(kind, body)).await;
    let (outcome, error) = match &result {
        Ok(_) => ("created", None),
        Err(e) => ("failed", Some(e.to_string())),
    };
    if let Err(e) = audit.after(seq, &entry, outcome, error.as_deref()) {
        tracing::error!("audit log write failed after create: {e}");
    }
    lines.finish(0, outcome, error.as_deref());
    result
}
