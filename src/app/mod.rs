//! Application state machine: Msg -> update -> Effects, and the runtime that runs effects.

pub mod all;
pub mod checks;
pub mod command;
pub mod completion;
pub mod effect;
pub mod history;
pub mod impact;
pub mod index;
pub mod input;
pub mod jobs;
pub mod keymap;
pub mod keys;
pub mod layout;
pub mod load;
pub mod marks;
pub mod modals;
pub mod msg;
pub mod normal;
pub mod overview;
pub mod router;
pub mod runtime;
pub mod state;
pub mod tab;
pub mod update;
pub mod view;
pub mod watch;

#[cfg(test)]
pub(crate) mod fixtures;
#[cfg(test)]
mod tests;

pub use effect::Effect;
pub use msg::Msg;
pub use state::Model;
pub use update::update;
