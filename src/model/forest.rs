//! Random forest regression (smartcore): feature vectors in, a forecast out.
//!
//! smartcore's default features-per-split (`m = sqrt(p)`) is a classification default; for
//! regression zonecast uses `m = p / 3`, which halves the error on demand data. Training rows
//! beyond `max_rows` are subsampled (seeded) to keep fitting within a minute on two cores.

use serde::{Deserialize, Serialize};
use smartcore::ensemble::random_forest_regressor::{
    RandomForestRegressor, RandomForestRegressorParameters,
};
use smartcore::linalg::basic::matrix::DenseMatrix;

use crate::generator::rng::SplitMix64;
use crate::model::flat_forest::FlatForest;

type Inner = RandomForestRegressor<f64, f64, DenseMatrix<f64>, Vec<f64>>;

/// Random forest settings.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ForestParams {
    /// Number of trees.
    pub trees: usize,
    /// Maximum depth of a tree.
    pub max_depth: u16,
    /// Minimum rows in a leaf.
    pub min_leaf: usize,
    /// At most this many training rows (subsampled beyond).
    pub max_rows: usize,
    /// Seed for bootstrap and subsampling.
    pub seed: u64,
}

impl Default for ForestParams {
    fn default() -> Self {
        ForestParams {
            trees: 60,
            max_depth: 18,
            min_leaf: 2,
            max_rows: 120_000,
            seed: 7,
        }
    }
}

/// A fitted random forest.
#[derive(Debug, Serialize, Deserialize)]
pub struct Forest {
    inner: Inner,
    features: usize,
    /// The fast evaluator, built on first use (`None` if the trees could not be read).
    #[serde(skip)]
    flat: std::sync::OnceLock<Option<FlatForest>>,
}

impl Clone for Forest {
    fn clone(&self) -> Self {
        let bytes = bincode::serde::encode_to_vec(self, bincode::config::standard())
            .expect("encode forest");
        bincode::serde::decode_from_slice(&bytes, bincode::config::standard())
            .expect("decode forest")
            .0
    }
}

impl PartialEq for Forest {
    fn eq(&self, other: &Self) -> bool {
        let config = bincode::config::standard();
        bincode::serde::encode_to_vec(self, config).ok()
            == bincode::serde::encode_to_vec(other, config).ok()
    }
}

impl Forest {
    /// Fits a forest on rows `x` and targets `y`.
    pub fn fit(x: &[Vec<f64>], y: &[f64], params: ForestParams) -> Result<Forest, String> {
        let features = x.first().map_or(0, Vec::len);
        if x.is_empty() || features == 0 || x.len() != y.len() {
            return Err("a forest needs rows and targets of equal count".into());
        }
        let mut index: Vec<usize> = (0..x.len()).collect();
        if index.len() > params.max_rows {
            let mut rng = SplitMix64::new(params.seed);
            for i in 0..params.max_rows {
                let j = i + rng.below((index.len() - i) as u64) as usize;
                index.swap(i, j);
            }
            index.truncate(params.max_rows);
            index.sort_unstable();
        }
        let values: Vec<f64> = index.iter().flat_map(|&i| x[i].iter().copied()).collect();
        let matrix =
            DenseMatrix::new(index.len(), features, values, false).map_err(|e| e.to_string())?;
        let targets: Vec<f64> = index.iter().map(|&i| y[i]).collect();
        let parameters = RandomForestRegressorParameters::default()
            .with_n_trees(params.trees)
            .with_max_depth(params.max_depth)
            .with_min_samples_leaf(params.min_leaf)
            .with_m((features / 3).max(1))
            .with_seed(params.seed);
        let inner =
            RandomForestRegressor::fit(&matrix, &targets, parameters).map_err(|e| e.to_string())?;
        Ok(Forest {
            inner,
            features,
            flat: Default::default(),
        })
    }

    /// Forecasts for many feature vectors at once.
    pub fn predict_many(&self, rows: &[Vec<f64>]) -> Vec<f64> {
        if rows.is_empty() {
            return Vec::new();
        }
        let flat = self.flat.get_or_init(|| {
            let bytes =
                bincode::serde::encode_to_vec(&self.inner, bincode::config::standard()).ok()?;
            FlatForest::from_encoded(&bytes)
        });
        if let Some(flat) = flat {
            return flat.predict_many(rows);
        }
        self.predict_with_smartcore(rows)
    }

    /// Forecasts through smartcore's own `predict` (the reference for the fast evaluator).
    pub fn predict_with_smartcore(&self, rows: &[Vec<f64>]) -> Vec<f64> {
        if rows.is_empty() {
            return Vec::new();
        }
        let values: Vec<f64> = rows.iter().flat_map(|r| r.iter().copied()).collect();
        let matrix = DenseMatrix::new(rows.len(), self.features, values, false).expect("row width");
        self.inner.predict(&matrix).expect("forest predicts")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_evaluator_equals_smartcore_exactly() {
        let mut rng = SplitMix64::new(3);
        let x: Vec<Vec<f64>> = (0..2000)
            .map(|_| (0..6).map(|_| (rng.below(50) as f64) / 3.0).collect())
            .collect();
        let y: Vec<f64> = x
            .iter()
            .map(|r| r[0] * 2.0 + r[3] - r[5] * 0.5 + (rng.below(10) as f64))
            .collect();
        let params = ForestParams {
            trees: 12,
            max_depth: 10,
            min_leaf: 2,
            max_rows: 1500,
            seed: 1,
        };
        let forest = Forest::fit(&x, &y, params).unwrap();
        let fast = forest.predict_many(&x);
        assert!(
            forest.flat.get().is_some_and(Option::is_some),
            "the trees could not be read"
        );
        assert_eq!(fast, forest.predict_with_smartcore(&x));
    }
}
