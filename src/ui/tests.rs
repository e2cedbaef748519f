//! Frame snapshots: what an operator sees, drawn on ratatui's TestBackend.

use crate::app::fixtures::*;
use crate::app::msg::Msg;
use crate::app::state::Model;
use crate::app::update::update;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

fn render(m: &Model, w: u16, h: u16) -> String {
    let mut t = match Terminal::new(TestBackend::new(w, h)) {
        Ok(t) => t,
        Err(e) => panic!("test backend: {e}"),
    };
    if let Err(e) = t.draw(|f| super::draw(m, f)) {
        panic!("draw: {e}");
    }
    let buf = t.backend().buffer().clone();
    let mut out = String::new();
    for y in 0..buf.area.height {
        let mut line = String::new();
        for x in 0..buf.area.width {
            line.push_str(buf[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn key(m: &mut Model, code: KeyCode, mods: KeyModifiers) {
    update(m, Msg::Key(KeyEvent::new(code, mods)));
}

fn chars(m: &mut Model, s: &str) {
    for c in s.chars() {
        key(m, KeyCode::Char(c), KeyModifiers::NONE);
    }
}

fn sized(w: u16, h: u16) -> Model {
    let mut m = loaded_model();
    m.measures = super::MEASURES;
    update(
        &mut m,
        Msg::Resize {
            width: w,
            height: h,
        },
    );
    m
}

#[test]
fn main_screen_datasources() {
    let m = sized(100, 20);
    insta::assert_snapshot!(render(&m, 100, 20));
}

#[test]
fn main_screen_connections_with_marks_and_filter() {
    let mut m = sized(100, 20);
    chars(&mut m, "]  ");
    chars(&mut m, "/conn");
    key(&mut m, KeyCode::Enter, KeyModifiers::NONE);
    insta::assert_snapshot!(render(&m, 100, 20));
}

#[test]
fn usable_at_80x24() {
    let mut m = sized(80, 24);
    chars(&mut m, "]");
    insta::assert_snapshot!(render(&m, 80, 24));
}

#[test]
fn too_small_says_so() {
    let m = sized(59, 15);
    let out = render(&m, 59, 15);
    assert!(out.contains("terminal too small"), "{out}");
    // And never panics at 1x1.
    let tiny = render(&m, 1, 1);
    assert_eq!(tiny.lines().count(), 1);
}

#[test]
fn delete_confirmation_single() {
    let mut m = sized(100, 24);
    ctrl_d(&mut m);
    insta::assert_snapshot!(render(&m, 100, 24));
}

#[test]
fn delete_confirmation_cascade_with_hidden_marks() {
    let mut m = sized(100, 30);
    chars(&mut m, "A/mar");
    key(&mut m, KeyCode::Enter, KeyModifiers::NONE);
    ctrl_d(&mut m);
    chars(&mut m, "c");
    insta::assert_snapshot!(render(&m, 100, 30));
}

#[test]
fn detail_pane() {
    let mut m = sized(100, 24);
    key(&mut m, KeyCode::Enter, KeyModifiers::NONE);
    insta::assert_snapshot!(render(&m, 100, 24));
}

#[test]
fn help_is_generated_from_the_keymap() {
    let mut m = sized(110, 52);
    chars(&mut m, "?");
    let out = render(&m, 110, 52);
    for b in crate::app::keymap::BINDINGS {
        assert!(out.contains(b.help), "help lacks {:?}", b.help);
    }
    insta::assert_snapshot!(out);
}

#[test]
fn create_connection_form() {
    let mut m = sized(100, 24);
    chars(&mut m, "]a");
    chars(&mut m, "New Conn");
    insta::assert_snapshot!(render(&m, 100, 24));
}

#[test]
fn progress_and_summary() {
    use crate::ops::executor::{StepOutcome, StepUpdate};
    let mut m = sized(100, 24);
    chars(&mut m, "A");
    ctrl_d(&mut m);
    chars(&mut m, "3");
    key(&mut m, KeyCode::Enter, KeyModifiers::NONE);
    let job = *m.jobs.keys().next().unwrap_or(&0);
    update(
        &mut m,
        Msg::DeleteStep {
            job,
            update: StepUpdate {
                index: 0,
                outcome: StepOutcome::Deleted,
                attempt: 1,
            },
        },
    );
    update(
        &mut m,
        Msg::DeleteStep {
            job,
            update: StepUpdate {
                index: 1,
                outcome: StepOutcome::Running,
                attempt: 1,
            },
        },
    );
    insta::assert_snapshot!("progress", render(&m, 100, 24));
    update(
        &mut m,
        Msg::DeleteFinished {
            job,
            outcomes: vec![
                StepOutcome::Deleted,
                StepOutcome::Failed("MicroStrategy: HTTP 400 ERR001: in use (ticket 1f2e)".into()),
                StepOutcome::AlreadyGone,
            ],
        },
    );
    insta::assert_snapshot!("summary", render(&m, 100, 24));
}

#[test]
fn read_only_hints_say_read_only() {
    let mut i = info("prod");
    i.read_only = true;
    let m = loaded_model_with(i);
    let out = render(&m, 100, 20);
    assert!(out.contains("READ-ONLY"));
    assert!(out.contains("Ctrl-D read-only"), "{out}");
}

/// A model with one loaded profile of `vendor` holding `resources`, at `now`.
fn vendor_model(
    vendor: crate::model::VendorId,
    resources: Vec<crate::model::Resource>,
    now: i64,
) -> Model {
    let mut i = info(&format!("demo-{}", vendor.id()));
    i.vendor = vendor;
    let mut m = Model::new(vec![i], now);
    m.measures = super::MEASURES;
    update(
        &mut m,
        Msg::Resize {
            width: 120,
            height: 24,
        },
    );
    crate::app::update::init(&mut m);
    update(
        &mut m,
        Msg::Loaded {
            profile: 0,
            generation: 1,
            at: now - 5,
            result: Ok(crate::vendors::Snapshot {
                resources,
                warnings: vec![],
            }),
        },
    );
    m
}

fn asset(name: &str) -> serde_json::Value {
    let path = format!("{}/assets/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn basedash_tab() {
    use crate::vendors::basedash;
    let seed = asset("basedash.json");
    let now = seed["referenceTime"]
        .as_str()
        .and_then(crate::model::parse_time)
        .unwrap_or(NOW);
    let mut all = Vec::new();
    for org in seed["organizations"].as_array().into_iter().flatten() {
        let Some(o) = basedash::parse_organization(org) else {
            continue;
        };
        for ds in seed["dataSources"][&o.id].as_array().into_iter().flatten() {
            all.extend(basedash::parse_data_source("demo-basedash", &o, ds));
        }
    }
    assert!(all.len() >= 12);
    let mut m = vendor_model(crate::model::VendorId::Basedash, all, now);
    insta::assert_snapshot!("basedash_datasources", render(&m, 120, 24));
    // At 80 columns the organization and the vendor's sync error still read; the least
    // important columns give way instead.
    update(
        &mut m,
        Msg::Resize {
            width: 80,
            height: 24,
        },
    );
    let out = render(&m, 80, 24);
    assert!(
        out.contains("Acme Analy") && out.contains("Northwind"),
        "{out}"
    );
    assert!(out.contains("Access denied for"), "{out}");
    assert!(out.contains("JWT token is invalid"), "{out}");
    insta::assert_snapshot!("basedash_datasources_80x24", out);
    update(
        &mut m,
        Msg::Resize {
            width: 120,
            height: 24,
        },
    );
    // Unhealthy only: UNHEALTHY, FAILED and never synced.
    key(&mut m, KeyCode::Char('u'), KeyModifiers::NONE);
    insta::assert_snapshot!("basedash_unhealthy_only", render(&m, 120, 24));
}

#[test]
fn databrain_tabs() {
    use crate::vendors::databrain;
    let seed = asset("databrain.json");
    let mut all: Vec<crate::model::Resource> = Vec::new();
    for d in seed["datasources"].as_array().into_iter().flatten() {
        all.extend(databrain::parse_datasource("demo-databrain", d));
    }
    for d in seed["datamarts"].as_array().into_iter().flatten() {
        all.extend(databrain::parse_datamart("demo-databrain", d));
    }
    crate::model::link_references(&mut all, databrain::SPEC.orphan_kinds);
    let mut m = vendor_model(crate::model::VendorId::Databrain, all, NOW);
    insta::assert_snapshot!("databrain_datasources", render(&m, 120, 24));
    chars(&mut m, "]");
    insta::assert_snapshot!("databrain_datamarts", render(&m, 120, 24));
    // The confirmation of an in-use datasource warns that the server will refuse it.
    chars(&mut m, "[/postgres-prod");
    key(&mut m, KeyCode::Enter, KeyModifiers::NONE);
    ctrl_d(&mut m);
    let out = render(&m, 120, 24);
    assert!(out.contains("will refuse"), "{out}");
    insta::assert_snapshot!("databrain_in_use_confirmation", out);
}

/// The Qlik simulator's seed, loaded by the real client.
#[cfg(feature = "sim")]
fn qlik_resources() -> Vec<crate::model::Resource> {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => panic!("runtime: {e}"),
    };
    rt.block_on(async {
        let sim = crate::sim::qlik::start(&crate::sim::SimOptions::default())
            .await
            .unwrap_or_else(|e| panic!("qlik sim: {e}"));
        let settings = crate::vendors::ClientSettings::new(
            "demo-qlik",
            crate::model::VendorId::Qlik,
            sim.base_url.clone(),
            secrecy::SecretString::from(crate::sim::qlik::DEMO_TOKEN),
        )
        .timeout(std::time::Duration::from_secs(10));
        let client = crate::vendors::connect(settings).unwrap_or_else(|e| panic!("client: {e}"));
        client
            .load()
            .await
            .unwrap_or_else(|e| panic!("load: {e}"))
            .resources
    })
}

#[cfg(feature = "sim")]
#[test]
fn qlik_disabled_connection_is_marked_found_and_explained() {
    let mut m = vendor_model(
        crate::model::VendorId::Qlik,
        qlik_resources(),
        1_795_392_000,
    );
    chars(&mut m, "/disabled");
    key(&mut m, KeyCode::Enter, KeyModifiers::NONE);
    let out = render(&m, 120, 24);
    assert!(out.contains("Connections (1/29)"), "{out}");
    let row = out
        .lines()
        .find(|l| l.contains("Redshift_Legacy"))
        .unwrap_or_else(|| panic!("its row: {out}"));
    assert!(row.contains("⊘ disabled"), "{row}");
    key(&mut m, KeyCode::Enter, KeyModifiers::NONE);
    let out = render(&m, 120, 40);
    assert!(
        out.contains("⊘ disabled: its datasource is switched off"),
        "{out}"
    );
    assert!(!out.contains("unhealthy"), "{out}");
}

#[cfg(feature = "sim")]
#[test]
fn qlik_tab() {
    let resources = qlik_resources();
    // The Qlik seed's dates run into 2026: look at them from late 2026.
    let mut m = vendor_model(crate::model::VendorId::Qlik, resources, 1_795_392_000);
    insta::assert_snapshot!("qlik_connections", render(&m, 120, 24));
    // DataFiles connections cannot be marked.
    chars(&mut m, "/DataFiles");
    key(&mut m, KeyCode::Enter, KeyModifiers::NONE);
    chars(&mut m, " ");
    let out = render(&m, 120, 24);
    assert!(out.contains("cannot be deleted"), "{out}");
    assert!(!out.contains("1 marked"), "{out}");
    // Two connections of one name in two spaces: the plan tells them apart.
    key(&mut m, KeyCode::Esc, KeyModifiers::NONE);
    chars(&mut m, "/^Snowflake_Warehouse$");
    key(&mut m, KeyCode::Enter, KeyModifiers::NONE);
    chars(&mut m, "A");
    ctrl_d(&mut m);
    let out = render(&m, 120, 24);
    let lines: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("connection 'Snowflake_Warehouse' in space '"))
        .collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines.iter().all(|l| l.contains("[id ")), "{out}");
    assert_ne!(lines[0], lines[1]);
    insta::assert_snapshot!("qlik_same_name_in_two_spaces", out);
}

/// A name built to fool a terminal: an escape sequence, a right-to-left override and a
/// zero-width space.
const EVIL: &str = "Ev\u{1b}[2Jil\u{202e}gnp.exe\u{200b}x";
/// How the screen must show it.
const EVIL_SHOWN: &str = "Ev␛[2Jil\\u{202e}gnp.exe\\u{200b}x";

fn evil_model(w: u16, h: u16) -> Model {
    let mut m = sized(w, h);
    if let Some(tab) = m.tab_mut() {
        for r in tab.resources_mut().iter_mut().filter(|r| r.id == "D2") {
            r.name = EVIL.into();
            r.raw = serde_json::json!({"id": "D2", "name": EVIL, "note": "a\u{2066}b"}).into();
            r.health = crate::model::Health::Unhealthy(format!("refused by {EVIL}").into());
        }
        tab.reindex(NOW);
    }
    m
}

#[test]
fn server_text_is_shown_visibly_in_table_detail_and_confirmation() {
    let mut m = evil_model(140, 40);
    let out = render(&m, 140, 40);
    assert!(out.contains(EVIL_SHOWN), "table:\n{out}");
    // The evil row sorts first: open its detail.
    key(&mut m, KeyCode::Enter, KeyModifiers::NONE);
    let out = render(&m, 140, 40);
    assert!(
        out.contains(&format!("datasource '{EVIL_SHOWN}'")),
        "detail:\n{out}"
    );
    assert!(out.contains("a\\u{2066}b"), "detail JSON:\n{out}");
    assert!(
        out.contains(&format!("refused by {EVIL_SHOWN}")),
        "detail health:\n{out}"
    );
    key(&mut m, KeyCode::Enter, KeyModifiers::NONE);
    ctrl_d(&mut m);
    let out = render(&m, 140, 40);
    assert!(out.contains(EVIL_SHOWN), "confirmation:\n{out}");
    for bad in ['\u{1b}', '\u{202e}', '\u{200b}', '\u{2066}'] {
        assert!(!out.contains(bad), "{bad:?} reached the screen");
    }
    insta::assert_snapshot!("evil_name_confirmation", out);
}

#[test]
fn server_text_is_shown_visibly_in_status_log_and_tabs() {
    let mut m = evil_model(100, 24);
    m.set_status(
        crate::app::state::Level::Error,
        format!("load failed: {EVIL}"),
    );
    let out = render(&m, 100, 24);
    assert!(out.contains(EVIL_SHOWN), "status:\n{out}");
    chars(&mut m, "L");
    let out = render(&m, 100, 24);
    assert!(out.contains(EVIL_SHOWN), "log pane:\n{out}");
    key(&mut m, KeyCode::Esc, KeyModifiers::NONE);
    chars(&mut m, ":");
    update(&mut m, Msg::Paste("x\u{202e}y".into()));
    let out = render(&m, 100, 24);
    assert!(out.contains("x\\u{202e}y"), "command line:\n{out}");
}

#[test]
fn every_paragraph_of_the_ui_goes_through_the_sanitizer() {
    // One door: only `safe.rs` may build a paragraph from text.
    let dir = format!("{}/src/ui", env!("CARGO_MANIFEST_DIR"));
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{dir}: {e}")) {
        let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if !name.ends_with(".rs") || name == "safe.rs" || name == "tests.rs" {
            continue;
        }
        let src = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            !src.contains("Paragraph::new("),
            "{name} builds a paragraph without the sanitizer"
        );
    }
}

/// A MicroStrategy profile with `n` datasources, each on its own connection and login, named
/// like generated objects (a long shared prefix).
fn bulk_model(n: usize, w: u16, h: u16) -> Model {
    use crate::model::{Kind, Resource, VendorId};
    let mut all = Vec::new();
    for i in 1..=n {
        let mk = |kind: Kind, prefix: &str, noun: &str| {
            let mut r = Resource::new(
                VendorId::MicroStrategy,
                "prod",
                kind,
                &format!("{prefix}{i:030}"),
                &format!("Generated {noun} {i:05}"),
            );
            r.raw = serde_json::json!({"id": r.id, "name": r.name}).into();
            r
        };
        let login = mk(Kind::Logins, "L", "Login");
        let mut conn = mk(Kind::Connections, "C", "Connection");
        conn.depends_on.push(login.as_ref());
        let mut ds = mk(Kind::Datasources, "D", "Datasource");
        ds.depends_on.push(conn.as_ref());
        all.extend([ds, conn, login]);
    }
    crate::model::link_references(&mut all, &[Kind::Connections, Kind::Logins]);
    let mut m = Model::new(vec![info("prod")], NOW);
    m.measures = super::MEASURES;
    update(
        &mut m,
        Msg::Resize {
            width: w,
            height: h,
        },
    );
    crate::app::update::init(&mut m);
    update(
        &mut m,
        Msg::Loaded {
            profile: 0,
            generation: 1,
            at: NOW - 5,
            result: Ok(crate::vendors::Snapshot {
                resources: all,
                warnings: vec![],
            }),
        },
    );
    m
}

/// N of the dialog's "↓ N more" marker.
fn more_below(screen: &str) -> Option<usize> {
    let at = screen.find(" more")?;
    let head = &screen[..at];
    let start = head.rfind("↓ ")? + "↓ ".len();
    head[start..].parse().ok()
}

/// The confirmation of each case at each size: the footer (irreversible line, what to
/// type, buttons) is always on screen, and a body that does not fit says how much more
/// there is.
#[test]
fn the_confirmation_never_hides_its_own_prompt() {
    for (w, h) in [(60u16, 16u16), (80, 24), (140, 40)] {
        for case in ["single", "bulk", "cascade", "hidden"] {
            let mut m = bulk_model(46, w, h);
            match case {
                "single" => {}
                "bulk" | "cascade" => chars(&mut m, "A"),
                _ => {
                    chars(&mut m, "A/00001");
                    key(&mut m, KeyCode::Enter, KeyModifiers::NONE);
                }
            }
            ctrl_d(&mut m);
            if case == "cascade" {
                chars(&mut m, "c");
            }
            let out = render(&m, w, h);
            let at = format!("{case} at {w}x{h}");
            let prompt = match case {
                "single" => "Press y to delete",
                "cascade" => "Type 138 and press Enter",
                _ => "Type 46 and press Enter",
            };
            assert!(out.contains(prompt), "{at}: no prompt\n{out}");
            assert!(
                out.contains("irreversible"),
                "{at}: no irreversible line\n{out}"
            );
            assert!(
                out.contains("[ Cancel ]") && out.contains("[ Delete"),
                "{at}: no buttons\n{out}"
            );
            if case != "single" {
                assert!(
                    more_below(&out).is_some(),
                    "{at}: no '↓ N more' marker\n{out}"
                );
            }
            if case == "hidden" {
                assert!(out.contains("hidden by filter"), "{at}\n{out}");
            }
            insta::assert_snapshot!(format!("confirm_{case}_{w}x{h}"), out);
        }
    }
}

#[test]
fn scrolling_the_confirmation_shows_the_rest_and_stops_at_the_end() {
    let mut m = bulk_model(46, 80, 24);
    chars(&mut m, "A");
    ctrl_d(&mut m);
    key(&mut m, KeyCode::End, KeyModifiers::NONE);
    let out = render(&m, 80, 24);
    assert!(out.contains("Generated Datasource 00046"), "{out}");
    assert!(out.contains(" above"), "{out}");
    assert_eq!(
        more_below(&out),
        None,
        "at the end nothing is below:\n{out}"
    );
    // One step up from the end shows one line below: the scroll was clamped.
    key(&mut m, KeyCode::Up, KeyModifiers::NONE);
    let out = render(&m, 80, 24);
    assert_eq!(more_below(&out), Some(1), "{out}");
}

/// Every row of a table shows what tells it apart from the others.
#[test]
fn generated_names_stay_distinguishable_at_80x24() {
    let mut m = bulk_model(46, 80, 24);
    chars(&mut m, "]");
    let out = render(&m, 80, 24);
    let rows: Vec<&str> = out.lines().filter(|l| l.contains("Generated")).collect();
    assert!(rows.len() >= 15, "{out}");
    for (i, row) in rows.iter().enumerate() {
        let n = format!("{:05}", i + 1);
        assert!(row.contains(&n), "row {i} lost its number {n}:\n{out}");
    }
    insta::assert_snapshot!("generated_connections_80x24", out);
}

#[test]
fn the_name_column_gets_the_most_room() {
    let m = bulk_model(46, 80, 24);
    let out = render(&m, 80, 24);
    // The full names fit: nothing else is wider than the name.
    assert!(out.contains("Generated Datasource 00001"), "{out}");
}

#[test]
fn basedash_rows_show_their_organization_and_the_vendors_message() {
    use crate::vendors::basedash;
    let org = basedash::OrgRef {
        id: "o1".into(),
        name: "Acme Analytics".into(),
    };
    let ds = serde_json::json!({
        "id": "b1",
        "displayName": "Billing MySQL",
        "dialect": "MYSQL",
        "host": "billing-db",
        "lastHealthStatus": "UNHEALTHY",
        "lastSyncStatus": "FAILED",
        "syncErrorMessage": "ERROR: sync failed\n\tat host billing-db (port 3306) while reading the schema of every table in the database\n  caused by: Access denied for user 'bd_reader'"
    });
    let Some(r) = basedash::parse_data_source("demo-basedash", &org, &ds) else {
        panic!("parse")
    };
    let mut m = vendor_model(crate::model::VendorId::Basedash, vec![r], NOW);
    let out = render(&m, 120, 24);
    assert!(out.contains("Organization"), "{out}");
    assert!(out.contains("Acme Analytics"), "{out}");
    assert!(
        out.contains("ERROR: sync failed"),
        "sync error cell:\n{out}"
    );
    key(&mut m, KeyCode::Enter, KeyModifiers::NONE);
    let out = render(&m, 120, 24);
    assert!(
        out.contains("organization: Acme Analytics"),
        "detail:\n{out}"
    );
    // The full message, one line per line, indentation kept, wrapped under itself.
    assert!(out.contains("  ERROR: sync failed"), "{out}");
    assert!(out.contains("      at host billing-db"), "{out}");
    assert!(out.contains("    caused by: Access denied"), "{out}");
    insta::assert_snapshot!("basedash_detail_sync_error", out);
}

#[test]
fn every_vendor_puts_the_name_first() {
    use crate::model::VendorId;
    for v in VendorId::ALL {
        let spec = crate::vendors::spec(v);
        for k in spec.kinds {
            let cols = (spec.columns)(*k);
            assert_eq!(cols.first().map(|c| c.title), Some("Name"), "{v} {k}");
        }
    }
}

#[test]
fn create_datasource_form_filters_choices_and_says_what_it_set() {
    let mut m = sized(80, 24);
    if let Some(tab) = m.tab_mut() {
        for r in tab.resources_mut().iter_mut() {
            let mut raw = serde_json::json!({"id": r.id, "name": r.name,
                "database": {"type": "snow_flake", "version": "snowflake_1x"}});
            if r.kind == crate::model::Kind::Datasources {
                raw["dbms"] = serde_json::json!({"id": "SF", "name": "Snowflake"});
            }
            r.raw = raw.into();
        }
    }
    chars(&mut m, "a");
    chars(&mut m, "Orders");
    key(&mut m, KeyCode::Tab, KeyModifiers::NONE);
    chars(&mut m, "conn");
    let out = render(&m, 80, 24);
    assert!(out.contains("/conn▏ 3 of 3"), "{out}");
    assert!(out.contains("DBMS set to Snowflake"), "{out}");
    assert!(out.contains("Shift-Tab/↑ back"), "{out}");
    insta::assert_snapshot!("create_datasource_form_80x24", out);
}

/// Help lists the keys of every layer, from the tables that dispatch them: a binding added
/// to any table shows up here.
#[test]
fn help_lists_every_layers_keys_from_their_tables() {
    let mut m = sized(110, 48);
    chars(&mut m, "?");
    let out = render(&m, 110, 400);
    let sections = crate::app::router::help_sections();
    assert!(sections.len() >= 8, "{sections:?}");
    for s in &sections {
        assert!(
            out.contains(s.title),
            "help lacks the section {:?}\n{out}",
            s.title
        );
        assert!(!s.rows.is_empty(), "{:?} lists no keys", s.title);
        for (keys, help) in &s.rows {
            let line = format!("{keys:<18}{help}");
            let line = line.get(..60.min(line.len())).unwrap_or(&line).trim_end();
            assert!(
                out.contains(line),
                "help lacks {line:?} of {:?}\n{out}",
                s.title
            );
        }
    }
    for key in ["Ctrl-S", "c / Ctrl-T", "n / Esc / Enter", "R", "Ctrl-U"] {
        assert!(out.contains(key), "help lacks {key}\n{out}");
    }
}

#[test]
fn impact_check_then_a_confirmation_that_says_what_breaks_at_80x24() {
    let mut m = sized(80, 24);
    let fx = update(
        &mut m,
        Msg::Key(KeyEvent::new(KeyCode::Char('d'), KeyModifiers::CONTROL)),
    );
    insta::assert_snapshot!("impact_check_80x24", render(&m, 80, 24));
    answer_impacts(&mut m, fx, finance_breaks);
    let out = render(&m, 80, 24);
    assert!(out.contains("Type 1 and press Enter to delete"), "{out}");
    assert!(
        out.contains("breaks 2 reports, 1 dashboard in 2 projects"),
        "{out}"
    );
    insta::assert_snapshot!("impact_confirmation_80x24", out);
}

#[test]
fn detail_pane_shows_the_impact_per_project_and_type_at_80x24() {
    let mut m = sized(80, 24);
    let fx = update(
        &mut m,
        Msg::Key(KeyEvent::new(KeyCode::Char('i'), KeyModifiers::NONE)),
    );
    let pending = render(&m, 80, 24);
    answer_impacts(&mut m, fx, finance_breaks);
    key(&mut m, KeyCode::Enter, KeyModifiers::NONE);
    let out = render(&m, 80, 24);
    assert!(
        out.contains("breaks 2 reports, 1 dashboard in 2 projects"),
        "{out}"
    );
    assert!(out.contains("project 'Executive'"), "{out}");
    assert_ne!(pending, out);
    chars(&mut m, "JJJJ");
    let names = render(&m, 80, 24);
    assert!(
        names.contains("Revenue by Region · owner Priya Raman"),
        "{names}"
    );
    insta::assert_snapshot!("impact_detail_80x24", out);
    // The table with its Impact column (no detail pane).
    key(&mut m, KeyCode::Enter, KeyModifiers::NONE);
    insta::assert_snapshot!("impact_column_80x24", render(&m, 80, 24));
}

#[test]
fn overview_at_120x30_and_80x24() {
    let mut m = overview_model();
    m.measures = super::MEASURES;
    insta::assert_snapshot!("overview_120x30", render(&m, 120, 30));
    update(
        &mut m,
        Msg::Resize {
            width: 80,
            height: 24,
        },
    );
    let small = render(&m, 80, 24);
    assert!(small.contains("On call — 4 profiles"), "{small}");
    insta::assert_snapshot!("overview_80x24", small);
}

#[test]
fn marks_of_other_kinds_show_in_the_tab_bar_and_old_messages_expire() {
    let mut m = sized(100, 24);
    chars(&mut m, "] ");
    chars(&mut m, "[y");
    let out = render(&m, 100, 24);
    assert!(out.contains("Connections (3)●1"), "{out}");
    assert!(out.contains("copied id"), "a fresh status is shown:\n{out}");
    let status = m.status.clone().expect("a status");
    update(
        &mut m,
        Msg::Tick {
            now: status.at + 31,
        },
    );
    let later = render(&m, 100, 24);
    assert!(
        !later.contains(&status.text),
        "an info message expires:\n{later}"
    );
}

#[test]
fn the_log_pane_shows_seconds_and_wraps_long_lines() {
    let mut m = sized(80, 24);
    m.push_log(
        crate::app::state::Level::Warn,
        "prod: the default connection map of project 'Finance Reporting' could not be read, so what is in use is unknown: HTTP 503 END-OF-LINE",
    );
    chars(&mut m, "L");
    let out = render(&m, 80, 24);
    assert!(
        out.contains("2025-11-22 08:26:40 prod: the default"),
        "{out}"
    );
    assert!(
        out.contains("END-OF-LINE"),
        "the long line wraps, nothing is cut:\n{out}"
    );
}

#[test]
fn all_tab_at_120x30_and_80x24() {
    let mut m = overview_model();
    m.measures = super::MEASURES;
    for r in m.profiles[1].resources_mut().iter_mut() {
        r.profile = "qa".into();
    }
    chars(&mut m, "*");
    // prod's failing connections, marked; the cursor on qa's Finance.
    chars(&mut m, ":mark health:unhealthy");
    key(&mut m, KeyCode::Enter, KeyModifiers::NONE);
    chars(&mut m, "jjj");
    let wide = render(&m, 120, 30);
    assert!(wide.contains("* All"), "{wide}");
    assert!(
        wide.contains("All (18) — every object of 4 profiles"),
        "{wide}"
    );
    assert!(wide.contains("2 marked in all profiles"), "{wide}");
    insta::assert_snapshot!("all_tab_120x30", wide);
    update(
        &mut m,
        Msg::Resize {
            width: 80,
            height: 24,
        },
    );
    chars(&mut m, "/profile:prod");
    key(&mut m, KeyCode::Enter, KeyModifiers::NONE);
    let small = render(&m, 80, 24);
    assert!(small.contains("[filter: profile:prod]"), "{small}");
    assert!(
        small.contains("Profile"),
        "the profile column stays:\n{small}"
    );
    insta::assert_snapshot!("all_tab_80x24", small);
}

/// A delete over several profiles, `qa` protected when asked: prod's Sales and Finance, qa's
/// Marketing, bd's Billing MySQL; every impact answered (Finance breaks content).
fn batch_confirmation(w: u16, h: u16, qa_protected: bool) -> Model {
    use crate::app::modals::confirm::{open_batch, BatchRequest};
    let mut m = batch_model(qa_protected);
    m.measures = super::MEASURES;
    update(
        &mut m,
        Msg::Resize {
            width: w,
            height: h,
        },
    );
    let ds = |profile, ids: &[&str]| BatchRequest {
        profile,
        selected: ids
            .iter()
            .map(|id| (crate::model::Kind::Datasources, id.to_string()))
            .collect(),
        hidden: Vec::new(),
    };
    let fx = open_batch(
        &mut m,
        vec![
            ds(0, &["D1", "D2"]),
            ds(1, &["D3"]),
            ds(2, &["b1"]),
            ds(3, &["D1"]),
        ],
    );
    answer_impacts(&mut m, fx, finance_breaks);
    m
}

#[test]
fn batch_confirmation_lists_every_profile_and_keeps_its_prompt_at_80x24() {
    for (w, h) in [(80u16, 24u16), (100, 40)] {
        let m = batch_confirmation(w, h, false);
        let out = render(&m, w, h);
        let at = format!("{w}x{h}");
        assert!(
            out.contains("Delete 4 objects from 3 profiles"),
            "{at}\n{out}"
        );
        assert!(
            out.contains("Type 4 and press Enter to delete"),
            "{at}\n{out}"
        );
        assert!(
            out.contains("[ Cancel ]") && out.contains("[ Delete ]"),
            "{at}\n{out}"
        );
        assert!(out.contains("irreversible"), "{at}\n{out}");
        assert!(out.contains("soft delete"), "{at}\n{out}");
        assert!(out.contains("prod: breaks 2 reports"), "{at}\n{out}");
        insta::assert_snapshot!(format!("batch_confirm_{w}x{h}"), out);
    }
    // The smallest screen drawn keeps what to type and the buttons.
    let m = batch_confirmation(60, 16, true);
    let out = render(&m, 60, 16);
    assert!(out.contains("and press Enter"), "{out}");
    assert!(
        out.contains("[ Cancel ]") && out.contains("[ Delete ]"),
        "{out}"
    );
    // Scrolled to the end, the last profile's plan shows.
    let mut m = batch_confirmation(80, 24, false);
    key(&mut m, KeyCode::End, KeyModifiers::NONE);
    let out = render(&m, 80, 24);
    assert!(out.contains("bd (Basedash) — 1 object"), "{out}");
    assert!(out.contains("Billing MySQL"), "{out}");
}

#[test]
fn batch_confirmation_with_a_protected_profile_and_the_cascade_at_80x24() {
    let mut m = batch_confirmation(80, 24, true);
    key(&mut m, KeyCode::Char('t'), KeyModifiers::CONTROL);
    let out = render(&m, 80, 24);
    assert!(
        out.contains("Protected profile: type 'qa' and press Enter"),
        "{out}"
    );
    assert!(out.contains("Ctrl-T: cascade ON in every profile"), "{out}");
    insta::assert_snapshot!("batch_confirm_protected_cascade_80x24", out);
}

#[test]
fn batch_impact_wait_and_progress_at_80x24() {
    use crate::app::modals::confirm::{open_batch, BatchRequest};
    let mut m = batch_model(false);
    m.measures = super::MEASURES;
    update(
        &mut m,
        Msg::Resize {
            width: 80,
            height: 24,
        },
    );
    let ds = |profile, id: &str| BatchRequest {
        profile,
        selected: vec![(crate::model::Kind::Datasources, id.to_string())],
        hidden: Vec::new(),
    };
    let fx = open_batch(&mut m, vec![ds(0, "D1"), ds(2, "b1")]);
    let wait = render(&m, 80, 24);
    assert!(
        wait.contains("Checking what the delete breaks — 2 profiles"),
        "{wait}"
    );
    assert!(wait.contains("0/2"), "{wait}");
    insta::assert_snapshot!("batch_impact_wait_80x24", wait);
    answer_impacts(&mut m, fx, |_| None);
    chars(&mut m, "2");
    key(&mut m, KeyCode::Enter, KeyModifiers::NONE);
    let out = render(&m, 80, 24);
    assert!(out.contains("job 1 of 2 · prod … 0/1 · bd … 0/1"), "{out}");
    insta::assert_snapshot!("batch_progress_80x24", out);
    key(&mut m, KeyCode::Esc, KeyModifiers::NONE);
    let ask = render(&m, 80, 24);
    assert!(ask.contains("y cancel them all"), "{ask}");
}

#[test]
fn the_command_line_lists_completion_candidates_sanitized_and_cut_to_width() {
    let mut m = sized(100, 20);
    {
        let t = m.tab_mut().expect("tab");
        t.resources_mut()[0].owner = Some("Priya Raman".into());
        t.resources_mut()[1].owner = Some("priya shah".into());
        t.resources_mut()[2].owner = Some("Pat\u{1b}[31mRed".into());
    }
    chars(&mut m, ":mark owner:p");
    key(&mut m, KeyCode::Tab, KeyModifiers::NONE);
    let out = render(&m, 100, 20);
    assert!(!out.contains('\u{1b}'), "{out}");
    insta::assert_snapshot!("command_completion_owners", out);

    // At 80x24 with more candidates than fit: the one in the line stays shown.
    let mut m = sized(80, 24);
    if let Some(t) = m.tab_mut() {
        for (i, r) in t.resources_mut().iter_mut().enumerate() {
            r.owner = Some(format!("Owner Number {:02}", i + 1).into());
        }
    }
    chars(&mut m, ":mark owner:");
    key(&mut m, KeyCode::Tab, KeyModifiers::NONE);
    insta::assert_snapshot!("command_completion_80x24", render(&m, 80, 24));
    for _ in 0..7 {
        key(&mut m, KeyCode::Tab, KeyModifiers::NONE);
    }
    insta::assert_snapshot!("command_completion_cycled_80x24", render(&m, 80, 24));
}

/// Watch: a connection that failed after the operator last looked is counted in the
/// overview ("✚1 since 22:33"), marked ✚ in its tab with the count on the status line, and
/// its detail says since when and its last test.
#[test]
fn watch_new_failures_in_the_overview_the_table_and_the_detail() {
    use crate::model::{Health, Kind};
    let mut m = overview_model();
    m.measures = super::MEASURES;
    update(&mut m, Msg::Tick { now: NOW + 600 });
    let mut objects = resources();
    for r in objects.iter_mut().filter(|r| r.kind == Kind::Connections) {
        r.health = Health::Unhealthy("connection refused".into());
    }
    m.profiles[0].generation += 1;
    let generation = m.profiles[0].generation;
    update(
        &mut m,
        Msg::Loaded {
            profile: 0,
            generation,
            at: NOW + 600,
            result: Ok(crate::vendors::Snapshot {
                resources: objects,
                warnings: vec![],
            }),
        },
    );
    update(
        &mut m,
        Msg::TestResult {
            job: 7,
            profile: 0,
            id: "C3".into(),
            result: Err(crate::ops::connection_tests::TestFailure {
                reason: "connection refused".into(),
                sentence: "connection 'Old Conn': connection refused".into(),
                setup: false,
            }),
        },
    );
    update(&mut m, Msg::Tick { now: NOW + 660 });
    let overview = render(&m, 120, 30);
    assert!(overview.contains("✚1 since 08:26"), "{overview}");
    assert!(
        overview.contains("✚1 new since you last looked (n)"),
        "{overview}"
    );
    insta::assert_snapshot!("watch_overview_120x30", overview);
    update(
        &mut m,
        Msg::Resize {
            width: 80,
            height: 24,
        },
    );
    chars(&mut m, "1]n");
    let table = render(&m, 80, 24);
    assert!(table.contains("✚"), "{table}");
    assert!(table.contains("✚1 new since 08:26 (n/N)"), "{table}");
    insta::assert_snapshot!("watch_table_80x24", table);
    key(&mut m, KeyCode::Enter, KeyModifiers::NONE);
    let detail = render(&m, 120, 30);
    assert!(
        detail.contains("seen unhealthy since 2025-11-22 08:36 UTC"),
        "{detail}"
    );
    assert!(detail.contains("new since you last looked"), "{detail}");
    assert!(
        detail.contains("last tested 2025-11-22 08:36 UTC"),
        "{detail}"
    );
    insta::assert_snapshot!("watch_detail_120x30", detail);
}

/// Edit (`e`): the form with what the login has (the password write-only), then the plan
/// of what changed with its prompt, at 80x24.
#[test]
fn edit_form_and_change_confirmation_at_80x24() {
    let mut m = sized(80, 24);
    chars(&mut m, "]]j");
    chars(&mut m, "e");
    let out = render(&m, 80, 24);
    assert!(out.contains("Edit login 'shared'"), "{out}");
    assert!(out.contains("review the change"), "{out}");
    insta::assert_snapshot!("edit_form_80x24", out);
    for _ in 0..10 {
        key(&mut m, KeyCode::Backspace, KeyModifiers::NONE);
    }
    chars(&mut m, "shared-etl");
    key(&mut m, KeyCode::Tab, KeyModifiers::NONE);
    key(&mut m, KeyCode::Tab, KeyModifiers::NONE);
    chars(&mut m, "s3cret-value");
    key(&mut m, KeyCode::Char('s'), KeyModifiers::CONTROL);
    let out = render(&m, 80, 24);
    assert!(out.contains("password → (new secret)"), "{out}");
    assert!(!out.contains("s3cret-value"), "{out}");
    assert!(
        out.contains("Type 1 and Enter (or y) to change 1 object"),
        "{out}"
    );
    insta::assert_snapshot!("change_confirmation_80x24", out);
}

fn trash_model(w: u16, h: u16) -> Model {
    let mut m = sized(w, h);
    chars(&mut m, ":trash");
    key(&mut m, KeyCode::Enter, KeyModifiers::NONE);
    update(&mut m, Msg::DeletedRead(Ok(audit_rows())));
    m
}

#[test]
fn trash_view_and_its_restore_confirmation() {
    for (w, h) in [(80, 24), (120, 30)] {
        let mut m = trash_model(w, h);
        chars(&mut m, " ");
        insta::assert_snapshot!(format!("trash_{w}x{h}"), render(&m, w, h));
        // The datasource alone (no secret): its confirmation.
        key(&mut m, KeyCode::Up, KeyModifiers::NONE);
        chars(&mut m, " R");
        let out = render(&m, w, h);
        assert!(
            out.contains("Type 1 and Enter (or y) to restore 1 object"),
            "{out}"
        );
        insta::assert_snapshot!(format!("trash_confirm_{w}x{h}"), out);
    }
}

#[test]
fn trash_rows_show_server_names_made_safe_and_keep_their_columns() {
    let (w, h) = (100, 24);
    let mut m = sized(w, h);
    chars(&mut m, ":trash");
    key(&mut m, KeyCode::Enter, KeyModifiers::NONE);
    let mut rows = audit_rows();
    rows[0].name = "Old\u{202e}Sales\u{1b}[31m".into();
    update(&mut m, Msg::DeletedRead(Ok(rows)));
    let out = render(&m, w, h);
    assert!(
        !out.contains('\u{1b}') && !out.contains('\u{202e}'),
        "{out}"
    );
    let header = out.lines().find(|l| l.contains("STATE")).expect("header");
    let row = out.lines().find(|l| l.contains("Old")).expect("the row");
    let col = |l: &str, s: &str| l.find(s).map(|i| l[..i].chars().count());
    assert_eq!(
        col(row, "deleted"),
        col(header, "STATE"),
        "the state stays in its column:\n{out}"
    );
}
