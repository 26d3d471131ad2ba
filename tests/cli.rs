//! The `harbor-bridge` binary as an operator runs it: `check`, `crds`, `--help`, bad configuration.

mod support;

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use harbor_bridge::resources;
use harbor_emulator::Profile;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, PostParams};
use kube_standin::ApiServer;
use support::{Harbor, PASSWORD, PROFILES};

/// Runs the binary with a clean environment (no inherited HARBOR_BRIDGE_* or KUBECONFIG).
async fn harbor_bridge(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_harbor-bridge"));
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    command.env("HOME", "/nonexistent").env("RUST_LOG", "warn");
    for (key, value) in env {
        command.env(key, value);
    }
    tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .expect("harbor-bridge finished within a minute")
        .expect("harbor-bridge ran")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn write_kubeconfig(dir: &Path, server: &str) -> String {
    let path = dir.join("kubeconfig");
    let yaml = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: standin\n  cluster:\n    server: {server}\n\
         users:\n- name: standin\n  user: {{}}\ncontexts:\n- name: standin\n  context:\n    cluster: standin\n    user: standin\n\
         current-context: standin\n"
    );
    std::fs::write(&path, yaml).unwrap();
    path.display().to_string()
}

async fn cluster_with_crds(install: bool) -> ApiServer {
    let api = ApiServer::start().await.unwrap();
    if install {
        let client = kube::Client::try_from(kube::Config::new(api.url().parse().unwrap())).unwrap();
        let crds: Api<CustomResourceDefinition> = Api::all(client);
        for crd in resources::crds() {
            crds.create(&PostParams::default(), &crd).await.unwrap();
        }
    }
    api
}

#[tokio::test(flavor = "multi_thread")]
async fn check_reports_version_backend_credentials_and_crds_for_both_harbor_generations() {
    for profile in PROFILES {
        let harbor = Harbor::start(profile).await;
        let api = cluster_with_crds(true).await;
        let kubeconfig = write_kubeconfig(harbor.dir(), &api.url());
        let url = harbor.emulator.base_url();
        let ca = harbor.ca_file.display().to_string();
        let output = harbor_bridge(
            &["check"],
            &[
                ("HARBOR_BRIDGE_HARBOR_URL", &url),
                ("HARBOR_BRIDGE_HARBOR_CA_FILE", &ca),
                ("HARBOR_BRIDGE_HARBOR_PASSWORD", PASSWORD),
                ("KUBECONFIG", &kubeconfig),
            ],
        )
        .await;
        let out = text(&output);
        assert!(output.status.success(), "{profile:?}: {out}");
        assert!(out.contains(&url), "{out}");
        assert!(out.contains("accepted for user \"admin\""), "{out}");
        assert!(out.contains("4 of 4"), "{out}");
        let (version, backend) = match profile {
            Profile::Harbor27 => ("v2.7.0", "ChartMuseum"),
            Profile::Harbor28 => ("v2.", "OCI"),
        };
        assert!(
            out.contains(version) && out.contains(backend),
            "{profile:?}: {out}"
        );
        assert!(!out.contains(PASSWORD), "password printed: {out}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn check_names_each_problem_in_one_sentence() {
    let harbor = Harbor::start(Profile::Harbor28).await;
    let api = cluster_with_crds(false).await;
    let kubeconfig = write_kubeconfig(harbor.dir(), &api.url());
    let url = harbor.emulator.base_url();
    let output = harbor_bridge(
        &["check"],
        &[
            ("HARBOR_BRIDGE_HARBOR_URL", &url),
            // No CA file: the emulator's certificate is not trusted.
            ("HARBOR_BRIDGE_HARBOR_PASSWORD", PASSWORD),
            ("KUBECONFIG", &kubeconfig),
        ],
    )
    .await;
    let out = text(&output);
    assert_eq!(output.status.code(), Some(1), "{out}");
    assert!(
        out.contains("not trusted") && out.contains("harbor.caFile"),
        "{out}"
    );
    assert!(out.contains("is not installed"), "{out}");

    let ca = harbor.ca_file.display().to_string();
    let output = harbor_bridge(
        &["check"],
        &[
            ("HARBOR_BRIDGE_HARBOR_URL", &url),
            ("HARBOR_BRIDGE_HARBOR_CA_FILE", &ca),
            ("HARBOR_BRIDGE_HARBOR_PASSWORD", "wrong"),
            ("KUBECONFIG", &kubeconfig),
        ],
    )
    .await;
    let out = text(&output);
    assert_eq!(output.status.code(), Some(1), "{out}");
    assert!(
        out.contains("refused the credentials of user \"admin\""),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn check_against_an_unreachable_harbor_fails_fast_and_plainly() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    drop(listener);
    let started = Instant::now();
    let output = harbor_bridge(
        &["check", "--harbor-connect-timeout", "2s"],
        &[
            ("HARBOR_BRIDGE_HARBOR_URL", &url),
            ("HARBOR_BRIDGE_HARBOR_PASSWORD", "x"),
        ],
    )
    .await;
    let out = text(&output);
    assert_eq!(output.status.code(), Some(1), "{out}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        out.contains(&format!("Harbor at {url} is unreachable")),
        "{out}"
    );
    assert!(
        !out.contains("panicked") && !out.contains("stack backtrace"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn check_embedded_passes() {
    let output = harbor_bridge(&["check", "--embedded", "--embedded-harbor", "2.7"], &[]).await;
    let out = text(&output);
    assert!(output.status.success(), "{out}");
    assert!(out.contains("ChartMuseum"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_configuration_names_the_key() {
    let output = harbor_bridge(
        &["check"],
        &[
            ("HARBOR_BRIDGE_HARBOR_URL", "http://harbor.example.com"),
            ("HARBOR_BRIDGE_HARBOR_PASSWORD", "x"),
        ],
    )
    .await;
    let out = text(&output);
    assert_eq!(output.status.code(), Some(1), "{out}");
    assert!(out.contains("harbor.url"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn crds_prints_exactly_what_crds_dir_holds() {
    let output = harbor_bridge(&["crds"], &[]).await;
    assert!(output.status.success());
    let committed = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("crds/registry.tkestack.io.yaml"),
    )
    .unwrap();
    assert_eq!(String::from_utf8(output.stdout).unwrap(), committed);
}

#[tokio::test(flavor = "multi_thread")]
async fn help_explains_the_commands() {
    let output = harbor_bridge(&["--help"], &[]).await;
    let out = text(&output);
    assert!(output.status.success(), "{out}");
    for needle in [
        "run",
        "check",
        "crds",
        "--embedded",
        "HARBOR_BRIDGE_HARBOR_PASSWORD",
    ] {
        assert!(out.contains(needle), "--help lacks {needle}: {out}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_plays_its_scenario_on_both_harbor_generations() {
    for version in ["2.7", "2.8"] {
        let output = harbor_bridge(&["demo", "--embedded-harbor", version], &[]).await;
        let out = text(&output);
        assert!(output.status.success(), "{version}: {out}");
        for needle in [
            "acme-image-web",
            "v1@sha256:",
            "v2@sha256:",
            "invalid character 'B'",
            "the Namespace team-blue and its project to be deleted",
            "==> Done",
        ] {
            assert!(out.contains(needle), "{version}: no {needle:?} in {out}");
        }
        assert!(!out.contains("panicked"), "{out}");
    }
}
