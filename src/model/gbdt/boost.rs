//! The boosting loop both tree shapes share: targets and a tree grower in, the base score and
//! each round's validation MAE out.
//!
//! Every round computes the loss's gradients, picks the rows a tree is grown on (all of them,
//! or after the first `1 / learning_rate` rounds a GOSS sample), lets the grower fit a tree and
//! add it to the training and validation raw scores, and stops early when the validation MAE
//! has not improved for `early_stopping` rounds.

use super::{GbdtParams, Loss, RoundReport};

/// What [`boost`] fitted: the starting raw score, and the validation MAE of every round up to
/// the best one (the trees past it are to be dropped by the caller).
pub(super) struct Boosted {
    pub(super) base: f64,
    pub(super) validation_mae: Vec<f64>,
}

/// One round's tree: gradients and the rows to grow on (`None`: every row) in; the grower
/// keeps the tree and adds its values to the training rows' and validation rows' raw scores.
pub(super) type GrowRound<'a> =
    &'a mut dyn FnMut(&[[f64; 2]], Option<&[u32]>, &mut [f64], &mut [f64]);

/// The feature count of rows `x`, after checking there are rows, features, and a target for
/// every training and validation row, and that the learning rate is above 0 and at most 1.
pub(super) fn check_inputs(
    x: &[Vec<f64>],
    y: &[f64],
    valid: (&[Vec<f64>], &[f64]),
    params: &GbdtParams,
) -> Result<usize, String> {
    let features = x.first().map_or(0, Vec::len);
    if x.is_empty() || features == 0 || x.len() != y.len() || valid.0.len() != valid.1.len() {
        return Err("boosting needs rows and targets of equal count".into());
    }
    if !(params.learning_rate > 0.0 && params.learning_rate <= 1.0) {
        return Err(format!(
            "a learning rate of {} cannot boost: use a number above 0 and at most 1 (0.1 by default)",
            params.learning_rate
        ));
    }
    Ok(features)
}

/// Boosts on targets `y` (validation targets `valid_y`), calling `grow` once per round.
pub(super) fn boost(
    y: &[f64],
    valid_y: &[f64],
    params: GbdtParams,
    threads: usize,
    progress: RoundReport<'_>,
    grow: GrowRound<'_>,
) -> Boosted {
    let mean = y.iter().sum::<f64>() / y.len().max(1) as f64;
    let base = match params.loss {
        Loss::Squared => mean,
        Loss::Poisson => mean.max(1e-6).ln(),
    };
    let mut raw = vec![base; y.len()];
    let mut valid_raw = vec![base; valid_y.len()];
    let mut validation_mae = Vec::new();
    let (mut best, mut best_round) = (f64::INFINITY, 0usize);
    let mut gradients = vec![[0.0; 2]; y.len()];
    for round in 1..=params.rounds.max(1) {
        in_parallel(threads, &mut gradients, |at, part| {
            for (i, pair) in part.iter_mut().enumerate() {
                let (g, h) = params.loss.gradient(raw[at + i], y[at + i]);
                *pair = [g, h];
            }
        });
        let goss = params.sampling && round as f64 > 1.0 / params.learning_rate;
        let sample = goss.then(|| goss_sample(&mut gradients, round as u64));
        grow(&gradients, sample.as_deref(), &mut raw, &mut valid_raw);
        let error: f64 = valid_raw
            .iter()
            .zip(valid_y)
            .map(|(&raw, actual)| (params.loss.forecast(raw) - actual).abs())
            .sum();
        let mae = error / valid_y.len().max(1) as f64;
        validation_mae.push(mae);
        progress(round, mae);
        if mae < best {
            (best, best_round) = (mae, round);
        } else if round - best_round >= params.early_stopping.max(1) {
            break;
        }
    }
    validation_mae.truncate(best_round.max(1));
    Boosted {
        base,
        validation_mae,
    }
}

/// Gradient-based one-side sampling (LightGBM's GOSS): the rows whose gradients are in the
/// largest fifth, and one in eight of the others at random with their gradient and hessian
/// scaled up eightfold (so sums stay unbiased). Returns the rows, ascending.
pub(super) fn goss_sample(gradients: &mut [[f64; 2]], seed: u64) -> Vec<u32> {
    let mut magnitudes: Vec<f64> = gradients.iter().map(|p| p[0].abs()).collect();
    let top = gradients.len() / 5;
    let (_, &mut cut, _) = magnitudes.select_nth_unstable_by(top, |a, b| b.total_cmp(a));
    let mut rng = crate::generator::rng::SplitMix64::new(seed);
    let mut rows = Vec::with_capacity(gradients.len() * 3 / 10);
    for (r, pair) in gradients.iter_mut().enumerate() {
        if pair[0].abs() > cut {
            rows.push(r as u32);
        } else if rng.below(8) == 0 {
            *pair = [pair[0] * 8.0, pair[1] * 8.0];
            rows.push(r as u32);
        }
    }
    rows
}

/// Runs `work(first_index, part)` over `threads` consecutive parts of `items` at once.
pub(super) fn in_parallel<T: Send>(
    threads: usize,
    items: &mut [T],
    work: impl Fn(usize, &mut [T]) + Sync,
) {
    let per = items.len().div_ceil(threads.max(1)).max(1);
    if threads <= 1 || items.len() < 8_192 {
        return work(0, items);
    }
    std::thread::scope(|scope| {
        let mut parts = items.chunks_mut(per).enumerate();
        let (_, first) = parts.next().expect("items");
        for (k, part) in parts {
            let work = &work;
            scope.spawn(move || work(k * per, part));
        }
        work(0, first);
    });
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
    pub(super) fn forecast(self, raw: f64) -> f64 {
        match self {
            Loss::Squared => raw,
            Loss::Poisson => raw.exp(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_keeps_the_largest_gradients_and_an_eighth_of_the_rest_scaled_up() {
        let mut gradients: Vec<[f64; 2]> = (0..10_000).map(|i| [i as f64, 1.0]).collect();
        let original = gradients.clone();
        let rows = goss_sample(&mut gradients, 7);
        assert!(rows.windows(2).all(|w| w[0] < w[1]), "ascending");
        let top: Vec<u32> = rows.iter().copied().filter(|&r| r >= 8_000).collect();
        assert_eq!(top.len(), 2_000, "the largest fifth");
        let rest = rows.len() - top.len();
        assert!(
            (900..1_100).contains(&rest),
            "about an eighth of 8,000: {rest}"
        );
        for &r in &rows {
            let scale = if r >= 8_000 { 1.0 } else { 8.0 };
            assert_eq!(
                gradients[r as usize],
                original[r as usize].map(|v| v * scale)
            );
        }
        assert_eq!(
            goss_sample(&mut original.clone(), 7),
            rows,
            "same seed, same sample"
        );
    }
}
