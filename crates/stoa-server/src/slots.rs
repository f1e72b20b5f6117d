//! Counts, per key, of things held at once (a user's live connections, an address's
//! requests without credentials), each given back when its guard is dropped.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};

/// How many slots each key holds now.
pub struct KeyedSlots<K: Eq + Hash> {
    counts: Mutex<HashMap<K, usize>>,
}

impl<K: Eq + Hash> Default for KeyedSlots<K> {
    fn default() -> KeyedSlots<K> {
        KeyedSlots {
            counts: Mutex::default(),
        }
    }
}

impl<K: Eq + Hash + Clone> KeyedSlots<K> {
    /// A slot for `key`, unless it already holds `most`.
    pub fn take(self: &Arc<Self>, key: K, most: usize) -> Option<KeyedSlot<K>> {
        let mut counts = self.lock();
        let count = counts.entry(key.clone()).or_default();
        if *count >= most {
            return None;
        }
        *count += 1;
        Some(KeyedSlot {
            slots: Arc::clone(self),
            key,
        })
    }
}

impl<K: Eq + Hash> KeyedSlots<K> {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, usize>> {
        // Every critical section leaves the map consistent, even if it panicked.
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One slot of a key, held until dropped.
pub struct KeyedSlot<K: Eq + Hash> {
    slots: Arc<KeyedSlots<K>>,
    key: K,
}

impl<K: Eq + Hash> Drop for KeyedSlot<K> {
    fn drop(&mut self) {
        let mut counts = self.slots.lock();
        if let Some(count) = counts.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.key);
            }
        }
    }
}
