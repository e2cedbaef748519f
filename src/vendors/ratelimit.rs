//! A per-tenant request rate limit (GCRA): requests are spaced `60 s / per_minute` apart,
//! with a small burst allowance. Shared by every task of a profile, so bulk work at any
//! concurrency never exceeds the tenant's limit.

use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

#[derive(Debug)]
pub struct RateLimiter {
    interval: Duration,
    /// How far ahead of "now" the schedule may run before callers wait: the burst.
    tolerance: Duration,
    /// Theoretical arrival time of the next request.
    next: Mutex<Option<Instant>>,
    per_minute: u32,
}

impl RateLimiter {
    /// `None` for 0 (no limit). The burst is a tenth of the per-minute rate, 1 to 10.
    pub fn per_minute(per_minute: u32) -> Option<RateLimiter> {
        if per_minute == 0 {
            return None;
        }
        let interval = Duration::from_secs(60) / per_minute;
        let burst = (per_minute / 10).clamp(1, 10);
        Some(RateLimiter {
            interval,
            tolerance: interval * (burst - 1),
            next: Mutex::new(None),
            per_minute,
        })
    }

    pub fn limit_per_minute(&self) -> u32 {
        self.per_minute
    }

    /// Wait until one more request fits in the rate.
    pub async fn acquire(&self) {
        let wait_until = {
            let mut next = self.next.lock().await;
            let now = Instant::now();
            let tat = match *next {
                Some(t) if t > now => t,
                _ => now,
            };
            *next = Some(tat + self.interval);
            // Allowed at tat - tolerance.
            tat.checked_sub(self.tolerance).filter(|t| *t > now)
        };
        if let Some(t) = wait_until {
            tokio::time::sleep_until(t).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_means_no_limit() {
        assert!(RateLimiter::per_minute(0).is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn spaces_requests_after_the_burst() {
        // 60 per minute: one a second, burst of 6.
        let Some(rl) = RateLimiter::per_minute(60) else {
            panic!("limiter")
        };
        let start = Instant::now();
        for _ in 0..6 {
            rl.acquire().await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO, "the burst goes at once");
        for _ in 0..4 {
            rl.acquire().await;
        }
        // 10 requests at 1/s with a burst of 6: the 10th waits until t = 4 s.
        assert_eq!(start.elapsed(), Duration::from_secs(4));
    }

    #[tokio::test(start_paused = true)]
    async fn a_hundred_per_minute_never_exceeds_the_window() {
        let Some(rl) = RateLimiter::per_minute(100) else {
            panic!("limiter")
        };
        let start = Instant::now();
        for _ in 0..300 {
            rl.acquire().await;
        }
        // 300 requests at 100/min with a burst of 10 take at least 290 intervals of 600 ms.
        assert!(start.elapsed() >= Duration::from_millis(600 * 290));
        assert!(start.elapsed() < Duration::from_secs(180));
    }
}
