//! `harbor-bridge demo`: the real daemon (controllers and webhook receiver) against the embedded
//! Harbor emulator and API stand-in, playing a short scenario and printing both sides.

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use k8s_openapi::api::core::v1::Namespace as KubeNamespace;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde_json::json;

use crate::config::Settings;
use crate::daemon;
use crate::embedded::Embedded;
use crate::resources::{RegistryNamespace, Repository};

const PATIENCE: Duration = Duration::from_secs(30);

/// Plays the scenario, then stops the daemon.
pub async fn run(
    embedded: &Embedded,
    settings: Settings,
    kube: kube::Client,
) -> anyhow::Result<()> {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let daemon = tokio::spawn(daemon::run(settings, kube.clone(), async {
        let _ = stopped.await;
    }));
    let outcome = scenario(embedded, &kube).await;
    let _ = stop.send(());
    daemon.await.context("daemon task")??;
    outcome
}

async fn scenario(embedded: &Embedded, kube: &kube::Client) -> anyhow::Result<()> {
    let harbor = &embedded.harbor;
    let namespaces: Api<RegistryNamespace> = Api::all(kube.clone());
    let kube_namespaces: Api<KubeNamespace> = Api::all(kube.clone());

    step("Tenants create image namespaces (one with a name Harbor would refuse)");
    for (object, tenant, name, visibility) in [
        ("rns-acme-web", "acme", "web", "Public"),
        ("rns-acme-internal", "acme", "internal", "Private"),
        ("rns-globex-apps", "globex", "apps", "Private"),
        ("rns-acme-bad", "acme", "Bad_Name", "Private"),
    ] {
        let namespace: RegistryNamespace = serde_json::from_value(json!({
            "apiVersion": "registry.tkestack.io/v1", "kind": "Namespace",
            "metadata": {"name": object},
            "spec": {"name": name, "tenantID": tenant, "visibility": visibility}
        }))?;
        namespaces
            .create(&PostParams::default(), &namespace)
            .await?;
        println!(
            "  kubectl create: Namespace {object} (tenant {tenant}, name {name}, {visibility})"
        );
    }
    step("kubectl create namespace team-blue, labelled registry.tkestack.io/tenant=globex");
    let team: KubeNamespace = serde_json::from_value(json!({
        "metadata": {"name": "team-blue", "labels": {"registry.tkestack.io/tenant": "globex"}}
    }))?;
    kube_namespaces
        .create(&PostParams::default(), &team)
        .await?;
    wait("every namespace to be reconciled", || async {
        let list = namespaces.list(&ListParams::default()).await.ok()?;
        (list.items.len() == 5 && list.items.iter().all(|n| ready(n).is_some())).then_some(())
    })
    .await?;
    show_platform(&namespaces).await?;
    show_harbor(embedded);

    step("Images are pushed to Harbor (as `docker push` would); Harbor's webhooks tell the daemon");
    for (project, repository, tag) in [
        ("acme-image-web", "frontend", "v1"),
        ("acme-image-web", "frontend", "v2"),
        ("acme-image-web", "team/api", "1.0"),
        ("globex-image-team-blue", "worker", "latest"),
    ] {
        let digest = harbor.push_image(project, repository, tag);
        println!("  push {project}/{repository}:{tag} ({})", &digest[..19]);
    }
    let repositories: Api<Repository> = Api::all(kube.clone());
    wait("the pushes to show up as Repository resources", || async {
        let list = repositories.list(&ListParams::default()).await.ok()?;
        let tags: usize = list
            .items
            .iter()
            .filter_map(|r| r.status.as_ref())
            .map(|s| s.tags.len())
            .sum();
        (tags == 4).then_some(())
    })
    .await?;
    show_repositories(&repositories).await?;

    step("Deleting a Repository on the platform deletes it in Harbor");
    let frontend = repositories
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .find(|r| r.spec.name == "frontend")
        .context("the frontend Repository")?;
    Api::<Repository>::namespaced(kube.clone(), &frontend.namespace().unwrap_or_default())
        .delete(&frontend.name_any(), &DeleteParams::default())
        .await?;
    wait("acme-image-web/frontend to leave Harbor", || async {
        (!harbor
            .repositories("acme-image-web")
            .iter()
            .any(|r| r.ends_with("/frontend")))
        .then_some(())
    })
    .await?;
    println!(
        "  Harbor repositories of acme-image-web: {:?}",
        harbor.repositories("acme-image-web")
    );

    step("Deleting the Namespace rns-acme-web empties and deletes its Harbor project");
    namespaces
        .delete("rns-acme-web", &DeleteParams::default())
        .await?;
    wait("acme-image-web to be deleted", || async {
        harbor.project("acme-image-web").is_none().then_some(())
    })
    .await?;
    step("kubectl delete namespace team-blue takes its project along");
    kube_namespaces
        .delete("team-blue", &DeleteParams::default())
        .await?;
    wait(
        "the Namespace team-blue and its project to be deleted",
        || async {
            let gone = namespaces.get_opt("team-blue").await.ok()?.is_none();
            (gone && harbor.project("globex-image-team-blue").is_none()).then_some(())
        },
    )
    .await?;
    show_platform(&namespaces).await?;
    show_harbor(embedded);

    let calls = harbor.calls();
    let writes = calls
        .iter()
        .filter(|c| !matches!(c.method.as_str(), "GET" | "HEAD"))
        .count();
    step("Done");
    println!(
        "  The daemon made {} Harbor calls ({writes} writes). Every name, status and event above came from the real controllers.",
        calls.len()
    );
    Ok(())
}

fn step(title: &str) {
    println!("\n==> {title}");
}

fn ready(namespace: &RegistryNamespace) -> Option<(String, String)> {
    let condition = namespace.status.as_ref()?.sync.ready_condition()?;
    Some((condition.status.clone(), condition.message.clone()))
}

async fn show_platform(namespaces: &Api<RegistryNamespace>) -> anyhow::Result<()> {
    println!("  Platform: registry Namespaces");
    println!(
        "    {:<20} {:<8} {:<26} {:<6} {:>5}  note",
        "NAME", "TENANT", "HARBOR PROJECT", "READY", "REPOS"
    );
    for namespace in namespaces.list(&ListParams::default()).await?.items {
        let status = namespace.status.clone().unwrap_or_default();
        let project = status
            .sync
            .harbor_project
            .as_ref()
            .map(|b| b.name.clone())
            .unwrap_or_default();
        let (ready, note) = ready(&namespace).unwrap_or_default();
        let note = if ready == "True" { String::new() } else { note };
        println!(
            "    {:<20} {:<8} {:<26} {:<6} {:>5}  {note}",
            namespace.name_any(),
            namespace.spec.tenant_id,
            project,
            ready,
            status.repo_count
        );
    }
    Ok(())
}

fn show_harbor(embedded: &Embedded) {
    println!("  Harbor: projects");
    for name in embedded.harbor.project_names() {
        if let Some(project) = embedded.harbor.project(&name) {
            let visibility = if project.public { "public" } else { "private" };
            let policies = project.webhook_policies.len();
            println!(
                "    {name:<26} id {:<3} {visibility:<8} {} repositories, {policies} webhook policy",
                project.id, project.repo_count
            );
        }
    }
}

async fn show_repositories(repositories: &Api<Repository>) -> anyhow::Result<()> {
    println!("  Platform: Repository resources (status mirrors Harbor)");
    for repository in repositories.list(&ListParams::default()).await?.items {
        let tags: Vec<String> = repository
            .status
            .iter()
            .flat_map(|s| {
                s.tags
                    .iter()
                    .map(|t| format!("{}@{}", t.name, &t.digest[..15]))
            })
            .collect();
        println!(
            "    {}/{:<32} {:<14} tags {}",
            repository.namespace().unwrap_or_default(),
            repository.name_any(),
            repository.spec.name,
            tags.join(", ")
        );
    }
    Ok(())
}

async fn wait<F, Fut>(what: &str, mut done: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<()>>,
{
    let started = Instant::now();
    while started.elapsed() < PATIENCE {
        if done().await.is_some() {
            println!("  ... {what}: {} ms", started.elapsed().as_millis());
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("gave up after {PATIENCE:?} waiting for {what}")
}
