//! The `pdx` command: serve the platform, migrate its database, or write its OpenAPI document.

/// jemalloc instead of glibc's allocator: glibc gives each of the many threads that serve
/// requests and run database work an arena of its own and keeps freed memory in each, which
/// roughly doubled the server's resident memory under load. It serves the C code linked in
/// too (SQLite's page caches and statements): the `override_allocator_on_supported_platforms`
/// feature replaces `malloc` and `free` for the whole process, so no glibc arena keeps what
/// SQLite freed. Its options are read from `MALLOC_CONF`.
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
    /// Manage the server keys kept in the database under the master key.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// The catalog's search index.
    #[command(subcommand)]
    Search(SearchCommand),
    /// Usage accounting kept from the ledger.
    #[command(subcommand)]
    Accounting(AccountingCommand),
    /// The configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Look at the installation and report what an operator should fix: the configuration,
    /// permissions of key files, disk space, pending migrations, clock skew against the
    /// database, the server keys, the blob store and the ledger's checkpoints. Exits 1 when
    /// something must be fixed.
    Doctor,
    /// The circulation ledger: export it for archiving, and check exports and proofs offline
    /// (no network, no database): verify an export against a signed checkpoint and recount
    /// usage, or check a proof.
    #[command(subcommand)]
    Ledger(LedgerCommand),
    /// Write a consistent backup of a running or stopped installation into one archive
    /// (tar.gz, mode 0600): the SQLite database and row tables, the stored files and, when it
    /// lives in the data directory, the master key. On PostgreSQL, dump the database with
    /// pg_dump first (see OPERATIONS.md); the archive holds the rest.
    Backup {
        /// The archive to write; never overwritten.
        #[arg(long, short, value_name = "FILE")]
        output: PathBuf,
        /// Leave the master key out (keep it apart from the archive, e.g. in a secret store).
        #[arg(long)]
        omit_master_key: bool,
    },
    /// Copy this SQLite installation into a new, empty PostgreSQL database, to scale out:
    /// every table and row table in one consistent snapshot and one transaction, and with
    /// --blob-store its files into the bucket the new servers will share; the ledger is then
    /// verified in PostgreSQL. Stop the server first: what it writes meanwhile is not copied.
    CopyToPostgres {
        /// The new database, e.g. postgres://pdx@db.internal/pdx (migrated here; it must not
        /// hold a platform yet).
        #[arg(long, value_name = "URL")]
        database: String,
        /// Copy the stored files there too, e.g. s3://pdx-blobs/catalog (endpoint and
        /// credentials from the AWS_* environment). Without it, the new servers need this
        /// installation's store.
        #[arg(long, value_name = "DIR_OR_URL")]
        blob_store: Option<String>,
    },
    /// Restore a backup into a new installation (this configuration's data directory and
    /// database must not hold one yet), check every file against the archive's manifest, and
    /// verify the restored ledger.
    Restore {
        /// The archive written by `pdx backup`.
        #[arg(long, short, value_name = "FILE")]
        input: PathBuf,
    },
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
enum LedgerCommand {
    /// Export the ledger for archiving: entries up to a signed checkpoint as NDJSON, the
    /// checkpoint and the verifier key, into a directory or an s3://bucket/prefix (with the
    /// [catalog.s3] settings). What `pdx ledger verify` checks.
    Export {
        /// A directory or s3://bucket/prefix.
        #[arg(long, short, value_name = "DIR_OR_URL")]
        output: String,
        /// Export only the entries after an earlier export of this size (a segment,
        /// `ledger-FROM-TO.ndjson`). Default: where the destination's latest export ended,
        /// once its checkpoint is checked to be this ledger's (0 when it holds none), so a
        /// scheduled run grows the archive by what is new.
        #[arg(long, value_name = "SIZE")]
        from: Option<u64>,
        /// Export up to this checkpoint's size; default: the latest checkpoint.
        #[arg(long, value_name = "SIZE")]
        to: Option<u64>,
    },
    #[command(flatten)]
    Offline(ledger_cli::LedgerCommand),
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Validate the configuration (file, then PDX_* environment) without starting anything;
    /// exits 1 with each problem named by its key.
    Check,
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
    /// Add a new JWT signing key; every running server publishes it within 30 seconds and
    /// signs with it from a minute on. Older keys keep verifying until their tokens expire,
    /// and keys past that are removed.
    Rotate,
    /// Seal every server key anew under the current master key, after the master key was
    /// changed (the old one given in keys.previous_master_key_files). Then remove the old
    /// master key from every server's configuration.
    Reseal,
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
        Command::Keys(KeysCommand::Reseal) => reseal_keys(cli.config.as_deref()),
        Command::Search(SearchCommand::Reindex) => run_async(cli.config.as_deref(), reindex),
        Command::Accounting(AccountingCommand::Rebuild { time_zone }) => {
            run_async(cli.config.as_deref(), |config| {
                rebuild_accounting(config, time_zone)
            })
        }
        Command::Ledger(LedgerCommand::Offline(command)) => return Ok(ledger_cli::run(command)),
        Command::Ledger(LedgerCommand::Export { output, from, to }) => {
            run_async(cli.config.as_deref(), |config| {
                export_ledger(config, output, from, to)
            })
        }
        Command::Backup {
            output,
            omit_master_key,
        } => run_async(cli.config.as_deref(), |config| {
            backup(config, output, omit_master_key)
        }),
        Command::Restore { input } => {
            run_async(cli.config.as_deref(), |config| restore(config, input))
        }
        Command::CopyToPostgres {
            database,
            blob_store,
        } => run_async(cli.config.as_deref(), |config| {
            copy_to_postgres(config, database, blob_store)
        }),
        Command::Config(ConfigCommand::Check) => return check_config(cli.config.as_deref()),
        Command::Doctor => return doctor(cli.config.as_deref()),
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

/// The migrated database and its vault, as an operator command uses them.
fn operator_database(
    config: &Config,
) -> anyhow::Result<(pdx_storage::Database, pdx_storage::vault::Vault)> {
    let database = migrated_database(config)?;
    let (vault, _) = pdx_server::keys::open_vault(config, &database)?;
    Ok((database, vault))
}

/// The migrated database an operator command works on (its data directory created).
fn migrated_database(config: &Config) -> anyhow::Result<pdx_storage::Database> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create {}", config.data_dir.display()))?;
    Ok(pdx_server::app::prepare_database(
        &config.database_url()?,
        config.pool_options(),
    )?)
}

async fn operator_access(config: &Config) -> anyhow::Result<pdx_access::AccessService> {
    let (database, vault) = operator_database(config)?;
    let public_url = config.public_url(config.bind_addr()?);
    let access =
        pdx_server::app::open_access(config, database, &vault, &public_url, Arc::new(SystemClock))?;
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
    let ledger = pdx_server::app::open_ledger_as_operator(&config, migrated_database(&config)?)?;
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
    let (database, vault) = operator_database(&config)?;
    let catalog = pdx_server::app::open_catalog(&config, database.clone(), Arc::new(SystemClock))?;
    let rows = pdx_server::app::open_rows(
        &config,
        database.clone(),
        &vault,
        &catalog,
        Arc::new(SystemClock),
    )?;
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
    let (_, vault) = operator_database(&config)?;
    let retention = std::time::Duration::from_secs(config.auth.access_token_ttl_secs.max(1));
    let now = chrono::Utc::now();
    let activation = pdx_access::keys::ACTIVATION_DELAY;
    let (kid, removed) = pdx_access::keys::rotate(&vault, retention, now, activation)?;
    access.record_key_rotation(&kid, &removed).await?;
    let signs_from = now + chrono::Duration::from_std(activation).unwrap_or_default();
    println!(
        "new signing key {kid}, published now and signing from {} (by then every running \
         server has loaded it); removed {} expired key(s)",
        signs_from.format("%Y-%m-%d %H:%M:%S UTC"),
        removed.len()
    );
    Ok(())
}

#[allow(
    clippy::print_stdout,
    reason = "the command's output is for the operator"
)]
fn reseal_keys(config_file: Option<&Path>) -> anyhow::Result<()> {
    let config = Config::load(config_file)?;
    telemetry::init(&config);
    let (_, vault) = operator_database(&config)?;
    let resealed = vault.reseal()?;
    println!(
        "{resealed} server key(s) resealed under master key {}; every key now opens with it alone",
        vault.master_key_id()
    );
    Ok(())
}

#[allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "the command's output is for the operator"
)]
fn check_config(config_file: Option<&Path>) -> anyhow::Result<std::process::ExitCode> {
    let config = match Config::load(config_file) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("FAIL  {error}");
            return Ok(std::process::ExitCode::FAILURE);
        }
    };
    let report = pdx_server::check::config(&config);
    print!("{}", report.render());
    Ok(exit_code(&report))
}

fn exit_code(report: &pdx_server::check::Report) -> std::process::ExitCode {
    if report.worst() == pdx_server::check::Level::Fail {
        std::process::ExitCode::FAILURE
    } else {
        std::process::ExitCode::SUCCESS
    }
}

#[allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "the command's output is for the operator"
)]
fn doctor(config_file: Option<&Path>) -> anyhow::Result<std::process::ExitCode> {
    let config = match Config::load(config_file) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("FAIL  {error}");
            return Ok(std::process::ExitCode::FAILURE);
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let report = runtime.block_on(pdx_server::check::doctor(&config));
    print!("{}", report.render());
    Ok(exit_code(&report))
}

#[allow(
    clippy::print_stdout,
    reason = "the command's output is for the operator"
)]
async fn export_ledger(
    config: Config,
    output: String,
    from: Option<u64>,
    to: Option<u64>,
) -> anyhow::Result<()> {
    let export = pdx_server::backup::export_ledger(&config, &output, from, to).await?;
    let [entries, checkpoint, key] = export.written.as_slice() else {
        println!(
            "Nothing to export: no checkpoint was signed after entry {}.",
            export.from
        );
        return Ok(());
    };
    println!(
        "Exported entries {}..{} of the ledger to {output}: {}",
        export.from,
        export.size,
        export.written.join(", ")
    );
    let earlier = if export.from > 0 {
        "--export <the earlier segments, in order> "
    } else {
        ""
    };
    println!(
        "Check it offline: pdx ledger verify {earlier}--export {entries} --checkpoint {checkpoint} \
         --key {key}"
    );
    println!(
        "Next time, `pdx ledger export --output {output}` continues from entry {}.",
        export.size
    );
    Ok(())
}

#[allow(
    clippy::print_stdout,
    reason = "the command's output is for the operator"
)]
async fn backup(config: Config, output: PathBuf, omit_master_key: bool) -> anyhow::Result<()> {
    let manifest = pdx_server::backup::backup(&config, &output, omit_master_key).await?;
    let bytes: u64 = manifest.files.iter().map(|f| f.size).sum();
    println!(
        "Backup written to {}: {} files, {:.1} MiB before compression; ledger of {} entries \
         (checkpoint at {}).",
        output.display(),
        manifest.files.len(),
        bytes as f64 / (1 << 20) as f64,
        manifest.ledger_size,
        manifest.checkpoint_size
    );
    if manifest.master_key_included {
        println!("The archive holds the master key: keep it as secret as the key itself.");
    } else {
        println!(
            "The master key ({}) is not in the archive: keep it where it is kept now, apart \
             from the archive.",
            manifest.master_key_id
        );
    }
    if manifest.backend == "postgres" {
        println!("The database is not in the archive: dump it with pg_dump (see OPERATIONS.md).");
    }
    Ok(())
}

#[allow(
    clippy::print_stdout,
    reason = "the command's output is for the operator"
)]
async fn restore(config: Config, input: PathBuf) -> anyhow::Result<()> {
    let restored = pdx_server::backup::restore(&config, &input).await?;
    println!(
        "Restored the backup of {} (taken {}): {} stored files, {} row tables.",
        restored.manifest.instance,
        restored.manifest.created_at.format("%Y-%m-%d %H:%M:%S UTC"),
        restored.blobs,
        restored.tables
    );
    if restored.ledger.problems.is_empty() {
        println!(
            "The ledger verifies: {} entries, the latest checkpoint checked against the key \
             and the entries.",
            restored.ledger.size
        );
        Ok(())
    } else {
        anyhow::bail!(
            "the restored ledger does not verify: {}",
            restored.ledger.problems.join("; ")
        )
    }
}

#[allow(
    clippy::print_stdout,
    reason = "the command's output is for the operator"
)]
async fn copy_to_postgres(
    config: Config,
    database: String,
    blob_store: Option<String>,
) -> anyhow::Result<()> {
    // The new store's S3 settings: the AWS_* environment, or this installation's [catalog.s3].
    let files_to = blob_store
        .as_deref()
        .map(|url| pdx_server::backup::open_destination(&config, url))
        .transpose()?;
    let copied =
        pdx_server::transfer::copy_to_postgres(&config, &database, files_to.as_ref()).await?;
    let rows: u64 = copied.tables.iter().map(|(_, rows)| rows).sum();
    println!(
        "Copied {} tables ({rows} rows) and {} row tables ({} rows) into PostgreSQL.",
        copied.tables.len(),
        copied.row_tables.tables,
        copied.row_tables.rows
    );
    match &blob_store {
        Some(store) => println!(
            "Copied {} stored files ({} bytes) to {store}.",
            copied.files, copied.file_bytes
        ),
        None => println!(
            "The stored files were not copied: the new servers need this installation's blob \
             store, or run again into a new database with --blob-store."
        ),
    }
    println!(
        "The ledger verifies in PostgreSQL: {} entries, the latest checkpoint checked against \
         the key and the entries.",
        copied.ledger_entries
    );
    if copied.written_meanwhile > 0 {
        println!(
            "WARNING: this installation wrote {} more ledger entries while it was copied; they \
             are not in the copy. Stop the server and copy again into a new database.",
            copied.written_meanwhile
        );
    }
    println!("Configure each new server with:");
    // The URL as given may hold a password: shown masked, as the server logs it.
    let shown = pdx_storage::DatabaseUrl::parse(&database)
        .map_or_else(|_| "the --database URL".to_owned(), |url| url.to_string());
    println!("  database_url = {shown:?} (with its password)");
    if let Some(store) = &blob_store {
        println!("  catalog.blob_store = {store:?}");
    }
    println!(
        "  the public_url this installation has ({}): it names the ledger and the tokens",
        config.public_url(config.bind_addr()?)
    );
    println!(
        "  as its master key, {}",
        pdx_server::transfer::master_key_hint(&config)
    );
    Ok(())
}

fn serve(config_file: Option<&Path>, demo: bool) -> anyhow::Result<()> {
    let config = Config::load(config_file)?;
    telemetry::init(&config);
    return_freed_memory();
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

/// Has the allocator's background threads give freed memory back to the system on their own
/// schedule (over jemalloc's decay time, ten seconds), idle or not. Without them memory goes
/// back only when some thread allocates again: after a start's password hashing (19 MiB
/// each) and its API description, an idle server kept about 30 MiB it no longer used.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn return_freed_memory() {
    if let Err(error) = tikv_jemalloc_ctl::background_thread::write(true) {
        tracing::warn!(%error, "the allocator's background threads did not start");
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn return_freed_memory() {}

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

#[cfg(test)]
mod tests {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn the_allocator_returns_freed_memory_in_the_background() {
        assert_eq!(
            tikv_jemalloc_ctl::background_thread::read().ok(),
            Some(false)
        );
        super::return_freed_memory();
        assert_eq!(
            tikv_jemalloc_ctl::background_thread::read().ok(),
            Some(true)
        );
    }

    /// SQLite is C and calls `malloc`: its memory must come from jemalloc too, or it lands in
    /// glibc arenas that keep it (60 MiB after one table load, before the override).
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn sqlite_allocates_through_jemalloc() {
        use diesel::{Connection, RunQueryDsl};
        use tikv_jemalloc_ctl::{epoch, stats};

        let allocated = || {
            epoch::advance().ok();
            stats::allocated::read().unwrap_or(0)
        };
        let Ok(mut conn) = diesel::SqliteConnection::establish(":memory:") else {
            panic!("cannot open an in-memory SQLite database")
        };
        let before = allocated();
        for statement in [
            "PRAGMA cache_size = -65536",
            "CREATE TABLE filler (bytes BLOB)",
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 4096) \
             INSERT INTO filler SELECT randomblob(4096) FROM n",
        ] {
            if let Err(error) = diesel::sql_query(statement).execute(&mut conn) {
                panic!("{statement}: {error}");
            }
        }
        let grown = allocated().saturating_sub(before);
        assert!(
            grown > 12 << 20,
            "16 MiB held by SQLite, but jemalloc saw only {grown} bytes allocated"
        );
        drop(conn);
    }
}
