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

/// Allocator settings for large tenants, set once at start before any thread.
///
/// glibc raises its mmap threshold each time a large block is freed (up to 32 MiB), after
/// which big vectors (a view's members, its search text, a list being decoded) come from the
/// same heap as the small strings of the model; freeing them later leaves holes the heap
/// cannot give back. A fixed threshold keeps every block of 128 KiB or more in its own
/// mapping, returned whole when freed: 300,000 loaded objects keep about 15 MB less resident.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes glibc's allocation policy; called before any other thread
    // exists, as glibc asks.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}
