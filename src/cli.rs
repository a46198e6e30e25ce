//! The command line: `serve`, `migrate`, `admin create`, `demo`, `openapi`.

use std::io::BufRead;

use clap::{Args, Parser, Subcommand, ValueEnum};
use secrecy::SecretString;

use crate::auth::{self, Role};
use crate::config::Settings;
use crate::startup::{self, Application};
use crate::store::users::{self, CreateAccountError};
use crate::telemetry;

#[derive(Debug, Parser)]
#[command(
    name = "boxoffice",
    version,
    about = "A ticket on-sale server that never sells the same seat twice"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the HTTP API until SIGTERM/SIGINT.
    Serve,
    /// Apply pending database migrations.
    Migrate,
    /// Manage operator accounts.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Load demo data (idempotent): a 20,196-seat arena (a bowl around a stage, three price zones), a club, and events.
    Demo,
    /// Print the OpenAPI document this build serves at `GET /openapi.json`.
    Openapi,
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Create a staff account: an operator (admin role) or door staff (door role).
    Create(AdminCreate),
}

/// The role of a staff account.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum StaffRole {
    /// Operator: venues, events, the waiting room, bookings, check-in.
    Admin,
    /// Door staff: ticket check-in only.
    Door,
}

#[derive(Debug, Args)]
struct AdminCreate {
    #[arg(long)]
    email: String,
    /// The password (visible to other local users in the process list; prefer --password-stdin).
    #[arg(
        long,
        required_unless_present = "password_stdin",
        conflicts_with = "password_stdin"
    )]
    password: Option<String>,
    /// Read the password from the first line of standard input.
    #[arg(long)]
    password_stdin: bool,
    /// The account's role.
    #[arg(long, value_enum, default_value = "admin")]
    role: StaffRole,
}

impl Cli {
    pub async fn run(self) -> anyhow::Result<()> {
        if let Command::Openapi = self.command {
            println!("{}", crate::http::api_doc::document());
            return Ok(());
        }
        telemetry::init_logging("info,sqlx=warn");
        let settings = Settings::load()?;
        match self.command {
            Command::Serve => serve(settings).await,
            Command::Migrate => {
                let pool = startup::pg_pool(&settings.database)?;
                startup::migrate(&pool).await?;
                tracing::info!("migrations applied");
                Ok(())
            }
            Command::Admin {
                command: AdminCommand::Create(args),
            } => create_admin(settings, args).await,
            Command::Demo => {
                let pool = startup::pg_pool(&settings.database)?;
                crate::demo::load(&pool).await
            }
            // Needs no settings: answered before they are loaded.
            Command::Openapi => Ok(()),
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    // Every live seat-map subscriber holds a socket: raise the open-file limit.
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::info!(limit, "open-file limit"),
        Err(error) => tracing::warn!(%error, "could not raise the open-file limit"),
    }
    let host = settings.server.host.clone();
    let app = Application::build(settings).await?;
    tracing::info!(address = %format!("http://{host}:{}", app.port()), "serving");
    app.run_until_stopped().await?;
    tracing::info!("stopped");
    Ok(())
}

async fn create_admin(settings: Settings, args: AdminCreate) -> anyhow::Result<()> {
    let email = auth::parse_email(args.email.trim())
        .ok_or_else(|| anyhow::anyhow!("--email is not a valid address"))?;
    let password = match args.password {
        Some(p) => p,
        None => std::io::stdin()
            .lock()
            .lines()
            .next()
            .transpose()?
            .unwrap_or_default(),
    };
    if password.chars().count() < 12 {
        anyhow::bail!("an operator password must be at least 12 characters");
    }
    let password = SecretString::from(password);
    let hash = tokio::task::spawn_blocking(move || auth::hash_password(&password)).await??;
    let pool = startup::pg_pool(&settings.database)?;
    let role = match args.role {
        StaffRole::Admin => Role::Admin,
        StaffRole::Door => Role::Door,
    };
    match users::create_account(&pool, &email, &hash, role).await {
        Ok(user_id) => {
            println!("created {} {email} (user_id {user_id})", role.as_str());
            Ok(())
        }
        Err(CreateAccountError::EmailTaken) => {
            anyhow::bail!("an account with email {email} already exists")
        }
        Err(CreateAccountError::Database(e)) => Err(e.into()),
    }
}
