//! Leader election on a `coordination.k8s.io/v1` Lease, so that of several replicas only one
//! runs the controllers (and so writes to Harbor and to resources) at a time.
//!
//! The holder renews every `renew_interval`. It stops its work when it could not renew for
//! `renew_deadline`; a follower takes the lease only once it has not been renewed for
//! `lease_duration`, which is longer: the two never work at once (given clocks in step, the same
//! assumption Kubernetes' own leader election makes). Every write of the lease carries its
//! `resourceVersion`, so two candidates racing for it cannot both win.

use std::future::Future;
use std::time::Duration;

use futures::FutureExt;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, ObjectMeta, PostParams};

/// Where the lease lives and how it is timed.
#[derive(Clone, Debug)]
pub struct LeaseSettings {
    pub namespace: String,
    pub name: String,
    /// This instance (the pod name).
    pub identity: String,
    pub lease_duration: Duration,
    pub renew_deadline: Duration,
    pub renew_interval: Duration,
    /// How often a follower tries to take the lease.
    pub retry_interval: Duration,
}

impl LeaseSettings {
    /// Kubernetes' usual timing: 15 s lease, 10 s renew deadline, renewed every 2 s.
    pub fn new(namespace: &str, identity: &str) -> Self {
        Self {
            namespace: namespace.to_owned(),
            name: "harbor-bridge".to_owned(),
            identity: identity.to_owned(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            renew_interval: Duration::from_secs(2),
            retry_interval: Duration::from_secs(2),
        }
    }
}

/// What a candidate may do with the lease as it stands. Pure.
#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
    /// Free, expired, or already ours: write it as ours.
    Take { transition: bool },
    /// Held by someone else whose lease is still valid.
    HeldBy(String),
}

pub fn claim(spec: &LeaseSpec, identity: &str, now: jiff::Timestamp) -> Claim {
    let holder = spec.holder_identity.as_deref().filter(|h| !h.is_empty());
    match holder {
        Some(holder) if holder == identity => Claim::Take { transition: false },
        None => Claim::Take { transition: true },
        Some(holder) => {
            let duration = jiff::SignedDuration::from_secs(i64::from(
                spec.lease_duration_seconds.unwrap_or(15),
            ));
            let renewed = spec.renew_time.as_ref().map(|t| t.0);
            match renewed {
                Some(renewed) if renewed + duration > now => Claim::HeldBy(holder.to_owned()),
                _ => Claim::Take { transition: true },
            }
        }
    }
}

pub struct Elector {
    api: Api<Lease>,
    settings: LeaseSettings,
}

impl Elector {
    pub fn new(client: kube::Client, settings: LeaseSettings) -> Self {
        Self {
            api: Api::namespaced(client, &settings.namespace),
            settings,
        }
    }

    /// One attempt to acquire or renew. `Ok(false)`: someone else holds it (or won the race).
    pub async fn try_acquire(&self) -> kube::Result<bool> {
        let now = jiff::Timestamp::now();
        let settings = &self.settings;
        let Some(current) = self.api.get_opt(&settings.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(settings.name.clone()),
                    namespace: Some(settings.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(self.spec(now, now, 0)),
            };
            return accepted(self.api.create(&PostParams::default(), &lease).await);
        };
        let spec = current.spec.clone().unwrap_or_default();
        let transition = match claim(&spec, &settings.identity, now) {
            Claim::HeldBy(_) => return Ok(false),
            Claim::Take { transition } => transition,
        };
        let acquired = match (transition, spec.acquire_time) {
            (false, Some(MicroTime(at))) => at,
            _ => now,
        };
        let transitions = spec.lease_transitions.unwrap_or(0) + i32::from(transition);
        let mut lease = current;
        lease.spec = Some(self.spec(acquired, now, transitions));
        // `replace` sends the resourceVersion read above: a concurrent writer makes this a 409.
        accepted(
            self.api
                .replace(&settings.name, &PostParams::default(), &lease)
                .await,
        )
    }

    /// Gives the lease up so that a follower takes over at once (on a clean shutdown).
    pub async fn release(&self) -> kube::Result<()> {
        let Some(mut lease) = self.api.get_opt(&self.settings.name).await? else {
            return Ok(());
        };
        let ours = lease
            .spec
            .as_ref()
            .and_then(|s| s.holder_identity.as_deref())
            == Some(self.settings.identity.as_str());
        if ours {
            if let Some(spec) = lease.spec.as_mut() {
                spec.holder_identity = None;
                spec.renew_time = None;
            }
            accepted(
                self.api
                    .replace(&self.settings.name, &PostParams::default(), &lease)
                    .await,
            )?;
        }
        Ok(())
    }

    fn spec(
        &self,
        acquired: jiff::Timestamp,
        renewed: jiff::Timestamp,
        transitions: i32,
    ) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(self.settings.identity.clone()),
            lease_duration_seconds: Some(
                i32::try_from(self.settings.lease_duration.as_secs())
                    .unwrap_or(15)
                    .max(1),
            ),
            acquire_time: Some(MicroTime(acquired)),
            renew_time: Some(MicroTime(renewed)),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }
    }

    /// Runs `work` for as long as this instance holds the lease, again each time it wins it
    /// back, until `shutdown` completes; then releases the lease. `work` receives a future that
    /// completes when it must stop (leadership lost, or shutdown), and must return soon after.
    /// `on_change` hears every change of leadership (for the `leader` metric).
    pub async fn run<W, Fut>(
        &self,
        shutdown: impl Future<Output = ()> + Send + 'static,
        mut work: W,
        on_change: impl Fn(bool),
    ) where
        W: FnMut(futures::future::BoxFuture<'static, ()>) -> Fut,
        Fut: Future<Output = ()>,
    {
        let shutdown = shutdown.shared();
        let identity = &self.settings.identity;
        loop {
            let acquired = match self.try_acquire().await {
                Ok(acquired) => acquired,
                Err(error) => {
                    tracing::warn!(%error, "cannot read or write the leader lease; will try again");
                    false
                }
            };
            if acquired {
                tracing::info!(%identity, lease = %self.settings.name, "became the leader");
                on_change(true);
                let (lost, stop) = tokio::sync::oneshot::channel::<()>();
                let stop_work = futures::future::select(
                    Box::pin(async {
                        let _ = stop.await;
                    }),
                    shutdown.clone(),
                )
                .map(drop)
                .boxed();
                let renewing = self.keep_renewing(lost);
                tokio::pin!(renewing);
                let mut working = std::pin::pin!(work(stop_work));
                // The work ends when told to (lost or shutdown); the renewing ends when it fails.
                tokio::select! {
                    () = &mut working => {}
                    () = &mut renewing => working.await,
                }
                on_change(false);
                if shutdown.clone().now_or_never().is_some() {
                    if let Err(error) = self.release().await {
                        tracing::warn!(%error, "could not release the leader lease; a follower takes over when it expires");
                    }
                    tracing::info!(%identity, "released the leader lease");
                    return;
                }
                tracing::warn!(%identity, "lost the leader lease; stopped writing, back to follower");
            }
            tokio::select! {
                () = tokio::time::sleep(self.settings.retry_interval) => {}
                () = shutdown.clone() => return,
            }
        }
    }

    /// Renews until a renewal has failed for `renew_deadline`; then says so through `lost`.
    async fn keep_renewing(&self, lost: tokio::sync::oneshot::Sender<()>) {
        let mut last_renewed = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(self.settings.renew_interval).await;
            match self.try_acquire().await {
                Ok(true) => last_renewed = tokio::time::Instant::now(),
                Ok(false) => break,
                Err(error) => {
                    tracing::warn!(%error, "could not renew the leader lease");
                    if last_renewed.elapsed() >= self.settings.renew_deadline {
                        break;
                    }
                }
            }
        }
        let _ = lost.send(());
    }
}

/// A write that lost a race (409) is a refusal, not an error.
fn accepted<T>(result: kube::Result<T>) -> kube::Result<bool> {
    match result {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
        Err(err) => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(holder: Option<&str>, renewed_secs_ago: i64) -> LeaseSpec {
        LeaseSpec {
            holder_identity: holder.map(str::to_owned),
            lease_duration_seconds: Some(15),
            renew_time: Some(MicroTime(
                jiff::Timestamp::now() - jiff::SignedDuration::from_secs(renewed_secs_ago),
            )),
            ..LeaseSpec::default()
        }
    }

    #[test]
    fn a_valid_lease_of_another_is_respected() {
        let now = jiff::Timestamp::now();
        assert_eq!(
            claim(&spec(Some("b"), 3), "a", now),
            Claim::HeldBy("b".into())
        );
    }

    #[test]
    fn an_expired_free_or_own_lease_is_taken() {
        let now = jiff::Timestamp::now();
        assert_eq!(
            claim(&spec(Some("b"), 20), "a", now),
            Claim::Take { transition: true }
        );
        assert_eq!(
            claim(&spec(None, 1), "a", now),
            Claim::Take { transition: true }
        );
        assert_eq!(
            claim(&spec(Some(""), 1), "a", now),
            Claim::Take { transition: true }
        );
        assert_eq!(
            claim(&spec(Some("a"), 1), "a", now),
            Claim::Take { transition: false }
        );
    }
}
