//! Fault injection as a client sees it, and HTTPS with a generated CA.

mod common;

use std::time::{Duration, Instant};

use common::Who::{Admin, Anonymous};
use common::{Api, Reply, client_trusting, start, start_https};
use harbor_emulator::pki::TestCa;
use harbor_emulator::{InjectedFault, Profile};
use reqwest::Method;
use serde_json::json;

const PING: &str = "/api/v2.0/ping";
const PROJECTS: &str = "/api/v2.0/projects";

#[tokio::test]
async fn fail_next_answers_like_harbor_or_its_proxy() {
    let emu = start(Profile::Harbor28).await;
    let api = Api::new(&emu);
    emu.faults().fail_next(1, 500);
    emu.faults().fail_next(1, 429);
    emu.faults().fail_next(1, 503);
    emu.faults().fail_next(1, 502);

    let ping = || api.call(Anonymous, Method::GET, PING);
    let reply = ping().await;
    assert_eq!(reply.status, 500);
    assert_eq!(
        reply.text,
        "{\"errors\":[{\"code\":\"UNKNOWN\",\"message\":\"internal server error\"}]}\n"
    );
    let reply = ping().await;
    assert_eq!((reply.status, reply.code()), (429, "TOO_MANY_REQUEST"));
    for want in [503, 502] {
        let reply = ping().await;
        assert_eq!(reply.status, want);
        assert!(reply.text.contains(&want.to_string()));
    }
    assert_eq!(ping().await.status, 200);
    assert_eq!(emu.faults().injected(), 4);
    let faults: Vec<_> = emu.calls().iter().filter_map(|c| c.fault).collect();
    assert_eq!(
        faults,
        [500, 429, 503, 502].map(InjectedFault::Status).to_vec()
    );
}

#[tokio::test]
async fn failed_requests_have_no_effect_and_matching_is_by_method_and_prefix() {
    let emu = start(Profile::Harbor28).await;
    let api = Api::new(&emu);
    emu.faults()
        .fail_next_matching(1, Method::POST, PROJECTS, 503);
    // A GET on the same path is not affected.
    assert_eq!(api.status(Admin, Method::GET, PROJECTS).await, 200);
    let body = json!({"project_name": "p"});
    let post = || api.send_json(Admin, Method::POST, PROJECTS, &body);
    assert_eq!(post().await.status, 503);
    assert!(emu.project("p").is_none());
    assert_eq!(post().await.status, 201);
}

#[tokio::test]
async fn fail_fraction_is_seeded_and_clear_stops_it() {
    let run = |seed| async move {
        let emu = start(Profile::Harbor28).await;
        emu.faults().fail_fraction(0.5, seed);
        let api = Api::new(&emu);
        let mut statuses = Vec::new();
        for _ in 0..40 {
            statuses.push(api.status(Anonymous, Method::GET, PING).await);
        }
        emu.faults().clear();
        assert_eq!(api.status(Anonymous, Method::GET, PING).await, 200);
        statuses
    };
    let first = run(42).await;
    assert_eq!(first, run(42).await, "same seed, same failures");
    let failures = first.iter().filter(|s| **s != 200).count();
    assert!((8..=32).contains(&failures), "{failures} of 40");
    assert!(first.iter().all(|s| [200, 500, 502, 503, 429].contains(s)));
}

#[tokio::test]
async fn latency_delays_every_call() {
    let emu = start(Profile::Harbor28).await;
    emu.faults().latency(Duration::from_millis(150));
    let api = Api::new(&emu);
    let started = Instant::now();
    assert_eq!(api.status(Anonymous, Method::GET, PING).await, 200);
    assert!(started.elapsed() >= Duration::from_millis(150));
}

#[tokio::test]
async fn drop_next_closes_the_connection_and_changes_nothing() {
    let emu = start(Profile::Harbor28).await;
    let api = Api::new(&emu);
    emu.faults().drop_next(1);
    let result = api
        .admin(Method::POST, PROJECTS)
        .json(&json!({"project_name": "dropped"}))
        .send()
        .await;
    let error = result.expect_err("a transport error, not an HTTP response");
    assert!(error.status().is_none(), "{error:?}");
    assert!(emu.project("dropped").is_none());
    let call = emu.calls().pop().unwrap();
    assert_eq!(
        (call.fault, call.status),
        (Some(InjectedFault::Dropped), None)
    );
    // The next request is served normally.
    assert_eq!(api.status(Anonymous, Method::GET, PING).await, 200);
}

async fn lost_reply_applies_the_request(emu: &harbor_emulator::Emulator, client: reqwest::Client) {
    emu.faults().lose_reply_next(1, Method::POST, PROJECTS);
    let api = Api::with_client(emu, client);
    let post = || {
        api.admin(Method::POST, PROJECTS)
            .json(&json!({"project_name": "lost"}))
            .send()
    };
    let error = post().await.expect_err("the reply is lost");
    assert!(error.status().is_none(), "{error:?}");
    assert!(emu.project("lost").is_some(), "the request was applied");
    let call = emu.calls().pop().unwrap();
    assert_eq!(
        (call.fault, call.status),
        (Some(InjectedFault::LostReply), Some(201))
    );
    // The client's retry now meets the 409 it has to settle by reading.
    let reply = Reply::read(post().await.unwrap()).await;
    assert_eq!(
        (reply.status, reply.message()),
        (409, "The project named lost already exists")
    );
}

#[tokio::test]
async fn lose_reply_over_http() {
    let emu = start(Profile::Harbor28).await;
    lost_reply_applies_the_request(&emu, common::client()).await;
}

#[tokio::test]
async fn lose_reply_over_https() {
    let ca = TestCa::generate("test ca").unwrap();
    let emu = start_https(&ca, &["127.0.0.1", "localhost"]).await;
    lost_reply_applies_the_request(&emu, client_trusting(&[ca.cert_pem()])).await;
}

#[tokio::test]
async fn https_with_the_generated_ca_only() {
    let ca = TestCa::generate("harbor test ca").unwrap();
    let other = TestCa::generate("someone else").unwrap();
    let emu = start_https(&ca, &["127.0.0.1", "localhost"]).await;
    assert!(emu.base_url().starts_with("https://127.0.0.1:"));

    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    ca.write_cert_pem(&ca_file).unwrap();
    let pem = std::fs::read_to_string(&ca_file).unwrap();

    let url = format!("{}/api/v2.0/systeminfo", emu.base_url());
    let trusted = client_trusting(&[&pem]);
    assert_eq!(trusted.get(&url).send().await.unwrap().status(), 200);
    let untrusted = client_trusting(&[other.cert_pem()]);
    let error = untrusted.get(&url).send().await.expect_err("unknown CA");
    assert!(error.is_connect(), "{error:?}");

    // Rotation: new handshakes get the new certificate.
    emu.set_tls_identity(other.issue_server(&["127.0.0.1"]).unwrap())
        .unwrap();
    assert_eq!(
        client_trusting(&[other.cert_pem()])
            .get(&url)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert!(client_trusting(&[&pem]).get(&url).send().await.is_err());

    let plain = start(Profile::Harbor28).await;
    assert!(plain.base_url().starts_with("http://"));
    assert!(
        plain
            .set_tls_identity(ca.issue_server(&["127.0.0.1"]).unwrap())
            .is_err()
    );
}

#[tokio::test]
async fn shutdown_stops_serving() {
    let emu = start(Profile::Harbor28).await;
    let url = format!("{}/api/v2.0/ping", emu.base_url());
    emu.shutdown().await;
    assert!(common::client().get(&url).send().await.is_err());
}
