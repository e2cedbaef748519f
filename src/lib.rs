//! dsconsole: a terminal console for BI datasources, connections and logins.
//!
//! Layers, bottom up: `model` (vendor-neutral resources), `vendors` (HTTP clients, one per
//! vendor), `sim` (in-process simulators of the vendor APIs), `ops` (delete plans, the bulk
//! executor, the audit log), `app` (Msg -> update -> Effect and the runtime), `ui` (pure
//! draw), `tui` (terminal and event loop), `cli` (argument parsing and headless commands).

pub mod app;
pub mod cli;
pub mod config;
pub mod filter;
pub mod headless;
pub mod impact;
pub mod keystore;
pub mod logging;
pub mod model;
pub mod ops;
pub mod overview;
pub mod redact;
pub mod signals;
#[cfg(feature = "sim")]
pub mod sim;
pub mod text;
pub mod tui;
pub mod ui;
pub mod vendors;
