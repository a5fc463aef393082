//! Growing one symmetric tree: binned rows and their gradients in, a [`SymmetricTree`] out.
//!
//! Level by level: every node of the level has its histograms (feature-major in one buffer,
//! `(feature * nodes + node) * BINS + bin`); each feature and cut is scored by the sum over
//! the nodes of the gain splitting that node there would bring (a node whose either side
//! would hold fewer than `min_leaf` rows brings none), and the best becomes the level's
//! question. Rows then move to their child (`2 * node + answer`); of each pair of children
//! only the smaller one's histograms are built, the other's are the parent's minus them.
//! Sums run in row order and ties go to the first feature and cut, so growing is
//! deterministic on any number of threads.

use super::bins::{BinMatrix, BINS, MAX_CUTS};
use super::histogram::{self, Slot};
use super::symmetric::SymmetricTree;
use super::GbdtParams;

/// Buffers kept from one tree to the next.
pub(super) struct Workspace {
    /// The rows a tree grows on.
    rows: Vec<u32>,
    /// Per row (in `rows` order), its node in the current level.
    node: Vec<u8>,
    /// The current level's histograms.
    hists: Vec<Slot>,
    /// The smaller children's histograms, one per parent.
    small: Vec<Slot>,
    /// The rows of the smaller children, ascending, and each one's parent.
    small_rows: Vec<(u32, u8)>,
    /// The next level's histograms while they are made.
    next: Vec<Slot>,
    threads: usize,
}

impl Workspace {
    /// Buffers for trees grown with histograms built on `threads` threads.
    pub(super) fn new(threads: usize) -> Self {
        Workspace {
            rows: Vec::new(),
            node: Vec::new(),
            hists: Vec::new(),
            small: Vec::new(),
            small_rows: Vec::new(),
            next: Vec::new(),
            threads: threads.max(1),
        }
    }
}

/// Grows a tree of `params.depth` levels (fewer when no question gains) on `gradients`, over
/// the rows of `sample` (`None`: every row).
pub(super) fn grow(
    binned: &BinMatrix,
    gradients: &[[f64; 2]],
    sample: Option<&[u32]>,
    params: GbdtParams,
    work: &mut Workspace,
) -> SymmetricTree {
    let features = binned.features;
    work.rows.clear();
    match sample {
        Some(rows) => work.rows.extend_from_slice(rows),
        None => work.rows.extend(0..gradients.len() as u32),
    }
    work.node.clear();
    work.node.resize(work.rows.len(), 0);
    reset(&mut work.hists, features * BINS);
    histogram::build(binned, &work.rows, gradients, &mut work.hists, work.threads);
    let total = work.hists[..BINS]
        .iter()
        .fold([0.0; 3], |a, s| [a[0] + s[0], a[1] + s[1], a[2] + s[2]]);
    let mut sums = vec![total];
    let mut tree = SymmetricTree::default();
    for level in 0..params.depth {
        let nodes = 1usize << level;
        let Some((feature, bin)) =
            best_question(&work.hists, &sums, features, params, work.threads)
        else {
            break;
        };
        tree.features.push(feature as u16);
        tree.bins.push(bin as u8);
        let mut children = Vec::with_capacity(2 * nodes);
        for (n, parent) in sums.iter().enumerate() {
            let hist = &work.hists[(feature * nodes + n) * BINS..][..=bin];
            let left = hist
                .iter()
                .fold([0.0; 3], |a, s| [a[0] + s[0], a[1] + s[1], a[2] + s[2]]);
            children.push(left);
            children.push([
                parent[0] - left[0],
                parent[1] - left[1],
                parent[2] - left[2],
            ]);
        }
        let column = binned.column(feature);
        for (node, &r) in work.node.iter_mut().zip(&work.rows) {
            *node = (*node << 1) | u8::from(column[r as usize] > bin as u8);
        }
        sums = children;
        if level + 1 < params.depth {
            next_level(binned, gradients, &sums, work);
        }
    }
    tree.leaves = sums
        .iter()
        .map(|s| -s[0] / (s[1] + params.lambda) * params.learning_rate)
        .collect();
    tree
}

/// Zeroes `buffer` and sizes it to `len` slots.
fn reset(buffer: &mut Vec<Slot>, len: usize) {
    buffer.clear();
    buffer.resize(len, [0.0; 3]);
}

/// Replaces the level's histograms with its children's (`sums`: the children's totals).
fn next_level(binned: &BinMatrix, gradients: &[[f64; 2]], sums: &[Slot], work: &mut Workspace) {
    let features = binned.features;
    let parents = sums.len() / 2;
    // Per parent, which child (0 left, 1 right) has fewer rows: its histograms are built.
    let small_side: Vec<u8> = sums
        .chunks_exact(2)
        .map(|pair| u8::from(pair[1][2] < pair[0][2]))
        .collect();
    // The smaller children's rows, gathered without a branch per row (one the CPU could
    // not predict): every row is written, and the end moves on past the ones that belong.
    work.small_rows.clear();
    work.small_rows.resize(work.rows.len(), (0, 0));
    let mut end = 0;
    for (&r, &child) in work.rows.iter().zip(&work.node) {
        let parent = child >> 1;
        work.small_rows[end] = (r, parent);
        end += usize::from(child & 1 == small_side[usize::from(parent)]);
    }
    work.small_rows.truncate(end);
    reset(&mut work.small, features * parents * BINS);
    let threads = work.threads.min(features).max(1);
    let per = features.div_ceil(threads);
    let rows = &work.small_rows;
    let run = |first: usize, out: &mut [Slot]| {
        small_children(binned, rows, parents, gradients, first, out)
    };
    if threads == 1 || rows.len() < 4_096 {
        run(0, &mut work.small);
    } else {
        std::thread::scope(|scope| {
            let mut parts = work.small.chunks_mut(per * parents * BINS).enumerate();
            let (_, first) = parts.next().expect("a feature");
            for (part, chunk) in parts {
                let run = &run;
                scope.spawn(move || run(part * per, chunk));
            }
            run(0, first);
        });
    }
    let children = 2 * parents;
    // Every slot is written below: no need to zero them first.
    work.next.resize(features * children * BINS, [0.0; 3]);
    for f in 0..features {
        for (p, &side) in small_side.iter().enumerate() {
            let parent = &work.hists[(f * parents + p) * BINS..][..BINS];
            let small = &work.small[(f * parents + p) * BINS..][..BINS];
            let side = usize::from(side);
            let at = |child: usize| (f * children + 2 * p + child) * BINS;
            work.next[at(side)..][..BINS].copy_from_slice(small);
            for ((out, whole), part) in work.next[at(1 - side)..][..BINS]
                .iter_mut()
                .zip(parent)
                .zip(small)
            {
                *out = [whole[0] - part[0], whole[1] - part[1], whole[2] - part[2]];
            }
        }
    }
    std::mem::swap(&mut work.hists, &mut work.next);
}

/// The histograms of every parent's smaller child (`rows`: its rows and their parents), for
/// the features from `first` on (as many
/// as `out` holds), laid out `(feature * parents + parent) * BINS + bin`.
fn small_children(
    binned: &BinMatrix,
    rows: &[(u32, u8)],
    parents: usize,
    gradients: &[[f64; 2]],
    first: usize,
    out: &mut [Slot],
) {
    let width = out.len() / (parents * BINS);
    for &(r, parent) in rows {
        let parent = usize::from(parent);
        let [g, h] = gradients[r as usize];
        let bins = &binned.row(r as usize)[first..first + width];
        for (k, &bin) in bins.iter().enumerate() {
            let slot = &mut out[(k * parents + parent) * BINS + usize::from(bin)];
            slot[0] += g;
            slot[1] += h;
            slot[2] += 1.0;
        }
    }
}

/// The feature and cut whose split of every node of the level gains most in total, if any
/// gains.
fn best_question(
    hists: &[Slot],
    sums: &[Slot],
    features: usize,
    params: GbdtParams,
    threads: usize,
) -> Option<(usize, usize)> {
    let best_of = |range: std::ops::Range<usize>| {
        let mut best: Option<(f64, usize, usize)> = None;
        for feature in range {
            let gains = feature_gains(hists, sums, feature, params);
            for (bin, &gain) in gains.iter().enumerate() {
                if gain > 1e-12 && best.is_none_or(|b| gain > b.0) {
                    best = Some((gain, feature, bin));
                }
            }
        }
        best
    };
    let threads = threads.min(features).max(1);
    let bests: Vec<Option<(f64, usize, usize)>> = if threads == 1 || sums.len() < 8 {
        vec![best_of(0..features)]
    } else {
        let per = features.div_ceil(threads);
        std::thread::scope(|scope| {
            let best_of = &best_of;
            let handles: Vec<_> = (1..threads)
                .map(|k| scope.spawn(move || best_of(k * per..((k + 1) * per).min(features))))
                .collect();
            let mut all = vec![best_of(0..per.min(features))];
            all.extend(handles.into_iter().map(|h| h.join().expect("split search")));
            all
        })
    };
    // Parts are in feature order; a later part wins only with a strictly larger gain.
    let mut best: Option<(f64, usize, usize)> = None;
    for candidate in bests.into_iter().flatten() {
        if best.is_none_or(|b| candidate.0 > b.0) {
            best = Some(candidate);
        }
    }
    best.map(|(_, feature, bin)| (feature, bin))
}

/// Per cut of `feature`, the gain summed over the level's nodes.
fn feature_gains(hists: &[Slot], sums: &[Slot], feature: usize, params: GbdtParams) -> Vec<f64> {
    let score = |g: f64, h: f64| g * g / (h + params.lambda);
    let min = params.min_leaf as f64;
    let nodes = sums.len();
    let mut gains = vec![0.0; MAX_CUTS];
    for (n, total) in sums.iter().enumerate() {
        let hist = &hists[(feature * nodes + n) * BINS..][..BINS];
        let parent = score(total[0], total[1]);
        let (mut g, mut h, mut count) = (0.0, 0.0, 0.0);
        let mut gain = 0.0;
        for (bin, slot) in hist.iter().enumerate().take(MAX_CUTS) {
            if slot[2] == 0.0 {
                // An empty bin splits the node as the bin before it did.
                gains[bin] += gain;
                continue;
            }
            g += slot[0];
            h += slot[1];
            count += slot[2];
            if total[2] - count == 0.0 {
                break; // every later cut leaves the right side empty: no gain
            }
            gain = if count < min || total[2] - count < min {
                0.0
            } else {
                score(g, h) + score(total[0] - g, total[1] - h) - parent
            };
            gains[bin] += gain;
        }
    }
    gains
}

/// Every row's leaf in `tree` from its bins, into `leaves` (one per row of `binned`).
pub(super) fn leaves_of(binned: &BinMatrix, tree: &SymmetricTree, leaves: &mut [u8]) {
    leaves.fill(0);
    for (&feature, &bin) in tree.features.iter().zip(&tree.bins) {
        let column = binned.column(usize::from(feature));
        for (leaf, &b) in leaves.iter_mut().zip(column) {
            *leaf = (*leaf << 1) | u8::from(b > bin);
        }
    }
}
