//! Connection tests, the one way for the TUI (`t`) and the CLI (`check`): run at a bounded
//! concurrency, stoppable, and turned into health by one rule.

use crate::model::Health;
use crate::vendors::VendorApi;
use futures::stream::{self, StreamExt};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Why a connection test failed: the vendor's words for the health cell, and the full
/// sentence (vendor, status, code) for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestFailure {
    pub reason: String,
    pub sentence: String,
    /// The check could not even be asked (the profile lacks a setting it needs): it says
    /// nothing about the object's health.
    pub setup: bool,
}

/// The health a test result gives a connection (and the datasources that use it).
pub fn health_of(result: &Result<(), TestFailure>) -> Health {
    match result {
        Ok(()) => Health::Healthy,
        Err(e) => Health::Unhealthy(e.reason.clone().into()),
    }
}

/// Test each of `ids`, at most `concurrency` at once, handing each result to `each` as it
/// arrives. Once `cancel` fires, tests still running end as "test cancelled".
pub async fn run(
    client: Arc<dyn VendorApi>,
    ids: Vec<String>,
    concurrency: usize,
    cancel: CancellationToken,
    mut each: impl FnMut(String, Result<(), TestFailure>),
) {
    let mut results = stream::iter(ids)
        .map(|id| {
            let client = client.clone();
            let cancel = cancel.clone();
            async move {
                let result = tokio::select! {
                    r = client.test_connection(id.clone()) => r.map_err(|e| TestFailure {
                        setup: matches!(e, crate::vendors::ApiError::Setup { .. }),
                        reason: e.reason(),
                        sentence: e.to_string(),
                    }),
                    _ = cancel.cancelled() => Err(TestFailure {
                        setup: false,
                        reason: "test cancelled".into(),
                        sentence: "connection test cancelled".into(),
                    }),
                };
                (id, result)
            }
        })
        .buffer_unordered(concurrency.max(1));
    while let Some((id, result)) = results.next().await {
        each(id, result);
    }
}
