//! The set-up files agree on the Kafka version: the jars scripts/ fetch
//! (kafka/pom.xml), the compose file's image and the testcontainers image.

use crate::helpers::KAFKA_IMAGE_TAG;

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
    assert_eq!(KAFKA_IMAGE_TAG, version, "api/tests/api/helpers.rs");
    let compose = repo_file("docker-compose.yml");
    assert!(
        compose.contains(&format!("image: apache/kafka:{version}")),
        "docker-compose.yml does not run apache/kafka:{version}"
    );
}
