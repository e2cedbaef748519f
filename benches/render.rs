//! Criterion benchmarks of the UI hot paths at 100, 10,000 and 100,000 rows: one frame
//! drawn, one filter keystroke, `update` of a whole load, and key + redraw.
//!
//! The model is built the way the app builds it: `Msg::Resize`, `update::init` (which
//! starts the load), then `Msg::Loaded` with a snapshot whose resources went through the
//! MicroStrategy client's own wire parser (`parse_resource`) and `link_references`. The
//! objects are generated deterministically in the MicroStrategy wire format: N datasources
//! (the table has N rows), N/20 connections and N/100 logins, with owners, DBMS types,
//! dates and `depends_on` set.
//!
//! Frames are drawn at 120x40 on ratatui's `TestBackend`: `Terminal::draw` builds the
//! widgets, renders them into the buffer and diffs it against the previous frame; only the
//! terminal write (escape codes to a tty) is not included.
//!
//! Run: `cargo bench --bench render` (about 8 minutes). `cargo test --benches` runs each
//! benchmark once on small models (1,000 rows instead of 100,000) as a smoke test.

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use dsconsole::app::msg::Msg;
use dsconsole::app::state::{with_search_fields, Mode, Model, ProfileInfo};
use dsconsole::app::update::{init, update};
use dsconsole::filter::RowFilter;
use dsconsole::model::{link_references, Kind, Resource, VendorId};
use dsconsole::vendors::microstrategy::parse_resource;
use dsconsole::vendors::{spec, Snapshot};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use serde_json::{json, Value};
use std::hint::black_box;
use std::time::Duration;

/// 2025-11-22, the clock of every model here.
const NOW: i64 = 1_763_800_000;
const WIDTH: u16 = 120;
const HEIGHT: u16 = 40;
const PROFILE: &str = "bench-mstr";

/// Deterministic 64-bit mixer (splitmix64), so every run builds the same objects.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A 32-hex-digit MicroStrategy object id.
fn object_id(tag: u64, n: u64) -> String {
    let a = mix(tag << 48 ^ n);
    let b = mix(a ^ 0xA5A5_A5A5);
    format!("{a:016X}{b:016X}")
}

fn pick<'a>(list: &[&'a str], seed: u64) -> &'a str {
    list[(seed % list.len() as u64) as usize]
}

const REGIONS: &[&str] = &[
    "EMEA", "APAC", "NA", "LATAM", "Global", "DACH", "Nordics", "UK", "Iberia", "ANZ",
];
const DOMAINS: &[&str] = &[
    "Sales",
    "Finance",
    "Marketing",
    "Supply Chain",
    "HR",
    "Customer 360",
    "Risk",
    "Procurement",
    "Logistics",
    "Product Analytics",
    "Billing",
    "Support",
];
const LAYERS: &[&str] = &[
    "Warehouse",
    "Mart",
    "Staging",
    "Reporting",
    "Sandbox",
    "Archive",
    "Lakehouse",
];
/// (DBMS display name, wire database type).
const DBMSS: &[(&str, &str)] = &[
    ("Snowflake", "snow_flake"),
    ("PostgreSQL", "postgre_sql"),
    ("Microsoft SQL Server", "sql_server"),
    ("Oracle", "oracle"),
    ("Amazon Redshift", "amazon_redshift"),
    ("Google BigQuery", "big_query"),
    ("Databricks", "spark_config"),
    ("MySQL", "my_sql"),
    ("Teradata", "teradata"),
    ("SAP HANA", "sap_hana"),
];
const OWNERS: &[&str] = &[
    "Administrator",
    "Priya Raman",
    "Jonas Becker",
    "Mei Tanaka",
    "Carlos Mendes",
    "Aisha Okafor",
    "Lukas Novak",
    "Sofia Rossi",
    "Ethan Walsh",
    "Fatima Haddad",
    "Olga Petrova",
    "Sven Lindqvist",
];

/// "2024-05-17T08:12:45.000+0000" for unix seconds `t`.
fn wire_time(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string())
        .unwrap_or_default()
}

fn dates(seed: u64) -> (String, String) {
    let span = 5 * 365 * 86_400;
    let created = NOW - 30 * 86_400 - (seed % span) as i64;
    let modified = created + ((seed >> 24) % ((NOW - created) as u64).max(1)) as i64;
    (wire_time(created), wire_time(modified))
}

/// The objects of one MicroStrategy profile with `rows` datasources, as the client parses
/// them from the wire, references linked.
fn generate(rows: usize) -> Vec<Resource> {
    let logins = (rows / 100).max(1);
    let connections = (rows / 20).max(1);
    let mut wire: Vec<(Kind, Value)> = Vec::with_capacity(rows + connections + logins);
    for n in 0..logins as u64 {
        let s = mix(1 << 40 | n);
        let (created, modified) = dates(s);
        let name = format!(
            "{} {} Service {n:04}",
            pick(REGIONS, s),
            pick(DOMAINS, s >> 8)
        );
        wire.push((
            Kind::Logins,
            json!({
                "id": object_id(1, n), "name": name, "description": "Service user",
                "dateCreated": created, "dateModified": modified, "acg": 255,
                "username": format!("SVC_{}_{n:04}", pick(DOMAINS, s >> 8).to_uppercase().replace(' ', "_")),
            }),
        ));
    }
    for n in 0..connections as u64 {
        let s = mix(2 << 40 | n);
        let (created, modified) = dates(s);
        let (dbms, db_type) = DBMSS[(s % DBMSS.len() as u64) as usize];
        let login = (s >> 16) % logins as u64;
        let name = format!(
            "{} {} {dbms} {n:05}",
            pick(REGIONS, s >> 4),
            pick(DOMAINS, s >> 12)
        );
        wire.push((
            Kind::Connections,
            json!({
                "id": object_id(2, n), "name": name, "description": "Production connection",
                "dateCreated": created, "dateModified": modified, "acg": 255,
                "owner": {"name": pick(OWNERS, s >> 20), "id": object_id(9, (s >> 20) % 12)},
                "executionMode": "synchronous", "maxCancelAttemptTime": 60,
                "maxQueryExeTime": 0, "maxConnectionAttemptTime": 60,
                "connectionLifetime": 36000, "connectionIdleTimeout": 60000,
                "charEncodingWindows": "multibyte", "charEncodingUnix": "utf8",
                "tablePrefix": "", "driverType": "odbc",
                "connectionString": format!("DRIVER={{{dbms}}};SERVER=db-{n:05}.example.internal;DATABASE=BI;"),
                "parameterizedQueries": true, "extendedFetch": false, "oauthParameter": "",
                "database": {
                    "login": {"id": object_id(1, login), "name": format!("login {login}")},
                    "type": db_type, "version": format!("{db_type}_1x"),
                },
            }),
        ));
    }
    for n in 0..rows as u64 {
        let s = mix(3 << 40 | n);
        let (created, modified) = dates(s);
        let (dbms, db_type) = DBMSS[(s % DBMSS.len() as u64) as usize];
        let conn = (s >> 16) % connections as u64;
        let name = format!(
            "{} {} {} {n:06}",
            pick(REGIONS, s >> 4),
            pick(DOMAINS, s >> 12),
            pick(LAYERS, s >> 28)
        );
        wire.push((
            Kind::Datasources,
            json!({
                "id": object_id(3, n), "name": name, "description": "Certified source",
                "dateCreated": created, "dateModified": modified, "acg": 255,
                "datasourceType": "normal",
                "database": {
                    "type": db_type, "version": format!("{db_type}_1x"),
                    "connection": {"name": format!("connection {conn}"), "id": object_id(2, conn), "isEmbedded": false},
                },
                "tablePrefix": "", "odbcVersion": "version3x",
                "intermediateStoreDbName": "", "intermediateStoreTableSpaceName": "",
                "dbms": {"name": dbms, "id": object_id(8, s % DBMSS.len() as u64)},
                "owner": {"name": pick(OWNERS, s >> 20), "id": object_id(9, (s >> 20) % 12)},
            }),
        ));
    }
    let mut all: Vec<Resource> = wire
        .iter()
        .filter_map(|(kind, v)| parse_resource(PROFILE, *kind, v))
        .collect();
    assert_eq!(all.len(), wire.len(), "every generated object parses");
    link_references(&mut all, spec(VendorId::MicroStrategy).orphan_kinds);
    all
}

fn info() -> ProfileInfo {
    ProfileInfo {
        name: PROFILE.into(),
        vendor: VendorId::MicroStrategy,
        read_only: false,
        protected: false,
        insecure_tls: false,
        setup_error: None,
    }
}

/// A model sized 120x40 whose load of the only profile has started (as at launch).
fn loading_model() -> Model {
    let mut m = Model::new(vec![info()], NOW);
    update(
        &mut m,
        Msg::Resize {
            width: WIDTH,
            height: HEIGHT,
        },
    );
    let effects = init(&mut m);
    assert_eq!(effects.len(), 1, "init starts the load");
    m
}

fn loaded_msg(resources: Vec<Resource>) -> Msg {
    Msg::Loaded {
        profile: 0,
        generation: 1,
        at: NOW - 5,
        result: Ok(Snapshot {
            resources,
            warnings: Vec::new(),
        }),
    }
}

/// Run the index jobs `fx` sends (as the runtime's worker would) and feed their answers
/// back until none is left.
fn settle(m: &mut Model, mut fx: Vec<dsconsole::app::effect::Effect>) {
    use dsconsole::app::effect::Effect;
    while let Some(e) = fx.pop() {
        match e {
            Effect::Index(job) => fx.extend(update(
                m,
                Msg::Indexed(Box::new(dsconsole::app::index::run(*job))),
            )),
            Effect::IndexAll(job) => fx.extend(update(
                m,
                Msg::AllIndexed(Box::new(dsconsole::app::all::run_job(*job))),
            )),
            _ => {}
        }
    }
}

/// A loaded model with `rows` datasources, on the datasource tab.
fn loaded_model(rows: usize) -> Model {
    let mut m = loading_model();
    let fx = update(&mut m, loaded_msg(generate(rows)));
    settle(&mut m, fx);
    let shown = m
        .tab()
        .and_then(|t| t.view())
        .map(|v| (v.kind, v.rows.len()));
    assert_eq!(
        shown,
        Some((Kind::Datasources, rows)),
        "table holds every row"
    );
    m
}

/// `cargo bench` passes `--bench`; `cargo test --benches` does not, and then every
/// benchmark runs once as a smoke test, on small models so that it stays quick.
fn benchmarking() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// The large size: 100,000 rows (1,000 in a smoke test).
fn big() -> usize {
    if benchmarking() {
        100_000
    } else {
        1_000
    }
}

/// The middle size: 10,000 rows (300 in a smoke test).
fn mid() -> usize {
    if benchmarking() {
        10_000
    } else {
        300
    }
}

fn key(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

fn terminal() -> Terminal<TestBackend> {
    match Terminal::new(TestBackend::new(WIDTH, HEIGHT)) {
        Ok(t) => t,
        Err(e) => match e {},
    }
}

fn draw(term: &mut Terminal<TestBackend>, m: &Model) {
    match term.draw(|f| dsconsole::ui::draw(m, f)) {
        Ok(frame) => {
            black_box(frame.area);
        }
        Err(e) => match e {},
    }
}

/// The visible rows of the current view.
fn visible(m: &Model) -> usize {
    m.tab()
        .and_then(|t| t.view())
        .map(|v| v.rows.len())
        .unwrap_or(0)
}

fn bench_draw(c: &mut Criterion) {
    let mut g = c.benchmark_group("draw_frame_120x40");
    for rows in [100usize, mid(), big()] {
        let mut m = loaded_model(rows);
        // Cursor in the middle of the table, as after scrolling: the window is not the top.
        if let Some(v) = m.tab_mut().and_then(|t| t.view_mut()) {
            v.cursor = rows / 2;
            v.offset = rows / 2 - 10;
        }
        let mut term = terminal();
        g.bench_with_input(BenchmarkId::from_parameter(rows), &m, |b, m| {
            b.iter(|| draw(&mut term, m))
        });
    }
    g.finish();
}

/// One keystroke in the filter at 100,000 rows: `update(Key(c))`, which re-filters the
/// (already sorted) members. Each iteration gets its own clone of the same model, so every
/// measured keystroke does exactly the same work; cloning is not timed.
fn bench_filter(c: &mut Criterion) {
    let mut g = c.benchmark_group("filter_keystroke");
    g.sample_size(20)
        .sampling_mode(criterion::SamplingMode::Flat)
        .measurement_time(Duration::from_secs(8));
    for rows in [mid(), big()] {
        let base = loaded_model(rows);
        // (name, text typed before, the measured character)
        let cases: [(&str, &str, char); 3] = [
            ("first_char", "", 's'),
            ("fourth_char", "sal", 'e'),
            ("fuzzy_no_match", "zq", 'x'),
        ];
        for (name, before, next) in cases {
            let mut m = base.clone();
            update(&mut m, key('/'));
            assert_eq!(m.mode, Mode::Filter, "'/' opens the filter");
            for ch in before.chars() {
                update(&mut m, key(ch));
            }
            let mut probe = m.clone();
            update(&mut probe, key(next));
            eprintln!(
                "filter_keystroke/{name}/{rows}: '{before}' + '{next}' leaves {} of {rows} rows",
                visible(&probe)
            );
            drop(probe);
            g.bench_with_input(BenchmarkId::new(name, rows), &m, |b, m| {
                b.iter_batched(
                    || m.clone(),
                    |mut m| {
                        black_box(update(&mut m, key(next)));
                        m
                    },
                    BatchSize::PerIteration,
                )
            });
        }
    }
    g.finish();
}

/// `update(Msg::Loaded)` of a whole load: replace the resources, index, sort by name, build
/// the rows. The snapshot and the loading model are cloned outside the timing.
fn bench_loaded(c: &mut Criterion) {
    let mut g = c.benchmark_group("update_loaded");
    g.sample_size(10)
        .sampling_mode(criterion::SamplingMode::Flat)
        .measurement_time(Duration::from_secs(15));
    for rows in [mid(), big()] {
        let resources = generate(rows);
        let base = loading_model();
        g.bench_with_input(BenchmarkId::from_parameter(rows), &resources, |b, res| {
            b.iter_batched(
                || (base.clone(), loaded_msg(res.clone())),
                |(mut m, msg)| {
                    black_box(update(&mut m, msg));
                    m
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

/// A refresh of a profile that already shows 100,000 rows (what follows every bulk delete:
/// the app reloads to reconcile): `update(Msg::Loaded)` replaces the resources, which drops
/// the old ones inside `update`. Also the two parts on their own: dropping 100,000 loaded
/// resources, and `ProfileTab::reindex` (what `DeleteFinished` runs after removing the
/// deleted rows).
fn bench_refresh(c: &mut Criterion) {
    let mut g = c.benchmark_group(format!("refresh_{}", big()));
    g.sample_size(10)
        .sampling_mode(criterion::SamplingMode::Flat)
        .measurement_time(Duration::from_secs(15));
    let loaded = loaded_model(big());
    let resources = loaded
        .tab()
        .map(|t| t.resources.to_vec())
        .unwrap_or_default();
    g.bench_function("update_loaded_replacing", |b| {
        b.iter_batched(
            || {
                let mut m = loaded.clone();
                update(&mut m, key('r'));
                let generation = m.tab().map(|t| t.generation).unwrap_or(0);
                let msg = Msg::Loaded {
                    profile: 0,
                    generation,
                    at: NOW,
                    result: Ok(Snapshot {
                        resources: resources.clone(),
                        warnings: Vec::new(),
                    }),
                };
                (m, msg)
            },
            |(mut m, msg)| {
                black_box(update(&mut m, msg));
                m
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("drop_resources", |b| {
        b.iter_batched(|| resources.clone(), drop, BatchSize::PerIteration)
    });
    let mut m = loaded;
    if let Some(tab) = m.tab_mut() {
        g.bench_function("reindex", |b| b.iter(|| tab.reindex(NOW)));
    }
    g.finish();
}

/// Key press to redrawn frame, CPU part: `update(Key)` then `draw`, at 100,000 rows.
/// Keys alternate j / k so the state stays comparable between iterations.
fn bench_key_and_draw(c: &mut Criterion) {
    let mut g = c.benchmark_group("key_update_and_draw_120x40");
    let mut m = loaded_model(big());
    let mut term = terminal();
    let mut down = true;
    g.bench_function(format!("j_k_{}", big()), |b| {
        b.iter(|| {
            black_box(update(&mut m, key(if down { 'j' } else { 'k' })));
            down = !down;
            draw(&mut term, &m);
        })
    });
    // In the filter, as a user types: one character in, the next iteration takes it out.
    update(&mut m, key('/'));
    let mut typing = true;
    g.sample_size(30);
    g.bench_function(format!("filter_type_or_backspace_{}", big()), |b| {
        b.iter(|| {
            let k = if typing {
                key('s')
            } else {
                Msg::Key(KeyEvent::new(KeyCode::Backspace, KeyModifiers::NONE))
            };
            typing = !typing;
            black_box(update(&mut m, k));
            draw(&mut term, &m);
        })
    });
    g.finish();
}

/// Where a filter keystroke's time goes, at 100,000 rows: building the filter, running it
/// over every row's search fields, and `rebuild_rows` (filter + toggles + cursor keep), each
/// on its own, in place (no clone). For comparison, a plain ASCII case-insensitive
/// subsequence test over the same fields: what a yes/no fuzzy match costs without scoring.
fn bench_filter_substeps(c: &mut Criterion) {
    let mut g = c.benchmark_group(format!("filter_substeps_{}", big()));
    g.sample_size(20);
    let mut m = loaded_model(big());
    let resources: Vec<Resource> = m.tab().map(|t| t.resources.to_vec()).unwrap_or_default();
    let rows: Vec<&Resource> = resources
        .iter()
        .filter(|r| r.kind == Kind::Datasources)
        .collect();
    for query in ["s", "sale", "zqx"] {
        g.bench_function(BenchmarkId::new("rowfilter_new", query), |b| {
            b.iter(|| black_box(RowFilter::new(black_box(query))))
        });
        let mut f = RowFilter::new(query);
        g.bench_function(BenchmarkId::new("matches_fields_all_rows", query), |b| {
            b.iter(|| {
                rows.iter()
                    .filter(|r| with_search_fields(r, |fields| f.matches_fields(fields)))
                    .count()
            })
        });
        let needle: Vec<u8> = query.bytes().collect();
        g.bench_function(BenchmarkId::new("ascii_subsequence_all_rows", query), |b| {
            b.iter(|| {
                rows.iter()
                    .filter(|r| {
                        with_search_fields(r, |fields| {
                            fields.iter().any(|f| subsequence(f.as_bytes(), &needle))
                        })
                    })
                    .count()
            })
        });
        if let Some(tab) = m.tab_mut() {
            let k = tab.kind_index;
            if let Some(v) = tab.view_mut() {
                v.filter = query.to_string();
            }
            g.bench_function(BenchmarkId::new("rebuild_rows", query), |b| {
                b.iter(|| tab.rebuild_rows(k))
            });
        }
    }
    g.finish();
}

/// Is `needle` (lower-case ASCII) a subsequence of `hay`, ignoring ASCII case?
fn subsequence(hay: &[u8], needle: &[u8]) -> bool {
    let mut want = needle.iter().peekable();
    for &h in hay {
        match want.peek() {
            Some(&&n) if h.to_ascii_lowercase() == n => {
                want.next();
            }
            Some(_) => {}
            None => return true,
        }
    }
    want.peek().is_none()
}

/// The All tab at the large size, each next to its baseline in the profile tab, measured in
/// the same run: opening it (every object of every kind gathered, sorted by name and indexed
/// for the filter) against `s` in the profile tab (its datasources sorted again); the first
/// filter keystroke; one frame. The All tab holds every kind (N datasources, N/20
/// connections, N/100 logins), the profile tab's view the N datasources.
fn bench_all_tab(c: &mut Criterion) {
    let rows = big();
    let mut g = c.benchmark_group(format!("all_tab_{rows}"));
    g.sample_size(20)
        .sampling_mode(criterion::SamplingMode::Flat)
        .measurement_time(Duration::from_secs(8));
    let base = loaded_model(rows);
    let mut all = base.clone();
    let fx = update(&mut all, key('*'));
    settle(&mut all, fx);
    assert!(all.all.open, "'*' opens the All tab");
    eprintln!(
        "all_tab_{rows}: {} rows in the All tab, {} in the profile tab",
        all.all.rows.len(),
        visible(&base)
    );
    let timed_key = |g: &mut criterion::BenchmarkGroup<'_, _>, name: &str, m: &Model, c: char| {
        g.bench_with_input(BenchmarkId::new(name, rows), m, |b, m| {
            b.iter_batched(
                || m.clone(),
                |mut m| {
                    black_box(update(&mut m, key(c)));
                    m
                },
                BatchSize::PerIteration,
            )
        });
    };
    timed_key(&mut g, "open_all_tab", &base, '*');
    timed_key(&mut g, "baseline_sort_profile_tab", &base, 's');
    for (name, m) in [("all_tab", &all), ("baseline_profile_tab", &base)] {
        let mut m = m.clone();
        update(&mut m, key('/'));
        timed_key(&mut g, &format!("filter_first_char_{name}"), &m, 's');
    }
    for (name, m) in [("all_tab", &all), ("baseline_profile_tab", &base)] {
        let mut term = terminal();
        g.bench_with_input(BenchmarkId::new(format!("draw_{name}"), rows), m, |b, m| {
            b.iter(|| draw(&mut term, m))
        });
    }
    g.finish();
}

/// Watch at 100,000 objects, one in ten unhealthy: `watch::observe`, the pass each load (and
/// each tick after health answers) runs on the event loop, beside the overview's recount of
/// the same objects measured in the same run (the pass every load already made); and the
/// copy of the history handed to the writer, with its JSON encoding (done by the writer,
/// off the event loop).
fn bench_watch(c: &mut Criterion) {
    let rows = big();
    let mut g = c.benchmark_group(format!("watch_{rows}"));
    g.sample_size(20)
        .sampling_mode(criterion::SamplingMode::Flat)
        .measurement_time(Duration::from_secs(8));
    let mut m = loading_model();
    let mut resources = generate(rows);
    for r in resources.iter_mut().step_by(10) {
        r.health = dsconsole::model::Health::Unhealthy("connection refused".into());
    }
    let objects = resources.len();
    let fx = update(&mut m, loaded_msg(resources));
    settle(&mut m, fx);
    let Some(tab) = m.tab_mut() else {
        return;
    };
    assert_eq!(
        tab.watch.objects.values().map(|o| o.len()).sum::<usize>(),
        objects.div_ceil(10),
        "the load observed every unhealthy object"
    );
    g.bench_function("observe", |b| {
        b.iter(|| dsconsole::app::watch::observe(tab, NOW))
    });
    g.bench_function("baseline_recount", |b| b.iter(|| tab.recount(NOW)));
    g.bench_function("history_to_file", |b| {
        b.iter(|| black_box(tab.watch.to_file("bench")))
    });
    let file = tab.watch.to_file("bench");
    g.bench_function("history_json_writer_side", |b| {
        b.iter(|| black_box(serde_json::to_vec(&file).map(|v| v.len())))
    });
    g.finish();
}

/// Issue 18: what a filter keystroke and a reload cost the event loop now that large tabs
/// are indexed on a worker, each beside its baseline measured in the same run: the old
/// on-loop path (the same model with the inline limit raised above its size, so `update`
/// does the work itself, as before) and the 100-row model. Also the worker's own time (the
/// delay until the new rows appear, off the event loop).
fn bench_issue18(c: &mut Criterion) {
    use dsconsole::app::effect::Effect;
    use dsconsole::app::index;
    let rows = big();
    let mut g = c.benchmark_group("issue18_event_loop");
    g.sample_size(20)
        .sampling_mode(criterion::SamplingMode::Flat)
        .measurement_time(Duration::from_secs(8));
    let on_loop = |m: &mut Model| {
        for t in m.profiles.iter_mut() {
            t.inline_rows = usize::MAX;
        }
        m.all.inline_rows = usize::MAX;
    };
    // Key to frame: `update(Key('s'))` in the filter, then one frame drawn.
    let small = loaded_model(100);
    // The large model always takes the worker's path (also in the 1,000-row smoke test).
    let mut large = loaded_model(rows);
    for t in large.profiles.iter_mut() {
        t.inline_rows = 0;
    }
    large.all.inline_rows = 0;
    let mut large_on_loop = large.clone();
    on_loop(&mut large_on_loop);
    for (name, base) in [
        ("filter_key_to_frame/100".to_string(), &small),
        (format!("filter_key_to_frame/{rows}"), &large),
        (
            format!("filter_key_to_frame_old_on_loop/{rows}"),
            &large_on_loop,
        ),
    ] {
        let mut m = base.clone();
        update(&mut m, key('/'));
        let mut term = terminal();
        g.bench_function(name, |b| {
            b.iter_batched(
                || m.clone(),
                |mut m| {
                    let fx = update(&mut m, key('s'));
                    draw(&mut term, &m);
                    (m, fx)
                },
                BatchSize::PerIteration,
            )
        });
    }
    // The worker's part of that keystroke (off the event loop).
    let mut m = large.clone();
    update(&mut m, key('/'));
    let fx = update(&mut m, key('s'));
    let job = fx.into_iter().find_map(|e| match e {
        Effect::Index(j) => Some(*j),
        _ => None,
    });
    if let Some(job) = job {
        g.bench_function(format!("filter_worker/{rows}"), |b| {
            b.iter_batched(|| job.clone(), index::run, BatchSize::PerIteration)
        });
        // The next keystroke, once the first one's answer is in: the view keeps the joined
        // search text while it has a filter, so this is the usual cost of a keystroke.
        let out = index::run(job);
        update(&mut m, Msg::Indexed(Box::new(out)));
        let fx = update(&mut m, key('a'));
        let next = fx.into_iter().find_map(|e| match e {
            Effect::Index(j) => Some(*j),
            _ => None,
        });
        if let Some(next) = next {
            g.bench_function(format!("filter_worker_next_key/{rows}"), |b| {
                b.iter_batched(|| next.clone(), index::run, BatchSize::PerIteration)
            });
        }
    }
    // A reload of a loaded profile: the `Loaded` message, then (worker path) the answer
    // swapped in; each is one event-loop turn. Effects (the old data to free) are dropped
    // outside the timing, as the runtime frees them on a blocking thread.
    let resources = large
        .tab()
        .map(|t| t.resources.to_vec())
        .unwrap_or_default();
    let reloading = |base: &Model| {
        let mut m = base.clone();
        update(&mut m, key('r'));
        let generation = m.tab().map(|t| t.generation).unwrap_or(0);
        let msg = Msg::Loaded {
            profile: 0,
            generation,
            at: NOW,
            result: Ok(Snapshot {
                resources: resources.clone(),
                warnings: Vec::new(),
            }),
        };
        (m, msg)
    };
    for (name, base) in [
        (format!("reload_loaded_msg/{rows}"), &large),
        (format!("reload_old_on_loop/{rows}"), &large_on_loop),
    ] {
        g.bench_function(name, |b| {
            b.iter_batched(
                || reloading(base),
                |(mut m, msg)| {
                    let fx = update(&mut m, msg);
                    (m, fx)
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.bench_function(format!("reload_swap_in/{rows}"), |b| {
        b.iter_batched(
            || {
                let (mut m, msg) = reloading(&large);
                let fx = update(&mut m, msg);
                let out = fx
                    .into_iter()
                    .find_map(|e| match e {
                        Effect::Index(j) => Some(index::run(*j)),
                        _ => None,
                    })
                    .expect("the reload is indexed on the worker");
                (m, Msg::Indexed(Box::new(out)))
            },
            |(mut m, msg)| {
                let fx = update(&mut m, msg);
                (m, fx)
            },
            BatchSize::PerIteration,
        )
    });
    // The All tab opened (`*`): the event loop's part, and the old on-loop path.
    for (name, base) in [
        (format!("open_all_tab/{rows}"), &large),
        (format!("open_all_tab_old_on_loop/{rows}"), &large_on_loop),
    ] {
        g.bench_function(name, |b| {
            b.iter_batched(
                || base.clone(),
                |mut m| {
                    let fx = update(&mut m, key('*'));
                    (m, fx)
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

criterion_group!(
    benches,
    bench_issue18,
    bench_all_tab,
    bench_watch,
    bench_draw,
    bench_filter,
    bench_filter_substeps,
    bench_loaded,
    bench_refresh,
    bench_key_and_draw
);
criterion_main!(benches);
