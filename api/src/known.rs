//! Ids already seen to exist, so a hot path can skip the existence query.
//! Only for rows that are never deleted (performances): a remembered id can
//! never turn stale, and only real ids are remembered, so the set is bounded
//! by the table.

use std::collections::HashSet;
use std::sync::RwLock;

/// Ids seen to exist, so the reserve handler asks the database about a
/// performance once rather than on every command for it.
#[derive(Debug, Default)]
pub struct KnownIds(RwLock<HashSet<i64>>);

impl KnownIds {
    /// Whether `id` was seen to exist, in which case the existence query can
    /// be skipped.
    pub fn contains(&self, id: i64) -> bool {
        self.0.read().is_ok_and(|ids| ids.contains(&id))
    }

    /// Records that `id` exists; call it only once the database has said so.
    pub fn remember(&self, id: i64) {
        if let Ok(mut ids) = self.0.write() {
            ids.insert(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::KnownIds;

    #[test]
    fn only_remembered_ids_are_known() {
        let known = KnownIds::default();
        assert!(!known.contains(7));
        known.remember(7);
        assert!(known.contains(7));
        assert!(!known.contains(8));
    }
}
