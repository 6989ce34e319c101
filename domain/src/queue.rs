//! The waiting room (SPEC rules 1 and 2): entries ordered by arrival, at most
//! `capacity` active at once, admission of the earliest waiting, expiry.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// Where a waiting-room entry stands: waiting in line, admitted (`active`),
/// or done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(description = "The status of a queue entry.")
)]
#[serde(rename_all = "snake_case")]
pub enum QueueStatus {
    Waiting,
    Active,
    Expired,
}

impl QueueStatus {
    /// The name the `queue_entries.status` column stores.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Active => "active",
            Self::Expired => "expired",
        }
    }

    /// Reads a stored status back; `None` for a name this build does not know.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "waiting" => Some(Self::Waiting),
            "active" => Some(Self::Active),
            "expired" => Some(Self::Expired),
            _ => None,
        }
    }
}

/// A queue entry as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub status: QueueStatus,
    pub active_until: Option<DateTime<Utc>>,
    pub last_seen_at: DateTime<Utc>,
    /// It came before its room's opening and has no place yet.
    pub prequeue: bool,
}

impl Entry {
    /// The status a reader sees at `now`: an active token past its end, or a
    /// waiting entry that stopped polling, reads `expired` before any job has
    /// marked it so. The pre-queue is not dropped for idling before the
    /// opening (its idle time starts when the room opens).
    pub fn visible_status(&self, now: DateTime<Utc>, idle_timeout: Duration) -> QueueStatus {
        match self.status {
            QueueStatus::Active if self.active_until.is_none_or(|until| until <= now) => {
                QueueStatus::Expired
            }
            QueueStatus::Waiting if !self.prequeue && self.last_seen_at + idle_timeout <= now => {
                QueueStatus::Expired
            }
            other => other,
        }
    }
}

/// How many waiting entries may be admitted now.
pub fn slots_to_admit(capacity: u32, active: u64) -> u64 {
    u64::from(capacity).saturating_sub(active)
}

/// Seconds until an entry with `ahead` entries before it is admitted. The
/// rate is the measured admissions per second; with no measurement yet it
/// assumes each active slot turns over once per token lifetime, the slowest
/// the line can move while people hold their slots to the end.
pub fn estimated_wait_seconds(
    ahead: u64,
    measured_rate_per_s: Option<f64>,
    capacity: u32,
    active_ttl: Duration,
) -> u64 {
    let floor_rate = f64::from(capacity.max(1)) / (active_ttl.num_seconds().max(1) as f64);
    let rate = measured_rate_per_s
        .filter(|r| r.is_finite() && *r > 0.0)
        .unwrap_or(floor_rate);
    ((ahead as f64 + 1.0) / rate).ceil() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_900_000_000, 0).unwrap_or_default()
    }

    fn entry(status: QueueStatus) -> Entry {
        Entry {
            status,
            active_until: None,
            last_seen_at: now(),
            prequeue: false,
        }
    }

    #[test]
    fn an_active_token_stays_active_until_its_end() {
        let e = Entry {
            active_until: Some(now() + Duration::seconds(1)),
            ..entry(QueueStatus::Active)
        };
        assert_eq!(
            e.visible_status(now(), Duration::seconds(60)),
            QueueStatus::Active
        );
        assert_eq!(
            e.visible_status(now() + Duration::seconds(1), Duration::seconds(60)),
            QueueStatus::Expired
        );
    }

    #[test]
    fn a_waiting_entry_that_stops_polling_expires() {
        let e = entry(QueueStatus::Waiting);
        let idle = Duration::seconds(60);
        assert_eq!(
            e.visible_status(now() + Duration::seconds(59), idle),
            QueueStatus::Waiting
        );
        assert_eq!(
            e.visible_status(now() + Duration::seconds(60), idle),
            QueueStatus::Expired
        );
    }

    #[test]
    fn a_pre_queue_entry_is_not_dropped_for_idling_before_the_opening() {
        let e = Entry {
            prequeue: true,
            ..entry(QueueStatus::Waiting)
        };
        let a_day_later = now() + Duration::days(1);
        assert_eq!(
            e.visible_status(a_day_later, Duration::seconds(60)),
            QueueStatus::Waiting
        );
    }

    #[test]
    fn an_expired_entry_stays_expired() {
        let e = entry(QueueStatus::Expired);
        assert_eq!(
            e.visible_status(now(), Duration::seconds(60)),
            QueueStatus::Expired
        );
    }

    #[test]
    fn admission_fills_only_the_free_slots() {
        assert_eq!(slots_to_admit(100, 0), 100);
        assert_eq!(slots_to_admit(100, 99), 1);
        assert_eq!(slots_to_admit(100, 100), 0);
        assert_eq!(slots_to_admit(100, 150), 0);
    }

    #[test]
    fn the_wait_estimate_uses_the_measured_rate() {
        let ttl = Duration::seconds(600);
        assert_eq!(estimated_wait_seconds(0, Some(2.0), 100, ttl), 1);
        assert_eq!(estimated_wait_seconds(9, Some(2.0), 100, ttl), 5);
    }

    #[test]
    fn without_a_measured_rate_the_estimate_assumes_full_turnover() {
        let ttl = Duration::seconds(600);
        // 100 slots per 600 s: one admission every 6 s.
        assert_eq!(estimated_wait_seconds(9, None, 100, ttl), 60);
        assert_eq!(estimated_wait_seconds(9, Some(0.0), 100, ttl), 60);
        assert_eq!(estimated_wait_seconds(9, Some(f64::NAN), 100, ttl), 60);
    }
}
