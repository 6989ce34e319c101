use anyhow::Context;
use api::Application;
use domain::config::Settings;
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    telemetry::init();
    let settings = Settings::from_env()?;
    let listener = tokio::net::TcpListener::bind(settings.http_addr)
        .await
        .with_context(|| format!("binding HTTP_ADDR {}", settings.http_addr))?;
    let app = Application::build(settings, listener).await?;
    tracing::info!(addr = %app.local_addr()?, "api listening");
    let shutdown = CancellationToken::new();
    tokio::spawn(cancel_on_signal(shutdown.clone()));
    app.run_until_stopped(shutdown).await
}

async fn cancel_on_signal(token: CancellationToken) {
    telemetry::terminated().await;
    tracing::info!("shutting down");
    token.cancel();
}
