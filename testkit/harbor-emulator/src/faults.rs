//! Injected failures: error statuses, latency, dropped connections and lost replies.

use std::sync::Mutex;
use std::time::Duration;

use axum::http::Method;

use crate::lock;

/// What the emulator did to a request instead of (or after) serving it normally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InjectedFault {
    /// Answered with this status instead of running the handler.
    Status(u16),
    /// Connection closed without a response; the request had no effect.
    Dropped,
    /// The request was applied, then the connection was closed without a response.
    LostReply,
}

/// What the HTTP layer must do before running the handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    Fail(u16),
    Drop,
    LoseReply,
}

#[derive(Debug, Clone)]
struct Matcher {
    method: Option<Method>,
    path_prefix: String,
}

impl Matcher {
    fn any() -> Self {
        Self {
            method: None,
            path_prefix: String::new(),
        }
    }

    fn matches(&self, method: &Method, raw_path: &str) -> bool {
        self.method.as_ref().is_none_or(|m| m == method) && raw_path.starts_with(&self.path_prefix)
    }
}

#[derive(Debug)]
struct Rule {
    remaining: usize,
    matcher: Matcher,
    decision: Decision,
}

#[derive(Debug)]
struct Random {
    probability: f64,
    rng: fastrand::Rng,
}

#[derive(Debug, Default)]
struct Inner {
    rules: Vec<Rule>,
    random: Option<Random>,
    latency: Duration,
    injected: u64,
}

/// Thread-safe fault switchboard; every injected fault is counted and shows in the call log.
#[derive(Debug, Default)]
pub struct Faults {
    inner: Mutex<Inner>,
}

/// Statuses `fail_fraction` picks from: Harbor's 500, a proxy's 502/503, a 429.
const RANDOM_STATUSES: [u16; 4] = [500, 502, 503, 429];

impl Faults {
    fn push(&self, remaining: usize, matcher: Matcher, decision: Decision) {
        lock(&self.inner).rules.push(Rule {
            remaining,
            matcher,
            decision,
        });
    }

    /// The next `n` requests answer `status` (500, 502, 503 or 429 bodies as Harbor or its
    /// proxy would send them; other statuses get a Harbor error body).
    pub fn fail_next(&self, n: usize, status: u16) {
        self.push(n, Matcher::any(), Decision::Fail(status));
    }

    /// Like [`Faults::fail_next`], only for requests with this method whose raw path starts
    /// with `path_prefix`.
    pub fn fail_next_matching(&self, n: usize, method: Method, path_prefix: &str, status: u16) {
        let matcher = Matcher {
            method: Some(method),
            path_prefix: path_prefix.to_owned(),
        };
        self.push(n, matcher, Decision::Fail(status));
    }

    /// Each request fails with probability `p` (status drawn from 500/502/503/429), from a
    /// seeded RNG so runs are reproducible.
    pub fn fail_fraction(&self, p: f64, seed: u64) {
        lock(&self.inner).random = Some(Random {
            probability: p.clamp(0.0, 1.0),
            rng: fastrand::Rng::with_seed(seed),
        });
    }

    /// Delay added to every request.
    pub fn latency(&self, delay: Duration) {
        lock(&self.inner).latency = delay;
    }

    /// The next `n` connections are closed without a response; the requests have no effect.
    pub fn drop_next(&self, n: usize) {
        self.push(n, Matcher::any(), Decision::Drop);
    }

    /// The next `n` matching requests are applied, then their connection is closed without a
    /// response (a reply lost on the way back).
    pub fn lose_reply_next(&self, n: usize, method: Method, path_prefix: &str) {
        let matcher = Matcher {
            method: Some(method),
            path_prefix: path_prefix.to_owned(),
        };
        self.push(n, matcher, Decision::LoseReply);
    }

    /// Removes every pending fault, the random failures and the latency.
    pub fn clear(&self) {
        let mut inner = lock(&self.inner);
        inner.rules.clear();
        inner.random = None;
        inner.latency = Duration::ZERO;
    }

    /// How many faults were injected so far.
    pub fn injected(&self) -> u64 {
        lock(&self.inner).injected
    }

    pub(crate) fn current_latency(&self) -> Duration {
        lock(&self.inner).latency
    }

    /// Picks (and consumes) the fault for one request: the oldest matching rule first, then
    /// the random failures.
    pub(crate) fn decide(&self, method: &Method, raw_path: &str) -> Option<Decision> {
        let mut inner = lock(&self.inner);
        let from_rule = inner
            .rules
            .iter_mut()
            .find(|r| r.remaining > 0 && r.matcher.matches(method, raw_path))
            .map(|rule| {
                rule.remaining -= 1;
                rule.decision
            });
        inner.rules.retain(|r| r.remaining > 0);
        let decision = from_rule.or_else(|| {
            let random = inner.random.as_mut()?;
            (random.rng.f64() < random.probability)
                .then(|| Decision::Fail(RANDOM_STATUSES[random.rng.usize(..RANDOM_STATUSES.len())]))
        });
        if decision.is_some() {
            inner.injected += 1;
        }
        decision
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_consumed_in_order_and_counted() {
        let faults = Faults::default();
        faults.fail_next_matching(1, Method::POST, "/api/v2.0/projects", 503);
        faults.fail_next(2, 500);
        assert_eq!(faults.decide(&Method::GET, "/x"), Some(Decision::Fail(500)));
        assert_eq!(
            faults.decide(&Method::POST, "/api/v2.0/projects"),
            Some(Decision::Fail(503))
        );
        assert_eq!(faults.decide(&Method::GET, "/x"), Some(Decision::Fail(500)));
        assert_eq!(faults.decide(&Method::GET, "/x"), None);
        assert_eq!(faults.injected(), 3);
    }

    #[test]
    fn fraction_is_reproducible_per_seed() {
        let run = |seed| {
            let faults = Faults::default();
            faults.fail_fraction(0.5, seed);
            (0..64)
                .map(|_| faults.decide(&Method::GET, "/").is_some())
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        let hits = run(7).into_iter().filter(|hit| *hit).count();
        assert!((16..=48).contains(&hits), "{hits}");
    }

    #[test]
    fn clear_removes_everything() {
        let faults = Faults::default();
        faults.drop_next(3);
        faults.latency(Duration::from_millis(5));
        faults.fail_fraction(1.0, 1);
        faults.clear();
        assert_eq!(faults.decide(&Method::GET, "/"), None);
        assert_eq!(faults.current_latency(), Duration::ZERO);
    }
}
