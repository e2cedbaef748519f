//! Configuration: the TOML file of profiles (SPEC section 2), validated with errors that name
//! file, line and key, and the resolution of each profile's secret (env var, command, inline).
//!
//! Secrets are held as `SecretString` and never appear in `Debug`, errors or `describe()`.

use crate::model::VendorId;
use crate::vendors::registry::{self, KeyValue, VENDORS};
use crate::vendors::{ClientSettings, VendorOptions};
use secrecy::SecretString;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io::Read;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use toml::de::{DeString, DeTable, DeValue};
use toml::Spanned;

/// Environment variable naming the config file (after `--config`).
pub const CONFIG_ENV: &str = "DSCONSOLE_CONFIG";
/// Environment variable overriding the data directory (audit log, log file).
pub const DATA_DIR_ENV: &str = "DSCONSOLE_DATA_DIR";
/// How long a `*_cmd` secret command may run before it is killed.
pub const SECRET_CMD_TIMEOUT: Duration = Duration::from_secs(60);

const DEFAULT_REFRESH_SECONDS: u64 = 60;
const DEFAULT_CONCURRENCY: usize = 4;
const DEFAULT_TIMEOUT_SECONDS: u64 = 30;
const MAX_CONCURRENCY: i64 = 256;

const TOP_KEYS: &[&str] = &["ui", "defaults", "profiles"];
const UI_KEYS: &[&str] = &["refresh_seconds"];
const DEFAULTS_KEYS: &[&str] = &["concurrency", "timeout_seconds", "connect_timeout_seconds"];
/// Keys every profile may have (whether `username` applies is the vendor's choice).
const COMMON_KEYS: &[&str] = &["name", "vendor", "base_url", "username"];
/// Settings every profile may have, after the secrets.
const COMMON_SETTINGS: &[&str] = &[
    "read_only",
    "protected",
    "concurrency",
    "timeout_seconds",
    "rate_limit_per_minute",
    "insecure_tls",
    "ca_file",
    "client_cert_file",
    "client_key_file",
    "proxy",
    "proxy_username",
    "proxy_password_env",
    "proxy_password_cmd",
    "connect_timeout_seconds",
];

/// Every key a `[[profiles]]` entry may hold, for some vendor: the common keys, each
/// vendor's main secret (with `_env` and `_cmd`), the common settings, then the vendors' own
/// keys, from the registry. Built once (the `_env` / `_cmd` names are made once and kept).
fn profile_keys() -> &'static [&'static str] {
    static KEYS: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| {
        let mut keys: Vec<&'static str> = COMMON_KEYS.to_vec();
        let secret = |keys: &mut Vec<&'static str>, family: &'static str| {
            if keys.contains(&family) {
                return;
            }
            keys.push(family);
            for suffix in ["_env", "_cmd", "_keyring"] {
                keys.push(Box::leak(format!("{family}{suffix}").into_boxed_str()));
            }
        };
        for v in VENDORS {
            secret(&mut keys, v.config.secret);
        }
        keys.extend(COMMON_SETTINGS);
        for v in VENDORS {
            for ck in v.config.keys {
                if ck.value == KeyValue::Secret {
                    secret(&mut keys, ck.name);
                } else if !keys.contains(&ck.name) {
                    keys.push(ck.name);
                }
            }
        }
        keys
    })
}

/// Names people reach for that are not ours, and what they meant (vendors add their own in
/// the registry).
const ALIASES: &[(&str, &str)] = &[
    ("url", "base_url"),
    ("host", "base_url"),
    ("server", "base_url"),
    ("user", "username"),
    ("login", "username"),
    ("type", "vendor"),
    ("api_key", "token"),
    ("api_key_env", "token_env"),
    ("api_key_cmd", "token_cmd"),
    ("apikey", "token"),
    ("key", "token"),
    ("timeout", "timeout_seconds"),
    ("refresh", "refresh_seconds"),
    ("readonly", "read_only"),
    ("profile", "profiles"),
    ("rate_limit", "rate_limit_per_minute"),
];

/// The whole configuration. `Config::default()` is the empty config (no file, no profiles).
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// The file it was read from (`None` for the built-in empty config).
    pub path: Option<PathBuf>,
    pub ui: UiConfig,
    pub defaults: Defaults,
    pub profiles: Vec<ProfileConfig>,
    /// Non-fatal problems (inline secret in a file others can read, profile without secret).
    pub warnings: Vec<String>,
}

/// `[ui]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UiConfig {
    /// Auto-refresh of the visible tab; 0 = off.
    pub refresh_seconds: u64,
}

impl Default for UiConfig {
    fn default() -> Self {
        UiConfig {
            refresh_seconds: DEFAULT_REFRESH_SECONDS,
        }
    }
}

/// `[defaults]`: used by profiles that do not set their own value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Defaults {
    /// Parallel requests per profile for bulk work.
    pub concurrency: usize,
    pub timeout_seconds: u64,
    /// How long establishing a connection may take; `None`: the request timeout, at most
    /// 10 s.
    pub connect_timeout_seconds: Option<u64>,
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults {
            concurrency: DEFAULT_CONCURRENCY,
            timeout_seconds: DEFAULT_TIMEOUT_SECONDS,
            connect_timeout_seconds: None,
        }
    }
}

/// One `[[profiles]]` entry, validated.
#[derive(Debug, Clone)]
pub struct ProfileConfig {
    pub name: String,
    pub vendor: VendorId,
    /// Without trailing `/`.
    pub base_url: String,
    pub username: Option<String>,
    /// The vendor's main secret: password (MicroStrategy) or token (the others).
    pub secret: SecretSource,
    pub read_only: bool,
    pub protected: bool,
    pub concurrency: Option<usize>,
    pub timeout_seconds: Option<u64>,
    pub rate_limit_per_minute: Option<u32>,
    pub insecure_tls: bool,
    /// Extra CA certificates (PEM) trusted for this profile only.
    pub ca_file: Option<PathBuf>,
    /// A client certificate and key (PEM) for mutual TLS.
    pub client_cert_file: Option<PathBuf>,
    pub client_key_file: Option<PathBuf>,
    /// `proxy = "http://host:port"` or `"none"`; unset: the environment's.
    pub proxy: Option<String>,
    pub proxy_username: Option<String>,
    /// From `proxy_password_env` / `proxy_password_cmd` only, never inline.
    pub proxy_password: Option<SecretSource>,
    pub connect_timeout_seconds: Option<u64>,
    /// The vendor's own keys (`login_mode`, `space_id`, ...), validated, as written.
    pub options: BTreeMap<String, String>,
    /// The vendor's own named secrets (`data_app_key`).
    pub secret_options: BTreeMap<String, SecretSource>,
    /// Line of its `[[profiles]]` header.
    pub line: usize,
}

/// A proxy URL from the environment without its password (`http://user:***@host:3128`).
fn redact_proxy_url(value: &str) -> String {
    match reqwest::Url::parse(value) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("***"));
            url.to_string()
        }
        Ok(url) => url.to_string(),
        Err(_) => "(unreadable proxy URL)".into(),
    }
}

/// `proxy = ...`: "none", or an http(s) URL with a host and no credentials in it.
fn check_proxy(value: &str) -> Result<(), String> {
    if value.eq_ignore_ascii_case("none") {
        return Ok(());
    }
    let url = reqwest::Url::parse(value).map_err(|_| {
        "expected \"none\" or a URL such as \"http://proxy.example.com:3128\"".to_string()
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "a proxy URL starts with http:// or https://, not {}://",
            url.scheme()
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("the proxy URL has no host".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "credentials are never written in the proxy URL: use proxy_username and proxy_password_env (or _cmd)"
                .into(),
        );
    }
    Ok(())
}

/// Where a secret comes from.
#[derive(Clone)]
pub enum SecretSource {
    /// Name of an environment variable.
    Env(String),
    /// A shell command (`sh -c`) printing the secret on stdout.
    Cmd(String),
    /// Written in the config file.
    Inline(SecretString),
    /// In the OS keyring, under this service and account (`<secret>_keyring = "svc/acct"`).
    Keyring { service: String, account: String },
    /// Not configured.
    Missing,
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Env(var) => f.debug_tuple("Env").field(var).finish(),
            SecretSource::Cmd(cmd) => f.debug_tuple("Cmd").field(cmd).finish(),
            SecretSource::Inline(_) => f.write_str("Inline([redacted])"),
            SecretSource::Keyring { service, account } => {
                write!(f, "Keyring({service}/{account})")
            }
            SecretSource::Missing => f.write_str("Missing"),
        }
    }
}

impl SecretSource {
    /// One line for people: `env MSTR_PASSWORD (set)`, `command `pass show x``, `inline`.
    /// Never the secret itself.
    pub fn describe(&self) -> String {
        match self {
            SecretSource::Env(var) => {
                let set = std::env::var_os(var).is_some_and(|v| !v.is_empty());
                format!("env {var} ({})", if set { "set" } else { "not set" })
            }
            SecretSource::Cmd(cmd) => format!("command `{cmd}`"),
            SecretSource::Inline(_) => "inline".to_owned(),
            SecretSource::Keyring { service, account } => format!("keyring {service}/{account}"),
            SecretSource::Missing => "not configured".to_owned(),
        }
    }

    /// Fetch the secret. `key` is the config key family used in messages (`password`,
    /// `token`, `data_app_key`). Runs the command for `Cmd` (blocking, at most
    /// `SECRET_CMD_TIMEOUT`): call it from a blocking context.
    pub fn resolve(&self, key: &str) -> Result<SecretString, String> {
        match self {
            SecretSource::Env(var) => match std::env::var(var) {
                Ok(v) if !v.is_empty() => Ok(SecretString::from(v)),
                Ok(_) | Err(std::env::VarError::NotPresent) => {
                    Err(format!("environment variable {var} is not set"))
                }
                Err(std::env::VarError::NotUnicode(_)) => {
                    Err(format!("environment variable {var} is not valid UTF-8"))
                }
            },
            SecretSource::Cmd(cmd) => {
                run_secret_command(&format!("{key}_cmd"), cmd, SECRET_CMD_TIMEOUT)
            }
            SecretSource::Inline(s) => Ok(s.clone()),
            SecretSource::Keyring { service, account } => {
                crate::keystore::read(service, account).map_err(|e| format!("{key}_keyring: {e}"))
            }
            SecretSource::Missing => Err(format!(
                "no {key} configured (set {key}_env, {key}_cmd, {key}_keyring or {key})"
            )),
        }
    }

    pub fn is_inline(&self) -> bool {
        matches!(self, SecretSource::Inline(_))
    }
}

/// A configuration error: `<file>:<line>: <key>: <message>` (parts present when known).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": {key}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Read and parse the file. Non-UTF-8 content, unreadable files and every validation
    /// problem come back as a `ConfigError` naming the file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let bytes = std::fs::read(path).map_err(|e| ConfigError {
            file: path.to_path_buf(),
            line: None,
            key: None,
            message: format!("cannot read the config file: {e}"),
        })?;
        let text = String::from_utf8(bytes).map_err(|e| {
            let valid = e.utf8_error().valid_up_to();
            let line = 1 + e.as_bytes()[..valid]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            ConfigError {
                file: path.to_path_buf(),
                line: Some(line),
                key: None,
                message: format!(
                    "the file is not valid UTF-8 (bad byte at offset {valid}); save it as UTF-8"
                ),
            }
        })?;
        let mut config = Config::parse(&text, path)?;
        config.warn_readable_inline_secrets(path);
        Ok(config)
    }

    /// Parse and validate config text; `path` is only used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let cx = Cx { text, file: path };
        // A UTF-8 byte order mark is not TOML; blank it out so offsets stay the same.
        let owned;
        let body = match text.strip_prefix('\u{feff}') {
            Some(rest) => {
                owned = format!("   {rest}");
                owned.as_str()
            }
            None => text,
        };
        let doc = DeTable::parse(body).map_err(|e| cx.toml_error(&e))?;
        let mut config = Config {
            path: Some(path.to_path_buf()),
            ..Config::default()
        };
        let mut profiles_value = None;
        for (key, value) in sorted(doc.get_ref()) {
            match key.get_ref().as_ref() {
                "ui" => config.ui = cx.ui(value)?,
                "defaults" => config.defaults = cx.defaults(value)?,
                "profiles" => profiles_value = Some(value),
                other => {
                    let hint = match suggest(other, TOP_KEYS) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => "expected [ui], [defaults] or [[profiles]]".to_owned(),
                    };
                    return Err(cx.err(key.span(), other, format!("unknown key; {hint}")));
                }
            }
        }
        if let Some(value) = profiles_value {
            let items = match value.get_ref() {
                DeValue::Array(items) => items,
                DeValue::Table(_) => {
                    return Err(cx.err(
                        value.span(),
                        "profiles",
                        "write each profile as [[profiles]] (double brackets), not [profiles]",
                    ))
                }
                other => {
                    return Err(cx.err(
                        value.span(),
                        "profiles",
                        format!("expected [[profiles]] tables, found {}", type_name(other)),
                    ))
                }
            };
            let mut seen: HashMap<String, usize> = HashMap::new();
            for item in items.iter() {
                let profile = cx.profile(item)?;
                if let Some(first) = seen.get(&profile.name) {
                    let span = match item.get_ref() {
                        DeValue::Table(t) => t
                            .get("name")
                            .map(|v| v.span())
                            .unwrap_or_else(|| item.span()),
                        _ => item.span(),
                    };
                    return Err(cx.err(
                        span,
                        "name",
                        format!(
                            "duplicate profile name '{}' (first used by the profile on line {first})",
                            profile.name
                        ),
                    ));
                }
                seen.insert(profile.name.clone(), profile.line);
                if matches!(profile.secret, SecretSource::Missing) && !profile.needs_no_password() {
                    let family = registry::vendor(profile.vendor).config.secret;
                    config.warnings.push(format!(
                        "{}:{}: profile '{}' has no {family}; set {family}_env, {family}_cmd or {family}",
                        path.display(),
                        profile.line,
                        profile.name
                    ));
                }
                config.profiles.push(profile);
            }
        }
        Ok(config)
    }

    pub fn profile(&self, name: &str) -> Option<&ProfileConfig> {
        self.profiles.iter().find(|p| p.name == name)
    }

    /// For `dsconsole config check`: every profile with its resolved values; secrets only as
    /// their source. Runs no command and reveals no secret.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        match &self.path {
            Some(p) => out.push_str(&format!(
                "config: {}\n",
                crate::text::sanitize(&p.display().to_string())
            )),
            None => out.push_str("config: (none, built-in defaults)\n"),
        }
        let refresh = if self.ui.refresh_seconds == 0 {
            "off".to_owned()
        } else {
            format!("{} s", self.ui.refresh_seconds)
        };
        out.push_str(&format!("ui: refresh every {refresh}\n"));
        out.push_str(&format!(
            "defaults: concurrency {}, timeout {} s\n",
            self.defaults.concurrency, self.defaults.timeout_seconds
        ));
        if self.profiles.is_empty() {
            out.push_str("\nno profiles configured\n");
        }
        for p in &self.profiles {
            out.push('\n');
            out.push_str(&p.describe(&self.defaults));
        }
        if !self.warnings.is_empty() {
            out.push('\n');
            for w in &self.warnings {
                out.push_str(&format!("warning: {}\n", crate::text::sanitize(w)));
            }
        }
        out
    }

    /// Inline secrets in a file that group or others can read get a warning (unix only).
    fn warn_readable_inline_secrets(&mut self, path: &Path) {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let Ok(meta) = std::fs::metadata(path) else {
                return;
            };
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 == 0 {
                return;
            }
            for p in &self.profiles {
                let main = p
                    .secret
                    .is_inline()
                    .then(|| registry::vendor(p.vendor).config.secret);
                let named = p
                    .secret_options
                    .iter()
                    .filter(|(_, src)| src.is_inline())
                    .map(|(name, _)| name.as_str());
                for family in main.into_iter().chain(named) {
                    self.warnings.push(format!(
                        "{}: inline secret in profile '{}' and the file is readable by others (mode {mode:o}); use {family}_env or chmod 600",
                        path.display(),
                        p.name
                    ));
                }
            }
        }
        #[cfg(not(unix))]
        let _ = path;
    }
}

impl ProfileConfig {
    /// One of the vendor's own keys, as validated.
    pub fn option(&self, key: &str) -> Option<&str> {
        self.options.get(key).map(String::as_str)
    }

    /// One of the vendor's own named secrets, as configured.
    pub fn secret_option(&self, key: &str) -> Option<&SecretSource> {
        self.secret_options.get(key)
    }

    /// The vendor's own keys (no secrets), as the vendor reads them.
    fn vendor_values(&self) -> VendorOptions {
        let mut o = VendorOptions::default();
        for (k, v) in &self.options {
            o.set_value(k, v.clone());
        }
        o
    }

    /// Fetch the password/token. Runs the command for `*_cmd` (blocking): call it from a
    /// blocking context (`spawn_blocking`) in async code.
    pub fn resolve_secret(&self) -> Result<SecretString, String> {
        if matches!(self.secret, SecretSource::Missing) && self.needs_no_password() {
            return Ok(SecretString::from(""));
        }
        self.secret
            .resolve(registry::vendor(self.vendor).config.secret)
    }

    /// The vendor says these settings need no secret (MicroStrategy guest login).
    fn needs_no_password(&self) -> bool {
        (registry::vendor(self.vendor).config.secret_optional)(&self.vendor_values())
    }

    /// Fetch one of the vendor's named secrets (Databrain's `data_app_key`), if configured.
    pub fn resolve_secret_option(&self, key: &str) -> Result<Option<SecretString>, String> {
        match self.secret_options.get(key) {
            None | Some(SecretSource::Missing) => Ok(None),
            Some(src) => src.resolve(key).map(Some),
        }
    }

    /// Everything a vendor client needs, secrets resolved. Read-only when the profile or the
    /// command line says so.
    pub fn client_settings(
        &self,
        defaults: &Defaults,
        global_read_only: bool,
    ) -> Result<ClientSettings, String> {
        let secret = self.resolve_secret()?;
        let mut settings = ClientSettings::new(
            self.name.clone(),
            self.vendor,
            self.base_url.clone(),
            secret,
        )
        .read_only(self.read_only || global_read_only)
        .timeout(Duration::from_secs(self.timeout_seconds(defaults)))
        .insecure_tls(self.insecure_tls)
        .rate_limit_per_minute(self.rate_limit_per_minute)
        .ca_file(self.ca_file.clone())
        .client_cert(
            self.client_cert_file
                .clone()
                .zip(self.client_key_file.clone()),
        )
        .connect_timeout(
            self.connect_timeout_seconds
                .or(defaults.connect_timeout_seconds)
                .map(Duration::from_secs),
        )
        .proxy(match self.proxy.as_deref() {
            None => crate::vendors::ProxyChoice::Environment,
            Some("none") => crate::vendors::ProxyChoice::Direct,
            Some(url) => crate::vendors::ProxyChoice::Url {
                url: url.to_string(),
                username: self.proxy_username.clone(),
                password: match &self.proxy_password {
                    Some(src) => Some(src.resolve("proxy_password")?),
                    None => None,
                },
            },
        });
        settings.username = self.username.clone();
        settings.options = self.vendor_values();
        for name in self.secret_options.keys() {
            if let Some(secret) = self.resolve_secret_option(name)? {
                settings = settings.secret_option(name, secret);
            }
        }
        Ok(settings)
    }

    /// Parallel requests for bulk work: the profile's own value, else the default.
    pub fn concurrency(&self, defaults: &Defaults) -> usize {
        self.concurrency.unwrap_or(defaults.concurrency).max(1)
    }

    pub fn timeout_seconds(&self, defaults: &Defaults) -> u64 {
        self.timeout_seconds.unwrap_or(defaults.timeout_seconds)
    }

    /// Which proxy this profile's requests use, as `config check` says it (never a password).
    pub fn describe_proxy(&self) -> String {
        match self.proxy.as_deref() {
            Some("none") => "none (proxy = \"none\": direct, whatever the environment says)".into(),
            Some(url) => {
                let user = match (&self.proxy_username, &self.proxy_password) {
                    (Some(u), Some(src)) => format!(", user {u}, password from {}", src.describe()),
                    (Some(u), None) => format!(", user {u}, no password"),
                    _ => String::new(),
                };
                format!("{url} (from the config{user}; NO_PROXY still applies)")
            }
            None => {
                let https = self.base_url.starts_with("https://");
                let var = |names: &[&str]| {
                    names.iter().find_map(|n| {
                        std::env::var(n)
                            .ok()
                            .filter(|v| !v.trim().is_empty())
                            .map(|v| (n.to_string(), v))
                    })
                };
                let proxy = if https {
                    var(&["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"])
                } else {
                    var(&["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"])
                };
                let no_proxy = var(&["NO_PROXY", "no_proxy"])
                    .map(|(_, v)| format!(", NO_PROXY={v}"))
                    .unwrap_or_default();
                match proxy {
                    Some((name, value)) => format!(
                        "{} (from the environment: {name}{no_proxy})",
                        redact_proxy_url(&value)
                    ),
                    None => "none (no HTTPS_PROXY / HTTP_PROXY in the environment)".into(),
                }
            }
        }
    }

    /// The block `describe()` prints for this profile.
    fn describe(&self, defaults: &Defaults) -> String {
        let yes_no = |b: bool| if b { "yes" } else { "no" };
        let config = &registry::vendor(self.vendor).config;
        let mut rows: Vec<(&str, String)> = vec![("base_url", self.base_url.clone())];
        if config.username {
            rows.push((
                "username",
                self.username.clone().unwrap_or_else(|| "(none)".into()),
            ));
        }
        match config.client_credentials() {
            // OAuth client credentials instead of the main secret: no API key row.
            Some((id_key, secret_key)) if self.option(id_key).is_some() => rows.push((
                "auth",
                format!("OAuth client credentials ({id_key} + {secret_key})"),
            )),
            Some(_) => {
                rows.push(("auth", format!("API key ({})", config.secret)));
                rows.push((config.secret, self.secret.describe()));
            }
            None => rows.push((config.secret, self.secret.describe())),
        }
        for key in config.keys {
            let shown = match key.value {
                KeyValue::Secret => self.secret_option(key.name).map(SecretSource::describe),
                _ => self
                    .option(key.name)
                    .or(key.shown_default)
                    .map(str::to_owned),
            };
            if let Some(v) = shown {
                rows.push((key.name, v));
            }
        }
        rows.push(("read_only", yes_no(self.read_only).into()));
        rows.push(("protected", yes_no(self.protected).into()));
        let conc = match self.concurrency {
            Some(n) => n.to_string(),
            None => format!("{} (default)", defaults.concurrency),
        };
        rows.push(("concurrency", conc));
        let timeout = match self.timeout_seconds {
            Some(n) => format!("{n} s"),
            None => format!("{} s (default)", defaults.timeout_seconds),
        };
        rows.push(("timeout_seconds", timeout));
        rows.push((
            "rate_limit_per_minute",
            self.rate_limit_per_minute
                .map_or_else(|| "none".to_owned(), |n| n.to_string()),
        ));
        let tls = if self.insecure_tls {
            "yes (certificates NOT verified)"
        } else {
            "no"
        };
        rows.push(("insecure_tls", tls.into()));
        let connect = match self
            .connect_timeout_seconds
            .or(defaults.connect_timeout_seconds)
        {
            Some(n) => format!("{n} s"),
            None => format!(
                "{} s (the request timeout, at most 10 s)",
                self.timeout_seconds(defaults).min(10)
            ),
        };
        rows.push(("connect_timeout", connect));
        rows.push((
            "trust",
            match &self.ca_file {
                Some(f) => format!("bundled and system CAs, and ca_file {}", f.display()),
                None => "bundled and system CAs".into(),
            },
        ));
        if let (Some(c), Some(k)) = (&self.client_cert_file, &self.client_key_file) {
            rows.push((
                "client certificate",
                format!("{} (key {})", c.display(), k.display()),
            ));
        }
        rows.push(("proxy", self.describe_proxy()));

        let mut out = format!(
            "profile '{}': {} (line {})\n",
            self.name,
            self.vendor.display(),
            self.line
        );
        // Values come from the file: shown visibly, never as terminal controls.
        for (k, v) in rows {
            out.push_str(&format!("  {k:<22} {}\n", crate::text::sanitize(&v)));
        }
        out
    }
}

/// `--config PATH`, else `$DSCONSOLE_CONFIG`, else `<config dir>/dsconsole/config.toml`.
/// `None` only when no home directory can be found.
pub fn resolve_path(cli: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = cli {
        return Some(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os(CONFIG_ENV).filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(p));
    }
    directories::BaseDirs::new().map(|d| d.config_dir().join("dsconsole").join("config.toml"))
}

/// `$DSCONSOLE_DATA_DIR` if set, else `<data dir>/dsconsole` (else `./.dsconsole` when no
/// home directory exists). Not created here.
pub fn data_dir() -> PathBuf {
    if let Some(p) = std::env::var_os(DATA_DIR_ENV).filter(|v| !v.is_empty()) {
        return PathBuf::from(p);
    }
    match directories::BaseDirs::new() {
        Some(d) => d.data_dir().join("dsconsole"),
        None => PathBuf::from(".dsconsole"),
    }
}

/// The secret a command prints (`--secret-cmd`), with the config's rules: stdout trimmed,
/// errors that name the command and its status, never its output; 30 s at most.
pub fn secret_from_command(what: &str, cmd: &str) -> Result<SecretString, String> {
    run_secret_command(what, cmd, Duration::from_secs(30))
}

/// Run a secret command: stdout trimmed is the secret. Errors name the command and its exit
/// status, never its output. stdin and stderr are detached so it cannot disturb the TUI.
fn run_secret_command(key: &str, cmd: &str, timeout: Duration) -> Result<SecretString, String> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("{key} `{cmd}` could not be started: {e}"))?;
    let Some(mut stdout) = child.stdout.take() else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(format!("{key} `{cmd}`: no output pipe"));
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let res = stdout.read_to_end(&mut buf).map(|_| buf);
        let _ = tx.send(res);
    });

    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{key} `{cmd}` did not finish within {} s and was stopped",
                    timeout.as_secs_f32()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{key} `{cmd}`: cannot wait for it: {e}"));
            }
        }
    };
    if !status.success() {
        return Err(format!("{key} `{cmd}` failed ({status})"));
    }
    // The command exited; a background child of it may still hold the pipe open.
    let wait = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(500));
    let output = match rx.recv_timeout(wait) {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(e)) => return Err(format!("{key} `{cmd}`: cannot read its output: {e}")),
        Err(_) => {
            return Err(format!(
            "{key} `{cmd}` exited but its output never ended (a background process keeps it open)"
        ))
        }
    };
    let text = String::from_utf8(output)
        .map_err(|_| format!("{key} `{cmd}` printed something that is not UTF-8"))?;
    let secret = text.trim();
    if secret.is_empty() {
        return Err(format!("{key} `{cmd}` printed nothing ({status})"));
    }
    Ok(SecretString::from(secret))
}

// ---------------------------------------------------------------------------------------
// Parsing helpers

/// Parsing context: the text (for line numbers) and the file (for messages).
struct Cx<'a> {
    text: &'a str,
    file: &'a Path,
}

type Entry<'t, 'i> = (&'t Spanned<DeString<'i>>, &'t Spanned<DeValue<'i>>);

/// Entries of a table in file order.
fn sorted<'t, 'i>(table: &'t DeTable<'i>) -> Vec<Entry<'t, 'i>> {
    let mut entries: Vec<Entry<'t, 'i>> = table.iter().collect();
    entries.sort_by_key(|(k, _)| k.span().start);
    entries
}

fn type_name(v: &DeValue<'_>) -> &'static str {
    match v {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

/// Which secret a key configures.
#[derive(Clone, Copy, PartialEq, Eq)]
enum SecretSlot {
    /// The vendor's main secret (password or token).
    Main,
    /// One of the vendor's named secrets (`data_app_key`).
    Named(&'static str),
}

#[derive(Clone, Copy)]
enum SourceKind {
    Inline,
    Env,
    Cmd,
    Keyring,
}

/// `password_env` -> ("password", Env), ...: for every secret family some vendor has.
fn secret_key_parts(key: &str) -> Option<(&'static str, SourceKind)> {
    let (family, kind) = if let Some(f) = key.strip_suffix("_keyring") {
        (f, SourceKind::Keyring)
    } else if let Some(f) = key.strip_suffix("_env") {
        (f, SourceKind::Env)
    } else if let Some(f) = key.strip_suffix("_cmd") {
        (f, SourceKind::Cmd)
    } else {
        (key, SourceKind::Inline)
    };
    VENDORS
        .iter()
        .flat_map(|v| {
            std::iter::once(v.config.secret).chain(
                v.config
                    .keys
                    .iter()
                    .filter(|k| k.value == KeyValue::Secret)
                    .map(|k| k.name),
            )
        })
        .find(|f| *f == family)
        .map(|f| (f, kind))
}

/// The first vendor whose profiles use `key` (a vendor key or a named secret's family).
fn owner_of(key: &str) -> Option<VendorId> {
    VENDORS
        .iter()
        .find(|v| {
            (key == "username" && v.config.username) || v.config.keys.iter().any(|k| k.name == key)
        })
        .map(|v| v.id())
}

impl Cx<'_> {
    fn line(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        1 + self.text.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
    }

    fn err(&self, span: Range<usize>, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.file.to_path_buf(),
            line: Some(self.line(span.start)),
            key: Some(key.to_owned()),
            message: message.into(),
        }
    }

    /// A TOML syntax error: line from the span; the key when the line looks like `key = ...`.
    fn toml_error(&self, e: &toml::de::Error) -> ConfigError {
        let start = e.span().map(|s| s.start);
        let line = start.map(|s| self.line(s));
        let key = start.and_then(|s| {
            let s = s.min(self.text.len());
            let line_start = self.text[..s].rfind('\n').map_or(0, |i| i + 1);
            let line_end = self.text[line_start..]
                .find('\n')
                .map_or(self.text.len(), |i| line_start + i);
            let (left, _) = self.text[line_start..line_end].split_once('=')?;
            let key = left.trim().trim_matches('"').trim_matches('\'');
            let bare = !key.is_empty()
                && key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
            bare.then(|| key.to_owned())
        });
        let message = e.message().trim().replace('\n', " ");
        ConfigError {
            file: self.file.to_path_buf(),
            line,
            key,
            message: format!("invalid TOML: {message}"),
        }
    }

    fn table<'t, 'i>(
        &self,
        key: &str,
        value: &'t Spanned<DeValue<'i>>,
    ) -> Result<&'t DeTable<'i>, ConfigError> {
        match value.get_ref() {
            DeValue::Table(t) => Ok(t),
            other => Err(self.err(
                value.span(),
                key,
                format!("expected a table ([{key}]), found {}", type_name(other)),
            )),
        }
    }

    fn unknown(
        &self,
        key: &Spanned<DeString<'_>>,
        known: &[&'static str],
        what: &str,
    ) -> ConfigError {
        let name: &str = key.get_ref();
        let hint = match suggest(name, known) {
            Some(s) => format!("did you mean `{s}`?"),
            None => format!("valid keys {what}: {}", known.join(", ")),
        };
        self.err(key.span(), name, format!("unknown key; {hint}"))
    }

    fn string<'v>(
        &self,
        key: &str,
        value: &'v Spanned<DeValue<'_>>,
    ) -> Result<&'v str, ConfigError> {
        match value.get_ref() {
            DeValue::String(s) => Ok(s.as_ref()),
            other => Err(self.err(
                value.span(),
                key,
                format!("expected a string, found {}", type_name(other)),
            )),
        }
    }

    /// A string that must not be empty or blank.
    fn text(&self, key: &str, value: &Spanned<DeValue<'_>>) -> Result<String, ConfigError> {
        let s = self.string(key, value)?;
        if s.trim().is_empty() {
            return Err(self.err(value.span(), key, "must not be empty"));
        }
        Ok(s.to_owned())
    }

    fn boolean(&self, key: &str, value: &Spanned<DeValue<'_>>) -> Result<bool, ConfigError> {
        match value.get_ref() {
            DeValue::Boolean(b) => Ok(*b),
            DeValue::String(s) if matches!(s.as_ref(), "true" | "false") => Err(self.err(
                value.span(),
                key,
                format!("expected true or false without quotes, found the string \"{s}\""),
            )),
            other => Err(self.err(
                value.span(),
                key,
                format!("expected true or false, found {}", type_name(other)),
            )),
        }
    }

    /// An integer within `min..=max`.
    fn integer(
        &self,
        key: &str,
        value: &Spanned<DeValue<'_>>,
        min: i64,
        max: i64,
    ) -> Result<i64, ConfigError> {
        let n = match value.get_ref() {
            DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix()).ok(),
            DeValue::String(s) if s.trim().parse::<i64>().is_ok() => {
                return Err(self.err(
                    value.span(),
                    key,
                    format!("expected a number without quotes, found the string \"{s}\""),
                ))
            }
            other => {
                return Err(self.err(
                    value.span(),
                    key,
                    format!("expected an integer, found {}", type_name(other)),
                ))
            }
        };
        match n {
            Some(n) if n < min => Err(self.err(
                value.span(),
                key,
                format!("must be at least {min} (found {n})"),
            )),
            Some(n) if n > max => Err(self.err(
                value.span(),
                key,
                format!("must be at most {max} (found {n})"),
            )),
            Some(n) => Ok(n),
            None => Err(self.err(value.span(), key, "number out of range")),
        }
    }

    fn ui(&self, value: &Spanned<DeValue<'_>>) -> Result<UiConfig, ConfigError> {
        let table = self.table("ui", value)?;
        let mut ui = UiConfig::default();
        for (k, v) in sorted(table) {
            match k.get_ref().as_ref() {
                "refresh_seconds" => {
                    let n = self.integer("ui.refresh_seconds", v, 0, 86_400)?;
                    ui.refresh_seconds = u64::try_from(n).unwrap_or(DEFAULT_REFRESH_SECONDS);
                }
                _ => return Err(self.unknown(k, UI_KEYS, "in [ui]")),
            }
        }
        Ok(ui)
    }

    fn defaults(&self, value: &Spanned<DeValue<'_>>) -> Result<Defaults, ConfigError> {
        let table = self.table("defaults", value)?;
        let mut d = Defaults::default();
        for (k, v) in sorted(table) {
            match k.get_ref().as_ref() {
                "concurrency" => {
                    let n = self.integer("defaults.concurrency", v, 1, MAX_CONCURRENCY)?;
                    d.concurrency = usize::try_from(n).unwrap_or(DEFAULT_CONCURRENCY);
                }
                "timeout_seconds" => {
                    let n = self.integer("defaults.timeout_seconds", v, 1, 3_600)?;
                    d.timeout_seconds = u64::try_from(n).unwrap_or(DEFAULT_TIMEOUT_SECONDS);
                }
                "connect_timeout_seconds" => {
                    let n = self.integer("defaults.connect_timeout_seconds", v, 1, 600)?;
                    d.connect_timeout_seconds = u64::try_from(n).ok();
                }
                _ => return Err(self.unknown(k, DEFAULTS_KEYS, "in [defaults]")),
            }
        }
        Ok(d)
    }

    fn profile(&self, item: &Spanned<DeValue<'_>>) -> Result<ProfileConfig, ConfigError> {
        let header = item.span();
        let line = self.line(header.start);
        let table = match item.get_ref() {
            DeValue::Table(t) => t,
            other => {
                return Err(self.err(
                    header,
                    "profiles",
                    format!("each profile must be a table, found {}", type_name(other)),
                ))
            }
        };
        let entries = sorted(table);

        // 1. Unknown keys (typos) first.
        let known = profile_keys();
        for (k, _) in &entries {
            if !known.contains(&k.get_ref().as_ref()) {
                return Err(self.unknown(k, known, "in [[profiles]]"));
            }
        }
        // 2. The vendor decides which other keys apply.
        let vendor = match table.get("vendor") {
            None => {
                return Err(self.err(
                    header,
                    "vendor",
                    format!("missing; every profile needs a vendor ({})", vendor_list()),
                ))
            }
            Some(v) => {
                let s = self.string("vendor", v)?;
                let id = s.trim().to_ascii_lowercase();
                VENDORS
                    .iter()
                    .map(|v| v.id())
                    .find(|v| v.id() == id)
                    .ok_or_else(|| {
                        self.err(
                            v.span(),
                            "vendor",
                            format!("unknown vendor \"{s}\"; valid vendors: {}", vendor_list()),
                        )
                    })?
            }
        };

        let mut p = ProfileConfig {
            name: String::new(),
            vendor,
            base_url: String::new(),
            username: None,
            secret: SecretSource::Missing,
            read_only: false,
            protected: false,
            concurrency: None,
            timeout_seconds: None,
            rate_limit_per_minute: None,
            insecure_tls: false,
            ca_file: None,
            client_cert_file: None,
            client_key_file: None,
            proxy: None,
            proxy_username: None,
            proxy_password: None,
            connect_timeout_seconds: None,
            options: BTreeMap::new(),
            secret_options: BTreeMap::new(),
            line,
        };
        let config = &registry::vendor(vendor).config;
        let mut have_name = false;
        let mut have_url = false;
        let mut main_source: Option<(String, usize)> = None;
        let mut named_sources: HashMap<&'static str, (String, usize)> = HashMap::new();
        // Where each vendor key was written (span, line), for errors about combinations.
        let mut key_lines: HashMap<&'static str, (Range<usize>, usize)> = HashMap::new();

        // 3. Every key, in file order.
        for (k, v) in &entries {
            let key: &str = k.get_ref();
            match key {
                "proxy_password" => {
                    return Err(self.err(
                        k.span(),
                        key,
                        "a proxy password is never written in the config: use proxy_password_env or proxy_password_cmd",
                    ))
                }
                "proxy_password_env" => {
                    p.proxy_password = Some(self.secret_source(key, SourceKind::Env, v)?);
                    continue;
                }
                "proxy_password_cmd" => {
                    p.proxy_password = Some(self.secret_source(key, SourceKind::Cmd, v)?);
                    continue;
                }
                _ => {}
            }
            if let Some((family, kind)) = secret_key_parts(key) {
                let slot = self.check_secret_family(k, vendor, family)?;
                let first = match slot {
                    SecretSlot::Main => main_source.as_ref(),
                    SecretSlot::Named(name) => named_sources.get(name),
                };
                if let Some((other, other_line)) = first {
                    return Err(self.err(
                        k.span(),
                        key,
                        format!(
                            "{other} is already set (line {other_line}); use only one of {family}, {family}_env, {family}_cmd"
                        ),
                    ));
                }
                let seen = (key.to_owned(), self.line(k.span().start));
                let source = self.secret_source(key, kind, v)?;
                match slot {
                    SecretSlot::Main => {
                        main_source = Some(seen);
                        p.secret = source;
                    }
                    SecretSlot::Named(name) => {
                        named_sources.insert(name, seen);
                        p.secret_options.insert(name.to_owned(), source);
                    }
                }
                continue;
            }
            match key {
                "name" => {
                    p.name = self.profile_name(v)?;
                    have_name = true;
                }
                "vendor" => {}
                "base_url" => {
                    p.base_url = self.base_url(v)?;
                    have_url = true;
                }
                "username" => {
                    if !config.username {
                        return Err(self.only_for(k, vendor));
                    }
                    p.username = Some(self.text(key, v)?);
                }
                "read_only" => p.read_only = self.boolean(key, v)?,
                "protected" => p.protected = self.boolean(key, v)?,
                "insecure_tls" => p.insecure_tls = self.boolean(key, v)?,
                "concurrency" => {
                    let n = self.integer(key, v, 1, MAX_CONCURRENCY)?;
                    p.concurrency = usize::try_from(n).ok();
                }
                "timeout_seconds" => {
                    let n = self.integer(key, v, 1, 3_600)?;
                    p.timeout_seconds = u64::try_from(n).ok();
                }
                "rate_limit_per_minute" => {
                    let n = self.integer(key, v, 1, 100_000)?;
                    p.rate_limit_per_minute = u32::try_from(n).ok();
                }
                "ca_file" => p.ca_file = Some(PathBuf::from(self.text(key, v)?.trim())),
                "client_cert_file" => {
                    p.client_cert_file = Some(PathBuf::from(self.text(key, v)?.trim()))
                }
                "client_key_file" => {
                    p.client_key_file = Some(PathBuf::from(self.text(key, v)?.trim()))
                }
                "proxy" => {
                    let text = self.text(key, v)?.trim().to_string();
                    if let Err(why) = check_proxy(&text) {
                        return Err(self.err(v.span(), key, why));
                    }
                    p.proxy = Some(text);
                }
                "proxy_username" => p.proxy_username = Some(self.text(key, v)?),
                "connect_timeout_seconds" => {
                    let n = self.integer(key, v, 1, 600)?;
                    p.connect_timeout_seconds = u64::try_from(n).ok();
                }
                _ => {
                    // The vendor's own keys (its secrets were handled above).
                    let Some(own) = config.keys.iter().find(|c| c.name == key) else {
                        return Err(self.only_for(k, vendor));
                    };
                    let value = match own.value {
                        KeyValue::Text | KeyValue::ClientId { .. } => {
                            self.text(key, v)?.trim().to_owned()
                        }
                        KeyValue::Integer { min, max } => {
                            self.integer(key, v, min, max)?.to_string()
                        }
                        KeyValue::Secret => continue,
                    };
                    p.options.insert(key.to_owned(), value);
                    key_lines.insert(own.name, (k.span(), self.line(k.span().start)));
                }
            }
        }
        self.check_client_credentials(&p, &main_source, &named_sources, &key_lines)?;

        // 4. Settings that only make sense together.
        if p.client_cert_file.is_some() != p.client_key_file.is_some() {
            let missing = if p.client_cert_file.is_some() {
                "client_key_file"
            } else {
                "client_cert_file"
            };
            return Err(self.err(
                header.clone(),
                missing,
                "missing: mutual TLS needs both client_cert_file and client_key_file",
            ));
        }
        let proxy_url = p.proxy.as_deref().is_some_and(|x| x != "none");
        if (p.proxy_username.is_some() || p.proxy_password.is_some()) && !proxy_url {
            return Err(self.err(
                header.clone(),
                "proxy",
                "proxy_username / proxy_password_env need proxy = \"http://host:port\"",
            ));
        }

        // 5. Required keys.
        if !have_name {
            return Err(self.err(header, "name", "missing; every profile needs a name"));
        }
        if !have_url {
            return Err(self.err(
                header,
                "base_url",
                format!("missing; profile '{}' needs a base_url", p.name),
            ));
        }
        Ok(p)
    }

    /// OAuth client credentials (`client_id` + `client_secret`) replace the main secret: a
    /// profile has one or the other, and a client id always has its secret.
    fn check_client_credentials(
        &self,
        p: &ProfileConfig,
        main_source: &Option<(String, usize)>,
        named_sources: &HashMap<&'static str, (String, usize)>,
        key_lines: &HashMap<&'static str, (Range<usize>, usize)>,
    ) -> Result<(), ConfigError> {
        let config = &registry::vendor(p.vendor).config;
        let Some((id_key, secret_key)) = config.client_credentials() else {
            return Ok(());
        };
        let main = config.secret;
        let secret_keys = format!("{secret_key}_env, {secret_key}_cmd or {secret_key}");
        match (key_lines.get(id_key), named_sources.get(secret_key)) {
            (Some((span, id_line)), _) if main_source.is_some() => {
                let (main_key, main_line) = main_source.as_ref().expect("checked");
                Err(self.err(
                    span.clone(),
                    id_key,
                    format!(
                        "{main_key} (line {main_line}) and {id_key} (line {id_line}) are both set; \
                         a {} profile uses either an API key ({main}, {main}_env or {main}_cmd) or \
                         OAuth client credentials ({id_key} with {secret_keys}), not both",
                        p.vendor.id()
                    ),
                ))
            }
            (Some((span, _)), None) => Err(self.err(
                span.clone(),
                id_key,
                format!("OAuth client credentials need a client secret too; set {secret_keys}"),
            )),
            (None, Some((secret, secret_line))) => Err(ConfigError {
                file: self.file.to_path_buf(),
                line: Some(*secret_line),
                key: Some(secret.clone()),
                message: format!(
                    "{secret} is the secret of OAuth client credentials and needs {id_key}; \
                     without {id_key}, use {main}, {main}_env or {main}_cmd for an API key"
                ),
            }),
            _ => Ok(()),
        }
    }

    /// Which of this vendor's secrets a secret key sets; an error naming the right key when
    /// the key belongs to another vendor.
    fn check_secret_family(
        &self,
        k: &Spanned<DeString<'_>>,
        vendor: VendorId,
        family: &'static str,
    ) -> Result<SecretSlot, ConfigError> {
        let key: &str = k.get_ref();
        let config = &registry::vendor(vendor).config;
        if family == config.secret {
            return Ok(SecretSlot::Main);
        }
        if config
            .keys
            .iter()
            .any(|c| c.name == family && c.value == KeyValue::Secret)
        {
            return Ok(SecretSlot::Named(family));
        }
        if VENDORS.iter().any(|v| v.config.secret == family) {
            let right = config.secret;
            let suffix = key.strip_prefix(family).unwrap_or("");
            return Err(self.err(
                k.span(),
                key,
                format!(
                    "{} profiles take a {right}, not a {family}; use {right}{suffix}",
                    vendor.id()
                ),
            ));
        }
        Err(self.only_for_owner(k, vendor, owner_of(family)))
    }

    /// A key this vendor does not take: the error names the vendor that does.
    fn only_for(&self, k: &Spanned<DeString<'_>>, vendor: VendorId) -> ConfigError {
        self.only_for_owner(k, vendor, owner_of(k.get_ref()))
    }

    fn only_for_owner(
        &self,
        k: &Spanned<DeString<'_>>,
        vendor: VendorId,
        owner: Option<VendorId>,
    ) -> ConfigError {
        let key: &str = k.get_ref();
        match owner {
            Some(owner) => self.err(
                k.span(),
                key,
                format!(
                    "only {} profiles use {key} (this profile is {})",
                    owner.id(),
                    vendor.id()
                ),
            ),
            None => self.unknown(k, profile_keys(), "in [[profiles]]"),
        }
    }

    fn secret_source(
        &self,
        key: &str,
        kind: SourceKind,
        value: &Spanned<DeValue<'_>>,
    ) -> Result<SecretSource, ConfigError> {
        match kind {
            SourceKind::Inline => {
                let s = self.string(key, value)?;
                if s.is_empty() {
                    return Err(self.err(value.span(), key, "must not be empty"));
                }
                Ok(SecretSource::Inline(SecretString::from(s)))
            }
            SourceKind::Cmd => Ok(SecretSource::Cmd(self.text(key, value)?.trim().to_owned())),
            SourceKind::Keyring => {
                let text = self.text(key, value)?;
                match crate::keystore::parse_ref(&text) {
                    Some((service, account)) => Ok(SecretSource::Keyring { service, account }),
                    None => Err(self.err(
                        value.span(),
                        key,
                        "expected \"service/account\", e.g. \"dsconsole/prod-mstr\"",
                    )),
                }
            }
            SourceKind::Env => {
                let s = self.string(key, value)?.trim();
                if let Some(stripped) = s.strip_prefix('$') {
                    let name = stripped.trim_matches(['{', '}']);
                    // Only echo it back when it looks like a name, not like a pasted secret.
                    let msg = if is_env_name(name) {
                        format!("write the variable name without `$`: \"{name}\"")
                    } else {
                        "write the variable name without `$`".to_owned()
                    };
                    return Err(self.err(value.span(), key, msg));
                }
                if !is_env_name(s) {
                    return Err(self.err(
                        value.span(),
                        key,
                        "must be an environment variable name (letters, digits and _)",
                    ));
                }
                Ok(SecretSource::Env(s.to_owned()))
            }
        }
    }

    fn profile_name(&self, value: &Spanned<DeValue<'_>>) -> Result<String, ConfigError> {
        let s = self.text("name", value)?;
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(self.err(
                value.span(),
                "name",
                format!(
                    "\"{}\": profile names cannot contain spaces or control characters",
                    s.escape_debug()
                ),
            ));
        }
        Ok(s)
    }

    fn base_url(&self, value: &Spanned<DeValue<'_>>) -> Result<String, ConfigError> {
        let raw = self.text("base_url", value)?;
        let s = raw.trim();
        let bad = |msg: String| self.err(value.span(), "base_url", msg);
        // Every message shows the URL without its query, fragment and credentials: a
        // misplaced `?token=...` or `user:password@` must not end up on a screen or in a log.
        let shown = url_for_message(s);
        let lower = s.to_ascii_lowercase();
        if !(lower.starts_with("http://") || lower.starts_with("https://")) {
            return Err(bad(format!(
                "\"{shown}\" must start with http:// or https://"
            )));
        }
        if url_authority(s).contains('@') {
            return Err(bad(
                "must not contain credentials; use username and password_env / token_env".into(),
            ));
        }
        let url = reqwest::Url::parse(s)
            .map_err(|e| bad(format!("\"{shown}\" is not a valid URL: {e}")))?;
        if url.host_str().is_none_or(str::is_empty) {
            return Err(bad(format!("\"{shown}\" has no host")));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad(
                "must not contain credentials; use username and password_env / token_env".into(),
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(bad(format!(
                "\"{shown}\" must not contain a query (?...) or fragment (#...); \
                 what follows the ? or # is not shown, as it may hold a token"
            )));
        }
        Ok(s.trim_end_matches('/').to_owned())
    }
}

/// The authority part of a URL-like text (after `scheme://` when present, up to the path,
/// query or fragment).
fn url_authority(s: &str) -> &str {
    let rest = s.split_once("://").map_or(s, |(_, rest)| rest);
    rest.split(['/', '?', '#']).next().unwrap_or("")
}

/// A base URL as error messages may show it: no query or fragment (`?…`), no user
/// information (`…@host`), control characters visible.
fn url_for_message(s: &str) -> String {
    let (head, cut) = match s.find(['?', '#']) {
        Some(at) => (&s[..at], true),
        None => (s, false),
    };
    let (scheme, rest) = match head.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        None => (String::new(), head),
    };
    let rest = match rest.split('/').next().and_then(|a| a.rfind('@')) {
        Some(at) => format!("…{}", &rest[at..]),
        None => rest.to_owned(),
    };
    let mut out = format!("{scheme}{rest}");
    if cut {
        out.push_str("?…");
    }
    crate::text::sanitize(&out).into_owned()
}

/// A portable environment variable name: letter or `_`, then letters, digits, `_`.
fn is_env_name(s: &str) -> bool {
    s.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn vendor_list() -> String {
    VENDORS
        .iter()
        .map(|v| v.id().id())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The known key closest to `key`, if close enough to be a likely typo.
fn suggest(key: &str, known: &[&'static str]) -> Option<&'static str> {
    let norm = key.trim().to_ascii_lowercase().replace('-', "_");
    if let Some(k) = known.iter().find(|k| **k == norm) {
        return Some(k);
    }
    let vendor_aliases = VENDORS.iter().flat_map(|v| v.config.aliases.iter());
    if let Some((_, target)) = ALIASES
        .iter()
        .chain(vendor_aliases)
        .find(|(alias, _)| *alias == norm)
    {
        if let Some(k) = known.iter().find(|k| *k == target) {
            return Some(k);
        }
    }
    known
        .iter()
        .map(|k| (edit_distance(&norm, k), *k))
        .filter(|(d, k)| *d <= (k.len() / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Levenshtein distance over chars.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    const FILE: &str = "/etc/dsconsole/config.toml";
    const EXAMPLE: &str = include_str!("../config.example.toml");

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new(FILE))
    }

    /// Parse `text`, expect an error on `line` about `key` whose message contains `fragment`.
    #[track_caller]
    fn expect_err(text: &str, line: usize, key: &str, fragment: &str) -> ConfigError {
        let e = match parse(text) {
            Ok(c) => panic!("expected an error, got {c:?}"),
            Err(e) => e,
        };
        assert_eq!(e.line, Some(line), "line of {e}");
        assert_eq!(e.key.as_deref(), Some(key), "key of {e}");
        assert!(
            e.message.contains(fragment),
            "message of {e} lacks {fragment:?}"
        );
        let shown = e.to_string();
        assert!(
            shown.starts_with(&format!("{FILE}:{line}: {key}: ")),
            "display: {shown}"
        );
        e
    }

    fn mstr(extra: &str) -> String {
        format!(
            "[[profiles]]\nname = \"m\"\nvendor = \"microstrategy\"\nbase_url = \"https://bi.example.com/MicroStrategyLibrary\"\n{extra}"
        )
    }

    fn qlik(extra: &str) -> String {
        format!(
            "[[profiles]]\nname = \"q\"\nvendor = \"qlik\"\nbase_url = \"https://t.eu.qlikcloud.com\"\n{extra}"
        )
    }

    // ---- valid files ----------------------------------------------------------------

    #[test]
    fn empty_file_is_valid() {
        for text in ["", "\n\n", "# only a comment\n"] {
            let c = parse(text).expect("valid");
            assert!(c.profiles.is_empty());
            assert_eq!(c.ui.refresh_seconds, 60);
            assert_eq!(
                c.defaults,
                Defaults {
                    concurrency: 4,
                    timeout_seconds: 30,
                    connect_timeout_seconds: None,
                }
            );
            assert!(c.warnings.is_empty());
            assert_eq!(c.path.as_deref(), Some(Path::new(FILE)));
        }
    }

    #[test]
    fn trust_proxy_and_timeouts_are_checked_and_described_without_secrets() {
        const HEAD: &str = "[[profiles]]\nname = \"p\"\nvendor = \"qlik\"\n\
                            base_url = \"https://t.example\"\ntoken_env = \"T\"\n";
        let ok = format!(
            "{HEAD}ca_file = \"/etc/ca.pem\"\nclient_cert_file = \"c.pem\"\n\
             client_key_file = \"c.key\"\nproxy = \"http://proxy.example:3128\"\n\
             proxy_username = \"svc\"\nproxy_password_env = \"PROXY_PW_X\"\n\
             connect_timeout_seconds = 4\n"
        );
        let c = parse(&ok).expect("valid");
        let p = c.profile("p").expect("p");
        assert_eq!(p.ca_file.as_deref(), Some(Path::new("/etc/ca.pem")));
        assert_eq!(p.connect_timeout_seconds, Some(4));
        let text = c.describe();
        assert!(text.contains("http://proxy.example:3128 (from the config, user svc, password from env PROXY_PW_X"), "{text}");
        assert!(text.contains("ca_file /etc/ca.pem"), "{text}");
        assert!(text.contains("c.pem (key c.key)"), "{text}");
        assert!(text.contains("connect_timeout        4 s"), "{text}");
        let none = parse(&format!("{HEAD}proxy = \"none\"\n")).expect("valid");
        assert!(none.describe().contains("none (proxy = \"none\""));
        // Refusals, each naming the key and its line.
        expect_err(
            &format!("{HEAD}proxy = \"http://u:pw@proxy:3128\"\n"),
            6,
            "proxy",
            "never written in the proxy URL",
        );
        expect_err(
            &format!("{HEAD}proxy = \"ftp://x\"\n"),
            6,
            "proxy",
            "http://",
        );
        expect_err(
            &format!("{HEAD}proxy = \"http://p:1\"\nproxy_password = \"x\"\n"),
            7,
            "proxy_password",
            "proxy_password_env",
        );
        expect_err(
            &format!("{HEAD}client_cert_file = \"c.pem\"\n"),
            1,
            "client_key_file",
            "both client_cert_file and client_key_file",
        );
        expect_err(
            &format!("{HEAD}proxy_username = \"svc\"\n"),
            1,
            "proxy",
            "need proxy",
        );
        expect_err(
            "[defaults]\nconnect_timeout_seconds = 0\n",
            2,
            "defaults.connect_timeout_seconds",
            "",
        );
    }

    #[test]
    fn a_keyring_secret_is_a_service_and_account() {
        const HEAD: &str = "[[profiles]]\nname = \"p\"\nvendor = \"qlik\"\n\
                            base_url = \"https://t.example\"\n";
        let c = parse(&format!("{HEAD}token_keyring = \"dsconsole/p\"\n")).expect("valid");
        let p = c.profile("p").expect("p");
        assert!(
            matches!(&p.secret, SecretSource::Keyring { service, account }
            if service == "dsconsole" && account == "p")
        );
        assert!(c.describe().contains("keyring dsconsole/p"));
        expect_err(
            &format!("{HEAD}token_keyring = \"just-a-name\"\n"),
            5,
            "token_keyring",
            "service/account",
        );
        expect_err(
            &format!("{HEAD}token_env = \"T\"\ntoken_keyring = \"a/b\"\n"),
            6,
            "token_keyring",
            "use only one of",
        );
    }

    #[test]
    fn example_file_parses_and_documents_every_key() {
        let c = parse(EXAMPLE).unwrap_or_else(|e| panic!("config.example.toml: {e}"));
        let vendors: Vec<VendorId> = c.profiles.iter().map(|p| p.vendor).collect();
        assert_eq!(
            vendors,
            VendorId::ALL.to_vec(),
            "one profile per vendor, in order"
        );
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        for key in profile_keys().iter().chain(UI_KEYS).chain(DEFAULTS_KEYS) {
            assert!(
                EXAMPLE.contains(&format!("{key} =")),
                "config.example.toml does not document `{key}`"
            );
        }
        for section in ["[ui]", "[defaults]", "[[profiles]]"] {
            assert!(EXAMPLE.contains(section));
        }
    }

    #[test]
    fn spec_example_values() {
        let text = r#"
[ui]
refresh_seconds = 0

[defaults]
concurrency = 8
timeout_seconds = 10

[[profiles]]
name = "prod-mstr"
vendor = "microstrategy"
base_url = "https://bi.example.com/MicroStrategyLibrary/"
username = "administrator"
password_env = "MSTR_PASSWORD"
login_mode = 16
read_only = true
protected = true

[[profiles]]
name = "qlik-eu"
vendor = "qlik"
base_url = "https://tenant.eu.qlikcloud.com"
token_cmd = "pass show qlik"
space_id = "space-1"
concurrency = 2
timeout_seconds = 5
rate_limit_per_minute = 100
insecure_tls = true

[[profiles]]
name = "basedash"
vendor = "basedash"
base_url = "https://charts.basedash.com"
token = "inline-token"
org_id = "org-1"

[[profiles]]
name = "databrain"
vendor = "databrain"
base_url = "http://localhost:8080"
token_env = "DATABRAIN_SERVICE_TOKEN"
data_app_key_cmd = "echo key"
"#;
        let c = parse(text).expect("valid");
        assert_eq!(c.ui.refresh_seconds, 0);
        assert_eq!(
            c.defaults,
            Defaults {
                concurrency: 8,
                timeout_seconds: 10,
                connect_timeout_seconds: None,
            }
        );
        let m = c.profile("prod-mstr").expect("mstr");
        assert_eq!(m.vendor, VendorId::MicroStrategy);
        assert_eq!(m.base_url, "https://bi.example.com/MicroStrategyLibrary");
        assert_eq!(m.username.as_deref(), Some("administrator"));
        assert!(matches!(&m.secret, SecretSource::Env(v) if v == "MSTR_PASSWORD"));
        assert_eq!(m.option("login_mode"), Some("16"));
        assert!(m.read_only && m.protected && !m.insecure_tls);
        assert_eq!(m.line, 9);
        assert_eq!(m.concurrency(&c.defaults), 8);
        assert_eq!(m.timeout_seconds(&c.defaults), 10);

        let q = c.profile("qlik-eu").expect("qlik");
        assert!(matches!(&q.secret, SecretSource::Cmd(cmd) if cmd == "pass show qlik"));
        assert_eq!(q.option("space_id"), Some("space-1"));
        assert_eq!(q.concurrency(&c.defaults), 2);
        assert_eq!(q.timeout_seconds(&c.defaults), 5);
        assert_eq!(q.rate_limit_per_minute, Some(100));
        assert!(q.insecure_tls && !q.read_only);
        assert_eq!(q.option("login_mode"), None);
        assert_eq!(q.line, 19);

        let b = c.profile("basedash").expect("basedash");
        assert!(b.secret.is_inline());
        assert_eq!(b.option("org_id"), Some("org-1"));

        let d = c.profile("databrain").expect("databrain");
        assert!(
            matches!(d.secret_option("data_app_key"), Some(SecretSource::Cmd(cmd)) if cmd == "echo key")
        );
        assert_eq!(d.base_url, "http://localhost:8080");
        assert!(c.profile("nope").is_none());
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    }

    /// Each vendor's own keys (from the registry) are accepted for that vendor, shown by
    /// `config check`, handed to its client, and refused for the others with the owner named.
    #[test]
    fn every_vendor_key_is_accepted_for_its_vendor_only() {
        let profile = |vendor: VendorId, line: &str| {
            format!(
                "[[profiles]]\nname = \"p\"\nvendor = \"{}\"\nbase_url = \"https://x\"\n{line}\n{}_env = \"PATH\"\n",
                vendor.id(),
                registry::vendor(vendor).config.secret
            )
        };
        for v in VENDORS {
            let client_credentials = v.config.client_credentials();
            for k in v.config.keys {
                // Client credentials replace the main secret: see `qlik_oauth_client_credentials`.
                if client_credentials.is_some_and(|(id, secret)| k.name == id || k.name == secret) {
                    continue;
                }
                let (key, line) = match k.value {
                    KeyValue::Text | KeyValue::ClientId { .. } => {
                        (k.name.to_owned(), format!("{} = \"x\"", k.name))
                    }
                    KeyValue::Integer { min, .. } => {
                        (k.name.to_owned(), format!("{} = {min}", k.name))
                    }
                    KeyValue::Secret => (
                        format!("{}_env", k.name),
                        format!("{}_env = \"PATH\"", k.name),
                    ),
                };
                let c = parse(&profile(v.id(), &line)).expect("valid");
                let shown = c.describe();
                assert!(shown.contains(&format!("  {:<22} ", k.name)), "{shown}");
                let settings = c.profiles[0]
                    .client_settings(&c.defaults, false)
                    .expect("settings");
                match k.value {
                    KeyValue::Secret => assert!(settings.options.secret(k.name).is_some()),
                    _ => assert!(settings.options.value(k.name).is_some()),
                }
                for other in VENDORS.iter().filter(|o| o.id() != v.id()) {
                    expect_err(
                        &profile(other.id(), &line),
                        5,
                        &key,
                        &format!(
                            "only {} profiles use {key} (this profile is {})",
                            v.id().id(),
                            other.id().id()
                        ),
                    );
                }
            }
        }
    }

    #[test]
    fn qlik_oauth_client_credentials() {
        let c = parse(&qlik(
            "client_id = \" m2m-client \"\nclient_secret_env = \"QLIK_CLIENT_SECRET\"\n",
        ))
        .expect("valid");
        assert!(
            c.warnings.is_empty(),
            "no API key is not a warning: {:?}",
            c.warnings
        );
        let p = &c.profiles[0];
        assert!(matches!(p.secret, SecretSource::Missing));
        assert_eq!(p.option("client_id"), Some("m2m-client"));
        let shown = c.describe();
        assert!(
            shown.contains(
                "  auth                   OAuth client credentials (client_id + client_secret)\n"
            ),
            "{shown}"
        );
        assert!(
            shown.contains("  client_id              m2m-client\n"),
            "{shown}"
        );
        assert!(
            shown.contains("  client_secret          env QLIK_CLIENT_SECRET ("),
            "{shown}"
        );
        assert!(!shown.contains("  token "), "no API key row: {shown}");
        // The client gets the id and the secret, and an empty main secret.
        let c = parse(&qlik(
            "client_id = \"m2m-client\"\nclient_secret = \"s3cr3t-VALUE\"\n",
        ))
        .expect("valid");
        let settings = c.profiles[0]
            .client_settings(&c.defaults, false)
            .expect("settings");
        assert_eq!(settings.secret.expose_secret(), "");
        assert_eq!(settings.options.value("client_id"), Some("m2m-client"));
        assert_eq!(
            settings
                .options
                .secret("client_secret")
                .map(|s| s.expose_secret().to_owned())
                .as_deref(),
            Some("s3cr3t-VALUE")
        );
        for shown in [c.describe(), format!("{c:?}"), format!("{settings:?}")] {
            assert!(!shown.contains("s3cr3t-VALUE"), "secret leaked: {shown}");
        }
        let cmd = parse(&qlik(
            "client_id = \"c\"\nclient_secret_cmd = \"pass show qlik\"\n",
        ))
        .expect("valid");
        assert!(cmd.describe().contains("command `pass show qlik`"));

        // An API key profile says so.
        let c = parse(&qlik("token_env = \"QLIK_TOKEN\"\n")).expect("valid");
        let shown = c.describe();
        assert!(
            shown.contains("  auth                   API key (token)\n"),
            "{shown}"
        );
        assert!(
            shown.contains("  token                  env QLIK_TOKEN ("),
            "{shown}"
        );
    }

    #[test]
    fn qlik_oauth_misconfigurations_name_the_keys() {
        // Both an API key and a client id: the client id's line, both keys and lines named.
        let e = expect_err(
            &qlik("token_env = \"QLIK_TOKEN\"\nclient_id = \"c\"\nclient_secret_env = \"S\"\n"),
            6,
            "client_id",
            "token_env (line 5) and client_id (line 6) are both set",
        );
        assert!(e.message.contains("not both"), "{e}");
        // Order in the file does not matter.
        expect_err(
            &qlik("client_id = \"c\"\nclient_secret = \"very-SECRET\"\ntoken = \"key-SECRET\"\n"),
            5,
            "client_id",
            "token (line 7) and client_id (line 5) are both set",
        );
        let e = parse(&qlik(
            "client_id = \"c\"\nclient_secret = \"very-SECRET\"\ntoken = \"key-SECRET\"\n",
        ))
        .expect_err("both");
        assert!(!e.to_string().contains("SECRET"), "{e}");
        // A client id without its secret.
        expect_err(
            &qlik("client_id = \"c\"\n"),
            5,
            "client_id",
            "need a client secret too; set client_secret_env, client_secret_cmd or client_secret",
        );
        // A client secret without a client id.
        expect_err(
            &qlik("client_secret_cmd = \"pass show q\"\n"),
            5,
            "client_secret_cmd",
            "needs client_id",
        );
        // Two sources of the client secret.
        expect_err(
            &qlik("client_id = \"c\"\nclient_secret_env = \"A\"\nclient_secret_cmd = \"b\"\n"),
            7,
            "client_secret_cmd",
            "client_secret_env is already set (line 6)",
        );
        // A blank client id.
        expect_err(
            &qlik("client_id = \" \"\nclient_secret_env = \"A\"\n"),
            5,
            "client_id",
            "",
        );
        // Only Qlik profiles take client credentials.
        expect_err(
            &mstr("password_env = \"P\"\nclient_id = \"c\"\n"),
            6,
            "client_id",
            "only qlik profiles use client_id (this profile is microstrategy)",
        );
        expect_err(
            &mstr("password_env = \"P\"\nclient_secret_env = \"S\"\n"),
            6,
            "client_secret_env",
            "only qlik profiles use client_secret_env (this profile is microstrategy)",
        );
    }

    #[test]
    fn byte_order_mark_is_accepted() {
        let text = format!("\u{feff}{}", mstr("password_env = \"P\"\n"));
        let c = parse(&text).expect("valid");
        assert_eq!(c.profiles[0].line, 1);
        let bad = "\u{feff}[ui]\nrefresh_seconds = \"x\"\n";
        expect_err(bad, 2, "ui.refresh_seconds", "expected an integer");
    }

    #[test]
    fn vendor_is_case_insensitive() {
        let c = parse(&qlik("token_env = \"T\"\n").replace("\"qlik\"", "\"Qlik\"")).expect("ok");
        assert_eq!(c.profiles[0].vendor, VendorId::Qlik);
    }

    // ---- errors: every one names file, line and key -----------------------------------

    #[test]
    fn malformed_toml_names_line_and_key() {
        let e = expect_err(
            "[ui]\n\nrefresh_seconds = \n",
            3,
            "refresh_seconds",
            "invalid TOML",
        );
        assert!(e.message.len() > "invalid TOML: ".len());
        expect_err(
            &mstr("password_env = \"unterminated\n"),
            5,
            "password_env",
            "invalid TOML",
        );
        // Duplicate key is a TOML error too.
        expect_err(&mstr("name = \"again\"\n"), 5, "name", "duplicate");
        // A broken header has no key; the line is still right.
        let e = parse("[ui]\nrefresh_seconds = 1\n[[profiles\n").expect_err("error");
        assert_eq!(e.line, Some(3));
        assert!(e.to_string().starts_with(&format!("{FILE}:3: ")));
    }

    #[test]
    fn errors_never_echo_secret_values() {
        for extra in [
            "password = hunter2-SECRET\n",
            "password = \"hunter2-SECRET\\q\"\n",
            "password = \"hunter2-SECRET\n",
            "password = 'hunter2-SECRET\n",
            "password = 12345\n",
            "token = \"hunter2-SECRET\"\n",
            "passwd = \"hunter2-SECRET\"\n",
            "password_env = \"hunter2-SECRET\"\n",
            "password_env = \"$hunter2-SECRET\"\n",
        ] {
            let e = parse(&mstr(extra)).expect_err("error");
            assert!(!format!("{e} {e:?}").contains("SECRET"), "{extra:?} -> {e}");
            assert_eq!(e.line, Some(5), "{extra:?} -> {e}");
        }
    }

    #[test]
    fn unknown_keys_are_rejected_with_a_suggestion() {
        expect_err(
            "[[profile]]\nname = \"x\"\n",
            1,
            "profile",
            "did you mean `profiles`?",
        );
        expect_err(
            "[ui]\nrefresh_secs = 5\n",
            2,
            "refresh_secs",
            "did you mean `refresh_seconds`?",
        );
        expect_err(
            "[defaults]\nconcurency = 5\n",
            2,
            "concurency",
            "did you mean `concurrency`?",
        );
        expect_err(
            &mstr("base_ulr = \"x\"\n"),
            5,
            "base_ulr",
            "did you mean `base_url`?",
        );
        expect_err(
            &mstr("Read_Only = true\n"),
            5,
            "Read_Only",
            "did you mean `read_only`?",
        );
        expect_err(&mstr("url = \"x\"\n"), 5, "url", "did you mean `base_url`?");
        expect_err(
            &qlik("api_key_env = \"K\"\n"),
            5,
            "api_key_env",
            "did you mean `token_env`?",
        );
        // Far from everything: list the valid keys instead.
        let e = expect_err(&mstr("colour = \"red\"\n"), 5, "colour", "valid keys");
        assert!(e.message.contains("base_url"));
        expect_err(
            "[theme]\nx = 1\n",
            1,
            "theme",
            "expected [ui], [defaults] or [[profiles]]",
        );
        // Sub-tables inside a profile are unknown keys too.
        expect_err(
            &mstr("[profiles.extra]\na = 1\n"),
            5,
            "extra",
            "unknown key",
        );
    }

    #[test]
    fn wrong_types() {
        expect_err(
            &mstr("read_only = \"yes\"\n"),
            5,
            "read_only",
            "expected true or false",
        );
        expect_err(
            &mstr("read_only = \"true\"\n"),
            5,
            "read_only",
            "without quotes",
        );
        expect_err(
            &mstr("concurrency = \"4\"\n"),
            5,
            "concurrency",
            "without quotes",
        );
        expect_err(
            &mstr("timeout_seconds = 2.5\n"),
            5,
            "timeout_seconds",
            "found a float",
        );
        expect_err(
            &mstr("username = 7\n"),
            5,
            "username",
            "expected a string, found an integer",
        );
        expect_err(
            &mstr("login_mode = true\n"),
            5,
            "login_mode",
            "expected an integer",
        );
        expect_err(
            "[ui]\nrefresh_seconds = [1]\n",
            2,
            "ui.refresh_seconds",
            "found an array",
        );
        expect_err("ui = 5\n", 1, "ui", "expected a table");
        expect_err("profiles = 5\n", 1, "profiles", "expected [[profiles]]");
        expect_err(
            "[profiles]\nname = \"x\"\n",
            1,
            "profiles",
            "double brackets",
        );
        expect_err("profiles = [1]\n", 1, "profiles", "must be a table");
        expect_err(
            "[[profiles]]\nname = \"a\"\nvendor = 3\n",
            3,
            "vendor",
            "expected a string",
        );
    }

    #[test]
    fn unknown_vendor_lists_valid_ones() {
        let e = expect_err(
            "\n[[profiles]]\nname = \"a\"\nvendor = \"tableau\"\nbase_url = \"https://x\"\n",
            4,
            "vendor",
            "unknown vendor \"tableau\"",
        );
        assert!(
            e.message
                .contains("microstrategy, qlik, basedash, databrain"),
            "{e}"
        );
    }

    #[test]
    fn duplicate_profile_names() {
        let text = format!(
            "{}\n{}",
            mstr(""),
            mstr("").replace("bi.example", "bi2.example")
        );
        let e = expect_err(&text, 7, "name", "duplicate profile name 'm'");
        assert!(e.message.contains("line 1"), "{e}");
    }

    #[test]
    fn missing_required_keys() {
        expect_err(
            "# c\n[[profiles]]\nname = \"a\"\nbase_url = \"https://x\"\n",
            2,
            "vendor",
            "missing",
        );
        expect_err(
            "[[profiles]]\nvendor = \"qlik\"\nbase_url = \"https://x\"\n",
            1,
            "name",
            "missing",
        );
        let e = expect_err(
            "[ui]\n[[profiles]]\nname = \"a\"\nvendor = \"qlik\"\n",
            2,
            "base_url",
            "missing",
        );
        assert!(e.message.contains("'a'"));
    }

    #[test]
    fn base_url_must_be_http() {
        let text = "[[profiles]]\nname = \"a\"\nvendor = \"qlik\"\nbase_url = \"ftp://x\"\n";
        expect_err(text, 4, "base_url", "must start with http:// or https://");
        let text = text.replace("ftp://x", "tenant.qlikcloud.com");
        expect_err(&text, 4, "base_url", "must start with http:// or https://");
        let text = text.replace("tenant.qlikcloud.com", "https://");
        expect_err(&text, 4, "base_url", "https://");
        let text = text.replace("\"https://\"", "\"https://bob:pw@t.qlikcloud.com\"");
        let e = expect_err(&text, 4, "base_url", "must not contain credentials");
        assert!(!e.to_string().contains("pw@"), "no secret echoed: {e}");
        let text = text.replace("https://bob:pw@t.qlikcloud.com", "https://bob:pw@");
        let e = expect_err(&text, 4, "base_url", "must not contain credentials");
        assert!(!e.to_string().contains("pw@"), "no secret echoed: {e}");
        let text = "[[profiles]]\nname = \"a\"\nvendor = \"qlik\"\nbase_url = \"https://t.qlikcloud.com/?x=1\"\n";
        expect_err(text, 4, "base_url", "query");
        let text = text.replace("https://t.qlikcloud.com/?x=1", "");
        expect_err(&text, 4, "base_url", "must not be empty");
    }

    #[test]
    fn base_url_errors_never_show_a_query_fragment_or_credentials() {
        for (url, secret, why) in [
            ("https://t.qlikcloud.com/?token=s3cr3t", "s3cr3t", "query"),
            (
                "https://t.qlikcloud.com/#access_token=s3cr3t",
                "s3cr3t",
                "query",
            ),
            ("t.qlikcloud.com/?token=s3cr3t", "s3cr3t", "must start with"),
            ("bob:s3cr3t@t.qlikcloud.com", "s3cr3t", "must start with"),
            (
                "https://bad host/?token=s3cr3t",
                "s3cr3t",
                "not a valid URL",
            ),
        ] {
            let text =
                format!("[[profiles]]\nname = \"a\"\nvendor = \"qlik\"\nbase_url = \"{url}\"\n");
            let e = expect_err(&text, 4, "base_url", why);
            assert!(!e.to_string().contains(secret), "{url}: {e}");
        }
        assert_eq!(
            url_for_message("https://h.example/p?token=x#y"),
            "https://h.example/p?…"
        );
        assert_eq!(url_for_message("u:p@h.example/p"), "…@h.example/p");
        assert_eq!(url_for_message("https://h\u{1b}[2J/p"), "https://h␛[2J/p");
    }

    #[test]
    fn two_secret_sources_at_once() {
        let e = expect_err(
            &mstr("password_env = \"A\"\npassword_cmd = \"pass x\"\n"),
            6,
            "password_cmd",
            "password_env is already set (line 5)",
        );
        assert!(e.message.contains("only one"));
        expect_err(
            &qlik("token = \"t\"\ntoken_env = \"T\"\n"),
            6,
            "token_env",
            "token is already set",
        );
        let db = "[[profiles]]\nname = \"d\"\nvendor = \"databrain\"\nbase_url = \"https://x\"\ndata_app_key_env = \"A\"\ndata_app_key = \"k\"\n";
        expect_err(db, 6, "data_app_key", "data_app_key_env is already set");
    }

    #[test]
    fn secret_of_the_wrong_family() {
        expect_err(
            &mstr("token_env = \"T\"\n"),
            5,
            "token_env",
            "use password_env",
        );
        expect_err(&qlik("password = \"p\"\n"), 5, "password", "use token");
        expect_err(
            &qlik("password_cmd = \"x\"\n"),
            5,
            "password_cmd",
            "use token_cmd",
        );
        expect_err(
            &qlik("data_app_key_env = \"K\"\n"),
            5,
            "data_app_key_env",
            "only databrain profiles",
        );
    }

    #[test]
    fn vendor_specific_keys_on_the_wrong_vendor() {
        expect_err(
            &qlik("username = \"u\"\n"),
            5,
            "username",
            "only microstrategy profiles",
        );
        expect_err(
            &qlik("login_mode = 1\n"),
            5,
            "login_mode",
            "only microstrategy",
        );
        expect_err(
            &mstr("space_id = \"s\"\n"),
            5,
            "space_id",
            "only qlik profiles",
        );
        expect_err(
            &qlik("org_id = \"o\"\n"),
            5,
            "org_id",
            "only basedash profiles",
        );
    }

    #[test]
    fn numeric_bounds() {
        expect_err(&mstr("concurrency = 0\n"), 5, "concurrency", "at least 1");
        expect_err(
            "[defaults]\nconcurrency = 0\n",
            2,
            "defaults.concurrency",
            "at least 1",
        );
        expect_err(
            "[defaults]\ntimeout_seconds = 0\n",
            2,
            "defaults.timeout_seconds",
            "at least 1",
        );
        expect_err(
            &mstr("concurrency = 100000\n"),
            5,
            "concurrency",
            "at most 256",
        );
        expect_err(
            &mstr("timeout_seconds = -1\n"),
            5,
            "timeout_seconds",
            "at least 1",
        );
        expect_err(
            &mstr("rate_limit_per_minute = 0\n"),
            5,
            "rate_limit_per_minute",
            "at least 1",
        );
        expect_err(
            "[ui]\nrefresh_seconds = -5\n",
            2,
            "ui.refresh_seconds",
            "at least 0",
        );
        expect_err(&mstr("login_mode = 0\n"), 5, "login_mode", "at least 1");
        // Hex integers are fine.
        let c = parse(&mstr("concurrency = 0x10\n")).expect("ok");
        assert_eq!(c.profiles[0].concurrency, Some(16));
    }

    #[test]
    fn bad_secret_values() {
        expect_err(
            &mstr("password_env = \"$MSTR_PW\"\n"),
            5,
            "password_env",
            "without `$`: \"MSTR_PW\"",
        );
        expect_err(
            &mstr("password_env = \"MY VAR\"\n"),
            5,
            "password_env",
            "environment variable name",
        );
        expect_err(
            &mstr("password_env = \"\"\n"),
            5,
            "password_env",
            "environment variable name",
        );
        expect_err(
            &mstr("password_cmd = \"  \"\n"),
            5,
            "password_cmd",
            "must not be empty",
        );
        expect_err(
            &mstr("password = \"\"\n"),
            5,
            "password",
            "must not be empty",
        );
    }

    #[test]
    fn bad_profile_names() {
        let text =
            "[[profiles]]\nname = \"prod mstr\"\nvendor = \"qlik\"\nbase_url = \"https://x\"\n";
        expect_err(text, 2, "name", "cannot contain spaces");
        let text = text.replace("prod mstr", "");
        expect_err(&text, 2, "name", "must not be empty");
    }

    #[test]
    fn config_error_display() {
        let e = ConfigError {
            file: PathBuf::from("c.toml"),
            line: Some(3),
            key: Some("base_url".into()),
            message: "bad".into(),
        };
        assert_eq!(e.to_string(), "c.toml:3: base_url: bad");
        let e = ConfigError {
            line: None,
            key: None,
            ..e
        };
        assert_eq!(e.to_string(), "c.toml: bad");
        let boxed: Box<dyn std::error::Error> = Box::new(e);
        assert_eq!(boxed.to_string(), "c.toml: bad");
    }

    #[test]
    fn profile_without_secret_is_valid_with_a_warning() {
        let c = parse(&qlik("")).expect("valid");
        assert!(matches!(c.profiles[0].secret, SecretSource::Missing));
        assert_eq!(c.warnings.len(), 1);
        assert!(
            c.warnings[0].contains("profile 'q' has no token"),
            "{:?}",
            c.warnings
        );
        assert!(c.warnings[0].starts_with(&format!("{FILE}:1:")));
        let err = c.profiles[0].resolve_secret().expect_err("missing");
        assert_eq!(
            err,
            "no token configured (set token_env, token_cmd, token_keyring or token)"
        );
        // MicroStrategy guest login needs no password.
        let c = parse(&mstr("login_mode = 8\n")).expect("valid");
        assert!(c.warnings.is_empty());
        let s = c.profiles[0].resolve_secret().expect("guest");
        assert_eq!(s.expose_secret(), "");
    }

    // ---- files ------------------------------------------------------------------------

    #[test]
    fn load_reads_a_file_and_reports_unreadable_ones() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("config.toml");
        std::fs::write(&path, qlik("token_env = \"T\"\n")).expect("write");
        let c = Config::load(&path).expect("load");
        assert_eq!(c.path.as_deref(), Some(path.as_path()));
        assert_eq!(c.profiles.len(), 1);

        let missing = dir.path().join("nope.toml");
        let e = Config::load(&missing).expect_err("missing");
        assert_eq!(e.file, missing);
        assert!(
            e.to_string()
                .starts_with(&format!("{}: cannot read", missing.display())),
            "{e}"
        );

        let bad = dir.path().join("latin1.toml");
        std::fs::write(&bad, b"[ui]\nrefresh_seconds = 5\n# caf\xe9\n").expect("write");
        let e = Config::load(&bad).expect_err("not utf-8");
        assert_eq!(e.line, Some(3));
        assert!(e.message.contains("not valid UTF-8"), "{e}");
        assert!(e.to_string().contains("latin1.toml:3:"), "{e}");

        // Errors from load name the real file.
        let broken = dir.path().join("broken.toml");
        std::fs::write(&broken, "[ui]\nrefresh_seconds = true\n").expect("write");
        let e = Config::load(&broken).expect_err("type");
        assert!(e
            .to_string()
            .starts_with(&format!("{}:2: ui.refresh_seconds:", broken.display())));
    }

    #[cfg(unix)]
    #[test]
    fn inline_secret_in_a_readable_file_warns() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("config.toml");
        std::fs::write(&path, mstr("password = \"hunter2-SECRET\"\n")).expect("write");

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let c = Config::load(&path).expect("load");
        assert_eq!(
            c.warnings,
            vec![format!(
                "{}: inline secret in profile 'm' and the file is readable by others (mode 644); use password_env or chmod 600",
                path.display()
            )]
        );
        assert!(!c.describe().contains("hunter2"));

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        let c = Config::load(&path).expect("load");
        assert_eq!(c.warnings.len(), 1);
        assert!(c.warnings[0].contains("mode 640"));

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        assert!(Config::load(&path).expect("load").warnings.is_empty());

        // No inline secret: no warning whatever the mode.
        std::fs::write(&path, mstr("password_env = \"P\"\n")).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        assert!(Config::load(&path).expect("load").warnings.is_empty());

        // Data-app key inline counts too.
        std::fs::write(
            &path,
            "[[profiles]]\nname = \"d\"\nvendor = \"databrain\"\nbase_url = \"https://x\"\ntoken_env = \"T\"\ndata_app_key = \"k\"\n",
        )
        .expect("write");
        let c = Config::load(&path).expect("load");
        assert_eq!(c.warnings.len(), 1);
        assert!(
            c.warnings[0].contains("use data_app_key_env"),
            "{:?}",
            c.warnings
        );
    }

    // ---- secrets ----------------------------------------------------------------------

    fn profile_with(secret: SecretSource) -> ProfileConfig {
        let mut c = parse(&mstr("password_env = \"X\"\n")).expect("valid");
        let mut p = c.profiles.remove(0);
        p.secret = secret;
        p
    }

    #[test]
    fn env_secret() {
        // PATH is set in any test environment; no need to mutate the environment.
        let p = profile_with(SecretSource::Env("PATH".into()));
        let expected = std::env::var("PATH").expect("PATH");
        assert_eq!(p.resolve_secret().expect("set").expose_secret(), expected);

        let p = profile_with(SecretSource::Env(
            "DSCONSOLE_TEST_SURELY_UNSET_VAR_81723".into(),
        ));
        assert_eq!(
            p.resolve_secret().expect_err("unset"),
            "environment variable DSCONSOLE_TEST_SURELY_UNSET_VAR_81723 is not set"
        );
    }

    #[cfg(unix)]
    #[test]
    fn command_secret() {
        let p = profile_with(SecretSource::Cmd("printf '  s3cr3t value\\n\\n'".into()));
        assert_eq!(
            p.resolve_secret().expect("ok").expose_secret(),
            "s3cr3t value"
        );

        let p = profile_with(SecretSource::Cmd(
            "echo leaked-output; echo oops >&2; exit 3".into(),
        ));
        let e = p.resolve_secret().expect_err("fails");
        assert!(
            e.starts_with("password_cmd `echo leaked-output; echo oops >&2; exit 3` failed"),
            "{e}"
        );
        assert!(e.contains("exit status: 3"), "{e}");
        let without_cmd = e.replace("echo leaked-output; echo oops >&2; exit 3", "");
        assert!(
            !without_cmd.contains("leaked-output") && !without_cmd.contains("oops"),
            "{e}"
        );

        let q = parse(&qlik("token_cmd = \"true\"\n")).expect("ok");
        let e = q.profiles[0].resolve_secret().expect_err("empty");
        assert_eq!(e, "token_cmd `true` printed nothing (exit status: 0)");

        let p = profile_with(SecretSource::Cmd("printf '\\377\\376'".into()));
        assert!(p
            .resolve_secret()
            .expect_err("binary")
            .contains("not UTF-8"));
    }

    #[cfg(unix)]
    #[test]
    fn command_secret_that_hangs_is_stopped() {
        let e = run_secret_command("token_cmd", "sleep 30", Duration::from_millis(200))
            .expect_err("timeout");
        assert!(e.contains("did not finish within"), "{e}");
    }

    #[test]
    fn inline_secret_and_client_settings() {
        let text = format!(
            "[defaults]\ntimeout_seconds = 12\n{}",
            mstr("password = \"hunter2-SECRET\"\nusername = \"admin\"\ninsecure_tls = true\n")
        );
        let c = parse(&text).expect("valid");
        let p = &c.profiles[0];
        assert_eq!(
            p.resolve_secret().expect("inline").expose_secret(),
            "hunter2-SECRET"
        );

        let s = p.client_settings(&c.defaults, false).expect("settings");
        assert_eq!(s.profile, "m");
        assert_eq!(s.vendor, VendorId::MicroStrategy);
        assert_eq!(s.base_url, "https://bi.example.com/MicroStrategyLibrary");
        assert_eq!(s.username.as_deref(), Some("admin"));
        assert_eq!(s.secret.expose_secret(), "hunter2-SECRET");
        assert_eq!(
            crate::vendors::microstrategy::MstrSettings::from_options(&s.options)
                .map(|m| m.login_mode),
            Ok(1)
        );
        assert!(!s.read_only);
        assert!(s.insecure_tls);
        assert_eq!(s.timeout, Duration::from_secs(12));

        assert!(
            p.client_settings(&c.defaults, true)
                .expect("settings")
                .read_only
        );
        let mut ro = p.clone();
        ro.read_only = true;
        ro.timeout_seconds = Some(3);
        let s = ro.client_settings(&c.defaults, false).expect("settings");
        assert!(s.read_only);
        assert_eq!(s.timeout, Duration::from_secs(3));

        let unresolvable = profile_with(SecretSource::Env(
            "DSCONSOLE_TEST_SURELY_UNSET_VAR_81723".into(),
        ));
        let e = unresolvable
            .client_settings(&c.defaults, false)
            .expect_err("no secret");
        assert!(e.contains("is not set"));
    }

    #[test]
    fn data_app_key_resolution() {
        let db = "[[profiles]]\nname = \"d\"\nvendor = \"databrain\"\nbase_url = \"https://x\"\ntoken = \"t\"\ndata_app_key = \"dak\"\n";
        let c = parse(db).expect("valid");
        let key = c.profiles[0]
            .resolve_secret_option("data_app_key")
            .expect("ok")
            .expect("some");
        assert_eq!(key.expose_secret(), "dak");
        let c = parse(&db.replace("data_app_key = \"dak\"\n", "")).expect("valid");
        assert!(c.profiles[0]
            .resolve_secret_option("data_app_key")
            .expect("ok")
            .is_none());
    }

    #[test]
    fn debug_output_never_shows_secrets() {
        let text = format!(
            "{}\n[[profiles]]\nname = \"d\"\nvendor = \"databrain\"\nbase_url = \"https://x\"\ntoken = \"tok-SECRET\"\ndata_app_key = \"dak-SECRET\"\n",
            mstr("password = \"hunter2-SECRET\"\n")
        );
        let c = parse(&text).expect("valid");
        for shown in [
            format!("{c:?}"),
            format!("{c:#?}"),
            format!("{:?}", c.profiles[0]),
            format!("{:?}", c.profiles[1].secret),
            format!("{:?}", c.profiles[1].secret_options),
            format!(
                "{:?}",
                c.profiles[0]
                    .client_settings(&c.defaults, false)
                    .expect("ok")
            ),
            c.describe(),
        ] {
            assert!(!shown.contains("SECRET"), "secret leaked: {shown}");
        }
        assert!(format!("{:?}", c.profiles[0].secret).contains("redacted"));
        // The non-secret parts are still there to help debugging.
        assert!(format!("{:?}", SecretSource::Env("MSTR_PW".into())).contains("MSTR_PW"));
    }

    #[test]
    fn describe_shows_sources_not_values() {
        let text = format!(
            "{}\n{}",
            mstr("password_env = \"DSCONSOLE_TEST_SURELY_UNSET_VAR_81723\"\nprotected = true\n"),
            qlik("token_cmd = \"pass show x\"\nconcurrency = 2\nspace_id = \"sp\"\n")
        );
        let c = parse(&text).expect("valid");
        let d = c.describe();
        assert!(d.contains(&format!("config: {FILE}")), "{d}");
        assert!(d.contains("profile 'm': MicroStrategy (line 1)"), "{d}");
        assert!(
            d.contains("env DSCONSOLE_TEST_SURELY_UNSET_VAR_81723 (not set)"),
            "{d}"
        );
        assert!(d.contains("command `pass show x`"), "{d}");
        assert!(d.contains("profile 'q': Qlik Cloud (line 8)"), "{d}");
        assert!(d.contains("concurrency            4 (default)"), "{d}");
        assert!(d.contains("concurrency            2\n"), "{d}");
        assert!(d.contains("space_id               sp"), "{d}");
        assert!(d.contains("protected              yes"), "{d}");

        let set = SecretSource::Env("PATH".into()).describe();
        assert_eq!(set, "env PATH (set)");
        assert_eq!(
            SecretSource::Inline(SecretString::from("x")).describe(),
            "inline"
        );
        assert!(Config::default()
            .describe()
            .contains("no profiles configured"));
    }

    // ---- paths and helpers -------------------------------------------------------------

    #[test]
    fn cli_path_wins() {
        let p = resolve_path(Some(Path::new("/tmp/x.toml")));
        assert_eq!(p.as_deref(), Some(Path::new("/tmp/x.toml")));
        if std::env::var_os(CONFIG_ENV).is_none() {
            if let Some(p) = resolve_path(None) {
                assert!(p.ends_with("dsconsole/config.toml"), "{}", p.display());
            }
        }
        if std::env::var_os(DATA_DIR_ENV).is_none() {
            assert!(data_dir().ends_with("dsconsole") || data_dir().ends_with(".dsconsole"));
        }
    }

    #[test]
    fn suggestions() {
        assert_eq!(suggest("base-url", profile_keys()), Some("base_url"));
        assert_eq!(suggest("pasword_env", profile_keys()), Some("password_env"));
        assert_eq!(suggest("tokenenv", profile_keys()), Some("token_env"));
        assert_eq!(suggest("user", profile_keys()), Some("username"));
        assert_eq!(suggest("zzz", profile_keys()), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
    }
}
