//! Emptying a Harbor project so that it can be deleted (Harbor answers 412 otherwise).

use futures::TryStreamExt;

use super::error::{Error, Result};
use crate::harbor::{ChartBackend, HarborClient};

/// Rounds of list-then-delete before giving up for this reconcile: pushes racing with the purge
/// add repositories, and Harbor's offset paging shifts while items are deleted.
const ROUNDS: usize = 3;

/// What a purge removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Purged {
    pub repositories: usize,
    pub charts: usize,
}

/// Deletes every repository of the project (all pages; nested names double-encoded by the
/// client), and every ChartMuseum chart where Harbor has ChartMuseum. Each listed repository is
/// deleted once; the list is read again until it is empty. Repositories already gone count as done.
pub async fn empty_project(
    harbor: &HarborClient,
    project: &str,
    backend: ChartBackend,
    concurrency: usize,
) -> Result<Purged> {
    let mut purged = Purged::default();
    for _ in 0..ROUNDS {
        let repositories = harbor.list_repositories(project).await?;
        if repositories.is_empty() {
            break;
        }
        let count = repositories.len();
        futures::stream::iter(repositories.iter().map(Ok))
            .try_for_each_concurrent(concurrency, |repository| async move {
                harbor
                    .delete_repository(project, repository.name_in_project(project))
                    .await
                    .map(drop)
            })
            .await?;
        purged.repositories += count;
    }
    if backend == ChartBackend::ChartMuseum {
        let charts = harbor.list_charts(project).await?;
        purged.charts = charts.len();
        futures::stream::iter(charts.iter().map(Ok))
            .try_for_each_concurrent(concurrency, |chart| async move {
                harbor.delete_chart(project, &chart.name).await.map(drop)
            })
            .await?;
    }
    let left = harbor.list_repositories(project).await?;
    if !left.is_empty() {
        return Err(Error::NotEmpty {
            project: project.to_owned(),
            what: format!("{} repositories (pushed during the purge?)", left.len()),
        });
    }
    Ok(purged)
}

/// Removes the daemon's own webhook policies: Harbor keeps a deleted project's policies as orphans.
pub async fn remove_webhook_policies(
    harbor: &HarborClient,
    project: &str,
    name: &str,
) -> Result<()> {
    let policies = harbor.list_webhook_policies(project).await?;
    let ours = policies
        .into_iter()
        .filter(|p| p.name == name)
        .filter_map(|p| p.id);
    futures::stream::iter(ours.map(Ok::<_, Error>))
        .try_for_each(|id| async move {
            harbor.delete_webhook_policy(project, id).await?;
            Ok(())
        })
        .await
}
