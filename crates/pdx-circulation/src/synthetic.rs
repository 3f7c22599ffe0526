//! A synthetic ledger for measuring offline verification (the `verify_bench` example and the
//! benchmark): canonical entries like a busy exchange's — mostly data requests under 500 grants
//! of 50 organisations, some denied for quota, some other events — with a checkpoint over them
//! signed by a fixed key.

use ed25519_dalek::SigningKey;
use pdx_core::{DatasetId, DistributionId, GrantId, OrganizationId, UserId};

use crate::verify::TreeBuilder;
use crate::{Checkpoint, CheckpointError, Entry, LedgerKey};

const ORIGIN: &str = "pdx.bench/ledger";

/// An export with its signed checkpoint and the key that verifies it.
#[derive(Debug)]
pub struct SyntheticLedger {
    /// NDJSON: one canonical entry per line.
    pub export: Vec<u8>,
    /// The signed checkpoint of all of it.
    pub note: String,
    /// The verifier key of the checkpoint's signer.
    pub verifier_key: String,
}

/// A ledger of `n` entries.
pub fn ledger(n: u64) -> Result<SyntheticLedger, CheckpointError> {
    let ids = |count: usize, id: fn() -> String| (0..count).map(|_| id()).collect::<Vec<_>>();
    let orgs = ids(50, || OrganizationId::new().to_string());
    let users = ids(200, || UserId::new().to_string());
    let grants = ids(500, || GrantId::new().to_string());
    let datasets = ids(100, || DatasetId::new().to_string());
    let distributions = ids(100, || DistributionId::new().to_string());
    let pick = |items: &[String], seq: u64| {
        let index = usize::try_from(seq % 10_007).unwrap_or(0) % items.len().max(1);
        items.get(index).cloned()
    };
    let mut export = Vec::with_capacity(usize::try_from(n).unwrap_or(0).saturating_mul(450));
    let mut tree = TreeBuilder::new();
    for seq in 0..n {
        let mut entry = Entry::data_access();
        entry.seq = seq;
        entry.time = format!(
            "2026-07-01T{:02}:{:02}:{:02}.{:06}Z",
            (seq / 3_600_000) % 24,
            (seq / 60_000) % 60,
            (seq / 1_000) % 60,
            (seq % 1_000) * 997
        );
        entry.request_id = Some(DistributionId::new().to_string());
        entry.actor_org = pick(&orgs, seq);
        entry.actor_user = pick(&users, seq);
        entry.dataset = pick(&datasets, seq);
        entry.distribution = pick(&distributions, seq);
        entry.grant = pick(&grants, seq);
        entry.purpose = Some("urban mobility research".to_owned());
        if seq % 20 == 19 {
            "grant_issued".clone_into(&mut entry.kind);
            "success".clone_into(&mut entry.decision);
            "approved".clone_into(&mut entry.reason);
        } else if seq % 17 == 0 {
            "deny".clone_into(&mut entry.decision);
            "quota_exhausted".clone_into(&mut entry.reason);
        } else {
            "permit".clone_into(&mut entry.decision);
            "grant".clone_into(&mut entry.reason);
            entry.bytes = 10_240 + seq % 4096;
            entry.rows = 100 + seq % 50;
            entry.fee = seq % 3 * 100;
        }
        let line = entry.canonical();
        tree.push(crate::merkle::leaf_hash(&line));
        export.extend_from_slice(&line);
        export.push(b'\n');
    }
    let key = LedgerKey::new(ORIGIN, SigningKey::from_bytes(&[42; 32]))?;
    let note = key.sign(&Checkpoint {
        origin: ORIGIN.into(),
        size: n,
        root: tree.root(),
    });
    Ok(SyntheticLedger {
        export,
        note,
        verifier_key: key.verifier_key(),
    })
}
