//! Status writes: only what changed, as an RFC 7386 merge patch, so a steady state costs no
//! write and a field that must go (a stale project id) is removed with an explicit `null`.

use kube::api::{Api, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use super::error::Result;

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
