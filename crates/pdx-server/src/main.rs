//! The `pdx` command: serve the platform, migrate its database, or write its OpenAPI document.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Parser, Subcommand};
use pdx_server::{Application, Config, telemetry};

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
    Serve,
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
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(cli.config.as_deref()),
        Command::Migrate => migrate(cli.config.as_deref()),
        Command::Openapi { output } => write_openapi(&output),
    }
}

fn serve(config_file: Option<&Path>) -> anyhow::Result<()> {
    let config = Config::load(config_file)?;
    telemetry::init(&config);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let app = Application::build(config).await?;
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
