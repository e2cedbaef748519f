//! "Test everything": every health check a vendor offers (`VendorApi::check_health`) over a
//! list of objects, at a bounded concurrency, stoppable, and turned into health by one rule.
//! MicroStrategy connection tests, Basedash verify and Databrain sync all run this way.
//!
//! Read-only profiles may run them: a check changes no object's definition (a test, a
//! verify without saving, a sync of the cached schema), and each client lets exactly its
//! check calls through the read-only guard of its `HttpCore`.

use crate::model::{Health, Ref, Resource};
use crate::vendors::{HealthCheck, VendorApi, VendorSpec};
use futures::stream::{self, StreamExt};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

pub use super::connection_tests::TestFailure;

/// The objects of `resources` that have a health check at this vendor, in order.
pub fn checkable<'a>(
    spec: &VendorSpec,
    resources: impl IntoIterator<Item = &'a Resource>,
) -> Vec<Ref> {
    resources
        .into_iter()
        .filter(|r| spec.health_checks.iter().any(|(k, _)| *k == r.kind))
        .map(Resource::as_ref)
        .collect()
}

/// The health one answer gives its object: `None` when it tells nothing new (no check for
/// it, still running). A check that could not run counts as unhealthy, as connection tests
/// always have.
pub fn health_of(result: &Result<HealthCheck, TestFailure>) -> Option<Health> {
    match result {
        Ok(check) => check.health(),
        // A check the profile cannot ask (a missing setting) says nothing of the object.
        Err(e) if e.setup => None,
        Err(e) => Some(Health::Unhealthy(e.reason.clone().into())),
    }
}

/// Check each of `targets`, at most `concurrency` at once, handing each answer to `each`
/// as it arrives. Objects without a check answer `Ok(NotOffered)` without a request. Once
/// `cancel` fires, checks still running end as "check cancelled".
pub async fn run(
    client: Arc<dyn VendorApi>,
    targets: Vec<Ref>,
    concurrency: usize,
    cancel: CancellationToken,
    mut each: impl FnMut(Ref, Result<HealthCheck, TestFailure>),
) {
    let mut results = stream::iter(targets)
        .map(|target| {
            let client = client.clone();
            let cancel = cancel.clone();
            async move {
                let result = tokio::select! {
                    r = client.check_health(target.clone()) => r.map_err(|e| TestFailure {
                        setup: matches!(e, crate::vendors::ApiError::Setup { .. }),
                        reason: e.reason(),
                        sentence: e.to_string(),
                    }),
                    _ = cancel.cancelled() => Err(TestFailure {
                        setup: false,
                        reason: "check cancelled".into(),
                        sentence: format!("health check of {} cancelled", target.label()),
                    }),
                };
                (target, result)
            }
        })
        .buffer_unordered(concurrency.max(1));
    while let Some((target, result)) = results.next().await {
        each(target, result);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Kind, VendorId};
    use crate::vendors::{ApiError, CheckKind, DeleteOutcome, Snapshot};
    use futures::future::BoxFuture;

    /// Passes "ok", fails "bad" with a reason, cannot check "gone", keeps "slow" running and
    /// never answers "hang".
    struct Fake;

    impl VendorApi for Fake {
        fn vendor(&self) -> VendorId {
            VendorId::Databrain
        }
        fn load(&self) -> BoxFuture<'_, Result<Snapshot, ApiError>> {
            Box::pin(async { Ok(Snapshot::default()) })
        }
        fn get(&self, _: Ref) -> BoxFuture<'_, Result<Resource, ApiError>> {
            unreachable!()
        }
        fn delete(&self, _: Ref) -> BoxFuture<'_, Result<DeleteOutcome, ApiError>> {
            unreachable!()
        }
        fn check_health(&self, target: Ref) -> BoxFuture<'_, Result<HealthCheck, ApiError>> {
            Box::pin(async move {
                let check = CheckKind::Sync;
                match target.id.as_str() {
                    "ok" => Ok(HealthCheck::Passed {
                        check,
                        detail: None,
                    }),
                    "bad" => Ok(HealthCheck::Failed {
                        check,
                        reason: "Error: Bind error data type".into(),
                    }),
                    "slow" => Ok(HealthCheck::Running {
                        check,
                        progress: "3/16".into(),
                    }),
                    "hang" => futures::future::pending().await,
                    _ => Err(ApiError::Http {
                        vendor: VendorId::Databrain,
                        status: 400,
                        code: Some("DATASOURCE_ID_ERROR".into()),
                        message: "Invalid datasource id".into(),
                        ticket: None,
                        retry_after_ms: None,
                    }),
                }
            })
        }
    }

    fn ds(id: &str) -> Ref {
        Ref {
            kind: Kind::Datasources,
            id: id.into(),
            name: id.into(),
        }
    }

    #[tokio::test]
    async fn every_answer_becomes_health_or_nothing_and_cancel_ends_the_rest() {
        let cancel = CancellationToken::new();
        let stop = cancel.clone();
        let mut got = std::collections::BTreeMap::new();
        run(
            Arc::new(Fake),
            ["ok", "bad", "slow", "gone", "hang"]
                .into_iter()
                .map(ds)
                .collect(),
            2,
            cancel,
            |t, r| {
                got.insert(t.id, health_of(&r));
                if got.len() == 4 {
                    stop.cancel();
                }
            },
        )
        .await;
        assert_eq!(got["ok"], Some(Health::Healthy));
        assert_eq!(
            got["bad"],
            Some(Health::Unhealthy("Error: Bind error data type".into()))
        );
        assert_eq!(got["slow"], None, "still running says nothing new");
        assert_eq!(
            got["gone"],
            Some(Health::Unhealthy("Invalid datasource id".into()))
        );
        assert_eq!(
            got["hang"],
            Some(Health::Unhealthy("check cancelled".into()))
        );
    }

    #[test]
    fn checkable_keeps_the_kinds_the_vendor_checks() {
        let r = |kind, id: &str| Resource::new(VendorId::Databrain, "p", kind, id, id);
        let all = [
            r(Kind::Datasources, "a"),
            r(Kind::Datamarts, "m"),
            r(Kind::Datasources, "b"),
        ];
        let ids: Vec<String> = checkable(&crate::vendors::databrain::SPEC, &all)
            .into_iter()
            .map(|t| t.id.to_string())
            .collect();
        assert_eq!(ids, ["a", "b"]);
        assert!(checkable(&crate::vendors::qlik::SPEC, &all).is_empty());
    }
}
