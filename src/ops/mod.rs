//! Operations that change vendor state: delete plans, the bulk executor, the audit log.

pub mod audit;
pub mod change;
pub mod command_history;
pub mod connection_tests;
pub mod create;
pub mod deleted;
pub mod executor;
pub mod export;
#[cfg(test)]
pub(crate) mod fixtures;
pub mod health_checks;
pub mod impact_run;
pub mod plan;
pub mod plan_file;
pub mod request_lines;
pub mod restore;
pub mod watch_file;
