//! Impact-analysis benchmark: the impact of 1, 100 and 1,000 objects per vendor against
//! the simulators with 20 ms added to every request, the way the console and the CLI run it
//! (`ops::impact_run`, a few objects at a time, each client keeping its vendor's limits).
//!
//! Baseline, measured in the same run against the same simulator: one plain HTTP GET with
//! the same 20 ms (the round trip), times the number of requests the impact sent, as if
//! sent strictly one after another. MicroStrategy searches must run one at a time per
//! session, so its time is bounded below by that sequential floor; Qlik's lineage is
//! limited to 20 requests a minute, so its 1,000-object case is reported as the client's
//! own estimate (and a 10-object run at the real limit shows the pacing holds), while the
//! 1/100/1,000 runs lift the limit to measure everything else.
//!
//! Run: `cargo bench --bench impact` (about a minute, half of it the paced Qlik run).

use dsconsole::impact::{Impact, Verdict};
use dsconsole::model::{Kind, Ref, Resource, VendorId};
use dsconsole::ops::impact_run;
use dsconsole::sim::SimOptions;
use dsconsole::vendors::qlik::QlikClient;
use dsconsole::vendors::{registry, VendorApi};
use std::collections::HashMap;
use std::error::Error;
use std::sync::Arc;
use std::time::{Duration, Instant};

const LATENCY: Duration = Duration::from_millis(20);
const SCALE: usize = 1_200;
const SIZES: [usize; 3] = [1, 100, 1_000];

type Res<T> = Result<T, Box<dyn Error>>;
type SetLatency = Box<dyn Fn(Duration)>;
type RequestCount = Arc<dyn Fn() -> usize + Send + Sync>;

/// What one size measured.
struct Row {
    vendor: &'static str,
    objects: usize,
    wall: Duration,
    requests: usize,
    breaks: usize,
    none: usize,
    unknown: usize,
}

fn verdicts(answers: &HashMap<(Kind, String), Impact>) -> (usize, usize, usize) {
    let mut v = (0, 0, 0);
    for i in answers.values() {
        match i.verdict() {
            Verdict::Breaks => v.0 += 1,
            Verdict::None => v.1 += 1,
            Verdict::Unknown => v.2 += 1,
        }
    }
    v
}

/// The round trip of one plain GET against `url`, with the simulator's latency: the
/// median of 21.
async fn round_trip(url: &str) -> Res<Duration> {
    let http = reqwest::Client::new();
    let mut times = Vec::new();
    for _ in 0..21 {
        let t = Instant::now();
        let _ = http.get(url).send().await?.bytes().await?;
        times.push(t.elapsed());
    }
    times.sort();
    Ok(times[10])
}

fn kind_of(v: VendorId) -> Kind {
    match v {
        VendorId::Qlik => Kind::Connections,
        _ => Kind::Datasources,
    }
}

async fn measure(
    vendor: &'static str,
    api: Arc<dyn VendorApi>,
    all: &[Resource],
    kind: Kind,
    n: usize,
    requests: impl Fn() -> usize,
) -> Res<Row> {
    let refs: Vec<Ref> = all
        .iter()
        .filter(|r| r.kind == kind)
        .take(n)
        .map(Resource::as_ref)
        .collect();
    if refs.len() < n {
        return Err(format!("{vendor}: only {} {kind} to ask about", refs.len()).into());
    }
    let before = requests();
    let t = Instant::now();
    let answers = impact_run::collect(api, all, &refs).await;
    let wall = t.elapsed();
    let (breaks, none, unknown) = verdicts(&answers);
    Ok(Row {
        vendor,
        objects: n,
        wall,
        requests: requests() - before,
        breaks,
        none,
        unknown,
    })
}

fn main() -> Res<()> {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not: skip the minute-long
    // run unless asked for as a benchmark.
    if !std::env::args().any(|a| a == "--bench") {
        println!("impact: run with `cargo bench --bench impact`");
        return Ok(());
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(run())
}

async fn run() -> Res<()> {
    let opts = SimOptions {
        scale: SCALE,
        ..SimOptions::default()
    };
    let mut rows: Vec<(Row, Duration)> = Vec::new();

    // MicroStrategy.
    {
        let sim = dsconsole::sim::microstrategy::start(&opts).await?;
        let v = registry::vendor(VendorId::MicroStrategy);
        let api = dsconsole::vendors::connect(registry::demo_settings(v, &sim.base_url, true))?;
        let all = api.load().await?.resources;
        sim.control.set_latency(LATENCY);
        let rtt = round_trip(&format!("{}/api/status", sim.base_url)).await?;
        for n in SIZES {
            let ctl = sim.control.clone();
            let row = measure(
                "MicroStrategy",
                api.clone(),
                &all,
                Kind::Datasources,
                n,
                move || ctl.requests().len(),
            )
            .await?;
            rows.push((row, rtt));
        }
        eprintln!(
            "MicroStrategy: most searches in flight at once in one session: {}",
            sim.control.max_concurrent_searches()
        );
    }

    // Qlik Cloud: the lineage limit lifted for 1/100/1,000, then 10 at the real limit.
    {
        let sim = dsconsole::sim::qlik::start(&opts).await?;
        sim.control
            .set_lineage_limit(100_000, Duration::from_secs(60));
        let v = registry::vendor(VendorId::Qlik);
        let settings = registry::demo_settings(v, &sim.base_url, true);
        let unpaced: Arc<dyn VendorApi> =
            Arc::new(QlikClient::new(settings.clone())?.with_lineage_limit(0));
        let all = unpaced.load().await?.resources;
        sim.control.set_latency(LATENCY);
        let rtt = round_trip(&format!("{}/api/v1/users/me", sim.base_url)).await?;
        for n in SIZES {
            let ctl = sim.control.clone();
            let row = measure(
                "Qlik Cloud (limit lifted)",
                unpaced.clone(),
                &all,
                kind_of(VendorId::Qlik),
                n,
                move || ctl.requests().len(),
            )
            .await?;
            rows.push((row, rtt));
        }
        sim.control.set_lineage_limit(20, Duration::from_secs(60));
        let paced: Arc<dyn VendorApi> = Arc::new(QlikClient::new(settings)?);
        let ctl = sim.control.clone();
        let row = measure(
            "Qlik Cloud (20/min)",
            paced,
            &all,
            Kind::Connections,
            10,
            move || ctl.requests().len(),
        )
        .await?;
        let lineage_429 = sim
            .control
            .requests()
            .iter()
            .filter(|r| r.path.contains("lineage-graphs") && r.status == 429)
            .count();
        eprintln!("Qlik Cloud at 20/min: lineage 429 answers seen: {lineage_429}");
        eprintln!(
            "Qlik Cloud at 20/min: the client's estimate for 1,000 connections: {} s",
            dsconsole::vendors::qlik_impact::impact_eta(1_000).as_secs()
        );
        rows.push((row, rtt));
    }

    // Databrain and Basedash.
    for id in [VendorId::Databrain, VendorId::Basedash] {
        let v = registry::vendor(id);
        let started = (v.sim.start)(opts.clone()).await?;
        let api = dsconsole::vendors::connect(registry::demo_settings(v, &started.base_url, true))?;
        let all = api.load().await?.resources;
        let name: &'static str = if id == VendorId::Databrain {
            "Databrain"
        } else {
            "Basedash"
        };
        let (latency, count): (SetLatency, RequestCount) = if let Some(s) =
            started.downcast_ref::<dsconsole::sim::databrain::DatabrainSim>()
        {
            let c = s.control.clone();
            let c2 = s.control.clone();
            (
                Box::new(move |d| c.set_latency(d)),
                Arc::new(move || c2.requests().len()),
            )
        } else if let Some(s) = started.downcast_ref::<dsconsole::sim::basedash::BasedashSim>() {
            let c = s.control.clone();
            let c2 = s.control.clone();
            (
                Box::new(move |d| c.set_latency(d)),
                Arc::new(move || c2.requests().len()),
            )
        } else {
            return Err("unexpected simulator".into());
        };
        latency(LATENCY);
        let rtt = round_trip(&started.base_url).await?;
        for n in SIZES {
            let kind = Kind::Datasources;
            let have = all.iter().filter(|r| r.kind == kind).count();
            let n = n.min(have);
            let count = count.clone();
            let row = measure(name, api.clone(), &all, kind, n, move || count()).await?;
            rows.push((row, rtt));
        }
    }

    println!(
        "| vendor | objects | wall | requests | sequential floor (requests × round trip) | breaks / none / unknown |"
    );
    println!("|---|---|---|---|---|---|");
    for (r, rtt) in &rows {
        let floor = *rtt * r.requests as u32;
        println!(
            "| {} | {} | {:.2} s | {} | {:.2} s (round trip {:.1} ms) | {} / {} / {} |",
            r.vendor,
            r.objects,
            r.wall.as_secs_f64(),
            r.requests,
            floor.as_secs_f64(),
            rtt.as_secs_f64() * 1000.0,
            r.breaks,
            r.none,
            r.unknown
        );
    }
    Ok(())
}
