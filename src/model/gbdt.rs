//! Gradient-boosted trees: feature vectors and targets in, a sum of small regression trees out.
//!
//! A histogram GBDT in the LightGBM style, written for zonecast's data (a few dozen numeric
//! features, counts as targets): each feature is cut into at most 255 bins at quantiles of the
//! training values; trees grow leaf-wise (always splitting the leaf with the best gain, up to
//! `max_leaves`), from gradient and hessian histograms (the larger child's histogram is the
//! parent's minus the smaller child's); leaves get `-G / (H + lambda)` times the learning rate.
//! The loss is squared error or Poisson (log link, for counts). Training stops early when the
//! validation MAE has not improved for `early_stopping` rounds, and keeps the best round.
//! Everything is deterministic: no sampling, ties broken by feature and bin order.
//!
//! Scoring walks flat arrays (`x <= threshold` goes left), the same way the forest's fast
//! evaluator does.

use std::collections::BinaryHeap;

use serde::{Deserialize, Serialize};

/// What the trees minimise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Loss {
    /// Squared error; the trees sum to the forecast.
    Squared,
    /// Poisson deviance with a log link; the forecast is `exp` of the sum (never negative).
    Poisson,
}

/// GBDT settings. The defaults need no tuning for taxi counts.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct GbdtParams {
    /// Boosting rounds at most.
    pub rounds: usize,
    /// Shrinkage of every tree.
    pub learning_rate: f64,
    /// Leaves per tree at most.
    pub max_leaves: usize,
    /// Rows per leaf at least.
    pub min_leaf: usize,
    /// L2 penalty on leaf values.
    pub lambda: f64,
    /// Stop after this many rounds without a better validation MAE.
    pub early_stopping: usize,
    /// The loss.
    pub loss: Loss,
}

impl Default for GbdtParams {
    fn default() -> Self {
        GbdtParams {
            rounds: 1000,
            learning_rate: 0.05,
            max_leaves: 63,
            min_leaf: 20,
            lambda: 1.0,
            early_stopping: 50,
            loss: Loss::Poisson,
        }
    }
}

/// One tree as parallel arrays; `left == u32::MAX` marks a leaf (its value in `value`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Tree {
    feature: Vec<u32>,
    threshold: Vec<f64>,
    left: Vec<u32>,
    right: Vec<u32>,
    value: Vec<f64>,
}

impl Tree {
    fn score(&self, x: &[f64]) -> f64 {
        let mut node = 0usize;
        loop {
            let left = self.left[node];
            if left == u32::MAX {
                return self.value[node];
            }
            node = if x[self.feature[node] as usize] <= self.threshold[node] {
                left as usize
            } else {
                self.right[node] as usize
            };
        }
    }
}

/// A fitted GBDT.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Gbdt {
    loss: Loss,
    base: f64,
    features: usize,
    trees: Vec<Tree>,
    /// The validation MAE after each kept round.
    pub validation_mae: Vec<f64>,
}

/// Called after every boosting round with the round (1-based) and the validation MAE.
pub type RoundReport<'a> = &'a mut dyn FnMut(usize, f64);

impl Gbdt {
    /// Fits on rows `x` with targets `y`, stopping early on the validation rows.
    /// `progress(round, validation_mae)` is called after every round.
    pub fn fit(
        x: &[Vec<f64>],
        y: &[f64],
        valid: (&[Vec<f64>], &[f64]),
        params: GbdtParams,
        progress: RoundReport<'_>,
    ) -> Result<Gbdt, String> {
        let features = x.first().map_or(0, Vec::len);
        if x.is_empty() || features == 0 || x.len() != y.len() || valid.0.len() != valid.1.len() {
            return Err("boosting needs rows and targets of equal count".into());
        }
        let bins = Bins::fit(x, features);
        let binned = bins.apply(x);
        let mean = y.iter().sum::<f64>() / y.len() as f64;
        let base = match params.loss {
            Loss::Squared => mean,
            Loss::Poisson => mean.max(1e-6).ln(),
        };
        let mut raw = vec![base; y.len()];
        let mut valid_raw = vec![base; valid.0.len()];
        let mut model = Gbdt {
            loss: params.loss,
            base,
            features,
            trees: Vec::new(),
            validation_mae: Vec::new(),
        };
        let (mut best, mut best_round) = (f64::INFINITY, 0usize);
        let mut grad = vec![0.0; y.len()];
        let mut hess = vec![0.0; y.len()];
        for round in 1..=params.rounds.max(1) {
            for i in 0..y.len() {
                (grad[i], hess[i]) = params.loss.gradient(raw[i], y[i]);
            }
            let (tree, leaves) = grow(&binned, &bins, &grad, &hess, params);
            for (node, rows) in leaves {
                let value = tree.value[node];
                for r in rows {
                    raw[r as usize] += value;
                }
            }
            let mut error = 0.0;
            for (i, row) in valid.0.iter().enumerate() {
                valid_raw[i] += tree.score(row);
                error += (params.loss.forecast(valid_raw[i]) - valid.1[i]).abs();
            }
            let mae = error / valid.0.len().max(1) as f64;
            model.trees.push(tree);
            model.validation_mae.push(mae);
            progress(round, mae);
            if mae < best {
                (best, best_round) = (mae, round);
            } else if round - best_round >= params.early_stopping.max(1) {
                break;
            }
        }
        model.trees.truncate(best_round.max(1));
        model.validation_mae.truncate(best_round.max(1));
        Ok(model)
    }

    /// Rounds kept (the best validation round).
    pub fn rounds(&self) -> usize {
        self.trees.len()
    }

    /// The forecast for one feature vector.
    pub fn predict(&self, x: &[f64]) -> f64 {
        let raw = self.trees.iter().fold(self.base, |sum, t| sum + t.score(x));
        self.loss.forecast(raw)
    }

    /// Forecasts for many feature vectors.
    pub fn predict_many(&self, rows: &[Vec<f64>]) -> Vec<f64> {
        rows.iter().map(|r| self.predict(r)).collect()
    }
}

impl Loss {
    /// Gradient and hessian of the loss at raw score `raw` for target `y`.
    fn gradient(self, raw: f64, y: f64) -> (f64, f64) {
        match self {
            Loss::Squared => (raw - y, 1.0),
            Loss::Poisson => {
                // LightGBM's max_delta_step for Poisson (0.7) keeps the hessian away from 0.
                let mu = raw.exp();
                (mu - y, mu * 0.7f64.exp())
            }
        }
    }

    /// The forecast of a raw score.
    fn forecast(self, raw: f64) -> f64 {
        match self {
            Loss::Squared => raw,
            Loss::Poisson => raw.exp(),
        }
    }
}

/// Per-feature cut points: value `v` falls in bin `partition_point(cuts, c < v)`, so
/// `v <= cuts[b]` exactly when its bin is `<= b`.
struct Bins {
    cuts: Vec<Vec<f64>>,
}

const MAX_CUTS: usize = 255;

impl Bins {
    fn fit(x: &[Vec<f64>], features: usize) -> Bins {
        let step = (x.len() / 200_000).max(1);
        let cuts = (0..features)
            .map(|f| {
                let mut values: Vec<f64> = x.iter().step_by(step).map(|r| r[f]).collect();
                values.sort_by(f64::total_cmp);
                values.dedup();
                if values.len() <= MAX_CUTS {
                    values.pop(); // the largest value needs no cut above it
                    return values;
                }
                let mut cuts: Vec<f64> = (1..=MAX_CUTS)
                    .map(|q| values[q * (values.len() - 1) / (MAX_CUTS + 1)])
                    .collect();
                cuts.dedup();
                cuts
            })
            .collect();
        Bins { cuts }
    }

    /// Row-major bins: row `r`'s bins are `data[r * features..][..features]`.
    fn apply(&self, x: &[Vec<f64>]) -> BinMatrix {
        let features = self.cuts.len();
        let mut data = Vec::with_capacity(x.len() * features);
        for row in x {
            for (f, cuts) in self.cuts.iter().enumerate() {
                data.push(cuts.partition_point(|&c| c < row[f]) as u8);
            }
        }
        let rows = x.len();
        let mut columns = vec![0u8; data.len()];
        for (r, row) in data.chunks_exact(features).enumerate() {
            for (f, &bin) in row.iter().enumerate() {
                columns[f * rows + r] = bin;
            }
        }
        BinMatrix {
            features,
            data,
            columns,
        }
    }
}

/// Every training row's bin of every feature, row by row (a row's bins share a cache line, so
/// building a leaf's histograms reads one line per row wherever its rows lie), and the same
/// bins feature by feature (splitting a leaf reads one feature of its rows).
struct BinMatrix {
    features: usize,
    data: Vec<u8>,
    columns: Vec<u8>,
}

impl BinMatrix {
    fn column(&self, feature: usize) -> &[u8] {
        let rows = self.data.len() / self.features;
        &self.columns[feature * rows..][..rows]
    }
}

/// Gradient sum, hessian sum and row count per bin of one feature.
type Histogram = Vec<[f64; 3]>;

struct Leaf {
    rows: Vec<u32>,
    hists: Vec<Histogram>,
    sums: [f64; 3],
    node: usize,
}

#[derive(Clone, Copy)]
struct Split {
    gain: f64,
    feature: usize,
    bin: usize,
}

struct Candidate {
    gain: f64,
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
        self.gain
            .total_cmp(&other.gain)
            .then_with(|| other.leaf.cmp(&self.leaf))
    }
}

/// The histograms of features `features` over `rows` (rows in increasing order, so every bin's
/// sums add up in the same order whichever thread builds them).
fn histogram_block(
    binned: &BinMatrix,
    features: std::ops::Range<usize>,
    rows: &[u32],
    grad: &[f64],
    hess: &[f64],
) -> Vec<Histogram> {
    let width = features.len();
    let mut flat = vec![[0.0f64; 3]; width * (MAX_CUTS + 1)];
    for (i, &r) in rows.iter().enumerate() {
        // A leaf's rows lie far apart: ask for a later row's bins and gradients now, so that
        // their cache misses overlap this row's work.
        if let Some(&ahead) = rows.get(i + PREFETCH_AHEAD) {
            let ahead = ahead as usize;
            prefetch(binned.data[ahead * binned.features + features.start..].as_ptr());
            prefetch((&grad[ahead] as *const f64).cast());
            prefetch((&hess[ahead] as *const f64).cast());
        }
        let (g, h) = (grad[r as usize], hess[r as usize]);
        let at = r as usize * binned.features;
        let bins = &binned.data[at + features.start..at + features.end];
        for (k, &bin) in bins.iter().enumerate() {
            let slot = &mut flat[k * (MAX_CUTS + 1) + bin as usize];
            slot[0] += g;
            slot[1] += h;
            slot[2] += 1.0;
        }
    }
    flat.chunks(MAX_CUTS + 1).map(<[_]>::to_vec).collect()
}

/// How many rows ahead [`histogram_block`] prefetches.
const PREFETCH_AHEAD: usize = 16;

/// Hints the CPU to load the cache line at `at` (no effect on other targets).
#[inline(always)]
fn prefetch(at: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint: it never faults and changes no state visible to the
    // program, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(at.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}

/// Every feature's histogram over `rows`, features shared out over the available cores when
/// there are enough rows to pay for the threads (the result does not depend on how).
fn histograms(binned: &BinMatrix, rows: &[u32], grad: &[f64], hess: &[f64]) -> Vec<Histogram> {
    let features = binned.features;
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(features);
    if threads <= 1 || rows.len() < PARALLEL_ROWS {
        return histogram_block(binned, 0..features, rows, grad, hess);
    }
    let per = features.div_ceil(threads);
    std::thread::scope(|scope| {
        let parts: Vec<_> = (0..features)
            .step_by(per)
            .map(|start| {
                let block = start..(start + per).min(features);
                scope.spawn(move || histogram_block(binned, block, rows, grad, hess))
            })
            .collect();
        parts
            .into_iter()
            .flat_map(|p| p.join().expect("histogram thread"))
            .collect()
    })
}

/// Rows below which one thread builds all of a leaf's histograms (a thread costs more).
const PARALLEL_ROWS: usize = 4_096;

fn best_split(hists: &[Histogram], sums: [f64; 3], params: GbdtParams) -> Option<Split> {
    let score = |g: f64, h: f64| g * g / (h + params.lambda);
    let parent = score(sums[0], sums[1]);
    let min = params.min_leaf as f64;
    let mut best: Option<Split> = None;
    for (feature, hist) in hists.iter().enumerate() {
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

/// Grows one tree; returns it and each leaf's node with its training rows.
fn grow(
    binned: &BinMatrix,
    bins: &Bins,
    grad: &[f64],
    hess: &[f64],
    params: GbdtParams,
) -> (Tree, Vec<(usize, Vec<u32>)>) {
    let mut tree = Tree::default();
    let leaf_value = |s: [f64; 3]| -s[0] / (s[1] + params.lambda) * params.learning_rate;
    let push_leaf = |tree: &mut Tree, sums: [f64; 3]| {
        tree.feature.push(0);
        tree.threshold.push(0.0);
        tree.left.push(u32::MAX);
        tree.right.push(u32::MAX);
        tree.value.push(leaf_value(sums));
        tree.value.len() - 1
    };
    let rows: Vec<u32> = (0..grad.len() as u32).collect();
    let hists = histograms(binned, &rows, grad, hess);
    let sums = hists[0]
        .iter()
        .fold([0.0; 3], |a, s| [a[0] + s[0], a[1] + s[1], a[2] + s[2]]);
    let node = push_leaf(&mut tree, sums);
    let mut leaves = vec![Leaf {
        rows,
        hists,
        sums,
        node,
    }];
    let mut queue = BinaryHeap::new();
    let consider = |queue: &mut BinaryHeap<Candidate>, leaves: &[Leaf], leaf: usize| {
        if let Some(split) = best_split(&leaves[leaf].hists, leaves[leaf].sums, params) {
            queue.push(Candidate {
                gain: split.gain,
                leaf,
                split,
            });
        }
    };
    consider(&mut queue, &leaves, 0);
    let mut count = 1;
    while count < params.max_leaves.max(2) {
        let Some(Candidate { leaf, split, .. }) = queue.pop() else {
            break;
        };
        let parent = std::mem::replace(
            &mut leaves[leaf],
            Leaf {
                rows: Vec::new(),
                hists: Vec::new(),
                sums: [0.0; 3],
                node: 0,
            },
        );
        let column = binned.column(split.feature);
        let (left_rows, right_rows): (Vec<u32>, Vec<u32>) = parent
            .rows
            .iter()
            .partition(|&&r| column[r as usize] as usize <= split.bin);
        let left_is_small = left_rows.len() <= right_rows.len();
        let small = histograms(
            binned,
            if left_is_small {
                &left_rows
            } else {
                &right_rows
            },
            grad,
            hess,
        );
        let large: Vec<Histogram> = parent
            .hists
            .iter()
            .zip(&small)
            .map(|(p, s)| {
                p.iter()
                    .zip(s)
                    .map(|(a, b)| [a[0] - b[0], a[1] - b[1], a[2] - b[2]])
                    .collect()
            })
            .collect();
        let (left_hists, right_hists) = if left_is_small {
            (small, large)
        } else {
            (large, small)
        };
        let total = |rows: &[u32]| {
            rows.iter().fold([0.0; 3], |a, &r| {
                [a[0] + grad[r as usize], a[1] + hess[r as usize], a[2] + 1.0]
            })
        };
        let (left_sums, right_sums) = (total(&left_rows), total(&right_rows));
        let left_node = push_leaf(&mut tree, left_sums);
        let right_node = push_leaf(&mut tree, right_sums);
        tree.feature[parent.node] = split.feature as u32;
        tree.threshold[parent.node] = bins.cuts[split.feature][split.bin];
        tree.left[parent.node] = left_node as u32;
        tree.right[parent.node] = right_node as u32;
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
        consider(&mut queue, &leaves, leaf);
        consider(&mut queue, &leaves, leaves.len() - 1);
        count += 1;
    }
    let leaves = leaves.into_iter().map(|l| (l.node, l.rows)).collect();
    (tree, leaves)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generator::rng::SplitMix64;

    fn data(seed: u64, n: usize) -> (Vec<Vec<f64>>, Vec<f64>) {
        let mut rng = SplitMix64::new(seed);
        let x: Vec<Vec<f64>> = (0..n)
            .map(|_| (0..5).map(|_| rng.below(40) as f64).collect())
            .collect();
        let y = x
            .iter()
            .map(|r| {
                (r[0] * 0.5 + if r[1] > 20.0 { 8.0 } else { 1.0 } + rng.below(3) as f64).round()
            })
            .collect();
        (x, y)
    }

    #[test]
    fn boosting_learns_a_step_and_a_slope_deterministically() {
        let (x, y) = data(1, 4000);
        let (vx, vy) = data(2, 1000);
        for loss in [Loss::Squared, Loss::Poisson] {
            let params = GbdtParams {
                rounds: 300,
                learning_rate: 0.1,
                loss,
                ..GbdtParams::default()
            };
            let a = Gbdt::fit(&x, &y, (&vx, &vy), params, &mut |_, _| {}).unwrap();
            let b = Gbdt::fit(&x, &y, (&vx, &vy), params, &mut |_, _| {}).unwrap();
            assert_eq!(a, b, "same data, same model");
            let mean = vy.iter().sum::<f64>() / vy.len() as f64;
            let constant: f64 = vy.iter().map(|v| (v - mean).abs()).sum::<f64>() / vy.len() as f64;
            let mae = *a.validation_mae.last().unwrap();
            assert!(
                mae < constant * 0.5,
                "{loss:?}: mae {mae} vs constant {constant}"
            );
            let predicted = a.predict_many(&vx);
            let direct: f64 = predicted
                .iter()
                .zip(&vy)
                .map(|(p, v)| (p - v).abs())
                .sum::<f64>()
                / vy.len() as f64;
            assert!((direct - mae).abs() < 1e-9);
        }
    }
}
