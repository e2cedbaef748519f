//! Where the memory of 100,000 loaded resources goes: a counting global allocator around
//! the system one, the MicroStrategy client loading from `dsconsole sim --scale 33334` (a
//! separate process, so the server's memory is not counted), then the same snapshot fed to
//! the app model exactly as a real load (`Msg::Resize`, `init`, `Msg::Loaded`).
//!
//! Reports bytes requested from the allocator (live and peak, and how many live blocks),
//! which is a lower bound of resident memory (malloc adds per-block overhead and keeps
//! freed memory), and how much of the live model is `Resource::raw` (the server's JSON kept
//! packed in compressed blocks) against the same JSON as compact text. The resident size of the
//! real binary is measured by `benches/terminal.rs`.
//!
//! Run: `cargo bench --bench memory`

use dsconsole::app::msg::Msg;
use dsconsole::app::state::{Model, ProfileInfo};
use dsconsole::app::update::{init, update};
use dsconsole::model::VendorId;
use dsconsole::sim::microstrategy as msim;
use dsconsole::vendors::{self, ClientSettings};
use secrecy::SecretString;
use std::alloc::{GlobalAlloc, Layout, System};
use std::error::Error;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

type Res<T> = Result<T, Box<dyn Error>>;

const SCALE: usize = 33_334;

/// The system allocator, counting live bytes, live blocks and the peak of live bytes.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static BLOCKS: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let now = LIVE.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: every call is forwarded unchanged to `System`; the counters are only statistics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
            BLOCKS.fetch_add(1, Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
            BLOCKS.fetch_add(1, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        BLOCKS.fetch_sub(1, Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn live() -> usize {
    LIVE.load(Ordering::Relaxed)
}

fn mb(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn proc_status_mb(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// `dsconsole sim --scale SCALE` in its own process; returns it and its MicroStrategy URL.
fn start_sim() -> Res<(Child, String)> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dsconsole"))
        .args(["sim", "--scale", &SCALE.to_string()])
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let Some(out) = child.stdout.take() else {
        let _ = child.kill();
        return Err("no stdout from dsconsole sim".into());
    };
    let mut lines = BufReader::new(out).lines();
    while let Some(line) = lines.next().transpose()? {
        if let Some(url) = line
            .strip_prefix("microstrategy ")
            .and_then(|rest| rest.split_whitespace().next())
        {
            // Keep reading (and discarding) the rest: a closed pipe must not end the child.
            std::thread::spawn(move || for _ in lines {});
            return Ok((child, url.to_string()));
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    Err("dsconsole sim printed no MicroStrategy URL".into())
}

fn main() -> Res<()> {
    if !std::env::args().any(|a| a == "--bench") {
        println!("memory: run with `cargo bench --bench memory`");
        return Ok(());
    }
    let (mut sim, url) = start_sim()?;
    let result = measure(&url);
    let _ = sim.kill();
    let _ = sim.wait();
    result
}

fn measure(url: &str) -> Res<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let api = vendors::connect(
        ClientSettings::new(
            "bench",
            VendorId::MicroStrategy,
            url.to_string(),
            SecretString::from(msim::DEMO_PASSWORD),
        )
        .username(msim::DEMO_USERNAME)
        .timeout(Duration::from_secs(120)),
    )?;
    let before = live();
    PEAK.store(before, Ordering::Relaxed);
    let blocks_before = BLOCKS.load(Ordering::Relaxed);
    let snapshot = rt.block_on(api.load())?;
    let n = snapshot.resources.len();
    let after_load = live();
    let load_peak = PEAK.load(Ordering::Relaxed);
    println!(
        "client load of {n} objects: {:.1} MB live after ({:.0} bytes per object, {:.1} blocks per object), peak {:.1} MB during the load",
        mb(after_load - before),
        (after_load - before) as f64 / n as f64,
        (BLOCKS.load(Ordering::Relaxed) - blocks_before) as f64 / n as f64,
        mb(load_peak - before),
    );

    let mut m = Model::new(
        vec![ProfileInfo {
            name: "bench".into(),
            vendor: VendorId::MicroStrategy,
            read_only: false,
            protected: false,
            insecure_tls: false,
            setup_error: None,
        }],
        1_763_800_000,
    );
    update(
        &mut m,
        Msg::Resize {
            width: 120,
            height: 40,
        },
    );
    let _ = init(&mut m);
    // Index inside `update`, as the worker would (the model's memory is what is measured).
    for t in m.profiles.iter_mut() {
        t.inline_rows = usize::MAX;
    }
    PEAK.store(live(), Ordering::Relaxed);
    let before_model = live();
    update(
        &mut m,
        Msg::Loaded {
            profile: 0,
            generation: 1,
            at: 1_763_800_000,
            result: Ok(snapshot),
        },
    );
    let in_model = live();
    println!(
        "update(Msg::Loaded): +{:.1} MB on top of the snapshot (views, sort keys freed), peak +{:.1} MB",
        mb(in_model.saturating_sub(before_model)),
        mb(PEAK.load(Ordering::Relaxed).saturating_sub(before_model)),
    );
    let model_total = in_model - before;
    println!(
        "model with {n} objects: {:.1} MB live ({:.0} bytes per object); process VmRSS {:.1} MB, VmHWM {:.1} MB",
        mb(model_total),
        model_total as f64 / n as f64,
        proc_status_mb("VmRSS:"),
        proc_status_mb("VmHWM:"),
    );

    // How much of that is the server JSON (`RawJson`: packed in compressed blocks for a
    // list load), and what it is as text.
    let Some(tab) = m.profiles.get_mut(0) else {
        return Err("no profile tab".into());
    };
    let text_bytes: usize = tab
        .resources
        .iter()
        .map(|r| serde_json::to_string(&r.raw).map(|s| s.len()).unwrap_or(0))
        .sum();
    let packed = tab.resources.iter().filter(|r| r.raw.is_packed()).count();
    let with_raw = live();
    for r in tab.resources_mut().iter_mut() {
        r.raw = serde_json::Value::Null.into();
    }
    let raw_values = with_raw - live();
    println!(
        "of which Resource::raw (packed: {packed} of {n}): {:.1} MB ({:.0}%, {:.0} bytes per object); the same JSON as compact text: {:.1} MB ({:.0} bytes per object)",
        mb(raw_values),
        100.0 * raw_values as f64 / model_total as f64,
        raw_values as f64 / n as f64,
        mb(text_bytes),
        text_bytes as f64 / n as f64,
    );
    let rest = model_total - raw_values;
    println!(
        "everything else (fields, refs, used_by, indices, views): {:.1} MB ({:.0} bytes per object, of which {} the Resource struct itself)",
        mb(rest),
        rest as f64 / n as f64,
        std::mem::size_of::<dsconsole::model::Resource>(),
    );
    Ok(())
}
