//! The PATCH flavours, selected by `Content-Type` as on the real server.

use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    /// RFC 7386 `application/merge-patch+json`.
    Merge,
    /// RFC 6902 `application/json-patch+json`.
    Json,
    /// `application/strategic-merge-patch+json`, only for built-in kinds.
    Strategic,
    /// Server-side apply, `application/apply-patch+yaml`.
    Apply,
}

impl PatchKind {
    pub const CONTENT_TYPES: [&str; 4] = [
        "application/json-patch+json",
        "application/merge-patch+json",
        "application/strategic-merge-patch+json",
        "application/apply-patch+yaml",
    ];

    pub fn from_content_type(content_type: &str) -> Option<Self> {
        let essence = content_type.split(';').next().unwrap_or_default().trim();
        match essence {
            "application/merge-patch+json" => Some(Self::Merge),
            "application/json-patch+json" => Some(Self::Json),
            "application/strategic-merge-patch+json" => Some(Self::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+json" => Some(Self::Apply),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    /// The body is not a patch of this kind (400).
    #[error("{0}")]
    Malformed(String),
    /// The patch is well-formed but cannot be applied, e.g. a failed `test` (422).
    #[error("{0}")]
    NotApplicable(String),
}

/// Applies `body` to `target` in place; on error `target` is unchanged.
pub fn apply(kind: PatchKind, target: &mut Value, body: &[u8]) -> Result<(), PatchError> {
    match kind {
        PatchKind::Json => {
            let ops: json_patch::Patch = serde_json::from_slice(body)
                .map_err(|e| PatchError::Malformed(format!("invalid JSON patch: {e}")))?;
            let mut work = target.clone();
            for op in &ops.0 {
                if is_null_test_of_missing_path(&work, op) {
                    continue;
                }
                json_patch::patch(&mut work, std::slice::from_ref(op)).map_err(|e| {
                    PatchError::NotApplicable(format!(
                        "the server rejected our request due to an error in our request: {e}"
                    ))
                })?;
            }
            *target = work;
            Ok(())
        }
        // simplification: strategic merge is applied as a JSON merge patch (no list merge keys);
        // server-side apply deep-merges the applied configuration the same way: lists are replaced,
        // no managedFields are kept, no field-ownership conflicts are detected, and fields the
        // manager stopped applying are not removed.
        PatchKind::Merge | PatchKind::Strategic | PatchKind::Apply => {
            let patch = parse_object(body)?;
            json_patch::merge(target, &patch);
            Ok(())
        }
    }
}

/// The apiserver's JSON-patch library lets `test` against `null` pass for a missing path
/// (kube's finalizer helper relies on it); `json_patch` would fail it.
fn is_null_test_of_missing_path(doc: &Value, op: &json_patch::PatchOperation) -> bool {
    matches!(op, json_patch::PatchOperation::Test(t)
        if t.value.is_null() && doc.pointer(t.path.as_str()).is_none())
}

/// A merge/apply body must be a JSON object.
// simplification: apply bodies must be JSON (which kube sends); YAML is not parsed.
pub fn parse_object(body: &[u8]) -> Result<Value, PatchError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err(PatchError::Malformed(
            "patch body must be a JSON object".into(),
        )),
        Err(e) => Err(PatchError::Malformed(format!("invalid patch body: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_follows_rfc7386() {
        let mut doc = json!({"a": {"b": 1, "c": 2}, "l": [1, 2]});
        apply(
            PatchKind::Merge,
            &mut doc,
            br#"{"a": {"b": null, "d": 3}, "l": [3]}"#,
        )
        .unwrap();
        assert_eq!(doc, json!({"a": {"c": 2, "d": 3}, "l": [3]}));
    }

    #[test]
    fn json_patch_test_failure_leaves_the_document_untouched() {
        let mut doc = json!({"metadata": {"finalizers": ["x"]}});
        let patch = br#"[{"op":"test","path":"/metadata/finalizers/0","value":"y"},
                         {"op":"remove","path":"/metadata/finalizers/0"}]"#;
        let err = apply(PatchKind::Json, &mut doc, patch).unwrap_err();
        assert!(matches!(err, PatchError::NotApplicable(_)));
        assert_eq!(doc, json!({"metadata": {"finalizers": ["x"]}}));

        let ok = br#"[{"op":"test","path":"/metadata/finalizers/0","value":"x"},
                      {"op":"add","path":"/metadata/finalizers/-","value":"z"}]"#;
        apply(PatchKind::Json, &mut doc, ok).unwrap();
        assert_eq!(doc, json!({"metadata": {"finalizers": ["x", "z"]}}));
    }

    #[test]
    fn test_for_null_matches_a_missing_field() {
        // kube's finalizer helper tests `/metadata/finalizers` against null before adding it.
        let mut doc = json!({"metadata": {}});
        let patch = br#"[{"op":"test","path":"/metadata/finalizers","value":null},
                         {"op":"add","path":"/metadata/finalizers","value":["f"]}]"#;
        apply(PatchKind::Json, &mut doc, patch).unwrap();
        assert_eq!(doc, json!({"metadata": {"finalizers": ["f"]}}));
    }

    #[test]
    fn malformed_bodies_and_content_types() {
        let mut doc = json!({});
        assert!(matches!(
            apply(PatchKind::Merge, &mut doc, b"[1]"),
            Err(PatchError::Malformed(_))
        ));
        assert_eq!(
            PatchKind::from_content_type("application/merge-patch+json; charset=utf-8"),
            Some(PatchKind::Merge)
        );
        assert_eq!(PatchKind::from_content_type("text/plain"), None);
    }
}
