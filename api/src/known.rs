//! The concert of each performance seen so far, so a hot path can skip the
//! lookup. Performances are never deleted and never change concert, so a
//! remembered answer can never turn stale, and only real ids are
//! remembered, so the map is bounded by the table.

use domain::{ConcertId, PerformanceId};
use std::collections::HashMap;
use std::sync::RwLock;

/// Performance → concert, as far as this instance has seen.
#[derive(Debug, Default)]
pub struct KnownPerformances(RwLock<HashMap<i64, i64>>);

impl KnownPerformances {
    /// The remembered concert of `performance`, if any.
    pub fn concert_of(&self, performance: PerformanceId) -> Option<ConcertId> {
        let known = self.0.read().ok()?;
        known.get(&performance.0).copied().map(ConcertId)
    }

    /// Remembers that `performance` belongs to `concert`.
    pub fn remember(&self, performance: PerformanceId, concert: ConcertId) {
        if let Ok(mut known) = self.0.write() {
            known.insert(performance.0, concert.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_remembered_performances_are_known() {
        let known = KnownPerformances::default();
        assert_eq!(known.concert_of(PerformanceId(7)), None);
        known.remember(PerformanceId(7), ConcertId(2));
        assert_eq!(known.concert_of(PerformanceId(7)), Some(ConcertId(2)));
        assert_eq!(known.concert_of(PerformanceId(8)), None);
    }
}
