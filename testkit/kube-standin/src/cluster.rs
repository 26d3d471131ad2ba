//! The apiserver's object semantics over the versioned store: create, update, patch,
//! delete with finalizers, status subresource, generation, preconditions, list paging.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::kinds;
use crate::meta;
use crate::patch::{self, PatchError, PatchKind};
use crate::render::ListMeta;
use crate::resources::{Registry, ResourceType, Rules};
use crate::selectors::Selector;
use crate::store::{ObjectKey, Store};

const CRD_GROUP: &str = "apiextensions.k8s.io";
const CRD_PLURAL: &str = "customresourcedefinitions";

/// Which part of an object a write addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subresource {
    Main,
    Status,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Propagation {
    #[default]
    Background,
    Orphan,
}

/// The parts of `DeleteOptions` that are honoured.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeleteOptions {
    pub uid: Option<String>,
    pub resource_version: Option<String>,
    // simplification: `Foreground` is treated as `Background`; `gracePeriodSeconds` is ignored
    // (there are no pods, deletion is immediate unless finalizers hold the object).
    pub propagation: Propagation,
}

impl DeleteOptions {
    /// From the JSON `DeleteOptions` body and query parameters (body wins).
    pub fn parse(body: &[u8], query_propagation: Option<&str>) -> ApiResult<Self> {
        let body: Value = if body.iter().all(u8::is_ascii_whitespace) {
            json!({})
        } else {
            serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("invalid DeleteOptions: {e}")))?
        };
        let text = |p: &str| meta::str_at(&body, p).map(str::to_owned);
        let orphan = body.get("orphanDependents").and_then(Value::as_bool) == Some(true);
        let propagation = match text("/propagationPolicy").as_deref().or(query_propagation) {
            Some("Orphan") => Propagation::Orphan,
            _ if orphan => Propagation::Orphan,
            Some("Background" | "Foreground") | None => Propagation::Background,
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "propagationPolicy: Unsupported value: \"{other}\""
                )));
            }
        };
        Ok(Self {
            uid: text("/preconditions/uid"),
            resource_version: text("/preconditions/resourceVersion"),
            propagation,
        })
    }
}

/// A page of a list request.
#[derive(Debug, Clone, Default)]
pub struct ListPage {
    pub items: Vec<Arc<Value>>,
    pub meta: ListMeta,
}

/// All cluster state: objects plus the kinds they define.
#[derive(Debug, Clone)]
pub struct Cluster {
    pub store: Store,
    pub registry: Registry,
}

impl Default for Cluster {
    /// An empty cluster with the namespaces every cluster has.
    fn default() -> Self {
        let mut cluster = Self {
            store: Store::default(),
            registry: Registry::default(),
        };
        let namespaces = cluster.registry.builtin("", "namespaces").clone();
        for name in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            let created = cluster.create(&namespaces, None, json!({"metadata": {"name": name}}));
            debug_assert!(created.is_ok(), "seeding namespace {name}: {created:?}");
        }
        cluster
    }
}

fn key(rt: &ResourceType, namespace: Option<&str>, name: &str) -> ObjectKey {
    ObjectKey::new(
        &rt.group,
        &rt.plural,
        namespace.filter(|_| rt.namespaced),
        name,
    )
}

fn set_or_remove(obj: &mut Value, field: &str, value: Option<Value>) {
    if let Some(map) = obj.as_object_mut() {
        match value {
            Some(v) => map.insert(field.to_owned(), v),
            None => map.remove(field),
        };
    }
}

/// The object without the parts that do not count for `metadata.generation`.
fn generation_relevant(rt: &ResourceType, obj: &Value) -> Value {
    let mut copy = obj.clone();
    set_or_remove(&mut copy, "metadata", None);
    if rt.status_subresource {
        set_or_remove(&mut copy, "status", None);
    }
    copy
}

fn map_patch_error(e: PatchError) -> ApiError {
    match e {
        PatchError::Malformed(m) => ApiError::bad_request(m),
        PatchError::NotApplicable(m) => ApiError::new(422, m),
    }
}

impl Cluster {
    pub fn get(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
        name: &str,
    ) -> ApiResult<Arc<Value>> {
        self.store
            .get(&key(rt, namespace, name))
            .cloned()
            .ok_or_else(|| ApiError::not_found(rt, name))
    }

    /// One page of matching objects, ordered by namespace and name.
    // simplification: later pages show the objects as they are now, not as of the first page;
    // the list resourceVersion stays the first page's, so a following watch replays the gap.
    pub fn list(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
        selector: &Selector,
        limit: Option<usize>,
        continue_token: Option<&str>,
    ) -> ApiResult<ListPage> {
        let (revision, after) = match continue_token {
            Some(token) => parse_continue(token)?,
            None => (self.store.revision(), None),
        };
        if revision < self.store.oldest_watchable() {
            return Err(ApiError::gone(
                "The provided continue parameter is too old to display a consistent list result. \
                 You can start a new list without the continue parameter.",
            ));
        }
        let namespace = namespace.filter(|_| rt.namespaced);
        let after = after
            .as_ref()
            .map(|(ns, name)| (ns.as_str(), name.as_str()));
        let mut matching = self
            .store
            .range_after(&rt.group, &rt.plural, namespace, after)
            .filter(|(_, o)| selector.matches(o));
        let limit = limit.filter(|l| *l > 0).unwrap_or(usize::MAX);
        let page: Vec<(&ObjectKey, &Arc<Value>)> = matching.by_ref().take(limit).collect();
        let remaining = matching.count();
        let continue_token = match page.last() {
            Some((last, _)) if remaining > 0 => {
                Some(format!("{revision}/{}/{}", last.namespace, last.name))
            }
            _ => None,
        };
        Ok(ListPage {
            items: page.into_iter().map(|(_, o)| o.clone()).collect(),
            meta: ListMeta {
                resource_version: revision,
                remaining: continue_token.as_ref().map(|_| remaining),
                continue_token,
            },
        })
    }

    pub fn create(
        &mut self,
        rt: &ResourceType,
        namespace: Option<&str>,
        mut obj: Value,
    ) -> ApiResult<Arc<Value>> {
        if !obj.is_object() {
            return Err(ApiError::bad_request(
                "the request body must be a JSON object",
            ));
        }
        let namespace = self.namespace_for_create(rt, namespace, &obj)?;
        let name = self.name_for_create(rt, namespace, &obj)?;
        if let Err(e) = meta::validate_name(&name, rt.rules == Rules::CoreNamespace) {
            return Err(ApiError::invalid(rt, &name, e));
        }
        if meta::resource_version(&obj).is_some() {
            return Err(ApiError::new(
                500,
                "resourceVersion should not be set on objects to be created",
            ));
        }
        let key = key(rt, namespace, &name);
        if self.store.get(&key).is_some() {
            return Err(ApiError::already_exists(rt, &name));
        }
        let metadata = meta::metadata_mut(&mut obj);
        metadata.insert("name".into(), name.clone().into());
        match namespace {
            Some(ns) => metadata.insert("namespace".into(), ns.into()),
            None => metadata.remove("namespace"),
        };
        metadata.insert("uid".into(), meta::new_uid().into());
        metadata.insert("creationTimestamp".into(), meta::now().into());
        for system_field in [
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "managedFields",
            "selfLink",
        ] {
            metadata.remove(system_field);
        }
        if rt.tracks_generation() {
            metadata.insert("generation".into(), 1.into());
        }
        // simplification: custom resources are not validated, pruned or defaulted against the
        // CRD's OpenAPI schema.
        if rt.status_subresource {
            // With a status subresource, status is written only through `/status`.
            set_or_remove(&mut obj, "status", None);
        }
        kinds::prepare_create(rt, &mut obj).map_err(|e| ApiError::invalid(rt, &name, e))?;
        let stored = self.put(key, obj);
        self.settle();
        Ok(stored)
    }

    fn namespace_for_create<'a>(
        &self,
        rt: &ResourceType,
        namespace: Option<&'a str>,
        obj: &Value,
    ) -> ApiResult<Option<&'a str>> {
        if !rt.namespaced {
            return Ok(None);
        }
        let Some(ns) = namespace else {
            return Err(ApiError::method_not_allowed());
        };
        if meta::str_at(obj, "/metadata/namespace").is_some_and(|n| !n.is_empty() && n != ns) {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        let namespaces = self.registry.builtin("", "namespaces");
        let holder = self
            .store
            .get(&key(namespaces, None, ns))
            .ok_or_else(|| ApiError::not_found(namespaces, ns))?;
        if meta::is_deleting(holder) {
            let name = meta::name(obj).unwrap_or_default();
            return Err(ApiError::forbidden(
                rt,
                name,
                format!(
                    "unable to create new content in namespace {ns} because it is being terminated"
                ),
            ));
        }
        if rt.rules == Rules::Custom {
            let crd_name = format!("{}.{}", rt.plural, rt.group);
            let crd = ObjectKey::new(CRD_GROUP, CRD_PLURAL, None, &crd_name);
            if self.store.get(&crd).is_some_and(|c| meta::is_deleting(c)) {
                return Err(ApiError::new(
                    405,
                    "create not allowed while custom resource definition is terminating",
                ));
            }
        }
        Ok(Some(ns))
    }

    fn name_for_create(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
        obj: &Value,
    ) -> ApiResult<String> {
        if let Some(name) = meta::name(obj).filter(|n| !n.is_empty()) {
            return Ok(name.to_owned());
        }
        let Some(prefix) = meta::str_at(obj, "/metadata/generateName").filter(|p| !p.is_empty())
        else {
            return Err(ApiError::invalid(
                rt,
                "",
                "metadata.name: Required value: name or generateName is required",
            ));
        };
        // The real server answers a collision with AlreadyExists; retrying here is friendlier.
        let name = std::iter::repeat_with(|| format!("{prefix}{}", meta::name_suffix()))
            .find(|n| self.store.get(&key(rt, namespace, n)).is_none())
            .unwrap_or_default();
        Ok(name)
    }

    /// PUT: a full replacement, conditional on `metadata.resourceVersion`.
    pub fn update(
        &mut self,
        rt: &ResourceType,
        namespace: Option<&str>,
        name: &str,
        sub: Subresource,
        obj: Value,
    ) -> ApiResult<Arc<Value>> {
        let key = key(rt, namespace, name);
        let old = self
            .store
            .get(&key)
            .cloned()
            .ok_or_else(|| ApiError::not_found(rt, name))?;
        if !obj.is_object() {
            return Err(ApiError::bad_request(
                "the request body must be a JSON object",
            ));
        }
        match meta::resource_version(&obj) {
            None if !rt.allows_unconditional_update() => {
                return Err(ApiError::invalid(
                    rt,
                    name,
                    "metadata.resourceVersion: Invalid value: 0x0: must be specified for an update",
                ));
            }
            Some(rv) if Some(rv) != meta::resource_version(&old) => {
                return Err(ApiError::conflict(rt, name));
            }
            _ => {}
        }
        self.commit_update(rt, &key, &old, obj, sub)
    }

    /// PATCH in any of its flavours; server-side apply creates a missing object.
    #[allow(clippy::too_many_arguments)] // mirrors the request: target, flavour, body, manager
    pub fn patch(
        &mut self,
        rt: &ResourceType,
        namespace: Option<&str>,
        name: &str,
        sub: Subresource,
        kind: PatchKind,
        body: &[u8],
        field_manager: Option<&str>,
    ) -> ApiResult<Arc<Value>> {
        if kind == PatchKind::Strategic && !rt.accepts_strategic_merge() {
            return Err(ApiError::unsupported_media_type(
                "application/strategic-merge-patch+json",
                &[
                    "application/json-patch+json",
                    "application/merge-patch+json",
                    "application/apply-patch+yaml",
                ],
            ));
        }
        if kind == PatchKind::Apply && field_manager.is_none_or(str::is_empty) {
            return Err(ApiError::bad_request(
                "PATCH /apply requires a non-empty fieldManager query parameter",
            ));
        }
        let key = key(rt, namespace, name);
        let Some(old) = self.store.get(&key).cloned() else {
            if kind == PatchKind::Apply && sub == Subresource::Main {
                return self.apply_create(rt, namespace, name, body);
            }
            return Err(ApiError::not_found(rt, name));
        };
        let mut candidate = (*old).clone();
        patch::apply(kind, &mut candidate, body).map_err(map_patch_error)?;
        if !candidate.is_object() {
            return Err(ApiError::new(
                422,
                "the patched object must be a JSON object",
            ));
        }
        // A resourceVersion or uid in the patch is a precondition, as on the real server.
        if meta::resource_version(&candidate)
            .is_some_and(|rv| Some(rv) != meta::resource_version(&old))
        {
            return Err(ApiError::conflict(rt, name));
        }
        if let (Some(patched), Some(current)) = (meta::uid(&candidate), meta::uid(&old))
            && patched != current
        {
            return Err(ApiError::precondition_failed(
                rt,
                name,
                format!(
                    "Precondition failed: UID in precondition: {patched}, UID in object meta: {current}"
                ),
            ));
        }
        self.commit_update(rt, &key, &old, candidate, sub)
    }

    fn apply_create(
        &mut self,
        rt: &ResourceType,
        namespace: Option<&str>,
        name: &str,
        body: &[u8],
    ) -> ApiResult<Arc<Value>> {
        let mut obj = patch::parse_object(body).map_err(map_patch_error)?;
        if meta::name(&obj).is_some_and(|n| n != name) {
            return Err(name_mismatch(meta::name(&obj).unwrap_or_default(), name));
        }
        meta::set(&mut obj, "name", name.into());
        self.create(rt, namespace, obj)
    }

    /// The shared tail of PUT and PATCH: subresource split, system fields, finalizer rule,
    /// generation, no-op detection, and removal once the last finalizer is gone.
    fn commit_update(
        &mut self,
        rt: &ResourceType,
        key: &ObjectKey,
        old: &Arc<Value>,
        mut new: Value,
        sub: Subresource,
    ) -> ApiResult<Arc<Value>> {
        let name = key.name.as_str();
        if meta::name(&new) != Some(name) {
            return Err(name_mismatch(meta::name(&new).unwrap_or_default(), name));
        }
        if rt.namespaced
            && meta::str_at(&new, "/metadata/namespace")
                .is_some_and(|ns| !ns.is_empty() && ns != key.namespace)
        {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        match sub {
            Subresource::Status => {
                let status = new.get("status").cloned();
                new = (**old).clone();
                set_or_remove(&mut new, "status", status);
            }
            Subresource::Main if rt.status_subresource => {
                set_or_remove(&mut new, "status", old.get("status").cloned());
            }
            Subresource::Main => {}
        }
        for system_field in [
            "name",
            "namespace",
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "resourceVersion",
            "managedFields",
        ] {
            let value = old.pointer(&format!("/metadata/{system_field}")).cloned();
            meta::set(&mut new, system_field, value.unwrap_or(Value::Null));
        }
        if meta::is_deleting(old) {
            let before = meta::finalizers(old);
            let added: Vec<String> = meta::finalizers(&new)
                .into_iter()
                .filter(|f| !before.contains(f))
                .collect();
            if !added.is_empty() {
                return Err(ApiError::invalid(
                    rt,
                    name,
                    format!(
                        "metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers {added:?}"
                    ),
                ));
            }
        }
        kinds::prepare_update(rt, old, &mut new).map_err(|e| ApiError::invalid(rt, name, e))?;
        if rt.tracks_generation() && generation_relevant(rt, &new) != generation_relevant(rt, old) {
            let generation = old
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            meta::set(&mut new, "generation", (generation + 1).into());
        }
        if new == **old {
            // Like the real server, a no-op write neither bumps resourceVersion nor notifies watches.
            return Ok(old.clone());
        }
        let stored = self.put(key.clone(), new);
        let result = if meta::is_deleting(&stored) && !kinds::holds_deletion(rt, &stored) {
            self.remove(key).unwrap_or(stored)
        } else {
            stored
        };
        self.settle();
        Ok(result)
    }

    pub fn delete(
        &mut self,
        rt: &ResourceType,
        namespace: Option<&str>,
        name: &str,
        opts: &DeleteOptions,
    ) -> ApiResult<Arc<Value>> {
        let key = key(rt, namespace, name);
        let old = self
            .store
            .get(&key)
            .cloned()
            .ok_or_else(|| ApiError::not_found(rt, name))?;
        check_delete_preconditions(rt, &old, opts)?;
        let result = self.begin_delete(rt, &key, opts.propagation).unwrap_or(old);
        self.settle();
        Ok(result)
    }

    pub fn delete_collection(
        &mut self,
        rt: &ResourceType,
        namespace: Option<&str>,
        selector: &Selector,
        opts: &DeleteOptions,
    ) -> ApiResult<Vec<Arc<Value>>> {
        let keys: Vec<ObjectKey> = self
            .store
            .range(&rt.group, &rt.plural, namespace.filter(|_| rt.namespaced))
            .filter(|(_, o)| selector.matches(o))
            .map(|(k, _)| k.clone())
            .collect();
        let deleted = keys
            .iter()
            .filter_map(|k| self.begin_delete(rt, k, opts.propagation))
            .collect();
        self.settle();
        Ok(deleted)
    }

    /// Starts deleting `key`: sets `deletionTimestamp` if something holds the object,
    /// removes it otherwise. Returns the object's new state (its last state if removed).
    pub(crate) fn begin_delete(
        &mut self,
        rt: &ResourceType,
        key: &ObjectKey,
        propagation: Propagation,
    ) -> Option<Arc<Value>> {
        let old = self.store.get(key).cloned()?;
        if meta::is_deleting(&old) {
            return Some(old);
        }
        if propagation == Propagation::Orphan
            && let Some(uid) = meta::uid(&old)
        {
            // simplification: dependents are orphaned synchronously, without the `orphan` finalizer.
            self.drop_owner_references(&[uid.to_owned()]);
        }
        if !kinds::holds_deletion(rt, &old) {
            return self.remove(key);
        }
        let mut obj = (*old).clone();
        meta::set(&mut obj, "deletionTimestamp", meta::now().into());
        meta::set(&mut obj, "deletionGracePeriodSeconds", 0.into());
        if rt.tracks_generation() {
            let generation = old
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            meta::set(&mut obj, "generation", (generation + 1).into());
        }
        kinds::mark_deleting(rt, &mut obj);
        Some(self.put(key.clone(), obj))
    }

    /// The served kind an object key belongs to (any version).
    pub(crate) fn kind_of(&self, key: &ObjectKey) -> Option<ResourceType> {
        self.registry
            .all()
            .find(|rt| key.same_resource(&rt.group, &rt.plural))
            .cloned()
    }

    /// Every write goes through here so the served kinds follow the stored CRDs.
    pub(crate) fn put(&mut self, key: ObjectKey, obj: Value) -> Arc<Value> {
        let is_crd = key.same_resource(CRD_GROUP, CRD_PLURAL);
        let stored = self.store.put(key, obj);
        if is_crd {
            self.refresh_custom_kinds();
        }
        stored
    }

    pub(crate) fn remove(&mut self, key: &ObjectKey) -> Option<Arc<Value>> {
        let removed = self.store.remove(key);
        if key.same_resource(CRD_GROUP, CRD_PLURAL) {
            self.refresh_custom_kinds();
        }
        removed
    }

    fn refresh_custom_kinds(&mut self) {
        let crds: Vec<Value> = self
            .store
            .range(CRD_GROUP, CRD_PLURAL, None)
            .map(|(_, o)| (**o).clone())
            .collect();
        self.registry.set_custom(&crds);
    }
}

fn name_mismatch(in_body: &str, in_url: &str) -> ApiError {
    ApiError::bad_request(format!(
        "the name of the object ({in_body}) does not match the name on the URL ({in_url})"
    ))
}

fn check_delete_preconditions(
    rt: &ResourceType,
    obj: &Value,
    opts: &DeleteOptions,
) -> ApiResult<()> {
    let name = meta::name(obj).unwrap_or_default();
    if let Some(uid) = &opts.uid
        && Some(uid.as_str()) != meta::uid(obj)
    {
        return Err(ApiError::precondition_failed(
            rt,
            name,
            format!(
                "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                meta::uid(obj).unwrap_or_default()
            ),
        ));
    }
    if let Some(rv) = &opts.resource_version
        && Some(rv.as_str()) != meta::resource_version(obj)
    {
        return Err(ApiError::precondition_failed(
            rt,
            name,
            format!(
                "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                meta::resource_version(obj).unwrap_or_default()
            ),
        ));
    }
    Ok(())
}

/// `"<revision>/<namespace>/<name>"` of the last item of the previous page.
fn parse_continue(token: &str) -> ApiResult<(u64, Option<(String, String)>)> {
    let invalid = || ApiError::bad_request("continue key is not valid");
    let mut parts = token.splitn(3, '/');
    let revision = parts
        .next()
        .and_then(|r| r.parse().ok())
        .ok_or_else(invalid)?;
    let namespace = parts.next().ok_or_else(invalid)?;
    let name = parts.next().ok_or_else(invalid)?;
    Ok((revision, Some((namespace.to_owned(), name.to_owned()))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn custom_kind() -> ResourceType {
        let crd = json!({
            "metadata": {"name": "widgets.example.com"},
            "spec": {
                "group": "example.com",
                "names": {"plural": "widgets", "kind": "Widget"},
                "scope": "Namespaced",
                "versions": [{"name": "v1", "served": true, "storage": true, "subresources": {"status": {}}}],
            }
        });
        ResourceType::from_crd(&crd).unwrap()
    }

    fn widget(name: &str) -> Value {
        json!({"metadata": {"name": name}, "spec": {"size": 1}, "status": {"ready": true}})
    }

    #[test]
    fn create_sets_system_fields_and_drops_status() {
        let (mut cluster, rt) = (Cluster::default(), custom_kind());
        let w = cluster.create(&rt, Some("default"), widget("a")).unwrap();
        assert_eq!(w["metadata"]["generation"], 1);
        assert_eq!(w["metadata"]["namespace"], "default");
        assert!(meta::uid(&w).is_some() && w.get("status").is_none());
        let again = cluster
            .create(&rt, Some("default"), widget("a"))
            .unwrap_err();
        assert_eq!(again.reason, "AlreadyExists");
        let missing_ns = cluster.create(&rt, Some("nope"), widget("b")).unwrap_err();
        assert_eq!(missing_ns.code, 404);
    }

    #[test]
    fn status_and_spec_writes_are_isolated() {
        let (mut cluster, rt) = (Cluster::default(), custom_kind());
        let w = cluster.create(&rt, Some("default"), widget("a")).unwrap();
        let mut status_write = (*w).clone();
        status_write["status"] = json!({"ready": true});
        status_write["spec"] = json!({"size": 9});
        let s = cluster
            .update(&rt, Some("default"), "a", Subresource::Status, status_write)
            .unwrap();
        assert_eq!(s["spec"]["size"], 1);
        assert_eq!(s["status"]["ready"], true);
        assert_eq!(s["metadata"]["generation"], 1);

        let mut spec_write = (*s).clone();
        spec_write["spec"] = json!({"size": 2});
        spec_write["status"] = json!({"ready": false});
        let m = cluster
            .update(&rt, Some("default"), "a", Subresource::Main, spec_write)
            .unwrap();
        assert_eq!(m["status"]["ready"], true);
        assert_eq!(m["metadata"]["generation"], 2);
    }

    #[test]
    fn stale_or_missing_resource_version_is_refused() {
        let (mut cluster, rt) = (Cluster::default(), custom_kind());
        let w = cluster.create(&rt, Some("default"), widget("a")).unwrap();
        let mut stale = (*w).clone();
        stale["metadata"]["resourceVersion"] = "1".into();
        assert_eq!(
            cluster
                .update(&rt, Some("default"), "a", Subresource::Main, stale)
                .unwrap_err()
                .reason,
            "Conflict"
        );
        let mut missing = (*w).clone();
        meta::set(&mut missing, "resourceVersion", Value::Null);
        assert_eq!(
            cluster
                .update(&rt, Some("default"), "a", Subresource::Main, missing)
                .unwrap_err()
                .code,
            422
        );
    }

    #[test]
    fn finalizers_hold_deletion_until_removed() {
        let (mut cluster, rt) = (Cluster::default(), custom_kind());
        let mut w = widget("a");
        w["metadata"]["finalizers"] = json!(["x"]);
        cluster.create(&rt, Some("default"), w).unwrap();
        let deleting = cluster
            .delete(&rt, Some("default"), "a", &DeleteOptions::default())
            .unwrap();
        assert!(meta::is_deleting(&deleting));
        let add = br#"{"metadata":{"finalizers":["x","y"]}}"#;
        let refused = cluster.patch(
            &rt,
            Some("default"),
            "a",
            Subresource::Main,
            PatchKind::Merge,
            add,
            None,
        );
        assert_eq!(refused.unwrap_err().code, 422);
        let remove = br#"[{"op":"test","path":"/metadata/finalizers/0","value":"x"},{"op":"remove","path":"/metadata/finalizers/0"}]"#;
        cluster
            .patch(
                &rt,
                Some("default"),
                "a",
                Subresource::Main,
                PatchKind::Json,
                remove,
                None,
            )
            .unwrap();
        assert_eq!(
            cluster.get(&rt, Some("default"), "a").unwrap_err().code,
            404
        );
    }

    #[test]
    fn pagination_walks_all_items() {
        let (mut cluster, rt) = (Cluster::default(), custom_kind());
        for name in ["a", "b", "c"] {
            cluster.create(&rt, Some("default"), widget(name)).unwrap();
        }
        let all = Selector::default();
        let first = cluster.list(&rt, None, &all, Some(2), None).unwrap();
        assert_eq!(first.items.len(), 2);
        assert_eq!(first.meta.remaining, Some(1));
        let token = first.meta.continue_token.unwrap();
        let second = cluster
            .list(&rt, None, &all, Some(2), Some(&token))
            .unwrap();
        assert_eq!(meta::name(&second.items[0]), Some("c"));
        assert!(second.meta.continue_token.is_none());
        assert_eq!(
            cluster
                .list(&rt, None, &all, None, Some("x"))
                .unwrap_err()
                .code,
            400
        );
    }

    #[test]
    fn strategic_merge_is_refused_for_custom_resources() {
        let (mut cluster, rt) = (Cluster::default(), custom_kind());
        cluster.create(&rt, Some("default"), widget("a")).unwrap();
        let err = cluster
            .patch(
                &rt,
                Some("default"),
                "a",
                Subresource::Main,
                PatchKind::Strategic,
                b"{}",
                None,
            )
            .unwrap_err();
        assert_eq!(err.code, 415);
    }
}
