//! Modal layers: delete confirmation, progress and summary, create form, help, log, and
//! the small yes/no questions. Drawn bottom to top; the top one has the keys.

use super::safe;
use super::theme::Theme;
use crate::app::state::{
    ConfirmDelete, CreateForm, ImpactCheck, Job, JobKind, Level, Modal, Model,
};
use crate::model::format_age;
use crate::ops::executor::{RunSummary, StepOutcome};
use crate::ops::plan::{Confirmation, DeletePlan, StepReason};
use crate::vendors::forms::FieldKind;
use ratatui::layout::{Alignment, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Gauge, Wrap};
use ratatui::Frame;

pub fn draw_modals(m: &Model, f: &mut Frame, area: Rect, theme: &Theme) {
    for modal in &m.modals {
        match modal {
            Modal::Confirm(c) => draw_confirm(m, c, f, area, theme),
            Modal::Progress { job, scroll } => draw_progress(m, *job, *scroll, f, area, theme),
            Modal::CancelJob { job } => {
                let batch = crate::app::modals::progress::batch_of(m, *job).len();
                let text = if batch > 1 {
                    format!("This delete runs as {batch} jobs, one per profile: nothing new will start in any of them; requests already sent finish and are reported.\n\ny cancel them all · n keep going")
                } else {
                    "Nothing new will start; requests already sent finish and are reported.\n\ny cancel the run · n keep going".to_string()
                };
                draw_question(f, area, theme, " Cancel the delete? ", &text)
            }
            Modal::ConfirmQuit => draw_question(
                f,
                area,
                theme,
                " Quit? ",
                "A job is still running. Quitting cancels it: nothing new starts, requests in flight finish.\n\ny quit · n stay",
            ),
            Modal::Help { scroll } => draw_help(f, area, theme, *scroll),
            Modal::Log { scroll } => draw_log(m, f, area, theme, *scroll),
            Modal::Create(form) => draw_create(form, f, area, theme),
            Modal::ImpactCheck(c) => draw_impact_check(m, c, f, area, theme),
            Modal::ConfirmChange(c) => draw_confirm_change(c, f, area, theme),
            Modal::Trash(t) => draw_trash(m, t, f, area, theme),
            Modal::ConfirmRestore(c) => draw_confirm_restore(c, f, area, theme),
        }
    }
}

/// A rectangle of at most `w` x `h` centred in `area`.
fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

fn framed(f: &mut Frame, rect: Rect, title: &str, style: Style) -> Rect {
    f.render_widget(Clear, rect);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(style)
        .title(super::safe::span(
            title.to_string(),
            style.add_modifier(Modifier::BOLD),
        ));
    let inner = block.inner(rect);
    f.render_widget(block, rect);
    inner
}

fn draw_question(f: &mut Frame, area: Rect, theme: &Theme, title: &str, text: &str) {
    let rect = centered(area, 60, 8);
    let inner = framed(f, rect, title, theme.border());
    f.render_widget(super::safe::para(text).wrap(Wrap { trim: false }), inner);
}

/// The wait before a confirmation: how many objects' impact is known, how long it takes.
/// A batch waits for one impact job per profile; the numbers add up over all of them.
fn draw_impact_check(m: &Model, c: &ImpactCheck, f: &mut Frame, area: Rect, theme: &Theme) {
    let running: Vec<(&Job, usize, usize, i64)> = c
        .waits
        .iter()
        .filter_map(|(job, _)| match m.jobs.get(job) {
            Some(
                j @ Job {
                    kind:
                        JobKind::Impact {
                            total,
                            done,
                            started_at,
                            ..
                        },
                    ..
                },
            ) => Some((j, *total, *done, *started_at)),
            _ => None,
        })
        .collect();
    if running.is_empty() {
        return;
    }
    let finished: usize = c
        .waits
        .iter()
        .filter(|(job, _)| !m.jobs.contains_key(job))
        .map(|(_, n)| n)
        .sum();
    let total = finished + running.iter().map(|r| r.1).sum::<usize>();
    let done = finished + running.iter().map(|r| r.2).sum::<usize>();
    let started_at = running.iter().map(|r| r.3).min().unwrap_or(m.now);
    let rect = centered(area, area.width.saturating_sub(4).min(72), 9);
    let title = if c.more.is_empty() {
        format!(" Checking what the delete breaks — {} ", c.plan.profile)
    } else {
        format!(
            " Checking what the delete breaks — {} profiles ",
            c.more.len() + 1
        )
    };
    let inner = framed(f, rect, &title, theme.border());
    if inner.height < 3 {
        return;
    }
    let gauge = Gauge::default()
        .gauge_style(theme.key())
        .ratio(done as f64 / total.max(1) as f64)
        .label(format!("{done}/{total}"));
    f.render_widget(gauge, Rect { height: 1, ..inner });
    let elapsed = (m.now - started_at).max(0);
    let spec_of_job = |j: &Job| m.profiles.get(j.profile).map(|t| t.spec);
    // Profiles are asked at once: the slowest one says how long is left.
    let left = running
        .iter()
        .filter_map(|(j, t, d, at)| {
            crate::app::impact::eta_secs(spec_of_job(j), *t, *d, (m.now - at).max(0))
        })
        .max();
    let eta = match left {
        Some(s) if done < total => format!(" · about {} left", crate::model::format_age(s, 0)),
        _ => String::new(),
    };
    let paced = running
        .iter()
        .filter_map(|(j, ..)| spec_of_job(j))
        .find_map(|v| v.impact_per_minute.map(|n| (v, n)));
    let pace = match paced {
        Some((v, n)) => format!(
            "\n{} answers {n} impact questions a minute: large plans take a while.",
            v.vendor.display()
        ),
        None => String::new(),
    };
    let text = format!(
        "Impact of {total} object{} ({} of them known) · {elapsed}s{eta}{pace}\n\nThe confirmation opens when every answer is in. Esc cancels: nothing is deleted.",
        if total == 1 { "" } else { "s" },
        done
    );
    f.render_widget(
        super::safe::para(text).wrap(Wrap { trim: false }),
        Rect {
            y: inner.y + 2,
            height: inner.height - 2,
            ..inner
        },
    );
}

/// Names of what breaks shown under a step of the confirmation; the rest are counted.
const IMPACT_NAMES_SHOWN: usize = 8;

fn impact_name_rows(imp: &crate::impact::Impact) -> usize {
    let total = imp.dependents.len() + imp.possible.len();
    total.min(IMPACT_NAMES_SHOWN) + usize::from(total > IMPACT_NAMES_SHOWN)
}

/// One row per name (cut to the width, never wrapped, so a step's rows are known without
/// building them), then "… and N more".
fn impact_names(imp: &crate::impact::Impact, noun: &str, width: usize) -> Vec<String> {
    let certain = imp.dependents.len();
    let total = certain + imp.possible.len();
    let mut out: Vec<String> = imp
        .dependents
        .iter()
        .chain(&imp.possible)
        .take(IMPACT_NAMES_SHOWN)
        .enumerate()
        .map(|(k, d)| {
            let maybe = if k < certain { "" } else { "possibly " };
            crate::text::fit(&format!("           {maybe}{}", d.label(noun)), width)
        })
        .collect();
    if total > IMPACT_NAMES_SHOWN {
        out.push(crate::text::fit(
            &format!(
                "           … and {} more (the detail pane and `dsconsole impact` list them all)",
                total - IMPACT_NAMES_SHOWN
            ),
            width,
        ));
    }
    out
}

/// How many hidden-by-filter names the dialog lists in its summary line (each hidden step
/// is also tagged in the list).
const HIDDEN_NAMES_SHOWN: usize = 5;

/// A part of the confirmation's body: lines built once (headings, warnings, kept), or one
/// step of the plan, built only when it is on screen (a plan may hold thousands).
enum Piece {
    Lines(Vec<Line<'static>>),
    Step {
        part: usize,
        n: usize,
        i: usize,
        rows: usize,
    },
}

impl Piece {
    fn rows(&self) -> usize {
        match self {
            Piece::Lines(l) => l.len(),
            Piece::Step { rows, .. } => *rows,
        }
    }
}

/// The delete confirmation, laid out for one screen size: a body that scrolls (the plan)
/// and a footer that is always drawn (options, irreversible / soft-delete line, what to
/// type, hint, buttons).
pub struct ConfirmLayout<'a> {
    pub rect: Rect,
    pub footer: Vec<Line<'static>>,
    /// Rows the body text gets (the "↓ N more" marker, when needed, is below them).
    pub body_rows: usize,
    /// Rows the whole body takes at this width.
    pub body_len: usize,
    /// Largest useful scroll of the body (0 when it fits).
    pub max_scroll: usize,
    /// Each part's step text (one plan: one).
    steps: Vec<StepText<'a>>,
    pieces: Vec<Piece>,
}

/// What a step's line is made of, computed once per layout for every step.
struct StepText<'a> {
    plan: &'a DeletePlan,
    lines: Vec<String>,
    ids: Vec<String>,
    whys: Vec<String>,
    hidden: Vec<bool>,
    show_ids: bool,
    width: usize,
    theme: Theme,
}

impl StepText<'_> {
    fn head(&self, n: usize, i: usize) -> Line<'static> {
        let at = |v: &Vec<String>| v.get(i).cloned().unwrap_or_default();
        Line::from(vec![
            Span::raw(format!("  {n:>3}. {}", at(&self.lines))),
            Span::styled(
                if self.show_ids {
                    at(&self.ids)
                } else {
                    String::new()
                },
                self.theme.dim(),
            ),
            Span::styled(at(&self.whys), self.theme.warn()),
            Span::styled(
                if self.hidden.get(i).copied().unwrap_or(false) {
                    "  [hidden by filter]"
                } else {
                    ""
                },
                self.theme.warn(),
            ),
        ])
    }

    fn warning(&self, i: usize) -> Option<Line<'static>> {
        let w = self.plan.steps.get(i)?.warning.as_ref()?;
        Some(Line::from(Span::styled(
            format!("       ⚠ {w}"),
            self.theme.error(),
        )))
    }

    /// Step `i`'s impact when it is worth a line: it breaks content or is unknown ("none
    /// found" is said once for the whole plan, in the footer).
    fn shown_impact(&self, i: usize) -> Option<&crate::impact::Impact> {
        self.plan
            .steps
            .get(i)
            .and_then(|s| s.impact.as_ref())
            .filter(|imp| imp.verdict() != crate::impact::Verdict::None)
    }

    /// Step `i`'s impact: its summary, then the names of what breaks (at most
    /// `IMPACT_NAMES_SHOWN`, one row each) and how many more.
    fn impact(&self, i: usize) -> Vec<Line<'static>> {
        use crate::impact::Verdict;
        let Some(imp) = self.shown_impact(i) else {
            return Vec::new();
        };
        let noun = self.plan.impact_container();
        let (mark, style) = match imp.verdict() {
            Verdict::Breaks => ("✗ impact:", self.theme.error()),
            Verdict::Unknown => ("? impact:", self.theme.warn()),
            Verdict::None => ("✓ impact:", self.theme.dim()),
        };
        let mut out = safe::wrap(
            Line::from(Span::styled(
                format!("       {mark} {}", imp.summary(noun)),
                style,
            )),
            self.width,
            9,
        );
        for line in impact_names(imp, noun, self.width) {
            out.push(Line::from(Span::styled(line, self.theme.dim())));
        }
        out
    }

    /// The rows of step `i`, numbered `n`, wrapped.
    fn build(&self, n: usize, i: usize) -> Vec<Line<'static>> {
        let mut out = safe::wrap(self.head(n, i), self.width, 7);
        if let Some(w) = self.warning(i) {
            out.extend(safe::wrap(w, self.width, 9));
        }
        out.extend(self.impact(i));
        out
    }

    /// How many rows step `i` takes, without building it.
    fn rows(&self, n: usize, i: usize) -> usize {
        let number = format!("  {n:>3}. ");
        fn get(v: &[String], i: usize) -> &str {
            v.get(i).map(String::as_str).unwrap_or("")
        }
        let id = if self.show_ids { get(&self.ids, i) } else { "" };
        let tag = if self.hidden.get(i).copied().unwrap_or(false) {
            "  [hidden by filter]"
        } else {
            ""
        };
        let parts = [
            number.as_str(),
            get(&self.lines, i),
            id,
            get(&self.whys, i),
            tag,
        ];
        let mut rows = safe::wrapped_rows(&parts, self.width, 7);
        if let Some(w) = self.plan.steps.get(i).and_then(|s| s.warning.as_ref()) {
            let text = safe::clean(w);
            rows += safe::wrapped_rows(&["       ⚠ ", &text], self.width, 9);
        }
        if let Some(imp) = self.shown_impact(i) {
            let summary = imp.summary(self.plan.impact_container());
            rows += safe::wrapped_rows(&["       ? impact: ", &summary], self.width, 9);
            rows += impact_name_rows(imp);
        }
        rows
    }
}

impl ConfirmLayout<'_> {
    pub fn overflows(&self) -> bool {
        self.max_scroll > 0
    }

    /// Body rows `from..from + count`, built.
    pub fn body(&self, from: usize, count: usize) -> Vec<Line<'static>> {
        let mut out = Vec::with_capacity(count);
        let mut at = 0;
        for piece in &self.pieces {
            let rows = piece.rows();
            if at + rows <= from {
                at += rows;
                continue;
            }
            if out.len() >= count {
                break;
            }
            let lines = match piece {
                Piece::Lines(l) => l.clone(),
                Piece::Step { part, n, i, .. } => self
                    .steps
                    .get(*part)
                    .map(|s| s.build(*n, *i))
                    .unwrap_or_default(),
            };
            let skip = from.saturating_sub(at);
            out.extend(lines.into_iter().skip(skip).take(count - out.len()));
            at += rows;
        }
        out
    }
}

/// The body of one plan: `heading`, its steps grouped by kind in execution order (built
/// only when on screen), then what is hidden by the filter, kept, warned about.
#[allow(clippy::too_many_arguments)]
fn plan_pieces<'a>(
    plan: &'a DeletePlan,
    part: usize,
    spec: &crate::vendors::VendorSpec,
    heading: Vec<Line<'static>>,
    inner_w: usize,
    theme: &Theme,
    pieces: &mut Vec<Piece>,
) -> StepText<'a> {
    let with_ids = plan.ids_in_lines();
    let hidden_keys: std::collections::HashSet<(crate::model::Kind, &str)> = plan
        .hidden
        .iter()
        .map(|h| (h.kind, h.id.as_str()))
        .collect();
    let mut steps = StepText {
        plan,
        lines: plan.step_lines(),
        // Ids (dimmed) only when every line has room for its id, so the list reads evenly;
        // a same-named step carries its id in its line anyway.
        ids: plan
            .steps
            .iter()
            .zip(&with_ids)
            .map(|(s, with)| {
                if *with || s.target.id == s.target.name {
                    String::new()
                } else {
                    format!("  {}", safe::clean(&s.target.id))
                }
            })
            .collect(),
        whys: plan
            .steps
            .iter()
            .map(|s| match &s.reason {
                StepReason::Selected => String::new(),
                StepReason::Cascade { needed_by } => {
                    format!("  [cascade: freed by {}]", needed_by.label())
                }
            })
            .collect(),
        hidden: plan
            .steps
            .iter()
            .map(|s| hidden_keys.contains(&(s.target.kind, s.target.id.as_str())))
            .collect(),
        show_ids: true,
        width: inner_w,
        theme: *theme,
    };
    steps.show_ids = (0..plan.steps.len()).all(|i| {
        let len = |v: &Vec<String>| v.get(i).map_or(0, |s| safe::width(s));
        let tag = if steps.hidden[i] { 20 } else { 0 };
        7 + len(&steps.lines) + len(&steps.ids) + len(&steps.whys) + tag <= inner_w
    });
    pieces.push(Piece::Lines(heading));
    let mut n = 0;
    for (kind, idxs) in plan.groups() {
        pieces.push(Piece::Lines(vec![Line::from(Span::styled(
            format!("{} ({})", kind.title(), idxs.len()),
            theme.key(),
        ))]));
        for i in idxs {
            n += 1;
            let rows = steps.rows(n, i);
            pieces.push(Piece::Step { part, n, i, rows });
        }
    }
    let mut body: Vec<Line<'static>> = Vec::new();
    if !plan.hidden.is_empty() {
        let mut names: Vec<String> = plan
            .hidden
            .iter()
            .take(HIDDEN_NAMES_SHOWN)
            .map(|r| format!("'{}'", r.name))
            .collect();
        if plan.hidden.len() > HIDDEN_NAMES_SHOWN {
            names.push(format!(
                "and {} more (tagged above)",
                plan.hidden.len() - HIDDEN_NAMES_SHOWN
            ));
        }
        body.extend(safe::wrap(
            Line::from(Span::styled(
                format!(
                    "⚠ {} of these are marked but hidden by the filter: {}",
                    plan.hidden.len(),
                    names.join(", ")
                ),
                theme.warn(),
            )),
            inner_w,
            2,
        ));
    }
    if !plan.kept.is_empty() {
        body.push(Line::from(Span::styled("Kept:", theme.key())));
        for k in &plan.kept {
            body.extend(safe::wrap(
                Line::from(format!("  {} — {}", k.target.label(), k.reason)),
                inner_w,
                4,
            ));
        }
    }
    for w in plan.other_warnings() {
        body.extend(safe::wrap(
            Line::from(Span::styled(format!("⚠ {w}"), theme.warn())),
            inner_w,
            2,
        ));
    }
    if !spec.soft_delete {
        body.extend(safe::wrap(
            Line::from(Span::styled(
                "  the audit log keeps each object's JSON as last fetched",
                theme.dim(),
            )),
            inner_w,
            2,
        ));
    }
    pieces.push(Piece::Lines(body));
    steps
}

/// The options and warnings of one plan's footer: cascade, in use, impact, finality.
fn plan_footer(
    plan: &DeletePlan,
    spec: &crate::vendors::VendorSpec,
    letters: bool,
    inner_w: usize,
    theme: &Theme,
) -> Vec<Line<'static>> {
    let mut footer: Vec<Line<'static>> = Vec::new();
    if plan.cascade || !plan.cascade_extra.is_empty() {
        let key = if letters { "Ctrl-T" } else { "c" };
        let extra = crate::ops::plan::DeletePlan::describe_counts(spec, &plan.cascade_extra);
        let text = if plan.cascade {
            format!("{key}: cascade ON — also deleting {extra} that nothing else uses (press to turn off)")
        } else {
            format!("{key}: cascade off — press to also delete {extra} that nothing else uses")
        };
        footer.extend(safe::wrap(
            Line::from(Span::styled(text, theme.key())),
            inner_w,
            2,
        ));
    }
    if plan.in_use_selected > 0 {
        let key = if letters { "Ctrl-X" } else { "x" };
        let text = if plan.skip_in_use {
            format!(
                "{key}: {} in-use object(s) left out — press to try them anyway (the server will refuse)",
                plan.in_use_selected
            )
        } else {
            format!(
                "{key}: {} object(s) are in use and will be refused — press to leave them out",
                plan.in_use_selected
            )
        };
        footer.extend(safe::wrap(
            Line::from(Span::styled(text, theme.key())),
            inner_w,
            2,
        ));
    }
    if let Some(t) = plan.impact_totals() {
        let noun = spec.impact_container;
        let (text, style) = if t.needs_typed_confirmation() {
            (format!("⚠ impact: {}", t.summary(noun)), theme.error())
        } else {
            (
                "✓ impact: no content found that uses these objects".to_string(),
                theme.dim(),
            )
        };
        footer.extend(safe::wrap(
            Line::from(Span::styled(text, style)),
            inner_w,
            2,
        ));
    }
    if let Some(fin) = plan.finality() {
        let style = if spec.soft_delete {
            theme.warn()
        } else {
            theme.error()
        };
        footer.extend(safe::wrap(
            Line::from(Span::styled(format!("⚠ {fin}"), style)),
            inner_w,
            2,
        ));
    }
    footer
}

/// A batch with more than one protected profile to type.
fn several_protected(c: &ConfirmDelete) -> bool {
    c.is_batch()
        && c.parts()
            .filter(|(_, plan, protected)| *protected && !plan.is_empty())
            .count()
            > 1
}

/// The end of the footer, the same for one plan and a batch: what to type, the hint, the
/// buttons.
fn prompt_footer(
    c: &ConfirmDelete,
    need: &Confirmation,
    inner_w: usize,
    theme: &Theme,
    footer: &mut Vec<Line<'static>>,
) {
    let prompt = match need {
        Confirmation::PressY => "Press y to delete, Esc to cancel.".to_string(),
        Confirmation::TypeCount(k) => format!("Type {k} and press Enter to delete: "),
        Confirmation::TypeProfile(p) if several_protected(c) => {
            format!("Protected profiles: type '{p}' and press Enter: ")
        }
        Confirmation::TypeProfile(p) => format!("Protected profile: type '{p}' and press Enter: "),
    };
    let mut prompt_line = vec![Span::styled(
        prompt,
        Style::default().add_modifier(Modifier::BOLD),
    )];
    if !matches!(need, Confirmation::PressY) {
        prompt_line.push(Span::styled(format!("{}▏", c.typed.text), theme.key()));
    }
    footer.extend(safe::wrap(Line::from(prompt_line), inner_w, 2));
    if let Some(h) = &c.hint {
        footer.extend(safe::wrap(
            Line::from(Span::styled(h.clone(), theme.warn())),
            inner_w,
            2,
        ));
    }
    let cancel_style = if c.focus_delete {
        Style::default()
    } else {
        theme.selected()
    };
    let delete_style = if c.focus_delete {
        theme.selected().patch(theme.error())
    } else {
        theme.error()
    };
    let delete_label = if matches!(need, Confirmation::PressY) {
        "[ Delete: y ]"
    } else {
        "[ Delete ]"
    };
    let mut buttons = vec![
        Span::styled("[ Cancel ]", cancel_style),
        Span::raw("   "),
        Span::styled(delete_label, delete_style),
    ];
    let keys = if matches!(need, Confirmation::PressY) {
        "   Esc cancel · ↑/↓ scroll"
    } else {
        "   Tab switch · Esc cancel · ↑/↓ scroll"
    };
    // The plan-file key only where it fits beside the others.
    let save = if matches!(need, Confirmation::PressY) {
        " · w save plan"
    } else {
        " · Ctrl-W save plan"
    };
    let used = 10 + 3 + delete_label.len() + keys.chars().count();
    if used <= inner_w {
        buttons.push(Span::styled(keys, theme.dim()));
        if used + save.chars().count() <= inner_w {
            buttons.push(Span::styled(save, theme.dim()));
        }
    }
    footer.push(safe::line(Line::from(buttons)));
}

/// The vendor spec of profile `p`, or of the plan's vendor when the profile is gone.
fn spec_of(m: &Model, p: usize, plan: &DeletePlan) -> &'static crate::vendors::VendorSpec {
    m.profiles
        .get(p)
        .map(|t| t.spec)
        .unwrap_or(crate::vendors::spec(plan.vendor))
}

/// "1 object" / "4 objects".
fn objects(n: usize) -> String {
    format!("{n} object{}", if n == 1 { "" } else { "s" })
}

/// A batch: what was left out, then each profile's plan under its heading; the footer says
/// for every part at once what the options do, what breaks and what is final.
fn batch_body_and_footer<'a>(
    m: &Model,
    c: &'a ConfirmDelete,
    letters: bool,
    inner_w: usize,
    theme: &Theme,
    pieces: &mut Vec<Piece>,
) -> (Vec<StepText<'a>>, Vec<Line<'static>>) {
    let warn_lines =
        |text: String, style: Style| safe::wrap(Line::from(Span::styled(text, style)), inner_w, 2);
    let mut top: Vec<Line<'static>> = Vec::new();
    for why in &c.left_out {
        top.extend(warn_lines(
            format!("⚠ not in this delete — {why}"),
            theme.warn(),
        ));
    }
    top.push(Line::from(Span::styled(
        "One delete job per profile, each in execution order:",
        theme.header(),
    )));
    pieces.push(Piece::Lines(top));
    let parts: Vec<(usize, &'a DeletePlan, bool)> = c
        .parts()
        .map(|(p, plan, protected)| (p, plan.as_ref(), protected))
        .collect();
    let mut steps = Vec::new();
    for (k, &(p, plan, protected)) in parts.iter().enumerate() {
        let spec = spec_of(m, p, plan);
        let mut head = format!(
            "{} ({}) — {}",
            plan.profile,
            plan.vendor.display(),
            objects(plan.len())
        );
        if plan.is_empty() {
            head.push_str(": nothing left to delete here");
        }
        if protected {
            head.push_str(" · protected");
        }
        let mut heading = Vec::new();
        if k > 0 {
            heading.push(Line::from(""));
        }
        heading.extend(safe::wrap(
            Line::from(Span::styled(head, theme.header())),
            inner_w,
            2,
        ));
        steps.push(plan_pieces(plan, k, spec, heading, inner_w, theme, pieces));
    }

    // ---- footer: every part at once ----
    let mut footer: Vec<Line<'static>> = Vec::new();
    let named = |f: &dyn Fn(&DeletePlan) -> Option<String>| -> Vec<String> {
        parts
            .iter()
            .filter_map(|(_, plan, _)| f(plan).map(|t| format!("{}: {t}", plan.profile)))
            .collect()
    };
    let cascade_on = parts.iter().any(|(_, plan, _)| plan.cascade);
    let extra = named(&|plan| {
        (!plan.cascade_extra.is_empty()).then(|| {
            DeletePlan::describe_counts(crate::vendors::spec(plan.vendor), &plan.cascade_extra)
        })
    });
    if cascade_on || !extra.is_empty() {
        let key = if letters { "Ctrl-T" } else { "c" };
        let extra = if extra.is_empty() {
            "nothing more".to_string()
        } else {
            extra.join(" · ")
        };
        let text = if cascade_on {
            format!("{key}: cascade ON in every profile — also deleting what nothing else uses ({extra}); press to turn off")
        } else {
            format!("{key}: cascade off — press to also delete, in every profile, what nothing else uses ({extra})")
        };
        footer.extend(warn_lines(text, theme.key()));
    }
    let in_use: usize = parts.iter().map(|(_, plan, _)| plan.in_use_selected).sum();
    if in_use > 0 {
        let key = if letters { "Ctrl-X" } else { "x" };
        let skipping = parts.iter().any(|(_, plan, _)| plan.skip_in_use);
        let text = if skipping {
            format!("{key}: {in_use} in-use object(s) left out in every profile — press to try them anyway (the servers will refuse)")
        } else {
            format!("{key}: {in_use} object(s) are in use and will be refused — press to leave them out in every profile")
        };
        footer.extend(warn_lines(text, theme.key()));
    }
    let with_impact: Vec<_> = parts
        .iter()
        .filter_map(|(_, plan, _)| plan.impact_totals().map(|t| (plan, t)))
        .collect();
    if !with_impact.is_empty() {
        let breaking: Vec<String> = with_impact
            .iter()
            .filter(|(_, t)| t.needs_typed_confirmation())
            .map(|(plan, t)| format!("{}: {}", plan.profile, t.summary(plan.impact_container())))
            .collect();
        let (text, style) = if breaking.is_empty() {
            (
                "✓ impact: no content found that uses these objects".to_string(),
                theme.dim(),
            )
        } else {
            (format!("⚠ impact: {}", breaking.join(" · ")), theme.error())
        };
        footer.extend(warn_lines(text, style));
    }
    // Final or recoverable: one line per kind of delete, naming its profiles.
    let mut finality: Vec<(&str, Vec<&str>, bool)> = Vec::new();
    for (_, plan, _) in &parts {
        let Some(fin) = plan.finality() else { continue };
        let soft = crate::vendors::spec(plan.vendor).soft_delete;
        match finality.iter_mut().find(|(f, _, _)| *f == fin) {
            Some((_, names, _)) => names.push(&plan.profile),
            None => finality.push((fin, vec![plan.profile.as_str()], soft)),
        }
    }
    for (fin, names, soft) in finality {
        let style = if soft { theme.warn() } else { theme.error() };
        footer.extend(warn_lines(format!("⚠ {} — {fin}", names.join(", ")), style));
    }
    (steps, footer)
}

pub fn confirm_layout<'a>(
    m: &Model,
    c: &'a ConfirmDelete,
    area: Rect,
    theme: &Theme,
) -> ConfirmLayout<'a> {
    let width = area.width.saturating_sub(4).min(100);
    let inner_w = width.saturating_sub(2).max(1) as usize;
    let need = c.confirmation();
    let letters = matches!(need, Confirmation::TypeProfile(_));
    let mut pieces: Vec<Piece> = Vec::new();
    let (steps, mut footer) = if c.is_batch() {
        batch_body_and_footer(m, c, letters, inner_w, theme, &mut pieces)
    } else {
        let plan: &'a DeletePlan = &c.plan;
        let spec = spec_of(m, c.profile, plan);
        let heading = vec![Line::from(Span::styled(
            "In execution order:",
            theme.header(),
        ))];
        let steps = plan_pieces(plan, 0, spec, heading, inner_w, theme, &mut pieces);
        (
            vec![steps],
            plan_footer(plan, spec, letters, inner_w, theme),
        )
    };
    let body_len: usize = pieces.iter().map(Piece::rows).sum();
    prompt_footer(c, &need, inner_w, theme, &mut footer);

    // ---- sizes: as tall as the plan needs, at most the screen ----
    let max_h = area.height.saturating_sub(2).max(3);
    let max_inner = max_h.saturating_sub(2) as usize;
    // The footer keeps its last lines when even it does not fit (buttons and prompt first).
    let footer_room = max_inner.saturating_sub(2).max(1);
    if footer.len() > footer_room {
        footer.drain(..footer.len() - footer_room);
    }
    let body_room = max_inner.saturating_sub(footer.len());
    // One blank row between body and footer when there is room for it.
    let (body_rows, max_scroll, inner_h) = if body_len < body_room {
        (body_len, 0, body_len + 1 + footer.len())
    } else {
        let rows = body_room.saturating_sub(1);
        (rows, body_len.saturating_sub(rows), max_inner)
    };
    let height = (inner_h + 2).min(max_h as usize) as u16;
    let rect = centered(area, width, height);
    ConfirmLayout {
        rect,
        footer,
        body_rows,
        body_len,
        max_scroll,
        steps,
        pieces,
    }
}

/// The largest scroll the confirmation's body can use at the model's screen size.
pub fn confirm_max_scroll(m: &Model, c: &ConfirmDelete) -> usize {
    let area = Rect::new(0, 0, m.width, m.height);
    let theme = Theme {
        no_color: m.no_color,
    };
    confirm_layout(m, c, area, &theme).max_scroll
}

fn draw_confirm(m: &Model, c: &ConfirmDelete, f: &mut Frame, area: Rect, theme: &Theme) {
    let plan = &c.plan;
    let layout = confirm_layout(m, c, area, theme);
    let profiles = c.more.len() + 1;
    let title = if profiles > 1 {
        format!(" Delete {} from {profiles} profiles ", objects(c.total()))
    } else {
        format!(
            " Delete {} object{} from {} ({}) ",
            plan.len(),
            if plan.len() == 1 { "" } else { "s" },
            plan.profile,
            plan.vendor.display()
        )
    };
    let inner = framed(f, layout.rect, &title, theme.danger_border());
    let footer_h = (layout.footer.len() as u16).min(inner.height);
    let footer_rect = Rect {
        y: inner.y + inner.height - footer_h,
        height: footer_h,
        ..inner
    };
    let scroll = c.scroll.min(layout.max_scroll);
    let rows = layout
        .body_rows
        .min(inner.height.saturating_sub(footer_h) as usize);
    f.render_widget(
        safe::para(layout.body(scroll, rows)),
        Rect {
            height: rows as u16,
            ..inner
        },
    );
    if layout.overflows() {
        let below = layout.body_len.saturating_sub(scroll + rows);
        let mut parts = Vec::new();
        if scroll > 0 {
            parts.push(format!("↑ {scroll} above"));
        }
        if below > 0 {
            parts.push(format!("↓ {below} more"));
        }
        parts.push("↑/↓ PgUp/PgDn scroll".to_string());
        let marker = Rect {
            y: inner.y + rows as u16,
            height: 1,
            ..inner
        };
        if marker.y < footer_rect.y {
            f.render_widget(
                safe::para(Line::from(Span::styled(parts.join(" · "), theme.key()))),
                marker,
            );
        }
    }
    f.render_widget(safe::para(layout.footer), footer_rect);
}

/// A delete of several profiles: where this job is among them and how each is doing
/// ("job 1 of 2 · prod ✓ 3/3 · qa … 1/2").
fn batch_line(m: &Model, shown: u64, batch: &[u64]) -> String {
    let at = batch.iter().position(|j| *j == shown).map_or(0, |k| k + 1);
    let mut parts = vec![format!("job {at} of {}", batch.len())];
    for j in batch {
        if let Some(Job {
            kind: JobKind::Delete(d),
            ..
        }) = m.jobs.get(j)
        {
            let summary = RunSummary::from(d.outcomes.as_slice());
            let glyph = if !d.finished {
                "…"
            } else if summary.failed > 0 {
                "✗"
            } else {
                "✓"
            };
            parts.push(format!(
                "{} {glyph} {}/{}",
                d.plan.profile,
                d.done(),
                d.outcomes.len()
            ));
        }
    }
    parts.join(" · ")
}

fn draw_progress(m: &Model, job: u64, scroll: usize, f: &mut Frame, area: Rect, theme: &Theme) {
    let Some(Job {
        kind: JobKind::Delete(d),
        ..
    }) = m.jobs.get(&job)
    else {
        return;
    };
    let rect = centered(
        area,
        area.width.saturating_sub(4).min(100),
        area.height.saturating_sub(2),
    );
    let title = if d.finished {
        format!(" Delete finished — {} ", d.plan.profile)
    } else if d.cancel_requested {
        format!(" Cancelling — {} ", d.plan.profile)
    } else {
        format!(" Deleting {} objects — {} ", d.plan.len(), d.plan.profile)
    };
    let inner = framed(f, rect, &title, theme.border());
    if inner.height < 4 {
        return;
    }
    let summary = RunSummary::from(d.outcomes.as_slice());
    let total = d.outcomes.len().max(1);
    let done = d.done();
    let gauge = Gauge::default()
        .gauge_style(theme.key())
        .ratio(done as f64 / total as f64)
        .label(format!("{done}/{}", d.outcomes.len()));
    f.render_widget(gauge, Rect { height: 1, ..inner });
    let elapsed = (d.finished_at.unwrap_or(m.now) - d.started_at).max(0);
    let rate = if elapsed > 0 {
        done as f64 / elapsed as f64
    } else {
        0.0
    };
    let eta = if rate > 0.0 && !d.finished {
        let left = (d.outcomes.len() - done) as f64 / rate;
        format!(" · ETA {}", format_age(left as i64, 0))
    } else {
        String::new()
    };
    let mut lines: Vec<Line> = vec![Line::from(format!(
        "{} deleted · {} already gone · {} failed · {} skipped · {} not started · {:.1}/s · {}s{}",
        summary.deleted + summary.soft_deleted,
        summary.already_gone,
        summary.failed,
        summary.skipped,
        summary.not_started,
        rate,
        elapsed,
        eta
    ))];
    if d.batch.len() > 1 {
        lines.extend(safe::wrap(
            Line::from(Span::styled(batch_line(m, job, &d.batch), theme.key())),
            inner.width as usize,
            2,
        ));
    }
    for e in d.errors.iter().rev().take(3) {
        lines.push(Line::from(Span::styled(format!("✗ {e}"), theme.error())));
    }
    lines.push(Line::from(""));
    let header_h = lines.len();
    for (i, (step, outcome)) in d.plan.steps.iter().zip(d.outcomes.iter()).enumerate() {
        let (glyph, style) = match outcome {
            StepOutcome::Deleted | StepOutcome::SoftDeleted => {
                ("✓", theme.tone(crate::model::CellTone::Good))
            }
            StepOutcome::AlreadyGone => ("✓", theme.dim()),
            StepOutcome::Failed(_) => ("✗", theme.error()),
            StepOutcome::Skipped(_) => ("↷", theme.warn()),
            StepOutcome::NotStarted => ("·", theme.dim()),
            StepOutcome::Running => ("…", theme.warn()),
        };
        let detail = outcome
            .detail()
            .map(|s| format!(": {s}"))
            .unwrap_or_default();
        lines.push(Line::from(vec![
            Span::styled(format!("{glyph} "), style),
            Span::raw(format!("{:>4}. {} ", i + 1, step.target.label())),
            Span::styled(format!("{}{}", outcome.label(), detail), style),
        ]));
    }
    let keys = match (d.finished, d.batch.len() > 1) {
        (true, false) => "R retry failed · j/k scroll · Enter close",
        (false, false) => "Esc cancel · h hide (keeps running) · j/k scroll",
        (true, true) => "R retry failed · Tab next profile · j/k scroll · Enter close",
        (false, true) => "Esc cancel all · Tab next profile · h hide · j/k scroll",
    };
    let list_rect = Rect {
        y: inner.y + 1,
        height: inner.height.saturating_sub(2),
        ..inner
    };
    let max_scroll = lines.len().saturating_sub(list_rect.height as usize);
    let scroll = scroll
        .min(max_scroll)
        .min(lines.len().saturating_sub(header_h + 1) + header_h);
    f.render_widget(
        super::safe::para(lines)
            .scroll((scroll as u16, 0))
            .wrap(Wrap { trim: false }),
        list_rect,
    );
    let key_rect = Rect {
        y: inner.y + inner.height - 1,
        height: 1,
        ..inner
    };
    f.render_widget(super::safe::para(Span::styled(keys, theme.dim())), key_rect);
}

fn draw_help(f: &mut Frame, area: Rect, theme: &Theme, scroll: usize) {
    let rect = centered(
        area,
        area.width.saturating_sub(4).min(100),
        area.height.saturating_sub(2),
    );
    let inner = framed(f, rect, " Keys (Esc closes) ", theme.border());
    // Every layer's keys, from the tables that dispatch them; each section's title, then
    // its keys (wrapped under their description), then its notes.
    let mut lines: Vec<(Line, usize)> = Vec::new();
    for (n, section) in crate::app::router::help_sections().iter().enumerate() {
        if n > 0 {
            lines.push((Line::from(""), 0));
        }
        lines.push((Line::from(Span::styled(section.title, theme.header())), 0));
        for (keys, help) in &section.rows {
            lines.push((
                Line::from(vec![
                    Span::styled(format!("{keys:<18}"), theme.key()),
                    Span::raw(*help),
                ]),
                18,
            ));
        }
        for note in section.notes {
            lines.push((Line::from(format!("  {note}")), 2));
        }
    }
    let width = inner.width as usize;
    let lines: Vec<Line> = lines
        .into_iter()
        .flat_map(|(l, indent)| safe::wrap(l, width, indent))
        .collect();
    let scroll = scroll.min(lines.len().saturating_sub(inner.height as usize));
    f.render_widget(safe::para(lines).scroll((scroll as u16, 0)), inner);
}

fn draw_log(m: &Model, f: &mut Frame, area: Rect, theme: &Theme, scroll: usize) {
    let rect = centered(
        area,
        area.width.saturating_sub(4),
        area.height.saturating_sub(2),
    );
    let inner = framed(
        f,
        rect,
        " Log of this run (newest last; Esc closes) ",
        theme.border(),
    );
    // Each entry with its time to the second, wrapped under its own text.
    let width = inner.width as usize;
    let lines: Vec<Line> = m
        .log
        .iter()
        .flat_map(|e| {
            let style = match e.level {
                Level::Error => theme.error(),
                Level::Warn => theme.warn(),
                Level::Info => Style::default(),
            };
            let time = chrono::DateTime::from_timestamp(e.at, 0)
                .map(|d| d.format("%Y-%m-%d %H:%M:%S ").to_string())
                .unwrap_or_default();
            let indent = time.chars().count();
            super::safe::wrap(
                Line::from(vec![
                    Span::styled(time, theme.dim()),
                    Span::styled(e.text.clone(), style),
                ]),
                width,
                indent,
            )
        })
        .collect();
    // Default view shows the newest lines; scrolling moves back from the end.
    let h = inner.height as usize;
    let start = lines.len().saturating_sub(h).saturating_sub(scroll);
    let visible: Vec<Line> = lines.into_iter().skip(start).take(h).collect();
    if visible.is_empty() {
        f.render_widget(
            super::safe::para("Nothing logged yet.").style(theme.dim()),
            inner,
        );
    } else {
        f.render_widget(super::safe::para(visible), inner);
    }
}

/// The confirmation of a change plan: the plan (scrolling when it does not fit), then the
/// prompt, the answer and the keys, always on screen.
fn draw_confirm_change(
    c: &crate::app::state::ConfirmChange,
    f: &mut Frame,
    area: Rect,
    theme: &Theme,
) {
    let text: String = c
        .plans
        .iter()
        .map(|(_, plan)| crate::ops::change::plan_text(plan))
        .collect();
    let typed = TypedConfirm {
        title: " Change — review the plan ",
        plan: &text,
        prompt: crate::app::modals::edit::prompt(c),
        typed: &c.typed.text,
        hint: c.hint.as_deref(),
        danger: !c.protected.is_empty(),
        scroll: c.scroll,
    };
    draw_typed_confirm(&typed, f, area, theme);
}

/// The confirmation of a restore plan: drawn like a change's.
fn draw_confirm_restore(
    c: &crate::app::state::ConfirmRestore,
    f: &mut Frame,
    area: Rect,
    theme: &Theme,
) {
    let mut text = crate::ops::restore::plan_text(&c.plan);
    if !c.secrets.is_empty() {
        let fields: Vec<&str> = c.secrets.iter().map(|(f, _)| f.as_str()).collect();
        text.push_str(&format!("given: {} (not shown)\n", fields.join(", ")));
    }
    let typed = TypedConfirm {
        title: " Restore — review the plan ",
        plan: &text,
        prompt: crate::app::modals::trash::prompt(c),
        typed: &c.typed.text,
        hint: c.hint.as_deref(),
        danger: c.protected,
        scroll: c.scroll,
    };
    draw_typed_confirm(&typed, f, area, theme);
}

/// What a typed confirmation (change, restore) shows.
struct TypedConfirm<'a> {
    title: &'a str,
    /// The plan as text, one line each.
    plan: &'a str,
    prompt: String,
    typed: &'a str,
    hint: Option<&'a str>,
    /// A protected profile: the red border.
    danger: bool,
    scroll: usize,
}

/// The plan (scrolling when it does not fit), then the prompt, the answer and the keys,
/// always on screen.
fn draw_typed_confirm(c: &TypedConfirm, f: &mut Frame, area: Rect, theme: &Theme) {
    let width = area.width.saturating_sub(4).min(100);
    let inner_w = width.saturating_sub(2) as usize;
    let mut body: Vec<Line> = Vec::new();
    for l in c.plan.lines() {
        let trimmed = l.trim_start();
        let style = if trimmed.starts_with('!') || trimmed.starts_with("refused") {
            theme.warn()
        } else {
            Style::default()
        };
        let indent = l.chars().take_while(|c| *c == ' ').count() + 2;
        body.extend(safe::wrap(
            Line::from(Span::styled(l.to_string(), style)),
            inner_w,
            indent,
        ));
    }
    let mut footer: Vec<Line> = Vec::new();
    footer.push(Line::from(""));
    footer.extend(safe::wrap(
        Line::from(Span::styled(c.prompt.clone(), theme.key())),
        inner_w,
        2,
    ));
    footer.push(Line::from(vec![
        Span::raw("> "),
        Span::styled(format!("{}▏", c.typed), theme.selected()),
    ]));
    if let Some(h) = c.hint {
        footer.extend(safe::wrap(
            Line::from(Span::styled(h.to_string(), theme.warn())),
            inner_w,
            2,
        ));
    }
    footer.push(Line::from(Span::styled(
        "Esc cancels (nothing is sent) · ↑/↓ scroll · a paste only fills the answer",
        theme.dim(),
    )));
    let height = (body.len() + footer.len() + 2).min(area.height as usize) as u16;
    let rect = centered(area, width, height);
    let border = if c.danger {
        theme.danger_border()
    } else {
        theme.border()
    };
    let inner = framed(f, rect, c.title, border);
    let room = (inner.height as usize).saturating_sub(footer.len());
    let scroll = c.scroll.min(body.len().saturating_sub(room));
    let mut lines: Vec<Line> = body.into_iter().skip(scroll).collect();
    let more = lines.len().saturating_sub(room);
    lines.truncate(room);
    if more > 0 {
        if let Some(last) = lines.last_mut() {
            *last = Line::from(Span::styled(
                format!("… {more} more line(s): ↓ scrolls"),
                theme.dim(),
            ));
        }
    }
    lines.extend(footer);
    f.render_widget(safe::para(lines).alignment(Alignment::Left), inner);
}

/// "Recently deleted" (`:trash`): one row per deleted object, newest first, with when, the
/// profile, what it was, the state and whether it can be restored; the keys at the bottom.
fn draw_trash(
    m: &Model,
    t: &crate::app::state::TrashView,
    f: &mut Frame,
    area: Rect,
    theme: &Theme,
) {
    let rect = area;
    let title = format!(
        " Recently deleted — this machine's audit log ({}) ",
        match &t.rows {
            None => "reading…".to_string(),
            Some(Err(_)) => "unreadable".to_string(),
            Some(Ok(rows)) => format!(
                "{} object{}, {} marked",
                rows.len(),
                if rows.len() == 1 { "" } else { "s" },
                t.marked.len()
            ),
        }
    );
    let inner = framed(f, rect, &title, theme.border());
    let w = inner.width as usize;
    let mut footer: Vec<Line> = Vec::new();
    if let Some(h) = &t.hint {
        footer.extend(safe::wrap(
            Line::from(Span::styled(h.clone(), theme.warn())),
            w,
            2,
        ));
    }
    footer.push(Line::from(Span::styled(
        "Space mark · R/Enter restore · r read again · Esc close · ? help",
        theme.dim(),
    )));
    // The header and the current row's ref line take one line each.
    let room = (inner.height as usize).saturating_sub(footer.len() + 2);
    let mut lines: Vec<Line> = Vec::new();
    let rows = match &t.rows {
        None => {
            lines.push(Line::from("reading the audit log…"));
            &[][..]
        }
        Some(Err(e)) => {
            lines.push(Line::from(Span::styled(e.clone(), theme.warn())));
            &[][..]
        }
        Some(Ok(rows)) => {
            if rows.is_empty() {
                lines.push(Line::from(Span::styled(
                    "nothing deleted from this machine yet",
                    theme.dim(),
                )));
            }
            rows.as_slice()
        }
    };
    if !rows.is_empty() {
        // When, profile, kind, name, state, restore (the rest of the line).
        let (when_w, prof_w, kind_w, state_w) = (16, 12.min(w / 6), 10, 12);
        let fixed = 2 + when_w + 1 + prof_w + 1 + kind_w + 1 + state_w + 1;
        let rest = w.saturating_sub(fixed);
        let name_w = (rest * 3 / 5).max(8);
        let restore_w = rest.saturating_sub(name_w + 1);
        // Made safe before it is cut, so an escaped character counts in the width.
        let cell = |s: &str, n: usize| format!("{:<n$}", crate::text::fit(&safe::clean(s), n));
        lines.push(Line::from(Span::styled(
            format!(
                "  {} {} {} {} {} {}",
                cell("DELETED (UTC)", when_w),
                cell("PROFILE", prof_w),
                cell("KIND", kind_w),
                cell("NAME", name_w),
                cell("STATE", state_w),
                cell("RESTORE", restore_w)
            ),
            theme.header(),
        )));
        let top = t.cursor.saturating_sub(room.saturating_sub(1));
        for (i, d) in rows.iter().enumerate().skip(top).take(room) {
            let mark = if t.marked.contains(&d.reference) {
                "●"
            } else {
                " "
            };
            let time = d.time.get(..16).unwrap_or(&d.time).replace('T', " ");
            let text = format!(
                "{mark} {} {} {} {} {} {}",
                cell(&time, when_w),
                cell(&d.profile, prof_w),
                cell(d.kind.singular(), kind_w),
                cell(&d.name, name_w),
                cell(d.state.word(), state_w),
                cell(&d.restore_word(), restore_w)
            );
            let style = if i == t.cursor {
                theme.selected()
            } else if d.restored.is_some() {
                theme.dim()
            } else {
                Style::default()
            };
            lines.push(Line::from(Span::styled(text, style)));
        }
        if let Some(d) = rows.get(t.cursor) {
            // The current row's ref and run, for `dsconsole restore` and the audit log.
            let open = m.profiles.iter().any(|tab| tab.info.name == d.profile);
            let extra = if open {
                String::new()
            } else {
                " · profile not open here".to_string()
            };
            footer.insert(
                0,
                Line::from(Span::styled(
                    crate::text::fit(
                        &safe::clean(&format!(
                            "run {} · ref {} · old id {}{extra}",
                            d.run, d.reference, d.id
                        )),
                        w,
                    ),
                    theme.dim(),
                )),
            );
        }
    }
    let room = (inner.height as usize).saturating_sub(footer.len());
    lines.truncate(room);
    while lines.len() < room {
        lines.push(Line::from(""));
    }
    lines.extend(footer);
    f.render_widget(safe::para(lines), inner);
}

fn draw_create(form: &CreateForm, f: &mut Frame, area: Rect, theme: &Theme) {
    let width = area.width.saturating_sub(4).min(80);
    let inner_w = width.saturating_sub(2) as usize;
    let value_w = inner_w.saturating_sub(20);
    let mut lines: Vec<Line> = Vec::new();
    for (i, field) in form.spec.fields.iter().enumerate() {
        let focused = i == form.focus;
        let label = format!("{}{}", field.label, if field.required { " *" } else { "" });
        let value_style = if focused {
            theme.selected()
        } else {
            Style::default()
        };
        let mut value: Vec<Span> = Vec::new();
        let mut under: Vec<Span> = Vec::new();
        match &field.kind {
            FieldKind::Text | FieldKind::Secret => {
                let text = match field.kind {
                    FieldKind::Secret => "•".repeat(form.secrets[i].len()),
                    _ => form.texts[i].text.clone(),
                };
                let cursor = if focused { "▏" } else { "" };
                value.push(Span::styled(format!("{text}{cursor}"), value_style));
                under.push(Span::styled(field.hint, theme.dim()));
            }
            FieldKind::Choice(options) => {
                let matches = form.matching_options(i);
                let chosen = form.choices[i].and_then(|c| options.get(c));
                let filter = &form.filters[i].text;
                value.push(Span::styled(
                    match chosen {
                        Some(c) => format!("◀ {} ▶", c.label),
                        None if options.is_empty() => "(nothing to choose from)".into(),
                        None if matches.is_empty() => format!("no choice matches '{filter}'"),
                        None => "◀ not chosen ▶".into(),
                    },
                    value_style,
                ));
                if focused && !filter.is_empty() {
                    value.push(Span::styled(
                        format!("  /{filter}▏ {} of {}", matches.len(), options.len()),
                        theme.key(),
                    ));
                }
                if focused && !matches.is_empty() {
                    // The matching options, the chosen one highlighted, as many as fit.
                    let mut used = 0;
                    for (n, &k) in matches.iter().enumerate() {
                        let Some(o) = options.get(k) else { continue };
                        let text = safe::clean(&o.label).into_owned();
                        let w = safe::width(&text) + 3;
                        if used + w > value_w.saturating_sub(2) {
                            under.push(Span::styled(
                                format!("… +{}", matches.len() - n),
                                theme.dim(),
                            ));
                            break;
                        }
                        let style = if form.choices[i] == Some(k) {
                            theme.selected()
                        } else {
                            theme.dim()
                        };
                        under.push(Span::styled(text, style));
                        under.push(Span::raw(" · "));
                        used += w;
                    }
                    if matches!(under.last(), Some(s) if s.content == " · ") {
                        under.pop();
                    }
                } else {
                    under.push(Span::styled(field.hint, theme.dim()));
                }
            }
        }
        let mut head = vec![Span::styled(
            format!("{label:<20}"),
            if focused {
                theme.key()
            } else {
                Style::default()
            },
        )];
        head.extend(value);
        lines.push(Line::from(head));
        let mut second = vec![Span::raw(format!("{:<20}", ""))];
        second.extend(under);
        lines.push(Line::from(second));
    }
    if let Some(note) = &form.note {
        lines.extend(safe::wrap(
            Line::from(Span::styled(format!("ℹ {note}"), theme.key())),
            inner_w,
            2,
        ));
    }
    if let Some(e) = &form.error {
        lines.extend(safe::wrap(
            Line::from(Span::styled(format!("✗ {e}"), theme.error())),
            inner_w,
            2,
        ));
    } else if form.submitting {
        lines.push(Line::from(Span::styled("sending…", theme.warn())));
    } else {
        lines.push(Line::from(""));
    }
    let keys = if form.restore.is_some() {
        "Tab/↓ next · Enter (last field) or Ctrl-S: review the restore plan · Esc cancel"
    } else if form.edit.is_some() {
        "Tab/↓ next · Shift-Tab/↑ back · Enter next (last field: review) · \
         Ctrl-S review the change · Esc cancel"
    } else {
        "Tab/↓ next · Shift-Tab/↑ back · type to filter a choice, ←/→ choose · \
         Enter next (last field: create) · Ctrl-S create · Esc cancel"
    };
    lines.extend(safe::wrap(
        Line::from(Span::styled(keys, theme.dim())),
        inner_w,
        0,
    ));
    let height = (lines.len() as u16 + 2).min(area.height);
    let rect = centered(area, width, height);
    let inner = framed(f, rect, &format!(" {} ", form.spec.title), theme.border());
    f.render_widget(safe::para(lines).alignment(Alignment::Left), inner);
}
