//! The on-call overview: one row per profile, worst first (`overview::sort_by_severity`).
//! It is the first screen when there is more than one profile, and `0` or `:overview`
//! brings it back. Enter opens the profile on what needs looking at: the kind with the
//! most unhealthy objects, filtered to them.

use super::effect::Effect;
use super::keymap::Action as NormalAction;
use super::keys::{lookup, Binding, HelpSection, Key};
use super::load::start_load;
use super::state::*;
use super::view::switch_profile;
use crossterm::event::{KeyCode, KeyEvent};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Down,
    Up,
    Top,
    Bottom,
    Open,
    /// `1`-`9`: open profile N (not in severity order: the tab number).
    Profile,
    RefreshAll,
    /// Keys that do what they do in the table: `:`, `?`, `L`, `q`.
    Normal(NormalAction),
}

use Key::{Char, Code, Ctrl};

pub const BINDINGS: &[Binding<Action>] = &[
    Binding::new(
        &[Char('j'), Code(KeyCode::Down)],
        "j / Down",
        Action::Down,
        "next profile",
    ),
    Binding::new(
        &[Char('k'), Code(KeyCode::Up)],
        "k / Up",
        Action::Up,
        "previous profile",
    ),
    Binding::new(
        &[Char('g'), Code(KeyCode::Home)],
        "g / Home",
        Action::Top,
        "worst profile",
    ),
    Binding::new(
        &[Char('G'), Code(KeyCode::End)],
        "G / End",
        Action::Bottom,
        "last profile",
    ),
    Binding::new(
        &[Code(KeyCode::Enter)],
        "Enter",
        Action::Open,
        "open the profile on what needs looking at (its unhealthy objects, if any)",
    ),
    Binding::new(
        &[Key::Digit19],
        "1-9",
        Action::Profile,
        "open profile tab N",
    ),
    Binding::new(
        &[Char('n')],
        "n / N",
        Action::Normal(NormalAction::NextNew),
        "next / previous profile with objects that became unhealthy since you last looked",
    ),
    Binding::new(&[Char('N')], "", Action::Normal(NormalAction::PrevNew), ""),
    Binding::new(
        &[Char('r'), Ctrl('r')],
        "r / Ctrl-R",
        Action::RefreshAll,
        "refresh every profile",
    ),
    Binding::new(
        &[Char('T')],
        "T",
        Action::Normal(NormalAction::CheckAll),
        "test everything: every health check of every profile (T again stops)",
    ),
    Binding::new(
        &[Char('*')],
        "*",
        Action::Normal(NormalAction::AllTab),
        "the All tab: every object of every profile in one table",
    ),
    Binding::new(
        &[Code(KeyCode::Tab)],
        "Tab",
        Action::Normal(NormalAction::ProfileNext),
        "the profile tabs (then the All tab)",
    ),
    Binding::new(
        &[Char(':')],
        ":",
        Action::Normal(NormalAction::Command),
        "command line (:profile NAME, :overview, ...)",
    ),
    Binding::new(
        &[Char('?')],
        "?",
        Action::Normal(NormalAction::Help),
        "help",
    ),
    Binding::new(
        &[Char('L')],
        "L",
        Action::Normal(NormalAction::LogPane),
        "log pane",
    ),
    Binding::new(
        &[Char('q'), Ctrl('c')],
        "q / Ctrl-C",
        Action::Normal(NormalAction::Quit),
        "quit",
    ),
];

pub fn help() -> HelpSection {
    HelpSection::of(
        "In the overview (0 or :overview)",
        BINDINGS,
        &["rows are sorted worst first: failed loads, unhealthy objects, stale syncs, unknown usage"],
    )
}

/// Profile indices in the overview's order: worst first.
pub fn order(m: &Model) -> Vec<usize> {
    let mut rows: Vec<(usize, crate::overview::ProfileSummary)> = m
        .profiles
        .iter()
        .enumerate()
        .map(|(i, t)| (i, t.summary()))
        .collect();
    rows.sort_by(|(_, a), (_, b)| {
        b.severity()
            .cmp(&a.severity())
            .then_with(|| a.profile.cmp(&b.profile))
    });
    rows.into_iter().map(|(i, _)| i).collect()
}

/// `0` / `:overview`.
pub fn show(m: &mut Model) {
    m.overview = Some(0);
    m.all.open = false;
    m.detail_open = false;
}

/// The overview's layer: `None` when it is not shown (the key goes on to the table).
pub fn on_key(m: &mut Model, key: &KeyEvent) -> Option<Vec<Effect>> {
    let cursor = m.overview?;
    let Some(binding) = lookup(BINDINGS, key) else {
        return Some(Vec::new());
    };
    let n = m.profiles.len();
    let fx = match binding.action {
        Action::Down => {
            m.overview = Some((cursor + 1).min(n.saturating_sub(1)));
            Vec::new()
        }
        Action::Up => {
            m.overview = Some(cursor.saturating_sub(1));
            Vec::new()
        }
        Action::Top => {
            m.overview = Some(0);
            Vec::new()
        }
        Action::Bottom => {
            m.overview = Some(n.saturating_sub(1));
            Vec::new()
        }
        Action::Open => match order(m).get(cursor).copied() {
            Some(p) => open(m, p),
            None => Vec::new(),
        },
        Action::Profile => match key.code {
            KeyCode::Char(c) if c.is_ascii_digit() => {
                let p = (c as usize).saturating_sub('1' as usize);
                if p < n {
                    switch_profile(m, p)
                } else {
                    Vec::new()
                }
            }
            _ => Vec::new(),
        },
        Action::RefreshAll => {
            let mut fx = Vec::new();
            for p in 0..n {
                fx.extend(start_load(m, p));
            }
            m.set_status(Level::Info, format!("refreshing {n} profiles"));
            fx
        }
        Action::Normal(a) => super::normal::on_action(m, a),
    };
    Some(fx)
}

/// Open profile `p` on the kind with the most unhealthy objects, showing only those; on
/// its first kind when nothing is unhealthy.
pub fn open(m: &mut Model, p: usize) -> Vec<Effect> {
    let fx = switch_profile(m, p);
    m.overview = None;
    let Some(tab) = m.profiles.get_mut(p) else {
        return fx;
    };
    let worst = tab
        .views
        .iter()
        .enumerate()
        .map(|(k, v)| {
            let bad = v
                .members
                .iter()
                .filter(|&&i| tab.resources.get(i).is_some_and(|r| r.is_unhealthy()))
                .count();
            (k, bad)
        })
        .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)));
    if let Some((k, bad)) = worst {
        if bad > 0 {
            tab.kind_index = k;
            if !tab.views[k].unhealthy_only {
                tab.views[k].unhealthy_only = true;
                tab.rebuild_rows(k);
            }
            let name = tab.info.name.clone();
            m.set_status(
                Level::Warn,
                format!("{name}: {bad} unhealthy — unhealthy only is on (u shows all)"),
            );
        }
    }
    fx
}
