//! Application state machine: Msg -> update -> Effects, and the runtime that runs effects.

pub mod effect;
pub mod keymap;
pub mod msg;
pub mod runtime;
pub mod state;
pub mod update;

#[cfg(test)]
pub(crate) mod fixtures;
#[cfg(test)]
mod tests;

pub use effect::Effect;
pub use msg::Msg;
pub use state::Model;
pub use update::update;
