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
        if x.len() > MAX_ROWS {
            return Err(format!(
                "boosting takes at most {MAX_ROWS} rows, not {}: train on a shorter window",
                x.len()
            ));
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
        for round in 1..=params.rounds.max(1) {
            let exact = raw
                .iter()
                .zip(y)
                .map(|(&r, &t)| params.loss.gradient(r, t))
                .collect();
            let t0 = std::time::Instant::now();
            let gradients = Gradients::new(exact, round);
            let t1 = std::time::Instant::now();
            let (tree, leaves) = grow(&binned, &bins, &gradients, params);
            let t2 = std::time::Instant::now();
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
            if std::env::var_os("HIST").is_some() {
                eprintln!(
                    "ROUND grad {} grow {} rest {}",
                    (t1 - t0).as_micros(),
                    (t2 - t1).as_micros(),
                    t2.elapsed().as_micros()
                );
            }
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

    fn row(&self, row: u32) -> &[u8] {
        &self.data[row as usize * self.features..][..self.features]
    }
}

const BINS: usize = MAX_CUTS + 1;

/// Most rows boosting takes (quantized sums must fit their 32 bits with room to spare).
pub const MAX_ROWS: usize = 1 << 24;

/// Levels a gradient or hessian is rounded to at most (fewer when there are many rows, so that
/// a sum over every row fits its 32 bits).
const MAX_LEVELS: f64 = 32_767.0;

/// Integer sums of one bin: the quantized gradient sum in the high 32 bits, the quantized
/// hessian sum in the low 32. Integer sums are exact, so a histogram is the same whatever the
/// order in which rows are added and however they are shared out between threads.
type Slot = i64;

/// Slots per feature histogram: the bins and one cache line of padding, so that the same bin
/// of consecutive features does not fall in the same cache set (a 4 KiB stride would).
const STRIDE: usize = BINS + 4;

/// One histogram per feature (slots past [`BINS`] stay 0).
type Histograms = Vec<[Slot; STRIDE]>;

/// One round's gradients and hessians: exact (for leaf values) and quantized (for histograms).
struct Gradients {
    exact: Vec<(f64, f64)>,
    packed: Vec<Slot>,
    grad_step: f64,
    hess_step: f64,
}

impl Gradients {
    fn new(exact: Vec<(f64, f64)>, round: usize) -> Gradients {
        let (gmax, hmax) = exact.iter().fold((0.0f64, 0.0f64), |(g, h), &(a, b)| {
            (g.max(a.abs()), h.max(b))
        });
        let rows = exact.len().max(1) as f64;
        let grad_levels = MAX_LEVELS.min((i32::MAX as f64 / rows).floor());
        let hess_levels = MAX_LEVELS.min((u32::MAX as f64 / rows).floor());
        let grad_step = if gmax > 0.0 { gmax / grad_levels } else { 1.0 };
        let hess_step = if hmax > 0.0 { hmax / hess_levels } else { 1.0 };
        // Stochastic rounding (seeded by round and row) keeps the sums unbiased.
        let packed = exact
            .iter()
            .enumerate()
            .map(|(row, &(g, h))| {
                let noise = mix((round as u64) << 32 ^ row as u64);
                let unit = |bits: u64| (bits >> 40) as f64 / (1u64 << 24) as f64;
                let q = |v: f64, step: f64, u: f64| (v / step + u).floor() as i64;
                let qg = q(g, grad_step, unit(noise));
                let qh = q(h, hess_step, unit(noise << 24));
                (qg << 32) + qh
            })
            .collect();
        Gradients {
            exact,
            packed,
            grad_step,
            hess_step,
        }
    }

    /// `(gradient, hessian, quantized hessian)` of a slot.
    fn unpack(&self, slot: Slot) -> (f64, f64, i64) {
        let hess = slot & 0xffff_ffff;
        let grad = (slot - hess) >> 32;
        (
            grad as f64 * self.grad_step,
            hess as f64 * self.hess_step,
            hess,
        )
    }
}

/// SplitMix64's finaliser: 64 well-mixed bits of `x`.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The histograms of `rows` on one thread.
fn histogram_rows(binned: &BinMatrix, rows: &[u32], packed: &[Slot]) -> Histograms {
    let mut hists = vec![[0i64; STRIDE]; binned.features];
    for (i, &r) in rows.iter().enumerate() {
        // A leaf's rows lie far apart: ask for a later row's bins and gradients now, so that
        // their cache misses overlap this row's work.
        if let Some(&ahead) = rows.get(i + PREFETCH_AHEAD) {
            prefetch(binned.row(ahead).as_ptr());
            prefetch((&packed[ahead as usize] as *const Slot).cast());
        }
        let add = packed[r as usize];
        for (hist, &bin) in hists.iter_mut().zip(binned.row(r)) {
            hist[bin as usize] += add;
        }
    }
    hists
}

/// How many rows ahead [`histogram_rows`] prefetches.
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

/// Rows below which one thread builds a histogram alone (a thread costs more than it saves).
const ROWS_PER_THREAD: usize = 2_048;

/// Every feature's histogram over `rows`, the rows shared out over the available cores.
fn histograms(binned: &BinMatrix, rows: &[u32], packed: &[Slot]) -> Histograms {
    let t = std::time::Instant::now();
    let h = histograms_(binned, rows, packed);
    if std::env::var_os("HIST").is_some() {
        eprintln!("HIST {} {}", rows.len(), t.elapsed().as_micros());
    }
    h
}
fn histograms_(binned: &BinMatrix, rows: &[u32], packed: &[Slot]) -> Histograms {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(rows.len() / ROWS_PER_THREAD)
        .max(1);
    if threads == 1 {
        return histogram_rows(binned, rows, packed);
    }
    let chunk = rows.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let mut parts = rows.chunks(chunk);
        let first = parts.next().expect("rows");
        let others: Vec<_> = parts
            .map(|part| scope.spawn(move || histogram_rows(binned, part, packed)))
            .collect();
        let mut total = histogram_rows(binned, first, packed);
        for other in others {
            add(&mut total, &other.join().expect("histogram thread"), 1);
        }
        total
    })
}

/// `into += sign * other`, bin by bin.
fn add(into: &mut Histograms, other: &Histograms, sign: i64) {
    for (a, b) in into.iter_mut().zip(other) {
        for (x, y) in a.iter_mut().zip(b) {
            *x += sign * y;
        }
    }
}

/// A leaf being grown: its rows are `order[start..end]`.
struct Leaf {
    start: usize,
    end: usize,
    hists: Histograms,
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

/// The best split of a leaf of `rows` rows. Rows per side are estimated from the quantized
/// hessians, as LightGBM does (exact for squared error, where every hessian is 1).
fn best_split(
    hists: &Histograms,
    rows: usize,
    gradients: &Gradients,
    params: GbdtParams,
) -> Option<Split> {
    let score = |g: f64, h: f64| g * g / (h + params.lambda);
    let total = hists[0].iter().sum::<i64>();
    let (sum_g, sum_h, quantized_h) = gradients.unpack(total);
    if quantized_h == 0 {
        return None;
    }
    let rows_per_h = rows as f64 / quantized_h as f64;
    let parent = score(sum_g, sum_h);
    let min = params.min_leaf as f64;
    let mut best: Option<Split> = None;
    for (feature, hist) in hists.iter().enumerate() {
        let mut left = 0i64;
        for (bin, &slot) in hist.iter().enumerate().take(MAX_CUTS) {
            if slot == 0 {
                continue; // an empty bin splits the rows as the bin before it did
            }
            left += slot;
            let (g, h, q) = gradients.unpack(left);
            let n = q as f64 * rows_per_h;
            if n < min {
                continue;
            }
            if rows as f64 - n < min {
                break;
            }
            let gain = score(g, h) + score(sum_g - g, sum_h - h) - parent;
            if gain > 1e-12 && best.is_none_or(|b| gain > b.gain) {
                best = Some(Split { gain, feature, bin });
            }
        }
    }
    best
}

/// Grows one tree; returns it and, for each leaf, its node and its rows.
fn grow(
    binned: &BinMatrix,
    bins: &Bins,
    gradients: &Gradients,
    params: GbdtParams,
) -> (Tree, Vec<(usize, Vec<u32>)>) {
    let mut tree = Tree::default();
    let mut order: Vec<u32> = (0..gradients.exact.len() as u32).collect();
    let mut scratch: Vec<u32> = Vec::new();
    let push_leaf = |tree: &mut Tree| {
        tree.feature.push(0);
        tree.threshold.push(0.0);
        tree.left.push(u32::MAX);
        tree.right.push(u32::MAX);
        tree.value.push(0.0);
        tree.value.len() - 1
    };
    let hists = histograms(binned, &order, &gradients.packed);
    let node = push_leaf(&mut tree);
    let mut leaves = vec![Leaf {
        start: 0,
        end: order.len(),
        hists,
        node,
    }];
    let mut queue = BinaryHeap::new();
    let consider = |queue: &mut BinaryHeap<Candidate>, leaves: &[Leaf], leaf: usize| {
        let rows = leaves[leaf].end - leaves[leaf].start;
        if let Some(split) = best_split(&leaves[leaf].hists, rows, gradients, params) {
            queue.push(Candidate { leaf, split });
        }
    };
    consider(&mut queue, &leaves, 0);
    while leaves.len() < params.max_leaves.max(2) {
        let Some(Candidate { leaf, split }) = queue.pop() else {
            break;
        };
        let (start, end) = (leaves[leaf].start, leaves[leaf].end);
        // A stable partition of the leaf's rows (left rows first, each side in row order),
        // without branches: every row is written to both sides, and the side's end moves on
        // only for the side it belongs to.
        let column = binned.column(split.feature);
        scratch.resize(end - start, 0);
        let (mut left, mut right) = (start, 0);
        for i in start..end {
            let r = order[i];
            let goes_left = usize::from(column[r as usize] as usize <= split.bin);
            order[left] = r;
            scratch[right] = r;
            left += goes_left;
            right += 1 - goes_left;
        }
        let middle = left;
        order[middle..end].copy_from_slice(&scratch[..right]);
        let left_is_small = middle - start <= end - middle;
        let small_rows = if left_is_small {
            &order[start..middle]
        } else {
            &order[middle..end]
        };
        let small = histograms(binned, small_rows, &gradients.packed);
        let mut large = std::mem::take(&mut leaves[leaf].hists);
        add(&mut large, &small, -1);
        let (left_hists, right_hists) = if left_is_small {
            (small, large)
        } else {
            (large, small)
        };
        let left_node = push_leaf(&mut tree);
        let right_node = push_leaf(&mut tree);
        let parent = leaves[leaf].node;
        tree.feature[parent] = split.feature as u32;
        tree.threshold[parent] = bins.cuts[split.feature][split.bin];
        tree.left[parent] = left_node as u32;
        tree.right[parent] = right_node as u32;
        leaves[leaf] = Leaf {
            start,
            end: middle,
            hists: left_hists,
            node: left_node,
        };
        leaves.push(Leaf {
            start: middle,
            end,
            hists: right_hists,
            node: right_node,
        });
        consider(&mut queue, &leaves, leaf);
        consider(&mut queue, &leaves, leaves.len() - 1);
    }
    // Leaf values come from the exact gradients of the leaf's rows.
    let leaves = leaves
        .into_iter()
        .map(|leaf| {
            let rows = order[leaf.start..leaf.end].to_vec();
            let (g, h) = rows.iter().fold((0.0, 0.0), |(g, h), &r| {
                let (a, b) = gradients.exact[r as usize];
                (g + a, h + b)
            });
            tree.value[leaf.node] = -g / (h + params.lambda) * params.learning_rate;
            (leaf.node, rows)
        })
        .collect();
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
