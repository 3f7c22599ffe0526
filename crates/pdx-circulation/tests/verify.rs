//! The offline verifier end to end: a real export signed with a real Ed25519 key verifies with
//! the right recount, and each kind of tampering fails with its own exit code; proofs likewise.
//! Also holds the Merkle tree and its proofs against a reference written from RFC 6962's text.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::SigningKey;
use pdx_circulation::accounting::{Calendar, Figures};
use pdx_circulation::merkle::{self, Hash};
use pdx_circulation::verify::{
    ConsistencyProof, InclusionProof, PartyFigures, Report, UsageCount, VerifyError,
    check_consistency, check_inclusion, verify_export, verify_export_in,
};
use pdx_circulation::{Checkpoint, Entry, LedgerKey};
use serde_json::json;
use sha2::{Digest, Sha256};

const ORIGIN: &str = "pdx.test/ledger";

fn key(seed: u8) -> LedgerKey {
    match LedgerKey::new(ORIGIN, SigningKey::from_bytes(&[seed; 32])) {
        Ok(key) => key,
        Err(e) => panic!("{e}"),
    }
}

/// The canonical line of an entry given as JSON (fields left out are absent or null).
fn canonical(value: serde_json::Value) -> Vec<u8> {
    match Entry::decode(value.to_string().as_bytes()) {
        Ok(entry) => entry.canonical(),
        Err(e) => panic!("{e}: {value}"),
    }
}

#[allow(clippy::too_many_arguments)]
fn entry(
    seq: u64,
    kind: &str,
    org: Option<&str>,
    grant: Option<&str>,
    decision: &str,
    bytes: u64,
    rows: u64,
    fee: u64,
) -> Vec<u8> {
    canonical(json!({
        "seq": seq,
        "time": format!("2026-07-01T12:00:{seq:02}.000000Z"),
        "request_id": format!("req-{seq}"),
        "kind": kind,
        "actor_user": org.map(|o| format!("clerk@{o}")),
        "actor_org": org,
        "dataset": "ds-1",
        "distribution": "dist-1",
        "grant": grant,
        "purpose": "research",
        "decision": decision,
        "reason": if decision == "deny" { "quota_exceeded" } else { "grant \"ok\" \\ é\n" },
        "bytes": bytes,
        "rows": rows,
        "fee": fee,
    }))
}

/// Twelve entries whose usage is counted by hand in `expected_report`.
fn lines() -> Vec<Vec<u8>> {
    let acme = Some("acme");
    let beta = Some("beta");
    vec![
        entry(
            0,
            "grant_issued",
            Some("agency-a"),
            Some("g1"),
            "permit",
            0,
            0,
            0,
        ),
        entry(1, "data_access", acme, Some("g1"), "permit", 1000, 10, 50),
        entry(2, "data_access", acme, Some("g1"), "permit", 2000, 20, 50),
        entry(3, "data_access", acme, Some("g1"), "deny", 0, 0, 0),
        entry(4, "data_access", beta, Some("g2"), "permit", 500, 5, 0),
        entry(5, "data_access", None, None, "permit", 300, 0, 0),
        entry(6, "data_access", beta, Some("g2"), "deny", 0, 0, 0),
        entry(7, "data_access", beta, None, "deny", 0, 0, 0),
        entry(
            8,
            "grant_revoked",
            Some("agency-a"),
            Some("g1"),
            "permit",
            0,
            0,
            0,
        ),
        entry(9, "data_access", acme, Some("g1"), "permit", 4000, 40, 100),
        entry(
            10,
            "data_access",
            Some("gamma 公司"),
            Some("g3"),
            "permit",
            1,
            1,
            1,
        ),
        entry(
            11,
            "dataset_published",
            Some("agency-a"),
            None,
            "permit",
            0,
            0,
            0,
        ),
    ]
}

fn leaves(lines: &[Vec<u8>]) -> Vec<Hash> {
    lines.iter().map(|l| merkle::leaf_hash(l)).collect()
}

/// A checkpoint over `lines` signed by the key of `seed`.
fn note(lines: &[Vec<u8>], seed: u8) -> String {
    key(seed).sign(&Checkpoint {
        origin: ORIGIN.into(),
        size: lines.len() as u64,
        root: merkle::root(&leaves(lines)),
    })
}

fn export(lines: &[Vec<u8>]) -> Vec<u8> {
    let mut text = Vec::new();
    for line in lines {
        text.extend_from_slice(line);
        text.push(b'\n');
    }
    text
}

fn usage(requests: u64, denied: u64, bytes: u64, rows: u64, fee: u64) -> UsageCount {
    UsageCount {
        requests,
        denied,
        bytes,
        rows,
        fee,
    }
}

fn expected_report() -> Report {
    let counts = |pairs: &[(&str, u64)]| -> BTreeMap<String, u64> {
        pairs.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect()
    };
    let usages = |pairs: &[(&str, UsageCount)]| -> BTreeMap<String, UsageCount> {
        pairs.iter().map(|(k, u)| ((*k).to_owned(), *u)).collect()
    };
    Report {
        origin: ORIGIN.into(),
        entries: 12,
        root: merkle::root(&leaves(&lines())),
        kinds: counts(&[
            ("data_access", 9),
            ("dataset_published", 1),
            ("grant_issued", 1),
            ("grant_revoked", 1),
        ]),
        decisions: counts(&[("deny", 3), ("permit", 9)]),
        // Permitted: 1, 2, 4, 5, 9, 10; denied: 3, 6, 7.
        total: usage(6, 3, 7801, 76, 201),
        grants: usages(&[
            ("g1", usage(3, 1, 7000, 70, 200)),
            ("g2", usage(1, 1, 500, 5, 0)),
            ("g3", usage(1, 0, 1, 1, 1)),
        ]),
        organisations: usages(&[
            ("acme", usage(3, 1, 7000, 70, 200)),
            ("beta", usage(1, 2, 500, 5, 0)),
            ("gamma 公司", usage(1, 0, 1, 1, 1)),
        ]),
        time_zone: "Asia/Shanghai".into(),
        months: BTreeMap::from([(
            "2026-07".to_owned(),
            BTreeMap::from([
                ("acme".to_owned(), consumed(3, 1, 7000, 70, 200)),
                ("beta".to_owned(), consumed(1, 2, 500, 5, 0)),
                ("gamma 公司".to_owned(), consumed(1, 0, 1, 1, 1)),
            ]),
        )]),
    }
}

fn consumed(requests: u64, denied: u64, bytes: u64, rows: u64, fee: u64) -> PartyFigures {
    PartyFigures {
        consumer: Figures {
            requests,
            denied,
            replays: 0,
            bytes,
            rows,
            fee,
        },
        provider: Figures::default(),
    }
}

/// A data request at `time` by `consumer` for data of `provider`.
fn request(seq: u64, time: &str, kind: &str, consumer: &str, decision: &str, fee: u64) -> Vec<u8> {
    canonical(json!({
        "seq": seq,
        "time": time,
        "request_id": null,
        "kind": kind,
        "actor_user": null,
        "actor_org": consumer,
        "provider_org": "agency",
        "dataset": "ds-1",
        "distribution": "dist-1",
        "grant": "g1",
        "purpose": "research",
        "decision": decision,
        "reason": "grant",
        "bytes": 10,
        "rows": 0,
        "fee": fee,
    }))
}

#[test]
fn months_are_local_and_count_both_parties_of_a_request() {
    // Shanghai's December starts at 2026-11-30T16:00:00Z; UTC's a day later.
    let lines = vec![
        request(
            0,
            "2026-11-30T15:59:59.000000Z",
            "data_access",
            "acme",
            "permit",
            5,
        ),
        request(
            1,
            "2026-11-30T16:00:00.000000Z",
            "data_access",
            "acme",
            "permit",
            7,
        ),
        request(
            2,
            "2026-11-30T16:00:01.000000Z",
            "data_access",
            "acme",
            "deny",
            0,
        ),
        request(
            3,
            "2026-11-30T16:00:02.000000Z",
            "data_replay",
            "acme",
            "permit",
            0,
        ),
    ];
    let figures = |requests, denied, replays, bytes, fee| Figures {
        requests,
        denied,
        replays,
        bytes,
        rows: 0,
        fee,
    };
    let both = |f: Figures| PartyFigures {
        consumer: f,
        provider: Figures::default(),
    };
    let provided = |f: Figures| PartyFigures {
        consumer: Figures::default(),
        provider: f,
    };
    let shanghai = verify_export(
        export(&lines).as_slice(),
        &note(&lines, 1),
        &key(1).verifier_key(),
    );
    let Ok(shanghai) = shanghai else {
        panic!("{shanghai:?}");
    };
    let november = figures(1, 0, 0, 10, 5);
    let december = figures(1, 1, 1, 10, 7);
    assert_eq!(
        shanghai.months,
        BTreeMap::from([
            (
                "2026-11".to_owned(),
                BTreeMap::from([
                    ("acme".to_owned(), both(november)),
                    ("agency".to_owned(), provided(november)),
                ])
            ),
            (
                "2026-12".to_owned(),
                BTreeMap::from([
                    ("acme".to_owned(), both(december)),
                    ("agency".to_owned(), provided(december)),
                ])
            ),
        ])
    );
    let utc = verify_export_in(
        export(&lines).as_slice(),
        &note(&lines, 1),
        &key(1).verifier_key(),
        Calendar::new("UTC").unwrap_or_default(),
    );
    let Ok(utc) = utc else {
        panic!("{utc:?}");
    };
    assert_eq!(utc.time_zone, "UTC");
    let all = figures(2, 1, 1, 20, 12);
    assert_eq!(
        utc.months,
        BTreeMap::from([(
            "2026-11".to_owned(),
            BTreeMap::from([
                ("acme".to_owned(), both(all)),
                ("agency".to_owned(), provided(all)),
            ])
        )])
    );
}

/// Verifies `lines` against a note, returning the exit code of the failure.
fn exit_code_of(export_bytes: &[u8], note: &str, verifier_key: &str) -> Result<Report, u8> {
    verify_export(export_bytes, note, verifier_key).map_err(|e| e.exit_code())
}

#[test]
fn verify_valid_export_recounts_usage_by_grant_and_organisation() {
    let lines = lines();
    let report = verify_export(
        export(&lines).as_slice(),
        &note(&lines, 1),
        &key(1).verifier_key(),
    );
    let Ok(report) = report else {
        panic!("{report:?}")
    };
    assert_eq!(report, expected_report());
}

#[test]
fn verify_export_without_final_newline_or_empty_succeeds() {
    let lines = lines();
    let mut text = export(&lines);
    text.pop();
    assert!(exit_code_of(&text, &note(&lines, 1), &key(1).verifier_key()).is_ok());
    let empty = exit_code_of(b"", &note(&[], 1), &key(1).verifier_key());
    let Ok(empty) = empty else {
        panic!("{empty:?}")
    };
    assert_eq!((empty.entries, empty.root), (0, merkle::empty_root()));
}

#[test]
fn verify_edited_but_canonical_entry_fails_with_root_mismatch() {
    let original = lines();
    let mut lines = original.clone();
    lines[4] = entry(
        4,
        "data_access",
        Some("beta"),
        Some("g2"),
        "permit",
        5,
        5,
        0,
    );
    let result = verify_export(
        export(&lines).as_slice(),
        &note(&original, 1),
        &key(1).verifier_key(),
    );
    assert!(
        matches!(result, Err(VerifyError::RootMismatch { entries: 12, .. })),
        "{result:?}"
    );
    assert_eq!(result.err().map(|e| e.exit_code()), Some(10));
}

#[test]
fn verify_non_canonical_entry_fails_with_bad_entry() {
    let original = lines();
    let note = note(&original, 1);
    let vkey = key(1).verifier_key();
    let text = |line: &[u8]| String::from_utf8_lossy(line).into_owned();
    let spaced = text(&original[5]).replacen("\":", "\": ", 1);
    let reordered = {
        // The same entry with its first two keys swapped.
        let line = text(&original[5]);
        let inner = &line[1..line.len() - 1];
        let parts: Vec<&str> = inner.splitn(3, ",\"").collect();
        format!("{{\"{},{},\"{}}}", parts[1], parts[0], parts[2])
    };
    let escaped = text(&original[5]).replacen("research", "r\\u0065search", 1);
    for (name, edited) in [
        ("extra space", spaced),
        ("reordered keys", reordered),
        ("needless escape", escaped),
        ("not JSON", "hello".to_owned()),
        (
            "unknown field",
            text(&original[5]).replacen("{", "{\"aaa\":1,", 1),
        ),
    ] {
        assert_ne!(edited.as_bytes(), original[5].as_slice(), "{name}");
        let mut lines = original.clone();
        lines[5] = edited.into_bytes();
        let result = verify_export(export(&lines).as_slice(), &note, &vkey);
        assert!(
            matches!(result, Err(VerifyError::BadEntry { line: 6, .. })),
            "{name}: {result:?}"
        );
        assert_eq!(result.err().map(|e| e.exit_code()), Some(6), "{name}");
    }
}

#[test]
fn verify_deleted_inserted_or_swapped_entries_fail_with_sequence() {
    let original = lines();
    let note = note(&original, 1);
    let vkey = key(1).verifier_key();
    let mut deleted = original.clone();
    deleted.remove(5);
    let mut inserted = original.clone();
    inserted.insert(4, original[3].clone());
    let mut swapped = original;
    swapped.swap(3, 4);
    for (name, lines, line, found, expected) in [
        ("deleted", deleted, 6, 6, 5),
        ("inserted", inserted, 5, 3, 4),
        ("swapped", swapped, 4, 4, 3),
    ] {
        let result = verify_export(export(&lines).as_slice(), &note, &vkey);
        let Err(error) = result else {
            panic!("{name} verified")
        };
        assert_eq!(error.exit_code(), 7, "{name}: {error}");
        assert!(
            matches!(error, VerifyError::Sequence { line: l, found: f, expected: e }
                if (l, f, e) == (line, found, expected)),
            "{name}: {error}"
        );
    }
}

#[test]
fn verify_truncated_export_fails_with_truncated() {
    let original = lines();
    let result = verify_export(
        export(&original[..10]).as_slice(),
        &note(&original, 1),
        &key(1).verifier_key(),
    );
    assert!(
        matches!(
            result,
            Err(VerifyError::Truncated {
                entries: 10,
                size: 12
            })
        ),
        "{result:?}"
    );
    assert_eq!(result.err().map(|e| e.exit_code()), Some(8));
}

#[test]
fn verify_export_with_appended_entry_fails_with_extra_entries() {
    let original = lines();
    let mut lines = original.clone();
    lines.push(entry(
        12,
        "data_access",
        Some("acme"),
        Some("g1"),
        "permit",
        9,
        9,
        9,
    ));
    let result = verify_export(
        export(&lines).as_slice(),
        &note(&original, 1),
        &key(1).verifier_key(),
    );
    assert!(
        matches!(
            result,
            Err(VerifyError::ExtraEntries {
                entries: 13,
                size: 12
            })
        ),
        "{result:?}"
    );
    assert_eq!(result.err().map(|e| e.exit_code()), Some(9));
}

#[test]
fn verify_forged_checkpoint_fails_with_bad_signature() {
    let lines = lines();
    let text = export(&lines);
    let vkey = key(1).verifier_key();
    let genuine = note(&lines, 1);
    let root = STANDARD.encode(merkle::root(&leaves(&lines)));
    let other_root = STANDARD.encode(merkle::root(&leaves(&lines[..11])));
    let forgeries = [
        ("modified size", genuine.replacen("\n12\n", "\n11\n", 1)),
        ("modified root", genuine.replacen(&root, &other_root, 1)),
        ("another key, same name", note(&lines, 2)),
    ];
    for (name, forged) in forgeries {
        assert_ne!(forged, genuine, "{name}");
        let result = verify_export(text.as_slice(), &forged, &vkey);
        assert!(
            matches!(result, Err(VerifyError::BadSignature(_))),
            "{name}: {result:?}"
        );
        assert_eq!(result.err().map(|e| e.exit_code()), Some(5), "{name}");
    }
}

#[test]
fn verify_with_bad_key_or_malformed_checkpoint_fails_early() {
    let lines = lines();
    let text = export(&lines);
    let note = note(&lines, 1);
    let vkey = key(1).verifier_key();
    for bad_key in [
        "not a key".to_owned(),
        vkey.replacen(ORIGIN, "pdx.other/ledger", 1),
        vkey[..vkey.len() - 4].to_owned(),
    ] {
        assert_eq!(
            exit_code_of(&text, &note, &bad_key).err(),
            Some(3),
            "{bad_key}"
        );
    }
    let no_blank_line = note.replacen("\n\n", "\n", 1);
    assert_eq!(exit_code_of(&text, &no_blank_line, &vkey).err(), Some(4));
}

#[test]
fn verify_unreadable_export_fails_with_io_code() {
    struct Broken;
    impl std::io::Read for Broken {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk on fire"))
        }
    }
    let lines = lines();
    let result = verify_export(
        std::io::BufReader::new(Broken),
        &note(&lines, 1),
        &key(1).verifier_key(),
    );
    assert_eq!(result.err().map(|e| e.exit_code()), Some(2));
}

#[test]
fn exit_codes_are_distinct_per_failure_class() {
    let errors = [
        VerifyError::Unreadable {
            what: "x".into(),
            source: std::io::Error::other("x"),
        },
        VerifyError::BadKey("x"),
        VerifyError::MalformedCheckpoint("x"),
        VerifyError::BadSignature("x".into()),
        VerifyError::BadEntry {
            line: 1,
            reason: "x".into(),
        },
        VerifyError::Sequence {
            line: 1,
            found: 1,
            expected: 0,
        },
        VerifyError::Truncated {
            entries: 0,
            size: 1,
        },
        VerifyError::ExtraEntries {
            entries: 1,
            size: 0,
        },
        VerifyError::RootMismatch {
            entries: 0,
            computed: String::new(),
            expected: String::new(),
        },
        VerifyError::ProofFailed,
        VerifyError::MalformedProof("x".into()),
        VerifyError::ProofMismatch("x".into()),
    ];
    let mut codes: Vec<u8> = errors.iter().map(VerifyError::exit_code).collect();
    assert!(
        codes.iter().all(|c| *c >= 2),
        "0 is success, 1 other failures"
    );
    codes.sort_unstable();
    codes.dedup();
    assert_eq!(codes.len(), errors.len());
}

/// The inclusion proof of entry `seq` as the API would send it, read back from its JSON.
fn inclusion(lines: &[Vec<u8>], seq: u64) -> InclusionProof {
    let Ok(hashes) = merkle::inclusion_proof(&leaves(lines), seq) else {
        panic!()
    };
    let proof = InclusionProof {
        leaf_index: seq,
        tree_size: lines.len() as u64,
        hashes,
    };
    let wire = serde_json::to_vec(&proof).unwrap_or_default();
    match InclusionProof::from_json(&wire) {
        Ok(read) => read,
        Err(e) => panic!("{e}: {}", String::from_utf8_lossy(&wire)),
    }
}

#[test]
fn prove_inclusion_of_every_entry_succeeds_and_tampering_fails() {
    let lines = lines();
    let note = note(&lines, 1);
    let vkey = key(1).verifier_key();
    for (seq, line) in (0u64..).zip(&lines) {
        let proof = inclusion(&lines, seq);
        let checked = check_inclusion(&proof, line, &note, &vkey);
        assert!(checked.is_ok(), "{seq}: {checked:?}");
        let code = |proof: &InclusionProof, line: &[u8]| {
            check_inclusion(proof, line, &note, &vkey)
                .err()
                .map(|e| e.exit_code())
        };
        let mut flipped = proof.clone();
        flipped.hashes[0][7] ^= 0x10;
        assert_eq!(code(&flipped, line), Some(11), "bit-flipped hash, {seq}");
        let mut wrong_index = proof.clone();
        wrong_index.leaf_index = (seq + 1) % 12;
        assert_eq!(
            code(&wrong_index, line),
            Some(13),
            "wrong leaf index, {seq}"
        );
        let mut wrong_size = proof.clone();
        wrong_size.tree_size = 13;
        assert_eq!(code(&wrong_size, line), Some(13), "wrong tree size, {seq}");
        // The right index and size, but the path of a neighbour.
        let other = inclusion(&lines, seq ^ 1);
        let borrowed = InclusionProof {
            leaf_index: seq,
            ..other
        };
        assert_eq!(
            code(&borrowed, line),
            Some(11),
            "another leaf's path, {seq}"
        );
    }
    let mut spaced = lines[2].clone();
    spaced.insert(1, b' ');
    assert_eq!(
        check_inclusion(&inclusion(&lines, 2), &spaced, &note, &vkey)
            .err()
            .map(|e| e.exit_code()),
        Some(6)
    );
    let mut with_newline = lines[2].clone();
    with_newline.push(b'\n');
    assert!(check_inclusion(&inclusion(&lines, 2), &with_newline, &note, &vkey).is_ok());
}

#[test]
fn malformed_proof_files_are_refused() {
    let hash = STANDARD.encode([7u8; 32]);
    let short = STANDARD.encode([7u8; 31]);
    for json in [
        format!(r#"{{"leaf_index":1,"tree_size":2,"hashes":["{hash}"],"extra":1}}"#),
        format!(r#"{{"leaf_index":1,"tree_size":2,"hashes":["{short}"]}}"#),
        r#"{"leaf_index":1,"tree_size":2,"hashes":["not base64!"]}"#.to_owned(),
        r#"{"leaf_index":-1,"tree_size":2,"hashes":[]}"#.to_owned(),
        r#"{"tree_size":2,"hashes":[]}"#.to_owned(),
        "[]".to_owned(),
    ] {
        let result = InclusionProof::from_json(json.as_bytes());
        assert_eq!(result.err().map(|e| e.exit_code()), Some(12), "{json}");
    }
    let wire = format!(r#"{{"from":1,"to":2,"hashes":["{hash}"]}}"#);
    assert!(ConsistencyProof::from_json(wire.as_bytes()).is_ok());
    let wire = format!(r#"{{"from":1,"to":2,"hashes":["{hash}"],"leaf_index":0}}"#);
    assert_eq!(
        ConsistencyProof::from_json(wire.as_bytes())
            .err()
            .map(|e| e.exit_code()),
        Some(12)
    );
}

#[test]
fn prove_consistency_between_checkpoints_succeeds_and_tampering_fails() {
    let lines = lines();
    let vkey = key(1).verifier_key();
    let new = note(&lines, 1);
    for from in 1..=12usize {
        let old = note(&lines[..from], 1);
        let Ok(hashes) = merkle::consistency_proof(&leaves(&lines), from as u64) else {
            panic!()
        };
        let proof = ConsistencyProof {
            from: from as u64,
            to: 12,
            hashes,
        };
        let wire = serde_json::to_vec(&proof).unwrap_or_default();
        let Ok(proof) = ConsistencyProof::from_json(&wire) else {
            panic!()
        };
        let checked = check_consistency(&proof, &old, &new, &vkey);
        let Ok((old_checkpoint, new_checkpoint)) = checked else {
            panic!("{from}: {checked:?}")
        };
        assert_eq!(
            (old_checkpoint.size, new_checkpoint.size),
            (from as u64, 12)
        );
        let code = |proof: &ConsistencyProof, old: &str, new: &str| {
            check_consistency(proof, old, new, &vkey)
                .err()
                .map(|e| e.exit_code())
        };
        if !proof.hashes.is_empty() {
            let mut flipped = proof.clone();
            let last = flipped.hashes.len() - 1;
            flipped.hashes[last][0] ^= 1;
            assert_eq!(code(&flipped, &old, &new), Some(11), "flipped hash, {from}");
        }
        let mut wrong_from = proof.clone();
        wrong_from.from += 1;
        assert_eq!(code(&wrong_from, &old, &new), Some(13), "{from}");
        if from < 12 {
            assert_eq!(code(&proof, &new, &old), Some(13), "swapped, {from}");
            // A forked log: the same size, other entries.
            let mut fork = lines[..from].to_vec();
            fork[from - 1] = entry(from as u64 - 1, "data_access", None, None, "deny", 0, 0, 0);
            assert_eq!(
                code(&proof, &note(&fork, 1), &new),
                Some(11),
                "fork, {from}"
            );
            assert_eq!(code(&proof, &note(&lines[..from], 2), &new), Some(5));
        }
    }
}

// A reference Merkle tree written from the text of RFC 6962 §2.1, over the leaf data itself
// and SHA-256 directly, to hold `merkle` to. (`merkle`'s own tests already compare `root`
// with a recursive MTH over leaf hashes; this adds the proofs and more sizes.)

fn sha256(parts: &[&[u8]]) -> Hash {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// The largest power of two smaller than n (n > 1).
fn k_of(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// MTH(D[n]).
fn mth(d: &[Vec<u8>]) -> Hash {
    match d {
        [] => sha256(&[]),
        [leaf] => sha256(&[&[0], leaf]),
        _ => {
            let k = k_of(d.len());
            sha256(&[&[1], &mth(&d[..k]), &mth(&d[k..])])
        }
    }
}

/// PATH(m, D[n]).
fn path(m: usize, d: &[Vec<u8>]) -> Vec<Hash> {
    if d.len() <= 1 {
        return Vec::new();
    }
    let k = k_of(d.len());
    if m < k {
        let mut p = path(m, &d[..k]);
        p.push(mth(&d[k..]));
        p
    } else {
        let mut p = path(m - k, &d[k..]);
        p.push(mth(&d[..k]));
        p
    }
}

/// PROOF(m, D[n]) = SUBPROOF(m, D[n], true).
fn proof(m: usize, d: &[Vec<u8>]) -> Vec<Hash> {
    subproof(m, d, true)
}

fn subproof(m: usize, d: &[Vec<u8>], b: bool) -> Vec<Hash> {
    let n = d.len();
    if m == n {
        return if b { Vec::new() } else { vec![mth(d)] };
    }
    let k = k_of(n);
    if m <= k {
        let mut p = subproof(m, &d[..k], b);
        p.push(mth(&d[k..]));
        p
    } else {
        let mut p = subproof(m - k, &d[k..], false);
        p.push(mth(&d[..k]));
        p
    }
}

/// A deterministic generator (SplitMix64).
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap_or(0)
    }
}

#[test]
fn merkle_roots_and_proofs_agree_with_the_rfc_6962_reference() {
    let mut rng = SplitMix(6962);
    let mut sizes: Vec<usize> = (0..=70).collect();
    for p in (7..=10).map(|e| 1usize << e) {
        sizes.extend([p - 1, p, p + 1]);
    }
    sizes.extend((0..6).map(|_| 71 + rng.below(1200)));
    for n in sizes {
        let data: Vec<Vec<u8>> = (0..n)
            .map(|i| format!("leaf {i} of {n} {}", rng.next()).into_bytes())
            .collect();
        let hashes: Vec<Hash> = data.iter().map(|d| merkle::leaf_hash(d)).collect();
        let root = mth(&data);
        assert_eq!(merkle::root(&hashes), root, "root of {n}");
        // Every index and old size for small trees; for large ones the edges, the split
        // point and its neighbours, and a random few (the reference is O(n) a proof).
        let picks: Vec<usize> = if n <= 70 {
            (0..n).collect()
        } else {
            let k = k_of(n);
            let mut p = vec![0, 1, k - 1, k, k + 1, n - 2, n - 1];
            p.extend((0..3).map(|_| rng.below(n)));
            p.retain(|m| *m < n);
            p
        };
        for &m in &picks {
            let expected = path(m, &data);
            let Ok(made) = merkle::inclusion_proof(&hashes, m as u64) else {
                panic!("{m} of {n}")
            };
            assert_eq!(made, expected, "PATH({m}, D[{n}])");
            assert!(
                merkle::verify_inclusion(&hashes[m], m as u64, n as u64, &expected, &root).is_ok()
            );
            let old = m + 1;
            let expected = proof(old, &data);
            let Ok(made) = merkle::consistency_proof(&hashes, old as u64) else {
                panic!("{old} of {n}")
            };
            assert_eq!(made, expected, "PROOF({old}, D[{n}])");
            let old_root = mth(&data[..old]);
            assert!(
                merkle::verify_consistency(old as u64, n as u64, &expected, &old_root, &root)
                    .is_ok(),
                "{old} -> {n}"
            );
        }
    }
}

#[test]
fn tree_builder_root_agrees_with_the_reference_for_random_sizes() {
    let mut rng = SplitMix(42);
    for _ in 0..20 {
        let n = rng.below(3000);
        let data: Vec<Vec<u8>> = (0..n).map(|i| i.to_string().into_bytes()).collect();
        let mut builder = pdx_circulation::verify::TreeBuilder::new();
        for d in &data {
            builder.push(merkle::leaf_hash(d));
        }
        assert_eq!(builder.root(), mth(&data), "{n}");
    }
}
