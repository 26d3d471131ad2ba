//! Injected failures: error statuses, latency, dropped connections, lost replies and timeouts.

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
    /// The request was applied, then the reply was held longer than the client waits, and the
    /// connection closed.
    TimedOut,
}

/// What the HTTP layer must do before running the handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    Fail(u16),
    Drop,
    LoseReply,
    /// Serve, then hold the reply this long and close the connection.
    Timeout(Duration),
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
    /// Also drop connections and time out (holding replies this long), besides error statuses.
    timeout_hold: Option<Duration>,
}

impl Random {
    fn pick(&mut self) -> Option<Decision> {
        if self.rng.f64() >= self.probability {
            return None;
        }
        // With transport faults, each of the four statuses, a drop and a timeout is as likely.
        let kinds = RANDOM_STATUSES.len() + if self.timeout_hold.is_some() { 2 } else { 0 };
        let pick = self.rng.usize(..kinds);
        Some(match (RANDOM_STATUSES.get(pick), self.timeout_hold) {
            (Some(status), _) => Decision::Fail(*status),
            (None, Some(hold)) if pick == RANDOM_STATUSES.len() => Decision::Timeout(hold),
            (None, _) => Decision::Drop,
        })
    }
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
        self.set_random(p, seed, None);
    }

    /// Like [`Faults::fail_fraction`], but a failure is equally likely to be one of the four
    /// statuses, a dropped connection (no effect) or a timeout: the request is applied, then
    /// its reply is held for `timeout_hold` (make it longer than the client's request timeout)
    /// and the connection closed.
    ///
    /// Design choice: a timed-out request takes effect when it arrives, not after the hold. A
    /// write applied only after the client gave up could land after the client's later writes
    /// (a project created again after its deletion), and Harbor's API offers no way to fence
    /// such stale writes; a slow reply to a write already done is what a client must handle.
    pub fn fail_fraction_with_transport(&self, p: f64, seed: u64, timeout_hold: Duration) {
        self.set_random(p, seed, Some(timeout_hold));
    }

    fn set_random(&self, p: f64, seed: u64, timeout_hold: Option<Duration>) {
        lock(&self.inner).random = Some(Random {
            probability: p.clamp(0.0, 1.0),
            rng: fastrand::Rng::with_seed(seed),
            timeout_hold,
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
        let decision = from_rule.or_else(|| inner.random.as_mut()?.pick());
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
    fn fraction_with_transport_mixes_statuses_drops_and_timeouts() {
        let faults = Faults::default();
        let hold = Duration::from_millis(1500);
        faults.fail_fraction_with_transport(1.0, 3, hold);
        let decisions: Vec<Decision> = (0..120)
            .filter_map(|_| faults.decide(&Method::GET, "/"))
            .collect();
        assert_eq!(decisions.len(), 120);
        for want in [
            Decision::Fail(500),
            Decision::Fail(429),
            Decision::Drop,
            Decision::Timeout(hold),
        ] {
            assert!(decisions.contains(&want), "{want:?} never drawn");
        }
        assert!(!decisions.contains(&Decision::LoseReply));
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
