//! The `:` line's history: the command lines run before (loaded from the data dir at start)
//! and in this run, walked with Up and Down. The line being edited when Up is first pressed
//! is kept as a draft and comes back with Down past the newest entry.

use super::state::LineInput;
use crate::ops::command_history::{storable, HISTORY_LIMIT};

#[derive(Debug, Clone, Default)]
pub struct CommandHistory {
    /// Oldest first.
    pub entries: Vec<String>,
    /// The entry shown while walking; `None`: the line is the operator's own.
    walk: Option<usize>,
    /// The line as it was when the walk began.
    draft: Option<LineInput>,
}

impl CommandHistory {
    /// Keep a line that was run. Returns whether it was kept (so it goes to the file too):
    /// not when it may not be stored or repeats the newest entry.
    pub fn remember(&mut self, line: &str) -> bool {
        self.stop_walking();
        if !storable(line) || self.entries.last().map(String::as_str) == Some(line) {
            return false;
        }
        self.entries.push(line.to_string());
        self.trim();
        true
    }

    /// The entries of earlier runs arrived: they go before the ones of this run.
    pub fn loaded(&mut self, mut older: Vec<String>) {
        older.retain(|l| storable(l));
        for line in self.entries.drain(..) {
            if older.last() != Some(&line) {
                older.push(line);
            }
        }
        self.entries = older;
        self.trim();
        self.stop_walking();
    }

    fn trim(&mut self) {
        if self.entries.len() > HISTORY_LIMIT {
            self.entries.drain(..self.entries.len() - HISTORY_LIMIT);
        }
    }

    /// Up: the entry before the one shown (the newest at first); `None` at the oldest or
    /// when there is no history.
    pub fn older(&mut self, current: &LineInput) -> Option<LineInput> {
        let at = match self.walk {
            None => {
                let last = self.entries.len().checked_sub(1)?;
                self.draft = Some(current.clone());
                last
            }
            Some(0) => return None,
            Some(i) => i - 1,
        };
        self.walk = Some(at);
        self.entries.get(at).map(|e| LineInput::new(e))
    }

    /// Down: the entry after the one shown, then the draft; `None` when not walking.
    pub fn newer(&mut self) -> Option<LineInput> {
        let at = self.walk?;
        if at + 1 < self.entries.len() {
            self.walk = Some(at + 1);
            return self.entries.get(at + 1).map(|e| LineInput::new(e));
        }
        self.walk = None;
        Some(self.draft.take().unwrap_or_default())
    }

    /// The line was edited (or closed): it is the operator's own again.
    pub fn stop_walking(&mut self) {
        self.walk = None;
        self.draft = None;
    }
}
