//! State shared between the HTTP handlers, watch streams and the `ApiServer` handle.

use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::watch;

use crate::RequestRecord;
use crate::cluster::Cluster;
use crate::faults::Faults;

pub struct Shared {
    cluster: Mutex<Cluster>,
    /// The store revision after the latest write; watch streams wait on it.
    pub changes: watch::Sender<u64>,
    /// Bumped by `ApiServer::restart`; watch streams end when it changes.
    pub restarts: watch::Sender<u64>,
    pub faults: Faults,
    requests: Mutex<Vec<RequestRecord>>,
    pub addr: SocketAddr,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking test thread must not wedge the server for the others.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            cluster: Mutex::new(Cluster::default()),
            changes: watch::Sender::new(0),
            restarts: watch::Sender::new(0),
            faults: Faults::default(),
            requests: Mutex::new(Vec::new()),
            addr,
        }
    }

    pub fn read<T>(&self, f: impl FnOnce(&Cluster) -> T) -> T {
        f(&lock(&self.cluster))
    }

    /// Runs a write and wakes the watches; with `dry_run` it runs on a throwaway copy.
    pub fn write<T>(&self, dry_run: bool, f: impl FnOnce(&mut Cluster) -> T) -> T {
        let mut cluster = lock(&self.cluster);
        if dry_run {
            return f(&mut cluster.clone());
        }
        let out = f(&mut cluster);
        let revision = cluster.store.revision();
        drop(cluster);
        self.changes.send_if_modified(|seen| {
            let changed = *seen != revision;
            *seen = revision;
            changed
        });
        out
    }

    pub fn record(&self, record: RequestRecord) {
        lock(&self.requests).push(record);
    }

    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.requests).clone()
    }

    pub fn clear_requests(&self) {
        lock(&self.requests).clear();
    }

    pub fn restart_watches(&self) {
        self.restarts.send_modify(|n| *n += 1);
    }
}
