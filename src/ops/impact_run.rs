//! Running impact analysis over many objects: the requests built from the loaded
//! resources, a few objects at a time (each client keeps its own limits: MicroStrategy
//! searches one at a time per session, Qlik paces its lineage calls), answers streamed as
//! they come so a screen can show progress and stop early.

use crate::impact::{targets_for, Impact, ImpactTarget};
use crate::model::{Kind, Ref, Resource};
use crate::vendors::VendorApi;
use futures::stream::{self, Stream, StreamExt};
use std::collections::HashMap;
use std::sync::Arc;

/// Objects whose impact is asked at the same time. Clients serialise or pace what their
/// vendor needs; this only keeps a slow vendor from holding up the rest.
pub const IMPACT_CONCURRENCY: usize = 4;

/// The impact of each of `refs`, as answers arrive (in no particular order).
pub fn stream(
    client: Arc<dyn VendorApi>,
    all: &[Resource],
    refs: &[Ref],
) -> impl Stream<Item = (Ref, Impact)> + Send + 'static {
    stream_targets(client, targets_for(all, refs))
}

/// The impact of each of `targets`, as answers arrive.
pub fn stream_targets(
    client: Arc<dyn VendorApi>,
    targets: Vec<ImpactTarget>,
) -> impl Stream<Item = (Ref, Impact)> + Send + 'static {
    stream::iter(targets)
        .map(move |t| {
            let client = client.clone();
            async move {
                let target = t.target.clone();
                let impact = client.impact(t).await;
                (target, impact)
            }
        })
        .buffer_unordered(IMPACT_CONCURRENCY)
}

/// Every answer, keyed by (kind, id).
pub async fn collect(
    client: Arc<dyn VendorApi>,
    all: &[Resource],
    refs: &[Ref],
) -> HashMap<(Kind, String), Impact> {
    stream(client, all, refs)
        .map(|(r, i)| ((r.kind, r.id.to_string()), i))
        .collect()
        .await
}
