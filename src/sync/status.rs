//! Status of the four kinds: the `Ready` condition (and TKEStack's phase where the kind has one),
//! written only when something changed, as an RFC 7386 merge patch, so a steady state costs no
//! write and a field that must go (a stale project id) is removed with an explicit `null`.

use std::fmt::Debug;

use kube::api::{Api, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use super::context::Context;
use super::error::Result;
use crate::resources::status::ready_condition;
use crate::resources::{Phase, SyncStatus};

/// A resource whose status carries harbor-bridge's sync fields.
pub trait Synced:
    Resource<DynamicType = ()> + Clone + Debug + DeserializeOwned + Serialize + Send + Sync + 'static
{
    type Status: Clone + Default + PartialEq + Serialize + Send + Sync;

    fn status(&self) -> Option<&Self::Status>;
    fn sync(status: &Self::Status) -> &SyncStatus;
    fn sync_mut(status: &mut Self::Status) -> &mut SyncStatus;
    /// Keeps TKEStack's `phase` next to the `Ready` condition, for kinds that have one.
    fn record_phase(_status: &mut Self::Status, _phase: Phase, _reason: &str, _message: &str) {}
}

/// The `Ready=False` reason while a resource's Harbor object is being deleted.
pub const DELETING: &str = "Deleting";

/// Applies `change` to a copy of the status and writes what changed. Returns whether it wrote.
pub async fn update<K: Synced>(
    api: &Api<K>,
    object: &K,
    change: impl FnOnce(&mut K::Status),
) -> Result<bool> {
    let mut next = object.status().cloned().unwrap_or_default();
    change(&mut next);
    write(api, object, object.status(), &next).await
}

/// Marks `status` Ready (phase `Available`) for the object's current generation.
pub fn set_ready<K: Synced>(object: &K, status: &mut K::Status, reason: &str, message: &str) {
    K::record_phase(status, Phase::Available, reason, message);
    let generation = object.meta().generation;
    let sync = K::sync_mut(status);
    sync.observed_generation = generation;
    sync.set_condition(ready_condition(true, reason, message, generation));
}

/// Records `Ready=False` (phase `Failed`, or `Terminating` while deleting), and publishes a
/// Warning event when the reason or message is new. Returns whether status changed.
pub async fn not_ready<K: Synced>(
    ctx: &Context,
    api: &Api<K>,
    object: &K,
    reason: &str,
    message: &str,
) -> Result<bool> {
    let generation = object.meta().generation;
    let changed = update(api, object, |status| {
        let phase = if reason == DELETING {
            Phase::Terminating
        } else {
            Phase::Failed
        };
        K::record_phase(status, phase, reason, message);
        let sync = K::sync_mut(status);
        sync.observed_generation = generation;
        sync.set_condition(ready_condition(false, reason, message, generation));
    })
    .await?;
    if changed && reason != DELETING {
        tracing::warn!(kind = %K::kind(&()), object = %object.name_any(), reason, message, "not ready");
        ctx.event(object, true, reason, "Reconcile", message.to_owned())
            .await;
    }
    Ok(changed)
}

/// The merge patch that turns `old` into `new`, or `None` when they are equal.
pub fn merge_patch(old: &Value, new: &Value) -> Option<Value> {
    match (old, new) {
        (Value::Object(old), Value::Object(new)) => {
            let mut patch = Map::new();
            for (key, new_value) in new {
                let change = match old.get(key) {
                    Some(old_value) => merge_patch(old_value, new_value),
                    None => Some(new_value.clone()),
                };
                if let Some(change) = change {
                    patch.insert(key.clone(), change);
                }
            }
            for key in old.keys().filter(|k| !new.contains_key(*k)) {
                patch.insert(key.clone(), Value::Null);
            }
            (!patch.is_empty()).then_some(Value::Object(patch))
        }
        _ if old == new => None,
        _ => Some(new.clone()),
    }
}

/// Writes `new` as the object's status when it differs from `old`. Returns whether it wrote.
pub async fn write<K, S>(api: &Api<K>, object: &K, old: Option<&S>, new: &S) -> Result<bool>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
    S: Serialize,
{
    let old = old.map_or(Value::Null, |s| {
        serde_json::to_value(s).unwrap_or(Value::Null)
    });
    let new = serde_json::to_value(new).unwrap_or(Value::Null);
    let Some(patch) = merge_patch(&old, &new) else {
        return Ok(false);
    };
    api.patch_status(
        &object.name_any(),
        &PatchParams::default(),
        &Patch::Merge(json!({ "status": patch })),
    )
    .await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_values_need_no_patch() {
        let v = json!({"repoCount": 3, "conditions": [{"type": "Ready"}]});
        assert_eq!(merge_patch(&v, &v), None);
    }

    #[test]
    fn changes_additions_and_removals() {
        let old = json!({"repoCount": 3, "harborProject": {"name": "p", "id": 7}, "locked": true});
        let new = json!({"repoCount": 4, "harborProject": {"name": "p"}, "locked": true});
        assert_eq!(
            merge_patch(&old, &new),
            Some(json!({"repoCount": 4, "harborProject": {"id": null}}))
        );
        assert_eq!(merge_patch(&Value::Null, &new), Some(new.clone()));
    }

    #[test]
    fn lists_are_replaced_whole() {
        let old = json!({"tags": [{"name": "a"}]});
        let new = json!({"tags": [{"name": "a"}, {"name": "b"}]});
        assert_eq!(merge_patch(&old, &new), Some(new.clone()));
    }
}
