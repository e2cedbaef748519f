//! Streaming loads: paged vendors send each page as it arrives, and the pages add up to the
//! final snapshot.
// These run the built-in simulators, which need the `sim` feature (on by default).
#![cfg(feature = "sim")]

mod common {
    pub mod settings;
}

use dsconsole::model::{Resource, VendorId};
use dsconsole::sim::{self, SimOptions};
use dsconsole::vendors::{self, ClientSettings, VendorApi};
use std::collections::HashSet;
use std::sync::Arc;

fn settings(vendor: VendorId, base_url: &str, token: &str) -> ClientSettings {
    common::settings::client(&format!("stream-{}", vendor.id()), vendor, base_url, token)
}

/// Load with a page sink; return (pages received, ids seen in pages, final ids).
async fn stream(api: Arc<dyn VendorApi>) -> (usize, HashSet<String>, Vec<Resource>) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let snap = api.load_streaming(tx).await.expect("load");
    let mut pages = 0;
    let mut ids = HashSet::new();
    while let Ok(page) = rx.try_recv() {
        pages += 1;
        ids.extend(page.into_iter().map(|r| format!("{}/{}", r.kind, r.id)));
    }
    (pages, ids, snap.resources)
}

fn assert_pages_cover(
    label: &str,
    pages: usize,
    ids: &HashSet<String>,
    all: &[Resource],
    min_pages: usize,
) {
    assert!(pages >= min_pages, "{label}: {pages} pages");
    for r in all.iter().filter(|r| {
        r.kind == dsconsole::model::Kind::Datasources
            || r.kind == dsconsole::model::Kind::Connections
    }) {
        assert!(
            ids.contains(&format!("{}/{}", r.kind, r.id)),
            "{label}: {} never streamed",
            r.id
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paged_vendors_stream_every_page() {
    let opts = SimOptions {
        scale: 250,
        ..SimOptions::default()
    };
    let qlik = sim::qlik::start(&opts).await.expect("qlik sim");
    let api = vendors::connect(settings(
        VendorId::Qlik,
        &qlik.base_url,
        sim::qlik::DEMO_TOKEN,
    ))
    .expect("client");
    let (pages, ids, all) = stream(api).await;
    assert_pages_cover("qlik", pages, &ids, &all, 3);

    let bd = sim::basedash::start(&opts).await.expect("basedash sim");
    let api = vendors::connect(settings(
        VendorId::Basedash,
        &bd.base_url,
        sim::basedash::DEMO_TOKEN,
    ))
    .expect("client");
    let (pages, ids, all) = stream(api).await;
    assert_pages_cover("basedash", pages, &ids, &all, 3);

    let db = sim::databrain::start(&opts).await.expect("databrain sim");
    let api = vendors::connect(settings(
        VendorId::Databrain,
        &db.base_url,
        sim::databrain::DEMO_TOKEN,
    ))
    .expect("client");
    let (pages, ids, all) = stream(api).await;
    assert_pages_cover("databrain", pages, &ids, &all, 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_qlik_space_id_becomes_the_starting_filter() {
    let qlik = sim::qlik::start(&SimOptions::default())
        .await
        .expect("qlik sim");
    let mut s = settings(VendorId::Qlik, &qlik.base_url, sim::qlik::DEMO_TOKEN);
    // "Finance Analytics" in assets/qlik.json.
    s.options.set_value("space_id", "65cf6b6c51618b6abd5848d1");
    let api = vendors::connect(s).expect("client");
    assert_eq!(
        api.start_filter(),
        None,
        "known only once the spaces are loaded"
    );
    let all = api.load().await.expect("load").resources;
    let filter = api.start_filter().expect("a starting filter");
    assert_eq!(filter, "^Finance\\ Analytics$");
    let mut f = dsconsole::filter::RowFilter::new(&filter);
    let shown: Vec<&Resource> = all
        .iter()
        .filter(|r| dsconsole::app::state::with_search_fields(r, |fields| f.matches_fields(fields)))
        .collect();
    assert!(!shown.is_empty());
    assert!(shown
        .iter()
        .all(|r| r.container.as_deref() == Some("Finance Analytics")));
    assert!(shown.len() < all.len());
}

/// `load_each` hands over every object once, in order, linked and redacted exactly as
/// `load().redacted()` holds it: MicroStrategy's own slim pass, and the default for others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_each_hands_over_what_load_redacted_holds() {
    let opts = SimOptions {
        scale: 300,
        ..SimOptions::default()
    };
    let mstr = sim::microstrategy::start(&opts).await.expect("mstr sim");
    let qlik = sim::qlik::start(&opts).await.expect("qlik sim");
    for (vendor, base) in [
        (VendorId::MicroStrategy, &mstr.base_url),
        (VendorId::Qlik, &qlik.base_url),
    ] {
        let api = vendors::connect(common::settings::demo("each", vendor, base)).expect("client");
        let snap = api.load().await.expect("load").redacted();
        let mut seen = Vec::new();
        let warnings = api
            .load_each(&mut |r| {
                seen.push(r);
                true
            })
            .await
            .expect("load_each");
        assert_eq!(warnings, snap.warnings, "{vendor}");
        assert_eq!(seen.len(), snap.resources.len(), "{vendor}");
        if vendor == VendorId::MicroStrategy {
            assert!(seen.iter().any(|r| !r.used_by.is_empty()), "linked");
            assert!(seen.iter().any(|r| r.is_orphan()), "orphans found");
        }
        for (a, b) in seen.iter().zip(&snap.resources) {
            assert_eq!(a, b, "{vendor}");
            assert_eq!(a.raw.text(), b.raw.text(), "{vendor}: same text");
        }
        // `false` stops the visit.
        let mut n = 0;
        api.load_each(&mut |_| {
            n += 1;
            n < 5
        })
        .await
        .expect("load_each");
        assert_eq!(n, 5, "{vendor}");
    }
}
