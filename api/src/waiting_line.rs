//! This instance's view of every room's line, for positions without a query.
//!
//! Each room is a [`RoomLine`] (see `domain::line`): its admission frontier,
//! its last place and the places that dropped out above the frontier. A
//! background task reads what changed a few times a second: one small row
//! per room (`queue_rooms`) and the drops logged since the last reading
//! (`queue_drops`, numbered per room), so the work is proportional to the
//! line's changes, never to its length, and so is the memory. A poll reads
//! its own entry (batched with other polls) and takes its position from the
//! index: exact, and at most [`REFRESH_INTERVAL`] (plus the admission
//! job's period) stale.
//!
//! The "still here" mark that keeps a waiting entry from being dropped as
//! idle is batched into one update per [`WaitingLine::seen_flush_interval`].

use chrono::{DateTime, Utc};
use domain::line::RoomLine;
use domain::TokenId;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};
use store::queue::RoomState;
use store::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// How often the rooms are read: how stale a position may be.
pub const REFRESH_INTERVAL: Duration = Duration::from_millis(250);

/// The most drops of one room read per refresh, so a mass drop is taken in
/// slices and never stalls a refresh for long.
const DROPS_PER_READ: i64 = 100_000;

/// How far back the admission rate looks.
const RATE_WINDOW: Duration = Duration::from_secs(60);

/// One room as this instance follows it.
#[derive(Debug, Default)]
struct Room {
    line: RoomLine,
    /// Drops of the room applied so far (they are numbered 1, 2, ...).
    applied: i64,
    active: u64,
    sale_opens_at: Option<DateTime<Utc>>,
    /// `(when, admitted_total)` readings over the last minute.
    admissions: VecDeque<(Instant, i64)>,
}

impl Room {
    fn admission_rate(&self) -> Option<f64> {
        let (first, last) = (self.admissions.front()?, self.admissions.back()?);
        let admitted = last.1 - first.1;
        let secs = last.0.duration_since(first.0).as_secs_f64();
        (admitted > 0 && secs > 0.0).then(|| admitted as f64 / secs)
    }
}

/// What a reader needs of one room now.
#[derive(Debug, Clone, Copy, Default)]
pub struct RoomView {
    pub waiting: u64,
    pub active: u64,
    /// Admissions per second over the last minute, if any.
    pub admission_rate: Option<f64>,
    /// When the concert's sale opens, while it has not.
    pub sale_opens_at: Option<DateTime<Utc>>,
}

/// Every room's line, kept in the state so polls find positions without a
/// query each.
pub struct WaitingLine {
    rooms: RwLock<HashMap<i64, Room>>,
    /// `QUEUE_IDLE_TIMEOUT_SECONDS`.
    idle: Duration,
    /// Tokens of the waiting entries that polled since the last flush.
    seen: Mutex<HashSet<Uuid>>,
    /// Bumped after every refresh that changed a room, so event streams
    /// wake on a change instead of each reading its entry on a timer.
    changes: tokio::sync::watch::Sender<u64>,
}

impl WaitingLine {
    /// An empty view for an API whose idle timeout is `idle`; it fills on the
    /// first refresh of [`Self::run`].
    pub fn new(idle: Duration) -> Self {
        Self {
            rooms: RwLock::default(),
            idle,
            seen: Mutex::default(),
            changes: tokio::sync::watch::Sender::new(0),
        }
    }

    /// Wakes its holder after each refresh that changed some room.
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// The position of the placed entry `seq` of the room of `concert` if
    /// the index knows it still waits; `None` when it left the line (was
    /// admitted or dropped) or the room is not followed yet: then only its
    /// row can say where it stands.
    pub fn waiting_position(&self, concert: i64, seq: i64) -> Option<u64> {
        let rooms = self.rooms.read().ok()?;
        let line = &rooms.get(&concert)?.line;
        line.is_waiting(seq).then(|| line.position(seq))
    }

    /// The 1-based position of the placed waiting entry `seq` of the room
    /// of `concert`.
    pub fn position(&self, concert: i64, seq: i64) -> u64 {
        let rooms = self.rooms.read();
        let line = rooms.as_ref().ok().and_then(|r| r.get(&concert));
        line.map_or(1, |room| room.line.position(seq))
    }

    /// What a reader needs of the room of `concert`.
    pub fn room(&self, concert: i64) -> RoomView {
        let rooms = self.rooms.read();
        let Some(room) = rooms.as_ref().ok().and_then(|r| r.get(&concert)) else {
            return RoomView::default();
        };
        RoomView {
            waiting: room.line.waiting(),
            active: room.active,
            admission_rate: room.admission_rate(),
            sale_opens_at: room.sale_opens_at,
        }
    }

    /// Every room together, for the gauges.
    pub fn totals(&self) -> RoomView {
        let rooms = self.rooms.read();
        let mut total = RoomView::default();
        for room in rooms.iter().flat_map(|r| r.values()) {
            total.waiting += room.line.waiting();
            total.active += room.active;
            if let Some(rate) = room.admission_rate() {
                total.admission_rate = Some(total.admission_rate.unwrap_or(0.0) + rate);
            }
        }
        total
    }

    /// Records that the waiting entry of `token` polled;
    /// [`Self::flush_seen`] writes it.
    pub fn mark_seen(&self, token: TokenId) {
        if let Ok(mut seen) = self.seen.lock() {
            seen.insert(token.0);
        }
    }

    /// How often an open event stream marks its waiting entry as seen: a
    /// third of the idle timeout, so with the flush delay the written marks
    /// stay well inside it.
    pub fn stream_mark_interval(&self) -> Duration {
        (self.idle / 3).max(Duration::from_millis(50))
    }

    /// How often the polls' marks are written down: well inside the idle
    /// timeout, so a polling entry is never dropped.
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

    /// Reads what changed in every room and applies it; [`Self::run`] calls
    /// it every [`REFRESH_INTERVAL`].
    pub async fn refresh(&self, pool: &PgPool) -> Result<(), store::Error> {
        let states = store::queue::room_states(pool).await?;
        let mut changed = false;
        for state in states {
            let applied = self
                .rooms
                .read()
                .ok()
                .and_then(|r| r.get(&state.concert_id).map(|room| room.applied))
                .unwrap_or(0);
            let drops = if state.drops_logged > applied {
                let (room, upto) = (state.concert_id, state.drops_logged);
                store::queue::drops_after(pool, room, applied, upto, DROPS_PER_READ).await?
            } else {
                Vec::new()
            };
            changed |= self.apply(state, &drops);
        }
        if changed {
            self.changes.send_modify(|n| *n = n.wrapping_add(1));
        }
        Ok(())
    }

    /// Applies one room's reading and the drops read after it; whether
    /// anything a reader sees moved.
    fn apply(&self, state: RoomState, drops: &[(i64, i64)]) -> bool {
        let Ok(mut rooms) = self.rooms.write() else {
            return false;
        };
        let room = rooms.entry(state.concert_id).or_default();
        let before = (
            room.line.frontier(),
            room.applied,
            room.active,
            room.sale_opens_at,
        );
        room.line.advance(state.frontier, state.last_seq);
        for (_, seq) in drops {
            room.line.drop_at(*seq);
        }
        // A full read may have left drops for the next one; a shorter one
        // read all that were still logged (the pruned ones were at or below
        // the frontier, so they no longer matter).
        room.applied = match drops.last() {
            Some((last, _)) if drops.len() as i64 >= DROPS_PER_READ => *last,
            _ => room.applied.max(state.drops_logged),
        };
        room.active = u64::try_from(state.active_now).unwrap_or(0);
        room.sale_opens_at = state.sale_opens_at;
        let now = Instant::now();
        room.admissions.push_back((now, state.admitted_total));
        while room
            .admissions
            .front()
            .is_some_and(|(at, _)| now.duration_since(*at) > RATE_WINDOW)
        {
            room.admissions.pop_front();
        }
        before
            != (
                room.line.frontier(),
                room.applied,
                room.active,
                room.sale_opens_at,
            )
    }

    /// Refreshes every [`REFRESH_INTERVAL`] and flushes the seen marks every
    /// [`Self::seen_flush_interval`] until `shutdown`, then flushes once more.
    pub async fn run(self: std::sync::Arc<Self>, pool: PgPool, shutdown: CancellationToken) {
        let mut refresh = tokio::time::interval(REFRESH_INTERVAL);
        refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut flush = tokio::time::interval(self.seen_flush_interval());
        flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = refresh.tick() => {
                    if let Err(e) = self.refresh(&pool).await {
                        tracing::debug!(error = %e, "refreshing the waiting lines failed");
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

    fn state(concert: i64, frontier: i64, last_seq: i64, drops_logged: i64) -> RoomState {
        RoomState {
            concert_id: concert,
            frontier,
            last_seq,
            active_now: 1,
            admitted_total: frontier,
            drops_logged,
            sale_opens_at: None,
        }
    }

    #[test]
    fn positions_follow_each_rooms_frontier_and_drops() {
        let line = WaitingLine::new(Duration::from_secs(60));
        line.apply(state(1, 2, 10, 2), &[(1, 4), (2, 6)]);
        line.apply(state(2, 0, 3, 0), &[]);
        assert_eq!(line.position(1, 10), 6);
        assert_eq!(line.position(1, 5), 2);
        assert_eq!(line.position(2, 3), 3);
        assert_eq!(line.room(1).waiting, 6);
        assert_eq!(line.totals().waiting, 9);
        // The next reading: two more admitted, one more drop.
        line.apply(state(1, 5, 12, 3), &[(3, 11)]);
        assert_eq!(line.position(1, 12), 5);
    }

    #[test]
    fn a_room_never_seen_puts_an_entry_first() {
        let line = WaitingLine::new(Duration::from_secs(60));
        assert_eq!(line.position(9, 1), 1);
        assert_eq!(line.room(9).waiting, 0);
    }

    #[test]
    fn seen_marks_are_flushed_well_inside_the_idle_timeout() {
        let flush = |secs| WaitingLine::new(Duration::from_secs(secs)).seen_flush_interval();
        assert_eq!(flush(60), Duration::from_secs(1));
        assert_eq!(flush(2), Duration::from_millis(500));
        assert_eq!(flush(1), Duration::from_millis(250));
    }
}
