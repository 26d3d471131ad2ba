//! Watches through kube-runtime's `watcher` and raw `Api::watch`: events, restarts,
//! 410 Gone after compaction, selectors, bookmarks and timeouts.

mod common;

use std::time::Duration;

use common::*;
use futures::{StreamExt, TryStreamExt};
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube_standin::RequestMatch;
use serde_json::json;
use tokio::sync::mpsc;

type Events = mpsc::UnboundedReceiver<Result<watcher::Event<Repository>, watcher::Error>>;

/// Runs a watcher in the background, as a controller would, forwarding everything it yields.
fn spawn_watcher(api: Api<Repository>) -> Events {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut stream = watcher(api, watcher::Config::default())
            .default_backoff()
            .boxed();
        while let Some(item) = stream.next().await {
            if tx.send(item).is_err() {
                return;
            }
        }
    });
    rx
}

/// Consumes events until one satisfies `pred`; false on timeout.
async fn wait_for(
    events: &mut Events,
    mut pred: impl FnMut(&Result<watcher::Event<Repository>, watcher::Error>) -> bool,
) -> bool {
    tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(item) = events.recv().await {
            if pred(&item) {
                return true;
            }
        }
        false
    })
    .await
    .unwrap_or(false)
}

fn applied(
    name: &'static str,
    size: u32,
) -> impl FnMut(&Result<watcher::Event<Repository>, watcher::Error>) -> bool {
    move |item| matches!(item, Ok(watcher::Event::Apply(r) | watcher::Event::InitApply(r)) if r.name_any() == name && r.spec.size == size)
}

#[tokio::test]
async fn watcher_sees_added_modified_deleted() -> TestResult {
    let (_server, client) = server_with_crds().await?;
    let repos: Api<Repository> = Api::namespaced(client, "default");
    let mut events = spawn_watcher(repos.clone());
    assert!(wait_for(&mut events, |e| matches!(e, Ok(watcher::Event::InitDone))).await);

    repos
        .create(&PostParams::default(), &repository("alpine", 1))
        .await?;
    assert!(wait_for(&mut events, applied("alpine", 1)).await);
    repos
        .patch(
            "alpine",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"size": 2}})),
        )
        .await?;
    assert!(wait_for(&mut events, applied("alpine", 2)).await);
    repos.delete("alpine", &DeleteParams::default()).await?;
    assert!(
        wait_for(
            &mut events,
            |e| matches!(e, Ok(watcher::Event::Delete(r)) if r.name_any() == "alpine")
        )
        .await
    );
    Ok(())
}

#[tokio::test]
async fn watcher_rewatches_after_a_restart() -> TestResult {
    let (server, client) = server_with_crds().await?;
    let repos: Api<Repository> = Api::namespaced(client, "default");
    let mut events = spawn_watcher(repos.clone());
    repos
        .create(&PostParams::default(), &repository("alpine", 1))
        .await?;
    assert!(wait_for(&mut events, applied("alpine", 1)).await);

    let watches_before = watch_requests(&server);
    server.restart();
    repos
        .create(&PostParams::default(), &repository("nginx", 1))
        .await?;
    assert!(wait_for(&mut events, applied("nginx", 1)).await);
    assert!(
        watch_requests(&server) > watches_before,
        "the watcher should have re-watched"
    );
    // It resumed from its resourceVersion instead of listing again.
    assert_eq!(lists(&server), 1);
    Ok(())
}

fn watch_requests(server: &kube_standin::ApiServer) -> usize {
    server
        .requests()
        .iter()
        .filter(|r| r.query.contains("watch=true"))
        .count()
}

fn lists(server: &kube_standin::ApiServer) -> usize {
    server
        .requests()
        .iter()
        .filter(|r| {
            r.method == "GET" && r.path.ends_with("/repositories") && !r.query.contains("watch=")
        })
        .count()
}

#[tokio::test]
async fn watcher_relists_after_compaction() -> TestResult {
    let (server, client) = server_with_crds().await?;
    let repos: Api<Repository> = Api::namespaced(client, "default");
    let mut events = spawn_watcher(repos.clone());
    repos
        .create(&PostParams::default(), &repository("alpine", 1))
        .await?;
    assert!(wait_for(&mut events, applied("alpine", 1)).await);

    // Keep the watcher away while it misses a change that compaction then forgets.
    let watches = RequestMatch::any()
        .method("GET")
        .path_contains("watch=true");
    server.faults().fail_matching(1000, 500, watches);
    server.restart();
    let refused = eventually(Duration::from_secs(5), || async {
        server
            .requests()
            .iter()
            .any(|r| r.query.contains("watch=true") && r.status == 500)
    })
    .await;
    assert!(refused);
    repos
        .create(&PostParams::default(), &repository("missed", 1))
        .await?;
    server.compact();
    server.faults().clear();

    let gone = wait_for(
        &mut events,
        |e| matches!(e, Err(watcher::Error::WatchError(s)) if s.code == 410),
    )
    .await;
    assert!(
        gone,
        "the watcher should be told its resourceVersion is too old"
    );
    assert!(
        wait_for(&mut events, applied("missed", 1)).await,
        "a re-list should bring the missed object"
    );
    assert_eq!(lists(&server), 2);
    Ok(())
}

#[tokio::test]
async fn raw_watch_selectors_bookmarks_and_timeout() -> TestResult {
    let (server, client) = server_with_crds().await?;
    let repos: Api<Repository> = Api::namespaced(client, "default");
    let mut labelled = repository("alpine", 1);
    labelled.metadata.labels = Some([("team".to_owned(), "a".to_owned())].into());
    repos.create(&PostParams::default(), &labelled).await?;
    repos
        .create(&PostParams::default(), &repository("other", 1))
        .await?;

    let params = WatchParams::default().labels("team=a").timeout(4);
    let mut stream = repos.watch(&params, "0").await?.boxed();
    // Current state first, only what the selector matches.
    let first = stream.try_next().await?;
    assert!(
        matches!(&first, Some(WatchEvent::Added(r)) if r.name_any() == "alpine"),
        "{first:?}"
    );

    // Leaving the selector is a DELETED event for this watch.
    repos
        .patch(
            "alpine",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"team": "b"}}})),
        )
        .await?;
    let left = stream.try_next().await?;
    assert!(
        matches!(&left, Some(WatchEvent::Deleted(r)) if r.name_any() == "alpine"),
        "{left:?}"
    );

    let bookmark = stream.try_next().await?;
    let Some(WatchEvent::Bookmark(bookmark)) = bookmark else {
        panic!("expected a bookmark, got {bookmark:?}")
    };
    assert_eq!(
        bookmark.metadata.resource_version,
        server.resource_version().to_string()
    );

    // timeoutSeconds ends the stream.
    let ended = tokio::time::timeout(Duration::from_secs(6), async {
        while stream.try_next().await?.is_some() {}
        anyhow::Ok(())
    })
    .await;
    assert!(
        matches!(ended, Ok(Ok(()))),
        "the stream should end at its timeout"
    );

    // A resourceVersion older than the retained history is answered with 410 Gone.
    server.compact();
    let mut stale = repos.watch(&WatchParams::default(), "1").await?.boxed();
    let error = stale.try_next().await?;
    assert!(
        matches!(&error, Some(WatchEvent::Error(s)) if s.code == 410 && s.reason == "Expired"),
        "{error:?}"
    );
    assert!(stale.try_next().await?.is_none());
    Ok(())
}

#[tokio::test]
async fn streaming_list_uses_initial_events_without_a_list() -> TestResult {
    let (server, client) = server_with_crds().await?;
    let repos: Api<Repository> = Api::namespaced(client, "default");
    repos
        .create(&PostParams::default(), &repository("alpine", 1))
        .await?;
    let mut stream = watcher(repos.clone(), watcher::Config::default().streaming_lists()).boxed();
    let mut initial = Vec::new();
    while let Some(event) =
        tokio::time::timeout(Duration::from_secs(5), stream.try_next()).await??
    {
        match event {
            watcher::Event::InitApply(r) => initial.push(r.name_any()),
            watcher::Event::InitDone => break,
            _ => {}
        }
    }
    assert_eq!(initial, ["alpine"]);
    assert_eq!(lists(&server), 0);
    Ok(())
}
