//! Seeds a PDX database with N published datasets of realistic, varied metadata (bilingual
//! titles, keywords, themes, formats, classifications) for search benchmarks.
//!
//! `cargo run --release -p pdx-tests --example seed -- DATABASE_URL [COUNT]`

#[path = "seeding.rs"]
mod seeding;

use std::time::Instant;

use pdx_storage::{Database, DatabaseUrl, PoolOptions};

#[allow(
    clippy::print_stderr,
    reason = "progress for the operator of the benchmark"
)]
fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("usage: seed DATABASE_URL [COUNT]"))?;
    let count: usize = args
        .next()
        .map(|c| c.parse())
        .transpose()?
        .unwrap_or(100_000);
    let database = Database::connect(&DatabaseUrl::parse(&url)?, PoolOptions::default())?;
    database.migrate()?;
    let started = Instant::now();
    seeding::seed(&database, count, |done| eprint!("\rseeded {done} datasets"))?;
    eprintln!(
        "\nseeded {count} datasets in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
