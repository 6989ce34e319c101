use anyhow::Context;
use domain::config::Settings;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use workers::{kafka, Worker};

const USAGE: &str = "usage: workers [run | migrate | seed | replay]
  run      consume commands and run the background jobs (default)
  migrate  create the database if missing, apply migrations, create topics
  seed     add demo concerts to an empty database
  replay   re-apply the command topic from its beginning (changes no state)";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    telemetry::init();
    let command = std::env::args().nth(1).unwrap_or_else(|| "run".into());
    let settings = Settings::from_env()?;
    let shutdown = CancellationToken::new();
    tokio::spawn(cancel_on_signal(shutdown.clone()));
    match command.as_str() {
        "run" => {
            store::migrate(&store::connect(&settings, 1, Duration::from_secs(5))?)
                .await
                .context("the database is not migrated; run `workers migrate`")?;
            let worker = Worker::build(settings).await?;
            tracing::info!(metrics = %worker.metrics_addr()?, "worker started");
            worker.run_until_stopped(shutdown).await
        }
        "migrate" => {
            store::create_and_migrate(&settings).await?;
            kafka::ensure_topics(&settings).await?;
            tracing::info!("database migrated and topics created");
            Ok(())
        }
        "seed" => {
            let pool = store::connect(&settings, 1, Duration::from_secs(5))?;
            let seeded = store::catalog::seed_demo_if_empty(&pool).await?;
            tracing::info!(seeded, "seed done");
            Ok(())
        }
        "replay" => {
            let replayed = workers::startup::replay(settings, shutdown).await?;
            tracing::info!(replayed, "replay done");
            Ok(())
        }
        _ => anyhow::bail!("{USAGE}"),
    }
}

/// Cancels `token` on Ctrl-C or SIGTERM.
async fn cancel_on_signal(token: CancellationToken) {
    telemetry::terminated().await;
    tracing::info!("shutting down");
    token.cancel();
}
