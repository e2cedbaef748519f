//! `update`: the only place the model changes. No I/O, no clock (time arrives in messages);
//! everything the outside world must do is returned as `Effect`s. This file only
//! dispatches: keys and paste go to the router, the rest to their handlers.

use super::effect::Effect;
use super::msg::Msg;
use super::state::*;
use super::view::relayout;
use super::{impact, jobs, load, router};
use crossterm::event::KeyEventKind;

/// Effects to run at start: load every usable profile.
pub fn init(m: &mut Model) -> Vec<Effect> {
    let mut fx = Vec::new();
    for p in 0..m.profiles.len() {
        fx.extend(load::start_load(m, p));
    }
    if let Some(tab) = m.profiles.first() {
        if let Some(e) = &tab.info.setup_error {
            let text = format!("{}: {e}", tab.info.name);
            m.set_status(Level::Error, text);
        }
    }
    fx
}

pub fn update(m: &mut Model, msg: Msg) -> Vec<Effect> {
    let before = super::watch::viewing(m);
    let mut fx = dispatch(m, msg);
    // The All tab follows the profiles' objects.
    super::all::sync(m);
    // Leaving a screen is having looked at it; the end of the run writes the histories.
    fx.extend(super::watch::follow(m, before));
    // Index work asked for by this message: done now on small tabs, else sent to a worker.
    fx.extend(load::flush(m));
    fx.extend(super::all::flush(m));
    fx
}

fn dispatch(m: &mut Model, msg: Msg) -> Vec<Effect> {
    match msg {
        Msg::Key(key) => {
            if key.kind == KeyEventKind::Release {
                return Vec::new();
            }
            router::on_key(m, key)
        }
        Msg::Paste(text) => {
            router::on_paste(m, &text);
            Vec::new()
        }
        Msg::Resize { width, height } => {
            m.width = width;
            m.height = height;
            relayout(m);
            Vec::new()
        }
        Msg::Tick { now } => {
            m.now = now;
            m.tick = m.tick.wrapping_add(1);
            for tab in m.profiles.iter_mut().filter(|t| t.busy()) {
                tab.busy_ticks = tab.busy_ticks.saturating_add(1);
            }
            if m.all.busy() {
                m.all.busy_ticks = m.all.busy_ticks.saturating_add(1);
            }
            let mut fx = load::auto_refresh(m);
            fx.extend(super::watch::on_tick(m));
            fx
        }
        Msg::Loaded {
            profile,
            generation,
            at,
            result,
        } => load::on_loaded(m, profile, generation, at, result),
        Msg::LoadTook {
            profile,
            generation,
            ms,
        } => {
            if let Some(tab) = m.profiles.get_mut(profile) {
                if tab.generation == generation {
                    tab.load_ms = Some(ms);
                }
            }
            Vec::new()
        }
        Msg::LoadPage {
            profile,
            generation,
            resources,
        } => {
            load::on_page(m, profile, generation, resources);
            Vec::new()
        }
        Msg::StartFilter { profile, filter } => {
            load::on_start_filter(m, profile, filter);
            Vec::new()
        }
        Msg::DeleteStep { job, update } => {
            jobs::on_delete_step(m, job, update);
            Vec::new()
        }
        Msg::DeleteFinished { job, outcomes } => jobs::on_delete_finished(m, job, outcomes),
        Msg::TestResult {
            job,
            profile,
            id,
            result,
        } => {
            jobs::on_test_result(m, job, profile, id, result);
            Vec::new()
        }
        Msg::Created {
            job,
            profile,
            result,
        } => jobs::on_created(m, job, profile, result),
        Msg::Impact {
            job,
            profile,
            target,
            impact,
        } => impact::on_result(m, job, profile, target, *impact),
        Msg::Checked {
            job,
            profile,
            target,
            health,
            sentence,
        } => {
            super::checks::on_checked(m, job, profile, target, health, sentence);
            Vec::new()
        }
        Msg::Notice { error, text } => {
            m.set_status(if error { Level::Error } else { Level::Info }, text);
            Vec::new()
        }
        Msg::HistoryLoaded { entries, warning } => {
            m.history.loaded(entries);
            if let Some(w) = warning {
                m.push_log(Level::Warn, w);
            }
            Vec::new()
        }
        Msg::ChangeStep { job, outcome } => {
            super::modals::edit::on_step(m, job, &outcome);
            Vec::new()
        }
        Msg::DeletedRead(result) => {
            super::modals::trash::on_read(m, result);
            Vec::new()
        }
        Msg::RestoreStep { job } => {
            super::modals::trash::on_step(m, job);
            Vec::new()
        }
        Msg::RestoreFinished {
            job,
            profile,
            outcomes,
        } => super::modals::trash::on_finished(m, job, profile, &outcomes),
        Msg::ChangeFinished {
            job,
            profile,
            outcomes,
        } => super::modals::edit::on_finished(m, job, profile, &outcomes),
        Msg::WatchLoaded { profile, file } => {
            super::watch::on_file(m, profile, file);
            Vec::new()
        }
        Msg::ClientReady { profile, tenant } => {
            if let Some(tab) = m.profiles.get_mut(profile) {
                tab.tenant = tenant;
            }
            Vec::new()
        }
        Msg::Indexed(out) => load::on_indexed(m, *out),
        Msg::AllIndexed(out) => super::all::on_indexed(m, *out),
        Msg::Terminate => {
            m.should_quit = true;
            vec![Effect::Quit]
        }
    }
}
