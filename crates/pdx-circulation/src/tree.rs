//! The ledger's Merkle tree as a server holds it: roots of complete chunks of
//! [`CHUNK`] leaves and every perfect subtree above them in memory (64 bytes per chunk), the
//! leaves of the incomplete last chunk, and nothing else — leaves inside a complete chunk are
//! read back from the entries when a proof needs them. Roots and proofs of any tree size up to
//! the cached size cost O(log n) hashes and at most two reads of one chunk each.

use crate::merkle::{self, Hash, MerkleError};

/// Leaves per chunk (a power of two).
pub const CHUNK: u64 = 256;
const CHUNK_LEVEL: u32 = CHUNK.trailing_zeros();

/// Where the leaf hashes of a range come from (the entries table, or memory in tests).
pub trait Leaves {
    /// The error of reading them.
    type Error: From<MerkleError>;
    /// The leaf hashes of `[start, end)`, in order.
    fn leaves(&mut self, start: u64, end: u64) -> Result<Vec<Hash>, Self::Error>;
}

/// The cached tree (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct TreeCache {
    /// `levels[0]`: roots of complete chunks; `levels[i]`: perfect subtrees of `2^i` chunks.
    levels: Vec<Vec<Hash>>,
    /// Leaves of the incomplete last chunk.
    tail: Vec<Hash>,
}

impl TreeCache {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |c| c.len() as u64) * CHUNK + self.tail.len() as u64
    }

    /// Adds the next leaf.
    pub fn push(&mut self, leaf: Hash) {
        self.tail.push(leaf);
        if self.tail.len() as u64 == CHUNK {
            let mut node = merkle::root(&self.tail);
            self.tail.clear();
            let mut level = 0;
            loop {
                if self.levels.len() == level {
                    self.levels.push(Vec::new());
                }
                let row = &mut self.levels[level];
                row.push(node);
                if row.len() % 2 == 1 {
                    break;
                }
                node = merkle::node_hash(&row[row.len() - 2], &row[row.len() - 1]);
                level += 1;
            }
        }
    }

    /// The root of the tree of the first `size` leaves.
    pub fn root<L: Leaves>(&self, size: u64, leaves: &mut L) -> Result<Hash, L::Error> {
        self.check(size)?;
        if size == 0 {
            return Ok(merkle::empty_root());
        }
        self.mth(0, size, &mut Chunks::new(leaves))
    }

    /// The inclusion proof of leaf `index` in the tree of `size` leaves (RFC 9162 order).
    pub fn inclusion_proof<L: Leaves>(
        &self,
        index: u64,
        size: u64,
        leaves: &mut L,
    ) -> Result<Vec<Hash>, L::Error> {
        self.check(size)?;
        if index >= size {
            return Err(MerkleError::IndexOutOfRange { index, size }.into());
        }
        let mut proof = Vec::new();
        self.path(index, 0, size, &mut Chunks::new(leaves), &mut proof)?;
        Ok(proof)
    }

    /// The consistency proof from the tree of `from` leaves to that of `to` leaves.
    pub fn consistency_proof<L: Leaves>(
        &self,
        from: u64,
        to: u64,
        leaves: &mut L,
    ) -> Result<Vec<Hash>, L::Error> {
        if from == 0 || from > to || to > self.size() {
            return Err(MerkleError::BadRange { from, to }.into());
        }
        let mut proof = Vec::new();
        if from < to {
            self.subproof(from, 0, to, true, &mut Chunks::new(leaves), &mut proof)?;
        }
        Ok(proof)
    }

    fn check(&self, size: u64) -> Result<(), MerkleError> {
        if size > self.size() {
            return Err(MerkleError::BadRange {
                from: size,
                to: self.size(),
            });
        }
        Ok(())
    }

    /// RFC 6962 PATH(m, D[start : start + n]).
    fn path<L: Leaves>(
        &self,
        m: u64,
        start: u64,
        n: u64,
        leaves: &mut Chunks<'_, L>,
        proof: &mut Vec<Hash>,
    ) -> Result<(), L::Error> {
        if n <= 1 {
            return Ok(());
        }
        let k = split(n);
        if m < k {
            self.path(m, start, k, leaves, proof)?;
            proof.push(self.mth(start + k, n - k, leaves)?);
        } else {
            self.path(m - k, start + k, n - k, leaves, proof)?;
            proof.push(self.mth(start, k, leaves)?);
        }
        Ok(())
    }

    /// RFC 6962 SUBPROOF(m, D[start : start + n], b).
    fn subproof<L: Leaves>(
        &self,
        m: u64,
        start: u64,
        n: u64,
        complete: bool,
        leaves: &mut Chunks<'_, L>,
        proof: &mut Vec<Hash>,
    ) -> Result<(), L::Error> {
        if m == n {
            if !complete {
                proof.push(self.mth(start, n, leaves)?);
            }
            return Ok(());
        }
        let k = split(n);
        if m <= k {
            self.subproof(m, start, k, complete, leaves, proof)?;
            proof.push(self.mth(start + k, n - k, leaves)?);
        } else {
            self.subproof(m - k, start + k, n - k, false, leaves, proof)?;
            proof.push(self.mth(start, k, leaves)?);
        }
        Ok(())
    }

    /// MTH(D[start : start + n]) for n ≥ 1, from cached perfect subtrees where it can.
    fn mth<L: Leaves>(
        &self,
        start: u64,
        n: u64,
        leaves: &mut Chunks<'_, L>,
    ) -> Result<Hash, L::Error> {
        if n.is_power_of_two() && n >= CHUNK && start.is_multiple_of(n) {
            let level = n.trailing_zeros() - CHUNK_LEVEL;
            let cached = self
                .levels
                .get(level as usize)
                .and_then(|row| row.get(usize::try_from(start / n).ok()?));
            if let Some(hash) = cached {
                return Ok(*hash);
            }
        }
        if n <= CHUNK && start / CHUNK == (start + n - 1) / CHUNK {
            return Ok(merkle::root(&self.read(start, start + n, leaves)?));
        }
        let k = split(n);
        Ok(merkle::node_hash(
            &self.mth(start, k, leaves)?,
            &self.mth(start + k, n - k, leaves)?,
        ))
    }

    /// Leaf hashes of `[start, end)` within one chunk: from the tail, or read back (each
    /// chunk once per proof).
    fn read<L: Leaves>(
        &self,
        start: u64,
        end: u64,
        leaves: &mut Chunks<'_, L>,
    ) -> Result<Vec<Hash>, L::Error> {
        let complete = self.levels.first().map_or(0, |c| c.len() as u64) * CHUNK;
        let slice = |all: &[Hash], base: u64| {
            let a = usize::try_from(start - base).unwrap_or(usize::MAX);
            let b = usize::try_from(end - base).unwrap_or(usize::MAX);
            all.get(a..b).map(<[Hash]>::to_vec).unwrap_or_default()
        };
        if start >= complete {
            return Ok(slice(&self.tail, complete));
        }
        let chunk = start / CHUNK;
        if !leaves.read.contains_key(&chunk) {
            let all = leaves.source.leaves(chunk * CHUNK, (chunk + 1) * CHUNK)?;
            leaves.read.insert(chunk, all);
        }
        Ok(leaves
            .read
            .get(&chunk)
            .map(|all| slice(all, chunk * CHUNK))
            .unwrap_or_default())
    }
}

/// A leaf source that reads each chunk at most once.
struct Chunks<'a, L> {
    source: &'a mut L,
    read: std::collections::HashMap<u64, Vec<Hash>>,
}

impl<'a, L> Chunks<'a, L> {
    fn new(source: &'a mut L) -> Self {
        Self {
            source,
            read: std::collections::HashMap::new(),
        }
    }
}

/// The largest power of two strictly smaller than `n` (n ≥ 2).
fn split(n: u64) -> u64 {
    1 << (63 - (n - 1).leading_zeros())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Memory<'a>(&'a [Hash], usize);

    impl Leaves for Memory<'_> {
        type Error = MerkleError;
        fn leaves(&mut self, start: u64, end: u64) -> Result<Vec<Hash>, MerkleError> {
            self.1 += 1;
            Ok(self.0[start as usize..end as usize].to_vec())
        }
    }

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n)
            .map(|i| merkle::leaf_hash(&i.to_be_bytes()))
            .collect()
    }

    #[test]
    fn split_is_the_largest_power_of_two_below() {
        assert_eq!(
            [2, 3, 4, 5, 8, 9, 1025].map(split),
            [1, 2, 2, 4, 4, 8, 1024]
        );
    }

    #[test]
    fn roots_and_proofs_equal_those_over_all_leaves() {
        let all = leaves(3 * CHUNK + 77);
        let mut tree = TreeCache::new();
        for leaf in &all {
            tree.push(*leaf);
        }
        assert_eq!(tree.size(), all.len() as u64);
        let sizes = [1, 2, 3, 255, 256, 257, 511, 512, 513, 700, 768, 769, 845];
        for &size in &sizes {
            let prefix = &all[..size as usize];
            let mut source = Memory(&all, 0);
            assert_eq!(
                tree.root(size, &mut source),
                Ok(merkle::root(prefix)),
                "root {size}"
            );
            for index in [0, 1, size / 2, size.saturating_sub(2), size - 1] {
                assert_eq!(
                    tree.inclusion_proof(index, size, &mut source),
                    merkle::inclusion_proof(prefix, index),
                    "inclusion {index} of {size}"
                );
            }
            for &from in sizes.iter().filter(|f| **f <= size) {
                assert_eq!(
                    tree.consistency_proof(from, size, &mut source),
                    merkle::consistency_proof(prefix, from),
                    "consistency {from} → {size}"
                );
            }
        }
    }

    #[test]
    fn a_proof_reads_few_chunks_of_a_large_tree() {
        let all = leaves(64 * CHUNK + 5);
        let mut tree = TreeCache::new();
        for leaf in &all {
            tree.push(*leaf);
        }
        let mut source = Memory(&all, 0);
        let size = tree.size();
        let proof = tree.inclusion_proof(1000, size, &mut source);
        assert_eq!(proof, merkle::inclusion_proof(&all, 1000));
        assert!(source.1 <= 2, "read {} chunks", source.1);
        assert!(tree.inclusion_proof(size, size, &mut source).is_err());
        assert!(tree.root(size + 1, &mut source).is_err());
    }
}
