//! Applying commands to Postgres. A batch of messages is applied in order in
//! one transaction; each command's id goes into `applied_commands` in that
//! transaction (see [`store::commands`]), so a redelivered or replayed
//! command finds its id and changes nothing.
//!
//! Following one command: [`apply_batch`] decodes it, sets aside a body that
//! lost its `Idempotency-Key` and a duplicate, re-checks its token, then
//! hands it to [`reserve`] (runs of reserves, decided together), [`pay`]
//! or [`cancel`] (which needs no active token);
//! an undecodable message goes to [`poison`]. Outcomes are written and
//! announced in the same transaction.

mod cancel;
mod pay;
mod poison;
mod reserve;

pub use poison::reject_unappliable;

use chrono::Duration;
use domain::{
    Command, CommandEnvelope, ConcertId, Decision, DecodeError, RejectReason, RequestId,
    RequestKind, UserId,
};
use std::collections::{HashMap, HashSet};
use store::commands::Position;
use store::leases::Fence;
use store::requests::{Finished, PendingRequest};
use store::{PgConnection, PgPool};

/// One message as read from a partition.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub partition: i32,
    pub offset: i64,
    pub payload: Option<Vec<u8>>,
}

impl Delivery {
    /// Where the message was read from.
    pub fn position(&self) -> Position {
        Position {
            partition: self.partition,
            offset: self.offset,
        }
    }
}

/// Why a batch was not applied.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// Another worker claimed the partition since this one did.
    #[error("partition {0} was claimed by another worker")]
    Fenced(i32),
    #[error(transparent)]
    Database(#[from] store::Error),
}

/// The rule parameters a worker applies commands with.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    pub hold_ttl: Duration,
    pub max_holds_per_user: u32,
    /// `REFUND_CUTOFF_SECONDS` (rule 10).
    pub refund_cutoff: Duration,
    /// `MAX_TICKETS_PER_USER` (rule 5).
    pub max_tickets_per_user: u32,
    /// `WAITLIST_OFFER_SECONDS` (rule 11).
    pub offer_ttl: Duration,
}

impl Rules {
    /// The rules as configured.
    pub fn from_settings(settings: &domain::config::Settings) -> Self {
        Self {
            hold_ttl: Duration::seconds(i64::from(settings.hold_ttl_seconds)),
            max_holds_per_user: settings.max_holds_per_user,
            refund_cutoff: Duration::seconds(i64::from(settings.refund_cutoff_seconds)),
            max_tickets_per_user: settings.max_tickets_per_user,
            offer_ttl: Duration::seconds(i64::from(settings.waitlist_offer_seconds)),
        }
    }
}

/// What became of one message.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Succeeded(RequestKind),
    Rejected(RequestKind, RejectReason),
    /// Its id was already recorded: an earlier delivery applied it (or its
    /// body lost its `Idempotency-Key` to another body: see
    /// `CommandEnvelope::body_hash`).
    Duplicate,
    /// Undecodable: recorded as a dead letter and skipped.
    Poison,
}

impl Outcome {
    fn of(kind: RequestKind, decision: &Decision) -> Self {
        match decision {
            Decision::Succeeded(_) => Self::Succeeded(kind),
            Decision::Rejected(reason) => Self::Rejected(kind, *reason),
        }
    }
}

fn finished(env: &CommandEnvelope, decision: Decision) -> Finished {
    Finished {
        request: env.request_id,
        user: env.user_id,
        kind: env.command.kind(),
        decision,
    }
}

/// Applies `batch` in one transaction and returns what became of each
/// message. The batch may hold several partitions' messages, each
/// partition's in offset order: commands of different partitions concern
/// different seats, and one transaction for all of them costs Postgres one
/// set of bulk statements instead of one per partition. With `fences`, the
/// transaction first checks, and holds until commit, each partition's epoch.
pub async fn apply_batch(
    pool: &PgPool,
    rules: Rules,
    fences: &[Fence],
    batch: &[Delivery],
) -> Result<Vec<Outcome>, ApplyError> {
    let mut tx = pool.begin().await?;
    if let Some(stale) = store::leases::first_stale(&mut tx, fences).await? {
        return Err(ApplyError::Fenced(stale));
    }
    let now = store::now(&mut tx).await?;
    let decoded: Vec<_> = batch
        .iter()
        .map(|d| CommandEnvelope::decode(d.payload.as_deref().unwrap_or_default()))
        .collect();
    let superseded = claim_body_hashes(&mut tx, &decoded).await?;
    let mut fresh = record_ids(&mut tx, batch, &decoded, &superseded).await?;
    let tokens: Vec<_> = decoded.iter().flatten().map(|env| env.token_id).collect();
    let tokens = store::queue::active_tokens(&mut tx, &tokens, now).await?;
    let mut outcomes = vec![Outcome::Duplicate; batch.len()];
    let mut records: Vec<Finished> = Vec::with_capacity(batch.len());
    let mut announced = Vec::with_capacity(batch.len());
    // Users whose token of a concert a payment in this batch has just
    // expired.
    let mut paid: HashSet<(UserId, ConcertId)> = HashSet::new();
    // Consecutive reserves are decided together, in order, with bulk reads
    // and writes; anything else ends the run.
    let mut run = reserve::Run::default();
    for (i, (delivery, decoded)) in batch.iter().zip(&decoded).enumerate() {
        let env = match decoded {
            Ok(env) => env,
            Err(e) => {
                run.flush(&mut tx, rules, now, &mut records, &mut outcomes)
                    .await?;
                let (outcome, request) = poison::apply(&mut tx, delivery, e).await?;
                announced.extend(request);
                outcomes[i] = outcome;
                continue;
            }
        };
        // A duplicate, a second copy inside this very batch, or a body that
        // lost its Idempotency-Key to another.
        if superseded.contains(&i) || !fresh.remove(&env.request_id) {
            continue;
        }
        let kind = env.command.kind();
        // A cancel is sent with any credential of its user: no token to
        // check (the reservation's owner is checked instead).
        if let Command::Cancel { reservation_id, .. } = env.command {
            run.flush(&mut tx, rules, now, &mut records, &mut outcomes)
                .await?;
            let decision = cancel::cancel(&mut tx, now, rules, env.user_id, reservation_id).await?;
            outcomes[i] = Outcome::of(kind, &decision);
            records.push(finished(env, decision));
            continue;
        }
        // The concert the command's token is active for, if it still is.
        let concert = tokens
            .get(&env.token_id)
            .filter(|(owner, concert)| *owner == env.user_id && !paid.contains(&(*owner, *concert)))
            .map(|(_, concert)| *concert);
        match (kind, concert) {
            (RequestKind::Reserve, Some(concert)) => run.push(i, env, concert),
            (RequestKind::Pay, _) => {
                run.flush(&mut tx, rules, now, &mut records, &mut outcomes)
                    .await?;
                // A token no longer active may still pay offers from the
                // waitlist (rule 11): pay decides, once it is known to be
                // the payer's.
                let owned = concert.is_some()
                    || store::queue::owner_of(&mut tx, env.token_id).await? == Some(env.user_id);
                let (decision, paid_in) = if owned {
                    let reservations = env.command.reservations();
                    let payer = (env.user_id, concert);
                    pay::pay(&mut tx, now, payer, &reservations, rules).await?
                } else {
                    (Decision::Rejected(RejectReason::TokenNotActive), None)
                };
                if let Some(concert) = paid_in {
                    paid.insert((env.user_id, concert));
                }
                outcomes[i] = Outcome::of(kind, &decision);
                records.push(finished(env, decision));
            }
            _ => {
                let reason = RejectReason::TokenNotActive;
                records.push(finished(env, Decision::Rejected(reason)));
                outcomes[i] = Outcome::Rejected(kind, reason);
            }
        }
    }
    run.flush(&mut tx, rules, now, &mut records, &mut outcomes)
        .await?;
    store::requests::record_outcomes(&mut tx, &records).await?;
    announced.extend(records.iter().map(|r| r.request));
    for ((delivery, decoded), outcome) in batch.iter().zip(&decoded).zip(&outcomes) {
        // The HTTP request id travelled in the envelope: one reservation can
        // be followed from the API's log line to this one.
        let trace_id = decoded.as_ref().ok().and_then(|e| e.trace_id.as_deref());
        tracing::debug!(
            x_request_id = trace_id.unwrap_or(""),
            partition = delivery.partition,
            offset = delivery.offset,
            ?outcome,
            "command applied"
        );
    }
    store::requests::notify_finished(&mut tx, &announced).await?;
    tx.commit().await?;
    Ok(outcomes)
}

/// For the commands sent with an `Idempotency-Key`, makes sure their
/// request's row holds a body hash (the API may not have written it yet) and
/// returns the positions of those whose body lost: another request with the
/// same key and another body got the `202`. They are skipped, not recorded,
/// so the winner's command, with the same id, is still applied when it
/// comes.
async fn claim_body_hashes(
    conn: &mut PgConnection,
    decoded: &[Result<CommandEnvelope, DecodeError>],
) -> Result<HashSet<usize>, store::Error> {
    let hashed: Vec<(usize, &CommandEnvelope, &str)> = decoded
        .iter()
        .enumerate()
        .filter_map(|(i, d)| {
            let env = d.as_ref().ok()?;
            Some((i, env, env.body_hash.as_deref()?))
        })
        .collect();
    let pending: Vec<PendingRequest> = hashed
        .iter()
        .map(|(_, env, hash)| PendingRequest {
            request_id: env.request_id,
            user_id: env.user_id,
            kind: env.command.kind(),
            body_hash: (*hash).to_owned(),
        })
        .collect();
    let stored: HashMap<RequestId, Option<String>> =
        store::requests::record_pending(conn, &pending).await?;
    Ok(hashed
        .into_iter()
        .filter(|(_, env, hash)| {
            stored
                .get(&env.request_id)
                .is_some_and(|s| s.as_deref() != Some(*hash))
        })
        .map(|(i, _, _)| i)
        .collect())
}

/// Records the ids of the batch's commands in one statement, except those
/// `superseded`; returns those not recorded before (an earlier delivery
/// applied the others).
async fn record_ids(
    conn: &mut PgConnection,
    batch: &[Delivery],
    decoded: &[Result<CommandEnvelope, DecodeError>],
    superseded: &HashSet<usize>,
) -> Result<HashSet<RequestId>, store::Error> {
    let commands: Vec<(RequestId, Position)> = batch
        .iter()
        .zip(decoded)
        .enumerate()
        .filter(|(i, _)| !superseded.contains(i))
        .filter_map(|(_, (delivery, env))| {
            Some((env.as_ref().ok()?.request_id, delivery.position()))
        })
        .collect();
    store::commands::record_applied(conn, &commands).await
}
