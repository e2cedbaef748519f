//! The delete confirmation and the table, driven through the real binary in a
//! pseudo-terminal as an operator would: a pasted `y` never confirms, Enter does what the
//! highlighted button says, Esc never throws marks away, and the dialog's prompt and
//! buttons stay on screen at the smallest supported size.
// These run the built-in simulators, which need the `sim` feature (on by default).
#![cfg(feature = "sim")]

mod common {
    pub mod pty;
}

use common::pty::{Session, CTRL_D, ENTER, ESC, TAB};
use std::time::Duration;

/// Time given to the program to act on a key before checking that it did NOT do something
/// (a key is handled and drawn in well under this).
const QUIET: Duration = Duration::from_millis(500);

/// Nothing was deleted: no delete in the audit log, no delete job (the status bar shows
/// running jobs as "deleting n/m", and `p` finds none), and the table still holds `n`.
fn assert_nothing_deleted(s: &mut Session, n: usize) {
    let audited: Vec<String> = s
        .audit_lines()
        .into_iter()
        .filter(|l| l.contains("\"delete\""))
        .collect();
    assert!(audited.is_empty(), "audited deletes: {audited:#?}");
    assert!(!s.text().contains("deleting"), "a delete job is running");
    s.send(b"p");
    s.wait_for_text("no delete has run yet");
    s.send(b"r");
    s.wait_for(&format!("Datasources ({n}) after a refresh"), |t| {
        common::pty::kind_count(t, "Datasources") == Some(n) && t.contains("loaded ")
    });
}

#[test]
fn a_pasted_y_in_a_one_object_confirmation_deletes_nothing_and_leaves_no_job() {
    let mut s = Session::demo(100, 30);
    let n = s.wait_for_table();
    s.send(b" ");
    s.wait_for_text("1 marked");
    s.send(b"k");
    s.send(CTRL_D);
    s.wait_for_text("Delete 1 object from demo-mstr");
    s.wait_for_text("Press y to delete, Esc to cancel.");
    s.paste("y");
    s.settle(QUIET);
    let t = s.text();
    assert!(!t.contains("Deleting"), "a paste started a delete:\n{t}");
    assert!(
        t.contains("Delete 1 object from demo-mstr"),
        "the dialog closed:\n{t}"
    );
    s.wait_for_text("pasted text ignored");
    s.send(ESC);
    s.wait_gone("Delete 1 object");
    s.wait_for_text("delete cancelled: nothing was sent");
    assert!(s.text().contains("1 marked"), "the mark is kept");
    assert_nothing_deleted(&mut s, n);
    s.quit();
}

#[test]
fn enter_with_cancel_highlighted_after_typing_the_count_does_not_delete() {
    let mut s = Session::demo(100, 30);
    let n = s.wait_for_table();
    s.send(b"A");
    s.wait_for_text(&format!("{n} marked"));
    s.send(CTRL_D);
    s.wait_for_text(&format!("Type {n} and press Enter to delete:"));
    s.send(n.to_string().as_bytes());
    s.settle(QUIET);
    // Typing the count highlights Delete; Tab goes back to Cancel, and Enter cancels.
    s.send(TAB);
    s.settle(QUIET);
    s.send(ENTER);
    s.settle(QUIET);
    let t = s.text();
    assert!(
        !t.contains("Deleting") && !t.contains("Delete finished"),
        "Enter on Cancel deleted:\n{t}"
    );
    s.wait_gone(&format!("Delete {n} objects"));
    s.wait_for_text("delete cancelled: nothing was sent");
    assert!(s.text().contains(&format!("{n} marked")), "marks kept");
    assert_nothing_deleted(&mut s, n);
    s.quit();
}

#[test]
fn a_wrong_count_says_what_to_type_and_keeps_the_dialog_open() {
    let mut s = Session::demo(100, 30);
    let n = s.wait_for_table();
    s.send(b"A");
    s.send(CTRL_D);
    s.wait_for_text(&format!("Type {n} and press Enter to delete:"));
    s.send((n - 1).to_string().as_bytes());
    s.wait_for_text(&format!("delete: {}", n - 1));
    s.send(ENTER);
    s.settle(QUIET);
    assert!(
        s.text()
            .contains(&format!("Delete {n} objects from demo-mstr")),
        "a wrong count closed the dialog"
    );
    s.wait_for_text(&format!("type {n} to confirm"));
    s.send(ESC);
    s.wait_gone(&format!("Delete {n} objects"));
    assert_nothing_deleted(&mut s, n);
    s.quit();
}

#[test]
fn esc_after_cancelling_keeps_the_marks() {
    let mut s = Session::demo(100, 30);
    let n = s.wait_for_table();
    s.send(b"A");
    s.wait_for_text(&format!("{n} marked"));
    s.send(b"/Sales");
    s.send(ENTER);
    s.wait_for_text("hidden by filter");
    s.send(CTRL_D);
    s.wait_for_text(&format!("Delete {n} objects from demo-mstr"));
    // One Esc at a time, each waited for: Esc followed at once by a key reads as Alt-key.
    s.send(ESC);
    s.wait_gone(&format!("Delete {n} objects"));
    s.send(ESC);
    s.settle(QUIET);
    s.send(ESC);
    s.settle(QUIET);
    let t = s.text();
    assert!(t.contains(&format!("{n} marked")), "Esc lost marks:\n{t}");
    assert!(t.contains("Esc keeps marks"), "{t}");
    assert_eq!(common::pty::kind_count(&t, "Datasources"), Some(n));
    assert!(
        !t.contains("[filter:"),
        "the filter was cleared first:\n{t}"
    );
    // U clears them, Ctrl-Z brings them back.
    s.send(b"U");
    s.wait_for_text(&format!("cleared {n} marks"));
    assert!(!s.text().contains(&format!("{n} marked")));
    s.send(b"\x1a");
    s.wait_for_text(&format!("{n} marked"));
    s.quit();
}

#[test]
fn at_60x16_the_dialog_keeps_its_prompt_irreversible_line_and_buttons() {
    let mut s = Session::demo(60, 16);
    let n = s.wait_for_table();
    s.send(b"A");
    s.send(CTRL_D);
    s.wait_for_text(&format!("Delete {n} objects"));
    s.send(b"c");
    s.wait_for_text("cascade ON");
    s.wait_for_text("and press Enter to delete:");
    s.wait_for_text("irreversible");
    s.wait_for_text("[ Cancel ]");
    s.wait_for_text("[ Delete ]");
    s.wait_for_text(" more");
    s.send(ESC);
    s.wait_gone("[ Cancel ]");
    s.quit();
}

#[test]
fn backing_out_of_an_impact_warning_deletes_nothing() {
    let mut s = Session::demo(110, 34);
    let n = s.wait_for_table();
    // Sales Commissions: two reports and a dashboard in Sales Analytics use it.
    s.send(b"/Sales Commissions");
    s.send(ENTER);
    s.wait_for_text("Datasources (1/");
    s.send(CTRL_D);
    s.wait_for_text("impact: breaks 2 reports, 1 dashboard in 1 project");
    // One object, but content breaks: the count must be typed; y does nothing.
    s.wait_for_text("Type 1 and press Enter to delete:");
    s.send(b"y");
    s.settle(QUIET);
    assert!(!s.text().contains("Deleting"), "y started a delete");
    // The names of what breaks are on screen.
    assert!(s.text().contains("(Sales Commissions) #1"), "{}", s.text());
    s.send(ENTER);
    s.wait_gone("Delete 1 object");
    s.wait_for_text("delete cancelled: nothing was sent");
    s.send(ESC);
    s.wait_for_text(&format!("Datasources ({n})"));
    assert_nothing_deleted(&mut s, n);
    s.quit();
}

#[test]
fn on_call_starts_on_the_overview_opens_the_worst_profile_and_exports_its_unhealthy_rows() {
    let mut s = Session::demo(140, 34);
    s.wait_for_text("On call — 5 profiles");
    // Worst first: Basedash, whose data sources fail to sync.
    s.wait_for("every profile loaded", |t| {
        t.contains("7 unhealthy") && !t.contains("never ·")
    });
    let first_row = s
        .text()
        .lines()
        .find(|l| l.contains("demo-"))
        .unwrap_or_default()
        .to_string();
    assert!(first_row.contains("demo-basedash"), "{first_row}");
    s.send(ENTER);
    s.wait_for_text("[unhealthy only]");
    s.wait_for_text("Datasources (7/");
    let out = s.data_dir().with_file_name("unhealthy.csv");
    s.send(format!(":export {}", out.display()).as_bytes());
    s.send(ENTER);
    s.wait_for_text("exported 7 rows");
    let csv = std::fs::read_to_string(&out).expect("the export file");
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("profile,vendor,kind,id,name"), "{csv}");
    assert_eq!(lines.len(), 8, "a header and the 7 unhealthy rows:\n{csv}");
    assert!(lines[1..]
        .iter()
        .all(|l| l.starts_with("demo-basedash,basedash,datasources,")));
    // 0 goes back to the overview.
    s.send(b"0");
    s.wait_for_text("On call — 5 profiles");
    s.quit();
}

#[test]
fn the_all_tab_filters_every_profile_at_once_and_deletes_from_one() {
    let mut s = Session::demo(140, 34);
    s.wait_for_text("On call — 5 profiles");
    s.wait_for("every profile loaded", |t| {
        t.contains("7 unhealthy") && !t.contains("never ·")
    });
    s.send(b"*");
    s.wait_for_text("every object of 5 profiles");
    // One filter over every vendor: the unhealthy objects are all Basedash's here.
    s.send(b"/health:unhealthy kind:datasources");
    s.send(ENTER);
    s.wait_for_text("[filter: health:unhealthy kind:datasources]");
    let text = s.text();
    let rows: Vec<&str> = text.lines().filter(|l| l.contains("demo-")).collect();
    assert!(!rows.is_empty(), "{text}");
    assert!(rows.iter().all(|l| l.contains("demo-basedash")), "{text}");
    // Two marks, one confirmation for that profile; nothing sent until the count is typed.
    s.send(b"  ");
    s.wait_for_text("2 marked in all profiles");
    s.send(CTRL_D);
    s.wait_for_text("Delete 2 objects from demo-basedash");
    s.send(b"2");
    s.send(ENTER);
    s.wait_for_text("Delete finished — demo-basedash");
    s.wait_for_text("2 deleted");
    s.wait_gone("2 marked in all profiles");
    // The reload that follows shows what is left; O opens the current row in its own tab.
    s.send(ESC);
    s.wait_gone("Delete finished");
    s.wait_for_text("All (5/117)");
    s.send(b"O");
    s.wait_for_text("Datasources (");
    s.wait_gone("every object of 5 profiles");
    s.quit();
}
