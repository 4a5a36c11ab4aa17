//! [`Handles`]: metric handles kept per label set.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::RwLock;

/// Metric handles by label set, registered with the recorder the first time a label set is
/// seen and reused after: no allocation and no registry lookup per request. The sets are
/// bounded (methods, versions, schemes and status codes are), so the map is too.
pub(super) struct Handles<K, H> {
    map: RwLock<Option<HashMap<K, H>>>,
}

impl<K: Eq + Hash, H> Handles<K, H> {
    pub(super) const fn new() -> Self {
        Self {
            map: RwLock::new(None),
        }
    }

    pub(super) fn with(&self, key: K, use_it: impl FnOnce(&H), register: impl FnOnce() -> H) {
        if let Ok(map) = self.map.read() {
            if let Some(handle) = map.as_ref().and_then(|m| m.get(&key)) {
                return use_it(handle);
            }
        }
        // A poisoned lock only means another thread panicked while registering: the map
        // holds whole handles either way.
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        let handle = map
            .get_or_insert_with(HashMap::new)
            .entry(key)
            .or_insert_with(register);
        use_it(handle);
    }
}
