//! Histograms: a leaf's rows, their bins and their gradients in; per feature and bin, the sum
//! of gradients, the sum of hessians and the row count out.
//!
//! One leaf's histograms are one flat buffer, feature `f`'s bins at `f * BINS..(f + 1) * BINS`.
//! Rows are summed in increasing order, so every sum comes out the same whichever thread builds
//! it and however the features are shared out.

use super::bins::{BinMatrix, BINS};

/// Gradient sum, hessian sum and row count of one bin.
pub(super) type Slot = [f64; 3];

/// Fills `out` (every feature's bins) with the histograms of `rows`, features shared out over
/// `threads` threads when there are enough rows to pay for them.
pub(super) fn build(
    binned: &BinMatrix,
    rows: &[u32],
    gradients: &[[f64; 2]],
    out: &mut [Slot],
    threads: usize,
) {
    let features = binned.features;
    let threads = threads.min(features).max(1);
    let run = |first: usize, out: &mut [Slot]| block(binned, first, rows, gradients, out);
    if threads == 1 || rows.len() < PARALLEL_ROWS {
        run(0, out);
        return;
    }
    let per = features.div_ceil(threads);
    std::thread::scope(|scope| {
        let mut parts = out.chunks_mut(per * BINS).enumerate();
        let (_, first) = parts.next().expect("at least one feature");
        for (part, chunk) in parts {
            let run = &run;
            scope.spawn(move || run(part * per, chunk));
        }
        run(0, first);
    });
}

/// Rows below which one thread builds all of a leaf's histograms (a thread costs more).
const PARALLEL_ROWS: usize = 4_096;

/// The histograms of the features from `first` on (as many as `out` holds) over `rows`.
fn block(binned: &BinMatrix, first: usize, rows: &[u32], gradients: &[[f64; 2]], out: &mut [Slot]) {
    out.fill([0.0; 3]);
    let width = out.len() / BINS;
    for (i, &r) in rows.iter().enumerate() {
        // A leaf's rows lie far apart: ask for a later row's bins and gradients now, so that
        // their cache misses overlap this row's work.
        if let Some(&ahead) = rows.get(i + PREFETCH_AHEAD) {
            let ahead = ahead as usize;
            prefetch(binned.row_address(ahead).wrapping_add(first));
            prefetch(gradients[ahead].as_ptr().cast());
        }
        let [g, h] = gradients[r as usize];
        let bins = &binned.row(r as usize)[first..first + width];
        for (k, &bin) in bins.iter().enumerate() {
            let slot = &mut out[k * BINS + bin as usize];
            slot[0] += g;
            slot[1] += h;
            slot[2] += 1.0;
        }
    }
}

/// How many rows ahead [`block`] prefetches.
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
