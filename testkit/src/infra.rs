//! Where Postgres and Kafka are, and the settings of one test. Each test
//! gets its own database and topic prefix, so tests run in parallel without
//! seeing each other.

use domain::config::Settings;
use std::collections::HashMap;
use std::sync::OnceLock;
use tokio::sync::OnceCell;
use uuid::Uuid;

/// The token secret of every test stack, so a test can sign or check a
/// token the way its API does.
pub const TEST_SECRET: &str = "test-secret-0123456789abcdef0123456789";

/// The `apache/kafka` image tag: the version in kafka/pom.xml.
pub const KAFKA_IMAGE_TAG: &str = "4.1.1";

/// Where Postgres and Kafka are: from the environment (set by
/// `scripts/test`), or containers started once per test binary when Docker is
/// there instead.
struct Infra {
    database_url: String,
    kafka_brokers: String,
}

static INFRA: OnceCell<Infra> = OnceCell::const_new();
static CONTAINERS: OnceLock<Vec<Box<dyn std::any::Any + Send + Sync>>> = OnceLock::new();

async fn infra() -> &'static Infra {
    INFRA
        .get_or_init(|| async {
            if let (Ok(database_url), Ok(kafka_brokers)) = (
                std::env::var("DATABASE_URL"),
                std::env::var("KAFKA_BROKERS"),
            ) {
                return Infra {
                    database_url,
                    kafka_brokers,
                };
            }
            start_containers().await
        })
        .await
}

async fn start_containers() -> Infra {
    use testcontainers_modules::kafka::apache;
    use testcontainers_modules::postgres::Postgres;
    use testcontainers_modules::testcontainers::runners::AsyncRunner;
    use testcontainers_modules::testcontainers::ImageExt;
    let docker = std::process::Command::new("docker")
        .arg("info")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        docker,
        "set DATABASE_URL and KAFKA_BROKERS (scripts/test does) or run a Docker engine"
    );
    let pg = Postgres::default()
        .with_host_auth()
        .start()
        .await
        .unwrap_or_else(|e| panic!("starting Postgres: {e}"));
    // The JVM image of the Kafka version scripts/ and docker-compose.yml run
    // (kafka/pom.xml), not the module's default 3.8 native image.
    let kafka = apache::Kafka::default()
        .with_jvm_image()
        .with_tag(KAFKA_IMAGE_TAG)
        // The workers' KIP-848 group, as scripts/common.sh configures it.
        .with_env_var("KAFKA_GROUP_CONSUMER_SESSION_TIMEOUT_MS", "10000")
        .with_env_var("KAFKA_GROUP_CONSUMER_MIN_SESSION_TIMEOUT_MS", "6000")
        .with_env_var("KAFKA_GROUP_CONSUMER_HEARTBEAT_INTERVAL_MS", "1000")
        .with_env_var("KAFKA_GROUP_CONSUMER_MIN_HEARTBEAT_INTERVAL_MS", "1000")
        .start()
        .await
        .unwrap_or_else(|e| panic!("starting Kafka: {e}"));
    let pg_port = pg
        .get_host_port_ipv4(5432)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let kafka_port = kafka
        .get_host_port_ipv4(apache::KAFKA_PORT)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let _ = CONTAINERS.set(vec![Box::new(pg), Box::new(kafka)]);
    Infra {
        database_url: format!("postgres://postgres@127.0.0.1:{pg_port}/postgres"),
        kafka_brokers: format!("127.0.0.1:{kafka_port}"),
    }
}

/// Settings for a fresh database and topic prefix, with `overrides` applied:
/// what one test's stack runs with.
pub async fn test_settings(overrides: &[(&str, &str)]) -> Settings {
    let infra = infra().await;
    let id = Uuid::new_v4().simple().to_string();
    let base = infra
        .database_url
        .rsplit_once('/')
        .map(|(server, _)| server.to_owned())
        .unwrap_or_else(|| infra.database_url.clone());
    let mut env: HashMap<String, String> = [
        ("DATABASE_URL", format!("{base}/test_{id}")),
        ("KAFKA_BROKERS", infra.kafka_brokers.clone()),
        ("KAFKA_TOPIC_PREFIX", format!("test.{id}.")),
        ("TOKEN_SECRET", TEST_SECRET.to_owned()),
        ("HTTP_ADDR", "127.0.0.1:0".to_owned()),
        ("WORKER_METRICS_ADDR", "127.0.0.1:0".to_owned()),
        ("SEAT_COMMAND_PARTITIONS", "4".to_owned()),
        ("DATABASE_POOL_SIZE", "4".to_owned()),
        // Tests drive many users from 127.0.0.1; the limit has tests of
        // its own, which turn it on.
        ("RATE_LIMIT_PER_IP_PER_MINUTE", "0".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    for (k, v) in overrides {
        env.insert((*k).to_owned(), (*v).to_owned());
    }
    Settings::from_lookup(|k| env.get(k).cloned()).unwrap_or_else(|e| panic!("{e}"))
}

#[cfg(test)]
mod tests {
    //! The set-up files agree on the Kafka version: the jars scripts/ fetch
    //! (kafka/pom.xml), the compose file's image and the testcontainers image.

    use super::KAFKA_IMAGE_TAG;

    fn repo_file(path: &str) -> String {
        let full = format!("{}/../{path}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("reading {full}: {e}"))
    }

    #[test]
    fn compose_and_testcontainers_run_the_kafka_version_the_scripts_fetch() {
        let pom = repo_file("kafka/pom.xml");
        let version = pom
            .split_once("<kafka.version>")
            .and_then(|(_, rest)| rest.split_once("</kafka.version>"))
            .map(|(v, _)| v.trim())
            .unwrap_or_else(|| panic!("no <kafka.version> in kafka/pom.xml"));
        assert_eq!(KAFKA_IMAGE_TAG, version, "testkit/src/infra.rs");
        let compose = repo_file("docker-compose.yml");
        assert!(
            compose.contains(&format!("image: apache/kafka:{version}")),
            "docker-compose.yml does not run apache/kafka:{version}"
        );
    }
}
