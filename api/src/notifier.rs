//! Wakes long polls when a worker announces finished requests (see
//! [`store::requests::notify_finished`]). One listening connection per API
//! instance; waiters register the ids they wait for, so an announcement
//! wakes only them.

use domain::RequestId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use store::requests::FinishedListener;
use store::PgPool;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// This instance's registry of long polls waiting for requests to finish,
/// shared through the state so a worker's announcement wakes only its waiters.
#[derive(Default)]
pub struct Notifier {
    waiters: Mutex<HashMap<Uuid, (Arc<Notify>, usize)>>,
}

/// A registration; dropping it unregisters.
pub struct Waiter<'a> {
    notifier: &'a Notifier,
    id: Uuid,
    pub notify: Arc<Notify>,
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        if let Ok(mut waiters) = self.notifier.waiters.lock() {
            if let Some((_, count)) = waiters.get_mut(&self.id) {
                *count -= 1;
                if *count == 0 {
                    waiters.remove(&self.id);
                }
            }
        }
    }
}

impl Notifier {
    /// Registers a long poll for request `id`, so it is woken when a worker
    /// announces it finished; the poll holds the `Waiter` while it waits.
    pub fn register(&self, id: Uuid) -> Waiter<'_> {
        let notify = match self.waiters.lock() {
            Ok(mut waiters) => {
                let entry = waiters
                    .entry(id)
                    .or_insert_with(|| (Arc::new(Notify::new()), 0));
                entry.1 += 1;
                entry.0.clone()
            }
            Err(_) => Arc::new(Notify::new()),
        };
        Waiter {
            notifier: self,
            id,
            notify,
        }
    }

    fn wake(&self, finished: &[RequestId]) {
        let Ok(waiters) = self.waiters.lock() else {
            return;
        };
        for id in finished {
            if let Some((notify, _)) = waiters.get(&id.0) {
                notify.notify_waiters();
            }
        }
    }

    /// Listens until `shutdown`, reconnecting after errors. Waiters also
    /// re-read on their own now and then, so a notification lost while
    /// reconnecting only delays an answer.
    pub async fn run(self: Arc<Self>, pool: PgPool, shutdown: CancellationToken) {
        while !shutdown.is_cancelled() {
            let mut listener = match FinishedListener::connect(&pool).await {
                Ok(l) => l,
                Err(e) => {
                    tracing::debug!(error = %e, "LISTEN connection failed");
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    }
                }
            };
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    n = listener.recv() => match n {
                        Ok(finished) => self.wake(&finished),
                        Err(e) => {
                            tracing::debug!(error = %e, "LISTEN connection lost");
                            break;
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_notification_wakes_the_waiters_of_its_ids_only() {
        let notifier = Notifier::default();
        let a = Uuid::new_v4();
        let b = Uuid::new_v4();
        let wa = notifier.register(a);
        let wb = notifier.register(b);
        let fa = wa.notify.notified();
        let fb = wb.notify.notified();
        tokio::pin!(fa, fb);
        fa.as_mut().enable();
        fb.as_mut().enable();
        notifier.wake(&[RequestId(a), RequestId(Uuid::new_v4())]);
        assert!(tokio::time::timeout(Duration::from_millis(100), fa)
            .await
            .is_ok());
        assert!(tokio::time::timeout(Duration::from_millis(50), fb)
            .await
            .is_err());
    }

    #[test]
    fn dropping_the_last_waiter_unregisters_its_id() {
        let notifier = Notifier::default();
        let id = Uuid::new_v4();
        let w1 = notifier.register(id);
        let w2 = notifier.register(id);
        drop(w1);
        assert_eq!(notifier.waiters.lock().map(|w| w.len()).unwrap_or(9), 1);
        drop(w2);
        assert_eq!(notifier.waiters.lock().map(|w| w.len()).unwrap_or(9), 0);
    }
}
