//! Positions in a room's line, kept current in work proportional to the
//! line's changes, not its length.
//!
//! Places (`seq`) are gap-free per room, and admission always takes the
//! earliest waiting entries, so every entry at or below the room's
//! *frontier* (the highest place admitted) has left the line, and every
//! entry above it is waiting unless it was *dropped* (it left without
//! admission). The position of a waiting entry at `seq` is therefore
//! `seq - frontier - (drops between the frontier and seq)`: a Fenwick tree
//! over the places above the frontier answers the count in O(log n), an
//! admission moves the frontier in O(1), a drop costs O(log n), and the
//! memory is a few bytes per place above the frontier.

/// One room's line as an API instance follows it.
#[derive(Debug, Clone, Default)]
pub struct RoomLine {
    frontier: i64,
    last_seq: i64,
    drops: Drops,
}

impl RoomLine {
    /// Moves the line on: `frontier` and `last_seq` only ever grow (an older
    /// reading is ignored). Drops at or below the frontier are forgotten once
    /// the frontier has moved far enough.
    pub fn advance(&mut self, frontier: i64, last_seq: i64) {
        self.frontier = self.frontier.max(frontier);
        self.last_seq = self.last_seq.max(last_seq);
        self.drops.forget_up_to(self.frontier);
    }

    /// Records that the entry at `seq` left without admission (idempotent).
    pub fn drop_at(&mut self, seq: i64) {
        if seq > self.frontier {
            self.drops.insert(seq);
        }
    }

    /// The 1-based position of the waiting entry at `seq`.
    pub fn position(&self, seq: i64) -> u64 {
        let ahead = seq - 1 - self.frontier - self.drops.between(self.frontier, seq);
        u64::try_from(ahead).unwrap_or(0) + 1
    }

    /// Whether the entry at `seq` (placed in this room) still waits: it is
    /// above the frontier and did not drop out. An event stream asks this
    /// before reading its entry, so a stream reads only when its entry left
    /// the line.
    pub fn is_waiting(&self, seq: i64) -> bool {
        seq > self.frontier && !self.drops.contains(seq)
    }

    /// How many entries wait in the room.
    pub fn waiting(&self) -> u64 {
        let above = self.last_seq - self.frontier;
        let dropped = self.drops.between(self.frontier, self.last_seq + 1);
        u64::try_from(above - dropped).unwrap_or(0)
    }

    /// The highest place admitted.
    pub fn frontier(&self) -> i64 {
        self.frontier
    }
}

/// The dropped places above `base`: a flag and a Fenwick tree of counts,
/// both indexed by `seq - base`.
#[derive(Debug, Clone, Default)]
struct Drops {
    base: i64,
    flags: Vec<bool>,
    tree: Vec<u32>,
}

impl Drops {
    fn insert(&mut self, seq: i64) {
        if seq <= self.base {
            return;
        }
        let Ok(i) = usize::try_from(seq - self.base) else {
            return;
        };
        if i > self.flags.len() {
            self.grow(i);
        }
        if self.flags[i - 1] {
            return;
        }
        self.flags[i - 1] = true;
        let mut j = i;
        while j < self.tree.len() {
            self.tree[j] += 1;
            j += j & j.wrapping_neg();
        }
    }

    fn contains(&self, seq: i64) -> bool {
        usize::try_from(seq - self.base - 1)
            .ok()
            .and_then(|i| self.flags.get(i))
            .is_some_and(|dropped| *dropped)
    }

    /// Drops at places `base+1 ..= seq`.
    fn up_to(&self, seq: i64) -> i64 {
        let Ok(i) = usize::try_from(seq - self.base) else {
            return 0;
        };
        let mut j = i.min(self.flags.len());
        let mut sum = 0i64;
        while j > 0 {
            sum += i64::from(self.tree[j]);
            j -= j & j.wrapping_neg();
        }
        sum
    }

    /// Drops strictly between `low` and `high`.
    fn between(&self, low: i64, high: i64) -> i64 {
        if high - 1 <= low {
            return 0;
        }
        self.up_to(high - 1) - self.up_to(low)
    }

    /// Room for places up to `base + needed`, doubling so growth is cheap
    /// on average.
    fn grow(&mut self, needed: usize) {
        let size = needed.max(self.flags.len() * 2).max(1024);
        self.flags.resize(size, false);
        self.rebuild();
    }

    /// Forgets places at or below `frontier` once they are half the window,
    /// so memory follows the line, not its history.
    fn forget_up_to(&mut self, frontier: i64) {
        let Ok(behind) = usize::try_from(frontier - self.base) else {
            return;
        };
        if behind == 0 || behind < self.flags.len() / 2 {
            return;
        }
        let keep = self.flags.split_off(behind.min(self.flags.len()));
        self.flags = keep;
        self.base = frontier;
        self.rebuild();
    }

    fn rebuild(&mut self) {
        let n = self.flags.len();
        self.tree = vec![0; n + 1];
        for (k, dropped) in self.flags.iter().enumerate() {
            if *dropped {
                self.tree[k + 1] += 1;
            }
        }
        for i in 1..=n {
            let parent = i + (i & i.wrapping_neg());
            if parent <= n {
                self.tree[parent] += self.tree[i];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_waits_until_the_frontier_passes_it_or_it_drops_out() {
        let mut line = RoomLine::default();
        line.advance(2, 10);
        line.drop_at(5);
        assert!(!line.is_waiting(2), "admitted");
        assert!(line.is_waiting(3));
        assert!(!line.is_waiting(5), "dropped");
        assert!(line.is_waiting(11), "placed after the last reading");
        line.advance(4, 10);
        assert!(!line.is_waiting(3));
        assert!(line.is_waiting(6));
    }

    /// The position by counting, to check the tree against.
    fn counted(frontier: i64, dropped: &[i64], seq: i64) -> u64 {
        let ahead = (frontier + 1..seq).filter(|s| !dropped.contains(s)).count();
        ahead as u64 + 1
    }

    #[test]
    fn a_position_counts_the_places_above_the_frontier_that_did_not_drop() {
        let mut line = RoomLine::default();
        line.advance(0, 10);
        assert_eq!(line.position(1), 1);
        assert_eq!(line.position(10), 10);
        line.drop_at(3);
        line.drop_at(7);
        line.drop_at(7);
        assert_eq!(line.position(10), 8);
        assert_eq!(line.position(5), 4);
        assert_eq!(line.waiting(), 8);
        line.advance(4, 10);
        assert_eq!(line.position(5), 1);
        assert_eq!(line.position(10), 5);
        assert_eq!(line.waiting(), 5);
    }

    #[test]
    fn the_tree_agrees_with_counting_through_growth_and_forgetting() {
        let mut line = RoomLine::default();
        let mut dropped = Vec::new();
        let mut frontier = 0;
        // A deterministic mix of arrivals, drops and admissions.
        let mut x: u64 = 12345;
        for step in 1..=2_000i64 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let last = step * 3;
            match x >> 62 {
                0 if last > frontier + 2 => {
                    let seq = frontier + 1 + i64::try_from((x >> 8) % 100).unwrap_or(0);
                    if seq <= last {
                        line.drop_at(seq);
                        dropped.push(seq);
                    }
                }
                1 => frontier = (frontier + 2).min(last),
                _ => {}
            }
            line.advance(frontier, last);
            if step % 97 == 0 {
                for seq in [frontier + 1, (frontier + last) / 2 + 1, last] {
                    if seq > frontier && !dropped.contains(&seq) {
                        assert_eq!(
                            line.position(seq),
                            counted(frontier, &dropped, seq),
                            "{seq}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn an_older_reading_never_moves_the_line_back() {
        let mut line = RoomLine::default();
        line.advance(5, 20);
        line.advance(3, 15);
        assert_eq!(line.frontier(), 5);
        assert_eq!(line.waiting(), 15);
    }
}
