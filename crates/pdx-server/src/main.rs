//! The `pdx` command: serve the platform, migrate its database, or write its OpenAPI document.

/// jemalloc instead of glibc's allocator: glibc gives each of the many threads that serve
/// requests and run database work an arena of its own and keeps freed memory in each, which
/// roughly doubled the server's resident memory under load.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use pdx_core::SystemClock;
use pdx_server::{Application, Config, ledger_cli, telemetry};

/// PDX, the Public Data Exchange: a catalog, licensed exchange and verifiable circulation
/// ledger for public data.
///
/// Configuration comes from built-in defaults, then the TOML file given with --config, then
/// PDX_* environment variables (for example PDX_BIND=0.0.0.0:8080, PDX_DATABASE_URL=postgres://…).
/// See deploy/pdx.example.toml for every key.
#[derive(Debug, Parser)]
#[command(name = "pdx", version)]
struct Cli {
    /// A TOML configuration file.
    #[arg(long, short, global = true, env = "PDX_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the web portal and the API (the default). Migrates the database first.
    Serve {
        /// Load the demo catalog first (once), so there is something to explore.
        #[arg(long)]
        demo: bool,
    },
    /// Load the demo (a smart city's agencies, enterprises, ~40 datasets, licences, requests,
    /// grants and ninety days of circulation) and print the demo accounts. Loading twice
    /// changes nothing.
    Demo,
    /// Apply pending database migrations, then exit.
    Migrate,
    /// Write the OpenAPI document of the API.
    Openapi {
        /// Where to write it; `-` for standard output.
        #[arg(
            long,
            short,
            default_value = "openapi/openapi.json",
            value_name = "FILE"
        )]
        output: PathBuf,
    },
    /// Operator commands: create organisations and users without signing in.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Manage the JWT signing keys in the data directory.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// The catalog's search index.
    #[command(subcommand)]
    Search(SearchCommand),
    /// Usage accounting kept from the ledger.
    #[command(subcommand)]
    Accounting(AccountingCommand),
    /// Offline checks of the circulation ledger (no network, no database): verify an export
    /// against a signed checkpoint and recount usage, or check a proof.
    #[command(subcommand)]
    Ledger(ledger_cli::LedgerCommand),
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Create a verified agency or enterprise.
    CreateOrg {
        /// Display name.
        #[arg(long)]
        name: String,
        /// URL-safe name; derived from the name if omitted.
        #[arg(long)]
        slug: Option<String>,
        /// `agency` or `enterprise`.
        #[arg(long, default_value = "agency")]
        kind: String,
        /// Unified social credit code.
        #[arg(long)]
        credit_code: Option<String>,
        /// Contact e-mail address.
        #[arg(long)]
        contact_email: Option<String>,
    },
    /// Create a user in an organisation. Without --password-stdin a one-time password is
    /// generated and printed; it must be changed at first sign-in.
    CreateUser {
        /// The organisation's slug (`platform` for platform admins and auditors).
        #[arg(long)]
        org: String,
        /// The user's e-mail address.
        #[arg(long)]
        email: String,
        /// The user's display name.
        #[arg(long)]
        name: String,
        /// Comma-separated roles, e.g. `admin,publisher` or `auditor`.
        #[arg(long, value_delimiter = ',', required = true)]
        roles: Vec<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Debug, Subcommand)]
enum SearchCommand {
    /// Rebuild the search index from the database, with progress. While a server holds the
    /// index, asks every running server (through the database) to rebuild its own instead.
    Reindex,
}

#[derive(Debug, Subcommand)]
enum AccountingCommand {
    /// Rebuild the usage roll-ups from the ledger's entries, in one transaction, in the
    /// configured time zone (accounting.time_zone) or the one given. To change the zone, stop
    /// every server, set accounting.time_zone, run this, and start them again.
    Rebuild {
        /// An IANA time zone, e.g. Asia/Shanghai; default: accounting.time_zone.
        #[arg(long, value_name = "ZONE")]
        time_zone: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Add a new signing key; older keys keep verifying until their tokens expire, and keys
    /// past that are removed. Running servers pick the new key up within 30 seconds.
    Rotate,
}

fn main() -> anyhow::Result<std::process::ExitCode> {
    let cli = Cli::parse();
    let done = match cli.command.unwrap_or(Command::Serve { demo: false }) {
        Command::Serve { demo } => serve(cli.config.as_deref(), demo),
        Command::Demo => run_async(cli.config.as_deref(), load_demo),
        Command::Migrate => migrate(cli.config.as_deref()),
        Command::Openapi { output } => write_openapi(&output),
        Command::Admin(command) => {
            run_async(cli.config.as_deref(), |config| admin(config, command))
        }
        Command::Keys(KeysCommand::Rotate) => run_async(cli.config.as_deref(), rotate_keys),
        Command::Search(SearchCommand::Reindex) => run_async(cli.config.as_deref(), reindex),
        Command::Accounting(AccountingCommand::Rebuild { time_zone }) => {
            run_async(cli.config.as_deref(), |config| {
                rebuild_accounting(config, time_zone)
            })
        }
        Command::Ledger(command) => return Ok(ledger_cli::run(command)),
    };
    done.map(|()| std::process::ExitCode::SUCCESS)
}

/// Loads the configuration, then runs an operator command on a small runtime.
fn run_async<F, Fut>(config_file: Option<&Path>, command: F) -> anyhow::Result<()>
where
    F: FnOnce(Config) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let config = Config::load(config_file)?;
    telemetry::init(&config);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(command(config))
}

async fn operator_access(config: &Config) -> anyhow::Result<pdx_access::AccessService> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create {}", config.data_dir.display()))?;
    let database =
        pdx_server::app::prepare_database(&config.database_url()?, config.pool_options())?;
    let public_url = config.public_url(config.bind_addr()?);
    let access =
        pdx_server::app::open_access(config, database, &public_url, Arc::new(SystemClock))?;
    pdx_server::app::bootstrap(&access, &config.data_dir).await?;
    Ok(access)
}

#[allow(
    clippy::print_stdout,
    reason = "the command's output is for the operator"
)]
async fn admin(config: Config, command: AdminCommand) -> anyhow::Result<()> {
    let access = operator_access(&config).await?;
    match command {
        AdminCommand::CreateOrg {
            name,
            slug,
            kind,
            credit_code,
            contact_email,
        } => {
            let kind = kind.parse().map_err(|e| anyhow::anyhow!("--kind: {e}"))?;
            let organization = access
                .create_organization_as_operator(pdx_access::service::OrganizationInput {
                    name,
                    slug,
                    kind,
                    credit_code,
                    contact_email,
                    contact_phone: None,
                })
                .await?;
            println!(
                "created {} `{}` ({})",
                organization.kind, organization.slug, organization.id
            );
        }
        AdminCommand::CreateUser {
            org,
            email,
            name,
            roles,
            password_stdin,
        } => {
            let roles = roles
                .iter()
                .map(|r| r.trim().parse())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| anyhow::anyhow!("--roles: {e}"))?;
            let (password, one_time) = if password_stdin {
                let mut line = String::new();
                std::io::stdin()
                    .read_line(&mut line)
                    .context("cannot read the password")?;
                (line.trim_end_matches(['\r', '\n']).to_owned(), false)
            } else {
                (pdx_access::secrets::random_token(18)?, true)
            };
            let user = access
                .create_user_as_operator(&org, &email, &name, &password, roles, one_time)
                .await?;
            println!("created user {} ({}) in `{org}`", user.email, user.id);
            if one_time {
                println!(
                    "one-time password (change it at first sign-in): {}",
                    password.as_str()
                );
            }
        }
    }
    Ok(())
}

#[allow(
    clippy::print_stdout,
    reason = "the command's output is for the operator"
)]
async fn reindex(config: Config) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create {}", config.data_dir.display()))?;
    let database =
        pdx_server::app::prepare_database(&config.database_url()?, config.pool_options())?;
    let catalog = pdx_server::app::open_catalog(&config, database, Arc::new(SystemClock))?;
    if catalog.search_index().location().is_none() {
        catalog.request_reindex().await?;
        println!(
            "The search index is in use by a running server: every running server will rebuild its index now (see their logs)."
        );
        return Ok(());
    }
    let indexed = catalog.rebuild_search().await?;
    println!("Search index rebuilt: {indexed} published datasets.");
    Ok(())
}

#[allow(
    clippy::print_stdout,
    reason = "the command's output is for the operator"
)]
async fn rebuild_accounting(config: Config, time_zone: Option<String>) -> anyhow::Result<()> {
    let calendar = match time_zone {
        Some(zone) => pdx_circulation::accounting::Calendar::new(&zone)
            .map_err(|e| anyhow::anyhow!("--time-zone: {e}"))?,
        None => config.accounting.calendar()?,
    };
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create {}", config.data_dir.display()))?;
    let database =
        pdx_server::app::prepare_database(&config.database_url()?, config.pool_options())?;
    let public_url = config.public_url(config.bind_addr()?);
    let ledger =
        pdx_server::app::open_ledger(&config, database, &public_url, Arc::new(SystemClock))?;
    let started = std::time::Instant::now();
    let mut reported = std::time::Instant::now();
    let built = ledger
        .rebuild_accounting(calendar, move |entries| {
            if reported.elapsed() >= std::time::Duration::from_secs(2) {
                reported = std::time::Instant::now();
                tracing::info!(entries, "rebuilding usage roll-ups");
            }
        })
        .await?;
    println!(
        "Usage roll-ups rebuilt in {}: {} data requests up to ledger entry {} in {} rows, in {:.1} s.",
        calendar.name(),
        built.requests,
        built.entries,
        built.rows,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn load_demo(config: Config) -> anyhow::Result<()> {
    let access = operator_access(&config).await?;
    let database =
        pdx_server::app::prepare_database(&config.database_url()?, config.pool_options())?;
    let catalog = pdx_server::app::open_catalog(&config, database.clone(), Arc::new(SystemClock))?;
    let rows =
        pdx_server::app::open_rows(&config, database.clone(), &catalog, Arc::new(SystemClock))?;
    let accounts = pdx_server::demo::load(&access, &catalog, &rows, &database).await?;
    print_accounts(&accounts, &config.public_url(config.bind_addr()?));
    Ok(())
}

#[allow(
    clippy::print_stdout,
    reason = "the command's output is for the operator"
)]
fn print_accounts(accounts: &[pdx_server::demo::DemoAccount], url: &str) {
    println!("PDX demo catalog at {url}");
    println!(
        "Demo accounts (password `{}`, for evaluation only):",
        pdx_server::demo::DEMO_PASSWORD
    );
    for account in accounts {
        println!("  {:<44} {}", account.email, account.role);
    }
}

#[allow(
    clippy::print_stdout,
    reason = "the command's output is for the operator"
)]
async fn rotate_keys(config: Config) -> anyhow::Result<()> {
    if config.auth.signing_key_file.is_some() {
        anyhow::bail!("auth.signing_key_file is set: that key is rotated by replacing the file");
    }
    let access = operator_access(&config).await?;
    let retention = std::time::Duration::from_secs(config.auth.access_token_ttl_secs.max(1));
    let (kid, removed) = pdx_access::keys::rotate(
        &pdx_server::app::jwt_key_dir(&config),
        retention,
        chrono::Utc::now(),
    )?;
    access.record_key_rotation(&kid, &removed).await?;
    println!(
        "new signing key {kid}; removed {} expired key(s)",
        removed.len()
    );
    Ok(())
}

fn serve(config_file: Option<&Path>, demo: bool) -> anyhow::Result<()> {
    let config = Config::load(config_file)?;
    telemetry::init(&config);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let app = Application::build(config).await?;
        if demo {
            let accounts = app.load_demo().await?;
            print_accounts(&accounts, app.public_url());
        }
        app.run_until_stopped().await?;
        Ok(())
    })
}

fn migrate(config_file: Option<&Path>) -> anyhow::Result<()> {
    let config = Config::load(config_file)?;
    telemetry::init(&config);
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create {}", config.data_dir.display()))?;
    pdx_server::app::prepare_database(&config.database_url()?, config.pool_options())?;
    Ok(())
}

fn write_openapi(output: &Path) -> anyhow::Result<()> {
    let json = pdx_api::openapi_json().context("cannot serialise the OpenAPI document")?;
    if output == Path::new("-") {
        use std::io::Write;
        std::io::stdout().write_all(json.as_bytes())?;
    } else {
        if let Some(parent) = output.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(output, json)
            .with_context(|| format!("cannot write {}", output.display()))?;
    }
    Ok(())
}
