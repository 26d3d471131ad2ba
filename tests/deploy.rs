//! The Kubernetes manifests in `deploy/`: they render with `kubectl kustomize`, every object is a
//! well-formed typed Kubernetes object, the RBAC grants exactly `daemon::PERMISSIONS`, the
//! Deployment is locked down and mounts what the config names, and the config is accepted by the
//! daemon's own loader. Each check is also run against a broken copy, to show that it can fail.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use harbor_bridge::config::{EnvSecrets, FileConfig, Overrides, Settings};
use harbor_bridge::daemon::PERMISSIONS;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{
    ConfigMap, Container, Namespace, PodSpec, Secret, Service, ServiceAccount,
};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Serialize;
use serde::de::DeserializeOwned;

const NAMESPACE: &str = "harbor-bridge";
const IMAGE: &str = "harbor-bridge:latest";
const CONFIG_PATH: &str = "/etc/harbor-bridge/config/harbor-bridge.yaml";
const PASSWORD_PATH: &str = "/etc/harbor-bridge/credentials/password";
const WEBHOOK_SECRET_PATH: &str = "/etc/harbor-bridge/webhook/secret";
const CA_PATH: &str = "/etc/harbor-bridge/ca/ca.crt";
const PASSWORD_SECRET: (&str, &str) = ("harbor-bridge-credentials", "password");
const WEBHOOK_SECRET: (&str, &str) = ("harbor-bridge-webhook", "secret");
const CA_SECRET: (&str, &str) = ("harbor-bridge-harbor-ca", "ca.crt");
const CALLBACK_URL: &str = "http://harbor-bridge.harbor-bridge.svc:8080/harbor/events";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

// ---------------------------------------------------------------------------------------------
// Rendering and parsing

/// `kubectl kustomize deploy/`, which renders offline.
fn kustomize() -> String {
    let deploy = repo().join("deploy");
    let output = match Command::new("kubectl")
        .arg("kustomize")
        .arg(&deploy)
        .output()
    {
        Ok(output) => output,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => panic!(
            "kubectl is not installed (expected at /usr/bin/kubectl, part of the machine image); \
             tests/deploy.rs renders deploy/ with `kubectl kustomize deploy/`"
        ),
        Err(err) => panic!("cannot run kubectl: {err}"),
    };
    assert!(
        output.status.success(),
        "`kubectl kustomize {}` failed ({}):\n{}",
        deploy.display(),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("kubectl output is UTF-8")
}

/// Every object of the rendered output, by kind.
#[derive(Clone, Debug, Default)]
struct Rendered {
    namespaces: Vec<Namespace>,
    service_accounts: Vec<ServiceAccount>,
    cluster_roles: Vec<ClusterRole>,
    cluster_role_bindings: Vec<ClusterRoleBinding>,
    roles: Vec<Role>,
    role_bindings: Vec<RoleBinding>,
    deployments: Vec<Deployment>,
    services: Vec<Service>,
    config_maps: Vec<ConfigMap>,
    crds: Vec<CustomResourceDefinition>,
}

/// The documents of a multi-document YAML stream, without empty ones.
fn documents(text: &str) -> Vec<String> {
    let mut docs = vec![String::new()];
    for line in text.lines() {
        if line.trim_end() == "---" {
            docs.push(String::new());
        } else {
            let doc = docs.last_mut().expect("at least one document");
            doc.push_str(line);
            doc.push('\n');
        }
    }
    docs.into_iter()
        .filter(|doc| {
            doc.lines()
                .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        })
        .collect()
}

/// Parses one document into its typed struct, refusing fields the type does not have (a typo
/// such as `readOnlyRootFileSystem` would otherwise be dropped silently): the typed object must
/// serialize back to exactly the document.
fn typed<T: DeserializeOwned + Serialize>(
    value: &serde_json::Value,
    what: &str,
) -> Result<T, String> {
    let object: T =
        serde_json::from_value(value.clone()).map_err(|e| format!("{what}: not valid: {e}"))?;
    let back = serde_json::to_value(&object).map_err(|e| format!("{what}: {e}"))?;
    if &back != value {
        let mut paths = Vec::new();
        differences(value, &back, "", &mut paths);
        return Err(format!(
            "{what}: fields its type does not know, or wrongly typed values: {}",
            paths.join(", ")
        ));
    }
    Ok(object)
}

/// The JSON paths at which `document` and `typed` differ.
fn differences(
    document: &serde_json::Value,
    typed: &serde_json::Value,
    at: &str,
    out: &mut Vec<String>,
) {
    use serde_json::Value;
    match (document, typed) {
        (Value::Object(d), Value::Object(t)) => {
            let keys: BTreeSet<&String> = d.keys().chain(t.keys()).collect();
            for key in keys {
                let path = format!("{at}.{key}");
                match (d.get(key), t.get(key)) {
                    (Some(dv), Some(tv)) => differences(dv, tv, &path, out),
                    (Some(_), None) => out.push(format!("{path} (unknown)")),
                    (None, Some(_)) => out.push(format!("{path} (added by the type)")),
                    (None, None) => {}
                }
            }
        }
        (Value::Array(d), Value::Array(t)) if d.len() == t.len() => {
            for (index, (dv, tv)) in d.iter().zip(t).enumerate() {
                differences(dv, tv, &format!("{at}[{index}]"), out);
            }
        }
        (d, t) if d != t => out.push(format!("{at} ({d} became {t})")),
        _ => {}
    }
}

fn parse_rendered(text: &str) -> Result<Rendered, String> {
    let mut rendered = Rendered::default();
    for (index, doc) in documents(text).iter().enumerate() {
        let value: serde_json::Value = serde_saphyr::from_str(doc)
            .map_err(|e| format!("document {index} is not YAML: {e}\n{doc}"))?;
        let kind = value["kind"].as_str().unwrap_or("<no kind>").to_owned();
        let what = format!(
            "document {index} ({kind} {})",
            value["metadata"]["name"].as_str().unwrap_or("<no name>")
        );
        match kind.as_str() {
            "Namespace" => rendered.namespaces.push(typed(&value, &what)?),
            "ServiceAccount" => rendered.service_accounts.push(typed(&value, &what)?),
            "ClusterRole" => rendered.cluster_roles.push(typed(&value, &what)?),
            "ClusterRoleBinding" => rendered.cluster_role_bindings.push(typed(&value, &what)?),
            "Role" => rendered.roles.push(typed(&value, &what)?),
            "RoleBinding" => rendered.role_bindings.push(typed(&value, &what)?),
            "Deployment" => rendered.deployments.push(typed(&value, &what)?),
            "Service" => rendered.services.push(typed(&value, &what)?),
            "ConfigMap" => rendered.config_maps.push(typed(&value, &what)?),
            "CustomResourceDefinition" => rendered.crds.push(typed(&value, &what)?),
            "Secret" => {
                return Err(format!(
                    "{what}: deploy/ must not apply Secrets (secret-example.yaml stays out of the kustomization)"
                ));
            }
            other => return Err(format!("{what}: unexpected kind {other:?}")),
        }
    }
    Ok(rendered)
}

fn render() -> Rendered {
    parse_rendered(&kustomize()).unwrap_or_else(|e| panic!("kubectl kustomize deploy/: {e}"))
}

fn report(check: &str, problems: Vec<String>) {
    assert!(problems.is_empty(), "{check}:\n- {}", problems.join("\n- "));
}

fn has_problem(problems: &[String], needle: &str) -> bool {
    problems.iter().any(|p| p.contains(needle))
}

#[track_caller]
fn assert_flags(problems: Vec<String>, needle: &str) {
    assert!(
        has_problem(&problems, needle),
        "expected a problem mentioning {needle:?}, got {problems:#?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Helpers over the rendered objects

fn name_of(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> &str {
    meta.name.as_deref().unwrap_or("")
}

fn the_deployment(r: &Rendered) -> Result<(&Deployment, &PodSpec, &Container), String> {
    let [deployment] = r.deployments.as_slice() else {
        return Err(format!(
            "expected one Deployment, found {}",
            r.deployments.len()
        ));
    };
    let pod = deployment
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .ok_or("the Deployment has no pod template spec")?;
    let [container] = pod.containers.as_slice() else {
        return Err(format!(
            "expected one container, found {}",
            pod.containers.len()
        ));
    };
    Ok((deployment, pod, container))
}

/// The ServiceAccount (namespace, name) the Deployment's pods run as.
fn pod_identity(r: &Rendered) -> Result<(String, String), String> {
    let (deployment, pod, _) = the_deployment(r)?;
    let namespace = deployment
        .metadata
        .namespace
        .clone()
        .ok_or("the Deployment has no namespace")?;
    let account = pod
        .service_account_name
        .clone()
        .filter(|n| !n.is_empty() && n != "default")
        .ok_or("the Deployment must name its own serviceAccountName")?;
    Ok((namespace, account))
}

/// Where the Deployment's container sees `key` of the Secret or ConfigMap `source`.
enum Source<'a> {
    Secret(&'a str),
    ConfigMap(&'a str),
}

fn mounted_file(
    pod: &PodSpec,
    container: &Container,
    source: Source,
    key: &str,
) -> Result<PathBuf, String> {
    let describe = match source {
        Source::Secret(name) => format!("Secret {name} key {key}"),
        Source::ConfigMap(name) => format!("ConfigMap {name} key {key}"),
    };
    let volumes: Vec<_> = pod
        .volumes
        .iter()
        .flatten()
        .filter_map(|v| match source {
            Source::Secret(name) => v
                .secret
                .as_ref()
                .filter(|s| s.secret_name.as_deref() == Some(name))
                .map(|s| (v, s.items.as_ref(), s.optional)),
            Source::ConfigMap(name) => v
                .config_map
                .as_ref()
                .filter(|c| c.name == name)
                .map(|c| (v, c.items.as_ref(), c.optional)),
        })
        .collect();
    let [(volume, items, optional)] = volumes.as_slice() else {
        return Err(format!(
            "{describe}: expected one volume, found {}",
            volumes.len()
        ));
    };
    if *optional == Some(true) {
        return Err(format!("{describe}: the volume must not be optional"));
    }
    let file = match items {
        None => key.to_owned(),
        Some(items) => items
            .iter()
            .find(|i| i.key == key)
            .map(|i| i.path.clone())
            .ok_or_else(|| {
                format!(
                    "{describe}: volume {} does not project the key",
                    volume.name
                )
            })?,
    };
    let mounts: Vec<_> = container
        .volume_mounts
        .iter()
        .flatten()
        .filter(|m| m.name == volume.name)
        .collect();
    let [mount] = mounts.as_slice() else {
        return Err(format!(
            "{describe}: expected one mount of volume {}, found {}",
            volume.name,
            mounts.len()
        ));
    };
    if mount.sub_path.is_some() || mount.sub_path_expr.is_some() {
        return Err(format!(
            "{describe}: mount it as a directory, not with subPath"
        ));
    }
    if mount.read_only != Some(true) {
        return Err(format!("{describe}: the mount must be readOnly"));
    }
    Ok(Path::new(&mount.mount_path).join(file))
}

/// The value following `--config` in the container's args.
fn config_arg(container: &Container) -> Option<&str> {
    let args = container.args.as_ref()?;
    let at = args.iter().position(|a| a == "--config")?;
    args.get(at + 1).map(String::as_str)
}

// ---------------------------------------------------------------------------------------------
// RBAC

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Scope {
    Cluster,
    OwnNamespace,
}

type Grant = (String, String, String, Scope);

fn expected_grants() -> BTreeSet<Grant> {
    PERMISSIONS
        .iter()
        .flat_map(|p| {
            let scope = if p.own_namespace {
                Scope::OwnNamespace
            } else {
                Scope::Cluster
            };
            p.verbs.iter().map(move |verb| {
                (
                    p.group.to_owned(),
                    p.resource.to_owned(),
                    (*verb).to_owned(),
                    scope,
                )
            })
        })
        .collect()
}

fn rule_grants(
    rule: &PolicyRule,
    scope: Scope,
    role: &str,
    problems: &mut Vec<String>,
    out: &mut BTreeSet<Grant>,
) {
    let groups = rule.api_groups.clone().unwrap_or_default();
    let resources = rule.resources.clone().unwrap_or_default();
    for list in [&groups, &resources, &rule.verbs] {
        if list.iter().any(|item| item.contains('*')) {
            problems.push(format!("{role}: wildcard in {rule:?}"));
        }
    }
    if rule.resource_names.as_ref().is_some_and(|n| !n.is_empty())
        || rule
            .non_resource_urls
            .as_ref()
            .is_some_and(|n| !n.is_empty())
    {
        problems.push(format!(
            "{role}: resourceNames/nonResourceURLs are not modelled by PERMISSIONS: {rule:?}"
        ));
    }
    if groups.is_empty() || resources.is_empty() || rule.verbs.is_empty() {
        problems.push(format!(
            "{role}: a rule with an empty list grants nothing: {rule:?}"
        ));
    }
    for group in &groups {
        for resource in &resources {
            for verb in &rule.verbs {
                out.insert((group.clone(), resource.clone(), verb.clone(), scope));
            }
        }
    }
}

/// What the Deployment's ServiceAccount is granted through the rendered bindings, and every
/// problem on the way.
fn check_rbac(r: &Rendered) -> Vec<String> {
    let mut problems = Vec::new();
    let (namespace, account) = match pod_identity(r) {
        Ok(identity) => identity,
        Err(e) => return vec![e],
    };
    if !r.service_accounts.iter().any(|sa| {
        name_of(&sa.metadata) == account && sa.metadata.namespace.as_deref() == Some(&namespace)
    }) {
        problems.push(format!(
            "the ServiceAccount {namespace}/{account} used by the Deployment is not in deploy/"
        ));
    }
    let is_ours = |subjects: &Option<Vec<k8s_openapi::api::rbac::v1::Subject>>,
                   binding: &str,
                   problems: &mut Vec<String>| {
        let subjects = subjects.as_deref().unwrap_or_default();
        let ours = |s: &&k8s_openapi::api::rbac::v1::Subject| {
            s.kind == "ServiceAccount"
                && s.name == account
                && s.namespace.as_deref() == Some(&namespace)
        };
        for other in subjects.iter().filter(|s| !ours(s)) {
            problems.push(format!(
                "{binding}: binds {} {}/{} instead of the Deployment's ServiceAccount {namespace}/{account}",
                other.kind,
                other.namespace.as_deref().unwrap_or(""),
                other.name
            ));
        }
        subjects.iter().any(|s| ours(&s))
    };

    let mut granted = BTreeSet::new();
    let mut bound_cluster_roles = BTreeSet::new();
    let mut bound_roles = BTreeSet::new();
    for binding in &r.cluster_role_bindings {
        let what = format!("ClusterRoleBinding {}", name_of(&binding.metadata));
        if !is_ours(&binding.subjects, &what, &mut problems) {
            problems.push(format!("{what}: does not bind {namespace}/{account}"));
            continue;
        }
        if binding.role_ref.kind != "ClusterRole"
            || binding.role_ref.api_group != "rbac.authorization.k8s.io"
        {
            problems.push(format!(
                "{what}: roleRef must be a ClusterRole: {:?}",
                binding.role_ref
            ));
            continue;
        }
        match r
            .cluster_roles
            .iter()
            .find(|c| name_of(&c.metadata) == binding.role_ref.name)
        {
            None => problems.push(format!(
                "{what}: ClusterRole {} is not in deploy/",
                binding.role_ref.name
            )),
            Some(role) => {
                bound_cluster_roles.insert(binding.role_ref.name.clone());
                let role_name = format!("ClusterRole {}", binding.role_ref.name);
                if role.aggregation_rule.is_some() {
                    problems.push(format!(
                        "{role_name}: aggregationRule would add permissions"
                    ));
                }
                for rule in role.rules.iter().flatten() {
                    rule_grants(
                        rule,
                        Scope::Cluster,
                        &role_name,
                        &mut problems,
                        &mut granted,
                    );
                }
            }
        }
    }
    for binding in &r.role_bindings {
        let what = format!("RoleBinding {}", name_of(&binding.metadata));
        if !is_ours(&binding.subjects, &what, &mut problems) {
            problems.push(format!("{what}: does not bind {namespace}/{account}"));
            continue;
        }
        if binding.metadata.namespace.as_deref() != Some(&namespace) {
            problems.push(format!(
                "{what}: must be in the daemon's namespace {namespace} (own_namespace permissions), is in {:?}",
                binding.metadata.namespace
            ));
        }
        if binding.role_ref.api_group != "rbac.authorization.k8s.io" {
            problems.push(format!(
                "{what}: roleRef apiGroup {:?}",
                binding.role_ref.api_group
            ));
        }
        let rules = match binding.role_ref.kind.as_str() {
            "Role" => r
                .roles
                .iter()
                .find(|role| {
                    name_of(&role.metadata) == binding.role_ref.name
                        && role.metadata.namespace == binding.metadata.namespace
                })
                .map(|role| {
                    bound_roles.insert(binding.role_ref.name.clone());
                    role.rules.clone().unwrap_or_default()
                }),
            "ClusterRole" => r
                .cluster_roles
                .iter()
                .find(|c| name_of(&c.metadata) == binding.role_ref.name)
                .map(|c| {
                    bound_cluster_roles.insert(binding.role_ref.name.clone());
                    c.rules.clone().unwrap_or_default()
                }),
            other => {
                problems.push(format!("{what}: roleRef kind {other:?}"));
                continue;
            }
        };
        let Some(rules) = rules else {
            problems.push(format!(
                "{what}: {} {} is not in deploy/ (in the binding's namespace)",
                binding.role_ref.kind, binding.role_ref.name
            ));
            continue;
        };
        let role_name = format!("{} {}", binding.role_ref.kind, binding.role_ref.name);
        for rule in &rules {
            rule_grants(
                rule,
                Scope::OwnNamespace,
                &role_name,
                &mut problems,
                &mut granted,
            );
        }
    }
    for role in &r.cluster_roles {
        if !bound_cluster_roles.contains(name_of(&role.metadata)) {
            problems.push(format!(
                "ClusterRole {} is not bound to the ServiceAccount",
                name_of(&role.metadata)
            ));
        }
    }
    for role in &r.roles {
        if !bound_roles.contains(name_of(&role.metadata)) {
            problems.push(format!(
                "Role {} is not bound to the ServiceAccount",
                name_of(&role.metadata)
            ));
        }
    }

    let expected = expected_grants();
    let missing: Vec<_> = expected.difference(&granted).collect();
    let extra: Vec<_> = granted.difference(&expected).collect();
    if !missing.is_empty() || !extra.is_empty() {
        problems.push(format!(
            "RBAC differs from daemon::PERMISSIONS (group, resource, verb, scope):\n  \
             missing from deploy/ (in PERMISSIONS): {missing:?}\n  \
             not in PERMISSIONS (granted by deploy/): {extra:?}"
        ));
    }
    problems
}

// ---------------------------------------------------------------------------------------------
// Deployment, Service, namespaces

fn check_deployment(r: &Rendered) -> Vec<String> {
    let mut problems = Vec::new();
    let (deployment, pod, c) = match the_deployment(r) {
        Ok(found) => found,
        Err(e) => return vec![e],
    };
    let spec = deployment.spec.as_ref().expect("checked by the_deployment");
    if spec.replicas != Some(2) {
        problems.push(format!("replicas: {:?}, want 2", spec.replicas));
    }
    let pod_labels = spec
        .template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let selector = spec.selector.match_labels.clone().unwrap_or_default();
    if selector.is_empty() || selector.iter().any(|(k, v)| pod_labels.get(k) != Some(v)) {
        problems.push(format!(
            "selector {selector:?} does not select the pod labels {pod_labels:?}"
        ));
    }
    if pod.automount_service_account_token != Some(true) {
        problems
            .push("automountServiceAccountToken must be true (the daemon needs the API)".into());
    }
    if c.image.as_deref() != Some(IMAGE) {
        problems.push(format!("image: {:?}, want {IMAGE}", c.image));
    }
    let want_args = ["run", "--config", CONFIG_PATH];
    if c.args
        .as_deref()
        .map(|a| a.iter().map(String::as_str).collect::<Vec<_>>())
        != Some(want_args.to_vec())
    {
        problems.push(format!("args: {:?}, want {want_args:?}", c.args));
    }

    // Leader election: identity and namespace from the downward API.
    for (name, field) in [
        ("POD_NAME", "metadata.name"),
        ("POD_NAMESPACE", "metadata.namespace"),
    ] {
        let path = c
            .env
            .iter()
            .flatten()
            .find(|e| e.name == name)
            .and_then(|e| e.value_from.as_ref())
            .and_then(|v| v.field_ref.as_ref())
            .map(|f| f.field_path.as_str());
        if path != Some(field) {
            problems.push(format!("env {name}: want fieldRef {field}, got {path:?}"));
        }
    }

    let http = c
        .ports
        .iter()
        .flatten()
        .find(|p| p.name.as_deref() == Some("http"));
    if http.map(|p| p.container_port) != Some(8080) {
        problems.push(format!("container port named http: {http:?}, want 8080"));
    }
    for (kind, probe, path) in [
        ("livenessProbe", &c.liveness_probe, "/healthz"),
        ("readinessProbe", &c.readiness_probe, "/readyz"),
    ] {
        let get = probe.as_ref().and_then(|p| p.http_get.as_ref());
        let ok = get.is_some_and(|g| {
            let port_ok = match &g.port {
                IntOrString::String(name) => name == "http",
                IntOrString::Int(port) => *port == 8080,
            };
            g.path.as_deref() == Some(path)
                && port_ok
                && g.scheme.as_deref().is_none_or(|s| s == "HTTP")
        });
        if !ok {
            problems.push(format!("{kind}: want GET {path} on port http, got {get:?}"));
        }
    }

    let resources = c.resources.as_ref();
    for (which, list) in [
        ("requests", resources.and_then(|r| r.requests.as_ref())),
        ("limits", resources.and_then(|r| r.limits.as_ref())),
    ] {
        for resource in ["cpu", "memory"] {
            if !list.is_some_and(|l| l.contains_key(resource)) {
                problems.push(format!("resources.{which}.{resource} is not set"));
            }
        }
    }

    // Security: the container's setting, else the pod's.
    let csc = c.security_context.clone().unwrap_or_default();
    let psc = pod.security_context.clone().unwrap_or_default();
    if csc.run_as_non_root.or(psc.run_as_non_root) != Some(true) {
        problems.push("runAsNonRoot must be true".into());
    }
    match csc.run_as_user.or(psc.run_as_user) {
        Some(uid) if uid > 0 => {}
        uid => problems.push(format!("runAsUser must be a non-root uid, got {uid:?}")),
    }
    if csc.read_only_root_filesystem != Some(true) {
        problems.push("readOnlyRootFilesystem must be true".into());
    }
    if csc.allow_privilege_escalation != Some(false) {
        problems.push("allowPrivilegeEscalation must be false".into());
    }
    if csc.privileged == Some(true) {
        problems.push("privileged must not be true".into());
    }
    let caps = csc.capabilities.clone().unwrap_or_default();
    if !caps.drop.iter().flatten().any(|d| d == "ALL") {
        problems.push("capabilities.drop must include ALL".into());
    }
    if caps.add.as_ref().is_some_and(|a| !a.is_empty()) {
        problems.push(format!("capabilities.add must be empty: {:?}", caps.add));
    }
    let seccomp = csc.seccomp_profile.or(psc.seccomp_profile).map(|s| s.type_);
    if seccomp.as_deref() != Some("RuntimeDefault") {
        problems.push(format!("seccompProfile: {seccomp:?}, want RuntimeDefault"));
    }

    // The files the config names.
    for (source, key, want) in [
        (
            Source::Secret(PASSWORD_SECRET.0),
            PASSWORD_SECRET.1,
            PASSWORD_PATH,
        ),
        (
            Source::Secret(WEBHOOK_SECRET.0),
            WEBHOOK_SECRET.1,
            WEBHOOK_SECRET_PATH,
        ),
        (Source::Secret(CA_SECRET.0), CA_SECRET.1, CA_PATH),
    ] {
        match mounted_file(pod, c, source, key) {
            Ok(path) if path == Path::new(want) => {}
            Ok(path) => problems.push(format!(
                "{} is mounted at {}, want {want}",
                key,
                path.display()
            )),
            Err(e) => problems.push(e),
        }
    }
    match config_file(r) {
        Ok((path, _)) if path == Path::new(CONFIG_PATH) => {}
        Ok((path, _)) => problems.push(format!(
            "the config is mounted at {}, want {CONFIG_PATH}",
            path.display()
        )),
        Err(e) => problems.push(e),
    }
    problems
}

/// The config file the container is started with: its mounted path and its text.
fn config_file(r: &Rendered) -> Result<(PathBuf, String), String> {
    let (deployment, pod, c) = the_deployment(r)?;
    let arg = config_arg(c).ok_or("the container's args have no --config")?;
    let [config_map] = r.config_maps.as_slice() else {
        return Err(format!(
            "expected one ConfigMap, found {}",
            r.config_maps.len()
        ));
    };
    if config_map.metadata.namespace != deployment.metadata.namespace {
        return Err("the ConfigMap is not in the Deployment's namespace".into());
    }
    let name = name_of(&config_map.metadata);
    for (key, text) in config_map.data.iter().flatten() {
        if let Ok(path) = mounted_file(pod, c, Source::ConfigMap(name), key)
            && path == Path::new(arg)
        {
            return Ok((path, text.clone()));
        }
    }
    Err(format!(
        "--config {arg} is not a key of the ConfigMap {name} mounted in the container"
    ))
}

fn check_service_and_namespaces(r: &Rendered) -> Vec<String> {
    let mut problems = Vec::new();
    if !r
        .namespaces
        .iter()
        .any(|n| name_of(&n.metadata) == NAMESPACE)
    {
        problems.push(format!("no Namespace {NAMESPACE}"));
    }
    let namespaced = r
        .service_accounts
        .iter()
        .map(|o| ("ServiceAccount", &o.metadata))
        .chain(r.roles.iter().map(|o| ("Role", &o.metadata)))
        .chain(r.role_bindings.iter().map(|o| ("RoleBinding", &o.metadata)))
        .chain(r.deployments.iter().map(|o| ("Deployment", &o.metadata)))
        .chain(r.services.iter().map(|o| ("Service", &o.metadata)))
        .chain(r.config_maps.iter().map(|o| ("ConfigMap", &o.metadata)));
    for (kind, meta) in namespaced {
        if meta.namespace.as_deref() != Some(NAMESPACE) {
            problems.push(format!(
                "{kind} {} is in {:?}, want {NAMESPACE}",
                name_of(meta),
                meta.namespace
            ));
        }
    }
    let Ok((deployment, _, _)) = the_deployment(r) else {
        return problems;
    };
    let pod_labels = deployment
        .spec
        .as_ref()
        .and_then(|s| s.template.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let Some(service) = r
        .services
        .iter()
        .find(|s| name_of(&s.metadata) == "harbor-bridge")
    else {
        problems.push("no Service harbor-bridge".into());
        return problems;
    };
    let spec = service.spec.clone().unwrap_or_default();
    if spec.type_.as_deref().is_some_and(|t| t != "ClusterIP") {
        problems.push(format!("Service type {:?}, want ClusterIP", spec.type_));
    }
    let selector = spec.selector.unwrap_or_default();
    if selector.is_empty() || selector.iter().any(|(k, v)| pod_labels.get(k) != Some(v)) {
        problems.push(format!(
            "Service selector {selector:?} does not select the pods {pod_labels:?}"
        ));
    }
    let port = spec.ports.iter().flatten().find(|p| p.port == 8080);
    match port {
        Some(p) if p.target_port == Some(IntOrString::String("http".into())) => {}
        other => problems.push(format!("Service port 8080 must target http: {other:?}")),
    }
    problems
}

// ---------------------------------------------------------------------------------------------
// The config, through the daemon's own loader

fn check_config(r: &Rendered) -> Vec<String> {
    let mut problems = Vec::new();
    let (_, text) = match config_file(r) {
        Ok(found) => found,
        Err(e) => return vec![e],
    };
    let file = match FileConfig::parse(&text) {
        Ok(file) => file,
        Err(e) => return vec![format!("the daemon refuses the ConfigMap's config: {e}")],
    };
    let (pod, container) = match the_deployment(r) {
        Ok((_, pod, c)) => (pod, c),
        Err(e) => return vec![e],
    };
    for (key, value, source, secret_key) in [
        (
            "harbor.passwordFile",
            &file.harbor.password_file,
            Source::Secret(PASSWORD_SECRET.0),
            PASSWORD_SECRET.1,
        ),
        (
            "webhook.secretFile",
            &file.webhook.secret_file,
            Source::Secret(WEBHOOK_SECRET.0),
            WEBHOOK_SECRET.1,
        ),
        (
            "harbor.caFile",
            &file.harbor.ca_file,
            Source::Secret(CA_SECRET.0),
            CA_SECRET.1,
        ),
    ] {
        let mounted = mounted_file(pod, container, source, secret_key);
        match (value, mounted) {
            (Some(value), Ok(mounted)) if *value == mounted => {}
            (value, mounted) => problems.push(format!(
                "{key}: {value:?} in the config, but the Deployment mounts the file at {mounted:?}"
            )),
        }
    }

    // Resolve it as the daemon does; the secrets come from temporary files (the flags win over
    // the file's paths, like --harbor-password-file would).
    let dir = tempfile::tempdir().expect("temporary directory");
    let password = dir.path().join("password");
    let secret = dir.path().join("secret");
    std::fs::write(&password, "harbor-password\n").expect("write password");
    std::fs::write(&secret, "webhook-secret\n").expect("write secret");
    let overrides = Overrides {
        harbor_password_file: Some(password),
        webhook_secret_file: Some(secret),
        ..Default::default()
    };
    let settings = match Settings::resolve(file, overrides, EnvSecrets::default()) {
        Ok(settings) => settings,
        Err(e) => {
            problems.push(format!(
                "the daemon's config loader refuses the ConfigMap's config: {e}"
            ));
            return problems;
        }
    };
    if settings.harbor.url.as_str() != "https://harbor.example.com/" {
        problems.push(format!(
            "harbor.url: {}, want https://harbor.example.com",
            settings.harbor.url
        ));
    }
    if settings.harbor.tls.ca_file.as_deref() != Some(Path::new(CA_PATH)) {
        problems.push(format!(
            "harbor.caFile resolves to {:?}, want {CA_PATH}",
            settings.harbor.tls.ca_file
        ));
    }
    if settings.harbor.tls.insecure_skip_verify {
        problems.push("harbor.insecureSkipVerify must stay false".into());
    }
    if settings.listen.port() != 8080 {
        problems.push(format!(
            "server.listen {}: want port 8080 (the container port http)",
            settings.listen
        ));
    }
    let Some(webhook) = settings.webhook else {
        problems.push("the webhook receiver is not enabled (webhook.secretFile)".into());
        return problems;
    };
    match settings.sync.webhook_policy {
        None => problems.push("webhook.callbackUrl is not set".into()),
        Some(policy) => {
            let url = policy.callback_url;
            if url.as_str() != CALLBACK_URL {
                problems.push(format!("webhook.callbackUrl: {url}, want {CALLBACK_URL}"));
            }
            if url.path() != webhook.path {
                problems.push(format!(
                    "webhook.callbackUrl path {} is not the receiver's path {}",
                    url.path(),
                    webhook.path
                ));
            }
            let service = r
                .services
                .first()
                .map(|s| name_of(&s.metadata))
                .unwrap_or("");
            if url.host_str() != Some(&format!("{service}.{NAMESPACE}.svc"))
                || url.port() != Some(8080)
            {
                problems.push(format!("webhook.callbackUrl {url} does not name the Service {service}.{NAMESPACE}.svc:8080"));
            }
        }
    }
    problems
}

// ---------------------------------------------------------------------------------------------
// The tests

#[test]
fn deploy_renders_into_typed_objects() {
    let r = render();
    assert_eq!(r.namespaces.len(), 1, "{r:#?}");
    assert_eq!(r.service_accounts.len(), 1);
    assert_eq!(r.deployments.len(), 1);
    assert_eq!(r.services.len(), 1);
    assert_eq!(r.config_maps.len(), 1);
    assert!(!r.cluster_roles.is_empty() && !r.cluster_role_bindings.is_empty());
    assert!(!r.roles.is_empty() && !r.role_bindings.is_empty());
    report("namespaces and Service", check_service_and_namespaces(&r));
}

#[test]
fn rbac_grants_exactly_the_daemons_permissions() {
    report("RBAC", check_rbac(&render()));
}

#[test]
fn deployment_is_locked_down_and_mounts_what_the_config_names() {
    report("Deployment", check_deployment(&render()));
}

#[test]
fn config_map_is_accepted_by_the_daemons_loader() {
    report("ConfigMap config", check_config(&render()));
}

/// The CRDs: in the kustomization they must be the daemon's; outside it, deploy/README.md must
/// say to apply `crds/` first. Either way the registry resources in the RBAC are the CRDs' own.
#[test]
fn crds_are_wired_and_match_the_rbac() {
    let r = render();
    let mut names: Vec<String> = harbor_bridge::daemon::crd_names();
    names.sort();
    let crds: Vec<CustomResourceDefinition> = if r.crds.is_empty() {
        let readme =
            std::fs::read_to_string(repo().join("deploy/README.md")).expect("deploy/README.md");
        assert!(
            readme.contains("-f crds/"),
            "the CRDs are not in the kustomization, so deploy/README.md must say to apply crds/ first"
        );
        let text =
            std::fs::read_to_string(repo().join("crds/registry.tkestack.io.yaml")).expect("crds/");
        documents(&text)
            .iter()
            .map(|doc| {
                let value: serde_json::Value = serde_saphyr::from_str(doc).expect("CRD YAML");
                typed(&value, "crds/registry.tkestack.io.yaml").unwrap()
            })
            .collect()
    } else {
        r.crds.clone()
    };
    let mut found: Vec<String> = crds
        .iter()
        .map(|c| name_of(&c.metadata).to_owned())
        .collect();
    found.sort();
    assert_eq!(found, names, "the CRDs differ from the daemon's");

    let mut crd_resources = BTreeSet::new();
    for crd in &crds {
        let plural = crd.spec.names.plural.clone();
        if crd
            .spec
            .versions
            .iter()
            .any(|v| v.subresources.as_ref().is_some_and(|s| s.status.is_some()))
        {
            crd_resources.insert(format!("{plural}/status"));
        }
        crd_resources.insert(plural);
    }
    let group = crds
        .first()
        .map(|c| c.spec.group.clone())
        .expect("at least one CRD");
    let rbac_resources: BTreeSet<String> = PERMISSIONS
        .iter()
        .filter(|p| p.group == group)
        .map(|p| p.resource.to_owned())
        .collect();
    assert_eq!(
        rbac_resources, crd_resources,
        "RBAC resources in {group} vs the CRDs' resources"
    );
}

/// secret-example.yaml is not rendered, and its Secrets are the ones the Deployment mounts.
#[test]
fn secret_example_matches_the_deployment() {
    let text = std::fs::read_to_string(repo().join("deploy/secret-example.yaml"))
        .expect("deploy/secret-example.yaml");
    let mut secrets = BTreeMap::new();
    for doc in documents(&text) {
        let value: serde_json::Value = serde_saphyr::from_str(&doc).expect("YAML");
        assert_eq!(value["kind"], "Secret", "{doc}");
        let secret: Secret = typed(&value, "secret-example.yaml").unwrap();
        assert_eq!(secret.metadata.namespace.as_deref(), Some(NAMESPACE));
        let keys: BTreeSet<String> = secret
            .string_data
            .iter()
            .flatten()
            .map(|(k, _)| k.clone())
            .collect();
        secrets.insert(name_of(&secret.metadata).to_owned(), keys);
    }
    for (name, key) in [PASSWORD_SECRET, WEBHOOK_SECRET] {
        assert!(
            secrets.get(name).is_some_and(|keys| keys.contains(key)),
            "secret-example.yaml lacks Secret {name} key {key}: {secrets:?}"
        );
    }
    assert!(
        text.contains(CA_SECRET.0) && text.contains(CA_SECRET.1),
        "no note on the CA Secret"
    );
    let kustomization = std::fs::read_to_string(repo().join("deploy/kustomization.yaml")).unwrap();
    assert!(
        !kustomization
            .lines()
            .any(|l| !l.trim_start().starts_with('#') && l.contains("secret-example")),
        "secret-example.yaml must stay out of the kustomization"
    );
}

// ---------------------------------------------------------------------------------------------
// Each check fails on a broken copy

#[test]
fn unknown_kinds_and_unknown_fields_are_refused() {
    let unknown = "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata:\n  name: x\n";
    assert!(
        parse_rendered(unknown)
            .unwrap_err()
            .contains("unexpected kind")
    );
    let secret = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: x\n";
    assert!(
        parse_rendered(secret)
            .unwrap_err()
            .contains("must not apply Secrets")
    );
    let typo = "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: x\nautomountServiceAcountToken: true\n";
    assert!(
        parse_rendered(typo)
            .unwrap_err()
            .contains(".automountServiceAcountToken (unknown)")
    );
    let two = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: b\n";
    assert_eq!(parse_rendered(two).unwrap().namespaces.len(), 2);
}

#[test]
fn rbac_check_catches_missing_extra_wildcard_and_misbound_permissions() {
    let good = render();

    let mut r = good.clone();
    let rules = r.cluster_roles[0].rules.as_mut().unwrap();
    let rule = rules
        .iter_mut()
        .find(|rule| rule.verbs.iter().any(|v| v == "deletecollection"))
        .unwrap();
    rule.verbs.retain(|v| v != "deletecollection");
    assert_flags(
        check_rbac(&r),
        "missing from deploy/ (in PERMISSIONS): [(\"registry.tkestack.io\"",
    );

    let mut r = good.clone();
    r.cluster_roles[0].rules.as_mut().unwrap()[0]
        .verbs
        .push("update".into());
    assert_flags(
        check_rbac(&r),
        "not in PERMISSIONS (granted by deploy/): [(\"registry.tkestack.io\"",
    );

    let mut r = good.clone();
    r.cluster_roles[0].rules.as_mut().unwrap()[0].resources = Some(vec!["*".into()]);
    assert_flags(check_rbac(&r), "wildcard");

    // The Lease permission granted cluster-wide instead of in the daemon's namespace.
    let mut r = good.clone();
    let lease_rules = r.roles[0].rules.take().unwrap();
    r.cluster_roles[0]
        .rules
        .as_mut()
        .unwrap()
        .extend(lease_rules);
    assert_flags(check_rbac(&r), "OwnNamespace");

    let mut r = good.clone();
    r.cluster_role_bindings[0].subjects.as_mut().unwrap()[0].name = "someone-else".into();
    assert_flags(check_rbac(&r), "does not bind");

    let mut r = good.clone();
    r.role_bindings[0].subjects.as_mut().unwrap()[0].namespace = Some("default".into());
    assert_flags(check_rbac(&r), "does not bind");

    let mut r = good.clone();
    r.deployments[0]
        .spec
        .as_mut()
        .unwrap()
        .template
        .spec
        .as_mut()
        .unwrap()
        .service_account_name = Some("other".into());
    assert_flags(
        check_rbac(&r),
        "ServiceAccount harbor-bridge/other used by the Deployment is not in deploy/",
    );

    let mut r = good;
    r.role_bindings[0].role_ref.name = "missing".into();
    assert_flags(check_rbac(&r), "is not in deploy/");
}

#[test]
fn deployment_check_catches_each_weakening() {
    let good = render();
    type Mutation = fn(&mut Deployment);
    fn pod(d: &mut Deployment) -> &mut PodSpec {
        d.spec.as_mut().unwrap().template.spec.as_mut().unwrap()
    }
    fn container(d: &mut Deployment) -> &mut Container {
        &mut pod(d).containers[0]
    }
    fn csc(d: &mut Deployment) -> &mut k8s_openapi::api::core::v1::SecurityContext {
        container(d).security_context.as_mut().unwrap()
    }
    let cases: Vec<(Mutation, &str)> = vec![
        (|d| d.spec.as_mut().unwrap().replicas = Some(1), "replicas"),
        (
            |d| {
                container(d)
                    .liveness_probe
                    .as_mut()
                    .unwrap()
                    .http_get
                    .as_mut()
                    .unwrap()
                    .path = Some("/".into())
            },
            "livenessProbe",
        ),
        (|d| container(d).readiness_probe = None, "readinessProbe"),
        (
            |d| {
                csc(d).run_as_non_root = Some(false);
            },
            "runAsNonRoot",
        ),
        (
            |d| {
                csc(d).run_as_user = Some(0);
            },
            "runAsUser",
        ),
        (
            |d| {
                csc(d).read_only_root_filesystem = None;
            },
            "readOnlyRootFilesystem",
        ),
        (
            |d| {
                csc(d).allow_privilege_escalation = Some(true);
            },
            "allowPrivilegeEscalation",
        ),
        (
            |d| {
                csc(d).capabilities = None;
            },
            "capabilities.drop",
        ),
        (
            |d| {
                csc(d).seccomp_profile = None;
                pod(d).security_context.as_mut().unwrap().seccomp_profile = None;
            },
            "seccompProfile",
        ),
        (
            |d| container(d).resources.as_mut().unwrap().limits = None,
            "resources.limits.memory",
        ),
        (
            |d| {
                container(d)
                    .env
                    .as_mut()
                    .unwrap()
                    .retain(|e| e.name != "POD_NAME")
            },
            "env POD_NAME",
        ),
        (
            |d| {
                container(d)
                    .env
                    .as_mut()
                    .unwrap()
                    .retain(|e| e.name != "POD_NAMESPACE")
            },
            "env POD_NAMESPACE",
        ),
        (
            |d| pod(d).automount_service_account_token = None,
            "automountServiceAccountToken",
        ),
        (
            |d| container(d).image = Some("harbor-bridge:0.0.1".into()),
            "image",
        ),
        (
            |d| container(d).args.as_mut().unwrap()[2] = "/etc/harbor-bridge.yaml".into(),
            "args",
        ),
        (
            |d| container(d).ports.as_mut().unwrap()[0].container_port = 9090,
            "container port named http",
        ),
        (
            |d| {
                container(d)
                    .volume_mounts
                    .as_mut()
                    .unwrap()
                    .iter_mut()
                    .find(|m| m.name == "credentials")
                    .unwrap()
                    .mount_path = "/secrets".into()
            },
            "password is mounted at /secrets/password",
        ),
        (
            |d| {
                container(d)
                    .volume_mounts
                    .as_mut()
                    .unwrap()
                    .retain(|m| m.name != "webhook")
            },
            "Secret harbor-bridge-webhook key secret: expected one mount",
        ),
        (
            |d| pod(d).volumes.as_mut().unwrap().retain(|v| v.name != "ca"),
            "Secret harbor-bridge-harbor-ca key ca.crt: expected one volume",
        ),
        (
            |d| {
                container(d)
                    .volume_mounts
                    .as_mut()
                    .unwrap()
                    .iter_mut()
                    .for_each(|m| m.read_only = None)
            },
            "readOnly",
        ),
        (
            |d| {
                pod(d)
                    .volumes
                    .as_mut()
                    .unwrap()
                    .iter_mut()
                    .find(|v| v.name == "config")
                    .unwrap()
                    .config_map
                    .as_mut()
                    .unwrap()
                    .name = "other".into()
            },
            "is not a key of the ConfigMap",
        ),
    ];
    for (mutate, needle) in cases {
        let mut r = good.clone();
        mutate(&mut r.deployments[0]);
        assert_flags(check_deployment(&r), needle);
    }
}

#[test]
fn config_check_catches_paths_keys_and_urls_that_do_not_match() {
    let good = render();
    let edit = |from: &str, to: &str| {
        let mut r = good.clone();
        let data = r.config_maps[0].data.as_mut().unwrap();
        let text = data.values_mut().next().unwrap();
        assert!(text.contains(from), "{from:?} not in the config");
        *text = text.replace(from, to);
        check_config(&r)
    };
    assert_flags(
        edit(
            "passwordFile: /etc/harbor-bridge/credentials/password",
            "passwordFile: /run/password",
        ),
        "harbor.passwordFile",
    );
    assert_flags(
        edit(
            "secretFile: /etc/harbor-bridge/webhook/secret",
            "secretFile: /etc/harbor-bridge/secret",
        ),
        "webhook.secretFile",
    );
    assert_flags(
        edit("caFile: /etc/harbor-bridge/ca/ca.crt", "caFile: /ca.crt"),
        "harbor.caFile",
    );
    assert_flags(
        edit("username: admin", "usernme: admin"),
        "refuses the ConfigMap's config",
    );
    assert_flags(
        edit(
            "url: https://harbor.example.com",
            "url: http://harbor.example.com",
        ),
        "harbor.url",
    );
    assert_flags(
        edit(
            "harbor-bridge.harbor-bridge.svc:8080",
            "harbor-bridge.default.svc:8080",
        ),
        "webhook.callbackUrl",
    );
    assert_flags(
        edit("path: /harbor/events", "path: /events"),
        "is not the receiver's path",
    );
    assert_flags(
        edit("listen: 0.0.0.0:8080", "listen: 0.0.0.0:9090"),
        "server.listen",
    );

    let mut r = good;
    r.deployments[0]
        .spec
        .as_mut()
        .unwrap()
        .template
        .spec
        .as_mut()
        .unwrap()
        .containers[0]
        .volume_mounts
        .as_mut()
        .unwrap()
        .iter_mut()
        .find(|m| m.name == "ca")
        .unwrap()
        .mount_path = "/etc/ssl/harbor".into();
    assert_flags(check_config(&r), "harbor.caFile");
}
