//! The one retry policy of the vendor clients (used through `HttpCore::retrying`) and the
//! backoff the executor's delete retries share with it.
//!
//! - Which failures: `ApiError::is_transient` (429, 500, 502, 503, 504, transport failures),
//!   the same rule the executor applies. Everything else answers the same way however often
//!   it is asked.
//! - Which requests: idempotent ones (GET, HEAD). A write is sent once; whether to try it
//!   again is the executor's decision, after checking what the server did.
//! - How long: what the server asked for (`Retry-After`, `retryAfterMs`), never less, else
//!   `base * 2^attempt`; plus up to a quarter more at random, so parallel callers do not come
//!   back in step; never more than `max_wait`. A server asking for longer than `max_wait` is
//!   not asked again early: its error is reported, wait included.
//! - How often: `retries` after the first attempt, per vendor.
//!
//! What differs between vendors is a parameter (`retries`, `max_wait`), not a copy.
//! Session handling (MicroStrategy's re-login on 401 ERR009) and write pacing (Qlik) are
//! not retries and stay in their clients.

use super::ApiError;
use std::time::Duration;

/// First wait when the server names none; doubles with each retry.
pub const BASE_WAIT: Duration = Duration::from_millis(300);
/// Longest wait before a retry unless a vendor says otherwise.
pub const MAX_WAIT: Duration = Duration::from_secs(60);

/// How a client retries its idempotent requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts after the first one.
    pub retries: u32,
    /// First wait when the server names none.
    pub base: Duration,
    /// Longest wait; a server asking for more is not retried.
    pub max_wait: Duration,
}

impl RetryPolicy {
    /// `retries` retries, waits from `BASE_WAIT`, at most `MAX_WAIT`.
    pub const fn reads(retries: u32) -> RetryPolicy {
        RetryPolicy {
            retries,
            base: BASE_WAIT,
            max_wait: MAX_WAIT,
        }
    }

    /// The same policy with another longest wait.
    pub const fn max_wait(self, max_wait: Duration) -> RetryPolicy {
        RetryPolicy { max_wait, ..self }
    }

    /// The wait before retry number `attempt` (0-based) after `err`, or `None` when `err`
    /// is final: not transient, the retries used up, or the server asks for longer than
    /// `max_wait`.
    pub fn wait_before_retry(&self, err: &ApiError, attempt: u32) -> Option<Duration> {
        if attempt >= self.retries || !err.is_transient() {
            return None;
        }
        let asked = server_wait(err);
        if asked.is_some_and(|d| d > self.max_wait) {
            return None;
        }
        Some(backoff(self.base, attempt, asked, self.max_wait))
    }
}

/// What the server asked for, if anything (a zero wait names none).
fn server_wait(err: &ApiError) -> Option<Duration> {
    err.retry_after().filter(|d| !d.is_zero())
}

/// The wait before retry number `attempt` (0-based): `asked` if the server named a wait,
/// else `base * 2^attempt`; plus up to 25% at random; at most `max`.
pub fn backoff(base: Duration, attempt: u32, asked: Option<Duration>, max: Duration) -> Duration {
    let nominal = asked
        .filter(|d| !d.is_zero())
        .unwrap_or_else(|| base.saturating_mul(1u32 << attempt.min(20)))
        .min(max);
    nominal
        .saturating_add(nominal.mul_f64(jitter_fraction()).min(nominal / 4))
        .min(max)
}

/// A number in [0, 0.25), different on every call, without a random-number crate.
fn jitter_fraction() -> f64 {
    use std::collections::hash_map::RandomState;
    use std::hash::BuildHasher;
    use std::sync::atomic::{AtomicU64, Ordering};
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let n = CALLS.fetch_add(1, Ordering::Relaxed);
    (RandomState::new().hash_one(n) % 1_000_000) as f64 / 4_000_000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::VendorId;

    fn http(status: u16, retry_after_ms: Option<u64>) -> ApiError {
        ApiError::Http {
            vendor: VendorId::Qlik,
            status,
            code: None,
            message: String::new(),
            ticket: None,
            retry_after_ms,
        }
    }

    const P: RetryPolicy = RetryPolicy::reads(3);

    #[test]
    fn only_transient_failures_are_retried() {
        for status in [429, 500, 502, 503, 504] {
            assert!(
                P.wait_before_retry(&http(status, None), 0).is_some(),
                "{status}"
            );
        }
        for status in [400, 401, 403, 404, 409, 501, 505, 511] {
            assert_eq!(
                P.wait_before_retry(&http(status, None), 0),
                None,
                "{status}"
            );
        }
        let transport = ApiError::Transport {
            vendor: VendorId::Qlik,
            message: "connection reset".into(),
        };
        assert!(P.wait_before_retry(&transport, 0).is_some());
        for final_err in [
            ApiError::Decode {
                vendor: VendorId::Qlik,
                status: 200,
                message: "x".into(),
            },
            ApiError::ReadOnly {
                vendor: VendorId::Qlik,
                profile: "p".into(),
                what: "DELETE /x".into(),
            },
            ApiError::Setup {
                vendor: VendorId::Qlik,
                message: "x".into(),
            },
        ] {
            assert_eq!(P.wait_before_retry(&final_err, 0), None, "{final_err}");
        }
    }

    #[test]
    fn the_rule_is_is_transient() {
        for status in 400..600 {
            let e = http(status, None);
            assert_eq!(
                P.wait_before_retry(&e, 0).is_some(),
                e.is_transient(),
                "{status}"
            );
        }
    }

    #[test]
    fn attempts_stop_at_the_budget() {
        let e = http(503, None);
        for attempt in 0..3 {
            assert!(P.wait_before_retry(&e, attempt).is_some(), "{attempt}");
        }
        assert_eq!(P.wait_before_retry(&e, 3), None);
        assert_eq!(RetryPolicy::reads(0).wait_before_retry(&e, 0), None);
    }

    #[test]
    fn without_a_server_wait_it_backs_off_exponentially_with_jitter() {
        for attempt in 0..3u32 {
            let nominal = BASE_WAIT * (1 << attempt);
            for _ in 0..50 {
                let w = P.wait_before_retry(&http(503, None), attempt).unwrap();
                assert!(
                    w >= nominal && w <= nominal + nominal / 4,
                    "{attempt}: {w:?}"
                );
            }
        }
        // A zero Retry-After names no wait.
        let w = P.wait_before_retry(&http(429, Some(0)), 1).unwrap();
        assert!(w >= BASE_WAIT * 2, "{w:?}");
        // The jitter really varies.
        let waits: std::collections::HashSet<Duration> = (0..20)
            .map(|_| P.wait_before_retry(&http(503, None), 0).unwrap())
            .collect();
        assert!(waits.len() > 1);
    }

    #[test]
    fn the_server_wait_is_honoured_never_shortened() {
        for _ in 0..50 {
            let w = P.wait_before_retry(&http(429, Some(40)), 2).unwrap();
            assert!(
                w >= Duration::from_millis(40) && w <= Duration::from_millis(50),
                "{w:?}"
            );
            let w = P.wait_before_retry(&http(503, Some(2_000)), 0).unwrap();
            assert!(w >= Duration::from_secs(2) && w <= Duration::from_millis(2_500));
        }
    }

    #[test]
    fn waits_are_capped_and_longer_asks_are_reported() {
        // The cap cuts the jitter, never the server's wait.
        let w = P.wait_before_retry(&http(429, Some(60_000)), 0).unwrap();
        assert_eq!(w, MAX_WAIT);
        assert_eq!(P.wait_before_retry(&http(429, Some(60_001)), 0), None);
        assert_eq!(P.wait_before_retry(&http(429, Some(u64::MAX)), 0), None);
        let long = P.max_wait(Duration::from_secs(120));
        let w = long.wait_before_retry(&http(429, Some(90_000)), 0).unwrap();
        assert!(w >= Duration::from_secs(90) && w <= Duration::from_secs(120));
        // Backoff alone is capped too.
        let many = RetryPolicy::reads(100);
        assert_eq!(many.wait_before_retry(&http(503, None), 40), Some(MAX_WAIT));
        assert_eq!(
            backoff(Duration::from_secs(3600), 40, None, MAX_WAIT),
            MAX_WAIT
        );
    }
}
