//! Natural batching of the one-row statements that every command makes:
//! reading the caller's queue entry and recording the accepted command.
//! Concurrent requests hand their row to one task, which sends everything
//! queued as one statement over arrays and hands each request its answer.
//!
//! There is no timer: the task takes whatever is queued as soon as it is
//! free, so a lone request waits for nothing, and under load one round trip
//! (and one commit) serves every request that arrived during the previous
//! one. Postgres CPU per command is what limits the end-to-end rate on a
//! small machine (docs/BENCHMARKS.md), and most of a one-row statement's
//! cost is per statement, not per row.
//!
//! A batch that fails answers `None` to each of its requests, which then run
//! their own one-row statement: their error is their own, and a statement
//! that trips on one row (say, a conflict) cannot fail the others.

use crate::auth::{EntryRow, ENTRY_COLUMNS};
use domain::{RequestId, RequestKind, TokenId, UserId};
use sqlx::PgPool;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

/// The most rows one statement carries.
pub const MAX_BATCH: usize = 512;

type Reply<O> = oneshot::Sender<Option<O>>;
type BatchFuture<O> = Pin<Box<dyn Future<Output = Result<Vec<O>, sqlx::Error>> + Send>>;

/// Gathers inputs `I` from concurrent callers into batches for `run`, which
/// answers with one output per input, in order.
pub struct Batcher<I, O> {
    queue: mpsc::UnboundedSender<(I, Reply<O>)>,
}

impl<I: Send + 'static, O: Send + 'static> Batcher<I, O> {
    /// Starts the batching task; it ends when the batcher is dropped.
    pub fn start<F>(pool: PgPool, run: F) -> Self
    where
        F: Fn(PgPool, Vec<I>) -> BatchFuture<O> + Send + 'static,
    {
        let (queue, mut rx) = mpsc::unbounded_channel::<(I, Reply<O>)>();
        tokio::spawn(async move {
            let mut pending = Vec::with_capacity(MAX_BATCH);
            while rx.recv_many(&mut pending, MAX_BATCH).await > 0 {
                let (inputs, replies): (Vec<I>, Vec<Reply<O>>) = pending.drain(..).unzip();
                let count = inputs.len();
                match run(pool.clone(), inputs).await {
                    Ok(outputs) if outputs.len() == count => {
                        for (reply, output) in replies.into_iter().zip(outputs) {
                            let _ = reply.send(Some(output));
                        }
                    }
                    result => {
                        if let Err(e) = result {
                            tracing::debug!(error = %e, count, "batched statement failed; each request retries alone");
                        }
                        for reply in replies {
                            let _ = reply.send(None);
                        }
                    }
                }
            }
        });
        Self { queue }
    }

    /// `input`'s answer from the next batch; `None` if that batch failed (or
    /// the task is gone): the caller then runs its own statement.
    pub async fn submit(&self, input: I) -> Option<O> {
        let (reply, answer) = oneshot::channel();
        self.queue.send((input, reply)).ok()?;
        answer.await.ok().flatten()
    }
}

/// Reads queue entries by token id, many requests per statement.
pub fn entry_reader(pool: PgPool) -> Batcher<TokenId, Option<EntryRow>> {
    Batcher::start(pool, |pool, tokens: Vec<TokenId>| {
        Box::pin(async move { read_entries(&pool, &tokens).await })
    })
}

/// The queue entry of each token, in order; one statement.
pub async fn read_entries(
    pool: &PgPool,
    tokens: &[TokenId],
) -> Result<Vec<Option<EntryRow>>, sqlx::Error> {
    let ids: Vec<Uuid> = tokens.iter().map(|t| t.0).collect();
    let rows: Vec<EntryRow> = sqlx::query_as(&format!(
        "select {ENTRY_COLUMNS} from queue_entries where token_id = any($1)"
    ))
    .bind(&ids)
    .fetch_all(pool)
    .await?;
    let by_token: HashMap<Uuid, EntryRow> = rows.into_iter().map(|r| (r.token_id, r)).collect();
    // A token asked for twice in one batch gets the row both times.
    Ok(tokens.iter().map(|t| by_token.get(&t.0).cloned()).collect())
}

/// An accepted command, as the API records it.
#[derive(Debug, Clone)]
pub struct AcceptedRow {
    pub request_id: RequestId,
    pub user_id: UserId,
    pub kind: RequestKind,
    pub body_hash: String,
}

/// Records accepted commands, many requests per statement.
pub fn request_recorder(pool: PgPool) -> Batcher<AcceptedRow, Option<String>> {
    Batcher::start(pool, |pool, rows: Vec<AcceptedRow>| {
        Box::pin(async move { record_accepted(&pool, &rows).await })
    })
}

/// Records accepted commands as `pending` (unless their worker was first)
/// and answers each with the body hash now stored for its id; one
/// statement.
pub async fn record_accepted(
    pool: &PgPool,
    rows: &[AcceptedRow],
) -> Result<Vec<Option<String>>, sqlx::Error> {
    // One row per id: a statement may not upsert a row twice. The first body
    // wins, as it would have racing alone.
    let mut seen: HashSet<Uuid> = HashSet::with_capacity(rows.len());
    let (mut ids, mut users, mut kinds, mut hashes) = (vec![], vec![], vec![], vec![]);
    for row in rows {
        if seen.insert(row.request_id.0) {
            ids.push(row.request_id.0);
            users.push(row.user_id.0);
            kinds.push(row.kind.as_str());
            hashes.push(row.body_hash.as_str());
        }
    }
    let stored: HashMap<Uuid, Option<String>> = sqlx::query_as(
        "insert into requests (request_id, user_id, kind, body_hash)
         select * from unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[])
         on conflict (request_id) do update
            set body_hash = coalesce(requests.body_hash, excluded.body_hash)
         returning request_id, body_hash",
    )
    .bind(&ids)
    .bind(&users)
    .bind(&kinds)
    .bind(&hashes)
    .fetch_all(pool)
    .await?
    .into_iter()
    .collect();
    // Every id was inserted or updated, so each has its row back.
    rows.iter()
        .map(|row| stored.get(&row.request_id.0).cloned())
        .collect::<Option<Vec<_>>>()
        .ok_or(sqlx::Error::RowNotFound)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::postgres::PgPoolOptions;
    use std::sync::{Arc, Mutex};

    /// A pool that is never connected: these batches do not touch it.
    fn unused_pool() -> PgPool {
        PgPoolOptions::new()
            .connect_lazy("postgres://nobody@127.0.0.1:1/none")
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[tokio::test]
    async fn concurrent_callers_share_batches_and_each_gets_its_own_answer() {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let seen = sizes.clone();
        let batcher = Batcher::start(unused_pool(), move |_, inputs: Vec<u32>| {
            if let Ok(mut sizes) = seen.lock() {
                sizes.push(inputs.len());
            }
            Box::pin(async move { Ok(inputs.iter().map(|i| i * 2).collect()) })
        });
        let answers = futures::future::join_all((0..100).map(|i| batcher.submit(i))).await;
        let expected: Vec<Option<u32>> = (0..100).map(|i| Some(i * 2)).collect();
        assert_eq!(answers, expected);
        let sizes = sizes.lock().map(|s| s.clone()).unwrap_or_default();
        assert_eq!(sizes.iter().sum::<usize>(), 100);
        assert!(
            sizes.len() < 100,
            "no two requests shared a batch: {sizes:?}"
        );
    }

    #[tokio::test]
    async fn a_failed_batch_sends_each_caller_back_to_its_own_statement() {
        let batcher = Batcher::start(unused_pool(), |_, _: Vec<u32>| {
            Box::pin(async { Err(sqlx::Error::PoolClosed) })
        });
        assert_eq!(batcher.submit(1).await, None::<u32>);
    }

    #[tokio::test]
    async fn a_batch_with_too_few_answers_counts_as_failed() {
        let batcher = Batcher::start(unused_pool(), |_, inputs: Vec<u32>| {
            Box::pin(async move { Ok(inputs.into_iter().skip(1).collect()) })
        });
        let answers = futures::future::join(batcher.submit(1), batcher.submit(2)).await;
        assert_eq!(answers, (None, None));
    }
}
