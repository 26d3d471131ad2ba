//! Watch streams: newline-delimited `{"type": ..., "object": ...}` events, replayed from the
//! store's history and then followed live, with bookmarks, timeouts and selectors.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::{Instant, interval_at, sleep_until};

use crate::error::{ApiError, ApiResult};
use crate::render::{self, View};
use crate::resources::ResourceType;
use crate::selectors::Selector;
use crate::server::Shared;
use crate::store::{Change, ChangeKind, TooOld};

/// How often a watch with `allowWatchBookmarks=true` gets a BOOKMARK.
pub const BOOKMARK_INTERVAL: Duration = Duration::from_secs(2);

/// A parsed watch request.
#[derive(Debug, Clone)]
pub struct WatchSpec {
    pub rt: ResourceType,
    pub version: String,
    pub namespace: Option<String>,
    pub selector: Selector,
    pub view: View,
    /// `None` (no resourceVersion, or "0"): start with the current objects as ADDED.
    pub from: Option<u64>,
    pub send_initial_events: bool,
    pub bookmarks: bool,
    pub timeout: Option<Duration>,
}

impl WatchSpec {
    fn concerns(&self, change: &Change) -> bool {
        change.key.same_resource(&self.rt.group, &self.rt.plural)
            && self
                .namespace
                .as_ref()
                .is_none_or(|ns| *ns == change.key.namespace)
    }

    fn event(&self, kind: &str, obj: &Value) -> Value {
        json!({"type": kind, "object": render::object(obj, &self.rt, &self.version, self.view)})
    }

    /// The event this change produces for this watch; objects entering or leaving the
    /// selector are sent as ADDED / DELETED, like the real server does.
    fn event_for(&self, change: &Change) -> Option<Value> {
        if !self.concerns(change) {
            return None;
        }
        let was = change
            .previous
            .as_deref()
            .is_some_and(|p| self.selector.matches(p));
        let is = change.kind != ChangeKind::Deleted && self.selector.matches(&change.object);
        let kind = match (change.kind, was, is) {
            (ChangeKind::Deleted, true, _) | (_, true, false) => "DELETED",
            (_, false, true) => "ADDED",
            (_, true, true) => "MODIFIED",
            _ => return None,
        };
        Some(self.event(kind, &change.object))
    }

    fn bookmark(&self, revision: u64, initial_events_end: bool) -> Value {
        let (kind, api_version) = match self.view {
            View::Full => (self.rt.kind.clone(), self.rt.api_version(&self.version)),
            View::Metadata => ("PartialObjectMetadata".into(), "meta.k8s.io/v1".into()),
        };
        let mut metadata = json!({"resourceVersion": revision.to_string()});
        if initial_events_end {
            metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        json!({"type": "BOOKMARK", "object": {"kind": kind, "apiVersion": api_version, "metadata": metadata}})
    }
}

fn too_old(e: TooOld) -> ApiError {
    ApiError::gone(format!(
        "too old resource version: {} ({})",
        e.requested, e.oldest
    ))
}

fn line(event: &Value) -> Bytes {
    let mut bytes = serde_json::to_vec(event).unwrap_or_default();
    bytes.push(b'\n');
    Bytes::from(bytes)
}

/// Answers a watch request: errors that the real server reports before streaming come back
/// as `Err`; everything else streams.
pub fn start(shared: Arc<Shared>, spec: WatchSpec) -> ApiResult<Response> {
    // Subscribe before reading the state so no change can slip in between.
    let changes = shared.changes.subscribe();
    let restarts = shared.restarts.subscribe();
    let (position, initial) = shared.read(|cluster| -> ApiResult<(u64, Vec<Value>)> {
        let current = cluster.store.revision();
        match spec.from {
            // simplification: the real server first waits up to a few seconds for the revision.
            Some(from) if from > current => Err(ApiError::new(
                504,
                format!("Too large resource version: {from}, current: {current}"),
            )),
            Some(from) => Ok((from, Vec::new())),
            None => {
                let ns = spec.namespace.as_deref();
                let added = cluster
                    .store
                    .range(&spec.rt.group, &spec.rt.plural, ns)
                    .filter(|(_, o)| spec.selector.matches(o))
                    .map(|(_, o)| spec.event("ADDED", o))
                    .collect();
                Ok((current, added))
            }
        }
    })?;
    let (tx, mut rx) = mpsc::channel::<Bytes>(256);
    tokio::spawn(async move {
        let stream = Stream {
            shared,
            spec,
            position,
            tx,
        };
        stream.run(initial, changes, restarts).await;
    });
    let body = Body::from_stream(futures::stream::poll_fn(move |cx| {
        rx.poll_recv(cx).map(|chunk| chunk.map(Ok::<_, Infallible>))
    }));
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

struct Stream {
    shared: Arc<Shared>,
    spec: WatchSpec,
    /// Every change up to this revision has been considered.
    position: u64,
    tx: mpsc::Sender<Bytes>,
}

impl Stream {
    async fn send(&self, event: &Value) -> bool {
        self.tx.send(line(event)).await.is_ok()
    }

    async fn run(
        mut self,
        initial: Vec<Value>,
        mut changes: tokio::sync::watch::Receiver<u64>,
        mut restarts: tokio::sync::watch::Receiver<u64>,
    ) {
        for event in &initial {
            if !self.send(event).await {
                return;
            }
        }
        if self.spec.send_initial_events
            && !self.send(&self.spec.bookmark(self.position, true)).await
        {
            return;
        }
        let deadline = self.spec.timeout.map(|t| Instant::now() + t);
        let mut bookmarks = interval_at(Instant::now() + BOOKMARK_INTERVAL, BOOKMARK_INTERVAL);
        loop {
            changes.borrow_and_update();
            let events = match self.catch_up() {
                Ok(events) => events,
                Err(gone) => {
                    // The real server ends such a watch with one ERROR event carrying the Status.
                    self.send(&json!({"type": "ERROR", "object": gone.to_status()}))
                        .await;
                    return;
                }
            };
            for event in &events {
                if !self.send(event).await {
                    return;
                }
            }
            tokio::select! {
                changed = changes.changed() => if changed.is_err() { return },
                _ = restarts.changed() => return,
                _ = bookmarks.tick(), if self.spec.bookmarks => {
                    if !self.send(&self.spec.bookmark(self.position, false)).await {
                        return;
                    }
                }
                () = async {
                    match deadline {
                        Some(deadline) => sleep_until(deadline).await,
                        None => std::future::pending().await,
                    }
                } => return,
                () = self.tx.closed() => return,
            }
        }
    }

    /// Events for the changes since `position`, which moves to the current revision.
    fn catch_up(&mut self) -> Result<Vec<Value>, ApiError> {
        let spec = &self.spec;
        let position = &mut self.position;
        self.shared.read(|cluster| {
            let events = cluster
                .store
                .changes_since(*position)
                .map_err(too_old)?
                .filter_map(|change| spec.event_for(change))
                .collect();
            *position = cluster.store.revision();
            Ok(events)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::Registry;
    use crate::selectors::LabelSelector;
    use crate::store::ObjectKey;

    fn spec(selector: &str) -> WatchSpec {
        WatchSpec {
            rt: Registry::default().builtin("", "configmaps").clone(),
            version: "v1".into(),
            namespace: Some("a".into()),
            selector: Selector {
                labels: LabelSelector::parse(selector).unwrap(),
                ..Selector::default()
            },
            view: View::Full,
            from: Some(0),
            send_initial_events: false,
            bookmarks: false,
            timeout: None,
        }
    }

    fn change(kind: ChangeKind, ns: &str, labels: Value, previous: Option<Value>) -> Change {
        Change {
            revision: 1,
            kind,
            key: ObjectKey::new("", "configmaps", Some(ns), "x"),
            object: Arc::new(json!({"metadata": {"name": "x", "labels": labels}})),
            previous: previous.map(|l| Arc::new(json!({"metadata": {"labels": l}}))),
        }
    }

    fn kind_of(event: Option<Value>) -> Option<String> {
        event.map(|e| e["type"].as_str().unwrap_or_default().to_owned())
    }

    #[test]
    fn objects_leaving_or_entering_the_selector_become_deleted_or_added() {
        let s = spec("app=h");
        let leave = change(
            ChangeKind::Modified,
            "a",
            json!({}),
            Some(json!({"app": "h"})),
        );
        let enter = change(
            ChangeKind::Modified,
            "a",
            json!({"app": "h"}),
            Some(json!({})),
        );
        let stay = change(
            ChangeKind::Modified,
            "a",
            json!({"app": "h"}),
            Some(json!({"app": "h"})),
        );
        let outside = change(ChangeKind::Added, "a", json!({}), None);
        let other_ns = change(ChangeKind::Added, "b", json!({"app": "h"}), None);
        assert_eq!(kind_of(s.event_for(&leave)).as_deref(), Some("DELETED"));
        assert_eq!(kind_of(s.event_for(&enter)).as_deref(), Some("ADDED"));
        assert_eq!(kind_of(s.event_for(&stay)).as_deref(), Some("MODIFIED"));
        assert_eq!(s.event_for(&outside), None);
        assert_eq!(s.event_for(&other_ns), None);
    }
}
