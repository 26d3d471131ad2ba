//! What the controller manager would do after writes: the garbage collector (ownerReferences),
//! the namespace controller (terminating namespaces) and CRD instance cleanup.

use serde_json::Value;

use crate::cluster::{Cluster, Propagation};
use crate::kinds::{self, CRD_CLEANUP_FINALIZER, NAMESPACE_FINALIZER};
use crate::meta;
use crate::resources::ResourceType;
use crate::store::ObjectKey;

impl Cluster {
    /// Runs the controllers to a fixed point after a write.
    // simplification: these run synchronously inside the write that triggered them, so their
    // effects are visible when the response arrives instead of shortly after.
    pub(crate) fn settle(&mut self) {
        // Terminates: every round removes objects or moves them into deletion, never back.
        loop {
            let mut progressed = self.terminate_namespaces();
            progressed |= self.clean_up_deleted_crds();
            progressed |= self.collect_orphans();
            if !progressed {
                break;
            }
        }
    }

    /// Deletes the content of terminating namespaces; an emptied namespace loses the
    /// `kubernetes` finalizer and goes away unless other finalizers hold it.
    fn terminate_namespaces(&mut self) -> bool {
        let namespaces = self.registry.builtin("", "namespaces").clone();
        let terminating: Vec<ObjectKey> = self
            .store
            .deleting("", "namespaces")
            .map(|(k, _)| k.clone())
            .collect();
        let mut progressed = false;
        for ns_key in terminating {
            let content: Vec<ObjectKey> = self
                .store
                .in_namespace(&ns_key.name)
                .filter(|(_, o)| !meta::is_deleting(o))
                .map(|(k, _)| k.clone())
                .collect();
            progressed |= self.delete_all(&content);
            if self.store.in_namespace(&ns_key.name).next().is_none() {
                progressed |= self.release(&namespaces, &ns_key, NAMESPACE_FINALIZER, true);
            }
        }
        progressed
    }

    /// Deletes the instances of CRDs being deleted; then the CRD cleanup finalizer goes.
    fn clean_up_deleted_crds(&mut self) -> bool {
        let deleted: Vec<(ObjectKey, Option<ResourceType>)> = self
            .store
            .deleting("apiextensions.k8s.io", "customresourcedefinitions")
            .map(|(k, crd)| (k.clone(), ResourceType::from_crd(crd).ok()))
            .collect();
        let mut progressed = false;
        for (crd_key, served) in deleted {
            if let Some(served) = served {
                let instances: Vec<ObjectKey> = self
                    .store
                    .range(&served.group, &served.plural, None)
                    .filter(|(_, o)| !meta::is_deleting(o))
                    .map(|(k, _)| k.clone())
                    .collect();
                progressed |= self.delete_all(&instances);
                if self
                    .store
                    .range(&served.group, &served.plural, None)
                    .next()
                    .is_some()
                {
                    continue;
                }
            }
            let crds = self
                .registry
                .builtin("apiextensions.k8s.io", "customresourcedefinitions")
                .clone();
            progressed |= self.release(&crds, &crd_key, CRD_CLEANUP_FINALIZER, false);
        }
        progressed
    }

    /// Deletes objects all of whose owners are gone; drops references to missing owners
    /// from objects that still have a live one.
    fn collect_orphans(&mut self) -> bool {
        let mut fully_orphaned = Vec::new();
        let mut dangling = Vec::new();
        // Only objects with owner references can be orphans.
        for (key, obj) in self.store.owned() {
            let owners = meta::owner_uids(obj);
            let missing: Vec<String> = owners
                .iter()
                .filter(|u| !self.store.has_uid(u))
                .cloned()
                .collect();
            if missing.is_empty() {
                continue;
            }
            if missing.len() == owners.len() {
                if !meta::is_deleting(obj) {
                    fully_orphaned.push(key.clone());
                }
            } else {
                dangling.extend(missing);
            }
        }
        let mut progressed = self.delete_all(&fully_orphaned);
        if !dangling.is_empty() {
            progressed |= self.drop_owner_references(&dangling);
        }
        progressed
    }

    fn delete_all(&mut self, keys: &[ObjectKey]) -> bool {
        let mut progressed = false;
        for key in keys {
            if let Some(rt) = self.kind_of(key) {
                progressed |= self
                    .begin_delete(&rt, key, Propagation::Background)
                    .is_some();
            }
        }
        progressed
    }

    /// Removes `finalizer` (from `spec.finalizers` for namespaces) and the object if nothing
    /// else holds it.
    fn release(
        &mut self,
        rt: &ResourceType,
        key: &ObjectKey,
        finalizer: &str,
        in_spec: bool,
    ) -> bool {
        let Some(current) = self.store.get(key).cloned() else {
            return false;
        };
        let mut obj = (*current).clone();
        let list = if in_spec {
            meta::string_list(obj.pointer("/spec/finalizers"))
        } else {
            meta::finalizers(&obj)
        };
        let mut progressed = false;
        if list.iter().any(|f| f == finalizer) {
            let rest: Vec<String> = list.into_iter().filter(|f| f != finalizer).collect();
            if in_spec {
                kinds::set_spec_finalizers(&mut obj, rest);
            } else {
                meta::set(&mut obj, "finalizers", rest.into());
            }
            self.put(key.clone(), obj);
            progressed = true;
        }
        let held = self
            .store
            .get(key)
            .is_some_and(|o| kinds::holds_deletion(rt, o));
        if !held {
            progressed |= self.remove(key).is_some();
        }
        progressed
    }

    /// Strips owner references to `uids` from every object that has them.
    pub(crate) fn drop_owner_references(&mut self, uids: &[String]) -> bool {
        let affected: Vec<(ObjectKey, Value)> = self
            .store
            .owned()
            .filter(|(_, o)| meta::owner_uids(o).iter().any(|u| uids.contains(u)))
            .map(|(k, o)| {
                let mut obj = (**o).clone();
                let kept: Vec<Value> = obj
                    .pointer("/metadata/ownerReferences")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter(|r| {
                        !r.get("uid")
                            .and_then(Value::as_str)
                            .is_some_and(|u| uids.iter().any(|x| x == u))
                    })
                    .cloned()
                    .collect();
                let kept = if kept.is_empty() {
                    Value::Null
                } else {
                    Value::Array(kept)
                };
                meta::set(&mut obj, "ownerReferences", kept);
                (k.clone(), obj)
            })
            .collect();
        let progressed = !affected.is_empty();
        for (key, obj) in affected {
            self.put(key, obj);
        }
        progressed
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::cluster::{Cluster, DeleteOptions};

    #[test]
    fn deleting_a_namespace_removes_its_content_then_itself() {
        let mut cluster = Cluster::default();
        let ns = cluster.registry.builtin("", "namespaces").clone();
        let cms = cluster.registry.builtin("", "configmaps").clone();
        cluster
            .create(&ns, None, json!({"metadata": {"name": "team"}}))
            .unwrap();
        cluster
            .create(
                &cms,
                Some("team"),
                json!({"metadata": {"name": "held", "finalizers": ["x"]}}),
            )
            .unwrap();
        cluster
            .create(&cms, Some("team"), json!({"metadata": {"name": "free"}}))
            .unwrap();

        let terminating = cluster
            .delete(&ns, None, "team", &DeleteOptions::default())
            .unwrap();
        assert_eq!(terminating["status"]["phase"], "Terminating");
        assert!(cluster.get(&cms, Some("team"), "free").is_err());
        let refused = cluster.create(&cms, Some("team"), json!({"metadata": {"name": "new"}}));
        assert_eq!(refused.unwrap_err().code, 403);

        let mut held = (*cluster.get(&cms, Some("team"), "held").unwrap()).clone();
        held["metadata"]["finalizers"] = json!([]);
        cluster
            .update(
                &cms,
                Some("team"),
                "held",
                crate::cluster::Subresource::Main,
                held,
            )
            .unwrap();
        assert!(cluster.get(&ns, None, "team").is_err());
    }

    #[test]
    fn dependents_of_a_removed_owner_are_collected() {
        let mut cluster = Cluster::default();
        let cms = cluster.registry.builtin("", "configmaps").clone();
        let owner = cluster
            .create(
                &cms,
                Some("default"),
                json!({"metadata": {"name": "owner"}}),
            )
            .unwrap();
        let other = cluster
            .create(
                &cms,
                Some("default"),
                json!({"metadata": {"name": "other"}}),
            )
            .unwrap();
        let reference = |o: &serde_json::Value| json!({"apiVersion": "v1", "kind": "ConfigMap", "name": o["metadata"]["name"], "uid": o["metadata"]["uid"]});
        cluster
            .create(
                &cms,
                Some("default"),
                json!({"metadata": {"name": "dep", "ownerReferences": [reference(&owner)]}}),
            )
            .unwrap();
        cluster
            .create(
                &cms,
                Some("default"),
                json!({"metadata": {"name": "shared", "ownerReferences": [reference(&owner), reference(&other)]}}),
            )
            .unwrap();
        cluster
            .delete(&cms, Some("default"), "owner", &DeleteOptions::default())
            .unwrap();
        assert!(cluster.get(&cms, Some("default"), "dep").is_err());
        let shared = cluster.get(&cms, Some("default"), "shared").unwrap();
        assert_eq!(
            shared["metadata"]["ownerReferences"]
                .as_array()
                .map(Vec::len),
            Some(1)
        );
    }
}
