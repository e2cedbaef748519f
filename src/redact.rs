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

/// Whether `strip_secrets` could change the JSON whose text is `json` (compact or not): a
/// key that `is_secret_key` calls secret with a non-null value, or a string value holding a
/// `password=` / `pwd=` assignment or a `scheme://user:pass@` URL. Reads each key and string
/// once, normalising keys only (no lower-cased copy of the text). Text it cannot read (an
/// unterminated string, a bad escape) counts as holding a secret.
pub fn needs_strip(json: &str) -> bool {
    let b = json.as_bytes();
    // Strings need reading only if some byte could start an assignment or a URL's userinfo.
    let strings_matter = memchr::memchr2(b'=', b'@', b).is_some();
    let mut i = 0;
    while let Some(q) = memchr::memchr(b'"', &b[i..]) {
        let start = i + q + 1;
        let mut j = start;
        let mut escaped = false;
        loop {
            match memchr::memchr2(b'"', b'\\', &b[j..]) {
                None => return true,
                Some(k) if b[j + k] == b'\\' => {
                    escaped = true;
                    j += k + 2;
                    if j > b.len() {
                        return true;
                    }
                }
                Some(k) => {
                    j += k;
                    break;
                }
            }
        }
        // `j` is the closing quote.
        let text: std::borrow::Cow<'_, str> = if escaped {
            match serde_json::from_str::<String>(&json[start - 1..=j]) {
                Ok(s) => s.into(),
                Err(_) => return true,
            }
        } else {
            json[start..j].into()
        };
        i = j + 1;
        let after = skip_ws(b, i);
        if b.get(after) == Some(&b':') {
            if key_is_secret(&text) && !b[skip_ws(b, after + 1)..].starts_with(b"null") {
                return true;
            }
        } else if strings_matter && string_may_hold_secret(&text) {
            return true;
        }
    }
    false
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

/// `is_secret_key` without an allocation for the usual short ASCII key.
fn key_is_secret(key: &str) -> bool {
    if !key.is_ascii() || key.len() > 64 {
        return is_secret_key(key);
    }
    let mut buf = [0u8; 64];
    let mut n = 0;
    for &c in key.as_bytes() {
        if !matches!(c, b'_' | b'-' | b' ' | b'.') {
            buf[n] = c.to_ascii_lowercase();
            n += 1;
        }
    }
    let norm = &buf[..n];
    // Every secret key and part holds one of these; most keys ("id", "name") hold none.
    let hint = (0..n).any(|i| {
        let rest = &norm[i..];
        match rest[0] {
            b'p' => rest.starts_with(b"pass") || rest.starts_with(b"pwd"),
            b's' => rest.starts_with(b"secret"),
            b't' => rest.starts_with(b"token"),
            b'k' => rest.starts_with(b"key"),
            b'c' => rest.starts_with(b"credentials"),
            _ => false,
        }
    });
    // ASCII in, ASCII out.
    hint && std::str::from_utf8(norm).is_ok_and(normalized_key_is_secret)
}

/// Whether `redact_in_string` would change `s`.
fn string_may_hold_secret(s: &str) -> bool {
    let b = s.as_bytes();
    let assignment = memchr::memchr(b'=', b).is_some();
    let url = memchr::memchr(b'@', b).is_some() && s.contains("://");
    (assignment || url) && redact_in_string(s) != s
}

fn normalized_key_is_secret(norm: &str) -> bool {
    SECRET_KEYS.contains(&norm) || SECRET_PARTS.iter().any(|p| norm.contains(p))
}

fn is_secret_key(key: &str) -> bool {
    let norm: String = key
        .chars()
        .filter(|c| !matches!(c, '_' | '-' | ' ' | '.'))
        .flat_map(char::to_lowercase)
        .collect();
    normalized_key_is_secret(&norm)
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

    #[test]
    fn needs_strip_reads_keys_and_strings_not_the_whole_text() {
        let plain = json!({"id": "D1", "name": "token bucket", "database": {"type": "snow_flake"},
            "description": "key=value; see https://example.com/a@b", "emptyPassword": null});
        assert!(!needs_strip(&plain.to_string()));
        assert!(!needs_strip(&serde_json::to_string_pretty(&plain).unwrap()));
        assert_eq!(strip_secrets(&plain), plain);
        for v in [
            json!({"Api-Key": "x"}),
            json!({"pass_word": "x"}),
            json!({"url": "postgres://a:b@h/db"}),
            json!({"conn": "Server=x;PWD=abc"}),
            json!({"refresh.token": "x"}),
            json!({"a": [{"b": {"clientSecret": 3}}]}),
            json!({"\"password\"": "x"}),
            json!({"\u{212a}ey": "x", "api\u{212a}ey": "y"}),
            json!(["Password =abc"]),
        ] {
            assert_ne!(strip_secrets(&v), v, "{v}");
            assert!(needs_strip(&v.to_string()), "{v}");
            assert!(
                needs_strip(&serde_json::to_string_pretty(&v).unwrap()),
                "{v}"
            );
        }
        // Text it cannot read is suspect.
        assert!(needs_strip(r#"{"a": "unterminated"#));
        assert!(needs_strip(r#"{"a": "bad \q escape"}"#));
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        fn key() -> impl Strategy<Value = String> {
            prop_oneof![
                prop::sample::select(vec![
                    "id",
                    "name",
                    "password",
                    "Pass_Word",
                    "dbPassword",
                    "apiKey",
                    "token",
                    "x-Token",
                    "credentials",
                    "jsonKey",
                    "pwd",
                    "PWD",
                    "secretName",
                    "key",
                    "passphrase",
                    "pass\"word",
                    "\u{212a}ey",
                    "api\u{212a}ey",
                    "ke y",
                ])
                .prop_map(str::to_string),
                "[a-zA-Z_ .\\-\"\\\\]{0,12}",
            ]
        }

        fn text() -> impl Strategy<Value = String> {
            prop_oneof![
                prop::sample::select(vec![
                    "plain",
                    "Password=abc",
                    "x;pwd = y",
                    "PASSWD=",
                    "mypwd=keep",
                    "postgres://u:p@h/db",
                    "http://h/a@b",
                    "s3://user@bucket",
                    "a\"b\\c\n",
                    "https://u:p@",
                    "token",
                    "",
                ])
                .prop_map(str::to_string),
                "[a-z=:/@;\" ]{0,16}",
            ]
        }

        fn json() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<i32>().prop_map(|n| json!(n)),
                text().prop_map(Value::String),
            ];
            leaf.prop_recursive(4, 40, 6, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                    prop::collection::vec((key(), inner), 0..6)
                        .prop_map(|kv| Value::Object(kv.into_iter().collect())),
                ]
            })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]
            /// Every object the old pass (`may_hold_secret`, then `strip_secrets`) changed,
            /// the key-aware scan flags, in compact and pretty text.
            #[test]
            fn needs_strip_flags_everything_strip_secrets_changes(v in json()) {
                let changed = strip_secrets(&v) != v;
                let compact = v.to_string();
                let pretty = serde_json::to_string_pretty(&v).unwrap();
                let old_pass_changed = may_hold_secret(&compact) && changed;
                if changed || old_pass_changed {
                    prop_assert!(needs_strip(&compact), "{}", compact);
                    prop_assert!(needs_strip(&pretty), "{}", pretty);
                }
            }
        }
    }
}
