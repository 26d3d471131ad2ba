//! Harbor → platform: webhook events are hints. Each one makes sure the child (`Repository` or
//! `Chart`) exists and asks for a reconcile, which reads Harbor; so duplicate, late or reordered
//! deliveries all end in the same state, and a lost one is healed by the periodic resync.

use std::sync::Arc;

use futures::StreamExt;

use kube::runtime::reflector::ObjectRef;
use tokio::sync::mpsc;

use super::chart_group;
use super::children::{self, Child};
use super::context::Context;
use super::error::Result;
use super::project::{self, ProjectOwner};
use crate::harbor::events::{EventKind, HarborEvent};
use crate::metrics::WEBHOOK_EVENTS_QUEUE;
use crate::resources::{Chart, ChartGroup, RegistryNamespace, Repository};

/// The webhook events queue, shared by successive leadership terms of the controllers.
pub type SharedEvents = Arc<tokio::sync::Mutex<mpsc::Receiver<HarborEvent>>>;

/// Events applied at once. Each is a few requests and they are independent hints (a duplicate
/// or reordered one converges like any other), so one slow Harbor answer must not hold the rest.
const CONCURRENT_EVENTS: usize = 32;

/// Applies events until the channel closes (or the caller stops awaiting).
pub async fn consume(events: SharedEvents, ctx: Arc<Context>) {
    // One leadership term at a time holds the queue; the next term takes it over.
    let mut events = events.lock().await;
    let incoming = futures::stream::poll_fn(|cx| {
        let event = events.poll_recv(cx);
        let depth = events.max_capacity() - events.capacity();
        ctx.metrics.set_queue_depth(WEBHOOK_EVENTS_QUEUE, depth);
        event
    });
    incoming
        .for_each_concurrent(CONCURRENT_EVENTS, |event| {
            let ctx = &ctx;
            async move {
                if let Err(error) = apply(&event, ctx).await {
                    tracing::warn!(%error, kind = event.kind.as_str(), project = %event.project, repository = %event.repository, "could not apply a Harbor event; the next resync will");
                }
            }
        })
        .await;
}

async fn apply(event: &HarborEvent, ctx: &Context) -> Result<()> {
    let (project, name) = (event.project.as_str(), event.repository.as_str());
    match event.kind {
        EventKind::PushArtifact | EventKind::DeleteArtifact => {
            let pushed = event.kind == EventKind::PushArtifact;
            if let Some(namespace) = project::bound_to::<RegistryNamespace>(ctx, project) {
                return touch::<Repository>(ctx, &namespace, name, pushed).await;
            }
            if let Some(group) = project::bound_to::<ChartGroup>(ctx, project) {
                // An image pushed into a chart project is not a chart.
                let chart = pushed && chart_group::holds_charts(ctx, project, name).await?;
                return touch::<Chart>(ctx, &group, name, chart).await;
            }
        }
        EventKind::UploadChart | EventKind::DeleteChart => {
            if let Some(group) = project::bound_to::<ChartGroup>(ctx, project) {
                return touch::<Chart>(ctx, &group, name, event.kind == EventKind::UploadChart)
                    .await;
            }
        }
        _ => return Ok(()),
    }
    tracing::debug!(
        project,
        "event for a project no resource is bound to; ignored"
    );
    Ok(())
}

/// Reconciles the child for `name` (creating it when `create` and missing), then its parent,
/// whose count is read from Harbor again.
async fn touch<C: Child>(
    ctx: &Context,
    parent: &C::Parent,
    name: &str,
    create: bool,
) -> Result<()> {
    match children::find::<C>(ctx, parent, name) {
        Some(child) => {
            let _ = C::trigger(ctx)
                .send(ObjectRef::from_obj(child.as_ref()))
                .await;
        }
        None if create => children::create::<C>(ctx, parent, name).await?,
        None => return Ok(()),
    }
    let _ = C::Parent::trigger(ctx)
        .send(ObjectRef::from_obj(parent))
        .await;
    Ok(())
}
