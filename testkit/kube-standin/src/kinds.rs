//! Per-kind rules on top of the generic object semantics: core namespaces and CRDs.

use serde_json::{Value, json};

use crate::meta;
use crate::resources::{ResourceType, Rules};

/// The finalizer the namespace controller removes once a terminating namespace is empty.
pub const NAMESPACE_FINALIZER: &str = "kubernetes";
/// The finalizer the CRD controller removes once every instance of a deleted CRD is gone.
pub const CRD_CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

/// Server-set fields of a new object; the error is a field error (422).
pub fn prepare_create(rt: &ResourceType, obj: &mut Value) -> Result<(), String> {
    match rt.rules {
        Rules::CoreNamespace => {
            obj["status"] = json!({"phase": "Active"});
            let mut finalizers = meta::string_list(obj.pointer("/spec/finalizers"));
            if !finalizers.iter().any(|f| f == NAMESPACE_FINALIZER) {
                finalizers.push(NAMESPACE_FINALIZER.into());
            }
            set_spec_finalizers(obj, finalizers);
            Ok(())
        }
        Rules::Crd => {
            let served = ResourceType::from_crd(obj)?;
            let mut finalizers = meta::finalizers(obj);
            if !finalizers.iter().any(|f| f == CRD_CLEANUP_FINALIZER) {
                finalizers.push(CRD_CLEANUP_FINALIZER.into());
            }
            meta::set(obj, "finalizers", json!(finalizers));
            obj["status"] = crd_status(&served, None);
            Ok(())
        }
        Rules::Builtin | Rules::Custom => Ok(()),
    }
}

/// Rules for a write to an existing object (after the status-subresource split).
pub fn prepare_update(rt: &ResourceType, old: &Value, new: &mut Value) -> Result<(), String> {
    match rt.rules {
        Rules::CoreNamespace => {
            // `spec.finalizers` only changes through `/finalize`, which the namespace controller uses.
            set_spec_finalizers(new, meta::string_list(old.pointer("/spec/finalizers")));
            Ok(())
        }
        Rules::Crd => {
            let served = ResourceType::from_crd(new)?;
            new["status"] = crd_status(&served, old.pointer("/status/conditions"));
            Ok(())
        }
        Rules::Builtin | Rules::Custom => Ok(()),
    }
}

/// Extra changes when an object enters deletion.
pub fn mark_deleting(rt: &ResourceType, obj: &mut Value) {
    if rt.rules == Rules::CoreNamespace {
        let mut status = obj
            .get("status")
            .filter(|s| s.is_object())
            .cloned()
            .unwrap_or_else(|| json!({}));
        status["phase"] = "Terminating".into();
        obj["status"] = status;
    }
}

/// Whether something still holds the object after a delete request.
pub fn holds_deletion(rt: &ResourceType, obj: &Value) -> bool {
    !meta::finalizers(obj).is_empty()
        || (rt.rules == Rules::CoreNamespace
            && !meta::string_list(obj.pointer("/spec/finalizers")).is_empty())
}

pub fn set_spec_finalizers(obj: &mut Value, finalizers: Vec<String>) {
    if !obj.get("spec").is_some_and(Value::is_object) {
        obj["spec"] = json!({});
    }
    obj["spec"]["finalizers"] = json!(finalizers);
}

/// What the CRD controllers report: names accepted, established.
// simplification: names are always accepted (no conflict detection between CRDs).
fn crd_status(served: &ResourceType, conditions: Option<&Value>) -> Value {
    let now = meta::now();
    let conditions = conditions.cloned().unwrap_or_else(|| {
        json!([
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
             "message": "no conflicts found", "lastTransitionTime": now},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
             "message": "the initial names have been accepted", "lastTransitionTime": now},
        ])
    });
    json!({
        "acceptedNames": {
            "plural": served.plural,
            "singular": served.singular,
            "kind": served.kind,
            "listKind": served.list_kind,
            "shortNames": served.short_names,
        },
        "storedVersions": [served.preferred_version()],
        "conditions": conditions,
    })
}
