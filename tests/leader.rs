//! Leader election against the API stand-in: one worker at a time, takeover after a clean stop
//! and after a crash, and a leader that cannot renew stops working.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use harbor_bridge::leader::{Elector, LeaseSettings};
use kube_standin::{ApiServer, RequestMatch};
use tokio::sync::oneshot;

fn settings(identity: &str) -> LeaseSettings {
    LeaseSettings {
        lease_duration: Duration::from_millis(1500),
        renew_deadline: Duration::from_millis(900),
        renew_interval: Duration::from_millis(200),
        retry_interval: Duration::from_millis(200),
        ..LeaseSettings::new("default", identity)
    }
}

/// Counts instances doing the leader's work; the guard keeps the count right even when the
/// task is aborted (a crash).
#[derive(Default)]
struct Workers {
    active: AtomicUsize,
    peak: AtomicUsize,
    starts: AtomicUsize,
}

struct Working(Arc<Workers>);

impl Working {
    fn new(workers: &Arc<Workers>) -> Self {
        let now = workers.active.fetch_add(1, Ordering::SeqCst) + 1;
        workers.peak.fetch_max(now, Ordering::SeqCst);
        workers.starts.fetch_add(1, Ordering::SeqCst);
        Self(workers.clone())
    }
}

impl Drop for Working {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::SeqCst);
    }
}

struct Instance {
    task: tokio::task::JoinHandle<()>,
    stop: oneshot::Sender<()>,
    leading: Arc<std::sync::atomic::AtomicBool>,
}

fn start(api: &ApiServer, identity: &str, workers: &Arc<Workers>) -> Instance {
    let client = kube::Client::try_from(kube::Config::new(api.url().parse().unwrap())).unwrap();
    let elector = Elector::new(client, settings(identity));
    let (stop, stopped) = oneshot::channel::<()>();
    let leading = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = leading.clone();
    let workers = workers.clone();
    let task = tokio::spawn(async move {
        elector
            .run(
                async {
                    let _ = stopped.await;
                },
                |stop_work| {
                    let workers = workers.clone();
                    async move {
                        let _working = Working::new(&workers);
                        stop_work.await;
                    }
                },
                move |leader| flag.store(leader, Ordering::SeqCst),
            )
            .await;
    });
    Instance {
        task,
        stop,
        leading,
    }
}

async fn until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_leader_at_a_time_and_takeover_after_a_stop_or_a_crash() {
    let api = ApiServer::start().await.unwrap();
    let workers = Arc::new(Workers::default());
    let a = start(&api, "a", &workers);
    let b = start(&api, "b", &workers);
    until("a leader", Duration::from_secs(5), || {
        workers.active.load(Ordering::SeqCst) == 1
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        workers.peak.load(Ordering::SeqCst),
        1,
        "two instances worked at once"
    );
    assert_eq!(
        workers.starts.load(Ordering::SeqCst),
        1,
        "leadership flapped"
    );

    // A clean stop releases the lease: the follower takes over within its retry interval.
    let (leader, follower) = if a.leading.load(Ordering::SeqCst) {
        (a, b)
    } else {
        (b, a)
    };
    let _ = leader.stop.send(());
    leader.task.await.unwrap();
    let took = until("the follower to lead", Duration::from_secs(3), || {
        follower.leading.load(Ordering::SeqCst)
    })
    .await;
    assert!(
        took < Duration::from_millis(1500),
        "took over in {took:?}, before the lease would have expired"
    );
    assert_eq!(workers.active.load(Ordering::SeqCst), 1);

    // A crash leaves the lease held: a new instance takes over only once it has expired.
    let c = start(&api, "c", &workers);
    tokio::time::sleep(Duration::from_millis(300)).await;
    follower.task.abort();
    let took = until("the new instance to lead", Duration::from_secs(5), || {
        c.leading.load(Ordering::SeqCst)
    })
    .await;
    assert!(
        took >= Duration::from_millis(900),
        "took over after {took:?}, before the lease expired"
    );
    assert_eq!(
        workers.peak.load(Ordering::SeqCst),
        1,
        "two instances worked at once"
    );
    let _ = c.stop.send(());
    c.task.await.unwrap();
    assert_eq!(workers.active.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_that_cannot_renew_stops_working_then_recovers() {
    let api = ApiServer::start().await.unwrap();
    let workers = Arc::new(Workers::default());
    let only = start(&api, "only", &workers);
    until("leadership", Duration::from_secs(5), || {
        only.leading.load(Ordering::SeqCst)
    })
    .await;

    let renewals = RequestMatch::any().method("PUT").path_contains("/leases/");
    api.faults().fail_matching(10_000, 500, renewals);
    let stopped = until("the work to stop", Duration::from_secs(5), || {
        workers.active.load(Ordering::SeqCst) == 0
    })
    .await;
    assert!(
        stopped >= Duration::from_millis(700),
        "stopped after {stopped:?}, before the renew deadline"
    );
    assert!(!only.leading.load(Ordering::SeqCst));

    api.faults().clear();
    until("leadership again", Duration::from_secs(5), || {
        only.leading.load(Ordering::SeqCst)
    })
    .await;
    assert_eq!(workers.active.load(Ordering::SeqCst), 1);
    let _ = only.stop.send(());
    only.task.await.unwrap();
}
