//! Every request the client sends must be a method and path that the Harbor spec of that version
//! documents (`../shared/harbor-api/*.yaml`, verbatim from goharbor/harbor). The emulator's side
//! of the same rule is tested in `testkit/harbor-emulator`.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use harbor_bridge::harbor::{HarborClient, WebhookPolicy, WebhookTarget};
use harbor_emulator::spec::{Spec, UNDOCUMENTED_ROUTES};
use harbor_emulator::{Method, Profile};
use support::{Harbor, PROFILES};

fn spec_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/harbor-api")
}

/// Calls every public operation of the client once (and some error paths).
async fn exercise(client: &HarborClient, harbor: &Harbor, profile: Profile) {
    client.system_info().await.unwrap();
    client.ping().await.unwrap();
    client.health().await.unwrap();
    client.verify_credentials().await.unwrap();
    client.create_project("t-image-a", false).await.unwrap();
    client.get_project("t-image-a").await.unwrap().unwrap();
    assert!(client.get_project("absent").await.unwrap().is_none());
    assert!(client.project_exists("t-image-a").await.unwrap());
    client.set_project_public("t-image-a", true).await.unwrap();
    client.list_projects().await.unwrap();
    harbor.emulator.push_image("t-image-a", "team/app", "v1");
    client.project_deletable("t-image-a").await.unwrap();
    client.list_repositories("t-image-a").await.unwrap();
    client
        .get_repository("t-image-a", "team/app")
        .await
        .unwrap()
        .unwrap();
    client
        .list_artifacts("t-image-a", "team/app")
        .await
        .unwrap();
    client
        .delete_artifact("t-image-a", "team/app", "v1")
        .await
        .unwrap();
    client
        .delete_repository("t-image-a", "team/app")
        .await
        .unwrap();
    let policy = WebhookPolicy {
        id: None,
        name: "harbor-bridge".into(),
        description: String::new(),
        enabled: true,
        event_types: vec!["PUSH_ARTIFACT".into()],
        targets: vec![WebhookTarget {
            target_type: "http".into(),
            address: "https://bridge.example/harbor/events".into(),
            auth_header: None,
            skip_cert_verify: false,
            payload_format: None,
        }],
    };
    client
        .create_webhook_policy("t-image-a", &policy)
        .await
        .unwrap();
    let policies = client.list_webhook_policies("t-image-a").await.unwrap();
    let id = policies[0].id.expect("Harbor returns policy ids");
    client.delete_webhook_policy("t-image-a", id).await.unwrap();
    client.delete_project("t-image-a").await.unwrap();
    if profile == Profile::Harbor27 {
        harbor.emulator.create_project("t-chart-a", false);
        for version in ["1.0.0", "1.1.0"] {
            harbor
                .emulator
                .upload_chart("t-chart-a", "nginx", version)
                .unwrap();
        }
        client.list_charts("t-chart-a").await.unwrap();
        client
            .list_chart_versions("t-chart-a", "nginx")
            .await
            .unwrap();
        client
            .delete_chart_version("t-chart-a", "nginx", "1.0.0")
            .await
            .unwrap();
        client.delete_chart("t-chart-a", "nginx").await.unwrap();
    }
}

#[tokio::test]
async fn every_client_call_is_in_the_harbor_spec_of_that_version() {
    for profile in PROFILES {
        let harbor = Harbor::start(profile).await;
        exercise(&harbor.client(), &harbor, profile).await;
        let spec = Spec::for_profile(spec_dir(), profile).expect("spec files load");
        let mut routes = BTreeSet::new();
        for call in harbor.emulator.calls() {
            let template = spec
                .matches(&call.method, &call.raw_path)
                .unwrap_or_else(|| {
                    panic!(
                        "{profile:?}: the client called {} {}, which the spec does not have",
                        call.method, call.raw_path
                    )
                });
            assert!(
                !UNDOCUMENTED_ROUTES
                    .iter()
                    .any(|(m, p)| *m == call.method && *p == template),
                "{profile:?}: the client relies on the undocumented {template}"
            );
            routes.insert((call.method.to_string(), template.to_owned()));
        }
        // 19 distinct routes for images, projects and webhooks, 4 more for ChartMuseum.
        let expected = if profile == Profile::Harbor27 { 23 } else { 19 };
        assert_eq!(routes.len(), expected, "{profile:?}: {routes:#?}");
    }
}

#[test]
fn the_matcher_rejects_what_harbor_does_not_have() {
    let head = Spec::for_profile(spec_dir(), Profile::Harbor28).unwrap();
    assert!(
        head.matches(&Method::GET, "/api/chartrepo/p/charts")
            .is_none(),
        "ChartMuseum is gone in 2.8+"
    );
    assert!(
        head.matches(&Method::PATCH, "/api/v2.0/projects/p")
            .is_none(),
        "no PATCH on projects"
    );
    let v27 = Spec::for_profile(spec_dir(), Profile::Harbor27).unwrap();
    assert!(
        v27.matches(&Method::GET, "/api/chartrepo/p/charts")
            .is_some()
    );
}
