//! A token bucket: how an HTTP/2 connection budgets what its peer makes it do (resets,
//! frames that do no work). Pure; the clock is the caller's.

use std::time::Instant;

/// A token bucket: `burst` at once, refilled at `per_second`.
pub struct Budget {
    tokens: u32,
    burst: u32,
    per_second: u32,
    since: Instant,
}

impl Budget {
    pub fn new(burst: u32, per_second: u32, now: Instant) -> Budget {
        Budget {
            tokens: burst,
            burst,
            per_second,
            since: now,
        }
    }

    /// Takes one token; false when the budget is spent.
    pub fn charge(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.since);
        let earned = (elapsed.as_millis() as u64 * u64::from(self.per_second) / 1000) as u32;
        if earned > 0 {
            self.tokens = self.tokens.saturating_add(earned).min(self.burst);
            self.since = now;
        }
        if self.tokens == 0 {
            return false;
        }
        self.tokens -= 1;
        true
    }
}
