//! Gradient-boosted symmetric trees: feature vectors and targets in, a sum of symmetric trees
//! out.
//!
//! A symmetric (oblivious) tree, as CatBoost grows them, asks the same question of every node
//! of a level: "is feature `f` above cut `b`?". A tree of depth `d` is `d` questions and
//! `2^d` leaf values; a row's answers, read as bits, number its leaf. That makes scoring a
//! few byte comparisons per tree with no branches, run over a block of rows at once (see
//! `symmetric_score`), many times faster than walking leaf-wise trees of as many leaves.
//! Training shares the boosting loop, binning and histograms with the leaf-wise trees; a level
//! is grown by summing every node's gain per feature and cut and taking the best.

use serde::{Deserialize, Serialize};

use super::bins::{Bins, MAX_CUTS};
use super::{boost, symmetric_grow, symmetric_score, GbdtParams, Loss, RoundReport};
use crate::model::zone_encoding::ZoneEncoding;

/// One symmetric tree: the question of each level (top first) and the value of each leaf.
/// A row's leaf is `sum over levels of (x[feature] > cut) << (levels - 1 - level)`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(super) struct SymmetricTree {
    /// Per level, the feature asked.
    pub(super) features: Vec<u16>,
    /// Per level, the bin of the cut: the answer is `bin(x) > bin`, that is `x > cuts[bin]`.
    pub(super) bins: Vec<u8>,
    /// `2^levels` leaf values.
    pub(super) leaves: Vec<f64>,
}

impl SymmetricTree {
    /// The value of the leaf `x` falls in, given the model's cuts.
    fn score(&self, cuts: &[Vec<f64>], x: &[f64]) -> f64 {
        let mut leaf = 0usize;
        for (&f, &b) in self.features.iter().zip(&self.bins) {
            let f = usize::from(f);
            leaf = (leaf << 1) | usize::from(x[f] > cuts[f][usize::from(b)]);
        }
        self.leaves[leaf]
    }
}

/// A fitted GBDT of symmetric trees.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SymmetricGbdt {
    loss: Loss,
    base: f64,
    /// Per feature, the training cut points (at most 255, ascending).
    cuts: Vec<Vec<f64>>,
    trees: Vec<SymmetricTree>,
    /// The validation MAE after each kept round.
    pub validation_mae: Vec<f64>,
    /// The zone's target encoding, when the last feature is that (see [`ZoneEncoding`]).
    zone_encoding: Option<ZoneEncoding>,
    /// Bin lookup tables for scoring, made on first use (not saved).
    #[serde(skip)]
    tables: symmetric_score::BinTables,
}

impl SymmetricGbdt {
    /// Fits on rows `x` with targets `y`, stopping early on the validation rows; trees are
    /// `params.depth` levels deep (1 to 8). `progress(round, validation_mae)` is called after
    /// every round.
    pub fn fit(
        x: &[Vec<f64>],
        y: &[f64],
        valid: (&[Vec<f64>], &[f64]),
        params: GbdtParams,
        progress: RoundReport<'_>,
    ) -> Result<SymmetricGbdt, String> {
        let features = boost::check_inputs(x, y, valid, &params)?;
        if !(1..=symmetric_score::MAX_DEPTH).contains(&params.depth) {
            return Err(format!(
                "symmetric trees are 1 to {} levels deep, not {}",
                symmetric_score::MAX_DEPTH,
                params.depth
            ));
        }
        if features > usize::from(u16::MAX) {
            return Err("symmetric trees take at most 65,535 features".into());
        }
        let bins = Bins::fit(x, features);
        let binned = bins.apply(x);
        let valid_binned = bins.apply(valid.0);
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut work = symmetric_grow::Workspace::new(threads);
        let mut trees = Vec::new();
        let mut leaf_of = vec![0u8; y.len()];
        let mut valid_leaf_of = vec![0u8; valid.1.len()];
        let boosted = boost::boost(
            y,
            valid.1,
            params,
            threads,
            progress,
            &mut |gradients, sample, raw, valid_raw| {
                let tree = symmetric_grow::grow(&binned, gradients, sample, params, &mut work);
                symmetric_grow::leaves_of(&binned, &tree, &mut leaf_of);
                for (raw, &leaf) in raw.iter_mut().zip(&leaf_of) {
                    *raw += tree.leaves[usize::from(leaf)];
                }
                symmetric_grow::leaves_of(&valid_binned, &tree, &mut valid_leaf_of);
                for (raw, &leaf) in valid_raw.iter_mut().zip(&valid_leaf_of) {
                    *raw += tree.leaves[usize::from(leaf)];
                }
                trees.push(tree);
            },
        );
        trees.truncate(boosted.validation_mae.len());
        Ok(SymmetricGbdt {
            loss: params.loss,
            base: boosted.base,
            cuts: bins.cuts,
            trees,
            validation_mae: boosted.validation_mae,
            zone_encoding: None,
            tables: Default::default(),
        })
    }

    /// The model with `encoding` as the meaning of its last feature: the stream appends the
    /// encoding of each row's zone to its features before scoring.
    pub fn with_zone_encoding(mut self, encoding: ZoneEncoding) -> Self {
        self.zone_encoding = Some(encoding);
        self
    }

    /// The zone encoding the last feature holds, if any.
    pub fn zone_encoding(&self) -> Option<&ZoneEncoding> {
        self.zone_encoding.as_ref()
    }

    /// Rounds kept (the best validation round).
    pub fn rounds(&self) -> usize {
        self.trees.len()
    }

    /// The forecast for one feature vector.
    pub fn predict(&self, x: &[f64]) -> f64 {
        if x.len() < self.cuts.len() {
            return f64::NAN;
        }
        let raw = self
            .trees
            .iter()
            .fold(self.base, |sum, t| sum + t.score(&self.cuts, x));
        self.loss.forecast(raw)
    }

    /// Forecasts for many feature vectors (equal to [`SymmetricGbdt::predict`] of each, bit
    /// for bit, and many times faster per row).
    pub fn predict_many(&self, rows: &[Vec<f64>]) -> Vec<f64> {
        if rows.iter().any(|r| r.len() < self.cuts.len()) {
            return rows.iter().map(|r| self.predict(r)).collect();
        }
        symmetric_score::raw_scores(&self.cuts, &self.tables, &self.trees, self.base, rows)
            .into_iter()
            .map(|raw| self.loss.forecast(raw))
            .collect()
    }

    /// Checks what decoding a file cannot, for rows of `width` features (before the zone
    /// encoding's): the model has cuts for those (and the encoding's), the cuts of every
    /// feature are at most 255, ascending and numbers, and every tree's levels name a feature
    /// and cut the model has and its leaves number `2^levels`. Says what is wrong.
    pub fn check(&self, width: usize) -> Result<(), String> {
        let expected = width + usize::from(self.zone_encoding.is_some());
        if self.cuts.len() != expected {
            return Err(format!(
                "the trees take {} features, the feature spec makes {expected}",
                self.cuts.len()
            ));
        }
        for (f, cuts) in self.cuts.iter().enumerate() {
            let ordered = cuts.windows(2).all(|w| w[0] < w[1]) && !cuts.iter().any(|c| c.is_nan());
            if cuts.len() > MAX_CUTS || !ordered {
                return Err(format!(
                    "the cuts of feature {f} are not at most {MAX_CUTS} ascending numbers"
                ));
            }
        }
        for (t, tree) in self.trees.iter().enumerate() {
            let levels = tree.features.len();
            let fits = levels == tree.bins.len()
                && levels <= symmetric_score::MAX_DEPTH
                && tree.leaves.len() == 1 << levels
                && tree.features.iter().zip(&tree.bins).all(|(&f, &b)| {
                    self.cuts
                        .get(usize::from(f))
                        .is_some_and(|c| usize::from(b) < c.len())
                });
            if !fits {
                return Err(format!("symmetric tree {t} does not fit the model's cuts"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_data as data;
    use super::*;

    fn params(loss: Loss, sampling: bool) -> GbdtParams {
        GbdtParams {
            rounds: 300,
            learning_rate: 0.1,
            depth: 4,
            loss,
            sampling,
            ..GbdtParams::default()
        }
    }

    #[test]
    fn symmetric_boosting_learns_a_step_and_a_slope_deterministically() {
        let (x, y) = data(1, 4000);
        let (vx, vy) = data(2, 1000);
        let settings = [Loss::Squared, Loss::Poisson].map(|loss| [false, true].map(|s| (loss, s)));
        for (loss, sampling) in settings.into_iter().flatten() {
            let p = params(loss, sampling);
            let a = SymmetricGbdt::fit(&x, &y, (&vx, &vy), p, &mut |_, _| {}).unwrap();
            let b = SymmetricGbdt::fit(&x, &y, (&vx, &vy), p, &mut |_, _| {}).unwrap();
            assert_eq!(a, b, "same data, same model");
            a.check(a.cuts.len()).unwrap();
            let mean = vy.iter().sum::<f64>() / vy.len() as f64;
            let constant: f64 = vy.iter().map(|v| (v - mean).abs()).sum::<f64>() / vy.len() as f64;
            let mae = *a.validation_mae.last().unwrap();
            assert!(
                mae < constant * 0.5,
                "{loss:?}, sampling {sampling}: mae {mae} vs constant {constant}"
            );
            let direct: f64 = a
                .predict_many(&vx)
                .iter()
                .zip(&vy)
                .map(|(p, v)| (p - v).abs())
                .sum::<f64>()
                / vy.len() as f64;
            assert!((direct - mae).abs() < 1e-9, "{direct} vs {mae}");
        }
    }

    #[test]
    fn batch_scoring_equals_the_plain_walk_bit_for_bit_and_survives_a_round_trip() {
        let (x, y) = data(3, 3000);
        let (vx, vy) = data(4, 500);
        let mut p = params(Loss::Poisson, true);
        p.depth = 6;
        p.rounds = 80;
        let model = SymmetricGbdt::fit(&x, &y, (&vx, &vy), p, &mut |_, _| {}).unwrap();
        let (mut rows, _) = data(5, 1001); // not a multiple of the block
        rows[0][0] = f64::NAN;
        rows[1][1] = f64::INFINITY;
        rows[2][0] = f64::NEG_INFINITY;
        rows[3][2] = 1e300;
        rows[4][3] = 20.5;
        let plain: Vec<u64> = rows.iter().map(|r| model.predict(r).to_bits()).collect();
        let batch: Vec<u64> = model
            .predict_many(&rows)
            .iter()
            .map(|p| p.to_bits())
            .collect();
        assert_eq!(plain, batch);
        let config = bincode::config::standard();
        let bytes = bincode::serde::encode_to_vec(&model, config).unwrap();
        let (loaded, _): (SymmetricGbdt, usize) =
            bincode::serde::decode_from_slice(&bytes, config).unwrap();
        assert_eq!(loaded, model);
        let again: Vec<u64> = loaded
            .predict_many(&rows)
            .iter()
            .map(|p| p.to_bits())
            .collect();
        assert_eq!(again, batch);
    }

    #[test]
    fn a_tree_naming_a_missing_cut_is_refused() {
        let (x, y) = data(6, 500);
        let mut p = params(Loss::Squared, false);
        p.rounds = 3;
        let mut model = SymmetricGbdt::fit(&x, &y, (&x, &y), p, &mut |_, _| {}).unwrap();
        model.trees[0].features[0] = 99;
        assert!(model
            .check(model.cuts.len())
            .unwrap_err()
            .contains("tree 0"));
        let mut unordered = SymmetricGbdt::fit(&x, &y, (&x, &y), p, &mut |_, _| {}).unwrap();
        unordered.cuts[1].reverse();
        assert!(unordered
            .check(unordered.cuts.len())
            .unwrap_err()
            .contains("feature 1"));
    }
}
