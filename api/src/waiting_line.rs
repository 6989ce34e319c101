//! A per-instance snapshot of the waiting line, refreshed in the background.
//!
//! A status poll finds its position by binary search instead of counting
//! rows (O(log n) per poll, one O(n) read per refresh per instance), and a
//! poll from a waiting entry the snapshot vouches for is answered without
//! touching the database at all: the entry is looked up in the snapshot, and
//! the "still here" mark that keeps it from being dropped as idle is
//! batched into one update per [`seen_flush_interval`].

use chrono::{DateTime, Utc};
use domain::TokenId;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use store::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// How stale a position may be, and how long an admission may take to show
/// in the status of a waiting token answered from the snapshot.
pub const REFRESH_INTERVAL: Duration = Duration::from_millis(500);

/// Slack for scheduling and clock drift when deciding whether a snapshot is
/// still young enough to vouch for an entry (see [`WaitingLine::fresh`]).
const FRESHNESS_MARGIN: Duration = Duration::from_millis(100);

/// A waiting entry as of the snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FreshEntry {
    pub concert_id: i64,
    pub seq: i64,
    pub user_id: Uuid,
    /// In the pre-queue: no position until the room opens.
    pub prequeue: bool,
}

/// One room's line as of the snapshot.
#[derive(Debug, Default, Clone)]
pub struct RoomLine {
    /// Sequence numbers of the placed waiting entries, ascending.
    pub waiting: Vec<i64>,
    /// Entries in the pre-queue: when the room opens they are placed ahead
    /// of every placed entry waiting now.
    pub prequeue: u64,
    pub active: u64,
    /// Admissions per second over the last minute, if any.
    pub admission_rate: Option<f64>,
    /// When the concert's sale opens, while it has not.
    pub sale_opens_at: Option<DateTime<Utc>>,
}

impl RoomLine {
    /// The 1-based position of the placed waiting entry `seq`; one newer
    /// than the snapshot is behind everyone in it.
    pub fn position(&self, seq: i64) -> u64 {
        self.prequeue + self.waiting.partition_point(|s| *s < seq) as u64 + 1
    }
}

/// One refresh's view of every room's line, shared read-only by every status
/// poll and by `/metrics` until the next refresh replaces it.
#[derive(Debug, Default, Clone)]
pub struct LineSnapshot {
    /// The rooms with anyone waiting or active, by concert.
    pub rooms: HashMap<i64, RoomLine>,
    /// The waiting entries seen within the last half idle timeout, by token.
    pub fresh: HashMap<Uuid, FreshEntry>,
    /// When the query that made this snapshot was sent (before the
    /// database's `now()` it compared `last_seen_at` with).
    pub taken_at: Option<Instant>,
}

impl LineSnapshot {
    /// The line of the room of `concert` (empty if nobody is in it).
    pub fn room(&self, concert: i64) -> RoomLine {
        self.rooms.get(&concert).cloned().unwrap_or_default()
    }

    /// Entries waiting in every room, pre-queues included.
    pub fn waiting(&self) -> u64 {
        self.rooms
            .values()
            .map(|r| r.waiting.len() as u64 + r.prequeue)
            .sum()
    }

    /// Active tokens in every room.
    pub fn active(&self) -> u64 {
        self.rooms.values().map(|r| r.active).sum()
    }

    /// Admissions per second over the last minute, every room together.
    pub fn admission_rate(&self) -> Option<f64> {
        let rates = self.rooms.values().filter_map(|r| r.admission_rate);
        rates.reduce(|a, b| a + b)
    }
}

/// This instance's copy of the waiting lines, kept in the state so status
/// polls find positions and vouch for entries without a query each.
pub struct WaitingLine {
    snapshot: RwLock<Arc<LineSnapshot>>,
    /// `QUEUE_IDLE_TIMEOUT_SECONDS`.
    idle: Duration,
    /// Tokens of the waiting entries that polled since the last flush.
    seen: Mutex<HashSet<Uuid>>,
}

impl WaitingLine {
    /// An empty line for an API whose idle timeout is `idle`; it fills on the
    /// first refresh of [`Self::run`].
    pub fn new(idle: Duration) -> Self {
        Self {
            snapshot: RwLock::default(),
            idle,
            seen: Mutex::default(),
        }
    }

    /// The latest snapshot, for readers that need more than a position (the
    /// admission rate of the wait estimate, the queue gauges).
    pub fn snapshot(&self) -> Arc<LineSnapshot> {
        self.snapshot.read().map(|s| s.clone()).unwrap_or_default()
    }

    /// The 1-based position of the placed waiting entry `seq` of the room
    /// of `concert`.
    pub fn position(&self, concert: i64, seq: i64) -> u64 {
        self.snapshot().room(concert).position(seq)
    }

    /// The entry of `token` and its position, if the snapshot can vouch that
    /// it is waiting and not idle-expired right now; `None` means: read the
    /// row.
    ///
    /// The snapshot holds an entry only if its `last_seen_at` was within half
    /// the idle timeout of the database's clock when the query ran, and it is
    /// used only while younger than half the idle timeout (less a margin), so
    /// an entry answered from it cannot have passed its idle deadline. It can
    /// have been admitted since: that shows at most [`REFRESH_INTERVAL`]
    /// later, as positions do; endpoints that need an active token always
    /// read the row.
    /// The position is `None` in the pre-queue.
    pub fn fresh(&self, token: &TokenId) -> Option<(FreshEntry, Option<u64>)> {
        let snapshot = self.snapshot();
        let age = snapshot.taken_at?.elapsed();
        if age + FRESHNESS_MARGIN >= self.idle / 2 {
            return None;
        }
        let entry = *snapshot.fresh.get(&token.0)?;
        let position =
            (!entry.prequeue).then(|| snapshot.room(entry.concert_id).position(entry.seq));
        Some((entry, position))
    }

    /// Records that the waiting entry of `token` polled;
    /// [`Self::flush_seen`] writes it.
    pub fn mark_seen(&self, token: TokenId) {
        if let Ok(mut seen) = self.seen.lock() {
            seen.insert(token.0);
        }
    }

    /// How often the polls answered from the snapshot are written down: well
    /// inside the idle timeout, so a polling entry is never dropped.
    pub fn seen_flush_interval(&self) -> Duration {
        (self.idle / 4).clamp(Duration::from_millis(50), Duration::from_secs(1))
    }

    /// Sets `last_seen_at` of every entry marked since the last flush, in
    /// one statement. On failure the marks are kept for the next try.
    pub async fn flush_seen(&self, pool: &PgPool) -> Result<(), store::Error> {
        let batch: Vec<Uuid> = match self.seen.lock() {
            Ok(mut seen) if !seen.is_empty() => seen.drain().collect(),
            _ => return Ok(()),
        };
        if let Err(e) = store::queue::mark_seen(pool, &batch).await {
            if let Ok(mut seen) = self.seen.lock() {
                seen.extend(batch);
            }
            return Err(e);
        }
        Ok(())
    }

    /// Reads the line and the admission activity and swaps in a new snapshot;
    /// [`Self::run`] calls it every [`REFRESH_INTERVAL`].
    pub async fn refresh(&self, pool: &PgPool) -> Result<(), store::Error> {
        let taken_at = Instant::now();
        let half_idle = (self.idle / 2).as_secs_f64();
        let rows = store::queue::waiting_line(pool, half_idle).await?;
        let activity = store::queue::activity(pool).await?;
        let mut rooms: HashMap<i64, RoomLine> = HashMap::new();
        let mut fresh = HashMap::with_capacity(rows.len());
        // Rows come room by room, each in seq order.
        for row in rows {
            let room = rooms.entry(row.concert_id).or_default();
            if row.prequeue {
                room.prequeue += 1;
            } else {
                room.waiting.push(row.seq);
            }
            if row.recently_seen {
                let entry = FreshEntry {
                    concert_id: row.concert_id,
                    seq: row.seq,
                    user_id: row.user_id,
                    prequeue: row.prequeue,
                };
                fresh.insert(row.token_id, entry);
            }
        }
        for (concert, a) in activity {
            let room = rooms.entry(concert).or_default();
            room.active = a.active;
            room.admission_rate =
                (a.admitted_last_minute > 0).then(|| a.admitted_last_minute as f64 / 60.0);
        }
        for concert in store::catalog::concerts(pool).await? {
            if let Some(room) = rooms.get_mut(&concert.concert_id.0) {
                room.sale_opens_at = concert.sale_opens_at;
            }
        }
        let snapshot = LineSnapshot {
            rooms,
            fresh,
            taken_at: Some(taken_at),
        };
        if let Ok(mut current) = self.snapshot.write() {
            *current = Arc::new(snapshot);
        }
        Ok(())
    }

    /// Refreshes every [`REFRESH_INTERVAL`] and flushes the seen marks every
    /// [`Self::seen_flush_interval`] until `shutdown`, then flushes once more.
    pub async fn run(self: Arc<Self>, pool: PgPool, shutdown: CancellationToken) {
        let mut refresh = tokio::time::interval(REFRESH_INTERVAL);
        refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut flush = tokio::time::interval(self.seen_flush_interval());
        flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = refresh.tick() => {
                    if let Err(e) = self.refresh(&pool).await {
                        tracing::debug!(error = %e, "refreshing the waiting line failed");
                    }
                }
                _ = flush.tick() => {
                    if let Err(e) = self.flush_seen(&pool).await {
                        tracing::warn!(error = %e, "recording queue polls failed; will retry");
                    }
                }
            }
        }
        if let Err(e) = self.flush_seen(&pool).await {
            tracing::warn!(error = %e, "recording the last queue polls failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line_with(idle: Duration, snapshot: LineSnapshot) -> WaitingLine {
        let line = WaitingLine::new(idle);
        if let Ok(mut s) = line.snapshot.write() {
            *s = Arc::new(snapshot);
        }
        line
    }

    fn room(waiting: Vec<i64>, prequeue: u64) -> RoomLine {
        RoomLine {
            waiting,
            prequeue,
            ..Default::default()
        }
    }

    #[test]
    fn position_counts_the_waiting_entries_ahead_in_the_same_room_only() {
        let line = line_with(
            Duration::from_secs(60),
            LineSnapshot {
                rooms: HashMap::from([(1, room(vec![3, 4, 9, 12], 0)), (2, room(vec![1, 2], 0))]),
                ..Default::default()
            },
        );
        assert_eq!(line.position(1, 3), 1);
        assert_eq!(line.position(1, 9), 3);
        assert_eq!(line.position(1, 12), 4);
        // An entry newer than the snapshot is behind everyone in it.
        assert_eq!(line.position(1, 20), 5);
        assert_eq!(line.position(2, 20), 3);
        assert_eq!(line.position(3, 7), 1);
    }

    #[test]
    fn a_pre_queue_waiting_to_be_placed_is_ahead_of_every_placed_entry() {
        assert_eq!(room(vec![41, 42], 40).position(42), 42);
        assert_eq!(room(vec![], 40).position(41), 41);
    }

    fn snapshot_with(token: Uuid, taken_at: Instant) -> LineSnapshot {
        let entry = FreshEntry {
            concert_id: 1,
            seq: 9,
            user_id: Uuid::new_v4(),
            prequeue: false,
        };
        LineSnapshot {
            rooms: HashMap::from([(1, room(vec![3, 9], 0))]),
            fresh: HashMap::from([(token, entry)]),
            taken_at: Some(taken_at),
        }
    }

    #[test]
    fn a_young_snapshot_vouches_for_its_fresh_entries_with_their_position() {
        let token = Uuid::new_v4();
        let line = line_with(
            Duration::from_secs(60),
            snapshot_with(token, Instant::now()),
        );
        let (entry, position) = line.fresh(&TokenId(token)).expect("vouched for");
        assert_eq!((entry.seq, position), (9, Some(2)));
        assert!(line.fresh(&TokenId(Uuid::new_v4())).is_none());
    }

    #[test]
    fn a_snapshot_older_than_half_the_idle_timeout_vouches_for_nobody() {
        let token = Uuid::new_v4();
        let taken_at = Instant::now()
            .checked_sub(Duration::from_millis(450))
            .expect("the clock is past 450 ms");
        let line = line_with(Duration::from_secs(1), snapshot_with(token, taken_at));
        assert!(line.fresh(&TokenId(token)).is_none());
        // The same age is young next to a longer idle timeout.
        let line = line_with(Duration::from_secs(60), snapshot_with(token, taken_at));
        assert!(line.fresh(&TokenId(token)).is_some());
    }

    #[test]
    fn no_snapshot_yet_vouches_for_nobody() {
        let line = WaitingLine::new(Duration::from_secs(60));
        assert!(line.fresh(&TokenId(Uuid::new_v4())).is_none());
    }

    #[test]
    fn seen_marks_are_flushed_well_inside_the_idle_timeout() {
        let flush = |secs| WaitingLine::new(Duration::from_secs(secs)).seen_flush_interval();
        assert_eq!(flush(60), Duration::from_secs(1));
        assert_eq!(flush(2), Duration::from_millis(500));
        assert_eq!(flush(1), Duration::from_millis(250));
    }
}
