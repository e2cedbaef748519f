//! The shape of a vendor's registry entry (`Vendor` and its parts). Each vendor's client
//! file defines its `VENDOR` of this shape; `registry.rs` lists them in `VENDORS`. Kept
//! apart from the table so a client depends on the shape, not on the other vendors.

use super::forms::FormSpec;
use super::http::ErrorDecoder;
use super::{ApiError, ClientSettings, VendorApi, VendorOptions, VendorSpec};
use crate::model::{Kind, Resource, VendorId};
#[cfg(feature = "sim")]
use crate::sim::{RunningSim, SimOptions};
#[cfg(feature = "sim")]
use futures::future::BoxFuture;
use std::fmt;
use std::sync::Arc;

/// One vendor: its static facts (`spec`: kinds, columns, delete order), how a profile of it
/// is configured, how its client is built, how its errors read, and its simulator.
pub struct Vendor {
    pub spec: &'static VendorSpec,
    pub config: ConfigSpec,
    /// Build the client of a profile. Does no I/O (login happens on first use).
    pub connect: fn(ClientSettings) -> Result<Arc<dyn VendorApi>, ApiError>,
    /// The create form of a kind, filled with choices from the loaded objects; `None` when
    /// the vendor cannot create that kind.
    pub create_form: fn(Kind, &[Resource]) -> Option<FormSpec>,
    /// A non-2xx answer (status, headers, body) as one `ApiError` sentence.
    pub decode_error: ErrorDecoder,
    /// An error body as the vendor sends it, and what `decode_error` must read from it.
    pub error_example: ErrorExample,
    /// Its built-in simulator (only with the `sim` feature).
    #[cfg(feature = "sim")]
    pub sim: SimSpec,
}

impl fmt::Debug for Vendor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vendor")
            .field("vendor", &self.spec.vendor)
            .finish()
    }
}

impl Vendor {
    pub fn id(&self) -> VendorId {
        self.spec.vendor
    }
}

/// How a `[[profiles]]` entry of this vendor is written.
#[derive(Debug)]
pub struct ConfigSpec {
    /// The key family of the main secret: `password` (with `password_env`, `password_cmd`)
    /// or `token`.
    pub secret: &'static str,
    /// Whether the profile takes a `username`.
    pub username: bool,
    /// The vendor's own keys beyond the common ones, in `config check` order.
    pub keys: &'static [ConfigKey],
    /// Names people reach for, and the key of this vendor they meant.
    pub aliases: &'static [(&'static str, &'static str)],
    /// True when these settings need no main secret (MicroStrategy guest login).
    pub secret_optional: fn(&VendorOptions) -> bool,
}

/// One vendor-specific config key.
#[derive(Debug, Clone, Copy)]
pub struct ConfigKey {
    pub name: &'static str,
    pub value: KeyValue,
    /// Shown by `config check` when the key is not set (else the row is left out).
    pub shown_default: Option<&'static str>,
}

/// What a vendor-specific key holds, and so how the config validates it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyValue {
    /// A non-blank string, trimmed.
    Text,
    /// An integer within `min..=max`.
    Integer { min: i64, max: i64 },
    /// A secret: `name`, `name_env` or `name_cmd`, like the main secret.
    Secret,
    /// An OAuth client id (client-credentials grant): a non-blank string, trimmed. Set, it
    /// replaces the main secret and needs the named secret `secret` (declared as a `Secret`
    /// key of the same vendor); the config refuses it together with the main secret.
    ClientId { secret: &'static str },
}

impl ConfigSpec {
    /// The OAuth client-id key of this vendor and the named secret that goes with it, if the
    /// vendor can log in with client credentials instead of its main secret.
    pub fn client_credentials(&self) -> Option<(&'static str, &'static str)> {
        self.keys.iter().find_map(|k| match k.value {
            KeyValue::ClientId { secret } => Some((k.name, secret)),
            _ => None,
        })
    }
}

/// A sample error answer of the vendor and what it decodes to.
#[derive(Debug, Clone, Copy)]
pub struct ErrorExample {
    pub status: u16,
    pub body: &'static str,
    pub code: Option<&'static str>,
    pub message: &'static str,
}

#[cfg(feature = "sim")]
/// The vendor's built-in simulator and the demo profile that talks to it.
#[derive(Debug)]
pub struct SimSpec {
    /// Start the simulator on 127.0.0.1 (seeded from `assets/`).
    pub start: fn(SimOptions) -> BoxFuture<'static, std::io::Result<RunningSim>>,
    pub demo: DemoLogin,
}

#[cfg(feature = "sim")]
/// The demo profile's name and the simulator's credentials.
#[derive(Debug)]
pub struct DemoLogin {
    pub profile: &'static str,
    pub username: Option<&'static str>,
    /// The main secret (password or token).
    pub secret: &'static str,
    /// Named secrets (`data_app_key`).
    pub secrets: &'static [(&'static str, &'static str)],
}

#[cfg(feature = "sim")]
impl DemoLogin {
    /// `username administrator, password demo-password`: what `dsconsole sim` prints.
    pub fn describe(&self, secret_name: &str) -> String {
        let mut parts = Vec::new();
        if let Some(u) = self.username {
            parts.push(format!("username {u}"));
        }
        parts.push(format!("{secret_name} {}", self.secret));
        for (name, value) in self.secrets {
            parts.push(format!("{} {value}", name.replace('_', " ")));
        }
        parts.join(", ")
    }
}
