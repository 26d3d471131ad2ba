//! A versioned object store, like etcd behind the apiserver: every write takes the next
//! global revision (the `resourceVersion`) and is kept in a change history for watches.
//! It knows nothing about Kubernetes semantics beyond `metadata.resourceVersion`.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::ops::Bound;
use std::sync::Arc;

use serde_json::Value;

use crate::meta;

/// Where an object lives: resource (group + plural, version-independent), namespace, name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    pub group: String,
    pub plural: String,
    /// Empty for cluster-scoped objects.
    pub namespace: String,
    pub name: String,
}

impl ObjectKey {
    pub fn new(group: &str, plural: &str, namespace: Option<&str>, name: &str) -> Self {
        Self {
            group: group.to_owned(),
            plural: plural.to_owned(),
            namespace: namespace.unwrap_or_default().to_owned(),
            name: name.to_owned(),
        }
    }

    pub fn same_resource(&self, group: &str, plural: &str) -> bool {
        self.group == group && self.plural == plural
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    Modified,
    Deleted,
}

/// One committed write, as a watch replays it.
#[derive(Debug, Clone)]
pub struct Change {
    pub revision: u64,
    pub kind: ChangeKind,
    pub key: ObjectKey,
    /// The object after the write (for a deletion: its last state, at the deletion revision).
    pub object: Arc<Value>,
    /// The object before the write; watches with selectors need it to spot objects leaving.
    pub previous: Option<Arc<Value>>,
}

/// A watch asked for history that is no longer retained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooOld {
    pub requested: u64,
    pub oldest: u64,
}

#[derive(Debug, Clone)]
pub struct Store {
    objects: BTreeMap<ObjectKey, Arc<Value>>,
    /// Indexes kept in step with `objects`, so that the controllers run after every write
    /// (garbage collector, namespace termination) cost what they touch, not the whole store.
    index: Index,
    revision: u64,
    history: VecDeque<Change>,
    /// Watches may start from this revision or later; older ones get `TooOld`.
    oldest_watchable: u64,
    history_limit: usize,
}

impl Default for Store {
    fn default() -> Self {
        Self::with_history_limit(100_000)
    }
}

impl Store {
    pub fn with_history_limit(history_limit: usize) -> Self {
        Self {
            objects: BTreeMap::new(),
            index: Index::default(),
            revision: 0,
            history: VecDeque::new(),
            oldest_watchable: 0,
            history_limit: history_limit.max(1),
        }
    }

    pub fn revision(&self) -> u64 {
        self.revision
    }

    pub fn oldest_watchable(&self) -> u64 {
        self.oldest_watchable
    }

    pub fn get(&self, key: &ObjectKey) -> Option<&Arc<Value>> {
        self.objects.get(key)
    }

    /// Objects of one resource (optionally in one namespace), in key order.
    pub fn range<'a>(
        &'a self,
        group: &'a str,
        plural: &'a str,
        namespace: Option<&'a str>,
    ) -> impl Iterator<Item = (&'a ObjectKey, &'a Arc<Value>)> + 'a {
        self.range_after(group, plural, namespace, None)
    }

    /// Like [`Store::range`], starting after `(namespace, name)` (a list's continue key).
    pub fn range_after<'a>(
        &'a self,
        group: &'a str,
        plural: &'a str,
        namespace: Option<&'a str>,
        after: Option<(&str, &str)>,
    ) -> impl Iterator<Item = (&'a ObjectKey, &'a Arc<Value>)> + 'a {
        let floor = ObjectKey::new(group, plural, namespace, "");
        let lower = match after {
            Some((ns, name)) => {
                let key = ObjectKey::new(group, plural, Some(ns), name);
                if key >= floor {
                    Bound::Excluded(key)
                } else {
                    Bound::Included(floor)
                }
            }
            None => Bound::Included(floor),
        };
        self.objects
            .range((lower, Bound::Unbounded))
            .take_while(move |(k, _)| {
                k.same_resource(group, plural) && namespace.is_none_or(|ns| k.namespace == ns)
            })
    }

    /// Every object in a namespace, whatever its resource, in key order.
    pub fn in_namespace<'a>(
        &'a self,
        namespace: &'a str,
    ) -> impl Iterator<Item = (&'a ObjectKey, &'a Arc<Value>)> + 'a {
        self.index
            .by_namespace
            .get(namespace)
            .into_iter()
            .flatten()
            .filter_map(|k| self.objects.get_key_value(k))
    }

    /// Objects of one resource with a `deletionTimestamp`, in key order.
    pub fn deleting<'a>(
        &'a self,
        group: &'a str,
        plural: &'a str,
    ) -> impl Iterator<Item = (&'a ObjectKey, &'a Arc<Value>)> + 'a {
        self.index
            .deleting
            .iter()
            .filter(move |k| k.same_resource(group, plural))
            .filter_map(|k| self.objects.get_key_value(k))
    }

    /// Objects with at least one owner reference, in key order.
    pub fn owned(&self) -> impl Iterator<Item = (&ObjectKey, &Arc<Value>)> {
        self.index
            .owned
            .iter()
            .filter_map(|k| self.objects.get_key_value(k))
    }

    /// Whether a stored object has this uid.
    pub fn has_uid(&self, uid: &str) -> bool {
        self.index.uids.contains(uid)
    }

    /// Writes `object` under `key` (ADDED if new, MODIFIED otherwise) at the next revision.
    pub fn put(&mut self, key: ObjectKey, mut object: Value) -> Arc<Value> {
        self.revision += 1;
        meta::set(
            &mut object,
            "resourceVersion",
            self.revision.to_string().into(),
        );
        let object = Arc::new(object);
        let previous = self.objects.insert(key.clone(), object.clone());
        if let Some(previous) = &previous {
            self.index.forget(&key, previous);
        }
        self.index.note(&key, &object);
        let kind = if previous.is_some() {
            ChangeKind::Modified
        } else {
            ChangeKind::Added
        };
        self.record(kind, key, object.clone(), previous);
        object
    }

    /// Removes the object; the DELETED change carries it at the deletion revision.
    pub fn remove(&mut self, key: &ObjectKey) -> Option<Arc<Value>> {
        let previous = self.objects.remove(key)?;
        self.index.forget(key, &previous);
        self.revision += 1;
        let mut last = (*previous).clone();
        meta::set(
            &mut last,
            "resourceVersion",
            self.revision.to_string().into(),
        );
        let last = Arc::new(last);
        self.record(
            ChangeKind::Deleted,
            key.clone(),
            last.clone(),
            Some(previous),
        );
        Some(last)
    }

    fn record(
        &mut self,
        kind: ChangeKind,
        key: ObjectKey,
        object: Arc<Value>,
        previous: Option<Arc<Value>>,
    ) {
        self.history.push_back(Change {
            revision: self.revision,
            kind,
            key,
            object,
            previous,
        });
        // simplification: history is bounded by count rather than by time like the watch cache.
        while self.history.len() > self.history_limit {
            if let Some(dropped) = self.history.pop_front() {
                self.oldest_watchable = dropped.revision;
            }
        }
    }

    /// Changes after revision `since`, or `TooOld` if some of them were forgotten.
    pub fn changes_since(&self, since: u64) -> Result<impl Iterator<Item = &Change>, TooOld> {
        if since < self.oldest_watchable {
            return Err(TooOld {
                requested: since,
                oldest: self.oldest_watchable,
            });
        }
        let start = self.history.partition_point(|c| c.revision <= since);
        Ok(self.history.range(start..))
    }

    /// Forgets all history: from now on only watches from the current revision are possible.
    pub fn compact(&mut self) {
        self.history.clear();
        self.oldest_watchable = self.revision;
    }
}

/// Secondary indexes of the store.
#[derive(Debug, Clone, Default)]
struct Index {
    /// Namespaced objects by namespace.
    by_namespace: HashMap<String, BTreeSet<ObjectKey>>,
    /// Objects with a `deletionTimestamp`.
    deleting: BTreeSet<ObjectKey>,
    /// Objects with owner references.
    owned: BTreeSet<ObjectKey>,
    /// The uids of the stored objects.
    uids: HashSet<String>,
}

impl Index {
    fn note(&mut self, key: &ObjectKey, object: &Value) {
        if !key.namespace.is_empty() {
            self.by_namespace
                .entry(key.namespace.clone())
                .or_default()
                .insert(key.clone());
        }
        if meta::is_deleting(object) {
            self.deleting.insert(key.clone());
        }
        if !meta::owner_uids(object).is_empty() {
            self.owned.insert(key.clone());
        }
        if let Some(uid) = meta::uid(object) {
            self.uids.insert(uid.to_owned());
        }
    }

    fn forget(&mut self, key: &ObjectKey, object: &Value) {
        if let Some(keys) = self.by_namespace.get_mut(&key.namespace) {
            keys.remove(key);
            if keys.is_empty() {
                self.by_namespace.remove(&key.namespace);
            }
        }
        self.deleting.remove(key);
        self.owned.remove(key);
        if let Some(uid) = meta::uid(object) {
            self.uids.remove(uid);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(name: &str) -> ObjectKey {
        ObjectKey::new("g", "things", Some("ns"), name)
    }

    #[test]
    fn writes_take_increasing_revisions_and_are_recorded() {
        let mut store = Store::default();
        let a = store.put(key("a"), json!({"metadata": {"name": "a"}}));
        let a2 = store.put(key("a"), json!({"metadata": {"name": "a"}, "x": 1}));
        let gone = store.remove(&key("a")).unwrap();
        assert_eq!(meta::resource_version(&a), Some("1"));
        assert_eq!(meta::resource_version(&a2), Some("2"));
        assert_eq!(meta::resource_version(&gone), Some("3"));
        let kinds: Vec<_> = store.changes_since(1).unwrap().map(|c| c.kind).collect();
        assert_eq!(kinds, [ChangeKind::Modified, ChangeKind::Deleted]);
        assert!(store.remove(&key("a")).is_none());
        assert_eq!(store.revision(), 3);
    }

    #[test]
    fn compaction_makes_older_revisions_unwatchable() {
        let mut store = Store::default();
        store.put(key("a"), json!({}));
        store.put(key("b"), json!({}));
        store.compact();
        assert_eq!(
            store.changes_since(1).err(),
            Some(TooOld {
                requested: 1,
                oldest: 2
            })
        );
        assert_eq!(store.changes_since(2).unwrap().count(), 0);
        store.put(key("c"), json!({}));
        assert_eq!(store.changes_since(2).unwrap().count(), 1);
    }

    #[test]
    fn bounded_history_drops_the_oldest_changes() {
        let mut store = Store::with_history_limit(2);
        for name in ["a", "b", "c"] {
            store.put(key(name), json!({}));
        }
        assert!(store.changes_since(0).is_err());
        assert_eq!(store.changes_since(1).unwrap().count(), 2);
    }

    #[test]
    fn range_filters_by_resource_and_namespace() {
        let mut store = Store::default();
        store.put(key("a"), json!({}));
        store.put(ObjectKey::new("g", "things", Some("other"), "b"), json!({}));
        store.put(ObjectKey::new("", "things", Some("ns"), "c"), json!({}));
        assert_eq!(store.range("g", "things", None).count(), 2);
        assert_eq!(store.range("g", "things", Some("ns")).count(), 1);
        assert_eq!(store.in_namespace("ns").count(), 2);
    }
}
