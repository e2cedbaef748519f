//! Client settings for the integration tests: the library's builder with the tests' timeout,
//! and the demo logins from the vendor registry, so no test spells out a `ClientSettings`.

#![allow(dead_code)]

use dsconsole::model::VendorId;
use dsconsole::vendors::{registry, ClientSettings};
use secrecy::SecretString;
use std::time::Duration;

/// How long a test client waits for a simulator's answer.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

/// A writable profile of `vendor` at `base_url` with `secret`, no username, no vendor keys.
pub fn client(profile: &str, vendor: VendorId, base_url: &str, secret: &str) -> ClientSettings {
    ClientSettings::new(
        profile,
        vendor,
        base_url,
        SecretString::from(secret.to_string()),
    )
    .timeout(CLIENT_TIMEOUT)
}

/// The vendor's demo login (username and main secret from the registry) against its
/// simulator. Named secrets (Databrain's `data_app_key`) are left out: a test that wants one
/// adds it with `secret_option`.
pub fn demo(profile: &str, vendor: VendorId, base_url: &str) -> ClientSettings {
    let login = &registry::vendor(vendor).sim.demo;
    let mut s = client(profile, vendor, base_url, login.secret);
    s.username = login.username.map(str::to_string);
    s
}
