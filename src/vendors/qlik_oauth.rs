//! Qlik Cloud OAuth machine-to-machine: the client-credentials grant of a profile that has
//! `client_id` + `client_secret` instead of an API key. `POST {tenant}/oauth/token` with a
//! JSON body `{client_id, client_secret, grant_type: "client_credentials"}` answers
//! `{access_token, token_type: "bearer", expires_in, ...}`; the token is kept until shortly
//! before it expires (`renew_margin`), and fetched anew once when the tenant answers 401.
//! Concurrent calls share one fetch. Neither the secret nor the token is ever logged, put in
//! an error or shown by `Debug`.

use super::http::{sensitive_value, HttpCore, HttpRequest};
use super::ApiError;
use crate::model::VendorId;
use reqwest::header::HeaderValue;
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const V: VendorId = VendorId::Qlik;
/// The token endpoint, under the tenant URL.
pub const TOKEN_PATH: &str = "/oauth/token";
/// A token answer without `expires_in` is taken to live this long (a 401 renews it anyway).
const DEFAULT_EXPIRES_IN: Duration = Duration::from_secs(3600);
/// A longer `expires_in` is taken as this (a 401 renews the token anyway).
const MAX_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);
/// A token is renewed at most this long before it expires...
const MAX_RENEW_MARGIN: Duration = Duration::from_secs(60);

/// ...or a tenth of its lifetime before, when that is shorter.
pub fn renew_margin(expires_in: Duration) -> Duration {
    (expires_in / 10).min(MAX_RENEW_MARGIN)
}

/// The `Authorization` header of a call, and which fetched token it carries (0: none yet).
pub struct Bearer {
    pub header: HeaderValue,
    pub generation: u64,
}

struct Cached {
    token: SecretString,
    renew_at: Instant,
    generation: u64,
}

/// The OAuth client of one profile: its credentials and its cached access token.
pub struct OAuthClient {
    profile: String,
    client_id: String,
    client_secret: SecretString,
    token_url: String,
    cache: tokio::sync::Mutex<Option<Cached>>,
    /// Fetches started so far; also the generation of the token a fetch brings.
    fetches: AtomicU64,
    /// Fetches finished so far (changed only with `cache` locked).
    finished: AtomicU64,
    /// The last fetch's error, with `finished` after it: calls that were waiting for that
    /// fetch get its error too instead of asking again.
    failed: std::sync::Mutex<Option<(u64, ApiError)>>,
}

impl std::fmt::Debug for OAuthClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthClient")
            .field("profile", &self.profile)
            .field("client_id", &self.client_id)
            .field("token_url", &self.token_url)
            .finish_non_exhaustive()
    }
}

impl OAuthClient {
    /// `tenant`: the normalised tenant URL (no trailing `/`).
    pub fn new(
        profile: &str,
        tenant: &str,
        client_id: &str,
        client_secret: SecretString,
    ) -> OAuthClient {
        OAuthClient {
            profile: profile.to_owned(),
            client_id: client_id.to_owned(),
            client_secret,
            token_url: format!("{tenant}{TOKEN_PATH}"),
            cache: tokio::sync::Mutex::new(None),
            fetches: AtomicU64::new(0),
            finished: AtomicU64::new(0),
            failed: std::sync::Mutex::new(None),
        }
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The header of the cached token, fetched first when there is none or it is about to
    /// expire. Calls arriving during a fetch wait for it and share its outcome.
    pub async fn bearer(&self, http: &HttpCore) -> Result<Bearer, ApiError> {
        let seen = self.finished.load(Ordering::SeqCst);
        let mut cache = self.cache.lock().await;
        if let Some(c) = cache.as_ref().filter(|c| Instant::now() < c.renew_at) {
            return header(c);
        }
        self.fetch_into(http, &mut cache, seen).await
    }

    /// After the tenant answered 401 to the token of `stale`: a new token, unless another call
    /// already brought one since.
    pub async fn renew(&self, http: &HttpCore, stale: u64) -> Result<Bearer, ApiError> {
        let seen = self.finished.load(Ordering::SeqCst);
        let mut cache = self.cache.lock().await;
        if let Some(c) = cache
            .as_ref()
            .filter(|c| c.generation != stale && Instant::now() < c.renew_at)
        {
            return header(c);
        }
        tracing::debug!(profile = %self.profile, "Qlik: access token refused (401); fetching a new one");
        *cache = None;
        self.fetch_into(http, &mut cache, seen).await
    }

    /// Fetch a token into `cache` (held locked), unless a fetch that finished after `seen`
    /// (this call waited for it) failed: then its error.
    async fn fetch_into(
        &self,
        http: &HttpCore,
        cache: &mut Option<Cached>,
        seen: u64,
    ) -> Result<Bearer, ApiError> {
        if let Some((n, e)) = lock(&self.failed).as_ref() {
            if *n > seen {
                return Err(e.clone());
            }
        }
        let generation = self.fetches.fetch_add(1, Ordering::SeqCst) + 1;
        let fetched = self.fetch(http, generation).await;
        let finished = self.finished.fetch_add(1, Ordering::SeqCst) + 1;
        match fetched {
            Ok(c) => {
                *lock(&self.failed) = None;
                let b = header(&c);
                *cache = Some(c);
                b
            }
            Err(e) => {
                *lock(&self.failed) = Some((finished, e.clone()));
                Err(e)
            }
        }
    }

    /// One token request.
    async fn fetch(&self, http: &HttpCore, generation: u64) -> Result<Cached, ApiError> {
        let asked = Instant::now();
        let body = json!({
            "client_id": self.client_id,
            "client_secret": self.client_secret.expose_secret(),
            "grant_type": "client_credentials",
        });
        let resp = http
            .send(HttpRequest::new(Method::POST, &self.token_url).json(body))
            .await?;
        if !resp.is_success() {
            return Err(self.refused(resp.to_error()));
        }
        let decode = |message: String| ApiError::Decode {
            vendor: V,
            status: resp.status,
            message: format!("profile '{}': POST {TOKEN_PATH}: {message}", self.profile),
        };
        // The body holds the token: never put into a message.
        let v: Value = serde_json::from_slice(&resp.body)
            .map_err(|_| decode("the token answer is not JSON".into()))?;
        let token = v
            .get("access_token")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| decode("the token answer has no access_token".into()))?;
        if let Some(kind) = v.get("token_type").and_then(Value::as_str) {
            if !kind.eq_ignore_ascii_case("bearer") {
                return Err(decode(format!(
                    "token_type is \"{}\", not bearer",
                    crate::model::printable(kind)
                )));
            }
        }
        let expires_in = match v.get("expires_in") {
            Some(n) => n
                .as_f64()
                .or_else(|| n.as_str().and_then(|s| s.trim().parse().ok()))
                .filter(|s| s.is_finite() && *s >= 0.0)
                .map(|s| Duration::from_secs_f64(s.min(MAX_LIFETIME.as_secs_f64())))
                .ok_or_else(|| decode("expires_in is not a number of seconds".into()))?,
            None => DEFAULT_EXPIRES_IN,
        };
        let token = SecretString::from(token.to_owned());
        // Checked now: a token unfit for a header is this fetch's error, not every call's.
        sensitive_value(V, "OAuth access token", &bearer_text(&token))?;
        tracing::debug!(
            profile = %self.profile,
            expires_in_s = expires_in.as_secs(),
            "Qlik: OAuth access token fetched"
        );
        Ok(Cached {
            token,
            renew_at: asked + expires_in.saturating_sub(renew_margin(expires_in)),
            generation,
        })
    }

    /// A non-2xx answer of the token endpoint as one sentence naming the profile and the
    /// client id (never the secret, even when the server echoes it).
    fn refused(&self, e: ApiError) -> ApiError {
        let ApiError::Http {
            vendor,
            status,
            code,
            message,
            ticket,
            retry_after_ms,
        } = e
        else {
            return e;
        };
        let what = if matches!(status, 400 | 401 | 403) {
            "refused the OAuth client credentials"
        } else {
            "could not issue an access token for the OAuth client credentials"
        };
        let secret = self.client_secret.expose_secret();
        let reason = if secret.is_empty() {
            message
        } else {
            message.replace(secret, crate::redact::REDACTED)
        };
        ApiError::Http {
            vendor,
            status,
            code,
            message: format!(
                "profile '{}': POST {TOKEN_PATH} {what} (client_id '{}'): {reason}",
                self.profile,
                crate::model::printable(&self.client_id)
            ),
            ticket,
            retry_after_ms,
        }
    }
}

fn bearer_text(token: &SecretString) -> String {
    format!("Bearer {}", token.expose_secret())
}

fn header(c: &Cached) -> Result<Bearer, ApiError> {
    Ok(Bearer {
        header: sensitive_value(V, "OAuth access token", &bearer_text(&c.token))?,
        generation: c.generation,
    })
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_renewed_a_minute_or_a_tenth_of_their_life_early() {
        assert_eq!(
            renew_margin(Duration::from_secs(3600)),
            Duration::from_secs(60)
        );
        assert_eq!(
            renew_margin(Duration::from_secs(21_600)),
            Duration::from_secs(60)
        );
        assert_eq!(
            renew_margin(Duration::from_secs(300)),
            Duration::from_secs(30)
        );
        assert_eq!(renew_margin(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn debug_shows_neither_secret_nor_token() {
        let c = OAuthClient::new(
            "q",
            "https://t.eu.qlikcloud.com",
            "cid",
            SecretString::from("very-SECRET".to_owned()),
        );
        let shown = format!("{c:?}");
        assert!(
            shown.contains("cid") && !shown.contains("SECRET"),
            "{shown}"
        );
    }

    #[test]
    fn refusals_name_the_profile_and_client_but_not_the_secret() {
        let c = OAuthClient::new(
            "q",
            "https://t",
            "cid",
            SecretString::from("very-SECRET".to_owned()),
        );
        let e = c.refused(ApiError::Http {
            vendor: V,
            status: 401,
            code: Some("invalid_client".into()),
            message: "bad secret very-SECRET".into(),
            ticket: None,
            retry_after_ms: None,
        });
        let shown = e.to_string();
        assert!(shown.contains("profile 'q'"), "{shown}");
        assert!(shown.contains("client credentials"), "{shown}");
        assert!(shown.contains("client_id 'cid'"), "{shown}");
        assert!(!shown.contains("SECRET"), "{shown}");
        assert_eq!(e.status(), Some(401));
    }
}
