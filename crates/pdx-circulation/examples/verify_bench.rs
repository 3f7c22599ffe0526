//! Measures offline ledger verification: generates N synthetic entries (default 1,000,000),
//! signs a checkpoint over them and times `verify_export` on the NDJSON export.
//!
//! Run: `cargo run --release -p pdx-circulation --example verify_bench -- [N] [RUNS]`

use std::error::Error;
use std::time::Instant;

use ed25519_dalek::SigningKey;
use pdx_circulation::verify::{TreeBuilder, verify_export};
use pdx_circulation::{Checkpoint, Entry, LedgerKey};

const ORIGIN: &str = "pdx.bench/ledger";

/// A fixed-looking UUID for the `n`th thing of a kind.
fn id(kind: u64, n: u64) -> String {
    let x = n.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ kind;
    format!(
        "{:08x}-{:04x}-7{:03x}-8{:03x}-{:012x}",
        x >> 32,
        (x >> 16) & 0xffff,
        x & 0xfff,
        (x >> 4) & 0xfff,
        x.rotate_left(17) & 0xffff_ffff_ffff
    )
}

/// An entry with realistic field lengths, from which the others are made.
fn template() -> Result<Entry, Box<dyn Error>> {
    let value = serde_json::json!({
        "seq": 0,
        "time": "2026-07-01T12:34:56.789012Z",
        "request_id": id(1, 1),
        "kind": "data_access",
        "actor_user": id(2, 1),
        "actor_org": id(3, 1),
        "dataset": id(4, 1),
        "distribution": id(5, 1),
        "grant": id(6, 1),
        "purpose": "urban mobility research",
        "decision": "permit",
        "reason": "grant",
        "bytes": 0,
        "rows": 0,
        "fee": 0,
    });
    Ok(Entry::decode(value.to_string().as_bytes())?)
}

/// The canonical line of entry `seq`: mostly data requests under 500 grants of 50
/// organisations, some denied, with a sprinkling of other events.
fn line(template: &Entry, orgs: &[String], grants: &[String], seq: u64) -> Vec<u8> {
    let mut entry = template.clone();
    let denied = seq.is_multiple_of(17);
    entry.seq = seq;
    if seq % 20 == 19 {
        "grant_issued".clone_into(&mut entry.kind);
    }
    entry.actor_org = orgs.get(usize::try_from(seq % 50).unwrap_or(0)).cloned();
    entry.grant = grants.get(usize::try_from(seq % 500).unwrap_or(0)).cloned();
    if denied {
        "deny".clone_into(&mut entry.decision);
    } else {
        entry.bytes = 10_240 + seq % 4096;
        entry.rows = 100 + seq % 50;
        entry.fee = seq % 3 * 100;
    }
    entry.canonical()
}

#[allow(clippy::print_stdout, reason = "the benchmark's output is its report")]
fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let n: u64 = args.next().map_or(Ok(1_000_000), |a| a.parse())?;
    let runs: u32 = args.next().map_or(Ok(3), |a| a.parse())?;

    let started = Instant::now();
    let mut export = Vec::with_capacity(usize::try_from(n)?.saturating_mul(420));
    let mut tree = TreeBuilder::new();
    let template = template()?;
    let orgs: Vec<String> = (0..50).map(|n| id(3, n)).collect();
    let grants: Vec<String> = (0..500).map(|n| id(6, n)).collect();
    for seq in 0..n {
        let line = line(&template, &orgs, &grants, seq);
        tree.push(pdx_circulation::merkle::leaf_hash(&line));
        export.extend_from_slice(&line);
        export.push(b'\n');
    }
    let key = LedgerKey::new(ORIGIN, SigningKey::from_bytes(&[42; 32]))?;
    let note = key.sign(&Checkpoint {
        origin: ORIGIN.into(),
        size: n,
        root: tree.root(),
    });
    let verifier_key = key.verifier_key();
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
