//! Tokens: JWTs shaped like Flask-JWT-Extended's (HS256 header, `type`, `sub`, `fresh`,
//! `jti`, `csrf`, `iat`, `nbf`, `exp`) and Flask-WTF's CSRF token bound to a `session`
//! cookie. No HMAC crate is a dependency, so the signature is a 256-bit keyed hash (SipHash
//! under a key drawn when the simulator starts): a token of another simulator, or one whose
//! payload was edited, fails with "Signature verification failed" like a wrong `SECRET_KEY`.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{json, Value};

const B64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

pub fn b64url_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(char::from(B64URL[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

pub fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.trim_end_matches('=').bytes() {
        let v = B64URL.iter().position(|x| *x == c)? as u32;
        acc = ((acc << 6) | v) & 0xFF_FFFF;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xFF) as u8);
        }
    }
    Some(out)
}

/// A process-wide random 64-bit number (distinct on every call).
pub fn random_u64() -> u64 {
    static KEYS: std::sync::OnceLock<RandomState> = std::sync::OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    KEYS.get_or_init(RandomState::new)
        .hash_one(COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// A version-4-looking UUID from two 64-bit numbers.
pub fn uuid_from(a: u64, b: u64) -> String {
    let a = (a & 0xFFFF_FFFF_FFFF_0FFF) | 0x4000;
    let b = (b & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000;
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xFFFF,
        a & 0xFFFF,
        b >> 48,
        b & 0xFFFF_FFFF_FFFF
    )
}

pub fn random_uuid() -> String {
    uuid_from(random_u64(), random_u64())
}

/// The signing key of one simulator.
pub struct Signer {
    keys: [RandomState; 4],
}

impl Signer {
    pub fn new() -> Signer {
        Signer {
            keys: std::array::from_fn(|_| RandomState::new()),
        }
    }

    fn tag(&self, data: &str) -> String {
        let mut out = Vec::with_capacity(32);
        for k in &self.keys {
            out.extend_from_slice(&k.hash_one(data).to_be_bytes());
        }
        b64url_encode(&out)
    }

    /// A signed JWT with this payload.
    pub fn jwt(&self, payload: &Value) -> String {
        let head = b64url_encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let body = b64url_encode(payload.to_string().as_bytes());
        let signing = format!("{head}.{body}");
        let sig = self.tag(&signing);
        format!("{signing}.{sig}")
    }

    /// The payload of a JWT this signer made, or PyJWT's message for why not.
    pub fn verify(&self, token: &str) -> Result<Value, &'static str> {
        let parts: Vec<&str> = token.split('.').collect();
        let [head, body, sig] = parts[..] else {
            return Err(if parts.len() < 3 {
                "Not enough segments"
            } else {
                "Invalid token type. Token must be a <class 'bytes'>"
            });
        };
        let head = b64url_decode(head).ok_or("Invalid header padding")?;
        serde_json::from_slice::<Value>(&head)
            .ok()
            .filter(Value::is_object)
            .ok_or("Invalid header string: must be a json object")?;
        let payload = b64url_decode(body).ok_or("Invalid payload padding")?;
        let payload = serde_json::from_slice::<Value>(&payload)
            .ok()
            .filter(Value::is_object)
            .ok_or("Invalid payload string: must be a json object")?;
        if b64url_decode(sig).is_none() {
            return Err("Invalid crypto padding");
        }
        if self.tag(&token[..token.len() - sig.len() - 1]) != sig {
            return Err("Signature verification failed");
        }
        Ok(payload)
    }

    /// A new CSRF token and the `session` cookie value it is bound to.
    pub fn csrf_pair(&self) -> (String, String) {
        let raw = format!("{:016x}{:016x}", random_u64(), random_u64());
        let session = b64url_encode(json!({ "csrf_token": raw }).to_string().as_bytes());
        let cookie = format!("{session}.{}", self.tag(&format!("session:{session}")));
        let token = b64url_encode(format!("\"{raw}\"").as_bytes());
        let token = format!("{token}.{}", self.tag(&format!("csrf:{token}")));
        (token, cookie)
    }

    /// The raw CSRF secret a valid `session` cookie holds.
    pub fn session_secret(&self, cookie: &str) -> Option<String> {
        let (session, tag) = cookie.rsplit_once('.')?;
        if self.tag(&format!("session:{session}")) != tag {
            return None;
        }
        let v: Value = serde_json::from_slice(&b64url_decode(session)?).ok()?;
        v.get("csrf_token")?.as_str().map(str::to_string)
    }

    /// The raw secret of a valid CSRF token.
    pub fn token_secret(&self, token: &str) -> Option<String> {
        let (body, tag) = token.rsplit_once('.')?;
        if self.tag(&format!("csrf:{body}")) != tag {
            return None;
        }
        let v: Value = serde_json::from_slice(&b64url_decode(body)?).ok()?;
        v.as_str().map(str::to_string)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_round_trips() {
        for s in ["", "a", "ab", "abc", "abcd", "{\"alg\":\"HS256\"}"] {
            assert_eq!(
                b64url_decode(&b64url_encode(s.as_bytes())).unwrap(),
                s.as_bytes()
            );
        }
        assert_eq!(b64url_encode(b"\xfb\xff"), "-_8");
    }

    #[test]
    fn jwts_verify_only_under_their_key() {
        let a = Signer::new();
        let b = Signer::new();
        let t = a.jwt(&json!({"sub": "1", "type": "access"}));
        assert!(t.starts_with("eyJ"));
        assert_eq!(a.verify(&t).unwrap()["sub"], "1");
        assert_eq!(b.verify(&t), Err("Signature verification failed"));
        assert_eq!(a.verify("garbage"), Err("Not enough segments"));
        let (token, cookie) = a.csrf_pair();
        assert_eq!(a.token_secret(&token), a.session_secret(&cookie));
        assert!(a.token_secret(&token).is_some());
        assert_eq!(b.token_secret(&token), None);
    }
}
