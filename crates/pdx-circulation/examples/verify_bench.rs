//! Measures offline ledger verification: a synthetic ledger of N entries (default 1,000,000,
//! `pdx_circulation::synthetic`, as the benchmark uses) and `verify_export` timed over it.
//!
//! Run: `cargo run --release -p pdx-circulation --example verify_bench -- [N] [RUNS]`

use std::error::Error;
use std::time::Instant;

use pdx_circulation::synthetic::SyntheticLedger;
use pdx_circulation::verify::verify_export;

#[allow(clippy::print_stdout, reason = "the benchmark's output is its report")]
fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let n: u64 = args.next().map_or(Ok(1_000_000), |a| a.parse())?;
    let runs: u32 = args.next().map_or(Ok(3), |a| a.parse())?;

    let started = Instant::now();
    let SyntheticLedger {
        export,
        note,
        verifier_key,
    } = pdx_circulation::synthetic::ledger(n)?;
    println!(
        "generated {n} entries, {:.1} MB, in {:.1} s; verifying with {} thread(s)",
        export.len() as f64 / 1e6,
        started.elapsed().as_secs_f64(),
        std::thread::available_parallelism().map_or(1, usize::from)
    );

    let mut best = f64::INFINITY;
    for run in 1..=runs {
        let started = Instant::now();
        let report = verify_export(export.as_slice(), &note, &verifier_key)?;
        let seconds = started.elapsed().as_secs_f64();
        best = best.min(seconds);
        println!(
            "run {run}: {} entries in {:.3} s = {:.0} entries/s ({:.0} MB/s); {} grants, {} organisations, {} permitted, {} denied",
            report.entries,
            seconds,
            n as f64 / seconds,
            export.len() as f64 / 1e6 / seconds,
            report.grants.len(),
            report.organisations.len(),
            report.total.requests,
            report.total.denied,
        );
    }
    println!("best: {:.0} entries/s", n as f64 / best);
    Ok(())
}
