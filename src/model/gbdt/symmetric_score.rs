//! Fast scoring of symmetric trees: feature vectors in, raw scores out.
//!
//! Rows are taken [`BLOCK`] at a time and binned once, feature by feature, into one byte per
//! feature and row (`bin(x) > b` exactly when `x > cuts[b]`); a whole number below
//! [`TABLE_LIMIT`] (counts, hours, weekdays) looks its bin up in a table made on first use,
//! any other value searches the cuts. Then, tree after tree, every
//! row's leaf number is built a level at a time from a column of bins (byte comparisons the
//! compiler turns into vector instructions), and each row adds its leaf's value. The sums run
//! in tree order, so the scores equal [`SymmetricGbdt::predict`]'s bit for bit.
//!
//! [`SymmetricGbdt::predict`]: super::SymmetricGbdt::predict

use super::symmetric::SymmetricTree;

/// The deepest symmetric tree (a leaf number fits a byte).
pub(super) const MAX_DEPTH: usize = 8;

/// Rows scored together.
const BLOCK: usize = 256;

/// Whole numbers from 0 up to this (exclusive) are binned by a table lookup.
const TABLE_LIMIT: usize = 4096;

/// Per feature, the bins of the whole numbers `0..` up to just past the last cut (at most
/// [`TABLE_LIMIT`]); made from a model's cuts on first use, not saved.
#[derive(Clone, Default)]
pub(super) struct BinTables(std::sync::OnceLock<Vec<Vec<u8>>>);

impl PartialEq for BinTables {
    fn eq(&self, _: &Self) -> bool {
        true // a cache: equal models have equal tables
    }
}

impl std::fmt::Debug for BinTables {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("..")
    }
}

impl BinTables {
    fn get(&self, cuts: &[Vec<f64>]) -> &[Vec<u8>] {
        self.0.get_or_init(|| {
            cuts.iter()
                .map(|cuts| {
                    let past = cuts.last().map_or(0.0, |&c| c.max(0.0).floor() + 2.0);
                    let len = (past as usize).min(TABLE_LIMIT);
                    (0..len).map(|k| search(cuts, k as f64)).collect()
                })
                .collect()
        })
    }
}

/// Raw scores (`base` plus every tree's leaf value, in tree order) of `rows`, each holding at
/// least `cuts.len()` features.
pub(super) fn raw_scores(
    cuts: &[Vec<f64>],
    tables: &BinTables,
    trees: &[SymmetricTree],
    base: f64,
    rows: &[Vec<f64>],
) -> Vec<f64> {
    let tables = tables.get(cuts);
    let mut sums = vec![base; rows.len()];
    let mut columns = vec![0u8; cuts.len() * BLOCK];
    for (block, sums) in rows.chunks(BLOCK).zip(sums.chunks_mut(BLOCK)) {
        for (f, (cuts, table)) in cuts.iter().zip(tables).enumerate() {
            let column = &mut columns[f * BLOCK..][..block.len()];
            for (bin, row) in column.iter_mut().zip(block) {
                let x = row[f];
                // `as` saturates (NaN becomes 0), so check the value is that whole number.
                let whole = x as usize;
                *bin = match table.get(whole) {
                    Some(&bin) if whole as f64 == x => bin,
                    _ => search(cuts, x),
                };
            }
        }
        score_block(&columns, trees, sums);
    }
    sums
}

/// The bin of `x`: how many cuts lie below it (NaN: 0, as `NaN > cut` is false).
#[inline(always)]
fn search(cuts: &[f64], x: f64) -> u8 {
    cuts.partition_point(|&c| c < x) as u8
}

/// Adds every tree's leaf value to the sums of one block of binned rows.
fn score_block(columns: &[u8], trees: &[SymmetricTree], sums: &mut [f64]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has just been found to support AVX2.
        return unsafe { score_block_avx2(columns, trees, sums) };
    }
    score_block_generic(columns, trees, sums);
}

/// [`score_block_generic`] for AVX2: 32 comparisons an instruction, and the leaf values of
/// four rows fetched by one gather and added by one vector addition (the same additions in
/// the same order, so the same bits).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn score_block_avx2(columns: &[u8], trees: &[SymmetricTree], sums: &mut [f64]) {
    use std::arch::x86_64::{
        __m128i, _mm256_add_pd, _mm256_i32gather_pd, _mm256_loadu_pd, _mm256_storeu_pd,
        _mm_cvtepu8_epi32, _mm_cvtsi32_si128,
    };
    let n = sums.len();
    let whole = n / 4 * 4;
    let mut leaf = [0u8; BLOCK];
    let leaf = &mut leaf[..n];
    for tree in trees {
        leaf_numbers(columns, tree, leaf);
        // Leaf numbers have as many bits as the tree has levels; the gather reads unchecked.
        assert!(tree.leaves.len() >= 1 << tree.features.len());
        let leaves = tree.leaves.as_ptr();
        for (at, four) in leaf[..whole].chunks_exact(4).enumerate() {
            let numbers: __m128i = _mm_cvtepu8_epi32(_mm_cvtsi32_si128(i32::from_le_bytes([
                four[0], four[1], four[2], four[3],
            ])));
            // SAFETY: each number is below `tree.leaves.len()` (asserted above), and
            // `4 * at + 3 < whole <= sums.len()`.
            unsafe {
                let values = _mm256_i32gather_pd::<8>(leaves, numbers);
                let sum = sums.as_mut_ptr().add(4 * at);
                _mm256_storeu_pd(sum, _mm256_add_pd(_mm256_loadu_pd(sum), values));
            }
        }
        for (sum, &l) in sums[whole..].iter_mut().zip(&leaf[whole..]) {
            *sum += tree.leaves[usize::from(l)];
        }
    }
}

/// Each row's leaf number in `tree`, a level at a time from the block's bin columns (inlined,
/// so it compiles to the caller's vector instructions).
#[inline(always)]
fn leaf_numbers(columns: &[u8], tree: &SymmetricTree, leaf: &mut [u8]) {
    let n = leaf.len();
    leaf.fill(0);
    for (&feature, &bin) in tree.features.iter().zip(&tree.bins) {
        let column = &columns[usize::from(feature) * BLOCK..][..n];
        for (l, &b) in leaf.iter_mut().zip(column) {
            *l = (*l << 1) | u8::from(b > bin);
        }
    }
}

#[inline(always)]
fn score_block_generic(columns: &[u8], trees: &[SymmetricTree], sums: &mut [f64]) {
    let n = sums.len();
    let mut leaf = [0u8; BLOCK];
    let leaf = &mut leaf[..n];
    for tree in trees {
        leaf_numbers(columns, tree, leaf);
        for (sum, &l) in sums.iter_mut().zip(leaf.iter()) {
            *sum += tree.leaves[usize::from(l)];
        }
    }
}
