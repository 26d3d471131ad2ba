//! The bounds the client keeps towards Harbor: concurrent requests and requests per second.
//! A small local server counts requests in flight, so the concurrency bound is observed directly.

mod support;

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use harbor_bridge::harbor::HarborClient;

#[derive(Default)]
struct InFlight {
    now: AtomicUsize,
    peak: AtomicUsize,
    total: AtomicUsize,
}

/// Serves `/api/v2.0/ping` slowly over plain HTTP and records the peak number of requests in flight.
async fn counting_server(delay: Duration) -> (String, Arc<InFlight>) {
    let state = Arc::new(InFlight::default());
    let counter = state.clone();
    let app = Router::new().route(
        "/api/v2.0/ping",
        get(move || {
            let counter = counter.clone();
            async move {
                let now = counter.now.fetch_add(1, Ordering::SeqCst) + 1;
                counter.peak.fetch_max(now, Ordering::SeqCst);
                counter.total.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(delay).await;
                counter.now.fetch_sub(1, Ordering::SeqCst);
                "Pong"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, state)
}

#[tokio::test]
async fn no_more_than_the_configured_requests_are_in_flight() {
    let (url, counter) = counting_server(Duration::from_millis(50)).await;
    let mut options = support::options_for(&url, None);
    options.max_concurrent_requests = 3;
    let client = HarborClient::new(&options).unwrap();
    let calls = (0..24).map(|_| {
        let client = client.clone();
        tokio::spawn(async move { client.ping().await })
    });
    for call in futures::future::join_all(calls).await {
        call.unwrap().unwrap();
    }
    assert_eq!(counter.total.load(Ordering::SeqCst), 24);
    let peak = counter.peak.load(Ordering::SeqCst);
    assert_eq!(peak, 3, "peak in flight was {peak}, bound is 3");
}

#[tokio::test]
async fn requests_per_second_are_bounded() {
    let (url, counter) = counting_server(Duration::ZERO).await;
    let mut options = support::options_for(&url, None);
    options.max_concurrent_requests = 1; // burst of one
    options.requests_per_second = NonZeroU32::new(10).unwrap();
    let client = HarborClient::new(&options).unwrap();
    let started = Instant::now();
    for _ in 0..6 {
        client.ping().await.unwrap();
    }
    // The first request is free, the next five wait 100 ms each: a lower bound, so a slow
    // machine cannot make this fail.
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(450),
        "6 requests at 10/s took {elapsed:?}"
    );
    assert_eq!(counter.total.load(Ordering::SeqCst), 6);
}
