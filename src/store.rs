//! The in-memory key-value map a server keeps.
//!
//! Requests are served from several threads at once, so the map is sharded
//! (`dashmap`: one lock per shard, no global lock) and a read of one key never
//! waits behind a write to a key of another shard. Keys are hashed with std's
//! SipHash under a random per-process key (`RandomState`), so a client cannot
//! craft colliding keys to slow the server down. Values are reference-counted
//! (`Bytes`), so a get clones a pointer under the lock and copies nothing.

use bytes::Bytes;
use dashmap::DashMap;

/// A concurrent map from keys to values.
#[derive(Debug, Default)]
pub struct Store {
    map: DashMap<Box<[u8]>, Bytes>,
}

impl Store {
    /// An empty store.
    pub fn new() -> Store {
        Store::default()
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &[u8]) -> Option<Bytes> {
        self.map.get(key).map(|v| v.value().clone())
    }

    /// Stores `value` under `key`, replacing any previous value.
    pub fn put(&self, key: &[u8], value: &[u8]) {
        let value = Bytes::copy_from_slice(value);
        if let Some(mut slot) = self.map.get_mut(key) {
            *slot = value;
        } else {
            self.map.insert(key.into(), value);
        }
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when no key is stored.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// A copy of every pair, sorted by key (a consistent list for a dump).
    pub fn snapshot(&self) -> Vec<(Box<[u8]>, Bytes)> {
        let mut pairs: Vec<(Box<[u8]>, Bytes)> = self
            .map
            .iter()
            .map(|e| (e.key().clone(), e.value().clone()))
            .collect();
        pairs.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        pairs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn put_get_replace() {
        let s = Store::new();
        assert!(s.get(b"a").is_none());
        s.put(b"a", b"1");
        s.put(b"a", b"2");
        s.put(b"b", b"");
        assert_eq!(s.get(b"a").unwrap(), &b"2"[..]);
        assert_eq!(s.get(b"b").unwrap(), &b""[..]);
        assert_eq!(s.len(), 2);
        let snap = s.snapshot();
        assert_eq!(&*snap[0].0, b"a");
        assert_eq!(&*snap[1].0, b"b");
    }

    #[test]
    fn concurrent_writers() {
        let s = Arc::new(Store::new());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let s = Arc::clone(&s);
                std::thread::spawn(move || {
                    for i in 0..1000 {
                        s.put(format!("{t}-{i}").as_bytes(), b"v");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(s.len(), 4000);
    }
}
