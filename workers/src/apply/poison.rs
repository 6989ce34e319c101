//! Messages that cannot be applied: undecodable ones, and those whose
//! application fails for a reason retrying cannot mend. Each is kept as a
//! dead letter and skipped so it never blocks its partition; its request,
//! when its ids can be read, is rejected `INVALID_COMMAND` so its client is
//! not left polling.

use super::{Delivery, Outcome};
use domain::{
    CommandEnvelope, Decision, DecodeError, RejectReason, RequestId, RequestKind, UserId,
};
use store::requests::Finished;
use store::{PgConnection, PgPool};

/// Records `delivery` as rejected without applying it: for a message whose
/// application fails for a reason retrying cannot mend (a constraint the rules
/// did not foresee), so that it does not block its partition.
pub async fn reject_unappliable(
    pool: &PgPool,
    delivery: &Delivery,
    error: &str,
) -> Result<Outcome, store::Error> {
    let mut tx = pool.begin().await?;
    store::commands::record_dead_letter(
        &mut tx,
        delivery.position(),
        delivery.payload.as_deref(),
        error,
    )
    .await?;
    let payload = delivery.payload.as_deref().unwrap_or_default();
    let outcome = match CommandEnvelope::decode(payload) {
        Ok(env) => {
            let kind = env.command.kind();
            let outcome = reject(&mut tx, delivery, env.request_id, env.user_id, kind).await?;
            if let Outcome::Rejected(..) = outcome {
                store::requests::notify_finished(&mut tx, &[env.request_id]).await?;
            }
            outcome
        }
        Err(_) => Outcome::Poison,
    };
    tx.commit().await?;
    Ok(outcome)
}

/// Keeps an undecodable message as a dead letter; rejects its request if its
/// ids can be read and the API recorded it. Returns the outcome and the
/// request to announce, if any.
pub(super) async fn apply(
    conn: &mut PgConnection,
    delivery: &Delivery,
    error: &DecodeError,
) -> Result<(Outcome, Option<RequestId>), store::Error> {
    tracing::warn!(
        partition = delivery.partition,
        offset = delivery.offset,
        %error,
        "skipping an undecodable command"
    );
    let payload = delivery.payload.as_deref();
    store::commands::record_dead_letter(conn, delivery.position(), payload, &error.to_string())
        .await?;
    let salvaged = DecodeError::salvage_request_id(payload.unwrap_or_default());
    if let Some((request_id, user_id)) = salvaged {
        if let Some(kind) = store::requests::kind_of(conn, request_id).await? {
            let outcome = reject(conn, delivery, request_id, user_id, kind).await?;
            if let Outcome::Rejected(..) = outcome {
                return Ok((outcome, Some(request_id)));
            }
        }
    }
    Ok((Outcome::Poison, None))
}

/// Rejects the request `INVALID_COMMAND` unless an earlier delivery already
/// recorded the command.
async fn reject(
    conn: &mut PgConnection,
    delivery: &Delivery,
    request: RequestId,
    user: UserId,
    kind: RequestKind,
) -> Result<Outcome, store::Error> {
    let first = store::commands::record_applied(conn, &[(request, delivery.position())])
        .await?
        .contains(&request);
    if !first {
        return Ok(Outcome::Duplicate);
    }
    let reason = RejectReason::InvalidCommand;
    let record = Finished {
        request,
        user,
        kind,
        decision: Decision::Rejected(reason),
    };
    store::requests::record_outcomes(conn, &[record]).await?;
    Ok(Outcome::Rejected(kind, reason))
}
