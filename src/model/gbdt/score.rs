//! Fast scoring: a fitted model's trees in, compact trees over threshold ranks out; feature
//! vectors in, raw scores out.
//!
//! Every threshold a tree uses is replaced by its rank among the thresholds of its feature,
//! and every feature value by the number of those thresholds below it, so `x <= threshold`
//! becomes `rank(x) <= rank(threshold)` on small integers. A row is ranked once; then each
//! tree is walked for blocks of [`LANES`] rows in lock step, branch-free (a leaf points back
//! at itself), until all of them have reached a leaf, while its nodes stay in the cache. The
//! scores equal the plain tree walk's bit for bit (same comparisons, same order of sums).

use super::Tree;

/// Rows walked through a tree together.
const LANES: usize = 8;

/// A model's compiled trees, made on first use; not part of the model (equal, printed and
/// saved as nothing).
#[derive(Clone, Default)]
pub(super) struct Cache(pub(super) std::sync::OnceLock<Option<Compiled>>);

impl PartialEq for Cache {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("..")
    }
}

/// The trees of a model, ready for batch scoring.
#[derive(Clone)]
pub(super) struct Compiled {
    /// Per feature, the distinct thresholds the trees use, ascending.
    thresholds: Vec<Vec<f64>>,
    trees: Vec<CompiledTree>,
}

#[derive(Clone)]
struct CompiledTree {
    nodes: Vec<Node>,
    /// Per node, its value when it is a leaf.
    value: Vec<f64>,
    /// The most steps from the root to a leaf.
    depth: usize,
}

/// A split (or, with both children itself, a leaf): go to `children[rank(x) > rank]`.
#[derive(Clone, Copy)]
struct Node {
    feature: u16,
    rank: u16,
    children: [u16; 2],
}

/// The rank given to NaN: above every threshold's, so NaN goes right as `NaN <= t` does.
const NAN_RANK: u16 = u16::MAX;

impl Compiled {
    /// Compiles `trees` over `features` features; `None` when they do not fit the compact
    /// form (a tree of 65,535 nodes or more, as many distinct thresholds, or a NaN threshold).
    pub(super) fn new(features: usize, trees: &[Tree]) -> Option<Compiled> {
        if features > usize::from(u16::MAX) {
            return None;
        }
        let mut thresholds = vec![Vec::new(); features];
        for tree in trees {
            for node in 0..tree.left.len() {
                if tree.left[node] != u32::MAX {
                    let threshold = tree.threshold[node];
                    if threshold.is_nan() {
                        return None;
                    }
                    thresholds
                        .get_mut(tree.feature[node] as usize)?
                        .push(threshold);
                }
            }
        }
        for list in &mut thresholds {
            list.sort_by(f64::total_cmp);
            list.dedup();
            if list.len() >= usize::from(NAN_RANK) {
                return None;
            }
        }
        let trees = trees
            .iter()
            .map(|tree| compile(tree, &thresholds))
            .collect::<Option<Vec<_>>>()?;
        Some(Compiled { thresholds, trees })
    }

    /// Raw scores (`base` plus every tree's value, in tree order) of `rows`.
    pub(super) fn raw_scores(&self, base: f64, rows: &[Vec<f64>]) -> Vec<f64> {
        let features = self.thresholds.len();
        let mut ranks = vec![0u16; rows.len() * features];
        for (row, out) in rows.iter().zip(ranks.chunks_exact_mut(features.max(1))) {
            for ((rank, &x), thresholds) in out.iter_mut().zip(row).zip(&self.thresholds) {
                *rank = if x.is_nan() {
                    NAN_RANK
                } else {
                    thresholds.partition_point(|&t| t < x) as u16
                };
            }
        }
        let mut sums = vec![base; rows.len()];
        let width = LANES * features;
        for tree in &self.trees {
            let mut blocks = sums.chunks_exact_mut(LANES);
            for (block, ranks) in blocks.by_ref().zip(ranks.chunks_exact(width)) {
                // Two steps at a time until every lane has reached a leaf (or the tree's depth).
                let mut at = [0u16; LANES];
                let mut steps = 0;
                while steps < tree.depth {
                    for _ in 0..2 {
                        for (lane, node) in at.iter_mut().enumerate() {
                            let n = tree.nodes[*node as usize];
                            let right = ranks[lane * features + n.feature as usize] > n.rank;
                            *node = n.children[usize::from(right)];
                        }
                    }
                    steps += 2;
                    if at.iter().all(|&n| tree.nodes[n as usize].rank == NAN_RANK) {
                        break;
                    }
                }
                for (sum, node) in block.iter_mut().zip(at) {
                    *sum += tree.value[node as usize];
                }
            }
            let done = rows.len() / LANES * LANES;
            for (i, sum) in blocks.into_remainder().iter_mut().enumerate() {
                let ranks = &ranks[(done + i) * features..][..features];
                let mut node = 0u16;
                for _ in 0..tree.depth {
                    let n = tree.nodes[node as usize];
                    node = n.children[usize::from(ranks[n.feature as usize] > n.rank)];
                }
                *sum += tree.value[node as usize];
            }
        }
        sums
    }
}

fn compile(tree: &Tree, thresholds: &[Vec<f64>]) -> Option<CompiledTree> {
    let count = tree.left.len();
    if count >= usize::from(u16::MAX) {
        return None;
    }
    let mut nodes = Vec::with_capacity(count);
    for node in 0..count {
        let itself = node as u16;
        if tree.left[node] == u32::MAX {
            nodes.push(Node {
                feature: 0,
                rank: NAN_RANK,
                children: [itself, itself],
            });
            continue;
        }
        let feature = tree.feature[node] as usize;
        let rank = thresholds[feature]
            .binary_search_by(|t| t.total_cmp(&tree.threshold[node]))
            .ok()?;
        let child = |c: u32| (c < count as u32).then_some(c as u16);
        nodes.push(Node {
            feature: feature as u16,
            rank: rank as u16,
            children: [child(tree.left[node])?, child(tree.right[node])?],
        });
    }
    // Depth by walking down from the root (children may come in any order in the arrays).
    let mut depth = 0;
    let mut stack = vec![(0u16, 0usize)];
    while let Some((node, d)) = stack.pop() {
        if d > count {
            return None; // a cycle: not a tree
        }
        let n = nodes.get(usize::from(node))?;
        if n.children[0] == node {
            depth = depth.max(d);
        } else {
            stack.push((n.children[0], d + 1));
            stack.push((n.children[1], d + 1));
        }
    }
    Some(CompiledTree {
        nodes,
        value: tree.value.clone(),
        depth,
    })
}
