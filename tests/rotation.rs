//! Rotation without a restart: a new CA bundle and a new password file are picked up by the
//! running client (through the same file watcher the daemon runs).

mod support;

use std::time::Duration;

use harbor_bridge::harbor::rotation::watch_files;
use harbor_bridge::harbor::{ClientOptions, ErrorKind, HarborClient};
use harbor_bridge::metrics::Metrics;
use harbor_bridge::resources::RegistryNamespace;
use harbor_emulator::Profile;
use harbor_emulator::pki::TestCa;
use kube::api::{Api, PostParams};
use serde_json::json;
use support::{Daemon, Harbor, Platform, eventually, fast_options};

const WATCH_EVERY: Duration = Duration::from_millis(50);
const WAIT: Duration = Duration::from_secs(20);

/// A client watching its own files, as `daemon::run` sets it up.
fn watched_client(options: &ClientOptions) -> (HarborClient, Metrics, tokio::task::JoinHandle<()>) {
    let metrics = Metrics::new();
    let client = HarborClient::new(options)
        .expect("client builds")
        .with_metrics(metrics.clone());
    let watcher = tokio::spawn(watch_files(client.clone(), options.clone(), WATCH_EVERY));
    (client, metrics, watcher)
}

fn reloads(metrics: &Metrics, file: &str, result: &str) -> String {
    let series = format!("harbor_bridge_file_reloads_total{{file=\"{file}\",result=\"{result}\"}}");
    let text = metrics.encode().unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(&series))
        .map(|value| value.trim().to_owned())
        .unwrap_or_else(|| "0".to_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rotated_ca_and_server_certificate_are_trusted_without_a_restart() {
    let harbor = Harbor::start(Profile::Harbor28).await;
    let options = harbor.options();
    let (client, metrics, watcher) = watched_client(&options);
    client
        .create_project("before-rotation", false)
        .await
        .unwrap();

    // Harbor's ingress Secret gets a new CA and certificate; the old CA is gone from both.
    let rotated = TestCa::generate("rotated harbor-bridge test CA").unwrap();
    harbor
        .emulator
        .set_tls_identity(rotated.issue_server(&["127.0.0.1", "localhost"]).unwrap())
        .unwrap();
    let stale = HarborClient::new(&options).unwrap();
    let err = stale.list_projects().await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Untrusted, "{err}");

    // The mounted Secret is updated; a half-written file first, as a kubelet swap can expose.
    std::fs::write(&harbor.ca_file, "-----BEGIN CERTIF").unwrap();
    eventually("the half-written CA file to be refused", WAIT, || async {
        match reloads(&metrics, "tls", "error").as_str() {
            "1" => Ok(()),
            other => Err(format!("{other} failed reloads")),
        }
    })
    .await;
    std::fs::write(&harbor.ca_file, rotated.cert_pem()).unwrap();
    eventually("the rotated CA file to be loaded", WAIT, || async {
        match reloads(&metrics, "tls", "ok").as_str() {
            "1" => Ok(()),
            other => Err(format!("{other} reloads")),
        }
    })
    .await;

    // The kept connection was made under the old CA; drop it so the next call must handshake
    // against the rotated certificate (the retry does, on a new connection).
    harbor.emulator.faults().drop_next(1);
    client.create_project("after-rotation", true).await.unwrap();
    assert!(harbor.emulator.project("after-rotation").is_some());
    watcher.abort();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rotated_password_file_is_used_without_a_restart() {
    let harbor = Harbor::start(Profile::Harbor28).await;
    let platform = Platform::start().await;
    // Harbor's admin password was changed; the mounted Secret still holds the old one.
    let password_file = harbor.dir().join("password");
    std::fs::write(&password_file, "the-previous-password\n").unwrap();
    let options = ClientOptions {
        password: secrecy::SecretString::from("the-previous-password"),
        password_file: Some(password_file.clone()),
        ..harbor.options()
    };
    let (client, metrics, watcher) = watched_client(&options);
    let daemon = Daemon::start_with_client(&platform, client, fast_options(), false).await;

    let namespaces: Api<RegistryNamespace> = Api::all(platform.client.clone());
    let namespace: RegistryNamespace = serde_json::from_value(json!({
        "apiVersion": "registry.tkestack.io/v1",
        "kind": "Namespace",
        "metadata": {"name": "rotating"},
        "spec": {"name": "team", "tenantID": "acme", "visibility": "Private"}
    }))
    .unwrap();
    namespaces
        .create(&PostParams::default(), &namespace)
        .await
        .unwrap();
    let ready = |expected: &'static str| {
        let namespaces = namespaces.clone();
        async move {
            let object = namespaces
                .get("rotating")
                .await
                .map_err(|e| e.to_string())?;
            let condition = object
                .status
                .as_ref()
                .and_then(|s| s.sync.ready_condition())
                .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()));
            match condition {
                Some((status, reason, message)) if status == expected => Ok((reason, message)),
                other => Err(format!("Ready is {other:?}")),
            }
        }
    };
    let (reason, message) = eventually("Ready=False for the stale password", WAIT, || {
        ready("False")
    })
    .await;
    assert_eq!(reason, "HarborUnauthorized", "{message}");
    assert!(!message.contains("the-previous-password"), "{message}");
    assert!(harbor.emulator.project("acme-image-team").is_none());

    std::fs::write(&password_file, format!("{}\n", support::PASSWORD)).unwrap();
    eventually("Ready=True with the rotated password", WAIT, || {
        ready("True")
    })
    .await;
    assert!(harbor.emulator.project("acme-image-team").is_some());
    assert_eq!(reloads(&metrics, "password", "ok"), "1");

    daemon.stop().await;
    watcher.abort();
}
