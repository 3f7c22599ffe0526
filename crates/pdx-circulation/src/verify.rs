//! Offline verification with only the ledger's public key: an NDJSON export against a signed
//! checkpoint (with a recount of usage), and inclusion and consistency proofs.
//!
//! An export holds one entry per line, each line exactly the entry's canonical bytes, which are
//! the Merkle leaf data. The export is read once, streaming: lines are checked and hashed in
//! parallel chunks and folded into a stack of perfect-subtree roots, so memory stays bounded
//! whatever the ledger's size.
//!
//! Every failure class has its own process exit code (`pdx ledger verify` / `pdx ledger prove`):
//!
//! | code | error | what it means |
//! |---|---|---|
//! | 0 | — | verified |
//! | 2 | [`VerifyError::Unreadable`] | a file cannot be read (also clap's code for bad usage) |
//! | 3 | [`VerifyError::BadKey`] | the verifier key is malformed |
//! | 4 | [`VerifyError::MalformedCheckpoint`] | the checkpoint is not a well-formed signed note |
//! | 5 | [`VerifyError::BadSignature`] | no valid signature by the key: size or root altered, or signed by another key |
//! | 6 | [`VerifyError::BadEntry`] | a line is not an entry, or not its canonical bytes (edited) |
//! | 7 | [`VerifyError::Sequence`] | line *i* does not hold seq *i*: entries deleted, inserted or reordered |
//! | 8 | [`VerifyError::Truncated`] | the export has fewer entries than the checkpoint |
//! | 9 | [`VerifyError::ExtraEntries`] | the export has more entries than the checkpoint |
//! | 10 | [`VerifyError::RootMismatch`] | sizes agree but the root differs: an entry edited in place |
//! | 11 | [`VerifyError::ProofFailed`] | a proof does not lead to the checkpoint's root |
//! | 12 | [`VerifyError::MalformedProof`] | a proof file is not a well-formed proof |
//! | 13 | [`VerifyError::ProofMismatch`] | a proof is for another entry, tree size or log |

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::io::BufRead;
use std::ops::Range;
use std::sync::{Mutex, mpsc};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use crate::accounting::{Calendar, Figures, Outcome as RequestOutcome};
use crate::checkpoint::{Checkpoint, CheckpointError, NoteVerifier};
use crate::entry::{DATA_ACCESS, Entry};
use crate::merkle::{self, Hash, MerkleError, empty_root, leaf_hash, node_hash};

/// A line longer than this is refused rather than buffered.
const MAX_LINE: u64 = 1 << 20;
/// Bytes of whole lines handed to a worker at a time.
const CHUNK_BYTES: usize = 256 * 1024;

/// Why an export or a proof does not verify.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// A file cannot be read.
    #[error("cannot read {what}: {source}")]
    Unreadable {
        /// What was being read.
        what: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The verifier key is malformed.
    #[error("bad verifier key: {0}")]
    BadKey(&'static str),
    /// The checkpoint is not a well-formed signed note.
    #[error("malformed checkpoint: {0}")]
    MalformedCheckpoint(&'static str),
    /// No signature line by the key verifies.
    #[error("the checkpoint has no valid signature by {0}: altered, or signed by another key")]
    BadSignature(String),
    /// A line is not an entry's canonical bytes.
    #[error("line {line}: {reason}")]
    BadEntry {
        /// The line number, from 1.
        line: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// A line's seq is not its position: entries were deleted, inserted or reordered.
    #[error(
        "line {line}: seq {found}, expected {expected} (entries deleted, inserted or reordered)"
    )]
    Sequence {
        /// The line number, from 1.
        line: u64,
        /// The seq the line holds.
        found: u64,
        /// The seq it should hold.
        expected: u64,
    },
    /// The export ends before the checkpoint's size.
    #[error("the export is truncated: {entries} entries, the checkpoint covers {size}")]
    Truncated {
        /// Entries in the export.
        entries: u64,
        /// The checkpoint's size.
        size: u64,
    },
    /// The export goes on past the checkpoint's size.
    #[error("the export has {entries} entries, more than the {size} the checkpoint covers")]
    ExtraEntries {
        /// Entries in the export.
        entries: u64,
        /// The checkpoint's size.
        size: u64,
    },
    /// The entries do not hash to the checkpoint's root.
    #[error(
        "the {entries} entries hash to {computed}, the checkpoint's root is {expected}: an entry was edited"
    )]
    RootMismatch {
        /// Entries in the export.
        entries: u64,
        /// The root computed from the export, base64.
        computed: String,
        /// The checkpoint's root, base64.
        expected: String,
    },
    /// The proof does not lead to the checkpoint's root.
    #[error("the proof does not verify against the checkpoint")]
    ProofFailed,
    /// The proof is not a well-formed proof.
    #[error("malformed proof: {0}")]
    MalformedProof(String),
    /// The proof is for another entry, tree size or log.
    #[error("the proof does not fit: {0}")]
    ProofMismatch(String),
}

impl VerifyError {
    /// The process exit code of this failure class (see the table in the module docs).
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Unreadable { .. } => 2,
            Self::BadKey(_) => 3,
            Self::MalformedCheckpoint(_) => 4,
            Self::BadSignature(_) => 5,
            Self::BadEntry { .. } => 6,
            Self::Sequence { .. } => 7,
            Self::Truncated { .. } => 8,
            Self::ExtraEntries { .. } => 9,
            Self::RootMismatch { .. } => 10,
            Self::ProofFailed => 11,
            Self::MalformedProof(_) => 12,
            Self::ProofMismatch(_) => 13,
        }
    }
}

impl From<CheckpointError> for VerifyError {
    fn from(error: CheckpointError) -> Self {
        match error {
            CheckpointError::BadKey(reason) => Self::BadKey(reason),
            CheckpointError::Malformed(reason) => Self::MalformedCheckpoint(reason),
            CheckpointError::BadSignature(name) => Self::BadSignature(name),
        }
    }
}

/// Permitted and denied data requests and the sums of what the permitted ones served.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct UsageCount {
    /// Permitted requests.
    pub requests: u64,
    /// Denied requests.
    pub denied: u64,
    /// Bytes served.
    pub bytes: u64,
    /// Rows served.
    pub rows: u64,
    /// Fees charged, in fen.
    pub fee: u64,
}

impl UsageCount {
    fn record(&mut self, decision: &[u8], bytes: u64, rows: u64, fee: u64) {
        match decision {
            b"permit" => {
                self.requests += 1;
                self.bytes = self.bytes.saturating_add(bytes);
                self.rows = self.rows.saturating_add(rows);
                self.fee = self.fee.saturating_add(fee);
            }
            b"deny" => self.denied += 1,
            _ => {}
        }
    }

    fn merge(&mut self, other: &Self) {
        self.requests += other.requests;
        self.denied += other.denied;
        self.bytes = self.bytes.saturating_add(other.bytes);
        self.rows = self.rows.saturating_add(other.rows);
        self.fee = self.fee.saturating_add(other.fee);
    }
}

/// What a verified export holds: its size and root, and usage recounted from its entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The log's origin, from the checkpoint.
    pub origin: String,
    /// Number of entries (the checkpoint's size).
    pub entries: u64,
    /// The root hash (the checkpoint's root).
    #[serde(serialize_with = "base64_hash")]
    pub root: Hash,
    /// Entries per kind.
    pub kinds: BTreeMap<String, u64>,
    /// Entries per decision.
    pub decisions: BTreeMap<String, u64>,
    /// Usage over all data-access entries (kind `data_access`), anonymous ones included.
    pub total: UsageCount,
    /// Usage per grant relied on.
    pub grants: BTreeMap<String, UsageCount>,
    /// Usage per acting organisation.
    pub organisations: BTreeMap<String, UsageCount>,
    /// The time zone of `months`.
    pub time_zone: String,
    /// Per local month (`YYYY-MM`; `unknown` for an entry whose time cannot be read) and
    /// organisation: the data requests it made and those made for its data, as the usage and
    /// statements of the API count them.
    pub months: BTreeMap<String, BTreeMap<String, PartyFigures>>,
}

/// An organisation's data requests in a period, from both sides.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PartyFigures {
    /// The requests it made.
    pub consumer: Figures,
    /// The requests made for its datasets.
    pub provider: Figures,
}

fn base64_hash<S: serde::Serializer>(hash: &Hash, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&encode_hash(hash))
}

/// A hash as checkpoints and proofs write it: standard base64.
pub fn encode_hash(hash: &Hash) -> String {
    STANDARD.encode(hash)
}

/// The root of a tree built leaf by leaf, keeping only the roots of its perfect subtrees (one
/// per set bit of the size), so memory is O(log n).
#[derive(Debug, Clone, Default)]
pub struct TreeBuilder {
    size: u64,
    stack: Vec<Hash>,
}

impl TreeBuilder {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        let mut node = leaf;
        let mut size = self.size;
        // Each trailing one bit of the size is a perfect subtree the new one completes.
        while size & 1 == 1 {
            let Some(left) = self.stack.pop() else { break };
            node = node_hash(&left, &node);
            size >>= 1;
        }
        self.stack.push(node);
        self.size += 1;
    }

    /// Number of leaves so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The root hash (RFC 6962 MTH) of the leaves so far.
    pub fn root(&self) -> Hash {
        let mut subtrees = self.stack.iter().rev();
        let Some(last) = subtrees.next() else {
            return empty_root();
        };
        subtrees.fold(*last, |right, left| node_hash(left, &right))
    }
}

/// Verifies an NDJSON export against a signed checkpoint and recounts usage from it, by
/// month in the default accounting time zone.
pub fn verify_export(
    export: impl BufRead,
    checkpoint_note: &str,
    verifier_key: &str,
) -> Result<Report, VerifyError> {
    verify_export_in(export, checkpoint_note, verifier_key, Calendar::default())
}

/// [`verify_export`], counting months in `calendar`'s time zone.
pub fn verify_export_in(
    export: impl BufRead,
    checkpoint_note: &str,
    verifier_key: &str,
    calendar: Calendar,
) -> Result<Report, VerifyError> {
    // Past a few workers the single reader (and the fold of leaves) is the limit.
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(8);
    verify_export_with(
        export,
        checkpoint_note,
        verifier_key,
        Scan {
            threads,
            chunk_bytes: CHUNK_BYTES,
            calendar,
        },
    )
}

/// How an export is scanned.
#[derive(Debug, Clone, Copy)]
struct Scan {
    threads: usize,
    chunk_bytes: usize,
    calendar: Calendar,
}

fn verify_export_with(
    export: impl BufRead,
    checkpoint_note: &str,
    verifier_key: &str,
    how: Scan,
) -> Result<Report, VerifyError> {
    let checkpoint = NoteVerifier::parse(verifier_key)?.verify(checkpoint_note)?;
    let (tree, tally) = scan(export, how)?;
    let entries = tree.size();
    if entries < checkpoint.size {
        return Err(VerifyError::Truncated {
            entries,
            size: checkpoint.size,
        });
    }
    if entries > checkpoint.size {
        return Err(VerifyError::ExtraEntries {
            entries,
            size: checkpoint.size,
        });
    }
    let root = tree.root();
    if root != checkpoint.root {
        return Err(VerifyError::RootMismatch {
            entries,
            computed: encode_hash(&root),
            expected: encode_hash(&checkpoint.root),
        });
    }
    Ok(tally.into_report(checkpoint, how.calendar))
}

/// A worker's result for one chunk of whole lines: the seq of its first line, the leaves up to
/// its first bad line and that line's error. Lines are numbered within the chunk, as only the
/// fold knows where the chunk starts.
#[derive(Debug, Default)]
struct Outcome {
    /// The seq the first line holds; each line after it is checked to hold the next one.
    first_seq: Option<u64>,
    leaves: Vec<Hash>,
    error: Option<LineError>,
    /// The chunk's bytes, handed back for the reader to fill again.
    data: Vec<u8>,
}

/// Why a line of a chunk fails, `at` counting lines from the chunk's first (0).
#[derive(Debug)]
enum LineError {
    Bad { at: u64, reason: String },
    Sequence { at: u64, found: u64 },
}

/// Reads the export in chunks that `threads` workers take from one queue to check, hash and
/// count, and folds their leaves in the export's order, so the first bad line is the one
/// reported. The reader only splits at newlines: a worker checks that a chunk's seqs follow
/// on from its first, and the fold that the first follows on from the chunk before, so the
/// reader need not count lines. Each worker keeps its own tally (a per-chunk one would
/// allocate every grant's key again for every chunk); they are added up at the end. Chunk
/// buffers go round from the reader to a worker and back, so no chunk is allocated (and its
/// pages faulted in) afresh.
fn scan(mut export: impl BufRead, how: Scan) -> Result<(TreeBuilder, Tally), VerifyError> {
    let (threads, chunk_bytes) = (how.threads.max(1), how.chunk_bytes.max(1));
    // Chunks read but not yet folded: enough that no worker waits for a slow one's result.
    let in_flight = 4 * threads;
    let (task_tx, task_rx) = mpsc::sync_channel::<(u64, Vec<u8>)>(in_flight);
    let task_rx = Mutex::new(task_rx);
    std::thread::scope(|scope| {
        let (done_tx, done_rx) = mpsc::channel::<(u64, Outcome)>();
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let (task_rx, done_tx) = (&task_rx, done_tx.clone());
                scope.spawn(move || {
                    let mut check = LineCheck::default();
                    let mut tally = Tally::new(how.calendar);
                    loop {
                        let task = match task_rx.lock() {
                            Ok(tasks) => tasks.recv(),
                            Err(_) => break,
                        };
                        let Ok((index, data)) = task else { break };
                        let mut outcome = check_chunk(&data, &mut check, &mut tally);
                        outcome.data = data;
                        if done_tx.send((index, outcome)).is_err() {
                            break;
                        }
                    }
                    tally
                })
            })
            .collect();
        drop(done_tx);
        let stopped = || VerifyError::Unreadable {
            what: "the export".into(),
            source: std::io::Error::other("a verifier thread stopped"),
        };
        let mut tree = TreeBuilder::new();
        let mut early: BTreeMap<u64, Outcome> = BTreeMap::new();
        let mut spare: Vec<Vec<u8>> = Vec::new();
        let (mut sent, mut folded) = (0u64, 0u64);
        // Waits for one more outcome, keeps its buffer, then folds all that are next in order.
        let mut fold_some = |folded: &mut u64, spare: &mut Vec<Vec<u8>>| {
            let (index, mut outcome) = done_rx.recv().map_err(|_| stopped())?;
            spare.push(std::mem::take(&mut outcome.data));
            early.insert(index, outcome);
            while let Some(outcome) = early.remove(folded) {
                *folded += 1;
                fold(&mut tree, outcome)?;
            }
            Ok::<_, VerifyError>(())
        };
        let mut carry = Vec::new();
        let mut too_long = false;
        loop {
            let mut data = spare.pop().unwrap_or_default();
            match read_chunk(&mut export, chunk_bytes, &mut data, &mut carry) {
                Ok(true) => {}
                Ok(false) => break,
                Err(ReadError::LineTooLong) => {
                    too_long = true;
                    break;
                }
                Err(ReadError::Io(source)) => {
                    return Err(VerifyError::Unreadable {
                        what: "the export".into(),
                        source,
                    });
                }
            }
            while sent - folded >= in_flight as u64 {
                fold_some(&mut folded, &mut spare)?;
            }
            task_tx.send((sent, data)).map_err(|_| stopped())?;
            sent += 1;
        }
        drop(task_tx);
        while folded < sent {
            fold_some(&mut folded, &mut spare)?;
        }
        if too_long {
            // Every line before it has been folded: it is the next one.
            return Err(VerifyError::BadEntry {
                line: tree.size() + 1,
                reason: format!("longer than {MAX_LINE} bytes"),
            });
        }
        let mut tally = Tally::new(how.calendar);
        for worker in workers {
            tally.merge(worker.join().map_err(|_| stopped())?);
        }
        Ok((tree, tally))
    })
}

/// Adds a chunk's leaves to the tree, or says why its first bad line is bad, now that the
/// lines before the chunk are known.
fn fold(tree: &mut TreeBuilder, outcome: Outcome) -> Result<(), VerifyError> {
    let first = tree.size();
    if let Some(found) = outcome.first_seq.filter(|&seq| seq != first) {
        return Err(VerifyError::Sequence {
            line: first + 1,
            found,
            expected: first,
        });
    }
    for leaf in outcome.leaves {
        tree.push(leaf);
    }
    match outcome.error {
        None => Ok(()),
        Some(LineError::Bad { at, reason }) => Err(VerifyError::BadEntry {
            line: first + at + 1,
            reason,
        }),
        Some(LineError::Sequence { at, found }) => Err(VerifyError::Sequence {
            line: first + at + 1,
            found,
            expected: first + at,
        }),
    }
}

/// Where the first newline is, eight bytes at a time.
fn find_newline(text: &[u8]) -> Option<usize> {
    let mut words = text.chunks_exact(8);
    let mut at = 0;
    for word in &mut words {
        let word = u64::from_le_bytes(word.try_into().unwrap_or_default()) ^ (ONES * 0x0a);
        let zeros = word.wrapping_sub(ONES) & !word & HIGHS;
        if zeros != 0 {
            return Some(at + (zeros.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    words
        .remainder()
        .iter()
        .position(|&b| b == b'\n')
        .map(|i| at + i)
}

/// Why no chunk could be read.
#[derive(Debug)]
enum ReadError {
    Io(std::io::Error),
    /// A line is longer than [`MAX_LINE`]; it is the one after the lines read so far.
    LineTooLong,
}

/// Reads whole lines into `data` (emptied first), each ended by a newline (the last line of
/// the export may lack it): at least `chunk_bytes` of them unless the export ends first or the
/// next line is too long. The start of a line read past them is kept in `carry` for the next
/// chunk. `false` at the end.
fn read_chunk(
    export: &mut impl BufRead,
    chunk_bytes: usize,
    data: &mut Vec<u8>,
    carry: &mut Vec<u8>,
) -> Result<bool, ReadError> {
    const BLOCK: usize = 64 * 1024;
    data.clear();
    // Room for the last block read past `chunk_bytes` too, so the chunk is never moved.
    data.reserve(chunk_bytes.min(4 * BLOCK) + BLOCK);
    data.append(carry);
    // Where the last, incomplete line starts: just past the last newline (the carry has none).
    let mut tail = 0;
    let mut end = false;
    while data.len() < chunk_bytes || tail == 0 {
        if (data.len() - tail) as u64 > MAX_LINE {
            if tail == 0 {
                return Err(ReadError::LineTooLong);
            }
            // The whole lines before it go first, so that it is found where it is.
            break;
        }
        let buffer = export.fill_buf().map_err(ReadError::Io)?;
        if buffer.is_empty() {
            end = true;
            break;
        }
        let taken = buffer.len().min(BLOCK);
        let old = data.len();
        data.extend_from_slice(buffer.get(..taken).unwrap_or_default());
        export.consume(taken);
        if let Some(at) = data
            .get(old..)
            .and_then(|new| new.iter().rposition(|&b| b == b'\n'))
        {
            tail = old + at + 1;
        }
    }
    if !end {
        carry.extend_from_slice(data.get(tail..).unwrap_or_default());
        data.truncate(tail);
    }
    Ok(!data.is_empty())
}

/// Checks, hashes and counts the lines of a chunk, up to the first bad one.
fn check_chunk(data: &[u8], check: &mut LineCheck, tally: &mut Tally) -> Outcome {
    let mut outcome = Outcome {
        leaves: Vec::with_capacity(data.len() / 256),
        ..Outcome::default()
    };
    let mut rest = data.strip_suffix(b"\n").unwrap_or(data);
    for at in 0u64.. {
        let (line, checked) = check.next_line(rest);
        let facts = match checked {
            Ok(facts) => facts,
            Err(reason) => {
                outcome.error = Some(LineError::Bad { at, reason });
                break;
            }
        };
        let expected = *outcome.first_seq.get_or_insert(facts.seq);
        // Wrapping only past u64::MAX, where the fold finds the first seq wrong anyway.
        if facts.seq != expected.wrapping_add(at) {
            outcome.error = Some(LineError::Sequence {
                at,
                found: facts.seq,
            });
            break;
        }
        outcome.leaves.push(leaf_hash(line));
        tally.add(facts);
        match rest.get(line.len() + 1..) {
            Some(next) => rest = next,
            None => break,
        }
    }
    outcome
}

/// What the recount needs of an entry, borrowed from its line where possible.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Facts<'a> {
    seq: u64,
    kind: Cow<'a, [u8]>,
    decision: Cow<'a, [u8]>,
    grant: Option<Cow<'a, [u8]>>,
    actor_org: Option<Cow<'a, [u8]>>,
    provider_org: Option<Cow<'a, [u8]>>,
    time: Cow<'a, [u8]>,
    bytes: u64,
    rows: u64,
    fee: u64,
}

impl From<Entry> for Facts<'_> {
    fn from(entry: Entry) -> Self {
        Self {
            seq: entry.seq,
            kind: entry.kind.into_bytes().into(),
            decision: entry.decision.into_bytes().into(),
            grant: entry.grant.map(|grant| grant.into_bytes().into()),
            actor_org: entry.actor_org.map(|org| org.into_bytes().into()),
            provider_org: entry.provider_org.map(|org| org.into_bytes().into()),
            time: entry.time.into_bytes().into(),
            bytes: entry.bytes,
            rows: entry.rows,
            fee: entry.fee,
        }
    }
}

/// The kinds of canonical value, as far as decoding an entry can tell them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Null,
    EmptyString,
    String,
    Zero,
    Integer,
    Negative,
    True,
    False,
    Object,
    Array,
}

/// Where the recounted facts are among the fields of a line of some shape.
#[derive(Debug, Clone, Copy)]
struct FactIndex {
    seq: usize,
    kind: usize,
    decision: usize,
    grant: Option<usize>,
    actor_org: Option<usize>,
    provider_org: Option<usize>,
    time: usize,
    bytes: usize,
    rows: usize,
    fee: usize,
}

/// A shape of line, its keys in order and the kind of each value, seen to decode to an entry
/// whose canonical bytes are the line itself.
#[derive(Debug)]
struct Shape {
    /// Per field, the text up to its value (`{"key":` or `,"key":`) and the value's kind.
    fields: Vec<(Vec<u8>, Kind)>,
    index: FactIndex,
}

impl Shape {
    /// Matches the start of `text` with the shape: where the line ends (just past its closing
    /// brace), noting where the values are and what the scan has come across.
    fn matches(
        &self,
        text: &[u8],
        values: &mut Vec<Range<usize>>,
        seen: &mut Seen,
    ) -> Option<usize> {
        values.clear();
        let mut at = 0;
        for (prefix, kind) in &self.fields {
            if !starts_with(text.get(at..)?, prefix) {
                return None;
            }
            at += prefix.len();
            let end = value_of_kind(text, at, *kind, seen)?;
            values.push(at..end);
            at = end;
        }
        (text.get(at) == Some(&b'}')).then_some(at + 1)
    }
}

/// Among `shapes`, one that agrees on the fields before `field` with the shape whose row of
/// [`LineCheck::agree`] is `agree`, and has there the field that `text` has at `at`: the
/// same key and a value of the same kind, or the end of the line.
fn switch_shape(
    shapes: &[Shape],
    agree: &[usize],
    field: usize,
    text: &[u8],
    at: usize,
    seen: &mut Seen,
) -> Option<usize> {
    let mut candidates = shapes
        .iter()
        .zip(agree)
        .enumerate()
        .filter(|&(_, (_, &shared))| shared >= field)
        .map(|(i, (shape, _))| (i, shape));
    if text.get(at) == Some(&b'}') {
        return candidates
            .find(|(_, shape)| shape.fields.len() == field)
            .map(|(i, _)| i);
    }
    let rest = text.get(at..)?;
    // The kind of the value after a key, found once per length of key.
    let mut found: Option<(usize, Option<Kind>)> = None;
    for (i, shape) in candidates {
        let Some((prefix, kind)) = shape.fields.get(field) else {
            continue;
        };
        if !starts_with(rest, prefix) {
            continue;
        }
        let value_kind = match found {
            Some((len, value_kind)) if len == prefix.len() => value_kind,
            _ => {
                let value_kind = value_end(text, at + prefix.len(), seen, 1).map(|(_, k)| k);
                found = Some((prefix.len(), value_kind));
                value_kind
            }
        };
        if value_kind == Some(*kind) {
            return Some(i);
        }
    }
    None
}

/// `text.starts_with(prefix)` for the short prefixes of shapes, a word at a time (the last
/// one overlapping the one before) rather than through a call to `memcmp`.
fn starts_with(text: &[u8], prefix: &[u8]) -> bool {
    let n = prefix.len();
    let Some(head) = text.get(..n) else {
        return false;
    };
    if n < 8 {
        return head.iter().zip(prefix).all(|(a, b)| a == b);
    }
    let word = |bytes: &[u8], at: usize| {
        let bytes = bytes.get(at..at + 8).unwrap_or_default();
        u64::from_le_bytes(bytes.try_into().unwrap_or_default())
    };
    (0..n - 8)
        .step_by(8)
        .all(|at| word(head, at) == word(prefix, at))
        && word(head, n - 8) == word(prefix, n - 8)
}

/// At most this many shapes are remembered per worker; others take the exact way every time.
const MAX_SHAPES: usize = 64;

/// Decides, exactly, whether a line is `Entry::decode(line)?.canonical()`, and takes out the
/// facts the recount needs.
///
/// The exact way decodes the entry and compares the line with `canonical()`, a round trip
/// through `serde_json::Value` costing several times the hashing of the line. So it is taken
/// once per *shape* of line: its keys in order and the kind of each value (null, empty or
/// other string, zero, positive or negative integer, true, false, object, array). A later line
/// of a shape that passed is matched with it in one pass instead: the same keys in the same
/// order, no whitespace, each value of the same kind and written as serde_json writes a
/// canonical `Value` (its string escapes only; integers without fraction, exponent, leading
/// zero or `-0`, within i64 or u64; object keys strictly ascending), the whole valid UTF-8.
///
/// That is exact because every field of [`Entry`] is a string, an integer, an option of one,
/// or a JSON value, so whether a field decodes, and prints back to the same text, depends on
/// the kind of its value and not on the characters of a string, the digits of a number or the
/// contents of an object (the test `every_field_decodes_and_prints_back_alike_within_a_kind`
/// holds the entry to that, so a field of a narrower type, an enum or a date, say, fails it).
/// Floats, escaped object keys and deep nesting always take the exact way.
#[derive(Debug, Default)]
struct LineCheck {
    shapes: Vec<Shape>,
    /// For two shapes, how many leading fields (key and kind) they share.
    agree: Vec<Vec<usize>>,
    /// The shape that matched last, tried first.
    last: usize,
    values: Vec<Range<usize>>,
}

impl LineCheck {
    /// The facts of a line, or why it is not an entry's canonical bytes.
    fn check<'a>(&mut self, line: &'a [u8]) -> Result<Facts<'a>, String> {
        match self.fast(line) {
            Some((end, facts)) if end == line.len() => Ok(facts),
            _ => self.exact(line),
        }
    }

    /// The first line of `text` (up to a newline or the end), and its facts or why it is not
    /// an entry's canonical bytes. A line of a known shape is found by matching it, without
    /// looking for its end first.
    fn next_line<'a>(&mut self, text: &'a [u8]) -> (&'a [u8], Result<Facts<'a>, String>) {
        if let Some((end, facts)) = self.fast(text)
            && let Some(line) = text
                .get(..end)
                .filter(|_| matches!(text.get(end), None | Some(b'\n')))
        {
            return (line, Ok(facts));
        }
        let line = text
            .get(..find_newline(text).unwrap_or(text.len()))
            .unwrap_or_default();
        (line, self.exact(line))
    }

    /// Matches the start of `text` with the known shapes: where the line ends and its facts.
    /// The shape that matched last is tried first; where the line parts from it, matching goes
    /// on with a shape that agrees with it so far and has the field the line has there, so
    /// lines alternating between shapes (a fee of zero or not, say) read no value twice.
    fn fast<'a>(&mut self, text: &'a [u8]) -> Option<(usize, Facts<'a>)> {
        let mut current = self.last;
        let mut shape = self.shapes.get(current)?;
        let values = &mut self.values;
        values.clear();
        let mut seen = Seen::default();
        let (mut at, mut field) = (0, 0);
        let mut switched_at = None;
        let end = loop {
            if let Some((prefix, kind)) = shape.fields.get(field)
                && starts_with(text.get(at..).unwrap_or_default(), prefix)
                && let Some(end) = value_of_kind(text, at + prefix.len(), *kind, &mut seen)
            {
                values.push(at + prefix.len()..end);
                (at, field) = (end, field + 1);
            } else if field == shape.fields.len() && text.get(at) == Some(&b'}') {
                break at + 1;
            } else if switched_at == Some(field) {
                // The shape switched to has this very field; never twice at one field.
                return None;
            } else {
                switched_at = Some(field);
                current = switch_shape(
                    &self.shapes,
                    self.agree.get(current)?,
                    field,
                    text,
                    at,
                    &mut seen,
                )?;
                shape = self.shapes.get(current)?;
            }
        };
        self.last = current;
        let line = text.get(..end)?;
        if seen.non_ascii {
            std::str::from_utf8(line).ok()?;
        }
        Some((end, facts_at(line, values, &shape.index, seen.escape)?))
    }

    fn exact<'a>(&mut self, line: &'a [u8]) -> Result<Facts<'a>, String> {
        let entry = Entry::decode(line).map_err(|e| format!("not a ledger entry: {e}"))?;
        if entry.canonical() != line {
            return Err(
                "not the entry's canonical bytes (sorted keys, no whitespace): edited".into(),
            );
        }
        let facts = Facts::from(entry);
        if self.shapes.len() < MAX_SHAPES
            && let Some(shape) = learn_shape(line, &facts)
        {
            let shared = |other: &Shape| {
                let pairs = other.fields.iter().zip(&shape.fields);
                pairs.take_while(|(a, b)| a == b).count()
            };
            let mut row: Vec<usize> = self.shapes.iter().map(shared).collect();
            for (agree, &n) in self.agree.iter_mut().zip(&row) {
                agree.push(n);
            }
            row.push(shape.fields.len());
            self.agree.push(row);
            self.shapes.push(shape);
        }
        Ok(facts)
    }
}

/// The shape of a canonical line, if its facts can be found in it the one-pass way.
fn learn_shape(line: &[u8], facts: &Facts<'_>) -> Option<Shape> {
    let mut fields = Vec::new();
    let mut keys = Vec::new();
    let mut at = 0;
    loop {
        let key_start = at + 2;
        let key_len = line
            .get(key_start..)?
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || !(0x20..0x7f).contains(&b))?;
        let key_end = key_start + key_len;
        if line.get(at + 1) != Some(&b'"') || line.get(key_end..key_end + 2) != Some(b"\":") {
            return None;
        }
        let (end, kind) = value_end(line, key_end + 2, &mut Seen::default(), 1)?;
        fields.push((line.get(at..key_end + 2)?.to_vec(), kind));
        keys.push(line.get(key_start..key_end)?);
        at = end;
        if line.get(at..) == Some(b"}") {
            break;
        }
    }
    let find = |name: &str| keys.iter().position(|key| *key == name.as_bytes());
    let shape = Shape {
        fields,
        index: FactIndex {
            seq: find("seq")?,
            kind: find("kind")?,
            decision: find("decision")?,
            grant: find("grant"),
            actor_org: find("actor_org"),
            provider_org: find("provider_org"),
            time: find("time")?,
            bytes: find("bytes")?,
            rows: find("rows")?,
            fee: find("fee")?,
        },
    };
    let mut values = Vec::new();
    let mut seen = Seen::default();
    let end = shape.matches(line, &mut values, &mut seen)?;
    let found = facts_at(line, &values, &shape.index, seen.escape)?;
    (end == line.len() && found == *facts).then_some(shape)
}

/// The facts in the values of a line; `escaped` if a string of the line may hold an escape.
fn facts_at<'a>(
    line: &'a [u8],
    values: &[Range<usize>],
    index: &FactIndex,
    escaped: bool,
) -> Option<Facts<'a>> {
    let value = |i: usize| line.get(values.get(i)?.clone());
    let integer = |i: usize| parse_u64(value(i)?);
    // The line is valid UTF-8 already, and the recount keys strings by their bytes.
    let string = |i: usize| -> Option<Cow<'a, [u8]>> {
        let text = value(i)?;
        let inner = text.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
        if escaped && inner.contains(&b'\\') {
            let decoded = serde_json::from_slice::<String>(text).ok()?;
            Some(Cow::Owned(decoded.into_bytes()))
        } else {
            Some(Cow::Borrowed(inner))
        }
    };
    let optional = |i: Option<usize>| -> Option<Option<Cow<'a, [u8]>>> {
        match i {
            None => Some(None),
            Some(i) if value(i)? == b"null" => Some(None),
            Some(i) => string(i).map(Some),
        }
    };
    Some(Facts {
        seq: integer(index.seq)?,
        kind: string(index.kind)?,
        decision: string(index.decision)?,
        grant: optional(index.grant)?,
        actor_org: optional(index.actor_org)?,
        provider_org: optional(index.provider_org)?,
        time: string(index.time)?,
        bytes: integer(index.bytes)?,
        rows: integer(index.rows)?,
        fee: integer(index.fee)?,
    })
}

/// The end of the value starting at `start` if it is of `kind` (see [`value_end`]); the
/// common kinds are read directly, without finding out the kind first.
fn value_of_kind(line: &[u8], start: usize, kind: Kind, seen: &mut Seen) -> Option<usize> {
    let rest = line.get(start..)?;
    let literal = |text: &[u8]| rest.starts_with(text).then_some(start + text.len());
    match kind {
        Kind::String if rest.first() == Some(&b'"') => {
            let end = string_end(line, start, seen)?;
            (end > start + 2).then_some(end)
        }
        Kind::EmptyString => literal(b"\"\""),
        Kind::Null => literal(b"null"),
        Kind::Zero => literal(b"0"),
        Kind::True => literal(b"true"),
        Kind::False => literal(b"false"),
        Kind::Integer if matches!(rest.first(), Some(b'1'..=b'9')) => {
            let len = rest.iter().take_while(|b| b.is_ascii_digit()).count();
            parse_u64(rest.get(..len)?)?;
            Some(start + len)
        }
        _ => match value_end(line, start, seen, 1)? {
            (end, found) if found == kind => Some(end),
            _ => None,
        },
    }
}

/// Objects and arrays nested deeper than this take the exact way (serde_json stops at 128).
const MAX_DEPTH: usize = 32;

/// What a scan of a line's values has come across.
#[derive(Debug, Default, Clone, Copy)]
struct Seen {
    /// A byte beyond ASCII, in a string or perhaps just past one: the line's UTF-8 is to be
    /// checked.
    non_ascii: bool,
    /// An escape in a string: strings are to be decoded.
    escape: bool,
}

/// The end and kind of the value starting at `start`, if it is written as serde_json writes a
/// `Value` in canonical bytes: no whitespace, object keys strictly ascending (and unescaped),
/// integers within i64 or u64 without leading zeros or `-0`, no floats. Notes what it
/// comes across in strings.
fn value_end(line: &[u8], start: usize, seen: &mut Seen, depth: usize) -> Option<(usize, Kind)> {
    let rest = line.get(start..)?;
    match rest.first()? {
        b'"' => {
            let end = string_end(line, start, seen)?;
            let kind = if end == start + 2 {
                Kind::EmptyString
            } else {
                Kind::String
            };
            Some((end, kind))
        }
        b'0' => Some((start + 1, Kind::Zero)),
        b'1'..=b'9' => {
            let len = rest.iter().take_while(|b| b.is_ascii_digit()).count();
            // Beyond u64 serde_json reads a float, which prints otherwise.
            parse_u64(rest.get(..len)?)?;
            Some((start + len, Kind::Integer))
        }
        b'-' if matches!(rest.get(1), Some(b'1'..=b'9')) => {
            let len = rest
                .iter()
                .skip(1)
                .take_while(|b| b.is_ascii_digit())
                .count();
            // Beyond i64 serde_json reads a float too.
            (parse_u64(rest.get(1..=len)?)? <= i64::MIN.unsigned_abs()).then_some(())?;
            Some((start + 1 + len, Kind::Negative))
        }
        b'n' if rest.starts_with(b"null") => Some((start + 4, Kind::Null)),
        b't' if rest.starts_with(b"true") => Some((start + 4, Kind::True)),
        b'f' if rest.starts_with(b"false") => Some((start + 5, Kind::False)),
        b'{' if depth < MAX_DEPTH => {
            let mut at = start + 1;
            if line.get(at) == Some(&b'}') {
                return Some((at + 1, Kind::Object));
            }
            let mut previous: Option<&[u8]> = None;
            loop {
                if line.get(at) != Some(&b'"') {
                    return None;
                }
                let key_end = string_end(line, at, seen)?;
                let key = line.get(at + 1..key_end - 1)?;
                // Unescaped keys sort as their bytes, as a `Value`'s map sorts them.
                if key.contains(&b'\\') || previous.is_some_and(|p| key <= p) {
                    return None;
                }
                previous = Some(key);
                if line.get(key_end) != Some(&b':') {
                    return None;
                }
                let (end, _) = value_end(line, key_end + 1, seen, depth + 1)?;
                match line.get(end)? {
                    b',' => at = end + 1,
                    b'}' => return Some((end + 1, Kind::Object)),
                    _ => return None,
                }
            }
        }
        b'[' if depth < MAX_DEPTH => {
            let mut at = start + 1;
            if line.get(at) == Some(&b']') {
                return Some((at + 1, Kind::Array));
            }
            loop {
                let (end, _) = value_end(line, at, seen, depth + 1)?;
                match line.get(end)? {
                    b',' => at = end + 1,
                    b']' => return Some((end + 1, Kind::Array)),
                    _ => return None,
                }
            }
        }
        _ => None,
    }
}

/// Decimal digits as a u64, if they fit.
fn parse_u64(digits: &[u8]) -> Option<u64> {
    digits.iter().try_fold(0u64, |value, &digit| {
        if !digit.is_ascii_digit() {
            return None;
        }
        value.checked_mul(10)?.checked_add(u64::from(digit - b'0'))
    })
}

const ONES: u64 = u64::from_ne_bytes([1; 8]);
const HIGHS: u64 = ONES * 0x80;

/// Flags (high bit) the bytes of a little-endian word that are `"`, `\` or below 0x20. Bytes
/// above a flagged one may be flagged wrongly (borrows), so only the lowest flag is exact.
fn specials(word: u64) -> u64 {
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    zero(word ^ (ONES * u64::from(b'"')))
        | zero(word ^ (ONES * u64::from(b'\\')))
        | (word.wrapping_sub(ONES * 0x20) & !word & HIGHS)
}

/// The index just past the string whose quote is at `open`, if the string is written as
/// serde_json writes it: only `"`, `\` and control characters escaped, with the short escapes
/// where there is one and `\u00xx` (lower-case hex) otherwise. Scans sixteen bytes at a time,
/// noting escapes and bytes beyond ASCII (perhaps some just past the string: that only costs
/// a check).
fn string_end(line: &[u8], open: usize, seen: &mut Seen) -> Option<usize> {
    let word = |bytes: &[u8]| u64::from_le_bytes(bytes.try_into().unwrap_or_default());
    let mut at = open + 1;
    loop {
        let (blocks, tail) = line.get(at..)?.as_chunks::<16>();
        let mut offset = 0;
        let special = 'found: {
            for block in blocks {
                // Without branches over the block, so that it compiles to a few vector
                // instructions; the exact place is found only in the block that has one.
                let hit = block.iter().fold(false, |hit, &b| {
                    hit | (b == b'"') | (b == b'\\') | (b < 0x20)
                });
                let (low, high) = block.split_at(8);
                let (low, high) = (word(low), word(high));
                seen.non_ascii |= (low | high) & HIGHS != 0;
                if hit {
                    let flags = match specials(low) {
                        0 => u128::from(specials(high)) << 64,
                        flags => u128::from(flags),
                    };
                    break 'found offset + (flags.trailing_zeros() / 8) as usize;
                }
                offset += 16;
            }
            seen.non_ascii |= !tail.is_ascii();
            offset
                + tail
                    .iter()
                    .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?
        };
        at += special;
        match line.get(at)? {
            b'"' => return Some(at + 1),
            b'\\' => {
                seen.escape = true;
                at += match line.get(at + 1)? {
                    b'"' | b'\\' | b'b' | b'f' | b'n' | b'r' | b't' => 2,
                    b'u' => {
                        let code = match line.get(at + 2..at + 6)? {
                            [b'0', b'0', high @ (b'0' | b'1'), low @ (b'0'..=b'9')] => {
                                (high - b'0') * 16 + (low - b'0')
                            }
                            [b'0', b'0', high @ (b'0' | b'1'), low @ (b'a'..=b'f')] => {
                                (high - b'0') * 16 + (low - b'a' + 10)
                            }
                            _ => return None,
                        };
                        // These have short escapes, which serde_json uses.
                        if matches!(code, 0x08 | 0x09 | 0x0a | 0x0c | 0x0d) {
                            return None;
                        }
                        6
                    }
                    _ => return None,
                };
            }
            _ => return None,
        }
    }
}

/// A hasher for the recount's maps, whose keys come from checked lines; SipHash showed up in
/// profiles.
#[derive(Debug, Default, Clone, Copy)]
struct FastHasher(u64);

impl std::hash::Hasher for FastHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            let mut buffer = [0u8; 8];
            buffer.copy_from_slice(word);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(buffer)).wrapping_mul(K);
        }
        for &byte in words.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(byte)).wrapping_mul(K);
        }
    }
}

type Map<V> = HashMap<Vec<u8>, V, std::hash::BuildHasherDefault<FastHasher>>;

/// Applies `update` to the value under `key`, inserting a default first if missing; a key
/// already there costs no allocation.
fn update<V: Default>(map: &mut Map<V>, key: Cow<'_, [u8]>, update: impl FnOnce(&mut V)) {
    match map.get_mut(key.as_ref()) {
        Some(value) => update(value),
        None => update(map.entry(key.into_owned()).or_default()),
    }
}

/// Counts of a few distinct values (kinds, decisions): a list beats hashing.
#[derive(Debug, Default)]
struct Counts(Vec<(Vec<u8>, u64)>);

impl Counts {
    fn add(&mut self, key: &[u8], n: u64) {
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some((_, count)) => *count += n,
            None => self.0.push((key.to_vec(), n)),
        }
    }
}

/// A key of the recount as text; keys come from valid UTF-8 lines.
fn text(key: Vec<u8>) -> String {
    String::from_utf8(key).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

fn texts<V>(counts: impl IntoIterator<Item = (Vec<u8>, V)>) -> BTreeMap<String, V> {
    counts.into_iter().map(|(k, v)| (text(k), v)).collect()
}

/// A local month as a number (`year * 12 + month - 1`); [`UNKNOWN_MONTH`] for a time that
/// cannot be read.
type Month = i32;
const UNKNOWN_MONTH: Month = i32::MIN;

/// Counts gathered while scanning, merged chunk by chunk.
#[derive(Debug)]
struct Tally {
    kinds: Counts,
    decisions: Counts,
    total: UsageCount,
    grants: Map<UsageCount>,
    organisations: Map<UsageCount>,
    calendar: Calendar,
    /// The last UTC minute (`YYYY-MM-DDTHH:MM`) seen and its local month: entries come in
    /// time order, so most lines are in the same minute as the one before.
    last_minute: Option<([u8; 16], Month)>,
    months: HashMap<(Month, Vec<u8>), PartyFigures>,
}

impl Tally {
    fn new(calendar: Calendar) -> Self {
        Self {
            kinds: Counts::default(),
            decisions: Counts::default(),
            total: UsageCount::default(),
            grants: Map::default(),
            organisations: Map::default(),
            calendar,
            last_minute: None,
            months: HashMap::new(),
        }
    }

    /// The local month of an entry's time.
    fn month(&mut self, time: &[u8]) -> Month {
        // Only a UTC time ("…Z") is in the same local month as every other time of its minute.
        let minute: Option<[u8; 16]> = time
            .get(..16)
            .filter(|_| time.last() == Some(&b'Z'))
            .and_then(|m| m.try_into().ok());
        if let (Some(minute), Some((last, month))) = (minute, self.last_minute)
            && minute == last
        {
            return month;
        }
        let month = std::str::from_utf8(time)
            .ok()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map_or(UNKNOWN_MONTH, |t| {
                use chrono::Datelike;
                let day = self.calendar.day(t.to_utc());
                day.year() * 12 + day.month0() as i32
            });
        if let Some(minute) = minute {
            self.last_minute = Some((minute, month));
        }
        month
    }

    /// Counts a data request for its consumer and its provider in its local month.
    fn add_party(&mut self, facts: &Facts<'_>) {
        let Some(outcome) = std::str::from_utf8(&facts.kind)
            .ok()
            .zip(std::str::from_utf8(&facts.decision).ok())
            .and_then(|(kind, decision)| RequestOutcome::of_kind(kind, decision))
        else {
            return;
        };
        let month = self.month(&facts.time);
        let mut count = |org: &Option<Cow<'_, [u8]>>, provider: bool| {
            if let Some(org) = org {
                let party = self.months.entry((month, org.to_vec())).or_default();
                let figures = if provider {
                    &mut party.provider
                } else {
                    &mut party.consumer
                };
                figures.count(outcome, 1, facts.bytes, facts.rows, facts.fee);
            }
        };
        count(&facts.actor_org, false);
        count(&facts.provider_org, true);
    }

    fn add(&mut self, facts: Facts<'_>) {
        self.kinds.add(&facts.kind, 1);
        self.decisions.add(&facts.decision, 1);
        self.add_party(&facts);
        if *facts.kind != *DATA_ACCESS.as_bytes() {
            return;
        }
        let record = |usage: &mut UsageCount| {
            usage.record(&facts.decision, facts.bytes, facts.rows, facts.fee);
        };
        record(&mut self.total);
        if let Some(grant) = facts.grant.clone() {
            update(&mut self.grants, grant, record);
        }
        if let Some(org) = facts.actor_org.clone() {
            update(&mut self.organisations, org, record);
        }
    }

    fn merge(&mut self, other: Self) {
        for (kind, n) in &other.kinds.0 {
            self.kinds.add(kind, *n);
        }
        for (decision, n) in &other.decisions.0 {
            self.decisions.add(decision, *n);
        }
        self.total.merge(&other.total);
        for (grant, usage) in other.grants {
            update(&mut self.grants, grant.into(), |u| u.merge(&usage));
        }
        for (org, usage) in other.organisations {
            update(&mut self.organisations, org.into(), |u| u.merge(&usage));
        }
        for (key, figures) in other.months {
            let party = self.months.entry(key).or_default();
            party.consumer.merge(&figures.consumer);
            party.provider.merge(&figures.provider);
        }
    }

    fn into_report(self, checkpoint: Checkpoint, calendar: Calendar) -> Report {
        let mut months: BTreeMap<String, BTreeMap<String, PartyFigures>> = BTreeMap::new();
        for ((month, org), figures) in self.months {
            let name = if month == UNKNOWN_MONTH {
                "unknown".to_owned()
            } else {
                format!(
                    "{:04}-{:02}",
                    month.div_euclid(12),
                    month.rem_euclid(12) + 1
                )
            };
            months.entry(name).or_default().insert(text(org), figures);
        }
        Report {
            time_zone: calendar.name().to_owned(),
            months,
            origin: checkpoint.origin,
            entries: checkpoint.size,
            root: checkpoint.root,
            kinds: texts(self.kinds.0),
            decisions: texts(self.decisions.0),
            total: self.total,
            grants: texts(self.grants),
            organisations: texts(self.organisations),
        }
    }
}

/// An inclusion proof as the API returns it: the audit path of one leaf, bottom first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InclusionProof {
    /// The leaf's index, which is the entry's seq.
    pub leaf_index: u64,
    /// The size of the tree the proof is for.
    pub tree_size: u64,
    /// The audit path, base64 in JSON.
    #[serde(with = "base64_hashes")]
    pub hashes: Vec<Hash>,
}

/// A consistency proof as the API returns it: the tree of `from` leaves is a prefix of `to`'s.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyProof {
    /// The older tree's size.
    pub from: u64,
    /// The newer tree's size.
    pub to: u64,
    /// The proof's hashes, base64 in JSON.
    #[serde(with = "base64_hashes")]
    pub hashes: Vec<Hash>,
}

impl InclusionProof {
    /// Parses a proof file.
    pub fn from_json(json: &[u8]) -> Result<Self, VerifyError> {
        serde_json::from_slice(json).map_err(|e| VerifyError::MalformedProof(e.to_string()))
    }
}

impl ConsistencyProof {
    /// Parses a proof file.
    pub fn from_json(json: &[u8]) -> Result<Self, VerifyError> {
        serde_json::from_slice(json).map_err(|e| VerifyError::MalformedProof(e.to_string()))
    }
}

mod base64_hashes {
    use super::{Hash, STANDARD};
    use base64::Engine as _;
    use serde::de::Error as _;
    use serde::{Deserialize as _, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(hashes: &[Hash], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(hashes.iter().map(|hash| STANDARD.encode(hash)))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Hash>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|encoded| {
                STANDARD
                    .decode(encoded)
                    .ok()
                    .and_then(|bytes| Hash::try_from(bytes).ok())
                    .ok_or_else(|| D::Error::custom("a hash is 32 bytes in base64"))
            })
            .collect()
    }
}

fn proof_error(error: MerkleError) -> VerifyError {
    match error {
        MerkleError::Mismatch => VerifyError::ProofFailed,
        other => VerifyError::ProofMismatch(other.to_string()),
    }
}

/// Checks that `entry_bytes` (one export line) is in the tree of a signed checkpoint; returns
/// the checkpoint.
pub fn check_inclusion(
    proof: &InclusionProof,
    entry_bytes: &[u8],
    checkpoint_note: &str,
    verifier_key: &str,
) -> Result<Checkpoint, VerifyError> {
    let checkpoint = NoteVerifier::parse(verifier_key)?.verify(checkpoint_note)?;
    let line = entry_bytes.strip_suffix(b"\n").unwrap_or(entry_bytes);
    let entry = LineCheck::default()
        .check(line)
        .map_err(|reason| VerifyError::BadEntry { line: 1, reason })?;
    if proof.leaf_index != entry.seq {
        return Err(VerifyError::ProofMismatch(format!(
            "the proof is for leaf {}, the entry has seq {}",
            proof.leaf_index, entry.seq
        )));
    }
    if proof.tree_size != checkpoint.size {
        return Err(VerifyError::ProofMismatch(format!(
            "the proof is for a tree of {} entries, the checkpoint has {}",
            proof.tree_size, checkpoint.size
        )));
    }
    merkle::verify_inclusion(
        &leaf_hash(line),
        proof.leaf_index,
        proof.tree_size,
        &proof.hashes,
        &checkpoint.root,
    )
    .map_err(proof_error)?;
    Ok(checkpoint)
}

/// Checks that the tree of an older signed checkpoint is a prefix of a newer one's; returns
/// both checkpoints, old first.
pub fn check_consistency(
    proof: &ConsistencyProof,
    old_note: &str,
    new_note: &str,
    verifier_key: &str,
) -> Result<(Checkpoint, Checkpoint), VerifyError> {
    let verifier = NoteVerifier::parse(verifier_key)?;
    let old = verifier.verify(old_note)?;
    let new = verifier.verify(new_note)?;
    if old.origin != new.origin {
        return Err(VerifyError::ProofMismatch(format!(
            "the checkpoints are of two logs, {} and {}",
            old.origin, new.origin
        )));
    }
    if (proof.from, proof.to) != (old.size, new.size) {
        return Err(VerifyError::ProofMismatch(format!(
            "the proof is from size {} to {}, the checkpoints are of sizes {} and {}",
            proof.from, proof.to, old.size, new.size
        )));
    }
    if old.size > new.size {
        return Err(VerifyError::ProofMismatch(format!(
            "the old checkpoint ({} entries) is larger than the new one ({})",
            old.size, new.size
        )));
    }
    // Every tree extends the empty one; RFC 9162 defines no proof for it.
    if old.size == 0 {
        return if proof.hashes.is_empty() {
            Ok((old, new))
        } else {
            Err(VerifyError::ProofFailed)
        };
    }
    merkle::verify_consistency(old.size, new.size, &proof.hashes, &old.root, &new.root)
        .map_err(proof_error)?;
    Ok((old, new))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::LedgerKey;
    use ed25519_dalek::SigningKey;
    use serde_json::{Value, json};

    fn line(seq: u64, grant: &str, detail: bool) -> Vec<u8> {
        let decision = if seq.is_multiple_of(4) {
            "deny"
        } else {
            "permit"
        };
        let mut value = json!({
            "seq": seq, "time": "2026-07-01T12:00:00.000000Z", "kind": "data_access",
            "actor_org": format!("org{}", seq % 3), "grant": grant, "decision": decision,
            "reason": "ok \"q\" \\ \u{e9} \n \u{1} /", "bytes": seq * 10, "rows": seq, "fee": 1,
        });
        if detail && seq.is_multiple_of(5) {
            value["kind"] = "sign_in".into();
            value["detail"] = json!({ "z": 1, "a": [ { "y": 2, "b": 1 } ] });
        }
        match Entry::decode(value.to_string().as_bytes()) {
            Ok(entry) => entry.canonical(),
            Err(e) => panic!("{e}"),
        }
    }

    fn export(n: u64, detail: bool) -> Vec<Vec<u8>> {
        (0..n)
            .map(|seq| line(seq, &format!("g{}", seq % 7), detail))
            .collect()
    }

    fn signed(lines: &[Vec<u8>]) -> (String, String) {
        let Ok(key) = LedgerKey::new("pdx.test/ledger", SigningKey::from_bytes(&[3; 32])) else {
            panic!()
        };
        let leaves: Vec<Hash> = lines.iter().map(|l| leaf_hash(l)).collect();
        let note = key.sign(&Checkpoint {
            origin: "pdx.test/ledger".into(),
            size: leaves.len() as u64,
            root: merkle::root(&leaves),
        });
        (note, key.verifier_key())
    }

    fn run(
        lines: &[Vec<u8>],
        note: &str,
        key: &str,
        threads: usize,
        chunk: usize,
    ) -> Result<Report, VerifyError> {
        let how = Scan {
            threads,
            chunk_bytes: chunk,
            calendar: Calendar::default(),
        };
        verify_export_with(lines.join(&b'\n').as_slice(), note, key, how)
    }

    /// The exact rule: the line decodes and is its entry's canonical bytes.
    fn exactly_canonical(line: &[u8]) -> bool {
        Entry::decode(line).is_ok_and(|entry| entry.canonical() == line)
    }

    #[test]
    fn tree_builder_matches_merkle_root_for_every_size_up_to_300() {
        let mut builder = TreeBuilder::new();
        let mut leaves = Vec::new();
        assert_eq!(builder.root(), merkle::root(&leaves));
        for i in 0..300u32 {
            let leaf = leaf_hash(&i.to_be_bytes());
            leaves.push(leaf);
            builder.push(leaf);
            assert_eq!(builder.root(), merkle::root(&leaves), "size {}", i + 1);
        }
    }

    /// Every line one byte away from `original`: a byte deleted, doubled, swapped with the
    /// next or replaced by one of `replacements`.
    fn small_mutations(original: &[u8], replacements: &[u8]) -> Vec<Vec<u8>> {
        let mut mutants = Vec::new();
        for at in 0..original.len() {
            let mut deleted = original.to_vec();
            deleted.remove(at);
            mutants.push(deleted);
            let mut doubled = original.to_vec();
            doubled.insert(at, original[at]);
            mutants.push(doubled);
            if at + 1 < original.len() {
                let mut swapped = original.to_vec();
                swapped.swap(at, at + 1);
                mutants.push(swapped);
            }
            for &byte in replacements {
                let mut replaced = original.to_vec();
                replaced[at] = byte;
                mutants.push(replaced);
            }
        }
        mutants
    }

    #[test]
    fn one_pass_check_agrees_with_the_exact_rule_on_every_small_mutation() {
        let replacements = b" \"\\,:{}[]01-9aeuzn.\x01\x7f\xc3";
        for original in [line(1, "g", false), line(6, "", false), line(5, "g", true)] {
            let mut check = LineCheck::default();
            let Ok(facts) = check.check(&original) else {
                panic!("{}", String::from_utf8_lossy(&original))
            };
            let Ok(entry) = Entry::decode(&original) else {
                panic!()
            };
            assert_eq!(facts, Facts::from(entry));
            assert!(
                check.fast(&original).is_some(),
                "a line takes the one-pass way once its shape is known"
            );
            let mut mutants = small_mutations(&original, replacements);
            let text = String::from_utf8_lossy(&original).into_owned();
            for (from, to) in [
                ("ok", "\\u006fk"),
                ("/", "\\/"),
                ("\\n", "\\u000a"),
                ("\\u0001", "\\u0001\\u0002"),
                ("\\u0001", "\\u0001\\u007f"),
                ("\\u0001", "\\u0001\u{7f}"),
                ("\"bytes\":", "\"bytes\":-"),
                ("\"fee\":1", "\"fee\":1.0"),
                ("\"fee\":1", "\"fee\":18446744073709551616"),
                ("\"fee\":1", "\"fee\":18446744073709551615"),
                ("\"fee\":1", "\"fee\":\"1\""),
                ("\"fee\":1", "\"fee\":true"),
                ("\"fee\":1,", ""),
                (",\"fee\":1", ",\"fee\":1,\"fee\":1"),
                ("\"rows\"", "\"extra\":null,\"rows\""),
                ("\"2026-07-01T12:00:00.000000Z\"", "0"),
                ("\"2026-07-01T12:00:00.000000Z\"", "null"),
                ("\"actor_user\":null", "\"actor_user\":7"),
                ("\"actor_user\":null", "\"actor_user\":false"),
                ("\"actor_user\":null", "\"actor_user\":\"x\""),
                ("}", "}\n"),
            ] {
                mutants.push(text.replacen(from, to, 1).into_bytes());
            }
            let detail = r#"{"a":[{"b":1,"y":2}],"z":1}"#;
            let deep = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
            for other in [
                r#"{"z":1,"a":[{"b":1,"y":2}]}"#.to_owned(),
                r#"{"a":[{"y":2,"b":1}],"z":1}"#.to_owned(),
                r#"{"a":[{"b":1,"y":2}],"z":-0}"#.to_owned(),
                r#"{"a":[{"b":1,"y":2}],"z":-7}"#.to_owned(),
                r#"{"a":[{"b":1,"y":2}],"z":1.5}"#.to_owned(),
                r#"{"a":[{"b":1,"y":2}],"z":1e3}"#.to_owned(),
                r#"{"a":[{"b":1,"y":2}],"z":1,"z":2}"#.to_owned(),
                r#"{"a":[],"z":{}}"#.to_owned(),
                r#"{"\u0061":1}"#.to_owned(),
                r#"{"é":1,"z":2}"#.to_owned(),
                r#"{"z":1,"é":2}"#.to_owned(),
                r#"{"a":[1 ,2]}"#.to_owned(),
                r#"{"a":9223372036854775808,"b":-9223372036854775808}"#.to_owned(),
                r#"{"a":-9223372036854775809}"#.to_owned(),
                r#"{"a":18446744073709551616}"#.to_owned(),
                format!(r#"{{"a":{}}}"#, deep(20)),
                format!(r#"{{"a":{}}}"#, deep(40)),
                format!(r#"{{"a":{}}}"#, deep(200)),
            ] {
                mutants.push(text.replacen(detail, &other, 1).into_bytes());
            }
            for mutant in &mutants {
                let exact = exactly_canonical(mutant);
                let checked = check.check(mutant);
                assert_eq!(
                    checked.is_ok(),
                    exact,
                    "{}",
                    String::from_utf8_lossy(mutant)
                );
                if let (Ok(facts), Ok(entry)) = (checked, Entry::decode(mutant)) {
                    assert_eq!(facts, Facts::from(entry));
                }
                // The same, with the line found in a chunk rather than given.
                let mut chunk = mutant.clone();
                chunk.push(b'\n');
                chunk.extend_from_slice(&original);
                let first = chunk.split(|&b| b == b'\n').next().unwrap_or_default();
                let (line, checked) = check.next_line(&chunk);
                assert_eq!(line, first);
                assert_eq!(checked.is_ok(), exactly_canonical(first));
            }
        }
    }

    /// The names of the entry's fields, from the error serde gives for an unknown one.
    fn field_names() -> Vec<String> {
        let Err(error) = Entry::decode(br#"{"no such field":1}"#) else {
            panic!()
        };
        let message = error.to_string();
        let Some((_, list)) = message.split_once("expected one of ") else {
            panic!("{message}")
        };
        list.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn every_field_decodes_and_prints_back_alike_within_a_kind() {
        // The one-pass check relies on this: within one kind, whether a field's value decodes
        // and prints back to itself does not depend on the value.
        let names = field_names();
        for required in [
            "seq",
            "kind",
            "decision",
            "grant",
            "actor_org",
            "bytes",
            "rows",
            "fee",
        ] {
            assert!(names.iter().any(|n| n == required), "{names:?}");
        }
        let Ok(base) = serde_json::from_slice::<BTreeMap<String, Value>>(&line(3, "g", false))
        else {
            panic!()
        };
        let kinds: [(&str, Vec<Value>); 10] = [
            ("null", vec![json!(null)]),
            ("empty string", vec![json!("")]),
            (
                "string",
                vec![
                    json!("x"),
                    json!("permit"),
                    json!("data_access"),
                    json!("2026-07-01T12:00:00Z"),
                    json!("0"),
                    json!("é \"q\" \\ \n \u{1} / \u{2028}"),
                ],
            ),
            ("zero", vec![json!(0)]),
            ("integer", vec![json!(1), json!(42), json!(u64::MAX)]),
            ("negative", vec![json!(-1), json!(-42), json!(i64::MIN)]),
            (
                "object",
                vec![
                    json!({}),
                    json!({ "a": 1 }),
                    json!({ "b": { "c": [1, "x", null, true, -5] }, "d": "é" }),
                ],
            ),
            (
                "array",
                vec![json!([]), json!([1]), json!(["x", { "a": null }, []])],
            ),
            ("true", vec![json!(true)]),
            ("false", vec![json!(false)]),
        ];
        for name in &names {
            for (kind, values) in &kinds {
                let outcomes: Vec<bool> = values
                    .iter()
                    .map(|value| {
                        let mut fields = base.clone();
                        fields.insert(name.clone(), value.clone());
                        exactly_canonical(&serde_json::to_vec(&fields).unwrap_or_default())
                    })
                    .collect();
                assert!(
                    outcomes.windows(2).all(|w| w[0] == w[1]),
                    "field `{name}` with a {kind}: {outcomes:?}"
                );
            }
        }
    }

    #[test]
    fn chunked_parallel_scan_reports_the_same_as_a_single_pass() {
        for detail in [false, true] {
            let lines = export(50, detail);
            let (note, key) = signed(&lines);
            let one = run(&lines, &note, &key, 1, 1 << 20).map_err(|e| e.to_string());
            assert!(one.is_ok(), "{one:?}");
            for (threads, chunk) in [(2, 1), (3, 300), (4, 2000)] {
                let other = run(&lines, &note, &key, threads, chunk).map_err(|e| e.to_string());
                assert_eq!(other, one);
            }
            for bad in [0usize, 7, 20, 49] {
                let mut swapped = lines.clone();
                swapped.swap(bad, (bad + 1) % 50);
                let mut edited = lines.clone();
                edited[bad].insert(1, b' ');
                for (threads, chunk) in [(1, 1 << 20), (2, 1), (3, 300), (4, 2000)] {
                    let first = if bad == 49 { 0 } else { bad as u64 };
                    let error = run(&swapped, &note, &key, threads, chunk).err();
                    assert!(
                        matches!(error, Some(VerifyError::Sequence { line, .. }) if line == first + 1),
                        "{error:?}"
                    );
                    let error = run(&edited, &note, &key, threads, chunk).err();
                    assert!(
                        matches!(error, Some(VerifyError::BadEntry { line, .. }) if line == bad as u64 + 1),
                        "{error:?}"
                    );
                }
            }
        }
    }

    fn canonical(value: &Value) -> Vec<u8> {
        match Entry::decode(value.to_string().as_bytes()) {
            Ok(entry) => entry.canonical(),
            Err(e) => panic!("{e}"),
        }
    }

    /// Lines of a dozen shapes that share most fields: a fee, bytes, grant or organisation of
    /// another kind, escaped and non-ASCII strings, an event's detail and subject.
    fn lines_of_many_shapes() -> Vec<Vec<u8>> {
        let base = json!({
            "seq": 12, "time": "2026-07-01T12:00:00.000000Z", "kind": "data_access",
            "actor_org": "org1", "grant": "g1", "decision": "permit", "reason": "grant",
            "bytes": 10, "rows": 2, "fee": 100,
        });
        let changes: [&[(&str, Value)]; 11] = [
            &[],
            &[("fee", json!(0))],
            &[("bytes", json!(0)), ("rows", json!(0)), ("fee", json!(0))],
            &[("grant", Value::Null)],
            &[("actor_org", Value::Null), ("time", json!(""))],
            &[("actor_org", json!(""))],
            &[("decision", json!("deny")), ("fee", json!(0))],
            &[("reason", json!("ok \"q\" \\ \u{e9} \n \u{1} /"))],
            &[("grant", json!("g\"\u{e9}"))],
            &[("detail", json!({ "a": [1, { "b": null }], "z": -3 }))],
            &[
                ("kind", json!("sign_in")),
                ("subject", json!("clerk@example.gov")),
            ],
        ];
        changes
            .iter()
            .map(|change| {
                let mut value = base.clone();
                for (key, to) in *change {
                    value[*key] = to.clone();
                }
                canonical(&value)
            })
            .collect()
    }

    #[test]
    fn one_pass_check_switching_shapes_agrees_with_the_exact_rule() {
        let lines = lines_of_many_shapes();
        let mut check = LineCheck::default();
        for line in &lines {
            assert!(check.check(line).is_ok());
        }
        // Strings with escapes or beyond ASCII, and a deny, are strings like others.
        assert_eq!(check.shapes.len(), 8);
        let facts = |line: &[u8]| Entry::decode(line).ok().map(Facts::from);
        // Whichever shape matched last, a line of a known shape takes the one-pass way.
        for from in &lines {
            for line in &lines {
                assert!(check.fast(from).is_some());
                let found = check.fast(line).map(|(end, found)| (end, Some(found)));
                assert_eq!(found, Some((line.len(), facts(line))));
            }
        }
        let text = String::from_utf8_lossy(&lines[0]).into_owned();
        let mut refused: Vec<Vec<u8>> = [
            ("{\"actor_org\":\"org1\",", "{"),
            ("\"bytes\":10,", "\"bytes\":10,\"actor_org\":\"org1\","),
            (":", ": "),
            (",", " ,"),
            ("}", "}\n"),
            ("org1", "\\u006frg1"),
            ("org1", "org\\u0031"),
            ("\"fee\":100", "\"fee\":0100"),
            ("\"fee\":100", "\"fee\":100.0"),
            ("\"fee\":100", "\"fee\":1e2"),
            ("\"fee\":100", "\"fee\":-0"),
            ("\"rows\"", "\"unknown\":1,\"rows\""),
            ("\"rows\"", "\"grant\":\"g1\",\"rows\""),
            ("\"purpose\":null,", ""),
        ]
        .iter()
        .map(|(from, to)| text.replacen(from, to, 1).into_bytes())
        .collect();
        refused.push(lines[0].iter().copied().filter(|&b| b != b'"').collect());
        for line in &lines {
            for mutant in small_mutations(line, b" \"\\,:{}01a\x01\x7f\xc3") {
                if !exactly_canonical(&mutant) {
                    refused.push(mutant);
                }
            }
        }
        // Nor does it take, from any known shape, a line the exact rule refuses.
        for mutant in &refused {
            assert!(!exactly_canonical(mutant));
            for from in [&lines[0], &lines[4], &lines[9]] {
                assert!(check.fast(from).is_some());
                let found = check.fast(mutant);
                assert!(
                    found.is_none_or(|(end, _)| end != mutant.len()),
                    "{}",
                    String::from_utf8_lossy(mutant)
                );
            }
            assert!(check.check(mutant).is_err());
        }
    }

    /// What a run of the export gives: the facts a report or an error states, per chunking.
    fn outcomes(lines: &[Vec<u8>], note: &str, key: &str) -> Vec<String> {
        [(1, 1 << 20), (2, 1), (2, 700), (3, 300), (4, 2000)]
            .iter()
            .map(
                |&(threads, chunk)| match run(lines, note, key, threads, chunk) {
                    Ok(report) => format!("{report:?}"),
                    Err(error) => format!("{} {error:?}", error.exit_code()),
                },
            )
            .collect()
    }

    #[test]
    fn chunked_scan_names_the_first_bad_line_as_a_single_pass_does() {
        let lines = export(40, true);
        let (note, key) = signed(&lines);
        let sequence = |line: u64, found: u64, expected: u64| {
            format!(
                "7 {:?}",
                VerifyError::Sequence {
                    line,
                    found,
                    expected
                }
            )
        };
        let bad = |line: u64| format!("6 BadEntry {{ line: {line},");
        let mut cases: Vec<(Vec<Vec<u8>>, String)> = Vec::new();
        for at in [0usize, 1, 17, 36] {
            let mut deleted = lines.clone();
            deleted.remove(at);
            let n = at as u64;
            cases.push((deleted, sequence(n + 1, n + 1, n)));
            let mut doubled = lines.clone();
            doubled.insert(at, lines[at].clone());
            cases.push((doubled, sequence(n + 2, n, n + 1)));
            // A bad line before a misplaced one is the one named, and a misplaced one before
            // a bad one.
            let mut both = lines.clone();
            both.remove(at + 1);
            both[at].insert(1, b' ');
            cases.push((both.clone(), bad(n + 1)));
            both[at] = lines[at].clone();
            both[at + 2].insert(1, b' ');
            cases.push((both, sequence(n + 2, n + 2, n + 1)));
        }
        let mut late = lines;
        late.remove(0);
        late.push(line(40, "g", true));
        cases.push((late, sequence(1, 1, 0)));
        for (lines, expected) in cases {
            for outcome in outcomes(&lines, &note, &key) {
                assert!(outcome.starts_with(&expected), "{outcome} / {expected}");
            }
        }
    }

    #[test]
    fn line_longer_than_the_limit_is_named_by_its_number() {
        let lines = export(30, false);
        let (note, key) = signed(&lines);
        // Well past the limit: it is checked a block read at a time.
        let long = vec![b'x'; usize::try_from(MAX_LINE).unwrap_or_default() + 200_000];
        for at in [0usize, 12, 29] {
            let mut with_long = lines.clone();
            with_long[at].clone_from(&long);
            for outcome in outcomes(&with_long, &note, &key) {
                let expected = format!("6 BadEntry {{ line: {}, reason: \"longer than", at + 1);
                assert!(outcome.starts_with(&expected), "{outcome}");
            }
            if at > 0 {
                with_long[at - 1].insert(1, b' ');
                for outcome in outcomes(&with_long, &note, &key) {
                    let expected = format!("6 BadEntry {{ line: {}, reason: \"not", at);
                    assert!(outcome.starts_with(&expected), "{outcome}");
                }
            }
        }
    }
}
