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

/// Verifies an NDJSON export against a signed checkpoint and recounts usage from it.
pub fn verify_export(
    export: impl BufRead,
    checkpoint_note: &str,
    verifier_key: &str,
) -> Result<Report, VerifyError> {
    // Past a few workers the single reader (and the fold of leaves) is the limit.
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(8);
    verify_export_with(export, checkpoint_note, verifier_key, threads, CHUNK_BYTES)
}

fn verify_export_with(
    export: impl BufRead,
    checkpoint_note: &str,
    verifier_key: &str,
    threads: usize,
    chunk_bytes: usize,
) -> Result<Report, VerifyError> {
    let checkpoint = NoteVerifier::parse(verifier_key)?.verify(checkpoint_note)?;
    let (tree, tally) = scan(export, threads.max(1), chunk_bytes.max(1))?;
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
    Ok(tally.into_report(checkpoint))
}

/// Whole lines of the export, back to back, each ended by a newline (the last line of the
/// export may lack it).
#[derive(Debug, Default)]
struct Chunk {
    /// The index (= expected seq) of the first line.
    first: u64,
    data: Vec<u8>,
}

/// A worker's result for one chunk: the leaves up to the first bad line, and that line's error.
#[derive(Debug)]
struct Outcome {
    leaves: Vec<Hash>,
    error: Option<VerifyError>,
}

/// Reads the export in chunks that `threads` workers take from one queue to check, hash and
/// count, and folds their leaves in the export's order, so the first bad line is the one
/// reported. Each worker keeps its own tally (a per-chunk one would allocate every grant's
/// key again for every chunk); they are added up at the end.
fn scan(
    mut export: impl BufRead,
    threads: usize,
    chunk_bytes: usize,
) -> Result<(TreeBuilder, Tally), VerifyError> {
    // Chunks read but not yet folded: enough that no worker waits for a slow one's result.
    let in_flight = 4 * threads;
    let (task_tx, task_rx) = mpsc::sync_channel::<(u64, Chunk)>(in_flight);
    let task_rx = Mutex::new(task_rx);
    std::thread::scope(|scope| {
        let (done_tx, done_rx) = mpsc::channel::<(u64, Outcome)>();
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let (task_rx, done_tx) = (&task_rx, done_tx.clone());
                scope.spawn(move || {
                    let mut check = LineCheck::default();
                    let mut tally = Tally::default();
                    loop {
                        let task = match task_rx.lock() {
                            Ok(tasks) => tasks.recv(),
                            Err(_) => break,
                        };
                        let Ok((index, chunk)) = task else { break };
                        let outcome = check_chunk(&chunk, &mut check, &mut tally);
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
        let (mut sent, mut folded) = (0u64, 0u64);
        // Waits for one more outcome, then folds all that are next in order.
        let mut fold_some = |folded: &mut u64| -> Result<(), VerifyError> {
            let (index, outcome) = done_rx.recv().map_err(|_| stopped())?;
            early.insert(index, outcome);
            while let Some(outcome) = early.remove(folded) {
                *folded += 1;
                for leaf in outcome.leaves {
                    tree.push(leaf);
                }
                if let Some(error) = outcome.error {
                    return Err(error);
                }
            }
            Ok(())
        };
        let mut carry = Vec::new();
        let mut next = 0u64;
        while let Some(chunk) = read_chunk(&mut export, next, chunk_bytes, &mut carry)? {
            next += line_count(&chunk.data);
            while sent - folded >= in_flight as u64 {
                fold_some(&mut folded)?;
            }
            task_tx.send((sent, chunk)).map_err(|_| stopped())?;
            sent += 1;
        }
        drop(task_tx);
        while folded < sent {
            fold_some(&mut folded)?;
        }
        let mut tally = Tally::default();
        for worker in workers {
            tally.merge(worker.join().map_err(|_| stopped())?);
        }
        Ok((tree, tally))
    })
}

/// How many lines a chunk holds.
fn line_count(data: &[u8]) -> u64 {
    let mut words = data.chunks_exact(8);
    let mut newlines = 0u64;
    for word in &mut words {
        let word = u64::from_le_bytes(word.try_into().unwrap_or_default()) ^ (ONES * 0x0a);
        // Exact per byte, unlike `zero` in `specials`: the high bit is clear only for zeros.
        let nonzero = ((word & !HIGHS) + !HIGHS) | word;
        newlines += u64::from((!nonzero & HIGHS).count_ones());
    }
    newlines += words.remainder().iter().filter(|&&b| b == b'\n').count() as u64;
    newlines + u64::from(!data.is_empty() && !data.ends_with(b"\n"))
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

/// Reads whole lines, at least `chunk_bytes` of them unless the export ends first; the start
/// of a line read past them is kept in `carry` for the next chunk. `None` at the end.
fn read_chunk(
    export: &mut impl BufRead,
    first: u64,
    chunk_bytes: usize,
    carry: &mut Vec<u8>,
) -> Result<Option<Chunk>, VerifyError> {
    const BLOCK: usize = 64 * 1024;
    let unreadable = |source| VerifyError::Unreadable {
        what: "the export".into(),
        source,
    };
    let mut data = std::mem::take(carry);
    data.reserve(chunk_bytes.min(4 * BLOCK));
    // Where the last, incomplete line starts: just past the last newline.
    let mut tail = data
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |at| at + 1);
    let mut end = false;
    while data.len() < chunk_bytes || tail == 0 {
        if (data.len() - tail) as u64 > MAX_LINE {
            return Err(VerifyError::BadEntry {
                line: first + line_count(data.get(..tail).unwrap_or_default()) + 1,
                reason: format!("longer than {MAX_LINE} bytes"),
            });
        }
        let buffer = export.fill_buf().map_err(unreadable)?;
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
        *carry = data.split_off(tail);
    }
    Ok((!data.is_empty()).then_some(Chunk { first, data }))
}

fn check_chunk(chunk: &Chunk, check: &mut LineCheck, tally: &mut Tally) -> Outcome {
    let mut outcome = Outcome {
        leaves: Vec::with_capacity(chunk.data.len() / 256),
        error: None,
    };
    let mut rest = chunk.data.strip_suffix(b"\n").unwrap_or(&chunk.data);
    for expected in chunk.first.. {
        let (line, checked) = check.next_line(rest);
        let line_number = expected + 1;
        let facts = match checked {
            Ok(facts) => facts,
            Err(reason) => {
                outcome.error = Some(VerifyError::BadEntry {
                    line: line_number,
                    reason,
                });
                break;
            }
        };
        if facts.seq != expected {
            outcome.error = Some(VerifyError::Sequence {
                line: line_number,
                found: facts.seq,
                expected,
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
    /// brace), noting where the values are and whether a string has bytes beyond ASCII.
    fn matches(
        &self,
        text: &[u8],
        values: &mut Vec<Range<usize>>,
        non_ascii: &mut bool,
    ) -> Option<usize> {
        values.clear();
        let mut at = 0;
        for (prefix, kind) in &self.fields {
            if !starts_with(text.get(at..)?, prefix) {
                return None;
            }
            at += prefix.len();
            let end = value_of_kind(text, at, *kind, non_ascii)?;
            values.push(at..end);
            at = end;
        }
        (text.get(at) == Some(&b'}')).then_some(at + 1)
    }
}

/// `text.starts_with(prefix)` for the short prefixes of shapes, a word at a time rather than
/// through a call to `memcmp`.
fn starts_with(text: &[u8], prefix: &[u8]) -> bool {
    let Some(head) = text.get(..prefix.len()) else {
        return false;
    };
    let word = |bytes: &[u8]| u64::from_le_bytes(bytes.try_into().unwrap_or_default());
    let (mut a, mut b) = (head.chunks_exact(8), prefix.chunks_exact(8));
    a.by_ref().zip(b.by_ref()).all(|(x, y)| word(x) == word(y))
        && a.remainder().iter().zip(b.remainder()).all(|(x, y)| x == y)
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
    fn fast<'a>(&mut self, text: &'a [u8]) -> Option<(usize, Facts<'a>)> {
        let values = &mut self.values;
        let mut non_ascii = false;
        let mut matched = None;
        if let Some(shape) = self.shapes.get(self.last) {
            matched = shape
                .matches(text, values, &mut non_ascii)
                .map(|end| (self.last, end));
        }
        if matched.is_none() {
            matched = self.shapes.iter().enumerate().find_map(|(i, shape)| {
                non_ascii = false;
                shape
                    .matches(text, values, &mut non_ascii)
                    .map(|end| (i, end))
            });
        }
        let (found, end) = matched?;
        self.last = found;
        let line = text.get(..end)?;
        if non_ascii {
            std::str::from_utf8(line).ok()?;
        }
        Some((
            end,
            facts_at(line, &self.values, &self.shapes.get(found)?.index)?,
        ))
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
        let (end, kind) = value_end(line, key_end + 2, &mut false, 1)?;
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
            bytes: find("bytes")?,
            rows: find("rows")?,
            fee: find("fee")?,
        },
    };
    let mut values = Vec::new();
    let end = shape.matches(line, &mut values, &mut false)?;
    let found = facts_at(line, &values, &shape.index)?;
    (end == line.len() && found == *facts).then_some(shape)
}

fn facts_at<'a>(line: &'a [u8], values: &[Range<usize>], index: &FactIndex) -> Option<Facts<'a>> {
    let value = |i: usize| line.get(values.get(i)?.clone());
    let integer = |i: usize| parse_u64(value(i)?);
    // The line is valid UTF-8 already, and the recount keys strings by their bytes.
    let string = |i: usize| -> Option<Cow<'a, [u8]>> {
        let text = value(i)?;
        let inner = text.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
        if inner.contains(&b'\\') {
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
        bytes: integer(index.bytes)?,
        rows: integer(index.rows)?,
        fee: integer(index.fee)?,
    })
}

/// The end of the value starting at `start` if it is of `kind` (see [`value_end`]); the
/// common kinds are read directly, without finding out the kind first.
fn value_of_kind(line: &[u8], start: usize, kind: Kind, non_ascii: &mut bool) -> Option<usize> {
    let rest = line.get(start..)?;
    let literal = |text: &[u8]| rest.starts_with(text).then_some(start + text.len());
    match kind {
        Kind::String if rest.first() == Some(&b'"') => {
            let end = string_end(line, start, non_ascii)?;
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
        _ => match value_end(line, start, non_ascii, 1)? {
            (end, found) if found == kind => Some(end),
            _ => None,
        },
    }
}

/// Objects and arrays nested deeper than this take the exact way (serde_json stops at 128).
const MAX_DEPTH: usize = 32;

/// The end and kind of the value starting at `start`, if it is written as serde_json writes a
/// `Value` in canonical bytes: no whitespace, object keys strictly ascending (and unescaped),
/// integers within i64 or u64 without leading zeros or `-0`, no floats. Notes strings with
/// bytes beyond ASCII.
fn value_end(
    line: &[u8],
    start: usize,
    non_ascii: &mut bool,
    depth: usize,
) -> Option<(usize, Kind)> {
    let rest = line.get(start..)?;
    match rest.first()? {
        b'"' => {
            let end = string_end(line, start, non_ascii)?;
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
                let key_end = string_end(line, at, non_ascii)?;
                let key = line.get(at + 1..key_end - 1)?;
                // Unescaped keys sort as their bytes, as a `Value`'s map sorts them.
                if key.contains(&b'\\') || previous.is_some_and(|p| key <= p) {
                    return None;
                }
                previous = Some(key);
                if line.get(key_end) != Some(&b':') {
                    return None;
                }
                let (end, _) = value_end(line, key_end + 1, non_ascii, depth + 1)?;
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
                let (end, _) = value_end(line, at, non_ascii, depth + 1)?;
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
/// where there is one and `\u00xx` (lower-case hex) otherwise. Scans eight bytes at a time,
/// noting bytes beyond ASCII (perhaps some just past the string: that only costs a check).
fn string_end(line: &[u8], open: usize, non_ascii: &mut bool) -> Option<usize> {
    let mut at = open + 1;
    loop {
        let rest = line.get(at..)?;
        let mut words = rest.chunks_exact(8);
        let mut offset = 0;
        let special = loop {
            if let Some(word) = words.next() {
                let word = u64::from_le_bytes(word.try_into().unwrap_or_default());
                *non_ascii |= word & HIGHS != 0;
                let flags = specials(word);
                if flags != 0 {
                    break offset + (flags.trailing_zeros() / 8) as usize;
                }
                offset += 8;
            } else {
                let tail = words.remainder();
                *non_ascii |= !tail.is_ascii();
                break offset
                    + tail
                        .iter()
                        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
            }
        };
        at += special;
        match line.get(at)? {
            b'"' => return Some(at + 1),
            b'\\' => {
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

/// Counts gathered while scanning, merged chunk by chunk.
#[derive(Debug, Default)]
struct Tally {
    kinds: Counts,
    decisions: Counts,
    total: UsageCount,
    grants: Map<UsageCount>,
    organisations: Map<UsageCount>,
}

impl Tally {
    fn add(&mut self, facts: Facts<'_>) {
        self.kinds.add(&facts.kind, 1);
        self.decisions.add(&facts.decision, 1);
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
    }

    fn into_report(self, checkpoint: Checkpoint) -> Report {
        Report {
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
        verify_export_with(lines.join(&b'\n').as_slice(), note, key, threads, chunk)
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
            let mut mutants = Vec::new();
            for at in 0..original.len() {
                let mut deleted = original.clone();
                deleted.remove(at);
                mutants.push(deleted);
                let mut doubled = original.clone();
                doubled.insert(at, original[at]);
                mutants.push(doubled);
                if at + 1 < original.len() {
                    let mut swapped = original.clone();
                    swapped.swap(at, at + 1);
                    mutants.push(swapped);
                }
                for &byte in replacements {
                    let mut replaced = original.clone();
                    replaced[at] = byte;
                    mutants.push(replaced);
                }
            }
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
}
