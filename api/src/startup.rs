//! Building and running the API; the binary and the tests share this.

use crate::auth::token::TokenKey;
use crate::batch::{entry_reader, request_recorder};
use crate::http::rate_limit::RateLimits;
use crate::http::serve::serve;
use crate::notifier::Notifier;
use crate::publisher::Publisher;
use crate::routes::router;
use crate::state::AppState;
use crate::waiting_line::WaitingLine;
use domain::config::Settings;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// A built but not yet serving API, so the binary and the tests can bind, read
/// the address, then run it the same way.
pub struct Application {
    listener: TcpListener,
    state: AppState,
}

impl Application {
    /// Prepares the API on `listener` (bind port 0 in tests).
    pub async fn build(settings: Settings, listener: TcpListener) -> anyhow::Result<Self> {
        // A request waits at most 3 s for a connection, then gets a 503.
        let pool = store::connect(
            &settings,
            settings.database_pool_size,
            Duration::from_secs(3),
        )?;
        let publisher = Publisher::new(&settings)?;
        let idle = Duration::from_secs(u64::from(settings.queue_idle_timeout_seconds));
        let state = AppState {
            pool: pool.clone(),
            publisher,
            tokens: TokenKey::new(settings.token_secret.clone()),
            settings: Arc::new(settings.clone()),
            notifier: Arc::default(),
            line: Arc::new(WaitingLine::new(idle)),
            performances: Arc::default(),
            entries: Arc::new(entry_reader(pool.clone())),
            recorder: Arc::new(request_recorder(pool.clone())),
            arrivals: Arc::new(crate::arrivals::arrivals(pool.clone(), settings.clone())),
            limits: Arc::new(RateLimits::new(
                settings.rate_limit_per_ip_per_minute,
                settings.trusted_proxies.clone(),
            )),
        };
        Ok(Self { listener, state })
    }

    /// The address actually bound, so a test that bound port 0 knows where to
    /// send requests (and the binary can log it).
    pub fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    /// Serves until `shutdown`, then stops taking requests, lets those under
    /// way finish and flushes the producer.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let state = self.state;
        let background = CancellationToken::new();
        tokio::spawn(Notifier::run(
            state.notifier.clone(),
            state.pool.clone(),
            background.clone(),
        ));
        tokio::spawn(WaitingLine::run(
            state.line.clone(),
            state.pool.clone(),
            background.clone(),
        ));
        tokio::spawn(forget_idle_clients(
            state.limits.clone(),
            background.clone(),
        ));
        let publisher = state.publisher.clone();
        serve(self.listener, router(state), shutdown).await;
        background.cancel();
        publisher.flush();
        Ok(())
    }
}

/// Every minute, drops the rate-limit state of addresses that are quiet.
async fn forget_idle_clients(limits: Arc<RateLimits>, stop: CancellationToken) {
    let mut every = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = every.tick() => limits.forget_idle(),
        }
    }
}
