//! Gradient-boosted trees: feature vectors and targets in, a sum of small regression trees out.
//!
//! A histogram GBDT written for zonecast's data (a few dozen numeric features, counts as
//! targets): each feature is cut into at most 255 bins at quantiles of the training values;
//! trees grow from gradient and hessian histograms (the larger child's histogram is the
//! parent's minus the smaller child's) in one of two shapes: symmetric, the default
//! ([`SymmetricGbdt`], one question per level, as CatBoost's; see `symmetric.rs`), or leaf-wise
//! ([`Gbdt`], always splitting the leaf with the best gain, up to `max_leaves`, as LightGBM's);
//! leaves get `-G / (H + lambda)` times the learning rate.
//! The loss is squared error or Poisson (log link, for counts). Training stops early when the
//! validation MAE has not improved for `early_stopping` rounds, and keeps the best round.
//! After the first `1 / learning_rate` rounds, each tree is grown on a sample of the rows
//! (gradient-based one-side sampling, as LightGBM's GOSS) and then scores every row.
//! Everything is deterministic: the sample's seed is the round, ties are broken by feature and
//! bin order, and sums run in row order whichever thread computes them.
//!
//! Leaf-wise scoring walks flat arrays (`x <= threshold` goes left), the same way the forest's
//! fast evaluator does; symmetric scoring compares bytes over blocks of rows.

mod bins;
mod boost;
mod grow;
mod histogram;
mod score;
mod symmetric;
mod symmetric_grow;
mod symmetric_score;

pub use symmetric::SymmetricGbdt;

use serde::{Deserialize, Serialize};

/// What the trees minimise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Loss {
    /// Squared error; the trees sum to the forecast.
    Squared,
    /// Poisson deviance with a log link; the forecast is `exp` of the sum (never negative).
    Poisson,
}

/// How the trees grow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TreeShape {
    /// Symmetric (oblivious) trees of `depth` levels, one question per level (as CatBoost's):
    /// many times faster to score; see [`SymmetricGbdt`].
    Symmetric,
    /// Leaf-wise trees of up to `max_leaves` leaves (as LightGBM's); see [`Gbdt`].
    LeafWise,
}

impl std::str::FromStr for TreeShape {
    type Err = String;

    /// `symmetric` (or `oblivious`) and `leaf-wise` (or `leafwise`).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "symmetric" | "oblivious" => Ok(TreeShape::Symmetric),
            "leaf-wise" | "leafwise" => Ok(TreeShape::LeafWise),
            other => Err(format!("trees {other:?}: use symmetric or leaf-wise")),
        }
    }
}

/// GBDT settings. The defaults (symmetric trees of depth 6, learning rate 0.1, at most 2000
/// rounds) need no tuning for taxi counts; for leaf-wise trees LightGBM's usual settings are a
/// learning rate of 0.05 and 1000 rounds, which `benches/evaluate_vs_lightgbm.sh` passes.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct GbdtParams {
    /// Boosting rounds at most.
    pub rounds: usize,
    /// Shrinkage of every tree.
    pub learning_rate: f64,
    /// How trees grow.
    pub shape: TreeShape,
    /// Levels of a symmetric tree (1 to 8; [`TreeShape::Symmetric`]).
    pub depth: usize,
    /// Leaves per tree at most ([`TreeShape::LeafWise`]).
    pub max_leaves: usize,
    /// Rows per leaf at least (leaf-wise); in a symmetric tree, a node with fewer rows on a
    /// side adds no gain to its level's question, but the question splits it all the same.
    pub min_leaf: usize,
    /// L2 penalty on leaf values.
    pub lambda: f64,
    /// Stop after this many rounds without a better validation MAE.
    pub early_stopping: usize,
    /// The loss.
    pub loss: Loss,
    /// Gradient-based one-side sampling (LightGBM's GOSS) after the first `1 / learning_rate`
    /// rounds: each tree is grown on the fifth of the rows with the largest gradients and one
    /// in eight of the others (their gradients scaled up to keep sums unbiased), from a seed
    /// fixed per round. About 1.7x faster and as accurate; `false` grows every tree on every row.
    pub sampling: bool,
}

impl Default for GbdtParams {
    fn default() -> Self {
        GbdtParams {
            rounds: 2000,
            learning_rate: 0.1,
            shape: TreeShape::Symmetric,
            depth: 6,
            max_leaves: 63,
            min_leaf: 20,
            lambda: 1.0,
            early_stopping: 50,
            loss: Loss::Poisson,
            sampling: true,
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
    /// The value of the leaf reached by going left wherever `goes_left(node)`.
    #[inline(always)]
    fn leaf(&self, goes_left: impl Fn(usize) -> bool) -> f64 {
        let mut node = 0usize;
        loop {
            let left = self.left[node];
            if left == u32::MAX {
                return self.value[node];
            }
            node = if goes_left(node) {
                left as usize
            } else {
                self.right[node] as usize
            };
        }
    }

    /// The score of a training row from its bins and the tree's split bins (the same leaf as
    /// [`Tree::score`] finds from the row's values: `x <= cut[b]` exactly when `bin(x) <= b`).
    fn score_binned(&self, bins: &[u8], node_bins: &[u8]) -> f64 {
        self.leaf(|node| bins[self.feature[node] as usize] <= node_bins[node])
    }

    fn score(&self, x: &[f64]) -> f64 {
        self.leaf(|node| x[self.feature[node] as usize] <= self.threshold[node])
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
    /// The trees compiled for batch scoring, on first use (not saved).
    #[serde(skip)]
    compiled: score::Cache,
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
        let features = boost::check_inputs(x, y, valid, &params)?;
        let bins = bins::Bins::fit(x, features);
        let binned = bins.apply(x);
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut work = grow::Workspace::new(y.len(), threads);
        let mut trees = Vec::new();
        let boosted = boost::boost(
            y,
            valid.1,
            params,
            threads,
            progress,
            &mut |gradients, sample, raw, valid_raw| {
                let (tree, leaves) =
                    grow::grow(&binned, &bins, gradients, sample, params, &mut work);
                if sample.is_some() {
                    let node_bins = &work.node_bins;
                    boost::in_parallel(threads, raw, |at, part| {
                        for (i, raw) in part.iter_mut().enumerate() {
                            *raw += tree.score_binned(binned.row(at + i), node_bins);
                        }
                    });
                } else {
                    for (node, rows) in leaves {
                        let value = tree.value[node];
                        for &r in work.rows(rows) {
                            raw[r as usize] += value;
                        }
                    }
                }
                boost::in_parallel(threads, valid_raw, |at, part| {
                    for (i, raw) in part.iter_mut().enumerate() {
                        *raw += tree.score(&valid.0[at + i]);
                    }
                });
                trees.push(tree);
            },
        );
        trees.truncate(boosted.validation_mae.len());
        Ok(Gbdt {
            loss: params.loss,
            base: boosted.base,
            features,
            trees,
            validation_mae: boosted.validation_mae,
            compiled: Default::default(),
        })
    }

    /// Rounds kept (the best validation round).
    pub fn rounds(&self) -> usize {
        self.trees.len()
    }

    /// Checks what decoding a file cannot, for rows of `width` features: the model takes
    /// `width` features, and every tree's arrays have one entry per node, its splits name one
    /// of them, and its children come after their parent within the tree (so every walk ends).
    /// Says what is wrong.
    pub fn check(&self, width: usize) -> Result<(), String> {
        if self.features != width {
            return Err(format!(
                "the trees take {} features, the feature spec makes {width}",
                self.features
            ));
        }
        for (t, tree) in self.trees.iter().enumerate() {
            let n = tree.left.len();
            let same = [tree.feature.len(), tree.threshold.len(), tree.right.len()];
            let fits = n > 0
                && tree.value.len() == n
                && same.iter().all(|&len| len == n)
                && (0..n).all(|node| {
                    let child = |c: u32| (node + 1..n).contains(&(c as usize));
                    tree.left[node] == u32::MAX
                        || (child(tree.left[node])
                            && child(tree.right[node])
                            && (tree.feature[node] as usize) < width)
                });
            if !fits {
                return Err(format!(
                    "tree {t} is not a well-formed tree over {width} features"
                ));
            }
        }
        Ok(())
    }

    /// The forecast for one feature vector.
    pub fn predict(&self, x: &[f64]) -> f64 {
        let raw = self.trees.iter().fold(self.base, |sum, t| sum + t.score(x));
        self.loss.forecast(raw)
    }

    /// Forecasts for many feature vectors (equal to [`Gbdt::predict`] of each, bit for bit,
    /// and many times faster per row).
    pub fn predict_many(&self, rows: &[Vec<f64>]) -> Vec<f64> {
        let compiled = self
            .compiled
            .0
            .get_or_init(|| score::Compiled::new(self.features, &self.trees));
        match compiled {
            Some(compiled) if rows.iter().all(|r| r.len() >= self.features) => compiled
                .raw_scores(self.base, rows)
                .into_iter()
                .map(|raw| self.loss.forecast(raw))
                .collect(),
            _ => rows.iter().map(|r| self.predict(r)).collect(),
        }
    }
}

/// Seeded rows of 5 whole-number features and count targets (a slope on the first feature, a
/// step on the second, noise), for the tests of both tree shapes.
#[cfg(test)]
pub(super) fn test_data(seed: u64, n: usize) -> (Vec<Vec<f64>>, Vec<f64>) {
    let mut rng = crate::generator::rng::SplitMix64::new(seed);
    let x: Vec<Vec<f64>> = (0..n)
        .map(|_| (0..5).map(|_| rng.below(40) as f64).collect())
        .collect();
    let y = x
        .iter()
        .map(|r| (r[0] * 0.5 + if r[1] > 20.0 { 8.0 } else { 1.0 } + rng.below(3) as f64).round())
        .collect();
    (x, y)
}

#[cfg(test)]
mod tests {
    use super::test_data as data;
    use super::*;

    #[test]
    fn boosting_learns_a_step_and_a_slope_deterministically() {
        let (x, y) = data(1, 4000);
        let (vx, vy) = data(2, 1000);
        let settings = [Loss::Squared, Loss::Poisson].map(|loss| [false, true].map(|s| (loss, s)));
        for (loss, sampling) in settings.into_iter().flatten() {
            let params = GbdtParams {
                rounds: 300,
                learning_rate: 0.1,
                loss,
                sampling,
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
                "{loss:?}, sampling {sampling}: mae {mae} vs constant {constant}"
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

    #[test]
    fn a_crafted_tree_is_refused() {
        let (x, y) = data(5, 500);
        let params = GbdtParams {
            rounds: 3,
            ..GbdtParams::default()
        };
        let model = Gbdt::fit(&x, &y, (&x, &y), params, &mut |_, _| {}).unwrap();
        assert_eq!(model.check(5), Ok(()));
        assert!(model.check(4).unwrap_err().contains("feature spec makes 4"));
        let mut far = model.clone();
        far.trees[1].feature[0] = 7;
        assert!(far.check(5).unwrap_err().contains("tree 1"));
        let mut cycle = model.clone();
        cycle.trees[0].left[0] = 0;
        assert!(cycle.check(5).unwrap_err().contains("tree 0"));
        let mut short = model;
        short.trees[2].value.pop();
        assert!(short.check(5).unwrap_err().contains("tree 2"));
    }

    #[test]
    fn a_crafted_model_file_is_refused_on_load() {
        use crate::model::{Fitted, ModelFile, ModelKind};
        // Lags 1 and 2, hour, weekday, weekend: the 5 features of the test rows.
        let spec = crate::features::FeatureSpec::new(vec![1, 2], 0);
        assert_eq!(spec.names().len(), 5);
        let (x, y) = data(5, 500);
        let params = GbdtParams {
            rounds: 3,
            ..GbdtParams::default()
        };
        let mut model = Gbdt::fit(&x, &y, (&x, &y), params, &mut |_, _| {}).unwrap();
        model.trees[0].feature[0] = 9;
        let fitted = Fitted::Gbdt(model);
        let file = ModelFile::new(ModelKind::Gbdt, spec, fitted, (0, 0), Default::default());
        let path = std::path::Path::new("crafted.model");
        let error = ModelFile::from_bytes(&file.to_bytes(), path).unwrap_err();
        assert!(error.to_string().contains("tree 0"), "{error}");
    }

    #[test]
    fn batch_scoring_equals_the_plain_tree_walk_bit_for_bit() {
        let (x, y) = data(3, 3000);
        let (vx, vy) = data(4, 500);
        let params = GbdtParams {
            rounds: 80,
            max_leaves: 31,
            ..GbdtParams::default()
        };
        let model = Gbdt::fit(&x, &y, (&vx, &vy), params, &mut |_, _| {}).unwrap();
        let (mut rows, _) = data(5, 1001); // not a multiple of the lanes
        rows[0][0] = f64::NAN;
        rows[1][1] = f64::INFINITY;
        rows[2][0] = f64::NEG_INFINITY;
        rows[3][2] = 1e300;
        let plain: Vec<u64> = rows.iter().map(|r| model.predict(r).to_bits()).collect();
        let batch: Vec<u64> = model
            .predict_many(&rows)
            .iter()
            .map(|p| p.to_bits())
            .collect();
        assert_eq!(plain, batch);
        let config = bincode::config::standard();
        let bytes = bincode::serde::encode_to_vec(&model, config).unwrap();
        let (loaded, _): (Gbdt, usize) = bincode::serde::decode_from_slice(&bytes, config).unwrap();
        assert_eq!(loaded, model);
        assert_eq!(
            loaded.predict_many(&rows[..5]),
            model.predict_many(&rows[..5])
        );
    }
}
