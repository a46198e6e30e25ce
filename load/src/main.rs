//! boxoffice-load: a black-box client of the public API that drives on-sale
//! scenarios and prints benchmark figures. See BENCHMARKS.md for the commands.

mod api;
mod catalog;
mod fanout;
mod hot_event;
mod rehearse;
mod report;
mod reserve;
mod verify_cli;
mod waiting_room;

// The checker lives in the library; the rehearsal calls it as `crate::verify`.
use boxoffice_load::verify;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "boxoffice-load",
    about = "Load scenarios against a running boxoffice"
)]
struct Cli {
    /// Base URL of the server.
    #[arg(long, default_value = "http://127.0.0.1:8080", global = true)]
    base_url: String,
    /// An operator account (created with `boxoffice admin create`).
    #[arg(
        long,
        env = "BOXOFFICE_LOAD_ADMIN_EMAIL",
        global = true,
        default_value = ""
    )]
    admin_email: String,
    #[arg(
        long,
        env = "BOXOFFICE_LOAD_ADMIN_PASSWORD",
        global = true,
        default_value = ""
    )]
    admin_password: String,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Debug, Subcommand)]
enum Scenario {
    /// Many clients reserving seats on one hot event.
    Reserve(reserve::Args),
    /// Seat instantiation for a big venue and seat-map snapshot latency.
    Catalog(catalog::Args),
    /// Many live seat-map subscribers while reservations commit.
    Fanout(fanout::Args),
    /// Prepare a hot event and buyers' tokens for wrk (load/wrk/reserve.lua).
    HotEvent(hot_event::Args),
    /// A crowd joins a waiting room before the sale opens.
    QueueJoin(waiting_room::JoinArgs),
    /// Open the sale; waiters watch positions while admission runs.
    QueueWatch(waiting_room::WatchArgs),
    /// Check an event's invariants straight from PostgreSQL and Redis
    /// (exits non-zero on any violation).
    Verify(verify_cli::Args),
    /// Rehearse a whole on-sale: fans, faults, the invariant checker, a report.
    #[command(long_about = rehearse::scenario::LONG_ABOUT)]
    Rehearse(Box<rehearse::scenario::Args>),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Scenario::Verify(args) = cli.scenario {
        return verify_cli::run(args).await;
    }
    if let Scenario::Rehearse(args) = cli.scenario {
        let code = rehearse::run(*args, &cli.admin_email, &cli.admin_password).await?;
        std::process::exit(code);
    }
    let api = api::Api::login(&cli.base_url, &cli.admin_email, &cli.admin_password).await?;
    match cli.scenario {
        Scenario::Reserve(args) => reserve::run(&api, args).await,
        Scenario::Catalog(args) => catalog::run(&api, args).await,
        Scenario::Fanout(args) => fanout::run(&api, args).await,
        Scenario::HotEvent(args) => hot_event::run(&api, args).await,
        Scenario::QueueJoin(args) => waiting_room::join(&api, args).await,
        Scenario::QueueWatch(args) => waiting_room::watch(&api, args).await,
        Scenario::Rehearse(_) => Ok(()),
        Scenario::Verify(_) => unreachable!("handled before logging in"),
    }
}
