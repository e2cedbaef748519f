//! Secret redaction: the one place that decides what looks like a secret in vendor JSON and
//! free text. Below the vendor clients (they redact every loaded object) and used by the
//! audit log, plans and CLI output above them.

use serde_json::Value;

/// JSON that may hold secrets (a create body with the password typed into a form): used as
/// the value it holds, printed by `Debug` with its secrets stripped.
#[derive(Clone, PartialEq)]
pub struct SensitiveJson(pub Value);

impl std::ops::Deref for SensitiveJson {
    type Target = Value;
    fn deref(&self) -> &Value {
        &self.0
    }
}

impl std::fmt::Debug for SensitiveJson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", strip_secrets(&self.0))
    }
}

/// The text that replaces a secret value.
pub const REDACTED: &str = "[redacted]";

const SECRET_KEYS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "apikey",
    "privatekey",
    "credentials",
    "accesstoken",
    "refreshtoken",
    "clientsecret",
    "passphrase",
    "jsonkey",
];

const SECRET_PARTS: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "privatekey",
    "passphrase",
    "apikey",
];

/// Whether `strip_secrets` could change JSON whose text is `json`. False only when no key
/// or value can be secret: every secret key, after the same normalisation, contains one of
/// these fragments, and secret values need `password=`, `pwd=` or a `user:pass@` URL. Lets
/// a 100,000-object load skip parsing the objects that hold nothing to strip.
pub fn may_hold_secret(json: &str) -> bool {
    if json.contains('@') {
        return true;
    }
    let norm: String = json
        .chars()
        .filter(|c| !matches!(c, '_' | '-' | ' ' | '.'))
        .flat_map(char::to_lowercase)
        .collect();
    ["pass", "pwd", "secret", "token", "key", "credential"]
        .iter()
        .any(|f| norm.contains(f))
}

fn is_secret_key(key: &str) -> bool {
    let norm: String = key
        .chars()
        .filter(|c| !matches!(c, '_' | '-' | ' ' | '.'))
        .flat_map(char::to_lowercase)
        .collect();
    SECRET_KEYS.contains(&norm.as_str()) || SECRET_PARTS.iter().any(|p| norm.contains(p))
}

/// Recursively replace the values of secret-like keys (password, passwd, secret, token,
/// apiKey, api_key, privateKey, credentials, accessToken, refreshToken, clientSecret, and any
/// key containing "password", "secret" or "token"; case and `_`/`-` ignored) with
/// "[redacted]". Nulls stay null (nothing to hide). Inside other strings, `password=...` /
/// `pwd=...` parts of connection strings and the password of `scheme://user:pass@host` URLs
/// are redacted too.
pub fn strip_secrets(v: &Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, val)| {
                    let val = if is_secret_key(k) && !val.is_null() {
                        Value::String(REDACTED.to_string())
                    } else {
                        strip_secrets(val)
                    };
                    (k.clone(), val)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(strip_secrets).collect()),
        Value::String(s) => Value::String(redact_in_string(s)),
        other => other.clone(),
    }
}

/// Redact `password=...` / `pwd=...` assignments (up to `;`, `&`, quote or whitespace) and
/// URL userinfo passwords inside free text.
fn redact_in_string(s: &str) -> String {
    let out = redact_assignments(s);
    redact_url_passwords(&out)
}

fn redact_assignments(s: &str) -> String {
    let lower = s.to_ascii_lowercase();
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let mut copied = 0;
    while i < bytes.len() {
        let boundary = i == 0 || !bytes[i - 1].is_ascii_alphanumeric();
        let mut matched = None;
        if boundary {
            for name in ["password", "passwd", "pwd"] {
                let rest = &lower[i..];
                if let Some(after) = rest.strip_prefix(name) {
                    let trimmed = after.trim_start_matches(' ');
                    if let Some(value) = trimmed.strip_prefix('=') {
                        let value_start = s.len() - value.len();
                        matched = Some(value_start);
                        break;
                    }
                }
            }
        }
        match matched {
            Some(value_start) => {
                let value = &s[value_start..];
                let end = value
                    .find([';', '&', '"', '\'', ' ', '\n', '\t'])
                    .unwrap_or(value.len());
                if end == 0 {
                    i = value_start;
                    continue;
                }
                out.push_str(&s[copied..value_start]);
                out.push_str(REDACTED);
                i = value_start + end;
                copied = i;
            }
            None => {
                i += 1;
                while i < bytes.len() && !s.is_char_boundary(i) {
                    i += 1;
                }
            }
        }
    }
    out.push_str(&s[copied..]);
    out
}

fn redact_url_passwords(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find("://") {
        let (head, tail) = rest.split_at(pos + 3);
        out.push_str(head);
        let auth_end = tail
            .find(['/', '?', '#', ' ', '"', '\''])
            .unwrap_or(tail.len());
        let authority = &tail[..auth_end];
        match authority.rfind('@') {
            Some(at) => {
                let userinfo = &authority[..at];
                match userinfo.find(':') {
                    Some(colon) => {
                        out.push_str(&userinfo[..colon + 1]);
                        out.push_str(REDACTED);
                        out.push_str(&authority[at..]);
                    }
                    None => out.push_str(authority),
                }
            }
            None => out.push_str(authority),
        }
        rest = &tail[auth_end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strip_secrets_covers_keys_and_strings() {
        let v = json!({
            "Password": "a", "passwd": "b", "secret": "c", "token": "d", "apiKey": "e",
            "api_key": "f", "privateKey": "g", "credentials": {"name": "h", "user": "i"},
            "accessToken": "j", "refresh_token": "k", "clientSecret": "l",
            "sshPrivateKeyPassphrase": "m", "dbPassword": "n", "jwtSecret": "o",
            "emptyPassword": null, "name": "visible",
            "url": "postgres://admin:topsecret@db.example.com:5432/app",
            "plain": "no secrets here; host=db"
        });
        let s = strip_secrets(&v);
        for k in [
            "Password",
            "passwd",
            "secret",
            "token",
            "apiKey",
            "api_key",
            "privateKey",
            "credentials",
            "accessToken",
            "refresh_token",
            "clientSecret",
            "sshPrivateKeyPassphrase",
            "dbPassword",
            "jwtSecret",
        ] {
            assert_eq!(s[k], REDACTED, "{k}");
        }
        assert_eq!(s["emptyPassword"], Value::Null);
        assert_eq!(s["name"], "visible");
        assert_eq!(
            s["url"],
            "postgres://admin:[redacted]@db.example.com:5432/app"
        );
        assert_eq!(s["plain"], "no secrets here; host=db");
        assert_eq!(
            redact_in_string("Server=x;Password=abc;User=y"),
            "Server=x;Password=[redacted];User=y"
        );
        assert_eq!(redact_in_string("mypwd=keep"), "mypwd=keep");
    }

    #[test]
    fn objects_without_secret_fragments_are_left_as_they_are() {
        let plain = json!({"id": "D1", "name": "Sales", "database": {"type": "snow_flake"}});
        assert!(!may_hold_secret(&plain.to_string()));
        assert_eq!(strip_secrets(&plain), plain);
        for v in [
            json!({"Api-Key": "x"}),
            json!({"pass_word": "x"}),
            json!({"url": "postgres://a:b@h/db"}),
            json!({"conn": "Server=x;PWD=abc"}),
            json!({"refresh.token": "x"}),
        ] {
            assert!(may_hold_secret(&v.to_string()), "{v}");
            assert_ne!(strip_secrets(&v), v, "{v}");
        }
    }
}
