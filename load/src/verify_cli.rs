//! `boxoffice-load verify`: the command line of [`boxoffice_load::verify`].

use std::path::PathBuf;
use std::time::Duration;

use boxoffice_load::verify::{Extras, VerifyOptions, verify_with};

/// Checks one event's invariants by reading PostgreSQL (and Redis) directly,
/// independent of the server's code: no seat sold twice, seat statuses agree
/// with bookings, one kept charge per confirmed booking, no stale holds,
/// genuine tickets admitted once, each node's seat map equal to the database,
/// the waiting room's rate and admissions, and nothing acknowledged lost.
/// Prints each check with its count; exits 1 on any violation.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// PostgreSQL URL of the deployment.
    #[arg(long, env = "BOXOFFICE__DATABASE__URL", hide_env_values = true)]
    database_url: String,
    /// Redis URL of the deployment (needed for the waiting-room checks).
    #[arg(long, env = "BOXOFFICE__REDIS__URL", hide_env_values = true)]
    redis_url: Option<String>,
    /// The server's `redis.key_prefix`.
    #[arg(long, env = "BOXOFFICE__REDIS__KEY_PREFIX", default_value = "bo:")]
    redis_prefix: String,
    /// The event to check.
    #[arg(long = "event")]
    event_id: i64,
    /// Node base URLs whose seat map must equal the database (comma-separated).
    #[arg(long = "target", value_delimiter = ',')]
    targets: Vec<String>,
    /// JSON Lines of what clients were told:
    /// `{"kind":"hold"|"confirm","booking_id":N}` per line.
    #[arg(long)]
    acknowledged: Option<PathBuf>,
    /// The server's `auth.signing_secret`, to verify ticket codes.
    #[arg(long, env = "BOXOFFICE__AUTH__SIGNING_SECRET", hide_env_values = true)]
    signing_secret: Option<String>,
    /// Allowance beyond a hold's expiry before it counts as stale, in
    /// seconds (the sweep interval plus slack).
    #[arg(long, default_value_t = 5.0)]
    sweep_grace: f64,
    /// The server's `booking.payment_window_seconds`: a hold whose payment
    /// started less than this long ago is not stale.
    #[arg(
        long,
        env = "BOXOFFICE__BOOKING__PAYMENT_WINDOW_SECONDS",
        default_value_t = 120
    )]
    payment_window_seconds: u64,
    /// Admission rate tolerance (0.02 = ±2 %).
    #[arg(long, default_value_t = 0.02)]
    rate_tolerance: f64,
    /// Write the report as JSON to this file too.
    #[arg(long)]
    json: Option<PathBuf>,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let options = VerifyOptions {
        database_url: args.database_url,
        redis_url: args.redis_url,
        redis_prefix: args.redis_prefix,
        event_id: args.event_id,
        targets: args.targets,
        acknowledged: args.acknowledged,
        sweep_grace: Duration::from_secs_f64(args.sweep_grace.max(0.0)),
        rate_tolerance: args.rate_tolerance,
    };
    let extras = Extras {
        signing_secret: args.signing_secret,
        payment_window: Duration::from_secs(args.payment_window_seconds),
        ..Extras::from_env()
    };
    let report = verify_with(&options, &extras).await?;
    report.print();
    if let Some(path) = args.json {
        std::fs::write(&path, serde_json::to_vec_pretty(&report)?)?;
    }
    if !report.passed() {
        std::process::exit(1);
    }
    Ok(())
}
