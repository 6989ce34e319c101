//! Logging set-up shared by the binary and the tests.

use tracing_subscriber::EnvFilter;

/// Installs a subscriber: JSON lines when `LOG_FORMAT=json`, text otherwise,
/// filtered by `RUST_LOG` (default `info`). A second call is a no-op.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = if std::env::var("LOG_FORMAT").is_ok_and(|f| f == "json") {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
