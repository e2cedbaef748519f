//! The vendor registry: every fact about a vendor that the rest of the program needs, in one
//! `Vendor` entry defined next to the vendor's client (`microstrategy::VENDOR`, ...), and one
//! table, `VENDORS`, listing them. The config (keys, secrets, validation, `describe`), the
//! demo, the `sim` command and `start_simulators` iterate the table; nothing above this
//! module matches on a vendor to find out what it accepts or how it starts.
//!
//! Adding a vendor: a client file with its `SPEC` and `VENDOR`, a simulator file, a seed
//! under `assets/`, its `VendorId` variant, and one line in `VENDORS` (see ARCHITECTURE.md).

pub use super::entry::*;
use super::forms::FormSpec;
use super::{
    basedash, databrain, microstrategy, qlik, superset, ApiError, ClientSettings, VendorApi,
    VendorSpec,
};
use crate::model::{Kind, Resource, VendorId};
#[cfg(feature = "sim")]
use crate::sim::{RunningSim, SimOptions};
#[cfg(feature = "sim")]
use secrecy::SecretString;
use std::sync::Arc;

/// Every vendor, in tab order (and the order `start_simulators` gives ports in).
pub static VENDORS: &[&Vendor] = &[
    &microstrategy::VENDOR,
    &qlik::VENDOR,
    &basedash::VENDOR,
    &databrain::VENDOR,
    &superset::VENDOR,
];

/// The registry entry of a vendor. Every `VendorId` has one (checked by a test).
pub fn vendor(id: VendorId) -> &'static Vendor {
    match VENDORS.iter().find(|v| v.spec.vendor == id) {
        Some(v) => v,
        None => unreachable!("vendor {id:?} is missing from VENDORS"),
    }
}

/// The static facts of a vendor.
pub fn spec(id: VendorId) -> &'static VendorSpec {
    vendor(id).spec
}

/// Build the client of a profile. Does no I/O (login happens on first use).
pub fn connect(settings: ClientSettings) -> Result<Arc<dyn VendorApi>, ApiError> {
    (vendor(settings.vendor).connect)(settings)
}

/// The create form of a kind, filled with choices from the loaded objects; `None` when the
/// vendor cannot create that kind.
pub fn create_form(id: VendorId, kind: Kind, loaded: &[Resource]) -> Option<FormSpec> {
    (vendor(id).create_form)(kind, loaded)
}

#[cfg(feature = "sim")]
/// The settings of a vendor's demo profile against its simulator at `base_url`.
pub fn demo_settings(v: &Vendor, base_url: &str, read_only: bool) -> ClientSettings {
    let demo = &v.sim.demo;
    let mut s = ClientSettings::new(
        demo.profile,
        v.id(),
        base_url,
        SecretString::from(demo.secret),
    )
    .read_only(read_only);
    if let Some(u) = demo.username {
        s = s.username(u);
    }
    for (name, value) in demo.secrets {
        s = s.secret_option(name, SecretString::from(*value));
    }
    s
}

#[cfg(feature = "sim")]
/// A running simulator and the vendor it simulates.
#[derive(Debug)]
pub struct StartedSim {
    pub vendor: &'static Vendor,
    pub sim: RunningSim,
}

#[cfg(feature = "sim")]
/// Start every vendor's simulator on 127.0.0.1: the first on `opts.port` (0 = any free
/// port), the next ones above it. They stop when dropped.
pub async fn start_simulators(opts: &SimOptions) -> std::io::Result<Vec<StartedSim>> {
    let mut out = Vec::with_capacity(VENDORS.len());
    for (n, v) in VENDORS.iter().enumerate() {
        let sim = (v.sim.start)(opts.nth(u16::try_from(n).unwrap_or(u16::MAX))).await?;
        out.push(StartedSim { vendor: v, sim });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_vendor_id_has_exactly_one_entry() {
        for id in VendorId::ALL {
            let n = VENDORS.iter().filter(|v| v.id() == id).count();
            assert_eq!(n, 1, "{id:?} has {n} registry entries");
        }
        assert_eq!(VENDORS.len(), VendorId::ALL.len());
    }

    #[test]
    fn every_vendor_has_columns_for_each_of_its_kinds() {
        for v in VENDORS {
            assert!(!v.spec.kinds.is_empty(), "{:?} has no kinds", v.id());
            for kind in v.spec.kinds {
                assert!(
                    !(v.spec.columns)(*kind).is_empty(),
                    "{:?} has no columns for {kind:?}",
                    v.id()
                );
            }
            for kind in v.spec.delete_order.iter().chain(v.spec.orphan_kinds) {
                assert!(
                    v.spec.kinds.contains(kind),
                    "{:?}: {kind:?} is planned but not one of its kinds",
                    v.id()
                );
            }
        }
    }

    #[test]
    fn every_vendor_decodes_its_own_error_body() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            reqwest::header::CONTENT_TYPE,
            reqwest::header::HeaderValue::from_static("application/json"),
        );
        for v in VENDORS {
            let ex = &v.error_example;
            let e = (v.decode_error)(v.id(), ex.status, &headers, ex.body.as_bytes());
            assert_eq!(e.vendor(), v.id());
            assert_eq!(e.status(), Some(ex.status), "{e}");
            assert_eq!(e.code(), ex.code, "{:?}: {e}", v.id());
            assert_eq!(e.reason(), ex.message, "{:?}: {e}", v.id());
        }
    }

    #[test]
    fn config_keys_and_secrets_are_unambiguous() {
        let mut own: HashSet<&str> = HashSet::new();
        for v in VENDORS {
            assert!(!v.config.secret.is_empty());
            for k in v.config.keys {
                assert!(own.insert(k.name), "{} is claimed by two vendors", k.name);
                assert_ne!(k.name, v.config.secret);
            }
            for (alias, target) in v.config.aliases {
                assert!(
                    v.config.keys.iter().any(|k| k.name == *target),
                    "{:?}: alias {alias} points at {target}, not one of its keys",
                    v.id()
                );
            }
        }
    }

    #[cfg(feature = "sim")]
    /// Every vendor's simulator starts, its demo login gets in, and the seed loads through
    /// its client: something for every kind the vendor shows.
    #[tokio::test]
    async fn every_vendor_has_a_simulator_a_demo_profile_and_a_seed() {
        let sims = start_simulators(&SimOptions::default())
            .await
            .expect("simulators start");
        assert_eq!(sims.len(), VENDORS.len());
        let mut profiles = HashSet::new();
        for s in &sims {
            let id = s.vendor.id();
            assert!(s.sim.base_url.starts_with("http://127.0.0.1:"), "{id:?}");
            let settings = demo_settings(s.vendor, &s.sim.base_url, true);
            assert!(
                profiles.insert(settings.profile.clone()),
                "{id:?}: demo profile name used twice"
            );
            let client = connect(settings).unwrap_or_else(|e| panic!("{id:?}: {e}"));
            let snap = client
                .load()
                .await
                .unwrap_or_else(|e| panic!("{id:?}: demo login or seed load failed: {e}"));
            for kind in s.vendor.spec.kinds {
                assert!(
                    snap.resources.iter().any(|r| r.kind == *kind),
                    "{id:?}: the seed has no {kind:?}"
                );
            }
            assert!(
                snap.resources.iter().all(|r| r.vendor == id),
                "{id:?}: objects of another vendor"
            );
        }
    }

    #[cfg(feature = "sim")]
    #[test]
    fn sim_command_lines_name_every_credential() {
        let d = &databrain::VENDOR;
        assert_eq!(
            d.sim.demo.describe(d.config.secret),
            format!(
                "token {}, data app key {}",
                crate::sim::databrain::DEMO_TOKEN,
                crate::sim::databrain::DEMO_DATA_APP_KEY
            )
        );
        let m = &microstrategy::VENDOR;
        assert_eq!(
            m.sim.demo.describe(m.config.secret),
            "username administrator, password demo-password"
        );
    }
}
