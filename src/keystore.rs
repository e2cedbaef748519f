//! Secrets in the operating system's keyring (`<secret>_keyring = "service/account"` in a
//! profile, `dsconsole secret set PROFILE` to store one). On Linux the kernel keyring
//! (keyutils); where none is reachable — a plain SSH box, a container without one — the
//! error says so and names the alternatives. `DSCONSOLE_TEST_KEYRING_FILE` replaces the
//! platform keyring with a JSON file (owner-only): the tests' double, never for production.

use secrecy::{ExposeSecret, SecretString};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The environment variable naming the tests' keyring file.
pub const TEST_FILE_ENV: &str = "DSCONSOLE_TEST_KEYRING_FILE";

/// `"service/account"` split at its first `/`; both parts non-empty.
pub fn parse_ref(text: &str) -> Option<(String, String)> {
    let (service, account) = text.trim().split_once('/')?;
    let (service, account) = (service.trim(), account.trim());
    (!service.is_empty() && !account.is_empty()).then(|| (service.to_string(), account.to_string()))
}

fn test_file() -> Option<PathBuf> {
    std::env::var_os(TEST_FILE_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

fn read_file(path: &PathBuf) -> Result<BTreeMap<String, String>, String> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| format!("keyring file {}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(format!("keyring file {}: {e}", path.display())),
    }
}

fn no_keyring(what: &str, detail: &str) -> String {
    format!(
        "no OS keyring is available here to {what} ({detail}); use <secret>_env (an \
         environment variable) or <secret>_cmd (a command such as `pass show …`) instead"
    )
}

fn platform_error(what: &str, e: keyring::Error) -> String {
    match e {
        keyring::Error::NoEntry => format!("nothing stored in the keyring to {what}"),
        keyring::Error::PlatformFailure(inner) => no_keyring(what, &inner.to_string()),
        keyring::Error::NoStorageAccess(inner) => no_keyring(what, &inner.to_string()),
        other => format!("keyring: cannot {what}: {other}"),
    }
}

/// The secret stored for `service` / `account`.
pub fn read(service: &str, account: &str) -> Result<SecretString, String> {
    let what = format!("read {service}/{account}");
    if let Some(path) = test_file() {
        return read_file(&path)?
            .remove(&format!("{service}/{account}"))
            .map(SecretString::from)
            .ok_or_else(|| {
                format!("nothing stored in the keyring to {what} (dsconsole secret set stores it)")
            });
    }
    let entry = keyring::Entry::new(service, account).map_err(|e| platform_error(&what, e))?;
    match entry.get_password() {
        Ok(s) => Ok(SecretString::from(s)),
        Err(keyring::Error::NoEntry) => Err(format!(
            "nothing stored in the keyring to {what} (dsconsole secret set stores it)"
        )),
        Err(e) => Err(platform_error(&what, e)),
    }
}

/// Store `secret` for `service` / `account` (replacing what was there).
pub fn write(service: &str, account: &str, secret: &SecretString) -> Result<(), String> {
    let what = format!("store {service}/{account}");
    if let Some(path) = test_file() {
        let mut all = read_file(&path)?;
        all.insert(
            format!("{service}/{account}"),
            secret.expose_secret().to_string(),
        );
        let body = serde_json::to_vec(&all).map_err(|e| e.to_string())?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        use std::io::Write;
        return options
            .open(&path)
            .and_then(|mut f| f.write_all(&body))
            .map_err(|e| format!("keyring file {}: {e}", path.display()));
    }
    keyring::Entry::new(service, account)
        .and_then(|e| e.set_password(secret.expose_secret()))
        .map_err(|e| platform_error(&what, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_service_slash_account() {
        assert_eq!(
            parse_ref(" dsconsole/prod-mstr "),
            Some(("dsconsole".into(), "prod-mstr".into()))
        );
        assert_eq!(
            parse_ref("svc/a/b"),
            Some(("svc".into(), "a/b".into())),
            "the account may hold a slash"
        );
        for bad in ["", "svc", "/acct", "svc/", " / "] {
            assert_eq!(parse_ref(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_platform_errors_name_the_alternatives() {
        let e = platform_error(
            "read a/b",
            keyring::Error::NoStorageAccess(Box::new(std::io::Error::other("no session"))),
        );
        assert!(e.contains("no OS keyring is available here"), "{e}");
        assert!(
            e.contains("<secret>_env") && e.contains("<secret>_cmd"),
            "{e}"
        );
    }
}
