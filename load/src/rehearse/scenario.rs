//! The rehearsal's settings: command-line flags over an optional TOML
//! scenario file (same names, `-` or `_`) over the defaults.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args as ClapArgs;
use serde::{Deserialize, Serialize};

pub const LONG_ABOUT: &str = "\
Rehearse an on-sale: N simulated fans live a real fan's journey through the public API only
(guest sign-in, waiting room and its position stream, the live seat map over SSE or WebSocket,
holds of 1-6 adjacent seats mostly in the best sections, 409s answered from the live map,
payment with declined / lost-answer / slow cards, abandons and releases, tickets, door scans),
optionally under faults, then checks the invariants and writes a report (terminal table,
report.json, report.html with SVG plots, acknowledged.jsonl).

One machine: per-client limits must be off. Nodes the tool starts (--spawn-nodes) get
BOXOFFICE__LIMITS__ENABLED=false; a deployment you point it at with --target must run with it.
With --spawn-nodes the tool creates its own operator account (`boxoffice admin create`);
against a deployment pass --admin-email/--admin-password.

Fans: --fans of them (100,000 work): tasks on one shared HTTP client, in two lanes: at most
--crowd-concurrency sign-ins, joins and position polls in flight, and --concurrency requests of
fans past the waiting room, so a shopper never queues behind the crowd; --queue-streams open
position streams (the others poll their place at an interval set by their ETA: one machine has
about 28,000 ephemeral ports per target). Fans follow the seat map in the compact format over
the venue layout, which the tool fetches once (fans' browsers cache it).

Faults (--chaos, times after the sale opens): redis-stop@20s:8s (needs --spawn-redis or
--redis-ctl), node-kill@35s:1 (kill -9 spawned node 1, start it again 3 s later), pg-restart@40s (needs
--pg-data), slow-provider@50s:10s (payments use the provider's slow card during the window),
exec@10s:COMMAND (run a shell command, {event} replaced by the event id: e.g.
`scripts/cluster.sh restart`, a rolling restart of the nodes behind --target).

Exit status: 0 when the invariant checker passes, 1 when it finds a violation.";

#[derive(Debug, ClapArgs)]
pub struct Args {
    /// A TOML scenario file; its keys are the long flags' names with `_` (fans = 3000,
    /// spawn_nodes = 2, chaos = "..."). Flags win over it.
    #[arg(long)]
    pub scenario: Option<PathBuf>,
    /// Simulated fans [default: 5000].
    #[arg(long)]
    pub fans: Option<usize>,
    /// Node base URLs, comma-separated; fans spread over them [default: http://127.0.0.1:8080].
    #[arg(long, value_delimiter = ',')]
    pub target: Option<Vec<String>>,
    /// Rehearse on this existing event instead of creating a hall.
    #[arg(long)]
    pub event: Option<i64>,
    /// Seats in the hall the tool creates [default: 2000].
    #[arg(long)]
    pub seats: Option<usize>,
    /// Waiting-room admissions per second [default: 100].
    #[arg(long)]
    pub admission_rate: Option<i32>,
    /// `burst` (everyone at once) or `ramp:30s` (arrivals spread over 30 s) [default: burst].
    #[arg(long)]
    pub arrival: Option<String>,
    /// Seconds between the first arrivals and the sale opening [default: 5].
    #[arg(long)]
    pub lead_seconds: Option<u64>,
    /// Requests of fans past the waiting room (holds, payments, tickets, the door) in
    /// flight at most [default: 256].
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Requests of the crowd (sign-ins, joins, position polls) in flight at most: a lane of
    /// their own, so fans who are shopping never queue behind the crowd's polls [default: 1024].
    #[arg(long)]
    pub crowd_concurrency: Option<usize>,
    /// Position streams open at most; other waiters poll [default: 2000].
    #[arg(long)]
    pub queue_streams: Option<usize>,
    /// Seat-map streams open at most (fans choosing seats); others wait their turn [default: 500].
    #[arg(long)]
    pub map_streams: Option<usize>,
    /// Share of fans who watch the seat map over WebSocket instead of SSE [default: 0.3].
    #[arg(long)]
    pub ws_share: Option<f64>,
    /// Share of fans aiming at the best sections (the first quarter) [default: 0.7].
    #[arg(long)]
    pub hot_share: Option<f64>,
    /// Hold length given to spawned nodes (booking.hold_seconds) [default: 30].
    #[arg(long)]
    pub hold_seconds: Option<u64>,
    /// The nodes behind --target when it is a load balancer, comma-separated: the
    /// checker compares each one's seat map with the database.
    #[arg(long, value_delimiter = ',')]
    pub node_urls: Option<Vec<String>>,
    /// Start this many local nodes (target/debug/boxoffice serve) and stop them at the end.
    #[arg(long)]
    pub spawn_nodes: Option<usize>,
    /// Start a private redis-server on a free port for the spawned nodes (one the tool may stop).
    #[arg(long)]
    pub spawn_redis: bool,
    /// A command the tool runs with `stop` or `start` appended to stop/start Redis.
    #[arg(long)]
    pub redis_ctl: Option<String>,
    /// A PostgreSQL data dir: pg-restart runs `pg_ctl -D DIR restart -m fast`.
    #[arg(long)]
    pub pg_data: Option<PathBuf>,
    /// Faults, e.g. `redis-stop@20s:8s,node-kill@35s:1,slow-provider@50s:10s`.
    #[arg(long)]
    pub chaos: Option<String>,
    /// Stop the rush after this many seconds at most [default: 600].
    #[arg(long)]
    pub max_seconds: Option<u64>,
    /// After the rush, wait at most this long for the nodes to go quiet (payment attempts
    /// finished by recovery, no seat changing) before the checker reads [default: 120].
    #[arg(long)]
    pub settle_seconds: Option<u64>,
    /// Where the report files go [default: rehearsal].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// PostgreSQL the checker reads and spawned nodes use [env: BOXOFFICE__DATABASE__URL].
    #[arg(long)]
    pub database_url: Option<String>,
    /// Redis the checker reads and spawned nodes use [env: BOXOFFICE__REDIS__URL].
    #[arg(long)]
    pub redis_url: Option<String>,
    /// The nodes' Redis key prefix [default: bo:].
    #[arg(long)]
    pub redis_prefix: Option<String>,
    /// The server binary spawned nodes run [default: target/debug/boxoffice].
    #[arg(long)]
    pub boxoffice_bin: Option<PathBuf>,
    /// Seed of every fan's choices [default: 1].
    #[arg(long)]
    pub seed: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Scenario {
    pub fans: usize,
    pub target: Vec<String>,
    pub node_urls: Vec<String>,
    pub event: Option<i64>,
    pub seats: usize,
    pub admission_rate: i32,
    pub arrival: String,
    pub lead_seconds: u64,
    pub concurrency: usize,
    pub crowd_concurrency: usize,
    pub queue_streams: usize,
    pub map_streams: usize,
    pub ws_share: f64,
    pub hot_share: f64,
    pub hold_seconds: u64,
    pub spawn_nodes: usize,
    pub spawn_redis: bool,
    pub redis_ctl: Option<String>,
    pub pg_data: Option<PathBuf>,
    pub chaos: String,
    pub max_seconds: u64,
    pub settle_seconds: u64,
    pub out: PathBuf,
    pub database_url: Option<String>,
    pub redis_url: Option<String>,
    pub redis_prefix: String,
    pub boxoffice_bin: PathBuf,
    pub seed: u64,
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario {
            fans: 5_000,
            target: vec!["http://127.0.0.1:8080".into()],
            node_urls: Vec::new(),
            event: None,
            seats: 2_000,
            admission_rate: 100,
            arrival: "burst".into(),
            lead_seconds: 5,
            concurrency: 256,
            crowd_concurrency: 1024,
            queue_streams: 2_000,
            map_streams: 500,
            ws_share: 0.3,
            hot_share: 0.7,
            hold_seconds: 30,
            spawn_nodes: 0,
            spawn_redis: false,
            redis_ctl: None,
            pg_data: None,
            chaos: String::new(),
            max_seconds: 600,
            settle_seconds: 120,
            out: "rehearsal".into(),
            database_url: None,
            redis_url: None,
            redis_prefix: "bo:".into(),
            boxoffice_bin: "target/debug/boxoffice".into(),
            seed: 1,
        }
    }
}

macro_rules! over {
    ($s:ident, $a:ident, $($f:ident),*) => { $( if let Some(v) = $a.$f { $s.$f = v; } )* };
}
macro_rules! over_opt {
    ($s:ident, $a:ident, $($f:ident),*) => { $( if $a.$f.is_some() { $s.$f = $a.$f; } )* };
}

impl Scenario {
    pub fn from_args(args: Args) -> anyhow::Result<Scenario> {
        let mut s = match &args.scenario {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?
            }
            None => Scenario::default(),
        };
        over!(
            s,
            args,
            fans,
            target,
            node_urls,
            seats,
            admission_rate,
            arrival,
            lead_seconds,
            concurrency,
            crowd_concurrency,
            queue_streams,
            map_streams,
            ws_share,
            hot_share,
            hold_seconds,
            spawn_nodes,
            chaos,
            max_seconds,
            settle_seconds,
            out,
            redis_prefix,
            boxoffice_bin,
            seed
        );
        s.spawn_redis |= args.spawn_redis;
        over_opt!(s, args, event, redis_ctl, pg_data, database_url, redis_url);
        if s.database_url.is_none() {
            s.database_url = std::env::var("BOXOFFICE__DATABASE__URL").ok();
        }
        if s.redis_url.is_none() {
            s.redis_url = std::env::var("BOXOFFICE__REDIS__URL").ok();
        }
        anyhow::ensure!(s.fans > 0, "--fans must be at least 1");
        anyhow::ensure!(
            s.concurrency > 0 && s.crowd_concurrency > 0 && s.map_streams > 0,
            "--concurrency, --crowd-concurrency and --map-streams must be at least 1"
        );
        anyhow::ensure!(
            (0.0..=1.0).contains(&s.ws_share) && (0.0..=1.0).contains(&s.hot_share),
            "--ws-share and --hot-share are shares between 0 and 1"
        );
        anyhow::ensure!(
            s.event.is_some() || s.seats > 0,
            "--seats must be at least 1"
        );
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn scenario(argv: &[&str]) -> anyhow::Result<Scenario> {
        Scenario::from_args(Cli::try_parse_from(argv)?.args)
    }

    #[test]
    fn a_scenario_file_is_read_and_flags_win_over_it() {
        let path = std::env::temp_dir().join(format!("scenario-{}.toml", std::process::id()));
        std::fs::write(
            &path,
            "fans = 3000\nspawn_nodes = 2\nchaos = \"redis-stop@8s:6s\"\ntarget = [\"http://a:1\"]\n",
        )
        .unwrap();
        let file = path.to_str().unwrap();
        let s = scenario(&["t", "--scenario", file, "--fans", "10"]).unwrap();
        assert_eq!((s.fans, s.spawn_nodes), (10, 2));
        assert_eq!(s.chaos, "redis-stop@8s:6s");
        assert_eq!(s.target, vec!["http://a:1".to_owned()]);
        assert_eq!(s.seats, 2_000, "defaults fill the rest");
        std::fs::write(&path, "fans = 3000\nfnas = 1\n").unwrap();
        assert!(
            scenario(&["t", "--scenario", file]).is_err(),
            "unknown keys are refused"
        );
        let _ = std::fs::remove_file(path);
        assert!(scenario(&["t", "--ws-share", "2"]).is_err());
    }
}
