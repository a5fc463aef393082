//! Binning: training feature vectors in, one byte per feature per row out.
//!
//! Each feature is cut into at most 256 bins at quantiles of its training values; the cut
//! points become the trees' thresholds (`v <= cuts[b]` exactly when `v`'s bin is `<= b`).

/// Per-feature cut points: value `v` falls in bin `partition_point(cuts, c < v)`.
pub(super) struct Bins {
    pub(super) cuts: Vec<Vec<f64>>,
}

/// Cut points per feature at most; with the bin above the last cut, a feature has 256 bins.
pub(super) const MAX_CUTS: usize = 255;

/// Bins per feature in a histogram.
pub(super) const BINS: usize = MAX_CUTS + 1;

impl Bins {
    /// Cuts at quantiles of (a sample of at most ~200,000 of) the rows.
    pub(super) fn fit(x: &[Vec<f64>], features: usize) -> Bins {
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

    /// Every row's bins, in both layouts.
    pub(super) fn apply(&self, x: &[Vec<f64>]) -> BinMatrix {
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
            rows,
            data,
            columns,
        }
    }
}

/// Every training row's bin of every feature, row by row (a row's bins share a cache line, so
/// building a leaf's histograms reads one line per row wherever its rows lie), and the same
/// bins feature by feature (splitting a leaf reads one feature of its rows).
pub(super) struct BinMatrix {
    pub(super) features: usize,
    rows: usize,
    data: Vec<u8>,
    columns: Vec<u8>,
}

impl BinMatrix {
    /// Row `row`'s bins of every feature.
    #[inline(always)]
    pub(super) fn row(&self, row: usize) -> &[u8] {
        &self.data[row * self.features..][..self.features]
    }

    /// Every row's bin of `feature`.
    pub(super) fn column(&self, feature: usize) -> &[u8] {
        &self.columns[feature * self.rows..][..self.rows]
    }

    /// The address of row `row`'s bins (for prefetching).
    #[inline(always)]
    pub(super) fn row_address(&self, row: usize) -> *const u8 {
        self.data[row * self.features..].as_ptr()
    }
}
