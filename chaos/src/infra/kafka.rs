//! The run's private Apache Kafka cluster: three KRaft nodes on loopback,
//! each a combined broker and controller, run from the jars that
//! scripts/common.sh fetches (`ensure_kafka_libs`). Internal topics are
//! replicated three times and `min.insync.replicas` is 2, so one node may be
//! `kill -9`ed at a time without losing an acknowledged write or refusing
//! one. The harness reads the cluster's metadata itself (through rdkafka) to
//! choose partition leaders and the workers' group coordinator as victims
//! and to know when a restarted node has caught up.

use super::{append, die_with_parent, free_ports, lock, tcp_open};
use anyhow::{bail, Context};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::process::{Child, Command};
use tokio::time::Instant;

/// `offsets.topic.num.partitions`: fewer than Kafka's 50, so the offsets
/// topic is created and re-led quickly on a small machine. The workers'
/// group coordinator is the leader of partition [`coordinator_partition`].
pub const OFFSETS_PARTITIONS: i32 = 10;
/// Kafka's internal topic of committed offsets (and group state).
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";
/// Each node's JVM: a 512 MiB heap fits three nodes next to the rest of the
/// stack on a 2-core 24 GiB machine. C1 only: a node starts in about half
/// the CPU time, and this load never needs C2's code.
const JVM_FLAGS: &[&str] = &[
    "-Xms512m",
    "-Xmx512m",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:TieredStopAtLevel=1",
    "-XX:+ExitOnOutOfMemoryError",
    "-XX:-UsePerfData",
    "-Djava.awt.headless=true",
];

/// `$KAFKA_LIBS`, else `<repo>/.local/kafka/libs` (where scripts/common.sh
/// puts the broker's jars); an error saying how to fetch them if missing.
pub fn find_kafka_libs() -> anyhow::Result<PathBuf> {
    let dir = match std::env::var_os("KAFKA_LIBS").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(".local/kafka/libs"),
    };
    let has_server = std::fs::read_dir(&dir)
        .map(|entries| {
            entries.filter_map(Result::ok).any(|e| {
                let name = e.file_name();
                let name = name.to_string_lossy();
                name.starts_with("kafka_") && name.ends_with(".jar")
            })
        })
        .unwrap_or(false);
    if !has_server {
        bail!(
            "Apache Kafka's jars are not in {} (KAFKA_LIBS, default <repo>/.local/kafka/libs): \
             run scripts/test once, or `source scripts/common.sh; ensure_kafka_libs`",
            dir.display()
        );
    }
    Ok(dir)
}

/// `$JAVA_HOME/bin/java`, else `java` on PATH.
fn find_java() -> anyhow::Result<PathBuf> {
    if let Some(home) = std::env::var_os("JAVA_HOME").filter(|v| !v.is_empty()) {
        let java = PathBuf::from(home).join("bin/java");
        if java.is_file() {
            return Ok(java);
        }
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join("java"))
        .find(|java| java.is_file())
        .context("java not found (JAVA_HOME, PATH): install a JRE 17+ (scripts/test does)")
}

/// A Kafka cluster id: 16 random bytes in URL-safe base64 without padding,
/// as `kafka-storage random-uuid` prints (saves a JVM start).
fn cluster_id() -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    loop {
        let bytes = *uuid::Uuid::new_v4().as_bytes();
        let mut bits = 0u32;
        let mut n = 0;
        let mut out = String::with_capacity(22);
        for b in bytes {
            bits = (bits << 8) | u32::from(b);
            n += 8;
            while n >= 6 {
                n -= 6;
                out.push(char::from(ALPHABET[((bits >> n) & 63) as usize]));
            }
        }
        if n > 0 {
            out.push(char::from(ALPHABET[((bits << (6 - n)) & 63) as usize]));
        }
        // Kafka refuses ids that start with '-' (they read as options).
        if !out.starts_with('-') {
            return out;
        }
    }
}

/// The `__consumer_offsets` partition whose leader coordinates consumer
/// group `group`: Kafka's `Utils.abs(group.hashCode()) % partitions`.
pub fn coordinator_partition(group: &str) -> i32 {
    let hash = group
        .encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)));
    let abs = if hash == i32::MIN { 0 } else { hash.abs() };
    abs % OFFSETS_PARTITIONS
}

/// One partition as the cluster's metadata shows it.
#[derive(Debug, Clone)]
pub struct PartitionView {
    /// Its topic.
    pub topic: String,
    /// Its number.
    pub partition: i32,
    /// The node that leads it, `-1` while there is none.
    pub leader: i32,
    /// The nodes that hold a replica.
    pub replicas: Vec<i32>,
    /// The replicas in sync with the leader.
    pub isr: Vec<i32>,
}

/// What the cluster's metadata says: the brokers that are registered and
/// not fenced, and the partitions of every topic.
#[derive(Debug, Clone, Default)]
pub struct BrokerView {
    /// Ids of the brokers in the metadata.
    pub brokers: Vec<i32>,
    /// Every partition of every topic, internal ones included.
    pub partitions: Vec<PartitionView>,
}

impl BrokerView {
    /// The partitions of `topic`.
    pub fn topic(&self, topic: &str) -> Vec<&PartitionView> {
        self.partitions
            .iter()
            .filter(|p| p.topic == topic)
            .collect()
    }

    /// Why `topics` are not fully replicated yet (a missing broker, a
    /// partition without a leader or with a replica out of sync), or `None`
    /// when another node may be killed safely.
    pub fn unhealed(&self, nodes: usize, topics: &[&str]) -> Option<String> {
        if self.brokers.len() < nodes {
            return Some(format!("brokers {:?} in the metadata", self.brokers));
        }
        for topic in topics {
            let parts = self.topic(topic);
            if parts.is_empty() {
                return Some(format!("no metadata for {topic}"));
            }
            if let Some(p) = parts
                .iter()
                .find(|p| p.leader < 0 || p.isr.len() < p.replicas.len())
            {
                return Some(format!(
                    "{}-{}: leader {}, replicas {:?}, in sync {:?}",
                    p.topic, p.partition, p.leader, p.replicas, p.isr
                ));
            }
        }
        None
    }
}

struct Node {
    id: u32,
    port: u16,
    dir: PathBuf,
    log: PathBuf,
    child: Mutex<Option<Child>>,
}

/// The cluster: node processes, their config and data in the run's temp dir,
/// and a metadata client.
pub struct Kafka {
    libs: PathBuf,
    java: PathBuf,
    log4j: PathBuf,
    cluster_id: String,
    nodes: Vec<Node>,
    client: Mutex<Option<Arc<BaseConsumer>>>,
}

impl Kafka {
    /// Writes the config of `nodes` nodes (ids `1..=nodes`) under `dir`, on
    /// free loopback ports; nothing is started or formatted yet.
    pub fn new(dir: &Path, nodes: usize) -> anyhow::Result<Self> {
        let libs = find_kafka_libs()?;
        let java = find_java()?;
        let ports = free_ports(2 * nodes)?;
        let voters = (0..nodes)
            .map(|i| format!("{}@127.0.0.1:{}", i + 1, ports[nodes + i]))
            .collect::<Vec<_>>()
            .join(",");
        let log4j = dir.join("kafka-log4j2.properties");
        std::fs::write(&log4j, LOG4J).context("writing the Kafka log config")?;
        let mut list = Vec::new();
        for i in 0..nodes {
            let id = i as u32 + 1;
            let node_dir = dir.join(format!("kafka-{id}"));
            std::fs::create_dir_all(node_dir.join("data"))?;
            let (port, cport) = (ports[i], ports[nodes + i]);
            let config = server_properties(id, port, cport, &voters, nodes, &node_dir);
            std::fs::write(node_dir.join("server.properties"), config)
                .with_context(|| format!("writing the config of Kafka node {id}"))?;
            list.push(Node {
                id,
                port,
                log: dir.join(format!("kafka-{id}.log")),
                dir: node_dir,
                child: Mutex::new(None),
            });
        }
        Ok(Self {
            libs,
            java,
            log4j,
            cluster_id: cluster_id(),
            nodes: list,
            client: Mutex::new(None),
        })
    }

    /// `KAFKA_BROKERS` for the api and workers: every node, comma-separated.
    pub fn bootstrap(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// How many nodes the cluster has.
    pub fn size(&self) -> usize {
        self.nodes.len()
    }

    fn node(&self, id: u32) -> anyhow::Result<&Node> {
        self.nodes
            .iter()
            .find(|n| n.id == id)
            .with_context(|| format!("no Kafka node {id}"))
    }

    fn java(&self, node: &Node) -> anyhow::Result<Command> {
        let mut cmd = Command::new(&self.java);
        cmd.arg("-cp")
            .arg(format!("{}/*", self.libs.display()))
            .arg(format!(
                "-Dlog4j2.configurationFile={}",
                self.log4j.display()
            ))
            .stdin(Stdio::null())
            .stdout(append(&node.log)?)
            .stderr(append(&node.log)?)
            .kill_on_drop(true);
        die_with_parent(&mut cmd);
        Ok(cmd)
    }

    /// Formats every node's storage with the cluster's id (`kafka-storage
    /// format`), the nodes in parallel.
    pub async fn format(&self) -> anyhow::Result<()> {
        let runs = self.nodes.iter().map(|node| async move {
            let mut cmd = self.java(node)?;
            cmd.args([
                "kafka.tools.StorageTool",
                "format",
                "-t",
                &self.cluster_id,
                "-c",
            ])
            .arg(node.dir.join("server.properties"));
            let status = tokio::time::timeout(Duration::from_secs(120), cmd.status())
                .await
                .with_context(|| format!("formatting Kafka node {}: timed out", node.id))?
                .with_context(|| format!("formatting Kafka node {}", node.id))?;
            if !status.success() {
                bail!(
                    "formatting Kafka node {} failed ({status}); see {}",
                    node.id,
                    node.log.display()
                );
            }
            Ok(())
        });
        for result in futures::future::join_all(runs).await {
            result?;
        }
        Ok(())
    }

    fn spawn(&self, node: &Node) -> anyhow::Result<()> {
        let mut cmd = self.java(node)?;
        cmd.args(JVM_FLAGS)
            .arg("kafka.Kafka")
            .arg(node.dir.join("server.properties"));
        let child = cmd
            .spawn()
            .with_context(|| format!("starting Kafka node {}", node.id))?;
        *lock(&node.child) = Some(child);
        Ok(())
    }

    /// Waits until `node` accepts connections on its broker port, which a
    /// KRaft broker opens only once it is registered and unfenced.
    async fn wait_listening(&self, node: &Node, limit: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if tcp_open(node.port).await {
                return Ok(());
            }
            let exited = lock(&node.child)
                .as_mut()
                .map(|c| c.try_wait().ok().flatten().is_some())
                .unwrap_or(true);
            if exited {
                bail!(
                    "Kafka node {} exited at start; see {}",
                    node.id,
                    node.log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!(
            "Kafka node {} did not listen on 127.0.0.1:{} within {}s; see {}",
            node.id,
            node.port,
            limit.as_secs(),
            node.log.display()
        )
    }

    /// Starts every node and waits until all listen and the metadata lists
    /// every broker.
    pub async fn start_all(&self) -> anyhow::Result<()> {
        for node in &self.nodes {
            self.spawn(node)?;
        }
        for node in &self.nodes {
            self.wait_listening(node, Duration::from_secs(150)).await?;
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match self.metadata().await {
                Ok(view) if view.brokers.len() == self.nodes.len() => return Ok(()),
                Ok(view) if Instant::now() > deadline => {
                    bail!("Kafka's metadata lists brokers {:?} only", view.brokers)
                }
                Err(e) if Instant::now() > deadline => return Err(e),
                _ => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }

    /// Starts node `id` again (after [`Kafka::kill`]) and waits until it
    /// listens; returns how long that took.
    pub async fn start(&self, id: u32) -> anyhow::Result<Duration> {
        let node = self.node(id)?;
        let started = Instant::now();
        self.spawn(node)?;
        self.wait_listening(node, Duration::from_secs(90)).await?;
        Ok(started.elapsed())
    }

    /// `kill -9` of node `id`, waiting until it is gone.
    pub async fn kill(&self, id: u32) -> anyhow::Result<()> {
        let node = self.node(id)?;
        let child = lock(&node.child).take();
        let Some(mut child) = child else {
            bail!("Kafka node {id} is not running");
        };
        child.start_kill().context("kill -9 of a Kafka node")?;
        let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
        Ok(())
    }

    /// Nodes that exited although the harness did not kill them, with how;
    /// each is reported once.
    pub fn exited(&self) -> Vec<String> {
        let mut out = Vec::new();
        for node in &self.nodes {
            let mut child = lock(&node.child);
            let status = child.as_mut().and_then(|c| c.try_wait().ok().flatten());
            if let Some(status) = status {
                *child = None;
                out.push(format!(
                    "Kafka node {} exited by itself ({status}); see {}",
                    node.id,
                    node.log.display()
                ));
            }
        }
        out
    }

    /// SIGKILL to every node, for the shutdown.
    pub fn kill_now(&self) {
        for node in &self.nodes {
            if let Some(mut child) = lock(&node.child).take() {
                let _ = child.start_kill();
            }
        }
    }

    /// `(name, log file)` per node, for failure reports.
    pub fn logs(&self) -> Vec<(String, PathBuf)> {
        self.nodes
            .iter()
            .map(|n| (format!("kafka-{}", n.id), n.log.clone()))
            .collect()
    }

    fn client(&self) -> anyhow::Result<Arc<BaseConsumer>> {
        let mut client = lock(&self.client);
        if let Some(c) = client.as_ref() {
            return Ok(c.clone());
        }
        let created: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", self.bootstrap())
            .set("socket.timeout.ms", "3000")
            .set("reconnect.backoff.max.ms", "500")
            .create()
            .context("creating the harness's Kafka metadata client")?;
        let created = Arc::new(created);
        *client = Some(created.clone());
        Ok(created)
    }

    /// The cluster's metadata, as one broker answers it now.
    pub async fn metadata(&self) -> anyhow::Result<BrokerView> {
        let client = self.client()?;
        tokio::task::spawn_blocking(move || {
            let md = client
                .fetch_metadata(None, Duration::from_secs(5))
                .context("fetching Kafka metadata")?;
            let mut view = BrokerView {
                brokers: md.brokers().iter().map(|b| b.id()).collect(),
                partitions: Vec::new(),
            };
            view.brokers.sort_unstable();
            for topic in md.topics() {
                for p in topic.partitions() {
                    view.partitions.push(PartitionView {
                        topic: topic.name().to_owned(),
                        partition: p.id(),
                        leader: p.leader(),
                        replicas: p.replicas().to_vec(),
                        isr: p.isr().to_vec(),
                    });
                }
            }
            Ok(view)
        })
        .await
        .context("the metadata task panicked")?
    }

    /// Waits until every node is in the metadata and every partition of
    /// `topics` has a leader and all its replicas in sync; returns how long
    /// that took, or the last reason it was not so after `limit`.
    pub async fn wait_healed(&self, topics: &[&str], limit: Duration) -> Result<Duration, String> {
        let started = Instant::now();
        loop {
            let why = match self.metadata().await {
                Ok(view) => match view.unhealed(self.nodes.len(), topics) {
                    None => return Ok(started.elapsed()),
                    Some(why) => why,
                },
                Err(e) => format!("{e:#}"),
            };
            if started.elapsed() > limit {
                return Err(why);
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// One node's `server.properties`.
fn server_properties(
    id: u32,
    port: u16,
    cport: u16,
    voters: &str,
    nodes: usize,
    dir: &Path,
) -> String {
    let rf = nodes.min(3);
    let min_isr = rf.saturating_sub(1).max(1);
    format!(
        "# Written by the chaos harness for one run.
process.roles=broker,controller
node.id={id}
controller.quorum.voters={voters}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs={data}
auto.create.topics.enable=false
group.initial.rebalance.delay.ms=0
# As scripts/common.sh: the KIP-848 group's session timeout and heartbeat.
group.consumer.session.timeout.ms=10000
group.consumer.min.session.timeout.ms=6000
group.consumer.heartbeat.interval.ms=1000
group.consumer.min.heartbeat.interval.ms=1000
default.replication.factor={rf}
min.insync.replicas={min_isr}
offsets.topic.replication.factor={rf}
offsets.topic.num.partitions={OFFSETS_PARTITIONS}
transaction.state.log.replication.factor={rf}
transaction.state.log.min.isr={min_isr}
transaction.state.log.num.partitions={OFFSETS_PARTITIONS}
share.coordinator.state.topic.replication.factor={rf}
share.coordinator.state.topic.min.isr={min_isr}
# A killed node is fenced (its partitions led elsewhere) after 5 s instead
# of 9, and its restart can register again that much sooner.
broker.heartbeat.interval.ms=1000
broker.session.timeout.ms=5000
# Leadership goes back to a restarted node within the run: one more move
# for producers and consumers to follow.
leader.imbalance.check.interval.seconds=20
num.network.threads=2
num.io.threads=4
log.segment.bytes=16777216
",
        data = dir.join("data").display(),
    )
}

/// The brokers' logging, shared with scripts/common.sh: warnings and
/// errors only, plus the "started" line.
const LOG4J: &str = include_str!("../../../kafka/log4j2.properties");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_ids_look_like_kafkas() {
        for _ in 0..100 {
            let id = cluster_id();
            assert_eq!(id.len(), 22, "{id}");
            assert!(!id.starts_with('-'));
            assert!(id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        }
    }

    #[test]
    fn coordinator_partition_follows_javas_string_hash() {
        // Java: "hello".hashCode() == 99162322, "a".hashCode() == 97.
        assert_eq!(
            coordinator_partition("hello"),
            99_162_322 % OFFSETS_PARTITIONS
        );
        assert_eq!(coordinator_partition("a"), 97 % OFFSETS_PARTITIONS);
        // Negative hashes count by their absolute value.
        let h = "chaos.workers"
            .bytes()
            .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)));
        assert_eq!(
            coordinator_partition("chaos.workers"),
            h.abs() % OFFSETS_PARTITIONS
        );
    }
}
