//! A three-master Redis Cluster of the test process's own, started once (on
//! first use) on private ports: `redis-server --cluster-enabled yes` three
//! times, then `redis-cli --cluster create ... --cluster-yes`, each step with
//! a deadline. Each server runs under a small shell watchdog that stops it
//! when the test process is gone, so no cluster outlives `cargo test`.
//!
//! Ports: `BOXOFFICE_TEST_REDIS_CLUSTER_PORT` (default 18301) and the next
//! two; Redis also uses each port + 10000 for its cluster bus. A cluster left
//! on these ports by a killed run is shut down first.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use boxoffice::config::Settings;

use super::app::{TestApp, spawn_app_with};

const MASTERS: u16 = 3;

/// The seed URLs of the test cluster, starting it on first use.
pub fn cluster_urls() -> Vec<String> {
    static CLUSTER: OnceLock<Vec<String>> = OnceLock::new();
    CLUSTER.get_or_init(start).clone()
}

/// [`spawn_app_with`] on the test cluster instead of the single Redis.
pub async fn spawn_app_on_cluster_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let urls = tokio::task::spawn_blocking(cluster_urls)
        .await
        .expect("start the redis cluster");
    spawn_app_with(move |s| {
        s.redis.cluster_urls = urls;
        adjust(s);
    })
    .await
}

fn base_port() -> u16 {
    std::env::var("BOXOFFICE_TEST_REDIS_CLUSTER_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(18301)
}

fn start() -> Vec<String> {
    let base = base_port();
    let ports: Vec<u16> = (base..base + MASTERS).collect();
    let dir = std::env::temp_dir().join(format!("boxoffice-test-redis-cluster-{base}"));
    for port in &ports {
        let _ = cli(*port, &["shutdown", "nosave"]);
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("cluster directory");
    for port in &ports {
        spawn_server(&dir, *port);
    }
    for port in &ports {
        wait_until(
            Duration::from_secs(10),
            &format!("redis :{port} answers"),
            || cli(*port, &["ping"]).is_some_and(|out| out.contains("PONG")),
        );
    }
    let nodes: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let mut create = Command::new("timeout");
    create
        .args(["30", "redis-cli", "--cluster", "create"])
        .args(&nodes)
        .args(["--cluster-replicas", "0", "--cluster-yes"]);
    let created = create.output().expect("run redis-cli --cluster create");
    assert!(
        created.status.success(),
        "redis-cli --cluster create failed: {}{}",
        String::from_utf8_lossy(&created.stdout),
        String::from_utf8_lossy(&created.stderr)
    );
    for port in &ports {
        wait_until(
            Duration::from_secs(20),
            &format!("redis :{port} sees the cluster ok"),
            || cli(*port, &["cluster", "info"]).is_some_and(|i| i.contains("cluster_state:ok")),
        );
    }
    ports
        .iter()
        .map(|p| format!("redis://127.0.0.1:{p}/"))
        .collect()
}

/// A cluster-enabled server under a watchdog that stops it when this
/// process ends. The watchdog runs for the whole test process on purpose:
/// nothing waits for it.
#[allow(clippy::zombie_processes)]
fn spawn_server(dir: &Path, port: u16) {
    let me = std::process::id();
    let conf = dir.join(format!("nodes-{port}.conf"));
    let log: PathBuf = dir.join(format!("redis-{port}.log"));
    let script = format!(
        "redis-server --port {port} --bind 127.0.0.1 --cluster-enabled yes \
         --cluster-config-file {conf} --cluster-node-timeout 2000 --dir {dir} \
         --save '' --appendonly no --logfile {log} & r=$!; \
         while kill -0 {me} 2>/dev/null && kill -0 $r 2>/dev/null; do sleep 1; done; \
         kill $r 2>/dev/null",
        conf = conf.display(),
        dir = dir.display(),
        log = log.display(),
    );
    Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start redis-server");
}

/// `redis-cli -p port args...`'s output, within 5 s.
fn cli(port: u16, args: &[&str]) -> Option<String> {
    let out = Command::new("timeout")
        .args(["5", "redis-cli", "-p", &port.to_string()])
        .args(args)
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn wait_until(within: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Every master's keys of this test (what lives where), by port.
pub fn keys_by_master(prefix: &str) -> Vec<(u16, Vec<String>)> {
    let base = base_port();
    (base..base + MASTERS)
        .map(|port| {
            let keys = cli(port, &["--raw", "keys", &format!("{prefix}*")])
                .unwrap_or_default()
                .lines()
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect();
            (port, keys)
        })
        .collect()
}

/// How many subscribers `channel` has on its shard (sharded pub/sub), summed
/// over the masters.
pub fn sharded_subscribers(channel: &str) -> u64 {
    let base = base_port();
    (base..base + MASTERS)
        .filter_map(|port| cli(port, &["--raw", "pubsub", "shardnumsub", channel]))
        .filter_map(|out| {
            out.lines()
                .nth(1)
                .and_then(|n| n.trim().parse::<u64>().ok())
        })
        .sum()
}
