//! Growing one tree: binned rows and their gradients in, a tree and each leaf's rows out.
//!
//! Leaf-wise: the leaf whose best split gains most is split next, up to `max_leaves`. A leaf's
//! rows are a range of one index buffer, split in place (stably, so rows stay in increasing
//! order); only the smaller child's histograms are built, the larger child's are the parent's
//! minus the smaller's, in the parent's buffer.

use std::collections::BinaryHeap;
use std::ops::Range;

use super::bins::{BinMatrix, Bins, BINS, MAX_CUTS};
use super::histogram::{self, Slot};
use super::{GbdtParams, Tree};

/// Buffers kept from one tree to the next.
pub(super) struct Workspace {
    /// The last tree's split bins, per node (0 for leaves).
    pub(super) node_bins: Vec<u8>,
    /// Row indices; every leaf owns a range.
    indices: Vec<u32>,
    /// The right-hand rows while a leaf is split.
    scratch: Vec<u32>,
    /// Histogram buffers not in use.
    spare: Vec<Vec<Slot>>,
    threads: usize,
}

impl Workspace {
    /// Buffers for `rows` training rows, histograms built on `threads` threads.
    pub(super) fn new(rows: usize, threads: usize) -> Self {
        Workspace {
            node_bins: Vec::new(),
            indices: Vec::with_capacity(rows),
            scratch: Vec::with_capacity(rows),
            spare: Vec::new(),
            threads,
        }
    }

    /// The rows of a leaf returned by [`grow`].
    pub(super) fn rows(&self, range: Range<usize>) -> &[u32] {
        &self.indices[range]
    }

    fn histograms(&mut self, features: usize) -> Vec<Slot> {
        self.spare
            .pop()
            .unwrap_or_else(|| vec![[0.0; 3]; features * BINS])
    }
}

struct Leaf {
    rows: Range<usize>,
    hists: Vec<Slot>,
    sums: Slot,
    node: usize,
}

#[derive(Clone, Copy)]
struct Split {
    gain: f64,
    feature: usize,
    bin: usize,
}

struct Candidate {
    leaf: usize,
    split: Split,
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}
impl Eq for Candidate {}
impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Candidate {
    /// Best gain first; ties go to the earlier leaf (deterministic).
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.split
            .gain
            .total_cmp(&other.split.gain)
            .then_with(|| other.leaf.cmp(&self.leaf))
    }
}

/// Grows one tree on `gradients` (gradient and hessian per row); returns it and each leaf's
/// node with its rows (a range for [`Workspace::rows`]).
pub(super) fn grow(
    binned: &BinMatrix,
    bins: &Bins,
    gradients: &[[f64; 2]],
    sample: Option<&[u32]>,
    params: GbdtParams,
    work: &mut Workspace,
) -> (Tree, Vec<(usize, Range<usize>)>) {
    let features = binned.features;
    let mut tree = Tree::default();
    let leaf_value = |s: Slot| -s[0] / (s[1] + params.lambda) * params.learning_rate;
    let push_leaf = |tree: &mut Tree, sums: Slot| {
        tree.feature.push(0);
        tree.threshold.push(0.0);
        tree.left.push(u32::MAX);
        tree.right.push(u32::MAX);
        tree.value.push(leaf_value(sums));
        tree.value.len() - 1
    };
    work.node_bins.clear();
    work.node_bins.push(0);
    work.indices.clear();
    match sample {
        Some(rows) => work.indices.extend_from_slice(rows),
        None => work.indices.extend(0..gradients.len() as u32),
    }
    let root_rows = work.indices.len();
    let mut hists = work.histograms(features);
    histogram::build(binned, &work.indices, gradients, &mut hists, work.threads);
    let sums = hists[..BINS]
        .iter()
        .fold([0.0; 3], |a, s| [a[0] + s[0], a[1] + s[1], a[2] + s[2]]);
    let node = push_leaf(&mut tree, sums);
    let mut leaves = vec![Leaf {
        rows: 0..root_rows,
        hists,
        sums,
        node,
    }];
    let mut queue = BinaryHeap::new();
    let consider = |queue: &mut BinaryHeap<Candidate>,
                    leaves: &mut [Leaf],
                    leaf: usize,
                    work: &mut Workspace| {
        match best_split(&leaves[leaf].hists, leaves[leaf].sums, params) {
            Some(split) => queue.push(Candidate { leaf, split }),
            // A leaf that cannot split never needs its histograms again.
            None => work.spare.push(std::mem::take(&mut leaves[leaf].hists)),
        }
    };
    consider(&mut queue, &mut leaves, 0, work);
    let mut count = 1;
    while count < params.max_leaves.max(2) {
        let Some(Candidate { leaf, split }) = queue.pop() else {
            break;
        };
        let rows = leaves[leaf].rows.clone();
        let (left_len, left_sums, right_sums) = partition(
            &mut work.indices[rows.clone()],
            &mut work.scratch,
            binned.column(split.feature),
            split.bin,
            gradients,
        );
        let middle = rows.start + left_len;
        let (left_rows, right_rows) = (rows.start..middle, middle..rows.end);
        let left_is_small = left_rows.len() <= right_rows.len();
        let small_rows = if left_is_small {
            &left_rows
        } else {
            &right_rows
        };
        let mut small = work.histograms(features);
        histogram::build(
            binned,
            &work.indices[small_rows.clone()],
            gradients,
            &mut small,
            work.threads,
        );
        let mut large = std::mem::take(&mut leaves[leaf].hists);
        for (p, s) in large.iter_mut().zip(&small) {
            *p = [p[0] - s[0], p[1] - s[1], p[2] - s[2]];
        }
        let (left_hists, right_hists) = if left_is_small {
            (small, large)
        } else {
            (large, small)
        };
        let left_node = push_leaf(&mut tree, left_sums);
        let right_node = push_leaf(&mut tree, right_sums);
        let parent = leaves[leaf].node;
        tree.feature[parent] = split.feature as u32;
        tree.threshold[parent] = bins.cuts[split.feature][split.bin];
        work.node_bins.resize(tree.value.len(), 0);
        work.node_bins[parent] = split.bin as u8;
        tree.left[parent] = left_node as u32;
        tree.right[parent] = right_node as u32;
        leaves[leaf] = Leaf {
            rows: left_rows,
            hists: left_hists,
            sums: left_sums,
            node: left_node,
        };
        leaves.push(Leaf {
            rows: right_rows,
            hists: right_hists,
            sums: right_sums,
            node: right_node,
        });
        consider(&mut queue, &mut leaves, leaf, work);
        let right = leaves.len() - 1;
        consider(&mut queue, &mut leaves, right, work);
        count += 1;
    }
    let mut out = Vec::with_capacity(leaves.len());
    for leaf in leaves {
        if !leaf.hists.is_empty() {
            work.spare.push(leaf.hists);
        }
        out.push((leaf.node, leaf.rows));
    }
    (tree, out)
}

/// Splits `rows` in place, stably, into those whose bin in `column` is `<= bin` and the rest;
/// returns how many went left and the gradient sums of both sides.
fn partition(
    rows: &mut [u32],
    scratch: &mut Vec<u32>,
    column: &[u8],
    bin: usize,
    gradients: &[[f64; 2]],
) -> (usize, Slot, Slot) {
    scratch.clear();
    let (mut left, mut right) = ([0.0; 3], [0.0; 3]);
    let mut kept = 0;
    for i in 0..rows.len() {
        let r = rows[i];
        let [g, h] = gradients[r as usize];
        if column[r as usize] as usize <= bin {
            rows[kept] = r;
            kept += 1;
            left = [left[0] + g, left[1] + h, left[2] + 1.0];
        } else {
            scratch.push(r);
            right = [right[0] + g, right[1] + h, right[2] + 1.0];
        }
    }
    rows[kept..].copy_from_slice(scratch);
    (kept, left, right)
}

/// The split of a leaf with histograms `hists` and totals `sums` that gains most, if any
/// gains and leaves `min_leaf` rows on both sides.
fn best_split(hists: &[Slot], sums: Slot, params: GbdtParams) -> Option<Split> {
    let score = |g: f64, h: f64| g * g / (h + params.lambda);
    let parent = score(sums[0], sums[1]);
    let min = params.min_leaf as f64;
    let mut best: Option<Split> = None;
    for (feature, hist) in hists.chunks_exact(BINS).enumerate() {
        let (mut g, mut h, mut n) = (0.0, 0.0, 0.0);
        for (bin, slot) in hist.iter().enumerate().take(MAX_CUTS) {
            if slot[2] == 0.0 {
                continue; // an empty bin splits the rows as the bin before it did
            }
            g += slot[0];
            h += slot[1];
            n += slot[2];
            if n < min {
                continue;
            }
            if sums[2] - n < min {
                break;
            }
            let gain = score(g, h) + score(sums[0] - g, sums[1] - h) - parent;
            if gain > 1e-12 && best.is_none_or(|b| gain > b.gain) {
                best = Some(Split { gain, feature, bin });
            }
        }
    }
    best
}
