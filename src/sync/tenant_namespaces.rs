//! Plain Kubernetes namespaces: `kubectl create namespace team-a` with the tenant label (or one
//! matched by the configured selector) gets a registry `Namespace` of the same name, owned by
//! the Kubernetes namespace, so deleting that namespace cleans Harbor through the same finalizer.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Namespace as KubeNamespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, ObjectMeta, PostParams};
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};

use super::context::Context;
use super::error::Result;
use crate::resources::{RegistryNamespace, RegistryNamespaceSpec, Visibility};

/// Annotation a namespace may carry to ask for a public Harbor project (private by default).
pub const VISIBILITY_ANNOTATION: &str = "registry.tkestack.io/visibility";

/// The tenant a Kubernetes namespace belongs to: its tenant label, else the default tenant when
/// the namespace was selected by the configured selector. Pure.
pub fn tenant_of(
    namespace: &KubeNamespace,
    tenant_label: &str,
    default_tenant: Option<&str>,
) -> Option<String> {
    namespace
        .labels()
        .get(tenant_label)
        .map(String::as_str)
        .or(default_tenant)
        .map(str::to_owned)
}

/// The registry Namespace wanted for a Kubernetes namespace. Pure.
pub fn desired(namespace: &KubeNamespace, tenant: String) -> RegistryNamespace {
    let name = namespace.name_any();
    let visibility = match namespace
        .annotations()
        .get(VISIBILITY_ANNOTATION)
        .map(String::as_str)
    {
        Some("Public") => Visibility::Public,
        _ => Visibility::Private,
    };
    let owner = OwnerReference {
        api_version: "v1".to_owned(),
        kind: "Namespace".to_owned(),
        name: name.clone(),
        uid: namespace.uid().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    };
    RegistryNamespace {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            owner_references: Some(vec![owner]),
            ..ObjectMeta::default()
        },
        spec: RegistryNamespaceSpec {
            name,
            tenant_id: tenant,
            display_name: None,
            visibility,
            deletion_policy: None,
        },
        status: None,
    }
}

pub async fn reconcile(namespace: Arc<KubeNamespace>, ctx: Arc<Context>) -> Result<Action> {
    let started = std::time::Instant::now();
    let result = apply(namespace, &ctx).await;
    ctx.observe_reconcile("KubernetesNamespace", started, &result);
    result
}

async fn apply(namespace: Arc<KubeNamespace>, ctx: &Context) -> Result<Action> {
    if namespace.meta().deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let options = &ctx.options;
    let Some(tenant) = tenant_of(
        &namespace,
        &options.tenant_label,
        options.default_tenant.as_deref(),
    ) else {
        return Ok(Action::await_change());
    };
    let api: Api<RegistryNamespace> = Api::all(ctx.kube.clone());
    let name = namespace.name_any();
    match api.get_opt(&name).await? {
        None => {
            let wanted = desired(&namespace, tenant);
            match api.create(&PostParams::default(), &wanted).await {
                Ok(created) => {
                    tracing::info!(namespace = %name, tenant = %created.spec.tenant_id, "created registry Namespace for a tenant namespace");
                    let note = format!(
                        "Created registry Namespace {name} for tenant {}",
                        created.spec.tenant_id
                    );
                    ctx.event(
                        namespace.as_ref(),
                        false,
                        "RegistryNamespaceCreated",
                        "Create",
                        note,
                    )
                    .await;
                }
                Err(kube::Error::Api(status)) if status.code == 409 => {}
                Err(err) => return Err(err.into()),
            }
        }
        Some(existing) => {
            let ours = existing
                .owner_references()
                .iter()
                .any(|o| o.kind == "Namespace" && Some(&o.uid) == namespace.uid().as_ref());
            if !ours {
                let note = format!(
                    "A registry Namespace named {name} already exists and is not owned by this namespace; it is left alone"
                );
                ctx.event(
                    namespace.as_ref(),
                    true,
                    "RegistryNamespaceExists",
                    "Create",
                    note,
                )
                .await;
            } else if existing.spec.tenant_id != tenant {
                let note = format!(
                    "The tenant label says {tenant} but the registry Namespace {name} belongs to {}; \
                     a tenant cannot change (delete and recreate the namespace to move it)",
                    existing.spec.tenant_id
                );
                ctx.event(namespace.as_ref(), true, "TenantChanged", "Update", note)
                    .await;
            }
        }
    }
    Ok(Action::await_change())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn namespace(labels: &[(&str, &str)], annotations: &[(&str, &str)]) -> KubeNamespace {
        let mut ns = KubeNamespace::default();
        ns.metadata.name = Some("team-a".into());
        ns.metadata.uid = Some("uid-1".into());
        ns.metadata.labels = Some(
            labels
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
        );
        ns.metadata.annotations = Some(
            annotations
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
        );
        ns
    }

    #[test]
    fn the_label_names_the_tenant_and_the_default_covers_selected_namespaces() {
        let labelled = namespace(&[("registry.tkestack.io/tenant", "acme")], &[]);
        assert_eq!(
            tenant_of(&labelled, "registry.tkestack.io/tenant", Some("d")).as_deref(),
            Some("acme")
        );
        let plain = namespace(&[], &[]);
        assert_eq!(tenant_of(&plain, "registry.tkestack.io/tenant", None), None);
        assert_eq!(
            tenant_of(&plain, "registry.tkestack.io/tenant", Some("d")).as_deref(),
            Some("d")
        );
    }

    #[test]
    fn the_registry_namespace_is_owned_private_unless_annotated() {
        let wanted = desired(&namespace(&[], &[]), "acme".into());
        assert_eq!(wanted.spec.name, "team-a");
        assert_eq!(wanted.spec.tenant_id, "acme");
        assert_eq!(wanted.spec.visibility, Visibility::Private);
        let owner = &wanted.metadata.owner_references.unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.uid.as_str()),
            ("Namespace", "uid-1")
        );
        let public = desired(
            &namespace(&[], &[(VISIBILITY_ANNOTATION, "Public")]),
            "acme".into(),
        );
        assert_eq!(public.spec.visibility, Visibility::Public);
    }
}
