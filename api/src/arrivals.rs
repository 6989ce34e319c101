//! Entering waiting rooms, many arrivals per transaction. Each room's
//! arrivals are ordered by one row lock; taking it once per batch instead of
//! once per request (and holding it across one commit instead of many) is
//! what lets a crowd at the opening second get into line quickly. Within a
//! batch, arrivals take their places in the order the API accepted them.
//!
//! The user's key is checked in the same transaction, one statement for the
//! batch. A batch that fails sends each of its requests back to run alone
//! (see [`crate::batch`]), so an error is always the request's own.

use crate::auth::user_key::constant_time_eq;
use crate::batch::Batcher;
use chrono::{DateTime, Duration, Utc};
use domain::queue::QueueStatus;
use domain::{ConcertId, TokenId, UserId};
use std::collections::HashMap;
use store::arrivals::Arrival;
use store::queue::EntryRow;
use store::PgPool;
use uuid::Uuid;

/// A user entering the room of a concert with the hash of the key they
/// presented (checked with the batch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entering {
    pub user: UserId,
    pub concert: ConcertId,
    pub key_hash: [u8; 32],
}

/// Where an arrival ended up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arrived {
    /// There is no such user.
    NoUser,
    /// The key is not the user's.
    WrongKey,
    /// There is no such concert.
    NoConcert,
    /// The user's live entry: re-entering never moves anyone (`200`).
    Existing(Place),
    /// A new place at the end of the line (`201`).
    New(Place),
}

/// An entry and where it stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    pub token: TokenId,
    pub status: QueueStatus,
    /// `None` in the pre-queue; 0 when active.
    pub position: Option<u64>,
    /// When the sale opens, while it has not.
    pub sale_opens_at: Option<DateTime<Utc>>,
}

/// Takes arrivals from concurrent requests into batches.
pub fn arrivals(pool: PgPool, settings: domain::config::Settings) -> Batcher<Entering, Arrived> {
    Batcher::start(move |batch: Vec<Entering>| {
        let (pool, settings) = (pool.clone(), settings.clone());
        Box::pin(async move { arrive(&pool, &settings, &batch).await })
    })
}

/// Enters every arrival of `batch` in one transaction, then admits at once
/// when there is room (unless an admission is under way); answers each in
/// order.
pub async fn arrive(
    pool: &PgPool,
    settings: &domain::config::Settings,
    batch: &[Entering],
) -> Result<Vec<Arrived>, store::Error> {
    let idle = Duration::seconds(i64::from(settings.queue_idle_timeout_seconds));
    let mut out: Vec<Arrived> = vec![Arrived::NoConcert; batch.len()];
    let mut tx = pool.begin().await?;
    let users: Vec<Uuid> = batch.iter().map(|e| e.user.0).collect();
    let keys = store::users::key_hashes_of(&mut tx, &users).await?;
    let mut key_ok = vec![false; batch.len()];
    for (i, entering) in batch.iter().enumerate() {
        out[i] = match keys.get(&entering.user.0) {
            None => Arrived::NoUser,
            // Digests of 244-bit random keys: comparing them reveals
            // nothing useful, but compare in constant time anyway.
            Some(Some(stored)) if constant_time_eq(stored, &entering.key_hash) => {
                key_ok[i] = true;
                Arrived::NoConcert
            }
            Some(_) => Arrived::WrongKey,
        };
    }
    let mut concerts: Vec<ConcertId> = (0..batch.len())
        .filter(|i| key_ok[*i])
        .map(|i| batch[i].concert)
        .collect();
    concerts.sort_unstable_by_key(|c| c.0);
    concerts.dedup();
    // Whether a room that took new places had free capacity as its last
    // admission counted it: only then is admitting at once worth a
    // transaction (in a burst the room is full after the first batch; the
    // workers' admission job runs a few times a second anyway).
    let mut room_free = false;
    // Rooms in one order, so two batches queue instead of deadlocking.
    for concert in concerts {
        let Some(room) = store::arrivals::lock_room(&mut tx, concert).await? else {
            continue;
        };
        let mine: Vec<usize> = (0..batch.len())
            .filter(|i| key_ok[*i] && batch[*i].concert == concert)
            .collect();
        let users: Vec<Uuid> = mine.iter().map(|i| batch[*i].user.0).collect();
        let live: HashMap<Uuid, EntryRow> =
            store::arrivals::live_entries_of(&mut tx, concert, &users)
                .await?
                .into_iter()
                .map(|row| (row.user_id, row))
                .collect();
        let (mut dropped, mut logged, mut last) =
            (room.dropped_total, room.drops_logged, room.last_seq);
        let sale_opens_at = room.sale_opens_at.filter(|_| room.before_opening);
        let mut placed: HashMap<Uuid, Place> = HashMap::new();
        let mut new: Vec<Arrival> = Vec::new();
        for i in mine {
            let user = batch[i].user;
            // The same user twice in one batch: the second gets the first's.
            if let Some(place) = placed.get(&user.0) {
                out[i] = Arrived::Existing(*place);
                continue;
            }
            if let Some(row) = live.get(&user.0) {
                let entry = row.entry();
                let visible = entry.visible_status(row.now, idle);
                if visible != QueueStatus::Expired {
                    // Re-entering is rare next to arriving: count exactly.
                    let position = match visible {
                        QueueStatus::Waiting if entry.prequeue => None,
                        QueueStatus::Waiting => Some(
                            store::arrivals::waiting_ahead_of(&mut tx, concert, row.seq).await? + 1,
                        ),
                        _ => Some(0),
                    };
                    let place = Place {
                        token: TokenId(row.token_id),
                        status: visible,
                        position,
                        sale_opens_at: row.sale_opens_at,
                    };
                    placed.insert(user.0, place);
                    out[i] = Arrived::Existing(place);
                    continue;
                }
                // The old entry ran out; closed here so the user can rejoin.
                if entry.status == QueueStatus::Waiting {
                    dropped += 1;
                    logged += 1;
                }
                store::arrivals::close_entry(&mut tx, row, logged).await?;
            }
            last += 1;
            let arrival = Arrival {
                concert,
                seq: last,
                token: TokenId::new(),
                user,
                prequeue: room.before_opening,
            };
            // Everyone admitted or dropped came before it.
            let position = (!arrival.prequeue).then(|| {
                u64::try_from(last - room.admitted_total - dropped)
                    .unwrap_or(1)
                    .max(1)
            });
            let place = Place {
                token: arrival.token,
                status: QueueStatus::Waiting,
                position,
                sale_opens_at,
            };
            new.push(arrival);
            placed.insert(user.0, place);
            out[i] = Arrived::New(place);
        }
        let capacity = room
            .queue_capacity
            .map_or(i64::from(settings.queue_active_capacity), i64::from);
        room_free |= !room.before_opening && !new.is_empty() && room.active_now < capacity;
        store::arrivals::append_many(&mut tx, concert, &new, (dropped, logged)).await?;
    }
    tx.commit().await?;
    if room_free {
        admit_at_once(pool, settings, &mut out).await?;
    }
    Ok(out)
}

/// Admits at once when there is room, unless an admission is under way,
/// and shows it in the answers of the new places it admitted.
async fn admit_at_once(
    pool: &PgPool,
    settings: &domain::config::Settings,
    out: &mut [Arrived],
) -> Result<(), store::Error> {
    let waiting: Vec<TokenId> = out
        .iter()
        .filter_map(|a| match a {
            Arrived::New(p) if p.position.is_some() => Some(p.token),
            _ => None,
        })
        .collect();
    if waiting.is_empty() {
        return Ok(());
    }
    let admitted = store::queue::admit(pool, settings, false)
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "opportunistic admission failed; the workers will admit");
            0
        });
    if admitted <= 0 {
        return Ok(());
    }
    let statuses = store::arrivals::statuses_of(pool, &waiting).await?;
    for arrived in out.iter_mut() {
        if let Arrived::New(place) = arrived {
            if statuses.get(&place.token) == Some(&QueueStatus::Active) {
                place.status = QueueStatus::Active;
                place.position = Some(0);
            }
        }
    }
    Ok(())
}
