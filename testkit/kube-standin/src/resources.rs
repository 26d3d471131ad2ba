//! The resource kinds the stand-in serves: a fixed set of built-ins plus one per
//! established `CustomResourceDefinition` (rebuilt from the stored CRDs on every CRD write).

use std::collections::BTreeMap;

use serde_json::Value;

/// Behaviour that differs between kinds beyond the generic object semantics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rules {
    /// A built-in kind with no special handling (events, leases, configmaps, secrets).
    Builtin,
    /// Core `v1` namespaces: phase, `spec.finalizers: [kubernetes]`, termination of content.
    CoreNamespace,
    /// `apiextensions.k8s.io/v1` CRDs: serving custom resources, instance cleanup.
    Crd,
    /// Instances of a custom resource definition.
    Custom,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ResourceType {
    pub group: String,
    /// Served versions; the first is the preferred (storage) one.
    pub versions: Vec<String>,
    pub plural: String,
    pub singular: String,
    pub kind: String,
    pub list_kind: String,
    pub short_names: Vec<String>,
    pub namespaced: bool,
    pub status_subresource: bool,
    pub rules: Rules,
}

impl ResourceType {
    fn builtin(group: &str, plural: &str, kind: &str, namespaced: bool, rules: Rules) -> Self {
        Self {
            group: group.into(),
            versions: vec!["v1".into()],
            plural: plural.into(),
            singular: kind.to_lowercase(),
            kind: kind.into(),
            list_kind: format!("{kind}List"),
            short_names: Vec::new(),
            namespaced,
            status_subresource: rules != Rules::Builtin,
            rules,
        }
    }

    /// `plural.group` (just `plural` for the core group), as used in error messages.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    pub fn api_version(&self, version: &str) -> String {
        if self.group.is_empty() {
            version.to_owned()
        } else {
            format!("{}/{version}", self.group)
        }
    }

    pub fn preferred_version(&self) -> &str {
        self.versions.first().map_or("v1", String::as_str)
    }

    pub fn serves(&self, version: &str) -> bool {
        self.versions.iter().any(|v| v == version)
    }

    /// CRs and CRDs carry `metadata.generation`; most built-ins (namespaces, leases, events) do not.
    pub fn tracks_generation(&self) -> bool {
        matches!(self.rules, Rules::Custom | Rules::Crd)
    }

    /// Whether a PUT without `metadata.resourceVersion` is accepted (`AllowUnconditionalUpdate`):
    /// false for custom resources and CRDs, true for the built-ins served here.
    pub fn allows_unconditional_update(&self) -> bool {
        !matches!(self.rules, Rules::Custom | Rules::Crd)
    }

    /// Strategic merge patch exists only for compiled-in types.
    pub fn accepts_strategic_merge(&self) -> bool {
        self.rules != Rules::Custom
    }

    /// Built from a CRD object; the error is a field error for a 422 on the CRD itself.
    pub fn from_crd(crd: &Value) -> Result<Self, String> {
        let spec = crd.get("spec").ok_or("spec: Required value")?;
        let text = |v: Option<&Value>, field: &str| -> Result<String, String> {
            v.and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .ok_or_else(|| format!("{field}: Required value"))
        };
        let group = text(spec.get("group"), "spec.group")?;
        let names = spec.get("names").ok_or("spec.names: Required value")?;
        let plural = text(names.get("plural"), "spec.names.plural")?;
        let kind = text(names.get("kind"), "spec.names.kind")?;
        let list_kind = text(names.get("listKind"), "").unwrap_or_else(|_| format!("{kind}List"));
        let singular = text(names.get("singular"), "").unwrap_or_else(|_| kind.to_lowercase());
        let short_names = names
            .get("shortNames")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let namespaced = match spec.get("scope").and_then(Value::as_str) {
            Some("Namespaced") => true,
            Some("Cluster") => false,
            _ => return Err("spec.scope: Unsupported value: must be Namespaced or Cluster".into()),
        };
        let expected_name = format!("{plural}.{group}");
        if crd.pointer("/metadata/name").and_then(Value::as_str) != Some(expected_name.as_str()) {
            return Err(format!(
                "metadata.name: Invalid value: must be spec.names.plural+\".\"+spec.group ({expected_name})"
            ));
        }
        let versions = spec
            .get("versions")
            .and_then(Value::as_array)
            .filter(|v| !v.is_empty())
            .ok_or("spec.versions: Required value")?;
        let storage_count = versions
            .iter()
            .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
            .count();
        if storage_count != 1 {
            return Err("spec.versions: Invalid value: must have exactly one version marked as storage version".into());
        }
        let served: Vec<&Value> = versions
            .iter()
            .filter(|v| v.get("served").and_then(Value::as_bool) == Some(true))
            .collect();
        // The storage version goes first so it becomes the preferred one.
        let mut served_names: Vec<(bool, String)> = served
            .iter()
            .filter_map(|v| {
                let name = v.get("name").and_then(Value::as_str)?;
                let storage = v.get("storage").and_then(Value::as_bool) == Some(true);
                Some((!storage, name.to_owned()))
            })
            .collect();
        served_names.sort_by_key(|(not_storage, _)| *not_storage);
        // simplification: the status subresource is per resource, enabled if any served version has it.
        let status_subresource = served
            .iter()
            .any(|v| v.pointer("/subresources/status").is_some());
        Ok(Self {
            group,
            versions: served_names.into_iter().map(|(_, n)| n).collect(),
            plural,
            singular,
            kind,
            list_kind,
            short_names,
            namespaced,
            status_subresource,
            rules: Rules::Custom,
        })
    }
}

/// Every served kind, looked up by group/version/plural.
#[derive(Debug, Clone)]
pub struct Registry {
    builtins: Vec<ResourceType>,
    custom: Vec<ResourceType>,
}

impl Default for Registry {
    fn default() -> Self {
        use Rules::*;
        let mut crd = ResourceType::builtin(
            "apiextensions.k8s.io",
            "customresourcedefinitions",
            "CustomResourceDefinition",
            false,
            Crd,
        );
        crd.short_names = vec!["crd".into(), "crds".into()];
        let mut ns = ResourceType::builtin("", "namespaces", "Namespace", false, CoreNamespace);
        ns.short_names = vec!["ns".into()];
        // simplification: core `v1` events and `events.k8s.io/v1` events are stored apart
        // (the real server serves one storage in both shapes); PUT never creates (core events
        // allow create-on-update); namespaces have no `/finalize` subresource and any of them,
        // `default` included, can be deleted.
        let builtins = vec![
            ns,
            ResourceType::builtin("", "events", "Event", true, Builtin),
            ResourceType::builtin("", "configmaps", "ConfigMap", true, Builtin),
            ResourceType::builtin("", "secrets", "Secret", true, Builtin),
            ResourceType::builtin("events.k8s.io", "events", "Event", true, Builtin),
            ResourceType::builtin("coordination.k8s.io", "leases", "Lease", true, Builtin),
            crd,
        ];
        Self {
            builtins,
            custom: Vec::new(),
        }
    }
}

impl Registry {
    pub fn all(&self) -> impl Iterator<Item = &ResourceType> {
        self.builtins.iter().chain(&self.custom)
    }

    pub fn resolve(&self, group: &str, version: &str, plural: &str) -> Option<&ResourceType> {
        self.all()
            .find(|rt| rt.group == group && rt.plural == plural && rt.serves(version))
    }

    /// The built-in kind for `group`/`plural` (always served at `v1`).
    pub fn builtin(&self, group: &str, plural: &str) -> &ResourceType {
        self.builtins
            .iter()
            .find(|rt| rt.group == group && rt.plural == plural)
            .unwrap_or_else(|| unreachable!("built-in {plural}.{group} is always registered"))
    }

    /// Rebuilds the custom kinds from the stored CRDs (CRDs that fail to parse serve nothing).
    pub fn set_custom<'a>(&mut self, crds: impl IntoIterator<Item = &'a Value>) {
        self.custom = crds
            .into_iter()
            .filter_map(|crd| ResourceType::from_crd(crd).ok())
            .filter(|rt| {
                !self
                    .builtins
                    .iter()
                    .any(|b| b.group == rt.group && b.plural == rt.plural)
            })
            .collect();
    }

    /// group -> served versions (preferred first), for discovery.
    pub fn groups(&self) -> BTreeMap<&str, Vec<&str>> {
        let mut groups: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for rt in self.all() {
            let versions = groups.entry(rt.group.as_str()).or_default();
            for v in &rt.versions {
                if !versions.contains(&v.as_str()) {
                    versions.push(v);
                }
            }
        }
        groups
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn crd(name: &str) -> Value {
        json!({
            "metadata": {"name": name},
            "spec": {
                "group": "registry.tkestack.io",
                "names": {"plural": "namespaces", "kind": "Namespace"},
                "scope": "Cluster",
                "versions": [
                    {"name": "v1beta1", "served": true, "storage": false},
                    {"name": "v1", "served": true, "storage": true, "subresources": {"status": {}}},
                ],
            }
        })
    }

    #[test]
    fn crd_becomes_a_served_kind_next_to_the_core_one() {
        let mut registry = Registry::default();
        registry.set_custom([&crd("namespaces.registry.tkestack.io")]);
        let custom = registry
            .resolve("registry.tkestack.io", "v1", "namespaces")
            .unwrap();
        assert_eq!(custom.versions, ["v1", "v1beta1"]);
        assert_eq!(custom.list_kind, "NamespaceList");
        assert!(custom.status_subresource && !custom.namespaced);
        assert_eq!(
            registry.resolve("", "v1", "namespaces").unwrap().rules,
            Rules::CoreNamespace
        );
        assert!(
            registry
                .resolve("registry.tkestack.io", "v2", "namespaces")
                .is_none()
        );
    }

    #[test]
    fn crd_name_must_match_plural_and_group() {
        assert!(ResourceType::from_crd(&crd("wrong.registry.tkestack.io")).is_err());
    }
}
