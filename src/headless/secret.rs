//! `dsconsole secret set PROFILE [--key NAME]`: store a profile's secret in the OS keyring,
//! where its `<secret>_keyring = "service/account"` says. Read once at a masked prompt
//! (typed twice), or from stdin when it is not a terminal; never echoed or logged.

use super::{load_config, no_such_profile, Fail};
use crate::config::SecretSource;
use crate::text::sanitize;
use secrecy::{ExposeSecret, SecretString};
use std::io::{BufRead, IsTerminal};
use std::path::Path;
use std::process::ExitCode;

pub fn secret_set(
    config_path: Option<&Path>,
    profile: &str,
    key: Option<&str>,
) -> Result<ExitCode, Fail> {
    let (cfg, path) = load_config(config_path)?;
    let Some(p) = cfg.profile(profile) else {
        return Err(no_such_profile(&cfg, &path, profile));
    };
    let main = crate::vendors::registry::vendor(p.vendor).config.secret;
    let family = key.unwrap_or(main);
    let source = if family == main {
        Some(&p.secret)
    } else {
        p.secret_options.get(family)
    };
    let (service, account) = match source {
        Some(SecretSource::Keyring { service, account }) => (service.clone(), account.clone()),
        other => {
            let now = other
                .map(SecretSource::describe)
                .unwrap_or_else(|| "nothing".into());
            return Err(Fail::usage(format!(
                "profile '{profile}' reads its {family} from {now}, not the keyring: add \
                 {family}_keyring = \"dsconsole/{profile}\" to it (in place of the other \
                 {family} key), then run this again"
            )));
        }
    };
    let secret = if std::io::stdin().is_terminal() {
        let first = super::update::read_masked(&format!("{family} for '{profile}' (not shown): "))?;
        let again = super::update::read_masked("Again, to be sure: ")?;
        if first.expose_secret() != again.expose_secret() {
            return Err(Fail::op("the two entries differ: nothing was stored"));
        }
        first
    } else {
        let mut line = zeroize::Zeroizing::new(String::new());
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| Fail::usage(format!("reading the secret from stdin: {e}")))?;
        let value = line.trim_end_matches(['\r', '\n']);
        if value.is_empty() {
            return Err(Fail::usage("nothing on stdin: nothing was stored"));
        }
        SecretString::from(value.to_string())
    };
    crate::keystore::write(&service, &account, &secret).map_err(Fail::op)?;
    eprintln!(
        "stored the {family} of profile '{}' in the keyring as {}/{}",
        sanitize(profile),
        sanitize(&service),
        sanitize(&account)
    );
    Ok(ExitCode::SUCCESS)
}
