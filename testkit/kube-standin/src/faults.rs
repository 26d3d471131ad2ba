//! Injected failures and latency, checked before a request is served.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use crate::error::ApiError;

/// Which requests a fault applies to; the default matches every request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestMatch {
    method: Option<String>,
    path_contains: Option<String>,
}

impl RequestMatch {
    pub fn any() -> Self {
        Self::default()
    }

    /// Only requests with this HTTP method (case-insensitive), e.g. `"PATCH"`.
    pub fn method(mut self, method: &str) -> Self {
        self.method = Some(method.to_ascii_uppercase());
        self
    }

    /// Only requests whose path-and-query contains `fragment`, e.g. `"/status"` or `"watch=true"`.
    pub fn path_contains(mut self, fragment: &str) -> Self {
        self.path_contains = Some(fragment.to_owned());
        self
    }

    fn matches(&self, method: &str, path_and_query: &str) -> bool {
        self.method.as_deref().is_none_or(|m| m == method)
            && self
                .path_contains
                .as_deref()
                .is_none_or(|f| path_and_query.contains(f))
    }
}

#[derive(Debug, Clone)]
struct Rule {
    matcher: RequestMatch,
    remaining: u32,
    status: u16,
}

#[derive(Debug, Default)]
struct State {
    rules: Vec<Rule>,
    latency: Duration,
}

/// Fault injection for an [`crate::ApiServer`]; reached through `ApiServer::faults()`.
#[derive(Debug, Default)]
pub struct Faults {
    state: Mutex<State>,
}

impl Faults {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The next `n` requests fail with `status` (a `Status` body like the real server's;
    /// 429 and 503 carry `Retry-After: 1`, so kube's client retries them transparently).
    pub fn fail_next(&self, n: u32, status: u16) {
        self.fail_matching(n, status, RequestMatch::any());
    }

    /// The next `n` requests matching `matcher` fail with `status`.
    pub fn fail_matching(&self, n: u32, status: u16, matcher: RequestMatch) {
        self.state().rules.push(Rule {
            matcher,
            remaining: n,
            status,
        });
    }

    /// Delay before every request is served.
    pub fn set_latency(&self, latency: Duration) {
        self.state().latency = latency;
    }

    /// Drops all pending failures and the latency.
    pub fn clear(&self) {
        *self.state() = State::default();
    }

    /// How many injected failures are still pending.
    pub fn pending(&self) -> u32 {
        self.state().rules.iter().map(|r| r.remaining).sum()
    }

    pub(crate) fn latency(&self) -> Duration {
        self.state().latency
    }

    /// Consumes one matching failure, if any, as the error to answer with.
    pub(crate) fn take(&self, method: &str, path_and_query: &str) -> Option<ApiError> {
        let mut state = self.state();
        let rule = state
            .rules
            .iter_mut()
            .find(|r| r.remaining > 0 && r.matcher.matches(method, path_and_query))?;
        rule.remaining -= 1;
        let status = rule.status;
        state.rules.retain(|r| r.remaining > 0);
        Some(injected(status))
    }
}

fn injected(status: u16) -> ApiError {
    let message = match status {
        409 => {
            "Operation cannot be fulfilled: the object has been modified; please apply your \
                changes to the latest version and try again (injected)"
        }
        429 => "Too many requests, please try again later. (injected)",
        503 => "The server is currently unable to handle the request (injected)",
        _ => "injected failure",
    };
    ApiError::new(status, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_consumed_in_order_and_only_when_matching() {
        let faults = Faults::default();
        faults.fail_matching(
            1,
            409,
            RequestMatch::any().method("put").path_contains("/leases/"),
        );
        faults.fail_next(1, 500);
        assert_eq!(
            faults.take("GET", "/api/v1/namespaces").map(|e| e.code),
            Some(500)
        );
        assert_eq!(faults.take("GET", "/api/v1/namespaces"), None);
        let conflict = faults.take("PUT", "/apis/coordination.k8s.io/v1/namespaces/a/leases/l");
        assert_eq!(conflict.map(|e| e.reason), Some("Conflict"));
        assert_eq!(faults.pending(), 0);
    }
}
