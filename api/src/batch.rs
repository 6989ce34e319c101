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

use domain::TokenId;
use std::future::Future;
use std::pin::Pin;
use store::queue::EntryRow;
use store::requests::PendingRequest;
use store::PgPool;
use tokio::sync::{mpsc, oneshot};

/// The most rows one statement carries.
pub const MAX_BATCH: usize = 512;

type Reply<O> = oneshot::Sender<Option<O>>;
type BatchFuture<O> = Pin<Box<dyn Future<Output = Result<Vec<O>, store::Error>> + Send>>;

/// Gathers inputs `I` from concurrent callers into batches for `run`, which
/// answers with one output per input, in order.
pub struct Batcher<I, O> {
    queue: mpsc::UnboundedSender<(I, Reply<O>)>,
}

impl<I: Send + 'static, O: Send + 'static> Batcher<I, O> {
    /// Starts the batching task; it ends when the batcher is dropped.
    pub fn start<F>(run: F) -> Self
    where
        F: Fn(Vec<I>) -> BatchFuture<O> + Send + 'static,
    {
        let (queue, mut rx) = mpsc::unbounded_channel::<(I, Reply<O>)>();
        tokio::spawn(async move {
            let mut pending = Vec::with_capacity(MAX_BATCH);
            while rx.recv_many(&mut pending, MAX_BATCH).await > 0 {
                let (inputs, replies): (Vec<I>, Vec<Reply<O>>) = pending.drain(..).unzip();
                let count = inputs.len();
                match run(inputs).await {
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
    Batcher::start(move |tokens: Vec<TokenId>| {
        let pool = pool.clone();
        Box::pin(async move { store::queue::entries_by_token(&pool, &tokens).await })
    })
}

/// Records accepted commands, many requests per statement.
pub fn request_recorder(pool: PgPool) -> Batcher<PendingRequest, Option<String>> {
    Batcher::start(move |rows: Vec<PendingRequest>| {
        let pool = pool.clone();
        Box::pin(async move { record_accepted(&pool, &rows).await })
    })
}

/// Records accepted commands as `pending` (unless their worker was first)
/// and answers each with the body hash now stored for its id; one
/// statement. The first body of an id wins, as it would have racing alone.
pub async fn record_accepted(
    pool: &PgPool,
    rows: &[PendingRequest],
) -> Result<Vec<Option<String>>, store::Error> {
    let mut conn = pool.acquire().await?;
    let stored = store::requests::record_pending(&mut conn, rows).await?;
    // Every id was inserted or updated, so each has its row back.
    rows.iter()
        .map(|row| stored.get(&row.request_id).cloned())
        .collect::<Option<Vec<_>>>()
        .ok_or(store::Error::RowNotFound)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[tokio::test]
    async fn concurrent_callers_share_batches_and_each_gets_its_own_answer() {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let seen = sizes.clone();
        let batcher = Batcher::start(move |inputs: Vec<u32>| {
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
        let batcher =
            Batcher::start(|_: Vec<u32>| Box::pin(async { Err(store::Error::PoolClosed) }));
        assert_eq!(batcher.submit(1).await, None::<u32>);
    }

    #[tokio::test]
    async fn a_batch_with_too_few_answers_counts_as_failed() {
        let batcher = Batcher::start(|inputs: Vec<u32>| {
            Box::pin(async move { Ok(inputs.into_iter().skip(1).collect()) })
        });
        let answers = futures::future::join(batcher.submit(1), batcher.submit(2)).await;
        assert_eq!(answers, (None, None));
    }
}
