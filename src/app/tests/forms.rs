//! Create forms.

use super::*;
use crate::app::effect::Effect;
use crate::app::fixtures::*;
use crate::app::msg::Msg;
use crate::app::state::*;
use crate::app::update::update;
use crate::model::Kind;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

fn form(m: &Model) -> &CreateForm {
    match m.modals.last() {
        Some(Modal::Create(f)) => f,
        other => panic!("expected a create form, got {other:?}"),
    }
}

fn chosen_label(m: &Model, field: usize) -> Option<String> {
    let f = form(m);
    let crate::vendors::forms::FieldKind::Choice(options) = &f.spec.fields[field].kind else {
        panic!("field {field} is not a choice")
    };
    f.choices[field]
        .and_then(|i| options.get(i))
        .map(|c| c.label.clone())
}

/// The fixture with the wire facts a datasource form reads: each connection's database
/// type, each datasource's DBMS.
fn model_with_database_types() -> Model {
    let mut m = loaded_model();
    if let Some(tab) = m.tab_mut() {
        for r in tab.resources_mut().iter_mut() {
            let (ty, ver) = if r.name.starts_with("Mkt") || r.name == "Marketing" {
                ("postgre_sql", "postgre_sql_15")
            } else {
                ("snow_flake", "snowflake_1x")
            };
            let mut raw = serde_json::json!({"id": r.id, "name": r.name,
                "database": {"type": ty, "version": ver}});
            if r.kind == Kind::Datasources {
                let dbms = if ty == "snow_flake" {
                    "Snowflake"
                } else {
                    "PostgreSQL 15.x"
                };
                raw["dbms"] = serde_json::json!({"id": format!("DBMS-{ty}"), "name": dbms});
            }
            r.raw = raw.into();
        }
    }
    m
}

#[test]
fn create_form_goes_back_with_shift_tab_and_up() {
    let mut m = loaded_model();
    ch(&mut m, 'a'); // datasource form: Name, Connection, DBMS, Description
    key(&mut m, KeyCode::Tab);
    key(&mut m, KeyCode::Tab);
    assert_eq!(form(&m).focus, 2);
    key(&mut m, KeyCode::BackTab);
    assert_eq!(form(&m).focus, 1);
    key(&mut m, KeyCode::Up);
    assert_eq!(form(&m).focus, 0);
    // Some terminals send Shift-Tab as Tab with the Shift modifier.
    key(&mut m, KeyCode::Tab);
    key(&mut m, KeyCode::Tab);
    update(
        &mut m,
        Msg::Key(KeyEvent::new(KeyCode::Tab, KeyModifiers::SHIFT)),
    );
    assert_eq!(form(&m).focus, 1);
}

#[test]
fn choice_fields_filter_as_you_type() {
    let mut m = loaded_model();
    ch(&mut m, 'a');
    key(&mut m, KeyCode::Tab); // Connection
    typed(&mut m, "mkt");
    assert_eq!(chosen_label(&m, 1).as_deref(), Some("Mkt Conn [?]"));
    assert_eq!(form(&m).filters[1].text, "mkt");
    for _ in 0..3 {
        key(&mut m, KeyCode::Backspace);
    }
    typed(&mut m, "old");
    assert_eq!(chosen_label(&m, 1).as_deref(), Some("Old Conn [?]"));
    // Left/Right move among the matches only.
    key(&mut m, KeyCode::Right);
    assert_eq!(chosen_label(&m, 1).as_deref(), Some("Old Conn [?]"));
    // Nothing matches: nothing is chosen, so nothing unintended can be sent.
    typed(&mut m, "zzz");
    assert_eq!(chosen_label(&m, 1), None);
    // Pasted text filters too.
    for _ in 0..6 {
        key(&mut m, KeyCode::Backspace);
    }
    update(&mut m, Msg::Paste("sales".into()));
    assert_eq!(chosen_label(&m, 1).as_deref(), Some("Sales Conn [?]"));
}

#[test]
fn the_datasource_form_takes_the_dbms_from_the_connection_and_says_so() {
    let mut m = model_with_database_types();
    ch(&mut m, 'a');
    typed(&mut m, "New DS");
    key(&mut m, KeyCode::Tab);
    typed(&mut m, "mkt");
    assert_eq!(chosen_label(&m, 2).as_deref(), Some("PostgreSQL 15.x"));
    let note = form(&m).note.clone().unwrap_or_default();
    assert!(
        note.contains("PostgreSQL 15.x") && note.contains("Mkt Conn"),
        "{note}"
    );
    // Choosing another DBMS by hand is possible, but the form says it does not match.
    key(&mut m, KeyCode::Tab);
    typed(&mut m, "snow");
    assert_eq!(chosen_label(&m, 2).as_deref(), Some("Snowflake"));
    let fx = ctrl(&mut m, 's');
    assert!(fx.is_empty(), "a mismatch is not sent silently: {fx:?}");
    let err = form(&m).error.clone().unwrap_or_default();
    assert!(
        err.contains("Snowflake") && err.contains("postgre_sql") && err.contains("Ctrl-S again"),
        "{err}"
    );
    // Asked twice, it is sent as chosen.
    let fx = ctrl(&mut m, 's');
    match fx.as_slice() {
        [Effect::Create { body, .. }] => assert_eq!(body["database"]["type"], "snow_flake"),
        other => panic!("{other:?}"),
    }
}
