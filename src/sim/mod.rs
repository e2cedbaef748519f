//! In-process simulators of the vendor APIs, used by the demo, the `sim` command and the tests.
//!
//! Each simulator is an axum server on 127.0.0.1 that holds `serde_json::Value`s in the
//! vendor's own wire format (seeded from `assets/`), never the client's types, so a misspelt
//! field in a client fails a test instead of being mirrored here.

pub mod microstrategy;

use std::time::Duration;

/// Options shared by all simulators.
#[derive(Debug, Clone, Default)]
pub struct SimOptions {
    /// Delay added to every request before it is handled.
    pub latency: Duration,
    /// Total objects per kind to serve (0 = only the seed data); extra objects are generated
    /// deterministically.
    pub scale: usize,
}

/// All running simulators.
#[derive(Debug)]
pub struct Simulators {
    pub mstr: microstrategy::MstrSim,
}

/// Start every simulator on its own random port of 127.0.0.1.
pub async fn start_all(opts: &SimOptions) -> std::io::Result<Simulators> {
    let mstr = microstrategy::start(opts).await?;
    Ok(Simulators { mstr })
}
