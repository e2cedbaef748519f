//! The `:` line: prefix matching, ambiguity errors, Tab completion and its cycling, and the
//! history walked with Up and Down.

use super::*;
use crate::app::fixtures::*;
use crate::model::{Kind, VendorId};

fn kind_now(m: &Model) -> Kind {
    let t = m.tab().expect("tab");
    t.views[t.kind_index].kind
}

/// Run `line` as a `:` command; its effects without the history's.
fn run(m: &mut Model, line: &str) -> Vec<Effect> {
    ch(m, ':');
    typed(m, line);
    run_line_effects(key(m, KeyCode::Enter))
}

fn tab(m: &mut Model) {
    key(m, KeyCode::Tab);
}

fn back_tab(m: &mut Model) {
    update(
        m,
        Msg::Key(KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT)),
    );
}

fn line(m: &Model) -> &str {
    &m.input.text
}

fn candidates(m: &Model) -> Vec<String> {
    m.completion
        .as_ref()
        .map(|c| c.candidates.clone())
        .unwrap_or_default()
}

fn two_prods() -> Model {
    let mut m = Model::new(vec![info("prod"), info("prod-eu"), info("qa")], NOW);
    update(
        &mut m,
        Msg::Resize {
            width: 100,
            height: 30,
        },
    );
    m
}

fn databrain() -> Model {
    let mut p = info("db");
    p.vendor = VendorId::Databrain;
    Model::new(vec![p], NOW)
}

#[test]
fn commands_and_kinds_match_by_unambiguous_prefix_any_case() {
    let mut m = loaded_model();
    run(&mut m, "kind conn");
    assert_eq!(kind_now(&m), Kind::Connections);
    run(&mut m, "KIND Log");
    assert_eq!(kind_now(&m), Kind::Logins);
    run(&mut m, "ki datasource");
    assert_eq!(kind_now(&m), Kind::Datasources);
    // The aliases still work.
    run(&mut m, "k logins");
    assert_eq!(kind_now(&m), Kind::Logins);
    run(&mut m, "ov");
    assert!(m.overview.is_some(), "':ov' is :overview");
    m.overview = None;
    run(&mut m, "o");
    assert!(m.overview.is_some(), "':o' is :overview");
    m.overview = None;
    // :marks by prefix: clear, then restore brings them back.
    ch(&mut m, ' ');
    assert_eq!(marks(&m), 1);
    run(&mut m, "marks c");
    assert_eq!(marks(&m), 0);
    run(&mut m, "m res");
    assert_eq!(marks(&m), 1);
}

#[test]
fn an_exact_profile_name_wins_over_a_longer_one_it_starts() {
    let mut m = two_prods();
    run(&mut m, "profile qa");
    assert_eq!(m.active, 2);
    run(&mut m, "profile prod");
    assert_eq!(m.active, 0, "exact 'prod' wins over 'prod-eu'");
    run(&mut m, "p PROD-");
    assert_eq!(m.active, 1, "the one profile starting with 'prod-'");
    run(&mut m, "pr q");
    assert_eq!(m.active, 2);
}

#[test]
fn an_ambiguous_or_unknown_prefix_says_what_it_could_be() {
    let mut m = two_prods();
    run(&mut m, "profile pr");
    assert_eq!(m.active, 0, "nothing switched");
    assert_eq!(status_text(&m), "':profile pr' matches prod, prod-eu");
    run(&mut m, "profile x");
    assert!(
        status_text(&m).contains("no profile 'x' (profiles: prod, prod-eu, qa)"),
        "{}",
        status_text(&m)
    );
    run(&mut m, "ma");
    assert_eq!(status_text(&m), "':ma' matches mark, marks");
    run(&mut m, "zz");
    assert!(status_text(&m).starts_with("unknown command ':zz'"));

    let mut m = databrain();
    run(&mut m, "kind d");
    assert_eq!(status_text(&m), "':kind d' matches datasources, datamarts");
    assert_eq!(kind_now(&m), Kind::Datasources);
    run(&mut m, "kind datam");
    assert_eq!(kind_now(&m), Kind::Datamarts);
    run(&mut m, "kind logins");
    assert_eq!(
        status_text(&m),
        "no kind 'logins' in this profile (kinds: datasources, datamarts)"
    );
}

#[test]
fn tab_completes_the_command_then_its_argument() {
    let mut m = loaded_model();
    ch(&mut m, ':');
    typed(&mut m, "ki");
    tab(&mut m);
    assert_eq!(line(&m), "kind ");
    typed(&mut m, "C");
    tab(&mut m);
    assert_eq!(line(&m), "kind connections ");
    assert_eq!(m.input.cursor, line(&m).chars().count());
    assert!(m.completion.is_none(), "one candidate: nothing listed");
    key(&mut m, KeyCode::Enter);
    assert_eq!(kind_now(&m), Kind::Connections);

    // :marks offers its two arguments.
    ch(&mut m, ':');
    typed(&mut m, "marks ");
    tab(&mut m);
    assert_eq!(line(&m), "marks ");
    assert_eq!(candidates(&m), ["clear", "restore"]);
    typed(&mut m, "r");
    assert!(m.completion.is_none(), "typing ends the offer");
    tab(&mut m);
    assert_eq!(line(&m), "marks restore ");
}

#[test]
fn several_candidates_complete_their_common_prefix_then_tab_cycles_and_shift_tab_goes_back() {
    let mut m = loaded_model();
    ch(&mut m, ':');
    typed(&mut m, "ma");
    tab(&mut m);
    assert_eq!(line(&m), "mark");
    assert_eq!(candidates(&m), ["mark", "marks"]);
    tab(&mut m);
    assert_eq!(line(&m), "mark");
    tab(&mut m);
    assert_eq!(line(&m), "marks");
    tab(&mut m);
    assert_eq!(line(&m), "mark", "cycling wraps");
    back_tab(&mut m);
    assert_eq!(line(&m), "marks");
    back_tab(&mut m);
    assert_eq!(line(&m), "mark");
    key(&mut m, KeyCode::Esc);
    assert!(m.completion.is_none());

    // Profile names, in a model with several.
    let mut m = two_prods();
    ch(&mut m, ':');
    typed(&mut m, "profile ");
    tab(&mut m);
    assert_eq!(candidates(&m), ["prod", "prod-eu", "qa"]);
    back_tab(&mut m);
    assert_eq!(line(&m), "profile qa");
}

#[test]
fn mark_queries_complete_words_fields_and_owners_of_the_loaded_objects() {
    let mut m = loaded_model();
    {
        let t = m.tab_mut().expect("tab");
        t.resources_mut()[0].owner = Some("Priya Raman".into());
        t.resources_mut()[1].owner = Some("priya shah".into());
        t.resources_mut()[2].owner = None;
    }
    ch(&mut m, ':');
    typed(&mut m, "mark o");
    tab(&mut m);
    assert_eq!(line(&m), "mark o");
    assert_eq!(candidates(&m), ["orphans", "owner:"]);
    tab(&mut m);
    tab(&mut m);
    assert_eq!(line(&m), "mark owner:");
    // Cycling stops with the next key: Tab now offers the owners.
    typed(&mut m, "p");
    tab(&mut m);
    assert_eq!(line(&m), "mark owner:Priya*");
    assert_eq!(candidates(&m), ["owner:Priya*Raman", "owner:priya*shah"]);
    typed(&mut m, "r");
    tab(&mut m);
    assert_eq!(line(&m), "mark owner:Priya*Raman ");
    // Later words: fields (no whole-query words), negated fields, values.
    typed(&mut m, "!he");
    tab(&mut m);
    assert_eq!(line(&m), "mark owner:Priya*Raman !health:");
    typed(&mut m, "un");
    tab(&mut m);
    assert_eq!(candidates(&m), ["!health:unhealthy", "!health:unknown"]);
    key(&mut m, KeyCode::Esc);
    // The completed owner finds the object.
    run(&mut m, "mark owner:Priya*Raman");
    assert_eq!(marks(&m), 1);

    // The filter line completes fields too.
    ch(&mut m, '/');
    typed(&mut m, "kind:con");
    tab(&mut m);
    assert_eq!(line(&m), "kind:connections ");
}

#[test]
fn up_and_down_walk_the_history_and_come_back_to_the_draft() {
    let mut m = loaded_model();
    // A command run before the earlier runs' history arrived goes after it.
    let fx = key(&mut m, KeyCode::Char(':'));
    assert!(fx.is_empty());
    typed(&mut m, "kind logins");
    let fx = key(&mut m, KeyCode::Enter);
    assert!(
        matches!(fx.as_slice(), [Effect::RememberCommand(l)] if l == "kind logins"),
        "{fx:?}"
    );
    update(
        &mut m,
        Msg::HistoryLoaded {
            entries: vec!["overview".into(), "kind conn".into()],
            warning: None,
        },
    );
    assert_eq!(m.history.entries, ["overview", "kind conn", "kind logins"]);
    // The same line again is not repeated.
    ch(&mut m, ':');
    typed(&mut m, "kind logins");
    let fx = key(&mut m, KeyCode::Enter);
    assert!(fx.is_empty(), "a repeat is not stored: {fx:?}");
    assert_eq!(m.history.entries.len(), 3);
    // A line that names no command (a password pasted at the wrong prompt) is not kept.
    ch(&mut m, ':');
    typed(&mut m, "hunter2");
    assert!(key(&mut m, KeyCode::Enter).is_empty());
    assert_eq!(m.history.entries.len(), 3);

    ch(&mut m, ':');
    typed(&mut m, "fil");
    key(&mut m, KeyCode::Up);
    assert_eq!(line(&m), "kind logins");
    key(&mut m, KeyCode::Left);
    key(&mut m, KeyCode::Up);
    assert_eq!(line(&m), "kind conn", "moving the cursor keeps the walk");
    key(&mut m, KeyCode::Up);
    key(&mut m, KeyCode::Up);
    assert_eq!(line(&m), "overview", "the oldest stays");
    key(&mut m, KeyCode::Down);
    assert_eq!(line(&m), "kind conn");
    key(&mut m, KeyCode::Down);
    key(&mut m, KeyCode::Down);
    assert_eq!(line(&m), "fil", "past the newest: the draft");
    assert_eq!(m.input.cursor, 3);
    key(&mut m, KeyCode::Down);
    assert_eq!(line(&m), "fil");
    // Editing a recalled line makes it the draft of the next walk.
    key(&mut m, KeyCode::Up);
    key(&mut m, KeyCode::Up);
    typed(&mut m, "n");
    assert_eq!(line(&m), "kind connn");
    key(&mut m, KeyCode::Up);
    assert_eq!(line(&m), "kind logins");
    key(&mut m, KeyCode::Down);
    assert_eq!(line(&m), "kind connn");
    // Running a recalled line runs it.
    key(&mut m, KeyCode::Up);
    key(&mut m, KeyCode::Up);
    key(&mut m, KeyCode::Enter);
    assert_eq!(kind_now(&m), Kind::Connections);
    // Up in the filter does nothing to the line.
    ch(&mut m, '/');
    typed(&mut m, "sa");
    key(&mut m, KeyCode::Up);
    assert_eq!(line(&m), "sa");
}

#[test]
fn an_unreadable_history_is_a_warning_in_the_log() {
    let mut m = loaded_model();
    update(
        &mut m,
        Msg::HistoryLoaded {
            entries: Vec::new(),
            warning: Some("command history not read (x): denied".into()),
        },
    );
    assert!(m.history.entries.is_empty());
    assert!(m
        .log
        .iter()
        .any(|e| e.level == Level::Warn && e.text.contains("denied")));
    // Up with no history keeps the line.
    ch(&mut m, ':');
    typed(&mut m, "ov");
    key(&mut m, KeyCode::Up);
    assert_eq!(line(&m), "ov");
}
