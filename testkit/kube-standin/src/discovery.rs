//! Discovery documents (`/version`, `/api`, `/apis`, `/apis/{group}[/{version}]`), enough for
//! `kube::discovery`. Aggregated discovery (`apidiscovery.k8s.io/v2`) is not served.

use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::resources::{Registry, ResourceType};

// simplification: only the legacy discovery documents; aggregated discovery
// (`Accept: ...;as=APIGroupDiscoveryList`) gets the same legacy answer.
pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": "33",
        "gitVersion": "v1.33.0-standin",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-01-01T00:00:00Z",
        "goVersion": "go1.24.0",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

pub fn core_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    })
}

fn group_doc(name: &str, versions: &[&str]) -> Value {
    let versions: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v}))
        .collect();
    json!({
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": name,
        "versions": versions,
        "preferredVersion": versions.first(),
    })
}

pub fn groups(registry: &Registry) -> Value {
    let groups: Vec<Value> = registry
        .groups()
        .iter()
        .filter(|(name, _)| !name.is_empty())
        .map(|(name, versions)| group_doc(name, versions))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

pub fn group(registry: &Registry, name: &str) -> ApiResult<Value> {
    registry
        .groups()
        .get(name)
        .filter(|_| !name.is_empty())
        .map(|versions| group_doc(name, versions))
        .ok_or_else(ApiError::no_route)
}

fn resource_docs(rt: &ResourceType) -> Vec<Value> {
    let verbs = [
        "create",
        "delete",
        "deletecollection",
        "get",
        "list",
        "patch",
        "update",
        "watch",
    ];
    let mut docs = vec![json!({
        "name": rt.plural,
        "singularName": rt.singular,
        "namespaced": rt.namespaced,
        "kind": rt.kind,
        "verbs": verbs,
        "shortNames": rt.short_names,
    })];
    if rt.status_subresource {
        docs.push(json!({
            "name": format!("{}/status", rt.plural),
            "singularName": "",
            "namespaced": rt.namespaced,
            "kind": rt.kind,
            "verbs": ["get", "patch", "update"],
        }));
    }
    docs
}

pub fn resources(registry: &Registry, group: &str, version: &str) -> ApiResult<Value> {
    let resources: Vec<Value> = registry
        .all()
        .filter(|rt| rt.group == group && rt.serves(version))
        .flat_map(resource_docs)
        .collect();
    if resources.is_empty() {
        return Err(ApiError::no_route());
    }
    let group_version = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    Ok(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }))
}
