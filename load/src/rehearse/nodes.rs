//! Processes the rehearsal starts itself: local boxoffice nodes and a
//! private Redis, which the chaos schedule may kill and start again.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, Command};

pub fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// SIGTERM, then SIGKILL if the process is still there after `grace`.
async fn terminate(child: &mut Child, grace: Duration) {
    if let Some(pid) = child.id() {
        let _ = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await;
    }
    if tokio::time::timeout(grace, child.wait()).await.is_err() {
        let _ = child.start_kill();
        let _ = child.wait().await;
    }
}

pub struct Node {
    pub url: String,
    port: u16,
    child: Option<Child>,
}

/// Local nodes of `boxoffice serve`, all on the same PostgreSQL and Redis.
pub struct Cluster {
    bin: PathBuf,
    env: Vec<(String, String)>,
    dir: PathBuf,
    pub nodes: Vec<Node>,
    pub admin_email: String,
    pub admin_password: String,
}

impl Cluster {
    /// Migrates the database, creates an operator, starts `n` nodes on free
    /// ports and waits until each answers /readyz.
    pub async fn start(
        bin: &Path,
        n: usize,
        mut env: Vec<(String, String)>,
        dir: &Path,
    ) -> anyhow::Result<Cluster> {
        anyhow::ensure!(
            bin.exists(),
            "{} not found: build it first (cargo build --bin boxoffice)",
            bin.display()
        );
        env.extend([
            ("BOXOFFICE_ENV".to_owned(), "development".to_owned()),
            ("BOXOFFICE__LIMITS__ENABLED".to_owned(), "false".to_owned()),
            ("BOXOFFICE__SERVER__HOST".to_owned(), "127.0.0.1".to_owned()),
            // Fans reach these nodes directly, no proxy: no lingering on stop.
            (
                "BOXOFFICE__SERVER__LINGER_SECONDS".to_owned(),
                "0".to_owned(),
            ),
            ("RUST_LOG".to_owned(), "warn".to_owned()),
        ]);
        let stamp = chrono::Utc::now().format("%Y%m%d%H%M%S%3f");
        let mut cluster = Cluster {
            bin: bin.to_owned(),
            env,
            dir: dir.to_owned(),
            nodes: Vec::new(),
            admin_email: format!("rehearsal-{stamp}@example.com"),
            admin_password: format!("rehearsal-{}", rand::random::<u64>()),
        };
        cluster.once(&["migrate"], None).await?;
        let email = cluster.admin_email.clone();
        let password = cluster.admin_password.clone();
        cluster
            .once(
                &["admin", "create", "--email", &email, "--password-stdin"],
                Some(&password),
            )
            .await?;
        for _ in 0..n {
            let port = free_port()?;
            cluster.nodes.push(Node {
                url: format!("http://127.0.0.1:{port}"),
                port,
                child: None,
            });
        }
        for i in 0..n {
            cluster.start_node(i).await?;
        }
        Ok(cluster)
    }

    async fn once(&self, args: &[&str], stdin: Option<&str>) -> anyhow::Result<()> {
        let mut child = Command::new(&self.bin)
            .process_group(0)
            .args(args)
            .envs(self.env.iter().cloned())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", self.bin.display()))?;
        if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(format!("{text}\n").as_bytes()).await?;
        }
        let output = child.wait_with_output().await?;
        if !output.status.success() {
            bail!(
                "boxoffice {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(())
    }

    /// (Re)starts node `i` on its port and waits for /readyz.
    pub async fn start_node(&mut self, i: usize) -> anyhow::Result<()> {
        let node = &mut self.nodes[i];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(format!("node{}.log", i + 1)))?;
        // Its own process group: Ctrl-C in the terminal reaches the tool,
        // which stops the nodes itself after the checker has run.
        let child = Command::new(&self.bin)
            .process_group(0)
            .arg("serve")
            .envs(self.env.iter().cloned())
            .env("BOXOFFICE__SERVER__PORT", node.port.to_string())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", self.bin.display()))?;
        node.child = Some(child);
        let url = format!("{}/readyz", node.url);
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if client
                .get(&url)
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .is_ok_and(|a| a.status().is_success())
            {
                return Ok(());
            }
            if let Some(child) = node.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                bail!("node {} exited at start ({status}); see its log", i + 1);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("node {} not ready within 60 s", i + 1)
    }

    /// `kill -9` node `i`.
    pub async fn kill(&mut self, i: usize) -> anyhow::Result<()> {
        if let Some(mut child) = self.nodes[i].child.take() {
            child.start_kill()?;
            child.wait().await?;
        }
        Ok(())
    }

    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.url.clone()).collect()
    }

    pub async fn stop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                terminate(&mut child, Duration::from_secs(10)).await;
            }
        }
    }
}

/// The Redis the chaos schedule may stop: one the tool started, one an
/// operator's command controls, or none (the shared one is never touched).
pub enum RedisCtl {
    None,
    Command(String),
    Owned {
        port: u16,
        dir: PathBuf,
        child: Option<Child>,
    },
}

impl RedisCtl {
    pub fn controllable(&self) -> bool {
        !matches!(self, RedisCtl::None)
    }

    /// A private redis-server on a free port, saving to `dir` on shutdown so
    /// a stop/start keeps the waiting room (like a real restart).
    pub async fn spawn(dir: &Path) -> anyhow::Result<RedisCtl> {
        let dir = dir.join("redis");
        // A fresh Redis: nothing from an earlier rehearsal in this folder.
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let mut ctl = RedisCtl::Owned {
            port: free_port()?,
            dir,
            child: None,
        };
        ctl.start().await?;
        Ok(ctl)
    }

    pub fn url(&self) -> Option<String> {
        match self {
            RedisCtl::Owned { port, .. } => Some(format!("redis://127.0.0.1:{port}/")),
            _ => None,
        }
    }

    pub async fn stop(&mut self) -> anyhow::Result<()> {
        match self {
            RedisCtl::None => bail!("no Redis the tool may stop"),
            RedisCtl::Command(cmd) => shell(&format!("{cmd} stop")).await,
            RedisCtl::Owned { child, .. } => {
                if let Some(mut c) = child.take() {
                    terminate(&mut c, Duration::from_secs(10)).await;
                }
                Ok(())
            }
        }
    }

    pub async fn start(&mut self) -> anyhow::Result<()> {
        match self {
            RedisCtl::None => bail!("no Redis the tool may start"),
            RedisCtl::Command(cmd) => shell(&format!("{cmd} start")).await,
            RedisCtl::Owned { port, dir, child } => {
                let spawned = Command::new("redis-server")
                    .process_group(0)
                    .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                    .args(["--save", "3600 1", "--appendonly", "no"])
                    .arg("--dir")
                    .arg(&*dir)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .kill_on_drop(true)
                    .spawn()
                    .context("starting redis-server")?;
                *child = Some(spawned);
                let deadline = Instant::now() + Duration::from_secs(20);
                while Instant::now() < deadline {
                    if ping(*port).await {
                        return Ok(());
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                bail!("redis-server on port {port} did not answer PING")
            }
        }
    }

    /// At the end: a Redis the tool started goes away; others are left as found.
    pub async fn shutdown(&mut self) {
        if let RedisCtl::Owned { child: Some(c), .. } = self {
            terminate(c, Duration::from_secs(10)).await;
        }
    }
}

async fn ping(port: u16) -> bool {
    use tokio::io::AsyncReadExt;
    let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return false;
    };
    if stream.write_all(b"PING\r\n").await.is_err() {
        return false;
    }
    let mut buf = [0u8; 16];
    matches!(
        tokio::time::timeout(Duration::from_secs(1), stream.read(&mut buf)).await,
        Ok(Ok(n)) if buf[..n].starts_with(b"+PONG")
    )
}

async fn shell(command: &str) -> anyhow::Result<()> {
    let status = Command::new("sh").args(["-c", command]).status().await?;
    anyhow::ensure!(status.success(), "`{command}` failed: {status}");
    Ok(())
}
