//! Input routing by layer: the top dialog takes every key and is put back (or dropped).

use super::*;
use crate::app::fixtures::*;
use crate::app::keys::Key;
use crate::app::state::*;

/// The table's state a leaked key would change: cursor, marks, kind, filter, detail.
fn table_state(m: &Model) -> (usize, usize, Vec<String>, String, bool) {
    let tab = m.tab().expect("tab");
    let v = tab.view().expect("view");
    (
        tab.kind_index,
        v.cursor,
        v.marks.iter().cloned().collect(),
        v.filter.clone(),
        m.detail_open,
    )
}

/// Every key of the table that the open dialog's own table does not bind.
fn unknown_to(dialog: &[Key]) -> Vec<KeyEvent> {
    crate::app::keymap::BINDINGS
        .iter()
        .flat_map(|b| b.keys.iter().copied())
        .filter(|k| !dialog.contains(k))
        .filter_map(|k| match k {
            Key::Char(c) => Some(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)),
            Key::Ctrl(c) => Some(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)),
            Key::Code(c) => Some(KeyEvent::new(c, KeyModifiers::NONE)),
            Key::Digit19 => Some(KeyEvent::new(KeyCode::Char('2'), KeyModifiers::NONE)),
            Key::Shift(_) | Key::Digit => None,
        })
        // Quit is not a table key a dialog could leak without the test noticing.
        .filter(|k| k.code != KeyCode::Char('c') || k.modifiers != KeyModifiers::CONTROL)
        .collect()
}

#[test]
fn a_key_the_top_dialog_does_not_know_never_reaches_the_table() {
    let dialogs: Vec<(Modal, &[crate::app::keys::Binding<_>])> = vec![
        (Modal::ConfirmQuit, crate::app::modals::question::BINDINGS),
        (
            Modal::CancelJob { job: 7 },
            crate::app::modals::question::BINDINGS,
        ),
    ];
    for (dialog, table) in dialogs {
        let own: Vec<Key> = table.iter().flat_map(|b| b.keys.iter().copied()).collect();
        for k in unknown_to(&own) {
            let mut m = loaded_model();
            m.modals.push(dialog.clone());
            let before = table_state(&m);
            let fx = update(&mut m, Msg::Key(k));
            assert!(fx.is_empty(), "{k:?} under {dialog:?} gave {fx:?}");
            assert_eq!(table_state(&m), before, "{k:?} leaked under {dialog:?}");
            assert_eq!(m.modals.len(), 1, "{k:?} under {dialog:?}");
            assert_eq!(m.mode, Mode::Normal, "{k:?} under {dialog:?}");
        }
    }
    // The pagers and the progress view: a table key they do not bind does nothing either.
    for dialog in [
        Modal::Help { scroll: 0 },
        Modal::Log { scroll: 0 },
        Modal::Progress { job: 1, scroll: 0 },
    ] {
        for c in ['/', ' ', 'A', 'a', 'n', 't', ']', 'o', ':', 's'] {
            let mut m = loaded_model();
            m.modals.push(dialog.clone());
            let before = table_state(&m);
            let fx = ch(&mut m, c);
            assert!(fx.is_empty(), "{c:?} under {dialog:?} gave {fx:?}");
            assert_eq!(table_state(&m), before, "{c:?} leaked under {dialog:?}");
            assert_eq!(m.modals.len(), 1, "{c:?} under {dialog:?}");
            assert_eq!(m.mode, Mode::Normal, "{c:?} under {dialog:?}");
        }
    }
}

#[test]
fn a_dialog_closed_by_its_key_is_gone_and_one_left_open_keeps_its_state() {
    let mut m = loaded_model();
    ch(&mut m, ']'); // connections
    ch(&mut m, 'a');
    typed(&mut m, "New Conn");
    key(&mut m, KeyCode::Tab);
    let Some(Modal::Create(f)) = m.modals.last() else {
        panic!("the form is open: {:?}", m.modals);
    };
    assert_eq!(f.texts[0].text, "New Conn");
    assert_eq!(f.focus, 1);
    assert_eq!(m.modals.len(), 1, "put back, not added: {:?}", m.modals);
    key(&mut m, KeyCode::Esc);
    assert!(m.modals.is_empty(), "closed by Esc: {:?}", m.modals);

    // A dialog that opens another is put back under it, with its own state kept.
    let mut m = loaded_model();
    ch(&mut m, 'A');
    ctrl_d(&mut m);
    let count = confirm(&m).plan.steps.len().to_string();
    typed(&mut m, &count);
    key(&mut m, KeyCode::Enter);
    let job = match m.modals.as_slice() {
        [Modal::Progress { job, .. }] => *job,
        other => panic!("the confirmation closed and progress opened: {other:?}"),
    };
    key(&mut m, KeyCode::Down);
    key(&mut m, KeyCode::Esc);
    match m.modals.as_slice() {
        [Modal::Progress { job: j, scroll: 1 }, Modal::CancelJob { job: c }] => {
            assert_eq!((*j, *c), (job, job));
        }
        other => panic!("progress kept under the question: {other:?}"),
    }
    ch(&mut m, 'n');
    assert!(
        matches!(m.modals.as_slice(), [Modal::Progress { scroll: 1, .. }]),
        "{:?}",
        m.modals
    );
}
