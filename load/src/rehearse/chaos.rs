//! Fault injection: a schedule parsed from `--chaos` and the task that
//! carries it out against the processes the rehearsal controls.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::fan::Ctx;
use super::nodes::{Cluster, RedisCtl};

/// How long a killed node stays down before it is started again.
const NODE_DOWN: Duration = Duration::from_secs(3);

#[derive(Debug, Clone, PartialEq)]
pub enum FaultKind {
    /// Stop Redis for this long.
    RedisStop(Duration),
    /// `kill -9` spawned node N (1-based), start it again 3 s later.
    NodeKill(usize),
    /// Restart PostgreSQL (fast shutdown).
    PgRestart,
    /// Payments use the provider's slow card for this long.
    SlowProvider(Duration),
    /// Run a shell command (`{event}` replaced by the event's id), e.g. a
    /// rolling restart of a cluster the tool did not start:
    /// `exec@10s:scripts/cluster.sh restart`.
    Exec(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    /// After the sale opens.
    pub at: Duration,
    pub kind: FaultKind,
}

impl Fault {
    pub fn name(&self) -> String {
        match self.kind {
            FaultKind::RedisStop(d) => format!("redis-stop {}s", d.as_secs()),
            FaultKind::NodeKill(n) => format!("node-kill {n}"),
            FaultKind::PgRestart => "pg-restart".into(),
            FaultKind::SlowProvider(d) => format!("slow-provider {}s", d.as_secs()),
            FaultKind::Exec(ref command) => format!("exec {command}"),
        }
    }
}

/// `20s`, `1.5s`, `500ms` or a bare number of seconds.
pub fn duration(text: &str) -> anyhow::Result<Duration> {
    let text = text.trim();
    let (number, scale) = if let Some(ms) = text.strip_suffix("ms") {
        (ms, 0.001)
    } else if let Some(m) = text.strip_suffix('m') {
        (m, 60.0)
    } else {
        (text.strip_suffix('s').unwrap_or(text), 1.0)
    };
    let value: f64 = number
        .parse()
        .with_context(|| format!("{text:?} is not a duration (like 20s or 500ms)"))?;
    if !(0.0..=86_400.0).contains(&(value * scale)) {
        bail!("{text:?} is out of range");
    }
    Ok(Duration::from_secs_f64(value * scale))
}

/// `redis-stop@20s:8s,node-kill@35s:1,pg-restart@40s,slow-provider@50s:10s`.
pub fn parse(spec: &str) -> anyhow::Result<Vec<Fault>> {
    let mut faults = Vec::new();
    for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (name, rest) = item
            .split_once('@')
            .with_context(|| format!("fault {item:?}: expected name@time[:arg]"))?;
        let (at, arg) = match rest.split_once(':') {
            Some((at, arg)) => (at, Some(arg)),
            None => (rest, None),
        };
        let at = duration(at)?;
        let kind = match (name, arg) {
            ("redis-stop", Some(d)) => FaultKind::RedisStop(duration(d)?),
            ("slow-provider", Some(d)) => FaultKind::SlowProvider(duration(d)?),
            ("node-kill", arg) => {
                let n: usize = arg
                    .unwrap_or("1")
                    .parse()
                    .context("node-kill@T:N, N a node number")?;
                if n == 0 {
                    bail!("node-kill counts nodes from 1");
                }
                FaultKind::NodeKill(n)
            }
            ("pg-restart", None) => FaultKind::PgRestart,
            ("exec", Some(command)) if !command.trim().is_empty() => {
                FaultKind::Exec(command.trim().to_owned())
            }
            _ => bail!(
                "unknown fault {item:?}: redis-stop@T:D, node-kill@T:N, pg-restart@T, slow-provider@T:D, exec@T:COMMAND"
            ),
        };
        faults.push(Fault { at, kind });
    }
    faults.sort_by_key(|f| f.at);
    Ok(faults)
}

/// Refuses, before anything starts, a fault this rehearsal cannot cause.
pub fn check_possible(
    faults: &[Fault],
    spawned_nodes: usize,
    redis: &RedisCtl,
    pg_data: bool,
) -> anyhow::Result<()> {
    for fault in faults {
        match fault.kind {
            FaultKind::RedisStop(_) if !redis.controllable() => bail!(
                "{}: the tool may only stop a Redis it started (--spawn-redis) or one --redis-ctl controls",
                fault.name()
            ),
            FaultKind::NodeKill(n) if n > spawned_nodes => bail!(
                "{}: only nodes started with --spawn-nodes can be killed ({spawned_nodes} here)",
                fault.name()
            ),
            FaultKind::PgRestart if !pg_data => {
                bail!("pg-restart needs --pg-data (a data dir pg_ctl controls)")
            }
            _ => {}
        }
    }
    Ok(())
}

/// Carries out the schedule; each fault's window is recorded for the report.
pub async fn run(
    faults: Vec<Fault>,
    onsale: Instant,
    ctx: Arc<Ctx>,
    cluster: Arc<tokio::sync::Mutex<Option<Cluster>>>,
    redis: Arc<tokio::sync::Mutex<RedisCtl>>,
    pg_data: Option<std::path::PathBuf>,
) {
    for fault in faults {
        tokio::select! {
            _ = tokio::time::sleep_until((onsale + fault.at).into()) => {}
            _ = ctx.stop.wait() => return,
        }
        let start = ctx.rec.now_ms();
        let mut timing = String::new();
        let outcome: anyhow::Result<()> = async {
            match fault.kind {
                FaultKind::RedisStop(d) => {
                    redis.lock().await.stop().await?;
                    let down = Instant::now();
                    ctx.pause(d).await;
                    redis.lock().await.start().await?;
                    timing = format!("down {:.1} s", down.elapsed().as_secs_f64());
                    Ok(())
                }
                FaultKind::NodeKill(n) => {
                    let mut guard = cluster.lock().await;
                    guard
                        .as_mut()
                        .context("no spawned nodes")?
                        .kill(n - 1)
                        .await?;
                    drop(guard);
                    // Down for a while: its fans fail over to the other nodes.
                    ctx.pause(NODE_DOWN).await;
                    let mut guard = cluster.lock().await;
                    let restarted = Instant::now();
                    guard
                        .as_mut()
                        .context("no spawned nodes")?
                        .start_node(n - 1)
                        .await?;
                    timing = format!(
                        "ready {:.1} s after its restart",
                        restarted.elapsed().as_secs_f64()
                    );
                    Ok(())
                }
                FaultKind::PgRestart => pg_restart(pg_data.as_deref()).await,
                FaultKind::Exec(ref command) => {
                    let command = command.replace("{event}", &ctx.event_id.to_string());
                    let ran = Instant::now();
                    let status = tokio::process::Command::new("sh")
                        .args(["-c", &command])
                        .stdin(std::process::Stdio::null())
                        .stdout(std::process::Stdio::null())
                        .status()
                        .await
                        .with_context(|| format!("running {command:?}"))?;
                    anyhow::ensure!(status.success(), "`{command}` failed: {status}");
                    timing = format!("took {:.1} s", ran.elapsed().as_secs_f64());
                    Ok(())
                }
                FaultKind::SlowProvider(d) => {
                    ctx.slow_provider.store(true, Ordering::Relaxed);
                    ctx.pause(d).await;
                    ctx.slow_provider.store(false, Ordering::Relaxed);
                    Ok(())
                }
            }
        }
        .await;
        let end = ctx.rec.now_ms();
        let note = match &outcome {
            Ok(()) => timing,
            Err(error) => format!("failed: {error:#}"),
        };
        if outcome.is_err() {
            let _ = ctx
                .progress
                .println(format!("chaos: {} failed: {note}", fault.name()));
        }
        ctx.rec
            .fault(fault.name(), start, end, note, outcome.is_ok());
    }
}

async fn pg_restart(dir: Option<&std::path::Path>) -> anyhow::Result<()> {
    let dir = dir.context("pg-restart needs --pg-data")?;
    let bin = std::fs::read_dir("/usr/lib/postgresql")
        .ok()
        .and_then(|d| d.filter_map(Result::ok).map(|e| e.path()).max())
        .map(|p| p.join("bin/pg_ctl"))
        .filter(|p| p.exists())
        .unwrap_or_else(|| "pg_ctl".into());
    let mut command = if super::nodes::is_root() {
        let mut c = tokio::process::Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin);
        c
    } else {
        tokio::process::Command::new(bin)
    };
    let status = command
        .arg("-D")
        .arg(dir)
        .args(["restart", "-m", "fast", "-w"])
        .stdout(std::process::Stdio::null())
        .status()
        .await?;
    anyhow::ensure!(status.success(), "pg_ctl restart failed: {status}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chaos_spec_reads_as_a_schedule() {
        let faults =
            parse("node-kill@35s:1,redis-stop@20s:8s,slow-provider@50s:10s,pg-restart@1m").unwrap();
        assert_eq!(
            faults,
            vec![
                Fault {
                    at: Duration::from_secs(20),
                    kind: FaultKind::RedisStop(Duration::from_secs(8))
                },
                Fault {
                    at: Duration::from_secs(35),
                    kind: FaultKind::NodeKill(1)
                },
                Fault {
                    at: Duration::from_secs(50),
                    kind: FaultKind::SlowProvider(Duration::from_secs(10))
                },
                Fault {
                    at: Duration::from_secs(60),
                    kind: FaultKind::PgRestart
                },
            ]
        );
        assert_eq!(
            parse("exec@4s:scripts/cluster.sh crash-holder {event}").unwrap(),
            vec![Fault {
                at: Duration::from_secs(4),
                kind: FaultKind::Exec("scripts/cluster.sh crash-holder {event}".into())
            }]
        );
        assert!(parse("exec@4s").is_err());
        assert!(parse("meteor@3s").is_err());
        assert!(parse("redis-stop@3s").is_err());
        assert!(parse("node-kill@3s:0").is_err());
        assert_eq!(parse("").unwrap(), vec![]);
    }

    #[test]
    fn faults_the_tool_cannot_cause_are_refused() {
        let faults = parse("node-kill@5s:2").unwrap();
        assert!(check_possible(&faults, 1, &RedisCtl::None, false).is_err());
        assert!(check_possible(&faults, 2, &RedisCtl::None, false).is_ok());
        let faults = parse("redis-stop@5s:2s").unwrap();
        assert!(check_possible(&faults, 2, &RedisCtl::None, false).is_err());
        assert!(
            check_possible(&parse("pg-restart@1s").unwrap(), 0, &RedisCtl::None, false).is_err()
        );
    }
}
