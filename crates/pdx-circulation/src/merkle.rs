//! The Merkle tree of RFC 6962 §2.1 / RFC 9162 §2.1: leaf = SHA-256(0x00 ‖ data),
//! node = SHA-256(0x01 ‖ left ‖ right), the largest power of two smaller than n splitting a
//! tree of n leaves; inclusion and consistency proofs, and their verification (RFC 9162 §2.1.3–4).

use sha2::{Digest, Sha256};

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// Why a proof cannot be made or does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MerkleError {
    /// The leaf index is not below the tree size.
    #[error("leaf index {index} is outside a tree of size {size}")]
    IndexOutOfRange {
        /// The index asked for.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// The sizes of a consistency proof are not 0 < from ≤ to ≤ size.
    #[error("cannot prove consistency from size {from} to {to}")]
    BadRange {
        /// The smaller size.
        from: u64,
        /// The larger size.
        to: u64,
    },
    /// The proof does not lead to the expected root.
    #[error("the proof does not verify")]
    Mismatch,
}

/// The hash of a leaf's data.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0u8]);
    hasher.update(data);
    hasher.finalize().into()
}

/// The hash of an interior node.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([1u8]);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// The hash of the empty tree: SHA-256 of nothing.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The largest power of two strictly smaller than `n` (n ≥ 2).
fn split(n: u64) -> u64 {
    let mut k = 1;
    while k << 1 < n {
        k <<= 1;
    }
    k
}

/// The root of a tree over these leaf hashes, in one pass with a stack of perfect subtrees.
pub fn root(leaves: &[Hash]) -> Hash {
    let mut stack: Vec<(Hash, u64)> = Vec::new();
    for leaf in leaves {
        let mut node = (*leaf, 1u64);
        while let Some((top, size)) = stack.last().copied() {
            if size != node.1 {
                break;
            }
            stack.pop();
            node = (node_hash(&top, &node.0), size * 2);
        }
        stack.push(node);
    }
    // Fold the remaining perfect subtrees from the right, as the recursive definition does.
    let mut acc: Option<Hash> = None;
    while let Some((hash, _)) = stack.pop() {
        acc = Some(match acc {
            None => hash,
            Some(right) => node_hash(&hash, &right),
        });
    }
    acc.unwrap_or_else(empty_root)
}

fn subtree_root(leaves: &[Hash]) -> Hash {
    root(leaves)
}

/// The audit path of leaf `index` in the tree over `leaves` (RFC 9162 §2.1.3.1), bottom first.
pub fn inclusion_proof(leaves: &[Hash], index: u64) -> Result<Vec<Hash>, MerkleError> {
    let size = leaves.len() as u64;
    if index >= size {
        return Err(MerkleError::IndexOutOfRange { index, size });
    }
    let mut proof = Vec::new();
    path(index, leaves, &mut proof);
    Ok(proof)
}

fn path(m: u64, leaves: &[Hash], proof: &mut Vec<Hash>) {
    let n = leaves.len() as u64;
    if n <= 1 {
        return;
    }
    let k = split(n);
    let (left, right) = leaves.split_at(usize::try_from(k).unwrap_or(usize::MAX));
    if m < k {
        path(m, left, proof);
        proof.push(subtree_root(right));
    } else {
        path(m - k, right, proof);
        proof.push(subtree_root(left));
    }
}

/// The consistency proof between the tree of the first `from` leaves and the tree over all
/// `leaves` (RFC 9162 §2.1.4.1).
pub fn consistency_proof(leaves: &[Hash], from: u64) -> Result<Vec<Hash>, MerkleError> {
    let to = leaves.len() as u64;
    if from == 0 || from > to {
        return Err(MerkleError::BadRange { from, to });
    }
    let mut proof = Vec::new();
    subproof(from, leaves, true, &mut proof);
    Ok(proof)
}

fn subproof(m: u64, leaves: &[Hash], complete: bool, proof: &mut Vec<Hash>) {
    let n = leaves.len() as u64;
    if m == n {
        if !complete {
            proof.push(subtree_root(leaves));
        }
        return;
    }
    let k = split(n);
    let (left, right) = leaves.split_at(usize::try_from(k).unwrap_or(usize::MAX));
    if m <= k {
        subproof(m, left, complete, proof);
        proof.push(subtree_root(right));
    } else {
        subproof(m - k, right, false, proof);
        proof.push(subtree_root(left));
    }
}

/// Verifies an inclusion proof (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), MerkleError> {
    if index >= size {
        return Err(MerkleError::IndexOutOfRange { index, size });
    }
    let (mut fnode, mut snode) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if snode == 0 {
            return Err(MerkleError::Mismatch);
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode == 0 && r == *root {
        Ok(())
    } else {
        Err(MerkleError::Mismatch)
    }
}

/// Verifies a consistency proof between two tree heads (RFC 9162 §2.1.4.2).
pub fn verify_consistency(
    from: u64,
    to: u64,
    proof: &[Hash],
    from_root: &Hash,
    to_root: &Hash,
) -> Result<(), MerkleError> {
    if from == 0 || from > to {
        return Err(MerkleError::BadRange { from, to });
    }
    if from == to {
        return if proof.is_empty() && from_root == to_root {
            Ok(())
        } else {
            Err(MerkleError::Mismatch)
        };
    }
    let mut path: Vec<Hash> = proof.to_vec();
    if from.is_power_of_two() {
        path.insert(0, *from_root);
    }
    let Some((first, rest)) = path.split_first() else {
        return Err(MerkleError::Mismatch);
    };
    let (mut fnode, mut snode) = (from - 1, to - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if snode == 0 {
            return Err(MerkleError::Mismatch);
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode == 0 && fr == *from_root && sr == *to_root {
        Ok(())
    } else {
        Err(MerkleError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The RFC's recursive definition of MTH, written independently of `root`.
    fn reference_root(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let mut k = 1;
                while k * 2 < n {
                    k *= 2;
                }
                node_hash(&reference_root(&leaves[..k]), &reference_root(&leaves[k..]))
            }
        }
    }

    fn leaves(n: usize, seed: u64) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash(format!("entry {seed} {i}").as_bytes()))
            .collect()
    }

    fn sizes() -> Vec<usize> {
        let mut sizes: Vec<usize> = (0..=70).collect();
        for p in [64usize, 128, 256, 512, 1024] {
            sizes.extend([p - 1, p, p + 1]);
        }
        sizes.extend([300, 777, 1000]);
        sizes.sort_unstable();
        sizes.dedup();
        sizes
    }

    #[test]
    fn known_answers_for_empty_and_single_leaf_trees() {
        assert_eq!(
            hex::encode(empty_root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        // RFC 6962 test vector: the leaf hash of the empty entry.
        assert_eq!(
            hex::encode(leaf_hash(b"")),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
        assert_eq!(root(&[leaf_hash(b"")]), leaf_hash(b""));
    }

    #[test]
    fn root_agrees_with_the_recursive_definition_for_many_sizes() {
        for n in sizes() {
            let l = leaves(n, 1);
            assert_eq!(root(&l), reference_root(&l), "size {n}");
        }
    }

    #[test]
    fn every_inclusion_proof_verifies_and_tampering_fails() {
        for n in sizes().into_iter().filter(|n| *n > 0 && *n <= 130) {
            let l = leaves(n, 2);
            let r = root(&l);
            for index in 0..n as u64 {
                let Ok(proof) = inclusion_proof(&l, index) else {
                    panic!("{n} {index}")
                };
                let leaf = &l[usize::try_from(index).unwrap_or(0)];
                assert!(
                    verify_inclusion(leaf, index, n as u64, &proof, &r).is_ok(),
                    "size {n} index {index}"
                );
                if !proof.is_empty() {
                    let mut bad = proof.clone();
                    bad[0][0] ^= 1;
                    assert!(verify_inclusion(leaf, index, n as u64, &bad, &r).is_err());
                }
                if n > 1 {
                    let wrong_index = (index + 1) % n as u64;
                    assert!(
                        verify_inclusion(leaf, wrong_index, n as u64, &proof, &r).is_err(),
                        "size {n} index {index}"
                    );
                    // The proof does not fit the next tree's head (size and root go together).
                    let mut grown = l.clone();
                    grown.push(leaf_hash(b"one more"));
                    assert!(
                        verify_inclusion(leaf, index, n as u64 + 1, &proof, &root(&grown)).is_err()
                    );
                }
            }
        }
    }

    #[test]
    fn every_consistency_proof_verifies_and_tampering_fails() {
        for n in sizes().into_iter().filter(|n| *n > 0 && *n <= 100) {
            let l = leaves(n, 3);
            let to_root = root(&l);
            for m in 1..=n {
                let from_root = root(&l[..m]);
                let Ok(proof) = consistency_proof(&l, m as u64) else {
                    panic!()
                };
                assert!(
                    verify_consistency(m as u64, n as u64, &proof, &from_root, &to_root).is_ok(),
                    "{m} -> {n}"
                );
                if !proof.is_empty() {
                    let mut bad = proof.clone();
                    let last = bad.len() - 1;
                    bad[last][31] ^= 1;
                    assert!(
                        verify_consistency(m as u64, n as u64, &bad, &from_root, &to_root).is_err()
                    );
                }
                if m < n {
                    let other = root(&leaves(m, 4));
                    assert!(
                        verify_consistency(m as u64, n as u64, &proof, &other, &to_root).is_err()
                    );
                }
            }
        }
    }

    #[test]
    fn out_of_range_requests_are_errors() {
        let l = leaves(5, 5);
        assert_eq!(
            inclusion_proof(&l, 5),
            Err(MerkleError::IndexOutOfRange { index: 5, size: 5 })
        );
        assert_eq!(
            consistency_proof(&l, 0),
            Err(MerkleError::BadRange { from: 0, to: 5 })
        );
        assert_eq!(
            consistency_proof(&l, 6),
            Err(MerkleError::BadRange { from: 6, to: 5 })
        );
    }
}
