//! `pdx ledger`: offline checks of the circulation ledger with only its public key — an export
//! against a signed checkpoint, and the inclusion and consistency proofs the API hands out.
//!
//! No configuration, database or network is used. Each failure exits with its own code (see
//! `pdx_circulation::verify`); success exits with 0.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use pdx_circulation::Checkpoint;
use pdx_circulation::verify::{
    self, ConsistencyProof, InclusionProof, Report, UsageCount, VerifyError,
};

/// `pdx ledger …` parsed on its own, for callers other than the `pdx` binary.
#[derive(Debug, Parser)]
#[command(name = "pdx ledger")]
pub struct LedgerArgs {
    /// What to check.
    #[command(subcommand)]
    pub command: LedgerCommand,
}

/// Offline checks of the circulation ledger.
#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// Verify an NDJSON ledger export against a signed checkpoint and recount usage.
    ///
    /// Detects edited, deleted, inserted and reordered entries and forged checkpoints, then
    /// prints usage per grant and per organisation counted from the entries themselves. Exits
    /// 0 when verified, otherwise with the failure's code (2 to 13).
    Verify {
        /// The export: one entry's canonical JSON per line. A ledger exported in segments
        /// (`pdx ledger export --from`) is given segment by segment, in order, from the first.
        #[arg(long, value_name = "FILE", required = true)]
        export: Vec<PathBuf>,
        /// The signed checkpoint (C2SP signed note) the export should match.
        #[arg(long, value_name = "FILE")]
        checkpoint: PathBuf,
        /// The ledger's verifier key (`name+id+key`), or a file holding it.
        #[arg(long, value_name = "FILE_OR_KEY")]
        key: String,
        /// The IANA time zone of the monthly figures per organisation: the platform's
        /// accounting time zone, which GET /api/v1/accounting/usage states.
        #[arg(long, value_name = "ZONE", default_value = pdx_circulation::accounting::DEFAULT_TIME_ZONE)]
        time_zone: String,
        /// Print the report as JSON instead of tables.
        #[arg(long)]
        json: bool,
    },
    /// Check a proof returned by the API.
    #[command(subcommand)]
    Prove(ProveCommand),
}

/// The proofs `pdx ledger prove` checks.
#[derive(Debug, Subcommand)]
pub enum ProveCommand {
    /// Check that an entry is in the tree of a signed checkpoint.
    Inclusion {
        /// The inclusion proof (JSON: leaf_index, tree_size, hashes).
        #[arg(long, value_name = "FILE")]
        proof: PathBuf,
        /// The entry: its canonical JSON line, as in an export, or the answer of
        /// `GET /api/v1/ledger/entries/{seq}` saved as it is.
        #[arg(long, value_name = "FILE")]
        entry: PathBuf,
        /// The signed checkpoint.
        #[arg(long, value_name = "FILE")]
        checkpoint: PathBuf,
        /// The ledger's verifier key (`name+id+key`), or a file holding it.
        #[arg(long, value_name = "FILE_OR_KEY")]
        key: String,
    },
    /// Check that an older checkpoint's tree is a prefix of a newer one's: nothing was
    /// rewritten in between.
    Consistency {
        /// The consistency proof (JSON: from, to, hashes).
        #[arg(long, value_name = "FILE")]
        proof: PathBuf,
        /// The older signed checkpoint.
        #[arg(long, value_name = "FILE")]
        old_checkpoint: PathBuf,
        /// The newer signed checkpoint.
        #[arg(long, value_name = "FILE")]
        checkpoint: PathBuf,
        /// The ledger's verifier key (`name+id+key`), or a file holding it.
        #[arg(long, value_name = "FILE_OR_KEY")]
        key: String,
    },
}

/// Runs a ledger command: prints its report, or the error and its exit code.
pub fn run(command: LedgerCommand) -> ExitCode {
    match execute(command) {
        Ok(report) => {
            print_out(&report);
            ExitCode::SUCCESS
        }
        Err(error) => {
            print_error(&error);
            ExitCode::from(error.exit_code())
        }
    }
}

#[allow(clippy::print_stdout, reason = "the report is the command's output")]
fn print_out(report: &str) {
    print!("{report}");
}

#[allow(clippy::print_stderr, reason = "the failure is the command's output")]
fn print_error(error: &VerifyError) {
    eprintln!(
        "pdx ledger: FAILED (exit code {}): {error}",
        error.exit_code()
    );
}

/// Runs a command: its output, or why it failed.
pub fn execute(command: LedgerCommand) -> Result<String, VerifyError> {
    match command {
        LedgerCommand::Verify {
            export,
            checkpoint,
            key,
            time_zone,
            json,
        } => {
            let calendar = pdx_circulation::accounting::Calendar::new(&time_zone).map_err(|e| {
                VerifyError::Unreadable {
                    what: "--time-zone".into(),
                    source: std::io::Error::other(e.to_string()),
                }
            })?;
            let key = verifier_key(&key)?;
            let note = read_text(&checkpoint)?;
            let mut segments: Box<dyn Read> = Box::new(std::io::empty());
            for path in &export {
                let file = File::open(path).map_err(unreadable(path))?;
                segments = Box::new(segments.chain(file));
            }
            let report = verify::verify_export_in(
                BufReader::with_capacity(1 << 20, segments),
                &note,
                &key,
                calendar,
            )?;
            if json {
                let mut text = serde_json::to_string_pretty(&report).unwrap_or_default();
                text.push('\n');
                return Ok(text);
            }
            Ok(render_report(&report))
        }
        LedgerCommand::Prove(ProveCommand::Inclusion {
            proof,
            entry,
            checkpoint,
            key,
        }) => {
            let key = verifier_key(&key)?;
            let proof = InclusionProof::from_json(&read_bytes(&proof)?)?;
            let entry = entry_line(read_bytes(&entry)?);
            let note = read_text(&checkpoint)?;
            let checkpoint = verify::check_inclusion(&proof, &entry, &note, &key)?;
            Ok(format!(
                "OK: entry {} is in {}\n",
                proof.leaf_index,
                describe(&checkpoint)
            ))
        }
        LedgerCommand::Prove(ProveCommand::Consistency {
            proof,
            old_checkpoint,
            checkpoint,
            key,
        }) => {
            let key = verifier_key(&key)?;
            let proof = ConsistencyProof::from_json(&read_bytes(&proof)?)?;
            let old_note = read_text(&old_checkpoint)?;
            let new_note = read_text(&checkpoint)?;
            let (old, new) = verify::check_consistency(&proof, &old_note, &new_note, &key)?;
            Ok(format!(
                "OK: {} is a prefix of {}\n",
                describe(&old),
                describe(&new)
            ))
        }
    }
}

fn unreadable(path: &Path) -> impl FnOnce(std::io::Error) -> VerifyError {
    let what = path.display().to_string();
    move |source| VerifyError::Unreadable { what, source }
}

/// The canonical line of an entry given as that line (from an export) or as the API's answer
/// for one entry (`GET /api/v1/ledger/entries/{seq}`), whose `canonical` field holds it.
fn entry_line(bytes: Vec<u8>) -> Vec<u8> {
    #[derive(serde::Deserialize)]
    struct Answer {
        canonical: String,
    }
    match serde_json::from_slice::<Answer>(&bytes) {
        Ok(answer) => answer.canonical.into_bytes(),
        Err(_) => bytes,
    }
}

fn read_bytes(path: &Path) -> Result<Vec<u8>, VerifyError> {
    std::fs::read(path).map_err(unreadable(path))
}

fn read_text(path: &Path) -> Result<String, VerifyError> {
    std::fs::read_to_string(path).map_err(unreadable(path))
}

/// The verifier key given on the command line, or read from the file named there. A key
/// always holds a `+`, so anything else is taken for a file name.
fn verifier_key(given: &str) -> Result<String, VerifyError> {
    let path = Path::new(given);
    if path.is_file() || !given.contains('+') {
        let text = read_text(path)?;
        let line = text.lines().map(str::trim).find(|l| !l.is_empty());
        return Ok(line.unwrap_or_default().to_owned());
    }
    Ok(given.trim().to_owned())
}

fn describe(checkpoint: &Checkpoint) -> String {
    format!(
        "the checkpoint of {} at size {} (root {})",
        checkpoint.origin,
        checkpoint.size,
        verify::encode_hash(&checkpoint.root)
    )
}

/// The human-readable report of a verified export.
fn render_report(report: &Report) -> String {
    let mut out = String::new();
    let list = |counts: &std::collections::BTreeMap<String, u64>| {
        counts
            .iter()
            .map(|(name, n)| format!("{name} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    // Writing to a String cannot fail.
    let _ = writeln!(
        out,
        "OK: {} entries of {} match the signed checkpoint",
        report.entries, report.origin
    );
    let _ = writeln!(out, "root:      {}", verify::encode_hash(&report.root));
    let _ = writeln!(out, "kinds:     {}", list(&report.kinds));
    let _ = writeln!(out, "decisions: {}", list(&report.decisions));
    let table =
        |out: &mut String, title: &str, rows: &std::collections::BTreeMap<String, UsageCount>| {
            let width = rows
                .keys()
                .map(|k| k.chars().count())
                .chain([title.len(), "all data access".len()])
                .max()
                .unwrap_or(0);
            let _ = writeln!(out);
            let _ = writeln!(
                out,
                "{title:<width$}  {:>10}  {:>8}  {:>16}  {:>12}  {:>12}",
                "permitted", "denied", "bytes", "rows", "fee (fen)"
            );
            let line = |out: &mut String, name: &str, u: &UsageCount| {
                let pad = width.saturating_sub(name.chars().count());
                let _ = writeln!(
                    out,
                    "{name}{:pad$}  {:>10}  {:>8}  {:>16}  {:>12}  {:>12}",
                    "", u.requests, u.denied, u.bytes, u.rows, u.fee
                );
            };
            for (name, usage) in rows {
                line(out, name, usage);
            }
            line(out, "all data access", &report.total);
        };
    table(&mut out, "grant", &report.grants);
    table(&mut out, "organisation", &report.organisations);
    render_months(&mut out, report);
    out
}

/// The figures per local month and organisation, as the accounting API's usage and
/// statements count them: each organisation as consumer (what it received and owes) and as
/// provider (what it delivered and earns).
fn render_months(out: &mut String, report: &Report) {
    let width = report
        .months
        .values()
        .flat_map(|orgs| orgs.keys())
        .map(|k| k.chars().count())
        .chain(["organisation".len()])
        .max()
        .unwrap_or(0);
    let _ = writeln!(out);
    let _ = writeln!(out, "by month ({}) and organisation:", report.time_zone);
    let _ = writeln!(
        out,
        "{:<7}  {:<width$}  {:<8}  {:>10}  {:>8}  {:>8}  {:>16}  {:>12}  {:>12}",
        "month",
        "organisation",
        "side",
        "permitted",
        "denied",
        "replays",
        "bytes",
        "rows",
        "fee (fen)"
    );
    for (month, orgs) in &report.months {
        for (org, party) in orgs {
            for (side, f) in [("consumer", &party.consumer), ("provider", &party.provider)] {
                if *f == pdx_circulation::accounting::Figures::default() {
                    continue;
                }
                let pad = width.saturating_sub(org.chars().count());
                let _ = writeln!(
                    out,
                    "{month:<7}  {org}{:pad$}  {side:<8}  {:>10}  {:>8}  {:>8}  {:>16}  {:>12}  {:>12}",
                    "", f.requests, f.denied, f.replays, f.bytes, f.rows, f.fee
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifier_key_is_taken_as_given_or_read_from_a_file() {
        assert_eq!(
            verifier_key(" pdx+0a0b0c0d+AQID ").ok().as_deref(),
            Some("pdx+0a0b0c0d+AQID")
        );
        let missing = verifier_key("/no/such/key/file");
        assert_eq!(missing.err().map(|e| e.exit_code()), Some(2));
        let dir = std::env::temp_dir().join(format!("pdx-ledger-cli-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let file = dir.join("key.pub");
        let _ = std::fs::write(&file, "\npdx+0a0b0c0d+AQID\n");
        let read = verifier_key(&file.display().to_string());
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(read.ok().as_deref(), Some("pdx+0a0b0c0d+AQID"));
    }
}
