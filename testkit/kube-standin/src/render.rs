//! Turning stored objects into response bodies for the requested version and media type.

use serde_json::{Value, json};

use crate::resources::ResourceType;

/// Full objects, or `PartialObjectMetadata` (what kube's metadata API asks for via `Accept`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Full,
    Metadata,
}

impl View {
    pub fn from_accept(accept: Option<&str>) -> Self {
        if accept.is_some_and(|a| a.contains("as=PartialObjectMetadata")) {
            Self::Metadata
        } else {
            Self::Full
        }
    }
}

/// The object as served at `version`.
// simplification: all served versions of a custom resource share one schema; only
// `apiVersion` is rewritten, no conversion happens.
pub fn object(obj: &Value, rt: &ResourceType, version: &str, view: View) -> Value {
    match view {
        View::Full => {
            let mut out = obj.clone();
            if let Some(map) = out.as_object_mut() {
                map.insert("apiVersion".into(), rt.api_version(version).into());
                map.insert("kind".into(), rt.kind.clone().into());
            }
            out
        }
        View::Metadata => json!({
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
        }),
    }
}

/// Continuation data of a list page.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListMeta {
    pub resource_version: u64,
    pub continue_token: Option<String>,
    pub remaining: Option<usize>,
}

pub fn list<'a>(
    items: impl IntoIterator<Item = &'a Value>,
    rt: &ResourceType,
    version: &str,
    view: View,
    meta: &ListMeta,
) -> Value {
    let items: Vec<Value> = items
        .into_iter()
        .map(|o| object(o, rt, version, view))
        .collect();
    let (kind, api_version) = match view {
        View::Full => (rt.list_kind.clone(), rt.api_version(version)),
        View::Metadata => ("PartialObjectMetadataList".into(), "meta.k8s.io/v1".into()),
    };
    let mut metadata = json!({"resourceVersion": meta.resource_version.to_string()});
    if let Some(token) = &meta.continue_token {
        metadata["continue"] = token.clone().into();
    }
    if let Some(remaining) = meta.remaining {
        metadata["remainingItemCount"] = remaining.into();
    }
    json!({"kind": kind, "apiVersion": api_version, "metadata": metadata, "items": items})
}
